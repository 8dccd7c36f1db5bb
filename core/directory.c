/*
 * Content directory: (channel, region) -> logical DCM id. See directory.h
 * for the model. Slots hold the key by value (the region is at most 32
 * bytes), so an entry costs one allocation for the whole table and lookups
 * touch one cache line or two.
 */
#include "directory.h"

#include <string.h>

typedef struct dir_entry {
    uint64_t channel; /* 0 = empty slot; channel ids are never 0 */
    uint32_t dcm;
    uint8_t region_len;
    char region[STRATA_DIRECTORY_MAX_REGION_BYTES];
} dir_entry;

struct strata_directory {
    const strata_alloc *alloc;
    dir_entry *slots;
    size_t nslots; /* a power of two */
    size_t count;
};

static uint64_t key_hash(uint64_t channel, const char *region, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 8; i++) {
        h ^= (channel >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)region[i];
        h *= 0x100000001b3ull;
    }
    /* FNV's low bits mix poorly; fold the high half in before masking. */
    return h ^ (h >> 29);
}

static int key_eq(const dir_entry *e, uint64_t channel, const char *region, size_t len)
{
    return e->channel == channel && e->region_len == len && memcmp(e->region, region, len) == 0;
}

/* Index of the slot holding the key, or of the empty slot where it would go. */
static size_t find_slot(const strata_directory *d, uint64_t channel, const char *region, size_t len)
{
    size_t mask = d->nslots - 1;
    size_t i = (size_t)key_hash(channel, region, len) & mask;
    while (d->slots[i].channel != 0 && !key_eq(&d->slots[i], channel, region, len))
        i = (i + 1) & mask;
    return i;
}

strata_directory *strata_directory_new(const strata_alloc *a)
{
    strata_directory *d = strata_mem_calloc(a, 1, sizeof *d);
    if (!d)
        goto fail_dir;
    d->alloc = a;
    d->nslots = STRATA_DIRECTORY_MIN_SLOTS;
    d->slots = strata_mem_calloc(a, d->nslots, sizeof *d->slots);
    if (!d->slots)
        goto fail_slots;
    return d;

fail_slots:
    strata_mem_free(a, d);
fail_dir:
    return NULL;
}

void strata_directory_del(strata_directory *d)
{
    if (!d)
        return;
    strata_mem_free(d->alloc, d->slots);
    strata_mem_free(d->alloc, d);
}

static int grow(strata_directory *d)
{
    if (d->nslots > SIZE_MAX / 2 / sizeof *d->slots)
        return STRATA_ERR_NOMEM;
    size_t nslots = d->nslots * 2;
    dir_entry *slots = strata_mem_calloc(d->alloc, nslots, sizeof *slots);
    if (!slots)
        return STRATA_ERR_NOMEM;
    dir_entry *old = d->slots;
    size_t oldn = d->nslots;
    d->slots = slots;
    d->nslots = nslots;
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].channel == 0)
            continue;
        size_t j = find_slot(d, old[i].channel, old[i].region, old[i].region_len);
        d->slots[j] = old[i];
    }
    strata_mem_free(d->alloc, old);
    return 0;
}

int strata_directory_lookup(const strata_directory *d, strata_channel_id channel,
                            const char *region, size_t region_len, strata_dcm_id *out)
{
    if (channel.v == 0 || region_len > STRATA_DIRECTORY_MAX_REGION_BYTES || (region_len && !region))
        return STRATA_ERR_NOTFOUND;
    size_t i = find_slot(d, channel.v, region, region_len);
    if (d->slots[i].channel == 0)
        return STRATA_ERR_NOTFOUND;
    if (out)
        out->v = d->slots[i].dcm;
    return 0;
}

int strata_directory_insert(strata_directory *d, strata_channel_id channel, const char *region,
                            size_t region_len, strata_dcm_id dcm)
{
    if (channel.v == 0 || dcm.v == 0 || region_len > STRATA_DIRECTORY_MAX_REGION_BYTES ||
        (region_len && !region))
        return STRATA_ERR_INVAL;
    size_t i = find_slot(d, channel.v, region, region_len);
    if (d->slots[i].channel != 0)
        return STRATA_ERR_EXISTS;
    /* Keep the load factor at or below 1/2 so probe runs stay short. */
    if ((d->count + 1) * 2 > d->nslots) {
        int err = grow(d);
        if (err)
            return err;
        i = find_slot(d, channel.v, region, region_len);
    }
    dir_entry *e = &d->slots[i];
    e->channel = channel.v;
    e->dcm = dcm.v;
    e->region_len = (uint8_t)region_len;
    if (region_len)
        memcpy(e->region, region, region_len);
    d->count++;
    return 0;
}

int strata_directory_remove(strata_directory *d, strata_channel_id channel, const char *region,
                            size_t region_len)
{
    if (channel.v == 0 || region_len > STRATA_DIRECTORY_MAX_REGION_BYTES || (region_len && !region))
        return STRATA_ERR_NOTFOUND;
    size_t mask = d->nslots - 1;
    size_t i = find_slot(d, channel.v, region, region_len);
    if (d->slots[i].channel == 0)
        return STRATA_ERR_NOTFOUND;
    /* Backward-shift deletion: pull later members of the probe run into the
     * hole when their home slot does not lie strictly between hole and them. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        dir_entry *e = &d->slots[j];
        if (e->channel == 0)
            break;
        size_t home = (size_t)key_hash(e->channel, e->region, e->region_len) & mask;
        int movable = (j > hole) ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            d->slots[hole] = *e;
            hole = j;
        }
    }
    memset(&d->slots[hole], 0, sizeof d->slots[hole]);
    d->count--;
    return 0;
}

size_t strata_directory_count(const strata_directory *d)
{
    return d->count;
}
