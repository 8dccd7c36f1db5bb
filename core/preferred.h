/*
 * Preferred nodes (SPEC C4, C10): which members of a region carry the
 * channel at the top level, chosen from their history.
 *
 * A region's preferred nodes receive the whole stream over the top-level
 * mesh and feed the region's lower levels, so a bad choice costs the whole
 * region. The choice rests on what a node has shown, not only on what it
 * declares:
 *
 *   score = capacity x reliability x stability / (1 + stalls)
 *
 * - capacity: the declared upload (this channel's share; the control
 *   center passes the upload the capacity check believes), capped at
 *   STRATA_PREF_CAPACITY_CAP_RATES stream rates: beyond that a node is no
 *   better a feeder, only a larger one;
 * - reliability: the upload it actually delivered over the last
 *   evaluation window (heartbeat tx counters) against what its place in
 *   the trees asked of it, at most 1; 1 while it was asked for little;
 * - stability: uptime / (uptime + STRATA_PREF_STABILITY_HALF_MS), 0 for a
 *   newcomer, 1/2 after the half time, near 1 for a veteran;
 * - stalls: how often the DCM moved a child off it (stall detection, C13).
 *
 * A node qualifies when its upload is at least min_upload_kbps and it has
 * been up for probation_ns; a region with no qualified veteran takes
 * qualified newcomers (a region must not wait minutes for its first
 * feeder). Probation is for entering: a preferred node stays on its upload
 * alone. The choice has hysteresis, so that no node flaps between the
 * levels: a preferred node stays while it qualifies, and a challenger
 * replaces one only when its score beats the weakest's by hysteresis_pct
 * and that one has held its place for min_hold_ns; at most one such swap
 * per region and evaluation. Empty places are filled at once, best first.
 *
 * The function is pure: the caller (the control center) keeps the
 * history and carries out the changes, the promotion before the demotion
 * it replaces (make before break).
 */
#ifndef STRATA_PREFERRED_H
#define STRATA_PREFERRED_H

#include "strata/common.h"

enum strata_pref_defaults {
    STRATA_PREF_DEFAULT_PER_REGION = 2,
    STRATA_PREF_DEFAULT_PROBATION_MS = 10000,
    STRATA_PREF_DEFAULT_HYSTERESIS_PCT = 25,
    STRATA_PREF_DEFAULT_MIN_HOLD_MS = 60000,
    STRATA_PREF_CAPACITY_CAP_RATES = 8,
    STRATA_PREF_STABILITY_HALF_MS = 60000,
    STRATA_PREF_MAX_PER_REGION = 16,
};

/* What the control center knows of one member of the region. */
typedef struct strata_pref_candidate {
    strata_node_id node;
    uint32_t upload_kbps;    /* declared (or believed), this channel's share */
    uint32_t expected_kbps;  /* what its place asked of it over the last window */
    uint32_t delivered_kbps; /* what it sent over the last window */
    uint64_t uptime_ns;      /* since it joined the channel */
    uint32_t stalls;         /* children moved off it for stalling (decayed by the caller) */
    uint8_t preferred;       /* one now */
    uint64_t held_ns;        /* how long it has been one */
} strata_pref_candidate;

typedef struct strata_pref_config {
    uint32_t rate_kbps;       /* stream rate, > 0 */
    uint32_t min_upload_kbps; /* to qualify */
    uint8_t per_region;       /* 1..STRATA_PREF_MAX_PER_REGION */
    uint64_t probation_ns;
    uint32_t hysteresis_pct; /* <= 1000 */
    uint64_t min_hold_ns;
} strata_pref_config;

/* The score above, in fixed point (larger is better); 0 for a node that
 * delivered nothing of what it was asked. */
uint64_t strata_pref_score(const strata_pref_candidate *c, const strata_pref_config *cfg);

/* 1 when c may be a preferred node (upload; probation unless
 * veterans_absent). */
int strata_pref_qualifies(const strata_pref_candidate *c, const strata_pref_config *cfg,
                          int veterans_absent);

/* Decides a region's preferred set from its n candidates: want[i] becomes
 * 1 for the nodes that should be preferred, 0 for the others (see the
 * rules above). Returns the number of candidates whose flag differs from
 * their preferred field, or STRATA_ERR_INVAL (bad config, NULL with n > 0). */
int strata_pref_choose(const strata_pref_candidate *c, size_t n, const strata_pref_config *cfg,
                       uint8_t *want);

#endif
