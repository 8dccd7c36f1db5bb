/*
 * Source input; see ingest.h. Files are paced by a 5 ms timer that reads
 * what the rate allows since the start, so the average rate is exact and
 * bursts stay within one tick. A pipe is read into a bounded buffer (reading
 * stops while it is full, which holds the writer back) and drained by the
 * same timer through a token bucket at PIPE_RATE_PERCENT of the rate: a live
 * encoder is never held back, a burst such as `cat file |` is smoothed.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

enum {
    INGEST_TICK_MS = 5,
    INGEST_MAX_READ_BYTES = 65536,
    PIPE_BUFFER_BYTES = 4 << 20,
    PIPE_RATE_PERCENT = 125,
    PIPE_BURST_MS = 200, /* most a quiet spell lets the bucket save up */
};

enum ingest_kind { INGEST_FILE, INGEST_PIPE, INGEST_UDP };

struct host_ingest {
    uv_loop_t *loop;
    int kind;
    host_ingest_sink sink;
    uint32_t rate_kbps;
    uint64_t bytes, start_ns, bytes_at_rewind;
    int fd, own_fd, ended, repeat;
    uv_timer_t timer;
    uv_pipe_t pipe;
    uv_udp_t udp;
    int handles_open;
    uint8_t *pending; /* pipe input not yet passed on */
    size_t pending_len;
    double tokens;
    uint64_t last_tick_ns;
    int pipe_eof, reading;
    uint8_t buf[INGEST_MAX_READ_BYTES];
};

static void finish(host_ingest *in)
{
    if (in->ended)
        return;
    in->ended = 1;
    if (in->sink.end)
        in->sink.end(in->sink.user);
}

static void on_tick(uv_timer_t *t)
{
    host_ingest *in = t->data;
    double elapsed_s = (double)(host_now_ns() - in->start_ns) / 1e9;
    uint64_t due = (uint64_t)(elapsed_s * in->rate_kbps * 1000.0 / 8.0);
    while (!in->ended && due > in->bytes) {
        uint64_t want = due - in->bytes;
        size_t n = want > sizeof in->buf ? sizeof in->buf : (size_t)want;
        ssize_t got = read(in->fd, in->buf, n);
        if (got < 0 && errno == EINTR)
            continue;
        /* Start over only if the last pass read something: an emptied file ends. */
        if (got == 0 && in->repeat && in->bytes > in->bytes_at_rewind &&
            lseek(in->fd, 0, SEEK_SET) == 0) {
            in->bytes_at_rewind = in->bytes;
            continue;
        }
        if (got <= 0) {
            uv_timer_stop(&in->timer);
            finish(in);
            return;
        }
        in->bytes += (uint64_t)got;
        in->sink.data(in->sink.user, in->buf, (size_t)got);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    host_ingest *in = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)in->buf, sizeof in->buf);
}

static void on_pipe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    host_ingest *in = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)in->pending + in->pending_len,
                       (unsigned)(PIPE_BUFFER_BYTES - in->pending_len));
}

static void on_pipe_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    host_ingest *in = st->data;
    (void)buf;
    if (nread < 0) {
        uv_read_stop(st);
        in->reading = 0;
        in->pipe_eof = 1;
        return;
    }
    in->pending_len += (size_t)nread;
    if (in->pending_len == PIPE_BUFFER_BYTES) {
        uv_read_stop(st); /* the writer waits until the pacer catches up */
        in->reading = 0;
    }
}

static void on_pipe_tick(uv_timer_t *t)
{
    host_ingest *in = t->data;
    uint64_t now = host_now_ns();
    double bytes_per_s = in->rate_kbps * 1000.0 / 8.0 * PIPE_RATE_PERCENT / 100.0;
    in->tokens += (double)(now - in->last_tick_ns) / 1e9 * bytes_per_s;
    in->last_tick_ns = now;
    if (in->tokens > bytes_per_s * PIPE_BURST_MS / 1000.0)
        in->tokens = bytes_per_s * PIPE_BURST_MS / 1000.0;
    size_t n = in->tokens < (double)in->pending_len ? (size_t)in->tokens : in->pending_len;
    if (n > 0) {
        in->tokens -= (double)n;
        in->bytes += n;
        in->sink.data(in->sink.user, in->pending, n);
        memmove(in->pending, in->pending + n, in->pending_len - n);
        in->pending_len -= n;
    }
    if (!in->reading && !in->pipe_eof && in->pending_len < PIPE_BUFFER_BYTES / 2 &&
        uv_read_start((uv_stream_t *)&in->pipe, on_pipe_alloc, on_pipe_read) == 0)
        in->reading = 1;
    if (in->pipe_eof && in->pending_len == 0) {
        uv_timer_stop(&in->timer);
        finish(in);
    }
}

static void on_udp_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *from, unsigned flags)
{
    host_ingest *in = u->data;
    (void)from;
    if (nread <= 0 || (flags & UV_UDP_PARTIAL))
        return;
    in->bytes += (uint64_t)nread;
    in->sink.data(in->sink.user, (const uint8_t *)buf->base, (size_t)nread);
}

static void release(host_ingest *in);

int host_ingest_start(host_ingest **out, uv_loop_t *loop, const char *input, uint32_t rate_kbps,
                      int repeat, const host_ingest_sink *sink, char *err, size_t errlen)
{
    host_ingest *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    in->loop = loop;
    in->sink = *sink;
    in->rate_kbps = rate_kbps;
    in->repeat = repeat;
    in->start_ns = host_now_ns();
    in->fd = -1;
    int rc = 0;
    if (strncmp(input, "udp://", 6) == 0) {
        strata_addr a;
        if (host_parse_addr(input + 6, &a) < 0) {
            snprintf(err, errlen, "bad UDP input address '%s' (want udp://A.B.C.D:PORT)", input);
            goto fail;
        }
        in->kind = INGEST_UDP;
        uv_udp_init(loop, &in->udp);
        in->udp.data = in;
        in->handles_open = 1;
        struct sockaddr_in sin;
        host_addr_to_sockaddr(a, &sin);
        int size = 8 << 20;
        rc = uv_udp_bind(&in->udp, (const struct sockaddr *)&sin, UV_UDP_REUSEADDR);
        if (rc == 0) {
            uv_recv_buffer_size((uv_handle_t *)&in->udp, &size);
            rc = uv_udp_recv_start(&in->udp, on_alloc, on_udp_recv);
        }
        if (rc < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", input, uv_strerror(rc));
            goto fail_handle;
        }
        *out = in;
        return 0;
    }
    if (strcmp(input, "-") == 0) {
        in->fd = 0;
        if (uv_guess_handle(0) != UV_FILE) {
            in->kind = INGEST_PIPE;
            if (rate_kbps == 0) {
                snprintf(err, errlen, "standard input needs --rate KBPS to be paced");
                goto fail;
            }
            in->pending = malloc(PIPE_BUFFER_BYTES);
            if (!in->pending) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            uv_pipe_init(loop, &in->pipe, 0);
            in->pipe.data = in;
            uv_timer_init(loop, &in->timer);
            in->timer.data = in;
            in->handles_open = 2;
            in->last_tick_ns = host_now_ns();
            rc = uv_pipe_open(&in->pipe, 0);
            if (rc == 0)
                rc = uv_read_start((uv_stream_t *)&in->pipe, on_pipe_alloc, on_pipe_read);
            if (rc == 0) {
                in->reading = 1;
                rc = uv_timer_start(&in->timer, on_pipe_tick, INGEST_TICK_MS, INGEST_TICK_MS);
            }
            if (rc < 0) {
                snprintf(err, errlen, "cannot read standard input: %s", uv_strerror(rc));
                goto fail_handle;
            }
            *out = in;
            return 0;
        }
    } else {
        in->fd = open(input, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            snprintf(err, errlen, "cannot open input '%s': %s", input, strerror(errno));
            goto fail;
        }
        in->own_fd = 1;
    }
    if (rate_kbps == 0) {
        snprintf(err, errlen, "a file input needs --rate KBPS to be paced");
        goto fail;
    }
    in->kind = INGEST_FILE;
    uv_timer_init(loop, &in->timer);
    in->timer.data = in;
    in->handles_open = 1;
    uv_timer_start(&in->timer, on_tick, 0, INGEST_TICK_MS);
    *out = in;
    return 0;
fail_handle:
    host_ingest_close(in);
    return -1;
fail:
    release(in);
    return -1;
}

uint64_t host_ingest_bytes(const host_ingest *in)
{
    return in->bytes;
}

static void release(host_ingest *in)
{
    if (in->own_fd)
        close(in->fd);
    free(in->pending);
    free(in);
}

static void on_closed(uv_handle_t *h)
{
    host_ingest *in = h->data;
    if (--in->handles_open == 0)
        release(in);
}

void host_ingest_close(host_ingest *in)
{
    if (!in)
        return;
    in->ended = 1;
    if (!in->handles_open) {
        release(in);
        return;
    }
    switch (in->kind) {
    case INGEST_FILE:
        uv_close((uv_handle_t *)&in->timer, on_closed);
        break;
    case INGEST_PIPE:
        uv_close((uv_handle_t *)&in->pipe, on_closed);
        uv_close((uv_handle_t *)&in->timer, on_closed);
        break;
    default:
        uv_close((uv_handle_t *)&in->udp, on_closed);
        break;
    }
}
