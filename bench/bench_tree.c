/*
 * Benchmark of the bottom-level multi-tree: build, add and remove times and
 * the shape of the resulting trees for 1,000 to 100,000 nodes.
 *
 * Stream 1000 kbit/s, k = 4; the source uploads 20 Mbit/s (20 slots per
 * tree). Upload mix: 50% at 0.5x the rate (2 slots), 30% at 1x (4), 15% at
 * 3x (12), 5% at 10x (40). Bulk build is add_detached for everyone plus
 * rebuild, the median of five runs. Incremental add is one add per node
 * into an empty tree; remove takes out a random 10% of the bulk-built tree;
 * reparent moves a random 10% in a random substream. Depths and counts
 * describe the bulk-built tree (and, after the slash, the incrementally
 * built one). Prints figures only.
 */
#include "strata/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { K = 4, RATE_KBPS = 1000, SOURCE_KBPS = 20000, RUNS = 5 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static strata_mtree *new_tree(void)
{
    strata_mtree_config cfg = {K, RATE_KBPS, SOURCE_KBPS, 0};
    return strata_mtree_new(NULL, &cfg);
}

static uint32_t draw_upload(strata_rng *r)
{
    uint64_t x = strata_rng_below(r, 100);
    if (x < 50)
        return RATE_KBPS / 2;
    if (x < 80)
        return RATE_KBPS;
    if (x < 95)
        return 3 * RATE_KBPS;
    return 10 * RATE_KBPS;
}

/* Ids are spread over 64 bits like real node ids. */
static strata_node_id node_id(size_t i)
{
    uint64_t x = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
    return (strata_node_id){(x == 0 || x == UINT64_MAX) ? 1 : x};
}

static void drain(strata_mtree *t)
{
    strata_node_id buf[1024];
    while (strata_mtree_take_dirty(t, buf, 1024) == 1024)
        ;
}

int main(void)
{
    static const size_t sizes[] = {1000, 10000, 100000};
    printf("multi-tree: k=%d, stream %d kbit/s, source %d kbit/s, "
           "uploads 50%% 0.5x / 30%% 1x / 15%% 3x / 5%% 10x\n",
           K, RATE_KBPS, SOURCE_KBPS);
    printf("%8s %10s %12s %12s %14s %15s %17s %10s %10s\n", "nodes", "bulk ms", "add us/node",
           "rm us/node", "reparent us/op", "max depth b/i", "mean depth b/i", "detached",
           "src kids");
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        uint32_t *up = malloc(n * sizeof *up);
        if (!up)
            return 1;
        strata_rng r;
        strata_rng_seed(&r, 42 + n);
        for (size_t i = 0; i < n; i++)
            up[i] = draw_upload(&r);

        double bulk[RUNS], add[RUNS];
        strata_mtree *kept = NULL;
        for (int run = 0; run < RUNS; run++) {
            strata_mtree *t = new_tree();
            double t0 = now_ms();
            for (size_t i = 0; i < n; i++)
                strata_mtree_add_detached(t, node_id(i), up[i]);
            strata_mtree_rebuild(t);
            bulk[run] = now_ms() - t0;
            if (run == 0)
                kept = t;
            else
                strata_mtree_del(t);
        }
        strata_mtree *inc = NULL;
        for (int run = 0; run < RUNS; run++) {
            strata_mtree *t = new_tree();
            double t0 = now_ms();
            for (size_t i = 0; i < n; i++)
                strata_mtree_add(t, node_id(i), up[i]);
            add[run] = (now_ms() - t0) * 1e3 / (double)n;
            if (run == 0)
                inc = t;
            else
                strata_mtree_del(t);
        }

        strata_mtree_stats sb, si_;
        strata_mtree_get_stats(kept, &sb);
        strata_mtree_get_stats(inc, &si_);

        /* Remove a random 10% of the bulk-built tree, distinct nodes. */
        drain(kept);
        size_t nrm = n / 10;
        size_t *order = malloc(n * sizeof *order);
        if (!order)
            return 1;
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        for (size_t i = 0; i < nrm; i++) {
            size_t j = i + (size_t)strata_rng_below(&r, n - i);
            size_t x = order[i];
            order[i] = order[j];
            order[j] = x;
        }
        double t0 = now_ms();
        for (size_t j = 0; j < nrm; j++)
            strata_mtree_remove(kept, node_id(order[j]));
        double rm = (now_ms() - t0) * 1e3 / (double)nrm;

        /* Reparent a random 10% in a random substream. */
        t0 = now_ms();
        for (size_t j = 0; j < nrm; j++)
            strata_mtree_reparent(inc, node_id((size_t)strata_rng_below(&r, n)),
                                  (uint8_t)strata_rng_below(&r, K));
        double rp = (now_ms() - t0) * 1e3 / (double)nrm;

        char maxd[32], meand[32], det[32];
        snprintf(maxd, sizeof maxd, "%d/%d", sb.max_depth, si_.max_depth);
        snprintf(meand, sizeof meand, "%.2f/%.2f", sb.mean_depth, si_.mean_depth);
        snprintf(det, sizeof det, "%zu/%zu", sb.detached_pairs, si_.detached_pairs);
        printf("%8zu %10.2f %12.3f %12.3f %14.3f %15s %17s %10s %10zu\n", n, median(bulk, RUNS),
               median(add, RUNS), rm, rp, maxd, meand, det, sb.source_children);
        strata_mtree_del(kept);
        strata_mtree_del(inc);
        free(order);
        free(up);
    }
    return 0;
}
