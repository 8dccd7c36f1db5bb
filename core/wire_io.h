/*
 * The wire codec's byte-level helpers, shared by the modules that encode
 * and decode datagrams (wire.c, manifest.c): big-endian writers that trust
 * the caller to have checked the room, and a bounds-checked reader whose
 * every accessor checks the remaining length first (a short read sets a
 * sticky error and yields zeros), plus the open/close steps of
 * protocol.md 2.4 that every decoder shares.
 */
#ifndef STRATA_WIRE_IO_H
#define STRATA_WIRE_IO_H

#include "strata/wire.h"

#include <string.h>

enum wire_magic { WIRE_MAGIC0 = 0x53, WIRE_MAGIC1 = 0x54 }; /* "ST", protocol.md 2.1 */

/* --- big-endian writers (callers have checked the room) ------------------ */

static inline uint8_t *put_u8(uint8_t *p, uint8_t v)
{
    p[0] = v;
    return p + 1;
}

static inline uint8_t *put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static inline uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    p = put_u32(p, (uint32_t)(v >> 32));
    return put_u32(p, (uint32_t)v);
}

static inline uint8_t *put_bytes(uint8_t *p, const uint8_t *src, size_t n)
{
    if (n)
        memcpy(p, src, n);
    return p + n;
}

/* protocol.md 2.1: the header every message starts with. */
static inline uint8_t *put_header(uint8_t *p, enum strata_msg_type type)
{
    p = put_u8(p, WIRE_MAGIC0);
    p = put_u8(p, WIRE_MAGIC1);
    p = put_u8(p, STRATA_WIRE_VERSION);
    return put_u8(p, (uint8_t)type);
}

/* protocol.md 2.2: an address is a 4-byte IPv4 address and a 2-byte port. */
static inline uint8_t *put_peer_ref(uint8_t *p, const strata_peer_ref *r)
{
    p = put_u64(p, r->node.v);
    p = put_u32(p, r->addr.ipv4);
    return put_u16(p, r->addr.port);
}

/* --- bounds-checked reader ---------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* sticky: STRATA_ERR_SHORT after the first short read */
} reader;

/* True when n more bytes can be read; sets the sticky error otherwise. */
static inline int have(reader *r, size_t n)
{
    if (r->err)
        return 0;
    if ((size_t)(r->end - r->p) >= n)
        return 1;
    r->err = STRATA_ERR_SHORT;
    return 0;
}

static inline uint8_t get_u8(reader *r)
{
    if (!have(r, 1))
        return 0;
    uint8_t v = r->p[0];
    r->p += 1;
    return v;
}

static inline uint16_t get_u16(reader *r)
{
    if (!have(r, 2))
        return 0;
    uint16_t v = (uint16_t)(((unsigned)r->p[0] << 8) | (unsigned)r->p[1]);
    r->p += 2;
    return v;
}

static inline uint32_t get_u32(reader *r)
{
    if (!have(r, 4))
        return 0;
    uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) | ((uint32_t)r->p[2] << 8) |
                 (uint32_t)r->p[3];
    r->p += 4;
    return v;
}

static inline uint64_t get_u64(reader *r)
{
    uint64_t hi = get_u32(r);
    uint64_t lo = get_u32(r);
    return (hi << 32) | lo;
}

/* Returns a pointer to the next n bytes inside the input (valid even for
 * n == 0), or NULL with the sticky error set when they are not there. */
static const uint8_t *get_bytes(reader *r, size_t n)
{
    if (!have(r, n))
        return NULL;
    const uint8_t *v = r->p;
    r->p += n;
    return v;
}

static inline void get_peer_ref(reader *r, strata_peer_ref *ref)
{
    ref->node.v = get_u64(r);
    ref->addr.ipv4 = get_u32(r);
    ref->addr.port = get_u16(r);
}

/* protocol.md 2.4 step 1: opens buf as a message of the expected type. */
static inline int open_message(reader *r, const uint8_t *buf, size_t buflen,
                               enum strata_msg_type want)
{
    if (!buf && buflen)
        return STRATA_ERR_INVAL;
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return type;
    if (type != (int)want)
        return STRATA_ERR_TYPE;
    r->p = buf + STRATA_WIRE_HEADER_BYTES;
    r->end = buf + buflen;
    r->err = 0;
    return 0;
}

/* Ends a decode: short input first, then leftover bytes. */
static inline int close_message(const reader *r, size_t buflen)
{
    if (r->err)
        return r->err;
    if (r->p != r->end)
        return STRATA_ERR_LONG;
    /* Every accepted message is at most STRATA_WIRE_MAX_DATAGRAM_BYTES, so
     * this conversion cannot overflow. */
    return (int)buflen;
}

/* Shared start of every encoder: validity first, then room. */
static inline int encode_prelude(const uint8_t *buf, size_t buflen, int valid, size_t need)
{
    if (!valid)
        return STRATA_ERR_INVAL;
    if (!buf && buflen)
        return STRATA_ERR_INVAL;
    if (buflen < need)
        return STRATA_ERR_NOSPACE;
    return 0;
}

#endif
