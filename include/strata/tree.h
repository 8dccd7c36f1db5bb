/*
 * Bottom-level multi-tree (SPEC C7).
 *
 * The stream is split into k substreams; substream i carries the packets
 * whose sequence number is i mod k, at rate_kbps / k each. Every node gets
 * every substream: it has one parent per substream (another node or the
 * source). Each node is interior (may have children) in at most one
 * substream tree and a leaf in the others, and never has more children than
 * its upload capacity allows: slots = floor(upload_kbps * k / rate_kbps),
 * capped at STRATA_WIRE_MAX_CHILDREN.
 *
 * Construction is greedy, one tree at a time, highest spare capacity first:
 * nodes with slots are spread over the trees so that each tree gets a
 * similar total capacity, then each tree is filled breadth-first from the
 * source, interior nodes first (highest capacity nearest the source, which
 * keeps trees shallow), leaves last. Nodes with too little capacity are fed
 * by the source while it has slots; a node no one can feed stays detached
 * (parent none) until capacity appears, and is counted.
 *
 * The source's copies, floor(source_upload_kbps * k / rate_kbps), follow
 * need: a tree of n nodes needs max(1, n - slots of its interior nodes)
 * source slots (capped at max_children). The even split stays while it
 * covers every need (large regions); otherwise, as in a region of a few
 * members where some tree has no interior node, each tree gets its need
 * first and the rest goes to the smallest shares. Guarantee: whenever the
 * copies cover the sum of the needs and no need exceeds max_children, no
 * (node, substream) pair is detached, except where reparent told a node to
 * avoid its parent.
 *
 * The structure is incremental: add, remove and reparent change only what
 * they must, and record which nodes' parent or children changed ("dirty")
 * so the DCM sends new instructions to just those nodes.
 */
#ifndef STRATA_TREE_H
#define STRATA_TREE_H

#include "strata/common.h"

typedef struct strata_mtree strata_mtree;

typedef struct strata_mtree_config {
    uint8_t k;                   /* trees, 1..STRATA_WIRE_MAX_TREES (k + n in an EC cluster) */
    uint32_t rate_kbps;          /* whole stream rate, > 0 */
    uint32_t source_upload_kbps; /* 0 = source feeds up to max children per tree */
    uint32_t max_children;       /* per node per tree, 0 = STRATA_WIRE_MAX_CHILDREN */
} strata_mtree_config;

/* Parent value meaning "the source" and "none" in queries. */
#define STRATA_MTREE_SOURCE ((strata_node_id){UINT64_MAX})
#define STRATA_MTREE_NONE ((strata_node_id){0})

/* Creates an empty multi-tree; NULL on bad config or no memory. */
strata_mtree *strata_mtree_new(const strata_alloc *a, const strata_mtree_config *cfg);
void strata_mtree_del(strata_mtree *t);

/* Changes the stream rate (slots are recomputed; a full rebuild follows). */
int strata_mtree_set_rate(strata_mtree *t, uint32_t rate_kbps);

/* Adds a node and attaches it to every tree; returns 0, STRATA_ERR_EXISTS,
 * STRATA_ERR_INVAL (zero or reserved id) or STRATA_ERR_NOMEM. */
int strata_mtree_add(strata_mtree *t, strata_node_id id, uint32_t upload_kbps);

/* Adds many nodes without attaching them, then builds all trees from
 * scratch; used for bulk construction and by rebuild. add_detached keeps
 * the source's shares current (a shrinking share moves source children
 * elsewhere, as add does) but attaches nobody until rebuild. */
int strata_mtree_add_detached(strata_mtree *t, strata_node_id id, uint32_t upload_kbps);
int strata_mtree_rebuild(strata_mtree *t);
/* Restoring a topology reported by its members (a control center that
 * restarted, SPEC C14), with no state transfer. add_restored adds a node
 * detached, as add_detached does, but interior in tree `interior` (the one
 * it had children in; -1 or out of range: chosen as add would). adopt
 * attaches the detached pair (id, s) under parent (a node or
 * STRATA_MTREE_SOURCE) when that parent is connected in s, interior there
 * and has a free slot: parents must be adopted before their children.
 * Returns 0, STRATA_ERR_NOTFOUND (unknown id or parent, or s >= k),
 * STRATA_ERR_UNEXPECTED (the pair is connected, or the parent is not
 * interior and connected in s) or STRATA_ERR_FULL (no free slot). settle
 * then gives the source its shares and attaches every pair still detached
 * as add would. Together they rebuild exactly the trees the reports
 * describe when those satisfy the invariants, and the nearest valid trees
 * otherwise. */
int strata_mtree_add_restored(strata_mtree *t, strata_node_id id, uint32_t upload_kbps,
                              int interior);
int strata_mtree_adopt(strata_mtree *t, strata_node_id id, uint8_t s, strata_node_id parent);
void strata_mtree_settle(strata_mtree *t);

/* Gives the source another upload budget in place, without a rebuild: its
 * slots per tree follow (the source shares); where a tree's share shrank,
 * the cheapest of the source's children there move down the tree, and
 * where it grew, detached pairs attach under it. Only the nodes that moved
 * become dirty. Allocates nothing. */
void strata_mtree_set_source_upload(strata_mtree *t, uint32_t source_upload_kbps);
/* Marks tree s idle (it carries nothing: a parity tree nobody feeds, as
 * the source sends no parity) or active again. An idle tree takes none of
 * the source's copies, and its pairs are neither attached nor counted as
 * detached; the source's slots move to the other trees (or back) as the
 * shares say, only the nodes that moved become dirty. Allocates nothing. */
void strata_mtree_set_idle(strata_mtree *t, uint8_t s, int idle);

/* Gives node id another upload in place (a control center checking
 * declared capacity against delivered, see dcm.c "Capacity"): its slots
 * follow. With fewer slots than children, the cheapest children (leaves of
 * the tree first, then the smallest subtrees) move elsewhere in the tree,
 * and with no slot left it becomes a pure leaf; a pure leaf given slots
 * becomes interior, in place, in the tree with the least interior capacity.
 * Nothing else moves; the moved nodes become dirty. Allocates nothing.
 * Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_mtree_set_upload(strata_mtree *t, strata_node_id id, uint32_t upload_kbps);

/* Removes a node; its children in its interior tree are re-attached
 * elsewhere (never under their own descendants). STRATA_ERR_NOTFOUND. */
int strata_mtree_remove(strata_mtree *t, strata_node_id id);

/* Moves id to a new parent in substream s, never back to its current parent
 * (which stopped delivering); the old parent is avoided for id in s until
 * the next rebuild. Returns 0, STRATA_ERR_NOTFOUND or STRATA_ERR_INVAL. */
int strata_mtree_reparent(strata_mtree *t, strata_node_id id, uint8_t s);

/* Queries. parent returns STRATA_MTREE_SOURCE, STRATA_MTREE_NONE (detached
 * or unknown) or a node id. children writes up to max ids and returns the
 * total number of children (which may exceed max). For the source pass
 * STRATA_MTREE_SOURCE as id. interior_tree returns the substream in which
 * id may have children, or -1 for a pure leaf, or STRATA_ERR_NOTFOUND. */
strata_node_id strata_mtree_parent(const strata_mtree *t, strata_node_id id, uint8_t s);
size_t strata_mtree_children(const strata_mtree *t, strata_node_id id, uint8_t s,
                             strata_node_id *out, size_t max);
int strata_mtree_interior_tree(const strata_mtree *t, strata_node_id id);
int strata_mtree_depth(const strata_mtree *t, strata_node_id id,
                       uint8_t s); /* source's children: 1 */
size_t strata_mtree_count(const strata_mtree *t);
/* node's parents in every tree at once (one lookup of id): out[s] as
 * strata_mtree_parent gives it. Returns k, or 0 (out untouched) if id is
 * not in the trees or max < k. */
size_t strata_mtree_parents(const strata_mtree *t, strata_node_id id, strata_node_id *out,
                            size_t max);
/* (node, substream) pairs with no parent, idle trees apart */
size_t strata_mtree_detached(const strata_mtree *t);
/* The source's slots in tree s as the shares give them now (0 for s >= k). */
uint32_t strata_mtree_source_slots(const strata_mtree *t, uint8_t s);
/* Source copies that would leave no pair detached: the sum of every tree's
 * need (see "Source shares" in tree.c), for a control center sizing what
 * the source gives a small region. */
uint32_t strata_mtree_source_need(const strata_mtree *t);
uint8_t strata_mtree_k(const strata_mtree *t);

/* Takes up to max ids of nodes whose instructions changed since the last
 * call (the source appears as STRATA_MTREE_SOURCE) and clears them from the
 * dirty set; returns how many were written. */
size_t strata_mtree_take_dirty(strata_mtree *t, strata_node_id *out, size_t max);
/* The same, and subs[i] (if subs is not NULL) gets the trees in which
 * out[i]'s parent or children changed, bit s for tree s: only those
 * instructions need sending again. A node new to the trees has every bit
 * set (bits at k and above mean nothing). */
size_t strata_mtree_take_dirty_subs(strata_mtree *t, strata_node_id *out, uint32_t *subs,
                                    size_t max);

/* Checks every invariant (each node has one parent per tree or is counted
 * detached, no cycles, no capacity exceeded, interior in at most one tree,
 * parent/child lists agree). Returns 0 or STRATA_ERR_INVAL with a reason in
 * why (may be NULL). Linear time; for tests. */
int strata_mtree_check(const strata_mtree *t, char *why, size_t whylen);

/* Summary figures for status lines and benchmarks. */
typedef struct strata_mtree_stats {
    size_t nodes;
    size_t detached_pairs;
    size_t source_children; /* summed over trees */
    int max_depth;
    double mean_depth;
} strata_mtree_stats;
void strata_mtree_get_stats(const strata_mtree *t, strata_mtree_stats *st);

#endif
