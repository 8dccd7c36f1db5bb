/*
 * Partition comparison (ARI, NMI), label files and partition quality; the
 * definitions are in clustering.h. Contingency tables are built by sorting
 * (label pairs packed into 64-bit keys), so the cost is O(n log n) whatever
 * the number of clusters, and nothing depends on a hash layout.
 */
#include "clustering.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double strata_simdist_ms(const strata_simdist *d, uint32_t a, uint32_t b)
{
    return a == b ? 0.0 : d->ms(d->user, a, b);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static double comb2(double x)
{
    return x * (x - 1.0) / 2.0;
}

long strata_clustering_dense(int32_t *labels, size_t n)
{
    /* (label, index) sorted: each run of one label starts at its first
     * appearance; the runs sorted by that index give the new numbers. */
    uint64_t *key = malloc((n ? n : 1) * sizeof *key);
    uint64_t *first = malloc((n ? n : 1) * sizeof *first);
    if (!key || !first) {
        free(key);
        free(first);
        return STRATA_ERR_NOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= 0)
            key[m++] = ((uint64_t)(uint32_t)labels[i] << 32) | (uint64_t)i;
    }
    qsort(key, m, sizeof *key, cmp_u64);
    size_t runs = 0;
    for (size_t i = 0; i < m; i++) {
        if (i == 0 || (key[i] >> 32) != (key[i - 1] >> 32))
            first[runs++] = (key[i] & 0xffffffffu) << 32 | (key[i] >> 32);
    }
    qsort(first, runs, sizeof *first, cmp_u64);
    /* first[r] = (first index, label); the label's new number is r. Map
     * through the sorted key array: label -> r via a binary search. */
    uint64_t *byl = key; /* reuse: (label, new number), sorted by label */
    for (size_t r = 0; r < runs; r++)
        byl[r] = (first[r] & 0xffffffffu) << 32 | (uint64_t)r;
    qsort(byl, runs, sizeof *byl, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0) {
            labels[i] = -1;
            continue;
        }
        uint64_t want = (uint64_t)(uint32_t)labels[i];
        size_t lo = 0, hi = runs;
        while (lo + 1 < hi) {
            size_t mid = (lo + hi) / 2;
            if ((byl[mid] >> 32) <= want)
                lo = mid;
            else
                hi = mid;
        }
        labels[i] = (int32_t)(byl[lo] & 0xffffffffu);
    }
    free(key);
    free(first);
    return (long)runs;
}

int strata_clustering_compare(const int32_t *a, const int32_t *b, size_t n,
                              strata_clustering_scores *out)
{
    memset(out, 0, sizeof *out);
    int32_t *da = malloc((n ? n : 1) * sizeof *da);
    int32_t *db = malloc((n ? n : 1) * sizeof *db);
    uint64_t *cell = malloc((n ? n : 1) * sizeof *cell);
    if (!da || !db || !cell)
        goto fail;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] >= 0 && b[i] >= 0) {
            da[m] = a[i];
            db[m] = b[i];
            m++;
        }
    }
    long ka = strata_clustering_dense(da, m), kb = strata_clustering_dense(db, m);
    if (ka < 0 || kb < 0)
        goto fail;
    out->n = m;
    out->clusters_a = (size_t)ka;
    out->clusters_b = (size_t)kb;
    if (m == 0) {
        free(da);
        free(db);
        free(cell);
        return 0;
    }
    double *ra = calloc((size_t)ka, sizeof *ra), *cb = calloc((size_t)kb, sizeof *cb);
    if (!ra || !cb) {
        free(ra);
        free(cb);
        goto fail;
    }
    for (size_t i = 0; i < m; i++) {
        ra[da[i]] += 1;
        cb[db[i]] += 1;
        cell[i] = (uint64_t)(uint32_t)da[i] << 32 | (uint32_t)db[i];
    }
    qsort(cell, m, sizeof *cell, cmp_u64);

    double nn = (double)m, index = 0, mi = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        while (j < m && cell[j] == cell[i])
            j++;
        double nij = (double)(j - i);
        double ai = ra[cell[i] >> 32], bj = cb[cell[i] & 0xffffffffu];
        index += comb2(nij);
        mi += nij / nn * log(nij * nn / (ai * bj));
        i = j;
    }
    double sa = 0, sb = 0, ha = 0, hb = 0;
    for (long i = 0; i < ka; i++) {
        sa += comb2(ra[i]);
        ha -= ra[i] / nn * log(ra[i] / nn);
    }
    for (long j = 0; j < kb; j++) {
        sb += comb2(cb[j]);
        hb -= cb[j] / nn * log(cb[j] / nn);
    }
    free(ra);
    free(cb);

    /* Identical partitions: every cell is a whole row and a whole column. */
    size_t cells = 0;
    for (size_t i = 0; i < m; i++)
        cells += i == 0 || cell[i] != cell[i - 1];
    int identical = (long)cells == ka && ka == kb;

    double expected = nn > 1 ? sa * sb / comb2(nn) : 0;
    double max = (sa + sb) / 2;
    if (fabs(max - expected) < 1e-12)
        out->ari = identical ? 1.0 : 0.0;
    else
        out->ari = (index - expected) / (max - expected);
    if (ha <= 0 && hb <= 0)
        out->nmi = 1.0;
    else if (ha <= 0 || hb <= 0)
        out->nmi = 0.0;
    else
        out->nmi = mi / ((ha + hb) / 2);
    if (out->nmi < 0) /* rounding on independent partitions */
        out->nmi = 0;
    free(da);
    free(db);
    free(cell);
    return 0;

fail:
    free(da);
    free(db);
    free(cell);
    return STRATA_ERR_NOMEM;
}

/* --- label files ----------------------------------------------------------- */

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

enum { LABEL_MAX_FILE_BYTES = 64 << 20, LABEL_MAX_TEXT = 255 };

/* Label texts seen so far, numbered in order of first appearance. A
 * linear lookup: label files name a handful of classes (continents,
 * countries), not thousands. */
typedef struct label_table {
    char **text;
    size_t n, cap;
} label_table;

static long label_number(label_table *t, const char *s, size_t len)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strlen(t->text[i]) == len && memcmp(t->text[i], s, len) == 0)
            return (long)i;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->text, cap * sizeof *p);
        if (!p)
            return STRATA_ERR_NOMEM;
        t->text = p;
        t->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c)
        return STRATA_ERR_NOMEM;
    memcpy(c, s, len);
    c[len] = 0;
    t->text[t->n] = c;
    return (long)t->n++;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= LABEL_MAX_FILE_BYTES) {
                free(buf);
                buf = NULL;
                break;
            }
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int strata_clustering_read_labels(const char *path, uint32_t hosts, int32_t *labels,
                                  size_t *classes, char *err, size_t errlen)
{
    size_t len = 0;
    char *text = read_all(path, &len);
    if (!text) {
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return STRATA_ERR_NOTFOUND;
    }
    for (uint32_t i = 0; i < hosts; i++)
        labels[i] = -1;
    label_table t = {0};
    int rc = 0;
    size_t line = 0;
    const char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *lend = eol;
        if (lend > p && lend[-1] == '\r')
            lend--;
        line++;
        const char *q = p;
        p = eol < end ? eol + 1 : end;
        if (q == lend || *q == '#')
            continue;
        /* index field */
        uint64_t idx = 0;
        size_t digits = 0;
        while (q < lend && *q >= '0' && *q <= '9' && digits < 10) {
            idx = idx * 10 + (uint64_t)(*q - '0');
            q++;
            digits++;
        }
        if (digits == 0 || q == lend || *q != '\t') {
            if (line == 1 && digits == 0)
                continue; /* a header */
            set_err(err, errlen, "%s:%zu: expected index<TAB>label", path, line);
            rc = STRATA_ERR_RANGE;
            break;
        }
        q++;
        const char *ls = q;
        while (q < lend && *q != '\t')
            q++;
        size_t llen = (size_t)(q - ls);
        if (llen == 0 || llen > LABEL_MAX_TEXT) {
            set_err(err, errlen, "%s:%zu: label empty or longer than %d bytes", path, line,
                    LABEL_MAX_TEXT);
            rc = STRATA_ERR_RANGE;
            break;
        }
        if (idx >= hosts) {
            set_err(err, errlen, "%s:%zu: index %llu beyond the %u hosts of the matrix", path, line,
                    (unsigned long long)idx, (unsigned)hosts);
            rc = STRATA_ERR_RANGE;
            break;
        }
        if (labels[idx] >= 0) {
            set_err(err, errlen, "%s:%zu: index %llu labelled twice", path, line,
                    (unsigned long long)idx);
            rc = STRATA_ERR_RANGE;
            break;
        }
        long num = label_number(&t, ls, llen);
        if (num < 0) {
            set_err(err, errlen, "%s: out of memory", path);
            rc = STRATA_ERR_NOMEM;
            break;
        }
        labels[idx] = (int32_t)num;
    }
    if (classes)
        *classes = t.n;
    for (size_t i = 0; i < t.n; i++)
        free(t.text[i]);
    free(t.text);
    free(text);
    return rc;
}

/* --- partition quality ------------------------------------------------------ */

static int cmp_u32_desc(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a > b ? -1 : a < b;
}

/* Members of each group, contiguous: off[g]..off[g+1] in mem. */
typedef struct csr {
    size_t *off;
    uint32_t *mem;
} csr;

static int csr_build(csr *c, const int32_t *labels, size_t n, size_t groups)
{
    c->off = calloc(groups + 1, sizeof *c->off);
    c->mem = malloc((n ? n : 1) * sizeof *c->mem);
    if (!c->off || !c->mem) {
        free(c->off);
        free(c->mem);
        return STRATA_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= 0)
            c->off[labels[i] + 1]++;
    }
    for (size_t g = 0; g < groups; g++)
        c->off[g + 1] += c->off[g];
    size_t *fill = malloc((groups ? groups : 1) * sizeof *fill);
    if (!fill) {
        free(c->off);
        free(c->mem);
        return STRATA_ERR_NOMEM;
    }
    memcpy(fill, c->off, groups * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= 0)
            c->mem[fill[labels[i]]++] = (uint32_t)i;
    }
    free(fill);
    return 0;
}

static void csr_free(csr *c)
{
    free(c->off);
    free(c->mem);
}

static uint32_t medoid_of(const strata_simdist *d, const uint32_t *mem, size_t s)
{
    uint32_t best = UINT32_MAX;
    double best_sum = 0;
    for (size_t i = 0; i < s; i++) {
        double sum = 0;
        for (size_t j = 0; j < s; j++)
            sum += strata_simdist_ms(d, mem[i], mem[j]);
        if (best == UINT32_MAX || sum < best_sum) {
            best = mem[i];
            best_sum = sum;
        }
    }
    return best;
}

int strata_partition_medoids(const strata_simdist *d, const int32_t *labels, size_t n,
                             size_t groups, uint32_t *medoids)
{
    csr c;
    if (csr_build(&c, labels, n, groups) != 0)
        return STRATA_ERR_NOMEM;
    for (size_t g = 0; g < groups; g++)
        medoids[g] = medoid_of(d, c.mem + c.off[g], c.off[g + 1] - c.off[g]);
    csr_free(&c);
    return 0;
}

int strata_partition_evaluate(const strata_simdist *d, const int32_t *labels, size_t n,
                              size_t groups, const uint32_t *reps, uint64_t seed, size_t exact_max,
                              strata_partition_eval *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (labels[i] >= 0 && (size_t)labels[i] >= groups)
            return STRATA_ERR_INVAL;
    }
    csr c;
    if (csr_build(&c, labels, n, groups) != 0)
        return STRATA_ERR_NOMEM;
    uint32_t *rep = malloc((groups ? groups : 1) * sizeof *rep);
    out->sizes = malloc((groups ? groups : 1) * sizeof *out->sizes);
    double *cum = malloc((groups ? groups : 1) * sizeof *cum);
    if (!rep || !out->sizes || !cum) {
        free(rep);
        free(cum);
        csr_free(&c);
        strata_partition_eval_free(out);
        return STRATA_ERR_NOMEM;
    }
    size_t nodes = c.off[groups];
    out->nodes = nodes;
    out->groups = groups;
    for (size_t g = 0; g < groups; g++) {
        size_t s = c.off[g + 1] - c.off[g];
        out->sizes[g] = (uint32_t)s;
        out->singletons += s == 1;
        rep[g] = reps && reps[g] != UINT32_MAX ? reps[g] : medoid_of(d, c.mem + c.off[g], s);
    }

    /* Distances within groups, between groups, to the representative. */
    double intra = 0, inter = 0, to_rep = 0;
    double n_intra = 0, n_inter = 0, n_rep = 0;
    for (size_t g = 0; g < groups; g++) {
        for (size_t k = c.off[g]; k < c.off[g + 1]; k++) {
            if (c.mem[k] != rep[g]) {
                to_rep += strata_simdist_ms(d, c.mem[k], rep[g]);
                n_rep += 1;
            }
        }
    }
    if (exact_max == 0)
        exact_max = STRATA_PARTITION_EXACT_MAX;
    if (nodes <= exact_max) {
        for (size_t i = 0; i < n; i++) {
            if (labels[i] < 0)
                continue;
            for (size_t j = i + 1; j < n; j++) {
                if (labels[j] < 0)
                    continue;
                double v = strata_simdist_ms(d, (uint32_t)i, (uint32_t)j);
                if (labels[i] == labels[j]) {
                    intra += v;
                    n_intra += 1;
                } else {
                    inter += v;
                    n_inter += 1;
                }
            }
        }
    } else {
        /* Intra: a group with probability proportional to its pairs, then
         * two distinct members; inter: two uniform nodes, retried while in
         * one group. Both are uniform over their kind of pair. */
        out->sampled = 1;
        strata_rng r;
        strata_rng_seed(&r, seed ? seed : 1);
        double total = 0;
        for (size_t g = 0; g < groups; g++) {
            double s = (double)out->sizes[g];
            total += s * (s - 1);
            cum[g] = total;
        }
        for (size_t k = 0; total > 0 && k < STRATA_PARTITION_SAMPLES; k++) {
            double x = strata_rng_unit(&r) * total;
            size_t lo = 0, hi = groups - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cum[mid] > x)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            size_t s = out->sizes[lo];
            size_t a = (size_t)strata_rng_below(&r, s);
            size_t b = (size_t)strata_rng_below(&r, s - 1);
            if (b >= a)
                b++;
            intra += strata_simdist_ms(d, c.mem[c.off[lo] + a], c.mem[c.off[lo] + b]);
            n_intra += 1;
        }
        if (groups > 1) {
            for (size_t k = 0; k < STRATA_PARTITION_SAMPLES; k++) {
                uint32_t a, b;
                do {
                    a = c.mem[strata_rng_below(&r, nodes)];
                    b = c.mem[strata_rng_below(&r, nodes)];
                } while (labels[a] == labels[b]);
                inter += strata_simdist_ms(d, a, b);
                n_inter += 1;
            }
        }
    }
    out->intra_ms = n_intra > 0 ? intra / n_intra : 0;
    out->inter_ms = n_inter > 0 ? inter / n_inter : 0;
    out->to_rep_ms = n_rep > 0 ? to_rep / n_rep : 0;

    /* Spread (L11). */
    double spread = 0, n_spread = 0;
    for (size_t g = 0; g < groups; g++) {
        size_t s = c.off[g + 1] - c.off[g];
        if (s < 2)
            continue;
        for (size_t h = 0; h < groups; h++) {
            if (h == g)
                continue;
            double sum = 0, sq = 0;
            for (size_t k = c.off[g]; k < c.off[g + 1]; k++) {
                double v = strata_simdist_ms(d, c.mem[k], rep[h]);
                sum += v;
                sq += v * v;
            }
            double mean = sum / (double)s;
            double var = sq / (double)s - mean * mean;
            spread += var > 0 ? sqrt(var) : 0;
            n_spread += 1;
        }
    }
    out->spread_ms = n_spread > 0 ? spread / n_spread : 0;

    qsort(out->sizes, groups, sizeof *out->sizes, cmp_u32_desc);
    if (groups > 0) {
        out->size_max = out->sizes[0];
        out->size_min = out->sizes[groups - 1];
        size_t mid = groups / 2;
        out->size_median =
            groups % 2 ? out->sizes[mid] : ((double)out->sizes[mid - 1] + out->sizes[mid]) / 2;
    }
    free(rep);
    free(cum);
    csr_free(&c);
    return 0;
}

void strata_partition_eval_free(strata_partition_eval *e)
{
    free(e->sizes);
    e->sizes = NULL;
}
