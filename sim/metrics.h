/*
 * Metrics of a simulation run: what the world reports as it goes (packets
 * the source sent, sessions, plays, paths, transfers) folded into the
 * figures of issue 3, written as JSON and as a CSV time series.
 *
 * Nodes are the world's network indexes: 0 is the control center, 1 the
 * source, 2.. the peer slots. A slot hosts one session at a time.
 *
 * Definitions (docs/simulator.md says the same in prose):
 *  - delivery_ratio: packets played / packets due, summed over sessions. A
 *    packet is due to a session when the source sent it in
 *    [join + startup_grace, end - playout_delay], where end is when the
 *    session ends (or the run does): after a node left nothing more is due
 *    to it, and a packet sent in the last playout delay before it left
 *    could not have been played yet. Played means handed to the
 *    application by the node's playout buffer, which skips a packet once
 *    its deadline has passed, so every played packet was on time; only
 *    plays of due packets count, so the ratio never exceeds 1.
 *  - startup_delay_s: per session, first play - join.
 *  - lag_s: per played packet, play time - source send time (log-linear
 *    histogram, relative error under 1/64).
 *  - stretch: per slot, the mean propagation delay of the overlay paths its
 *    new DATA packets took (sum of one-way link delays hop by hop) over the
 *    direct one-way delay source -> slot. A packet straight from the source
 *    has stretch exactly 1. Queueing and serialisation are in lag_s.
 *  - p2p_share: DATA bytes delivered from peers / all DATA bytes delivered.
 *  - cross_region_bytes_ratio: DATA bytes delivered between nodes of
 *    different regions / (regions x stream bytes), stream bytes being the
 *    bytes of every packet the source sent.
 *  - max_upload_utilisation: per slot with a finite uplink, bits it put on
 *    its uplink / (capacity x time online); the largest (mean_ also given).
 *  - control_overhead: control bytes / DATA bytes (delivered).
 *  - fluid_bound_kbps: min(source upload, (source upload + sum of the slots'
 *    uploads) / slots) (Kumar, Liu, Ross); null when unbounded.
 * DATA bytes are the simulated sizes (packet_bytes), control bytes real.
 *
 * Regional series (kill-preferred). When a correlated failure kills the
 * preferred nodes of some regions, the world names the peers of those
 * regions that survive it (strata_simmetrics_regional_start), and their
 * delivery, by the definition above restricted to those sessions, is taken
 * second by second (by send time) from STRATA_SIMM_REGIONAL_BEFORE_S
 * before the failure to STRATA_SIMM_REGIONAL_AFTER_S after it. Plays made
 * before the failure come from each peer's record of its recent plays,
 * kept while regional_plays is set (a bit per packet of the last
 * STRATA_SIMM_REGIONAL_BEFORE_S seconds, per slot).
 *
 * Memory: a record per node, an entry per stream packet and per CSV row,
 * a sample per session for startup; nothing per event.
 */
#ifndef STRATA_SIM_METRICS_H
#define STRATA_SIM_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pollute.h"
#include "strata/common.h"

enum {
    STRATA_SIMM_FIRST_PEER = 2,
    /* Lag histogram over microseconds: exact below 128, then 64 buckets per
     * power of two (relative error under 1/128 at the bucket middle). */
    STRATA_SIMM_LAG_BUCKETS = 128 + 57 * 64,
    STRATA_SIMM_NAME_BYTES = 32,
    /* Regional series around kill-preferred events: the first ones
     * followed, the seconds the series covers around each, the summary
     * windows, the region labels kept. */
    STRATA_SIMM_REGIONAL_MAX = 4,
    STRATA_SIMM_REGIONAL_BEFORE_S = 10,
    STRATA_SIMM_REGIONAL_AFTER_S = 30,
    STRATA_SIMM_REGIONAL_SECONDS = STRATA_SIMM_REGIONAL_BEFORE_S + STRATA_SIMM_REGIONAL_AFTER_S,
    STRATA_SIMM_REGIONAL_SUMMARY_S = 10, /* delivery_10s_before, delivery_10s_after */
    STRATA_SIMM_REGIONAL_LABELS = 4,
    STRATA_SIMM_LABEL_BYTES = 33, /* a region label (protocol.md: up to 32 bytes) and its NUL */
};

/* What crossed regions (cross_region_by_kind): data straight from the
 * source, data relayed by a peer, repair answers, parity symbols. */
enum {
    STRATA_SIMM_CROSS_SOURCE = 0,
    STRATA_SIMM_CROSS_RELAYED = 1,
    STRATA_SIMM_CROSS_REPAIR = 2,
    STRATA_SIMM_CROSS_PARITY = 3,
    STRATA_SIMM_CROSS_KINDS = 4,
};

/* A second delivers "as before" above this (recovery_s). */
#define STRATA_SIMM_RECOVERED_DELIVERY 0.999

typedef struct strata_simmetrics_config {
    uint32_t nodes; /* network nodes: 2 + peer slots */
    uint64_t duration_ns;
    uint64_t packet_interval_ns; /* sizes the per-packet tables */
    uint64_t playout_delay_ns;
    uint64_t startup_grace_ns;
    uint64_t csv_interval_ns;
    uint32_t rate_kbps;
    uint32_t packet_bytes;
    uint32_t source_upload_kbps; /* 0 = unlimited */
    uint32_t regions;            /* distinct regions of the peers */
    /* Nonzero: keep every slot's recent plays, for regional series
     * (the scenario has kill-preferred events). */
    int regional_plays;
} strata_simmetrics_config;

/* Per-slot state; private. */
typedef struct strata_simm_node {
    uint64_t join_ns;
    uint64_t win_lo_ns, win_hi_ns; /* send times due to the current session */
    uint64_t online_ns;            /* summed over sessions */
    uint64_t tx_bytes;             /* put on the uplink, sessions or not */
    double budget_bits;            /* capacity x time online, finite uplinks only */
    uint64_t mark_ns;              /* start of the part of the session not yet budgeted */
    uint64_t path_sum_us;
    uint32_t path_count;
    uint32_t direct_us;
    uint32_t capacity_kbps; /* 0 = unlimited */
    uint64_t recent_hi;     /* one past the newest seq in its recent plays */
    uint8_t online, played_any, unlimited_seen;
    uint8_t regional; /* bit w: the session is a member of regional series w */
} strata_simm_node;

/* What a regional series reports (docs/simulator.md, "kill_preferred");
 * delivery figures are < 0 where nothing was due. */
typedef struct strata_simm_regional {
    double at_s;
    uint32_t victims; /* preferred nodes killed */
    uint32_t regions; /* their regions; the first STRATA_SIMM_REGIONAL_LABELS labels kept */
    char labels[STRATA_SIMM_REGIONAL_LABELS][STRATA_SIMM_LABEL_BYTES];
    uint32_t peers; /* the regions' other peers online at the failure: the ones followed */
    double delivery_10s_before, delivery_10s_after;
    double delivery_min_1s;   /* the lowest second from the failure on */
    double delivery_min_at_s; /* its start, from the failure */
    /* From the failure to the start of the first second after the lowest
     * that delivers above STRATA_SIMM_RECOVERED_DELIVERY (0 when none is
     * at or below it); < 0: none within the series. */
    double recovery_s;
    /* Second i covers send times [at - BEFORE + i, at - BEFORE + i + 1) s. */
    double delivery_1s[STRATA_SIMM_REGIONAL_SECONDS];
} strata_simm_regional;

/* A regional series while it is taken; private. */
typedef struct strata_simm_watch {
    uint64_t at_ns;
    uint64_t first_seq; /* the first packet sent at or after the series' start */
    uint64_t nseqs;     /* packets the series can hold from first_seq */
    size_t words;       /* of each member's bitmap */
    uint32_t members;
    uint32_t *node;                 /* the members' slots, ascending */
    uint64_t *played;               /* members x words: bit s - first_seq played */
    uint64_t *due_first, *due_last; /* per member: seqs due [first, last), at its end */
    strata_simm_regional out;
} strata_simm_watch;

/* One CSV row's counters; private. */
typedef struct strata_simm_row {
    uint64_t data_bytes, peer_data_bytes, control_bytes, cross_bytes, peer_tx_bytes;
    uint64_t plays, lag_sum_us;
    uint32_t online;        /* at the sample */
    uint64_t capacity_kbps; /* summed over online finite uplinks, at the sample */
    uint32_t joins, departures;
} strata_simm_row;

typedef struct strata_simmetrics {
    strata_simmetrics_config cfg;
    const strata_alloc *alloc;
    strata_simm_node *node;
    /* Per stream packet (seq). */
    uint64_t *send_ns;
    uint32_t *played;
    int32_t *due_diff; /* due sessions as a difference array over seqs */
    uint64_t seqs, max_seqs;
    /* Startup samples (seconds), one per session that played. */
    float *startup;
    size_t nstartup, capstartup;
    uint64_t lag_hist[STRATA_SIMM_LAG_BUCKETS];
    uint64_t lag_count;
    /* Rows of the time series. */
    strata_simm_row *rows;
    size_t nrows;
    /* Totals. */
    uint64_t data_bytes, peer_data_bytes, source_data_bytes, control_bytes, cross_bytes;
    uint64_t cross_kind_bytes[STRATA_SIMM_CROSS_KINDS];
    uint64_t sessions, startup_failures, joins, leaves, kills;
    uint64_t online_now;
    uint64_t online_capacity_kbps;
    uint64_t plays_outside; /* played but not due (before grace, after the window) */
    /* Regional series: each slot's recent plays (recent_words a slot, a
     * ring over seqs), the series. */
    uint64_t *recent;
    size_t recent_words;
    strata_simm_watch watch[STRATA_SIMM_REGIONAL_MAX];
    size_t nwatch;
} strata_simmetrics;

/* The figures of a run; filled by strata_simmetrics_finish, plus the fields
 * the world and the command set (events, fingerprint, timing). */
typedef struct strata_simresult {
    char algorithm[STRATA_SIMM_NAME_BYTES];
    uint32_t nodes;
    double duration_s;
    uint32_t rate_kbps;
    uint32_t packet_bytes;
    uint64_t seed;
    double delivery_ratio;
    double startup_p50, startup_p95; /* < 0: no sample */
    double lag_p50, lag_p95;
    double stretch_p50, stretch_p95;
    double p2p_share;
    double cross_region_bytes_ratio;
    /* The same ratio split by what crossed (STRATA_SIMM_CROSS_*): the
     * parts add up to it. */
    double cross_region_by_kind[STRATA_SIMM_CROSS_KINDS];
    double max_upload_utilisation, mean_upload_utilisation;
    double control_overhead;
    double fluid_bound_kbps; /* < 0: unbounded */
    uint64_t events;
    uint64_t fingerprint;
    int have_timing;
    double wall_s, peak_rss_mb;
    /* Extras. */
    uint64_t packets_sent, packets_due, packets_played;
    uint64_t sessions, startup_failures, leaves, kills;
    uint64_t data_bytes, control_bytes;
    uint64_t net_queue_drops, net_losses, undeliverable;
    /* Counted by the nodes ("strata" only; 0 for the baselines): packets
     * taken from repair answers, packets rebuilt from parity symbols
     * (levels = ec), parity symbols sent. */
    uint64_t repaired_packets, parity_rebuilt_packets, parity_sent_packets;
    uint64_t preferred_killed; /* by kill-preferred events */
    /* Liars (scenario liar_share; delivery and the other figures leave them
     * out): slots, sessions, sessions the control center struck (credit
     * below one slot) and seconds from a session's start to that (p50, p95,
     * max; -1 none), DATA they dropped, (child, tree) pairs under them per
     * sample. */
    uint32_t liars;
    uint64_t liar_sessions, liar_struck, liar_dropped;
    /* Waypoint servers (scenario waypoint_share): slots, and from the
     * control center at the end: placed now, placed in all, offers answered
     * STANDBY, taken back. */
    uint32_t waypoint_slots, waypoints_end;
    uint64_t waypoints_placed, waypoint_standbys, waypoint_releases;
    /* Parity from loss (levels ec and 3): clusters that took more parity
     * trees, and fewer, in the whole run. */
    uint64_t parity_raises, parity_lowers;
    double liar_struck_p50, liar_struck_p95, liar_struck_max, liar_pairs_mean;
    /* Signed streams and polluters (scenario signed, polluter_share;
     * docs/security.md): whether the channel was signed; packets honest
     * viewers played that were not the source's or not in order, and their
     * bytes at the simulated size (in every run; in the JSON when signed or
     * with polluters); the peers' verification counters summed over every
     * peer session (strata_peer_stats: packets vouched for, dropped as
     * forged, as unverified, forged manifests); polluter slots, their
     * datagrams altered by kind (pollute.h order), sessions, sessions with
     * children at a sample, those cut off (none from some sample to the
     * session's end) and after how long from the session's start (p50, p95,
     * max; -1 none), those that kept children to their end, sessions struck
     * and after how long, (child, tree) pairs under polluters per sample. */
    int signed_stream;
    uint64_t bad_plays, bad_bytes;
    uint64_t verified_packets, forged_packets, unverified_packets, forged_manifests;
    uint32_t polluters;
    uint64_t polluter_acts[STRATA_SIMPOL_KINDS];
    uint64_t polluter_sessions, polluter_interior, polluter_cut, polluter_kept, polluter_struck;
    double polluter_cut_p50, polluter_cut_p95, polluter_cut_max;
    double polluter_struck_p50, polluter_struck_p95, polluter_struck_max, polluter_pairs_mean;
    /* The first kill-preferred events' regional series. */
    size_t nregional;
    strata_simm_regional regional[STRATA_SIMM_REGIONAL_MAX];
    uint32_t regions;
    /* region = groups: regions (distinct groups of the online peers) at
     * every sample, their mean (what `regions` and the cross-region ratio
     * use) and the count at the end; online peers in a group at the end. */
    int have_groups;
    double regions_mean;
    uint32_t regions_end, in_group_end, online_end;
    /* A control-restart event (the first of the run): when, for how long
     * the control center was down, and what followed. */
    int have_restart;
    double restart_at_s, restart_down_s;
    double rebuilt_s;        /* restart -> recovery window closed (every DCM rebuilt); < 0 never */
    double delivery_before;  /* packets sent in the 10 s before the crash */
    double delivery_after;   /* packets sent in the 30 s from the crash */
    double delivery_min_row; /* the worst row (csv interval) in those 30 s */
    uint64_t members_before; /* the control center's nodes just before the crash */
    uint64_t dcms_before, dcms_rebuilt;
    uint64_t restored_members, restored_edges, reported_edges;
} strata_simresult;

/* Prepares metrics for cfg. Returns 0, STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_simmetrics_init(strata_simmetrics *m, const strata_alloc *a,
                           const strata_simmetrics_config *cfg);
void strata_simmetrics_free(strata_simmetrics *m);

/* The direct one-way delay source -> node (for stretch) and its uplink
 * capacity (0 = unlimited); set once per node, capacity again (at now) on
 * change. */
void strata_simmetrics_set_direct(strata_simmetrics *m, uint32_t node, uint64_t direct_ns);
void strata_simmetrics_set_capacity(strata_simmetrics *m, uint32_t node, uint32_t kbps,
                                    uint64_t now);

/* The source sent stream packet seq (seqs come in order from 0). */
void strata_simmetrics_source_packet(strata_simmetrics *m, uint64_t seq, uint64_t now);

/* A session starts on node at now; it will end at planned_end_ns
 * (STRATA_NEVER: not before the run ends). */
void strata_simmetrics_session_start(strata_simmetrics *m, uint32_t node, uint64_t now,
                                     uint64_t planned_end_ns);
/* The session on node ends at now (graceful: it left; else killed). An end
 * earlier than planned shortens the due window, but plays already counted
 * stay counted. */
void strata_simmetrics_session_end(strata_simmetrics *m, uint32_t node, int graceful, uint64_t now);

/* The send time the source recorded for seq (strata_simmetrics_source_packet),
 * UINT64_MAX if none. */
uint64_t strata_simmetrics_sent_ns(const strata_simmetrics *m, uint64_t seq);

/* node played stream packet seq, sent at send_ns. */
void strata_simmetrics_play(strata_simmetrics *m, uint32_t node, uint64_t seq, uint64_t send_ns,
                            uint64_t now);

/* node received a new DATA packet whose overlay path had the given
 * propagation delay. */
void strata_simmetrics_path(strata_simmetrics *m, uint32_t node, uint64_t path_us);

/* A datagram of bytes was put on from's uplink (delivered: it will arrive;
 * else lost in flight). data: a DATA packet; cross: between regions. */
void strata_simmetrics_transfer(strata_simmetrics *m, uint32_t from, uint32_t to, uint32_t bytes,
                                int data, int cross, int delivered, uint64_t now);
/* What a delivered cross-region DATA datagram of bytes was (kind, one of
 * STRATA_SIMM_CROSS_*), for cross_region_by_kind. */
void strata_simmetrics_cross_kind(strata_simmetrics *m, int kind, uint32_t bytes);

/* A kill-preferred event at now killed `victims` preferred nodes of
 * `regions` regions (labels[0..nlabels-1], the first of their labels;
 * NULL when nlabels is 0): follows the delivery of nodes[0..n-1], the
 * regions' peers online now but the victims, from
 * STRATA_SIMM_REGIONAL_BEFORE_S before now (their plays so far, with
 * regional_plays set) to STRATA_SIMM_REGIONAL_AFTER_S after. Events after
 * the first STRATA_SIMM_REGIONAL_MAX are not followed. Returns 0,
 * STRATA_ERR_FULL (not followed) or STRATA_ERR_NOMEM. */
int strata_simmetrics_regional_start(strata_simmetrics *m, uint64_t now, const uint32_t *nodes,
                                     size_t n, uint32_t victims, uint32_t regions,
                                     const char *const *labels, size_t nlabels);

/* Records the CSV row state at now (call once per csv interval). */
void strata_simmetrics_sample(strata_simmetrics *m, uint64_t now);

/* Closes the sessions still open at now (the end of the run) and computes
 * the figures into r (the fields it owns). */
void strata_simmetrics_finish(strata_simmetrics *m, uint64_t now, strata_simresult *r);

/* Writes r as one JSON object (fixed key order, fixed number formats).
 * wall_s and peak_rss_mb only when r->have_timing. Returns 0 or -1. */
int strata_simresult_write_json(const strata_simresult *r, FILE *f);
/* The same with every line after the first indented by indent spaces and
 * no newline after the closing brace, for nesting the object in another. */
int strata_simresult_write_json_nested(const strata_simresult *r, FILE *f, int indent);

/* One row of the time series, as the CSV has it (docs/simulator.md); NAN
 * where the CSV leaves the cell empty (no sample). */
typedef struct strata_simm_rowvals {
    double t_s; /* row start */
    uint32_t online_peers;
    double delivery_ratio; /* of the packets sent in the row */
    uint64_t plays;
    double mean_lag_s;
    double data_kbps, p2p_share, control_kbps, cross_region_kbps;
    double upload_utilisation; /* peers' bits sent / online capacity */
    uint32_t joins, departures;
} strata_simm_rowvals;

/* Walks the rows in order; delivery needs a running sum over the packets,
 * which the cursor carries. Zero it to start. */
typedef struct strata_simm_cursor {
    size_t row;
    uint64_t seq;
    int64_t run;
} strata_simm_cursor;

/* Fills out with the next row of the time series and returns 1, or returns
 * 0 after the last row. Call after finish. */
int strata_simmetrics_next_row(const strata_simmetrics *m, strata_simm_cursor *c,
                               strata_simm_rowvals *out);

/* Writes the time series, one row per csv interval: see docs/simulator.md
 * for the columns. Call after finish. Returns 0 or -1. */
int strata_simmetrics_write_csv(const strata_simmetrics *m, FILE *f);

/* The lag distribution as CDF points, one per non-empty histogram bucket
 * in increasing order: lag_s[i] is the bucket's upper edge in seconds and
 * frac[i] the share of plays with a lag below it (nondecreasing, the last
 * is 1). Writes at most cap points (STRATA_SIMM_LAG_BUCKETS always
 * suffices) and returns how many there are in all. */
size_t strata_simmetrics_lag_cdf(const strata_simmetrics *m, double *lag_s, double *frac,
                                 size_t cap);

/* Upload utilisation of each slot with a finite uplink that was online
 * (bits put on its uplink / (capacity x time online), as for
 * max_upload_utilisation), in slot order. Call after finish. Writes at
 * most cap values and returns how many there are in all. */
size_t strata_simmetrics_upload_utilisation(const strata_simmetrics *m, double *out, size_t cap);

/* Nearest-rank percentile (0 < p <= 1) of v[0..n) (sorted in place); -1 if
 * n is 0. Exposed for tests. */
double strata_simm_percentile_f(float *v, size_t n, double p);

#endif
