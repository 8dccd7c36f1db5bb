/*
 * Bottom-level multi-tree (SPEC C7): the model behind strata/tree.h.
 *
 * Storage. Nodes live in arrays indexed by a dense uint32 index (freed
 * indexes are reused through a free list); an id -> index hash map finds
 * them. Per node: capacity ("slots" per tree), the one tree in which it is
 * interior, and the head of its child list in that tree. Per (node, tree):
 * parent index (a node, SRC or NIL), depth, and the links of two intrusive
 * doubly linked lists: its parent's child list, and one index list (below).
 * Because a node has children in its interior tree only, one child list per
 * node suffices; the source has one per tree. No tree operation allocates:
 * every array is sized when a node is added, so only add, add_detached,
 * rebuild and set_rate can fail with STRATA_ERR_NOMEM, and they do so before
 * changing anything.
 *
 * Capacity. slots = min(max_children, floor(upload_kbps * k / rate_kbps)),
 * in 64-bit arithmetic. The source's capacity in substream copies,
 * floor(source_upload_kbps * k / rate_kbps), is shared over the trees by
 * need (below). source_upload_kbps == 0 gives every tree max_children
 * source slots.
 *
 * Source shares. An idle tree (one that carries nothing) gets none; any
 * other tree of n >= 1 nodes needs max(1, n - its interior slots) source
 * slots, capped at max_children: that many make its capacity
 * cover its nodes, and without one nobody in it is reached; an empty tree
 * needs none. The even split (copies / k each, the remainder one each to
 * the lowest-numbered trees, capped at max_children) stays whenever it
 * gives every tree its need, as it does in large regions, whose interior
 * slots cover each tree's nodes. Otherwise, typically in a region of a few members
 * (three members interior in three of four trees leave the fourth with no
 * interior slot, needing a source slot per node while the others need
 * one), every tree first gets its need (copies short of the needs are
 * shared level by level, the lowest-numbered tree first on ties), then the
 * rest goes to the smallest shares, lowest-numbered first, each capped at
 * max_children. Shares are a function of the copies, the node count and
 * the trees' interior slots, so they change only when a need does: add,
 * add_detached, remove, rebuild and set_rate recompute them. Where a share
 * shrinks below the source's children, the cheapest to move (leaves of the
 * tree first, then the smallest subtree) float and are placed elsewhere in
 * their tree like any moving subtree, marked dirty; nothing else moves.
 * add and remove then repair every tree; add_detached leaves that to the
 * rebuild that must follow it.
 *
 * States of a (node, tree) pair. At rest a pair is either connected (a
 * chain of parents leads to the source, depth >= 1) or detached (parent
 * NIL, depth 0, no children in that tree): nothing hangs under a node the
 * source cannot reach. Inside one call a moving subtree "floats": its nodes
 * are out of every index, so none of them can be chosen as a parent, which
 * is what makes cycles impossible; its root is then attached somewhere
 * (depths recomputed top-down) or, if no place exists, dissolved into
 * detached nodes.
 *
 * Indexes, each a list of (node, tree) pairs, one list per pair at most:
 *   spare[d]  connected nodes interior in the tree at depth d with a free
 *             slot: "a minimum-depth parent with room" is the head of the
 *             first non-empty bucket (the source, depth 0, is checked first);
 *   leaf[d]   connected nodes that are leaves of the tree, by depth: used to
 *             let an interior node take a leaf's place when the tree is full;
 *   det_int / det_leaf  detached pairs, oldest first.
 * A per-tree hint remembers the lowest depth that may hold a spare (or
 * leaf) so searches skip empty buckets in amortised constant time.
 *
 * Incremental placement. A leaf of a tree goes to a minimum-depth free
 * slot. An interior node takes the place of a minimum-depth leaf when that
 * leaf is no deeper than the best free slot, and the leaf moves under it
 * (one level down at most): this keeps capacity near the source as the bulk
 * build does, and is also how an interior node gets in when the tree is full.
 *
 * Guarantee. After every public call (nodes from add_detached wait for
 * their rebuild), for every tree whose source has at least one slot, and
 * ignoring nodes that reparent told to avoid a parent:
 * (a) every node interior in the tree is connected, and (b) a leaf is
 * detached only if no connected node has a free slot. Together: a tree's
 * used slots equal its connected nodes, so if the tree's capacity (source
 * slots + slots of its interior nodes) is at least the node count, no pair
 * of that tree is detached. (If the tree is full, a connected leaf always
 * exists for (a): the source's slot is taken by someone.) The shares give
 * every tree that capacity whenever the source's copies cover the sum of
 * the needs and no tree needs more than max_children: then no pair at all
 * is detached.
 *
 * Dirty set. A node (or the source) is marked when its parent or its child
 * list changes in any tree, and when it is added. Removed nodes are dropped
 * from the set. rebuild compares every parent before and after and marks
 * only real changes, so rebuilding an unchanged population reports nothing.
 *
 * Reparent stores the id of the parent to avoid per (node, tree); ids, not
 * indexes, so a stale entry can never match a newcomer reusing the index.
 */
#include "strata/tree.h"
#include "strata/wire.h"

#include "idmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define SRC (UINT32_MAX - 1u)
#define ALL_SUBS ((uint32_t)0xffffffu) /* every tree (masks are cut to k by the reader) */

enum {
    MTREE_MIN_CAP = 16,
    MTREE_MAX_NODES = 1u << 28, /* keeps every index below SRC and sizes sane */
};

enum pos_tag { TAG_NONE, TAG_SPARE, TAG_LEAF, TAG_DET_INT, TAG_DET_LEAF };

struct dlist {
    uint32_t head, tail;
};

struct tnode {
    uint64_t id; /* 0: free index */
    uint32_t upload_kbps;
    uint32_t first_child; /* child list in the interior tree */
    uint32_t dpos;        /* position in the dirty array or NIL; next free index when free */
    uint16_t nchildren;
    uint8_t slots;   /* per tree, <= max_children <= 64 */
    int8_t interior; /* tree in which it may have children, -1 for none */
};

struct tpos {
    uint64_t avoid;        /* parent id to avoid (UINT64_MAX = source), 0 = none */
    uint32_t parent;       /* node index, SRC or NIL */
    uint32_t depth;        /* source's children: 1; detached or floating: 0 */
    uint32_t prev, next;   /* siblings in the parent's child list */
    uint32_t lprev, lnext; /* the index list given by tag */
    uint8_t tag;
};

struct sub {
    struct dlist *spare; /* by depth, cap + 2 entries */
    struct dlist *leaf;
    struct dlist det_int, det_leaf;
    uint32_t nspare, nleaf, ndet_int, ndet_leaf;
    uint32_t spare_hint, leaf_hint; /* no non-empty bucket below these */
    uint32_t src_first, src_nchildren, src_slots;
    uint64_t interior_slots; /* sum of slots of the nodes interior here */
};

struct strata_mtree {
    const strata_alloc *alloc;
    uint8_t k;
    uint32_t rate_kbps;
    uint32_t source_upload_kbps;
    uint32_t max_children;
    struct tnode *nodes;
    struct tpos *pos; /* [index * k + tree] */
    uint32_t *dirty;
    uint32_t *dirty_subs; /* [dirty position]: the trees in which that node changed */
    uint32_t cap, used, count, free_head, ndirty;
    uint32_t src_dirty; /* trees in which the source's children changed */
    uint32_t idle;      /* trees that carry nothing (strata_mtree_set_idle) */
    strata_idmap map;
    struct sub sub[STRATA_WIRE_MAX_TREES];
};

/* --- small helpers ------------------------------------------------------- */

static inline struct tpos *at(const strata_mtree *t, uint32_t v, unsigned s)
{
    return &t->pos[(size_t)v * t->k + s];
}

static inline int is_interior(const struct tnode *n, unsigned s)
{
    return n->interior == (int)s;
}

static inline uint64_t id_of(const strata_mtree *t, uint32_t v)
{
    return v == SRC ? UINT64_MAX : t->nodes[v].id;
}

static inline uint32_t depth_of(const strata_mtree *t, unsigned s, uint32_t v)
{
    return v == SRC ? 0 : at(t, v, s)->depth;
}

static inline int has_room(const strata_mtree *t, unsigned s, uint32_t v)
{
    if (v == SRC)
        return t->sub[s].src_nchildren < t->sub[s].src_slots;
    return t->nodes[v].nchildren < t->nodes[v].slots;
}

static inline int tree_has_room(const struct sub *u)
{
    return u->src_nchildren < u->src_slots || u->nspare > 0;
}

static inline uint32_t first_kid(const strata_mtree *t, unsigned s, uint32_t v)
{
    return is_interior(&t->nodes[v], s) ? t->nodes[v].first_child : NIL;
}

static int lookup(const strata_mtree *t, strata_node_id id, uint32_t *v)
{
    return strata_idmap_get(&t->map, id.v, v);
}

static uint8_t slots_for(const strata_mtree *t, uint32_t upload_kbps)
{
    uint64_t n = (uint64_t)upload_kbps * t->k / t->rate_kbps;
    return (uint8_t)(n < t->max_children ? n : t->max_children);
}

/* Raises share[s] toward target[s], spending up to amount copies as if one
 * at a time, each to the lowest share still below its target (the
 * lowest-numbered tree on ties). The trees at the lowest level rise
 * together to the next level or their nearest target, so the cost is O(k^2)
 * whatever the amount. Returns the copies left over. */
static uint64_t fill_shares(unsigned k, uint32_t *share, const uint32_t *target, uint64_t amount)
{
    while (amount > 0) {
        uint32_t low = UINT32_MAX;
        for (unsigned s = 0; s < k; s++)
            if (share[s] < target[s] && share[s] < low)
                low = share[s];
        if (low == UINT32_MAX)
            break;
        uint32_t next = UINT32_MAX, nlow = 0;
        for (unsigned s = 0; s < k; s++) {
            if (share[s] >= target[s])
                continue;
            if (share[s] == low) {
                nlow++;
                next = target[s] < next ? target[s] : next;
            } else if (share[s] < next) {
                next = share[s];
            }
        }
        uint64_t rise = next - low;
        if (amount >= rise * nlow) {
            for (unsigned s = 0; s < k; s++)
                if (share[s] == low && share[s] < target[s])
                    share[s] = next;
            amount -= rise * nlow;
        } else {
            uint64_t each = amount / nlow, extra = amount % nlow;
            for (unsigned s = 0; s < k; s++) {
                if (share[s] != low || share[s] >= target[s])
                    continue;
                share[s] += (uint32_t)each;
                if (extra) {
                    share[s]++;
                    extra--;
                }
            }
            amount = 0;
        }
    }
    return amount;
}

/* What tree s needs from the source: enough that its capacity (source
 * slots + slots of its interior nodes) covers its nodes, and at least one
 * slot if it has nodes at all (without it nobody in the tree is reached);
 * capped at max_children, which is all one instruction can name. */
static uint32_t source_need(const strata_mtree *t, unsigned s)
{
    if ((t->idle >> s) & 1u)
        return 0; /* it carries nothing */
    uint64_t n = t->count, interior = t->sub[s].interior_slots;
    uint64_t need = n > interior ? n - interior : 0;
    if (n && need == 0)
        need = 1;
    return (uint32_t)(need < t->max_children ? need : t->max_children);
}

/* The source's slots per tree (see "Source shares" at the top): the even
 * split when it gives every tree its need, else needs first and the rest
 * to the smallest shares. A function of the copies, the count and the
 * trees' interior capacities only, so shares change only when needs do. */
static void source_shares(const strata_mtree *t, uint32_t *share)
{
    const unsigned k = t->k;
    if (t->source_upload_kbps == 0) {
        for (unsigned s = 0; s < k; s++)
            share[s] = (t->idle >> s) & 1u ? 0 : t->max_children;
        return;
    }
    uint64_t total = (uint64_t)t->source_upload_kbps * k / t->rate_kbps;
    uint32_t need[STRATA_WIRE_MAX_TREES], cap[STRATA_WIRE_MAX_TREES];
    int even_suffices = 1;
    /* The even split is over the trees that carry something. */
    unsigned active = 0, i = 0;
    for (unsigned s = 0; s < k; s++)
        active += !((t->idle >> s) & 1u);
    if (active == 0) {
        memset(share, 0, k * sizeof *share);
        return;
    }
    for (unsigned s = 0; s < k; s++) {
        int idle = (t->idle >> s) & 1u;
        uint64_t n = idle ? 0 : total / active + (i++ < total % active ? 1u : 0u);
        share[s] = (uint32_t)(n < t->max_children ? n : t->max_children);
        need[s] = source_need(t, s);
        cap[s] = idle ? 0 : t->max_children;
        even_suffices &= share[s] >= need[s];
    }
    if (even_suffices)
        return;
    memset(share, 0, k * sizeof *share);
    uint64_t left = fill_shares(k, share, need, total);
    fill_shares(k, share, cap, left);
}

/* The tree with the least interior capacity so far (lowest number on ties):
 * spreading capacity this way keeps the trees within one node's slots of
 * each other, whatever the order of arrival. */
static int8_t pick_interior(const strata_mtree *t)
{
    /* An idle tree carries nothing: slots there would be lost (a third of
     * a source-fed cluster's upload with k = 4, n = 2). */
    uint32_t skip = (t->idle & ((1u << t->k) - 1u)) == (1u << t->k) - 1u ? 0 : t->idle;
    int best = -1;
    for (unsigned s = 0; s < t->k; s++)
        if (!((skip >> s) & 1u) &&
            (best < 0 || t->sub[s].interior_slots < t->sub[best].interior_slots))
            best = (int)s;
    return (int8_t)best;
}

/* --- dirty set ------------------------------------------------------------ */

/* Records that v's parent or children in the trees of subs changed (v
 * may be SRC or NIL). Only those trees' instructions need sending again. */
static void mark_subs(strata_mtree *t, uint32_t v, uint32_t subs)
{
    if (v == SRC) {
        t->src_dirty |= subs;
    } else if (v != NIL) {
        uint32_t i = t->nodes[v].dpos;
        if (i == NIL) {
            i = t->ndirty++;
            t->nodes[v].dpos = i;
            t->dirty[i] = v;
            t->dirty_subs[i] = 0;
        }
        t->dirty_subs[i] |= subs;
    }
}

/* Tree s changed for v. */
static void mark(strata_mtree *t, unsigned s, uint32_t v)
{
    mark_subs(t, v, 1u << s);
}

static void unmark(strata_mtree *t, uint32_t v)
{
    uint32_t i = t->nodes[v].dpos;
    if (i == NIL)
        return;
    uint32_t last = t->dirty[--t->ndirty];
    t->dirty[i] = last;
    t->dirty_subs[i] = t->dirty_subs[t->ndirty];
    t->nodes[last].dpos = i;
    t->nodes[v].dpos = NIL;
}

/* --- index lists ---------------------------------------------------------- */

static struct dlist *tag_list(const strata_mtree *t, unsigned s, uint32_t v, uint8_t tag)
{
    const struct sub *u = &t->sub[s];
    switch (tag) {
    case TAG_SPARE:
        return &u->spare[at(t, v, s)->depth];
    case TAG_LEAF:
        return &u->leaf[at(t, v, s)->depth];
    default:
        return NULL;
    }
}

static uint32_t *tag_count(struct sub *u, uint8_t tag)
{
    switch (tag) {
    case TAG_SPARE:
        return &u->nspare;
    case TAG_LEAF:
        return &u->nleaf;
    case TAG_DET_INT:
        return &u->ndet_int;
    default:
        return &u->ndet_leaf;
    }
}

static struct dlist *list_of(strata_mtree *t, unsigned s, uint32_t v, uint8_t tag)
{
    if (tag == TAG_DET_INT)
        return &t->sub[s].det_int;
    if (tag == TAG_DET_LEAF)
        return &t->sub[s].det_leaf;
    return tag_list(t, s, v, tag);
}

/* The list a pair belongs in, from its state. */
static uint8_t wanted_tag(const strata_mtree *t, unsigned s, uint32_t v)
{
    const struct tnode *n = &t->nodes[v];
    const struct tpos *p = at(t, v, s);
    int interior = is_interior(n, s);
    if (p->parent == NIL)
        return interior ? TAG_DET_INT : TAG_DET_LEAF;
    if (!interior)
        return TAG_LEAF;
    return n->nchildren < n->slots ? TAG_SPARE : TAG_NONE;
}

static void idx_remove(strata_mtree *t, unsigned s, uint32_t v)
{
    struct tpos *p = at(t, v, s);
    if (p->tag == TAG_NONE)
        return;
    struct dlist *l = list_of(t, s, v, p->tag);
    if (p->lprev != NIL)
        at(t, p->lprev, s)->lnext = p->lnext;
    else
        l->head = p->lnext;
    if (p->lnext != NIL)
        at(t, p->lnext, s)->lprev = p->lprev;
    else
        l->tail = p->lprev;
    (*tag_count(&t->sub[s], p->tag))--;
    p->lprev = p->lnext = NIL;
    p->tag = TAG_NONE;
}

/* Appends a pair that is in no list to the list its state calls for. */
static void idx_insert(strata_mtree *t, unsigned s, uint32_t v)
{
    struct tpos *p = at(t, v, s);
    struct sub *u = &t->sub[s];
    uint8_t tag = wanted_tag(t, s, v);
    p->tag = tag;
    if (tag == TAG_NONE)
        return;
    struct dlist *l = list_of(t, s, v, tag);
    p->lnext = NIL;
    p->lprev = l->tail;
    if (l->tail != NIL)
        at(t, l->tail, s)->lnext = v;
    else
        l->head = v;
    l->tail = v;
    (*tag_count(u, tag))++;
    if (tag == TAG_SPARE && p->depth < u->spare_hint)
        u->spare_hint = p->depth;
    if (tag == TAG_LEAF && p->depth < u->leaf_hint)
        u->leaf_hint = p->depth;
}

/* After a parent gained or lost a child: move it in or out of its spare
 * bucket only if that changed, so a bucket keeps its order and a parent
 * fills up before the next one at the same depth is used. */
static void idx_refresh_parent(strata_mtree *t, unsigned s, uint32_t p)
{
    if (p == SRC || at(t, p, s)->tag == wanted_tag(t, s, p))
        return;
    idx_remove(t, s, p);
    idx_insert(t, s, p);
}

/* Minimum-depth node with a free slot in tree s whose id is not avoid: the
 * source if it has room, else the first entry of the lowest spare bucket. */
static uint32_t find_spare(strata_mtree *t, unsigned s, uint64_t avoid)
{
    struct sub *u = &t->sub[s];
    if (u->src_nchildren < u->src_slots && avoid != UINT64_MAX)
        return SRC;
    uint32_t skipped = 0;
    for (uint32_t d = u->spare_hint; skipped < u->nspare && d <= t->cap; d++) {
        uint32_t v = u->spare[d].head;
        if (v == NIL && d == u->spare_hint)
            u->spare_hint = d + 1;
        for (; v != NIL; v = at(t, v, s)->lnext) {
            if (t->nodes[v].id != avoid)
                return v;
            skipped++;
        }
    }
    return NIL;
}

/* Minimum-depth connected leaf of tree s whose parent's id is not avoid. */
static uint32_t find_leaf(strata_mtree *t, unsigned s, uint64_t avoid)
{
    struct sub *u = &t->sub[s];
    uint32_t skipped = 0;
    for (uint32_t d = u->leaf_hint; skipped < u->nleaf && d <= t->cap; d++) {
        uint32_t v = u->leaf[d].head;
        if (v == NIL && d == u->leaf_hint)
            u->leaf_hint = d + 1;
        for (; v != NIL; v = at(t, v, s)->lnext) {
            if (id_of(t, at(t, v, s)->parent) != avoid)
                return v;
            skipped++;
        }
    }
    return NIL;
}

/* --- child lists and subtrees --------------------------------------------- */

static void link_child(strata_mtree *t, unsigned s, uint32_t p, uint32_t v)
{
    struct tpos *c = at(t, v, s);
    uint32_t *head;
    if (p == SRC) {
        head = &t->sub[s].src_first;
        t->sub[s].src_nchildren++;
    } else {
        head = &t->nodes[p].first_child;
        t->nodes[p].nchildren++;
    }
    c->parent = p;
    c->prev = NIL;
    c->next = *head;
    if (*head != NIL)
        at(t, *head, s)->prev = v;
    *head = v;
    c->depth = depth_of(t, s, p) + 1;
}

static void unlink_child(strata_mtree *t, unsigned s, uint32_t v)
{
    struct tpos *c = at(t, v, s);
    uint32_t p = c->parent;
    if (c->prev != NIL)
        at(t, c->prev, s)->next = c->next;
    else if (p == SRC)
        t->sub[s].src_first = c->next;
    else
        t->nodes[p].first_child = c->next;
    if (c->next != NIL)
        at(t, c->next, s)->prev = c->prev;
    if (p == SRC)
        t->sub[s].src_nchildren--;
    else
        t->nodes[p].nchildren--;
    c->parent = NIL;
    c->prev = c->next = NIL;
}

/* Pre-order successor of v within root's subtree in tree s, walking the
 * parent and sibling links only (no stack, no allocation). */
static uint32_t preorder_next(const strata_mtree *t, unsigned s, uint32_t root, uint32_t v)
{
    uint32_t c = first_kid(t, s, v);
    if (c != NIL)
        return c;
    while (v != root) {
        const struct tpos *p = at(t, v, s);
        if (p->next != NIL)
            return p->next;
        v = p->parent;
    }
    return NIL;
}

/* Takes root's subtree out of every index (see "floats" above). */
static void float_subtree(strata_mtree *t, unsigned s, uint32_t root)
{
    for (uint32_t w = root; w != NIL; w = preorder_next(t, s, root, w)) {
        idx_remove(t, s, w);
        at(t, w, s)->depth = 0;
    }
}

/* Detaches v from its parent in tree s; v's subtree floats. */
static void cut(strata_mtree *t, unsigned s, uint32_t v)
{
    uint32_t p = at(t, v, s)->parent;
    float_subtree(t, s, v);
    if (p == NIL)
        return;
    unlink_child(t, s, v);
    idx_refresh_parent(t, s, p);
    mark(t, s, v);
    mark(t, s, p);
}

/* Hangs the floating subtree of r under p (connected, with room) and puts
 * its nodes back in the indexes at their new depths. */
static void attach_root(strata_mtree *t, unsigned s, uint32_t r, uint32_t p)
{
    link_child(t, s, p, r);
    idx_refresh_parent(t, s, p);
    for (uint32_t w = r; w != NIL; w = preorder_next(t, s, r, w)) {
        struct tpos *q = at(t, w, s);
        if (w != r)
            q->depth = at(t, q->parent, s)->depth + 1;
        idx_insert(t, s, w);
    }
    mark(t, s, r);
    mark(t, s, p);
}

/* Breaks the floating subtree of r into detached nodes, children first, so
 * no node is left hanging under one the source cannot reach. */
static void dissolve(strata_mtree *t, unsigned s, uint32_t r)
{
    uint32_t w = r;
    for (;;) {
        uint32_t c = first_kid(t, s, w);
        if (c != NIL) {
            w = c;
            continue;
        }
        uint32_t p = at(t, w, s)->parent;
        if (w != r)
            unlink_child(t, s, w);
        idx_insert(t, s, w);
        mark(t, s, w);
        if (w == r)
            return;
        mark(t, s, p);
        w = p;
    }
}

/* Connects the floating root r in tree s, never under its avoided parent.
 * A leaf of the tree goes to a minimum-depth free slot. An interior node
 * instead takes the place of a minimum-depth leaf when that leaf is no
 * deeper than the best free slot (or there is none): the leaf moves down at
 * most one level, typically under r, and capacity stays near the source as
 * in the bulk build; without this, nodes arriving one by one fill the
 * shallow slots with leaves and the trees grow several times deeper. With
 * swap_leaves (reparent) a leaf may also swap when no slot is free. If
 * nothing works, r and its subtree become detached. */
static void place_root(strata_mtree *t, unsigned s, uint32_t r, int swap_leaves)
{
    uint64_t avoid = at(t, r, s)->avoid;
    uint32_t p = find_spare(t, s, avoid);
    int interior = is_interior(&t->nodes[r], s);
    if (p != SRC && (interior || (swap_leaves && p == NIL))) {
        uint32_t l = find_leaf(t, s, avoid);
        if (l != NIL && (p == NIL || at(t, l, s)->depth <= depth_of(t, s, p))) {
            uint32_t q = at(t, l, s)->parent;
            cut(t, s, l);
            attach_root(t, s, r, q);
            uint32_t p2 = find_spare(t, s, at(t, l, s)->avoid);
            if (p2 != NIL)
                attach_root(t, s, l, p2);
            else
                idx_insert(t, s, l);
            return;
        }
    }
    if (p != NIL) {
        attach_root(t, s, r, p);
        return;
    }
    if (first_kid(t, s, r) != NIL)
        dissolve(t, s, r);
    else
        idx_insert(t, s, r);
}

/* Restores the guarantee in tree s after slots appeared or nodes were
 * detached: detached interior nodes first (each brings slots), then
 * detached leaves while free slots last. Each pass looks at every detached
 * pair at most once, so a pair blocked by its avoided parent cannot make
 * it loop. */
static void repair(strata_mtree *t, unsigned s)
{
    struct sub *u = &t->sub[s];
    for (uint32_t n = u->ndet_int; n > 0 && u->det_int.head != NIL; n--) {
        uint32_t v = u->det_int.head;
        idx_remove(t, s, v);
        place_root(t, s, v, 0);
    }
    for (uint32_t n = u->ndet_leaf; n > 0 && u->det_leaf.head != NIL && tree_has_room(u); n--) {
        uint32_t v = u->det_leaf.head;
        uint32_t p = find_spare(t, s, at(t, v, s)->avoid);
        idx_remove(t, s, v);
        if (p != NIL)
            attach_root(t, s, v, p);
        else
            idx_insert(t, s, v);
    }
}

/* The child of a list in tree s (the siblings from first on) that is
 * cheapest to move: a leaf of the tree (nothing hangs under it) if there is
 * one, else the interior child with the smallest subtree; the first in the
 * list on ties. For the source's children and a node's. */
static uint32_t cheapest_of(const strata_mtree *t, unsigned s, uint32_t first)
{
    uint32_t best = NIL, best_cost = UINT32_MAX;
    for (uint32_t c = first; c != NIL; c = at(t, c, s)->next) {
        if (!is_interior(&t->nodes[c], s))
            return c;
        uint32_t cost = 1; /* an interior node, however small, costs more than a leaf */
        for (uint32_t w = c; w != NIL && cost < best_cost; w = preorder_next(t, s, c, w))
            cost++;
        if (cost < best_cost) {
            best = c;
            best_cost = cost;
        }
    }
    return best;
}

static uint32_t cheapest_source_child(const strata_mtree *t, unsigned s)
{
    return cheapest_of(t, s, t->sub[s].src_first);
}

/* Gives every tree its current source share (source_shares). Where a share
 * shrank below the source's children, the cheapest of them move elsewhere
 * in their tree, as any floating root does, and are marked dirty; a tree
 * whose share grew is left to the caller's repair (which add_detached
 * skips). Allocates nothing. */
static void reshare_source(strata_mtree *t)
{
    uint32_t share[STRATA_WIRE_MAX_TREES];
    source_shares(t, share);
    for (unsigned s = 0; s < t->k; s++) {
        struct sub *u = &t->sub[s];
        u->src_slots = share[s];
        /* Each pass leaves the source one child fewer: over its share it
         * has no free slot, so a moved node goes back under it only in the
         * place of a leaf child it displaces. */
        while (u->src_nchildren > u->src_slots) {
            uint32_t v = cheapest_source_child(t, s);
            cut(t, s, v);
            place_root(t, s, v, 0);
        }
    }
}

/* --- lifecycle ------------------------------------------------------------- */

static void reset_sub(struct sub *u)
{
    u->det_int.head = u->det_int.tail = NIL;
    u->det_leaf.head = u->det_leaf.tail = NIL;
    u->nspare = u->nleaf = u->ndet_int = u->ndet_leaf = 0;
    u->spare_hint = u->leaf_hint = 1;
    u->src_first = NIL;
    u->src_nchildren = 0;
    u->interior_slots = 0;
}

strata_mtree *strata_mtree_new(const strata_alloc *a, const strata_mtree_config *cfg)
{
    if (!cfg || cfg->k == 0 || cfg->k > STRATA_WIRE_MAX_TREES || cfg->rate_kbps == 0 ||
        cfg->max_children > STRATA_WIRE_MAX_CHILDREN)
        return NULL;
    strata_mtree *t = strata_mem_calloc(a, 1, sizeof *t);
    if (!t)
        return NULL;
    t->alloc = a;
    t->k = cfg->k;
    t->rate_kbps = cfg->rate_kbps;
    t->source_upload_kbps = cfg->source_upload_kbps;
    t->max_children = cfg->max_children ? cfg->max_children : STRATA_WIRE_MAX_CHILDREN;
    t->free_head = NIL;
    strata_idmap_init(&t->map, a, 0);
    for (unsigned s = 0; s < t->k; s++)
        reset_sub(&t->sub[s]);
    reshare_source(t);
    return t;
}

void strata_mtree_del(strata_mtree *t)
{
    if (!t)
        return;
    for (unsigned s = 0; s < t->k; s++) {
        strata_mem_free(t->alloc, t->sub[s].spare);
        strata_mem_free(t->alloc, t->sub[s].leaf);
    }
    strata_mem_free(t->alloc, t->nodes);
    strata_mem_free(t->alloc, t->pos);
    strata_mem_free(t->alloc, t->dirty);
    strata_mem_free(t->alloc, t->dirty_subs);
    strata_idmap_free(&t->map);
    strata_mem_free(t->alloc, t);
}

static int grow_buckets(const strata_mtree *t, struct dlist **b, uint32_t ncap)
{
    struct dlist *nb = strata_mem_realloc(t->alloc, *b, ((size_t)ncap + 2) * sizeof *nb);
    if (!nb)
        return STRATA_ERR_NOMEM;
    /* Depth never exceeds the node count, so cap + 2 buckets always do. */
    for (size_t d = t->cap ? (size_t)t->cap + 2 : 0; d < (size_t)ncap + 2; d++)
        nb[d].head = nb[d].tail = NIL;
    *b = nb;
    return 0;
}

/* Doubles every per-node array. Arrays that grew before a failure stay
 * grown (harmless: only cap decides what is in use). */
static int grow(strata_mtree *t)
{
    if (t->cap >= MTREE_MAX_NODES)
        return STRATA_ERR_NOMEM;
    uint32_t ncap = t->cap ? t->cap * 2 : MTREE_MIN_CAP;
    void *p = strata_mem_realloc(t->alloc, t->nodes, (size_t)ncap * sizeof *t->nodes);
    if (!p)
        return STRATA_ERR_NOMEM;
    t->nodes = p;
    p = strata_mem_realloc(t->alloc, t->pos, (size_t)ncap * t->k * sizeof *t->pos);
    if (!p)
        return STRATA_ERR_NOMEM;
    t->pos = p;
    p = strata_mem_realloc(t->alloc, t->dirty, (size_t)ncap * sizeof *t->dirty);
    if (!p)
        return STRATA_ERR_NOMEM;
    t->dirty = p;
    p = strata_mem_realloc(t->alloc, t->dirty_subs, (size_t)ncap * sizeof *t->dirty_subs);
    if (!p)
        return STRATA_ERR_NOMEM;
    t->dirty_subs = p;
    for (unsigned s = 0; s < t->k; s++) {
        if (grow_buckets(t, &t->sub[s].spare, ncap) || grow_buckets(t, &t->sub[s].leaf, ncap))
            return STRATA_ERR_NOMEM;
    }
    t->cap = ncap;
    return 0;
}

static int add_node(strata_mtree *t, strata_node_id id, uint32_t upload_kbps, int attach,
                    int interior)
{
    if (id.v == 0 || id.v == UINT64_MAX)
        return STRATA_ERR_INVAL;
    if (lookup(t, id, NULL))
        return STRATA_ERR_EXISTS;
    if (t->free_head == NIL && t->used == t->cap) {
        int err = grow(t);
        if (err)
            return err;
    }
    int err = strata_idmap_reserve(&t->map, (size_t)t->count + 1);
    if (err)
        return err;

    uint32_t v;
    if (t->free_head != NIL) {
        v = t->free_head;
        t->free_head = t->nodes[v].dpos;
    } else {
        v = t->used++;
    }
    strata_idmap_put(&t->map, id.v, v); /* cannot fail after reserve */
    struct tnode *n = &t->nodes[v];
    n->id = id.v;
    n->upload_kbps = upload_kbps;
    n->first_child = NIL;
    n->dpos = NIL;
    n->nchildren = 0;
    n->slots = slots_for(t, upload_kbps);
    n->interior = -1;
    if (n->slots) {
        n->interior = interior >= 0 && interior < t->k ? (int8_t)interior : pick_interior(t);
        t->sub[n->interior].interior_slots += n->slots;
    }
    for (unsigned s = 0; s < t->k; s++) {
        struct tpos *p = at(t, v, s);
        memset(p, 0, sizeof *p);
        p->parent = p->prev = p->next = p->lprev = p->lnext = NIL;
        idx_insert(t, s, v);
    }
    t->count++;
    mark_subs(t, v, ALL_SUBS); /* a newcomer needs every tree's instruction */
    reshare_source(t);
    if (attach)
        for (unsigned s = 0; s < t->k; s++)
            repair(t, s);
    return 0;
}

int strata_mtree_add(strata_mtree *t, strata_node_id id, uint32_t upload_kbps)
{
    return add_node(t, id, upload_kbps, 1, -1);
}

int strata_mtree_add_detached(strata_mtree *t, strata_node_id id, uint32_t upload_kbps)
{
    return add_node(t, id, upload_kbps, 0, -1);
}

/* --- restore (a control center rebuilding what its members report) -------- */

int strata_mtree_add_restored(strata_mtree *t, strata_node_id id, uint32_t upload_kbps,
                              int interior)
{
    return add_node(t, id, upload_kbps, 0, interior);
}

int strata_mtree_adopt(strata_mtree *t, strata_node_id id, uint8_t s, strata_node_id parent)
{
    uint32_t v, p = SRC;
    if (s >= t->k || !lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    struct tpos *q = at(t, v, s);
    /* Only a detached pair (which has no children: nothing hangs under a
     * node the source cannot reach) can take a parent, so no cycle can
     * form; the parent must be connected and have a free slot there. */
    if (q->parent != NIL)
        return STRATA_ERR_UNEXPECTED;
    if (parent.v != STRATA_MTREE_SOURCE.v) {
        if (!lookup(t, parent, &p) || p == v)
            return STRATA_ERR_NOTFOUND;
        if (!is_interior(&t->nodes[p], s) || at(t, p, s)->parent == NIL)
            return STRATA_ERR_UNEXPECTED;
    }
    if (!has_room(t, s, p))
        return STRATA_ERR_FULL;
    idx_remove(t, s, v);
    attach_root(t, s, v, p);
    return 0;
}

void strata_mtree_settle(strata_mtree *t)
{
    reshare_source(t);
    for (unsigned s = 0; s < t->k; s++)
        repair(t, s);
}

void strata_mtree_set_source_upload(strata_mtree *t, uint32_t source_upload_kbps)
{
    t->source_upload_kbps = source_upload_kbps;
    strata_mtree_settle(t);
}

int strata_mtree_set_upload(strata_mtree *t, strata_node_id id, uint32_t upload_kbps)
{
    uint32_t v;
    if (!lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    struct tnode *n = &t->nodes[v];
    uint8_t slots = slots_for(t, upload_kbps);
    n->upload_kbps = upload_kbps;
    if (slots == n->slots)
        return 0;
    if (n->interior < 0) {
        /* A leaf everywhere becomes interior where capacity is lowest, in
         * place: it keeps its parent there, and its slots fill from repair. */
        int8_t s = pick_interior(t);
        if (s < 0)
            return 0;
        idx_remove(t, (unsigned)s, v);
        n->interior = s;
        n->slots = slots;
        t->sub[s].interior_slots += slots;
        idx_insert(t, (unsigned)s, v);
    } else {
        unsigned s = (unsigned)n->interior;
        t->sub[s].interior_slots -= n->slots;
        t->sub[s].interior_slots += slots;
        n->slots = slots;
        /* Over its new slots, the cheapest children move elsewhere in the
         * tree, as the source's do when its share shrinks; v is full, so
         * none comes back under it but in the place of a leaf it displaces. */
        while (n->nchildren > n->slots) {
            uint32_t c = cheapest_of(t, s, n->first_child);
            cut(t, s, c);
            place_root(t, s, c, 0);
        }
        if (slots == 0) {
            /* No slot left: a pure leaf, which add would have made it. */
            idx_remove(t, s, v);
            n->interior = -1;
            idx_insert(t, s, v);
        } else {
            idx_refresh_parent(t, s, v);
        }
    }
    reshare_source(t);
    for (unsigned s = 0; s < t->k; s++)
        repair(t, s);
    return 0;
}

/* Node v becomes interior in tree s: it leaves the trees and comes back
 * (its children elsewhere find other parents, as at a departure). 0 when
 * it could not (no memory: it cannot happen after the remove, which frees
 * what the add takes). */
static int move_interior(strata_mtree *t, uint32_t v, unsigned s)
{
    strata_node_id id = {t->nodes[v].id};
    uint32_t upload = t->nodes[v].upload_kbps;
    if (strata_mtree_remove(t, id) != 0)
        return 0;
    return add_node(t, id, upload, 1, (int)s) == 0;
}

/* Interior places follow the active trees (pick_interior). A tree going
 * idle gives its interior nodes to the others; one becoming active takes
 * interior nodes, the fewest children first, from the trees with the most
 * interior capacity until it has about its share. Only the moved nodes and
 * their children change parents (a rebuild of the whole cluster at every
 * switch cost a 2,000-peer simulation 0.0002 of its delivery). */
static void follow_idle(strata_mtree *t, unsigned s)
{
    uint32_t active = ~t->idle & ((1u << t->k) - 1u);
    if (!active)
        return;
    if ((t->idle >> s) & 1u) {
        for (uint32_t v = 0; v < t->used; v++)
            if (t->nodes[v].id && t->nodes[v].interior == (int8_t)s)
                move_interior(t, v, (unsigned)pick_interior(t));
        return;
    }
    for (;;) {
        uint64_t total = 0;
        unsigned n_active = 0;
        for (unsigned x = 0; x < t->k; x++) {
            if ((active >> x) & 1u) {
                total += t->sub[x].interior_slots;
                n_active++;
            }
        }
        uint64_t share = total / n_active;
        if (t->sub[s].interior_slots >= share)
            return;
        /* From a tree above its share that still holds all its nodes
         * without this one's slots. */
        uint32_t best = NIL;
        for (uint32_t v = 0; v < t->used; v++) {
            const struct tnode *nd = &t->nodes[v];
            if (!nd->id || nd->interior < 0 || (unsigned)nd->interior == s)
                continue;
            const struct sub *from = &t->sub[nd->interior];
            if (from->interior_slots <= share ||
                from->interior_slots - nd->slots + from->src_slots < t->count)
                continue;
            if (best == NIL || nd->nchildren < t->nodes[best].nchildren ||
                (nd->nchildren == t->nodes[best].nchildren && nd->id < t->nodes[best].id))
                best = v;
        }
        if (best == NIL || !move_interior(t, best, s))
            return;
    }
}

void strata_mtree_set_idle(strata_mtree *t, uint8_t s, int idle)
{
    if (s >= t->k || ((t->idle >> s) & 1u) == (idle != 0))
        return;
    t->idle ^= 1u << s;
    follow_idle(t, s);
    strata_mtree_settle(t);
}

/* Orphans are placed interior ones first, largest capacity first, so that
 * the slots they bring are there for the ones that follow. */
static int orphan_before(const strata_mtree *t, unsigned s, uint32_t a, uint32_t b)
{
    const struct tnode *na = &t->nodes[a], *nb = &t->nodes[b];
    int ia = is_interior(na, s), ib = is_interior(nb, s);
    if (ia != ib)
        return ia;
    if (na->slots != nb->slots)
        return na->slots > nb->slots;
    return na->id < nb->id;
}

int strata_mtree_remove(strata_mtree *t, strata_node_id id)
{
    uint32_t v;
    if (!lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    struct tnode *n = &t->nodes[v];
    uint32_t orphans[STRATA_WIRE_MAX_CHILDREN];
    size_t norphans = 0;
    for (unsigned s = 0; s < t->k; s++) {
        if (is_interior(n, s)) {
            uint32_t c = n->first_child;
            while (c != NIL) {
                uint32_t next = at(t, c, s)->next;
                float_subtree(t, s, c);
                unlink_child(t, s, c);
                mark(t, s, c);
                orphans[norphans++] = c;
                c = next;
            }
        }
        if (at(t, v, s)->parent != NIL)
            cut(t, s, v);
        else
            idx_remove(t, s, v);
    }

    unmark(t, v);
    strata_idmap_del(&t->map, id.v);
    if (n->interior >= 0)
        t->sub[n->interior].interior_slots -= n->slots;
    int8_t s0 = n->interior;
    n->id = 0;
    n->interior = -1;
    n->dpos = t->free_head;
    t->free_head = v;
    t->count--;
    /* Shares first, so the orphans below see the slots their tree has now. */
    reshare_source(t);

    if (s0 >= 0) {
        unsigned s = (unsigned)s0;
        for (size_t i = 1; i < norphans; i++) {
            uint32_t x = orphans[i];
            size_t j = i;
            for (; j > 0 && orphan_before(t, s, x, orphans[j - 1]); j--)
                orphans[j] = orphans[j - 1];
            orphans[j] = x;
        }
        for (size_t i = 0; i < norphans; i++)
            place_root(t, s, orphans[i], 0);
    }
    for (unsigned s = 0; s < t->k; s++)
        repair(t, s);
    return 0;
}

int strata_mtree_reparent(strata_mtree *t, strata_node_id id, uint8_t s)
{
    uint32_t v;
    if (!lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    if (s >= t->k)
        return STRATA_ERR_INVAL;
    struct tpos *p = at(t, v, s);
    if (p->parent != NIL) {
        p->avoid = id_of(t, p->parent);
        cut(t, s, v);
        place_root(t, s, v, 1);
    }
    /* A detached node has no parent to leave; it just gets another chance. */
    repair(t, s);
    return 0;
}

/* --- bulk build ------------------------------------------------------------ */

struct sortkey {
    uint64_t id;
    uint32_t idx;
    uint32_t slots;
};

static int cmp_sortkey(const void *pa, const void *pb)
{
    const struct sortkey *a = pa, *b = pb;
    if (a->slots != b->slots)
        return a->slots > b->slots ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

struct rebuild_buf {
    struct sortkey *keys;
    uint32_t *queue;
    uint32_t *oldpar;
};

static void rebuild_buf_free(const strata_mtree *t, struct rebuild_buf *rb)
{
    strata_mem_free(t->alloc, rb->keys);
    strata_mem_free(t->alloc, rb->queue);
    strata_mem_free(t->alloc, rb->oldpar);
}

/* Everything rebuild needs, allocated before anything changes. */
static int rebuild_buf_alloc(const strata_mtree *t, struct rebuild_buf *rb)
{
    memset(rb, 0, sizeof *rb);
    rb->keys = strata_mem_alloc(t->alloc, ((size_t)t->count + 1) * sizeof *rb->keys);
    rb->queue = strata_mem_alloc(t->alloc, ((size_t)t->count + 1) * sizeof *rb->queue);
    rb->oldpar = strata_mem_alloc(t->alloc, ((size_t)t->used * t->k + 1) * sizeof *rb->oldpar);
    if (!rb->keys || !rb->queue || !rb->oldpar) {
        rebuild_buf_free(t, rb);
        return STRATA_ERR_NOMEM;
    }
    return 0;
}

/* Greedy construction, as tree.h describes: order by slots (ties by id),
 * give each node with slots the tree with the least interior capacity, then
 * fill each tree breadth-first from the source, its interior nodes first in
 * capacity order (each opening its slots at the back of the queue), then
 * everyone else as leaves at the shallowest free slots. */
static void rebuild_core(strata_mtree *t, struct rebuild_buf *rb)
{
    const unsigned k = t->k;
    size_t n = 0;
    for (uint32_t v = 0; v < t->used; v++) {
        if (!t->nodes[v].id)
            continue;
        rb->keys[n++] = (struct sortkey){t->nodes[v].id, v, t->nodes[v].slots};
        for (unsigned s = 0; s < k; s++)
            rb->oldpar[(size_t)v * k + s] = at(t, v, s)->parent;
    }
    qsort(rb->keys, n, sizeof *rb->keys, cmp_sortkey);

    for (unsigned s = 0; s < k; s++) {
        struct sub *u = &t->sub[s];
        reset_sub(u);
        for (size_t d = 0; t->cap && d < (size_t)t->cap + 2; d++) {
            u->spare[d].head = u->spare[d].tail = NIL;
            u->leaf[d].head = u->leaf[d].tail = NIL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = rb->keys[i].idx;
        struct tnode *nd = &t->nodes[v];
        nd->first_child = NIL;
        nd->nchildren = 0;
        nd->interior = -1;
        if (nd->slots) {
            nd->interior = pick_interior(t);
            t->sub[nd->interior].interior_slots += nd->slots;
        }
        for (unsigned s = 0; s < k; s++) {
            struct tpos *p = at(t, v, s);
            memset(p, 0, sizeof *p);
            p->parent = p->prev = p->next = p->lprev = p->lnext = NIL;
        }
    }
    reshare_source(t); /* the trees are empty: only the shares change */

    for (unsigned s = 0; s < k; s++) {
        size_t qh = 0, qt = 0;
        if (t->sub[s].src_slots)
            rb->queue[qt++] = SRC;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                uint32_t v = rb->keys[i].idx;
                int interior = is_interior(&t->nodes[v], s);
                if (interior != (pass == 0))
                    continue;
                while (qh < qt && !has_room(t, s, rb->queue[qh]))
                    qh++;
                if (qh == qt)
                    continue; /* stays detached */
                link_child(t, s, rb->queue[qh], v);
                if (interior)
                    rb->queue[qt++] = v;
            }
        }
    }

    for (size_t i = 0; i < n; i++) {
        uint32_t v = rb->keys[i].idx;
        for (unsigned s = 0; s < k; s++) {
            idx_insert(t, s, v);
            uint32_t old = rb->oldpar[(size_t)v * k + s], now = at(t, v, s)->parent;
            if (old != now) {
                mark(t, s, v);
                mark(t, s, old);
                mark(t, s, now);
            }
        }
    }
}

int strata_mtree_rebuild(strata_mtree *t)
{
    struct rebuild_buf rb;
    int err = rebuild_buf_alloc(t, &rb);
    if (err)
        return err;
    rebuild_core(t, &rb);
    rebuild_buf_free(t, &rb);
    return 0;
}

int strata_mtree_set_rate(strata_mtree *t, uint32_t rate_kbps)
{
    if (rate_kbps == 0)
        return STRATA_ERR_INVAL;
    struct rebuild_buf rb;
    int err = rebuild_buf_alloc(t, &rb);
    if (err)
        return err;
    t->rate_kbps = rate_kbps;
    for (uint32_t v = 0; v < t->used; v++)
        if (t->nodes[v].id)
            t->nodes[v].slots = slots_for(t, t->nodes[v].upload_kbps);
    rebuild_core(t, &rb);
    rebuild_buf_free(t, &rb);
    return 0;
}

/* --- queries ---------------------------------------------------------------- */

/* Node index v's parent in tree s as an id (the source's, or none). */
static strata_node_id parent_id(const strata_mtree *t, uint32_t v, unsigned s)
{
    uint32_t p = at(t, v, s)->parent;
    return p == NIL ? STRATA_MTREE_NONE : (strata_node_id){id_of(t, p)};
}

strata_node_id strata_mtree_parent(const strata_mtree *t, strata_node_id id, uint8_t s)
{
    uint32_t v;
    if (s >= t->k || !lookup(t, id, &v))
        return STRATA_MTREE_NONE;
    return parent_id(t, v, s);
}

size_t strata_mtree_parents(const strata_mtree *t, strata_node_id id, strata_node_id *out,
                            size_t max)
{
    uint32_t v;
    if (max < t->k || !lookup(t, id, &v))
        return 0;
    for (unsigned s = 0; s < t->k; s++)
        out[s] = parent_id(t, v, s);
    return t->k;
}

size_t strata_mtree_children(const strata_mtree *t, strata_node_id id, uint8_t s,
                             strata_node_id *out, size_t max)
{
    uint32_t first, total;
    if (s >= t->k)
        return 0;
    if (id.v == STRATA_MTREE_SOURCE.v) {
        first = t->sub[s].src_first;
        total = t->sub[s].src_nchildren;
    } else {
        uint32_t v;
        if (!lookup(t, id, &v) || !is_interior(&t->nodes[v], s))
            return 0;
        first = t->nodes[v].first_child;
        total = t->nodes[v].nchildren;
    }
    size_t i = 0;
    for (uint32_t c = first; c != NIL && i < max; c = at(t, c, s)->next)
        out[i++] = (strata_node_id){t->nodes[c].id};
    return total;
}

int strata_mtree_interior_tree(const strata_mtree *t, strata_node_id id)
{
    uint32_t v;
    if (!lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    return t->nodes[v].interior;
}

/* Depth of id in tree s: the source is 0, its children 1, and a node that
 * is detached in s also reports 0. STRATA_ERR_INVAL for s >= k,
 * STRATA_ERR_NOTFOUND for an unknown id. */
int strata_mtree_depth(const strata_mtree *t, strata_node_id id, uint8_t s)
{
    uint32_t v;
    if (s >= t->k)
        return STRATA_ERR_INVAL;
    if (id.v == STRATA_MTREE_SOURCE.v)
        return 0;
    if (!lookup(t, id, &v))
        return STRATA_ERR_NOTFOUND;
    return (int)at(t, v, s)->depth;
}

size_t strata_mtree_count(const strata_mtree *t)
{
    return t->count;
}

size_t strata_mtree_detached(const strata_mtree *t)
{
    size_t n = 0;
    for (unsigned s = 0; s < t->k; s++)
        if (!((t->idle >> s) & 1u))
            n += (size_t)t->sub[s].ndet_int + t->sub[s].ndet_leaf;
    return n;
}

uint32_t strata_mtree_source_slots(const strata_mtree *t, uint8_t s)
{
    return s < t->k ? t->sub[s].src_slots : 0;
}

uint32_t strata_mtree_source_need(const strata_mtree *t)
{
    uint32_t need = 0;
    for (unsigned s = 0; s < t->k; s++)
        need += source_need(t, s);
    return need;
}

uint8_t strata_mtree_k(const strata_mtree *t)
{
    return t->k;
}

size_t strata_mtree_take_dirty_subs(strata_mtree *t, strata_node_id *out, uint32_t *subs,
                                    size_t max)
{
    size_t n = 0;
    if (t->src_dirty && n < max) {
        if (subs)
            subs[n] = t->src_dirty;
        out[n++] = STRATA_MTREE_SOURCE;
        t->src_dirty = 0;
    }
    while (n < max && t->ndirty > 0) {
        uint32_t v = t->dirty[--t->ndirty];
        t->nodes[v].dpos = NIL;
        if (subs)
            subs[n] = t->dirty_subs[t->ndirty];
        out[n++] = (strata_node_id){t->nodes[v].id};
    }
    return n;
}

size_t strata_mtree_take_dirty(strata_mtree *t, strata_node_id *out, size_t max)
{
    return strata_mtree_take_dirty_subs(t, out, NULL, max);
}

void strata_mtree_get_stats(const strata_mtree *t, strata_mtree_stats *st)
{
    memset(st, 0, sizeof *st);
    st->nodes = t->count;
    st->detached_pairs = strata_mtree_detached(t);
    uint64_t sum = 0, pairs = 0;
    for (unsigned s = 0; s < t->k; s++)
        st->source_children += t->sub[s].src_nchildren;
    for (uint32_t v = 0; v < t->used; v++) {
        if (!t->nodes[v].id)
            continue;
        for (unsigned s = 0; s < t->k; s++) {
            uint32_t d = at(t, v, s)->depth;
            if (!d)
                continue;
            sum += d;
            pairs++;
            if ((int)d > st->max_depth)
                st->max_depth = (int)d;
        }
    }
    st->mean_depth = pairs ? (double)sum / (double)pairs : 0.0;
}

/* --- invariant check ---------------------------------------------------------- */

#define CHECK_FAIL(...)                                                                            \
    do {                                                                                           \
        if (why && whylen)                                                                         \
            snprintf(why, whylen, __VA_ARGS__);                                                    \
        return STRATA_ERR_INVAL;                                                                   \
    } while (0)

/* Walks one index list: links agree both ways, every member carries tag
 * (and, for depth buckets, depth d), and the length is returned. */
static int check_list(const strata_mtree *t, unsigned s, const struct dlist *l, uint8_t tag,
                      uint32_t d, uint32_t *len)
{
    uint32_t prev = NIL, n = 0;
    for (uint32_t v = l->head; v != NIL; v = at(t, v, s)->lnext) {
        if (v >= t->used || !t->nodes[v].id || n > t->count)
            return -1;
        const struct tpos *p = at(t, v, s);
        if (p->tag != tag || p->lprev != prev || (d && p->depth != d))
            return -1;
        prev = v;
        n++;
    }
    if (l->tail != prev)
        return -1;
    *len = n;
    return 0;
}

static int check_tree(const strata_mtree *t, unsigned s, char *why, size_t whylen)
{
    const struct sub *u = &t->sub[s];
    uint32_t len, nspare = 0, nleaf = 0, ndi, ndl;
    uint64_t interior_slots = 0;
    size_t linked = 0;

    /* Child lists: each listed child points back, lengths match counts,
     * capacity holds. */
    uint32_t prev = NIL, nc = 0;
    for (uint32_t c = u->src_first; c != NIL; c = at(t, c, s)->next) {
        if (c >= t->used || !t->nodes[c].id || at(t, c, s)->parent != SRC ||
            at(t, c, s)->prev != prev || nc > t->count)
            CHECK_FAIL("tree %u: source child list corrupt", s);
        prev = c;
        nc++;
    }
    if (nc != u->src_nchildren || nc > u->src_slots)
        CHECK_FAIL("tree %u: source has %u children, count %u, slots %u", s, nc, u->src_nchildren,
                   u->src_slots);
    linked += nc;

    for (uint32_t v = 0; v < t->used; v++) {
        const struct tnode *n = &t->nodes[v];
        if (!n->id)
            continue;
        const struct tpos *p = at(t, v, s);
        if (is_interior(n, s)) {
            interior_slots += n->slots;
            prev = NIL;
            nc = 0;
            for (uint32_t c = n->first_child; c != NIL; c = at(t, c, s)->next) {
                if (c >= t->used || !t->nodes[c].id || at(t, c, s)->parent != v ||
                    at(t, c, s)->prev != prev || nc > t->count)
                    CHECK_FAIL("tree %u: child list of node %llu corrupt", s,
                               (unsigned long long)n->id);
                prev = c;
                nc++;
            }
            if (nc != n->nchildren || nc > n->slots)
                CHECK_FAIL("tree %u: node %llu has %u children, count %u, slots %u", s,
                           (unsigned long long)n->id, nc, n->nchildren, n->slots);
            if (p->parent == NIL && nc)
                CHECK_FAIL("tree %u: detached node %llu has children", s,
                           (unsigned long long)n->id);
            linked += nc;
        }
        /* Depth one more than the parent's, with the source at 0 and
         * detached nodes childless, rules out cycles and proves that every
         * parent chain ends at the source. */
        if (p->parent == NIL) {
            if (p->depth != 0)
                CHECK_FAIL("tree %u: detached node %llu has depth %u", s, (unsigned long long)n->id,
                           p->depth);
        } else if (p->parent == SRC) {
            if (p->depth != 1)
                CHECK_FAIL("tree %u: source child %llu has depth %u", s, (unsigned long long)n->id,
                           p->depth);
        } else {
            uint32_t q = p->parent;
            if (q >= t->used || !t->nodes[q].id || q == v)
                CHECK_FAIL("tree %u: node %llu has a bad parent", s, (unsigned long long)n->id);
            if (!is_interior(&t->nodes[q], s))
                CHECK_FAIL("tree %u: parent %llu of %llu is not interior in this tree", s,
                           (unsigned long long)t->nodes[q].id, (unsigned long long)n->id);
            if (p->depth != at(t, q, s)->depth + 1)
                CHECK_FAIL("tree %u: node %llu depth %u, parent depth %u", s,
                           (unsigned long long)n->id, p->depth, at(t, q, s)->depth);
        }
        if (p->tag != wanted_tag(t, s, v))
            CHECK_FAIL("tree %u: node %llu indexed as %u, expected %u", s,
                       (unsigned long long)n->id, p->tag, wanted_tag(t, s, v));
    }
    size_t with_parent = 0;
    for (uint32_t v = 0; v < t->used; v++)
        if (t->nodes[v].id && at(t, v, s)->parent != NIL)
            with_parent++;
    if (with_parent != linked)
        CHECK_FAIL("tree %u: %zu nodes have parents but lists hold %zu", s, with_parent, linked);
    if (interior_slots != u->interior_slots)
        CHECK_FAIL("tree %u: interior slots %llu, recorded %llu", s,
                   (unsigned long long)interior_slots, (unsigned long long)u->interior_slots);

    /* Index lists. */
    for (uint32_t d = 1; d <= t->cap; d++) {
        if (check_list(t, s, &u->spare[d], TAG_SPARE, d, &len))
            CHECK_FAIL("tree %u: spare bucket %u corrupt", s, d);
        if (len && d < u->spare_hint)
            CHECK_FAIL("tree %u: spare bucket %u below hint %u", s, d, u->spare_hint);
        nspare += len;
        if (check_list(t, s, &u->leaf[d], TAG_LEAF, d, &len))
            CHECK_FAIL("tree %u: leaf bucket %u corrupt", s, d);
        if (len && d < u->leaf_hint)
            CHECK_FAIL("tree %u: leaf bucket %u below hint %u", s, d, u->leaf_hint);
        nleaf += len;
    }
    if (t->cap && (u->spare[0].head != NIL || u->leaf[0].head != NIL))
        CHECK_FAIL("tree %u: depth-0 bucket in use", s);
    if (check_list(t, s, &u->det_int, TAG_DET_INT, 0, &ndi) ||
        check_list(t, s, &u->det_leaf, TAG_DET_LEAF, 0, &ndl))
        CHECK_FAIL("tree %u: detached list corrupt", s);
    if (nspare != u->nspare || nleaf != u->nleaf || ndi != u->ndet_int || ndl != u->ndet_leaf)
        CHECK_FAIL("tree %u: index counts disagree", s);
    return 0;
}

int strata_mtree_check(const strata_mtree *t, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    uint32_t live = 0;
    for (uint32_t v = 0; v < t->used; v++) {
        const struct tnode *n = &t->nodes[v];
        if (!n->id)
            continue;
        live++;
        uint32_t m;
        if (n->id == UINT64_MAX || !strata_idmap_get(&t->map, n->id, &m) || m != v)
            CHECK_FAIL("node %llu: id map disagrees", (unsigned long long)n->id);
        if (n->slots != slots_for(t, n->upload_kbps))
            CHECK_FAIL("node %llu: slots %u, expected %u", (unsigned long long)n->id, n->slots,
                       slots_for(t, n->upload_kbps));
        if ((n->slots == 0) != (n->interior < 0) || n->interior >= (int)t->k)
            CHECK_FAIL("node %llu: %u slots but interior tree %d", (unsigned long long)n->id,
                       n->slots, n->interior);
        if (n->interior < 0 && (n->first_child != NIL || n->nchildren))
            CHECK_FAIL("node %llu: leaf everywhere but has children", (unsigned long long)n->id);
        if (n->dpos != NIL && (n->dpos >= t->ndirty || t->dirty[n->dpos] != v))
            CHECK_FAIL("node %llu: dirty position wrong", (unsigned long long)n->id);
    }
    if (live != t->count || strata_idmap_count(&t->map) != t->count)
        CHECK_FAIL("count %u, live %u, mapped %zu", t->count, live, strata_idmap_count(&t->map));
    uint32_t nfree = 0;
    for (uint32_t v = t->free_head; v != NIL; v = t->nodes[v].dpos) {
        if (v >= t->used || t->nodes[v].id || ++nfree > t->used)
            CHECK_FAIL("free list corrupt");
    }
    if (nfree + t->count != t->used)
        CHECK_FAIL("free list holds %u, expected %u", nfree, t->used - t->count);
    for (uint32_t i = 0; i < t->ndirty; i++) {
        uint32_t v = t->dirty[i];
        if (v >= t->used || !t->nodes[v].id || t->nodes[v].dpos != i)
            CHECK_FAIL("dirty entry %u corrupt", i);
    }
    for (unsigned s = 0; s < t->k; s++) {
        int err = check_tree(t, s, why, whylen);
        if (err)
            return err;
    }
    /* Shares are kept current by every call that changes a need; check_tree
     * above has already held each tree's children to its share. */
    uint32_t share[STRATA_WIRE_MAX_TREES];
    source_shares(t, share);
    for (unsigned s = 0; s < t->k; s++)
        if (t->sub[s].src_slots != share[s])
            CHECK_FAIL("tree %u: source slots %u, expected %u", s, t->sub[s].src_slots, share[s]);
    return 0;
}
