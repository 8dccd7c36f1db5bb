/*
 * The topology document and page; see topology.h. The document is built in
 * one buffer sized from the membership count (each member's line has a
 * bound: its strings are at most 64 and 32 bytes, six bytes each escaped),
 * so nothing is truncated.
 */
#include "topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "status_file.h"
#include "strata/tree.h"

enum {
    /* A member's object at most: fixed fields (~340 bytes), 16 parents of
     * 19 bytes, a channel name and a region label escaped (6 bytes a byte). */
    TOPOLOGY_MEMBER_MAX_BYTES = 360 + STRATA_WIRE_MAX_SUBSTREAMS * 20 +
                                6 * (STRATA_WIRE_MAX_NAME_BYTES + STRATA_WIRE_MAX_REGION_BYTES),
};

char *host_topology_page(void *user, size_t *len)
{
    (void)user;
    char *p = malloc(host_topology_html_len);
    if (!p)
        return NULL;
    memcpy(p, host_topology_html, host_topology_html_len);
    *len = host_topology_html_len;
    return p;
}

static const char *role_name(uint8_t role)
{
    switch (role) {
    case STRATA_ROLE_SOURCE:
        return "source";
    case STRATA_ROLE_RELAY:
        return "relay";
    case STRATA_ROLE_WAYPOINT:
        return "waypoint";
    default:
        return "peer";
    }
}

char *host_topology_json(const strata_control *c, const char *status_json, size_t *len)
{
    size_t n = strata_control_topology(c, NULL, 0);
    strata_control_entry *e = n ? malloc(n * sizeof *e) : NULL;
    size_t slen = strlen(status_json);
    while (slen && (status_json[slen - 1] == '\n' || status_json[slen - 1] == ' '))
        slen--;
    size_t cap = 64 + slen + n * TOPOLOGY_MEMBER_MAX_BYTES;
    char *buf = malloc(cap);
    if ((n && !e) || !buf)
        goto fail;
    n = strata_control_topology(c, e, n);
    size_t off = 0;
    host_status_appendf(buf, cap, &off, "{\"status\":%.*s,\"members\":[", (int)slen,
                        slen ? status_json : "{}");
    for (size_t i = 0; i < n; i++) {
        char addr[32];
        host_status_appendf(buf, cap, &off,
                            "%s{\"node\":\"%016" PRIx64 "\",\"channel\":", i ? "," : "",
                            e[i].node.v);
        host_json_string(buf, cap, &off, e[i].channel_name);
        host_status_appendf(
            buf, cap, &off,
            ",\"role\":\"%s\",\"dcm\":%u,\"region_dcm\":%u,\"level\":%u,\"region\":",
            role_name(e[i].role), (unsigned)e[i].dcm.v, (unsigned)e[i].region_dcm.v,
            (unsigned)e[i].level);
        host_json_string(buf, cap, &off, e[i].region);
        if (e[i].folded_group) /* regions by policy: its group, served by another's region */
            host_status_appendf(buf, cap, &off, ",\"folded_group\":\"group:%016" PRIx64 "\"",
                                e[i].folded_group);
        host_status_appendf(buf, cap, &off,
                            ",\"addr\":\"%s\",\"upload_kbps\":%" PRIu32 ",\"played\":%" PRIu64
                            ",\"missed\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"parents\":[",
                            strata_addr_format(e[i].addr, addr, sizeof addr), e[i].upload_kbps,
                            e[i].played, e[i].missed, e[i].tx_bytes);
        for (uint8_t s = 0; e[i].role != STRATA_ROLE_SOURCE && s < e[i].k; s++) {
            strata_node_id q = e[i].parents[s];
            if (q.v == 0)
                host_status_appendf(buf, cap, &off, "%snull", s ? "," : "");
            else if (q.v == STRATA_MTREE_SOURCE.v)
                host_status_appendf(buf, cap, &off, "%s\"source\"", s ? "," : "");
            else
                host_status_appendf(buf, cap, &off, "%s\"%016" PRIx64 "\"", s ? "," : "", q.v);
        }
        host_status_appendf(buf, cap, &off, "]}");
    }
    host_status_appendf(buf, cap, &off, "]}\n");
    if (off >= cap)
        goto fail; /* the bound above is wrong: a 500, never a cut document */
    free(e);
    *len = off;
    return buf;
fail:
    free(buf);
    free(e);
    return NULL;
}
