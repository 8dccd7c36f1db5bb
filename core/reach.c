/*
 * Return routability: see reach.h for the model.
 */
#include "reach.h"

#include "mix.h"

#include <string.h>

enum { PROBE_BYTES = 24 }; /* protocol.md 3.5.1 */

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n && p < ((size_t)1 << 30))
        p <<= 1;
    return p;
}

int strata_reach_init(strata_reach *r, strata_node_id self, uint64_t seed, size_t verified,
                      size_t ledger, const strata_alloc *a)
{
    memset(r, 0, sizeof *r);
    r->self = self;
    r->alloc = a;
    r->key = strata_mix64(seed ^ 0x7265616368ull);
    r->nverified = pow2_at_least(verified);
    r->nledger = pow2_at_least(ledger);
    r->verified = strata_mem_calloc(a, r->nverified, sizeof *r->verified);
    r->ledger = strata_mem_calloc(a, r->nledger, sizeof *r->ledger);
    if (!r->verified || !r->ledger) {
        strata_reach_free(r);
        return STRATA_ERR_NOMEM;
    }
    return 0;
}

void strata_reach_free(strata_reach *r)
{
    strata_mem_free(r->alloc, r->verified);
    strata_mem_free(r->alloc, r->ledger);
    r->verified = r->ledger = NULL;
}

static uint64_t addr_key(const strata_reach *r, strata_addr a, uint64_t salt)
{
    return strata_mix64(((uint64_t)a.ipv4 << 16 | a.port) ^ strata_mix64(r->key ^ salt));
}

/* The slot of addr in a two-way table: the one holding it, else (make)
 * the idler of its two, cleared; NULL when not held and !make. */
static strata_reach_entry *slot(strata_reach *r, strata_reach_entry *t, size_t n, strata_addr addr,
                                int make)
{
    size_t i = (size_t)(addr_key(r, addr, 0x736c6f74u) & (n - 1));
    strata_reach_entry *a = &t[i], *b = &t[i ^ 1];
    if (a->used && strata_addr_eq(a->addr, addr))
        return a;
    if (b->used && strata_addr_eq(b->addr, addr))
        return b;
    if (!make)
        return NULL;
    strata_reach_entry *e = !a->used ? a : !b->used ? b : a->last_ns <= b->last_ns ? a : b;
    memset(e, 0, sizeof *e);
    e->used = 1;
    e->addr = addr;
    return e;
}

int strata_reach_is_verified(strata_reach *r, strata_addr addr, uint64_t now)
{
    strata_reach_entry *e = slot(r, r->verified, r->nverified, addr, 0);
    if (!e)
        return 0;
    if (now > e->last_ns && now - e->last_ns > STRATA_S(STRATA_REACH_VERIFIED_TTL_S)) {
        e->used = 0;
        return 0;
    }
    e->last_ns = now;
    return 1;
}

void strata_reach_received(strata_reach *r, strata_addr from, size_t len, uint64_t now)
{
    strata_reach_entry *e = slot(r, r->ledger, r->nledger, from, 1);
    e->rx_bytes += len;
    e->last_ns = now;
}

/* The challenge for addr in key epoch `epoch`: 96 bits, as PROBE's
 * probe_id and send_ts. */
static void challenge_of(const strata_reach *r, strata_addr addr, uint64_t epoch, uint32_t *id,
                         uint64_t *ts)
{
    uint64_t h = addr_key(r, addr, epoch);
    *id = (uint32_t)(h >> 32);
    *ts = strata_mix64(h ^ 0x63686c67u);
}

static void send_challenge(strata_reach *r, strata_outbox *ob, strata_reach_entry *e,
                           strata_addr addr, uint64_t now)
{
    strata_msg_probe p = {.node = r->self};
    challenge_of(r, addr, now / STRATA_S(STRATA_REACH_EPOCH_S), &p.probe_id, &p.send_ts_ns);
    uint8_t buf[64];
    int n = strata_wire_encode_probe(buf, sizeof buf, &p);
    if (strata_outbox_push_bytes(ob, addr, buf, n) == 0) {
        r->st.challenges++;
        if (e) {
            e->tx_bytes += (uint64_t)n;
            e->challenge_ns = now ? now : 1;
        }
    }
}

void strata_reach_challenge(strata_reach *r, strata_outbox *ob, strata_addr addr, uint64_t now)
{
    strata_reach_entry *e = slot(r, r->ledger, r->nledger, addr, 1);
    if (e->challenge_ns && now - e->challenge_ns < STRATA_MS(STRATA_REACH_CHALLENGE_MS))
        return;
    send_challenge(r, ob, e, addr, now);
}

size_t strata_reach_limit(strata_reach *r, strata_outbox *ob, size_t first, strata_addr from,
                          int type, uint64_t now)
{
    strata_reach_entry *e = slot(r, r->ledger, r->nledger, from, 1);
    e->last_ns = now;
    size_t withheld = 0, w = first;
    for (size_t i = first; i < ob->count; i++) {
        strata_datagram d = ob->items[(ob->head + i) % ob->cap];
        if (strata_addr_eq(d.to, from)) {
            if (e->tx_bytes + d.buf->len <= STRATA_REACH_FACTOR * e->rx_bytes) {
                e->tx_bytes += d.buf->len;
            } else {
                r->st.withheld_bytes += d.buf->len;
                if (type > 0 && type <= STRATA_MSG_TYPE_MAX)
                    r->st.withheld[type]++;
                strata_buf_unref(d.buf);
                withheld++;
                continue;
            }
        }
        ob->items[(ob->head + w) % ob->cap] = d;
        w++;
    }
    ob->count = w;
    /* Ask it to prove it receives there, if that fits its budget too. */
    if (withheld && e->tx_bytes + PROBE_BYTES <= STRATA_REACH_FACTOR * e->rx_bytes &&
        (!e->challenge_ns || now - e->challenge_ns >= STRATA_MS(STRATA_REACH_CHALLENGE_MS)))
        send_challenge(r, ob, e, from, now);
    return withheld;
}

int strata_reach_on_probe_reply(strata_reach *r, strata_addr from, const strata_msg_probe_reply *m,
                                uint64_t now)
{
    if (m->node.v != r->self.v)
        return 0;
    uint64_t epoch = now / STRATA_S(STRATA_REACH_EPOCH_S);
    for (int back = 0; back < 2 && (uint64_t)back <= epoch; back++) {
        uint32_t id;
        uint64_t ts;
        challenge_of(r, from, epoch - (uint64_t)back, &id, &ts);
        if (m->probe_id == id && m->send_ts_ns == ts) {
            strata_reach_entry *v = slot(r, r->verified, r->nverified, from, 1);
            v->last_ns = now;
            strata_reach_entry *e = slot(r, r->ledger, r->nledger, from, 0);
            if (e)
                e->used = 0; /* its ledger is no longer needed */
            r->st.verified++;
            return 1;
        }
    }
    return 0;
}
