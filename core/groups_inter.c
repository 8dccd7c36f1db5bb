/*
 * Inter-group maintenance of the group agent (SPEC L8-L10).
 *
 * Links. A leader keeps up to max_links neighbour groups, each with its
 * leader, the leader's term, this leader's own measured distance to it and
 * when it was last heard. A link is opened with GROUP_LINK REQUEST (resent
 * like any request) and is up once the other side ACCEPTs; both sides then
 * send REFRESH every link_refresh_ms and drop a link silent for
 * link_timeout_ms. A full table takes a newcomer only if it is nearer than
 * the farthest replaceable link, which is then UNLINKed; the bridge_links
 * farthest links are not replaceable, so that refinement, which favours
 * near groups, cannot cut a region off from the rest.
 *
 * Leaders change. A new leader (succession) announces itself with REFRESH
 * to the neighbours in the copy it was given, and a departing one sends
 * GROUP_LEAVE naming its successor; the neighbours move the link to the new
 * leader when its term is not older. A GROUP_LINK that reaches a node that
 * no longer leads that group is answered with a GROUP_INFO naming the
 * leader it knows (or NO_GROUP), and the sender follows or drops the link.
 *
 * Re-measurement (L9) every remeasure_ms asks the distance cache for
 * measurements younger than half the period, so each neighbour is probed
 * about once per period. Refinement (L10) every refine_ms queries one
 * neighbour (round robin) for its neighbours, measures the ones not linked
 * yet, and links to at most two that are nearer than the farthest
 * replaceable link (or fill free room). The same round checks for a merge:
 * if this group's leader would pass the join test of the neighbour's group,
 * that group is larger (equal: lower id) and the two fit in max_members
 * together, this group moves into it.
 *
 * Timers: link_at (refresh and timeouts), the retry_at of pending links,
 * remeasure_at, refine_at and refine.at (the refine query's timeout).
 */
#include "groups_int.h"

#include <string.h>

enum { REFINE_MAX_NEW_LINKS = 2 };

static uint64_t min_ns(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static size_t link_find(const strata_gnode *g, strata_group_id group)
{
    for (size_t i = 0; i < g->n_links; i++) {
        if (g->links[i].group.v == group.v)
            return i;
    }
    return SIZE_MAX;
}

static void link_remove(strata_gnode *g, size_t i)
{
    g->links[i] = g->links[--g->n_links];
}

void gn_links_clear(strata_gnode *g)
{
    g->n_links = 0;
    g->link_at = STRATA_NEVER;
    g->remeasure_at = STRATA_NEVER;
    g->refine_at = STRATA_NEVER;
    memset(&g->refine, 0, sizeof g->refine);
    g->refine.at = STRATA_NEVER;
}

static void send_link(strata_gnode *g, const gn_link *l, uint8_t kind)
{
    strata_msg_group_link m = {.node = g->node,
                               .group = g->group,
                               .term = g->term,
                               .peer_group = l->group,
                               .kind = kind,
                               .distance = l->distance};
    uint8_t buf[64];
    gn_send(g, l->leader.addr, buf, strata_wire_encode_group_link(buf, sizeof buf, &m));
}

static void send_link_to(strata_gnode *g, strata_addr to, strata_group_id peer_group, uint8_t kind)
{
    gn_link l;
    memset(&l, 0, sizeof l);
    l.group = peer_group;
    l.leader.addr = to;
    l.distance = STRATA_GROUP_DISTANCE_UNKNOWN;
    send_link(g, &l, kind);
}

uint8_t gn_links_export(const strata_gnode *g, strata_group_nb *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < g->n_links && k < cap; i++) {
        const gn_link *l = &g->links[i];
        if (!l->up || l->group.v == g->group.v)
            continue;
        out[k].group = l->group;
        out[k].leader = l->leader;
        out[k].distance = l->distance;
        k++;
    }
    return (uint8_t)k;
}

void gn_links_import(strata_gnode *g, const strata_group_nb *nb, size_t n, uint64_t now)
{
    g->n_links = 0;
    for (size_t i = 0; i < n && g->n_links < g->max_links; i++) {
        gn_link *l = &g->links[g->n_links++];
        memset(l, 0, sizeof *l);
        l->group = nb[i].group;
        l->leader = nb[i].leader;
        l->distance = nb[i].distance;
        l->heard_at = now;
        l->up = 1;
    }
}

/* The link a newcomer at distance dist may replace when the table is full:
 * the farthest one outside the bridge_links farthest. SIZE_MAX if none is
 * farther than dist. Unknown distances count as farthest but never as
 * bridges (nothing says they bridge anything yet). */
static size_t replaceable(const strata_gnode *g, uint32_t dist)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < g->n_links; i++) {
        const gn_link *l = &g->links[i];
        if (l->distance != STRATA_GROUP_DISTANCE_UNKNOWN) {
            size_t farther = 0;
            for (size_t j = 0; j < g->n_links; j++) {
                const gn_link *o = &g->links[j];
                if (o->distance != STRATA_GROUP_DISTANCE_UNKNOWN &&
                    (o->distance > l->distance || (o->distance == l->distance && j < i)))
                    farther++;
            }
            if (farther < g->bridge_links)
                continue; /* a bridge */
        }
        if (best == SIZE_MAX || l->distance > g->links[best].distance)
            best = i;
    }
    if (best == SIZE_MAX)
        return SIZE_MAX;
    uint32_t far = g->links[best].distance;
    if (dist == STRATA_GROUP_DISTANCE_UNKNOWN || dist >= far)
        return SIZE_MAX;
    return best;
}

/* A free slot, or one freed by dropping a farther link; SIZE_MAX if none. */
static size_t make_room(strata_gnode *g, uint32_t dist)
{
    if (g->n_links < g->max_links)
        return g->n_links++;
    size_t v = replaceable(g, dist);
    if (v == SIZE_MAX)
        return SIZE_MAX;
    send_link(g, &g->links[v], STRATA_GROUP_LINK_UNLINK);
    g->st.links_dropped++;
    return v;
}

static void link_request(strata_gnode *g, strata_group_id group, strata_peer_ref leader,
                         uint32_t dist, uint64_t now)
{
    if (group.v == 0 || group.v == g->group.v || leader.node.v == g->node.v ||
        link_find(g, group) != SIZE_MAX)
        return;
    size_t i = make_room(g, dist);
    if (i == SIZE_MAX)
        return;
    gn_link *l = &g->links[i];
    memset(l, 0, sizeof *l);
    l->group = group;
    l->leader = leader;
    l->distance = dist;
    l->measured_at = dist == STRATA_GROUP_DISTANCE_UNKNOWN ? 0 : now;
    l->heard_at = now;
    l->sends = 1;
    l->retry_at = gn_add_ns(now, g->request_timeout_ns);
    send_link(g, l, STRATA_GROUP_LINK_REQUEST);
    g->st.requests_sent++;
    if (dist == STRATA_GROUP_DISTANCE_UNKNOWN) {
        uint32_t v;
        gdist_get(&g->dist, leader, g->cache_ttl_ns, now, &v);
    }
}

static void start_timers(strata_gnode *g, uint64_t now)
{
    g->link_at = gn_add_ns(now, g->link_refresh_ns);
    if (g->refine_ns != STRATA_NEVER) {
        /* A random phase spreads the groups' refinement rounds. */
        uint64_t jitter = strata_rng_below(&g->rng, g->refine_ns / 2 + 1);
        g->refine_at = gn_add_ns(now, g->refine_ns / 2 + jitter);
    }
}

void gn_links_found(strata_gnode *g, uint64_t now)
{
    /* L5: the new_links nearest groups the walk measured. */
    gn_walk *w = &g->walk;
    for (uint32_t k = 0; k < g->new_links; k++) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < w->n; i++) {
            const gn_cand *c = &w->cands[i];
            if (!c->measured || c->dist == STRATA_GROUP_DISTANCE_UNKNOWN || c->group.v == 0 ||
                link_find(g, c->group) != SIZE_MAX)
                continue;
            if (best == SIZE_MAX || c->dist < w->cands[best].dist)
                best = i;
        }
        if (best == SIZE_MAX)
            break;
        link_request(g, w->cands[best].group, w->cands[best].leader, w->cands[best].dist, now);
    }
    g->remeasure_at = gn_add_ns(now, g->remeasure_ns);
    start_timers(g, now);
}

void gn_links_activate(strata_gnode *g, uint64_t now)
{
    /* A new leader: the copy becomes live; the neighbours learn of us, and
     * the distances (the old leader's) are measured again from here. */
    for (size_t i = 0; i < g->n_links; i++) {
        gn_link *l = &g->links[i];
        l->heard_at = now;
        l->up = 1;
        l->measured_at = 0;
        send_link(g, l, STRATA_GROUP_LINK_REFRESH);
    }
    g->remeasure_at = now;
    start_timers(g, now);
}

void gn_links_announce_leave(strata_gnode *g, strata_group_id next_group,
                             strata_peer_ref next_leader)
{
    strata_msg_group_leave m = {.node = g->node,
                                .group = g->group,
                                .term = g->term,
                                .next_group = next_group,
                                .next_leader = next_leader};
    uint8_t buf[64];
    int n = strata_wire_encode_group_leave(buf, sizeof buf, &m);
    for (size_t i = 0; i < g->n_links; i++)
        gn_send(g, g->links[i].leader.addr, buf, n);
}

/* --- messages ---------------------------------------------------------------- */

int gn_on_link(strata_gnode *g, strata_addr from, const strata_msg_group_link *m, uint64_t now)
{
    if (g->state != STRATA_GNODE_LEADER) {
        gn_send_info(g, from, 0);
        return 0;
    }
    if (m->group.v == g->group.v) {
        /* Another leader of our own group: one of us steps down. */
        strata_msg_group_info claim;
        memset(&claim, 0, sizeof claim);
        claim.node = m->node;
        claim.status = STRATA_GROUP_INFO_LEADER;
        claim.metric = g->metric;
        claim.group = m->group;
        claim.term = m->term;
        claim.leader = (strata_peer_ref){m->node, from};
        claim.n_members = 1;
        return gn_on_info_intra(g, from, &claim, now);
    }
    if (m->peer_group.v != 0 && m->peer_group.v != g->group.v) {
        /* It takes us for the leader of a group we no longer lead. */
        gn_send_info(g, from, 0);
        return 0;
    }
    size_t i = link_find(g, m->group);
    gn_link *l = i == SIZE_MAX ? NULL : &g->links[i];
    strata_peer_ref sender = {m->node, from};
    if (l && m->node.v != l->leader.node.v && m->term < l->term) {
        /* A deposed leader of that group (a partition healed): our INFO
         * lists who leads it now, which makes it step down. */
        gn_send_info(g, from, 0);
        return 0;
    }
    switch (m->kind) {
    case STRATA_GROUP_LINK_REQUEST:
    case STRATA_GROUP_LINK_REFRESH:
        if (!l) {
            uint32_t d = STRATA_GROUP_DISTANCE_UNKNOWN;
            gdist_peek(&g->dist, m->node, &d, NULL);
            if (d == STRATA_GROUP_DISTANCE_UNKNOWN)
                d = m->distance; /* its measurement, until ours */
            i = make_room(g, d);
            if (i == SIZE_MAX) {
                g->st.links_refused++;
                send_link_to(g, from, m->group,
                             m->kind == STRATA_GROUP_LINK_REQUEST ? STRATA_GROUP_LINK_REFUSE
                                                                  : STRATA_GROUP_LINK_UNLINK);
                return 0;
            }
            l = &g->links[i];
            memset(l, 0, sizeof *l);
            l->group = m->group;
            l->distance = d;
            g->st.links_added++;
            gn_schedule_push(g, now);
            uint32_t v;
            gdist_get(&g->dist, sender, g->cache_ttl_ns, now, &v);
        }
        if (l->leader.node.v != m->node.v)
            gn_schedule_push(g, now); /* successors learn of the new leader */
        l->leader = sender;
        l->term = m->term;
        l->heard_at = now;
        if (!l->up || m->kind == STRATA_GROUP_LINK_REQUEST) {
            l->up = 1;
            send_link(g, l, STRATA_GROUP_LINK_ACCEPT);
        }
        return 0;
    case STRATA_GROUP_LINK_ACCEPT:
        if (!l) {
            send_link_to(g, from, m->group, STRATA_GROUP_LINK_UNLINK);
            return 0;
        }
        if (!l->up) {
            l->up = 1;
            g->st.links_added++;
            gn_schedule_push(g, now);
        }
        l->leader = sender;
        l->term = m->term;
        l->heard_at = now;
        return 0;
    case STRATA_GROUP_LINK_REFUSE:
    case STRATA_GROUP_LINK_UNLINK:
        if (l && l->leader.node.v == m->node.v) {
            if (m->kind == STRATA_GROUP_LINK_REFUSE)
                g->st.links_refused++;
            link_remove(g, i);
            gn_schedule_push(g, now);
        }
        return 0;
    default:
        return STRATA_ERR_RANGE;
    }
}

int gn_on_leave_inter(strata_gnode *g, const strata_msg_group_leave *m, uint64_t now)
{
    if (g->state != STRATA_GNODE_LEADER)
        return STRATA_ERR_UNEXPECTED;
    size_t i = link_find(g, m->group);
    if (i == SIZE_MAX || g->links[i].leader.node.v != m->node.v)
        return 0;
    gn_link *l = &g->links[i];
    if (m->next_group.v == m->group.v) {
        /* L9: the link follows the group's new leader. */
        l->leader = m->next_leader;
        l->term = m->term + 1;
        l->heard_at = now;
        l->measured_at = 0;
    } else {
        /* The group vanished, or merged away: then the link goes to the
         * group it merged into (measured when the link is up). */
        link_remove(g, i);
        if (m->next_group.v && m->next_group.v != g->group.v)
            link_request(g, m->next_group, m->next_leader, STRATA_GROUP_DISTANCE_UNKNOWN, now);
    }
    gn_schedule_push(g, now);
    return 0;
}

/* --- refinement (L10) and merging ---------------------------------------------- */

static void refine_send(strata_gnode *g)
{
    strata_msg_group_query q = {
        .node = g->node, .query_id = g->refine.req_id, .group = g->refine.target};
    uint8_t buf[64];
    if (gn_send(g, g->refine.ref.addr, buf, strata_wire_encode_group_query(buf, sizeof buf, &q)) ==
        0)
        g->st.requests_sent++;
}

static void refine_query(strata_gnode *g, strata_group_id target, strata_peer_ref ref, uint64_t now)
{
    g->refine.target = target;
    g->refine.ref = ref;
    g->refine.phase = 1;
    g->refine.req_id = gn_new_id(g);
    g->refine.sends = 1;
    g->refine.at = gn_add_ns(now, g->request_timeout_ns);
    refine_send(g);
}

static void refine_start(strata_gnode *g, uint64_t now)
{
    size_t n_up = 0;
    for (size_t i = 0; i < g->n_links; i++)
        n_up += g->links[i].up;
    g->refine.redirects = 0;
    if (n_up == 0) {
        /* Cut off (a partition, its neighbours vanished, or it founded its
         * group while they were in flux): look again from the leaders of
         * the links it lost, then from the bootstrap leaders. */
        size_t n = g->n_old_links + g->n_boot;
        if (n == 0)
            return;
        size_t k = g->refine_next++ % n;
        strata_peer_ref to = k < g->n_old_links ? g->old_links[k] : g->boot[k - g->n_old_links];
        refine_query(g, (strata_group_id){0}, to, now);
        return;
    }
    size_t k = g->refine_next++ % n_up;
    for (size_t i = 0; i < g->n_links; i++) {
        if (!g->links[i].up)
            continue;
        if (k-- == 0) {
            refine_query(g, g->links[i].group, g->links[i].leader, now);
            return;
        }
    }
}

static void merge_into(strata_gnode *g, strata_group_id group, strata_peer_ref leader, uint64_t now)
{
    strata_logf(g->log, STRATA_LOG_INFO, "gnode %016llx: group %016llx merges into %016llx",
                (unsigned long long)g->node.v, (unsigned long long)g->group.v,
                (unsigned long long)group.v);
    g->st.merges++;
    strata_msg_group_leave m = {.node = g->node,
                                .group = g->group,
                                .term = g->term,
                                .next_group = group,
                                .next_leader = leader};
    uint8_t buf[64];
    int n = strata_wire_encode_group_leave(buf, sizeof buf, &m);
    for (size_t i = 1; i < g->n_members; i++)
        gn_send(g, g->members[i].ref.addr, buf, n);
    gn_links_announce_leave(g, group, leader);
    gn_walk_direct(g, group, leader, now);
}

/* Measures what the refine round needs; decides once everything is known. */
static void refine_step(strata_gnode *g, uint64_t now)
{
    gn_refine *r = &g->refine;
    const strata_msg_group_info *info = &r->info;
    int pending = 0;
    uint32_t v;
    pending |= gdist_get(&g->dist, info->leader, g->cache_ttl_ns, now, &v) == 0;
    for (size_t i = 0; i < info->n_neighbours; i++) {
        const strata_group_nb *nb = &info->neighbours[i];
        if (nb->leader.node.v == g->node.v || nb->group.v == g->group.v)
            continue;
        pending |= gdist_get(&g->dist, nb->leader, g->cache_ttl_ns, now, &v) == 0;
    }
    if (pending)
        return;
    r->phase = 0;
    g->st.refinements++;
    /* The group asked is a candidate too when we are not linked to it. */
    uint32_t dq;
    if (info->group.v != g->group.v && link_find(g, info->group) == SIZE_MAX &&
        gdist_peek(&g->dist, info->leader.node, &dq, NULL) && dq != STRATA_GROUP_DISTANCE_UNKNOWN &&
        (g->n_links < g->max_links || replaceable(g, dq) != SIZE_MAX))
        link_request(g, info->group, info->leader, dq, now);
    /* Nearer groups first, at most a few new links per round. */
    uint8_t done[STRATA_WIRE_MAX_GROUP_NEIGHBOURS] = {0};
    for (int added = 0; added < REFINE_MAX_NEW_LINKS;) {
        size_t best = SIZE_MAX;
        uint32_t best_d = STRATA_GROUP_DISTANCE_UNKNOWN;
        for (size_t i = 0; i < info->n_neighbours; i++) {
            const strata_group_nb *nb = &info->neighbours[i];
            if (done[i] || nb->group.v == g->group.v || nb->leader.node.v == g->node.v ||
                link_find(g, nb->group) != SIZE_MAX)
                continue;
            uint32_t d;
            if (!gdist_peek(&g->dist, nb->leader.node, &d, NULL) ||
                d == STRATA_GROUP_DISTANCE_UNKNOWN)
                continue;
            if (best == SIZE_MAX || d < best_d) {
                best = i;
                best_d = d;
            }
        }
        if (best == SIZE_MAX)
            break;
        done[best] = 1;
        if (g->n_links < g->max_links || replaceable(g, best_d) != SIZE_MAX) {
            link_request(g, info->neighbours[best].group, info->neighbours[best].leader, best_d,
                         now);
            added++;
        } else {
            break; /* the nearest left is not near enough: neither are the rest */
        }
    }
    /* Merge: would this group's leader join the neighbour's group? */
    uint32_t own_leader;
    if (!g->merge || !gdist_peek(&g->dist, info->leader.node, &own_leader, NULL))
        return;
    int larger = info->n_members > g->n_members ||
                 (info->n_members == g->n_members && info->group.v < g->group.v);
    /* Only when both groups fit in one: members that find the other group
     * full would each walk again. */
    int fits = info->status != STRATA_GROUP_INFO_FULL &&
               (uint64_t)info->n_members + g->n_members <= g->max_members;
    if (larger && fits && gn_join_test(g, info, own_leader, NULL))
        merge_into(g, info->group, info->leader, now);
}

int gn_on_info_inter(strata_gnode *g, strata_addr from, const strata_msg_group_info *m,
                     uint64_t now)
{
    if (g->state != STRATA_GNODE_LEADER)
        return 0;
    /* Someone else is listed as the leader of our group: ask it, and the
     * answer settles which of us leads (groups_intra.c, conflicts). */
    for (size_t i = 0; i < m->n_neighbours; i++) {
        const strata_group_nb *nb = &m->neighbours[i];
        if (nb->group.v == g->group.v && nb->leader.node.v != g->node.v) {
            strata_msg_group_query q = {.node = g->node, .query_id = 0, .group = g->group};
            uint8_t buf[64];
            gn_send(g, nb->leader.addr, buf, strata_wire_encode_group_query(buf, sizeof buf, &q));
            break;
        }
    }
    gn_refine *r = &g->refine;
    if (r->phase == 1 && m->query_id == r->req_id) {
        size_t i = r->target.v ? link_find(g, r->target) : SIZE_MAX;
        r->phase = 0;
        int leads = m->status == STRATA_GROUP_INFO_LEADER || m->status == STRATA_GROUP_INFO_FULL;
        if (leads && m->group.v != g->group.v && (r->target.v == 0 || m->group.v == r->target.v)) {
            if (i != SIZE_MAX)
                g->links[i].heard_at = now;
            r->info = *m;
            r->info.leader.addr = from;
            r->phase = 2;
            refine_step(g, now);
        } else if (m->status == STRATA_GROUP_INFO_MEMBER && m->leader.node.v != g->node.v &&
                   m->group.v != g->group.v && (r->target.v == 0 || m->group.v == r->target.v) &&
                   r->redirects++ < GN_MAX_REDIRECTS) {
            /* Ask the leader it names; a link follows it too. */
            if (i != SIZE_MAX) {
                g->links[i].leader = m->leader;
                g->links[i].term = m->term;
            }
            r->target = m->group;
            uint32_t redirects = r->redirects;
            refine_query(g, m->group, m->leader, now);
            r->redirects = redirects;
        } else if (i != SIZE_MAX) {
            link_remove(g, i); /* gone, or it leads another group now */
        }
        return 1;
    }
    if (m->query_id != 0 || m->group.v == g->group.v)
        return 0;
    /* An answer to a GROUP_LINK sent to a node that no longer leads the
     * group we linked to. */
    for (size_t i = 0; i < g->n_links; i++) {
        gn_link *l = &g->links[i];
        if (l->leader.node.v != m->node.v)
            continue;
        if (m->status == STRATA_GROUP_INFO_MEMBER && m->group.v == l->group.v &&
            m->leader.node.v != g->node.v && m->term >= l->term) {
            l->leader = m->leader;
            l->term = m->term;
            send_link(g, l, STRATA_GROUP_LINK_REFRESH);
        } else if (m->group.v != l->group.v) {
            link_remove(g, i);
        }
        return 1;
    }
    return 0;
}

void gn_inter_measured(strata_gnode *g, uint64_t now)
{
    for (size_t i = 0; i < g->n_links; i++) {
        gn_link *l = &g->links[i];
        uint32_t v;
        uint64_t at;
        if (gdist_peek(&g->dist, l->leader.node, &v, &at) && at > l->measured_at) {
            l->distance = v;
            l->measured_at = at;
        }
    }
    if (g->refine.phase == 2)
        refine_step(g, now);
}

/* --- timers ---------------------------------------------------------------------- */

void gn_inter_timeout(strata_gnode *g, uint64_t now)
{
    if (now >= g->link_at) {
        for (size_t i = g->n_links; i-- > 0;) {
            gn_link *l = &g->links[i];
            if (!l->up)
                continue;
            if (now - l->heard_at >= g->link_timeout_ns) {
                g->st.links_dropped++;
                g->old_links[g->old_links_next++ % GN_OLD_LINKS] = l->leader;
                if (g->n_old_links < GN_OLD_LINKS)
                    g->n_old_links++;
                link_remove(g, i);
                gn_schedule_push(g, now);
                continue;
            }
            send_link(g, l, STRATA_GROUP_LINK_REFRESH);
        }
        g->link_at = gn_add_ns(now, g->link_refresh_ns);
    }
    for (size_t i = g->n_links; i-- > 0;) {
        gn_link *l = &g->links[i];
        if (l->up || now < l->retry_at)
            continue;
        if (l->sends >= g->request_retries) {
            g->st.request_timeouts++;
            link_remove(g, i);
            continue;
        }
        l->sends++;
        l->retry_at = gn_add_ns(now, g->request_timeout_ns);
        send_link(g, l, STRATA_GROUP_LINK_REQUEST);
    }
    if (now >= g->remeasure_at) {
        /* L9: younger than half a period counts as fresh. */
        for (size_t i = 0; i < g->n_links; i++) {
            uint32_t v;
            gdist_get(&g->dist, g->links[i].leader, g->remeasure_ns / 2, now, &v);
        }
        gn_inter_measured(g, now);
        if (g->state != STRATA_GNODE_LEADER)
            return;
        g->remeasure_at = gn_add_ns(now, g->remeasure_ns);
    }
    if (g->refine.phase == 1 && now >= g->refine.at) {
        if (g->refine.sends < g->request_retries) {
            g->refine.sends++;
            g->refine.at = gn_add_ns(now, g->request_timeout_ns);
            refine_send(g);
        } else {
            g->st.request_timeouts++;
            g->refine.phase = 0;
        }
    }
    if (g->refine_ns != STRATA_NEVER && now >= g->refine_at) {
        if (g->refine.phase == 0)
            refine_start(g, now);
        g->refine_at = gn_add_ns(now, g->refine_ns);
    }
}

uint64_t gn_inter_next(const strata_gnode *g)
{
    uint64_t t = min_ns(g->link_at, g->remeasure_at);
    t = min_ns(t, g->refine_at);
    if (g->refine.phase == 1)
        t = min_ns(t, g->refine.at);
    for (size_t i = 0; i < g->n_links; i++) {
        if (!g->links[i].up)
            t = min_ns(t, g->links[i].retry_at);
    }
    return t;
}
