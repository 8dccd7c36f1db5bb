/*
 * Distance measurement for the group agent (SPEC L1): a bounded cache of
 * per-target measurements, each a few probes whose answers are reduced to
 * one distance: their minimum (the default) or their median.
 *
 * A measurement is a series of rounds. A round sends `probes` probes, one
 * every probe_gap, and ends probe_timeout after its last probe, or as soon
 * as every probe of the round has been answered. A measurement with at
 * least one answer when a round ends is done (the answers reduced); one
 * without starts another round, up to `retries` extra rounds, and then
 * records the target as unreachable (STRATA_GROUP_DISTANCE_UNKNOWN). A
 * measurement whose samples disagree by more than settle_spread (a stall
 * at either end: an undisturbed path gives samples that agree) runs one
 * more round first, and all its samples are reduced together.
 *
 * Probes carry ids id_base + slot; the reply is matched by the responder's
 * node id and the slot, and the sample is computed from the send time the
 * prober recorded (the echoed one must agree), so a forged echo cannot
 * shorten a distance. Late and unmatched replies are counted and ignored.
 *
 * The table is an array with an id map; when full, the least recently used
 * entry that is not measuring is evicted (counted). Nothing here reads a
 * clock: every call takes now.
 */
#ifndef STRATA_GROUPS_DIST_H
#define STRATA_GROUPS_DIST_H

#include "idmap.h"
#include "strata/common.h"
#include "strata/groups.h"
#include "strata/wire.h"

enum gdist_limits {
    GDIST_MAX_PROBES = 8, /* per round */
    GDIST_MAX_SLOTS = 16, /* probes of a measurement over all its rounds */
};

typedef struct gdist_entry {
    strata_peer_ref target;
    uint32_t value;       /* last result; STRATA_GROUP_DISTANCE_UNKNOWN = unreachable */
    uint32_t floor;       /* recheck: the estimate before it; UNKNOWN when none */
    uint32_t spread;      /* largest minus smallest sample of the last measurement */
    uint64_t measured_at; /* 0 = never measured */
    uint64_t used_at;     /* for eviction */
    uint8_t running;
    uint8_t round;      /* rounds started */
    uint8_t round_sent; /* probes sent in the current round */
    uint8_t got;        /* answers in this measurement */
    uint8_t settled;    /* the extra round for disturbed samples was started */
    uint8_t settle_got; /* answers when it started */
    uint32_t id_base;
    uint64_t next_at; /* next probe of the round, or the round's end */
    uint64_t sent_at[GDIST_MAX_SLOTS];
    uint32_t samples[GDIST_MAX_SLOTS];
    uint8_t have[GDIST_MAX_SLOTS];
} gdist_entry;

typedef int (*gdist_send_fn)(void *user, strata_addr to, const uint8_t *buf, size_t len);

typedef struct gdist_stats {
    uint64_t probes_sent, replies, late, measurements, failed, skew, no_ttl, evictions;
    uint64_t rechecks; /* measurements started by gdist_recheck */
    uint64_t settles;  /* extra rounds for disturbed samples */
} gdist_stats;

typedef struct gdist {
    const strata_alloc *alloc;
    strata_node_id self;
    uint8_t metric;
    uint8_t estimate; /* enum strata_gnode_estimate, never DEFAULT */
    uint8_t probes, retries;
    uint32_t settle_spread; /* metric units; 0 = no extra round */
    uint64_t gap_ns, timeout_ns;
    gdist_entry *e;
    size_t n, cap;
    size_t running;
    strata_idmap map; /* node id -> index into e */
    strata_rng *rng;
    gdist_send_fn send;
    void *user;
    gdist_stats st;
} gdist;

typedef struct gdist_config {
    strata_node_id self;
    uint8_t metric;
    uint8_t estimate; /* enum strata_gnode_estimate; DEFAULT = MIN */
    uint32_t probes, retries, gap_ms, timeout_ms;
    uint32_t settle_spread; /* metric units; 0 = never an extra round */
    size_t cap;
} gdist_config;

/* Allocates the table; returns 0 or STRATA_ERR_NOMEM. rng and user must
 * outlive the cache. */
int gdist_init(gdist *d, const strata_alloc *a, const gdist_config *cfg, strata_rng *rng,
               gdist_send_fn send, void *user);
void gdist_free(gdist *d);

/* The distance to target no older than max_age_ns: returns 1 and writes
 * *value (STRATA_GROUP_DISTANCE_UNKNOWN when unreachable); returns 0 when a
 * measurement is running (started now if needed); STRATA_ERR_FULL when the
 * table has no room (every entry measuring). */
int gdist_get(gdist *d, strata_peer_ref target, uint64_t max_age_ns, uint64_t now, uint32_t *value);

/* Measures target again and keeps the smaller of the new estimate and the
 * one it had (gdist_get then returns that). For a distance that failed a
 * test by a little: a busy host, at either end, only ever adds delay, so a
 * second measurement a moment later can only bring the estimate nearer the
 * path. Returns 0 when a measurement is running (started now if needed),
 * STRATA_ERR_FULL when the table has no room. */
int gdist_recheck(gdist *d, strata_peer_ref target, uint64_t now);

/* The spread (largest minus smallest sample) of the last finished
 * measurement of node, 0 when unknown: samples of an undisturbed path agree,
 * a stall at either end spreads them by up to the probes' span. */
uint32_t gdist_spread(const gdist *d, strata_node_id node);

/* Looks up a finished measurement without starting one: 1 if found. */
int gdist_peek(const gdist *d, strata_node_id node, uint32_t *value, uint64_t *measured_at);

/* Answers. Return 1 when a measurement finished, 0 when the answer was
 * taken or ignored as late, or STRATA_ERR_UNEXPECTED when it matches no
 * probe of ours. ttl is the received IP TTL, -1 when unknown. */
int gdist_on_probe_reply(gdist *d, const strata_msg_probe_reply *m, int ttl, uint64_t now);
int gdist_on_pong(gdist *d, const strata_msg_group_pong *m, uint64_t now);

/* Sends due probes and ends due rounds; returns how many measurements
 * finished. */
int gdist_handle_timeout(gdist *d, uint64_t now);
uint64_t gdist_next_timeout(const gdist *d);

/* Hops from a received TTL: the initial TTL guessed as the nearest of 64,
 * 128, 255 at or above it, minus it. Negative for an unknown TTL. */
int gdist_hops_from_ttl(int ttl);

#endif
