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
 * within it), longer while a channel's source is not back (up to
 * RESTART_SOURCE_WAIT_HEARTBEATS): the trees are restored at the rate the
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

/* The logical id of the DCM a node joining in a recovery window reported
 * following (see control_restart.c), or 0. */
strata_dcm_id ctl_reported_dcm(const strata_control *c, strata_node_id node, strata_channel_id ch)
{
    const ctl_report *r =
        c->recover_until ? ctl_ptab_get(&c->reports, ctl_member_key(c, node, ch)) : NULL;
    return r && r->node.v == node.v && r->channel.v == ch.v ? r->dcm : (strata_dcm_id){0};
}

/* Keeps (or refreshes) what a node reports of its parents while a recovery
 * window is open. Out of memory or over max_nodes it is not kept: that
 * member's trees are then built as a join would build them. */
void ctl_keep_report(strata_control *c, const strata_msg_heartbeat *hb)
{
    uint64_t key = ctl_member_key(c, hb->node, hb->channel);
    ctl_report *r = ctl_ptab_get(&c->reports, key);
    if (r && (r->node.v != hb->node.v || r->channel.v != hb->channel.v))
        return; /* a chance key collision: the first keeps it */
    if (!r) {
        if (c->reports.count >= c->max_nodes ||
            ctl_ptab_reserve(&c->reports, c->alloc, c->reports.count + 1))
            return;
        r = strata_mem_calloc(c->alloc, 1, sizeof *r);
        if (!r)
            return;
        r->node = hb->node;
        r->channel = hb->channel;
        ctl_ptab_put(&c->reports, key, r);
    }
    if (hb->dcm.v)
        r->dcm = hb->dcm;
    r->n_parents = hb->n_parents;
    for (uint8_t s = 0; s < hb->n_parents; s++)
        r->parents[s] = hb->parents[s].parent;
}

static void drop_reports(strata_control *c)
{
    for (size_t i = 0; i < c->reports.count; i++)
        strata_mem_free(c->alloc, c->reports.items[i]);
    ctl_ptab_free(&c->reports, c->alloc);
    ctl_ptab_init(&c->reports, c->alloc, c->seed ^ 0x7265706f727473ull);
}

/* The recovery window closes: every DCM is rebuilt from its members'
 * reports (see control_restart.c), then the channels resume as joins would leave
 * them (backbones, heads, budgets) and one batch of instructions goes out. */
void ctl_finish_recovery(strata_control *c, uint64_t now)
{
    c->recover_until = 0;
    size_t restored = 0, kept = 0, edges = 0;
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
            e->upload_kbps = ctl_cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps);
            e->interior = -1;
        }
        /* Parents named by the reports: the source, or a member of d. */
        for (size_t a = 0; r && a < n; a++) {
            const ctl_report *rep = ctl_ptab_get(&c->reports, ctl_member_key(c, r[a].node, ch->id));
            for (uint8_t s = 0; rep && s < rep->n_parents && s < strata_dcm_trees(d); s++) {
                strata_node_id p = rep->parents[s];
                if (p.v == 0)
                    continue;
                edges++;
                if (ch->source.v && p.v == ch->source.v) {
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
        int err = r ? strata_dcm_restore(d, r, n) : STRATA_ERR_NOMEM;
        for (size_t a = 0; !err && a < n; a++) {
            for (uint8_t s = 0; s < c->k; s++) {
                /* As the node reports it: the source (or head) by its id. */
                strata_node_id want = r[a].parents[s];
                if (want.v == STRATA_MTREE_SOURCE.v)
                    want = ch->source;
                kept += want.v != 0 && strata_dcm_parent_id(d, r[a].node, s).v == want.v;
            }
        }
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
    drop_reports(c);
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
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: recovery window closed: %zu members back, %zu of %zu reported "
                    "edges kept",
                    restored, kept, edges);
    c->restored_members += restored;
    c->restored_edges += kept;
    c->reported_edges += edges;
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->backbone && ch->ndcms >= 2)
            ctl_backbone_start(c, ch, now);
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
    }
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