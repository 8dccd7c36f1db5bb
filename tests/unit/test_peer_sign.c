/*
 * Peers on a signed channel (core/peer_sign.c, core/peer.c): a real
 * signing source, a keyed peer A fed by it and a keyed peer B below A, on
 * an in-memory network the test pumps; the test plays the control center
 * and the forger. Forged DATA, forged EOS markers and forged manifests are
 * never played nor relayed and are counted; unsigned data is refused by a
 * keyed peer; a late joiner gets the manifests it missed by asking; a
 * keyless peer relays the manifests its keyed child needs.
 */
#include "testutil.h"
#include "outbox_capture.h"

#include "strata/manifest.h"
#include "strata/peer.h"
#include "strata/source.h"
#include "strata/wire.h"

#include <sodium.h>

#define MS(x) STRATA_MS(x)
enum { K = 2, NPEERS = 3, PAYLOAD = 188 * 7 };

static const strata_addr CONTROL = {0x0a000001, 7000};
static const strata_addr FORGER = {0x0a0000ff, 6666};
static uint8_t PK[crypto_sign_PUBLICKEYBYTES], SK[crypto_sign_SECRETKEYBYTES];

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
    return strata_channel_id_from_name("tv", 2);
}

/* --- the network ----------------------------------------------------------- */

typedef struct played {
    uint8_t bytes[1 << 20];
    size_t len;
    int ends;
} played;

typedef struct net {
    strata_source *src;            /* node 0 */
    strata_peer *peer[NPEERS + 1]; /* nodes 1..NPEERS */
    played out[NPEERS + 1];
    uint64_t now;
    sent_list cap;
    size_t to_forger;                    /* datagrams addressed to the forger */
    strata_msg_heartbeat hb[NPEERS + 1]; /* the last heartbeat of each peer */
} net;

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

static void deliver(net *n, strata_addr to, strata_addr from, const strata_buf *b)
{
    if (strata_addr_eq(to, FORGER))
        n->to_forger++;
    strata_msg_heartbeat hb;
    if (strata_addr_eq(to, CONTROL) &&
        strata_wire_peek_type(b->data, b->len) == STRATA_MSG_HEARTBEAT &&
        strata_wire_decode_heartbeat(b->data, b->len, &hb) > 0)
        for (uint32_t i = 1; i <= NPEERS; i++)
            if (strata_addr_eq(from, addr_of(i)))
                n->hb[i] = hb;
    if (strata_addr_eq(to, addr_of(0)) && n->src)
        strata_source_handle_datagram(n->src, from, b->data, b->len, n->now);
    for (uint32_t i = 1; i <= NPEERS; i++)
        if (n->peer[i] && strata_addr_eq(to, addr_of(i)))
            strata_peer_handle_datagram(n->peer[i], from, b->data, b->len, n->now);
}

/* Delivers every queued datagram (and what the deliveries queue) now. */
static void pump(net *n)
{
    for (int round = 0; round < 64; round++) {
        int any = 0;
        for (uint32_t i = 0; i <= NPEERS; i++) {
            strata_outbox *ob = i == 0 ? (n->src ? strata_source_outbox(n->src) : NULL)
                                       : (n->peer[i] ? strata_peer_outbox(n->peer[i]) : NULL);
            if (!ob)
                continue;
            capture_outbox(ob, &n->cap);
            for (size_t j = 0; j < n->cap.n; j++) {
                any = 1;
                deliver(n, n->cap.items[j].to, addr_of(i), n->cap.items[j].buf);
            }
            sent_clear(&n->cap);
        }
        if (!any)
            return;
    }
}

/* Runs every timer up to `until`, in steps of 1 ms, pumping after each. */
static void run(net *n, uint64_t until)
{
    while (n->now < until) {
        n->now += MS(1);
        if (n->src && strata_source_next_timeout(n->src) <= n->now)
            strata_source_handle_timeout(n->src, n->now);
        for (uint32_t i = 1; i <= NPEERS; i++)
            if (n->peer[i] && strata_peer_next_timeout(n->peer[i]) <= n->now)
                strata_peer_handle_timeout(n->peer[i], n->now);
        pump(n);
    }
}

/* The K instructions of node i (0: the source, feeding child), epoch, with
 * its parent and its one child (0: none). */
static void instruct(net *n, uint32_t i, uint32_t epoch, uint32_t parent, uint32_t child)
{
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (uint8_t sub = 0; sub < K; sub++) {
        strata_msg_instruction m;
        memset(&m, 0, sizeof m);
        m.dcm.v = 1;
        m.channel = chan();
        m.node = ref_of(i).node;
        m.epoch = epoch;
        m.k = K;
        m.substream = sub;
        m.algorithm = STRATA_ALG_TREE;
        if (i != 0)
            m.parent = ref_of(parent);
        m.source = ref_of(0);
        m.n_children = child ? 1 : 0;
        m.children[0] = ref_of(child);
        int len = strata_wire_encode_instruction(b, sizeof b, &m);
        if (i == 0)
            strata_source_handle_datagram(n->src, CONTROL, b, (size_t)len, n->now);
        else
            strata_peer_handle_datagram(n->peer[i], CONTROL, b, (size_t)len, n->now);
    }
}

static void control_to_source(net *n, uint8_t sign)
{
    strata_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ref_of(0).node;
    cfg.channel = "tv";
    cfg.control = CONTROL;
    cfg.rate_kbps = 4000;
    cfg.payload_bytes = PAYLOAD;
    cfg.sign = sign;
    memcpy(cfg.channel_sk, SK, sizeof cfg.channel_sk);
    n->src = strata_source_new(&cfg, NULL, n->now);
    CHECK(n->src != NULL);
    strata_msg_join_reply r = {cfg.node, chan(), STRATA_JOIN_OK, {1}, K, 4000, 1000, 0};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_join_reply(b, sizeof b, &r);
    strata_source_handle_datagram(n->src, CONTROL, b, (size_t)len, n->now);
    instruct(n, 0, 1, 0, 1);
    capture_outbox(strata_source_outbox(n->src), &n->cap); /* its JOIN */
    sent_clear(&n->cap);
}

/* Peer i, keyed or not, child of `parent`, parent of `child` (0: none);
 * `started`: the stream has begun (a late joiner). */
static void add_peer(net *n, uint32_t i, int keyed, uint32_t parent, uint32_t child, int started)
{
    strata_peer_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ref_of(i).node;
    cfg.channel = "tv";
    cfg.control = CONTROL;
    cfg.upload_kbps = 20000;
    cfg.playout_delay_ms = 1000;
    cfg.seed = i;
    cfg.verify = keyed;
    memcpy(cfg.channel_pk, PK, sizeof cfg.channel_pk);
    strata_peer_callbacks cb = {on_play, on_end, &n->out[i]};
    n->peer[i] = strata_peer_new(&cfg, &cb, NULL, n->now);
    CHECK(n->peer[i] != NULL);
    strata_msg_join_reply r = {cfg.node, chan(), STRATA_JOIN_OK, {1}, K, started ? 4000 : 0,
                               1000,     0};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_join_reply(b, sizeof b, &r);
    strata_peer_handle_datagram(n->peer[i], CONTROL, b, (size_t)len, n->now);
    instruct(n, i, 1, parent, child);
}

static void net_free(net *n)
{
    strata_source_del(n->src);
    for (uint32_t i = 1; i <= NPEERS; i++)
        strata_peer_del(n->peer[i]);
    sent_clear(&n->cap);
}

static void input_of(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 7u + (i >> 9));
}

/* Pushes len bytes of input over `ms` milliseconds, in slices. */
static void stream_input(net *n, const uint8_t *in, size_t len, uint64_t ms)
{
    size_t slice = len / ms + 1;
    for (size_t off = 0; off < len; off += slice) {
        size_t take = off + slice > len ? len - off : slice;
        CHECK_EQ_INT(strata_source_push(n->src, in + off, take, n->now), 0);
        run(n, n->now + MS(1));
    }
}

/* Sends a DATA from the forger to peer i. */
static void forge(net *n, uint32_t i, uint64_t seq, uint8_t flags, uint64_t send_ts)
{
    uint8_t pay[PAYLOAD];
    memset(pay, 0xee, sizeof pay);
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.seq = seq;
    m.substream = (uint8_t)(seq % K);
    m.flags = flags;
    m.send_ts_ns = send_ts;
    m.payload_len = (flags & STRATA_DATA_FLAG_EOS) ? 0 : (uint16_t)sizeof pay;
    m.payload = m.payload_len ? pay : NULL;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_data(b, sizeof b, &m);
    /* From a stranger's address the sender checks stop it before the
     * verifier sees it; from the source's (spoofed), only the signature
     * can. */
    CHECK_EQ_INT(strata_peer_handle_datagram(n->peer[i], FORGER, b, (size_t)len, n->now),
                 STRATA_ERR_SENDER);
    strata_peer_handle_datagram(n->peer[i], addr_of(0), b, (size_t)len, n->now);
}

/* Forgeries at A from another address, before the stream, during it and
 * after its end: A and B play the input byte for byte and end once, A
 * counts the forgeries, B sees none of them (A relayed none). */
static void test_forgeries(void)
{
    static net n;
    memset(&n, 0, sizeof n);
    control_to_source(&n, 1);
    add_peer(&n, 1, 1, 0, 2, 0);
    add_peer(&n, 2, 1, 1, 0, 0);
    static uint8_t in[200 * PAYLOAD + 100];
    input_of(in, sizeof in);
    /* Forgeries ahead of the stream: they wait for their manifests, which
     * then contradict them. A forged EOS with an old send time, too. */
    run(&n, MS(10));
    for (uint64_t seq = 0; seq < 40; seq += 3)
        forge(&n, 1, seq, 0, 1);
    forge(&n, 1, 5, STRATA_DATA_FLAG_EOS, 1);
    stream_input(&n, in, sizeof in / 2, 400);
    /* Forgeries of packets already held are duplicates; of the next ones,
     * forged; a forged EOS inside the stream is forged. */
    strata_peer_stats st;
    strata_peer_get_stats(n.peer[1], &st);
    uint64_t forged_before = st.forged_packets;
    CHECK(forged_before >= 14);
    forge(&n, 1, 120, STRATA_DATA_FLAG_EOS, 1);
    stream_input(&n, in + sizeof in / 2, sizeof in - sizeof in / 2, 400);
    forge(&n, 1, 180, 0, 1);
    forge(&n, 1, 300, STRATA_DATA_FLAG_EOS, 1); /* after the end, but before the source says */
    CHECK_EQ_INT(strata_source_finish(n.src, n.now), 0);
    run(&n, n.now + MS(3000));
    for (uint32_t i = 1; i <= 2; i++) {
        CHECK_EQ_U64(n.out[i].len, sizeof in);
        CHECK_EQ_MEM(n.out[i].bytes, in, sizeof in);
        CHECK_EQ_INT(n.out[i].ends, 1);
    }
    strata_peer_get_stats(n.peer[1], &st);
    CHECK(st.forged_packets >= forged_before + 2);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_FORGED], st.forged_packets);
    CHECK(st.manifests_rx >= 3);
    CHECK_EQ_U64(st.manifests_tx, st.manifests_rx); /* each went down to B */
    CHECK_EQ_U64(st.missed_packets, 0);
    strata_peer_stats b;
    strata_peer_get_stats(n.peer[2], &b);
    CHECK_EQ_U64(b.forged_packets, 0); /* nothing forged reached B */
    CHECK_EQ_U64(b.unverified_packets, 0);
    CHECK_EQ_U64(b.verified_packets, b.rx_data_packets);
    CHECK_EQ_U64(b.manifests_rx, st.manifests_rx);
    CHECK_EQ_INT(n.to_forger, 0);
    net_free(&n);
}

/* Sends peer i a forged DATA of seq from address `from`. */
static void forge_from(net *n, uint32_t i, strata_addr from, uint64_t seq)
{
    uint8_t pay[PAYLOAD];
    memset(pay, 0xee, sizeof pay);
    strata_msg_data m = {.channel = chan(),
                         .seq = seq,
                         .substream = (uint8_t)(seq % K),
                         .send_ts_ns = n->now,
                         .payload_len = sizeof pay,
                         .payload = pay};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_data(b, sizeof b, &m);
    strata_peer_handle_datagram(n->peer[i], from, b, (size_t)len, n->now);
}

/* A parent that sends a forged packet is distrusted by its child: B's
 * heartbeat stops reporting progress from A in that tree, while the other
 * tree advances, so that stall detection moves B (docs/security.md,
 * "Polluters in the simulator"); B still takes and plays A's good packets.
 * A forgery from the source's address distrusts no one. */
static void test_forging_parent(void)
{
    static net n;
    memset(&n, 0, sizeof n);
    control_to_source(&n, 1);
    add_peer(&n, 1, 1, 0, 2, 0);
    add_peer(&n, 2, 1, 1, 0, 0);
    static uint8_t in[400 * PAYLOAD];
    input_of(in, sizeof in);
    stream_input(&n, in, sizeof in / 4, 300);
    strata_peer_stats a, b;
    strata_peer_get_stats(n.peer[2], &b);
    uint64_t next = b.rx_data_packets;
    uint64_t seq0 = next + 6 - (next + 6) % K; /* ahead, of substream 0 */
    forge_from(&n, 2, addr_of(1), seq0);       /* from B's parent, A */
    forge_from(&n, 1, addr_of(0), seq0 + 1);   /* from A's parent, the source */
    stream_input(&n, in + sizeof in / 4, sizeof in / 4, 300);
    strata_peer_get_stats(n.peer[2], &b);
    strata_peer_get_stats(n.peer[1], &a);
    CHECK_EQ_U64(b.forged_packets, 1);
    CHECK_EQ_U64(b.forged_parents, 1);
    CHECK_EQ_U64(a.forged_packets, 1);
    CHECK_EQ_U64(a.forged_parents, 0);
    run(&n, n.now + MS(1100)); /* a heartbeat */
    strata_msg_heartbeat before = n.hb[2];
    CHECK_EQ_INT(before.n_parents, K);
    stream_input(&n, in + sizeof in / 2, sizeof in / 2, 600);
    CHECK_EQ_INT(strata_source_finish(n.src, n.now), 0);
    run(&n, n.now + MS(2500));
    strata_msg_heartbeat after = n.hb[2];
    CHECK_EQ_INT(after.n_parents, K);
    CHECK(before.parents[0].last_rx_seq < seq0);
    CHECK_EQ_U64(after.parents[0].last_rx_seq, before.parents[0].last_rx_seq);
    CHECK(after.parents[1].last_rx_seq > before.parents[1].last_rx_seq + 100);
    for (uint32_t i = 1; i <= 2; i++) {
        CHECK_EQ_U64(n.out[i].len, sizeof in);
        CHECK_EQ_MEM(n.out[i].bytes, in, sizeof in);
    }
    net_free(&n);
}

/* A keyed peer refuses an unsigned stream: every packet waits its bounded
 * time and is dropped as unverified; nothing is played or relayed. */
static void test_unsigned_refused(void)
{
    static net n;
    memset(&n, 0, sizeof n);
    control_to_source(&n, 0);
    add_peer(&n, 1, 1, 0, 2, 0);
    add_peer(&n, 2, 0, 1, 0, 0);
    static uint8_t in[20 * PAYLOAD];
    input_of(in, sizeof in);
    stream_input(&n, in, sizeof in, 50);
    run(&n, n.now + MS(2000));
    strata_peer_stats st;
    strata_peer_get_stats(n.peer[1], &st);
    CHECK_EQ_U64(n.out[1].len, 0);
    CHECK_EQ_U64(st.unverified_packets, 20);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNVERIFIED], 20);
    CHECK(st.manifest_requests_sent > 0); /* it asked, in vain */
    CHECK_EQ_U64(st.tx_data_packets, 0);
    CHECK_EQ_U64(n.out[2].len, 0);
    net_free(&n);
}

/* A late joiner C, below a keyless B, below keyed A: C's first packets are
 * of a batch whose manifest passed before it came; it asks and plays on.
 * B relays the manifests unchecked. */
static void test_late_joiner(void)
{
    static net n;
    memset(&n, 0, sizeof n);
    control_to_source(&n, 1);
    add_peer(&n, 1, 1, 0, 2, 0);
    add_peer(&n, 2, 0, 1, 0, 0);
    static uint8_t in[300 * PAYLOAD];
    input_of(in, sizeof in);
    stream_input(&n, in, 100 * PAYLOAD + 50, 300);
    /* C joins under B; B now feeds it. */
    add_peer(&n, 3, 1, 2, 0, 1);
    instruct(&n, 2, 2, 1, 3);
    stream_input(&n, in + 100 * PAYLOAD + 50, sizeof in - 100 * PAYLOAD - 50, 600);
    CHECK_EQ_INT(strata_source_finish(n.src, n.now), 0);
    run(&n, n.now + MS(3000));
    CHECK_EQ_U64(n.out[1].len, sizeof in);
    CHECK_EQ_U64(n.out[2].len, sizeof in);
    strata_peer_stats st;
    strata_peer_get_stats(n.peer[3], &st);
    /* C played a tail of the stream, byte-identical, and to the end. */
    CHECK(n.out[3].len > 100 * PAYLOAD);
    CHECK(n.out[3].len <= sizeof in);
    CHECK_EQ_MEM(n.out[3].bytes, in + sizeof in - n.out[3].len, n.out[3].len);
    CHECK_EQ_INT(n.out[3].ends, 1);
    CHECK(st.manifest_requests_sent >= 1);
    CHECK_EQ_U64(st.unverified_packets, 0);
    CHECK_EQ_U64(st.forged_packets, 0);
    strata_peer_stats bs;
    strata_peer_get_stats(n.peer[2], &bs);
    CHECK(bs.manifest_requests_served >= 1); /* the keyless B answered */
    net_free(&n);
}

/* A forged manifest (signed by another key) is counted and never relayed. */
static void test_forged_manifest(void)
{
    static net n;
    memset(&n, 0, sizeof n);
    control_to_source(&n, 1);
    add_peer(&n, 1, 1, 0, 2, 0);
    add_peer(&n, 2, 1, 1, 0, 0);
    uint8_t pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES], seed[32];
    memset(seed, 3, sizeof seed);
    crypto_sign_seed_keypair(pk2, sk2, seed);
    uint8_t hashes[STRATA_MANIFEST_HASH_BYTES * 4] = {0};
    strata_msg_manifest m = {chan(), 0, 4, 0, 0, 0, hashes, NULL, NULL};
    uint8_t b[STRATA_MANIFEST_MAX_BYTES];
    int len = strata_manifest_encode(b, sizeof b, &m);
    strata_manifest_sign(b, (size_t)len, sk2);
    run(&n, MS(5));
    CHECK_EQ_INT(strata_peer_handle_datagram(n.peer[1], FORGER, b, (size_t)len, n.now),
                 STRATA_ERR_FORGED);
    pump(&n);
    strata_peer_stats st;
    strata_peer_get_stats(n.peer[1], &st);
    CHECK_EQ_U64(st.forged_manifests, 1);
    CHECK_EQ_U64(st.manifests_tx, 0);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_FORGED], 1);
    net_free(&n);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 9, sizeof seed);
    crypto_sign_seed_keypair(PK, SK, seed);
    test_forgeries();
    test_unsigned_refused();
    test_late_joiner();
    test_forged_manifest();
    test_forging_parent();
    return test_summary("test_peer_sign");
}
