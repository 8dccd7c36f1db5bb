/*
 * The locality-group simulator (issue 4, SPEC L1-L11): one strata_gnode per
 * simulated node, the very agent of core/groups*.c, on the in-memory
 * network (net.h) under the virtual clock of the event queue (eventq.h),
 * with delays from a measured latency matrix (latency.h).
 *
 * Nodes. Either one node per host of the matrix (nodes = 0: node i is host
 * i, no access delay, so the one-way delay is RTT/2 of the matrix), or
 * `nodes` nodes attached to the hosts (seeded uniform choice, or round
 * robin) behind an access link of a seeded one-way delay in [access_min,
 * access_max] (latency.h). Node i has address 10.0.0.0 + i + 1 and port
 * 7000 + generation; each session (incarnation) of a node is a new agent
 * with node id (generation << 32 | i + 1), so a datagram still in flight
 * to an agent that is gone finds no one (counted undeliverable).
 *
 * The control center. The simulator only bootstraps: a newcomer is handed
 * up to `bootstrap_leaders` current group leaders, drawn uniformly without
 * replacement from all live leaders (a seeded stream); the first node gets
 * none and founds the first group. Nothing else comes from outside the
 * agents: they measure, walk, found, link, merge and fail over by
 * themselves.
 *
 * Events (one queue, ordered by time then insertion): TIMER (an agent's
 * deadline, re-armed after every call into it, cancelled in O(1) when it
 * moves earlier), DELIVER (a datagram: every outbox entry goes through
 * strata_simnet_send, loss included), JOIN (the next node of the join
 * order starts). Every processed event is folded into the run's
 * fingerprint: a 64-bit hash of (time, kind, node) in processing order.
 *
 * Scenarios (all start the same way: the nodes join one by one in a seeded
 * random order, each gap uniform in [0.5, 1.5] x join_spacing_ms, then the
 * run settles for settle_s; with late_joins, the last nodes of the order
 * then join one by one, late_spacing_ms apart, followed by 30 s):
 *  - FORM: that is all; the groups are scored.
 *  - FAILURE: the leaders of kill_pct % of the groups (a seeded choice)
 *    are killed at one instant, without a word. For recover_s the run
 *    checks, every 250 ms, whether every hit group of two or more members
 *    is led by the member that was first in its leadership list, under
 *    the same group id, and every live node is in a group; the time that
 *    took is reported, and the state at the end is checked the same way.
 *  - CHURN: churn_offline_pct % of the nodes stay out of the join order
 *    as a pool of arrivals; then for churn_s, every gap (uniform in [0.5,
 *    1.5] x churn_gap_ms) one random live node departs (gracefully with
 *    probability churn_leave_pct %, else it crashes) and one random
 *    offline node arrives as a new session, so the population stays
 *    constant. Every sample_s a sample records the live nodes, those in a
 *    group, the groups, the distances and ARI/NMI; a node counts as stuck
 *    when it is out of a group at two consecutive samples in the same
 *    session.
 * "In a group" is checked from outside: a leader is; a member is when its
 * leader is alive, leads that group and lists it among its members.
 *
 * At the end of a run the live nodes' groups are scored (clustering.h),
 * and so are, on the same nodes, the two baselines: landmark binning
 * (landmark.h) and k-medoids with k = strata's group count (kmedoids.h),
 * unless the run has more than baseline_max_nodes live nodes. Labels
 * (host_index<TAB>label, or an array) give ARI and NMI against ground
 * truth; a node takes its host's label.
 *
 * Memory. An agent allocates its tables up front (members, the member
 * view, the id map, the measurement cache, a 4096-entry outbox): 483,128
 * bytes at the defaults, about 95 KB + 64 bytes x max_members when
 * cache_entries is small. With lazy_memory set, blocks of 4 KiB and more
 * come from one reserved range of address space instead of malloc, and
 * every page of an agent's blocks that is still all zero is handed back to
 * the kernel (madvise DONTNEED: it reads as zero again when touched) after
 * the agent is built and after each change it reports: a node then costs
 * what it has written, 45-60 KB, which is what makes 100,000 agents fit
 * (docs/groups.md has the figures). Linux only; elsewhere the flag is
 * ignored. Results do not depend on it.
 *
 * Determinism: the same configuration and seed give the same events, the
 * same assignment and byte-identical JSON.
 */
#ifndef STRATA_SIM_GROUPSIM_H
#define STRATA_SIM_GROUPSIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "latency.h"
#include "strata/groups.h"

enum strata_groupsim_scenario {
    STRATA_GROUPSIM_FORM = 0,
    STRATA_GROUPSIM_FAILURE = 1,
    STRATA_GROUPSIM_CHURN = 2,
};

enum strata_groupsim_defaults {
    STRATA_GROUPSIM_DEFAULT_JOIN_SPACING_MS = 1000,
    STRATA_GROUPSIM_DEFAULT_BOOTSTRAP = 3,
    STRATA_GROUPSIM_DEFAULT_SETTLE_S = 120,
    STRATA_GROUPSIM_DEFAULT_LATE_SPACING_MS = 1000,
    STRATA_GROUPSIM_DEFAULT_ACCESS_MIN_US = 1000, /* one way */
    STRATA_GROUPSIM_DEFAULT_ACCESS_MAX_US = 5000,
    STRATA_GROUPSIM_DEFAULT_KILL_PCT = 50,
    STRATA_GROUPSIM_DEFAULT_RECOVER_S = 30,
    STRATA_GROUPSIM_DEFAULT_CHURN_S = 1800,
    STRATA_GROUPSIM_DEFAULT_CHURN_GAP_MS = 2000,
    STRATA_GROUPSIM_DEFAULT_CHURN_OFFLINE_PCT = 20,
    STRATA_GROUPSIM_DEFAULT_CHURN_LEAVE_PCT = 50,
    STRATA_GROUPSIM_DEFAULT_SAMPLE_S = 60,
    STRATA_GROUPSIM_DEFAULT_LANDMARKS = 8,
    STRATA_GROUPSIM_DEFAULT_BASELINE_MAX_NODES = 5000,
    STRATA_GROUPSIM_MAX_NODES = 1 << 24,
};

/* Called every progress_s simulated seconds (and once at the end of each
 * phase) for long runs. Must not call into the simulator. */
typedef struct strata_groupsim_progress {
    const char *phase; /* "join", "settle", "failure", "churn", "baselines" */
    double sim_s;
    uint32_t started, joined, nodes, leaders;
    uint64_t events;
} strata_groupsim_progress;

typedef struct strata_groupsim_config {
    /* --- topology --- */
    const char *latency_path;   /* a matrix file (latency.h format), or: */
    const strata_simlat *lat;   /* a loaded matrix, borrowed; wins over latency_path.
                                   Its attachment is not used (the run attaches its own). */
    const char *labels_path;    /* optional: host_index<TAB>label */
    const int32_t *host_labels; /* or labels per host (hosts entries, < 0 = none); wins */
    uint32_t nodes;             /* 0 = one node per host; else attached nodes */
    int attach_round_robin;     /* with nodes: round robin instead of a seeded choice */
    uint32_t access_min_us, access_max_us; /* with nodes; both 0 = the defaults */
    double loss;                           /* per-datagram loss probability, [0, 1) */
    uint64_t seed;                         /* 0 is a seed like any other */

    /* --- scenario (0 = the default for every number) --- */
    int scenario; /* enum strata_groupsim_scenario */
    uint32_t join_spacing_ms;
    uint32_t bootstrap_leaders; /* 1..STRATA_GNODE_MAX_BOOTSTRAP */
    /* Which stream of the seed draws the leaders handed to newcomers (0 =
     * the usual one). Another stream changes those draws and nothing else,
     * which shows how much the groups depend on them. */
    uint32_t bootstrap_stream;
    uint32_t settle_s;
    /* The last late_joins nodes of the join order (0 = none) join after the
     * settle, late_spacing_ms apart, into the settled network; their walks
     * are scored apart ("late_joins"): the cost of joining a network of
     * that size, free of the races of a crowd arriving at once. */
    uint32_t late_joins, late_spacing_ms;
    uint32_t kill_pct, recover_s;
    uint32_t churn_s, churn_gap_ms, churn_offline_pct, sample_s;
    uint32_t churn_leave_pct; /* STRATA_GNODE_OFF = every departure crashes */

    /* --- baselines --- */
    int no_baselines;
    uint32_t landmarks;               /* 1..16 */
    const double *landmark_bounds_ms; /* NULL = {100, 200}; see landmark.h */
    size_t n_landmark_bounds;
    uint32_t baseline_max_nodes;
    uint32_t kmedoids_k; /* 0 = strata's group count (the default reference) */
    uint32_t kmedoids_max_iter;

    /* --- the agents --- */
    /* Settings of every agent (thresholds, timers, max_members, ...); node,
     * addr, seed, bootstrap and log are the simulator's. metric: RTT or
     * ONE_WAY (the data sets carry no hop counts). */
    strata_gnode_config agent;
    /* Where the agents log (NULL = nowhere): each line is prefixed with the
     * simulated time in seconds and the node's host index. */
    const strata_log *agent_log;

    /* --- the run --- */
    int lazy_memory;
    uint32_t progress_s; /* 0 = no progress calls */
    void (*progress)(void *user, const strata_groupsim_progress *p);
    void *progress_user;
} strata_groupsim_config;

/* The scores of one way of grouping (clustering.h has the definitions). */
typedef struct strata_groupsim_scores {
    int valid; /* computed in this run */
    uint32_t groups, singletons, size_min, size_max;
    double size_median;
    double intra_ms, inter_ms, to_rep_ms, spread_ms;
    double ari, nmi;        /* against the labels; -1 without labels */
    double probes_per_join; /* strata: mean of the first walks; landmark: L x probes;
                               k-medoids: -1 (offline, it sees the whole matrix) */
} strata_groupsim_scores;

enum strata_groupsim_method {
    STRATA_GROUPSIM_STRATA = 0,
    STRATA_GROUPSIM_LANDMARK = 1,
    STRATA_GROUPSIM_KMEDOIDS = 2,
    STRATA_GROUPSIM_METHODS = 3,
};

/* What the run found; the full report is the JSON document. */
typedef struct strata_groupsim_result {
    uint32_t hosts, nodes;
    uint64_t *group;    /* per node: its group id at the end, 0 = none (dead or out) */
    uint32_t *host_of;  /* per node: its host */
    uint64_t *start_ns; /* per node: when its first session started (0 = never) */
    uint64_t run_seed;  /* the configuration's seed (for the order file's identities) */
    char *json;         /* the metrics document, NUL-terminated */
    size_t json_len;

    /* Summary of the JSON for tests and drivers. */
    uint32_t alive, in_group, never_joined;
    uint32_t groups;
    double ari, nmi; /* against the labels; -1 without labels */
    double probes_mean, probes_p95, join_ms_mean, join_ms_p95;
    uint64_t joins;
    double late_probes_mean, late_probes_p95; /* late joiners only */
    uint64_t late_joins;
    /* strata, landmark binning, k-medoids (enum strata_groupsim_method) */
    strata_groupsim_scores method[STRATA_GROUPSIM_METHODS];
    /* FAILURE */
    uint32_t killed, hit_groups, next_in_line_ok, orphans_after, split_groups;
    double recovery_ms; /* -1 if never recovered within recover_s */
    /* CHURN */
    uint32_t samples, stuck, min_in_group_pct_x100;
    /* run */
    uint64_t events, datagrams, fingerprint;
    double sim_s;
    uint64_t agent_bytes; /* allocated by one agent at creation */
} strata_groupsim_result;

/* Fills cfg with zeros and the default scenario (FORM); every 0 field
 * means its default. */
void strata_groupsim_config_default(strata_groupsim_config *cfg);

/* Runs one simulation. On success res holds the result (free it with
 * strata_groupsim_result_free) and 0 is returned. Errors: STRATA_ERR_INVAL
 * (a bad setting; message in err), STRATA_ERR_NOTFOUND / STRATA_ERR_RANGE
 * (the matrix or the label file cannot be read or parsed; message in err),
 * STRATA_ERR_NOMEM. res is zeroed on error. */
int strata_groupsim_run(const strata_groupsim_config *cfg, strata_groupsim_result *res, char *err,
                        size_t errlen);

void strata_groupsim_result_free(strata_groupsim_result *res);

/* Writes the assignment: one line per node, "index<TAB>group_id", the index
 * being the host index (its row in the matrix) when the run had one node
 * per host, else the node number; group_id 16 hex digits, or "-" for a
 * node in no group at the end. Returns 0 or STRATA_ERR_NOTFOUND (write
 * error). */
int strata_groupsim_write_assign(const strata_groupsim_result *res, FILE *f);
/* Writes the JSON metrics document. Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_groupsim_write_json(const strata_groupsim_result *res, FILE *f);
/* Writes the join order: one line per node that started, in start order,
 * "index<TAB>start_ms<TAB>node_id<TAB>agent_seed" (index as in the
 * assignment; the simulated time of its first start; the node id, 16 hex
 * digits, and the agent's seed, decimal, of that first session). What a
 * real-process run needs to replay the same arrivals with the same
 * identities and random draws (strata peer --node-id, --group-seed).
 * Returns 0, STRATA_ERR_NOMEM or STRATA_ERR_NOTFOUND. */
int strata_groupsim_write_order(const strata_groupsim_result *res, FILE *f);
int strata_groupsim_save_order(const strata_groupsim_result *res, const char *path, char *err,
                               size_t errlen);
/* Both, to files by name (either may be NULL); message in err on failure. */
int strata_groupsim_save(const strata_groupsim_result *res, const char *assign_path,
                         const char *json_path, char *err, size_t errlen);

/* "form", "failure", "churn" -> enum; -1 if unknown. */
int strata_groupsim_scenario_from_name(const char *name);

#endif
