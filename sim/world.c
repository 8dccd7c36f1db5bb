/*
 * The simulated world: see world.h for the model (nodes, events, lazy
 * timers, simulated packet size).
 *
 * Path tracking (for stretch). Each delivery carries the propagation delay
 * of the overlay path its packet took: the sender's own path delay for the
 * packet's substream (0 at the source) plus the link's one-way delay. A
 * node adopts that value for the substream when the delivery brings a
 * newer packet than any it had, before its core object sees it, so the
 * copies it relays next carry it on.
 *
 * The second half of this file is the "strata" algorithm: the daemons'
 * core objects, unchanged, behind the strata_simalg table.
 */
#include "world.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "pollute.h"
#include "strata/manifest.h"
#include "strata/node.h"
#include "strata/wire.h"

enum world_event {
    EV_TIMER = STRATA_WORLD_EV_TIMER,
    EV_DELIVER = STRATA_WORLD_EV_DELIVER,
    EV_TICK = STRATA_WORLD_EV_TICK,
    EV_JOIN = STRATA_WORLD_EV_JOIN,
    EV_DEPART = STRATA_WORLD_EV_DEPART,
    EV_TIMELINE = STRATA_WORLD_EV_TIMELINE,
    EV_SAMPLE = STRATA_WORLD_EV_SAMPLE,
    EV_CONTROL_UP = STRATA_WORLD_EV_CONTROL_UP,
};

enum world_limits {
    STREAM_NODE_ID = STRATA_SIM_STREAM_USER + 100,
    STREAM_LIAR = STRATA_SIM_STREAM_USER + 101,        /* which slots lie about their upload */
    STREAM_WAYPOINT = STRATA_SIM_STREAM_USER + 102,    /* which slots are waypoint servers */
    STREAM_POLLUTER = STRATA_SIM_STREAM_USER + 103,    /* which slots pollute, and what they do */
    STREAM_CHANNEL_KEY = STRATA_SIM_STREAM_USER + 104, /* the signed channel's key */
    FLIGHT_CHUNK = 4096,
    PROGRESS_EVERY = 1 << 18,
    TIMER_SPIN_NS = 1000, /* a node whose deadline does not move is woken this much later */
    REGION_LABEL_BYTES = 16,
    MAX_SUBSTREAMS = STRATA_WIRE_MAX_SUBSTREAMS,
    RESTART_BEFORE_S = 10, /* delivery before a control restart: this many seconds */
    RESTART_AFTER_S = 30,  /* and from the crash on */
};

/* Region keys of region = groups: a peer's group id, or before it has one
 * its address prefix (the control center's LOCALITY fallback); the source
 * is a region of its own. */
#define RKEY_PREFIX (1ull << 63)
#define RKEY_SOURCE (1ull << 62)

/* A datagram in flight: the sender's buffer (one reference) and what the
 * receiver and the metrics need to know about it. Free ones are chained
 * through buf's storage. */
typedef struct flight {
    union {
        strata_buf *buf;
        struct flight *next_free;
    } u;
    uint64_t seq;
    uint32_t from;
    uint32_t path_us;
    uint16_t from_port, to_port;
    uint8_t data, repair, sub;
    uint8_t polluted; /* altered by a polluter: not a step of a path */
} flight;

typedef struct flight_chunk {
    struct flight_chunk *next;
    flight items[FLIGHT_CHUNK];
} flight_chunk;

typedef struct wnode {
    uint64_t timer_at; /* time of the queued wake-up, STRATA_NEVER if none */
    strata_simq_handle timer;
    uint64_t depart_at; /* planned end of the current session */
    uint32_t session;   /* index of the current (or next) session */
    uint32_t region;    /* index into the world's labels */
    uint16_t port;      /* current session's port */
    uint8_t online;
    uint8_t graceful;      /* how the current session ends */
    uint8_t liar;          /* declares liar_upload_kbps, forwards liar_forward of its DATA */
    uint8_t waypoint;      /* a waypoint server (waypoint_share): never leaves, plays nothing */
    uint8_t struck;        /* a liar or polluter: the control center struck it this session */
    uint8_t polluter;      /* alters its DATA (sim/pollute.h) */
    uint8_t had_children;  /* a polluter: had children in a tree at a sample this session */
    uint64_t up_ns;        /* when the current session started */
    uint64_t childless_ns; /* a polluter: first sample since its last child; 0 = has some */
    uint64_t play_hi;      /* a viewer: 1 + the highest seq it played this session */
} wnode;

/* Whose playback the figures count: viewers, not liars nor polluters
 * (whose harm is what is measured) nor waypoints (which play nothing). */
static inline int measured(const wnode *n)
{
    return !n->liar && !n->waypoint && !n->polluter;
}

/* Seconds from a session's start to an event of it, for percentiles. */
typedef struct times_s {
    float *v;
    size_t n, cap;
} times_s;

struct strata_world {
    const strata_alloc *alloc;
    strata_scenario scn;
    const strata_simalg *alg;
    void *alg_state;
    strata_simq q;
    strata_simlat lat;
    int have_lat;
    strata_simnet net;
    int have_net;
    strata_simmetrics m;
    int have_metrics;
    uint32_t nodes;
    wnode *node;
    uint32_t *path_us; /* nodes x MAX_SUBSTREAMS */
    uint64_t *hi_seq;  /* same; newest seq + 1 seen, 0 = none */
    char (*labels)[REGION_LABEL_BYTES];
    uint32_t nlabels;
    uint64_t now, end_ns;
    uint64_t events, fp;
    uint64_t by_kind[STRATA_WORLD_EVENT_KINDS];
    uint64_t interval_ns;
    uint64_t ticks, next_seq;
    flight *free_flights;
    flight_chunk *chunks;
    uint64_t undeliverable, timer_spins;
    uint64_t preferred_killed; /* by kill-preferred events */
    /* Liars (scenario liar_share): slots, sessions, sessions struck and
     * the seconds from each session's start to its strike, DATA they
     * dropped, and the (child, tree) pairs under them summed over samples. */
    uint32_t nliars;
    uint32_t nwaypoints; /* waypoint slots (scenario waypoint_share) */
    uint64_t liar_sessions, liar_struck, liar_dropped, liar_pairs_sum, liar_samples;
    times_s liar_struck_s;
    strata_rng liar_rng;
    /* Polluters (scenario polluter_share): their acts, sessions, sessions
     * struck and cut off (no child in any tree at the samples from some
     * point to the session's end) and when, those that kept children to
     * their end, the (child, tree) pairs under them summed over samples.
     * Bad plays: packets honest viewers played that are not the source's
     * (payload not what it sent for that seq) or not in order (a seq not
     * above every one played before in the session), and their bytes at
     * the simulated size. */
    strata_simpol pol;
    int have_pol;
    uint32_t npolluters;
    uint64_t pol_sessions, pol_struck, pol_cut, pol_kept, pol_interior;
    uint64_t pol_pairs_sum, pol_samples;
    times_s pol_struck_s, pol_cut_s;
    uint64_t bad_plays, bad_bytes;
    strata_world_progress_fn progress;
    void *progress_user;
    /* region = groups */
    int groups;
    uint64_t *rkey;    /* per node: its region key (RKEY_*) */
    uint64_t *scratch; /* per node: for counting distinct keys */
    double regions_sum;
    uint64_t regions_samples;
    uint32_t regions_last;
    /* control-restart (the first one is measured) */
    int restarts;
    int watch_rebuild;
    uint64_t crash_at, restart_at, down_ns, rebuilt_at;
    strata_control_status before, rebuilt;
    int fatal;
    int finished;
    strata_simresult result;
};

/* --- small helpers ----------------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static flight *flight_get(strata_world *w)
{
    if (!w->free_flights) {
        flight_chunk *c = strata_mem_alloc(w->alloc, sizeof *c);
        if (!c)
            return NULL;
        c->next = w->chunks;
        w->chunks = c;
        for (size_t i = FLIGHT_CHUNK; i-- > 0;) {
            c->items[i].u.next_free = w->free_flights;
            w->free_flights = &c->items[i];
        }
    }
    flight *f = w->free_flights;
    w->free_flights = f->u.next_free;
    return f;
}

static void flight_put(strata_world *w, flight *f)
{
    f->u.next_free = w->free_flights;
    w->free_flights = f;
}

static void times_add(strata_world *w, times_s *t, double s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        float *p = strata_mem_realloc(w->alloc, t->v, cap * sizeof *p);
        if (!p)
            return; /* the figure then misses this one */
        t->v = p;
        t->cap = cap;
    }
    t->v[t->n++] = (float)s;
}

/* p50, p95 and max of t; -1 each when it is empty. */
static void percentiles(const times_s *t, double *p50, double *p95, double *max)
{
    *p50 = *p95 = *max = -1;
    if (!t->n)
        return;
    *p50 = strata_simm_percentile_f(t->v, t->n, 0.5);
    *p95 = strata_simm_percentile_f(t->v, t->n, 0.95);
    *max = strata_simm_percentile_f(t->v, t->n, 1);
}

/* --- accessors -------------------------------------------------------------------- */

const strata_scenario *strata_world_scenario(const strata_world *w)
{
    return &w->scn;
}
const strata_alloc *strata_world_alloc(const strata_world *w)
{
    return w->alloc;
}
uint32_t strata_world_nodes(const strata_world *w)
{
    return w->nodes;
}
uint64_t strata_world_now(const strata_world *w)
{
    return w->now;
}
uint64_t strata_world_events(const strata_world *w)
{
    return w->events;
}
uint64_t strata_world_events_of_kind(const strata_world *w, unsigned kind)
{
    return kind < STRATA_WORLD_EVENT_KINDS ? w->by_kind[kind] : 0;
}
uint64_t strata_world_fingerprint(const strata_world *w)
{
    return w->fp;
}
void *strata_world_alg_state(const strata_world *w)
{
    return w->alg_state;
}
const strata_simmetrics *strata_world_metrics(const strata_world *w)
{
    return &w->m;
}
const strata_simnet *strata_world_net(const strata_world *w)
{
    return &w->net;
}
uint64_t strata_world_packet_interval_ns(const strata_world *w)
{
    return w->interval_ns;
}

strata_addr strata_world_addr(const strata_world *w, uint32_t node)
{
    strata_addr a = {STRATA_WORLD_BASE_IPV4 + node, STRATA_WORLD_BASE_PORT};
    if (node < w->nodes)
        a.port = w->node[node].port;
    return a;
}

uint32_t strata_world_node_of(strata_addr a)
{
    if (a.ipv4 < STRATA_WORLD_BASE_IPV4 || a.ipv4 - STRATA_WORLD_BASE_IPV4 >= (1u << 24))
        return UINT32_MAX;
    return a.ipv4 - STRATA_WORLD_BASE_IPV4;
}

strata_node_id strata_world_node_id(const strata_world *w, uint32_t node)
{
    uint32_t session = node < w->nodes ? w->node[node].session : 0;
    uint64_t v =
        strata_sim_stream_seed(w->scn.seed, node, STREAM_NODE_ID ^ ((uint64_t)session << 32));
    if (v == 0 || v == UINT64_MAX)
        v = 1 + node;
    return (strata_node_id){v};
}

uint64_t strata_world_node_seed(const strata_world *w, uint32_t node)
{
    uint32_t session = node < w->nodes ? w->node[node].session : 0;
    return strata_sim_stream_seed(w->scn.seed, node,
                                  STRATA_SIM_STREAM_PROTOCOL ^ ((uint64_t)session << 32));
}

int strata_world_is_liar(const strata_world *w, uint32_t node)
{
    return node < w->nodes && w->node[node].liar;
}

int strata_world_is_polluter(const strata_world *w, uint32_t node)
{
    return node < w->nodes && w->node[node].polluter;
}

uint32_t strata_world_upload_kbps(const strata_world *w, uint32_t node)
{
    return strata_simnet_upload_kbps(&w->net, node);
}

const char *strata_world_region(const strata_world *w, uint32_t node)
{
    if (node >= w->nodes)
        return "";
    return w->labels[w->node[node].region];
}

int strata_world_node_online(const strata_world *w, uint32_t node)
{
    return node < w->nodes && w->node[node].online;
}

void strata_world_set_progress(strata_world *w, strata_world_progress_fn fn, void *user)
{
    w->progress = fn;
    w->progress_user = user;
}

void strata_world_on_play(strata_world *w, uint32_t node, const uint8_t *buf, size_t len)
{
    if (node >= w->nodes || !measured(&w->node[node]))
        return; /* honest viewers' delivery is what is measured */
    /* What the source sent is a payload of (seq, send time) per seq, played
     * in order: anything else an honest viewer plays is bad (a forged or
     * corrupted payload, an old packet again, a packet where another
     * belongs), and is not delivery. */
    wnode *n = &w->node[node];
    uint64_t seq = len == STRATA_WORLD_PAYLOAD_BYTES ? get_be64(buf) : UINT64_MAX;
    if (len != STRATA_WORLD_PAYLOAD_BYTES || seq < n->play_hi ||
        strata_simmetrics_sent_ns(&w->m, seq) != get_be64(buf + 8)) {
        w->bad_plays++;
        w->bad_bytes += w->scn.packet_bytes;
        return;
    }
    n->play_hi = seq + 1;
    strata_simmetrics_play(&w->m, node, seq, get_be64(buf + 8), w->now);
}

const strata_simalg *strata_simalg_find(const char *name)
{
    for (size_t i = 0; strata_simalgs[i]; i++)
        if (strcmp(strata_simalgs[i]->name, name) == 0)
            return strata_simalgs[i];
    return NULL;
}

/* --- timers and sending ---------------------------------------------------------- */

/* Makes sure node is woken no later than its next deadline (lazily: an
 * earlier wake-up already queued stays and re-arms when it fires). */
static void arm(strata_world *w, uint32_t idx)
{
    wnode *n = &w->node[idx];
    uint64_t t = w->alg->next_timeout(w->alg_state, idx);
    if (t == STRATA_NEVER)
        return;
    if (t < w->now)
        t = w->now;
    if (n->timer != STRATA_SIMQ_NONE && n->timer_at <= t)
        return;
    if (n->timer != STRATA_SIMQ_NONE)
        strata_simq_cancel(&w->q, n->timer);
    n->timer = strata_simq_push(&w->q, t, EV_TIMER, idx, 0);
    n->timer_at = n->timer != STRATA_SIMQ_NONE ? t : STRATA_NEVER;
    if (n->timer == STRATA_SIMQ_NONE)
        w->fatal = STRATA_ERR_NOMEM;
}

/* Sends one outbox entry of node from (taking over its reference). */
static void send_one(strata_world *w, uint32_t from, strata_datagram *d, const strata_simpkt *pk,
                     int pk_ok)
{
    uint32_t to = strata_world_node_of(d->to);
    if (to >= w->nodes || to == from) {
        w->undeliverable++;
        strata_buf_unref(d->buf);
        return;
    }
    int data = pk_ok && pk->data;
    uint64_t hold_ns = 0;
    int polluted = 0;
    if (data && w->node[from].polluter) {
        int kind;
        d->buf = strata_simpol_alter(&w->pol, from, d->buf, &hold_ns, &kind);
        if (!d->buf) {
            if (kind < 0)
                w->fatal = STRATA_ERR_NOMEM;
            return; /* withheld (drop) */
        }
        polluted = kind >= 0;
    }
    if (data && w->node[from].liar &&
        (w->scn.liar_forward <= 0 || strata_rng_unit(&w->liar_rng) >= w->scn.liar_forward)) {
        /* A liar keeps what it claims to relay (its counters say sent). */
        w->liar_dropped++;
        strata_buf_unref(d->buf);
        return;
    }
    uint64_t size = d->buf->len;
    if (data && pk->has_payload && size >= STRATA_WORLD_PAYLOAD_BYTES) {
        /* Charge the simulated payload instead of the real one. */
        size = size - STRATA_WORLD_PAYLOAD_BYTES + w->scn.packet_bytes;
    }
    uint32_t charged = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    uint64_t arrival = STRATA_NEVER;
    int rc = strata_simnet_send(&w->net, from, to, charged, w->now, &arrival);
    if (rc == STRATA_SIM_DROP_QUEUE || rc < 0) {
        strata_buf_unref(d->buf);
        return;
    }
    arrival = add_sat(arrival, hold_ns); /* a polluter holding it back */
    int cross =
        w->groups ? w->rkey[from] != w->rkey[to] : w->node[from].region != w->node[to].region;
    strata_simmetrics_transfer(&w->m, from, to, charged, data, cross, rc == STRATA_SIM_DELIVER,
                               w->now);
    if (data && cross && rc == STRATA_SIM_DELIVER)
        strata_simmetrics_cross_kind(&w->m,
                                     from == STRATA_WORLD_SOURCE ? STRATA_SIMM_CROSS_SOURCE
                                     : pk->repair                ? STRATA_SIMM_CROSS_REPAIR
                                     : pk->parity                ? STRATA_SIMM_CROSS_PARITY
                                                                 : STRATA_SIMM_CROSS_RELAYED,
                                     charged);
    if (rc != STRATA_SIM_DELIVER) {
        strata_buf_unref(d->buf);
        return;
    }
    flight *f = flight_get(w);
    if (!f) {
        w->fatal = STRATA_ERR_NOMEM;
        strata_buf_unref(d->buf);
        return;
    }
    memset(f, 0, sizeof *f);
    f->u.buf = d->buf;
    f->from = from;
    f->from_port = (uint16_t)(w->node[from].port - STRATA_WORLD_BASE_PORT);
    f->to_port = (uint16_t)(d->to.port - STRATA_WORLD_BASE_PORT);
    f->polluted = (uint8_t)polluted;
    if (data && pk->substream < MAX_SUBSTREAMS) {
        f->data = 1;
        f->repair = pk->repair;
        f->sub = pk->substream;
        f->seq = pk->seq;
        uint64_t base = from == STRATA_WORLD_SOURCE
                            ? 0
                            : w->path_us[(size_t)from * MAX_SUBSTREAMS + pk->substream];
        /* The link's propagation delay (queueing and serialisation are
         * not part of a path's stretch). */
        uint64_t hop = (strata_simnet_delay_ns(&w->net, from, to) + 500) / 1000;
        uint64_t p = base + hop;
        f->path_us = p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
    }
    if (strata_simq_push_ptr(&w->q, arrival, EV_DELIVER, to, f) == STRATA_SIMQ_NONE) {
        w->fatal = STRATA_ERR_NOMEM;
        strata_buf_unref(f->u.buf);
        flight_put(w, f);
    }
}

/* Sends everything node queued. Consecutive entries sharing a buffer (a
 * packet relayed to several children) are classified once. */
static void drain(strata_world *w, uint32_t idx)
{
    strata_outbox *ob = w->alg->outbox(w->alg_state, idx);
    if (!ob)
        return;
    strata_datagram d;
    const strata_buf *last = NULL;
    strata_simpkt pk;
    int pk_ok = 0;
    while (strata_outbox_pop(ob, &d)) {
        if (d.buf != last) {
            memset(&pk, 0, sizeof pk);
            pk_ok = w->alg->classify(w->alg_state, d.buf->data, d.buf->len, &pk) == 0;
            last = d.buf;
        }
        send_one(w, idx, &d, &pk, pk_ok);
    }
}

/* --- event handlers ---------------------------------------------------------------- */

/* The control center's status, for a world running "strata" (defined with
 * the algorithm below); -1 for another algorithm or while it is down. */
static int control_status(const strata_world *w, strata_control_status *st);
/* Online peers and those whose agent is in a group now (region = groups). */
static void group_census(const strata_world *w, uint32_t *online, uint32_t *in_group);
/* The figures of the first control restart (strata_simresult). */
static void restart_figures(strata_world *w, strata_simresult *x);
/* The figures of signed streams and polluters. */
static void polluter_figures(strata_world *w, strata_simresult *x);

/* After a control restart: the first time the fresh control center's
 * recovery window has closed with members restored, every DCM is rebuilt. */
static void watch_rebuild(strata_world *w)
{
    strata_control_status st;
    if (control_status(w, &st) < 0) {
        w->watch_rebuild = 0;
        return;
    }
    if (st.recovering || st.restored_members == 0)
        return;
    w->watch_rebuild = 0;
    w->rebuilt_at = w->now;
    w->rebuilt = st;
}

static void on_timer(strata_world *w, uint32_t idx)
{
    wnode *n = &w->node[idx];
    n->timer = STRATA_SIMQ_NONE;
    n->timer_at = STRATA_NEVER;
    if (!n->online)
        return;
    uint64_t due = w->alg->next_timeout(w->alg_state, idx);
    if (due <= w->now) {
        w->alg->handle_timeout(w->alg_state, idx, w->now);
        drain(w, idx);
        if (w->alg->next_timeout(w->alg_state, idx) <= w->now) {
            /* The deadline did not move: wake a little later rather than
             * spin at one instant. */
            w->timer_spins++;
            n->timer = strata_simq_push(&w->q, w->now + TIMER_SPIN_NS, EV_TIMER, idx, 0);
            n->timer_at = w->now + TIMER_SPIN_NS;
            return;
        }
        if (idx == STRATA_WORLD_CONTROL && w->watch_rebuild)
            watch_rebuild(w);
    }
    arm(w, idx);
}

static void on_deliver(strata_world *w, uint32_t to, flight *f)
{
    wnode *n = &w->node[to];
    if (!n->online || (uint16_t)(n->port - STRATA_WORLD_BASE_PORT) != f->to_port) {
        w->undeliverable++;
        goto done;
    }
    if (f->data && !f->repair && !f->polluted && to >= STRATA_WORLD_FIRST_PEER) {
        size_t i = (size_t)to * MAX_SUBSTREAMS + f->sub;
        if (f->seq + 1 > w->hi_seq[i]) {
            w->hi_seq[i] = f->seq + 1;
            w->path_us[i] = f->path_us;
            if (measured(n))
                strata_simmetrics_path(&w->m, to, f->path_us);
        }
    }
    strata_addr from = {STRATA_WORLD_BASE_IPV4 + f->from,
                        (uint16_t)(STRATA_WORLD_BASE_PORT + f->from_port)};
    w->alg->handle_datagram(w->alg_state, to, from, f->u.buf->data, f->u.buf->len, w->now);
    drain(w, to);
    arm(w, to);
done:
    strata_buf_unref(f->u.buf);
    flight_put(w, f);
}

static void push_event(strata_world *w, uint64_t t, uint16_t kind, uint32_t node, uint64_t data)
{
    if (t > w->end_ns)
        return;
    if (strata_simq_push(&w->q, t, kind, node, data) == STRATA_SIMQ_NONE)
        w->fatal = STRATA_ERR_NOMEM;
}

static void on_tick(strata_world *w)
{
    if (w->node[STRATA_WORLD_SOURCE].online) {
        uint8_t payload[STRATA_WORLD_PAYLOAD_BYTES];
        put_be64(payload, w->next_seq);
        put_be64(payload + 8, w->now);
        if (w->alg->source_push(w->alg_state, payload, sizeof payload, w->now) == 0) {
            strata_simmetrics_source_packet(&w->m, w->next_seq, w->now);
            w->next_seq++;
        }
        drain(w, STRATA_WORLD_SOURCE);
        arm(w, STRATA_WORLD_SOURCE);
    }
    w->ticks++;
    push_event(w, w->ticks * w->interval_ns, EV_TICK, STRATA_WORLD_SOURCE, 0);
}

static void on_join(strata_world *w, uint32_t idx)
{
    wnode *n = &w->node[idx];
    if (n->online)
        return;
    const strata_scenario *s = &w->scn;
    uint32_t session = n->session;
    uint64_t len = strata_scenario_session_ns(s, idx - STRATA_WORLD_FIRST_PEER, session);
    /* An operator's waypoint stays, whatever the viewers do. */
    uint64_t end = n->waypoint ? STRATA_NEVER : add_sat(w->now, len);
    int graceful = strata_scenario_graceful(s, idx - STRATA_WORLD_FIRST_PEER, session);
    /* The first correlated failure or mass leave after the join that hits
     * this node ends the session then (scenario.h). */
    for (size_t e = 0; e < s->nevents && !n->waypoint; e++) {
        const strata_scn_event *ev = &s->events[e];
        if (ev->at_ns <= w->now || ev->at_ns >= end)
            continue;
        if (ev->action != STRATA_SCN_KILL && ev->action != STRATA_SCN_LEAVE)
            continue;
        if (strata_scenario_event_hits(s, e, idx - STRATA_WORLD_FIRST_PEER, w->labels[n->region])) {
            end = ev->at_ns;
            graceful = ev->action == STRATA_SCN_LEAVE;
            break;
        }
    }
    n->port = (uint16_t)(STRATA_WORLD_BASE_PORT + session % STRATA_WORLD_PORT_SPAN);
    n->online = 1;
    if (w->groups)
        w->rkey[idx] = RKEY_PREFIX | ((STRATA_WORLD_BASE_IPV4 + idx) >> 8);
    n->depart_at = end;
    n->graceful = (uint8_t)graceful;
    memset(&w->hi_seq[(size_t)idx * MAX_SUBSTREAMS], 0, MAX_SUBSTREAMS * sizeof *w->hi_seq);
    memset(&w->path_us[(size_t)idx * MAX_SUBSTREAMS], 0, MAX_SUBSTREAMS * sizeof *w->path_us);
    n->up_ns = w->now;
    n->struck = 0;
    n->had_children = 0;
    n->childless_ns = 0;
    n->play_hi = 0;
    if (n->liar)
        w->liar_sessions++;
    if (n->polluter)
        w->pol_sessions++;
    if (measured(n))
        strata_simmetrics_session_start(&w->m, idx, w->now, end > w->end_ns ? STRATA_NEVER : end);
    int rc = w->alg->node_up(w->alg_state, idx, w->now);
    if (rc == STRATA_ERR_NOMEM)
        w->fatal = rc;
    drain(w, idx);
    arm(w, idx);
    push_event(w, end, EV_DEPART, idx, session);
}

/* A polluter's session ends (or the run does): cut off if it had children
 * at some sample and none from some sample on. */
static void polluter_session_end(strata_world *w, wnode *n)
{
    if (!n->had_children)
        return;
    if (n->childless_ns) {
        w->pol_cut++;
        times_add(w, &w->pol_cut_s, (double)(n->childless_ns - n->up_ns) / 1e9);
    } else {
        w->pol_kept++;
    }
    n->had_children = 0;
}

static void on_depart(strata_world *w, uint32_t idx, uint32_t session)
{
    wnode *n = &w->node[idx];
    if (!n->online || n->session != session)
        return;
    w->alg->node_down(w->alg_state, idx, n->graceful, w->now);
    drain(w, idx);
    w->alg->node_free(w->alg_state, idx);
    if (w->have_pol)
        strata_simpol_reset(&w->pol, idx);
    if (n->timer != STRATA_SIMQ_NONE)
        strata_simq_cancel(&w->q, n->timer);
    n->timer = STRATA_SIMQ_NONE;
    n->timer_at = STRATA_NEVER;
    n->online = 0;
    if (n->polluter)
        polluter_session_end(w, n);
    if (measured(n))
        strata_simmetrics_session_end(&w->m, idx, n->graceful, w->now);
    n->session++;
    uint64_t off = strata_scenario_rejoin_ns(&w->scn, idx - STRATA_WORLD_FIRST_PEER, session);
    if (off != STRATA_NEVER)
        push_event(w, add_sat(w->now, off), EV_JOIN, idx, 0);
}

/* The control center crashes: its node object and all its state go, and
 * nothing it had queued is sent; a fresh one starts after down_ns. */
static void control_crash(strata_world *w, const strata_scn_event *ev)
{
    wnode *n = &w->node[STRATA_WORLD_CONTROL];
    if (!n->online)
        return;
    if (w->restarts++ == 0) {
        w->crash_at = w->now;
        w->down_ns = ev->down_ns;
        w->restart_at = STRATA_NEVER;
        if (control_status(w, &w->before) < 0)
            memset(&w->before, 0, sizeof w->before);
    }
    w->watch_rebuild = 0;
    w->alg->node_free(w->alg_state, STRATA_WORLD_CONTROL);
    if (n->timer != STRATA_SIMQ_NONE)
        strata_simq_cancel(&w->q, n->timer);
    n->timer = STRATA_SIMQ_NONE;
    n->timer_at = STRATA_NEVER;
    n->online = 0;
    push_event(w, add_sat(w->now, ev->down_ns), EV_CONTROL_UP, STRATA_WORLD_CONTROL, 0);
}

/* A fresh control center on the same address: a new session of node 0
 * (new node id and seed), no state from the one that crashed. */
static void on_control_up(strata_world *w)
{
    wnode *n = &w->node[STRATA_WORLD_CONTROL];
    if (n->online)
        return;
    n->session++;
    n->online = 1;
    int rc = w->alg->node_up(w->alg_state, STRATA_WORLD_CONTROL, w->now);
    if (rc < 0) {
        w->fatal = rc;
        return;
    }
    if (w->restarts == 1 && w->restart_at == STRATA_NEVER) {
        w->restart_at = w->now;
        w->watch_rebuild = 1;
    }
    drain(w, STRATA_WORLD_CONTROL);
    arm(w, STRATA_WORLD_CONTROL);
}

/* Whom a kill-preferred event hits: the preferred nodes of the largest
 * regions (victims) and the regions' other peers (peers), as world
 * indexes, with the regions' count and first labels. */
typedef struct kp_targets {
    uint32_t *victims, *peers; /* room for every node each */
    size_t nvictims, npeers;
    uint32_t regions;
    char labels[STRATA_SIMM_REGIONAL_LABELS][STRATA_SIMM_LABEL_BYTES];
} kp_targets;

static void preferred_of_largest(const strata_world *w, uint32_t regions, kp_targets *t);

/* A correlated failure at the top level: the preferred nodes of the
 * largest regions that have any fail silently, at once. The regions'
 * other peers are followed from just before (metrics.h, "Regional
 * series"). */
static void kill_preferred(strata_world *w, const strata_scn_event *ev)
{
    kp_targets t;
    memset(&t, 0, sizeof t);
    t.victims = strata_mem_alloc(w->alloc, (size_t)w->nodes * sizeof *t.victims);
    t.peers = strata_mem_alloc(w->alloc, (size_t)w->nodes * sizeof *t.peers);
    if (!t.victims || !t.peers) {
        w->fatal = STRATA_ERR_NOMEM;
        goto done;
    }
    preferred_of_largest(w, ev->regions, &t);
    const char *labels[STRATA_SIMM_REGIONAL_LABELS];
    for (size_t i = 0; i < STRATA_SIMM_REGIONAL_LABELS; i++)
        labels[i] = t.labels[i];
    size_t nlabels =
        t.regions < STRATA_SIMM_REGIONAL_LABELS ? t.regions : STRATA_SIMM_REGIONAL_LABELS;
    if (strata_simmetrics_regional_start(&w->m, w->now, t.peers, t.npeers, (uint32_t)t.nvictims,
                                         t.regions, labels, nlabels) == STRATA_ERR_NOMEM) {
        w->fatal = STRATA_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < t.nvictims; i++) {
        wnode *nd = &w->node[t.victims[i]];
        nd->graceful = 0;
        on_depart(w, t.victims[i], nd->session);
        w->preferred_killed++;
    }
done:
    strata_mem_free(w->alloc, t.victims);
    strata_mem_free(w->alloc, t.peers);
}

static void on_timeline(strata_world *w, size_t e)
{
    const strata_scn_event *ev = &w->scn.events[e];
    if (ev->action == STRATA_SCN_CONTROL_RESTART) {
        control_crash(w, ev);
    } else if (ev->action == STRATA_SCN_KILL_PREFERRED) {
        kill_preferred(w, ev);
    } else if (ev->action == STRATA_SCN_LOSS) {
        for (uint32_t i = 0; i < w->nodes; i++) {
            if (ev->by_region &&
                (i < STRATA_WORLD_FIRST_PEER ||
                 !strata_scenario_event_hits(&w->scn, e, i - STRATA_WORLD_FIRST_PEER,
                                             w->labels[w->node[i].region])))
                continue;
            if (ev->side != STRATA_SCN_LOSS_RECEIVE)
                strata_simnet_set_loss(&w->net, i, ev->loss);
            if (ev->side != STRATA_SCN_LOSS_SEND)
                strata_simnet_set_rx_loss(&w->net, i, ev->loss);
        }
    } else if (ev->action == STRATA_SCN_UPLOAD) {
        for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++) {
            if (!strata_scenario_event_hits(&w->scn, e, i - STRATA_WORLD_FIRST_PEER,
                                            w->labels[w->node[i].region]))
                continue;
            strata_simnet_set_upload_kbps(&w->net, i, ev->kbps);
            strata_simmetrics_set_capacity(&w->m, i, ev->kbps, w->now);
        }
    }
    /* kill and leave were planned into each session when it started. */
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* region = groups: the distinct region keys of the online peers now. */
static uint32_t count_group_regions(strata_world *w)
{
    size_t m = 0;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++)
        if (w->node[i].online)
            w->scratch[m++] = w->rkey[i];
    qsort(w->scratch, m, sizeof *w->scratch, cmp_u64);
    uint32_t n = 0;
    for (size_t k = 0; k < m; k++)
        n += k == 0 || w->scratch[k] != w->scratch[k - 1];
    return n;
}

static void liar_sample(strata_world *w);

static void on_sample(strata_world *w)
{
    if (w->nliars || w->npolluters)
        liar_sample(w);
    if (w->groups) {
        uint32_t r = count_group_regions(w);
        if (r) {
            w->regions_sum += r;
            w->regions_samples++;
        }
        w->regions_last = r;
    }
    strata_simmetrics_sample(&w->m, w->now);
    push_event(w, w->now + w->scn.csv_interval_ns, EV_SAMPLE, 0, 0);
}

/* --- the run ------------------------------------------------------------------------- */

static uint64_t fold(uint64_t fp, const strata_simq_event *ev)
{
    fp = strata_sim_mix64(fp ^ ev->time_ns);
    return strata_sim_mix64(fp ^ (((uint64_t)ev->kind << 32) | ev->node));
}

int strata_world_run_until(strata_world *w, uint64_t t)
{
    if (t > w->end_ns)
        t = w->end_ns;
    strata_simq_event ev;
    while (!w->fatal && strata_simq_pop_until(&w->q, t, &ev)) {
        w->now = ev.time_ns;
        w->events++;
        w->by_kind[ev.kind < STRATA_WORLD_EVENT_KINDS ? ev.kind : 0]++;
        w->fp = fold(w->fp, &ev);
        switch (ev.kind) {
        case EV_TIMER:
            on_timer(w, ev.node);
            break;
        case EV_DELIVER:
            on_deliver(w, ev.node, ev.data.ptr);
            break;
        case EV_TICK:
            on_tick(w);
            break;
        case EV_JOIN:
            on_join(w, ev.node);
            break;
        case EV_DEPART:
            on_depart(w, ev.node, (uint32_t)ev.data.u64);
            break;
        case EV_TIMELINE:
            on_timeline(w, (size_t)ev.data.u64);
            break;
        case EV_SAMPLE:
            on_sample(w);
            break;
        case EV_CONTROL_UP:
            on_control_up(w);
            break;
        default:
            break;
        }
        if (w->progress && (w->events & (PROGRESS_EVERY - 1)) == 0)
            w->progress(w->progress_user, w->now, w->end_ns, w->events);
    }
    if (!w->fatal && w->now < t)
        w->now = t;
    if (w->progress && t == w->end_ns)
        w->progress(w->progress_user, w->now, w->end_ns, w->events);
    return w->fatal;
}

int strata_world_run(strata_world *w)
{
    return strata_world_run_until(w, w->end_ns);
}

void strata_world_result(strata_world *w, strata_simresult *r)
{
    if (!w->finished) {
        strata_simresult *x = &w->result;
        memset(x, 0, sizeof *x);
        if (w->groups) {
            x->have_groups = 1;
            x->regions_end = count_group_regions(w);
            x->regions_mean =
                w->regions_samples ? w->regions_sum / (double)w->regions_samples : x->regions_end;
            uint32_t nr = (uint32_t)llround(x->regions_mean);
            w->m.cfg.regions = nr ? nr : 1; /* the cross-region ratio's denominator */
            group_census(w, &x->online_end, &x->in_group_end);
        }
        strata_simmetrics_finish(&w->m, w->now, x);
        if (w->restarts)
            restart_figures(w, x);
        snprintf(x->algorithm, sizeof x->algorithm, "%s", w->alg->name);
        x->seed = w->scn.seed;
        x->events = w->events;
        x->fingerprint = w->fp;
        strata_simnet_counters tot;
        strata_simnet_totals(&w->net, &tot);
        x->net_queue_drops = tot.drop_queue_pkts;
        x->net_losses = tot.drop_loss_pkts;
        x->undeliverable = w->undeliverable;
        x->preferred_killed = w->preferred_killed;
        x->liars = w->nliars;
        x->waypoint_slots = w->nwaypoints;
        strata_control_status cs;
        if (w->nwaypoints && control_status(w, &cs) == 0) {
            x->waypoints_end = (uint32_t)cs.waypoints;
            x->waypoints_placed = cs.waypoints_placed;
            x->waypoint_standbys = cs.waypoint_standbys;
            x->waypoint_releases = cs.waypoint_releases;
        }
        if ((w->scn.levels == STRATA_SCN_LEVELS_EC || w->scn.levels == STRATA_SCN_LEVELS_THREE) &&
            control_status(w, &cs) == 0) {
            x->parity_raises = cs.parity_raises;
            x->parity_lowers = cs.parity_lowers;
        }
        x->liar_sessions = w->liar_sessions;
        x->liar_struck = w->liar_struck;
        x->liar_dropped = w->liar_dropped;
        x->liar_pairs_mean =
            w->liar_samples ? (double)w->liar_pairs_sum / (double)w->liar_samples : 0;
        percentiles(&w->liar_struck_s, &x->liar_struck_p50, &x->liar_struck_p95,
                    &x->liar_struck_max);
        polluter_figures(w, x);
        if (w->alg->counters)
            w->alg->counters(w->alg_state, x);
        w->finished = 1;
    }
    *r = w->result;
}

/* The figures of signed streams and polluters (metrics.h); the polluters
 * online at the end close their sessions' count here. */
static void polluter_figures(strata_world *w, strata_simresult *x)
{
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++)
        if (w->node[i].polluter && w->node[i].online)
            polluter_session_end(w, &w->node[i]);
    x->signed_stream = w->scn.signed_stream;
    x->bad_plays = w->bad_plays;
    x->bad_bytes = w->bad_bytes;
    x->polluters = w->npolluters;
    if (w->have_pol)
        memcpy(x->polluter_acts, w->pol.acts, sizeof x->polluter_acts);
    x->polluter_sessions = w->pol_sessions;
    x->polluter_interior = w->pol_interior;
    x->polluter_cut = w->pol_cut;
    x->polluter_kept = w->pol_kept;
    x->polluter_struck = w->pol_struck;
    percentiles(&w->pol_cut_s, &x->polluter_cut_p50, &x->polluter_cut_p95, &x->polluter_cut_max);
    percentiles(&w->pol_struck_s, &x->polluter_struck_p50, &x->polluter_struck_p95,
                &x->polluter_struck_max);
    x->polluter_pairs_mean = w->pol_samples ? (double)w->pol_pairs_sum / (double)w->pol_samples : 0;
}

static void restart_figures(strata_world *w, strata_simresult *x)
{
    x->have_restart = 1;
    x->restart_at_s = (double)w->crash_at / 1e9;
    x->restart_down_s = (double)w->down_ns / 1e9;
    x->rebuilt_s = w->rebuilt_at && w->restart_at != STRATA_NEVER
                       ? (double)(w->rebuilt_at - w->restart_at) / 1e9
                       : -1;
    x->members_before = w->before.nodes;
    x->dcms_before = w->before.dcms_with_members;
    x->dcms_rebuilt = w->rebuilt.dcms_with_members;
    x->restored_members = w->rebuilt.restored_members;
    x->restored_edges = w->rebuilt.restored_edges;
    x->reported_edges = w->rebuilt.reported_edges;
    /* Delivery of the packets sent in the rows before and after the crash
     * (a mean over the rows; rows without packets due are skipped). */
    double before = 0, after = 0, worst = 1;
    unsigned nb = 0, na = 0;
    double crash_s = x->restart_at_s, iv_s = (double)w->scn.csv_interval_ns / 1e9;
    strata_simm_cursor c = {0, 0, 0};
    strata_simm_rowvals v;
    while (strata_simmetrics_next_row(&w->m, &c, &v)) {
        if (isnan(v.delivery_ratio))
            continue;
        if (v.t_s + iv_s <= crash_s && v.t_s >= crash_s - RESTART_BEFORE_S) {
            before += v.delivery_ratio;
            nb++;
        } else if (v.t_s >= crash_s && v.t_s < crash_s + RESTART_AFTER_S) {
            after += v.delivery_ratio;
            na++;
            if (v.delivery_ratio < worst)
                worst = v.delivery_ratio;
        }
    }
    x->delivery_before = nb ? before / nb : -1;
    x->delivery_after = na ? after / na : -1;
    x->delivery_min_row = na ? worst : -1;
}

/* --- construction -------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...) STRATA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Region labels and each node's region. */
static int setup_regions(strata_world *w)
{
    uint32_t hosts = w->have_lat ? strata_simlat_hosts(&w->lat) : 1;
    w->nlabels = w->scn.region_mode == STRATA_SCN_REGION_HOST ? hosts : 1;
    w->labels = strata_mem_calloc(w->alloc, w->nlabels, sizeof *w->labels);
    if (!w->labels)
        return STRATA_ERR_NOMEM;
    if (w->scn.region_mode == STRATA_SCN_REGION_HOST) {
        for (uint32_t h = 0; h < hosts; h++)
            snprintf(w->labels[h], REGION_LABEL_BYTES, "h%u", h);
    } else {
        snprintf(w->labels[0], REGION_LABEL_BYTES, "one");
    }
    for (uint32_t i = 0; i < w->nodes; i++) {
        uint32_t r = 0;
        if (w->scn.region_mode == STRATA_SCN_REGION_HOST && w->have_lat)
            r = strata_simlat_node_host(&w->lat, i);
        w->node[i].region = r < w->nlabels ? r : 0;
    }
    return 0;
}

static uint32_t count_regions(const strata_world *w)
{
    uint8_t *seen = strata_mem_calloc(w->alloc, w->nlabels, 1);
    if (!seen)
        return 1;
    uint32_t n = 0;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++) {
        if (!seen[w->node[i].region]) {
            seen[w->node[i].region] = 1;
            n++;
        }
    }
    strata_mem_free(w->alloc, seen);
    return n ? n : 1;
}

static int setup_net(strata_world *w, char *err, size_t errlen)
{
    const strata_scenario *s = &w->scn;
    if (s->latency[0]) {
        int rc = strata_simlat_load(&w->lat, w->alloc, s->latency, err, errlen);
        if (rc < 0)
            return rc;
        w->have_lat = 1;
        uint64_t amin = (uint64_t)llround(s->access_min_ms * 1e6);
        uint64_t amax = (uint64_t)llround(s->access_max_ms * 1e6);
        int mode = s->attach == STRATA_SCN_ATTACH_RANDOM ? STRATA_SIMLAT_RANDOM
                                                         : STRATA_SIMLAT_ROUND_ROBIN;
        rc = strata_simlat_attach(&w->lat, w->nodes, mode, s->seed, amin, amax);
        if (rc < 0) {
            set_err(err, errlen, "%s: cannot attach %u nodes", s->latency, w->nodes);
            return rc;
        }
    }
    strata_simnet_config nc;
    strata_simnet_config_default(&nc);
    nc.seed = s->seed;
    nc.capacity_mix = s->capacity_mix;
    nc.queue_limit_bytes = strata_scenario_queue_bytes(s);
    nc.loss = s->loss;
    nc.overhead_bytes = 0;
    nc.fixed_delay_ns = (uint64_t)llround(s->fixed_delay_ms * 1e6);
    /* A simulated packet larger than a datagram travels as the train of
     * datagrams it stands for (net.h, "Packet trains"). */
    nc.cut_through_bytes = s->trains ? STRATA_WIRE_MAX_DATAGRAM_BYTES : 0;
    int rc = strata_simnet_init(&w->net, w->alloc, w->nodes, &nc, w->have_lat ? &w->lat : NULL, err,
                                errlen);
    if (rc < 0)
        return rc;
    w->have_net = 1;
    /* The control center is a server with room to spare; the source has the
     * upload the scenario gives it and a second's worth of buffer. */
    strata_simnet_set_upload_kbps(&w->net, STRATA_WORLD_CONTROL, 0);
    strata_simnet_set_queue_limit(&w->net, STRATA_WORLD_CONTROL, 0);
    strata_simnet_set_upload_kbps(&w->net, STRATA_WORLD_SOURCE, s->source_upload_kbps);
    uint64_t sq = (uint64_t)s->source_upload_kbps * 1000 / 8;
    if (sq < strata_scenario_queue_bytes(s))
        sq = strata_scenario_queue_bytes(s);
    strata_simnet_set_queue_limit(&w->net, STRATA_WORLD_SOURCE,
                                  sq > UINT32_MAX ? UINT32_MAX : (uint32_t)sq);
    return 0;
}

strata_world *strata_world_new(const strata_scenario *scn, const strata_alloc *a, char *err,
                               size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    strata_world *w = strata_mem_calloc(a, 1, sizeof *w);
    if (!w) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    w->alloc = a;
    w->scn = *scn;
    if (strata_scenario_validate(&w->scn, err, errlen) < 0)
        goto fail;
    w->alg = strata_simalg_find(w->scn.algorithm);
    if (!w->alg) {
        set_err(err, errlen, "unknown algorithm '%s'", w->scn.algorithm);
        goto fail;
    }
    const strata_scenario *s = &w->scn;
    if ((uint64_t)s->nodes + STRATA_WORLD_FIRST_PEER > (1u << 24)) {
        set_err(err, errlen, "too many nodes (at most %u)", (1u << 24) - STRATA_WORLD_FIRST_PEER);
        goto fail;
    }
    w->nodes = s->nodes + STRATA_WORLD_FIRST_PEER;
    w->end_ns = s->duration_ns;
    w->interval_ns = strata_scenario_packet_interval_ns(s);
    w->fp = 0x73747261746173ull; /* "stratas" */
    strata_simq_init(&w->q, a);
    w->node = strata_mem_calloc(a, w->nodes, sizeof *w->node);
    w->path_us = strata_mem_calloc(a, (size_t)w->nodes * MAX_SUBSTREAMS, sizeof *w->path_us);
    w->hi_seq = strata_mem_calloc(a, (size_t)w->nodes * MAX_SUBSTREAMS, sizeof *w->hi_seq);
    if (!w->node || !w->path_us || !w->hi_seq) {
        set_err(err, errlen, "out of memory for %u nodes", s->nodes);
        goto fail;
    }
    for (uint32_t i = 0; i < w->nodes; i++) {
        w->node[i].timer_at = STRATA_NEVER;
        w->node[i].port = STRATA_WORLD_BASE_PORT;
    }
    if (setup_net(w, err, errlen) < 0)
        goto fail;
    if (setup_regions(w) < 0) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    if (s->region_mode == STRATA_SCN_REGION_GROUPS) {
        w->groups = 1;
        w->rkey = strata_mem_calloc(a, w->nodes, sizeof *w->rkey);
        w->scratch = strata_mem_calloc(a, w->nodes, sizeof *w->scratch);
        if (!w->rkey || !w->scratch) {
            set_err(err, errlen, "out of memory");
            goto fail;
        }
        w->rkey[STRATA_WORLD_CONTROL] = RKEY_SOURCE | 1;
        w->rkey[STRATA_WORLD_SOURCE] = RKEY_SOURCE;
    }

    strata_simmetrics_config mc = {
        .nodes = w->nodes,
        .duration_ns = s->duration_ns,
        .packet_interval_ns = w->interval_ns,
        .playout_delay_ns = STRATA_MS(s->playout_delay_ms),
        .startup_grace_ns = s->startup_grace_ns,
        .csv_interval_ns = s->csv_interval_ns,
        .rate_kbps = s->rate_kbps,
        .packet_bytes = s->packet_bytes,
        .source_upload_kbps = s->source_upload_kbps,
        .regions = count_regions(w),
    };
    for (size_t e = 0; e < s->nevents; e++)
        mc.regional_plays |= s->events[e].action == STRATA_SCN_KILL_PREFERRED;
    if (strata_simmetrics_init(&w->m, a, &mc) < 0) {
        set_err(err, errlen, "out of memory for the metrics");
        goto fail;
    }
    w->have_metrics = 1;
    strata_rng_seed(&w->liar_rng, strata_sim_stream_seed(s->seed, 0, STREAM_LIAR));
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes && s->liar_share > 0; i++) {
        uint64_t v = strata_sim_stream_seed(s->seed, i, STREAM_LIAR);
        if ((double)(v >> 11) / 9007199254740992.0 < s->liar_share) {
            w->node[i].liar = 1;
            w->nliars++;
        }
    }
    if (s->polluter_share > 0) {
        if (strata_simpol_init(&w->pol, a, w->nodes, s->polluter_mask, s->polluter_rate,
                               STRATA_MS(s->polluter_hold_ms), s->k,
                               strata_sim_stream_seed(s->seed, 0, STREAM_POLLUTER)) < 0) {
            set_err(err, errlen, "out of memory");
            goto fail;
        }
        w->have_pol = 1;
    }
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes && s->polluter_share > 0; i++) {
        uint64_t v = strata_sim_stream_seed(s->seed, i, STREAM_POLLUTER);
        if (!w->node[i].liar && (double)(v >> 11) / 9007199254740992.0 < s->polluter_share) {
            if (strata_simpol_add(&w->pol, i) < 0) {
                set_err(err, errlen, "out of memory");
                goto fail;
            }
            w->node[i].polluter = 1;
            w->npolluters++;
        }
    }
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes && s->waypoint_share > 0; i++) {
        uint64_t v = strata_sim_stream_seed(s->seed, i, STREAM_WAYPOINT);
        if (!w->node[i].liar && !w->node[i].polluter &&
            (double)(v >> 11) / 9007199254740992.0 < s->waypoint_share) {
            w->node[i].waypoint = 1;
            w->nwaypoints++;
            strata_simnet_set_upload_kbps(&w->net, i, s->waypoint_upload_kbps);
        }
    }
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++) {
        strata_simmetrics_set_direct(&w->m, i,
                                     strata_simnet_delay_ns(&w->net, STRATA_WORLD_SOURCE, i));
        strata_simmetrics_set_capacity(&w->m, i, strata_simnet_upload_kbps(&w->net, i), 0);
    }

    int rc = w->alg->init(w, &w->alg_state);
    if (rc < 0) {
        set_err(err, errlen, "algorithm %s failed to start: %s", w->alg->name, strata_strerror(rc));
        goto fail;
    }

    /* The control center and the source come up at time 0, then the
     * clock starts: source ticks, samples, timeline, joins. */
    uint32_t fixed[2] = {STRATA_WORLD_CONTROL, STRATA_WORLD_SOURCE};
    for (int i = 0; i < 2; i++) {
        w->node[fixed[i]].online = 1;
        rc = w->alg->node_up(w->alg_state, fixed[i], 0);
        if (rc < 0) {
            set_err(err, errlen, "%s: %s", fixed[i] ? "source" : "control center",
                    strata_strerror(rc));
            goto fail;
        }
        drain(w, fixed[i]);
        arm(w, fixed[i]);
    }
    push_event(w, 0, EV_TICK, STRATA_WORLD_SOURCE, 0);
    push_event(w, s->csv_interval_ns / 2, EV_SAMPLE, 0, 0);
    for (size_t e = 0; e < s->nevents; e++)
        if (s->events[e].action == STRATA_SCN_UPLOAD || s->events[e].action == STRATA_SCN_LOSS ||
            s->events[e].action == STRATA_SCN_CONTROL_RESTART ||
            s->events[e].action == STRATA_SCN_KILL_PREFERRED)
            push_event(w, s->events[e].at_ns, EV_TIMELINE, 0, e);
    uint64_t *joins = strata_mem_alloc(a, (size_t)s->nodes * sizeof *joins);
    if (!joins) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    strata_scenario_first_joins(s, s->nodes, joins);
    for (uint32_t i = 0; i < s->nodes; i++)
        push_event(w, joins[i], EV_JOIN, i + STRATA_WORLD_FIRST_PEER, 0);
    strata_mem_free(a, joins);
    if (w->fatal) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    return w;

fail:
    strata_world_del(w);
    return NULL;
}

void strata_world_del(strata_world *w)
{
    if (!w)
        return;
    /* Buffers still in flight hold references. */
    strata_simq_event ev;
    while (strata_simq_pop(&w->q, &ev)) {
        if (ev.kind == EV_DELIVER) {
            flight *f = ev.data.ptr;
            strata_buf_unref(f->u.buf);
        }
    }
    strata_simq_free(&w->q);
    if (w->alg && w->alg_state)
        w->alg->free(w->alg_state);
    while (w->chunks) {
        flight_chunk *c = w->chunks;
        w->chunks = c->next;
        strata_mem_free(w->alloc, c);
    }
    if (w->have_metrics)
        strata_simmetrics_free(&w->m);
    if (w->have_net)
        strata_simnet_free(&w->net);
    if (w->have_lat)
        strata_simlat_free(&w->lat);
    strata_mem_free(w->alloc, w->labels);
    strata_mem_free(w->alloc, w->rkey);
    strata_mem_free(w->alloc, w->scratch);
    strata_mem_free(w->alloc, w->liar_struck_s.v);
    strata_mem_free(w->alloc, w->pol_struck_s.v);
    strata_mem_free(w->alloc, w->pol_cut_s.v);
    if (w->have_pol)
        strata_simpol_free(&w->pol);
    strata_mem_free(w->alloc, w->node);
    strata_mem_free(w->alloc, w->path_us);
    strata_mem_free(w->alloc, w->hi_seq);
    strata_mem_free(w->alloc, w);
}

/* ===================================================================================
 * The "strata" algorithm: one strata_node per simulated node, as the
 * daemons run them: the control center on node 0, the source on node 1,
 * a viewer per peer session, configured from the scenario.
 * =================================================================================== */

#define SIM_CHANNEL "sim"

/* Decode tables the world's shared decoder keeps: every peer's loss
 * patterns meet in it (k = 4, n = 2 has 14), where one peer's own
 * decoder keeps 8 (relay_ec.h). */
enum { SIM_FEC_DECODE_PATTERNS = 32 };

typedef struct strata_alg strata_alg;

/* What the peers counted (sa_count): repairs, parity, verification. */
typedef struct sa_sums {
    uint64_t repaired, rebuilt, parity_sent;
    uint64_t verified, forged, unverified, forged_manifests;
} sa_sums;

typedef struct play_ctx {
    strata_alg *a;
    uint32_t node;
} play_ctx;

struct strata_alg {
    strata_world *w;
    sa_sums freed; /* the counts of the peers freed so far */
    const strata_alloc *alloc;
    /* The group coder's tables, one pair for every peer of the world
     * (strata_peer_config): they depend on k, the symbol index and the loss
     * pattern alone, and the world drives one peer at a time. Without
     * sharing, each EC member made its own, about 90 KB a peer. */
    strata_fec_encoder *fec_encoder;
    strata_fec_decoder *fec_decoder;
    strata_node **node; /* one per simulated node: the control center, the source, the peers */
    int source_channel; /* the source node's channel handle */
    play_ctx *ctx;
    uint32_t nodes;
    uint32_t store;
    /* signed: the channel's key pair, drawn from the run's seed */
    uint8_t channel_pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES];
    uint8_t channel_sk[STRATA_MANIFEST_SECRET_KEY_BYTES];
};

static void sa_on_play(void *user, const uint8_t *buf, size_t len)
{
    play_ctx *c = user;
    strata_world_on_play(c->a->w, c->node, buf, len);
}

/* region = groups: the node's agent found (or changed) its group; the node
 * passes it on to the channel as its region, and the world follows it for
 * the cross-region bytes. A node that lost its group keeps its region
 * until it has a new one, as the node's channels do. */
static void sa_on_group(void *user, const strata_gnode_event *ev)
{
    play_ctx *c = user;
    strata_world *w = c->a->w;
    if (w->groups && ev->group.v)
        w->rkey[c->node] = ev->group.v;
}

static int sa_init(strata_world *w, void **state)
{
    const strata_alloc *a = strata_world_alloc(w);
    strata_alg *s = strata_mem_calloc(a, 1, sizeof *s);
    if (!s)
        return STRATA_ERR_NOMEM;
    s->w = w;
    s->alloc = a;
    s->nodes = strata_world_nodes(w);
    s->store = strata_scenario_store_packets(strata_world_scenario(w));
    s->node = strata_mem_calloc(a, s->nodes, sizeof *s->node);
    s->ctx = strata_mem_calloc(a, s->nodes, sizeof *s->ctx);
    s->fec_encoder = strata_fec_encoder_new(a);
    s->fec_decoder = strata_fec_decoder_new(a, SIM_FEC_DECODE_PATTERNS);
    if (!s->node || !s->ctx || !s->fec_encoder || !s->fec_decoder) {
        strata_fec_encoder_del(s->fec_encoder);
        strata_fec_decoder_del(s->fec_decoder);
        strata_mem_free(a, s->node);
        strata_mem_free(a, s->ctx);
        strata_mem_free(a, s);
        return STRATA_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < s->nodes; i++) {
        s->ctx[i].a = s;
        s->ctx[i].node = i;
    }
    if (strata_world_scenario(w)->signed_stream) {
        /* As `strata keygen` makes one, from 32 seed bytes (the run's). */
        uint8_t seed[crypto_sign_SEEDBYTES];
        for (size_t i = 0; i < sizeof seed; i += 8)
            put_be64(seed + i,
                     strata_sim_stream_seed(strata_world_scenario(w)->seed, i, STREAM_CHANNEL_KEY));
        crypto_sign_seed_keypair(s->channel_pk, s->channel_sk, seed);
    }
    *state = s;
    return 0;
}

static void sa_free(void *state)
{
    strata_alg *s = state;
    for (uint32_t i = 0; i < s->nodes; i++)
        strata_node_del(s->node[i]);
    strata_fec_encoder_del(s->fec_encoder);
    strata_fec_decoder_del(s->fec_decoder);
    strata_mem_free(s->alloc, s->node);
    strata_mem_free(s->alloc, s->ctx);
    strata_mem_free(s->alloc, s);
}

/* A peer timer tuned for real packets, scaled with the scenario's packet
 * size as strata_scenario_repair_after_ms does for the repair wait: the
 * packet interval, the serialisation of a relay's sends and so the time a
 * retry or a tail probe should wait grow with it. Never below the
 * default. */
static uint32_t scaled_peer_ms(const strata_scenario *scn, uint32_t default_ms)
{
    uint64_t ms = (uint64_t)default_ms * scn->packet_bytes / STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES;
    if (ms < default_ms)
        ms = default_ms;
    return ms > 600000 ? 600000 : (uint32_t)ms;
}

static int sa_node_up(void *state, uint32_t node, uint64_t now)
{
    strata_alg *s = state;
    strata_world *w = s->w;
    const strata_scenario *scn = strata_world_scenario(w);
    if (node >= s->nodes)
        return STRATA_ERR_INVAL;
    strata_node_config nc;
    memset(&nc, 0, sizeof nc);
    nc.id = strata_world_node_id(w, node);
    nc.addr = strata_world_addr(w, node);
    nc.control = strata_world_addr(w, STRATA_WORLD_CONTROL);
    nc.seed = strata_world_node_seed(w, node);
    int groups = scn->region_mode == STRATA_SCN_REGION_GROUPS;
    strata_node_callbacks ncb = {NULL, NULL, &s->ctx[node]};
    strata_control_config cc;
    strata_cgroups_config cg;
    if (node == STRATA_WORLD_CONTROL) {
        memset(&cc, 0, sizeof cc);
        cc.k = scn->k;
        cc.heartbeat_ms = scn->heartbeat_ms;
        cc.region_mode = groups ? STRATA_REGION_LOCALITY : STRATA_REGION_LABEL_OR_PREFIX;
        cc.levels = scn->levels == STRATA_SCN_LEVELS_MESH    ? STRATA_LEVELS_MESH
                    : scn->levels == STRATA_SCN_LEVELS_EC    ? STRATA_LEVELS_EC
                    : scn->levels == STRATA_SCN_LEVELS_THREE ? STRATA_LEVELS_THREE
                                                             : STRATA_LEVELS_BACKBONE;
        cc.preferred_per_region = scn->preferred_per_region;
        cc.top = scn->top; /* flood, tree, auto: the same order */
        cc.capacity_check = scn->capacity_check;
        cc.parity = scn->parity;
        cc.parity_max = scn->parity_max;
        cc.region_policy = scn->region_policy;
        if (groups) {
            /* The group directory answers the bootstrap requests. */
            memset(&cg, 0, sizeof cg);
            cg.seed = nc.seed ^ 0x67726f757073ull; /* "groups" */
            nc.cgroups = &cg;
        }
        /* A killed viewer stays in the node table until it is declared
         * dead, possibly after its slot's next session joined. */
        cc.max_nodes = scn->nodes * 2 + 16;
        cc.seed = nc.seed;
        nc.control_center = &cc;
    }
    if (groups && node >= STRATA_WORLD_FIRST_PEER) {
        /* The group agent and its bootstrap client, as `strata peer` runs
         * them; the tables are sized by the scenario. */
        nc.groups = 1;
        nc.group.max_members = scn->group_max_members;
        nc.group.cache_entries = scn->group_cache_entries;
        nc.group_wait_ms = scn->group_wait_ms;
        ncb.on_group = sa_on_group;
    }
    strata_node *n = strata_node_new(&nc, &ncb, s->alloc, now);
    if (!n)
        return STRATA_ERR_NOMEM;
    int rc = 0;
    if (node == STRATA_WORLD_SOURCE) {
        strata_source_config sc;
        memset(&sc, 0, sizeof sc);
        sc.channel = SIM_CHANNEL;
        sc.rate_kbps = scn->rate_kbps;
        sc.upload_kbps = scn->source_upload_kbps;
        sc.payload_bytes = STRATA_WORLD_PAYLOAD_BYTES;
        sc.repair_charge_bytes = scn->packet_bytes;
        sc.seed = nc.seed;
        if (scn->signed_stream) {
            /* `strata source --channel-key-file`: every parity index signed */
            sc.sign = 1;
            memcpy(sc.channel_sk, s->channel_sk, sizeof sc.channel_sk);
            sc.sign_parity = STRATA_WIRE_MAX_PARITY;
        }
        rc = s->source_channel = strata_node_publish(n, &sc, now);
    } else if (node != STRATA_WORLD_CONTROL) {
        strata_peer_config pc;
        memset(&pc, 0, sizeof pc);
        pc.channel = SIM_CHANNEL;
        uint32_t up = strata_world_upload_kbps(w, node);
        /* An unlimited uplink is offered as a very fast one; the tree caps
         * children per node anyway. A liar declares what the scenario says. */
        pc.upload_kbps = up ? up : 1000000;
        if (strata_world_is_liar(w, node) ||
            (strata_world_is_polluter(w, node) && (scn->polluter_mask & (1u << STRATA_SIMPOL_LIE))))
            pc.upload_kbps = scn->liar_upload_kbps;
        if (scn->signed_stream) {
            /* `strata peer --channel-key HEX` */
            pc.verify = 1;
            memcpy(pc.channel_pk, s->channel_pk, sizeof pc.channel_pk);
        }
        pc.waypoint = w->node[node].waypoint; /* its uplink is waypoint_upload_kbps */
        /* With groups the channel follows the node's group. */
        pc.region = groups ? NULL : strata_world_region(w, node);
        pc.playout_delay_ms = scn->playout_delay_ms;
        pc.repair_after_ms = strata_scenario_repair_after_ms(scn);
        pc.repair_retry_ms = scaled_peer_ms(scn, STRATA_PEER_DEFAULT_REPAIR_RETRY_MS);
        pc.tail_idle_ms = scaled_peer_ms(scn, STRATA_PEER_DEFAULT_TAIL_IDLE_MS);
        pc.store_packets = s->store;
        pc.repair_charge_bytes = scn->packet_bytes;
        pc.fec_encoder = s->fec_encoder;
        pc.fec_decoder = s->fec_decoder;
        pc.seed = nc.seed;
        strata_peer_callbacks cb = {sa_on_play, NULL, &s->ctx[node]};
        rc = strata_node_watch(n, &pc, &cb, now);
    }
    if (rc < 0) {
        strata_node_del(n);
        return rc;
    }
    s->node[node] = n;
    return 0;
}

static void sa_node_down(void *state, uint32_t node, int graceful, uint64_t now)
{
    strata_alg *s = state;
    if (graceful && node != STRATA_WORLD_CONTROL && node < s->nodes && s->node[node])
        strata_node_leave(s->node[node], now);
}

/* Adds a peer's repair, parity and verification counts to the run's. */
static void sa_count(const strata_node *n, sa_sums *c)
{
    const strata_peer *p = n ? strata_node_peer(n, 0) : NULL;
    if (!p)
        return;
    strata_peer_stats st;
    strata_peer_get_stats(p, &st);
    c->repaired += st.rx_repairs;
    c->rebuilt += st.parity_rebuilt_packets;
    c->parity_sent += st.parity_sent_packets;
    c->verified += st.verified_packets;
    c->forged += st.forged_packets;
    c->unverified += st.unverified_packets;
    c->forged_manifests += st.forged_manifests;
}

static void sa_counters(void *state, strata_simresult *out)
{
    strata_alg *s = state;
    sa_sums c = s->freed;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < s->nodes; i++)
        sa_count(s->node[i], &c);
    out->repaired_packets = c.repaired;
    out->parity_rebuilt_packets = c.rebuilt;
    out->parity_sent_packets = c.parity_sent;
    out->verified_packets = c.verified;
    out->forged_packets = c.forged;
    out->unverified_packets = c.unverified;
    out->forged_manifests = c.forged_manifests;
}

static void sa_node_free(void *state, uint32_t node)
{
    strata_alg *s = state;
    if (node >= STRATA_WORLD_FIRST_PEER && node < s->nodes)
        sa_count(s->node[node], &s->freed);
    if (node < s->nodes) {
        strata_node_del(s->node[node]);
        s->node[node] = NULL;
    }
}

static int sa_handle_datagram(void *state, uint32_t node, strata_addr from, const uint8_t *buf,
                              size_t len, uint64_t now)
{
    strata_alg *s = state;
    strata_rx rx = {from, -1};
    return s->node[node] ? strata_node_handle_datagram(s->node[node], &rx, buf, len, now) : 0;
}

static void sa_handle_timeout(void *state, uint32_t node, uint64_t now)
{
    strata_alg *s = state;
    if (s->node[node])
        strata_node_handle_timeout(s->node[node], now);
}

static uint64_t sa_next_timeout(void *state, uint32_t node)
{
    strata_alg *s = state;
    return s->node[node] ? strata_node_next_timeout(s->node[node]) : STRATA_NEVER;
}

static strata_outbox *sa_outbox(void *state, uint32_t node)
{
    strata_alg *s = state;
    return s->node[node] ? strata_node_outbox(s->node[node]) : NULL;
}

static int sa_source_push(void *state, const uint8_t *payload, size_t len, uint64_t now)
{
    strata_alg *s = state;
    strata_node *n = s->node[STRATA_WORLD_SOURCE];
    if (!n || !strata_source_ready(strata_node_source(n, s->source_channel)))
        return STRATA_ERR_INVAL;
    return strata_node_push(n, s->source_channel, payload, len, now);
}

static int sa_classify(void *state, const uint8_t *buf, size_t len, strata_simpkt *out)
{
    (void)state;
    int type = strata_wire_peek_type(buf, len);
    if (type < 0)
        return type;
    if (type != STRATA_MSG_DATA) {
        out->data = 0;
        return 0;
    }
    strata_msg_data m;
    int rc = strata_wire_decode_data(buf, len, &m);
    if (rc < 0)
        return rc;
    out->data = 1;
    out->repair = (m.flags & STRATA_DATA_FLAG_REPAIR) != 0;
    out->parity = (m.flags & STRATA_DATA_FLAG_PARITY) != 0;
    out->substream = m.substream;
    out->has_payload = m.payload_len > 0;
    out->seq = m.seq;
    return 0;
}

static const strata_simalg strata_simalg_strata = {
    .name = "strata",
    .init = sa_init,
    .free = sa_free,
    .node_up = sa_node_up,
    .node_down = sa_node_down,
    .node_free = sa_node_free,
    .handle_datagram = sa_handle_datagram,
    .handle_timeout = sa_handle_timeout,
    .next_timeout = sa_next_timeout,
    .outbox = sa_outbox,
    .source_push = sa_source_push,
    .classify = sa_classify,
    .counters = sa_counters,
};

const strata_simalg *const strata_simalgs[] = {&strata_simalg_strata, &strata_simalg_mesh,
                                               &strata_simalg_tree, &strata_simalg_splitstream,
                                               NULL};

int strata_simalg_strata_stats_of(const strata_world *w, strata_simalg_strata_stats *st)
{
    memset(st, 0, sizeof *st);
    if (w->alg != &strata_simalg_strata || !w->alg_state)
        return STRATA_ERR_INVAL;
    const strata_alg *s = w->alg_state;
    const strata_node *ctl = s->node[STRATA_WORLD_CONTROL];
    if (!ctl)
        return STRATA_ERR_INVAL;
    strata_control_status cs;
    strata_control_get_status(strata_node_control(ctl), &cs);
    st->reparents = cs.reparents;
    st->deaths = cs.deaths;
    st->joins = cs.joins;
    st->leaves = cs.leaves;
    st->instructions_sent = cs.instructions_sent;
    st->detached_pairs = cs.detached_pairs;
    st->max_depth = cs.max_depth;
    return 0;
}

typedef struct region_count {
    uint32_t dcm, members, heads;
} region_count;

static int by_members(const void *x, const void *y)
{
    const region_count *a = x, *b = y;
    if (a->members != b->members)
        return a->members > b->members ? -1 : 1;
    return a->dcm < b->dcm ? -1 : a->dcm > b->dcm;
}

/* An online peer's node id and world index. */
typedef struct id_index {
    uint64_t id;
    uint32_t idx;
} id_index;

static int by_id(const void *x, const void *y)
{
    const id_index *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The world index of the online peer whose node id is id, from ids[0..n)
 * sorted by id; UINT32_MAX if none. */
static uint32_t index_of_id(const id_index *ids, size_t n, uint64_t id)
{
    id_index key = {id, 0};
    const id_index *hit = bsearch(&key, ids, n, sizeof *ids, by_id);
    return hit ? hit->idx : UINT32_MAX;
}

/* A preferred node: level 1 where the levels say one (ec, 3: a common
 * member is in another DCM than its region's relay cluster too), else a
 * member of another DCM than its region's (the backbone or the mesh). */
static int is_preferred(const strata_control_entry *e)
{
    return e->level ? e->level == 1 : e->dcm.v != e->region_dcm.v;
}

/* The peers (not preferred) of the regions whose DCMs are picked[0..np-1]
 * that are online in the world, into t->peers. */
static void region_peers(const strata_world *w, const strata_control_entry *e, size_t n,
                         const uint64_t *picked, size_t np, kp_targets *t)
{
    const strata_alg *s = w->alg_state;
    id_index *ids = strata_mem_alloc(w->alloc, (size_t)w->nodes * sizeof *ids);
    if (!ids)
        return; /* the series then follows no one */
    size_t nids = 0;
    for (uint32_t j = STRATA_WORLD_FIRST_PEER; j < w->nodes; j++)
        if (w->node[j].online && s->node[j])
            ids[nids++] = (id_index){strata_node_id_of(s->node[j]).v, j};
    qsort(ids, nids, sizeof *ids, by_id);
    for (size_t i = 0; i < n; i++) {
        if (e[i].role != STRATA_ROLE_PEER || is_preferred(&e[i]))
            continue;
        size_t r = 0;
        while (r < np && picked[r] != e[i].region_dcm.v)
            r++;
        uint32_t j = r < np ? index_of_id(ids, nids, e[i].node.v) : UINT32_MAX;
        if (j != UINT32_MAX)
            t->peers[t->npeers++] = j;
    }
    strata_mem_free(w->alloc, ids);
}

/* The control center's memberships (strata_control_topology) in an array
 * the caller frees, their count in *n; NULL (and *n 0) when the algorithm
 * is not strata, there is no control center now, or no memory. */
static strata_control_entry *control_entries(const strata_world *w, size_t *n)
{
    *n = 0;
    if (w->alg != &strata_simalg_strata || !w->alg_state)
        return NULL;
    const strata_alg *s = w->alg_state;
    const strata_node *ctl = s->node[STRATA_WORLD_CONTROL];
    const strata_control *c = ctl ? strata_node_control(ctl) : NULL;
    size_t cap = c ? strata_control_topology(c, NULL, 0) : 0;
    strata_control_entry *e = cap ? strata_mem_alloc(w->alloc, cap * sizeof *e) : NULL;
    if (e)
        *n = strata_control_topology(c, e, cap);
    return e;
}

/* Liars and polluters at a sample: the control center's view of each
 * online one (its credit, from the capacity check) and the (child, tree)
 * pairs under them. A session is struck the first time its credit is below
 * one slot; a polluter's children are counted for its cut-off. */
static void liar_sample(strata_world *w)
{
    size_t n = 0;
    strata_control_entry *e = control_entries(w, &n);
    id_index *ids = n ? strata_mem_alloc(w->alloc, n * sizeof *ids) : NULL;
    uint32_t *children = n ? strata_mem_calloc(w->alloc, n, sizeof *children) : NULL;
    if (!e || !ids || !children)
        goto done;
    size_t nids = 0;
    uint32_t slot_kbps = w->scn.rate_kbps / (w->scn.k ? w->scn.k : 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = strata_world_node_of(e[i].addr);
        if (idx >= w->nodes || !(w->node[idx].liar || w->node[idx].polluter) ||
            !w->node[idx].online)
            continue;
        ids[nids++] = (id_index){e[i].node.v, idx};
        if (w->node[idx].struck || e[i].credit_kbps >= slot_kbps)
            continue;
        w->node[idx].struck = 1;
        double after_s = (double)(w->now - w->node[idx].up_ns) / 1e9;
        if (w->node[idx].liar) {
            w->liar_struck++;
            times_add(w, &w->liar_struck_s, after_s);
        } else {
            w->pol_struck++;
            times_add(w, &w->pol_struck_s, after_s);
        }
    }
    qsort(ids, nids, sizeof *ids, by_id);
    for (size_t i = 0; i < n && nids; i++)
        for (uint8_t t = 0; t < STRATA_WIRE_MAX_TREES; t++) {
            const id_index key = {e[i].parents[t].v, 0};
            const id_index *hit = key.id ? bsearch(&key, ids, nids, sizeof *ids, by_id) : NULL;
            if (!hit)
                continue;
            children[hit - ids]++;
            if (w->node[hit->idx].liar)
                w->liar_pairs_sum++;
            else
                w->pol_pairs_sum++;
        }
    for (size_t j = 0; j < nids; j++) {
        wnode *nd = &w->node[ids[j].idx];
        if (!nd->polluter)
            continue;
        if (children[j]) {
            if (!nd->had_children)
                w->pol_interior++;
            nd->had_children = 1;
            nd->childless_ns = 0;
        } else if (nd->had_children && !nd->childless_ns) {
            nd->childless_ns = w->now;
        }
    }
    if (w->nliars)
        w->liar_samples++;
    if (w->npolluters)
        w->pol_samples++;
done:
    strata_mem_free(w->alloc, e);
    strata_mem_free(w->alloc, ids);
    strata_mem_free(w->alloc, children);
}

/* The world indexes of the preferred nodes (a region's heads, in the mesh)
 * of the `regions` regions with the most members that have any, into
 * t->victims, and of those regions' other peers, into t->peers. */
static void preferred_of_largest(const strata_world *w, uint32_t regions, kp_targets *t)
{
    size_t n = 0;
    strata_control_entry *e = control_entries(w, &n);
    const strata_alg *s = w->alg_state;
    region_count *rc = n ? strata_mem_calloc(w->alloc, n, sizeof *rc) : NULL;
    uint64_t *picked = n ? strata_mem_alloc(w->alloc, n * sizeof *picked) : NULL;
    size_t nr = 0, got = 0, max = w->nodes;
    uint32_t *out = t->victims;
    if (!e || !rc || !picked)
        goto done;
    for (size_t i = 0; i < n; i++) {
        if (e[i].role != STRATA_ROLE_PEER || !e[i].region_dcm.v)
            continue;
        size_t r = 0;
        while (r < nr && rc[r].dcm != e[i].region_dcm.v)
            r++;
        if (r == nr)
            rc[nr++].dcm = e[i].region_dcm.v;
        rc[r].members++;
        rc[r].heads += is_preferred(&e[i]) ? 1u : 0u;
    }
    qsort(rc, nr, sizeof *rc, by_members);
    for (size_t r = 0; r < nr && t->regions < regions; r++) {
        if (!rc[r].heads)
            continue;
        picked[t->regions++] = rc[r].dcm;
        for (size_t i = 0; i < n; i++) {
            if (e[i].role == STRATA_ROLE_PEER && e[i].region_dcm.v == rc[r].dcm) {
                if (t->regions <= STRATA_SIMM_REGIONAL_LABELS)
                    snprintf(t->labels[t->regions - 1], sizeof t->labels[0], "%s", e[i].region);
                break;
            }
        }
        for (size_t i = 0; i < n && got < max; i++) {
            if (e[i].role != STRATA_ROLE_PEER || e[i].region_dcm.v != rc[r].dcm ||
                !is_preferred(&e[i]))
                continue;
            for (uint32_t j = STRATA_WORLD_FIRST_PEER; j < w->nodes; j++)
                if (w->node[j].online && s->node[j] &&
                    strata_node_id_of(s->node[j]).v == e[i].node.v) {
                    out[got++] = j;
                    break;
                }
        }
    }
    t->nvictims = got;
    region_peers(w, e, n, picked, t->regions, t);
done:
    strata_mem_free(w->alloc, e);
    strata_mem_free(w->alloc, rc);
    strata_mem_free(w->alloc, picked);
}

const strata_control *strata_world_control(const strata_world *w)
{
    if (w->alg != &strata_simalg_strata || !w->alg_state)
        return NULL;
    const strata_alg *s = w->alg_state;
    const strata_node *ctl = s->node[STRATA_WORLD_CONTROL];
    return ctl ? strata_node_control(ctl) : NULL;
}

static int control_status(const strata_world *w, strata_control_status *st)
{
    const strata_control *c = strata_world_control(w);
    if (!c)
        return -1;
    strata_control_get_status(c, st);
    return 0;
}

static void group_census(const strata_world *w, uint32_t *online, uint32_t *in_group)
{
    *online = *in_group = 0;
    if (w->alg != &strata_simalg_strata || !w->alg_state)
        return;
    const strata_alg *s = w->alg_state;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < w->nodes; i++) {
        if (!w->node[i].online || !s->node[i])
            continue;
        (*online)++;
        const strata_gnode *g = strata_node_gnode(s->node[i]);
        int st = g ? strata_gnode_state(g) : STRATA_GNODE_IDLE;
        *in_group += st == STRATA_GNODE_MEMBER || st == STRATA_GNODE_LEADER;
    }
}
