/*
 * Return routability (issue 13, item 4: QUIC's anti-amplification rule).
 * Anyone can send a datagram from any address; a node that answers with
 * more bytes than it received lends its upload to whoever forged the
 * address. So towards an address that has not shown it receives there, a
 * node sends at most STRATA_REACH_FACTOR times the bytes it received from
 * it, and asks it to prove itself: a PROBE (protocol.md 3.5) whose
 * probe_id and send_ts are a keyed hash of the address, which only a node
 * that receives at that address can echo in its PROBE_REPLY (every node
 * answers PROBE). The echo makes the address verified.
 *
 * Model. A fixed table of verified addresses (two-way, keyed hash; the
 * idler entry makes room) and a fixed ledger of the bytes exchanged with
 * unverified ones (the same shape). Nothing grows with what others send.
 * Timers: none; entries carry the time they were last used, and the hash
 * key changes every STRATA_REACH_EPOCH_S (an echo of the current or the
 * previous key counts), so an old echo is worth nothing.
 *
 * Who uses it: the node (core/node.c) for the message types whose answer
 * can be larger than the request (the caller decides which), after the
 * role it routed the datagram to has queued its answer: what exceeds the
 * budget is taken back out of the outbox, counted by message type.
 */
#ifndef STRATA_REACH_H
#define STRATA_REACH_H

#include "strata/common.h"
#include "strata/wire.h"

enum strata_reach_limits {
    STRATA_REACH_FACTOR = 3,           /* bytes out per byte in, towards an unverified address */
    STRATA_REACH_EPOCH_S = 60,         /* the challenge key's lifetime */
    STRATA_REACH_CHALLENGE_MS = 250,   /* one challenge per address at most this often */
    STRATA_REACH_VERIFIED_TTL_S = 600, /* a verified address unused this long is forgotten */
};

typedef struct strata_reach_entry {
    strata_addr addr;
    uint8_t used;
    uint64_t last_ns;      /* verified: last use; ledger: last datagram */
    uint64_t rx_bytes;     /* ledger: received from it */
    uint64_t tx_bytes;     /* ledger: sent to it (answers and challenges) */
    uint64_t challenge_ns; /* ledger: last challenge sent */
} strata_reach_entry;

typedef struct strata_reach_stats {
    uint64_t verified;                          /* addresses that echoed a challenge */
    uint64_t challenges;                        /* PROBEs sent to unverified addresses */
    uint64_t withheld_bytes;                    /* answers taken back: over the budget */
    uint64_t withheld[STRATA_MSG_TYPE_MAX + 1]; /* datagrams taken back, by the type answered */
} strata_reach_stats;

typedef struct strata_reach {
    strata_node_id self;
    uint64_t key;
    strata_reach_entry *verified; /* nverified slots */
    strata_reach_entry *ledger;   /* nledger slots */
    size_t nverified, nledger;    /* powers of two */
    const strata_alloc *alloc;
    strata_reach_stats st;
} strata_reach;

/* Sets up tables of about `verified` and `ledger` addresses (rounded up to
 * powers of two, at least 16). Returns 0 or STRATA_ERR_NOMEM. */
int strata_reach_init(strata_reach *r, strata_node_id self, uint64_t seed, size_t verified,
                      size_t ledger, const strata_alloc *a);
void strata_reach_free(strata_reach *r);

/* 1 when addr echoed a challenge within STRATA_REACH_VERIFIED_TTL_S (and
 * notes the use), else 0. */
int strata_reach_is_verified(strata_reach *r, strata_addr addr, uint64_t now);
/* Counts len bytes received from an unverified address. */
void strata_reach_received(strata_reach *r, strata_addr from, size_t len, uint64_t now);
/* Bounds what the datagram from `from` of type `type` made the node queue
 * to `from`: the datagrams of ob from index `first` on (in queue order)
 * that would take what was sent to `from` beyond STRATA_REACH_FACTOR times
 * what came from it are taken out of the outbox and counted. When any
 * were, or the address asked for more than its budget before, a challenge
 * PROBE is queued (if it fits the budget and none went out lately).
 * Returns how many datagrams were withheld. */
size_t strata_reach_limit(strata_reach *r, strata_outbox *ob, size_t first, strata_addr from,
                          int type, uint64_t now);
/* Queues a challenge PROBE to addr now (the JOIN path: before answering). */
void strata_reach_challenge(strata_reach *r, strata_outbox *ob, strata_addr addr, uint64_t now);
/* A PROBE_REPLY from `from`: 1 when it echoes our challenge (the address
 * is verified now; the reply is ours, not the group agent's), else 0. */
int strata_reach_on_probe_reply(strata_reach *r, strata_addr from, const strata_msg_probe_reply *m,
                                uint64_t now);

#endif
