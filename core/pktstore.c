/*
 * Packet store: see pktstore.h for the model. A slot is empty when its buf
 * is NULL; otherwise it holds exactly the packet whose seq it records.
 */
#include "pktstore.h"

#include <string.h>

int strata_pktstore_init(strata_pktstore *ps, const strata_alloc *a, size_t cap)
{
    memset(ps, 0, sizeof *ps);
    if (cap < STRATA_PKTSTORE_MIN_PACKETS)
        cap = STRATA_PKTSTORE_MIN_PACKETS;
    if (cap > STRATA_PKTSTORE_MAX_PACKETS)
        cap = STRATA_PKTSTORE_MAX_PACKETS;
    ps->slots = strata_mem_calloc(a, cap, sizeof *ps->slots);
    if (!ps->slots)
        return STRATA_ERR_NOMEM;
    ps->cap = cap;
    ps->alloc = a;
    return 0;
}

void strata_pktstore_free(strata_pktstore *ps)
{
    if (!ps->slots)
        return;
    for (size_t i = 0; i < ps->cap; i++)
        strata_buf_unref(ps->slots[i].buf);
    strata_mem_free(ps->alloc, ps->slots);
    ps->slots = NULL;
    ps->cap = 0;
    ps->count = 0;
}

const strata_pktstore_entry *strata_pktstore_get(const strata_pktstore *ps, uint64_t seq)
{
    if (!ps->cap)
        return NULL;
    const strata_pktstore_entry *e = &ps->slots[seq % ps->cap];
    return e->buf && e->seq == seq ? e : NULL;
}

/* Encodes m into a new buffer of exactly the encoded size. */
static strata_buf *encode_data_buf(const strata_alloc *a, const strata_msg_data *m, int *err)
{
    uint8_t tmp[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_data(tmp, sizeof tmp, m);
    if (n < 0) {
        *err = STRATA_ERR_INVAL;
        return NULL;
    }
    strata_buf *b = strata_buf_new(a, (size_t)n);
    if (!b) {
        *err = STRATA_ERR_NOMEM;
        return NULL;
    }
    memcpy(b->data, tmp, (size_t)n);
    b->len = (uint32_t)n;
    return b;
}

int strata_pktstore_put_data(strata_pktstore *ps, const strata_msg_data *m,
                             const strata_pktstore_entry **out)
{
    if (out)
        *out = NULL;
    if (!ps->cap)
        return STRATA_ERR_INVAL;
    strata_pktstore_entry *e = &ps->slots[m->seq % ps->cap];
    if (e->buf && e->seq == m->seq)
        return STRATA_ERR_EXISTS;
    if (e->buf && e->seq > m->seq)
        return STRATA_ERR_RANGE;

    strata_msg_data canon = *m;
    canon.flags = (uint8_t)(m->flags & ~STRATA_DATA_FLAG_REPAIR);
    int err = 0;
    strata_buf *b = encode_data_buf(ps->alloc, &canon, &err);
    if (!b)
        return err;
    /* The payload sits where the decoder finds it; asking the decoder keeps
     * this module independent of the field layout. */
    strata_msg_data dec;
    if (strata_wire_decode_data(b->data, b->len, &dec) < 0) {
        strata_buf_unref(b);
        return STRATA_ERR_INVAL;
    }

    if (e->buf)
        strata_buf_unref(e->buf);
    else
        ps->count++;
    e->seq = m->seq;
    e->send_ts_ns = m->send_ts_ns;
    e->buf = b;
    e->payload_off = (uint16_t)(dec.payload_len ? dec.payload - b->data : 0);
    e->payload_len = dec.payload_len;
    e->substream = m->substream;
    e->flags = (uint8_t)(canon.flags & STRATA_DATA_FLAG_EOS);
    if (out)
        *out = e;
    return 0;
}

int strata_pktstore_answer_repair(const strata_pktstore *ps, const strata_msg_repair *req,
                                  strata_addr to, strata_outbox *ob, uint64_t *packets,
                                  uint64_t *bytes)
{
    for (unsigned i = 0; i < STRATA_WIRE_REPAIR_SPAN; i++) {
        if (!((req->mask >> i) & 1u))
            continue;
        /* The decoder guarantees first_seq + 63 does not wrap for set bits. */
        const strata_pktstore_entry *e = strata_pktstore_get(ps, req->first_seq + i);
        if (!e)
            continue;
        strata_msg_data m;
        if (strata_wire_decode_data(e->buf->data, e->buf->len, &m) < 0)
            continue; /* cannot happen: we encoded it */
        m.flags = (uint8_t)(m.flags | STRATA_DATA_FLAG_REPAIR);
        int err = 0;
        strata_buf *b = encode_data_buf(ps->alloc, &m, &err);
        if (!b)
            return err;
        if (strata_outbox_push(ob, to, b) == 0) {
            (*packets)++;
            *bytes += b->len;
        }
        strata_buf_unref(b);
    }
    return 0;
}
