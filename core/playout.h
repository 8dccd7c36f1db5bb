/*
 * Playout buffer: puts DATA packets back in sequence order and hands them
 * to the application, skipping a missing packet once waiting longer would
 * make the stream late (SPEC C7 bottom level; P2 output is the host's).
 *
 * Model. The buffer covers the window [next, next + cap) of sequence
 * numbers; seq s lives in slot s mod cap. A slot is EMPTY (nothing known),
 * MISSING (a later seq is present, so this one is overdue; repair state
 * lives here) or PRESENT (holds a reference to the packet's buffer). "end"
 * is one past the highest present seq, so every seq in [next, end) is
 * MISSING or PRESENT and every seq at or above end is EMPTY.
 *
 * Delivery: the packet at next is played as soon as it is present. When it
 * is missing, it and every missing seq up to the nearest later present
 * packet p are skipped (counted missed) once the deadline of p passes:
 *
 *     deadline(p) = send_ts(p) + offset + delay,
 *     offset = min over received packets of (now - send_ts),
 *
 * so the offset absorbs both the clock difference between the source and
 * this machine and the fastest path's latency, and delay is the time a
 * packet may take beyond that. An EOS packet ends playout when reached.
 *
 * A send time is not signed and may be forged (issue 13, item 4): it must
 * never move the playout point. So a present packet's deadline is kept
 * within [arrived + delay / 2, arrived + delay] of its own arrival: a
 * packet with an old send time cannot make the packets before it be
 * skipped at once (one such packet used to skip 16 s of stream), nor one
 * with a future send time hold playout back for longer than the delay.
 * An honest packet arrives at send_ts + offset + its path's extra delay,
 * so the upper bound never binds for it, and the lower one only for a
 * packet that took more than delay / 2 beyond the fastest path. The owner
 * lifts the lower bound (early_ok) for a packet that answers its own
 * repair request, which only a node it asked can send (the peer's sender
 * checks) and which is late by nature: the run before it is overdue. And an
 * observation that would lower the offset by more than the delay at once
 * (a path does not get seconds faster) is ignored and counted.
 *
 * Timer: the deadline of the nearest present packet after a missing head.
 */
#ifndef STRATA_PLAYOUT_H
#define STRATA_PLAYOUT_H

#include "strata/common.h"

enum strata_playout_slot_state {
    STRATA_PLAYOUT_EMPTY = 0,
    STRATA_PLAYOUT_MISSING = 1,
    STRATA_PLAYOUT_PRESENT = 2,
};

typedef struct strata_playout_slot {
    uint64_t seq;
    uint64_t send_ts_ns;       /* PRESENT */
    union {
        uint64_t missing_since_ns; /* MISSING: when a later seq first arrived */
        uint64_t arrived_ns;       /* PRESENT: when it arrived (bounds its deadline) */
    };
    uint64_t next_ask_ns;      /* MISSING: earliest next repair request (owner's use) */
    uint64_t gap_since_ns;     /* MISSING: when a later seq of the same substream arrived,
                                * 0 = not yet (owner's use) */
    strata_buf *buf;           /* PRESENT: one reference */
    uint16_t payload_off;
    uint16_t payload_len;
    uint16_t attempts; /* MISSING: repair requests sent (owner's use) */
    uint8_t state;
    uint8_t eos;
    uint8_t early_ok; /* PRESENT: its send time may bring skips before arrived + delay / 2 */
} strata_playout_slot;

typedef struct strata_playout_callbacks {
    void (*on_play)(void *user, const uint8_t *buf, size_t len);
    void (*on_end)(void *user);
    void *user;
} strata_playout_callbacks;

typedef struct strata_playout {
    strata_playout_slot *slots;
    size_t cap;
    uint64_t delay_ns;
    int started;
    int ended;
    uint64_t next; /* next seq to play */
    uint64_t end;  /* one past the highest present seq; >= next */
    int have_offset;
    int64_t offset_ns; /* min(now - send_ts) */
    uint64_t offset_outliers; /* observations ignored: the offset would drop by > delay */
    size_t present;    /* PRESENT slots */
    uint64_t played_packets, played_bytes, missed_packets;
    const strata_alloc *alloc;
} strata_playout;

/* Prepares a buffer of cap slots (>= 1) with the given playout delay.
 * Returns 0, STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_playout_init(strata_playout *po, const strata_alloc *a, size_t cap, uint64_t delay_ns);
/* Releases every held buffer and the ring. Safe on a zeroed struct. */
void strata_playout_free(strata_playout *po);

/* Fixes where playout begins; later calls are ignored (see jump). */
void strata_playout_start(strata_playout *po, uint64_t seq);

/* Moves the window forward so that it begins at seq (no-op when seq <=
 * next). Every skipped seq that was not played is counted missed when
 * count_missed is set. */
void strata_playout_jump(strata_playout *po, uint64_t seq, int count_missed);

/* Takes one received packet's timestamp into the clock offset. Call for
 * every valid DATA packet before insert. */
void strata_playout_observe(strata_playout *po, uint64_t send_ts_ns, uint64_t now);

/* 1 if seq is inside the window (playout started), else 0. */
int strata_playout_in_window(const strata_playout *po, uint64_t seq);

/* Inserts a packet (taking a reference to buf; its payload is
 * buf->data[off, off + len)). Returns 1 when new, 0 for a duplicate,
 * STRATA_ERR_RANGE outside the window, STRATA_ERR_UNEXPECTED before start.
 * Seqs skipped over become MISSING since now. */
int strata_playout_insert(strata_playout *po, uint64_t seq, uint64_t send_ts_ns, strata_buf *buf,
                          uint16_t off, uint16_t len, int eos, uint64_t now);

/* Plays every packet that is due at now through cb, skipping overdue gaps;
 * calls on_end once when the EOS packet is reached. Returns the number of
 * packets played. The callbacks must not call back into the buffer. */
size_t strata_playout_poll(strata_playout *po, uint64_t now, const strata_playout_callbacks *cb);

/* The time at which a missing head will be skipped, or STRATA_NEVER. */
uint64_t strata_playout_deadline(const strata_playout *po);

/* Local deadline of a packet stamped send_ts (saturating). */
uint64_t strata_playout_deadline_of(const strata_playout *po, uint64_t send_ts_ns);

/* The slot of seq if seq is in [next, end), else NULL. The owner may use
 * next_ask_ns, gap_since_ns and attempts of MISSING slots for its repair
 * bookkeeping. */
strata_playout_slot *strata_playout_slot_at(strata_playout *po, uint64_t seq);

/* Counts present packets per substream (seq mod k) into counts[0..k-1]. */
void strata_playout_count_by_substream(const strata_playout *po, unsigned k, uint32_t *counts);

#endif
