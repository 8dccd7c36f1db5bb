/*
 * Polluting peers: see pollute.h for the model.
 */
#include "pollute.h"

#include <string.h>

#include "strata/wire.h"

const char *const strata_simpol_kind_names[STRATA_SIMPOL_KINDS] = {
    "forge", "seq", "corrupt", "replay", "reorder", "eos", "drop", "lie"};

int strata_simpol_parse_kinds(const char *s, uint32_t *mask)
{
    *mask = 0;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = 0;
        if (len == 3 && memcmp(p, "all", 3) == 0) {
            *mask |= (1u << STRATA_SIMPOL_KINDS) - 1u;
            found = 1;
        } else if (len == 4 && memcmp(p, "none", 4) == 0) {
            found = 1;
        }
        for (unsigned i = 0; i < STRATA_SIMPOL_KINDS && !found; i++) {
            if (strlen(strata_simpol_kind_names[i]) == len &&
                memcmp(p, strata_simpol_kind_names[i], len) == 0) {
                *mask |= 1u << i;
                found = 1;
            }
        }
        if (!found)
            return -1;
        if (!end)
            break;
        p = end + 1;
        if (!*p)
            return -1; /* a trailing comma */
    }
    return 0;
}

int strata_simpol_init(strata_simpol *p, const strata_alloc *a, uint32_t nodes, uint32_t mask,
                       double rate, uint64_t hold_ns, uint8_t k, uint64_t rng_seed)
{
    memset(p, 0, sizeof *p);
    p->alloc = a;
    p->mask = mask;
    p->rate = rate;
    p->hold_ns = hold_ns ? hold_ns : 1;
    p->k = k ? k : 1;
    p->nodes = nodes;
    p->ordinal = strata_mem_calloc(a, nodes, sizeof *p->ordinal);
    if (!p->ordinal)
        return STRATA_ERR_NOMEM;
    strata_rng_seed(&p->rng, rng_seed);
    return 0;
}

void strata_simpol_free(strata_simpol *p)
{
    for (uint32_t i = 0; i < p->npolluters; i++)
        for (unsigned j = 0; j < STRATA_SIMPOL_RING; j++)
            if (p->ring[(size_t)i * STRATA_SIMPOL_RING + j])
                strata_buf_unref(p->ring[(size_t)i * STRATA_SIMPOL_RING + j]);
    strata_mem_free(p->alloc, p->ring);
    strata_mem_free(p->alloc, p->ring_next);
    strata_mem_free(p->alloc, p->ring_fill);
    strata_mem_free(p->alloc, p->ordinal);
    memset(p, 0, sizeof *p);
}

int strata_simpol_add(strata_simpol *p, uint32_t node)
{
    if (node >= p->nodes || p->ordinal[node])
        return 0;
    if (p->npolluters == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 64;
        strata_buf **ring =
            strata_mem_realloc(p->alloc, p->ring, (size_t)cap * STRATA_SIMPOL_RING * sizeof *ring);
        if (!ring)
            return STRATA_ERR_NOMEM;
        p->ring = ring;
        uint8_t *next = strata_mem_realloc(p->alloc, p->ring_next, cap);
        if (!next)
            return STRATA_ERR_NOMEM;
        p->ring_next = next;
        uint8_t *fill = strata_mem_realloc(p->alloc, p->ring_fill, cap);
        if (!fill)
            return STRATA_ERR_NOMEM;
        p->ring_fill = fill;
        p->cap = cap;
    }
    uint32_t i = p->npolluters++;
    memset(&p->ring[(size_t)i * STRATA_SIMPOL_RING], 0, STRATA_SIMPOL_RING * sizeof *p->ring);
    p->ring_next[i] = p->ring_fill[i] = 0;
    p->ordinal[node] = i + 1;
    return 0;
}

void strata_simpol_reset(strata_simpol *p, uint32_t node)
{
    if (!strata_simpol_is(p, node))
        return;
    uint32_t i = p->ordinal[node] - 1;
    strata_buf **r = &p->ring[(size_t)i * STRATA_SIMPOL_RING];
    for (unsigned j = 0; j < STRATA_SIMPOL_RING; j++) {
        if (r[j])
            strata_buf_unref(r[j]);
        r[j] = NULL;
    }
    p->ring_next[i] = p->ring_fill[i] = 0;
}

/* Keeps a reference of b among polluter i's old datagrams (once: the
 * copies of one packet to several children share a buffer). */
static void remember(strata_simpol *p, uint32_t i, strata_buf *b)
{
    strata_buf **r = &p->ring[(size_t)i * STRATA_SIMPOL_RING];
    unsigned last = (p->ring_next[i] + STRATA_SIMPOL_RING - 1u) % STRATA_SIMPOL_RING;
    if (p->ring_fill[i] && r[last] == b)
        return;
    unsigned at = p->ring_next[i];
    if (r[at])
        strata_buf_unref(r[at]);
    r[at] = strata_buf_ref(b);
    p->ring_next[i] = (uint8_t)((at + 1u) % STRATA_SIMPOL_RING);
    if (p->ring_fill[i] < STRATA_SIMPOL_RING)
        p->ring_fill[i]++;
}

/* Whether act fits datagram m (decoded) of polluter i. */
static int fits(const strata_simpol *p, uint32_t i, unsigned act, const strata_msg_data *m)
{
    int parity = (m->flags & STRATA_DATA_FLAG_PARITY) != 0;
    int eos = (m->flags & STRATA_DATA_FLAG_EOS) != 0;
    switch (act) {
    case STRATA_SIMPOL_FORGE:
    case STRATA_SIMPOL_CORRUPT:
        return m->payload_len > 0;
    case STRATA_SIMPOL_SEQ:
        return !parity && !eos && m->seq <= UINT64_MAX / 2;
    case STRATA_SIMPOL_REPLAY:
        return p->ring_fill[i] > 1;
    case STRATA_SIMPOL_EOS:
        return !parity && !eos;
    default:
        return 1;
    }
}

/* Re-encodes m into a new buffer of at most cap bytes; NULL when out of
 * memory (or, which cannot happen, when it does not encode). */
static strata_buf *encode(const strata_simpol *p, const strata_msg_data *m, size_t cap)
{
    strata_buf *b = strata_buf_new(p->alloc, cap);
    if (!b)
        return NULL;
    int n = strata_wire_encode_data(b->data, cap, m);
    if (n < 0) {
        strata_buf_unref(b);
        return NULL;
    }
    b->len = (uint32_t)n;
    return b;
}

strata_buf *strata_simpol_alter(strata_simpol *p, uint32_t node, strata_buf *in, uint64_t *hold_ns,
                                int *kind)
{
    *hold_ns = 0;
    *kind = -1;
    if (!strata_simpol_is(p, node))
        return in;
    uint32_t i = p->ordinal[node] - 1;
    strata_msg_data m;
    if (strata_wire_decode_data(in->data, in->len, &m) < 0)
        return in;
    if (!(m.flags & STRATA_DATA_FLAG_EOS))
        remember(p, i, in);
    uint32_t acts = p->mask & ((1u << STRATA_SIMPOL_PACKET_KINDS) - 1u);
    if (!acts || p->rate <= 0 || strata_rng_unit(&p->rng) >= p->rate)
        return in;
    /* A kind drawn uniformly among those allowed, then the first that
     * fits from there on. */
    unsigned nacts = 0, pick;
    for (unsigned a = 0; a < STRATA_SIMPOL_PACKET_KINDS; a++)
        nacts += (acts >> a) & 1u;
    pick = (unsigned)strata_rng_below(&p->rng, nacts);
    unsigned act = 0;
    for (unsigned a = 0;; a++)
        if (((acts >> a) & 1u) && pick-- == 0) {
            act = a;
            break;
        }
    unsigned tried = 0;
    while (tried < STRATA_SIMPOL_PACKET_KINDS && (!((acts >> act) & 1u) || !fits(p, i, act, &m))) {
        act = (act + 1u) % STRATA_SIMPOL_PACKET_KINDS;
        tried++;
    }
    if (tried == STRATA_SIMPOL_PACKET_KINDS)
        return in;

    uint8_t payload[STRATA_WIRE_MAX_PAYLOAD_BYTES + 2];
    strata_buf *out = in;
    switch (act) {
    case STRATA_SIMPOL_FORGE:
    case STRATA_SIMPOL_CORRUPT:
        if (m.payload_len > sizeof payload)
            return in;
        memcpy(payload, m.payload, m.payload_len);
        if (act == STRATA_SIMPOL_FORGE) {
            for (size_t b = 0; b < m.payload_len; b++)
                payload[b] = (uint8_t)strata_rng_next(&p->rng);
        } else {
            unsigned flips = 1 + (unsigned)strata_rng_below(&p->rng, 4);
            for (unsigned f = 0; f < flips; f++) {
                uint64_t bit = strata_rng_below(&p->rng, (uint64_t)m.payload_len * 8);
                payload[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            }
        }
        m.payload = payload;
        out = encode(p, &m, in->len);
        break;
    case STRATA_SIMPOL_SEQ: {
        uint64_t how = strata_rng_below(&p->rng, 3); /* 0: seq, 1: send time, 2: both */
        if (how != 1)
            m.seq += (uint64_t)p->k * (1 + strata_rng_below(&p->rng, STRATA_SIMPOL_SEQ_JUMP));
        if (how != 0) {
            uint64_t back = (uint64_t)STRATA_SIMPOL_OLD_SEND_S * 1000000000ull;
            m.send_ts_ns = m.send_ts_ns > back ? m.send_ts_ns - back : 0;
        }
        out = encode(p, &m, in->len);
        break;
    }
    case STRATA_SIMPOL_REPLAY: {
        /* Any but the newest, which is this one. */
        strata_buf **r = &p->ring[(size_t)i * STRATA_SIMPOL_RING];
        unsigned back = 1 + (unsigned)strata_rng_below(&p->rng, p->ring_fill[i] - 1u);
        unsigned at = (p->ring_next[i] + STRATA_SIMPOL_RING - 1u - back) % STRATA_SIMPOL_RING;
        out = strata_buf_ref(r[at]);
        break;
    }
    case STRATA_SIMPOL_REORDER:
        *hold_ns = 1 + strata_rng_below(&p->rng, p->hold_ns);
        break;
    case STRATA_SIMPOL_EOS:
        m.flags = STRATA_DATA_FLAG_EOS;
        m.payload_len = 0;
        m.payload = NULL;
        out = encode(p, &m, in->len);
        break;
    case STRATA_SIMPOL_DROP:
    default:
        out = NULL;
        break;
    }
    if (out != in)
        strata_buf_unref(in);
    if (out || act == STRATA_SIMPOL_DROP) {
        *kind = (int)act;
        p->acts[act]++;
    }
    return out;
}
