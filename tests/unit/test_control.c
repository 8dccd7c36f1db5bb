/*
 * The control center driven like a host would: encoded datagrams from fake
 * node addresses, a test-owned clock, and every outbox datagram decoded and
 * delivered to the fake node it is addressed to. Each fake node keeps, per
 * (DCM, substream), the highest-epoch INSTRUCTION it received, exactly as a
 * real node does; the checks rebuild the topology from those alone.
 */
#include "strata/control.h"
#include "strata/tree.h"
#include "preferred.h" /* the probation a waypoint's replacements serve */
#include "testutil.h"

#include <stdio.h>

enum {
    MAXN = 48, /* fake nodes */
    MAXD = 32, /* DCMs one fake node can hear from (a source hears from all) */
    K = 4,
    T = STRATA_WIRE_MAX_TREES, /* instructions a fake node keeps per DCM: data and parity trees */
    HB_MS = 1000,
};

typedef struct fdcm {
    uint32_t dcm;
    uint8_t have[T];
    strata_msg_instruction in[T];
} fdcm;

typedef struct fnode {
    int used;
    int alive; /* sends heartbeats and takes part in the checks */
    int deaf;  /* drops whatever the control sends it */
    strata_node_id id;
    strata_addr addr;
    uint8_t role;
    uint32_t upload_kbps, rate_kbps;
    const char *label;
    const char *channel;
    uint8_t priority;
    int replies;
    strata_msg_join_reply reply;
    fdcm d[MAXD];
    int nd;
    uint32_t epoch; /* highest applied */
    uint64_t instr_rx;
    uint32_t hb_seq;
    uint64_t rx_seq[T];
    int freeze_rx; /* substream whose rx_seq stops advancing, or -1 */
    uint64_t tx_seq, played, missed, tx_bytes, recovered;
    /* heartbeat overrides for specific tests */
    int lie_parents;
    int recruits, releases; /* RECRUITs received, with and without RELEASE */
    char recruit_name[72];
    int hb_epoch_override;
    uint32_t hb_epoch;
} fnode;

typedef struct net {
    strata_control *c;
    uint64_t now;
    fnode n[MAXN];
    uint64_t stray; /* datagrams to an address no fake node has */
    uint64_t probe_replies;
    uint64_t bad_instr; /* instructions addressed to someone else */
    strata_msg_probe_reply last_probe;
} net;

static net *net_new(const strata_control_config *cfg)
{
    net *t = calloc(1, sizeof *t);
    t->now = STRATA_S(100);
    t->c = strata_control_new(cfg, NULL, t->now);
    CHECK(t->c != NULL);
    return t;
}

static void net_del(net *t)
{
    strata_control_del(t->c);
    free(t);
}

static fnode *add_node(net *t, uint64_t id, uint32_t ipv4, uint8_t role, uint32_t upload,
                       const char *label)
{
    for (int i = 0; i < MAXN; i++) {
        fnode *f = &t->n[i];
        if (f->used)
            continue;
        memset(f, 0, sizeof *f);
        f->used = 1;
        f->id.v = id;
        f->addr = (strata_addr){ipv4, (uint16_t)(5000 + i)};
        f->role = role;
        f->upload_kbps = upload;
        f->rate_kbps = role == STRATA_ROLE_SOURCE ? 1000 : 0;
        f->label = label;
        f->channel = "news";
        f->freeze_rx = -1;
        return f;
    }
    CHECK(0);
    return NULL;
}

static fnode *by_addr(net *t, strata_addr a)
{
    for (int i = 0; i < MAXN; i++)
        if (t->n[i].used && strata_addr_eq(t->n[i].addr, a))
            return &t->n[i];
    return NULL;
}

static fnode *by_id(net *t, uint64_t id)
{
    for (int i = 0; i < MAXN; i++)
        if (t->n[i].used && t->n[i].id.v == id)
            return &t->n[i];
    return NULL;
}

/* A peer, or a waypoint placed in the trees: follows the newest epoch
 * whatever DCM names it (strata_peer). */
static int in_trees_as_peer(const fnode *f)
{
    return f->role == STRATA_ROLE_PEER || f->role == STRATA_ROLE_WAYPOINT;
}

static fdcm *dcm_slot(fnode *f, uint32_t dcm, int create)
{
    for (int i = 0; i < f->nd; i++)
        if (f->d[i].dcm == dcm)
            return &f->d[i];
    if (!create || f->nd == MAXD)
        return NULL;
    fdcm *d = &f->d[f->nd++];
    memset(d, 0, sizeof *d);
    d->dcm = dcm;
    return d;
}

/* A node's instruction for substream s: the source keeps one per DCM; a
 * peer, like strata_peer, follows the newest epoch whatever DCM names it (a
 * region's head gets its instructions in the backbone's name). */
static const strata_msg_instruction *latest(fnode *f, uint32_t dcm, int s)
{
    if (in_trees_as_peer(f)) {
        const strata_msg_instruction *best = NULL;
        for (int i = 0; i < f->nd; i++)
            if (f->d[i].have[s] && (!best || f->d[i].in[s].epoch > best->epoch))
                best = &f->d[i].in[s];
        return best;
    }
    fdcm *d = dcm_slot(f, dcm, 0);
    return d && d->have[s] ? &d->in[s] : NULL;
}

/* A region's head: a peer whose instructions come in the name of the level
 * above the regions (the backbone or the mesh: level 1). */
static int is_head(fnode *f)
{
    const strata_msg_instruction *in = latest(f, 0, 0);
    return in_trees_as_peer(f) && in && in->level == 1;
}

static void deliver(net *t, fnode *f, const uint8_t *buf, size_t len)
{
    int type = strata_wire_peek_type(buf, len);
    if (type == STRATA_MSG_JOIN_REPLY) {
        strata_msg_join_reply r;
        CHECK_EQ_INT(strata_wire_decode_join_reply(buf, len, &r), (int)len);
        CHECK_EQ_U64(r.node.v, f->id.v);
        f->reply = r;
        f->replies++;
    } else if (type == STRATA_MSG_INSTRUCTION) {
        strata_msg_instruction in;
        CHECK_EQ_INT(strata_wire_decode_instruction(buf, len, &in), (int)len);
        if (in.node.v != f->id.v) {
            t->bad_instr++;
            return;
        }
        f->instr_rx++;
        CHECK_EQ_INT(in.k, K);
        if (in.substream >= K + in.n)
            return;
        fdcm *d = dcm_slot(f, in.dcm.v, 1);
        CHECK(d != NULL);
        if (d && (!d->have[in.substream] || in.epoch > d->in[in.substream].epoch)) {
            d->in[in.substream] = in;
            d->have[in.substream] = 1;
        }
        if (in.epoch > f->epoch)
            f->epoch = in.epoch;
    } else if (type == STRATA_MSG_RECRUIT) {
        strata_msg_recruit m;
        CHECK_EQ_INT(strata_wire_decode_recruit(buf, len, &m), (int)len);
        CHECK_EQ_U64(m.node.v, f->id.v);
        if (m.flags & STRATA_RECRUIT_RELEASE)
            f->releases++;
        else
            f->recruits++;
        memcpy(f->recruit_name, m.name, m.name_len);
        f->recruit_name[m.name_len] = '\0';
    } else if (type == STRATA_MSG_PROBE_REPLY) {
        CHECK_EQ_INT(strata_wire_decode_probe_reply(buf, len, &t->last_probe), (int)len);
        t->probe_replies++;
    } else {
        fprintf(stderr, "unexpected message type %d from the control\n", type);
        CHECK(0);
    }
}

/* The fake node a datagram is for: by address and, for a node in several
 * channels (one fake node each), by the channel the datagram names. */
static fnode *recipient(net *t, strata_addr a, const uint8_t *buf, size_t len)
{
    strata_channel_id ch;
    if (strata_wire_peek_channel(buf, len, &ch) < 0)
        return by_addr(t, a);
    for (int i = 0; i < MAXN; i++) {
        fnode *f = &t->n[i];
        if (f->used && strata_addr_eq(f->addr, a) &&
            strata_channel_id_from_name(f->channel, strlen(f->channel)).v == ch.v)
            return f;
    }
    return NULL;
}

static void drain(net *t)
{
    strata_datagram dg;
    while (strata_outbox_pop(strata_control_outbox(t->c), &dg)) {
        fnode *f = recipient(t, dg.to, dg.buf->data, dg.buf->len);
        if (!f)
            t->stray++;
        else if (!f->deaf)
            deliver(t, f, dg.buf->data, dg.buf->len);
        strata_buf_unref(dg.buf);
    }
}

static int send_raw(net *t, strata_addr from, const uint8_t *buf, size_t len)
{
    int rc = strata_control_handle_datagram(t->c, from, buf, len, t->now);
    drain(t);
    return rc;
}

static strata_channel_id chan(const fnode *f)
{
    return strata_channel_id_from_name(f->channel, strlen(f->channel));
}

static int encode_join(const fnode *f, uint8_t *buf, size_t cap)
{
    strata_msg_join j;
    memset(&j, 0, sizeof j);
    j.node = f->id;
    j.role = f->role;
    j.upload_kbps = f->upload_kbps;
    j.rate_kbps = f->rate_kbps;
    j.name = (const uint8_t *)f->channel;
    j.name_len = (uint8_t)strlen(f->channel);
    j.region = (const uint8_t *)f->label;
    j.region_len = f->label ? (uint8_t)strlen(f->label) : 0;
    j.priority = f->priority;
    return strata_wire_encode_join(buf, cap, &j);
}

static int send_join(net *t, fnode *f)
{
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = encode_join(f, buf, sizeof buf);
    CHECK(len > 0);
    f->alive = 1;
    return send_raw(t, f->addr, buf, (size_t)len);
}

static int send_leave(net *t, fnode *f)
{
    strata_msg_leave m = {f->id, chan(f), f->reply.dcm};
    uint8_t buf[64];
    int len = strata_wire_encode_leave(buf, sizeof buf, &m);
    CHECK(len > 0);
    f->alive = 0;
    return send_raw(t, f->addr, buf, (size_t)len);
}

static int send_hb(net *t, fnode *f)
{
    static strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node = f->id;
    hb.channel = chan(f);
    hb.dcm = f->reply.dcm;
    hb.hb_seq = ++f->hb_seq;
    hb.local_ts_ns = t->now;
    hb.instr_epoch = f->hb_epoch_override ? f->hb_epoch : f->epoch;
    hb.upload_kbps = f->upload_kbps;
    hb.played_packets = f->played;
    hb.missed_packets = f->missed;
    hb.recovered_packets = f->recovered;
    hb.tx_data_bytes = f->tx_bytes;
    if (in_trees_as_peer(f)) {
        /* As strata_peer: the DCM and level of the newest instruction. */
        for (int i = 0; i < f->nd; i++)
            for (int s = 0; s < T; s++)
                if (f->d[i].have[s] && f->d[i].in[s].epoch >= hb.instr_epoch) {
                    hb.dcm = f->d[i].in[s].dcm;
                    hb.level = f->d[i].in[s].level;
                }
        /* A member of an EC cluster reports its parity trees' parents too. */
        const strata_msg_instruction *first = latest(f, f->reply.dcm.v, 0);
        hb.n_parents =
            (uint8_t)(K + (first && first->algorithm == STRATA_ALG_EC_TREE ? first->n : 0));
        for (int s = 0; s < hb.n_parents; s++) {
            const strata_msg_instruction *in = latest(f, f->reply.dcm.v, s);
            hb.parents[s].parent = in ? in->parent.node : (strata_node_id){0};
            if (f->lie_parents)
                hb.parents[s].parent.v = 0xdeadbeef;
            hb.parents[s].last_rx_seq = f->rx_seq[s];
        }
    } else if (f->tx_seq) {
        hb.n_children = 1;
        hb.children[0].child.v = 1;
        hb.children[0].last_tx_seq = f->tx_seq;
    }
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    CHECK(len > 0);
    return send_raw(t, f->addr, buf, (size_t)len);
}

/* One heartbeat interval: the stream advances, every live node reports,
 * the control runs its timer. */
static void tick(net *t)
{
    t->now += STRATA_MS(HB_MS);
    for (int i = 0; i < MAXN; i++) {
        fnode *f = &t->n[i];
        if (!f->used || !f->alive)
            continue;
        for (int s = 0; s < T; s++)
            if (s != f->freeze_rx)
                f->rx_seq[s] += 10;
        send_hb(t, f);
    }
    if (strata_control_next_timeout(t->c) <= t->now)
        strata_control_handle_timeout(t->c, t->now);
    drain(t);
}

static uint32_t slots_of(uint32_t upload, uint32_t rate)
{
    uint64_t s = (uint64_t)upload * K / rate;
    return s > STRATA_WIRE_MAX_CHILDREN ? STRATA_WIRE_MAX_CHILDREN : (uint32_t)s;
}

static int ref_lists(const strata_msg_instruction *in, uint64_t id)
{
    for (int i = 0; i < in->n_children; i++)
        if (in->children[i].node.v == id)
            return 1;
    return 0;
}

/* Whether an instruction names src, with its current address, as the
 * channel's source (protocol.md 3.4). */
static int names_source(const strata_msg_instruction *in, const fnode *src)
{
    return in->source.node.v == src->id.v && strata_addr_eq(in->source.addr, src->addr);
}

/* Rebuilds the topology of the channel from the latest instructions and
 * checks it; returns the number of problems (each printed). With detached
 * set, a peer without a parent in a substream is counted there instead of
 * being a problem (the trees may lack capacity). Every instruction must
 * name src as the source. */
static int same_channel(const fnode *a, const fnode *b)
{
    return strcmp(a->channel, b->channel) == 0;
}

/* Node id in the channel of fake node like (a node in two channels is two
 * fake nodes). */
static fnode *by_id_in(net *t, uint64_t id, const fnode *like)
{
    for (int i = 0; i < MAXN; i++)
        if (t->n[i].used && t->n[i].id.v == id && same_channel(&t->n[i], like))
            return &t->n[i];
    return NULL;
}

static int check_topology_ex(net *t, fnode *src, uint32_t rate, size_t *detached)
{
    int bad = 0;
    for (int i = 0; i < MAXN; i++) {
        fnode *p = &t->n[i];
        if (!p->used || !p->alive || p->role != STRATA_ROLE_PEER || !same_channel(p, src))
            continue;
        uint32_t dcm = p->reply.dcm.v;
        uint32_t kids = 0;
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(p, dcm, s);
            if (!in) {
                fprintf(stderr, "peer %llu: no instruction for substream %d\n",
                        (unsigned long long)p->id.v, s);
                bad++;
                continue;
            }
            if (in->channel.v != chan(p).v || in->k != K || in->algorithm != STRATA_ALG_TREE) {
                fprintf(stderr, "peer %llu substream %d: channel, k or algorithm %u\n",
                        (unsigned long long)p->id.v, s, (unsigned)in->algorithm);
                bad++;
            }
            if (!names_source(in, src)) {
                fprintf(stderr, "peer %llu substream %d: source ref %llu is not the source\n",
                        (unsigned long long)p->id.v, s, (unsigned long long)in->source.node.v);
                bad++;
            }
            kids += in->n_children;
            if (detached && in->parent.node.v == 0) {
                (*detached)++;
                continue;
            }
            fnode *par = in->parent.node.v ? by_id_in(t, in->parent.node.v, src) : NULL;
            if (!par || !par->alive) {
                fprintf(stderr, "peer %llu substream %d: parent %llu missing or dead\n",
                        (unsigned long long)p->id.v, s, (unsigned long long)in->parent.node.v);
                bad++;
                continue;
            }
            if (!strata_addr_eq(in->parent.addr, par->addr)) {
                fprintf(stderr, "peer %llu: parent ref has a stale address\n",
                        (unsigned long long)p->id.v);
                bad++;
            }
            /* Parent and child share a DCM, but for a region's head (in the
             * backbone) and its root children. */
            const strata_msg_instruction *pl = latest(par, 0, s);
            if (par != src && !is_head(p) && !is_head(par) && pl && pl->dcm.v != in->dcm.v) {
                fprintf(stderr, "peer %llu substream %d: parent %llu in another DCM\n",
                        (unsigned long long)p->id.v, s, (unsigned long long)par->id.v);
                bad++;
            }
            const strata_msg_instruction *pin = latest(par, in->dcm.v, s);
            if (!pin || !ref_lists(pin, p->id.v)) {
                fprintf(stderr, "peer %llu substream %d: parent %llu does not list it\n",
                        (unsigned long long)p->id.v, s, (unsigned long long)par->id.v);
                bad++;
            }
            /* No cycles: the parent chain reaches the source. */
            fnode *q = p;
            int hops = 0;
            while (q && q != src && hops <= MAXN) {
                const strata_msg_instruction *qi = latest(q, dcm, s);
                q = qi && qi->parent.node.v ? by_id_in(t, qi->parent.node.v, src) : NULL;
                hops++;
            }
            if (q != src) {
                fprintf(stderr, "peer %llu substream %d: chain does not reach the source\n",
                        (unsigned long long)p->id.v, s);
                bad++;
            }
        }
        if (kids > slots_of(p->upload_kbps, rate)) {
            fprintf(stderr, "peer %llu: %u children > capacity %u\n", (unsigned long long)p->id.v,
                    kids, slots_of(p->upload_kbps, rate));
            bad++;
        }
    }
    /* Children lists agree with the parents' view. */
    for (int i = 0; i < MAXN; i++) {
        fnode *x = &t->n[i];
        if (!x->used || !x->alive || !same_channel(x, src))
            continue;
        for (int d = 0; d < x->nd; d++) {
            for (int s = 0; s < K; s++) {
                if (!x->d[d].have[s])
                    continue;
                const strata_msg_instruction *in = &x->d[d].in[s];
                if (x != src && in != latest(x, 0, s))
                    continue; /* superseded: a peer follows its newest */
                if (x == src && !names_source(in, src)) {
                    fprintf(stderr, "source: dcm %u substream %d does not name it\n", x->d[d].dcm,
                            s);
                    bad++;
                }
                for (int c = 0; c < in->n_children; c++) {
                    fnode *ch = by_id_in(t, in->children[c].node.v, src);
                    const strata_msg_instruction *cin = ch ? latest(ch, x->d[d].dcm, s) : NULL;
                    if (!ch || !ch->alive || !cin || cin->parent.node.v != x->id.v ||
                        !strata_addr_eq(in->children[c].addr, ch->addr)) {
                        fprintf(stderr,
                                "node %llu dcm %u substream %d lists child %llu "
                                "that does not agree\n",
                                (unsigned long long)x->id.v, x->d[d].dcm, s,
                                (unsigned long long)in->children[c].node.v);
                        bad++;
                    }
                }
            }
        }
    }
    return bad;
}

static int check_topology(net *t, fnode *src, uint32_t rate)
{
    return check_topology_ex(t, src, rate, NULL);
}

/* How many refs (parent, source or child) in live nodes' latest
 * instructions name id. */
static int names(net *t, uint64_t id)
{
    int n = 0;
    for (int i = 0; i < MAXN; i++) {
        fnode *x = &t->n[i];
        if (!x->used || !x->alive)
            continue;
        for (int d = 0; d < x->nd; d++)
            for (int s = 0; s < K; s++) {
                if (!x->d[d].have[s])
                    continue;
                const strata_msg_instruction *in = &x->d[d].in[s];
                if (x->role == STRATA_ROLE_PEER && in != latest(x, 0, s))
                    continue; /* superseded */
                n += in->parent.node.v == id;
                n += in->source.node.v == id;
                n += ref_lists(in, id);
            }
    }
    return n;
}

/* The interior peer (one with children in some substream) of least upload,
 * so that the trees can still hold everyone without it; or NULL. */
static fnode *interior_peer(net *t)
{
    fnode *best = NULL;
    for (int i = 0; i < MAXN; i++) {
        fnode *p = &t->n[i];
        if (!p->used || !p->alive || p->role != STRATA_ROLE_PEER)
            continue;
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(p, p->reply.dcm.v, s);
            if (in && in->n_children > 0 && (!best || p->upload_kbps < best->upload_kbps))
                best = p;
        }
    }
    return best;
}

static const uint32_t uploads[12] = {3000, 2000, 2000, 1000, 1000, 1000, 500, 500, 250, 250, 0, 0};

static strata_control_config base_cfg(void)
{
    strata_control_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.k = K;
    cfg.heartbeat_ms = HB_MS;
    cfg.seed = 42;
    return cfg;
}

/* 1 source + 12 peers; 4 peers join before the source. */
static fnode *populate(net *t, fnode **peers)
{
    for (int i = 0; i < 4; i++) {
        peers[i] = add_node(t, 100 + (uint64_t)i, 0x0a010200u + (uint32_t)i, STRATA_ROLE_PEER,
                            uploads[i], NULL);
        send_join(t, peers[i]);
        CHECK_EQ_INT(peers[i]->replies, 1);
        CHECK_EQ_INT(peers[i]->reply.status, STRATA_JOIN_OK);
        CHECK_EQ_U64(peers[i]->reply.rate_kbps, 0); /* no source yet */
        CHECK_EQ_U64(peers[i]->reply.start_seq, 0);
        CHECK_EQ_INT(peers[i]->reply.k, K);
        CHECK_EQ_U64(peers[i]->reply.heartbeat_ms, HB_MS);
        CHECK_EQ_U64(peers[i]->reply.dcm.v, 1);
        CHECK(peers[i]->instr_rx >= K);
    }
    /* Before the source, parents that are "the source" are zero refs, and
     * so is the source ref of every instruction. */
    uint32_t epoch_before = peers[0]->epoch;
    const strata_msg_instruction *in0 = latest(peers[0], 1, 0);
    CHECK(in0 && in0->parent.node.v == 0);
    for (int i = 0; i < 4; i++)
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(peers[i], 1, s);
            CHECK(in && in->source.node.v == 0 && strata_addr_is_zero(in->source.addr));
        }

    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 4000, NULL);
    send_join(t, src);
    CHECK_EQ_INT(src->replies, 1);
    CHECK_EQ_INT(src->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_U64(src->reply.dcm.v, 0);
    CHECK_EQ_U64(src->reply.rate_kbps, 1000);
    CHECK(latest(src, 1, 0) != NULL);
    /* The early peers got new instructions naming the source, all of them
     * as the source and the roots also as their parent. */
    for (int i = 0; i < 4; i++)
        CHECK(peers[i]->epoch > epoch_before);
    int names_src = 0;
    for (int i = 0; i < 4; i++)
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(peers[i], 1, s);
            CHECK(in && names_source(in, src));
            if (in && in->parent.node.v == src->id.v) {
                names_src++;
                CHECK(strata_addr_eq(in->parent.addr, src->addr));
            }
        }
    CHECK(names_src > 0);

    for (int i = 4; i < 12; i++) {
        peers[i] = add_node(t, 100 + (uint64_t)i, 0x0a010200u + (uint32_t)i, STRATA_ROLE_PEER,
                            uploads[i], NULL);
        send_join(t, peers[i]);
        CHECK_EQ_INT(peers[i]->reply.status, STRATA_JOIN_OK);
        CHECK_EQ_U64(peers[i]->reply.rate_kbps, 1000);
        CHECK_EQ_U64(peers[i]->reply.dcm.v, 1);
    }
    return src;
}

/* Node f's entry in the control center's topology (its first channel's),
 * or NULL. */
static const strata_control_entry *entry_of(net *t, const fnode *f)
{
    static strata_control_entry e[MAXN * 2];
    size_t n = strata_control_topology(t->c, e, MAXN * 2);
    for (size_t i = 0; i < n && i < MAXN * 2; i++)
        if (e[i].node.v == f->id.v)
            return &e[i];
    return NULL;
}

static void test_topology_and_churn(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *peers[12];
    fnode *src = populate(t, peers);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    CHECK_EQ_U64(t->stray, 0);
    CHECK_EQ_U64(t->bad_instr, 0);

    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.nodes, 13);
    CHECK_EQ_INT(st.peers, 12);
    CHECK_EQ_INT(st.sources, 1);
    CHECK_EQ_INT(st.channels, 1);
    CHECK_EQ_INT(st.dcms, 1);
    CHECK_EQ_INT(st.detached_pairs, 0);
    CHECK(st.max_depth >= 1);
    CHECK_EQ_U64(st.joins, 13);
    CHECK(st.instructions_sent > 0);

    /* Heartbeats that match the tree cause no traffic. */
    tick(t);
    tick(t);
    strata_control_status st2;
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.instructions_sent, st.instructions_sent);
    CHECK_EQ_U64(st2.drops.total, 0);

    /* Status sums the latest heartbeat counters. */
    peers[0]->played = 100;
    peers[0]->missed = 3;
    peers[0]->tx_bytes = 5000;
    peers[1]->played = 50;
    src->tx_bytes = 7000;
    tick(t);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.played_packets, 150);
    CHECK_EQ_U64(st2.missed_packets, 3);
    CHECK_EQ_U64(st2.peer_tx_bytes, 5000);
    CHECK_EQ_U64(st2.source_tx_bytes, 7000);
    /* ... and the topology carries each member's (the topology page's). */
    {
        const strata_control_entry *e = entry_of(t, peers[0]);
        CHECK(e != NULL);
        CHECK_EQ_U64(e ? e->played : 0, 100);
        CHECK_EQ_U64(e ? e->missed : 0, 3);
        CHECK_EQ_U64(e ? e->tx_bytes : 0, 5000);
        CHECK_EQ_U64(e ? e->addr.ipv4 : 0, peers[0]->addr.ipv4);
        CHECK_EQ_U64(e ? e->upload_kbps : 0, peers[0]->upload_kbps);
        CHECK_EQ_INT(e ? strcmp(e->channel_name, "news") : -1, 0);
        e = entry_of(t, src);
        CHECK_EQ_U64(e ? e->tx_bytes : 0, 7000);
        CHECK_EQ_INT(e ? e->region[0] : -1, '\0');
    }

    /* Silence one interior peer: it is declared dead and forgotten. */
    fnode *victim = interior_peer(t);
    CHECK(victim != NULL);
    victim->alive = 0;
    for (int i = 0; i < 5; i++)
        tick(t);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.deaths, 1);
    CHECK_EQ_INT(st2.peers, 11);
    CHECK_EQ_INT(names(t, victim->id.v), 0);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* Its counters left the sums with it. */
    if (victim == peers[0])
        CHECK_EQ_U64(st2.played_packets, 50);
    /* Were it only silent, its next heartbeat is answered UNKNOWN, so that
     * it joins again (protocol.md 3.3). */
    victim->alive = 1;
    int replies = victim->replies;
    send_hb(t, victim);
    CHECK_EQ_INT(victim->replies, replies + 1);
    CHECK_EQ_INT(victim->reply.status, STRATA_JOIN_UNKNOWN);
    victim->alive = 0;

    /* An interior peer leaves. */
    fnode *leaver = interior_peer(t);
    CHECK(leaver != NULL);
    send_leave(t, leaver);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.leaves, 1);
    CHECK_EQ_INT(st2.peers, 10);
    CHECK_EQ_INT(names(t, leaver->id.v), 0);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* A second LEAVE for the same node is dropped and counted. */
    uint64_t drops = st2.drops.total;
    leaver->alive = 1;
    send_leave(t, leaver);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.drops.total, drops + 1);
    CHECK_EQ_U64(st2.leaves, 1);

    /* The dead peer comes back (new process, same id): a fresh join. */
    send_join(t, victim);
    CHECK_EQ_INT(victim->reply.status, STRATA_JOIN_OK);
    tick(t);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    net_del(t);
}

static void test_stall_reparent(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *peers[12];
    fnode *src = populate(t, peers);
    tick(t);
    /* A peer whose parent in some substream is another peer. */
    fnode *p = NULL;
    int s0 = -1;
    uint64_t old_parent = 0;
    for (int i = 0; i < 12 && !p; i++) {
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(peers[i], 1, s);
            if (in && in->parent.node.v && in->parent.node.v != src->id.v) {
                p = peers[i];
                s0 = s;
                old_parent = in->parent.node.v;
                break;
            }
        }
    }
    CHECK(p != NULL);
    if (!p) {
        net_del(t);
        return;
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.reparents, 0);

    /* One heartbeat interval is not yet a stall. */
    p->freeze_rx = s0;
    tick(t);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.reparents, 0);
    for (int i = 0; i < 4; i++)
        tick(t);
    strata_control_get_status(t->c, &st);
    CHECK(st.reparents >= 1);
    const strata_msg_instruction *in = latest(p, 1, s0);
    CHECK(in && in->parent.node.v != old_parent && in->parent.node.v != 0);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);

    /* When the whole stream stands still nobody is blamed. */
    p->freeze_rx = -1;
    tick(t);
    strata_control_get_status(t->c, &st);
    uint64_t before = st.reparents;
    /* Advance time without advancing any rx_seq. */
    for (int r = 0; r < 6; r++) {
        t->now += STRATA_MS(HB_MS);
        for (int i = 0; i < MAXN; i++)
            if (t->n[i].used && t->n[i].alive)
                send_hb(t, &t->n[i]);
        strata_control_handle_timeout(t->c, t->now);
        drain(t);
    }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.reparents, before);
    net_del(t);
}

static void test_regions(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *eu1 = add_node(t, 1, 0x0a010201u, STRATA_ROLE_PEER, 1000, "eu");
    fnode *eu2 = add_node(t, 2, 0x0a090901u, STRATA_ROLE_PEER, 1000, "eu");
    fnode *us1 = add_node(t, 3, 0x0a010202u, STRATA_ROLE_PEER, 1000, "us");
    fnode *pa1 = add_node(t, 4, 0x0a010203u, STRATA_ROLE_PEER, 1000, NULL);
    fnode *pa2 = add_node(t, 5, 0x0a0102feu, STRATA_ROLE_PEER, 1000, NULL);
    fnode *pb1 = add_node(t, 6, 0x0a010303u, STRATA_ROLE_PEER, 1000, NULL);
    fnode *all[] = {eu1, eu2, us1, pa1, pa2, pb1};
    for (size_t i = 0; i < 6; i++) {
        send_join(t, all[i]);
        CHECK_EQ_INT(all[i]->reply.status, STRATA_JOIN_OK);
    }
    CHECK_EQ_U64(eu1->reply.dcm.v, eu2->reply.dcm.v);
    CHECK(eu1->reply.dcm.v != us1->reply.dcm.v);
    CHECK_EQ_U64(pa1->reply.dcm.v, pa2->reply.dcm.v);
    CHECK(pa1->reply.dcm.v != pb1->reply.dcm.v);
    CHECK(pa1->reply.dcm.v != eu1->reply.dcm.v && pa1->reply.dcm.v != us1->reply.dcm.v);
    /* Logical ids count from 1 in creation order; the second region
     * started the channel's backbone (3). */
    CHECK_EQ_U64(eu1->reply.dcm.v, 1);
    CHECK_EQ_U64(us1->reply.dcm.v, 2);
    CHECK_EQ_U64(pa1->reply.dcm.v, 4);
    CHECK_EQ_U64(pb1->reply.dcm.v, 5);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.dcms, 5);
    /* Every region has a member with the stream rate of upload, so every
     * region has a head (the first of the best: eu1, not eu2) and the
     * source feeds the backbone alone, whose members are the heads. */
    CHECK(is_head(eu1) && !is_head(eu2) && is_head(us1) && is_head(pa1) && !is_head(pa2) &&
          is_head(pb1));
    for (int s = 0; s < K; s++) {
        const strata_msg_instruction *bb = latest(src, 3, s);
        CHECK(bb && bb->n_children >= 1);
        for (int c = 0; bb && c < bb->n_children; c++)
            CHECK(is_head(by_id(t, bb->children[c].node.v)));
        for (uint32_t d = 1; d <= 5; d++) {
            const strata_msg_instruction *in = latest(src, d, s);
            CHECK(d == 3 || !in || in->n_children == 0); /* eu's roots were handed over */
        }
        /* A region's members hang off its head. */
        const strata_msg_instruction *m = latest(eu2, 0, s);
        CHECK(m && m->parent.node.v == eu1->id.v && m->source.node.v == src->id.v);
    }
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* The topology names each member's region: a head is in the backbone's
     * trees (dcm 3) and its region's (region_dcm). */
    {
        const strata_control_entry *e = entry_of(t, eu1);
        CHECK(e && e->dcm.v == 3 && e->region_dcm.v == 1 && strcmp(e->region, "eu") == 0);
        e = entry_of(t, eu2);
        CHECK(e && e->dcm.v == 1 && e->region_dcm.v == 1 && strcmp(e->region, "eu") == 0);
        e = entry_of(t, us1);
        CHECK(e && e->dcm.v == 3 && e->region_dcm.v == 2 && strcmp(e->region, "us") == 0);
        e = entry_of(t, pa1);
        CHECK(e && e->region_dcm.v == 4 && e->region[0] != '\0');
    }
    /* Epochs come from one counter: all distinct batches. */
    CHECK(src->epoch >= 4);

    /* A region's only node, its head, leaves: the region goes. */
    send_leave(t, us1);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.dcms, 4);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* A head leaves: the next best of its region takes over. */
    send_leave(t, eu1);
    CHECK(is_head(eu2));
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* A region whose members cannot carry the stream is fed by the source. */
    fnode *slow = add_node(t, 7, 0x0a010204u, STRATA_ROLE_PEER, 500, "slow");
    send_join(t, slow);
    CHECK(!is_head(slow));
    for (int s = 0; s < K; s++) {
        const strata_msg_instruction *in = latest(src, slow->reply.dcm.v, s);
        CHECK(in && in->n_children == 1 && in->children[0].node.v == slow->id.v);
    }
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* Once a capable peer arrives there, it heads the region. */
    fnode *fast = add_node(t, 8, 0x0a010205u, STRATA_ROLE_PEER, 4000, "slow");
    send_join(t, fast);
    CHECK(is_head(fast) && !is_head(slow));
    for (int s = 0; s < K; s++) {
        const strata_msg_instruction *in = latest(src, slow->reply.dcm.v, s);
        CHECK(in && in->n_children == 0);
    }
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    /* The last region's last nodes go: so does the backbone. */
    fnode *rest[] = {eu2, pa1, pa2, pb1, slow, fast};
    for (size_t i = 0; i < 6; i++)
        send_leave(t, rest[i]);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.dcms, 0);
    net_del(t);

    /* Prefix-only mode ignores labels; /16 groups wider. */
    cfg.region_mode = STRATA_REGION_PREFIX;
    cfg.prefix_bits = 16;
    t = net_new(&cfg);
    fnode *a = add_node(t, 1, 0x0a010201u, STRATA_ROLE_PEER, 1000, "eu");
    fnode *b = add_node(t, 2, 0x0a01ff01u, STRATA_ROLE_PEER, 1000, "us");
    fnode *c = add_node(t, 3, 0x0a020201u, STRATA_ROLE_PEER, 1000, "eu");
    send_join(t, a);
    send_join(t, b);
    send_join(t, c);
    CHECK_EQ_U64(a->reply.dcm.v, b->reply.dcm.v);
    CHECK(a->reply.dcm.v != c->reply.dcm.v);
    net_del(t);
}

/* A region without a member that can carry the stream is fed by the
 * source; its trees get what they need of the source's upload, not only
 * 5/4 of the rate (here 7 copies of 4: one member of half the rate is
 * interior in one tree, the other has no upload), so nobody is left
 * detached; the budget follows the members. */
/* levels = mesh (docs/hierarchy.md): each region's preferred nodes (two
 * here, the heads) flood over a c-connected mesh with the source. Their
 * instructions are FLOOD: no parent, the mesh neighbours (symmetric, the
 * source left out) plus the region's root children they feed; each region's
 * trees are fed by both of its heads; the mesh survives any c - 1 = 2 of
 * them gone; a head that leaves is replaced and the mesh repaired. */
static const strata_msg_instruction *head_instruction(fnode *f, int s)
{
    const strata_msg_instruction *in = latest(f, 0, s);
    return in && (in->algorithm == STRATA_ALG_FLOOD || in->algorithm == STRATA_ALG_MESH_TREE) ? in
                                                                                             : NULL;
}

/* The heads the source reaches over head-to-head links, avoiding two. */
static int mesh_reach(net *t, fnode *src, uint32_t mesh_dcm, uint64_t skip1, uint64_t skip2)
{
    fnode *seen[MAXN];
    int n = 0;
    const strata_msg_instruction *si = latest(src, mesh_dcm, 0);
    for (int c = 0; si && c < si->n_children; c++) {
        fnode *h = by_id(t, si->children[c].node.v);
        if (h && h->id.v != skip1 && h->id.v != skip2)
            seen[n++] = h;
    }
    for (int i = 0; i < n; i++) {
        const strata_msg_instruction *in = head_instruction(seen[i], 0);
        for (int c = 0; in && c < in->n_children; c++) {
            fnode *h = by_id(t, in->children[c].node.v);
            if (!h || !is_head(h) || h->id.v == skip1 || h->id.v == skip2)
                continue;
            int dup = 0;
            for (int j = 0; j < n; j++)
                dup |= seen[j] == h;
            if (!dup)
                seen[n++] = h;
        }
    }
    return n;
}

/* A heartbeat interval in which every live peer but idle (may be NULL)
 * uploads 1 MB (8 Mbit/s: at least what any place here asks). */
static void tick_delivering(net *t, const fnode *idle)
{
    for (int i = 0; i < MAXN; i++) {
        fnode *f = &t->n[i];
        if (f->used && f->alive && in_trees_as_peer(f) && f != idle)
            f->tx_bytes += 1000000;
    }
    tick(t);
}

static void test_mesh_levels(void)
{
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_MESH;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    static const char *const regions[] = {"eu", "us", "as", "sa"};
    fnode *peers[4][5];
    uint64_t id = 1;
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 5; i++) {
            /* Two members of each region can carry a mesh of three links,
             * the second with room for two leaves; the third has a stream
             * to spare (a leaf if it heads); the rest carry one stream. */
            static const uint32_t ups[5] = {9000, 12000, 2000, 1000, 1000};
            uint32_t up = ups[i];
            peers[r][i] =
                add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, up, regions[r]);
            id++;
            send_join(t, peers[r][i]);
            CHECK_EQ_INT(peers[r][i]->reply.status, STRATA_JOIN_OK);
        }
    }
    /* The first capable member heads its region at once; the second place
     * is filled at an evaluation, once past probation (the first region's
     * were both there when the second region started the mesh). */
    for (int r = 1; r < 4; r++)
        CHECK(is_head(peers[r][0]) && !is_head(peers[r][1]));
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    uint32_t mesh_dcm = 0;
    int heads = 0;
    for (int r = 0; r < 4; r++) {
        CHECK(is_head(peers[r][0]) && is_head(peers[r][1]));
        for (int i = 2; i < 5; i++)
            CHECK(!is_head(peers[r][i]));
        for (int i = 0; i < 2; i++) {
            fnode *h = peers[r][i];
            heads++;
            const strata_msg_instruction *in = head_instruction(h, 0);
            CHECK(in != NULL);
            if (!in)
                continue;
            mesh_dcm = in->dcm.v;
            int mesh_links = 0;
            for (int s = 0; s < K; s++) {
                const strata_msg_instruction *is = head_instruction(h, s);
                CHECK(is && is->parent.node.v == 0 && is->source.node.v == src->id.v);
                CHECK(is && !ref_lists(is, src->id.v));
            }
            for (int c = 0; c < in->n_children; c++) {
                fnode *nb = by_id(t, in->children[c].node.v);
                CHECK(nb != NULL);
                if (!nb || !is_head(nb))
                    continue; /* a root child of its region */
                mesh_links++;
                const strata_msg_instruction *back = head_instruction(nb, 0);
                CHECK(back && ref_lists(back, h->id.v));
            }
            CHECK(mesh_links >= 2); /* c = 3 links, one of them may be the source */
        }
        /* Both heads feed the region's trees: each tree's root children
         * name one of them, and each feeds some tree. */
        int fed[2] = {0, 0};
        for (int s = 0; s < K; s++) {
            for (int i = 2; i < 5; i++) {
                const strata_msg_instruction *m = latest(peers[r][i], 0, s);
                CHECK(m && m->algorithm == STRATA_ALG_TREE);
                if (m && m->parent.node.v == peers[r][0]->id.v)
                    fed[0] = 1;
                if (m && m->parent.node.v == peers[r][1]->id.v)
                    fed[1] = 1;
                CHECK(m && m->parent.node.v != src->id.v);
            }
        }
        CHECK(fed[0] && fed[1]);
    }
    /* The source floods to three heads; any two heads gone, the source
     * still reaches all the others. */
    const strata_msg_instruction *si = latest(src, mesh_dcm, 0);
    CHECK(si && si->algorithm == STRATA_ALG_FLOOD && si->n_children == 3);
    for (int a = 0; a < 8; a++)
        for (int b = a + 1; b < 8; b++)
            CHECK_EQ_INT(
                mesh_reach(t, src, mesh_dcm, peers[a / 2][a % 2]->id.v, peers[b / 2][b % 2]->id.v),
                heads - 2);

    /* A head leaves: a member of one stream's upload takes its place, a
     * leaf below the mesh (fed by a member with room: it has no upload for
     * links); nobody lists the gone one, and the mesh reaches every head. */
    fnode *gone = peers[1][0];
    send_leave(t, gone);
    gone->alive = 0;
    fnode *leaf = NULL;
    for (int i = 2; i < 5; i++)
        if (is_head(peers[1][i]))
            leaf = peers[1][i];
    CHECK(is_head(peers[1][1]) && leaf != NULL);
    if (leaf) {
        const strata_msg_instruction *li = latest(leaf, 0, 0);
        fnode *feeder = li ? by_id(t, li->parent.node.v) : NULL;
        CHECK(li && li->algorithm == STRATA_ALG_TREE && feeder && is_head(feeder));
        const strata_msg_instruction *fi = feeder ? head_instruction(feeder, 0) : NULL;
        CHECK(fi && ref_lists(fi, leaf->id.v));
    }
    for (int s = 0; s < K; s++)
        for (int i = 2; i < 5; i++) {
            const strata_msg_instruction *m = latest(peers[1][i], 0, s);
            CHECK(m && m->parent.node.v != src->id.v);
        }
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 5; i++) {
            fnode *f = peers[r][i];
            if (f == gone)
                continue;
            for (int s = 0; s < K; s++) {
                const strata_msg_instruction *in = latest(f, 0, s);
                CHECK(in && !ref_lists(in, gone->id.v) && in->parent.node.v != gone->id.v);
            }
        }
    CHECK_EQ_INT(mesh_reach(t, src, mesh_dcm, 0, 0), heads);

    /* History: in region "as", a head that delivers nothing of what its
     * place asks is replaced by a member that delivers, once it has held
     * its place for min_hold; the one that delivers stays. */
    fnode *good = peers[2][1], *idle = peers[2][0];
    fnode *x = add_node(t, 77, 0x0a000077u, STRATA_ROLE_PEER, 9500, "as");
    send_join(t, x);
    CHECK(!is_head(x));
    for (int i = 0; i < 75; i++)
        tick_delivering(t, idle);
    CHECK(is_head(good) && is_head(x) && !is_head(idle));
    for (int s = 0; s < K; s++) {
        const strata_msg_instruction *in = latest(idle, 0, s);
        CHECK(in && in->algorithm == STRATA_ALG_TREE);
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    /* 4 first heads, 4 second ones, the leaf that replaced the one that
     * left and the newcomer. */
    CHECK_EQ_U64(st.promotions, 4 + 4 + 1 + 1);
    CHECK_EQ_U64(st.demotions, 1);
    net_del(t);
}

/* levels = mesh under churn: random joins, leaves, silent deaths, moves
 * and time (evaluations every 10 intervals); after each round every live
 * peer's instructions hold together: a FLOOD (or MESH_TREE) node is a head,
 * its mesh links are mutual and its other children name it as parent (with
 * MESH_TREE, exactly its first n_neighbours children are the mesh links); a TREE node's
 * parent lists it and its parent chain ends at the source or at a head
 * that floods; no region has more than P heads; the source reaches every
 * flooding head over the mesh; nobody names a peer that is gone. */
static int check_mesh_round(net *t, fnode *src, fnode **peers, int n, uint32_t mesh_dcm, int trees,
                            uint8_t top)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        fnode *p = peers[i];
        if (!p->alive)
            continue;
        /* With levels 3 a common member is in K plain trees. */
        const strata_msg_instruction *first = latest(p, 0, 0);
        int p_trees = first && first->level == 3 ? K : trees;
        for (int s = 0; s < p_trees; s++) {
            if (s >= K && is_head(p))
                continue; /* a head roots parity trees, or none */
            const strata_msg_instruction *in = latest(p, 0, s);
            if (!in) {
                bad++;
                continue;
            }
            if (in->algorithm == STRATA_ALG_FLOOD || in->algorithm == STRATA_ALG_MESH_TREE) {
                if (!is_head(p) || in->parent.node.v != 0 || in->algorithm != top) {
                    fprintf(stderr, "%llu floods (algorithm %d), head %d, parent %llu\n",
                            (unsigned long long)p->id.v, in->algorithm, is_head(p),
                            (unsigned long long)in->parent.node.v);
                    bad++;
                }
                for (int c = 0; c < in->n_children; c++) {
                    fnode *ch = by_id(t, in->children[c].node.v);
                    const strata_msg_instruction *ci = ch ? latest(ch, 0, s) : NULL;
                    /* MESH_TREE names its mesh neighbours first, and only them;
                     * FLOOD's are told apart by their own instructions */
                    int neighbour = in->algorithm == STRATA_ALG_FLOOD
                                        ? ci && ci->algorithm == top
                                        : c < in->n_neighbours;
                    if (!ch || !ch->alive || !ci) {
                        fprintf(stderr, "flood %llu lists a gone or idle %llu\n",
                                (unsigned long long)p->id.v,
                                (unsigned long long)in->children[c].node.v);
                        bad++;
                    } else if (ci->algorithm == top ? !neighbour || !ref_lists(ci, p->id.v)
                                                    : neighbour || ci->parent.node.v != p->id.v) {
                        fprintf(stderr, "flood %llu and %llu disagree\n",
                                (unsigned long long)p->id.v, (unsigned long long)ch->id.v);
                        bad++;
                    }
                }
                continue;
            }
            /* TREE: a region member, or a head that is a leaf below the mesh. */
            fnode *q = p;
            int hops = 0;
            while (q && q != src && hops <= MAXN) {
                const strata_msg_instruction *qi = latest(q, 0, s);
                if (qi && (qi->algorithm == top ||
                           (s >= K && qi->parent.node.v == 0 && is_head(q))))
                    break; /* the mesh, or a head rooting a parity tree */
                fnode *par = qi && qi->parent.node.v ? by_id_in(t, qi->parent.node.v, src) : NULL;
                const strata_msg_instruction *pi = par ? latest(par, mesh_dcm, s) : NULL;
                if (par && par != src && (!par->alive || !pi || !ref_lists(pi, q->id.v))) {
                    fprintf(stderr, "node %llu: parent %llu does not list it\n",
                            (unsigned long long)q->id.v, (unsigned long long)par->id.v);
                    bad++;
                }
                q = par;
                hops++;
            }
            if (!q) {
                /* A detached pair: the trees may lack room; counted, not bad. */
            } else if (hops > MAXN) {
                fprintf(stderr, "node %llu: parent chain loops\n", (unsigned long long)p->id.v);
                bad++;
            }
        }
    }
    /* At most P heads per region, and the source reaches every flooding one. */
    static const char *const labels[] = {"eu", "us", "as"};
    int flooding = 0;
    for (int r = 0; r < 3; r++) {
        int heads = 0;
        for (int i = 0; i < n; i++)
            if (peers[i]->alive && is_head(peers[i]) && strcmp(peers[i]->label, labels[r]) == 0)
                heads++;
        if (heads > STRATA_CONTROL_DEFAULT_PREFERRED) {
            fprintf(stderr, "region %s has %d heads\n", labels[r], heads);
            bad++;
        }
    }
    for (int i = 0; i < n; i++) {
        const strata_msg_instruction *in = peers[i]->alive ? latest(peers[i], 0, 0) : NULL;
        flooding += in && in->algorithm == top;
    }
    /* mesh_reach counts the leaf heads flooding heads list, too. */
    int got = flooding ? mesh_reach(t, src, mesh_dcm, 0, 0) : 0;
    if (got < flooding) {
        fprintf(stderr, "the source reaches %d of %d flooding heads\n", got, flooding);
        bad++;
    }
    for (int i = 0; i < n; i++)
        if (!peers[i]->alive && names(t, peers[i]->id.v) != 0) {
            fprintf(stderr, "gone peer %llu still named\n", (unsigned long long)peers[i]->id.v);
            bad++;
        }
    return bad;
}

static void levels_churn_property(uint8_t levels, uint8_t top)
{
    enum { PEERS = 40, ROUNDS = 30 };
    int trees = levels == STRATA_LEVELS_EC || levels == STRATA_LEVELS_THREE ? K + 2 : K;
    static const uint32_t ups[] = {0, 1000, 2000, 5000, 9000, 16000};
    static const char *const labels[] = {"eu", "us", "as"};
    strata_rng rng;
    strata_rng_seed(&rng, test_seed(0x3e5u));
    strata_control_config cfg = base_cfg();
    cfg.levels = levels;
    cfg.top = top == STRATA_ALG_MESH_TREE ? STRATA_TOP_TREE : STRATA_TOP_FLOOD;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *peers[PEERS];
    for (int i = 0; i < PEERS; i++)
        peers[i] = add_node(t, 1 + (uint64_t)i, 0x0a010200u + (uint32_t)i, STRATA_ROLE_PEER,
                            ups[strata_rng_below(&rng, 6)], labels[strata_rng_below(&rng, 3)]);
    uint32_t mesh_dcm = 0;
    int bad = 0;
    for (int round = 0; round < ROUNDS && bad == 0; round++) {
        for (int op = 0; op < 12; op++) {
            fnode *f = peers[strata_rng_below(&rng, PEERS)];
            uint64_t r = strata_rng_below(&rng, 100);
            if (r < 35) {
                if (!f->alive) {
                    f->nd = 0;
                    f->epoch = 0;
                    send_join(t, f);
                    bad += f->reply.status != STRATA_JOIN_OK;
                }
            } else if (r < 50) {
                if (f->alive)
                    send_leave(t, f);
            } else if (r < 58) {
                f->alive = 0; /* silent: the control must find out */
            } else if (r < 64) {
                if (f->alive) {
                    f->addr.port = (uint16_t)(f->addr.port + 100);
                    send_join(t, f);
                }
            } else {
                tick_delivering(t, NULL);
            }
        }
        for (int i = 0; i < 5; i++)
            tick_delivering(t, NULL);
        for (int i = 0; i < PEERS && !mesh_dcm; i++) {
            const strata_msg_instruction *in = peers[i]->alive ? latest(peers[i], 0, 0) : NULL;
            if (in && in->algorithm == top)
                mesh_dcm = in->dcm.v;
        }
        int b = check_mesh_round(t, src, peers, PEERS, mesh_dcm, trees, top);
        if (b)
            fprintf(stderr, "round %d: %d problems\n", round, b);
        bad += b;
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK(st.promotions > 0);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);
}

static void test_mesh_churn_property(void)
{
    levels_churn_property(STRATA_LEVELS_MESH, STRATA_ALG_FLOOD);
    /* the same, with k + n trees below the mesh */
    levels_churn_property(STRATA_LEVELS_EC, STRATA_ALG_FLOOD);
    /* Relay clusters of k + n trees, common clusters of k below them. */
    levels_churn_property(STRATA_LEVELS_THREE, STRATA_ALG_FLOOD);
    /* A tree per substream inside the mesh (--top tree): its neighbours
     * first, counted, then the roots and leaves it feeds. */
    levels_churn_property(STRATA_LEVELS_MESH, STRATA_ALG_MESH_TREE);
    levels_churn_property(STRATA_LEVELS_THREE, STRATA_ALG_MESH_TREE);
}

/* --top auto (SPEC C9): a preferred node floods while its mesh links
 * change and keeps a tree inside the mesh once they have been stable for
 * top_stable_ms; a preferred node leaving brings the flood back to its
 * neighbours at the next evaluation. */
static int heads_say(fnode **peers, int n, uint8_t algorithm)
{
    int members = 0, saying = 0;
    for (int i = 0; i < n; i++) {
        const strata_msg_instruction *first = peers[i]->alive ? latest(peers[i], 0, 0) : NULL;
        if (!is_head(peers[i]) || !first ||
            (first->algorithm != STRATA_ALG_FLOOD && first->algorithm != STRATA_ALG_MESH_TREE))
            continue; /* not in the mesh (a head below it is a leaf: TREE) */
        members++;
        for (int s = 0; s < K; s++) {
            const strata_msg_instruction *in = latest(peers[i], 0, s);
            saying += in && in->algorithm == algorithm;
        }
    }
    return members >= 3 && saying == members * K;
}

static void test_top_auto(void)
{
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_MESH;
    cfg.top = STRATA_TOP_AUTO;
    cfg.top_stable_ms = 40 * HB_MS;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    static const char *const regions[] = {"eu", "us", "as"};
    fnode *peers[9];
    for (int i = 0; i < 9; i++) {
        peers[i] = add_node(t, 1 + (uint64_t)i, 0x0a000001u + (uint32_t)i, STRATA_ROLE_PEER,
                            i % 3 == 2 ? 1000 : 9000, regions[i / 3]);
        send_join(t, peers[i]);
    }
    int ticks = 0;
    for (; ticks < 30; ticks++)
        tick_delivering(t, NULL);
    CHECK(heads_say(peers, 9, STRATA_ALG_FLOOD));
    for (; ticks < 200 && !heads_say(peers, 9, STRATA_ALG_MESH_TREE); ticks++)
        tick_delivering(t, NULL);
    CHECK(heads_say(peers, 9, STRATA_ALG_MESH_TREE));
    CHECK(ticks >= 40);
    /* a preferred node leaves: its neighbours, whose links change, flood
     * again within an evaluation; the tree comes back once they are stable */
    fnode *gone = NULL;
    for (int i = 0; i < 9 && !gone; i++)
        if (is_head(peers[i]))
            gone = peers[i];
    const strata_msg_instruction *gi = latest(gone, 0, 0);
    uint64_t nb = gi && gi->n_neighbours ? gi->children[0].node.v : 0;
    send_leave(t, gone);
    for (int i = 0; i < 11; i++)
        tick_delivering(t, NULL);
    fnode *fn = nb ? by_id(t, nb) : NULL;
    const strata_msg_instruction *ni = fn ? latest(fn, 0, 0) : NULL;
    CHECK(ni && ni->algorithm == STRATA_ALG_FLOOD);
    CHECK(!heads_say(peers, 9, STRATA_ALG_MESH_TREE));
    for (int i = 0; i < 60; i++)
        tick_delivering(t, NULL);
    CHECK(heads_say(peers, 9, STRATA_ALG_MESH_TREE));
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);
}

static void test_direct_region_budget(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 4000, NULL);
    send_join(t, src);
    fnode *eu = add_node(t, 1, 0x0a010201u, STRATA_ROLE_PEER, 4000, "eu");
    fnode *slow1 = add_node(t, 2, 0x0a010202u, STRATA_ROLE_PEER, 500, "slow");
    fnode *slow2 = add_node(t, 3, 0x0a010203u, STRATA_ROLE_PEER, 0, "slow");
    send_join(t, eu);
    send_join(t, slow1);
    send_join(t, slow2);
    CHECK(is_head(eu) && !is_head(slow1) && !is_head(slow2));
    size_t detached = 0;
    CHECK_EQ_INT(check_topology_ex(t, src, 1000, &detached), 0);
    CHECK_EQ_U64(detached, 0);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    /* One leaves: the budget shrinks back and the other stays attached. */
    send_leave(t, slow1);
    detached = 0;
    CHECK_EQ_INT(check_topology_ex(t, src, 1000, &detached), 0);
    CHECK_EQ_U64(detached, 0);
    net_del(t);
}

/* What the source's instructions for its first `trees` trees make it send
 * (kbit/s): a stream's k-th per child link, over every DCM that names it. */
static uint64_t source_committed_trees_kbps(fnode *src, uint32_t rate, int trees)
{
    uint64_t links = 0;
    for (int i = 0; i < src->nd; i++)
        for (int sub = 0; sub < trees; sub++)
            if (src->d[i].have[sub])
                links += src->d[i].in[sub].n_children;
    return links * rate / K;
}

/* The same in the data trees. */
static uint64_t source_committed_kbps(fnode *src, uint32_t rate)
{
    return source_committed_trees_kbps(src, rate, K);
}

/* Many regions whose only members cannot carry the stream, all fed by the
 * source: their shares of its upload add up to no more than it has (a
 * floor of 5/4 of the rate for each once promised 7,500 kbit/s of a
 * 4,000 kbit/s uplink, whose queue then dropped every tree's packets, the
 * backbone's too). */
static void test_direct_regions_overcommit(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 4000, NULL);
    send_join(t, src);
    fnode *eu = add_node(t, 1, 0x0a010201u, STRATA_ROLE_PEER, 4000, "eu");
    send_join(t, eu);
    static const char *const labels[6] = {"w0", "w1", "w2", "w3", "w4", "w5"};
    fnode *weak[6];
    for (int i = 0; i < 6; i++) {
        weak[i] = add_node(t, 10 + (uint64_t)i, 0x0a010210u + (uint32_t)i, STRATA_ROLE_PEER, 0,
                           labels[i]);
        send_join(t, weak[i]);
    }
    for (int i = 0; i < 3; i++)
        tick(t);
    uint64_t committed = source_committed_kbps(src, 1000);
    CHECK(committed > 0);
    CHECK(committed <= 4000);
    /* With room (one weak region), the 5/4 floor still holds for it. */
    for (int i = 1; i < 6; i++)
        send_leave(t, weak[i]);
    for (int i = 0; i < 3; i++)
        tick(t);
    CHECK(source_committed_kbps(src, 1000) <= 4000);
    size_t detached = 0;
    check_topology_ex(t, src, 1000, &detached);
    CHECK_EQ_U64(detached, 0);
    net_del(t);
}

/* A member that joins again under another label moves to that region (its
 * locality group merged into another); the same label moves no one; a
 * head that moves hands its region to the next best. */
static void test_region_move(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *eu1 = add_node(t, 1, 0x0a010201u, STRATA_ROLE_PEER, 4000, "eu");
    fnode *eu2 = add_node(t, 2, 0x0a010202u, STRATA_ROLE_PEER, 2000, "eu");
    fnode *eu3 = add_node(t, 3, 0x0a010203u, STRATA_ROLE_PEER, 1000, "eu");
    /* us1 heads a region that ends with four members: a head of 20 Mbit/s
     * gives each tree room for all of them (a weaker one would leave a
     * tree without a parent for some, the tiny-region case). */
    fnode *us1 = add_node(t, 4, 0x0a010204u, STRATA_ROLE_PEER, 20000, "us");
    fnode *all[] = {eu1, eu2, eu3, us1};
    for (size_t i = 0; i < 4; i++)
        send_join(t, all[i]);
    uint32_t eu = eu1->reply.dcm.v, us = us1->reply.dcm.v;
    CHECK(eu != us && is_head(eu1) && is_head(us1));
    strata_control_status st;

    send_join(t, eu3); /* same label: stays */
    CHECK_EQ_U64(eu3->reply.dcm.v, eu);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.region_moves, 0);

    eu3->label = "us";
    send_join(t, eu3);
    CHECK_EQ_INT(eu3->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_U64(eu3->reply.dcm.v, us);
    for (int s = 0; s < K; s++) {
        const strata_msg_instruction *m = latest(eu3, 0, s);
        CHECK(m && m->parent.node.v == us1->id.v); /* fed by the new region's head */
    }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.region_moves, 1);
    CHECK_EQ_U64(st.peers, 4);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);

    /* The eu head moves: eu2 heads eu now. */
    eu1->label = "us";
    send_join(t, eu1);
    CHECK_EQ_U64(eu1->reply.dcm.v, us);
    CHECK(is_head(eu2));
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.region_moves, 2);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);

    /* The last eu member moves: the region goes. */
    size_t dcms = st.dcms;
    eu2->label = "us";
    send_join(t, eu2);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.region_moves, 3);
    CHECK(st.dcms < dcms);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    net_del(t);
}

static void test_rejoin_and_resend(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *peers[12];
    fnode *src = populate(t, peers);
    tick(t);
    strata_control_status st, st2;
    strata_control_get_status(t->c, &st);

    /* Idempotent re-join: same DCM, a reply, its instructions again. */
    fnode *p = interior_peer(t);
    CHECK(p != NULL);
    uint64_t rx = p->instr_rx;
    uint32_t dcm = p->reply.dcm.v;
    send_join(t, p);
    CHECK_EQ_INT(p->replies, 2);
    CHECK_EQ_U64(p->reply.dcm.v, dcm);
    CHECK_EQ_U64(p->instr_rx, rx + K);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.joins, st.joins);
    CHECK_EQ_INT(st2.nodes, st.nodes);

    /* Re-join from a new address: parents and children learn it. */
    p->addr.port = 7777;
    send_join(t, p);
    CHECK_EQ_U64(p->reply.dcm.v, dcm);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);

    /* The source re-joins from a new address: every node, not only the
     * roots, learns it, since every instruction names the source. */
    src->addr.port = 7778;
    send_join(t, src);
    CHECK_EQ_INT(src->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);

    /* Lost instructions: the node reports an older epoch; a resend waits for
     * one heartbeat interval after the last send, then happens. */
    fnode *q = peers[5];
    q->deaf = 1;
    send_join(t, q); /* its reply and instructions are lost */
    q->deaf = 0;
    strata_control_get_status(t->c, &st);
    rx = q->instr_rx;
    send_hb(t, q); /* too soon after the send */
    CHECK_EQ_U64(q->instr_rx, rx);
    t->now += STRATA_MS(HB_MS) + 1;
    send_hb(t, q);
    CHECK_EQ_U64(q->instr_rx, rx + K);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.instructions_sent, st.instructions_sent + K);

    /* Parents that differ from the tree twice in a row: resend. */
    q->lie_parents = 1;
    rx = q->instr_rx;
    send_hb(t, q);
    CHECK_EQ_U64(q->instr_rx, rx);
    send_hb(t, q);
    CHECK_EQ_U64(q->instr_rx, rx + K);
    q->lie_parents = 0;
    send_hb(t, q);
    send_hb(t, q);
    CHECK_EQ_U64(q->instr_rx, rx + K);

    /* A source whose instructions got lost gets them from every DCM. */
    src->hb_epoch_override = 1;
    src->hb_epoch = 0;
    rx = src->instr_rx;
    t->now += STRATA_MS(HB_MS) + 1;
    send_hb(t, src);
    CHECK_EQ_U64(src->instr_rx, rx + K);
    src->hb_epoch_override = 0;

    /* Heartbeats from unknown nodes are counted and dropped. */
    fnode *ghost = add_node(t, 4242, 0x0a0a0a0au, STRATA_ROLE_PEER, 0, NULL);
    strata_control_get_status(t->c, &st);
    send_hb(t, ghost);
    strata_control_get_status(t->c, &st2);
    CHECK_EQ_U64(st2.drops.total, st.drops.total + 1);
    CHECK_EQ_U64(st2.drops.by_reason[-STRATA_ERR_UNEXPECTED],
                 st.drops.by_reason[-STRATA_ERR_UNEXPECTED] + 1);

    /* start_seq follows the source's latest heartbeat. */
    src->tx_seq = 12345;
    send_hb(t, src);
    fnode *late = add_node(t, 555, 0x0a010277u, STRATA_ROLE_PEER, 1000, NULL);
    send_join(t, late);
    CHECK_EQ_U64(late->reply.start_seq, 12345);
    CHECK_EQ_U64(late->reply.rate_kbps, 1000);

    /* A second source is refused; the first keeps its place. */
    fnode *src2 = add_node(t, 9001, 0xc0a80002u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src2);
    CHECK_EQ_INT(src2->reply.status, STRATA_JOIN_REFUSED);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.sources, 1);

    /* The source leaves: peers keep their trees; a new source takes over. */
    send_leave(t, src);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.sources, 0);
    fnode *late2 = add_node(t, 556, 0x0a010278u, STRATA_ROLE_PEER, 1000, NULL);
    send_join(t, late2);
    CHECK_EQ_U64(late2->reply.rate_kbps, 0);
    src2->rate_kbps = 1000;
    send_join(t, src2);
    CHECK_EQ_INT(src2->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_U64(src2->reply.start_seq, 0);
    tick(t);
    CHECK_EQ_INT(names(t, src->id.v), 0);
    CHECK_EQ_INT(check_topology(t, src2, 1000), 0);
    net_del(t);
}

static void test_source_rate(void)
{
    /* Peers join under the provisional rate; the source's rate rebuilds. */
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *peers[6];
    for (int i = 0; i < 6; i++) {
        peers[i] =
            add_node(t, 10 + (uint64_t)i, 0x0a010200u + (uint32_t)i, STRATA_ROLE_PEER, 4000, NULL);
        send_join(t, peers[i]);
    }
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 8000, NULL);
    src->rate_kbps = 2000;
    send_join(t, src);
    CHECK_EQ_U64(src->reply.rate_kbps, 2000);
    CHECK_EQ_INT(check_topology(t, src, 2000), 0);
    /* A source that re-joins with a new rate rebuilds again. */
    src->rate_kbps = 4000;
    send_join(t, src);
    CHECK_EQ_U64(src->reply.rate_kbps, 4000);
    CHECK_EQ_INT(check_topology(t, src, 4000), 0);
    net_del(t);
}

static void test_bad_input(void)
{
    strata_control_config cfg = base_cfg();
    cfg.max_nodes = 3;
    net *t = net_new(&cfg);
    strata_addr from = {0x0b000001u, 1234};
    strata_control_status st;
    uint8_t buf[2048];

    /* Garbage. */
    memset(buf, 0xa5, 64);
    CHECK(send_raw(t, from, buf, 64) < 0);
    /* Empty. */
    CHECK(send_raw(t, from, buf, 0) < 0);
    /* Truncated JOIN. */
    fnode *p = add_node(t, 77, 0x0a000001u, STRATA_ROLE_PEER, 1000, NULL);
    int len = encode_join(p, buf, sizeof buf);
    CHECK(len > 8);
    CHECK(send_raw(t, from, buf, (size_t)len - 3) < 0);
    /* JOIN with trailing bytes: after a JOIN without a token they are
     * read as a token (protocol.md 3.3.1), and a token_len of 0 is out of
     * range. */
    memset(buf + len, 0, 5);
    CHECK_EQ_INT(send_raw(t, from, buf, (size_t)len + 5), STRATA_ERR_RANGE);
    /* Oversized datagram. */
    memset(buf + len, 0, sizeof buf - (size_t)len);
    CHECK_EQ_INT(send_raw(t, from, buf, sizeof buf), STRATA_ERR_LONG);
    /* Well-formed messages the control does not take. */
    strata_msg_data dm;
    memset(&dm, 0, sizeof dm);
    dm.channel.v = 1;
    dm.seq = 5;
    uint8_t payload[10] = {0};
    dm.payload = payload;
    dm.payload_len = sizeof payload;
    len = strata_wire_encode_data(buf, sizeof buf, &dm);
    CHECK(len > 0);
    CHECK_EQ_INT(send_raw(t, from, buf, (size_t)len), STRATA_ERR_UNEXPECTED);
    strata_msg_instruction in;
    memset(&in, 0, sizeof in);
    in.dcm.v = 1;
    in.channel.v = 1;
    in.node.v = 1;
    in.epoch = 1;
    in.k = 1;
    in.algorithm = STRATA_ALG_TREE;
    len = strata_wire_encode_instruction(buf, sizeof buf, &in);
    CHECK(len > 0);
    CHECK_EQ_INT(send_raw(t, from, buf, (size_t)len), STRATA_ERR_UNEXPECTED);
    strata_msg_join_reply jr = {{1}, {1}, 0, {1}, 4, 0, 1000, 0};
    len = strata_wire_encode_join_reply(buf, sizeof buf, &jr);
    CHECK(len > 0);
    CHECK_EQ_INT(send_raw(t, from, buf, (size_t)len), STRATA_ERR_UNEXPECTED);
    /* JOIN with a reserved node id and a label with a control character. */
    fnode *r = add_node(t, UINT64_MAX, 0x0a000002u, STRATA_ROLE_PEER, 1000, NULL);
    len = encode_join(r, buf, sizeof buf);
    CHECK(send_raw(t, r->addr, buf, (size_t)len) < 0);
    fnode *l = add_node(t, 78, 0x0a000003u, STRATA_ROLE_PEER, 1000, "bad\nlabel");
    len = encode_join(l, buf, sizeof buf);
    CHECK(send_raw(t, l->addr, buf, (size_t)len) < 0);
    /* A source without a rate. */
    fnode *s0 = add_node(t, 79, 0x0a000004u, STRATA_ROLE_SOURCE, 1000, NULL);
    s0->rate_kbps = 0;
    len = encode_join(s0, buf, sizeof buf);
    CHECK(send_raw(t, s0->addr, buf, (size_t)len) < 0);

    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.drops.total, 11);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNEXPECTED], 3);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_LONG], 1);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_RANGE], 4);
    CHECK_EQ_INT(st.nodes, 0);
    CHECK_EQ_INT(st.channels, 0);
    CHECK_EQ_INT(st.dcms, 0);
    CHECK_EQ_U64(t->stray, 0);

    /* The control still serves. */
    send_join(t, p);
    CHECK_EQ_INT(p->replies, 1);
    CHECK_EQ_INT(p->reply.status, STRATA_JOIN_OK);
    CHECK(p->instr_rx >= K);

    /* PROBE is the node's to answer (test_node), not the control center's. */
    strata_msg_probe pr = {{77}, 31, 123456};
    len = strata_wire_encode_probe(buf, sizeof buf, &pr);
    CHECK_EQ_INT(send_raw(t, p->addr, buf, (size_t)len), STRATA_ERR_UNEXPECTED);
    CHECK_EQ_U64(t->probe_replies, 0);

    /* max_nodes: the fourth node is refused as overloaded. */
    fnode *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] =
            add_node(t, 200 + (uint64_t)i, 0x0a000100u + (uint32_t)i, STRATA_ROLE_PEER, 1000, NULL);
        send_join(t, x[i]);
    }
    CHECK_EQ_INT(x[0]->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_INT(x[1]->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_INT(x[2]->reply.status, STRATA_JOIN_OVERLOADED);
    CHECK_EQ_U64(x[2]->reply.dcm.v, 0);
    net_del(t);
}

/* Everyone goes quiet: all die, and everything is released. */
static void test_all_dead(void)
{
    strata_control_config cfg = base_cfg();
    cfg.dead_after_ms = 2500;
    net *t = net_new(&cfg);
    fnode *peers[12];
    populate(t, peers);
    for (int i = 0; i < MAXN; i++)
        t->n[i].alive = 0;
    for (int i = 0; i < 4; i++)
        tick(t);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.deaths, 13);
    CHECK_EQ_INT(st.nodes, 0);
    CHECK_EQ_INT(st.channels, 0);
    CHECK_EQ_INT(st.dcms, 0);
    CHECK_EQ_U64(strata_control_next_timeout(t->c), t->now + STRATA_MS(HB_MS));
    net_del(t);
}

/* Seeded churn: joins, leaves, silences, revivals, moves and re-joins
 * across three regions, heartbeats in between; after each round the
 * silent are left to die and the topology the nodes hold must be whole. */
static void churn_property(uint64_t seed)
{
    enum { PEERS = 36, ROUNDS = 40 };
    static const uint32_t ups[] = {0, 250, 500, 1000, 2000, 3000};
    static const char *const labels[] = {NULL, NULL, "eu"};
    strata_rng rng;
    strata_rng_seed(&rng, seed);
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 6000, NULL);
    send_join(t, src);
    fnode *peers[PEERS];
    for (int i = 0; i < PEERS; i++) {
        uint32_t net24 = strata_rng_below(&rng, 2) ? 0x0a010200u : 0x0a020300u;
        peers[i] = add_node(t, 1 + (uint64_t)i, net24 + (uint32_t)i, STRATA_ROLE_PEER,
                            ups[strata_rng_below(&rng, 6)], labels[strata_rng_below(&rng, 3)]);
    }
    int bad = 0;
    for (int round = 0; round < ROUNDS && bad == 0; round++) {
        for (int op = 0; op < 12; op++) {
            fnode *f = peers[strata_rng_below(&rng, PEERS)];
            uint64_t r = strata_rng_below(&rng, 100);
            if (r < 35) {
                if (!f->alive) {
                    /* A new process: it knows nothing of past instructions. */
                    f->nd = 0;
                    f->epoch = 0;
                    send_join(t, f);
                    bad += f->reply.status != STRATA_JOIN_OK;
                }
            } else if (r < 50) {
                if (f->alive)
                    send_leave(t, f);
            } else if (r < 60) {
                f->alive = 0; /* silent: the control must find out */
            } else if (r < 70) {
                if (f->alive) {
                    if (strata_rng_below(&rng, 2))
                        f->addr.port = (uint16_t)(f->addr.port + 100);
                    uint32_t dcm = f->reply.dcm.v;
                    send_join(t, f);
                    bad += f->reply.dcm.v != dcm;
                }
            } else {
                tick(t);
            }
        }
        for (int i = 0; i < 5; i++)
            tick(t);
        size_t detached = 0;
        int problems = check_topology_ex(t, src, 1000, &detached);
        strata_control_status st;
        strata_control_get_status(t->c, &st);
        if (problems || detached != st.detached_pairs) {
            fprintf(stderr, "round %d: %d problems, %zu detached seen, %zu in status\n", round,
                    problems, detached, st.detached_pairs);
            bad++;
        }
        size_t alive = 0;
        for (int i = 0; i < PEERS; i++) {
            alive += peers[i]->alive != 0;
            if (!peers[i]->alive && names(t, peers[i]->id.v) != 0) {
                fprintf(stderr, "round %d: gone peer %llu still named\n", round,
                        (unsigned long long)peers[i]->id.v);
                bad++;
            }
        }
        if (st.peers != alive) {
            fprintf(stderr, "round %d: control has %zu peers, %zu alive\n", round, st.peers, alive);
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);
}

/* The seed STRATA_TEST_SEED names, else the default and seeds 1..40: the
 * default alone never has the backbone's two heads and a directly fed
 * region of weak members need more than the source's upload, where seeds
 * 7, 10, 14, 20, 31, 32 and 36 cut a head's region off in one tree
 * (direct_region_kbps). */
static void test_churn_property(void)
{
    enum { SEEDS = 40 };
    if (getenv("STRATA_TEST_SEED")) {
        churn_property(test_seed(0xc4u));
        return;
    }
    for (uint64_t i = 0; i <= SEEDS; i++) {
        unsigned long long seed = i ? i : 0xc4u;
        int before = test_failures;
        churn_property(seed);
        if (test_failures != before)
            fprintf(stderr, "churn: seed %llu failed; replay with STRATA_TEST_SEED=%llu\n", seed,
                    seed);
    }
}

/* Allocation failures anywhere in a scenario: no crash, no leak. */
typedef struct fail_alloc {
    long countdown;
    long live;
} fail_alloc;

static void *fa_alloc(void *user, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = malloc(size);
    f->live += p != NULL;
    return p;
}
static void *fa_realloc(void *user, void *ptr, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = realloc(ptr, size);
    f->live += p != NULL && ptr == NULL;
    return p;
}
static void fa_free(void *user, void *ptr)
{
    fail_alloc *f = user;
    f->live -= ptr != NULL;
    free(ptr);
}

static void alloc_scenario(const strata_alloc *a)
{
    strata_control_config cfg = base_cfg();
    uint64_t now = STRATA_S(1);
    strata_control *c = strata_control_new(&cfg, a, now);
    if (!c)
        return;
    static fnode f;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (int i = 0; i < 14; i++) {
        memset(&f, 0, sizeof f);
        f.id.v = 1 + (uint64_t)i;
        f.role = i == 5 ? STRATA_ROLE_SOURCE : STRATA_ROLE_PEER;
        f.rate_kbps = i == 5 ? 1200 : 0;
        f.upload_kbps = (uint32_t)(i % 4) * 700;
        f.channel = i % 3 ? "news" : "sport";
        f.label = i % 2 ? "eu" : NULL;
        f.addr = (strata_addr){0x0a000000u + (uint32_t)i * 300, 1};
        int len = encode_join(&f, buf, sizeof buf);
        strata_control_handle_datagram(c, f.addr, buf, (size_t)len, now);
    }
    strata_msg_leave lv = {{3}, strata_channel_id_from_name("news", 4), {1}};
    int len = strata_wire_encode_leave(buf, sizeof buf, &lv);
    strata_control_handle_datagram(c, f.addr, buf, (size_t)len, now);
    now += STRATA_S(10);
    strata_control_handle_timeout(c, now);
    strata_control_status st;
    strata_control_get_status(c, &st);
    strata_control_del(c);
}

static void test_alloc_failures(void)
{
    for (long fail_at = 0; fail_at < 5000; fail_at++) {
        fail_alloc f = {fail_at, 0};
        strata_alloc a = {fa_alloc, fa_realloc, fa_free, &f};
        alloc_scenario(&a);
        CHECK_EQ_INT(f.live, 0);
        if (f.countdown >= 0)
            break;
    }
}

/* The parents of every membership, sorted, as "node/channel:p0,p1,.." */
static size_t topology_lines(strata_control *c, char (*lines)[96], size_t cap)
{
    strata_control_entry e[MAXN];
    size_t n = strata_control_topology(c, e, MAXN);
    size_t m = 0;
    for (size_t i = 0; i < n && m < cap; i++) {
        if (e[i].role != STRATA_ROLE_PEER)
            continue;
        int off = snprintf(lines[m], 96, "%llx/%llx:", (unsigned long long)e[i].node.v,
                           (unsigned long long)(e[i].channel.v & 0xffff));
        for (int s = 0; s < e[i].k && off < 90; s++)
            off += snprintf(lines[m] + off, (size_t)(96 - off), "%llx,",
                            (unsigned long long)(e[i].parents[s].v & 0xffffffff));
        m++;
    }
    qsort(lines, m, sizeof lines[0], (int (*)(const void *, const void *))strcmp);
    return m;
}

/* A control center killed and started again: every node and the source
 * hear UNKNOWN and join again, and the new control center's instructions
 * outrank the old ones (it takes the epochs heartbeats report), so the
 * nodes follow it: the topology checks out from their instructions. The
 * new control center rebuilds the trees from what the heartbeats report:
 * every peer has the parents it had before the crash. */
/* The recovery window waits for a channel's source (its rate, and the
 * upload shares that rate gives, are what the trees are restored with) as
 * long as RESTART_SOURCE_WAIT_HEARTBEATS (12) allows: the source back late,
 * the trees are still those before the crash; a source that never comes
 * back does not hold the members for longer. */
static void test_restart_waits_for_source(void)
{
    for (int come_back = 1; come_back >= 0; come_back--) {
        strata_control_config cfg = base_cfg();
        net *t = net_new(&cfg);
        fnode *peers[12];
        fnode *src = populate(t, peers);
        for (int i = 0; i < 3; i++)
            tick(t);
        static char topo_before[MAXN][96], topo_after[MAXN][96];
        size_t nb = topology_lines(t->c, topo_before, MAXN);
        strata_control_del(t->c);
        t->now += STRATA_S(2);
        t->c = strata_control_new(&cfg, NULL, t->now);
        tick(t);
        for (int i = 0; i < MAXN; i++) {
            fnode *f = &t->n[i];
            if (f->used && f->alive && f != src)
                send_join(t, f);
        }
        strata_control_status st;
        int ticks = 0;
        for (; ticks < 6; ticks++)
            tick(t);
        strata_control_get_status(t->c, &st);
        CHECK_EQ_INT(st.recovering, 1); /* past the 3 heartbeats: waits for the source */
        if (come_back) {
            send_join(t, src);
            CHECK_EQ_INT(src->reply.status, STRATA_JOIN_OK);
            tick(t);
            strata_control_get_status(t->c, &st);
            CHECK_EQ_INT(st.recovering, 0);
            size_t na = topology_lines(t->c, topo_after, MAXN);
            CHECK_EQ_U64(na, nb);
            for (size_t i = 0; i < na && i < nb; i++)
                CHECK(strcmp(topo_before[i], topo_after[i]) == 0);
            CHECK_EQ_INT(check_topology(t, src, 1000), 0);
        } else {
            for (; ticks < 12 && st.recovering; ticks++) {
                tick(t);
                strata_control_get_status(t->c, &st);
            }
            CHECK_EQ_INT(st.recovering, 0);
            CHECK_EQ_U64(st.restored_members, 12);
        }
        net_del(t);
    }
}

/* Each peer membership as "node dcm region-dcm level: parents", sorted:
 * the whole hierarchy a restart must give back. */
static size_t hierarchy_lines(strata_control *c, char (*lines)[160], size_t cap)
{
    static strata_control_entry e[MAXN];
    size_t n = strata_control_topology(c, e, MAXN);
    size_t m = 0;
    for (size_t i = 0; i < n && m < cap; i++) {
        if (e[i].role != STRATA_ROLE_PEER)
            continue;
        int off = snprintf(lines[m], 160, "%llx d%u r%u l%u:", (unsigned long long)e[i].node.v,
                           (unsigned)e[i].dcm.v, (unsigned)e[i].region_dcm.v, (unsigned)e[i].level);
        for (int s = 0; s < STRATA_WIRE_MAX_TREES && off < 140; s++)
            off += snprintf(lines[m] + off, (size_t)(160 - off), "%llx,",
                            (unsigned long long)(e[i].parents[s].v & 0xffffffff));
        m++;
    }
    qsort(lines, m, sizeof lines[0], (int (*)(const void *, const void *))strcmp);
    return m;
}

/* A restart gives every level back (SPEC C14): regions with preferred
 * nodes, a mesh or backbone above them, with levels ec other regions'
 * preferred nodes rooting trees, with levels 3 relay members feeding the
 * common trees. Every membership comes back in the same DCM, at the same
 * level, with the same parents, the preferred nodes feeding the same
 * trees; the nodes join again in the reverse order. */
/* How many of the n hierarchy lines are the same before and after a
 * restart (STRATA_TEST_VERBOSE prints the others, after label). */
static size_t same_lines(char (*before)[160], char (*after)[160], size_t n, const char *label)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(before[i], after[i]) == 0)
            same++;
        else if (getenv("STRATA_TEST_VERBOSE"))
            fprintf(stderr, "  %s: %s -> %s\n", label, before[i], after[i]);
    }
    return same;
}

static void test_restart_keeps_levels(void)
{
    static const uint8_t modes[] = {STRATA_LEVELS_BACKBONE, STRATA_LEVELS_MESH, STRATA_LEVELS_EC,
                                    STRATA_LEVELS_THREE};
    static char before[MAXN][160], after[MAXN][160];
    for (size_t mi = 0; mi < sizeof modes; mi++) {
        enum { STRONG = 12, WEAK = 3 };
        strata_control_config cfg = base_cfg();
        cfg.levels = modes[mi];
        net *t = net_new(&cfg);
        fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
        send_join(t, src);
        static const uint32_t ups[STRONG] = {16000, 12000, 5000, 5000, 5000, 5000,
                                             5000,  1000,  1000, 1000, 1000, 500};
        fnode *all[3 * STRONG];
        int n = 0;
        uint64_t id = 1;
        for (int i = 0; i < STRONG; i++) {
            for (int r = 0; r < 2; r++) {
                all[n] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, ups[i],
                                  r ? "us" : "eu");
                send_join(t, all[n++]);
                id++;
            }
        }
        for (int i = 0; i < WEAK; i++) {
            all[n] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, 1000, "as");
            send_join(t, all[n++]);
            id++;
        }
        for (int i = 0; i < 2 * 10 + 1; i++)
            tick_delivering(t, NULL);
        size_t nb = hierarchy_lines(t->c, before, MAXN);
        strata_control_status st;
        strata_control_get_status(t->c, &st);
        uint64_t detached_before = st.detached_pairs;
        size_t bad_before = 0, bad_after = 0;
        if (modes[mi] == STRATA_LEVELS_BACKBONE)
            check_topology_ex(t, src, 1000, &bad_before);

        strata_control_del(t->c);
        t->now += STRATA_S(2);
        t->c = strata_control_new(&cfg, NULL, t->now);
        tick(t);
        send_join(t, src);
        for (int i = n - 1; i >= 0; i--) {
            send_join(t, all[i]);
            CHECK_EQ_INT(all[i]->reply.status, STRATA_JOIN_OK);
        }
        for (int i = 0; i < 12; i++) {
            tick_delivering(t, NULL);
            strata_control_get_status(t->c, &st);
            if (!st.recovering)
                break;
        }
        CHECK_EQ_INT(st.recovering, 0);
        CHECK_EQ_U64(st.restored_members, (uint64_t)n);
        size_t na = hierarchy_lines(t->c, after, MAXN);
        CHECK_EQ_U64(na, nb);
        char label[32];
        snprintf(label, sizeof label, "levels %u", (unsigned)modes[mi]);
        size_t same = same_lines(before, after, na < nb ? na : nb, label);
        fprintf(stderr,
                "  levels %u: %zu of %zu memberships as before, %llu of %llu edges, "
                "detached pairs %llu -> %llu\n",
                (unsigned)modes[mi], same, nb, (unsigned long long)st.restored_edges,
                (unsigned long long)st.reported_edges, (unsigned long long)detached_before,
                (unsigned long long)st.detached_pairs);
        /* Pairs detached before the restart may find a parent in the
         * restored trees, moving at most one other edge each. */
        CHECK(st.detached_pairs <= detached_before);
        CHECK(same + 2 * detached_before >= nb);
        CHECK(st.restored_edges + detached_before >= st.reported_edges);
        if (modes[mi] == STRATA_LEVELS_BACKBONE) {
            /* The nodes follow it: their instructions agree, and the pairs
             * the weak region leaves detached are the same. */
            CHECK_EQ_INT(check_topology_ex(t, src, 1000, &bad_after), 0);
            CHECK_EQ_U64(bad_after, bad_before);
        }
        net_del(t);
    }
}

/* The shape of the real restart test with levels 3 in one region: the
 * peers join before a source whose upload is 4 x the rate (so the
 * relay cluster's root budget is what that upload allows), and relay
 * members of 3 x the rate give their cluster 1/2 of the rate at most (no
 * slot at the scaled share). The restored cluster must get the budget
 * the push after the window gives it, with room for the root children
 * its members report, and be restored at the full share where the old
 * one was: every membership comes back as it was. This model passes
 * with session 10's restore too: the two causes that e2e's
 * test_control_restart.sh found (an empty DCM's budget, edges refused
 * under members without a slot) need the real processes' timing and
 * second channel, which it does not reproduce yet. */
static void test_restart_source_budget(void)
{
    static char before[MAXN][160], after[MAXN][160];
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    net *t = net_new(&cfg);
    static const uint32_t ups[] = {3000, 3000, 3000, 16000, 16000, 3000, 500, 0,   1000,
                                   2000, 500,  0,    3000,  16000, 1000, 0,   500, 2000};
    enum { N = sizeof ups / sizeof ups[0] };
    fnode *all[N];
    for (int i = 0; i < N; i++) {
        all[i] = add_node(t, (uint64_t)i + 1, 0x0a000000u + (uint32_t)i + 1, STRATA_ROLE_PEER,
                          ups[i], "eu");
        send_join(t, all[i]);
    }
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 4000, NULL);
    send_join(t, src);
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    size_t nb = hierarchy_lines(t->c, before, MAXN);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    uint64_t detached_before = st.detached_pairs;

    strata_control_del(t->c);
    t->now += STRATA_S(2);
    t->c = strata_control_new(&cfg, NULL, t->now);
    tick(t);
    for (int i = N - 1; i >= 0; i--)
        send_join(t, all[i]);
    send_join(t, src);
    for (int i = 0; i < 16; i++) {
        tick_delivering(t, NULL);
        strata_control_get_status(t->c, &st);
        if (!st.recovering)
            break;
    }
    CHECK_EQ_INT(st.recovering, 0);
    CHECK_EQ_U64(st.restored_members, (uint64_t)N);
    size_t na = hierarchy_lines(t->c, after, MAXN);
    CHECK_EQ_U64(na, nb);
    size_t same = same_lines(before, after, na < nb ? na : nb, "source 4 x the rate");
    fprintf(stderr,
            "  source 4 x the rate, peers first: %zu of %zu memberships as before, %llu of %llu "
            "edges, detached pairs %llu -> %llu\n",
            same, nb, (unsigned long long)st.restored_edges, (unsigned long long)st.reported_edges,
            (unsigned long long)detached_before, (unsigned long long)st.detached_pairs);
    CHECK_EQ_U64(same, nb);
    CHECK_EQ_U64(st.restored_edges, st.reported_edges);
    net_del(t);
}

/* The same through two channels with levels 3 (the shape of
 * tests/e2e/test_control_restart.sh): half the nodes in both channels,
 * sharing their upload by priority, the rest in the first only. */
static void test_restart_keeps_two_channels(void)
{
    static char before[MAXN][160], after[MAXN][160];
    static const uint32_t caps[6] = {6000, 3000, 1000, 0, 2000, 500};
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    net *t = net_new(&cfg);
    fnode *s1 = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    fnode *s2 = add_node(t, 9001, 0xc0a80002u, STRATA_ROLE_SOURCE, 0, NULL);
    s2->channel = "film";
    s2->rate_kbps = 2000;
    send_join(t, s1);
    send_join(t, s2);
    fnode *all[MAXN];
    int n = 0;
    for (int i = 0; i < 20; i++) {
        uint32_t ip = 0x0a000100u + (uint32_t)i;
        if (i % 2 == 0) {
            fnode *a = add_node(t, 1 + (uint64_t)i, ip, STRATA_ROLE_PEER, 40000, "eu");
            fnode *b = add_node(t, 1 + (uint64_t)i, ip, STRATA_ROLE_PEER, 40000, "eu");
            b->addr = a->addr;
            b->channel = "film";
            b->priority = 1;
            all[n++] = a;
            all[n++] = b;
        } else {
            all[n++] = add_node(t, 1 + (uint64_t)i, ip, STRATA_ROLE_PEER, caps[i % 6], "eu");
        }
    }
    for (int i = 0; i < n; i++)
        send_join(t, all[i]);
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    size_t nb = hierarchy_lines(t->c, before, MAXN);
    strata_control_del(t->c);
    t->now += STRATA_S(2);
    t->c = strata_control_new(&cfg, NULL, t->now);
    tick(t);
    send_join(t, s2);
    for (int i = n - 1; i >= 0; i--)
        send_join(t, all[i]);
    send_join(t, s1);
    strata_control_status st;
    for (int i = 0; i < 12; i++) {
        tick_delivering(t, NULL);
        strata_control_get_status(t->c, &st);
        if (!st.recovering)
            break;
    }
    size_t na = hierarchy_lines(t->c, after, MAXN);
    CHECK_EQ_U64(na, nb);
    size_t same = same_lines(before, after, na < nb ? na : nb, "two channels");
    fprintf(stderr,
            "  two channels, levels 3: %zu of %zu memberships as before, %llu of %llu edges\n",
            same, nb, (unsigned long long)st.restored_edges, (unsigned long long)st.reported_edges);
    CHECK_EQ_U64(same, nb);
    net_del(t);
}

/* Two regions, so two regional DCMs (ids 1 and 2) and a backbone: after a
 * restart the members of the second region come back first, and still
 * each regional DCM is back under its logical id, the one its members
 * report in their heartbeats. */
static void test_restart_keeps_dcm_ids(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = add_node(t, 1 + (uint64_t)i, 0x0a010201u + (uint32_t)i, STRATA_ROLE_PEER, 500,
                        i < 4 ? "eu" : "us");
        send_join(t, p[i]);
        CHECK_EQ_INT(p[i]->reply.status, STRATA_JOIN_OK);
    }
    CHECK_EQ_U64(p[0]->reply.dcm.v, 1);
    CHECK_EQ_U64(p[7]->reply.dcm.v, 2);
    for (int i = 0; i < 3; i++)
        tick(t);
    strata_control_del(t->c);
    t->now += STRATA_S(2);
    t->c = strata_control_new(&cfg, NULL, t->now);
    tick(t);
    send_join(t, src);
    for (int i = 7; i >= 0; i--) {
        send_join(t, p[i]);
        CHECK_EQ_INT(p[i]->reply.status, STRATA_JOIN_OK);
        CHECK_EQ_U64(p[i]->reply.dcm.v, i < 4 ? 1 : 2);
    }
    for (int i = 0; i < 4; i++)
        tick(t);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.recovering, 0);
    CHECK_EQ_U64(st.dcms, 3); /* the two regions and a backbone, id 3 or above */
    for (int i = 0; i < 8; i++) {
        strata_control_member m = {0};
        CHECK(strata_control_member_of(t->c, p[i]->id, chan(p[i]), &m));
        CHECK_EQ_U64(m.dcm.v, i < 4 ? 1 : 2);
    }
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    net_del(t);
}

static void test_restart(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *peers[12];
    fnode *src = populate(t, peers);
    /* Churn first, so that the trees are not what a fresh build in any
     * order gives: two leave, two join. */
    send_leave(t, peers[10]);
    send_leave(t, peers[11]);
    fnode *late[2];
    for (int i = 0; i < 2; i++) {
        late[i] = add_node(t, 300 + (uint64_t)i, 0x0a010220u + (uint32_t)i, STRATA_ROLE_PEER,
                           i ? 1000 : 3000, NULL);
        send_join(t, late[i]);
    }
    peers[10] = late[0];
    peers[11] = late[1];
    for (int i = 0; i < 3; i++)
        tick(t);
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    uint32_t before = 0;
    for (int i = 0; i < 12; i++)
        before = peers[i]->epoch > before ? peers[i]->epoch : before;
    CHECK(before > 12); /* every join made a batch: far above a fresh counter */
    static char topo_before[MAXN][96], topo_after[MAXN][96];
    size_t nb = topology_lines(t->c, topo_before, MAXN);
    CHECK_EQ_U64(nb, 12);
    uint32_t dcm_before[12];
    for (int i = 0; i < 12; i++) {
        strata_control_member m = {0};
        CHECK(strata_control_member_of(t->c, peers[i]->id, chan(peers[i]), &m));
        dcm_before[i] = m.dcm.v;
    }

    strata_control_del(t->c);
    t->now += STRATA_S(2);
    t->c = strata_control_new(&cfg, NULL, t->now);
    tick(t);
    for (int i = MAXN - 1; i >= 0; i--) { /* they come back in another order */
        fnode *f = &t->n[i];
        if (!f->used || !f->alive)
            continue;
        CHECK_EQ_INT(f->reply.status, STRATA_JOIN_UNKNOWN);
        send_join(t, f);
        CHECK_EQ_INT(f->reply.status, STRATA_JOIN_OK);
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.recovering, 1);
    for (int i = 0; i < 3; i++)
        tick(t);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.recovering, 0);
    CHECK_EQ_U64(st.restored_members, 12);
    CHECK_EQ_U64(st.reported_edges, 12 * K);
    CHECK_EQ_U64(st.restored_edges, 12 * K);
    size_t na = topology_lines(t->c, topo_after, MAXN);
    CHECK_EQ_U64(na, nb);
    for (size_t i = 0; i < na && i < nb; i++) {
        if (strcmp(topo_before[i], topo_after[i]) != 0) {
            fprintf(stderr, "restart: %s became %s\n", topo_before[i], topo_after[i]);
            CHECK(0);
        }
    }
    CHECK_EQ_INT(check_topology(t, src, 1000), 0);
    for (int i = 0; i < 12; i++)
        CHECK(peers[i]->epoch > before);
    /* The DCM is back under the logical id its members report. */
    for (int i = 0; i < 12; i++) {
        strata_control_member m = {0};
        CHECK(strata_control_member_of(t->c, peers[i]->id, chan(peers[i]), &m));
        CHECK_EQ_U64(m.dcm.v, dcm_before[i]);
    }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.peers, 12);
    CHECK_EQ_INT(st.sources, 1);
    CHECK_EQ_INT(st.detached_pairs, 0);

    /* Once the young period is over, a heartbeat cannot move the counter. */
    for (int i = 0; i < 12; i++)
        tick(t);
    fnode *liar = add_node(t, 9999, 0x0a0009ffu, STRATA_ROLE_PEER, 1000, NULL);
    liar->alive = 1;
    liar->hb_epoch_override = 1;
    liar->hb_epoch = UINT32_MAX - 1;
    send_hb(t, liar);
    send_join(t, peers[0]); /* a batch: the next epoch after the counter */
    CHECK(peers[0]->epoch < UINT32_MAX - 1);
    net_del(t);
}

/* A channel whose viewers lack upload gets a relay: a node of the same
 * region with upload its own channel cannot use is asked (RECRUIT) to
 * relay it, joins as a RELAY, and the trees reach every viewer; once no
 * one watches, the relay is released. */
static void test_recruit(void)
{
    strata_control_config cfg = base_cfg();
    /* Declared uploads believed (the default; the fake nodes send no
     * counters, so a relay could not prove its upload: the capacity check
     * has tests of its own). */
    net *t = net_new(&cfg);
    fnode *s1 = add_node(t, 1, 0x0a000001u, STRATA_ROLE_SOURCE, 4000, NULL);
    fnode *s2 = add_node(t, 2, 0x0a000002u, STRATA_ROLE_SOURCE, 1000, NULL);
    s2->channel = "film";
    send_join(t, s1);
    send_join(t, s2);
    /* R0..R3 watch news only and have far more upload than its trees use
     * (demand 1000 x 64 / 4 = 16000 kbps); each relay is interior in one
     * of film's 4 trees, so it takes one per tree. */
    fnode *r[4], *relay[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        r[i] =
            add_node(t, 50 + (uint64_t)i, 0x0a000100u + (uint32_t)i, STRATA_ROLE_PEER, 40000, "eu");
        send_join(t, r[i]);
    }
    fnode *v[6];
    for (int i = 0; i < 6; i++) {
        v[i] = add_node(t, 60 + (uint64_t)i, 0x0a000110u + (uint32_t)i, STRATA_ROLE_PEER, 0, "eu");
        v[i]->channel = "film";
        send_join(t, v[i]);
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK(st.detached_pairs > 0); /* 6 viewers, 4 source slots, no upload */
    /* Each tick: one recruit while pairs stay detached; the recruit joins. */
    int joined = 0;
    for (int round = 0; round < 8; round++) {
        tick(t);
        for (int i = 0; i < 4; i++) {
            CHECK(r[i]->recruits <= 1); /* never asked twice */
            if (r[i]->recruits && !relay[i]) {
                CHECK(strcmp(r[i]->recruit_name, "film") == 0);
                relay[i] = add_node(t, r[i]->id.v, 0, STRATA_ROLE_RELAY, 40000, "eu");
                relay[i]->addr = r[i]->addr;
                relay[i]->channel = "film";
                send_join(t, relay[i]);
                CHECK_EQ_INT(relay[i]->reply.status, STRATA_JOIN_OK);
                joined++;
            }
        }
    }
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(v[i]->recruits, 0); /* nobody without upload to spare */
    strata_control_get_status(t->c, &st);
    CHECK(joined >= 1 && joined <= 4);
    CHECK_EQ_INT(st.relays, (size_t)joined);
    CHECK_EQ_INT(st.detached_pairs, 0);
    CHECK_EQ_INT(check_topology(t, s2, 1000), 0);
    uint32_t kids = 0;
    for (int i = 0; i < 4; i++)
        for (int s = 0; relay[i] && s < K; s++) {
            const strata_msg_instruction *in = latest(relay[i], relay[i]->reply.dcm.v, s);
            kids += in ? in->n_children : 0;
        }
    CHECK(kids >= 6);
    /* the viewers leave: every relay is released */
    for (int i = 0; i < 6; i++)
        send_leave(t, v[i]);
    tick(t);
    int released = 0;
    for (int i = 0; i < 4; i++)
        released += r[i]->releases;
    CHECK_EQ_INT(released, joined);
    net_del(t);

    /* --recruit off */
    cfg.no_recruit = 1;
    t = net_new(&cfg);
    s1 = add_node(t, 1, 0x0a000001u, STRATA_ROLE_SOURCE, 4000, NULL);
    s2 = add_node(t, 2, 0x0a000002u, STRATA_ROLE_SOURCE, 1000, NULL);
    s2->channel = "film";
    send_join(t, s1);
    send_join(t, s2);
    r[0] = add_node(t, 50, 0x0a000100u, STRATA_ROLE_PEER, 40000, "eu");
    send_join(t, r[0]);
    for (int i = 0; i < 6; i++) {
        v[i] = add_node(t, 60 + (uint64_t)i, 0x0a000110u + (uint32_t)i, STRATA_ROLE_PEER, 0, "eu");
        v[i]->channel = "film";
        send_join(t, v[i]);
    }
    tick(t);
    tick(t);
    CHECK_EQ_INT(r[0]->recruits, 0);
    net_del(t);
}

/* The upload node x gives channel ch, or 0 when it is not a member. */
static uint32_t share_of(net *t, const fnode *x)
{
    strata_control_member m;
    return strata_control_member_of(t->c, x->id, chan(x), &m) ? m.upload_kbps : 0;
}

/* A node in two channels (SPEC C12): one membership each, with its own
 * trees, heartbeats and LEAVE; the upload is shared by priority. */
static void test_two_channels(void)
{
    strata_control_config cfg = base_cfg();
    net *t = net_new(&cfg);
    fnode *s1 = add_node(t, 1, 0x0a000001u, STRATA_ROLE_SOURCE, 4000, NULL);
    fnode *s2 = add_node(t, 2, 0x0a000002u, STRATA_ROLE_SOURCE, 4000, NULL);
    s2->channel = "film";
    send_join(t, s1);
    send_join(t, s2);
    /* demand per channel: 1000 kbps x 64 children / k 4 = 16000 kbps */
    fnode *x_news = add_node(t, 50, 0x0a000100u, STRATA_ROLE_PEER, 40000, NULL);
    fnode *x_film = add_node(t, 50, 0x0a000100u, STRATA_ROLE_PEER, 40000, NULL);
    x_film->addr = x_news->addr;
    x_film->channel = "film";
    x_film->priority = 1;
    fnode *y = add_node(t, 51, 0x0a000101u, STRATA_ROLE_PEER, 2000, NULL);
    send_join(t, x_news);
    CHECK_EQ_U64(share_of(t, x_news), 40000); /* alone: the whole upload */
    send_join(t, y);
    send_join(t, x_film);
    CHECK_EQ_INT(x_news->reply.status, STRATA_JOIN_OK);
    CHECK_EQ_INT(x_film->reply.status, STRATA_JOIN_OK);
    CHECK(x_news->reply.dcm.v != x_film->reply.dcm.v);
    /* the first channel keeps what its trees can use, the second the rest */
    CHECK_EQ_U64(share_of(t, x_news), 16000);
    CHECK_EQ_U64(share_of(t, x_film), 24000);
    strata_control_member m;
    CHECK(strata_control_member_of(t->c, x_film->id, chan(x_film), &m));
    CHECK_EQ_INT(m.channels, 2);
    CHECK_EQ_INT(m.priority, 1);
    CHECK_EQ_INT(check_topology(t, s1, 1000), 0);
    CHECK_EQ_INT(check_topology(t, s2, 1000), 0);
    CHECK(x_news->instr_rx >= K && x_film->instr_rx >= K);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.peers, 3); /* memberships */
    CHECK_EQ_INT(st.channels, 2);
    /* heartbeats of both memberships are taken, none is unknown */
    tick(t);
    tick(t);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.drops.total, 0);
    CHECK_EQ_U64(x_news->reply.status, STRATA_JOIN_OK);
    /* leaving one channel leaves the other alone, with the whole upload */
    send_leave(t, x_news);
    CHECK(!strata_control_member_of(t->c, x_news->id, chan(x_news), &m));
    CHECK_EQ_U64(share_of(t, x_film), 40000);
    tick(t);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.drops.total, 0);
    CHECK_EQ_INT(check_topology(t, s2, 1000), 0);
    /* a channel of higher priority that joins later takes its part
     * back from the lower one, whose trees give way */
    send_join(t, x_news);
    CHECK_EQ_U64(share_of(t, x_news), 16000);
    CHECK_EQ_U64(share_of(t, x_film), 24000);
    tick(t);
    CHECK_EQ_INT(check_topology(t, s1, 1000), 0);
    CHECK_EQ_INT(check_topology(t, s2, 1000), 0);
    net_del(t);
}

/* levels = ec: the root children of each tree t of region r's cluster, and
 * the one node they all name as parent there (0: none, -1: several). */
static int64_t ec_tree_feeder(net *t, fnode **members, int n, int tree)
{
    int64_t feeder = 0;
    for (int i = 0; i < n; i++) {
        fnode *f = members[i];
        if (!f->alive || is_head(f))
            continue;
        const strata_msg_instruction *in = latest(f, 0, tree);
        if (!in)
            return -1;
        fnode *p = by_id(t, in->parent.node.v);
        if (!p || !is_head(p))
            continue; /* a member below another member */
        if (feeder && feeder != (int64_t)p->id.v)
            return -1;
        feeder = (int64_t)p->id.v;
    }
    return feeder;
}

/* Every region's k + n trees are each fed by another preferred node, the
 * region's own heads on data trees; every member has EC_TREE instructions
 * for all k + n trees, naming n and level 2, with a parent in each; a
 * parity tree's feeder has an EC_TREE instruction for it listing the root
 * children, with no parent; the source gets no parity instructions. */
static void check_ec_regions(net *t, fnode *src, fnode *peers[][6], int regions, int parity)
{
    for (int r = 0; r < regions; r++) {
        int64_t feeders[T];
        for (int tr = 0; tr < K + parity; tr++) {
            feeders[tr] = ec_tree_feeder(t, peers[r], 6, tr);
            CHECK(feeders[tr] > 0);
            for (int u = 0; u < tr; u++)
                CHECK(feeders[u] != feeders[tr]);
            fnode *h = feeders[tr] > 0 ? by_id(t, (uint64_t)feeders[tr]) : NULL;
            int home = 0;
            for (int i = 0; h && i < 6; i++)
                home |= peers[r][i] == h;
            if (home)
                CHECK(tr < K); /* a region's own heads feed data trees */
            const strata_msg_instruction *hi = h ? latest(h, 0, tr) : NULL;
            CHECK(hi != NULL);
            if (hi && tr >= K)
                CHECK(hi->algorithm == STRATA_ALG_EC_TREE && hi->n == parity &&
                      hi->parent.node.v == 0);
            for (int i = 0; hi && i < 6; i++) {
                fnode *f = peers[r][i];
                const strata_msg_instruction *in =
                    f->alive && !is_head(f) ? latest(f, 0, tr) : NULL;
                if (in && in->parent.node.v == h->id.v)
                    CHECK(ref_lists(hi, f->id.v));
            }
        }
        for (int i = 0; i < 6; i++) {
            fnode *f = peers[r][i];
            if (!f->alive || is_head(f))
                continue;
            for (int tr = 0; tr < K + parity; tr++) {
                const strata_msg_instruction *in = latest(f, 0, tr);
                CHECK(in && in->algorithm == STRATA_ALG_EC_TREE && in->n == parity &&
                      in->level == 2 && in->parent.node.v != 0);
            }
        }
    }
    /* Every preferred node has an instruction for every parity tree, empty
     * for those it does not root (a node keeps an instruction until a newer
     * one names its substream); each child it lists names it as parent. */
    for (int r = 0; r < regions; r++)
        for (int i = 0; i < 6; i++) {
            fnode *h = peers[r][i];
            if (!h->alive || !is_head(h))
                continue;
            for (int tr = K; tr < K + parity; tr++) {
                const strata_msg_instruction *hi = latest(h, 0, tr);
                CHECK(hi && hi->algorithm == STRATA_ALG_EC_TREE && hi->n == parity &&
                      hi->parent.node.v == 0);
                for (int c = 0; hi && c < hi->n_children; c++) {
                    fnode *ch = by_id(t, hi->children[c].node.v);
                    const strata_msg_instruction *ci = ch ? latest(ch, 0, tr) : NULL;
                    CHECK(ci && ci->parent.node.v == h->id.v);
                }
            }
        }
    for (int i = 0; i < src->nd; i++)
        for (int tr = K; tr < T; tr++)
            CHECK(!src->d[i].have[tr]);
}

/* The tree level a non-head member is at in its latest instructions. */
static int member_level(fnode *f)
{
    const strata_msg_instruction *in = latest(f, 0, 0);
    return in ? in->level : -1;
}

/* levels = 3, one region's shape: its preferred nodes, a relay cluster of
 * at most k + n members in k + n EC trees, common members in K plain
 * trees whose tree s hangs under one feeder (a relay member, else a
 * preferred node) that lists its root children; the K feeders distinct
 * when the relay cluster has K members. Returns the relay members. */
static int check_three_region(net *t, fnode **peers, int n, int parity)
{
    int relays = 0, commons = 0;
    int64_t feeder[K] = {0};
    for (int i = 0; i < n; i++) {
        fnode *f = peers[i];
        if (!f->alive || is_head(f))
            continue;
        int level = member_level(f);
        CHECK(level == 2 || level == 3);
        relays += level == 2;
        commons += level == 3;
        for (int tr = 0; level == 2 && tr < K + parity; tr++) {
            const strata_msg_instruction *in = latest(f, 0, tr);
            CHECK(in && in->algorithm == STRATA_ALG_EC_TREE && in->n == parity &&
                  in->parent.node.v != 0);
        }
        for (int tr = 0; level == 3 && tr < K; tr++) {
            const strata_msg_instruction *in = latest(f, 0, tr);
            CHECK(in && in->algorithm == STRATA_ALG_TREE && in->parent.node.v != 0);
            fnode *p = in ? by_id(t, in->parent.node.v) : NULL;
            CHECK(p != NULL && p->alive);
            if (!p || member_level(p) == 3)
                continue;
            /* A root child: its parent feeds tree tr, one feeder a tree. */
            CHECK(member_level(p) == 2 || is_head(p));
            CHECK(feeder[tr] == 0 || feeder[tr] == (int64_t)p->id.v);
            feeder[tr] = (int64_t)p->id.v;
            const strata_msg_instruction *pi = latest(p, 0, tr);
            CHECK(pi && ref_lists(pi, f->id.v));
        }
    }
    CHECK(relays <= K + parity);
    if (commons && relays >= K)
        for (int tr = 0; tr < K; tr++)
            for (int u = 0; u < tr; u++)
                CHECK(feeder[u] != feeder[tr]);
    return relays;
}

/* levels = 3: two regions with high-capacity members, one without. */
static void test_three_levels(void)
{
    enum { PARITY = 2, STRONG = 16, WEAK = 3 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    cfg.split_members = 1; /* regions of a few members split (see test_three_levels_split_size) */
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    static const uint32_t ups[STRONG] = {16000, 12000, 5000, 5000, 5000, 5000, 5000, 5000,
                                         5000,  1000,  1000, 1000, 1000, 1000, 1000, 500};
    fnode *eu[STRONG], *us[STRONG], *as[WEAK], *sa[2 + WEAK];
    uint64_t id = 1;
    for (int i = 0; i < STRONG; i++) {
        eu[i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, ups[i], "eu");
        id++;
        us[i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, ups[i], "us");
        id++;
        send_join(t, eu[i]);
        send_join(t, us[i]);
    }
    for (int i = 0; i < WEAK; i++) {
        as[i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, 1000, "as");
        id++;
        send_join(t, as[i]);
    }
    /* sa: one member of twice the rate (a relay member, so the weak ones
     * after it are common). */
    for (int i = 0; i < 2 + WEAK; i++) {
        sa[i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, i == 0 ? 2500 : 1000,
                         "sa");
        id++;
        send_join(t, sa[i]);
    }
    CHECK_EQ_INT(member_level(sa[2]), 3);
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    CHECK(is_head(eu[0]) && is_head(eu[1]) && is_head(us[0]) && is_head(us[1]));
    /* The relay clusters got back to k + n after the promotions. */
    CHECK_EQ_INT(check_three_region(t, eu, STRONG, PARITY), K + PARITY);
    CHECK_EQ_INT(check_three_region(t, us, STRONG, PARITY), K + PARITY);
    check_three_region(t, as, WEAK, PARITY);
    CHECK_EQ_INT(member_level(eu[STRONG - 1]), 3); /* the weakest is common */
    /* sa's member of twice the rate is a preferred node that feeds its
     * common trees; when it leaves nobody can: the common cluster merges
     * into the relay cluster. */
    CHECK(is_head(sa[0]));
    CHECK(member_level(sa[2]) == 3 || is_head(sa[2]));
    check_three_region(t, sa, 2 + WEAK, PARITY);
    send_leave(t, sa[0]);
    sa[0]->alive = 0;
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    for (int i = 1; i < 2 + WEAK; i++)
        CHECK(member_level(sa[i]) == 2 || is_head(sa[i]));
    check_three_region(t, sa, 2 + WEAK, PARITY);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);

    /* The relay members feeding eu's common trees leave: the trees get
     * other feeders, and nothing names them any more. */
    fnode *gone[K];
    int ngone = 0;
    for (int i = 0; i < STRONG; i++) {
        fnode *f = eu[i];
        for (int tr = 0; tr < K && ngone < 2; tr++) {
            const strata_msg_instruction *in = member_level(f) == 3 ? latest(f, 0, tr) : NULL;
            fnode *p = in ? by_id(t, in->parent.node.v) : NULL;
            int dup = 0;
            for (int g = 0; g < ngone; g++)
                dup |= gone[g] == p;
            if (p && member_level(p) == 2 && !dup)
                gone[ngone++] = p;
        }
    }
    CHECK_EQ_INT(ngone, 2);
    for (int g = 0; g < ngone; g++) {
        send_leave(t, gone[g]);
        gone[g]->alive = 0;
    }
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    check_three_region(t, eu, STRONG, PARITY);
    for (int i = 0; i < STRONG; i++)
        for (int tr = 0; eu[i]->alive && tr < K + PARITY; tr++) {
            const strata_msg_instruction *in = latest(eu[i], 0, tr);
            for (int g = 0; in && g < ngone; g++)
                CHECK(!ref_lists(in, gone[g]->id.v) && in->parent.node.v != gone[g]->id.v);
        }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);
}

/* levels = 3, peers before the source (the shape of
 * tests/e2e/test_control_restart.sh): at their JOINs the rate is not
 * known (0), so every one of them looks strong enough to feed common
 * trees. When the source announces the rate, the region where nobody has
 * twice the rate becomes one cluster, as if the source had come first (a
 * relay member's share, kept from rate 0, once made it look strong for
 * good, and a restart then merged the region). */
static void test_three_levels_rate_after_peers(void)
{
    enum { STRONG = 10, WEAK = 10 };
    static const uint32_t weak_ups[WEAK] = {3000, 0, 500, 3000, 0, 500, 3000, 0, 500, 3000};
    int levels[2][WEAK];
    for (int source_first = 0; source_first < 2; source_first++) {
        strata_control_config cfg = base_cfg();
        cfg.levels = STRATA_LEVELS_THREE;
        net *t = net_new(&cfg);
        fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 8000, NULL);
        src->rate_kbps = 2000;
        if (source_first)
            send_join(t, src);
        fnode *eu[STRONG], *us[WEAK];
        uint64_t id = 1;
        for (int i = 0; i < WEAK; i++) {
            if (i < STRONG) {
                eu[i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, 40000, "eu");
                send_join(t, eu[i]);
                id++;
            }
            us[i] =
                add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, weak_ups[i], "us");
            send_join(t, us[i]);
            id++;
        }
        if (!source_first)
            send_join(t, src);
        for (int i = 0; i < 2 * 10 + 1; i++)
            tick_delivering(t, NULL);
        for (int i = 0; i < WEAK; i++)
            levels[source_first][i] = member_level(us[i]);
        /* us is one erasure-coded cluster under its preferred nodes. */
        for (int i = 0; i < WEAK; i++)
            for (int tr = 0; !is_head(us[i]) && tr < K + 2; tr++) {
                const strata_msg_instruction *in = latest(us[i], 0, tr);
                CHECK(in && in->level == 2 && in->algorithm == STRATA_ALG_EC_TREE && in->n == 2 &&
                      in->parent.node.v != 0);
            }
        strata_control_status st;
        strata_control_get_status(t->c, &st);
        CHECK_EQ_U64(st.detached_pairs, 0);
        CHECK_EQ_U64(t->stray, 0);
        net_del(t);
    }
    for (int i = 0; i < WEAK; i++)
        CHECK_EQ_INT(levels[0][i], levels[1][i]);
}

/* levels = 3: a region stays one erasure-coded cluster below
 * split_members, splits into relay and common clusters at that size, and
 * becomes one again below half of it (the evaluations merge it). */
static void test_three_levels_split_size(void)
{
    enum { SPLIT = 12, N = 16 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    cfg.split_members = SPLIT;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 8000, NULL);
    send_join(t, src);
    /* Two regions, so that a mesh feeds them; eu's first two members
     * (16 Mbit/s) are its preferred nodes and feed common trees. */
    fnode *us = add_node(t, 500, 0x0b000001u, STRATA_ROLE_PEER, 16000, "us");
    send_join(t, us);
    fnode *eu[N];
    int common = 0;
    for (int i = 0; i < N; i++) {
        eu[i] = add_node(t, (uint64_t)i + 1, 0x0a000000u + (uint32_t)i + 1, STRATA_ROLE_PEER,
                         i < 2 ? 16000 : 1500, "eu");
        send_join(t, eu[i]);
        for (int j = 0; j < 2 * 4; j++)
            tick_delivering(t, NULL);
        common = 0;
        for (int j = 0; j <= i; j++)
            common += member_level(eu[j]) == 3;
        if (i + 1 < SPLIT - 2)
            CHECK_EQ_INT(common, 0); /* two of them head the region, in the mesh */
    }
    CHECK(common > 0);
    check_three_region(t, eu, N, 2);
    /* Leaves down to fewer than SPLIT / 2 in the region's clusters: one
     * cluster again. */
    for (int i = N - 1; i >= 6; i--) {
        send_leave(t, eu[i]);
        eu[i]->alive = 0;
    }
    for (int j = 0; j < 2 * 10 + 1; j++)
        tick_delivering(t, NULL);
    for (int i = 0; i < 6; i++)
        CHECK(member_level(eu[i]) == 2 || is_head(eu[i]));
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);
}

/* Four regions (eu, us, as, sa) of six peers each, uploads ups[0..5] in
 * every region, ids from 1; each joins and is placed. */
static void join_four_regions(net *t, fnode *peers[4][6], const uint32_t ups[6])
{
    static const char *const regions[] = {"eu", "us", "as", "sa"};
    uint64_t id = 1;
    for (int r = 0; r < 4; r++) {
        for (int i = 0; i < 6; i++) {
            peers[r][i] =
                add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, ups[i], regions[r]);
            id++;
            send_join(t, peers[r][i]);
            CHECK_EQ_INT(peers[r][i]->reply.status, STRATA_JOIN_OK);
        }
    }
}

/* Every member of one region's cluster follows n parity trees: its
 * instructions name n, and each of the k + n trees has a parent, the
 * parity ones a preferred node of another region or a member below one. */
static void check_region_parity(net *t, fnode **members, int n_members, int n)
{
    for (int i = 0; i < n_members; i++) {
        fnode *f = members[i];
        if (!f->alive || is_head(f))
            continue;
        for (int tr = 0; tr < K + n; tr++) {
            const strata_msg_instruction *in = latest(f, 0, tr);
            CHECK(in && in->n == n && in->parent.node.v != 0);
            if (in && (in->n != n || !in->parent.node.v))
                fprintf(stderr, "node %llu tree %d: n %u parent %llu (want n %d)\n",
                        (unsigned long long)f->id.v, tr, in->n,
                        (unsigned long long)in->parent.node.v, n);
        }
    }
    for (int tr = K; tr < K + n; tr++)
        CHECK(ec_tree_feeder(t, members, n_members, tr) > 0);
}

/* Parity from loss (dcm.h): a region whose members report 15 % of their
 * packets recovered takes more parity trees after one loss window, up to
 * --parity-max, each new tree with a feeder of its own; the other regions
 * keep theirs; the preferred nodes feeding it take its n. When the loss
 * stops, the region steps back one tree per three quiet windows, and its
 * feeders with it. */
static void test_parity_from_loss(void)
{
    enum { REGIONS = 4, PARITY = 2, MAXP = 4, WINDOW = 40 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_EC;
    cfg.parity_max = MAXP;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *peers[REGIONS][6];
    join_four_regions(t, peers, (const uint32_t[6]){9000, 12000, 8000, 8000, 6000, 6000});
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    check_region_parity(t, peers[0], 6, PARITY);
    /* A loss window with 15 % of region eu's packets recovered. */
    for (int i = 0; i < WINDOW + 2; i++) {
        for (int r = 0; r < REGIONS; r++)
            for (int j = 0; j < 6; j++) {
                peers[r][j]->played += 500;
                peers[r][j]->recovered += r == 0 ? 75 : 0;
            }
        tick_delivering(t, NULL);
    }
    tick_delivering(t, NULL);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.parity_raises, 1);
    CHECK_EQ_U64(st.detached_pairs, 0);
    check_region_parity(t, peers[0], 6, MAXP);
    for (int r = 1; r < REGIONS; r++)
        check_region_parity(t, peers[r], 6, PARITY);
    /* A preferred node holds the n of the largest cluster it feeds. */
    for (int tr = 0; tr < K + MAXP; tr++) {
        fnode *h = by_id(t, (uint64_t)ec_tree_feeder(t, peers[0], 6, tr));
        const strata_msg_instruction *hi = h ? latest(h, 0, K) : NULL;
        CHECK(hi && hi->n == MAXP);
    }
    /* Quiet: back to 3 three windows after the last lossy one (which
     * ended within a window of the loss), to 2 three windows later. */
    for (int i = 0; i < 4 * WINDOW + 2; i++) {
        for (int r = 0; r < REGIONS; r++)
            for (int j = 0; j < 6; j++)
                peers[r][j]->played += 500;
        tick_delivering(t, NULL);
    }
    check_region_parity(t, peers[0], 6, MAXP - 1);
    for (int i = 0; i < 3 * WINDOW + 2; i++) {
        for (int r = 0; r < REGIONS; r++)
            for (int j = 0; j < 6; j++)
                peers[r][j]->played += 500;
        tick_delivering(t, NULL);
    }
    check_region_parity(t, peers[0], 6, PARITY);
    for (int tr = 0; tr < K + PARITY; tr++) {
        fnode *h = by_id(t, (uint64_t)ec_tree_feeder(t, peers[0], 6, tr));
        const strata_msg_instruction *hi = h ? latest(h, 0, K) : NULL;
        CHECK(hi && hi->n == PARITY);
    }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.parity_lowers, 2);
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK_EQ_U64(t->stray, 0);
    net_del(t);

    /* parity_max below parity is refused. */
    cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_EC;
    cfg.parity = 3;
    cfg.parity_max = 2;
    CHECK(strata_control_new(&cfg, NULL, 0) == NULL);
}

static void test_ec_levels(void)
{
    enum { REGIONS = 4, PARITY = 2 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_EC;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    fnode *peers[REGIONS][6];
    join_four_regions(t, peers, (const uint32_t[6]){9000, 12000, 2000, 1500, 1000, 1000});
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    for (int r = 0; r < REGIONS; r++)
        CHECK(is_head(peers[r][0]) && is_head(peers[r][1]));
    check_ec_regions(t, src, peers, REGIONS, PARITY);

    /* Two preferred nodes go at once, both of one region: every cluster
     * loses at most two of its six trees, and the trees they fed get other
     * feeders, still all distinct. */
    fnode *gone[2] = {peers[2][0], peers[2][1]};
    for (int r = 0; r < REGIONS; r++) {
        int lost = 0;
        for (int tr = 0; tr < K + PARITY; tr++) {
            int64_t f = ec_tree_feeder(t, peers[r], 6, tr);
            lost += f == (int64_t)gone[0]->id.v || f == (int64_t)gone[1]->id.v;
        }
        CHECK(lost <= PARITY);
    }
    for (int i = 0; i < 2; i++) {
        send_leave(t, gone[i]);
        gone[i]->alive = 0;
    }
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    check_ec_regions(t, src, peers, REGIONS, PARITY);
    for (int r = 0; r < REGIONS; r++)
        for (int i = 0; i < 6; i++) {
            fnode *f = peers[r][i];
            for (int tr = 0; f->alive && tr < K + PARITY; tr++) {
                const strata_msg_instruction *in = latest(f, 0, tr);
                CHECK(!in ||
                      (!ref_lists(in, gone[0]->id.v) && !ref_lists(in, gone[1]->id.v) &&
                       in->parent.node.v != gone[0]->id.v && in->parent.node.v != gone[1]->id.v));
            }
        }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);

    /* A region with one capable member has one head and other regions'
     * heads on its other trees; a second capable member, promoted at an
     * evaluation, takes a tree over from one of those (a head with no tree
     * would be invisible to the evaluations, which would promote more). */
    fnode *af[5];
    static const uint32_t af_ups[5] = {9000, 900, 800, 700, 12000}; /* two can head */
    for (int i = 0; i < 4; i++) {
        af[i] = add_node(t, 100 + (uint64_t)i, 0x0a000100u + (uint32_t)i, STRATA_ROLE_PEER,
                         af_ups[i], "af");
        send_join(t, af[i]);
    }
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    CHECK(is_head(af[0]));
    af[4] = add_node(t, 104, 0x0a000104u, STRATA_ROLE_PEER, af_ups[4], "af");
    send_join(t, af[4]);
    for (int i = 0; i < 4 * 10 + 1; i++)
        tick_delivering(t, NULL);
    int af_heads = 0;
    for (int i = 0; i < 5; i++)
        af_heads += is_head(af[i]);
    CHECK_EQ_INT(af_heads, 2);
    CHECK(is_head(af[0]) && is_head(af[4]));
    int feeds[2] = {0, 0};
    for (int tr = 0; tr < K + PARITY; tr++) {
        int64_t f = ec_tree_feeder(t, af, 5, tr);
        feeds[0] += f == (int64_t)af[0]->id.v;
        feeds[1] += f == (int64_t)af[4]->id.v;
    }
    CHECK(feeds[0] >= 1 && feeds[1] >= 1);
    net_del(t);
}


/* Waypoint servers (SPEC C5): offered for a channel, placed only in a
 * region without capable members of its own, where it heads the region at
 * once; taken back when the region has its own, or nobody to serve. */
static void test_waypoints(void)
{
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    fnode *w = add_node(t, 7000, 0xc0a80100u, STRATA_ROLE_WAYPOINT, 20000, "as");
    fnode *w2 = add_node(t, 7001, 0xc0a80101u, STRATA_ROLE_WAYPOINT, 20000, "eu");
    /* Before any source, nobody can say who is capable: standby. */
    send_join(t, w);
    CHECK_EQ_INT(w->reply.status, STRATA_JOIN_STANDBY);
    send_join(t, src);
    fnode *eu[6], *as[6];
    for (int i = 0; i < 6; i++) {
        eu[i] = add_node(t, 100 + (uint64_t)i, 0x0a000100u + (uint32_t)i, STRATA_ROLE_PEER, 5000,
                         "eu");
        as[i] = add_node(t, 200 + (uint64_t)i, 0x0a000200u + (uint32_t)i, STRATA_ROLE_PEER, 600,
                         "as");
        send_join(t, eu[i]);
        send_join(t, as[i]);
    }
    for (int i = 0; i < 4; i++)
        tick_delivering(t, NULL);
    /* eu has capable members: w2 stays on standby, and is no member. */
    send_join(t, w2);
    CHECK_EQ_INT(w2->reply.status, STRATA_JOIN_STANDBY);
    w2->alive = 0;
    strata_control_member m;
    CHECK(!strata_control_member_of(t->c, w2->id, chan(w2), &m));
    /* as has none: w is placed and heads it at once. */
    send_join(t, w);
    CHECK_EQ_INT(w->reply.status, STRATA_JOIN_OK);
    CHECK(is_head(w));
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.waypoints, 1);
    CHECK_EQ_U64(st.waypoints_placed, 1);
    CHECK_EQ_U64(st.waypoint_standbys, 2);
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    CHECK(is_head(w));
    CHECK_EQ_INT(w->releases, 0);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    check_three_region(t, as, 6, 2);
    check_three_region(t, eu, 6, 2);
    /* Every as member gets the stream below w: each data tree of its
     * region names w above it somewhere (w is its only head). */
    for (int tr = 0; tr < K; tr++) {
        int under_w = 0;
        for (int i = 0; i < 6; i++) {
            const strata_msg_instruction *in = latest(as[i], 0, tr);
            CHECK(in && in->parent.node.v != 0);
            under_w += in && in->parent.node.v == w->id.v;
        }
        const strata_msg_instruction *wi = latest(w, 0, tr);
        CHECK(under_w > 0 || (wi && wi->n_children == 0));
    }

    /* Two capable members come to as: once past their probation, w is
     * taken back (RELEASE) and its trees go to them. */
    fnode *strong[2];
    for (int i = 0; i < 2; i++) {
        strong[i] = add_node(t, 300 + (uint64_t)i, 0x0a000300u + (uint32_t)i, STRATA_ROLE_PEER,
                             5000, "as");
        send_join(t, strong[i]);
    }
    int ticks = 0;
    while (!w->releases && ticks++ < 60)
        tick_delivering(t, NULL);
    CHECK_EQ_INT(w->releases, 1);
    CHECK(ticks * HB_MS >= STRATA_PREF_DEFAULT_PROBATION_MS); /* not before their probation */
    w->alive = 0; /* released: it offers itself again, and is told to wait */
    CHECK(!strata_control_member_of(t->c, w->id, chan(w), &m));
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    CHECK(is_head(strong[0]) && is_head(strong[1]));
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK_EQ_INT(st.waypoints, 0);
    CHECK_EQ_U64(st.waypoint_releases, 1);
    fnode *region_as[8] = {as[0], as[1], as[2], as[3], as[4], as[5], strong[0], strong[1]};
    check_three_region(t, region_as, 8, 2);
    for (int i = 0; i < 6; i++)
        for (int tr = 0; tr < K; tr++) {
            const strata_msg_instruction *in = latest(as[i], 0, tr);
            CHECK(in && in->parent.node.v != w->id.v);
        }
    send_join(t, w);
    CHECK_EQ_INT(w->reply.status, STRATA_JOIN_STANDBY);

    /* The capable ones leave: the next offer is placed again. */
    for (int i = 0; i < 2; i++)
        send_leave(t, strong[i]);
    for (int i = 0; i < 2; i++)
        tick_delivering(t, NULL);
    send_join(t, w);
    CHECK_EQ_INT(w->reply.status, STRATA_JOIN_OK);
    for (int i = 0; i < 2; i++)
        tick_delivering(t, NULL);
    CHECK(is_head(w));
    /* Everyone it served leaves: it is taken back at the next evaluation. */
    for (int i = 0; i < 6; i++)
        send_leave(t, as[i]);
    ticks = 0;
    while (w->releases < 2 && ticks++ < 2 * 10 + 1)
        tick_delivering(t, NULL);
    CHECK_EQ_INT(w->releases, 2);
    strata_control_get_status(t->c, &st);
    CHECK_EQ_INT(st.waypoints, 0);
    /* Offered again while the source still streams: nobody is left to
     * serve (the region's clusters may stay, empty), so it waits, and is
     * not placed and taken back again at every evaluation. */
    uint64_t placed = st.waypoints_placed;
    for (int i = 0; i < 2 * 10 + 1; i++) {
        send_join(t, w);
        CHECK_EQ_INT(w->reply.status, STRATA_JOIN_STANDBY);
        tick_delivering(t, NULL);
    }
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.waypoints_placed, placed);
    CHECK_EQ_INT(w->releases, 2);
    CHECK_EQ_U64(t->stray, 0);
    CHECK_EQ_U64(t->bad_instr, 0);
    net_del(t);
}

/* The capacity check and preferred nodes (docs/security.md, "Declared
 * capacity"): a region's first capable member heads it, with its
 * probation's credit, which the mesh keeps; the members its trees hang
 * under stand still in one substream while it advances, so their stalls
 * cut its credit in the mesh until it no longer qualifies, and it stops
 * heading at once, its trees going to another head. */
static void test_capacity_heads(void)
{
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_MESH;
    cfg.capacity_check = 1;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    static const char *const regions[] = {"eu", "us", "as"};
    fnode *peers[3][6];
    uint64_t id = 1;
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 6; i++) {
            static const uint32_t ups[6] = {9000, 20000, 9000, 2000, 1000, 1000};
            peers[r][i] = add_node(t, id, 0x0a000000u + (uint32_t)id, STRATA_ROLE_PEER, ups[i],
                                   regions[r]);
            id++;
            send_join(t, peers[r][i]);
            CHECK_EQ_INT(peers[r][i]->reply.status, STRATA_JOIN_OK);
        }
    for (int i = 0; i < 4; i++)
        tick(t);
    fnode *h = peers[1][0];
    CHECK(is_head(h));
    CHECK(!is_head(peers[1][1])); /* the second place waits for an evaluation */
    const strata_control_entry *e = entry_of(t, h);
    CHECK(e && e->credit_kbps == 2000); /* its region's credit, kept by the mesh */
    /* Every member of region 1 stands still in substream 1 from now on;
     * those under h blame it (the others lacked the packets themselves). */
    for (int i = 1; i < 6; i++)
        peers[1][i]->freeze_rx = 1;
    strata_control_status st;
    int gone_at = -1;
    for (int i = 0; i < 30 && gone_at < 0; i++) {
        tick(t);
        if (!is_head(h))
            gone_at = i;
    }
    strata_control_get_status(t->c, &st);
    CHECK(st.capacity_demotions >= 2);
    CHECK(st.capacity_strikes >= 1 || gone_at >= 0);
    CHECK(gone_at >= 0); /* well before an evaluation's 60 s hold */
    e = entry_of(t, h);
    CHECK(e && e->credit_kbps < 1000);
    /* Back in its region's trees with the credit it has left (an
     * evaluation's demotion, not a departure), and the region has another
     * head. */
    CHECK(st.demotions >= 1);
    CHECK(e && e->level != 1 && e->dcm.v == e->region_dcm.v);
    int heads = 0;
    for (int i = 1; i < 6; i++)
        heads += is_head(peers[1][i]);
    CHECK(heads >= 1);
    fprintf(stderr, "capacity heads: head cut out after %d heartbeats, %llu demotions, %llu strikes\n",
            gone_at + 1, (unsigned long long)st.capacity_demotions,
            (unsigned long long)st.capacity_strikes);
    net_del(t);
}

/* The relay member feeding a common tree (levels 3) that its root children
 * find standing still while it holds the stream has its credit cut in the
 * relay cluster and loses the tree at once: another feeder (or the source)
 * takes it, and it is given no common tree while demoted. */
static void test_capacity_relay_feeders(void)
{
    enum { N = 16 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    cfg.split_members = 1;
    cfg.capacity_check = 1;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, 0, NULL);
    send_join(t, src);
    static const uint32_t ups[N] = {16000, 12000, 5000, 5000, 5000, 5000, 5000, 5000,
                                    5000,  1000,  1000, 1000, 1000, 1000, 1000, 500};
    fnode *eu[N];
    for (int i = 0; i < N; i++) {
        eu[i] = add_node(t, (uint64_t)i + 1, 0x0a000001u + (uint32_t)i, STRATA_ROLE_PEER, ups[i],
                         "eu");
        send_join(t, eu[i]);
    }
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    /* A common tree s and the relay member f feeding it. */
    fnode *f = NULL;
    int s0 = -1;
    for (int i = 0; i < N && !f; i++)
        for (int s = 0; s < K && !f && member_level(eu[i]) == 3; s++) {
            const strata_msg_instruction *in = latest(eu[i], 0, s);
            fnode *p = in ? by_id(t, in->parent.node.v) : NULL;
            if (p && member_level(p) == 2)
                f = p, s0 = s;
        }
    CHECK(f != NULL);
    if (!f) {
        net_del(t);
        return;
    }
    /* The common members stand still in s0 while f advances. */
    for (int i = 0; i < N; i++)
        if (member_level(eu[i]) == 3)
            eu[i]->freeze_rx = s0;
    int named = 1;
    for (int i = 0; i < 12 && named; i++) {
        tick_delivering(t, NULL);
        named = 0;
        for (int j = 0; j < N; j++) {
            const strata_msg_instruction *in =
                member_level(eu[j]) == 3 ? latest(eu[j], 0, s0) : NULL;
            named |= in && in->parent.node.v == f->id.v;
        }
    }
    CHECK(!named);
    const strata_control_entry *e = entry_of(t, f);
    CHECK(e && e->credit_kbps < 2000);
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK(st.capacity_demotions >= 1);
    /* Standing still no more: f feeds no common tree while demoted. */
    for (int i = 0; i < N; i++)
        eu[i]->freeze_rx = -1;
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    int fed = 0;
    for (int j = 0; j < N; j++)
        for (int s = 0; s < K && member_level(eu[j]) == 3; s++) {
            const strata_msg_instruction *in = latest(eu[j], 0, s);
            CHECK(!in || in->parent.node.v != f->id.v);
            fnode *p = in && s == s0 ? by_id(t, in->parent.node.v) : NULL;
            fed |= p == src || (p && member_level(p) == 2);
        }
    CHECK(fed); /* tree s0 has root children under another feeder */
    /* (Kept under f, the tree's root children went to other parents in
     * it, and with f feeding nobody, pairs stayed detached.) */
    strata_control_get_status(t->c, &st);
    CHECK_EQ_U64(st.detached_pairs, 0);
    net_del(t);
}

/* The same in every tree, parity trees included. */
static uint64_t source_committed_all_kbps(fnode *src, uint32_t rate)
{
    return source_committed_trees_kbps(src, rate, STRATA_WIRE_MAX_TREES);
}

/* levels 3, one region (no mesh above it): the source feeds the relay
 * cluster itself, and a common tree whose feeder the capacity check
 * demoted when no other relay member has room. The clusters share the
 * source's upload by the trees it feeds (a common cluster kept the budget
 * its feeders had earned, or what its weak members need, for the trees the
 * source took back: four times the source's upload in a signed run with
 * polluters, and the source's queue then dropped packets of every tree). */
static void test_source_share_levels3(void)
{
    enum { RELAYS = 8, COMMONS = 36, UP = 3000 };
    strata_control_config cfg = base_cfg();
    cfg.levels = STRATA_LEVELS_THREE;
    cfg.split_members = 1;
    cfg.capacity_check = 1;
    net *t = net_new(&cfg);
    fnode *src = add_node(t, 9000, 0xc0a80001u, STRATA_ROLE_SOURCE, UP, NULL);
    send_join(t, src);
    fnode *nodes[RELAYS + COMMONS];
    for (int i = 0; i < RELAYS + COMMONS; i++) {
        nodes[i] = add_node(t, (uint64_t)i + 1, 0x0a000001u + (uint32_t)i, STRATA_ROLE_PEER,
                            i < RELAYS ? 2500 : 300, "eu");
        send_join(t, nodes[i]);
    }
    for (int i = 0; i < 2 * 10 + 1; i++)
        tick_delivering(t, NULL);
    int commons = 0;
    for (int i = 0; i < RELAYS + COMMONS; i++)
        commons += member_level(nodes[i]) == 3;
    CHECK(commons > 0);
    CHECK(source_committed_all_kbps(src, 1000) <= UP);
    /* The common members stand still in each tree in turn: its feeder is
     * demoted, and the tree goes to another or back to the source. */
    for (int s0 = 0; s0 < K; s0++) {
        for (int i = 0; i < RELAYS + COMMONS; i++)
            nodes[i]->freeze_rx = member_level(nodes[i]) == 3 ? s0 : -1;
        for (int i = 0; i < 12; i++) {
            tick_delivering(t, NULL);
            CHECK(source_committed_all_kbps(src, 1000) <= UP);
        }
    }
    strata_control_status st;
    strata_control_get_status(t->c, &st);
    CHECK(st.capacity_demotions >= 1);
    net_del(t);
}

int main(void)
{
    test_topology_and_churn();
    test_stall_reparent();
    test_regions();
    test_mesh_levels();
    test_capacity_heads();
    test_capacity_relay_feeders();
    test_source_share_levels3();
    test_ec_levels();
    test_parity_from_loss();
    test_three_levels();
    test_three_levels_rate_after_peers();
    test_three_levels_split_size();
    test_mesh_churn_property();
    test_top_auto();
    test_direct_region_budget();
    test_direct_regions_overcommit();
    test_region_move();
    test_rejoin_and_resend();
    test_source_rate();
    test_two_channels();
    test_restart();
    test_restart_waits_for_source();
    test_restart_keeps_dcm_ids();
    test_restart_keeps_levels();
    test_restart_source_budget();
    test_restart_keeps_two_channels();
    test_recruit();
    test_waypoints();
    test_bad_input();
    test_all_dead();
    test_churn_property();
    test_alloc_failures();
    return test_summary("test_control");
}
