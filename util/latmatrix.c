/*
 * Latency matrices from the data sets under data/latency/: a strict parser
 * for their text format and the gap-filling rules (latmatrix.h). Shared by
 * the simulator (sim/latency.c attaches nodes to the hosts) and the daemons'
 * delay emulation (host/delay.c).
 *
 * The parser works on the whole file in memory (the median matrices are at
 * most a few MB) and never trusts it: every line is split by hand, every
 * token is checked character by character before strtod sees it, and every
 * count is compared with the first row's before anything is stored.
 */
#include "latmatrix.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Origin of an entry that is still missing while filling. */
#define ORIGIN_MISSING 255

/* ---- Error text ----------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) STRATA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copies up to 24 bytes of an offending token into out (at least 100 bytes)
 * with non-printable bytes escaped, so an error message is one clean line. */
static void quote_token(char *out, size_t outlen, const char *tok, size_t len)
{
    size_t o = 0;
    size_t shown = len > 24 ? 24 : len;
    for (size_t i = 0; i < shown && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (c >= 0x20 && c < 0x7f && c != '\'') {
            out[o++] = (char)c;
        } else {
            snprintf(out + o, outlen - o, "\\x%02x", c);
            o += 4;
        }
    }
    if (shown < len && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- Parsing -------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses one token as an RTT: a plain decimal (digits, one optional sign,
 * point, exponent), finite, and either -1 (missing) or in [0, MAX]. Returns
 * 0 with *v set, or a static description of what is wrong. */
static const char *parse_rtt(const char *tok, size_t len, double *v)
{
    char buf[64];
    if (len >= sizeof buf)
        return "number too long";
    for (size_t i = 0; i < len; i++) {
        char c = tok[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return "not a number";
    }
    memcpy(buf, tok, len);
    buf[len] = '\0';
    char *endp = NULL;
    errno = 0;
    double x = strtod(buf, &endp);
    if (endp != buf + len || len == 0)
        return "not a number";
    if (!isfinite(x) || errno == ERANGE)
        return "number out of range";
    if (x < 0) {
        if (x == -1.0) {
            *v = -1.0;
            return NULL;
        }
        return "negative RTT (only -1 marks a missing value)";
    }
    if (x > STRATA_LATMATRIX_MAX_RTT_MS)
        return "RTT above 1,000,000 ms (wrong units?)";
    *v = x;
    return NULL;
}

/* Counts the whitespace-separated tokens of [p, end). */
static size_t count_tokens(const char *p, const char *end)
{
    size_t n = 0;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        n++;
        while (p < end && !is_space(*p))
            p++;
    }
    return n;
}

/* True if [p, end) holds only blanks and line ends. */
static int only_blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!is_space(*p) && *p != '\n' && *p != '\r')
            return 0;
    return 1;
}

static int fill(strata_latmatrix *lat, const char *name, char *err, size_t errlen);

int strata_latmatrix_parse(strata_latmatrix *lat, const strata_alloc *alloc, const char *text,
                           size_t len, const char *name, char *err, size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    lat->alloc = alloc;
    if (!name)
        name = "<matrix>";
    if (!text || len == 0) {
        set_err(err, errlen, "%s: empty file: no rows", name);
        return STRATA_ERR_RANGE;
    }
    const char *p = text, *end = text + len;
    size_t n = 0, rows = 0;
    unsigned long line = 0;
    char q[128];
    int rc = STRATA_ERR_RANGE;

    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        const char *ls = p;
        if (lend > ls && lend[-1] == '\r')
            lend--;
        size_t ntok = count_tokens(ls, lend);

        if (ntok == 0) {
            /* Blank lines may only trail the matrix. */
            if (only_blank(next, end))
                break;
            set_err(err, errlen, "%s:%lu:1: empty line inside the matrix (row %zu expected)", name,
                    line, rows + 1);
            goto fail;
        }
        if (rows == 0) {
            n = ntok;
            if (n > STRATA_LATMATRIX_MAX_HOSTS) {
                set_err(err, errlen, "%s:1:1: first row has %zu values; at most %d hosts", name, n,
                        (int)STRATA_LATMATRIX_MAX_HOSTS);
                rc = STRATA_ERR_INVAL;
                goto fail;
            }
            lat->rtt_ms = strata_mem_calloc(alloc, n * n, sizeof *lat->rtt_ms);
            if (!lat->rtt_ms) {
                set_err(err, errlen, "%s: out of memory for %zu x %zu matrix", name, n, n);
                rc = STRATA_ERR_NOMEM;
                goto fail;
            }
        } else if (rows == n) {
            set_err(err, errlen,
                    "%s:%lu:1: more rows than the %zu columns of the first row "
                    "(the matrix must be square)",
                    name, line, n);
            goto fail;
        }

        size_t k = 0;
        const char *t = ls;
        for (;;) {
            while (t < lend && is_space(*t))
                t++;
            if (t == lend)
                break;
            const char *te = t;
            while (te < lend && !is_space(*te))
                te++;
            size_t col = (size_t)(t - ls) + 1;
            if (k == n) {
                set_err(err, errlen, "%s:%lu:%zu: row %zu has %zu values, expected %zu", name, line,
                        col, rows + 1, ntok, n);
                goto fail;
            }
            double v = 0;
            const char *what = parse_rtt(t, (size_t)(te - t), &v);
            if (what) {
                quote_token(q, sizeof q, t, (size_t)(te - t));
                set_err(err, errlen, "%s:%lu:%zu: %s: '%s'", name, line, col, what, q);
                goto fail;
            }
            lat->rtt_ms[rows * n + k] = v;
            k++;
            t = te;
        }
        if (k < n) {
            set_err(err, errlen, "%s:%lu:%zu: row %zu has %zu values, expected %zu", name, line,
                    (size_t)(lend - ls) + 1, rows + 1, k, n);
            goto fail;
        }
        rows++;
        p = next;
    }
    if (rows == 0) {
        set_err(err, errlen, "%s: empty file: no rows", name);
        goto fail;
    }
    if (rows < n) {
        set_err(err, errlen,
                "%s:%lu: file ends after %zu rows but rows have %zu values "
                "(the matrix must be square)",
                name, line + 1, rows, n);
        goto fail;
    }
    lat->hosts = (uint32_t)n;
    rc = fill(lat, name, err, errlen);
    if (rc != 0)
        goto fail;
    return 0;

fail:
    strata_latmatrix_free(lat);
    lat->alloc = alloc;
    return rc;
}

int strata_latmatrix_load(strata_latmatrix *lat, const strata_alloc *alloc, const char *path,
                          char *err, size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    lat->alloc = alloc;
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return STRATA_ERR_NOTFOUND;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)STRATA_LATMATRIX_MAX_FILE_BYTES) {
                set_err(err, errlen, "%s: larger than %d bytes", path,
                        (int)STRATA_LATMATRIX_MAX_FILE_BYTES);
                rc = STRATA_ERR_INVAL;
                goto fail_read;
            }
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *nb = strata_mem_realloc(alloc, buf, ncap);
            if (!nb) {
                set_err(err, errlen, "%s: out of memory reading the file", path);
                rc = STRATA_ERR_NOMEM;
                goto fail_read;
            }
            buf = nb;
            cap = ncap;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
                rc = STRATA_ERR_NOTFOUND;
                goto fail_read;
            }
            break;
        }
    }
    fclose(f);
    rc = strata_latmatrix_parse(lat, alloc, buf, len, path, err, errlen);
    strata_mem_free(alloc, buf);
    return rc;

fail_read:
    strata_mem_free(alloc, buf);
    fclose(f);
    return rc;
}

int strata_latmatrix_from_matrix(strata_latmatrix *lat, const strata_alloc *alloc, uint32_t hosts,
                                 const double *rtt_ms, char *err, size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    lat->alloc = alloc;
    if (hosts == 0 || hosts > STRATA_LATMATRIX_MAX_HOSTS || !rtt_ms) {
        set_err(err, errlen, "matrix: need 1..%d hosts", (int)STRATA_LATMATRIX_MAX_HOSTS);
        return STRATA_ERR_INVAL;
    }
    size_t n = hosts;
    for (size_t i = 0; i < n * n; i++) {
        double v = rtt_ms[i];
        if (!(v == -1.0 || (v >= 0 && v <= STRATA_LATMATRIX_MAX_RTT_MS))) {
            set_err(err, errlen, "matrix: entry (%zu, %zu) = %g is neither -1 nor in [0, %d]",
                    i / n, i % n, v, (int)STRATA_LATMATRIX_MAX_RTT_MS);
            return STRATA_ERR_RANGE;
        }
    }
    lat->rtt_ms = strata_mem_alloc(alloc, n * n * sizeof *lat->rtt_ms);
    if (!lat->rtt_ms) {
        set_err(err, errlen, "matrix: out of memory");
        return STRATA_ERR_NOMEM;
    }
    memcpy(lat->rtt_ms, rtt_ms, n * n * sizeof *lat->rtt_ms);
    lat->hosts = hosts;
    int rc = fill(lat, "matrix", err, errlen);
    if (rc != 0) {
        strata_latmatrix_free(lat);
        lat->alloc = alloc;
    }
    return rc;
}

/* ---- Filling -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v); the mean of the two middle values when n is
 * even; 0 when n is 0. */
static double median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Turns the raw matrix (-1 = missing) into a complete one by the rules in
 * latency.h, recording each entry's origin and the statistics. */
static int fill(strata_latmatrix *lat, const char *name, char *err, size_t errlen)
{
    size_t n = lat->hosts;
    double *m = lat->rtt_ms;
    strata_latmatrix_stats *st = &lat->stats;
    memset(st, 0, sizeof *st);
    st->hosts = lat->hosts;
    st->pairs = (uint64_t)n * (n - 1);

    lat->origin = strata_mem_alloc(lat->alloc, n * n);
    /* Scratch for the medians: every off-diagonal value at worst. */
    double *tmp = strata_mem_alloc(lat->alloc, (n * n > 0 ? n * n : 1) * sizeof *tmp);
    if (!lat->origin || !tmp) {
        strata_mem_free(lat->alloc, tmp);
        set_err(err, errlen, "%s: out of memory filling the matrix", name);
        return STRATA_ERR_NOMEM;
    }

    /* Measured entries, and the two medians. */
    size_t nv = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double v = m[i * n + j];
            lat->origin[i * n + j] = v < 0 ? ORIGIN_MISSING : STRATA_LATMATRIX_MEASURED;
            if (v < 0) {
                if (i == j)
                    st->diag_missing++;
                else
                    st->missing++;
            } else if (i != j) {
                tmp[nv++] = v;
            }
        }
    }
    if (n > 1 && nv == 0) {
        strata_mem_free(lat->alloc, tmp);
        set_err(err, errlen, "%s: no measured pair at all: nothing to fill from", name);
        return STRATA_ERR_RANGE;
    }
    st->median_rtt_ms = median(tmp, nv);
    for (size_t i = 0; i < n; i++)
        if (m[i * n + i] >= 0)
            tmp[nd++] = m[i * n + i];
    st->diag_fill_ms = median(tmp, nd);
    strata_mem_free(lat->alloc, tmp);
    st->missing_fraction = st->pairs ? (double)st->missing / (double)st->pairs : 0;

    uint8_t *o = lat->origin;
    for (size_t i = 0; i < n; i++) {
        if (o[i * n + i] == ORIGIN_MISSING) {
            m[i * n + i] = st->diag_fill_ms;
            o[i * n + i] = STRATA_LATMATRIX_MEDIAN;
        }
    }

    /* Rule 1: the reverse direction. */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (o[i * n + j] == ORIGIN_MISSING && o[j * n + i] == STRATA_LATMATRIX_MEASURED) {
                m[i * n + j] = m[j * n + i];
                o[i * n + j] = STRATA_LATMATRIX_SYMMETRIC;
                st->filled_symmetric++;
            }
        }
    }

    /* Rule 2: the best detour over legs known after rule 1. Entries this
     * rule fills get origin TWO_HOP, which the leg test excludes, so a
     * detour never rests on another detour. O(missing * n). */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (o[i * n + j] != ORIGIN_MISSING)
                continue;
            double best = -1;
            for (size_t k = 0; k < n; k++) {
                if (k == i || k == j || o[i * n + k] > STRATA_LATMATRIX_SYMMETRIC ||
                    o[k * n + j] > STRATA_LATMATRIX_SYMMETRIC)
                    continue;
                double d = m[i * n + k] + m[k * n + j];
                if (best < 0 || d < best)
                    best = d;
            }
            if (best >= 0) {
                m[i * n + j] = best;
                o[i * n + j] = STRATA_LATMATRIX_TWO_HOP;
                st->filled_two_hop++;
            }
        }
    }

    /* Rule 3: the typical RTT. */
    for (size_t i = 0; i < n * n; i++) {
        if (o[i] == ORIGIN_MISSING) {
            m[i] = st->median_rtt_ms;
            o[i] = STRATA_LATMATRIX_MEDIAN;
            st->filled_median++;
        }
    }

    st->symmetric = 1;
    for (size_t i = 0; i < n && st->symmetric; i++)
        for (size_t j = i + 1; j < n; j++)
            if (m[i * n + j] != m[j * n + i]) {
                st->symmetric = 0;
                break;
            }
    return 0;
}

/* ---- Queries -------------------------------------------------------------- */

void strata_latmatrix_free(strata_latmatrix *lat)
{
    strata_mem_free(lat->alloc, lat->rtt_ms);
    strata_mem_free(lat->alloc, lat->origin);
    const strata_alloc *alloc = lat->alloc;
    memset(lat, 0, sizeof *lat);
    lat->alloc = alloc;
}

uint32_t strata_latmatrix_hosts(const strata_latmatrix *lat)
{
    return lat->hosts;
}

double strata_latmatrix_rtt_ms(const strata_latmatrix *lat, uint32_t i, uint32_t j)
{
    if (i >= lat->hosts || j >= lat->hosts)
        return -1.0;
    return lat->rtt_ms[(size_t)i * lat->hosts + j];
}

/* RTT in ms to one-way ns: half, rounded to nearest. RTTs are capped at
 * 1e6 ms, so the result fits easily. */
static inline uint64_t half_rtt_ns(double rtt_ms)
{
    return (uint64_t)(rtt_ms * 500000.0 + 0.5);
}

uint64_t strata_latmatrix_one_way_ns(const strata_latmatrix *lat, uint32_t i, uint32_t j)
{
    if (i >= lat->hosts || j >= lat->hosts)
        return STRATA_NEVER;
    return half_rtt_ns(lat->rtt_ms[(size_t)i * lat->hosts + j]);
}

int strata_latmatrix_origin_of(const strata_latmatrix *lat, uint32_t i, uint32_t j)
{
    if (i >= lat->hosts || j >= lat->hosts)
        return -1;
    return lat->origin[(size_t)i * lat->hosts + j];
}

const strata_latmatrix_stats *strata_latmatrix_get_stats(const strata_latmatrix *lat)
{
    return &lat->stats;
}
