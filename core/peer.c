/*
 * A viewing node: see strata/peer.h for the contract.
 *
 * Model. JOINING sends JOIN every join_retry until a JOIN_REPLY for this
 * node arrives (a refusal is logged and retried eight times slower).
 * INSTRUCTIONs are kept from the start, per substream, newest epoch wins.
 * MEMBER receives DATA from anyone, stores new packets once (pktstore),
 * queues them for playout and hands the stored buffer to the relay
 * strategy of the packet's tree (relay.h: TREE and FLOOD send it to the
 * tree's children; in an erasure-coded cluster the group coder also makes
 * and rebuilds parity); sends a HEARTBEAT every heartbeat interval; asks
 * for missing packets; answers repair requests. LEFT ignores everything.
 *
 * Parity trees. EC_TREE instructions carry n, the cluster's parity trees,
 * numbered k .. k + n - 1 after the k data substreams (protocol.md 3.4):
 * n follows the newest EC_TREE instruction (other algorithms say nothing
 * of it), and n = 0 ends them. While n > 0 the node takes parity symbols
 * for its parity trees inside the playout window (relay_ec.h), reports
 * k + n parent entries in its heartbeats, and takes the packets the coder
 * rebuilds as received (counted apart, by origin "parity"); those are
 * present, so repair never asks for them. Parity is never repaired.
 * Joining, heartbeat timing and leaving are the control session's
 * (session.h), shared with the source; PROBEs are the node's (node.h).
 *
 * Where playout begins. A peer told that the stream has not started (rate
 * 0 in its JOIN_REPLY: no source has announced the channel) plays from seq
 * 0 and so gets the whole stream. Any other peer is a late joiner, even
 * with a start_seq of 0 (the control center may not have learnt one yet
 * although the source is sending): it waits for its first DATA packet, seq f,
 * and starts at max(start_seq, f - (k - 1)): the k - 1 packets before f
 * belong to other substreams whose parents are at about the same point, so
 * they arrive (or are repaired) within moments, and nothing older than the
 * control center's start_seq is waited for. Playback thus begins with the
 * first packet, well within a second.
 *
 * Stall recovery. If playout has nothing buffered while packets beyond the
 * window keep arriving for longer than the playout delay (a peer that
 * fell far behind, or a start_seq of 0 for a stream that had in fact
 * begun long ago), the window jumps to them. One stray packet cannot cause
 * a jump; it takes the same condition a playout delay apart.
 *
 * Timers (named deadlines): join_at (JOINING), hb_at, repair_at (the
 * repair scan), tail_at (see below) and the playout deadline (MEMBER).
 *
 * Repair timing. The k substreams come down k trees of different delays,
 * so a seq overtaken by a later seq of another substream is usually just
 * late, not lost. A seq is asked for repair_after once a later packet of
 * its own substream has arrived (a gap: that substream's parent skipped
 * it), or, for a substream that went quiet altogether, once it has been
 * overtaken for longer than the fallback wait. The fallback wait follows
 * the skew between substreams: every packet that arrives (not as a
 * repair) in a slot already overtaken is a sample of how late a healthy
 * substream runs; the estimate moves 1/SKEW_RISE of the way towards a
 * larger sample (so that one packet relayed late after a parent died does
 * not stretch the wait at once) and 1/SKEW_DECAY towards a smaller one,
 * and the wait is repair_after plus SKEW_FACTOR times it, capped at a
 * quarter of the playout delay so that a dead substream still has three
 * quarters of the delay for its repairs.
 *
 * Tail probe. A missing packet is only noticed when a later one arrives,
 * so the last packets of a stream (and its EOS marker) lost with a dead
 * parent would never be asked for, nor would anything when every parent
 * died at once. When no new packet has arrived for tail_idle (half a
 * second by default), the peer asks for the STRATA_PEER_TAIL_PROBE_PACKETS
 * seqs after the highest it holds: once to each
 * repair target in turn, a retry interval apart, then with a backoff from
 * 1 s to 16 s while the silence lasts (a paused stream costs little).
 * Whatever an answer brings reveals the gaps, which repair then fills.
 *
 * Silent parents. A parent whose substream lags the newest packet held by
 * more than SILENT_LAG_PER_SUBSTREAM of its packets is asked last for
 * repairs (repair.h), and every parent is for tail probes (nothing arrives
 * from any of them): such a parent is most likely dead, and the control
 * center needs up to its detection window to say so. The lag is counted
 * in packets, so a slow stream is not taken for a silent one.
 *
 * Source address. Every instruction names the channel's source (protocol.md
 * 3.4), the one node that holds every packet. It is the repairer of last
 * resort: repairs and tail probes go to it after the parents (repair.h has
 * the whole rotation), which is what saves a peer whose parents all died
 * at once until the control center gives it new ones. The ref of the
 * newest instruction applied wins; a zero ref (the DCM does not know the
 * source yet) does not erase one already known. Until one is known that
 * step of the rotation is skipped.
 *
 * Heartbeat children. A heartbeat has room for
 * strata_wire_hb_max_children(k) child entries. A peer with more child
 * links reports that many per heartbeat, continuing each time where the
 * last one stopped (round robin over the links, substream by substream),
 * so the DCM sees every link within ceil(links / room) heartbeats.
 *
 * Memory. Per-tree state is an array of k + n entries, made when k (and
 * n) is learnt, and each tree's children (the relay's) an array of exactly
 * the instruction's size, so that a peer of a k = 2 stream with few children
 * costs a few hundred bytes rather than room for 16 substreams of 64
 * children each. The outbox holds outbox_datagrams.
 *
 * Drops are counted per reason; malformed datagrams are logged as warnings
 * and routine ones (late, out of window, not for this state) at debug
 * level, at most LOG_LINES_PER_SECOND lines a second in all.
 */
#include "peer_impl.h"

#include <string.h>

/* --- small helpers ------------------------------------------------------- */

static uint64_t add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
static uint64_t min_ns(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Drop lines are limited to LOG_LINES_PER_SECOND; the rest are counted and
 * summarised when the next second opens. */
static void drop_log(strata_peer *p, uint64_t now, int err, int type, strata_addr from)
{
    int malformed = err == STRATA_ERR_SHORT || err == STRATA_ERR_LONG || err == STRATA_ERR_MAGIC ||
                    err == STRATA_ERR_VERSION || err == STRATA_ERR_TYPE;
    int level = malformed ? STRATA_LOG_WARN : STRATA_LOG_DEBUG;
    if (!p->log || p->log->max_level < level)
        return;
    if (now - p->log_window_ns >= STRATA_S(1) || now < p->log_window_ns) {
        if (p->log_suppressed)
            strata_logf(p->log, STRATA_LOG_WARN, "peer %016llx: %llu drop lines suppressed",
                        (unsigned long long)p->node.v, (unsigned long long)p->log_suppressed);
        p->log_window_ns = now;
        p->log_lines = 0;
        p->log_suppressed = 0;
    }
    if (p->log_lines >= LOG_LINES_PER_SECOND) {
        p->log_suppressed++;
        return;
    }
    p->log_lines++;
    char a[32];
    strata_logf(p->log, level, "peer %016llx: dropped datagram (type %d) from %s: %s",
                (unsigned long long)p->node.v, type, strata_addr_format(from, a, sizeof a),
                strata_strerror(err));
}

int strata_peer_drop(strata_peer *p, uint64_t now, int err, int type, strata_addr from)
{
    strata_drop_count(&p->st.drops, err);
    drop_log(p, now, err, type, from);
    return err;
}

/* Copies an encoded datagram into a new buffer and queues it. */
static int send_bytes(strata_peer *p, strata_addr to, const uint8_t *buf, int n)
{
    return strata_outbox_push_bytes(p->outbox, to, buf, n);
}

/* The repair budget gets what the trees leave of the upload (pktstore.h). */
static void update_repair_budget(strata_peer *p, uint64_t now)
{
    /* A parity link carries a symbol per group of k: a k-th of the stream,
     * as a data link does. */
    strata_repair_budget_set_tree_links(&p->repair_budget, strata_relay_links(&p->relay),
                                        p->rate_kbps, p->k, now);
}

/* --- lifecycle ----------------------------------------------------------- */

static int set_trees(strata_peer *p, uint8_t k, uint8_t n);
static int take_rebuilt(void *user, const strata_msg_data *m, uint64_t now);

static void po_play(void *user, const uint8_t *buf, size_t len)
{
    strata_peer *p = user;
    const strata_playout_slot *played = strata_playout_slot_at(&p->po, p->po.next);
    if (played)
        p->played_send_ts_ns = played->send_ts_ns; /* for the lag (playout_lag) */
    if (p->cb.on_play && !p->relay_only)
        p->cb.on_play(p->cb.user, buf, len);
}

/* The lag of the packet just played (strata_peer_stats.playout_lag_ns):
 * now against its send time mapped onto the local clock. */
static void playout_lag(strata_peer *p, uint64_t now)
{
    uint64_t due = strata_playout_deadline_of(&p->po, p->played_send_ts_ns);
    uint64_t expected = due > p->po.delay_ns ? due - p->po.delay_ns : 0;
    p->st.playout_lag_ns = now > expected ? now - expected : 0;
}

static void po_end(void *user)
{
    strata_peer *p = user;
    if (p->cb.on_end)
        p->cb.on_end(p->cb.user);
}

strata_peer *strata_peer_new(const strata_peer_config *cfg, const strata_peer_callbacks *cb,
                             const strata_alloc *a, uint64_t now)
{
    if (!cfg || cfg->node.v == 0 || !cfg->channel)
        return NULL;
    size_t name_len = strlen(cfg->channel);
    size_t region_len = cfg->region ? strlen(cfg->region) : 0;
    if (name_len == 0 || name_len > STRATA_WIRE_MAX_NAME_BYTES ||
        region_len > STRATA_WIRE_MAX_REGION_BYTES)
        return NULL;

    strata_peer *p = strata_mem_calloc(a, 1, sizeof *p);
    if (!p)
        goto fail_alloc;
    p->alloc = a;
    p->log = cfg->log;
    if (cb)
        p->cb = *cb;
    p->node = cfg->node;
    p->channel = strata_channel_id_from_name(cfg->channel, name_len);
    memcpy(p->name, cfg->channel, name_len);
    p->name_len = (uint8_t)name_len;
    if (region_len)
        memcpy(p->region, cfg->region, region_len);
    p->region_len = (uint8_t)region_len;
    p->upload_kbps = cfg->upload_kbps;
    p->priority = cfg->priority;
    p->waypoint = cfg->waypoint != 0;
    p->relay_only = cfg->relay_only != 0 || p->waypoint;
    p->repair_after_ns = STRATA_MS(cfg->repair_after_ms ? cfg->repair_after_ms
                                                        : STRATA_PEER_DEFAULT_REPAIR_AFTER_MS);
    p->repair_retry_ns = STRATA_MS(cfg->repair_retry_ms ? cfg->repair_retry_ms
                                                        : STRATA_PEER_DEFAULT_REPAIR_RETRY_MS);
    p->tail_idle_ns =
        STRATA_MS(cfg->tail_idle_ms ? cfg->tail_idle_ms : STRATA_PEER_DEFAULT_TAIL_IDLE_MS);
    strata_repair_budget_init(&p->repair_budget, cfg->upload_kbps, cfg->repair_charge_bytes, now);
    size_t outbox =
        cfg->outbox_datagrams ? cfg->outbox_datagrams : STRATA_PEER_DEFAULT_OUTBOX_DATAGRAMS;
    strata_rng_seed(&p->rng, cfg->seed);
    uint64_t delay_ns = STRATA_MS(cfg->playout_delay_ms ? cfg->playout_delay_ms
                                                        : STRATA_PEER_DEFAULT_PLAYOUT_DELAY_MS);
    size_t store = cfg->store_packets ? cfg->store_packets : STRATA_PEER_DEFAULT_STORE_PACKETS;

    if (strata_pktstore_init(&p->store, a, store) != 0)
        goto fail_store;
    /* Same size as the store, so every packet in the window is also stored
     * and a duplicate check against the store covers the window. */
    if (strata_playout_init(&p->po, a, p->store.cap, delay_ns) != 0)
        goto fail_playout;
    p->outbox = cfg->outbox;
    if (!p->outbox) {
        if (strata_outbox_init(&p->own_outbox, a, outbox) != 0)
            goto fail_outbox;
        p->outbox = &p->own_outbox;
    }
    p->po_cb.on_play = po_play;
    p->po_cb.on_end = po_end;
    p->po_cb.user = p;
    strata_relay_peer rp = {.self = p->node,
                            .channel = p->channel,
                            .outbox = p->outbox,
                            .store = &p->store,
                            .st = &p->st,
                            .take_rebuilt = take_rebuilt,
                            .user = p,
                            .fec_encoder = cfg->fec_encoder,
                            .fec_decoder = cfg->fec_decoder};
    strata_relay_init(&p->relay, a, &rp, p->store.cap);
    if (strata_peer_sign_init(p, cfg) != 0)
        goto fail_sign;

    strata_session_init(&p->ses, p->node, p->channel, cfg->control,
                        cfg->join_retry_ms ? cfg->join_retry_ms : STRATA_PEER_DEFAULT_JOIN_RETRY_MS,
                        p->outbox, p->log, "peer", now);
    if (strata_session_set_token(&p->ses, cfg->token, cfg->token_len) != 0)
        goto fail_token;
    p->ses.auth = cfg->auth;
    p->repair_at = STRATA_NEVER;
    p->tail_at = STRATA_NEVER;
    p->log_window_ns = now;
    return p;

fail_token:
    strata_peer_sign_free(p);
fail_sign:
    strata_relay_free(&p->relay);
    strata_outbox_free(&p->own_outbox);
fail_outbox:
    strata_playout_free(&p->po);
fail_playout:
    strata_pktstore_free(&p->store);
fail_store:
    strata_mem_free(a, p);
fail_alloc:
    return NULL;
}

void strata_peer_del(strata_peer *p)
{
    if (!p)
        return;
    strata_peer_sign_free(p);
    strata_peer_mesh_free(p);
    strata_outbox_free(&p->own_outbox);
    strata_playout_free(&p->po);
    strata_pktstore_free(&p->store);
    set_trees(p, 0, 0); /* cannot fail: frees only */
    strata_relay_free(&p->relay);
    strata_mem_free(p->alloc, p->old_neighbours);
    strata_mem_free(p->alloc, p);
}

int strata_peer_set_region(strata_peer *p, const char *region, uint64_t now)
{
    size_t len = region ? strlen(region) : 0;
    if (len > STRATA_WIRE_MAX_REGION_BYTES)
        return STRATA_ERR_RANGE;
    if (len == p->region_len && memcmp(p->region, region, len) == 0)
        return 0;
    if (len)
        memcpy(p->region, region, len);
    p->region_len = (uint8_t)len;
    p->st.region_changes++;
    /* A member JOINs again under the new label; the reply is taken as for
     * a member the control center forgot. */
    strata_session_rejoin(&p->ses, now);
    return 0;
}

strata_outbox *strata_peer_outbox(strata_peer *p)
{
    return p->outbox;
}

/* --- control plane ------------------------------------------------------- */

static void send_join(strata_peer *p, uint64_t now)
{
    strata_msg_join m = {
        .node = p->node,
        .role = p->waypoint     ? STRATA_ROLE_WAYPOINT
                : p->relay_only ? STRATA_ROLE_RELAY
                                : STRATA_ROLE_PEER,
        .upload_kbps = p->upload_kbps,
        .rate_kbps = 0,
        .name_len = p->name_len,
        .name = p->name,
        .region_len = p->region_len,
        .region = p->region,
        .priority = p->priority,
    };
    strata_session_send_join(&p->ses, &m, now);
}

/* Resizes the per-tree state (here and in the relay) to k data and n
 * parity trees. A new k renumbers the parity trees, so they all go (n must
 * then be 0) and the first min(old, k) data trees are kept; a new n with
 * the same k keeps the data trees and the parity trees below both n.
 * Instructions naming trees beyond the new count are meaningless. Returns
 * 0 or STRATA_ERR_NOMEM, which changes nothing. */
static int set_trees(strata_peer *p, uint8_t k, uint8_t n)
{
    if (k == p->k && n == p->n)
        return 0;
    unsigned count = (unsigned)k + n;
    unsigned keep = k == p->k ? (unsigned)k + (n < p->n ? n : p->n) : (k < p->k ? k : p->k);
    substream_state *next = NULL;
    if (count) {
        next = strata_mem_calloc(p->alloc, count, sizeof *next);
        if (!next)
            return STRATA_ERR_NOMEM;
    }
    if (strata_relay_resize(&p->relay, k, n, keep) != 0) {
        strata_mem_free(p->alloc, next);
        return STRATA_ERR_NOMEM;
    }
    for (unsigned i = 0; i < keep; i++)
        next[i] = p->subs[i];
    strata_mem_free(p->alloc, p->subs);
    if (k != p->k) {
        p->n_epoch = 0;          /* parity trees of another k said nothing of these */
        strata_peer_mesh_free(p); /* nor did its substreams' upstreams */
    }
    p->subs = next;
    p->k = k;
    p->n = n;
    return 0;
}

static int handle_join_reply(strata_peer *p, const uint8_t *buf, size_t len, uint64_t now)
{
    strata_msg_join_reply m;
    int err = strata_wire_decode_join_reply(buf, len, &m);
    if (err < 0)
        return err;
    if (m.node.v != p->node.v || m.channel.v != p->channel.v)
        return STRATA_ERR_UNEXPECTED;
    uint64_t rejoins = p->ses.rejoins;
    int apply = strata_session_on_join_reply(&p->ses, &m, now);
    p->st.rejoins += p->ses.rejoins - rejoins;
    if (!apply && p->ses.standby && p->k)
        set_trees(p, 0, 0); /* a waypoint no region needs (a restarted control center that
                               did not keep it): it relays nothing on its old instructions.
                               Cannot fail: it frees only. */
    if (!apply)
        return 0;
    /* Instructions kept from before the reply that name substreams beyond
     * the stream's k are dropped. */
    err = m.k == p->k ? 0 : set_trees(p, m.k, 0);
    if (err)
        return err; /* the reply is answered again at the next JOIN */
    strata_session_accept(&p->ses, &m, now);
    p->rate_kbps = m.rate_kbps;
    update_repair_budget(p, now);
    p->start_seq = m.start_seq;
    if (p->po.started)
        ; /* joined again after the control center forgot us: play on */
    else if (m.rate_kbps == 0)
        strata_playout_start(&p->po, 0);
    else
        p->late_start = 1;
    strata_logf(p->log, STRATA_LOG_INFO,
                "peer %016llx: member of dcm %u, k %u, rate %u kbps, start seq %llu",
                (unsigned long long)p->node.v, (unsigned)m.dcm.v, (unsigned)m.k,
                (unsigned)m.rate_kbps, (unsigned long long)m.start_seq);
    return 0;
}

/* Before tree `sub`'s children are replaced: if it floods, its neighbours
 * now are remembered for PARENT_GRACE_MS (see old_neighbours). */
static void keep_old_neighbours(strata_peer *p, unsigned sub, uint64_t now)
{
    const strata_relay_tree *t = &p->relay.trees[sub];
    if ((t->algorithm != STRATA_ALG_FLOOD && t->algorithm != STRATA_ALG_MESH_TREE) ||
        t->n_children == 0)
        return;
    if (!p->old_neighbours &&
        !(p->old_neighbours = strata_mem_alloc(p->alloc, OLD_NEIGHBOURS * sizeof(strata_addr))))
        return; /* without memory, no grace: they are repaired as strangers' losses are */
    if (now >= p->old_neighbours_until)
        p->n_old_neighbours = 0;
    for (unsigned j = 0; j < t->n_children; j++) {
        strata_addr a = t->children[j].ref.addr;
        unsigned i = 0;
        while (i < p->n_old_neighbours && !strata_addr_eq(p->old_neighbours[i], a))
            i++;
        if (i == p->n_old_neighbours && i < OLD_NEIGHBOURS)
            p->old_neighbours[p->n_old_neighbours++] = a;
    }
    p->old_neighbours_until = add_ns(now, STRATA_MS(PARENT_GRACE_MS));
}

static int handle_instruction(strata_peer *p, const uint8_t *buf, size_t len, uint64_t now)
{
    strata_msg_instruction m;
    int err = strata_wire_decode_instruction(buf, len, &m);
    if (err < 0)
        return err;
    if (m.node.v != p->node.v || m.channel.v != p->channel.v)
        return STRATA_ERR_UNEXPECTED;
    if (m.k != p->k) {
        /* A change of k comes with a new epoch; an older message with
         * another k is stale. Before the reply, the first instruction
         * tells us k. */
        if (p->k != 0 && p->max_epoch != 0 && m.epoch <= p->max_epoch)
            return 0;
        err = set_trees(p, m.k, 0);
        if (err)
            return err; /* the control center resends what the heartbeat lacks */
    }
    if (m.algorithm == STRATA_ALG_EC_TREE) {
        /* Only EC_TREE instructions speak of parity trees (a preferred
         * node's FLOOD ones have n = 0 beside its EC_TREE parity roots):
         * n follows the newest of them; an older one with another n is
         * stale, and n = 0 ends the node's parity trees. */
        if (m.n != p->n && p->n_epoch != 0 && m.epoch < p->n_epoch)
            return 0;
        err = set_trees(p, p->k, m.n);
        if (err)
            return err;
        if (m.epoch > p->n_epoch)
            p->n_epoch = m.epoch;
    }
    if (m.substream >= p->k + p->n)
        return STRATA_ERR_RANGE; /* the decoder and the checks above rule this out */
    substream_state *s = &p->subs[m.substream];
    if (s->have && m.epoch <= s->epoch)
        return 0; /* older or the same: nothing new */
    keep_old_neighbours(p, m.substream, now);
    err = strata_relay_set_tree(&p->relay, m.substream, m.algorithm, m.children, m.n_children,
                                m.n_neighbours);
    if (err)
        return err;
    update_repair_budget(p, now);
    if (s->have && !strata_addr_eq(s->parent.addr, m.parent.addr)) {
        /* What the old parent already sent is still taken for a while
         * (sender checks, peer_senders.c). */
        s->old_parent = s->parent.addr;
        s->old_parent_until = add_ns(now, STRATA_MS(PARENT_GRACE_MS));
    }
    s->have = 1;
    s->flood = m.algorithm == STRATA_ALG_FLOOD || m.algorithm == STRATA_ALG_MESH_TREE;
    s->epoch = m.epoch;
    s->parent = m.parent;
    if (m.epoch > p->max_epoch)
        p->max_epoch = m.epoch;
    if (m.epoch >= p->member_epoch) {
        p->member_dcm = m.dcm;
        p->member_level = m.level;
        p->member_epoch = m.epoch;
    }
    if (m.source.node.v != 0 && m.epoch >= p->source_epoch) {
        p->source = m.source;
        p->source_epoch = m.epoch;
    }
    p->st.instructions_applied++;
    /* Without memory for MESH_TREE's state the node sends no MESH_STATE:
     * its neighbours then push it everything, as in FLOOD. */
    (void)strata_peer_mesh_applied(p, now);
    strata_logf(p->log, STRATA_LOG_DEBUG,
                "peer %016llx: sub %u epoch %u algorithm %u n %u parent %016llx, %u children",
                (unsigned long long)p->node.v, (unsigned)m.substream, (unsigned)m.epoch,
                (unsigned)m.algorithm, (unsigned)m.n, (unsigned long long)m.parent.node.v,
                (unsigned)m.n_children);
    return 0;
}

static void send_heartbeat(strata_peer *p, uint64_t now)
{
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    strata_session_heartbeat_header(&p->ses, &hb, now);
    hb.instr_epoch = p->max_epoch;
    if (p->member_dcm.v) {
        hb.dcm = p->member_dcm;
        hb.level = p->member_level;
    }
    hb.upload_kbps = p->upload_kbps;
    hb.played_packets = p->po.played_packets;
    hb.missed_packets = p->po.missed_packets;
    hb.rx_data_bytes = p->st.rx_data_bytes;
    hb.tx_data_bytes = p->st.tx_data_bytes;
    hb.recovered_packets = p->store.lost_recovered;
    /* k entries, and n more (parity tree i at k + i) while the node has
     * parity trees (protocol.md 3.2); a parity tree's buffer is the
     * symbols held for it. */
    unsigned trees = (unsigned)p->k + p->n;
    hb.n_parents = (uint8_t)trees;
    uint32_t counts[STRATA_WIRE_MAX_SUBSTREAMS];
    strata_playout_count_by_substream(&p->po, p->k, counts);
    for (unsigned i = 0; i < trees; i++) {
        const substream_state *s = &p->subs[i];
        hb.parents[i].parent = s->parent.node;
        hb.parents[i].buffer_packets =
            i < p->k ? counts[i] : strata_relay_ec_held(p->relay.ec, i - p->k);
        hb.parents[i].last_rx_ts_ns = s->last_rx_ts_ns;
        hb.parents[i].last_rx_seq = s->flood && !s->parent.node.v ? s->any_rx_seq : s->last_rx_seq;
        if (s->distrusted && s->distrusted == s->parent.node.v) {
            /* A parent that sent a forged packet: no progress of its is
             * reported from then on (peer_sign.c, "Forged packets"). */
            hb.parents[i].last_rx_ts_ns = s->distrust_ts_ns;
            hb.parents[i].last_rx_seq = s->distrust_seq;
        }
    }
    /* The child links in a fixed order (tree by tree), and the window of
     * them this heartbeat has room for (see "Heartbeat children" above).
     * Link t lands at entry (t - first) mod links. */
    size_t links = strata_relay_links(&p->relay);
    size_t room = strata_session_hb_max_children(&p->ses, (uint8_t)trees);
    size_t first = 0, nc = links;
    if (links > room) {
        first = p->hb_child_next % links;
        nc = room;
    }
    size_t t = 0;
    for (unsigned i = 0; i < trees; i++) {
        const strata_relay_tree *tree = &p->relay.trees[i];
        for (unsigned j = 0; j < tree->n_children; j++, t++) {
            size_t at = (t + links - first) % links;
            if (at >= nc)
                continue;
            strata_hb_child *c = &hb.children[at];
            c->child = tree->children[j].ref.node;
            c->substream = (uint8_t)i;
            c->last_tx_ts_ns = tree->children[j].last_tx_ts_ns;
            c->last_tx_seq = tree->children[j].last_tx_seq;
        }
    }
    hb.n_children = (uint8_t)nc;
    uint8_t buf[HB_BUF_BYTES];
    int n = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    if (n < 0) {
        /* Cannot happen with entries taken from valid instructions; but a
         * heartbeat is also the node's sign of life, so it goes without
         * children rather than not at all. */
        hb.n_children = 0;
        n = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    }
    /* The window moves on only when this one went out. */
    if (strata_session_send(&p->ses, buf, n) == 0 && hb.n_children == nc)
        p->hb_child_next = links > room ? (first + room) % links : 0;
}

/* --- data plane ---------------------------------------------------------- */

/* Where a packet being taken came from, for the counters and timers. */
enum take_origin { TAKE_RECEIVED, TAKE_REPAIR, TAKE_REBUILT };

/* Plays what is due and tells the relay where the window now starts. */
static void play_due(strata_peer *p, uint64_t now)
{
    if (strata_playout_poll(&p->po, now, &p->po_cb))
        playout_lag(p, now);
    strata_relay_window(&p->relay, p->po.next);
}

static void start_late(strata_peer *p, uint64_t seq)
{
    uint64_t back = p->k > 1 ? (uint64_t)(p->k - 1) : 0;
    uint64_t first = seq > back ? seq - back : 0;
    if (first < p->start_seq)
        first = p->start_seq;
    strata_playout_start(&p->po, first);
    p->late_start = 0;
}

/* A valid packet beyond the window: see "Stall recovery" above. Returns
 * 1 when the window jumped to take it. */
static int beyond_window(strata_peer *p, uint64_t seq, uint64_t now)
{
    if (p->po.present != 0) {
        p->ahead_since = 0;
        return 0;
    }
    if (p->ahead_since == 0) {
        p->ahead_since = now ? now : 1;
        return 0;
    }
    if (now < p->ahead_since || now - p->ahead_since < p->po.delay_ns)
        return 0;
    uint64_t back = p->k > 1 ? (uint64_t)(p->k - 1) : 0;
    uint64_t to = seq > back ? seq - back : 0;
    int played = p->po.played_packets != 0 || p->po.missed_packets != 0;
    strata_logf(p->log, STRATA_LOG_WARN, "peer %016llx: playout jumps from %llu to %llu",
                (unsigned long long)p->node.v, (unsigned long long)p->po.next,
                (unsigned long long)to);
    strata_playout_jump(&p->po, to, played);
    p->ahead_since = 0;
    return 1;
}

/* See "Repair timing" above. */
static void observe_skew(strata_peer *p, uint64_t sample_ns)
{
    if (sample_ns >= p->skew_ns)
        p->skew_ns += (sample_ns - p->skew_ns) / SKEW_RISE;
    else
        p->skew_ns -= (p->skew_ns - sample_ns) / SKEW_DECAY;
}

static uint64_t repair_fallback_ns(const strata_peer *p)
{
    uint64_t skew = p->skew_ns > UINT64_MAX / SKEW_FACTOR ? UINT64_MAX : p->skew_ns * SKEW_FACTOR;
    uint64_t w = add_ns(p->repair_after_ns, skew);
    uint64_t cap = p->po.delay_ns / FALLBACK_MAX_DELAY_DIVISOR;
    if (cap < p->repair_after_ns)
        cap = p->repair_after_ns;
    return w < cap ? w : cap;
}

/* Seq arrived on substream sub: every earlier seq of sub since the last
 * one that arrived, still in the window and missing, is a gap from now.
 * Returns 1 when one was marked. */
static int mark_gaps(strata_peer *p, unsigned sub, uint64_t seq, uint64_t now)
{
    substream_state *s = &p->subs[sub];
    uint64_t q = s->rx_next;
    if (q < p->po.next) {
        /* The first seq of sub at or after the window start. */
        q = p->po.next + (sub + p->k - p->po.next % p->k) % p->k;
    }
    int marked = 0;
    for (; q < seq; q += p->k) {
        strata_playout_slot *m = strata_playout_slot_at(&p->po, q);
        if (m && m->state == STRATA_PLAYOUT_MISSING && m->gap_since_ns == 0) {
            m->gap_since_ns = now ? now : 1;
            uint64_t hold = strata_peer_mesh_repair_hold(p, sub, now);
            if (hold > m->next_ask_ns)
                m->next_ask_ns = hold;
            marked = 1;
        }
    }
    if (seq >= s->rx_next)
        s->rx_next = seq <= UINT64_MAX - p->k ? seq + p->k : UINT64_MAX;
    return marked;
}

/* Stores a new packet inside the window (received, repaired or rebuilt),
 * queues it for playout, counts it by origin and hands it to its tree's
 * strategy. len is the datagram's size (0 when rebuilt). Returns 0,
 * STRATA_ERR_RANGE or STRATA_ERR_NOMEM. */
static int take_packet(strata_peer *p, const strata_msg_data *m, strata_addr from, size_t len,
                       int origin, uint64_t now)
{
    const strata_pktstore_entry *e;
    int err = strata_pktstore_put_data(&p->store, m, &e);
    if (err == STRATA_ERR_NOMEM)
        return err;
    if (err < 0)
        return STRATA_ERR_RANGE; /* cannot happen inside the window */
    uint64_t old_end = p->po.end;
    strata_playout_insert(&p->po, m->seq, m->send_ts_ns, e->buf, e->payload_off, e->payload_len,
                          (e->flags & STRATA_DATA_FLAG_EOS) != 0, now);
    if (origin != TAKE_RECEIVED) {
        /* An answer to our own repair request (only a node we asked may
         * send one) or a packet rebuilt here: late by nature, its send
         * time may bring the skip of the overdue run before it
         * (playout.h). */
        strata_playout_slot *slot = strata_playout_slot_at(&p->po, m->seq);
        if (slot)
            slot->early_ok = 1;
        /* Lost, unless its own copy still comes down the trees. */
        strata_pktstore_set_recovered(&p->store, m->seq, 1);
    }
    p->ahead_since = 0;
    if (origin == TAKE_REBUILT)
        len = e->buf->len;
    p->st.rx_data_packets++;
    p->st.rx_data_bytes += len;
    if (origin == TAKE_REPAIR) {
        p->st.rx_repairs++;
        p->st.rx_repair_bytes += len;
    } else if (origin == TAKE_REBUILT) {
        p->st.parity_rebuilt_packets++;
        p->st.parity_rebuilt_bytes += len;
    } else if (p->source.node.v != 0 && strata_addr_eq(from, p->source.addr)) {
        p->st.rx_source_bytes += len;
    } else {
        p->st.rx_peer_bytes += len;
    }
    /* Seqs overtaken now become due after the fallback wait; a gap in this
     * packet's own substream after repair_after. A rebuilt packet says
     * nothing of its substream's parent: it marks no gap. */
    unsigned sub = (unsigned)(m->seq % p->k);
    if (m->seq > old_end)
        p->repair_at = min_ns(p->repair_at, add_ns(now, repair_fallback_ns(p)));
    if (origin != TAKE_REBUILT && mark_gaps(p, sub, m->seq, now))
        p->repair_at = min_ns(p->repair_at, add_ns(now, p->repair_after_ns));
    p->tail_attempts = 0;
    p->tail_backoff_ns = STRATA_MS(TAIL_BACKOFF_MIN_MS);
    p->tail_at = add_ns(now, p->tail_idle_ns);

    /* Relay also what came as a repair: our children most likely missed
     * it for the same reason we did. */
    strata_relay_data(&p->relay, sub, e, from,
                      origin == TAKE_REBUILT ? STRATA_RELAY_REBUILT : STRATA_RELAY_RECEIVED, now);
    strata_peer_sign_stored(p, now);
    return 0;
}

/* The relay's way back (relay.h): a packet the coder rebuilt is taken as
 * if received, unless it arrived meanwhile or playout has passed it. */
static int take_rebuilt(void *user, const strata_msg_data *m, uint64_t now)
{
    strata_peer *p = user;
    if (strata_pktstore_get(&p->store, m->seq))
        return STRATA_ERR_EXISTS;
    if (!strata_playout_in_window(&p->po, m->seq))
        return STRATA_ERR_RANGE;
    /* Made from vouched-for symbols and packets, so vouched for itself;
     * checked all the same, as cheaply as a received packet. */
    int err = strata_peer_sign_rebuilt(p, m);
    if (err)
        return err;

    const strata_addr nobody = {0, 0};
    return take_packet(p, m, nobody, 0, TAKE_REBUILT, now);
}

/* 0 when the group starting at first_seq lies beyond the playout window
 * (or playout has not started). Groups before it are the coder's to
 * judge: a whole one held in the store takes its late symbols quietly, as
 * the store does late duplicates; one it has forgotten refuses them. */
static int group_not_ahead(const strata_peer *p, uint64_t first_seq)
{
    return p->po.started && (first_seq < p->po.next || strata_playout_in_window(&p->po, first_seq));
}

/* A parity symbol (protocol.md 3.1.1): checked against the node's parity
 * trees (UNEXPECTED) and the window (RANGE) as data is, then handed to its
 * tree's strategy. Parity never starts or moves playout, nor feeds its
 * clock: it is not a packet of the stream. */
static int handle_parity(strata_peer *p, strata_addr from, const strata_msg_data *m,
                         const uint8_t *buf, size_t len, uint64_t now)
{
    int err = strata_relay_parity_fits(&p->relay, m);
    if (err)
        return err;
    if (m->seq > UINT64_MAX - (p->k - 1u) || !group_not_ahead(p, m->seq))
        return STRATA_ERR_RANGE;
    substream_state *s = &p->subs[m->substream];
    if (s->have && strata_addr_eq(from, s->parent.addr)) {
        s->last_rx_ts_ns = now;
        if (m->seq > s->last_rx_seq)
            s->last_rx_seq = m->seq;
    }
    err = strata_relay_parity(&p->relay, m, buf, len, from, now);
    play_due(p, now); /* what it rebuilt may be due */
    return err;
}

void strata_peer_take_unvouched_parity(strata_peer *p, const strata_msg_data *m, const uint8_t *buf,
                                       size_t len, uint64_t now)
{
    if (m->seq > UINT64_MAX - (p->k - 1u) || !group_not_ahead(p, m->seq))
        return;
    strata_relay_parity_unvouched(&p->relay, m, buf, len, now);
    play_due(p, now); /* what it rebuilt may be due */
}

static int handle_data(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    strata_msg_data m;
    int err = strata_wire_decode_data(buf, len, &m);
    if (err < 0)
        return err;
    if (p->ses.state != STRATA_SESSION_MEMBER || p->k == 0 || m.channel.v != p->channel.v)
        return STRATA_ERR_UNEXPECTED;
    err = strata_peer_check_sender(p, from, &m, now);
    if (err)
        return err; /* not from a node we take data from (peer_senders.c) */
    if (p->keyed) {
        err = strata_peer_sign_check(p, &m, buf, len, from, now);
        if (err <= 0)
            return err; /* waits for its manifest, or dropped */
    }
    return strata_peer_take_data(p, from, &m, buf, len, now);
}

int strata_peer_take_data(strata_peer *p, strata_addr from, const strata_msg_data *m,
                          const uint8_t *buf, size_t len, uint64_t now)
{
    if (m->flags & STRATA_DATA_FLAG_PARITY)
        return handle_parity(p, from, m, buf, len, now);
    if (m->substream != m->seq % p->k)
        return STRATA_ERR_RANGE;
    unsigned sub = m->substream;
    int repair = (m->flags & STRATA_DATA_FLAG_REPAIR) != 0;
    substream_state *s = &p->subs[sub];
    if (!repair && m->seq > s->any_rx_seq)
        s->any_rx_seq = m->seq;
    if (!repair && s->have && strata_addr_eq(from, s->parent.addr)) {
        s->last_rx_ts_ns = now;
        if (m->seq > s->last_rx_seq)
            s->last_rx_seq = m->seq;
    }
    if (p->late_start)
        start_late(p, m->seq);
    strata_playout_observe(&p->po, m->send_ts_ns, now);

    if (strata_pktstore_get(&p->store, m->seq)) {
        p->st.rx_duplicates++;
        if (!repair)
            strata_peer_mesh_copy(p, sub, from, 0);
        /* Rebuilt or repaired before its own copy came down the trees: it
         * was late, not lost (the loss parity is chosen by). */
        if (!repair)
            strata_pktstore_set_recovered(&p->store, m->seq, 0);
        return 0;
    }
    if (!strata_playout_in_window(&p->po, m->seq) &&
        !(m->seq >= p->po.next && beyond_window(p, m->seq, now))) {
        if (p->po.started && m->seq < p->po.next)
            p->st.rx_late++;
        return STRATA_ERR_RANGE;
    }
    if (!repair)
        strata_peer_mesh_copy(p, sub, from, 1);
    const strata_playout_slot *was = strata_playout_slot_at(&p->po, m->seq);
    if (!repair && was && was->state == STRATA_PLAYOUT_MISSING && now >= was->missing_since_ns)
        observe_skew(p, now - was->missing_since_ns);
    int err = take_packet(p, m, from, len, repair ? TAKE_REPAIR : TAKE_RECEIVED, now);
    if (err == 0)
        play_due(p, now);
    return err;
}

static int handle_repair_request(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                                 uint64_t now)
{
    strata_msg_repair m;
    int err = strata_wire_decode_repair(buf, len, &m);
    if (err < 0)
        return err;
    if (m.channel.v != p->channel.v || m.node.v == p->node.v)
        return STRATA_ERR_UNEXPECTED;
    uint64_t packets = 0, bytes = 0, refused = 0;
    err = strata_pktstore_answer_repair_budget(&p->store, &m, from, p->outbox, &p->repair_budget,
                                               now, &packets, &bytes, &refused);
    p->st.repair_requests_served++;
    if (refused)
        p->st.repair_requests_refused++;
    strata_logf(p->log, STRATA_LOG_DEBUG,
                "peer %016llx: repair from %08x %llu mask %llx: %llu sent, %llu refused",
                (unsigned long long)p->node.v, (unsigned)from.ipv4, (unsigned long long)m.first_seq,
                (unsigned long long)m.mask, (unsigned long long)packets,
                (unsigned long long)refused);
    p->st.tx_repairs += packets;
    p->st.tx_data_packets += packets;
    p->st.tx_data_bytes += bytes;
    return err == STRATA_ERR_NOMEM ? err : 0;
}

int strata_peer_handle_datagram(strata_peer *p, strata_addr from, const uint8_t *buf, size_t buflen,
                                uint64_t now)
{
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return strata_peer_drop(p, now, type, 0, from);
    if (p->ses.state == STRATA_SESSION_LEFT)
        return strata_peer_drop(p, now, STRATA_ERR_UNEXPECTED, type, from);
    int err;
    switch (type) {
    case STRATA_MSG_DATA:
        err = handle_data(p, from, buf, buflen, now);
        break;
    case STRATA_MSG_JOIN_REPLY:
        err = handle_join_reply(p, buf, buflen, now);
        break;
    case STRATA_MSG_INSTRUCTION:
        err = handle_instruction(p, buf, buflen, now);
        break;
    case STRATA_MSG_REPAIR_REQUEST:
        err = handle_repair_request(p, from, buf, buflen, now);
        break;
    case STRATA_MSG_MANIFEST:
        err = strata_peer_sign_manifest(p, from, buf, buflen, now);
        break;
    case STRATA_MSG_PARITY_HASHES:
        err = strata_peer_sign_parity_list(p, from, buf, buflen, now);
        break;
    case STRATA_MSG_MANIFEST_REQUEST:
        err = strata_peer_sign_request(p, from, buf, buflen, now);
        break;
    case STRATA_MSG_MESH_STATE:
        err = strata_peer_mesh_state(p, from, buf, buflen, now);
        break;
    default:
        err = STRATA_ERR_UNEXPECTED;
        break;
    }
    if (err < 0 && strata_err_is_input(err))
        return strata_peer_drop(p, now, err, type, from);
    return err;
}

/* --- repair -------------------------------------------------------------- */

/* The rotation for seq (repair.h). Children fed other substreams than
 * seq's come first among the children: they get seq's substream from
 * elsewhere. */
size_t strata_peer_repair_targets(void *user, uint64_t seq, strata_addr *out)
{
    strata_peer *p = user;
    unsigned sub = (unsigned)(seq % p->k);
    strata_peer_ref parents[STRATA_WIRE_MAX_SUBSTREAMS];
    strata_peer_ref kids[STRATA_REPAIR_MAX_CHILD_TARGETS];
    size_t nk = 0;
    for (unsigned i = 0; i < p->k; i++)
        parents[i] = p->subs[i].parent;
    for (unsigned pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < p->k; i++) {
            const strata_relay_tree *t = &p->relay.trees[i];
            if ((pass == 0) == (i == sub))
                continue;
            for (unsigned j = 0; j < t->n_children && nk < STRATA_REPAIR_MAX_CHILD_TARGETS; j++)
                kids[nk++] = t->children[j].ref;
        }
    }
    return strata_repair_targets(parents, p->k, sub, p->silent, &p->source, kids, nk, p->node, out);
}

static void repair_emit(void *user, const strata_repair_batch *b)
{
    strata_peer *p = user;
    strata_msg_repair m = {
        .node = p->node, .channel = p->channel, .first_seq = b->first_seq, .mask = b->mask};
    uint8_t buf[64];
    if (send_bytes(p, b->to, buf, strata_wire_encode_repair(buf, sizeof buf, &m)) == 0)
        p->st.repair_requests_sent++;
    strata_logf(p->log, STRATA_LOG_DEBUG, "peer %016llx: repair %llu mask %llx to %08x",
                (unsigned long long)p->node.v, (unsigned long long)b->first_seq,
                (unsigned long long)b->mask, (unsigned)b->to.ipv4);
}

/* Parents whose substream lags the newest packet held: see "Silent
 * parents" above. */
static uint32_t lagging_parents(const strata_peer *p)
{
    uint64_t lag = (uint64_t)SILENT_LAG_PER_SUBSTREAM * p->k;
    uint32_t silent = 0;
    for (unsigned i = 0; i < p->k; i++) {
        if (p->po.end > p->subs[i].last_rx_seq + lag)
            silent |= 1u << i;
    }
    return silent;
}

static void tail_probe(strata_peer *p, uint64_t now)
{
    uint64_t first = p->po.end;
    strata_addr to[STRATA_REPAIR_MAX_TARGETS];
    p->silent = (1u << p->k) - 1u; /* nothing arrives from any of them */
    size_t n = strata_peer_repair_targets(p, first, to);
    if (n && first <= UINT64_MAX - STRATA_WIRE_REPAIR_SPAN) {
        strata_msg_repair m = {.node = p->node,
                               .channel = p->channel,
                               .first_seq = first,
                               .mask = (1ull << STRATA_PEER_TAIL_PROBE_PACKETS) - 1u};
        uint8_t buf[64];
        if (send_bytes(p, to[p->tail_attempts % n], buf,
                       strata_wire_encode_repair(buf, sizeof buf, &m)) == 0)
            p->st.repair_requests_sent++;
    }
    p->tail_attempts++;
    if (p->tail_attempts < n) {
        p->tail_at = add_ns(now, p->repair_retry_ns);
        return;
    }
    p->tail_at = add_ns(now, p->tail_backoff_ns);
    p->tail_backoff_ns = min_ns(p->tail_backoff_ns * 2, STRATA_MS(TAIL_BACKOFF_MAX_MS));
}

/* --- timers -------------------------------------------------------------- */

void strata_peer_handle_timeout(strata_peer *p, uint64_t now)
{
    /* A member joining again relays and plays on meanwhile. */
    if (strata_session_join_due(&p->ses, now))
        send_join(p, now);
    if (p->ses.state != STRATA_SESSION_MEMBER)
        return;
    if (strata_session_heartbeat_due(&p->ses, now)) {
        send_heartbeat(p, now);
        strata_session_heartbeat_sent(&p->ses, now);
    }
    uint64_t missed_before = p->po.missed_packets;
    play_due(p, now);
    if (p->po.missed_packets != missed_before)
        strata_logf(p->log, STRATA_LOG_DEBUG, "peer %016llx: skipped %llu, next %llu",
                    (unsigned long long)p->node.v,
                    (unsigned long long)(p->po.missed_packets - missed_before),
                    (unsigned long long)p->po.next);
    if (now >= p->repair_at) {
        p->silent = lagging_parents(p);
        strata_repair_batcher b;
        strata_repair_batcher_init(&b, repair_emit, p);
        strata_repair_timing t = {.after_ns = p->repair_after_ns,
                                  .fallback_ns = repair_fallback_ns(p),
                                  .retry_ns = p->repair_retry_ns};
        uint64_t next = strata_repair_scan(&p->po, now, &t, strata_peer_repair_targets, p, &b);
        uint64_t soonest = add_ns(now, STRATA_MS(REPAIR_SCAN_MIN_GAP_MS));
        p->repair_at = next != STRATA_NEVER && next < soonest ? soonest : next;
    }
    if (now >= p->tail_at) {
        if (p->po.ended)
            p->tail_at = STRATA_NEVER;
        else
            tail_probe(p, now);
    }
    strata_peer_sign_timeout(p, now);
    strata_peer_mesh_timeout(p, now);
}

uint64_t strata_peer_next_timeout(const strata_peer *p)
{
    uint64_t t = strata_session_next_timeout(&p->ses);
    if (p->ses.state != STRATA_SESSION_MEMBER)
        return t;
    t = min_ns(t, p->repair_at);
    t = min_ns(t, p->po.ended ? STRATA_NEVER : p->tail_at);
    t = min_ns(t, strata_peer_sign_next_timeout(p));
    t = min_ns(t, strata_peer_mesh_next_timeout(p));
    return min_ns(t, strata_playout_deadline(&p->po));
}

void strata_peer_leave(strata_peer *p, uint64_t now)
{
    if (p->ses.state == STRATA_SESSION_LEFT)
        return;
    strata_session_leave(&p->ses);
    strata_logf(p->log, STRATA_LOG_INFO, "peer %016llx: left", (unsigned long long)p->node.v);
    (void)now;
}

void strata_peer_get_stats(const strata_peer *p, strata_peer_stats *st)
{
    *st = p->st;
    st->state = p->ses.state;
    st->played_packets = p->po.played_packets;
    st->played_bytes = p->po.played_bytes;
    st->missed_packets = p->po.missed_packets;
    st->verify_waiting = p->has_ver ? p->ver.n : 0;
    st->joins_forbidden = p->ses.forbidden;
    st->joins_standby = p->ses.standbys;
    st->send_time_outliers = p->po.offset_outliers;
}
