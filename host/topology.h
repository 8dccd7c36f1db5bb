/*
 * The control center's live topology (SPEC P6, issue 12 item 3): GET
 * /topology.json is every membership the control center holds (its
 * region, tree parents, address, upload share and latest heartbeat
 * counters) beside the JSON status; GET / is a page (host/www/topology.html,
 * compiled into the binary) that polls it every second and draws regions,
 * DCMs and trees with no asset from outside.
 */
#ifndef STRATA_HOST_TOPOLOGY_H
#define STRATA_HOST_TOPOLOGY_H

#include <stddef.h>

#include "strata/control.h"

/* The page's bytes, generated from host/www/topology.html at build time. */
extern const unsigned char host_topology_html[];
extern const size_t host_topology_html_len;

/* A copy of the page, allocated with malloc (for host_http_add_page). */
char *host_topology_page(void *user, size_t *len);

/* The topology document: {"status":STATUS,"members":[...]} where STATUS is
 * the JSON object status_json (one object, a trailing newline allowed) and
 * each member is one strata_control_entry (docs/metrics.md, "Topology").
 * Strings that come from the network (region labels, channel names) are
 * escaped. Returns a malloc'd text, its length in *len, or NULL without
 * memory. */
char *host_topology_json(const strata_control *c, const char *status_json, size_t *len);

#endif
