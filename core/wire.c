/*
 * Wire protocol v1 codec (docs/protocol.md is normative; its sections are
 * cited as "protocol.md N").
 *
 * Model: every message is a fixed-layout sequence of big-endian integers
 * after a 4-byte header, with at most one or two counted arrays or byte
 * strings. The encoding is canonical: a struct has exactly one encoding and
 * an accepted datagram decodes to exactly one struct, so decode followed by
 * encode gives back the input bytes. The fuzz targets rely on that.
 *
 * Validity is defined once per message by a *_valid() function that both
 * sides call: the encoder refuses (STRATA_ERR_INVAL) exactly the structs the
 * decoder would refuse (STRATA_ERR_RANGE), so we never send what a peer
 * drops. Decoders additionally check counts and lengths as soon as they are
 * read, both so that the error names the real problem and because a count
 * bounds the writes into the fixed arrays of the output struct.
 *
 * Reading goes through a small cursor whose every accessor checks the
 * remaining length first; a short read sets a sticky error and yields
 * zeros, so a decoder can read a run of fields and test once. Writing is
 * unchecked: an encoder computes the exact size first and refuses a buffer
 * that is too small before writing anything.
 *
 * No allocation, no clocks, no I/O, no globals.
 */
#include "strata/wire.h"

#include "wire_io.h"

#include <string.h>

/* Fixed sizes of each message, header included (protocol.md 3.x tables). */
enum wire_sizes {
    DATA_FIXED_BYTES = 34,
    HB_FIXED_BYTES = 87,
    HB_PARENT_BYTES = 28,
    HB_CHILD_BYTES = 25,
    JOIN_FIXED_BYTES = 24, /* with both length bytes and the priority, without the strings */
    JOIN_REPLY_BYTES = 42,
    PEER_REF_BYTES = 14,
    INSTR_FIXED_BYTES = 62,
    PROBE_BYTES = 24,
    PROBE_REPLY_BYTES = 32,
    LEAVE_BYTES = 24,
    REPAIR_BYTES = 36,
    GROUP_NB_BYTES = 26,
    GROUP_QUERY_BYTES = 24,
    GROUP_INFO_FIXED_BYTES = 49,
    GROUP_JOIN_BYTES = 24,
    GROUP_STATE_FIXED_BYTES = 52,
    GROUP_KEEPALIVE_BYTES = 37,
    GROUP_LEAVE_BYTES = 46,
    GROUP_LINK_BYTES = 37,
    GROUP_PING_BYTES = 24,
    GROUP_PONG_BYTES = 40,
    GROUP_REPORT_FIXED_BYTES = 29,
    GROUP_NEAR_ENTRY_BYTES = 12,
    GROUP_BOOTSTRAP_BYTES = 16,
    GROUP_BOOT_REPLY_FIXED_BYTES = 17,
    GROUP_LEADER_ENTRY_BYTES = 26,
};

/* --- header (protocol.md 2.1) --------------------------------------------- */

int strata_wire_peek_type(const uint8_t *buf, size_t buflen)
{
    if (!buf || buflen < STRATA_WIRE_HEADER_BYTES)
        return STRATA_ERR_SHORT;
    if (buf[0] != WIRE_MAGIC0 || buf[1] != WIRE_MAGIC1)
        return STRATA_ERR_MAGIC;
    if (buf[2] != STRATA_WIRE_VERSION)
        return STRATA_ERR_VERSION;
    if (buf[3] == 0 || buf[3] > STRATA_MSG_TYPE_MAX)
        return STRATA_ERR_TYPE;
    return buf[3];
}

int strata_wire_peek_channel(const uint8_t *buf, size_t buflen, strata_channel_id *out)
{
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return type;
    size_t off;
    switch (type) {
    case STRATA_MSG_DATA:          /* 3.1 */
    case STRATA_MSG_MANIFEST:      /* 3.11.1 */
    case STRATA_MSG_PARITY_HASHES: /* 3.11.3 */
    case STRATA_MSG_MESH_STATE:    /* 3.13 */
        off = 4;
        break;
    case STRATA_MSG_INSTRUCTION: /* 3.4 */
        off = 8;
        break;
    case STRATA_MSG_JOIN_REPLY:       /* 3.3.2 */
    case STRATA_MSG_REPAIR_REQUEST:   /* 3.7 */
    case STRATA_MSG_MANIFEST_REQUEST: /* 3.11.2 */
        off = 12;
        break;
    default:
        return STRATA_ERR_TYPE;
    }
    if (buflen < off + 8)
        return STRATA_ERR_SHORT;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | buf[off + i];
    out->v = v;
    return type;
}

/* --- DATA (protocol.md 3.1) ----------------------------------------------- */

static size_t data_bytes(const strata_msg_data *m)
{
    return (size_t)DATA_FIXED_BYTES + m->payload_len + m->auth_tag_len;
}

/* The "allowed" column of protocol.md 3.1. */
static int data_valid(const strata_msg_data *m)
{
    if (m->channel.v == 0 || (m->flags & ~(unsigned)STRATA_DATA_FLAGS_KNOWN))
        return 0;
    if (m->flags & STRATA_DATA_FLAG_PARITY) {
        /* A symbol: payload, padding, 2-byte length (protocol.md 3.1.1). */
        if (m->flags != STRATA_DATA_FLAG_PARITY || m->substream >= STRATA_WIRE_MAX_TREES ||
            m->payload_len < STRATA_WIRE_PARITY_TRAILER_BYTES ||
            m->payload_len > STRATA_WIRE_MAX_PARITY_BYTES)
            return 0;
    } else if (m->substream >= STRATA_WIRE_MAX_SUBSTREAMS ||
               m->payload_len > STRATA_WIRE_MAX_PAYLOAD_BYTES) {
        return 0;
    }
    if (m->auth_tag_len > STRATA_WIRE_MAX_AUTH_TAG_BYTES)
        return 0;
    if ((m->flags & STRATA_DATA_FLAG_EOS) && m->payload_len != 0)
        return 0;
    /* A full payload and a full tag together would not fit (protocol.md 3.1). */
    return data_bytes(m) <= STRATA_WIRE_MAX_DATAGRAM_BYTES;
}

/* Writes the layout of protocol.md 3.1, field by field in table order. */
int strata_wire_encode_data(uint8_t *buf, size_t buflen, const strata_msg_data *m)
{
    if (!m || (m->payload_len && !m->payload) || (m->auth_tag_len && !m->auth_tag))
        return STRATA_ERR_INVAL;
    size_t n = data_bytes(m);
    int err = encode_prelude(buf, buflen, data_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_DATA);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->seq);
    p = put_u64(p, m->send_ts_ns);
    p = put_u8(p, m->substream);
    p = put_u8(p, m->flags);
    p = put_u16(p, m->payload_len);
    p = put_u16(p, m->auth_tag_len);
    p = put_bytes(p, m->payload, m->payload_len);
    put_bytes(p, m->auth_tag, m->auth_tag_len);
    return (int)n;
}

/* Reads protocol.md 3.1 under the rules of 2.4. */
int strata_wire_decode_data(const uint8_t *buf, size_t buflen, strata_msg_data *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_DATA);
    if (err)
        return err;
    m->channel.v = get_u64(&r);
    m->seq = get_u64(&r);
    m->send_ts_ns = get_u64(&r);
    m->substream = get_u8(&r);
    m->flags = get_u8(&r);
    m->payload_len = get_u16(&r);
    m->auth_tag_len = get_u16(&r);
    if (r.err)
        return r.err;
    /* Lengths are judged before the bytes they announce are looked for, so a
     * 60000-byte claim is reported as out of range rather than as short. */
    size_t max_payload = (m->flags & STRATA_DATA_FLAG_PARITY) ? STRATA_WIRE_MAX_PARITY_BYTES
                                                              : STRATA_WIRE_MAX_PAYLOAD_BYTES;
    if (m->payload_len > max_payload || m->auth_tag_len > STRATA_WIRE_MAX_AUTH_TAG_BYTES ||
        data_bytes(m) > STRATA_WIRE_MAX_DATAGRAM_BYTES)
        return STRATA_ERR_RANGE;
    m->payload = get_bytes(&r, m->payload_len);
    m->auth_tag = get_bytes(&r, m->auth_tag_len);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return data_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- HEARTBEAT (protocol.md 3.2) ------------------------------------------ */

static size_t heartbeat_bytes(size_t n_parents, size_t n_children)
{
    return (size_t)HB_FIXED_BYTES + n_parents * HB_PARENT_BYTES + n_children * HB_CHILD_BYTES;
}

static int heartbeat_counts_valid(size_t n_parents, size_t n_children)
{
    return n_parents <= STRATA_WIRE_MAX_TREES && n_children <= STRATA_WIRE_MAX_HB_CHILDREN &&
           heartbeat_bytes(n_parents, n_children) <= STRATA_WIRE_MAX_DATAGRAM_BYTES;
}

/* The "allowed" column of protocol.md 3.2. */
static int heartbeat_valid(const strata_msg_heartbeat *m)
{
    if (m->node.v == 0 || m->channel.v == 0)
        return 0;
    if (!heartbeat_counts_valid(m->n_parents, m->n_children) || m->level > STRATA_WIRE_MAX_LEVEL)
        return 0;
    /* n_parents is k (k + n in an EC cluster); 0 means the sender has no
     * parent slots (a source), and then children may name any substream
     * below the protocol maximum. */
    unsigned k = m->n_parents ? m->n_parents : STRATA_WIRE_MAX_TREES;
    for (size_t i = 0; i < m->n_children; i++) {
        if (m->children[i].child.v == 0 || m->children[i].substream >= k)
            return 0;
    }
    return 1;
}

/* Writes the layout of protocol.md 3.2, field by field in table order. */
int strata_wire_encode_heartbeat(uint8_t *buf, size_t buflen, const strata_msg_heartbeat *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = heartbeat_bytes(m->n_parents, m->n_children);
    int err = encode_prelude(buf, buflen, heartbeat_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_HEARTBEAT);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->channel.v);
    p = put_u32(p, m->dcm.v);
    p = put_u32(p, m->hb_seq);
    p = put_u64(p, m->local_ts_ns);
    p = put_u32(p, m->instr_epoch);
    p = put_u32(p, m->upload_kbps);
    p = put_u64(p, m->played_packets);
    p = put_u64(p, m->missed_packets);
    p = put_u64(p, m->rx_data_bytes);
    p = put_u64(p, m->tx_data_bytes);
    p = put_u64(p, m->recovered_packets);
    p = put_u8(p, m->n_parents);
    p = put_u8(p, m->n_children);
    p = put_u8(p, m->level);
    for (size_t i = 0; i < m->n_parents; i++) {
        const strata_hb_parent *e = &m->parents[i];
        p = put_u64(p, e->parent.v);
        p = put_u32(p, e->buffer_packets);
        p = put_u64(p, e->last_rx_ts_ns);
        p = put_u64(p, e->last_rx_seq);
    }
    for (size_t i = 0; i < m->n_children; i++) {
        const strata_hb_child *e = &m->children[i];
        p = put_u64(p, e->child.v);
        p = put_u8(p, e->substream);
        p = put_u64(p, e->last_tx_ts_ns);
        p = put_u64(p, e->last_tx_seq);
    }
    return (int)n;
}

/* Reads protocol.md 3.2 under the rules of 2.4. */
int strata_wire_decode_heartbeat(const uint8_t *buf, size_t buflen, strata_msg_heartbeat *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_HEARTBEAT);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->channel.v = get_u64(&r);
    m->dcm.v = get_u32(&r);
    m->hb_seq = get_u32(&r);
    m->local_ts_ns = get_u64(&r);
    m->instr_epoch = get_u32(&r);
    m->upload_kbps = get_u32(&r);
    m->played_packets = get_u64(&r);
    m->missed_packets = get_u64(&r);
    m->rx_data_bytes = get_u64(&r);
    m->tx_data_bytes = get_u64(&r);
    m->recovered_packets = get_u64(&r);
    m->n_parents = get_u8(&r);
    m->n_children = get_u8(&r);
    m->level = get_u8(&r);
    if (r.err)
        return r.err;
    /* The counts bound the writes into parents[] and children[]. */
    if (!heartbeat_counts_valid(m->n_parents, m->n_children))
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_parents; i++) {
        strata_hb_parent *e = &m->parents[i];
        e->parent.v = get_u64(&r);
        e->buffer_packets = get_u32(&r);
        e->last_rx_ts_ns = get_u64(&r);
        e->last_rx_seq = get_u64(&r);
    }
    for (size_t i = 0; i < m->n_children; i++) {
        strata_hb_child *e = &m->children[i];
        e->child.v = get_u64(&r);
        e->substream = get_u8(&r);
        e->last_tx_ts_ns = get_u64(&r);
        e->last_tx_seq = get_u64(&r);
    }
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return heartbeat_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- JOIN (protocol.md 3.3.1) --------------------------------------------- */

static size_t join_bytes(const strata_msg_join *m)
{
    /* The token field is there only with a token (protocol.md 3.3.1). */
    return (size_t)JOIN_FIXED_BYTES + m->name_len + m->region_len +
           (m->token_len ? 1u + m->token_len : 0u);
}

/* The "allowed" column of protocol.md 3.3.1. */
static int join_valid(const strata_msg_join *m)
{
    if (m->node.v == 0 || m->role > STRATA_ROLE_MAX)
        return 0;
    if (m->role != STRATA_ROLE_SOURCE && m->rate_kbps != 0)
        return 0;
    if (m->name_len == 0 || m->name_len > STRATA_WIRE_MAX_NAME_BYTES)
        return 0;
    return m->region_len <= STRATA_WIRE_MAX_REGION_BYTES &&
           m->token_len <= STRATA_WIRE_MAX_TOKEN_BYTES;
}

/* Writes the layout of protocol.md 3.3.1, field by field in table order. */
int strata_wire_encode_join(uint8_t *buf, size_t buflen, const strata_msg_join *m)
{
    if (!m || (m->name_len && !m->name) || (m->region_len && !m->region) ||
        (m->token_len && !m->token))
        return STRATA_ERR_INVAL;
    size_t n = join_bytes(m);
    int err = encode_prelude(buf, buflen, join_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_JOIN);
    p = put_u64(p, m->node.v);
    p = put_u8(p, m->role);
    p = put_u32(p, m->upload_kbps);
    p = put_u32(p, m->rate_kbps);
    p = put_u8(p, m->name_len);
    p = put_bytes(p, m->name, m->name_len);
    p = put_u8(p, m->region_len);
    p = put_bytes(p, m->region, m->region_len);
    p = put_u8(p, m->priority);
    if (m->token_len) {
        p = put_u8(p, m->token_len);
        put_bytes(p, m->token, m->token_len);
    }
    return (int)n;
}

/* Reads protocol.md 3.3.1 under the rules of 2.4. */
int strata_wire_decode_join(const uint8_t *buf, size_t buflen, strata_msg_join *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_JOIN);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->role = get_u8(&r);
    m->upload_kbps = get_u32(&r);
    m->rate_kbps = get_u32(&r);
    m->name_len = get_u8(&r);
    if (r.err)
        return r.err;
    if (m->name_len == 0 || m->name_len > STRATA_WIRE_MAX_NAME_BYTES)
        return STRATA_ERR_RANGE;
    m->name = get_bytes(&r, m->name_len);
    m->region_len = get_u8(&r);
    if (r.err)
        return r.err;
    if (m->region_len > STRATA_WIRE_MAX_REGION_BYTES)
        return STRATA_ERR_RANGE;
    m->region = get_bytes(&r, m->region_len);
    m->priority = get_u8(&r);
    if (!r.err && r.p != r.end) {
        /* A token follows; its length is never 0, so that a JOIN without
         * one has one encoding, the one without the field. */
        m->token_len = get_u8(&r);
        if (r.err)
            return r.err;
        if (m->token_len == 0 || m->token_len > STRATA_WIRE_MAX_TOKEN_BYTES)
            return STRATA_ERR_RANGE;
        m->token = get_bytes(&r, m->token_len);
    }
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return join_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- JOIN_REPLY (protocol.md 3.3.2) --------------------------------------- */

/* The "allowed" column of protocol.md 3.3.2. */
static int join_reply_valid(const strata_msg_join_reply *m)
{
    if (m->node.v == 0 || m->channel.v == 0 || m->status > STRATA_JOIN_STATUS_MAX)
        return 0;
    if (m->k == 0 || m->k > STRATA_WIRE_MAX_SUBSTREAMS)
        return 0;
    return m->heartbeat_ms != 0;
}

/* Writes the layout of protocol.md 3.3.2, field by field in table order. */
int strata_wire_encode_join_reply(uint8_t *buf, size_t buflen, const strata_msg_join_reply *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, join_reply_valid(m), JOIN_REPLY_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_JOIN_REPLY);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->channel.v);
    p = put_u8(p, m->status);
    p = put_u8(p, m->k);
    p = put_u32(p, m->dcm.v);
    p = put_u32(p, m->rate_kbps);
    p = put_u32(p, m->heartbeat_ms);
    put_u64(p, m->start_seq);
    return JOIN_REPLY_BYTES;
}

/* Reads protocol.md 3.3.2 under the rules of 2.4. */
int strata_wire_decode_join_reply(const uint8_t *buf, size_t buflen, strata_msg_join_reply *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_JOIN_REPLY);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->channel.v = get_u64(&r);
    m->status = get_u8(&r);
    m->k = get_u8(&r);
    m->dcm.v = get_u32(&r);
    m->rate_kbps = get_u32(&r);
    m->heartbeat_ms = get_u32(&r);
    m->start_seq = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return join_reply_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- INSTRUCTION (protocol.md 3.4) ---------------------------------------- */

static size_t instruction_bytes(size_t n_children)
{
    return (size_t)INSTR_FIXED_BYTES + n_children * PEER_REF_BYTES;
}

/* The "allowed" column of protocol.md 3.4. */
static int instruction_valid(const strata_msg_instruction *m)
{
    if (m->node.v == 0 || m->channel.v == 0)
        return 0;
    if (m->k == 0 || m->k > STRATA_WIRE_MAX_SUBSTREAMS || m->substream >= m->k + m->n)
        return 0;
    if (m->algorithm == 0 || m->algorithm > STRATA_ALG_MAX || m->level > STRATA_WIRE_MAX_LEVEL)
        return 0;
    /* Parity trees exist only in an erasure-coded cluster; mesh neighbours
     * are named only to a tree inside the mesh (the two share a byte). */
    if (m->n > STRATA_WIRE_MAX_PARITY || (m->n != 0 && m->algorithm != STRATA_ALG_EC_TREE))
        return 0;
    if (m->n_neighbours > m->n_children ||
        (m->n_neighbours != 0 && m->algorithm != STRATA_ALG_MESH_TREE))
        return 0;
    /* An unknown source is the all-zero reference: an address without a
     * node id would be half a ref that no receiver could act on. */
    if (m->source.node.v == 0 && !strata_addr_is_zero(m->source.addr))
        return 0;
    if (m->n_children > STRATA_WIRE_MAX_CHILDREN)
        return 0;
    for (size_t i = 0; i < m->n_children; i++) {
        if (m->children[i].node.v == 0)
            return 0;
    }
    return 1;
}

/* Writes the layout of protocol.md 3.4, field by field in table order. */
int strata_wire_encode_instruction(uint8_t *buf, size_t buflen, const strata_msg_instruction *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = instruction_bytes(m->n_children);
    int err = encode_prelude(buf, buflen, instruction_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_INSTRUCTION);
    p = put_u32(p, m->dcm.v);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->epoch);
    p = put_u8(p, m->k);
    p = put_u8(p, m->substream);
    p = put_u8(p, m->algorithm);
    p = put_u8(p, m->algorithm == STRATA_ALG_MESH_TREE ? m->n_neighbours : m->n);
    p = put_u8(p, m->level);
    p = put_peer_ref(p, &m->parent);
    p = put_peer_ref(p, &m->source);
    p = put_u8(p, m->n_children);
    for (size_t i = 0; i < m->n_children; i++)
        p = put_peer_ref(p, &m->children[i]);
    return (int)n;
}

/* Reads protocol.md 3.4 under the rules of 2.4. */
int strata_wire_decode_instruction(const uint8_t *buf, size_t buflen, strata_msg_instruction *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_INSTRUCTION);
    if (err)
        return err;
    m->dcm.v = get_u32(&r);
    m->channel.v = get_u64(&r);
    m->node.v = get_u64(&r);
    m->epoch = get_u32(&r);
    m->k = get_u8(&r);
    m->substream = get_u8(&r);
    m->algorithm = get_u8(&r);
    if (m->algorithm == STRATA_ALG_MESH_TREE)
        m->n_neighbours = get_u8(&r);
    else
        m->n = get_u8(&r);
    m->level = get_u8(&r);
    get_peer_ref(&r, &m->parent);
    get_peer_ref(&r, &m->source);
    m->n_children = get_u8(&r);
    if (r.err)
        return r.err;
    /* The count bounds the writes into children[]. */
    if (m->n_children > STRATA_WIRE_MAX_CHILDREN)
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_children; i++)
        get_peer_ref(&r, &m->children[i]);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return instruction_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- PROBE and PROBE_REPLY (protocol.md 3.5) ------------------------------ */

/* The "allowed" column of protocol.md 3.5.1. */
static int probe_valid(const strata_msg_probe *m)
{
    return m->node.v != 0;
}

/* Writes the layout of protocol.md 3.5.1, field by field in table order. */
int strata_wire_encode_probe(uint8_t *buf, size_t buflen, const strata_msg_probe *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, probe_valid(m), PROBE_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_PROBE);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->probe_id);
    put_u64(p, m->send_ts_ns);
    return PROBE_BYTES;
}

/* Reads protocol.md 3.5.1 under the rules of 2.4. */
int strata_wire_decode_probe(const uint8_t *buf, size_t buflen, strata_msg_probe *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_PROBE);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->probe_id = get_u32(&r);
    m->send_ts_ns = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return probe_valid(m) ? err : STRATA_ERR_RANGE;
}

/* The "allowed" column of protocol.md 3.5.2. */
static int probe_reply_valid(const strata_msg_probe_reply *m)
{
    return m->node.v != 0 && m->responder.v != 0;
}

/* Writes the layout of protocol.md 3.5.2, field by field in table order. */
int strata_wire_encode_probe_reply(uint8_t *buf, size_t buflen, const strata_msg_probe_reply *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, probe_reply_valid(m), PROBE_REPLY_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_PROBE_REPLY);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->probe_id);
    p = put_u64(p, m->send_ts_ns);
    put_u64(p, m->responder.v);
    return PROBE_REPLY_BYTES;
}

/* Reads protocol.md 3.5.2 under the rules of 2.4. */
int strata_wire_decode_probe_reply(const uint8_t *buf, size_t buflen, strata_msg_probe_reply *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_PROBE_REPLY);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->probe_id = get_u32(&r);
    m->send_ts_ns = get_u64(&r);
    m->responder.v = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return probe_reply_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- LEAVE (protocol.md 3.6) ---------------------------------------------- */

/* The "allowed" column of protocol.md 3.6. */
static int leave_valid(const strata_msg_leave *m)
{
    return m->node.v != 0 && m->channel.v != 0;
}

/* Writes the layout of protocol.md 3.6, field by field in table order. */
int strata_wire_encode_leave(uint8_t *buf, size_t buflen, const strata_msg_leave *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, leave_valid(m), LEAVE_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_LEAVE);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->channel.v);
    put_u32(p, m->dcm.v);
    return LEAVE_BYTES;
}

/* Reads protocol.md 3.6 under the rules of 2.4. */
int strata_wire_decode_leave(const uint8_t *buf, size_t buflen, strata_msg_leave *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_LEAVE);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->channel.v = get_u64(&r);
    m->dcm.v = get_u32(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return leave_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- REPAIR_REQUEST (protocol.md 3.7) ------------------------------------- */

/* The "allowed" column of protocol.md 3.7. */
static int repair_valid(const strata_msg_repair *m)
{
    if (m->node.v == 0 || m->channel.v == 0 || m->mask == 0)
        return 0;
    /* The highest sequence number named must not wrap past 2^64 - 1. */
    unsigned top = 63;
    while (!(m->mask >> top))
        top--;
    return m->first_seq <= UINT64_MAX - top;
}

/* Writes the layout of protocol.md 3.7, field by field in table order. */
int strata_wire_encode_repair(uint8_t *buf, size_t buflen, const strata_msg_repair *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, repair_valid(m), REPAIR_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_REPAIR_REQUEST);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->first_seq);
    put_u64(p, m->mask);
    return REPAIR_BYTES;
}

/* Reads protocol.md 3.7 under the rules of 2.4. */
int strata_wire_decode_repair(const uint8_t *buf, size_t buflen, strata_msg_repair *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_REPAIR_REQUEST);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->channel.v = get_u64(&r);
    m->first_seq = get_u64(&r);
    m->mask = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return repair_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- MESH_STATE (protocol.md 3.13) ---------------------------------------- */

static int mesh_state_valid(const strata_msg_mesh_state *m)
{
    return m->channel.v != 0 && m->node.v != 0 && m->k != 0 &&
           m->k <= STRATA_WIRE_MAX_SUBSTREAMS && (m->want >> m->k) == 0;
}

int strata_wire_encode_mesh_state(uint8_t *buf, size_t buflen, const strata_msg_mesh_state *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = (size_t)STRATA_WIRE_MESH_STATE_FIXED_BYTES + 2u * m->k;
    int err = encode_prelude(buf, buflen, mesh_state_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_MESH_STATE);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->node.v);
    p = put_u8(p, m->k);
    p = put_u32(p, m->want);
    p = put_u64(p, m->top);
    for (unsigned s = 0; s < m->k; s++)
        p = put_u16(p, m->behind[s]);
    return (int)n;
}

int strata_wire_decode_mesh_state(const uint8_t *buf, size_t buflen, strata_msg_mesh_state *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_MESH_STATE);
    if (err)
        return err;
    m->channel.v = get_u64(&r);
    m->node.v = get_u64(&r);
    m->k = get_u8(&r);
    m->want = get_u32(&r);
    m->top = get_u64(&r);
    if (r.err)
        return r.err;
    /* k bounds the writes into behind[]. */
    if (m->k == 0 || m->k > STRATA_WIRE_MAX_SUBSTREAMS)
        return STRATA_ERR_RANGE;
    for (unsigned s = 0; s < m->k; s++)
        m->behind[s] = get_u16(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return mesh_state_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- Locality groups (protocol.md 3.8) ----------------------------------- */

static int peer_ref_is_zero(const strata_peer_ref *r)
{
    return r->node.v == 0 && strata_addr_is_zero(r->addr);
}

/* protocol.md 3.8.2: a neighbour entry names another group and its leader. */
static int group_nb_valid(const strata_group_nb *e, strata_group_id own)
{
    return e->group.v != 0 && e->group.v != own.v && e->leader.node.v != 0;
}

static uint8_t *put_group_nb(uint8_t *p, const strata_group_nb *e)
{
    p = put_u64(p, e->group.v);
    p = put_peer_ref(p, &e->leader);
    return put_u32(p, e->distance);
}

static void get_group_nb(reader *r, strata_group_nb *e)
{
    e->group.v = get_u64(r);
    get_peer_ref(r, &e->leader);
    e->distance = get_u32(r);
}

static int group_metric_valid(uint8_t metric)
{
    return metric >= 1 && metric <= STRATA_GROUP_METRIC_MAX;
}

/* --- GROUP_QUERY (protocol.md 3.8.1) -------------------------------------- */

static int group_query_valid(const strata_msg_group_query *m)
{
    return m->node.v != 0;
}

int strata_wire_encode_group_query(uint8_t *buf, size_t buflen, const strata_msg_group_query *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_query_valid(m), GROUP_QUERY_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_QUERY);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->query_id);
    put_u64(p, m->group.v);
    return GROUP_QUERY_BYTES;
}

int strata_wire_decode_group_query(const uint8_t *buf, size_t buflen, strata_msg_group_query *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_QUERY);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->query_id = get_u32(&r);
    m->group.v = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_query_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_INFO (protocol.md 3.8.2) --------------------------------------- */

static size_t group_info_bytes(size_t n_neighbours)
{
    return (size_t)GROUP_INFO_FIXED_BYTES + n_neighbours * GROUP_NB_BYTES;
}

/* The "allowed" column of protocol.md 3.8.2. */
static int group_info_valid(const strata_msg_group_info *m)
{
    if (m->node.v == 0 || m->status > STRATA_GROUP_INFO_STATUS_MAX ||
        !group_metric_valid(m->metric) || m->n_neighbours > STRATA_WIRE_MAX_GROUP_NEIGHBOURS)
        return 0;
    switch (m->status) {
    case STRATA_GROUP_INFO_NO_GROUP:
        return m->group.v == 0 && m->term == 0 && peer_ref_is_zero(&m->leader) &&
               m->n_members == 0 && m->n_neighbours == 0;
    case STRATA_GROUP_INFO_MEMBER:
        if (m->group.v == 0 || m->leader.node.v == 0 || m->leader.node.v == m->node.v ||
            m->n_neighbours != 0)
            return 0;
        break;
    default: /* LEADER, FULL: the responder leads the group */
        if (m->group.v == 0 || m->leader.node.v != m->node.v || m->n_members == 0)
            return 0;
        break;
    }
    for (size_t i = 0; i < m->n_neighbours; i++) {
        if (!group_nb_valid(&m->neighbours[i], m->group))
            return 0;
    }
    return 1;
}

int strata_wire_encode_group_info(uint8_t *buf, size_t buflen, const strata_msg_group_info *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = group_info_bytes(m->n_neighbours);
    int err = encode_prelude(buf, buflen, group_info_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_INFO);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->query_id);
    p = put_u8(p, m->status);
    p = put_u8(p, m->metric);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_peer_ref(p, &m->leader);
    p = put_u32(p, m->n_members);
    p = put_u8(p, m->n_neighbours);
    for (size_t i = 0; i < m->n_neighbours; i++)
        p = put_group_nb(p, &m->neighbours[i]);
    return (int)n;
}

int strata_wire_decode_group_info(const uint8_t *buf, size_t buflen, strata_msg_group_info *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_INFO);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->query_id = get_u32(&r);
    m->status = get_u8(&r);
    m->metric = get_u8(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    get_peer_ref(&r, &m->leader);
    m->n_members = get_u32(&r);
    m->n_neighbours = get_u8(&r);
    if (r.err)
        return r.err;
    /* The count bounds the writes into neighbours[]. */
    if (m->n_neighbours > STRATA_WIRE_MAX_GROUP_NEIGHBOURS)
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_neighbours; i++)
        get_group_nb(&r, &m->neighbours[i]);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_info_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_JOIN (protocol.md 3.8.3) --------------------------------------- */

static int group_join_valid(const strata_msg_group_join *m)
{
    return m->node.v != 0 && m->group.v != 0;
}

int strata_wire_encode_group_join(uint8_t *buf, size_t buflen, const strata_msg_group_join *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_join_valid(m), GROUP_JOIN_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_JOIN);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->join_id);
    put_u64(p, m->group.v);
    return GROUP_JOIN_BYTES;
}

int strata_wire_decode_group_join(const uint8_t *buf, size_t buflen, strata_msg_group_join *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_JOIN);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->join_id = get_u32(&r);
    m->group.v = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_join_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_STATE (protocol.md 3.8.4) -------------------------------------- */

static size_t group_state_bytes(size_t n_successors, size_t n_neighbours, size_t n_page)
{
    return (size_t)GROUP_STATE_FIXED_BYTES + n_successors * PEER_REF_BYTES +
           n_neighbours * GROUP_NB_BYTES + n_page * PEER_REF_BYTES;
}

static int group_state_counts_valid(size_t n_successors, size_t n_neighbours, size_t n_page)
{
    return n_successors <= STRATA_WIRE_MAX_GROUP_SUCCESSORS &&
           n_neighbours <= STRATA_WIRE_MAX_GROUP_NEIGHBOURS &&
           n_page <= STRATA_WIRE_MAX_GROUP_PAGE &&
           group_state_bytes(n_successors, n_neighbours, n_page) <= STRATA_WIRE_MAX_DATAGRAM_BYTES;
}

size_t strata_wire_group_state_max_page(uint8_t n_successors, uint8_t n_neighbours)
{
    if (!group_state_counts_valid(n_successors, n_neighbours, 0))
        return 0;
    size_t room =
        (STRATA_WIRE_MAX_DATAGRAM_BYTES - group_state_bytes(n_successors, n_neighbours, 0)) /
        PEER_REF_BYTES;
    return room < STRATA_WIRE_MAX_GROUP_PAGE ? room : STRATA_WIRE_MAX_GROUP_PAGE;
}

/* The "allowed" column of protocol.md 3.8.4. */
static int group_state_valid(const strata_msg_group_state *m)
{
    if (m->leader.v == 0 || m->group.v == 0 || m->member.v == 0 || !group_metric_valid(m->metric))
        return 0;
    if (m->n_members == 0 || !group_state_counts_valid(m->n_successors, m->n_neighbours, m->n_page))
        return 0;
    if (m->n_successors >= m->n_members ||
        (uint64_t)m->page_offset + m->n_page > (uint64_t)m->n_members)
        return 0;
    for (size_t i = 0; i < m->n_successors; i++) {
        if (m->successors[i].node.v == 0 || m->successors[i].node.v == m->leader.v)
            return 0;
    }
    for (size_t i = 0; i < m->n_neighbours; i++) {
        if (!group_nb_valid(&m->neighbours[i], m->group))
            return 0;
    }
    for (size_t i = 0; i < m->n_page; i++) {
        if (m->page[i].node.v == 0)
            return 0;
    }
    return 1;
}

int strata_wire_encode_group_state(uint8_t *buf, size_t buflen, const strata_msg_group_state *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = group_state_bytes(m->n_successors, m->n_neighbours, m->n_page);
    int err = encode_prelude(buf, buflen, group_state_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_STATE);
    p = put_u64(p, m->leader.v);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_u32(p, m->epoch);
    p = put_u64(p, m->member.v);
    p = put_u32(p, m->reply_id);
    p = put_u32(p, m->n_members);
    p = put_u32(p, m->page_offset);
    p = put_u8(p, m->metric);
    p = put_u8(p, m->n_successors);
    p = put_u8(p, m->n_neighbours);
    p = put_u8(p, m->n_page);
    for (size_t i = 0; i < m->n_successors; i++)
        p = put_peer_ref(p, &m->successors[i]);
    for (size_t i = 0; i < m->n_neighbours; i++)
        p = put_group_nb(p, &m->neighbours[i]);
    for (size_t i = 0; i < m->n_page; i++)
        p = put_peer_ref(p, &m->page[i]);
    return (int)n;
}

int strata_wire_decode_group_state(const uint8_t *buf, size_t buflen, strata_msg_group_state *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_STATE);
    if (err)
        return err;
    m->leader.v = get_u64(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    m->epoch = get_u32(&r);
    m->member.v = get_u64(&r);
    m->reply_id = get_u32(&r);
    m->n_members = get_u32(&r);
    m->page_offset = get_u32(&r);
    m->metric = get_u8(&r);
    m->n_successors = get_u8(&r);
    m->n_neighbours = get_u8(&r);
    m->n_page = get_u8(&r);
    if (r.err)
        return r.err;
    /* The counts bound the writes into the three arrays. */
    if (!group_state_counts_valid(m->n_successors, m->n_neighbours, m->n_page))
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_successors; i++)
        get_peer_ref(&r, &m->successors[i]);
    for (size_t i = 0; i < m->n_neighbours; i++)
        get_group_nb(&r, &m->neighbours[i]);
    for (size_t i = 0; i < m->n_page; i++)
        get_peer_ref(&r, &m->page[i]);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_state_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_KEEPALIVE (protocol.md 3.8.5) ---------------------------------- */

static int group_keepalive_valid(const strata_msg_group_keepalive *m)
{
    if (m->node.v == 0 || m->group.v == 0)
        return 0;
    if (m->flags & ~(unsigned)STRATA_GROUP_KA_FLAGS_KNOWN)
        return 0;
    int takeover = (m->flags & STRATA_GROUP_KA_TAKEOVER) != 0;
    if ((m->flags & STRATA_GROUP_KA_LEFT) && !takeover)
        return 0;
    return takeover ? m->lost_leader.v != 0 : m->lost_leader.v == 0;
}

int strata_wire_encode_group_keepalive(uint8_t *buf, size_t buflen,
                                       const strata_msg_group_keepalive *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_keepalive_valid(m), GROUP_KEEPALIVE_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_KEEPALIVE);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_u32(p, m->seq);
    p = put_u8(p, m->flags);
    put_u64(p, m->lost_leader.v);
    return GROUP_KEEPALIVE_BYTES;
}

int strata_wire_decode_group_keepalive(const uint8_t *buf, size_t buflen,
                                       strata_msg_group_keepalive *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_KEEPALIVE);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    m->seq = get_u32(&r);
    m->flags = get_u8(&r);
    m->lost_leader.v = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_keepalive_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_LEAVE (protocol.md 3.8.6) -------------------------------------- */

static int group_leave_valid(const strata_msg_group_leave *m)
{
    if (m->node.v == 0 || m->group.v == 0)
        return 0;
    if (m->next_group.v == 0)
        return peer_ref_is_zero(&m->next_leader);
    return m->next_leader.node.v != 0 && m->next_leader.node.v != m->node.v;
}

int strata_wire_encode_group_leave(uint8_t *buf, size_t buflen, const strata_msg_group_leave *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_leave_valid(m), GROUP_LEAVE_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_LEAVE);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_u64(p, m->next_group.v);
    put_peer_ref(p, &m->next_leader);
    return GROUP_LEAVE_BYTES;
}

int strata_wire_decode_group_leave(const uint8_t *buf, size_t buflen, strata_msg_group_leave *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_LEAVE);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    m->next_group.v = get_u64(&r);
    get_peer_ref(&r, &m->next_leader);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_leave_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_LINK (protocol.md 3.8.7) --------------------------------------- */

static int group_link_valid(const strata_msg_group_link *m)
{
    return m->node.v != 0 && m->group.v != 0 && m->kind <= STRATA_GROUP_LINK_KIND_MAX &&
           m->peer_group.v != m->group.v;
}

int strata_wire_encode_group_link(uint8_t *buf, size_t buflen, const strata_msg_group_link *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_link_valid(m), GROUP_LINK_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_LINK);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_u64(p, m->peer_group.v);
    p = put_u8(p, m->kind);
    put_u32(p, m->distance);
    return GROUP_LINK_BYTES;
}

int strata_wire_decode_group_link(const uint8_t *buf, size_t buflen, strata_msg_group_link *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_LINK);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    m->peer_group.v = get_u64(&r);
    m->kind = get_u8(&r);
    m->distance = get_u32(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_link_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_PING and GROUP_PONG (protocol.md 3.8.8) ------------------------ */

static int group_ping_valid(const strata_msg_group_ping *m)
{
    return m->node.v != 0;
}

int strata_wire_encode_group_ping(uint8_t *buf, size_t buflen, const strata_msg_group_ping *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_ping_valid(m), GROUP_PING_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_PING);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->ping_id);
    put_u64(p, m->send_ts_ns);
    return GROUP_PING_BYTES;
}

int strata_wire_decode_group_ping(const uint8_t *buf, size_t buflen, strata_msg_group_ping *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_PING);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->ping_id = get_u32(&r);
    m->send_ts_ns = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_ping_valid(m) ? err : STRATA_ERR_RANGE;
}

static int group_pong_valid(const strata_msg_group_pong *m)
{
    return m->node.v != 0 && m->responder.v != 0;
}

int strata_wire_encode_group_pong(uint8_t *buf, size_t buflen, const strata_msg_group_pong *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_pong_valid(m), GROUP_PONG_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_PONG);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->ping_id);
    p = put_u64(p, m->send_ts_ns);
    p = put_u64(p, m->responder.v);
    put_u64(p, m->rx_ts_ns);
    return GROUP_PONG_BYTES;
}

int strata_wire_decode_group_pong(const uint8_t *buf, size_t buflen, strata_msg_group_pong *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_PONG);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->ping_id = get_u32(&r);
    m->send_ts_ns = get_u64(&r);
    m->responder.v = get_u64(&r);
    m->rx_ts_ns = get_u64(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_pong_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- drop counters (protocol.md 6) ---------------------------------------- */

void strata_drop_count(strata_drop_counters *c, int err)
{
    if (!c)
        return;
    size_t slots = sizeof c->by_reason / sizeof c->by_reason[0];
    size_t slot;
    if (err >= 0)
        slot = 0; /* not an error at all: counted as "unknown" */
    else if (err <= -(int)slots)
        slot = slots - 1; /* rarer reasons and non-input errors share the last slot */
    else
        slot = (size_t)-err;
    c->by_reason[slot]++;
    c->total++;
}

size_t strata_wire_hb_max_children(uint8_t n_parents) /* protocol.md 3.2 */
{
    if (n_parents > STRATA_WIRE_MAX_TREES)
        return 0;
    size_t room =
        (STRATA_WIRE_MAX_DATAGRAM_BYTES - HB_FIXED_BYTES - HB_PARENT_BYTES * (size_t)n_parents) /
        HB_CHILD_BYTES;
    return room < STRATA_WIRE_MAX_HB_CHILDREN ? room : STRATA_WIRE_MAX_HB_CHILDREN;
}

/* --- GROUP_REPORT (protocol.md 3.9.1) -------------------------------------- */

static size_t group_report_bytes(size_t n_near)
{
    return (size_t)GROUP_REPORT_FIXED_BYTES + n_near * GROUP_NEAR_ENTRY_BYTES;
}

static int group_report_valid(const strata_msg_group_report *m)
{
    if (m->node.v == 0 || m->group.v == 0 || m->n_near > STRATA_WIRE_MAX_REPORT_NEAR)
        return 0;
    for (size_t i = 0; i < m->n_near; i++)
        if (m->near[i].group.v == 0 || m->near[i].group.v == m->group.v)
            return 0;
    return 1;
}

int strata_wire_encode_group_report(uint8_t *buf, size_t buflen, const strata_msg_group_report *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = group_report_bytes(m->n_near);
    int err = encode_prelude(buf, buflen, group_report_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_REPORT);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->group.v);
    p = put_u32(p, m->term);
    p = put_u32(p, m->n_members);
    p = put_u8(p, m->n_near);
    for (size_t i = 0; i < m->n_near; i++) {
        p = put_u64(p, m->near[i].group.v);
        p = put_u32(p, m->near[i].distance);
    }
    return (int)n;
}

int strata_wire_decode_group_report(const uint8_t *buf, size_t buflen, strata_msg_group_report *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_REPORT);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->group.v = get_u64(&r);
    m->term = get_u32(&r);
    m->n_members = get_u32(&r);
    m->n_near = get_u8(&r);
    if (r.err)
        return r.err;
    /* The count bounds the writes into near[]. */
    if (m->n_near > STRATA_WIRE_MAX_REPORT_NEAR)
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_near; i++) {
        m->near[i].group.v = get_u64(&r);
        m->near[i].distance = get_u32(&r);
    }
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_report_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_BOOTSTRAP (protocol.md 3.9.2) ----------------------------------- */

static int group_bootstrap_valid(const strata_msg_group_bootstrap *m)
{
    return m->node.v != 0;
}

int strata_wire_encode_group_bootstrap(uint8_t *buf, size_t buflen,
                                       const strata_msg_group_bootstrap *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    int err = encode_prelude(buf, buflen, group_bootstrap_valid(m), GROUP_BOOTSTRAP_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_BOOTSTRAP);
    p = put_u64(p, m->node.v);
    put_u32(p, m->request_id);
    return GROUP_BOOTSTRAP_BYTES;
}

int strata_wire_decode_group_bootstrap(const uint8_t *buf, size_t buflen,
                                       strata_msg_group_bootstrap *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_BOOTSTRAP);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->request_id = get_u32(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_bootstrap_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- RECRUIT (protocol.md 3.10) -------------------------------------------- */

enum { RECRUIT_FIXED_BYTES = 4 + 8 + 1 + 1 };

static int recruit_valid(const strata_msg_recruit *m)
{
    return m->node.v != 0 && !(m->flags & ~(unsigned)STRATA_RECRUIT_FLAGS_KNOWN) &&
           m->name_len >= 1 && m->name_len <= STRATA_WIRE_MAX_NAME_BYTES;
}

int strata_wire_encode_recruit(uint8_t *buf, size_t buflen, const strata_msg_recruit *m)
{
    if (!m || (m->name_len && !m->name))
        return STRATA_ERR_INVAL;
    size_t n = (size_t)RECRUIT_FIXED_BYTES + m->name_len;
    int err = encode_prelude(buf, buflen, recruit_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_RECRUIT);
    p = put_u64(p, m->node.v);
    p = put_u8(p, m->flags);
    p = put_u8(p, m->name_len);
    put_bytes(p, m->name, m->name_len);
    return (int)n;
}

int strata_wire_decode_recruit(const uint8_t *buf, size_t buflen, strata_msg_recruit *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_RECRUIT);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->flags = get_u8(&r);
    m->name_len = get_u8(&r);
    if (r.err)
        return r.err;
    if (m->name_len == 0 || m->name_len > STRATA_WIRE_MAX_NAME_BYTES)
        return STRATA_ERR_RANGE;
    m->name = get_bytes(&r, m->name_len);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return recruit_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- GROUP_BOOTSTRAP_REPLY (protocol.md 3.9.3) ------------------------------ */

static size_t group_boot_reply_bytes(size_t n_leaders)
{
    return (size_t)GROUP_BOOT_REPLY_FIXED_BYTES + n_leaders * GROUP_LEADER_ENTRY_BYTES;
}

static int group_boot_reply_valid(const strata_msg_group_bootstrap_reply *m)
{
    if (m->node.v == 0 || m->n_leaders > STRATA_WIRE_MAX_BOOTSTRAP_LEADERS)
        return 0;
    for (size_t i = 0; i < m->n_leaders; i++) {
        const strata_group_leader_entry *e = &m->leaders[i];
        if (e->group.v == 0 || e->leader.node.v == 0 || e->n_members == 0)
            return 0;
    }
    return 1;
}

int strata_wire_encode_group_bootstrap_reply(uint8_t *buf, size_t buflen,
                                             const strata_msg_group_bootstrap_reply *m)
{
    if (!m)
        return STRATA_ERR_INVAL;
    size_t n = group_boot_reply_bytes(m->n_leaders);
    int err = encode_prelude(buf, buflen, group_boot_reply_valid(m), n);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_GROUP_BOOTSTRAP_REPLY);
    p = put_u64(p, m->node.v);
    p = put_u32(p, m->request_id);
    p = put_u8(p, m->n_leaders);
    for (size_t i = 0; i < m->n_leaders; i++) {
        p = put_u64(p, m->leaders[i].group.v);
        p = put_peer_ref(p, &m->leaders[i].leader);
        p = put_u32(p, m->leaders[i].n_members);
    }
    return (int)n;
}

int strata_wire_decode_group_bootstrap_reply(const uint8_t *buf, size_t buflen,
                                             strata_msg_group_bootstrap_reply *m)
{
    reader r;
    if (!m)
        return STRATA_ERR_INVAL;
    memset(m, 0, sizeof *m);
    int err = open_message(&r, buf, buflen, STRATA_MSG_GROUP_BOOTSTRAP_REPLY);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->request_id = get_u32(&r);
    m->n_leaders = get_u8(&r);
    if (r.err)
        return r.err;
    /* The count bounds the writes into leaders[]. */
    if (m->n_leaders > STRATA_WIRE_MAX_BOOTSTRAP_LEADERS)
        return STRATA_ERR_RANGE;
    for (size_t i = 0; i < m->n_leaders; i++) {
        m->leaders[i].group.v = get_u64(&r);
        get_peer_ref(&r, &m->leaders[i].leader);
        m->leaders[i].n_members = get_u32(&r);
    }
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return group_boot_reply_valid(m) ? err : STRATA_ERR_RANGE;
}
