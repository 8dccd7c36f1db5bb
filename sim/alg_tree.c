/*
 * The "tree" and "splitstream" baselines: push down k stripe trees built by
 * a central tracker with no regard for latency or locality. Simulator
 * only; alg_common.h has the wire format and the playout window.
 *
 *   tree         k = 1: one tree, filled breadth-first (a new child goes
 *                to a random node among the shallowest with a free slot).
 *   splitstream  k = the scenario's k stripes, packet seq on stripe
 *                seq mod k, in the manner of SplitStream (Castro et al.,
 *                SOSP 2003): each node is interior in at most one stripe
 *                tree and a leaf in the others; a new child goes to a node
 *                drawn uniformly among all with a free slot in that stripe.
 *
 * Capacity. A peer declares its upload U in JOIN. The tracker gives it an
 * interior stripe (the one with the fewest slots so far, to keep the
 * stripes' capacities level) and floor(U x STRATA_SIMBL_USABLE_PERCENT% /
 * (rate / k)) child slots in it, at most STRATA_SIMBL_MAX_CHILDREN; an
 * unlimited uplink gets the maximum. The source has that many slots in
 * total, split evenly over the stripes, at least one each.
 *
 * The tracker (node 0) keeps the trees: each node's parent and depth per
 * stripe, each interior node's children, and per stripe the nodes with a
 * free slot that are connected to the source, bucketed by depth. A node
 * whose parent is gone, and its whole subtree, is disconnected and offers
 * no slot until it is attached again, so no choice can make a cycle. It
 * knows the source from the start (as a real tracker is configured with
 * its channel's origin). Messages: JOIN -> WELCOME (interior stripe,
 * slots, a parent per stripe or none); ASK (stripe, the parent that
 * failed) -> PARENT; HB every heartbeat_ms (unknown sender: WHO, join
 * again); LEAVE. Silence of 3.5 heartbeats makes the tracker forget a
 * node and disconnect its subtrees; before that, a node a child reported
 * failed is given no new children until the tracker hears from it again.
 *
 * Leaves. As in SplitStream, whose roots keep the children of their own
 * stripe and push the others down, the source's slots in a stripe are for
 * nodes that relay it: a leaf of stripe s goes under the source only when
 * no other node has a free slot, and a relay that finds no free slot takes
 * the slot of a leaf child of the shallowest relay that has one, and the
 * leaf goes under the new relay (push-down, told by PARENT). Without that,
 * leaves that took the last free slots, the source's first, would stop a
 * stripe tree from growing: when upload is short, or after failures, a
 * stripe could be left with no slot at all while relays wait outside.
 *
 * A node ATTACHes to the parent it is given and repeats ATTACH every
 * heartbeat (the child's keepalive); a parent sends KEEPALIVE to each child
 * every heartbeat, relays each DATA packet of its interior stripe to its
 * children as it arrives, and drops a child silent for 3.5 heartbeats. A
 * child that hears nothing from a parent for 2.5 heartbeats, or gets LEAVE
 * or REFUSE from it, ASKs the tracker again; without a parent it asks
 * every TREE_ASK_RETRY_MS. Nothing is retransmitted: what a stripe loses
 * while its parent is being replaced is lost, as in the designs copied.
 *
 * Play-out, with the scenario's playout delay. Nothing is repaired, so a
 * packet sent before a stripe's parent took the node on never comes; a
 * start at f - (k - 1) after the first packet f (as a strata peer does)
 * would stall a whole playout delay on those. A node therefore buffers from
 * its first packet and starts playing once every stripe has delivered one,
 * at max(first of each stripe) - (k - 1), the earliest seq from which every
 * stripe's packets arrive; or after a playout delay if a stripe stays
 * silent. With k = 1 that is the first packet, at once.
 *
 * Timers per node: join_at (until WELCOME), tick_at (heartbeat work),
 * ask_at per stripe, start_by, the playout deadline; the tracker's
 * sweep_at.
 */
#include "alg_common.h"

#include <string.h>

enum tree_params {
    TREE_JOIN_RETRY_MS = 1000,
    TREE_ASK_RETRY_MS = 1000,
    TREE_PEER_OUTBOX = 192,
    TREE_FIXED_OUTBOX = 2048,
    TREE_NONE = UINT32_MAX,
    TREE_DEPTH_NONE = 0xffff,
    TREE_BUCKET_NONE = 0xffff,
    TREE_PUSHDOWN_SCAN = 512,
};

/* A growable list of node indexes. */
typedef struct ulist {
    uint32_t *v;
    uint32_t n, cap;
} ulist;

/* --- a tree node (peer or source) ---------------------------------------------------------- */

typedef struct tparent {
    strata_addr addr; /* zero: none */
    uint64_t heard_ns;
    uint64_t ask_at; /* STRATA_NEVER unless waiting to ask */
} tparent;

typedef struct tchild {
    uint64_t heard_ns;
    uint32_t node;
    uint16_t port;
} tchild;

typedef struct tkids {
    tchild *v;
    uint16_t n, cap;
} tkids;

typedef struct tnode {
    strata_simbl_window win;
    strata_rng rng;
    uint64_t tick_at, join_at;
    uint64_t start_by;                        /* play from then even if a stripe is still silent */
    uint64_t first[STRATA_SIMBL_MAX_STRIPES]; /* first seq heard per stripe */
    tparent par[STRATA_SIMBL_MAX_STRIPES];
    tkids kids[STRATA_SIMBL_MAX_STRIPES];
    uint32_t kbps;
    uint16_t port;
    uint16_t fwd_mask; /* stripes it relayed DATA in */
    uint8_t welcomed, is_source, interior, slots;
    uint8_t stripes_heard, playing;
} tnode;

/* --- the algorithm ---------------------------------------------------------------------------- */

typedef struct tree_alg {
    strata_simbl_base b; /* first: the shared entries take the state as one */
    unsigned k;
    int breadth_first;
    uint64_t src_seq;
    tnode **node;
    /* the tracker's trees */
    uint32_t *parent;  /* nodes x k */
    uint16_t *depth;   /* nodes x k; TREE_DEPTH_NONE = not connected */
    uint16_t *bucket;  /* nodes x k; TREE_BUCKET_NONE = not a candidate */
    uint32_t *cpos;    /* nodes x k: position in its bucket */
    uint8_t *interior; /* nodes */
    uint8_t *slots;    /* nodes; the source: per stripe */
    ulist *kids;       /* nodes: children in the interior stripe */
    ulist src_kids[STRATA_SIMBL_MAX_STRIPES];
    ulist *bk[STRATA_SIMBL_MAX_STRIPES]; /* candidates by depth */
    uint32_t nbk[STRATA_SIMBL_MAX_STRIPES];
    uint32_t cand_total[STRATA_SIMBL_MAX_STRIPES];
    uint64_t slot_total[STRATA_SIMBL_MAX_STRIPES];
    uint32_t *stack;      /* nodes x 2: depth-first walks */
    uint64_t *suspect_ns; /* nodes: when a child last reported it failed */
    /* counters */
    uint64_t asks, failed_parents, no_parent, refusals, push_downs, tracker_nomem;
} tree_alg;

static int ulist_push(const strata_alloc *al, ulist *l, uint32_t x)
{
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        uint32_t *v = strata_mem_realloc(al, l->v, (size_t)cap * sizeof *v);
        if (!v)
            return STRATA_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

static void ulist_free(const strata_alloc *al, ulist *l)
{
    strata_mem_free(al, l->v);
    memset(l, 0, sizeof *l);
}

/* --- the tracker's trees ------------------------------------------------------------------------
 */

static size_t at(const tree_alg *a, uint32_t node, unsigned s)
{
    return (size_t)node * a->k + s;
}

/* The children of node in stripe s at the tracker, or NULL if node relays
 * nothing in s. */
static ulist *kids_of(tree_alg *a, uint32_t node, unsigned s)
{
    if (node == STRATA_WORLD_SOURCE)
        return &a->src_kids[s];
    return a->interior[node] == s ? &a->kids[node] : NULL;
}

static uint32_t free_slots(tree_alg *a, uint32_t node, unsigned s)
{
    const ulist *l = kids_of(a, node, s);
    if (!l || !a->b.reg.m[node].alive)
        return 0;
    return a->slots[node] > l->n ? a->slots[node] - l->n : 0;
}

static void bucket_remove(tree_alg *a, uint32_t node, unsigned s)
{
    size_t i = at(a, node, s);
    uint16_t b = a->bucket[i];
    if (b == TREE_BUCKET_NONE)
        return;
    ulist *l = &a->bk[s][b];
    uint32_t pos = a->cpos[i];
    uint32_t last = l->v[--l->n];
    l->v[pos] = last;
    a->cpos[at(a, last, s)] = pos;
    a->bucket[i] = TREE_BUCKET_NONE;
    a->cand_total[s]--;
}

static void bucket_add(tree_alg *a, uint32_t node, unsigned s, uint16_t d)
{
    if (d >= a->nbk[s]) {
        uint32_t n = d + 1u;
        if (n < 2 * a->nbk[s])
            n = 2 * a->nbk[s];
        ulist *v = strata_mem_realloc(a->b.alloc, a->bk[s], (size_t)n * sizeof *v);
        if (!v) {
            a->tracker_nomem++;
            return;
        }
        memset(v + a->nbk[s], 0, (n - a->nbk[s]) * sizeof *v);
        a->bk[s] = v;
        a->nbk[s] = n;
    }
    ulist *l = &a->bk[s][d];
    if (ulist_push(a->b.alloc, l, node) < 0) {
        a->tracker_nomem++;
        return;
    }
    size_t i = at(a, node, s);
    a->bucket[i] = d;
    a->cpos[i] = l->n - 1;
    a->cand_total[s]++;
}

/* Puts node in the right candidate bucket of stripe s, or in none. */
static void cand_update(tree_alg *a, uint32_t node, unsigned s)
{
    size_t i = at(a, node, s);
    uint16_t d = a->depth[i];
    int want = d != TREE_DEPTH_NONE && free_slots(a, node, s) > 0;
    if (a->bucket[i] != TREE_BUCKET_NONE && (!want || a->bucket[i] != d))
        bucket_remove(a, node, s);
    if (want && a->bucket[i] == TREE_BUCKET_NONE)
        bucket_add(a, node, s, d);
}

/* Sets the depth of root's subtree in stripe s (root at d). */
static void set_depth(tree_alg *a, uint32_t root, unsigned s, uint16_t d)
{
    size_t top = 0;
    a->stack[top++] = root;
    a->stack[top++] = d;
    while (top) {
        uint16_t dx = (uint16_t)a->stack[--top];
        uint32_t x = a->stack[--top];
        a->depth[at(a, x, s)] = dx;
        cand_update(a, x, s);
        const ulist *l = kids_of(a, x, s);
        uint16_t dk = dx == TREE_DEPTH_NONE || dx >= TREE_DEPTH_NONE - 1 ? TREE_DEPTH_NONE
                                                                         : (uint16_t)(dx + 1);
        /* Each node is on the stack once: the trees have no cycles. */
        for (uint32_t c = 0; l && c < l->n && top + 2 <= 2 * (size_t)a->b.nodes; c++) {
            a->stack[top++] = l->v[c];
            a->stack[top++] = dk;
        }
    }
}

static void detach(tree_alg *a, uint32_t c, unsigned s)
{
    size_t i = at(a, c, s);
    uint32_t p = a->parent[i];
    if (p == TREE_NONE)
        return;
    ulist *l = kids_of(a, p, s);
    for (uint32_t j = 0; l && j < l->n; j++) {
        if (l->v[j] == c) {
            l->v[j] = l->v[--l->n];
            break;
        }
    }
    a->parent[i] = TREE_NONE;
    cand_update(a, p, s);
    set_depth(a, c, s, TREE_DEPTH_NONE);
}

static int attach(tree_alg *a, uint32_t c, unsigned s, uint32_t p)
{
    ulist *l = kids_of(a, p, s);
    if (!l || ulist_push(a->b.alloc, l, c) < 0) {
        a->tracker_nomem++;
        return STRATA_ERR_NOMEM;
    }
    a->parent[at(a, c, s)] = p;
    cand_update(a, p, s);
    uint16_t dp = a->depth[at(a, p, s)];
    set_depth(a, c, s, dp >= TREE_DEPTH_NONE - 1 ? TREE_DEPTH_NONE : (uint16_t)(dp + 1));
    return 0;
}

/* Whether x may be c's parent in stripe s: not c, not the parent that
 * failed, not a node reported failed that has not been heard since, and
 * not the source for a node that will not relay in s (see "Leaves"). */
static int acceptable(const tree_alg *a, uint32_t x, uint32_t c, unsigned s, uint32_t avoid)
{
    if (x == c || x == avoid)
        return 0;
    if (x == STRATA_WORLD_SOURCE)
        return a->interior[c] == s;
    return a->b.reg.m[x].heard_ns > a->suspect_ns[x];
}

/* The first acceptable candidate of l from position r on, or TREE_NONE. */
static uint32_t scan(const tree_alg *a, const ulist *l, uint32_t r, uint32_t c, unsigned s,
                     uint32_t avoid)
{
    for (uint32_t i = 0; i < l->n; i++) {
        uint32_t x = l->v[(r + i) % l->n];
        if (acceptable(a, x, c, s, avoid))
            return x;
    }
    return TREE_NONE;
}

/* A parent for c in stripe s, other than avoid: breadth-first (a random
 * node of the shallowest bucket) or uniformly among all candidates; the
 * source for a leaf only when nothing else is free. */
static uint32_t choose(tree_alg *a, uint32_t c, unsigned s, uint32_t avoid)
{
    uint32_t total = a->cand_total[s];
    if (total == 0)
        return TREE_NONE;
    if (a->breadth_first) {
        for (uint32_t d = 0; d < a->nbk[s]; d++) {
            const ulist *l = &a->bk[s][d];
            if (l->n == 0)
                continue;
            uint32_t x = scan(a, l, (uint32_t)strata_rng_below(&a->b.trk_rng, l->n), c, s, avoid);
            if (x != TREE_NONE)
                return x;
        }
    } else {
        for (int tries = 0; tries < 4; tries++) {
            uint32_t left = (uint32_t)strata_rng_below(&a->b.trk_rng, total);
            for (uint32_t d = 0; d < a->nbk[s]; d++) {
                const ulist *l = &a->bk[s][d];
                if (left < l->n) {
                    if (acceptable(a, l->v[left], c, s, avoid))
                        return l->v[left];
                    break;
                }
                left -= l->n;
            }
        }
        /* Few candidates, most of them unacceptable: look at them all. */
        for (uint32_t d = 0; d < a->nbk[s]; d++) {
            uint32_t x = scan(a, &a->bk[s][d], 0, c, s, avoid);
            if (x != TREE_NONE)
                return x;
        }
    }
    if (a->bucket[at(a, STRATA_WORLD_SOURCE, s)] != TREE_BUCKET_NONE &&
        avoid != STRATA_WORLD_SOURCE)
        return STRATA_WORLD_SOURCE;
    return TREE_NONE;
}

static strata_addr node_addr(tree_alg *a, uint32_t node)
{
    return node == TREE_NONE ? (strata_addr){0, 0} : strata_simbl_addr(node, a->b.reg.m[node].port);
}

static void tracker_send_parent(tree_alg *a, uint32_t c, unsigned s, strata_addr to)
{
    strata_simbl_msg r;
    memset(&r, 0, sizeof r);
    r.type = STRATA_SIMBL_PARENT;
    r.stripe = (uint8_t)s;
    r.addr = node_addr(a, a->parent[at(a, c, s)]);
    strata_simbl_send(&a->b, STRATA_WORLD_CONTROL, to, &r);
}

/* Push-down: a relay c of stripe s that finds no free slot takes the slot
 * of a leaf child L of the shallowest relay X that has one (breadth-first
 * from the source, at most TREE_PUSHDOWN_SCAN relays looked at), and L
 * goes under c (told by PARENT). Returns X or TREE_NONE. */
static uint32_t push_down(tree_alg *a, uint32_t c, unsigned s)
{
    if (a->interior[c] != s || a->slots[c] == 0)
        return TREE_NONE;
    /* Find first: the walk below uses the same scratch as set_depth. */
    uint32_t head = 0, tail = 0, x = TREE_NONE, leaf = TREE_NONE;
    a->stack[tail++] = STRATA_WORLD_SOURCE;
    while (head < tail && head < TREE_PUSHDOWN_SCAN && leaf == TREE_NONE) {
        x = a->stack[head++];
        const ulist *l = kids_of(a, x, s);
        for (uint32_t i = 0; l && i < l->n && leaf == TREE_NONE; i++) {
            uint32_t k = l->v[i];
            if (a->interior[k] != s)
                leaf = k;
            else if (tail < 2 * a->b.nodes)
                a->stack[tail++] = k;
        }
    }
    if (leaf == TREE_NONE)
        return TREE_NONE;
    detach(a, leaf, s);
    if (attach(a, c, s, x) < 0)
        return TREE_NONE;
    if (attach(a, leaf, s, c) == 0)
        tracker_send_parent(a, leaf, s, node_addr(a, leaf));
    a->push_downs++;
    return x;
}

/* Finds c a parent in stripe s (other than avoid) and attaches it there.
 * Returns the parent or TREE_NONE. */
static uint32_t place(tree_alg *a, uint32_t c, unsigned s, uint32_t avoid)
{
    uint32_t p = choose(a, c, s, avoid);
    if (p != TREE_NONE)
        return attach(a, c, s, p) == 0 ? p : TREE_NONE;
    return push_down(a, c, s);
}

/* Forgets node's place in every tree: detaches it from its parents and
 * disconnects its children's subtrees. */
static void forget(tree_alg *a, uint32_t node)
{
    for (unsigned s = 0; s < a->k; s++) {
        detach(a, node, s);
        ulist *l = kids_of(a, node, s);
        for (uint32_t j = 0; l && j < l->n; j++) {
            a->parent[at(a, l->v[j], s)] = TREE_NONE;
            set_depth(a, l->v[j], s, TREE_DEPTH_NONE);
        }
        if (l)
            l->n = 0;
        bucket_remove(a, node, s);
        a->depth[at(a, node, s)] = TREE_DEPTH_NONE;
    }
    if (a->interior[node] < a->k)
        a->slot_total[a->interior[node]] -= a->slots[node];
    if (node != STRATA_WORLD_SOURCE) {
        ulist_free(a->b.alloc, &a->kids[node]);
        a->interior[node] = STRATA_SIMBL_NO_STRIPE;
        a->slots[node] = 0;
    }
}

/* Child slots for a declared upload in the interior stripe. */
static uint32_t slots_for(const tree_alg *a, uint32_t kbps)
{
    if (kbps == 0)
        return STRATA_SIMBL_MAX_CHILDREN;
    uint64_t s = (uint64_t)kbps * STRATA_SIMBL_USABLE_PERCENT * a->k / (100ull * a->b.rate_kbps);
    return s > STRATA_SIMBL_MAX_CHILDREN ? STRATA_SIMBL_MAX_CHILDREN : (uint32_t)s;
}

/* Makes the source (registered by strata_simbl_tracker_up) the root of
 * every stripe. */
static void root_source(tree_alg *a)
{
    uint32_t src = STRATA_WORLD_SOURCE, kbps = a->b.reg.m[src].kbps;
    uint32_t per = kbps == 0 ? STRATA_SIMBL_MAX_CHILDREN : slots_for(a, kbps) / a->k;
    a->slots[src] = (uint8_t)(per ? per : 1);
    for (unsigned s = 0; s < a->k; s++) {
        a->slot_total[s] += a->slots[src];
        a->depth[at(a, src, s)] = 0;
        cand_update(a, src, s);
    }
}

/* A new peer: its interior stripe and slots, then a parent per stripe. */
static void tracker_place(tree_alg *a, uint32_t c, uint32_t kbps)
{
    uint32_t slots = slots_for(a, kbps);
    a->slots[c] = (uint8_t)slots;
    a->interior[c] = STRATA_SIMBL_NO_STRIPE;
    if (slots > 0) {
        unsigned best = 0;
        for (unsigned s = 1; s < a->k; s++)
            if (a->slot_total[s] < a->slot_total[best])
                best = s;
        a->interior[c] = (uint8_t)best;
        a->slot_total[best] += slots;
    }
    for (unsigned s = 0; s < a->k; s++)
        place(a, c, s, TREE_NONE);
}

static void tracker_welcome(tree_alg *a, uint32_t c, strata_addr to)
{
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_WELCOME;
    m.k = (uint8_t)a->k;
    m.count = (uint8_t)a->k;
    m.interior = a->interior[c];
    m.slots = a->slots[c];
    for (unsigned s = 0; s < a->k; s++)
        m.addrs[s] = node_addr(a, a->parent[at(a, c, s)]);
    strata_simbl_send(&a->b, STRATA_WORLD_CONTROL, to, &m);
}

static void tracker_ask(tree_alg *a, uint32_t c, strata_addr to, const strata_simbl_msg *m,
                        uint64_t now)
{
    unsigned s = m->stripe;
    uint32_t failed = strata_world_node_of(m->addr);
    a->asks++;
    if (!strata_addr_is_zero(m->addr))
        a->failed_parents++;
    if (failed < a->b.nodes && strata_simbl_registry_get(&a->b.reg, failed, m->addr.port))
        a->suspect_ns[failed] = now;
    detach(a, c, s);
    if (place(a, c, s, failed < a->b.nodes ? failed : TREE_NONE) == TREE_NONE)
        a->no_parent++;
    tracker_send_parent(a, c, s, to);
}

/* JOIN places a new peer (a repeated JOIN gets the same answer); ASK finds
 * a new parent (HB and LEAVE are the base's). */
static int tracker_hook(void *alg, strata_addr from, const strata_simbl_msg *m, uint64_t now)
{
    tree_alg *a = alg;
    uint32_t fn = strata_world_node_of(from);
    if (m->type == STRATA_SIMBL_JOIN) {
        strata_simbl_member *mem = strata_simbl_registry_get(&a->b.reg, fn, from.port);
        if (mem) {
            mem->heard_ns = now;
        } else if (fn != STRATA_WORLD_SOURCE) {
            if (a->b.reg.m[fn].alive) {
                forget(a, fn); /* an older session of that slot */
                strata_simbl_registry_remove(&a->b.reg, fn);
            }
            strata_simbl_registry_add(&a->b.reg, fn, from.port, m->kbps, now);
            tracker_place(a, fn, m->kbps);
        } else {
            a->b.drops[STRATA_SIMBL_DROP_STRANGER]++; /* not the source we know */
            return STRATA_ERR_UNEXPECTED;
        }
        tracker_welcome(a, fn, from);
        return 0;
    }
    if (m->type != STRATA_SIMBL_ASK) {
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    if (m->stripe >= a->k || fn == STRATA_WORLD_SOURCE) {
        a->b.drops[STRATA_SIMBL_DROP_RANGE]++;
        return STRATA_ERR_RANGE;
    }
    tracker_ask(a, fn, from, m, now);
    return 0;
}

static void forget_hook(void *alg, uint32_t node)
{
    forget(alg, node);
}

/* --- a node ------------------------------------------------------------------------------------
 */

static tkids *node_kids(tree_alg *a, tnode *n, unsigned s)
{
    if (s >= a->k)
        return NULL;
    if (n->is_source || n->interior == s)
        return &n->kids[s];
    return NULL;
}

static int find_kid(const tkids *l, uint32_t node)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].node == node)
            return i;
    return -1;
}

static void drop_kid(tkids *l, int i)
{
    l->v[i] = l->v[--l->n];
}

static void send_ask(tree_alg *a, uint32_t idx, tnode *n, unsigned s, strata_addr failed,
                     uint64_t now)
{
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_ASK;
    m.stripe = (uint8_t)s;
    m.addr = failed;
    strata_simbl_send(&a->b, idx, strata_simbl_tracker_addr(&a->b), &m);
    n->par[s].addr = (strata_addr){0, 0};
    n->par[s].ask_at = now + STRATA_MS(TREE_ASK_RETRY_MS);
}

static void send_join(tree_alg *a, uint32_t idx, tnode *n, uint64_t now)
{
    strata_simbl_send_kbps(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_JOIN, 0,
                           n->kbps);
    n->join_at = now + STRATA_MS(TREE_JOIN_RETRY_MS);
}

/* Adopts addr as the parent of stripe s (zero: none yet, ask later). */
static void set_parent(tree_alg *a, uint32_t idx, tnode *n, unsigned s, strata_addr addr,
                       uint64_t now)
{
    tparent *p = &n->par[s];
    if (!strata_addr_is_zero(p->addr) && !strata_addr_eq(p->addr, addr))
        strata_simbl_send_bare(&a->b, idx, p->addr, STRATA_SIMBL_DETACH, (uint8_t)s);
    p->addr = addr;
    p->heard_ns = now;
    if (strata_addr_is_zero(addr)) {
        p->ask_at = now + STRATA_MS(TREE_ASK_RETRY_MS);
        return;
    }
    p->ask_at = STRATA_NEVER;
    strata_simbl_send_bare(&a->b, idx, addr, STRATA_SIMBL_ATTACH, (uint8_t)s);
}

static void on_welcome(tree_alg *a, uint32_t idx, tnode *n, const strata_simbl_msg *m, uint64_t now)
{
    if (m->k != a->k) {
        a->b.drops[STRATA_SIMBL_DROP_RANGE]++;
        return;
    }
    if (n->welcomed && !n->is_source) {
        /* The tracker forgot us and placed us anew: our children are no
         * longer ours in its view, so send them back to it. */
        for (unsigned s = 0; s < a->k; s++) {
            for (uint16_t i = 0; i < n->kids[s].n; i++)
                strata_simbl_send_bare(
                    &a->b, idx, strata_simbl_addr(n->kids[s].v[i].node, n->kids[s].v[i].port),
                    STRATA_SIMBL_REFUSE, (uint8_t)s);
            n->kids[s].n = 0;
        }
    }
    n->welcomed = 1;
    if (n->is_source)
        return;
    n->interior = m->interior;
    n->slots = m->slots;
    for (unsigned s = 0; s < a->k; s++)
        set_parent(a, idx, n, s, m->addrs[s], now);
}

static void on_attach(tree_alg *a, uint32_t idx, tnode *n, strata_addr from, unsigned s,
                      uint64_t now)
{
    tkids *l = node_kids(a, n, s);
    uint32_t fn = strata_world_node_of(from);
    int i = l ? find_kid(l, fn) : -1;
    if (i >= 0) {
        l->v[i].port = from.port;
        l->v[i].heard_ns = now;
        return;
    }
    if (!l || l->n >= STRATA_SIMBL_MAX_CHILDREN) {
        a->refusals++;
        strata_simbl_send_bare(&a->b, idx, from, STRATA_SIMBL_REFUSE, (uint8_t)s);
        return;
    }
    if (l->n == l->cap) {
        uint16_t cap = (uint16_t)(l->cap ? l->cap * 2 : 4);
        tchild *v = strata_mem_realloc(a->b.alloc, l->v, (size_t)cap * sizeof *v);
        if (!v) {
            strata_simbl_send_bare(&a->b, idx, from, STRATA_SIMBL_REFUSE, (uint8_t)s);
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (tchild){now, fn, from.port};
}

static void play(tree_alg *a, uint32_t idx, tnode *n, uint64_t now)
{
    strata_simbl_play(&a->b, idx, &n->win, now);
}

/* Sends one DATA buffer to every child of stripe s. */
static void relay(tree_alg *a, uint32_t idx, tnode *n, unsigned s, const strata_simbl_msg *m)
{
    tkids *l = node_kids(a, n, s);
    if (!l || l->n == 0)
        return;
    strata_buf *buf = strata_simbl_pack(a->b.alloc, m);
    if (!buf) {
        a->b.drops[STRATA_SIMBL_DROP_OUTBOX]++;
        return;
    }
    for (uint16_t i = 0; i < l->n; i++)
        strata_simbl_push(&a->b, idx, strata_simbl_addr(l->v[i].node, l->v[i].port), buf);
    strata_buf_unref(buf);
    n->fwd_mask = (uint16_t)(n->fwd_mask | (1u << s));
}

/* See "Play-out" above. */
static void maybe_start(tree_alg *a, tnode *n, uint64_t now)
{
    if (n->playing || !n->win.started)
        return;
    if (n->stripes_heard == a->k) {
        uint64_t top = 0;
        for (unsigned s = 0; s < a->k; s++)
            top = n->first[s] > top ? n->first[s] : top;
        strata_simbl_window_skip_to(&n->win, top >= a->k - 1 ? top - (a->k - 1) : 0);
    } else if (now < n->start_by) {
        return;
    }
    n->playing = 1;
}

static void on_data(tree_alg *a, uint32_t idx, tnode *n, const strata_simbl_msg *m, uint64_t now)
{
    unsigned s = m->stripe;
    if (!n->win.started) {
        uint64_t back = a->k - 1;
        strata_simbl_window_start(&n->win, m->seq > back ? m->seq - back : 0);
        n->start_by = now + a->b.delay_ns;
    }
    if (strata_simbl_window_insert(&n->win, m->seq, m->payload, now) == 1) {
        if (n->first[s] == UINT64_MAX) {
            n->first[s] = m->seq;
            n->stripes_heard++;
        }
        relay(a, idx, n, s, m);
    }
    maybe_start(a, n, now);
    if (n->playing)
        play(a, idx, n, now);
}

/* The stripes in which from is our parent, as a mask. */
static unsigned parent_mask(const tree_alg *a, const tnode *n, strata_addr from)
{
    unsigned mask = 0;
    for (unsigned s = 0; s < a->k; s++)
        if (strata_addr_eq(n->par[s].addr, from))
            mask |= 1u << s;
    return mask;
}

static int node_hook(void *alg, uint32_t idx, strata_addr from, const strata_simbl_msg *m,
                     uint64_t now)
{
    tree_alg *a = alg;
    tnode *n = a->node[idx];
    uint32_t fn = strata_world_node_of(from);
    if (fn == STRATA_WORLD_CONTROL) {
        switch (m->type) {
        case STRATA_SIMBL_WELCOME:
            on_welcome(a, idx, n, m, now);
            return 0;
        case STRATA_SIMBL_PARENT:
            if (m->stripe >= a->k || !n->welcomed || n->is_source)
                break;
            set_parent(a, idx, n, m->stripe, m->addr, now);
            return 0;
        case STRATA_SIMBL_WHO:
            n->welcomed = 0;
            send_join(a, idx, n, now);
            return 0;
        default:
            break;
        }
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    unsigned pm = parent_mask(a, n, from);
    switch (m->type) {
    case STRATA_SIMBL_DATA:
        if (m->stripe >= a->k || !(pm >> m->stripe & 1u) || n->is_source) {
            a->b.drops[STRATA_SIMBL_DROP_STRANGER]++;
            return STRATA_ERR_UNEXPECTED;
        }
        n->par[m->stripe].heard_ns = now;
        on_data(a, idx, n, m, now);
        return 0;
    case STRATA_SIMBL_KEEPALIVE:
        if (m->stripe < a->k && (pm >> m->stripe & 1u))
            n->par[m->stripe].heard_ns = now;
        return 0;
    case STRATA_SIMBL_REFUSE:
        if (m->stripe < a->k && (pm >> m->stripe & 1u))
            send_ask(a, idx, n, m->stripe, from, now);
        return 0;
    case STRATA_SIMBL_ATTACH:
        on_attach(a, idx, n, from, m->stripe, now);
        return 0;
    case STRATA_SIMBL_DETACH: {
        tkids *l = node_kids(a, n, m->stripe);
        int i = l ? find_kid(l, fn) : -1;
        if (i >= 0 && l->v[i].port == from.port)
            drop_kid(l, i);
        return 0;
    }
    case STRATA_SIMBL_LEAVE:
        for (unsigned s = 0; s < a->k; s++) {
            if (pm >> s & 1u)
                send_ask(a, idx, n, s, from, now);
            tkids *l = node_kids(a, n, s);
            int i = l ? find_kid(l, fn) : -1;
            if (i >= 0 && l->v[i].port == from.port)
                drop_kid(l, i);
        }
        return 0;
    default:
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
}

/* Heartbeat work: the tracker's HB, parents checked and refreshed,
 * children expired and kept alive. */
static void node_tick(tree_alg *a, uint32_t idx, tnode *n, uint64_t now)
{
    strata_simbl_send_kbps(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_HB, 0,
                           n->kbps);
    uint64_t hb_ns = a->b.hb_ns;
    if (n->welcomed && !n->is_source) {
        for (unsigned s = 0; s < a->k; s++) {
            tparent *p = &n->par[s];
            if (strata_addr_is_zero(p->addr))
                continue;
            if (now - p->heard_ns > hb_ns * 5 / 2)
                send_ask(a, idx, n, s, p->addr, now);
            else
                strata_simbl_send_bare(&a->b, idx, p->addr, STRATA_SIMBL_ATTACH, (uint8_t)s);
        }
    }
    for (unsigned s = 0; s < a->k; s++) {
        tkids *l = node_kids(a, n, s);
        for (int i = 0; l && i < l->n;) {
            if (now - l->v[i].heard_ns > hb_ns * 7 / 2) {
                drop_kid(l, i);
                continue;
            }
            strata_simbl_send_bare(&a->b, idx, strata_simbl_addr(l->v[i].node, l->v[i].port),
                                   STRATA_SIMBL_KEEPALIVE, (uint8_t)s);
            i++;
        }
    }
    n->tick_at = now + hb_ns;
}

/* --- the strata_simalg entries ------------------------------------------------------------------
 */

static void node_del(void *alg, uint32_t idx)
{
    tree_alg *a = alg;
    tnode *n = a->node[idx];
    if (!n)
        return;
    strata_simbl_window_free(&n->win);
    for (unsigned s = 0; s < STRATA_SIMBL_MAX_STRIPES; s++)
        strata_mem_free(a->b.alloc, n->kids[s].v);
    strata_mem_free(a->b.alloc, n);
    a->node[idx] = NULL;
}

static void tree_free(void *state)
{
    tree_alg *a = state;
    if (!a)
        return;
    const strata_alloc *al = a->b.alloc;
    if (a->node)
        for (uint32_t i = 0; i < a->b.nodes; i++)
            node_del(a, i);
    if (a->kids)
        for (uint32_t i = 0; i < a->b.nodes; i++)
            ulist_free(al, &a->kids[i]);
    for (unsigned s = 0; s < STRATA_SIMBL_MAX_STRIPES; s++) {
        ulist_free(al, &a->src_kids[s]);
        for (uint32_t d = 0; d < a->nbk[s]; d++)
            ulist_free(al, &a->bk[s][d]);
        strata_mem_free(al, a->bk[s]);
    }
    strata_mem_free(al, a->node);
    strata_mem_free(al, a->parent);
    strata_mem_free(al, a->depth);
    strata_mem_free(al, a->bucket);
    strata_mem_free(al, a->cpos);
    strata_mem_free(al, a->interior);
    strata_mem_free(al, a->slots);
    strata_mem_free(al, a->kids);
    strata_mem_free(al, a->stack);
    strata_mem_free(al, a->suspect_ns);
    strata_simbl_base_free(&a->b);
    strata_mem_free(al, a);
}

static int tree_init_k(strata_world *w, void **state, unsigned k, int breadth_first)
{
    static const strata_simbl_hooks hooks = {tracker_hook, node_hook, node_del, forget_hook};
    const strata_alloc *al = strata_world_alloc(w);
    tree_alg *a = strata_mem_calloc(al, 1, sizeof *a);
    if (!a)
        return STRATA_ERR_NOMEM;
    a->b.alloc = al;
    a->k = k;
    a->breadth_first = breadth_first;
    int rc = strata_simbl_base_init(&a->b, w, &hooks);
    if (rc < 0 || k < 1 || k > STRATA_SIMBL_MAX_STRIPES) {
        tree_free(a);
        return rc < 0 ? rc : STRATA_ERR_INVAL;
    }
    size_t nk = (size_t)a->b.nodes * k;
    a->node = strata_mem_calloc(al, a->b.nodes, sizeof *a->node);
    a->parent = strata_mem_alloc(al, nk * sizeof *a->parent);
    a->depth = strata_mem_alloc(al, nk * sizeof *a->depth);
    a->bucket = strata_mem_alloc(al, nk * sizeof *a->bucket);
    a->cpos = strata_mem_calloc(al, nk, sizeof *a->cpos);
    a->interior = strata_mem_alloc(al, a->b.nodes);
    a->slots = strata_mem_calloc(al, a->b.nodes, 1);
    a->kids = strata_mem_calloc(al, a->b.nodes, sizeof *a->kids);
    a->stack = strata_mem_calloc(al, 2 * (size_t)a->b.nodes, sizeof *a->stack);
    a->suspect_ns = strata_mem_calloc(al, a->b.nodes, sizeof *a->suspect_ns);
    if (!a->node || !a->parent || !a->depth || !a->bucket || !a->cpos || !a->interior ||
        !a->slots || !a->kids || !a->stack || !a->suspect_ns) {
        tree_free(a);
        return STRATA_ERR_NOMEM;
    }
    for (size_t i = 0; i < nk; i++) {
        a->parent[i] = TREE_NONE;
        a->depth[i] = TREE_DEPTH_NONE;
        a->bucket[i] = TREE_BUCKET_NONE;
    }
    memset(a->interior, STRATA_SIMBL_NO_STRIPE, a->b.nodes);
    *state = a;
    return 0;
}

static int tree_init(strata_world *w, void **state)
{
    return tree_init_k(w, state, 1, 1);
}

static int split_init(strata_world *w, void **state)
{
    return tree_init_k(w, state, strata_world_scenario(w)->k, 0);
}

static int tree_node_up(void *state, uint32_t idx, uint64_t now)
{
    tree_alg *a = state;
    strata_world *w = a->b.w;
    if (idx >= a->b.nodes)
        return STRATA_ERR_INVAL;
    int fixed = idx == STRATA_WORLD_CONTROL || idx == STRATA_WORLD_SOURCE;
    size_t cap = fixed ? TREE_FIXED_OUTBOX : TREE_PEER_OUTBOX;
    if (idx == STRATA_WORLD_CONTROL) {
        int rc = strata_simbl_base_up(&a->b, idx, cap);
        if (rc == 0)
            rc = strata_simbl_tracker_up(&a->b, now);
        if (rc == 0)
            root_source(a);
        return rc;
    }
    node_del(a, idx);
    tnode *n = strata_mem_calloc(a->b.alloc, 1, sizeof *n);
    if (!n)
        return STRATA_ERR_NOMEM;
    a->node[idx] = n;
    if (strata_simbl_window_init(&n->win, a->b.alloc, a->b.window, a->b.delay_ns) < 0 ||
        strata_simbl_base_up(&a->b, idx, cap) < 0) {
        node_del(a, idx);
        return STRATA_ERR_NOMEM;
    }
    strata_rng_seed(&n->rng, strata_world_node_seed(w, idx));
    n->port = strata_world_addr(w, idx).port;
    n->kbps = strata_world_upload_kbps(w, idx);
    n->is_source = idx == STRATA_WORLD_SOURCE;
    n->interior = STRATA_SIMBL_NO_STRIPE;
    for (unsigned s = 0; s < STRATA_SIMBL_MAX_STRIPES; s++) {
        n->par[s].ask_at = STRATA_NEVER;
        n->first[s] = UINT64_MAX;
    }
    n->start_by = STRATA_NEVER;
    n->tick_at = strata_simbl_jitter(&n->rng, now + a->b.hb_ns / 2, a->b.hb_ns);
    send_join(a, idx, n, now);
    return 0;
}

static void tree_node_down(void *state, uint32_t idx, int graceful, uint64_t now)
{
    tree_alg *a = state;
    tnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    (void)now;
    if (!graceful || !n)
        return;
    strata_simbl_send_bare(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_LEAVE, 0);
    for (unsigned s = 0; s < a->k; s++) {
        if (!strata_addr_is_zero(n->par[s].addr))
            strata_simbl_send_bare(&a->b, idx, n->par[s].addr, STRATA_SIMBL_LEAVE, 0);
        for (uint16_t i = 0; i < n->kids[s].n; i++)
            strata_simbl_send_bare(&a->b, idx,
                                   strata_simbl_addr(n->kids[s].v[i].node, n->kids[s].v[i].port),
                                   STRATA_SIMBL_LEAVE, 0);
    }
}

static void tree_handle_timeout(void *state, uint32_t idx, uint64_t now)
{
    tree_alg *a = state;
    if (idx == STRATA_WORLD_CONTROL) {
        strata_simbl_tracker_timeout(&a->b, now);
        return;
    }
    tnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    if (!n)
        return;
    if (!n->welcomed && now >= n->join_at)
        send_join(a, idx, n, now);
    if (now >= n->tick_at)
        node_tick(a, idx, n, now);
    for (unsigned s = 0; n->welcomed && s < a->k; s++)
        if (strata_addr_is_zero(n->par[s].addr) && now >= n->par[s].ask_at)
            send_ask(a, idx, n, s, (strata_addr){0, 0}, now);
    maybe_start(a, n, now);
    if (n->playing && now >= strata_simbl_window_deadline(&n->win))
        play(a, idx, n, now);
}

static uint64_t tree_next_timeout(void *state, uint32_t idx)
{
    tree_alg *a = state;
    if (idx == STRATA_WORLD_CONTROL)
        return a->b.sweep_at;
    const tnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    if (!n)
        return STRATA_NEVER;
    uint64_t t = strata_simbl_min(n->tick_at, n->playing ? strata_simbl_window_deadline(&n->win)
                                              : n->win.started ? n->start_by
                                                               : STRATA_NEVER);
    if (!n->welcomed)
        return strata_simbl_min(t, n->join_at);
    for (unsigned s = 0; s < a->k; s++)
        if (strata_addr_is_zero(n->par[s].addr))
            t = strata_simbl_min(t, n->par[s].ask_at);
    return t;
}

static int tree_source_push(void *state, const uint8_t *payload, size_t len, uint64_t now)
{
    tree_alg *a = state;
    tnode *n = a->node[STRATA_WORLD_SOURCE];
    if (!n || len != STRATA_SIMBL_PAYLOAD_BYTES)
        return STRATA_ERR_INVAL;
    (void)now;
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_DATA;
    m.stripe = (uint8_t)(a->src_seq % a->k);
    m.seq = a->src_seq;
    m.payload = payload;
    relay(a, STRATA_WORLD_SOURCE, n, m.stripe, &m);
    a->src_seq++;
    return 0;
}

/* tree and splitstream differ only in how they start. */
#define TREE_SIMALG(NAME, INIT)                                                                    \
    {                                                                                              \
        .name = NAME, .init = INIT, .free = tree_free, .node_up = tree_node_up,                    \
        .node_down = tree_node_down, .node_free = strata_simbl_node_free,                          \
        .handle_datagram = strata_simbl_handle_datagram, .handle_timeout = tree_handle_timeout,    \
        .next_timeout = tree_next_timeout, .outbox = strata_simbl_outbox,                          \
        .source_push = tree_source_push, .classify = strata_simbl_classify,                        \
    }

const strata_simalg strata_simalg_tree = TREE_SIMALG("tree", tree_init);
const strata_simalg strata_simalg_splitstream = TREE_SIMALG("splitstream", split_init);

/* 1 if node idx's parent in stripe s is alive in that session and counts
 * idx among its children. */
static int really_attached(const tree_alg *a, const strata_world *w, uint32_t idx, unsigned s)
{
    const tnode *n = a->node[idx];
    uint32_t p = strata_world_node_of(n->par[s].addr);
    if (strata_addr_is_zero(n->par[s].addr) || p >= a->b.nodes || !a->node[p] ||
        !strata_world_node_online(w, p) || strata_world_addr(w, p).port != n->par[s].addr.port)
        return 0;
    const tnode *pn = a->node[p];
    if (!(pn->is_source || pn->interior == s))
        return 0;
    for (uint16_t i = 0; i < pn->kids[s].n; i++)
        if (pn->kids[s].v[i].node == idx && pn->kids[s].v[i].port == n->port)
            return 1;
    return 0;
}

/* The tracker's invariants (see the model above), as a count of
 * violations. */
static uint32_t tracker_violations(tree_alg *a)
{
    uint32_t bad = 0;
    for (unsigned s = 0; s < a->k; s++) {
        uint32_t total = 0;
        for (uint32_t d = 0; d < a->nbk[s]; d++) {
            const ulist *l = &a->bk[s][d];
            total += l->n;
            for (uint32_t i = 0; i < l->n; i++)
                bad += a->bucket[at(a, l->v[i], s)] != d || a->cpos[at(a, l->v[i], s)] != i;
        }
        bad += total != a->cand_total[s];
    }
    for (uint32_t x = STRATA_WORLD_SOURCE; x < a->b.nodes; x++) {
        int alive = a->b.reg.m[x].alive;
        for (unsigned s = 0; s < a->k; s++) {
            size_t i = at(a, x, s);
            uint32_t p = a->parent[i];
            uint16_t want = TREE_DEPTH_NONE;
            if (!alive) {
                bad += p != TREE_NONE || a->bucket[i] != TREE_BUCKET_NONE;
                continue;
            }
            if (x == STRATA_WORLD_SOURCE) {
                want = 0;
                bad += p != TREE_NONE;
            } else if (p != TREE_NONE) {
                ulist *pl = kids_of(a, p, s);
                uint32_t seen = 0;
                for (uint32_t j = 0; pl && j < pl->n; j++)
                    seen += pl->v[j] == x;
                bad += !a->b.reg.m[p].alive || seen != 1;
                uint16_t dp = a->depth[at(a, p, s)];
                want = dp == TREE_DEPTH_NONE ? TREE_DEPTH_NONE : (uint16_t)(dp + 1);
            }
            bad += a->depth[i] != want;
            int cand = a->depth[i] != TREE_DEPTH_NONE && free_slots(a, x, s) > 0;
            bad += cand ? a->bucket[i] != a->depth[i] : a->bucket[i] != TREE_BUCKET_NONE;
            ulist *kl = kids_of(a, x, s);
            for (uint32_t j = 0; kl && j < kl->n; j++)
                bad += a->parent[at(a, kl->v[j], s)] != x;
        }
    }
    return bad;
}

int strata_simbl_tree_stats_of(const strata_world *w, strata_simbl_tree_stats *st)
{
    memset(st, 0, sizeof *st);
    const char *alg = strata_world_scenario(w)->algorithm;
    if ((strcmp(alg, "tree") != 0 && strcmp(alg, "splitstream") != 0) || !strata_world_alg_state(w))
        return STRATA_ERR_INVAL;
    tree_alg *a = strata_world_alg_state(w);
    st->k = a->k;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < a->b.nodes; i++) {
        const tnode *n = a->node[i];
        if (!n || !strata_world_node_online(w, i))
            continue;
        st->peers++;
        for (unsigned s = 0; s < a->k; s++)
            st->detached += !really_attached(a, w, i, s);
        if (__builtin_popcount(n->fwd_mask) > 1)
            st->multi_stripe++;
    }
    for (uint32_t i = 0; i < a->b.nodes; i++)
        for (unsigned s = 0; s < a->k; s++) {
            uint16_t d = a->depth[at(a, i, s)];
            if (d != TREE_DEPTH_NONE && d > st->max_depth)
                st->max_depth = d;
        }
    st->tracker_violations = tracker_violations(a);
    st->asks = a->asks;
    st->failed_parents = a->failed_parents;
    st->no_parent = a->no_parent;
    st->refusals = a->refusals;
    st->push_downs = a->push_downs;
    memcpy(st->drops, a->b.drops, sizeof st->drops);
    return 0;
}
