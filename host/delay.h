/*
 * Network delay emulation for the daemons on one machine (issue 4 item 6):
 * each process plays one host of a latency data set, and every datagram it
 * sends is held back by the one-way delay from its host to the receiver's
 * (RTT / 2 of the filled matrix, util/latmatrix.h, the very loader and
 * gap filling of the simulator), so groups form among real processes as
 * they would across the Internet.
 *
 * Addressing. A process that plays host i binds the loopback address
 * 127.1.(i >> 8).(i & 255) (Linux answers all of 127/8), so a sender reads
 * the receiver's host from the destination address alone. Destinations
 * outside 127.1/16, and host indexes beyond the matrix, get no delay (a
 * control center on 127.0.0.1, say). Only sends are delayed: a round trip
 * between two emulating processes costs rtt(a,b)/2 + rtt(b,a)/2.
 *
 * The queue. Delayed datagrams wait in a binary heap ordered by (due time,
 * insertion order), bounded at HOST_DELAY_MAX_QUEUED; a datagram that finds
 * it full is dropped and counted, as a full router queue would. The host
 * (node.c) owns the timer that releases them: a timerfd at the earliest
 * due time (nanosecond resolution; a libuv timer's millisecond would add
 * a systematic half millisecond per hop, which the group protocol's join
 * test notices), so a datagram leaves when it is due plus the kernel's
 * wake-up latency, never early.
 */
#ifndef STRATA_HOST_DELAY_H
#define STRATA_HOST_DELAY_H

#include <stddef.h>
#include <stdint.h>

#include "latmatrix.h"
#include "strata/common.h"

enum host_delay_limits {
    HOST_DELAY_NET = 0x7f010000u,    /* 127.1.0.0/16 */
    HOST_DELAY_MAX_HOSTS = 65536,    /* host indexes that fit in the /16 */
    HOST_DELAY_MAX_QUEUED = 1 << 16, /* datagrams waiting at once */
    HOST_DELAY_INITIAL_QUEUED = 256, /* the heap grows by doubling up to the bound */
    /* What a datagram costs on loopback without emulation, per hop: the
     * timer's wake-up, the send, the receiver's wake-up and read. Measured
     * at ~0.1 ms on the 2-core development machine (measured RTTs were a
     * median 0.17 ms above the matrix without it); taken off every emulated
     * delay so that a measured RTT matches the matrix, which matters: the
     * group protocol's join test flips on 0.3 ms (docs/groups.md). */
    HOST_DELAY_LOOPBACK_NS = 80000,
};

/* The loopback address of host index i (< HOST_DELAY_MAX_HOSTS). */
uint32_t host_delay_ipv4(uint32_t host_index);
/* Writes the host index an address of 127.1/16 stands for; returns 1, or
 * 0 for any other address. */
int host_delay_index_of(uint32_t ipv4, uint32_t *host_index);

/* One delayed datagram. */
typedef struct host_delayed {
    uint64_t due_ns;
    uint64_t seq; /* insertion order: equal due times leave in order */
    strata_addr to;
    strata_buf *buf; /* one reference owned by the entry */
} host_delayed;

typedef struct host_delay {
    strata_latmatrix lat;
    uint32_t self; /* the host this process plays */
    host_delayed *heap;
    size_t count, cap;
    uint64_t next_seq;
    uint64_t delayed, undelayed, dropped_full; /* counters */
} host_delay;

/* Loads the matrix at path and checks host_index against it. Returns 0, or
 * a negative STRATA_ERR_* with a message in err. */
int host_delay_init(host_delay *d, const char *path, uint32_t host_index, char *err, size_t errlen);
/* Frees the matrix and every queued datagram. */
void host_delay_free(host_delay *d);

/* One-way delay to `to` in ns, less HOST_DELAY_LOOPBACK_NS; 0 when it gets
 * none (outside 127.1/16, a host the matrix does not have, or a delay
 * below the loopback's own). */
uint64_t host_delay_to(const host_delay *d, strata_addr to);

/* Queues a datagram due at due_ns, taking over the caller's reference to
 * buf. Returns 0, or STRATA_ERR_FULL (counted; the reference is dropped). */
int host_delay_push(host_delay *d, uint64_t due_ns, strata_addr to, strata_buf *buf);
/* Due time of the earliest queued datagram, or STRATA_NEVER. */
uint64_t host_delay_next_due(const host_delay *d);
/* Takes the earliest datagram if it is due at now (or any, when now is
 * STRATA_NEVER): returns 1 and fills *out (caller owns its reference), or 0. */
int host_delay_pop_due(host_delay *d, uint64_t now, host_delayed *out);

#endif
