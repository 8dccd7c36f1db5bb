/*
 * Preferred nodes (levels mesh, ec and 3).
 *
 * With a mesh above the regions, a region's heads are its preferred nodes
 * (SPEC C4, C10). The first capable member of a region heads it at once,
 * as with the backbone (a region must not wait for its first feeder);
 * every PREF_EVAL_HEARTBEATS heartbeat intervals each region's heads and
 * its best members are weighed on their history (preferred.h: declared
 * upload, upload delivered against what their place asks, uptime, stalls
 * caused), empty places are filled and a much better member replaces the
 * weakest head, one at a time, with hysteresis. The region's trees are then
 * spread over its heads. A replaced head goes back to its region's trees
 * in the same batch of instructions as its successor joins the mesh and
 * takes trees: not yet make before break (a root child whose feeder
 * changes repairs what it missed meanwhile; docs/hierarchy.md).
 */
#include "control_int.h"

/* What node rec's place asks of it (kbit/s): a stream per child link per
 * k, in its region's trees or, for a head, in the mesh and the root
 * children it feeds. */
static uint32_t asked_kbps(const ctl_node *rec, const ctl_channel *ch)
{
    /* A mesh member floods to every neighbour but the one each packet came
     * from; counting that one too made every preferred node look a quarter
     * less reliable than a member of its region, which then replaced it as
     * soon as it could, and was replaced in turn (strata_dcm_mesh_expected_links). */
    uint64_t links =
        (strata_dcm_mesh(rec->dcm)
             ? strata_dcm_mesh_expected_links(rec->dcm, rec->id)
             : strata_dcm_child_links(rec->dcm, rec->id, (1u << strata_dcm_trees(rec->dcm)) - 1u)) +
        ctl_root_links(rec);
    uint64_t kbps = links * ch->rate_kbps / strata_dcm_k(rec->dcm);
    return kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
}

/* The upload of membership rec (this channel's share) that the capacity
 * check believes: at most its credit in the DCM it is in (the mesh keeps a
 * preferred node's, carried from its region's trees). */
uint32_t ctl_believed_kbps(const ctl_node *rec)
{
    strata_dcm_trust t;
    if (!rec->dcm || strata_dcm_trust_of(rec->dcm, rec->id, &t) != 0)
        return rec->upload_kbps;
    return rec->upload_kbps < t.credit_kbps ? rec->upload_kbps : t.credit_kbps;
}

/* Preferred node f's credit was cut: when it no longer qualifies as a
 * head, its region is evaluated at once, so that it stops heading now
 * rather than at the next evaluation. */
static void head_cut(strata_control *c, ctl_channel *ch, ctl_node *f, uint64_t now)
{
    if (f->roots && ch->backbone && ch->source.v && ch->rate_kbps &&
        ctl_believed_kbps(f) < ctl_head_min_kbps(ch) && ctl_evaluate_region(c, ch, f->roots, now)) {
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
    }
}

/* Member rec's heartbeat showed that a tree of its stalled under a feeder
 * from another DCM (heard->feeder: a preferred node of its region or of
 * another, a relay member feeding its common cluster): the capacity check
 * judges that feeder where its credit is kept (strata_dcm_feeder_stalled).
 * In the mesh, the neighbours that failed rec were judged already
 * (heard->cut). A preferred node cut below a head's minimum stops heading
 * (head_cut). */
void ctl_judge_feeders(strata_control *c, ctl_node *rec, const strata_dcm_heard *heard,
                       uint64_t now)
{
    ctl_channel *ch = rec->ch;
    for (uint8_t s = 0; s < STRATA_WIRE_MAX_TREES; s++) {
        ctl_node *f = heard->feeder[s].v ? ctl_member_get(c, heard->feeder[s], ch->id) : NULL;
        strata_dcm_heard h;
        if (!f || f->restoring || !f->dcm ||
            strata_dcm_feeder_stalled(f->dcm, f->id, s, heard->feeder_child_seq[s], now, &h))
            continue;
        c->capacity_demotions += h.demoted;
        c->capacity_strikes += h.struck;
        if (h.demoted)
            head_cut(c, ch, f, now);
        if (h.demoted && f->feeds && ch->source.v)
            ctl_push_roots(c, ch, now); /* its common trees go to others (ctl_common_assign) */
    }
    for (uint8_t i = 0; i < heard->n_cut && i < STRATA_DCM_MAX_CUT; i++) {
        ctl_node *f = ctl_member_get(c, heard->cut[i], ch->id);
        if (f && !f->restoring)
            head_cut(c, ch, f, now);
    }
}

static void fill_candidate(const ctl_node *rec, const ctl_channel *ch, uint64_t now,
                           strata_pref_candidate *out)
{
    memset(out, 0, sizeof *out);
    out->node = rec->id;
    /* What it has shown, not what it declares: a newcomer counts with its
     * probation's credit, a preferred node whose root children starved
     * with what is left of its own (no more than it was given with the
     * capacity check off). */
    out->upload_kbps = ctl_believed_kbps(rec);
    out->expected_kbps = asked_kbps(rec, ch);
    out->delivered_kbps = rec->delivered_kbps;
    out->uptime_ns = elapsed(now, rec->joined_ns);
    /* An operator's waypoint (control_waypoints.c) is placed because its
     * region lacks capable members: it serves at once, without probation. */
    if (rec->role == STRATA_ROLE_WAYPOINT && out->uptime_ns < STRATA_MS(STRATA_PREF_DEFAULT_PROBATION_MS))
        out->uptime_ns = STRATA_MS(STRATA_PREF_DEFAULT_PROBATION_MS);
    out->stalls = rec->stalls;
    out->preferred = rec->roots != NULL;
    out->held_ns = rec->roots ? elapsed(now, rec->preferred_since_ns) : 0;
}

/* Head h goes back to its region's trees; the trees it fed go to the
 * region's other heads, or to the source. Returns 0 or an error (it stays
 * a head). */
static int unmake_head(strata_control *c, ctl_channel *ch, ctl_node *h, uint64_t now)
{
    strata_dcm *d = h->roots;
    /* With the credit the mesh kept (a liar struck as a preferred node is
     * no newcomer to its region's trees). */
    if (ctl_dcm_move_member(ch->backbone, d, h,
                            ctl_cluster_kbps(c, d, h->upload_kbps, ch->rate_kbps)))
        return STRATA_ERR_NOMEM;
    h->dcm = d;
    h->roots = NULL;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++)
        if ((h->root_subs >> s) & 1u)
            strata_dcm_set_substream_root(d, s, (strata_peer_ref){{0}, {0, 0}});
    h->root_subs = 0;
    ctl_drop_away(h);
    c->demotions++;
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx no longer heads dcm %u",
                    (unsigned long long)h->id.v, (unsigned)strata_dcm_id_of(d).v);
    return 0;
}

/* Spreads d's k trees over its heads: a tree keeps its head unless that
 * head has more than its share (ceil(k / heads)) while another has less
 * than its floor; trees without a head go to the head with the fewest. */
static void spread_trees(strata_control *c, strata_dcm *d, ctl_node **heads, size_t n)
{
    uint8_t k = strata_dcm_trees(d);
    if (n == 0)
        return;
    unsigned hi = (unsigned)((k + n - 1) / n), lo = (unsigned)(k / n);
    for (uint8_t s = 0; s < k; s++) {
        ctl_node *h = ctl_sub_head(c, d, s);
        if (!h && ctl_tree_feeder(c, d, s))
            continue; /* another region's preferred node feeds it (ec_assign) */
        size_t least = 0;
        for (size_t i = 1; i < n; i++)
            if (popcount32(heads[i]->root_subs) < popcount32(heads[least]->root_subs))
                least = i;
        if (h && (popcount32(h->root_subs) <= hi && popcount32(heads[least]->root_subs) >= lo))
            continue;
        if (h && popcount32(h->root_subs) <= popcount32(heads[least]->root_subs) + 1u)
            continue;
        ctl_node *to = heads[least];
        if (h)
            h->root_subs &= ~(1u << s);
        to->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){to->id, to->host->addr});
    }
}

/* levels = ec: a tree for a region's head that has none (one just
 * promoted, while other regions' heads feed the rest): one that another
 * region's head feeds, data trees first, else one of a head of several.
 * Returns the tree, or -1 when every tree has a head of its region alone. */
static int claim_tree(strata_control *c, strata_dcm *d)
{
    uint8_t trees = strata_dcm_trees(d);
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *f = ctl_tree_feeder(c, d, s);
        if (!f || f->roots == d)
            continue;
        for (uint8_t i = 0; i < f->naway; i++)
            if (f->away[i].d == d && f->away[i].tree == s) {
                f->away[i] = f->away[--f->naway];
                break;
            }
        strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
        return s;
    }
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *f = ctl_sub_head(c, d, s);
        if (f && popcount32(f->root_subs) > 1) {
            f->root_subs &= ~(1u << s);
            strata_dcm_mark_dirty(f->dcm, f->id);
            return s;
        }
    }
    return -1;
}

/* Every head of d feeds a tree of its region: a head without one is
 * invisible to the evaluations (they find heads by the trees) and would
 * stay one for good while others are promoted beside it. One that no tree
 * can be found for goes back to the region's trees. */
static void heads_take_trees(strata_control *c, ctl_channel *ch, strata_dcm *d, ctl_node **heads,
                             size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        ctl_node *h = heads[i];
        if (h->root_subs || !h->roots)
            continue;
        int s = ec_levels(c) ? claim_tree(c, d) : -1;
        if (s < 0) {
            unmake_head(c, ch, h, now);
            continue;
        }
        h->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, (uint8_t)s, (strata_peer_ref){h->id, h->host->addr});
    }
}

/* Heads the mesh no longer feeds (their feeder left and no member has room
 * for them) go back to their regions' trees, whose trees get other heads
 * or the source. Returns 1 when one went. */
int ctl_drop_unfed_heads(strata_control *c, ctl_channel *ch, uint64_t now)
{
    strata_node_id unfed[PREF_MAX_HEADS];
    size_t n;
    int any = 0;
    while (ch->backbone && (n = strata_dcm_unfed(ch->backbone, unfed, PREF_MAX_HEADS)) > 0) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            ctl_node *h = ctl_member_get(c, unfed[i], ch->id);
            strata_dcm *d = h ? h->roots : NULL;
            if (!d || unmake_head(c, ch, h, now) != 0)
                continue;
            ctl_region_take_heads(c, ch, d, now, NULL);
            done++;
        }
        any |= done > 0;
        if (done < n)
            break; /* no memory, or not a head: try again at the next change */
    }
    return any;
}

/* One region's evaluation; returns 1 when its heads changed. */
static int evaluate_region(strata_control *c, ctl_channel *ch, strata_dcm *d,
                           const strata_pref_config *pc, uint64_t now)
{
    ctl_node *recs[PREF_MAX_HEADS + PREF_CANDIDATES];
    strata_pref_candidate cand[PREF_MAX_HEADS + PREF_CANDIDATES];
    uint8_t want[PREF_MAX_HEADS + PREF_CANDIDATES];
    size_t n = ctl_region_heads(c, d, recs, PREF_MAX_HEADS);
    if (n > PREF_MAX_HEADS)
        n = PREF_MAX_HEADS;
    strata_node_id top[PREF_CANDIDATES];
    size_t nt = strata_dcm_top_members(d, ctl_head_min_in(c, ch, d), top, PREF_CANDIDATES);
    for (size_t i = 0; i < nt; i++) {
        ctl_node *m = ctl_member_get(c, top[i], ch->id);
        if (m && !m->restoring)
            recs[n++] = m;
    }
    for (size_t i = 0; i < n; i++)
        fill_candidate(recs[i], ch, now, &cand[i]);
    int changes = strata_pref_choose(cand, n, pc, want);
    if (changes <= 0)
        return 0;
    /* Promotions first: a region never goes without a head. */
    ctl_node *heads[PREF_MAX_HEADS];
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        if (!want[i] || cand[i].preferred)
            continue;
        if (ctl_make_head(c, ch, d, recs[i]->id, now))
            cand[i].preferred = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (cand[i].preferred && !want[i] && unmake_head(c, ch, recs[i], now) == 0)
            cand[i].preferred = 0;
        if (cand[i].preferred && nh < PREF_MAX_HEADS)
            heads[nh++] = recs[i];
    }
    spread_trees(c, d, heads, nh);
    heads_take_trees(c, ch, d, heads, nh, now);
    return 1;
}

static strata_pref_config pref_config(const strata_control *c, const ctl_channel *ch)
{
    strata_pref_config pc = {
        .rate_kbps = ch->rate_kbps,
        .min_upload_kbps = ctl_head_min_kbps(ch),
        .per_region = c->heads_per_region,
        .probation_ns = STRATA_MS(STRATA_PREF_DEFAULT_PROBATION_MS),
        .hysteresis_pct = STRATA_PREF_DEFAULT_HYSTERESIS_PCT,
        .min_hold_ns = STRATA_MS(STRATA_PREF_DEFAULT_MIN_HOLD_MS),
    };
    return pc;
}

/* One region at once, outside the periodic evaluations (a waypoint just
 * placed there). Returns 1 when its heads changed; the caller pushes the
 * roots and flushes. */
int ctl_evaluate_region(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    if (!ch->backbone || !ch->source.v || !ch->rate_kbps)
        return 0;
    strata_pref_config pc = pref_config(c, ch);
    return evaluate_region(c, ch, d, &pc, now) | ctl_relays_top_up(c, ch, d, now);
}

/* Every region of every channel with a mesh, every PREF_EVAL_HEARTBEATS
 * heartbeat intervals. */
void ctl_evaluate_preferred(strata_control *c, uint64_t now)
{
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->backbone || !ch->source.v)
            continue;
        strata_pref_config pc = pref_config(c, ch);
        int changed = 0;
        for (size_t j = 0; j < ch->ndcms; j++) {
            changed |= evaluate_region(c, ch, ch->dcms[j], &pc, now);
            changed |= ctl_relays_top_up(c, ch, ch->dcms[j], now);
        }
        changed |= ctl_drop_unfed_heads(c, ch, now);
        /* --top auto: a tree inside the mesh while it has been stable. */
        changed |= strata_dcm_mesh_choose(ch->backbone, now);
        /* Stalls count for the last few evaluations, not for good. */
        for (size_t j = 0; j < c->nodes.count; j++) {
            ctl_node *rec = c->nodes.items[j];
            if (rec->ch == ch)
                rec->stalls /= 2;
        }
        if (changed) {
            ctl_push_roots(c, ch, now);
            ctl_flush_channel(c, ch, now);
        }
    }
}