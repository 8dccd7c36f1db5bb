/*
 * The fuzz targets' input is a small program read byte by byte: these
 * read its next bytes, and give 0 once it is used up, so that a short
 * input is a valid (short) program.
 */
#ifndef STRATA_FUZZ_PROG_H
#define STRATA_FUZZ_PROG_H

#include <stdint.h>

typedef struct prog {
    const uint8_t *p, *end;
} prog;

static inline int more(const prog *r)
{
    return r->p < r->end;
}

static inline uint8_t u8(prog *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

/* The next `bytes` bytes, big-endian. */
static inline uint64_t un(prog *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | u8(r);
    return v;
}

static inline uint16_t u16(prog *r)
{
    return (uint16_t)un(r, 2);
}

static inline uint32_t u32(prog *r)
{
    return (uint32_t)un(r, 4);
}

static inline uint64_t u64(prog *r)
{
    return un(r, 8);
}

#endif
