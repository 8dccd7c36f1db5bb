/*
 * What the simulator's baselines share (alg_mesh.c: random mesh pull with
 * buffer maps; alg_tree.c: one tree and SplitStream-like stripe trees):
 * a tiny simulator-only wire format, a compact playout window, the
 * tracker's member registry, and the send path into per-node outboxes.
 *
 * These are not strata and never leave the simulator: they are the designs
 * users would otherwise pick, run on the very same engine, scenario,
 * latency and metrics (issue 3, item 5), so that the comparison is fair.
 *
 * Wire format. One byte of message type, then fixed big-endian fields;
 * addresses are 4 bytes of IPv4 and 2 of port. Every decoder checks the
 * remaining length before each read, rejects trailing bytes and
 * out-of-range fields, and classify accepts only what decodes.
 *
 *   DATA        stripe u8, seq u64, payload (exactly 16 bytes: the
 *               world's sequence number and send time)
 *   JOIN        upload_kbps u32 (declared; 0 = unlimited)
 *   HB          upload_kbps u32 (tracker keepalive)
 *   LEAVE       -
 *   WHO         - (tracker: "I do not know you, join again")
 *   PEERS       n u8 (<= STRATA_SIMBL_MAX_PEERS), n addresses
 *   MORE        - (mesh: ask the tracker for more candidates)
 *   PARTNER     upload_kbps u32
 *   PARTNER_ACK accept u8 (0 or 1), upload_kbps u32
 *   BUFFERMAP   partners u8, base u64, nbits u16 (a multiple of 8, at most
 *               STRATA_SIMBL_MAX_MAP_BITS), nbits / 8 bytes: bit j of byte i
 *               (least significant first) says whether seq base + 8i + j
 *               is held
 *   REQUEST     base u64, nbits u16 (as above, at least 8), bitmap of the
 *               seqs wanted
 *   WELCOME     k u8 (1..16), interior u8 (< k, or 255 = none), slots u8,
 *               k addresses (the parent of each stripe; 0.0.0.0:0 = none yet)
 *   ASK         stripe u8, address of the parent that failed (or zero)
 *   PARENT      stripe u8, address of the new parent (zero = none free)
 *   ATTACH, DETACH, KEEPALIVE, REFUSE   stripe u8
 *
 * Playout window (strata_simbl_window). The same rule as core/playout.c:
 * the packet at the head is played as soon as it is present; a missing
 * head, and every missing seq up to the nearest later present packet p, is
 * skipped once p's deadline send_ts(p) + offset + delay has passed, offset
 * being the smallest (arrival - send time) seen. It also stores what it
 * holds for relaying. Compact because the baselines keep tens of thousands
 * of nodes in one process: a ring of cap slots holding the 16-byte payload
 * and a presence bitmap, 16 bytes and one bit per packet, where
 * strata_playout keeps a 56-byte slot and a buffer reference per packet.
 * The window is [next, next + cap); the ring also keeps already played
 * packets of [hi - cap, next) for partners and children that ask later.
 */
#ifndef STRATA_SIM_ALG_COMMON_H
#define STRATA_SIM_ALG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"
#include "world.h"

enum strata_simbl_limits {
    STRATA_SIMBL_MAX_STRIPES = 16,
    STRATA_SIMBL_MAX_PEERS = 32,      /* addresses in one PEERS message */
    STRATA_SIMBL_MAX_MAP_BITS = 4096, /* bits of one BUFFERMAP or REQUEST */
    STRATA_SIMBL_PAYLOAD_BYTES = STRATA_WORLD_PAYLOAD_BYTES,
    STRATA_SIMBL_DATA_BYTES = 1 + 1 + 8 + STRATA_SIMBL_PAYLOAD_BYTES,
    STRATA_SIMBL_MAX_MSG_BYTES = 1 + 1 + 8 + 2 + STRATA_SIMBL_MAX_MAP_BITS / 8,
    STRATA_SIMBL_NO_STRIPE = 255,
    /* Playout windows hold between these many packets (a multiple of 64). */
    STRATA_SIMBL_MIN_WINDOW = 64,
    STRATA_SIMBL_MAX_WINDOW = 4096,
    /* A node relays to at most this many children per stripe. */
    STRATA_SIMBL_MAX_CHILDREN = 64,
    /* Share of a declared uplink the trackers hand out as child slots or
     * the mesh counts on: the rest is headroom for headers, control and
     * bursts, which a full uplink would turn into queue drops. */
    STRATA_SIMBL_USABLE_PERCENT = 90,
};

enum strata_simbl_type {
    STRATA_SIMBL_DATA = 1,
    STRATA_SIMBL_JOIN = 2,
    STRATA_SIMBL_HB = 3,
    STRATA_SIMBL_LEAVE = 4,
    STRATA_SIMBL_WHO = 5,
    STRATA_SIMBL_PEERS = 6,
    STRATA_SIMBL_MORE = 7,
    STRATA_SIMBL_PARTNER = 8,
    STRATA_SIMBL_PARTNER_ACK = 9,
    STRATA_SIMBL_BUFFERMAP = 10,
    STRATA_SIMBL_REQUEST = 11,
    STRATA_SIMBL_WELCOME = 12,
    STRATA_SIMBL_ASK = 13,
    STRATA_SIMBL_PARENT = 14,
    STRATA_SIMBL_ATTACH = 15,
    STRATA_SIMBL_DETACH = 16,
    STRATA_SIMBL_KEEPALIVE = 17,
    STRATA_SIMBL_REFUSE = 18,
    STRATA_SIMBL_TYPES = 19,
};

/* A decoded message. Which fields are set depends on the type (see the
 * table above); bits and payload point into the decoded buffer (borrowed)
 * or, for encoding, into the caller's memory. */
typedef struct strata_simbl_msg {
    uint8_t type;
    uint8_t stripe;             /* DATA, ASK, PARENT, ATTACH, DETACH, KEEPALIVE, REFUSE */
    uint8_t flag;               /* PARTNER_ACK: accept; BUFFERMAP: partners */
    uint8_t k, interior, slots; /* WELCOME */
    uint8_t count;              /* PEERS, WELCOME: addresses */
    uint16_t nbits;             /* BUFFERMAP, REQUEST */
    uint32_t kbps;              /* JOIN, HB, PARTNER, PARTNER_ACK */
    uint64_t seq;               /* DATA: seq; BUFFERMAP, REQUEST: base */
    strata_addr addr;           /* ASK, PARENT */
    strata_addr addrs[STRATA_SIMBL_MAX_PEERS]; /* PEERS, WELCOME */
    const uint8_t *bits;                       /* BUFFERMAP, REQUEST: nbits / 8 bytes */
    const uint8_t *payload;                    /* DATA: STRATA_SIMBL_PAYLOAD_BYTES */
} strata_simbl_msg;

/* Encodes m into buf. Returns the length, STRATA_ERR_NOSPACE when buflen is
 * too small, or STRATA_ERR_INVAL for a message that would not decode (a
 * field out of range, an unknown type). */
int strata_simbl_encode(const strata_simbl_msg *m, uint8_t *buf, size_t buflen);

/* Decodes buf[0..len) into *m. Returns len, or a negative input error:
 * STRATA_ERR_SHORT (a field is cut off), STRATA_ERR_LONG (bytes left
 * over), STRATA_ERR_TYPE (unknown type) or STRATA_ERR_RANGE (a field out of
 * range). Never reads outside buf. */
int strata_simbl_decode(const uint8_t *buf, size_t len, strata_simbl_msg *m);

/* The baselines' classify (strata_simalg): DATA is data on substream
 * stripe, never a repair; anything else that decodes is control. Returns
 * 0, or the decode error (then the world charges it as control). */
int strata_simbl_classify(void *state, const uint8_t *buf, size_t len, strata_simpkt *out);

/* Bit i of a bitmap of 64-bit words. */
static inline int strata_simbl_bit(const uint64_t *bits, uint64_t i)
{
    return (int)((bits[i >> 6] >> (i & 63)) & 1u);
}

/* --- playout window ------------------------------------------------------- */

typedef void (*strata_simbl_play_fn)(void *user, const uint8_t *payload, size_t len);

typedef struct strata_simbl_window {
    uint64_t *bits;   /* cap bits, seq s at s % cap: held */
    uint8_t *payload; /* cap x STRATA_SIMBL_PAYLOAD_BYTES */
    uint32_t cap;     /* a power of two, >= 64 */
    uint8_t started;
    uint8_t have_offset;
    uint64_t next;     /* next seq to play */
    uint64_t hi;       /* one past the highest seq held; next <= hi <= next + cap */
    int64_t offset_ns; /* min over arrivals of (now - send time) */
    uint64_t delay_ns;
    uint64_t due_ns; /* cached strata_simbl_window_deadline */
    uint64_t played, skipped, forced;
    const strata_alloc *alloc;
} strata_simbl_window;

/* The window size for a scenario: its store_packets, rounded up to a power
 * of two within [STRATA_SIMBL_MIN_WINDOW, STRATA_SIMBL_MAX_WINDOW]. */
uint32_t strata_simbl_window_cap(const strata_scenario *s);

/* Prepares an empty, unstarted window of cap packets (a power of two, at
 * least 64). Returns 0, STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_simbl_window_init(strata_simbl_window *w, const strata_alloc *a, uint32_t cap,
                             uint64_t delay_ns);
void strata_simbl_window_free(strata_simbl_window *w);

/* Fixes where playout begins (later calls are ignored). */
void strata_simbl_window_start(strata_simbl_window *w, uint64_t seq);

/* Stores a packet (payload: STRATA_SIMBL_PAYLOAD_BYTES bytes, its bytes
 * 8..16 the big-endian send time) received at now. A seq at or beyond
 * next + cap moves the window forward (skipping what it passes: a node
 * that fell that far behind cannot catch up). Returns 1 when new, 0 for a
 * duplicate, STRATA_ERR_RANGE for a seq below next, STRATA_ERR_UNEXPECTED
 * before start. */
int strata_simbl_window_insert(strata_simbl_window *w, uint64_t seq, const uint8_t *payload,
                               uint64_t now);

/* Moves the playout head forward to seq (counting what it passes as
 * skipped); no-op when seq <= next. */
void strata_simbl_window_skip_to(strata_simbl_window *w, uint64_t seq);

/* 1 if seq is held (played or not). */
int strata_simbl_window_has(const strata_simbl_window *w, uint64_t seq);
/* The payload of a held seq, else NULL. */
const uint8_t *strata_simbl_window_payload(const strata_simbl_window *w, uint64_t seq);

/* Plays every packet due at now through play (which must not call back
 * into the window) and caches the next deadline. Returns packets played. */
size_t strata_simbl_window_poll(strata_simbl_window *w, uint64_t now, strata_simbl_play_fn play,
                                void *user);

/* When a missing head will be skipped (as of the last poll), or
 * STRATA_NEVER. */
static inline uint64_t strata_simbl_window_deadline(const strata_simbl_window *w)
{
    return w->due_ns;
}

/* Writes the held bits of seqs [base, base + nbits) into out (nbits / 8
 * bytes, the BUFFERMAP layout); nbits a multiple of 8. */
void strata_simbl_window_map(const strata_simbl_window *w, uint64_t base, uint32_t nbits,
                             uint8_t *out);

/* --- the tracker's member registry ----------------------------------------- */

/* One registered node (by network node index). */
typedef struct strata_simbl_member {
    uint64_t heard_ns;
    uint32_t pos; /* index in list */
    uint32_t kbps;
    uint16_t port;
    uint8_t alive;
} strata_simbl_member;

typedef struct strata_simbl_registry {
    strata_simbl_member *m; /* by node index */
    uint32_t *list;         /* alive members, in no order */
    uint32_t n, nodes;
    const strata_alloc *alloc;
} strata_simbl_registry;

int strata_simbl_registry_init(strata_simbl_registry *r, const strata_alloc *a, uint32_t nodes);
void strata_simbl_registry_free(strata_simbl_registry *r);
/* The member node registered with that port, or NULL. */
strata_simbl_member *strata_simbl_registry_get(strata_simbl_registry *r, uint32_t node,
                                               uint16_t port);
/* Registers node (port, kbps) at now. Returns 0 if it is new, 1 if it was
 * already registered with that port (only heard_ns and kbps change), 2 if
 * it replaces an older session of the node, which the caller must forget
 * first (see strata_simbl_registry_remove), STRATA_ERR_INVAL for a node out
 * of range. */
int strata_simbl_registry_add(strata_simbl_registry *r, uint32_t node, uint16_t port, uint32_t kbps,
                              uint64_t now);
void strata_simbl_registry_remove(strata_simbl_registry *r, uint32_t node);
/* Writes into out (room for every node) the members last heard before
 * before_ns, in list order; returns how many. The caller removes them. */
uint32_t strata_simbl_registry_silent(const strata_simbl_registry *r, uint64_t before_ns,
                                      uint32_t *out);
/* Fills out with up to max distinct alive members other than except, drawn
 * uniformly at random (all of them when there are no more). Returns how
 * many. */
uint32_t strata_simbl_registry_sample(const strata_simbl_registry *r, strata_rng *rng,
                                      uint32_t except, uint32_t *out, uint32_t max);

/* --- shared plumbing ----------------------------------------------------------- */

/* Reasons a baseline drops an input; counted per algorithm. */
enum strata_simbl_drop {
    STRATA_SIMBL_DROP_MALFORMED = 0,  /* does not decode */
    STRATA_SIMBL_DROP_UNEXPECTED = 1, /* decodes, but not for this node or state */
    STRATA_SIMBL_DROP_STRANGER = 2,   /* from a node (or session) it has no tie to */
    STRATA_SIMBL_DROP_RANGE = 3,      /* a seq or stripe outside what it serves */
    STRATA_SIMBL_DROP_OUTBOX = 4,     /* its own send did not fit the outbox */
    STRATA_SIMBL_DROP_REASONS = 5,
};

/* What a baseline plugs into the shared entry points below. */
typedef struct strata_simbl_hooks {
    /* A decoded datagram for the tracker that is not membership the base
     * handles itself (HB, LEAVE): JOIN always, others from members only. */
    int (*tracker)(void *alg, strata_addr from, const strata_simbl_msg *m, uint64_t now);
    /* A decoded datagram for node idx, which is up. */
    int (*node)(void *alg, uint32_t idx, strata_addr from, const strata_simbl_msg *m, uint64_t now);
    /* Frees node idx's own state (its outbox is the base's). */
    void (*node_del)(void *alg, uint32_t idx);
    /* The tracker is about to drop member idx (LEAVE or silence); may be
     * NULL. */
    void (*forget)(void *alg, uint32_t idx);
} strata_simbl_hooks;

/* What every baseline holds, as the first member of its state: the world,
 * per-node outboxes, timing from the scenario, the tracker's registry and
 * the drop counters. */
typedef struct strata_simbl_base {
    strata_world *w;
    const strata_alloc *alloc;
    const strata_simbl_hooks *hooks;
    uint32_t nodes;
    uint32_t window;      /* strata_simbl_window_cap */
    uint32_t rate_kbps;   /* stream rate */
    uint64_t hb_ns;       /* scenario heartbeat_ms */
    uint64_t delay_ns;    /* scenario playout_delay_ms */
    uint64_t interval_ns; /* packet interval */
    uint32_t data_bits;   /* bits the network charges per DATA packet */
    strata_outbox *ob;    /* per node; cap 0 when the node is down */
    uint8_t *up;          /* per node: 1 while it has state */
    /* the tracker */
    strata_simbl_registry reg;
    strata_rng trk_rng;
    uint64_t sweep_at;
    uint32_t *silent; /* per node: the sweep's list */
    uint64_t drops[STRATA_SIMBL_DROP_REASONS];
} strata_simbl_base;

int strata_simbl_base_init(strata_simbl_base *b, strata_world *w, const strata_simbl_hooks *hooks);
void strata_simbl_base_free(strata_simbl_base *b);
/* Marks node up with an outbox of cap datagrams per call into it. */
int strata_simbl_base_up(strata_simbl_base *b, uint32_t node, size_t cap);

/* Shared strata_simalg entries (state's first member is the base):
 * decode, count what does not decode, and hand the rest to the tracker
 * (after membership) or to the node's hook; free a node; its outbox. */
int strata_simbl_handle_datagram(void *state, uint32_t idx, strata_addr from, const uint8_t *buf,
                                 size_t len, uint64_t now);
void strata_simbl_node_free(void *state, uint32_t idx);
strata_outbox *strata_simbl_outbox(void *state, uint32_t idx);

/* The tracker comes up at now: seeds its random draws from node 0's seed
 * and registers the source, which it knows from the start as a real one is
 * configured with its channel's origin. Returns 0 or an error. */
int strata_simbl_tracker_up(strata_simbl_base *b, uint64_t now);
/* The tracker's timer: every heartbeat, members silent for 3.5 heartbeats
 * are forgotten (the hook first), the source never. */
void strata_simbl_tracker_timeout(strata_simbl_base *b, uint64_t now);

/* Polls node's window at now, handing every play to the world. */
void strata_simbl_play(strata_simbl_base *b, uint32_t node, strata_simbl_window *win, uint64_t now);

static inline uint64_t strata_simbl_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Encodes m into a buffer of its own size. Returns it (one reference) or
 * NULL when out of memory or m does not encode. */
strata_buf *strata_simbl_pack(const strata_alloc *a, const strata_simbl_msg *m);
/* Queues buf (taking a reference) from node to to; counts a full outbox. */
void strata_simbl_push(strata_simbl_base *b, uint32_t node, strata_addr to, strata_buf *buf);
/* Packs and queues m from node to to. */
void strata_simbl_send(strata_simbl_base *b, uint32_t node, strata_addr to,
                       const strata_simbl_msg *m);
/* Sends a message of one type whose fields are at most a flag and an
 * upload (JOIN, HB, PARTNER, PARTNER_ACK). */
void strata_simbl_send_kbps(strata_simbl_base *b, uint32_t node, strata_addr to, uint8_t type,
                            uint8_t flag, uint32_t kbps);
/* The tracker's address. */
strata_addr strata_simbl_tracker_addr(const strata_simbl_base *b);
/* Sends a message of one type that has no fields, or only a stripe. */
void strata_simbl_send_bare(strata_simbl_base *b, uint32_t node, strata_addr to, uint8_t type,
                            uint8_t stripe);

/* The address of node's session with that port. */
static inline strata_addr strata_simbl_addr(uint32_t node, uint16_t port)
{
    return (strata_addr){STRATA_WORLD_BASE_IPV4 + node, port};
}

/* A random time in [now, now + span): spreads periodic timers of nodes
 * that start together. */
uint64_t strata_simbl_jitter(strata_rng *r, uint64_t now, uint64_t span);

/* Serialisation time of bits at kbps (0 = unlimited: a fast link). */
uint64_t strata_simbl_tx_ns(uint64_t bits, uint32_t kbps);

/* --- introspection, for tests and diagnostics ------------------------------ */

typedef struct strata_simbl_mesh_stats {
    uint32_t peers;                      /* online peers with a mesh node */
    uint32_t min_partners, max_partners; /* established partners of an online peer */
    double mean_partners;
    uint32_t stale_partners; /* partner entries naming a departed session */
    uint64_t partners_added, partners_lost, requests, requested_seqs, timeouts, served;
    uint64_t refused; /* asked-for seqs that did not fit the send queue */
    uint64_t drops[STRATA_SIMBL_DROP_REASONS];
} strata_simbl_mesh_stats;

/* Fills st from a world running "mesh". Returns 0 or STRATA_ERR_INVAL. */
int strata_simbl_mesh_stats_of(const strata_world *w, strata_simbl_mesh_stats *st);

typedef struct strata_simbl_tree_stats {
    uint32_t k;
    uint32_t peers;              /* online peers with a tree node */
    uint32_t detached;           /* (online peer, stripe) pairs without a working parent */
    uint32_t multi_stripe;       /* peers that forwarded DATA in more than one stripe */
    uint32_t max_depth;          /* tracker's view, over connected nodes */
    uint32_t tracker_violations; /* broken invariants of the tracker's trees (0) */
    uint64_t asks, failed_parents, no_parent, refusals, push_downs;
    uint64_t drops[STRATA_SIMBL_DROP_REASONS];
} strata_simbl_tree_stats;

/* Fills st from a world running "tree" or "splitstream". Returns 0 or
 * STRATA_ERR_INVAL. */
int strata_simbl_tree_stats_of(const strata_world *w, strata_simbl_tree_stats *st);

#endif
