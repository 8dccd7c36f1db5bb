/*
 * Signed streams (SPEC P3, docs/security.md): bytes added and CPU per
 * second of a 4 Mbit/s stream of 1,316-byte payloads (380 packets a
 * second), k = 4.
 *
 *   sign      the source's signer (core/signer.h): every packet hashed, a
 *             manifest per 64 packets, parity symbols 0 .. P - 1 of every
 *             group computed and hashed (P = 8, every symbol a cluster can
 *             make; and P = 0), Ed25519 signature;
 *   verify    a keyed peer's verifier (core/verify.h) as packets come
 *             before their manifest: each packet waits (a copy), the
 *             manifest's signature is checked, the batch is released (each
 *             packet hashed and compared); a parity symbol (n = 2) checked
 *             against its hash list, for a member of an erasure-coded
 *             cluster, and the list against the manifest's digest.
 *
 * Bytes: manifest datagrams against DATA datagrams (34 + 1,316 bytes), and
 * for a cluster member the two PARITY_HASHES lists against its data and
 * parity datagrams. CPU: process CPU time, best of five runs of 60 s of
 * stream, as a share of one core. Figures only; never pass or fail.
 *
 * Usage: bench_sign [IGNORED]  (scripts/bench.sh passes the strata path)
 */
#include "pktstore.h"
#include "signer.h"
#include "verify.h"

#include "strata/fec.h"
#include "strata/manifest.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum {
    K = 4,
    N = 2, /* parity trees of the cluster a verifying member is in */
    PAYLOAD = 1316,
    DATA_BYTES = 34 + PAYLOAD,
    STREAM_PKTS_PER_S = 4000000 / 8 / PAYLOAD,
    SECONDS = 60,
    PACKETS = SECONDS * STREAM_PKTS_PER_S,
    RUNS = 5,
};

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("bench", 5);
}

static uint8_t SK[crypto_sign_SECRETKEYBYTES], PK[crypto_sign_PUBLICKEYBYTES];

/* The stream, made once: each packet's datagram. */
static uint8_t *datagrams;
static size_t datagram_len[PACKETS];

static void make_stream(void)
{
    static uint8_t pay[PAYLOAD];
    datagrams = strata_mem_alloc(NULL, (size_t)PACKETS * STRATA_WIRE_MAX_DATAGRAM_BYTES);
    for (uint64_t seq = 0; seq < PACKETS; seq++) {
        randombytes_buf(pay, sizeof pay);
        strata_msg_data m = {.channel = chan(),
                             .seq = seq,
                             .substream = (uint8_t)(seq % K),
                             .send_ts_ns = seq * 1000000000u / STREAM_PKTS_PER_S,
                             .payload_len = PAYLOAD,
                             .payload = pay};
        int n = strata_wire_encode_data(datagrams + seq * STRATA_WIRE_MAX_DATAGRAM_BYTES,
                                        STRATA_WIRE_MAX_DATAGRAM_BYTES, &m);
        datagram_len[seq] = (size_t)n;
    }
}

static const uint8_t *dgram(uint64_t seq)
{
    return datagrams + seq * STRATA_WIRE_MAX_DATAGRAM_BYTES;
}

/* The signed stream: its manifests and the parity lists of index < N. */
typedef struct signed_stream {
    strata_buf *manifest[PACKETS / STRATA_MANIFEST_MAX_PACKETS + 2];
    strata_buf *list[PACKETS / STRATA_MANIFEST_MAX_PACKETS + 2][N];
    size_t n;
    uint64_t manifest_bytes, list_bytes;
} signed_stream;

static void keep(signed_stream *ss, const strata_manifest_entry *e)
{
    ss->manifest[ss->n] = strata_buf_ref(e->buf);
    ss->manifest_bytes += e->buf->len;
    for (unsigned i = 0; i < N && i < e->m.n_parity; i++) {
        ss->list[ss->n][i] = strata_buf_ref(e->parity[i]);
        ss->list_bytes += e->parity[i]->len;
    }
    ss->n++;
}

static void free_stream(signed_stream *ss)
{
    for (size_t j = 0; j < ss->n; j++) {
        strata_buf_unref(ss->manifest[j]);
        for (unsigned i = 0; i < N; i++)
            if (ss->list[j][i])
                strata_buf_unref(ss->list[j][i]);
    }
    memset(ss, 0, sizeof *ss);
}

/* The source's work: store each packet, hash it into the batch, close
 * full batches. The store is the source's whether it signs or not: a run
 * without the signer is timed too and taken off. */
static double run_sign(unsigned parity, signed_stream *ss, strata_fec_encoder *enc)
{
    double spent[2];
    for (int sign = 0; sign < 2; sign++) {
        strata_pktstore store;
        strata_signer s;
        strata_pktstore_init(&store, NULL, 8192);
        strata_signer_init(&s, NULL, chan(), SK, parity, 200, 8192 / 64 * 2, enc);
        double t0 = cpu_s();
        for (uint64_t seq = 0; seq < PACKETS; seq++) {
            strata_msg_data m;
            strata_wire_decode_data(dgram(seq), datagram_len[seq], &m);
            const strata_pktstore_entry *e;
            strata_pktstore_put_data(&store, &m, &e);
            int err;
            if (sign && strata_signer_add(&s, &m, &store, K, seq) > 0) {
                const strata_manifest_entry *me = strata_signer_close(&s, 0, seq + 1, &err);
                if (ss && me)
                    keep(ss, me);
            }
        }
        spent[sign] = cpu_s() - t0;
        strata_signer_free(&s);
        strata_pktstore_free(&store);
    }
    return spent[1] > spent[0] ? spent[1] - spent[0] : 0;
}

static void take(void *user, const uint8_t *buf, size_t len, strata_addr from, uint64_t now)
{
    (*(uint64_t *)user)++;
    (void)buf;
    (void)len;
    (void)from;
    (void)now;
}

/* A keyed peer's work for the whole stream; with parity, a cluster
 * member's: N symbols a group checked against the lists. */
static double run_verify(const signed_stream *ss, int parity, const uint8_t *const *symbols,
                         const size_t *symbol_len, uint64_t *taken)
{
    strata_verify v;
    strata_verify_init(&v, NULL, PK, 256, 1024, STRATA_S(2), STRATA_MS(300), STRATA_MS(150));
    strata_addr from = {1, 1};
    double t0 = cpu_s();
    uint64_t forged = 0;
    size_t batch = 0;
    for (uint64_t seq = 0; seq < PACKETS; seq++) {
        strata_msg_data m;
        strata_wire_decode_data(dgram(seq), datagram_len[seq], &m);
        strata_verify_packet(&v, &m, K, dgram(seq), datagram_len[seq], from, seq);
        if ((seq + 1) % STRATA_MANIFEST_MAX_PACKETS == 0 && batch < ss->n) {
            const strata_manifest_entry *e;
            strata_verify_manifest(&v, ss->manifest[batch]->data, ss->manifest[batch]->len, &e);
            strata_verify_release(&v, K, take, taken, seq, &forged);
            for (unsigned i = 0; parity && i < N; i++) {
                unsigned index;
                strata_verify_parity_list(&v, ss->list[batch][i]->data, ss->list[batch][i]->len, K,
                                          from, &index);
            }
            for (uint64_t g = seq + 1 - STRATA_MANIFEST_MAX_PACKETS; parity && g <= seq; g += K)
                for (unsigned i = 0; i < N; i++) {
                    strata_msg_data pm;
                    strata_wire_decode_data(symbols[(g / K) * N + i], symbol_len[(g / K) * N + i],
                                            &pm);
                    if (strata_verify_packet(&v, &pm, K, symbols[(g / K) * N + i],
                                             symbol_len[(g / K) * N + i], from, seq) == 0)
                        (*taken)++;
                }
            batch++;
        }
    }
    double spent = cpu_s() - t0;
    strata_verify_free(&v);
    return spent;
}

/* The parity datagrams a cluster member receives (symbols 0 .. N - 1). */
static void make_symbols(strata_fec_encoder *enc, uint8_t **symbols, size_t *symbol_len)
{
    for (uint64_t g = 0; g < PACKETS / K; g++) {
        const uint8_t *data[K];
        size_t len[K];
        for (unsigned j = 0; j < K; j++) {
            strata_msg_data m;
            strata_wire_decode_data(dgram(g * K + j), datagram_len[g * K + j], &m);
            data[j] = m.payload;
            len[j] = m.payload_len;
        }
        for (unsigned i = 0; i < N; i++) {
            uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES];
            uint8_t *out[1] = {sym};
            int n = strata_fec_encode(enc, K, data, len, i, 1, out, sizeof sym);
            strata_msg_data pm = {.channel = chan(),
                                  .seq = g * K,
                                  .substream = (uint8_t)(K + i),
                                  .flags = STRATA_DATA_FLAG_PARITY,
                                  .payload_len = (uint16_t)n,
                                  .payload = sym};
            symbols[g * N + i] = strata_mem_alloc(NULL, STRATA_WIRE_MAX_DATAGRAM_BYTES);
            symbol_len[g * N + i] = (size_t)strata_wire_encode_data(
                symbols[g * N + i], STRATA_WIRE_MAX_DATAGRAM_BYTES, &pm);
        }
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    crypto_sign_keypair(PK, SK);
    make_stream();
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    static uint8_t *symbols[PACKETS / K * N];
    static size_t symbol_len[PACKETS / K * N];
    make_symbols(enc, symbols, symbol_len);

    double data_bytes = (double)PACKETS * DATA_BYTES;
    double parity_bytes = 0;
    for (size_t i = 0; i < PACKETS / K * N; i++)
        parity_bytes += (double)symbol_len[i];
    printf("signed stream: %d s of 4 Mbit/s (%d packets of %d payload bytes a second), k = %d, "
           "a manifest per %d packets\n",
           SECONDS, STREAM_PKTS_PER_S, PAYLOAD, K, STRATA_MANIFEST_MAX_PACKETS);
    for (unsigned parity = 0; parity <= STRATA_WIRE_MAX_PARITY; parity += STRATA_WIRE_MAX_PARITY) {
        signed_stream ss;
        memset(&ss, 0, sizeof ss);
        double best_sign = 1e9;
        for (int r = 0; r < RUNS; r++) {
            free_stream(&ss);
            double t = run_sign(parity, &ss, enc);
            best_sign = t < best_sign ? t : best_sign;
        }
        printf("\n--sign-parity %u: manifest %zu bytes\n", parity,
               (size_t)(ss.manifest_bytes / ss.n));
        printf("  bytes added, every viewer:   %8.0f B/s  %.3f %% of the DATA bytes\n",
               (double)ss.manifest_bytes / SECONDS, 100.0 * (double)ss.manifest_bytes / data_bytes);
        if (parity)
            printf("  bytes added, cluster member (n = %d): %8.0f B/s  %.3f %% of its DATA and "
                   "parity bytes\n",
                   N, (double)(ss.manifest_bytes + ss.list_bytes) / SECONDS,
                   100.0 * (double)(ss.manifest_bytes + ss.list_bytes) /
                       (data_bytes + parity_bytes));
        printf(
            "  sign:   %7.0f ns a packet, %.2f ms of CPU a second of stream, %.3f %% of a core\n",
            best_sign * 1e9 / PACKETS, best_sign * 1e3 / SECONDS, 100.0 * best_sign / SECONDS);
        for (int par = 0; par <= (parity ? 1 : 0); par++) {
            double best = 1e9;
            uint64_t taken = 0;
            for (int r = 0; r < RUNS; r++) {
                taken = 0;
                double t =
                    run_verify(&ss, par, (const uint8_t *const *)symbols, symbol_len, &taken);
                best = t < best ? t : best;
            }
            printf("  verify%s: %7.0f ns a packet, %.2f ms of CPU a second of stream, %.3f %% of a "
                   "core (%llu vouched for)\n",
                   par ? " (cluster member, n = 2)" : "", best * 1e9 / PACKETS,
                   best * 1e3 / SECONDS, 100.0 * best / SECONDS, (unsigned long long)taken);
        }
        free_stream(&ss);
    }
    for (size_t i = 0; i < PACKETS / K * N; i++)
        strata_mem_free(NULL, symbols[i]);
    strata_mem_free(NULL, datagrams);
    strata_fec_encoder_del(enc);
    return 0;
}
