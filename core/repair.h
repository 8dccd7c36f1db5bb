/*
 * Repair of missing packets (SPEC C7): which seqs to ask for, whom to ask
 * next, and how to batch the asks into REPAIR_REQUESTs.
 *
 * A seq is missing once a later seq is present (playout.h's MISSING
 * slots). That alone says little: the k substreams travel down k different
 * trees whose delays differ by tens or hundreds of milliseconds, so seq s
 * routinely arrives after s + 1 of another substream. Loss shows within
 * one substream: s is known lost (a gap) once a later packet of the SAME
 * substream, s mod k, has arrived; it becomes due for a request after_ns
 * after that. A substream whose parent went silent shows no such gap, so
 * a missing seq is also due fallback_ns after it went missing, where the
 * owner sizes fallback_ns above the skew it observes between substreams.
 * After the first ask it is due again every retry interval while it stays
 * missing; playout skips it at its deadline, which ends the asking. Each request goes to the
 * next target in a fixed rotation for the seq's substream: the parent of
 * that substream, the parents of the other substreams in order, then the
 * source, then a few of the node's own children, then the silent parents,
 * then round again. The children come late because they usually lack what
 * we lack, but not always: a child gets the substreams we do not feed it
 * from other parents, so when every parent is gone (and the source is not
 * known) the children are the holders within reach. A parent the owner
 * finds silent (it stopped delivering while others did not, or nothing
 * arrives at all) is most likely dead: asking it first would spend a retry
 * interval per dead parent before the source, which is what left a peer
 * whose parents all died at once without repairs until the control center
 * noticed. Due seqs that share a target are
 * batched into one request naming up to STRATA_WIRE_REPAIR_SPAN
 * consecutive seqs.
 */
#ifndef STRATA_REPAIR_H
#define STRATA_REPAIR_H

#include "strata/common.h"
#include "strata/wire.h"
#include "playout.h"

enum strata_repair_limits {
    STRATA_REPAIR_MAX_CHILD_TARGETS = 16,
    /* k parents, the source and a few children */
    STRATA_REPAIR_MAX_TARGETS = STRATA_WIRE_MAX_SUBSTREAMS + 1 + STRATA_REPAIR_MAX_CHILD_TARGETS,
};

/* Writes the rotation for substream s (< k) into out (room for
 * STRATA_REPAIR_MAX_TARGETS): parents[s], parents[s+1 mod k], ... except
 * those whose bit is set in silent, then source (may be NULL), then up to
 * STRATA_REPAIR_MAX_CHILD_TARGETS of the n_children refs in children (may
 * be NULL; the caller orders them), then the silent parents in the same
 * order. Refs with a zero node or address, refs naming self and repeated
 * addresses are left out. Returns the number written. */
size_t strata_repair_targets(const strata_peer_ref *parents, unsigned k, unsigned s,
                             uint32_t silent, const strata_peer_ref *source,
                             const strata_peer_ref *children, size_t n_children,
                             strata_node_id self, strata_addr *out);

typedef struct strata_repair_batch {
    strata_addr to;
    uint64_t first_seq;
    uint64_t mask; /* bit i names first_seq + i */
} strata_repair_batch;

typedef void (*strata_repair_emit_fn)(void *user, const strata_repair_batch *b);

/* Collects (target, seq) pairs given in increasing seq order into batches
 * and hands each finished batch to emit. */
typedef struct strata_repair_batcher {
    strata_repair_batch open[STRATA_REPAIR_MAX_TARGETS];
    size_t n;
    strata_repair_emit_fn emit;
    void *user;
} strata_repair_batcher;

void strata_repair_batcher_init(strata_repair_batcher *b, strata_repair_emit_fn emit, void *user);
void strata_repair_batcher_add(strata_repair_batcher *b, strata_addr to, uint64_t seq);
/* Emits every open batch. */
void strata_repair_batcher_flush(strata_repair_batcher *b);

/* Fills out with the rotation for seq; returns its length. */
typedef size_t (*strata_repair_targets_fn)(void *user, uint64_t seq, strata_addr *out);

/* When missing seqs become due (see the model above). */
typedef struct strata_repair_timing {
    uint64_t after_ns;    /* after a same-substream gap was seen (gap_since) */
    uint64_t fallback_ns; /* after the seq went missing (missing_since) */
    uint64_t retry_ns;    /* between asks for one seq */
} strata_repair_timing;

/* The time a MISSING slot s first becomes due: the earlier of gap_since +
 * after (when gap_since is set) and missing_since + fallback, saturating. */
uint64_t strata_repair_first_due(const strata_playout_slot *s, const strata_repair_timing *t);

/* Walks the MISSING slots of po. A slot is due at max(first_due, next_ask);
 * a due slot with at least one target is added to the batcher for
 * target[attempts mod n], its attempts counted and its next ask set to now
 * + retry_ns; a due slot without targets is retried after retry_ns.
 * Flushes the batcher. Returns the earliest time a slot will next be due,
 * or STRATA_NEVER. */
uint64_t strata_repair_scan(strata_playout *po, uint64_t now, const strata_repair_timing *t,
                            strata_repair_targets_fn targets, void *user, strata_repair_batcher *b);

#endif
