/*
 * A viewing node on a signed channel (SPEC P3): the part of the peer that
 * checks, relays and serves the source's manifests. See strata/peer.h
 * ("Signed channels") for the contract and verify.h for the waiting room.
 *
 * Where manifests travel. The source sends each manifest to the roots of
 * the substream of its batch's last packet, and every node relays a new
 * one to its children of that substream: every node is in every data
 * tree (or floods the mesh, whose duplicates the store drops by
 * first_seq), so one copy reaches each. A PARITY_HASHES list of index i
 * goes down parity tree k + i only; the node that roots that tree (no
 * parent, EC_TREE) asks the source for it as soon as it holds a manifest
 * that signs it. A node that misses either asks its repair targets (for a
 * list: its parent in the parity tree, then the source).
 *
 * A peer without the channel's key keeps whatever manifests it is sent,
 * unchecked, so that keyed nodes below it get them, and judges nothing.
 */
#include "peer_impl.h"

#include <string.h>

/* Forged packets from a parent. A packet a manifest contradicts is
 * dropped wherever it came from; when it came down a tree from the node's
 * parent there, that parent sent what the source did not sign (an honest
 * keyed parent never relays such a packet; a keyless one relays only what
 * it was sent, so its own parent is the forger or passed it on). The node
 * then reports no progress from that parent: its heartbeat's last_rx_seq
 * for the tree stands still while the other trees advance (its own repair
 * logic still goes by what the parent really delivers: with the parent
 * treated as silent, the node asked the source first, which loaded the
 * source's uplink more in the simulator's signed runs), and the DCM's
 * stall detection (dcm.c, stall_check) moves the node to another parent
 * after a stall period, and blames the parent (halving its credit, down
 * to a strike) when the parent's own heartbeat shows it held the packets.
 * Packets from that parent are still taken when they verify.
 *
 * The price: UDP source addresses can be spoofed, so whoever can send a
 * packet with the parent's address can have an honest parent left and
 * blamed, one datagram per child and stall period (the source, which
 * signs everything, is never distrusted). docs/security.md weighs it. */
void strata_peer_forged_from(strata_peer *p, const strata_msg_data *m, strata_addr from)
{
    if (!p->subs || m->substream >= (unsigned)p->k + p->n)
        return;
    substream_state *s = &p->subs[m->substream];
    if (!s->have || s->parent.node.v == 0 || !strata_addr_eq(from, s->parent.addr) ||
        s->distrusted == s->parent.node.v)
        return;
    /* The source signs all it sends: a forgery from its address was
     * spoofed by someone else, and moving off the source helps nobody. */
    if (s->parent.node.v == p->source.node.v)
        return;
    s->distrusted = s->parent.node.v;
    s->distrust_seq = s->last_rx_seq;
    s->distrust_ts_ns = s->last_rx_ts_ns;
    p->st.forged_parents++;
    strata_logf(p->log, STRATA_LOG_INFO,
                "peer %016llx: parent %016llx of tree %u sent a forged packet (seq %llu): "
                "distrusted",
                (unsigned long long)p->node.v, (unsigned long long)s->parent.node.v,
                (unsigned)m->substream, (unsigned long long)m->seq);
}

/* strata_verify_release's report of a waiting packet found forged. */
static void forged_waiting(void *user, const strata_msg_data *m, strata_addr from)
{
    strata_peer_forged_from(user, m, from);
}

static int ensure_verifier(strata_peer *p, const uint8_t *pk)
{
    if (p->has_ver)
        return 0;
    /* Manifests for twice the packets the store keeps, in full batches:
     * batches the source's clock closed early are smaller. */
    size_t manifests = 2 * (p->store.cap / STRATA_MANIFEST_MAX_PACKETS + 1);
    int err = strata_verify_init(&p->ver, p->alloc, pk, manifests, STRATA_VERIFY_DEFAULT_PENDING,
                                 p->verify_wait_ns, STRATA_MS(STRATA_VERIFY_DEFAULT_ASK_AFTER_MS),
                                 p->repair_retry_ns);
    if (err)
        return err;
    p->ver.forged_fn = forged_waiting;
    p->ver.forged_user = p;
    p->has_ver = 1;
    return 0;
}

int strata_peer_sign_init(strata_peer *p, const strata_peer_config *cfg)
{
    p->verify_wait_ns =
        STRATA_MS(cfg->verify_wait_ms ? cfg->verify_wait_ms : STRATA_VERIFY_DEFAULT_WAIT_MS);
    if (!cfg->verify)
        return 0;
    memcpy(p->channel_pk, cfg->channel_pk, sizeof p->channel_pk);
    p->keyed = 1;
    return ensure_verifier(p, p->channel_pk);
}

void strata_peer_sign_free(strata_peer *p)
{
    if (p->has_ver)
        strata_verify_free(&p->ver);
    p->has_ver = 0;
}

int strata_peer_sign_check(strata_peer *p, const strata_msg_data *m, const uint8_t *buf, size_t len,
                           strata_addr from, uint64_t now)
{
    /* What is dropped whatever a manifest says never waits. */
    if (m->flags & STRATA_DATA_FLAG_PARITY) {
        int err = strata_relay_parity_fits(&p->relay, m);
        if (err)
            return err;
    } else {
        if (m->substream != m->seq % p->k)
            return STRATA_ERR_RANGE;
        if (strata_pktstore_get(&p->store, m->seq)) {
            p->st.rx_duplicates++;
            return 0;
        }
        if (p->po.started && m->seq < p->po.next) {
            p->st.rx_late++;
            return STRATA_ERR_RANGE;
        }
    }
    int r = strata_verify_packet(&p->ver, m, p->k, buf, len, from, now);
    switch (r) {
    case STRATA_VERIFY_OK:
        p->st.verified_packets++;
        return 1;
    case STRATA_VERIFY_WAITING:
        return 0;
    case STRATA_VERIFY_WAITING_LIST:
        /* Its list comes once the root of its tree holds the whole batch,
         * up to a batch after the data (the source sends the manifest
         * first): meanwhile it may rebuild what the group lacks, each
         * packet checked against the manifest as it is taken. */
        strata_peer_take_unvouched_parity(p, m, buf, len, now);
        return 0;
    case STRATA_VERIFY_DUPLICATE:
        p->st.rx_duplicates++;
        return 0;
    case STRATA_ERR_FORGED:
        p->st.forged_packets++;
        strata_peer_forged_from(p, m, from);
        return r;
    case STRATA_ERR_UNVERIFIED:
        p->st.unverified_packets++;
        return r;
    default:
        return r;
    }
}

int strata_peer_sign_rebuilt(strata_peer *p, const strata_msg_data *m)
{
    if (!p->keyed)
        return 0;
    int verdict = strata_manifest_store_judge(&p->ver.store, m, p->k);
    if (verdict == STRATA_MANIFEST_OK)
        return 0;
    if (verdict < 0)
        p->st.forged_packets++;
    return verdict < 0 ? STRATA_ERR_FORGED : STRATA_ERR_UNVERIFIED;
}

/* A waiting packet that a new manifest or list vouches for. */
static void take_released(void *user, const uint8_t *buf, size_t len, strata_addr from,
                          uint64_t now)
{
    strata_peer *p = user;
    strata_msg_data m;
    if (strata_wire_decode_data(buf, len, &m) < 0)
        return; /* cannot happen: decoded when it arrived */
    p->st.verified_packets++;
    int err = strata_peer_take_data(p, from, &m, buf, len, now);
    if (err < 0 && strata_err_is_input(err))
        strata_peer_drop(p, now, err, STRATA_MSG_DATA, from);
}

/* Releases what the held manifests and lists now vouch for. A packet
 * taken may complete a batch whose list this node makes (make_lists),
 * which vouches for more: that call comes back here while the verifier
 * is releasing, and is run after it instead. */
static void release(strata_peer *p, uint64_t now)
{
    if (p->releasing) {
        p->release_again = 1;
        return;
    }
    p->releasing = 1;
    do {
        p->release_again = 0;
        uint64_t forged = 0;
        strata_verify_release(&p->ver, p->k, take_released, p, now, &forged);
        p->st.forged_packets += forged;
        for (uint64_t i = 0; i < forged; i++)
            strata_drop_count(&p->st.drops, STRATA_ERR_FORGED);
    } while (p->release_again);
    p->releasing = 0;
}

/* Sends buf to every child of tree t but the sender; returns how many. */
static size_t send_down(strata_peer *p, unsigned t, strata_buf *b, strata_addr from)
{
    if (t >= (unsigned)p->k + p->n || !p->relay.trees)
        return 0;
    const strata_relay_tree *tree = &p->relay.trees[t];
    size_t sent = 0;
    for (unsigned j = 0; j < tree->n_children; j++) {
        const strata_peer_ref *c = &tree->children[j].ref;
        if (c->node.v == p->node.v || strata_addr_eq(c->addr, from) || strata_addr_is_zero(c->addr))
            continue;
        if (strata_outbox_push(p->outbox, c->addr, b) == 0)
            sent++;
    }
    return sent;
}

static void send_request(strata_peer *p, strata_addr to, uint64_t seq, uint8_t part)
{
    strata_msg_manifest_request m = {
        .node = p->node, .channel = p->channel, .seq = seq, .part = part};
    uint8_t buf[STRATA_MANIFEST_REQUEST_BYTES];
    if (strata_outbox_push_bytes(p->outbox, to, buf,
                                 strata_manifest_encode_request(buf, sizeof buf, &m)) == 0)
        p->st.manifest_requests_sent++;
}

enum { LIST_BATCHES = 4 }; /* the newest manifests a root still makes lists for */

/* Parity trees this node roots (EC_TREE, no parent): a bit per index. */
static uint32_t rooted(const strata_peer *p)
{
    uint32_t mask = 0;
    for (unsigned i = 0; i < p->n; i++) {
        const substream_state *s = &p->subs[p->k + i];
        if (s->have && s->parent.node.v == 0)
            mask |= 1u << i;
    }
    return mask;
}

/* Makes list i of manifest e from the groups it covers, all held, and
 * takes it as if received (the digest is checked then). Returns 0, or
 * STRATA_ERR_TOO_FEW while a group is not whole. */
static int make_list(strata_peer *p, const strata_manifest_entry *e, unsigned i, uint64_t now)
{
    strata_fec_encoder *enc = strata_relay_ec_encoder(&p->relay);
    unsigned groups = strata_manifest_groups(e->m.first_seq, e->m.count, p->k);
    uint64_t g0 = strata_manifest_first_group(e->m.first_seq, p->k);
    for (uint64_t q = g0 * p->k; q < (g0 + groups) * p->k; q++) {
        const strata_pktstore_entry *d = strata_pktstore_get(&p->store, q);
        if (!d || (d->flags & STRATA_DATA_FLAG_EOS))
            return STRATA_ERR_TOO_FEW;
    }
    uint8_t hashes[STRATA_MANIFEST_MAX_GROUPS * STRATA_MANIFEST_HASH_BYTES];
    for (unsigned g = 0; g < groups; g++) {
        const uint8_t *data[STRATA_FEC_MAX_DATA];
        size_t len[STRATA_FEC_MAX_DATA];
        for (unsigned j = 0; j < p->k; j++) {
            const strata_pktstore_entry *d = strata_pktstore_get(&p->store, (g0 + g) * p->k + j);
            data[j] = d->buf->data + d->payload_off;
            len[j] = d->payload_len;
        }
        uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES];
        uint8_t *out[1] = {sym};
        int n = enc ? strata_fec_encode(enc, p->k, data, len, i, 1, out, sizeof sym) : -1;
        if (n < 0)
            return n; /* no memory for the encoder: the members ask the source */
        strata_manifest_hash_symbol(p->channel, (g0 + g) * p->k, p->k, i, sym, (size_t)n,
                                    hashes + (size_t)g * STRATA_MANIFEST_HASH_BYTES);
    }
    strata_msg_parity_hashes ph = {p->channel, e->m.first_seq,  e->m.count, p->k,
                                   (uint8_t)i, (uint8_t)groups, hashes};
    uint8_t buf[STRATA_PARITY_HASHES_FIXED_BYTES + sizeof hashes];
    int len = strata_manifest_encode_parity(buf, sizeof buf, &ph);
    if (len < 0)
        return len;
    const strata_addr self = {0, 0};
    return strata_peer_sign_parity_list(p, self, buf, (size_t)len, now);
}

/* The lists this node owes the parity trees it roots, for the newest
 * manifests, once their groups are whole (see the top of this file). */
static void make_lists(strata_peer *p, uint64_t now)
{
    uint32_t mask = p->has_ver && p->n ? rooted(p) : 0;
    const strata_manifest_entry *e;
    for (size_t b = 0;
         mask && b < LIST_BATCHES && (e = strata_manifest_store_newest(&p->ver.store, b)); b++) {
        if (e->m.k != p->k || e->m.count == 0)
            continue;
        for (unsigned i = 0; i < p->n && i < e->m.n_parity; i++)
            if ((mask & (1u << i)) && !e->parity[i] &&
                make_list(p, e, i, now) == STRATA_ERR_TOO_FEW)
                break; /* the other indexes need the same groups */
    }
}

void strata_peer_sign_stored(strata_peer *p, uint64_t now)
{
    make_lists(p, now);
}

/* What the verifier said of a manifest or a hash list: 1 new, 0 held
 * already (a copy from another neighbour, or the answer to a repeated
 * ask), or why it is dropped (a forgery is counted). */
static int taken(strata_peer *p, int err)
{
    if (err == STRATA_ERR_EXISTS)
        return 0;
    if (err == STRATA_ERR_FORGED)
        p->st.forged_manifests++;
    return err ? err : 1;
}

int strata_peer_sign_manifest(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                              uint64_t now)
{
    strata_msg_manifest m;
    int err = strata_manifest_decode(buf, len, &m);
    if (err < 0)
        return err;
    if (p->ses.state != STRATA_SESSION_MEMBER || p->k == 0 || m.channel.v != p->channel.v)
        return STRATA_ERR_UNEXPECTED;
    err = ensure_verifier(p, NULL);
    if (err)
        return err;
    const strata_manifest_entry *e;
    err = taken(p, strata_verify_manifest(&p->ver, buf, len, &e));
    if (err <= 0)
        return err;
    p->st.manifests_rx++;
    uint64_t last = m.count ? m.first_seq + m.count - 1 : m.first_seq;
    p->st.manifests_tx += send_down(p, (unsigned)(last % p->k), e->buf, from);
    /* Lists that outran it down their parity trees. */
    strata_verify_early early;
    while (strata_verify_take_early(&p->ver, m.first_seq, m.count, &early)) {
        strata_peer_sign_parity_list(p, early.from, early.buf->data, early.buf->len, now);
        strata_buf_unref(early.buf);
    }
    make_lists(p, now);
    if (p->keyed)
        release(p, now);
    return 0;
}

int strata_peer_sign_parity_list(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                                 uint64_t now)
{
    strata_msg_parity_hashes ph;
    int err = strata_manifest_decode_parity(buf, len, &ph);
    if (err < 0)
        return err;
    if (p->ses.state != STRATA_SESSION_MEMBER || p->n == 0 || !p->has_ver ||
        ph.channel.v != p->channel.v)
        return STRATA_ERR_UNEXPECTED;
    unsigned index;
    err = strata_verify_parity_list(&p->ver, buf, len, p->k, from, &index);
    if (err == STRATA_VERIFY_WAITING)
        return 0; /* it came before its manifest, which takes it */
    err = taken(p, err);
    if (err <= 0)
        return err;
    p->st.parity_lists_rx++;
    const strata_manifest_entry *e =
        strata_manifest_store_exact(&p->ver.store, ph.first_seq, ph.count);
    if (e && index < p->n)
        send_down(p, p->k + index, e->parity[index], from);
    if (p->keyed)
        release(p, now);
    return 0;
}

int strata_peer_sign_request(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                             uint64_t now)
{
    strata_msg_manifest_request m;
    int err = strata_manifest_decode_request(buf, len, &m);
    if (err < 0)
        return err;
    if (m.channel.v != p->channel.v || m.node.v == p->node.v)
        return STRATA_ERR_UNEXPECTED;
    strata_buf *b = p->has_ver ? strata_manifest_store_answer(&p->ver.store, &m) : NULL;
    /* Answers are repairs of a kind: they share the repair budget. */
    if (b && strata_repair_budget_take(&p->repair_budget, b->len, now) &&
        strata_outbox_push(p->outbox, from, b) == 0)
        p->st.manifest_requests_served++;
    return 0;
}

/* strata_verify_asks' callback: whom to ask, in turn. */
static void ask(void *user, uint64_t seq, uint8_t part, uint32_t asks)
{
    strata_peer *p = user;
    strata_addr to[STRATA_REPAIR_MAX_TARGETS];
    size_t n = 0;
    if (part == STRATA_MANIFEST_PART_MANIFEST) {
        n = strata_peer_repair_targets(p, seq, to);
    } else {
        unsigned t = (unsigned)p->k + part - 1u;
        if (t < (unsigned)p->k + p->n && p->subs[t].parent.node.v != 0)
            to[n++] = p->subs[t].parent.addr;
        if (p->source.node.v != 0)
            to[n++] = p->source.addr;
    }
    if (n)
        send_request(p, to[asks % n], seq, part);
}

void strata_peer_sign_timeout(strata_peer *p, uint64_t now)
{
    if (!p->keyed || p->ses.state != STRATA_SESSION_MEMBER || p->k == 0)
        return;
    size_t expired = strata_verify_expire(&p->ver, now);
    p->st.unverified_packets += expired;
    for (size_t i = 0; i < expired; i++)
        strata_drop_count(&p->st.drops, STRATA_ERR_UNVERIFIED);
    strata_verify_asks(&p->ver, now, ask, p);
}

uint64_t strata_peer_sign_next_timeout(const strata_peer *p)
{
    return p->keyed ? strata_verify_next_timeout(&p->ver) : STRATA_NEVER;
}
