/*
 * A JSON status file rewritten every second (atomically: temp file +
 * rename), so scripts and the demo can read a daemon's state without a
 * socket. The JSON comes from the same function that serves /status.
 */
#ifndef STRATA_HOST_STATUS_FILE_H
#define STRATA_HOST_STATUS_FILE_H

#include <uv.h>

#include "http.h"
#include "strata/common.h"

typedef struct host_status_file {
    uv_timer_t timer;
    const char *path; /* NULL: not in use, every call is a no-op */
    host_http_status_fn status;
    void *user;
    uint64_t write_errors;
} host_status_file;

/* Appends printf output to the JSON being written into buf at *off; sets
 * *off past buflen when it does not fit (the caller then sends nothing). */
void host_status_appendf(char *buf, size_t buflen, size_t *off, const char *fmt, ...)
    STRATA_PRINTF(4, 5);

/* Writes a small file atomically (temp file + rename); returns 0 or -1. */
int host_write_file_atomic(const char *path, const char *data, size_t len);

/* Starts writing path every second from status(user); path may be NULL. */
void host_status_file_start(host_status_file *sf, uv_loop_t *loop, const char *path,
                            host_http_status_fn status, void *user);
/* Writes a last status and closes the timer. */
void host_status_file_close(host_status_file *sf);

#endif
