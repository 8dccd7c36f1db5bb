/*
 * The relay object: a node's trees seen from below, and the dispatch of
 * stored packets to their trees' strategies. See relay.h for the model.
 */
#include "relay.h"

#include "relay_ec.h"

#include <string.h>

void strata_relay_init(strata_relay *r, const strata_alloc *a, const strata_relay_peer *peer,
                       size_t window_packets)
{
    memset(r, 0, sizeof *r);
    r->alloc = a;
    r->peer = *peer;
    r->window_packets = window_packets;
    /* Before its instruction a tree has no children: any strategy sends
     * nothing, the tree one is as good as another. */
    strata_relay_tree_ops(&r->ops[0]);
    strata_relay_tree_ops(&r->ops[STRATA_ALG_TREE]);
    strata_relay_tree_ops(&r->ops[STRATA_ALG_FLOOD]);
    strata_relay_ec_ops(&r->ops[STRATA_ALG_EC_TREE]);
    strata_relay_mesh_ops(&r->ops[STRATA_ALG_MESH_TREE]);
}

static void tree_clear(strata_relay *r, strata_relay_tree *t)
{
    strata_mem_free(r->alloc, t->children);
    memset(t, 0, sizeof *t);
}

void strata_relay_free(strata_relay *r)
{
    for (unsigned i = 0; i < (unsigned)r->k + r->n; i++)
        tree_clear(r, &r->trees[i]);
    strata_mem_free(r->alloc, r->trees);
    strata_relay_ec_del(r->ec);
    r->trees = NULL;
    r->ec = NULL;
    r->k = 0;
    r->n = 0;
}

int strata_relay_resize(strata_relay *r, uint8_t k, uint8_t n, size_t keep)
{
    unsigned old = (unsigned)r->k + r->n, count = (unsigned)k + n;
    if (k == r->k && n == r->n)
        return 0;
    strata_relay_tree *next = NULL;
    if (count) {
        next = strata_mem_calloc(r->alloc, count, sizeof *next);
        if (!next)
            return STRATA_ERR_NOMEM;
    }
    /* The coder depends on k; one made for another k starts again. */
    strata_relay_ec *ec = r->ec;
    int new_coder = n && (!ec || k != r->k);
    if (new_coder) {
        ec = strata_relay_ec_new(r->alloc, k, r->window_packets);
        if (!ec) {
            strata_mem_free(r->alloc, next);
            return STRATA_ERR_NOMEM;
        }
    }
    if (new_coder || !n)
        strata_relay_ec_del(r->ec);
    r->ec = n ? ec : NULL;
    for (unsigned i = 0; i < old; i++) {
        if (i < keep && i < count)
            next[i] = r->trees[i];
        else
            tree_clear(r, &r->trees[i]);
    }
    for (unsigned i = k; i < count; i++)
        if (i >= keep || i >= old)
            next[i].algorithm = STRATA_ALG_EC_TREE; /* parity trees are EC by definition */
    strata_mem_free(r->alloc, r->trees);
    r->trees = next;
    r->k = k;
    r->n = n;
    return 0;
}

int strata_relay_set_tree(strata_relay *r, unsigned t, uint8_t algorithm,
                          const strata_peer_ref *children, uint8_t n_children,
                          uint8_t n_neighbours)
{
    if (t >= (unsigned)r->k + r->n || algorithm == 0 || algorithm > STRATA_ALG_MAX ||
        n_neighbours > n_children)
        return STRATA_ERR_RANGE;
    strata_relay_tree *tree = &r->trees[t];
    strata_relay_child *next = NULL;
    if (n_children) {
        next = strata_mem_calloc(r->alloc, n_children, sizeof *next);
        if (!next)
            return STRATA_ERR_NOMEM;
    }
    for (unsigned i = 0; i < n_children; i++) {
        next[i].ref = children[i];
        for (unsigned j = 0; j < tree->n_children; j++) {
            if (tree->children[j].ref.node.v == children[i].node.v) {
                next[i].last_tx_ts_ns = tree->children[j].last_tx_ts_ns;
                next[i].last_tx_seq = tree->children[j].last_tx_seq;
                next[i].lazy = tree->children[j].lazy && i < n_neighbours;
                break;
            }
        }
    }
    strata_mem_free(r->alloc, tree->children);
    *tree = (strata_relay_tree){.algorithm = algorithm,
                                .n_children = n_children,
                                .n_neighbours = n_neighbours,
                                .children = next};
    return 0;
}

size_t strata_relay_links(const strata_relay *r)
{
    size_t links = 0;
    for (unsigned i = 0; i < (unsigned)r->k + r->n; i++)
        links += r->trees[i].n_children;
    return links;
}

int strata_relay_send_child(strata_relay *r, strata_relay_child *c, strata_buf *buf,
                            uint64_t seq, strata_addr from, uint64_t now)
{
    if (c->ref.node.v == r->peer.self.v || strata_addr_is_zero(c->ref.addr) ||
        strata_addr_eq(c->ref.addr, from))
        return 0;
    if (strata_outbox_push(r->peer.outbox, c->ref.addr, buf) != 0)
        return 0;
    c->last_tx_ts_ns = now;
    c->last_tx_seq = seq;
    r->peer.st->tx_data_packets++;
    r->peer.st->tx_data_bytes += buf->len;
    return 1;
}

size_t strata_relay_send(strata_relay *r, strata_relay_tree *t, strata_buf *buf, uint64_t seq,
                         strata_addr from, uint64_t now)
{
    size_t sent = 0;
    for (unsigned i = 0; i < t->n_children; i++)
        sent += (size_t)strata_relay_send_child(r, &t->children[i], buf, seq, from, now);
    return sent;
}

void strata_relay_data(strata_relay *r, unsigned sub, const strata_pktstore_entry *e,
                       strata_addr from, int origin, uint64_t now)
{
    if (sub >= r->k)
        return;
    strata_relay_tree *t = &r->trees[sub];
    r->ops[t->algorithm].forward(r, t, e, from, now);
    /* A rebuilt packet is the coder's own doing: it finishes its group
     * itself once every packet it rebuilt is stored. */
    if (r->ec && origin != STRATA_RELAY_REBUILT)
        strata_relay_ec_data(r, e->seq, now);
}

int strata_relay_parity_fits(const strata_relay *r, const strata_msg_data *m)
{
    if (!r->n || m->seq % r->k != 0 || m->substream < r->k || m->substream >= r->k + r->n)
        return STRATA_ERR_UNEXPECTED;
    return 0;
}

static int to_strategy(strata_relay *r, const strata_msg_data *m, const uint8_t *buf, size_t len,
                       strata_addr from, int vouched, uint64_t now)
{
    int err = strata_relay_parity_fits(r, m);
    if (err)
        return err;
    strata_relay_tree *t = &r->trees[m->substream];
    if (!r->ops[t->algorithm].parity)
        return STRATA_ERR_UNEXPECTED;
    return r->ops[t->algorithm].parity(r, m->substream, m, buf, len, from, vouched, now);
}

int strata_relay_parity(strata_relay *r, const strata_msg_data *m, const uint8_t *buf, size_t len,
                        strata_addr from, uint64_t now)
{
    return to_strategy(r, m, buf, len, from, 1, now);
}

int strata_relay_parity_unvouched(strata_relay *r, const strata_msg_data *m, const uint8_t *buf,
                                  size_t len, uint64_t now)
{
    const strata_addr nobody = {0, 0};
    return to_strategy(r, m, buf, len, nobody, 0, now);
}

void strata_relay_window(strata_relay *r, uint64_t first_seq)
{
    if (r->ec)
        strata_relay_ec_window(r->ec, first_seq);
}
