/*
 * The simulator's report: one HTML page that stands alone (no script, no
 * style sheet, font or image fetched from anywhere, so it works offline and
 * as an e-mail attachment) with the plots drawn as inline SVG, a table of
 * the JSON figures and the scenario; and the side-by-side text table of
 * `strata sim --compare`.
 *
 * Model. A run's figures and series are captured from its metrics
 * (strata_report_run) before the world that held them is freed, so that
 * several runs can share one page: each plot has one line per run, in the
 * order given. The plots are
 *   delivery    delivery ratio per time-series row (by send time)
 *   lag         CDF of the lag of played packets (from the histogram)
 *   upload      peers' upload utilisation per row
 *   upload-cdf  CDF of the slots' upload utilisation over the run
 *   cross       DATA delivered across regions per row, Mbit/s
 * The drawing helpers underneath are plain and separate: round tick
 * values, text escaping, one SVG plot of lines with axes, grid and legend.
 * A NAN y value is a gap in a line (a row without samples).
 *
 * Everything here is host-side output: it writes to a FILE and never reads
 * a clock, so the same runs give the same page bytes (the timing figures
 * of the table aside, when the runs measured them).
 */
#ifndef STRATA_SIM_REPORT_H
#define STRATA_SIM_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "metrics.h"
#include "strata/common.h"

enum {
    STRATA_REPORT_MAX_TICKS = 12, /* per axis, ends included */
    STRATA_REPORT_MAX_LINES = 16, /* per plot; further lines are left out */
    STRATA_REPORT_WIDTH_PX = 640,
    STRATA_REPORT_HEIGHT_PX = 360,
};

/* --- drawing helpers ------------------------------------------------------- */

/* An axis with round ticks: lo and hi are multiples of step, which is 1, 2
 * or 5 times a power of ten; tick[0..nticks) run from lo to hi. */
typedef struct strata_report_axis {
    double lo, hi, step;
    int nticks;
    double tick[STRATA_REPORT_MAX_TICKS];
} strata_report_axis;

/* Chooses the smallest round step whose ticks cover [lo, hi] in at most
 * max_ticks ticks (clamped to [3, STRATA_REPORT_MAX_TICKS]). An empty or
 * reversed range is widened to one unit above lo; non-finite bounds give
 * [0, 1]. */
void strata_report_axis_nice(strata_report_axis *ax, double lo, double hi, int max_ticks);

/* Writes tick value v as text with the decimals step needs ("0.25" is not
 * a tick of step 0.2, so 1 decimal there; never "-0"). Returns what
 * snprintf returns. */
int strata_report_tick_label(char *buf, size_t len, double v, double step);

/* Writes s to f with &, <, >, " and ' as character references, so that it
 * is safe as element text and inside an attribute value. */
void strata_report_escape(FILE *f, const char *s);

/* Sorts v[0..n) ascending and sets frac[i] = (i + 1) / n: the empirical CDF
 * at v[i]. */
void strata_report_cdf(double *v, size_t n, double *frac);

/* One line of a plot: n points (x ascending is not required); a NAN or
 * infinite y breaks the line. The arrays are borrowed. */
typedef struct strata_report_line {
    const char *name;
    const double *x, *y;
    size_t n;
} strata_report_line;

/* One plot. The ranges given are widened to round ticks; NAN takes that
 * bound from the data. Labels should name their units. */
typedef struct strata_report_plot {
    const char *id; /* unique on the page; [A-Za-z0-9-] */
    const char *title;
    const char *xlabel, *ylabel;
    double xlo, xhi, ylo, yhi;
} strata_report_plot;

/* Writes p as one <svg> element (with its own xmlns, so that it also
 * stands alone as a file): title, legend, grid, ticks, axis labels and
 * one <polyline> per unbroken run of points of each line, clipped to the
 * plot area. Points closer than half a pixel to the last one drawn are
 * skipped. Returns 0, or -1 if f reports an error. */
int strata_report_svg(FILE *f, const strata_report_plot *p, const strata_report_line *lines,
                      size_t nlines);

/* --- runs and the page ----------------------------------------------------- */

/* What the report keeps of a run: its figures and series. */
typedef struct strata_report_run {
    const strata_alloc *alloc;
    strata_simresult result;
    size_t nrows; /* time-series rows that start before the run's end */
    double *t_s;  /* the middle of each row */
    double *delivery, *upload, *cross_mbps;
    size_t nlag; /* lag CDF points, a zero point first */
    double *lag_s, *lag_frac;
    size_t nutil; /* slots with an upload utilisation, a zero point first */
    double *util, *util_frac;
} strata_report_run;

/* Copies what the page needs from metrics m (after finish) and result r.
 * alloc may be NULL (libc). Returns 0 or STRATA_ERR_NOMEM (run is then
 * empty but may be freed). */
int strata_report_run_capture(strata_report_run *run, const strata_alloc *alloc,
                              const strata_simmetrics *m, const strata_simresult *r);
void strata_report_run_free(strata_report_run *run);

/* Writes the whole page for runs[0..n): the plots (one line per run), a
 * table of every JSON figure (one column per run) and scenario_text
 * (escaped; may be NULL). Returns 0 or -1 on a write error. */
int strata_report_write_page(FILE *f, const strata_report_run *runs, size_t n,
                             const char *scenario_text);

/* --- the comparison table ---------------------------------------------------- */

/* The figures the tables show, in order: the page shows all, the text
 * table the brief ones. */
size_t strata_report_metric_count(void);
const char *strata_report_metric_name(size_t i);
int strata_report_metric_brief(size_t i);
/* Formats figure i of r ("-" when r has no value for it). */
void strata_report_metric_format(size_t i, const strata_simresult *r, char *buf, size_t len);

/* Writes the text table of the brief figures: a header line of names, then
 * one line per figure, one right-aligned column per result. Returns 0 or
 * -1 on a write error. */
int strata_report_write_table(FILE *f, const strata_simresult *r, size_t n);

#endif
