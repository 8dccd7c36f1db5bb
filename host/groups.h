/*
 * What a daemon shows of its node's locality group (SPEC L1-L11): the
 * group agent and its bootstrap client are roles of the node
 * (strata/node.h); this logs the agent's events and writes the group's
 * part of the daemon's JSON status.
 */
#ifndef STRATA_HOST_GROUPS_H
#define STRATA_HOST_GROUPS_H

#include "host.h"

typedef struct host_groups {
    const strata_log *log;
    uint64_t events; /* the agent's group, leader or state changed */
} host_groups;

void host_groups_init(host_groups *hg, const strata_log *log);
/* The node's on_group callback (strata_node_callbacks): logs the event. */
void host_groups_on_event(void *user, const strata_gnode_event *ev);
/* Appends `"group":{...}` (state, id, leader, term, distance to the leader,
 * members, walk cost, bootstrap) for the node's agent to a JSON object
 * being written: returns the bytes written (0 when it does not fit or the
 * node runs no agent). */
size_t host_groups_status_json(const host_groups *hg, const strata_node *node, char *buf,
                               size_t buflen, uint64_t now);

#endif
