/*
 * The top level's topology in a DCM (algorithm FLOOD, SPEC C4): the
 * c-connected mesh of strata/mesh.h over the members, the leaves fed below
 * it, and the FLOOD instructions. dcm.c keeps the members and calls in
 * here when its DCM is a mesh.
 */
#include "dcm_int.h"

#include "strata/mesh.h"

#include <string.h>

/* Leaves. A mesh member whose upload carries fewer than c links is given
 * none (mesh_member_upload: its few links would take the room of the core
 * members it needs), nor is a member the mesh found no room for; either
 * would receive nothing. Such a member is a leaf below the mesh instead, as it would be a leaf of a
 * tree: one member with room to spare feeds it the whole stream (its
 * instructions list the leaf in every substream; the leaf's name it as
 * parent), near it first (same region), and the mesh is told that feeder's
 * upload less what its leaves take, so its links never exceed its upload.
 * A leaf sends nothing back. When its feeder goes, it is attached again.
 * Where no member has room (no node can carry c links, so the mesh has no
 * core: its preferred nodes need about 7 times the rate, half of it kept
 * for their regions), the source feeds the leaf itself out of the budget
 * its mesh links do not use (leaf_of is then STRATA_MTREE_SOURCE): the top
 * level is a star under the source, as the backbone's tree would be. */

/* What one link (or one leaf) of the mesh costs its sender, kbit/s. */
static uint32_t mesh_link_kbps(const strata_dcm *d)
{
    uint64_t k = ((uint64_t)d->rate_kbps * 100u + STRATA_DCM_UPLOAD_SHARE_PERCENT - 1) /
                 STRATA_DCM_UPLOAD_SHARE_PERCENT;
    return k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}

/* A member's upload as the mesh sees it: what its leaves take is gone. */
static uint32_t mesh_upload(const strata_dcm *d, const dcm_member *m)
{
    uint64_t used = (uint64_t)m->leaves * mesh_link_kbps(d);
    return used >= m->upload_kbps ? 0 : (uint32_t)(m->upload_kbps - used);
}

/* What a new member offers the mesh: its upload if that carries c links
 * (a core member), else nothing: a weak member's few links would take the
 * room core members keep for leaves, and it is fed as well as a leaf. */
uint32_t dcm_mesh_member_upload(const strata_dcm *d, uint32_t upload_kbps)
{
    return strata_mesh_degree_cap(d->mesh, upload_kbps) >= d->mesh_c ? upload_kbps : 0;
}

/* The source's upload as the mesh sees it: its budget less what the
 * leaves it feeds take (0: unlimited). */
uint32_t dcm_mesh_source_upload(const strata_dcm *d, uint32_t budget_kbps)
{
    if (budget_kbps == 0)
        return 0;
    uint64_t used = (uint64_t)d->source_leaves * mesh_link_kbps(d);
    return used >= budget_kbps ? 1 : (uint32_t)(budget_kbps - used);
}

/* Leaves the source may still take on: the links its budget carries less
 * its mesh links (the core comes first: a leaf under a member costs the
 * source nothing). */
static uint32_t source_spare(const strata_dcm *d)
{
    if (!d->source.node.v || d->source_leaves >= STRATA_WIRE_MAX_CHILDREN)
        return 0;
    strata_node_id nb[STRATA_MESH_MAX_DEGREE];
    size_t links = strata_mesh_neighbours(d->mesh, d->source.node, nb, STRATA_MESH_MAX_DEGREE);
    uint32_t cap =
        d->source_upload_kbps == 0
            ? STRATA_WIRE_MAX_CHILDREN
            : strata_mesh_degree_cap(d->mesh, dcm_mesh_source_upload(d, d->source_upload_kbps));
    uint32_t left = STRATA_WIRE_MAX_CHILDREN - d->source_leaves;
    uint32_t spare = cap > links ? cap - (uint32_t)links : 0;
    return spare < left ? spare : left;
}

/* The source's mesh upload follows its leaves. */
static void source_leaves_changed(strata_dcm *d)
{
    strata_mesh_set_upload(d->mesh, d->source.node,
                           dcm_mesh_source_upload(d, d->source_upload_kbps));
    dcm_mark(d, STRATA_MTREE_SOURCE);
}

/* Leaves a member may still take on: its cap less its links, and less the
 * c links a core member keeps (a leaf must not make it weak). */
static uint32_t mesh_spare(const strata_dcm *d, const dcm_member *m)
{
    int role = strata_mesh_role(d->mesh, m->id);
    if (role == STRATA_MESH_UNLINKED)
        return 0;
    strata_node_id nb[STRATA_MESH_MAX_DEGREE];
    size_t links = strata_mesh_neighbours(d->mesh, m->id, nb, STRATA_MESH_MAX_DEGREE);
    for (size_t i = 0; i < links && i < STRATA_MESH_MAX_DEGREE; i++)
        if (nb[i].v == d->source.node.v)
            links--; /* nothing flows to the source */
    if (role == STRATA_MESH_CORE && links < d->mesh_c)
        links = d->mesh_c;
    uint32_t cap = strata_mesh_degree_cap(d->mesh, mesh_upload(d, m));
    return cap > links ? cap - (uint32_t)links : 0;
}

/* Finds leaf m a feeder with room (its region first, then the most room;
 * ties: the smaller id) and attaches it. Returns 1 when attached. */
static dcm_member *member_feeder(strata_dcm *d, const dcm_member *m)
{
    dcm_member *best = NULL;
    uint32_t best_spare = 0;
    for (size_t i = 0; i < d->count; i++) {
        dcm_member *p = &d->members[i];
        if (p == m || p->leaf_of.v)
            continue;
        uint32_t spare = mesh_spare(d, p);
        if (spare == 0)
            continue;
        int near = p->region == m->region, best_near = best && best->region == m->region;
        if (!best || near > best_near ||
            (near == best_near &&
             (spare > best_spare || (spare == best_spare && p->id.v < best->id.v)))) {
            best = p;
            best_spare = spare;
        }
    }
    return best;
}

/* Finds leaf m a feeder (member_feeder, else the source when it has
 * room) and attaches it. Returns 1 when attached. */
static int leaf_attach(strata_dcm *d, dcm_member *m)
{
    dcm_member *best = member_feeder(d, m);
    if (!best) {
        if (source_spare(d) == 0)
            return 0;
        m->leaf_of = STRATA_MTREE_SOURCE;
        d->source_leaves++;
        source_leaves_changed(d);
        dcm_mark(d, m->id);
        return 1;
    }
    m->leaf_of = best->id;
    best->leaves++;
    strata_mesh_set_upload(d->mesh, best->id, mesh_upload(d, best));
    dcm_mark(d, best->id);
    dcm_mark(d, m->id);
    return 1;
}

/* Leaf m no longer needs its feeder, which gets the room back. */
static void leaf_detach(strata_dcm *d, dcm_member *m)
{
    if (m->leaf_of.v == STRATA_MTREE_SOURCE.v && d->source_leaves) {
        d->source_leaves--;
        source_leaves_changed(d);
    }
    dcm_member *p = dcm_member_get(d, m->leaf_of);
    if (p && p->leaves) {
        p->leaves--;
        strata_mesh_set_upload(d->mesh, p->id, mesh_upload(d, p));
        dcm_mark(d, p->id);
    }
    m->leaf_of = (strata_node_id){0};
    dcm_mark(d, m->id);
}

/* Stalls. A flooding member has no parent to replace, but every neighbour
 * passes it each packet it stores first (but the sender), and a leaf's
 * feeder passes it all: a member whose progress (its furthest substream)
 * stood still for stall_ns while a neighbour or its feeder reported at
 * least 2k packets more was failed by that one, which held them and did not
 * pass them on. The capacity check halves that one's credit
 * (dcm_capacity_stalled); the mesh itself is built from declared uploads,
 * and the control center drops a preferred node whose credit no longer
 * qualifies it. The member is judged again a stall period later. A member
 * that claims to stand still can blame its neighbours, as a child can blame
 * its tree parent (docs/security.md). Uses st[0]'s since_ns and other_base
 * for the member's furthest sequence and when it last moved. */
static uint64_t furthest(const strata_dcm *d, const dcm_stall *st)
{
    uint64_t top = 0;
    for (uint8_t s = 0; s < d->trees; s++)
        top = st[s].seq > top ? st[s].seq : top;
    return top;
}

void dcm_mesh_stall_check(strata_dcm *d, dcm_member *m, dcm_stall *st, uint64_t now,
                          strata_dcm_heard *out)
{
    uint64_t top = furthest(d, st);
    if (!m->stall_init || top != st[0].other_base || now < st[0].since_ns) {
        st[0].other_base = top;
        st[0].since_ns = now;
        m->stall_init = 1;
        return;
    }
    if (!d->capacity_ns || d->stall_ns == 0 || now - st[0].since_ns < d->stall_ns)
        return;
    st[0].since_ns = now;
    strata_node_id nb[STRATA_MESH_MAX_DEGREE + 1];
    size_t n = strata_mesh_neighbours(d->mesh, m->id, nb, STRATA_MESH_MAX_DEGREE);
    if (m->leaf_of.v)
        nb[n++] = m->leaf_of;
    for (size_t i = 0; i < n; i++) {
        uint32_t pi;
        if (!strata_idmap_get(&d->index, nb[i].v, &pi))
            continue; /* the source */
        dcm_member *p = &d->members[pi];
        strata_dcm_heard h;
        memset(&h, 0, sizeof h);
        dcm_capacity_stalled(d, p, 0, furthest(d, &d->stall[(size_t)pi * d->tree_cap]), top, now,
                             &h);
        if (!h.demoted)
            continue;
        if (out->demoted < UINT8_MAX)
            out->demoted++;
        if (out->struck < UINT8_MAX)
            out->struck = (uint8_t)(out->struck + h.struck);
        if (out->n_cut < STRATA_DCM_MAX_CUT)
            out->cut[out->n_cut] = p->id;
        if (out->n_cut < UINT8_MAX)
            out->n_cut++;
    }
}

/* 1 when member m has a link to another member or to the source. */
static int mesh_linked(const strata_dcm *d, const dcm_member *m)
{
    strata_node_id nb[1];
    return strata_mesh_neighbours(d->mesh, m->id, nb, 1) > 0;
}

/* Members without a link (unlinked ones, and weak ones the mesh found no
 * room for) and without a feeder get one, where there is room; a leaf that
 * has links now lets its feeder go. */
void dcm_mesh_leaves_attach_all(strata_dcm *d)
{
    for (size_t i = 0; i < d->count; i++) {
        dcm_member *m = &d->members[i];
        int linked = mesh_linked(d, m);
        if (!m->leaf_of.v && !linked) {
            leaf_attach(d, m);
        } else if (m->leaf_of.v && linked && !m->leaves) {
            leaf_detach(d, m);
        } else if (m->leaf_of.v == STRATA_MTREE_SOURCE.v && member_feeder(d, m)) {
            leaf_detach(d, m); /* a member has room now: the source's goes back */
            leaf_attach(d, m);
        }
    }
}

int dcm_mesh_leaf_restore(strata_dcm *d, strata_node_id leaf, strata_node_id feeder)
{
    dcm_member *m = dcm_member_get(d, leaf), *p = dcm_member_get(d, feeder);
    if (m && d->source.node.v && feeder.v == d->source.node.v && !m->leaf_of.v &&
        !mesh_linked(d, m) && source_spare(d) > 0) {
        m->leaf_of = STRATA_MTREE_SOURCE; /* the source fed it */
        d->source_leaves++;
        source_leaves_changed(d);
        dcm_mark(d, m->id);
        return 1;
    }
    if (!m || !p || m == p || m->leaf_of.v || p->leaf_of.v || mesh_linked(d, m) ||
        !mesh_linked(d, p) || mesh_spare(d, p) == 0)
        return 0;
    m->leaf_of = p->id;
    p->leaves++;
    strata_mesh_set_upload(d->mesh, p->id, mesh_upload(d, p));
    dcm_mark(d, p->id);
    dcm_mark(d, m->id);
    return 1;
}

/* Member id leaves the mesh: its feeder gets the room back; its own leaves
 * are detached (attached again by leaves_attach_all). */
void dcm_mesh_leaves_release(strata_dcm *d, strata_node_id id)
{
    dcm_member *m = dcm_member_get(d, id);
    if (m && m->leaf_of.v)
        leaf_detach(d, m);
    for (size_t i = 0; m && m->leaves && i < d->count; i++) {
        dcm_member *l = &d->members[i];
        if (l->leaf_of.v == id.v) {
            l->leaf_of = (strata_node_id){0};
            m->leaves--;
            dcm_mark(d, l->id);
        }
    }
}

/* The leaves of id and the feeder of id, marked: their refs name it. */
static void mark_leaf_links(strata_dcm *d, strata_node_id id)
{
    const dcm_member *m = dcm_member_get(d, id);
    if (!m)
        return;
    if (m->leaf_of.v)
        dcm_mark(d, m->leaf_of);
    for (size_t i = 0; m->leaves && i < d->count; i++)
        if (d->members[i].leaf_of.v == id.v)
            dcm_mark(d, d->members[i].id);
}

void dcm_mesh_mark_neighbours(strata_dcm *d, strata_node_id id)
{
    strata_node_id nb[STRATA_WIRE_MAX_CHILDREN];
    size_t n = strata_mesh_neighbours(d->mesh, id, nb, STRATA_WIRE_MAX_CHILDREN);
    for (size_t i = 0; i < n && i < STRATA_WIRE_MAX_CHILDREN; i++)
        dcm_mark(d, nb[i].v == d->source.node.v ? STRATA_MTREE_SOURCE : nb[i]);
    mark_leaf_links(d, id);
}

int dcm_mesh_fed(const strata_dcm *d, const dcm_member *m)
{
    return m->leaf_of.v != 0 || mesh_linked(d, m);
}

size_t dcm_mesh_child_links(const strata_dcm *d, strata_node_id node, uint32_t subs)
{
    size_t n = 0;
    strata_node_id nb[STRATA_WIRE_MAX_CHILDREN];
    size_t m = strata_mesh_neighbours(d->mesh, node, nb, STRATA_WIRE_MAX_CHILDREN);
    for (size_t i = 0; i < m && i < STRATA_WIRE_MAX_CHILDREN; i++)
        n += nb[i].v != d->source.node.v;
    const dcm_member *self = dcm_member_get(d, node);
    n += self ? self->leaves : 0;
    unsigned bits = 0;
    for (uint8_t s = 0; s < d->trees; s++)
        bits += (subs >> s) & 1u;
    return n * bits;
}

size_t strata_dcm_mesh_expected_links(const strata_dcm *d, strata_node_id node)
{
    if (!d || !d->mesh)
        return 0;
    const dcm_member *self = dcm_member_get(d, node);
    if (!self)
        return 0;
    size_t nb_links = 0;
    strata_node_id nb[STRATA_WIRE_MAX_CHILDREN];
    size_t m = strata_mesh_neighbours(d->mesh, node, nb, STRATA_WIRE_MAX_CHILDREN);
    for (size_t i = 0; i < m && i < STRATA_WIRE_MAX_CHILDREN; i++)
        nb_links += nb[i].v != d->source.node.v;
    /* FLOOD: every neighbour but the one each packet came from. MESH_TREE:
     * what its neighbours want of it, which the DCM does not know. */
    if (strata_dcm_mesh_tree(d, node) || nb_links == 0)
        nb_links = 0;
    else
        nb_links--;
    return (nb_links + self->leaves) * d->trees;
}

void dcm_mesh_rate_changed(strata_dcm *d)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->members[i].leaves) /* what a leaf costs its feeder changed */
            strata_mesh_set_upload(d->mesh, d->members[i].id, mesh_upload(d, &d->members[i]));
    if (d->source_leaves)
        source_leaves_changed(d); /* the source's too */
    dcm_mesh_source_changed(d);
}

void dcm_mesh_source_changed(strata_dcm *d)
{
    /* Leaves the source's budget no longer carries go elsewhere (or wait):
     * it keeps one link into the core when there is one. */
    int core = 0;
    for (size_t i = 0; i < d->count && !core; i++)
        core = strata_mesh_role(d->mesh, d->members[i].id) == STRATA_MESH_CORE;
    uint32_t cap = d->source_upload_kbps ? strata_mesh_degree_cap(d->mesh, d->source_upload_kbps)
                                         : STRATA_WIRE_MAX_CHILDREN;
    for (size_t i = 0; i < d->count && d->source_leaves + (uint32_t)core > cap; i++)
        if (d->members[i].leaf_of.v == STRATA_MTREE_SOURCE.v)
            leaf_detach(d, &d->members[i]);
    dcm_mesh_leaves_attach_all(d);
}

/* A mesh node's instructions (SPEC C4): FLOOD (or MESH_TREE), no parent,
 * its neighbours as children in every substream, the source left out of a
 * member's list (nothing flows back to it), then the leaves it feeds. */
int dcm_mesh_instructions(const strata_dcm *d, strata_node_id node, uint32_t subs, uint32_t epoch,
                          strata_msg_instruction *out, size_t max)
{
    int is_source = node.v == STRATA_MTREE_SOURCE.v;
    const dcm_member *self = is_source ? NULL : dcm_member_get(d, node);
    strata_node_id nb[STRATA_WIRE_MAX_CHILDREN];
    size_t n = strata_mesh_neighbours(d->mesh, is_source ? d->source.node : node, nb,
                                      STRATA_WIRE_MAX_CHILDREN);
    if (n > STRATA_WIRE_MAX_CHILDREN)
        n = STRATA_WIRE_MAX_CHILDREN; /* the mesh caps degrees below this */
    strata_peer_ref kids[STRATA_WIRE_MAX_CHILDREN];
    uint8_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (nb[i].v == d->source.node.v)
            continue;
        strata_peer_ref r = dcm_ref_of(d, nb[i]);
        if (r.node.v != 0)
            kids[nc++] = r;
    }
    uint8_t n_neighbours = nc;
    for (size_t i = 0; self && self->leaves && i < d->count; i++)
        if (d->members[i].leaf_of.v == node.v && nc < STRATA_WIRE_MAX_CHILDREN)
            kids[nc++] = dcm_ref_of(d, d->members[i].id);
    for (size_t i = 0; is_source && d->source_leaves && i < d->count; i++)
        if (d->members[i].leaf_of.v == STRATA_MTREE_SOURCE.v && nc < STRATA_WIRE_MAX_CHILDREN)
            kids[nc++] = dcm_ref_of(d, d->members[i].id);
    strata_peer_ref parent = {{0}, {0, 0}};
    if (self && self->leaf_of.v)
        parent = dcm_ref_of(d, self->leaf_of); /* a leaf: fed by one member */
    int n_out = 0;
    for (uint8_t s = 0; s < d->trees; s++) {
        if (!((subs >> s) & 1u))
            continue;
        strata_msg_instruction *in = dcm_begin_instruction(d, node, s, epoch, out, max, &n_out);
        if (!in)
            return STRATA_ERR_NOSPACE;
        in->algorithm = parent.node.v                      ? STRATA_ALG_TREE
                        : is_source || !strata_dcm_mesh_tree(d, node) ? STRATA_ALG_FLOOD
                                                                      : STRATA_ALG_MESH_TREE;
        in->n_neighbours = in->algorithm == STRATA_ALG_MESH_TREE ? n_neighbours : 0;
        in->parent = parent;
        in->n_children = nc;
        memcpy(in->children, kids, nc * sizeof *kids);
    }
    return n_out;
}

int strata_dcm_mesh_choose(strata_dcm *d, uint64_t now)
{
    if (!d || !d->mesh || d->mesh_top != STRATA_DCM_TOP_AUTO)
        return 0;
    int changed = 0;
    for (size_t i = 0; i < d->count; i++) {
        dcm_member *m = &d->members[i];
        if (!m->links_since_ns)
            m->links_since_ns = now ? now : 1;
        uint8_t tree = now - m->links_since_ns >= d->mesh_stable_ns;
        if (tree != m->mesh_tree) {
            m->mesh_tree = tree;
            dcm_mark(d, m->id);
            changed = 1;
        }
    }
    return changed;
}

int strata_dcm_mesh_tree(const strata_dcm *d, strata_node_id node)
{
    if (!d || !d->mesh)
        return 0;
    if (d->mesh_top != STRATA_DCM_TOP_AUTO)
        return d->mesh_top == STRATA_DCM_TOP_TREE;
    const dcm_member *m = dcm_member_get(d, node);
    return m && m->mesh_tree;
}
