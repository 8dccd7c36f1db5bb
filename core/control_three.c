/*
 * Levels 3: common clusters fed by relay members.
 *
 * A relay member keeps for the common trees it feeds what a preferred node
 * keeps for the region trees it feeds (ctl_head_region_kbps: half its upload,
 * at least 5/4 of the rate) and gives its relay cluster the rest. Each
 * common tree is fed by a relay member with room, those feeding fewest
 * trees first, so that each tree has another feeder when there are k; a
 * region whose relay cluster has nobody with room has its common trees fed
 * by its preferred nodes, and a region with neither by the source. The
 * relay cluster itself gets few root children (RELAY_ROOT_LINKS a tree):
 * its members carry its trees, and every root child of a tree rooted in
 * another region is a copy of a k-th of the stream crossing regions.
 */
#include "control_int.h"

/* 1 when d is a region's relay cluster (levels 3). */
int ctl_is_relay_cluster(const strata_control *c, const strata_dcm *d)
{
    return c->levels == STRATA_LEVELS_THREE && strata_dcm_level(d) == 2;
}

/* The upload a member with this channel share gives cluster d: in a relay
 * cluster above a common one what feeding common trees leaves, elsewhere
 * (a region that is one cluster included) all of it. */
uint32_t ctl_cluster_kbps(const strata_control *c, const strata_dcm *d, uint32_t upload_kbps,
                          uint32_t rate_kbps)
{
    if (!ctl_is_relay_cluster(c, d) || !ctl_common_of(c, d))
        return upload_kbps;
    return upload_kbps - ctl_head_region_kbps(upload_kbps, rate_kbps);
}

/* Region d's common cluster came or went: its relay members give d the
 * share ctl_cluster_kbps says now (they leave d's trees and join them
 * again with it; members of a recovery window are placed with it when it
 * closes). Before, a region that was one cluster kept half the upload of
 * its members for common trees it did not have. The caller flushes d. */
void ctl_relay_reshare(strata_control *c, ctl_channel *ch, strata_dcm *d)
{
    size_t n = strata_dcm_count(d);
    strata_node_id *ids = n ? strata_mem_calloc(c->alloc, n, sizeof *ids) : NULL;
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = strata_dcm_member_at(d, i);
    for (size_t i = 0; ids && i < n; i++) {
        ctl_node *m = ctl_member_get(c, ids[i], ch->id);
        if (!m || m->restoring || m->dcm != d)
            continue;
        uint32_t want = ctl_cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps);
        uint32_t was = strata_dcm_member_kbps(d, m->id);
        if (was != want)
            ctl_dcm_resize_member(d, m, want, was);
    }
    strata_mem_free(c->alloc, ids);
}

static uint32_t relay_min_kbps(const ctl_channel *ch)
{
    uint64_t v = (uint64_t)ch->rate_kbps * RELAY_MIN_RATE_TIMES;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* 1 when region d has a node that can feed common trees: a relay member or
 * one of its preferred nodes with twice the rate. */
static int has_strong_feeder(strata_control *c, const ctl_channel *ch, strata_dcm *d)
{
    strata_node_id id;
    if (strata_dcm_top_members(d, ctl_cluster_kbps(c, d, relay_min_kbps(ch), ch->rate_kbps), &id,
                               1))
        return 1;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        const ctl_node *h = ctl_sub_head(c, d, s);
        if (h && h->upload_kbps >= relay_min_kbps(ch))
            return 1;
    }
    return 0;
}

/* Members of region d's clusters (its preferred nodes are the mesh's).
 * Below split_members a region is one erasure-coded cluster: a common
 * cluster's trees each hang under one feeder, so a region of a few dozen
 * members gains little from it, and loses a k-th of the stream at every
 * member for as long as the control center takes to see a feeder die (two
 * feeders of the 6 strongest peers among 20, SIGKILLed together, left
 * peers short of a second of the stream after every repair; one cluster
 * keeps its root children at the source). Half of it merges the clusters
 * again, so that a region near the size does not split and merge by
 * turns. */
static size_t region_members(const strata_dcm *d, const strata_dcm *cm)
{
    return strata_dcm_count(d) + (cm ? strata_dcm_count(cm) : 0);
}

/* A node with this upload joining region d goes to its relay cluster when
 * it has twice the rate and the cluster has fewer than k + n members (one
 * interior per tree), and whatever its upload while the region has no
 * node with twice the rate to feed common trees (has_strong_feeder): such
 * a region keeps one erasure-coded cluster for all, as with levels ec,
 * whose trees other regions' preferred nodes feed. (Asking for k strong
 * relay members, one feeder per common tree, made regions of 20 merge and
 * split under churn: delivery 0.99733 at 10,000 peers against 0.99976;
 * asking for one, without counting preferred nodes, 0.99840.) */
int ctl_joins_relay(strata_control *c, const ctl_channel *ch, strata_dcm *d, uint32_t upload_kbps)
{
    if (c->levels != STRATA_LEVELS_THREE)
        return 1;
    if (!ctl_common_of(c, d) && strata_dcm_count(d) + 1 < c->split_members)
        return 1; /* a small region stays one cluster (see region_members) */
    if (upload_kbps >= relay_min_kbps(ch) && strata_dcm_count(d) < strata_dcm_trees(d))
        return 1;
    return !has_strong_feeder(c, ch, d);
}

/* Node f stops feeding common trees; they go to the source until
 * ctl_common_assign finds them other feeders. */
void ctl_drop_feeds(ctl_node *f)
{
    strata_dcm *cm = f->feeds;
    for (uint8_t s = 0; cm && s < strata_dcm_k(cm); s++)
        if (((f->feed_subs >> s) & 1u) && strata_dcm_substream_root(cm, s).node.v == f->id.v)
            strata_dcm_set_substream_root(cm, s, (strata_peer_ref){{0}, {0, 0}});
    f->feeds = NULL;
    f->feed_subs = 0;
}

/* Common cluster cm goes: its feeders stop feeding it. */
void ctl_forget_feeders_of(strata_control *c, strata_dcm *cm)
{
    for (uint8_t s = 0; s < strata_dcm_k(cm); s++) {
        ctl_node *f = ctl_tree_feeder(c, cm, s);
        if (f && f->feeds == cm) {
            ctl_drop_feeds(f);
            strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending to its root children */
        }
    }
}

/* The better feeder for a common tree of a and b (either may be NULL):
 * a relay member before a preferred node, then fewer common trees fed,
 * then more room. */
static ctl_node *better_feeder(ctl_node *a, ctl_node *b, uint32_t rate_kbps)
{
    if (!a || !b)
        return a ? a : b;
    int ah = a->roots != NULL, bh = b->roots != NULL;
    if (ah != bh)
        return ah ? b : a;
    unsigned af = popcount32(a->feed_subs), bf = popcount32(b->feed_subs);
    if (af != bf)
        return af < bf ? a : b;
    int64_t ar = ctl_away_room(a, rate_kbps), br = ctl_away_room(b, rate_kbps);
    if (ar != br)
        return ar > br ? a : b;
    return a->id.v < b->id.v ? a : b;
}

/* 1 when the capacity check cut f's credit (in the DCM it is in) and it
 * has not proven it back: a common tree hangs under one feeder, and one
 * that starved its root children feeds none. */
static int feeder_demoted(const ctl_node *f)
{
    strata_dcm_trust t;
    return f->dcm && strata_dcm_trust_of(f->dcm, f->id, &t) == 0 && t.demoted;
}

/* Feeder f stops feeding common tree s. */
static void stop_feeding(ctl_node *f, uint8_t s)
{
    f->feed_subs &= ~(1u << s);
    if (!f->feed_subs)
        f->feeds = NULL;
    strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
}

/* Gives every tree of region d's common cluster a feeder (see above), and
 * moves a tree off a feeder of several, or off a preferred node, to a
 * relay member feeding none, and off a feeder the capacity check demoted
 * (to the source when nobody else can take it). Returns 1 when a feeder
 * changed. */
int ctl_common_assign(strata_control *c, ctl_channel *ch, strata_dcm *d)
{
    strata_dcm *cm = ctl_common_of(c, d);
    if (!cm)
        return 0;
    ctl_node *cands[RELAY_CANDIDATES + STRATA_WIRE_MAX_TREES];
    size_t n = 0;
    strata_node_id ids[RELAY_CANDIDATES];
    size_t m = strata_dcm_top_members(d, 0, ids, RELAY_CANDIDATES);
    for (size_t i = 0; i < m; i++) {
        ctl_node *r = ctl_member_get(c, ids[i], ch->id);
        if (r && !r->restoring && (!r->feeds || r->feeds == cm) && !feeder_demoted(r))
            cands[n++] = r;
    }
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        ctl_node *h = ctl_sub_head(c, d, s);
        int seen = !h || (h->feeds && h->feeds != cm) || feeder_demoted(h);
        for (size_t i = 0; i < n && !seen; i++)
            seen = cands[i] == h;
        if (!seen)
            cands[n++] = h;
    }
    uint32_t rate = ch->rate_kbps;
    int64_t one = rate / strata_dcm_k(cm);
    int changed = 0;
    for (uint8_t s = 0; s < strata_dcm_k(cm); s++) {
        ctl_node *f = ctl_tree_feeder(c, cm, s);
        int bad = f && feeder_demoted(f);
        if (f && !bad && f->roots == NULL && popcount32(f->feed_subs) == 1)
            continue; /* a relay member feeding this tree alone */
        ctl_node *best = NULL, *head = NULL;
        int64_t need = (int64_t)ctl_tree_root_kbps(cm, s, rate);
        for (size_t i = 0; i < n; i++) {
            ctl_node *g = cands[i];
            if (g == f)
                continue;
            if (g->roots)
                head = better_feeder(head, g, rate);
            if (ctl_away_room(g, rate) < (need > one ? need : one))
                continue;
            best = better_feeder(best, g, rate);
        }
        if (!best && !f)
            best =
                head; /* its own region's first: it gives other regions' trees back (shed_away) */
        /* A feeder keeps its tree unless a relay member can take it off a
         * preferred node, or off a relay member of two more trees. */
        if (f && !bad &&
            !(best && best->roots == NULL &&
              (f->roots != NULL || popcount32(best->feed_subs) + 1 < popcount32(f->feed_subs))))
            continue;
        if (bad) {
            stop_feeding(f, s);
            f = NULL;
            changed = 1;
        }
        if (!best) {
            if (strata_dcm_substream_root(cm, s).node.v)
                strata_dcm_set_substream_root(cm, s, (strata_peer_ref){{0}, {0, 0}});
            continue; /* the source feeds it */
        }
        if (f)
            stop_feeding(f, s);
        best->feeds = cm;
        best->feed_subs |= 1u << s;
        strata_dcm_set_substream_root(cm, s, (strata_peer_ref){best->id, best->host->addr});
        strata_dcm_mark_dirty(best->dcm, best->id);
        changed = 1;
    }
    return changed;
}

/* Common cluster cm of a region has no member left: it goes, after telling
 * the source it has no roots there. */

/* Common member rec of cm moves to its region's relay cluster d; 1 when
 * it did (0: no memory, it stays). */
static int move_to_relay(strata_control *c, const ctl_channel *ch, strata_dcm *d, strata_dcm *cm,
                         ctl_node *rec)
{
    if (ctl_dcm_move_member(cm, d, rec, ctl_cluster_kbps(c, d, rec->upload_kbps, ch->rate_kbps)))
        return 0;
    rec->dcm = d;
    return 1;
}

/* Region d splits (its first common member joined): its k + n strongest
 * members stay in the relay cluster, the others move to the common one
 * (they were in the one cluster because the region was small), and the
 * relay members keep part of their upload for the common trees from now
 * on. The caller flushes both clusters. */
void ctl_region_split(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_dcm *cm)
{
    size_t n = strata_dcm_count(d), keep = strata_dcm_trees(d);
    strata_node_id *ids = n > keep ? strata_mem_calloc(c->alloc, n, sizeof *ids) : NULL;
    size_t got = ids ? strata_dcm_top_members(d, 0, ids, n) : 0;
    for (size_t i = keep; i < got; i++) {
        ctl_node *m = ctl_member_get(c, ids[i], ch->id);
        if (!m || m->restoring || m->dcm != d || m->feeds)
            continue;
        if (ctl_dcm_move_member(d, cm, m, m->upload_kbps) != 0)
            break; /* no memory: the rest stay relay members */
        m->dcm = cm;
    }
    strata_mem_free(c->alloc, ids);
    ctl_relay_reshare(c, ch, d);
}

/* Region d's relay cluster short of k + n members takes the best common
 * members with twice the rate: after promotions took relay members to the
 * top (the evaluations) and after a relay member or preferred node left.
 * If the region still has nobody with twice the rate to feed the common
 * trees, the common cluster merges into the relay cluster (the region is
 * then one erasure-coded cluster, as ctl_joins_relay would have made it).
 * Returns 1 when a member moved. */
int ctl_relays_top_up(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    strata_dcm *cm = ctl_common_of(c, d);
    int moved = 0;
    while (cm && strata_dcm_count(d) < strata_dcm_trees(d)) {
        strata_node_id id = strata_dcm_best_member(cm, relay_min_kbps(ch));
        ctl_node *rec = id.v ? ctl_member_get(c, id, ch->id) : NULL;
        if (!rec || rec->restoring || !move_to_relay(c, ch, d, cm, rec))
            break;
        moved = 1;
    }
    if (cm && (!has_strong_feeder(c, ch, d) || region_members(d, cm) < c->split_members / 2)) {
        strata_node_id ids[64];
        size_t n;
        while ((n = strata_dcm_top_members(cm, 0, ids, 64)) > 0) {
            size_t done = 0;
            for (size_t i = 0; i < n; i++) {
                ctl_node *rec = ctl_member_get(c, ids[i], ch->id);
                done += rec && move_to_relay(c, ch, d, cm, rec);
            }
            moved |= done > 0;
            if (done < n)
                break; /* no memory: the rest stay common until the next try */
        }
    }
    if (cm && strata_dcm_count(cm) == 0)
        ctl_retire_common(c, cm, now);
    return moved;
}

/* ctl_common_assign for every region of ch (levels 3); 1 when a feeder moved. */
int ctl_common_assign_channel(strata_control *c, ctl_channel *ch)
{
    int changed = 0;
    for (size_t i = 0; c->levels == STRATA_LEVELS_THREE && i < ch->ndcms; i++)
        changed |= ctl_common_assign(c, ch, ch->dcms[i]);
    return changed;
}

void ctl_retire_common(strata_control *c, strata_dcm *cm, uint64_t now)
{
    strata_dcm *relay = ctl_home_of(c, cm);
    ctl_channel *ch = ctl_channel_get(c, strata_dcm_channel(cm));
    strata_dcm_mark_dirty(cm, STRATA_MTREE_SOURCE);
    ctl_flush_dcm(c, cm, now);
    ctl_dcm_destroy(c, cm);
    if (relay && relay != cm && ch) {
        ctl_relay_reshare(c, ch, relay); /* the region is one cluster again */
        ctl_flush_dcm(c, relay, now);
    }
}