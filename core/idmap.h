/*
 * A hash map from a 64-bit id to a 32-bit index: the lookup every module
 * that keeps nodes (or other id-named things) in dense arrays needs.
 *
 * Open addressing with linear probing over a power-of-two table kept at
 * most three quarters full; deletion shifts the following entries back
 * instead of leaving tombstones, so lookups never slow down with churn.
 * Key 0 marks an empty slot and cannot be stored (every strata id uses 0
 * for "none"). Keys are mixed with a seed before probing so that a host can
 * make the layout unpredictable to peers who choose their own ids.
 *
 * The caller owns the struct; the tables come from the allocator given to
 * init. Only put and reserve allocate, and a failed allocation leaves the
 * map as it was.
 */
#ifndef STRATA_IDMAP_H
#define STRATA_IDMAP_H

#include "strata/common.h"

typedef struct strata_idmap {
    uint64_t *keys; /* 0 = empty slot */
    uint32_t *vals;
    size_t cap;     /* slots, a power of two, or 0 before the first put */
    size_t count;
    uint64_t seed;
    const strata_alloc *alloc;
} strata_idmap;

/* Initialises an empty map; allocates nothing. a may be NULL (libc). */
void strata_idmap_init(strata_idmap *m, const strata_alloc *a, uint64_t seed);
/* Frees the tables; the map is empty and usable again afterwards. */
void strata_idmap_free(strata_idmap *m);

/* Makes room for n entries in total, so that puts of new keys up to that
 * count cannot fail. Returns 0 or STRATA_ERR_NOMEM (map unchanged). */
int strata_idmap_reserve(strata_idmap *m, size_t n);

/* Inserts key -> val, replacing the value if key is present. Returns 0,
 * STRATA_ERR_INVAL for key 0 or STRATA_ERR_NOMEM (map unchanged). */
int strata_idmap_put(strata_idmap *m, uint64_t key, uint32_t val);

/* Looks key up; returns 1 and writes *val (if val is not NULL) when found,
 * else 0. */
int strata_idmap_get(const strata_idmap *m, uint64_t key, uint32_t *val);

/* Removes key; returns 1 if it was present, else 0. */
int strata_idmap_del(strata_idmap *m, uint64_t key);

/* Removes every entry, keeping the tables. */
void strata_idmap_clear(strata_idmap *m);

static inline size_t strata_idmap_count(const strata_idmap *m) { return m->count; }

/* Iterates in table order: start with *pos = 0; each call that returns 1
 * writes one entry and advances *pos; 0 means done. The map must not be
 * changed during an iteration. */
int strata_idmap_next(const strata_idmap *m, size_t *pos, uint64_t *key, uint32_t *val);

#endif
