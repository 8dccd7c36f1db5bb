/*
 * The simulator's event engine: a priority queue of timed events under a
 * virtual clock, plus the seeded random streams every part of a run draws
 * from.
 *
 * Model. Time is integer nanoseconds (uint64_t). Events are popped in order
 * of (time, insertion sequence): two events due at the same nanosecond come
 * out in the order they were pushed, so a run never depends on how the heap
 * happens to be laid out and the same seed replays the same run.
 *
 * Storage. An event's payload and insertion sequence live in a slot of a
 * growable slot array; the heap (4-ary, in one growable array) holds only
 * 16-byte (time, slot) keys, and reads a slot's sequence only to order two
 * events due at the same nanosecond. Slots are recycled through a free
 * list, so a run of 10^8 events allocates only while the number of pending
 * events reaches a new high-water mark; there is no allocation per event,
 * and the arrays (16 + 32 bytes per pending event, doubled as they grow)
 * are sized by the peak of pending events, not by the events of the run.
 *
 * Cancellation is O(1): a handle names (slot, generation); cancelling marks
 * the slot and leaves its key in the heap, to be skipped and recycled when
 * it reaches the top. A handle whose event was already popped or cancelled
 * no longer matches its slot's generation, so cancelling it is a harmless
 * no-op (generations are 32-bit: a handle would have to be kept while its
 * slot is reused 2^32 times to alias a newer event). When cancelled keys
 * outnumber live ones the heap is compacted in one O(n) pass, so memory
 * stays proportional to the pending events even when most timers are
 * cancelled before they fire (the usual fate of retransmission and
 * keepalive timers).
 */
#ifndef STRATA_SIM_EVENTQ_H
#define STRATA_SIM_EVENTQ_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

/* A handle to a pushed event; 0 is never a valid handle. */
typedef uint64_t strata_simq_handle;
#define STRATA_SIMQ_NONE ((strata_simq_handle)0)

/* The small POD payload an event carries: what to do (kind, chosen by the
 * caller), to which node, and one word of data (a number or a pointer the
 * caller owns). */
typedef union strata_simq_data {
    uint64_t u64;
    void *ptr;
} strata_simq_data;

typedef struct strata_simq_event {
    uint64_t time_ns;
    strata_simq_data data;
    uint32_t node;
    uint16_t kind;
    strata_simq_handle handle; /* the handle push returned for this event */
} strata_simq_event;

/* Internal storage; defined in eventq.c. */
struct strata_simq_key;
struct strata_simq_slot;

/* The queue. The caller owns the struct; init/free manage what it points to.
 * Fields are private: use the functions below. */
typedef struct strata_simq {
    void *heap_mem;               /* allocation holding the heap */
    struct strata_simq_key *heap; /* cache-line-aligned keys inside it */
    struct strata_simq_slot *slots;
    size_t heap_len, heap_cap; /* keys in the heap, live or cancelled */
    size_t slot_cap;           /* slots allocated (high-water mark) */
    size_t slot_used;          /* slots ever handed out (< slot_cap) */
    uint32_t free_head;        /* free list through slots, UINT32_MAX = empty */
    size_t live;               /* pending events not cancelled */
    size_t cancelled;          /* cancelled keys still in the heap */
    uint64_t next_seq;         /* insertion sequence of the next push */
    /* Counters over the queue's life. */
    uint64_t pushed, popped, cancels, compactions;
    const strata_alloc *alloc;
} strata_simq;

enum {
    /* Cancelled keys tolerated in the heap before compaction is considered;
     * compaction then runs when they also outnumber the live ones. */
    STRATA_SIMQ_COMPACT_MIN = 1024,
    /* Initial capacity of the heap and slot arrays, in events. */
    STRATA_SIMQ_INITIAL_CAP = 256,
};

/* Prepares an empty queue. alloc may be NULL (libc); it is borrowed and must
 * outlive the queue. Allocates nothing until the first push. Returns 0. */
int strata_simq_init(strata_simq *q, const strata_alloc *alloc);

/* Releases the arrays; pending events are discarded (payload pointers are
 * the caller's). The queue may be initialised again afterwards. */
void strata_simq_free(strata_simq *q);

/* Pre-allocates room for n pending events so a run's first phase does not
 * grow the arrays step by step. Returns 0 or STRATA_ERR_NOMEM. */
int strata_simq_reserve(strata_simq *q, size_t n);

/* Schedules an event at time_ns carrying (kind, node, data). Returns its
 * handle, or STRATA_SIMQ_NONE if memory ran out (the queue is unchanged).
 * Times need not be monotonic, but a simulation never pushes into the past. */
strata_simq_handle strata_simq_push(strata_simq *q, uint64_t time_ns, uint16_t kind, uint32_t node,
                                    uint64_t data);
/* Same, with a pointer payload (borrowed: the queue never dereferences it). */
strata_simq_handle strata_simq_push_ptr(strata_simq *q, uint64_t time_ns, uint16_t kind,
                                        uint32_t node, void *ptr);

/* Cancels a pending event in O(1). Returns 1 if the event was pending and is
 * now cancelled, 0 if the handle is NONE, stale (already popped or
 * cancelled) or was never issued by this queue. */
int strata_simq_cancel(strata_simq *q, strata_simq_handle h);

/* True if h names an event that is still pending (neither popped nor
 * cancelled). */
int strata_simq_pending(const strata_simq *q, strata_simq_handle h);

/* Removes the earliest live event into *ev. Returns 1 if one was popped, 0
 * if the queue holds no live event (*ev untouched). */
int strata_simq_pop(strata_simq *q, strata_simq_event *ev);

/* As pop, but only an event due at or before t_ns: returns 0 (and leaves
 * the queue as it is) when the earliest live event comes later or there is
 * none. One look at the top instead of a peek and a pop. */
int strata_simq_pop_until(strata_simq *q, uint64_t t_ns, strata_simq_event *ev);

/* Time of the earliest live event, or STRATA_NEVER if none. Not const:
 * cancelled keys found at the top are discarded on the way. */
uint64_t strata_simq_peek_time(strata_simq *q);

/* Number of live (pending, not cancelled) events. */
size_t strata_simq_size(const strata_simq *q);

/* Bytes currently held by the queue's arrays. */
size_t strata_simq_mem_bytes(const strata_simq *q);

/* ---- Seeded random streams ------------------------------------------------
 *
 * Every random choice in a run comes from a stream named by (run seed, node
 * index, stream id). Streams are derived by hashing, not by drawing from a
 * shared generator in turn, so adding node 1,000 or a new kind of draw never
 * shifts the numbers any other node or stream sees. */

/* Stream ids of the simulator's own draws; callers add theirs from
 * STRATA_SIM_STREAM_USER up. */
enum strata_sim_stream {
    STRATA_SIM_STREAM_CAPACITY = 1, /* net: upload class of a node */
    STRATA_SIM_STREAM_LOSS = 2,     /* net: per-packet loss draws of a sender */
    STRATA_SIM_STREAM_ATTACH = 3,   /* latency: which host a node sits behind */
    STRATA_SIM_STREAM_ACCESS = 4,   /* latency: a node's access-link delay */
    STRATA_SIM_STREAM_PROTOCOL = 5, /* the seed handed to a node's core object */
    STRATA_SIM_STREAM_USER = 64,
};

/* A bijective 64-bit mixer with full avalanche (every input bit flips each
 * output bit with probability about 1/2). */
uint64_t strata_sim_mix64(uint64_t x);

/* A 64-bit seed for (run_seed, node, stream). Distinct nodes get distinct
 * seeds for the same run seed and stream. */
uint64_t strata_sim_stream_seed(uint64_t run_seed, uint64_t node, uint64_t stream);

/* Seeds *r with the stream (run_seed, node, stream). */
void strata_sim_rng_stream(strata_rng *r, uint64_t run_seed, uint64_t node, uint64_t stream);

#endif
