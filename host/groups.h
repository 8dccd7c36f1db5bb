/*
 * The locality groups in a daemon (SPEC L1-L11, protocol.md 3.8, 3.9, 7):
 * the node's group agent (strata_gnode) and its bootstrap client
 * (strata_gclient), two cores on the daemon's socket next to its peer.
 *
 * Routing (host.h's mux): GROUP_BOOTSTRAP_REPLY goes to the client; PROBE,
 * PROBE_REPLY and the group messages (types 10-18) go to the agent, which
 * answers probes for the node as the peer would (same node id). The agent
 * gets each datagram's received IP TTL, which the HOPS metric uses.
 *
 * Glue: the client's bootstrap leaders go to strata_gnode_bootstrap; after
 * every core call (host_groups_update) the client learns whether the agent
 * leads a group, which it reports to the control center.
 */
#ifndef STRATA_HOST_GROUPS_H
#define STRATA_HOST_GROUPS_H

#include "host.h"
#include "strata/group_client.h"
#include "strata/groups.h"

typedef struct host_groups {
    strata_gnode *gnode;
    strata_gclient *gclient;
    const strata_log *log;
    uint64_t started_ns;
    strata_group_id first_group; /* the first group the agent was in; 0 before */
    uint64_t first_group_ns;
    uint64_t events;
} host_groups;

/* Creates the agent (gcfg: node, addr, seed, metric, thresholds, log) and
 * the client asking control, and adds both to n (which may be running).
 * Returns 0 or -1 (bad configuration, out of memory, no room on n). */
int host_groups_start(host_groups *hg, host_node *n, const strata_gnode_config *gcfg,
                      strata_addr control, uint64_t now);
/* Tells the client what the agent is now; call after every core call. */
void host_groups_update(host_groups *hg, uint64_t now);
/* The agent's group, or 0 while it is in none. */
strata_group_id host_groups_group(const host_groups *hg);
/* Leaves the group on purpose (a leader hands over; protocol.md 7.4). */
void host_groups_leave(host_groups *hg, uint64_t now);
/* Appends `"group":{...}` (state, id, leader, term, distance to the leader,
 * members, walk cost, bootstrap) to a JSON object being written: returns
 * the bytes written (0 when it does not fit). */
size_t host_groups_status_json(const host_groups *hg, char *buf, size_t buflen, uint64_t now);
void host_groups_free(host_groups *hg);

#endif
