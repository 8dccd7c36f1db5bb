/*
 * libFuzzer target driving a whole node (strata/node.h) with fuzzed
 * datagrams and time: the routing by type and channel, PROBE, the group
 * agent and its bootstrap client, two viewer channels and, in the control
 * configuration, the control center and its group directory, all behind
 * the one entry point the daemons use.
 *
 * The input is a small program. Its first byte picks the configuration
 * (bit 6: groups on; bit 7: the node is also the control center); then
 * each step starts with an opcode byte:
 *   0  advance time by a fuzzed amount and run every due deadline
 *   1  a raw datagram of fuzzed bytes
 *   2  JOIN_REPLY     3  INSTRUCTION    4  DATA    5  REPAIR_REQUEST
 *      (each for channel "fz" or "fz2", or one the node lacks; an
 *      INSTRUCTION of any algorithm, EC_TREE with n parity trees,
 *      MESH_TREE with some of its children as neighbours)
 *   6  PROBE          7  leave (when the next byte is odd)
 *   8  GROUP_BOOTSTRAP_REPLY to the node's own last request
 *   9  a group message: a valid header of a fuzzed group type, fuzzed body
 *  10  JOIN          11  HEARTBEAT     (for the control center)
 *  12  RECRUIT from the control center (start or end a relay session)
 *  13  a parity symbol (DATA with PARITY): symbol i of a group of packets
 *      whose payloads op 4 sends when asked for canonical ones (so that
 *      the node can rebuild what it lacks), or fuzzed bytes
 *  14  MANIFEST: a signed stream's manifest (channel "fz" verifies with
 *      the fuzz key, "fz2" is unsigned and keeps them unchecked), signed
 *      with that key or another, vouching for the canonical packets of a
 *      fuzzed range, parity digests of their canonical symbols, EOS or not
 *  15  PARITY_HASHES of the last manifest op 14 made (or corrupted)
 *  16  MANIFEST_REQUEST
 *  17  MESH_STATE from one of op 3's child addresses (a neighbour when op 3
 *      made a MESH_TREE instruction), with its node id or another
 * Some configurations authenticate (core/auth.h): the node seals its
 * control messages, and refuses the fuzzer's unsealed ones.
 * Structured messages are built from fuzzed fields around plausible
 * values and then optionally corrupted at one fuzzed offset.
 *
 * After every step the outbox is drained and every queued datagram must
 * decode with the decoder of its own type: the node never sends what a
 * receiver would drop. It must never crash, trip a sanitizer, or leak.
 */
#include "auth.h"
#include "strata/fec.h"
#include "strata/manifest.h"
#include "strata/node.h"
#include "strata/wire.h"

#include "fuzz_prog.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const strata_node_id ME = {0xfeed};
static const strata_addr CONTROL = {0x7f000001, 7000};
static const char *const CHANNELS[] = {"fz", "fz2", "none"};

static strata_addr addr_of(uint8_t i)
{
    return (strata_addr){0x0a000000u + (i & 7u), 7000};
}
static strata_peer_ref ref_of(uint8_t i)
{
    return (strata_peer_ref){{0x100u + (i & 7u)}, addr_of(i)};
}

/* The canonical payload of seq: op 4 sends it when its length byte is
 * 255, and op 13 codes groups of them. */
static size_t canonical_len(uint64_t seq)
{
    return (size_t)(seq * 37u % (STRATA_WIRE_MAX_PAYLOAD_BYTES + 1u));
}

/* Symbol i of the canonical group starting at first (k packets) into sym;
 * returns its length, or -1. The encoder is made once and kept (its
 * tables are the same for every input). */
static int canonical_symbol(const uint8_t *payload, uint64_t first, uint8_t k, unsigned i,
                            uint8_t *sym, size_t cap)
{
    static strata_fec_encoder *enc;
    if (!enc && !(enc = strata_fec_encoder_new(NULL)))
        return -1;
    const uint8_t *data[STRATA_FEC_MAX_DATA];
    size_t len[STRATA_FEC_MAX_DATA];
    for (unsigned j = 0; j < k; j++) {
        data[j] = payload;
        len[j] = canonical_len(first + j);
    }
    uint8_t *out[1] = {sym};
    return strata_fec_encode(enc, k, data, len, i, 1, out, cap);
}

/* The fuzz channel's key pair, and another key's secret (forgeries):
 * made once from fixed seeds. */
static uint8_t fz_pk[crypto_sign_PUBLICKEYBYTES], fz_sk[crypto_sign_SECRETKEYBYTES];
static uint8_t other_sk[crypto_sign_SECRETKEYBYTES];
static void fuzz_keys(void)
{
    static int done;
    if (done)
        return;
    uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    memset(seed, 0x21, sizeof seed);
    crypto_sign_seed_keypair(fz_pk, fz_sk, seed);
    memset(seed, 0x42, sizeof seed);
    crypto_sign_seed_keypair(pk, other_sk, seed);
    done = 1;
}

/* Op 14: a manifest of the canonical packets first .. first + count - 1
 * (and their groups' canonical parity, n_parity indexes) into buf, its
 * parity lists into lists (lists_len each); returns its length. */
static int canonical_manifest(strata_channel_id ch, uint64_t first, uint8_t count, uint8_t flags,
                              uint8_t k, uint8_t n_parity, const uint8_t *payload, int forged,
                              uint8_t *buf, size_t cap,
                              uint8_t lists[][STRATA_WIRE_MAX_DATAGRAM_BYTES], int *lists_len)
{
    uint8_t hashes[STRATA_MANIFEST_MAX_PACKETS * STRATA_MANIFEST_HASH_BYTES];
    uint8_t digests[STRATA_WIRE_MAX_PARITY * STRATA_MANIFEST_HASH_BYTES];
    for (uint8_t j = 0; j < count; j++) {
        strata_msg_data m;
        memset(&m, 0, sizeof m);
        m.channel = ch;
        m.seq = first + j;
        m.substream = (uint8_t)(m.seq % k);
        m.payload_len = (uint16_t)canonical_len(m.seq);
        m.payload = payload;
        strata_manifest_hash_packet(&m, hashes + (size_t)j * STRATA_MANIFEST_HASH_BYTES);
    }
    unsigned groups = strata_manifest_groups(first, count, k);
    uint64_t g0 = strata_manifest_first_group(first, k);
    for (unsigned i = 0; i < n_parity; i++) {
        uint8_t ph[STRATA_MANIFEST_MAX_GROUPS * STRATA_MANIFEST_HASH_BYTES];
        for (unsigned g = 0; g < groups; g++) {
            uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES];
            uint64_t first_seq = (g0 + g) * k;
            int len = canonical_symbol(payload, first_seq, k, i, sym, sizeof sym);
            strata_manifest_hash_symbol(ch, first_seq, k, i, sym, len > 0 ? (size_t)len : 0,
                                        ph + (size_t)g * STRATA_MANIFEST_HASH_BYTES);
        }
        strata_msg_parity_hashes l = {ch, first, count, k, (uint8_t)i, (uint8_t)groups, ph};
        lists_len[i] = strata_manifest_encode_parity(lists[i], sizeof lists[i], &l);
        if (lists_len[i] < 0)
            return -1;
        strata_manifest_digest(lists[i], (size_t)lists_len[i],
                               digests + (size_t)i * STRATA_MANIFEST_HASH_BYTES);
    }
    strata_msg_manifest m = {ch,    first,    count, flags, n_parity ? k : 0, n_parity,
                             hashes, digests, NULL};
    int n = strata_manifest_encode(buf, cap, &m);
    if (n > 0)
        strata_manifest_sign(buf, (size_t)n, forged ? other_sk : fz_sk);
    return n;
}

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    /* touch every byte so ASan sees a bad payload range */
    uint64_t *sum = user;
    for (size_t i = 0; i < len; i++)
        *sum += buf[i];
}

#define DECODES(TYPE, NAME)                                                                        \
    case TYPE: {                                                                                   \
        strata_msg_##NAME m;                                                                       \
        rc = strata_wire_decode_##NAME(b, n, &m);                                                  \
        break;                                                                                     \
    }

/* The node authenticates (core/auth.h): its control messages carry a
 * trailer, which comes off before the message is decoded. */
static int sealed_outbox;

/* The decoder of the datagram's own type over its first n bytes. */
static int decode_any(const uint8_t *b, size_t n, uint32_t *bootstrap_request)
{
    int rc = -1;
    switch (strata_wire_peek_type(b, n)) {
        DECODES(STRATA_MSG_DATA, data)
        DECODES(STRATA_MSG_HEARTBEAT, heartbeat)
        DECODES(STRATA_MSG_JOIN, join)
        DECODES(STRATA_MSG_JOIN_REPLY, join_reply)
        DECODES(STRATA_MSG_INSTRUCTION, instruction)
        DECODES(STRATA_MSG_PROBE, probe)
        DECODES(STRATA_MSG_PROBE_REPLY, probe_reply)
        DECODES(STRATA_MSG_LEAVE, leave)
        DECODES(STRATA_MSG_REPAIR_REQUEST, repair)
        DECODES(STRATA_MSG_GROUP_QUERY, group_query)
        DECODES(STRATA_MSG_GROUP_INFO, group_info)
        DECODES(STRATA_MSG_GROUP_JOIN, group_join)
        DECODES(STRATA_MSG_GROUP_STATE, group_state)
        DECODES(STRATA_MSG_GROUP_KEEPALIVE, group_keepalive)
        DECODES(STRATA_MSG_GROUP_LEAVE, group_leave)
        DECODES(STRATA_MSG_GROUP_LINK, group_link)
        DECODES(STRATA_MSG_GROUP_PING, group_ping)
        DECODES(STRATA_MSG_GROUP_PONG, group_pong)
        DECODES(STRATA_MSG_GROUP_REPORT, group_report)
        DECODES(STRATA_MSG_GROUP_BOOTSTRAP_REPLY, group_bootstrap_reply)
        DECODES(STRATA_MSG_RECRUIT, recruit)
        DECODES(STRATA_MSG_MESH_STATE, mesh_state)
    case STRATA_MSG_MANIFEST: {
        strata_msg_manifest m;
        rc = strata_manifest_decode(b, n, &m);
        break;
    }
    case STRATA_MSG_MANIFEST_REQUEST: {
        strata_msg_manifest_request m;
        rc = strata_manifest_decode_request(b, n, &m);
        break;
    }
    case STRATA_MSG_PARITY_HASHES: {
        strata_msg_parity_hashes m;
        rc = strata_manifest_decode_parity(b, n, &m);
        break;
    }
    case STRATA_MSG_GROUP_BOOTSTRAP: {
        strata_msg_group_bootstrap m;
        rc = strata_wire_decode_group_bootstrap(b, n, &m);
        if (rc > 0)
            *bootstrap_request = m.request_id;
        break;
    }
    default:
        break;
    }
    return rc;
}

/* Every datagram the node queues must decode as its own type (sealed
 * ones once their trailer is off); the bootstrap client's request id is
 * kept for opcode 8. */
static void check_outbox(strata_node *node, uint32_t *bootstrap_request)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_node_outbox(node), &d)) {
        const uint8_t *b = d.buf->data;
        size_t n = d.buf->len;
        int rc = decode_any(b, n, bootstrap_request);
        strata_auth_trailer t;
        if ((rc < 0 || (size_t)rc != n) && sealed_outbox && strata_auth_decode(b, n, &t) >= 0) {
            n = t.body_len;
            rc = decode_any(b, n, bootstrap_request);
        }
        if (rc < 0 || (size_t)rc != n)
            abort();
        strata_buf_unref(d.buf);
    }
}

/* Corrupts one byte of an encoded message when the program says so. */
static void maybe_corrupt(prog *r, uint8_t *buf, int n)
{
    uint8_t c = u8(r);
    if (n > 0 && (c & 0x80))
        buf[(size_t)(c & 0x7f) % (size_t)n] ^= u8(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prog r = {data, data + size};
    fuzz_keys();
    uint8_t conf = u8(&r);
    uint64_t now = (conf & 16) ? UINT64_MAX - STRATA_S(100000) : STRATA_S(1);
    strata_control_config cc;
    memset(&cc, 0, sizeof cc);
    cc.heartbeat_ms = 100;
    strata_node_config nc;
    memset(&nc, 0, sizeof nc);
    nc.id = ME;
    nc.addr = (strata_addr){0x0a0000ffu, 7000};
    nc.control = CONTROL;
    nc.seed = conf;
    nc.groups = (conf & 64) != 0;
    nc.group_wait_ms = 500;
    nc.control_center = (conf & 128) ? &cc : NULL;
    /* Combinations of the bits above switch on the anti-amplification
     * rule and the control center's tokens and JOIN rate. */
    nc.verify_addresses = (conf & 5) == 5;
    nc.verify_table = 64; /* small: a full table's evictions are reached, and no input pays
                           * for zeroing the control process's 3 MiB default */
    cc.require_tokens = (conf & 10) == 10;
    cc.join_rate_per_s = (conf & 3) == 3 ? 5 : 0;
    /* And node authentication: the fuzzer's control messages then carry no
     * valid tag, and every one is refused (counted) at the entry point. */
    nc.authenticate = (conf & 12) == 12;
    sealed_outbox = nc.authenticate;
    strata_node *node = strata_node_new(&nc, NULL, NULL, now);
    if (!node)
        return 0;
    uint64_t sum = 0;
    strata_peer_callbacks cb = {on_play, NULL, &sum};
    for (int c = 0; c < 2; c++) {
        strata_peer_config pc;
        memset(&pc, 0, sizeof pc);
        pc.channel = CHANNELS[c];
        pc.upload_kbps = 1000;
        pc.region = (conf & 1) && c == 0 ? "eu" : NULL;
        pc.store_packets = (conf & 2) ? 64 : 512;
        pc.playout_delay_ms = (conf & 4) ? 200 : 0;
        pc.repair_after_ms = (conf & 8) ? 5 : 0;
        pc.seed = conf;
        pc.verify = c == 0; /* "fz" is a signed channel, "fz2" is not */
        memcpy(pc.channel_pk, fz_pk, sizeof pc.channel_pk);
        pc.verify_wait_ms = (conf & 4) ? 100 : 0;
        if (strata_node_watch(node, &pc, &cb, now) != c)
            abort();
    }
    uint64_t seq_base = (conf & 32) ? 1000000 : 0;
    uint8_t k = 4;
    uint32_t bootstrap_request = 0;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    uint8_t payload[STRATA_WIRE_MAX_PAYLOAD_BYTES];
    memset(payload, 0xa5, sizeof payload);
    static uint8_t lists[STRATA_WIRE_MAX_PARITY][STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int lists_len[STRATA_WIRE_MAX_PARITY] = {0};
    uint8_t n_lists = 0;
    check_outbox(node, &bootstrap_request);

    for (int steps = 0; more(&r) && steps < 4096; steps++) {
        uint8_t op = u8(&r) % 18;
        int n = -1;
        strata_addr from = addr_of(u8(&r));
        const char *name = CHANNELS[u8(&r) % 3];
        strata_channel_id ch = strata_channel_id_from_name(name, strlen(name));
        switch (op) {
        case 0: {
            uint64_t step = (uint64_t)u16(&r) * STRATA_MS(1) / 8;
            now = now > UINT64_MAX - step ? UINT64_MAX : now + step;
            if (strata_node_next_timeout(node) <= now)
                strata_node_handle_timeout(node, now);
            break;
        }
        case 1: {
            size_t len = u8(&r);
            /* The TTL byte first: read after the clip, it moved the
             * datagram one byte past the input (a crash of this harness
             * that ASan reported in the DATA decoder, which read no further
             * than the length it was given). */
            strata_rx rx = {from, (int)u8(&r) - 1};
            if (len > (size_t)(r.end - r.p))
                len = (size_t)(r.end - r.p);
            strata_node_handle_datagram(node, &rx, r.p, len, now);
            r.p += len;
            break;
        }
        case 2: {
            strata_msg_join_reply m;
            memset(&m, 0, sizeof m);
            m.node = (u8(&r) & 1) ? ME : (strata_node_id){5};
            m.channel = ch;
            m.status = u8(&r) % 4;
            m.dcm.v = 1;
            k = (uint8_t)(1 + u8(&r) % STRATA_WIRE_MAX_SUBSTREAMS);
            m.k = k;
            m.rate_kbps = u8(&r);
            m.heartbeat_ms = 1u + u8(&r);
            m.start_seq = (u8(&r) & 1) ? seq_base + u16(&r) : 0;
            n = strata_wire_encode_join_reply(buf, sizeof buf, &m);
            from = CONTROL;
            break;
        }
        case 3: {
            strata_msg_instruction m;
            memset(&m, 0, sizeof m);
            m.dcm.v = 1;
            m.channel = ch;
            m.node = ME;
            m.epoch = u8(&r);
            uint8_t kk = u8(&r);
            m.k = (kk & 0x80) ? (uint8_t)(1 + kk % STRATA_WIRE_MAX_SUBSTREAMS) : k;
            uint8_t alg = u8(&r);
            m.algorithm = (uint8_t)(STRATA_ALG_TREE + alg % STRATA_ALG_MAX);
            if (m.algorithm == STRATA_ALG_EC_TREE)
                m.n = (uint8_t)((alg >> 2) % (STRATA_WIRE_MAX_PARITY + 1));
            m.level = (uint8_t)((alg >> 6) % (STRATA_WIRE_MAX_LEVEL + 1));
            m.substream = (uint8_t)(u8(&r) % (m.k + m.n));
            uint8_t par = u8(&r);
            if (par & 0x80)
                m.parent = ref_of(par);
            if (par & 0x40)
                m.source = ref_of((uint8_t)(par >> 3));
            m.n_children = u8(&r) % 6;
            for (uint8_t i = 0; i < m.n_children; i++)
                m.children[i] = ref_of(u8(&r));
            if (m.algorithm == STRATA_ALG_MESH_TREE)
                m.n_neighbours = (uint8_t)((alg >> 2) % (m.n_children + 1u));
            n = strata_wire_encode_instruction(buf, sizeof buf, &m);
            from = CONTROL;
            break;
        }
        case 4: {
            strata_msg_data m;
            memset(&m, 0, sizeof m);
            m.channel = ch;
            m.seq = seq_base + u16(&r);
            uint8_t sub = u8(&r);
            m.substream =
                (sub & 0x80) ? (uint8_t)(sub % STRATA_WIRE_MAX_SUBSTREAMS) : (uint8_t)(m.seq % k);
            m.flags = u8(&r) & STRATA_DATA_FLAGS_KNOWN;
            uint16_t ts = u16(&r);
            m.send_ts_ns = (ts & 0x8000) ? u64(&r) : now - STRATA_MS(ts & 0x7fff) / 4;
            if (!(m.flags & STRATA_DATA_FLAG_EOS)) {
                uint8_t l = u8(&r);
                m.payload_len = (uint16_t)(l == 255 ? canonical_len(m.seq) : l * 5u);
                m.payload = payload;
            }
            n = strata_wire_encode_data(buf, sizeof buf, &m);
            break;
        }
        case 13: {
            uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES];
            uint8_t mode = u8(&r);
            unsigned i = (unsigned)(mode >> 1) % (STRATA_WIRE_MAX_PARITY + 1);
            strata_msg_data m;
            memset(&m, 0, sizeof m);
            m.channel = ch;
            m.seq = (seq_base + u16(&r)) / k * k;
            m.substream =
                (mode & 0x80) ? (uint8_t)(u8(&r) % STRATA_WIRE_MAX_TREES) : (uint8_t)(k + i);
            m.flags = STRATA_DATA_FLAG_PARITY;
            m.send_ts_ns = now - STRATA_MS(u8(&r));
            int canonical = (mode & 1) && i < STRATA_WIRE_MAX_PARITY;
            int len = canonical ? canonical_symbol(payload, m.seq, k, i, sym, sizeof sym)
                                : 2 + u8(&r) * 5;
            if (len < 2)
                break;
            if (!canonical)
                memset(sym, 0xa5, (size_t)len);
            m.payload = sym;
            m.payload_len = (uint16_t)len;
            n = strata_wire_encode_data(buf, sizeof buf, &m);
            break;
        }
        case 14: {
            uint8_t mode = u8(&r);
            uint8_t count = (uint8_t)(u8(&r) % (STRATA_MANIFEST_MAX_PACKETS + 1));
            uint8_t flags = (mode & 1) ? STRATA_MANIFEST_FLAG_EOS : 0;
            if (count == 0)
                flags = STRATA_MANIFEST_FLAG_EOS;
            uint8_t np = (uint8_t)((mode >> 1) % 3);
            n = canonical_manifest(ch, seq_base + u16(&r), count, flags, k, np, payload,
                                   (mode & 0x80) != 0, buf, sizeof buf, lists, lists_len);
            n_lists = n > 0 ? np : 0;
            break;
        }
        case 15: {
            uint8_t i = u8(&r);
            if (n_lists == 0)
                break;
            i = (uint8_t)(i % n_lists);
            n = lists_len[i];
            memcpy(buf, lists[i], (size_t)n);
            break;
        }
        case 17: {
            /* From one of the addresses op 3's children use (a neighbour
             * of a MESH_TREE instruction, with its node id, or not). */
            uint8_t who = u8(&r);
            strata_msg_mesh_state m;
            memset(&m, 0, sizeof m);
            m.channel = ch;
            m.node = (who & 0x80) ? (strata_node_id){0x400u + who} : ref_of(who).node;
            m.k = (who & 0x40) ? (uint8_t)(1 + u8(&r) % STRATA_WIRE_MAX_SUBSTREAMS) : k;
            m.want = u32(&r) & ((1u << m.k) - 1u);
            m.top = (u8(&r) & 1) ? u64(&r) : seq_base + u16(&r);
            for (unsigned i = 0; i < m.k; i++)
                m.behind[i] = (u8(&r) & 1) ? STRATA_MESH_STATE_BEHIND_NONE : u8(&r);
            from = addr_of(who);
            n = strata_wire_encode_mesh_state(buf, sizeof buf, &m);
            break;
        }
        case 16: {
            strata_msg_manifest_request m = {{0x200u + u8(&r)}, ch, seq_base + u16(&r),
                                             (uint8_t)(u8(&r) % (STRATA_MANIFEST_PART_MAX + 1))};
            n = strata_manifest_encode_request(buf, sizeof buf, &m);
            break;
        }
        case 5: {
            strata_msg_repair m = {{0x200u + u8(&r)}, ch, seq_base + u16(&r), u64(&r)};
            if (m.mask == 0)
                m.mask = 1;
            n = strata_wire_encode_repair(buf, sizeof buf, &m);
            break;
        }
        case 6: {
            strata_msg_probe m = {{0x300u + u8(&r)}, u8(&r), now};
            n = strata_wire_encode_probe(buf, sizeof buf, &m);
            break;
        }
        case 7:
            if (u8(&r) & 1)
                strata_node_leave(node, now);
            break;
        case 8: {
            strata_msg_group_bootstrap_reply m;
            memset(&m, 0, sizeof m);
            m.node = ME;
            m.request_id = (u8(&r) & 1) ? bootstrap_request : u8(&r);
            m.n_leaders = u8(&r) % 4;
            for (uint8_t i = 0; i < m.n_leaders; i++) {
                uint8_t l = u8(&r);
                m.leaders[i] = (strata_group_leader_entry){{0x700u + (l & 3u)}, ref_of(l), 1u + l};
            }
            n = strata_wire_encode_group_bootstrap_reply(buf, sizeof buf, &m);
            from = CONTROL;
            break;
        }
        case 9: {
            /* a valid header of a group type (10..18) and a fuzzed body */
            buf[3] = (uint8_t)(STRATA_MSG_GROUP_QUERY + u8(&r) % 9);
            size_t len = u8(&r) % 96;
            if (len > (size_t)(r.end - r.p))
                len = (size_t)(r.end - r.p);
            buf[0] = 'S';
            buf[1] = 'T';
            buf[2] = STRATA_WIRE_VERSION;
            memcpy(buf + 4, r.p, len);
            r.p += len;
            n = (int)(4 + len);
            break;
        }
        case 10: {
            strata_msg_join m;
            memset(&m, 0, sizeof m);
            m.node.v = 0x400u + (u8(&r) & 15u);
            m.role = u8(&r) & 1;
            m.upload_kbps = (uint32_t)u8(&r) * 100u;
            m.rate_kbps = m.role ? 400 : 0;
            m.name_len = (uint8_t)strlen(name);
            m.name = (const uint8_t *)name;
            n = strata_wire_encode_join(buf, sizeof buf, &m);
            break;
        }
        case 12: {
            strata_msg_recruit m = {ME, (uint8_t)(u8(&r) & 1), (uint8_t)strlen(name),
                                    (const uint8_t *)name};
            n = strata_wire_encode_recruit(buf, sizeof buf, &m);
            from = CONTROL;
            break;
        }
        default: {
            strata_msg_heartbeat m;
            memset(&m, 0, sizeof m);
            m.node.v = 0x400u + (u8(&r) & 15u);
            m.channel = ch;
            m.dcm.v = u8(&r) & 3u;
            m.hb_seq = u8(&r);
            m.local_ts_ns = now;
            m.instr_epoch = u8(&r);
            m.upload_kbps = 1000;
            m.n_parents = (uint8_t)(u8(&r) % 5);
            for (uint8_t i = 0; i < m.n_parents; i++) {
                m.parents[i].parent.v = 0x400u + (u8(&r) & 15u);
                m.parents[i].last_rx_seq = u16(&r);
            }
            n = strata_wire_encode_heartbeat(buf, sizeof buf, &m);
            break;
        }
        }
        if (n > 0) {
            maybe_corrupt(&r, buf, n);
            strata_rx rx = {from, -1};
            strata_node_handle_datagram(node, &rx, buf, (size_t)n, now);
        }
        check_outbox(node, &bootstrap_request);
    }
    /* Let every timer run out a little, then tear down. */
    for (int i = 0; i < 64; i++) {
        uint64_t due = strata_node_next_timeout(node);
        if (due == STRATA_NEVER || due > now + STRATA_S(30))
            break;
        if (due > now)
            now = due;
        strata_node_handle_timeout(node, now);
        check_outbox(node, &bootstrap_request);
    }
    strata_node_del(node);
    return 0;
}
