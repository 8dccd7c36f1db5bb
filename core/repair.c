/*
 * Repair bookkeeping: see repair.h. The scan is linear in the gap between
 * the playout head and the highest present seq, which the playout window
 * bounds; it runs only when its own deadline comes.
 */
#include "repair.h"

#include <string.h>

static int usable(const strata_peer_ref *r, strata_node_id self)
{
    return r && r->node.v != 0 && r->node.v != self.v && !strata_addr_is_zero(r->addr);
}

static int seen(const strata_addr *out, size_t n, strata_addr a)
{
    for (size_t i = 0; i < n; i++) {
        if (strata_addr_eq(out[i], a))
            return 1;
    }
    return 0;
}

/* Appends the parents in rotation order from substream s whose silent bit
 * equals want_silent. */
static size_t add_parents(const strata_peer_ref *parents, unsigned k, unsigned s, uint32_t silent,
                          uint32_t want_silent, strata_node_id self, strata_addr *out, size_t n)
{
    for (unsigned i = 0; i < k; i++) {
        unsigned q = (s + i) % k;
        const strata_peer_ref *r = &parents[q];
        if ((silent >> q & 1u) == want_silent && usable(r, self) && !seen(out, n, r->addr))
            out[n++] = r->addr;
    }
    return n;
}

size_t strata_repair_targets(const strata_peer_ref *parents, unsigned k, unsigned s,
                             uint32_t silent, const strata_peer_ref *source,
                             const strata_peer_ref *children, size_t n_children,
                             strata_node_id self, strata_addr *out)
{
    if (k > STRATA_WIRE_MAX_SUBSTREAMS)
        k = STRATA_WIRE_MAX_SUBSTREAMS;
    size_t n = add_parents(parents, k, s, silent, 0, self, out, 0);
    if (usable(source, self) && !seen(out, n, source->addr))
        out[n++] = source->addr;
    size_t limit = n + STRATA_REPAIR_MAX_CHILD_TARGETS;
    for (size_t i = 0; i < n_children && n < limit; i++) {
        if (usable(&children[i], self) && !seen(out, n, children[i].addr))
            out[n++] = children[i].addr;
    }
    return add_parents(parents, k, s, silent, 1, self, out, n);
}

void strata_repair_batcher_init(strata_repair_batcher *b, strata_repair_emit_fn emit, void *user)
{
    memset(b, 0, sizeof *b);
    b->emit = emit;
    b->user = user;
}

void strata_repair_batcher_add(strata_repair_batcher *b, strata_addr to, uint64_t seq)
{
    for (size_t i = 0; i < b->n; i++) {
        strata_repair_batch *o = &b->open[i];
        if (!strata_addr_eq(o->to, to))
            continue;
        if (seq >= o->first_seq && seq - o->first_seq < STRATA_WIRE_REPAIR_SPAN) {
            o->mask |= 1ull << (seq - o->first_seq);
            return;
        }
        /* The span is full: send it and start the next one here. */
        b->emit(b->user, o);
        o->first_seq = seq;
        o->mask = 1;
        return;
    }
    if (b->n == STRATA_REPAIR_MAX_TARGETS)
        strata_repair_batcher_flush(b);
    strata_repair_batch *o = &b->open[b->n++];
    o->to = to;
    o->first_seq = seq;
    o->mask = 1;
}

void strata_repair_batcher_flush(strata_repair_batcher *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->emit(b->user, &b->open[i]);
    b->n = 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t strata_repair_first_due(const strata_playout_slot *s, const strata_repair_timing *t)
{
    uint64_t due = add_sat(s->missing_since_ns, t->fallback_ns);
    if (s->gap_since_ns != 0) {
        uint64_t gap = add_sat(s->gap_since_ns, t->after_ns);
        if (gap < due)
            due = gap;
    }
    return due;
}

uint64_t strata_repair_scan(strata_playout *po, uint64_t now, const strata_repair_timing *t,
                            strata_repair_targets_fn targets, void *user, strata_repair_batcher *b)
{
    uint64_t earliest = STRATA_NEVER;
    if (!po->started)
        return earliest;
    for (uint64_t q = po->next; q < po->end; q++) {
        strata_playout_slot *s = strata_playout_slot_at(po, q);
        if (!s || s->state != STRATA_PLAYOUT_MISSING)
            continue;
        uint64_t due = strata_repair_first_due(s, t);
        if (s->next_ask_ns > due)
            due = s->next_ask_ns;
        if (now >= due) {
            strata_addr to[STRATA_REPAIR_MAX_TARGETS];
            size_t n = targets(user, q, to);
            if (n) {
                strata_repair_batcher_add(b, to[s->attempts % n], q);
                if (s->attempts < UINT16_MAX)
                    s->attempts++;
            }
            due = add_sat(now, t->retry_ns);
            s->next_ask_ns = due;
        }
        if (due < earliest)
            earliest = due;
    }
    strata_repair_batcher_flush(b);
    return earliest;
}
