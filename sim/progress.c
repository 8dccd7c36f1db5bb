/*
 * Progress bar: see progress.h.
 */
#include "progress.h"

#include <time.h>
#include <unistd.h>

enum {
    BAR_WIDTH = 20,
};

#define QUIET_FIRST_S 2.0
#define TTY_PERIOD_S 0.25
#define LOG_PERIOD_S 10.0

double strata_progress_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void strata_progress_init(strata_progress *p, FILE *out, int enabled)
{
    p->enabled = enabled && out != NULL;
    p->out = out;
    p->tty = p->enabled && isatty(fileno(out));
    p->start_s = strata_progress_wall_s();
    p->last_s = p->start_s;
    p->drawn = 0;
}

void strata_progress_update(void *user, uint64_t now_ns, uint64_t end_ns, uint64_t events)
{
    strata_progress *p = user;
    if (!p || !p->enabled)
        return;
    double t = strata_progress_wall_s();
    double elapsed = t - p->start_s;
    if (elapsed < QUIET_FIRST_S)
        return;
    int done = now_ns >= end_ns;
    if (!done && t - p->last_s < (p->tty ? TTY_PERIOD_S : LOG_PERIOD_S))
        return;
    if (done && !p->drawn)
        return; /* finished before anything was shown: stay quiet */
    p->last_s = t;
    double frac = end_ns ? (double)now_ns / (double)end_ns : 1.0;
    if (frac > 1)
        frac = 1;
    double rate = elapsed > 0 ? (double)events / elapsed : 0;
    double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    int filled = (int)(frac * BAR_WIDTH);
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : ' ';
    bar[BAR_WIDTH] = '\0';
    unsigned eta_s = (unsigned)(eta + 0.5);
    fprintf(p->out, "%s[%s] %3d%%  sim %.1f/%.1f s  %.1f M events  %.2f M ev/s  ETA %u:%02u%s",
            p->tty ? "\r" : "", bar, (int)(frac * 100), (double)now_ns / 1e9, (double)end_ns / 1e9,
            (double)events / 1e6, rate / 1e6, eta_s / 60, eta_s % 60, p->tty ? "" : "\n");
    fflush(p->out);
    p->drawn = p->tty;
}

void strata_progress_finish(strata_progress *p)
{
    if (p->enabled && p->drawn)
        fputc('\n', p->out);
    p->drawn = 0;
}
