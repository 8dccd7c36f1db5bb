/*
 * A viewing node (SPEC C7, C11, C13; P2 output is the host's job).
 *
 * States: JOINING (sends JOIN to the control center every join_retry_ms
 * until a JOIN_REPLY arrives) -> MEMBER (follows INSTRUCTIONs, receives,
 * relays, plays, sends HEARTBEATs) -> LEFT (after strata_peer_leave).
 *
 * Data path: a DATA packet from anyone is accepted if its channel matches
 * and its seq is inside the playout window; a new one is stored in the
 * packet store (for repair and for relaying) and the playout buffer, and
 * relayed to this node's children of that substream. Duplicates are counted
 * and dropped. In an erasure-coded cluster (EC_TREE instructions with n
 * parity trees) the peer also takes, relays and makes the groups' parity
 * symbols, and rebuilds a group's missing packets from any k of its k + n
 * symbols (protocol.md 3.1.1, 3.4).
 *
 * Playout: packets are handed to on_play in sequence order as soon as the
 * next one is present. A missing packet is skipped (counted missed) when
 * its deadline passes: deadline = send_ts mapped onto the local clock (by
 * the smallest observed one-way offset) + playout_delay_ms.
 *
 * Repair: a packet is asked for repair_after_ms after a later packet of
 * its own substream arrived (a gap in that substream), or, when its
 * substream has gone quiet, once it is overdue against the packets of the
 * other substreams by more than the skew observed between them. The peer
 * asks, in turn, the parent of its substream, the parents of the other
 * substreams, then the source, one REPAIR_REQUEST per repair_retry_ms,
 * until its deadline. Requests it answers itself are limited to
 * STRATA_PKTSTORE_REPAIR_SHARE_PERCENT of its upload; the rest are refused
 * (counted in repair_requests_refused).
 *
 * Signed channels (SPEC P3, strata/manifest.h, docs/security.md): a peer
 * given the channel's public key takes a DATA packet or parity symbol only
 * once a manifest whose signature it checked vouches for its hash; until
 * then it waits (verify.h), at most verify_wait_ms, and is then dropped
 * (UNVERIFIED); one a manifest contradicts is dropped (FORGED) and never
 * relayed. It relays each new manifest down the tree of its batch's last
 * packet, each parity hash list down its parity tree, and asks its repair
 * targets for the manifests it lacks. A peer without the key verifies
 * nothing but still keeps, relays and serves the manifests it is sent.
 *
 * Timers (named deadlines): join retry, heartbeat, repair scan, playout
 * deadline, and on a signed channel the verifier's (ask, give up).
 */
#ifndef STRATA_PEER_H
#define STRATA_PEER_H

#include "strata/common.h"
#include "strata/fec.h"
#include "strata/manifest.h"
#include "strata/wire.h"

typedef struct strata_peer strata_peer;

typedef struct strata_peer_callbacks {
    /* In-order stream bytes to play out. Must not call back into the peer. */
    void (*on_play)(void *user, const uint8_t *buf, size_t len);
    /* The end-of-stream marker has been played out. */
    void (*on_end)(void *user);
    void *user;
} strata_peer_callbacks;

typedef struct strata_peer_config {
    strata_node_id node; /* nonzero, random per process */
    const char *channel; /* channel name */
    strata_addr control; /* control center */
    uint32_t upload_kbps;
    const char *region;        /* label, or NULL/"" to let the control decide */
    uint8_t priority;          /* rank among the node's channels, 0 first (protocol.md 3.3.1) */
    int relay_only;            /* joins as a RELAY: receives and forwards, never plays */
    int waypoint;              /* joins as a WAYPOINT (implies relay_only): an operator's
                                  relay, placed only where a region needs it */
    uint32_t playout_delay_ms; /* 0 = default */
    uint32_t join_retry_ms;    /* 0 = default */
    uint32_t repair_after_ms;  /* 0 = default */
    uint32_t store_packets;    /* packets kept for repair; 0 = default */
    uint32_t repair_retry_ms;  /* between asks for one packet; 0 = default */
    uint32_t tail_idle_ms;     /* silence before a tail probe; 0 = default */
    uint32_t outbox_datagrams; /* datagrams queued between drains; 0 = default */
    /* Where the peer queues its datagrams: the node's outbox (borrowed,
     * must outlive the peer); NULL = an outbox of its own of
     * outbox_datagrams. */
    strata_outbox *outbox;
    /* Repair answers are charged at least this many bytes against the
     * repair budget (pktstore.h); 0 = their real size. The simulator sets
     * the packet size its network charges. */
    uint32_t repair_charge_bytes;
    /* The group coder's encoder and decoder (erasure-coded clusters,
     * fec.h), owned by the caller and shared by the peers it drives: NULL
     * (what a daemon, one peer per process, leaves) lets the peer make its
     * own on first use, about 92 KB and 66 KB. Borrowed: each must outlive
     * every peer given it, and those peers must be driven one call at a
     * time from one thread (the coder's scratch space is used inside a
     * call only). Parity and rebuilt packets are the same bytes either
     * way: the tables depend on (k, symbol index) and on the loss pattern
     * alone. The simulator gives one pair to all its peers. */
    strata_fec_encoder *fec_encoder;
    strata_fec_decoder *fec_decoder;
    uint64_t seed;
    const strata_log *log;
    /* Signed channel: with verify set, the channel's Ed25519 public key
     * (copied); every packet must then be vouched for by the source's
     * signed manifests. verify_wait_ms bounds a packet's wait for its
     * manifest (0 = STRATA_VERIFY_DEFAULT_WAIT_MS, 1.5 s). */
    int verify;
    uint8_t channel_pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES];
    uint32_t verify_wait_ms;
    /* Channel access (strata/token.h): the token every JOIN carries
     * (borrowed: it must outlive the peer, as the node's copy does;
     * token_len 0 = none, at most STRATA_WIRE_MAX_TOKEN_BYTES). */
    const uint8_t *token;
    size_t token_len;
    /* Node authentication (core/auth.h): the node's key state, borrowed;
     * the node object sets it (NULL = the control messages go bare). */
    struct strata_auth_node *auth;
} strata_peer_config;

enum strata_peer_defaults {
    STRATA_PEER_DEFAULT_PLAYOUT_DELAY_MS = 3000,
    STRATA_PEER_DEFAULT_JOIN_RETRY_MS = 500,
    STRATA_PEER_DEFAULT_REPAIR_AFTER_MS = 60,
    STRATA_PEER_DEFAULT_REPAIR_RETRY_MS = 150,
    STRATA_PEER_DEFAULT_STORE_PACKETS = 4096,
    STRATA_PEER_DEFAULT_TAIL_IDLE_MS = 500,
    STRATA_PEER_DEFAULT_OUTBOX_DATAGRAMS = 2048,
    /* seqs a tail probe asks for (<= STRATA_WIRE_REPAIR_SPAN): enough to
     * show the gaps, which repair then fills, without asking a repairer
     * for a burst it must mostly refuse */
    STRATA_PEER_TAIL_PROBE_PACKETS = 16,
};

enum strata_peer_state { STRATA_PEER_JOINING, STRATA_PEER_MEMBER, STRATA_PEER_LEFT };

typedef struct strata_peer_stats {
    int state;
    /* New DATA packets and their bytes (duplicates are counted apart), the
     * bytes split by origin: an answer to a repair request (REPAIR flag),
     * else from the channel's source (the address its instruction names),
     * else from a parent or another peer. */
    uint64_t rx_data_packets, rx_data_bytes, rx_duplicates, rx_repairs;
    uint64_t rx_source_bytes, rx_peer_bytes, rx_repair_bytes;
    /* Erasure-coded cluster (EC_TREE, protocol.md 3.1.1): packets rebuilt
     * from a group's symbols, taken as received (they are among
     * rx_data_packets and rx_data_bytes, bytes by origin "parity": their
     * canonical encoding, as stored). */
    uint64_t parity_rebuilt_packets, parity_rebuilt_bytes;
    /* Parity symbols received and taken (a duplicate of one held is
     * counted in rx_duplicates instead); their datagram bytes. */
    uint64_t rx_parity_packets, rx_parity_bytes;
    /* Parity datagrams sent to parity-tree children (among
     * tx_data_packets and tx_data_bytes), symbols computed from whole
     * groups (each sent to one child or more), and decodes that failed
     * (symbols that do not belong together, or no memory for the decoder). */
    uint64_t parity_sent_packets, parity_sent_bytes, parity_encoded_symbols;
    uint64_t parity_decode_failures;
    /* Valid DATA packets that arrived after playout had passed their seq
     * (skipped as missed, or before where a late joiner started); they are
     * also among the drops (STRATA_ERR_RANGE). */
    uint64_t rx_late;
    /* When the latest packet was played, how long after its earliest
     * expected arrival: send time + the smallest one-way offset seen
     * (playout.h), so the fastest path's delay is not included; 0 before
     * any was played. */
    uint64_t playout_lag_ns;
    uint64_t tx_data_packets, tx_data_bytes, tx_repairs;
    uint64_t played_packets, played_bytes, missed_packets;
    uint64_t repair_requests_sent, repair_requests_served;
    uint64_t repair_requests_refused; /* answered only in part or not at all: over budget */
    uint64_t instructions_applied;
    uint64_t rejoins;         /* joins again after the control center said it did not know us */
    uint64_t joins_forbidden; /* JOINs refused for want of a valid access token */
    uint64_t joins_standby;   /* a waypoint's offers answered STANDBY (not needed now) */
    /* Send times not taken into the playout clock: they would have moved
     * its offset by more than the playout delay at once (playout.h). */
    uint64_t send_time_outliers;
    uint64_t region_changes;  /* joins again under a new region label */
    /* Signed channels (docs/security.md): new manifests taken (signature
     * checked when keyed) and their copies relayed; parity hash lists
     * taken; requests for them sent and answered; packets vouched for,
     * and packets dropped because a manifest contradicted them (forged:
     * also among the drops as "forged", with forged manifests) or none
     * came in time (unverified: among the drops as "unverified"); packets
     * waiting now. */
    uint64_t manifests_rx, manifests_tx, parity_lists_rx;
    uint64_t manifest_requests_sent, manifest_requests_served;
    uint64_t verified_packets, forged_packets, forged_manifests, unverified_packets;
    /* Tree parents that sent a packet a manifest contradicted, distrusted
     * from then on: their packets no longer count as their progress in
     * the heartbeat, so that stall detection moves this node off them. */
    uint64_t forged_parents;
    uint64_t verify_waiting;
    /* MESH_TREE (protocol.md 3.13): MESH_STATEs sent and taken; substreams
     * moved to another neighbour because theirs fell behind; packets sent
     * to a neighbour that had just chosen this node. */
    uint64_t mesh_states_tx, mesh_states_rx, mesh_upstream_moves, mesh_backfill_packets;
    strata_drop_counters drops;
} strata_peer_stats;

strata_peer *strata_peer_new(const strata_peer_config *cfg, const strata_peer_callbacks *cb,
                             const strata_alloc *a, uint64_t now);
void strata_peer_del(strata_peer *p);

/* Feeds one received datagram. Bad input is counted and dropped; returns 0
 * or the (negative) reason it was dropped. */
int strata_peer_handle_datagram(strata_peer *p, strata_addr from, const uint8_t *buf, size_t buflen,
                                uint64_t now);
/* Runs every deadline that is due at now. */
void strata_peer_handle_timeout(strata_peer *p, uint64_t now);
/* Earliest deadline, or STRATA_NEVER. */
uint64_t strata_peer_next_timeout(const strata_peer *p);
/* Sends LEAVE to the control center (and queues nothing else). */
void strata_peer_leave(strata_peer *p, uint64_t now);
/* Gives the node another region label (its locality group merged into
 * another, say): a member joins again under it at once, relaying and
 * playing on meanwhile, and the control center moves it to that region's
 * DCM (protocol.md 3.3). Returns 0 (also when the label is the same) or
 * STRATA_ERR_RANGE for a label longer than the wire allows. */
int strata_peer_set_region(strata_peer *p, const char *region, uint64_t now);

strata_outbox *strata_peer_outbox(strata_peer *p);
/* 1 when the peer's instructions name addr (a parent, a child or the
 * source of any of its trees): an address the control center vouched for.
 * The node answers such an address without an anti-amplification budget
 * (docs/security.md, "Amplification"). */
int strata_peer_knows(const strata_peer *p, strata_addr addr);
void strata_peer_get_stats(const strata_peer *p, strata_peer_stats *st);

#endif
