/*
 * One DCM: a channel's members in one region, their multi-tree, and the
 * translation of tree changes into INSTRUCTIONs. See dcm.h for the model.
 *
 * Members live in a dense array indexed by a strata_idmap (swap-remove on
 * leave). The dirty list is a FIFO of ids with a per-member flag so a node
 * is listed once however often it changes. Its capacity is reserved when a
 * member is added, so marking a node dirty never allocates and a tree
 * change can never be lost to an allocation failure.
 */
#include "dcm_int.h"

#include "strata/mesh.h"

#include <string.h>

/* Upload headroom. The trees are built from STRATA_DCM_UPLOAD_SHARE_PERCENT
 * of each node's declared upload (members and the source alike), not all
 * of it: a tree that fills an uplink to its capacity leaves nothing for
 * packet headers (about 2% of a DATA packet), repair answers (bounded to a
 * share of the upload, see pktstore.h) or a rate that runs a little hot,
 * and any of those then overflows the node's send queue and loses tree
 * packets, which cause more repairs. The members keep their declared
 * upload; only what the trees are told is scaled.
 *
 * Headroom is worth less than a tree that reaches everyone: when the
 * scaled trees leave a (member, substream) pair without a parent, or
 * their capacity (the source's slots plus every member's, summed over the
 * trees) falls short of k slots per member, the DCM builds from the full
 * declared upload instead. It tries the scaled one again only once the
 * scaled capacity exceeds both the need by two members and the capacity
 * at the last failed try by one member (hysteresis, so that joins and
 * leaves at the boundary do not rebuild the trees back and forth). */

/* The capacity the trees may use of a declared upload at share percent;
 * 0 (unlimited, for the source) stays 0. */
static uint32_t scaled_upload(uint32_t upload_kbps, unsigned share)
{
    uint64_t u = (uint64_t)upload_kbps * share / 100u;
    if (upload_kbps != 0 && u == 0)
        u = 1;
    return (uint32_t)u;
}

static void choose_share(strata_dcm *d);
static uint64_t capacity_slots_scaled(const strata_dcm *d);
static uint64_t member_slots(const strata_dcm *d, uint32_t upload_kbps, unsigned share);

static uint32_t tree_upload(const strata_dcm *d, uint32_t upload_kbps)
{
    return scaled_upload(upload_kbps, d->share_percent);
}

/* --- member table --------------------------------------------------------- */

dcm_member *dcm_member_get(const strata_dcm *d, strata_node_id id)
{
    uint32_t i;
    if (!strata_idmap_get(&d->index, id.v, &i))
        return NULL;
    return &d->members[i];
}

/* Swap-removes a member from the dense array, fixing the moved one's index. */
static void member_unlink(strata_dcm *d, strata_node_id id)
{
    uint32_t i;
    if (!strata_idmap_get(&d->index, id.v, &i))
        return;
    strata_idmap_del(&d->index, id.v);
    size_t last = d->count - 1;
    if (i != last) {
        d->members[i] = d->members[last];
        memcpy(&d->stall[(size_t)i * d->tree_cap], &d->stall[last * d->tree_cap],
               d->tree_cap * sizeof *d->stall);
        strata_idmap_put(&d->index, d->members[i].id.v, i); /* replaces: cannot fail */
    }
    d->count--;
}

/* --- dirty set -------------------------------------------------------------- */

/* Moves the FIFO to the front of its array, dropping entries of members
 * that left and second entries of members that came back, so that it holds
 * at most one entry per member. */
static void dirty_compact(strata_dcm *d)
{
    size_t n = 0;
    for (size_t i = d->dirty_head; i < d->dirty_head + d->dirty_len; i++) {
        dcm_member *m = dcm_member_get(d, d->dirty[i]);
        if (!m || m->dirty != 1)
            continue;
        m->dirty = 2; /* kept: a later duplicate is skipped */
        d->dirty[n++] = d->dirty[i];
    }
    for (size_t i = 0; i < n; i++)
        dcm_member_get(d, d->dirty[i])->dirty = 1;
    d->dirty_head = 0;
    d->dirty_len = n;
}

static int dirty_reserve(strata_dcm *d, size_t need)
{
    if (d->dirty_head + d->dirty_len + need > d->dirty_cap)
        dirty_compact(d);
    if (d->dirty_len + need <= d->dirty_cap)
        return 0;
    size_t cap = d->dirty_cap ? d->dirty_cap : DCM_DIRTY_CHUNK;
    while (cap < d->dirty_len + need) {
        if (cap > SIZE_MAX / 2 / sizeof *d->dirty)
            return STRATA_ERR_NOMEM;
        cap *= 2;
    }
    strata_node_id *p = strata_mem_realloc(d->alloc, d->dirty, cap * sizeof *p);
    if (!p)
        return STRATA_ERR_NOMEM;
    d->dirty = p;
    d->dirty_cap = cap;
    return 0;
}

enum { DCM_ALL_SUBS = 0xffffff };

/* Records that id needs its instructions for the trees in subs again (it
 * is listed once however often it changes). */
static void mark_subs(strata_dcm *d, strata_node_id id, uint32_t subs)
{
    if (id.v == STRATA_MTREE_SOURCE.v) {
        d->source_dirty |= subs;
        return;
    }
    dcm_member *m = dcm_member_get(d, id);
    if (!m)
        return;
    m->dirty_subs |= subs;
    if (m->dirty)
        return;
    /* strata_dcm_add keeps the capacity at least one more than the members,
     * and a compacted FIFO holds at most one entry per member, so there is
     * always room after compacting. */
    if (d->dirty_head + d->dirty_len >= d->dirty_cap)
        dirty_compact(d);
    if (d->dirty_len >= d->dirty_cap)
        return; /* unreachable by the argument above; never write past the end */
    m->dirty = 1;
    d->dirty[d->dirty_head + d->dirty_len++] = id;
}

/* Every tree of id. */
void dcm_mark(strata_dcm *d, strata_node_id id)
{
    mark_subs(d, id, DCM_ALL_SUBS);
}

static void pull_tree_dirty(strata_dcm *d)
{
    strata_node_id chunk[DCM_DIRTY_CHUNK];
    uint32_t subs[DCM_DIRTY_CHUNK];
    size_t n;
    if (d->mesh) {
        /* A node's neighbours are its children in every substream; the
         * mesh knows the source by its id, the DCM by the tree's marker. */
        do {
            n = strata_mesh_take_dirty(d->mesh, chunk, DCM_DIRTY_CHUNK);
            for (size_t i = 0; i < n; i++) {
                dcm_member *m = dcm_member_get(d, chunk[i]);
                if (m)
                    m->links_since_ns = 0; /* its links changed: --top auto's clock */
                mark_subs(d, chunk[i].v == d->source.node.v ? STRATA_MTREE_SOURCE : chunk[i],
                          DCM_ALL_SUBS);
            }
        } while (n == DCM_DIRTY_CHUNK);
        return;
    }
    do {
        n = strata_mtree_take_dirty_subs(d->tree, chunk, subs, DCM_DIRTY_CHUNK);
        for (size_t i = 0; i < n; i++)
            mark_subs(d, chunk[i], subs[i]);
    } while (n == DCM_DIRTY_CHUNK);
}

/* Marks the parents (the source, for a root) and children of member id,
 * each in the tree that links them. */
static void mark_neighbours(strata_dcm *d, strata_node_id id)
{
    strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
    if (d->mesh) {
        dcm_mesh_mark_neighbours(d, id);
        return;
    }
    for (uint8_t s = 0; s < d->trees; s++) {
        uint32_t bit = 1u << s;
        strata_node_id p = strata_mtree_parent(d->tree, id, s);
        if (p.v != STRATA_MTREE_NONE.v)
            mark_subs(d, p, bit);
        size_t n = strata_mtree_children(d->tree, id, s, kids, STRATA_WIRE_MAX_CHILDREN);
        if (n > STRATA_WIRE_MAX_CHILDREN)
            n = STRATA_WIRE_MAX_CHILDREN;
        for (size_t i = 0; i < n; i++)
            mark_subs(d, kids[i], bit);
    }
}

/* --- lifecycle ---------------------------------------------------------------- */

/* The multi-tree's rate: each of its k + n_max trees carries a k-th of
 * the stream, so the trees of an EC cluster carry (k + n) / k of it (the
 * idle ones nothing), and a node's slots per tree (upload * trees / tree
 * rate) stay upload * k / rate. */
static uint32_t tree_rate_kbps(const strata_dcm *d, uint32_t rate_kbps)
{
    uint64_t r = (uint64_t)rate_kbps * d->tree_cap / d->k;
    return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* 1 when tree s carries nothing: a parity tree nobody feeds (the source
 * sends no parity), or one beyond the n in use, whose members get no
 * source copy and no parent. */
static int tree_idle(const strata_dcm *d, uint8_t s)
{
    return s >= d->k && (s >= d->trees || d->sub_root[s].node.v == 0);
}

static strata_mtree *make_tree(const strata_dcm *d, uint32_t rate_kbps, uint32_t src_upload)
{
    strata_mtree_config tc = {
        .k = d->tree_cap,
        .rate_kbps = tree_rate_kbps(d, rate_kbps),
        .source_upload_kbps = tree_upload(d, src_upload),
        .max_children = 0,
    };
    strata_mtree *t = strata_mtree_new(d->alloc, &tc);
    for (uint8_t s = 0; t && s < d->tree_cap; s++)
        strata_mtree_set_idle(t, s, tree_idle(d, s));
    return t;
}

strata_dcm *strata_dcm_new(const strata_alloc *a, const strata_dcm_config *cfg)
{
    if (!cfg || cfg->id.v == 0 || cfg->channel.v == 0 || cfg->k == 0 ||
        cfg->k > STRATA_WIRE_MAX_SUBSTREAMS || cfg->rate_kbps == 0 ||
        cfg->region_len > STRATA_WIRE_MAX_REGION_BYTES || (cfg->region_len && !cfg->region) ||
        (cfg->algorithm != 0 && cfg->algorithm != STRATA_ALG_TREE &&
         cfg->algorithm != STRATA_ALG_FLOOD && cfg->algorithm != STRATA_ALG_EC_TREE) ||
        (cfg->algorithm == STRATA_ALG_EC_TREE &&
         (cfg->parity == 0 || cfg->parity > STRATA_WIRE_MAX_PARITY ||
          (cfg->parity_max && (cfg->parity_max < cfg->parity ||
                               cfg->parity_max > STRATA_WIRE_MAX_PARITY)) ||
          cfg->k + (cfg->parity_max > cfg->parity ? cfg->parity_max : cfg->parity) >
              STRATA_WIRE_MAX_TREES)) ||
        cfg->level > STRATA_WIRE_MAX_LEVEL || cfg->mesh_c > STRATA_MESH_MAX_C ||
        cfg->mesh_top > STRATA_DCM_TOP_AUTO)
        goto fail_config;
    strata_dcm *d = strata_mem_calloc(a, 1, sizeof *d);
    if (!d)
        goto fail_dcm;
    d->alloc = a;
    d->id = cfg->id;
    d->channel = cfg->channel;
    d->k = cfg->k;
    d->n = cfg->algorithm == STRATA_ALG_EC_TREE ? cfg->parity : 0;
    d->trees = (uint8_t)(d->k + d->n);
    d->n_min = d->n;
    d->n_max = d->n && cfg->parity_max > d->n ? cfg->parity_max : d->n;
    d->tree_cap = (uint8_t)(d->k + d->n_max);
    d->parity_window_ns =
        cfg->parity_window_ns ? cfg->parity_window_ns : STRATA_S(STRATA_DCM_PARITY_WINDOW_S);
    d->level = cfg->level;
    d->rate_kbps = cfg->rate_kbps;
    d->source_upload_kbps = cfg->source_upload_kbps;
    d->stall_ns = cfg->stall_ns;
    /* A mesh keeps its members' credits (carried from their regions' trees
     * and cut by their root children's stalls, strata_dcm_feeder_stalled)
     * without applying them: its members are chosen by them (preferred.c). */
    d->capacity_ns = cfg->capacity_ns;
    d->share_percent = STRATA_DCM_UPLOAD_SHARE_PERCENT;
    d->region_len = (uint8_t)cfg->region_len;
    if (cfg->region_len)
        memcpy(d->region, cfg->region, cfg->region_len);
    strata_idmap_init(&d->index, a, cfg->seed);
    d->algorithm = cfg->algorithm ? cfg->algorithm : STRATA_ALG_TREE;
    d->mesh_c = cfg->mesh_c ? cfg->mesh_c : STRATA_MESH_DEFAULT_C;
    d->mesh_top = cfg->mesh_top;
    d->mesh_stable_ns = cfg->mesh_stable_ns ? cfg->mesh_stable_ns : STRATA_S(STRATA_DCM_MESH_STABLE_S);
    if (d->algorithm == STRATA_ALG_FLOOD) {
        strata_mesh_config mc = {.c = d->mesh_c, .rate_kbps = d->rate_kbps, .seed = cfg->seed};
        d->mesh = strata_mesh_new(a, &mc);
        if (!d->mesh)
            goto fail_tree;
        return d;
    }
    d->tree = make_tree(d, d->rate_kbps, d->source_upload_kbps);
    if (!d->tree)
        goto fail_tree;
    return d;

fail_tree:
    strata_mem_free(a, d);
fail_dcm:
fail_config:
    return NULL;
}

void strata_dcm_del(strata_dcm *d)
{
    if (!d)
        return;
    strata_idmap_free(&d->index);
    strata_mem_free(d->alloc, d->members);
    strata_mem_free(d->alloc, d->stall);
    strata_mem_free(d->alloc, d->dirty);
    strata_mtree_del(d->tree);
    strata_mesh_del(d->mesh);
    strata_mem_free(d->alloc, d);
}

strata_dcm_id strata_dcm_id_of(const strata_dcm *d)
{
    return d->id;
}
strata_channel_id strata_dcm_channel(const strata_dcm *d)
{
    return d->channel;
}
uint8_t strata_dcm_k(const strata_dcm *d)
{
    return d->k;
}
uint8_t strata_dcm_trees(const strata_dcm *d)
{
    return d->trees;
}
uint8_t strata_dcm_parity(const strata_dcm *d)
{
    return d->n;
}
uint8_t strata_dcm_parity_max(const strata_dcm *d)
{
    return d->n_max;
}

void strata_dcm_loss_stats(const strata_dcm *d, strata_dcm_loss *out)
{
    *out = d->loss;
}

int strata_dcm_set_parity(strata_dcm *d, uint8_t n)
{
    if (d->algorithm != STRATA_ALG_EC_TREE)
        return STRATA_ERR_INVAL;
    if (n < d->n_min || n > d->n_max)
        return STRATA_ERR_RANGE;
    if (n == d->n)
        return 0;
    uint8_t was = d->trees, now = (uint8_t)(d->k + n);
    d->n = n;
    d->trees = now;
    uint8_t lo = was < now ? was : now, hi = was < now ? now : was;
    for (uint8_t s = lo; s < hi; s++) {
        if (s >= now)
            d->sub_root[s] = (strata_peer_ref){{0}, {0, 0}}; /* it stops: no feeder */
        for (size_t i = 0; i < d->count; i++)
            memset(&d->stall[i * d->tree_cap + s], 0, sizeof *d->stall);
        strata_mtree_set_idle(d->tree, s, tree_idle(d, s));
    }
    pull_tree_dirty(d);
    /* Every instruction names n. */
    for (size_t i = 0; i < d->count; i++)
        dcm_mark(d, d->members[i].id);
    mark_subs(d, STRATA_MTREE_SOURCE, DCM_ALL_SUBS);
    return 0;
}

uint32_t strata_dcm_source_need_kbps(const strata_dcm *d)
{
    if (d->mesh) {
        /* The source sends one copy of the stream to each of c members. */
        uint64_t kbps =
            ((uint64_t)d->mesh_c * d->rate_kbps * 100u + STRATA_DCM_UPLOAD_SHARE_PERCENT - 1) /
            STRATA_DCM_UPLOAD_SHARE_PERCENT;
        return kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
    }
    /* The trees see share_percent of a budget (tree_upload); the smaller
     * share, so that a budget set from this still covers the need after a
     * rebuild moves the trees to it (choose_share). */
    /* A root slot carries one tree: a k-th of the stream (k data trees,
     * whatever the parity trees beside them). */
    uint64_t div = (uint64_t)d->k * STRATA_DCM_UPLOAD_SHARE_PERCENT;
    uint64_t kbps =
        ((uint64_t)strata_mtree_source_need(d->tree) * d->rate_kbps * 100u + div - 1) / div;
    return kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
}

uint32_t strata_dcm_root_links_kbps(const strata_dcm *d, unsigned links)
{
    /* As strata_dcm_source_need_kbps: the smaller share of the budget. */
    uint64_t div = (uint64_t)d->k * STRATA_DCM_UPLOAD_SHARE_PERCENT;
    uint64_t kbps = ((uint64_t)links * d->trees * d->rate_kbps * 100u + div - 1) / div;
    return kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
}

uint32_t strata_dcm_source_budget_kbps(const strata_dcm *d)
{
    return d->source_upload_kbps;
}

uint32_t strata_dcm_rate(const strata_dcm *d)
{
    return d->rate_kbps;
}
size_t strata_dcm_count(const strata_dcm *d)
{
    return d->count;
}

strata_node_id strata_dcm_member_at(const strata_dcm *d, size_t i)
{
    return i < d->count ? d->members[i].id : (strata_node_id){0};
}
const strata_mtree *strata_dcm_tree(const strata_dcm *d)
{
    return d->tree;
}
const strata_mesh *strata_dcm_mesh(const strata_dcm *d)
{
    return d->mesh;
}
uint8_t strata_dcm_algorithm(const strata_dcm *d)
{
    return d->algorithm;
}
uint8_t strata_dcm_level(const strata_dcm *d)
{
    return d->level;
}
strata_peer_ref strata_dcm_source(const strata_dcm *d)
{
    return d->source;
}

int strata_dcm_set_substream_root(strata_dcm *d, uint8_t s, strata_peer_ref root)
{
    if (s >= d->trees)
        return STRATA_ERR_RANGE;
    if (d->mesh)
        return STRATA_ERR_INVAL; /* a mesh has no root children to hand over */
    strata_peer_ref *r = &d->sub_root[s];
    if (r->node.v == root.node.v && strata_addr_eq(r->addr, root.addr))
        return 0;
    *r = root;
    /* A parity tree that gains or loses its feeder starts or stops
     * carrying something: the source's copies move (tree.h). */
    strata_mtree_set_idle(d->tree, s, tree_idle(d, s));
    pull_tree_dirty(d);
    /* The root children of tree s hold a parent ref that changed. */
    strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
    size_t n =
        strata_mtree_children(d->tree, STRATA_MTREE_SOURCE, s, kids, STRATA_WIRE_MAX_CHILDREN);
    if (n > STRATA_WIRE_MAX_CHILDREN)
        n = STRATA_WIRE_MAX_CHILDREN;
    uint32_t bit = 1u << s;
    for (size_t i = 0; i < n; i++)
        mark_subs(d, kids[i], bit);
    mark_subs(d, STRATA_MTREE_SOURCE, bit);
    return 0;
}

strata_peer_ref strata_dcm_substream_root(const strata_dcm *d, uint8_t s)
{
    strata_peer_ref none = {{0}, {0, 0}};
    return s < d->trees ? d->sub_root[s] : none;
}

const char *strata_dcm_region(const strata_dcm *d, size_t *len)
{
    if (len)
        *len = d->region_len;
    return d->region;
}

int strata_dcm_has(const strata_dcm *d, strata_node_id node)
{
    return dcm_member_get(d, node) != NULL;
}

uint32_t strata_dcm_member_kbps(const strata_dcm *d, strata_node_id node)
{
    const dcm_member *m = dcm_member_get(d, node);
    return m ? m->upload_kbps : 0;
}

uint32_t strata_dcm_member_believed_kbps(const strata_dcm *d, strata_node_id node)
{
    const dcm_member *m = dcm_member_get(d, node);
    return m ? dcm_member_kbps(m) : 0;
}

/* A member best_member and top_members may choose. */
static int eligible(const dcm_member *m, uint32_t min_kbps)
{
    return dcm_member_kbps(m) >= min_kbps && !(min_kbps && m->trust.demoted);
}

/* 1 when a goes before b: the larger believed upload, then the larger
 * declared one (among newcomers on probation, who all count as twice the
 * rate, the one that says it has more is the better bet: a region that
 * splits keeps its strongest in the relay cluster, liars or not, and the
 * checks find the liars there), then the smaller id. */
static int believed_before(const dcm_member *a, const dcm_member *b)
{
    uint32_t ua = dcm_member_kbps(a), ub = dcm_member_kbps(b);
    if (ua != ub)
        return ua > ub;
    if (a->upload_kbps != b->upload_kbps)
        return a->upload_kbps > b->upload_kbps;
    return a->id.v < b->id.v;
}

strata_node_id strata_dcm_best_member(const strata_dcm *d, uint32_t min_kbps)
{
    const dcm_member *best = NULL;
    for (size_t i = 0; i < d->count; i++) {
        const dcm_member *m = &d->members[i];
        if (eligible(m, min_kbps) && (!best || believed_before(m, best)))
            best = m;
    }
    return best ? best->id : (strata_node_id){0};
}

size_t strata_dcm_top_members(const strata_dcm *d, uint32_t min_kbps, strata_node_id *out,
                              size_t max)
{
    /* Insertion into a small sorted array: max is a handful. */
    size_t n = 0;
    for (size_t i = 0; i < d->count && max > 0; i++) {
        const dcm_member *m = &d->members[i];
        if (!eligible(m, min_kbps))
            continue;
        size_t at = n;
        while (at > 0 && !believed_before(dcm_member_get(d, out[at - 1]), m))
            at--;
        if (at == max)
            continue;
        size_t last = n < max ? n : max - 1;
        memmove(&out[at + 1], &out[at], (last - at) * sizeof *out);
        out[at] = m->id;
        if (n < max)
            n++;
    }
    return n;
}

int strata_dcm_fed(const strata_dcm *d, strata_node_id node)
{
    const dcm_member *m = dcm_member_get(d, node);
    if (!m)
        return 0;
    return d->mesh ? dcm_mesh_fed(d, m) : 1;
}

size_t strata_dcm_unfed(const strata_dcm *d, strata_node_id *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; d->mesh && i < d->count && n < max; i++)
        if (!dcm_mesh_fed(d, &d->members[i]))
            out[n++] = d->members[i].id;
    return n;
}

size_t strata_dcm_child_links(const strata_dcm *d, strata_node_id node, uint32_t subs)
{
    size_t n = 0;
    if (d->mesh)
        return dcm_mesh_child_links(d, node, subs);
    for (uint8_t s = 0; s < d->trees; s++)
        if ((subs >> s) & 1u)
            n += strata_mtree_children(d->tree, node, s, NULL, 0);
    return n;
}

/* --- membership ----------------------------------------------------------------- */

static int members_reserve(strata_dcm *d, size_t n)
{
    if (n <= d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : DCM_MIN_MEMBERS;
    while (cap < n) {
        if (cap > SIZE_MAX / 2 / sizeof *d->members || cap > UINT32_MAX / 2)
            return STRATA_ERR_NOMEM;
        cap *= 2;
    }
    dcm_member *p = strata_mem_realloc(d->alloc, d->members, cap * sizeof *p);
    if (!p)
        return STRATA_ERR_NOMEM;
    d->members = p;
    if (cap > SIZE_MAX / (d->tree_cap * sizeof *d->stall))
        return STRATA_ERR_NOMEM;
    dcm_stall *st = strata_mem_realloc(d->alloc, d->stall, cap * d->tree_cap * sizeof *st);
    if (!st)
        return STRATA_ERR_NOMEM; /* members grew, which is harmless */
    d->stall = st;
    d->cap = cap;
    return 0;
}

static int add_member(strata_dcm *d, strata_node_id node, strata_addr addr, uint32_t upload_kbps,
                      uint32_t region, const strata_dcm_trust *trust);

int strata_dcm_add(strata_dcm *d, strata_node_id node, strata_addr addr, uint32_t upload_kbps)
{
    return add_member(d, node, addr, upload_kbps, 0, NULL);
}

int strata_dcm_add_in_region(strata_dcm *d, strata_node_id node, strata_addr addr,
                             uint32_t upload_kbps, uint32_t region)
{
    return add_member(d, node, addr, upload_kbps, region, NULL);
}

int strata_dcm_add_trusted(strata_dcm *d, strata_node_id node, strata_addr addr,
                           uint32_t upload_kbps, uint32_t region, const strata_dcm_trust *trust)
{
    return add_member(d, node, addr, upload_kbps, region, trust);
}

int strata_dcm_trust_of(const strata_dcm *d, strata_node_id node, strata_dcm_trust *out)
{
    const dcm_member *m = dcm_member_get(d, node);
    if (!m)
        return STRATA_ERR_NOTFOUND;
    *out = m->trust;
    return 0;
}

static int add_member(strata_dcm *d, strata_node_id node, strata_addr addr, uint32_t upload_kbps,
                      uint32_t region, const strata_dcm_trust *trust)
{
    int err;
    if (node.v == 0 || node.v == STRATA_MTREE_SOURCE.v)
        return STRATA_ERR_INVAL;
    if (dcm_member_get(d, node))
        return STRATA_ERR_EXISTS;
    /* Make every later step but the tree's own infallible: room for the new
     * member's dirty entry (see mark), its record and its index entry. */
    err = dirty_reserve(d, d->count + 1);
    if (err)
        goto fail_reserve;
    err = members_reserve(d, d->count + 1);
    if (err)
        goto fail_reserve;
    err = strata_idmap_reserve(&d->index, d->count + 1);
    if (err)
        goto fail_reserve;
    dcm_member nm;
    memset(&nm, 0, sizeof nm);
    nm.upload_kbps = upload_kbps;
    nm.trust = trust && d->capacity_ns ? *trust : dcm_trust_new(d);
    if (d->mesh)
        err = node.v == d->source.node.v
                  ? STRATA_ERR_EXISTS
                  : strata_mesh_add(d->mesh, node, dcm_mesh_member_upload(d, upload_kbps), region);
    else
        err = strata_mtree_add(d->tree, node, tree_upload(d, dcm_member_kbps(&nm)));
    if (err)
        goto fail_tree;
    dcm_member *m = &d->members[d->count];
    *m = nm;
    m->id = node;
    m->addr = addr;
    m->region = region;
    m->leaf_of = (strata_node_id){0};
    /* No progress known yet: nothing to judge it by (strata_dcm_feeder_stalled). */
    memset(&d->stall[(size_t)d->count * d->tree_cap], 0, d->tree_cap * sizeof *d->stall);
    strata_idmap_put(&d->index, node.v, (uint32_t)d->count);
    d->count++;
    d->scaled_slots += member_slots(d, dcm_member_kbps(m), STRATA_DCM_UPLOAD_SHARE_PERCENT);
    pull_tree_dirty(d);
    dcm_mark(d, node);
    if (d->mesh)
        dcm_mesh_leaves_attach_all(d); /* the newcomer, or leaves it has room for */
    choose_share(d);
    return 0;

fail_tree:
fail_reserve:
    return err;
}

int strata_dcm_remove(strata_dcm *d, strata_node_id node)
{
    dcm_member *m = dcm_member_get(d, node);
    if (!m)
        return STRATA_ERR_NOTFOUND;
    if (d->mesh)
        dcm_mesh_leaves_release(d, node);
    int err = d->mesh ? strata_mesh_remove(d->mesh, node) : strata_mtree_remove(d->tree, node);
    d->scaled_slots -= member_slots(d, dcm_member_kbps(m), STRATA_DCM_UPLOAD_SHARE_PERCENT);
    /* Unlink before pulling so that the removed node itself is never reported
     * dirty; a stale id left in the FIFO is skipped when drained. */
    member_unlink(d, node);
    pull_tree_dirty(d);
    if (d->mesh)
        dcm_mesh_leaves_attach_all(d);
    choose_share(d);
    return err == STRATA_ERR_NOTFOUND ? 0 : err;
}

int strata_dcm_set_addr(strata_dcm *d, strata_node_id node, strata_addr addr)
{
    dcm_member *m = dcm_member_get(d, node);
    if (!m)
        return STRATA_ERR_NOTFOUND;
    if (strata_addr_eq(m->addr, addr))
        return 0;
    m->addr = addr;
    dcm_mark(d, node);
    mark_neighbours(d, node);
    return 0;
}

/* Builds a fresh tree under a new source budget, keeping the old one if
 * anything fails. Every member and the source become dirty. */
static int rebuild_fresh(strata_dcm *d, uint32_t rate_kbps, uint32_t src_upload)
{
    int err = 0;
    strata_mtree *t = make_tree(d, rate_kbps, src_upload);
    if (!t)
        return STRATA_ERR_NOMEM;
    for (size_t i = 0; i < d->count && !err; i++)
        err = strata_mtree_add_detached(t, d->members[i].id,
                                        tree_upload(d, dcm_member_kbps(&d->members[i])));
    if (!err)
        err = strata_mtree_rebuild(t);
    if (err) {
        strata_mtree_del(t);
        return err;
    }
    strata_mtree_del(d->tree);
    d->tree = t;
    /* The fresh tree reports its own changes; drop them, all are dirty. */
    strata_node_id chunk[DCM_DIRTY_CHUNK];
    while (strata_mtree_take_dirty(d->tree, chunk, DCM_DIRTY_CHUNK) == DCM_DIRTY_CHUNK)
        ;
    for (size_t i = 0; i < d->count; i++)
        dcm_mark(d, d->members[i].id);
    dcm_mark(d, STRATA_MTREE_SOURCE);
    return 0;
}

/* Builds a tree from the members' reports at the current share: every
 * member detached, interior where it reports children, then its reported
 * parents adopted parents-first (passes until one adopts nothing), the rest
 * attached as add would. *full counts the edges refused: for want of a slot,
 * or under a parent that has none at this share (it cannot be interior).
 * Returns the tree or NULL (no memory). */
static strata_mtree *restore_tree(strata_dcm *d, const strata_dcm_report *r, size_t n, size_t *full)
{
    strata_mtree *t = make_tree(d, d->rate_kbps, d->source_upload_kbps);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strata_mtree_add_restored(t, r[i].node, tree_upload(d, r[i].upload_kbps),
                                      r[i].interior) != 0) {
            strata_mtree_del(t);
            return NULL;
        }
    }
    *full = 0;
    int adopted;
    do {
        adopted = 0;
        for (size_t i = 0; i < n; i++) {
            for (uint8_t s = 0; s < d->trees; s++) {
                if (r[i].parents[s].v == 0 || strata_mtree_parent(t, r[i].node, s).v != 0)
                    continue;
                int err = strata_mtree_adopt(t, r[i].node, s, r[i].parents[s]);
                adopted += err == 0;
            }
        }
    } while (adopted);
    for (size_t i = 0; i < n; i++)
        for (uint8_t s = 0; s < d->trees; s++)
            if (r[i].parents[s].v != 0 && strata_mtree_parent(t, r[i].node, s).v == 0 &&
                strata_mtree_adopt(t, r[i].node, s, r[i].parents[s]) != 0)
                (*full)++;
    strata_mtree_settle(t);
    return t;
}

/* Puts the reported members back in the table: the caller has made room. */
static void restore_members(strata_dcm *d, const strata_dcm_report *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dcm_member *m = &d->members[d->count];
        memset(m, 0, sizeof *m);
        m->id = r[i].node;
        m->addr = r[i].addr;
        m->upload_kbps = r[i].upload_kbps;
        m->region = r[i].region;
        /* A control center that restarted has no history: the places the
         * members report keep the uploads they had (docs/security.md). */
        m->trust = dcm_trust_new(d);
        m->trust.credit_kbps = UINT32_MAX;
        memset(&d->stall[(size_t)d->count * d->tree_cap], 0, d->tree_cap * sizeof *d->stall);
        strata_idmap_put(&d->index, m->id.v, (uint32_t)d->count);
        d->count++;
        d->scaled_slots += member_slots(d, m->upload_kbps, STRATA_DCM_UPLOAD_SHARE_PERCENT);
        dcm_mark(d, m->id);
    }
}

/* A mesh is rebuilt, not restored: its members report no parents (FLOOD
 * has none), and any c-connected mesh serves as well as the old one. A
 * leaf goes back to the feeder it reports when that one has room. */
static int restore_mesh(strata_dcm *d, const strata_dcm_report *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int err = strata_mesh_add(d->mesh, r[i].node, dcm_mesh_member_upload(d, r[i].upload_kbps),
                                  r[i].region);
        if (err) {
            for (size_t j = 0; j < i; j++)
                strata_mesh_remove(d->mesh, r[j].node);
            return err;
        }
    }
    restore_members(d, r, n);
    pull_tree_dirty(d);
    for (size_t i = 0; i < n; i++)
        if (r[i].parents[0].v)
            dcm_mesh_leaf_restore(d, r[i].node, r[i].parents[0]);
    dcm_mesh_leaves_attach_all(d);
    dcm_mark(d, STRATA_MTREE_SOURCE);
    return 0;
}

int strata_dcm_restore(strata_dcm *d, const strata_dcm_report *r, size_t n)
{
    if (d->count != 0)
        return STRATA_ERR_UNEXPECTED;
    for (size_t i = 0; i < n; i++)
        if (r[i].node.v == 0 || r[i].node.v == STRATA_MTREE_SOURCE.v)
            return STRATA_ERR_INVAL;
    int err = dirty_reserve(d, n);
    if (!err)
        err = members_reserve(d, n);
    if (!err)
        err = strata_idmap_reserve(&d->index, n);
    if (err)
        return err;
    if (d->mesh)
        return restore_mesh(d, r, n);
    size_t full = 0;
    int at_full = 0;
    strata_mtree *t = restore_tree(d, r, n, &full);
    if (t && full && d->share_percent != DCM_FULL_SHARE_PERCENT) {
        /* The old trees used the whole declared uploads (see "Upload
         * headroom"): so does the restored one. */
        size_t full2 = 0;
        unsigned was = d->share_percent;
        d->share_percent = DCM_FULL_SHARE_PERCENT;
        strata_mtree *t2 = restore_tree(d, r, n, &full2);
        if (t2 && full2 < full) {
            strata_mtree_del(t);
            t = t2;
            at_full = 1;
        } else {
            strata_mtree_del(t2);
            d->share_percent = was;
        }
    }
    if (!t)
        return STRATA_ERR_NOMEM;
    strata_mtree_del(d->tree);
    d->tree = t;
    strata_node_id chunk[DCM_DIRTY_CHUNK];
    while (strata_mtree_take_dirty(d->tree, chunk, DCM_DIRTY_CHUNK) == DCM_DIRTY_CHUNK)
        ;
    restore_members(d, r, n);
    /* Restored at the full share, the DCM stays there until the scaled
     * share has a member's worth more room than now, as if it had just
     * failed (see "Upload headroom"): otherwise the next change (every
     * restore is followed by set_source) would rebuild the restored trees
     * from scratch. */
    if (at_full)
        d->share_failed_slots = capacity_slots_scaled(d);
    dcm_mark(d, STRATA_MTREE_SOURCE);
    return 0;
}

/* Slots over all trees at share percent (see "Upload headroom"), counted as
 * tree.h does: floor(upload * k / rate) per node, capped at the children
 * one instruction can name; the source's unlimited upload gives it that
 * cap in every tree. */
static uint64_t member_slots(const strata_dcm *d, uint32_t upload_kbps, unsigned share)
{
    if (d->rate_kbps == 0)
        return 0;
    uint64_t n = (uint64_t)scaled_upload(upload_kbps, share) * d->k / d->rate_kbps;
    return n < STRATA_WIRE_MAX_CHILDREN ? n : STRATA_WIRE_MAX_CHILDREN;
}

/* Recounts scaled_slots (after the rate changed): add and remove keep it up
 * to date, so choose_share, which runs at every change, costs no walk over
 * the members. */
static void recount_slots(strata_dcm *d)
{
    d->scaled_slots = 0;
    for (size_t i = 0; i < d->count; i++)
        d->scaled_slots +=
            member_slots(d, dcm_member_kbps(&d->members[i]), STRATA_DCM_UPLOAD_SHARE_PERCENT);
}

/* The trees' capacity at the scaled share: the source's slots plus the
 * members'. */
static uint64_t capacity_slots_scaled(const strata_dcm *d)
{
    uint64_t total = 0, cap = STRATA_WIRE_MAX_CHILDREN;
    if (d->rate_kbps == 0)
        return UINT64_MAX;
    if (d->source_upload_kbps == 0) {
        total = cap * d->trees;
    } else {
        uint64_t n =
            (uint64_t)scaled_upload(d->source_upload_kbps, STRATA_DCM_UPLOAD_SHARE_PERCENT) * d->k /
            d->rate_kbps;
        total = n < cap * d->trees ? n : cap * d->trees;
    }
    return total + d->scaled_slots;
}

int dcm_parity_fits(const strata_dcm *d, uint8_t n)
{
    return capacity_slots_scaled(d) >= ((uint64_t)d->k + n) * d->count;
}

/* Picks the share the trees should use now and rebuilds them when it
 * changes. A failed rebuild keeps the old trees (still valid) and is tried
 * again at the next change. */
static void choose_share(strata_dcm *d)
{
    if (d->mesh)
        return; /* the mesh keeps its own headroom (strata_mesh_config) */
    uint64_t have = capacity_slots_scaled(d);
    uint64_t need = (uint64_t)d->trees * d->count;
    if (d->share_percent != STRATA_DCM_UPLOAD_SHARE_PERCENT) {
        if (have < need + 2u * d->trees || have < d->share_failed_slots + d->trees)
            return;
        d->share_percent = STRATA_DCM_UPLOAD_SHARE_PERCENT;
        if (rebuild_fresh(d, d->rate_kbps, d->source_upload_kbps) != 0) {
            d->share_percent = DCM_FULL_SHARE_PERCENT;
            return;
        }
    }
    if (have >= need && strata_mtree_detached(d->tree) == 0)
        return;
    d->share_failed_slots = have;
    d->share_percent = DCM_FULL_SHARE_PERCENT;
    if (rebuild_fresh(d, d->rate_kbps, d->source_upload_kbps) != 0)
        d->share_percent = STRATA_DCM_UPLOAD_SHARE_PERCENT;
}

void dcm_choose_share(strata_dcm *d)
{
    choose_share(d);
}

void dcm_set_credit(strata_dcm *d, dcm_member *m, uint32_t credit_kbps)
{
    uint32_t was = dcm_member_kbps(m);
    m->trust.credit_kbps = credit_kbps;
    uint32_t now_kbps = dcm_member_kbps(m);
    if (now_kbps == was)
        return;
    d->scaled_slots -= member_slots(d, was, STRATA_DCM_UPLOAD_SHARE_PERCENT);
    d->scaled_slots += member_slots(d, now_kbps, STRATA_DCM_UPLOAD_SHARE_PERCENT);
    if (d->mesh)
        return; /* the mesh is built from declared uploads (see strata_dcm_feeder_stalled) */
    size_t detached = strata_mtree_detached(d->tree);
    strata_mtree_set_upload(d->tree, m->id, tree_upload(d, now_kbps));
    pull_tree_dirty(d);
    if (strata_mtree_detached(d->tree) > detached) {
        /* The slots it lost were its tree's last: the interior places are
         * spread again over the trees (a demotion is rare, and a tree
         * short of slots starves its pairs until the next rebuild). */
        rebuild_fresh(d, d->rate_kbps, d->source_upload_kbps);
    }
    choose_share(d);
}

/* The source is a node of the mesh, linked to c members. */
static int set_mesh_source(strata_dcm *d, strata_node_id source, uint32_t rate_kbps,
                           uint32_t source_upload_kbps)
{
    if (dcm_member_get(d, source))
        return STRATA_ERR_INVAL; /* a member cannot be its own source */
    /* Its mesh links get what the leaves it feeds leave of the budget. */
    int err =
        strata_mesh_set_source(d->mesh, source, dcm_mesh_source_upload(d, source_upload_kbps), 0);
    int new_rate = !err && rate_kbps != d->rate_kbps;
    if (new_rate)
        err = strata_mesh_set_rate(d->mesh, rate_kbps);
    if (err)
        return err;
    d->source_upload_kbps = source_upload_kbps;
    d->rate_kbps = rate_kbps;
    if (new_rate)
        dcm_mesh_rate_changed(d);
    else
        dcm_mesh_source_changed(d); /* the leaves it feeds take their part of the budget */
    pull_tree_dirty(d);
    return 0;
}

int strata_dcm_set_source(strata_dcm *d, strata_node_id source, strata_addr addr,
                          uint32_t rate_kbps, uint32_t source_upload_kbps)
{
    if (source.v == 0 || source.v == STRATA_MTREE_SOURCE.v)
        return STRATA_ERR_INVAL;
    /* The ref first: it cannot fail, and roots must learn a moved source
     * even when a rebuild below runs out of memory. */
    if (d->source.node.v != source.v || !strata_addr_eq(d->source.addr, addr)) {
        d->source.node = source;
        d->source.addr = addr;
        /* Every instruction names the source (protocol.md 3.4), so every
         * member and the source itself need new ones. */
        dcm_mark(d, STRATA_MTREE_SOURCE);
        for (size_t i = 0; i < d->count; i++)
            dcm_mark(d, d->members[i].id);
    }
    uint32_t rate = rate_kbps ? rate_kbps : d->rate_kbps;
    if (d->mesh)
        return set_mesh_source(d, source, rate, source_upload_kbps);
    if (source_upload_kbps != d->source_upload_kbps) {
        /* In place: a budget follows every join and leave of a region fed
         * by preferred nodes, and a rebuild would move most of its members
         * each time (and undo a restore's trees). */
        strata_mtree_set_source_upload(d->tree, tree_upload(d, source_upload_kbps));
        d->source_upload_kbps = source_upload_kbps;
        pull_tree_dirty(d);
    }
    if (rate != d->rate_kbps) {
        /* Credits are in kbit/s of the old rate (a provisional one, most
         * often): they keep their slots at the new one. The tree's uploads
         * follow before set_rate rebuilds it from them. */
        for (size_t i = 0; d->capacity_ns && i < d->count; i++) {
            dcm_member *m = &d->members[i];
            if (m->trust.credit_kbps == UINT32_MAX)
                continue;
            uint64_t c = (uint64_t)m->trust.credit_kbps * rate / d->rate_kbps;
            m->trust.credit_kbps = c < UINT32_MAX ? (uint32_t)c : UINT32_MAX - 1u;
            strata_mtree_set_upload(d->tree, m->id, tree_upload(d, dcm_member_kbps(m)));
        }
        /* set_rate recomputes every slot count and rebuilds the trees. */
        int err = strata_mtree_set_rate(d->tree, tree_rate_kbps(d, rate));
        if (err)
            return err;
        d->rate_kbps = rate;
        recount_slots(d);
        pull_tree_dirty(d);
    }
    choose_share(d);
    return 0;
}

int strata_dcm_reparent(strata_dcm *d, strata_node_id node, uint8_t s)
{
    if (!dcm_member_get(d, node))
        return STRATA_ERR_NOTFOUND;
    if (s >= d->trees || d->mesh)
        return STRATA_ERR_INVAL; /* a mesh node has no parent to replace */
    int err = strata_mtree_reparent(d->tree, node, s);
    pull_tree_dirty(d);
    return err;
}

/* --- heartbeats ----------------------------------------------------------------
 *
 * Stalls (SPEC C13): substream s's parent stopped delivering when the
 * member's last_rx_seq for s stood still for stall_ns while its other
 * substreams advanced by at least 2k packets. Each baseline belongs to one
 * tree parent, so a new parent gets a full stall_ns before it is judged.
 * A parity tree without a feeder carries nothing (the source sends no
 * parity): its parents are never judged. */

static void stall_check(strata_dcm *d, dcm_member *m, dcm_stall *stall, const strata_node_id *tp,
                        const strata_msg_heartbeat *hb, uint64_t now, strata_dcm_heard *out)
{
    if (d->mesh && hb->n_parents >= d->trees) {
        /* A flooding node has no parent that could stall; what it holds is
         * kept to judge it by when a tree it feeds below stalls. */
        for (uint8_t s = 0; s < d->trees; s++)
            stall[s].seq = hb->parents[s].last_rx_seq;
        dcm_mesh_stall_check(d, m, stall, now, out);
        return;
    }
    if (d->trees < 2 || hb->n_parents != d->trees || d->stall_ns == 0 || d->mesh)
        return;
    uint64_t top1 = 0, top2 = 0;
    int top1_s = -1;
    for (int s = 0; s < d->trees; s++) {
        uint64_t v = hb->parents[s].last_rx_seq;
        if (top1_s < 0 || v > top1) {
            top2 = top1;
            top1 = v;
            top1_s = s;
        } else if (v > top2) {
            top2 = v;
        }
    }
    for (uint8_t s = 0; s < d->trees; s++) {
        dcm_stall *st = &stall[s];
        uint64_t other = (int)s == top1_s ? top2 : top1;
        uint64_t seq = hb->parents[s].last_rx_seq;
        if (!m->stall_init || tp[s].v != st->parent || seq != st->seq) {
            st->seq = seq;
            st->since_ns = now;
            st->other_base = other;
            st->parent = tp[s].v;
            continue;
        }
        if (tp[s].v == 0 || hb->parents[s].parent.v != tp[s].v)
            continue; /* no parent, or the node has not applied it yet */
        if (tree_idle(d, s))
            continue; /* a parity tree the source roots: it sends no parity */
        if (now < st->since_ns || now - st->since_ns < d->stall_ns)
            continue;
        if (other < st->other_base || other - st->other_base < 2u * d->k)
            continue; /* everything stands still: the stream, not the parent */
        if (strata_mtree_reparent(d->tree, m->id, s) == 0) {
            out->reparented++;
            out->stalled[s] = tp[s];
        }
        uint32_t pi;
        if (d->capacity_ns && strata_idmap_get(&d->index, tp[s].v, &pi)) {
            dcm_capacity_stalled(d, &d->members[pi], s, d->stall[(size_t)pi * d->tree_cap + s].seq,
                                 seq, now, out);
        } else if (tp[s].v != d->source.node.v) {
            out->feeder[s] = tp[s]; /* judged in its own DCM */
            out->feeder_child_seq[s] = seq;
        }
        pull_tree_dirty(d);
        st->since_ns = now;
        st->other_base = other;
        st->parent = strata_dcm_parent_id(d, m->id, s).v;
    }
    m->stall_init = 1;
}

int strata_dcm_heartbeat(strata_dcm *d, const strata_msg_heartbeat *hb, uint64_t now,
                         strata_dcm_heard *out)
{
    memset(out, 0, sizeof *out);
    uint32_t i;
    if (!strata_idmap_get(&d->index, hb->node.v, &i))
        return STRATA_ERR_NOTFOUND;
    dcm_member *m = &d->members[i];
    strata_node_id tp[STRATA_WIRE_MAX_TREES];
    memset(tp, 0, sizeof tp);
    strata_dcm_parent_ids(d, m->id, tp, STRATA_WIRE_MAX_TREES);
    /* A mesh member that also roots parity trees below (levels = ec)
     * reports their entries after its k. */
    int differ = d->mesh ? hb->n_parents < d->trees : hb->n_parents != d->trees;
    for (uint8_t s = 0; !differ && s < d->trees; s++)
        differ = hb->parents[s].parent.v != tp[s].v;
    if (!differ)
        m->mismatch_streak = 0;
    else if (m->mismatch_streak < UINT8_MAX)
        m->mismatch_streak++;
    /* One differing heartbeat may have crossed the instructions on the
     * way; two in a row mean they were lost. */
    out->resend = m->mismatch_streak >= 2;
    stall_check(d, m, &d->stall[(size_t)i * d->tree_cap], tp, hb, now, out);
    dcm_capacity_heartbeat(d, m, hb, now, out);
    dcm_parity_heartbeat(d, m, hb, now, out);
    return 0;
}

int strata_dcm_feeder_stalled(strata_dcm *d, strata_node_id parent, uint8_t s, uint64_t child_seq,
                              uint64_t now, strata_dcm_heard *out)
{
    memset(out, 0, sizeof *out);
    uint32_t pi;
    if (!strata_idmap_get(&d->index, parent.v, &pi))
        return STRATA_ERR_NOTFOUND;
    const dcm_stall *st = &d->stall[(size_t)pi * d->tree_cap];
    uint64_t p_seq = 0;
    if (s < d->trees) {
        p_seq = st[s].seq;
    } else {
        /* A parity tree below: its symbols are made from the whole stream. */
        for (uint8_t t = 0; t < d->trees; t++)
            p_seq = st[t].seq > p_seq ? st[t].seq : p_seq;
    }
    dcm_capacity_stalled(d, &d->members[pi], s, p_seq, child_seq, now, out);
    return 0;
}

void strata_dcm_instructions_sent(strata_dcm *d, strata_node_id node)
{
    dcm_member *m = dcm_member_get(d, node);
    if (m)
        m->mismatch_streak = 0;
}

int strata_dcm_mark_dirty(strata_dcm *d, strata_node_id node)
{
    if (node.v != STRATA_MTREE_SOURCE.v && !dcm_member_get(d, node))
        return STRATA_ERR_NOTFOUND;
    dcm_mark(d, node);
    return 0;
}

size_t strata_dcm_take_dirty_subs(strata_dcm *d, strata_node_id *out, uint32_t *subs, size_t max)
{
    size_t n = 0;
    uint32_t all = (1u << d->trees) - 1u;
    pull_tree_dirty(d);
    if (n < max && d->source_dirty) {
        if (subs)
            subs[n] = d->source_dirty & all;
        d->source_dirty = 0;
        out[n++] = STRATA_MTREE_SOURCE;
    }
    while (n < max && d->dirty_len > 0) {
        strata_node_id id = d->dirty[d->dirty_head++];
        d->dirty_len--;
        dcm_member *m = dcm_member_get(d, id);
        if (!m || !m->dirty)
            continue; /* left, or listed twice after leaving and coming back */
        if (subs)
            subs[n] = m->dirty_subs & all;
        m->dirty = 0;
        m->dirty_subs = 0;
        out[n++] = id;
    }
    if (d->dirty_len == 0)
        d->dirty_head = 0;
    return n;
}

size_t strata_dcm_take_dirty(strata_dcm *d, strata_node_id *out, size_t max)
{
    return strata_dcm_take_dirty_subs(d, out, NULL, max);
}

/* --- instructions ---------------------------------------------------------------- */

strata_peer_ref dcm_ref_of(const strata_dcm *d, strata_node_id id)
{
    strata_peer_ref r = {{0}, {0, 0}};
    if (id.v == STRATA_MTREE_SOURCE.v)
        return d->source;
    const dcm_member *m = dcm_member_get(d, id);
    if (m) {
        r.node = m->id;
        r.addr = m->addr;
    }
    return r;
}

strata_msg_instruction *dcm_begin_instruction(const strata_dcm *d, strata_node_id node, uint8_t s,
                                              uint32_t epoch, strata_msg_instruction *out,
                                              size_t max, int *n_out)
{
    if ((size_t)*n_out == max)
        return NULL;
    strata_msg_instruction *in = &out[(*n_out)++];
    memset(in, 0, sizeof *in);
    in->dcm = d->id;
    in->channel = d->channel;
    in->node = node.v == STRATA_MTREE_SOURCE.v ? d->source.node : node;
    in->epoch = epoch;
    in->k = d->k;
    in->n = d->n;
    in->level = d->level;
    in->substream = s;
    in->source = d->source; /* the zero ref while unknown */
    return in;
}

int strata_dcm_instructions(const strata_dcm *d, strata_node_id node, uint32_t epoch,
                            strata_msg_instruction *out, size_t max)
{
    if (max < d->trees)
        return STRATA_ERR_NOSPACE;
    return strata_dcm_instructions_subs(d, node, DCM_ALL_SUBS, epoch, out, max);
}

int strata_dcm_instructions_subs(const strata_dcm *d, strata_node_id node, uint32_t subs,
                                 uint32_t epoch, strata_msg_instruction *out, size_t max)
{
    int is_source = node.v == STRATA_MTREE_SOURCE.v;
    if (is_source ? d->source.node.v == 0 : !dcm_member_get(d, node))
        return is_source ? STRATA_ERR_INVAL : STRATA_ERR_NOTFOUND;
    if (d->mesh)
        return dcm_mesh_instructions(d, node, subs, epoch, out, max);
    strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
    strata_node_id parents[STRATA_WIRE_MAX_TREES];
    memset(parents, 0, sizeof parents); /* STRATA_MTREE_NONE */
    if (!is_source)
        strata_mtree_parents(d->tree, node, parents, STRATA_WIRE_MAX_TREES);
    int n_out = 0;
    for (uint8_t s = 0; s < d->trees; s++) {
        if (!((subs >> s) & 1u))
            continue;
        strata_msg_instruction *in = dcm_begin_instruction(d, node, s, epoch, out, max, &n_out);
        if (!in)
            return STRATA_ERR_NOSPACE;
        in->algorithm = d->algorithm; /* TREE, or EC_TREE for data and parity trees alike */
        if (!is_source) {
            strata_node_id p = parents[s];
            if (p.v == STRATA_MTREE_SOURCE.v && d->sub_root[s].node.v)
                in->parent = d->sub_root[s];
            else if (p.v != STRATA_MTREE_NONE.v)
                in->parent = dcm_ref_of(d, p);
        }
        size_t n = strata_mtree_children(d->tree, node, s, kids, STRATA_WIRE_MAX_CHILDREN);
        if (n > STRATA_WIRE_MAX_CHILDREN)
            n = STRATA_WIRE_MAX_CHILDREN; /* the tree caps slots at this; defensive */
        uint8_t nc = 0;
        for (size_t i = 0; i < n; i++) {
            strata_peer_ref r = dcm_ref_of(d, kids[i]);
            if (r.node.v != 0)
                in->children[nc++] = r;
        }
        in->n_children = nc;
    }
    return n_out;
}

/* What a node reports for tree parent p of substream s. */
static strata_node_id reported_parent(const strata_dcm *d, strata_node_id p, uint8_t s)
{
    if (p.v == STRATA_MTREE_SOURCE.v)
        return s < d->trees && d->sub_root[s].node.v ? d->sub_root[s].node : d->source.node;
    return p;
}

strata_node_id strata_dcm_parent_id(const strata_dcm *d, strata_node_id node, uint8_t s)
{
    if (d->mesh) {
        const dcm_member *m = dcm_member_get(d, node);
        /* A leaf's feeder (the source by its id); flooding: none. */
        return m ? reported_parent(d, m->leaf_of, 0) : (strata_node_id){0};
    }
    return reported_parent(d, strata_mtree_parent(d->tree, node, s), s);
}

int strata_dcm_parent_ids(const strata_dcm *d, strata_node_id node, strata_node_id *out, size_t max)
{
    strata_node_id p[STRATA_WIRE_MAX_TREES];
    if (d->mesh) {
        const dcm_member *m = dcm_member_get(d, node);
        if (max < d->trees || !m)
            return 0;
        for (uint8_t s = 0; s < d->trees; s++)
            out[s] = reported_parent(d, m->leaf_of, s); /* a leaf's feeder; flooding: none */
        return d->trees;
    }
    if (max < d->trees || strata_mtree_parents(d->tree, node, p, STRATA_WIRE_MAX_TREES) == 0)
        return 0;
    for (uint8_t s = 0; s < d->trees; s++)
        out[s] = reported_parent(d, p[s], s);
    return d->trees;
}
