/*
 * Throughput of the erasure code (core/fec.c) on one core, at 1,316-byte
 * packets (7 MPEG-TS packets, what the source sends).
 *
 * For 10+4 and for k = 4, 8, 10, 16 with n = 1..4, prints:
 *  - encode: all n parity symbols of a group, per call;
 *  - decode, hot: n data packets lost (the first n), rebuilt from the n
 *    parity symbols, the same pattern every time (tables cached);
 *  - decode, cold: the same with a one-slot cache and two patterns in turn
 *    (data 0..n-1 lost, then data k-n..k-1), so that every call builds its
 *    tables; "-" where only one pattern loses n packets (n = k);
 * as GB/s of data (k x 1,316 bytes per group, 10^9 bytes), data packets
 * per second, and the share of one core a 4 Mbit/s stream (380 packets/s)
 * would take. Then ISA-L's ec_encode_data alone for 10+4, on contiguous
 * buffers, at 1,316 bytes and at 64 KiB, for comparison.
 *
 * Times are thread CPU time (CLOCK_THREAD_CPUTIME_ID), so another process
 * on the core does not count; each figure is the median of five runs of
 * about 0.1 s. Prints figures only.
 *
 * Usage: bench_fec [IGNORED]  (scripts/bench.sh passes the strata path)
 */
#include "strata/fec.h"

#include <isa-l/erasure_code.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PAYLOAD = 1316, RUNS = 5, STREAM_PKTS_PER_S = 4000000 / 8 / PAYLOAD };
static const double RUN_S = 0.1;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench {
    strata_fec_encoder *enc;
    strata_fec_decoder *hot, *cold;
    unsigned k, n;
    const uint8_t *data[STRATA_FEC_MAX_DATA];
    size_t len[STRATA_FEC_MAX_DATA];
    uint8_t *parity[STRATA_FEC_MAX_PARITY];
    uint8_t *out[STRATA_FEC_MAX_DATA];
    size_t out_len[STRATA_FEC_MAX_DATA];
} bench;

enum what { ENCODE, DECODE_HOT, DECODE_COLD };

/* One call of the kind measured; i alternates the cold patterns. */
static int one_call(bench *b, enum what w, unsigned long i)
{
    if (w == ENCODE)
        return strata_fec_encode(b->enc, b->k, b->data, b->len, 0, b->n, b->parity,
                                 STRATA_FEC_MAX_SYMBOL_BYTES);
    const uint8_t *held[STRATA_FEC_MAX_DATA], *par[STRATA_FEC_MAX_PARITY];
    unsigned first_lost = w == DECODE_COLD && i % 2 ? b->k - b->n : 0;
    for (unsigned j = 0; j < b->k; j++)
        held[j] = j >= first_lost && j < first_lost + b->n ? NULL : b->data[j];
    for (unsigned p = 0; p < b->n; p++)
        par[p] = b->parity[p];
    return strata_fec_decode(w == DECODE_COLD ? b->cold : b->hot, b->k, b->n, held, b->len, par,
                             PAYLOAD + STRATA_FEC_LENGTH_BYTES, b->out, PAYLOAD, b->out_len);
}

/* Calls of call(ctx, i) per second of CPU time, the median of RUNS runs. */
static double calls_per_s(int (*call)(void *ctx, unsigned long i), void *ctx)
{
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++) {
        unsigned long calls = 0;
        double t0 = cpu_s(), t;
        do {
            for (int j = 0; j < 64; j++, calls++)
                if (call(ctx, calls) < 0) {
                    fprintf(stderr, "bench_fec: call failed\n");
                    exit(1);
                }
            t = cpu_s() - t0;
        } while (t < RUN_S);
        rate[r] = (double)calls / t;
    }
    qsort(rate, RUNS, sizeof rate[0], cmp_double);
    return rate[RUNS / 2];
}

static int encode_call(void *b, unsigned long i)
{
    return one_call(b, ENCODE, i);
}
static int decode_hot_call(void *b, unsigned long i)
{
    return one_call(b, DECODE_HOT, i);
}
static int decode_cold_call(void *b, unsigned long i)
{
    return one_call(b, DECODE_COLD, i);
}

static void print_rate(const bench *b, double groups)
{
    double gbps = groups * b->k * PAYLOAD / 1e9, pkts = groups * b->k;
    printf(" %7.2f %9.2fM %7.4f%%", gbps, pkts / 1e6, 100.0 * STREAM_PKTS_PER_S / pkts);
}

static void run(bench *b, unsigned k, unsigned n)
{
    b->k = k, b->n = n;
    printf("%3u+%-2u", k, n);
    print_rate(b, calls_per_s(encode_call, b));
    print_rate(b, calls_per_s(decode_hot_call, b));
    if (n < k)
        print_rate(b, calls_per_s(decode_cold_call, b));
    else
        printf(" %7s %10s %8s", "-", "-", "-");
    printf("\n");
}

/* ISA-L's encoder alone, 10+4 on contiguous buffers of len bytes. */
enum { RAW_K = 10, RAW_N = 4 };
typedef struct raw {
    int len;
    uint8_t tables[32 * RAW_K * RAW_N], *buf[RAW_K + RAW_N];
} raw;

static int raw_call(void *ctx, unsigned long i)
{
    raw *w = ctx;
    ec_encode_data(w->len, RAW_K, RAW_N, w->tables, w->buf, w->buf + RAW_K);
    return 0;
}

static void raw_isal(int len)
{
    raw w = {.len = len};
    uint8_t matrix[(RAW_K + RAW_N) * RAW_K];
    gf_gen_cauchy1_matrix(matrix, RAW_K + RAW_N, RAW_K);
    ec_init_tables(RAW_K, RAW_N, matrix + RAW_K * RAW_K, w.tables);
    for (int i = 0; i < RAW_K + RAW_N; i++) {
        w.buf[i] = malloc((size_t)len);
        if (!w.buf[i])
            exit(1);
        for (int j = 0; j < len; j++)
            w.buf[i][j] = (uint8_t)(j * 31 + i);
    }
    double gbps = calls_per_s(raw_call, &w) * RAW_K * len / 1e9;
    printf("ISA-L ec_encode_data alone, 10+4, %d-byte buffers: %.2f GB/s of data "
           "(%.2f counting all k+n buffers, as ISA-L's perf tool does)\n",
           len, gbps, gbps * (RAW_K + RAW_N) / RAW_K);
    for (int i = 0; i < RAW_K + RAW_N; i++)
        free(w.buf[i]);
}

int main(void)
{
    static uint8_t data[STRATA_FEC_MAX_DATA][PAYLOAD];
    static uint8_t parity[STRATA_FEC_MAX_PARITY][STRATA_FEC_MAX_SYMBOL_BYTES];
    static uint8_t out[STRATA_FEC_MAX_DATA][PAYLOAD];
    bench b = {0};
    b.enc = strata_fec_encoder_new(NULL);
    b.hot = strata_fec_decoder_new(NULL, 0);
    b.cold = strata_fec_decoder_new(NULL, 1);
    if (!b.enc || !b.hot || !b.cold)
        return 1;
    strata_rng r;
    strata_rng_seed(&r, 1);
    for (unsigned i = 0; i < STRATA_FEC_MAX_DATA; i++) {
        for (size_t j = 0; j < PAYLOAD; j++)
            data[i][j] = (uint8_t)strata_rng_next(&r);
        b.data[i] = data[i];
        b.len[i] = PAYLOAD;
        b.out[i] = out[i];
    }
    for (unsigned p = 0; p < STRATA_FEC_MAX_PARITY; p++)
        b.parity[p] = parity[p];
    printf("erasure code, %d-byte packets, one core (thread CPU time), median of %d runs;\n"
           "GB/s of data, data packets/s, share of a core for a %d-packet/s (4 Mbit/s) stream\n",
           PAYLOAD, RUNS, STREAM_PKTS_PER_S);
    printf("%-6s %28s %28s %28s\n", "k+n", "encode (all n parity)", "decode hot (n lost)",
           "decode cold (n lost)");
    static const unsigned ks[] = {4, 8, 10, 16};
    unsigned configs[1 + 16][2] = {{10, 4}};
    unsigned nconfigs = 1;
    for (unsigned i = 0; i < 4; i++)
        for (unsigned n = 1; n <= 4; n++)
            configs[nconfigs][0] = ks[i], configs[nconfigs++][1] = n;
    for (unsigned c = 0; c < nconfigs; c++) {
        /* Real parity first, so that decoding rebuilds real packets. */
        b.k = configs[c][0], b.n = configs[c][1];
        if (one_call(&b, ENCODE, 0) < 0)
            return 1;
        run(&b, configs[c][0], configs[c][1]);
    }
    strata_fec_decoder_stats hot, cold;
    strata_fec_decoder_stats_get(b.hot, &hot);
    strata_fec_decoder_stats_get(b.cold, &cold);
    printf("table cache: hot %llu hits / %llu misses, cold %llu hits / %llu misses\n",
           (unsigned long long)hot.table_hits, (unsigned long long)hot.table_misses,
           (unsigned long long)cold.table_hits, (unsigned long long)cold.table_misses);
    raw_isal(PAYLOAD);
    raw_isal(64 * 1024);
    strata_fec_decoder_del(b.cold);
    strata_fec_decoder_del(b.hot);
    strata_fec_encoder_del(b.enc);
    return 0;
}
