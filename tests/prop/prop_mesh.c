/*
 * Property test of the top-level mesh: random populations and random
 * sequences of joins, departures, upload changes, rate changes, source
 * changes and bursts of c - 1 failures; after every step the mesh is
 * compared with a model kept here, independently of core/mesh.c:
 *
 *   - structure: the mesh's own check; links as link_next lists them agree
 *     with every node's neighbours, are symmetric, have no self or
 *     duplicate links and name only live members; each member's role and
 *     cap follow from its upload (recomputed here), its links stay within
 *     the cap, the source's within its own;
 *   - the change log, applied to the previous links, gives the current
 *     ones, and every node whose neighbours changed is in the dirty set;
 *   - connectivity, checked directly: with t = min(c, core - 1), removing
 *     each (t-1)-subset of the core (all of them while there are at most
 *     EXHAUSTIVE of them, else a random sample plus Even's max-flow test,
 *     written here) leaves the rest of the
 *     core connected, and reached from the source when the source has t
 *     links; the mesh's "target met" must say exactly that;
 *   - whenever every core member has room for c + 1 links the target is
 *     met (tested here, not proven: with exactly c the construction can
 *     get stuck where a c-regular mesh exists, which is counted), and
 *     when capacity is ample (c + 2 links or more, the "ample" rounds) and
 *     the neighbours keep room, a departure only adds links with an end
 *     among its neighbours and only removes its own links or surplus
 *     next to the repair (every departure repaired elsewhere is counted).
 *
 * Seeded from STRATA_TEST_SEED as the other property tests are.
 */
#include "strata/mesh.h"

#include "testutil.h"

enum {
    MAXN = 160,        /* members alive at once, at most */
    EXHAUSTIVE = 4000, /* subsets enumerated at most */
    SAMPLED = 300,     /* random subsets beyond that */
    MAXLOG = 1 << 16,
};

struct pmember {
    uint64_t id;
    uint32_t up, region;
    double x, y; /* position for the RTT oracle */
};

struct model {
    strata_mesh *m;
    unsigned c, maxd, share;
    uint32_t rate;
    int ample, unknown_rtt;
    unsigned fixed; /* every member can take exactly this many links (0: a mix) */
    struct pmember mem[MAXN];
    size_t n;
    uint64_t src_id;
    uint32_t src_up, src_region;
    double src_x, src_y;
    uint64_t next_id;
    unsigned nregions;
    /* links before the step, as a sorted list of pairs (a < b) */
    uint64_t (*prev)[2];
    size_t nprev;
};

static strata_rng rng;
static int failed_round;
static long unmet_steps, steps_total, local_departures, nonlocal_departures, trims;
static long subsets_checked, pair_flows, unmet_feasible; /* informational */

#define PFAIL(...)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        failed_round = 1;                                                                          \
        test_failures++;                                                                           \
    } while (0)

static uint64_t below(uint64_t n)
{
    return strata_rng_below(&rng, n);
}

static const struct pmember *find(const struct model *p, uint64_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->mem[i].id == id)
            return &p->mem[i];
    return NULL;
}

/* Where id is on the plane; 0 if it is no one. */
static int pos_of(const struct model *p, uint64_t id, double *x, double *y)
{
    const struct pmember *q = find(p, id);
    if (id == p->src_id && id) {
        *x = p->src_x;
        *y = p->src_y;
    } else if (q) {
        *x = q->x;
        *y = q->y;
    } else {
        return 0;
    }
    return 1;
}

/* RTT: distance on a 200 x 200 plane, some pairs unknown. */
static uint32_t oracle(void *user, strata_node_id a, strata_node_id b)
{
    const struct model *p = user;
    double ax, ay, bx, by;
    if (((a.v ^ b.v) % 5 == 0 && p->unknown_rtt) || !pos_of(p, a.v, &ax, &ay) ||
        !pos_of(p, b.v, &bx, &by))
        return STRATA_MESH_RTT_UNKNOWN;
    double dx = ax - bx, dy = ay - by, r = dx * dx + dy * dy;
    /* integer square root, good enough for an RTT */
    uint32_t s = 0;
    while ((double)(s + 1) * (s + 1) <= r)
        s++;
    return 1 + s;
}

static uint32_t cap_of(const struct model *p, uint32_t up)
{
    uint64_t n = (uint64_t)up * p->share / (100u * (uint64_t)p->rate);
    return n < p->maxd ? (uint32_t)n : p->maxd;
}

static int role_of(const struct model *p, uint32_t up)
{
    uint32_t cap = cap_of(p, up);
    return cap == 0 ? STRATA_MESH_UNLINKED : cap < p->c ? STRATA_MESH_WEAK : STRATA_MESH_CORE;
}

/* An upload for this round's capacity mix. */
static uint32_t draw_upload(const struct model *p)
{
    uint64_t per_link = ((uint64_t)p->rate * 100 + p->share - 1) / p->share;
    if (p->ample)
        return (uint32_t)(per_link * (p->c + 2 + below(6)));
    if (p->fixed)
        return (uint32_t)(per_link * p->fixed);
    uint64_t r = below(100);
    if (r < 10)
        return (uint32_t)below(per_link); /* unlinked */
    if (r < 25)
        return (uint32_t)(per_link * (1 + below(p->c))); /* weak or just core */
    if (r < 60)
        return (uint32_t)(per_link * p->c); /* exactly c links */
    return (uint32_t)(per_link * (p->c + below(8)));
}

static void place_member(struct model *p, struct pmember *q)
{
    q->region = (uint32_t)below(p->nregions);
    /* regions are clusters on the plane */
    q->x = 200.0 * q->region / p->nregions + (double)below(30);
    q->y = (double)below(200);
}

/* --- the links as the mesh reports them ----------------------------------- */

static int cmp_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static size_t current_links(const struct model *p, uint64_t (*out)[2], size_t max)
{
    size_t pos = 0, n = 0;
    strata_node_id a, b;
    while (strata_mesh_link_next(p->m, &pos, &a, &b)) {
        if (n < max) {
            out[n][0] = a.v < b.v ? a.v : b.v;
            out[n][1] = a.v < b.v ? b.v : a.v;
        }
        n++;
    }
    if (n <= max)
        qsort(out, n, sizeof out[0], cmp_pair);
    return n;
}

static int has_pair(uint64_t (*l)[2], size_t n, uint64_t a, uint64_t b)
{
    uint64_t k[2] = {a < b ? a : b, a < b ? b : a};
    return bsearch(k, l, n, sizeof l[0], cmp_pair) != NULL;
}

/* Links of id to members (not the source), in the link list. */
static unsigned member_links(const struct model *p, uint64_t (*l)[2], size_t n, uint64_t id)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++)
        k += (l[i][0] == id || l[i][1] == id) &&
             (!p->src_id || (l[i][0] != p->src_id && l[i][1] != p->src_id));
    return k;
}

/* Links of id to core members, in the link list. */
static unsigned core_links(const struct model *p, uint64_t (*l)[2], size_t n, uint64_t id)
{
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t o = l[i][0] == id ? l[i][1] : l[i][1] == id ? l[i][0] : 0;
        const struct pmember *q = o ? find(p, o) : NULL;
        k += q && role_of(p, q->up) == STRATA_MESH_CORE;
    }
    return k;
}

/* --- independent connectivity ---------------------------------------------- */

struct graph {
    size_t n; /* core members */
    uint64_t ids[MAXN];
    unsigned deg[MAXN];
    unsigned adj[MAXN][STRATA_MESH_MAX_DEGREE];
    int src[MAXN]; /* linked to the source */
    unsigned nsrc;
};

static int gindex(const struct graph *g, uint64_t id)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->ids[i] == id)
            return (int)i;
    return -1;
}

static void build_core(const struct model *p, struct graph *g, uint64_t (*l)[2], size_t nl)
{
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < p->n; i++)
        if (role_of(p, p->mem[i].up) == STRATA_MESH_CORE)
            g->ids[g->n++] = p->mem[i].id;
    for (size_t i = 0; i < nl; i++) {
        int a = gindex(g, l[i][0]), b = gindex(g, l[i][1]);
        if (p->src_id && (l[i][0] == p->src_id || l[i][1] == p->src_id)) {
            int o = l[i][0] == p->src_id ? b : a;
            if (o >= 0) {
                g->src[o] = 1;
                g->nsrc++;
            }
            continue;
        }
        if (a < 0 || b < 0)
            continue;
        g->adj[a][g->deg[a]++] = (unsigned)b;
        g->adj[b][g->deg[b]++] = (unsigned)a;
    }
}

/* Whether every core member outside gone is connected to the others (and,
 * with from_source, reached from the source). */
static int connected_without(const struct graph *g, const int *gone, int from_source)
{
    unsigned queue[MAXN], seen[MAXN] = {0};
    size_t qh = 0, qt = 0, alive = 0;
    for (size_t v = 0; v < g->n; v++)
        alive += !gone[v];
    if (alive == 0)
        return 1;
    if (from_source) {
        for (size_t v = 0; v < g->n; v++)
            if (g->src[v] && !gone[v]) {
                seen[v] = 1;
                queue[qt++] = (unsigned)v;
            }
    } else {
        for (size_t v = 0; v < g->n && qt == 0; v++)
            if (!gone[v]) {
                seen[v] = 1;
                queue[qt++] = (unsigned)v;
            }
    }
    while (qh < qt) {
        unsigned v = queue[qh++];
        for (unsigned i = 0; i < g->deg[v]; i++) {
            unsigned w = g->adj[v][i];
            if (!gone[w] && !seen[w]) {
                seen[w] = 1;
                queue[qt++] = w;
            }
        }
    }
    return qt == alive;
}

/* A flow network for Menger's theorem, written independently of
 * core/mesh_flow.c: vertex v is the arc 2v -> 2v+1 of capacity 1, a link
 * a-b the arcs 2a+1 -> 2b and 2b+1 -> 2a, and a virtual vertex (node 2n)
 * has an arc to every 2v, opened per query. Edmonds-Karp on arc lists. */
enum { MAXARC = 2 * (MAXN + MAXN * STRATA_MESH_MAX_DEGREE + MAXN) };

struct fnet {
    int nodes, narcs;
    int head[2 * MAXN + 1];
    int next[MAXARC], to[MAXARC];
    uint8_t cap[MAXARC], cap0[MAXARC];
    int virt[MAXN]; /* the virtual vertex's arc to 2v */
};

static int add_arc(struct fnet *f, int u, int v, uint8_t c)
{
    int i = f->narcs;
    f->to[i] = v;
    f->cap0[i] = c;
    f->next[i] = f->head[u];
    f->head[u] = i;
    f->to[i + 1] = u;
    f->cap0[i + 1] = 0;
    f->next[i + 1] = f->head[v];
    f->head[v] = i + 1;
    f->narcs += 2;
    return i;
}

static void build_net(struct fnet *f, const struct graph *g)
{
    f->nodes = 2 * (int)g->n + 1;
    f->narcs = 0;
    for (int i = 0; i < f->nodes; i++)
        f->head[i] = -1;
    for (size_t v = 0; v < g->n; v++) {
        add_arc(f, 2 * (int)v, 2 * (int)v + 1, 1);
        for (unsigned i = 0; i < g->deg[v]; i++)
            add_arc(f, 2 * (int)v + 1, 2 * (int)g->adj[v][i], 1);
        f->virt[v] = add_arc(f, 2 * (int)g->n, 2 * (int)v, 0);
    }
}

/* Max flow from node s to node t, up to limit, from the initial caps. */
static unsigned max_flow(struct fnet *f, int s, int t, unsigned limit)
{
    memcpy(f->cap, f->cap0, (size_t)f->narcs);
    unsigned flow = 0;
    while (flow < limit) {
        int via[2 * MAXN + 1], q[2 * MAXN + 1], qh = 0, qt = 0;
        for (int i = 0; i < f->nodes; i++)
            via[i] = -2;
        via[s] = -1;
        q[qt++] = s;
        while (qh < qt && via[t] == -2) {
            int u = q[qh++];
            for (int a = f->head[u]; a >= 0; a = f->next[a])
                if (f->cap[a] && via[f->to[a]] == -2) {
                    via[f->to[a]] = a;
                    q[qt++] = f->to[a];
                }
        }
        if (via[t] == -2)
            break;
        for (int v = t; v != s; v = f->to[via[v] ^ 1]) {
            f->cap[via[v]]--;
            f->cap[via[v] ^ 1]++;
        }
        flow++;
    }
    return flow;
}

/* Even's test over every core member: pairs among the first t, then a
 * fan from each later one to all before it (through the virtual
 * vertex). */
static int even_check(const struct graph *g, unsigned t)
{
    static struct fnet f;
    build_net(&f, g);
    size_t k = g->n < t ? g->n : t;
    for (size_t a = 0; a < k; a++)
        for (size_t b = a + 1; b < k; b++) {
            pair_flows++;
            if (max_flow(&f, 2 * (int)a + 1, 2 * (int)b, t) < t)
                return 0;
        }
    for (size_t j = k; j < g->n; j++) {
        for (size_t i = 0; i < g->n; i++)
            f.cap0[f.virt[i]] = i < j;
        pair_flows++;
        if (max_flow(&f, 2 * (int)g->n, 2 * (int)j, t) < t)
            return 0;
    }
    return 1;
}

static double choose(size_t n, size_t k)
{
    double r = 1;
    for (size_t i = 0; i < k; i++)
        r = r * (double)(n - i) / (double)(i + 1);
    return r;
}

/* Returns 1 when removing any t-1 core members leaves the rest connected
 * (and reached from the source when from_source). Exhaustive over the
 * subsets when there are few; otherwise sampled subsets plus Even's
 * max-flow test. */
static int survives(const struct graph *g, unsigned t, int from_source)
{
    int gone[MAXN] = {0};
    size_t k = t ? t - 1 : 0;
    if (g->n <= 1)
        return 1;
    if (!connected_without(g, gone, from_source))
        return 0;
    if (k == 0)
        return 1;
    if (choose(g->n, k) <= EXHAUSTIVE) {
        size_t idx[STRATA_MESH_MAX_C];
        for (size_t i = 0; i < k; i++)
            idx[i] = i;
        for (;;) {
            for (size_t i = 0; i < k; i++)
                gone[idx[i]] = 1;
            int ok = connected_without(g, gone, from_source);
            for (size_t i = 0; i < k; i++)
                gone[idx[i]] = 0;
            subsets_checked++;
            if (!ok)
                return 0;
            size_t i = k;
            while (i > 0 && idx[i - 1] == g->n - k + i - 1)
                i--;
            if (i == 0)
                return 1;
            idx[i - 1]++;
            for (size_t j = i; j < k; j++)
                idx[j] = idx[j - 1] + 1;
        }
    }
    for (int s = 0; s < SAMPLED; s++) {
        size_t picked = 0;
        while (picked < k) {
            size_t v = (size_t)below(g->n);
            if (!gone[v]) {
                gone[v] = 1;
                picked++;
            }
        }
        int ok = connected_without(g, gone, from_source);
        memset(gone, 0, sizeof gone);
        subsets_checked++;
        if (!ok)
            return 0;
    }
    if (from_source)
        return 1; /* the exact check below is about the core alone */
    return even_check(g, t);
}

/* --- verification after each step ------------------------------------------ */

struct stepinfo {
    const char *op;
    uint64_t departed; /* a core member removed, or 0 */
    uint64_t nb[STRATA_MESH_MAX_DEGREE + 1];
    size_t nnb;
};

static void verify(struct model *p, const struct stepinfo *si)
{
    char why[160];
    steps_total++;
    if (strata_mesh_check(p->m, why, sizeof why) != 0) {
        PFAIL("after %s: check: %s", si->op, why);
        return;
    }
    if (strata_mesh_count(p->m) != p->n)
        PFAIL("after %s: count %zu, model %zu", si->op, strata_mesh_count(p->m), p->n);

    static uint64_t links[MAXLOG][2];
    size_t nl = current_links(p, links, MAXLOG);
    if (nl > MAXLOG) {
        PFAIL("too many links");
        return;
    }
    /* Every link once, between live nodes, never a self link; degrees. */
    size_t deg[MAXN] = {0}, srcdeg = 0;
    for (size_t i = 0; i < nl; i++) {
        if (links[i][0] == links[i][1])
            PFAIL("after %s: self link %llx", si->op, (unsigned long long)links[i][0]);
        if (i && !cmp_pair(links[i - 1], links[i]))
            PFAIL("after %s: link listed twice", si->op);
        for (int e = 0; e < 2; e++) {
            uint64_t id = links[i][e];
            if (id == p->src_id && p->src_id) {
                srcdeg++;
                continue;
            }
            const struct pmember *q = find(p, id);
            if (!q) {
                PFAIL("after %s: link to departed %llx", si->op, (unsigned long long)id);
                continue;
            }
            uint64_t other = links[i][1 - e];
            if (other != p->src_id || !p->src_id)
                deg[q - p->mem]++;
        }
    }
    if (p->src_id) {
        uint64_t sc = p->src_up ? cap_of(p, p->src_up) : p->c;
        if (srcdeg > sc)
            PFAIL("after %s: source has %zu links, cap %llu", si->op, srcdeg,
                  (unsigned long long)sc);
    }
    for (size_t i = 0; i < p->n && !failed_round; i++) {
        const struct pmember *q = &p->mem[i];
        strata_node_id out[STRATA_MESH_MAX_DEGREE + 2];
        size_t nn =
            strata_mesh_neighbours(p->m, (strata_node_id){q->id}, out, STRATA_MESH_MAX_DEGREE + 2);
        size_t member_nn = 0;
        for (size_t j = 0; j < nn && j < STRATA_MESH_MAX_DEGREE + 2; j++) {
            if (!has_pair(links, nl, q->id, out[j].v))
                PFAIL("after %s: %llx names %llx, not in the links", si->op,
                      (unsigned long long)q->id, (unsigned long long)out[j].v);
            member_nn += out[j].v != p->src_id || !p->src_id;
        }
        if (member_nn != deg[i])
            PFAIL("after %s: %llx has %zu neighbours, links say %zu", si->op,
                  (unsigned long long)q->id, member_nn, deg[i]);
        if (deg[i] > cap_of(p, q->up))
            PFAIL("after %s: %llx has %zu links over cap %u (upload %u, rate %u)", si->op,
                  (unsigned long long)q->id, deg[i], cap_of(p, q->up), q->up, p->rate);
        int role = strata_mesh_role(p->m, (strata_node_id){q->id});
        if (role != role_of(p, q->up))
            PFAIL("after %s: %llx role %d, expected %d", si->op, (unsigned long long)q->id, role,
                  role_of(p, q->up));
        if (role == STRATA_MESH_UNLINKED && nn)
            PFAIL("after %s: unlinked %llx has links", si->op, (unsigned long long)q->id);
    }

    /* The change log turns the previous links into these. */
    static strata_mesh_change ch[MAXLOG];
    int nch = strata_mesh_take_changes(p->m, ch, MAXLOG);
    if (nch < 0) {
        PFAIL("after %s: change log lost", si->op);
    } else {
        static uint64_t cur[MAXLOG][2];
        size_t ncur = p->nprev;
        memcpy(cur, p->prev, p->nprev * sizeof cur[0]);
        for (int i = 0; i < nch; i++) {
            uint64_t a = ch[i].a.v < ch[i].b.v ? ch[i].a.v : ch[i].b.v;
            uint64_t b = ch[i].a.v < ch[i].b.v ? ch[i].b.v : ch[i].a.v;
            size_t j = 0;
            while (j < ncur && !(cur[j][0] == a && cur[j][1] == b))
                j++;
            if (ch[i].added) {
                if (j < ncur || ncur == MAXLOG)
                    PFAIL("after %s: log adds an existing link", si->op);
                else {
                    cur[ncur][0] = a;
                    cur[ncur++][1] = b;
                }
            } else if (j == ncur) {
                PFAIL("after %s: log removes a missing link", si->op);
            } else {
                cur[j][0] = cur[ncur - 1][0];
                cur[j][1] = cur[--ncur][1];
            }
        }
        qsort(cur, ncur, sizeof cur[0], cmp_pair);
        if (ncur != nl || memcmp(cur, links, nl * sizeof links[0]) != 0)
            PFAIL("after %s: the log gives %zu links, the mesh has %zu", si->op, ncur, nl);
        /* Locality of a departure's repair, with ample capacity: links
         * added have an end among the departed node's neighbours; links
         * removed are its own, or surplus trimmed next to the repair
         * (an end among the neighbours or the ends of added links, both
         * ends left with c links or more). */
        if (si->departed) {
            int local = 1;
            for (int i = 0; i < nch; i++) {
                uint64_t a = ch[i].a.v, b = ch[i].b.v;
                int in = 0;
                for (size_t j = 0; j < si->nnb; j++)
                    in |= si->nb[j] == a || si->nb[j] == b;
                if (ch[i].added) {
                    local &= in;
                } else if (a != si->departed && b != si->departed) {
                    for (int j = 0; j < nch; j++)
                        in |= ch[j].added && (ch[j].a.v == a || ch[j].b.v == a || ch[j].a.v == b ||
                                              ch[j].b.v == b);
                    local &= in && core_links(p, links, nl, a) >= p->c &&
                             core_links(p, links, nl, b) >= p->c;
                    trims++;
                }
            }
            /* "Where possible": the neighbours have room left. */
            int room = 1;
            for (size_t j = 0; j < si->nnb; j++) {
                const struct pmember *q = find(p, si->nb[j]);
                if (q)
                    room &= member_links(p, links, nl, q->id) < cap_of(p, q->up);
            }
            if (local)
                local_departures++;
            else
                nonlocal_departures++;
            if (!local && p->ample && room)
                PFAIL("after %s: a departure changed links away from its neighbours", si->op);
        }
        /* Every node whose neighbours changed is dirty. */
        strata_node_id dirty[MAXN + 2];
        size_t nd = strata_mesh_take_dirty(p->m, dirty, MAXN + 2);
        for (int i = 0; i < nch; i++) {
            for (int e = 0; e < 2; e++) {
                uint64_t id = e ? ch[i].b.v : ch[i].a.v;
                int live = find(p, id) || id == p->src_id;
                int found = 0;
                for (size_t j = 0; j < nd; j++)
                    found |= dirty[j].v == id;
                /* a node whose links changed and changed back may be
                 * listed; one whose links changed must be */
                int changed = has_pair(links, nl, ch[i].a.v, ch[i].b.v) !=
                              has_pair(p->prev, p->nprev, ch[i].a.v, ch[i].b.v);
                if (live && !found && changed)
                    PFAIL("after %s: %llx changed but is not dirty", si->op,
                          (unsigned long long)id);
            }
        }
    }
    memcpy(p->prev, links, nl * sizeof links[0]);
    p->nprev = nl;

    /* Connectivity, directly. */
    static struct graph g;
    build_core(p, &g, links, nl);
    unsigned t = g.n <= 1 ? 0 : g.n - 1 < p->c ? (unsigned)g.n - 1 : p->c;
    int ok = survives(&g, t, 0);
    int met = strata_mesh_target_met(p->m);
    if (met != ok) {
        for (size_t i = 0; i < nl; i++)
            fprintf(stderr, "  link %llu-%llu\n", (unsigned long long)links[i][0],
                    (unsigned long long)links[i][1]);
        for (size_t i = 0; i < p->n; i++)
            fprintf(stderr, "  member %llu up %u role %d region %u\n",
                    (unsigned long long)p->mem[i].id, p->mem[i].up, role_of(p, p->mem[i].up),
                    p->mem[i].region);
    }
    if (met != ok)
        PFAIL("after %s: target met says %d, removing %u of %zu core members says %d", si->op, met,
              t ? t - 1 : 0, g.n, ok);
    if (!met) {
        unmet_steps++;
        int room = p->maxd >= p->c + 1;
        for (size_t i = 0; i < p->n; i++)
            if (role_of(p, p->mem[i].up) == STRATA_MESH_CORE)
                room &= cap_of(p, p->mem[i].up) >= p->c + 1;
        if (room)
            PFAIL("after %s: every core member has room for c + 1 links, target unmet", si->op);
        /* exactly c links each: Harary's graphs are c-regular and
         * c-connected when c or the core count is even */
        unmet_feasible += p->fixed == p->c && (p->c % 2 == 0 || g.n % 2 == 0);
    }
    if (p->ample && !ok)
        PFAIL("after %s: ample capacity but the core is not %u-connected", si->op, t);
    if (ok && p->src_id && g.nsrc >= t && !survives(&g, t, 1))
        PFAIL("after %s: the source does not reach every survivor of %u failures", si->op,
              t ? t - 1 : 0);
    strata_mesh_stats st;
    strata_mesh_get_stats(p->m, &st);
    if (st.core != g.n || st.met != met || st.target != t)
        PFAIL("after %s: stats core %zu/%zu met %d/%d target %u/%u", si->op, st.core, g.n, st.met,
              met, st.target, t);
}

/* --- operations -------------------------------------------------------------- */

static void op_add(struct model *p, struct stepinfo *si)
{
    if (p->n == MAXN)
        return;
    struct pmember *q = &p->mem[p->n];
    q->id = p->next_id++;
    q->up = draw_upload(p);
    place_member(p, q);
    p->n++;
    int err = strata_mesh_add(p->m, (strata_node_id){q->id}, q->up, q->region);
    if (err)
        PFAIL("add: %s", strata_strerror(err));
    si->op = "add";
}

static void op_remove(struct model *p, size_t i, struct stepinfo *si)
{
    uint64_t id = p->mem[i].id;
    si->op = "remove";
    if (role_of(p, p->mem[i].up) == STRATA_MESH_CORE) {
        si->departed = id;
        strata_node_id out[STRATA_MESH_MAX_DEGREE + 1];
        si->nnb =
            strata_mesh_neighbours(p->m, (strata_node_id){id}, out, STRATA_MESH_MAX_DEGREE + 1);
        for (size_t j = 0; j < si->nnb; j++)
            si->nb[j] = out[j].v;
        if (p->src_id)
            si->nb[si->nnb++] = p->src_id; /* the source may replace its link */
    }
    int err = strata_mesh_remove(p->m, (strata_node_id){id});
    if (err)
        PFAIL("remove: %s", strata_strerror(err));
    p->mem[i] = p->mem[--p->n];
}

static void run_round(uint64_t round, size_t *steps_done)
{
    static struct model p;
    static uint64_t prevbuf[MAXLOG][2];
    memset(&p, 0, sizeof p);
    p.prev = prevbuf;
    uint64_t r = below(100);
    p.c = r < 15   ? 1 + (unsigned)below(2)
          : r < 75 ? 3 + (unsigned)below(2)
                   : 1 + (unsigned)below(8);
    p.maxd = below(3) ? 0 : p.c + (unsigned)below(STRATA_MESH_MAX_DEGREE - p.c + 1);
    p.share = below(2) ? 0 : 50 + (unsigned)below(51);
    static const uint32_t rates[] = {500, 1000, 2000, 4000};
    p.rate = rates[below(4)];
    /* Ample: every member can take c + 2 links (uploads and max degree). */
    p.ample = below(3) == 0 && (p.maxd == 0 || p.maxd >= p.c + 2);
    if (!p.ample && below(3) == 0 && (p.maxd == 0 || p.maxd >= p.c + 1))
        p.fixed = p.c + (unsigned)below(2);
    p.unknown_rtt = (int)below(2);
    p.nregions = 1 + (unsigned)below(below(2) ? 4 : 12);
    int oracle_on = below(4) != 0;
    strata_mesh_config cfg = {(uint8_t)p.c,
                              (uint8_t)p.maxd,
                              (uint8_t)p.share,
                              p.rate,
                              strata_rng_next(&rng),
                              oracle_on ? oracle : NULL,
                              &p};
    if (!p.maxd)
        p.maxd = STRATA_MESH_DEFAULT_MAX_DEGREE;
    if (!p.share)
        p.share = STRATA_MESH_DEFAULT_SHARE_PERCENT;
    if (p.maxd < p.c)
        p.maxd = p.c;
    cfg.max_degree = (uint8_t)p.maxd;
    p.m = strata_mesh_new(NULL, &cfg);
    if (!p.m) {
        PFAIL("round %llu: new failed", (unsigned long long)round);
        return;
    }
    p.next_id = 1000 + round * 100000;
    /* Ample rounds keep the rate (a higher rate would shrink the caps). */
    uint64_t shape = below(100);
    size_t n0 = shape < 40 ? below(8) : shape < 85 ? 8 + below(40) : 40 + below(100);
    struct stepinfo si;
    if (below(2)) {
        p.src_id = 7;
        p.src_up =
            below(4) ? (uint32_t)((uint64_t)p.rate * 100 / p.share * (p.c + below(3))) + 1 : 0;
        p.src_x = 100;
        p.src_y = 100;
        strata_mesh_set_source(p.m, (strata_node_id){p.src_id}, p.src_up, 0);
        memset(&si, 0, sizeof si);
        si.op = "set_source";
        verify(&p, &si);
    }
    for (size_t i = 0; i < n0 && !failed_round; i++) {
        memset(&si, 0, sizeof si);
        op_add(&p, &si);
        verify(&p, &si);
    }
    size_t steps = n0 > 60 ? 25 : 60;
    for (size_t step = 0; step < steps && !failed_round; step++) {
        memset(&si, 0, sizeof si);
        uint64_t what = below(100);
        if (what < 35 || p.n == 0) {
            op_add(&p, &si);
        } else if (what < 65) {
            op_remove(&p, (size_t)below(p.n), &si);
        } else if (what < 78) {
            struct pmember *q = &p.mem[below(p.n)];
            q->up = draw_upload(&p);
            si.op = "set_upload";
            if (strata_mesh_set_upload(p.m, (strata_node_id){q->id}, q->up))
                PFAIL("set_upload failed");
        } else if (what < 84 && !p.ample) {
            p.rate = rates[below(4)];
            si.op = "set_rate";
            if (strata_mesh_set_rate(p.m, p.rate))
                PFAIL("set_rate failed");
        } else if (what < 90) {
            si.op = "source";
            if (p.src_id && below(3) == 0) {
                strata_mesh_remove(p.m, (strata_node_id){p.src_id});
                p.src_id = 0;
            } else {
                p.src_id = 7;
                p.src_up = below(4) ? p.src_up + p.rate : 0;
                strata_mesh_set_upload(p.m, (strata_node_id){p.src_id}, p.src_up);
                if (strata_mesh_role(p.m, (strata_node_id){p.src_id}) != STRATA_MESH_SOURCE)
                    strata_mesh_set_source(p.m, (strata_node_id){p.src_id}, p.src_up, 0);
            }
        } else {
            /* c - 1 failures in a row, each checked. */
            for (unsigned k = 0; k + 1 < p.c && p.n && !failed_round; k++) {
                memset(&si, 0, sizeof si);
                op_remove(&p, (size_t)below(p.n), &si);
                verify(&p, &si);
            }
            memset(&si, 0, sizeof si);
            si.op = "after failures";
        }
        verify(&p, &si);
        if (failed_round)
            fprintf(stderr,
                    "round %llu step %zu (c=%u maxd=%u share=%u rate=%u ample=%d regions=%u "
                    "oracle=%d n=%zu)\n",
                    (unsigned long long)round, step, p.c, p.maxd, p.share, p.rate, p.ample,
                    p.nregions, oracle_on, p.n);
        (*steps_done)++;
    }
    strata_mesh_del(p.m);
}

int main(void)
{
    uint64_t seed = test_seed(0x3e5e5eed);
    strata_rng_seed(&rng, seed);
    size_t steps = 0;
    const uint64_t rounds = UNDER_ASAN ? 40 : 160; /* ASan: 54 s of a 12-minute CI at 160 */
    for (uint64_t round = 0; round < rounds; round++) {
        failed_round = 0;
        run_round(round, &steps);
        test_checks++;
        if (failed_round) {
            fprintf(stderr, "failed in round %llu; replay with STRATA_TEST_SEED=%llu\n",
                    (unsigned long long)round, (unsigned long long)seed);
            break;
        }
    }
    printf(
        "prop_mesh: %llu rounds, %zu steps, %ld checks; target unmet after %ld (capacity); "
        "departures repaired among neighbours %ld, elsewhere too %ld (surplus links trimmed %ld); "
        "%ld subsets removed, "
        "%ld pair flows; unmet with exactly c links each where a c-regular mesh exists: %ld\n",
        (unsigned long long)rounds, steps, steps_total, unmet_steps, local_departures,
        nonlocal_departures, trims, subsets_checked, pair_flows, unmet_feasible);
    return test_summary("prop_mesh");
}
