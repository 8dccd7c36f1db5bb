/*
 * UDP socket + one timer around a sans-I/O core object. See host.h.
 */
#include "host.h"

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

static void drain_outbox(host_node *n)
{
    strata_outbox *ob = n->ops->outbox(n->obj);
    strata_datagram d;
    while (strata_outbox_pop(ob, &d)) {
        if (!n->closing) {
            struct sockaddr_in sin;
            host_addr_to_sockaddr(d.to, &sin);
            uv_buf_t b = uv_buf_init((char *)d.buf->data, d.buf->len);
            int rc = uv_udp_try_send(&n->udp, &b, 1, (const struct sockaddr *)&sin);
            if (rc < 0)
                n->tx_errors++; /* a full socket buffer drops, as a router would */
            else
                n->tx_datagrams++;
        }
        strata_buf_unref(d.buf);
    }
}

static void on_timer(uv_timer_t *t);

static void rearm(host_node *n)
{
    if (n->closing)
        return;
    uint64_t next = n->ops->next_timeout(n->obj);
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
    drain_outbox(n);
    if (n->after_core)
        n->after_core(n);
    rearm(n);
}

static void on_timer(uv_timer_t *t)
{
    host_node *n = t->data;
    n->ops->handle_timeout(n->obj, host_now_ns());
    host_node_kick(n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    host_node *n = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)n->rxbuf, sizeof n->rxbuf);
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    host_node *n = u->data;
    if (nread <= 0 || !from || from->sa_family != AF_INET)
        return; /* nothing read, or an error the next read will report again */
    if (flags & UV_UDP_PARTIAL) {
        n->rx_truncated++;
        return;
    }
    n->rx_datagrams++;
    strata_addr src = host_addr_from_sockaddr((const struct sockaddr_in *)from);
    n->ops->handle_datagram(n->obj, src, (const uint8_t *)buf->base, (size_t)nread, host_now_ns());
    host_node_kick(n);
}

int host_node_start(host_node *n, uv_loop_t *loop, strata_addr addr, const host_core_ops *ops,
                    void *obj)
{
    n->loop = loop;
    n->ops = ops;
    n->obj = obj;
    n->closing = 0;
    int rc = uv_udp_init(loop, &n->udp);
    if (rc < 0)
        return rc;
    n->udp.data = n;
    struct sockaddr_in sin;
    host_addr_to_sockaddr(addr, &sin);
    rc = uv_udp_bind(&n->udp, (const struct sockaddr *)&sin, 0);
    if (rc < 0)
        goto fail_bind;
    int size = HOST_SOCKET_BUFFER_BYTES;
    uv_send_buffer_size((uv_handle_t *)&n->udp, &size);
    size = HOST_SOCKET_BUFFER_BYTES;
    uv_recv_buffer_size((uv_handle_t *)&n->udp, &size);
    int len = sizeof sin;
    rc = uv_udp_getsockname(&n->udp, (struct sockaddr *)&sin, &len);
    if (rc < 0)
        goto fail_bind;
    n->bound = host_addr_from_sockaddr(&sin);
    rc = uv_timer_init(loop, &n->timer);
    if (rc < 0)
        goto fail_bind;
    n->timer.data = n;
    rc = uv_udp_recv_start(&n->udp, on_alloc, on_recv);
    if (rc < 0)
        goto fail_recv;
    host_node_kick(n);
    return 0;
fail_recv:
    uv_close((uv_handle_t *)&n->timer, NULL);
fail_bind:
    uv_close((uv_handle_t *)&n->udp, NULL);
    return rc;
}

void host_node_close(host_node *n)
{
    if (n->closing)
        return;
    drain_outbox(n); /* a LEAVE queued just before closing still goes out */
    n->closing = 1;
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, NULL);
    uv_udp_recv_stop(&n->udp);
    uv_close((uv_handle_t *)&n->udp, NULL);
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
    fprintf(stderr, "%9.3f %-5s %s: %s\n", t, level_name(level), lg->name, line);
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
