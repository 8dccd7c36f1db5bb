/*
 * The source's side of signed streams (SPEC P3, strata/manifest.h): it
 * hashes each packet the source emits into the open batch and closes the
 * batch into a signed MANIFEST when it holds STRATA_MANIFEST_MAX_PACKETS
 * packets, when it has been open batch_ns, or at the end of the stream.
 *
 * Parity. For every group of k packets whose last packet joins the batch
 * the signer computes parity symbols 0 .. n_parity - 1 (symbol i depends
 * only on k, i and the group, so they are the bytes any node of an
 * erasure-coded cluster makes or rebuilds) and hashes them; at close, the
 * hashes of symbol i make PARITY_HASHES i, whose digest the manifest
 * signs. Every manifest and hash list made is kept (a ring of the newest)
 * to answer MANIFEST_REQUESTs.
 *
 * Timer: the open batch's close deadline.
 */
#ifndef STRATA_SIGNER_H
#define STRATA_SIGNER_H

#include "strata/common.h"
#include "strata/fec.h"
#include "strata/manifest.h"

#include "pktstore.h"

enum strata_signer_defaults {
    STRATA_SIGNER_DEFAULT_BATCH_MS = 200,
};

typedef struct strata_signer {
    const strata_alloc *alloc;
    strata_channel_id channel;
    uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES];
    uint8_t n_parity;
    uint64_t batch_ns;
    strata_fec_encoder *enc; /* borrowed, or own_enc */
    strata_fec_encoder *own_enc;
    uint8_t *sym[STRATA_WIRE_MAX_PARITY]; /* scratch: one symbol each, made with own_enc */
    strata_manifest_store store;
    /* The open batch. */
    int open;
    uint8_t k; /* the stream's k when it opened */
    uint64_t first_seq;
    uint8_t count;
    uint64_t close_at; /* open + batch_ns */
    uint8_t hashes[STRATA_MANIFEST_MAX_PACKETS * STRATA_MANIFEST_HASH_BYTES];
    unsigned n_groups;
    uint8_t *phash; /* [n_parity][MAX_GROUPS * HASH_BYTES], NULL when n_parity is 0 */
} strata_signer;

/* Prepares a signer for channel with secret key sk, n_parity parity
 * indexes (0..STRATA_WIRE_MAX_PARITY) signed per group, batches closed
 * after batch_ms (0 = default), keeping `manifests` manifests. enc: an
 * encoder to borrow (NULL: its own, made when n_parity > 0). Returns 0,
 * STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_signer_init(strata_signer *s, const strata_alloc *a, strata_channel_id channel,
                       const uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES], unsigned n_parity,
                       uint32_t batch_ms, size_t manifests, strata_fec_encoder *enc);
void strata_signer_free(strata_signer *s);

/* Hashes data packet m (not an EOS marker), which the source has just
 * stored in ps, into the open batch (opening one at now if none is), with
 * its group's parity when m completes a group of k. Returns 1 when the
 * batch is full (close it now), 0, or STRATA_ERR_INVAL (m does not follow
 * the batch, or k differs from the batch's: close it first). */
int strata_signer_add(strata_signer *s, const strata_msg_data *m, const strata_pktstore *ps,
                      unsigned k, uint64_t now);

/* Closes the open batch into a signed manifest, kept in the store; with
 * eos the manifest also says the stream ends after it, and is made even
 * when no batch is open (0 packets from end_seq). Returns the entry, or
 * NULL with *err: 0 (nothing open and not eos) or STRATA_ERR_NOMEM. */
const strata_manifest_entry *strata_signer_close(strata_signer *s, int eos, uint64_t end_seq,
                                                 int *err);

/* When the open batch must be closed, or STRATA_NEVER. */
uint64_t strata_signer_deadline(const strata_signer *s);

#endif
