/*
 * The peer's insides, shared by peer.c (the contract of strata/peer.h) and
 * peer_sign.c (its signed-channel part): the state struct and the few
 * data-path steps the signed channel calls back into. Not a public API.
 */
#ifndef STRATA_PEER_IMPL_H
#define STRATA_PEER_IMPL_H

#include "strata/peer.h"

#include "pktstore.h"
#include "playout.h"
#include "relay.h"
#include "relay_ec.h"
#include "repair.h"
#include "session.h"
#include "verify.h"

enum peer_limits {
    SKEW_FACTOR = 2,
    SKEW_RISE = 8,
    SKEW_DECAY = 64,
    FALLBACK_MAX_DELAY_DIVISOR = 4, /* fallback <= playout delay / this */
    TAIL_BACKOFF_MIN_MS = 1000,
    TAIL_BACKOFF_MAX_MS = 16000,
    LOG_LINES_PER_SECOND = 8,
    REPAIR_SCAN_MIN_GAP_MS = 10,  /* batches asks and bounds scan work */
    SILENT_LAG_PER_SUBSTREAM = 4, /* a parent this many of its packets behind is silent */
    PARENT_GRACE_MS = 2000,       /* a replaced parent's packets still in flight are taken */
    OLD_NEIGHBOURS = 16,          /* replaced mesh neighbours kept for the same grace */
    HB_BUF_BYTES = STRATA_WIRE_MAX_DATAGRAM_BYTES,
};

/* The upstream side of one tree; its children are the relay's (relay.h). */
typedef struct substream_state {
    int have; /* an instruction was applied */
    uint32_t epoch;
    strata_peer_ref parent;
    strata_addr old_parent; /* the parent before, taken from until old_parent_until */
    uint64_t old_parent_until;
    uint64_t last_rx_ts_ns; /* last packet from the parent */
    uint64_t last_rx_seq;
    /* The node id of a parent that sent this tree a packet a manifest
     * contradicted (peer_sign.c, "Forged packets from a parent"): while it
     * is the parent, the heartbeat reports the progress it had made then,
     * distrust_seq and distrust_ts_ns, and no more (0 = none). The node's
     * own repairs go by what it really received. */
    uint64_t distrusted;
    uint64_t distrust_seq, distrust_ts_ns;
    /* The last packet (not a repair) from any sender: a flooding node's
     * progress, which its heartbeat reports in place of last_rx_seq (it
     * has no parent; dcm_mesh.c, "Stalls"). */
    uint64_t any_rx_seq;
    uint8_t flood; /* its newest instruction is FLOOD */
    uint64_t rx_next; /* seq expected next on this substream (highest + k); 0 = none yet */
} substream_state;

struct strata_peer {
    const strata_alloc *alloc;
    const strata_log *log;
    strata_peer_callbacks cb;
    strata_node_id node;
    strata_channel_id channel;
    uint8_t name[STRATA_WIRE_MAX_NAME_BYTES];
    uint8_t name_len;
    uint8_t region[STRATA_WIRE_MAX_REGION_BYTES];
    uint8_t region_len;
    uint8_t priority;
    uint8_t relay_only;
    uint8_t waypoint; /* joins as a WAYPOINT (protocol.md 3.3.4) */
    uint32_t upload_kbps;
    uint64_t repair_after_ns, repair_retry_ns, tail_idle_ns;
    uint64_t skew_ns; /* estimated lateness between substreams, see "Repair timing" */
    strata_repair_budget repair_budget;
    strata_rng rng;

    strata_session ses; /* join, heartbeats, leave (session.h) */

    /* From the JOIN_REPLY and the instructions. */
    uint8_t k;
    uint8_t n;        /* parity trees (EC_TREE), 0 outside an erasure-coded cluster */
    uint32_t n_epoch; /* epoch of the EC_TREE instruction that set n */
    uint32_t rate_kbps;
    uint64_t start_seq;
    uint32_t max_epoch;
    /* The DCM of the newest instruction applied and its level: what the
     * heartbeats name, so that a restarted control center knows which
     * cluster, at which level, the node's reported parents belong to. */
    strata_dcm_id member_dcm;
    uint8_t member_level;
    uint32_t member_epoch;
    substream_state *subs;  /* k + n entries (see set_trees); NULL while k is 0 */
    strata_relay relay;     /* the trees' children and strategies (relay.h) */
    /* Mesh neighbours (FLOOD children) an instruction replaced: their
     * packets are taken until old_neighbours_until, as a replaced parent's
     * (peer_senders.c). When the mesh is rebuilt (a restart), every
     * preferred node changes neighbours at once, and each hears from the
     * old ones until they too have their new instructions. Allocated at
     * the first change (preferred nodes only: the peer stays small). */
    strata_addr *old_neighbours; /* OLD_NEIGHBOURS entries, or NULL */
    uint8_t n_old_neighbours;
    uint64_t old_neighbours_until;
    /* MESH_TREE's upstream side (peer_mesh.c): whom each substream is
     * taken from and what the neighbours said; NULL without MESH_TREE. */
    struct peer_mesh *mesh;
    strata_peer_ref source; /* zero node until an instruction names it */
    uint32_t source_epoch;  /* epoch of the instruction it came from */

    /* Data plane. */
    strata_pktstore store;
    strata_playout po;
    strata_playout_callbacks po_cb;
    uint64_t played_send_ts_ns; /* send time of the latest packet played */
    int late_start; /* start playout at the first DATA packet */
    size_t hb_child_next; /* first child link of the next heartbeat */
    uint64_t repair_at;
    uint64_t tail_at;
    uint64_t tail_backoff_ns;
    uint32_t tail_attempts;
    uint64_t ahead_since; /* 0 = no packet beyond the window seen while idle */
    uint32_t silent;       /* parents asked last for repairs (bit per substream) */

    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* where datagrams go: the node's, or own_outbox */
    strata_peer_stats st;

    /* Signed channels (peer_sign.c): the verifier, set up at start with a
     * key (keyed), or at the first manifest without one (has_ver only). */
    int keyed, has_ver;
    int releasing, release_again; /* see release() in peer_sign.c */
    strata_verify ver;
    uint8_t channel_pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES];
    uint64_t verify_wait_ns;

    uint64_t log_window_ns;
    uint32_t log_lines;
    uint64_t log_suppressed;
};

/* peer.c: counts and logs a dropped datagram; returns err. */
int strata_peer_drop(strata_peer *p, uint64_t now, int err, int type, strata_addr from);
/* peer.c: a parity symbol whose hash list has not come (its manifest
 * has): see strata_relay_parity_unvouched. */
void strata_peer_take_unvouched_parity(strata_peer *p, const strata_msg_data *m, const uint8_t *buf,
                                       size_t len, uint64_t now);
/* peer.c: a DATA packet (or parity symbol) m, its datagram buf of len
 * bytes, that needs no more checking: stored, played, relayed. Returns 0
 * or why it was dropped. */
int strata_peer_take_data(strata_peer *p, strata_addr from, const strata_msg_data *m,
                          const uint8_t *buf, size_t len, uint64_t now);
/* peer.c: the repair targets for seq in the order they are asked
 * (repair.h); returns how many (up to STRATA_REPAIR_MAX_TARGETS). */
size_t strata_peer_repair_targets(void *user, uint64_t seq, strata_addr *out);

/* peer_senders.c: sender checks (docs/security.md, "Sender checks").
 * 0 when DATA m (a packet or parity symbol) from `from` comes from a node
 * this one takes stream data from, else STRATA_ERR_SENDER. */
int strata_peer_check_sender(const strata_peer *p, strata_addr from, const strata_msg_data *m,
                             uint64_t now);

/* peer_mesh.c: MESH_TREE's upstream side. After an instruction was
 * applied: sets the state up, syncs its neighbours, or frees it when no
 * tree is MESH_TREE any more (0 or STRATA_ERR_NOMEM). */
int strata_peer_mesh_applied(strata_peer *p, uint64_t now);
void strata_peer_mesh_free(strata_peer *p);
/* A copy of a packet of substream s (not a repair) came from `from`, the
 * first one (first) or a duplicate: an upstream of s when a slot is free. */
void strata_peer_mesh_copy(strata_peer *p, unsigned s, strata_addr from, int first);
/* A MESH_STATE datagram; 0 or why it was dropped. */
int strata_peer_mesh_state(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                           uint64_t now);
void strata_peer_mesh_timeout(strata_peer *p, uint64_t now);
/* The earliest time a gap in substream s seen now may be asked for: the
 * tree inside the mesh mends itself first (0 outside MESH_TREE). */
uint64_t strata_peer_mesh_repair_hold(const strata_peer *p, unsigned s, uint64_t now);
uint64_t strata_peer_mesh_next_timeout(const strata_peer *p);

/* peer_sign.c: the signed channel (see strata/peer.h). */
int strata_peer_sign_init(strata_peer *p, const strata_peer_config *cfg);
void strata_peer_sign_free(strata_peer *p);
/* Judges DATA m before it is taken: 1 take it, 0 it waits (or waits
 * already), or the negative reason to drop it. */
/* A packet of tree m->substream that a manifest contradicts came from
 * `from`: if that is the tree's parent, it is distrusted (see
 * substream_state.distrusted). */
void strata_peer_forged_from(strata_peer *p, const strata_msg_data *m, strata_addr from);
int strata_peer_sign_check(strata_peer *p, const strata_msg_data *m, const uint8_t *buf,
                           size_t len, strata_addr from, uint64_t now);
/* 0 when a packet the coder rebuilt is vouched for (or the channel is not
 * verified), else why not. */
int strata_peer_sign_rebuilt(strata_peer *p, const strata_msg_data *m);
int strata_peer_sign_manifest(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                              uint64_t now);
int strata_peer_sign_parity_list(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                                 uint64_t now);
int strata_peer_sign_request(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                             uint64_t now);
/* A data packet was stored: a parity hash list this node owes the parity
 * trees it roots may now be made. */
void strata_peer_sign_stored(strata_peer *p, uint64_t now);
void strata_peer_sign_timeout(strata_peer *p, uint64_t now);
uint64_t strata_peer_sign_next_timeout(const strata_peer *p);

#endif
