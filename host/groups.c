/*
 * What a daemon shows of its node's locality group. See groups.h.
 */
#include "groups.h"

#include "status_file.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { HOST_GROUPS_STATUS_MEMBERS = 64 }; /* member ids listed in the status */

static const char *reason_name(int reason)
{
    static const char *const names[] = {"?",         "joined",         "founded",
                                        "took over", "leader changed", "stepped down",
                                        "lost",      "moved",          "left"};
    return reason >= 0 && reason <= STRATA_GNODE_LEFT_GROUP ? names[reason] : "?";
}

void host_groups_init(host_groups *hg, const strata_log *log)
{
    memset(hg, 0, sizeof *hg);
    hg->log = log;
}

void host_groups_on_event(void *user, const strata_gnode_event *ev)
{
    host_groups *hg = user;
    hg->events++;
    strata_logf(hg->log, STRATA_LOG_DEBUG,
                "groups: %s: group %016" PRIx64 " leader %016" PRIx64 " term %u (%u probes)",
                reason_name(ev->reason), ev->group.v, ev->leader.node.v, ev->term, ev->join_probes);
}

size_t host_groups_status_json(const host_groups *hg, const strata_node *node, char *buf,
                               size_t buflen, uint64_t now)
{
    const strata_gnode *g = strata_node_gnode(node);
    if (!g)
        return 0;
    strata_gnode_stats st;
    strata_gnode_get_stats(g, &st);
    strata_gclient_stats cs;
    memset(&cs, 0, sizeof cs);
    if (strata_node_gclient(node))
        strata_gclient_get_stats(strata_node_gclient(node), &cs);
    strata_peer_ref leader = strata_gnode_leader(g);
    uint32_t dist = STRATA_GROUP_DISTANCE_UNKNOWN;
    uint64_t age = 0;
    long long leader_distance = -1; /* metric units; -1 = not measured (or self) */
    if (leader.node.v != 0 && strata_gnode_state(g) == STRATA_GNODE_MEMBER &&
        strata_gnode_distance(g, leader.node, now, &dist, &age) &&
        dist != STRATA_GROUP_DISTANCE_UNKNOWN)
        leader_distance = dist;
    strata_peer_ref members[HOST_GROUPS_STATUS_MEMBERS];
    size_t n_members = strata_gnode_members(g, members, HOST_GROUPS_STATUS_MEMBERS);
    char a[32];
    size_t off = 0;
    host_status_appendf(buf, buflen, &off,
        ",\"group\":{\"state\":%d,\"id\":\"%016" PRIx64 "\",\"leader\":\"%016" PRIx64
        "\",\"leader_addr\":\"%s\",\"term\":%u,\"leader_distance\":%lld,\"members\":%zu,"
        "\"join_probes\":%u,\"join_ms\":%.1f,\"bootstrap_leaders\":%d,\"probes_sent\":%" PRIu64
        ",\"events\":%" PRIu64 ",\"dropped_datagrams\":%" PRIu64 ",\"member_ids\":[",
        strata_gnode_state(g), strata_gnode_group(g).v, leader.node.v,
        strata_addr_format(leader.addr, a, sizeof a), strata_gnode_term(g), leader_distance,
        n_members, st.last_join_probes, (double)st.last_join_ns / 1e6,
        cs.bootstrapped ? (int)cs.bootstrap_leaders : -1, st.probes_sent, hg->events,
        st.drops.total + cs.drops.total);
    for (size_t i = 0; i < n_members && i < HOST_GROUPS_STATUS_MEMBERS; i++)
        host_status_appendf(buf, buflen, &off, "%s\"%016" PRIx64 "\"", i ? "," : "", members[i].node.v);
    host_status_appendf(buf, buflen, &off, "]}");
    return off < buflen ? off : 0;
}
