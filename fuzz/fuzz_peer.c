/*
 * libFuzzer target driving a whole peer (core/peer.c with its playout
 * buffer, packet store and repair) with fuzzed datagrams and time steps.
 *
 * The input is a small program. Its first byte picks the configuration;
 * then each step starts with an opcode byte:
 *   0  advance time by a fuzzed amount and run every due deadline
 *   1  a raw datagram of fuzzed bytes
 *   2  JOIN_REPLY     3  INSTRUCTION    4  DATA    5  REPAIR_REQUEST
 *   6  PROBE          7  leave (when the next byte is odd)
 * Structured messages are built from fuzzed fields around plausible
 * values (so the peer gets past the header checks and deep into its
 * states) and are then optionally corrupted at one fuzzed offset.
 *
 * After every step the outbox is drained and every queued datagram must
 * decode with the decoder of its own type: the peer never sends what a
 * receiver would drop. The peer must never crash, trip a sanitizer, or
 * leak (checked by LeakSanitizer at exit of each run).
 */
#include "strata/peer.h"
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static int more(const prog *r)
{
    return r->p < r->end;
}

static uint8_t u8(prog *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

static uint16_t u16(prog *r)
{
    uint16_t hi = u8(r);
    return (uint16_t)(hi << 8 | u8(r));
}

static uint64_t u64(prog *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u8(r);
    return v;
}

static const strata_node_id ME = {0xfeed};
static const strata_addr CONTROL = {0x7f000001, 7000};

static strata_addr addr_of(uint8_t i)
{
    return (strata_addr){0x0a000000u + (i & 7u), 7000};
}
static strata_peer_ref ref_of(uint8_t i)
{
    return (strata_peer_ref){{0x100u + (i & 7u)}, addr_of(i)};
}

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    /* touch every byte so ASan sees a bad payload range */
    uint64_t *sum = user;
    for (size_t i = 0; i < len; i++)
        *sum += buf[i];
}

static void on_end(void *user)
{
    (void)user;
}

/* Every datagram the peer queues must decode as its own type. */
static void check_outbox(strata_peer *p)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_peer_outbox(p), &d)) {
        const uint8_t *b = d.buf->data;
        size_t n = d.buf->len;
        int rc;
        switch (strata_wire_peek_type(b, n)) {
        case STRATA_MSG_DATA: {
            strata_msg_data m;
            rc = strata_wire_decode_data(b, n, &m);
            break;
        }
        case STRATA_MSG_HEARTBEAT: {
            strata_msg_heartbeat m;
            rc = strata_wire_decode_heartbeat(b, n, &m);
            break;
        }
        case STRATA_MSG_JOIN: {
            strata_msg_join m;
            rc = strata_wire_decode_join(b, n, &m);
            break;
        }
        case STRATA_MSG_PROBE_REPLY: {
            strata_msg_probe_reply m;
            rc = strata_wire_decode_probe_reply(b, n, &m);
            break;
        }
        case STRATA_MSG_LEAVE: {
            strata_msg_leave m;
            rc = strata_wire_decode_leave(b, n, &m);
            break;
        }
        case STRATA_MSG_REPAIR_REQUEST: {
            strata_msg_repair m;
            rc = strata_wire_decode_repair(b, n, &m);
            break;
        }
        default:
            rc = -1;
            break; /* a peer sends nothing else */
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
    uint8_t conf = u8(&r);
    strata_peer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ME;
    cfg.channel = "fz";
    cfg.control = CONTROL;
    cfg.upload_kbps = 1000;
    cfg.region = (conf & 1) ? "eu" : NULL;
    cfg.store_packets = (conf & 2) ? 64 : 512;
    cfg.playout_delay_ms = (conf & 4) ? 200 : 0;
    cfg.repair_after_ms = (conf & 8) ? 5 : 0;
    cfg.seed = conf;
    uint64_t sum = 0;
    strata_peer_callbacks cb = {on_play, on_end, &sum};
    uint64_t now = (conf & 16) ? UINT64_MAX - STRATA_S(100000) : STRATA_S(1);
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, now);
    if (!p)
        return 0;
    strata_channel_id ch = strata_channel_id_from_name("fz", 2);
    uint64_t seq_base = (conf & 32) ? 1000000 : 0;
    uint8_t k = 4;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    uint8_t payload[STRATA_WIRE_MAX_PAYLOAD_BYTES];
    memset(payload, 0xa5, sizeof payload);

    for (int steps = 0; more(&r) && steps < 4096; steps++) {
        uint8_t op = u8(&r) % 8;
        int n = -1;
        strata_addr from = addr_of(u8(&r));
        switch (op) {
        case 0: {
            uint64_t step = (uint64_t)u16(&r) * STRATA_MS(1) / 8;
            now = now > UINT64_MAX - step ? UINT64_MAX : now + step;
            uint64_t due = strata_peer_next_timeout(p);
            if (due <= now)
                strata_peer_handle_timeout(p, now);
            break;
        }
        case 1: {
            size_t len = u8(&r);
            if (len > (size_t)(r.end - r.p))
                len = (size_t)(r.end - r.p);
            strata_peer_handle_datagram(p, from, r.p, len, now);
            r.p += len;
            break;
        }
        case 2: {
            strata_msg_join_reply m;
            memset(&m, 0, sizeof m);
            m.node = (u8(&r) & 1) ? ME : (strata_node_id){5};
            m.channel = ch;
            m.status = u8(&r) % 3;
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
            m.substream = (uint8_t)(u8(&r) % m.k);
            m.algorithm = STRATA_ALG_TREE;
            /* One byte names both the parent and the source, so that the
             * program layout (and the corpus) stays as it was before the
             * source field: bit 7 a parent (bits 0-2), bit 6 a source
             * (bits 3-5). */
            uint8_t par = u8(&r);
            if (par & 0x80)
                m.parent = ref_of(par);
            if (par & 0x40)
                m.source = ref_of((uint8_t)(par >> 3));
            m.n_children = u8(&r) % 6;
            for (uint8_t i = 0; i < m.n_children; i++)
                m.children[i] = ref_of(u8(&r));
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
                m.payload_len = (uint16_t)(u8(&r) * 5);
                m.payload = payload;
            }
            n = strata_wire_encode_data(buf, sizeof buf, &m);
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
        default:
            if (u8(&r) & 1)
                strata_peer_leave(p, now);
            break;
        }
        if (n > 0) {
            maybe_corrupt(&r, buf, n);
            strata_peer_handle_datagram(p, from, buf, (size_t)n, now);
        }
        check_outbox(p);
        strata_peer_stats st;
        strata_peer_get_stats(p, &st);
        if (st.state < STRATA_PEER_JOINING || st.state > STRATA_PEER_LEFT)
            abort();
    }
    /* Let every timer run out a little, then tear down. */
    for (int i = 0; i < 64; i++) {
        uint64_t due = strata_peer_next_timeout(p);
        if (due == STRATA_NEVER || due > now + STRATA_S(30))
            break;
        if (due > now)
            now = due;
        strata_peer_handle_timeout(p, now);
        check_outbox(p);
    }
    strata_peer_del(p);
    return 0;
}
