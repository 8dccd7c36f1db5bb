/*
 * Relay strategies (STYLE "Relay strategies ... are modules behind one
 * interface"): what a peer does with a packet it has stored, by the
 * algorithm its instruction names for the packet's tree (protocol.md 3.4).
 *
 * Model. A node holds one tree per substream it has instructions for: the
 * k data substreams and, in an erasure-coded cluster, n parity trees
 * numbered k .. k + n - 1. The peer (peer.c) owns the upstream side of each
 * (parent, epoch, what arrived from it) and hands the downstream side here:
 * the tree's algorithm and its children. For every data packet it stores
 * for the first time the peer calls strata_relay_data, which asks the
 * strategy of the packet's tree to pass it on; a parity symbol goes to the
 * strategy of its parity tree (strata_relay_parity).
 *
 * The strategies:
 *  - TREE and FLOOD (relay_tree.c) are one strategy: each child but the
 *    sender gets the packet. They differ in what the children are (tree
 *    children, mesh neighbours), which is the DCM's business, and a
 *    duplicate never reaches them (the peer drops it by its seq).
 *  - EC_TREE (relay_ec.c) forwards data as TREE does and takes parity.
 *  - MESH_TREE (relay_mesh.c) is FLOOD but for the neighbours that said
 *    they take the substream from another (lazy): a tree per substream
 *    inside the mesh, which the peer's side (peer_mesh.c) keeps whole.
 *
 * The coder. While the node has parity trees (n > 0) every stored data
 * packet is also shown to the group coder (relay_ec.h), whatever the
 * algorithm of its data tree: a preferred node floods its data substreams
 * and still makes the parity of the trees it roots. The coder sends the
 * parity the node owes its children and rebuilds missing data packets,
 * which it hands back to the peer (take_rebuilt) to be taken as received.
 *
 * The table of strategies lives in the object, filled by each module's
 * _ops function at init: a table of function pointers in static storage is
 * relocated data, which the core does not hold (scripts/check-core-purity.sh).
 */
#ifndef STRATA_RELAY_H
#define STRATA_RELAY_H

#include "strata/common.h"
#include "strata/fec.h"
#include "strata/peer.h"
#include "strata/wire.h"

#include "pktstore.h"

typedef struct strata_relay_ec strata_relay_ec;

/* One child link of a tree, with what was last sent on it (heartbeats). */
typedef struct strata_relay_child {
    strata_peer_ref ref;
    uint64_t last_tx_ts_ns;
    uint64_t last_tx_seq;
    /* MESH_TREE: a mesh neighbour that takes the substream from another
     * (its MESH_STATE said so); nothing is pushed to it. */
    uint8_t lazy;
} strata_relay_child;

/* The downstream side of one tree. */
typedef struct strata_relay_tree {
    uint8_t algorithm; /* enum strata_algorithm; 0 = no instruction yet (no children) */
    uint8_t n_children;
    uint8_t n_neighbours;         /* MESH_TREE: children[0 .. n_neighbours) are mesh neighbours */
    strata_relay_child *children; /* n_children entries, allocated per instruction */
} strata_relay_tree;

/* Where a stored data packet came from, as the strategies tell apart. */
enum strata_relay_origin {
    STRATA_RELAY_RECEIVED = 0, /* a DATA datagram: from a parent, a neighbour or a repair */
    STRATA_RELAY_REBUILT = 1,  /* decoded from a group's symbols by the coder */
};

/* What the relay uses of its peer; borrowed, set once at init. */
typedef struct strata_relay_peer {
    strata_node_id self;
    strata_channel_id channel;
    strata_outbox *outbox;
    const strata_pktstore *store; /* the data packets held, for coding */
    strata_peer_stats *st;        /* tx and parity counters */
    /* Takes a rebuilt data packet as if it had been received: stores,
     * queues for playout and relays it down its data tree. Returns 0 when
     * taken, or why not (a duplicate, outside the window). Must not free
     * the relay. */
    int (*take_rebuilt)(void *user, const strata_msg_data *m, uint64_t now);
    void *user;
    /* The caller's shared encoder and decoder (strata_peer_config), or
     * NULL: the coder then makes its own on first use. */
    strata_fec_encoder *fec_encoder;
    strata_fec_decoder *fec_decoder;
} strata_relay_peer;

typedef struct strata_relay strata_relay;

/* A strategy. Functions may be NULL where the algorithm has nothing to do. */
typedef struct strata_relay_ops {
    /* A data packet of tree t's substream (its encoding in e), stored for
     * the first time and received from `from` (zero when rebuilt). */
    void (*forward)(strata_relay *r, strata_relay_tree *t, const strata_pktstore_entry *e,
                    strata_addr from, uint64_t now);
    /* A parity symbol m (its datagram buf, len bytes) on parity tree t,
     * vouched for by its hash list or not (strata_relay_parity_unvouched);
     * returns 0 or the reason it was dropped. NULL: the algorithm carries
     * no parity (STRATA_ERR_UNEXPECTED). */
    int (*parity)(strata_relay *r, unsigned t, const strata_msg_data *m, const uint8_t *buf,
                  size_t len, strata_addr from, int vouched, uint64_t now);
} strata_relay_ops;

struct strata_relay {
    const strata_alloc *alloc;
    strata_relay_peer peer;
    strata_relay_ops ops[STRATA_ALG_MAX + 1]; /* by algorithm; 0: not instructed yet */
    strata_relay_tree *trees;                 /* k + n entries; NULL while there are none */
    uint8_t k, n;
    size_t window_packets; /* the peer's playout window, which bounds the coder */
    strata_relay_ec *ec;   /* the group coder while n > 0, else NULL */
};

/* Prepares an empty relay (no trees) for a peer whose playout window
 * holds window_packets. Cannot fail. */
void strata_relay_init(strata_relay *r, const strata_alloc *a, const strata_relay_peer *peer,
                       size_t window_packets);
/* Frees the trees and the coder. Safe after init. */
void strata_relay_free(strata_relay *r);

/* Makes room for k data and n parity trees. The first `keep` trees keep
 * their children (the caller keeps those whose numbering still holds);
 * the others start empty, parity trees with algorithm EC_TREE. The coder
 * is made when n becomes nonzero (or k changes under it) and freed when n
 * becomes 0. Returns 0 or STRATA_ERR_NOMEM, which changes nothing. */
int strata_relay_resize(strata_relay *r, uint8_t k, uint8_t n, size_t keep);

/* Applies an instruction's children and algorithm to tree t (< k + n),
 * carrying the transmit history (and laziness) of children that stay; the
 * first n_neighbours children are mesh neighbours (MESH_TREE, else 0).
 * Returns 0, STRATA_ERR_RANGE (t out of range, an unknown algorithm,
 * n_neighbours above n_children) or STRATA_ERR_NOMEM, which changes
 * nothing. */
int strata_relay_set_tree(strata_relay *r, unsigned t, uint8_t algorithm,
                          const strata_peer_ref *children, uint8_t n_children,
                          uint8_t n_neighbours);

/* Child links over every tree (each carries a k-th of the stream). */
size_t strata_relay_links(const strata_relay *r);

/* A data packet of substream sub (< k) was stored for the first time:
 * its tree's strategy passes it on and, while the node has parity trees,
 * the coder takes it into its group. */
void strata_relay_data(strata_relay *r, unsigned sub, const strata_pktstore_entry *e,
                       strata_addr from, int origin, uint64_t now);

/* 0 when the parity symbol m fits the node's parity trees (protocol.md
 * 3.1.1: seq mod k == 0, k <= substream < k + n), else
 * STRATA_ERR_UNEXPECTED (also for a node without parity trees). */
int strata_relay_parity_fits(const strata_relay *r, const strata_msg_data *m);

/* A parity symbol (already decoded: m, and its datagram buf of len
 * bytes) inside the playout window. Checks it as parity_fits does and
 * hands it to the strategy of its tree, which relays, keeps or decodes
 * it. Returns 0 or the reason it was dropped. */
int strata_relay_parity(strata_relay *r, const strata_msg_data *m, const uint8_t *buf, size_t len,
                        strata_addr from, uint64_t now);

/* A parity symbol of a signed channel whose hash list has not come yet
 * (its manifest has): the coder may rebuild the group's missing packets
 * with it, and the peer takes each only if its manifest vouches for it.
 * It is never relayed: parity owed to children is made from the whole
 * group instead, and its vouched copy, when the list comes, goes through
 * strata_relay_parity. Returns 0 or the reason it was not kept. */
int strata_relay_parity_unvouched(strata_relay *r, const strata_msg_data *m, const uint8_t *buf,
                                  size_t len, uint64_t now);

/* The playout window now starts at first_seq: the coder forgets the
 * groups wholly before it. */
void strata_relay_window(strata_relay *r, uint64_t first_seq);

/* Sends buf (one reference-counted buffer, seq) to child c and counts it
 * as sent, unless c is the node itself, has no address or is `from`: the
 * one way the strategies send. Returns 1 when queued, else 0. */
int strata_relay_send_child(strata_relay *r, strata_relay_child *c, strata_buf *buf,
                            uint64_t seq, strata_addr from, uint64_t now);
/* strata_relay_send_child to every child of t; returns how many took it. */
size_t strata_relay_send(strata_relay *r, strata_relay_tree *t, strata_buf *buf, uint64_t seq,
                         strata_addr from, uint64_t now);

/* The strategies' tables (relay_tree.c, relay_ec.c, relay_mesh.c). */
void strata_relay_tree_ops(strata_relay_ops *ops);
void strata_relay_ec_ops(strata_relay_ops *ops);
void strata_relay_mesh_ops(strata_relay_ops *ops);

#endif
