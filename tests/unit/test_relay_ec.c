/*
 * The erasure-coded relay strategy at the peer (core/relay_ec.c behind
 * core/relay.h), driven through real strata_peer objects and a real
 * strata_source on an in-memory network the test owns; the test plays the
 * control center (JOIN_REPLYs and INSTRUCTIONs from its address).
 *
 * The cluster, k = 4 data and n = 2 parity trees:
 *
 *   source --> R, a preferred node: FLOOD in the data substreams (no
 *              parent), EC_TREE roots of the six trees (parity made here);
 *   R --tree t--> M_t (t = 0..5), the first relay of tree t, which passes
 *              it to the six other members M_0..M_6;
 *   M_6        a leaf in every tree, feeding two common nodes C_0, C_1
 *              (TREE, level 3) the whole stream down its data trees.
 *
 * A tree is dropped by cutting the link R -> M_t (nobody gets it); a node
 * is killed by no longer delivering what it sends. Latencies are fixed per
 * pair (1..5 ms); the source sends 200 packets of 1,316 random bytes, one
 * every 5 ms (a multiple of k: every group is whole, the end-of-stream
 * marker alone in the last one), then the end of the stream.
 *
 * Signed (SPEC P3): the same cluster with a signing source and every peer
 * given the key: the root makes the parity hash lists from the groups it
 * holds and sends them down the parity trees, members verify every symbol
 * before they keep, decode or relay it, and still play everything with
 * nothing dropped, a data tree and a parity tree's relays killed included.
 *
 * Also here: what a single peer drops and counts (parity without parity
 * trees, a wrong seq or tree, outside the window, a symbol of another
 * length, a group cut short, duplicates, symbols that do not decode), how
 * n follows the instructions, every allocation failed in turn, and peers
 * sharing one encoder and decoder (as the simulator's do) doing exactly
 * what each with its own does.
 */
#include "failalloc.h"
#include "outbox_capture.h"
#include "testutil.h"

#include "strata/fec.h"
#include "strata/peer.h"
#include "strata/source.h"
#include "strata/wire.h"

#include <sodium.h>

#define MS(x) STRATA_MS(x)

enum {
    K = 4,
    N = 2,
    TREES = K + N,
    MEMBERS = TREES + 1, /* M_0..M_5 first relays of the trees, M_6 a leaf in all */
    COMMONS = 2,
    SOURCE = 0,
    ROOT = 1,
    FIRST_MEMBER = 2,
    FIRST_COMMON = FIRST_MEMBER + MEMBERS,
    NODES = FIRST_COMMON + COMMONS,
    PACKETS = 200,
    GROUPS = PACKETS / K,
    PAYLOAD = STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES,
    INPUT_BYTES = PACKETS * PAYLOAD,
    PACKET_GAP_MS = 5,
    START_MS = 10,
    RUN_MS = 8000,
};

static const strata_addr CONTROL = {0x0a000001, 7000};
static const char *const CHANNEL = "ec";

/* Node i: id 0x1000 + i at 10.0.1.i. */
static strata_peer_ref ref_of(unsigned i)
{
    return (strata_peer_ref){{0x1000u + i}, {0x0a000100u + i, 7000}};
}
#define addr_of(i) (ref_of(i).addr)
#define id_of(i) (ref_of(i).node)

static strata_channel_id chan(void)
{
    return strata_channel_id_from_name(CHANNEL, strlen(CHANNEL));
}

/* An instruction for node i, tree `tree` (k = K), naming the source;
 * parent and children are the caller's. */
static strata_msg_instruction instr_for(unsigned i, uint32_t epoch, uint8_t tree, uint8_t algorithm,
                                        uint8_t n, uint8_t level)
{
    return (strata_msg_instruction){.dcm = {1},
                                    .channel = chan(),
                                    .node = id_of(i),
                                    .epoch = epoch,
                                    .k = K,
                                    .substream = tree,
                                    .algorithm = algorithm,
                                    .n = n,
                                    .level = level,
                                    .source = ref_of(SOURCE)};
}
static unsigned member(unsigned t)
{
    return FIRST_MEMBER + t;
}

/* --- the in-memory network ---------------------------------------------- */

typedef struct node {
    strata_peer *peer;
    strata_source *src;
    const uint8_t *input; /* what it must play */
    size_t played_len;
    int diverged; /* played something else than the input */
    int ends;
    int muted;          /* killed: nothing it sends is delivered */
    uint8_t hb_parents; /* parent entries of its latest heartbeat */
    uint64_t heartbeats;
} node;

typedef struct flight {
    uint64_t t, order;
    unsigned from, to;
    strata_buf *buf;
} flight;

typedef struct cluster {
    node nodes[NODES];
    /* The peers' allocator and the coder they share (NULL: libc, each its
     * own coder), set before cluster_init. */
    const strata_alloc *alloc;
    strata_fec_encoder *fec_encoder;
    strata_fec_decoder *fec_decoder;
    int sign; /* a signed channel: the source signs, every peer verifies */
    int cut[NODES][NODES];     /* a link whose datagrams are lost */
    int corrupt[NODES][NODES]; /* a link that flips a byte of each parity symbol */
    flight *air;           /* datagrams on their way, unordered */
    size_t n_air, cap_air;
    uint64_t order;
    uint64_t now;
    const uint8_t *input;
    unsigned pushed; /* packets the source has sent */
    int finished;
} cluster;

/* Compares as it plays: the input is the reference. */
static void on_play(void *user, const uint8_t *buf, size_t len)
{
    node *n = user;
    if (len > INPUT_BYTES - n->played_len || memcmp(buf, n->input + n->played_len, len) != 0)
        n->diverged = 1;
    else
        n->played_len += len;
}

static void count_end(void *user)
{
    node *n = user;
    n->ends++;
}

static strata_outbox *outbox_of(node *n)
{
    return n->peer ? strata_peer_outbox(n->peer) : strata_source_outbox(n->src);
}

static unsigned index_of(strata_addr a)
{
    for (unsigned i = 0; i < NODES; i++)
        if (strata_addr_eq(addr_of(i), a))
            return i;
    return NODES;
}

static void note_control(node *n, const strata_buf *b)
{
    strata_msg_heartbeat hb;
    if (strata_wire_peek_type(b->data, b->len) != STRATA_MSG_HEARTBEAT ||
        strata_wire_decode_heartbeat(b->data, b->len, &hb) < 0)
        return;
    n->heartbeats++;
    n->hb_parents = hb.n_parents;
}

/* Moves node i's outbox onto the network. */
static void drain(cluster *c, unsigned i)
{
    strata_datagram d;
    while (strata_outbox_pop(outbox_of(&c->nodes[i]), &d)) {
        unsigned to = index_of(d.to);
        if (strata_addr_eq(d.to, CONTROL))
            note_control(&c->nodes[i], d.buf);
        if (to == NODES || c->nodes[i].muted || c->cut[i][to]) {
            strata_buf_unref(d.buf);
            continue;
        }
        if (c->n_air == c->cap_air) {
            c->cap_air = c->cap_air ? 2 * c->cap_air : 256;
            c->air = realloc(c->air, c->cap_air * sizeof *c->air);
        }
        if (c->corrupt[i][to] && d.buf->len > 0) {
            strata_msg_data m;
            if (strata_wire_peek_type(d.buf->data, d.buf->len) == STRATA_MSG_DATA &&
                strata_wire_decode_data(d.buf->data, d.buf->len, &m) > 0 &&
                (m.flags & STRATA_DATA_FLAG_PARITY)) {
                strata_buf *copy = strata_buf_copy(NULL, d.buf->data, d.buf->len);
                strata_buf_unref(d.buf);
                d.buf = copy;
                d.buf->data[d.buf->len - 1] ^= 0x5a;
            }
        }
        uint64_t latency = MS(1 + (i * 7 + to * 13) % 5);
        c->air[c->n_air++] = (flight){c->now + latency, c->order++, i, to, d.buf};
    }
}

static void feed(cluster *c, unsigned to, strata_addr from, const uint8_t *b, int len)
{
    CHECK(len > 0);
    node *n = &c->nodes[to];
    if (len <= 0)
        return;
    if (n->peer)
        strata_peer_handle_datagram(n->peer, from, b, (size_t)len, c->now);
    else
        strata_source_handle_datagram(n->src, from, b, (size_t)len, c->now);
    drain(c, to);
}

static void feed_reply(cluster *c, unsigned i)
{
    strata_msg_join_reply r = {id_of(i), chan(), STRATA_JOIN_OK, {1}, K, 0, 500, 0};
    uint8_t b[128];
    feed(c, i, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r));
}

static void feed_instr(cluster *c, unsigned i, uint8_t tree, uint8_t algorithm, uint8_t n,
                       uint8_t level, int parent, const unsigned *kids, unsigned n_kids)
{
    strata_msg_instruction m = instr_for(i, 1, tree, algorithm, n, level);
    if (parent >= 0)
        m.parent = ref_of((unsigned)parent);
    m.n_children = (uint8_t)n_kids;
    for (unsigned j = 0; j < n_kids; j++)
        m.children[j] = ref_of(kids[j]);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    feed(c, i, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m));
}

/* Node i's peer: a stream of k = K, upload to spare. */
/* The channel's key pair when it is signed (made in main). */
static uint8_t channel_pk[crypto_sign_PUBLICKEYBYTES], channel_sk[crypto_sign_SECRETKEYBYTES];

static strata_peer_config peer_cfg(unsigned i)
{
    return (strata_peer_config){
        .node = id_of(i), .channel = CHANNEL, .control = CONTROL, .upload_kbps = 20000, .seed = i};
}

static void cluster_init(cluster *c, const uint8_t *input)
{
    const strata_alloc *alloc = c->alloc;
    strata_fec_encoder *enc = c->fec_encoder;
    strata_fec_decoder *dec = c->fec_decoder;
    int sign = c->sign;
    memset(c, 0, sizeof *c);
    c->alloc = alloc;
    c->fec_encoder = enc;
    c->fec_decoder = dec;
    c->sign = sign;
    c->input = input;
    strata_source_config sc;
    memset(&sc, 0, sizeof sc);
    sc.node = id_of(SOURCE);
    sc.channel = CHANNEL;
    sc.control = CONTROL;
    sc.rate_kbps = 2000;
    sc.seed = 1;
    sc.sign = sign;
    sc.sign_parity = STRATA_WIRE_MAX_PARITY;
    memcpy(sc.channel_sk, channel_sk, sizeof sc.channel_sk);
    c->nodes[SOURCE].src = strata_source_new(&sc, NULL, 0);
    for (unsigned i = ROOT; i < NODES; i++) {
        strata_peer_config pc = peer_cfg(i);
        pc.fec_encoder = enc;
        pc.fec_decoder = dec;
        pc.verify = sign;
        memcpy(pc.channel_pk, channel_pk, sizeof pc.channel_pk);
        strata_peer_callbacks cb = {on_play, count_end, &c->nodes[i]};
        c->nodes[i].peer = strata_peer_new(&pc, &cb, alloc, 0);
        c->nodes[i].input = input;
    }
    for (unsigned i = 0; i < NODES; i++) {
        if (c->nodes[i].peer)
            strata_peer_handle_timeout(c->nodes[i].peer, 0);
        else
            strata_source_handle_timeout(c->nodes[i].src, 0);
        drain(c, i);
        feed_reply(c, i);
    }
    unsigned root[] = {ROOT};
    for (uint8_t s = 0; s < K; s++)
        feed_instr(c, SOURCE, s, STRATA_ALG_TREE, 0, 1, -1, root, 1);
    /* R: FLOOD data (no parent), the root of each of the six trees. */
    for (uint8_t t = 0; t < TREES; t++) {
        unsigned first[] = {member(t)};
        feed_instr(c, ROOT, t, t < K ? STRATA_ALG_FLOOD : STRATA_ALG_EC_TREE, t < K ? 0 : N, 1, -1,
                   first, 1);
    }
    for (unsigned j = 0; j < MEMBERS; j++) {
        for (uint8_t t = 0; t < TREES; t++) {
            unsigned kids[MEMBERS + COMMONS], nk = 0;
            if (t == j) {
                for (unsigned o = 0; o < MEMBERS; o++)
                    if (o != j)
                        kids[nk++] = member(o);
            } else if (j == MEMBERS - 1 && t < K) {
                for (unsigned o = 0; o < COMMONS; o++)
                    kids[nk++] = FIRST_COMMON + o;
            }
            feed_instr(c, member(j), t, STRATA_ALG_EC_TREE, N, 2, t == j ? ROOT : (int)member(t),
                       kids, nk);
        }
    }
    for (unsigned o = 0; o < COMMONS; o++)
        for (uint8_t s = 0; s < K; s++)
            feed_instr(c, FIRST_COMMON + o, s, STRATA_ALG_TREE, 0, 3, (int)member(MEMBERS - 1),
                       NULL, 0);
}

static void cluster_free(cluster *c)
{
    for (unsigned i = 0; i < NODES; i++) {
        strata_peer_del(c->nodes[i].peer);
        strata_source_del(c->nodes[i].src);
    }
    for (size_t i = 0; i < c->n_air; i++)
        strata_buf_unref(c->air[i].buf);
    free(c->air);
}

static uint64_t next_push(const cluster *c)
{
    if (c->finished)
        return STRATA_NEVER;
    return MS(START_MS + (uint64_t)c->pushed * PACKET_GAP_MS);
}

/* Runs every event (arrival, deadline, the source's next packet) up to
 * RUN_MS, earliest first; at one time, arrivals before deadlines before
 * input. */
static void cluster_run(cluster *c)
{
    for (;;) {
        size_t a = SIZE_MAX;
        for (size_t i = 0; i < c->n_air; i++)
            if (a == SIZE_MAX || c->air[i].t < c->air[a].t ||
                (c->air[i].t == c->air[a].t && c->air[i].order < c->air[a].order))
                a = i;
        uint64_t t_air = a == SIZE_MAX ? STRATA_NEVER : c->air[a].t;
        unsigned due = NODES;
        uint64_t t_due = STRATA_NEVER;
        for (unsigned i = 0; i < NODES; i++) {
            node *n = &c->nodes[i];
            uint64_t t =
                n->peer ? strata_peer_next_timeout(n->peer) : strata_source_next_timeout(n->src);
            if (t < t_due) {
                t_due = t;
                due = i;
            }
        }
        uint64_t t_push = next_push(c);
        uint64_t t = t_air < t_due ? t_air : t_due;
        t = t < t_push ? t : t_push;
        if (t == STRATA_NEVER || t > MS(RUN_MS))
            break;
        if (t > c->now)
            c->now = t;
        if (t == t_air) {
            flight f = c->air[a];
            c->air[a] = c->air[--c->n_air];
            feed(c, f.to, addr_of(f.from), f.buf->data, (int)f.buf->len);
            strata_buf_unref(f.buf);
        } else if (t == t_due) {
            node *n = &c->nodes[due];
            if (n->peer)
                strata_peer_handle_timeout(n->peer, c->now);
            else
                strata_source_handle_timeout(n->src, c->now);
            drain(c, due);
        } else if (c->pushed < PACKETS) {
            CHECK_EQ_INT(strata_source_push(c->nodes[SOURCE].src,
                                            c->input + (size_t)c->pushed * PAYLOAD, PAYLOAD,
                                            c->now),
                         0);
            c->pushed++;
            drain(c, SOURCE);
        } else {
            CHECK_EQ_INT(strata_source_finish(c->nodes[SOURCE].src, c->now), 0);
            c->finished = 1;
            drain(c, SOURCE);
        }
    }
}

static void make_input(uint8_t *input)
{
    strata_rng rng;
    strata_rng_seed(&rng, 11);
    for (size_t i = 0; i < INPUT_BYTES; i++)
        input[i] = (uint8_t)strata_rng_next(&rng);
}

/* Every peer played the whole input, byte for byte, and the end. */
static void check_played(const cluster *c, const char *what)
{
    for (unsigned i = ROOT; i < NODES; i++) {
        const node *n = &c->nodes[i];
        int exact = !n->diverged && n->played_len == INPUT_BYTES;
        if (!exact || n->ends != 1)
            fprintf(stderr, "%s: node %u played %zu of %d bytes, exact %d, ends %d\n", what, i,
                    n->played_len, INPUT_BYTES, exact, n->ends);
        CHECK(exact);
        CHECK_EQ_INT(n->ends, 1);
        strata_peer_stats st;
        strata_peer_get_stats(n->peer, &st);
        CHECK_EQ_U64(st.missed_packets, 0);
        CHECK_EQ_U64(st.rx_source_bytes + st.rx_peer_bytes + st.rx_repair_bytes +
                         st.parity_rebuilt_bytes,
                     st.rx_data_bytes);
    }
}

static strata_peer_stats stats_of(const cluster *c, unsigned i)
{
    strata_peer_stats st;
    strata_peer_get_stats(c->nodes[i].peer, &st);
    return st;
}

/* --- the cluster ---------------------------------------------------------- */

/* Nothing lost: R makes every group's two symbols, the first relays of the
 * parity trees pass them on, nobody repairs anything, and heartbeats carry
 * k + n parent entries in the cluster, k below it. A member may still
 * rebuild a packet: a symbol can overtake the group's last packet (the
 * contract says to decode as soon as k symbols are held), which then
 * arrives as a duplicate. */
static void test_whole_cluster(const uint8_t *input)
{
    cluster *c = calloc(1, sizeof *c);
    cluster_init(c, input);
    cluster_run(c);
    check_played(c, "whole");
    strata_peer_stats r = stats_of(c, ROOT);
    CHECK_EQ_U64(r.parity_encoded_symbols, GROUPS * N);
    CHECK_EQ_U64(r.parity_sent_packets, GROUPS * N);
    CHECK_EQ_U64(r.rx_parity_packets, 0);
    for (unsigned i = ROOT; i < NODES; i++) {
        strata_peer_stats st = stats_of(c, i);
        CHECK(st.rx_duplicates >= st.parity_rebuilt_packets);
        if (i == ROOT || i >= FIRST_COMMON)
            CHECK_EQ_U64(st.parity_rebuilt_packets, 0);
        CHECK_EQ_U64(st.rx_repairs, 0);
        CHECK_EQ_U64(st.repair_requests_sent, 0);
        CHECK_EQ_U64(st.parity_decode_failures, 0);
        CHECK(c->nodes[i].heartbeats > 0);
        CHECK_EQ_INT(c->nodes[i].hb_parents, i < FIRST_COMMON ? TREES : K);
        CHECK_EQ_U64(st.drops.total, 0);
    }
    for (unsigned t = K; t < TREES; t++) {
        /* The first relay of a parity tree forwards each symbol to the six
         * other members: received before its group is whole there, or made
         * from it, the same bytes. */
        strata_peer_stats st = stats_of(c, member(t));
        CHECK_EQ_U64(st.parity_sent_packets, GROUPS * (MEMBERS - 1));
    }
    for (unsigned j = 0; j < MEMBERS; j++) {
        strata_peer_stats st = stats_of(c, member(j));
        CHECK_EQ_U64(st.rx_parity_packets, GROUPS * N);
    }
    cluster_free(c);
    free(c);
}

/* Any two of the six trees dropped at the root: every member rebuilds the
 * lost data (50 groups for each data tree dropped, and what symbols
 * overtake, as above) and passes it down its
 * data trees; every node plays everything and nobody asks for repairs,
 * but for the end-of-stream marker when its tree (substream 0) is gone:
 * it is no group's packet, so nothing rebuilds it. */
static void test_any_two_trees(const uint8_t *input)
{
    cluster *c = calloc(1, sizeof *c);
    for (unsigned a = 0; a < TREES; a++) {
        for (unsigned b = a + 1; b < TREES; b++) {
            cluster_init(c, input);
            c->cut[ROOT][member(a)] = c->cut[ROOT][member(b)] = 1;
            cluster_run(c);
            char what[32];
            snprintf(what, sizeof what, "trees %u and %u", a, b);
            check_played(c, what);
            unsigned data_lost = (unsigned)(a < K) + (unsigned)(b < K);
            unsigned eos_lost = (unsigned)(a == PACKETS % K);
            for (unsigned j = 0; j < MEMBERS; j++) {
                strata_peer_stats st = stats_of(c, member(j));
                CHECK(st.parity_rebuilt_packets >= (uint64_t)GROUPS * data_lost);
                CHECK_EQ_U64(st.parity_decode_failures, 0);
                CHECK(st.rx_repairs <= eos_lost);
            }
            for (unsigned o = 0; o < COMMONS; o++) {
                strata_peer_stats st = stats_of(c, FIRST_COMMON + o);
                CHECK_EQ_U64(st.parity_rebuilt_packets, 0);
                CHECK(st.rx_repairs <= eos_lost);
            }
            cluster_free(c);
        }
    }
    free(c);
}

/* The first relays of data tree 1 and parity tree 1 die (nothing they send
 * arrives): the others rebuild substream 1 from the other five trees; no
 * repairs. */
static void test_killed_relays(const uint8_t *input)
{
    cluster *c = calloc(1, sizeof *c);
    cluster_init(c, input);
    c->nodes[member(1)].muted = 1;
    c->nodes[member(K + 1)].muted = 1;
    cluster_run(c);
    for (unsigned i = ROOT; i < NODES; i++) {
        const node *n = &c->nodes[i];
        CHECK_EQ_U64(n->played_len, INPUT_BYTES);
        CHECK(!n->diverged);
        strata_peer_stats st = stats_of(c, i);
        CHECK_EQ_U64(st.rx_repairs, 0);
        CHECK_EQ_U64(st.missed_packets, 0);
        if (i >= FIRST_MEMBER && i < FIRST_COMMON)
            CHECK(st.parity_rebuilt_packets >= GROUPS);
        else
            CHECK_EQ_U64(st.parity_rebuilt_packets, 0);
    }
    cluster_free(c);
    free(c);
}

/* Signed: whole, two trees cut at the root (data 1, parity 0), and the
 * first relays of data tree 1 and parity tree 1 killed: everything played,
 * nothing repaired, every symbol checked against its list before it is
 * relayed, every packet it rebuilds against its manifest before it is
 * taken (the lists come up to a batch after the data: the source sends
 * each manifest ahead of its batch). Then data tree 1 cut and parity tree
 * 1 corrupted at the root: its first relay rebuilds garbage it refuses,
 * counts the forgeries and relays none; repairs fill the gap. */
static void test_signed_cluster(const uint8_t *input)
{
    cluster *c = calloc(1, sizeof *c);
    for (int scenario = 0; scenario < 4; scenario++) {
        c->sign = 1;
        cluster_init(c, input);
        if (scenario == 1)
            c->cut[ROOT][member(1)] = c->cut[ROOT][member(K)] = 1;
        if (scenario == 2)
            c->nodes[member(1)].muted = c->nodes[member(K + 1)].muted = 1;
        if (scenario == 3) {
            c->cut[ROOT][member(1)] = 1;
            c->corrupt[ROOT][member(K + 1)] = 1;
        }
        cluster_run(c);
        uint64_t lists = 0, verified_parity = 0;
        for (unsigned i = ROOT; i < NODES; i++) {
            const node *n = &c->nodes[i];
            if (scenario == 2 && n->muted)
                continue;
            CHECK_EQ_U64(n->played_len, INPUT_BYTES);
            CHECK(!n->diverged);
            CHECK_EQ_INT(n->ends, 1);
            strata_peer_stats st = stats_of(c, i);
            CHECK_EQ_U64(st.missed_packets, 0);
            if (scenario == 3 && i == member(K + 1))
                CHECK(st.forged_packets >= GROUPS); /* each symbol, when its list came */
            else
                CHECK_EQ_U64(st.forged_packets, 0); /* nobody relayed a forged symbol */
            if (scenario < 3)
                CHECK_EQ_U64(st.rx_repairs, 0); /* parity came in time */
            CHECK_EQ_U64(st.forged_manifests, 0);
            CHECK_EQ_U64(st.unverified_packets, 0);
            CHECK(st.manifests_rx > 0);
            if (i >= FIRST_MEMBER && i < FIRST_COMMON) {
                lists += st.parity_lists_rx;
                verified_parity += st.rx_parity_packets;
                if (scenario == 1 || scenario == 2)
                    CHECK(st.parity_rebuilt_packets >= GROUPS);
            }
        }
        CHECK(lists > 0);
        CHECK(verified_parity > 0);
        /* The root made both lists of every manifest but the empty last
         * one itself; nobody had to ask the source for one. */
        strata_peer_stats r = stats_of(c, ROOT);
        CHECK_EQ_U64(r.parity_lists_rx, N * (r.manifests_rx - 1));
        CHECK_EQ_U64(r.manifest_requests_sent, 0);
        strata_source_stats ss;
        strata_source_get_stats(c->nodes[SOURCE].src, &ss);
        CHECK(ss.manifests_signed > 0);
        if (scenario == 0)
            CHECK_EQ_U64(ss.manifest_requests_served, 0);
        cluster_free(c);
    }
    free(c);
}

/* Three trees dropped (two data, one parity): three symbols of six, one
 * short of k, so no group decodes from the trees alone; repairs (from the
 * source, the one node beyond the cut that holds the data) fill the gap.
 * A repaired packet makes k symbols, which rebuild the group's other one;
 * and the first relay of the dropped parity tree makes its symbols again
 * from the groups it completes, which others then decode with. */
static void test_three_trees(const uint8_t *input)
{
    cluster *c = calloc(1, sizeof *c);
    cluster_init(c, input);
    c->cut[ROOT][member(0)] = c->cut[ROOT][member(1)] = c->cut[ROOT][member(K)] = 1;
    cluster_run(c);
    check_played(c, "three trees");
    uint64_t repairs = 0;
    for (unsigned j = 0; j < MEMBERS; j++) {
        strata_peer_stats st = stats_of(c, member(j));
        CHECK(st.repair_requests_sent > 0);
        repairs += st.rx_repairs;
    }
    CHECK(repairs >= 2 * GROUPS);
    strata_peer_stats made = stats_of(c, member(K));
    CHECK_EQ_U64(made.rx_parity_packets, GROUPS); /* symbol 1 only */
    CHECK(made.parity_encoded_symbols > 0);
    cluster_free(c);
    free(c);
}

/* Counts the bytes the peers allocate. */
static void *count_alloc(void *user, size_t size)
{
    *(size_t *)user += size;
    return malloc(size ? size : 1);
}

static void *count_realloc(void *user, void *ptr, size_t size)
{
    *(size_t *)user += size;
    return realloc(ptr, size ? size : 1);
}

static void count_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

/* The three-tree run of test_three_trees (encodes, decodes and repairs)
 * with every peer's own coder, then with one encoder and one decoder
 * shared by all of them (strata_peer_config, as the simulator does): the
 * same packets rebuilt, the same symbols made and sent, the same repairs,
 * every byte played; the shared decoder did the decoding (one loss
 * pattern of each kind, its tables cached), and the peers allocated no
 * coder of their own. */
static void test_shared_coder(const uint8_t *input)
{
    cluster *c[2];
    size_t bytes[2] = {0, 0};
    strata_alloc counted[2];
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    strata_fec_decoder *dec = strata_fec_decoder_new(NULL, 0);
    CHECK(enc && dec);
    for (int shared = 0; shared < 2; shared++) {
        counted[shared] = (strata_alloc){count_alloc, count_realloc, count_free, &bytes[shared]};
        c[shared] = calloc(1, sizeof *c[shared]);
        c[shared]->alloc = &counted[shared];
        c[shared]->fec_encoder = shared ? enc : NULL;
        c[shared]->fec_decoder = shared ? dec : NULL;
        cluster_init(c[shared], input);
        c[shared]->cut[ROOT][member(0)] = c[shared]->cut[ROOT][member(1)] = 1;
        c[shared]->cut[ROOT][member(K)] = 1;
        cluster_run(c[shared]);
        check_played(c[shared], shared ? "shared coder" : "own coders");
    }
    uint64_t rebuilt = 0, encoded = 0;
    for (unsigned i = ROOT; i < NODES; i++) {
        strata_peer_stats a = stats_of(c[0], i), b = stats_of(c[1], i);
        CHECK_EQ_U64(b.parity_rebuilt_packets, a.parity_rebuilt_packets);
        CHECK_EQ_U64(b.parity_rebuilt_bytes, a.parity_rebuilt_bytes);
        CHECK_EQ_U64(b.parity_encoded_symbols, a.parity_encoded_symbols);
        CHECK_EQ_U64(b.parity_sent_packets, a.parity_sent_packets);
        CHECK_EQ_U64(b.parity_sent_bytes, a.parity_sent_bytes);
        CHECK_EQ_U64(b.rx_duplicates, a.rx_duplicates);
        CHECK_EQ_U64(b.rx_repairs, a.rx_repairs);
        CHECK_EQ_U64(b.tx_data_bytes, a.tx_data_bytes);
        CHECK_EQ_U64(b.parity_decode_failures, 0);
        rebuilt += b.parity_rebuilt_packets;
        encoded += b.parity_encoded_symbols;
    }
    CHECK(rebuilt > 0);
    CHECK(encoded > 0);
    strata_fec_decoder_stats ds;
    strata_fec_decoder_stats_get(dec, &ds);
    CHECK(ds.decodes > 0);
    CHECK(ds.decodes <= rebuilt);
    CHECK(ds.table_misses < ds.table_hits);
    CHECK_EQ_U64(ds.table_evictions, 0);
    /* Each member made a decoder of its own before (at least its 8 slots
     * of tables, 32 KB), and some an encoder (70 KB of tables). */
    if (!(bytes[0] > bytes[1] + (size_t)MEMBERS * 32768))
        fprintf(stderr, "shared coder: peers allocated %zu bytes, %zu with their own\n", bytes[1],
                bytes[0]);
    CHECK(bytes[0] > bytes[1] + (size_t)MEMBERS * 32768);
    for (int shared = 0; shared < 2; shared++) {
        cluster_free(c[shared]);
        free(c[shared]);
    }
    strata_fec_encoder_del(enc);
    strata_fec_decoder_del(dec);
}

/* --- one peer --------------------------------------------------------------- */

typedef struct solo {
    strata_peer *p;
    sent_list *out;
    uint64_t played;
} solo;

static void solo_play(void *user, const uint8_t *buf, size_t len)
{
    (void)buf;
    ((solo *)user)->played += len;
}

static int solo_feed(solo *s, strata_addr from, const uint8_t *b, int len, uint64_t now)
{
    if (len <= 0)
        return -1000;
    return strata_peer_handle_datagram(s->p, from, b, (size_t)len, now);
}

static int solo_instr(solo *s, uint32_t epoch, uint8_t tree, uint8_t algorithm, uint8_t n,
                      unsigned parent, unsigned kid, uint64_t now)
{
    strata_msg_instruction m = instr_for(ROOT, epoch, tree, algorithm, n, 0);
    if (parent)
        m.parent = ref_of(parent);
    if (kid) {
        m.n_children = 1;
        m.children[0] = ref_of(kid);
    }
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return solo_feed(s, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), now);
}

/* A peer of k = 4 playing from seq 0, with the given allocator; with n
 * nonzero, an EC member with parents 20 + t and, in parity tree 0, child
 * 30. */
static int solo_init(solo *s, const strata_alloc *a, uint8_t n)
{
    strata_peer_config pc = peer_cfg(ROOT);
    pc.store_packets = 64;
    strata_peer_callbacks cb = {solo_play, NULL, s};
    s->p = strata_peer_new(&pc, &cb, a, 0);
    if (!s->p)
        return -1;
    strata_peer_handle_timeout(s->p, 0);
    strata_msg_join_reply r = {id_of(ROOT), chan(), STRATA_JOIN_OK, {1}, K, 0, 500, 0};
    uint8_t b[128];
    int err = solo_feed(s, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r), 0);
    for (uint8_t t = 0; t < K + n && err == 0; t++)
        err = solo_instr(s, 1, t, n ? STRATA_ALG_EC_TREE : STRATA_ALG_TREE, n, 20u + t,
                         t == K ? 30 : 0, 0);
    capture_outbox(strata_peer_outbox(s->p), s->out);
    return err;
}

/* Payload of packet seq: 100 + seq % 7 bytes of a pattern (lengths vary
 * within a group). */
static size_t payload_of(uint64_t seq, uint8_t *buf)
{
    size_t len = 100 + seq % 7;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 31 + i);
    return len;
}

static int encode_packet(uint8_t *b, size_t cap, uint64_t seq, uint8_t flags)
{
    uint8_t pay[STRATA_WIRE_MAX_PAYLOAD_BYTES];
    strata_msg_data m = {.channel = chan(),
                         .seq = seq,
                         .substream = (uint8_t)(seq % K),
                         .flags = flags,
                         .send_ts_ns = MS(seq)};
    if (!(flags & STRATA_DATA_FLAG_EOS)) {
        m.payload_len = (uint16_t)payload_of(seq, pay);
        m.payload = pay;
    }
    return strata_wire_encode_data(b, cap, &m);
}

static int solo_data(solo *s, uint64_t seq, uint8_t flags, uint64_t now)
{
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return solo_feed(s, addr_of(20u + (unsigned)(seq % K)), b,
                     encode_packet(b, sizeof b, seq, flags), now);
}

/* Symbol i of the group starting at first, as R would make it, sent on
 * tree `tree` (K + i unless the test lies) with seq `seq` (first unless
 * the test lies); `corrupt` flips a bit of it, `extra` pads it. */
static strata_fec_encoder *reference; /* the test's own encoder, made in main */

static int encode_symbol(uint8_t *b, size_t cap, uint64_t first, unsigned i, uint8_t tree,
                         uint64_t seq, int corrupt, size_t extra)
{
    uint8_t pay[K][STRATA_WIRE_MAX_PAYLOAD_BYTES];
    const uint8_t *data[K];
    size_t len[K];
    for (unsigned j = 0; j < K; j++) {
        len[j] = payload_of(first + j, pay[j]);
        data[j] = pay[j];
    }
    uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES + 8];
    uint8_t *out[1] = {sym};
    int n = strata_fec_encode(reference, K, data, len, i, 1, out, sizeof sym);
    CHECK(n > 0);
    if (corrupt)
        sym[n - 2] ^= 0x40; /* the length trailer: what the decoder can tell */
    memset(sym + n, 0, extra);
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.seq = seq;
    m.substream = tree;
    m.flags = STRATA_DATA_FLAG_PARITY;
    m.send_ts_ns = MS(first + K - 1);
    m.payload_len = (uint16_t)((size_t)n + extra);
    m.payload = sym;
    return strata_wire_encode_data(b, cap, &m);
}

/* Symbol i of the group at first, from the parent of data tree 0: a node
 * this one takes data from whatever its parity trees are, so that the
 * tree checks judge the symbol, not the sender checks. */
static int solo_symbol(solo *s, uint64_t first, unsigned i, uint64_t now)
{
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return solo_feed(s, addr_of(20u), b,
                     encode_symbol(b, sizeof b, first, i, (uint8_t)(K + i), first, 0, 0), now);
}

/* What a peer refuses, and how it counts it (protocol.md 3.1.1). */
static void test_parity_drops(sent_list *out)
{
    solo s = {NULL, out, 0};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    /* Without parity trees every symbol is unexpected. */
    CHECK_EQ_INT(solo_init(&s, NULL, 0), 0);
    CHECK_EQ_INT(solo_data(&s, 0, 0, MS(1)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 0, 0, MS(2)), STRATA_ERR_UNEXPECTED);
    strata_peer_stats st;
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNEXPECTED], 1);
    CHECK_EQ_U64(st.rx_parity_packets, 0);
    strata_peer_del(s.p);

    CHECK_EQ_INT(solo_init(&s, NULL, N), 0);
    CHECK_EQ_INT(solo_data(&s, 0, 0, MS(1)), 0);
    /* seq not a group's first, a tree beyond k + n, a data substream */
    CHECK_EQ_INT(solo_feed(&s, addr_of(24), b, encode_symbol(b, sizeof b, 0, 0, K, 1, 0, 0), MS(2)),
                 STRATA_ERR_UNEXPECTED);
    CHECK_EQ_INT(
        solo_feed(&s, addr_of(24), b, encode_symbol(b, sizeof b, 0, 0, K + N, 0, 0, 0), MS(2)),
        STRATA_ERR_UNEXPECTED);
    CHECK_EQ_INT(solo_feed(&s, addr_of(24), b, encode_symbol(b, sizeof b, 0, 0, 1, 0, 0, 0), MS(2)),
                 STRATA_ERR_UNEXPECTED);
    /* beyond the window (64 packets from seq 1) */
    CHECK_EQ_INT(solo_symbol(&s, 68, 0, MS(2)), STRATA_ERR_RANGE);
    /* symbol 0 of group 0 held; symbol 1 of another length refused; a
     * second copy of symbol 0 is a duplicate */
    CHECK_EQ_INT(solo_symbol(&s, 0, 0, MS(3)), 0);
    CHECK_EQ_INT(
        solo_feed(&s, addr_of(25), b, encode_symbol(b, sizeof b, 0, 1, K + 1, 0, 0, 3), MS(3)),
        STRATA_ERR_RANGE);
    CHECK_EQ_INT(solo_symbol(&s, 0, 0, MS(3)), 0);
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNEXPECTED], 3);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_RANGE], 2);
    CHECK_EQ_U64(st.rx_parity_packets, 1);
    CHECK_EQ_U64(st.rx_duplicates, 1);
    /* The symbol went on to parity tree 0's child, once. */
    capture_outbox(strata_peer_outbox(s.p), out);
    size_t to_child = 0;
    for (size_t i = 0; i < out->n; i++)
        to_child +=
            out->items[i].type == STRATA_MSG_DATA && strata_addr_eq(out->items[i].to, addr_of(30));
    CHECK_EQ_U64(to_child, 1);
    /* Packet 1 and 2 arrive: 3 data + 1 symbol = k, packet 3 is rebuilt
     * and played; the group is whole, so the peer owes nothing more. */
    CHECK_EQ_INT(solo_data(&s, 1, 0, MS(4)), 0);
    CHECK_EQ_INT(solo_data(&s, 2, 0, MS(4)), 0);
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.parity_rebuilt_packets, 1);
    CHECK_EQ_U64(st.played_bytes,
                 payload_of(0, b) + payload_of(1, b) + payload_of(2, b) + payload_of(3, b));
    CHECK_EQ_INT(solo_data(&s, 3, 0, MS(5)), 0); /* late: a duplicate now */
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.rx_duplicates, 2);
    /* Group 1 whole from its data: the child of parity tree 0 gets symbol 0
     * made here, the bytes R makes. */
    for (uint64_t q = 4; q < 8; q++)
        CHECK_EQ_INT(solo_data(&s, q, 0, MS(6)), 0);
    capture_outbox(strata_peer_outbox(s.p), out);
    const sent *made = NULL;
    for (size_t i = 0; i < out->n; i++)
        if (out->items[i].type == STRATA_MSG_DATA && strata_addr_eq(out->items[i].to, addr_of(30)))
            made = &out->items[i];
    CHECK(made != NULL);
    if (made) {
        int n = encode_symbol(b, sizeof b, 4, 0, K, 4, 0, 0);
        CHECK_EQ_U64(made->buf->len, (uint64_t)n);
        CHECK(made->buf->len == (uint32_t)n && memcmp(made->buf->data, b, (size_t)n) == 0);
    }
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.parity_encoded_symbols, 1);
    CHECK_EQ_U64(st.parity_sent_packets, 2);
    /* Symbol 1 of a whole group: taken and counted, not relayed (the tree
     * has no child) nor kept. */
    CHECK_EQ_INT(solo_symbol(&s, 4, 1, MS(7)), 0);
    /* A group cut short by the end of the stream has no parity. */
    CHECK_EQ_INT(solo_data(&s, 10, STRATA_DATA_FLAG_EOS, MS(8)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 8, 0, MS(8)), STRATA_ERR_RANGE);
    strata_peer_del(s.p);
    sent_clear(out);
}

/* Symbols that do not belong with the group's data: the decode fails, is
 * counted, nothing is rebuilt, and the missing packet is asked for as
 * usual (parity is never asked for). */
static void test_bad_symbols(sent_list *out)
{
    solo s = {NULL, out, 0};
    CHECK_EQ_INT(solo_init(&s, NULL, N), 0);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(solo_data(&s, 0, 0, MS(1)), 0);
    CHECK_EQ_INT(solo_data(&s, 1, 0, MS(1)), 0);
    CHECK_EQ_INT(solo_feed(&s, addr_of(24), b, encode_symbol(b, sizeof b, 0, 0, K, 0, 1, 0), MS(2)),
                 0);
    CHECK_EQ_INT(solo_symbol(&s, 0, 1, MS(2)), 0);
    strata_peer_stats st;
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.parity_decode_failures, 1);
    CHECK_EQ_U64(st.parity_rebuilt_packets, 0);
    /* the group takes no more symbols */
    CHECK_EQ_INT(solo_symbol(&s, 0, 1, MS(3)), 0);
    strata_peer_get_stats(s.p, &st);
    CHECK_EQ_U64(st.parity_decode_failures, 1);
    CHECK_EQ_INT(solo_data(&s, 6, 0, MS(3)), 0); /* 2 and 3 overtaken */
    capture_outbox(strata_peer_outbox(s.p), out);
    strata_peer_handle_timeout(s.p, MS(800));
    capture_outbox(strata_peer_outbox(s.p), out);
    uint64_t asked = 0;
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_repair m;
        if (out->items[i].type == STRATA_MSG_REPAIR_REQUEST &&
            strata_wire_decode_repair(out->items[i].buf->data, out->items[i].buf->len, &m) > 0)
            asked |= m.mask << (m.first_seq & 63);
    }
    CHECK(asked & (1u << 2));
    CHECK(asked & (1u << 3));
    strata_peer_del(s.p);
    sent_clear(out);
}

/* n follows the newest EC_TREE instruction: a smaller n drops the trees
 * beyond it (their symbols become unexpected, heartbeats shrink), a stale
 * one with another n is ignored, FLOOD and TREE say nothing of it, n = 0
 * ends the parity trees. */
static void test_n_follows_instructions(sent_list *out)
{
    solo s = {NULL, out, 0};
    CHECK_EQ_INT(solo_init(&s, NULL, N), 0);
    CHECK_EQ_INT(solo_data(&s, 0, 0, MS(1)), 0);
    CHECK_EQ_INT(solo_instr(&s, 2, 0, STRATA_ALG_EC_TREE, 1, 20, 0, MS(2)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 0, 1, MS(2)), STRATA_ERR_UNEXPECTED);
    CHECK_EQ_INT(solo_symbol(&s, 0, 0, MS(2)), 0);
    /* stale (epoch 1 < 2) with n = 2: ignored */
    CHECK_EQ_INT(solo_instr(&s, 1, K + 1, STRATA_ALG_EC_TREE, 2, 25, 0, MS(3)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 4, 1, MS(3)), STRATA_ERR_UNEXPECTED);
    /* FLOOD with n = 0 leaves the parity trees */
    CHECK_EQ_INT(solo_instr(&s, 3, 1, STRATA_ALG_FLOOD, 0, 0, 0, MS(4)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 4, 0, MS(4)), 0);
    strata_peer_handle_timeout(s.p, MS(600)); /* a heartbeat: k + 1 parents */
    capture_outbox(strata_peer_outbox(s.p), out);
    int hb_seen = 0;
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_heartbeat hb;
        if (out->items[i].type == STRATA_MSG_HEARTBEAT &&
            strata_wire_decode_heartbeat(out->items[i].buf->data, out->items[i].buf->len, &hb) >
                0) {
            CHECK_EQ_INT(hb.n_parents, K + 1);
            CHECK_EQ_U64(hb.parents[K].parent.v, id_of(20 + K).v);
            CHECK_EQ_U64(hb.parents[K].buffer_packets, 2);
            hb_seen = 1;
        }
    }
    CHECK(hb_seen);
    /* n = 0: no parity trees; heartbeats have k entries again */
    CHECK_EQ_INT(solo_instr(&s, 4, 2, STRATA_ALG_EC_TREE, 0, 22, 0, MS(5)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 4, 0, MS(5)), STRATA_ERR_UNEXPECTED);
    strata_peer_handle_timeout(s.p, MS(1200));
    capture_outbox(strata_peer_outbox(s.p), out);
    hb_seen = 0;
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_heartbeat hb;
        if (out->items[i].type == STRATA_MSG_HEARTBEAT &&
            strata_wire_decode_heartbeat(out->items[i].buf->data, out->items[i].buf->len, &hb) >
                0) {
            CHECK_EQ_INT(hb.n_parents, K);
            hb_seen = 1;
        }
    }
    CHECK(hb_seen);
    /* Parity trees again; then a new k renumbers the trees, and the parity
     * trees go with the old one. */
    CHECK_EQ_INT(solo_instr(&s, 5, K, STRATA_ALG_EC_TREE, N, 24, 0, MS(6)), 0);
    CHECK_EQ_INT(solo_symbol(&s, 8, 0, MS(6)), 0);
    strata_msg_instruction m = instr_for(ROOT, 6, 0, STRATA_ALG_TREE, 0, 0);
    m.k = 2;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(solo_feed(&s, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), MS(7)),
                 0);
    CHECK_EQ_INT(solo_symbol(&s, 8, 0, MS(7)), STRATA_ERR_UNEXPECTED);
    strata_peer_del(s.p);
    sent_clear(out);
}

/* Touches every allocating path of the coder: parity relayed and kept, a
 * decode, an encode for the parity child, the window moving on. Returns 0
 * (the failures it met are ordinary). */
static int ec_scenario(const strata_alloc *a)
{
    sent_list *out = calloc(1, sizeof *out);
    solo s = {NULL, out, 0};
    if (solo_init(&s, a, N) == 0) {
        solo_data(&s, 0, 0, MS(1));
        solo_data(&s, 1, 0, MS(1));
        solo_symbol(&s, 0, 0, MS(2));
        solo_symbol(&s, 0, 1, MS(2));
        for (uint64_t q = 4; q < 8; q++)
            solo_data(&s, q, 0, MS(3));
        solo_symbol(&s, 8, 0, MS(4));
        strata_peer_handle_timeout(s.p, MS(5000));
        solo_data(&s, 300, 0, MS(5001));
        strata_peer_handle_timeout(s.p, MS(9000));
    }
    strata_peer_del(s.p);
    sent_clear(out);
    free(out);
    return 0;
}

static void test_alloc_failure(void)
{
    long total = 0;
    CHECK_EQ_INT(fa_each(ec_scenario, &total), 0);
    CHECK(total > 10);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 5, sizeof seed);
    crypto_sign_seed_keypair(channel_pk, channel_sk, seed);
    uint8_t *input = malloc(INPUT_BYTES);
    make_input(input);
    reference = strata_fec_encoder_new(NULL);
    sent_list *out = calloc(1, sizeof *out);
    test_parity_drops(out);
    test_bad_symbols(out);
    test_n_follows_instructions(out);
    test_alloc_failure();
    test_whole_cluster(input);
    test_killed_relays(input);
    test_three_trees(input);
    test_signed_cluster(input);
    test_any_two_trees(input);
    test_shared_coder(input);
    strata_fec_encoder_del(reference);
    free(out);
    free(input);
    return test_summary("test_relay_ec");
}
