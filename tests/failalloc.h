/*
 * A failing allocator for allocation-failure tests (STYLE "Tests"): count
 * a scenario's allocations with fail_at = -1, then run it again failing
 * each one in turn; live counts the blocks still held, so a leak shows.
 */
#ifndef STRATA_FAILALLOC_H
#define STRATA_FAILALLOC_H

#include "strata/common.h"

#include <stdio.h>
#include <stdlib.h>

struct failing_alloc {
    long calls;   /* allocations so far */
    long fail_at; /* the one to fail, -1 for none */
    long live;    /* outstanding blocks */
};

static inline void *fa_alloc(void *user, size_t size)
{
    struct failing_alloc *fa = user;
    if (fa->calls++ == fa->fail_at)
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        fa->live++;
    return p;
}

static inline void *fa_realloc(void *user, void *ptr, size_t size)
{
    struct failing_alloc *fa = user;
    if (fa->calls++ == fa->fail_at)
        return NULL;
    void *p = realloc(ptr, size ? size : 1);
    if (p && !ptr)
        fa->live++;
    return p;
}

static inline void fa_free(void *user, void *ptr)
{
    struct failing_alloc *fa = user;
    if (ptr)
        fa->live--;
    free(ptr);
}

/* The allocator over fa. */
static inline strata_alloc fa_allocator(struct failing_alloc *fa)
{
    strata_alloc a = {fa_alloc, fa_realloc, fa_free, fa};
    return a;
}

/* Runs scenario (which returns the calls that failed with NOMEM, or -1 on
 * any other problem) once to count its allocations (it must then see no
 * failure and leak nothing), then once failing each allocation in turn.
 * Returns the number of runs that went wrong (each is printed) and the
 * allocations counted in *total. */
static inline long fa_each(int (*scenario)(const strata_alloc *a), long *total)
{
    struct failing_alloc fa = {0, -1, 0};
    strata_alloc a = fa_allocator(&fa);
    long bad = scenario(&a) != 0 || fa.live != 0;
    *total = fa.calls;
    for (long i = 0; i < *total; i++) {
        fa = (struct failing_alloc){0, i, 0};
        int r = scenario(&a);
        if (r < 0 || fa.live != 0) {
            fprintf(stderr, "allocation %ld of %ld failed: result %d, %ld blocks leaked\n", i,
                    *total, r, fa.live);
            bad++;
        }
    }
    return bad;
}

#endif
