/*
 * Source input (SPEC P1): a file paced at the stream rate, standard input
 * (paced like a file when it is a redirected file; when it is a pipe, passed
 * on as it arrives but never faster than 1.25 x the rate, so a live encoder
 * is not held back and a burst is smoothed), or MPEG-TS over UDP as
 * `ffmpeg -f mpegts udp://ADDR:PORT` sends it (passed on as it arrives).
 */
#ifndef STRATA_HOST_INGEST_H
#define STRATA_HOST_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct host_ingest host_ingest;

typedef struct host_ingest_sink {
    void (*data)(void *user, const uint8_t *buf, size_t len);
    void (*end)(void *user); /* end of input (never for UDP) */
    void *user;
} host_ingest_sink;

/* input: "-", "udp://A.B.C.D:PORT" or a file path. With repeat set, a file
 * starts over at its end instead of ending (a test channel that never
 * stops). Returns 0, or -1 with a message in err. */
int host_ingest_start(host_ingest **out, uv_loop_t *loop, const char *input, uint32_t rate_kbps,
                      int repeat, const host_ingest_sink *sink, char *err, size_t errlen);
uint64_t host_ingest_bytes(const host_ingest *in);
void host_ingest_close(host_ingest *in);

#endif
