/*
 * Source tests (core/source.c): join, packetising, sending to the roots of
 * every DCM without duplicates, EOS, repairs, heartbeats, bad
 * input and allocation failure. The test plays the control center.
 */
#include "testutil.h"
#include "outbox_capture.h"

#include "strata/source.h"
#include "strata/wire.h"

#include <sodium.h>

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x0a000001, 7000};
static const strata_node_id ME = {0x50c};

static strata_addr addr_of(uint32_t n)
{
    return (strata_addr){0x0a000100u + n, 7000};
}
static strata_node_id id_of(uint32_t n)
{
    return (strata_node_id){0x1000u + n};
}
static strata_peer_ref ref_of(uint32_t n)
{
    return (strata_peer_ref){id_of(n), addr_of(n)};
}
static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("live", 4);
}

/* Moves the outbox into s (after clearing s). */
static void drain(strata_source *src, sent_list *s)
{
    capture_outbox(strata_source_outbox(src), s);
}

static int feed(strata_source *s, strata_addr from, const uint8_t *buf, int len, uint64_t now)
{
    CHECK(len > 0);
    if (len <= 0)
        return -1000;
    return strata_source_handle_datagram(s, from, buf, (size_t)len, now);
}

static int feed_reply(strata_source *s, uint8_t status, uint8_t k, uint64_t now)
{
    strata_msg_join_reply r = {ME, chan(), status, {1}, k, 800, 1000, 0};
    uint8_t b[128];
    return feed(s, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r), now);
}

static int feed_instr(strata_source *s, uint32_t dcm, uint32_t epoch, uint8_t k, uint8_t sub,
                      const uint32_t *kids, uint8_t nkids, uint64_t now)
{
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.dcm.v = dcm;
    m.channel = chan();
    m.node = ME;
    m.epoch = epoch;
    m.k = k;
    m.substream = sub;
    m.algorithm = STRATA_ALG_TREE;
    m.source = (strata_peer_ref){ME, {0x0a000200u, 7000}}; /* a DCM names the source itself */
    m.n_children = nkids;
    for (uint8_t i = 0; i < nkids; i++)
        m.children[i] = ref_of(kids[i]);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return feed(s, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), now);
}

static strata_source_config base_cfg(void)
{
    strata_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ME;
    cfg.channel = "live";
    cfg.control = CONTROL;
    cfg.rate_kbps = 800;
    cfg.upload_kbps = 5000;
    cfg.payload_bytes = 1000;
    cfg.seed = 7;
    return cfg;
}

/* Collects the DATA datagrams in out: seq of each and the destinations. */
static int has_data_to(const sent_list *out, uint64_t seq, strata_addr to, strata_buf **buf)
{
    for (size_t i = 0; i < out->n; i++) {
        if (out->items[i].type != STRATA_MSG_DATA)
            continue;
        strata_msg_data m;
        if (strata_wire_decode_data(out->items[i].buf->data, out->items[i].buf->len, &m) < 0)
            continue;
        if (m.seq == seq && strata_addr_eq(out->items[i].to, to)) {
            if (buf)
                *buf = out->items[i].buf;
            return 1;
        }
    }
    return 0;
}

static void test_join_and_send(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, MS(10));
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_EQ_U64(strata_source_next_timeout(s), MS(10));
    strata_source_handle_timeout(s, MS(10));
    drain(s, out);
    CHECK_EQ_U64(out->n, 1);
    if (out->n) {
        strata_msg_join j;
        CHECK(strata_wire_decode_join(out->items[0].buf->data, out->items[0].buf->len, &j) > 0);
        CHECK(strata_addr_eq(out->items[0].to, CONTROL));
        CHECK_EQ_U64(j.node.v, ME.v);
        CHECK_EQ_INT(j.role, STRATA_ROLE_SOURCE);
        CHECK_EQ_INT(j.rate_kbps, 800);
        CHECK_EQ_INT(j.upload_kbps, 5000);
        CHECK_EQ_MEM(j.name, "live", 4);
    }
    CHECK_EQ_U64(strata_source_next_timeout(s), MS(510));
    strata_source_handle_timeout(s, MS(510));
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);

    /* not ready: input is refused */
    uint8_t input[5000];
    for (size_t i = 0; i < sizeof input; i++)
        input[i] = (uint8_t)(i * 7 + 3);
    CHECK(!strata_source_ready(s));
    CHECK_EQ_INT(strata_source_push(s, input, 10, MS(600)), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_source_finish(s, MS(600)), STRATA_ERR_INVAL);

    /* instructions may come before the reply */
    uint32_t d1s0[] = {1, 2}, d1s1[] = {3}, d2s0[] = {2, 4};
    CHECK_EQ_INT(feed_instr(s, 1, 5, 2, 0, d1s0, 2, MS(600)), 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_REFUSED, 2, MS(601)), 0);
    CHECK(!strata_source_ready(s));
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, MS(602)), 0);
    CHECK(strata_source_ready(s));
    CHECK_EQ_INT(feed_instr(s, 1, 5, 2, 1, d1s1, 1, MS(603)), 0);
    CHECK_EQ_INT(feed_instr(s, 2, 6, 2, 0, d2s0, 2, MS(603)), 0);
    strata_source_stats st;
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.roots, 4);
    CHECK(st.joined);

    /* 2500 bytes: two packets now, 500 bytes wait */
    CHECK_EQ_INT(strata_source_push(s, input, 2500, MS(700)), 0);
    drain(s, out);
    /* seq 0 (substream 0): 1, 2, 4 once each; seq 1 (substream 1): 3 */
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 4);
    strata_buf *b1 = NULL, *b2 = NULL, *b4 = NULL;
    CHECK(has_data_to(out, 0, addr_of(1), &b1));
    CHECK(has_data_to(out, 0, addr_of(2), &b2));
    CHECK(has_data_to(out, 0, addr_of(4), &b4));
    CHECK(has_data_to(out, 1, addr_of(3), NULL));
    CHECK(b1 == b2 && b2 == b4); /* one buffer for every root */
    if (b1) {
        strata_msg_data m;
        CHECK(strata_wire_decode_data(b1->data, b1->len, &m) > 0);
        CHECK_EQ_U64(m.channel.v, chan().v);
        CHECK_EQ_INT(m.substream, 0);
        CHECK_EQ_INT(m.flags, 0);
        CHECK_EQ_U64(m.send_ts_ns, MS(700));
        CHECK_EQ_INT(m.payload_len, 1000);
        CHECK_EQ_MEM(m.payload, input, 1000);
    }
    /* 1000 more bytes complete seq 2; the 500 left become seq 3 on finish */
    CHECK_EQ_INT(strata_source_push(s, input + 2500, 1000, MS(800)), 0);
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 3); /* seq 2 to 1, 2, 4 */
    CHECK_EQ_INT(strata_source_finish(s, MS(900)), 0);
    drain(s, out);
    /* seq 3 (500 bytes, substream 1) to 3; EOS seq 4 (substream 0) to 1, 2, 4 */
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 4);
    strata_buf *p3 = NULL, *eos = NULL;
    CHECK(has_data_to(out, 3, addr_of(3), &p3));
    CHECK(has_data_to(out, 4, addr_of(4), &eos));
    if (p3) {
        strata_msg_data m;
        strata_wire_decode_data(p3->data, p3->len, &m);
        CHECK_EQ_INT(m.payload_len, 500);
        CHECK_EQ_MEM(m.payload, input + 3000, 500);
    }
    if (eos) {
        strata_msg_data m;
        strata_wire_decode_data(eos->data, eos->len, &m);
        CHECK_EQ_INT(m.flags, STRATA_DATA_FLAG_EOS);
        CHECK_EQ_INT(m.payload_len, 0);
    }
    CHECK_EQ_INT(strata_source_push(s, input, 1, MS(901)), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_source_finish(s, MS(901)), 0);
    drain(s, out);
    CHECK_EQ_U64(out->n, 0);
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.next_seq, 5);
    CHECK_EQ_U64(st.packets_sent, 5);
    CHECK_EQ_U64(st.bytes_in, 3500);
    CHECK_EQ_U64(st.tx_data_packets, 11);

    /* repairs come from the store, flagged */
    strata_msg_repair req = {id_of(9), chan(), 1, 0x5}; /* 1 and 3 */
    uint8_t b[64];
    CHECK_EQ_INT(feed(s, addr_of(9), b, strata_wire_encode_repair(b, sizeof b, &req), MS(950)), 0);
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 2);
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_data m;
        strata_wire_decode_data(out->items[i].buf->data, out->items[i].buf->len, &m);
        CHECK(strata_addr_eq(out->items[i].to, addr_of(9)));
        CHECK_EQ_INT(m.flags, STRATA_DATA_FLAG_REPAIR);
        CHECK_EQ_U64(m.seq, 1 + 2 * i);
    }

    /* heartbeat: dcm 0, no parents, the roots with their last seq */
    CHECK_EQ_U64(strata_source_next_timeout(s), MS(1602));
    strata_source_handle_timeout(s, MS(1602));
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 1);
    if (out->n) {
        strata_msg_heartbeat hb;
        CHECK(strata_wire_decode_heartbeat(out->items[0].buf->data, out->items[0].buf->len, &hb) >
              0);
        CHECK(strata_addr_eq(out->items[0].to, CONTROL));
        CHECK_EQ_U64(hb.node.v, ME.v);
        CHECK_EQ_INT(hb.dcm.v, 0);
        CHECK_EQ_INT(hb.hb_seq, 1);
        CHECK_EQ_INT(hb.instr_epoch, 6);
        CHECK_EQ_INT(hb.n_parents, 0);
        CHECK_EQ_INT(hb.n_children, 4);
        strata_source_get_stats(s, &st);
        CHECK_EQ_U64(hb.tx_data_bytes, st.tx_data_bytes);
        for (size_t i = 0; i < hb.n_children; i++) {
            const strata_hb_child *c = &hb.children[i];
            if (c->child.v == id_of(3).v) {
                CHECK_EQ_INT(c->substream, 1);
                CHECK_EQ_U64(c->last_tx_seq, 3);
            } else {
                CHECK_EQ_INT(c->substream, 0);
                CHECK_EQ_U64(c->last_tx_seq, 4);
                CHECK_EQ_U64(c->last_tx_ts_ns, MS(900));
            }
        }
    }

    /* an older epoch for (dcm 2, substream 0) is ignored; a newer one
     * drops child 4 */
    uint32_t only5[] = {5};
    CHECK_EQ_INT(feed_instr(s, 2, 4, 2, 0, only5, 1, MS(1700)), 0);
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.roots, 4);
    uint32_t none[] = {0};
    CHECK_EQ_INT(feed_instr(s, 2, 9, 2, 0, none, 0, MS(1700)), 0);
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.roots, 3);

    /* PROBE is the node's to answer (test_node), not the channel's */
    strata_msg_probe pr = {id_of(8), 77, 123};
    CHECK_EQ_INT(feed(s, addr_of(8), b, strata_wire_encode_probe(b, sizeof b, &pr), MS(1800)),
                 STRATA_ERR_UNEXPECTED);
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_PROBE_REPLY), 0);

    /* bad input is counted */
    uint8_t junk[4] = {'S', 'T', 9, 1};
    CHECK_EQ_INT(strata_source_handle_datagram(s, addr_of(8), junk, 4, MS(1900)),
                 STRATA_ERR_VERSION);
    req.channel.v = 5;
    CHECK_EQ_INT(feed(s, addr_of(9), b, strata_wire_encode_repair(b, sizeof b, &req), MS(1900)),
                 STRATA_ERR_UNEXPECTED);
    strata_msg_data d;
    memset(&d, 0, sizeof d);
    d.channel = chan();
    uint8_t db[64];
    CHECK_EQ_INT(feed(s, addr_of(9), db, strata_wire_encode_data(db, sizeof db, &d), MS(1900)),
                 STRATA_ERR_UNEXPECTED);
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.drops.total, 4);

    strata_source_leave(s, MS(2000));
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_LEAVE), 1);
    CHECK_EQ_U64(strata_source_next_timeout(s), STRATA_NEVER);
    CHECK(!strata_source_ready(s));
    sent_clear(out);
    strata_source_del(s);
}

/* A source with more root links than a heartbeat holds (room for
 * strata_wire_hb_max_children(0) = 55) reports each of them within
 * ceil(links / 55) heartbeats, every window of that many in a row. Two
 * DCMs, k = 2; a child named by both DCMs in a substream is one link. */
static void test_heartbeat_round_robin(sent_list *out)
{
    static const struct {
        uint8_t per_dcm[2][2]; /* children of [dcm][substream] */
        uint8_t shared;        /* children of substream 0 named by both DCMs */
    } cases[] = {
        {{{40, 40}, {40, 40}}, 0},  /* 160 links: 3 heartbeats */
        {{{64, 64}, {64, 64}}, 10}, /* 246 links: 5 heartbeats */
        {{{30, 26}, {0, 0}}, 0},    /* 56 links: 2 heartbeats */
        {{{30, 25}, {0, 0}}, 0},    /* exactly full */
        {{{3, 0}, {2, 1}}, 2},      /* 4 links */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        strata_source_config cfg = base_cfg();
        strata_source *s = strata_source_new(&cfg, NULL, 0);
        CHECK(s != NULL);
        if (!s)
            return;
        strata_source_handle_timeout(s, 0);
        feed_reply(s, STRATA_JOIN_OK, 2, 0);
        /* child ids: 1000 + 1000 * dcm + 100 * substream + j, except the
         * first `shared` of substream 0 in DCM 2, which repeat DCM 1's */
        static uint8_t want[2][4000];
        memset(want, 0, sizeof want);
        size_t links = 0;
        for (uint32_t d = 0; d < 2; d++) {
            for (uint8_t sub = 0; sub < 2; sub++) {
                uint32_t kids[STRATA_WIRE_MAX_CHILDREN];
                uint8_t n = cases[ci].per_dcm[d][sub];
                for (uint32_t j = 0; j < n; j++) {
                    int shared = d == 1 && sub == 0 && j < cases[ci].shared;
                    kids[j] = 1000 + (shared ? 0 : 1000 * d) + 100u * sub + j;
                    links += want[sub][kids[j]] ? 0u : 1u;
                    want[sub][kids[j]] = 1;
                }
                feed_instr(s, 1 + d, 1, 2, sub, kids, n, 0);
            }
        }
        drain(s, out); /* the first JOIN */
        size_t room = strata_wire_hb_max_children(0);
        size_t per_hb = links < room ? links : room;
        size_t rounds = (links + room - 1) / room;
        static size_t seen[2][4000]; /* heartbeat that last reported a link */
        memset(seen, 0, sizeof seen);
        int failures_before = test_failures;
        for (size_t h = 1; h <= 3 * rounds + 2; h++) {
            strata_source_handle_timeout(s, MS(1000 * h));
            drain(s, out);
            CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 1);
            if (out->n != 1)
                break;
            strata_msg_heartbeat hb;
            CHECK(strata_wire_decode_heartbeat(out->items[0].buf->data, out->items[0].buf->len,
                                               &hb) > 0);
            CHECK_EQ_INT(hb.n_children, (long long)per_hb);
            for (size_t i = 0; i < hb.n_children; i++) {
                unsigned sub = hb.children[i].substream;
                uint64_t c = hb.children[i].child.v - id_of(0).v;
                CHECK(sub < 2 && c < 4000 && want[sub < 2 ? sub : 0][c < 4000 ? c : 0]);
                if (sub >= 2 || c >= 4000)
                    continue;
                CHECK(seen[sub][c] != h); /* once per heartbeat */
                seen[sub][c] = h;
            }
            if (h < rounds)
                continue;
            for (unsigned sub = 0; sub < 2; sub++)
                for (size_t c = 0; c < 4000; c++)
                    CHECK(!want[sub][c] || seen[sub][c] + rounds > h);
        }
        if (test_failures != failures_before)
            fprintf(stderr, "  round robin case %zu: %zu links, room %zu\n", ci, links, room);
        sent_clear(out);
        strata_source_del(s);
    }
}

/* A source with a slow uplink answers repairs up to 25% of it (a bucket of
 * at least 4 full datagrams) and counts the requests it refused; one of
 * upload 0 has a budget too (4 datagrams a second: pktstore.h); a fast one
 * answers everything. */
static void test_repair_budget(sent_list *out)
{
    static const struct {
        uint32_t upload_kbps;
        int want_refused;
    } cases[] = {{40, 1}, {0, 1}, {100000, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        strata_source_config cfg = base_cfg();
        cfg.upload_kbps = cases[c].upload_kbps;
        strata_source *s = strata_source_new(&cfg, NULL, 0);
        CHECK(s != NULL);
        if (!s)
            continue;
        strata_source_handle_timeout(s, 0);
        CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, MS(1)), 0);
        uint8_t input[20 * 1000];
        memset(input, 0x47, sizeof input);
        CHECK_EQ_INT(strata_source_push(s, input, sizeof input, MS(2)), 0);
        drain(s, out);
        sent_clear(out);
        strata_msg_repair req = {id_of(9), chan(), 0, (1ull << 20) - 1}; /* 0..19 */
        uint8_t b[64];
        CHECK_EQ_INT(feed(s, addr_of(9), b, strata_wire_encode_repair(b, sizeof b, &req), MS(3)),
                     0);
        drain(s, out);
        size_t bytes = 0;
        for (size_t i = 0; i < out->n; i++)
            bytes += out->items[i].buf->len;
        strata_source_stats st;
        strata_source_get_stats(s, &st);
        CHECK_EQ_U64(st.repair_requests_served, 1);
        CHECK_EQ_U64(st.repair_requests_refused, (uint64_t)cases[c].want_refused);
        if (cases[c].want_refused)
            CHECK(bytes <= 4 * STRATA_WIRE_MAX_DATAGRAM_BYTES);
        else
            CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 20);
        sent_clear(out);
        strata_source_del(s);
    }
}

/* A restarted control center does not know the source: it answers a
 * heartbeat with UNKNOWN, and the source joins again at once while its
 * packets go on to the roots it was told (protocol.md 3.3). */
static void test_rejoin_after_unknown(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, MS(1)), 0);
    uint32_t kids[] = {5};
    CHECK_EQ_INT(feed_instr(s, 1, 1, 2, 0, kids, 1, MS(2)), 0);
    CHECK_EQ_INT(feed_instr(s, 1, 1, 2, 1, kids, 1, MS(2)), 0);
    drain(s, out);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_UNKNOWN, 2, MS(600)), 0);
    CHECK_EQ_U64(strata_source_next_timeout(s), MS(600));
    strata_source_handle_timeout(s, MS(600));
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);
    uint8_t payload[1000] = {0};
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(610)), 0);
    drain(s, out);
    CHECK(has_data_to(out, 0, addr_of(5), NULL));
    /* unanswered, the JOIN is retried; the new reply ends it */
    strata_source_handle_timeout(s, MS(1100));
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, MS(1150)), 0);
    strata_source_handle_timeout(s, MS(2150)); /* the reply's 1 s heartbeat */
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 0);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 1);
    strata_source_del(s);
    sent_clear(out);
}

/* More DCMs than the old fixed table (256) instruct the source: each one's
 * root gets the stream. A DCM that leaves the source no child is
 * dropped, and an older instruction of it arriving late is stale. */
static void test_many_dcms(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 1, MS(1)), 0);
    enum { N = 600 };
    uint32_t epoch = 1;
    for (uint32_t d = 1; d <= N; d++) {
        uint32_t kid = 10 + d;
        CHECK_EQ_INT(feed_instr(s, d, epoch++, 1, 0, &kid, 1, MS(2)), 0);
    }
    drain(s, out);
    uint8_t payload[1000] = {0};
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(10)), 0);
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), N);
    CHECK(has_data_to(out, 0, addr_of(10 + 1), NULL));
    CHECK(has_data_to(out, 0, addr_of(10 + N), NULL));

    /* DCM 7 empties: its root gets nothing more; its older instruction
     * (epoch 7) arriving now is ignored. */
    CHECK_EQ_INT(feed_instr(s, 7, epoch++, 1, 0, NULL, 0, MS(20)), 0);
    uint32_t kid7 = 17;
    CHECK_EQ_INT(feed_instr(s, 7, 7, 1, 0, &kid7, 1, MS(21)), 0);
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(30)), 0);
    drain(s, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), N - 1);
    CHECK(!has_data_to(out, 1, addr_of(17), NULL));
    /* A newer one brings it back. */
    CHECK_EQ_INT(feed_instr(s, 7, epoch++, 1, 0, &kid7, 1, MS(40)), 0);
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(50)), 0);
    drain(s, out);
    CHECK(has_data_to(out, 2, addr_of(17), NULL));
    strata_source_del(s);
    sent_clear(out);
}

/* Instructions of one change share an epoch: a DCM whose first substream
 * is empty is kept until the others have come, which are not stale. */
static void test_dcm_empty_first_substream(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, MS(1)), 0);
    uint32_t kid = 900;
    CHECK_EQ_INT(feed_instr(s, 3, 5, 2, 0, NULL, 0, MS(2)), 0);
    CHECK_EQ_INT(feed_instr(s, 3, 5, 2, 1, &kid, 1, MS(2)), 0);
    drain(s, out);
    uint8_t payload[1000] = {0};
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(10)), 0);
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(20)), 0);
    drain(s, out);
    CHECK(has_data_to(out, 1, addr_of(900), NULL)); /* substream 1 */
    CHECK(!has_data_to(out, 0, addr_of(900), NULL));
    strata_source_del(s);
    sent_clear(out);
}

/* After joining again, the source sends on to every root it knows until
 * the control center speaks; two heartbeat intervals after its first
 * instruction of a higher epoch, the sets of DCMs that sent nothing since
 * (they are gone: a restarted control center renumbered them) are dropped. */
static void test_prune_after_rejoin(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 1, MS(1)), 0);
    uint32_t a[] = {5}, b[] = {6};
    CHECK_EQ_INT(feed_instr(s, 1, 7, 1, 0, a, 1, MS(2)), 0);
    CHECK_EQ_INT(feed_instr(s, 2, 8, 1, 0, b, 1, MS(2)), 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_UNKNOWN, 1, MS(600)), 0);
    strata_source_handle_timeout(s, MS(600));
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 1, MS(650)), 0);
    uint8_t payload[1000] = {0};
    uint64_t seq = 0;
    drain(s, out);
    /* Before the control center speaks: both DCMs' roots. */
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(700)), 0);
    drain(s, out);
    CHECK(has_data_to(out, seq, addr_of(5), NULL) && has_data_to(out, seq, addr_of(6), NULL));
    seq++;
    /* DCM 1 speaks (epoch above all the source held); DCM 2 does not. */
    CHECK_EQ_INT(feed_instr(s, 1, 20, 1, 0, a, 1, MS(800)), 0);
    strata_source_handle_timeout(s, MS(1800));
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(1800)), 0);
    drain(s, out);
    CHECK(has_data_to(out, seq, addr_of(6), NULL)); /* one interval: still kept */
    seq++;
    CHECK(strata_source_next_timeout(s) <= MS(2800));
    strata_source_handle_timeout(s, MS(2800));
    CHECK_EQ_INT(strata_source_push(s, payload, sizeof payload, MS(2800)), 0);
    drain(s, out);
    CHECK(has_data_to(out, seq, addr_of(5), NULL));
    CHECK(!has_data_to(out, seq, addr_of(6), NULL));
    strata_source_del(s);
    sent_clear(out);
}

static void test_config(void)
{
    strata_source_config cfg = base_cfg();
    cfg.rate_kbps = 0;
    CHECK(strata_source_new(&cfg, NULL, 0) == NULL);
    cfg = base_cfg();
    cfg.payload_bytes = STRATA_WIRE_MAX_PAYLOAD_BYTES + 1;
    CHECK(strata_source_new(&cfg, NULL, 0) == NULL);
    cfg = base_cfg();
    cfg.node.v = 0;
    CHECK(strata_source_new(&cfg, NULL, 0) == NULL);
}

/* --- allocation failure ---------------------------------------------------- */

typedef struct failing {
    int calls, fail_at;
} failing;

static void *f_alloc(void *user, size_t size)
{
    failing *f = user;
    if (++f->calls == f->fail_at)
        return NULL;
    return malloc(size);
}
static void *f_realloc(void *user, void *ptr, size_t size)
{
    failing *f = user;
    if (++f->calls == f->fail_at)
        return NULL;
    return realloc(ptr, size);
}
static void f_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

/* The source roots no parity tree (preferred nodes make parity,
 * protocol.md 3.4): an EC_TREE instruction for substream k + i is dropped,
 * and its data trees are unchanged. */
static void test_parity_tree_instruction(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 4, 0), 0);
    uint32_t kid[] = {1};
    for (uint8_t sub = 0; sub < 4; sub++)
        CHECK_EQ_INT(feed_instr(s, 1, 1, 4, sub, kid, 1, 0), 0);
    for (uint8_t sub = 4; sub < 6; sub++) {
        strata_msg_instruction m;
        memset(&m, 0, sizeof m);
        m.dcm.v = 1;
        m.channel = chan();
        m.node = ME;
        m.epoch = 2;
        m.k = 4;
        m.n = 2;
        m.substream = sub;
        m.algorithm = STRATA_ALG_EC_TREE;
        m.n_children = 1;
        m.children[0] = ref_of(7);
        uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
        CHECK_EQ_INT(feed(s, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), 0),
                     STRATA_ERR_UNEXPECTED);
    }
    strata_source_stats st;
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.drops.total, 2);
    CHECK_EQ_U64(st.roots, 1);
    drain(s, out);
    sent_clear(out);
    strata_source_del(s);
}

/* A signed stream goes out manifest first: each packet is held two batch
 * times after its push (its stamp stays the push time), and the manifest
 * of its batch is sent before it; the packets keep their pace. */
static void test_signed_manifest_first(sent_list *out)
{
    strata_source_config cfg = base_cfg();
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_keypair(pk, cfg.channel_sk);
    cfg.sign = 1;
    cfg.batch_ms = 100;
    strata_source *s = strata_source_new(&cfg, NULL, 0);
    CHECK(s != NULL);
    if (!s)
        return;
    strata_source_handle_timeout(s, 0);
    CHECK_EQ_INT(feed_reply(s, STRATA_JOIN_OK, 2, 0), 0);
    uint32_t k0[] = {1}, k1[] = {2};
    CHECK_EQ_INT(feed_instr(s, 1, 1, 2, 0, k0, 1, 0), 0);
    CHECK_EQ_INT(feed_instr(s, 1, 1, 2, 1, k1, 1, 0), 0);
    drain(s, out);
    uint8_t input[1000];
    memset(input, 0x42, sizeof input);
    /* seqs 0..7 pushed 20 ms apart from 1000 ms: the batch of 0..4 closes
     * at 1100 ms (batch_ms after its first packet), 5..7 open the next */
    uint64_t first_data_at[8] = {0}, manifest_at[2] = {0};
    size_t manifests = 0;
    for (uint64_t now = MS(1000); now <= MS(1500); now += MS(1)) {
        uint64_t seq = (now - MS(1000)) / MS(20);
        if (strata_source_next_timeout(s) <= now)
            strata_source_handle_timeout(s, now);
        if ((now - MS(1000)) % MS(20) == 0 && seq < 8)
            CHECK_EQ_INT(strata_source_push(s, input, sizeof input, now), 0);
        drain(s, out);
        for (size_t i = 0; i < out->n; i++) {
            const strata_buf *b = out->items[i].buf;
            if (out->items[i].type == STRATA_MSG_MANIFEST && manifests < 2) {
                manifest_at[manifests++] = now;
            } else if (out->items[i].type == STRATA_MSG_DATA) {
                strata_msg_data m;
                CHECK(strata_wire_decode_data(b->data, b->len, &m) > 0);
                if (m.seq < 8 && !first_data_at[m.seq]) {
                    first_data_at[m.seq] = now;
                    CHECK_EQ_U64(m.send_ts_ns, MS(1000) + m.seq * MS(20));
                }
            }
        }
    }
    CHECK_EQ_U64(manifests, 2);
    CHECK_EQ_U64(manifest_at[0], MS(1100));
    CHECK_EQ_U64(manifest_at[1], MS(1200));
    for (uint64_t seq = 0; seq < 8; seq++) {
        CHECK_EQ_U64(first_data_at[seq], MS(1200) + seq * MS(20));
        CHECK(first_data_at[seq] >= manifest_at[seq < 5 ? 0 : 1]);
    }
    strata_source_stats st;
    strata_source_get_stats(s, &st);
    CHECK_EQ_U64(st.tx_data_packets, 8);
    CHECK_EQ_U64(st.manifests_signed, 2);
    sent_clear(out);
    strata_source_del(s);
}

static void scenario(const strata_alloc *a, sent_list *out)
{
    strata_source_config cfg = base_cfg();
    cfg.store_packets = 64;
    strata_source *s = strata_source_new(&cfg, a, 0);
    if (!s)
        return;
    strata_source_handle_timeout(s, 0);
    feed_reply(s, STRATA_JOIN_OK, 2, 0);
    uint32_t k0[] = {1, 2}, k1[] = {2, 3};
    feed_instr(s, 1, 1, 2, 0, k0, 2, 0);
    feed_instr(s, 2, 2, 2, 1, k1, 2, 0);
    uint8_t input[3500];
    memset(input, 0x5a, sizeof input);
    strata_source_push(s, input, sizeof input, MS(1));
    strata_source_finish(s, MS(2));
    strata_msg_repair req = {id_of(9), chan(), 0, 0xf};
    uint8_t b[64];
    feed(s, addr_of(9), b, strata_wire_encode_repair(b, sizeof b, &req), MS(3));
    strata_source_handle_timeout(s, MS(2000));
    strata_source_leave(s, MS(2001));
    drain(s, out);
    sent_clear(out);
    strata_source_del(s);
}

static void test_alloc_failure(sent_list *out)
{
    failing f = {0, 0};
    strata_alloc a = {f_alloc, f_realloc, f_free, &f};
    scenario(&a, out);
    int total = f.calls;
    CHECK(total > 5);
    for (int at = 1; at <= total; at++) {
        failing g = {0, at};
        strata_alloc b = {f_alloc, f_realloc, f_free, &g};
        scenario(&b, out);
    }
}

int main(void)
{
    sent_list *out = calloc(1, sizeof *out);
    test_join_and_send(out);
    test_heartbeat_round_robin(out);
    test_repair_budget(out);
    test_rejoin_after_unknown(out);
    test_prune_after_rejoin(out);
    test_many_dcms(out);
    test_dcm_empty_first_substream(out);
    test_config();
    test_parity_tree_instruction(out);
    test_signed_manifest_first(out);
    test_alloc_failure(out);
    sent_clear(out);
    free(out);
    return test_summary("test_source");
}
