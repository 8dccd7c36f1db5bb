/*
 * Who may join (issue 13 items 2 and 4): the control center's gate for
 * JOINs, before a node is placed anywhere (core/control_clients.c calls it
 * first thing).
 *
 *  - Rate per address prefix: at most rate JOINs a second from one
 *    /prefix_bits, with a burst of burst. A cell-rate limiter (GCRA): one
 *    theoretical arrival time per prefix, in a direct-mapped table of
 *    STRATA_ADMISSION_BUCKETS slots indexed by a keyed hash of the prefix,
 *    two ways; a new prefix takes the idler of its two slots. The table is
 *    fixed: a flood from many prefixes costs no memory, and at worst gives
 *    a prefix whose slot it took a fresh burst.
 *  - Access tokens (strata/token.h): with an operator key, every channel
 *    needs one. The cheap checks (layout, channel, node, expiry, rights)
 *    come before the signature (an Ed25519 verification, about 45 us), so
 *    that a flood of garbage costs little more than the decode.
 *
 * Every refusal is counted by reason (enum strata_refusal, strata/control.h).
 * Timers: none; the rate limiter reads the time it is given.
 */
#ifndef STRATA_ADMISSION_H
#define STRATA_ADMISSION_H

#include "strata/control.h"
#include "strata/token.h"
#include "strata/wire.h"

enum strata_admission_limits {
    STRATA_ADMISSION_BUCKETS = 4096, /* prefixes tracked at once (power of two) */
};

typedef struct strata_admission_bucket {
    uint32_t prefix;
    uint32_t used;
    uint64_t tat_ns; /* theoretical arrival time of the next JOIN (GCRA) */
} strata_admission_bucket;

typedef struct strata_admission {
    int require_tokens;
    uint8_t operator_pk[STRATA_TOKEN_PUBLIC_KEY_BYTES];
    uint64_t unix_ns_at_zero;
    uint64_t interval_ns;  /* 1 s / rate; 0 = no rate limit */
    uint64_t tolerance_ns; /* (burst - 1) x interval */
    uint32_t prefix_mask;
    uint64_t key;
    strata_admission_bucket *buckets; /* NULL without a rate limit */
    const strata_alloc *alloc;
    uint64_t refused[STRATA_REFUSAL_REASONS];
    uint64_t token_checks; /* tokens whose signature was checked */
} strata_admission;

/* Sets up the gate from the control center's config. Returns 0,
 * STRATA_ERR_NOMEM or STRATA_ERR_INVAL (prefix bits above 32). */
int strata_admission_init(strata_admission *adm, const strata_control_config *cfg,
                          const strata_alloc *a);
void strata_admission_free(strata_admission *adm);

/* 1 when a JOIN from `from` fits its prefix's rate (and is counted
 * against it), else 0, counted as STRATA_REFUSAL_JOIN_RATE. */
int strata_admission_rate_ok(strata_admission *adm, strata_addr from, uint64_t now);

/* Checks the JOIN's token for channel ch: returns -1 when the node may
 * join (or no token is needed), else the reason it may not (enum
 * strata_refusal), counted. */
int strata_admission_check(strata_admission *adm, const strata_msg_join *j, strata_channel_id ch,
                           uint64_t now);

#endif
