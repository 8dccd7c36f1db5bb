/*
 * Tests of the two baselines of the locality groups: landmark binning
 * (sim/landmark.c) and k-medoids (sim/kmedoids.c). Small synthetic
 * matrices with known clusters: both must recover them; k-medoids must
 * find the optimum of a case small enough to work out by hand; both are
 * deterministic.
 */
#include "testutil.h"

#include <math.h>

#include "clustering.h"
#include "kmedoids.h"
#include "landmark.h"

/* Clusters with centre-to-centre RTTs chosen inside the default landmark
 * levels ([0,100), [100,200), >= 200 ms); each host adds an access delay
 * of 1-8 ms to every path. */
static const double centre_ms[3][3] = {{0, 130, 250}, {130, 0, 150}, {250, 150, 0}};

typedef struct synth {
    size_t n;
    int32_t cluster[90];
    double own[90];
} synth;

static double synth_ms(void *user, uint32_t a, uint32_t b)
{
    const synth *s = user;
    return centre_ms[s->cluster[a]][s->cluster[b]] + s->own[a] + s->own[b] +
           (s->cluster[a] == s->cluster[b] ? 3 : 0);
}

static void synth_init(synth *s, size_t per, uint64_t seed)
{
    strata_rng r;
    strata_rng_seed(&r, seed);
    s->n = 3 * per;
    for (size_t i = 0; i < s->n; i++) {
        s->cluster[i] = (int32_t)(i % 3); /* interleaved: order must not matter */
        s->own[i] = 1 + (double)strata_rng_below(&r, 8);
    }
}

/* Groups that hold nodes of more than one cluster. */
static int mixed(const synth *s, const int32_t *lab, size_t groups)
{
    int m = 0;
    for (size_t g = 0; g < groups; g++) {
        int c = -1, mix = 0;
        for (size_t i = 0; i < s->n; i++) {
            if (lab[i] != (int32_t)g)
                continue;
            if (c < 0)
                c = s->cluster[i];
            mix |= c != s->cluster[i];
        }
        m += mix;
    }
    return m;
}

static void test_landmark(uint64_t seed)
{
    synth s;
    synth_init(&s, 30, seed);
    strata_simdist d = {synth_ms, &s};
    int32_t lab[90], again[90];
    for (uint32_t L = 2; L <= 8; L += 2) {
        strata_landmark_config c = {L, NULL, 0, seed};
        strata_landmark_result r;
        CHECK_EQ_INT(strata_landmark_bin(&d, s.n, &c, lab, &r), 0);
        CHECK_EQ_INT(r.n_landmarks, L);
        /* Bins never mix clusters once the landmarks sit in two clusters
         * or more: within a cluster every node sees the landmarks in the
         * same order (its own access delay is added to every path alike)
         * and at the same levels, and two clusters differ in the order or
         * level of some landmark. (All landmarks in one cluster cannot
         * tell apart two clusters equally far from it: 130 and 150 ms are
         * both level 1.) */
        int seen[3] = {0, 0, 0};
        for (uint32_t k = 0; k < r.n_landmarks; k++)
            seen[s.cluster[r.landmark[k]]] = 1;
        int spread = seen[0] + seen[1] + seen[2] >= 2;
        strata_clustering_scores sc;
        strata_clustering_compare(lab, s.cluster, s.n, &sc);
        printf("landmark binning, %u landmarks in %d clusters: %zu bins, ARI %.3f, NMI %.3f\n",
               (unsigned)L, seen[0] + seen[1] + seen[2], r.bins, sc.ari, sc.nmi);
        if (spread) {
            CHECK_EQ_INT(mixed(&s, lab, r.bins), 0);
            CHECK(r.bins >= 3 && r.bins <= 3 + L);
            CHECK(sc.ari >= 0.85);
        }
        /* Deterministic. */
        strata_landmark_result r2;
        strata_landmark_bin(&d, s.n, &c, again, &r2);
        CHECK_EQ_MEM(lab, again, sizeof lab);
        CHECK_EQ_MEM(r.landmark, r2.landmark, sizeof r.landmark);
    }
}

static double line_ms(void *user, uint32_t a, uint32_t b)
{
    const double *x = user;
    return fabs(x[a] - x[b]);
}

static void test_levels(void)
{
    /* One landmark; nodes at 0, 50, 150, 250 and 260 ms on a line. Whatever
     * node is the landmark, the ordering of one landmark is always the
     * same, so the bins come from the levels alone: with no levels, one
     * bin; with the default ones, the distance classes [0,100), [100,200),
     * >= 200 from the landmark. */
    double x[] = {0, 50, 150, 250, 260};
    strata_simdist d = {line_ms, x};
    int32_t lab[5];
    strata_landmark_result r;
    strata_landmark_config none = {1, x, 0, 3};
    CHECK_EQ_INT(strata_landmark_bin(&d, 5, &none, lab, &r), 0);
    CHECK_EQ_INT(r.bins, 1);
    strata_landmark_config lv = {1, NULL, 0, 3};
    CHECK_EQ_INT(strata_landmark_bin(&d, 5, &lv, lab, &r), 0);
    uint32_t lm = r.landmark[0];
    for (uint32_t i = 0; i < 5; i++) {
        double di = fabs(x[i] - x[lm]);
        for (uint32_t j = 0; j < 5; j++) {
            double dj = fabs(x[j] - x[lm]);
            int same_level = (di < 100) == (dj < 100) && (di < 200) == (dj < 200);
            CHECK_EQ_INT(lab[i] == lab[j], same_level);
        }
    }
    /* Custom levels: boundaries must ascend. */
    double bad[] = {100, 50};
    strata_landmark_config b = {1, bad, 2, 3};
    CHECK_EQ_INT(strata_landmark_bin(&d, 5, &b, lab, &r), STRATA_ERR_INVAL);
    strata_landmark_config many = {17, NULL, 0, 3};
    CHECK_EQ_INT(strata_landmark_bin(&d, 5, &many, lab, &r), STRATA_ERR_INVAL);
    /* More landmarks than nodes: all of them are landmarks. */
    strata_landmark_config all = {8, NULL, 0, 3};
    CHECK_EQ_INT(strata_landmark_bin(&d, 5, &all, lab, &r), 0);
    CHECK_EQ_INT(r.n_landmarks, 5);
}

static void test_kmedoids_small(void)
{
    /* Points 0 1 2 | 10 11 12 | 20 21, k = 3. The optimum puts medoids at
     * 1, 11 and 20 or 21: cost 1+1 + 1+1 + 1 = 5. */
    double x[] = {0, 1, 2, 10, 11, 12, 20, 21};
    strata_simdist d = {line_ms, x};
    uint32_t med[3];
    int32_t as[8];
    strata_kmedoids_result r;
    CHECK_EQ_INT(strata_kmedoids_run(&d, 8, 3, 0, med, as, &r), 0);
    CHECK_EQ_INT(r.k, 3);
    CHECK(r.converged);
    CHECK(fabs(r.cost_ms - 5.0) < 1e-9);
    CHECK(fabs(r.mean_ms - 5.0 / 8) < 1e-9);
    int32_t want[] = {0, 0, 0, 1, 1, 1, 2, 2};
    strata_clustering_scores sc;
    strata_clustering_compare(as, want, 8, &sc);
    CHECK(fabs(sc.ari - 1.0) < 1e-12);
    for (int i = 0; i < 8; i++)
        CHECK(as[i] >= 0 && as[i] < 3);
    int have1 = 0, have11 = 0;
    for (int k = 0; k < 3; k++) {
        have1 |= med[k] == 1;
        have11 |= med[k] == 4;
    }
    CHECK(have1 && have11);

    /* Whatever BUILD chose, the result is a local optimum: no single swap
     * of a medoid for another node lowers the cost. */
    double y[] = {0, 4, 5, 6, 10, 30, 31};
    strata_simdist dy = {line_ms, y};
    uint32_t m2[2];
    int32_t a2[7];
    CHECK_EQ_INT(strata_kmedoids_run(&dy, 7, 2, 0, m2, a2, &r), 0);
    CHECK(r.cost_ms <= r.build_cost_ms);
    for (uint32_t k = 0; k < 2; k++) {
        for (uint32_t c = 0; c < 7; c++) {
            uint32_t alt[2] = {m2[0], m2[1]};
            if (c == alt[0] || c == alt[1])
                continue;
            alt[k] = c;
            double cost = 0;
            for (uint32_t o = 0; o < 7; o++) {
                double a = fabs(y[o] - y[alt[0]]), b = fabs(y[o] - y[alt[1]]);
                cost += a < b ? a : b;
            }
            CHECK(cost >= r.cost_ms - 1e-9);
        }
    }

    /* k >= n: every node its own medoid; k = 0 and n = 0 refused. */
    uint32_t m8[8];
    CHECK_EQ_INT(strata_kmedoids_run(&d, 8, 20, 0, m8, as, &r), 0);
    CHECK_EQ_INT(r.k, 8);
    CHECK(fabs(r.cost_ms) < 1e-12);
    CHECK_EQ_INT(strata_kmedoids_run(&d, 8, 0, 0, m8, as, &r), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_kmedoids_run(&d, 0, 2, 0, m8, as, &r), STRATA_ERR_INVAL);
}

static void test_kmedoids_clusters(uint64_t seed)
{
    synth s;
    synth_init(&s, 30, seed + 1);
    strata_simdist d = {synth_ms, &s};
    uint32_t med[3], med2[3];
    int32_t as[90], as2[90];
    strata_kmedoids_result r;
    CHECK_EQ_INT(strata_kmedoids_run(&d, s.n, 3, 0, med, as, &r), 0);
    strata_clustering_scores sc;
    strata_clustering_compare(as, s.cluster, s.n, &sc);
    printf("k-medoids, k = 3: ARI %.3f, %u swaps, mean distance to medoid %.2f ms\n", sc.ari,
           (unsigned)r.swaps, r.mean_ms);
    CHECK(fabs(sc.ari - 1.0) < 1e-12);
    /* Each medoid is the node of least summed distance in its cluster: one
     * with the smallest access delay. */
    for (uint32_t k = 0; k < 3; k++) {
        int32_t c = s.cluster[med[k]];
        for (size_t i = 0; i < s.n; i++) {
            if (s.cluster[i] == c)
                CHECK(s.own[med[k]] <= s.own[i]);
        }
    }
    strata_kmedoids_result r2;
    strata_kmedoids_run(&d, s.n, 3, 0, med2, as2, &r2);
    CHECK_EQ_MEM(med, med2, sizeof med);
    CHECK_EQ_MEM(as, as2, sizeof as);
    /* More groups than clusters: still no group spans two clusters. */
    uint32_t med6[6];
    CHECK_EQ_INT(strata_kmedoids_run(&d, s.n, 6, 0, med6, as, &r), 0);
    CHECK_EQ_INT(mixed(&s, as, 6), 0);
}

int main(void)
{
    uint64_t seed = test_seed(7);
    test_landmark(seed);
    test_levels();
    test_kmedoids_small();
    test_kmedoids_clusters(seed);
    return test_summary("test_baselines");
}
