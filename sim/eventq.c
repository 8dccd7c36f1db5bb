/*
 * Event engine of the simulator: a 4-ary min-heap of (time, slot) keys over
 * a recycled slot array holding each event's payload and insertion
 * sequence. See eventq.h for the model.
 *
 * Why 4-ary with 16-byte keys: a pop walks log4(n) levels instead of
 * log2(n), and the four children of a node are one aligned 64-byte cache
 * line, so at 10^6 pending events a pop touches about half as many lines as
 * a binary heap would. Pushes only sift up, where the wider fan-out also
 * shortens the walk.
 */
#include "eventq.h"

#include <string.h>

/* Heap key: 16 bytes, so the four children of a node fill exactly one
 * 64-byte cache line (the array is offset so that they start on a line
 * boundary). The insertion sequence lives in the slot and is read only to
 * break a tie in time, which is rare next to the comparisons of a sift. */
struct strata_simq_key {
    uint64_t time_ns;
    uint32_t slot;
    uint32_t unused;
};

enum slot_state { SLOT_FREE = 0, SLOT_PENDING = 1, SLOT_CANCELLED = 2 };

/* A payload slot. gen changes every time the slot is handed out, so a handle
 * kept past its event's end no longer matches. */
struct strata_simq_slot {
    strata_simq_data data;
    uint64_t seq;  /* insertion sequence: the tie-breaker */
    uint32_t node; /* or the next free slot while the slot is free */
    uint32_t gen;
    uint16_t kind;
    uint16_t state;
};

#define NO_SLOT UINT32_MAX

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif
#define LINE 64u

static inline int key_less(const struct strata_simq_slot *slots, const struct strata_simq_key *a,
                           const struct strata_simq_key *b)
{
    if (a->time_ns != b->time_ns)
        return a->time_ns < b->time_ns;
    return slots[a->slot].seq < slots[b->slot].seq;
}

static inline strata_simq_handle make_handle(uint32_t slot, uint32_t gen)
{
    return ((uint64_t)gen << 32) | slot;
}

int strata_simq_init(strata_simq *q, const strata_alloc *alloc)
{
    memset(q, 0, sizeof *q);
    q->free_head = NO_SLOT;
    q->alloc = alloc;
    return 0;
}

void strata_simq_free(strata_simq *q)
{
    strata_mem_free(q->alloc, q->heap_mem);
    strata_mem_free(q->alloc, q->slots);
    const strata_alloc *alloc = q->alloc;
    strata_simq_init(q, alloc);
}

/* New capacity (doubling) for at least want elements, or 0 if too many:
 * slot indices are 32-bit and the last value marks "no slot". */
static size_t next_cap(size_t cap, size_t want)
{
    if (want <= cap)
        return cap;
    if (want >= (size_t)NO_SLOT)
        return 0;
    size_t n = cap ? cap : STRATA_SIMQ_INITIAL_CAP;
    while (n < want)
        n = n > SIZE_MAX / 4 ? want : n * 2;
    if (n >= (size_t)NO_SLOT)
        n = (size_t)NO_SLOT - 1;
    return n;
}

/* Where key 0 goes in a block at mem so that key 1 starts a cache line. */
static size_t heap_offset(const void *mem)
{
    uintptr_t p = (uintptr_t)mem;
    uintptr_t first_child =
        (p + sizeof(struct strata_simq_key) + LINE - 1) & ~(uintptr_t)(LINE - 1);
    return (size_t)(first_child - sizeof(struct strata_simq_key) - p);
}

static int grow_heap(strata_simq *q, size_t want)
{
    size_t n = next_cap(q->heap_cap, want);
    if (n == q->heap_cap)
        return 0;
    if (n == 0 || n > (SIZE_MAX - LINE) / sizeof(struct strata_simq_key))
        return STRATA_ERR_NOMEM;
    size_t old_off = q->heap_mem ? (size_t)((char *)q->heap - (char *)q->heap_mem) : 0;
    char *mem =
        strata_mem_realloc(q->alloc, q->heap_mem, n * sizeof(struct strata_simq_key) + LINE);
    if (!mem)
        return STRATA_ERR_NOMEM;
    /* realloc keeps the bytes but not the alignment: move the keys if the
     * cache-line offset changed. */
    size_t off = heap_offset(mem);
    if (off != old_off && q->heap_len > 0)
        memmove(mem + off, mem + old_off, q->heap_len * sizeof(struct strata_simq_key));
    q->heap_mem = mem;
    q->heap = (struct strata_simq_key *)(void *)(mem + off);
    q->heap_cap = n;
    return 0;
}

static int grow_slots(strata_simq *q, size_t want)
{
    size_t n = next_cap(q->slot_cap, want);
    if (n == q->slot_cap)
        return 0;
    if (n == 0 || n > SIZE_MAX / sizeof(struct strata_simq_slot))
        return STRATA_ERR_NOMEM;
    void *p = strata_mem_realloc(q->alloc, q->slots, n * sizeof(struct strata_simq_slot));
    if (!p)
        return STRATA_ERR_NOMEM;
    q->slots = p;
    q->slot_cap = n;
    return 0;
}

int strata_simq_reserve(strata_simq *q, size_t n)
{
    if (grow_heap(q, n) != 0 || grow_slots(q, n) != 0)
        return STRATA_ERR_NOMEM;
    return 0;
}

/* Moves key x up from hole i until its parent is not greater. */
static void sift_up(const struct strata_simq_slot *slots, struct strata_simq_key *h, size_t i,
                    struct strata_simq_key x)
{
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (!key_less(slots, &x, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

/* Moves key x down from hole i of a heap of n keys until no child is less. */
static void sift_down(const struct strata_simq_slot *slots, struct strata_simq_key *h, size_t n,
                      size_t i, struct strata_simq_key x)
{
    for (;;) {
        size_t first = 4 * i + 1;
        if (first >= n)
            break;
        size_t end = first + 4 < n ? first + 4 : n;
        /* The next level is a cache miss once the heap outgrows the cache:
         * ask for all four candidate lines while this level is compared. */
        size_t grand = 4 * first + 1;
        if (grand + 12 < n) {
            PREFETCH(&h[grand]);
            PREFETCH(&h[grand + 4]);
            PREFETCH(&h[grand + 8]);
            PREFETCH(&h[grand + 12]);
        }
        size_t best = first;
        for (size_t c = first + 1; c < end; c++)
            if (key_less(slots, &h[c], &h[best]))
                best = c;
        if (!key_less(slots, &h[best], &x))
            break;
        h[i] = h[best];
        i = best;
    }
    h[i] = x;
}

static void free_slot(strata_simq *q, uint32_t slot)
{
    struct strata_simq_slot *s = &q->slots[slot];
    s->state = SLOT_FREE;
    s->node = q->free_head;
    q->free_head = slot;
}

/* Removes the heap's top key. */
static void remove_top(strata_simq *q)
{
    q->heap_len--;
    if (q->heap_len > 0)
        sift_down(q->slots, q->heap, q->heap_len, 0, q->heap[q->heap_len]);
}

/* Drops every cancelled key and rebuilds the heap bottom-up (Floyd), O(n).
 * Order of later pops is unaffected: keys are unique, so the heap's shape
 * never decides which event comes first. */
static void compact(strata_simq *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->heap_len; i++) {
        struct strata_simq_key k = q->heap[i];
        if (q->slots[k.slot].state == SLOT_CANCELLED)
            free_slot(q, k.slot);
        else
            q->heap[n++] = k;
    }
    q->heap_len = n;
    q->cancelled = 0;
    q->compactions++;
    if (n > 1)
        for (size_t i = (n - 2) / 4 + 1; i-- > 0;)
            sift_down(q->slots, q->heap, n, i, q->heap[i]);
}

static strata_simq_handle push(strata_simq *q, uint64_t time_ns, uint16_t kind, uint32_t node,
                               strata_simq_data data)
{
    if (grow_heap(q, q->heap_len + 1) != 0)
        return STRATA_SIMQ_NONE;
    uint32_t slot = q->free_head;
    if (slot == NO_SLOT) {
        if (grow_slots(q, q->slot_used + 1) != 0)
            return STRATA_SIMQ_NONE;
        slot = (uint32_t)q->slot_used++;
        q->slots[slot].gen = 0;
    } else {
        q->free_head = q->slots[slot].node;
    }
    struct strata_simq_slot *s = &q->slots[slot];
    /* Generation 0 is never used, so no handle is ever 0. */
    s->gen = s->gen == UINT32_MAX ? 1 : s->gen + 1;
    s->data = data;
    s->node = node;
    s->kind = kind;
    s->state = SLOT_PENDING;

    s->seq = q->next_seq++;
    struct strata_simq_key k = {time_ns, slot, 0};
    sift_up(q->slots, q->heap, q->heap_len++, k);
    q->live++;
    q->pushed++;
    return make_handle(slot, s->gen);
}

strata_simq_handle strata_simq_push(strata_simq *q, uint64_t time_ns, uint16_t kind, uint32_t node,
                                    uint64_t data)
{
    strata_simq_data d = {.u64 = data};
    return push(q, time_ns, kind, node, d);
}

strata_simq_handle strata_simq_push_ptr(strata_simq *q, uint64_t time_ns, uint16_t kind,
                                        uint32_t node, void *ptr)
{
    strata_simq_data d = {.ptr = ptr};
    return push(q, time_ns, kind, node, d);
}

/* The slot a handle names if its event is still pending, else NULL. */
static struct strata_simq_slot *lookup(const strata_simq *q, strata_simq_handle h)
{
    uint32_t slot = (uint32_t)(h & 0xffffffffu);
    uint32_t gen = (uint32_t)(h >> 32);
    if (h == STRATA_SIMQ_NONE || slot >= q->slot_used)
        return NULL;
    struct strata_simq_slot *s = &q->slots[slot];
    if (s->state != SLOT_PENDING || s->gen != gen)
        return NULL;
    return s;
}

int strata_simq_cancel(strata_simq *q, strata_simq_handle h)
{
    struct strata_simq_slot *s = lookup(q, h);
    if (!s)
        return 0;
    s->state = SLOT_CANCELLED;
    q->live--;
    q->cancelled++;
    q->cancels++;
    if (q->cancelled >= STRATA_SIMQ_COMPACT_MIN && q->cancelled > q->live)
        compact(q);
    return 1;
}

int strata_simq_pending(const strata_simq *q, strata_simq_handle h)
{
    return lookup(q, h) != NULL;
}

/* Discards cancelled keys sitting at the top of the heap. */
static void skip_cancelled(strata_simq *q)
{
    while (q->heap_len > 0) {
        uint32_t slot = q->heap[0].slot;
        if (q->slots[slot].state != SLOT_CANCELLED)
            return;
        remove_top(q);
        free_slot(q, slot);
        q->cancelled--;
    }
}

int strata_simq_pop(strata_simq *q, strata_simq_event *ev)
{
    return strata_simq_pop_until(q, UINT64_MAX, ev);
}

int strata_simq_pop_until(strata_simq *q, uint64_t t_ns, strata_simq_event *ev)
{
    skip_cancelled(q);
    if (q->heap_len == 0 || q->heap[0].time_ns > t_ns)
        return 0;
    struct strata_simq_key top = q->heap[0];
    PREFETCH(&q->slots[top.slot]); /* loads while the heap is re-sifted */
    remove_top(q);
    struct strata_simq_slot *s = &q->slots[top.slot];
    ev->time_ns = top.time_ns;
    ev->data = s->data;
    ev->node = s->node;
    ev->kind = s->kind;
    ev->handle = make_handle(top.slot, s->gen);
    free_slot(q, top.slot);
    q->live--;
    q->popped++;
    return 1;
}

uint64_t strata_simq_peek_time(strata_simq *q)
{
    skip_cancelled(q);
    return q->heap_len ? q->heap[0].time_ns : STRATA_NEVER;
}

size_t strata_simq_size(const strata_simq *q)
{
    return q->live;
}

size_t strata_simq_mem_bytes(const strata_simq *q)
{
    return q->heap_cap * sizeof(struct strata_simq_key) +
           q->slot_cap * sizeof(struct strata_simq_slot);
}

/* ---- Seeded random streams ---------------------------------------------- */

uint64_t strata_sim_mix64(uint64_t x)
{
    /* Stafford's "mix13" finaliser (the one SplitMix64 ends with): xor-shift
     * and odd-multiply steps, each a bijection on 64-bit words. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t strata_sim_stream_seed(uint64_t run_seed, uint64_t node, uint64_t stream)
{
    /* Each step is x -> mix(x ^ c) with a bijective mix, so for a fixed run
     * seed and stream the map node -> seed is one-to-one. The added odd
     * constants keep (0, 0, 0) away from the mixer's fixed point at 0. */
    uint64_t h = strata_sim_mix64(run_seed + 0x9e3779b97f4a7c15ull);
    h = strata_sim_mix64(h ^ (node + 0x632be59bd9b4e019ull));
    h = strata_sim_mix64(h ^ (stream + 0x85157af5ull));
    return h;
}

void strata_sim_rng_stream(strata_rng *r, uint64_t run_seed, uint64_t node, uint64_t stream)
{
    strata_rng_seed(r, strata_sim_stream_seed(run_seed, node, stream));
}
