/*
 * The TREE and FLOOD strategies (relay.h): every child but the sender gets
 * each packet stored for the first time. A tree's children are its
 * children in that substream's tree; a mesh member's are its neighbours
 * (and, for a preferred node, the roots it feeds). What keeps flooding
 * finite is the peer's duplicate check by seq, before any strategy runs,
 * so the two need no code apart. Neither carries parity.
 */
#include "relay.h"

static void forward_to_children(strata_relay *r, strata_relay_tree *t,
                                const strata_pktstore_entry *e, strata_addr from, uint64_t now)
{
    strata_relay_send(r, t, e->buf, e->seq, from, now);
}

void strata_relay_tree_ops(strata_relay_ops *ops)
{
    ops->forward = forward_to_children;
    ops->parity = NULL;
}
