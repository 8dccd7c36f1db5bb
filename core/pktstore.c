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
void strata_pktstore_set_recovered(strata_pktstore *ps, uint64_t seq, int recovered)
{
    if (!ps->cap)
        return;
    strata_pktstore_entry *e = &ps->slots[seq % ps->cap];
    if (e->buf && e->seq == seq)
        e->recovered = recovered != 0;
}

static strata_buf *encode_data_buf(const strata_alloc *a, const strata_msg_data *m, int *err)
{
    uint8_t tmp[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_data(tmp, sizeof tmp, m);
    if (n < 0) {
        *err = STRATA_ERR_INVAL;
        return NULL;
    }
    strata_buf *b = strata_buf_copy(a, tmp, (size_t)n);
    if (!b)
        *err = STRATA_ERR_NOMEM;
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

    if (e->buf) {
        ps->lost_recovered += e->recovered;
        strata_buf_unref(e->buf);
    } else {
        ps->count++;
    }
    e->recovered = 0;
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

static void budget_refill(strata_repair_budget *b, uint64_t now);

/* Gives the bucket rate_bytes_per_s (> 0) and the burst that goes with
 * it; tokens beyond the new burst are dropped. */
static void budget_set_rate(strata_repair_budget *b, uint64_t rate_bytes_per_s)
{
    b->rate_bytes_per_s = rate_bytes_per_s ? rate_bytes_per_s : 1;
    b->burst_bytes = b->rate_bytes_per_s * STRATA_PKTSTORE_REPAIR_BURST_MS / 1000u;
    uint64_t packet = STRATA_WIRE_MAX_DATAGRAM_BYTES;
    if (packet < b->min_charge_bytes)
        packet = b->min_charge_bytes;
    uint64_t floor = (uint64_t)STRATA_PKTSTORE_REPAIR_BURST_PACKETS * packet;
    if (b->burst_bytes < floor)
        b->burst_bytes = floor;
    if (b->tokens > b->burst_bytes)
        b->tokens = b->burst_bytes;
    /* The time an empty bucket takes to fill; burst * 1e9 fits 64 bits for
     * any 32-bit upload. */
    b->fill_ns = b->burst_bytes * STRATA_S(1) / b->rate_bytes_per_s + 1;
}

/* Bytes per second of percent of an upload of kbps. */
static uint64_t upload_share(uint32_t kbps, unsigned percent)
{
    return (uint64_t)kbps * 1000u / 8u * percent / 100u;
}

void strata_repair_budget_init(strata_repair_budget *b, uint32_t upload_kbps,
                               uint32_t min_charge_bytes, uint64_t now)
{
    memset(b, 0, sizeof *b);
    b->last_ns = now;
    b->min_charge_bytes = min_charge_bytes;
    b->upload_kbps = upload_kbps;
    b->tokens = UINT64_MAX;
    if (upload_kbps == 0) {
        /* Offers no upload, so it feeds no tree: a few answers a second. */
        uint64_t packet = STRATA_WIRE_MAX_DATAGRAM_BYTES;
        if (packet < min_charge_bytes)
            packet = min_charge_bytes;
        budget_set_rate(b, packet * STRATA_PKTSTORE_REPAIR_ZERO_UPLOAD_PACKETS);
        return;
    }
    budget_set_rate(b, upload_share(upload_kbps, STRATA_PKTSTORE_REPAIR_SHARE_PERCENT));
}

void strata_repair_budget_set_tree_kbps(strata_repair_budget *b, uint64_t tree_kbps, uint64_t now)
{
    if (b->upload_kbps == 0)
        return;
    budget_refill(b, now); /* the tokens due at the old rate */
    uint64_t max = upload_share(b->upload_kbps, STRATA_PKTSTORE_REPAIR_SHARE_PERCENT);
    uint64_t min = upload_share(b->upload_kbps, STRATA_PKTSTORE_REPAIR_MIN_PERCENT);
    uint64_t use = upload_share(b->upload_kbps, STRATA_PKTSTORE_UPLINK_USE_PERCENT);
    uint64_t tree = tree_kbps > UINT32_MAX ? UINT64_MAX / 2 : tree_kbps * 1000u / 8u;
    uint64_t left = use > tree ? use - tree : 0;
    budget_set_rate(b, left > max ? max : left < min ? min : left);
}

void strata_repair_budget_set_tree_links(strata_repair_budget *b, uint64_t links,
                                         uint32_t rate_kbps, uint8_t k, uint64_t now)
{
    strata_repair_budget_set_tree_kbps(b, k ? links * rate_kbps / k : 0, now);
}

/* Adds the tokens earned since the last refill. */
static void budget_refill(strata_repair_budget *b, uint64_t now)
{
    if (now <= b->last_ns)
        return;
    /* Refill in byte-nanoseconds so that frequent small steps are not
     * rounded away. */
    uint64_t dt = now - b->last_ns;
    if (dt >= b->fill_ns) {
        b->tokens = b->burst_bytes;
        b->frac = 0;
    } else {
        /* dt * rate < fill_ns * rate <= burst * 1e9: no overflow. */
        uint64_t acc = b->frac + dt * b->rate_bytes_per_s;
        uint64_t add = acc / STRATA_S(1);
        b->frac = acc % STRATA_S(1);
        b->tokens = add > b->burst_bytes - b->tokens ? b->burst_bytes : b->tokens + add;
    }
    b->last_ns = now;
}

int strata_repair_budget_take(strata_repair_budget *b, uint64_t bytes, uint64_t now)
{
    if (bytes < b->min_charge_bytes)
        bytes = b->min_charge_bytes;
    budget_refill(b, now);
    if (b->tokens < bytes)
        return 0;
    b->tokens -= bytes;
    return 1;
}

int strata_pktstore_answer_repair(const strata_pktstore *ps, const strata_msg_repair *req,
                                  strata_addr to, strata_outbox *ob, uint64_t *packets,
                                  uint64_t *bytes)
{
    uint64_t refused = 0;
    return strata_pktstore_answer_repair_budget(ps, req, to, ob, NULL, 0, packets, bytes, &refused);
}

int strata_pktstore_answer_repair_budget(const strata_pktstore *ps, const strata_msg_repair *req,
                                         strata_addr to, strata_outbox *ob,
                                         strata_repair_budget *budget, uint64_t now,
                                         uint64_t *packets, uint64_t *bytes, uint64_t *refused)
{
    for (unsigned i = 0; i < STRATA_WIRE_REPAIR_SPAN; i++) {
        if (!((req->mask >> i) & 1u))
            continue;
        /* The decoder guarantees first_seq + 63 does not wrap for set bits. */
        const strata_pktstore_entry *e = strata_pktstore_get(ps, req->first_seq + i);
        if (!e)
            continue;
        /* The answer is the stored encoding with one flag changed: the
         * same length. */
        if (budget && !strata_repair_budget_take(budget, e->buf->len, now)) {
            (*refused)++;
            continue;
        }
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
