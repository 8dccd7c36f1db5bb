/* Periodic JSON status file; see status_file.h. */
#include "status_file.h"

#include <stdarg.h>
#include <stdio.h>

enum { STATUS_FILE_PERIOD_MS = 1000, STATUS_FILE_MAX_BYTES = 16384 };

void host_status_appendf(char *buf, size_t buflen, size_t *off, const char *fmt, ...)
{
    if (*off >= buflen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, buflen - *off, fmt, ap);
    va_end(ap);
    *off = n < 0 ? buflen : *off + (size_t)n;
}

int host_write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len)
        return -1;
    return rename(tmp, path);
}

static void write_now(host_status_file *sf)
{
    char buf[STATUS_FILE_MAX_BYTES];
    size_t n = sf->status(sf->user, buf, sizeof buf);
    if (host_write_file_atomic(sf->path, buf, n) < 0)
        sf->write_errors++;
}

static void on_timer(uv_timer_t *t)
{
    write_now(t->data);
}

void host_status_file_start(host_status_file *sf, uv_loop_t *loop, const char *path,
                            host_http_status_fn status, void *user)
{
    sf->path = path;
    sf->status = status;
    sf->user = user;
    sf->write_errors = 0;
    if (!path)
        return;
    uv_timer_init(loop, &sf->timer);
    sf->timer.data = sf;
    uv_timer_start(&sf->timer, on_timer, 0, STATUS_FILE_PERIOD_MS);
}

void host_status_file_close(host_status_file *sf)
{
    if (!sf->path)
        return;
    write_now(sf); /* the final state, for whoever reads it after exit */
    uv_close((uv_handle_t *)&sf->timer, NULL);
    sf->path = NULL;
}
