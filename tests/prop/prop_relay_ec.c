/*
 * Property test of the erasure-coded relay at one peer (core/relay_ec.c):
 * random k (1..8) and n (1..4), random group contents (payloads of 0..1,400
 * bytes, lengths varying within a group) and random loss patterns: each of
 * a group's k + n symbols arrives with a probability drawn per trial, in a
 * shuffled order. The peer is an EC member with a parent per tree, child D
 * in every data tree and child C_i in parity tree i. After every group:
 *
 *  - k or more symbols arrived: every data packet of the group is held, the
 *    missing ones rebuilt (counted exactly), and D got each packet once,
 *    the bytes sent; each C_i got symbol i once, the bytes a reference
 *    encoder makes (relayed or computed);
 *  - fewer: nothing is rebuilt, D got what arrived, C_i got symbol i only
 *    if it arrived;
 *  - no repair request ever names a packet of a group that decoded.
 *
 * At the end playout has played, in order, every packet held. The seed is
 * printed; STRATA_TEST_SEED replays a failure.
 */
#include "testutil.h"

#include "strata/fec.h"
#include "strata/peer.h"
#include "strata/wire.h"

#define MS(x) STRATA_MS(x)

enum {
    TRIALS = 300,
    GROUPS = 20,
    MAX_K = 8,
    MAX_N = 4,
    GROUP_GAP_MS = 20,
    PLAYED_CAP = GROUPS * MAX_K * STRATA_WIRE_MAX_PAYLOAD_BYTES,
};

static const strata_addr CONTROL = {0x0a000001, 7000};
static const strata_node_id ME = {0xec};
static const strata_addr D = {0x0a000300, 7000};

static strata_addr parent_addr(unsigned t)
{
    return (strata_addr){0x0a000100u + t, 7000};
}
static strata_addr child_addr(unsigned i)
{
    return (strata_addr){0x0a000200u + i, 7000};
}
static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("prop", 4);
}

typedef struct group {
    uint8_t data[MAX_K][STRATA_WIRE_MAX_PAYLOAD_BYTES];
    size_t len[MAX_K];
    uint8_t datagram[MAX_K + MAX_N][STRATA_WIRE_MAX_DATAGRAM_BYTES]; /* as sent to the peer */
    size_t datagram_len[MAX_K + MAX_N];
    int arrived[MAX_K + MAX_N];
} group;

typedef struct trial {
    strata_peer *p;
    unsigned k, n;
    uint8_t *played;
    size_t played_len;
    uint8_t *expected;
    size_t expected_len;
    int decoded[GROUPS];
    uint64_t rebuilt;
    int ok;
} trial;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    trial *t = user;
    if (t->played_len + len <= PLAYED_CAP) {
        memcpy(t->played + t->played_len, buf, len);
        t->played_len += len;
    }
}

static int feed(trial *t, strata_addr from, const uint8_t *b, size_t len, uint64_t now)
{
    return strata_peer_handle_datagram(t->p, from, b, len, now);
}

/* Tree `tree` of an EC member: its parent, and child D (data) or C_i. */
static void instruct(trial *t, unsigned tree)
{
    strata_msg_instruction m = {
        .dcm = {9},
        .channel = chan(),
        .node = ME,
        .epoch = 1,
        .k = (uint8_t)t->k,
        .substream = (uint8_t)tree,
        .algorithm = STRATA_ALG_EC_TREE,
        .n = (uint8_t)t->n,
        .level = 2,
        .parent = {{0x100u + tree}, parent_addr(tree)},
        .n_children = 1,
    };
    m.children[0] = tree < t->k ? (strata_peer_ref){{0x300}, D}
                                : (strata_peer_ref){{0x200u + tree}, child_addr(tree - t->k)};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_instruction(b, sizeof b, &m);
    CHECK(len > 0 && feed(t, CONTROL, b, (size_t)len, 0) == 0);
}

static void make_group(strata_rng *rng, strata_fec_encoder *enc, const trial *t, uint64_t first,
                       group *g)
{
    const uint8_t *data[MAX_K];
    for (unsigned j = 0; j < t->k; j++) {
        /* mostly full packets, some short, a few empty */
        uint64_t r = strata_rng_below(rng, 8);
        g->len[j] = r == 0  ? 0
                    : r < 3 ? strata_rng_below(rng, 200)
                            : 1316 + strata_rng_below(rng, 85);
        for (size_t b = 0; b < g->len[j]; b++)
            g->data[j][b] = (uint8_t)strata_rng_next(rng);
        data[j] = g->data[j];
    }
    uint8_t sym[MAX_N][STRATA_FEC_MAX_SYMBOL_BYTES];
    uint8_t *out[MAX_N];
    for (unsigned i = 0; i < t->n; i++)
        out[i] = sym[i];
    int sym_len = strata_fec_encode(enc, t->k, data, g->len, 0, t->n, out, sizeof sym[0]);
    CHECK(sym_len > 0);
    for (unsigned s = 0; s < t->k + t->n; s++) {
        strata_msg_data m;
        memset(&m, 0, sizeof m);
        m.channel = chan();
        m.send_ts_ns = MS(first + t->k - 1);
        if (s < t->k) {
            m.seq = first + s;
            m.substream = (uint8_t)s;
            m.send_ts_ns = MS(first + s);
            m.payload = g->data[s];
            m.payload_len = (uint16_t)g->len[s];
        } else {
            m.seq = first;
            m.substream = (uint8_t)s;
            m.flags = STRATA_DATA_FLAG_PARITY;
            m.payload = sym[s - t->k];
            m.payload_len = (uint16_t)sym_len;
        }
        int n = strata_wire_encode_data(g->datagram[s], sizeof g->datagram[s], &m);
        CHECK(n > 0);
        g->datagram_len[s] = n > 0 ? (size_t)n : 0;
    }
}

/* Checks what the peer sent: to its children, group g starting at first
 * (NULL: nothing may go to them), and the repair requests. */
static void check_outbox(trial *t, const group *g, uint64_t first, int decodes)
{
    unsigned to_d[MAX_K] = {0}, to_c[MAX_N] = {0};
    strata_datagram d;
    while (strata_outbox_pop(strata_peer_outbox(t->p), &d)) {
        strata_msg_data m;
        strata_msg_repair r;
        int type = strata_wire_peek_type(d.buf->data, d.buf->len);
        if (type == STRATA_MSG_DATA && strata_wire_decode_data(d.buf->data, d.buf->len, &m) > 0) {
            if (strata_addr_eq(d.to, D)) {
                unsigned j = (unsigned)(m.seq - first);
                CHECK(g && m.seq >= first && j < t->k);
                if (g && m.seq >= first && j < t->k) {
                    to_d[j]++;
                    CHECK(m.payload_len == g->len[j] &&
                          memcmp(m.payload, g->data[j], g->len[j]) == 0);
                }
            }
            for (unsigned i = 0; i < t->n; i++) {
                if (!strata_addr_eq(d.to, child_addr(i)))
                    continue;
                to_c[i]++;
                CHECK(g && m.seq == first && d.buf->len == g->datagram_len[t->k + i] &&
                      memcmp(d.buf->data, g->datagram[t->k + i], d.buf->len) == 0);
            }
        } else if (type == STRATA_MSG_REPAIR_REQUEST &&
                   strata_wire_decode_repair(d.buf->data, d.buf->len, &r) > 0) {
            for (unsigned b = 0; b < 64; b++) {
                if (!(r.mask >> b & 1u))
                    continue;
                uint64_t seq = r.first_seq + b;
                CHECK(seq / t->k >= GROUPS || !t->decoded[seq / t->k]);
            }
        }
        strata_buf_unref(d.buf);
    }
    for (unsigned j = 0; g && j < t->k; j++)
        CHECK_EQ_U64(to_d[j], decodes || g->arrived[j] ? 1u : 0u);
    for (unsigned i = 0; i < t->n; i++)
        CHECK_EQ_U64(to_c[i], g && (decodes || g->arrived[t->k + i]) ? 1u : 0u);
}

static void run_trial(strata_rng *rng, strata_fec_encoder *enc, trial *t, group *g)
{
    strata_peer_config pc = {.node = ME,
                             .channel = "prop",
                             .control = CONTROL,
                             .store_packets = 256,
                             .seed = strata_rng_next(rng)};
    strata_peer_callbacks cb = {on_play, NULL, t};
    t->p = strata_peer_new(&pc, &cb, NULL, 0);
    strata_peer_handle_timeout(t->p, 0);
    strata_msg_join_reply jr = {ME, chan(), STRATA_JOIN_OK, {9}, (uint8_t)t->k, 0, 500, 0};
    uint8_t b[128];
    int len = strata_wire_encode_join_reply(b, sizeof b, &jr);
    CHECK(len > 0 && feed(t, CONTROL, b, (size_t)len, 0) == 0);
    for (unsigned tree = 0; tree < t->k + t->n; tree++)
        instruct(t, tree);
    uint64_t arrive_permille = 500 + strata_rng_below(rng, 451);
    for (unsigned gi = 0; gi < GROUPS; gi++) {
        uint64_t first = (uint64_t)gi * t->k, now = MS(1 + (uint64_t)gi * GROUP_GAP_MS);
        make_group(rng, enc, t, first, g);
        unsigned order[MAX_K + MAX_N], count = t->k + t->n, arrived = 0;
        for (unsigned s = 0; s < count; s++) {
            order[s] = s;
            g->arrived[s] = strata_rng_below(rng, 1000) < arrive_permille;
            arrived += (unsigned)g->arrived[s];
        }
        for (unsigned s = count; s-- > 1;) {
            unsigned o = (unsigned)strata_rng_below(rng, s + 1), tmp = order[s];
            order[s] = order[o];
            order[o] = tmp;
        }
        int decodes = arrived >= t->k;
        t->decoded[gi] = decodes;
        /* The k-th symbol to arrive rebuilds the data not arrived yet: a
         * packet that comes after it is a duplicate. */
        unsigned held = 0, data_held = 0;
        for (unsigned s = 0; s < count; s++) {
            unsigned sym = order[s];
            if (!g->arrived[sym])
                continue;
            CHECK_EQ_INT(feed(t, parent_addr(sym), g->datagram[sym], g->datagram_len[sym], now), 0);
            data_held += sym < t->k;
            if (++held == t->k)
                t->rebuilt += t->k - data_held;
        }
        strata_peer_stats st;
        strata_peer_get_stats(t->p, &st);
        CHECK_EQ_U64(st.parity_rebuilt_packets, t->rebuilt);
        CHECK_EQ_U64(st.parity_decode_failures, 0);
        check_outbox(t, g, first, decodes);
        for (unsigned j = 0; j < t->k; j++) {
            if (decodes || g->arrived[j]) {
                memcpy(t->expected + t->expected_len, g->data[j], g->len[j]);
                t->expected_len += g->len[j];
            }
        }
        strata_peer_handle_timeout(t->p, now + MS(GROUP_GAP_MS / 2));
        check_outbox(t, NULL, 0, 0);
    }
    for (uint64_t now = MS(GROUPS * GROUP_GAP_MS); now < MS(8000); now += MS(100)) {
        strata_peer_handle_timeout(t->p, now);
        check_outbox(t, NULL, 0, 0);
    }
    CHECK_EQ_U64(t->played_len, t->expected_len);
    CHECK(t->played_len == t->expected_len && memcmp(t->played, t->expected, t->expected_len) == 0);
    strata_peer_del(t->p);
}

int main(void)
{
    strata_rng rng;
    uint64_t seed = test_seed(20261207);
    strata_rng_seed(&rng, seed);
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    group *g = calloc(1, sizeof *g);
    trial t;
    memset(&t, 0, sizeof t);
    t.played = malloc(PLAYED_CAP);
    t.expected = malloc(PLAYED_CAP);
    for (int i = 0; i < TRIALS; i++) {
        int before = test_failures;
        uint8_t *played = t.played, *expected = t.expected;
        memset(&t, 0, sizeof t);
        t.played = played;
        t.expected = expected;
        t.k = 1 + (unsigned)strata_rng_below(&rng, MAX_K);
        t.n = 1 + (unsigned)strata_rng_below(&rng, MAX_N);
        run_trial(&rng, enc, &t, g);
        if (test_failures != before) {
            fprintf(stderr, "trial %d (k %u, n %u) failed; seed %llu\n", i, t.k, t.n,
                    (unsigned long long)seed);
            break;
        }
    }
    free(t.played);
    free(t.expected);
    free(g);
    strata_fec_encoder_del(enc);
    return test_summary("prop_relay_ec");
}
