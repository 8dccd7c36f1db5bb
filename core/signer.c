/*
 * The source's signer: see signer.h for the model.
 */
#include "signer.h"

#include <string.h>

enum { HASH = STRATA_MANIFEST_HASH_BYTES, LIST_BYTES = STRATA_MANIFEST_MAX_GROUPS * HASH };

int strata_signer_init(strata_signer *s, const strata_alloc *a, strata_channel_id channel,
                       const uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES], unsigned n_parity,
                       uint32_t batch_ms, size_t manifests, strata_fec_encoder *enc)
{
    memset(s, 0, sizeof *s);
    if (!sk || channel.v == 0 || n_parity > STRATA_WIRE_MAX_PARITY)
        return STRATA_ERR_INVAL;
    s->alloc = a;
    s->channel = channel;
    memcpy(s->sk, sk, sizeof s->sk);
    s->n_parity = (uint8_t)n_parity;
    s->batch_ns = STRATA_MS(batch_ms ? batch_ms : STRATA_SIGNER_DEFAULT_BATCH_MS);
    int err = strata_manifest_store_init(&s->store, a, manifests);
    if (err)
        goto fail_store;
    err = STRATA_ERR_NOMEM;
    if (n_parity) {
        s->enc = enc ? enc : (s->own_enc = strata_fec_encoder_new(a));
        s->phash = strata_mem_calloc(a, n_parity, LIST_BYTES);
        if (!s->enc || !s->phash)
            goto fail_parity;
        for (unsigned i = 0; i < n_parity; i++) {
            s->sym[i] = strata_mem_alloc(a, STRATA_FEC_MAX_SYMBOL_BYTES);
            if (!s->sym[i])
                goto fail_parity;
        }
    }
    return 0;

fail_parity:
    for (unsigned i = 0; i < n_parity; i++)
        strata_mem_free(a, s->sym[i]);
    strata_mem_free(a, s->phash);
    strata_fec_encoder_del(s->own_enc);
    strata_manifest_store_free(&s->store);
fail_store:
    memset(s, 0, sizeof *s);
    return err;
}

void strata_signer_free(strata_signer *s)
{
    for (unsigned i = 0; i < s->n_parity; i++)
        strata_mem_free(s->alloc, s->sym[i]);
    strata_mem_free(s->alloc, s->phash);
    strata_fec_encoder_del(s->own_enc);
    strata_manifest_store_free(&s->store);
    memset(s, 0, sizeof *s);
}

uint64_t strata_signer_deadline(const strata_signer *s)
{
    return s->open ? s->close_at : STRATA_NEVER;
}

/* The group ending at last_seq is whole in the store: its parity symbols
 * 0 .. n_parity - 1, hashed as the parity DATA a cluster would carry. */
static void hash_group_parity(strata_signer *s, uint64_t last_seq, const strata_pktstore *ps)
{
    const uint8_t *data[STRATA_FEC_MAX_DATA];
    size_t len[STRATA_FEC_MAX_DATA];
    uint64_t first = last_seq + 1 - s->k;
    for (unsigned j = 0; j < s->k; j++) {
        const strata_pktstore_entry *e = strata_pktstore_get(ps, first + j);
        /* The source stores every packet it sends; one gone from a store
         * smaller than a group cannot be, but hashes nothing wrong. */
        data[j] = e ? e->buf->data + e->payload_off : NULL;
        len[j] = e ? e->payload_len : 0;
    }
    int n = strata_fec_encode(s->enc, s->k, data, len, 0, s->n_parity, s->sym,
                              STRATA_FEC_MAX_SYMBOL_BYTES);
    for (unsigned i = 0; i < s->n_parity; i++)
        strata_manifest_hash_symbol(s->channel, first, s->k, i, s->sym[i], n > 0 ? (size_t)n : 0,
                                    s->phash + (size_t)i * LIST_BYTES + s->n_groups * HASH);
    s->n_groups++;
}

int strata_signer_add(strata_signer *s, const strata_msg_data *m, const strata_pktstore *ps,
                      unsigned k, uint64_t now)
{
    if (k == 0 || k > STRATA_WIRE_MAX_SUBSTREAMS)
        return STRATA_ERR_INVAL;
    if (!s->open) {
        s->open = 1;
        s->k = (uint8_t)k;
        s->first_seq = m->seq;
        s->count = 0;
        s->n_groups = 0;
        s->close_at = now + s->batch_ns > now ? now + s->batch_ns : STRATA_NEVER;
    }
    if (k != s->k || m->seq != s->first_seq + s->count || s->count >= STRATA_MANIFEST_MAX_PACKETS)
        return STRATA_ERR_INVAL;
    strata_manifest_hash_packet(m, s->hashes + (size_t)s->count * HASH);
    s->count++;
    if (s->n_parity && (m->seq + 1) % k == 0 && m->seq + 1 >= k)
        hash_group_parity(s, m->seq, ps);
    return s->count == STRATA_MANIFEST_MAX_PACKETS;
}

const strata_manifest_entry *strata_signer_close(strata_signer *s, int eos, uint64_t end_seq,
                                                 int *err)
{
    *err = 0;
    if (!s->open && !eos)
        return NULL;
    if (!s->open) {
        s->first_seq = end_seq;
        s->count = 0;
        s->n_groups = 0;
        s->k = 0;
    }
    s->open = 0;
    uint8_t n_parity = s->k ? s->n_parity : 0;
    uint8_t digests[STRATA_WIRE_MAX_PARITY * HASH];
    uint8_t lists[STRATA_WIRE_MAX_PARITY][STRATA_PARITY_HASHES_FIXED_BYTES + LIST_BYTES];
    int list_len[STRATA_WIRE_MAX_PARITY];
    for (unsigned i = 0; i < n_parity; i++) {
        strata_msg_parity_hashes ph = {.channel = s->channel,
                                       .first_seq = s->first_seq,
                                       .count = s->count,
                                       .k = s->k,
                                       .index = (uint8_t)i,
                                       .n_groups = (uint8_t)s->n_groups,
                                       .hashes = s->phash + (size_t)i * LIST_BYTES};
        list_len[i] = strata_manifest_encode_parity(lists[i], sizeof lists[i], &ph);
        if (list_len[i] < 0) {
            n_parity = 0; /* cannot happen: the groups follow from the batch */
            break;
        }
        strata_manifest_digest(lists[i], (size_t)list_len[i], digests + i * HASH);
    }
    strata_msg_manifest m = {
        .channel = s->channel,
        .first_seq = s->first_seq,
        .count = s->count,
        .flags = eos ? STRATA_MANIFEST_FLAG_EOS : 0,
        .k = n_parity ? s->k : 0,
        .n_parity = n_parity,
        .hashes = s->hashes,
        .digests = digests,
    };
    uint8_t buf[STRATA_MANIFEST_MAX_BYTES];
    int n = strata_manifest_encode(buf, sizeof buf, &m);
    if (n < 0 || strata_manifest_sign(buf, (size_t)n, s->sk) != 0) {
        *err = n < 0 ? n : STRATA_ERR_INVAL; /* cannot happen: the batch is valid */
        return NULL;
    }
    const strata_manifest_entry *e = strata_manifest_store_add(&s->store, buf, (size_t)n, err);
    if (!e)
        return NULL;
    strata_manifest_entry *w = strata_manifest_store_exact(&s->store, m.first_seq, m.count);
    for (unsigned i = 0; i < n_parity && w; i++)
        strata_manifest_store_set_parity(&s->store, w, i, lists[i], (size_t)list_len[i]);
    return e;
}
