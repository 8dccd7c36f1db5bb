/*
 * A viewing node's verifier: see verify.h for the model.
 *
 * The waiting packets are a compact array (arrival order, at most cap):
 * what waits is a batch or two, a few dozen packets, so scanning it on
 * each arrival and each manifest costs less than an index would.
 */
#include "verify.h"

#include <stdlib.h>
#include <string.h>

static uint64_t add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int strata_verify_init(strata_verify *v, const strata_alloc *a, const uint8_t *pk, size_t manifests,
                       size_t pending, uint64_t wait_ns, uint64_t ask_after_ns, uint64_t retry_ns)
{
    memset(v, 0, sizeof *v);
    if (pending == 0 || retry_ns == 0)
        return STRATA_ERR_INVAL;
    int err = strata_manifest_store_init(&v->store, a, manifests);
    if (err)
        return err;
    v->items = strata_mem_calloc(a, pending, sizeof *v->items);
    if (!v->items) {
        strata_manifest_store_free(&v->store);
        return STRATA_ERR_NOMEM;
    }
    v->alloc = a;
    v->cap = pending;
    v->keyed = pk != NULL;
    if (pk)
        memcpy(v->pk, pk, sizeof v->pk);
    v->wait_ns = wait_ns;
    v->ask_after_ns = ask_after_ns;
    v->retry_ns = retry_ns;
    return 0;
}

void strata_verify_free(strata_verify *v)
{
    for (size_t i = 0; i < v->n; i++)
        strata_buf_unref(v->items[i].buf);
    for (size_t i = 0; i < STRATA_VERIFY_EARLY_LISTS; i++)
        if (v->early[i].buf)
            strata_buf_unref(v->early[i].buf);
    strata_mem_free(v->alloc, v->items);
    strata_manifest_store_free(&v->store);
    memset(v, 0, sizeof *v);
}

/* What a packet the store cannot vouch for yet waits for. */
static uint8_t part_of(int verdict, const strata_msg_data *m, unsigned k)
{
    if (verdict == STRATA_MANIFEST_NO_LIST)
        return (uint8_t)(1u + m->substream - k);
    return STRATA_MANIFEST_PART_MANIFEST;
}

/* The seq whose manifest a packet needs: a parity symbol's group ends at
 * seq + k - 1, and that packet's manifest carries the group's digests. */
static uint64_t needed_seq(const strata_msg_data *m, unsigned k)
{
    if ((m->flags & STRATA_DATA_FLAG_PARITY) && k && m->seq <= UINT64_MAX - (k - 1u))
        return m->seq + k - 1u;
    return m->seq;
}

int strata_verify_packet(strata_verify *v, const strata_msg_data *m, unsigned k, const uint8_t *buf,
                         size_t len, strata_addr from, uint64_t now)
{
    int verdict = strata_manifest_store_judge(&v->store, m, k);
    if (verdict == STRATA_MANIFEST_OK)
        return STRATA_VERIFY_OK;
    if (verdict < 0)
        return STRATA_ERR_FORGED;
    unsigned same = 0;
    for (size_t i = 0; i < v->n; i++) {
        const strata_verify_pending *w = &v->items[i];
        if (w->seq != m->seq || w->substream != m->substream)
            continue;
        if (w->buf->len == len && memcmp(w->buf->data, buf, len) == 0)
            return STRATA_VERIFY_DUPLICATE;
        same++;
    }
    if (same >= STRATA_VERIFY_CANDIDATES || v->n == v->cap)
        return STRATA_ERR_UNVERIFIED;
    strata_buf *b = strata_buf_copy(v->alloc, buf, len);
    if (!b)
        return STRATA_ERR_NOMEM;
    v->items[v->n++] = (strata_verify_pending){
        .buf = b,
        .from = from,
        .seq = m->seq,
        .need_seq = needed_seq(m, k),
        .substream = m->substream,
        .parity = (m->flags & STRATA_DATA_FLAG_PARITY) != 0,
        .part = part_of(verdict, m, k),
        .since_ns = now,
        .ask_ns = add_ns(now, v->ask_after_ns),
    };
    return verdict == STRATA_MANIFEST_NO_LIST ? STRATA_VERIFY_WAITING_LIST : STRATA_VERIFY_WAITING;
}

int strata_verify_manifest(strata_verify *v, const uint8_t *buf, size_t len,
                           const strata_manifest_entry **out)
{
    strata_msg_manifest m;
    int err = strata_manifest_decode(buf, len, &m);
    if (err < 0)
        return err;
    /* A manifest held already is not checked again: duplicates are the
     * common case (every neighbour of a mesh sends one). */
    if (strata_manifest_store_exact(&v->store, m.first_seq, m.count))
        return STRATA_ERR_EXISTS;
    if (v->keyed && strata_manifest_verify(buf, len, v->pk) != 0)
        return STRATA_ERR_FORGED;
    strata_manifest_store_add(&v->store, buf, len, &err);
    if (err)
        return err;
    *out = strata_manifest_store_exact(&v->store, m.first_seq, m.count);
    return 0;
}

/* Keeps a list whose manifest has not come (a copy; the same bytes once). */
static int keep_early(strata_verify *v, const uint8_t *buf, size_t len, strata_addr from)
{
    for (size_t i = 0; i < STRATA_VERIFY_EARLY_LISTS; i++) {
        const strata_buf *b = v->early[i].buf;
        if (b && b->len == len && memcmp(b->data, buf, len) == 0)
            return STRATA_VERIFY_WAITING;
    }
    strata_buf *copy = strata_buf_copy(v->alloc, buf, len);
    if (!copy)
        return STRATA_ERR_NOMEM;
    strata_verify_early *slot = &v->early[v->early_next];
    if (slot->buf)
        strata_buf_unref(slot->buf);
    *slot = (strata_verify_early){copy, from};
    v->early_next = (v->early_next + 1) % STRATA_VERIFY_EARLY_LISTS;
    return STRATA_VERIFY_WAITING;
}

int strata_verify_take_early(strata_verify *v, uint64_t first_seq, uint8_t count,
                             strata_verify_early *out)
{
    for (size_t i = 0; i < STRATA_VERIFY_EARLY_LISTS; i++) {
        strata_msg_parity_hashes ph;
        strata_verify_early *slot = &v->early[i];
        if (!slot->buf || strata_manifest_decode_parity(slot->buf->data, slot->buf->len, &ph) < 0 ||
            ph.first_seq != first_seq || ph.count != count)
            continue;
        *out = *slot;
        slot->buf = NULL;
        return 1;
    }
    return 0;
}

int strata_verify_parity_list(strata_verify *v, const uint8_t *buf, size_t len, unsigned k,
                              strata_addr from, unsigned *index)
{
    strata_msg_parity_hashes ph;
    int err = strata_manifest_decode_parity(buf, len, &ph);
    if (err < 0)
        return err;
    if (ph.k != k)
        return STRATA_ERR_UNEXPECTED;
    strata_manifest_entry *e = strata_manifest_store_exact(&v->store, ph.first_seq, ph.count);
    if (!e)
        return keep_early(v, buf, len, from);
    if (e->m.k != k)
        return STRATA_ERR_UNEXPECTED;
    if (ph.index >= e->m.n_parity)
        return STRATA_ERR_FORGED;
    if (e->parity[ph.index])
        return STRATA_ERR_EXISTS;
    uint8_t d[STRATA_MANIFEST_HASH_BYTES];
    strata_manifest_digest(buf, len, d);
    if (v->keyed &&
        memcmp(d, e->m.digests + (size_t)ph.index * STRATA_MANIFEST_HASH_BYTES, sizeof d) != 0)
        return STRATA_ERR_FORGED;
    err = strata_manifest_store_set_parity(&v->store, e, ph.index, buf, len);
    if (err)
        return err;
    *index = ph.index;
    return 0;
}

static int cmp_pending(const void *a, const void *b)
{
    const strata_verify_pending *x = a, *y = b;
    if (x->parity != y->parity)
        return x->parity < y->parity ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    if (x->substream != y->substream)
        return x->substream < y->substream ? -1 : 1;
    return x->since_ns < y->since_ns ? -1 : x->since_ns > y->since_ns;
}

size_t strata_verify_release(strata_verify *v, unsigned k, strata_verify_take_fn take, void *user,
                             uint64_t now, uint64_t *forged)
{
    if (v->n == 0)
        return 0;
    qsort(v->items, v->n, sizeof *v->items, cmp_pending);
    size_t kept = 0, taken = 0;
    for (size_t i = 0; i < v->n; i++) {
        strata_verify_pending w = v->items[i];
        strata_msg_data m;
        int verdict = strata_wire_decode_data(w.buf->data, w.buf->len, &m) < 0
                          ? STRATA_MANIFEST_FORGED /* cannot happen: decoded when kept */
                          : strata_manifest_store_judge(&v->store, &m, k);
        if (verdict == STRATA_MANIFEST_OK) {
            take(user, w.buf->data, w.buf->len, w.from, now);
            taken++;
        } else if (verdict < 0) {
            (*forged)++;
            if (v->forged_fn)
                v->forged_fn(v->forged_user, &m, w.from);
        } else {
            w.part = part_of(verdict, &m, k);
            v->items[kept++] = w;
            continue;
        }
        strata_buf_unref(w.buf);
    }
    v->n = kept;
    return taken;
}

size_t strata_verify_expire(strata_verify *v, uint64_t now)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (now >= add_ns(v->items[i].since_ns, v->wait_ns)) {
            strata_buf_unref(v->items[i].buf);
            dropped++;
        } else {
            v->items[kept++] = v->items[i];
        }
    }
    v->n = kept;
    return dropped;
}

void strata_verify_asks(strata_verify *v, uint64_t now, strata_verify_ask_fn ask, void *user)
{
    enum { ASKED_MAX = 16 };
    struct {
        uint64_t batch;
        uint8_t part;
    } asked[ASKED_MAX];
    size_t n_asked = 0;
    for (size_t i = 0; i < v->n; i++) {
        strata_verify_pending *w = &v->items[i];
        if (now < w->ask_ns)
            continue;
        w->ask_ns = add_ns(now, v->retry_ns);
        /* One ask per batch-sized span and part in one round: the packets
         * of a batch wait for one manifest. */
        uint64_t seq = w->need_seq;
        uint64_t batch = seq / STRATA_MANIFEST_MAX_PACKETS;
        int dup = 0;
        for (size_t j = 0; j < n_asked && !dup; j++)
            dup = asked[j].batch == batch && asked[j].part == w->part;
        if (dup)
            continue;
        if (n_asked < ASKED_MAX) {
            asked[n_asked].batch = batch;
            asked[n_asked].part = w->part;
            n_asked++;
        }
        ask(user, seq, w->part, w->asks++);
    }
}

uint64_t strata_verify_next_timeout(const strata_verify *v)
{
    uint64_t t = STRATA_NEVER;
    for (size_t i = 0; i < v->n; i++) {
        uint64_t w = add_ns(v->items[i].since_ns, v->wait_ns);
        if (w < t)
            t = w;
        if (v->items[i].ask_ns < t)
            t = v->items[i].ask_ns;
    }
    return t;
}
