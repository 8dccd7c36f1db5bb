/*
 * Instructions. A node gets one instruction per substream from the DCM
 * whose trees it is in; a head or a feeder also gets, in its own
 * DCM's name, the root children of the trees it feeds (add_root_children).
 *
 * Epochs come from one counter for the whole control center, one value per
 * batch of instructions, so a node can compare epochs from several DCMs.
 *
 */
#include "control_int.h"

/* Sends c->instr[0..n-1], encoded, to rec's address. */
static void send_encoded(strata_control *c, ctl_node *rec, int n, uint32_t epoch, uint64_t now)
{
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (int i = 0; i < n; i++) {
        int len = strata_wire_encode_instruction(enc, sizeof enc, &c->instr[i]);
        if (len > 0 && c->auth) /* tagged with the node's session (auth.h) */
            len = strata_auth_center_seal(&rec->host->auth, enc, sizeof enc, (size_t)len);
        if (strata_outbox_push_bytes(c->outbox, rec->host->addr, enc, len) == 0)
            c->instructions_sent++;
    }
    if (n > 0) {
        rec->last_epoch_sent = epoch;
        rec->last_send_ns = now;
        if (in_trees(rec))
            strata_dcm_instructions_sent(rec->dcm, rec->id);
    }
}

/* Sends member who's instructions of DCM d for the substreams in subs
 * (bit s for substream s) to rec's address, stamped epoch. Only the trees
 * that changed are sent: a departure touches a node in one or two of its
 * k trees, and one datagram per tree would be most of the control
 * center's traffic under churn. */
static void send_instructions(strata_control *c, strata_dcm *d, strata_node_id who, ctl_node *rec,
                              uint32_t subs, uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions_subs(d, who, subs, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    send_encoded(c, rec, n, epoch, now);
}

/* The parity trees preferred node rec holds (n of its instructions): the
 * most of the clusters whose trees it roots, the control center's fewest
 * when it roots none. */
static uint8_t head_parity(const strata_control *c, const ctl_node *rec)
{
    uint8_t n = c->parity;
    if (rec->roots && strata_dcm_parity(rec->roots) > n)
        n = strata_dcm_parity(rec->roots);
    for (uint8_t i = 0; i < rec->naway; i++)
        if (strata_dcm_parity(rec->away[i].d) > n)
            n = strata_dcm_parity(rec->away[i].d);
    return n;
}

/* A region's head gets one instruction per substream, in the backbone's
 * name: its parent and children in the backbone's trees, plus, for each
 * substream it heads, the root children of its region's tree. The two sets
 * cannot overlap (a head is in no region's trees); a head with more than
 * the wire's children in one substream loses the excess, which stall
 * detection then re-parents. */
static void add_root_children(strata_control *c, ctl_node *rec, int *n, strata_dcm *d,
                              uint32_t subs, uint32_t epoch)
{
    int m = strata_dcm_instructions(d, STRATA_MTREE_SOURCE, epoch, c->root_instr,
                                    STRATA_WIRE_MAX_TREES);
    for (int t = 0; t < m; t++) {
        if (!((subs >> t) & 1u))
            continue;
        const strata_msg_instruction *r = &c->root_instr[t];
        strata_msg_instruction *in = NULL;
        for (int i = 0; i < *n && !in; i++)
            if (c->instr[i].substream == r->substream)
                in = &c->instr[i];
        if (!in) {
            /* A parity tree (levels = ec): the node makes its symbols from the
             * stream it holds and sends them to the tree's root children. */
            if (*n == STRATA_WIRE_MAX_TREES)
                continue;
            in = &c->instr[(*n)++];
            *in = *r;
            in->dcm = c->instr[0].dcm; /* in the name of its own DCM, as the rest */
            in->level = c->instr[0].level;
            in->node = rec->id;
            in->n_children = 0;
            /* Clusters differ in n (parity from loss) and a node holds one
             * n: the largest of the clusters it feeds (a symbol depends on
             * its index, not on n: fec.h). */
            if (in->algorithm == STRATA_ALG_EC_TREE)
                in->n = head_parity(c, rec);
        }
        for (uint8_t j = 0; j < r->n_children && in->n_children < STRATA_WIRE_MAX_CHILDREN; j++)
            in->children[in->n_children++] = r->children[j];
    }
}

/* Every parity tree a head does not root gets an instruction without
 * children: a node keeps a substream's instruction until a newer one
 * names it, and would go on sending symbols to a tree it no longer roots.
 * A tree beyond its n goes with the n (the node drops its state). */
static void add_idle_parity(strata_control *c, const ctl_node *rec, int *n)
{
    uint8_t k = c->instr[0].k, parity = head_parity(c, rec);
    for (uint8_t t = k; t < k + parity && *n < STRATA_WIRE_MAX_TREES; t++) {
        int have = 0;
        for (int i = 0; i < *n && !have; i++)
            have = c->instr[i].substream == t;
        if (have)
            continue;
        strata_msg_instruction *in = &c->instr[(*n)++];
        *in = c->instr[0];
        in->substream = t;
        in->algorithm = STRATA_ALG_EC_TREE;
        in->n = parity;
        in->parent = (strata_peer_ref){{0}, {0, 0}};
        in->n_children = 0;
    }
}

static void send_head_instructions(strata_control *c, ctl_node *rec, uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions(rec->dcm, rec->id, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    if (n <= 0)
        return;
    if (rec->roots)
        add_root_children(c, rec, &n, rec->roots, rec->root_subs, epoch);
    for (uint8_t i = 0; i < rec->naway; i++)
        add_root_children(c, rec, &n, rec->away[i].d, 1u << rec->away[i].tree, epoch);
    if (rec->feeds)
        add_root_children(c, rec, &n, rec->feeds, rec->feed_subs, epoch);
    if (ec_levels(c))
        add_idle_parity(c, rec, &n);
    send_encoded(c, rec, n, epoch, now);
}

/* Sends the source its instructions for d; for a region fed by heads, the
 * trees they feed show no children (the heads' instructions list them). */
static void send_source_instructions(strata_control *c, strata_dcm *d, ctl_node *src,
                                     uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions(d, STRATA_MTREE_SOURCE, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    if (n > strata_dcm_k(d))
        n = strata_dcm_k(d); /* it sends no parity: the trees' root children make it */
    for (int i = 0; i < n; i++)
        if (strata_dcm_substream_root(d, (uint8_t)i).node.v)
            c->instr[i].n_children = 0;
    send_encoded(c, src, n, epoch, now);
}

/* Sends every dirty node of d its instructions, as one batch (one epoch).
 * The source's entry (STRATA_MTREE_SOURCE) goes to the source and to every
 * head that feeds one of d's trees in its place. */
void ctl_flush_dcm(strata_control *c, strata_dcm *d, uint64_t now)
{
    if (c->recover_until)
        return; /* a recovery window: the nodes follow the old trees until it closes */
    strata_node_id ids[CONTROL_DIRTY_CHUNK];
    uint32_t subs[CONTROL_DIRTY_CHUNK];
    uint32_t epoch = 0;
    size_t n;
    ctl_channel *ch = ctl_channel_get(c, strata_dcm_channel(d));
    do {
        n = strata_dcm_take_dirty_subs(d, ids, subs, CONTROL_DIRTY_CHUNK);
        for (size_t i = 0; i < n; i++) {
            if (!epoch)
                epoch = ctl_next_epoch(c);
            if (ids[i].v == STRATA_MTREE_SOURCE.v) {
                ctl_node *src =
                    ch && ch->source_live ? ctl_member_get(c, ch->source, ch->id) : NULL;
                if (src)
                    send_source_instructions(c, d, src, epoch, now);
                ctl_node *last = NULL;
                for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
                    ctl_node *h = ctl_tree_feeder(c, d, s);
                    if (h && h != last) /* a head of several trees: once is enough */
                        send_head_instructions(c, h, epoch, now);
                    last = h ? h : last;
                }
                continue;
            }
            ctl_node *rec = ctl_member_get(c, ids[i], strata_dcm_channel(d));
            if (!rec || rec->dcm != d)
                continue;
            if (rec->roots || rec->feeds)
                send_head_instructions(c, rec, epoch, now);
            else
                send_instructions(c, d, ids[i], rec, subs[i], epoch, now);
        }
    } while (n == CONTROL_DIRTY_CHUNK);
}

void ctl_flush_channel(strata_control *c, ctl_channel *ch, uint64_t now)
{
    for (size_t i = 0; i < ch->ndcms; i++) {
        ctl_flush_dcm(c, ch->dcms[i], now);
        strata_dcm *cm = ctl_common_of(c, ch->dcms[i]);
        if (cm)
            ctl_flush_dcm(c, cm, now);
    }
    if (ch->backbone)
        ctl_flush_dcm(c, ch->backbone, now);
}

/* Marks a node's instructions for resending (a source's in every DCM). */
void ctl_mark_resend(const strata_control *c, ctl_node *rec)
{
    if (rec->role == STRATA_ROLE_SOURCE) {
        for (size_t i = 0; i < rec->ch->ndcms; i++) {
            strata_dcm_mark_dirty(rec->ch->dcms[i], STRATA_MTREE_SOURCE);
            strata_dcm *cm = ctl_common_of(c, rec->ch->dcms[i]);
            if (cm)
                strata_dcm_mark_dirty(cm, STRATA_MTREE_SOURCE);
        }
        if (rec->ch->backbone)
            strata_dcm_mark_dirty(rec->ch->backbone, STRATA_MTREE_SOURCE);
    } else {
        strata_dcm_mark_dirty(rec->dcm, rec->id);
    }
}

void ctl_flush_node(strata_control *c, ctl_node *rec, uint64_t now)
{
    if (rec->role == STRATA_ROLE_SOURCE)
        ctl_flush_channel(c, rec->ch, now);
    else
        ctl_flush_dcm(c, rec->dcm, now);
}
