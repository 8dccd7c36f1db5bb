/*
 * Tests of the report helpers: round tick values (a table of ranges, then
 * seeded random ranges with the invariants every axis must keep), tick
 * labels, text escaping, the CDFs (the metrics' lag CDF and the generic
 * one are monotone and end at 1; per-slot upload utilisation agrees with
 * max_upload_utilisation), one SVG plot (gaps split lines, text is
 * escaped, no NaN reaches the output) and a page of two runs, and the
 * comparison table.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "testutil.h"

#define CHECK_NEAR(a, b, eps)                                                                      \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(fabs((double)(a) - (double)(b)) <= (eps))) {                                         \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s ~ %s failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a, #b,   \
                    (double)(a), (double)(b));                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (strcmp((a), (b)) != 0) {                                                               \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, (a), (b));                                                                 \
        }                                                                                          \
    } while (0)

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_nice_table(void)
{
    static const struct {
        double lo, hi;
        int max;
        double want_lo, want_hi, want_step;
        int want_n;
    } cases[] = {
        {0, 1, 6, 0, 1, 0.2, 6},
        {0, 60, 9, 0, 60, 10, 7},
        {0, 0.19, 6, 0, 0.2, 0.05, 5},
        {0, 0.847, 6, 0, 1, 0.2, 6},
        {3, 97, 6, 0, 100, 20, 6},
        {0, 1200, 6, 0, 1500, 500, 4},
        {0, 100000, 6, 0, 100000, 20000, 6},
        {-3.2, 4.1, 8, -4, 6, 2, 6},
        {0, 0, 6, 0, 1, 0.2, 6},
        {5, 5, 6, 5, 6, 0.2, 6},
        {NAN, 5, 6, 0, 1, 0.2, 6},
        {0, INFINITY, 6, 0, 1, 0.2, 6},
        {0.3, 0.6, 4, 0.3, 0.6, 0.1, 4},
        {2.5e-5, 7.5e-5, 6, 2e-5, 8e-5, 2e-5, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata_report_axis ax;
        strata_report_axis_nice(&ax, cases[i].lo, cases[i].hi, cases[i].max);
        double eps = cases[i].want_step * 1e-9;
        CHECK_NEAR(ax.lo, cases[i].want_lo, eps);
        CHECK_NEAR(ax.hi, cases[i].want_hi, eps);
        CHECK_NEAR(ax.step, cases[i].want_step, eps);
        CHECK_EQ_INT(ax.nticks, cases[i].want_n);
        if (ax.nticks != cases[i].want_n)
            fprintf(stderr, "  case %zu: [%g, %g] max %d\n", i, cases[i].lo, cases[i].hi,
                    cases[i].max);
    }
}

/* Random ranges: the ticks cover the range, are at most max, are whole
 * multiples of a 1-2-5 step, and the labels of neighbours differ. */
static void test_nice_random(void)
{
    uint64_t seed = test_seed(20240611);
    strata_rng rng;
    strata_rng_seed(&rng, seed);
    for (int it = 0; it < 2000; it++) {
        double scale = pow(10, (double)(strata_rng_next(&rng) % 13) - 6);
        double a = ((double)(strata_rng_next(&rng) % 20001) - 10000) / 1000 * scale;
        double b = a + (double)(strata_rng_next(&rng) % 10000 + 1) / 1000 * scale;
        int max = 3 + (int)(strata_rng_next(&rng) % 10);
        strata_report_axis ax;
        strata_report_axis_nice(&ax, a, b, max);
        int ok = ax.nticks >= 2 && ax.nticks <= max && ax.lo <= a + ax.step * 1e-9 &&
                 ax.hi >= b - ax.step * 1e-9;
        double mant = ax.step / pow(10, floor(log10(ax.step)));
        ok = ok && (fabs(mant - 1) < 1e-9 || fabs(mant - 2) < 1e-9 || fabs(mant - 5) < 1e-9);
        char prev[32] = "", cur[32];
        for (int t = 0; t < ax.nticks && ok; t++) {
            double k = ax.tick[t] / ax.step;
            ok = fabs(k - round(k)) < 1e-6;
            strata_report_tick_label(cur, sizeof cur, ax.tick[t], ax.step);
            ok = ok && strcmp(cur, prev) != 0 && strcmp(cur, "-0") != 0;
            memcpy(prev, cur, sizeof prev);
        }
        CHECK(ok);
        if (!ok) {
            fprintf(stderr, "  [%g, %g] max %d: lo %g hi %g step %g n %d\n", a, b, max, ax.lo,
                    ax.hi, ax.step, ax.nticks);
            break;
        }
    }
}

static void test_tick_labels(void)
{
    char buf[32];
    strata_report_tick_label(buf, sizeof buf, 0.2, 0.2);
    CHECK_STR(buf, "0.2");
    strata_report_tick_label(buf, sizeof buf, 3 * 0.1, 0.1);
    CHECK_STR(buf, "0.3");
    strata_report_tick_label(buf, sizeof buf, -1e-12, 0.05);
    CHECK_STR(buf, "0.00"); /* not "-0.00" */
    strata_report_tick_label(buf, sizeof buf, 0.05, 0.05);
    CHECK_STR(buf, "0.05");
    strata_report_tick_label(buf, sizeof buf, 1500, 500);
    CHECK_STR(buf, "1500");
    strata_report_tick_label(buf, sizeof buf, -4, 2);
    CHECK_STR(buf, "-4");
}

static void test_escape(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    strata_report_escape(f, "a<b & \"c\" 'd'> \xc3\x97");
    strata_report_escape(f, NULL);
    fclose(f);
    CHECK_STR(text, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt; \xc3\x97");
    free(text);
}

/* Metrics of 3 peer slots over 10 s, a packet every 100 ms. */
static void make(strata_simmetrics *m)
{
    strata_simmetrics_config c = {
        .nodes = 3 + STRATA_SIMM_FIRST_PEER,
        .duration_ns = STRATA_S(10),
        .packet_interval_ns = STRATA_MS(100),
        .playout_delay_ns = STRATA_MS(1000),
        .csv_interval_ns = STRATA_S(1),
        .rate_kbps = 1000,
        .packet_bytes = 12500,
        .source_upload_kbps = 4000,
        .regions = 2,
    };
    CHECK_EQ_INT(strata_simmetrics_init(m, NULL, &c), 0);
}

/* Feeds a 10 s run: slots 2..4 join at 0, play with lags from lag_ms up,
 * slot 2 uploads at half of its 1000 kbit/s, slot 3 at a quarter, slot 4
 * has an unlimited uplink. */
static void feed(strata_simmetrics *m, uint64_t lag_ms, strata_simresult *r)
{
    strata_simmetrics_set_capacity(m, 2, 1000, 0);
    strata_simmetrics_set_capacity(m, 3, 1000, 0);
    strata_simmetrics_set_capacity(m, 4, 0, 0);
    for (uint32_t n = 2; n < 5; n++)
        strata_simmetrics_session_start(m, n, 0, STRATA_NEVER);
    for (uint64_t s = 0; s < 100; s++) {
        uint64_t t = STRATA_MS(s * 100);
        strata_simmetrics_source_packet(m, s, t);
        for (uint32_t n = 2; n < 5; n++)
            if ((s + n) % 7 != 0) /* a few missed */
                strata_simmetrics_play(m, n, s, t, t + STRATA_MS(lag_ms + s * 3 + n * 11));
        /* 6250 bytes per 100 ms = 500 kbit/s; 3125 = 250 kbit/s. */
        strata_simmetrics_transfer(m, 2, 3, 6250, 1, 1, 1, t);
        strata_simmetrics_transfer(m, 3, 4, 3125, 1, 0, 1, t);
        if (s % 10 == 5)
            strata_simmetrics_sample(m, t);
    }
    memset(r, 0, sizeof *r);
    strata_simmetrics_finish(m, STRATA_S(10), r);
}

static void test_cdfs(void)
{
    strata_simmetrics m;
    make(&m);
    strata_simresult r;
    feed(&m, 200, &r);

    /* The lag CDF: increasing lags, nondecreasing shares, ending at 1, and
     * its median where the figures put lag_s p50 (within a bucket). */
    double *x = malloc(STRATA_SIMM_LAG_BUCKETS * sizeof *x);
    double *y = malloc(STRATA_SIMM_LAG_BUCKETS * sizeof *y);
    size_t n = strata_simmetrics_lag_cdf(&m, x, y, STRATA_SIMM_LAG_BUCKETS);
    CHECK(n > 10);
    CHECK_EQ_U64(strata_simmetrics_lag_cdf(&m, NULL, NULL, 0), n);
    int mono = 1;
    for (size_t i = 1; i < n; i++)
        mono = mono && x[i] > x[i - 1] && y[i] >= y[i - 1];
    CHECK(mono);
    CHECK(y[0] > 0);
    CHECK_NEAR(y[n - 1], 1.0, 1e-12);
    size_t med = 0;
    while (med < n && y[med] < 0.5)
        med++;
    CHECK_NEAR(x[med], r.lag_p50, r.lag_p50 / 64);
    free(x);
    free(y);

    /* Per-slot utilisation: slots 2 and 3, not the unlimited slot 4. */
    double u[8];
    CHECK_EQ_U64(strata_simmetrics_upload_utilisation(&m, u, 8), 2);
    CHECK_NEAR(u[0], 0.5, 1e-9);
    CHECK_NEAR(u[1], 0.25, 1e-9);
    CHECK_NEAR(r.max_upload_utilisation, 0.5, 1e-9);

    /* The generic CDF sorts and ends at 1. */
    double v[] = {0.7, 0.1, 0.4, 0.4, 0.0};
    double frac[5];
    strata_report_cdf(v, 5, frac);
    mono = 1;
    for (size_t i = 1; i < 5; i++)
        mono = mono && v[i] >= v[i - 1] && frac[i] > frac[i - 1];
    CHECK(mono);
    CHECK_NEAR(frac[0], 0.2, 1e-12);
    CHECK_NEAR(frac[4], 1.0, 1e-12);

    /* The cursor walks the same rows the CSV has. */
    strata_simm_cursor c = {0, 0, 0};
    strata_simm_rowvals row;
    size_t rows = 0;
    while (strata_simmetrics_next_row(&m, &c, &row)) {
        if (rows == 2) {
            CHECK_NEAR(row.t_s, 2.0, 1e-12);
            CHECK_EQ_INT(row.online_peers, 3);
            CHECK_NEAR(row.cross_region_kbps, 500, 1e-6);
            CHECK_NEAR(row.delivery_ratio, 27.0 / 30, 1e-12); /* one miss per slot */
        }
        rows++;
    }
    CHECK_EQ_U64(rows, 11);
    CHECK(isnan(row.delivery_ratio)); /* the row after the end */
    strata_simmetrics_free(&m);
}

static void test_svg(void)
{
    double x[] = {0, 1, 2, 3, 4, 5};
    double y1[] = {0.5, 0.6, NAN, 0.8, 0.9, 1.0};
    double y2[] = {1, 1, 1, 1, 1, 1};
    strata_report_line lines[] = {{"a<b", x, y1, 6}, {"two", x, y2, 6}, {"none", x, y2, 0}};
    strata_report_plot p = {"t", "Title & more", "time (s)", "share", 0, NAN, 0, 1};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_report_svg(f, &p, lines, 3), 0);
    fclose(f);
    CHECK(strncmp(text, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"t\"", 46) == 0);
    CHECK_EQ_U64(count(text, "<svg"), 1);
    CHECK_EQ_U64(count(text, "</svg>"), 1);
    CHECK_EQ_U64(count(text, "<polyline"), 3); /* a gap splits the first line */
    CHECK(strstr(text, "Title &amp; more") != NULL);
    CHECK(strstr(text, ">a&lt;b</text>") != NULL);
    CHECK(strstr(text, "a<b") == NULL);
    CHECK(strstr(text, "nan") == NULL && strstr(text, "inf") == NULL);
    CHECK(strstr(text, ">0.2</text>") != NULL); /* a y tick */
    CHECK(strstr(text, ">5</text>") != NULL);   /* the last x tick */
    free(text);
}

static void test_page_and_table(void)
{
    strata_simmetrics m1, m2;
    strata_simresult r1, r2;
    make(&m1);
    make(&m2);
    feed(&m1, 200, &r1);
    feed(&m2, 900, &r2);
    snprintf(r1.algorithm, sizeof r1.algorithm, "strata");
    snprintf(r2.algorithm, sizeof r2.algorithm, "mesh");
    r2.stretch_p50 = r2.stretch_p95 = -1;
    strata_report_run runs[2];
    CHECK_EQ_INT(strata_report_run_capture(&runs[0], NULL, &m1, &r1), 0);
    CHECK_EQ_INT(strata_report_run_capture(&runs[1], NULL, &m2, &r2), 0);
    strata_simmetrics_free(&m1);
    strata_simmetrics_free(&m2);
    CHECK_EQ_U64(runs[0].nrows, 10);
    CHECK_NEAR(runs[0].t_s[0], 0.5, 1e-12);
    CHECK_EQ_U64(runs[0].nutil, 3);
    CHECK_NEAR(runs[0].lag_frac[0], 0, 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_report_write_page(f, runs, 2, "nodes = 3\nlatency = <x>&y\n"), 0);
    fclose(f);
    static const char *const ids[] = {"id=\"delivery\"", "id=\"lag\"", "id=\"upload\"",
                                      "id=\"upload-cdf\"", "id=\"cross\""};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        CHECK(strstr(text, ids[i]) != NULL);
    CHECK_EQ_U64(count(text, "<svg"), 5);
    CHECK(count(text, "<polyline") >= 10); /* each plot has both runs */
    CHECK(strstr(text, "latency = &lt;x&gt;&amp;y") != NULL);
    CHECK(strstr(text, "<th>strata</th><th>mesh</th>") != NULL);
    CHECK(strstr(text, "<script") == NULL &&
          strstr(text, "http://") == strstr(text, "http://www.w3.org/2000/svg"));
    CHECK(strstr(text, "<tr><td>stretch p50</td><td>") != NULL);
    free(text);

    /* The text table: a header of names, a line per brief figure, "-" for
     * what a run does not have. */
    strata_simresult both[2] = {runs[0].result, runs[1].result};
    f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_report_write_table(f, both, 2), 0);
    fclose(f);
    size_t brief = 0;
    for (size_t i = 0; i < strata_report_metric_count(); i++)
        brief += (size_t)strata_report_metric_brief(i);
    CHECK_EQ_U64(count(text, "\n"), brief + 1);
    CHECK(strncmp(text, "metric ", 7) == 0 && strstr(text, "strata        mesh\n") != NULL);
    CHECK(strstr(text, "\nstretch p50 ") != NULL);
    char cell[64];
    for (size_t i = 0; i < strata_report_metric_count(); i++) {
        if (strcmp(strata_report_metric_name(i), "stretch p50") == 0) {
            strata_report_metric_format(i, &runs[1].result, cell, sizeof cell);
            CHECK_STR(cell, "-");
        }
        if (strcmp(strata_report_metric_name(i), "wall_s") == 0) {
            strata_report_metric_format(i, &runs[0].result, cell, sizeof cell);
            CHECK_STR(cell, "-"); /* not measured */
        }
    }
    free(text);
    strata_report_run_free(&runs[0]);
    strata_report_run_free(&runs[1]);
}

int main(void)
{
    test_nice_table();
    test_nice_random();
    test_tick_labels();
    test_escape();
    test_cdfs();
    test_svg();
    test_page_and_table();
    return test_summary("test_report");
}
