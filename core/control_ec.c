/*
 * Levels ec and 3: a cluster's trees at distinct preferred nodes.
 *
 * Each of a region's k + n trees is rooted at another preferred node, so
 * that any c - 1 of them lost cost the cluster at most c - 1 trees, which
 * its n >= c - 1 parity trees make up (docs/hierarchy.md). The region's
 * own heads keep one tree each, the lowest (data trees first); the other
 * trees go to other regions' heads with room for the tree's root children,
 * the one with the most upload left first (nearest first once group
 * distances reach the control center); a head whose root children came to
 * take more than its share gives one back. Without enough heads a region's own share trees
 * (spread_trees) or the source feeds them; a region with no capable member of its own is fed by
 * other regions' heads alone.
 */
#include "control_int.h"

/* The root children head h feeds in the source's place: in the trees of
 * its region it roots and in other regions' (levels = ec). */
uint64_t ctl_root_links(const ctl_node *h)
{
    uint64_t links = 0;
    if (h->roots)
        links += strata_dcm_child_links(h->roots, STRATA_MTREE_SOURCE, h->root_subs);
    for (uint8_t i = 0; i < h->naway; i++)
        links += strata_dcm_child_links(h->away[i].d, STRATA_MTREE_SOURCE, 1u << h->away[i].tree);
    if (h->feeds)
        links += strata_dcm_child_links(h->feeds, STRATA_MTREE_SOURCE, h->feed_subs);
    return links;
}

/* What the root children of tree s of d take of their feeder (kbit/s): a
 * k-th of the rate each. */
uint64_t ctl_tree_root_kbps(const strata_dcm *d, uint8_t s, uint32_t rate_kbps)
{
    return strata_dcm_child_links(d, STRATA_MTREE_SOURCE, 1u << s) * rate_kbps / strata_dcm_k(d);
}

/* What head h's root children take now, in its region's trees and others'.
 * The trees' root budgets split each feeder's upload evenly, but a tree
 * with no interior member takes more than its even share (tree.h, "Source
 * shares"): the actual load, not the promise, says whether a head can
 * take another tree. */
static uint64_t root_load_kbps(const ctl_node *h, uint32_t rate_kbps)
{
    return ctl_root_links(h) * rate_kbps / strata_dcm_k(h->dcm);
}

/* What head h has left for root children (kbit/s; negative: overloaded). */
int64_t ctl_away_room(const ctl_node *h, uint32_t rate_kbps)
{
    return (int64_t)ctl_head_region_kbps(h->upload_kbps, rate_kbps) -
           (int64_t)root_load_kbps(h, rate_kbps);
}

/* The best head of cands[0..n-1] for tree s of d: not of d's region, not
 * feeding d already, with room for the tree's root children (one at
 * least) left; the most room first; NULL if none. */
static ctl_node *away_candidate(ctl_node **cands, size_t n, const strata_dcm *d, uint8_t s,
                                uint32_t rate_kbps)
{
    ctl_node *best = NULL;
    int64_t best_room = 0;
    uint64_t need = ctl_tree_root_kbps(d, s, rate_kbps);
    uint64_t one = rate_kbps / strata_dcm_k(d);
    if (need < one)
        need = one;
    for (size_t i = 0; i < n; i++) {
        ctl_node *h = cands[i];
        if (h->roots == d || h->naway >= CONTROL_MAX_AWAY_TREES)
            continue;
        int already = 0;
        for (uint8_t j = 0; j < h->naway && !already; j++)
            already = h->away[j].d == d;
        if (already)
            continue;
        int64_t room = ctl_away_room(h, rate_kbps);
        if (room < (int64_t)need)
            continue;
        if (!best || room > best_room || (room == best_room && h->id.v < best->id.v)) {
            best = h;
            best_room = room;
        }
    }
    return best;
}

/* A head whose root children take more than its share of upload (a
 * quarter over: the trees' budgets settle after each change) gives back
 * the other region's tree that takes the most; 1 when it gave one. */
static int shed_away(ctl_node *h, uint32_t rate_kbps)
{
    uint64_t cap = ctl_head_region_kbps(h->upload_kbps, rate_kbps);
    if (h->naway == 0 || root_load_kbps(h, rate_kbps) <= cap + cap / 4)
        return 0;
    uint8_t worst = 0;
    uint64_t worst_kbps = 0;
    for (uint8_t i = 0; i < h->naway; i++) {
        uint64_t v = ctl_tree_root_kbps(h->away[i].d, h->away[i].tree, rate_kbps);
        if (v > worst_kbps) {
            worst = i;
            worst_kbps = v;
        }
    }
    strata_dcm *d = h->away[worst].d;
    uint8_t t = h->away[worst].tree;
    if (strata_dcm_substream_root(d, t).node.v == h->id.v)
        strata_dcm_set_substream_root(d, t, (strata_peer_ref){{0}, {0, 0}});
    h->away[worst] = h->away[--h->naway];
    strata_dcm_mark_dirty(h->dcm, h->id); /* it stops sending that tree */
    return 1;
}

/* Gives d's trees without a feeder of their own, and the extra trees of
 * its heads of several, to other regions' heads. */
static int ec_assign(strata_control *c, ctl_channel *ch, strata_dcm *d, ctl_node **cands, size_t n)
{
    int changed = 0;
    for (int s = strata_dcm_trees(d) - 1; s >= 0; s--) {
        ctl_node *f = ctl_tree_feeder(c, d, (uint8_t)s);
        int shared = f && f->roots == d && popcount32(f->root_subs) > 1;
        if (f && !shared)
            continue;
        ctl_node *g = away_candidate(cands, n, d, (uint8_t)s, ch->rate_kbps);
        if (!g)
            return changed; /* everyone is full, or every head is d's */
        if (shared) {
            f->root_subs &= ~(1u << s);
            strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
        }
        g->away[g->naway++] = (struct ctl_away){d, (uint8_t)s};
        strata_dcm_set_substream_root(d, (uint8_t)s, (strata_peer_ref){g->id, g->host->addr});
        changed = 1;
    }
    return changed;
}

/* ec_assign for every region of ch that needs it; 1 when a tree moved. */
int ctl_ec_assign_channel(strata_control *c, ctl_channel *ch)
{
    if (!ec_levels(c) || !ch->backbone)
        return 0;
    /* The candidates are the heads, all of them members of the backbone:
     * walking it rather than every membership keeps a join's cost from
     * growing with the node count. Their order does not matter: the best
     * is chosen by room, then id. */
    size_t n = 0;
    for (size_t i = 0; i < strata_dcm_count(ch->backbone); i++) {
        ctl_node *h = ctl_member_get(c, strata_dcm_member_at(ch->backbone, i), ch->id);
        if (!h || !h->roots)
            continue;
        if (n == c->away_cap) {
            size_t cap = c->away_cap ? c->away_cap * 2 : 64;
            ctl_node **p = strata_mem_realloc(c->alloc, c->away_cands, cap * sizeof *p);
            if (!p)
                break; /* no memory: fewer candidates this time */
            c->away_cands = p;
            c->away_cap = cap;
        }
        c->away_cands[n++] = h;
    }
    int changed = 0;
    for (size_t i = 0; i < n; i++)
        changed |= shed_away(c->away_cands[i], ch->rate_kbps);
    for (size_t i = 0; i < ch->ndcms && n > 0; i++)
        changed |= ec_assign(c, ch, ch->dcms[i], c->away_cands, n);
    return changed;
}
void ctl_ec_parity_changed(strata_control *c, ctl_channel *ch, strata_dcm *d, uint8_t how,
                           uint64_t now)
{
    uint8_t trees = strata_dcm_trees(d);
    uint32_t in_use = (1u << trees) - 1u;
    /* The DCM dropped the feeders of the trees that stopped; the preferred
     * nodes that fed them stop sending, and every preferred node feeding
     * d holds another n (control_instr.c, head_parity): their
     * instructions say so. */
    for (size_t i = 0; ch->backbone && i < strata_dcm_count(ch->backbone); i++) {
        ctl_node *h = ctl_member_get(c, strata_dcm_member_at(ch->backbone, i), ch->id);
        if (!h)
            continue;
        int feeds = h->roots == d;
        if (feeds)
            h->root_subs &= in_use;
        for (uint8_t j = 0; j < h->naway;) {
            feeds |= h->away[j].d == d;
            if (h->away[j].d == d && h->away[j].tree >= trees)
                h->away[j] = h->away[--h->naway];
            else
                j++;
        }
        if (feeds)
            strata_dcm_mark_dirty(h->dcm, h->id);
    }
    if (how == STRATA_DCM_PARITY_RAISED)
        c->parity_raises++;
    else
        c->parity_lowers++;
    strata_dcm_loss loss;
    strata_dcm_loss_stats(d, &loss);
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now)) {
        size_t len;
        const char *region = strata_dcm_region(d, &len);
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: dcm %u (%.*s): loss %.2f %% over the last window, %u parity trees",
                    (unsigned)strata_dcm_id_of(d).v, (int)len, region, loss.last_ppm / 1e4,
                    (unsigned)strata_dcm_parity(d));
    }
    /* New trees get feeders as trees without one do (ec_assign), and every
     * member's new instructions go out. */
    ctl_push_roots(c, ch, now);
    ctl_flush_channel(c, ch, now);
}
