/*
 * Vertex connectivity of an undirected graph by Menger's theorem: counting
 * internally vertex-disjoint paths with a unit-capacity max-flow, and
 * Even's test of "every pair of a vertex set W is joined by t disjoint
 * paths" with |W| + t(t-1)/2 flows instead of one per pair. The mesh
 * (mesh.c) uses it to know whether its target connectivity holds, to check
 * only the vertices a change touched, and to find where a link must go
 * when it does not hold.
 *
 * The graph is a view of the caller's arrays: vertex v has deg[v]
 * neighbours in adj[v * stride ...]; only vertices with in[v] != 0 belong
 * to it (links to others are ignored). Links must be symmetric.
 *
 * Flow network (implicit, never built): every vertex v is split into v_in
 * and v_out joined by an arc of capacity 1 (the vertex is used by at most
 * one path); a link u-w is the arcs u_out -> w_in and w_out -> u_in of
 * capacity 1. Paths start at x_out. A pair query ends at t_in (so a link
 * x-t is one path of its own); a fan query ends at v_out for any v of a
 * set T, each v once (a path to v and v as an endpoint share v's arc).
 * Augmenting paths are found breadth-first, one per path, so a query costs
 * O(limit * (V + E)) at worst; it stops at limit, and a search stops at
 * the first sink it reaches. A vertex other than the source and a pair's
 * target carries at most one path, so the flow is stored per vertex: the
 * slot of the link its path enters by, and whether its arc is used; no
 * per-link table is built.
 *
 * After a query that fell short of its limit, the state describes a
 * minimum cut: the vertices reachable from x in the residual network (the
 * source side), the saturated ones (the cut) and the rest. A link from a
 * source-side vertex to an open sink (the pair's t, or a vertex of T on no
 * path) raises that query's flow by exactly one.
 *
 * The caller owns the struct; reserve allocates, nothing else does.
 */
#ifndef STRATA_MESH_FLOW_H
#define STRATA_MESH_FLOW_H

#include "strata/common.h"

typedef struct strata_mesh_graph {
    uint32_t n;          /* vertex indexes are below n */
    uint32_t stride;     /* adjacency slots per vertex, <= 255 */
    const uint32_t *adj; /* [v * stride + i] for i < deg[v] */
    const uint8_t *deg;
    const uint8_t *in; /* in[v] != 0: v belongs to the graph */
} strata_mesh_graph;

typedef struct strata_mesh_flow {
    const strata_alloc *alloc;
    const strata_mesh_graph *g; /* the view given to begin */
    uint32_t cap;               /* reserved vertices */
    uint8_t *inflow;            /* slot in v's list of the link its path enters by */
    uint8_t *through;           /* v's arc carries a path */
    uint8_t *sunk;              /* a fan path ends at v */
    uint32_t *seen;             /* [2v + side]: search that reached it */
    uint32_t *prev;             /* [2v + side]: where the search came from */
    uint8_t *pslot;             /* [2v + side]: the slot of the link used */
    uint32_t *queue;            /* 2 * cap */
    uint32_t *touched;          /* vertices whose flow state the query changed */
    uint32_t *tstamp;           /* [v]: query that touched it */
    uint32_t *tmark;            /* [v] == tgen: v is in the fan's T */
    uint32_t ntouched, stamp, query, tgen;
    uint32_t x, t; /* the last query: source, and pair target (UINT32_MAX for a fan) */
    int xt;        /* a path uses the link x-t itself */
} strata_mesh_flow;

/* Sides of a vertex after a query that fell short. */
enum {
    STRATA_MESH_FLOW_NEAR = 0, /* reachable from the query's source */
    STRATA_MESH_FLOW_CUT = 1,  /* a vertex of the minimum cut */
    STRATA_MESH_FLOW_FAR = 2,  /* beyond the cut */
};

void strata_mesh_flow_init(strata_mesh_flow *f, const strata_alloc *a);
void strata_mesh_flow_free(strata_mesh_flow *f);
/* Makes room for vertex indexes below n. Returns 0 or STRATA_ERR_NOMEM
 * (the state is as before, still usable for the old size). */
int strata_mesh_flow_reserve(strata_mesh_flow *f, uint32_t n);

/* Grows the array *p from old to n elements of size bytes, the new ones
 * set to the byte fill (the mesh's tables grow the same way). Returns 0 or
 * STRATA_ERR_NOMEM (*p unchanged). */
int strata_mesh_flow_grow(const strata_alloc *a, void **p, size_t old, size_t n, size_t size,
                          int fill);

/* Takes the graph view for the queries that follow (borrowed until the
 * next begin); call again whenever the graph changed. g->n must fit what
 * was reserved, g->stride be at most 255. */
void strata_mesh_flow_begin(strata_mesh_flow *f, const strata_mesh_graph *g);

/* Internally disjoint x-t paths (a link x-t counts as one), up to limit. */
unsigned strata_mesh_flow_pair(strata_mesh_flow *f, uint32_t x, uint32_t t, unsigned limit);

/* Even's test: 1 if every two vertices of w[0..nw) are joined by at least
 * target internally disjoint paths in the graph, else 0, leaving the state
 * of the query that failed for side and open_sink. The vertices of w must
 * be distinct members of the graph. Cost: min(target, nw)^2 / 2 pair
 * queries and nw - target fan queries. When w holds every vertex and there
 * are more than target of them, 1 means the graph is target-connected. */
int strata_mesh_flow_check(strata_mesh_flow *f, const uint32_t *w, size_t nw, unsigned target);

/* After a query that fell short: v's side of the minimum cut, and whether
 * a link to v from a NEAR vertex adds a path (v is the pair's target, or a
 * vertex of the fan's T that no path uses). */
int strata_mesh_flow_side(const strata_mesh_flow *f, uint32_t v);
int strata_mesh_flow_open_sink(const strata_mesh_flow *f, uint32_t v);
/* The source of the last query. */
static inline uint32_t strata_mesh_flow_source(const strata_mesh_flow *f)
{
    return f->x;
}

#endif
