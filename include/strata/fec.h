/*
 * Erasure code of the second level (SPEC C6): systematic Reed-Solomon over
 * GF(2^8) with ISA-L's Cauchy matrix, for groups of variable-length stream
 * packets. docs/fec.md describes the code; this is its API.
 *
 * A group is k data packets (payloads of 0..STRATA_FEC_MAX_PAYLOAD_BYTES
 * bytes). Each packet is coded as a symbol: its payload, zero bytes up to
 * the group's longest payload L, then its length as two big-endian bytes,
 * L + 2 bytes in all. Parity symbol p (0 <= p < STRATA_FEC_MAX_PARITY) is
 * row k + p of the Cauchy matrix times the k data symbols, L + 2 bytes. Any
 * k of the k + n symbols rebuild every data packet, bytes and length.
 *
 * Parity p depends only on k, p and the group's packets, never on n: every
 * node holding a group computes the same bytes for it, and n can change
 * from one group to the next without a gap (a group coded with n = 2 is a
 * prefix of the same group coded with n = 4).
 *
 * Both objects are pure computation: no I/O, no clock, no globals; memory
 * comes from the allocator given to _new. Neither is safe to share between
 * threads (each holds scratch space).
 */
#ifndef STRATA_FEC_H
#define STRATA_FEC_H

#include "strata/common.h"

enum strata_fec_limits {
    STRATA_FEC_MAX_DATA = 16,            /* k: data packets per group, 1..16 */
    STRATA_FEC_MAX_PARITY = 8,           /* n: parity symbols per group, 0..8 */
    STRATA_FEC_MAX_SYMBOLS = 24,         /* k + n; symbol indexes fit a uint32 mask */
    STRATA_FEC_MAX_PAYLOAD_BYTES = 1400, /* = STRATA_WIRE_MAX_PAYLOAD_BYTES */
    STRATA_FEC_LENGTH_BYTES = 2,         /* the length trailer of every symbol */
    STRATA_FEC_MAX_SYMBOL_BYTES = STRATA_FEC_MAX_PAYLOAD_BYTES + STRATA_FEC_LENGTH_BYTES,
    STRATA_FEC_DEFAULT_CACHE_SLOTS = 32, /* decode tables kept, one per loss pattern */
    STRATA_FEC_MAX_CACHE_SLOTS = 1024,
};

/* Bytes of every symbol (parity included) of a group of k packets of the
 * given lengths: the longest plus the length trailer. Returns
 * STRATA_ERR_INVAL for k outside 1..16, NULL data_len or a length above
 * STRATA_FEC_MAX_PAYLOAD_BYTES. */
int strata_fec_symbol_bytes(unsigned k, const size_t *data_len);

/* --- encoding ------------------------------------------------------------ */

typedef struct strata_fec_encoder strata_fec_encoder;

/* Creates an encoder holding the multiplication tables of every (k, p)
 * (70 KB) and its scratch space (22 KB). NULL when out of memory. */
strata_fec_encoder *strata_fec_encoder_new(const strata_alloc *a);
void strata_fec_encoder_del(strata_fec_encoder *e);

/* Computes parity symbols first_parity .. first_parity + count - 1 of the
 * group data[0..k-1] (data_len[i] bytes each; data[i] may be NULL when
 * data_len[i] is 0) into parity[0..count-1], each of parity_cap bytes.
 * The inputs are borrowed for the call. Returns the symbol length (every
 * parity symbol's length, strata_fec_symbol_bytes), or STRATA_ERR_INVAL
 * (k outside 1..16, first_parity + count > STRATA_FEC_MAX_PARITY, a NULL
 * pointer, a payload above STRATA_FEC_MAX_PAYLOAD_BYTES) or
 * STRATA_ERR_NOSPACE (parity_cap below the symbol length). Nothing is
 * written on error. count 0 writes nothing and returns the length. */
int strata_fec_encode(strata_fec_encoder *e, unsigned k, const uint8_t *const *data,
                      const size_t *data_len, unsigned first_parity, unsigned count,
                      uint8_t *const *parity, size_t parity_cap);

/* --- decoding ------------------------------------------------------------ */

typedef struct strata_fec_decoder strata_fec_decoder;

typedef struct strata_fec_decoder_stats {
    uint64_t table_hits;      /* decodes whose loss pattern's tables were cached */
    uint64_t table_misses;    /* decodes that built (and cached) tables */
    uint64_t table_evictions; /* cached patterns dropped for a new one (LRU) */
    uint64_t decodes;         /* calls that rebuilt at least one packet */
    uint64_t too_few;         /* calls with fewer than k symbols */
    uint64_t inconsistent;    /* groups rejected: lengths or padding do not agree */
} strata_fec_decoder_stats;

/* Creates a decoder that caches the decode tables of up to cache_slots loss
 * patterns (0: STRATA_FEC_DEFAULT_CACHE_SLOTS; at most
 * STRATA_FEC_MAX_CACHE_SLOTS), least recently used dropped first; a slot is
 * about 4 KB. NULL on a bad count or out of memory. */
strata_fec_decoder *strata_fec_decoder_new(const strata_alloc *a, size_t cache_slots);
void strata_fec_decoder_del(strata_fec_decoder *d);

/* Rebuilds the missing data packets of a group of k packets coded with n
 * parity symbols, from what a receiver holds:
 *   data[i], data_len[i]  packet i, or data[i] NULL when missing (i < k);
 *   parity[p]             parity symbol p, or NULL when missing (p < n);
 *                         parity may be NULL when n is 0;
 *   parity_len            the length of every parity symbol held (they all
 *                         have the group's symbol length); ignored when
 *                         none is held.
 * For every missing i, the packet is written to out[i] (out_cap bytes,
 * which must hold the group's longest payload: parity_len - 2 is enough)
 * and its length to out_len[i]; other out entries are untouched and may be
 * NULL. When more than k symbols are held, data packets are used first,
 * then parity by index, so a pattern always picks the same k rows.
 * Returns the number of packets rebuilt (0 when none was missing), or
 *   STRATA_ERR_TOO_FEW   fewer than k symbols held;
 *   STRATA_ERR_RANGE     the symbols do not belong to one group: a data
 *                        packet longer than parity_len - 2, parity_len
 *                        outside 2..STRATA_FEC_MAX_SYMBOL_BYTES, or a
 *                        rebuilt length or padding that does not fit
 *                        (out may then hold partial bytes);
 *   STRATA_ERR_INVAL     k or n out of range, a NULL array, a NULL out[i]
 *                        for a missing packet;
 *   STRATA_ERR_NOSPACE   out_cap below parity_len - 2;
 *   STRATA_ERR_NOMEM     no memory for a new cache slot's tables.
 * Inputs are borrowed for the call. */
int strata_fec_decode(strata_fec_decoder *d, unsigned k, unsigned n, const uint8_t *const *data,
                      const size_t *data_len, const uint8_t *const *parity, size_t parity_len,
                      uint8_t *const *out, size_t out_cap, size_t *out_len);

/* Copies the decoder's counters into *stats. */
void strata_fec_decoder_stats_get(const strata_fec_decoder *d, strata_fec_decoder_stats *stats);

#endif
