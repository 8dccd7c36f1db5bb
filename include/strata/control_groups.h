/*
 * The control center's part in the locality groups (SPEC L3, C2;
 * protocol.md 3.9 and 7.8): `strata_cgroups` keeps the groups their leaders
 * report and hands a newcomer a few live leaders to start its join walk
 * from. It takes no other part in the group protocol: the peers group
 * themselves.
 *
 * A core object of its own next to strata_control (the control daemon runs
 * both on one socket; the host routes GROUP_REPORT and GROUP_BOOTSTRAP
 * here), so that the client manager does not grow.
 *
 * State: one record per group (group, leader, term, member count, time of
 * the last report, the leader's nearest groups with its distances to
 * them), a dense array with an id index, bounded by max_groups.
 * A report for a known group from another leader wins with a better claim
 * (higher term, then lower node id: protocol.md 7.5) or over a stale
 * record. A withdrawal (n_members 0) from the recorded leader removes the
 * record.
 *
 * Timer: every report_timeout_ms / 2, records not refreshed for
 * report_timeout_ms are dropped (their leader died or left without a word).
 */
#ifndef STRATA_CONTROL_GROUPS_H
#define STRATA_CONTROL_GROUPS_H

#include "strata/common.h"
#include "strata/wire.h"

typedef struct strata_cgroups strata_cgroups;

enum strata_cgroups_defaults {
    STRATA_CGROUPS_DEFAULT_REPORT_TIMEOUT_MS = 3500, /* 3.5 report intervals of 1 s */
    STRATA_CGROUPS_DEFAULT_MAX_GROUPS = 65536,
    STRATA_CGROUPS_DEFAULT_BOOTSTRAP_LEADERS = 3, /* as the simulator's control center */
    STRATA_CGROUPS_OUTBOX_DATAGRAMS = 1024,
};

typedef struct strata_cgroups_config {
    uint32_t report_timeout_ms; /* 0 = default */
    uint32_t max_groups;        /* 0 = default */
    uint32_t bootstrap_leaders; /* 0 = default; at most STRATA_WIRE_MAX_BOOTSTRAP_LEADERS */
    uint64_t seed;              /* the random choice of leaders */
    strata_outbox *outbox;      /* the node's (borrowed); NULL = one of its own */
    const strata_log *log;
} strata_cgroups_config;

/* One known group. */
typedef struct strata_cgroups_group {
    strata_group_id group;
    strata_peer_ref leader;
    uint32_t term, n_members;
    uint64_t reported_at_ns;
    /* The leader's nearest groups, as its latest report named them. */
    uint8_t n_near;
    strata_group_near near[STRATA_WIRE_MAX_REPORT_NEAR];
} strata_cgroups_group;

typedef struct strata_cgroups_stats {
    size_t groups;
    uint64_t reports, withdrawals, leader_changes, stale_claims, expired, refused_full;
    uint64_t bootstraps, leaders_given;
    strata_drop_counters drops;
} strata_cgroups_stats;

/* Returns NULL on a bad config (bootstrap_leaders above the wire limit) or
 * out of memory. cfg may be NULL (defaults). */
strata_cgroups *strata_cgroups_new(const strata_cgroups_config *cfg, const strata_alloc *a,
                                   uint64_t now);
void strata_cgroups_del(strata_cgroups *cg);

/* Takes GROUP_REPORT and GROUP_BOOTSTRAP; anything else is counted and
 * dropped. Returns 0 or the (negative) reason of a drop. */
int strata_cgroups_handle_datagram(strata_cgroups *cg, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now);
void strata_cgroups_handle_timeout(strata_cgroups *cg, uint64_t now);
uint64_t strata_cgroups_next_timeout(const strata_cgroups *cg);
strata_outbox *strata_cgroups_outbox(strata_cgroups *cg);

/* The record of a group: returns 1 and fills *out (may be NULL), or 0. */
int strata_cgroups_lookup(const strata_cgroups *cg, strata_group_id group,
                          strata_cgroups_group *out);
/* Writes up to cap records (in no particular order); returns how many
 * there are. */
size_t strata_cgroups_list(const strata_cgroups *cg, strata_cgroups_group *out, size_t cap);
/* The distance between groups a and b as their leaders report it (each
 * names its nearest groups): the smaller of the two when both do. Returns
 * 1 and writes *distance (the deployment's metric units), or 0 when
 * neither report names the other group. */
int strata_cgroups_distance(const strata_cgroups *cg, strata_group_id a, strata_group_id b,
                            uint32_t *distance);
void strata_cgroups_get_stats(const strata_cgroups *cg, strata_cgroups_stats *st);

#endif
