/*
 * Sender checks that need no keys (issue 13, item 4; docs/security.md,
 * "Sender checks"): a peer takes stream data (DATA, parity symbols
 * included) only from a node it has reason to take it from:
 *
 *  - the parent its instructions name for any of its trees (data or
 *    parity), or the one before it for PARENT_GRACE_MS after a change, so
 *    that packets already in flight from it are not lost;
 *  - the channel's source (its instructions name it);
 *  - a mesh neighbour: a child of one of its FLOOD or MESH_TREE trees (every neighbour
 *    may send any packet, protocol.md 3.4), or one an instruction replaced,
 *    for PARENT_GRACE_MS after (a rebuilt mesh changes every preferred
 *    node's neighbours at once);
 *  - with the REPAIR flag, a node it asks for repairs: those are its
 *    parents, the source and its children in any tree (repair.h), so a
 *    child's answer is taken too.
 *
 * Anything else is dropped as STRATA_ERR_SENDER before it is verified,
 * stored, played or relayed, and counted. An address is all this checks:
 * a forger who can send from a parent's address is item 3's (session
 * keys); one who cannot is stopped here.
 */
#include "peer_impl.h"

int strata_peer_check_sender(const strata_peer *p, strata_addr from, const strata_msg_data *m,
                             uint64_t now)
{
    if (p->source.node.v != 0 && strata_addr_eq(from, p->source.addr))
        return 0;
    int repair = (m->flags & STRATA_DATA_FLAG_REPAIR) != 0;
    if (now < p->old_neighbours_until)
        for (unsigned i = 0; i < p->n_old_neighbours; i++)
            if (strata_addr_eq(from, p->old_neighbours[i]))
                return 0;
    unsigned trees = (unsigned)p->k + p->n;
    for (unsigned i = 0; i < trees; i++) {
        const substream_state *s = &p->subs[i];
        if (s->have && s->parent.node.v != 0 && strata_addr_eq(from, s->parent.addr))
            return 0;
        if (now < s->old_parent_until && strata_addr_eq(from, s->old_parent))
            return 0;
        const strata_relay_tree *t = &p->relay.trees[i];
        if (t->algorithm != STRATA_ALG_FLOOD && t->algorithm != STRATA_ALG_MESH_TREE && !repair)
            continue;
        for (unsigned j = 0; j < t->n_children; j++)
            if (strata_addr_eq(from, t->children[j].ref.addr))
                return 0;
    }
    return STRATA_ERR_SENDER;
}

int strata_peer_knows(const strata_peer *p, strata_addr addr)
{
    if (p->source.node.v != 0 && strata_addr_eq(addr, p->source.addr))
        return 1;
    unsigned trees = (unsigned)p->k + p->n;
    for (unsigned i = 0; i < trees; i++) {
        if (p->subs[i].have && p->subs[i].parent.node.v != 0 &&
            strata_addr_eq(addr, p->subs[i].parent.addr))
            return 1;
        const strata_relay_tree *t = &p->relay.trees[i];
        for (unsigned j = 0; j < t->n_children; j++)
            if (strata_addr_eq(addr, t->children[j].ref.addr))
                return 1;
    }
    return 0;
}
