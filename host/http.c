/*
 * HTTP output; see http.h. Requests are read until the blank line (at most
 * HOST_HTTP_MAX_REQUEST_BYTES) and only the request line is interpreted.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "metrics.h"

enum {
    HOST_HTTP_MAX_REQUEST_BYTES = 4096,
    HOST_HTTP_MAX_QUEUED_BYTES = 8 << 20,
    HOST_HTTP_STATUS_BYTES = 16384,
};

typedef struct http_client {
    uv_tcp_t tcp;
    host_http *server;
    struct http_client *next;
    char req[HOST_HTTP_MAX_REQUEST_BYTES];
    size_t reqlen;
    int streaming;
    int stream; /* which stream it receives */
    int closing;
} http_client;

struct host_http {
    uv_tcp_t listener;
    uv_loop_t *loop;
    http_client *clients;
    host_http_status_fn status;
    void *status_user;
    char names[HOST_HTTP_MAX_STREAMS][65];
    int nstreams;
    int ended[HOST_HTTP_MAX_STREAMS];
    host_http_status_fn metrics;
    void *metrics_user;
    struct {
        const char *path, *type;
        host_http_page_fn fn;
        void *user;
    } pages[HOST_HTTP_MAX_PAGES];
    int npages;
    int closing;
    int listener_closed;
};

typedef struct http_write {
    uv_write_t req;
    http_client *client;
    int close_after;
    char data[];
} http_write;

static void on_client_closed(uv_handle_t *h)
{
    http_client *c = h->data;
    host_http *s = c->server;
    for (http_client **pp = &s->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
    /* libuv runs close callbacks in no promised order: whoever is last frees
     * the server. */
    if (s->listener_closed && !s->clients)
        free(s);
}

static void client_close(http_client *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void on_write_done(uv_write_t *req, int status)
{
    http_write *w = (http_write *)req;
    if (status < 0 || w->close_after)
        client_close(w->client);
    free(w);
}

static void client_send(http_client *c, const void *buf, size_t len, int close_after)
{
    if (c->closing)
        return;
    if (c->tcp.write_queue_size > HOST_HTTP_MAX_QUEUED_BYTES) {
        client_close(c); /* a player this far behind is not coming back */
        return;
    }
    http_write *w = malloc(sizeof *w + len);
    if (!w) {
        client_close(c);
        return;
    }
    w->client = c;
    w->close_after = close_after;
    memcpy(w->data, buf, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) < 0) {
        free(w);
        client_close(c);
    }
}

/* The stream a request line asks for: 0 for /stream, i for /stream/NAME;
 * -1 for anything else. */
static int stream_of(const host_http *s, const char *line)
{
    static const char get[] = "GET /stream";
    size_t g = sizeof get - 1;
    if (strncmp(line, get, g) != 0)
        return -1;
    if (line[g] == '\0' || line[g] == ' ')
        return 0;
    if (line[g] != '/')
        return -1;
    const char *name = line + g + 1;
    size_t len = strcspn(name, " ");
    for (int i = 0; i < s->nstreams; i++)
        if (strlen(s->names[i]) == len && strncmp(s->names[i], name, len) == 0)
            return i;
    return -1;
}

/* Answers 200 with blen bytes of body, or 500 when there are none; the
 * connection closes after either. A document may change from one second to
 * the next: no cache keeps it. */
static void send_doc(http_client *c, const char *type, const char *body, size_t blen)
{
    char hdr[192];
    int hl = blen ? snprintf(hdr, sizeof hdr,
                             "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             type, blen)
                  : snprintf(hdr, sizeof hdr,
                             "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n");
    client_send(c, hdr, (size_t)hl, blen == 0);
    if (blen)
        client_send(c, body, blen, 1);
}

/* Answers with what fn writes into a buffer of cap bytes. */
static void respond_doc(http_client *c, host_http_status_fn fn, void *user, size_t cap,
                        const char *type)
{
    char *body = malloc(cap);
    if (!body) {
        client_close(c);
        return;
    }
    send_doc(c, type, body, fn(user, body, cap));
    free(body);
}

static int is_get(const char *line, const char *path)
{
    size_t n = strlen(path);
    return strncmp(line, "GET ", 4) == 0 && strncmp(line + 4, path, n) == 0 &&
           (line[4 + n] == ' ' || line[4 + n] == '\0' || line[4 + n] == '?');
}

/* Answers with the document fn allocates (500 without one). */
static void respond_page(http_client *c, host_http_page_fn fn, void *user, const char *type)
{
    size_t blen = 0;
    char *body = fn(user, &blen);
    send_doc(c, type, body, body ? blen : 0);
    free(body);
}

static void respond(http_client *c)
{
    host_http *s = c->server;
    char line[128];
    size_t n = strcspn(c->req, "\r\n");
    if (n >= sizeof line)
        n = sizeof line - 1;
    memcpy(line, c->req, n);
    line[n] = '\0';
    int stream = stream_of(s, line);
    if (stream >= 0) {
        static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n"
                                  "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
        client_send(c, hdr, sizeof hdr - 1, s->ended[stream]);
        c->stream = stream;
        c->streaming = !s->ended[stream];
    } else if (strncmp(line, "GET /status ", 12) == 0 && s->status) {
        respond_doc(c, s->status, s->status_user, HOST_HTTP_STATUS_BYTES, "application/json");
    } else if (is_get(line, "/metrics") && s->metrics) {
        respond_doc(c, s->metrics, s->metrics_user, HOST_METRICS_MAX_BYTES,
                    "text/plain; version=0.0.4; charset=utf-8");
    } else {
        for (int i = 0; i < s->npages; i++) {
            if (is_get(line, s->pages[i].path)) {
                respond_page(c, s->pages[i].fn, s->pages[i].user, s->pages[i].type);
                return;
            }
        }
        static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                                 "Content-Length: 42\r\nConnection: close\r\n\r\n"
                                 "try /stream (MPEG-TS), /status or /metrics";
        client_send(c, nf, sizeof nf - 1, 1);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_client *c = h->data;
    (void)suggested;
    size_t room = sizeof c->req - 1 - c->reqlen;
    *buf = uv_buf_init(c->req + c->reqlen, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    http_client *c = st->data;
    (void)buf;
    if (nread < 0) {
        client_close(c);
        return;
    }
    if (c->streaming || c->reqlen == SIZE_MAX)
        return; /* a player may send nothing more; ignore whatever it does */
    c->reqlen += (size_t)nread;
    c->req[c->reqlen] = '\0';
    if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
        respond(c);
        c->reqlen = 0;
        c->req[0] = '\0';
        if (c->streaming)
            c->reqlen = SIZE_MAX - 1; /* stop parsing: the response is the stream */
    } else if (c->reqlen >= sizeof c->req - 1) {
        static const char big[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                  "Content-Length: 0\r\nConnection: close\r\n\r\n";
        client_send(c, big, sizeof big - 1, 1);
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    host_http *s = ls->data;
    if (status < 0)
        return;
    http_client *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->clients;
    s->clients = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        client_close(c);
}

static void on_listener_closed(uv_handle_t *h);

void host_http_set_metrics(host_http *h, host_http_status_fn fn, void *user)
{
    if (!h)
        return;
    h->metrics = fn;
    h->metrics_user = user;
}

int host_http_add_page(host_http *h, const char *path, const char *type, host_http_page_fn fn,
                       void *user)
{
    if (h->npages == HOST_HTTP_MAX_PAGES)
        return -1;
    h->pages[h->npages].path = path;
    h->pages[h->npages].type = type;
    h->pages[h->npages].fn = fn;
    h->pages[h->npages].user = user;
    h->npages++;
    return 0;
}

int host_http_start(host_http **out, uv_loop_t *loop, strata_addr addr, strata_addr *bound,
                    host_http_status_fn status, void *status_user)
{
    host_http *s = calloc(1, sizeof *s);
    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    s->status = status;
    s->status_user = status_user;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in sin;
    host_addr_to_sockaddr(addr, &sin);
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sin, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
    if (rc < 0) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
    }
    int len = sizeof sin;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&sin, &len);
    *bound = host_addr_from_sockaddr(&sin);
    *out = s;
    return 0;
}

int host_http_add_stream(host_http *h, const char *name)
{
    if (h->nstreams == HOST_HTTP_MAX_STREAMS)
        return -1;
    snprintf(h->names[h->nstreams], sizeof h->names[0], "%s", name);
    return h->nstreams++;
}

void host_http_write_stream(host_http *h, int stream, const uint8_t *buf, size_t len)
{
    for (http_client *c = h->clients, *next; c; c = next) {
        next = c->next; /* client_send may close c, but frees it only later */
        if (c->streaming && c->stream == stream)
            client_send(c, buf, len, 0);
    }
}

void host_http_write(host_http *h, const uint8_t *buf, size_t len)
{
    host_http_write_stream(h, 0, buf, len);
}

static void on_shutdown_done(uv_shutdown_t *sd, int status)
{
    http_client *c = sd->handle->data;
    (void)status;
    free(sd);
    client_close(c);
}

void host_http_end_stream(host_http *h, int stream)
{
    if (stream < 0 || stream >= HOST_HTTP_MAX_STREAMS)
        return;
    h->ended[stream] = 1;
    for (http_client *c = h->clients; c; c = c->next) {
        if (c->streaming && c->stream == stream) {
            c->streaming = 0;
            uv_shutdown_t *sd = malloc(sizeof *sd);
            if (!sd || uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0) {
                free(sd);
                client_close(c);
            }
        }
    }
}

void host_http_end_streams(host_http *h)
{
    for (int i = 0; i < HOST_HTTP_MAX_STREAMS; i++)
        host_http_end_stream(h, i);
}

size_t host_http_clients(const host_http *h)
{
    size_t n = 0;
    for (const http_client *c = h->clients; c; c = c->next)
        n += c->streaming ? 1u : 0u;
    return n;
}

static void on_listener_closed(uv_handle_t *h)
{
    host_http *s = h->data;
    s->listener_closed = 1;
    if (!s->clients)
        free(s);
}

void host_http_close(host_http *h)
{
    if (!h || h->closing)
        return;
    h->closing = 1;
    for (http_client *c = h->clients; c; c = c->next)
        client_close(c);
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
