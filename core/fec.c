/*
 * Systematic Reed-Solomon for the second level (SPEC C6), on ISA-L.
 *
 * The code. The generator is ISA-L's Cauchy matrix of k + 8 rows: rows
 * 0..k-1 the identity (the data symbols go out as they are), row k + p the
 * coefficients 1 / ((k + p) xor j) for column j in GF(2^8) (polynomial
 * 0x11d). A row depends on k and its own index only, so the matrix for
 * n < 8 parity symbols is the first k + n rows of the one for 8: parity p
 * is the same bytes whatever n is, and whoever holds the group computes
 * it. Every square submatrix of [I; Cauchy] is invertible (the x's k..k+7
 * and y's 0..k-1 are distinct), so any k of the k + n symbols decode.
 *
 * Symbols. Packet i of a group is the symbol payload, zeros up to the
 * group's longest payload L, and the payload length as two big-endian
 * bytes; all k + n symbols have L + 2 bytes. The trailer makes a rebuilt
 * packet carry its own length, and putting it last lets both directions
 * read the caller's payloads in place: the bytes below the group's
 * shortest payload (all but the last 64 when every packet has 1,316
 * bytes) are coded straight from the caller's buffers, and only the rest
 * of each symbol (padding and trailer among it) is assembled in scratch
 * space (shared_prefix says why at least 64 bytes).
 *
 * Tables. ISA-L multiplies with tables made by ec_init_tables. The encoder
 * makes those of every k once: for all 8 parity rows together (a call
 * for parity 0..c-1 uses their first c rows) and for each row alone (a
 * call for parity p..p+c-1, p > 0, codes row by row), because the size
 * of a row's tables is ISA-L's business (it may differ between versions
 * and kernels; 32 bytes a coefficient is the most) and only "rows one
 * after another" is sure. The decoder's tables depend on
 * which k symbols it decodes from; they are kept per (k, mask of those
 * symbols' indexes) in a fixed set of slots, least recently used first out,
 * so decoding allocates nothing.
 */
#include "strata/fec.h"
#include "strata/wire.h"

#include <isa-l/erasure_code.h>
#include <string.h>

_Static_assert((int)STRATA_FEC_MAX_PAYLOAD_BYTES == (int)STRATA_WIRE_MAX_PAYLOAD_BYTES,
               "a group codes any data payload the wire carries");
_Static_assert(STRATA_FEC_MAX_SYMBOLS == STRATA_FEC_MAX_DATA + STRATA_FEC_MAX_PARITY &&
                   STRATA_FEC_MAX_SYMBOLS <= 32,
               "symbol indexes fit the uint32 masks of the table cache");

enum {
    GF_TABLE_BYTES = 32, /* ISA-L's table bytes per coefficient, at most */
    ROW_TABLE_MAX_BYTES = GF_TABLE_BYTES * STRATA_FEC_MAX_DATA,
    SLOT_TABLE_BYTES = ROW_TABLE_MAX_BYTES * STRATA_FEC_MAX_PARITY,
    /* Per k: the table of all parity rows, then one table per row. */
    K_TABLE_BYTES = 2 * STRATA_FEC_MAX_PARITY * GF_TABLE_BYTES,
    TAIL_MIN_BYTES = 64, /* see shared_prefix */
};

/* ISA-L's kernels take non-const source pointers but only read them. */
static uint8_t *unconst(const uint8_t *p)
{
    return (uint8_t *)(uintptr_t)p;
}

static void put_be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t get_be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

int strata_fec_symbol_bytes(unsigned k, const size_t *data_len)
{
    if (k < 1 || k > STRATA_FEC_MAX_DATA || !data_len)
        return STRATA_ERR_INVAL;
    size_t longest = 0;
    for (unsigned i = 0; i < k; i++) {
        if (data_len[i] > STRATA_FEC_MAX_PAYLOAD_BYTES)
            return STRATA_ERR_INVAL;
        if (data_len[i] > longest)
            longest = data_len[i];
    }
    return (int)(longest + STRATA_FEC_LENGTH_BYTES);
}

/* The generator rows k .. k + 7 (k x 8 coefficients), as ISA-L makes them. */
static void parity_rows(unsigned k, uint8_t *rows)
{
    uint8_t m[STRATA_FEC_MAX_SYMBOLS * STRATA_FEC_MAX_DATA];
    gf_gen_cauchy1_matrix(m, (int)(k + STRATA_FEC_MAX_PARITY), (int)k);
    memcpy(rows, m + (size_t)k * k, (size_t)k * STRATA_FEC_MAX_PARITY);
}

/* The bytes coded in place: every source has them of its own (the
 * shortest src_len), and the last TAIL_MIN_BYTES of a symbol, trailer
 * included, always go through scratch. The trailer has to (a rebuilt
 * packet's length is read there), and ISA-L codes runs below 64 bytes
 * one byte at a time: a 2-byte tail cost 10+4 a third of its speed. */
static size_t shared_prefix(unsigned k, const size_t *src_len, size_t sym)
{
    size_t prefix = sym > TAIL_MIN_BYTES ? sym - TAIL_MIN_BYTES : 0;
    for (unsigned j = 0; j < k; j++)
        if (src_len[j] < prefix)
            prefix = src_len[j];
    return prefix;
}

/*
 * Codes `rows` output symbols of sym bytes from k source symbols with the
 * tables tbls. Source j is src[j]: src_len[j] bytes of its own, below sym
 * when it is a data packet (then padding and the length trailer follow),
 * sym when it is a parity symbol. prefix comes from shared_prefix: bytes
 * below it are read in place and written to out_head[r]; the rest (sym -
 * prefix bytes, the trailer among them) is assembled in scratch (k rows of
 * sym - prefix bytes) and written to out_tail[r].
 */
static void code_symbols(unsigned k, unsigned rows, uint8_t *tbls, const uint8_t *const *src,
                         const size_t *src_len, size_t sym, size_t prefix, uint8_t **out_head,
                         uint8_t **out_tail, uint8_t *scratch)
{
    uint8_t *in[STRATA_FEC_MAX_DATA];
    size_t tail = sym - prefix;
    if (prefix > 0) {
        for (unsigned j = 0; j < k; j++)
            in[j] = unconst(src[j]);
        ec_encode_data((int)prefix, (int)k, (int)rows, tbls, in, out_head);
    }
    for (unsigned j = 0; j < k; j++) {
        if (src_len[j] >= sym) {
            in[j] = unconst(src[j]) + prefix;
            continue;
        }
        uint8_t *row = scratch + (size_t)j * tail;
        size_t own = src_len[j] - prefix;
        if (own > 0)
            memcpy(row, src[j] + prefix, own);
        memset(row + own, 0, tail - own - STRATA_FEC_LENGTH_BYTES);
        put_be16(row + tail - STRATA_FEC_LENGTH_BYTES, src_len[j]);
        in[j] = row;
    }
    ec_encode_data((int)tail, (int)k, (int)rows, tbls, in, out_tail);
}

/* --- encoder ------------------------------------------------------------- */

struct strata_fec_encoder {
    const strata_alloc *alloc;
    uint8_t *tables; /* per k, K_TABLE_BYTES * k bytes at tables_of(k) */
    uint8_t scratch[STRATA_FEC_MAX_DATA * STRATA_FEC_MAX_SYMBOL_BYTES];
};

static uint8_t *tables_of(const strata_fec_encoder *e, unsigned k)
{
    return e->tables + (size_t)K_TABLE_BYTES * k * (k - 1) / 2;
}

/* Row p's own table for k, after the table of all rows. */
static uint8_t *row_table_of(const strata_fec_encoder *e, unsigned k, unsigned p)
{
    return tables_of(e, k) + (size_t)GF_TABLE_BYTES * k * (STRATA_FEC_MAX_PARITY + p);
}

strata_fec_encoder *strata_fec_encoder_new(const strata_alloc *a)
{
    strata_fec_encoder *e = strata_mem_calloc(a, 1, sizeof *e);
    if (!e)
        goto fail_encoder;
    e->alloc = a;
    unsigned all_k = STRATA_FEC_MAX_DATA * (STRATA_FEC_MAX_DATA + 1) / 2;
    e->tables = strata_mem_alloc(a, (size_t)K_TABLE_BYTES * all_k);
    if (!e->tables)
        goto fail_tables;
    for (unsigned k = 1; k <= STRATA_FEC_MAX_DATA; k++) {
        uint8_t rows[STRATA_FEC_MAX_PARITY * STRATA_FEC_MAX_DATA];
        parity_rows(k, rows);
        ec_init_tables((int)k, STRATA_FEC_MAX_PARITY, rows, tables_of(e, k));
        for (unsigned p = 0; p < STRATA_FEC_MAX_PARITY; p++)
            ec_init_tables((int)k, 1, rows + (size_t)p * k, row_table_of(e, k, p));
    }
    return e;

fail_tables:
    strata_mem_free(a, e);
fail_encoder:
    return NULL;
}

void strata_fec_encoder_del(strata_fec_encoder *e)
{
    if (!e)
        return;
    strata_mem_free(e->alloc, e->tables);
    strata_mem_free(e->alloc, e);
}

int strata_fec_encode(strata_fec_encoder *e, unsigned k, const uint8_t *const *data,
                      const size_t *data_len, unsigned first_parity, unsigned count,
                      uint8_t *const *parity, size_t parity_cap)
{
    if (!e || !data || (count > 0 && !parity) || first_parity > STRATA_FEC_MAX_PARITY ||
        count > STRATA_FEC_MAX_PARITY - first_parity)
        return STRATA_ERR_INVAL;
    int sym = strata_fec_symbol_bytes(k, data_len);
    if (sym < 0)
        return sym;
    for (unsigned i = 0; i < k; i++)
        if (!data[i] && data_len[i] > 0)
            return STRATA_ERR_INVAL;
    for (unsigned r = 0; r < count; r++)
        if (!parity[r])
            return STRATA_ERR_INVAL;
    if (count == 0)
        return sym;
    if (parity_cap < (size_t)sym)
        return STRATA_ERR_NOSPACE;

    size_t prefix = shared_prefix(k, data_len, (size_t)sym);
    uint8_t *head[STRATA_FEC_MAX_PARITY], *tail[STRATA_FEC_MAX_PARITY];
    for (unsigned r = 0; r < count; r++) {
        head[r] = parity[r];
        tail[r] = parity[r] + prefix;
    }
    if (first_parity == 0) {
        code_symbols(k, count, tables_of(e, k), data, data_len, (size_t)sym, prefix, head, tail,
                     e->scratch);
    } else {
        for (unsigned r = 0; r < count; r++)
            code_symbols(k, 1, row_table_of(e, k, first_parity + r), data, data_len, (size_t)sym,
                         prefix, &head[r], &tail[r], e->scratch);
    }
    return sym;
}

/* --- decoder ------------------------------------------------------------- */

/* The decode tables of one loss pattern: which k symbols (mask of their
 * indexes, parity p being k + p) rebuild the missing data packets. */
typedef struct table_slot {
    uint64_t last_use; /* 0: the slot is empty */
    uint32_t mask;
    unsigned k;
    uint8_t *tables; /* SLOT_TABLE_BYTES */
} table_slot;

struct strata_fec_decoder {
    const strata_alloc *alloc;
    table_slot *slots;
    size_t nslots;
    uint8_t *slot_tables;
    uint64_t uses; /* counts lookups, orders the slots for LRU */
    strata_fec_decoder_stats stats;
    uint8_t src_scratch[STRATA_FEC_MAX_DATA * STRATA_FEC_MAX_SYMBOL_BYTES];
    uint8_t out_scratch[STRATA_FEC_MAX_PARITY * STRATA_FEC_MAX_SYMBOL_BYTES];
};

strata_fec_decoder *strata_fec_decoder_new(const strata_alloc *a, size_t cache_slots)
{
    if (cache_slots == 0)
        cache_slots = STRATA_FEC_DEFAULT_CACHE_SLOTS;
    if (cache_slots > STRATA_FEC_MAX_CACHE_SLOTS)
        goto fail_args;
    strata_fec_decoder *d = strata_mem_calloc(a, 1, sizeof *d);
    if (!d)
        goto fail_decoder;
    d->alloc = a;
    d->nslots = cache_slots;
    d->slots = strata_mem_calloc(a, cache_slots, sizeof *d->slots);
    if (!d->slots)
        goto fail_slots;
    d->slot_tables = strata_mem_alloc(a, cache_slots * SLOT_TABLE_BYTES);
    if (!d->slot_tables)
        goto fail_slot_tables;
    for (size_t s = 0; s < cache_slots; s++)
        d->slots[s].tables = d->slot_tables + s * SLOT_TABLE_BYTES;
    return d;

fail_slot_tables:
    strata_mem_free(a, d->slots);
fail_slots:
    strata_mem_free(a, d);
fail_decoder:
fail_args:
    return NULL;
}

void strata_fec_decoder_del(strata_fec_decoder *d)
{
    if (!d)
        return;
    strata_mem_free(d->alloc, d->slot_tables);
    strata_mem_free(d->alloc, d->slots);
    strata_mem_free(d->alloc, d);
}

void strata_fec_decoder_stats_get(const strata_fec_decoder *d, strata_fec_decoder_stats *stats)
{
    *stats = d->stats;
}

/* Tables that rebuild data packets missing[0..nmiss-1] from the symbols
 * chosen[0..k-1]: the rows of the inverse of the chosen generator rows. */
static int build_decode_tables(unsigned k, const unsigned *chosen, const unsigned *missing,
                               unsigned nmiss, uint8_t *tables)
{
    uint8_t gen[STRATA_FEC_MAX_SYMBOLS * STRATA_FEC_MAX_DATA];
    uint8_t sub[STRATA_FEC_MAX_DATA * STRATA_FEC_MAX_DATA];
    uint8_t inv[STRATA_FEC_MAX_DATA * STRATA_FEC_MAX_DATA];
    uint8_t rows[STRATA_FEC_MAX_PARITY * STRATA_FEC_MAX_DATA];
    gf_gen_cauchy1_matrix(gen, (int)(k + STRATA_FEC_MAX_PARITY), (int)k);
    for (unsigned i = 0; i < k; i++)
        memcpy(sub + (size_t)i * k, gen + (size_t)chosen[i] * k, k);
    /* Cannot fail for a Cauchy generator; a singular matrix would be a bug
     * in the library, reported rather than decoded wrongly. */
    if (gf_invert_matrix(sub, inv, (int)k) != 0)
        return STRATA_ERR_RANGE;
    for (unsigned r = 0; r < nmiss; r++)
        memcpy(rows + (size_t)r * k, inv + (size_t)missing[r] * k, k);
    ec_init_tables((int)k, (int)nmiss, rows, tables);
    return 0;
}

/* The cached tables of (k, mask), built into the least recently used slot
 * on a miss. NULL only if the generator rows were singular. */
static uint8_t *decode_tables(strata_fec_decoder *d, unsigned k, uint32_t mask,
                              const unsigned *chosen, const unsigned *missing, unsigned nmiss)
{
    table_slot *victim = &d->slots[0];
    d->uses++;
    for (size_t s = 0; s < d->nslots; s++) {
        table_slot *slot = &d->slots[s];
        if (slot->last_use != 0 && slot->k == k && slot->mask == mask) {
            slot->last_use = d->uses;
            d->stats.table_hits++;
            return slot->tables;
        }
        if (slot->last_use < victim->last_use)
            victim = slot;
    }
    d->stats.table_misses++;
    if (victim->last_use != 0)
        d->stats.table_evictions++;
    victim->last_use = 0;
    if (build_decode_tables(k, chosen, missing, nmiss, victim->tables) != 0)
        return NULL;
    victim->k = k;
    victim->mask = mask;
    victim->last_use = d->uses;
    return victim->tables;
}

/* Checks a rebuilt symbol (head: its first prefix bytes, in out; tail: the
 * rest, sym - prefix bytes) and moves its payload into out. Returns the
 * payload length, or STRATA_ERR_RANGE when the trailer or the padding do
 * not describe a packet of this group. */
static int finish_packet(uint8_t *out, const uint8_t *tail, size_t sym, size_t prefix)
{
    size_t longest = sym - STRATA_FEC_LENGTH_BYTES;
    size_t len = get_be16(tail + (sym - prefix) - STRATA_FEC_LENGTH_BYTES);
    if (len > longest)
        return STRATA_ERR_RANGE;
    for (size_t i = len; i < longest; i++)
        if ((i < prefix ? out[i] : tail[i - prefix]) != 0)
            return STRATA_ERR_RANGE;
    if (len > prefix)
        memcpy(out + prefix, tail, len - prefix);
    return (int)len;
}

int strata_fec_decode(strata_fec_decoder *d, unsigned k, unsigned n, const uint8_t *const *data,
                      const size_t *data_len, const uint8_t *const *parity, size_t parity_len,
                      uint8_t *const *out, size_t out_cap, size_t *out_len)
{
    if (!d || k < 1 || k > STRATA_FEC_MAX_DATA || n > STRATA_FEC_MAX_PARITY || !data || !data_len ||
        (n > 0 && !parity))
        return STRATA_ERR_INVAL;
    unsigned have_data = 0, have_parity = 0;
    for (unsigned i = 0; i < k; i++) {
        if (!data[i])
            continue;
        if (data_len[i] > STRATA_FEC_MAX_PAYLOAD_BYTES)
            goto inconsistent;
        have_data++;
    }
    if (have_data == k)
        return 0;
    for (unsigned p = 0; p < n; p++)
        have_parity += parity[p] != NULL;
    if (have_data + have_parity < k) {
        d->stats.too_few++;
        return STRATA_ERR_TOO_FEW;
    }
    if (parity_len < STRATA_FEC_LENGTH_BYTES || parity_len > STRATA_FEC_MAX_SYMBOL_BYTES)
        goto inconsistent;
    size_t sym = parity_len, longest = sym - STRATA_FEC_LENGTH_BYTES;
    for (unsigned i = 0; i < k; i++)
        if (data[i] && data_len[i] > longest)
            goto inconsistent;
    if (!out || !out_len)
        return STRATA_ERR_INVAL;
    for (unsigned i = 0; i < k; i++)
        if (!data[i] && !out[i])
            return STRATA_ERR_INVAL;
    if (out_cap < longest)
        return STRATA_ERR_NOSPACE;

    /* Data packets first, then parity by index: the same pattern always
     * picks the same rows, and so the same cached tables. */
    const uint8_t *src[STRATA_FEC_MAX_DATA];
    size_t src_len[STRATA_FEC_MAX_DATA];
    unsigned chosen[STRATA_FEC_MAX_DATA], missing[STRATA_FEC_MAX_DATA];
    unsigned nchosen = 0, nmiss = 0;
    uint32_t mask = 0;
    for (unsigned i = 0; i < k; i++) {
        if (data[i]) {
            src[nchosen] = data[i];
            src_len[nchosen] = data_len[i];
            chosen[nchosen++] = i;
            mask |= 1u << i;
        } else {
            missing[nmiss++] = i;
        }
    }
    for (unsigned p = 0; p < n && nchosen < k; p++) {
        if (!parity[p])
            continue;
        src[nchosen] = parity[p];
        src_len[nchosen] = sym;
        chosen[nchosen++] = k + p;
        mask |= 1u << (k + p);
    }

    uint8_t *tables = decode_tables(d, k, mask, chosen, missing, nmiss);
    if (!tables)
        goto inconsistent;
    size_t prefix = shared_prefix(k, src_len, sym);
    uint8_t *head[STRATA_FEC_MAX_PARITY], *tail[STRATA_FEC_MAX_PARITY];
    for (unsigned r = 0; r < nmiss; r++) {
        head[r] = out[missing[r]];
        tail[r] = d->out_scratch + (size_t)r * (sym - prefix);
    }
    code_symbols(k, nmiss, tables, src, src_len, sym, prefix, head, tail, d->src_scratch);
    for (unsigned r = 0; r < nmiss; r++) {
        int len = finish_packet(head[r], tail[r], sym, prefix);
        if (len < 0)
            goto inconsistent;
        out_len[missing[r]] = (size_t)len;
    }
    d->stats.decodes++;
    return (int)nmiss;

inconsistent:
    d->stats.inconsistent++;
    return STRATA_ERR_RANGE;
}
