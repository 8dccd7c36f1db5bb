/*
 * A small HTTP/1.1 server for playback and status (SPEC P2, P6).
 *
 * GET /stream answers 200 with Content-Type video/mp2t and then streams
 * every byte the peer plays, for as long as the client reads; VLC, mpv,
 * ffplay and ffprobe open it. A peer watching several channels serves
 * each at /stream/NAME (host_http_add_stream); /stream is the first. A
 * client that falls more than HOST_HTTP_MAX_QUEUED_BYTES behind is disconnected rather than letting
 * memory grow. GET /status answers the JSON the daemon provides, GET
 * /metrics its Prometheus text (host/metrics.h) when it provides one, and
 * the pages a daemon adds (the control center's topology page) theirs.
 */
#ifndef STRATA_HOST_HTTP_H
#define STRATA_HOST_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "strata/common.h"

typedef struct host_http host_http;

/* Writes a JSON document into buf (at most buflen bytes); returns its length. */
typedef size_t (*host_http_status_fn)(void *user, char *buf, size_t buflen);

/* Listens on addr (port 0 = any); *bound receives the real address. */
int host_http_start(host_http **out, uv_loop_t *loop, strata_addr addr, strata_addr *bound,
                    host_http_status_fn status, void *status_user);
/* Serves GET /metrics from fn (text of at most HOST_METRICS_MAX_BYTES; a
 * length of 0 answers 500). */
void host_http_set_metrics(host_http *h, host_http_status_fn fn, void *user);
/* Returns a document of any length, allocated with malloc (the server
 * frees it), its length in *len; NULL answers 500. */
typedef char *(*host_http_page_fn)(void *user, size_t *len);
enum { HOST_HTTP_MAX_PAGES = 4 };
/* Serves GET path (exactly, a query string aside) from fn with Content-Type
 * type (both strings borrowed for the server's life). Returns 0, or -1
 * when HOST_HTTP_MAX_PAGES are taken. */
int host_http_add_page(host_http *h, const char *path, const char *type, host_http_page_fn fn,
                       void *user);
enum { HOST_HTTP_MAX_STREAMS = 16 };

/* Names stream i (in the order of the calls, from 0): it is served at
 * /stream/NAME too. Returns its index or -1 when there are too many. */
int host_http_add_stream(host_http *h, const char *name);
/* Sends bytes of stream i to its connected clients. */
void host_http_write_stream(host_http *h, int stream, const uint8_t *buf, size_t len);
/* Ends stream i's responses (end of stream) after what is queued. */
void host_http_end_stream(host_http *h, int stream);
/* Stream 0, for a peer of one channel. */
void host_http_write(host_http *h, const uint8_t *buf, size_t len);
/* Ends every stream's responses. */
void host_http_end_streams(host_http *h);
size_t host_http_clients(const host_http *h);
void host_http_close(host_http *h);

#endif
