/*
 * Content directory of the control center (SPEC C1, C14 addressing).
 *
 * Answers one question: which logical DCM serves channel C in region R?
 * A region is a short string: the label a node gives, or its address prefix
 * formatted like "10.1.2.0/24". Logical DCM ids are what nodes hold; mapping
 * them to a server (and to a spare on failure) is the service layer's job,
 * not the directory's.
 *
 * The table is an open-addressing hash table with linear probing and
 * backward-shift deletion (no tombstones), so lookups stay short however
 * many DCMs come and go. It grows by doubling; it only ever holds entries
 * the service manager inserted, one per live DCM.
 */
#ifndef STRATA_DIRECTORY_H
#define STRATA_DIRECTORY_H

#include "strata/common.h"
#include "strata/wire.h"

/* Longest region string the directory stores: a label is at most
 * STRATA_WIRE_MAX_REGION_BYTES; a formatted prefix is shorter. */
enum strata_directory_limits {
    STRATA_DIRECTORY_MAX_REGION_BYTES = STRATA_WIRE_MAX_REGION_BYTES,
    STRATA_DIRECTORY_MIN_SLOTS = 16,
};

typedef struct strata_directory strata_directory;

/* Creates an empty directory; NULL when out of memory. */
strata_directory *strata_directory_new(const strata_alloc *a);
void strata_directory_del(strata_directory *d);

/* Looks up (channel, region); on success writes the DCM id to *out and
 * returns 0, else STRATA_ERR_NOTFOUND. region need not be NUL-terminated. */
int strata_directory_lookup(const strata_directory *d, strata_channel_id channel,
                            const char *region, size_t region_len, strata_dcm_id *out);

/* Registers dcm for (channel, region). Returns 0, STRATA_ERR_EXISTS when the
 * pair is already mapped, STRATA_ERR_INVAL for a zero channel or dcm id or a
 * region longer than STRATA_DIRECTORY_MAX_REGION_BYTES, or STRATA_ERR_NOMEM. */
int strata_directory_insert(strata_directory *d, strata_channel_id channel, const char *region,
                            size_t region_len, strata_dcm_id dcm);

/* Forgets (channel, region); returns 0 or STRATA_ERR_NOTFOUND. */
int strata_directory_remove(strata_directory *d, strata_channel_id channel, const char *region,
                            size_t region_len);

/* Number of (channel, region) pairs mapped. */
size_t strata_directory_count(const strata_directory *d);

#endif
