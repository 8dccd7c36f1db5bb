/*
 * Tests of the latency model: the matrix parser on small inline files
 * (valid, and malformed in every way we could think of, each with its
 * line:column), the three filling rules, the real data sets under
 * data/latency/, node attachment, and a seeded mutation loop that
 * must never crash the parser.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventq.h"
#include "latency.h"
#include "testutil.h"

/* Writes len bytes to a fresh temporary file; returns its path (static). */
static const char *write_temp(const char *text, size_t len)
{
    static char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/strata_lat_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(2);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w <= 0) {
            perror("write");
            exit(2);
        }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

/* Loads text through a temporary file; returns the load's result. */
static int load_text(strata_simlat *lat, const char *text, size_t len, char *err, size_t errlen)
{
    const char *path = write_temp(text, len);
    int rc = strata_simlat_load(lat, NULL, path, err, errlen);
    unlink(path);
    return rc;
}

static void test_valid_small(void)
{
    static const char m[] = "0 10 20\n10 0 30.5\n20 30.5 0\n";
    strata_simlat lat;
    char err[256] = "";
    int rc = load_text(&lat, m, sizeof m - 1, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  error: %s\n", err);
        return;
    }
    CHECK_EQ_U64(strata_simlat_hosts(&lat), 3);
    CHECK(strata_simlat_rtt_ms(&lat, 0, 2) == 20.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 1) == 30.5);
    CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 0, 2), STRATA_MS(10));
    CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 1, 2), 15250000u);
    CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 1, 1), 0);
    CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 3, 1), STRATA_NEVER);
    CHECK(strata_simlat_rtt_ms(&lat, 0, 3) == -1.0);
    const strata_simlat_stats *st = strata_simlat_get_stats(&lat);
    CHECK_EQ_U64(st->missing, 0);
    CHECK_EQ_U64(st->pairs, 6);
    CHECK_EQ_INT(st->symmetric, 1);
    CHECK(st->median_rtt_ms == 20.0);
    strata_simlat_free(&lat);
    strata_simlat_free(&lat); /* twice is harmless */

    /* Tolerated layout: CRLF, tabs, leading and trailing blanks, trailing
     * blank lines, no final newline, exponents and signs. */
    static const char m2[] = "  0\t1e1 \r\n+10.0   0.0\r\n\r\n  \n";
    rc = load_text(&lat, m2, sizeof m2 - 1, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK(rc != 0 || strata_simlat_rtt_ms(&lat, 0, 1) == 10.0);
    strata_simlat_free(&lat);
    static const char m3[] = "0 5\n7 0";
    rc = load_text(&lat, m3, sizeof m3 - 1, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK(rc != 0 || (strata_simlat_rtt_ms(&lat, 1, 0) == 7.0 &&
                      strata_simlat_get_stats(&lat)->symmetric == 0));
    strata_simlat_free(&lat);
    /* One host. */
    rc = load_text(&lat, "0\n", 2, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_U64(strata_simlat_hosts(&lat), 1);
    strata_simlat_free(&lat);
}

/* Table of malformed files: the text, the expected error, and a fragment
 * the message must contain (":line:col:" where it applies). */
static const struct bad_case {
    const char *name;
    const char *text;
    int rc;
    const char *msg;
} bad_cases[] = {
    {"empty", "", STRATA_ERR_RANGE, "empty file"},
    {"blank only", " \n\n\t\r\n", STRATA_ERR_RANGE, "empty file"},
    {"short row", "0 1 2\n1 0\n2 3 0\n", STRATA_ERR_RANGE, ":2:4: row 2 has 2 values, expected 3"},
    {"long row", "0 1\n1 0 7\n", STRATA_ERR_RANGE, ":2:5: row 2 has 3 values, expected 2"},
    {"too few rows", "0 1 2\n1 0 3\n", STRATA_ERR_RANGE, "after 2 rows"},
    {"too many rows", "0 1\n1 0\n1 1\n", STRATA_ERR_RANGE, ":3:1: more rows"},
    {"word", "0 1\nabc 0\n", STRATA_ERR_RANGE, ":2:1: not a number: 'abc'"},
    {"two points", "0 1.2.3\n1 0\n", STRATA_ERR_RANGE, ":1:3: not a number"},
    {"nan", "0 nan\n1 0\n", STRATA_ERR_RANGE, ":1:3: not a number"},
    {"inf", "0 1\ninf 0\n", STRATA_ERR_RANGE, ":2:1: not a number"},
    {"hex", "0 0x10\n1 0\n", STRATA_ERR_RANGE, ":1:3: not a number"},
    {"overflow", "0 1e999\n1 0\n", STRATA_ERR_RANGE, ":1:3: number out of range"},
    {"negative", "0 -2\n1 0\n", STRATA_ERR_RANGE, ":1:3: negative RTT"},
    {"double minus", "0 --1\n1 0\n", STRATA_ERR_RANGE, ":1:3: not a number"},
    {"lone sign", "0 -\n1 0\n", STRATA_ERR_RANGE, ":1:3: not a number"},
    {"comma", "0,1\n1,0\n", STRATA_ERR_RANGE, ":1:1: not a number: '0,1'"},
    {"huge", "0 2000000\n1 0\n", STRATA_ERR_RANGE, ":1:3: RTT above"},
    {"blank inside", "0 1\n\n1 0\n", STRATA_ERR_RANGE, ":2:1: empty line"},
    {"control char", "0 1\n1\x01 0\n", STRATA_ERR_RANGE, ":2:1: not a number: '1\\x01'"},
    {"all missing", "-1 -1\n-1 -1\n", STRATA_ERR_RANGE, "no measured pair"},
    {"long token", "0 1111111111111111111111111111111111111111111111111111111111111111111\n1 0\n",
     STRATA_ERR_RANGE, ":1:3: number too long: '111111111111111111111111...'"},
};

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        strata_simlat lat;
        char err[256] = "";
        int rc = load_text(&lat, c->text, strlen(c->text), err, sizeof err);
        if (rc != c->rc || !strstr(err, c->msg))
            fprintf(stderr, "case '%s': rc %d, error \"%s\"; want rc %d and \"%s\"\n", c->name, rc,
                    err, c->rc, c->msg);
        CHECK_EQ_INT(rc, c->rc);
        CHECK(strstr(err, c->msg) != NULL);
        /* On failure nothing is held. */
        CHECK(lat.m.rtt_ms == NULL && lat.m.hosts == 0);
        strata_simlat_free(&lat);
    }

    /* A NUL byte inside a number. */
    static const char nul[] = "0 1\n1 0\0 \n";
    strata_simlat lat;
    char err[256] = "";
    CHECK_EQ_INT(load_text(&lat, nul, sizeof nul - 1, err, sizeof err), STRATA_ERR_RANGE);
    CHECK(strstr(err, ":2:3: not a number: '0\\x00'") != NULL);

    /* Missing file; the error names it. */
    int rc = strata_simlat_load(&lat, NULL, "/nonexistent/strata/matrix.txt", err, sizeof err);
    CHECK_EQ_INT(rc, STRATA_ERR_NOTFOUND);
    CHECK(strstr(err, "/nonexistent/strata/matrix.txt: cannot open") != NULL);

    /* A tiny error buffer is still NUL-terminated; a NULL one is fine. */
    char tiny[8];
    rc = strata_simlat_parse(&lat, NULL, "x", 1, "t", tiny, sizeof tiny);
    CHECK_EQ_INT(rc, STRATA_ERR_RANGE);
    CHECK(strlen(tiny) == 7);
    CHECK_EQ_INT(strata_simlat_parse(&lat, NULL, "x", 1, NULL, NULL, 0), STRATA_ERR_RANGE);

    /* from_matrix validates too. */
    double bad[4] = {0, NAN, 1, 0};
    CHECK_EQ_INT(strata_simlat_from_matrix(&lat, NULL, 2, bad, err, sizeof err), STRATA_ERR_RANGE);
    double neg[4] = {0, -3, 1, 0};
    CHECK_EQ_INT(strata_simlat_from_matrix(&lat, NULL, 2, neg, err, sizeof err), STRATA_ERR_RANGE);
    CHECK_EQ_INT(strata_simlat_from_matrix(&lat, NULL, 0, neg, err, sizeof err), STRATA_ERR_INVAL);
}

/* The three rules, and the diagonal, on a matrix built to need each. */
static void test_fill_rules(void)
{
    /* host 0: measured 0->1 and 0->4 (detour candidates for 0->2 via 1 and 4)
     * host 1: measured 1->2
     * host 2: nothing measured from it, diagonal missing
     * host 3: isolated, diagonal missing
     * host 4: measured 4->2 */
    static const char m[] = "2 10 -1 -1 1\n"
                            "-1 4 5 -1 -1\n"
                            "-1 -1 -1 -1 -1\n"
                            "-1 -1 -1 -1 -1\n"
                            "-1 -1 40 -1 0\n";
    strata_simlat lat;
    char err[256] = "";
    int rc = load_text(&lat, m, sizeof m - 1, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  error: %s\n", err);
        return;
    }
    const strata_simlat_stats *st = strata_simlat_get_stats(&lat);
    /* Off-diagonal measured: 10, 1, 5, 40 -> median (5 + 10) / 2. */
    CHECK(st->median_rtt_ms == 7.5);
    CHECK_EQ_U64(st->pairs, 20);
    CHECK_EQ_U64(st->missing, 16);
    CHECK(fabs(st->missing_fraction - 0.8) < 1e-12);
    /* Diagonal measured: 2, 4, 0 -> median 2 for hosts 2 and 3. */
    CHECK_EQ_U64(st->diag_missing, 2);
    CHECK(st->diag_fill_ms == 2.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 2) == 2.0);
    CHECK(strata_simlat_rtt_ms(&lat, 3, 3) == 2.0);
    CHECK(strata_simlat_rtt_ms(&lat, 1, 1) == 4.0);
    CHECK_EQ_INT(strata_simlat_origin_of(&lat, 3, 3), STRATA_SIMLAT_MEDIAN);
    CHECK_EQ_INT(strata_simlat_origin_of(&lat, 0, 0), STRATA_SIMLAT_MEASURED);

    /* Rule 1: reverse direction. */
    CHECK(strata_simlat_rtt_ms(&lat, 1, 0) == 10.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 1) == 5.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 4) == 40.0);
    CHECK(strata_simlat_rtt_ms(&lat, 4, 0) == 1.0);
    CHECK_EQ_INT(strata_simlat_origin_of(&lat, 1, 0), STRATA_SIMLAT_SYMMETRIC);
    CHECK_EQ_INT(strata_simlat_origin_of(&lat, 0, 1), STRATA_SIMLAT_MEASURED);
    CHECK_EQ_U64(st->filled_symmetric, 4);

    /* Rule 2: 0->2 via 1 (10 + 5 = 15) beats via 4 (1 + 40 = 41); 2->0 too;
     * 1->4 via 0 (10 + 1); 4->1 via 0 (1 + 10) or via 2 (40 + 5). */
    CHECK(strata_simlat_rtt_ms(&lat, 0, 2) == 15.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 0) == 15.0);
    CHECK(strata_simlat_rtt_ms(&lat, 1, 4) == 11.0);
    CHECK(strata_simlat_rtt_ms(&lat, 4, 1) == 11.0);
    CHECK_EQ_INT(strata_simlat_origin_of(&lat, 0, 2), STRATA_SIMLAT_TWO_HOP);
    CHECK_EQ_U64(st->filled_two_hop, 4);

    /* Rule 3: host 3 has no measured leg at all; detours never rest on
     * detours, so it gets the median both ways. */
    for (uint32_t j = 0; j < 5; j++) {
        if (j == 3)
            continue;
        CHECK(strata_simlat_rtt_ms(&lat, 3, j) == 7.5);
        CHECK(strata_simlat_rtt_ms(&lat, j, 3) == 7.5);
        CHECK_EQ_INT(strata_simlat_origin_of(&lat, j, 3), STRATA_SIMLAT_MEDIAN);
    }
    CHECK_EQ_U64(st->filled_median, 8);
    CHECK_EQ_U64(st->filled_symmetric + st->filled_two_hop + st->filled_median, st->missing);
    CHECK_EQ_INT(st->symmetric, 1);
    CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 3, 0), 3750000u);
    strata_simlat_free(&lat);

    /* Asymmetric input stays asymmetric where measured; the reverse rule
     * only fills gaps. */
    double a[9] = {0, 10, -1, 30, 0, 7, -1, -1, 0};
    rc = strata_simlat_from_matrix(&lat, NULL, 3, a, err, sizeof err);
    CHECK_EQ_INT(rc, 0);
    CHECK(strata_simlat_rtt_ms(&lat, 0, 1) == 10.0 && strata_simlat_rtt_ms(&lat, 1, 0) == 30.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 1) == 7.0);
    /* 0->2: via 1 = 10 + 7; 2->0: via 1 = 7 + 30. */
    CHECK(strata_simlat_rtt_ms(&lat, 0, 2) == 17.0);
    CHECK(strata_simlat_rtt_ms(&lat, 2, 0) == 37.0);
    CHECK_EQ_INT(strata_simlat_get_stats(&lat)->symmetric, 0);
    strata_simlat_free(&lat);
}

/* Path of a data file under latency/, or NULL (with a loud failure) if it
 * cannot be read: the real-data checks are part of the suite, not optional. */
static const char *data_path(char *buf, size_t len, const char *rel)
{
    char sub[256];
    snprintf(sub, sizeof sub, "latency/%s", rel);
    return test_data_file(sub, buf, len);
}

/* Loads a real matrix and checks what every one must satisfy: the host
 * count, nothing missing after filling, and finite non-negative values. */
static int load_real(strata_simlat *lat, const char *rel, uint32_t hosts)
{
    char path[1024], err[512] = "";
    if (!data_path(path, sizeof path, rel))
        return -1;
    int rc = strata_simlat_load(lat, NULL, path, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "loading %s: %s\n", rel, err);
    CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        return -1;
    CHECK_EQ_U64(strata_simlat_hosts(lat), hosts);
    const strata_simlat_stats *st = strata_simlat_get_stats(lat);
    CHECK_EQ_U64(st->filled_symmetric + st->filled_two_hop + st->filled_median, st->missing);
    int bad = 0;
    for (uint32_t i = 0; i < hosts; i++)
        for (uint32_t j = 0; j < hosts; j++) {
            double v = strata_simlat_rtt_ms(lat, i, j);
            if (!(v >= 0 && v <= STRATA_SIMLAT_MAX_RTT_MS))
                bad++;
        }
    CHECK_EQ_INT(bad, 0);
    fprintf(stderr,
            "%s: %u hosts, %.1f %% missing (symmetric %llu, two-hop %llu, median %llu), "
            "median %.3f ms, symmetric %d\n",
            rel, st->hosts, 100 * st->missing_fraction, (unsigned long long)st->filled_symmetric,
            (unsigned long long)st->filled_two_hop, (unsigned long long)st->filled_median,
            st->median_rtt_ms, st->symmetric);
    return 0;
}

static void test_real_data(void)
{
    strata_simlat lat;

    if (load_real(&lat, "planetlab490/planetlab490_median_rtt_ms.txt", 490) == 0) {
        const strata_simlat_stats *st = strata_simlat_get_stats(&lat);
        CHECK_EQ_U64(st->missing, 0);
        CHECK_EQ_INT(st->symmetric, 1);
        /* First row starts "0.000 0.164 2.546". */
        CHECK(strata_simlat_rtt_ms(&lat, 0, 1) == 0.164);
        CHECK(strata_simlat_rtt_ms(&lat, 0, 2) == 2.546);
        CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 0, 1), 82000u);
        CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 0, 2), 1273000u);
        /* README: median 133.9 ms, min 0.087, max 675.2. */
        CHECK(fabs(st->median_rtt_ms - 133.9) < 0.1);
        double lo = 1e9, hi = 0;
        for (uint32_t i = 0; i < 490; i++)
            for (uint32_t j = 0; j < 490; j++)
                if (i != j) {
                    double v = strata_simlat_rtt_ms(&lat, i, j);
                    lo = v < lo ? v : lo;
                    hi = v > hi ? v : hi;
                }
        CHECK(fabs(lo - 0.087) < 1e-9);
        CHECK(fabs(hi - 675.2) < 0.05);
        strata_simlat_free(&lat);
    }

    if (load_real(&lat, "seattle99/seattle99_median_rtt_ms.txt", 99) == 0) {
        const strata_simlat_stats *st = strata_simlat_get_stats(&lat);
        CHECK_EQ_U64(st->missing, 0);
        /* Measured in both directions separately: asymmetric, kept so. */
        CHECK_EQ_INT(st->symmetric, 0);
        CHECK(strata_simlat_rtt_ms(&lat, 0, 1) == 120.0);
        CHECK(strata_simlat_rtt_ms(&lat, 1, 0) == 140.0);
        CHECK_EQ_U64(strata_simlat_one_way_ns(&lat, 0, 1), STRATA_MS(60));
        CHECK(fabs(st->median_rtt_ms - 170) < 0.5);
        strata_simlat_free(&lat);
    }

    if (load_real(&lat, "ripeatlas-country2025/country_rtt_avg_ms.txt", 170) == 0) {
        const strata_simlat_stats *st = strata_simlat_get_stats(&lat);
        /* README: 6,420 of 14,365 unordered pairs measured; 57 diagonal gaps. */
        CHECK_EQ_U64(st->missing, 2 * (14365 - 6420));
        CHECK(fabs(st->missing_fraction - 0.553) < 0.001);
        CHECK_EQ_U64(st->diag_missing, 57);
        CHECK(fabs(st->diag_fill_ms - 6.108) < 1e-9);
        CHECK(fabs(st->median_rtt_ms - 181.3335) < 1e-9);
        /* Symmetric data: every rule keeps it symmetric. */
        CHECK_EQ_INT(st->symmetric, 1);
        /* Symmetric input has no one-sided pairs. */
        CHECK_EQ_U64(st->filled_symmetric, 0);
        /* 13 countries have no measured partner: their 2 * 13 * 157 + 13 * 12
         * directed pairs can only get the median. */
        CHECK(st->filled_median >= 4238);
        CHECK(st->filled_two_hop > 0);
        /* Row 0 (AD?) measured 0 -> 9 = 37.536; kept. */
        CHECK(strata_simlat_rtt_ms(&lat, 0, 9) == 37.536);
        CHECK_EQ_INT(strata_simlat_origin_of(&lat, 0, 9), STRATA_SIMLAT_MEASURED);
        strata_simlat_free(&lat);
    }
}

static void test_attach(void)
{
    double m[9] = {0, 100, 200, 100, 0, 50, 200, 50, 4};
    strata_simlat lat;
    char err[128];
    CHECK_EQ_INT(strata_simlat_from_matrix(&lat, NULL, 3, m, err, sizeof err), 0);

    /* Before attaching, nodes have no delay. */
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 0, 1), STRATA_NEVER);

    CHECK_EQ_INT(strata_simlat_attach(&lat, 1000, STRATA_SIMLAT_ROUND_ROBIN, 42, STRATA_MS(1),
                                      STRATA_MS(10)),
                 0);
    CHECK_EQ_U64(strata_simlat_nodes(&lat), 1000);
    int bad = 0;
    for (uint32_t n = 0; n < 1000; n++) {
        uint32_t acc = strata_simlat_node_access_ns(&lat, n);
        if (strata_simlat_node_host(&lat, n) != n % 3 || acc < STRATA_MS(1) || acc > STRATA_MS(10))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    /* Node 0 on host 0, node 2 on host 2: access + 100 ms + access. */
    uint64_t a0 = strata_simlat_node_access_ns(&lat, 0), a2 = strata_simlat_node_access_ns(&lat, 2);
    uint64_t a5 = strata_simlat_node_access_ns(&lat, 5), a3 = strata_simlat_node_access_ns(&lat, 3);
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 0, 2), a0 + STRATA_MS(100) + a2);
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 2, 0), a0 + STRATA_MS(100) + a2);
    /* Same host 0: just the two access links (diagonal 0). */
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 0, 3), a0 + a3);
    /* Same host 2, whose intra RTT is 4 ms: + 2 ms. */
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 2, 5), a2 + STRATA_MS(2) + a5);
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 7, 7), 0);
    CHECK_EQ_U64(strata_simlat_node_one_way_ns(&lat, 0, 1000), STRATA_NEVER);
    CHECK_EQ_U64(strata_simlat_node_host(&lat, 1000), UINT32_MAX);

    /* Access delays spread over the whole range. */
    uint64_t lo = UINT64_MAX, hi = 0;
    double sum = 0;
    for (uint32_t n = 0; n < 1000; n++) {
        uint64_t acc = strata_simlat_node_access_ns(&lat, n);
        lo = acc < lo ? acc : lo;
        hi = acc > hi ? acc : hi;
        sum += (double)acc;
    }
    CHECK(lo < STRATA_MS(1) + STRATA_MS(1) / 5 && hi > STRATA_MS(10) - STRATA_MS(1) / 5);
    CHECK(fabs(sum / 1000 - 5.5e6) < 0.3e6);

    /* Random attachment: roughly uniform, and adding nodes moves none. */
    CHECK_EQ_INT(strata_simlat_attach(&lat, 3000, STRATA_SIMLAT_RANDOM, 7, 0, STRATA_MS(5)), 0);
    uint32_t first_host[3000], first_acc[3000], count[3] = {0, 0, 0};
    for (uint32_t n = 0; n < 3000; n++) {
        first_host[n] = strata_simlat_node_host(&lat, n);
        first_acc[n] = strata_simlat_node_access_ns(&lat, n);
        if (first_host[n] < 3)
            count[first_host[n]]++;
    }
    for (int h = 0; h < 3; h++)
        CHECK(count[h] > 850 && count[h] < 1150);
    CHECK_EQ_INT(strata_simlat_attach(&lat, 6000, STRATA_SIMLAT_RANDOM, 7, 0, STRATA_MS(5)), 0);
    bad = 0;
    for (uint32_t n = 0; n < 3000; n++)
        if (strata_simlat_node_host(&lat, n) != first_host[n] ||
            strata_simlat_node_access_ns(&lat, n) != first_acc[n] ||
            strata_simlat_pick_host(3, STRATA_SIMLAT_RANDOM, 7, n) != first_host[n])
            bad++;
    CHECK_EQ_INT(bad, 0);
    /* Another seed gives another attachment. */
    CHECK_EQ_INT(strata_simlat_attach(&lat, 3000, STRATA_SIMLAT_RANDOM, 8, 0, STRATA_MS(5)), 0);
    int same = 0;
    for (uint32_t n = 0; n < 3000; n++)
        same += strata_simlat_node_host(&lat, n) == first_host[n];
    CHECK(same < 1300);

    /* Fixed access delay, and bad arguments. */
    CHECK_EQ_INT(strata_simlat_attach(&lat, 10, STRATA_SIMLAT_RANDOM, 1, 777, 777), 0);
    CHECK_EQ_U64(strata_simlat_node_access_ns(&lat, 9), 777);
    CHECK_EQ_INT(strata_simlat_attach(&lat, 10, 9, 1, 0, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simlat_attach(&lat, 10, 0, 1, 5, 4), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simlat_attach(&lat, 10, 0, 1, 0, (uint64_t)UINT32_MAX + 1),
                 STRATA_ERR_INVAL);
    CHECK_EQ_U64(strata_simlat_nodes(&lat), 10); /* failures keep the old attachment */
    strata_simlat_free(&lat);
}

/* Seeded mutations of a valid file: whatever comes out, the parser returns
 * cleanly, with a message on error and a complete matrix on success. */
static void test_mutations(uint64_t seed)
{
    static const char base[] = "0 12.5 -1\n12.5 0 7\n-1 7 0\n";
    static const char alphabet[] = "0123456789.-+eE \t\n\r-1x\0";
    strata_rng r;
    strata_rng_seed(&r, seed ^ 0x1a7);
    char buf[128];
    int ok = 0, rejected = 0, bad = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = sizeof base - 1;
        memcpy(buf, base, len);
        int edits = 1 + (int)strata_rng_below(&r, 4);
        for (int e = 0; e < edits; e++) {
            uint64_t op = strata_rng_below(&r, 3);
            size_t pos = (size_t)strata_rng_below(&r, len + 1);
            char c = alphabet[strata_rng_below(&r, sizeof alphabet)];
            if (op == 0 && pos < len) {
                buf[pos] = c;
            } else if (op == 1 && len + 1 < sizeof buf) {
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = c;
                len++;
            } else if (pos < len) {
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
            }
        }
        strata_simlat lat;
        char err[160] = "";
        int rc = strata_simlat_parse(&lat, NULL, buf, len, "m", err, sizeof err);
        if (rc == 0) {
            ok++;
            uint32_t n = strata_simlat_hosts(&lat);
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = 0; j < n; j++)
                    if (!(strata_simlat_rtt_ms(&lat, i, j) >= 0))
                        bad++;
            strata_simlat_free(&lat);
        } else {
            rejected++;
            if (err[0] == '\0' || rc >= 0)
                bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(ok > 100 && rejected > 100);
    fprintf(stderr, "mutations: %d accepted, %d rejected\n", ok, rejected);
}

int main(void)
{
    uint64_t seed = test_seed(777);
    test_valid_small();
    test_malformed();
    test_fill_rules();
    test_real_data();
    test_attach();
    test_mutations(seed);
    return test_summary("test_latency");
}
