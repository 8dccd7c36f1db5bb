/*
 * Tests of the simulator's event engine: ordering by (time, insertion
 * order), O(1) cancellation with stale handles, compaction, a 10^6-event
 * random stress against a bucket-queue reference, and the seeded streams.
 */
#include <stdlib.h>
#include <string.h>

#include "eventq.h"
#include "testutil.h"

/* Events pushed at random times with many ties come out sorted by time, and
 * equal times in push order. */
static void test_ordering(uint64_t seed)
{
    enum { N = 20000 };
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_rng r;
    strata_rng_seed(&r, seed);
    uint64_t *times = malloc(N * sizeof *times);
    int bad = 0;
    for (uint32_t i = 0; i < N; i++) {
        times[i] = strata_rng_below(&r, 50); /* ~400 events per distinct time */
        if (strata_simq_push(&q, times[i], (uint16_t)(i & 7), i, 1000u + i) == STRATA_SIMQ_NONE)
            bad++;
    }
    CHECK_EQ_U64(strata_simq_size(&q), N);
    uint64_t last_t = 0;
    uint32_t last_i = 0;
    int first = 1;
    size_t n = 0;
    strata_simq_event ev;
    while (strata_simq_pop(&q, &ev)) {
        uint32_t i = ev.node;
        if (i >= N || ev.time_ns != times[i] || ev.data.u64 != 1000u + i || ev.kind != (i & 7))
            bad++;
        else if (!first && (ev.time_ns < last_t || (ev.time_ns == last_t && i <= last_i)))
            bad++;
        first = 0;
        last_t = ev.time_ns;
        last_i = i;
        n++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(n, N);
    CHECK_EQ_U64(strata_simq_size(&q), 0);
    CHECK_EQ_U64(strata_simq_peek_time(&q), STRATA_NEVER);
    CHECK_EQ_INT(strata_simq_pop(&q, &ev), 0);
    free(times);
    strata_simq_free(&q);
}

/* Simultaneous events keep push order even when interleaved with earlier
 * and later ones, and across pops and pushes of the same instant. */
static void test_ties(void)
{
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_simq_push(&q, 10, 0, 0, 0);
    strata_simq_push(&q, 5, 0, 1, 0);
    strata_simq_push(&q, 10, 0, 2, 0);
    strata_simq_push(&q, 10, 0, 3, 0);
    strata_simq_push(&q, 1, 0, 4, 0);
    strata_simq_event ev;
    CHECK_EQ_U64(strata_simq_peek_time(&q), 1);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 4);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 1);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 0);
    /* Pushed "now" while handling time 10: runs after the other time-10 events. */
    strata_simq_push(&q, 10, 0, 5, 0);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 2);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 3);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 5);
    CHECK_EQ_INT(strata_simq_pop(&q, &ev), 0);
    /* Extreme times. */
    strata_simq_push(&q, UINT64_MAX - 1, 0, 7, 0);
    strata_simq_push(&q, 0, 0, 6, 0);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 6 && ev.time_ns == 0);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 7 && ev.time_ns == UINT64_MAX - 1);
    strata_simq_free(&q);
}

/* pop_until takes only what is due by its bound, skipping cancelled tops. */
static void test_pop_until(void)
{
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_simq_push(&q, 20, 0, 1, 0);
    strata_simq_handle h = strata_simq_push(&q, 5, 0, 2, 0);
    strata_simq_push(&q, 10, 0, 3, 0);
    strata_simq_event ev;
    CHECK_EQ_INT(strata_simq_pop_until(&q, 4, &ev), 0);
    CHECK_EQ_U64(strata_simq_size(&q), 3);
    CHECK_EQ_INT(strata_simq_cancel(&q, h), 1);
    CHECK_EQ_INT(strata_simq_pop_until(&q, 9, &ev), 0); /* the cancelled 5 does not count */
    CHECK(strata_simq_pop_until(&q, 10, &ev) && ev.node == 3 && ev.time_ns == 10);
    CHECK_EQ_INT(strata_simq_pop_until(&q, 19, &ev), 0);
    CHECK(strata_simq_pop_until(&q, UINT64_MAX, &ev) && ev.node == 1);
    CHECK_EQ_INT(strata_simq_pop_until(&q, UINT64_MAX, &ev), 0);
    strata_simq_free(&q);
}

static void test_cancel(void)
{
    strata_simq q;
    strata_simq_init(&q, NULL);
    int x = 42;
    strata_simq_handle a = strata_simq_push(&q, 100, 1, 0, 0);
    strata_simq_handle b = strata_simq_push_ptr(&q, 50, 2, 1, &x);
    strata_simq_handle c = strata_simq_push(&q, 75, 3, 2, 0);
    CHECK(a != STRATA_SIMQ_NONE && b != STRATA_SIMQ_NONE && c != STRATA_SIMQ_NONE);
    CHECK(a != b && b != c);
    CHECK_EQ_INT(strata_simq_pending(&q, b), 1);

    /* Cancelling the earliest event: never popped, peek skips it. */
    CHECK_EQ_INT(strata_simq_cancel(&q, b), 1);
    CHECK_EQ_INT(strata_simq_pending(&q, b), 0);
    CHECK_EQ_INT(strata_simq_cancel(&q, b), 0); /* twice: harmless */
    CHECK_EQ_U64(strata_simq_size(&q), 2);
    CHECK_EQ_U64(strata_simq_peek_time(&q), 75);

    strata_simq_event ev;
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 2 && ev.handle == c);
    /* Cancelling a popped handle is harmless. */
    CHECK_EQ_INT(strata_simq_cancel(&q, c), 0);
    CHECK_EQ_U64(strata_simq_size(&q), 1);

    /* The freed slots are reused; old handles must not reach new events. */
    strata_simq_handle d = strata_simq_push(&q, 60, 4, 3, 0);
    strata_simq_handle e = strata_simq_push(&q, 61, 5, 4, 0);
    CHECK(d != b && d != c && e != b && e != c);
    CHECK_EQ_INT(strata_simq_cancel(&q, b), 0);
    CHECK_EQ_INT(strata_simq_cancel(&q, c), 0);
    CHECK_EQ_U64(strata_simq_size(&q), 3);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 3 && ev.kind == 4);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 4);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 0 && ev.handle == a);
    CHECK_EQ_INT(strata_simq_pop(&q, &ev), 0);

    /* Pointer payloads come back unchanged. */
    strata_simq_push_ptr(&q, 1, 9, 9, &x);
    CHECK(strata_simq_pop(&q, &ev) && ev.data.ptr == &x);

    /* Handles never issued, or from far-off slots, are rejected. */
    CHECK_EQ_INT(strata_simq_cancel(&q, STRATA_SIMQ_NONE), 0);
    CHECK_EQ_INT(strata_simq_cancel(&q, ((uint64_t)1 << 32) | 123456u), 0);
    CHECK_EQ_INT(strata_simq_cancel(&q, UINT64_MAX), 0);

    /* Cancel everything: nothing pops, and the queue is usable afterwards. */
    strata_simq_handle hs[10];
    for (uint32_t i = 0; i < 10; i++)
        hs[i] = strata_simq_push(&q, 5, 0, i, 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(strata_simq_cancel(&q, hs[i]), 1);
    CHECK_EQ_U64(strata_simq_size(&q), 0);
    CHECK_EQ_U64(strata_simq_peek_time(&q), STRATA_NEVER);
    CHECK_EQ_INT(strata_simq_pop(&q, &ev), 0);
    strata_simq_push(&q, 7, 0, 77, 0);
    CHECK(strata_simq_pop(&q, &ev) && ev.node == 77 && ev.time_ns == 7);
    strata_simq_free(&q);
}

/* Many cancellations trigger compaction; memory stays bounded by the live
 * set and order is unaffected. */
static void test_compaction(void)
{
    enum { LIVE = 1000, ROUNDS = 200 };
    strata_simq q;
    strata_simq_init(&q, NULL);
    int bad = 0;
    for (uint32_t i = 0; i < LIVE; i++)
        strata_simq_push(&q, 1000000u + i, 0, i, 0);
    /* Each round: arm 100 timers and cancel them all (a retransmit timer
     * that never fires). 20,000 cancelled keys would pile up without
     * compaction. */
    for (int r = 0; r < ROUNDS; r++) {
        strata_simq_handle hs[100];
        for (uint32_t i = 0; i < 100; i++)
            hs[i] = strata_simq_push(&q, 500u + i, 1, 99999, 0);
        for (int i = 0; i < 100; i++)
            bad += strata_simq_cancel(&q, hs[i]) != 1;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(q.compactions > 0);
    CHECK(q.heap_len <= 2 * LIVE + 2 * STRATA_SIMQ_COMPACT_MIN);
    CHECK(q.slot_cap <= 4 * (LIVE + STRATA_SIMQ_COMPACT_MIN));
    CHECK_EQ_U64(strata_simq_size(&q), LIVE);
    strata_simq_event ev;
    uint32_t expect = 0;
    while (strata_simq_pop(&q, &ev)) {
        if (ev.node != expect || ev.time_ns != 1000000u + expect)
            bad++;
        expect++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(expect, LIVE);
    strata_simq_free(&q);
}

/* ---- Random stress against a reference --------------------------------
 *
 * The reference is a bucket queue: times are drawn from [now, now + W], one
 * FIFO of event ids per time in a ring of W + 1 buckets. Push order within a
 * bucket is insertion order, which is exactly the tie rule under test. */
enum { W = 256 };

typedef struct ref_bucket {
    uint32_t *ids;
    size_t head, len, cap;
} ref_bucket;

typedef struct ref_event {
    strata_simq_handle h;
    uint64_t time;
    uint8_t state; /* 0 pending, 1 popped, 2 cancelled */
} ref_event;

static void ref_push(ref_bucket *b, uint32_t id)
{
    if (b->head + b->len == b->cap) {
        if (b->head > 0) {
            memmove(b->ids, b->ids + b->head, b->len * sizeof *b->ids);
            b->head = 0;
        } else {
            b->cap = b->cap ? 2 * b->cap : 16;
            b->ids = realloc(b->ids, b->cap * sizeof *b->ids);
        }
    }
    b->ids[b->head + b->len++] = id;
}

static void test_stress(uint64_t seed)
{
    enum { EVENTS = 1000000 };
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_rng r;
    strata_rng_seed(&r, seed ^ 0x5157);
    ref_bucket ring[W + 1];
    memset(ring, 0, sizeof ring);
    ref_event *evs = calloc(EVENTS, sizeof *evs);
    uint64_t now = 0;
    size_t pushed = 0, live = 0, popped = 0, cancelled = 0;
    int bad = 0;

    while ((pushed < EVENTS || live > 0) && bad < 10) {
        uint64_t op = strata_rng_below(&r, 100);
        /* Phases of 50,000 pushes: the pending set swells by tens of
         * thousands, then drains back. */
        int growing = ((pushed / 50000) % 2) == 0;
        if (pushed < EVENTS && op < (growing ? 60u : 20u)) {
            uint32_t id = (uint32_t)pushed++;
            uint64_t t = now + strata_rng_below(&r, W + 1);
            evs[id].time = t;
            evs[id].h = strata_simq_push(&q, t, (uint16_t)(id % 13), id, (uint64_t)id * 3);
            if (evs[id].h == STRATA_SIMQ_NONE)
                bad++;
            ref_push(&ring[t % (W + 1)], id);
            live++;
        } else if (pushed % 100000 == 99999 && pushed < EVENTS) {
            /* A burst: 3,000 timers armed and at once cancelled in reverse
             * (a node leaving), which outnumbers the live set and compacts. */
            size_t first = pushed;
            for (int k = 0; k < 3000 && pushed < EVENTS; k++) {
                uint32_t id = (uint32_t)pushed++;
                uint64_t t = now + strata_rng_below(&r, W + 1);
                evs[id].time = t;
                evs[id].h = strata_simq_push(&q, t, (uint16_t)(id % 13), id, (uint64_t)id * 3);
                ref_push(&ring[t % (W + 1)], id);
                live++;
            }
            for (size_t id = pushed; id-- > first;) {
                if (strata_simq_cancel(&q, evs[id].h) != 1)
                    bad++;
                evs[id].state = 2;
                live--;
                cancelled++;
            }
        } else if (op < (growing ? 75u : 40u) && pushed > 0) {
            /* Cancel a random event ever pushed (pending, popped or
             * cancelled), or one of the most recent, which is likely pending:
             * that makes cancelled keys pile up and forces compactions. */
            uint64_t span = (op & 1) && pushed > 3000 ? 3000 : pushed;
            uint32_t id = (uint32_t)(pushed - 1 - strata_rng_below(&r, span));
            int want = evs[id].state == 0;
            int got = strata_simq_cancel(&q, evs[id].h);
            if (got != want) {
                fprintf(stderr, "cancel of id %u (state %d) returned %d\n", id, evs[id].state, got);
                bad++;
            }
            if (want) {
                evs[id].state = 2;
                live--;
                cancelled++;
            }
        } else {
            /* Reference pop: earliest non-empty bucket, first pending id. */
            uint32_t want = UINT32_MAX;
            for (uint64_t t = now; t <= now + W && want == UINT32_MAX; t++) {
                ref_bucket *b = &ring[t % (W + 1)];
                while (b->len > 0) {
                    uint32_t id = b->ids[b->head];
                    b->head++;
                    b->len--;
                    if (evs[id].state == 0) {
                        want = id;
                        now = t;
                        break;
                    }
                }
                if (b->len == 0)
                    b->head = 0;
            }
            strata_simq_event ev;
            int got = strata_simq_pop(&q, &ev);
            if (want == UINT32_MAX) {
                if (got != 0) {
                    fprintf(stderr, "pop from empty queue returned node %u\n", ev.node);
                    bad++;
                }
                continue;
            }
            if (!got || ev.node != want || ev.time_ns != evs[want].time ||
                ev.data.u64 != (uint64_t)want * 3 || ev.kind != want % 13 ||
                ev.handle != evs[want].h) {
                fprintf(stderr, "pop: got %d node %u t %llu, want node %u t %llu\n", got, ev.node,
                        (unsigned long long)ev.time_ns, want, (unsigned long long)evs[want].time);
                bad++;
            }
            evs[want].state = 1;
            live--;
            popped++;
        }
        if (strata_simq_size(&q) != live) {
            fprintf(stderr, "size %zu != reference %zu\n", strata_simq_size(&q), live);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(pushed, EVENTS);
    CHECK_EQ_U64(popped + cancelled, EVENTS);
    CHECK_EQ_U64(q.popped, popped);
    CHECK(cancelled > EVENTS / 20);
    CHECK(q.compactions > 0);
    CHECK_EQ_U64(strata_simq_size(&q), 0);
    fprintf(stderr,
            "stress: %zu pushed, %zu popped, %zu cancelled, %llu compactions, "
            "%zu bytes at peak\n",
            pushed, popped, cancelled, (unsigned long long)q.compactions,
            strata_simq_mem_bytes(&q));
    for (int i = 0; i <= W; i++)
        free(ring[i].ids);
    free(evs);
    strata_simq_free(&q);
}

/* A counting allocator that can be told to fail. */
typedef struct fail_alloc {
    int fail_after; /* allocations allowed before failing; -1 = never fail */
    int calls;
} fail_alloc;

static void *fa_alloc(void *user, size_t size)
{
    fail_alloc *f = user;
    if (f->fail_after >= 0 && f->calls++ >= f->fail_after)
        return NULL;
    return malloc(size);
}
static void *fa_realloc(void *user, void *ptr, size_t size)
{
    fail_alloc *f = user;
    if (f->fail_after >= 0 && f->calls++ >= f->fail_after)
        return NULL;
    return realloc(ptr, size);
}
static void fa_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

/* When growth fails, push returns NONE and the queue is intact. */
static void test_alloc_failure(void)
{
    for (int fail = 0; fail < 6; fail++) {
        fail_alloc f = {fail, 0};
        strata_alloc a = {fa_alloc, fa_realloc, fa_free, &f};
        strata_simq q;
        strata_simq_init(&q, &a);
        size_t ok = 0;
        int failed = 0;
        for (uint32_t i = 0; i < 5000; i++) {
            strata_simq_handle h = strata_simq_push(&q, 5000u - i, 0, i, 0);
            if (h == STRATA_SIMQ_NONE)
                failed = 1;
            else
                ok++;
        }
        CHECK(failed);
        CHECK_EQ_U64(strata_simq_size(&q), ok);
        strata_simq_event ev;
        size_t n = 0;
        uint64_t last = 0;
        int bad = 0;
        while (strata_simq_pop(&q, &ev)) {
            if (ev.time_ns < last)
                bad++;
            last = ev.time_ns;
            n++;
        }
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_U64(n, ok);
        strata_simq_free(&q);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Streams: deterministic, distinct per node and per stream, and unchanged by
 * the existence of other nodes. Rough uniformity of the mixed seeds. */
static void test_streams(void)
{
    strata_rng a, b;
    strata_sim_rng_stream(&a, 7, 3, STRATA_SIM_STREAM_LOSS);
    strata_sim_rng_stream(&b, 7, 3, STRATA_SIM_STREAM_LOSS);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= strata_rng_next(&a) == strata_rng_next(&b);
    CHECK(same);

    CHECK(strata_sim_stream_seed(7, 3, 1) != strata_sim_stream_seed(7, 4, 1));
    CHECK(strata_sim_stream_seed(7, 3, 1) != strata_sim_stream_seed(7, 3, 2));
    CHECK(strata_sim_stream_seed(7, 3, 1) != strata_sim_stream_seed(8, 3, 1));
    CHECK(strata_sim_stream_seed(0, 0, 0) != 0);
    /* Pinned values: a change here changes every simulation's output. */
    CHECK_EQ_U64(strata_sim_mix64(0), 0);
    CHECK_EQ_U64(strata_sim_mix64(1), 0x5692161d100b05e5ull);

    /* Avalanche: flipping one input bit flips about half the output bits. */
    strata_rng r;
    strata_rng_seed(&r, 99);
    double total = 0;
    int n = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t x = strata_rng_next(&r);
        for (int bit = 0; bit < 64; bit += 7) {
            uint64_t d =
                strata_sim_stream_seed(1, x, 2) ^ strata_sim_stream_seed(1, x ^ (1ull << bit), 2);
            total += __builtin_popcountll(d);
            n++;
        }
    }
    double mean = total / n;
    if (mean < 31.5 || mean > 32.5)
        fprintf(stderr, "avalanche mean %.3f bits\n", mean);
    CHECK(mean > 31.5 && mean < 32.5);

    /* Node indices 0..N-1 give distinct seeds (collisions would mean two
     * nodes with one stream). */
    enum { N = 100000 };
    uint64_t *s = malloc(N * sizeof *s);
    for (uint64_t i = 0; i < N; i++)
        s[i] = strata_sim_stream_seed(12345, i, STRATA_SIM_STREAM_PROTOCOL);
    qsort(s, N, sizeof *s, cmp_u64);
    int dup = 0;
    for (size_t i = 1; i < N; i++)
        dup += s[i] == s[i - 1];
    CHECK_EQ_INT(dup, 0);
    free(s);
}

int main(void)
{
    uint64_t seed = test_seed(20240601);
    test_ordering(seed);
    test_ties();
    test_pop_until();
    test_cancel();
    test_compaction();
    test_stress(seed);
    test_alloc_failure();
    test_streams();
    return test_summary("test_eventq");
}
