/*
 * Regions by policy (SPEC C2, C8; docs/hierarchy.md, "Regions by policy").
 * With locality regions (protocol.md 7.8) every locality group would be a
 * region of its own, however small or weak. This module decides, per
 * channel, which region serves each group: its own, or, for a group too
 * small (fewer members in the channel than min_members) or too weak (no
 * member with the stream rate of upload, or less upload in all than its
 * members need, the rate each), the nearest region that can carry it, by
 * the distances group leaders report (GROUP_REPORT's nearest groups,
 * strata_cgroups_distance): directly, else through one group between.
 *
 * A group folded into another region gets its own back once it has been
 * capable with a margin (a quarter more members than the minimum, and a
 * quarter more upload than needed) for POLICY_UNFOLD_EVALS evaluations; a
 * region is folded only after POLICY_FOLD_EVALS evaluations of weakness,
 * and a new group (no region yet) at its first member's JOIN. A region
 * that carries other groups is judged with them: it is folded elsewhere
 * only when all of it together is weak, and its guests follow it. A move
 * is a leave from one region's trees and a join to the other's, as a
 * group merge is (ctl_rejoin_region).
 *
 * One job: the map from group to region. Driven by the evaluations of
 * the preferred nodes (control.c) and by JOINs (ctl_policy_region).
 */
#include "control_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    POLICY_FOLD_EVALS = 2,   /* evaluations a region stays weak before it is folded */
    POLICY_UNFOLD_EVALS = 6, /* ... a folded group stays capable before it is a region again */
    POLICY_INITIAL_GROUPS = 16,
    POLICY_MOVE_CHUNK = 256, /* members moved per pass over the table */
};

static const char group_prefix[] = "group:";

uint64_t ctl_label_group(const char *s, size_t len)
{
    size_t p = sizeof group_prefix - 1;
    if (len != p + 16 || memcmp(s, group_prefix, p) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = p; i < len; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16u;
        if (d == 16u)
            return 0;
        v = v << 4 | d;
    }
    return v;
}

static size_t group_label(uint64_t g, char *out)
{
    int n = snprintf(out, CONTROL_REGION_BUF, "group:%016" PRIx64, g);
    return n > 0 ? (size_t)n : 0;
}

/* 1 when the policy decides regions: locality regions, group distances
 * known to the control center, the policy on, no recovery window. */
static int policy_on(const strata_control *c)
{
    return c->policy && c->cgroups && c->region_mode == STRATA_REGION_LOCALITY &&
           !c->recover_until;
}

static ctl_pgroup *pg_find(ctl_channel *ch, uint64_t g)
{
    uint32_t i;
    return g && strata_idmap_get(&ch->pg_index, g, &i) ? &ch->pg[i] : NULL;
}

static ctl_pgroup *pg_add(strata_control *c, ctl_channel *ch, uint64_t g)
{
    if (ch->npg == ch->cappg) {
        size_t ncap = ch->cappg ? ch->cappg * 2 : POLICY_INITIAL_GROUPS;
        ctl_pgroup *n = strata_mem_realloc(c->alloc, ch->pg, ncap * sizeof *n);
        if (!n)
            return NULL;
        ch->pg = n;
        ch->cappg = ncap;
    }
    if (strata_idmap_put(&ch->pg_index, g, (uint32_t)ch->npg) < 0)
        return NULL;
    ctl_pgroup *p = &ch->pg[ch->npg++];
    memset(p, 0, sizeof *p);
    p->group = g;
    p->host = g;
    return p;
}

static void pg_remove_at(ctl_channel *ch, size_t i)
{
    strata_idmap_del(&ch->pg_index, ch->pg[i].group);
    size_t last = --ch->npg;
    if (i != last) {
        ch->pg[i] = ch->pg[last];
        strata_idmap_put(&ch->pg_index, ch->pg[i].group, (uint32_t)i); /* replaces: no alloc */
    }
}

void ctl_policy_init(strata_control *c, ctl_channel *ch)
{
    strata_idmap_init(&ch->pg_index, c->alloc, c->seed ^ ch->id.v ^ 0x706f6c696379ull);
}

void ctl_policy_free(strata_control *c, ctl_channel *ch)
{
    strata_idmap_free(&ch->pg_index);
    strata_mem_free(c->alloc, ch->pg);
    ch->pg = NULL;
    ch->npg = ch->cappg = 0;
}

/* The DCM of group g's own region in ch, or NULL. */
static strata_dcm *own_region(strata_control *c, const ctl_channel *ch, uint64_t g)
{
    char label[CONTROL_REGION_BUF];
    size_t len = group_label(g, label);
    strata_dcm_id id;
    if (!len || strata_directory_lookup(c->dir, ch->id, label, len, &id) != 0)
        return NULL;
    return ctl_ptab_get(&c->dcms, id.v);
}

/* Can members with this upload carry their own trees? need_pct: the
 * upload asked, in percent of what they need (100, or 125 for the
 * margin a folded group shows before it gets its region back). */
static int capable(const strata_control *c, const ctl_channel *ch, uint32_t members,
                   uint64_t upload_sum, uint32_t upload_max, unsigned need_pct)
{
    uint64_t min = (uint64_t)c->region_min_members * need_pct / 100;
    if (need_pct > 100 && min <= c->region_min_members)
        min = c->region_min_members + 1;
    return members >= min && upload_max >= ch->rate_kbps &&
           upload_sum * 100 >= (uint64_t)members * ch->rate_kbps * need_pct;
}

static int region_capable(const strata_control *c, const ctl_channel *ch, const ctl_pgroup *p)
{
    return capable(c, ch, p->region_members, p->region_upload, p->region_max, 100);
}

/* A region that can take other groups: its own group's, with members, and
 * capable with the guests it has. */
static int can_host(const strata_control *c, const ctl_channel *ch, const ctl_pgroup *p)
{
    return p->host == p->group && p->members > 0 && region_capable(c, ch, p);
}

/* The nearest region that can take group g (not g itself), by the
 * distance g's and the hosts' leaders report: directly, else through one
 * of g's near groups. 0 when none is known. */
static uint64_t nearest_host(strata_control *c, ctl_channel *ch, uint64_t g)
{
    strata_cgroups_group rec;
    int have_rec = strata_cgroups_lookup(c->cgroups, (strata_group_id){g}, &rec);
    uint64_t best = 0, best_d = UINT64_MAX;
    for (size_t i = 0; i < ch->npg; i++) {
        const ctl_pgroup *h = &ch->pg[i];
        if (h->group == g || !can_host(c, ch, h))
            continue;
        uint32_t d32;
        uint64_t d = UINT64_MAX;
        if (strata_cgroups_distance(c->cgroups, (strata_group_id){g}, (strata_group_id){h->group},
                                    &d32))
            d = d32;
        for (uint8_t j = 0; have_rec && j < rec.n_near; j++) {
            uint32_t a = rec.near[j].distance, b;
            if (a != STRATA_GROUP_DISTANCE_UNKNOWN &&
                strata_cgroups_distance(c->cgroups, rec.near[j].group, (strata_group_id){h->group},
                                        &b) &&
                (uint64_t)a + b < d)
                d = (uint64_t)a + b;
        }
        if (d < best_d || (d == best_d && d != UINT64_MAX && h->group < best)) {
            best_d = d;
            best = h->group;
        }
    }
    return best_d == UINT64_MAX ? 0 : best;
}

uint64_t ctl_policy_region(strata_control *c, strata_channel_id ch_id, const char **region,
                           size_t *region_len, char *buf, uint64_t now)
{
    uint64_t g = ctl_label_group(*region, *region_len);
    ctl_channel *ch = g && policy_on(c) ? ctl_channel_get(c, ch_id) : NULL;
    if (!ch)
        return g;
    ctl_pgroup *p = pg_find(ch, g);
    if (!p) {
        /* A group new to the channel: its own region only when it has one
         * already or no region near it can take it (the evaluations fold
         * it when its distances come). */
        if (!(p = pg_add(c, ch, g)))
            return g; /* no memory: its own region */
        if (!own_region(c, ch, g)) {
            uint64_t h = nearest_host(c, ch, g);
            if (h) {
                p->host = h;
                c->policy_folds++;
            }
        }
        p->since_ns = now;
    }
    if (p->host != g) {
        *region_len = group_label(p->host, buf);
        *region = buf;
    }
    return g;
}

/* Counts each group's members in ch and their upload, and each region's
 * (its own group and its guests). */
static void tally(strata_control *c, ctl_channel *ch)
{
    for (size_t i = 0; i < ch->npg; i++) {
        ctl_pgroup *p = &ch->pg[i];
        p->members = p->region_members = 0;
        p->upload = p->region_upload = 0;
        p->upload_max = p->region_max = 0;
    }
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *rec = c->nodes.items[i];
        if (rec->ch != ch || !in_trees(rec) || !rec->group || rec->role == STRATA_ROLE_WAYPOINT)
            continue;
        ctl_pgroup *p = pg_find(ch, rec->group);
        if (!p && !(p = pg_add(c, ch, rec->group)))
            continue;
        p->members++;
        p->upload += rec->upload_kbps;
        if (rec->upload_kbps > p->upload_max)
            p->upload_max = rec->upload_kbps;
    }
    for (size_t i = 0; i < ch->npg; i++) {
        ctl_pgroup *p = &ch->pg[i], *h = pg_find(ch, p->host);
        if (!h)
            h = p;
        h->region_members += p->members;
        h->region_upload += p->upload;
        if (p->upload_max > h->region_max)
            h->region_max = p->upload_max;
    }
}

/* Decides each group's region (see the top of the file); returns 1 when
 * any changed. */
static int decide(strata_control *c, ctl_channel *ch, uint64_t now)
{
    uint64_t eval_ns = c->hb_ns * PREF_EVAL_HEARTBEATS;
    int changed = 0;
    for (size_t i = 0; i < ch->npg;) {
        if (ch->pg[i].members == 0 && ch->pg[i].region_members == 0)
            pg_remove_at(ch, i); /* nobody left: decided afresh at its next JOIN */
        else
            i++;
    }
    for (size_t i = 0; i < ch->npg; i++) {
        ctl_pgroup *p = &ch->pg[i];
        if (p->host == p->group) {
            /* A region (with its guests, if any): folded once weak long enough. */
            if (region_capable(c, ch, p) || p->members == 0) {
                p->since_ns = 0;
                continue;
            }
            if (!p->since_ns)
                p->since_ns = now ? now : 1;
            if (elapsed(now, p->since_ns) + 1 < eval_ns * POLICY_FOLD_EVALS)
                continue;
            uint64_t h = nearest_host(c, ch, p->group);
            if (!h)
                continue;
            for (size_t j = 0; j < ch->npg; j++)
                if (ch->pg[j].host == p->group)
                    ch->pg[j].host = h; /* its guests and itself */
            p->since_ns = 0;
            c->policy_folds++;
            changed = 1;
            continue;
        }
        ctl_pgroup *h = pg_find(ch, p->host);
        if (!h || !can_host(c, ch, h)) {
            /* Its host is gone or weak itself: the nearest other, or its own. */
            uint64_t nh = nearest_host(c, ch, p->group);
            p->host = nh ? nh : p->group;
            p->since_ns = 0;
            changed = 1;
            continue;
        }
        if (!capable(c, ch, p->members, p->upload, p->upload_max, 125)) {
            p->since_ns = 0;
            continue;
        }
        if (!p->since_ns)
            p->since_ns = now ? now : 1;
        if (elapsed(now, p->since_ns) + 1 >= eval_ns * POLICY_UNFOLD_EVALS) {
            p->host = p->group; /* capable long enough: its own region again */
            p->since_ns = 0;
            c->policy_unfolds++;
            changed = 1;
        }
    }
    return changed;
}

/* Moves every member of ch not in its group's region there (a leave and
 * a join, ctl_rejoin_region), in chunks: the table changes under a move. */
static void apply(strata_control *c, ctl_channel *ch, uint64_t now)
{
    uint64_t keys[POLICY_MOVE_CHUNK];
    size_t n;
    size_t guard = c->nodes.count + 1; /* every member moves at most once a pass */
    do {
        n = 0;
        for (size_t i = 0; i < c->nodes.count && n < POLICY_MOVE_CHUNK; i++) {
            const ctl_node *rec = c->nodes.items[i];
            if (rec->ch != ch || !in_trees(rec) || !rec->group || rec->restoring ||
                rec->role == STRATA_ROLE_WAYPOINT)
                continue;
            const ctl_pgroup *p = pg_find(ch, rec->group);
            if (!p)
                continue;
            strata_dcm *want = own_region(c, ch, p->host);
            if (!want || want != ctl_region_dcm(c, rec))
                keys[n++] = c->nodes.keys[i];
        }
        for (size_t i = 0; i < n; i++) {
            ctl_node *rec = ctl_ptab_get(&c->nodes, keys[i]);
            if (!rec)
                continue;
            const ctl_pgroup *p = pg_find(ch, rec->group);
            char label[CONTROL_REGION_BUF];
            size_t len = p ? group_label(p->host, label) : 0;
            if (len && ctl_rejoin_region(c, rec, label, len, now) == 0)
                c->policy_moves++;
        }
        guard = guard > n ? guard - n : 0;
    } while (n == POLICY_MOVE_CHUNK && guard > 0);
}

void ctl_policy_evaluate(strata_control *c, uint64_t now)
{
    if (!policy_on(c))
        return;
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->source_live)
            continue; /* the rate decides who is weak; and a channel with a live source
                         stays while its members move */
        tally(c, ch);
        if (decide(c, ch, now))
            tally(c, ch);
        apply(c, ch, now);
    }
}

uint64_t ctl_policy_host_of(const strata_control *c, const ctl_node *rec)
{
    if (!rec->group)
        return 0;
    ctl_pgroup *p = pg_find(rec->ch, rec->group);
    (void)c;
    return p ? p->host : rec->group;
}

/* Restoring folds: reports sorted by cluster, then group. */
static int placed_cmp(const void *a, const void *b)
{
    const ctl_placed *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->dcm != y->dcm)
        return x->dcm < y->dcm ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

/* The group with the most members in run r[0..n-1] of one cluster (ties:
 * the lowest id). */
static uint64_t majority(const ctl_placed *r, size_t n)
{
    uint64_t best = 0;
    size_t best_n = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && r[j].group == r[i].group)
            j++;
        if (j - i > best_n) {
            best = r[i].group;
            best_n = j - i;
        }
        i = j;
    }
    return best;
}

void ctl_policy_restore(strata_control *c, ctl_channel *ch, ctl_placed *r, size_t n)
{
    if (!c->policy || n == 0)
        return;
    qsort(r, n, sizeof *r, placed_cmp);
    /* Two passes: a group that is the majority of some cluster has a
     * region of its own; the others found in a cluster are its guests. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && r[j].level == r[i].level && r[j].dcm == r[i].dcm)
                j++;
            uint64_t host = majority(&r[i], j - i);
            for (size_t q = i; q < j; q++) {
                uint64_t g = r[q].group;
                ctl_pgroup *p = pg_find(ch, g);
                if (pass == 0 && g == host && !p)
                    pg_add(c, ch, g);
                if (pass == 1 && g != host && !p && (p = pg_add(c, ch, g)) != NULL)
                    p->host = host;
            }
            i = j;
        }
    }
}

void ctl_policy_label(ctl_channel *ch, const char **region, size_t *region_len, char *buf)
{
    const ctl_pgroup *p = pg_find(ch, ctl_label_group(*region, *region_len));
    if (p && p->host != p->group) {
        *region_len = group_label(p->host, buf);
        *region = buf;
    }
}

size_t ctl_policy_folded(const strata_control *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->channels.count; i++) {
        const ctl_channel *ch = c->channels.items[i];
        for (size_t j = 0; j < ch->npg; j++)
            n += ch->pg[j].host != ch->pg[j].group && ch->pg[j].members > 0;
    }
    return n;
}
