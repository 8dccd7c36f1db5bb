/*
 * Prometheus metrics of the daemons (`GET /metrics`, text exposition
 * format 0.0.4), written from the status structs the cores already keep.
 *
 * Naming: `strata_<role>_<what>` in base units (bytes, seconds), counters
 * end in `_total`, ratios are 0..1, labels only for a small fixed set of
 * values (a drop reason, a tier) and never per peer. The control center's
 * counters add up the latest heartbeat of every node it has known, so they
 * describe the whole overlay; a peer's describe that peer. docs/metrics.md
 * lists every metric beside the JSON status field it matches.
 */
#ifndef STRATA_HOST_METRICS_H
#define STRATA_HOST_METRICS_H

#include <stddef.h>

#include "strata/control.h"
#include "strata/control_groups.h"
#include "strata/node.h"
#include "strata/peer.h"
#include "strata/source.h"

enum {
    /* Room for one scrape of any daemon: a few KB, and about 600 bytes per
     * channel of the control center's census. */
    HOST_METRICS_MAX_BYTES = 262144,
};

/* Each writes the metrics of one daemon into buf (at most buflen bytes,
 * NUL-terminated) and returns the length, or 0 when buf is too small. */

/* The control center: its status, its group directory's (groups may be
 * NULL), the HEARTBEAT datagrams it took (counted by the host, host_node),
 * and its memberships (strata_control_topology) for the census of nodes
 * per channel and tier: "source", "head" (a region's head, in the
 * backbone), "member" (of its region's trees) and "relay" (recruited). */
size_t host_metrics_control(char *buf, size_t buflen, const strata_control_status *st,
                            const strata_cgroups_stats *groups, uint64_t heartbeats,
                            const strata_control_entry *members, size_t nmembers);
/* One session of a peer: a channel it watches or relays. */
typedef struct host_metrics_channel {
    const char *name;            /* the channel's name: any bytes, escaped here */
    const strata_peer_stats *st; /* NULL: not in the channel yet (counters 0, state -1) */
} host_metrics_channel;

/* The peer's per-channel figures carry a channel label (a node is in a
 * few channels at most); its drops are one family over every channel and
 * the node itself (node_drops, may be NULL). */
size_t host_metrics_peer(char *buf, size_t buflen, const host_metrics_channel *ch, size_t nch,
                         const strata_drop_counters *node_drops, size_t http_clients);
size_t host_metrics_source(char *buf, size_t buflen, const strata_source_stats *st);

/* Appends the node's anti-amplification counters (docs/security.md,
 * "Amplification") to a page of len bytes already in buf, as
 * strata_<role>_...: addresses verified, challenges sent, JOINs held (the
 * control center's), answers withheld by the request type they answered
 * and their bytes. Returns the new length, or 0 when it does not fit. */
size_t host_metrics_append_node(char *buf, size_t buflen, size_t len, const char *role,
                                const strata_node_stats *ns);

/* For the JSON status (host_status_appendf's rules for buf, buflen and
 * *off): the drops of n counter sets (NULL ones skipped) summed by reason,
 * as an object {"short":N, ..., "other":N} with the reasons of /metrics;
 * and the control center's JOIN refusals by reason. */
void host_json_drops(char *buf, size_t buflen, size_t *off, const strata_drop_counters *const *sets,
                     size_t n);
void host_json_refusals(char *buf, size_t buflen, size_t *off, const strata_control_status *st);
/* The node's anti-amplification counters as an object. */
void host_json_amplification(char *buf, size_t buflen, size_t *off, const strata_node_stats *ns);

#endif
