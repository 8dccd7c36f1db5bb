/*
 * The libuv host: drives one sans-I/O core object (a peer, a source or a
 * control center) on a real UDP socket and a real clock.
 *
 * After every call into the core the host drains the core's outbox onto the
 * socket and re-arms one timer at the core's next deadline. That is the
 * whole contract between the two: the core never sees libuv.
 */
#ifndef STRATA_HOST_H
#define STRATA_HOST_H

#include <stdint.h>
#include <uv.h>

#include "strata/common.h"

/* The four entry points every core object offers, bound to one object. */
typedef struct host_core_ops {
    int (*handle_datagram)(void *obj, strata_addr from, const uint8_t *buf, size_t len,
                           uint64_t now);
    void (*handle_timeout)(void *obj, uint64_t now);
    uint64_t (*next_timeout)(const void *obj);
    strata_outbox *(*outbox)(void *obj);
} host_core_ops;

/* Defines `static const host_core_ops NAME` for a core type whose entry
 * points are strata_<MODULE>_handle_datagram, _handle_timeout,
 * _next_timeout and _outbox: four typed adapters, since calling through a
 * cast function pointer would be undefined behaviour. */
#define HOST_CORE_OPS(NAME, MODULE, TYPE)                                                       \
    static int NAME##_handle_datagram(void *o, strata_addr from, const uint8_t *b, size_t n,   \
                                      uint64_t now)                                            \
    {                                                                                          \
        return strata_##MODULE##_handle_datagram((TYPE *)o, from, b, n, now);                  \
    }                                                                                          \
    static void NAME##_handle_timeout(void *o, uint64_t now)                                   \
    {                                                                                          \
        strata_##MODULE##_handle_timeout((TYPE *)o, now);                                      \
    }                                                                                          \
    static uint64_t NAME##_next_timeout(const void *o)                                         \
    {                                                                                          \
        return strata_##MODULE##_next_timeout((const TYPE *)o);                                \
    }                                                                                          \
    static strata_outbox *NAME##_outbox(void *o) { return strata_##MODULE##_outbox((TYPE *)o); } \
    static const host_core_ops NAME = {NAME##_handle_datagram, NAME##_handle_timeout,          \
                                       NAME##_next_timeout, NAME##_outbox}

typedef struct host_node {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    const host_core_ops *ops;
    void *obj;
    strata_addr bound; /* address the socket is bound to (port resolved) */
    uint64_t tx_datagrams, tx_errors, rx_datagrams, rx_truncated;
    int closing;
    /* Called after every core call, once the outbox is drained (may be NULL);
     * daemons use it to notice state changes such as "ready". */
    void (*after_core)(struct host_node *n);
    void *user;
    uint8_t rxbuf[65536];
} host_node;

/* Monotonic time in nanoseconds; the only clock the daemons read. */
uint64_t host_now_ns(void);

/* Binds a UDP socket on addr (port 0 = any) and starts receiving into ops/obj.
 * Returns 0 or a negative libuv error. */
int host_node_start(host_node *n, uv_loop_t *loop, strata_addr addr, const host_core_ops *ops,
                    void *obj);
/* Drains the outbox and re-arms the timer; call after any direct core call. */
void host_node_kick(host_node *n);
/* Closes the socket and timer (the loop then ends once nothing else is live). */
void host_node_close(host_node *n);

/* Parses "A.B.C.D:PORT" (PORT may be 0). Returns 0 or -1. */
int host_parse_addr(const char *s, strata_addr *out);
/* Conversions between strata_addr and struct sockaddr_in. */
void host_addr_to_sockaddr(strata_addr a, struct sockaddr_in *sin);
strata_addr host_addr_from_sockaddr(const struct sockaddr_in *sin);

/* A log sink writing "time level name: line" to stderr. */
typedef struct host_logger {
    const char *name;
    uint64_t start_ns;
} host_logger;
void host_log_init(strata_log *log, host_logger *lg, const char *name, int max_level);

/* 64 random bits from the kernel (for node ids and seeds). */
uint64_t host_random_u64(void);

/* Installs SIGINT/SIGTERM handlers that call on_signal once. */
typedef struct host_signals {
    uv_signal_t sigint, sigterm;
    void (*on_signal)(void *user, int signum);
    void *user;
} host_signals;
int host_signals_start(host_signals *s, uv_loop_t *loop, void (*on_signal)(void *, int),
                       void *user);
void host_signals_close(host_signals *s);

#endif
