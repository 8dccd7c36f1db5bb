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
#include "strata/peer.h"
#include "strata/source.h"

enum {
    /* Room for one scrape of any daemon; the text is a few KB today. */
    HOST_METRICS_MAX_BYTES = 65536,
};

/* Each writes the metrics of one daemon into buf (at most buflen bytes,
 * NUL-terminated) and returns the length, or 0 when buf is too small. */
size_t host_metrics_control(char *buf, size_t buflen, const strata_control_status *st,
                            const strata_cgroups_stats *groups);
/* st == NULL: the peer has not joined the channel yet (counters read 0,
 * strata_peer_state -1). */
size_t host_metrics_peer(char *buf, size_t buflen, const strata_peer_stats *st,
                         size_t http_clients);
size_t host_metrics_source(char *buf, size_t buflen, const strata_source_stats *st);

#endif
