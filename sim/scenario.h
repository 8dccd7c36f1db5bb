/*
 * Scenarios of the simulator: every parameter of a run (population, stream,
 * network, protocol timing, join pattern, churn) plus a timeline of events
 * at fixed instants (correlated failures, mass leaves, link changes).
 *
 * Text format (docs/simulator.md has the full list of keys). One statement
 * per line; '#' starts a comment; blank lines are ignored.
 *
 *     key = value                 a parameter
 *     at SECONDS ACTION ARGS...   a timeline event
 *
 * Actions:
 *     at 120 kill share=0.2       silently kill each online peer with p = 0.2
 *     at 120 kill region=h3       silently kill every online peer of region h3
 *     at 90 leave share=0.1       the same, but the peers leave gracefully
 *     at 60 upload share=0.5 kbps=300   a share of the peers get a new uplink
 *     at 30 loss 0.02             every node's loss probability becomes 0.02
 *     at 30 loss 0.05 region=h2 side=both   the peers of region h2 lose 5 %
 *                                 of what they receive and of what they send
 *                                 (side=send, the default: what they send;
 *                                 side=receive: what they receive)
 *     at 60 control-restart down=2   the control center crashes (its node
 *                                 object and all its state are destroyed) and
 *                                 a fresh one starts on the same address 2 s
 *                                 later (down=0: at once)
 *     at 60 kill-preferred regions=1   silently kill every preferred node
 *                                 (levels mesh and ec) of the region with the
 *                                 most members that has any (regions=N: of N
 *                                 such regions): a correlated top-level failure
 *
 * Errors name the file and line: "name:LINE: what". Flags on the command
 * line go through the same strata_scenario_set as file keys, so the two can
 * never disagree about what a key means; flags are applied after the file.
 *
 * Planning. Who joins when, how long each session lasts and how it ends are
 * drawn from per-slot random streams (eventq.h), so changing one slot or
 * adding slots never moves the others. A slot is one viewer position: when
 * its session ends it may come back after an off time as a new viewer (new
 * node id, new port), which keeps the population steady under churn.
 *
 * Nothing here allocates: a scenario is a plain value.
 */
#ifndef STRATA_SIM_SCENARIO_H
#define STRATA_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

enum {
    STRATA_SCN_MAX_EVENTS = 256,
    STRATA_SCN_PATH_BYTES = 1024,
    STRATA_SCN_MIX_BYTES = 512,
    STRATA_SCN_NAME_BYTES = 32,
    STRATA_SCN_KINDS_BYTES = 64, /* polluter_kinds */
    STRATA_SCN_MAX_NODES = 4000000,
    STRATA_SCN_MAX_LINE_BYTES = 4096,
    STRATA_SCN_MAX_FILE_BYTES = 1 << 20,
};

enum strata_scn_join {
    STRATA_SCN_JOIN_ALL = 0,     /* everyone at start (spread over join_window_s) */
    STRATA_SCN_JOIN_POISSON = 1, /* Poisson arrivals, nodes / join_window_s per second */
    STRATA_SCN_JOIN_FLASH = 2,   /* the rest at start, flash_share in a burst at flash_at_s */
};

enum strata_scn_session {
    STRATA_SCN_SESSION_NONE = 0,      /* no churn: a viewer stays to the end */
    STRATA_SCN_SESSION_EXP = 1,       /* exponential, mean session_mean_s */
    STRATA_SCN_SESSION_LOGNORMAL = 2, /* log-normal, median session_median_s, sigma */
};

enum strata_scn_region {
    STRATA_SCN_REGION_ONE = 0,  /* every peer labels itself "one" */
    STRATA_SCN_REGION_HOST = 1, /* the latency data-set host it sits behind: "h<index>" */
    /* Every peer runs its locality-group agent, the control node its group
     * directory (bootstrap); a channel's region is the node's group, as in
     * the daemons (the control center's LOCALITY region mode). */
    STRATA_SCN_REGION_GROUPS = 2,
};

/* What carries a channel above its regions (docs/hierarchy.md). */
enum strata_scn_levels {
    STRATA_SCN_LEVELS_BACKBONE = 0, /* one head per region, fed by a multi-tree */
    STRATA_SCN_LEVELS_MESH = 1,     /* preferred nodes flooding over a c-connected mesh */
    STRATA_SCN_LEVELS_EC = 2,       /* the mesh above erasure-coded regional clusters */
    STRATA_SCN_LEVELS_THREE = 3,    /* the mesh, erasure-coded relay clusters, common clusters */
};

enum strata_scn_attach {
    STRATA_SCN_ATTACH_ROUND_ROBIN = 0,
    STRATA_SCN_ATTACH_RANDOM = 1,
};

/* Which of a node's traffic a loss event's probability applies to. */
enum strata_scn_loss_side {
    STRATA_SCN_LOSS_SEND = 0,
    STRATA_SCN_LOSS_RECEIVE = 1,
    STRATA_SCN_LOSS_BOTH = 2,
};

enum strata_scn_action {
    STRATA_SCN_KILL = 1,            /* silent failure: no LEAVE */
    STRATA_SCN_LEAVE = 2,           /* graceful departure */
    STRATA_SCN_UPLOAD = 3,          /* uplink capacity change */
    STRATA_SCN_LOSS = 4,            /* loss probability change, all nodes or a region's */
    STRATA_SCN_CONTROL_RESTART = 5, /* the control center crashes, a fresh one starts */
    STRATA_SCN_KILL_PREFERRED = 6,  /* every preferred node of the largest regions fails */
};

typedef struct strata_scn_event {
    uint64_t at_ns;
    uint8_t action;    /* enum strata_scn_action */
    uint8_t by_region; /* kill/leave/loss: region instead of share (loss: instead of all) */
    uint8_t side;      /* loss: enum strata_scn_loss_side */
    double share;      /* kill/leave/upload: probability that an online peer is hit */
    char region[STRATA_SCN_NAME_BYTES]; /* kill/leave/loss with by_region */
    uint32_t kbps;                      /* upload: new capacity, 0 = unlimited */
    double loss;                        /* loss */
    uint64_t down_ns;                   /* control-restart: time until the fresh one starts */
    uint32_t regions;                   /* kill-preferred: how many regions lose theirs */
    uint32_t line;                      /* where it was written (0 = not from a file) */
} strata_scn_event;

typedef struct strata_scenario {
    /* Run. */
    uint32_t nodes; /* peer slots (the control and the source come on top) */
    uint64_t duration_ns;
    uint32_t rate_kbps; /* stream rate */
    uint64_t seed;
    char algorithm[STRATA_SCN_NAME_BYTES];
    uint32_t packet_bytes; /* size the network charges for each DATA packet's payload */
    uint8_t trains;        /* a DATA packet above a datagram is a train of datagrams (net.h) */

    /* Network. */
    char latency[STRATA_SCN_PATH_BYTES];     /* matrix file; "" = fixed_delay_ms everywhere */
    double fixed_delay_ms;                   /* one-way, without a latency file */
    uint8_t attach;                          /* enum strata_scn_attach */
    double access_min_ms, access_max_ms;     /* one-way access-link delay of each node */
    char capacity_mix[STRATA_SCN_MIX_BYTES]; /* net.h format; "" = unlimited uplinks */
    uint32_t source_upload_kbps;             /* 0 = unlimited */
    uint32_t queue_bytes;                    /* per uplink; 0 = auto (see docs) */
    double loss;                             /* per-packet loss probability */
    uint8_t region_mode;                     /* enum strata_scn_region */
    uint8_t levels;                          /* enum strata_scn_levels */
    uint8_t preferred_per_region;            /* levels = mesh; 0 = default */
    uint8_t top; /* how the mesh carries the stream, `strata control --top` (enum strata_top) */
    /* Locality groups (region = groups): the agents' member table and
     * measurement cache (memory per peer), and how long a channel waits
     * for the node's group before joining without one. */
    uint32_t group_max_members, group_cache_entries, group_wait_ms;
    /* Regions by policy (region = groups; strata_control_config,
     * `strata control --region-policy`): on, a group too small or too weak
     * for its own trees is served by the nearest capable region; off (the
     * default): every group a region of its own. */
    uint8_t region_policy;

    /* Protocol (strata). */
    uint8_t k;
    uint32_t heartbeat_ms;
    uint32_t playout_delay_ms;
    uint32_t repair_after_ms; /* 0 = auto: the peer's default scaled to packet_bytes */
    uint32_t store_packets;   /* 0 = auto: enough for the playout delay at the packet rate */
    uint8_t capacity_check;   /* the control center checks declared uploads (docs/security.md) */
    uint8_t parity, parity_max; /* levels ec and 3: `strata control --parity`, `--parity-max`;
                                   0 = the control center's defaults */

    /* Peers that lie about their upload (issue 13): this share of the peer
     * slots declares liar_upload_kbps and lets only liar_forward of the
     * DATA it sends (relayed, repairs) through; it counts what it sent, so
     * its heartbeats claim it all. Their own playback is not measured. */
    double liar_share;
    uint32_t liar_upload_kbps;
    double liar_forward;

    /* Waypoint servers (SPEC C5, `strata peer --waypoint`): this share of
     * the peer slots are operators' relays of waypoint_upload_kbps (their
     * uplink and what they declare), which offer themselves for the
     * channel, watch nothing and stay for the whole run. Their playback is
     * not measured (they have none). */
    double waypoint_share;
    uint32_t waypoint_upload_kbps;

    /* Signed streams (docs/security.md): the source signs with a key drawn
     * from the run's seed (`strata source --channel-key-file`), every peer
     * verifies with its public half (`strata peer --channel-key`). */
    uint8_t signed_stream;

    /* Polluting peers (issue 13, sim/pollute.h): this share of the peer
     * slots (none of them liars) alter polluter_rate of the DATA they send
     * (relayed, repairs, parity) in the ways polluter_kinds names (a comma
     * list of forge, seq, corrupt, replay, reorder, eos, drop, lie, or
     * all; polluter_mask is its bits, set by validate), holding a
     * reordered packet up to polluter_hold_ms. With lie they declare
     * liar_upload_kbps. Their own playback is not measured. */
    double polluter_share;
    char polluter_kinds[STRATA_SCN_KINDS_BYTES];
    uint32_t polluter_mask;
    double polluter_rate;
    uint32_t polluter_hold_ms;

    /* Arrivals. */
    uint8_t join;            /* enum strata_scn_join */
    uint64_t join_window_ns; /* all: arrivals uniform over it; poisson: mean span */
    uint64_t flash_at_ns;
    double flash_share;
    uint64_t flash_window_ns;

    /* Churn. */
    uint8_t session;         /* enum strata_scn_session */
    double session_mean_s;   /* exp */
    double session_median_s; /* lognormal */
    double session_sigma;    /* lognormal, of the underlying normal */
    double leave_share;      /* share of departures that are graceful */
    uint8_t rejoin;          /* a slot comes back after a departure */
    double rejoin_mean_s;    /* exponential off time */

    /* Metrics. */
    uint64_t csv_interval_ns;
    uint64_t startup_grace_ns; /* packets sent this soon after a join are not due */

    /* Timeline, sorted by time (stable) once validated. */
    strata_scn_event events[STRATA_SCN_MAX_EVENTS];
    size_t nevents;
} strata_scenario;

/* Fills s with the defaults (docs/simulator.md lists them). */
void strata_scenario_default(strata_scenario *s);

/* Sets one parameter from its text form, e.g. ("rate_kbps", "1000").
 * Returns 0, or STRATA_ERR_NOTFOUND (unknown key) or STRATA_ERR_RANGE (bad
 * value) with a message in err (may be NULL). */
int strata_scenario_set(strata_scenario *s, const char *key, const char *value, char *err,
                        size_t errlen);

/* Adds a timeline event from its text form without the "at": time in
 * seconds, action, arguments (e.g. "120", "kill share=0.2"). Same returns. */
int strata_scenario_add_event(strata_scenario *s, const char *at_s, const char *rest, uint32_t line,
                              char *err, size_t errlen);

/* Parses scenario text (len bytes, need not be NUL-terminated) on top of
 * what s holds. name is used in messages ("name:LINE: what"). Returns 0 or
 * STRATA_ERR_RANGE / STRATA_ERR_NOTFOUND / STRATA_ERR_INVAL (too long). */
int strata_scenario_parse(strata_scenario *s, const char *text, size_t len, const char *name,
                          char *err, size_t errlen);

/* Reads and parses the file at path. STRATA_ERR_NOTFOUND if it cannot be
 * read, else as strata_scenario_parse. */
int strata_scenario_load(strata_scenario *s, const char *path, char *err, size_t errlen);

/* Checks that the parameters fit together (and sorts the timeline).
 * Returns 0 or STRATA_ERR_RANGE with a message. */
int strata_scenario_validate(strata_scenario *s, char *err, size_t errlen);

/* Writes the scenario back in the text format (every key, then the
 * timeline) into buf; returns the length it needed (like snprintf). */
size_t strata_scenario_format(const strata_scenario *s, char *buf, size_t buflen);

/* --- derived quantities ------------------------------------------------- */

/* Time between two DATA packets of the stream: packet_bytes at rate_kbps,
 * in ns (at least 1). */
uint64_t strata_scenario_packet_interval_ns(const strata_scenario *s);

/* Per-uplink queue limit after "auto" is resolved. */
uint32_t strata_scenario_queue_bytes(const strata_scenario *s);

/* Peer packet store (and playout window) in packets after "auto". */
uint32_t strata_scenario_store_packets(const strata_scenario *s);

/* The peers' repair wait after "auto": the core's default for 1,316-byte
 * packets, scaled by packet_bytes / 1316 for larger simulated packets (a
 * gap is asked for after the same number of packet times). */
uint32_t strata_scenario_repair_after_ms(const strata_scenario *s);

/* --- planning (all draws from the slot's own streams) -------------------- */

/* Join time of the first session of every slot: out[0..slots). Poisson
 * arrivals are a cumulative sum, so this is computed for all slots at once.
 * Times beyond the run are allowed (the slot then never joins). */
void strata_scenario_first_joins(const strata_scenario *s, uint32_t slots, uint64_t *out);

/* Length of session number `session` of slot, STRATA_NEVER without churn. */
uint64_t strata_scenario_session_ns(const strata_scenario *s, uint32_t slot, uint32_t session);

/* 1 if that session ends with a graceful LEAVE, 0 for a silent kill. */
int strata_scenario_graceful(const strata_scenario *s, uint32_t slot, uint32_t session);

/* Off time after that session before the slot's next one; STRATA_NEVER when
 * slots do not come back. */
uint64_t strata_scenario_rejoin_ns(const strata_scenario *s, uint32_t slot, uint32_t session);

/* Whether timeline event ev (an index into s->events) hits slot, which is
 * online then with the given region label. Share draws come from the
 * slot's stream named by the event's time and action (not its index), so
 * the same slots are hit whatever else the timeline holds. */
int strata_scenario_event_hits(const strata_scenario *s, size_t ev, uint32_t slot,
                               const char *region);

#endif
