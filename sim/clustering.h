/*
 * Comparing and scoring partitions of simulated nodes: the yardsticks of
 * the locality-group experiments (issue 4) and of their baselines
 * (landmark.h, kmedoids.h).
 *
 * A partition is an array of int32 labels, one per node; a negative label
 * means "not in the partition" (a dead node, a host without a ground-truth
 * label) and the node is left out of every score. Labels need not be dense.
 *
 * Agreement between two partitions A and B over the n nodes labelled in
 * both, from the contingency table n_ij (nodes in cluster i of A and j of
 * B), its row sums a_i and column sums b_j:
 *  - adjusted Rand index (Hubert and Arabie 1985):
 *        index    = sum_ij C(n_ij, 2)
 *        expected = sum_i C(a_i, 2) * sum_j C(b_j, 2) / C(n, 2)
 *        max      = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2
 *        ARI      = (index - expected) / (max - expected)
 *    1 for identical partitions, about 0 for independent ones, negative
 *    when worse than chance. When max == expected (both partitions are a
 *    single cluster, or both all singletons, or n < 2) ARI is 1 if the
 *    partitions are identical and 0 otherwise.
 *  - normalised mutual information, arithmetic normalisation:
 *        NMI = I(A; B) / ((H(A) + H(B)) / 2)
 *    with natural logarithms (the base cancels). 1 when both entropies are
 *    0 (one cluster each); 0 when only one of them is.
 *
 * Quality of one partition against the distances (strata_partition_eval):
 *  - groups, sizes (min, median, max, the list in decreasing order);
 *  - intra_ms: the mean distance over all unordered pairs of distinct
 *    nodes in the same group (pair-weighted: big groups weigh more);
 *  - inter_ms: the same over pairs in different groups;
 *  - to_rep_ms: the mean distance of a member to its group's
 *    representative (a leader, or a medoid), the representative excluded;
 *  - spread_ms (SPEC L11: members see the rest of the network alike): for
 *    each group G of two or more members and each other group H, the
 *    population standard deviation of d(m, rep(H)) over the members m of
 *    G; averaged over all such (G, H). 0 would mean every member of every
 *    group is exactly as far from every other group as its mates.
 * Pairs are enumerated exactly up to exact_max nodes and sampled above
 * (STRATA_PARTITION_SAMPLES seeded pairs for each of intra and inter).
 */
#ifndef STRATA_SIM_CLUSTERING_H
#define STRATA_SIM_CLUSTERING_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

/* A distance between nodes a and b (ms), supplied by the caller: a latency
 * matrix, nodes behind hosts, a synthetic topology. Called with a != b. */
typedef struct strata_simdist {
    double (*ms)(void *user, uint32_t a, uint32_t b);
    void *user;
} strata_simdist;

/* d(a, b), 0 when a == b. */
double strata_simdist_ms(const strata_simdist *d, uint32_t a, uint32_t b);

typedef struct strata_clustering_scores {
    double ari, nmi;
    size_t n;                      /* nodes labelled in both */
    size_t clusters_a, clusters_b; /* distinct labels among them */
} strata_clustering_scores;

/* Compares partitions a and b of n nodes (see above). Returns 0 or
 * STRATA_ERR_NOMEM; out is zeroed when no node is labelled in both. */
int strata_clustering_compare(const int32_t *a, const int32_t *b, size_t n,
                              strata_clustering_scores *out);

/* Renumbers the non-negative labels to 0..k-1 in order of first appearance
 * (negative ones become -1). Returns k, or STRATA_ERR_NOMEM. */
long strata_clustering_dense(int32_t *labels, size_t n);

/* Reads a label file: lines "index<TAB>label" (label: any text up to the
 * end of the line or the next tab), index < hosts, each index at most
 * once. Blank lines and lines starting with '#' are skipped, and so is a
 * first line whose index field is not a number (a header). labels[hosts]
 * receives a dense number per distinct label text, in order of first
 * appearance, -1 for hosts the file does not name; *classes the number of
 * distinct labels. Returns 0, STRATA_ERR_NOTFOUND (cannot read),
 * STRATA_ERR_RANGE (malformed, message "path:line: what" in err) or
 * STRATA_ERR_NOMEM. */
int strata_clustering_read_labels(const char *path, uint32_t hosts, int32_t *labels,
                                  size_t *classes, char *err, size_t errlen);

enum {
    STRATA_PARTITION_EXACT_MAX = 5000, /* default exact_max */
    STRATA_PARTITION_SAMPLES = 1000000,
};

typedef struct strata_partition_eval {
    size_t nodes;  /* labelled nodes */
    size_t groups; /* dense labels 0..groups-1 */
    size_t singletons;
    uint32_t size_min, size_max;
    double size_median;
    uint32_t *sizes; /* groups entries, decreasing; owned, see _free */
    double intra_ms, inter_ms, to_rep_ms, spread_ms;
    int sampled; /* intra/inter from samples */
} strata_partition_eval;

/* Scores the partition labels[n] (dense: 0..groups-1, or negative) under
 * distance d. reps[groups] names each group's representative node (NULL,
 * or an entry UINT32_MAX: the group's medoid is used, computed exactly).
 * seed drives the sampling above exact_max nodes (0: the default). Returns 0,
 * STRATA_ERR_INVAL (a label >= groups) or STRATA_ERR_NOMEM. */
int strata_partition_evaluate(const strata_simdist *d, const int32_t *labels, size_t n,
                              size_t groups, const uint32_t *reps, uint64_t seed, size_t exact_max,
                              strata_partition_eval *out);
void strata_partition_eval_free(strata_partition_eval *e);

/* The medoid (the member with the least summed distance to the others,
 * lowest index on a tie) of each group 0..groups-1 of labels[n], into
 * medoids[groups] (UINT32_MAX for an empty group). Cost: the sum of the
 * squared group sizes. Returns 0 or STRATA_ERR_NOMEM. */
int strata_partition_medoids(const strata_simdist *d, const int32_t *labels, size_t n,
                             size_t groups, uint32_t *medoids);

#endif
