/*
 * Peer tests (core/peer.c). The test plays the control center and the
 * other nodes by feeding encoded messages and decoding what the peer
 * queues; it owns the clock.
 */
#include "pktstore.h"
#include "repair.h"
#include "testutil.h"
#include "outbox_capture.h"

#include "strata/peer.h"
#include "strata/wire.h"

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x0a000001, 7000};
static const strata_node_id ME = {0x5e1f};

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

/* --- harness ------------------------------------------------------------- */

typedef struct played {
    uint8_t bytes[8192];
    size_t len;
    int ends;
} played;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    played *pl = user;
    if (pl->len + len <= sizeof pl->bytes) {
        memcpy(pl->bytes + pl->len, buf, len);
        pl->len += len;
    }
}

static void on_end(void *user)
{
    ((played *)user)->ends++;
}

/* Moves the outbox into s (after clearing s). */
static void drain(strata_peer *p, sent_list *s)
{
    capture_outbox(strata_peer_outbox(p), s);
}

static const sent *find_type(const sent_list *s, int type, size_t nth)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->items[i].type == type && nth-- == 0)
            return &s->items[i];
    }
    return NULL;
}

static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("news", 4);
}

static strata_peer_config base_cfg(void)
{
    strata_peer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ME;
    cfg.channel = "news";
    cfg.control = CONTROL;
    cfg.upload_kbps = 2000;
    cfg.region = "eu";
    cfg.seed = 1;
    return cfg;
}

static int feed(strata_peer *p, strata_addr from, const uint8_t *buf, int len, uint64_t now)
{
    CHECK(len > 0);
    if (len <= 0)
        return -1000;
    return strata_peer_handle_datagram(p, from, buf, (size_t)len, now);
}

static int feed_reply(strata_peer *p, uint8_t status, uint8_t k, uint32_t rate, uint64_t start,
                      uint64_t now)
{
    strata_msg_join_reply r = {ME, chan(), status, {3}, k, rate, 1000, start};
    uint8_t b[128];
    return feed(p, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r), now);
}

static int feed_instr_src(strata_peer *p, uint32_t epoch, uint8_t k, uint8_t sub,
                          strata_peer_ref parent, strata_peer_ref source,
                          const strata_peer_ref *kids, uint8_t nkids, uint64_t now)
{
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.dcm.v = 3;
    m.channel = chan();
    m.node = ME;
    m.epoch = epoch;
    m.k = k;
    m.substream = sub;
    m.algorithm = STRATA_ALG_TREE;
    m.parent = parent;
    m.source = source;
    m.n_children = nkids;
    for (uint8_t i = 0; i < nkids; i++)
        m.children[i] = kids[i];
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), now);
}

/* An instruction that names no source (the DCM does not know it yet). */
static int feed_instr(strata_peer *p, uint32_t epoch, uint8_t k, uint8_t sub,
                      strata_peer_ref parent, const strata_peer_ref *kids, uint8_t nkids,
                      uint64_t now)
{
    strata_peer_ref none = {{0}, {0, 0}};
    return feed_instr_src(p, epoch, k, sub, parent, none, kids, nkids, now);
}

static int encode_data(uint8_t *b, size_t blen, uint64_t seq, uint8_t k, uint8_t flags, uint64_t ts)
{
    uint8_t pay[4] = {(uint8_t)seq, (uint8_t)(seq >> 8), 0xab, 0xcd};
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.seq = seq;
    m.substream = (uint8_t)(seq % k);
    m.flags = flags;
    m.send_ts_ns = ts;
    if (!(flags & STRATA_DATA_FLAG_EOS)) {
        m.payload = pay;
        m.payload_len = sizeof pay;
    }
    return strata_wire_encode_data(b, blen, &m);
}

static int feed_data_ts(strata_peer *p, strata_addr from, uint64_t seq, uint8_t k, uint8_t flags,
                        uint64_t ts, uint64_t now)
{
    uint8_t b[128];
    return feed(p, from, b, encode_data(b, sizeof b, seq, k, flags, ts), now);
}

/* send_ts = seq * 10 ms */
static int feed_data(strata_peer *p, strata_addr from, uint64_t seq, uint8_t k, uint8_t flags,
                     uint64_t now)
{
    return feed_data_ts(p, from, seq, k, flags, MS(seq * 10), now);
}

/* Instructions with parents 1..4 for substreams 0..3 and no children: the
 * nodes a test feeds data from pass the sender checks (peer_senders.c). */
static void adopt_parents(strata_peer *p, uint64_t now)
{
    for (uint8_t s = 0; s < 4; s++)
        feed_instr(p, 1, 4, s, ref_of(1u + s), NULL, 0, now);
}

/* A member with k = 4, parents 1..4 for substreams 0..3, children 10 and 11
 * in substream 1, playing from 0. */
static strata_peer *member(played *pl, uint64_t now)
{
    strata_peer_config cfg = base_cfg();
    strata_peer_callbacks cb = {on_play, on_end, pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, now);
    CHECK(p != NULL);
    strata_peer_handle_timeout(p, now);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, now), 0);
    strata_peer_ref kids[2] = {ref_of(10), ref_of(11)};
    for (uint8_t s = 0; s < 4; s++)
        feed_instr(p, 1, 4, s, ref_of(1u + s), kids, s == 1 ? 2 : 0, now);
    sent_list *tmp = calloc(1, sizeof *tmp);
    drain(p, tmp);
    sent_clear(tmp);
    free(tmp);
    return p;
}

/* --- tests --------------------------------------------------------------- */

static void test_join(sent_list *out)
{
    strata_peer_config cfg = base_cfg();
    cfg.join_retry_ms = 200;
    strata_peer *p = strata_peer_new(&cfg, NULL, NULL, MS(1000));
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_INT(st.state, STRATA_PEER_JOINING);
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(1000));
    strata_peer_handle_timeout(p, MS(1000));
    drain(p, out);
    CHECK_EQ_U64(out->n, 1);
    const sent *j = find_type(out, STRATA_MSG_JOIN, 0);
    CHECK(j != NULL);
    if (j) {
        strata_msg_join m;
        CHECK(strata_wire_decode_join(j->buf->data, j->buf->len, &m) > 0);
        CHECK(strata_addr_eq(j->to, CONTROL));
        CHECK_EQ_U64(m.node.v, ME.v);
        CHECK_EQ_INT(m.role, STRATA_ROLE_PEER);
        CHECK_EQ_INT(m.upload_kbps, 2000);
        CHECK_EQ_INT(m.rate_kbps, 0);
        CHECK_EQ_INT(m.name_len, 4);
        CHECK_EQ_MEM(m.name, "news", 4);
        CHECK_EQ_INT(m.region_len, 2);
        CHECK_EQ_MEM(m.region, "eu", 2);
    }
    /* retry every join_retry_ms, not before */
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(1200));
    strata_peer_handle_timeout(p, MS(1199));
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);
    strata_peer_handle_timeout(p, MS(1200));
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);

    /* an instruction before the reply is kept */
    strata_peer_ref kids[1] = {ref_of(10)};
    CHECK_EQ_INT(feed_instr(p, 5, 2, 0, ref_of(1), kids, 1, MS(1210)), 0);

    /* a reply for someone else is dropped */
    strata_msg_join_reply other = {{99}, chan(), STRATA_JOIN_OK, {3}, 2, 0, 1000, 0};
    uint8_t b[128];
    CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &other), MS(1210)),
                 STRATA_ERR_UNEXPECTED);
    /* a refusal: still joining, retried eight times slower */
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_REFUSED, 2, 0, 0, MS(1300)), 0);
    strata_peer_get_stats(p, &st);
    CHECK_EQ_INT(st.state, STRATA_PEER_JOINING);
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(1300 + 8 * 200));
    strata_peer_handle_timeout(p, MS(1300 + 8 * 200));
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);

    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 2, 0, 0, MS(3000)), 0);
    strata_peer_get_stats(p, &st);
    CHECK_EQ_INT(st.state, STRATA_PEER_MEMBER);
    CHECK_EQ_U64(st.instructions_applied, 1);
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(4000)); /* the first heartbeat */
    /* a second reply (to a retried JOIN) changes nothing */
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 2, 0, 0, MS(3001)), 0);
    strata_peer_handle_timeout(p, MS(3500));
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);

    /* data flows to the child kept from before the reply */
    CHECK_EQ_INT(feed_data(p, addr_of(1), 0, 2, 0, MS(3600)), 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 1);
    if (out->n)
        CHECK(strata_addr_eq(out->items[0].to, addr_of(10)));
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.drops.total, 1);
    sent_clear(out);
    strata_peer_del(p);
}

static uint32_t hb_epoch(strata_peer *p, sent_list *out, uint64_t now, strata_msg_heartbeat *hb)
{
    strata_peer_handle_timeout(p, now);
    drain(p, out);
    const sent *h = find_type(out, STRATA_MSG_HEARTBEAT, 0);
    CHECK(h != NULL);
    if (!h)
        return 0;
    CHECK(strata_wire_decode_heartbeat(h->buf->data, h->buf->len, hb) > 0);
    return hb->instr_epoch;
}

static void test_instructions(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    strata_msg_heartbeat hb;
    CHECK_EQ_INT(hb_epoch(p, out, MS(1000), &hb), 1);
    CHECK_EQ_U64(hb.parents[2].parent.v, id_of(3).v);

    /* newer epoch replaces the parent of substream 2; an older one is ignored */
    CHECK_EQ_INT(feed_instr(p, 7, 4, 2, ref_of(20), NULL, 0, MS(1100)), 0);
    CHECK_EQ_INT(feed_instr(p, 6, 4, 2, ref_of(21), NULL, 0, MS(1100)), 0);
    CHECK_EQ_INT(feed_instr(p, 7, 4, 2, ref_of(22), NULL, 0, MS(1100)), 0);
    CHECK_EQ_INT(hb_epoch(p, out, MS(2000), &hb), 7);
    CHECK_EQ_U64(hb.parents[2].parent.v, id_of(20).v);
    CHECK_EQ_U64(hb.parents[0].parent.v, id_of(1).v);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.instructions_applied, 5);

    /* for another node or channel: dropped */
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.dcm.v = 3;
    m.channel = chan();
    m.node = id_of(77);
    m.epoch = 9;
    m.k = 4;
    m.algorithm = STRATA_ALG_TREE;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(2100)),
                 STRATA_ERR_UNEXPECTED);
    m.node = ME;
    m.channel.v = 42;
    CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(2100)),
                 STRATA_ERR_UNEXPECTED);

    /* a newer epoch may change k: slots beyond it are forgotten */
    CHECK_EQ_INT(feed_instr(p, 10, 2, 0, ref_of(30), NULL, 0, MS(2200)), 0);
    CHECK_EQ_INT(hb_epoch(p, out, MS(3000), &hb), 10);
    CHECK_EQ_INT(hb.n_parents, 2);
    CHECK_EQ_U64(hb.parents[0].parent.v, id_of(30).v);
    CHECK_EQ_U64(hb.parents[1].parent.v, id_of(2).v);
    /* an old instruction with the old k is stale */
    CHECK_EQ_INT(feed_instr(p, 8, 4, 3, ref_of(31), NULL, 0, MS(3100)), 0);
    CHECK_EQ_INT(hb_epoch(p, out, MS(4000), &hb), 10);
    CHECK_EQ_INT(hb.n_parents, 2);
    sent_clear(out);
    strata_peer_del(p);
}

static void test_relay_and_duplicates(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    /* seq 1 is substream 1: relayed to children 10 and 11, one shared buffer */
    CHECK_EQ_INT(feed_data(p, addr_of(2), 1, 4, 0, MS(10)), 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 2);
    if (out->n == 2) {
        CHECK(strata_addr_eq(out->items[0].to, addr_of(10)));
        CHECK(strata_addr_eq(out->items[1].to, addr_of(11)));
        CHECK(out->items[0].buf == out->items[1].buf);
        /* the store and the playout buffer hold the same buffer too */
        CHECK(out->items[0].buf->refs >= 3);
    }
    /* seq 0 (substream 0, no children): stored and played, not relayed */
    CHECK_EQ_INT(feed_data(p, addr_of(1), 0, 4, 0, MS(11)), 0);
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);
    CHECK_EQ_U64(pl.len, 8);
    /* duplicates are counted and dropped, not relayed again */
    CHECK_EQ_INT(feed_data(p, addr_of(3), 1, 4, 0, MS(12)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(4), 0, 4, 0, MS(12)), 0);
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);
    /* sender checks: data from a node that is no parent, a child's data
     * that is no repair answer, and a repair answer from a node that is
     * none of its repair targets (parents, source, children) are dropped
     * and counted */
    CHECK_EQ_INT(feed_data(p, addr_of(5), 6, 4, 0, MS(12)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed_data(p, addr_of(11), 5, 4, 0, MS(12)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed_data(p, addr_of(5), 5, 4, STRATA_DATA_FLAG_REPAIR, MS(12)),
                 STRATA_ERR_SENDER);
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);
    /* a packet that came as a repair is relayed too, without the flag,
     * but not back to the child that sent it */
    CHECK_EQ_INT(feed_data(p, addr_of(11), 5, 4, STRATA_DATA_FLAG_REPAIR, MS(13)), 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 1);
    if (out->n == 1) {
        CHECK(strata_addr_eq(out->items[0].to, addr_of(10)));
        strata_msg_data m;
        CHECK(strata_wire_decode_data(out->items[0].buf->data, out->items[0].buf->len, &m) > 0);
        CHECK_EQ_INT(m.flags, 0);
        CHECK_EQ_U64(m.seq, 5);
    }
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.rx_data_packets, 3);
    CHECK_EQ_U64(st.rx_duplicates, 2);
    CHECK_EQ_U64(st.rx_repairs, 1);
    CHECK_EQ_U64(st.tx_data_packets, 3);
    CHECK_EQ_U64(st.played_packets, 2);
    CHECK_EQ_U64(st.drops.total, 3);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_SENDER], 3);
    sent_clear(out);
    strata_peer_del(p);
}

/* HEARTBEAT recovered_packets: a packet taken from a repair counts as lost
 * once it leaves the store, unless its own copy came down its tree before
 * that (late, not lost). */
static void test_recovered_packets(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.store_packets = 64;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, 0), 0);
    strata_peer_ref kids[2] = {ref_of(10), ref_of(11)};
    for (uint8_t s = 0; s < 4; s++)
        feed_instr(p, 1, 4, s, ref_of(1u + s), kids, s == 1 ? 2 : 0, 0);
    drain(p, out);
    for (uint64_t q = 0; q < 4; q++)
        CHECK_EQ_INT(feed_data(p, addr_of(1 + q % 4), q, 4, 0, MS(q * 10 + 5)), 0);
    /* 4 and 5 come as repairs; 5's own copy follows from its parent. */
    CHECK_EQ_INT(feed_data(p, addr_of(11), 4, 4, STRATA_DATA_FLAG_REPAIR, MS(45)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(11), 5, 4, STRATA_DATA_FLAG_REPAIR, MS(55)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(2), 5, 4, 0, MS(56)), 0);
    for (uint64_t q = 6; q < 80; q++)
        CHECK_EQ_INT(feed_data(p, addr_of(1 + q % 4), q, 4, 0, MS(q * 10 + 5)), 0);
    strata_msg_heartbeat hb;
    hb_epoch(p, out, MS(2000), &hb);
    CHECK_EQ_U64(hb.recovered_packets, 1);
    sent_clear(out);
    strata_peer_del(p);
}

/* Like drain, but leaves out tail probes (requests naming the
 * STRATA_PEER_TAIL_PROBE_PACKETS seqs after the highest held), which tests
 * of gap repair do not look at. */
#define TAIL_MASK ((1ull << STRATA_PEER_TAIL_PROBE_PACKETS) - 1u)

static void drain_gaps(strata_peer *p, sent_list *s)
{
    drain(p, s);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        strata_msg_repair m;
        if (s->items[i].type == STRATA_MSG_REPAIR_REQUEST &&
            strata_wire_decode_repair(s->items[i].buf->data, s->items[i].buf->len, &m) > 0 &&
            m.mask == TAIL_MASK) {
            strata_buf_unref(s->items[i].buf);
            continue;
        }
        s->items[w++] = s->items[i];
    }
    s->n = w;
}

/* Decodes the single REPAIR_REQUEST in out; returns its destination. */
static strata_addr repair_to(const sent_list *out, uint64_t *first, uint64_t *mask)
{
    const sent *r = find_type(out, STRATA_MSG_REPAIR_REQUEST, 0);
    CHECK(r != NULL);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 1);
    if (!r)
        return (strata_addr){0, 0};
    strata_msg_repair m;
    CHECK(strata_wire_decode_repair(r->buf->data, r->buf->len, &m) > 0);
    CHECK_EQ_U64(m.node.v, ME.v);
    CHECK_EQ_U64(m.channel.v, chan().v);
    *first = m.first_seq;
    *mask = m.mask;
    return r->to;
}

static void test_repair_sequence(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    /* 1 and 5 (substream 1) are missing once 6 arrives at t = 0 */
    uint64_t seqs[] = {0, 2, 3, 4, 6};
    for (size_t i = 0; i < 5; i++)
        feed_data(p, addr_of(1u + (uint32_t)(seqs[i] % 4)), seqs[i], 4, 0, 0);
    drain_gaps(p, out);
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(60)); /* repair_after */
    strata_peer_handle_timeout(p, MS(59));
    drain_gaps(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);

    /* the rotation for substream 1: parent 2, then 3, 4, 1, then the
     * children 10 and 11; both seqs in one request, one request per retry
     * interval */
    uint32_t order[] = {2, 3, 4, 1, 10};
    uint64_t t = MS(60);
    for (size_t i = 0; i < 5; i++) {
        strata_peer_handle_timeout(p, t);
        drain_gaps(p, out);
        uint64_t first = 0, mask = 0;
        strata_addr to = repair_to(out, &first, &mask);
        CHECK(strata_addr_eq(to, addr_of(order[i])));
        CHECK_EQ_U64(first, 1);
        CHECK_EQ_U64(mask, 0x11);
        CHECK(strata_peer_next_timeout(p) <= t + MS(150));
        strata_peer_handle_timeout(p, t + MS(149));
        drain_gaps(p, out);
        CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);
        t += MS(150);
    }
    /* the answer to 5 arrives: only 1 is asked for after that */
    CHECK_EQ_INT(feed_data(p, addr_of(2), 5, 4, STRATA_DATA_FLAG_REPAIR, t - MS(1)), 0);
    strata_peer_handle_timeout(p, t);
    drain_gaps(p, out);
    uint64_t first = 0, mask = 0;
    repair_to(out, &first, &mask);
    CHECK_EQ_U64(first, 1);
    CHECK_EQ_U64(mask, 1);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.repair_requests_sent, 6 + 3); /* and tail probes at 500, 650, 800 ms */

    /* at the deadline (send_ts of 2 + offset + 3000 ms) 1 is skipped and
     * asking stops */
    strata_peer_handle_timeout(p, MS(20) + MS(3000));
    drain_gaps(p, out);
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.missed_packets, 1);
    CHECK_EQ_U64(st.played_packets, 6);
    strata_peer_handle_timeout(p, MS(4000));
    drain_gaps(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);
    sent_clear(out);
    strata_peer_del(p);
}

/* When a missing seq is first asked for (k = 4, parents 1..4): a gap in
 * its own substream after repair_after (60 ms); lateness against other
 * substreams only after the fallback wait, repair_after + 2 x the skew
 * observed between substreams, at most a quarter of the playout delay.
 * The skew estimate moves 1/8 of the way up to a larger sample. */
static void test_repair_timing(sent_list *out)
{
    static const struct {
        const char *name;
        struct {
            uint32_t seq, ms;
        } feed[12];
        size_t n;
        uint32_t ask_ms; /* nothing at ask_ms - 10, one request at ask_ms */
        uint64_t first, mask;
    } cases[] = {
        {"no skew yet: fallback is repair_after", {{0, 0}, {1, 0}, {2, 0}, {4, 0}}, 4, 60, 3, 1},
        {"late substream 3 (80 ms: skew 10 ms): waits 60 + 20 ms",
         {{0, 0}, {1, 0}, {2, 0}, {4, 0}, {3, 80}, {5, 100}, {6, 100}, {8, 100}},
         8,
         180,
         7,
         1},
        {"a later packet of substream 3 makes 7 a gap",
         {{0, 0}, {1, 0}, {2, 0}, {4, 0}, {3, 80}, {5, 100}, {6, 100}, {8, 100}, {11, 110}},
         9,
         170,
         7,
         1},
        {"2 s late (skew 250 ms): waits 60 + 500 ms",
         {{0, 0}, {1, 0}, {2, 0}, {4, 0}, {3, 2000}, {5, 2000}, {6, 2000}, {8, 2000}},
         8,
         2560,
         7,
         1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        played pl;
        memset(&pl, 0, sizeof pl);
        strata_peer *p = member(&pl, 0);
        for (size_t i = 0; i < cases[c].n; i++) {
            uint32_t q = cases[c].feed[i].seq;
            feed_data(p, addr_of(1u + q % 4), q, 4, 0, MS(cases[c].feed[i].ms));
        }
        drain_gaps(p, out);
        strata_peer_handle_timeout(p, MS(cases[c].ask_ms - 10));
        drain_gaps(p, out);
        size_t early = count_type(out, STRATA_MSG_REPAIR_REQUEST);
        CHECK_EQ_U64(early, 0);
        sent_clear(out);
        strata_peer_handle_timeout(p, MS(cases[c].ask_ms));
        drain_gaps(p, out);
        uint64_t first = 0, mask = 0;
        repair_to(out, &first, &mask);
        CHECK_EQ_U64(first, cases[c].first);
        CHECK_EQ_U64(mask, cases[c].mask);
        if (early != 0 || first != cases[c].first || mask != cases[c].mask)
            fprintf(stderr, "  case: %s\n", cases[c].name);
        sent_clear(out);
        strata_peer_del(p);
    }
}

/* The repair budget: 25% of the upload, a bucket of 1 s of it but at
 * least 4 full datagrams; upload 0 is unlimited. */
static void test_repair_budget(void)
{
    static const struct {
        uint32_t upload_kbps;
        struct {
            uint32_t ms, bytes;
            int want;
        } step[6];
        size_t n;
    } cases[] = {
        /* 31250 B/s, bucket 31250 B */
        {1000,
         {{0, 31250, 1},
          {0, 1, 0},
          {100, 3125, 1},
          {100, 1, 0},
          {10000, 31250, 1},
          {20000, 31251, 0}},
         6},
        /* 250 B/s, bucket 4 x 1472 B */
        {8, {{0, 5888, 1}, {999, 250, 0}, {1000, 250, 1}}, 3},
        /* upload 0: still a budget, 4 packets of 1472 B a second */
        {0, {{0, 5888, 1}, {0, 1, 0}, {500, 2944, 1}, {500, 1, 0}, {1500, 5888, 1}}, 5},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        strata_repair_budget b;
        strata_repair_budget_init(&b, cases[c].upload_kbps, 0, 0);
        for (size_t i = 0; i < cases[c].n; i++) {
            int got =
                strata_repair_budget_take(&b, cases[c].step[i].bytes, MS(cases[c].step[i].ms));
            CHECK_EQ_INT(got, cases[c].step[i].want);
            if (got != cases[c].step[i].want)
                fprintf(stderr, "  upload %u step %zu\n", cases[c].upload_kbps, i);
        }
    }
    /* With a charge floor (the simulator's packet size) a 60-byte answer
     * costs 16 KiB: 1000 kbps gives 31250 B/s, and the bucket holds at
     * least 4 such packets. */
    strata_repair_budget b;
    strata_repair_budget_init(&b, 1000, 16384, 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(strata_repair_budget_take(&b, 60, 0), 1);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 60, 0), 0);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 60, MS(500)), 0);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 60, MS(530)), 1);
}

/* The budget follows what the trees take (pktstore.h): 25% while they
 * leave that much, what they leave below the whole upload once they take
 * more, and never less than 10%. Tokens earned are kept up to the new
 * burst. */
static void test_repair_budget_follows_trees(void)
{
    static const struct {
        uint32_t tree_kbps;
        uint64_t rate; /* bytes per second of an upload of 8000 kbps (1 MB/s) */
    } cases[] = {{0, 250000},    {6000, 250000}, {6400, 200000}, {7000, 125000},
                 {7200, 100000}, {8000, 100000}, {20000, 100000}, {1000, 250000}};
    strata_repair_budget b;
    strata_repair_budget_init(&b, 8000, 0, 0);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        strata_repair_budget_set_tree_kbps(&b, cases[c].tree_kbps, 0);
        CHECK_EQ_U64(b.rate_bytes_per_s, cases[c].rate);
        CHECK_EQ_U64(b.burst_bytes, cases[c].rate);
        CHECK(b.tokens <= b.burst_bytes);
    }
    /* Drained at 250 kB/s, then cut to 100 kB/s: 100 ms earn 10 kB, no more. */
    strata_repair_budget_init(&b, 8000, 0, 0);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 250000, 0), 1);
    strata_repair_budget_set_tree_kbps(&b, 8000, MS(100));
    CHECK_EQ_U64(b.tokens, 25000); /* earned at the old rate before the change */
    CHECK_EQ_INT(strata_repair_budget_take(&b, 25001, MS(100)), 0);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 35000, MS(200)), 1);
    /* Upload 0 keeps its small budget whatever its trees (it has none). */
    strata_repair_budget_init(&b, 0, 0, 0);
    strata_repair_budget_set_tree_kbps(&b, 5000, 0);
    CHECK_EQ_U64(b.rate_bytes_per_s, 4 * 1472);
    CHECK_EQ_INT(strata_repair_budget_take(&b, 1000000000, 0), 0);
}

/* Repairs answered from a full store by a peer of 8000 kbps, each answer
 * charged 16 KiB, after instructions that give it links children per
 * substream of a 1000 kbps stream in 4 substreams. */
static uint64_t repairs_answered_with_children(sent_list *out, uint8_t links)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.upload_kbps = 8000;
    cfg.repair_charge_bytes = 16384;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 1000, 0, 0);
    strata_peer_ref kids[8];
    for (uint8_t i = 0; i < links; i++)
        kids[i] = ref_of(100u + i);
    for (uint8_t sub = 0; sub < 4; sub++)
        CHECK_EQ_INT(feed_instr(p, 1, 4, sub, ref_of(1), kids, links, 0), 0);
    for (uint64_t s = 0; s < 64; s++)
        feed_data(p, addr_of(1), s, 4, 0, MS(1));
    drain(p, out);
    sent_clear(out);
    strata_msg_repair req = {id_of(50), chan(), 0, UINT64_MAX};
    uint8_t b[64];
    feed(p, addr_of(50), b, strata_wire_encode_repair(b, sizeof b, &req), MS(2));
    drain(p, out);
    sent_clear(out);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    strata_peer_del(p);
    return st.tx_repairs;
}

/* The trees' children shrink the repair budget (pktstore.h): with no
 * children 25% of 8000 kbps is a bucket of 250 kB, 15 answers of 16 KiB;
 * 8 children per substream take 8000 kbps, which leaves the 10% floor,
 * 100 kB, 6 answers. */
static void test_repair_budget_shrinks_with_children(sent_list *out)
{
    CHECK_EQ_U64(repairs_answered_with_children(out, 0), 15);
    CHECK_EQ_U64(repairs_answered_with_children(out, 4), 15); /* trees at 50%: 25% left */
    CHECK_EQ_U64(repairs_answered_with_children(out, 8), 6);
}

/* A peer with a slow uplink answers repairs only up to its budget and
 * counts the requests it refused. */
static void test_repair_refused(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.upload_kbps = 8;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, 0);
    adopt_parents(p, 0);
    for (uint64_t s = 0; s < 64; s++)
        feed_data(p, addr_of(1), s, 4, 0, MS(1));
    drain(p, out);
    sent_clear(out);
    strata_msg_repair req = {id_of(50), chan(), 0, UINT64_MAX};
    uint8_t b[64];
    for (int i = 0; i < 4; i++)
        feed(p, addr_of(50), b, strata_wire_encode_repair(b, sizeof b, &req), MS(2));
    drain(p, out);
    size_t bytes = 0;
    for (size_t i = 0; i < out->n; i++)
        bytes += out->items[i].buf->len;
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.repair_requests_served, 4);
    CHECK(st.repair_requests_refused >= 1);
    CHECK(st.tx_repairs < 4 * 64);
    CHECK(bytes <= 4 * STRATA_WIRE_MAX_DATAGRAM_BYTES);
    sent_clear(out);
    strata_peer_del(p);
}

/* tail_idle_ms and repair_retry_ms come from the config; outbox_datagrams
 * sizes the outbox. */
static void test_config_timers(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.tail_idle_ms = 200;
    cfg.repair_retry_ms = 300;
    cfg.outbox_datagrams = 100;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    CHECK_EQ_U64(strata_peer_outbox(p)->max, 100);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, 0);
    for (uint8_t s = 0; s < 4; s++)
        feed_instr(p, 1, 4, s, ref_of(1u + s), NULL, 0, 0);
    feed_data(p, addr_of(1), 0, 4, 0, 0);
    drain(p, out);
    sent_clear(out);
    static const struct {
        uint32_t ms;
        size_t want;
    } steps[] = {{199, 0}, {200, 1}, {499, 0}, {500, 1}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        strata_peer_handle_timeout(p, MS(steps[i].ms));
        drain(p, out);
        CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), steps[i].want);
        sent_clear(out);
    }
    strata_peer_del(p);
    cfg.outbox_datagrams = 0;
    p = strata_peer_new(&cfg, &cb, NULL, 0);
    CHECK_EQ_U64(strata_peer_outbox(p)->max, STRATA_PEER_DEFAULT_OUTBOX_DATAGRAMS);
    strata_peer_del(p);
}

/* Checks the rotation for missing seq 0 of a peer made by new_peer: one
 * request per retry interval, to want[0..n-1] in turn. */
static void expect_rotation(strata_peer *p, sent_list *out, const strata_addr *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        strata_peer_handle_timeout(p, MS(60) + i * MS(150));
        drain_gaps(p, out);
        uint64_t first = 0, mask = 0;
        strata_addr to = repair_to(out, &first, &mask);
        CHECK(strata_addr_eq(to, want[i]));
        if (!strata_addr_eq(to, want[i]))
            fprintf(stderr, "  rotation step %zu\n", i);
        CHECK_EQ_U64(first, 0);
        CHECK_EQ_U64(mask, 1);
    }
}

/* A member with k = 3 and no instructions yet. */
static strata_peer *new_peer(played *pl)
{
    memset(pl, 0, sizeof *pl);
    strata_peer_config cfg = base_cfg();
    strata_peer_callbacks cb = {on_play, on_end, pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 3, 0, 0, 0);
    return p;
}

/* The source is the one the instructions name (protocol.md 3.4), asked
 * after the parents; nothing else makes a node the source. */
static void test_repair_source(sent_list *out)
{
    played pl;
    strata_peer_ref none = {{0}, {0, 0}};
    strata_addr moved = addr_of(80);

    /* epoch 1: parents 1, 9, 9 and no source named; epoch 2 moves
     * substreams 1 and 2 to 5 and 6. Being parent in two trees once does
     * not make 9 the source, nor does an all-ones id. 0 is missing: its
     * parent 1, the other parents 5 and 6, and round again. */
    strata_peer *p = new_peer(&pl);
    strata_peer_ref marked = {{UINT64_MAX}, addr_of(7)};
    feed_instr(p, 1, 3, 0, ref_of(1), NULL, 0, 0);
    feed_instr(p, 1, 3, 1, ref_of(9), NULL, 0, 0);
    feed_instr(p, 1, 3, 2, ref_of(9), NULL, 0, 0);
    feed_instr(p, 2, 3, 1, ref_of(5), NULL, 0, 0);
    feed_instr(p, 2, 3, 2, ref_of(6), NULL, 0, 0);
    feed_instr(p, 3, 3, 0, marked, NULL, 0, 0);
    feed_instr(p, 4, 3, 0, ref_of(1), NULL, 0, 0);
    for (uint64_t s = 1; s <= 3; s++)
        feed_data(p, addr_of(1), s, 3, 0, 0);
    drain_gaps(p, out);
    strata_addr parents_only[] = {addr_of(1), addr_of(5), addr_of(6), addr_of(1)};
    expect_rotation(p, out, parents_only, 4);
    sent_clear(out);
    strata_peer_del(p);

    /* The same, but the epoch 2 instructions name source 8: it comes
     * after the parents. */
    p = new_peer(&pl);
    feed_instr(p, 1, 3, 0, ref_of(1), NULL, 0, 0);
    feed_instr(p, 1, 3, 1, ref_of(9), NULL, 0, 0);
    feed_instr(p, 1, 3, 2, ref_of(9), NULL, 0, 0);
    feed_instr_src(p, 2, 3, 1, ref_of(5), ref_of(8), NULL, 0, 0);
    feed_instr_src(p, 2, 3, 2, ref_of(6), ref_of(8), NULL, 0, 0);
    for (uint64_t s = 1; s <= 3; s++)
        feed_data(p, addr_of(1), s, 3, 0, 0);
    drain_gaps(p, out);
    strata_addr with_source[] = {addr_of(1), addr_of(5), addr_of(6), addr_of(8), addr_of(1)};
    expect_rotation(p, out, with_source, 5);
    sent_clear(out);
    strata_peer_del(p);

    /* The newest instruction's ref wins: the source moves at epoch 3; a
     * late epoch 2 instruction with the old address does not bring it
     * back, and an epoch 4 one naming no source does not erase it. */
    p = new_peer(&pl);
    for (uint8_t s = 0; s < 3; s++)
        feed_instr_src(p, 1, 3, s, ref_of(1u + s), ref_of(8), NULL, 0, 0);
    feed_instr_src(p, 3, 3, 0, ref_of(1), (strata_peer_ref){id_of(8), moved}, NULL, 0, 0);
    feed_instr_src(p, 2, 3, 1, ref_of(2), ref_of(8), NULL, 0, 0);
    feed_instr_src(p, 4, 3, 2, ref_of(3), none, NULL, 0, 0);
    for (uint64_t s = 1; s <= 3; s++)
        feed_data(p, addr_of(1), s, 3, 0, 0);
    drain_gaps(p, out);
    strata_addr newest[] = {addr_of(1), addr_of(2), addr_of(3), moved, addr_of(1)};
    expect_rotation(p, out, newest, 5);
    sent_clear(out);
    strata_peer_del(p);

    /* Every parent died at once and nothing arrives any more: the tail
     * probe goes to the source first, the silent parents after it, and
     * the source's answer carries the stream on. */
    p = new_peer(&pl);
    for (uint8_t s = 0; s < 3; s++)
        feed_instr_src(p, 1, 3, s, ref_of(1u + s), ref_of(9), NULL, 0, 0);
    feed_data(p, addr_of(1), 0, 3, 0, 0);
    drain(p, out);
    uint32_t tail[] = {9, 2, 3, 1};
    for (size_t i = 0; i < 4; i++) {
        strata_peer_handle_timeout(p, MS(500) + i * MS(150));
        drain(p, out);
        uint64_t first = 0, mask = 0;
        CHECK(strata_addr_eq(repair_to(out, &first, &mask), addr_of(tail[i])));
        CHECK_EQ_U64(first, 1);
        CHECK_EQ_U64(mask, TAIL_MASK);
    }
    for (uint64_t s = 1; s <= 4; s++)
        CHECK_EQ_INT(feed_data(p, addr_of(9), s, 3, STRATA_DATA_FLAG_REPAIR, MS(960)), 0);
    CHECK_EQ_U64(pl.len, 5 * 4);
    sent_clear(out);
    strata_peer_del(p);

    /* without a known source, the rotation is the parents, then the
     * children */
    memset(&pl, 0, sizeof pl);
    p = member(&pl, 0);
    feed_data(p, addr_of(1), 4, 4, 0, 0);
    uint32_t plain[] = {1, 2, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        strata_peer_handle_timeout(p, MS(60) + i * MS(150));
        drain_gaps(p, out);
        /* 0, 1, 2 and 3 each follow their own rotation: check seq 0's */
        CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 4);
        int found = 0;
        for (size_t j = 0; j < out->n; j++) {
            strata_msg_repair m;
            strata_wire_decode_repair(out->items[j].buf->data, out->items[j].buf->len, &m);
            if (m.first_seq == 0 && m.mask == 1) {
                found++;
                CHECK(strata_addr_eq(out->items[j].to, addr_of(plain[i])));
            }
        }
        CHECK_EQ_INT(found, 1);
    }
    /* then every rotation reaches child 10: one request for all four */
    strata_peer_handle_timeout(p, MS(60) + 4 * MS(150));
    drain_gaps(p, out);
    uint64_t first = 0, mask = 0;
    CHECK(strata_addr_eq(repair_to(out, &first, &mask), addr_of(10)));
    CHECK_EQ_U64(first, 0);
    CHECK_EQ_U64(mask, 0xf);
    sent_clear(out);
    strata_peer_del(p);
}

static void test_answer_repairs(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    for (uint64_t s = 0; s < 8; s++)
        feed_data(p, addr_of(1u + (uint32_t)(s % 4)), s, 4, 0, MS(s));
    drain(p, out);
    /* asks 2, 3 and 70 (not held) */
    strata_msg_repair req = {id_of(50), chan(), 2, 0x3ull | (1ull << 60)};
    uint8_t b[64];
    CHECK_EQ_INT(feed(p, addr_of(50), b, strata_wire_encode_repair(b, sizeof b, &req), MS(100)), 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 2);
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_data m;
        CHECK(strata_wire_decode_data(out->items[i].buf->data, out->items[i].buf->len, &m) > 0);
        CHECK(strata_addr_eq(out->items[i].to, addr_of(50)));
        CHECK_EQ_U64(m.seq, 2 + i);
        CHECK_EQ_INT(m.flags, STRATA_DATA_FLAG_REPAIR);
        CHECK_EQ_INT(m.payload_len, 4);
        CHECK_EQ_INT(m.payload[0], 2 + i);
    }
    /* for another channel: dropped */
    req.channel.v = 77;
    CHECK_EQ_INT(feed(p, addr_of(50), b, strata_wire_encode_repair(b, sizeof b, &req), MS(100)),
                 STRATA_ERR_UNEXPECTED);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.repair_requests_served, 1);
    CHECK_EQ_U64(st.tx_repairs, 2);
    sent_clear(out);
    strata_peer_del(p);
}

static void test_heartbeat(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    /* 0, 1 from their parents; 3 from parent 4; 5 from parent 3, which is
     * not substream 1's; a stranger's packet is dropped (sender checks) */
    feed_data(p, addr_of(1), 0, 4, 0, MS(100));
    feed_data(p, addr_of(2), 1, 4, 0, MS(110));
    feed_data(p, addr_of(4), 3, 4, 0, MS(130));
    CHECK_EQ_INT(feed_data(p, addr_of(60), 6, 4, 0, MS(140)), STRATA_ERR_SENDER);
    feed_data(p, addr_of(3), 5, 4, 0, MS(150));
    drain(p, out);
    strata_msg_heartbeat hb;
    hb_epoch(p, out, MS(1000), &hb);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 1);
    CHECK(strata_addr_eq(out->items[0].to, CONTROL));
    CHECK_EQ_U64(hb.node.v, ME.v);
    CHECK_EQ_U64(hb.channel.v, chan().v);
    CHECK_EQ_INT(hb.dcm.v, 3);
    CHECK_EQ_INT(hb.hb_seq, 1);
    CHECK_EQ_U64(hb.local_ts_ns, MS(1000));
    CHECK_EQ_INT(hb.instr_epoch, 1);
    CHECK_EQ_INT(hb.upload_kbps, 2000);
    CHECK_EQ_U64(hb.played_packets, 2);
    CHECK_EQ_U64(hb.missed_packets, 0);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(hb.rx_data_bytes, st.rx_data_bytes);
    CHECK(hb.rx_data_bytes > 0);
    CHECK_EQ_U64(hb.tx_data_bytes, st.tx_data_bytes);
    CHECK_EQ_INT(hb.n_parents, 4);
    for (uint32_t s = 0; s < 4; s++)
        CHECK_EQ_U64(hb.parents[s].parent.v, id_of(1 + s).v);
    /* buffered: 3 (substream 3) and 5 (substream 1) wait behind missing 2 */
    CHECK_EQ_INT(hb.parents[0].buffer_packets, 0);
    CHECK_EQ_INT(hb.parents[1].buffer_packets, 1);
    CHECK_EQ_INT(hb.parents[2].buffer_packets, 0);
    CHECK_EQ_INT(hb.parents[3].buffer_packets, 1);
    CHECK_EQ_U64(hb.parents[0].last_rx_ts_ns, MS(100));
    CHECK_EQ_U64(hb.parents[0].last_rx_seq, 0);
    CHECK_EQ_U64(hb.parents[1].last_rx_ts_ns, MS(110)); /* 5 came from another parent */
    CHECK_EQ_U64(hb.parents[1].last_rx_seq, 1);
    CHECK_EQ_U64(hb.parents[2].last_rx_ts_ns, 0);
    CHECK_EQ_U64(hb.parents[3].last_rx_seq, 3);
    CHECK_EQ_INT(hb.n_children, 2);
    CHECK_EQ_U64(hb.children[0].child.v, id_of(10).v);
    CHECK_EQ_INT(hb.children[0].substream, 1);
    CHECK_EQ_U64(hb.children[0].last_tx_seq, 5);
    CHECK_EQ_U64(hb.children[0].last_tx_ts_ns, MS(150));
    CHECK_EQ_U64(hb.children[1].child.v, id_of(11).v);
    /* the next one a heartbeat later, numbered 2 */
    CHECK_EQ_U64(strata_peer_next_timeout(p) <= MS(2000), 1);
    hb_epoch(p, out, MS(2000), &hb);
    CHECK_EQ_INT(hb.hb_seq, 2);

    /* many children in a heartbeat: as many as fit one datagram, the
     * rest in the next one */
    strata_peer_ref kids[64];
    for (uint32_t i = 0; i < 64; i++)
        kids[i] = ref_of(100 + i);
    feed_instr(p, 2, 4, 1, ref_of(2), kids, 64, MS(2100));
    int seen[64] = {0};
    for (uint64_t t = MS(3000); t <= MS(4000); t += MS(1000)) {
        hb_epoch(p, out, t, &hb);
        CHECK_EQ_INT(hb.n_children, 50);
        CHECK_EQ_INT(out->items[0].buf->len, 87 + 4 * 28 + 50 * 25);
        for (size_t i = 0; i < hb.n_children; i++) {
            uint64_t c = hb.children[i].child.v - id_of(100).v;
            CHECK(c < 64 && hb.children[i].substream == 1);
            if (c < 64)
                seen[c] = 1;
        }
    }
    for (size_t i = 0; i < 64; i++)
        CHECK(seen[i]);
    sent_clear(out);
    strata_peer_del(p);
}

/* A heartbeat names the DCM of the newest instruction applied and its
 * level (protocol.md 3.2): a node promoted to a preferred node reports the
 * mesh above its region, so a restarted control center puts it back there;
 * an older instruction of another DCM changes nothing. */
static void test_heartbeat_names_dcm(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    strata_msg_heartbeat hb;
    hb_epoch(p, out, MS(1000), &hb);
    CHECK_EQ_INT(hb.dcm.v, 3); /* member() applied DCM 3's instructions */
    CHECK_EQ_INT(hb.level, 0); /* which named no level */
    sent_clear(out);
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.node = ME;
    m.k = 4;
    m.algorithm = STRATA_ALG_FLOOD;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (uint8_t s = 0; s < 4; s++) {
        m.dcm.v = 7;
        m.level = 1;
        m.epoch = 9;
        m.substream = s;
        CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(1100)),
                     0);
    }
    m.dcm.v = 8; /* older: superseded */
    m.level = 2;
    m.epoch = 5;
    m.algorithm = STRATA_ALG_TREE;
    CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(1200)), 0);
    hb_epoch(p, out, MS(2000), &hb);
    CHECK_EQ_INT(hb.dcm.v, 7);
    CHECK_EQ_INT(hb.level, 1);
    CHECK_EQ_INT(hb.instr_epoch, 9);
    sent_clear(out);
    strata_peer_del(p);
}

/* A preferred node's mesh neighbours change (a rebuilt mesh): packets from
 * the replaced ones are still taken for the grace a replaced parent gets
 * (they flood on their old instructions until their new ones arrive), and
 * dropped as from strangers after it. */
static void test_old_neighbours_grace(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.node = ME;
    m.k = 4;
    m.dcm.v = 7;
    m.level = 1;
    m.algorithm = STRATA_ALG_FLOOD;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (int round = 0; round < 2; round++) {
        /* neighbours 20, 21 first; then 30, 31 */
        m.epoch = (uint32_t)(9 + round);
        m.n_children = 2;
        m.children[0] = ref_of(20u + 10u * (uint32_t)round);
        m.children[1] = ref_of(21u + 10u * (uint32_t)round);
        for (uint8_t s = 0; s < 4; s++) {
            m.substream = s;
            CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m),
                              MS(1000 + 1000 * (uint64_t)round)),
                         0);
        }
    }
    /* the new neighbours, and the old ones within the grace */
    CHECK_EQ_INT(feed_data(p, addr_of(30), 100, 4, 0, MS(2100)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(20), 101, 4, 0, MS(2100)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(21), 102, 4, 0, MS(3999)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(22), 103, 4, 0, MS(2100)), STRATA_ERR_SENDER);
    /* after it, strangers again */
    CHECK_EQ_INT(feed_data(p, addr_of(20), 104, 4, 0, MS(4000)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed_data(p, addr_of(31), 105, 4, 0, MS(4000)), 0);
    drain(p, out);
    sent_clear(out);
    strata_peer_del(p);
}

/* A waypoint (protocol.md 3.3.4): its JOINs say WAYPOINT, it plays
 * nothing, relays what it is told; answered STANDBY after a restarted
 * control center forgot it, it drops its old instructions and relays
 * nothing more. */
static void test_waypoint(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.waypoint = 1;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    CHECK(p != NULL);
    if (!p)
        return;
    strata_peer_handle_timeout(p, 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);
    if (out->n >= 1) {
        strata_msg_join j;
        CHECK(strata_wire_decode_join(out->items[0].buf->data, out->items[0].buf->len, &j) > 0);
        CHECK_EQ_INT(j.role, STRATA_ROLE_WAYPOINT);
    }
    sent_clear(out);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_STANDBY, 4, 0, 0, MS(10)), 0);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, MS(1100)), 0);
    strata_peer_ref kids[2] = {ref_of(10), ref_of(11)};
    for (uint8_t s = 0; s < 4; s++)
        feed_instr(p, 1, 4, s, ref_of(1u + s), kids, 2, MS(1100));
    CHECK_EQ_INT(feed_data(p, addr_of(1), 0, 4, 0, MS(1200)), 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 2); /* relayed */
    CHECK_EQ_U64(pl.len, 0);                            /* played nothing */
    sent_clear(out);
    /* forgotten, then told to wait */
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_UNKNOWN, 4, 0, 0, MS(1300)), 0);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_STANDBY, 4, 0, 0, MS(1400)), 0);
    CHECK(feed_data(p, addr_of(2), 1, 4, 0, MS(1500)) < 0); /* no trees: dropped */
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 0);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 0);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.joins_standby, 2);
    sent_clear(out);
    strata_peer_del(p);
}

/* A peer with more child links than a heartbeat holds reports each of them
 * within ceil(links / room) heartbeats, every window of that many
 * heartbeats in a row, however the links are spread over substreams. */
static void test_heartbeat_round_robin(sent_list *out)
{
    enum { K16 = 16 };
    static const struct {
        uint8_t k;
        uint8_t per_sub[K16]; /* children of each substream */
    } cases[] = {
        {16, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}},  /* 144 links, room 37 */
        {16, {64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, /* 65 links */
        {4, {64, 64, 64, 64}},                                   /* 256 links, room 50 */
        {2, {53, 1}},                                            /* 54 links, room 53 */
        {2, {53, 0}},                                            /* exactly full */
        {1, {3}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        uint8_t k = cases[ci].k;
        played pl;
        memset(&pl, 0, sizeof pl);
        strata_peer_config cfg = base_cfg();
        strata_peer_callbacks cb = {on_play, on_end, &pl};
        strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
        strata_peer_handle_timeout(p, 0);
        feed_reply(p, STRATA_JOIN_OK, k, 0, 0, 0);
        size_t links = 0;
        for (uint8_t s = 0; s < k; s++) {
            strata_peer_ref kids[STRATA_WIRE_MAX_CHILDREN];
            for (uint32_t j = 0; j < cases[ci].per_sub[s]; j++)
                kids[j] = ref_of(1000 + 100u * s + j);
            feed_instr(p, 1, k, s, ref_of(1), kids, cases[ci].per_sub[s], 0);
            links += cases[ci].per_sub[s];
        }
        size_t room = strata_wire_hb_max_children(k);
        size_t want = links < room ? links : room;
        size_t rounds = (links + room - 1) / room;
        /* seen[s][j]: heartbeat number that last reported link (s, j) */
        static size_t seen[K16][STRATA_WIRE_MAX_CHILDREN];
        memset(seen, 0, sizeof seen);
        int failures_before = test_failures;
        for (size_t h = 1; h <= 3 * rounds + 2; h++) {
            strata_msg_heartbeat hb;
            hb_epoch(p, out, MS(1000 * h), &hb);
            CHECK_EQ_INT(hb.n_children, (long long)want);
            CHECK(out->items[0].buf->len <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
            for (size_t i = 0; i < hb.n_children; i++) {
                unsigned s = hb.children[i].substream;
                uint64_t j = hb.children[i].child.v - id_of(1000 + 100u * s).v;
                CHECK(s < k && j < cases[ci].per_sub[s < k ? s : 0]);
                if (s >= k || j >= cases[ci].per_sub[s])
                    continue;
                CHECK(seen[s][j] != h); /* once per heartbeat */
                seen[s][j] = h;
            }
            /* every link reported within the last `rounds` heartbeats */
            if (h < rounds)
                continue;
            for (uint8_t s = 0; s < k; s++)
                for (uint32_t j = 0; j < cases[ci].per_sub[s]; j++)
                    CHECK(seen[s][j] + rounds > h);
        }
        if (test_failures != failures_before)
            fprintf(stderr, "  round robin case %zu: k %u, %zu links, room %zu\n", ci, (unsigned)k,
                    links, room);
        sent_clear(out);
        strata_peer_del(p);
    }
}

static void test_bad_input(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    /* PROBE is the node's to answer (test_node), not a channel's */
    strata_msg_probe pr = {id_of(70), 12345, 987654321};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(feed(p, addr_of(70), b, strata_wire_encode_probe(b, sizeof b, &pr), MS(5)),
                 STRATA_ERR_UNEXPECTED);
    drain(p, out);
    CHECK(find_type(out, STRATA_MSG_PROBE_REPLY, 0) == NULL);

    uint8_t junk[3] = {1, 2, 3};
    CHECK_EQ_INT(strata_peer_handle_datagram(p, addr_of(70), junk, 3, MS(6)), STRATA_ERR_SHORT);
    uint8_t magic[8] = {'X', 'Y', 1, 1, 0, 0, 0, 0};
    CHECK_EQ_INT(strata_peer_handle_datagram(p, addr_of(70), magic, 8, MS(6)), STRATA_ERR_MAGIC);
    int n = encode_data(b, sizeof b, 0, 4, 0, 0);
    CHECK_EQ_INT(strata_peer_handle_datagram(p, addr_of(70), b, (size_t)n - 1, MS(6)),
                 STRATA_ERR_SHORT);
    /* wrong substream for the seq (from a parent: a stranger's is
     * dropped before it is looked at) */
    n = encode_data(b, sizeof b, 5, 3, 0, 0);
    CHECK_EQ_INT(feed(p, addr_of(70), b, n, MS(6)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed(p, addr_of(1), b, n, MS(6)), STRATA_ERR_RANGE);
    /* out of window */
    CHECK_EQ_INT(feed_data(p, addr_of(1), STRATA_PEER_DEFAULT_STORE_PACKETS + 4, 4, 0, MS(6)),
                 STRATA_ERR_RANGE);
    /* another channel */
    strata_msg_data d;
    memset(&d, 0, sizeof d);
    d.channel.v = 999;
    CHECK_EQ_INT(feed(p, addr_of(70), b, strata_wire_encode_data(b, sizeof b, &d), MS(6)),
                 STRATA_ERR_UNEXPECTED);
    /* types a peer does not take */
    strata_msg_leave lv = {id_of(70), chan(), {3}};
    CHECK_EQ_INT(feed(p, addr_of(70), b, strata_wire_encode_leave(b, sizeof b, &lv), MS(6)),
                 STRATA_ERR_UNEXPECTED);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.drops.total, 9);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_SENDER], 1);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_SHORT], 2);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_MAGIC], 1);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_RANGE], 2);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNEXPECTED], 3);
    CHECK_EQ_U64(st.rx_data_packets, 0);

    /* leave: LEAVE to the control center, then nothing is taken */
    strata_peer_leave(p, MS(10));
    drain(p, out);
    CHECK_EQ_U64(out->n, 1);
    const sent *l = find_type(out, STRATA_MSG_LEAVE, 0);
    CHECK(l != NULL);
    if (l) {
        strata_msg_leave m;
        CHECK(strata_wire_decode_leave(l->buf->data, l->buf->len, &m) > 0);
        CHECK(strata_addr_eq(l->to, CONTROL));
        CHECK_EQ_U64(m.node.v, ME.v);
        CHECK_EQ_U64(m.channel.v, chan().v);
        CHECK_EQ_INT(m.dcm.v, 3);
    }
    CHECK_EQ_INT(feed_data(p, addr_of(1), 0, 4, 0, MS(11)), STRATA_ERR_UNEXPECTED);
    strata_peer_get_stats(p, &st);
    CHECK_EQ_INT(st.state, STRATA_PEER_LEFT);
    CHECK_EQ_U64(st.rx_data_packets, 0);
    CHECK_EQ_U64(strata_peer_next_timeout(p), STRATA_NEVER);
    strata_peer_leave(p, MS(12));
    drain(p, out);
    CHECK_EQ_U64(out->n, 0);
    sent_clear(out);
    strata_peer_del(p);
}

static void test_late_join(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    /* data before the reply is not taken */
    CHECK_EQ_INT(feed_data(p, addr_of(1), 104, 4, 0, MS(1)), STRATA_ERR_UNEXPECTED);
    feed_reply(p, STRATA_JOIN_OK, 4, 800, 100, MS(2));
    adopt_parents(p, MS(2));
    /* the first packet is 105: start at max(100, 105 - 3) = 102 */
    CHECK_EQ_INT(feed_data(p, addr_of(2), 105, 4, 0, MS(3)), 0);
    CHECK_EQ_U64(pl.len, 0);
    CHECK_EQ_INT(feed_data(p, addr_of(1), 101, 4, 0, MS(4)), STRATA_ERR_RANGE);
    feed_data(p, addr_of(4), 103, 4, 0, MS(5));
    feed_data(p, addr_of(1), 104, 4, 0, MS(5));
    CHECK_EQ_U64(pl.len, 0);
    feed_data(p, addr_of(3), 102, 4, 0, MS(6));
    CHECK_EQ_U64(pl.len, 16);
    CHECK_EQ_INT(pl.bytes[0], 102);
    CHECK_EQ_INT(pl.bytes[12], 105);
    /* rate > 0 with start_seq 0: the stream is live, so the peer starts
     * at its first packet too (105 - 3), not at seq 0 */
    strata_peer_del(p);
    memset(&pl, 0, sizeof pl);
    p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 800, 0, MS(2));
    adopt_parents(p, MS(2));
    CHECK_EQ_INT(feed_data(p, addr_of(2), 105, 4, 0, MS(3)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(1), 101, 4, 0, MS(4)), STRATA_ERR_RANGE);
    CHECK_EQ_INT(feed_data(p, addr_of(3), 102, 4, 0, MS(4)), 0);
    CHECK_EQ_U64(pl.len, 4);
    drain(p, out);
    sent_clear(out);
    /* a later start_seq wins over the first packet */
    strata_peer_del(p);
    memset(&pl, 0, sizeof pl);
    p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 800, 500, MS(2));
    adopt_parents(p, MS(2));
    CHECK_EQ_INT(feed_data(p, addr_of(1), 498, 4, 0, MS(3)), STRATA_ERR_RANGE);
    CHECK_EQ_INT(feed_data(p, addr_of(1), 500, 4, 0, MS(3)), 0);
    CHECK_EQ_U64(pl.len, 4);
    drain(p, out);
    sent_clear(out);
    strata_peer_del(p);
}

/* A peer told start_seq 0 for a stream long under way jumps to it after a
 * playout delay of seeing only packets beyond its window. */
static void test_stall_resync(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.store_packets = 64;
    cfg.playout_delay_ms = 1000;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 4, 0, 0, 0);
    adopt_parents(p, 0);
    uint64_t seq = 10000;
    int last = 0;
    for (uint64_t t = 0; t <= MS(1100); t += MS(100))
        last = feed_data_ts(p, addr_of(1), seq++, 4, 0, t, t);
    CHECK_EQ_INT(last, 0); /* the one that made it jump, and was taken */
    CHECK_EQ_INT(feed_data_ts(p, addr_of(1), seq, 4, 0, MS(1200), MS(1200)), 0);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.missed_packets, 0); /* never played: a late start, not a loss */
    CHECK_EQ_U64(st.rx_data_packets, 2);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_RANGE], 11);
    drain(p, out);
    sent_clear(out);
    strata_peer_del(p);
}

/* Substream 1's parent (2) stopped delivering while the others went on:
 * it is asked last for seq 1, after the other parents and the children. */
static void test_repair_silent_parent(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    for (uint64_t seq = 0; seq <= 24; seq++)
        if (seq % 4 != 1)
            feed_data(p, addr_of(1u + (uint32_t)(seq % 4)), seq, 4, 0, MS(seq * 10));
    drain_gaps(p, out);
    sent_clear(out);
    uint32_t want[] = {3, 4, 1, 10, 11, 2, 3};
    size_t got = 0;
    for (uint64_t t = MS(240); got < 7 && t < MS(2500); t += MS(1)) {
        strata_peer_handle_timeout(p, t);
        drain_gaps(p, out);
        for (size_t i = 0; i < out->n; i++) {
            const strata_buf *b = out->items[i].buf;
            strata_msg_repair m;
            if (out->items[i].type != STRATA_MSG_REPAIR_REQUEST ||
                strata_wire_decode_repair(b->data, b->len, &m) <= 0 || m.first_seq != 1 ||
                got >= 7)
                continue;
            CHECK(strata_addr_eq(out->items[i].to, addr_of(want[got])));
            got++;
        }
        sent_clear(out);
    }
    CHECK_EQ_U64(got, 7);
    strata_peer_del(p);
}

static void test_eos_and_tail(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    feed_data(p, addr_of(1), 0, 4, 0, 0);
    feed_data(p, addr_of(2), 1, 4, 0, 0);
    /* nothing new for half a second: ask for 2..65, each target in turn a
     * retry interval apart (substream 2's rotation with every parent
     * silent and no source known: the children 10 and 11, then parents
     * 3, 4, 1, 2), then back off from 1 s */
    strata_peer_handle_timeout(p, MS(499));
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);
    struct {
        uint64_t at_ms;
        uint32_t to;
    } probes[] = {{500, 10},  {650, 11},  {800, 3},   {950, 4},
                  {1100, 1},  {1250, 2},  {2250, 10}, {4250, 11}};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        strata_peer_handle_timeout(p, MS(probes[i].at_ms) - 1);
        drain(p, out);
        CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);
        strata_peer_handle_timeout(p, MS(probes[i].at_ms));
        drain(p, out);
        uint64_t first = 0, mask = 0;
        strata_addr to = repair_to(out, &first, &mask);
        CHECK(strata_addr_eq(to, addr_of(probes[i].to)));
        CHECK_EQ_U64(first, 2);
        CHECK_EQ_U64(mask, TAIL_MASK);
    }
    /* the source sent 2 and the EOS (seq 3) at 4.2 s; the EOS arrives as
     * an answer, then 2 */
    uint8_t flags = STRATA_DATA_FLAG_EOS | STRATA_DATA_FLAG_REPAIR;
    feed_data_ts(p, addr_of(4), 3, 4, flags, MS(4200), MS(4300));
    CHECK_EQ_INT(pl.ends, 0);
    feed_data_ts(p, addr_of(3), 2, 4, STRATA_DATA_FLAG_REPAIR, MS(4200), MS(4300));
    CHECK_EQ_INT(pl.ends, 1);
    CHECK_EQ_U64(pl.len, 12);
    /* ended: no more tail probes; heartbeats go on */
    strata_peer_handle_timeout(p, MS(20000));
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_REPAIR_REQUEST), 0);
    CHECK_EQ_INT(pl.ends, 1);
    sent_clear(out);
    strata_peer_del(p);
}

/* The rotation and batching helpers on their own (core/repair.c). */
typedef struct batches {
    strata_repair_batch b[8];
    size_t n;
} batches;

static void collect(void *user, const strata_repair_batch *b)
{
    batches *bs = user;
    if (bs->n < 8)
        bs->b[bs->n++] = *b;
}

static void test_repair_helpers(void)
{
    strata_peer_ref parents[4] = {ref_of(1), ref_of(2), ref_of(1), {ME, addr_of(7)}};
    parents[1].addr = (strata_addr){0, 0}; /* no address yet */
    strata_peer_ref source = ref_of(9);
    strata_peer_ref kids[20];
    for (uint32_t i = 0; i < 20; i++)
        kids[i] = ref_of(30 + i);
    kids[0] = ref_of(9); /* already listed as the source */
    strata_addr out[STRATA_REPAIR_MAX_TARGETS];
    /* substream 2: parents[2] (1), parents[3] (self: skipped), parents[0]
     * (1 again), parents[1] (no address), then source 9, then 16 children
     * (the first, already named as the source, skipped) */
    size_t n = strata_repair_targets(parents, 4, 2, 0, &source, kids, 20, ME, out);
    CHECK_EQ_U64(n, 2 + STRATA_REPAIR_MAX_CHILD_TARGETS);
    CHECK(strata_addr_eq(out[0], addr_of(1)));
    CHECK(strata_addr_eq(out[1], addr_of(9)));
    CHECK(strata_addr_eq(out[2], addr_of(31)));
    CHECK_EQ_U64(strata_repair_targets(parents, 4, 0, 0, NULL, NULL, 0, ME, out), 1);
    /* A silent parent is asked after the source and the children. */
    strata_peer_ref four[4] = {ref_of(1), ref_of(2), ref_of(3), ref_of(4)};
    n = strata_repair_targets(four, 4, 1, 1u << 1 | 1u << 3, &source, kids + 1, 2, ME, out);
    CHECK_EQ_U64(n, 7);
    static const uint32_t order[7] = {3, 1, 9, 31, 32, 2, 4};
    for (size_t i = 0; i < 7 && i < n; i++)
        CHECK(strata_addr_eq(out[i], addr_of(order[i])));

    batches bs;
    memset(&bs, 0, sizeof bs);
    strata_repair_batcher b;
    strata_repair_batcher_init(&b, collect, &bs);
    strata_repair_batcher_add(&b, addr_of(1), 100);
    strata_repair_batcher_add(&b, addr_of(2), 101);
    strata_repair_batcher_add(&b, addr_of(1), 163); /* last bit of the span */
    strata_repair_batcher_add(&b, addr_of(1), 164); /* opens the next span */
    CHECK_EQ_U64(bs.n, 1);
    strata_repair_batcher_flush(&b);
    CHECK_EQ_U64(bs.n, 3);
    CHECK_EQ_U64(bs.b[0].first_seq, 100);
    CHECK_EQ_U64(bs.b[0].mask, 1ull | (1ull << 63));
    CHECK(strata_addr_eq(bs.b[1].to, addr_of(1)));
    CHECK_EQ_U64(bs.b[1].first_seq, 164);
    CHECK_EQ_U64(bs.b[1].mask, 1);
    CHECK(strata_addr_eq(bs.b[2].to, addr_of(2)));
    CHECK_EQ_U64(bs.b[2].mask, 1);
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

/* Memory: the peer object no longer holds room for 16 substreams of 64
 * children; per-substream state grows with k and the children named. */
typedef struct sizing {
    size_t first, largest_after;
    int n;
} sizing;
static void *s_alloc(void *user, size_t size)
{
    sizing *z = user;
    if (z->n++ == 0)
        z->first = size;
    else if (z->n > 4 && size > z->largest_after)
        z->largest_after = size; /* after the object, store, playout, outbox */
    return malloc(size);
}
static void *s_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    return realloc(ptr, size);
}
static void s_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void test_memory(sent_list *out)
{
    sizing z;
    memset(&z, 0, sizeof z);
    strata_alloc a = {s_alloc, s_realloc, s_free, &z};
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, &a, 0);
    CHECK(p != NULL);
    if (!p)
        return;
    /* was over 40 kB; 2 kB and the MESH_TREE pointer and counters since */
    CHECK(z.first < 2112);
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 2, 0, 0, 0);
    strata_peer_ref kids[2] = {ref_of(10), ref_of(11)};
    feed_instr(p, 1, 2, 0, ref_of(1), kids, 2, 0);
    feed_instr(p, 1, 2, 1, ref_of(2), NULL, 0, 0);
    feed_data(p, addr_of(1), 0, 2, 0, 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 2); /* relayed to both children */
    sent_clear(out);
    /* k = 16 with a new epoch: the state grows and still works */
    feed_instr(p, 2, 16, 15, ref_of(3), kids, 1, 0);
    feed_data(p, addr_of(3), 15, 16, 0, 0);
    drain(p, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 1);
    sent_clear(out);
    strata_peer_del(p);
}

/* A scenario touching every allocating path; returns allocations made. */
static int scenario(const strata_alloc *a, sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer_config cfg = base_cfg();
    cfg.store_packets = 64;
    strata_peer_callbacks cb = {on_play, on_end, &pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, a, 0);
    if (!p)
        return 0;
    strata_peer_handle_timeout(p, 0);
    feed_reply(p, STRATA_JOIN_OK, 2, 0, 0, 0);
    strata_peer_ref kids[1] = {ref_of(10)};
    feed_instr(p, 1, 2, 0, ref_of(1), kids, 1, 0);
    feed_data(p, addr_of(1), 0, 2, 0, 0);
    feed_data(p, addr_of(1), 2, 2, 0, 0);
    feed_data(p, addr_of(1), 4, 2, STRATA_DATA_FLAG_EOS, 0);
    strata_msg_repair req = {id_of(50), chan(), 0, 7};
    uint8_t b[64];
    feed(p, addr_of(50), b, strata_wire_encode_repair(b, sizeof b, &req), 0);
    strata_peer_handle_timeout(p, MS(1000));
    strata_peer_handle_timeout(p, MS(5000));
    strata_peer_leave(p, MS(5001));
    drain(p, out);
    sent_clear(out);
    strata_peer_del(p);
    return 1;
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
        scenario(&b, out); /* must neither crash nor leak (ASan) */
    }
}

/* The control center forgot a member (declared it dead after lost
 * heartbeats): UNKNOWN makes it join again at once, while it keeps relaying
 * and playing; the OK that follows does not restart its playout. */
static void test_forgotten_rejoins(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    for (uint64_t s = 0; s < 4; s++)
        CHECK_EQ_INT(feed_data(p, addr_of(1u + (uint32_t)s), s, 4, 0, MS(10)), 0);
    strata_peer_handle_timeout(p, MS(10));
    size_t before = pl.len;
    CHECK(before > 0);
    /* UNKNOWN for another node is ignored; for us it starts a join. */
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_UNKNOWN, 4, 0, 0, MS(20)), 0);
    strata_peer_handle_timeout(p, MS(20));
    drain(p, out);
    CHECK(find_type(out, STRATA_MSG_JOIN, 0) != NULL);
    sent_clear(out);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.rejoins, 1);
    CHECK_EQ_INT(st.state, STRATA_PEER_MEMBER);
    /* Still relaying and playing while it waits for the answer. */
    CHECK_EQ_INT(feed_data(p, addr_of(2), 5, 4, 0, MS(30)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(1), 4, 4, 0, MS(30)), 0);
    strata_peer_handle_timeout(p, MS(30));
    drain(p, out);
    CHECK(find_type(out, STRATA_MSG_DATA, 0) != NULL); /* seq 5 to the children of substream 1 */
    sent_clear(out);
    CHECK(pl.len > before);
    /* A second UNKNOWN while joining again changes nothing; the retry
     * comes after join_retry_ms. */
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_UNKNOWN, 4, 0, 0, MS(40)), 0);
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.rejoins, 1);
    /* The answer: a member again, playout where it was (seq 6 plays next). */
    size_t at = pl.len;
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 4, 1000, 2, MS(50)), 0);
    CHECK_EQ_INT(feed_data(p, addr_of(3), 6, 4, 0, MS(60)), 0);
    strata_peer_handle_timeout(p, MS(60));
    CHECK(pl.len > at);
    strata_peer_handle_timeout(p, MS(2000));
    drain(p, out);
    CHECK(find_type(out, STRATA_MSG_JOIN, 0) == NULL); /* no more JOINs */
    sent_clear(out);
    strata_peer_del(p);
}

/* A member given another region label joins again under it at once, plays
 * on meanwhile, takes the answer (a new DCM) and stops joining. The same
 * label changes nothing; a label too long is refused. */
static void test_region_change(sent_list *out)
{
    played pl;
    memset(&pl, 0, sizeof pl);
    strata_peer *p = member(&pl, 0);
    for (uint64_t s = 0; s < 4; s++)
        CHECK_EQ_INT(feed_data(p, addr_of(1u + (uint32_t)s), s, 4, 0, MS(10)), 0);
    strata_peer_handle_timeout(p, MS(10));
    drain(p, out);
    sent_clear(out);
    CHECK_EQ_INT(strata_peer_set_region(p, "eu", MS(15)), 0); /* base_cfg's label */
    CHECK(strata_peer_next_timeout(p) > MS(15));
    char toolong[STRATA_WIRE_MAX_REGION_BYTES + 2];
    memset(toolong, 'x', sizeof toolong - 1);
    toolong[sizeof toolong - 1] = '\0';
    CHECK_EQ_INT(strata_peer_set_region(p, toolong, MS(15)), STRATA_ERR_RANGE);

    CHECK_EQ_INT(strata_peer_set_region(p, "group:00000000000000ab", MS(20)), 0);
    CHECK_EQ_U64(strata_peer_next_timeout(p), MS(20));
    strata_peer_handle_timeout(p, MS(20));
    drain(p, out);
    const sent *j = find_type(out, STRATA_MSG_JOIN, 0);
    CHECK(j != NULL);
    if (j) {
        strata_msg_join m;
        CHECK(strata_wire_decode_join(j->buf->data, j->buf->len, &m) >= 0);
        CHECK(m.region_len == 22 && memcmp(m.region, "group:00000000000000ab", 22) == 0);
    }
    sent_clear(out);
    size_t before = pl.len;
    CHECK_EQ_INT(feed_data(p, addr_of(1), 4, 4, 0, MS(30)), 0);
    strata_peer_handle_timeout(p, MS(30));
    CHECK(pl.len > before);
    CHECK_EQ_INT(feed_reply(p, STRATA_JOIN_OK, 4, 1000, 2, MS(40)), 0);
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.region_changes, 1);
    CHECK_EQ_INT(st.state, STRATA_PEER_MEMBER);
    strata_peer_handle_timeout(p, MS(2000));
    drain(p, out);
    CHECK(find_type(out, STRATA_MSG_JOIN, 0) == NULL);
    sent_clear(out);
    strata_peer_del(p);
}

int main(void)
{
    sent_list *out = calloc(1, sizeof *out);
    test_join(out);
    test_instructions(out);
    test_relay_and_duplicates(out);
    test_recovered_packets(out);
    test_repair_sequence(out);
    test_repair_silent_parent(out);
    test_repair_timing(out);
    test_repair_budget();
    test_repair_budget_follows_trees();
    test_repair_budget_shrinks_with_children(out);
    test_region_change(out);
    test_repair_refused(out);
    test_config_timers(out);
    test_repair_source(out);
    test_answer_repairs(out);
    test_heartbeat(out);
    test_heartbeat_names_dcm(out);
    test_old_neighbours_grace(out);
    test_waypoint(out);
    test_heartbeat_round_robin(out);
    test_bad_input(out);
    test_late_join(out);
    test_stall_resync(out);
    test_eos_and_tail(out);
    test_forgotten_rejoins(out);
    test_repair_helpers();
    test_memory(out);
    test_alloc_failure(out);
    sent_clear(out);
    free(out);
    return test_summary("test_peer");
}
