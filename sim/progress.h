/*
 * A progress bar on standard error for long simulation runs.
 *
 * Nothing is drawn during the first two seconds of wall time, so short runs
 * (tests, small scenarios) stay silent. On a terminal the bar is redrawn in
 * place at most four times a second:
 *
 *   [##########          ]  50%  sim 150.0/300.0 s  41.2 M events  1.9 M ev/s  ETA 0:22
 *
 * When standard error is not a terminal (a log file, CI) a plain line is
 * written every ten seconds instead. Disabled, it does nothing at all.
 *
 * This is host code: it reads the wall clock, which the simulation itself
 * never does.
 */
#ifndef STRATA_SIM_PROGRESS_H
#define STRATA_SIM_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct strata_progress {
    int enabled;
    int tty;
    FILE *out;
    double start_s; /* wall clock at init */
    double last_s;  /* wall clock of the last draw */
    int drawn;      /* something is on the line that finish must end */
} strata_progress;

/* Prepares a bar writing to out (normally stderr); enabled 0 makes every
 * call a no-op. */
void strata_progress_init(strata_progress *p, FILE *out, int enabled);

/* Shows virtual time now_ns of end_ns and the events so far; matches
 * strata_world_progress_fn (user is the strata_progress). */
void strata_progress_update(void *user, uint64_t now_ns, uint64_t end_ns, uint64_t events);

/* Ends the bar's line, if one was drawn. */
void strata_progress_finish(strata_progress *p);

/* Monotonic wall-clock seconds. */
double strata_progress_wall_s(void);

#endif
