/*
 * Drives a whole control center with fuzzed input: raw datagrams, and
 * well-formed JOIN, HEARTBEAT, LEAVE and PROBE messages built from a small
 * space of node ids, channels and regions (so that the fuzzer reaches deep
 * states: trees, deaths, stalls, rejoins, moves), mutated copies of those,
 * and time steps. Everything the control sends must decode with our own
 * codec, its status must stay consistent, and nothing may crash or leak.
 *
 * Input: a sequence of operations, each an opcode byte and its arguments;
 * a short read ends the run.
 */
#include "strata/control.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader;

static int take(reader *r, void *out, size_t n)
{
    if (r->left < n)
        return 0;
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return 1;
}

static int take_u8(reader *r, uint8_t *v)
{
    return take(r, v, 1);
}

static int take_u16(reader *r, uint16_t *v)
{
    uint8_t b[2];
    if (!take(r, b, 2))
        return 0;
    *v = (uint16_t)(b[0] << 8 | b[1]);
    return 1;
}

static const char *const channels[] = {"news", "sport", "film"};
static const char *const labels[] = {"", "eu", "us", "asia", "10.0.0.0/24"};

static strata_addr addr_for(uint8_t sel)
{
    /* A few /24s so prefix regions split, and ports so addresses move. */
    return (strata_addr){0x0a000000u | (uint32_t)(sel % 4) << 8 | (uint32_t)(sel % 32),
                         (uint16_t)(1000 + sel % 3)};
}

/* Node ids that announced themselves as a source in a JOIN the control
 * was given (built, mutated or raw), for the check in drain. The run is
 * short, so a small table does; once full, the check is off. */
enum { MAX_SOURCES = 64 };
typedef struct sources_seen {
    uint64_t id[MAX_SOURCES];
    size_t n;
    int overflow;
} sources_seen;

static void note_source_join(sources_seen *ss, const uint8_t *buf, size_t len)
{
    strata_msg_join j;
    if (strata_wire_decode_join(buf, len, &j) < 0 || j.role != STRATA_ROLE_SOURCE)
        return;
    for (size_t i = 0; i < ss->n; i++)
        if (ss->id[i] == j.node.v)
            return;
    if (ss->n == MAX_SOURCES)
        ss->overflow = 1;
    else
        ss->id[ss->n++] = j.node.v;
}

static int source_seen(const sources_seen *ss, uint64_t id)
{
    for (size_t i = 0; i < ss->n; i++)
        if (ss->id[i] == id)
            return 1;
    return ss->overflow;
}

/* Decodes everything the control sent; a message our own decoder rejects
 * is a bug, and so is an instruction whose source ref (protocol.md 3.4)
 * names a node that never joined as a source. */
static void drain(strata_control *c, const sources_seen *ss)
{
    strata_datagram dg;
    static strata_msg_instruction in;
    while (strata_outbox_pop(strata_control_outbox(c), &dg)) {
        const uint8_t *b = dg.buf->data;
        size_t n = dg.buf->len;
        int type = strata_wire_peek_type(b, n);
        int rc = -1;
        if (type == STRATA_MSG_JOIN_REPLY) {
            strata_msg_join_reply r;
            rc = strata_wire_decode_join_reply(b, n, &r);
        } else if (type == STRATA_MSG_INSTRUCTION) {
            rc = strata_wire_decode_instruction(b, n, &in);
            if (rc > 0 && in.source.node.v != 0 && !source_seen(ss, in.source.node.v))
                abort();
        } else if (type == STRATA_MSG_PROBE_REPLY) {
            strata_msg_probe_reply r;
            rc = strata_wire_decode_probe_reply(b, n, &r);
        } else if (type == STRATA_MSG_RECRUIT) {
            strata_msg_recruit r;
            rc = strata_wire_decode_recruit(b, n, &r);
        }
        if (rc < 0 || (size_t)rc != n)
            abort();
        strata_buf_unref(dg.buf);
    }
}

static int build_join(reader *r, uint8_t *buf, size_t cap, strata_addr *from)
{
    uint8_t id, flags, up, sel;
    if (!take_u8(r, &id) || !take_u8(r, &flags) || !take_u8(r, &up) || !take_u8(r, &sel))
        return -1;
    strata_msg_join j;
    memset(&j, 0, sizeof j);
    j.node.v = (uint64_t)(id % 40) + 1;
    j.role = (flags & 1) ? STRATA_ROLE_SOURCE : STRATA_ROLE_PEER;
    j.upload_kbps = (uint32_t)up * 100;
    j.rate_kbps = j.role == STRATA_ROLE_SOURCE ? 500u + (uint32_t)(flags >> 4) * 250u : 0;
    const char *ch = channels[(flags >> 1) % 3];
    const char *label = labels[(flags >> 3) % 5];
    j.name = (const uint8_t *)ch;
    j.name_len = (uint8_t)strlen(ch);
    j.region = (const uint8_t *)label;
    j.region_len = (uint8_t)strlen(label);
    *from = addr_for(sel);
    return strata_wire_encode_join(buf, cap, &j);
}

static int build_heartbeat(reader *r, uint8_t *buf, size_t cap, strata_addr *from)
{
    static strata_msg_heartbeat hb;
    uint8_t id, chsel, epoch, np, nc, sel, dcm;
    if (!take_u8(r, &id) || !take_u8(r, &chsel) || !take_u8(r, &epoch) || !take_u8(r, &np) ||
        !take_u8(r, &nc) || !take_u8(r, &sel) || !take_u8(r, &dcm))
        return -1;
    memset(&hb, 0, sizeof hb);
    hb.node.v = (uint64_t)(id % 40) + 1;
    const char *ch = channels[chsel % 3];
    hb.channel = strata_channel_id_from_name(ch, strlen(ch));
    hb.dcm.v = dcm % 8;
    hb.instr_epoch = epoch;
    hb.n_parents = (uint8_t)(np % (STRATA_WIRE_MAX_SUBSTREAMS + 1));
    hb.n_children = (uint8_t)(nc % 4);
    for (uint8_t i = 0; i < hb.n_parents; i++) {
        uint8_t pid;
        uint16_t seq;
        if (!take_u8(r, &pid) || !take_u16(r, &seq))
            return -1;
        hb.parents[i].parent.v = pid % 42; /* 0 (none), node ids, and one unknown */
        hb.parents[i].last_rx_seq = seq;
    }
    for (uint8_t i = 0; i < hb.n_children; i++) {
        uint16_t seq;
        if (!take_u16(r, &seq))
            return -1;
        hb.children[i].child.v = (uint64_t)i + 1;
        hb.children[i].substream = 0;
        hb.children[i].last_tx_seq = seq;
        hb.played_packets += seq;
    }
    hb.tx_data_bytes = (uint64_t)epoch * 1000;
    *from = addr_for(sel);
    return strata_wire_encode_heartbeat(buf, cap, &hb);
}

static int build_leave(reader *r, uint8_t *buf, size_t cap, strata_addr *from)
{
    uint8_t id, chsel, sel;
    if (!take_u8(r, &id) || !take_u8(r, &chsel) || !take_u8(r, &sel))
        return -1;
    const char *ch = channels[chsel % 3];
    strata_msg_leave m = {
        {(uint64_t)(id % 40) + 1}, strata_channel_id_from_name(ch, strlen(ch)), {chsel % 5}};
    *from = addr_for(sel);
    return strata_wire_encode_leave(buf, cap, &m);
}

static void check_status(const strata_control *c)
{
    strata_control_status st;
    strata_control_get_status(c, &st);
    if (st.nodes != st.peers + st.sources || st.sources > st.channels ||
        (st.peers == 0 && st.dcms != 0) || st.dcms > st.peers + st.channels /* backbones */ ||
        st.channels > st.nodes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    uint8_t cfgb[3];
    if (!take(&r, cfgb, sizeof cfgb))
        return 0;
    strata_control_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.k = (uint8_t)(cfgb[0] % 5); /* 0 = default */
    cfg.heartbeat_ms = 100u + (uint32_t)cfgb[1] * 10u;
    cfg.region_mode = cfgb[2] & 1;
    cfg.prefix_bits = (uint8_t)((cfgb[2] >> 1) % 33);
    cfg.max_nodes = (cfgb[2] & 0x80) ? 20 : 0;
    cfg.seed = cfgb[0];
    uint64_t now = STRATA_S(5);
    sources_seen ss;
    memset(&ss, 0, sizeof ss);
    strata_control *c = strata_control_new(&cfg, NULL, now);
    if (!c)
        return 0;

    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES + 64];
    int ops = 0;
    uint8_t op;
    while (ops++ < 2000 && take_u8(&r, &op)) {
        strata_addr from = {0, 0};
        int len = -1;
        switch (op % 8) {
        case 0: { /* time step */
            uint16_t ms;
            if (!take_u16(&r, &ms))
                goto done;
            now += STRATA_MS(ms);
            if (strata_control_next_timeout(c) <= now)
                strata_control_handle_timeout(c, now);
            break;
        }
        case 1: { /* raw datagram */
            uint8_t sel, n8;
            if (!take_u8(&r, &sel) || !take_u8(&r, &n8))
                goto done;
            size_t n = n8 == 255 ? sizeof buf : n8;
            if (n > r.left)
                n = r.left;
            memcpy(buf, r.p, n);
            r.p += n;
            r.left -= n;
            note_source_join(&ss, buf, n);
            strata_control_handle_datagram(c, addr_for(sel), buf, n, now);
            break;
        }
        case 2:
            len = build_join(&r, buf, sizeof buf, &from);
            break;
        case 3:
        case 4:
            len = build_heartbeat(&r, buf, sizeof buf, &from);
            break;
        case 5:
            len = build_leave(&r, buf, sizeof buf, &from);
            break;
        case 6: { /* probe */
            uint8_t id, sel;
            if (!take_u8(&r, &id) || !take_u8(&r, &sel))
                goto done;
            strata_msg_probe p = {{(uint64_t)id + 1}, id, now};
            from = addr_for(sel);
            len = strata_wire_encode_probe(buf, sizeof buf, &p);
            break;
        }
        case 7: { /* a mutated JOIN: one byte changed, or cut short */
            uint8_t pos, val;
            len = build_join(&r, buf, sizeof buf, &from);
            if (len <= 0 || !take_u8(&r, &pos) || !take_u8(&r, &val))
                goto done;
            if (val & 1)
                buf[pos % len] = val;
            else
                len = pos % len;
            break;
        }
        }
        if (op % 8 >= 2) {
            if (len < 0)
                goto done;
            note_source_join(&ss, buf, (size_t)len);
            strata_control_handle_datagram(c, from, buf, (size_t)len, now);
        }
        drain(c, &ss);
        check_status(c);
    }
done:
    drain(c, &ss);
    check_status(c);
    /* Let everyone die: the tables must empty out completely. */
    now += STRATA_S(3600);
    strata_control_handle_timeout(c, now);
    drain(c, &ss);
    strata_control_status st;
    strata_control_get_status(c, &st);
    if (st.nodes != 0 || st.dcms != 0 || st.channels != 0)
        abort();
    strata_control_del(c);
    return 0;
}
