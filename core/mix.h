/*
 * A 64-bit mixer (splitmix64's finaliser) for the keyed hashes of tables
 * indexed by what others choose (addresses, prefixes): with a key the
 * sender does not know, it cannot aim many entries at one slot.
 */
#ifndef STRATA_MIX_H
#define STRATA_MIX_H

#include <stdint.h>

static inline uint64_t strata_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif
