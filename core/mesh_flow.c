/*
 * Vertex-disjoint paths and Even's connectivity test (see mesh_flow.h for
 * the model). Flow nodes are numbered 2v (v_in) and 2v + 1 (v_out).
 */
#include "mesh_flow.h"

#include <string.h>

#define NONE UINT32_MAX
#define NOSLOT 0xffu /* no link: strides are at most 255 */

static inline uint32_t fn_in(uint32_t v)
{
    return 2 * v;
}
static inline uint32_t fn_out(uint32_t v)
{
    return 2 * v + 1;
}
static inline int is_out(uint32_t fn)
{
    return (int)(fn & 1u);
}

void strata_mesh_flow_init(strata_mesh_flow *f, const strata_alloc *a)
{
    memset(f, 0, sizeof *f);
    f->alloc = a;
    f->x = f->t = NONE;
}

void strata_mesh_flow_free(strata_mesh_flow *f)
{
    const strata_alloc *a = f->alloc;
    strata_mem_free(a, f->inflow);
    strata_mem_free(a, f->through);
    strata_mem_free(a, f->sunk);
    strata_mem_free(a, f->seen);
    strata_mem_free(a, f->prev);
    strata_mem_free(a, f->pslot);
    strata_mem_free(a, f->queue);
    strata_mem_free(a, f->touched);
    strata_mem_free(a, f->tstamp);
    strata_mem_free(a, f->tmark);
    strata_mesh_flow_init(f, a);
}

int strata_mesh_flow_grow(const strata_alloc *a, void **p, size_t old, size_t n, size_t size,
                          int fill)
{
    void *q = strata_mem_realloc(a, *p, n * size);
    if (!q)
        return STRATA_ERR_NOMEM;
    memset((uint8_t *)q + old * size, fill, (n - old) * size);
    *p = q;
    return 0;
}

int strata_mesh_flow_reserve(strata_mesh_flow *f, uint32_t n)
{
    if (n <= f->cap)
        return 0;
    size_t oc = f->cap, nc = n;
    if (strata_mesh_flow_grow(f->alloc, (void **)&f->inflow, oc, nc, 1, NOSLOT) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->through, oc, nc, 1, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->sunk, oc, nc, 1, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->seen, 2 * oc, 2 * nc, sizeof *f->seen, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->prev, 2 * oc, 2 * nc, sizeof *f->prev, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->pslot, 2 * oc, 2 * nc, 1, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->queue, 2 * oc, 2 * nc, sizeof *f->queue, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->touched, oc, nc, sizeof *f->touched, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->tstamp, oc, nc, sizeof *f->tstamp, 0) ||
        strata_mesh_flow_grow(f->alloc, (void **)&f->tmark, oc, nc, sizeof *f->tmark, 0))
        return STRATA_ERR_NOMEM;
    f->cap = n;
    return 0;
}

/* Undoes the previous query's flow, so that every query starts from zero. */
static void reset_flow(strata_mesh_flow *f)
{
    for (uint32_t i = 0; i < f->ntouched; i++) {
        uint32_t v = f->touched[i];
        f->inflow[v] = NOSLOT;
        f->through[v] = 0;
        f->sunk[v] = 0;
    }
    f->ntouched = 0;
    f->xt = 0;
    if (++f->query == 0) {
        memset(f->tstamp, 0, (size_t)f->cap * sizeof *f->tstamp);
        f->query = 1;
    }
}

static void touch(strata_mesh_flow *f, uint32_t v)
{
    if (f->tstamp[v] != f->query) {
        f->tstamp[v] = f->query;
        f->touched[f->ntouched++] = v;
    }
}

void strata_mesh_flow_begin(strata_mesh_flow *f, const strata_mesh_graph *g)
{
    f->g = g;
    reset_flow(f);
    f->x = f->t = NONE;
}

/* Whether the link v -> w carries a path: w's path enters from v (every
 * vertex but the pair's target has at most one path in), or, for the
 * target, the path is the link x-t itself (any other vertex with a path
 * to t has its own arc used and is never expanded again). */
static int carries(const strata_mesh_flow *f, uint32_t v, uint32_t w)
{
    if (w == f->t)
        return v == f->x && f->xt;
    uint8_t s = f->inflow[w];
    return s != NOSLOT && f->g->adj[(size_t)w * f->g->stride + s] == v;
}

/* Marks fn reached from p over slot s; returns 1 if it is a sink. */
static int visit(strata_mesh_flow *f, uint32_t fn, uint32_t p, uint8_t s, uint32_t *qt)
{
    f->seen[fn] = f->stamp;
    f->prev[fn] = p;
    f->pslot[fn] = s;
    f->queue[(*qt)++] = fn;
    uint32_t v = fn >> 1;
    if (f->t != NONE)
        return !is_out(fn) && v == f->t;
    return is_out(fn) && f->tmark[v] == f->tgen && !f->sunk[v] && v != f->x;
}

static void next_stamp(strata_mesh_flow *f)
{
    if (++f->stamp == 0) {
        memset(f->seen, 0, (size_t)f->cap * 2 * sizeof *f->seen);
        f->stamp = 1;
    }
}

/* One breadth-first search for an augmenting path; returns the sink's flow
 * node, or NONE when there is none (the seen marks then hold the source
 * side of a minimum cut). */
static uint32_t search(strata_mesh_flow *f)
{
    const strata_mesh_graph *g = f->g;
    const uint32_t x = f->x;
    uint32_t qh = 0, qt = 0;
    next_stamp(f);
    f->seen[fn_in(x)] = f->stamp; /* paths never come back through x */
    f->seen[fn_out(x)] = f->stamp;
    f->queue[qt++] = fn_out(x);
    while (qh < qt) {
        uint32_t fn = f->queue[qh++], v = fn >> 1;
        const uint32_t *a = &g->adj[(size_t)v * g->stride];
        if (is_out(fn)) {
            /* Links leaving v that carry no path; v's own arc backwards. */
            for (uint8_t i = 0; i < g->deg[v]; i++) {
                uint32_t w = a[i];
                if (!g->in[w] || f->seen[fn_in(w)] == f->stamp || carries(f, v, w))
                    continue;
                if (visit(f, fn_in(w), fn, i, &qt))
                    return fn_in(w);
            }
            if (f->through[v] && f->seen[fn_in(v)] != f->stamp &&
                visit(f, fn_in(v), fn, NOSLOT, &qt))
                return fn_in(v);
        } else {
            /* v's own arc if free; the link its path enters by, backwards. */
            if (!f->through[v] && f->seen[fn_out(v)] != f->stamp &&
                visit(f, fn_out(v), fn, NOSLOT, &qt))
                return fn_out(v);
            uint8_t s = f->inflow[v];
            if (s != NOSLOT && f->seen[fn_out(a[s])] != f->stamp &&
                visit(f, fn_out(a[s]), fn, s, &qt))
                return fn_out(a[s]);
        }
    }
    return NONE;
}

/* The slot of u in v's list. */
static uint8_t slot_of(const strata_mesh_graph *g, uint32_t v, uint32_t u)
{
    const uint32_t *a = &g->adj[(size_t)v * g->stride];
    uint8_t i = 0;
    while (i < g->deg[v] && a[i] != u)
        i++;
    return i;
}

/* Pushes one unit along the path the search found to sink. Walking back
 * from the sink, a vertex's old way in is cancelled before its new one is
 * recorded, so inflow ends right. */
static void augment(strata_mesh_flow *f, uint32_t sink)
{
    uint32_t cur = sink, start = fn_out(f->x);
    if (f->t == NONE) {
        f->sunk[sink >> 1] = 1;
        touch(f, sink >> 1);
    }
    while (cur != start) {
        uint32_t p = f->prev[cur], v = cur >> 1, pv = p >> 1;
        if (v == pv) {
            f->through[v] = (uint8_t)is_out(cur); /* forward: in -> out */
        } else if (is_out(p)) {
            /* the link pv -> v */
            if (v == f->t)
                f->xt |= pv == f->x;
            else
                f->inflow[v] = slot_of(f->g, v, pv);
        } else {
            f->inflow[pv] = NOSLOT; /* cancels v -> pv */
            touch(f, pv);
        }
        touch(f, v);
        cur = p;
    }
}

static unsigned run(strata_mesh_flow *f, unsigned limit)
{
    unsigned flow = 0;
    while (flow < limit) {
        uint32_t sink = search(f);
        if (sink == NONE)
            break;
        augment(f, sink);
        flow++;
    }
    return flow;
}

unsigned strata_mesh_flow_pair(strata_mesh_flow *f, uint32_t x, uint32_t t, unsigned limit)
{
    reset_flow(f);
    f->x = x;
    f->t = t;
    return run(f, limit);
}

/* Paths from x to distinct vertices of T (tmark == tgen), up to limit. */
static unsigned fan(strata_mesh_flow *f, uint32_t x, unsigned limit)
{
    reset_flow(f);
    f->x = x;
    f->t = NONE;
    return run(f, limit);
}

static void new_set(strata_mesh_flow *f)
{
    if (++f->tgen == 0) {
        memset(f->tmark, 0, (size_t)f->cap * sizeof *f->tmark);
        f->tgen = 1;
    }
}

int strata_mesh_flow_check(strata_mesh_flow *f, const uint32_t *w, size_t nw, unsigned target)
{
    /* Even (1975), for a vertex set: take a separator S of fewer than
     * target vertices between two vertices of W, and let w_i be the first
     * vertex of W outside S (i < target), on side A. Either a vertex among
     * the first target is on another side (a pair query finds it) or the
     * first w_j on another side has every earlier one in A or S, and then
     * the fan from w_j to w_0..w_{j-1} crosses S once per path. */
    size_t k = nw < target ? nw : target;
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k; j++)
            if (strata_mesh_flow_pair(f, w[i], w[j], target) < target)
                return 0;
    new_set(f);
    for (size_t i = 0; i < k; i++)
        f->tmark[w[i]] = f->tgen;
    for (size_t j = k; j < nw; j++) {
        if (fan(f, w[j], target) < target)
            return 0;
        f->tmark[w[j]] = f->tgen;
    }
    return 1;
}

int strata_mesh_flow_side(const strata_mesh_flow *f, uint32_t v)
{
    if (v == f->x || f->seen[fn_out(v)] == f->stamp)
        return STRATA_MESH_FLOW_NEAR;
    if (f->seen[fn_in(v)] == f->stamp)
        return STRATA_MESH_FLOW_CUT;
    return STRATA_MESH_FLOW_FAR;
}

int strata_mesh_flow_open_sink(const strata_mesh_flow *f, uint32_t v)
{
    if (v == f->x)
        return 0;
    if (f->t != NONE)
        return v == f->t;
    return f->tmark[v] == f->tgen && !f->sunk[v] && !f->through[v];
}
