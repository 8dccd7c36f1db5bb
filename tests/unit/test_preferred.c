/*
 * Preferred-node choice (core/preferred.c): table cases for each rule, and
 * a seeded property loop that evolves regions (joins, leaves, upload
 * changes, delivery, stalls, time) and checks the invariants after every
 * evaluation.
 */
#include "preferred.h"

#include "testutil.h"

#define MS(x) ((uint64_t)(x)*1000000u)

static strata_pref_config config(void)
{
    return (strata_pref_config){.rate_kbps = 1000,
                                .min_upload_kbps = 4000,
                                .per_region = 2,
                                .probation_ns = MS(10000),
                                .hysteresis_pct = 25,
                                .min_hold_ns = MS(60000)};
}

static strata_pref_candidate cand(uint64_t id, uint32_t up, uint64_t uptime_ms)
{
    return (strata_pref_candidate){.node = {id}, .upload_kbps = up, .uptime_ns = MS(uptime_ms)};
}

/* The chosen set as a string of ids' last digits, e.g. "13". */
static const char *chosen(const uint8_t *want, const strata_pref_candidate *c, size_t n)
{
    static char s[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof s; i++)
        if (want[i])
            s[k++] = (char)('0' + c[i].node.v % 10);
    s[k] = 0;
    return s;
}

#define CHECK_CHOSEN(want, c, n, expect)                                                           \
    do {                                                                                           \
        const char *got_ = chosen(want, c, n);                                                     \
        test_checks++;                                                                             \
        if (strcmp(got_, expect) != 0) {                                                           \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: chosen %s, expected %s\n", __FILE__, __LINE__, got_, expect);  \
        }                                                                                          \
    } while (0)

static void test_score(void)
{
    strata_pref_config cfg = config();
    strata_pref_candidate a = cand(1, 4000, 600000), b = a;
    CHECK(strata_pref_score(&a, &cfg) > 0);
    CHECK_EQ_U64(
        strata_pref_score(&(strata_pref_candidate){.node = {1}, .upload_kbps = 4000}, &cfg),
        0);                 /* a newcomer has no stability yet */
    b.upload_kbps = 100000; /* capped at 8 rates */
    strata_pref_candidate cap = a;
    cap.upload_kbps = 8000;
    CHECK_EQ_U64(strata_pref_score(&b, &cfg), strata_pref_score(&cap, &cfg));
    b = a;
    b.stalls = 1;
    CHECK_EQ_U64(strata_pref_score(&b, &cfg), strata_pref_score(&a, &cfg) / 2);
    b = a;
    b.expected_kbps = 2000, b.delivered_kbps = 1000; /* delivered half of what it was asked */
    CHECK_EQ_U64(strata_pref_score(&b, &cfg), strata_pref_score(&a, &cfg) / 2);
    b.delivered_kbps = 5000; /* more than asked counts as all of it */
    CHECK_EQ_U64(strata_pref_score(&b, &cfg), strata_pref_score(&a, &cfg));
    b.expected_kbps = 100, b.delivered_kbps = 0; /* asked for too little to judge */
    CHECK_EQ_U64(strata_pref_score(&b, &cfg), strata_pref_score(&a, &cfg));
    b = a;
    b.uptime_ns = MS(6000000); /* a veteran beats a younger node of the same upload */
    CHECK(strata_pref_score(&b, &cfg) > strata_pref_score(&a, &cfg));
}

static void test_rules(void)
{
    strata_pref_config cfg = config();
    uint8_t want[8];

    /* Empty places are filled at once, best first; weak uploads never. */
    strata_pref_candidate c[4] = {cand(1, 5000, 20000), cand(2, 3000, 900000), cand(3, 9000, 20000),
                                  cand(4, 6000, 20000)};
    CHECK_EQ_INT(strata_pref_choose(c, 4, &cfg, want), 2);
    CHECK_CHOSEN(want, c, 4, "34");

    /* Probation: with a veteran present, newcomers do not enter... */
    strata_pref_candidate d[3] = {cand(1, 5000, 20000), cand(2, 9000, 1000), cand(3, 9000, 2000)};
    strata_pref_choose(d, 3, &cfg, want);
    CHECK_CHOSEN(want, d, 3, "1");
    /* ... without one they do: a region does not wait for its first feeder. */
    d[0].upload_kbps = 1000;
    strata_pref_choose(d, 3, &cfg, want);
    CHECK_CHOSEN(want, d, 3, "23");
    /* and a node chosen so stays when a veteran appears. */
    d[1].preferred = d[2].preferred = 1;
    d[0].upload_kbps = 5000;
    CHECK_EQ_INT(strata_pref_choose(d, 3, &cfg, want), 0);
    CHECK_CHOSEN(want, d, 3, "23");

    /* Hysteresis: a challenger a little better does not replace... */
    strata_pref_candidate e[3] = {cand(1, 5000, 600000), cand(2, 5000, 600000),
                                  cand(3, 5500, 600000)};
    e[0].preferred = e[1].preferred = 1;
    e[0].held_ns = e[1].held_ns = MS(600000);
    CHECK_EQ_INT(strata_pref_choose(e, 3, &cfg, want), 0);
    /* ... a much better one does, the weakest (ties: the larger id) ... */
    e[2].upload_kbps = 8000;
    CHECK_EQ_INT(strata_pref_choose(e, 3, &cfg, want), 2);
    CHECK_CHOSEN(want, e, 3, "13");
    /* ... but not one that has not held its place for min_hold. */
    e[1].held_ns = MS(1000);
    e[0].held_ns = MS(1000);
    CHECK_EQ_INT(strata_pref_choose(e, 3, &cfg, want), 0);

    /* A preferred node whose upload share fell below the minimum goes. */
    e[0].upload_kbps = 2000;
    strata_pref_choose(e, 3, &cfg, want);
    CHECK_CHOSEN(want, e, 3, "23");

    /* The configured count shrank: the weakest go. */
    strata_pref_candidate f[3] = {cand(1, 5000, 600000), cand(2, 7000, 600000),
                                  cand(3, 6000, 600000)};
    f[0].preferred = f[1].preferred = f[2].preferred = 1;
    strata_pref_choose(f, 3, &cfg, want);
    CHECK_CHOSEN(want, f, 3, "23");

    /* Stalls count against a node. */
    strata_pref_candidate g[3] = {cand(1, 6000, 600000), cand(2, 6000, 600000),
                                  cand(3, 6000, 600000)};
    g[0].stalls = 3;
    strata_pref_choose(g, 3, &cfg, want);
    CHECK_CHOSEN(want, g, 3, "23");

    /* Bad arguments. */
    CHECK_EQ_INT(strata_pref_choose(NULL, 1, &cfg, want), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_pref_choose(NULL, 0, &cfg, NULL), 0);
    strata_pref_config bad = cfg;
    bad.per_region = 0;
    CHECK_EQ_INT(strata_pref_choose(g, 3, &bad, want), STRATA_ERR_INVAL);
    bad = cfg;
    bad.per_region = STRATA_PREF_MAX_PER_REGION + 1;
    CHECK_EQ_INT(strata_pref_choose(g, 3, &bad, want), STRATA_ERR_INVAL);
    bad = cfg;
    bad.rate_kbps = 0;
    CHECK_EQ_INT(strata_pref_choose(g, 3, &bad, want), STRATA_ERR_INVAL);
}

/* Regions evolve at random; after every evaluation: at most per_region
 * chosen; as many as there are qualified candidates up to that; every
 * chosen one qualifies; a change without a departure, a disqualification
 * or an empty place is at most one swap; evaluating again at once changes
 * nothing unless it swapped, and the swaps settle (no flapping). */
enum { MAXN = 24 };

static void test_property(void)
{
    uint64_t seed = test_seed(11);
    strata_rng rng;
    strata_rng_seed(&rng, seed);
    strata_pref_config cfg = config();
    uint64_t next_id = 1;
    for (int round = 0; round < 300; round++) {
        strata_pref_candidate c[MAXN];
        size_t n = 0;
        cfg.per_region = (uint8_t)(1 + strata_rng_below(&rng, 4));
        for (int step = 0; step < 60; step++) {
            uint64_t dt = MS(strata_rng_below(&rng, 20000));
            for (size_t i = 0; i < n; i++) {
                c[i].uptime_ns += dt;
                if (c[i].preferred)
                    c[i].held_ns += dt;
            }
            unsigned what = (unsigned)strata_rng_below(&rng, 6);
            if (what == 0 && n < MAXN) {
                c[n] = cand(next_id++, (uint32_t)strata_rng_below(&rng, 12000), 0);
                n++;
            } else if (what == 1 && n > 0) {
                size_t i = (size_t)strata_rng_below(&rng, n);
                c[i] = c[--n];
            } else if (what == 2 && n > 0) {
                c[strata_rng_below(&rng, n)].upload_kbps = (uint32_t)strata_rng_below(&rng, 12000);
            } else if (what == 3 && n > 0) {
                size_t i = (size_t)strata_rng_below(&rng, n);
                c[i].expected_kbps = (uint32_t)strata_rng_below(&rng, 4000);
                c[i].delivered_kbps = (uint32_t)strata_rng_below(&rng, 4000);
            } else if (what == 4 && n > 0) {
                c[strata_rng_below(&rng, n)].stalls = (uint32_t)strata_rng_below(&rng, 4);
            }
            uint8_t want[MAXN];
            int changes = strata_pref_choose(c, n, &cfg, want);
            CHECK(changes >= 0);
            int veterans_absent = 1;
            for (size_t i = 0; i < n; i++)
                if (strata_pref_qualifies(&c[i], &cfg, 0))
                    veterans_absent = 0;
            size_t chosen_n = 0, eligible = 0, dropped = 0, was = 0;
            for (size_t i = 0; i < n; i++) {
                int q = strata_pref_qualifies(&c[i], &cfg, veterans_absent || c[i].preferred);
                eligible += (size_t)q;
                chosen_n += want[i];
                was += c[i].preferred;
                if (want[i])
                    CHECK(q);
                if (c[i].preferred && !want[i] && !q)
                    dropped++;
            }
            size_t expect = eligible < cfg.per_region ? eligible : cfg.per_region;
            CHECK_EQ_U64(chosen_n, expect);
            /* Changes beyond filling and dropping: one swap (two flags). */
            size_t fill = chosen_n > was - dropped ? chosen_n - (was - dropped) : 0;
            size_t shrink = was - dropped > chosen_n ? was - dropped - chosen_n : 0;
            CHECK((size_t)changes <= dropped + fill + shrink + 2);
            for (size_t i = 0; i < n; i++) {
                if (want[i] && !c[i].preferred)
                    c[i].held_ns = 0;
                c[i].preferred = want[i];
            }
            /* One swap per evaluation: evaluating again at once swaps again
             * only after a swap, and the swaps end within per_region
             * evaluations (each takes out a weaker node for good). */
            int swapped = (size_t)changes == dropped + fill + shrink + 2;
            strata_pref_candidate e[MAXN];
            memcpy(e, c, n * sizeof *c);
            int settled = 0;
            for (int t = 0; t <= cfg.per_region && !settled; t++) {
                uint8_t again[MAXN];
                int ch = strata_pref_choose(e, n, &cfg, again);
                CHECK(ch == 0 || ch == 2);
                if (t == 0 && !swapped)
                    CHECK_EQ_INT(ch, 0);
                settled = ch == 0;
                for (size_t i = 0; i < n; i++) {
                    if (again[i] && !e[i].preferred)
                        e[i].held_ns = 0;
                    e[i].preferred = again[i];
                }
            }
            CHECK(settled);
            if (test_failures) {
                fprintf(stderr, "round %d step %d (seed %llu)\n", round, step,
                        (unsigned long long)seed);
                return;
            }
        }
    }
}

int main(void)
{
    test_score();
    test_rules();
    test_property();
    return test_summary("test_preferred");
}
