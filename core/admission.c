/*
 * Who may join: see admission.h for the model.
 */
#include "admission.h"

#include "mix.h"

#include <string.h>

int strata_admission_init(strata_admission *adm, const strata_control_config *cfg,
                          const strata_alloc *a)
{
    memset(adm, 0, sizeof *adm);
    uint8_t bits = cfg->join_prefix_bits ? cfg->join_prefix_bits : 24;
    if (bits > 32)
        return STRATA_ERR_INVAL;
    adm->alloc = a;
    adm->require_tokens = cfg->require_tokens != 0;
    memcpy(adm->operator_pk, cfg->operator_pk, sizeof adm->operator_pk);
    adm->unix_ns_at_zero = cfg->unix_ns_at_zero;
    adm->prefix_mask = bits == 32 ? UINT32_MAX : ~(UINT32_MAX >> bits);
    adm->key = strata_mix64(cfg->seed ^ 0x6a6f696e72617465ull);
    if (cfg->join_rate_per_s == 0)
        return 0;
    uint64_t burst = cfg->join_burst ? cfg->join_burst : 4ull * cfg->join_rate_per_s;
    adm->interval_ns = STRATA_S(1) / cfg->join_rate_per_s;
    if (adm->interval_ns == 0)
        adm->interval_ns = 1;
    adm->tolerance_ns = (burst - 1) * adm->interval_ns;
    adm->buckets = strata_mem_calloc(a, STRATA_ADMISSION_BUCKETS, sizeof *adm->buckets);
    return adm->buckets ? 0 : STRATA_ERR_NOMEM;
}

void strata_admission_free(strata_admission *adm)
{
    strata_mem_free(adm->alloc, adm->buckets);
    adm->buckets = NULL;
}

/* The prefix's slot: one of two, the one it holds, else the idler. */
static strata_admission_bucket *bucket_of(strata_admission *adm, uint32_t prefix)
{
    size_t i = (size_t)(strata_mix64(prefix ^ adm->key) & (STRATA_ADMISSION_BUCKETS - 1));
    strata_admission_bucket *a = &adm->buckets[i], *b = &adm->buckets[i ^ 1];
    if (a->used && a->prefix == prefix)
        return a;
    if (b->used && b->prefix == prefix)
        return b;
    strata_admission_bucket *take = !a->used ? a : !b->used ? b : a->tat_ns <= b->tat_ns ? a : b;
    take->used = 1;
    take->prefix = prefix;
    take->tat_ns = 0;
    return take;
}

int strata_admission_rate_ok(strata_admission *adm, strata_addr from, uint64_t now)
{
    if (!adm->buckets)
        return 1;
    strata_admission_bucket *b = bucket_of(adm, from.ipv4 & adm->prefix_mask);
    /* GCRA: a JOIN conforms while the bucket's theoretical arrival time is
     * at most `tolerance` ahead of now; each one moves it an interval. */
    uint64_t tat = b->tat_ns > now ? b->tat_ns : now;
    if (tat - now > adm->tolerance_ns) {
        adm->refused[STRATA_REFUSAL_JOIN_RATE]++;
        return 0;
    }
    b->tat_ns = tat + adm->interval_ns;
    return 1;
}

static int refuse(strata_admission *adm, int reason)
{
    adm->refused[reason]++;
    return reason;
}

int strata_admission_check(strata_admission *adm, const strata_msg_join *j, strata_channel_id ch,
                           uint64_t now)
{
    if (!adm->require_tokens)
        return -1;
    if (j->token_len == 0)
        return refuse(adm, STRATA_REFUSAL_NO_TOKEN);
    strata_token t;
    if (strata_token_decode(j->token, j->token_len, &t) < 0)
        return refuse(adm, STRATA_REFUSAL_TOKEN_MALFORMED);
    if (t.channel.v != ch.v)
        return refuse(adm, STRATA_REFUSAL_TOKEN_CHANNEL);
    if (t.node.v != j->node.v)
        return refuse(adm, STRATA_REFUSAL_TOKEN_NODE);
    uint64_t unix_s = (adm->unix_ns_at_zero + now) / STRATA_S(1);
    if (unix_s >= t.expires_unix_s)
        return refuse(adm, STRATA_REFUSAL_TOKEN_EXPIRED);
    if (!(t.rights & strata_token_right_for_role(j->role)))
        return refuse(adm, STRATA_REFUSAL_TOKEN_RIGHTS);
    adm->token_checks++;
    if (strata_token_verify(&t, adm->operator_pk) != 0)
        return refuse(adm, STRATA_REFUSAL_TOKEN_SIGNATURE);
    return -1;
}

const char *strata_refusal_name(int reason)
{
    /* A switch, not a table of pointers: the core keeps no relocated data. */
    switch (reason) {
    case STRATA_REFUSAL_JOIN_RATE:
        return "join_rate";
    case STRATA_REFUSAL_NO_TOKEN:
        return "no_token";
    case STRATA_REFUSAL_TOKEN_MALFORMED:
        return "token_malformed";
    case STRATA_REFUSAL_TOKEN_CHANNEL:
        return "token_channel";
    case STRATA_REFUSAL_TOKEN_NODE:
        return "token_node";
    case STRATA_REFUSAL_TOKEN_EXPIRED:
        return "token_expired";
    case STRATA_REFUSAL_TOKEN_RIGHTS:
        return "token_rights";
    case STRATA_REFUSAL_TOKEN_SIGNATURE:
        return "token_signature";
    default:
        return "other";
    }
}
