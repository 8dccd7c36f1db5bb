/*
 * The tree inside the mesh (MESH_TREE, core/peer_mesh.c and relay_mesh.c;
 * protocol.md 3.4 and 3.13). The test plays the control center and the
 * peer's mesh neighbours A, B and C: it feeds instructions, DATA and
 * MESH_STATE, and reads what the peer queues; it owns the clock.
 */
#include "testutil.h"
#include "outbox_capture.h"

#include "strata/peer.h"
#include "strata/wire.h"

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x0a000001, 7000};
static const strata_node_id ME = {0x5e1f};
enum { A = 20, B = 21, C = 22, ROOT = 30, SOURCE = 99, K = 4 };

static strata_addr addr_of(uint32_t n)
{
    return (strata_addr){0x0a000100u + n, 7000};
}
static strata_peer_ref ref_of(uint32_t n)
{
    return (strata_peer_ref){{0x1000u + n}, addr_of(n)};
}
static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("news", 4);
}

typedef struct played {
    uint64_t packets;
} played;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    ((played *)user)->packets++;
}

static int feed(strata_peer *p, strata_addr from, const uint8_t *buf, int len, uint64_t now)
{
    CHECK(len > 0);
    return len > 0 ? strata_peer_handle_datagram(p, from, buf, (size_t)len, now) : -1000;
}

static int feed_data(strata_peer *p, uint32_t from, uint64_t seq, uint64_t now)
{
    uint8_t pay[4] = {(uint8_t)seq, (uint8_t)(seq >> 8), 0xab, 0xcd};
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.seq = seq;
    m.substream = (uint8_t)(seq % K);
    m.send_ts_ns = MS(seq * 10);
    m.payload = pay;
    m.payload_len = sizeof pay;
    uint8_t b[128];
    return feed(p, addr_of(from), b, strata_wire_encode_data(b, sizeof b, &m), now);
}

/* A MESH_STATE from neighbour n (node id node_of, usually its own). */
static int feed_state(strata_peer *p, uint32_t n, uint64_t node, uint32_t want, uint64_t top,
                      const uint16_t *behind, uint64_t now)
{
    strata_msg_mesh_state m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.node.v = node;
    m.k = K;
    m.want = want;
    m.top = top;
    for (unsigned s = 0; s < K; s++)
        m.behind[s] = behind ? behind[s] : 0;
    uint8_t b[STRATA_WIRE_MESH_STATE_MAX_BYTES];
    return feed(p, addr_of(n), b, strata_wire_encode_mesh_state(b, sizeof b, &m), now);
}

/* A preferred node's peer: MESH_TREE in every substream with neighbours
 * A, B, C and the root ROOT of a region's tree after them. */
static strata_peer *mesh_member(played *pl, sent_list *out)
{
    strata_peer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ME;
    cfg.channel = "news";
    cfg.control = CONTROL;
    cfg.upload_kbps = 8000;
    cfg.seed = 1;
    strata_peer_callbacks cb = {on_play, NULL, pl};
    strata_peer *p = strata_peer_new(&cfg, &cb, NULL, 0);
    CHECK(p != NULL);
    if (!p)
        return NULL;
    strata_peer_handle_timeout(p, 0);
    strata_msg_join_reply r = {ME, chan(), STRATA_JOIN_OK, {3}, K, 1000, 1000, 0};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r), 0), 0);
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.dcm.v = 3;
    m.channel = chan();
    m.node = ME;
    m.epoch = 1;
    m.k = K;
    m.level = 1;
    m.algorithm = STRATA_ALG_MESH_TREE;
    m.source = ref_of(SOURCE);
    m.n_neighbours = 3;
    m.n_children = 4;
    m.children[0] = ref_of(A);
    m.children[1] = ref_of(B);
    m.children[2] = ref_of(C);
    m.children[3] = ref_of(ROOT);
    for (uint8_t s = 0; s < K; s++) {
        m.substream = s;
        CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), 0), 0);
    }
    capture_outbox(strata_peer_outbox(p), out);
    sent_clear(out);
    return p;
}

/* DATA of seq queued for n in out. */
static int sent_to(const sent_list *out, uint32_t n, uint64_t seq)
{
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_data d;
        if (out->items[i].type == STRATA_MSG_DATA && strata_addr_eq(out->items[i].to, addr_of(n)) &&
            strata_wire_decode_data(out->items[i].buf->data, out->items[i].buf->len, &d) > 0 &&
            d.seq == seq)
            return 1;
    }
    return 0;
}

static size_t data_to(const sent_list *out, uint32_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < out->n; i++)
        c += out->items[i].type == STRATA_MSG_DATA && strata_addr_eq(out->items[i].to, addr_of(n));
    return c;
}

/* The want bits of the MESH_STATE queued for n, or -1 without one. */
static long long want_to(const sent_list *out, uint32_t n)
{
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_mesh_state m;
        if (out->items[i].type == STRATA_MSG_MESH_STATE &&
            strata_addr_eq(out->items[i].to, addr_of(n)) &&
            strata_wire_decode_mesh_state(out->items[i].buf->data, out->items[i].buf->len, &m) > 0)
            return m.want;
    }
    return -1;
}

/* A neighbour is pushed a substream only while its MESH_STATE wants it
 * from us; one that never said anything gets everything (as in FLOOD); a
 * root the node feeds always does. */
static void test_pushes_follow_wants(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    CHECK_EQ_INT(feed_data(p, A, 0, MS(10)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(!sent_to(out, A, 0) && sent_to(out, B, 0) && sent_to(out, C, 0) && sent_to(out, ROOT, 0));
    /* B takes everything elsewhere; C wants substream 0 from us */
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + B, 0, 0, NULL, MS(20)), 0);
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0x1, 0, NULL, MS(20)), 0);
    CHECK_EQ_INT(feed_data(p, A, 4, MS(30)), 0); /* substream 0 */
    CHECK_EQ_INT(feed_data(p, A, 5, MS(30)), 0); /* substream 1 */
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(!sent_to(out, B, 4) && sent_to(out, C, 4) && sent_to(out, ROOT, 4));
    CHECK(!sent_to(out, B, 5) && !sent_to(out, C, 5) && sent_to(out, ROOT, 5));
    /* and again when B changes its mind */
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + B, 0x2, 0, NULL, MS(40)), 0);
    CHECK_EQ_INT(feed_data(p, A, 9, MS(50)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(sent_to(out, B, 9) && !sent_to(out, C, 9));
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.mesh_states_rx, 3);
    sent_clear(out);
    strata_peer_del(p);
}

/* The first copy and the first duplicate of a substream name its two
 * upstreams; the node's MESH_STATE then wants the substream from them
 * only, and every substream it has no upstreams for yet from everyone.
 * Its heartbeat reports the substreams as FLOOD's (no parent). */
static void test_upstreams_from_copies(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    CHECK_EQ_INT(feed_data(p, A, 0, MS(10)), 0); /* substream 0: A first */
    CHECK_EQ_INT(feed_data(p, B, 0, MS(12)), 0); /* then B, a duplicate */
    CHECK_EQ_INT(feed_data(p, C, 0, MS(14)), 0); /* C: both slots taken */
    CHECK_EQ_INT(feed_data(p, C, 1, MS(15)), 0); /* substream 1: C */
    capture_outbox(strata_peer_outbox(p), out);
    strata_peer_handle_timeout(p, MS(100));
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_MESH_STATE), 3); /* one per neighbour, none to ROOT */
    /* 0 from A and B, its two upstreams; 1 has a free slot, 2 and 3 no
     * upstream yet: from everyone */
    CHECK_EQ_INT(want_to(out, A), 0xf);
    CHECK_EQ_INT(want_to(out, B), 0xf);
    CHECK_EQ_INT(want_to(out, C), 0xe);
    CHECK_EQ_INT(want_to(out, ROOT), -1);
    /* the states say how far the node is in each substream */
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_mesh_state m;
        if (out->items[i].type != STRATA_MSG_MESH_STATE ||
            strata_wire_decode_mesh_state(out->items[i].buf->data, out->items[i].buf->len, &m) <= 0)
            continue;
        CHECK_EQ_U64(m.top, 1);
        CHECK_EQ_INT(m.behind[0], 1);
        CHECK_EQ_INT(m.behind[1], 0);
        CHECK_EQ_INT(m.behind[2], STRATA_MESH_STATE_BEHIND_NONE);
    }
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.rx_duplicates, 2);
    CHECK_EQ_U64(st.mesh_states_tx, 3);
    sent_clear(out);
    strata_peer_del(p);
}

/* A neighbour that turns to us for a substream first gets what we hold of
 * it beyond the point its MESH_STATE reports, then the live packets. One
 * that holds none of it yet gets only the live ones (no window's burst). */
static void test_backfill(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    /* C takes everything elsewhere */
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0, 0, NULL, MS(5)), 0);
    for (uint64_t q = 0; q < 20; q++)
        CHECK_EQ_INT(feed_data(p, A, q, MS(10 + q)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(data_to(out, C), 0);
    /* C holds up to 7, and of substream 0 up to 4 (7 - 3): it gets 8, 12, 16 */
    uint16_t behind[K] = {3, 2, 1, 0};
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0x1, 7, behind, MS(40)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(data_to(out, C), 3);
    CHECK(sent_to(out, C, 8) && sent_to(out, C, 12) && sent_to(out, C, 16));
    /* asked again (still wanting): nothing is sent twice */
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0x1, 7, behind, MS(50)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(data_to(out, C), 0);
    /* substream 1 from a C that holds none of it: live packets only */
    uint16_t none[K] = {0, STRATA_MESH_STATE_BEHIND_NONE, 0, 0};
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0x3, 16, none, MS(60)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(data_to(out, C), 0);
    CHECK_EQ_INT(feed_data(p, A, 21, MS(70)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(sent_to(out, C, 21));
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.mesh_backfill_packets, 3);
    sent_clear(out);
    strata_peer_del(p);
}

/* Both upstreams of a substream fall silent (no data, no MESH_STATE) while
 * C reports holding more of it: their slots are freed, the node wants the
 * substream from everyone (C included), and plays on from what C sends,
 * the packets it missed meanwhile first: nothing is lost. */
static void test_upstreams_gone(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    uint64_t t = MS(10);
    uint64_t q = 0;
    for (; q < 8; q++) { /* every substream from A, its duplicates from B */
        CHECK_EQ_INT(feed_data(p, A, q, t), 0);
        CHECK_EQ_INT(feed_data(p, B, q, t + MS(1)), 0);
    }
    CHECK_EQ_INT(feed_state(p, A, 0x1000u + A, 0xf, 7, NULL, t), 0);
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + B, 0xf, 7, NULL, t), 0);
    CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0, 7, NULL, t), 0);
    strata_peer_handle_timeout(p, MS(100));
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_INT(want_to(out, C), 0); /* A and B carry everything */
    /* A and B die; C moves on. Within about three rounds the node wants
     * everything from C. */
    uint64_t now = MS(150);
    long long want = 0;
    for (; now <= MS(600) && want != 0xf; now += MS(50)) {
        CHECK_EQ_INT(feed_state(p, C, 0x1000u + C, 0, 8 + now / MS(50), NULL, now), 0);
        strata_peer_handle_timeout(p, now);
        capture_outbox(strata_peer_outbox(p), out);
        if (want_to(out, C) >= 0)
            want = want_to(out, C);
    }
    CHECK_EQ_INT(want, 0xf);
    CHECK(now <= MS(450));
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    /* both slots of every substream freed; C took one of each */
    CHECK_EQ_U64(st.mesh_upstream_moves, 3 * K);
    /* C backfills from where the node is, then goes on: every packet plays */
    for (; q < 40; q++) {
        CHECK_EQ_INT(feed_data(p, C, q, now + MS(q)), 0);
        strata_peer_handle_timeout(p, now + MS(q));
    }
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.repair_requests_sent, 0); /* the tree mended itself */
    strata_peer_handle_timeout(p, STRATA_S(10));
    CHECK_EQ_U64(pl.packets, 40);
    sent_clear(out);
    strata_peer_del(p);
}

/* Only the neighbours an instruction names, under their own node ids, say
 * what they want: a root child, a stranger, a neighbour's address with
 * another id, and a state of another k are refused and counted. */
static void test_state_senders(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    CHECK_EQ_INT(feed_state(p, ROOT, 0x1000u + ROOT, 0, 0, NULL, MS(5)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed_state(p, 77, 0x1000u + 77, 0, 0, NULL, MS(5)), STRATA_ERR_SENDER);
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + C, 0, 0, NULL, MS(5)), STRATA_ERR_SENDER);
    strata_msg_mesh_state m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.node = ref_of(B).node;
    m.k = 2;
    uint8_t b[STRATA_WIRE_MESH_STATE_MAX_BYTES];
    CHECK_EQ_INT(feed(p, addr_of(B), b, strata_wire_encode_mesh_state(b, sizeof b, &m), MS(5)),
                 STRATA_ERR_UNEXPECTED);
    /* nothing changed: every neighbour but the sender still gets the packet */
    CHECK_EQ_INT(feed_data(p, A, 0, MS(10)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(sent_to(out, B, 0) && sent_to(out, C, 0) && sent_to(out, ROOT, 0));
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    CHECK_EQ_U64(st.mesh_states_rx, 0);
    CHECK_EQ_U64(st.drops.total, 4);
    sent_clear(out);
    strata_peer_del(p);
}

/* Back to FLOOD (or a TREE leaf): the node stops sending MESH_STATE and
 * pushes to every neighbour again, whatever they say. */
static void test_back_to_flood(sent_list *out)
{
    played pl = {0};
    strata_peer *p = mesh_member(&pl, out);
    if (!p)
        return;
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + B, 0, 0, NULL, MS(5)), 0);
    strata_msg_instruction m;
    memset(&m, 0, sizeof m);
    m.dcm.v = 3;
    m.channel = chan();
    m.node = ME;
    m.epoch = 2;
    m.k = K;
    m.level = 1;
    m.algorithm = STRATA_ALG_FLOOD;
    m.n_children = 3;
    m.children[0] = ref_of(A);
    m.children[1] = ref_of(B);
    m.children[2] = ref_of(C);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (uint8_t s = 0; s < K; s++) {
        m.substream = s;
        CHECK_EQ_INT(feed(p, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(6)),
                     0);
    }
    CHECK_EQ_U64(strata_peer_next_timeout(p) > MS(200), 1);
    strata_peer_handle_timeout(p, MS(300));
    CHECK_EQ_INT(feed_data(p, A, 0, MS(310)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_MESH_STATE), 0);
    CHECK(sent_to(out, B, 0) && sent_to(out, C, 0));
    /* a neighbour still on MESH_TREE (--top auto mixes them) is ignored,
     * not dropped, and changes nothing; a stranger's state is dropped */
    CHECK_EQ_INT(feed_state(p, B, 0x1000u + B, 0, 0, NULL, MS(320)), 0);
    CHECK_EQ_INT(feed_data(p, A, 1, MS(330)), 0);
    capture_outbox(strata_peer_outbox(p), out);
    CHECK(sent_to(out, B, 1));
    CHECK_EQ_INT(feed_state(p, ROOT, 0x1000u + ROOT, 0, 0, NULL, MS(340)), STRATA_ERR_UNEXPECTED);
    sent_clear(out);
    strata_peer_del(p);
}

int main(void)
{
    sent_list *out = calloc(1, sizeof *out);
    if (!out)
        return 1;
    test_pushes_follow_wants(out);
    test_upstreams_from_copies(out);
    test_backfill(out);
    test_upstreams_gone(out);
    test_state_senders(out);
    test_back_to_flood(out);
    sent_clear(out);
    free(out);
    return test_summary("test_peer_mesh");
}
