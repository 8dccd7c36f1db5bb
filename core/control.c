/*
 * The control center (see strata/control.h), in modules that share its
 * state (control_int.h):
 *   control.c            the tables, the public API and the timer
 *   control_clients.c    the client manager: node table, upload shares,
 *                        JOIN, HEARTBEAT, LEAVE
 *   control_dcms.c       the service manager: channels and their DCMs
 *   control_instr.c      instructions, assembled per node, sent in batches
 *   control_regions.c    regions, their feeders and root budgets, the backbone
 *   control_ec.c         levels ec and 3: trees at distinct preferred nodes
 *   control_three.c      levels 3: relay and common clusters
 *   control_preferred.c  preferred nodes chosen from their history
 *   control_restart.c    the recovery window after a restart
 *   control_recruit.c    relays recruited for channels nobody there watches
 *   control_waypoints.c  waypoint servers placed where regions lack capable nodes
 * with the content directory (directory.c) and the DCMs (dcm.c).
 *
 * Timer: every heartbeat interval, nodes not heard for dead_after are
 * removed like a leave (counted as deaths). A peer's heartbeat goes on to
 * its DCM, which compares it with the trees (strata_dcm_heartbeat: lost
 * instructions, stalled parents).
 */
#include "control_int.h"

#include <stdio.h>

void ctl_ptab_init(ptab *t, const strata_alloc *a, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    strata_idmap_init(&t->index, a, seed);
}

void ctl_ptab_free(ptab *t, const strata_alloc *a)
{
    strata_mem_free(a, t->items);
    strata_mem_free(a, t->keys);
    strata_idmap_free(&t->index);
    memset(t, 0, sizeof *t);
}

void *ctl_ptab_get(const ptab *t, uint64_t key)
{
    uint32_t i;
    return strata_idmap_get(&t->index, key, &i) ? t->items[i] : NULL;
}

/* Makes room for n entries so that ctl_ptab_put cannot fail. */
int ctl_ptab_reserve(ptab *t, const strata_alloc *a, size_t n)
{
    if (n > UINT32_MAX)
        return STRATA_ERR_NOMEM;
    if (n > t->cap) {
        size_t cap = t->cap ? t->cap : 16;
        while (cap < n)
            cap *= 2;
        if (cap > SIZE_MAX / sizeof(uint64_t))
            return STRATA_ERR_NOMEM;
        void **items = strata_mem_realloc(a, t->items, cap * sizeof *items);
        if (!items)
            return STRATA_ERR_NOMEM;
        t->items = items;
        uint64_t *keys = strata_mem_realloc(a, t->keys, cap * sizeof *keys);
        if (!keys)
            return STRATA_ERR_NOMEM; /* items grew, which is harmless */
        t->keys = keys;
        t->cap = cap;
    }
    return strata_idmap_reserve(&t->index, n);
}

void ctl_ptab_put(ptab *t, uint64_t key, void *item)
{
    t->items[t->count] = item;
    t->keys[t->count] = key;
    strata_idmap_put(&t->index, key, (uint32_t)t->count); /* reserved: cannot fail */
    t->count++;
}

void ctl_ptab_del(ptab *t, uint64_t key)
{
    uint32_t i;
    if (!strata_idmap_get(&t->index, key, &i))
        return;
    strata_idmap_del(&t->index, key);
    size_t last = t->count - 1;
    if (i != last) {
        t->items[i] = t->items[last];
        t->keys[i] = t->keys[last];
        strata_idmap_put(&t->index, t->keys[i], i); /* replaces: cannot fail */
    }
    t->count--;
}

/* Log lines caused by peers are rate-limited per window of `now`. */
int ctl_log_allowed(strata_control *c, int level, uint64_t now)
{
    if (!c->log || !c->log->write || level > c->log->max_level)
        return 0;
    if (elapsed(now, c->log_window_ns) >= STRATA_MS(CONTROL_LOG_WINDOW_MS)) {
        if (c->log_suppressed)
            strata_logf(c->log, STRATA_LOG_WARN, "control: %llu log lines suppressed",
                        (unsigned long long)c->log_suppressed);
        c->log_window_ns = now;
        c->log_lines = 0;
        c->log_suppressed = 0;
    }
    if (c->log_lines >= CONTROL_LOG_LINES_PER_WINDOW) {
        c->log_suppressed++;
        return 0;
    }
    c->log_lines++;
    return 1;
}

int ctl_drop(strata_control *c, strata_addr from, int err, const char *what, uint64_t now)
{
    strata_drop_count(&c->drops, err);
    if (ctl_log_allowed(c, STRATA_LOG_WARN, now)) {
        char a[32];
        strata_logf(c->log, STRATA_LOG_WARN, "control: dropped %s from %s: %s", what,
                    strata_addr_format(from, a, sizeof a), strata_strerror(err));
    }
    return err;
}

/* --- memberships and hosts ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The index key of (node, channel): keyed with the control center's own
 * secret, so that nodes, which choose their ids, cannot make two
 * memberships share a key on purpose. (A chance collision, about 2^-64 a
 * pair, only refuses the later JOIN.) */
uint64_t ctl_member_key(const strata_control *c, strata_node_id node, strata_channel_id ch)
{
    return mix64(mix64(node.v ^ c->member_salt[0]) ^ ch.v ^ c->member_salt[1]);
}

ctl_node *ctl_member_get(const strata_control *c, strata_node_id node, strata_channel_id ch)
{
    ctl_node *rec = ctl_ptab_get(&c->nodes, ctl_member_key(c, node, ch));
    return rec && rec->id.v == node.v && rec->ch->id.v == ch.v ? rec : NULL;
}

uint32_t ctl_next_epoch(strata_control *c)
{
    if (++c->epoch == 0)
        c->epoch = 1; /* 0 means "nothing applied yet" to a node */
    return c->epoch;
}

/* --- public API ---------------------------------------------------------------------------- */

strata_control *strata_control_new(const strata_control_config *cfg, const strata_alloc *a,
                                   uint64_t now)
{
    strata_control_config def;
    if (!cfg) {
        memset(&def, 0, sizeof def);
        cfg = &def;
    }
    if (cfg->k > STRATA_WIRE_MAX_SUBSTREAMS || cfg->region_mode > STRATA_REGION_LOCALITY ||
        cfg->prefix_bits > 32 ||
        (cfg->levels != STRATA_LEVELS_BACKBONE && cfg->levels != STRATA_LEVELS_MESH &&
         cfg->levels != STRATA_LEVELS_EC && cfg->levels != STRATA_LEVELS_THREE) ||
        cfg->parity > STRATA_WIRE_MAX_PARITY ||
        cfg->preferred_per_region > STRATA_WIRE_MAX_SUBSTREAMS || cfg->mesh_c > STRATA_MESH_MAX_C ||
        cfg->top > STRATA_TOP_AUTO)
        goto fail_config;
    strata_control *c = strata_mem_calloc(a, 1, sizeof *c);
    if (!c)
        goto fail_control;
    c->alloc = a;
    c->log = cfg->log;
    c->k = cfg->k ? cfg->k : STRATA_CONTROL_DEFAULT_K;
    c->region_mode = cfg->region_mode;
    c->prefix_bits = cfg->prefix_bits ? cfg->prefix_bits : STRATA_CONTROL_DEFAULT_PREFIX_BITS;
    c->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : STRATA_CONTROL_DEFAULT_HEARTBEAT_MS;
    /* A recruited relay holds no token for the channel it is asked to
     * relay: with tokens, nobody is recruited. */
    c->recruit = !cfg->no_recruit && !cfg->require_tokens;
    c->check_capacity = cfg->capacity_check != 0;
    c->levels = cfg->levels;
    c->heads_per_region = cfg->levels != STRATA_LEVELS_BACKBONE
                              ? (cfg->preferred_per_region ? cfg->preferred_per_region
                                                           : STRATA_CONTROL_DEFAULT_PREFERRED)
                              : CONTROL_HEADS_PER_REGION;
    c->mesh_c = cfg->mesh_c;
    /* The DCM's enum is the public one (strata/control.h). */
    _Static_assert(STRATA_DCM_TOP_AUTO == (int)STRATA_TOP_AUTO &&
                       STRATA_DCM_TOP_TREE == (int)STRATA_TOP_TREE,
                   "strata_top and strata_dcm_mesh_top agree");
    c->top = cfg->top;
    c->top_stable_ns = STRATA_MS(cfg->top_stable_ms);
    /* n >= c - 1 parity trees: any c - 1 preferred nodes lost cost a cluster
     * at most c - 1 trees (docs/hierarchy.md). */
    uint8_t mesh_c = cfg->mesh_c ? cfg->mesh_c : STRATA_MESH_DEFAULT_C;
    c->parity = cfg->parity ? cfg->parity : (mesh_c > 2 ? (uint8_t)(mesh_c - 1) : 1);
    /* Up to twice that as a cluster's loss asks (dcm.h, "Parity from loss"). */
    if (cfg->parity_max && (cfg->parity_max < c->parity || cfg->parity_max > STRATA_WIRE_MAX_PARITY))
        goto fail_parity;
    c->parity_max = cfg->parity_max ? cfg->parity_max
                    : 2 * c->parity < STRATA_WIRE_MAX_PARITY ? (uint8_t)(2 * c->parity)
                                                             : STRATA_WIRE_MAX_PARITY;
    c->split_members =
        cfg->split_members ? cfg->split_members : STRATA_CONTROL_DEFAULT_SPLIT_MEMBERS;
    c->policy = cfg->region_policy != 0;
    /* A cluster needs one interior member per tree: k + n for an
     * erasure-coded one, k for plain trees. */
    c->region_min_members = cfg->region_min_members
                                ? cfg->region_min_members
                                : (uint32_t)c->k + (ec_levels(c) ? c->parity : 0u);
    c->max_nodes = cfg->max_nodes ? cfg->max_nodes : STRATA_CONTROL_DEFAULT_MAX_NODES;
    c->hb_ns = STRATA_MS(c->heartbeat_ms);
    c->dead_ns = cfg->dead_after_ms ? STRATA_MS(cfg->dead_after_ms) : c->hb_ns * 7 / 2;
    c->stall_ns = cfg->stall_after_ms ? STRATA_MS(cfg->stall_after_ms) : c->hb_ns * 3;
    c->seed = cfg->seed;
    c->next_dcm_id = 1;
    c->next_scan_ns = deadline(now, c->hb_ns);
    c->next_eval_ns = deadline(now, c->hb_ns * PREF_EVAL_HEARTBEATS);
    c->adopt_epochs_until = deadline(now, c->hb_ns * RESTART_ADOPT_HEARTBEATS);
    c->log_window_ns = now;
    ctl_ptab_init(&c->nodes, a, cfg->seed ^ 0x6e6f646573ull);
    ctl_ptab_init(&c->hosts, a, cfg->seed ^ 0x686f737473ull);
    ctl_ptab_init(&c->reports, a, cfg->seed ^ 0x7265706f727473ull);
    c->member_salt[0] = mix64(cfg->seed ^ 0x6d656d6265727331ull);
    c->member_salt[1] = mix64(cfg->seed ^ 0x6d656d6265727332ull);
    ctl_ptab_init(&c->channels, a, cfg->seed ^ 0x6368616e6eull);
    ctl_ptab_init(&c->dcms, a, cfg->seed ^ 0x64636d73ull);
    ctl_ptab_init(&c->pairs, a, cfg->seed ^ 0x7061697273ull);
    c->outbox = cfg->outbox;
    if (!c->outbox && !strata_outbox_init(&c->own_outbox, a, CONTROL_OUTBOX_CAP))
        c->outbox = &c->own_outbox;
    if (!c->outbox)
        goto fail_outbox;
    c->dir = strata_directory_new(a);
    if (!c->dir)
        goto fail_directory;
    if (strata_admission_init(&c->adm, cfg, a) != 0)
        goto fail_admission;
    return c;

fail_admission:
    strata_directory_del(c->dir);
fail_directory:
    strata_outbox_free(&c->own_outbox);
fail_outbox:
fail_parity:
    strata_mem_free(a, c);
fail_control:
fail_config:
    return NULL;
}

void strata_control_del(strata_control *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nodes.count; i++)
        strata_mem_free(c->alloc, c->nodes.items[i]);
    for (size_t i = 0; i < c->hosts.count; i++)
        strata_mem_free(c->alloc, c->hosts.items[i]);
    ctl_ptab_free(&c->hosts, c->alloc);
    strata_mem_free(c->alloc, c->auth);
    for (size_t i = 0; i < c->reports.count; i++)
        strata_mem_free(c->alloc, c->reports.items[i]);
    ctl_ptab_free(&c->reports, c->alloc);
    for (size_t i = 0; i < c->dcms.count; i++)
        strata_dcm_del(c->dcms.items[i]);
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        ctl_policy_free(c, ch);
        strata_mem_free(c->alloc, ch->dcms);
        strata_mem_free(c->alloc, ch);
    }
    ctl_ptab_free(&c->nodes, c->alloc);
    ctl_ptab_free(&c->dcms, c->alloc);
    ctl_ptab_free(&c->pairs, c->alloc);
    ctl_ptab_free(&c->channels, c->alloc);
    strata_directory_del(c->dir);
    strata_admission_free(&c->adm);
    strata_outbox_free(&c->own_outbox);
    strata_mem_free(c->alloc, c->away_cands);
    strata_mem_free(c->alloc, c);
}

int strata_control_handle_datagram(strata_control *c, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now)
{
    if (!buf && buflen)
        return STRATA_ERR_INVAL;
    if (buflen > STRATA_WIRE_MAX_DATAGRAM_BYTES)
        return ctl_drop(c, from, STRATA_ERR_LONG, "oversized datagram", now);
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return ctl_drop(c, from, type, "datagram", now);
    switch (type) {
    case STRATA_MSG_JOIN:
        return ctl_handle_join(c, from, buf, buflen, now);
    case STRATA_MSG_HEARTBEAT:
        return ctl_handle_heartbeat(c, from, buf, buflen, now);
    case STRATA_MSG_LEAVE:
        return ctl_handle_leave(c, from, buf, buflen, now);
    default:
        return ctl_drop(c, from, STRATA_ERR_UNEXPECTED, "message the control does not take", now);
    }
}

void strata_control_handle_timeout(strata_control *c, uint64_t now)
{
    if (c->recover_until && now >= c->recover_until) {
        /* It waits (see control_restart.c) for a channel's source, and
         * for the nodes heard from before to join again. */
        if (now < c->recover_limit &&
            (ctl_source_missing(c) || c->window_heard - c->window_joined > c->window_heard / 100))
            c->recover_until = deadline(now, c->hb_ns); /* see control_restart.c */
        else
            ctl_finish_recovery(c, now);
    }
    if (now < c->next_scan_ns)
        return;
    c->next_scan_ns = deadline(now, c->hb_ns);
    /* Collect the dead in chunks (the table must not change while it is
     * walked), remove them, and look again until a walk finds fewer than a
     * chunk: one walk per CONTROL_SCAN_CHUNK deaths, without allocating. */
    uint64_t dead[CONTROL_SCAN_CHUNK]; /* member keys */
    size_t n;
    do {
        n = 0;
        for (size_t i = 0; i < c->nodes.count && n < CONTROL_SCAN_CHUNK; i++) {
            const ctl_node *rec = c->nodes.items[i];
            if (elapsed(now, rec->last_seen_ns) >= c->dead_ns)
                dead[n++] = c->nodes.keys[i];
        }
        for (size_t i = 0; i < n; i++) {
            ctl_node *rec = ctl_ptab_get(&c->nodes, dead[i]);
            if (!rec)
                continue;
            c->deaths++;
            if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
                strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx is dead",
                            (unsigned long long)rec->id.v);
            ctl_remove_node(c, rec, now);
        }
    } while (n == CONTROL_SCAN_CHUNK);
    ctl_recruit_scan(c, now);
    int eval = !c->recover_until && now >= c->next_eval_ns;
    if (eval) {
        c->next_eval_ns = deadline(now, c->hb_ns * PREF_EVAL_HEARTBEATS);
        ctl_policy_evaluate(c, now); /* regions first: the preferred nodes are chosen in them */
    }
    if (mesh_levels(c) && eval) {
        ctl_evaluate_preferred(c, now);
        ctl_waypoints_release(c, now);
    } else if (!mesh_levels(c) && !c->recover_until) {
        ctl_waypoints_release(c, now); /* the backbone has no evaluations */
    }
}

uint64_t strata_control_next_timeout(const strata_control *c)
{
    if (c->recover_until && c->recover_until < c->next_scan_ns)
        return c->recover_until;
    return c->next_scan_ns;
}

void strata_control_set_groups(strata_control *c, const strata_cgroups *cg)
{
    c->cgroups = cg;
}

strata_outbox *strata_control_outbox(strata_control *c)
{
    return c->outbox;
}

size_t strata_control_topology(const strata_control *c, strata_control_entry *out, size_t cap)
{
    for (size_t i = 0; i < c->nodes.count && i < cap; i++) {
        const ctl_node *rec = c->nodes.items[i];
        strata_control_entry *e = &out[i];
        memset(e, 0, sizeof *e);
        e->node = rec->id;
        e->channel = rec->ch->id;
        e->role = rec->role;
        e->k = c->k;
        e->credit_kbps = UINT32_MAX;
        if (rec->dcm) {
            strata_dcm_trust tr;
            e->dcm = strata_dcm_id_of(rec->dcm);
            strata_dcm_parent_ids(rec->dcm, rec->id, e->parents, STRATA_WIRE_MAX_TREES);
            if (strata_dcm_trust_of(rec->dcm, rec->id, &tr) == 0) {
                e->credit_kbps = tr.credit_kbps;
                e->strikes = tr.strikes;
            }
        }
        const strata_dcm *rd = ctl_region_dcm(c, rec);
        if (ec_levels(c)) /* the levels that name one (mesh and backbone say 0) */
            e->level = rec->roots ? 1 : rec->dcm ? strata_dcm_level(rec->dcm) : 0;
        if (rd) {
            size_t len = 0;
            const char *r = strata_dcm_region(rd, &len);
            e->region_dcm = strata_dcm_id_of(rd);
            if (r && len)
                memcpy(e->region, r, len < sizeof e->region ? len : sizeof e->region - 1);
        }
        /* Regions by policy: the node's own group when another group's
         * region serves it. */
        if (rec->group && ctl_policy_host_of(c, rec) != rec->group)
            e->folded_group = rec->group;
        memcpy(e->channel_name, rec->ch->name, rec->ch->name_len);
        e->addr = rec->host->addr;
        e->upload_kbps = rec->upload_kbps;
        e->played = rec->played;
        e->missed = rec->missed;
        e->tx_bytes = rec->tx_bytes;
    }
    return c->nodes.count;
}

int strata_control_member_of(const strata_control *c, strata_node_id node, strata_channel_id ch,
                             strata_control_member *out)
{
    const ctl_node *rec = ctl_member_get(c, node, ch);
    if (!rec)
        return 0;
    out->role = rec->role;
    out->priority = rec->priority;
    out->channels = rec->host->n_members;
    out->upload_kbps = rec->upload_kbps;
    out->dcm = rec->dcm ? strata_dcm_id_of(rec->dcm) : (strata_dcm_id){0};
    return 1;
}

void strata_control_get_status(const strata_control *c, strata_control_status *st)
{
    memset(st, 0, sizeof *st);
    st->peers = c->peers;
    st->sources = c->sources;
    st->nodes = c->peers + c->sources;
    st->channels = c->channels.count;
    st->dcms = c->dcms.count;
    for (size_t i = 0; i < c->dcms.count; i++)
        st->dcms_with_members += strata_dcm_count(c->dcms.items[i]) > 0;
    for (size_t i = 0; i < c->dcms.count; i++) {
        strata_mtree_stats ts;
        const strata_mtree *t = strata_dcm_tree(c->dcms.items[i]);
        if (!t)
            continue; /* a mesh: no tree to have detached pairs or depth */
        strata_mtree_get_stats(t, &ts);
        st->detached_pairs += ts.detached_pairs;
        if (ts.max_depth > st->max_depth)
            st->max_depth = ts.max_depth;
    }
    st->played_packets = c->played_sum;
    st->missed_packets = c->missed_sum;
    st->peer_tx_bytes = c->peer_tx_sum;
    st->source_tx_bytes = c->source_tx_sum;
    st->joins = c->joins;
    st->leaves = c->leaves;
    st->deaths = c->deaths;
    st->reparents = c->reparents;
    st->instructions_sent = c->instructions_sent;
    st->region_moves = c->region_moves;
    st->policy_folds = c->policy_folds;
    st->policy_unfolds = c->policy_unfolds;
    st->policy_moves = c->policy_moves;
    st->folded_groups = ctl_policy_folded(c);
    st->relays = c->relays;
    st->promotions = c->promotions;
    st->capacity_promotions = c->capacity_promotions;
    st->capacity_demotions = c->capacity_demotions;
    st->capacity_strikes = c->capacity_strikes;
    st->parity_raises = c->parity_raises;
    st->parity_lowers = c->parity_lowers;
    st->demotions = c->demotions;
    st->recruits_sent = c->recruits_sent;
    st->releases_sent = c->releases_sent;
    st->waypoints = c->nwaypoints;
    st->waypoints_placed = c->waypoints_placed;
    st->waypoint_standbys = c->waypoint_standbys;
    st->waypoint_releases = c->waypoint_releases;
    st->recovering = c->recover_until != 0;
    st->restored_members = c->restored_members;
    st->restored_edges = c->restored_edges;
    st->reported_edges = c->reported_edges;
    memcpy(st->refused, c->adm.refused, sizeof st->refused);
    st->token_checks = c->adm.token_checks;
    st->drops = c->drops;
}
int strata_control_authenticate(strata_control *c, const uint8_t *key_seed, const uint8_t *seed,
                                uint8_t *pk_out)
{
    if (!c->auth && !(c->auth = strata_mem_calloc(c->alloc, 1, sizeof *c->auth)))
        return STRATA_ERR_NOMEM;
    strata_auth_center_init(c->auth, key_seed, seed);
    if (pk_out)
        memcpy(pk_out, c->auth->pk, STRATA_AUTH_KEY_BYTES);
    return 0;
}
