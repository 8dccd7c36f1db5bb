/*
 * Group bookkeeping of the control center (see strata/control_groups.h,
 * protocol.md 3.9 and 7.8).
 */
#include "strata/control_groups.h"

#include <string.h>

#include "idmap.h"

enum cgroups_limits {
    CGROUPS_INITIAL_RECORDS = 64,
    CGROUPS_LOG_LINES_PER_SECOND = 8,
};

struct strata_cgroups {
    const strata_alloc *alloc;
    const strata_log *log;
    uint64_t timeout_ns;
    uint32_t max_groups, bootstrap_leaders;
    strata_rng rng;
    strata_cgroups_group *recs; /* dense; index in `index` */
    size_t count, cap;
    strata_idmap index; /* group id -> position in recs */
    uint64_t next_scan_ns;
    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_cgroups_stats st;
    uint64_t log_window_ns;
    uint32_t log_lines;
};

/* Time since `then`, 0 if the clock stepped back. */
static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static int drop(strata_cgroups *cg, strata_addr from, int err, const char *what, uint64_t now)
{
    strata_drop_count(&cg->st.drops, err);
    if (!cg->log || cg->log->max_level < STRATA_LOG_WARN)
        return err;
    if (now - cg->log_window_ns >= STRATA_S(1) || now < cg->log_window_ns) {
        cg->log_window_ns = now;
        cg->log_lines = 0;
    }
    if (cg->log_lines++ >= CGROUPS_LOG_LINES_PER_SECOND)
        return err;
    char a[32];
    strata_logf(cg->log, STRATA_LOG_WARN, "control groups: dropped %s from %s: %s", what,
                strata_addr_format(from, a, sizeof a), strata_strerror(err));
    return err;
}

/* --- the records ------------------------------------------------------------ */

static void remove_at(strata_cgroups *cg, size_t i)
{
    strata_idmap_del(&cg->index, cg->recs[i].group.v);
    size_t last = --cg->count;
    if (i != last) {
        cg->recs[i] = cg->recs[last];
        strata_idmap_put(&cg->index, cg->recs[i].group.v, (uint32_t)i); /* replaces: no alloc */
    }
}

static strata_cgroups_group *find(const strata_cgroups *cg, strata_group_id group)
{
    uint32_t i;
    return strata_idmap_get(&cg->index, group.v, &i) ? &cg->recs[i] : NULL;
}

/* A new record, or NULL when the table is full or memory is short. */
static strata_cgroups_group *add(strata_cgroups *cg, strata_group_id group)
{
    if (cg->count >= cg->max_groups)
        return NULL;
    if (cg->count == cg->cap) {
        size_t ncap = cg->cap ? cg->cap * 2 : CGROUPS_INITIAL_RECORDS;
        if (ncap > cg->max_groups)
            ncap = cg->max_groups;
        strata_cgroups_group *n = strata_mem_realloc(cg->alloc, cg->recs, ncap * sizeof *n);
        if (!n)
            return NULL;
        cg->recs = n;
        cg->cap = ncap;
    }
    if (strata_idmap_put(&cg->index, group.v, (uint32_t)cg->count) < 0)
        return NULL;
    strata_cgroups_group *r = &cg->recs[cg->count++];
    memset(r, 0, sizeof *r);
    r->group = group;
    return r;
}

/* protocol.md 7.5: a higher term wins, then the lower node id. */
static int better_claim(uint32_t term, strata_node_id node, const strata_cgroups_group *r)
{
    return term > r->term || (term == r->term && node.v < r->leader.node.v);
}

/* --- messages ------------------------------------------------------------------ */

static int handle_report(strata_cgroups *cg, strata_addr from, const uint8_t *buf, size_t len,
                         uint64_t now)
{
    strata_msg_group_report m;
    int rc = strata_wire_decode_group_report(buf, len, &m);
    if (rc < 0)
        return drop(cg, from, rc, "GROUP_REPORT", now);
    strata_cgroups_group *r = find(cg, m.group);
    if (m.n_members == 0) {
        /* A withdrawal counts only from the leader on record. */
        if (!r || r->leader.node.v != m.node.v)
            return drop(cg, from, STRATA_ERR_UNEXPECTED, "GROUP_REPORT withdrawal", now);
        cg->st.withdrawals++;
        remove_at(cg, (size_t)(r - cg->recs));
        return 0;
    }
    if (r && r->leader.node.v != m.node.v) {
        if (!better_claim(m.term, m.node, r) && since(now, r->reported_at_ns) < cg->timeout_ns) {
            cg->st.stale_claims++;
            return 0; /* the recorded leader holds the better claim; not an error */
        }
        cg->st.leader_changes++;
    }
    if (!r && !(r = add(cg, m.group))) {
        cg->st.refused_full++;
        return drop(cg, from, STRATA_ERR_UNEXPECTED, "GROUP_REPORT (table full)", now);
    }
    cg->st.reports++;
    r->leader = (strata_peer_ref){m.node, from};
    r->term = m.term;
    r->n_members = m.n_members;
    r->reported_at_ns = now;
    r->n_near = m.n_near;
    memcpy(r->near, m.near, m.n_near * sizeof *m.near);
    return 0;
}

/* Up to k distinct records, chosen uniformly, none led by `asker`
 * (strata_rng_pick: the simulator draws its bootstrap leaders alike). */
static uint8_t choose(strata_cgroups *cg, strata_node_id asker, strata_group_leader_entry *out,
                      uint32_t k)
{
    size_t skip = SIZE_MAX;
    for (size_t i = 0; i < cg->count && skip == SIZE_MAX; i++)
        if (cg->recs[i].leader.node.v == asker.v)
            skip = i;
    size_t pos[STRATA_WIRE_MAX_BOOTSTRAP_LEADERS];
    size_t got = strata_rng_pick(&cg->rng, cg->count, k, skip, pos);
    uint8_t n = 0;
    for (size_t j = 0; j < got; j++) {
        const strata_cgroups_group *r = &cg->recs[pos[j]];
        if (r->leader.node.v != asker.v) /* a second stale record of its */
            out[n++] = (strata_group_leader_entry){r->group, r->leader, r->n_members};
    }
    return n;
}

static int handle_bootstrap(strata_cgroups *cg, strata_addr from, const uint8_t *buf, size_t len,
                            uint64_t now)
{
    strata_msg_group_bootstrap m;
    int rc = strata_wire_decode_group_bootstrap(buf, len, &m);
    if (rc < 0)
        return drop(cg, from, rc, "GROUP_BOOTSTRAP", now);
    strata_msg_group_bootstrap_reply r;
    memset(&r, 0, sizeof r);
    r.node = m.node;
    r.request_id = m.request_id;
    r.n_leaders = choose(cg, m.node, r.leaders, cg->bootstrap_leaders);
    cg->st.bootstraps++;
    cg->st.leaders_given += r.n_leaders;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_outbox_push_bytes(cg->outbox, from, out,
                             strata_wire_encode_group_bootstrap_reply(out, sizeof out, &r));
    return 0;
}

/* --- public API ------------------------------------------------------------------ */

strata_cgroups *strata_cgroups_new(const strata_cgroups_config *cfg, const strata_alloc *a,
                                   uint64_t now)
{
    strata_cgroups_config def;
    if (!cfg) {
        memset(&def, 0, sizeof def);
        cfg = &def;
    }
    if (cfg->bootstrap_leaders > STRATA_WIRE_MAX_BOOTSTRAP_LEADERS)
        return NULL;
    strata_cgroups *cg = strata_mem_calloc(a, 1, sizeof *cg);
    if (!cg)
        goto fail_alloc;
    cg->alloc = a;
    cg->log = cfg->log;
    cg->timeout_ns = STRATA_MS(cfg->report_timeout_ms ? cfg->report_timeout_ms
                                                      : STRATA_CGROUPS_DEFAULT_REPORT_TIMEOUT_MS);
    cg->max_groups = cfg->max_groups ? cfg->max_groups : STRATA_CGROUPS_DEFAULT_MAX_GROUPS;
    cg->bootstrap_leaders =
        cfg->bootstrap_leaders ? cfg->bootstrap_leaders : STRATA_CGROUPS_DEFAULT_BOOTSTRAP_LEADERS;
    strata_rng_seed(&cg->rng, cfg->seed);
    strata_idmap_init(&cg->index, a, cfg->seed ^ 0x67726f757073ull);
    cg->next_scan_ns = now + cg->timeout_ns / 2;
    cg->log_window_ns = now;
    cg->outbox = cfg->outbox;
    if (!cg->outbox && !strata_outbox_init(&cg->own_outbox, a, STRATA_CGROUPS_OUTBOX_DATAGRAMS))
        cg->outbox = &cg->own_outbox;
    if (!cg->outbox)
        goto fail_outbox;
    return cg;

fail_outbox:
    strata_idmap_free(&cg->index);
    strata_mem_free(a, cg);
fail_alloc:
    return NULL;
}

void strata_cgroups_del(strata_cgroups *cg)
{
    if (!cg)
        return;
    strata_outbox_free(&cg->own_outbox);
    strata_idmap_free(&cg->index);
    strata_mem_free(cg->alloc, cg->recs);
    strata_mem_free(cg->alloc, cg);
}

int strata_cgroups_handle_datagram(strata_cgroups *cg, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now)
{
    if (!buf && buflen)
        return STRATA_ERR_INVAL;
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return drop(cg, from, type, "datagram", now);
    switch (type) {
    case STRATA_MSG_GROUP_REPORT:
        return handle_report(cg, from, buf, buflen, now);
    case STRATA_MSG_GROUP_BOOTSTRAP:
        return handle_bootstrap(cg, from, buf, buflen, now);
    default:
        return drop(cg, from, STRATA_ERR_UNEXPECTED, "message the group bookkeeping does not take",
                    now);
    }
}

void strata_cgroups_handle_timeout(strata_cgroups *cg, uint64_t now)
{
    if (now < cg->next_scan_ns)
        return;
    cg->next_scan_ns = now + cg->timeout_ns / 2;
    for (size_t i = 0; i < cg->count;) {
        if (since(now, cg->recs[i].reported_at_ns) >= cg->timeout_ns) {
            cg->st.expired++;
            remove_at(cg, i); /* the last record moved to i: look at i again */
        } else {
            i++;
        }
    }
}

uint64_t strata_cgroups_next_timeout(const strata_cgroups *cg)
{
    /* Nothing to expire, no wake-ups: a control center whose nodes run no
     * groups (the streaming simulator's) pays nothing for the directory. */
    return cg->count ? cg->next_scan_ns : STRATA_NEVER;
}

strata_outbox *strata_cgroups_outbox(strata_cgroups *cg)
{
    return cg->outbox;
}

int strata_cgroups_lookup(const strata_cgroups *cg, strata_group_id group,
                          strata_cgroups_group *out)
{
    const strata_cgroups_group *r = find(cg, group);
    if (r && out)
        *out = *r;
    return r != NULL;
}

size_t strata_cgroups_list(const strata_cgroups *cg, strata_cgroups_group *out, size_t cap)
{
    for (size_t i = 0; i < cg->count && i < cap; i++)
        out[i] = cg->recs[i];
    return cg->count;
}

/* What record r says of its distance to group g: 1 and *d, or 0. */
static int near_of(const strata_cgroups_group *r, strata_group_id g, uint32_t *d)
{
    for (uint8_t i = 0; i < r->n_near; i++)
        if (r->near[i].group.v == g.v && r->near[i].distance != STRATA_GROUP_DISTANCE_UNKNOWN) {
            *d = r->near[i].distance;
            return 1;
        }
    return 0;
}

int strata_cgroups_distance(const strata_cgroups *cg, strata_group_id a, strata_group_id b,
                            uint32_t *distance)
{
    const strata_cgroups_group *ra = find(cg, a), *rb = find(cg, b);
    uint32_t da = 0, db = 0;
    int ha = ra && near_of(ra, b, &da), hb = rb && near_of(rb, a, &db);
    if (!ha && !hb)
        return 0;
    *distance = !hb || (ha && da < db) ? da : db;
    return 1;
}

void strata_cgroups_get_stats(const strata_cgroups *cg, strata_cgroups_stats *st)
{
    *st = cg->st;
    st->groups = cg->count;
}
