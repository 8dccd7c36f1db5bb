/*
 * The source of a channel: see strata/source.h for the contract.
 *
 * Model. Before the control center accepts it (JOINING) the source sends
 * JOIN with role SOURCE every join retry; a refusal is logged and retried
 * eight times slower. Once a JOIN_REPLY with status OK arrives it is ready:
 * k comes from the reply, heartbeats start, and pushed bytes flow.
 *
 * Input before ready is refused: push and finish return STRATA_ERR_INVAL
 * and keep nothing, because until the reply the source does not know k and
 * so cannot number substreams. The host holds its input until ready (the
 * header asks it to); a host that does not loses only what it pushed early.
 *
 * Packets: bytes are cut into payload_bytes chunks; chunk n is DATA seq n
 * (from 0), substream n mod k, stamped with the time of the push that
 * completed it. Each is stored once (pktstore, for repairs) and its buffer
 * is queued to every root child of its substream across all DCMs.
 * finish() sends the partial chunk, then EOS (no payload, seq one past the
 * last). After finish, push is refused.
 *
 * Manifest first. On a signed channel each packet is held
 * MANIFEST_LEAD_BATCHES batch times before it goes to the roots (still
 * stamped with the time of its push), so that its batch's manifest, sent
 * when the batch closes (batch_ms after its first packet at the latest),
 * travels ahead of it and every node can verify it on arrival. The first
 * batch time lets the batch close; the second is the manifest's lead over
 * the batch's last packet, for a manifest goes down one tree and may take
 * a longer path to a node than the packet took down its own. The stream
 * keeps its pace, that much later. Sent after its batch instead, the
 * manifest made every node hold a batch until it came and then relay it
 * at once: bursts of a batch times the node's children, which its uplink
 * queue dropped, and the repairs of those losses loaded the uplinks more
 * (a "repair storm": 50 simulated peers sent 30,000 repairs instead of
 * 400). With one batch time of lead, 10,000 simulated peers with 20 %
 * polluters delivered 0.99895 to the honest ones; with two, 0.99985.
 *
 * Instructions are kept per (DCM, substream), newest epoch wins. From them
 * the source derives, per substream, one send list of distinct children
 * (sorted by node id, so a child named by two DCMs is sent one copy),
 * which also carries each child's transmit history for heartbeats. The
 * number of DCMs followed is bounded.
 *
 * After joining again (the control center restarted, or declared the
 * source dead), the source keeps sending to the roots it knows until the
 * control center speaks: its first instruction outranks every epoch the
 * source held (a restarted control center adopts them from heartbeats),
 * and every DCM that still exists sends the source its instructions at
 * once (its source changed, or it was rebuilt). PRUNE_AFTER_HEARTBEATS
 * later, the DCMs that sent nothing since are gone: their sets go, so that
 * the roots of a DCM that no longer exists get no copies.
 *
 * Heartbeats carry one entry per (child, substream) link, but a datagram
 * has room for only strata_wire_hb_max_children(0) of them, fewer than a
 * source feeding many roots in several DCMs may have. Each heartbeat then
 * reports that many links, continuing where the last one stopped (round
 * robin over the send lists, substream by substream), so the DCMs see
 * every root link within ceil(links / room) heartbeats.
 *
 * Timers: the control session's (join until accepted, heartbeats after).
 */
#include "strata/source.h"

#include "pktstore.h"
#include "session.h"
#include "signer.h"

#include <stdlib.h>
#include <string.h>

enum source_limits {
    /* Batch times a signed stream's packet is held (see "Manifest first"). */
    MANIFEST_LEAD_BATCHES = 2,
    /* DCMs that instruct the source at once. The table grows as they come
     * and an entry goes when its DCM leaves the source no child: regions
     * come and go with the locality groups, and a restarted control
     * center numbers some DCMs afresh (a backbone; docs/design.md). */
    MAX_DCMS = 65536,
    DCM_TOMBSTONES = 64, /* recently dropped entries: older instructions for them are stale */
    OUTBOX_DATAGRAMS = 16384,
    LOG_LINES_PER_SECOND = 8,
    PRUNE_AFTER_HEARTBEATS = 2,
};

typedef struct dcm_instr {
    int have;
    uint32_t epoch;
    uint8_t n_children;
    strata_peer_ref children[STRATA_WIRE_MAX_CHILDREN];
} dcm_instr;

typedef struct dcm_entry {
    strata_dcm_id id;
    uint32_t max_epoch;
    dcm_instr subs[STRATA_WIRE_MAX_SUBSTREAMS];
} dcm_entry;

typedef struct send_child {
    strata_peer_ref ref;
    uint64_t last_tx_ts_ns;
    uint64_t last_tx_seq;
} send_child;

typedef struct send_list {
    send_child *items;
    size_t n;
} send_list;

struct strata_source {
    const strata_alloc *alloc;
    const strata_log *log;
    strata_node_id node;
    strata_channel_id channel;
    uint8_t name[STRATA_WIRE_MAX_NAME_BYTES];
    uint8_t name_len;
    uint32_t rate_kbps;
    uint32_t upload_kbps;
    size_t payload_bytes;
    strata_rng rng;

    strata_session ses; /* join, heartbeats, leave (session.h) */
    int ready;          /* accepted once: k is known and input flows */
    uint8_t k;
    size_t hb_child_next; /* first child link of the next heartbeat */
    uint32_t max_epoch;
    uint32_t heartbeat_ms;
    int rejoined;          /* joined again: the old DCM sets may be stale */
    uint32_t rejoin_epoch; /* max_epoch then */
    uint64_t prune_at;     /* when sets not renewed since are dropped; 0: not set */

    dcm_entry **dcms;
    size_t n_dcms, cap_dcms;
    struct {
        strata_dcm_id id;
        uint32_t epoch;
    } tomb[DCM_TOMBSTONES];
    size_t n_tomb;
    send_list lists[STRATA_WIRE_MAX_SUBSTREAMS];
    size_t roots;

    uint8_t *chunk;
    size_t chunk_len;
    uint64_t next_seq;
    uint64_t unsent_seq; /* signed: the first packet not yet sent to the roots */
    int finished;

    strata_pktstore store;
    int signing;            /* a signed channel: the signer below is set up */
    strata_signer signer;   /* signed streams (signer.h) */
    strata_repair_budget repair_budget; /* see pktstore.h */
    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_source_stats st;

    uint64_t log_window_ns;
    uint32_t log_lines;
};

/* Counts a drop; logs malformed datagrams as warnings and the rest at
 * debug level, at most LOG_LINES_PER_SECOND lines a second. */
static int drop(strata_source *s, uint64_t now, int err, int type, strata_addr from)
{
    strata_drop_count(&s->st.drops, err);
    int malformed = err == STRATA_ERR_SHORT || err == STRATA_ERR_LONG || err == STRATA_ERR_MAGIC ||
                    err == STRATA_ERR_VERSION || err == STRATA_ERR_TYPE;
    int level = malformed ? STRATA_LOG_WARN : STRATA_LOG_DEBUG;
    if (!s->log || s->log->max_level < level)
        return err;
    if (now - s->log_window_ns >= STRATA_S(1) || now < s->log_window_ns) {
        s->log_window_ns = now;
        s->log_lines = 0;
    }
    if (s->log_lines < LOG_LINES_PER_SECOND) {
        s->log_lines++;
        char a[32];
        strata_logf(s->log, level, "source %016llx: dropped datagram (type %d) from %s: %s",
                    (unsigned long long)s->node.v, type, strata_addr_format(from, a, sizeof a),
                    strata_strerror(err));
    }
    return err;
}

/* --- lifecycle ----------------------------------------------------------- */

strata_source *strata_source_new(const strata_source_config *cfg, const strata_alloc *a,
                                 uint64_t now)
{
    if (!cfg || cfg->node.v == 0 || !cfg->channel || cfg->rate_kbps == 0)
        return NULL;
    size_t name_len = strlen(cfg->channel);
    if (name_len == 0 || name_len > STRATA_WIRE_MAX_NAME_BYTES)
        return NULL;
    size_t payload = cfg->payload_bytes ? cfg->payload_bytes : STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES;
    if (payload > STRATA_WIRE_MAX_PAYLOAD_BYTES)
        return NULL;
    size_t store = cfg->store_packets ? cfg->store_packets : STRATA_SOURCE_DEFAULT_STORE_PACKETS;

    strata_source *s = strata_mem_calloc(a, 1, sizeof *s);
    if (!s)
        goto fail_alloc;
    s->alloc = a;
    s->log = cfg->log;
    s->node = cfg->node;
    s->channel = strata_channel_id_from_name(cfg->channel, name_len);
    memcpy(s->name, cfg->channel, name_len);
    s->name_len = (uint8_t)name_len;
    s->rate_kbps = cfg->rate_kbps;
    s->upload_kbps = cfg->upload_kbps;
    s->payload_bytes = payload;
    strata_rng_seed(&s->rng, cfg->seed);
    s->chunk = strata_mem_alloc(a, payload);
    if (!s->chunk)
        goto fail_chunk;
    if (strata_pktstore_init(&s->store, a, store) != 0)
        goto fail_store;
    /* Manifests kept: the store's packets in full batches, and as many
     * again for batches the clock closed early. */
    if (cfg->sign && strata_signer_init(&s->signer, a, s->channel, cfg->channel_sk,
                                        cfg->sign_parity, cfg->batch_ms,
                                        2 * (store / STRATA_MANIFEST_MAX_PACKETS + 1), NULL) != 0)
        goto fail_signer;
    s->signing = cfg->sign != 0;
    strata_repair_budget_init(&s->repair_budget, s->upload_kbps, cfg->repair_charge_bytes, now);
    s->outbox = cfg->outbox;
    if (!s->outbox && strata_outbox_init(&s->own_outbox, a, OUTBOX_DATAGRAMS) == 0)
        s->outbox = &s->own_outbox;
    if (!s->outbox)
        goto fail_outbox;
    strata_session_init(&s->ses, s->node, s->channel, cfg->control, 0, s->outbox, s->log,
                        "source", now);
    if (strata_session_set_token(&s->ses, cfg->token, cfg->token_len) != 0)
        goto fail_token;
    s->ses.auth = cfg->auth;
    s->log_window_ns = now;
    return s;

fail_token:
    strata_outbox_free(&s->own_outbox);
fail_outbox:
    if (s->signing)
        strata_signer_free(&s->signer);
fail_signer:
    strata_pktstore_free(&s->store);
fail_store:
    strata_mem_free(a, s->chunk);
fail_chunk:
    strata_mem_free(a, s);
fail_alloc:
    return NULL;
}

void strata_source_del(strata_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_dcms; i++)
        strata_mem_free(s->alloc, s->dcms[i]);
    strata_mem_free(s->alloc, s->dcms);
    for (size_t i = 0; i < STRATA_WIRE_MAX_SUBSTREAMS; i++)
        strata_mem_free(s->alloc, s->lists[i].items);
    strata_outbox_free(&s->own_outbox);
    if (s->signing)
        strata_signer_free(&s->signer);
    strata_pktstore_free(&s->store);
    strata_mem_free(s->alloc, s->chunk);
    strata_mem_free(s->alloc, s);
}

int strata_source_ready(const strata_source *s)
{
    return s->ready && s->ses.state != STRATA_SESSION_LEFT;
}
strata_outbox *strata_source_outbox(strata_source *s)
{
    return s->outbox;
}

/* --- send lists ---------------------------------------------------------- */

static int cmp_child(const void *a, const void *b)
{
    uint64_t x = ((const send_child *)a)->ref.node.v, y = ((const send_child *)b)->ref.node.v;
    return x < y ? -1 : x > y;
}

static const send_child *find_child(const send_list *l, strata_node_id id)
{
    send_child key;
    memset(&key, 0, sizeof key);
    key.ref.node = id;
    return l->n ? bsearch(&key, l->items, l->n, sizeof *l->items, cmp_child) : NULL;
}

/* Counts distinct children over every substream's list: a child counts
 * in the first list that names it. The lists are sorted, so no memory is
 * needed. */
static void count_roots(strata_source *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < STRATA_WIRE_MAX_SUBSTREAMS; i++) {
        for (size_t j = 0; j < s->lists[i].n; j++) {
            int earlier = 0;
            for (unsigned e = 0; e < i && !earlier; e++)
                earlier = find_child(&s->lists[e], s->lists[i].items[j].ref.node) != NULL;
            n += earlier ? 0u : 1u;
        }
    }
    s->roots = n;
}

/* Rebuilds the send list of substream sub from every DCM's instruction,
 * keeping the transmit history of children that stay. On failure the old
 * list stays. */
static int rebuild_list(strata_source *s, unsigned sub)
{
    send_list *old = &s->lists[sub];
    size_t total = 0;
    for (size_t i = 0; i < s->n_dcms; i++) {
        if (sub < s->k && s->dcms[i]->subs[sub].have)
            total += s->dcms[i]->subs[sub].n_children;
    }
    send_child *items = NULL;
    size_t n = 0;
    if (total) {
        items = strata_mem_calloc(s->alloc, total, sizeof *items);
        if (!items)
            return STRATA_ERR_NOMEM;
        for (size_t i = 0; i < s->n_dcms; i++) {
            const dcm_instr *in = &s->dcms[i]->subs[sub];
            if (!in->have)
                continue;
            for (unsigned j = 0; j < in->n_children; j++) {
                if (in->children[j].node.v == s->node.v)
                    continue;
                items[n++].ref = in->children[j];
            }
        }
        qsort(items, n, sizeof *items, cmp_child);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (w > 0 && items[w - 1].ref.node.v == items[i].ref.node.v)
                continue; /* the same child named by two DCMs */
            items[w] = items[i];
            const send_child *was = find_child(old, items[w].ref.node);
            if (was) {
                items[w].last_tx_ts_ns = was->last_tx_ts_ns;
                items[w].last_tx_seq = was->last_tx_seq;
            }
            w++;
        }
        n = w;
    }
    strata_mem_free(s->alloc, old->items);
    old->items = items;
    old->n = n;
    count_roots(s);
    return 0;
}

/* --- control plane ------------------------------------------------------- */

static void send_join(strata_source *s, uint64_t now)
{
    strata_msg_join m = {
        .node = s->node,
        .role = STRATA_ROLE_SOURCE,
        .upload_kbps = s->upload_kbps,
        .rate_kbps = s->rate_kbps,
        .name_len = s->name_len,
        .name = s->name,
    };
    strata_session_send_join(&s->ses, &m, now);
}

static void send_manifest(strata_source *s, int eos, uint64_t now);
static void send_held(strata_source *s, uint64_t now);

/* Forgets instructions of substreams at or beyond a new k. */
static int set_k(strata_source *s, uint8_t k)
{
    int err = 0;
    if (s->signing && s->k) {
        send_manifest(s, 0, 0); /* its groups were of the old k */
        send_held(s, STRATA_NEVER); /* to the trees of the old k */
    }
    s->k = k;
    for (size_t i = 0; i < s->n_dcms; i++) {
        for (unsigned j = k; j < STRATA_WIRE_MAX_SUBSTREAMS; j++)
            memset(&s->dcms[i]->subs[j], 0, sizeof s->dcms[i]->subs[j]);
    }
    for (unsigned j = 0; j < STRATA_WIRE_MAX_SUBSTREAMS; j++) {
        int e = rebuild_list(s, j);
        if (e)
            err = e;
    }
    return err;
}

static int handle_join_reply(strata_source *s, const uint8_t *buf, size_t len, uint64_t now)
{
    strata_msg_join_reply m;
    int err = strata_wire_decode_join_reply(buf, len, &m);
    if (err < 0)
        return err;
    if (m.node.v != s->node.v || m.channel.v != s->channel.v)
        return STRATA_ERR_UNEXPECTED;
    /* A source the control center forgot (it restarted) joins again and
     * sends on meanwhile, to the roots its instructions named. */
    if (!strata_session_on_join_reply(&s->ses, &m, now))
        return 0;
    if (m.k != s->k && set_k(s, m.k) == STRATA_ERR_NOMEM)
        return STRATA_ERR_NOMEM;
    strata_session_accept(&s->ses, &m, now);
    if (s->ready && s->n_dcms) {
        s->rejoined = 1;
        s->rejoin_epoch = s->max_epoch;
        s->prune_at = 0;
    }
    s->heartbeat_ms = m.heartbeat_ms;
    s->ready = 1;
    strata_logf(s->log, STRATA_LOG_INFO, "source %016llx: ready, k %u, heartbeat %u ms",
                (unsigned long long)s->node.v, (unsigned)m.k, (unsigned)m.heartbeat_ms);
    return 0;
}

static dcm_entry *dcm_get(strata_source *s, strata_dcm_id id, int create)
{
    for (size_t i = 0; i < s->n_dcms; i++) {
        if (s->dcms[i]->id.v == id.v)
            return s->dcms[i];
    }
    if (!create || s->n_dcms == MAX_DCMS)
        return NULL;
    if (s->n_dcms == s->cap_dcms) {
        size_t cap = s->cap_dcms ? s->cap_dcms * 2 : 8;
        dcm_entry **t = strata_mem_realloc(s->alloc, s->dcms, cap * sizeof *t);
        if (!t)
            return NULL;
        s->dcms = t;
        s->cap_dcms = cap;
    }
    dcm_entry *d = strata_mem_calloc(s->alloc, 1, sizeof *d);
    if (!d)
        return NULL;
    d->id = id;
    s->dcms[s->n_dcms++] = d;
    return d;
}

/* An instruction of a DCM whose entry was dropped, no newer than the one
 * that emptied it: stale. */
static int dcm_dropped(const strata_source *s, strata_dcm_id id, uint32_t epoch)
{
    for (size_t i = 0; i < s->n_tomb && i < DCM_TOMBSTONES; i++)
        if (s->tomb[i].id.v == id.v && epoch <= s->tomb[i].epoch)
            return 1;
    return 0;
}

/* Drops d once it has instructed every substream and leaves the source no
 * child in any. (Instructions of one change share an epoch: an entry
 * dropped before all of them came would take the rest for stale.) */
/* A dropped entry's late instructions, no newer than its last, are stale. */
static void remember_dropped(strata_source *s, const dcm_entry *d)
{
    size_t t = s->n_tomb++ % DCM_TOMBSTONES;
    s->tomb[t].id = d->id;
    s->tomb[t].epoch = d->max_epoch;
}

static void dcm_maybe_drop(strata_source *s, dcm_entry *d)
{
    for (unsigned j = 0; j < s->k && j < STRATA_WIRE_MAX_SUBSTREAMS; j++)
        if (!d->subs[j].have || d->subs[j].n_children)
            return;
    remember_dropped(s, d);
    for (size_t i = 0; i < s->n_dcms; i++) {
        if (s->dcms[i] == d) {
            s->dcms[i] = s->dcms[--s->n_dcms];
            break;
        }
    }
    strata_mem_free(s->alloc, d);
}

/* The repair budget gets what the trees leave of the upload (pktstore.h):
 * an entry of a send list is one child link. */
static void update_repair_budget(strata_source *s, uint64_t now)
{
    uint64_t links = 0;
    for (unsigned i = 0; i < s->k && i < STRATA_WIRE_MAX_SUBSTREAMS; i++)
        links += s->lists[i].n;
    strata_repair_budget_set_tree_links(&s->repair_budget, links, s->rate_kbps, s->k, now);
}

static int handle_instruction(strata_source *s, const uint8_t *buf, size_t len, uint64_t now)
{
    strata_msg_instruction m;
    int err = strata_wire_decode_instruction(buf, len, &m);
    if (err < 0)
        return err;
    if (m.node.v != s->node.v || m.channel.v != s->channel.v)
        return STRATA_ERR_UNEXPECTED;
    if (m.k != s->k) {
        if (s->k != 0 && m.epoch <= s->max_epoch)
            return 0; /* stale */
        err = set_k(s, m.k);
        if (err)
            return err;
    }
    /* Parity trees (EC_TREE substreams k + i) are rooted by preferred
     * nodes, which make the symbols (protocol.md 3.4); the source feeds
     * data trees only, and its lists have k entries. */
    if (m.substream >= s->k)
        return STRATA_ERR_UNEXPECTED;
    dcm_entry *d = dcm_get(s, m.dcm, 0);
    if (!d && dcm_dropped(s, m.dcm, m.epoch))
        return 0; /* stale */
    if (!d)
        d = dcm_get(s, m.dcm, 1);
    if (!d)
        return s->n_dcms == MAX_DCMS ? STRATA_ERR_UNEXPECTED : STRATA_ERR_NOMEM;
    dcm_instr *in = &d->subs[m.substream];
    if (in->have && m.epoch <= in->epoch)
        return 0;
    dcm_instr saved = *in;
    in->have = 1;
    in->epoch = m.epoch;
    in->n_children = m.n_children;
    memcpy(in->children, m.children, sizeof in->children);
    err = rebuild_list(s, m.substream);
    if (err) {
        *in = saved; /* try again when the control center resends */
        return err;
    }
    update_repair_budget(s, now);
    if (m.epoch > d->max_epoch)
        d->max_epoch = m.epoch;
    if (m.epoch > s->max_epoch)
        s->max_epoch = m.epoch;
    if (s->rejoined && !s->prune_at && m.epoch > s->rejoin_epoch) {
        uint64_t wait = STRATA_MS((uint64_t)s->heartbeat_ms * PRUNE_AFTER_HEARTBEATS);
        s->prune_at = now + wait > now ? now + wait : STRATA_NEVER;
    }
    dcm_maybe_drop(s, d);
    return 0;
}

/* Drops the sets of DCMs that sent nothing since the control center spoke
 * again (see the top of this file). */
static void prune_stale_dcms(strata_source *s, uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n_dcms; i++) {
        if (s->dcms[i]->max_epoch > s->rejoin_epoch) {
            s->dcms[kept++] = s->dcms[i];
            continue;
        }
        strata_logf(s->log, STRATA_LOG_INFO, "source %016llx: dcm %u is gone, its roots too",
                    (unsigned long long)s->node.v, (unsigned)s->dcms[i]->id.v);
        remember_dropped(s, s->dcms[i]);
        strata_mem_free(s->alloc, s->dcms[i]);
    }
    int changed = kept != s->n_dcms;
    s->n_dcms = kept;
    s->rejoined = 0;
    s->prune_at = 0;
    for (unsigned j = 0; changed && j < s->k; j++)
        rebuild_list(s, j); /* out of memory, a list stays as it was until its next change */
    if (changed)
        update_repair_budget(s, now);
}

static void send_heartbeat(strata_source *s, uint64_t now)
{
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    strata_session_heartbeat_header(&s->ses, &hb, now);
    hb.dcm.v = 0; /* the source belongs to every DCM of its channel */
    hb.instr_epoch = s->max_epoch;
    hb.upload_kbps = s->upload_kbps;
    hb.tx_data_bytes = s->st.tx_data_bytes;
    hb.n_parents = 0;
    /* The window of links this heartbeat has room for; link t of the
     * fixed order lands at entry (t - first) mod links. */
    size_t links = 0;
    for (unsigned i = 0; i < s->k; i++)
        links += s->lists[i].n;
    size_t room = strata_session_hb_max_children(&s->ses, 0);
    size_t first = 0, nc = links;
    if (links > room) {
        first = s->hb_child_next % links;
        nc = room;
    }
    size_t t = 0;
    for (unsigned i = 0; i < s->k; i++) {
        const send_list *l = &s->lists[i];
        for (size_t j = 0; j < l->n; j++, t++) {
            size_t at = (t + links - first) % links;
            if (at >= nc)
                continue;
            strata_hb_child *c = &hb.children[at];
            c->child = l->items[j].ref.node;
            c->substream = (uint8_t)i;
            c->last_tx_ts_ns = l->items[j].last_tx_ts_ns;
            c->last_tx_seq = l->items[j].last_tx_seq;
        }
    }
    hb.n_children = (uint8_t)nc;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    if (n < 0) {
        /* Cannot happen with entries taken from valid instructions; but a
         * heartbeat is also the source's sign of life, so it goes without
         * children rather than not at all. */
        hb.n_children = 0;
        n = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    }
    /* The window moves on only when this one went out. */
    if (strata_session_send(&s->ses, buf, n) == 0 && hb.n_children == nc)
        s->hb_child_next = links > room ? (first + room) % links : 0;
}

/* --- data plane ---------------------------------------------------------- */

static void send_to_roots(strata_source *s, const strata_pktstore_entry *e, uint64_t now)
{
    send_list *l = &s->lists[e->substream];
    for (size_t i = 0; i < l->n; i++) {
        send_child *c = &l->items[i];
        if (strata_addr_is_zero(c->ref.addr))
            continue;
        if (strata_outbox_push(s->outbox, c->ref.addr, e->buf) != 0)
            continue;
        c->last_tx_ts_ns = now;
        c->last_tx_seq = e->seq;
        s->st.tx_data_packets++;
        s->st.tx_data_bytes += e->buf->len;
    }
}

/* When the oldest held packet is due (see "Manifest first" above). */
static uint64_t held_due(const strata_source *s)
{
    if (s->unsent_seq >= s->next_seq)
        return STRATA_NEVER;
    const strata_pktstore_entry *e = strata_pktstore_get(&s->store, s->unsent_seq);
    uint64_t hold = MANIFEST_LEAD_BATCHES * s->signer.batch_ns;
    if (!e || e->send_ts_ns > UINT64_MAX - hold)
        return 0; /* gone from the store: skipped at once */
    return e->send_ts_ns + hold;
}

/* Sends the held packets due by now, in order. */
static void send_held(strata_source *s, uint64_t now)
{
    while (s->unsent_seq < s->next_seq && held_due(s) <= now) {
        const strata_pktstore_entry *e = strata_pktstore_get(&s->store, s->unsent_seq);
        if (e)
            send_to_roots(s, e, now);
        s->unsent_seq++;
    }
}

static int emit_packet(strata_source *s, const uint8_t *payload, size_t len, uint8_t flags,
                       uint64_t now)
{
    strata_msg_data m = {
        .channel = s->channel,
        .seq = s->next_seq,
        .substream = (uint8_t)(s->next_seq % s->k),
        .flags = flags,
        .send_ts_ns = now,
        .payload_len = (uint16_t)len,
        .payload = len ? payload : NULL,
    };
    const strata_pktstore_entry *e;
    int err = strata_pktstore_put_data(&s->store, &m, &e);
    if (err)
        return err == STRATA_ERR_NOMEM ? err : STRATA_ERR_INVAL;
    s->next_seq++;
    s->st.packets_sent++;
    if (!s->signing) {
        send_to_roots(s, e, now);
        s->unsent_seq = s->next_seq;
        return 0;
    }
    if (!(flags & STRATA_DATA_FLAG_EOS)) {
        int full = strata_signer_add(&s->signer, &m, &s->store, s->k, now);
        if (full < 0) { /* the batch is of another k: close it, open another */
            send_manifest(s, 0, now);
            full = strata_signer_add(&s->signer, &m, &s->store, s->k, now);
        }
        if (full > 0)
            send_manifest(s, 0, now);
    }
    send_held(s, now);
    return 0;
}

/* Closes the open batch into its signed manifest (with eos, the one that
 * ends the stream at next_seq) and sends it to the roots of the
 * substream of the batch's last packet: the manifest follows that packet
 * down its tree, and every node is in every data tree. */
static void send_manifest(strata_source *s, int eos, uint64_t now)
{
    int err;
    const strata_manifest_entry *e = strata_signer_close(&s->signer, eos, s->next_seq, &err);
    if (!e) {
        if (err)
            strata_logf(s->log, STRATA_LOG_WARN, "source %016llx: no manifest: %s",
                        (unsigned long long)s->node.v, strata_strerror(err));
        return;
    }
    s->st.manifests_signed++;
    uint64_t last = e->m.count ? e->m.first_seq + e->m.count - 1 : e->m.first_seq;
    const send_list *l = &s->lists[s->k ? last % s->k : 0];
    for (size_t i = 0; i < l->n; i++) {
        if (strata_addr_is_zero(l->items[i].ref.addr))
            continue;
        if (strata_outbox_push(s->outbox, l->items[i].ref.addr, e->buf) == 0)
            s->st.manifests_sent++;
    }
    (void)now;
}

int strata_source_push(strata_source *s, const uint8_t *buf, size_t len, uint64_t now)
{
    if (!strata_source_ready(s) || s->finished || (len && !buf))
        return STRATA_ERR_INVAL;
    while (len) {
        size_t take = s->payload_bytes - s->chunk_len;
        if (take > len)
            take = len;
        memcpy(s->chunk + s->chunk_len, buf, take);
        s->chunk_len += take;
        buf += take;
        len -= take;
        s->st.bytes_in += take;
        if (s->chunk_len == s->payload_bytes) {
            int err = emit_packet(s, s->chunk, s->chunk_len, 0, now);
            if (err)
                return err; /* the chunk stays for the next push */
            s->chunk_len = 0;
        }
    }
    return 0;
}

int strata_source_finish(strata_source *s, uint64_t now)
{
    if (!strata_source_ready(s))
        return STRATA_ERR_INVAL;
    if (s->finished)
        return 0;
    if (s->chunk_len) {
        int err = emit_packet(s, s->chunk, s->chunk_len, 0, now);
        if (err)
            return err;
        s->chunk_len = 0;
    }
    if (s->signing)
        send_manifest(s, 1, now); /* the end of the stream is signed */
    int err = emit_packet(s, NULL, 0, STRATA_DATA_FLAG_EOS, now);
    if (err)
        return err;
    s->finished = 1;
    return 0;
}

static int handle_repair_request(strata_source *s, strata_addr from, const uint8_t *buf, size_t len,
                                 uint64_t now)
{
    strata_msg_repair m;
    int err = strata_wire_decode_repair(buf, len, &m);
    if (err < 0)
        return err;
    if (m.channel.v != s->channel.v || m.node.v == s->node.v)
        return STRATA_ERR_UNEXPECTED;
    /* The source is every peer's last resort, so it is the node most
     * likely to be asked by many at once: its answers are bounded to a
     * share of its upload (pktstore.h) so that the trees keep theirs. */
    uint64_t packets = 0, bytes = 0, refused = 0;
    err = strata_pktstore_answer_repair_budget(&s->store, &m, from, s->outbox, &s->repair_budget,
                                               now, &packets, &bytes, &refused);
    s->st.repair_requests_served++;
    if (refused)
        s->st.repair_requests_refused++;
    s->st.tx_data_packets += packets;
    s->st.tx_data_bytes += bytes;
    return err;
}

/* MANIFEST_REQUEST (protocol.md 3.11.2): answered from the manifests
 * made, within the repair budget, as a repair is. */
static int handle_manifest_request(strata_source *s, strata_addr from, const uint8_t *buf,
                                   size_t len, uint64_t now)
{
    strata_msg_manifest_request m;
    int err = strata_manifest_decode_request(buf, len, &m);
    if (err < 0)
        return err;
    if (!s->signing || m.channel.v != s->channel.v || m.node.v == s->node.v)
        return STRATA_ERR_UNEXPECTED;
    strata_buf *b = strata_manifest_store_answer(&s->signer.store, &m);
    if (b && strata_repair_budget_take(&s->repair_budget, b->len, now) &&
        strata_outbox_push(s->outbox, from, b) == 0)
        s->st.manifest_requests_served++;
    return 0;
}

int strata_source_handle_datagram(strata_source *s, strata_addr from, const uint8_t *buf,
                                  size_t buflen, uint64_t now)
{
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return drop(s, now, type, 0, from);
    if (s->ses.state == STRATA_SESSION_LEFT)
        return drop(s, now, STRATA_ERR_UNEXPECTED, type, from);
    int err;
    switch (type) {
    case STRATA_MSG_JOIN_REPLY:
        err = handle_join_reply(s, buf, buflen, now);
        break;
    case STRATA_MSG_INSTRUCTION:
        err = handle_instruction(s, buf, buflen, now);
        break;
    case STRATA_MSG_REPAIR_REQUEST:
        err = handle_repair_request(s, from, buf, buflen, now);
        break;
    case STRATA_MSG_MANIFEST_REQUEST:
        err = handle_manifest_request(s, from, buf, buflen, now);
        break;
    default:
        err = STRATA_ERR_UNEXPECTED;
        break;
    }
    if (err < 0 && strata_err_is_input(err))
        return drop(s, now, err, type, from);
    return err;
}

/* --- timers -------------------------------------------------------------- */

void strata_source_handle_timeout(strata_source *s, uint64_t now)
{
    if (s->prune_at && now >= s->prune_at)
        prune_stale_dcms(s, now);
    if (strata_session_join_due(&s->ses, now))
        send_join(s, now);
    if (strata_session_heartbeat_due(&s->ses, now)) {
        send_heartbeat(s, now);
        strata_session_heartbeat_sent(&s->ses, now);
    }
    if (s->signing && now >= strata_signer_deadline(&s->signer))
        send_manifest(s, 0, now); /* a batch the stream's pace did not fill */
    if (s->signing)
        send_held(s, now);
}

uint64_t strata_source_next_timeout(const strata_source *s)
{
    uint64_t t = strata_session_next_timeout(&s->ses);
    if (s->signing && strata_signer_deadline(&s->signer) < t)
        t = strata_signer_deadline(&s->signer);
    if (s->signing && held_due(s) < t)
        t = held_due(s);
    return s->prune_at && s->prune_at < t ? s->prune_at : t;
}

void strata_source_leave(strata_source *s, uint64_t now)
{
    strata_session_leave(&s->ses);
    (void)now;
}

void strata_source_get_stats(const strata_source *s, strata_source_stats *st)
{
    *st = s->st;
    st->joined = s->ready;
    st->next_seq = s->next_seq;
    st->roots = s->roots;
}
