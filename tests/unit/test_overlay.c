/*
 * Overlay test: the real control center, one source and twenty peers of
 * mixed upload on an in-memory network, all in one thread.
 *
 * The network is a heap of datagrams ordered by (arrival time, insertion
 * order). Each pair of nodes has a fixed latency of a few milliseconds
 * plus up to a millisecond of seeded jitter, so packets do get reordered.
 * The test owns `now` and jumps it to the earliest of: the next arrival,
 * the next deadline any node asked for, and the next push of input. No
 * sleeps; the same seed gives the same run.
 *
 * Scenario 1: every peer joins before the stream starts, the source
 * streams a few hundred KB of random bytes at its nominal rate and
 * finishes; every peer must play exactly the input and see the end.
 * Scenario 2: the same, but half-way through 30% of the peers stop
 * abruptly (freed, their datagrams dropped). Every survivor must still
 * play exactly the input: packets lost with the dead are repaired from
 * other parents and the source until the control center rebuilds the
 * trees around the dead. A peer whose parents all died hears nothing more
 * and relies on the source its instructions name. The control center runs
 * with its default heartbeat (500 ms), so the dead are found after 1.75 s;
 * meanwhile repairs come from what the survivors' and the source's trees
 * leave of their uploads (pktstore.h).
 * Scenario 3: 2% of all datagrams lost.
 * Scenario 4: the peers in four regions (labels), so that each region's
 * head relays from the backbone to its region: everyone plays everything.
 * Then a 30% kill, which hits heads too. A dead head starves its whole
 * region until the control center finds it dead and rebuilds (the bound
 * allows 3.5 s of stream, twice the detection time) and the source alone
 * cannot repair a region at full rate: such a region misses what the
 * source cannot repair of the gap, but never more than that window per
 * peer.
 */
#include "testutil.h"

#include "strata/node.h"
#include "strata/wire.h"

#define MS(x) STRATA_MS(x)

enum {
    N_PEERS = 20,
    INPUT_BYTES = 300 * 1024,
    RATE_KBPS = 400,
    SOURCE_UPLOAD_KBPS = 1200,
    CHUNK_BYTES = STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES,
};

enum node_kind { NODE_CONTROL, NODE_SOURCE, NODE_PEER };

typedef struct node {
    int kind;
    int alive;
    strata_addr addr;
    strata_node *core; /* the whole node, as a daemon runs it */
    int channel;       /* its channel's handle (source and peers) */
    uint8_t *played;
    size_t played_len;
    int overflow;
    int ends;
} node;

typedef struct event {
    uint64_t t, order;
    size_t to;
    strata_addr from;
    strata_buf *buf;
} event;

typedef struct net {
    event *heap;
    size_t n, cap;
    uint64_t order;
    node nodes[N_PEERS + 2];
    size_t n_nodes;
    strata_rng rng;
    uint64_t now;
    double loss; /* probability that a datagram is lost */
    uint64_t sent, dropped_dead, lost;
} net;

/* --- event heap ------------------------------------------------------------ */

static int ev_less(const event *a, const event *b)
{
    return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void heap_push(net *w, event e)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->heap = realloc(w->heap, w->cap * sizeof *w->heap);
    }
    size_t i = w->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&e, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = e;
}

static event heap_pop(net *w)
{
    event top = w->heap[0];
    event last = w->heap[--w->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const event *cur = &last;
        if (l < w->n && ev_less(&w->heap[l], cur)) {
            m = l;
            cur = &w->heap[l];
        }
        if (r < w->n && ev_less(&w->heap[r], cur))
            m = r;
        if (m == i)
            break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->n)
        w->heap[i] = last;
    return top;
}

/* --- nodes ------------------------------------------------------------------- */

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    node *n = user;
    if (n->played_len + len > INPUT_BYTES) {
        n->overflow = 1;
        return;
    }
    memcpy(n->played + n->played_len, buf, len);
    n->played_len += len;
}

static void on_end(void *user)
{
    ((node *)user)->ends++;
}

static uint64_t next_timeout_of(const node *n)
{
    return n->alive ? strata_node_next_timeout(n->core) : STRATA_NEVER;
}

static size_t node_index(const net *w, strata_addr a)
{
    for (size_t i = 0; i < w->n_nodes; i++) {
        if (strata_addr_eq(w->nodes[i].addr, a))
            return i;
    }
    return SIZE_MAX;
}

/* Moves node i's outbox onto the network. */
static void drain(net *w, size_t i)
{
    node *n = &w->nodes[i];
    strata_datagram d;
    while (strata_outbox_pop(strata_node_outbox(n->core), &d)) {
        size_t to = node_index(w, d.to);
        if (to == SIZE_MAX) {
            strata_buf_unref(d.buf);
            continue;
        }
        if (w->loss > 0 && strata_rng_unit(&w->rng) < w->loss) {
            w->lost++;
            strata_buf_unref(d.buf);
            continue;
        }
        uint64_t base = 2 + (i * 7 + to * 13) % 12;        /* ms, per pair */
        uint64_t jitter = strata_rng_below(&w->rng, 1000); /* us */
        event e = {w->now + MS(base) + jitter * 1000u, w->order++, to, n->addr, d.buf};
        heap_push(w, e);
        w->sent++;
    }
}

static void deliver(net *w, const event *e)
{
    node *n = &w->nodes[e->to];
    if (!n->alive) {
        w->dropped_dead++;
        return;
    }
    strata_rx rx = {e->from, -1};
    strata_node_handle_datagram(n->core, &rx, e->buf->data, e->buf->len, w->now);
    drain(w, e->to);
}

static void timeout(net *w, size_t i)
{
    node *n = &w->nodes[i];
    strata_node_handle_timeout(n->core, w->now);
    drain(w, i);
}

/* Stops a peer abruptly: no LEAVE, nothing more sent or received. */
static void kill(node *n)
{
    n->alive = 0;
    strata_node_del(n->core);
    n->core = NULL;
}

/* --- one run ------------------------------------------------------------------- */

typedef struct result {
    size_t survivors, exact, ended;
    uint64_t missed, repairs_sent, repairs_served, rx_repairs, drops;
    uint64_t end_ns;
    size_t source_roots;
    uint64_t max_missed; /* of one survivor */
} result;

/* STRATA_TEST_LOG_PEER=i prints peer i's debug log (instructions, repair
 * requests, skips) and the kills, with the virtual time: how a failing
 * seed is read. */
static long log_peer = -1;

static void write_debug(void *user, int level, const char *line)
{
    (void)level;
    fprintf(stderr, "[%.3f] %s\n", (double)*(uint64_t *)user / 1e9, line);
}

/* Every peer has been started and is a member of the channel. */
static int peers_accepted(const net *w, const uint64_t *join_at)
{
    for (size_t i = 0; i < N_PEERS; i++) {
        const node *p = &w->nodes[2 + i];
        if (join_at[i] != STRATA_NEVER)
            return 0;
        if (!p->alive)
            continue;
        strata_peer_stats st;
        strata_peer_get_stats(strata_node_peer(p->core, p->channel), &st);
        if (st.state != STRATA_PEER_MEMBER)
            return 0;
    }
    return 1;
}

static void run(uint64_t seed, const uint8_t *input, double kill_fraction, double loss, int regions,
                result *res)
{
    static const char *const labels[] = {"eu", "us", "asia", "sa"};
    static const uint32_t uploads[] = {3200, 1600, 800, 400, 200, 100, 0, 800, 400, 1600};
    net *w = calloc(1, sizeof *w);
    strata_rng_seed(&w->rng, seed);
    w->loss = loss;
    memset(res, 0, sizeof *res);

    strata_control_config ccfg;
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.k = 4;
    ccfg.heartbeat_ms = 0; /* STRATA_CONTROL_DEFAULT_HEARTBEAT_MS */
    ccfg.seed = seed;
    node *c = &w->nodes[w->n_nodes++];
    c->kind = NODE_CONTROL;
    c->alive = 1;
    c->addr = (strata_addr){0x0a000001, 7000};
    strata_node_config cnc = {.id = {0xc0}, .addr = c->addr, .seed = seed, .control_center = &ccfg};
    c->core = strata_node_new(&cnc, NULL, NULL, 0);
    CHECK(c->core != NULL);

    strata_source_config scfg;
    memset(&scfg, 0, sizeof scfg);
    scfg.channel = "overlay";
    scfg.rate_kbps = RATE_KBPS;
    scfg.upload_kbps = SOURCE_UPLOAD_KBPS;
    scfg.seed = seed + 1;
    node *s = &w->nodes[w->n_nodes++];
    s->kind = NODE_SOURCE;
    s->alive = 1;
    s->addr = (strata_addr){0x0a010001, 7000};
    strata_node_config snc = {.id = {0x5005}, .addr = s->addr, .control = c->addr, .seed = seed};
    s->core = strata_node_new(&snc, NULL, NULL, 0);
    s->channel = s->core ? strata_node_publish(s->core, &scfg, 0) : -1;
    CHECK(s->channel >= 0);
    const strata_source *src = s->channel >= 0 ? strata_node_source(s->core, s->channel) : NULL;

    uint64_t join_at[N_PEERS];
    for (size_t i = 0; i < N_PEERS; i++) {
        node *p = &w->nodes[w->n_nodes++];
        p->kind = NODE_PEER;
        p->addr = (strata_addr){0x0a020001u + (uint32_t)i, 7000};
        p->played = malloc(INPUT_BYTES);
        join_at[i] = MS(20) * i;
    }
    if (!c->core || !src)
        goto done;

    const uint64_t stream_start = MS(1000);
    /* one payload per push at the nominal rate */
    const uint64_t push_every = (uint64_t)CHUNK_BYTES * 8u * 1000000u / RATE_KBPS;
    const size_t n_chunks = (INPUT_BYTES + CHUNK_BYTES - 1) / CHUNK_BYTES;
    const uint64_t kill_at = stream_start + push_every * (n_chunks / 2);
    const uint64_t give_up = stream_start + push_every * n_chunks + STRATA_S(60);
    size_t pushed = 0;
    int finished = 0, killed = 0;
    uint64_t next_push = stream_start;

    for (;;) {
        /* the earliest thing that happens next */
        uint64_t t = STRATA_NEVER;
        if (w->n)
            t = w->heap[0].t;
        for (size_t i = 0; i < w->n_nodes; i++) {
            uint64_t nt = next_timeout_of(&w->nodes[i]);
            if (nt < t)
                t = nt;
        }
        for (size_t i = 0; i < N_PEERS; i++) {
            if (!w->nodes[2 + i].core && !w->nodes[2 + i].ends && join_at[i] != STRATA_NEVER &&
                join_at[i] < t)
                t = join_at[i];
        }
        /* Input waits while the source is not yet accepted (its JOIN or
         * the reply may be lost), as a host holds it; once it is, what
         * waited goes at once. The stream's first packet also waits for
         * every peer to be a member: they all join before the stream
         * starts, and one whose JOIN was lost would otherwise start late,
         * where the live stream is. */
        int src_ready = strata_source_ready(src) && (pushed > 0 || peers_accepted(w, join_at));
        if (src_ready && pushed == 0 && next_push < w->now)
            next_push = w->now;
        if (!finished && src_ready && next_push < t)
            t = next_push;
        if (!killed && kill_fraction > 0 && kill_at < t)
            t = kill_at;
        if (t == STRATA_NEVER || t > give_up)
            break;
        if (t > w->now)
            w->now = t;

        for (size_t i = 0; i < N_PEERS; i++) {
            node *p = &w->nodes[2 + i];
            if (join_at[i] != STRATA_NEVER && join_at[i] <= w->now) {
                strata_peer_config pcfg;
                memset(&pcfg, 0, sizeof pcfg);
                pcfg.channel = "overlay";
                pcfg.upload_kbps = uploads[i % (sizeof uploads / sizeof uploads[0])];
                if (regions)
                    pcfg.region = labels[i % (sizeof labels / sizeof labels[0])];
                pcfg.seed = seed + 100 + i;
                strata_node_config pnc = {
                    .id = {0x1000 + i}, .addr = p->addr, .control = c->addr, .seed = seed + i};
                static strata_log debug_log = {write_debug, NULL, STRATA_LOG_DEBUG};
                if (log_peer == (long)i) {
                    debug_log.user = &w->now;
                    pnc.log = &debug_log;
                }
                strata_peer_callbacks cb = {on_play, on_end, p};
                p->core = strata_node_new(&pnc, NULL, NULL, w->now);
                p->channel = p->core ? strata_node_watch(p->core, &pcfg, &cb, w->now) : -1;
                p->alive = p->channel >= 0;
                CHECK(p->channel >= 0);
                join_at[i] = STRATA_NEVER;
            }
        }
        if (!killed && kill_fraction > 0 && kill_at <= w->now) {
            size_t victims = (size_t)(N_PEERS * kill_fraction + 0.5);
            while (victims) {
                node *p = &w->nodes[2 + strata_rng_below(&w->rng, N_PEERS)];
                if (p->alive) {
                    if (log_peer >= 0)
                        fprintf(stderr, "[%.3f] kill %08x\n", (double)w->now / 1e9, p->addr.ipv4);
                    kill(p);
                    victims--;
                }
            }
            killed = 1;
        }
        while (!finished && src_ready && next_push <= w->now) {
            size_t off = pushed * CHUNK_BYTES;
            size_t len = INPUT_BYTES - off < CHUNK_BYTES ? INPUT_BYTES - off : CHUNK_BYTES;
            CHECK_EQ_INT(strata_node_push(s->core, s->channel, input + off, len, w->now), 0);
            pushed++;
            if (pushed == n_chunks) {
                CHECK_EQ_INT(strata_node_finish(s->core, s->channel, w->now), 0);
                finished = 1;
            }
            next_push += push_every;
            drain(w, 1);
        }
        while (w->n && w->heap[0].t <= w->now) {
            event e = heap_pop(w);
            deliver(w, &e);
            strata_buf_unref(e.buf);
        }
        for (size_t i = 0; i < w->n_nodes; i++) {
            if (w->nodes[i].alive && next_timeout_of(&w->nodes[i]) <= w->now)
                timeout(w, i);
        }
        /* done when every survivor has seen the end */
        if (finished) {
            int all = 1;
            for (size_t i = 0; i < N_PEERS && all; i++)
                all = !w->nodes[2 + i].alive || w->nodes[2 + i].ends;
            if (all)
                break;
        }
    }
    res->end_ns = w->now;

    for (size_t i = 0; i < N_PEERS; i++) {
        node *p = &w->nodes[2 + i];
        if (!p->alive)
            continue;
        res->survivors++;
        strata_peer_stats st;
        strata_peer_get_stats(strata_node_peer(p->core, p->channel), &st);
        int exact = !p->overflow && p->played_len == INPUT_BYTES &&
                    memcmp(p->played, input, INPUT_BYTES) == 0;
        res->exact += exact ? 1u : 0u;
        res->ended += p->ends == 1 ? 1u : 0u;
        res->missed += st.missed_packets;
        if (st.missed_packets > res->max_missed)
            res->max_missed = st.missed_packets;
        res->repairs_sent += st.repair_requests_sent;
        res->repairs_served += st.repair_requests_served;
        res->rx_repairs += st.rx_repairs;
        res->drops += st.drops.total;
        if (!exact || p->ends != 1)
            fprintf(stderr,
                    "peer %zu: played %zu of %d bytes%s, ends %d, missed %llu, rx %llu, "
                    "repairs asked %llu got %llu\n",
                    i, p->played_len, INPUT_BYTES, p->overflow ? " (overflow)" : "", p->ends,
                    (unsigned long long)st.missed_packets, (unsigned long long)st.rx_data_packets,
                    (unsigned long long)st.repair_requests_sent, (unsigned long long)st.rx_repairs);
    }
    strata_source_stats sst;
    strata_source_get_stats(src, &sst);
    res->repairs_served += sst.repair_requests_served;
    res->source_roots = sst.roots;
    strata_control_status cst;
    strata_control_get_status(strata_node_control(c->core), &cst);
    fprintf(
        stderr,
        "overlay seed %llu kill %.0f%% loss %.0f%%: %zu survivors, %zu exact, %zu ended at %.3f s; "
        "missed %llu (at most %llu per peer), repair requests %llu (served %llu, repaired packets %llu), "
        "drops %llu, source roots %zu, control deaths %llu reparents %llu, "
        "datagrams %llu (%llu to the dead, %llu lost)\n",
        (unsigned long long)seed, kill_fraction * 100, loss * 100, res->survivors, res->exact,
        res->ended, (double)res->end_ns / 1e9, (unsigned long long)res->missed,
        (unsigned long long)res->max_missed,
        (unsigned long long)res->repairs_sent, (unsigned long long)res->repairs_served,
        (unsigned long long)res->rx_repairs, (unsigned long long)res->drops, sst.roots,
        (unsigned long long)cst.deaths, (unsigned long long)cst.reparents,
        (unsigned long long)w->sent, (unsigned long long)w->dropped_dead,
        (unsigned long long)w->lost);

done:
    while (w->n) {
        event e = heap_pop(w);
        strata_buf_unref(e.buf);
    }
    free(w->heap);
    for (size_t i = 0; i < w->n_nodes; i++) {
        node *n = &w->nodes[i];
        strata_node_del(n->core);
        free(n->played);
    }
    free(w);
}

int main(void)
{
    uint64_t seed = test_seed(20240611);
    if (getenv("STRATA_TEST_LOG_PEER"))
        log_peer = atol(getenv("STRATA_TEST_LOG_PEER"));
    strata_rng rng;
    strata_rng_seed(&rng, seed);
    uint8_t *input = malloc(INPUT_BYTES);
    for (size_t i = 0; i < INPUT_BYTES; i++)
        input[i] = (uint8_t)strata_rng_next(&rng);

    result r;
    run(seed, input, 0.0, 0.0, 0, &r);
    CHECK_EQ_U64(r.survivors, N_PEERS);
    CHECK_EQ_U64(r.exact, N_PEERS);
    CHECK_EQ_U64(r.ended, N_PEERS);
    CHECK_EQ_U64(r.missed, 0);

    run(seed, input, 0.3, 0.0, 0, &r);
    CHECK_EQ_U64(r.survivors, N_PEERS - 6);
    CHECK_EQ_U64(r.exact, r.survivors);
    CHECK_EQ_U64(r.ended, r.survivors);
    CHECK_EQ_U64(r.missed, 0);

    /* 2% of every datagram lost, control traffic included */
    run(seed, input, 0.0, 0.02, 0, &r);
    CHECK_EQ_U64(r.exact, N_PEERS);
    CHECK_EQ_U64(r.ended, N_PEERS);
    CHECK_EQ_U64(r.missed, 0);

    /* Four regions fed through their heads, then 30% killed. */
    run(seed, input, 0.0, 0.0, 1, &r);
    CHECK_EQ_U64(r.exact, N_PEERS);
    CHECK_EQ_U64(r.missed, 0);
    CHECK(r.source_roots <= 4); /* the source feeds the four heads alone */
    run(seed, input, 0.3, 0.0, 1, &r);
    CHECK_EQ_U64(r.survivors, N_PEERS - 6);
    CHECK_EQ_U64(r.ended, r.survivors);
    CHECK(r.max_missed <= (uint64_t)RATE_KBPS * 1000 / 8 / CHUNK_BYTES * 7 / 2);

    free(input);
    return test_summary("test_overlay");
}
