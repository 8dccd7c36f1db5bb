/*
 * Regions and the backbone (docs/design.md). A channel's second region
 * starts its backbone, a DCM without a region whose root is the source and
 * whose members are the regions' heads; each head feeds its region's root
 * children in the source's place. Regions without a capable member are fed
 * by the source directly, with a share of its upload.
 *
 */
#include "control_int.h"

/* The head feeding tree s of regional DCM d, or NULL (the source does). */
ctl_node *ctl_sub_head(strata_control *c, strata_dcm *d, uint8_t s)
{
    strata_node_id id = strata_dcm_substream_root(d, s).node;
    ctl_node *rec = id.v ? ctl_member_get(c, id, strata_dcm_channel(d)) : NULL;
    return rec && rec->roots == d && ((rec->root_subs >> s) & 1u) ? rec : NULL;
}

/* 1 when h roots tree s of d, a cluster of another region (levels = ec). */
static int feeds_away(const ctl_node *h, const strata_dcm *d, uint8_t s)
{
    for (uint8_t i = 0; i < h->naway; i++)
        if (h->away[i].d == d && h->away[i].tree == s)
            return 1;
    return 0;
}

/* Whoever feeds tree s of d in the source's place: one of its region's
 * heads, or (levels ec and 3) another region's, or (d a common cluster) a
 * member of its relay cluster; NULL when the source does. */
ctl_node *ctl_tree_feeder(strata_control *c, strata_dcm *d, uint8_t s)
{
    strata_node_id id = strata_dcm_substream_root(d, s).node;
    ctl_node *rec = id.v ? ctl_member_get(c, id, strata_dcm_channel(d)) : NULL;
    if (!rec)
        return NULL;
    if (rec->roots == d && ((rec->root_subs >> s) & 1u))
        return rec;
    if (rec->feeds == d && ((rec->feed_subs >> s) & 1u))
        return rec;
    return feeds_away(rec, d, s) ? rec : NULL;
}

/* 1 when heads feed d (all its trees or, for a moment, some). */
int ctl_has_heads(strata_control *c, strata_dcm *d)
{
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++)
        if (ctl_tree_feeder(c, d, s))
            return 1;
    return 0;
}

/* Head h stops feeding other regions' trees; they go back to the source
 * until ctl_ec_assign_channel finds them other heads. */
void ctl_drop_away(ctl_node *h)
{
    for (uint8_t i = 0; i < h->naway; i++) {
        strata_dcm *d = h->away[i].d;
        /* By id: a node that left is no longer in the table. */
        if (strata_dcm_substream_root(d, h->away[i].tree).node.v == h->id.v)
            strata_dcm_set_substream_root(d, h->away[i].tree, (strata_peer_ref){{0}, {0, 0}});
    }
    h->naway = 0;
}

/* DCM d goes: no head may keep feeding its trees. */
void ctl_forget_away_into(strata_control *c, const strata_dcm *d)
{
    if (!ec_levels(c))
        return;
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *h = c->nodes.items[i];
        for (uint8_t j = 0; j < h->naway;) {
            if (h->away[j].d == d)
                h->away[j] = h->away[--h->naway];
            else
                j++;
        }
    }
}

/* The trees head h feeds: its region's and other regions' (and, with
 * levels 3, its region's common cluster's). */
static unsigned fed_trees(const ctl_node *h)
{
    return popcount32(h->root_subs) + h->naway + popcount32(h->feed_subs);
}

/* What a head keeps for the region trees it feeds: half its upload, but
 * at least 5/4 of the rate (room for one child per substream); the rest is
 * its upload in the backbone. */
uint32_t ctl_head_region_kbps(uint32_t upload_kbps, uint32_t rate_kbps)
{
    uint64_t need = (uint64_t)rate_kbps * 5 / 4, half = upload_kbps / 2;
    uint64_t r = half > need ? half : need;
    return r < upload_kbps ? (uint32_t)r : upload_kbps;
}

/* The least upload (this channel's share) a head needs: the stream rate.
 * It then keeps all of it for its region's trees; in the backbone it is a
 * leaf of the trees, in a mesh a leaf fed by a member with room to spare
 * (dcm.c, "Leaves"). The evaluations prefer the stronger (preferred.h). */
uint32_t ctl_head_min_kbps(const ctl_channel *ch)
{
    return ch->rate_kbps;
}
uint32_t ctl_head_min_in(const strata_control *c, const ctl_channel *ch, const strata_dcm *d)
{
    return ctl_cluster_kbps(c, d, ctl_head_min_kbps(ch), ch->rate_kbps);
}

/* What the source gives a region it feeds itself while the backbone runs
 * (0 = unlimited). */
static uint32_t source_region_kbps(const ctl_channel *ch)
{
    if (ch->source_upload_kbps == 0)
        return 0;
    uint64_t need = (uint64_t)ch->rate_kbps * 5 / 4;
    return need < ch->source_upload_kbps ? (uint32_t)need : ch->source_upload_kbps;
}

/* The root budget of a region fed by heads: the trees share the root
 * slots evenly (tree.h), so the budget is the trees (k, or k + n) times
 * what the most loaded head can give one tree. */
static uint32_t headed_region_kbps(strata_control *c, strata_dcm *d, uint32_t rate_kbps)
{
    uint64_t per_tree = UINT64_MAX;
    uint8_t trees = strata_dcm_trees(d);
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *h = ctl_tree_feeder(c, d, s);
        if (!h)
            continue;
        uint64_t v = ctl_head_region_kbps(h->upload_kbps, rate_kbps) / fed_trees(h);
        if (v < per_tree)
            per_tree = v;
    }
    if (per_tree == UINT64_MAX)
        return 0;
    uint64_t total = per_tree * trees;
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

/* What the source's trees need of it for region d (or the backbone) to
 * leave no pair detached, but never less than 5/4 of the rate. */
static uint64_t source_need_kbps(const ctl_channel *ch, strata_dcm *d)
{
    uint64_t need = strata_dcm_source_need_kbps(d), share = source_region_kbps(ch);
    return need > share ? need : share;
}

/* What the backbone needs of the source: nothing while it has no member
 * (no region has a head yet, as when no node is strong enough). */
static uint64_t backbone_need_kbps(const ctl_channel *ch)
{
    return ch->backbone && strata_dcm_count(ch->backbone) ? source_need_kbps(ch, ch->backbone) : 0;
}

/* The sum of what the directly fed regions and the backbone need of the
 * source (source_need_kbps); with it direct_region_kbps shares the
 * source's upload out. */
static uint64_t source_needs_kbps(strata_control *c, const ctl_channel *ch)
{
    uint64_t sum = backbone_need_kbps(ch);
    for (size_t i = 0; i < ch->ndcms; i++) {
        strata_dcm *d = ch->dcms[i], *cm = ctl_common_of(c, d);
        if (!ctl_has_heads(c, d) && (strata_dcm_count(d) > 0 || !cm))
            sum += source_need_kbps(ch, d);
        if (cm && !ctl_has_heads(c, cm))
            sum += source_need_kbps(ch, cm);
    }
    return sum;
}

/* What the source gives region d, which it feeds itself while the
 * backbone runs: what d's trees need to leave no pair detached (at least
 * 5/4 of the rate: a small region of members with little upload needs the
 * source in most of its trees); when the needs of the directly fed regions
 * and the backbone (needs) exceed the source's upload, the backbone's need
 * is met first and the directly fed regions share what it leaves by need;
 * never below 5/4 of the rate. A backbone pair left without a parent is a
 * head's, and the head's region tree hangs under it, cut off from the
 * source without counting as detached. */
static uint32_t direct_region_kbps(const ctl_channel *ch, strata_dcm *d, uint64_t needs)
{
    uint32_t share = source_region_kbps(ch);
    if (ch->source_upload_kbps == 0)
        return share; /* unlimited */
    uint64_t want = source_need_kbps(ch, d);
    if (needs > ch->source_upload_kbps) {
        /* Over the source's upload: shares of what the backbone leaves, by
         * need, without the floor (a floor for each of many regions would
         * promise more than the uplink carries, and its queue would then
         * drop packets of every tree, the backbone's too). */
        uint64_t bb = backbone_need_kbps(ch);
        uint64_t left = ch->source_upload_kbps > bb ? ch->source_upload_kbps - bb : 0;
        want = want * left / (needs - bb); /* needs - bb >= d's need > 0 */
        return (uint32_t)(want > UINT32_MAX ? UINT32_MAX : want);
    }
    return want > share ? (uint32_t)(want > UINT32_MAX ? UINT32_MAX : want) : share;
}

/* Trees of d whose root the source holds itself (nobody feeds them in
 * its place); none for an empty cluster, which takes nothing. */
static unsigned source_fed_trees_of(strata_control *c, strata_dcm *d)
{
    unsigned n = 0;
    for (uint8_t s = 0; strata_dcm_count(d) && s < strata_dcm_trees(d); s++)
        if (!ctl_tree_feeder(c, d, s))
            n++;
    return n;
}

/* The most cluster d may take of the source (0 = no bound) in a channel
 * of one region (no backbone): its trees' even share of the source's
 * upload among every tree of the channel the source feeds itself, when d
 * has such a tree. A common cluster whose feeders went (a relay member
 * demoted, or gone) has its trees back at the source; under the budget
 * its feeders had earned (or what its weak members need to leave no pair
 * detached) the source was handed four times its upload in a signed run
 * with polluters, and its queue then dropped packets of every tree. With
 * a backbone the regions the source feeds share it by need
 * (direct_region_kbps); a headed region whose trees went back to the
 * source is not bounded there yet (capping it by trees left pairs
 * detached in e2e_test_levels_three, whose source has no real uplink
 * limit). */
static uint32_t source_cap_kbps(strata_control *c, const ctl_channel *ch, strata_dcm *d)
{
    unsigned mine = source_fed_trees_of(c, d);
    if (ch->source_upload_kbps == 0 || mine == 0 || ch->backbone)
        return 0;
    unsigned all = 0;
    for (size_t i = 0; i < ch->ndcms; i++) {
        strata_dcm *cm = ctl_common_of(c, ch->dcms[i]);
        all += source_fed_trees_of(c, ch->dcms[i]) + (cm ? source_fed_trees_of(c, cm) : 0);
    }
    if (all < mine)
        all = mine; /* d is not among the channel's: only its own trees count */
    uint64_t cap = (uint64_t)ch->source_upload_kbps * strata_dcm_trees(d) / all;
    return cap == 0 ? 1 : cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
}

/* The root budget of cluster d fed by preferred nodes or relay members:
 * what they can give (headed_region_kbps); with levels 3 a region's own
 * clusters come first: at least what their trees need to leave no pair
 * detached, even if the feeders then carry more than their share
 * (shed_away gives other regions' trees back), and a relay cluster aims at
 * a few root children a tree (see control_three.c). */
uint32_t ctl_headed_budget_kbps(strata_control *c, const ctl_channel *ch, strata_dcm *d)
{
    uint32_t budget = headed_region_kbps(c, d, ch->rate_kbps);
    if (!ec_levels(c))
        return budget;
    uint32_t need = strata_dcm_source_need_kbps(d);
    if (ctl_is_relay_cluster(c, d)) {
        uint32_t aim = strata_dcm_root_links_kbps(d, RELAY_ROOT_LINKS);
        if (budget > aim)
            budget = aim;
    }
    if (budget < need)
        budget = need;
    uint32_t cap = source_cap_kbps(c, ch, d);
    return cap && budget > cap ? cap : budget;
}

/* The root budget of cluster d (a region's, or its common cluster): what
 * its feeders can give when it has any, else its share of the source's
 * upload (needs: source_needs_kbps, with a backbone). */
static uint32_t cluster_budget_kbps(strata_control *c, ctl_channel *ch, strata_dcm *d,
                                    uint64_t needs)
{
    if (ctl_has_heads(c, d))
        return ctl_headed_budget_kbps(c, ch, d);
    if (ch->backbone)
        return direct_region_kbps(ch, d, needs);
    uint32_t cap = source_cap_kbps(c, ch, d);
    return cap ? cap : ch->source_upload_kbps;
}

/* The budget cluster d restores under: the one above, with room for the
 * root children (links a tree at most) that its members report. Under a
 * smaller one the edges that do not fit would move, and the budget's next
 * change would rebuild the trees at another share of the uploads. */
uint32_t ctl_restore_budget_kbps(strata_control *c, ctl_channel *ch, strata_dcm *d, unsigned links)
{
    uint32_t budget = cluster_budget_kbps(c, ch, d, ch->backbone ? source_needs_kbps(c, ch) : 0);
    uint32_t had = strata_dcm_root_links_kbps(d, links);
    return budget != 0 && had > budget ? had : budget; /* 0: unlimited */
}

/* Tells cluster d its source and root budget (see ctl_push_roots); returns
 * what of the source's upload it takes. */
static uint64_t push_cluster_roots(strata_control *c, ctl_channel *ch, strata_dcm *d,
                                   uint64_t needs, uint64_t now)
{
    int headed = ctl_has_heads(c, d);
    uint32_t budget = cluster_budget_kbps(c, ch, d, needs);
    if (c->keep_root_links && budget != 0 && strata_dcm_source_budget_kbps(d) > budget)
        budget = strata_dcm_source_budget_kbps(d); /* as restored: the next change resizes it */
    /* An empty relay cluster above a common one takes nothing. */
    uint64_t used = headed || strata_dcm_count(d) == 0 ? 0 : budget;
    int err = strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, budget);
    if (!err && ch->backbone && !headed) {
        /* The rebuild may have changed the share of uploads the trees use,
         * and with it what they need: once more, settled. */
        uint32_t again = direct_region_kbps(ch, d, needs);
        if (again > budget) {
            used += again - budget;
            err = strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, again);
        }
    }
    if (err && ctl_log_allowed(c, STRATA_LOG_ERROR, now))
        strata_logf(c->log, STRATA_LOG_ERROR, "control: dcm %u: source update failed: %s",
                    (unsigned)strata_dcm_id_of(d).v, strata_strerror(err));
    return used;
}

/* Tells every DCM of the channel its source and root budget. Without a
 * backbone each region gets the source's whole upload, as the source
 * feeds every region. With one, a region fed by heads gets what its heads
 * can give; the source's upload is split between the backbone and the
 * regions it still feeds itself by what their trees need
 * (direct_region_kbps; the backbone keeps what those leave, but never
 * less than 5/4 of the rate). */
void ctl_push_roots(strata_control *c, ctl_channel *ch, uint64_t now)
{
    /* The trees that moved may be other regions' than those the caller
     * flushes: they are flushed at the end. */
    int moved = ctl_ec_assign_channel(c, ch);
    moved |= ctl_common_assign_channel(c, ch);
    if (!ch->source.v) {
        if (moved)
            ctl_flush_channel(c, ch, now);
        return; /* DCMs learn the source when it joins */
    }
    uint64_t needs = ch->backbone ? source_needs_kbps(c, ch) : 0;
    uint64_t used = 0;
    for (size_t i = 0; i < ch->ndcms; i++) {
        used += push_cluster_roots(c, ch, ch->dcms[i], needs, now);
        strata_dcm *cm = ctl_common_of(c, ch->dcms[i]);
        if (cm)
            used += push_cluster_roots(c, ch, cm, needs, now);
    }
    if (ch->backbone) {
        uint64_t left = 0;
        if (ch->source_upload_kbps) {
            uint32_t share = source_region_kbps(ch);
            left = used < ch->source_upload_kbps ? ch->source_upload_kbps - used : 0;
            if (left < share)
                left = share;
        }
        int err = strata_dcm_set_source(ch->backbone, ch->source, ch->source_addr, ch->rate_kbps,
                                        (uint32_t)left);
        if (err && ctl_log_allowed(c, STRATA_LOG_ERROR, now))
            strata_logf(c->log, STRATA_LOG_ERROR, "control: backbone: source update failed: %s",
                        strata_strerror(err));
    }
    if (moved)
        ctl_flush_channel(c, ch, now);
}

/* After a join or leave in region d: a directly fed region whose trees
 * now need another budget gets it (ctl_push_roots, which also resizes the
 * backbone's share). */
void ctl_direct_region_changed(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    if (!ch->backbone || d == ch->backbone || !ch->source.v)
        return;
    if (ec_levels(c) && ctl_has_heads(c, d)) {
        /* Its budget follows what its trees need (headed_budget_kbps). */
        uint32_t b = ctl_headed_budget_kbps(c, ch, d);
        if (b != strata_dcm_source_budget_kbps(d))
            strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, b);
        return;
    }
    if (ctl_has_heads(c, d) || ch->source_upload_kbps == 0)
        return;
    if (direct_region_kbps(ch, d, source_needs_kbps(c, ch)) != strata_dcm_source_budget_kbps(d))
        ctl_push_roots(c, ch, now);
}

/* Makes member id of regional DCM d a head: it leaves d's trees for the
 * backbone's. Returns it, or NULL (no memory: it stays a member). */
ctl_node *ctl_make_head(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_node_id id,
                        uint64_t now)
{
    ctl_node *h = ctl_member_get(c, id, ch->id);
    if (!h)
        return NULL;
    uint32_t backbone_kbps = h->upload_kbps - ctl_head_region_kbps(h->upload_kbps, ch->rate_kbps);
    /* Its credit goes with it: the mesh keeps it, its root children's
     * stalls cut it there, and it comes back with it (unmake_head). */
    strata_dcm_trust t;
    const strata_dcm_trust *tp = strata_dcm_trust_of(d, h->id, &t) == 0 ? &t : NULL;
    if (strata_dcm_add_trusted(ch->backbone, h->id, h->host->addr, backbone_kbps,
                               strata_dcm_id_of(d).v, tp))
        return NULL;
    if (!strata_dcm_fed(ch->backbone, h->id)) {
        /* A mesh without room for it: it would head a region and receive
         * nothing. */
        strata_dcm_remove(ch->backbone, h->id);
        return NULL;
    }
    strata_dcm_remove(d, h->id);
    h->dcm = ch->backbone;
    h->roots = d;
    h->root_subs = 0;
    h->preferred_since_ns = now ? now : 1;
    c->promotions++;
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx heads in dcm %u",
                    (unsigned long long)h->id.v, (unsigned)strata_dcm_id_of(d).v);
    return h;
}

/* Region d's own heads (those feeding its trees in the source's place),
 * each once: up to cap of them into out (may be NULL); returns how many
 * there are. */
size_t ctl_region_heads(strata_control *c, strata_dcm *d, ctl_node **out, size_t cap)
{
    size_t n = 0;
    uint32_t seen = 0;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        ctl_node *h = ctl_sub_head(c, d, s);
        if (!h || (h->root_subs & seen))
            continue;
        seen |= h->root_subs;
        if (out && n < cap)
            out[n] = h;
        n++;
    }
    return n;
}

static unsigned head_count(strata_control *c, strata_dcm *d)
{
    return (unsigned)ctl_region_heads(c, d, NULL, 0);
}

/* Gives regional DCM d (of a channel with a backbone) a head for each of
 * its k trees: its best members with at least the stream rate of upload,
 * up to CONTROL_HEADS_PER_REGION, each head one tree in the order of their
 * upload; with fewer heads than trees the best heads take several, and a
 * newcomer takes a tree over from a head of several while the limit
 * allows. A region without such a member is fed by the source. Returns 1
 * when heads feed d; *moved (may be NULL) is set when a tree got another
 * feeder, so that the budgets need pushing (ctl_push_roots). */
int ctl_region_take_heads(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now,
                          int *moved)
{
    if (moved)
        *moved = 0;
    if (!ch->backbone)
        return 0;
    uint8_t k = strata_dcm_trees(d);
    for (uint8_t s = 0; s < k; s++) {
        ctl_node *h = ctl_sub_head(c, d, s);
        if (h && popcount32(h->root_subs) == 1)
            continue;
        if (!h && ctl_tree_feeder(c, d, s))
            continue; /* another region's preferred node feeds it (ec_assign) */
        strata_node_id id = {0};
        if (head_count(c, d) < c->heads_per_region)
            id = strata_dcm_best_member(d, ctl_head_min_in(c, ch, d));
        ctl_node *nh = id.v ? ctl_make_head(c, ch, d, id, now) : NULL;
        if (!nh) {
            if (h)
                continue; /* keeps its several trees */
            /* The best head there is takes this tree too. */
            for (uint8_t t = 0; t < k; t++) {
                ctl_node *o = ctl_sub_head(c, d, t);
                if (o && (!nh || o->upload_kbps > nh->upload_kbps ||
                          (o->upload_kbps == nh->upload_kbps && o->id.v < nh->id.v)))
                    nh = o;
            }
            if (!nh)
                continue;
        }
        if (h)
            h->root_subs &= ~(1u << s);
        nh->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){nh->id, nh->host->addr});
        if (moved)
            *moved = 1;
    }
    /* Trees whose feeder went and that no head took go back to the source
     * (another region's head may feed the others: ec_assign). */
    for (uint8_t s = 0; s < k; s++)
        if (!ctl_tree_feeder(c, d, s) && strata_dcm_substream_root(d, s).node.v)
            strata_dcm_set_substream_root(d, s, (strata_peer_ref){{0}, {0, 0}});
    return ctl_has_heads(c, d);
}

/* The channel's second region starts its backbone: a DCM without a region
 * whose members are the regions' heads and whose root is the source. */
void ctl_backbone_start(strata_control *c, ctl_channel *ch, uint64_t now)
{
    ch->backbone = ctl_dcm_make(c, ch, DCM_BACKBONE, NULL, 0, (strata_dcm_id){0});
    if (!ch->backbone)
        return; /* no memory: the source keeps feeding every region; tried again at the next join */
    for (size_t i = 0; i < ch->ndcms; i++)
        ctl_region_take_heads(c, ch, ch->dcms[i], now, NULL);
    ctl_push_roots(c, ch, now);
    ctl_flush_channel(c, ch, now);
}

/* Tells whoever holds a ref to membership rec its node's new address. */
static void member_moved(strata_control *c, ctl_node *rec, strata_addr addr, uint64_t now)
{
    if (rec->role == STRATA_ROLE_SOURCE) {
        rec->ch->source_addr = addr;
        ctl_push_roots(c, rec->ch, now);
        return;
    }
    if (rec->restoring)
        return; /* in no tree yet: restored with its host's address */
    strata_dcm_set_addr(rec->dcm, rec->id, addr);
    for (uint8_t s = 0; rec->roots && s < strata_dcm_trees(rec->roots); s++)
        if ((rec->root_subs >> s) & 1u)
            strata_dcm_set_substream_root(rec->roots, s, (strata_peer_ref){rec->id, addr});
    for (uint8_t i = 0; i < rec->naway; i++)
        strata_dcm_set_substream_root(rec->away[i].d, rec->away[i].tree,
                                      (strata_peer_ref){rec->id, addr});
}

/* Records a node's new address (heard from membership rec) and tells the
 * DCMs of every channel it is in. */
void ctl_set_addr(strata_control *c, ctl_node *rec, strata_addr addr, uint64_t now)
{
    ctl_host *h = rec->host;
    if (strata_addr_eq(h->addr, addr))
        return;
    h->addr = addr;
    for (uint8_t i = 0; i < h->n_members; i++)
        member_moved(c, h->members[i], addr, now);
    for (uint8_t i = 0; i < h->n_members; i++)
        if (h->members[i] != rec)
            ctl_flush_node(c, h->members[i], now); /* rec's own caller flushes it */
}

/* The last region of a channel gone and its backbone empty, the backbone
 * goes too, after telling the source it has no roots there. */
void ctl_backbone_maybe_stop(strata_control *c, ctl_channel *ch, uint64_t now)
{
    if (!ch->backbone || ch->ndcms > 0 || strata_dcm_count(ch->backbone) > 0)
        return;
    strata_dcm_mark_dirty(ch->backbone, STRATA_MTREE_SOURCE);
    ctl_flush_dcm(c, ch->backbone, now);
    ctl_dcm_destroy(c, ch->backbone);
}