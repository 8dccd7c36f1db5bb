/*
 * A UDP socket and timers around the process's node. See host.h.
 */
#include "host.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "delay.h"
#include "escape.h"
#include "strata/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { HOST_SOCKET_BUFFER_BYTES = 4 << 20 };

uint64_t host_now_ns(void)
{
    return uv_hrtime();
}

uint64_t host_random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        /* getrandom cannot fail for 8 bytes on Linux >= 3.17; mix the clock in
         * rather than abort if it ever does. */
        v = uv_hrtime() ^ ((uint64_t)getpid() << 32);
    }
    return v;
}

void host_addr_to_sockaddr(strata_addr a, struct sockaddr_in *sin)
{
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(a.ipv4);
    sin->sin_port = htons(a.port);
}

strata_addr host_addr_from_sockaddr(const struct sockaddr_in *sin)
{
    strata_addr a = {ntohl(sin->sin_addr.s_addr), ntohs(sin->sin_port)};
    return a;
}

int host_parse_addr(const char *s, strata_addr *out)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    char host[64];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct in_addr ia;
    if (inet_pton(AF_INET, host, &ia) != 1)
        return -1;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end != '\0' || colon[1] == '\0' || port > 65535)
        return -1;
    out->ipv4 = ntohl(ia.s_addr);
    out->port = (uint16_t)port;
    return 0;
}

/* --- sending ------------------------------------------------------------------- */

static void send_now(host_node *n, strata_addr to, const strata_buf *buf)
{
    struct sockaddr_in sin;
    host_addr_to_sockaddr(to, &sin);
    ssize_t rc;
    do {
        rc = sendto(n->fd, buf->data, buf->len, MSG_DONTWAIT, (const struct sockaddr *)&sin,
                    sizeof sin);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        n->tx_errors++; /* a full socket buffer drops, as a router would */
    else
        n->tx_datagrams++;
}

/* Arms the delay timer at the earliest queued datagram. It is a timerfd
 * with an absolute CLOCK_MONOTONIC deadline (uv_hrtime's clock), not a
 * libuv timer: those have millisecond resolution, and the group protocol's
 * join test is sensitive to a fraction of a millisecond of systematic
 * error in the distances it measures (docs/groups.md). */
static void rearm_delay(host_node *n)
{
    uint64_t due = host_delay_next_due(n->delay);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (due != STRATA_NEVER) {
        if (due == 0)
            due = 1; /* 0 would disarm */
        its.it_value.tv_sec = (time_t)(due / 1000000000u);
        its.it_value.tv_nsec = (long)(due % 1000000000u);
    }
    (void)timerfd_settime(n->delay_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void release_due(host_node *n, uint64_t now)
{
    host_delayed e;
    while (host_delay_pop_due(n->delay, now, &e)) {
        send_now(n, e.to, e.buf);
        strata_buf_unref(e.buf);
    }
}

static void on_delay_timer(uv_poll_t *p, int status, int events)
{
    host_node *n = p->data;
    uint64_t expirations;
    (void)status;
    (void)events;
    (void)!read(n->delay_fd, &expirations, sizeof expirations); /* EAGAIN when early: fine */
    if (n->closing)
        return;
    release_due(n, host_now_ns());
    rearm_delay(n);
}

static void drain_outbox(host_node *n, strata_outbox *ob)
{
    strata_datagram d;
    uint64_t now = host_now_ns();
    int queued = 0;
    while (strata_outbox_pop(ob, &d)) {
        uint64_t wait_ns = n->delay && !n->closing ? host_delay_to(n->delay, d.to) : 0;
        if (wait_ns > 0) {
            /* The queue takes over the reference (or drops it when full). */
            host_delay_push(n->delay, now + wait_ns, d.to, d.buf);
            queued = 1;
            continue;
        }
        if (n->delay)
            n->delay->undelayed++;
        if (!n->closing)
            send_now(n, d.to, d.buf);
        strata_buf_unref(d.buf);
    }
    if (queued)
        rearm_delay(n);
}

static void drain_all(host_node *n)
{
    if (n->core)
        drain_outbox(n, strata_node_outbox(n->core));
}

/* --- the node's timer ---------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void rearm(host_node *n)
{
    if (n->closing || !n->core)
        return;
    uint64_t next = strata_node_next_timeout(n->core);
    if (next == STRATA_NEVER) {
        uv_timer_stop(&n->timer);
        return;
    }
    uint64_t now = host_now_ns();
    uint64_t delay_ms = next > now ? (next - now + 999999) / 1000000 : 0;
    uv_timer_start(&n->timer, on_timer, delay_ms, 0);
}

void host_node_kick(host_node *n)
{
    /* after_core first: what it tells the node goes out in the same drain. */
    if (n->after_core)
        n->after_core(n);
    drain_all(n);
    rearm(n);
}

enum {
    HOST_RX_BATCH = 64,           /* datagrams read per readiness callback */
    HOST_RX_BEFORE_TIMER = 4096,  /* ... at most before the deadlines run (a bound, not a goal) */
};

static void receive_pending(host_node *n, int max);

static void on_timer(uv_timer_t *t)
{
    host_node *n = t->data;
    /* libuv runs due timers before it polls for input: after the process
     * was not scheduled for a while, the deadlines would judge the silence
     * of nodes whose heartbeats wait unread in the socket (a busy control
     * center declared its peers dead). What arrived is taken first. */
    receive_pending(n, HOST_RX_BEFORE_TIMER);
    if (n->closing || !n->core)
        return;
    strata_node_handle_timeout(n->core, host_now_ns());
    host_node_kick(n);
}

/* --- receiving ------------------------------------------------------------------- */


static int received_ttl(struct msghdr *msg)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int ttl;
            memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
            return ttl;
        }
    }
    return -1;
}

/* Reads and handles up to max datagrams waiting on the socket. */
static void receive_pending(host_node *n, int max)
{
    for (int i = 0; i < max && !n->closing && n->core; i++) {
        struct sockaddr_in sin;
        struct iovec iov = {n->rxbuf, sizeof n->rxbuf};
        union {
            char buf[CMSG_SPACE(sizeof(int)) * 2];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = {.msg_name = &sin,
                             .msg_namelen = sizeof sin,
                             .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof ctl.buf};
        ssize_t got = recvmsg(n->fd, &msg, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: drained; anything else is reported again next time */
        }
        if (msg.msg_namelen < sizeof sin || sin.sin_family != AF_INET)
            continue;
        if (msg.msg_flags & MSG_TRUNC) {
            n->rx_truncated++;
            continue;
        }
        n->rx_datagrams++;
        strata_rx rx = {host_addr_from_sockaddr(&sin), received_ttl(&msg)};
        if (strata_node_handle_datagram(n->core, &rx, n->rxbuf, (size_t)got, host_now_ns()) == 0 &&
            strata_wire_peek_type(n->rxbuf, (size_t)got) == STRATA_MSG_HEARTBEAT)
            n->rx_heartbeats++;
        host_node_kick(n);
    }
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    host_node *n = p->data;
    if (status < 0 || !(events & UV_READABLE) || n->closing)
        return;
    receive_pending(n, HOST_RX_BATCH);
}

/* --- life cycle ------------------------------------------------------------------- */

void host_node_set_delay(host_node *n, host_delay *d)
{
    n->delay = d;
}

static int open_socket(host_node *n, strata_addr addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int size = HOST_SOCKET_BUFFER_BYTES, one = 1;
    /* Best effort: the kernel caps the buffers at its limits. */
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    (void)setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one);
    struct sockaddr_in sin;
    host_addr_to_sockaddr(addr, &sin);
    socklen_t len = sizeof sin;
    if (bind(fd, (const struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    n->bound = host_addr_from_sockaddr(&sin);
    n->fd = fd;
    return 0;
}

static void on_poll_closed(uv_handle_t *h)
{
    host_node *n = h->data;
    close(n->fd);
    n->fd = -1;
}

int host_node_open(host_node *n, uv_loop_t *loop, strata_addr addr)
{
    n->loop = loop;
    n->closing = 0;
    n->fd = -1;
    return open_socket(n, addr);
}

static void on_delay_poll_closed(uv_handle_t *h)
{
    host_node *n = h->data;
    close(n->delay_fd);
    n->delay_fd = -1;
}

/* The delay queue's timer (delay emulation only). */
static int start_delay_timer(host_node *n)
{
    n->delay_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (n->delay_fd < 0)
        return -errno;
    int rc = uv_poll_init(n->loop, &n->delay_poll, n->delay_fd);
    if (rc < 0) {
        close(n->delay_fd);
        n->delay_fd = -1;
        return rc;
    }
    n->delay_poll.data = n;
    rc = uv_poll_start(&n->delay_poll, UV_READABLE, on_delay_timer);
    if (rc < 0)
        uv_close((uv_handle_t *)&n->delay_poll, on_delay_poll_closed);
    return rc;
}

int host_node_begin(host_node *n, strata_node *node)
{
    n->core = node;
    int rc = uv_poll_init(n->loop, &n->poll, n->fd);
    if (rc < 0) {
        close(n->fd);
        n->fd = -1;
        return rc;
    }
    n->poll.data = n;
    uv_timer_init(n->loop, &n->timer); /* cannot fail */
    n->timer.data = n;
    rc = uv_poll_start(&n->poll, UV_READABLE, on_readable);
    if (rc == 0 && n->delay)
        rc = start_delay_timer(n);
    if (rc < 0) {
        uv_close((uv_handle_t *)&n->timer, NULL);
        uv_close((uv_handle_t *)&n->poll, on_poll_closed);
        return rc;
    }
    n->running = 1;
    host_node_kick(n);
    return 0;
}

int host_node_start(host_node *n, uv_loop_t *loop, strata_addr addr, strata_node *node)
{
    int rc = host_node_open(n, loop, addr);
    return rc < 0 ? rc : host_node_begin(n, node);
}

int host_local_addr_toward(strata_addr dest, uint32_t *ipv4)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sin;
    host_addr_to_sockaddr(dest, &sin);
    socklen_t len = sizeof sin;
    int rc = 0;
    /* connect() on UDP sends nothing: it only picks the route and source. */
    if (connect(fd, (const struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        rc = -errno;
    else
        *ipv4 = host_addr_from_sockaddr(&sin).ipv4;
    close(fd);
    return rc;
}

void host_node_close(host_node *n)
{
    if (n->closing)
        return;
    drain_all(n); /* a LEAVE queued just before closing still goes out */
    if (n->delay)
        release_due(n, STRATA_NEVER); /* everything still held back, at once */
    n->closing = 1;
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, NULL);
    if (n->delay && n->delay_fd >= 0) {
        uv_poll_stop(&n->delay_poll);
        uv_close((uv_handle_t *)&n->delay_poll, on_delay_poll_closed);
    }
    uv_poll_stop(&n->poll);
    uv_close((uv_handle_t *)&n->poll, on_poll_closed);
    n->running = 0;
}

static const char *level_name(int level)
{
    switch (level) {
    case STRATA_LOG_ERROR:
        return "error";
    case STRATA_LOG_WARN:
        return "warn";
    case STRATA_LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

static void log_write(void *user, int level, const char *line)
{
    host_logger *lg = user;
    double t = (double)(host_now_ns() - lg->start_ns) / 1e9;
    /* A line may hold a channel name or a region label: untrusted bytes,
     * which must not start a line of their own. */
    fprintf(stderr, "%9.3f %-5s %s: ", t, level_name(level), lg->name);
    host_log_text(stderr, line);
    fputc('\n', stderr);
}

void host_log_init(strata_log *log, host_logger *lg, const char *name, int max_level)
{
    lg->name = name;
    lg->start_ns = host_now_ns();
    log->write = log_write;
    log->user = lg;
    log->max_level = max_level;
}

static void on_signal(uv_signal_t *h, int signum)
{
    host_signals *s = h->data;
    if (s->on_signal) {
        void (*cb)(void *, int) = s->on_signal;
        s->on_signal = NULL; /* once; a second signal is ignored while leaving */
        cb(s->user, signum);
    }
}

int host_signals_start(host_signals *s, uv_loop_t *loop, void (*cb)(void *, int), void *user)
{
    s->on_signal = cb;
    s->user = user;
    uv_signal_init(loop, &s->sigint);
    uv_signal_init(loop, &s->sigterm);
    s->sigint.data = s;
    s->sigterm.data = s;
    int rc = uv_signal_start(&s->sigint, on_signal, SIGINT);
    if (rc == 0)
        rc = uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    return rc;
}

void host_signals_close(host_signals *s)
{
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}
