/*
 * Preferred nodes: see preferred.h for the model.
 */
#include "preferred.h"

enum { UNIT = 1024 }; /* fixed point of reliability and stability */

static uint64_t ms_of(uint64_t ns)
{
    return ns / 1000000u;
}

uint64_t strata_pref_score(const strata_pref_candidate *c, const strata_pref_config *cfg)
{
    uint64_t cap = (uint64_t)cfg->rate_kbps * STRATA_PREF_CAPACITY_CAP_RATES;
    uint64_t capacity = c->upload_kbps < cap ? c->upload_kbps : cap;
    /* Less than an eighth of the rate asked: too little to judge by. */
    uint64_t reliability = UNIT;
    if ((uint64_t)c->expected_kbps * 8 >= cfg->rate_kbps && c->expected_kbps > 0) {
        reliability = (uint64_t)c->delivered_kbps * UNIT / c->expected_kbps;
        if (reliability > UNIT)
            reliability = UNIT;
    }
    uint64_t up_ms = ms_of(c->uptime_ns);
    uint64_t stability = up_ms * UNIT / (up_ms + STRATA_PREF_STABILITY_HALF_MS);
    return capacity * reliability * stability / ((uint64_t)c->stalls + 1);
}

int strata_pref_qualifies(const strata_pref_candidate *c, const strata_pref_config *cfg,
                          int veterans_absent)
{
    if (c->upload_kbps < cfg->min_upload_kbps)
        return 0;
    return veterans_absent || c->uptime_ns >= cfg->probation_ns;
}

/* Orders candidates for promotion: higher score first, then the smaller id,
 * so that equal nodes never swap places. */
static int better(const strata_pref_candidate *a, uint64_t sa, const strata_pref_candidate *b,
                  uint64_t sb)
{
    if (sa != sb)
        return sa > sb;
    return a->node.v < b->node.v;
}

/* want[] carries two flags while choosing. */
enum { CHOSEN = 1u, QUALIFIED = 2u };

enum pick { PICK_CHALLENGER, PICK_WEAKEST, PICK_WEAKEST_HELD };

/* The best qualified candidate not chosen (PICK_CHALLENGER), or the
 * weakest chosen one (PICK_WEAKEST; PICK_WEAKEST_HELD: among those that
 * were preferred already for min_hold_ns); SIZE_MAX if there is none. */
static size_t pick(const strata_pref_candidate *c, size_t n, const strata_pref_config *cfg,
                   const uint8_t *want, enum pick how)
{
    size_t at = SIZE_MAX;
    uint64_t s_at = 0;
    for (size_t i = 0; i < n; i++) {
        if (how == PICK_CHALLENGER ? (want[i] & CHOSEN) || !(want[i] & QUALIFIED)
                                   : !(want[i] & CHOSEN))
            continue;
        if (how == PICK_WEAKEST_HELD && (!c[i].preferred || c[i].held_ns < cfg->min_hold_ns))
            continue;
        uint64_t s = strata_pref_score(&c[i], cfg);
        int take = at == SIZE_MAX || (how == PICK_CHALLENGER ? better(&c[i], s, &c[at], s_at)
                                                             : better(&c[at], s_at, &c[i], s));
        if (take)
            at = i, s_at = s;
    }
    return at;
}

int strata_pref_choose(const strata_pref_candidate *c, size_t n, const strata_pref_config *cfg,
                       uint8_t *want)
{
    if (!cfg || cfg->rate_kbps == 0 || cfg->per_region == 0 ||
        cfg->per_region > STRATA_PREF_MAX_PER_REGION || cfg->hysteresis_pct > 1000 ||
        ((!c || !want) && n > 0))
        return STRATA_ERR_INVAL;
    int veterans_absent = 1;
    for (size_t i = 0; i < n && veterans_absent; i++)
        if (strata_pref_qualifies(&c[i], cfg, 0))
            veterans_absent = 0;
    /* A preferred node stays while it qualifies. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        /* Probation is for entering: a node chosen while the region had no
         * veteran is not dropped when one appears. */
        int q = strata_pref_qualifies(&c[i], cfg, veterans_absent || c[i].preferred);
        want[i] = (uint8_t)((q ? QUALIFIED : 0u) | (q && c[i].preferred ? CHOSEN : 0u));
        kept += want[i] & CHOSEN;
    }
    /* Too many (the configured count shrank): the weakest go. */
    for (; kept > cfg->per_region; kept--)
        want[pick(c, n, cfg, want, PICK_WEAKEST)] &= (uint8_t)~CHOSEN;
    /* Empty places are filled at once, best first. */
    for (size_t i;
         kept < cfg->per_region && (i = pick(c, n, cfg, want, PICK_CHALLENGER)) != SIZE_MAX; kept++)
        want[i] |= CHOSEN;
    /* One swap at most, and only past the hysteresis. */
    size_t ch = pick(c, n, cfg, want, PICK_CHALLENGER);
    size_t weak = pick(c, n, cfg, want, PICK_WEAKEST_HELD);
    if (ch != SIZE_MAX && weak != SIZE_MAX && kept == cfg->per_region) {
        uint64_t sc = strata_pref_score(&c[ch], cfg), sw = strata_pref_score(&c[weak], cfg);
        /* sc > sw (1 + h/100), without overflow: scores stay below 2^60. */
        if (sc / (100u + cfg->hysteresis_pct) > sw / 100u) {
            want[weak] &= (uint8_t)~CHOSEN;
            want[ch] |= CHOSEN;
        }
    }
    int changes = 0;
    for (size_t i = 0; i < n; i++) {
        want[i] &= CHOSEN;
        changes += want[i] != (c[i].preferred ? 1 : 0);
    }
    return changes;
}
