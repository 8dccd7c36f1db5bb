/*
 * Distance measurement for the group agent: see groups_dist.h for the
 * model. Slots of the table are never moved (an evicted entry's slot is
 * reused in place), so indices in the id map and the running list stay
 * valid; the running list keeps next_timeout proportional to the
 * measurements in flight rather than to the table.
 */
#include "groups_dist.h"

#include <string.h>

static uint64_t add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int gdist_init(gdist *d, const strata_alloc *a, const gdist_config *cfg, strata_rng *rng,
               gdist_send_fn send, void *user)
{
    memset(d, 0, sizeof *d);
    d->alloc = a;
    d->self = cfg->self;
    d->metric = cfg->metric;
    d->estimate = cfg->estimate == STRATA_GNODE_ESTIMATE_MEDIAN ? STRATA_GNODE_ESTIMATE_MEDIAN
                                                                 : STRATA_GNODE_ESTIMATE_MIN;
    d->probes = (uint8_t)(cfg->probes > GDIST_MAX_PROBES ? GDIST_MAX_PROBES : cfg->probes);
    if (d->probes == 0)
        d->probes = 1;
    uint32_t rounds_max = (uint32_t)GDIST_MAX_SLOTS / d->probes;
    uint32_t retries = cfg->retries + 1 > rounds_max ? rounds_max - 1 : cfg->retries;
    d->retries = (uint8_t)retries;
    d->settle_spread = cfg->settle_spread;
    d->gap_ns = STRATA_MS(cfg->gap_ms);
    d->timeout_ns = STRATA_MS(cfg->timeout_ms);
    d->cap = cfg->cap ? cfg->cap : 1;
    d->rng = rng;
    d->send = send;
    d->user = user;
    d->e = strata_mem_calloc(a, d->cap, sizeof *d->e);
    if (!d->e)
        return STRATA_ERR_NOMEM;
    strata_idmap_init(&d->map, a, strata_rng_next(rng));
    if (strata_idmap_reserve(&d->map, d->cap) != 0) {
        strata_mem_free(a, d->e);
        d->e = NULL;
        return STRATA_ERR_NOMEM;
    }
    return 0;
}

void gdist_free(gdist *d)
{
    strata_idmap_free(&d->map);
    strata_mem_free(d->alloc, d->e);
    d->e = NULL;
}

int gdist_hops_from_ttl(int ttl)
{
    if (ttl < 0 || ttl > 255)
        return -1;
    int initial = ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
    return initial - ttl;
}

/* Sends the probe of slot s of entry e. */
static void send_probe(gdist *d, gdist_entry *e, unsigned s, uint64_t now)
{
    uint8_t buf[64];
    int n;
    uint32_t id = e->id_base + s;
    if (d->metric == STRATA_GROUP_METRIC_ONE_WAY) {
        strata_msg_group_ping m = {.node = d->self, .ping_id = id, .send_ts_ns = now};
        n = strata_wire_encode_group_ping(buf, sizeof buf, &m);
    } else {
        strata_msg_probe m = {.node = d->self, .probe_id = id, .send_ts_ns = now};
        n = strata_wire_encode_probe(buf, sizeof buf, &m);
    }
    e->sent_at[s] = now;
    if (n > 0 && d->send(d->user, e->target.addr, buf, (size_t)n) == 0)
        d->st.probes_sent++;
}

static void start_round(gdist *d, gdist_entry *e, uint64_t now)
{
    e->round++;
    e->round_sent = 0;
    e->next_at = now;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b;
}

/* The answered slots reduced to one distance: their minimum, or their
 * median (the mean of the two middle values for an even count). */
static uint32_t reduce(const gdist *d, const gdist_entry *e, unsigned slots, uint32_t *spread)
{
    uint32_t v[GDIST_MAX_SLOTS];
    unsigned n = 0;
    for (unsigned s = 0; s < slots; s++) {
        if (e->have[s])
            v[n++] = e->samples[s];
    }
    for (unsigned i = 1; i < n; i++) { /* insertion sort: n <= 16 */
        uint32_t x = v[i];
        unsigned j = i;
        while (j > 0 && cmp_u32(v[j - 1], x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    if (n == 0)
        return STRATA_GROUP_DISTANCE_UNKNOWN;
    if (spread)
        *spread = v[n - 1] - v[0];
    if (d->estimate == STRATA_GNODE_ESTIMATE_MIN)
        return v[0];
    if (n % 2)
        return v[n / 2];
    return (uint32_t)(((uint64_t)v[n / 2 - 1] + v[n / 2]) / 2);
}

/* At the end of a round with answers: whether the samples disagree enough
 * to ask for one more round (and it fits the slots); starts it if so. */
static int settle(gdist *d, gdist_entry *e, uint64_t now)
{
    if (!d->settle_spread || e->settled || !e->got ||
        ((unsigned)e->round + 1) * d->probes > GDIST_MAX_SLOTS)
        return 0;
    uint32_t spread = 0;
    reduce(d, e, (unsigned)e->round * d->probes, &spread);
    if (spread <= d->settle_spread)
        return 0;
    e->settled = 1;
    e->settle_got = e->got;
    d->st.settles++;
    start_round(d, e, now);
    return 1;
}

static void finish(gdist *d, gdist_entry *e, uint64_t now)
{
    unsigned slots = (unsigned)e->round * d->probes;
    e->spread = 0;
    e->value = e->got ? reduce(d, e, slots, &e->spread) : STRATA_GROUP_DISTANCE_UNKNOWN;
    if (e->floor != STRATA_GROUP_DISTANCE_UNKNOWN &&
        (e->value == STRATA_GROUP_DISTANCE_UNKNOWN || e->floor < e->value))
        e->value = e->floor;
    e->floor = STRATA_GROUP_DISTANCE_UNKNOWN;
    e->measured_at = now ? now : 1;
    e->running = 0;
    d->running--;
    d->st.measurements++;
    if (!e->got)
        d->st.failed++;
}

static gdist_entry *find(const gdist *d, strata_node_id node)
{
    uint32_t i;
    if (!strata_idmap_get(&d->map, node.v, &i))
        return NULL;
    return &d->e[i];
}

uint32_t gdist_spread(const gdist *d, strata_node_id node)
{
    const gdist_entry *e = find(d, node);
    return e && e->measured_at ? e->spread : 0;
}

int gdist_peek(const gdist *d, strata_node_id node, uint32_t *value, uint64_t *measured_at)
{
    const gdist_entry *e = find(d, node);
    if (!e || e->measured_at == 0)
        return 0;
    if (value)
        *value = e->value;
    if (measured_at)
        *measured_at = e->measured_at;
    return 1;
}

/* A slot for a new target: a free one, else the least recently used entry
 * that is not measuring. */
static gdist_entry *claim(gdist *d, strata_node_id node)
{
    size_t idx;
    if (d->n < d->cap) {
        idx = d->n++;
    } else {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < d->n; i++) {
            if (!d->e[i].running && (best == SIZE_MAX || d->e[i].used_at < d->e[best].used_at))
                best = i;
        }
        if (best == SIZE_MAX)
            return NULL;
        idx = best;
        strata_idmap_del(&d->map, d->e[idx].target.node.v);
        d->st.evictions++;
    }
    memset(&d->e[idx], 0, sizeof d->e[idx]);
    /* Room for cap keys was reserved, so this put cannot fail. */
    strata_idmap_put(&d->map, node.v, (uint32_t)idx);
    return &d->e[idx];
}

/* Starts a measurement of e with probe ids from id_base on. */
static void start_measurement(gdist *d, gdist_entry *e, uint32_t id_base, uint64_t now)
{
    e->running = 1;
    d->running++;
    e->round = 0;
    e->got = 0;
    e->settled = 0;
    e->settle_got = 0;
    memset(e->have, 0, sizeof e->have);
    memset(e->sent_at, 0, sizeof e->sent_at);
    e->id_base = id_base;
    start_round(d, e, now);
    gdist_handle_timeout(d, now);
}

int gdist_get(gdist *d, strata_peer_ref target, uint64_t max_age_ns, uint64_t now, uint32_t *value)
{
    if (target.node.v == 0)
        return STRATA_ERR_INVAL;
    gdist_entry *e = find(d, target.node);
    if (e) {
        e->used_at = now;
        if (!strata_addr_is_zero(target.addr))
            e->target.addr = target.addr;
        if (e->measured_at && now >= e->measured_at && now - e->measured_at <= max_age_ns &&
            !e->running) {
            if (value)
                *value = e->value;
            return 1;
        }
        if (e->running)
            return 0;
    } else {
        e = claim(d, target.node);
        if (!e)
            return STRATA_ERR_FULL;
        e->target = target;
        e->value = STRATA_GROUP_DISTANCE_UNKNOWN;
        e->used_at = now;
    }
    e->floor = STRATA_GROUP_DISTANCE_UNKNOWN;
    /* Ids are random per measurement so that an answer to an older one is
     * not taken for this one. */
    start_measurement(d, e, (uint32_t)strata_rng_next(d->rng), now);
    return 0;
}

int gdist_recheck(gdist *d, strata_peer_ref target, uint64_t now)
{
    if (target.node.v == 0)
        return STRATA_ERR_INVAL;
    gdist_entry *e = find(d, target.node);
    if (!e || e->measured_at == 0 || e->running) {
        int r = gdist_get(d, target, 0, now, NULL); /* nothing to keep yet */
        return r > 0 ? 0 : r;
    }
    e->used_at = now;
    if (!strata_addr_is_zero(target.addr))
        e->target.addr = target.addr;
    e->floor = e->value;
    d->st.rechecks++;
    /* The ids after the last measurement's: no answer to it can match, and
     * no random number is drawn, so whether a recheck happened leaves the
     * agent's random stream (group ids, tie-breaks) as it was. */
    start_measurement(d, e, e->id_base + GDIST_MAX_SLOTS, now);
    return 0;
}

/* The common part of both answers: match, record, maybe finish. */
static int take_sample(gdist *d, strata_node_id responder, uint32_t id, uint64_t echo_ts,
                       int64_t sample, uint64_t now)
{
    gdist_entry *e = find(d, responder);
    if (!e)
        return STRATA_ERR_UNEXPECTED;
    uint32_t s = id - e->id_base;
    unsigned slots = (unsigned)e->round * d->probes;
    if (!e->running) {
        d->st.late++;
        return 0;
    }
    if (s >= slots || e->sent_at[s] == 0 || e->sent_at[s] != echo_ts)
        return STRATA_ERR_UNEXPECTED;
    if (e->have[s])
        return 0; /* a duplicate answer */
    d->st.replies++;
    if (sample < 0) /* no usable sample in this answer (no TTL) */
        return 0;
    e->have[s] = 1;
    e->samples[s] = sample > (int64_t)(UINT32_MAX - 1) ? UINT32_MAX - 1 : (uint32_t)sample;
    e->got++;
    /* As many answers as a round sends (since the extra round started, if
     * one did): no reason to wait longer. */
    if ((unsigned)(e->got - e->settle_got) >= d->probes) {
        if (settle(d, e, now)) {
            gdist_handle_timeout(d, now); /* the new round's first probe, now */
            return 0;
        }
        finish(d, e, now);
        return 1;
    }
    return 0;
}

int gdist_on_probe_reply(gdist *d, const strata_msg_probe_reply *m, int ttl, uint64_t now)
{
    if (m->node.v != d->self.v)
        return STRATA_ERR_UNEXPECTED;
    gdist_entry *e = find(d, m->responder);
    if (!e)
        return STRATA_ERR_UNEXPECTED;
    uint32_t s = m->probe_id - e->id_base;
    int64_t sample = -1;
    if (d->metric == STRATA_GROUP_METRIC_HOPS) {
        sample = gdist_hops_from_ttl(ttl);
        if (sample < 0 && e->running)
            d->st.no_ttl++;
    } else if (s < GDIST_MAX_SLOTS && e->sent_at[s] && now >= e->sent_at[s]) {
        sample = (int64_t)((now - e->sent_at[s]) / 1000u); /* microseconds */
    }
    if (d->metric == STRATA_GROUP_METRIC_ONE_WAY)
        return STRATA_ERR_UNEXPECTED; /* we sent pings, not probes */
    return take_sample(d, m->responder, m->probe_id, m->send_ts_ns, sample, now);
}

int gdist_on_pong(gdist *d, const strata_msg_group_pong *m, uint64_t now)
{
    if (m->node.v != d->self.v || d->metric != STRATA_GROUP_METRIC_ONE_WAY)
        return STRATA_ERR_UNEXPECTED;
    int64_t sample;
    if (m->rx_ts_ns >= m->send_ts_ns) {
        sample = (int64_t)((m->rx_ts_ns - m->send_ts_ns) / 1000u);
    } else {
        /* Clocks disagree: the one-way metric assumes one clock. */
        sample = 0;
        if (find(d, m->responder))
            d->st.skew++;
    }
    return take_sample(d, m->responder, m->ping_id, m->send_ts_ns, sample, now);
}

int gdist_handle_timeout(gdist *d, uint64_t now)
{
    int finished = 0;
    if (d->running == 0)
        return 0;
    for (size_t i = 0; i < d->n && d->running; i++) {
        gdist_entry *e = &d->e[i];
        if (!e->running || now < e->next_at)
            continue;
        /* Send every probe of the round that is due. */
        while (e->round_sent < d->probes && now >= e->next_at) {
            unsigned s = (unsigned)(e->round - 1) * d->probes + e->round_sent;
            send_probe(d, e, s, now);
            e->round_sent++;
            e->next_at =
                e->round_sent < d->probes ? add_ns(now, d->gap_ns) : add_ns(now, d->timeout_ns);
        }
        if (e->round_sent < d->probes || now < e->next_at)
            continue;
        /* The round is over. */
        if (settle(d, e, now)) {
            i--; /* send the new round's first probe now */
        } else if (e->got || e->round > d->retries) {
            finish(d, e, now);
            finished++;
        } else {
            start_round(d, e, now);
            i--; /* send the new round's first probe now */
        }
    }
    return finished;
}

uint64_t gdist_next_timeout(const gdist *d)
{
    uint64_t t = STRATA_NEVER;
    if (d->running == 0)
        return t;
    for (size_t i = 0; i < d->n; i++) {
        if (d->e[i].running && d->e[i].next_at < t)
            t = d->e[i].next_at;
    }
    return t;
}
