/*
 * k-medoids (PAM: BUILD then best-improvement SWAP); the method is in
 * kmedoids.h. The swap evaluation keeps, per node, the nearest medoid, the
 * distance to it and to the second nearest, and derives the change for all
 * k medoids against one candidate c in one pass:
 *   a node o whose nearest medoid is m moves, if m is removed, to the
 *   nearer of c and its second medoid:   delta[m] += min(d(o,c), s_o) - n_o;
 *   if c is nearer than m, o moves to c whichever other medoid is removed:
 *                                         delta[i != m] += d(o,c) - n_o.
 * The second term is added to all k at the end through one shared sum
 * (with the share of m taken back), so a pass is O(n + k).
 */
#include "kmedoids.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct kmctx {
    const strata_simdist *d;
    float *cache; /* n x n, or NULL */
    size_t n;
} kmctx;

static double dist(const kmctx *c, size_t a, size_t b)
{
    if (c->cache)
        return c->cache[a * c->n + b];
    return strata_simdist_ms(c->d, (uint32_t)a, (uint32_t)b);
}

/* Nearest and second-nearest medoid of every node (the second is infinite
 * when k is 1: removing the only medoid sends every node to the candidate). */
static void assign_all(const kmctx *c, const uint32_t *med, uint32_t k, uint32_t *near, double *dn,
                       double *ds)
{
    for (size_t o = 0; o < c->n; o++) {
        double best = HUGE_VAL, second = HUGE_VAL;
        uint32_t bi = 0;
        for (uint32_t i = 0; i < k; i++) {
            double v = dist(c, o, med[i]);
            if (v < best) {
                second = best;
                best = v;
                bi = i;
            } else if (v < second) {
                second = v;
            }
        }
        near[o] = bi;
        dn[o] = best;
        ds[o] = second;
    }
}

int strata_kmedoids_run(const strata_simdist *d, size_t n, uint32_t k, uint32_t max_iter,
                        uint32_t *medoids, int32_t *assign, strata_kmedoids_result *res)
{
    memset(res, 0, sizeof *res);
    if (n == 0 || k == 0 || n > UINT32_MAX)
        return STRATA_ERR_INVAL;
    if (k > n)
        k = (uint32_t)n;
    if (max_iter == 0)
        max_iter = STRATA_KMEDOIDS_DEFAULT_MAX_ITER;
    kmctx c = {d, NULL, n};
    uint32_t *near = malloc(n * sizeof *near);
    double *dn = malloc(n * sizeof *dn), *ds = malloc(n * sizeof *ds);
    double *delta = malloc(k * sizeof *delta);
    uint8_t *is_med = calloc(n, 1);
    if (!near || !dn || !ds || !delta || !is_med)
        goto fail;
    if (n <= STRATA_KMEDOIDS_CACHE_MAX) {
        c.cache = malloc(n * n * sizeof *c.cache);
        if (c.cache) {
            for (size_t a = 0; a < n; a++)
                for (size_t b = 0; b < n; b++)
                    c.cache[a * n + b] = (float)strata_simdist_ms(d, (uint32_t)a, (uint32_t)b);
        }
    }

    /* BUILD. */
    size_t first = 0;
    double first_sum = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += dist(&c, i, j);
        if (i == 0 || s < first_sum) {
            first = i;
            first_sum = s;
        }
    }
    medoids[0] = (uint32_t)first;
    is_med[first] = 1;
    for (size_t j = 0; j < n; j++)
        dn[j] = dist(&c, j, first);
    for (uint32_t m = 1; m < k; m++) {
        size_t best = SIZE_MAX;
        double best_gain = -1;
        for (size_t cand = 0; cand < n; cand++) {
            if (is_med[cand])
                continue;
            double gain = 0;
            for (size_t j = 0; j < n; j++) {
                double v = dist(&c, j, cand);
                if (v < dn[j])
                    gain += dn[j] - v;
            }
            if (gain > best_gain) {
                best_gain = gain;
                best = cand;
            }
        }
        medoids[m] = (uint32_t)best;
        is_med[best] = 1;
        for (size_t j = 0; j < n; j++) {
            double v = dist(&c, j, best);
            if (v < dn[j])
                dn[j] = v;
        }
    }
    assign_all(&c, medoids, k, near, dn, ds);
    double cost = 0;
    for (size_t o = 0; o < n; o++)
        cost += dn[o];
    res->build_cost_ms = cost;

    /* SWAP. */
    res->converged = 0;
    while (res->swaps < max_iter) {
        double best_delta = 0;
        uint32_t best_i = UINT32_MAX;
        size_t best_c = SIZE_MAX;
        for (size_t cand = 0; cand < n; cand++) {
            if (is_med[cand])
                continue;
            double shared = 0;
            for (uint32_t i = 0; i < k; i++)
                delta[i] = 0;
            for (size_t o = 0; o < n; o++) {
                double doc = dist(&c, o, cand);
                uint32_t m = near[o];
                double removal = (doc < ds[o] ? doc : ds[o]) - dn[o];
                if (doc < dn[o]) {
                    shared += doc - dn[o];
                    delta[m] += removal - (doc - dn[o]);
                } else {
                    delta[m] += removal;
                }
            }
            for (uint32_t i = 0; i < k; i++) {
                double v = delta[i] + shared;
                if (v < best_delta) {
                    best_delta = v;
                    best_i = i;
                    best_c = cand;
                }
            }
        }
        if (best_i == UINT32_MAX || best_delta > -1e-9 * (cost > 1 ? cost : 1)) {
            res->converged = 1;
            break;
        }
        is_med[medoids[best_i]] = 0;
        medoids[best_i] = (uint32_t)best_c;
        is_med[best_c] = 1;
        assign_all(&c, medoids, k, near, dn, ds);
        cost = 0;
        for (size_t o = 0; o < n; o++)
            cost += dn[o];
        res->swaps++;
    }
    for (size_t o = 0; o < n; o++)
        assign[o] = (int32_t)near[o];
    res->k = k;
    res->cost_ms = cost;
    res->mean_ms = cost / (double)n;
    free(c.cache);
    free(near);
    free(dn);
    free(ds);
    free(delta);
    free(is_med);
    return 0;

fail:
    free(near);
    free(dn);
    free(ds);
    free(delta);
    free(is_med);
    return STRATA_ERR_NOMEM;
}
