/*
 * One process's node (STYLE "One node per process"): the only core object a
 * host drives. A daemon, the simulator, the tests and the fuzzers feed it
 * every received datagram and the time, drain its one outbox, and wake it
 * at its one deadline; it hands each datagram to the role it is for.
 *
 * Roles, each an object of its own module:
 *  - the locality-group agent (groups.h) and its bootstrap client
 *    (group_client.h), when groups are on;
 *  - one channel session per content: a viewer (peer.h) or the source
 *    (source.h), keyed by channel id, several at once;
 *  - in the control process, the control center (control.h) and its
 *    group directory (control_groups.h).
 *
 * Routing by type, then channel (protocol.md 2.1):
 *   PROBE                           answered here, once, for the whole node
 *   RECRUIT                         here: a relay session starts or ends
 *   PROBE_REPLY, GROUP_QUERY..PONG  the group agent
 *   GROUP_BOOTSTRAP_REPLY           the bootstrap client
 *   GROUP_REPORT, GROUP_BOOTSTRAP   the control center's group directory
 *   JOIN, HEARTBEAT, LEAVE          the control center
 *   DATA, JOIN_REPLY, INSTRUCTION,
 *   REPAIR_REQUEST                  the session of the channel they name
 * Anything else, a datagram whose header does not parse, one for a role
 * or channel this node does not have, or a JOIN_REPLY or INSTRUCTION that
 * does not come from the control center's address (RECRUIT neither), is
 * counted in the node's drops.
 *
 * The roles never route datagrams to one another; what one role learns
 * for another, the node passes on after every call: the agent's group
 * becomes the region of the channels that follow it (a channel's JOIN
 * waits for the group, at most group_wait_ms, unless the channel names
 * its region), the bootstrap client's leaders go to the agent, and the
 * client is told whether the agent leads a group.
 *
 * Timers: each role's own, and group_wait (channels held for a group).
 */
#ifndef STRATA_NODE_H
#define STRATA_NODE_H

#include "strata/common.h"
#include "strata/control.h"
#include "strata/control_groups.h"
#include "strata/group_client.h"
#include "strata/groups.h"
#include "strata/peer.h"
#include "strata/source.h"
#include "strata/wire.h"

typedef struct strata_node strata_node;

/* What the host knows of a received datagram besides its bytes. */
typedef struct strata_rx {
    strata_addr from;
    int ttl; /* received IP TTL (the HOPS metric), -1 when unknown */
} strata_rx;

enum strata_node_defaults {
    STRATA_NODE_DEFAULT_OUTBOX_DATAGRAMS = 2048,
    STRATA_NODE_SOURCE_OUTBOX_DATAGRAMS = 16384,
    STRATA_NODE_CONTROL_OUTBOX_DATAGRAMS = 65536,
    STRATA_NODE_DEFAULT_GROUP_WAIT_MS = 10000,
    STRATA_NODE_MAX_CHANNELS = 16,
};

typedef struct strata_node_config {
    strata_node_id id;   /* nonzero, not all ones */
    strata_addr addr;    /* as others reach this node (the group agent advertises it) */
    strata_addr control; /* the control center (ignored by the control process) */
    uint64_t seed;
    uint32_t outbox_datagrams; /* 0 = what the roles need */
    const strata_log *log;
    /* Locality groups (SPEC L1-L11): nonzero runs the agent; group holds
     * its settings (node, addr, seed, outbox and log are the node's). */
    int groups;
    strata_gnode_config group;
    /* Nonzero: the agent starts without asking the control center for
     * leaders (a host that bootstraps it itself, strata_node_bootstrap). */
    int no_bootstrap_client;
    uint32_t group_wait_ms; /* 0 = default; a channel joins without a group after it */
    /* The control process: a control center with these settings (its
     * outbox and log are the node's), and its group directory. */
    const strata_control_config *control_center;
    const strata_cgroups_config *cgroups; /* NULL = defaults */
    /* Anti-amplification (docs/security.md, "Amplification"): nonzero
     * makes the node answer REPAIR_REQUEST and MANIFEST_REQUEST from an
     * address it has no reason to trust with at most 3 times the bytes it
     * received from it, until the address echoes a PROBE; and the control
     * center takes a JOIN only from an address that did. The daemons set
     * it; the simulator, whose addresses cannot be forged, does not.
     * verify_key keys the challenges: a secret the host draws (0 = one
     * derived from seed, which tests and the simulator fix). */
    int verify_addresses;
    uint64_t verify_key;
    /* Addresses each anti-amplification table holds (verified ones, and
     * the bytes owed to unverified ones); 0 = 1,024, or 65,536 in a
     * control process, which hears from every joining node. */
    uint32_t verify_table;
    /* Node authentication (core/auth.h, docs/security.md "No node speaks
     * for another"): nonzero seals every JOIN, HEARTBEAT and LEAVE with a
     * session key the JOIN establishes and takes JOIN_REPLY, INSTRUCTION
     * and RECRUIT only when the control center's tag proves them; a
     * control process requires the same of its nodes. The daemons set it;
     * the simulator does not. auth_seed: 32 secret bytes the host drew
     * (NULL = derived from seed). control_pk: the control center's public
     * key, pinned (NULL = trusted on first use). control_key_seed: the
     * control process's long-term key (32 bytes; NULL = one of this
     * process only). */
    int authenticate;
    const uint8_t *auth_seed;
    const uint8_t *control_pk;
    const uint8_t *control_key_seed;
} strata_node_config;

typedef struct strata_node_callbacks {
    /* The agent's group, leader or state changed. Must not call back into
     * the node. May be NULL. */
    void (*on_group)(void *user, const strata_gnode_event *ev);
    /* With no_bootstrap_client: the agent wants fresh leaders
     * (strata_gnode_callbacks.want_leaders); answer with
     * strata_node_bootstrap later. May be NULL. */
    void (*want_leaders)(void *user);
    void *user;
} strata_node_callbacks;

typedef struct strata_node_stats {
    uint64_t rx_datagrams;
    uint64_t probes_answered;
    /* Anti-amplification (verify_addresses): addresses that echoed a
     * challenge, challenges sent, JOINs held until their address did,
     * answers withheld (datagrams by the type they answered, and bytes). */
    uint64_t addresses_verified, challenges_sent, joins_held;
    uint64_t withheld[STRATA_MSG_TYPE_MAX + 1];
    uint64_t withheld_bytes;
    uint64_t recruits, releases; /* relay sessions the control center started and ended */
    /* Node authentication (authenticate): sessions installed, a key met
     * first replaced after an UNKNOWN, untagged UNKNOWNs taken, datagrams
     * from the control center's address refused (also in drops, "auth"). */
    uint64_t auth_sessions, auth_key_changes, auth_unknowns, auth_dropped;
    size_t channels;
    strata_drop_counters drops; /* datagrams no role of this node takes */
} strata_node_stats;

/* Creates the node and its fixed roles (agent, client, control center).
 * Returns NULL on a bad config or out of memory. cb may be NULL. */
strata_node *strata_node_new(const strata_node_config *cfg, const strata_node_callbacks *cb,
                             const strata_alloc *a, uint64_t now);
void strata_node_del(strata_node *n);

/* Feeds one received datagram. Returns 0 or the (negative) reason it was
 * dropped, by the node or by the role it went to. */
int strata_node_handle_datagram(strata_node *n, const strata_rx *rx, const uint8_t *buf,
                                size_t buflen, uint64_t now);
/* Runs every deadline that is due at now. */
void strata_node_handle_timeout(strata_node *n, uint64_t now);
/* Earliest deadline of every role, or STRATA_NEVER. */
uint64_t strata_node_next_timeout(const strata_node *n);
/* The one outbox: drain it after every call. */
strata_outbox *strata_node_outbox(strata_node *n);

/* Watches a channel (a viewer session). cfg's node, control, outbox and
 * log are the node's; its region, when set, is fixed, else the channel
 * follows the node's locality group. Returns the channel's handle (>= 0),
 * STRATA_ERR_EXISTS (already here), STRATA_ERR_FULL, STRATA_ERR_INVAL or
 * STRATA_ERR_NOMEM. */
int strata_node_watch(strata_node *n, const strata_peer_config *cfg, const strata_peer_callbacks *cb,
                      uint64_t now);
/* Publishes a channel (the source). As strata_node_watch. */
int strata_node_publish(strata_node *n, const strata_source_config *cfg, uint64_t now);
/* Feeds input to a published channel: strata_source_push/finish. Returns
 * their result, or STRATA_ERR_INVAL for a handle that is not a source. */
int strata_node_push(strata_node *n, int channel, const uint8_t *buf, size_t len, uint64_t now);
int strata_node_finish(strata_node *n, int channel, uint64_t now);
/* Leaves every channel (LEAVE to the control center) and the group. */
void strata_node_leave(strata_node *n, uint64_t now);

/* Gives the agent leaders to start from (with no_bootstrap_client). */
int strata_node_bootstrap(strata_node *n, const strata_peer_ref *refs, size_t count,
                          uint64_t now);

/* --- queries (for status output; NULL when the node lacks the role) ------ */
strata_node_id strata_node_id_of(const strata_node *n);
/* What a channel handle is (handles count from 0 in the order channels
 * were added, relayed ones included; strata_node_get_stats gives how
 * many). Returns 1, or 0 for a handle out of range. */
typedef struct strata_node_channel {
    const char *name;
    int relay; /* a relay session the control center asked for: plays nothing */
    int gone;  /* a relay session it ended */
    const strata_peer *peer;
    const strata_source *source;
} strata_node_channel;
int strata_node_channel_info(const strata_node *n, int channel, strata_node_channel *out);

/* The channel session behind a handle; NULL while it waits for a group. */
const strata_peer *strata_node_peer(const strata_node *n, int channel);
const strata_source *strata_node_source(const strata_node *n, int channel);
/* The region label a channel joined under ("" when the control decides). */
const char *strata_node_region(const strata_node *n, int channel);
const strata_gnode *strata_node_gnode(const strata_node *n);
const strata_gclient *strata_node_gclient(const strata_node *n);
const strata_control *strata_node_control(const strata_node *n);
const strata_cgroups *strata_node_cgroups(const strata_node *n);
void strata_node_get_stats(const strata_node *n, strata_node_stats *st);

/* The control center's public key as this node knows it (its own, in a
 * control process; pinned or met first, in a node): copies it to pk (32
 * bytes) and returns 1, or returns 0 (no authentication, or not met yet). */
int strata_node_control_key(const strata_node *n, uint8_t *pk);

#endif
