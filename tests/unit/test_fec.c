/*
 * Tests of the erasure code (core/fec.c, docs/fec.md): decoding from every
 * k-subset of small codes and from random subsets of large ones, with
 * packets of random lengths (0 and 1,400 included); parity that does not
 * depend on n and equals a plain GF(2^8) reference; the table cache; bad
 * arguments; allocation failures.
 */
#include "strata/fec.h"
#include "testutil.h"

#include <isa-l/erasure_code.h>

enum { MAXP = STRATA_FEC_MAX_PAYLOAD_BYTES, MAXS = STRATA_FEC_MAX_SYMBOL_BYTES };

/* A group as a sender has it, and its parity for every p < 8. */
typedef struct group {
    unsigned k;
    uint8_t data[STRATA_FEC_MAX_DATA][MAXP];
    size_t len[STRATA_FEC_MAX_DATA];
    uint8_t parity[STRATA_FEC_MAX_PARITY][MAXS];
    size_t sym;
} group;

static size_t draw_len(strata_rng *r)
{
    switch (strata_rng_below(r, 6)) {
    case 0:
        return 0;
    case 1:
        return MAXP;
    case 2:
        return 1316;
    default:
        return (size_t)strata_rng_below(r, MAXP + 1);
    }
}

static void fill_group(group *g, unsigned k, strata_rng *r, int same_len)
{
    g->k = k;
    size_t common = draw_len(r);
    for (unsigned i = 0; i < k; i++) {
        g->len[i] = same_len ? common : draw_len(r);
        for (size_t b = 0; b < g->len[i]; b++)
            g->data[i][b] = (uint8_t)strata_rng_next(r);
    }
}

static const uint8_t *const *data_ptrs(const group *g, const uint8_t **ptrs)
{
    for (unsigned i = 0; i < g->k; i++)
        ptrs[i] = g->data[i];
    return ptrs;
}

/* Encodes all 8 parity symbols of g. */
static void encode_group(strata_fec_encoder *e, group *g)
{
    const uint8_t *in[STRATA_FEC_MAX_DATA];
    uint8_t *out[STRATA_FEC_MAX_PARITY];
    for (unsigned p = 0; p < STRATA_FEC_MAX_PARITY; p++)
        out[p] = g->parity[p];
    int sym =
        strata_fec_encode(e, g->k, data_ptrs(g, in), g->len, 0, STRATA_FEC_MAX_PARITY, out, MAXS);
    CHECK_EQ_INT(sym, strata_fec_symbol_bytes(g->k, g->len));
    g->sym = sym > 0 ? (size_t)sym : 0;
}

/* Decodes g, coded with n parity symbols, from the symbols in mask (bit i:
 * data i, bit k + p: parity p). Returns decode's result; on success checks
 * every rebuilt packet byte for byte. */
static int decode_subset(strata_fec_decoder *d, const group *g, unsigned n, uint32_t mask)
{
    const uint8_t *data[STRATA_FEC_MAX_DATA], *parity[STRATA_FEC_MAX_PARITY];
    static uint8_t rebuilt[STRATA_FEC_MAX_DATA][MAXP];
    uint8_t *out[STRATA_FEC_MAX_DATA];
    size_t out_len[STRATA_FEC_MAX_DATA];
    unsigned k = g->k, missing = 0;
    for (unsigned i = 0; i < k; i++) {
        data[i] = mask >> i & 1 ? g->data[i] : NULL;
        missing += !data[i];
        out[i] = rebuilt[i];
        out_len[i] = SIZE_MAX;
    }
    for (unsigned p = 0; p < n; p++)
        parity[p] = mask >> (k + p) & 1 ? g->parity[p] : NULL;
    int rc = strata_fec_decode(d, k, n, data, g->len, parity, g->sym, out, MAXP, out_len);
    if (rc < 0)
        return rc;
    CHECK_EQ_INT(rc, missing);
    for (unsigned i = 0; i < k; i++) {
        if (data[i])
            continue;
        CHECK_EQ_U64(out_len[i], g->len[i]);
        if (out_len[i] == g->len[i])
            CHECK_EQ_MEM(rebuilt[i], g->data[i], g->len[i]);
    }
    return rc;
}

static int popcount(uint32_t x)
{
    int c = 0;
    for (; x; x &= x - 1)
        c++;
    return c;
}

/* Every subset of k + n symbols, k <= 8, n <= 4: those of k or more decode,
 * those of fewer fail with STRATA_ERR_TOO_FEW. */
static void test_every_subset(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    strata_fec_decoder *d = strata_fec_decoder_new(NULL, 0);
    static group g;
    unsigned decoded = 0, refused = 0;
    for (unsigned k = 1; k <= 8; k++) {
        for (unsigned n = 0; n <= 4; n++) {
            for (int round = 0; round < 2; round++) {
                fill_group(&g, k, r, round == 1);
                encode_group(e, &g);
                for (uint32_t mask = 0; mask < 1u << (k + n); mask++) {
                    int rc = decode_subset(d, &g, n, mask);
                    if (popcount(mask) >= (int)k) {
                        CHECK(rc >= 0);
                        decoded++;
                    } else {
                        CHECK_EQ_INT(rc, STRATA_ERR_TOO_FEW);
                        refused++;
                    }
                }
            }
        }
    }
    strata_fec_decoder_stats st;
    strata_fec_decoder_stats_get(d, &st);
    CHECK_EQ_U64(st.too_few, refused);
    CHECK_EQ_U64(st.inconsistent, 0);
    printf("every subset: %u decoded, %u refused; tables %llu hits, %llu misses\n", decoded,
           refused, (unsigned long long)st.table_hits, (unsigned long long)st.table_misses);
    strata_fec_decoder_del(d);
    strata_fec_encoder_del(e);
}

/* Random k <= 16, n <= 8, lengths and subsets of k or more symbols. */
static void test_random_subsets(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    strata_fec_decoder *d = strata_fec_decoder_new(NULL, 8);
    static group g;
    for (int it = 0; it < 3000; it++) {
        unsigned k = 1 + (unsigned)strata_rng_below(r, STRATA_FEC_MAX_DATA);
        unsigned n = (unsigned)strata_rng_below(r, STRATA_FEC_MAX_PARITY + 1);
        fill_group(&g, k, r, strata_rng_below(r, 4) == 0);
        encode_group(e, &g);
        /* Drop up to n symbols (sometimes one more, which must fail). */
        uint32_t mask = (1u << (k + n)) - 1;
        unsigned drop = (unsigned)strata_rng_below(r, n + 2);
        for (unsigned i = 0; i < drop; i++)
            mask &= ~(1u << strata_rng_below(r, k + n));
        int rc = decode_subset(d, &g, n, mask);
        if (popcount(mask) >= (int)k)
            CHECK(rc >= 0);
        else
            CHECK_EQ_INT(rc, STRATA_ERR_TOO_FEW);
    }
    strata_fec_decoder_del(d);
    strata_fec_encoder_del(e);
}

/* GF(2^8) with ISA-L's polynomial x^8 + x^4 + x^3 + x^2 + 1, by hand. */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
    unsigned p = 0, x = a;
    for (; b; b >>= 1, x = x & 0x80 ? (x << 1) ^ 0x11d : x << 1)
        if (b & 1)
            p ^= x;
    return (uint8_t)p;
}

static uint8_t ref_inv(uint8_t a)
{
    for (unsigned b = 1; b < 256; b++)
        if (ref_mul(a, (uint8_t)b) == 1)
            return (uint8_t)b;
    return 0;
}

/* Byte b of packet i's symbol (docs/fec.md, "Symbols"). */
static uint8_t symbol_byte(const group *g, unsigned i, size_t b)
{
    if (b < g->len[i])
        return g->data[i][b];
    if (b == g->sym - 2)
        return (uint8_t)(g->len[i] >> 8);
    if (b == g->sym - 1)
        return (uint8_t)g->len[i];
    return 0;
}

/* Parity p is sum over j of 1 / ((k + p) xor j) times symbol j, whatever n
 * is: a plain reference, ISA-L's own matrices for n = 2 and n = 4, and
 * parity asked for alone or with its neighbours all agree; so do two
 * encoders. */
static void test_parity_is_deterministic(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    strata_fec_encoder *e2 = strata_fec_encoder_new(NULL);
    static group g;
    for (unsigned k = 1; k <= STRATA_FEC_MAX_DATA; k++) {
        uint8_t m2[STRATA_FEC_MAX_SYMBOLS * STRATA_FEC_MAX_DATA];
        uint8_t m4[STRATA_FEC_MAX_SYMBOLS * STRATA_FEC_MAX_DATA];
        gf_gen_cauchy1_matrix(m2, (int)k + 2, (int)k);
        gf_gen_cauchy1_matrix(m4, (int)k + 4, (int)k);
        CHECK_EQ_MEM(m2, m4, (size_t)(k + 2) * k);
        for (unsigned p = 0; p < 4; p++)
            for (unsigned j = 0; j < k; j++)
                CHECK_EQ_INT(m4[(k + p) * k + j], ref_inv((uint8_t)((k + p) ^ j)));

        fill_group(&g, k, r, 0);
        encode_group(e, &g);
        const uint8_t *in[STRATA_FEC_MAX_DATA];
        static uint8_t buf[STRATA_FEC_MAX_PARITY][MAXS];
        uint8_t *out[STRATA_FEC_MAX_PARITY];
        for (unsigned p = 0; p < STRATA_FEC_MAX_PARITY; p++)
            out[p] = buf[p];
        for (unsigned n = 1; n <= STRATA_FEC_MAX_PARITY; n++) {
            memset(buf, 0xa5, sizeof buf);
            CHECK_EQ_INT(strata_fec_encode(e2, k, data_ptrs(&g, in), g.len, 0, n, out, MAXS),
                         (int)g.sym);
            for (unsigned p = 0; p < n; p++)
                CHECK_EQ_MEM(buf[p], g.parity[p], g.sym);
        }
        for (unsigned first = 1; first < STRATA_FEC_MAX_PARITY; first++) {
            unsigned count = (unsigned)(1 + strata_rng_below(r, STRATA_FEC_MAX_PARITY - first));
            CHECK_EQ_INT(strata_fec_encode(e, k, in, g.len, first, count, out, MAXS), (int)g.sym);
            for (unsigned c = 0; c < count; c++)
                CHECK_EQ_MEM(buf[c], g.parity[first + c], g.sym);
        }
        for (unsigned p = 0; p < STRATA_FEC_MAX_PARITY; p++) {
            int same = 1;
            for (size_t b = 0; b < g.sym; b++) {
                uint8_t want = 0;
                for (unsigned j = 0; j < k; j++)
                    want ^= ref_mul(ref_inv((uint8_t)((k + p) ^ j)), symbol_byte(&g, j, b));
                same &= want == g.parity[p][b];
            }
            CHECK(same);
        }
    }
    strata_fec_encoder_del(e2);
    strata_fec_encoder_del(e);
}

/* One slot per pattern; the least recently used goes first. */
static void test_table_cache(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    strata_fec_decoder *d = strata_fec_decoder_new(NULL, 2);
    static group g;
    fill_group(&g, 10, r, 1);
    encode_group(e, &g);
    uint32_t all = (1u << 14) - 1;
    uint32_t a = all & ~1u, b = all & ~2u, c = all & ~(1u | 4u);
    static const struct {
        char pattern;
        uint64_t hits, misses, evictions;
    } steps[] = {{'a', 0, 1, 0}, {'a', 1, 1, 0}, {'b', 1, 2, 0}, {'a', 2, 2, 0},
                 {'c', 2, 3, 1}, {'a', 3, 3, 1}, {'b', 3, 4, 2}, {'c', 3, 5, 3}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint32_t mask = steps[i].pattern == 'a' ? a : steps[i].pattern == 'b' ? b : c;
        CHECK(decode_subset(d, &g, 4, mask) > 0);
        strata_fec_decoder_stats st;
        strata_fec_decoder_stats_get(d, &st);
        CHECK_EQ_U64(st.table_hits, steps[i].hits);
        CHECK_EQ_U64(st.table_misses, steps[i].misses);
        CHECK_EQ_U64(st.table_evictions, steps[i].evictions);
    }
    /* Nothing missing: no lookup at all, even with every parity there. */
    CHECK_EQ_INT(decode_subset(d, &g, 4, all), 0);
    strata_fec_decoder_stats st;
    strata_fec_decoder_stats_get(d, &st);
    CHECK_EQ_U64(st.table_hits + st.table_misses, 8);
    CHECK_EQ_U64(st.decodes, 8);
    strata_fec_decoder_del(d);
    strata_fec_encoder_del(e);
}

static void test_encode_arguments(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    static group g;
    fill_group(&g, 4, r, 1);
    g.len[0] = 100, g.len[1] = 0, g.len[2] = 7, g.len[3] = 1;
    encode_group(e, &g);
    CHECK_EQ_U64(g.sym, 102);
    const uint8_t *in[STRATA_FEC_MAX_DATA];
    data_ptrs(&g, in);
    uint8_t p0[MAXS], p1[MAXS];
    uint8_t *out[2] = {p0, p1};
    size_t big[1] = {MAXP + 1};

    CHECK_EQ_INT(strata_fec_symbol_bytes(0, g.len), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_symbol_bytes(17, g.len), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_symbol_bytes(1, NULL), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_symbol_bytes(1, big), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(NULL, 4, in, g.len, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 0, in, g.len, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 17, in, g.len, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, NULL, g.len, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, NULL, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 2, NULL, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 7, 2, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 9, 0, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 1, in, big, 0, 1, out, MAXS), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 2, out, 101), STRATA_ERR_NOSPACE);
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 0, NULL, 0), 102);
    in[2] = NULL; /* 7 bytes at NULL */
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 2, out, MAXS), STRATA_ERR_INVAL);
    in[1] = NULL, in[2] = g.data[2]; /* an empty packet may be NULL */
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 2, out, MAXS), 102);
    CHECK_EQ_MEM(p0, g.parity[0], 102);
    uint8_t *one[1] = {NULL};
    CHECK_EQ_INT(strata_fec_encode(e, 4, in, g.len, 0, 1, one, MAXS), STRATA_ERR_INVAL);

    strata_fec_encoder_del(e);
}

/* Calls of test_decode_arguments: its 4+2 group, packets 0 and 2 missing,
 * parity 0 and 1 held, with one argument changed. */
enum drop { NONE, DECODER, DATA, DATA_LEN, PARITY, OUT, OUT_LEN, OUT_2, LONG_3 };
static const struct decode_case {
    unsigned k, n;
    size_t parity_len, out_cap;
    enum drop drop; /* the argument made NULL (or packet 3 made too long) */
    int want;
} decode_cases[] = {
    {4, 2, 102, MAXP, DECODER, STRATA_ERR_INVAL},
    {0, 2, 102, MAXP, NONE, STRATA_ERR_INVAL},
    {17, 2, 102, MAXP, NONE, STRATA_ERR_INVAL},
    {4, 9, 102, MAXP, NONE, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, DATA, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, DATA_LEN, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, PARITY, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, OUT, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, OUT_LEN, STRATA_ERR_INVAL},
    {4, 2, 102, MAXP, OUT_2, STRATA_ERR_INVAL},
    {4, 2, 102, 99, NONE, STRATA_ERR_NOSPACE},
    /* Lengths that cannot belong to one group. */
    {4, 2, 1, MAXP, NONE, STRATA_ERR_RANGE},
    {4, 2, MAXS + 1, MAXP, NONE, STRATA_ERR_RANGE},
    {4, 2, 8, MAXP, NONE, STRATA_ERR_RANGE}, /* packet 2 has 7 bytes, more than 8 - 2 */
    {4, 2, 102, MAXP, LONG_3, STRATA_ERR_RANGE},
    /* Exactly the longest payload is room enough. */
    {4, 2, 102, 100, NONE, 2},
};

static void test_decode_arguments(strata_rng *r)
{
    strata_fec_encoder *e = strata_fec_encoder_new(NULL);
    strata_fec_decoder *d = strata_fec_decoder_new(NULL, 0);
    static group g;
    fill_group(&g, 4, r, 1);
    g.len[0] = 100, g.len[1] = 0, g.len[2] = 7, g.len[3] = 1;
    encode_group(e, &g);
    const uint8_t *data[4] = {NULL, g.data[1], NULL, g.data[3]};
    const uint8_t *par[2] = {g.parity[0], g.parity[1]};
    uint8_t r0[MAXP], r2[MAXP];
    uint8_t *rec[4] = {r0, NULL, r2, NULL};
    size_t rec_len[4] = {0};
    for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
        const struct decode_case *c = &decode_cases[i];
        size_t lens[4] = {g.len[0], g.len[1], g.len[2], c->drop == LONG_3 ? MAXP + 1 : g.len[3]};
        rec[2] = c->drop == OUT_2 ? NULL : r2;
        int rc = strata_fec_decode(
            c->drop == DECODER ? NULL : d, c->k, c->n, c->drop == DATA ? NULL : data,
            c->drop == DATA_LEN ? NULL : lens, c->drop == PARITY ? NULL : par, c->parity_len,
            c->drop == OUT ? NULL : rec, c->out_cap, c->drop == OUT_LEN ? NULL : rec_len);
        if (rc != c->want)
            fprintf(stderr, "decode case %zu:\n", i);
        CHECK_EQ_INT(rc, c->want);
    }
    CHECK_EQ_U64(rec_len[0], 100);
    CHECK_EQ_U64(rec_len[2], 7);
    CHECK_EQ_MEM(r0, g.data[0], 100);
    CHECK_EQ_MEM(r2, g.data[2], 7);
    size_t lens[4] = {g.len[0], g.len[1], g.len[2], g.len[3]};

    /* A parity symbol whose trailer is damaged: its packet's length no
     * longer fits, or its padding is no longer zero. */
    static uint8_t bad[MAXS];
    memcpy(bad, g.parity[1], g.sym);
    bad[g.sym - 2] ^= 0x40;
    par[1] = bad;
    CHECK_EQ_INT(strata_fec_decode(d, 4, 2, data, lens, par, 102, rec, MAXP, rec_len),
                 STRATA_ERR_RANGE);
    memcpy(bad, g.parity[1], g.sym);
    bad[50] ^= 1; /* packet 2's padding is rebuilt from it */
    CHECK_EQ_INT(strata_fec_decode(d, 4, 2, data, lens, par, 102, rec, MAXP, rec_len),
                 STRATA_ERR_RANGE);
    /* Fewer than k. */
    par[1] = NULL;
    CHECK_EQ_INT(strata_fec_decode(d, 4, 2, data, lens, par, 102, rec, MAXP, rec_len),
                 STRATA_ERR_TOO_FEW);
    strata_fec_decoder_stats st;
    strata_fec_decoder_stats_get(d, &st);
    CHECK_EQ_U64(st.too_few, 1);
    CHECK_EQ_U64(st.inconsistent, 6);

    CHECK(strata_fec_decoder_new(NULL, STRATA_FEC_MAX_CACHE_SLOTS + 1) == NULL);
    CHECK(strcmp(strata_strerror(STRATA_ERR_TOO_FEW), "unknown error") != 0);
    strata_fec_encoder_del(NULL);
    strata_fec_decoder_del(NULL);
    strata_fec_decoder_del(d);
    strata_fec_encoder_del(e);
}

/* Counts allocations and fails the n-th one. */
typedef struct failing {
    int calls, fail_at;
} failing;

static void *f_alloc(void *user, size_t size)
{
    failing *f = user;
    return ++f->calls == f->fail_at ? NULL : malloc(size);
}
static void *f_realloc(void *user, void *ptr, size_t size)
{
    failing *f = user;
    return ++f->calls == f->fail_at ? NULL : realloc(ptr, size);
}
static void f_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void test_alloc_failure(void)
{
    for (int at = 1; at <= 4; at++) {
        failing f = {0, at};
        strata_alloc a = {f_alloc, f_realloc, f_free, &f};
        strata_fec_encoder *e = strata_fec_encoder_new(&a);
        CHECK(at > 2 ? e != NULL : e == NULL);
        strata_fec_encoder_del(e);
        f.calls = 0;
        strata_fec_decoder *d = strata_fec_decoder_new(&a, 4);
        CHECK(at > 3 ? d != NULL : d == NULL);
        strata_fec_decoder_del(d);
    }
}

int main(void)
{
    strata_rng r;
    strata_rng_seed(&r, test_seed(11));
    test_every_subset(&r);
    test_random_subsets(&r);
    test_parity_is_deterministic(&r);
    test_table_cache(&r);
    test_encode_arguments(&r);
    test_decode_arguments(&r);
    test_alloc_failure();
    return test_summary("test_fec");
}
