/*
 * Waypoint servers (SPEC C5; protocol.md 3.3.4): relays an operator runs
 * near a region, which watch nothing. A waypoint offers itself for a
 * channel with a JOIN of role WAYPOINT. The control center places it only
 * in a region of that channel that lacks high-capacity nodes of its own
 * (members that qualify as preferred nodes), where it heads the region at
 * once as a capable member would; elsewhere, and before a source has
 * announced the rate that says who is capable, the JOIN is answered
 * STANDBY and the waypoint offers itself again a second later. The control
 * center takes it back (RECRUIT with RELEASE, then it offers itself again)
 * when the region has enough capable members of its own, each past the
 * preferred nodes' probation, or nobody left to serve.
 *
 * The active waypoints are few (an operator's servers); they are kept in
 * a small list so that the periodic check costs nothing without them.
 */
#include "control_int.h"

/* A region's capable members: its own heads and the members that would
 * qualify as heads, waypoints counted apart. seasoned_only: only those
 * past the preferred nodes' probation (for taking a waypoint back). */
typedef struct capable_count {
    size_t own, waypoints;
    size_t heads; /* the region's own heads, waypoints among them */
} capable_count;

static capable_count count_capable(strata_control *c, const ctl_channel *ch, strata_dcm *d,
                                   int seasoned_only, uint64_t now)
{
    capable_count n = {0, 0, 0};
    uint64_t probation = STRATA_MS(STRATA_PREF_DEFAULT_PROBATION_MS);
    ctl_node *heads[PREF_MAX_HEADS];
    n.heads = ctl_region_heads(c, d, heads, PREF_MAX_HEADS);
    for (size_t i = 0; i < n.heads && i < PREF_MAX_HEADS; i++) {
        const ctl_node *h = heads[i];
        if (h->role == STRATA_ROLE_WAYPOINT)
            n.waypoints++;
        else if (!seasoned_only || elapsed(now, h->joined_ns) >= probation)
            n.own++;
    }
    strata_node_id top[WAYPOINT_SCAN_MEMBERS];
    size_t nt = strata_dcm_top_members(d, ctl_head_min_in(c, ch, d), top, WAYPOINT_SCAN_MEMBERS);
    for (size_t i = 0; i < nt; i++) {
        const ctl_node *m = ctl_member_get(c, top[i], ch->id);
        if (!m || m->restoring)
            continue;
        if (m->role == STRATA_ROLE_WAYPOINT)
            n.waypoints++;
        else if (!seasoned_only || elapsed(now, m->joined_ns) >= probation)
            n.own++;
    }
    return n;
}

/* 1 when region d holds anyone a waypoint could serve: a member of its
 * clusters or a head of it that is no waypoint. */
static int has_others(strata_control *c, strata_dcm *d)
{
    strata_dcm *cm = ctl_common_of(c, d);
    if (cm && strata_dcm_count(cm) > 0)
        return 1;
    for (size_t i = 0; i < strata_dcm_count(d); i++) {
        const ctl_node *m = ctl_member_get(c, strata_dcm_member_at(d, i), strata_dcm_channel(d));
        if (!m || m->role != STRATA_ROLE_WAYPOINT)
            return 1;
    }
    ctl_node *heads[PREF_MAX_HEADS];
    size_t nh = ctl_region_heads(c, d, heads, PREF_MAX_HEADS);
    for (size_t i = 0; i < nh && i < PREF_MAX_HEADS; i++)
        if (heads[i]->role != STRATA_ROLE_WAYPOINT)
            return 1;
    return 0;
}

int ctl_waypoint_admit(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                       const char *region, size_t region_len, uint64_t now)
{
    if (c->nwaypoints >= CONTROL_MAX_WAYPOINTS)
        return 0;
    if (c->recover_until) /* one placed before the restart comes back with its report */
        return ctl_window_report(c, j->node, ch_id) != NULL;
    ctl_channel *ch = ctl_channel_get(c, ch_id);
    strata_dcm_id id;
    if (!ch || !ch->source_live || !ch->rate_kbps ||
        strata_directory_lookup(c->dir, ch_id, region, region_len, &id) != 0)
        return 0; /* no viewers there, or nobody knows yet who is capable */
    strata_dcm *d = ctl_ptab_get(&c->dcms, id.v);
    if (!d || !has_others(c, d))
        return 0; /* nobody to serve: it would be taken back at the next evaluation */
    capable_count n = count_capable(c, ch, d, 0, now);
    return n.own + n.waypoints < c->heads_per_region;
}

void ctl_waypoint_placed(strata_control *c, ctl_node *rec, uint64_t now)
{
    ctl_channel *ch = rec->ch;
    strata_dcm *d = ctl_region_dcm(c, rec);
    c->waypoints_placed++;
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: waypoint %016llx placed in a region of channel %.*s that lacks "
                    "capable nodes",
                    (unsigned long long)rec->id.v, (int)ch->name_len, (const char *)ch->name);
    /* It is there to head the region: now, not at the next evaluation. */
    if (d && !rec->roots && !rec->restoring && ctl_evaluate_region(c, ch, d, now)) {
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
    }
}

void ctl_waypoint_track(strata_control *c, ctl_node *rec, int in)
{
    if (rec->role != STRATA_ROLE_WAYPOINT)
        return;
    if (in) {
        if (c->nwaypoints < CONTROL_MAX_WAYPOINTS) /* room checked by ctl_waypoint_admit */
            c->waypoints[c->nwaypoints++] = rec;
        return;
    }
    for (size_t i = 0; i < c->nwaypoints; i++) {
        if (c->waypoints[i] == rec) {
            c->waypoints[i] = c->waypoints[--c->nwaypoints];
            return;
        }
    }
}

/* Why waypoint w's region no longer needs it, or NULL while it does. */
static const char *not_needed(strata_control *c, ctl_node *w, uint64_t now)
{
    strata_dcm *d = ctl_region_dcm(c, w);
    if (!d || w->restoring)
        return NULL;
    capable_count n = count_capable(c, w->ch, d, 1, now);
    if (n.own >= c->heads_per_region)
        return "has capable nodes of its own";
    /* Nobody to serve: the region holds waypoints alone. */
    return has_others(c, d) ? NULL : "has nobody else left";
}

/* Every evaluation of the preferred nodes: waypoints whose regions no
 * longer need them are taken back, one per region and evaluation, their
 * trees going to the region's own heads as when a head leaves. */
void ctl_waypoints_release(strata_control *c, uint64_t now)
{
    for (size_t i = 0; i < c->nwaypoints;) {
        ctl_node *w = c->waypoints[i];
        const char *why = not_needed(c, w, now);
        if (!why) {
            i++;
            continue;
        }
        ctl_channel *ch = w->ch;
        ctl_host *h = w->host;
        if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
            strata_logf(c->log, STRATA_LOG_INFO,
                        "control: waypoint %016llx released: its region of channel %.*s %s",
                        (unsigned long long)w->id.v, (int)ch->name_len, (const char *)ch->name,
                        why);
        ctl_send_recruit(c, h, ch, STRATA_RECRUIT_RELEASE);
        c->waypoint_releases++;
        ctl_remove_node(c, w, now); /* takes it off the list: i now names the next */
    }
}
