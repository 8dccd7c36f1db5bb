/*
 * The group agent and its bootstrap client in a daemon. See groups.h.
 */
#include "groups.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

HOST_CORE_OPS_TTL(gnode_ops, gnode, strata_gnode);
HOST_CORE_OPS(gclient_ops, gclient, strata_gclient);

enum { HOST_GROUPS_STATUS_MEMBERS = 64 }; /* member ids listed in the status */

static int gnode_takes(int type)
{
    return type == STRATA_MSG_PROBE || type == STRATA_MSG_PROBE_REPLY ||
           (type >= STRATA_MSG_GROUP_QUERY && type <= STRATA_MSG_GROUP_PONG);
}

static int gclient_takes(int type)
{
    return type == STRATA_MSG_GROUP_BOOTSTRAP_REPLY;
}

static void on_bootstrap(void *user, const strata_peer_ref *leaders, size_t n)
{
    host_groups *hg = user;
    strata_logf(hg->log, STRATA_LOG_INFO, "groups: %zu bootstrap leader%s from the control center",
                n, n == 1 ? "" : "s");
    strata_gnode_bootstrap(hg->gnode, leaders, n, host_now_ns());
}

/* The walk found no group: one more look at the control center's leaders
 * before it founds one (strata_gnode_callbacks). The answer comes back
 * through on_bootstrap like the first one. */
static void on_want_leaders(void *user)
{
    host_groups *hg = user;
    if (hg->gclient)
        strata_gclient_ask(hg->gclient, host_now_ns());
}

static const char *reason_name(int reason)
{
    static const char *const names[] = {"?",         "joined",         "founded",
                                        "took over", "leader changed", "stepped down",
                                        "lost",      "moved",          "left"};
    return reason >= 0 && reason <= STRATA_GNODE_LEFT_GROUP ? names[reason] : "?";
}

static void on_group(void *user, const strata_gnode_event *ev)
{
    host_groups *hg = user;
    hg->events++;
    if (ev->group.v != 0 && hg->first_group.v == 0) {
        hg->first_group = ev->group;
        hg->first_group_ns = host_now_ns();
    }
    strata_logf(hg->log, STRATA_LOG_DEBUG,
                "groups: %s: group %016" PRIx64 " leader %016" PRIx64 " term %u (%u probes)",
                reason_name(ev->reason), ev->group.v, ev->leader.node.v, ev->term, ev->join_probes);
}

int host_groups_start(host_groups *hg, host_node *n, const strata_gnode_config *gcfg,
                      strata_addr control, uint64_t now)
{
    memset(hg, 0, sizeof *hg);
    hg->log = gcfg->log;
    hg->started_ns = now;
    strata_gnode_callbacks gcb = {on_group, hg, on_want_leaders};
    hg->gnode = strata_gnode_new(gcfg, &gcb, NULL, now);
    if (!hg->gnode)
        return -1;
    strata_gclient_config ccfg = {.node = gcfg->node,
                                  .control = control,
                                  .seed = gcfg->seed ^ 0x626f6f74ull,
                                  .log = gcfg->log};
    strata_gclient_callbacks ccb = {on_bootstrap, hg};
    hg->gclient = strata_gclient_new(&ccfg, &ccb, NULL, now);
    if (!hg->gclient || host_node_add_core(n, &gclient_ops, hg->gclient, gclient_takes) < 0 ||
        host_node_add_core(n, &gnode_ops, hg->gnode, gnode_takes) < 0) {
        host_groups_free(hg);
        return -1;
    }
    return 0;
}

void host_groups_update(host_groups *hg, uint64_t now)
{
    if (!hg->gnode)
        return;
    int leading = strata_gnode_state(hg->gnode) == STRATA_GNODE_LEADER;
    size_t members = leading ? strata_gnode_members(hg->gnode, NULL, 0) : 0;
    strata_gclient_update(hg->gclient, leading, strata_gnode_group(hg->gnode),
                          strata_gnode_term(hg->gnode),
                          members > UINT32_MAX ? UINT32_MAX : (uint32_t)members, now);
}

strata_group_id host_groups_group(const host_groups *hg)
{
    return hg->gnode ? strata_gnode_group(hg->gnode) : (strata_group_id){0};
}

void host_groups_leave(host_groups *hg, uint64_t now)
{
    if (!hg->gnode)
        return;
    strata_gnode_leave(hg->gnode, now);
    strata_gclient_update(hg->gclient, 0, (strata_group_id){0}, 0, 0, now);
}

/* Appends printf output at *off; sets *off past buflen when it does not fit. */
static void put(char *buf, size_t buflen, size_t *off, const char *fmt, ...) STRATA_PRINTF(4, 5);

static void put(char *buf, size_t buflen, size_t *off, const char *fmt, ...)
{
    if (*off >= buflen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, buflen - *off, fmt, ap);
    va_end(ap);
    *off = n < 0 ? buflen : *off + (size_t)n;
}

size_t host_groups_status_json(const host_groups *hg, char *buf, size_t buflen, uint64_t now)
{
    if (!hg->gnode)
        return 0;
    const strata_gnode *g = hg->gnode;
    strata_gnode_stats st;
    strata_gnode_get_stats(g, &st);
    strata_gclient_stats cs;
    strata_gclient_get_stats(hg->gclient, &cs);
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
    put(buf, buflen, &off,
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
        put(buf, buflen, &off, "%s\"%016" PRIx64 "\"", i ? "," : "", members[i].node.v);
    put(buf, buflen, &off, "]}");
    return off < buflen ? off : 0;
}

void host_groups_free(host_groups *hg)
{
    strata_gclient_del(hg->gclient);
    strata_gnode_del(hg->gnode);
    hg->gclient = NULL;
    hg->gnode = NULL;
}
