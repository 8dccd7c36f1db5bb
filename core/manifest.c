/*
 * Signed streams: see strata/manifest.h for the model, protocol.md 3.11
 * for the layouts and docs/security.md for the choices.
 *
 * The codec follows wire.c's rules (one *_valid() per message that both
 * sides call, a bounds-checked reader, canonical encodings). The hashes
 * are libsodium's BLAKE2b (crypto_generichash) at its smallest output,
 * truncated; signatures are its Ed25519 (crypto_sign_detached), which is
 * deterministic and needs no randomness.
 *
 * The store is a ring of the newest manifests. A lookup scans it from the
 * newest, which is where nearly every packet asked about lies.
 */
#include "strata/manifest.h"

#include "wire_io.h"

#include <sodium.h>
#include <string.h>

enum manifest_sizes {
    HASH = STRATA_MANIFEST_HASH_BYTES,
    SIG = STRATA_MANIFEST_SIG_BYTES,
    PACKET_PREFIX_BYTES = 8 + 8 + 1 + 1 + 2, /* channel seq substream kind len */
};

/* --- groups --------------------------------------------------------------- */

unsigned strata_manifest_groups(uint64_t first_seq, unsigned count, unsigned k)
{
    if (k == 0)
        return 0;
    /* Group g ends at g*k + k - 1, inside the range iff (g + 1)k is in
     * (first_seq, first_seq + count]. */
    return (unsigned)((first_seq + count) / k - first_seq / k);
}

uint64_t strata_manifest_first_group(uint64_t first_seq, unsigned k)
{
    return k ? first_seq / k : 0;
}

/* --- MANIFEST (protocol.md 3.11.1) ---------------------------------------- */

static size_t manifest_bytes(const strata_msg_manifest *m)
{
    return (size_t)STRATA_MANIFEST_FIXED_BYTES + (size_t)HASH * (m->count + m->n_parity) + SIG;
}

static int manifest_valid(const strata_msg_manifest *m)
{
    if (m->channel.v == 0 || (m->flags & ~(unsigned)STRATA_MANIFEST_FLAGS_KNOWN))
        return 0;
    if (m->count > STRATA_MANIFEST_MAX_PACKETS || m->first_seq > UINT64_MAX - m->count)
        return 0;
    if (m->count == 0 && !(m->flags & STRATA_MANIFEST_FLAG_EOS))
        return 0;
    if (m->n_parity > STRATA_WIRE_MAX_PARITY || m->k > STRATA_WIRE_MAX_SUBSTREAMS)
        return 0;
    return (m->k == 0) == (m->n_parity == 0);
}

int strata_manifest_encode(uint8_t *buf, size_t buflen, const strata_msg_manifest *m)
{
    int valid =
        manifest_valid(m) && (m->count == 0 || m->hashes) && (m->n_parity == 0 || m->digests);
    size_t need = valid ? manifest_bytes(m) : 0;
    int err = encode_prelude(buf, buflen, valid, need);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_MANIFEST);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->first_seq);
    p = put_u8(p, m->count);
    p = put_u8(p, m->flags);
    p = put_u8(p, m->k);
    p = put_u8(p, m->n_parity);
    p = put_bytes(p, m->hashes, (size_t)HASH * m->count);
    p = put_bytes(p, m->digests, (size_t)HASH * m->n_parity);
    if (m->sig)
        put_bytes(p, m->sig, SIG);
    else
        memset(p, 0, SIG);
    return (int)need;
}

int strata_manifest_decode(const uint8_t *buf, size_t buflen, strata_msg_manifest *m)
{
    reader r;
    int err = open_message(&r, buf, buflen, STRATA_MSG_MANIFEST);
    if (err)
        return err;
    m->channel.v = get_u64(&r);
    m->first_seq = get_u64(&r);
    m->count = get_u8(&r);
    if (!r.err && m->count > STRATA_MANIFEST_MAX_PACKETS)
        return STRATA_ERR_RANGE;
    m->flags = get_u8(&r);
    m->k = get_u8(&r);
    m->n_parity = get_u8(&r);
    if (!r.err && m->n_parity > STRATA_WIRE_MAX_PARITY)
        return STRATA_ERR_RANGE;
    m->hashes = get_bytes(&r, (size_t)HASH * m->count);
    m->digests = get_bytes(&r, (size_t)HASH * m->n_parity);
    m->sig = get_bytes(&r, SIG);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return manifest_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- MANIFEST_REQUEST (protocol.md 3.11.2) -------------------------------- */

static int request_valid(const strata_msg_manifest_request *m)
{
    return m->node.v != 0 && m->channel.v != 0 && m->part <= STRATA_MANIFEST_PART_MAX;
}

int strata_manifest_encode_request(uint8_t *buf, size_t buflen,
                                   const strata_msg_manifest_request *m)
{
    int err = encode_prelude(buf, buflen, request_valid(m), STRATA_MANIFEST_REQUEST_BYTES);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_MANIFEST_REQUEST);
    p = put_u64(p, m->node.v);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->seq);
    put_u8(p, m->part);
    return STRATA_MANIFEST_REQUEST_BYTES;
}

int strata_manifest_decode_request(const uint8_t *buf, size_t buflen,
                                   strata_msg_manifest_request *m)
{
    reader r;
    int err = open_message(&r, buf, buflen, STRATA_MSG_MANIFEST_REQUEST);
    if (err)
        return err;
    m->node.v = get_u64(&r);
    m->channel.v = get_u64(&r);
    m->seq = get_u64(&r);
    m->part = get_u8(&r);
    err = close_message(&r, buflen);
    if (err < 0)
        return err;
    return request_valid(m) ? err : STRATA_ERR_RANGE;
}

/* --- PARITY_HASHES (protocol.md 3.11.3) ----------------------------------- */

static int parity_valid(const strata_msg_parity_hashes *m)
{
    if (m->channel.v == 0 || m->count > STRATA_MANIFEST_MAX_PACKETS ||
        m->first_seq > UINT64_MAX - m->count)
        return 0;
    if (m->k == 0 || m->k > STRATA_WIRE_MAX_SUBSTREAMS || m->index >= STRATA_WIRE_MAX_PARITY)
        return 0;
    return m->n_groups == strata_manifest_groups(m->first_seq, m->count, m->k);
}

int strata_manifest_encode_parity(uint8_t *buf, size_t buflen, const strata_msg_parity_hashes *m)
{
    int valid = parity_valid(m) && (m->n_groups == 0 || m->hashes);
    size_t need = (size_t)STRATA_PARITY_HASHES_FIXED_BYTES + (size_t)HASH * m->n_groups;
    int err = encode_prelude(buf, buflen, valid, need);
    if (err)
        return err;
    uint8_t *p = put_header(buf, STRATA_MSG_PARITY_HASHES);
    p = put_u64(p, m->channel.v);
    p = put_u64(p, m->first_seq);
    p = put_u8(p, m->count);
    p = put_u8(p, m->k);
    p = put_u8(p, m->index);
    p = put_u8(p, m->n_groups);
    put_bytes(p, m->hashes, (size_t)HASH * m->n_groups);
    return (int)need;
}

int strata_manifest_decode_parity(const uint8_t *buf, size_t buflen, strata_msg_parity_hashes *m)
{
    reader r;
    int err = open_message(&r, buf, buflen, STRATA_MSG_PARITY_HASHES);
    if (err)
        return err;
    m->channel.v = get_u64(&r);
    m->first_seq = get_u64(&r);
    m->count = get_u8(&r);
    m->k = get_u8(&r);
    m->index = get_u8(&r);
    m->n_groups = get_u8(&r);
    /* The count of hashes is derived from the fields before it: a
     * mismatch is caught before the bytes it announces are looked for. */
    if (!r.err && !parity_valid(m))
        return STRATA_ERR_RANGE;
    m->hashes = get_bytes(&r, (size_t)HASH * m->n_groups);
    return close_message(&r, buflen);
}

/* --- hashes and signatures ------------------------------------------------ */

static void truncated_hash(crypto_generichash_state *st, uint8_t out[HASH])
{
    uint8_t full[crypto_generichash_BYTES_MIN];
    crypto_generichash_final(st, full, sizeof full);
    memcpy(out, full, HASH);
}

void strata_manifest_hash_packet(const strata_msg_data *m, uint8_t out[STRATA_MANIFEST_HASH_BYTES])
{
    uint8_t prefix[PACKET_PREFIX_BYTES];
    uint8_t *p = put_u64(prefix, m->channel.v);
    p = put_u64(p, m->seq);
    p = put_u8(p, m->substream);
    p = put_u8(p, (m->flags & STRATA_DATA_FLAG_PARITY) ? 1 : 0);
    put_u16(p, m->payload_len);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES_MIN);
    crypto_generichash_update(&st, prefix, sizeof prefix);
    if (m->payload_len)
        crypto_generichash_update(&st, m->payload, m->payload_len);
    truncated_hash(&st, out);
}

void strata_manifest_hash_symbol(strata_channel_id channel, uint64_t first_seq, unsigned k,
                                 unsigned index, const uint8_t *sym, size_t len,
                                 uint8_t out[STRATA_MANIFEST_HASH_BYTES])
{
    strata_msg_data m = {.channel = channel,
                         .seq = first_seq,
                         .substream = (uint8_t)(k + index),
                         .flags = STRATA_DATA_FLAG_PARITY,
                         .payload_len = (uint16_t)len,
                         .payload = sym};
    strata_manifest_hash_packet(&m, out);
}

void strata_manifest_digest(const uint8_t *buf, size_t len, uint8_t out[STRATA_MANIFEST_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES_MIN);
    crypto_generichash_update(&st, buf, len);
    truncated_hash(&st, out);
}

int strata_manifest_sign(uint8_t *buf, size_t len,
                         const uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES])
{
    if (!buf || !sk || len < (size_t)SIG + STRATA_WIRE_HEADER_BYTES)
        return STRATA_ERR_INVAL;
    crypto_sign_detached(buf + len - SIG, NULL, buf, len - SIG, sk);
    return 0;
}

int strata_manifest_verify(const uint8_t *buf, size_t len,
                           const uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES])
{
    if (!buf || !pk || len < (size_t)SIG + STRATA_WIRE_HEADER_BYTES)
        return STRATA_ERR_FORGED;
    if (crypto_sign_verify_detached(buf + len - SIG, buf, len - SIG, pk) != 0)
        return STRATA_ERR_FORGED;
    return 0;
}

/* --- the store ------------------------------------------------------------ */

int strata_manifest_store_init(strata_manifest_store *s, const strata_alloc *a, size_t cap)
{
    memset(s, 0, sizeof *s);
    if (cap == 0)
        return STRATA_ERR_INVAL;
    s->items = strata_mem_calloc(a, cap, sizeof *s->items);
    if (!s->items)
        return STRATA_ERR_NOMEM;
    s->alloc = a;
    s->cap = cap;
    return 0;
}

static void entry_clear(strata_manifest_entry *e)
{
    if (e->buf)
        strata_buf_unref(e->buf);
    for (unsigned i = 0; i < STRATA_WIRE_MAX_PARITY; i++)
        if (e->parity[i])
            strata_buf_unref(e->parity[i]);
    memset(e, 0, sizeof *e);
}

void strata_manifest_store_free(strata_manifest_store *s)
{
    for (size_t i = 0; s->items && i < s->cap; i++)
        entry_clear(&s->items[i]);
    strata_mem_free(s->alloc, s->items);
    memset(s, 0, sizeof *s);
}

/* The i-th newest entry (0 = newest), or NULL. */
static strata_manifest_entry *nth_newest(const strata_manifest_store *s, size_t i)
{
    if (i >= s->count)
        return NULL;
    return &s->items[(s->next + s->cap - 1 - i) % s->cap];
}

const strata_manifest_entry *strata_manifest_store_newest(const strata_manifest_store *s, size_t i)
{
    return nth_newest(s, i);
}

strata_manifest_entry *strata_manifest_store_exact(strata_manifest_store *s, uint64_t first_seq,
                                                   uint8_t count)
{
    for (size_t i = 0; i < s->count; i++) {
        strata_manifest_entry *e = nth_newest(s, i);
        if (e->m.first_seq == first_seq && e->m.count == count)
            return e;
    }
    return NULL;
}

const strata_manifest_entry *strata_manifest_store_add(strata_manifest_store *s, const uint8_t *buf,
                                                       size_t len, int *err)
{
    strata_msg_manifest m;
    int n = strata_manifest_decode(buf, len, &m);
    if (n < 0) {
        *err = n;
        return NULL;
    }
    for (size_t i = 0; i < s->count; i++) {
        if (nth_newest(s, i)->m.first_seq == m.first_seq) {
            *err = STRATA_ERR_EXISTS;
            return NULL;
        }
    }
    strata_buf *b = strata_buf_copy(s->alloc, buf, len);
    if (!b) {
        *err = STRATA_ERR_NOMEM;
        return NULL;
    }
    strata_manifest_entry *e = &s->items[s->next];
    entry_clear(e);
    e->buf = b;
    strata_manifest_decode(b->data, b->len, &e->m); /* the same bytes: cannot fail */
    s->next = (s->next + 1) % s->cap;
    if (s->count < s->cap)
        s->count++;
    uint64_t end = m.first_seq + m.count;
    if (end > s->max_end)
        s->max_end = end;
    if ((m.flags & STRATA_MANIFEST_FLAG_EOS) && !s->has_end) {
        s->has_end = 1;
        s->end_seq = end;
    }
    *err = 0;
    return e;
}

const strata_manifest_entry *strata_manifest_store_find(const strata_manifest_store *s,
                                                        uint64_t seq)
{
    for (size_t i = 0; i < s->count; i++) {
        const strata_manifest_entry *e = nth_newest(s, i);
        if (seq >= e->m.first_seq && seq - e->m.first_seq < e->m.count)
            return e;
    }
    return NULL;
}

strata_buf *strata_manifest_store_answer(const strata_manifest_store *s,
                                         const strata_msg_manifest_request *req)
{
    const strata_manifest_entry *e = strata_manifest_store_find(s, req->seq);
    for (size_t i = 0; !e && s->has_end && req->seq >= s->end_seq && i < s->count; i++) {
        const strata_manifest_entry *c = nth_newest(s, i);
        if (c->m.flags & STRATA_MANIFEST_FLAG_EOS)
            e = c;
    }
    if (!e)
        return NULL;
    if (req->part == STRATA_MANIFEST_PART_MANIFEST)
        return e->buf;
    return req->part <= STRATA_WIRE_MAX_PARITY ? e->parity[req->part - 1] : NULL;
}

int strata_manifest_store_set_parity(strata_manifest_store *s, strata_manifest_entry *e,
                                     unsigned index, const uint8_t *buf, size_t len)
{
    if (index >= STRATA_WIRE_MAX_PARITY)
        return STRATA_ERR_INVAL;
    if (e->parity[index])
        return STRATA_ERR_EXISTS;
    e->parity[index] = strata_buf_copy(s->alloc, buf, len);
    return e->parity[index] ? 0 : STRATA_ERR_NOMEM;
}

/* An EOS marker at seq: the stream's end as signed, or a seq that a held
 * manifest shows to be inside the stream, is decided; else it waits. */
static int judge_eos(const strata_manifest_store *s, uint64_t seq)
{
    if (s->has_end)
        return seq == s->end_seq ? STRATA_MANIFEST_OK : STRATA_MANIFEST_FORGED;
    if (s->max_end > seq || strata_manifest_store_find(s, seq))
        return STRATA_MANIFEST_FORGED;
    return STRATA_MANIFEST_UNKNOWN;
}

/* Parity symbol `index` of the group starting at m->seq: the manifest
 * holding the group's last packet carries its list's digest. */
static int judge_parity(const strata_manifest_store *s, const strata_msg_data *m, unsigned k)
{
    if (k == 0 || m->substream < k || m->seq > UINT64_MAX - (k - 1u))
        return STRATA_MANIFEST_FORGED;
    unsigned index = m->substream - k;
    const strata_manifest_entry *e = strata_manifest_store_find(s, m->seq + k - 1u);
    if (!e)
        return STRATA_MANIFEST_UNKNOWN;
    if (e->m.k != k || index >= e->m.n_parity)
        return STRATA_MANIFEST_FORGED; /* the source signed no such symbol */
    if (!e->parity[index])
        return STRATA_MANIFEST_NO_LIST;
    strata_msg_parity_hashes ph;
    if (strata_manifest_decode_parity(e->parity[index]->data, e->parity[index]->len, &ph) < 0)
        return STRATA_MANIFEST_FORGED; /* cannot happen: checked when kept */
    uint64_t g = m->seq / k - strata_manifest_first_group(e->m.first_seq, k);
    if (m->seq % k != 0 || g >= ph.n_groups)
        return STRATA_MANIFEST_FORGED;
    uint8_t h[HASH];
    strata_manifest_hash_packet(m, h);
    return memcmp(h, ph.hashes + g * HASH, HASH) == 0 ? STRATA_MANIFEST_OK : STRATA_MANIFEST_FORGED;
}

int strata_manifest_store_judge(const strata_manifest_store *s, const strata_msg_data *m,
                                unsigned k)
{
    if (m->flags & STRATA_DATA_FLAG_EOS)
        return judge_eos(s, m->seq);
    if (m->flags & STRATA_DATA_FLAG_PARITY)
        return judge_parity(s, m, k);
    if (s->has_end && m->seq >= s->end_seq)
        return STRATA_MANIFEST_FORGED; /* after the signed end of the stream */
    const strata_manifest_entry *e = strata_manifest_store_find(s, m->seq);
    if (!e)
        return STRATA_MANIFEST_UNKNOWN;
    uint8_t h[HASH];
    strata_manifest_hash_packet(m, h);
    const uint8_t *want = e->m.hashes + (size_t)(m->seq - e->m.first_seq) * HASH;
    return memcmp(h, want, HASH) == 0 ? STRATA_MANIFEST_OK : STRATA_MANIFEST_FORGED;
}
