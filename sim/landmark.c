/*
 * Landmark binning; the model is in landmark.h. A bin is packed into two
 * 64-bit words (the ordering, then the levels, 4 bits per landmark), so
 * grouping is one sort of (key, node).
 */
#include "landmark.h"

#include <stdlib.h>
#include <string.h>

#include "eventq.h"

typedef struct bin_key {
    uint64_t order, levels;
    uint32_t node;
} bin_key;

static int cmp_key(const void *x, const void *y)
{
    const bin_key *a = x, *b = y;
    if (a->order != b->order)
        return a->order < b->order ? -1 : 1;
    if (a->levels != b->levels)
        return a->levels < b->levels ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

int strata_landmark_bin(const strata_simdist *d, size_t n, const strata_landmark_config *cfg,
                        int32_t *bin, strata_landmark_result *res)
{
    static const double paper_bounds[] = {100.0, 200.0};
    memset(res, 0, sizeof *res);
    uint32_t L = cfg->landmarks ? cfg->landmarks : STRATA_LANDMARK_DEFAULT_COUNT;
    const double *bounds = cfg->bounds_ms ? cfg->bounds_ms : paper_bounds;
    size_t nb = cfg->bounds_ms ? cfg->n_bounds : 2;
    if (n == 0 || n > UINT32_MAX || L > STRATA_LANDMARK_MAX || nb > STRATA_LANDMARK_MAX_BOUNDS)
        return STRATA_ERR_INVAL;
    for (size_t i = 1; i < nb; i++) {
        if (!(bounds[i] > bounds[i - 1]))
            return STRATA_ERR_INVAL;
    }
    if (L > n)
        L = (uint32_t)n;

    /* Landmarks: distinct nodes drawn from the seeded stream. */
    strata_rng r;
    strata_rng_seed(&r, strata_sim_stream_seed(cfg->seed, 0, 0x1a4d));
    for (uint32_t k = 0; k < L;) {
        uint32_t cand = (uint32_t)strata_rng_below(&r, n);
        int dup = 0;
        for (uint32_t j = 0; j < k; j++)
            dup |= res->landmark[j] == cand;
        if (!dup)
            res->landmark[k++] = cand;
    }
    res->n_landmarks = L;

    bin_key *keys = malloc(n * sizeof *keys);
    if (!keys)
        return STRATA_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        double dist[STRATA_LANDMARK_MAX];
        uint8_t ord[STRATA_LANDMARK_MAX];
        for (uint32_t k = 0; k < L; k++) {
            dist[k] = strata_simdist_ms(d, (uint32_t)i, res->landmark[k]);
            ord[k] = (uint8_t)k;
        }
        /* Insertion sort by (distance, landmark number): L is small. */
        for (uint32_t k = 1; k < L; k++) {
            uint8_t v = ord[k];
            uint32_t j = k;
            while (j > 0 && (dist[ord[j - 1]] > dist[v] ||
                             (dist[ord[j - 1]] == dist[v] && ord[j - 1] > v))) {
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = v;
        }
        uint64_t order = 0, levels = 0;
        for (uint32_t k = 0; k < L; k++) {
            order = order << 4 | ord[k];
            uint64_t lvl = 0;
            while (lvl < nb && dist[k] >= bounds[lvl])
                lvl++;
            levels = levels << 4 | lvl;
        }
        keys[i] = (bin_key){order, levels, (uint32_t)i};
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    int32_t b = -1;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || keys[i].order != keys[i - 1].order || keys[i].levels != keys[i - 1].levels)
            b++;
        bin[keys[i].node] = b;
    }
    free(keys);
    long bins = strata_clustering_dense(bin, n);
    if (bins < 0)
        return STRATA_ERR_NOMEM;
    res->bins = (size_t)bins;
    return 0;
}
