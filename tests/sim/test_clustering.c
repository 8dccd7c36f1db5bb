/*
 * Tests of sim/clustering.c: the adjusted Rand index and normalised mutual
 * information against values computed by hand (the working is in the
 * comments), relabelling, label files, and the partition scores on a tiny
 * line whose distances can be added up on paper.
 */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "clustering.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int near(double a, double b, double eps)
{
    return fabs(a - b) <= eps;
}

#define CHECK_NEAR(a, b)                                                                           \
    do {                                                                                           \
        double va_ = (a), vb_ = (b);                                                               \
        test_checks++;                                                                             \
        if (!near(va_, vb_, 1e-9)) {                                                               \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %.12f != %.12f\n", __FILE__, __LINE__, #a,    \
                    #b, va_, vb_);                                                                 \
        }                                                                                          \
    } while (0)

typedef struct score_case {
    const char *what;
    int32_t a[8], b[8];
    size_t n;
    double ari, nmi;
} score_case;

static void test_known_scores(void)
{
    /* A = {0,1,2}{3,4,5}, B = {0,1}{2,3}{4,5}. Contingency rows (2,1,0),
     * (0,1,2). sum C(n_ij,2) = 1 + 1 = 2; sum C(a_i,2) = 3 + 3 = 6; sum
     * C(b_j,2) = 1 + 1 + 1 = 3; C(6,2) = 15. expected = 6 * 3 / 15 = 1.2,
     * max = 4.5: ARI = 0.8 / 3.3 = 8/33. MI = 2 * (1/3) ln((1/3)/(1/2 *
     * 1/3)) = (2/3) ln 2; H(A) = ln 2, H(B) = ln 3: NMI = (2/3) ln 2 /
     * ((ln 2 + ln 3) / 2) = (4/3) ln 2 / ln 6. */
    const double nmi1 = 4.0 / 3.0 * log(2.0) / log(6.0);
    /* A = {0,1}{2,3}, B = {0,2}{1,3}: every cell holds one node. index 0;
     * sums 2 and 2; expected = 4/6; max = 2: ARI = (0 - 2/3) / (4/3) =
     * -1/2. The partitions are independent: MI = 0, NMI = 0. */
    /* A = {0,1,2,3,4}{5}, B = {0,1,2}{3,4,5}: cells (3,2),(0,1). index =
     * 3 + 1 = 4; sum C(a,2) = 10; sum C(b,2) = 6; C(6,2) = 15; expected =
     * 4; max = 8: ARI = 0, no better than chance. MI sums p_ij ln(p_ij /
     * (p_i p_j)) over the three cells, p_i = 5/6 or 1/6, p_j = 1/2. */
    double p = 1.0 / 6;
    double mi3 = 3 * p * log((3 * p) / ((5 * p) * 0.5)) + 2 * p * log((2 * p) / ((5 * p) * 0.5)) +
                 1 * p * log(p / (p * 0.5));
    double ha3 = -(5 * p * log(5 * p) + p * log(p)), hb3 = log(2.0);
    const double nmi3 = mi3 / ((ha3 + hb3) / 2);
    score_case cases[] = {
        {"identical up to names", {4, 4, 9, 9, 1, 1}, {0, 0, 1, 1, 2, 2}, 6, 1.0, 1.0},
        {"3 vs 2 clusters", {0, 0, 0, 1, 1, 1}, {0, 0, 1, 1, 2, 2}, 6, 8.0 / 33.0, nmi1},
        {"crossed", {0, 0, 1, 1}, {0, 1, 0, 1}, 4, -0.5, 0.0},
        {"chance level", {0, 0, 0, 0, 0, 1}, {0, 0, 0, 1, 1, 1}, 6, 0.0, nmi3},
        {"both one cluster", {3, 3, 3}, {7, 7, 7}, 3, 1.0, 1.0},
        {"one cluster vs singletons", {0, 0, 0, 0}, {0, 1, 2, 3}, 4, 0.0, 0.0},
        {"both singletons", {0, 1, 2, 3}, {3, 2, 1, 0}, 4, 1.0, 1.0},
        {"unlabelled nodes left out", {0, 0, -1, 1, 1}, {5, 5, 3, -2, -1}, 5, 1.0, 1.0},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        strata_clustering_scores sc;
        CHECK_EQ_INT(strata_clustering_compare(cases[i].a, cases[i].b, cases[i].n, &sc), 0);
        int before = test_failures;
        CHECK_NEAR(sc.ari, cases[i].ari);
        CHECK_NEAR(sc.nmi, cases[i].nmi);
        /* Both scores are symmetric in their arguments. */
        strata_clustering_scores rev;
        strata_clustering_compare(cases[i].b, cases[i].a, cases[i].n, &rev);
        CHECK_NEAR(rev.ari, sc.ari);
        CHECK_NEAR(rev.nmi, sc.nmi);
        if (test_failures != before)
            fprintf(stderr, "  case: %s\n", cases[i].what);
    }
    strata_clustering_scores sc;
    int32_t a[3] = {0, 1, 2}, b[3] = {1, 1, 1};
    strata_clustering_compare(a, b, 3, &sc);
    CHECK_EQ_INT(sc.n, 3);
    CHECK_EQ_INT(sc.clusters_a, 3);
    CHECK_EQ_INT(sc.clusters_b, 1);
    CHECK_EQ_INT(strata_clustering_compare(a, b, 0, &sc), 0);
    CHECK_EQ_INT(sc.n, 0);
}

/* A seeded loop: ARI of a partition with itself is 1, with a random
 * relabelling of itself too, and both scores stay in range. */
static void test_properties(uint64_t seed)
{
    strata_rng r;
    strata_rng_seed(&r, seed);
    enum { N = 200 };
    for (int round = 0; round < 200; round++) {
        int32_t a[N], b[N], perm[16];
        uint32_t ka = 1 + (uint32_t)strata_rng_below(&r, 16),
                 kb = 1 + (uint32_t)strata_rng_below(&r, 16);
        for (int k = 0; k < 16; k++)
            perm[k] = 100 + k * 7;
        for (int i = 0; i < N; i++) {
            a[i] = (int32_t)strata_rng_below(&r, ka);
            b[i] = (int32_t)strata_rng_below(&r, kb);
        }
        strata_clustering_scores self, ab;
        int32_t relab[N];
        for (int i = 0; i < N; i++)
            relab[i] = perm[a[i]];
        strata_clustering_compare(a, relab, N, &self);
        strata_clustering_compare(a, b, N, &ab);
        CHECK_NEAR(self.ari, 1.0);
        CHECK_NEAR(self.nmi, 1.0);
        CHECK(ab.ari <= 1.0 + 1e-12 && ab.ari >= -1.0);
        CHECK(ab.nmi <= 1.0 + 1e-12 && ab.nmi >= 0.0);
        if (test_failures) {
            fprintf(stderr, "  round %d of seed %llu\n", round, (unsigned long long)seed);
            return;
        }
    }
}

static void test_dense(void)
{
    int32_t l[] = {7, -3, 7, 2, 9, 2, 100000};
    int32_t want[] = {0, -1, 0, 1, 2, 1, 3};
    CHECK_EQ_INT(strata_clustering_dense(l, N_OF(l)), 4);
    CHECK_EQ_MEM(l, want, sizeof want);
    CHECK_EQ_INT(strata_clustering_dense(l, 0), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static void test_label_files(void)
{
    char path[] = "/tmp/strata_labels_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    close(fd);
    int32_t lab[5];
    size_t classes = 0;
    char err[200] = "";
    write_file(path, "index\tcontinent\n# comment\n0\tEU\n2\tAS\r\n\n3\tEU\t more\n");
    CHECK_EQ_INT(strata_clustering_read_labels(path, 5, lab, &classes, err, sizeof err), 0);
    int32_t want[] = {0, -1, 1, 0, -1};
    CHECK_EQ_MEM(lab, want, sizeof want);
    CHECK_EQ_INT(classes, 2);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"0\tEU\n5\tAS\n", ":2: index 5 beyond"},
        {"0\tEU\n0\tAS\n", ":2: index 0 labelled twice"},
        {"0\tEU\nx\tAS\n", ":2: expected index<TAB>label"},
        {"0\t\n", ":1: label empty"},
        {"0 EU\n", ":1: expected"},
    };
    for (size_t i = 0; i < N_OF(bad); i++) {
        write_file(path, bad[i].text);
        err[0] = 0;
        CHECK_EQ_INT(strata_clustering_read_labels(path, 5, lab, &classes, err, sizeof err),
                     STRATA_ERR_RANGE);
        CHECK(strstr(err, bad[i].msg) != NULL);
        if (!strstr(err, bad[i].msg))
            fprintf(stderr, "  got \"%s\", want \"%s\"\n", err, bad[i].msg);
    }
    unlink(path);
    CHECK_EQ_INT(strata_clustering_read_labels(path, 5, lab, &classes, err, sizeof err),
                 STRATA_ERR_NOTFOUND);
    CHECK(strstr(err, path) != NULL);
}

/* Nodes on a line: d(a, b) = |x_a - x_b|. */
static double line_ms(void *user, uint32_t a, uint32_t b)
{
    const double *x = user;
    return fabs(x[a] - x[b]);
}

static void test_partition_scores(void)
{
    /* Positions 0, 1, 10, 12; groups {0,1} led by 0 and {2,3} led by 2.
     * intra pairs 1 and 2: 1.5. inter pairs 10, 12, 9, 11: 10.5. to the
     * leader: 1 and 2: 1.5. spread: group {0,1} to leader 2 sees 10 and 9
     * (sd 0.5), group {2,3} to leader 0 sees 10 and 12 (sd 1): 0.75. */
    double x[] = {0, 1, 10, 12};
    strata_simdist d = {line_ms, x};
    int32_t lab[] = {0, 0, 1, 1};
    uint32_t reps[] = {0, 2};
    strata_partition_eval e;
    CHECK_EQ_INT(strata_partition_evaluate(&d, lab, 4, 2, reps, 1, 0, &e), 0);
    CHECK_EQ_INT(e.groups, 2);
    CHECK_EQ_INT(e.nodes, 4);
    CHECK_NEAR(e.intra_ms, 1.5);
    CHECK_NEAR(e.inter_ms, 10.5);
    CHECK_NEAR(e.to_rep_ms, 1.5);
    CHECK_NEAR(e.spread_ms, 0.75);
    CHECK_EQ_INT(e.size_min, 2);
    CHECK_EQ_INT(e.size_max, 2);
    CHECK_NEAR(e.size_median, 2.0);
    CHECK_EQ_INT(e.sampled, 0);
    strata_partition_eval_free(&e);

    /* Without representatives the medoids serve: {0, 1, 10} has sums 11,
     * 10, 19, so its medoid is node 1; a node outside (-1) is ignored. */
    double y[] = {0, 1, 10, 50};
    strata_simdist dy = {line_ms, y};
    int32_t lab2[] = {0, 0, 0, -1};
    uint32_t med[1];
    CHECK_EQ_INT(strata_partition_medoids(&dy, lab2, 4, 1, med), 0);
    CHECK_EQ_INT(med[0], 1);
    CHECK_EQ_INT(strata_partition_evaluate(&dy, lab2, 4, 1, NULL, 1, 0, &e), 0);
    CHECK_NEAR(e.to_rep_ms, (1.0 + 9.0) / 2);
    CHECK_NEAR(e.intra_ms, (1.0 + 10.0 + 9.0) / 3);
    CHECK_NEAR(e.inter_ms, 0.0);
    CHECK_NEAR(e.spread_ms, 0.0); /* no other group */
    strata_partition_eval_free(&e);

    /* A label beyond the group count is refused. */
    int32_t lab3[] = {0, 2};
    CHECK_EQ_INT(strata_partition_evaluate(&dy, lab3, 2, 2, NULL, 1, 0, &e), STRATA_ERR_INVAL);

    /* Sampling: 3 groups of 40 nodes 1000 apart plus a singleton; inside
     * a group nodes sit at 0 or 5 (alternately). Scored from samples
     * (exact_max 10) and exactly: the two agree within the sampling
     * error. */
    enum { M = 121 };
    static double z[M];
    int32_t lz[M];
    for (int i = 0; i < M; i++) {
        lz[i] = i == M - 1 ? 3 : i / 40;
        z[i] = lz[i] * 1000.0 + (i % 2) * 5.0;
    }
    strata_simdist dz = {line_ms, z};
    CHECK_EQ_INT(strata_partition_evaluate(&dz, lz, M, 4, NULL, 7, 10, &e), 0);
    CHECK_EQ_INT(e.sampled, 1);
    CHECK_EQ_INT(e.singletons, 1);
    CHECK_EQ_INT(e.size_median, 40);
    strata_partition_eval ex;
    CHECK_EQ_INT(strata_partition_evaluate(&dz, lz, M, 4, NULL, 7, 0, &ex), 0);
    CHECK_EQ_INT(ex.sampled, 0);
    CHECK(fabs(e.intra_ms - ex.intra_ms) < 0.02 * ex.intra_ms);
    CHECK(fabs(e.inter_ms - ex.inter_ms) < 0.01 * ex.inter_ms);
    printf("sampled intra %.3f (exact %.3f), inter %.1f (exact %.1f)\n", e.intra_ms, ex.intra_ms,
           e.inter_ms, ex.inter_ms);
    strata_partition_eval_free(&e);
    strata_partition_eval_free(&ex);
}

int main(void)
{
    uint64_t seed = test_seed(99);
    test_known_scores();
    test_properties(seed);
    test_dense();
    test_label_files();
    test_partition_scores();
    return test_summary("test_clustering");
}
