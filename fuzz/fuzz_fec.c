/*
 * libFuzzer target for the erasure code (core/fec.c, docs/fec.md).
 *
 * The input is a program (fuzz_prog.h). Its first byte picks one of two
 * cases, the rest of the input also fills packet and parity bytes:
 *  - a real group: k, n, packet lengths and a loss pattern from the input;
 *    the group is encoded, then decoded from the symbols the pattern keeps,
 *    twice (the second time from the table cache). With k or more symbols
 *    every packet must come back byte for byte; with fewer the decoder must
 *    say STRATA_ERR_TOO_FEW.
 *  - garbage: k, n, lengths, parity length, loss pattern and every byte from
 *    the input, in or out of range, given to the encoder and the decoder.
 *    Each must return a documented error or a result that keeps its
 *    promises (lengths within the group's).
 * Any broken promise aborts.
 */
#include "fuzz_prog.h"
#include "strata/fec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAXB = STRATA_FEC_MAX_SYMBOL_BYTES + 8, NBUF = 64 };

/* Every buffer of one run is on the heap with exactly the bytes promised,
 * so that ASan sees a read or write past any of them. */
typedef struct bufs {
    uint8_t *b[NBUF];
    unsigned n;
    const uint8_t *data;
    size_t size, at;
} bufs;

/* A buffer of len bytes (at least one), filled with the input's bytes
 * from its start, over and over. */
static uint8_t *new_buf(bufs *m, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    if (!b || m->n == NBUF)
        abort();
    for (size_t i = 0; i < len; i++)
        b[i] = m->size ? m->data[m->at++ % m->size] : 0;
    return m->b[m->n++] = b;
}

static void free_bufs(bufs *m)
{
    for (unsigned i = 0; i < m->n; i++)
        free(m->b[i]);
}

static int is_documented(int rc)
{
    return rc == STRATA_ERR_INVAL || rc == STRATA_ERR_NOSPACE || rc == STRATA_ERR_RANGE ||
           rc == STRATA_ERR_TOO_FEW;
}

static void real_group(strata_fec_encoder *e, prog *r, bufs *m)
{
    unsigned k = 1 + u8(r) % STRATA_FEC_MAX_DATA;
    unsigned n = u8(r) % (STRATA_FEC_MAX_PARITY + 1);
    size_t len[STRATA_FEC_MAX_DATA];
    const uint8_t *in[STRATA_FEC_MAX_DATA];
    for (unsigned i = 0; i < k; i++)
        len[i] = u16(r) % (STRATA_FEC_MAX_PAYLOAD_BYTES + 1);
    uint32_t keep = u32(r);
    size_t slots = 1 + u8(r) % 4;
    for (unsigned i = 0; i < k; i++)
        in[i] = new_buf(m, len[i]);
    int sym = strata_fec_symbol_bytes(k, len);
    if (sym < STRATA_FEC_LENGTH_BYTES)
        abort();
    uint8_t *par[STRATA_FEC_MAX_PARITY];
    for (unsigned p = 0; p < n; p++)
        par[p] = new_buf(m, (size_t)sym);
    if (strata_fec_encode(e, k, in, len, 0, n, par, (size_t)sym) != sym)
        abort();

    strata_fec_decoder *d = strata_fec_decoder_new(NULL, slots);
    if (!d)
        abort();
    const uint8_t *have[STRATA_FEC_MAX_DATA], *have_par[STRATA_FEC_MAX_PARITY];
    uint8_t *out[STRATA_FEC_MAX_DATA];
    size_t out_len[STRATA_FEC_MAX_DATA];
    size_t longest = (size_t)sym - STRATA_FEC_LENGTH_BYTES;
    unsigned held = 0, missing = 0;
    for (unsigned i = 0; i < k; i++) {
        have[i] = keep >> i & 1 ? in[i] : NULL;
        held += have[i] != NULL;
        missing += have[i] == NULL;
        out[i] = have[i] ? NULL : new_buf(m, longest);
    }
    for (unsigned p = 0; p < n; p++) {
        have_par[p] = keep >> (k + p) & 1 ? par[p] : NULL;
        held += have_par[p] != NULL;
    }
    for (int round = 0; round < 2; round++) {
        int rc =
            strata_fec_decode(d, k, n, have, len, have_par, (size_t)sym, out, longest, out_len);
        if (held < k) {
            if (rc != STRATA_ERR_TOO_FEW)
                abort();
            continue;
        }
        if (rc != (int)missing)
            abort();
        for (unsigned i = 0; i < k; i++)
            if (!have[i] && (out_len[i] != len[i] || memcmp(out[i], in[i], len[i]) != 0))
                abort();
    }
    strata_fec_decoder_stats st;
    strata_fec_decoder_stats_get(d, &st);
    if (held >= k && missing > 0 && (st.table_misses != 1 || st.table_hits != 1))
        abort();
    strata_fec_decoder_del(d);
}

static void garbage(strata_fec_encoder *e, prog *r, bufs *m)
{
    unsigned k = u8(r) % (STRATA_FEC_MAX_DATA + 3);
    unsigned n = u8(r) % (STRATA_FEC_MAX_PARITY + 3);
    unsigned first = u8(r) % (STRATA_FEC_MAX_PARITY + 3);
    size_t parity_len = u16(r) % MAXB, cap = u16(r) % MAXB;
    uint32_t keep = u32(r);
    enum { KK = STRATA_FEC_MAX_DATA + 2, NN = STRATA_FEC_MAX_PARITY + 2 };
    size_t len[KK], out_len[KK];
    const uint8_t *in[KK], *have_par[NN];
    uint8_t *out[KK], *par[NN];
    for (unsigned i = 0; i < KK; i++)
        len[i] = u16(r) % MAXB;
    for (unsigned i = 0; i < KK; i++) {
        in[i] = keep >> i & 1 ? new_buf(m, len[i]) : NULL;
        out[i] = new_buf(m, cap);
    }
    for (unsigned p = 0; p < NN; p++) {
        par[p] = new_buf(m, cap);
        have_par[p] = keep >> (KK + p) & 1 ? new_buf(m, parity_len) : NULL;
    }

    int sym = strata_fec_encode(e, k, in, len, first, n, par, cap);
    if (sym < 0 && !is_documented(sym))
        abort();
    if (sym >= 0 &&
        (k < 1 || (size_t)sym > STRATA_FEC_MAX_SYMBOL_BYTES || (n > 0 && (size_t)sym > cap)))
        abort();

    strata_fec_decoder *d = strata_fec_decoder_new(NULL, 1);
    if (!d)
        abort();
    memset(out_len, 0xff, sizeof out_len);
    int rc = strata_fec_decode(d, k, n, in, len, have_par, parity_len, out, cap, out_len);
    if (rc < 0 && !is_documented(rc))
        abort();
    if (rc > 0) {
        if (rc > STRATA_FEC_MAX_PARITY || parity_len < STRATA_FEC_LENGTH_BYTES)
            abort();
        for (unsigned i = 0; i < k; i++)
            if (!in[i] && out_len[i] > parity_len - STRATA_FEC_LENGTH_BYTES)
                abort();
    }
    strata_fec_decoder_del(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The encoder's tables are the same for every input: made once. */
    static strata_fec_encoder *e;
    if (!e && !(e = strata_fec_encoder_new(NULL)))
        abort();
    prog r = {data, data + size};
    bufs m = {.data = data, .size = size};
    if (u8(&r) & 1)
        garbage(e, &r, &m);
    else
        real_group(e, &r, &m);
    free_bufs(&m);
    return 0;
}
