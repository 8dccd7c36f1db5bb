/*
 * Implementation of the shared vocabulary in strata/common.h: errors,
 * channel ids, address formatting, allocation, logging, reference-counted
 * buffers, the outbox and the random generator.
 */
#include "strata/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *strata_strerror(int err)
{
    switch (err) {
    case STRATA_OK:
        return "success";
    case STRATA_ERR_SHORT:
        return "input too short";
    case STRATA_ERR_LONG:
        return "trailing bytes after message";
    case STRATA_ERR_MAGIC:
        return "bad magic";
    case STRATA_ERR_VERSION:
        return "unsupported protocol version";
    case STRATA_ERR_TYPE:
        return "unknown message type";
    case STRATA_ERR_RANGE:
        return "field out of range";
    case STRATA_ERR_UNEXPECTED:
        return "message not valid in this state";
    case STRATA_ERR_FORGED:
        return "signature or signed hash does not match";
    case STRATA_ERR_UNVERIFIED:
        return "no signed manifest vouched for it in time";
    case STRATA_ERR_SENDER:
        return "not from a node it is taken from";
    case STRATA_ERR_LIMIT:
        return "over a rate limit";
    case STRATA_ERR_DENIED:
        return "no valid access token";
    case STRATA_ERR_AUTH:
        return "not proven by the sender's session key";
    case STRATA_ERR_INVAL:
        return "invalid argument";
    case STRATA_ERR_NOSPACE:
        return "no space";
    case STRATA_ERR_NOTFOUND:
        return "not found";
    case STRATA_ERR_EXISTS:
        return "already exists";
    case STRATA_ERR_FULL:
        return "queue full";
    case STRATA_ERR_TOO_FEW:
        return "fewer symbols than needed to decode";
    case STRATA_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

strata_channel_id strata_channel_id_from_name(const char *name, size_t namelen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < namelen; i++) {
        h ^= (uint8_t)name[i];
        h *= 0x100000001b3ull;
    }
    if (h == 0)
        h = 1; /* zero means "no channel" */
    return (strata_channel_id){h};
}

char *strata_addr_format(strata_addr a, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%u.%u.%u.%u:%u", (unsigned)(a.ipv4 >> 24) & 255u,
             (unsigned)(a.ipv4 >> 16) & 255u, (unsigned)(a.ipv4 >> 8) & 255u,
             (unsigned)a.ipv4 & 255u, (unsigned)a.port);
    return buf;
}

void *strata_mem_alloc(const strata_alloc *a, size_t size)
{
    return a ? a->alloc(a->user, size) : malloc(size);
}

void *strata_mem_calloc(const strata_alloc *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (!a)
        return calloc(n, size); /* fresh pages of a large block are not touched */
    void *p = strata_mem_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *strata_mem_realloc(const strata_alloc *a, void *ptr, size_t size)
{
    return a ? a->realloc(a->user, ptr, size) : realloc(ptr, size);
}

void strata_mem_free(const strata_alloc *a, void *ptr)
{
    if (!ptr)
        return;
    if (a)
        a->free(a->user, ptr);
    else
        free(ptr);
}

void strata_logf(const strata_log *log, int level, const char *fmt, ...)
{
    if (!log || !log->write || level > log->max_level)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log->write(log->user, level, line);
}

strata_buf *strata_buf_new(const strata_alloc *a, size_t capacity)
{
    if (capacity > UINT32_MAX)
        return NULL;
    strata_buf *b = strata_mem_alloc(a, sizeof *b + capacity);
    if (!b)
        return NULL;
    b->refs = 1;
    b->len = 0;
    b->alloc = a;
    return b;
}

strata_buf *strata_buf_copy(const strata_alloc *a, const uint8_t *data, size_t len)
{
    strata_buf *b = strata_buf_new(a, len);
    if (!b)
        return NULL;
    memcpy(b->data, data, len);
    b->len = (uint32_t)len;
    return b;
}

void strata_buf_unref(strata_buf *b)
{
    if (b && --b->refs == 0)
        strata_mem_free(b->alloc, b);
}

enum { OUTBOX_FIRST_SLOTS = 32 };

int strata_outbox_init(strata_outbox *ob, const strata_alloc *a, size_t cap)
{
    memset(ob, 0, sizeof *ob);
    size_t first = cap < OUTBOX_FIRST_SLOTS ? cap : OUTBOX_FIRST_SLOTS;
    ob->items = strata_mem_calloc(a, first ? first : 1, sizeof *ob->items);
    if (!ob->items)
        return STRATA_ERR_NOMEM;
    ob->cap = first;
    ob->max = cap;
    ob->alloc = a;
    return 0;
}

/* Doubles the ring (up to max), its entries moved to the front in order.
 * Returns 0 or STRATA_ERR_FULL (at max, or no memory: the push drops). */
static int outbox_grow(strata_outbox *ob)
{
    if (ob->cap >= ob->max)
        return STRATA_ERR_FULL;
    size_t cap = ob->cap * 2 < ob->max ? ob->cap * 2 : ob->max;
    strata_datagram *items = strata_mem_calloc(ob->alloc, cap, sizeof *items);
    if (!items)
        return STRATA_ERR_FULL;
    for (size_t i = 0; i < ob->count; i++)
        items[i] = ob->items[(ob->head + i) % ob->cap];
    strata_mem_free(ob->alloc, ob->items);
    ob->items = items;
    ob->cap = cap;
    ob->head = 0;
    return 0;
}

void strata_outbox_free(strata_outbox *ob)
{
    strata_datagram d;
    while (strata_outbox_pop(ob, &d))
        strata_buf_unref(d.buf);
    strata_mem_free(ob->alloc, ob->items);
    ob->items = NULL;
    ob->cap = ob->max = 0;
}

int strata_outbox_push(strata_outbox *ob, strata_addr to, strata_buf *buf)
{
    if (ob->count == ob->cap && outbox_grow(ob) != 0) {
        ob->dropped++;
        return STRATA_ERR_FULL;
    }
    size_t tail = (ob->head + ob->count) % ob->cap;
    ob->items[tail].to = to;
    ob->items[tail].buf = strata_buf_ref(buf);
    ob->count++;
    return 0;
}

int strata_outbox_push_bytes(strata_outbox *ob, strata_addr to, const uint8_t *data, int len)
{
    if (len < 0)
        return len;
    strata_buf *b = strata_buf_copy(ob->alloc, data, (size_t)len);
    if (!b)
        return STRATA_ERR_NOMEM;
    int err = strata_outbox_push(ob, to, b);
    strata_buf_unref(b);
    return err;
}

int strata_outbox_pop(strata_outbox *ob, strata_datagram *out)
{
    if (ob->count == 0)
        return 0;
    *out = ob->items[ob->head];
    ob->head = (ob->head + 1) % ob->cap;
    ob->count--;
    return 1;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void strata_rng_seed(strata_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t strata_rng_next(strata_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t strata_rng_below(strata_rng *r, uint64_t bound)
{
    if (bound == 0)
        return 0;
    uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
    for (;;) {
        uint64_t x = strata_rng_next(r);
        if (x >= threshold)
            return x % bound;
    }
}

size_t strata_rng_pick(strata_rng *r, size_t n, size_t k, size_t skip, size_t *out)
{
    size_t got = 0;
    if (n <= k) {
        for (size_t i = 0; i < n; i++)
            if (i != skip)
                out[got++] = i;
        return got;
    }
    while (got < k) {
        size_t p = (size_t)strata_rng_below(r, n);
        int dup = p == skip;
        for (size_t j = 0; j < got; j++)
            dup |= out[j] == p;
        if (!dup)
            out[got++] = p;
    }
    return got;
}

double strata_rng_unit(strata_rng *r)
{
    return (double)(strata_rng_next(r) >> 11) * 0x1.0p-53;
}
