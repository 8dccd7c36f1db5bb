/*
 * The group agent: see strata/groups.h for the contract and the model.
 * This file holds its lifecycle, the dispatch of datagrams and timers, the
 * queries, and the join walk (L3-L5); groups_intra.c and groups_inter.c
 * hold the maintenance of a group and of the links between groups.
 *
 * The walk. Candidates are groups the newcomer knows a leader of: first
 * the bootstrap leaders, then the neighbours named by every group tested.
 * Each step measures the untested candidates whose distance is unknown
 * (only bootstrap leaders and redirect targets; neighbours are measured as
 * part of the test that named them), then tests the nearest:
 *   QUERY    GROUP_QUERY to its leader, resent every request timeout, up
 *            to request_retries sends. A MEMBER answer redirects to the
 *            leader it names (at most GN_MAX_REDIRECTS per test); NO_GROUP
 *            or silence fails the candidate.
 *   MEASURE  the leader and every neighbour leader the answer names,
 *            through the distance cache (a recent measurement is reused).
 *   JOIN     GROUP_JOIN to the nearest group that passed, resent like a
 *            query, until a GROUP_STATE admits the node; a refusal falls
 *            back to the next nearest group that passed.
 * A group that passes is not joined at once: the walk goes on testing the
 * candidates nearer than it (neighbours named by the groups it tested),
 * and joins once none is left. Joining the first group that passes made
 * the outcome depend on which leaders the bootstrap drew: a host within
 * 50 ms of two leaders went to whichever it happened to test first, so two
 * runs of the same hosts (the simulator and real processes) disagreed.
 * The walk ends in a new group when nothing passed and no candidate is
 * left, or a budget is spent with nothing passed. A direct
 * walk (after a merge or a lost group) starts by joining a named group
 * without the test and falls back to testing what else it knows.
 *
 * Timers: the walk's request timeout, the distance cache's probe and round
 * deadlines, and those of groups_intra.c and groups_inter.c.
 */
#include "groups_int.h"

#include <string.h>

/* --- small helpers ------------------------------------------------------- */

uint64_t gn_add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t min_ns(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Copies an encoded datagram into a new buffer and queues it. */
int gn_send(strata_gnode *g, strata_addr to, const uint8_t *buf, int n)
{
    return strata_outbox_push_bytes(g->outbox, to, buf, n);
}

static int dist_send(void *user, strata_addr to, const uint8_t *buf, size_t len)
{
    return gn_send(user, to, buf, (int)len);
}

uint32_t gn_new_id(strata_gnode *g)
{
    uint32_t id;
    do
        id = (uint32_t)strata_rng_next(&g->rng);
    while (id == 0);
    return id;
}

int gn_better_leader(uint32_t term_a, strata_node_id a, uint32_t term_b, strata_node_id b)
{
    return term_a > term_b || (term_a == term_b && a.v < b.v);
}

void gn_emit(strata_gnode *g, int reason)
{
    strata_logf(g->log, STRATA_LOG_INFO,
                "gnode %016llx: %s group %016llx leader %016llx term %u (reason %d)",
                (unsigned long long)g->node.v,
                g->state == STRATA_GNODE_LEADER   ? "leads"
                : g->state == STRATA_GNODE_MEMBER ? "member of"
                                                  : "without",
                (unsigned long long)g->group.v, (unsigned long long)g->leader.node.v,
                (unsigned)g->term, reason);
    if (!g->cb.on_group)
        return;
    strata_gnode_event ev;
    memset(&ev, 0, sizeof ev);
    ev.reason = reason;
    ev.state = g->state;
    ev.group = g->group;
    ev.leader = g->leader;
    ev.term = g->term;
    if (reason == STRATA_GNODE_JOINED || reason == STRATA_GNODE_FOUNDED ||
        reason == STRATA_GNODE_MOVED) {
        ev.join_probes = g->st.last_join_probes;
        ev.join_tests = g->st.last_join_tests;
        ev.join_ns = g->st.last_join_ns;
    }
    g->cb.on_group(g->cb.user, &ev);
}

/* Drop lines are limited to GN_LOG_LINES_PER_SECOND. */
static int drop(strata_gnode *g, uint64_t now, int err, int type, strata_addr from)
{
    strata_drop_count(&g->st.drops, err);
    if (!g->log || g->log->max_level < STRATA_LOG_DEBUG)
        return err;
    if (now - g->log_window_ns >= STRATA_S(1) || now < g->log_window_ns) {
        g->log_window_ns = now;
        g->log_lines = 0;
    }
    if (g->log_lines++ >= GN_LOG_LINES_PER_SECOND)
        return err;
    char a[32];
    strata_logf(g->log, STRATA_LOG_DEBUG, "gnode %016llx: dropped datagram (type %d) from %s: %s",
                (unsigned long long)g->node.v, type, strata_addr_format(from, a, sizeof a),
                strata_strerror(err));
    return err;
}

void gn_send_info(strata_gnode *g, strata_addr to, uint32_t query_id)
{
    strata_msg_group_info m;
    memset(&m, 0, sizeof m);
    m.node = g->node;
    m.query_id = query_id;
    m.metric = g->metric;
    if (g->state == STRATA_GNODE_LEADER) {
        m.status =
            g->n_members >= g->max_members ? STRATA_GROUP_INFO_FULL : STRATA_GROUP_INFO_LEADER;
        m.group = g->group;
        m.term = g->term;
        m.leader = (strata_peer_ref){g->node, g->addr};
        m.n_members = (uint32_t)g->n_members;
        m.n_neighbours = gn_links_export(g, m.neighbours, STRATA_WIRE_MAX_GROUP_NEIGHBOURS);
    } else if (g->state == STRATA_GNODE_MEMBER && g->leader.node.v != g->node.v) {
        m.status = STRATA_GROUP_INFO_MEMBER;
        m.group = g->group;
        m.term = g->term;
        m.leader = g->leader;
        m.n_members = g->n_members_seen;
    } else {
        m.status = STRATA_GROUP_INFO_NO_GROUP;
    }
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    gn_send(g, to, buf, strata_wire_encode_group_info(buf, sizeof buf, &m));
}

/* --- the join test (L3) -------------------------------------------------- */

static uint32_t own_distance(const strata_gnode *g, strata_node_id node)
{
    uint32_t v;
    if (node.v == g->node.v)
        return 0;
    if (!gdist_peek(&g->dist, node, &v, NULL))
        return STRATA_GROUP_DISTANCE_UNKNOWN;
    return v;
}

/* How far an own distance may lie from the group's distance d to a
 * neighbour (L3): the absolute threshold or thr_rel_pct of d, the larger. */
static uint64_t join_tolerance(const strata_gnode *g, uint32_t d)
{
    uint64_t abs_tol = g->thr_abs == STRATA_GNODE_OFF ? 0 : g->thr_abs;
    uint64_t rel_tol = g->thr_rel_pct == STRATA_GNODE_OFF ? 0 : (uint64_t)d * g->thr_rel_pct / 100u;
    return abs_tol > rel_tol ? abs_tol : rel_tol;
}

int gn_join_test(strata_gnode *g, const strata_msg_group_info *info, uint32_t own_leader,
                 size_t *compared)
{
    size_t used = 0;
    int pass = own_leader != STRATA_GROUP_DISTANCE_UNKNOWN;
    if (pass && g->leader_abs != STRATA_GNODE_OFF && own_leader > g->leader_abs)
        pass = 0;
    for (size_t i = 0; i < info->n_neighbours; i++) {
        const strata_group_nb *nb = &info->neighbours[i];
        if (nb->distance == STRATA_GROUP_DISTANCE_UNKNOWN)
            continue;
        uint32_t own = own_distance(g, nb->leader.node);
        if (own == STRATA_GROUP_DISTANCE_UNKNOWN)
            continue;
        used++;
        uint64_t diff = own > nb->distance ? own - nb->distance : nb->distance - own;
        uint64_t tol = join_tolerance(g, nb->distance);
        if (diff > tol) {
            pass = 0;
            strata_logf(g->log, STRATA_LOG_DEBUG,
                        "gnode %016llx: group %016llx fails on neighbour %016llx (leader "
                        "%016llx): own %u (spread %u), group's %u, tolerance %llu",
                        (unsigned long long)g->node.v, (unsigned long long)info->group.v,
                        (unsigned long long)nb->group.v, (unsigned long long)nb->leader.node.v,
                        (unsigned)own, (unsigned)gdist_spread(&g->dist, nb->leader.node),
                        (unsigned)nb->distance,
                        (unsigned long long)tol);
        }
    }
    /* The seed's test alone (no leader entry) says nothing about a group
     * without measurable neighbours: judge it by the absolute threshold. */
    if (used == 0 && g->leader_abs == STRATA_GNODE_OFF && g->thr_abs != STRATA_GNODE_OFF &&
        own_leader > g->thr_abs)
        pass = 0;
    if (compared)
        *compared = used;
    return pass;
}

/* --- the walk (L4, L5) --------------------------------------------------- */

static uint64_t join_probes(const strata_gnode *g)
{
    return g->dist.st.probes_sent - g->walk.probes_base;
}

static int group_tested(const strata_gnode *g, strata_group_id group)
{
    for (size_t i = 0; i < g->walk.n; i++) {
        if (g->walk.cands[i].group.v == group.v && g->walk.cands[i].tested)
            return 1;
    }
    return 0;
}

/* Adds or updates a candidate; when the list is full a nearer one displaces
 * the farthest untested one. */
static void add_cand(strata_gnode *g, strata_group_id group, strata_peer_ref leader, uint32_t dist,
                     int measured)
{
    gn_walk *w = &g->walk;
    if (leader.node.v == 0 || leader.node.v == g->node.v)
        return;
    for (size_t i = 0; i < w->n; i++) {
        gn_cand *c = &w->cands[i];
        if ((group.v && c->group.v == group.v) || c->leader.node.v == leader.node.v) {
            if (c->tested)
                return;
            if (group.v)
                c->group = group;
            c->leader = leader;
            if (measured) {
                c->dist = dist;
                c->measured = 1;
            }
            return;
        }
    }
    size_t slot = w->n;
    if (w->n >= g->max_candidates) {
        slot = SIZE_MAX;
        for (size_t i = 0; i < w->n; i++) {
            const gn_cand *c = &w->cands[i];
            if (c->tested || i == w->cur)
                continue;
            if (slot == SIZE_MAX || !c->measured ||
                (w->cands[slot].measured && c->dist > w->cands[slot].dist))
                slot = i;
        }
        g->st.candidates_dropped++;
        if (slot == SIZE_MAX || !measured ||
            (w->cands[slot].measured && w->cands[slot].dist <= dist))
            return;
    } else {
        w->n++;
    }
    gn_cand *c = &w->cands[slot];
    memset(c, 0, sizeof *c);
    c->group = group;
    c->leader = leader;
    c->dist = measured ? dist : STRATA_GROUP_DISTANCE_UNKNOWN;
    c->measured = (uint8_t)(measured != 0);
}

static void send_walk_request(strata_gnode *g)
{
    gn_walk *w = &g->walk;
    const gn_cand *c = &w->cands[w->cur];
    uint8_t buf[64];
    int n;
    if (w->phase == WALK_QUERY) {
        strata_msg_group_query m = {.node = g->node, .query_id = w->req_id, .group = c->group};
        n = strata_wire_encode_group_query(buf, sizeof buf, &m);
    } else {
        strata_msg_group_join m = {.node = g->node, .join_id = w->req_id, .group = c->group};
        n = strata_wire_encode_group_join(buf, sizeof buf, &m);
    }
    if (gn_send(g, c->leader.addr, buf, n) == 0)
        g->st.requests_sent++;
}

static void start_request(strata_gnode *g, int phase, uint64_t now)
{
    gn_walk *w = &g->walk;
    w->phase = phase;
    w->req_id = gn_new_id(g);
    w->sends = 1;
    w->at = gn_add_ns(now, g->request_timeout_ns);
    send_walk_request(g);
}

static void walk_record_cost(strata_gnode *g, uint64_t now)
{
    uint64_t p = join_probes(g);
    g->st.last_join_probes = p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
    g->st.last_join_tests = g->walk.tests;
    g->st.last_join_ns = now - g->walk.started_at;
}

/* L5: no group accepted this node, so it founds one. */
static void walk_found(strata_gnode *g, uint64_t now)
{
    strata_group_id group;
    do
        group.v = strata_rng_next(&g->rng);
    while (group.v == 0);
    walk_record_cost(g, now);
    gn_become_leader(g, group, 1, now);
    gn_links_found(g, now);
    g->walk.phase = WALK_NONE;
    g->st.founded++;
    gn_emit(g, STRATA_GNODE_FOUNDED);
}

static void walk_next(strata_gnode *g, uint64_t now);

static size_t nearest_pass(const gn_walk *w)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < w->n; i++) {
        if (w->cands[i].passed && (best == SIZE_MAX || w->cands[i].dist < w->cands[best].dist))
            best = i;
    }
    return best;
}

static void fail_current(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    if (w->cur < w->n)
        w->cands[w->cur].tested = 1;
    if (w->cur < w->n && w->cur == w->pass) {
        /* The group we chose refused us or vanished: fall back to the
         * nearest other one that passed. */
        w->cands[w->cur].passed = 0;
        w->pass = nearest_pass(w);
    }
    w->direct = 0;
    walk_next(g, now);
}

/* Joins the nearest group that passed. */
static void walk_join_pass(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    w->cur = w->pass;
    start_request(g, WALK_JOIN, now);
}

static void walk_next(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    w->phase = WALK_NONE;
    w->cur = SIZE_MAX;
    if (w->tests >= g->max_tests || join_probes(g) >= g->max_join_probes) {
        if (w->pass != SIZE_MAX)
            walk_join_pass(g, now);
        else
            walk_found(g, now);
        return;
    }
    /* Order the untested candidates: measure those not measured yet. */
    int pending = 0;
    for (size_t i = 0; i < w->n; i++) {
        gn_cand *c = &w->cands[i];
        if (c->tested || c->measured)
            continue;
        uint32_t v;
        int r = gdist_get(&g->dist, c->leader, g->cache_ttl_ns, now, &v);
        if (r == 1) {
            c->dist = v;
            c->measured = 1;
        } else if (r == 0) {
            pending = 1;
        } else {
            c->tested = 1;
        }
        if (c->measured && c->dist == STRATA_GROUP_DISTANCE_UNKNOWN)
            c->tested = 1; /* unreachable */
    }
    if (pending) {
        w->phase = WALK_MEASURE_CANDS;
        return;
    }
    /* Once a group passed, only nearer ones are worth a test: the walk
     * ends in the nearest group that passes among those it can reach, not
     * the first one, so where it ends does not depend on which leaders the
     * bootstrap handed out or in which order they answered. */
    uint32_t bound = w->pass == SIZE_MAX ? STRATA_GROUP_DISTANCE_UNKNOWN : w->cands[w->pass].dist;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < w->n; i++) {
        const gn_cand *c = &w->cands[i];
        if (c->tested || (c->group.v && group_tested(g, c->group)))
            continue;
        if (w->pass != SIZE_MAX && c->dist >= bound)
            continue;
        if (best == SIZE_MAX || c->dist < w->cands[best].dist)
            best = i;
    }
    if (best == SIZE_MAX) {
        if (w->pass != SIZE_MAX) {
            walk_join_pass(g, now);
        } else if (g->cb.want_leaders && !w->relooked) {
            /* One more look before founding: groups founded since the
             * bootstrap (strata_gnode_callbacks). */
            w->relooked = 1;
            w->phase = WALK_RELOOK;
            w->at = gn_add_ns(now, g->request_timeout_ns);
            g->st.relooks++;
            g->cb.want_leaders(g->cb.user);
        } else {
            walk_found(g, now);
        }
        return;
    }
    w->cur = best;
    w->tests++;
    g->st.tests++;
    w->redirects = 0;
    w->full = 0;
    w->rechecked = 0;
    start_request(g, WALK_QUERY, now);
}

/* Whether the own distance to node, over `limit`, may be over it only
 * because the measurement was disturbed: over by at most GN_RECHECK_PCT %
 * of the limit, and its samples disagree by more than an undisturbed path
 * makes them (GN_RECHECK_SPREAD_US). */
static int disturbed_excess(const strata_gnode *g, strata_node_id node, uint64_t own,
                            uint64_t limit)
{
    return own > limit && own - limit <= limit * GN_RECHECK_PCT / 100u &&
           gdist_spread(&g->dist, node) > GN_RECHECK_SPREAD_US;
}

/* After a failed test (L3): when every comparison that failed did so only
 * because an own distance came out a little too large from a disturbed
 * measurement (disturbed_excess), measures those distances again
 * (gdist_recheck: the smaller estimate stays) and returns 1; the test is
 * then evaluated again. A busy machine, ours or the other end's, only ever
 * adds delay, and the minimum of three probes 20 ms apart does not remove
 * a stall longer than that: a host a fraction of a millisecond inside a
 * threshold would otherwise join or not depending on its load, while an
 * undisturbed measurement (the simulator's, a quiet path's) is decided at
 * once, as before. A comparison failed the other way (own distance too
 * small beside the group's), or by more than the margin, is decided at once
 * too. Time metrics only: hop counts do not grow with load. */
static int recheck_narrow(strata_gnode *g, const strata_msg_group_info *info, uint32_t own_leader,
                          uint64_t now)
{
    if (g->metric == STRATA_GROUP_METRIC_HOPS || own_leader == STRATA_GROUP_DISTANCE_UNKNOWN)
        return 0;
    strata_peer_ref redo[1 + STRATA_WIRE_MAX_GROUP_NEIGHBOURS];
    size_t n = 0, used = 0;
    for (size_t i = 0; i < info->n_neighbours; i++) {
        const strata_group_nb *nb = &info->neighbours[i];
        if (nb->distance == STRATA_GROUP_DISTANCE_UNKNOWN)
            continue;
        uint32_t own = own_distance(g, nb->leader.node);
        if (own == STRATA_GROUP_DISTANCE_UNKNOWN)
            continue;
        used++;
        uint64_t tol = join_tolerance(g, nb->distance);
        uint64_t lo = nb->distance > tol ? nb->distance - tol : 0;
        if (own < lo)
            return 0; /* too near beside the group's: measuring again cannot help */
        if (own > nb->distance + tol) {
            if (!disturbed_excess(g, nb->leader.node, own, nb->distance + tol))
                return 0;
            redo[n++] = nb->leader;
        }
    }
    uint64_t leader_limit = g->leader_abs;
    if (g->leader_abs == STRATA_GNODE_OFF)
        leader_limit = used == 0 && g->thr_abs != STRATA_GNODE_OFF ? g->thr_abs : UINT64_MAX;
    strata_peer_ref leader = g->walk.cands[g->walk.cur].leader;
    if (leader_limit != UINT64_MAX && own_leader > leader_limit) {
        if (!disturbed_excess(g, leader.node, own_leader, leader_limit))
            return 0;
        redo[n++] = leader;
    }
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (gdist_recheck(&g->dist, redo[i], now) != 0)
            return 0; /* no room to measure: decide on what we have */
    }
    strata_logf(g->log, STRATA_LOG_DEBUG,
                "gnode %016llx: group %016llx failed narrowly: %zu distance(s) measured again",
                (unsigned long long)g->node.v, (unsigned long long)info->group.v, n);
    return 1;
}

/* Measures the leader under test and its neighbours; evaluates when every
 * distance is known. */
static void walk_measure(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    gn_cand *c = &w->cands[w->cur];
    int pending = 0;
    uint32_t v;
    int r = gdist_get(&g->dist, c->leader, g->cache_ttl_ns, now, &v);
    pending |= r == 0;
    for (size_t i = 0; i < w->info.n_neighbours; i++) {
        const strata_group_nb *nb = &w->info.neighbours[i];
        if (nb->leader.node.v == g->node.v)
            continue;
        pending |= gdist_get(&g->dist, nb->leader, g->cache_ttl_ns, now, &v) == 0;
    }
    if (pending) {
        w->phase = WALK_MEASURE;
        return;
    }
    uint32_t own_leader = own_distance(g, c->leader.node);
    size_t compared = 0;
    int pass = !w->full && gn_join_test(g, &w->info, own_leader, &compared);
    if (!pass && !w->full && !w->rechecked) {
        w->rechecked = 1;
        if (recheck_narrow(g, &w->info, own_leader, now)) {
            g->st.rechecks++;
            w->phase = WALK_MEASURE;
            return;
        }
    }
    c->dist = own_leader;
    c->measured = 1;
    for (size_t i = 0; i < w->info.n_neighbours; i++) {
        const strata_group_nb *nb = &w->info.neighbours[i];
        uint32_t own = own_distance(g, nb->leader.node);
        if (own != STRATA_GROUP_DISTANCE_UNKNOWN && !group_tested(g, nb->group) &&
            nb->group.v != c->group.v)
            add_cand(g, nb->group, nb->leader, own, 1);
    }
    c = &w->cands[w->cur]; /* add_cand may not move it, but be explicit */
    strata_logf(
        g->log, STRATA_LOG_DEBUG,
        "gnode %016llx: tested group %016llx at %u (spread %u, %zu neighbours compared): %s",
        (unsigned long long)g->node.v, (unsigned long long)c->group.v, (unsigned)own_leader,
        (unsigned)gdist_spread(&g->dist, c->leader.node), compared, pass ? "passes" : "fails");
    if (!pass) {
        fail_current(g, now);
        return;
    }
    /* A pass: remember it and look for a nearer group that passes too
     * (walk_next tests only nearer candidates from now on). */
    c->tested = 1;
    c->passed = 1;
    w->pass = nearest_pass(w);
    w->direct = 0;
    walk_next(g, now);
}

static void walk_on_info(strata_gnode *g, strata_addr from, const strata_msg_group_info *m,
                         uint64_t now)
{
    gn_walk *w = &g->walk;
    gn_cand *c = &w->cands[w->cur];
    (void)from;
    if (m->status == STRATA_GROUP_INFO_MEMBER) {
        /* Redirect to the leader the member names. */
        if (++w->redirects > GN_MAX_REDIRECTS || m->leader.node.v == g->node.v ||
            (m->group.v != c->group.v && group_tested(g, m->group))) {
            fail_current(g, now);
            return;
        }
        c->leader = m->leader;
        c->group = m->group;
        start_request(g, w->phase, now);
        return;
    }
    if (m->status == STRATA_GROUP_INFO_NO_GROUP ||
        (w->phase == WALK_JOIN &&
         (m->group.v != c->group.v || m->status != STRATA_GROUP_INFO_LEADER))) {
        /* Gone, another group now, or a refusal of the join. */
        if (w->phase == WALK_JOIN && m->status == STRATA_GROUP_INFO_FULL)
            g->st.members_refused_full++;
        fail_current(g, now);
        return;
    }
    if (w->phase == WALK_JOIN) {
        /* An INFO LEADER for our own join: the leader still thinks about
         * it; keep waiting for its STATE. */
        return;
    }
    if (m->group.v != c->group.v && c->group.v && group_tested(g, m->group)) {
        fail_current(g, now);
        return;
    }
    c->group = m->group;
    w->info = *m;
    w->full = m->status == STRATA_GROUP_INFO_FULL;
    w->at = STRATA_NEVER;
    walk_measure(g, now);
}

static void walk_on_state(strata_gnode *g, strata_addr from, const strata_msg_group_state *m,
                          uint64_t now)
{
    gn_walk *w = &g->walk;
    walk_record_cost(g, now);
    int direct = w->direct;
    w->phase = WALK_NONE;
    gn_become_member(g, m, from, now);
    if (direct) {
        g->st.moved++;
        gn_emit(g, STRATA_GNODE_MOVED);
    } else {
        g->st.joins++;
        gn_emit(g, STRATA_GNODE_JOINED);
    }
}

static void walk_reset(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    w->n = 0;
    w->cur = SIZE_MAX;
    w->pass = SIZE_MAX;
    w->tests = 0;
    w->direct = 0;
    w->relooked = 0;
    w->phase = WALK_NONE;
    w->at = STRATA_NEVER;
    w->probes_base = g->dist.st.probes_sent;
    w->started_at = now;
    g->state = STRATA_GNODE_JOINING;
}

void gn_walk_start(strata_gnode *g, const strata_peer_ref *refs, size_t n, uint64_t now)
{
    walk_reset(g, now);
    for (size_t i = 0; i < n; i++)
        add_cand(g, (strata_group_id){0}, refs[i], 0, 0);
    walk_next(g, now);
}

/* Candidates for a walk after the group was lost: the neighbour groups
 * this node knew (a successor's copy), then the bootstrap leaders. */
static void add_known(strata_gnode *g)
{
    for (size_t i = 0; i < g->n_links; i++)
        add_cand(g, g->links[i].group, g->links[i].leader, 0, 0);
    for (size_t i = 0; i < g->n_boot; i++)
        add_cand(g, (strata_group_id){0}, g->boot[i], 0, 0);
}

void gn_walk_from_known(strata_gnode *g, uint64_t now)
{
    walk_reset(g, now);
    add_known(g);
    gn_reset_group(g);
    g->state = STRATA_GNODE_JOINING;
    walk_next(g, now);
}

void gn_walk_direct(strata_gnode *g, strata_group_id group, strata_peer_ref leader, uint64_t now)
{
    walk_reset(g, now);
    add_cand(g, group, leader, 0, 1);
    add_known(g);
    gn_reset_group(g);
    g->state = STRATA_GNODE_JOINING;
    gn_walk *w = &g->walk;
    if (w->n == 0 || w->cands[0].leader.node.v != leader.node.v) {
        walk_next(g, now);
        return;
    }
    w->cur = 0;
    w->direct = 1;
    w->tests = 1;
    start_request(g, WALK_JOIN, now);
}

static void walk_timeout(strata_gnode *g, uint64_t now)
{
    gn_walk *w = &g->walk;
    if (w->phase == WALK_RELOOK) {
        w->at = STRATA_NEVER;
        walk_found(g, now); /* no fresh leaders came */
        return;
    }
    if (w->phase != WALK_QUERY && w->phase != WALK_JOIN)
        return;
    if (w->sends < g->request_retries) {
        w->sends++;
        w->at = gn_add_ns(now, g->request_timeout_ns);
        send_walk_request(g);
        return;
    }
    g->st.request_timeouts++;
    fail_current(g, now);
}

/* A measurement finished: whatever waited on one may go on. */
static void on_measured(strata_gnode *g, uint64_t now)
{
    if (g->state == STRATA_GNODE_JOINING) {
        if (g->walk.phase == WALK_MEASURE_CANDS)
            walk_next(g, now);
        else if (g->walk.phase == WALK_MEASURE)
            walk_measure(g, now);
    } else if (g->state == STRATA_GNODE_LEADER) {
        gn_inter_measured(g, now);
    }
}

/* --- lifecycle ----------------------------------------------------------- */

static uint32_t setting(uint32_t v, uint32_t def)
{
    return v ? v : def;
}

/* A threshold in metric units: ms become microseconds for time metrics. */
static uint32_t threshold(uint32_t v, uint32_t def, uint8_t metric)
{
    v = setting(v, def);
    if (v == STRATA_GNODE_OFF || metric == STRATA_GROUP_METRIC_HOPS)
        return v;
    return v > (STRATA_GNODE_OFF - 1) / 1000u ? STRATA_GNODE_OFF - 1 : v * 1000u;
}
/* The spread of a round's samples that earns the measurement one more
 * round (gdist settle_spread): a quarter of the gap between probes, 5 ms by
 * default. A stall of either end long enough to inflate every sample of a
 * round releases the answers close together, so their samples differ by up
 * to the round's span (twice the gap); the scheduling jitter of a busy
 * machine, or of an ordinary Internet path, spreads them by a few
 * milliseconds (median 1.4 ms, 75th percentile 4.2 ms on the test machine
 * with both cores busy) and moves the minimum by no more, which matters
 * only that near a threshold, where a narrow failure is measured again
 * (recheck_narrow, GN_RECHECK_SPREAD_US). With 1 ms here most measurements
 * on a busy machine took an extra round, at any distance (3 ms of spread on
 * a 134 ms path, far from every limit): joins took up to 3 s longer than on
 * a quiet machine, and since the moment a group is founded decides whether
 * the next arrivals find it, who founded and who joined followed the load
 * (docs/groups.md, "Under load"). */
static uint32_t settle_spread_us(const strata_gnode_config *cfg)
{
    uint32_t gap_ms = setting(cfg->probe_gap_ms, STRATA_GNODE_DEFAULT_PROBE_GAP_MS);
    uint64_t us = (uint64_t)gap_ms * 250u;
    if (us > UINT32_MAX)
        us = UINT32_MAX;
    return us > GN_RECHECK_SPREAD_US ? (uint32_t)us : GN_RECHECK_SPREAD_US;
}

strata_gnode *strata_gnode_new(const strata_gnode_config *cfg, const strata_gnode_callbacks *cb,
                               const strata_alloc *a, uint64_t now)
{
    if (!cfg || cfg->node.v == 0 || cfg->metric > STRATA_GROUP_METRIC_MAX ||
        cfg->n_bootstrap > STRATA_GNODE_MAX_BOOTSTRAP || (cfg->n_bootstrap && !cfg->bootstrap))
        return NULL;
    strata_gnode *g = strata_mem_calloc(a, 1, sizeof *g);
    if (!g)
        goto fail_alloc;
    g->alloc = a;
    g->log = cfg->log;
    if (cb)
        g->cb = *cb;
    g->node = cfg->node;
    g->addr = cfg->addr;
    strata_rng_seed(&g->rng, cfg->seed ^ cfg->node.v);
    g->metric = cfg->metric ? cfg->metric : STRATA_GROUP_METRIC_RTT;

    int hops = g->metric == STRATA_GROUP_METRIC_HOPS;
    g->thr_abs = threshold(cfg->threshold_abs,
                           hops ? STRATA_GNODE_DEFAULT_THRESHOLD_ABS_HOPS
                                : STRATA_GNODE_DEFAULT_THRESHOLD_ABS_MS,
                           g->metric);
    g->thr_rel_pct = setting(cfg->threshold_rel_pct, STRATA_GNODE_DEFAULT_THRESHOLD_REL_PCT);
    if (cfg->leader_abs == 0)
        g->leader_abs = hops ? STRATA_GNODE_DEFAULT_LEADER_ABS_HOPS : g->thr_abs;
    else
        g->leader_abs = threshold(cfg->leader_abs, 0, g->metric);
    g->cache_ttl_ns = STRATA_MS(setting(cfg->cache_ttl_ms, STRATA_GNODE_DEFAULT_CACHE_TTL_MS));
    g->request_timeout_ns =
        STRATA_MS(setting(cfg->request_timeout_ms, STRATA_GNODE_DEFAULT_REQUEST_TIMEOUT_MS));
    g->request_retries = setting(cfg->request_retries, STRATA_GNODE_DEFAULT_REQUEST_RETRIES);
    g->max_tests = setting(cfg->max_tests, STRATA_GNODE_DEFAULT_MAX_TESTS);
    g->max_join_probes = setting(cfg->max_join_probes, STRATA_GNODE_DEFAULT_MAX_JOIN_PROBES);
    g->max_candidates = setting(cfg->max_candidates, STRATA_GNODE_DEFAULT_MAX_CANDIDATES);
    g->max_members = setting(cfg->max_members, STRATA_GNODE_DEFAULT_MAX_MEMBERS);
    g->max_links = setting(cfg->max_links, STRATA_GNODE_DEFAULT_MAX_LINKS);
    if (g->max_links > STRATA_WIRE_MAX_GROUP_NEIGHBOURS)
        g->max_links = STRATA_WIRE_MAX_GROUP_NEIGHBOURS;
    g->new_links = setting(cfg->new_links, STRATA_GNODE_DEFAULT_NEW_LINKS);
    g->bridge_links = cfg->bridge_links == STRATA_GNODE_OFF
                          ? 0
                          : setting(cfg->bridge_links, STRATA_GNODE_DEFAULT_BRIDGE_LINKS);
    g->n_successors = setting(cfg->successors, STRATA_GNODE_DEFAULT_SUCCESSORS);
    if (g->n_successors > STRATA_WIRE_MAX_GROUP_SUCCESSORS)
        g->n_successors = STRATA_WIRE_MAX_GROUP_SUCCESSORS;
    g->keepalive_ns = STRATA_MS(setting(cfg->keepalive_ms, STRATA_GNODE_DEFAULT_KEEPALIVE_MS));
    g->leader_timeout_ns =
        STRATA_MS(setting(cfg->leader_timeout_ms, STRATA_GNODE_DEFAULT_LEADER_TIMEOUT_MS));
    g->member_timeout_ns =
        STRATA_MS(setting(cfg->member_timeout_ms, STRATA_GNODE_DEFAULT_MEMBER_TIMEOUT_MS));
    g->link_refresh_ns =
        STRATA_MS(setting(cfg->link_refresh_ms, STRATA_GNODE_DEFAULT_LINK_REFRESH_MS));
    g->link_timeout_ns =
        STRATA_MS(setting(cfg->link_timeout_ms, STRATA_GNODE_DEFAULT_LINK_TIMEOUT_MS));
    g->remeasure_ns = STRATA_MS(setting(cfg->remeasure_ms, STRATA_GNODE_DEFAULT_REMEASURE_MS));
    g->refine_ns = cfg->refine_ms == STRATA_GNODE_OFF
                       ? STRATA_NEVER
                       : STRATA_MS(setting(cfg->refine_ms, STRATA_GNODE_DEFAULT_REFINE_MS));
    g->merge = !cfg->no_merge;
    g->n_boot = cfg->n_bootstrap;
    for (size_t i = 0; i < cfg->n_bootstrap; i++)
        g->boot[i] = cfg->bootstrap[i];

    gdist_config dc = {
        .self = g->node,
        .metric = g->metric,
        .estimate = cfg->estimate,
        .probes = setting(cfg->probes, STRATA_GNODE_DEFAULT_PROBES),
        .retries = cfg->probe_retries == STRATA_GNODE_OFF
                       ? 0
                       : setting(cfg->probe_retries, STRATA_GNODE_DEFAULT_PROBE_RETRIES),
        .gap_ms = setting(cfg->probe_gap_ms, STRATA_GNODE_DEFAULT_PROBE_GAP_MS),
        .timeout_ms = setting(cfg->probe_timeout_ms, STRATA_GNODE_DEFAULT_PROBE_TIMEOUT_MS),
        /* Hop counts do not grow with load; times do (protocol.md 7.2). */
        .settle_spread = g->metric == STRATA_GROUP_METRIC_HOPS ? 0 : settle_spread_us(cfg),
        .cap = setting(cfg->cache_entries, STRATA_GNODE_DEFAULT_CACHE_ENTRIES),
    };
    if (gdist_init(&g->dist, a, &dc, &g->rng, dist_send, g) != 0)
        goto fail_dist;
    g->walk.cands = strata_mem_calloc(a, g->max_candidates, sizeof *g->walk.cands);
    if (!g->walk.cands)
        goto fail_cands;
    if (gn_intra_init(g) != 0)
        goto fail_intra;
    g->outbox = cfg->outbox;
    if (!g->outbox && strata_outbox_init(&g->own_outbox, a, GN_OUTBOX_DATAGRAMS) == 0)
        g->outbox = &g->own_outbox;
    if (!g->outbox)
        goto fail_outbox;

    g->state = STRATA_GNODE_IDLE;
    gn_reset_group(g);
    g->walk.at = STRATA_NEVER;
    g->log_window_ns = now;
    if (g->n_boot)
        gn_walk_start(g, g->boot, g->n_boot, now);
    return g;

fail_outbox:
    gn_intra_free(g);
fail_intra:
    strata_mem_free(a, g->walk.cands);
fail_cands:
    gdist_free(&g->dist);
fail_dist:
    strata_mem_free(a, g);
fail_alloc:
    return NULL;
}

void strata_gnode_del(strata_gnode *g)
{
    if (!g)
        return;
    strata_outbox_free(&g->own_outbox);
    gn_intra_free(g);
    strata_mem_free(g->alloc, g->walk.cands);
    gdist_free(&g->dist);
    strata_mem_free(g->alloc, g);
}

strata_outbox *strata_gnode_outbox(strata_gnode *g)
{
    return g->outbox;
}

int strata_gnode_bootstrap(strata_gnode *g, const strata_peer_ref *refs, size_t n, uint64_t now)
{
    if (n > STRATA_GNODE_MAX_BOOTSTRAP || (n && !refs))
        return STRATA_ERR_INVAL;
    if (g->state == STRATA_GNODE_LEFT)
        return STRATA_ERR_UNEXPECTED;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].node.v != 0 && refs[i].node.v != g->node.v)
            g->boot[k++] = refs[i];
    }
    if (k == 0 && n > 0 && (g->state == STRATA_GNODE_MEMBER || g->state == STRATA_GNODE_LEADER))
        return 0; /* nothing usable: keep what we had */
    g->n_boot = k;
    if (g->state == STRATA_GNODE_MEMBER || g->state == STRATA_GNODE_LEADER)
        return 0;
    if (g->state == STRATA_GNODE_JOINING && g->walk.phase == WALK_RELOOK) {
        /* The fresh leaders: the walk goes on with those it has not
         * tested (add_cand skips the tested ones). */
        g->walk.at = STRATA_NEVER;
        for (size_t i = 0; i < k; i++)
            add_cand(g, (strata_group_id){0}, g->boot[i], 0, 0);
        walk_next(g, now);
        return 0;
    }
    if (k == 0) {
        walk_reset(g, now);
        walk_found(g, now);
        return 0;
    }
    gn_walk_start(g, g->boot, g->n_boot, now);
    return 0;
}

void strata_gnode_leave(strata_gnode *g, uint64_t now)
{
    if (g->state == STRATA_GNODE_LEFT)
        return;
    gn_leave_intra(g, now);
    gn_reset_group(g);
    g->walk.phase = WALK_NONE;
    g->state = STRATA_GNODE_LEFT;
    gn_emit(g, STRATA_GNODE_LEFT_GROUP);
}

/* --- datagrams ----------------------------------------------------------- */

static int handle_ping(strata_gnode *g, strata_addr from, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    strata_msg_group_ping m;
    int err = strata_wire_decode_group_ping(buf, len, &m);
    if (err < 0)
        return err;
    strata_msg_group_pong r = {.node = m.node,
                               .ping_id = m.ping_id,
                               .send_ts_ns = m.send_ts_ns,
                               .responder = g->node,
                               .rx_ts_ns = now};
    uint8_t out[64];
    gn_send(g, from, out, strata_wire_encode_group_pong(out, sizeof out, &r));
    return 0;
}

static int handle_info(strata_gnode *g, strata_addr from, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    strata_msg_group_info m;
    int err = strata_wire_decode_group_info(buf, len, &m);
    if (err < 0)
        return err;
    if (m.metric != g->metric)
        return STRATA_ERR_UNEXPECTED; /* distances in another unit: useless */
    gn_walk *w = &g->walk;
    if (g->state == STRATA_GNODE_JOINING && (w->phase == WALK_QUERY || w->phase == WALK_JOIN) &&
        m.query_id == w->req_id && m.query_id != 0) {
        walk_on_info(g, from, &m, now);
        return 0;
    }
    if (gn_on_info_inter(g, from, &m, now))
        return 0;
    return gn_on_info_intra(g, from, &m, now);
}

static int handle_state(strata_gnode *g, strata_addr from, const uint8_t *buf, size_t len,
                        uint64_t now)
{
    strata_msg_group_state m;
    int err = strata_wire_decode_group_state(buf, len, &m);
    if (err < 0)
        return err;
    if (m.member.v != g->node.v || m.metric != g->metric)
        return STRATA_ERR_UNEXPECTED;
    if (g->state == STRATA_GNODE_JOINING) {
        gn_walk *w = &g->walk;
        if (w->phase != WALK_JOIN || m.reply_id != w->req_id ||
            m.group.v != w->cands[w->cur].group.v)
            return STRATA_ERR_UNEXPECTED;
        walk_on_state(g, from, &m, now);
        return 0;
    }
    return gn_on_state(g, from, &m, now);
}

int strata_gnode_handle_datagram_ttl(strata_gnode *g, strata_addr from, const uint8_t *buf,
                                     size_t buflen, int ttl, uint64_t now)
{
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return drop(g, now, type, 0, from);
    if (g->state == STRATA_GNODE_LEFT)
        return drop(g, now, STRATA_ERR_UNEXPECTED, type, from);
    int err;
    switch (type) {
    case STRATA_MSG_GROUP_PING:
        err = handle_ping(g, from, buf, buflen, now);
        break;
    case STRATA_MSG_PROBE_REPLY: {
        strata_msg_probe_reply m;
        err = strata_wire_decode_probe_reply(buf, buflen, &m);
        if (err >= 0)
            err = gdist_on_probe_reply(&g->dist, &m, ttl, now);
        if (err == 1)
            on_measured(g, now);
        break;
    }
    case STRATA_MSG_GROUP_PONG: {
        strata_msg_group_pong m;
        err = strata_wire_decode_group_pong(buf, buflen, &m);
        if (err >= 0)
            err = gdist_on_pong(&g->dist, &m, now);
        if (err == 1)
            on_measured(g, now);
        break;
    }
    case STRATA_MSG_GROUP_QUERY: {
        strata_msg_group_query m;
        err = strata_wire_decode_group_query(buf, buflen, &m);
        if (err >= 0)
            gn_send_info(g, from, m.query_id);
        break;
    }
    case STRATA_MSG_GROUP_INFO:
        err = handle_info(g, from, buf, buflen, now);
        break;
    case STRATA_MSG_GROUP_JOIN: {
        strata_msg_group_join m;
        err = strata_wire_decode_group_join(buf, buflen, &m);
        if (err >= 0)
            err = m.node.v == g->node.v ? STRATA_ERR_UNEXPECTED : gn_on_join(g, from, &m, now);
        break;
    }
    case STRATA_MSG_GROUP_STATE:
        err = handle_state(g, from, buf, buflen, now);
        break;
    case STRATA_MSG_GROUP_KEEPALIVE: {
        strata_msg_group_keepalive m;
        err = strata_wire_decode_group_keepalive(buf, buflen, &m);
        if (err >= 0)
            err = m.node.v == g->node.v ? STRATA_ERR_UNEXPECTED : gn_on_keepalive(g, from, &m, now);
        break;
    }
    case STRATA_MSG_GROUP_LEAVE: {
        strata_msg_group_leave m;
        err = strata_wire_decode_group_leave(buf, buflen, &m);
        if (err >= 0) {
            if (m.node.v == g->node.v)
                err = STRATA_ERR_UNEXPECTED;
            else if (m.group.v == g->group.v)
                err = gn_on_leave_intra(g, from, &m, now);
            else
                err = gn_on_leave_inter(g, &m, now);
        }
        break;
    }
    case STRATA_MSG_GROUP_LINK: {
        strata_msg_group_link m;
        err = strata_wire_decode_group_link(buf, buflen, &m);
        if (err >= 0)
            err = m.node.v == g->node.v ? STRATA_ERR_UNEXPECTED : gn_on_link(g, from, &m, now);
        break;
    }
    default:
        err = STRATA_ERR_UNEXPECTED;
        break;
    }
    if (err < 0 && strata_err_is_input(err))
        return drop(g, now, err, type, from);
    return err < 0 ? err : 0;
}

int strata_gnode_handle_datagram(strata_gnode *g, strata_addr from, const uint8_t *buf,
                                 size_t buflen, uint64_t now)
{
    return strata_gnode_handle_datagram_ttl(g, from, buf, buflen, -1, now);
}

/* --- timers -------------------------------------------------------------- */

void strata_gnode_handle_timeout(strata_gnode *g, uint64_t now)
{
    if (g->state == STRATA_GNODE_LEFT)
        return;
    if (gdist_handle_timeout(&g->dist, now) > 0)
        on_measured(g, now);
    if (g->state == STRATA_GNODE_JOINING && now >= g->walk.at)
        walk_timeout(g, now);
    if (g->state == STRATA_GNODE_MEMBER || g->state == STRATA_GNODE_LEADER)
        gn_intra_timeout(g, now);
    if (g->state == STRATA_GNODE_LEADER)
        gn_inter_timeout(g, now);
}

uint64_t strata_gnode_next_timeout(const strata_gnode *g)
{
    if (g->state == STRATA_GNODE_LEFT || g->state == STRATA_GNODE_IDLE)
        return gdist_next_timeout(&g->dist);
    uint64_t t = gdist_next_timeout(&g->dist);
    if (g->state == STRATA_GNODE_JOINING &&
        (g->walk.phase == WALK_QUERY || g->walk.phase == WALK_JOIN ||
         g->walk.phase == WALK_RELOOK))
        t = min_ns(t, g->walk.at);
    if (g->state == STRATA_GNODE_MEMBER || g->state == STRATA_GNODE_LEADER)
        t = min_ns(t, gn_intra_next(g));
    if (g->state == STRATA_GNODE_LEADER)
        t = min_ns(t, gn_inter_next(g));
    return t;
}

/* --- queries ------------------------------------------------------------- */

int strata_gnode_state(const strata_gnode *g)
{
    return g->state;
}

strata_group_id strata_gnode_group(const strata_gnode *g)
{
    return g->group;
}

strata_peer_ref strata_gnode_leader(const strata_gnode *g)
{
    return g->leader;
}

uint32_t strata_gnode_term(const strata_gnode *g)
{
    return g->term;
}

size_t strata_gnode_members(const strata_gnode *g, strata_peer_ref *out, size_t cap)
{
    if (g->state == STRATA_GNODE_LEADER) {
        for (size_t i = 0; i < g->n_members && i < cap; i++)
            out[i] = g->members[i].ref;
        return g->n_members;
    }
    if (g->state != STRATA_GNODE_MEMBER)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < g->view_n; i++) {
        if (g->view[i].node.v == 0)
            continue;
        if (k < cap)
            out[k] = g->view[i];
        k++;
    }
    return k;
}

size_t strata_gnode_successors(const strata_gnode *g, strata_peer_ref *out, size_t cap)
{
    if (g->state == STRATA_GNODE_LEADER) {
        size_t n = g->n_members > 1 ? g->n_members - 1 : 0;
        if (n > g->n_successors)
            n = g->n_successors;
        for (size_t i = 0; i < n && i < cap; i++)
            out[i] = g->members[i + 1].ref;
        return n;
    }
    if (g->state != STRATA_GNODE_MEMBER)
        return 0;
    for (size_t i = 0; i < g->n_succ && i < cap; i++)
        out[i] = g->succ[i];
    return g->n_succ;
}

size_t strata_gnode_neighbours(const strata_gnode *g, strata_gnode_neighbour *out, size_t cap)
{
    if (g->state != STRATA_GNODE_LEADER && g->state != STRATA_GNODE_MEMBER)
        return 0;
    for (size_t i = 0; i < g->n_links && i < cap; i++) {
        const gn_link *l = &g->links[i];
        out[i].group = l->group;
        out[i].leader = l->leader;
        out[i].distance = l->distance;
        out[i].measured_at_ns = l->measured_at;
        out[i].heard_at_ns = l->heard_at;
    }
    return g->n_links;
}

int strata_gnode_distance(const strata_gnode *g, strata_node_id node, uint64_t now,
                          uint32_t *distance, uint64_t *age_ns)
{
    uint32_t v;
    uint64_t at;
    if (!gdist_peek(&g->dist, node, &v, &at))
        return 0;
    if (distance)
        *distance = v;
    if (age_ns)
        *age_ns = now >= at ? now - at : 0;
    return 1;
}

void strata_gnode_get_stats(const strata_gnode *g, strata_gnode_stats *st)
{
    *st = g->st;
    st->state = g->state;
    st->probes_sent = g->dist.st.probes_sent;
    st->probe_replies = g->dist.st.replies;
    st->probes_late = g->dist.st.late;
    st->measurements = g->dist.st.measurements;
    st->measurements_failed = g->dist.st.failed;
    st->clock_skew_samples = g->dist.st.skew;
    st->no_ttl_samples = g->dist.st.no_ttl;
    st->cache_evictions = g->dist.st.evictions;
}
