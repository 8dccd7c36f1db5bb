/*
 * The MESH_TREE strategy (relay.h): FLOOD, but a mesh neighbour that said
 * it takes the packet's substream from another (lazy) is skipped. Each
 * neighbour wants a substream pushed by one neighbour only, so the pushes
 * of a substream form a tree inside the mesh; the peer's side
 * (peer_mesh.c) says who is lazy and moves a substream to another
 * neighbour when its own falls behind. The children after the neighbours
 * (the roots a preferred node feeds, its leaves) always get everything.
 */
#include "relay.h"

static void forward_eager(strata_relay *r, strata_relay_tree *t, const strata_pktstore_entry *e,
                          strata_addr from, uint64_t now)
{
    for (unsigned i = 0; i < t->n_children; i++) {
        strata_relay_child *c = &t->children[i];
        if (!c->lazy)
            strata_relay_send_child(r, c, e->buf, e->seq, from, now);
    }
}

void strata_relay_mesh_ops(strata_relay_ops *ops)
{
    ops->forward = forward_eager;
    ops->parity = NULL;
}
