/*
 * The libuv host: drives one sans-I/O node object (strata/node.h) on one
 * real UDP socket and a real clock.
 *
 * After every call into the node the host drains its outbox onto the
 * socket and re-arms one timer at its deadline. That is the whole contract
 * between the two: the node never sees libuv, and the host never looks
 * inside a datagram (the node routes it to the role it is for).
 *
 * The socket is the host's own (not uv_udp_t) so that it can read the
 * received IP TTL (IP_RECVTTL), which the group agent's HOPS metric needs;
 * it goes to the node with the sender in a strata_rx (-1 when the kernel
 * gave none).
 *
 * With delay emulation (host_node_set_delay, delay.h) every datagram the
 * node sends waits in the delay queue for its pair's one-way delay first.
 */
#ifndef STRATA_HOST_H
#define STRATA_HOST_H

#include <stdint.h>
#include <uv.h>

#include "strata/common.h"
#include "strata/node.h"

struct host_delay;

typedef struct host_node {
    uv_loop_t *loop;
    int fd;         /* the UDP socket */
    uv_poll_t poll; /* readability of fd */
    uv_timer_t timer;
    int delay_fd; /* timerfd of the delay queue (with delay emulation) */
    uv_poll_t delay_poll;
    strata_node *core;        /* the process's node; NULL before host_node_begin */
    struct host_delay *delay; /* NULL: no delay emulation */
    strata_addr bound;        /* address the socket is bound to (port resolved) */
    int running;              /* between host_node_begin and host_node_close */
    uint64_t tx_datagrams, tx_errors, rx_datagrams, rx_truncated;
    /* HEARTBEAT datagrams the node took (not dropped): the control
     * center's heartbeats received, for its metrics. */
    uint64_t rx_heartbeats;
    int closing;
    /* Called after every call into the node, before the outbox is drained
     * (may be NULL); daemons use it to notice state changes such as
     * "ready" or "ended". */
    void (*after_core)(struct host_node *n);
    void *user;
    uint8_t rxbuf[65536];
} host_node;

/* Monotonic time in nanoseconds; the only clock the daemons read. */
uint64_t host_now_ns(void);

/* Turns on delay emulation before host_node_start; d must outlive the node
 * (free it after the loop has ended). */
void host_node_set_delay(host_node *n, struct host_delay *d);
/* Binds a UDP socket on addr (port 0 = any) and starts feeding node with
 * what it receives. Returns 0 or a negative errno/libuv error (uv_strerror
 * describes both). */
int host_node_start(host_node *n, uv_loop_t *loop, strata_addr addr, strata_node *node);
/* host_node_start in two steps, for a daemon that needs the bound address
 * (n->bound) before it creates its node: open binds, begin starts
 * receiving into node and the timers. */
int host_node_open(host_node *n, uv_loop_t *loop, strata_addr addr);
int host_node_begin(host_node *n, strata_node *node);
/* The local address the kernel would send from toward dest (for a socket
 * bound to 0.0.0.0, the address to advertise). Returns 0 or -errno. */
int host_local_addr_toward(strata_addr dest, uint32_t *ipv4);
/* Drains the outbox and re-arms the timer; call after any direct call into
 * the node (a channel pushed input, say). */
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
