/*
 * The report page and the comparison table: see report.h.
 *
 * A plot is drawn in pixels of a fixed canvas: the data range is first
 * widened to round ticks, then mapped linearly onto the plot area below
 * the title and legend. Lines are clipped to that area, so a range chosen
 * narrower than the data (the lag CDF's long tail) cuts them at the frame.
 */
#include "report.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* --- ticks and text -------------------------------------------------------- */

void strata_report_axis_nice(strata_report_axis *ax, double lo, double hi, int max_ticks)
{
    /* Two ticks cannot cover a range around zero with whole multiples of
     * any step; three always can. */
    if (max_ticks < 3)
        max_ticks = 3;
    if (max_ticks > STRATA_REPORT_MAX_TICKS)
        max_ticks = STRATA_REPORT_MAX_TICKS;
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi <= lo)
        hi = lo + 1;
    /* The smallest of 1, 2, 5 x 10^k whose ticks fit; starting one power
     * below the raw step makes sure none is skipped. Tick counts use a
     * small tolerance so that 0.3 / 0.1 counts as 3, not 3.0000000000000004. */
    static const double mult[] = {1, 2, 5};
    double mag = pow(10, floor(log10((hi - lo) / (double)(max_ticks - 1))) - 1);
    double step = mag, first = 0, last = 0;
    for (int tries = 0; tries < 12; tries++) {
        step = mult[tries % 3] * mag * pow(10, tries / 3);
        first = floor(lo / step + 1e-9);
        last = ceil(hi / step - 1e-9);
        if (last - first + 1 <= max_ticks)
            break;
    }
    ax->step = step;
    ax->lo = first * step;
    ax->hi = last * step;
    ax->nticks = 0;
    for (double k = first; k <= last && ax->nticks < STRATA_REPORT_MAX_TICKS; k++)
        ax->tick[ax->nticks++] = k * step;
}

int strata_report_tick_label(char *buf, size_t len, double v, double step)
{
    int decimals = 0;
    if (step > 0 && step < 1)
        decimals = (int)ceil(-log10(step) - 1e-9);
    if (decimals > 9)
        decimals = 9;
    /* Round first, so that -0.00001 prints as "0", not "-0". */
    double scale = pow(10, decimals);
    double r = round(v * scale) / scale;
    if (r == 0)
        r = 0;
    return snprintf(buf, len, "%.*f", decimals, r);
}

void strata_report_escape(FILE *f, const char *s)
{
    static const char special[] = "&<>\"'";
    static const char *const entity[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    for (; s && *s; s++) {
        const char *hit = strchr(special, *s);
        if (hit)
            fputs(entity[hit - special], f);
        else
            fputc(*s, f);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void strata_report_cdf(double *v, size_t n, double *frac)
{
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        frac[i] = (double)(i + 1) / (double)n;
}

/* --- one plot ----------------------------------------------------------------- */

enum {
    MARGIN_LEFT = 64,
    MARGIN_RIGHT = 20,
    MARGIN_BOTTOM = 48,
    TITLE_Y = 20,
    LEGEND_Y = 40,
    LEGEND_ROW = 16,
    FONT_PX = 12,
    CHAR_PX = 7, /* a generous average glyph width at FONT_PX */
    /* Lines are clipped this far outside the frame, so that one lying on
     * it (delivery 1, traffic 0) shows whole rather than half. */
    CLIP_SLACK_PX = 3,
};

/* Okabe and Ito's colours, told apart with colour blindness too, and dash
 * patterns so that lines differ in grey print as well. */
static const char *const COLOURS[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                      "#e69f00", "#56b4e9", "#000000", "#999999"};
static const char *const DASHES[] = {"none", "7 3", "2 3", "9 3 2 3"};

static const char *colour_of(size_t i)
{
    return COLOURS[i % (sizeof COLOURS / sizeof COLOURS[0])];
}

static const char *dash_of(size_t i)
{
    return DASHES[i % (sizeof DASHES / sizeof DASHES[0])];
}

/* The pixel frame of the plot area and the data range it shows. */
typedef struct frame {
    double left, top, width, height;
    strata_report_axis x, y;
} frame;

static double px_x(const frame *fr, double x)
{
    return fr->left + (x - fr->x.lo) / (fr->x.hi - fr->x.lo) * fr->width;
}

static double px_y(const frame *fr, double y)
{
    return fr->top + fr->height - (y - fr->y.lo) / (fr->y.hi - fr->y.lo) * fr->height;
}

/* The range of the finite points of the lines, in x or y; lo > hi if none. */
static void data_range(const strata_report_line *lines, size_t n, int want_y, double *lo,
                       double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t l = 0; l < n; l++) {
        for (size_t i = 0; i < lines[l].n; i++) {
            double x = lines[l].x[i], y = lines[l].y[i];
            if (!isfinite(x) || !isfinite(y))
                continue;
            double v = want_y ? y : x;
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    }
}

/* An axis over [lo, hi], NAN bounds taken from the data (or 0 and 1). */
static void axis_for(strata_report_axis *ax, double lo, double hi, double dlo, double dhi,
                     int max_ticks)
{
    int have = dlo <= dhi;
    if (isnan(lo))
        lo = have ? dlo : 0;
    if (isnan(hi))
        hi = have ? dhi : 1;
    strata_report_axis_nice(ax, lo, hi, max_ticks);
}

/* Rows the legend needs, and draws it when f is not NULL. */
static int legend(FILE *f, const strata_report_line *lines, size_t n)
{
    double x = MARGIN_LEFT, right = STRATA_REPORT_WIDTH_PX - MARGIN_RIGHT;
    int row = 0;
    for (size_t l = 0; l < n; l++) {
        const char *name = lines[l].name ? lines[l].name : "";
        double w = 28 + (double)(CHAR_PX * strlen(name)) + 16;
        if (x + w > right && x > MARGIN_LEFT) {
            row++;
            x = MARGIN_LEFT;
        }
        if (f) {
            double y = LEGEND_Y + row * LEGEND_ROW;
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2.5\" stroke-dasharray=\"%s\"/>\n",
                    x, y - 4, x + 22, y - 4, colour_of(l), dash_of(l));
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 28, y);
            strata_report_escape(f, name);
            fputs("</text>\n", f);
        }
        x += w;
    }
    return row + 1;
}

/* One grid line from (x1, y1) to (x2, y2) and its tick label at (tx, ty). */
static void grid_line(FILE *f, double x1, double y1, double x2, double y2, double tx, double ty,
                      const char *anchor, const char *label)
{
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
            x1, y1, x2, y2, tx, ty, anchor, label);
}

static void grid_and_ticks(FILE *f, const frame *fr)
{
    char label[32];
    double bottom = fr->top + fr->height, right = fr->left + fr->width;
    for (int i = 0; i < fr->y.nticks; i++) {
        double y = px_y(fr, fr->y.tick[i]);
        strata_report_tick_label(label, sizeof label, fr->y.tick[i], fr->y.step);
        grid_line(f, fr->left, y, right, y, fr->left - 6, y + 4, "end", label);
    }
    for (int i = 0; i < fr->x.nticks; i++) {
        double x = px_x(fr, fr->x.tick[i]);
        strata_report_tick_label(label, sizeof label, fr->x.tick[i], fr->x.step);
        grid_line(f, x, fr->top, x, bottom, x, bottom + 16, "middle", label);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#444444\"/>\n",
            fr->left, fr->top, fr->width, fr->height);
}

/* Draws one line as polylines, one per unbroken run of finite points. */
static void draw_line(FILE *f, const frame *fr, const strata_report_line *ln, size_t idx)
{
    int open = 0;
    size_t written = 0;
    double lx = 0, ly = 0, pend_x = 0, pend_y = 0;
    int pend = 0;
    for (size_t i = 0; i <= ln->n; i++) {
        int ok = i < ln->n && isfinite(ln->x[i]) && isfinite(ln->y[i]);
        if (!ok) {
            if (!open)
                continue;
            /* Close the run: its last point always, and a lone point twice
             * so that the round caps show it as a dot. */
            if (pend)
                fprintf(f, " %.1f,%.1f", pend_x, pend_y);
            else if (written == 1)
                fprintf(f, " %.1f,%.1f", lx, ly);
            fputs("\"/>\n", f);
            open = 0;
            continue;
        }
        double x = px_x(fr, ln->x[i]), y = px_y(fr, ln->y[i]);
        if (!open) {
            fprintf(f,
                    "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                    "stroke-dasharray=\"%s\" stroke-linejoin=\"round\" stroke-linecap=\"round\" "
                    "points=\"%.1f,%.1f",
                    colour_of(idx), dash_of(idx), x, y);
            open = 1;
            written = 1;
            pend = 0;
            lx = x;
            ly = y;
        } else if (fabs(x - lx) >= 0.5 || fabs(y - ly) >= 0.5) {
            fprintf(f, " %.1f,%.1f", x, y);
            written++;
            pend = 0;
            lx = x;
            ly = y;
        } else {
            pend = 1;
            pend_x = x;
            pend_y = y;
        }
    }
}

int strata_report_svg(FILE *f, const strata_report_plot *p, const strata_report_line *lines,
                      size_t nlines)
{
    if (nlines > STRATA_REPORT_MAX_LINES)
        nlines = STRATA_REPORT_MAX_LINES;
    int rows = legend(NULL, lines, nlines);
    frame fr;
    fr.left = MARGIN_LEFT;
    fr.top = LEGEND_Y + (rows - 1) * LEGEND_ROW + 14;
    fr.width = STRATA_REPORT_WIDTH_PX - MARGIN_LEFT - MARGIN_RIGHT;
    fr.height = STRATA_REPORT_HEIGHT_PX - MARGIN_BOTTOM - fr.top;
    double dlo, dhi;
    data_range(lines, nlines, 0, &dlo, &dhi);
    axis_for(&fr.x, p->xlo, p->xhi, dlo, dhi, 9);
    data_range(lines, nlines, 1, &dlo, &dhi);
    axis_for(&fr.y, p->ylo, p->yhi, dlo, dhi, 6);

    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"%d\" "
            "role=\"img\">\n<title>",
            p->id, STRATA_REPORT_WIDTH_PX, STRATA_REPORT_HEIGHT_PX, STRATA_REPORT_WIDTH_PX,
            STRATA_REPORT_HEIGHT_PX, FONT_PX);
    strata_report_escape(f, p->title);
    fprintf(f,
            "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
            "<clipPath id=\"%s-clip\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\"/></clipPath>\n",
            STRATA_REPORT_WIDTH_PX, STRATA_REPORT_HEIGHT_PX, p->id, fr.left - CLIP_SLACK_PX,
            fr.top - CLIP_SLACK_PX, fr.width + 2 * CLIP_SLACK_PX, fr.height + 2 * CLIP_SLACK_PX);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"15\" font-weight=\"bold\">", MARGIN_LEFT,
            TITLE_Y);
    strata_report_escape(f, p->title);
    fputs("</text>\n", f);
    legend(f, lines, nlines);
    grid_and_ticks(f, &fr);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", fr.left + fr.width / 2,
            STRATA_REPORT_HEIGHT_PX - 10);
    strata_report_escape(f, p->xlabel);
    double ymid = fr.top + fr.height / 2;
    fprintf(f,
            "</text>\n<text x=\"16\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 16 %.1f)\">",
            ymid, ymid);
    strata_report_escape(f, p->ylabel);
    fprintf(f, "</text>\n<g clip-path=\"url(#%s-clip)\">\n", p->id);
    for (size_t l = 0; l < nlines; l++)
        draw_line(f, &fr, &lines[l], l);
    fputs("</g>\n</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

/* --- runs ------------------------------------------------------------------------ */

static double *alloc_doubles(const strata_alloc *a, size_t n)
{
    return strata_mem_calloc(a, n ? n : 1, sizeof(double));
}

int strata_report_run_capture(strata_report_run *run, const strata_alloc *alloc,
                              const strata_simmetrics *m, const strata_simresult *r)
{
    memset(run, 0, sizeof *run);
    run->alloc = alloc;
    run->result = *r;
    size_t rows = m->nrows;
    size_t nlag = strata_simmetrics_lag_cdf(m, NULL, NULL, 0);
    size_t nutil = strata_simmetrics_upload_utilisation(m, NULL, 0);
    run->t_s = alloc_doubles(alloc, rows);
    run->delivery = alloc_doubles(alloc, rows);
    run->upload = alloc_doubles(alloc, rows);
    run->cross_mbps = alloc_doubles(alloc, rows);
    run->lag_s = alloc_doubles(alloc, nlag + 1);
    run->lag_frac = alloc_doubles(alloc, nlag + 1);
    run->util = alloc_doubles(alloc, nutil + 1);
    run->util_frac = alloc_doubles(alloc, nutil + 1);
    if (!run->t_s || !run->delivery || !run->upload || !run->cross_mbps || !run->lag_s ||
        !run->lag_frac || !run->util || !run->util_frac) {
        strata_report_run_free(run);
        return STRATA_ERR_NOMEM;
    }
    /* A row's value belongs to its middle (the last row may end early, with
     * the run); rows that start at or after the end hold nothing. */
    double iv_s = (double)m->cfg.csv_interval_ns / 1e9;
    strata_simm_cursor c = {0, 0, 0};
    strata_simm_rowvals v;
    while (strata_simmetrics_next_row(m, &c, &v)) {
        if (v.t_s >= r->duration_s - 1e-9)
            break;
        double end = v.t_s + iv_s < r->duration_s ? v.t_s + iv_s : r->duration_s;
        run->t_s[run->nrows] = (v.t_s + end) / 2;
        run->delivery[run->nrows] = v.delivery_ratio;
        run->upload[run->nrows] = v.upload_utilisation;
        run->cross_mbps[run->nrows] = v.cross_region_kbps / 1000.0;
        run->nrows++;
    }
    /* The CDFs start from zero at their first value, so that they rise
     * from the axis. */
    if (nlag) {
        strata_simmetrics_lag_cdf(m, run->lag_s + 1, run->lag_frac + 1, nlag);
        run->lag_s[0] = run->lag_s[1];
        run->nlag = nlag + 1;
    }
    if (nutil) {
        strata_simmetrics_upload_utilisation(m, run->util + 1, nutil);
        strata_report_cdf(run->util + 1, nutil, run->util_frac + 1);
        run->util[0] = run->util[1];
        run->nutil = nutil + 1;
    }
    return 0;
}

void strata_report_run_free(strata_report_run *run)
{
    double **arrays[] = {&run->t_s,   &run->delivery, &run->upload, &run->cross_mbps,
                         &run->lag_s, &run->lag_frac, &run->util,   &run->util_frac};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++)
        strata_mem_free(run->alloc, *arrays[i]);
    memset(run, 0, sizeof *run);
}

/* --- figures ------------------------------------------------------------------------ */

enum metric_kind {
    K_DBL,  /* a double, always */
    K_OPT,  /* a double; negative = no value */
    K_TIME, /* a double measured on the machine; only with have_timing */
    K_U64,
    K_U32,
    K_HEX, /* a 64-bit hash */
};

typedef struct metric {
    const char *name;
    size_t off;
    unsigned char kind, decimals, brief;
} metric;

#define OFF(field) offsetof(strata_simresult, field)
static const metric METRICS[] = {
    {"delivery_ratio", OFF(delivery_ratio), K_DBL, 4, 1},
    {"startup_delay_s p50", OFF(startup_p50), K_OPT, 3, 1},
    {"startup_delay_s p95", OFF(startup_p95), K_OPT, 3, 1},
    {"lag_s p50", OFF(lag_p50), K_OPT, 3, 1},
    {"lag_s p95", OFF(lag_p95), K_OPT, 3, 1},
    {"stretch p50", OFF(stretch_p50), K_OPT, 3, 1},
    {"stretch p95", OFF(stretch_p95), K_OPT, 3, 1},
    {"p2p_share", OFF(p2p_share), K_DBL, 4, 1},
    {"cross_region_bytes_ratio", OFF(cross_region_bytes_ratio), K_DBL, 4, 1},
    {"max_upload_utilisation", OFF(max_upload_utilisation), K_DBL, 4, 1},
    {"mean_upload_utilisation", OFF(mean_upload_utilisation), K_DBL, 4, 0},
    {"control_overhead", OFF(control_overhead), K_DBL, 4, 1},
    {"fluid_bound_kbps", OFF(fluid_bound_kbps), K_OPT, 1, 0},
    {"regions", OFF(regions), K_U32, 0, 0},
    {"packets_sent", OFF(packets_sent), K_U64, 0, 0},
    {"packets_due", OFF(packets_due), K_U64, 0, 0},
    {"packets_played", OFF(packets_played), K_U64, 0, 0},
    {"sessions", OFF(sessions), K_U64, 0, 0},
    {"startup_failures", OFF(startup_failures), K_U64, 0, 0},
    {"leaves", OFF(leaves), K_U64, 0, 0},
    {"kills", OFF(kills), K_U64, 0, 0},
    {"data_bytes", OFF(data_bytes), K_U64, 0, 0},
    {"control_bytes", OFF(control_bytes), K_U64, 0, 0},
    {"net_queue_drops", OFF(net_queue_drops), K_U64, 0, 0},
    {"net_losses", OFF(net_losses), K_U64, 0, 0},
    {"undeliverable", OFF(undeliverable), K_U64, 0, 0},
    {"repaired_packets", OFF(repaired_packets), K_U64, 0, 0},
    {"parity_rebuilt_packets", OFF(parity_rebuilt_packets), K_U64, 0, 0},
    {"parity_sent_packets", OFF(parity_sent_packets), K_U64, 0, 0},
    {"events", OFF(events), K_U64, 0, 1},
    {"fingerprint", OFF(fingerprint), K_HEX, 0, 0},
    {"wall_s", OFF(wall_s), K_TIME, 2, 1},
    {"peak_rss_mb", OFF(peak_rss_mb), K_TIME, 1, 1},
};
#undef OFF
enum { NMETRICS = sizeof METRICS / sizeof METRICS[0] };

size_t strata_report_metric_count(void)
{
    return NMETRICS;
}

const char *strata_report_metric_name(size_t i)
{
    return i < NMETRICS ? METRICS[i].name : "";
}

int strata_report_metric_brief(size_t i)
{
    return i < NMETRICS && METRICS[i].brief;
}

void strata_report_metric_format(size_t i, const strata_simresult *r, char *buf, size_t len)
{
    if (i >= NMETRICS || !len)
        return;
    const metric *mt = &METRICS[i];
    const unsigned char *base = (const unsigned char *)r + mt->off;
    double d;
    uint64_t u;
    uint32_t u32;
    switch (mt->kind) {
    case K_DBL:
    case K_OPT:
    case K_TIME:
        memcpy(&d, base, sizeof d);
        if ((mt->kind == K_OPT && d < 0) || (mt->kind == K_TIME && !r->have_timing))
            snprintf(buf, len, "-");
        else
            snprintf(buf, len, "%.*f", mt->decimals, d);
        break;
    case K_U32:
        memcpy(&u32, base, sizeof u32);
        snprintf(buf, len, "%u", u32);
        break;
    case K_U64:
        memcpy(&u, base, sizeof u);
        snprintf(buf, len, "%llu", (unsigned long long)u);
        break;
    default:
        memcpy(&u, base, sizeof u);
        snprintf(buf, len, "%016llx", (unsigned long long)u);
        break;
    }
}

int strata_report_write_table(FILE *f, const strata_simresult *r, size_t n)
{
    enum { NAME_COL = 26, MIN_COL = 12 };
    fprintf(f, "%-*s", NAME_COL, "metric");
    for (size_t a = 0; a < n; a++) {
        int w = (int)strlen(r[a].algorithm) + 2;
        fprintf(f, "%*s", w > MIN_COL ? w : MIN_COL, r[a].algorithm);
    }
    fputc('\n', f);
    char cell[64];
    for (size_t i = 0; i < NMETRICS; i++) {
        if (!METRICS[i].brief)
            continue;
        fprintf(f, "%-*s", NAME_COL, METRICS[i].name);
        for (size_t a = 0; a < n; a++) {
            int w = (int)strlen(r[a].algorithm) + 2;
            strata_report_metric_format(i, &r[a], cell, sizeof cell);
            fprintf(f, "%*s", w > MIN_COL ? w : MIN_COL, cell);
        }
        fputc('\n', f);
    }
    return ferror(f) ? -1 : 0;
}

/* --- the page ---------------------------------------------------------------------- */

/* Which series of a run a plot shows. */
enum series { S_DELIVERY, S_LAG, S_UPLOAD, S_UTIL, S_CROSS };

static strata_report_line line_of(const strata_report_run *run, enum series s)
{
    strata_report_line l = {run->result.algorithm, run->t_s, run->delivery, run->nrows};
    if (s == S_LAG) {
        l.x = run->lag_s;
        l.y = run->lag_frac;
        l.n = run->nlag;
    } else if (s == S_UTIL) {
        l.x = run->util;
        l.y = run->util_frac;
        l.n = run->nutil;
    } else if (s != S_DELIVERY) {
        l.y = s == S_UPLOAD ? run->upload : run->cross_mbps;
    }
    return l;
}

/* The smallest x at which a CDF line reaches share q, or NAN if empty. */
static double cdf_quantile(const strata_report_line *l, double q)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->y[i] >= q)
            return l->x[i];
    return l->n ? l->x[l->n - 1] : NAN;
}

static strata_report_plot plot(const char *id, const char *title, const char *xlabel,
                               const char *ylabel, double xlo, double xhi, double ylo, double yhi)
{
    strata_report_plot p = {id, title, xlabel, ylabel, xlo, xhi, ylo, yhi};
    return p;
}

static void figure(FILE *f, const strata_report_run *runs, size_t n, enum series s,
                   const strata_report_plot *p, const char *caption, const char *extra)
{
    strata_report_line lines[STRATA_REPORT_MAX_LINES];
    if (n > STRATA_REPORT_MAX_LINES)
        n = STRATA_REPORT_MAX_LINES;
    for (size_t i = 0; i < n; i++)
        lines[i] = line_of(&runs[i], s);
    fputs("<figure>\n", f);
    strata_report_svg(f, p, lines, n);
    fputs("<figcaption>", f);
    strata_report_escape(f, caption);
    if (extra)
        strata_report_escape(f, extra);
    fputs("</figcaption>\n</figure>\n", f);
}

static const char PAGE_STYLE[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1340px}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}"
    ".plots{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0;width:640px}figcaption{font-size:0.85em;color:#555;margin:4px 0 8px}"
    "table{border-collapse:collapse;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:3px 8px}td{text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
    "pre{background:#f6f6f6;padding:8px;font-size:0.85em}";

int strata_report_write_page(FILE *f, const strata_report_run *runs, size_t n,
                             const char *scenario_text)
{
    if (n == 0)
        return -1;
    const strata_simresult *r0 = &runs[0].result;
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>strata sim: %u nodes, %.0f s, seed %llu</title>\n<style>%s</style>\n"
            "</head>\n<body>\n<h1>strata sim: %u nodes, %.0f s, seed %llu</h1>\n<p>",
            r0->nodes, r0->duration_s, (unsigned long long)r0->seed, PAGE_STYLE, r0->nodes,
            r0->duration_s, (unsigned long long)r0->seed);
    fprintf(f, "%u peer slots, %.1f s of a %u kbit/s stream in %u-byte packets, seed %llu. ",
            r0->nodes, r0->duration_s, r0->rate_kbps, r0->packet_bytes,
            (unsigned long long)r0->seed);
    fputs(n > 1 ? "Algorithms, on the same scenario and seed: " : "Algorithm: ", f);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", f);
        strata_report_escape(f, runs[i].result.algorithm);
    }
    fputs(". docs/simulator.md defines every figure.</p>\n<div class=\"plots\">\n", f);

    strata_report_plot p = plot("delivery", "Delivery ratio over time", "time (s)",
                                "delivery ratio", 0, r0->duration_s, 0, 1);
    figure(f, runs, n, S_DELIVERY, &p,
           "Packets played / packets due, by the time-series row in which the source sent "
           "them. Nothing sent in the last playout delay is due, so the lines end early.",
           NULL);

    /* The lag axis ends at the slowest run's 99.9th percentile: a few late
     * plays would otherwise squeeze every curve against the left edge. */
    double lag_hi = 0, lag_max = 0;
    for (size_t i = 0; i < n; i++) {
        strata_report_line l = line_of(&runs[i], S_LAG);
        double q = cdf_quantile(&l, 0.999), top = l.n ? l.x[l.n - 1] : 0;
        lag_hi = isfinite(q) && q > lag_hi ? q : lag_hi;
        lag_max = top > lag_max ? top : lag_max;
    }
    char lag_note[128] = "";
    if (lag_max > lag_hi * 1.05)
        snprintf(lag_note, sizeof lag_note,
                 " The axis ends at the 99.9th percentile; the largest lag was %.2f s.", lag_max);
    p = plot("lag", "Lag CDF", "lag, source send to play (s)", "share of played packets", 0,
             lag_hi > 0 ? lag_hi : NAN, 0, 1);
    figure(f, runs, n, S_LAG, &p,
           "Time from the source sending a packet to a peer playing it, over every played "
           "packet.",
           lag_note);

    p = plot("upload", "Upload utilisation over time", "time (s)", "upload utilisation", 0,
             r0->duration_s, 0, NAN);
    figure(f, runs, n, S_UPLOAD, &p,
           "Bits the online peers put on their uplinks / their summed capacity, per row.", NULL);

    p = plot("upload-cdf", "Upload utilisation per peer (CDF)",
             "upload utilisation (bits sent / capacity \xc3\x97 time online)", "share of peers", 0,
             NAN, 0, 1);
    figure(f, runs, n, S_UTIL, &p,
           "Per slot with a finite uplink: bits it sent / (capacity \xc3\x97 time online), over "
           "the whole run.",
           NULL);

    char cross_note[128];
    snprintf(cross_note, sizeof cross_note, " The run has %u region%s.%s", r0->regions,
             r0->regions == 1 ? "" : "s",
             r0->regions <= 1 ? " With one region nothing crosses: set region = host." : "");
    p = plot("cross", "Cross-region traffic over time", "time (s)", "cross-region DATA (Mbit/s)", 0,
             r0->duration_s, 0, NAN);
    figure(f, runs, n, S_CROSS, &p,
           "DATA bytes delivered between nodes of different regions, per row.", cross_note);

    fputs("</div>\n<h2>Figures</h2>\n<table>\n<tr><th>figure</th>", f);
    for (size_t i = 0; i < n; i++) {
        fputs("<th>", f);
        strata_report_escape(f, runs[i].result.algorithm);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    char cell[64];
    for (size_t m = 0; m < NMETRICS; m++) {
        fprintf(f, "<tr><td>%s</td>", METRICS[m].name);
        for (size_t i = 0; i < n; i++) {
            strata_report_metric_format(m, &runs[i].result, cell, sizeof cell);
            fprintf(f, "<td>%s</td>", cell);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (scenario_text) {
        fputs("<h2>Scenario</h2>\n<pre>", f);
        strata_report_escape(f, scenario_text);
        fputs("</pre>\n", f);
    }
    fputs("</body>\n</html>\n", f);
    return ferror(f) ? -1 : 0;
}
