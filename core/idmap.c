/*
 * Id -> index hash map (see idmap.h for the model).
 */
#include "idmap.h"

#include <string.h>

enum { IDMAP_MIN_CAP = 16 };

/* A 64-bit finaliser (the one from MurmurHash3): every input bit affects
 * every output bit, so sequential ids spread over the table. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t home_slot(const strata_idmap *m, uint64_t key)
{
    return (size_t)mix64(key ^ m->seed) & (m->cap - 1);
}

void strata_idmap_init(strata_idmap *m, const strata_alloc *a, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->alloc = a;
    m->seed = seed;
}

void strata_idmap_free(strata_idmap *m)
{
    strata_mem_free(m->alloc, m->keys);
    strata_mem_free(m->alloc, m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->count = 0;
}

/* Places key in a table known to have room and not to contain it. */
static void insert_fresh(uint64_t *keys, uint32_t *vals, size_t slot, size_t mask, uint64_t key,
                         uint32_t val)
{
    while (keys[slot] != 0)
        slot = (slot + 1) & mask;
    keys[slot] = key;
    vals[slot] = val;
}

static int resize(strata_idmap *m, size_t newcap)
{
    uint64_t *keys = strata_mem_calloc(m->alloc, newcap, sizeof *keys);
    if (!keys)
        goto fail_keys;
    uint32_t *vals = strata_mem_calloc(m->alloc, newcap, sizeof *vals);
    if (!vals)
        goto fail_vals;
    size_t mask = newcap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t key = m->keys[i];
        if (key)
            insert_fresh(keys, vals, (size_t)mix64(key ^ m->seed) & mask, mask, key, m->vals[i]);
    }
    strata_mem_free(m->alloc, m->keys);
    strata_mem_free(m->alloc, m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = newcap;
    return 0;

fail_vals:
    strata_mem_free(m->alloc, keys);
fail_keys:
    return STRATA_ERR_NOMEM;
}

int strata_idmap_reserve(strata_idmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : IDMAP_MIN_CAP;
    /* Keep the load at or below 3/4 so probe runs stay short. */
    while (n > cap / 4 * 3) {
        if (cap > SIZE_MAX / 2 / sizeof(uint64_t))
            return STRATA_ERR_NOMEM;
        cap *= 2;
    }
    if (cap == m->cap)
        return 0;
    return resize(m, cap);
}

int strata_idmap_put(strata_idmap *m, uint64_t key, uint32_t val)
{
    if (key == 0)
        return STRATA_ERR_INVAL;
    if (m->cap) {
        size_t mask = m->cap - 1;
        for (size_t i = home_slot(m, key); m->keys[i] != 0; i = (i + 1) & mask) {
            if (m->keys[i] == key) {
                m->vals[i] = val;
                return 0;
            }
        }
    }
    int err = strata_idmap_reserve(m, m->count + 1);
    if (err)
        return err;
    insert_fresh(m->keys, m->vals, home_slot(m, key), m->cap - 1, key, val);
    m->count++;
    return 0;
}

int strata_idmap_get(const strata_idmap *m, uint64_t key, uint32_t *val)
{
    if (key == 0 || m->cap == 0)
        return 0;
    size_t mask = m->cap - 1;
    for (size_t i = home_slot(m, key); m->keys[i] != 0; i = (i + 1) & mask) {
        if (m->keys[i] == key) {
            if (val)
                *val = m->vals[i];
            return 1;
        }
    }
    return 0;
}

int strata_idmap_del(strata_idmap *m, uint64_t key)
{
    if (key == 0 || m->cap == 0)
        return 0;
    size_t mask = m->cap - 1;
    size_t i = home_slot(m, key);
    while (m->keys[i] != key) {
        if (m->keys[i] == 0)
            return 0;
        i = (i + 1) & mask;
    }
    /* Backward shift: walk the rest of the probe run and move back every
     * entry whose home slot does not lie between the hole and itself, so
     * that no lookup ever stops early at the hole. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (m->keys[j] == 0)
            break;
        size_t h = home_slot(m, m->keys[j]);
        if (((j - h) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->count--;
    return 1;
}

void strata_idmap_clear(strata_idmap *m)
{
    if (m->cap)
        memset(m->keys, 0, m->cap * sizeof *m->keys);
    m->count = 0;
}

int strata_idmap_next(const strata_idmap *m, size_t *pos, uint64_t *key, uint32_t *val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->keys[i] != 0) {
            if (key)
                *key = m->keys[i];
            if (val)
                *val = m->vals[i];
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}
