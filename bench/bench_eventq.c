/*
 * Throughput of the simulator's event queue (sim/eventq.c).
 *
 * Prints, for pending sets of 10^5 and 10^6 events:
 *   hold    the classic "hold" model of a discrete-event run: pop the
 *           earliest event, push one a random delay later, so the pending set
 *           stays constant while virtual time advances;
 *   timers  the same, but each step also arms a timeout that is cancelled
 *           before it fires (retransmission/keepalive timers), so half the
 *           pushes end in a cancellation and compaction does its job;
 * and a fill-then-drain of all events (push N in random order, pop N).
 * Figures are events per second (one push + one pop = one event) and the
 * nanoseconds per push+pop pair.
 *
 * Usage: bench_eventq [EVENTS]   (default 10,000,000)
 *
 * Needs strata_sim: link with sim/eventq.c and core/common.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eventq.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Mean delay between an event and the one it schedules: 10 ms, drawn
 * uniformly from [0, 20 ms), about the spacing of packet events in a run. */
#define MEAN_DELAY_NS 10000000u

static int prefill(strata_simq *q, strata_rng *r, size_t pending)
{
    if (strata_simq_reserve(q, pending + 1024) != 0)
        return -1;
    for (size_t i = 0; i < pending; i++)
        if (strata_simq_push(q, strata_rng_below(r, 2 * MEAN_DELAY_NS), 1, (uint32_t)i, i) ==
            STRATA_SIMQ_NONE)
            return -1;
    return 0;
}

static void bench_hold(size_t pending, uint64_t events, int with_timers)
{
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_rng r;
    strata_rng_seed(&r, 1);
    if (prefill(&q, &r, pending) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    uint64_t sum = 0;
    strata_simq_event ev;
    double t0 = now_s();
    for (uint64_t i = 0; i < events; i++) {
        if (!strata_simq_pop(&q, &ev))
            break;
        sum += ev.data.u64 ^ ev.time_ns;
        strata_simq_push(&q, ev.time_ns + strata_rng_below(&r, 2 * MEAN_DELAY_NS), 1, ev.node, i);
        if (with_timers) {
            /* A 200 ms timeout, cancelled at once (the ack came). */
            strata_simq_handle h = strata_simq_push(&q, ev.time_ns + 200000000u, 2, ev.node, 0);
            strata_simq_cancel(&q, h);
        }
    }
    double dt = now_s() - t0;
    printf("%-7s pending %8zu  %10" PRIu64 " events  %6.2f s  %6.2f M events/s  %6.1f ns per "
           "push+pop%s  mem %5.1f MB  (compactions %" PRIu64 ", check %016" PRIx64 ")\n",
           with_timers ? "timers" : "hold", pending, events, dt, (double)events / dt / 1e6,
           dt / (double)events * 1e9, with_timers ? "+timer" : "",
           (double)strata_simq_mem_bytes(&q) / 1e6, q.compactions, sum);
    strata_simq_free(&q);
}

static void bench_fill_drain(uint64_t events)
{
    strata_simq q;
    strata_simq_init(&q, NULL);
    strata_rng r;
    strata_rng_seed(&r, 2);
    double t0 = now_s();
    for (uint64_t i = 0; i < events; i++)
        if (strata_simq_push(&q, strata_rng_below(&r, 1000000000u), 1, (uint32_t)i, i) ==
            STRATA_SIMQ_NONE) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    double t1 = now_s();
    size_t mem = strata_simq_mem_bytes(&q);
    strata_simq_event ev;
    uint64_t sum = 0, n = 0;
    while (strata_simq_pop(&q, &ev)) {
        sum += ev.data.u64;
        n++;
    }
    double t2 = now_s();
    printf("fill    %10" PRIu64 " pushes %6.2f s  %6.2f M pushes/s  %6.1f ns each\n", events,
           t1 - t0, (double)events / (t1 - t0) / 1e6, (t1 - t0) / (double)events * 1e9);
    printf("drain   %10" PRIu64 " pops   %6.2f s  %6.2f M pops/s    %6.1f ns each  mem %5.1f MB "
           "(check %" PRIu64 ")\n",
           n, t2 - t1, (double)n / (t2 - t1) / 1e6, (t2 - t1) / (double)n * 1e9, (double)mem / 1e6,
           sum);
    strata_simq_free(&q);
}

int main(int argc, char **argv)
{
    uint64_t events = argc > 1 ? strtoull(argv[1], NULL, 0) : 10000000u;
    if (events == 0)
        events = 10000000u;
    printf("bench_eventq: %" PRIu64 " events per run, 4-ary heap, 16-byte keys\n", events);
    bench_hold(100000, events, 0);
    bench_hold(1000000, events, 0);
    bench_hold(100000, events, 1);
    bench_hold(1000000, events, 1);
    bench_fill_drain(events);
    return 0;
}
