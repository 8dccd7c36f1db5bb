/*
 * The libuv host: drives sans-I/O core objects (a peer, a source or a
 * control center, and next to a peer its group agent) on one real UDP
 * socket and a real clock.
 *
 * After every call into a core the host drains every core's outbox onto
 * the socket and re-arms one timer at the earliest deadline of them all.
 * That is the whole contract between the two: the cores never see libuv.
 *
 * Several cores on one socket (a small mux): each core says which message
 * types it takes; a received datagram goes to the first core, in the order
 * they were added, that takes its type, and a datagram whose header does
 * not parse goes to the last core (the catch-all that counts the drop).
 * When the timer fires, every core whose deadline has come is called.
 *
 * The socket is the host's own (not uv_udp_t) so that it can read the
 * received IP TTL (IP_RECVTTL), which the group agent's HOPS metric needs:
 * a core with handle_datagram_ttl gets it (-1 when the kernel gave none).
 *
 * With delay emulation (host_node_set_delay, delay.h) every datagram the
 * cores send waits in the delay queue for its pair's one-way delay first.
 */
#ifndef STRATA_HOST_H
#define STRATA_HOST_H

#include <stdint.h>
#include <uv.h>

#include "strata/common.h"

/* The four entry points every core object offers, bound to one object,
 * and optionally a fifth that also takes the received IP TTL. */
typedef struct host_core_ops {
    int (*handle_datagram)(void *obj, strata_addr from, const uint8_t *buf, size_t len,
                           uint64_t now);
    int (*handle_datagram_ttl)(void *obj, strata_addr from, const uint8_t *buf, size_t len, int ttl,
                               uint64_t now); /* NULL: handle_datagram */
    void (*handle_timeout)(void *obj, uint64_t now);
    uint64_t (*next_timeout)(const void *obj);
    strata_outbox *(*outbox)(void *obj);
} host_core_ops;

/* Defines `static const host_core_ops NAME` for a core type whose entry
 * points are strata_<MODULE>_handle_datagram, _handle_timeout,
 * _next_timeout and _outbox: four typed adapters, since calling through a
 * cast function pointer would be undefined behaviour. HOST_CORE_OPS_TTL
 * adds strata_<MODULE>_handle_datagram_ttl. */
#define HOST_CORE_ADAPTERS_(NAME, MODULE, TYPE)                                                    \
    static int NAME##_handle_datagram(void *o, strata_addr from, const uint8_t *b, size_t n,       \
                                      uint64_t now)                                                \
    {                                                                                              \
        return strata_##MODULE##_handle_datagram((TYPE *)o, from, b, n, now);                      \
    }                                                                                              \
    static void NAME##_handle_timeout(void *o, uint64_t now)                                       \
    {                                                                                              \
        strata_##MODULE##_handle_timeout((TYPE *)o, now);                                          \
    }                                                                                              \
    static uint64_t NAME##_next_timeout(const void *o)                                             \
    {                                                                                              \
        return strata_##MODULE##_next_timeout((const TYPE *)o);                                    \
    }                                                                                              \
    static strata_outbox *NAME##_outbox(void *o)                                                   \
    {                                                                                              \
        return strata_##MODULE##_outbox((TYPE *)o);                                                \
    }

#define HOST_CORE_OPS(NAME, MODULE, TYPE)                                                          \
    HOST_CORE_ADAPTERS_(NAME, MODULE, TYPE)                                                        \
    static const host_core_ops NAME = {NAME##_handle_datagram, NULL, NAME##_handle_timeout,        \
                                       NAME##_next_timeout, NAME##_outbox}

#define HOST_CORE_OPS_TTL(NAME, MODULE, TYPE)                                                      \
    HOST_CORE_ADAPTERS_(NAME, MODULE, TYPE)                                                        \
    static int NAME##_handle_datagram_ttl(void *o, strata_addr from, const uint8_t *b, size_t n,   \
                                          int ttl, uint64_t now)                                   \
    {                                                                                              \
        return strata_##MODULE##_handle_datagram_ttl((TYPE *)o, from, b, n, ttl, now);             \
    }                                                                                              \
    static const host_core_ops NAME = {NAME##_handle_datagram, NAME##_handle_datagram_ttl,         \
                                       NAME##_handle_timeout, NAME##_next_timeout, NAME##_outbox}

enum { HOST_MAX_CORES = 4 };

/* One core driven by a host_node. takes(type) says whether it takes a
 * datagram of that message type (NULL: every type). */
typedef struct host_core {
    const host_core_ops *ops;
    void *obj;
    int (*takes)(int type);
    uint64_t rx_datagrams;
} host_core;

struct host_delay;

typedef struct host_node {
    uv_loop_t *loop;
    int fd;         /* the UDP socket */
    uv_poll_t poll; /* readability of fd */
    uv_timer_t timer;
    int delay_fd; /* timerfd of the delay queue (with delay emulation) */
    uv_poll_t delay_poll;
    host_core cores[HOST_MAX_CORES];
    size_t ncores;
    struct host_delay *delay; /* NULL: no delay emulation */
    strata_addr bound;        /* address the socket is bound to (port resolved) */
    int running;              /* between host_node_begin and host_node_close */
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

/* Adds a core (at most HOST_MAX_CORES in all), before or while running.
 * takes(type) says which message types it takes; NULL: every type. Returns
 * 0 or -1 when full. */
int host_node_add_core(host_node *n, const host_core_ops *ops, void *obj, int (*takes)(int type));
/* Turns on delay emulation before host_node_start; d must outlive the node
 * (free it after the loop has ended). */
void host_node_set_delay(host_node *n, struct host_delay *d);
/* Binds a UDP socket on addr (port 0 = any) and starts receiving into the
 * cores added so far plus ops/obj, which takes every type. Returns 0 or a
 * negative errno/libuv error (uv_strerror describes both). */
int host_node_start(host_node *n, uv_loop_t *loop, strata_addr addr, const host_core_ops *ops,
                    void *obj);
/* host_node_start in two steps, for a daemon that needs the bound address
 * (n->bound) before it creates its cores: open binds, begin starts
 * receiving and the timers. */
int host_node_open(host_node *n, uv_loop_t *loop, strata_addr addr);
int host_node_begin(host_node *n);
/* The local address the kernel would send from toward dest (for a socket
 * bound to 0.0.0.0, the address to advertise). Returns 0 or -errno. */
int host_local_addr_toward(strata_addr dest, uint32_t *ipv4);
/* Drains the outbox and re-arms the timer; call after any direct core call. */
void host_node_kick(host_node *n);
/* Closes the socket and timers (the loop then ends once nothing else is
 * live). Datagrams still in the delay queue are sent at once. */
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
