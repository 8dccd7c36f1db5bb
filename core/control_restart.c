/*
 * Restart. A control center that starts where another one ran (it was
 * killed and started again on the same address) is told so by the
 * heartbeats of nodes it does not know: they still follow the old one's
 * instructions. It answers UNKNOWN (they join again, relaying on
 * meanwhile) and, while young (the first RESTART_ADOPT_HEARTBEATS
 * heartbeat intervals), raises its epoch counter above the epochs they
 * report, so that its instructions outrank the old ones instead of being
 * ignored. (An older epoch a node still holds would otherwise win for
 * good.) Later heartbeats never move the counter: a node cannot push it
 * to the wrap.
 *
 * Such a heartbeat also opens a recovery window of RESTART_WINDOW_HEARTBEATS
 * intervals (every live node heartbeats, hears UNKNOWN and joins again
 * within it), longer while more than 1 % of the nodes heard from before
 * have not joined yet (one that joined after it closed would be placed
 * afresh) and while a channel's source is not back (up to
 * RESTART_SOURCE_WAIT_HEARTBEATS in all): the trees are restored at the rate the
 * source announces and with the upload shares that rate gives nodes in
 * several channels, so that its JOIN does not rebuild them. The control
 * center keeps what each unknown node reports of its parents (a report),
 * takes the JOINs into memberships but into no tree, and sends no
 * instruction, so the nodes relay on as they were. When the window
 * closes, each DCM is rebuilt from its members' reports
 * (strata_dcm_restore): every reported edge that keeps the trees'
 * invariants is kept, so the trees equal those before the crash for every
 * node that stayed, and only the changes (nodes that left meanwhile) cost
 * instructions... all of which go out as one batch that outranks the old
 * epochs. A parent outside the member's DCM (a region's head feeding it)
 * is not taken; those trees are rebuilt as joins would build them. A
 * DCM made for the members of a window gets the logical id they report
 * (heartbeats carry it), so the nodes, the source above all, find their
 * DCMs under the ids they know; the backbone, which no member reports,
 * gets a new one.
 *
 */
#include "control_int.h"

#include <stdlib.h>

/* The report of (node, ch), made when there is none (NULL: no memory, over
 * max_nodes, or a chance key collision with another's). */
ctl_report *ctl_window_report(strata_control *c, strata_node_id node, strata_channel_id ch)
{
    uint64_t key = ctl_member_key(c, node, ch);
    ctl_report *r = ctl_ptab_get(&c->reports, key);
    if (r)
        return r->node.v == node.v && r->channel.v == ch.v ? r : NULL;
    if (c->reports.count >= c->max_nodes ||
        ctl_ptab_reserve(&c->reports, c->alloc, c->reports.count + 1))
        return NULL;
    r = strata_mem_calloc(c->alloc, 1, sizeof *r);
    if (!r)
        return NULL;
    r->node = node;
    r->channel = ch;
    ctl_ptab_put(&c->reports, key, r);
    return r;
}

static const ctl_report *report_of(const strata_control *c, strata_node_id node,
                                   strata_channel_id ch)
{
    const ctl_report *r = ctl_ptab_get(&c->reports, ctl_member_key(c, node, ch));
    return r && r->node.v == node.v && r->channel.v == ch.v ? r : NULL;
}

/* Keeps (or refreshes) what a node reports of its parents while a recovery
 * window is open. Out of memory or over max_nodes it is not kept: that
 * member's trees are then built as a join would build them. */
void ctl_keep_report(strata_control *c, const strata_msg_heartbeat *hb)
{
    ctl_report *r = ctl_window_report(c, hb->node, hb->channel);
    if (!r)
        return;
    if (r->n_parents == 0) {
        c->window_heard++;
        c->window_joined += r->region_len != 0; /* its JOIN came first */
    }
    if (hb->dcm.v) {
        r->dcm = hb->dcm;
        r->level = hb->level;
    }
    r->n_parents = hb->n_parents;
    for (uint8_t s = 0; s < hb->n_parents; s++)
        r->parents[s] = hb->parents[s].parent;
}

static void drop_reports(strata_control *c)
{
    c->window_heard = c->window_joined = 0;
    for (size_t i = 0; i < c->reports.count; i++)
        strata_mem_free(c->alloc, c->reports.items[i]);
    ctl_ptab_free(&c->reports, c->alloc);
    ctl_ptab_init(&c->reports, c->alloc, c->seed ^ 0x7265706f727473ull);
}

/* --- placing the members when the window closes ---------------------------
 *
 * A member that joined in the window waits in no DCM, with its region and
 * its report (control_clients.c, join_in_window). When the window closes
 * each channel's DCMs are made from the reports, with the logical ids
 * and at the levels their members name: a region's cluster (level 2) first
 * in each region, so that it gets its own id whoever joined first; then
 * the common clusters (level 3) and the level above the regions (1).
 * Members go back to the DCM of their level: a preferred node back into
 * the mesh (or the backbone), heading its region again. Who fed a tree
 * in the source's place is what its root children report: a parent
 * outside their DCM, a preferred node or (for a common cluster) a member
 * of the region's relay cluster. The most named one per tree feeds it
 * again, and its root children stay its. */

/* The DCM a placed member of level `level` with the region's cluster d
 * goes to. */
static strata_dcm *placed_in(strata_control *c, ctl_channel *ch, strata_dcm *d, const ctl_report *r)
{
    if (r->level == 3 && c->levels == STRATA_LEVELS_THREE) {
        strata_dcm *cm = ctl_common_for(c, ch, d, r->dcm);
        return cm ? cm : d;
    }
    return d;
}

/* Places the members of ch that joined in the window (one without memory
 * for its DCM stays unplaced: forgotten when the window closes, it joins
 * again). */
/* Regions by policy: which groups were folded into which regions, from
 * the clusters the members report (ctl_policy_restore), so that a group
 * served by another region goes back there, not to a region of its own
 * that the first evaluations would fold again, moving every member. */
static void restore_folds(strata_control *c, ctl_channel *ch)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        n += m->ch == ch && m->restoring && !m->dcm;
    }
    ctl_placed *v = n ? strata_mem_calloc(c->alloc, n, sizeof *v) : NULL;
    if (!v)
        return; /* no memory: every group its own region, as before */
    n = 0;
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        const ctl_report *r =
            m->ch == ch && m->restoring && !m->dcm ? report_of(c, m->id, ch->id) : NULL;
        uint64_t g = r ? ctl_label_group(r->region, r->region_len) : 0;
        if (g && (r->level == 2 || r->level == 3))
            v[n++] = (ctl_placed){.dcm = r->dcm.v, .group = g, .level = r->level};
    }
    ctl_policy_restore(c, ch, v, n);
    strata_mem_free(c->alloc, v);
}

/* The region label member report r goes back to: its own, or that of the
 * region its group was folded into (buf: CONTROL_REGION_BUF bytes). */
static const char *region_back(ctl_channel *ch, const ctl_report *r, size_t *len, char *buf)
{
    const char *region = r->region;
    *len = r->region_len;
    ctl_policy_label(ch, &region, len, buf);
    return region;
}

static void place_members(strata_control *c, ctl_channel *ch, uint64_t now)
{
    char buf[CONTROL_REGION_BUF];
    size_t len;
    if (c->policy)
        restore_folds(c, ch);
    /* Regions' clusters first, under the id their members (level 2) name. */
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *m = c->nodes.items[i];
        const ctl_report *r =
            m->ch == ch && m->restoring && !m->dcm ? report_of(c, m->id, ch->id) : NULL;
        if (r && r->region_len && r->level == 2) {
            const char *region = region_back(ch, r, &len, buf);
            ctl_dcm_for(c, ch, region, len, r->dcm);
        }
    }
    /* The level above, under the id its members (level 1) name. */
    for (size_t i = 0; i < c->nodes.count && !ch->backbone; i++) {
        ctl_node *m = c->nodes.items[i];
        const ctl_report *r =
            m->ch == ch && m->restoring && !m->dcm ? report_of(c, m->id, ch->id) : NULL;
        if (r && r->region_len && r->level == 1)
            ch->backbone = ctl_dcm_make(c, ch, DCM_BACKBONE, NULL, 0, r->dcm);
    }
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *m = c->nodes.items[i];
        if (m->ch != ch || !m->restoring || m->dcm)
            continue;
        const ctl_report *r = report_of(c, m->id, ch->id);
        const char *region = r ? region_back(ch, r, &len, buf) : NULL;
        strata_dcm *d =
            r && r->region_len ? ctl_dcm_for(c, ch, region, len, (strata_dcm_id){0}) : NULL;
        if (!d)
            continue; /* no memory: it is told UNKNOWN at its next heartbeat and joins again */
        if (r->level == 1 && ch->backbone && m->upload_kbps >= ctl_head_min_kbps(ch)) {
            m->dcm = ch->backbone;
            m->roots = d;
            m->root_subs = 0;
            m->preferred_since_ns = now ? now : 1;
        } else {
            m->dcm = placed_in(c, ch, d, r);
        }
    }
}

/* One vote of a root child for the feeder of tree s of DCM d. */
typedef struct feeder_vote {
    strata_dcm *d;
    uint8_t s;
    uint64_t feeder;
} feeder_vote;

static int vote_cmp(const void *a, const void *b)
{
    const feeder_vote *x = a, *y = b;
    if (x->d != y->d)
        return (uintptr_t)x->d < (uintptr_t)y->d ? -1 : 1;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return x->feeder < y->feeder ? -1 : x->feeder > y->feeder;
}

/* Makes node f the feeder of tree s of d, as the root children voted; 1
 * when it could (a preferred node of d's region, of another region with
 * levels ec and 3, or a relay member above common cluster d). */
static int take_feeder(strata_control *c, strata_dcm *d, uint8_t s, ctl_node *f)
{
    int common = ctl_home_of(c, d) != d;
    if (f->roots == d) {
        f->root_subs |= 1u << s;
    } else if (f->roots && !common && ec_levels(c) && f->naway < CONTROL_MAX_AWAY_TREES) {
        for (uint8_t i = 0; i < f->naway; i++)
            if (f->away[i].d == d)
                return 0; /* one tree of a cluster per preferred node */
        f->away[f->naway++] = (struct ctl_away){d, s};
    } else if (common && (f->roots || f->dcm == ctl_home_of(c, d)) &&
               (!f->feeds || f->feeds == d)) {
        f->feeds = d;
        f->feed_subs |= 1u << s;
    } else {
        return 0;
    }
    strata_dcm_set_substream_root(d, s, (strata_peer_ref){f->id, f->host->addr});
    return 1;
}

/* An erasure-coded cluster's n is state no DCM keeps across a restart:
 * its members report it (k + n parent entries). The most any of them
 * reports wins, as a raise applies at once and a member may not have
 * heard it yet; never outside the cluster's range (strata_dcm_set_parity
 * refuses it). */
static void restore_parity(strata_control *c, ctl_channel *ch)
{
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->ch != ch || !m->restoring || !m->dcm ||
            strata_dcm_algorithm(m->dcm) != STRATA_ALG_EC_TREE)
            continue;
        const ctl_report *r = report_of(c, m->id, ch->id);
        uint8_t k = strata_dcm_k(m->dcm);
        if (r && r->level == strata_dcm_level(m->dcm) &&
            r->n_parents > k + strata_dcm_parity(m->dcm))
            strata_dcm_set_parity(m->dcm, (uint8_t)(r->n_parents - k));
    }
}

/* Gives each tree of ch's restored DCMs the feeder its root children name
 * (see above). Without memory the trees go to the source and to the heads
 * as after a join. */
static void restore_feeders(strata_control *c, ctl_channel *ch)
{
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->ch == ch && m->restoring && m->dcm && m->dcm != ch->backbone)
            cap += strata_dcm_trees(m->dcm);
    }
    feeder_vote *v = cap ? strata_mem_calloc(c->alloc, cap, sizeof *v) : NULL;
    for (size_t i = 0; v && i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->ch != ch || !m->restoring || !m->dcm || m->dcm == ch->backbone)
            continue;
        const ctl_report *r = report_of(c, m->id, ch->id);
        for (uint8_t s = 0; r && s < r->n_parents && s < strata_dcm_trees(m->dcm); s++) {
            strata_node_id p = r->parents[s];
            if (p.v == 0 || p.v == ch->source.v)
                continue;
            const ctl_node *f = ctl_member_get(c, p, ch->id);
            if (f && f->restoring && f->dcm != m->dcm && n < cap)
                v[n++] = (feeder_vote){.d = m->dcm, .s = s, .feeder = p.v};
        }
    }
    if (v)
        qsort(v, n, sizeof *v, vote_cmp);
    for (size_t i = 0; i < n;) {
        /* The group of votes for (d, s), and in it the most named feeder. */
        size_t j = i, best = i, best_n = 0;
        while (j < n && v[j].d == v[i].d && v[j].s == v[i].s) {
            size_t k = j;
            while (k < n && v[k].d == v[j].d && v[k].s == v[j].s && v[k].feeder == v[j].feeder)
                k++;
            if (k - j > best_n) {
                best = j;
                best_n = k - j;
            }
            j = k;
        }
        ctl_node *f = ctl_member_get(c, (strata_node_id){v[best].feeder}, ch->id);
        if (f)
            take_feeder(c, v[best].d, v[best].s, f);
        i = j;
    }
    /* A preferred node no root child named (its region has no other member
     * left, or they all report others) takes a tree of its region nobody
     * feeds, or goes back into its region: a head of no tree is invisible
     * to the evaluations and would hold its region's DCM for nothing. */
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *h = c->nodes.items[i];
        if (h->ch != ch || !h->restoring || !h->roots || h->root_subs)
            continue;
        for (uint8_t s = 0; s < strata_dcm_trees(h->roots) && !h->root_subs; s++) {
            if (ctl_tree_feeder(c, h->roots, s))
                continue;
            h->root_subs = 1u << s;
            strata_dcm_set_substream_root(h->roots, s, (strata_peer_ref){h->id, h->host->addr});
        }
        if (!h->root_subs) {
            ctl_drop_away(h);
            ctl_drop_feeds(h);
            h->dcm = h->roots;
            h->roots = NULL;
        }
    }
    strata_mem_free(c->alloc, v);
}

/* The recovery window closes: every DCM is rebuilt from its members'
 * reports (see control_restart.c), then the channels resume as joins would leave
 * them (backbones, heads, budgets) and one batch of instructions goes out. */
void ctl_finish_recovery(strata_control *c, uint64_t now)
{
    c->recover_until = 0;
    /* The root budgets are state no heartbeat reports: computed afresh
     * they could move restored root children, so until the window's
     * changes are out they keep room for those (ctl_restore_budget_kbps,
     * ctl_push_roots). */
    c->keep_root_links = 1;
    size_t restored = 0, kept = 0, edges = 0;
    for (size_t i = 0; i < c->channels.count; i++) {
        place_members(c, c->channels.items[i], now);
        restore_parity(c, c->channels.items[i]);
        restore_feeders(c, c->channels.items[i]);
    }
    for (size_t i = 0; i < c->dcms.count; i++) {
        strata_dcm *d = c->dcms.items[i];
        ctl_channel *ch = ctl_channel_get(c, strata_dcm_channel(d));
        if (!ch)
            continue;
        size_t n = 0;
        for (size_t j = 0; j < c->nodes.count; j++) {
            const ctl_node *m = c->nodes.items[j];
            n += m->restoring && m->dcm == d;
        }
        if (n == 0)
            continue;
        strata_dcm_report *r = strata_mem_calloc(c->alloc, n, sizeof *r);
        n = 0;
        for (size_t j = 0; r && j < c->nodes.count; j++) {
            ctl_node *m = c->nodes.items[j];
            if (!m->restoring || m->dcm != d)
                continue;
            strata_dcm_report *e = &r[n++];
            e->node = m->id;
            e->addr = m->host->addr;
            e->upload_kbps =
                d == ch->backbone
                    ? m->upload_kbps - ctl_head_region_kbps(m->upload_kbps, ch->rate_kbps)
                    : ctl_cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps);
            e->interior = -1;
            e->region = d == ch->backbone && m->roots ? strata_dcm_id_of(m->roots).v : 0;
        }
        /* Parents named by the reports: the source or the tree's feeder in
         * its place (restore_feeders), or a member of d. */
        for (size_t a = 0; r && a < n; a++) {
            const ctl_report *rep = report_of(c, r[a].node, ch->id);
            for (uint8_t s = 0; rep && s < rep->n_parents && s < strata_dcm_trees(d); s++) {
                strata_node_id p = rep->parents[s];
                if (p.v == 0)
                    continue;
                if ((ch->source.v && p.v == ch->source.v) ||
                    p.v == strata_dcm_substream_root(d, s).node.v) {
                    r[a].parents[s] = STRATA_MTREE_SOURCE;
                    continue;
                }
                for (size_t b = 0; b < n; b++) {
                    if (r[b].node.v == p.v && b != a) {
                        r[a].parents[s] = p;
                        r[b].interior = s; /* a parent has children in s */
                        break;
                    }
                }
            }
        }
        if (r && ch->source.v && d != ch->backbone) {
            /* The trees restore under the root budget ctl_push_roots will
             * give them, with room for the root children they report:
             * under a smaller one the edges that do not fit move, and the
             * budget's change later rebuilds the trees at another share. */
            unsigned links = 0;
            for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
                unsigned l = 0;
                for (size_t a = 0; a < n; a++)
                    l += r[a].parents[s].v == STRATA_MTREE_SOURCE.v;
                links = l > links ? l : links;
            }
            strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps,
                                  ctl_restore_budget_kbps(c, ch, d, links));
        }
        int err = r ? strata_dcm_restore(d, r, n) : STRATA_ERR_NOMEM;
        strata_mem_free(c->alloc, r);
        for (size_t j = 0; j < c->nodes.count; j++) {
            ctl_node *m = c->nodes.items[j];
            if (!m->restoring || m->dcm != d)
                continue;
            m->restoring = 0;
            /* Without memory for the restore, members join as usual; one
             * that cannot is told UNKNOWN at its next heartbeat. */
            if (err)
                strata_dcm_add(d, m->id, m->host->addr,
                               ctl_cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps));
            restored++;
        }
    }
    /* Members placed nowhere (no memory for their DCM) are forgotten: told
     * UNKNOWN at their next heartbeat, they join again. */
    for (size_t i = c->nodes.count; i-- > 0;) {
        ctl_node *m = c->nodes.items[i];
        if (m->restoring && !m->dcm)
            ctl_remove_node(c, m, now);
    }
    /* DCMs whose members all left in the window go, as they would have. */
    for (size_t i = c->dcms.count; i-- > 0;) {
        strata_dcm *d = c->dcms.items[i];
        ctl_channel *ch = ctl_channel_get(c, strata_dcm_channel(d));
        if (ctl_dcm_unused(c, d) && (!ch || d != ch->backbone)) {
            ctl_dcm_destroy(c, d);
            if (ch)
                ctl_channel_maybe_release(c, ch);
        }
    }
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->backbone && ch->ndcms >= 2) {
            ctl_backbone_start(c, ch, now);
        } else if (ch->backbone) {
            /* Trees whose feeder left in the window get one, as after a
             * leave; heads the mesh cannot feed go back to their region. */
            if (mesh_levels(c))
                ctl_drop_unfed_heads(c, ch, now);
            for (size_t j = 0; j < ch->ndcms; j++)
                ctl_region_take_heads(c, ch, ch->dcms[j], now, NULL);
        }
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
    }
    c->keep_root_links = 0;
    /* What came back as it was: each reported parent that is the member's
     * parent now, the source or a feeder named by its id as the node
     * knows it (a flooding member reports none). */
    for (size_t i = 0; i < c->reports.count; i++) {
        const ctl_report *rep = c->reports.items[i];
        const ctl_node *m = ctl_member_get(c, rep->node, rep->channel);
        for (uint8_t s = 0; s < rep->n_parents; s++) {
            if (!rep->parents[s].v)
                continue;
            edges++;
            kept += m && m->dcm && s < strata_dcm_trees(m->dcm) &&
                    strata_dcm_parent_id(m->dcm, m->id, s).v == rep->parents[s].v;
        }
    }
    drop_reports(c);
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: recovery window closed: %zu members back, %zu of %zu reported "
                    "edges kept",
                    restored, kept, edges);
    c->restored_members += restored;
    c->restored_edges += kept;
    c->reported_edges += edges;
}

/* 1 when a channel with members waiting for the recovery window has no
 * source back yet: its rate and the uploads its nodes share with other
 * channels are not known, and trees restored without them would be
 * rebuilt when the source joins. */
int ctl_source_missing(const strata_control *c)
{
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->restoring && !m->ch->source_live)
            return 1;
    }
    return 0;
}