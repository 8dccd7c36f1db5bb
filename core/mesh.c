/*
 * Top-level mesh (SPEC C4): the model behind strata/mesh.h.
 *
 * Storage. Members live in arrays indexed by a dense uint32 index (freed
 * indexes are reused through a free list); an id -> index map finds them.
 * Each has up to max_degree neighbour indexes in adj[v * max_degree ...],
 * its cap, role and cdeg (links to core members: the core's own degree).
 * Arrays grow with the member table only, so removals and the set_ calls
 * never allocate (except the change log, which says so when it cannot).
 *
 * Why this construction. Flooding delivers to every member while the
 * members left alive are connected; c - 1 failures leave the core connected
 * exactly when it is c-connected (Menger). A flood costs every member a
 * copy per link, so links are kept near c per member: each join adds c
 * links' worth of degree, a departure gives back what it took. The known
 * regular constructions (Harary's circulants) fix every node's neighbours
 * by position and ignore distance and capacity; here links are chosen by
 * distance and room, and connectivity is checked with Menger's theorem
 * (mesh_flow.c) on just the vertices a change touched:
 *
 *   Lemma. Let G be t-connected and G' be G without the vertices D and the
 *   links R, with new vertices X and any new links. Every separator of G'
 *   with fewer than t vertices separates two vertices of W = N_G(D) plus
 *   the ends of R plus X. (G minus the separator is connected; follow a
 *   path of it between two sides: where it leaves a side it uses a removed
 *   link, whose ends are in W, or passes through D, entering and leaving
 *   by neighbours of D.)
 *
 * So after a change to a mesh that met its target, Even's test over W
 * (|W| + t^2/2 disjoint-path flows, each O(t (n + links)), usually stopped
 * early) says exactly whether it still does. Without that premise (the
 * mesh missed its target before) the whole core is checked.
 *
 * Join of a core member x (needs c core links). While the core has at most
 * c members x links to all of them (the complete graph is the target).
 * Otherwise x takes links in this order, nearest first:
 *   split   a core link y-z becomes y-x-z: two links for x and no degree
 *           change for y or z (the cheapest in capacity and duplicates);
 *   steal   a member w with more than c core links gives one, w-u becomes
 *           x-u, so surplus left by earlier repairs shrinks;
 *   attach  x-v for a core member v with room, preferring one below c.
 * The first plan is floor(c/2) splits and, for odd c, a steal (else an
 * attach): the core's degree sum grows by 2c per join, mean degree stays
 * at c. One split plus attaches is always safe (a c-connected graph with
 * one link subdivided by a vertex that also has c - 2 other neighbours is
 * c-connected), so it is not checked; anything more is checked with the
 * lemma and undone (the journal) for the safe plan if the check fails.
 * The last link x takes goes to another region when x has none there and
 * one exists.
 *
 * Departure of a core member x (a failure is the same call). Its core
 * neighbours lose a link each; those left below the target degree gain
 * links among themselves first (the nearest pairs), then, one by one,
 * attach to the nearest member with room (a neighbour that lost its only
 * link to another region gets one there), or split or steal when no one
 * has room. No existing link is touched unless room runs out. Then the
 * lemma's check over N(x) and the ends of any removed link; when it
 * fails, the failed flow names a minimum cut, and a link from the source
 * side to an open sink (preferring endpoints in W, then the nearest pair)
 * raises that flow by one (if no open sink can take one, a member beyond
 * the cut is tried); repeat, at most REPAIR_ROUNDS times a call (set_rate:
 * as many as the core needs). When no pair across the cut has room, the
 * target is not met and the status says so; the next call tries again.
 *
 * Trimming. Repairs leave members with more than c links, and joins for
 * even c never steal them back; where that fills members to their cap, a
 * later cut finds no one with room. So at the end of a call, a link
 * between two members the call touched (or one touched and a neighbour)
 * that both have more than c core links, one of them full, goes if the
 * core stays t-connected without it (one pair check, by the lemma).
 *
 * Weak members (cap < c) attach to up to cap members with room, core
 * first, and never take a link a core member needs: a core member out of
 * room sheds a weak link (the weak member is re-attached elsewhere when
 * room appears). Weak members are outside the checked core.
 *
 * The source is linked to min(c, its cap, members) core members (weak
 * ones only if there is no core), distinct regions first, then nearest; a
 * core that is c-connected plus c source links to distinct members gives
 * c disjoint paths from the source to every member (the fan lemma).
 *
 * Costs (n members, degree ~c, links ~cn/2): a join O(n + links) to rank
 * distances and links plus O(c^2 (n + links)) for a checked plan; a
 * departure O(d n) for d neighbours plus the check over N(x); the RTT
 * oracle is asked O(n) times per call. A full check (after the target was
 * missed, and in set_rate) is O(n c (n + links)) at worst. Memory
 * O(n max_degree). Meant for 10 to a few thousand members.
 *
 * Dirty set and change log. Every link change marks both ends (dirty, as
 * in tree.c) and is appended to the log; a plan that is undone takes its
 * marks and entries back, so what is reported is what changed.
 */
#include "strata/mesh.h"

#include "idmap.h"
#include "mesh_flow.h"

#include <stdio.h>
#include <string.h>

#define NIL UINT32_MAX

enum {
    MESH_MIN_CAP = 16,
    MESH_MAX_NODES = 1u << 24,
    JOURNAL_MAX = 8 * STRATA_MESH_MAX_C + 16, /* link changes of one plan */
    REPAIR_ROUNDS = 4 * STRATA_MESH_MAX_C,    /* links added across cuts per call */
    CUT_SINKS = 16,                           /* open sinks considered per cut */
    DIST_MAX = (1u << 30) - 1,
};

struct mnode {
    uint64_t id; /* 0: free index */
    uint64_t salt;
    uint32_t upload_kbps, region;
    uint32_t dpos; /* position in the dirty array or NIL; next free index when free */
    uint8_t cap, role, cdeg;
    uint8_t src; /* linked to the source */
};

struct msource {
    uint64_t id; /* 0: none */
    uint64_t salt;
    uint32_t upload_kbps, region;
    uint8_t cap, n, dirty;
    uint32_t links[STRATA_MESH_MAX_DEGREE];
};

struct logent {
    uint64_t a, b;
    uint8_t added;
};

struct jent {
    uint32_t u, w;
    uint8_t added;
};

struct strata_mesh {
    const strata_alloc *alloc;
    uint8_t c, max_degree, share;
    uint32_t rate_kbps;
    strata_mesh_rtt_fn rtt;
    void *rtt_user;
    strata_rng rng;
    struct mnode *nodes;
    uint32_t *adj; /* [v * max_degree + i] */
    uint8_t *deg;
    uint8_t *incore; /* the flow view's membership: role == CORE */
    uint32_t *dirty;
    uint32_t *dist;  /* RTT from the node being placed (fill_dist) */
    uint32_t *wmark; /* == wstamp: in the W being built */
    uint32_t *wl;    /* W of the local check; also the BFS queue of stats */
    uint32_t *wall;  /* every core member, for the full check */
    uint32_t cap, used, count, ncore, free_head, ndirty, wstamp, n_other;
    int met;
    strata_idmap map;
    struct msource src;
    strata_mesh_flow flow;
    strata_mesh_graph view;
    struct logent *log;
    size_t nlog, logcap;
    int log_lost;
    struct jent journal[JOURNAL_MAX];
    uint32_t njournal, jdirty;
    size_t jlog;
    int journaling, joverflow;
};

/* --- small helpers ------------------------------------------------------- */

static inline uint32_t *nbrs(const strata_mesh *m, uint32_t v)
{
    return &m->adj[(size_t)v * m->max_degree];
}

static uint8_t cap_for(const strata_mesh *m, uint32_t upload_kbps)
{
    uint64_t n = (uint64_t)upload_kbps * m->share / (100u * (uint64_t)m->rate_kbps);
    return (uint8_t)(n < m->max_degree ? n : m->max_degree);
}

static uint8_t role_for(const strata_mesh *m, uint8_t cap)
{
    return cap == 0 ? STRATA_MESH_UNLINKED : cap < m->c ? STRATA_MESH_WEAK : STRATA_MESH_CORE;
}

static uint8_t source_cap(const strata_mesh *m)
{
    return m->src.upload_kbps ? cap_for(m, m->src.upload_kbps) : m->c;
}

/* min(c, core - 1): the connectivity the core aims at. */
static unsigned core_target(const strata_mesh *m)
{
    return m->ncore <= 1 ? 0 : m->ncore - 1 < m->c ? m->ncore - 1 : m->c;
}

static int linked(const strata_mesh *m, uint32_t u, uint32_t w)
{
    const uint32_t *a = nbrs(m, u);
    for (unsigned i = 0; i < m->deg[u]; i++)
        if (a[i] == w)
            return 1;
    return 0;
}

static int is_core(const strata_mesh *m, uint32_t v)
{
    return m->nodes[v].role == STRATA_MESH_CORE;
}

static uint32_t rtt(const strata_mesh *m, uint64_t a, uint32_t ra, uint64_t b, uint32_t rb)
{
    uint32_t d = STRATA_MESH_RTT_UNKNOWN;
    if (m->rtt)
        d = m->rtt(m->rtt_user, (strata_node_id){a}, (strata_node_id){b});
    if (d == STRATA_MESH_RTT_UNKNOWN)
        d = ra == rb ? STRATA_MESH_UNKNOWN_NEAR_MS : STRATA_MESH_UNKNOWN_FAR_MS;
    return d < DIST_MAX ? d : DIST_MAX;
}

static uint32_t rtt_nodes(const strata_mesh *m, uint32_t u, uint32_t w)
{
    const struct mnode *a = &m->nodes[u], *b = &m->nodes[w];
    return rtt(m, a->id, a->region, b->id, b->region);
}

/* Fills dist[] with the RTT from (id, region) to every member, and
 * n_other with the core members in other regions. */
static void fill_dist(strata_mesh *m, uint64_t id, uint32_t region)
{
    m->n_other = 0;
    for (uint32_t v = 0; v < m->used; v++) {
        const struct mnode *n = &m->nodes[v];
        if (!n->id || n->id == id)
            continue;
        m->dist[v] = rtt(m, id, region, n->id, n->region);
        m->n_other += n->role == STRATA_MESH_CORE && n->region != region;
    }
}

/* A ranking key, smaller is better: a tier, then the distance, then a
 * pseudo-random tie-break from the two salts (so equal candidates are
 * taken in a seeded order, not by index). */
static uint64_t mkkey(unsigned tier, uint32_t d, uint64_t sa, uint64_t sb)
{
    return (uint64_t)tier << 62 | (uint64_t)(d & DIST_MAX) << 32 | (uint32_t)((sa ^ sb) >> 17);
}

/* A core member with no core link to another region, while core members
 * exist there (n_other from the last fill_dist for v). */
static int needs_cross(const strata_mesh *m, uint32_t v)
{
    if (m->n_other == 0)
        return 0;
    const uint32_t *a = nbrs(m, v);
    for (unsigned i = 0; i < m->deg[v]; i++)
        if (is_core(m, a[i]) && m->nodes[a[i]].region != m->nodes[v].region)
            return 0;
    return 1;
}

/* --- dirty set and change log -------------------------------------------- */

static void mark(strata_mesh *m, uint32_t v)
{
    if (m->nodes[v].dpos != NIL)
        return;
    m->nodes[v].dpos = m->ndirty;
    m->dirty[m->ndirty++] = v;
}

static void unmark(strata_mesh *m, uint32_t v)
{
    uint32_t i = m->nodes[v].dpos;
    if (i == NIL)
        return;
    uint32_t last = m->dirty[--m->ndirty];
    m->dirty[i] = last;
    m->nodes[last].dpos = i;
    m->nodes[v].dpos = NIL;
}

static void log_change(strata_mesh *m, uint64_t a, uint64_t b, uint8_t added)
{
    if (m->nlog == m->logcap) {
        size_t ncap = m->logcap ? m->logcap * 2 : 64;
        struct logent *p = strata_mem_realloc(m->alloc, m->log, ncap * sizeof *p);
        if (!p) {
            m->log_lost = 1;
            return;
        }
        m->log = p;
        m->logcap = ncap;
    }
    m->log[m->nlog++] = (struct logent){a, b, added};
}

/* --- links ----------------------------------------------------------------- */

static void raw_add(strata_mesh *m, uint32_t u, uint32_t w)
{
    nbrs(m, u)[m->deg[u]++] = w;
    nbrs(m, w)[m->deg[w]++] = u;
    m->nodes[u].cdeg = (uint8_t)(m->nodes[u].cdeg + is_core(m, w));
    m->nodes[w].cdeg = (uint8_t)(m->nodes[w].cdeg + is_core(m, u));
}

static void drop_slot(strata_mesh *m, uint32_t u, uint32_t w)
{
    uint32_t *a = nbrs(m, u);
    for (unsigned i = 0; i < m->deg[u]; i++) {
        if (a[i] == w) {
            a[i] = a[--m->deg[u]];
            return;
        }
    }
}

static void raw_del(strata_mesh *m, uint32_t u, uint32_t w)
{
    drop_slot(m, u, w);
    drop_slot(m, w, u);
    m->nodes[u].cdeg = (uint8_t)(m->nodes[u].cdeg - is_core(m, w));
    m->nodes[w].cdeg = (uint8_t)(m->nodes[w].cdeg - is_core(m, u));
}

static void journal(strata_mesh *m, uint32_t u, uint32_t w, uint8_t added)
{
    if (!m->journaling)
        return;
    if (m->njournal == JOURNAL_MAX)
        m->joverflow = 1;
    else
        m->journal[m->njournal++] = (struct jent){u, w, added};
}

static void link_add(strata_mesh *m, uint32_t u, uint32_t w)
{
    raw_add(m, u, w);
    mark(m, u);
    mark(m, w);
    log_change(m, m->nodes[u].id, m->nodes[w].id, 1);
    journal(m, u, w, 1);
}

static void link_del(strata_mesh *m, uint32_t u, uint32_t w)
{
    raw_del(m, u, w);
    mark(m, u);
    mark(m, w);
    log_change(m, m->nodes[u].id, m->nodes[w].id, 0);
    journal(m, u, w, 0);
}

static void journal_start(strata_mesh *m)
{
    m->journaling = 1;
    m->joverflow = 0;
    m->njournal = 0;
    m->jlog = m->nlog;
    m->jdirty = m->ndirty;
}

/* Ends the journal; with undo, puts every link back and takes back the
 * marks and log entries made since journal_start. Returns 0 if it could
 * not (the journal overflowed). */
static int journal_end(strata_mesh *m, int undo)
{
    m->journaling = 0;
    if (!undo || m->joverflow)
        return !undo;
    for (uint32_t i = m->njournal; i-- > 0;) {
        const struct jent *j = &m->journal[i];
        if (j->added)
            raw_del(m, j->u, j->w);
        else
            raw_add(m, j->u, j->w);
    }
    for (uint32_t i = m->jdirty; i < m->ndirty; i++)
        m->nodes[m->dirty[i]].dpos = NIL;
    m->ndirty = m->jdirty;
    if (m->nlog >= m->jlog)
        m->nlog = m->jlog;
    return 1;
}

/* --- the source's links ---------------------------------------------------- */

static void src_unlink(strata_mesh *m, uint32_t v)
{
    struct msource *s = &m->src;
    for (unsigned i = 0; i < s->n; i++) {
        if (s->links[i] != v)
            continue;
        s->links[i] = s->links[--s->n];
        m->nodes[v].src = 0;
        s->dirty = 1;
        mark(m, v);
        log_change(m, s->id, m->nodes[v].id, 0);
        return;
    }
}

static void src_link(strata_mesh *m, uint32_t v)
{
    struct msource *s = &m->src;
    s->links[s->n++] = v;
    m->nodes[v].src = 1;
    s->dirty = 1;
    mark(m, v);
    log_change(m, s->id, m->nodes[v].id, 1);
}

/* Brings the source to min(c, its cap, candidates) links: core members
 * when there are any, else weak ones; regions it does not reach yet
 * first, then the nearest. A link to a weak member goes when a core
 * member can take its place. */
static void src_settle(strata_mesh *m)
{
    struct msource *s = &m->src;
    if (!s->id)
        return;
    uint8_t want_role = m->ncore ? STRATA_MESH_CORE : STRATA_MESH_WEAK;
    size_t cands = m->ncore;
    if (!cands)
        for (uint32_t v = 0; v < m->used; v++)
            cands += m->nodes[v].id && m->nodes[v].role == STRATA_MESH_WEAK;
    unsigned target = s->cap < m->c ? s->cap : m->c;
    if (target > cands)
        target = (unsigned)cands;
    for (unsigned i = s->n; i-- > 0;) {
        uint32_t v = s->links[i];
        if (m->nodes[v].role != want_role)
            src_unlink(m, v);
    }
    while (s->n > target) {
        /* Over the cap (its upload fell): the farthest goes. */
        unsigned worst = 0;
        uint32_t wd = 0;
        for (unsigned i = 0; i < s->n; i++) {
            const struct mnode *n = &m->nodes[s->links[i]];
            uint32_t d = rtt(m, s->id, s->region, n->id, n->region);
            if (i == 0 || d > wd) {
                worst = i;
                wd = d;
            }
        }
        src_unlink(m, s->links[worst]);
    }
    if (s->n >= target)
        return;
    fill_dist(m, s->id, s->region);
    while (s->n < target) {
        uint32_t best = NIL;
        uint64_t bk = UINT64_MAX;
        for (uint32_t v = 0; v < m->used; v++) {
            const struct mnode *n = &m->nodes[v];
            if (!n->id || n->src || n->role != want_role)
                continue;
            unsigned seen_region = 0;
            for (unsigned i = 0; i < s->n; i++)
                seen_region |= m->nodes[s->links[i]].region == n->region;
            uint64_t k = mkkey(seen_region, m->dist[v], n->salt, s->salt);
            if (k < bk) {
                bk = k;
                best = v;
            }
        }
        if (best == NIL)
            break;
        src_link(m, best);
    }
}

/* --- placing links ---------------------------------------------------------- */

/* Room for one more core link at core member v: below its cap, counting
 * weak links as room (they are shed for core links). */
static int room_core(const strata_mesh *m, uint32_t v)
{
    return is_core(m, v) && m->nodes[v].cdeg < m->nodes[v].cap;
}

/* Makes a free slot at v by shedding a weak link (the weak member with the
 * most links goes). v must have room_core. */
static void make_room(strata_mesh *m, uint32_t v)
{
    if (m->deg[v] < m->nodes[v].cap)
        return;
    const uint32_t *a = nbrs(m, v);
    uint32_t best = NIL;
    for (unsigned i = 0; i < m->deg[v]; i++) {
        uint32_t w = a[i];
        if (!is_core(m, w) && (best == NIL || m->deg[w] > m->deg[best]))
            best = w;
    }
    if (best != NIL)
        link_del(m, v, best);
}

/* The best core link for x to take, over every link y-z of the core:
 * for a split, the nearest (dist[y] + dist[z]) with neither end linked to
 * x, each link once; for a steal, y has more than c core links and gives
 * z, the nearest z not linked to x. With cross, x's new link (z for a
 * steal, either end for a split) must reach another region. Returns 1 and
 * the link in *py, *pz, or 0. */
static int best_link(const strata_mesh *m, uint32_t x, int steal, int cross, uint32_t *py,
                     uint32_t *pz)
{
    uint64_t bk = UINT64_MAX;
    uint32_t rx = m->nodes[x].region;
    for (uint32_t y = 0; y < m->used; y++) {
        const struct mnode *ny = &m->nodes[y];
        if (y == x || !ny->id || !is_core(m, y) || (steal ? ny->cdeg <= m->c : linked(m, x, y)))
            continue;
        const uint32_t *a = nbrs(m, y);
        for (unsigned i = 0; i < m->deg[y]; i++) {
            uint32_t z = a[i];
            const struct mnode *nz = &m->nodes[z];
            if ((!steal && z < y) || z == x || !is_core(m, z) || linked(m, x, z))
                continue;
            if (cross && nz->region == rx && (steal || ny->region == rx))
                continue;
            uint64_t d = (uint64_t)m->dist[z] + (steal ? 0 : m->dist[y]);
            uint64_t k = mkkey(0, d < DIST_MAX ? (uint32_t)d : DIST_MAX, ny->salt ^ nz->salt,
                               m->nodes[x].salt);
            if (k < bk) {
                bk = k;
                *py = y;
                *pz = z;
            }
        }
    }
    return bk != UINT64_MAX;
}

/* A core link u-w, each end shedding a weak link first if it must. */
static void link_room(strata_mesh *m, uint32_t u, uint32_t w)
{
    make_room(m, u);
    make_room(m, w);
    link_add(m, u, w);
}

/* Split: the nearest core link y-z becomes y-x-z. Returns 1 if done. */
static int pick_split(strata_mesh *m, uint32_t x, int cross)
{
    uint32_t y, z;
    if (m->nodes[x].cdeg + 2u > m->nodes[x].cap || !best_link(m, x, 0, cross, &y, &z))
        return 0;
    link_del(m, y, z);
    link_room(m, x, y); /* y and z have the slot of y-z */
    link_room(m, x, z);
    return 1;
}

/* Steal: a core member w with more than c core links gives one, w-u
 * becomes x-u. Returns 1 if done. */
static int pick_steal(strata_mesh *m, uint32_t x, int cross)
{
    uint32_t w, u;
    if (!room_core(m, x) || !best_link(m, x, 1, cross, &w, &u))
        return 0;
    link_del(m, w, u);
    link_room(m, x, u);
    return 1;
}

/* Attach: x-v for the core member v with room, those below the target
 * degree first, then those with a free slot, then the nearest. */
static int pick_attach(strata_mesh *m, uint32_t x, int cross)
{
    uint32_t best = NIL;
    uint64_t bk = UINT64_MAX;
    unsigned t = core_target(m);
    for (uint32_t v = 0; v < m->used; v++) {
        const struct mnode *n = &m->nodes[v];
        if (v == x || !n->id || !room_core(m, v) || linked(m, x, v))
            continue;
        if (cross && n->region == m->nodes[x].region)
            continue;
        unsigned tier = n->cdeg < t ? 0 : m->deg[v] < n->cap ? 1 : 2;
        uint64_t k = mkkey(tier, m->dist[v], n->salt, m->nodes[x].salt);
        if (k < bk) {
            bk = k;
            best = v;
        }
    }
    if (best == NIL)
        return 0;
    link_room(m, x, best);
    return 1;
}

/* One more core link for x by the given kind of pick, in another region
 * if x needs one there and such a pick exists. */
static int pick(strata_mesh *m, uint32_t x, int (*fn)(strata_mesh *, uint32_t, int), int last)
{
    if (last && needs_cross(m, x) && fn(m, x, 1))
        return 1;
    return fn(m, x, 0);
}

/* --- checking and repairing connectivity ------------------------------- */

static void view_update(strata_mesh *m)
{
    m->view = (strata_mesh_graph){m->used, m->max_degree, m->adj, m->deg, m->incore};
    strata_mesh_flow_begin(&m->flow, &m->view);
}

static size_t all_core(strata_mesh *m)
{
    size_t n = 0;
    for (uint32_t v = 0; v < m->used; v++)
        if (m->nodes[v].id && is_core(m, v))
            m->wall[n++] = v;
    return n;
}

/* v is in the W of a local check (every member is, for a full one). */
static int in_w(const strata_mesh *m, uint32_t v, int local)
{
    return !local || m->wmark[v] == m->wstamp;
}

/* After a failed check: links the best source-side member with room to
 * the best open sink with room (both in W first, then the nearest pair).
 * Falls back to any member beyond the cut. Returns 1 if a link was added. */
static int link_across_cut(strata_mesh *m, const uint32_t *w, size_t nw, int local)
{
    const strata_mesh_flow *f = &m->flow;
    uint32_t ba = NIL, bb = NIL;
    uint64_t bk = UINT64_MAX;
    /* Open sinks first (a link to one adds a path for sure); when none can
     * take a link (full, or already linked to every source-side member:
     * the failed query was between neighbours), members beyond the cut, W
     * first. */
    for (int pass = 0; pass < 2 && ba == NIL; pass++) {
        uint32_t sinks[CUT_SINKS];
        size_t ns = 0;
        for (size_t i = 0; i < nw + (pass ? (size_t)m->used : 0) && ns < CUT_SINKS; i++) {
            uint32_t v = i < nw ? w[i] : (uint32_t)(i - nw);
            if (!m->nodes[v].id || !room_core(m, v) || (i >= nw && in_w(m, v, local)))
                continue;
            if (pass == 0 ? strata_mesh_flow_open_sink(f, v)
                          : strata_mesh_flow_side(f, v) == STRATA_MESH_FLOW_FAR)
                sinks[ns++] = v;
        }
        for (uint32_t a = 0; a < m->used && ns; a++) {
            const struct mnode *na = &m->nodes[a];
            if (!na->id || !room_core(m, a) || strata_mesh_flow_side(f, a) != STRATA_MESH_FLOW_NEAR)
                continue;
            for (size_t j = 0; j < ns; j++) {
                uint32_t b = sinks[j];
                if (a == b || linked(m, a, b))
                    continue;
                unsigned tier = (unsigned)(!in_w(m, a, local) + !in_w(m, b, local));
                uint64_t k = mkkey(tier, rtt_nodes(m, a, b), na->salt, m->nodes[b].salt);
                if (k < bk) {
                    bk = k;
                    ba = a;
                    bb = b;
                }
            }
        }
    }
    if (ba == NIL)
        return 0;
    link_room(m, ba, bb);
    return 1;
}

/* Checks the core (over W when local, else all of it), adding links
 * across failing cuts while that helps, at most rounds of them; sets met. */
static void settle_rounds(strata_mesh *m, const uint32_t *w, size_t nw, int local, size_t rounds)
{
    unsigned t = core_target(m);
    for (size_t round = 0;; round++) {
        if (!local)
            nw = all_core(m);
        const uint32_t *ws = local ? w : m->wall;
        view_update(m);
        if (strata_mesh_flow_check(&m->flow, ws, nw, t)) {
            m->met = 1;
            return;
        }
        if (round == rounds || !link_across_cut(m, ws, nw, local)) {
            m->met = 0;
            return;
        }
    }
}

static void settle(strata_mesh *m, const uint32_t *w, size_t nw, int local)
{
    settle_rounds(m, w, nw, local, REPAIR_ROUNDS);
}

/* The set W of the lemma, built in m->wl without repeats: start, then add
 * core members. */
static void w_start(strata_mesh *m, size_t *nw)
{
    if (++m->wstamp == 0) {
        memset(m->wmark, 0, (size_t)m->cap * sizeof *m->wmark);
        m->wstamp = 1;
    }
    *nw = 0;
}

static void w_add(strata_mesh *m, size_t *nw, uint32_t v)
{
    if (!m->nodes[v].id || !is_core(m, v) || m->wmark[v] == m->wstamp)
        return;
    m->wmark[v] = m->wstamp;
    m->wl[(*nw)++] = v;
}

/* Adds the ends of the links the journal removed to W. */
static void w_add_removed(strata_mesh *m, size_t *nw, uint32_t from)
{
    for (uint32_t i = from; i < m->njournal; i++) {
        if (!m->journal[i].added) {
            w_add(m, nw, m->journal[i].u);
            w_add(m, nw, m->journal[i].w);
        }
    }
}

/* --- join and departure of core members ------------------------------------- */

/* x has just become a core member (no links yet): links it (see the top). */
/* x's links for one plan: splits (at most max_splits), a steal for an
 * odd remainder when steal_first, then attaches, then steals. Returns 1 if
 * the plan needs checking (more than one split, or a steal). */
static int plan(strata_mesh *m, uint32_t x, unsigned max_splits, int steal_first)
{
    unsigned need = m->c, splits = 0, steals = 0;
    while (need >= 2 && splits < max_splits && pick(m, x, pick_split, need == 2)) {
        need -= 2;
        splits++;
    }
    if (need == 1 && steal_first && pick(m, x, pick_steal, 1)) {
        need--;
        steals++;
    }
    while (need > 0 && pick(m, x, pick_attach, need == 1))
        need--;
    /* Room ran out: steals are better than nothing. */
    while (need > 0 && pick(m, x, pick_steal, need == 1)) {
        need--;
        steals++;
    }
    return splits > 1 || steals > 0;
}

/* W for a join: x and the ends of the links the journal removed. */
static size_t join_w(strata_mesh *m, uint32_t x)
{
    size_t nw;
    w_start(m, &nw);
    w_add(m, &nw, x);
    w_add_removed(m, &nw, 0);
    return nw;
}

/* x has just become a core member (no links yet): links it (see the top). */
static void join_core(strata_mesh *m, uint32_t x)
{
    int was_met = m->met;
    size_t before = m->ncore - 1;
    struct mnode *nx = &m->nodes[x];
    fill_dist(m, nx->id, nx->region);
    if (before <= m->c) {
        for (uint32_t v = 0; v < m->used; v++) {
            if (v != x && m->nodes[v].id && is_core(m, v)) {
                link_room(m, x, v);
            }
        }
        if (!was_met)
            settle(m, NULL, 0, 0);
        return;
    }
    journal_start(m);
    int unsafe = plan(m, x, m->c / 2u, 1);
    /* The lemma's premise: the mesh met its target and x has t links (a
     * new vertex with fewer is cut off by its own neighbours). */
    int premise = was_met && nx->cdeg >= core_target(m);
    if (unsafe && premise && !m->joverflow) {
        size_t nw = join_w(m, x);
        view_update(m);
        if (strata_mesh_flow_check(&m->flow, m->wl, nw, core_target(m))) {
            journal_end(m, 0);
            return;
        }
        if (journal_end(m, 1)) {
            /* The safe plan: one split, attaches for the rest. */
            journal_start(m);
            unsafe = plan(m, x, 1, 0);
            premise = nx->cdeg >= core_target(m);
        }
    }
    journal_end(m, 0);
    if (!premise || m->joverflow) {
        settle(m, NULL, 0, 0);
        return;
    }
    if (unsafe) {
        size_t nw = join_w(m, x);
        settle(m, m->wl, nw, 1);
    }
}

/* Gives the core members in list[0..n) that are below the target degree
 * links back: nearest pairs among them, then attaches, splits or steals
 * for each in turn (see the top). The ends of removed links go into W. */
static void restore(strata_mesh *m, const uint32_t *list, size_t n, size_t *nw)
{
    unsigned t = core_target(m);
    uint32_t def[STRATA_MESH_MAX_DEGREE + 1];
    size_t nd = 0;
    for (size_t i = 0; i < n && nd < sizeof def / sizeof def[0]; i++)
        if (m->nodes[list[i]].id && is_core(m, list[i]) && m->nodes[list[i]].cdeg < t)
            def[nd++] = list[i];
    journal_start(m);
    /* A member that lost its only link to another region gets one there
     * first, as its next link. */
    for (size_t i = 0; i < nd; i++) {
        uint32_t y = def[i];
        m->n_other = 1; /* needs_cross then asks only about y's links */
        if (!needs_cross(m, y) || m->nodes[y].cdeg >= t)
            continue;
        fill_dist(m, m->nodes[y].id, m->nodes[y].region);
        if (needs_cross(m, y))
            pick_attach(m, y, 1);
    }
    /* Nearest pairs of members that both lack a link. */
    for (;;) {
        uint32_t ba = NIL, bb = NIL;
        uint64_t bk = UINT64_MAX;
        for (size_t i = 0; i < nd; i++) {
            uint32_t a = def[i];
            if (m->nodes[a].cdeg >= t)
                continue;
            for (size_t j = i + 1; j < nd; j++) {
                uint32_t b = def[j];
                if (m->nodes[b].cdeg >= t || linked(m, a, b))
                    continue;
                uint64_t k = mkkey(0, rtt_nodes(m, a, b), m->nodes[a].salt, m->nodes[b].salt);
                if (k < bk) {
                    bk = k;
                    ba = a;
                    bb = b;
                }
            }
        }
        if (ba == NIL)
            break;
        link_room(m, ba, bb);
    }
    for (size_t i = 0; i < nd; i++) {
        uint32_t y = def[i];
        if (m->nodes[y].cdeg >= t)
            continue;
        fill_dist(m, m->nodes[y].id, m->nodes[y].region);
        while (m->nodes[y].cdeg < t) {
            if (pick_attach(m, y, 0))
                continue;
            if (t - m->nodes[y].cdeg >= 2 && pick_split(m, y, 0))
                continue;
            if (!pick_steal(m, y, 0))
                break;
        }
    }
    w_add_removed(m, nw, 0);
    journal_end(m, 0);
}

/* Takes every link of x away (and its source link) and, for a core member,
 * repairs the core around it; x then has no links and is out of the core. */
static void detach(strata_mesh *m, uint32_t x)
{
    int was_core = is_core(m, x), was_met = m->met;
    uint32_t nb[STRATA_MESH_MAX_DEGREE];
    size_t nn = 0;
    if (m->nodes[x].src)
        src_unlink(m, x);
    while (m->deg[x] > 0) {
        uint32_t y = nbrs(m, x)[m->deg[x] - 1];
        if (is_core(m, y))
            nb[nn++] = y;
        link_del(m, x, y);
    }
    if (!was_core)
        return;
    m->nodes[x].role = STRATA_MESH_UNLINKED;
    m->incore[x] = 0;
    m->ncore--;
    size_t nw;
    w_start(m, &nw);
    for (size_t i = 0; i < nn; i++)
        w_add(m, &nw, nb[i]);
    restore(m, nb, nn, &nw);
    settle(m, m->wl, nw, was_met && !m->joverflow);
}

/* Links a weak member x to up to cap members with a free slot: core
 * members first, then the nearest. */
static void attach_weak(strata_mesh *m, uint32_t x)
{
    struct mnode *nx = &m->nodes[x];
    int filled = 0;
    while (m->deg[x] < nx->cap) {
        if (!filled) {
            fill_dist(m, nx->id, nx->region);
            filled = 1;
        }
        uint32_t best = NIL;
        uint64_t bk = UINT64_MAX;
        for (uint32_t v = 0; v < m->used; v++) {
            const struct mnode *n = &m->nodes[v];
            if (v == x || !n->id || n->role == STRATA_MESH_UNLINKED || m->deg[v] >= n->cap ||
                linked(m, x, v))
                continue;
            /* A core member keeps the room its core links need. */
            if (is_core(m, v) && n->cdeg < core_target(m) && m->deg[v] + 1u >= n->cap)
                continue;
            uint64_t k = mkkey(is_core(m, v) ? 0 : 1, m->dist[v], n->salt, nx->salt);
            if (k < bk) {
                bk = k;
                best = v;
            }
        }
        if (best == NIL)
            break;
        link_add(m, x, best);
    }
}

/* Gives x the role its cap says, with the links that go with it: a member
 * whose role changes leaves and joins again; one over its cap sheds links
 * and the core is repaired. */
static void place(strata_mesh *m, uint32_t x)
{
    struct mnode *nx = &m->nodes[x];
    uint8_t role = role_for(m, nx->cap);
    if (role != nx->role || nx->role == STRATA_MESH_UNLINKED) {
        detach(m, x);
        nx->role = role;
        if (role == STRATA_MESH_CORE) {
            m->incore[x] = 1;
            m->ncore++;
            join_core(m, x);
        } else if (role == STRATA_MESH_WEAK) {
            attach_weak(m, x);
        }
        return;
    }
    if (m->deg[x] <= nx->cap)
        return;
    if (role == STRATA_MESH_WEAK) {
        fill_dist(m, nx->id, nx->region);
        while (m->deg[x] > nx->cap) {
            const uint32_t *a = nbrs(m, x);
            unsigned worst = 0;
            for (unsigned i = 1; i < m->deg[x]; i++)
                if (m->dist[a[i]] > m->dist[a[worst]])
                    worst = i;
            link_del(m, x, a[worst]);
        }
        return;
    }
    /* A core member over its (still >= c) cap: weak links go first, then
     * links to the neighbours with the most core links, the farthest
     * first; those left short are restored. */
    int was_met = m->met;
    uint32_t lost[STRATA_MESH_MAX_DEGREE];
    size_t nl = 0, nw;
    while (m->deg[x] > nx->cap && m->deg[x] > nx->cdeg)
        make_room(m, x);
    fill_dist(m, nx->id, nx->region);
    w_start(m, &nw);
    w_add(m, &nw, x);
    while (m->deg[x] > nx->cap) {
        const uint32_t *a = nbrs(m, x);
        unsigned worst = 0;
        for (unsigned i = 1; i < m->deg[x]; i++) {
            const struct mnode *p = &m->nodes[a[i]], *q = &m->nodes[a[worst]];
            if (p->cdeg > q->cdeg || (p->cdeg == q->cdeg && m->dist[a[i]] > m->dist[a[worst]]))
                worst = i;
        }
        lost[nl++] = a[worst];
        w_add(m, &nw, a[worst]);
        link_del(m, x, a[worst]);
    }
    restore(m, lost, nl, &nw);
    settle(m, m->wl, nw, was_met && !m->joverflow);
}

/* Re-attaches weak members short of links when someone has room. */
static void settle_weak(strata_mesh *m)
{
    int room = 0;
    for (uint32_t v = 0; v < m->used && !room; v++)
        room = m->nodes[v].id && m->nodes[v].role != STRATA_MESH_UNLINKED &&
               m->deg[v] < m->nodes[v].cap;
    if (!room)
        return;
    for (uint32_t v = 0; v < m->used; v++)
        if (m->nodes[v].id && m->nodes[v].role == STRATA_MESH_WEAK && m->deg[v] < m->nodes[v].cap)
            attach_weak(m, v);
}

/* A core that missed its target: members below the target degree get
 * links first (cheap, no check each), then links go across failing cuts,
 * at most rounds of them. */
static void repair_all(strata_mesh *m, size_t rounds)
{
    unsigned t = core_target(m);
    uint32_t chunk[STRATA_MESH_MAX_DEGREE];
    size_t n = 0, nw;
    for (uint32_t v = 0; v <= m->used; v++) {
        if (v < m->used && m->nodes[v].id && is_core(m, v) && m->nodes[v].cdeg < t)
            chunk[n++] = v;
        if (n == STRATA_MESH_MAX_DEGREE || (v == m->used && n > 0)) {
            w_start(m, &nw);
            restore(m, chunk, n, &nw);
            n = 0;
        }
    }
    settle_rounds(m, NULL, 0, 0, rounds);
}

/* Surplus: a link between two core members that both have more than c
 * core links, one of them full, goes when the core stays t-connected
 * without it (by the lemma, one pair check: W is the link's ends). Only
 * members this call touched before trimming (dirty from position from)
 * are looked at, so it stays around the change. It
 * keeps room for the next repairs where room is short: left alone, repairs
 * and even-c joins (no steals) fill every member with c + 1 links, and a
 * cut then finds no one with room. */
static void trim(strata_mesh *m, uint32_t from)
{
    unsigned t = core_target(m);
    if (!m->met || t == 0)
        return;
    for (uint32_t i = from, end = m->ndirty; i < end; i++) {
        uint32_t v = m->dirty[i], nb[STRATA_MESH_MAX_DEGREE];
        unsigned n = m->deg[v];
        if (!is_core(m, v) || m->nodes[v].cdeg <= m->c)
            continue;
        memcpy(nb, nbrs(m, v), n * sizeof nb[0]);
        for (unsigned j = 0; j < n && m->nodes[v].cdeg > m->c; j++) {
            uint32_t w = nb[j];
            if (!is_core(m, w) || m->nodes[w].cdeg <= m->c ||
                (m->deg[v] < m->nodes[v].cap && m->deg[w] < m->nodes[w].cap))
                continue;
            raw_del(m, v, w);
            view_update(m);
            int ok = strata_mesh_flow_pair(&m->flow, v, w, t) >= t;
            raw_add(m, v, w);
            if (ok)
                link_del(m, v, w);
        }
    }
}

/* What every public change ends with; from is where the call's dirty
 * marks start. */
static void finish(strata_mesh *m, size_t rounds, uint32_t from)
{
    settle_weak(m);
    if (!m->met)
        repair_all(m, rounds);
    trim(m, from);
    src_settle(m);
}

/* --- public API ---------------------------------------------------------- */

strata_mesh *strata_mesh_new(const strata_alloc *a, const strata_mesh_config *cfg)
{
    if (!cfg || cfg->rate_kbps == 0 || cfg->c > STRATA_MESH_MAX_C ||
        cfg->max_degree > STRATA_MESH_MAX_DEGREE || cfg->upload_share_percent > 100)
        return NULL;
    uint8_t c = cfg->c ? cfg->c : STRATA_MESH_DEFAULT_C;
    uint8_t maxd = cfg->max_degree ? cfg->max_degree : STRATA_MESH_DEFAULT_MAX_DEGREE;
    if (maxd < c)
        return NULL;
    strata_mesh *m = strata_mem_calloc(a, 1, sizeof *m);
    if (!m)
        return NULL;
    m->alloc = a;
    m->c = c;
    m->max_degree = maxd;
    m->share =
        cfg->upload_share_percent ? cfg->upload_share_percent : STRATA_MESH_DEFAULT_SHARE_PERCENT;
    m->rate_kbps = cfg->rate_kbps;
    m->rtt = cfg->rtt_ms;
    m->rtt_user = cfg->rtt_user;
    strata_rng_seed(&m->rng, cfg->seed);
    m->free_head = NIL;
    m->met = 1;
    strata_idmap_init(&m->map, a, strata_rng_next(&m->rng));
    strata_mesh_flow_init(&m->flow, a);
    return m;
}

void strata_mesh_del(strata_mesh *m)
{
    if (!m)
        return;
    const strata_alloc *a = m->alloc;
    strata_mem_free(a, m->nodes);
    strata_mem_free(a, m->adj);
    strata_mem_free(a, m->deg);
    strata_mem_free(a, m->incore);
    strata_mem_free(a, m->dirty);
    strata_mem_free(a, m->dist);
    strata_mem_free(a, m->wmark);
    strata_mem_free(a, m->wl);
    strata_mem_free(a, m->wall);
    strata_mem_free(a, m->log);
    strata_idmap_free(&m->map);
    strata_mesh_flow_free(&m->flow);
    strata_mem_free(a, m);
}

/* Doubles every per-member array; a failure leaves the mesh as it was
 * (arrays already grown are only larger). */
static int grow(strata_mesh *m)
{
    if (m->cap >= MESH_MAX_NODES)
        return STRATA_ERR_NOMEM;
    uint32_t ncap = m->cap ? m->cap * 2 : MESH_MIN_CAP;
    size_t o = m->cap, n = ncap, d = m->max_degree;
    struct {
        void **p;
        size_t old, n, size;
    } t[] = {
        {(void **)&m->nodes, o, n, sizeof *m->nodes},
        {(void **)&m->adj, o * d, n * d, 4},
        {(void **)&m->deg, o, n, 1},
        {(void **)&m->incore, o, n, 1},
        {(void **)&m->dirty, o, n, 4},
        {(void **)&m->dist, o, n, 4},
        {(void **)&m->wmark, o, n, 4},
        {(void **)&m->wl, o, n, 4},
        {(void **)&m->wall, o, n, 4},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strata_mesh_flow_grow(m->alloc, t[i].p, t[i].old, t[i].n, t[i].size, 0))
            return STRATA_ERR_NOMEM;
    if (strata_mesh_flow_reserve(&m->flow, ncap))
        return STRATA_ERR_NOMEM;
    m->cap = ncap;
    return 0;
}

static int lookup(const strata_mesh *m, strata_node_id id, uint32_t *v)
{
    return strata_idmap_get(&m->map, id.v, v);
}

int strata_mesh_add(strata_mesh *m, strata_node_id id, uint32_t upload_kbps, uint32_t region)
{
    if (id.v == 0 || id.v == UINT64_MAX)
        return STRATA_ERR_INVAL;
    if (lookup(m, id, NULL) || id.v == m->src.id)
        return STRATA_ERR_EXISTS;
    if (m->free_head == NIL && m->used == m->cap && grow(m))
        return STRATA_ERR_NOMEM;
    if (strata_idmap_reserve(&m->map, (size_t)m->count + 1))
        return STRATA_ERR_NOMEM;
    uint32_t x;
    if (m->free_head != NIL) {
        x = m->free_head;
        m->free_head = m->nodes[x].dpos;
    } else {
        x = m->used++;
    }
    struct mnode *nx = &m->nodes[x];
    memset(nx, 0, sizeof *nx);
    nx->id = id.v;
    nx->salt = strata_rng_next(&m->rng);
    nx->upload_kbps = upload_kbps;
    nx->region = region;
    nx->dpos = NIL;
    nx->cap = cap_for(m, upload_kbps);
    nx->role = STRATA_MESH_UNLINKED;
    m->deg[x] = 0;
    m->incore[x] = 0;
    strata_idmap_put(&m->map, id.v, x); /* reserved: cannot fail */
    m->count++;
    uint32_t from = m->ndirty;
    mark(m, x);
    place(m, x);
    finish(m, REPAIR_ROUNDS, from);
    return 0;
}

int strata_mesh_remove(strata_mesh *m, strata_node_id id)
{
    uint32_t x;
    if (id.v != 0 && id.v == m->src.id) {
        while (m->src.n > 0)
            src_unlink(m, m->src.links[m->src.n - 1]);
        m->src.id = 0;
        m->src.dirty = 0;
        return 0;
    }
    if (!lookup(m, id, &x))
        return STRATA_ERR_NOTFOUND;
    uint32_t from = m->ndirty;
    detach(m, x);
    unmark(m, x);
    strata_idmap_del(&m->map, id.v);
    m->nodes[x].id = 0;
    m->nodes[x].dpos = m->free_head;
    m->free_head = x;
    m->count--;
    finish(m, REPAIR_ROUNDS, from < m->ndirty ? from : m->ndirty);
    return 0;
}

int strata_mesh_set_source(strata_mesh *m, strata_node_id id, uint32_t upload_kbps, uint32_t region)
{
    if (id.v == 0 || id.v == UINT64_MAX)
        return STRATA_ERR_INVAL;
    if (lookup(m, id, NULL))
        return STRATA_ERR_EXISTS;
    struct msource *s = &m->src;
    if (s->id != id.v || s->region != region) {
        while (s->n > 0)
            src_unlink(m, s->links[s->n - 1]);
        s->salt = strata_rng_next(&m->rng);
    }
    s->id = id.v;
    s->region = region;
    s->upload_kbps = upload_kbps;
    s->cap = source_cap(m);
    s->dirty = 1;
    src_settle(m);
    return 0;
}

int strata_mesh_set_upload(strata_mesh *m, strata_node_id id, uint32_t upload_kbps)
{
    uint32_t x;
    if (id.v != 0 && id.v == m->src.id) {
        m->src.upload_kbps = upload_kbps;
        m->src.cap = source_cap(m);
        src_settle(m);
        return 0;
    }
    if (!lookup(m, id, &x))
        return STRATA_ERR_NOTFOUND;
    uint32_t from = m->ndirty;
    m->nodes[x].upload_kbps = upload_kbps;
    m->nodes[x].cap = cap_for(m, upload_kbps);
    place(m, x);
    finish(m, REPAIR_ROUNDS, from);
    return 0;
}

int strata_mesh_set_rate(strata_mesh *m, uint32_t rate_kbps)
{
    if (rate_kbps == 0)
        return STRATA_ERR_INVAL;
    uint32_t from = m->ndirty;
    m->rate_kbps = rate_kbps;
    m->src.cap = source_cap(m);
    /* Smaller caps first, all at once, so that no member is given a link
     * it cannot keep; then each member over its cap or out of its role in
     * turn, as set_upload would; then the larger caps. */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t v = 0; v < m->used; v++) {
            struct mnode *n = &m->nodes[v];
            uint8_t cap = cap_for(m, n->upload_kbps);
            if (n->id && (pass ? cap > n->cap : cap < n->cap))
                n->cap = cap;
        }
        for (uint32_t v = 0; v < m->used; v++) {
            struct mnode *n = &m->nodes[v];
            if (n->id && (m->deg[v] > n->cap || role_for(m, n->cap) != n->role))
                place(m, v);
        }
    }
    /* Every cap may have changed: repair until done or out of room. */
    finish(m, (size_t)m->ncore * m->c + REPAIR_ROUNDS, from);
    return 0;
}

size_t strata_mesh_neighbours(const strata_mesh *m, strata_node_id id, strata_node_id *out,
                              size_t max)
{
    uint32_t v;
    size_t n = 0;
    if (id.v != 0 && id.v == m->src.id) {
        for (unsigned i = 0; i < m->src.n; i++, n++)
            if (n < max)
                out[n] = (strata_node_id){m->nodes[m->src.links[i]].id};
        return n;
    }
    if (!lookup(m, id, &v))
        return 0;
    const uint32_t *a = nbrs(m, v);
    for (unsigned i = 0; i < m->deg[v]; i++, n++)
        if (n < max)
            out[n] = (strata_node_id){m->nodes[a[i]].id};
    if (m->nodes[v].src) {
        if (n < max)
            out[n] = (strata_node_id){m->src.id};
        n++;
    }
    return n;
}

int strata_mesh_role(const strata_mesh *m, strata_node_id id)
{
    uint32_t v;
    if (id.v != 0 && id.v == m->src.id)
        return STRATA_MESH_SOURCE;
    if (!lookup(m, id, &v))
        return STRATA_ERR_NOTFOUND;
    return m->nodes[v].role;
}

uint32_t strata_mesh_degree_cap(const strata_mesh *m, uint32_t upload_kbps)
{
    return cap_for(m, upload_kbps);
}

size_t strata_mesh_count(const strata_mesh *m)
{
    return m->count;
}

int strata_mesh_link_next(const strata_mesh *m, size_t *pos, strata_node_id *a, strata_node_id *b)
{
    size_t D = m->max_degree, end = (size_t)m->used * D;
    while (*pos < end) {
        size_t p = (*pos)++;
        uint32_t v = (uint32_t)(p / D);
        unsigned i = (unsigned)(p % D);
        if (!m->nodes[v].id || i >= m->deg[v])
            continue;
        uint32_t w = nbrs(m, v)[i];
        if (w < v)
            continue;
        *a = (strata_node_id){m->nodes[v].id};
        *b = (strata_node_id){m->nodes[w].id};
        return 1;
    }
    if (*pos - end < m->src.n) {
        *a = (strata_node_id){m->src.id};
        *b = (strata_node_id){m->nodes[m->src.links[*pos - end]].id};
        (*pos)++;
        return 1;
    }
    return 0;
}

size_t strata_mesh_take_dirty(strata_mesh *m, strata_node_id *out, size_t max)
{
    size_t n = 0;
    if (m->src.dirty && m->src.id && n < max) {
        out[n++] = (strata_node_id){m->src.id};
        m->src.dirty = 0;
    }
    while (n < max && m->ndirty > 0) {
        uint32_t v = m->dirty[--m->ndirty];
        m->nodes[v].dpos = NIL;
        out[n++] = (strata_node_id){m->nodes[v].id};
    }
    return n;
}

int strata_mesh_take_changes(strata_mesh *m, strata_mesh_change *out, size_t max)
{
    if (m->log_lost) {
        m->log_lost = 0;
        m->nlog = 0;
        return STRATA_ERR_NOMEM;
    }
    size_t n = m->nlog < max ? m->nlog : max;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (strata_mesh_change){{m->log[i].a}, {m->log[i].b}, m->log[i].added};
    memmove(m->log, m->log + n, (m->nlog - n) * sizeof *m->log);
    m->nlog -= n;
    return (int)(n < (size_t)INT32_MAX ? n : (size_t)INT32_MAX);
}

int strata_mesh_target_met(const strata_mesh *m)
{
    return m->met;
}

unsigned strata_mesh_connectivity(strata_mesh *m, unsigned limit)
{
    size_t n = all_core(m);
    if (n < 2)
        return 0;
    view_update(m);
    for (unsigned k = 1; k <= limit; k++)
        if (!strata_mesh_flow_check(&m->flow, m->wall, n, k))
            return k - 1;
    return limit;
}

void strata_mesh_get_stats(strata_mesh *m, strata_mesh_stats *st)
{
    memset(st, 0, sizeof *st);
    unsigned t = core_target(m);
    size_t degsum = 0, linked_members = 0, linkable = 0;
    for (uint32_t v = 0; v < m->used; v++) {
        const struct mnode *n = &m->nodes[v];
        if (!n->id)
            continue;
        st->members++;
        st->core += n->role == STRATA_MESH_CORE;
        st->weak += n->role == STRATA_MESH_WEAK;
        st->unlinked += n->role == STRATA_MESH_UNLINKED;
        if (n->role == STRATA_MESH_CORE ? n->cdeg < t
                                        : n->role == STRATA_MESH_WEAK && m->deg[v] < n->cap)
            st->short_nodes++;
        linkable += n->role != STRATA_MESH_UNLINKED;
        if (m->deg[v]) {
            linked_members++;
            degsum += m->deg[v];
        }
        if (m->deg[v] > st->max_degree)
            st->max_degree = m->deg[v];
    }
    st->links = degsum / 2;
    st->source_links = m->src.n;
    st->target = t;
    st->met = m->met;
    st->mean_degree = linked_members ? (double)degsum / (double)linked_members : 0.0;
    st->max_hops = -1;
    if (!m->src.id)
        return;
    /* Hops from the source, breadth first (wl as the queue, dist as the
     * hop count, wmark as seen). */
    size_t qh = 0, qt = 0, reached = 0;
    uint64_t hopsum = 0;
    size_t nw;
    w_start(m, &nw);
    for (unsigned i = 0; i < m->src.n; i++) {
        uint32_t v = m->src.links[i];
        m->wmark[v] = m->wstamp;
        m->dist[v] = 1;
        m->wl[qt++] = v;
    }
    st->max_hops = 0;
    while (qh < qt) {
        uint32_t v = m->wl[qh++];
        reached++;
        hopsum += m->dist[v];
        if ((int)m->dist[v] > st->max_hops)
            st->max_hops = (int)m->dist[v];
        const uint32_t *a = nbrs(m, v);
        for (unsigned i = 0; i < m->deg[v]; i++) {
            uint32_t w = a[i];
            if (m->wmark[w] == m->wstamp)
                continue;
            m->wmark[w] = m->wstamp;
            m->dist[w] = m->dist[v] + 1;
            m->wl[qt++] = w;
        }
    }
    st->mean_hops = reached ? (double)hopsum / (double)reached : 0.0;
    st->unreached = linkable - reached;
}

/* --- invariant check ---------------------------------------------------------- */

#define CHECK_FAIL(...)                                                                            \
    do {                                                                                           \
        if (why && whylen)                                                                         \
            snprintf(why, whylen, __VA_ARGS__);                                                    \
        return STRATA_ERR_INVAL;                                                                   \
    } while (0)

int strata_mesh_check(const strata_mesh *m, char *why, size_t whylen)
{
    uint32_t count = 0, ncore = 0, nsrc = 0;
    for (uint32_t v = 0; v < m->used; v++) {
        const struct mnode *n = &m->nodes[v];
        if (!n->id)
            continue;
        count++;
        uint32_t idx;
        if (!strata_idmap_get(&m->map, n->id, &idx) || idx != v)
            CHECK_FAIL("node %llx not indexed at %u", (unsigned long long)n->id, v);
        if (n->cap != cap_for(m, n->upload_kbps))
            CHECK_FAIL("node %llx cap %u, upload gives %u", (unsigned long long)n->id, n->cap,
                       cap_for(m, n->upload_kbps));
        if (n->role != role_for(m, n->cap))
            CHECK_FAIL("node %llx role %u for cap %u", (unsigned long long)n->id, n->role, n->cap);
        if ((m->incore[v] != 0) != (n->role == STRATA_MESH_CORE))
            CHECK_FAIL("node %llx core flag %u", (unsigned long long)n->id, m->incore[v]);
        ncore += n->role == STRATA_MESH_CORE;
        nsrc += n->src;
        if (m->deg[v] > n->cap)
            CHECK_FAIL("node %llx has %u links, cap %u", (unsigned long long)n->id, m->deg[v],
                       n->cap);
        unsigned cdeg = 0;
        const uint32_t *a = nbrs(m, v);
        for (unsigned i = 0; i < m->deg[v]; i++) {
            uint32_t w = a[i];
            if (w >= m->used || !m->nodes[w].id)
                CHECK_FAIL("node %llx links to a free index", (unsigned long long)n->id);
            if (w == v)
                CHECK_FAIL("node %llx links to itself", (unsigned long long)n->id);
            for (unsigned j = 0; j < i; j++)
                if (a[j] == w)
                    CHECK_FAIL("node %llx links twice to %llx", (unsigned long long)n->id,
                               (unsigned long long)m->nodes[w].id);
            if (!linked(m, w, v))
                CHECK_FAIL("link %llx-%llx one way", (unsigned long long)n->id,
                           (unsigned long long)m->nodes[w].id);
            cdeg += m->nodes[w].role == STRATA_MESH_CORE;
        }
        if (cdeg != n->cdeg)
            CHECK_FAIL("node %llx core degree %u, counted %u", (unsigned long long)n->id, n->cdeg,
                       cdeg);
    }
    if (count != m->count || ncore != m->ncore)
        CHECK_FAIL("counts %u/%u members, %u/%u core", count, m->count, ncore, m->ncore);
    if (!m->src.id && m->src.n)
        CHECK_FAIL("links without a source");
    if (m->src.n > m->src.cap || nsrc != m->src.n)
        CHECK_FAIL("source has %u links (cap %u), members say %u", m->src.n, m->src.cap, nsrc);
    for (unsigned i = 0; i < m->src.n; i++) {
        uint32_t v = m->src.links[i];
        if (v >= m->used || !m->nodes[v].id || !m->nodes[v].src)
            CHECK_FAIL("source link %u to a non-member", i);
        for (unsigned j = 0; j < i; j++)
            if (m->src.links[j] == v)
                CHECK_FAIL("source links twice to %llx", (unsigned long long)m->nodes[v].id);
    }
    return 0;
}
