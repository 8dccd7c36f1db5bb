/*
 * Top-level mesh (SPEC C4): the preferred nodes of a channel, linked so
 * that flooding with duplicate elimination survives c - 1 of them failing
 * at once.
 *
 * Flooding: the source sends each packet to its mesh neighbours; a member
 * forwards each packet it sees for the first time (by sequence number) to
 * every member neighbour except the one it came from, and never to the
 * source. A member thus sends at most one copy of the stream per member
 * link, so its links are bounded by its upload: cap = min(max_degree,
 * floor(upload_kbps * share / (100 * rate_kbps))), share being the part of
 * the upload the mesh may use (85 % by default, the DCM's headroom for
 * headers, repair answers and a rate that runs hot). Each link therefore
 * has rate_kbps * 100 / share of the member's upload, more than the rate.
 * Links to the source carry nothing upward and cost members nothing.
 *
 * Members by capacity:
 *   core      cap >= c: the part the connectivity target is about;
 *   weak      1 <= cap < c: linked to up to cap nodes with room (core
 *             nodes first, nearest first) but outside the target; it has
 *             as many disjoint paths as links;
 *   unlinked  cap 0 (upload below rate * 100 / share): no links.
 * weak and unlinked members are counted in the status, so that the caller
 * can demote them.
 *
 * Target: the core is t-connected, t = min(c, core members - 1): removing
 * any t - 1 core members leaves the others connected (and the source,
 * linked to min(c, its cap) core members, reaches every survivor). Met or
 * not is known exactly after every call (strata_mesh_target_met): when a
 * change can be checked locally it is, otherwise the whole core is.
 *
 * Guarantees after every call: links are symmetric, no self or duplicate
 * links, no link to a removed node, every member's links within its cap,
 * the source's within its own. The core target is kept by local repair
 * whenever the capacities allow it; when they do not (too little room
 * anywhere across a cut), the mesh keeps every link it could add and says
 * so. It is met whenever every core member has room for c + 1 links (and
 * max_degree > c): tested (tests/prop/prop_mesh.c), not proven; with room
 * for exactly c it can be missed where a c-regular mesh would exist. The
 * construction and its costs are described in core/mesh.c and
 * docs/mesh.md.
 *
 * Regions are small integers chosen by the caller (a DCM's region, a
 * locality group's index); unknown RTTs count as near inside a region and
 * far across. Each core member keeps at least one link to another region
 * where one exists, and the source's links go to distinct regions first.
 *
 * Sans-I/O and deterministic: the same seed and the same calls (and RTT
 * answers) give the same links. Every allocation goes through the
 * allocator; removals, rate and upload changes never allocate except for
 * the change log.
 */
#ifndef STRATA_MESH_H
#define STRATA_MESH_H

#include "strata/common.h"

typedef struct strata_mesh strata_mesh;

/* Limits and defaults. */
enum {
    STRATA_MESH_MAX_C = 8,               /* connectivity target, 1..8 */
    STRATA_MESH_DEFAULT_C = 3,           /* issue 11: "c configurable, default 3" */
    STRATA_MESH_MAX_DEGREE = 32,         /* links per node, whatever its upload */
    STRATA_MESH_DEFAULT_MAX_DEGREE = 16, /* a flood costs a copy per link */
    STRATA_MESH_DEFAULT_SHARE_PERCENT = 85,
    STRATA_MESH_UNKNOWN_NEAR_MS = 50, /* unknown RTT inside a region */
    STRATA_MESH_UNKNOWN_FAR_MS = 200, /* unknown RTT across regions */
};

/* The RTT oracle's answer when it does not know. */
#define STRATA_MESH_RTT_UNKNOWN UINT32_MAX

/* RTT in ms between two nodes (members or the source), or
 * STRATA_MESH_RTT_UNKNOWN. Called during add, remove and the set_ calls;
 * it must not call back into the mesh. */
typedef uint32_t (*strata_mesh_rtt_fn)(void *user, strata_node_id a, strata_node_id b);

typedef struct strata_mesh_config {
    uint8_t c;                    /* target connectivity, 0 = 3, at most STRATA_MESH_MAX_C */
    uint8_t max_degree;           /* 0 = STRATA_MESH_DEFAULT_MAX_DEGREE; c..MAX_DEGREE */
    uint8_t upload_share_percent; /* 0 = 85; at most 100 */
    uint32_t rate_kbps;           /* the stream, > 0 */
    uint64_t seed;                /* tie-breaks between equally near candidates */
    strata_mesh_rtt_fn rtt_ms;    /* NULL: every RTT unknown */
    void *rtt_user;
} strata_mesh_config;

/* What a member is (see the top of this file); STRATA_MESH_SOURCE for the
 * source. */
enum strata_mesh_role {
    STRATA_MESH_CORE = 1,
    STRATA_MESH_WEAK = 2,
    STRATA_MESH_UNLINKED = 3,
    STRATA_MESH_SOURCE = 4,
};

/* Creates an empty mesh; NULL on a bad config or no memory. */
strata_mesh *strata_mesh_new(const strata_alloc *a, const strata_mesh_config *cfg);
void strata_mesh_del(strata_mesh *m);

/* Adds a member and links it. Returns 0, STRATA_ERR_EXISTS (a member or
 * the source has that id), STRATA_ERR_INVAL (id 0 or UINT64_MAX) or
 * STRATA_ERR_NOMEM (nothing changed). */
int strata_mesh_add(strata_mesh *m, strata_node_id id, uint32_t upload_kbps, uint32_t region);

/* Removes a member (a departure or a failure) or the source, and repairs:
 * the departed node's neighbours gain links, among themselves first.
 * Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_mesh_remove(strata_mesh *m, strata_node_id id);

/* Sets (or replaces) the source: it injects the stream and is linked to
 * min(c, its cap, core members) members, distinct regions first, nearest
 * first (upload 0: up to c). Returns 0, STRATA_ERR_EXISTS (a member has
 * that id) or STRATA_ERR_INVAL (id 0 or UINT64_MAX). */
int strata_mesh_set_source(strata_mesh *m, strata_node_id id, uint32_t upload_kbps,
                           uint32_t region);

/* Changes a member's upload (or the source's); links over the new cap go,
 * a member whose role changes leaves and joins again, and the mesh is
 * repaired. Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_mesh_set_upload(strata_mesh *m, strata_node_id id, uint32_t upload_kbps);

/* Changes the stream rate: every cap is recomputed, then handled as
 * set_upload would. Returns 0 or STRATA_ERR_INVAL (rate 0). */
int strata_mesh_set_rate(strata_mesh *m, uint32_t rate_kbps);

/* Queries. neighbours writes up to max ids (a member's list includes the
 * source when it is linked to it) and returns the total. */
size_t strata_mesh_neighbours(const strata_mesh *m, strata_node_id id, strata_node_id *out,
                              size_t max);
/* The member's role, or STRATA_ERR_NOTFOUND. */
int strata_mesh_role(const strata_mesh *m, strata_node_id id);
/* The cap a node of that upload would have now. */
uint32_t strata_mesh_degree_cap(const strata_mesh *m, uint32_t upload_kbps);
size_t strata_mesh_count(const strata_mesh *m); /* members, the source not included */

/* Iterates over the links, each once (a < b for member links; the source's
 * links come last with the source as a): start with *pos = 0; each call
 * that returns 1 writes one link. The mesh must not change meanwhile. */
int strata_mesh_link_next(const strata_mesh *m, size_t *pos, strata_node_id *a, strata_node_id *b);

/* Nodes (members and the source) whose neighbour set changed since the
 * last call: takes up to max and clears them. A node whose links changed
 * and changed back in later calls is listed too. */
size_t strata_mesh_take_dirty(strata_mesh *m, strata_node_id *out, size_t max);

/* Links added and removed since the last call, in order (applying them in
 * order to the previous links gives the current ones). Takes up to max
 * and clears them; returns how many were written, or STRATA_ERR_NOMEM
 * (once, and the log is emptied) if the log could not grow: then resend
 * every dirty node's neighbours instead. */
typedef struct strata_mesh_change {
    strata_node_id a, b;
    uint8_t added; /* 1 added, 0 removed */
} strata_mesh_change;
int strata_mesh_take_changes(strata_mesh *m, strata_mesh_change *out, size_t max);

/* 1 when the core is min(c, core members - 1)-connected (see the top). */
int strata_mesh_target_met(const strata_mesh *m);

/* The core's vertex connectivity, up to limit (checked from scratch:
 * O(limit^2 * n * (n + links)) at worst; for status and tests). 0 for a
 * core of fewer than two members. */
unsigned strata_mesh_connectivity(strata_mesh *m, unsigned limit);

/* Checks the structural invariants (symmetry, caps, roles, counts).
 * Returns 0 or STRATA_ERR_INVAL with a reason in why (may be NULL). */
int strata_mesh_check(const strata_mesh *m, char *why, size_t whylen);

/* Summary figures for status lines and benchmarks. */
typedef struct strata_mesh_stats {
    size_t members, core, weak, unlinked;
    size_t short_nodes;  /* members with fewer links than their role asks */
    size_t links;        /* member-member links */
    size_t source_links; /* 0 when there is no source */
    unsigned target;     /* min(c, core - 1) */
    int met;             /* strata_mesh_target_met */
    double mean_degree;  /* over linked members, member links only */
    unsigned max_degree;
    int max_hops;     /* from the source over the links; -1 without a source */
    double mean_hops; /* over members the source reaches */
    size_t unreached; /* core and weak members the source does not reach */
} strata_mesh_stats;
/* Uses the mesh's scratch space (hence not const); O(n + links). */
void strata_mesh_get_stats(strata_mesh *m, strata_mesh_stats *st);

#endif
