/*
 * The control center (SPEC C1, C2, C7, C8, C11, C13, C14 addressing).
 *
 * Parts, each its own module under core/:
 *  - client manager (control.c): receives JOIN, HEARTBEAT and LEAVE, keeps
 *    the node table (id, address, region, last heartbeat), passes each on
 *    to the DCM the node belongs to;
 *  - content directory (directory.c): (channel, region) -> logical DCM id;
 *  - service manager (control.c): creates a DCM for a (channel, region) on
 *    demand and registers it in the directory;
 *  - DCMs (dcm.c): one per channel and region, each owning a strata_mtree,
 *    turning tree changes into INSTRUCTIONs with increasing epochs.
 *
 * Regions come from the label the node gives or, without one, from its
 * address prefix (/prefix_bits). In LOCALITY mode only a label that names
 * a locality group ("group:" and 16 hex digits, protocol.md 7.8) counts:
 * the group is the region; any other label is ignored. A node is dead when no heartbeat came for
 * dead_after_ms; its trees are repaired. A parent whose child's reported
 * last_rx_seq for that substream stalls for stall_after_ms while the
 * child's other substreams advance has stopped delivering; the child is
 * moved to a new parent. A node whose heartbeat reports an older
 * instruction epoch than the DCM's gets its instructions again.
 *
 * Timers: the liveness and stall scan (every heartbeat_ms).
 */
#ifndef STRATA_CONTROL_H
#define STRATA_CONTROL_H

#include "strata/common.h"
#include "strata/wire.h"

typedef struct strata_control strata_control;

enum strata_region_mode {
    STRATA_REGION_LABEL_OR_PREFIX = 0, /* a node's label if it gives one, else its prefix */
    STRATA_REGION_PREFIX = 1,          /* always the address prefix */
    STRATA_REGION_LOCALITY = 2,        /* the node's locality group, else its prefix */
};

/* What carries a channel above its regions (docs/hierarchy.md). */
enum strata_levels {
    STRATA_LEVELS_BACKBONE =
        0,                   /* one head per region, fed by a multi-tree (the two tiers of old) */
    STRATA_LEVELS_MESH = 2,  /* several preferred nodes per region, flooding over a mesh */
    STRATA_LEVELS_EC = 3,    /* the mesh above each region's erasure-coded cluster: k data and
                                n parity trees, each rooted at another preferred node */
    STRATA_LEVELS_THREE = 4, /* the seed's three levels: the mesh; per region an erasure-coded
                                relay cluster of high-capacity members (as EC); below it a
                                common cluster of plain trees, each tree fed by a relay member */
};

enum strata_top { STRATA_TOP_FLOOD = 0, STRATA_TOP_TREE = 1, STRATA_TOP_AUTO = 2 };

typedef struct strata_control_config {
    uint8_t k;               /* 0 = default 4 */
    uint32_t heartbeat_ms;   /* 0 = default */
    uint32_t dead_after_ms;  /* 0 = 3.5 heartbeats */
    uint32_t stall_after_ms; /* 0 = 3 heartbeats */
    uint8_t region_mode;     /* enum strata_region_mode */
    uint8_t prefix_bits;     /* 0 = 24 */
    uint32_t max_nodes;      /* 0 = default; joins beyond are refused */
    int no_recruit;          /* nonzero: never ask a node to relay a channel it does not watch */
    /* nonzero: declared uploads are checked against delivered ones before a
     * member gets child slots or becomes a preferred node (docs/security.md,
     * "Declared capacity"), as `strata control` and the simulator do unless
     * told otherwise; 0: the trees and the evaluations believe declared
     * uploads. */
    int capacity_check;
    uint8_t levels;          /* enum strata_levels */
    uint8_t preferred_per_region; /* STRATA_LEVELS_MESH: 0 = STRATA_CONTROL_DEFAULT_PREFERRED */
    uint8_t mesh_c;               /* MESH and EC: 0 = 3 (strata/mesh.h) */
    /* How the mesh carries the stream (SPEC C4, C9; protocol.md 3.4,
     * docs/hierarchy.md "A tree inside the mesh"), enum strata_top:
     * FLOOD sends every packet over every link; TREE keeps a tree per
     * substream inside the mesh (each member takes each substream from
     * two neighbours and moves it when they fall behind: protocol.md
     * 3.13); AUTO: each preferred node floods until its mesh links have
     * not changed for top_stable_ms (0 = 60 s), then keeps the tree until
     * they change. */
    uint8_t top;
    uint32_t top_stable_ms;
    uint8_t parity;               /* EC and THREE: n, parity trees per relay cluster; 0 = mesh_c - 1
                                     (at least 1). With parity_max above it, the fewest */
    uint8_t parity_max;           /* EC and THREE: the most parity trees a cluster's loss may
                                     bring (docs/hierarchy.md, "Parity from loss"); 0 = twice
                                     parity (at most STRATA_WIRE_MAX_PARITY); parity = fixed */
    uint32_t split_members;       /* THREE: a region splits into relay and common clusters from this
                                     many members on, and is one again below half of it; 0 =
                                     STRATA_CONTROL_DEFAULT_SPLIT_MEMBERS, 1 = whenever it can */
    /* Regions by policy (docs/hierarchy.md): with locality regions and the
     * group records (strata_control_set_groups), a locality group with
     * fewer members in a channel than region_min_members (0 = k + n with
     * levels ec and 3, k otherwise), or too weak to carry its trees, is
     * served by the nearest region that can, when region_policy is
     * nonzero; 0: every group is a region of its own, as before (the
     * default until a move costs nothing: docs/hierarchy.md). */
    uint32_t region_min_members;
    int region_policy;
    uint64_t seed;
    strata_outbox *outbox; /* the node's (borrowed); NULL = one of its own */
    const strata_log *log;
    /* Channel access (docs/security.md, "Channel access"): nonzero makes
     * every channel need a token signed by this operator key in its JOINs
     * (strata/token.h), and turns recruiting off (a recruited relay holds
     * no token for the channel it is asked to relay). The Unix time is
     * unix_ns_at_zero + now: the host says where its clock starts. */
    int require_tokens;
    uint8_t operator_pk[32];
    uint64_t unix_ns_at_zero;
    /* JOINs a second from one address prefix (/join_prefix_bits, 0 = 24),
     * with a burst of join_burst (0 = 4 x the rate); 0 = no limit. */
    uint32_t join_rate_per_s;
    uint32_t join_burst;
    uint8_t join_prefix_bits;
} strata_control_config;

/* Why a JOIN was refused (strata_control_status.refused). */
enum strata_refusal {
    STRATA_REFUSAL_JOIN_RATE = 0, /* its address prefix is over its JOIN rate (not answered) */
    STRATA_REFUSAL_NO_TOKEN = 1,  /* the channel needs a token and the JOIN has none */
    STRATA_REFUSAL_TOKEN_MALFORMED = 2,
    STRATA_REFUSAL_TOKEN_CHANNEL = 3, /* a token for another channel */
    STRATA_REFUSAL_TOKEN_NODE = 4,    /* a token for another node */
    STRATA_REFUSAL_TOKEN_EXPIRED = 5,
    STRATA_REFUSAL_TOKEN_RIGHTS = 6, /* lacks the right the role needs (a source without publish) */
    STRATA_REFUSAL_TOKEN_SIGNATURE = 7, /* not signed by the operator key */
    STRATA_REFUSAL_REASONS = 8,
};
/* "join_rate", "no_token", "token_malformed", ...: the label metrics and
 * status output use. */
const char *strata_refusal_name(int reason);

enum strata_control_defaults {
    STRATA_CONTROL_DEFAULT_K = 4,
    STRATA_CONTROL_DEFAULT_HEARTBEAT_MS = 500,
    STRATA_CONTROL_DEFAULT_PREFIX_BITS = 24,
    STRATA_CONTROL_DEFAULT_MAX_NODES = 1000000, /* memberships (node, channel) */
    STRATA_CONTROL_MAX_CHANNELS_PER_NODE = 16,
    STRATA_CONTROL_DEFAULT_PREFERRED = 2,      /* preferred nodes per region (levels mesh and ec) */
    STRATA_CONTROL_DEFAULT_SPLIT_MEMBERS = 32, /* levels 3: see split_members */
};

typedef struct strata_control_status {
    size_t nodes; /* live peers and sources */
    size_t peers;
    size_t sources;
    size_t channels;
    size_t dcms;
    size_t dcms_with_members; /* a region whose members all head its trees has an empty
                                 DCM, as has a relay cluster above a common one */
    size_t detached_pairs;    /* (node, substream) pairs without a parent */
    int max_depth;
    uint64_t played_packets,
        missed_packets; /* latest heartbeat of every node, departed ones included */
    uint64_t peer_tx_bytes, source_tx_bytes; /* data bytes uploaded, likewise over the whole run */
    uint64_t joins, leaves, deaths, reparents, instructions_sent;
    uint64_t region_moves; /* members that joined again under another region */
    /* Regions by policy: groups folded into another region and given their
     * own back (decisions), members moved by them, groups folded now. */
    uint64_t policy_folds, policy_unfolds, policy_moves;
    size_t folded_groups;
    /* A restart (SPEC C14): a recovery window is open; members rebuilt
     * from heartbeats, and of the parents they reported, those kept. */
    int recovering;
    uint64_t restored_members, restored_edges, reported_edges;
    size_t relays; /* memberships of recruited relays (in peers too) */
    /* nodes made a region's head (a preferred node with a mesh), and heads
     * sent back to their region's trees by an evaluation */
    uint64_t promotions, demotions;
    /* The capacity check (docs/security.md, "Declared capacity"): tree
     * members whose credit rose, was cut, and was cut below one slot (a
     * strike: a leaf for a while). */
    uint64_t capacity_promotions, capacity_demotions, capacity_strikes;
    /* Parity from loss: clusters that took more parity trees, and fewer. */
    uint64_t parity_raises, parity_lowers;
    uint64_t recruits_sent, releases_sent;
    /* Waypoint servers (SPEC C5): placed now, placed in all, offers answered
     * STANDBY, and taken back because their regions no longer needed them. */
    size_t waypoints;
    uint64_t waypoints_placed, waypoint_standbys, waypoint_releases;
    /* JOINs refused by reason (enum strata_refusal) and tokens checked. */
    uint64_t refused[STRATA_REFUSAL_REASONS];
    uint64_t token_checks;
    strata_drop_counters drops;
} strata_control_status;

strata_control *strata_control_new(const strata_control_config *cfg, const strata_alloc *a,
                                   uint64_t now);
void strata_control_del(strata_control *c);

int strata_control_handle_datagram(strata_control *c, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now);
void strata_control_handle_timeout(strata_control *c, uint64_t now);
uint64_t strata_control_next_timeout(const strata_control *c);

strata_outbox *strata_control_outbox(strata_control *c);

/* The group records (strata/control_groups.h) whose distances regions by
 * policy weigh; borrowed, NULL none (every group is its own region). The
 * node object sets it when it runs both. */
struct strata_cgroups;
void strata_control_set_groups(strata_control *c, const struct strata_cgroups *cg);

/* One node's membership of one channel, as the control center sees it. */
typedef struct strata_control_member {
    uint8_t role;         /* enum strata_role */
    uint8_t priority;     /* among the node's channels, 0 first */
    uint8_t channels;     /* how many channels the node is in */
    uint32_t upload_kbps; /* this channel's share of the node's upload */
    strata_dcm_id dcm;    /* the DCM whose trees it is in (0 for a source) */
} strata_control_member;

/* One membership's place in the trees, for status output and tests. */
typedef struct strata_control_entry {
    strata_node_id node;
    strata_channel_id channel;
    uint8_t role;
    uint8_t k;
    strata_dcm_id dcm; /* the DCM whose trees it is in (a head's: the backbone); 0 for a source */
    /* per substream: a node, STRATA_MTREE_SOURCE or 0 (none); a source's are 0 */
    strata_node_id parents[STRATA_WIRE_MAX_TREES];
    /* For display (the topology page): the regional DCM (differs from dcm
     * for a head) and its region label (NUL-terminated, "" for a source),
     * the node's address, this channel's share of its upload, and its
     * latest heartbeat's counters. */
    strata_dcm_id region_dcm;
    uint64_t folded_group; /* its locality group, when the region serving it is another
                              group's (regions by policy); 0 otherwise */
    uint8_t level; /* levels ec and 3: 1 a preferred node, 2 relay cluster, 3 common cluster;
                      0 for a source and with the other levels */
    char region[STRATA_WIRE_MAX_REGION_BYTES + 1];
    char channel_name[STRATA_WIRE_MAX_NAME_BYTES + 1];
    strata_addr addr;
    uint32_t upload_kbps;
    uint64_t played, missed, tx_bytes;
    /* The capacity check's credit in its DCM (UINT32_MAX: its declared
     * upload is believed, as a source's is; a head's is the one the mesh
     * keeps for it) and its strikes (strata_dcm_trust). */
    uint32_t credit_kbps;
    uint8_t strikes;
} strata_control_entry;

/* Writes up to cap memberships (in no particular order); returns how many
 * there are. */
size_t strata_control_topology(const strata_control *c, strata_control_entry *out, size_t cap);

/* Fills *out for node in channel ch: returns 1, or 0 when it is not a
 * member. */
int strata_control_member_of(const strata_control *c, strata_node_id node, strata_channel_id ch,
                             strata_control_member *out);
void strata_control_get_status(const strata_control *c, strata_control_status *st);

/* Node authentication (core/auth.h, protocol.md 3.12): from now on every
 * JOIN, HEARTBEAT and LEAVE must carry the node's session tag, and every
 * JOIN_REPLY, INSTRUCTION and RECRUIT carries the control center's.
 * key_seed (32 bytes) makes its long-term key pair, which nodes may pin;
 * NULL: a key pair of this process only (from seed). seed: 32 secret
 * bytes the host drew, which also give the incarnation. Writes the public
 * key to pk_out (32 bytes) when not NULL. Returns 0 or STRATA_ERR_NOMEM. */
int strata_control_authenticate(strata_control *c, const uint8_t *key_seed, const uint8_t *seed,
                                uint8_t *pk_out);

#endif
