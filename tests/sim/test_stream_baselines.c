/*
 * Tests of the simulator's baselines (sim/alg_mesh.c, sim/alg_tree.c,
 * sim/alg_common.c): random mesh pull, one tree, SplitStream-like stripe
 * trees, on the engine, scenarios and metrics strata runs on.
 *
 * Whole runs: an easy overlay delivers; same seed, same fingerprint and
 * JSON; upload below N x rate keeps delivery under the fluid bound; peers
 * killed or leaving get their children re-attached (trees) or their
 * partners replaced (mesh); late joiners start near the live edge;
 * malformed datagrams are dropped and counted without harm. Pieces: the
 * codec (round trips, every truncation, out-of-range fields), the playout
 * window and the tracker registry.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alg_common.h"
#include "testutil.h"
#include "world.h"

static const char *const algs[] = {"mesh", "tree", "splitstream"};
enum { NALGS = 3 };

static void set(strata_scenario *s, const char *key, const char *value)
{
    char err[256];
    if (strata_scenario_set(s, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "set %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static void add_event(strata_scenario *s, const char *at, const char *what)
{
    char err[256];
    if (strata_scenario_add_event(s, at, what, 0, err, sizeof err) != 0) {
        fprintf(stderr, "at %s %s: %s\n", at, what, err);
        exit(2);
    }
}

/* n peers of algorithm alg for secs seconds, fixed 20 ms links, everyone
 * joining at the start. */
static void small(strata_scenario *s, const char *alg, uint32_t n, uint32_t secs)
{
    strata_scenario_default(s);
    s->nodes = n;
    s->duration_ns = STRATA_S(secs);
    s->join_window_ns = 0;
    s->seed = 7;
    set(s, "algorithm", alg);
}

/* What a run leaves behind besides the figures. */
typedef struct outcome {
    strata_simresult r;
    uint64_t fp;
    char *json; /* when asked for; caller frees */
    int have_mesh, have_tree;
    strata_simbl_mesh_stats ms;
    strata_simbl_tree_stats ts;
} outcome;

static void run(const strata_scenario *s, outcome *o, int want_json)
{
    memset(o, 0, sizeof *o);
    char err[512] = "";
    strata_world *w = strata_world_new(s, NULL, err, sizeof err);
    if (!w) {
        fprintf(stderr, "world: %s\n", err);
        exit(2);
    }
    CHECK_EQ_INT(strata_world_run(w), 0);
    strata_world_result(w, &o->r);
    if (want_json) {
        size_t len = 0;
        FILE *f = open_memstream(&o->json, &len);
        strata_simresult_write_json(&o->r, f);
        fclose(f);
    }
    o->have_mesh = strata_simbl_mesh_stats_of(w, &o->ms) == 0;
    o->have_tree = strata_simbl_tree_stats_of(w, &o->ts) == 0;
    o->fp = strata_world_fingerprint(w);
    strata_world_del(w);
}

/* The structural invariants every baseline keeps at the end of any run. */
static void check_structure(const char *alg, const outcome *o)
{
    if (o->have_tree) {
        if (o->ts.tracker_violations || o->ts.multi_stripe)
            fprintf(stderr, "%s: tracker violations %u, peers relaying in several stripes %u\n",
                    alg, o->ts.tracker_violations, o->ts.multi_stripe);
        CHECK_EQ_U64(o->ts.tracker_violations, 0);
        /* SplitStream's rule: each node interior in at most one stripe. */
        CHECK_EQ_U64(o->ts.multi_stripe, 0);
    }
    if (o->have_mesh)
        CHECK(o->ms.max_partners <= 12);
    CHECK(o->r.delivery_ratio <= 1.0);
}

/* 50 peers with plenty of upload, all there from the start. */
static void test_easy(void)
{
    for (int i = 0; i < NALGS; i++) {
        strata_scenario s;
        small(&s, algs[i], 50, 12);
        set(&s, "capacity_mix", "fast:1:20000");
        outcome o;
        run(&s, &o, 0);
        if (o.r.delivery_ratio < 0.95)
            fprintf(stderr, "%s: delivery %.4f\n", algs[i], o.r.delivery_ratio);
        CHECK(o.r.delivery_ratio >= 0.95);
        CHECK_EQ_U64(o.r.startup_failures, 0);
        CHECK_EQ_U64(o.r.sessions, 50);
        CHECK(o.r.p2p_share > 0.5); /* the peers relay */
        CHECK(o.r.stretch_p50 >= 1.0);
        CHECK(o.r.control_overhead > 0 && o.r.control_overhead < 0.1);
        CHECK(o.r.startup_p95 >= 0 && o.r.startup_p95 < 1.5);
        CHECK(o.r.lag_p95 > 0 && o.r.lag_p95 < 3.5);
        CHECK_EQ_U64(o.r.undeliverable, 0);
        CHECK_EQ_U64(o.r.net_queue_drops, 0);
        check_structure(algs[i], &o);
        if (o.have_tree) {
            CHECK_EQ_U64(o.ts.peers, 50);
            CHECK_EQ_U64(o.ts.detached, 0);
            CHECK_EQ_U64(o.ts.no_parent, 0);
            /* Breadth-first: 9 source slots, 18 per fast peer. */
            if (o.ts.k == 1)
                CHECK(o.ts.max_depth == 2);
            else
                CHECK(o.ts.max_depth >= 2);
        }
        if (o.have_mesh) {
            CHECK_EQ_U64(o.ms.peers, 50);
            CHECK(o.ms.min_partners >= 4);
            CHECK(o.ms.mean_partners >= 8);
            CHECK_EQ_U64(o.ms.stale_partners, 0);
            CHECK(o.ms.served > 0);
        }
        for (int d = 0; d < STRATA_SIMBL_DROP_REASONS; d++)
            CHECK(d == STRATA_SIMBL_DROP_RANGE ||
                  (o.have_mesh ? o.ms.drops[d] : o.ts.drops[d]) == 0);
    }
    CHECK(strata_simalg_find("mesh") == &strata_simalg_mesh);
    CHECK(strata_simalg_find("tree") == &strata_simalg_tree);
    CHECK(strata_simalg_find("splitstream") == &strata_simalg_splitstream);
}

/* Same seed and scenario: the same bytes; another seed: another run; in
 * steps: the same events. Churn, loss, arrivals and a failure on measured
 * latency (the shipped planetlab490 matrix). */
static void test_determinism(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    for (int i = 0; i < NALGS; i++) {
        strata_scenario s;
        small(&s, algs[i], 40, 12);
        set(&s, "session", "exp");
        set(&s, "session_mean_s", "8");
        set(&s, "rejoin_mean_s", "2");
        set(&s, "loss", "0.01");
        set(&s, "join", "poisson");
        set(&s, "join_window_s", "3");
        add_event(&s, "7", "kill share=0.2");
        if (lat)
            set(&s, "latency", lat);
        outcome a, b, c;
        run(&s, &a, 1);
        run(&s, &b, 1);
        CHECK_EQ_U64(a.fp, b.fp);
        CHECK(strcmp(a.json, b.json) == 0);
        CHECK(a.r.sessions > 40);
        CHECK(a.r.packets_played > 0);
        check_structure(algs[i], &a);
        s.seed = 8;
        run(&s, &c, 0);
        CHECK(c.fp != a.fp);
        s.seed = 7;
        char err[256];
        strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
        CHECK(w != NULL);
        if (w) {
            for (uint64_t t = 0; t <= STRATA_S(12); t += STRATA_MS(1300))
                CHECK_EQ_INT(strata_world_run_until(w, t), 0);
            CHECK_EQ_INT(strata_world_run(w), 0);
            CHECK_EQ_U64(strata_world_fingerprint(w), a.fp);
            strata_world_del(w);
        }
        free(a.json);
        free(b.json);
    }
}

/* Total upload below N x rate: nobody beats Kumar-Liu-Ross. */
static void test_fluid_bound(void)
{
    for (int i = 0; i < NALGS; i++) {
        strata_scenario s;
        small(&s, algs[i], 60, 12);
        set(&s, "capacity_mix", "slow:1:400");
        set(&s, "source_upload_kbps", "2000");
        outcome o;
        run(&s, &o, 0);
        /* min(2000, (2000 + 60 x 400) / 60) = 433.3 kbit/s of 1,000. */
        CHECK(fabs(o.r.fluid_bound_kbps - 2000.0 / 60 - 400) < 1e-6);
        double bound = o.r.fluid_bound_kbps / 1000.0;
        if (!(o.r.delivery_ratio <= bound + 0.01))
            fprintf(stderr, "%s: delivery %.4f above the fluid bound %.4f\n", algs[i],
                    o.r.delivery_ratio, bound);
        CHECK(o.r.delivery_ratio <= bound + 0.01);
        CHECK(o.r.delivery_ratio > 0);
        CHECK(o.r.max_upload_utilisation <= 1.05);
        check_structure(algs[i], &o);
    }
}

/* A share of the peers fails at once (silently, or leaving): the survivors'
 * trees are mended and their partners replaced, and they keep playing. */
static void test_departures(void)
{
    const char *how[2] = {"kill share=0.3", "leave share=0.3"};
    for (int i = 0; i < NALGS; i++) {
        for (int h = 0; h < 2; h++) {
            strata_scenario s;
            small(&s, algs[i], 80, 14);
            set(&s, "rejoin", "no");
            add_event(&s, "4", how[h]);
            outcome o;
            run(&s, &o, 0);
            uint64_t gone = h ? o.r.leaves : o.r.kills;
            CHECK(gone >= 12 && gone <= 40);
            if (o.r.delivery_ratio < 0.85)
                fprintf(stderr, "%s after %s: delivery %.4f\n", algs[i], how[h],
                        o.r.delivery_ratio);
            CHECK(o.r.delivery_ratio > 0.85);
            check_structure(algs[i], &o);
            if (o.have_tree) {
                CHECK_EQ_U64(o.ts.peers, 80 - gone);
                /* Children of the departed asked for a new parent, naming
                 * it, and every survivor is attached in every stripe. */
                CHECK(o.ts.failed_parents > 0);
                if (o.ts.detached)
                    fprintf(stderr, "%s after %s: %u detached\n", algs[i], how[h], o.ts.detached);
                CHECK_EQ_U64(o.ts.detached, 0);
            }
            if (o.have_mesh) {
                CHECK_EQ_U64(o.ms.peers, 80 - gone);
                CHECK(o.ms.partners_lost > 0);
                CHECK_EQ_U64(o.ms.stale_partners, 0);
                CHECK(o.ms.min_partners >= 4);
            }
        }
    }
}

/* Viewers arriving while the stream runs start near the live edge. */
static void test_late_joiners(void)
{
    for (int i = 0; i < NALGS; i++) {
        strata_scenario s;
        small(&s, algs[i], 60, 14);
        set(&s, "join", "poisson");
        set(&s, "join_window_s", "8");
        outcome o;
        run(&s, &o, 0);
        CHECK(o.r.delivery_ratio > 0.95);
        CHECK_EQ_U64(o.r.startup_failures, 0);
        if (!(o.r.startup_p95 >= 0 && o.r.startup_p95 < 2.0))
            fprintf(stderr, "%s: startup p95 %.3f\n", algs[i], o.r.startup_p95);
        CHECK(o.r.startup_p95 >= 0 && o.r.startup_p95 < 2.0);
        /* Lag stays within what the playout delay allows. */
        CHECK(o.r.lag_p95 < 3.5);
        check_structure(algs[i], &o);
    }
}

/* --- the codec ---------------------------------------------------------------- */

static const uint8_t payload16[16] = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 1, 2, 3};

/* One well-formed message of each type. */
static int sample_msg(uint8_t type, strata_simbl_msg *m, uint8_t *bits)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    memset(bits, 0xa5, 64);
    switch (type) {
    case STRATA_SIMBL_DATA:
        m->stripe = 3;
        m->seq = 5;
        m->payload = payload16;
        break;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_PARTNER:
        m->kbps = 123456;
        break;
    case STRATA_SIMBL_PEERS:
        m->count = 3;
        for (int i = 0; i < 3; i++)
            m->addrs[i] = (strata_addr){0x0A000002u + (uint32_t)i, (uint16_t)(9000 + i)};
        break;
    case STRATA_SIMBL_PARTNER_ACK:
        m->flag = 1;
        m->kbps = 777;
        break;
    case STRATA_SIMBL_BUFFERMAP:
    case STRATA_SIMBL_REQUEST:
        m->flag = type == STRATA_SIMBL_BUFFERMAP ? 9 : 0;
        m->seq = 1000;
        m->nbits = 64;
        m->bits = bits;
        break;
    case STRATA_SIMBL_WELCOME:
        m->k = m->count = 4;
        m->interior = 2;
        m->slots = 7;
        for (int i = 0; i < 4; i++)
            m->addrs[i] = (strata_addr){0x0A000001u + (uint32_t)i, 9000};
        break;
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
        m->stripe = 1;
        m->addr = (strata_addr){0x0A000009u, 9003};
        break;
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        m->stripe = 15;
        break;
    case STRATA_SIMBL_LEAVE:
    case STRATA_SIMBL_WHO:
    case STRATA_SIMBL_MORE:
        break;
    default:
        return 0;
    }
    return 1;
}

static int same_msg(const strata_simbl_msg *a, const strata_simbl_msg *b)
{
    if (a->type != b->type || a->stripe != b->stripe || a->flag != b->flag || a->k != b->k ||
        a->interior != b->interior || a->slots != b->slots || a->count != b->count ||
        a->nbits != b->nbits || a->kbps != b->kbps || a->seq != b->seq ||
        !strata_addr_eq(a->addr, b->addr))
        return 0;
    for (unsigned i = 0; i < a->count; i++)
        if (!strata_addr_eq(a->addrs[i], b->addrs[i]))
            return 0;
    if (a->nbits && memcmp(a->bits, b->bits, a->nbits / 8u) != 0)
        return 0;
    return !a->payload || memcmp(a->payload, b->payload, STRATA_SIMBL_PAYLOAD_BYTES) == 0;
}

static void test_codec(void)
{
    uint8_t bits[64], buf[STRATA_SIMBL_MAX_MSG_BYTES + 8];
    for (uint8_t type = 1; type < STRATA_SIMBL_TYPES; type++) {
        strata_simbl_msg m, d;
        CHECK(sample_msg(type, &m, bits));
        int n = strata_simbl_encode(&m, buf, sizeof buf);
        CHECK(n > 0);
        if (n <= 0)
            continue;
        CHECK_EQ_INT(strata_simbl_decode(buf, (size_t)n, &d), n);
        CHECK(same_msg(&m, &d));
        strata_simpkt pk;
        CHECK_EQ_INT(strata_simbl_classify(NULL, buf, (size_t)n, &pk), 0);
        CHECK_EQ_INT(pk.data, type == STRATA_SIMBL_DATA);
        if (type == STRATA_SIMBL_DATA) {
            CHECK_EQ_U64(pk.seq, 5);
            CHECK_EQ_INT(pk.substream, 3);
            CHECK_EQ_INT(pk.has_payload, 1);
            CHECK_EQ_INT(pk.repair, 0);
        }
        /* Every truncation and one trailing byte are refused. */
        for (int cut = 0; cut < n; cut++) {
            CHECK(strata_simbl_decode(buf, (size_t)cut, &d) < 0);
            CHECK(strata_simbl_classify(NULL, buf, (size_t)cut, &pk) < 0);
        }
        buf[n] = 0;
        CHECK_EQ_INT(strata_simbl_decode(buf, (size_t)n + 1, &d), STRATA_ERR_LONG);
        /* Too little room to encode. */
        CHECK_EQ_INT(strata_simbl_encode(&m, buf, (size_t)n - 1), STRATA_ERR_NOSPACE);
    }
    /* Out-of-range fields, on the wire and for the encoder. */
    struct {
        const char *what;
        uint8_t bytes[STRATA_SIMBL_DATA_BYTES];
        size_t len;
        int err;
    } bad[] = {
        {"no type", {0}, 0, STRATA_ERR_SHORT},
        {"type 0", {0}, 1, STRATA_ERR_TYPE},
        {"type 200", {200}, 1, STRATA_ERR_TYPE},
        {"stripe 16", {STRATA_SIMBL_ATTACH, 16}, 2, STRATA_ERR_RANGE},
        {"ack flag 2", {STRATA_SIMBL_PARTNER_ACK, 2, 0, 0, 0, 1}, 6, STRATA_ERR_RANGE},
        {"peers 33", {STRATA_SIMBL_PEERS, 33}, 2, STRATA_ERR_RANGE},
        {"map 7 bits",
         {STRATA_SIMBL_BUFFERMAP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7},
         12,
         STRATA_ERR_RANGE},
        {"map 4104 bits",
         {STRATA_SIMBL_BUFFERMAP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x08},
         12,
         STRATA_ERR_RANGE},
        {"request 0 bits",
         {STRATA_SIMBL_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
         11,
         STRATA_ERR_RANGE},
        {"welcome k 0", {STRATA_SIMBL_WELCOME, 0, 0, 0}, 4, STRATA_ERR_RANGE},
        {"welcome k 17", {STRATA_SIMBL_WELCOME, 17, 0, 0}, 4, STRATA_ERR_RANGE},
        {"welcome interior 1 of k 1",
         {STRATA_SIMBL_WELCOME, 1, 1, 0, 1, 2, 3, 4, 5, 6},
         10,
         STRATA_ERR_RANGE},
        {"leave + 1", {STRATA_SIMBL_LEAVE, 0}, 2, STRATA_ERR_LONG},
        {"data cut", {STRATA_SIMBL_DATA, 1}, 2, STRATA_ERR_SHORT},
        {"data stripe 16", {STRATA_SIMBL_DATA, 16}, STRATA_SIMBL_DATA_BYTES, STRATA_ERR_RANGE},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strata_simbl_msg d;
        int rc = strata_simbl_decode(bad[i].bytes, bad[i].len, &d);
        if (rc != bad[i].err)
            fprintf(stderr, "codec case '%s': %d, want %d\n", bad[i].what, rc, bad[i].err);
        CHECK_EQ_INT(rc, bad[i].err);
    }
    strata_simbl_msg m;
    sample_msg(STRATA_SIMBL_ATTACH, &m, bits);
    m.stripe = 16;
    CHECK_EQ_INT(strata_simbl_encode(&m, buf, sizeof buf), STRATA_ERR_INVAL);
    sample_msg(STRATA_SIMBL_DATA, &m, bits);
    m.payload = NULL;
    CHECK_EQ_INT(strata_simbl_encode(&m, buf, sizeof buf), STRATA_ERR_INVAL);
    m.type = 99;
    CHECK_EQ_INT(strata_simbl_encode(&m, buf, sizeof buf), STRATA_ERR_INVAL);
}

/* Malformed and misplaced datagrams into every kind of node of a running
 * world: refused, counted, harmless. */
static void test_malformed_into_nodes(void)
{
    uint8_t bits[64], good[STRATA_SIMBL_MAX_MSG_BYTES];
    for (int i = 0; i < NALGS; i++) {
        strata_scenario s;
        small(&s, algs[i], 10, 6);
        char err[256];
        strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
        CHECK(w != NULL);
        if (!w)
            continue;
        CHECK_EQ_INT(strata_world_run_until(w, STRATA_S(2)), 0);
        const strata_simalg *alg = strata_simalg_find(algs[i]);
        void *st = strata_world_alg_state(w);
        uint64_t now = strata_world_now(w);
        strata_addr stranger = {0x0A000000u + 7, 60000};
        uint64_t fed = 0;
        uint32_t targets[3] = {STRATA_WORLD_CONTROL, STRATA_WORLD_SOURCE, STRATA_WORLD_FIRST_PEER};
        for (uint8_t type = 1; type < STRATA_SIMBL_TYPES; type++) {
            strata_simbl_msg m;
            sample_msg(type, &m, bits);
            int n = strata_simbl_encode(&m, good, sizeof good);
            for (int cut = 0; cut < n; cut++) {
                strata_simpkt pk;
                CHECK(alg->classify(st, good, (size_t)cut, &pk) < 0);
                for (int t = 0; t < 3; t++) {
                    CHECK(alg->handle_datagram(st, targets[t], stranger, good, (size_t)cut, now) <
                          0);
                    fed++;
                }
            }
            /* Well-formed, but from a stranger or not for that node. */
            for (int t = 0; t < 3; t++)
                alg->handle_datagram(st, targets[t], stranger, good, (size_t)n, now);
        }
        uint8_t junk[64];
        strata_rng r;
        strata_rng_seed(&r, 99);
        for (int k = 0; k < 200; k++) {
            size_t len = (size_t)strata_rng_below(&r, sizeof junk);
            for (size_t b = 0; b < len; b++)
                junk[b] = (uint8_t)strata_rng_next(&r);
            strata_simbl_msg d;
            int expect_bad = strata_simbl_decode(junk, len, &d) < 0;
            for (int t = 0; t < 3; t++) {
                int rc = alg->handle_datagram(st, targets[t], stranger, junk, len, now);
                if (expect_bad) {
                    CHECK(rc < 0);
                    fed++;
                }
            }
        }
        /* Whatever the nodes queued in answer must itself decode. */
        for (int t = 0; t < 3; t++) {
            strata_outbox *ob = alg->outbox(st, targets[t]);
            strata_datagram d;
            while (ob && strata_outbox_pop(ob, &d)) {
                strata_simbl_msg x;
                CHECK_EQ_INT(strata_simbl_decode(d.buf->data, d.buf->len, &x), (int)d.buf->len);
                strata_buf_unref(d.buf);
            }
        }
        if (alg == &strata_simalg_mesh) {
            strata_simbl_mesh_stats ms;
            CHECK_EQ_INT(strata_simbl_mesh_stats_of(w, &ms), 0);
            CHECK_EQ_U64(ms.drops[STRATA_SIMBL_DROP_MALFORMED], fed);
            CHECK(ms.drops[STRATA_SIMBL_DROP_STRANGER] + ms.drops[STRATA_SIMBL_DROP_UNEXPECTED] >
                  0);
            CHECK_EQ_INT(strata_simbl_tree_stats_of(w, &(strata_simbl_tree_stats){0}),
                         STRATA_ERR_INVAL);
        } else {
            strata_simbl_tree_stats ts;
            CHECK_EQ_INT(strata_simbl_tree_stats_of(w, &ts), 0);
            CHECK_EQ_U64(ts.drops[STRATA_SIMBL_DROP_MALFORMED], fed);
            CHECK(ts.drops[STRATA_SIMBL_DROP_STRANGER] + ts.drops[STRATA_SIMBL_DROP_UNEXPECTED] >
                  0);
            CHECK_EQ_U64(ts.tracker_violations, 0);
        }
        /* The overlay carries on. */
        CHECK_EQ_INT(strata_world_run(w), 0);
        strata_simresult res;
        strata_world_result(w, &res);
        CHECK(res.delivery_ratio > 0.9);
        strata_world_del(w);
    }
}

/* --- the playout window and the registry -------------------------------------- */

static void payload_of(uint64_t seq, uint64_t ts, uint8_t *p)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)seq;
        p[8 + i] = (uint8_t)ts;
        seq >>= 8;
        ts >>= 8;
    }
}

typedef struct played {
    uint64_t seqs[64];
    int n;
} played;

static void record(void *user, const uint8_t *p, size_t len)
{
    played *pl = user;
    uint64_t seq = 0;
    for (size_t i = 0; i < 8 && i < len; i++)
        seq = seq << 8 | p[i];
    if (pl->n < 64)
        pl->seqs[pl->n++] = seq;
}

static void test_window(void)
{
    strata_simbl_window w;
    CHECK_EQ_INT(strata_simbl_window_init(&w, NULL, 100, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simbl_window_init(&w, NULL, 64, STRATA_MS(100)), 0);
    uint8_t p[16];
    payload_of(10, STRATA_MS(1000), p);
    CHECK_EQ_INT(strata_simbl_window_insert(&w, 10, p, STRATA_MS(1000)), STRATA_ERR_UNEXPECTED);
    strata_simbl_window_start(&w, 10);
    played pl = {{0}, 0};
    /* In order: played at once. Each packet took 20 ms. */
    for (uint64_t s = 10; s < 13; s++) {
        payload_of(s, STRATA_MS(1000 + 10 * s), p);
        CHECK_EQ_INT(strata_simbl_window_insert(&w, s, p, STRATA_MS(1020 + 10 * s)), 1);
    }
    CHECK_EQ_INT(strata_simbl_window_insert(&w, 12, p, STRATA_MS(1200)), 0);
    CHECK_EQ_INT(strata_simbl_window_poll(&w, STRATA_MS(1200), record, &pl), 3);
    CHECK_EQ_INT(pl.n, 3);
    CHECK_EQ_U64(pl.seqs[2], 12);
    CHECK_EQ_U64(strata_simbl_window_deadline(&w), STRATA_NEVER);
    /* A gap at 13: 14 waits until its deadline, send + 20 ms + 100 ms. */
    payload_of(14, STRATA_MS(1140), p);
    CHECK_EQ_INT(strata_simbl_window_insert(&w, 14, p, STRATA_MS(1160)), 1);
    CHECK_EQ_INT(strata_simbl_window_poll(&w, STRATA_MS(1200), record, &pl), 0);
    CHECK_EQ_U64(strata_simbl_window_deadline(&w), STRATA_MS(1260));
    CHECK_EQ_INT(strata_simbl_window_poll(&w, STRATA_MS(1260), record, &pl), 1);
    CHECK_EQ_U64(pl.seqs[3], 14);
    CHECK_EQ_U64(w.skipped, 1);
    CHECK_EQ_INT(strata_simbl_window_insert(&w, 13, p, STRATA_MS(1270)), STRATA_ERR_RANGE);
    /* Played packets stay available to others until the window moves on. */
    CHECK(strata_simbl_window_has(&w, 11));
    CHECK(strata_simbl_window_payload(&w, 11) != NULL);
    CHECK(!strata_simbl_window_has(&w, 13));
    uint8_t map[2];
    strata_simbl_window_map(&w, 8, 16, map);
    CHECK_EQ_INT(map[0], 0x5c); /* 10, 11, 12, 14 */
    CHECK_EQ_INT(map[1], 0);
    /* A seq a window ahead pushes the head forward. */
    payload_of(200, STRATA_MS(3000), p);
    CHECK_EQ_INT(strata_simbl_window_insert(&w, 200, p, STRATA_MS(3020)), 1);
    CHECK_EQ_U64(w.next, 200 - 64 + 1);
    CHECK(!strata_simbl_window_has(&w, 11));
    CHECK(w.forced > 0);
    strata_simbl_window_skip_to(&w, 200);
    CHECK_EQ_INT(strata_simbl_window_poll(&w, STRATA_MS(3020), record, &pl), 1);
    CHECK_EQ_U64(pl.seqs[4], 200);
    strata_simbl_window_free(&w);
}

static void test_registry(void)
{
    strata_simbl_registry r;
    CHECK_EQ_INT(strata_simbl_registry_init(&r, NULL, 40), 0);
    for (uint32_t i = 2; i < 40; i++)
        CHECK_EQ_INT(strata_simbl_registry_add(&r, i, 9000, i, i), 0);
    CHECK_EQ_INT(strata_simbl_registry_add(&r, 5, 9000, 1, 100), 1);
    CHECK_EQ_INT(strata_simbl_registry_add(&r, 6, 9001, 1, 100), 2);
    CHECK(strata_simbl_registry_get(&r, 6, 9000) == NULL);
    CHECK(strata_simbl_registry_get(&r, 6, 9001) != NULL);
    CHECK_EQ_INT(strata_simbl_registry_add(&r, 40, 9000, 1, 1), STRATA_ERR_INVAL);
    strata_simbl_registry_remove(&r, 7);
    CHECK_EQ_U64(r.n, 37);
    CHECK(strata_simbl_registry_get(&r, 7, 9000) == NULL);
    uint32_t out[40];
    /* Silent: heard before 10 and not refreshed (2..9, less 5, 6, 7). */
    CHECK_EQ_U64(strata_simbl_registry_silent(&r, 10, out), 5);
    strata_rng g;
    strata_rng_seed(&g, 3);
    for (int rep = 0; rep < 50; rep++) {
        uint32_t n = strata_simbl_registry_sample(&r, &g, 9, out, 16);
        CHECK_EQ_U64(n, 16);
        for (uint32_t a = 0; a < n; a++) {
            CHECK(out[a] != 9 && out[a] != 7);
            for (uint32_t b = a + 1; b < n; b++)
                CHECK(out[a] != out[b]);
        }
    }
    /* Fewer members than asked for: all of them but the asker. */
    strata_simbl_registry_free(&r);
    CHECK_EQ_INT(strata_simbl_registry_init(&r, NULL, 10), 0);
    for (uint32_t i = 2; i < 6; i++)
        strata_simbl_registry_add(&r, i, 9000, 0, 0);
    CHECK_EQ_U64(strata_simbl_registry_sample(&r, &g, 3, out, 16), 3);
    strata_simbl_registry_free(&r);
}

int main(void)
{
    test_codec();
    test_window();
    test_registry();
    test_easy();
    test_determinism();
    test_fluid_bound();
    test_departures();
    test_late_joiners();
    test_malformed_into_nodes();
    return test_summary("test_stream_baselines");
}
