/*
 * Node authentication (core/auth.h, protocol.md 3.12): the trailer codec
 * at every length, the replay window, the key exchange; then whole nodes
 * (a control process, a source, peers, one in two channels) in an
 * in-memory world where a forger sends each forgery of issue 13 item 3: a
 * HEARTBEAT, a LEAVE and a JOIN naming a known node, a replayed
 * heartbeat, an INSTRUCTION with a higher epoch and an UNKNOWN from the
 * control center's address. Each is dropped and counted, nothing moves,
 * and the stream plays on; a restarted control center (a new key, trusted
 * after its UNKNOWN) is obeyed, and a node that pinned the old key refuses
 * it until a control center with that key is back.
 */
#include "auth.h"
#include "strata/node.h"
#include "testutil.h"

#include <sodium.h>

#define MS(x) STRATA_MS(x)

/* --- the module ------------------------------------------------------------ */

static void test_window(void)
{
    strata_auth_window w = {0};
    CHECK(!strata_auth_window_fresh(&w, 0));
    CHECK(strata_auth_window_fresh(&w, 5));
    strata_auth_window_take(&w, 5);
    CHECK(!strata_auth_window_fresh(&w, 5));
    CHECK(strata_auth_window_fresh(&w, 4)); /* out of order, inside the window */
    strata_auth_window_take(&w, 4);
    CHECK(!strata_auth_window_fresh(&w, 4));
    strata_auth_window_take(&w, 5 + STRATA_AUTH_WINDOW);
    CHECK(!strata_auth_window_fresh(&w, 5)); /* too old now */
    CHECK(strata_auth_window_fresh(&w, 6 + STRATA_AUTH_WINDOW));
    CHECK(strata_auth_window_fresh(&w, 6)); /* the oldest place left, never taken */
    strata_auth_window_take(&w, 1000000);
    CHECK(!strata_auth_window_fresh(&w, 1000000 - STRATA_AUTH_WINDOW));
    CHECK(strata_auth_window_fresh(&w, 1000000 - STRATA_AUTH_WINDOW + 1));
}

static void seed_of(uint8_t seed[32], uint8_t v)
{
    memset(seed, v, 32);
}

static void test_keys(void)
{
    uint8_t s1[32], s2[32], npk[32], nsk[32], cpk[32], csk[32];
    seed_of(s1, 1);
    seed_of(s2, 2);
    strata_auth_keypair(npk, nsk, s1);
    strata_auth_keypair(cpk, csk, s2);
    strata_auth_keys a, b, c;
    CHECK_EQ_INT(strata_auth_node_keys(&a, npk, nsk, cpk, 7), 0);
    CHECK_EQ_INT(strata_auth_center_keys(&b, cpk, csk, npk, 7), 0);
    CHECK_EQ_MEM(a.up, b.up, 32);
    CHECK_EQ_MEM(a.down, b.down, 32);
    CHECK(memcmp(a.up, a.down, 32) != 0);
    CHECK_EQ_INT(strata_auth_center_keys(&c, cpk, csk, npk, 8), 0);
    CHECK(memcmp(a.up, c.up, 32) != 0); /* another session, other keys */
}

/* Every trailer: round trip, every shorter length, any byte changed. */
static void test_codec(void)
{
    uint8_t key[32], pk[32];
    seed_of(key, 3);
    seed_of(pk, 4);
    const uint8_t types[] = {STRATA_MSG_HEARTBEAT,   STRATA_MSG_LEAVE,   STRATA_MSG_JOIN,
                             STRATA_MSG_INSTRUCTION, STRATA_MSG_RECRUIT, STRATA_MSG_JOIN_REPLY};
    for (size_t i = 0; i < sizeof types; i++) {
        uint8_t buf[200] = {0x53, 0x54, 0x01, types[i]};
        size_t body = 42; /* any body; a JOIN_REPLY's is 42 */
        strata_auth_trailer t = {
            .body_len = body, .key = pk, .session = 0x1122334455667788ull, .seq = 77, .echo = 9};
        int n = strata_auth_encode(buf, sizeof buf, &t, key);
        CHECK(n > (int)body);
        CHECK_EQ_INT(strata_auth_encode(buf, body + 3, &t, key), STRATA_ERR_NOSPACE);
        strata_auth_trailer d;
        CHECK_EQ_INT(strata_auth_decode(buf, (size_t)n, &d), (int)body);
        CHECK_EQ_INT(n - (int)body, strata_auth_trailer_bytes(types[i], (size_t)n));
        CHECK(strata_auth_tag_ok(buf, (size_t)n, key));
        if (types[i] == STRATA_MSG_JOIN || types[i] == STRATA_MSG_JOIN_REPLY)
            CHECK(d.key && memcmp(d.key, pk, 32) == 0);
        if (types[i] != STRATA_MSG_JOIN_REPLY)
            CHECK_EQ_U64(d.seq, 77);
        if (types[i] == STRATA_MSG_INSTRUCTION || types[i] == STRATA_MSG_JOIN_REPLY)
            CHECK_EQ_U64(d.session, 0x1122334455667788ull);
        for (size_t len = 0; len < (size_t)n; len++) {
            int rc = strata_auth_decode(buf, len, &d);
            /* short of a header and a trailer: SHORT; else a smaller body
             * (a JOIN_REPLY of 42 bytes is the bare UNKNOWN) */
            if (len < 4)
                CHECK(rc < 0);
            else if (types[i] == STRATA_MSG_JOIN_REPLY && len == 42)
                CHECK_EQ_INT(rc, 42);
            else if (len < 4 + (size_t)strata_auth_trailer_bytes(types[i], len))
                CHECK_EQ_INT(rc, STRATA_ERR_SHORT);
            else
                CHECK_EQ_INT(rc, (int)(len - (size_t)strata_auth_trailer_bytes(types[i], len)));
        }
        for (size_t off = 0; off < (size_t)n; off++) {
            buf[off] ^= 0x01;
            CHECK(!strata_auth_tag_ok(buf, (size_t)n, key));
            buf[off] ^= 0x01;
        }
    }
    uint8_t data[60] = {0x53, 0x54, 0x01, STRATA_MSG_DATA};
    strata_auth_trailer d;
    CHECK_EQ_INT(strata_auth_decode(data, sizeof data, &d), STRATA_ERR_TYPE);
}

/* The handshake between the two sides, and the rules of the pin. */
static void test_handshake(void)
{
    uint8_t nseed[32], cseed[32], other[32];
    seed_of(nseed, 5);
    seed_of(cseed, 6);
    seed_of(other, 7);
    strata_auth_node node;
    strata_auth_center center;
    strata_auth_node_init(&node, nseed, NULL);
    strata_auth_center_init(&center, NULL, cseed);
    const strata_addr at = {0x0a000002u, 7001}, evil = {0x0a000009u, 6666};

    /* A first JOIN proves nothing yet; the center registers its key. */
    uint8_t join[128] = {0x53, 0x54, 0x01, STRATA_MSG_JOIN, 1, 2, 3};
    int n = strata_auth_node_seal(&node, join, sizeof join, 30);
    CHECK_EQ_INT(n, 30 + STRATA_AUTH_JOIN_BYTES);
    int proven = -1;
    CHECK_EQ_INT(strata_auth_center_join(&center, NULL, at, join, (size_t)n, at, &proven), 0);
    CHECK_EQ_INT(proven, 0);
    strata_auth_peer rec = center.join;
    uint8_t reply[128] = {0x53, 0x54, 0x01, STRATA_MSG_JOIN_REPLY};
    reply[20] = STRATA_JOIN_OK;
    int r = strata_auth_center_seal_reply(&center, reply, sizeof reply, 42);
    CHECK_EQ_INT(r, 42 + STRATA_AUTH_REPLY_BYTES);
    CHECK_EQ_INT(strata_auth_node_open(&node, reply, (size_t)r), 42);
    CHECK(node.have_session && node.have_center);
    CHECK_EQ_U64(node.keys.session, rec.keys.session);

    /* A retry of the first JOIN (sent before the reply) from where it
     * came is taken; from elsewhere it is not. */
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, join, (size_t)n, at, &proven), 0);
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, join, (size_t)n, evil, &proven),
                 STRATA_ERR_AUTH);

    /* Heartbeats: taken once; a replay, a changed byte, another key: not. */
    uint8_t hb[200] = {0x53, 0x54, 0x01, STRATA_MSG_HEARTBEAT};
    int h = strata_auth_node_seal(&node, hb, sizeof hb, 79);
    CHECK_EQ_INT(h, 79 + STRATA_AUTH_UP_BYTES);
    CHECK_EQ_INT(strata_auth_center_open(&rec, hb, (size_t)h), 0);
    CHECK(rec.proven);
    CHECK_EQ_INT(strata_auth_center_open(&rec, hb, (size_t)h), STRATA_ERR_AUTH);
    int h2 = strata_auth_node_seal(&node, hb, sizeof hb, 79);
    hb[30] ^= 1;
    CHECK_EQ_INT(strata_auth_center_open(&rec, hb, (size_t)h2), STRATA_ERR_AUTH);
    hb[30] ^= 1;
    CHECK_EQ_INT(strata_auth_center_open(&rec, hb, (size_t)h2), 0);
    strata_auth_node thief;
    strata_auth_node_init(&thief, other, NULL);
    int h3 = strata_auth_node_seal(&thief, hb, sizeof hb, 79);
    CHECK_EQ_INT(strata_auth_center_open(&rec, hb, (size_t)h3), STRATA_ERR_AUTH);

    /* Once proven, an unproven JOIN (even the old one from the old place)
     * is refused; a thief's JOIN with its own key is refused; the node's
     * own proven JOIN is taken, from anywhere (it moved). */
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, join, (size_t)n, at, &proven),
                 STRATA_ERR_AUTH);
    uint8_t tj[128] = {0x53, 0x54, 0x01, STRATA_MSG_JOIN, 1, 2, 3};
    int tn = strata_auth_node_seal(&thief, tj, sizeof tj, 30);
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, tj, (size_t)tn, evil, &proven),
                 STRATA_ERR_AUTH);
    int j2 = strata_auth_node_seal(&node, join, sizeof join, 30);
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, join, (size_t)j2, evil, &proven), 0);
    CHECK_EQ_INT(proven, 1);
    CHECK_EQ_INT(strata_auth_center_join(&center, &rec, at, join, (size_t)j2, evil, &proven),
                 STRATA_ERR_AUTH); /* that JOIN again: a replay */

    /* Too short for a trailer: malformed, not a failed proof. */
    uint8_t too_short[20] = {0x53, 0x54, 0x01, STRATA_MSG_INSTRUCTION};
    CHECK_EQ_INT(strata_auth_node_open(&node, too_short, sizeof too_short), STRATA_ERR_SHORT);
    /* Instructions: taken once, of our session only. */
    uint8_t in[200] = {0x53, 0x54, 0x01, STRATA_MSG_INSTRUCTION};
    int i1 = strata_auth_center_seal(&rec, in, sizeof in, 62);
    CHECK_EQ_INT(i1, 62 + STRATA_AUTH_DOWN_BYTES);
    CHECK_EQ_INT(strata_auth_node_open(&node, in, (size_t)i1), 62);
    CHECK_EQ_INT(strata_auth_node_open(&node, in, (size_t)i1), STRATA_ERR_AUTH);
    strata_auth_peer forged = rec;
    forged.keys.session++;
    int i2 = strata_auth_center_seal(&forged, in, sizeof in, 62);
    CHECK_EQ_INT(strata_auth_node_open(&node, in, (size_t)i2), STRATA_ERR_AUTH);

    /* A reply from another control center (a key of its own): refused,
     * until an UNKNOWN says the control center may have restarted. */
    strata_auth_center second;
    uint8_t cseed2[32];
    seed_of(cseed2, 8);
    strata_auth_center_init(&second, NULL, cseed2);
    j2 = strata_auth_node_seal(&node, join, sizeof join, 30);
    CHECK_EQ_INT(strata_auth_center_join(&second, NULL, at, join, (size_t)j2, at, &proven), 0);
    r = strata_auth_center_seal_reply(&second, reply, sizeof reply, 42);
    uint64_t dropped = node.st.dropped;
    CHECK_EQ_INT(strata_auth_node_open(&node, reply, (size_t)r), STRATA_ERR_AUTH);
    CHECK_EQ_U64(node.st.dropped, dropped + 1);
    uint8_t unknown[42] = {0x53, 0x54, 0x01, STRATA_MSG_JOIN_REPLY};
    unknown[20] = STRATA_JOIN_UNKNOWN;
    CHECK_EQ_INT(strata_auth_node_open(&node, unknown, sizeof unknown), 42);
    uint8_t bare_ok[42] = {0x53, 0x54, 0x01, STRATA_MSG_JOIN_REPLY};
    CHECK_EQ_INT(strata_auth_node_open(&node, bare_ok, sizeof bare_ok), STRATA_ERR_AUTH);
    CHECK_EQ_INT(strata_auth_node_open(&node, reply, (size_t)r), 42);
    CHECK_EQ_U64(node.st.key_changes, 1);
    CHECK_EQ_U64(node.st.sessions, 2);
    /* The old session's instructions are over; an old reply is a replay. */
    i1 = strata_auth_center_seal(&rec, in, sizeof in, 62);
    CHECK_EQ_INT(strata_auth_node_open(&node, in, (size_t)i1), STRATA_ERR_AUTH);

    /* A pinned node never takes another key, UNKNOWN or not. */
    strata_auth_node pinned;
    strata_auth_node_init(&pinned, nseed, center.pk);
    j2 = strata_auth_node_seal(&pinned, join, sizeof join, 30);
    CHECK_EQ_INT(strata_auth_center_join(&second, NULL, at, join, (size_t)j2, at, &proven), 0);
    r = strata_auth_center_seal_reply(&second, reply, sizeof reply, 42);
    CHECK_EQ_INT(strata_auth_node_open(&pinned, unknown, sizeof unknown), 42);
    CHECK_EQ_INT(strata_auth_node_open(&pinned, reply, (size_t)r), STRATA_ERR_AUTH);
    /* A control center with the pinned key (kept in a file) is taken. */
    strata_auth_center again;
    strata_auth_center_init(&again, NULL, cseed); /* same key seed */
    CHECK_EQ_INT(strata_auth_center_join(&again, NULL, at, join, (size_t)j2, at, &proven), 0);
    r = strata_auth_center_seal_reply(&again, reply, sizeof reply, 42);
    CHECK_EQ_INT(strata_auth_node_open(&pinned, reply, (size_t)r), 42);
    CHECK(pinned.have_session);
}

/* --- whole nodes --------------------------------------------------------------- */

enum { MAX_NODES = 6 };

static const strata_addr CONTROL = {0x0a000001u, 7000};
static const strata_addr SRC = {0x0a000002u, 7001};
static const strata_addr PEER_A = {0x0a000003u, 7002};
static const strata_addr PEER_B = {0x0a000004u, 7003};
static const strata_addr PEER_P = {0x0a000005u, 7004};
static const strata_addr PEER_D = {0x0a000006u, 7005};
static const strata_addr EVIL = {0x0a000009u, 6666};

typedef struct world {
    strata_node *n[MAX_NODES];
    strata_addr at[MAX_NODES];
    size_t count;
    uint64_t now;
    uint64_t played[MAX_NODES];
    /* the last HEARTBEAT peer A sent (a forger on the path keeps one) */
    uint8_t hb[1500];
    size_t hb_len;
} world;

typedef struct played_ctx {
    world *w;
    size_t i;
} played_ctx;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    (void)buf;
    played_ctx *p = user;
    p->w->played[p->i] += len;
}

static strata_node *node_at(world *w, strata_addr a)
{
    for (size_t i = 0; i < w->count; i++)
        if (w->n[i] && strata_addr_eq(w->at[i], a))
            return w->n[i];
    return NULL;
}

static void pump(world *w)
{
    for (int round = 0; round < 50; round++) {
        int moved = 0;
        for (size_t i = 0; i < w->count; i++) {
            if (!w->n[i])
                continue;
            strata_datagram dg;
            while (strata_outbox_pop(strata_node_outbox(w->n[i]), &dg)) {
                moved = 1;
                if (strata_addr_eq(w->at[i], PEER_A) && dg.buf->len <= sizeof w->hb &&
                    strata_wire_peek_type(dg.buf->data, dg.buf->len) == STRATA_MSG_HEARTBEAT) {
                    memcpy(w->hb, dg.buf->data, dg.buf->len);
                    w->hb_len = dg.buf->len;
                }
                strata_node *to = node_at(w, dg.to);
                if (to) {
                    strata_rx rx = {w->at[i], -1};
                    strata_node_handle_datagram(to, &rx, dg.buf->data, dg.buf->len, w->now);
                }
                strata_buf_unref(dg.buf);
            }
        }
        if (!moved)
            return;
    }
}

/* Runs the world for ms, the source pushing a 1,316-byte payload every
 * 10 ms. */
static void run(world *w, uint64_t ms)
{
    uint64_t end = w->now + MS(ms);
    uint8_t payload[1316];
    memset(payload, 0x47, sizeof payload);
    while (w->now < end) {
        w->now += MS(10);
        strata_node_push(w->n[1], 0, payload, sizeof payload, w->now);
        for (size_t i = 0; i < w->count; i++)
            if (w->n[i] && strata_node_next_timeout(w->n[i]) <= w->now)
                strata_node_handle_timeout(w->n[i], w->now);
        pump(w);
    }
}

static strata_control_config control_cfg;

static strata_node *make_control(uint64_t seed, const uint8_t *key_seed, uint64_t now)
{
    memset(&control_cfg, 0, sizeof control_cfg);
    control_cfg.heartbeat_ms = 100;
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id.v = 0xc0 + seed;
    c.addr = CONTROL;
    c.seed = seed;
    c.control_center = &control_cfg;
    c.authenticate = 1;
    c.control_key_seed = key_seed;
    return strata_node_new(&c, NULL, NULL, now);
}

static strata_node *make_node(uint64_t id, strata_addr at, const uint8_t *pin)
{
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id.v = id;
    c.addr = at;
    c.control = CONTROL;
    c.seed = id * 7;
    c.authenticate = 1;
    c.control_pk = pin;
    return strata_node_new(&c, NULL, NULL, 0);
}

static played_ctx ctx[MAX_NODES];

static void watch(world *w, size_t i, const char *channel)
{
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.channel = channel;
    pc.upload_kbps = 4000;
    pc.playout_delay_ms = 500;
    ctx[i].w = w;
    ctx[i].i = i;
    strata_peer_callbacks cb = {on_play, NULL, &ctx[i]};
    CHECK(strata_node_watch(w->n[i], &pc, &cb, 0) >= 0);
}

static int member(world *w, uint64_t node, const char *channel)
{
    strata_control_member m;
    return strata_control_member_of(strata_node_control(w->n[0]), (strata_node_id){node},
                                    strata_channel_id_from_name(channel, strlen(channel)), &m);
}

static strata_addr addr_of(world *w, uint64_t node)
{
    strata_control_entry e[16];
    size_t n = strata_control_topology(strata_node_control(w->n[0]), e, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (e[i].node.v == node)
            return e[i].addr;
    return (strata_addr){0, 0};
}

static uint64_t control_auth_drops(world *w)
{
    strata_control_status st;
    strata_control_get_status(strata_node_control(w->n[0]), &st);
    return st.drops.by_reason[-STRATA_ERR_AUTH];
}

static uint64_t node_auth_drops(world *w, size_t i)
{
    strata_node_stats st;
    strata_node_get_stats(w->n[i], &st);
    return st.drops.by_reason[-STRATA_ERR_AUTH];
}

static void forge(world *w, strata_addr from, strata_addr to, const uint8_t *buf, int len)
{
    CHECK(len > 0);
    strata_rx rx = {from, -1};
    strata_node_handle_datagram(node_at(w, to), &rx, buf, (size_t)len, w->now);
    pump(w);
}

/* Node i's JOIN reaches the control center, whose INSTRUCTIONs for it
 * then arrive before its JOIN_REPLY (UDP may reorder them; a control
 * center may also send them first). */
static void join_reordered(world *w, size_t i)
{
    strata_node_handle_timeout(w->n[i], w->now);
    strata_datagram dg;
    while (strata_outbox_pop(strata_node_outbox(w->n[i]), &dg)) {
        strata_rx rx = {w->at[i], -1};
        if (strata_addr_eq(dg.to, CONTROL))
            strata_node_handle_datagram(w->n[0], &rx, dg.buf->data, dg.buf->len, w->now);
        strata_buf_unref(dg.buf);
    }
    strata_datagram later[64];
    size_t n = 0;
    while (strata_outbox_pop(strata_node_outbox(w->n[0]), &dg)) {
        strata_rx rx = {CONTROL, -1};
        int type = strata_wire_peek_type(dg.buf->data, dg.buf->len);
        if (strata_addr_eq(dg.to, w->at[i]) && type == STRATA_MSG_JOIN_REPLY && n < 64) {
            later[n++] = dg;
            continue;
        }
        strata_node *to = node_at(w, dg.to);
        if (to)
            strata_node_handle_datagram(to, &rx, dg.buf->data, dg.buf->len, w->now);
        strata_buf_unref(dg.buf);
    }
    CHECK(n > 0);
    for (size_t j = 0; j < n; j++) {
        strata_rx rx = {CONTROL, -1};
        strata_node_handle_datagram(w->n[i], &rx, later[j].buf->data, later[j].buf->len, w->now);
        strata_buf_unref(later[j].buf);
    }
    pump(w);
}

static void test_forgeries_and_restart(void)
{
    static world w;
    memset(&w, 0, sizeof w);
    uint8_t key_seed[32];
    seed_of(key_seed, 0x42);
    w.n[0] = make_control(1, key_seed, 0);
    w.at[0] = CONTROL;
    w.n[1] = make_node(0x50, SRC, NULL);
    w.at[1] = SRC;
    strata_source_config sc;
    memset(&sc, 0, sizeof sc);
    sc.channel = "live";
    sc.rate_kbps = 1100;
    CHECK_EQ_INT(strata_node_publish(w.n[1], &sc, 0), 0);
    w.n[2] = make_node(0xa1, PEER_A, NULL);
    w.at[2] = PEER_A;
    w.n[3] = make_node(0xb2, PEER_B, NULL);
    w.at[3] = PEER_B;
    uint8_t pin[32];
    CHECK(strata_node_control_key(w.n[0], pin));
    w.n[4] = make_node(0xcc, PEER_P, pin); /* pins the first control center's key */
    w.at[4] = PEER_P;
    w.count = 5;
    watch(&w, 2, "live");
    watch(&w, 3, "live");
    watch(&w, 3, "film"); /* B is in two channels */
    watch(&w, 4, "live");
    /* A newcomer's first INSTRUCTIONs go out with its JOIN_REPLY, sealed
     * under the session the reply names (not at the next heartbeat's
     * resend): within a few ticks the peer knows the source. */
    run(&w, 30);
    CHECK(strata_peer_knows(strata_node_peer(w.n[2], 0), SRC));
    run(&w, 1470);
    CHECK(member(&w, 0x50, "live") && member(&w, 0xa1, "live") && member(&w, 0xb2, "live") &&
          member(&w, 0xb2, "film") && member(&w, 0xcc, "live"));
    CHECK(w.played[2] > 0 && w.played[3] > 0 && w.played[4] > 0);
    CHECK(w.hb_len > 0);
    CHECK_EQ_U64(control_auth_drops(&w), 0);

    /* A newcomer whose INSTRUCTIONs overtake its JOIN_REPLY holds them
     * and takes them once the reply installs its session. */
    w.n[5] = make_node(0xdd, PEER_D, NULL);
    w.at[5] = PEER_D;
    w.count = 6;
    watch(&w, 5, "live");
    join_reordered(&w, 5);
    CHECK(member(&w, 0xdd, "live"));
    CHECK(strata_peer_knows(strata_node_peer(w.n[5], 0), SRC));
    CHECK_EQ_U64(node_auth_drops(&w, 5), 0);

    /* Forgeries against the control center, from the forger's address,
     * naming peer A (the id PROBE or a GROUP_INFO gives away). */
    uint8_t b[1500];
    uint8_t evil_seed[32];
    seed_of(evil_seed, 0xee);
    strata_auth_node evil;
    strata_auth_node_init(&evil, evil_seed, NULL);
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node.v = 0xa1;
    hb.channel = strata_channel_id_from_name("live", 4);
    hb.hb_seq = 100000;
    int n = strata_wire_encode_heartbeat(b, sizeof b, &hb);
    forge(&w, EVIL, CONTROL, b, strata_auth_node_seal(&evil, b, sizeof b, (size_t)n));
    CHECK_EQ_U64(control_auth_drops(&w), 1);
    CHECK(strata_addr_eq(addr_of(&w, 0xa1), PEER_A));
    strata_msg_leave lv = {.node = {0xa1}, .channel = hb.channel, .dcm = {0}};
    n = strata_wire_encode_leave(b, sizeof b, &lv);
    forge(&w, EVIL, CONTROL, b, strata_auth_node_seal(&evil, b, sizeof b, (size_t)n));
    CHECK_EQ_U64(control_auth_drops(&w), 2);
    CHECK(member(&w, 0xa1, "live"));
    uint8_t name[] = "live";
    strata_msg_join j = {.node = {0xa1},
                         .role = STRATA_ROLE_PEER,
                         .upload_kbps = 10000,
                         .name_len = 4,
                         .name = name};
    n = strata_wire_encode_join(b, sizeof b, &j);
    forge(&w, EVIL, CONTROL, b, strata_auth_node_seal(&evil, b, sizeof b, (size_t)n));
    CHECK_EQ_U64(control_auth_drops(&w), 3);
    j.node.v = 0x50; /* the source's id, as a peer */
    n = strata_wire_encode_join(b, sizeof b, &j);
    forge(&w, EVIL, CONTROL, b, strata_auth_node_seal(&evil, b, sizeof b, (size_t)n));
    CHECK_EQ_U64(control_auth_drops(&w), 4);
    CHECK(strata_addr_eq(addr_of(&w, 0xa1), PEER_A) && strata_addr_eq(addr_of(&w, 0x50), SRC));
    /* A's own last heartbeat, replayed from elsewhere and from its place. */
    forge(&w, EVIL, CONTROL, w.hb, (int)w.hb_len);
    forge(&w, PEER_A, CONTROL, w.hb, (int)w.hb_len);
    CHECK_EQ_U64(control_auth_drops(&w), 6);
    CHECK(strata_addr_eq(addr_of(&w, 0xa1), PEER_A));

    /* Against peer B (in two channels), from the control center's address
     * (spoofed): an INSTRUCTION with a higher epoch naming the forger as a
     * child, and an UNKNOWN. */
    strata_msg_instruction in;
    memset(&in, 0, sizeof in);
    in.channel = hb.channel;
    in.node.v = 0xb2;
    in.epoch = 0xfffffff0u;
    in.k = 4;
    in.algorithm = STRATA_ALG_TREE;
    in.n_children = 1;
    in.children[0].node.v = 0xee;
    in.children[0].addr = EVIL;
    uint64_t before = node_auth_drops(&w, 3);
    for (uint8_t s = 0; s < 4; s++) {
        in.substream = s;
        n = strata_wire_encode_instruction(b, sizeof b, &in);
        strata_auth_trailer t = {.body_len = (size_t)n, .session = 1, .seq = 1u + s};
        forge(&w, CONTROL, PEER_B, b, strata_auth_encode(b, sizeof b, &t, evil_seed));
        forge(&w, CONTROL, PEER_B, b, n); /* bare, as before authentication */
    }
    CHECK_EQ_U64(node_auth_drops(&w, 3), before + 8);
    CHECK(!strata_peer_knows(strata_node_peer(w.n[3], 0), EVIL));
    strata_msg_join_reply unk;
    memset(&unk, 0, sizeof unk);
    unk.node.v = 0xb2;
    unk.channel = hb.channel;
    unk.status = STRATA_JOIN_UNKNOWN;
    unk.k = 4;
    unk.heartbeat_ms = 100;
    forge(&w, CONTROL, PEER_B, b, strata_wire_encode_join_reply(b, sizeof b, &unk));
    uint64_t played_b = w.played[3], played_a = w.played[2];
    run(&w, 1000);
    CHECK(member(&w, 0xb2, "live") && member(&w, 0xb2, "film"));
    CHECK(w.played[3] > played_b && w.played[2] > played_a);
    strata_node_stats ns;
    strata_node_get_stats(w.n[3], &ns);
    CHECK_EQ_U64(ns.auth_unknowns, 1);
    CHECK_EQ_U64(ns.auth_sessions, 1); /* the same session: nothing changed hands */

    /* The control center restarts on its address with a key of its own
     * process: the nodes that trust on first use follow it after its
     * UNKNOWN; the one that pinned the old key does not. */
    strata_node_del(w.n[0]);
    w.n[0] = make_control(2, NULL, w.now);
    run(&w, 2000);
    CHECK(member(&w, 0x50, "live") && member(&w, 0xa1, "live") && member(&w, 0xb2, "live") &&
          member(&w, 0xb2, "film"));
    CHECK(!member(&w, 0xcc, "live"));
    strata_node_get_stats(w.n[2], &ns);
    CHECK_EQ_U64(ns.auth_sessions, 2);
    CHECK_EQ_U64(ns.auth_key_changes, 1);
    strata_node_get_stats(w.n[4], &ns);
    CHECK(ns.auth_dropped > 0 && ns.auth_sessions == 1);
    played_a = w.played[2];
    run(&w, 500);
    CHECK(w.played[2] > played_a); /* the stream goes on under the new one */

    /* Started again with the kept key: the pinned node is back too. */
    strata_node_del(w.n[0]);
    w.n[0] = make_control(3, key_seed, w.now);
    run(&w, 2000);
    CHECK(member(&w, 0xcc, "live") && member(&w, 0xa1, "live") && member(&w, 0xb2, "film"));
    strata_node_get_stats(w.n[4], &ns);
    CHECK_EQ_U64(ns.auth_sessions, 2);
    CHECK_EQ_U64(control_auth_drops(&w), 0);
    for (size_t i = 0; i < w.count; i++)
        strata_node_del(w.n[i]);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_window();
    test_keys();
    test_codec();
    test_handshake();
    test_forgeries_and_restart();
    return test_summary("test_auth");
}
