/*
 * Offline k-medoids on the full distance matrix: the upper reference for
 * the locality groups (issue 4), run with k = the number of groups strata
 * formed. It sees every pairwise distance, which no peer of a real overlay
 * does.
 *
 * Method: partitioning around medoids (Kaufman and Rousseeuw), fully
 * deterministic.
 *  - BUILD: the first medoid is the node with the least total distance to
 *    all others; each further medoid is the node whose addition lowers the
 *    total distance of every node to its nearest medoid the most.
 *  - SWAP: for every (medoid, non-medoid) pair the change of the total
 *    distance if the two traded places is computed, all k medoids against
 *    one candidate in a single pass over the nodes (keeping each node's
 *    nearest and second-nearest medoid); the best improving swap is made;
 *    repeated until no swap improves (by more than 1e-9 of the cost) or
 *    max_iter swaps were made.
 * Ties go to the lower node number throughout. The cost is O(k n^2) for
 * BUILD and O(n^2) per swap; distances are cached in a float matrix when n
 * is at most STRATA_KMEDOIDS_CACHE_MAX.
 */
#ifndef STRATA_SIM_KMEDOIDS_H
#define STRATA_SIM_KMEDOIDS_H

#include <stddef.h>
#include <stdint.h>

#include "clustering.h"

enum {
    STRATA_KMEDOIDS_DEFAULT_MAX_ITER = 200,
    STRATA_KMEDOIDS_CACHE_MAX = 6000, /* 144 MB of floats */
};

typedef struct strata_kmedoids_result {
    uint32_t k;           /* medoids found (min(k, n)) */
    uint32_t swaps;       /* improving swaps made */
    int converged;        /* no improving swap left */
    double build_cost_ms; /* total distance after BUILD */
    double cost_ms;       /* total distance of the nodes to their medoids */
    double mean_ms;       /* cost / n */
} strata_kmedoids_result;

/* Clusters nodes 0..n-1 under d into k groups. medoids[k] receives the
 * medoid nodes in the order BUILD chose them (swaps replace in place);
 * assign[n] the index 0..k-1 of each node's nearest medoid (lowest index
 * on a tie). max_iter 0 means the default. Returns 0, STRATA_ERR_INVAL
 * (n == 0, k == 0) or STRATA_ERR_NOMEM. */
int strata_kmedoids_run(const strata_simdist *d, size_t n, uint32_t k, uint32_t max_iter,
                        uint32_t *medoids, int32_t *assign, strata_kmedoids_result *res);

#endif
