/*
 * What the baselines share: see alg_common.h for the wire format, the
 * playout window and the registry.
 */
#include "alg_common.h"

#include <string.h>

/* --- wire format ---------------------------------------------------------------- */

/* A bounds-checked reader whose first short read sticks. */
typedef struct cursor {
    const uint8_t *p, *end;
    int err;
} cursor;

static const uint8_t *take(cursor *c, size_t n)
{
    if (c->err)
        return NULL;
    if ((size_t)(c->end - c->p) < n) {
        c->err = STRATA_ERR_SHORT;
        return NULL;
    }
    const uint8_t *v = c->p;
    c->p += n;
    return v;
}

/* An n-byte big-endian unsigned field (0 once the input ran out). */
static uint64_t take_uint(cursor *c, size_t n)
{
    const uint8_t *q = take(c, n);
    uint64_t v = 0;
    for (size_t i = 0; q && i < n; i++)
        v = (v << 8) | q[i];
    return v;
}

static strata_addr take_addr(cursor *c)
{
    strata_addr a;
    a.ipv4 = (uint32_t)take_uint(c, 4);
    a.port = (uint16_t)take_uint(c, 2);
    return a;
}

static uint8_t *put_uint(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + n;
}

static uint8_t *put_addr(uint8_t *p, strata_addr a)
{
    p = put_uint(p, a.ipv4, 4);
    return put_uint(p, a.port, 2);
}

/* The fields' ranges, shared by both directions. */
static int check_fields(const strata_simbl_msg *m)
{
    switch (m->type) {
    case STRATA_SIMBL_DATA:
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        return m->stripe < STRATA_SIMBL_MAX_STRIPES ? 0 : STRATA_ERR_RANGE;
    case STRATA_SIMBL_PEERS:
        return m->count <= STRATA_SIMBL_MAX_PEERS ? 0 : STRATA_ERR_RANGE;
    case STRATA_SIMBL_PARTNER_ACK:
        return m->flag <= 1 ? 0 : STRATA_ERR_RANGE;
    case STRATA_SIMBL_BUFFERMAP:
    case STRATA_SIMBL_REQUEST:
        if (m->nbits % 8 != 0 || m->nbits > STRATA_SIMBL_MAX_MAP_BITS)
            return STRATA_ERR_RANGE;
        return m->type == STRATA_SIMBL_REQUEST && m->nbits == 0 ? STRATA_ERR_RANGE : 0;
    case STRATA_SIMBL_WELCOME:
        if (m->k < 1 || m->k > STRATA_SIMBL_MAX_STRIPES || m->count != m->k)
            return STRATA_ERR_RANGE;
        return m->interior < m->k || m->interior == STRATA_SIMBL_NO_STRIPE ? 0 : STRATA_ERR_RANGE;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_LEAVE:
    case STRATA_SIMBL_WHO:
    case STRATA_SIMBL_MORE:
    case STRATA_SIMBL_PARTNER:
        return 0;
    default:
        return STRATA_ERR_TYPE;
    }
}

/* Encoded length of a message whose fields are in range. */
static size_t msg_len(const strata_simbl_msg *m)
{
    switch (m->type) {
    case STRATA_SIMBL_DATA:
        return STRATA_SIMBL_DATA_BYTES;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_PARTNER:
        return 5;
    case STRATA_SIMBL_PEERS:
        return 2 + 6u * m->count;
    case STRATA_SIMBL_PARTNER_ACK:
        return 6;
    case STRATA_SIMBL_BUFFERMAP:
        return 12 + m->nbits / 8u;
    case STRATA_SIMBL_REQUEST:
        return 11 + m->nbits / 8u;
    case STRATA_SIMBL_WELCOME:
        return 4 + 6u * m->k;
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
        return 8;
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        return 2;
    default:
        return 1; /* LEAVE, WHO, MORE */
    }
}

int strata_simbl_encode(const strata_simbl_msg *m, uint8_t *buf, size_t buflen)
{
    if (check_fields(m) != 0)
        return STRATA_ERR_INVAL;
    if ((m->type == STRATA_SIMBL_DATA && !m->payload) ||
        ((m->type == STRATA_SIMBL_BUFFERMAP || m->type == STRATA_SIMBL_REQUEST) && m->nbits &&
         !m->bits))
        return STRATA_ERR_INVAL;
    size_t len = msg_len(m);
    if (buflen < len)
        return STRATA_ERR_NOSPACE;
    uint8_t *p = put_uint(buf, m->type, 1);
    switch (m->type) {
    case STRATA_SIMBL_DATA:
        p = put_uint(p, m->stripe, 1);
        p = put_uint(p, m->seq, 8);
        memcpy(p, m->payload, STRATA_SIMBL_PAYLOAD_BYTES);
        break;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_PARTNER:
        put_uint(p, m->kbps, 4);
        break;
    case STRATA_SIMBL_PEERS:
        p = put_uint(p, m->count, 1);
        for (unsigned i = 0; i < m->count; i++)
            p = put_addr(p, m->addrs[i]);
        break;
    case STRATA_SIMBL_PARTNER_ACK:
        p = put_uint(p, m->flag, 1);
        put_uint(p, m->kbps, 4);
        break;
    case STRATA_SIMBL_BUFFERMAP:
    case STRATA_SIMBL_REQUEST:
        if (m->type == STRATA_SIMBL_BUFFERMAP)
            p = put_uint(p, m->flag, 1);
        p = put_uint(p, m->seq, 8);
        p = put_uint(p, m->nbits, 2);
        if (m->nbits)
            memcpy(p, m->bits, m->nbits / 8u);
        break;
    case STRATA_SIMBL_WELCOME:
        p = put_uint(p, m->k, 1);
        p = put_uint(p, m->interior, 1);
        p = put_uint(p, m->slots, 1);
        for (unsigned i = 0; i < m->k; i++)
            p = put_addr(p, m->addrs[i]);
        break;
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
        p = put_uint(p, m->stripe, 1);
        put_addr(p, m->addr);
        break;
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        put_uint(p, m->stripe, 1);
        break;
    default:
        break;
    }
    return (int)len;
}

int strata_simbl_decode(const uint8_t *buf, size_t len, strata_simbl_msg *m)
{
    memset(m, 0, sizeof *m);
    if (!buf || len == 0)
        return STRATA_ERR_SHORT;
    cursor c = {buf, buf + len, 0};
    m->type = (uint8_t)take_uint(&c, 1);
    switch (m->type) {
    case STRATA_SIMBL_DATA:
        m->stripe = (uint8_t)take_uint(&c, 1);
        m->seq = take_uint(&c, 8);
        m->payload = take(&c, STRATA_SIMBL_PAYLOAD_BYTES);
        break;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_PARTNER:
        m->kbps = (uint32_t)take_uint(&c, 4);
        break;
    case STRATA_SIMBL_PEERS:
        m->count = (uint8_t)take_uint(&c, 1);
        if (m->count > STRATA_SIMBL_MAX_PEERS)
            return STRATA_ERR_RANGE;
        for (unsigned i = 0; i < m->count; i++)
            m->addrs[i] = take_addr(&c);
        break;
    case STRATA_SIMBL_PARTNER_ACK:
        m->flag = (uint8_t)take_uint(&c, 1);
        m->kbps = (uint32_t)take_uint(&c, 4);
        break;
    case STRATA_SIMBL_BUFFERMAP:
    case STRATA_SIMBL_REQUEST:
        if (m->type == STRATA_SIMBL_BUFFERMAP)
            m->flag = (uint8_t)take_uint(&c, 1);
        m->seq = take_uint(&c, 8);
        m->nbits = (uint16_t)take_uint(&c, 2);
        if (c.err == 0 && (m->nbits % 8 != 0 || m->nbits > STRATA_SIMBL_MAX_MAP_BITS))
            return STRATA_ERR_RANGE;
        m->bits = take(&c, m->nbits / 8u);
        break;
    case STRATA_SIMBL_WELCOME:
        m->k = (uint8_t)take_uint(&c, 1);
        m->interior = (uint8_t)take_uint(&c, 1);
        m->slots = (uint8_t)take_uint(&c, 1);
        if (c.err == 0 && (m->k < 1 || m->k > STRATA_SIMBL_MAX_STRIPES))
            return STRATA_ERR_RANGE;
        m->count = m->k;
        for (unsigned i = 0; i < m->k; i++)
            m->addrs[i] = take_addr(&c);
        break;
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
        m->stripe = (uint8_t)take_uint(&c, 1);
        m->addr = take_addr(&c);
        break;
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        m->stripe = (uint8_t)take_uint(&c, 1);
        break;
    case STRATA_SIMBL_LEAVE:
    case STRATA_SIMBL_WHO:
    case STRATA_SIMBL_MORE:
        break;
    default:
        return STRATA_ERR_TYPE;
    }
    if (c.err)
        return c.err;
    if (c.p != c.end)
        return STRATA_ERR_LONG;
    int rc = check_fields(m);
    return rc < 0 ? rc : (int)len;
}

int strata_simbl_classify(void *state, const uint8_t *buf, size_t len, strata_simpkt *out)
{
    (void)state;
    strata_simbl_msg m;
    int rc = strata_simbl_decode(buf, len, &m);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof *out);
    if (m.type == STRATA_SIMBL_DATA) {
        out->data = 1;
        out->substream = m.stripe;
        out->has_payload = 1;
        out->seq = m.seq;
    }
    return 0;
}

/* --- playout window ------------------------------------------------------------- */

static uint64_t be64_at(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint32_t strata_simbl_window_cap(const strata_scenario *s)
{
    uint32_t want = strata_scenario_store_packets(s);
    uint32_t cap = STRATA_SIMBL_MIN_WINDOW;
    while (cap < want && cap < STRATA_SIMBL_MAX_WINDOW)
        cap <<= 1;
    return cap;
}

int strata_simbl_window_init(strata_simbl_window *w, const strata_alloc *a, uint32_t cap,
                             uint64_t delay_ns)
{
    memset(w, 0, sizeof *w);
    if (cap < 64 || (cap & (cap - 1)) != 0)
        return STRATA_ERR_INVAL;
    w->bits = strata_mem_calloc(a, cap / 64, sizeof *w->bits);
    w->payload = strata_mem_alloc(a, (size_t)cap * STRATA_SIMBL_PAYLOAD_BYTES);
    if (!w->bits || !w->payload) {
        strata_mem_free(a, w->bits);
        strata_mem_free(a, w->payload);
        memset(w, 0, sizeof *w);
        return STRATA_ERR_NOMEM;
    }
    w->cap = cap;
    w->delay_ns = delay_ns;
    w->due_ns = STRATA_NEVER;
    w->alloc = a;
    return 0;
}

void strata_simbl_window_free(strata_simbl_window *w)
{
    strata_mem_free(w->alloc, w->bits);
    strata_mem_free(w->alloc, w->payload);
    memset(w, 0, sizeof *w);
}

void strata_simbl_window_start(strata_simbl_window *w, uint64_t seq)
{
    if (w->started)
        return;
    w->started = 1;
    w->next = seq;
    w->hi = seq;
}

static uint32_t pos_of(const strata_simbl_window *w, uint64_t seq)
{
    return (uint32_t)(seq & (w->cap - 1));
}

/* Forgets the ring positions of seqs [from, to). */
static void clear_span(strata_simbl_window *w, uint64_t from, uint64_t to)
{
    if (to - from >= w->cap) {
        memset(w->bits, 0, w->cap / 8);
        return;
    }
    for (; from < to; from++) {
        uint32_t p = pos_of(w, from);
        w->bits[p >> 6] &= ~(1ull << (p & 63));
    }
}

void strata_simbl_window_skip_to(strata_simbl_window *w, uint64_t seq)
{
    if (!w->started || seq <= w->next)
        return;
    if (seq > w->hi) {
        clear_span(w, w->hi, seq);
        w->hi = seq;
    }
    w->skipped += seq - w->next;
    w->next = seq;
}

int strata_simbl_window_has(const strata_simbl_window *w, uint64_t seq)
{
    if (!w->started || seq >= w->hi || w->hi - seq > w->cap)
        return 0;
    return strata_simbl_bit(w->bits, pos_of(w, seq));
}

const uint8_t *strata_simbl_window_payload(const strata_simbl_window *w, uint64_t seq)
{
    if (!strata_simbl_window_has(w, seq))
        return NULL;
    return w->payload + (size_t)pos_of(w, seq) * STRATA_SIMBL_PAYLOAD_BYTES;
}

int strata_simbl_window_insert(strata_simbl_window *w, uint64_t seq, const uint8_t *payload,
                               uint64_t now)
{
    if (!w->started)
        return STRATA_ERR_UNEXPECTED;
    if (seq < w->next)
        return STRATA_ERR_RANGE;
    if (seq - w->next >= w->cap) {
        uint64_t to = seq - w->cap + 1;
        w->forced += to - w->next;
        w->next = to;
        if (w->hi < to)
            w->hi = to;
    }
    uint32_t p = pos_of(w, seq);
    if (seq < w->hi) {
        if (strata_simbl_bit(w->bits, p))
            return 0;
    } else {
        clear_span(w, w->hi, seq);
        w->hi = seq + 1;
    }
    w->bits[p >> 6] |= 1ull << (p & 63);
    memcpy(w->payload + (size_t)p * STRATA_SIMBL_PAYLOAD_BYTES, payload,
           STRATA_SIMBL_PAYLOAD_BYTES);
    /* The offset as in core/playout.c: the send time comes from another
     * clock, so the difference is signed and taken without overflow. */
    uint64_t ts = be64_at(payload + 8);
    int64_t d = now >= ts ? (now - ts > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(now - ts))
                          : (ts - now > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)(ts - now));
    if (!w->have_offset || d < w->offset_ns) {
        w->offset_ns = d;
        w->have_offset = 1;
    }
    return 1;
}

/* The first held seq in [from, to), or UINT64_MAX. */
static uint64_t find_held(const strata_simbl_window *w, uint64_t from, uint64_t to)
{
    while (from < to) {
        uint32_t p = pos_of(w, from);
        uint64_t word = w->bits[p >> 6] >> (p & 63);
        if (word) {
            uint64_t s = from + (uint64_t)__builtin_ctzll(word);
            return s < to ? s : UINT64_MAX;
        }
        from += 64 - (p & 63);
    }
    return UINT64_MAX;
}

static uint64_t deadline_of(const strata_simbl_window *w, uint64_t seq)
{
    const uint8_t *pl = w->payload + (size_t)pos_of(w, seq) * STRATA_SIMBL_PAYLOAD_BYTES;
    uint64_t t = be64_at(pl + 8);
    if (w->offset_ns >= 0)
        t = add_sat(t, (uint64_t)w->offset_ns);
    else
        t = t < (uint64_t) - (w->offset_ns + 1) + 1 ? 0 : t - ((uint64_t) - (w->offset_ns + 1) + 1);
    return add_sat(t, w->delay_ns);
}

size_t strata_simbl_window_poll(strata_simbl_window *w, uint64_t now, strata_simbl_play_fn play,
                                void *user)
{
    size_t n = 0;
    w->due_ns = STRATA_NEVER;
    while (w->started && w->next < w->hi) {
        uint32_t p = pos_of(w, w->next);
        if (strata_simbl_bit(w->bits, p)) {
            if (play)
                play(user, w->payload + (size_t)p * STRATA_SIMBL_PAYLOAD_BYTES,
                     STRATA_SIMBL_PAYLOAD_BYTES);
            w->next++;
            w->played++;
            n++;
            continue;
        }
        uint64_t q = find_held(w, w->next + 1, w->hi);
        if (q == UINT64_MAX)
            break;
        uint64_t due = deadline_of(w, q);
        if (now < due) {
            w->due_ns = due;
            break;
        }
        w->skipped += q - w->next;
        w->next = q;
    }
    return n;
}

void strata_simbl_window_map(const strata_simbl_window *w, uint64_t base, uint32_t nbits,
                             uint8_t *out)
{
    memset(out, 0, nbits / 8);
    uint64_t lo = w->hi > w->cap ? w->hi - w->cap : 0;
    if (!w->started)
        return;
    for (uint32_t i = 0; i < nbits; i++) {
        uint64_t s = base + i;
        if (s < lo || s >= w->hi)
            continue;
        /* Whole bytes straight from the ring: cap is a multiple of 64, so
         * 8 bits at a position that is a multiple of 8 never straddle. */
        uint32_t p = pos_of(w, s);
        if ((i & 7) == 0 && (p & 7) == 0 && s + 8 <= w->hi) {
            out[i / 8] = (uint8_t)(w->bits[p >> 6] >> (p & 63));
            i += 7;
            continue;
        }
        if (strata_simbl_bit(w->bits, p))
            out[i / 8] |= (uint8_t)(1u << (i & 7));
    }
}

/* --- registry ------------------------------------------------------------------------ */

int strata_simbl_registry_init(strata_simbl_registry *r, const strata_alloc *a, uint32_t nodes)
{
    memset(r, 0, sizeof *r);
    r->m = strata_mem_calloc(a, nodes, sizeof *r->m);
    r->list = strata_mem_calloc(a, nodes, sizeof *r->list);
    if (!r->m || !r->list) {
        strata_mem_free(a, r->m);
        strata_mem_free(a, r->list);
        return STRATA_ERR_NOMEM;
    }
    r->nodes = nodes;
    r->alloc = a;
    return 0;
}

void strata_simbl_registry_free(strata_simbl_registry *r)
{
    strata_mem_free(r->alloc, r->m);
    strata_mem_free(r->alloc, r->list);
    memset(r, 0, sizeof *r);
}

strata_simbl_member *strata_simbl_registry_get(strata_simbl_registry *r, uint32_t node,
                                               uint16_t port)
{
    if (node >= r->nodes || !r->m[node].alive || r->m[node].port != port)
        return NULL;
    return &r->m[node];
}

int strata_simbl_registry_add(strata_simbl_registry *r, uint32_t node, uint16_t port, uint32_t kbps,
                              uint64_t now)
{
    if (node >= r->nodes)
        return STRATA_ERR_INVAL;
    strata_simbl_member *m = &r->m[node];
    if (m->alive) {
        m->kbps = kbps;
        m->heard_ns = now;
        if (m->port == port)
            return 1;
        m->port = port;
        return 2;
    }
    m->alive = 1;
    m->port = port;
    m->kbps = kbps;
    m->heard_ns = now;
    m->pos = r->n;
    r->list[r->n++] = node;
    return 0;
}

void strata_simbl_registry_remove(strata_simbl_registry *r, uint32_t node)
{
    if (node >= r->nodes || !r->m[node].alive)
        return;
    uint32_t pos = r->m[node].pos;
    uint32_t last = r->list[--r->n];
    r->list[pos] = last;
    r->m[last].pos = pos;
    memset(&r->m[node], 0, sizeof r->m[node]);
}

uint32_t strata_simbl_registry_silent(const strata_simbl_registry *r, uint64_t before_ns,
                                      uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n; i++)
        if (r->m[r->list[i]].heard_ns < before_ns)
            out[n++] = r->list[i];
    return n;
}

uint32_t strata_simbl_registry_sample(const strata_simbl_registry *r, strata_rng *rng,
                                      uint32_t except, uint32_t *out, uint32_t max)
{
    uint32_t others = r->n - (except < r->nodes && r->m[except].alive ? 1u : 0u);
    uint32_t got = 0;
    if (others <= max) {
        for (uint32_t i = 0; i < r->n; i++)
            if (r->list[i] != except)
                out[got++] = r->list[i];
        return got;
    }
    /* Rejection: with more members than wanted, a repeat is unlikely. */
    while (got < max) {
        uint32_t node = r->list[strata_rng_below(rng, r->n)];
        int dup = node == except;
        for (uint32_t i = 0; i < got && !dup; i++)
            dup = out[i] == node;
        if (!dup)
            out[got++] = node;
    }
    return got;
}

/* --- plumbing --------------------------------------------------------------------------- */

int strata_simbl_base_init(strata_simbl_base *b, strata_world *w, const strata_simbl_hooks *hooks)
{
    memset(b, 0, sizeof *b);
    const strata_scenario *s = strata_world_scenario(w);
    b->w = w;
    b->alloc = strata_world_alloc(w);
    b->hooks = hooks;
    b->nodes = strata_world_nodes(w);
    b->window = strata_simbl_window_cap(s);
    b->rate_kbps = s->rate_kbps;
    b->hb_ns = STRATA_MS(s->heartbeat_ms);
    b->delay_ns = STRATA_MS(s->playout_delay_ms);
    b->interval_ns = strata_world_packet_interval_ns(w);
    uint64_t bits =
        ((uint64_t)s->packet_bytes + STRATA_SIMBL_DATA_BYTES - STRATA_SIMBL_PAYLOAD_BYTES) * 8;
    b->data_bits = bits > UINT32_MAX ? UINT32_MAX : (uint32_t)bits;
    b->sweep_at = STRATA_NEVER;
    b->ob = strata_mem_calloc(b->alloc, b->nodes, sizeof *b->ob);
    b->up = strata_mem_calloc(b->alloc, b->nodes, sizeof *b->up);
    b->silent = strata_mem_calloc(b->alloc, b->nodes, sizeof *b->silent);
    if (!b->ob || !b->up || !b->silent ||
        strata_simbl_registry_init(&b->reg, b->alloc, b->nodes) < 0) {
        strata_simbl_base_free(b);
        return STRATA_ERR_NOMEM;
    }
    return 0;
}

void strata_simbl_base_free(strata_simbl_base *b)
{
    if (b->ob)
        for (uint32_t i = 0; i < b->nodes; i++)
            strata_outbox_free(&b->ob[i]);
    strata_mem_free(b->alloc, b->ob);
    strata_mem_free(b->alloc, b->up);
    strata_mem_free(b->alloc, b->silent);
    if (b->reg.m)
        strata_simbl_registry_free(&b->reg);
    b->ob = NULL;
    b->up = NULL;
    b->silent = NULL;
}

int strata_simbl_base_up(strata_simbl_base *b, uint32_t node, size_t cap)
{
    strata_outbox_free(&b->ob[node]);
    int rc = strata_outbox_init(&b->ob[node], b->alloc, cap);
    b->up[node] = rc == 0;
    return rc;
}

void strata_simbl_node_free(void *state, uint32_t idx)
{
    strata_simbl_base *b = state;
    if (idx >= b->nodes)
        return;
    if (b->up[idx] && b->hooks->node_del)
        b->hooks->node_del(state, idx);
    b->up[idx] = 0;
    strata_outbox_free(&b->ob[idx]);
}

strata_outbox *strata_simbl_outbox(void *state, uint32_t idx)
{
    strata_simbl_base *b = state;
    return idx < b->nodes ? &b->ob[idx] : NULL;
}

int strata_simbl_tracker_up(strata_simbl_base *b, uint64_t now)
{
    strata_rng_seed(&b->trk_rng, strata_world_node_seed(b->w, STRATA_WORLD_CONTROL));
    b->sweep_at = now + b->hb_ns;
    int rc = strata_simbl_registry_add(&b->reg, STRATA_WORLD_SOURCE,
                                       strata_world_addr(b->w, STRATA_WORLD_SOURCE).port,
                                       strata_world_upload_kbps(b->w, STRATA_WORLD_SOURCE), now);
    return rc < 0 ? rc : 0;
}

static void tracker_drop(strata_simbl_base *b, uint32_t node)
{
    if (b->hooks->forget)
        b->hooks->forget(b, node);
    strata_simbl_registry_remove(&b->reg, node);
}

void strata_simbl_tracker_timeout(strata_simbl_base *b, uint64_t now)
{
    if (now < b->sweep_at)
        return;
    uint64_t quiet = b->hb_ns * 7 / 2;
    if (now > quiet) {
        uint32_t n = strata_simbl_registry_silent(&b->reg, now - quiet, b->silent);
        for (uint32_t i = 0; i < n; i++)
            if (b->silent[i] != STRATA_WORLD_SOURCE)
                tracker_drop(b, b->silent[i]);
    }
    b->sweep_at = now + b->hb_ns;
}

/* Membership (HB, LEAVE, WHO for strangers) here; the rest to the hook. */
static int tracker_handle(strata_simbl_base *b, strata_addr from, const strata_simbl_msg *m,
                          uint64_t now)
{
    uint32_t fn = strata_world_node_of(from);
    if (fn >= b->nodes || fn == STRATA_WORLD_CONTROL) {
        b->drops[STRATA_SIMBL_DROP_STRANGER]++;
        return STRATA_ERR_UNEXPECTED;
    }
    if (m->type == STRATA_SIMBL_JOIN)
        return b->hooks->tracker(b, from, m, now);
    strata_simbl_member *mem = strata_simbl_registry_get(&b->reg, fn, from.port);
    if (!mem) {
        /* A member the tracker forgot (or never knew) asks to join again. */
        if (m->type == STRATA_SIMBL_HB || m->type == STRATA_SIMBL_MORE ||
            m->type == STRATA_SIMBL_ASK) {
            strata_simbl_send_bare(b, STRATA_WORLD_CONTROL, from, STRATA_SIMBL_WHO, 0);
            return 0;
        }
        b->drops[STRATA_SIMBL_DROP_STRANGER]++;
        return STRATA_ERR_UNEXPECTED;
    }
    mem->heard_ns = now;
    if (m->type == STRATA_SIMBL_HB)
        return 0;
    if (m->type == STRATA_SIMBL_LEAVE) {
        if (fn != STRATA_WORLD_SOURCE)
            tracker_drop(b, fn);
        return 0;
    }
    return b->hooks->tracker(b, from, m, now);
}

int strata_simbl_handle_datagram(void *state, uint32_t idx, strata_addr from, const uint8_t *buf,
                                 size_t len, uint64_t now)
{
    strata_simbl_base *b = state;
    strata_simbl_msg m;
    int rc = strata_simbl_decode(buf, len, &m);
    if (rc < 0) {
        b->drops[STRATA_SIMBL_DROP_MALFORMED]++;
        return rc;
    }
    if (idx == STRATA_WORLD_CONTROL && b->sweep_at != STRATA_NEVER)
        return tracker_handle(b, from, &m, now);
    if (idx >= b->nodes || idx == STRATA_WORLD_CONTROL || !b->up[idx]) {
        b->drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    return b->hooks->node(state, idx, from, &m, now);
}

typedef struct play_ctx {
    strata_world *w;
    uint32_t node;
} play_ctx;

static void on_play(void *user, const uint8_t *payload, size_t len)
{
    play_ctx *c = user;
    strata_world_on_play(c->w, c->node, payload, len);
}

void strata_simbl_play(strata_simbl_base *b, uint32_t node, strata_simbl_window *win, uint64_t now)
{
    play_ctx c = {b->w, node};
    strata_simbl_window_poll(win, now, on_play, &c);
}

strata_buf *strata_simbl_pack(const strata_alloc *a, const strata_simbl_msg *m)
{
    uint8_t tmp[STRATA_SIMBL_MAX_MSG_BYTES];
    int n = strata_simbl_encode(m, tmp, sizeof tmp);
    if (n < 0)
        return NULL;
    strata_buf *buf = strata_buf_new(a, (size_t)n);
    if (!buf)
        return NULL;
    memcpy(buf->data, tmp, (size_t)n);
    buf->len = (uint32_t)n;
    return buf;
}

void strata_simbl_push(strata_simbl_base *b, uint32_t node, strata_addr to, strata_buf *buf)
{
    if (strata_outbox_push(&b->ob[node], to, buf) != 0)
        b->drops[STRATA_SIMBL_DROP_OUTBOX]++;
}

void strata_simbl_send(strata_simbl_base *b, uint32_t node, strata_addr to,
                       const strata_simbl_msg *m)
{
    strata_buf *buf = strata_simbl_pack(b->alloc, m);
    if (!buf) {
        b->drops[STRATA_SIMBL_DROP_OUTBOX]++;
        return;
    }
    strata_simbl_push(b, node, to, buf);
    strata_buf_unref(buf);
}

void strata_simbl_send_kbps(strata_simbl_base *b, uint32_t node, strata_addr to, uint8_t type,
                            uint8_t flag, uint32_t kbps)
{
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.flag = flag;
    m.kbps = kbps;
    strata_simbl_send(b, node, to, &m);
}

strata_addr strata_simbl_tracker_addr(const strata_simbl_base *b)
{
    return strata_world_addr(b->w, STRATA_WORLD_CONTROL);
}

void strata_simbl_send_bare(strata_simbl_base *b, uint32_t node, strata_addr to, uint8_t type,
                            uint8_t stripe)
{
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.stripe = stripe;
    strata_simbl_send(b, node, to, &m);
}

uint64_t strata_simbl_jitter(strata_rng *r, uint64_t now, uint64_t span)
{
    return add_sat(now, span ? strata_rng_below(r, span) : 0);
}

uint64_t strata_simbl_tx_ns(uint64_t bits, uint32_t kbps)
{
    /* An unlimited uplink counts as 1 Gbit/s. */
    uint64_t k = kbps ? kbps : 1000000;
    return (bits * 1000000 + k - 1) / k;
}
