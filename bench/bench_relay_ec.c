/*
 * The CPU cost of one peer relaying a stream by relay strategy: a whole
 * node object (strata/node.h, what the daemons drive) fed in memory with
 * the datagrams of its parents, its outbox drained after every call, time
 * advancing at the stream's pace so that playout, heartbeats and the
 * window run as they do live. k = 4, n = 2, 1,316-byte payloads; the node
 * forwards to 4 children in its own tree.
 *
 *   tree        TREE member, interior in data tree 0 (the baseline);
 *   ec relay    EC_TREE member, interior in data tree 0; receives the
 *               group's 4 packets and 2 symbols (symbols last: nothing to
 *               decode; it keeps and drops them);
 *   ec decode   the same with data tree 1 dead: 3 packets + 2 symbols,
 *               one packet rebuilt per group (and relayed on if its tree
 *               were the node's);
 *   ec encode   EC_TREE member, interior in parity tree 0: it receives no
 *               symbol 0 and makes it from each whole group for its 4
 *               children;
 *   ec root     a preferred node: FLOOD data (one child a substream),
 *               the root of both parity trees: 2 symbols made per group.
 *
 * Prints ns of thread CPU time per stream packet (the best of five runs
 * of 40,000 groups; the bench's own encoding of the fed datagrams is
 * measured apart and taken off) and the share of one core at 4 Mbit/s
 * (380 packets/s). Figures only; never pass or fail.
 *
 * Usage: bench_relay_ec [IGNORED]  (scripts/bench.sh passes the strata path)
 */
#include "strata/fec.h"
#include "strata/node.h"
#include "strata/wire.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

enum {
    K = 4,
    N = 2,
    PAYLOAD = 1316,
    CHILDREN = 4,
    GROUPS = 40000,
    RUNS = 5,
    STREAM_PKTS_PER_S = 4000000 / 8 / PAYLOAD,
};

static const strata_addr CONTROL = {0x7f000001, 7000};
static const strata_node_id ME = {0xbe};
static const char *const CHANNEL = "bench";
/* a packet every 1/380 s, as the stream comes; its send time keeps pace */
static const uint64_t GAP_NS = 1000000000u / STREAM_PKTS_PER_S;

enum scenario { TREE, EC_RELAY, EC_DECODE, EC_ENCODE, EC_ROOT, SCENARIOS };
static const char *const NAMES[SCENARIOS] = {"tree", "ec relay", "ec decode", "ec encode",
                                             "ec root"};

static uint64_t thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static strata_peer_ref peer(unsigned i)
{
    return (strata_peer_ref){{0x100u + i}, {0x0a000000u + i, 9000}};
}

static void sink(void *user, const uint8_t *buf, size_t len)
{
    (void)buf;
    *(uint64_t *)user += len;
}

static void drain(strata_node *node)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_node_outbox(node), &d))
        strata_buf_unref(d.buf);
}

static void deliver(strata_node *node, strata_addr from, const uint8_t *b, int len, uint64_t now)
{
    strata_rx rx = {from, -1};
    if (len > 0)
        strata_node_handle_datagram(node, &rx, b, (size_t)len, now);
    drain(node);
}

/* Tree t of the scenario: its algorithm, parent and children. */
static void instruct(strata_node *node, enum scenario sc, uint8_t t, uint64_t now)
{
    int ec = sc != TREE, root = sc == EC_ROOT;
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_msg_instruction m = {
        .dcm = {1},
        .channel = strata_channel_id_from_name(CHANNEL, strlen(CHANNEL)),
        .node = ME,
        .epoch = 1,
        .k = K,
        .substream = t,
        .algorithm = root && t < K ? STRATA_ALG_FLOOD
                     : ec          ? STRATA_ALG_EC_TREE
                                   : STRATA_ALG_TREE,
        .n = ec && !(root && t < K) ? N : 0,
        .source = peer(99),
    };
    if (!root)
        m.parent = peer(t);
    int interior = root || (t == 0 && sc != EC_ENCODE) || (t == K && sc == EC_ENCODE);
    for (unsigned c = 0; interior && c < (root ? 1u : CHILDREN); c++)
        m.children[m.n_children++] = peer(20u + 10u * t + c);
    deliver(node, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &m), now);
}

typedef struct feed {
    uint8_t payload[PAYLOAD];
    uint8_t symbol[N][STRATA_FEC_MAX_SYMBOL_BYTES];
    int symbol_len;
} feed;

/* Datagram s (< K data, else symbol s - K) of group g. */
static int encode(const feed *f, uint64_t g, unsigned s, uint8_t *b, size_t cap)
{
    strata_msg_data m = {
        .channel = strata_channel_id_from_name(CHANNEL, strlen(CHANNEL)),
        .seq = g * K + (s < K ? s : 0),
        .substream = (uint8_t)s,
        .flags = s < K ? 0 : STRATA_DATA_FLAG_PARITY,
        .send_ts_ns = (g * K + (s < K ? s : K - 1u)) * GAP_NS,
        .payload_len = (uint16_t)(s < K ? PAYLOAD : f->symbol_len),
        .payload = s < K ? f->payload : f->symbol[s - K],
    };
    return strata_wire_encode_data(b, cap, &m);
}

/* Which of the group's k + n datagrams the scenario's node receives. */
static int receives(enum scenario sc, unsigned s)
{
    if (s < K)
        return sc != EC_DECODE || s != 1;
    return sc == EC_RELAY || sc == EC_DECODE || (sc == EC_ENCODE && s != K);
}

/* One run: ns of thread CPU time for GROUPS groups, and (with node NULL)
 * the time the feeding alone takes. */
static uint64_t run(const feed *f, enum scenario sc, int feed_only, strata_peer_stats *st)
{
    uint64_t now = STRATA_S(1), played = 0;
    strata_node_config nc = {.id = ME, .addr = {0x0a0000feu, 9000}, .control = CONTROL, .seed = 7};
    strata_node *node = feed_only ? NULL : strata_node_new(&nc, NULL, NULL, now);
    int ch = -1;
    if (node) {
        strata_peer_config pc = {.channel = CHANNEL, .upload_kbps = 100000};
        strata_peer_callbacks cb = {sink, NULL, &played};
        ch = strata_node_watch(node, &pc, &cb, now);
        strata_node_handle_timeout(node, now);
        drain(node);
        strata_msg_join_reply r = {ME,
                                   strata_channel_id_from_name(CHANNEL, strlen(CHANNEL)),
                                   STRATA_JOIN_OK,
                                   {1},
                                   K,
                                   0,
                                   500,
                                   0};
        uint8_t b[128];
        deliver(node, CONTROL, b, strata_wire_encode_join_reply(b, sizeof b, &r), now);
        for (uint8_t t = 0; t < (sc == TREE ? K : K + N); t++)
            instruct(node, sc, t, now);
    }
    uint64_t sum = 0, t0 = thread_ns();
    for (uint64_t g = 0; g < GROUPS; g++) {
        for (unsigned s = 0; s < K + N; s++) {
            if (!receives(sc, s))
                continue;
            uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
            int len = encode(f, g, s, b, sizeof b);
            if (!node) {
                sum += (uint64_t)len + b[len / 2];
                continue;
            }
            now += s < K ? GAP_NS : 0;
            deliver(node, peer(sc == EC_ROOT ? 99 : s).addr, b, len, now);
            if (strata_node_next_timeout(node) <= now) {
                strata_node_handle_timeout(node, now);
                drain(node);
            }
        }
    }
    uint64_t ns = thread_ns() - t0;
    if (node) {
        strata_peer_get_stats(strata_node_peer(node, ch), st);
        strata_node_del(node);
    } else if (sum == 42) {
        ns++; /* keeps the feeding from being optimised away */
    }
    return ns;
}

static uint64_t best_of(const feed *f, enum scenario sc, int feed_only, strata_peer_stats *st)
{
    uint64_t best = UINT64_MAX;
    for (int r = 0; r < RUNS; r++) {
        uint64_t ns = run(f, sc, feed_only, st);
        best = ns < best ? ns : best;
    }
    return best;
}

int main(void)
{
    static feed f;
    for (size_t i = 0; i < PAYLOAD; i++)
        f.payload[i] = (uint8_t)(i * 7 + 1);
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    const uint8_t *data[K];
    size_t len[K];
    for (unsigned j = 0; j < K; j++) {
        data[j] = f.payload;
        len[j] = PAYLOAD;
    }
    uint8_t *out[N] = {f.symbol[0], f.symbol[1]};
    f.symbol_len = strata_fec_encode(enc, K, data, len, 0, N, out, sizeof f.symbol[0]);
    strata_fec_encoder_del(enc);
    if (f.symbol_len < 0)
        return 1;
    printf("one peer relaying a stream of 1,316-byte packets, k = %d, n = %d, %d children in its "
           "tree;\nthread CPU time per stream packet, best of %d runs of %d groups\n",
           K, N, CHILDREN, RUNS, GROUPS);
    printf("%-10s %9s %11s %9s %9s %9s %9s\n", "strategy", "ns/packet", "core@4Mbps", "sent/pkt",
           "rebuilt", "parity in", "made");
    for (int sc = 0; sc < SCENARIOS; sc++) {
        strata_peer_stats st;
        memset(&st, 0, sizeof st);
        uint64_t feeding = best_of(&f, (enum scenario)sc, 1, NULL);
        uint64_t total = best_of(&f, (enum scenario)sc, 0, &st);
        double per_pkt = (double)(total > feeding ? total - feeding : 0) / (GROUPS * K);
        printf("%-10s %9.0f %10.4f%% %9.2f %9llu %9llu %9llu\n", NAMES[sc], per_pkt,
               per_pkt * STREAM_PKTS_PER_S / 1e9 * 100.0, (double)st.tx_data_packets / (GROUPS * K),
               (unsigned long long)st.parity_rebuilt_packets,
               (unsigned long long)st.rx_parity_packets,
               (unsigned long long)st.parity_encoded_symbols);
    }
    return 0;
}
