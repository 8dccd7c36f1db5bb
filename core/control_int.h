/*
 * What the control center's modules share (core/control*.c): its state,
 * the records of nodes, memberships and channels, and the functions one
 * module calls in another. Internal to the core: nothing outside
 * core/control*.c includes it.
 */
#ifndef STRATA_CONTROL_INT_H
#define STRATA_CONTROL_INT_H

#include "strata/control.h"

#include "admission.h"
#include "auth.h"
#include "dcm.h"
#include "directory.h"
#include "idmap.h"
#include "preferred.h"
#include "strata/control_groups.h"
#include "strata/tree.h"

#include <string.h>

enum control_limits {
    CONTROL_OUTBOX_CAP = 65536,
    CONTROL_PROVISIONAL_RATE_KBPS = 1000, /* tree rate until the source announces */
    CONTROL_DIRTY_CHUNK = 64,
    CONTROL_SCAN_CHUNK = 64,
    CONTROL_LOG_WINDOW_MS = 1000,
    CONTROL_LOG_LINES_PER_WINDOW = 20, /* drop lines beyond this are counted, not written */
    CONTROL_REGION_BUF = STRATA_WIRE_MAX_REGION_BYTES + 1,
    RESTART_ADOPT_HEARTBEATS = 10,
    RESTART_WINDOW_HEARTBEATS = 3,
    RESTART_SOURCE_WAIT_HEARTBEATS = 12, /* the longest a window waits for a channel's source */
    RECRUIT_RETRY_MS = 5000,             /* a node asked to relay is not asked again before */
    RECRUIT_SCAN_HOSTS = 512,            /* candidates looked at per region and scan */
    RELEASE_SCAN_REGIONS = 64,           /* regions with relays looked at per scan */
    CONTROL_MAX_WAYPOINTS = 64,          /* waypoints placed at once (control_waypoints.c) */
    WAYPOINT_SCAN_MEMBERS = 16,          /* a region's best members counted for capacity */
    CONTROL_MAX_AWAY_TREES = 4,          /* other regions' trees one preferred node roots */
    /* A cluster's loss window (dcm.h, "Parity from loss"): 20 s at the
     * default interval, where one departure's gap weighs little. */
    CONTROL_PARITY_WINDOW_HEARTBEATS = 40,
};

struct ctl_channel;

struct ctl_host;

/* One membership: a node in one channel. */
typedef struct ctl_node {
    strata_node_id id;
    struct ctl_host *host; /* the node: address, declared upload */
    uint8_t role;          /* enum strata_role */
    uint8_t priority;      /* among the node's channels, 0 first */
    uint8_t restoring;     /* joined in a recovery window: in no tree yet */
    struct ctl_channel *ch;
    strata_dcm *dcm;    /* peers only: the DCM whose trees it is in */
    strata_dcm *roots;  /* a region's head: the regional DCM whose trees it feeds */
    uint32_t root_subs; /* ... which of them (bit s: tree s) */
    uint8_t naway;      /* levels = ec: trees of other regions' clusters it roots */
    struct ctl_away {
        strata_dcm *d;
        uint8_t tree;
    } away[CONTROL_MAX_AWAY_TREES];
    /* levels = 3: the common cluster whose trees it feeds in the source's
     * place (a member of its region's relay cluster, or a preferred node
     * of the region when the relay cluster has nobody with room) and which
     * of them (bit s: tree s). */
    strata_dcm *feeds;
    uint32_t feed_subs;
    uint32_t upload_kbps; /* this channel's share of the node's upload */
    uint64_t group;       /* its locality group (its JOIN's "group:" label), 0 none */
    uint64_t joined_seq;  /* join order: ties of priority go to the earlier */
    uint64_t last_seen_ns;
    uint32_t last_epoch_sent;
    uint64_t last_send_ns;
    uint64_t played, missed, tx_bytes; /* from the latest heartbeat */
    /* A preferred node's history (levels = mesh, see control_preferred.c). */
    uint64_t joined_ns, tx_sample_ns, tx_sample_bytes, preferred_since_ns;
    uint32_t delivered_kbps; /* its tx rate, averaged over heartbeats */
    uint32_t stalls;         /* children moved off it for stalling, halved at each evaluation */
} ctl_node;

/* What a node reported of its parents in a heartbeat to a control center
 * that did not know it (see control_restart.c). */
typedef struct ctl_report {
    strata_node_id node;
    strata_channel_id channel;
    strata_dcm_id dcm; /* the logical id of the DCM it followed */
    uint8_t level;     /* ... and that DCM's level (1 preferred, 2 region or relay, 3 common) */
    uint8_t n_parents;
    strata_node_id parents[STRATA_WIRE_MAX_TREES];
    /* From its JOIN in the window: its region, where its DCM is made when
     * the window closes (region_len 0: no JOIN yet). */
    uint8_t region_len;
    char region[STRATA_WIRE_MAX_REGION_BYTES];
} ctl_report;

/* One node, whatever its channels: the facts that are the node's. */
typedef struct ctl_host {
    strata_node_id id;
    strata_addr addr;
    uint32_t upload_kbps;  /* declared, shared among its memberships */
    uint64_t recruited_ns; /* when it was last asked to relay a channel (see ctl_recruit_scan) */
    uint8_t n_members;
    ctl_node *members[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
    strata_auth_peer auth; /* its session key (auth.h), when the control center authenticates */
} ctl_host;

/* A mesh of preferred nodes above the regions (levels mesh and ec). */

/* Peers and recruited relays are in the trees; a source feeds them. */
static inline int in_trees(const ctl_node *rec)
{
    return rec->role != STRATA_ROLE_SOURCE;
}

/* Regions by policy (control_policy.c): which region serves a locality
 * group of a channel, and what the evaluations counted of it. */
typedef struct ctl_pgroup {
    uint64_t group;
    uint64_t host;     /* the group whose region serves it: itself, or the one it is folded into */
    uint64_t since_ns; /* when its region became weak, or (folded) it became capable; 0 */
    uint32_t members, upload_max;          /* its members in the channel, their largest upload */
    uint64_t upload;                       /* ... and their upload in all (kbit/s) */
    uint32_t region_members, region_max;   /* as a host: its region's, guests included */
    uint64_t region_upload;
} ctl_pgroup;

typedef struct ctl_channel {
    strata_channel_id id;
    uint8_t source_live;
    strata_node_id source; /* live or last known; 0 = never had one */
    strata_addr source_addr;
    uint32_t source_upload_kbps;
    uint32_t rate_kbps; /* the trees' rate */
    uint64_t start_seq;
    strata_dcm **dcms; /* one per region */
    size_t ndcms, capdcms;
    strata_dcm *backbone; /* the regions' heads, once there are two regions */
    size_t members;       /* memberships (a window's wait in no DCM, see control_restart.c) */
    uint8_t name_len;     /* from the first JOIN: RECRUIT names the channel */
    uint8_t name[STRATA_WIRE_MAX_NAME_BYTES];
    ctl_pgroup *pg; /* regions by policy: one per locality group with members */
    size_t npg, cappg;
    strata_idmap pg_index; /* group -> position in pg */
} ctl_channel;

/* A dense array of pointers with an id index; swap-remove on delete. */
typedef struct ptab {
    void **items;
    uint64_t *keys;
    size_t count, cap;
    strata_idmap index;
} ptab;

struct strata_control {
    const strata_alloc *alloc;
    const strata_log *log;
    uint8_t k, region_mode, prefix_bits;
    uint8_t levels;           /* enum strata_levels */
    uint8_t heads_per_region; /* 1 with the backbone; the preferred nodes per region with a mesh */
    uint8_t mesh_c;
    uint8_t top;            /* enum strata_dcm_mesh_top: strata_control_config.top */
    uint64_t top_stable_ns; /* AUTO: strata_control_config.top_stable_ms */
    uint8_t parity;         /* levels ec and 3: n, the fewest a cluster has */
    uint8_t parity_max;     /* ... and the most its loss may bring */
    uint32_t split_members; /* levels 3: see strata_control_config */
    int policy;                  /* regions by policy (control_policy.c) */
    uint32_t region_min_members; /* ... a group with fewer members is folded */
    const strata_cgroups *cgroups; /* the group records, for their distances; NULL none */
    uint64_t policy_folds, policy_unfolds, policy_moves;
    int quiet_join;            /* a member moved by the policy: no JOIN to answer */
    struct ctl_host *keep_host; /* ... whose node record stays while it has no membership */
    uint32_t heartbeat_ms, max_nodes;
    uint64_t hb_ns, dead_ns, stall_ns;
    uint64_t seed;
    strata_admission adm;     /* who may join: JOIN rate, access tokens */
    strata_auth_center *auth; /* node authentication (auth.h); NULL = off */

    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_directory *dir;
    ptab nodes; /* memberships, by ctl_member_key */
    ptab hosts; /* nodes, by id */
    ptab channels, dcms;
    ptab pairs; /* levels = 3: a region's relay cluster <-> its common cluster, by DCM id */
    uint64_t member_salt[2]; /* ctl_member_key's secret */
    uint64_t joins_seq;
    uint32_t next_dcm_id;
    uint32_t epoch;
    uint64_t adopt_epochs_until; /* see control_restart.c */
    uint64_t recover_until;      /* end of the recovery window; 0: none open */
    uint64_t recover_limit;      /* ... which waits for sources until then at the latest */
    int recovered;               /* a window was opened once: never again */
    int keep_root_links;         /* while a window closes: restored root children stay */
    size_t window_heard;         /* nodes heard from before in the window (reports) ... */
    size_t window_joined;        /* ... and those of them that joined again */
    ptab reports;                /* ctl_report by ctl_member_key, during the window */
    uint64_t next_scan_ns;
    uint64_t next_eval_ns; /* levels = mesh: the next evaluation of the preferred nodes */
    uint64_t promotions, demotions;

    size_t peers, sources, relays;
    int recruit;        /* see ctl_recruit_scan */
    int check_capacity; /* declared uploads checked against delivered (dcm_capacity.c) */
    uint64_t capacity_promotions, capacity_demotions, capacity_strikes;
    uint64_t parity_raises, parity_lowers;
    size_t recruit_cursor; /* where the next candidate search starts */
    uint64_t recruits_sent, releases_sent;
    ctl_node *waypoints[CONTROL_MAX_WAYPOINTS]; /* placed waypoints (control_waypoints.c) */
    size_t nwaypoints;
    uint64_t waypoints_placed, waypoint_standbys, waypoint_releases;
    uint64_t played_sum, missed_sum, peer_tx_sum, source_tx_sum;
    uint64_t joins, leaves, deaths, reparents, instructions_sent, region_moves;
    uint64_t restored_members, restored_edges, reported_edges;
    strata_drop_counters drops;

    uint64_t log_window_ns;
    uint32_t log_lines;
    uint64_t log_suppressed;

    ctl_node **away_cands; /* scratch of ctl_ec_assign_channel */
    size_t away_cap;

    /* Scratch kept here rather than on the stack (about 20 KiB). */
    strata_msg_heartbeat hb;
    strata_msg_instruction instr[STRATA_WIRE_MAX_TREES];
    strata_msg_instruction root_instr[STRATA_WIRE_MAX_TREES];
};

static inline int mesh_levels(const strata_control *c)
{
    return c->levels == STRATA_LEVELS_MESH || c->levels == STRATA_LEVELS_EC ||
           c->levels == STRATA_LEVELS_THREE;
}

/* Each region's (relay) cluster erasure-coded, its trees rooted at distinct
 * preferred nodes (levels ec and 3). */
static inline int ec_levels(const strata_control *c)
{
    return c->levels == STRATA_LEVELS_EC || c->levels == STRATA_LEVELS_THREE;
}

/* --- small helpers -------------------------------------------------------------- */

/* Time differences saturate: a host clock that steps back must not make a
 * node look silent for centuries. */
static inline uint64_t elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static inline uint64_t deadline(uint64_t now, uint64_t after)
{
    return now > STRATA_NEVER - after ? STRATA_NEVER : now + after;
}

/* What a DCM is to its channel. */
enum dcm_kind {
    DCM_BACKBONE, /* above the regions: the backbone's tree or the mesh */
    DCM_REGION,   /* a region's cluster (with levels 3, its relay cluster) */
    DCM_COMMON,   /* levels 3: a region's common cluster, below its relay cluster */
};

/* --- regions and the backbone ------------------------------------------------------------ */

static inline unsigned popcount32(uint32_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* Levels 3 (control_three.c). */
enum {
    RELAY_ROOT_LINKS = 2,     /* root children per relay tree the budget aims at */
    RELAY_CANDIDATES = 32,    /* relay members weighed per common tree */
    RELAY_MIN_RATE_TIMES = 2, /* a relay member's upload: at least twice the rate */
};

/* Heads per region. Each head receives the whole stream from the backbone
 * (it is a viewer too), so every head costs the backbone one stream; and
 * a region whose head of tree s dies misses substream s until the control
 * center finds the death (dead_after), which without erasure coding is as
 * bad for a player as missing the stream. One head per region, then: the
 * machinery below handles up to k (one per tree), for when the levels
 * above carry coded substreams (SPEC C6). */
enum { CONTROL_HEADS_PER_REGION = 1 }; /* with the backbone; see heads_per_region */

/* Preferred nodes (control_preferred.c). */
enum {
    PREF_EVAL_HEARTBEATS = 10,
    PREF_CANDIDATES = 8, /* best members per region weighed beside its heads */
    PREF_MAX_HEADS = STRATA_WIRE_MAX_SUBSTREAMS,
};

/* --- between the modules ------------------------------------------------------ */

/* control.c: the control center's state, the tables, the public API and the timer */
void ctl_ptab_init(ptab *t, const strata_alloc *a, uint64_t seed);
void ctl_ptab_free(ptab *t, const strata_alloc *a);
void *ctl_ptab_get(const ptab *t, uint64_t key);
int ctl_ptab_reserve(ptab *t, const strata_alloc *a, size_t n);
void ctl_ptab_put(ptab *t, uint64_t key, void *item);
void ctl_ptab_del(ptab *t, uint64_t key);
int ctl_log_allowed(strata_control *c, int level, uint64_t now);
int ctl_drop(strata_control *c, strata_addr from, int err, const char *what, uint64_t now);
uint64_t ctl_member_key(const strata_control *c, strata_node_id node, strata_channel_id ch);
ctl_node *ctl_member_get(const strata_control *c, strata_node_id node, strata_channel_id ch);
uint32_t ctl_next_epoch(strata_control *c);

/* control_dcms.c: channels and DCMs (the service manager) */
ctl_channel *ctl_channel_get(strata_control *c, strata_channel_id id);
ctl_channel *ctl_channel_get_or_create(strata_control *c, strata_channel_id id);
void ctl_channel_maybe_release(strata_control *c, ctl_channel *ch);
strata_dcm *ctl_dcm_make(strata_control *c, ctl_channel *ch, enum dcm_kind kind, const char *region,
                         size_t region_len, strata_dcm_id want);
strata_dcm *ctl_dcm_for(strata_control *c, ctl_channel *ch, const char *region, size_t region_len,
                        strata_dcm_id want);
strata_dcm *ctl_common_of(const strata_control *c, const strata_dcm *d);
strata_dcm *ctl_home_of(const strata_control *c, strata_dcm *d);
strata_dcm *ctl_common_for(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_dcm_id want);
int ctl_dcm_resize_member(strata_dcm *d, const ctl_node *m, uint32_t kbps, uint32_t back_kbps);
/* Member m leaves DCM from for to, giving it kbps, with what the capacity
 * check knew of it in from (strata_dcm_trust). 0, or an error of
 * strata_dcm_add (it stays in from). */
int ctl_dcm_move_member(strata_dcm *from, strata_dcm *to, const ctl_node *m, uint32_t kbps);
void ctl_dcm_destroy(strata_control *c, strata_dcm *d);
int ctl_dcm_unused(strata_control *c, strata_dcm *d);

/* control_regions.c: regions, their feeders and root budgets, the backbone */
ctl_node *ctl_sub_head(strata_control *c, strata_dcm *d, uint8_t s);
ctl_node *ctl_tree_feeder(strata_control *c, strata_dcm *d, uint8_t s);
int ctl_has_heads(strata_control *c, strata_dcm *d);
size_t ctl_region_heads(strata_control *c, strata_dcm *d, ctl_node **out, size_t cap);
void ctl_drop_away(ctl_node *h);
void ctl_forget_away_into(strata_control *c, const strata_dcm *d);
uint32_t ctl_head_region_kbps(uint32_t upload_kbps, uint32_t rate_kbps);
uint32_t ctl_head_min_kbps(const ctl_channel *ch);
uint32_t ctl_head_min_in(const strata_control *c, const ctl_channel *ch, const strata_dcm *d);
uint32_t ctl_headed_budget_kbps(strata_control *c, const ctl_channel *ch, strata_dcm *d);
void ctl_push_roots(strata_control *c, ctl_channel *ch, uint64_t now);
uint32_t ctl_restore_budget_kbps(strata_control *c, ctl_channel *ch, strata_dcm *d, unsigned links);
void ctl_direct_region_changed(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now);
ctl_node *ctl_make_head(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_node_id id,
                        uint64_t now);
int ctl_region_take_heads(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now,
                          int *moved);
void ctl_backbone_start(strata_control *c, ctl_channel *ch, uint64_t now);
void ctl_set_addr(strata_control *c, ctl_node *rec, strata_addr addr, uint64_t now);
void ctl_backbone_maybe_stop(strata_control *c, ctl_channel *ch, uint64_t now);

/* control_three.c: levels 3, relay and common clusters */
int ctl_is_relay_cluster(const strata_control *c, const strata_dcm *d);
uint32_t ctl_cluster_kbps(const strata_control *c, const strata_dcm *d, uint32_t upload_kbps,
                          uint32_t rate_kbps);
int ctl_joins_relay(strata_control *c, const ctl_channel *ch, strata_dcm *d, uint32_t upload_kbps);
void ctl_drop_feeds(ctl_node *f);
void ctl_forget_feeders_of(strata_control *c, strata_dcm *cm);
int ctl_common_assign(strata_control *c, ctl_channel *ch, strata_dcm *d);
int ctl_relays_top_up(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now);
void ctl_relay_reshare(strata_control *c, ctl_channel *ch, strata_dcm *d);
void ctl_region_split(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_dcm *cm);
int ctl_common_assign_channel(strata_control *c, ctl_channel *ch);
void ctl_retire_common(strata_control *c, strata_dcm *cm, uint64_t now);

/* control_instr.c: instructions, assembled per node and sent in batches */
void ctl_flush_dcm(strata_control *c, strata_dcm *d, uint64_t now);
void ctl_flush_channel(strata_control *c, ctl_channel *ch, uint64_t now);
void ctl_mark_resend(const strata_control *c, ctl_node *rec);
void ctl_flush_node(strata_control *c, ctl_node *rec, uint64_t now);

/* control_ec.c: levels ec and 3, a cluster's trees rooted at distinct preferred nodes */
uint64_t ctl_root_links(const ctl_node *h);
uint64_t ctl_tree_root_kbps(const strata_dcm *d, uint8_t s, uint32_t rate_kbps);
int64_t ctl_away_room(const ctl_node *h, uint32_t rate_kbps);
int ctl_ec_assign_channel(strata_control *c, ctl_channel *ch);
/* Cluster d took another number of parity trees (dcm.h, "Parity from
 * loss"; how: strata_dcm_heard's parity_changed): the feeders of trees
 * that stopped let them go, new ones get
 * feeders as trees without one do, and the changes go out. */
void ctl_ec_parity_changed(strata_control *c, ctl_channel *ch, strata_dcm *d, uint8_t how,
                           uint64_t now);

/* control_preferred.c: choosing preferred nodes from their history */
uint32_t ctl_believed_kbps(const ctl_node *rec);
void ctl_judge_feeders(strata_control *c, ctl_node *rec, const strata_dcm_heard *heard,
                       uint64_t now);
int ctl_drop_unfed_heads(strata_control *c, ctl_channel *ch, uint64_t now);
void ctl_evaluate_preferred(strata_control *c, uint64_t now);
int ctl_evaluate_region(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now);

/* control_clients.c: the node table, upload shares, JOIN, HEARTBEAT and LEAVE */
uint32_t ctl_channel_demand_kbps(const strata_control *c, const ctl_channel *ch);
void ctl_remove_node(strata_control *c, ctl_node *rec, uint64_t now);
strata_dcm *ctl_region_dcm(const strata_control *c, const ctl_node *rec);
int ctl_handle_join(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                    uint64_t now);
int ctl_handle_heartbeat(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                         uint64_t now);
int ctl_handle_leave(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                     uint64_t now);
/* Moves member rec to the region labelled region: a leave from its
 * region's trees and a join to the other's, as at a JOIN under another
 * label, without a JOIN to answer. 0, or an error (it may then be gone). */
int ctl_rejoin_region(strata_control *c, ctl_node *rec, const char *region, size_t region_len,
                      uint64_t now);

/* control_recruit.c: recruiting relays for channels nobody there watches */
void ctl_recruit_channel(strata_control *c, ctl_channel *ch, uint64_t now);
void ctl_send_recruit(strata_control *c, ctl_host *h, const ctl_channel *ch, uint8_t flags);

/* control_waypoints.c: waypoint servers (SPEC C5) */
/* 1 when the offer j of a waypoint should be placed now (its region lacks
 * capable nodes); 0: answer STANDBY. */
int ctl_waypoint_admit(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                       const char *region, size_t region_len, uint64_t now);
/* A waypoint's membership was just placed in its region's trees. */
void ctl_waypoint_placed(strata_control *c, ctl_node *rec, uint64_t now);
/* Keeps the list of placed waypoints: rec goes in (in != 0) or out. */
void ctl_waypoint_track(strata_control *c, ctl_node *rec, int in);
void ctl_waypoints_release(strata_control *c, uint64_t now);
void ctl_recruit_scan(strata_control *c, uint64_t now);

/* control_policy.c: regions by policy (SPEC C2, C8) */
/* The group id of a "group:<16 lower-case hex>" label (protocol.md 7.8),
 * or 0 when s is no such label. */
uint64_t ctl_label_group(const char *s, size_t len);
void ctl_policy_init(strata_control *c, ctl_channel *ch);
void ctl_policy_free(strata_control *c, ctl_channel *ch);
/* A JOIN in ch_id under *region: the group it names (0: not a group
 * label), and *region / *region_len point at the label of the region that
 * serves that group now (buf, CONTROL_REGION_BUF bytes, when it is
 * another). */
uint64_t ctl_policy_region(strata_control *c, strata_channel_id ch_id, const char **region,
                           size_t *region_len, char *buf, uint64_t now);
void ctl_policy_evaluate(strata_control *c, uint64_t now);
/* The group whose region serves rec's group (rec's own when not folded;
 * 0 without a group). */
uint64_t ctl_policy_host_of(const strata_control *c, const ctl_node *rec);
size_t ctl_policy_folded(const strata_control *c);
/* After a restart (control_restart.c): each restoring member's group, and
 * the logical DCM and level it reports. The group with the most members
 * in a cluster is its region's; any other group found there was folded
 * into it, and is again (no member moves). Sorts r. */
typedef struct ctl_placed {
    uint64_t dcm;
    uint64_t group;
    uint8_t level;
} ctl_placed;
void ctl_policy_restore(strata_control *c, ctl_channel *ch, ctl_placed *r, size_t n);
/* A group label becomes that of the region serving the group (*region
 * and *region_len point into buf, CONTROL_REGION_BUF bytes), if another. */
void ctl_policy_label(ctl_channel *ch, const char **region, size_t *region_len, char *buf);

/* control_restart.c: rebuilding from heartbeats after a restart */
ctl_report *ctl_window_report(strata_control *c, strata_node_id node, strata_channel_id ch);
void ctl_keep_report(strata_control *c, const strata_msg_heartbeat *hb);
void ctl_finish_recovery(strata_control *c, uint64_t now);
int ctl_source_missing(const strata_control *c);

#endif
