/*
 * Landmark binning (Ratnasamy, Handley, Karp and Shenker, "Topologically-
 * aware overlay construction and server selection", INFOCOM 2002): the
 * first baseline for the locality groups (issue 4).
 *
 * Model. L landmark nodes are chosen, uniformly at random without
 * replacement from a seeded stream. Every node measures its distance to
 * each landmark and orders the landmarks by it, nearest first (ties: the
 * lower landmark number first); that ordering is its bin. Level
 * quantisation refines the bin: the distance range is cut at ascending
 * boundaries into levels, and the level of each landmark (in landmark
 * order) is appended. The paper's levels, used by default:
 *     level 0: [0, 100) ms   level 1: [100, 200) ms   level 2: >= 200 ms
 * Nodes with the same ordering and the same levels form a group. A node
 * that is itself a landmark measures 0 to it. A run costs every node L
 * measurements and nothing else: no exchange between nodes, which is both
 * the method's appeal and its weakness (L! x levels^L possible bins,
 * whatever the number of natural clusters).
 */
#ifndef STRATA_SIM_LANDMARK_H
#define STRATA_SIM_LANDMARK_H

#include <stddef.h>
#include <stdint.h>

#include "clustering.h"

enum {
    STRATA_LANDMARK_MAX = 16,
    STRATA_LANDMARK_MAX_BOUNDS = 15, /* 16 levels */
    STRATA_LANDMARK_DEFAULT_COUNT = 8,
};

typedef struct strata_landmark_config {
    uint32_t landmarks; /* 1..STRATA_LANDMARK_MAX, at most n; 0 = default */
    /* Level boundaries in ms, ascending. NULL = the paper's {100, 200};
     * n_bounds 0 with a non-NULL pointer = no levels (ordering alone). */
    const double *bounds_ms;
    size_t n_bounds;
    uint64_t seed;
} strata_landmark_config;

typedef struct strata_landmark_result {
    uint32_t landmark[STRATA_LANDMARK_MAX]; /* node numbers, in landmark order */
    uint32_t n_landmarks;
    size_t bins; /* groups formed */
} strata_landmark_result;

/* Bins nodes 0..n-1 under distance d: bin[n] receives dense group numbers
 * (0.. in order of first appearance). Returns 0, STRATA_ERR_INVAL (n == 0,
 * too many landmarks or bounds, bounds not ascending) or STRATA_ERR_NOMEM. */
int strata_landmark_bin(const strata_simdist *d, size_t n, const strata_landmark_config *cfg,
                        int32_t *bin, strata_landmark_result *res);

#endif
