/*
 * Intra-group maintenance of the group agent (SPEC L6, L7).
 *
 * Leader. members[0] is the leader itself; the rest follow in the order
 * they were admitted, which is the leadership list: the oldest member leads
 * next. Every GROUP_KEEPALIVE is answered with a GROUP_STATE (the periodic
 * replication); every change (admission, departure, timeout, new links)
 * schedules a push GN_PUSH_DELAY_MS later, so a burst of changes costs one
 * push: to the successors, and to every member when the leadership list
 * itself changed. A STATE carries the first
 * n_successors members, the neighbour groups (to successors only: they are
 * the ones that may need them) and one page of the member list; the pages
 * rotate, so a member learns the whole list over a few keepalives. A member
 * silent for member_timeout is removed (the sweep runs every keepalive).
 *
 * Member. Sends a keepalive every keepalive_ms. When the leader has been
 * silent for leader_timeout it fails over: it asks the successors in list
 * order, skipping itself until it is its turn, with a GROUP_KEEPALIVE
 * flagged TAKEOVER naming the lost leader. A successor takes over (term + 1)
 * when it has not heard the leader for two keepalive intervals itself, when
 * the leader said it left, or when it is failing over too; otherwise it
 * answers with a GROUP_INFO naming the leader, and the asker gives the
 * leader another timeout (twice in a row, and it walks again: the leader is
 * alive for others but not reachable from here). An asked successor that
 * does not answer (request_retries sends) is skipped. Since everyone walks
 * the same list in the same order, they reach the same new leader; when the
 * list is exhausted the node walks again from the neighbour groups it knew.
 *
 * Conflicts. Two leaders of one group (a partition healed, a successor
 * skipped by some members) meet through a member that hears from both, a
 * STATE one sends the other, or a GROUP_LINK. The better claim wins: the
 * higher term, then the lower node id (gn_better_leader). The loser steps
 * down: it sends its members a GROUP_LEAVE naming the winner (they follow
 * it) and becomes a member of the winner itself. Members always follow the
 * better claim and tell the worse one about the better.
 *
 * Timers: ka_at (member keepalive and leader-silence check), fo.at (the
 * failover ask), sweep_at and push_at (leader).
 */
#include "groups_int.h"

#include <string.h>

static uint64_t min_ns(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* The member list, its id map and the member view start small and double
 * as the group grows, up to max_members: most nodes are members of small
 * groups, and tables sized for the largest group cost every agent tens of
 * kilobytes (docs/groups.md, "Memory per agent"). */
enum { GN_TABLE_START = 8 };

int gn_intra_init(strata_gnode *g)
{
    size_t cap = g->max_members < GN_TABLE_START ? g->max_members : GN_TABLE_START;
    g->members = strata_mem_calloc(g->alloc, cap, sizeof *g->members);
    if (!g->members)
        goto fail_members;
    g->members_cap = cap;
    g->view = strata_mem_calloc(g->alloc, cap, sizeof *g->view);
    if (!g->view)
        goto fail_view;
    g->view_cap = cap;
    strata_idmap_init(&g->member_map, g->alloc, strata_rng_next(&g->rng));
    if (strata_idmap_reserve(&g->member_map, cap) != 0)
        goto fail_map;
    return 0;

fail_map:
    strata_idmap_free(&g->member_map);
    strata_mem_free(g->alloc, g->view);
fail_view:
    strata_mem_free(g->alloc, g->members);
fail_members:
    return STRATA_ERR_NOMEM;
}

void gn_intra_free(strata_gnode *g)
{
    strata_idmap_free(&g->member_map);
    strata_mem_free(g->alloc, g->view);
    strata_mem_free(g->alloc, g->members);
}

void gn_reset_group(strata_gnode *g)
{
    g->group.v = 0;
    memset(&g->leader, 0, sizeof g->leader);
    g->term = 0;
    g->epoch = 0;
    g->n_members = 0;
    strata_idmap_clear(&g->member_map);
    g->n_succ = 0;
    g->view_n = 0;
    g->n_members_seen = 0;
    memset(&g->fo, 0, sizeof g->fo);
    g->ka_at = STRATA_NEVER;
    g->sweep_at = STRATA_NEVER;
    g->push_at = STRATA_NEVER;
    gn_links_clear(g);
}

void gn_schedule_push(strata_gnode *g, uint64_t now)
{
    g->push_at = min_ns(g->push_at, gn_add_ns(now, STRATA_MS(GN_PUSH_DELAY_MS)));
}

/* --- the leader's member list --------------------------------------------- */

static size_t member_find(const strata_gnode *g, strata_node_id node)
{
    uint32_t i;
    return strata_idmap_get(&g->member_map, node.v, &i) ? i : SIZE_MAX;
}

/* Makes room for n members (n <= max_members): 0, or STRATA_ERR_NOMEM
 * with the tables unchanged. */
static int members_reserve(strata_gnode *g, size_t n)
{
    if (n <= g->members_cap)
        return 0;
    size_t cap = g->members_cap * 2 > n ? g->members_cap * 2 : n;
    if (cap > g->max_members)
        cap = g->max_members;
    if (strata_idmap_reserve(&g->member_map, cap) != 0)
        return STRATA_ERR_NOMEM;
    gn_member *m = strata_mem_realloc(g->alloc, g->members, cap * sizeof *m);
    if (!m)
        return STRATA_ERR_NOMEM;
    g->members = m;
    g->members_cap = cap;
    return 0;
}

/* Makes room for n entries of the member view (n <= max_members), new
 * ones zero; returns the room there is. */
static size_t view_reserve(strata_gnode *g, size_t n)
{
    if (n <= g->view_cap)
        return n;
    size_t cap = g->view_cap * 2 > n ? g->view_cap * 2 : n;
    if (cap > g->max_members)
        cap = g->max_members;
    strata_peer_ref *v = strata_mem_realloc(g->alloc, g->view, cap * sizeof *v);
    if (!v)
        return g->view_cap;
    memset(&v[g->view_cap], 0, (cap - g->view_cap) * sizeof *v);
    g->view = v;
    g->view_cap = cap;
    return n;
}

/* Admits ref (or refreshes it); returns its index or SIZE_MAX when full. */
static size_t member_add(strata_gnode *g, strata_peer_ref ref, uint64_t now)
{
    size_t i = member_find(g, ref.node);
    if (i != SIZE_MAX) {
        g->members[i].ref.addr = ref.addr;
        g->members[i].heard_at = now;
        return i;
    }
    if (g->n_members >= g->max_members || members_reserve(g, g->n_members + 1) != 0) {
        g->st.members_refused_full++;
        return SIZE_MAX;
    }
    i = g->n_members++;
    g->members[i].ref = ref;
    g->members[i].heard_at = now;
    strata_idmap_put(&g->member_map, ref.node.v, (uint32_t)i); /* room reserved */
    g->epoch++;
    gn_schedule_push(g, now);
    return i;
}

static void member_remove(strata_gnode *g, size_t i, uint64_t now)
{
    if (i == 0 || i >= g->n_members)
        return; /* the leader itself stays */
    strata_idmap_del(&g->member_map, g->members[i].ref.node.v);
    memmove(&g->members[i], &g->members[i + 1], (g->n_members - i - 1) * sizeof *g->members);
    g->n_members--;
    for (size_t j = i; j < g->n_members; j++)
        strata_idmap_put(&g->member_map, g->members[j].ref.node.v, (uint32_t)j);
    g->epoch++;
    gn_schedule_push(g, now);
}

static size_t successor_count(const strata_gnode *g)
{
    size_t n = g->n_members > 1 ? g->n_members - 1 : 0;
    return n < g->n_successors ? n : g->n_successors;
}

/* Sends a GROUP_STATE to `to`; with_links for successors. */
static void send_state(strata_gnode *g, strata_peer_ref to, uint32_t reply_id, int with_links)
{
    strata_msg_group_state m;
    memset(&m, 0, sizeof m);
    m.leader = g->node;
    m.group = g->group;
    m.term = g->term;
    m.epoch = g->epoch;
    m.member = to.node;
    m.reply_id = reply_id;
    m.n_members = (uint32_t)g->n_members;
    m.metric = g->metric;
    size_t ns = successor_count(g);
    m.n_successors = (uint8_t)ns;
    for (size_t i = 0; i < ns; i++)
        m.successors[i] = g->members[i + 1].ref;
    if (with_links)
        m.n_neighbours = gn_links_export(g, m.neighbours, STRATA_WIRE_MAX_GROUP_NEIGHBOURS);
    size_t room = strata_wire_group_state_max_page(m.n_successors, m.n_neighbours);
    if (g->page_next >= g->n_members)
        g->page_next = 0;
    size_t np = g->n_members - g->page_next;
    if (np > room)
        np = room;
    m.page_offset = (uint32_t)g->page_next;
    m.n_page = (uint8_t)np;
    for (size_t i = 0; i < np; i++)
        m.page[i] = g->members[g->page_next + i].ref;
    g->page_next += np;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    gn_send(g, to.addr, buf, strata_wire_encode_group_state(buf, sizeof buf, &m));
}

static void send_state_to_member(strata_gnode *g, size_t i, uint32_t reply_id)
{
    send_state(g, g->members[i].ref, reply_id, i >= 1 && i <= successor_count(g));
}

/* After a change: the successors always get the new state (they may have
 * to lead); everyone else only when the leadership list itself changed,
 * since that is what a member needs to fail over, and the rest of the list
 * reaches it with the answer to its next keepalive. A group of thousands
 * thus does not send thousands of states per admission. */
static void push(strata_gnode *g)
{
    size_t ns = successor_count(g);
    int changed = ns != g->n_pushed_succ;
    for (size_t i = 0; i < ns && !changed; i++)
        changed = g->pushed_succ[i].v != g->members[i + 1].ref.node.v;
    size_t upto = changed ? g->n_members : ns + 1;
    for (size_t i = 1; i < upto; i++)
        send_state_to_member(g, i, 0);
    if (changed) {
        for (size_t i = 0; i < ns; i++)
            g->pushed_succ[i] = g->members[i + 1].ref.node;
        g->n_pushed_succ = ns;
    }
}

static void send_leave(strata_gnode *g, strata_addr to, strata_group_id next_group,
                       strata_peer_ref next_leader)
{
    strata_msg_group_leave m = {.node = g->node,
                                .group = g->group,
                                .term = g->term,
                                .next_group = next_group,
                                .next_leader = next_leader};
    uint8_t buf[64];
    gn_send(g, to, buf, strata_wire_encode_group_leave(buf, sizeof buf, &m));
}

static void send_keepalive(strata_gnode *g, strata_addr to, uint8_t flags, strata_node_id lost,
                           uint32_t seq)
{
    strata_msg_group_keepalive m = {.node = g->node,
                                    .group = g->group,
                                    .term = g->term,
                                    .seq = seq,
                                    .flags = flags,
                                    .lost_leader = lost};
    uint8_t buf[64];
    gn_send(g, to, buf, strata_wire_encode_group_keepalive(buf, sizeof buf, &m));
}

/* --- becoming leader or member -------------------------------------------- */

void gn_become_leader(strata_gnode *g, strata_group_id group, uint32_t term, uint64_t now)
{
    int takeover = g->state == STRATA_GNODE_MEMBER && g->group.v == group.v;
    strata_node_id old = g->leader.node;
    g->state = STRATA_GNODE_LEADER;
    g->group = group;
    g->term = term;
    g->epoch = 1;
    g->leader = (strata_peer_ref){g->node, g->addr};
    g->n_members = 0;
    strata_idmap_clear(&g->member_map);
    member_add(g, g->leader, now);
    if (takeover) {
        /* The replica becomes the cache: successors first (they are the
         * front of the list anyway), then the rest in the order last seen.
         * Everyone gets a fresh timeout to show it is alive. */
        for (size_t i = 0; i < g->n_succ; i++) {
            if (g->succ[i].node.v != old.v && g->succ[i].node.v != g->node.v)
                member_add(g, g->succ[i], now);
        }
        for (size_t i = 0; i < g->view_n; i++) {
            if (g->view[i].node.v && g->view[i].node.v != old.v && g->view[i].node.v != g->node.v)
                member_add(g, g->view[i], now);
        }
    }
    g->n_succ = 0;
    g->view_n = 0;
    memset(&g->fo, 0, sizeof g->fo);
    g->ka_at = STRATA_NEVER;
    g->sweep_at = gn_add_ns(now, g->keepalive_ns);
    g->push_at = now;
    g->page_next = 0;
    g->n_pushed_succ = 0;
    if (takeover)
        g->st.takeovers++;
    gn_links_activate(g, now);
}

/* Takes a STATE from our leader into the replica. */
static void apply_state(strata_gnode *g, const strata_msg_group_state *m, strata_addr from,
                        uint64_t now)
{
    g->leader = (strata_peer_ref){m->leader, from};
    g->term = m->term;
    g->epoch = m->epoch;
    g->n_members_seen = m->n_members;
    g->n_succ = m->n_successors;
    int successor = 0;
    for (size_t i = 0; i < m->n_successors; i++) {
        g->succ[i] = m->successors[i];
        successor |= m->successors[i].node.v == g->node.v;
    }
    size_t vn = m->n_members < g->max_members ? m->n_members : g->max_members;
    vn = view_reserve(g, vn);
    if (vn < g->view_n)
        memset(&g->view[vn], 0, (g->view_n - vn) * sizeof *g->view);
    g->view_n = vn;
    for (size_t i = 0; i < m->n_page; i++) {
        size_t at = (size_t)m->page_offset + i;
        if (at < g->view_n)
            g->view[at] = m->page[i];
    }
    if (m->n_neighbours)
        gn_links_import(g, m->neighbours, m->n_neighbours, now);
    else if (!successor)
        gn_links_clear(g);
    g->heard_leader_at = now;
    g->fo.active = 0;
    g->fo.rounds = 0;
}

void gn_become_member(strata_gnode *g, const strata_msg_group_state *m, strata_addr from,
                      uint64_t now)
{
    gn_reset_group(g);
    g->state = STRATA_GNODE_MEMBER;
    g->group = m->group;
    apply_state(g, m, from, now);
    g->ka_seq = 0;
    g->ka_at = gn_add_ns(now, g->keepalive_ns);
}

/* Switches a member to another leader of its group. */
static void follow(strata_gnode *g, strata_peer_ref leader, uint32_t term, uint64_t now)
{
    int changed = leader.node.v != g->leader.node.v;
    g->leader = leader;
    g->term = term;
    g->heard_leader_at = now;
    g->fo.active = 0;
    g->ka_at = now; /* say hello at once */
    if (changed)
        gn_emit(g, STRATA_GNODE_LEADER_CHANGED);
}

void gn_step_down(strata_gnode *g, strata_peer_ref winner, uint32_t term, uint64_t now)
{
    /* Our members follow the winner; the winner keeps its own links. */
    for (size_t i = 1; i < g->n_members; i++) {
        if (g->members[i].ref.node.v != winner.node.v)
            send_leave(g, g->members[i].ref.addr, g->group, winner);
    }
    strata_group_id group = g->group;
    gn_reset_group(g);
    g->state = STRATA_GNODE_MEMBER;
    g->group = group;
    g->leader = winner;
    g->term = term;
    g->heard_leader_at = now;
    g->ka_at = now;
    g->st.stepped_down++;
    gn_emit(g, STRATA_GNODE_STEPPED_DOWN);
}

static void take_over(strata_gnode *g, uint32_t term, uint64_t now)
{
    gn_become_leader(g, g->group, term + 1, now);
    gn_emit(g, STRATA_GNODE_TOOK_OVER);
}

static void lose_group(strata_gnode *g, uint64_t now)
{
    g->st.lost++;
    /* The walk reads the links and bootstrap refs before the group goes. */
    gn_walk_from_known(g, now);
    gn_emit(g, STRATA_GNODE_LOST);
}

/* --- failover (member) ----------------------------------------------------- */

static void fo_ask(strata_gnode *g, uint64_t now)
{
    gn_failover *fo = &g->fo;
    const strata_peer_ref *c = &g->succ[fo->idx];
    uint8_t flags = STRATA_GROUP_KA_TAKEOVER | (fo->left ? STRATA_GROUP_KA_LEFT : 0);
    send_keepalive(g, c->addr, flags, fo->lost, fo->seq);
    fo->at = gn_add_ns(now, g->request_timeout_ns);
    g->st.requests_sent++;
}

/* Asks the next successor in list order, or takes over when it is our turn. */
static void fo_next(strata_gnode *g, uint64_t now)
{
    gn_failover *fo = &g->fo;
    while (fo->idx < g->n_succ) {
        const strata_peer_ref *c = &g->succ[fo->idx];
        if (c->node.v == fo->lost.v) {
            fo->idx++;
            continue;
        }
        if (c->node.v == g->node.v) {
            take_over(g, g->term, now);
            return;
        }
        fo->seq = ++g->ka_seq;
        fo->sends = 1;
        fo_ask(g, now);
        return;
    }
    lose_group(g, now);
}

static void fo_start(strata_gnode *g, int left, uint64_t now)
{
    gn_failover *fo = &g->fo;
    uint32_t rounds = fo->rounds;
    memset(fo, 0, sizeof *fo);
    fo->active = 1;
    fo->rounds = rounds;
    fo->lost = g->leader.node;
    fo->left = left;
    fo_next(g, now);
}

static void fo_timeout(strata_gnode *g, uint64_t now)
{
    gn_failover *fo = &g->fo;
    if (fo->sends < g->request_retries) {
        fo->sends++;
        fo_ask(g, now);
        return;
    }
    g->st.request_timeouts++;
    fo->idx++;
    fo_next(g, now);
}

/* --- messages ---------------------------------------------------------------- */

int gn_on_join(strata_gnode *g, strata_addr from, const strata_msg_group_join *m, uint64_t now)
{
    if (g->state != STRATA_GNODE_LEADER || m->group.v != g->group.v) {
        gn_send_info(g, from, m->join_id);
        return 0;
    }
    size_t i = member_add(g, (strata_peer_ref){m->node, from}, now);
    if (i == SIZE_MAX) {
        gn_send_info(g, from, m->join_id); /* FULL */
        return 0;
    }
    send_state_to_member(g, i, m->join_id);
    return 0;
}

int gn_on_keepalive(strata_gnode *g, strata_addr from, const strata_msg_group_keepalive *m,
                    uint64_t now)
{
    if (m->group.v != g->group.v ||
        (g->state != STRATA_GNODE_LEADER && g->state != STRATA_GNODE_MEMBER)) {
        gn_send_info(g, from, m->seq);
        return 0;
    }
    if (g->state == STRATA_GNODE_MEMBER) {
        if (!(m->flags & STRATA_GROUP_KA_TAKEOVER) || m->lost_leader.v != g->leader.node.v) {
            /* Not for us to lead: name the leader we follow. */
            gn_send_info(g, from, m->seq);
            return 0;
        }
        uint64_t quiet = now - g->heard_leader_at;
        int stale =
            quiet >= 2 * g->keepalive_ns || (m->flags & STRATA_GROUP_KA_LEFT) || g->fo.active;
        if (!stale) {
            gn_send_info(g, from, m->seq);
            return 0;
        }
        take_over(g, m->term > g->term ? m->term : g->term, now);
    }
    size_t i = member_add(g, (strata_peer_ref){m->node, from}, now);
    if (i == SIZE_MAX) {
        gn_send_info(g, from, m->seq); /* FULL: it will walk elsewhere */
        return 0;
    }
    send_state_to_member(g, i, m->seq);
    return 0;
}

int gn_on_state(strata_gnode *g, strata_addr from, const strata_msg_group_state *m, uint64_t now)
{
    if (m->group.v != g->group.v)
        return STRATA_ERR_UNEXPECTED;
    if (g->state == STRATA_GNODE_MEMBER) {
        if (m->leader.v == g->leader.node.v) {
            if (m->term < g->term)
                return 0; /* an old one overtaken */
            apply_state(g, m, from, now);
            return 0;
        }
        if (gn_better_leader(m->term, m->leader, g->term, g->leader.node)) {
            strata_peer_ref l = {m->leader, from};
            follow(g, l, m->term, now);
            apply_state(g, m, from, now);
            return 0;
        }
        /* A worse claim: tell it whom we follow. */
        gn_send_info(g, from, 0);
        return 0;
    }
    if (g->state != STRATA_GNODE_LEADER || m->leader.v == g->node.v)
        return STRATA_ERR_UNEXPECTED;
    /* Another leader of our group takes us for its member. */
    if (gn_better_leader(m->term, m->leader, g->term, g->node)) {
        gn_step_down(g, (strata_peer_ref){m->leader, from}, m->term, now);
        apply_state(g, m, from, now);
    } else {
        send_state(g, (strata_peer_ref){m->leader, from}, 0, 0);
    }
    return 0;
}

int gn_on_leave_intra(strata_gnode *g, strata_addr from, const strata_msg_group_leave *m,
                      uint64_t now)
{
    (void)from;
    if (g->state == STRATA_GNODE_LEADER) {
        size_t i = member_find(g, m->node);
        if (i == SIZE_MAX)
            return 0;
        member_remove(g, i, now);
        return 0;
    }
    if (g->state != STRATA_GNODE_MEMBER)
        return STRATA_ERR_UNEXPECTED;
    if (m->node.v != g->leader.node.v) {
        /* Another member leaves; forget it in the replica. */
        for (size_t i = 0; i < g->view_n; i++) {
            if (g->view[i].node.v == m->node.v)
                memset(&g->view[i], 0, sizeof g->view[i]);
        }
        return 0;
    }
    if (m->next_group.v == 0) {
        lose_group(g, now);
        return 0;
    }
    if (m->next_group.v != g->group.v) {
        /* The group merged into another one: join it without a test. */
        g->st.lost++;
        gn_walk_direct(g, m->next_group, m->next_leader, now);
        return 0;
    }
    /* A handover: the named successor leads now. */
    if (m->next_leader.node.v == g->node.v) {
        take_over(g, m->term > g->term ? m->term : g->term, now);
        return 0;
    }
    strata_node_id old = g->leader.node;
    g->leader = m->next_leader;
    g->heard_leader_at = now;
    /* Ask it at once, flagged as a handover in case our LEAVE reached it
     * before its own; the failover list goes on from there. */
    memset(&g->fo, 0, sizeof g->fo);
    g->fo.active = 1;
    g->fo.lost = old;
    g->fo.left = 1;
    g->fo.idx = g->n_succ; /* after this ask, give up (walk) rather than loop */
    for (size_t i = 0; i < g->n_succ; i++) {
        if (g->succ[i].node.v == m->next_leader.node.v)
            g->fo.idx = i;
    }
    if (g->fo.idx == g->n_succ && g->n_succ < STRATA_WIRE_MAX_GROUP_SUCCESSORS) {
        g->succ[g->n_succ++] = m->next_leader;
    }
    if (g->fo.idx >= g->n_succ) {
        lose_group(g, now);
        return 0;
    }
    g->fo.seq = ++g->ka_seq;
    g->fo.sends = 1;
    fo_ask(g, now);
    return 0;
}

int gn_on_info_intra(strata_gnode *g, strata_addr from, const strata_msg_group_info *m,
                     uint64_t now)
{
    if (m->group.v != g->group.v || m->status == STRATA_GROUP_INFO_NO_GROUP) {
        /* The answer of a successor that is no longer in our group. */
        if (g->state == STRATA_GNODE_MEMBER && g->fo.active && m->query_id == g->fo.seq) {
            g->fo.idx++;
            fo_next(g, now);
            return 0;
        }
        return STRATA_ERR_UNEXPECTED;
    }
    strata_peer_ref named = m->leader; /* the leader the sender knows */
    if (g->state == STRATA_GNODE_MEMBER) {
        if (g->fo.active && m->query_id == g->fo.seq) {
            if (named.node.v == g->fo.lost.v) {
                /* It still hears the leader: give the leader another
                 * timeout; twice in a row and we look elsewhere. */
                if (++g->fo.rounds >= 2) {
                    lose_group(g, now);
                    return 0;
                }
                g->leader = named;
                g->fo.active = 0;
                g->heard_leader_at = now;
                g->ka_at = now;
                return 0;
            }
            if (named.node.v == g->node.v)
                return STRATA_ERR_UNEXPECTED;
            follow(g, named, m->term, now);
            return 0;
        }
        if (named.node.v != g->leader.node.v && named.node.v != g->node.v &&
            gn_better_leader(m->term, named.node, g->term, g->leader.node)) {
            follow(g, named, m->term, now);
            return 0;
        }
        return STRATA_ERR_UNEXPECTED;
    }
    if (g->state != STRATA_GNODE_LEADER || named.node.v == g->node.v)
        return STRATA_ERR_UNEXPECTED;
    /* Someone names another leader of our group. */
    if (gn_better_leader(m->term, named.node, g->term, g->node))
        gn_step_down(g, named, m->term, now);
    else
        send_state(g, named, 0, 0);
    (void)from;
    return 0;
}

/* --- timers -------------------------------------------------------------------- */

void gn_intra_timeout(strata_gnode *g, uint64_t now)
{
    if (g->state == STRATA_GNODE_MEMBER) {
        if (g->fo.active) {
            if (now >= g->fo.at)
                fo_timeout(g, now);
            return;
        }
        if (now < g->ka_at)
            return;
        if (now - g->heard_leader_at >= g->leader_timeout_ns) {
            g->st.leader_timeouts++;
            fo_start(g, 0, now);
            return;
        }
        send_keepalive(g, g->leader.addr, 0, (strata_node_id){0}, ++g->ka_seq);
        g->ka_at = gn_add_ns(now, g->keepalive_ns);
        return;
    }
    if (g->state != STRATA_GNODE_LEADER)
        return;
    if (now >= g->sweep_at) {
        for (size_t i = g->n_members; i-- > 1;) {
            if (now - g->members[i].heard_at >= g->member_timeout_ns) {
                g->st.member_timeouts++;
                member_remove(g, i, now);
            }
        }
        g->sweep_at = gn_add_ns(now, g->keepalive_ns);
    }
    if (now >= g->push_at) {
        push(g);
        g->push_at = STRATA_NEVER;
    }
}

uint64_t gn_intra_next(const strata_gnode *g)
{
    if (g->state == STRATA_GNODE_MEMBER)
        return g->fo.active ? g->fo.at : g->ka_at;
    if (g->state == STRATA_GNODE_LEADER)
        return min_ns(g->sweep_at, g->push_at);
    return STRATA_NEVER;
}

void gn_leave_intra(strata_gnode *g, uint64_t now)
{
    (void)now;
    if (g->state == STRATA_GNODE_MEMBER) {
        send_leave(g, g->leader.addr, (strata_group_id){0}, (strata_peer_ref){{0}, {0, 0}});
        return;
    }
    if (g->state != STRATA_GNODE_LEADER)
        return;
    if (g->n_members > 1) {
        strata_peer_ref next = g->members[1].ref;
        for (size_t i = 1; i < g->n_members; i++)
            send_leave(g, g->members[i].ref.addr, g->group, next);
        gn_links_announce_leave(g, g->group, next);
    } else {
        gn_links_announce_leave(g, (strata_group_id){0}, (strata_peer_ref){{0}, {0, 0}});
    }
}
