/*
 * Channels. One record per channel with nodes: the source (live, or the
 * last one known: when a source leaves its trees stay, and so does the ref
 * instructions carry), the tree rate (provisional until a source
 * announces), the stream position for newcomers (start_seq) and the list
 * of the channel's DCMs. A channel record goes when it has no live
 * source, no DCM and no membership.
 *
 * Service manager. Creates a DCM when a (channel, region) has none, with
 * logical ids from a counter starting at 1, and registers it in the
 * directory. A DCM whose last member leaves is deleted (after telling the
 * source it has no more roots there): keeping it would let anyone who
 * invents region labels grow the table without limit.
 *
 */
#include "control_int.h"

ctl_channel *ctl_channel_get(strata_control *c, strata_channel_id id)
{
    return ctl_ptab_get(&c->channels, id.v);
}

ctl_channel *ctl_channel_get_or_create(strata_control *c, strata_channel_id id)
{
    ctl_channel *ch = ctl_channel_get(c, id);
    if (ch)
        return ch;
    if (ctl_ptab_reserve(&c->channels, c->alloc, c->channels.count + 1))
        return NULL;
    ch = strata_mem_calloc(c->alloc, 1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->id = id;
    ch->rate_kbps = CONTROL_PROVISIONAL_RATE_KBPS;
    ctl_policy_init(c, ch);
    ctl_ptab_put(&c->channels, id.v, ch);
    return ch;
}

void ctl_channel_maybe_release(strata_control *c, ctl_channel *ch)
{
    if (ch->source_live || ch->ndcms > 0 || ch->backbone || ch->members > 0)
        return;
    ctl_ptab_del(&c->channels, ch->id.v);
    ctl_policy_free(c, ch);
    strata_mem_free(c->alloc, ch->dcms);
    strata_mem_free(c->alloc, ch);
}

/* Makes a DCM for channel ch: a region's (listed in the directory and in
 * ch->dcms), the channel's backbone (neither, region NULL) or a region's
 * common cluster (neither: it is found through its relay cluster,
 * ctl_common_of). Its logical id is want when nonzero and free (a restarted
 * control center gives a DCM back the id its members report), else the
 * next one. */
strata_dcm *ctl_dcm_make(strata_control *c, ctl_channel *ch, enum dcm_kind kind, const char *region,
                         size_t region_len, strata_dcm_id want)
{
    strata_dcm *d = NULL;
    int regional = kind == DCM_REGION;
    strata_dcm_id id = want;
    if (!id.v || ctl_ptab_get(&c->dcms, id.v)) {
        /* The next id of the counter that no DCM holds (a reported one
         * may): the counter never jumps, whatever a node reports. */
        while (c->next_dcm_id && ctl_ptab_get(&c->dcms, c->next_dcm_id))
            c->next_dcm_id++;
        id.v = c->next_dcm_id;
    }
    if (id.v == 0)
        goto fail_ids; /* 2^32 - 1 DCMs created: the counter is spent */
    if (regional && ch->ndcms == ch->capdcms) {
        size_t cap = ch->capdcms ? ch->capdcms * 2 : 4;
        strata_dcm **p = strata_mem_realloc(c->alloc, ch->dcms, cap * sizeof *p);
        if (!p)
            goto fail_list;
        ch->dcms = p;
        ch->capdcms = cap;
    }
    if (ctl_ptab_reserve(&c->dcms, c->alloc, c->dcms.count + 1))
        goto fail_table;
    strata_dcm_config dc = {
        .id = id,
        .channel = ch->id,
        .k = c->k,
        .rate_kbps = ch->rate_kbps,
        .source_upload_kbps = ch->source.v ? ch->source_upload_kbps : 0,
        .region = region,
        .region_len = region_len,
        .seed = c->seed ^ id.v,
        .stall_ns = c->stall_ns,
        /* Declared uploads are checked against delivered ones over two
         * stall periods (dcm_capacity.c), unless the operator turned it off. */
        .capacity_ns = c->check_capacity ? c->stall_ns * 2 : 0,
        /* The level above the regions: the backbone's tree, or the mesh of
         * preferred nodes; below it a region's trees, erasure-coded with
         * levels ec and 3; with levels 3 a common cluster of plain trees
         * below that (docs/hierarchy.md). */
        .algorithm = kind == DCM_BACKBONE ? (mesh_levels(c) ? STRATA_ALG_FLOOD : STRATA_ALG_TREE)
                                          : (kind == DCM_REGION && ec_levels(c) ? STRATA_ALG_EC_TREE
                                                                                : STRATA_ALG_TREE),
        .mesh_c = c->mesh_c,
        .mesh_top = c->top,
        .mesh_stable_ns = c->top_stable_ns,
        .parity = c->parity,
        .parity_max = c->parity_max,
        .parity_window_ns = c->hb_ns * CONTROL_PARITY_WINDOW_HEARTBEATS,
        /* Every mode names levels: a restarted control center tells a
         * head's report from a member's by it (control_restart.c). */
        .level = kind == DCM_BACKBONE ? 1
                 : kind == DCM_REGION ? 2
                                      : 3,
    };
    d = strata_dcm_new(c->alloc, &dc);
    if (!d)
        goto fail_dcm;
    /* A DCM made after the source joined learns it from the channel. */
    if (ch->source.v && strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps,
                                              ch->source_upload_kbps))
        goto fail_source;
    if (regional && strata_directory_insert(c->dir, ch->id, region, region_len, dc.id))
        goto fail_directory;
    ctl_ptab_put(&c->dcms, dc.id.v, d);
    if (regional)
        ch->dcms[ch->ndcms++] = d;
    if (id.v == c->next_dcm_id)
        c->next_dcm_id++; /* wraps to 0 when spent */
    return d;

fail_directory:
fail_source:
    strata_dcm_del(d);
fail_dcm:
fail_table:
fail_list:
fail_ids:
    return NULL;
}

strata_dcm *ctl_dcm_for(strata_control *c, ctl_channel *ch, const char *region, size_t region_len,
                        strata_dcm_id want)
{
    strata_dcm_id id;
    if (strata_directory_lookup(c->dir, ch->id, region, region_len, &id) == 0)
        return ctl_ptab_get(&c->dcms, id.v);
    return ctl_dcm_make(c, ch, DCM_REGION, region, region_len, want);
}

/* --- levels = 3: a region's relay and common clusters -------------------------------
 *
 * With three levels a region has two DCMs: its relay cluster (the one the
 * directory and ch->dcms know, erasure-coded as with levels ec, fed by
 * preferred nodes) and, once it has a common member, its common cluster
 * (plain trees, level 3), whose tree s is fed by one relay member in the
 * source's place, each tree by another when there are enough. c->pairs
 * maps each one's id to the other. */

static int is_common(const strata_control *c, const strata_dcm *d)
{
    return c->levels == STRATA_LEVELS_THREE && strata_dcm_level(d) == 3;
}

/* The common cluster below region d, or NULL. */
strata_dcm *ctl_common_of(const strata_control *c, const strata_dcm *d)
{
    if (c->levels != STRATA_LEVELS_THREE || is_common(c, d))
        return NULL;
    return ctl_ptab_get(&c->pairs, strata_dcm_id_of(d).v);
}

/* The region's DCM of a node in d: d's relay cluster when d is a common
 * cluster, else d itself. */
strata_dcm *ctl_home_of(const strata_control *c, strata_dcm *d)
{
    return d && is_common(c, d) ? ctl_ptab_get(&c->pairs, strata_dcm_id_of(d).v) : d;
}

/* Region d's common cluster, made when it has none (NULL: no memory). */
strata_dcm *ctl_common_for(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_dcm_id want)
{
    strata_dcm *cm = ctl_common_of(c, d);
    if (cm)
        return cm;
    if (ctl_ptab_reserve(&c->pairs, c->alloc, c->pairs.count + 2))
        return NULL;
    size_t len;
    const char *region = strata_dcm_region(d, &len);
    cm = ctl_dcm_make(c, ch, DCM_COMMON, region, len, want);
    if (!cm)
        return NULL;
    ctl_ptab_put(&c->pairs, strata_dcm_id_of(d).v, cm);
    ctl_ptab_put(&c->pairs, strata_dcm_id_of(cm).v, d);
    return cm;
}

/* Member m of d leaves d's trees and joins them again giving them kbps, so
 * that its children find parents that can carry them. 0 when it did; 1
 * when, out of memory, it is back giving back_kbps; negative when it is
 * out of the trees (told UNKNOWN at its next heartbeat, it joins again). */
int ctl_dcm_resize_member(strata_dcm *d, const ctl_node *m, uint32_t kbps, uint32_t back_kbps)
{
    strata_dcm_trust t; /* what the capacity check knows of it stays */
    const strata_dcm_trust *tp = strata_dcm_trust_of(d, m->id, &t) == 0 ? &t : NULL;
    if (strata_dcm_remove(d, m->id) == 0 &&
        strata_dcm_add_trusted(d, m->id, m->host->addr, kbps, 0, tp) == 0)
        return 0;
    if (strata_dcm_has(d, m->id) ||
        strata_dcm_add_trusted(d, m->id, m->host->addr, back_kbps, 0, tp) == 0)
        return 1;
    return STRATA_ERR_NOMEM;
}

int ctl_dcm_move_member(strata_dcm *from, strata_dcm *to, const ctl_node *m, uint32_t kbps)
{
    strata_dcm_trust t;
    const strata_dcm_trust *tp = strata_dcm_trust_of(from, m->id, &t) == 0 ? &t : NULL;
    int err = strata_dcm_add_trusted(to, m->id, m->host->addr, kbps, 0, tp);
    if (err)
        return err;
    strata_dcm_remove(from, m->id);
    return 0;
}

void ctl_dcm_destroy(strata_control *c, strata_dcm *d)
{
    if (is_common(c, d)) {
        ctl_forget_feeders_of(c, d);
        strata_dcm *relay = ctl_home_of(c, d);
        if (relay)
            ctl_ptab_del(&c->pairs, strata_dcm_id_of(relay).v);
        ctl_ptab_del(&c->pairs, strata_dcm_id_of(d).v);
        ctl_ptab_del(&c->dcms, strata_dcm_id_of(d).v);
        strata_dcm_del(d);
        return;
    }
    ctl_forget_away_into(c, d);
    ctl_channel *ch = ctl_channel_get(c, strata_dcm_channel(d));
    size_t rlen;
    const char *region = strata_dcm_region(d, &rlen);
    ctl_ptab_del(&c->dcms, strata_dcm_id_of(d).v);
    if (ch && ch->backbone == d) {
        ch->backbone = NULL;
        strata_dcm_del(d);
        return;
    }
    strata_directory_remove(c->dir, strata_dcm_channel(d), region, rlen);
    if (ch) {
        for (size_t i = 0; i < ch->ndcms; i++) {
            if (ch->dcms[i] == d) {
                ch->dcms[i] = ch->dcms[--ch->ndcms];
                break;
            }
        }
    }
    strata_dcm_del(d);
}

/* 1 when DCM d has no member in its trees, no head feeding them, and no
 * member waiting for a recovery window to close (see control_restart.c): it can go. */
int ctl_dcm_unused(strata_control *c, strata_dcm *d)
{
    /* A common cluster's feeders are its region's; a relay cluster stays
     * while its region has common members. */
    if (strata_dcm_count(d) > 0 || (!is_common(c, d) && ctl_has_heads(c, d)) || ctl_common_of(c, d))
        return 0;
    for (size_t i = 0; c->recover_until && i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->restoring && m->dcm == d)
            return 0;
    }
    return 1;
}