/*
 * Playout buffer: see playout.h for the model and the deadline rule.
 *
 * All time arithmetic is unsigned and saturating: send_ts comes from
 * another machine's clock (or from a hostile peer), so no sum of it may
 * overflow; the offset is the one signed quantity.
 */
#include "playout.h"

#include <string.h>

int strata_playout_init(strata_playout *po, const strata_alloc *a, size_t cap, uint64_t delay_ns)
{
    memset(po, 0, sizeof *po);
    if (cap == 0)
        return STRATA_ERR_INVAL;
    po->slots = strata_mem_calloc(a, cap, sizeof *po->slots);
    if (!po->slots)
        return STRATA_ERR_NOMEM;
    po->cap = cap;
    po->delay_ns = delay_ns;
    po->alloc = a;
    return 0;
}

static void slot_clear(strata_playout *po, strata_playout_slot *s)
{
    if (s->state == STRATA_PLAYOUT_PRESENT) {
        strata_buf_unref(s->buf);
        po->present--;
    }
    memset(s, 0, sizeof *s);
}

void strata_playout_free(strata_playout *po)
{
    if (!po->slots)
        return;
    for (size_t i = 0; i < po->cap; i++)
        slot_clear(po, &po->slots[i]);
    strata_mem_free(po->alloc, po->slots);
    po->slots = NULL;
    po->cap = 0;
}

static strata_playout_slot *slot_of(const strata_playout *po, uint64_t seq)
{
    return &po->slots[seq % po->cap];
}

void strata_playout_start(strata_playout *po, uint64_t seq)
{
    if (po->started)
        return;
    po->started = 1;
    po->next = seq;
    po->end = seq;
}

/* Releases the head slot and moves next forward by one. */
static void advance(strata_playout *po)
{
    if (po->next < po->end)
        slot_clear(po, slot_of(po, po->next));
    po->next++;
    if (po->end < po->next)
        po->end = po->next;
}

void strata_playout_jump(strata_playout *po, uint64_t seq, int count_missed)
{
    if (!po->started || seq <= po->next)
        return;
    if (count_missed)
        po->missed_packets += seq - po->next;
    uint64_t stop = seq < po->end ? seq : po->end;
    while (po->next < stop)
        advance(po);
    /* Past end every slot is already empty: a long jump need not walk. */
    po->next = seq;
    if (po->end < seq)
        po->end = seq;
}

/* Interprets a wrapped difference as signed without implementation-defined
 * conversion. */
static int64_t as_signed(uint64_t x)
{
    if (x <= (uint64_t)INT64_MAX)
        return (int64_t)x;
    return -(int64_t)(~x) - 1;
}

void strata_playout_observe(strata_playout *po, uint64_t send_ts_ns, uint64_t now)
{
    int64_t d = as_signed(now - send_ts_ns);
    if (po->have_offset && d < po->offset_ns &&
        (uint64_t)po->offset_ns - (uint64_t)d > po->delay_ns) {
        po->offset_outliers++; /* see "A send time is not signed" (playout.h) */
        return;
    }
    if (!po->have_offset || d < po->offset_ns) {
        po->offset_ns = d;
        po->have_offset = 1;
    }
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t add_signed_sat(uint64_t a, int64_t b)
{
    if (b >= 0)
        return add_sat(a, (uint64_t)b);
    uint64_t mag = (uint64_t)(-(b + 1)) + 1u;
    return a < mag ? 0 : a - mag;
}

uint64_t strata_playout_deadline_of(const strata_playout *po, uint64_t send_ts_ns)
{
    return add_sat(add_signed_sat(send_ts_ns, po->offset_ns), po->delay_ns);
}

int strata_playout_in_window(const strata_playout *po, uint64_t seq)
{
    return po->started && seq >= po->next && seq - po->next < po->cap;
}

int strata_playout_insert(strata_playout *po, uint64_t seq, uint64_t send_ts_ns, strata_buf *buf,
                          uint16_t off, uint16_t len, int eos, uint64_t now)
{
    if (!po->started)
        return STRATA_ERR_UNEXPECTED;
    if (!strata_playout_in_window(po, seq))
        return STRATA_ERR_RANGE;
    strata_playout_slot *s = slot_of(po, seq);
    if (seq < po->end && s->state == STRATA_PLAYOUT_PRESENT)
        return 0;
    /* Everything between the old end and seq is now known to be overdue. */
    for (uint64_t q = po->end; q < seq; q++) {
        strata_playout_slot *m = slot_of(po, q);
        memset(m, 0, sizeof *m);
        m->seq = q;
        m->state = STRATA_PLAYOUT_MISSING;
        m->missing_since_ns = now;
    }
    if (seq >= po->end)
        po->end = seq + 1;
    memset(s, 0, sizeof *s);
    s->seq = seq;
    s->state = STRATA_PLAYOUT_PRESENT;
    s->send_ts_ns = send_ts_ns;
    s->arrived_ns = now;
    s->buf = strata_buf_ref(buf);
    s->payload_off = off;
    s->payload_len = len;
    s->eos = eos ? 1 : 0;
    po->present++;
    return 1;
}

/* When the missing seqs before present slot s may be skipped: its send
 * time's deadline, kept within [arrived + delay / 2, arrived + delay]
 * (playout.h: a send time never moves the playout point). */
static uint64_t skip_deadline(const strata_playout *po, const strata_playout_slot *s)
{
    uint64_t d = strata_playout_deadline_of(po, s->send_ts_ns);
    uint64_t lo = s->early_ok ? 0 : add_sat(s->arrived_ns, po->delay_ns / 2);
    uint64_t hi = add_sat(s->arrived_ns, po->delay_ns);
    return d < lo ? lo : d > hi ? hi : d;
}

/* The nearest present seq after a missing head, or 0 with none. */
static const strata_playout_slot *nearest_present(const strata_playout *po)
{
    for (uint64_t q = po->next + 1; q < po->end; q++) {
        const strata_playout_slot *s = slot_of(po, q);
        if (s->state == STRATA_PLAYOUT_PRESENT)
            return s;
    }
    return NULL;
}

size_t strata_playout_poll(strata_playout *po, uint64_t now, const strata_playout_callbacks *cb)
{
    size_t played = 0;
    while (po->started && !po->ended && po->next < po->end) {
        strata_playout_slot *s = slot_of(po, po->next);
        if (s->state == STRATA_PLAYOUT_PRESENT) {
            if (s->eos) {
                po->ended = 1;
                advance(po);
                if (cb && cb->on_end)
                    cb->on_end(cb->user);
                break;
            }
            po->played_packets++;
            po->played_bytes += s->payload_len;
            played++;
            if (cb && cb->on_play && s->payload_len)
                cb->on_play(cb->user, s->buf->data + s->payload_off, s->payload_len);
            advance(po);
            continue;
        }
        const strata_playout_slot *p = nearest_present(po);
        if (!p || now < skip_deadline(po, p))
            break;
        uint64_t stop = p->seq;
        po->missed_packets += stop - po->next;
        while (po->next < stop)
            advance(po);
    }
    return played;
}

uint64_t strata_playout_deadline(const strata_playout *po)
{
    if (!po->started || po->ended || po->next >= po->end)
        return STRATA_NEVER;
    if (slot_of(po, po->next)->state == STRATA_PLAYOUT_PRESENT)
        return 0; /* playable now */
    const strata_playout_slot *p = nearest_present(po);
    return p ? skip_deadline(po, p) : STRATA_NEVER;
}

strata_playout_slot *strata_playout_slot_at(strata_playout *po, uint64_t seq)
{
    if (!po->started || seq < po->next || seq >= po->end)
        return NULL;
    return slot_of(po, seq);
}

void strata_playout_count_by_substream(const strata_playout *po, unsigned k, uint32_t *counts)
{
    for (unsigned i = 0; i < k; i++)
        counts[i] = 0;
    if (!po->started || k == 0)
        return;
    for (uint64_t q = po->next; q < po->end; q++) {
        if (slot_of(po, q)->state == STRATA_PLAYOUT_PRESENT)
            counts[q % k]++;
    }
}
