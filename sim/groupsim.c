/*
 * The locality-group simulator; the model is in groupsim.h. This file has
 * five parts: the lazy allocator, the engine (nodes, events, datagrams),
 * the checks from outside (who is in a group), the scenarios, and the
 * scoring with the JSON report.
 */
#include "groupsim.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "clustering.h"
#include "eventq.h"
#include "kmedoids.h"
#include "landmark.h"
#include "strata/node.h"
#include "net.h"

#if defined(__linux__)
#include <sys/mman.h>
#define GS_HAVE_LAZY 1
#else
#define GS_HAVE_LAZY 0
#endif

enum {
    EV_TIMER = 1,
    EV_DELIVER = 2,
    EV_JOIN = 3,
    GS_BASE_IPV4 = 0x0A000000,
    GS_BASE_PORT = 7000,
    GS_PORT_SPAN = 50000,
    /* streams of the run's own draws (eventq.h) */
    GS_STREAM_ORDER = STRATA_SIM_STREAM_USER + 0,
    GS_STREAM_BOOT = STRATA_SIM_STREAM_USER + 1,
    GS_STREAM_FAIL = STRATA_SIM_STREAM_USER + 2,
    GS_STREAM_CHURN = STRATA_SIM_STREAM_USER + 3,
    GS_STREAM_EVAL = STRATA_SIM_STREAM_USER + 4,
    GS_STREAM_LANDMARK = STRATA_SIM_STREAM_USER + 5,
    GS_POLL_MS = 250,    /* failure recovery is checked this often */
    GS_LATE_TAIL_S = 30, /* run after the last late joiner starts */
};

static uint64_t def_u64(uint64_t v, uint64_t d)
{
    return v ? v : d;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) STRATA_PRINTF(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- the lazy allocator --------------------------------------------------------
 *
 * Small blocks are malloc's. In lazy mode, blocks of 4 KiB and more come
 * from one large reservation of address space (MAP_NORESERVE: nothing is
 * committed until written), cut into LZ_SLABS equal slabs, each slab
 * holding blocks of one size in whole pages: a block's size follows from
 * its address, so blocks carry no header and a page nobody writes costs
 * nothing. Freed blocks go back to the kernel (madvise DONTNEED: they read
 * as zero again) and onto their slab's free stack. The agents calloc
 * their tables, which writes every page; lz_trim_block hands back the
 * pages that are still all zero, after an agent is built and whenever it
 * reports a change (which is when it clears its tables). */

enum {
    LZ_MIN_BYTES = 4096,
    LZ_PAGE = 4096,
    LZ_SLABS = 16,
    LZ_RECENT = 16,
    LZ_NODE_BLOCKS = 12, /* large blocks a node and its agent allocate (9 today) */
    GS_OUTBOX_DATAGRAMS = 4096, /* as an agent's own outbox was */
};

typedef struct lz_slab {
    size_t pages; /* block size; 0 = slab not in use yet */
    size_t used;  /* bytes handed out from the start of the slab */
    void **free;
    size_t n_free, cap_free;
} lz_slab;

typedef struct lazy {
    int on;
    int counting;
    uint64_t counted; /* bytes asked for while counting */
    uint8_t *base;    /* the reservation, NULL until the first large block */
    size_t size, slab_bytes;
    lz_slab slab[LZ_SLABS];
    void *recent[LZ_RECENT]; /* large blocks handed out since the last reset */
    size_t n_recent;
} lazy;

#if GS_HAVE_LAZY
static int lz_reserve(lazy *z)
{
    /* 4 TiB of address space if the system grants it, less if not. */
    for (size_t sz = (size_t)1 << 42; sz >= (size_t)1 << 34; sz /= 2) {
        void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m != MAP_FAILED) {
            z->base = m;
            z->size = sz;
            z->slab_bytes = sz / LZ_SLABS;
            return 0;
        }
    }
    return STRATA_ERR_NOMEM;
}

static int lz_owns(const lazy *z, const void *p)
{
    return z->base && (const uint8_t *)p >= z->base && (const uint8_t *)p < z->base + z->size;
}

static lz_slab *lz_slab_of(lazy *z, const void *p)
{
    return &z->slab[(size_t)((const uint8_t *)p - z->base) / z->slab_bytes];
}

static void *lz_arena_alloc(lazy *z, size_t size)
{
    if (!z->base && lz_reserve(z) != 0)
        return NULL;
    size_t pages = (size + LZ_PAGE - 1) / LZ_PAGE;
    size_t k;
    for (k = 0; k < LZ_SLABS && z->slab[k].pages && z->slab[k].pages != pages; k++)
        ;
    if (k == LZ_SLABS)
        return NULL; /* more block sizes than slabs: malloc takes it */
    lz_slab *sl = &z->slab[k];
    sl->pages = pages;
    void *p;
    if (sl->n_free) {
        p = sl->free[--sl->n_free];
    } else {
        if (z->slab_bytes - sl->used < pages * LZ_PAGE)
            return NULL;
        p = z->base + k * z->slab_bytes + sl->used;
        sl->used += pages * LZ_PAGE;
    }
    if (z->n_recent < LZ_RECENT)
        z->recent[z->n_recent++] = p;
    return p;
}

static void lz_arena_free(lazy *z, void *p)
{
    lz_slab *sl = lz_slab_of(z, p);
    madvise(p, sl->pages * LZ_PAGE, MADV_DONTNEED);
    if (sl->n_free == sl->cap_free) {
        size_t cap = sl->cap_free ? sl->cap_free * 2 : 256;
        void **f = realloc(sl->free, cap * sizeof *f);
        if (!f)
            return; /* the pages are given back; only the address range is lost */
        sl->free = f;
        sl->cap_free = cap;
    }
    sl->free[sl->n_free++] = p;
}

static int page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (size_t i = 0; i < LZ_PAGE / sizeof *w; i++) {
        if (w[i])
            return 0;
    }
    return 1;
}

/* Hands back the all-zero resident pages of one block, a run of them per
 * call. mincore skips the pages that are not resident: reading them would
 * only map the zero page. */
static void lz_trim_block(lazy *z, void *block)
{
    uint8_t *base = block;
    size_t pages = lz_slab_of(z, block)->pages;
    unsigned char vec[256];
    size_t run = 0;
    for (size_t pg = 0; pg <= pages; pg++) {
        int zero = 0;
        if (pg < pages) {
            if (pg % sizeof vec == 0) {
                size_t span = pages - pg < sizeof vec ? pages - pg : sizeof vec;
                if (mincore(base + pg * LZ_PAGE, span * LZ_PAGE, vec) != 0)
                    memset(vec, 1, sizeof vec);
            }
            zero = !(vec[pg % sizeof vec] & 1) || page_is_zero(base + pg * LZ_PAGE);
        }
        if (zero) {
            run++;
            continue;
        }
        if (run)
            madvise(base + (pg - run) * LZ_PAGE, run * LZ_PAGE, MADV_DONTNEED);
        run = 0;
    }
}
#endif

static void *lz_alloc(void *user, size_t size)
{
    lazy *z = user;
    if (z->counting)
        z->counted += size;
#if GS_HAVE_LAZY
    if (z->on && size >= LZ_MIN_BYTES) {
        void *p = lz_arena_alloc(z, size);
        if (p)
            return p;
    }
#endif
    return malloc(size);
}

static void lz_release(void *user, void *ptr)
{
#if GS_HAVE_LAZY
    lazy *z = user;
    if (lz_owns(z, ptr)) {
        lz_arena_free(z, ptr);
        return;
    }
#endif
    (void)user;
    free(ptr);
}

static void *lz_realloc(void *user, void *ptr, size_t size)
{
#if GS_HAVE_LAZY
    lazy *z = user;
    if (lz_owns(z, ptr)) {
        size_t cap = lz_slab_of(z, ptr)->pages * LZ_PAGE;
        if (size <= cap)
            return ptr;
        void *p = lz_alloc(user, size);
        if (!p)
            return NULL;
        memcpy(p, ptr, cap);
        lz_arena_free(z, ptr);
        return p;
    }
#endif
    (void)user;
    return realloc(ptr, size);
}

static void lz_destroy(lazy *z)
{
#if GS_HAVE_LAZY
    if (z->base)
        munmap(z->base, z->size);
    for (size_t k = 0; k < LZ_SLABS; k++)
        free(z->slab[k].free);
#endif
    (void)z;
}

/* --- the engine ------------------------------------------------------------------ */

typedef struct gs_node {
    strata_node *node;     /* a whole node running its group agent */
    const strata_gnode *g; /* that agent, for queries */
    uint64_t wake_at; /* earliest wake-up queued, STRATA_NEVER = none */
    strata_simq_handle wake;
    uint64_t started_at;
    uint64_t first_started_at; /* 0 = never started */
    uint32_t gen;              /* sessions so far */
    uint32_t leader_pos;       /* in the leader set; UINT32_MAX = not a leader */
    uint32_t out_gen; /* churn: session found out of a group at the last sample (0 = none) */
    uint8_t alive;
    uint8_t joined;  /* this session's first walk ended */
    uint8_t offline; /* churn: in the pool of arrivals */
    uint8_t late;    /* joins after the settle (late_joins) */
    uint8_t wants_leaders; /* its walk asked for fresh leaders (want_leaders) */
} gs_node;

typedef struct gs_pkt {
    strata_buf *buf;
    uint32_t from;
    uint16_t from_port, to_port;
} gs_pkt;

/* The first walk of a session: what it cost. */
typedef struct gs_join {
    uint64_t ns;
    uint32_t probes;
    uint8_t late;
} gs_join;

typedef struct gs_sample {
    double t_s;
    uint32_t alive, in_group, joining, groups, stuck;
    double intra_ms, inter_ms, ari, nmi;
} gs_sample;

typedef struct gsim {
    const strata_groupsim_config *cfg;
    /* settings with their defaults */
    uint32_t join_spacing_ms, bootstrap, settle_s, kill_pct, recover_s;
    uint32_t churn_s, churn_gap_ms, offline_pct, leave_pct, sample_s;
    uint32_t landmarks, baseline_max, max_members, late_spacing_ms;

    strata_simlat lat;
    strata_simnet net;
    strata_simq q;
    lazy z;
    strata_alloc alloc;
    uint32_t n, hosts;
    gs_node *node;
    int32_t *host_label; /* hosts entries; NULL without labels */
    size_t label_classes;
    uint64_t now;
    uint32_t cur; /* the node being called, for on_group */
    strata_log agent_log; /* wraps cfg->agent_log with the time and the host */
    int fail;     /* out of memory inside the run */
    /* lazy memory: each node's large blocks (LZ_NODE_BLOCKS slots a node,
     * NULL-terminated), trimmed after the agent reports a change (which is
     * when it clears its tables) */
    void **blocks;
    int trim_pending;

    uint32_t *leaders; /* the leader set */
    uint32_t n_leaders;
    strata_rng boot_rng;

    gs_pkt *pkt;
    uint32_t *pkt_free;
    uint32_t n_pkt, n_pkt_free, cap_pkt;

    uint32_t *order; /* join order */
    uint32_t n_order;
    uint32_t started, joined_now;

    /* first walks of every session */
    gs_join *joins;
    size_t n_joins, cap_joins;
    uint32_t n_late; /* the last late joiners of the order join after the settle */
    uint64_t rejoins;
    uint64_t reasons[9];

    uint64_t events, fp;
    uint64_t datagrams, lost, queue_drops, undeliverable, bad_addr;
    uint64_t agent_bytes;

    strata_peer_ref *members_buf; /* max_members entries */
    uint32_t *listed;             /* check: the leader listing each node */
    uint8_t *in_grp;

    double next_progress_s;
    const char *phase;

    gs_sample *samples;
    size_t n_samples, cap_samples;
} gsim;

static strata_addr addr_of(const gsim *s, uint32_t i)
{
    return (strata_addr){GS_BASE_IPV4 + i + 1,
                         (uint16_t)(GS_BASE_PORT + s->node[i].gen % GS_PORT_SPAN)};
}

static uint32_t node_of_addr(const gsim *s, strata_addr a)
{
    uint32_t i = a.ipv4 - GS_BASE_IPV4 - 1;
    return a.ipv4 > GS_BASE_IPV4 && i < s->n ? i : UINT32_MAX;
}

/* The live node whose current session has this id, or UINT32_MAX. */
static uint32_t node_of_id(const gsim *s, strata_node_id id)
{
    uint64_t low = id.v & 0xffffffffu;
    if (low == 0 || low > s->n)
        return UINT32_MAX;
    uint32_t i = (uint32_t)(low - 1);
    return s->node[i].alive && s->node[i].gen == (uint32_t)(id.v >> 32) ? i : UINT32_MAX;
}

static void fold(gsim *s, uint64_t t, uint16_t kind, uint32_t node)
{
    s->fp = strata_sim_mix64(s->fp ^ t);
    s->fp = strata_sim_mix64(s->fp ^ ((uint64_t)kind << 32 | node));
    s->events++;
}

static void leader_set(gsim *s, uint32_t i, int lead)
{
    gs_node *nd = &s->node[i];
    if (lead && nd->leader_pos == UINT32_MAX) {
        nd->leader_pos = s->n_leaders;
        s->leaders[s->n_leaders++] = i;
    } else if (!lead && nd->leader_pos != UINT32_MAX) {
        uint32_t last = s->leaders[--s->n_leaders];
        s->leaders[nd->leader_pos] = last;
        s->node[last].leader_pos = nd->leader_pos;
        nd->leader_pos = UINT32_MAX;
    }
}

static void want_leaders(void *user)
{
    gsim *s = user;
    s->node[s->cur].wants_leaders = 1;
}

static void on_group(void *user, const strata_gnode_event *ev)
{
    gsim *s = user;
    uint32_t i = s->cur;
    gs_node *nd = &s->node[i];
    leader_set(s, i, ev->state == STRATA_GNODE_LEADER);
    s->trim_pending = 1;
    if (ev->reason > 0 && ev->reason < 9)
        s->reasons[ev->reason]++;
    if (ev->reason != STRATA_GNODE_JOINED && ev->reason != STRATA_GNODE_FOUNDED)
        return;
    if (nd->joined) {
        s->rejoins++;
        return;
    }
    nd->joined = 1;
    s->joined_now++;
    if (s->n_joins == s->cap_joins) {
        size_t cap = s->cap_joins ? s->cap_joins * 2 : 1024;
        gs_join *p = realloc(s->joins, cap * sizeof *p);
        if (!p) {
            s->fail = 1;
            return;
        }
        s->joins = p;
        s->cap_joins = cap;
    }
    s->joins[s->n_joins++] = (gs_join){ev->join_ns, ev->join_probes, nd->late};
}

static uint32_t pkt_new(gsim *s)
{
    if (s->n_pkt_free)
        return s->pkt_free[--s->n_pkt_free];
    if (s->n_pkt == s->cap_pkt) {
        uint32_t cap = s->cap_pkt ? s->cap_pkt * 2 : 4096;
        gs_pkt *p = realloc(s->pkt, cap * sizeof *p);
        if (p)
            s->pkt = p;
        uint32_t *f = realloc(s->pkt_free, cap * sizeof *f);
        if (f)
            s->pkt_free = f;
        if (!p || !f)
            return UINT32_MAX;
        s->cap_pkt = cap;
    }
    return s->n_pkt++;
}

/* Sends what node i's agent queued. */
static size_t pick_leaders(gsim *s, uint32_t self, strata_peer_ref *out);

static void drain(gsim *s, uint32_t i)
{
    if (s->node[i].wants_leaders && s->node[i].alive) {
        /* Answered at once, as the first bootstrap is: the control center
         * is not modelled, its draw is (pick_leaders). */
        s->node[i].wants_leaders = 0;
        strata_peer_ref boot[STRATA_GNODE_MAX_BOOTSTRAP];
        size_t nb = pick_leaders(s, i, boot);
        s->cur = i;
        strata_node_bootstrap(s->node[i].node, boot, nb, s->now);
    }
    strata_outbox *ob = strata_node_outbox(s->node[i].node);
    strata_datagram d;
    while (strata_outbox_pop(ob, &d)) {
        uint32_t to = node_of_addr(s, d.to);
        uint64_t at;
        int r = to == UINT32_MAX ? -1 : strata_simnet_send(&s->net, i, to, d.buf->len, s->now, &at);
        s->datagrams++;
        if (r != STRATA_SIM_DELIVER) {
            if (to == UINT32_MAX)
                s->bad_addr++;
            else if (r == STRATA_SIM_DROP_LOSS)
                s->lost++;
            else
                s->queue_drops++;
            strata_buf_unref(d.buf);
            continue;
        }
        uint32_t k = pkt_new(s);
        strata_simq_handle h = STRATA_SIMQ_NONE;
        if (k != UINT32_MAX) {
            s->pkt[k] = (gs_pkt){d.buf, i, addr_of(s, i).port, d.to.port};
            h = strata_simq_push(&s->q, at, EV_DELIVER, to, k);
            if (h == STRATA_SIMQ_NONE)
                s->pkt_free[s->n_pkt_free++] = k;
        }
        if (h == STRATA_SIMQ_NONE) {
            s->fail = 1;
            strata_buf_unref(d.buf);
        }
    }
    /* The ring is empty: start it over at slot 0, so that an agent's outbox
     * keeps using its first few entries (and pages) instead of walking
     * through all of them. */
    if (ob->count == 0)
        ob->head = 0;
}

static void rearm(gsim *s, uint32_t i)
{
    gs_node *nd = &s->node[i];
    uint64_t t = strata_node_next_timeout(nd->node);
    if (t == STRATA_NEVER)
        return;
    if (t < s->now)
        t = s->now;
    if (t >= nd->wake_at)
        return;
    strata_simq_cancel(&s->q, nd->wake);
    nd->wake = strata_simq_push(&s->q, t, EV_TIMER, i, 0);
    nd->wake_at = nd->wake == STRATA_SIMQ_NONE ? STRATA_NEVER : t;
    if (nd->wake == STRATA_SIMQ_NONE)
        s->fail = 1;
}

/* Up to the configured count of distinct live leaders, drawn uniformly. */
static size_t pick_leaders(gsim *s, uint32_t self, strata_peer_ref *out)
{
    size_t pos[STRATA_GNODE_MAX_BOOTSTRAP];
    size_t skip = s->node[self].leader_pos == UINT32_MAX ? SIZE_MAX : s->node[self].leader_pos;
    size_t k = strata_rng_pick(&s->boot_rng, s->n_leaders, s->bootstrap, skip, pos);
    for (size_t j = 0; j < k; j++) {
        uint32_t l = s->leaders[pos[j]];
        out[j] = (strata_peer_ref){strata_gnode_leader(s->node[l].g).node, addr_of(s, l)};
    }
    return k;
}

/* Gives back the zero pages of node i's tables (lazy memory only). */
static void node_trim(gsim *s, uint32_t i)
{
    s->trim_pending = 0;
#if GS_HAVE_LAZY
    if (!s->z.on)
        return;
    void **b = &s->blocks[(size_t)i * LZ_NODE_BLOCKS];
    for (size_t k = 0; k < LZ_NODE_BLOCKS && b[k]; k++)
        lz_trim_block(&s->z, b[k]);
#else
    (void)i;
#endif
}

static void write_agent_line(void *user, int level, const char *line)
{
    const gsim *s = user;
    char buf[512];
    snprintf(buf, sizeof buf, "%.6f host %u %s", (double)s->now / 1e9,
             (unsigned)s->lat.node_host[s->cur], line);
    s->cfg->agent_log->write(s->cfg->agent_log->user, level, buf);
}

/* Node i's id and agent seed in its session gen (1 = the first). */
static void agent_identity(uint64_t run_seed, uint32_t i, uint32_t gen, uint64_t *node,
                           uint64_t *seed)
{
    *node = (uint64_t)gen << 32 | (uint64_t)(i + 1);
    *seed = strata_sim_stream_seed(run_seed, i, STRATA_SIM_STREAM_PROTOCOL) ^ gen;
}

static void start_node(gsim *s, uint32_t i)
{
    gs_node *nd = &s->node[i];
    nd->gen++;
    strata_gnode_config c = s->cfg->agent;
    agent_identity(s->cfg->seed, i, nd->gen, &c.node.v, &c.seed);
    c.addr = addr_of(s, i);
    c.bootstrap = NULL;
    c.n_bootstrap = 0;
    c.log = s->cfg->agent_log ? &s->agent_log : NULL;
    /* The control center is not a node here: the simulator draws its
     * bootstrap leaders itself (pick_leaders). */
    strata_node_config nc = {.id = c.node,
                             .addr = c.addr,
                             .seed = c.seed,
                             .outbox_datagrams = GS_OUTBOX_DATAGRAMS,
                             .log = c.log,
                             .groups = 1,
                             .group = c,
                             .no_bootstrap_client = 1};
    strata_node_callbacks cb = {on_group, want_leaders, s};
    s->cur = i;
    s->z.counting = s->agent_bytes == 0;
    s->z.n_recent = 0;
    nd->node = strata_node_new(&nc, &cb, &s->alloc, s->now);
    nd->g = nd->node ? strata_node_gnode(nd->node) : NULL;
    if (s->z.counting)
        s->agent_bytes = s->z.counted;
    s->z.counting = 0;
#if GS_HAVE_LAZY
    if (s->z.on) {
        /* The blocks built with this agent are its own. */
        void **b = &s->blocks[(size_t)i * LZ_NODE_BLOCKS];
        for (size_t k = 0; k < LZ_NODE_BLOCKS; k++)
            b[k] = k < s->z.n_recent ? s->z.recent[k] : NULL;
        for (size_t k = LZ_NODE_BLOCKS; k < s->z.n_recent; k++)
            lz_trim_block(&s->z, s->z.recent[k]);
        s->z.n_recent = 0;
    }
#endif
    if (!nd->g) {
        s->fail = 1;
        return;
    }
    nd->alive = 1;
    nd->joined = 0;
    nd->wants_leaders = 0;
    nd->offline = 0;
    nd->out_gen = 0;
    nd->started_at = s->now;
    if (!nd->first_started_at)
        nd->first_started_at = s->now;
    nd->wake_at = STRATA_NEVER;
    nd->wake = STRATA_SIMQ_NONE;
    s->started++;
    strata_peer_ref boot[STRATA_GNODE_MAX_BOOTSTRAP];
    size_t nb = pick_leaders(s, i, boot);
    strata_node_bootstrap(nd->node, boot, nb, s->now);
    drain(s, i);
    rearm(s, i);
    node_trim(s, i);
}

static void kill_node(gsim *s, uint32_t i)
{
    gs_node *nd = &s->node[i];
    if (!nd->alive)
        return;
    leader_set(s, i, 0);
    strata_simq_cancel(&s->q, nd->wake);
    nd->wake = STRATA_SIMQ_NONE;
    nd->wake_at = STRATA_NEVER;
    strata_node_del(nd->node);
    nd->node = NULL;
    nd->g = NULL;
    nd->alive = 0;
    if (s->blocks)
        memset(&s->blocks[(size_t)i * LZ_NODE_BLOCKS], 0, LZ_NODE_BLOCKS * sizeof *s->blocks);
    if (nd->joined)
        s->joined_now--;
}

static void leave_node(gsim *s, uint32_t i)
{
    gs_node *nd = &s->node[i];
    if (!nd->alive)
        return;
    s->cur = i;
    strata_node_leave(nd->node, s->now);
    drain(s, i);
    kill_node(s, i);
}

static void progress(gsim *s, int force)
{
    const strata_groupsim_config *c = s->cfg;
    double t = (double)s->now / 1e9;
    if (!c->progress || !c->progress_s || (!force && t < s->next_progress_s))
        return;
    while (s->next_progress_s <= t)
        s->next_progress_s += c->progress_s;
    strata_groupsim_progress p = {s->phase,     t,        s->started, s->joined_now, s->n,
                                  s->n_leaders, s->events};
    c->progress(c->progress_user, &p);
}

/* Processes every event due up to `until`; the clock ends at until. */
static void run_until(gsim *s, uint64_t until)
{
    strata_simq_event ev;
    while (!s->fail && strata_simq_peek_time(&s->q) <= until && strata_simq_pop(&s->q, &ev)) {
        s->now = ev.time_ns;
        fold(s, ev.time_ns, ev.kind, ev.node);
        uint32_t i = ev.node;
        gs_node *nd = &s->node[i];
        if (ev.kind == EV_TIMER) {
            if (!nd->alive || ev.handle != nd->wake)
                continue;
            nd->wake = STRATA_SIMQ_NONE;
            nd->wake_at = STRATA_NEVER;
            s->cur = i;
            strata_node_handle_timeout(nd->node, s->now);
            drain(s, i);
            rearm(s, i);
            if (s->trim_pending)
                node_trim(s, i);
        } else if (ev.kind == EV_DELIVER) {
            gs_pkt p = s->pkt[ev.data.u64];
            s->pkt_free[s->n_pkt_free++] = (uint32_t)ev.data.u64;
            if (nd->alive && addr_of(s, i).port == p.to_port) {
                strata_addr from = {GS_BASE_IPV4 + p.from + 1, p.from_port};
                s->cur = i;
                strata_rx rx = {from, -1};
                strata_node_handle_datagram(nd->node, &rx, p.buf->data, p.buf->len, s->now);
                drain(s, i);
                rearm(s, i);
                if (s->trim_pending)
                    node_trim(s, i);
            } else {
                s->undeliverable++;
            }
            strata_buf_unref(p.buf);
        } else if (ev.kind == EV_JOIN) {
            start_node(s, i);
        }
        progress(s, 0);
    }
    if (until > s->now)
        s->now = until;
    progress(s, 0);
}

/* --- checks from outside ------------------------------------------------------------ */

/* Marks in_grp[i] for every live node in a group (groupsim.h); returns
 * how many are. */
static uint32_t check_groups(gsim *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        s->listed[i] = UINT32_MAX;
        s->in_grp[i] = 0;
    }
    for (uint32_t p = 0; p < s->n_leaders; p++) {
        uint32_t l = s->leaders[p];
        size_t m = strata_gnode_members(s->node[l].g, s->members_buf, s->max_members);
        if (m > s->max_members)
            m = s->max_members;
        for (size_t k = 0; k < m; k++) {
            uint32_t j = node_of_id(s, s->members_buf[k].node);
            if (j != UINT32_MAX)
                s->listed[j] = l;
        }
    }
    uint32_t in = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        gs_node *nd = &s->node[i];
        if (!nd->alive)
            continue;
        int st = strata_gnode_state(nd->g);
        int ok = st == STRATA_GNODE_LEADER;
        if (st == STRATA_GNODE_MEMBER) {
            uint32_t l = node_of_id(s, strata_gnode_leader(nd->g).node);
            ok = l != UINT32_MAX && strata_gnode_state(s->node[l].g) == STRATA_GNODE_LEADER &&
                 strata_gnode_group(s->node[l].g).v == strata_gnode_group(nd->g).v &&
                 s->listed[i] == l;
        }
        s->in_grp[i] = (uint8_t)ok;
        in += (uint32_t)ok;
    }
    return in;
}

typedef struct gid_idx {
    uint64_t gid;
    uint32_t node;
} gid_idx;

static int cmp_gid(const void *x, const void *y)
{
    const gid_idx *a = x, *b = y;
    if (a->gid != b->gid)
        return a->gid < b->gid ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

/* Dense labels (first appearance by node number) of the live nodes' group
 * ids into lab[n]; -1 for the rest. Returns the number of groups or a
 * negative error. */
static long group_labels(const gsim *s, int32_t *lab)
{
    gid_idx *v = malloc((s->n ? s->n : 1) * sizeof *v);
    if (!v)
        return STRATA_ERR_NOMEM;
    size_t m = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        lab[i] = -1;
        if (s->node[i].alive && strata_gnode_group(s->node[i].g).v)
            v[m++] = (gid_idx){strata_gnode_group(s->node[i].g).v, i};
    }
    qsort(v, m, sizeof *v, cmp_gid);
    int32_t run = -1;
    for (size_t k = 0; k < m; k++) {
        if (k == 0 || v[k].gid != v[k - 1].gid)
            run++;
        lab[v[k].node] = run;
    }
    free(v);
    return strata_clustering_dense(lab, s->n);
}

/* --- distances for scoring ------------------------------------------------------ */

static double node_ms(void *user, uint32_t a, uint32_t b)
{
    const strata_simlat *lat = user;
    uint32_t ha = lat->node_host[a], hb = lat->node_host[b];
    return lat->m.rtt_ms[(size_t)ha * lat->m.hosts + hb] +
           2.0 * ((double)lat->node_access_ns[a] + (double)lat->node_access_ns[b]) / 1e6;
}

/* Distances among a subset of nodes, numbered 0..m-1. */
typedef struct subset {
    const strata_simdist *d;
    const uint32_t *node;
} subset;

static double subset_ms(void *user, uint32_t a, uint32_t b)
{
    const subset *u = user;
    return strata_simdist_ms(u->d, u->node[a], u->node[b]);
}

/* --- JSON ------------------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) STRATA_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A double as JSON: fixed decimals, -1 for "not computed" stays -1. */
static void sb_num(sbuf *b, const char *key, double v, int comma)
{
    if (!isfinite(v))
        v = -1;
    sb_printf(b, "\"%s\": %.4f%s", key, v, comma ? ", " : "");
}

static void sb_escaped(sbuf *b, const char *s)
{
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            sb_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            sb_printf(b, "\\u%04x", ch);
        else
            sb_printf(b, "%c", ch);
    }
    sb_printf(b, "\"");
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* p95 by the nearest-rank rule. */
static size_t rank95(size_t n)
{
    size_t r = (n * 95 + 99) / 100;
    return r ? r - 1 : 0;
}

/* One partition's block: sizes, distances, spread, agreement with labels. */
typedef struct part_score {
    strata_partition_eval e;
    strata_clustering_scores vs_labels;
    int have_labels;
} part_score;

static int score_partition(gsim *s, const strata_simdist *d, const int32_t *lab, size_t groups,
                           const uint32_t *reps, part_score *ps)
{
    memset(ps, 0, sizeof *ps);
    uint64_t seed = strata_sim_stream_seed(s->cfg->seed, 0, GS_STREAM_EVAL);
    int rc = strata_partition_evaluate(d, lab, s->n, groups, reps, seed, 0, &ps->e);
    if (rc != 0)
        return rc;
    if (s->host_label) {
        int32_t *truth = malloc(s->n * sizeof *truth);
        if (!truth)
            return STRATA_ERR_NOMEM;
        for (uint32_t i = 0; i < s->n; i++)
            truth[i] = s->host_label[s->lat.node_host[i]];
        rc = strata_clustering_compare(lab, truth, s->n, &ps->vs_labels);
        free(truth);
        ps->have_labels = 1;
    }
    return rc;
}

static void fill_scores(strata_groupsim_scores *o, const part_score *ps, double probes)
{
    const strata_partition_eval *e = &ps->e;
    o->valid = 1;
    o->groups = (uint32_t)e->groups;
    o->singletons = (uint32_t)e->singletons;
    o->size_min = e->size_min;
    o->size_max = e->size_max;
    o->size_median = e->size_median;
    o->intra_ms = e->intra_ms;
    o->inter_ms = e->inter_ms;
    o->to_rep_ms = e->to_rep_ms;
    o->spread_ms = e->spread_ms;
    o->ari = ps->have_labels ? ps->vs_labels.ari : -1;
    o->nmi = ps->have_labels ? ps->vs_labels.nmi : -1;
    o->probes_per_join = probes;
}

static void sb_partition(sbuf *b, const part_score *ps)
{
    const strata_partition_eval *e = &ps->e;
    sb_printf(b, "\"groups\": %zu, \"singletons\": %zu, \"nodes\": %zu, ", e->groups, e->singletons,
              e->nodes);
    sb_printf(b, "\"group_sizes\": {\"min\": %u, \"median\": %.1f, \"max\": %u, \"list\": [",
              (unsigned)e->size_min, e->size_median, (unsigned)e->size_max);
    for (size_t g = 0; g < e->groups; g++)
        sb_printf(b, "%s%u", g ? ", " : "", (unsigned)e->sizes[g]);
    sb_printf(b, "]}, ");
    sb_num(b, "intra_group_ms", e->intra_ms, 1);
    sb_num(b, "inter_group_ms", e->inter_ms, 1);
    sb_num(b, "to_representative_ms", e->to_rep_ms, 1);
    sb_num(b, "spread_ms", e->spread_ms, 1);
    sb_printf(b, "\"distances_sampled\": %s", e->sampled ? "true" : "false");
    if (ps->have_labels) {
        sb_printf(b, ", ");
        sb_num(b, "ari", ps->vs_labels.ari, 1);
        sb_num(b, "nmi", ps->vs_labels.nmi, 0);
    }
}

static void sb_agree(sbuf *b, const char *key, const int32_t *x, const int32_t *y, size_t n)
{
    strata_clustering_scores sc;
    if (strata_clustering_compare(x, y, n, &sc) != 0) {
        b->oom = 1;
        return;
    }
    sb_printf(b, ", \"%s\": {", key);
    sb_num(b, "ari", sc.ari, 1);
    sb_num(b, "nmi", sc.nmi, 0);
    sb_printf(b, "}");
}

/* The live leader of each group (the lowest node number if a conflict left
 * two), UINT32_MAX where none is alive. */
static void leader_reps(const gsim *s, const int32_t *lab, size_t groups, uint32_t *reps)
{
    for (size_t g = 0; g < groups; g++)
        reps[g] = UINT32_MAX;
    for (uint32_t i = 0; i < s->n; i++) {
        if (lab[i] >= 0 && reps[lab[i]] == UINT32_MAX &&
            strata_gnode_state(s->node[i].g) == STRATA_GNODE_LEADER)
            reps[lab[i]] = i;
    }
}

/* --- scenarios -------------------------------------------------------------------------- */

static uint64_t gap_ns(strata_rng *r, uint32_t mean_ms)
{
    uint64_t mean = STRATA_MS(mean_ms);
    return mean / 2 + strata_rng_below(r, mean + 1);
}

/* A group hit by the failure burst: its id, the member first in line, and
 * the other members (sessions) it had. */
typedef struct hit_group {
    uint64_t gid;
    uint32_t succ, succ_gen;
    size_t off, n;
} hit_group;

typedef struct failure_run {
    hit_group *hit;
    size_t n_hit;
    uint32_t *mem, *mem_gen;
    size_t n_mem;
    uint32_t killed, groups_before;
    /* at the end */
    uint32_t next_ok, split, orphans, groups_after;
    double recovery_ms;
} failure_run;

/* Counts, over the hit groups, those led by the one first in line and
 * those whose survivors no longer share the group id; returns the live
 * nodes out of a group. */
static uint32_t failure_check(gsim *s, failure_run *f)
{
    f->next_ok = 0;
    f->split = 0;
    for (size_t h = 0; h < f->n_hit; h++) {
        hit_group *g = &f->hit[h];
        gs_node *sn = &s->node[g->succ];
        if (sn->alive && sn->gen == g->succ_gen &&
            strata_gnode_state(sn->g) == STRATA_GNODE_LEADER &&
            strata_gnode_group(sn->g).v == g->gid)
            f->next_ok++;
        int split = 0;
        for (size_t k = g->off; k < g->off + g->n; k++) {
            gs_node *m = &s->node[f->mem[k]];
            if (m->alive && m->gen == f->mem_gen[k] && strata_gnode_group(m->g).v != g->gid)
                split = 1;
        }
        f->split += (uint32_t)split;
    }
    uint32_t alive = 0;
    for (uint32_t i = 0; i < s->n; i++)
        alive += s->node[i].alive;
    return alive - check_groups(s);
}

static int run_failure(gsim *s, failure_run *f)
{
    memset(f, 0, sizeof *f);
    f->recovery_ms = -1;
    uint32_t nl = s->n_leaders;
    uint32_t *lead = malloc((nl ? nl : 1) * sizeof *lead);
    f->hit = calloc(nl ? nl : 1, sizeof *f->hit);
    f->mem = malloc((s->n ? s->n : 1) * sizeof *f->mem);
    f->mem_gen = malloc((s->n ? s->n : 1) * sizeof *f->mem_gen);
    if (!lead || !f->hit || !f->mem || !f->mem_gen) {
        free(lead);
        return STRATA_ERR_NOMEM;
    }
    memcpy(lead, s->leaders, nl * sizeof *lead);
    qsort(lead, nl, sizeof *lead, cmp_u32);
    f->groups_before = nl;
    /* The first kill_pct % of the leaders in a seeded shuffle. */
    strata_rng r;
    strata_sim_rng_stream(&r, s->cfg->seed, 0, GS_STREAM_FAIL);
    for (uint32_t k = nl; k > 1; k--) {
        uint32_t j = (uint32_t)strata_rng_below(&r, k);
        uint32_t t = lead[k - 1];
        lead[k - 1] = lead[j];
        lead[j] = t;
    }
    uint32_t nk = (uint32_t)(((uint64_t)nl * s->kill_pct + 99) / 100);
    for (uint32_t k = 0; k < nk; k++) {
        const strata_gnode *g = s->node[lead[k]].g;
        size_t m = strata_gnode_members(g, s->members_buf, s->max_members);
        if (m > s->max_members)
            m = s->max_members;
        strata_peer_ref succ;
        if (m < 2 || strata_gnode_successors(g, &succ, 1) < 1)
            continue;
        uint32_t si = node_of_id(s, succ.node);
        if (si == UINT32_MAX)
            continue;
        hit_group *h = &f->hit[f->n_hit++];
        h->gid = strata_gnode_group(g).v;
        h->succ = si;
        h->succ_gen = s->node[si].gen;
        h->off = f->n_mem;
        for (size_t j = 0; j < m; j++) {
            uint32_t mi = node_of_id(s, s->members_buf[j].node);
            if (mi == UINT32_MAX || mi == lead[k] || f->n_mem >= s->n)
                continue;
            f->mem[f->n_mem] = mi;
            f->mem_gen[f->n_mem++] = s->node[mi].gen;
        }
        h->n = f->n_mem - h->off;
    }
    for (uint32_t k = 0; k < nk; k++)
        kill_node(s, lead[k]);
    f->killed = nk;
    free(lead);

    uint64_t t0 = s->now, end = s->now + STRATA_S(s->recover_s);
    for (uint64_t t = t0 + STRATA_MS(GS_POLL_MS); t <= end; t += STRATA_MS(GS_POLL_MS)) {
        run_until(s, t);
        uint32_t out = failure_check(s, f);
        if (out == 0 && f->next_ok == f->n_hit && f->split == 0) {
            f->recovery_ms = (double)(t - t0) / 1e6;
            break;
        }
    }
    run_until(s, end);
    f->orphans = failure_check(s, f);
    f->groups_after = s->n_leaders;
    return s->fail ? STRATA_ERR_NOMEM : 0;
}

static void failure_free(failure_run *f)
{
    free(f->hit);
    free(f->mem);
    free(f->mem_gen);
}

static int take_sample(gsim *s, int32_t *lab, uint32_t *reps)
{
    if (s->n_samples == s->cap_samples) {
        size_t cap = s->cap_samples ? s->cap_samples * 2 : 64;
        gs_sample *p = realloc(s->samples, cap * sizeof *p);
        if (!p)
            return STRATA_ERR_NOMEM;
        s->samples = p;
        s->cap_samples = cap;
    }
    gs_sample *sm = &s->samples[s->n_samples++];
    memset(sm, 0, sizeof *sm);
    sm->t_s = (double)s->now / 1e9;
    sm->in_group = check_groups(s);
    for (uint32_t i = 0; i < s->n; i++) {
        gs_node *nd = &s->node[i];
        if (!nd->alive)
            continue;
        sm->alive++;
        sm->joining += strata_gnode_state(nd->g) == STRATA_GNODE_JOINING;
        if (s->in_grp[i]) {
            nd->out_gen = 0;
            continue;
        }
        sm->stuck += nd->out_gen == nd->gen;
        nd->out_gen = nd->gen;
    }
    long groups = group_labels(s, lab);
    if (groups < 0)
        return (int)groups;
    sm->groups = (uint32_t)groups;
    leader_reps(s, lab, (size_t)groups, reps);
    strata_simdist d = {node_ms, &s->lat};
    part_score ps;
    int rc = score_partition(s, &d, lab, (size_t)groups, reps, &ps);
    sm->intra_ms = ps.e.intra_ms;
    sm->inter_ms = ps.e.inter_ms;
    sm->ari = ps.have_labels ? ps.vs_labels.ari : -1;
    sm->nmi = ps.have_labels ? ps.vs_labels.nmi : -1;
    strata_partition_eval_free(&ps.e);
    return rc;
}

static uint32_t random_node(gsim *s, strata_rng *r, int alive)
{
    uint32_t cands = 0;
    for (int tries = 0; tries < 64; tries++) {
        uint32_t i = (uint32_t)strata_rng_below(r, s->n);
        if (s->node[i].alive == alive)
            return i;
    }
    /* Rare: scan for the k-th node of the wanted kind. */
    for (uint32_t i = 0; i < s->n; i++)
        cands += s->node[i].alive == alive;
    if (cands == 0)
        return UINT32_MAX;
    uint32_t k = (uint32_t)strata_rng_below(r, cands);
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->node[i].alive == alive && k-- == 0)
            return i;
    }
    return UINT32_MAX;
}

static int run_churn(gsim *s, int32_t *lab, uint32_t *reps, uint64_t *departures)
{
    strata_rng r;
    strata_sim_rng_stream(&r, s->cfg->seed, 0, GS_STREAM_CHURN);
    uint64_t end = s->now + STRATA_S(s->churn_s);
    uint64_t next_churn = s->now + gap_ns(&r, s->churn_gap_ms);
    uint64_t next_sample = s->now + STRATA_S(s->sample_s);
    int rc = take_sample(s, lab, reps);
    while (rc == 0 && !s->fail) {
        uint64_t t = next_churn < next_sample ? next_churn : next_sample;
        if (t > end)
            break;
        run_until(s, t);
        if (t == next_churn) {
            uint32_t out = random_node(s, &r, 1);
            if (out != UINT32_MAX) {
                if (strata_rng_below(&r, 100) < s->leave_pct)
                    leave_node(s, out);
                else
                    kill_node(s, out);
                (*departures)++;
            }
            uint32_t in = random_node(s, &r, 0);
            if (in != UINT32_MAX)
                start_node(s, in);
            next_churn += gap_ns(&r, s->churn_gap_ms);
        }
        if (t == next_sample) {
            rc = take_sample(s, lab, reps);
            next_sample += STRATA_S(s->sample_s);
        }
    }
    /* A quiet sample period after the churn stops: the final state. */
    run_until(s, end + STRATA_S(s->sample_s));
    if (rc == 0)
        rc = take_sample(s, lab, reps);
    return rc ? rc : s->fail ? STRATA_ERR_NOMEM : 0;
}

/* --- the run ------------------------------------------------------------------------------ */

static int setup(gsim *s, const strata_groupsim_config *cfg, char *err, size_t errlen)
{
    s->cfg = cfg;
    if (cfg->agent_log)
        s->agent_log = (strata_log){write_agent_line, s, cfg->agent_log->max_level};
    s->join_spacing_ms =
        (uint32_t)def_u64(cfg->join_spacing_ms, STRATA_GROUPSIM_DEFAULT_JOIN_SPACING_MS);
    s->bootstrap = (uint32_t)def_u64(cfg->bootstrap_leaders, STRATA_GROUPSIM_DEFAULT_BOOTSTRAP);
    s->settle_s = (uint32_t)def_u64(cfg->settle_s, STRATA_GROUPSIM_DEFAULT_SETTLE_S);
    s->kill_pct = (uint32_t)def_u64(cfg->kill_pct, STRATA_GROUPSIM_DEFAULT_KILL_PCT);
    s->recover_s = (uint32_t)def_u64(cfg->recover_s, STRATA_GROUPSIM_DEFAULT_RECOVER_S);
    s->churn_s = (uint32_t)def_u64(cfg->churn_s, STRATA_GROUPSIM_DEFAULT_CHURN_S);
    s->churn_gap_ms = (uint32_t)def_u64(cfg->churn_gap_ms, STRATA_GROUPSIM_DEFAULT_CHURN_GAP_MS);
    s->offline_pct =
        (uint32_t)def_u64(cfg->churn_offline_pct, STRATA_GROUPSIM_DEFAULT_CHURN_OFFLINE_PCT);
    s->leave_pct =
        cfg->churn_leave_pct == STRATA_GNODE_OFF
            ? 0
            : (uint32_t)def_u64(cfg->churn_leave_pct, STRATA_GROUPSIM_DEFAULT_CHURN_LEAVE_PCT);
    s->sample_s = (uint32_t)def_u64(cfg->sample_s, STRATA_GROUPSIM_DEFAULT_SAMPLE_S);
    s->landmarks = (uint32_t)def_u64(cfg->landmarks, STRATA_GROUPSIM_DEFAULT_LANDMARKS);
    s->baseline_max =
        (uint32_t)def_u64(cfg->baseline_max_nodes, STRATA_GROUPSIM_DEFAULT_BASELINE_MAX_NODES);
    s->max_members = (uint32_t)def_u64(cfg->agent.max_members, STRATA_GNODE_DEFAULT_MAX_MEMBERS);
    s->late_spacing_ms =
        (uint32_t)def_u64(cfg->late_spacing_ms, STRATA_GROUPSIM_DEFAULT_LATE_SPACING_MS);
    s->phase = "join";

    if (cfg->scenario < STRATA_GROUPSIM_FORM || cfg->scenario > STRATA_GROUPSIM_CHURN) {
        set_err(err, errlen, "unknown scenario %d", cfg->scenario);
        return STRATA_ERR_INVAL;
    }
    if (s->bootstrap > STRATA_GNODE_MAX_BOOTSTRAP || s->kill_pct > 100 || s->offline_pct >= 100 ||
        s->leave_pct > 100 || s->landmarks > STRATA_LANDMARK_MAX ||
        cfg->n_landmark_bounds > STRATA_LANDMARK_MAX_BOUNDS || !(cfg->loss >= 0 && cfg->loss < 1)) {
        set_err(err, errlen,
                "a setting is out of range (bootstrap <= %d, percentages <= 100, offline < 100, "
                "landmarks <= %d, loss in [0, 1))",
                STRATA_GNODE_MAX_BOOTSTRAP, STRATA_LANDMARK_MAX);
        return STRATA_ERR_INVAL;
    }
    if (cfg->agent.metric == STRATA_GROUP_METRIC_HOPS ||
        cfg->agent.metric > STRATA_GROUP_METRIC_MAX) {
        set_err(err, errlen, "metric: the simulator has RTT and one-way delay, no hop counts");
        return STRATA_ERR_INVAL;
    }

    int rc;
    if (cfg->lat) {
        rc = strata_simlat_from_matrix(&s->lat, NULL, cfg->lat->m.hosts, cfg->lat->m.rtt_ms, err,
                                       errlen);
    } else if (cfg->latency_path) {
        rc = strata_simlat_load(&s->lat, NULL, cfg->latency_path, err, errlen);
    } else {
        set_err(err, errlen, "no latency matrix given");
        return STRATA_ERR_INVAL;
    }
    if (rc != 0)
        return rc;
    s->hosts = strata_simlat_hosts(&s->lat);
    s->n = cfg->nodes ? cfg->nodes : s->hosts;
    if (s->n == 0 || s->n > STRATA_GROUPSIM_MAX_NODES) {
        set_err(err, errlen, "nodes: 1..%d", STRATA_GROUPSIM_MAX_NODES);
        return STRATA_ERR_INVAL;
    }
    if (cfg->nodes) {
        uint64_t amin = cfg->access_min_us, amax = cfg->access_max_us;
        if (amin == 0 && amax == 0) {
            amin = STRATA_GROUPSIM_DEFAULT_ACCESS_MIN_US;
            amax = STRATA_GROUPSIM_DEFAULT_ACCESS_MAX_US;
        }
        rc = strata_simlat_attach(&s->lat, s->n,
                                  cfg->attach_round_robin ? STRATA_SIMLAT_ROUND_ROBIN
                                                          : STRATA_SIMLAT_RANDOM,
                                  cfg->seed, amin * 1000, amax * 1000);
    } else {
        rc = strata_simlat_attach(&s->lat, s->n, STRATA_SIMLAT_ROUND_ROBIN, cfg->seed, 0, 0);
    }
    if (rc != 0) {
        set_err(err, errlen, "cannot attach the nodes (access delays: min <= max)");
        return rc;
    }

    if (cfg->host_labels || cfg->labels_path) {
        s->host_label = malloc(s->hosts * sizeof *s->host_label);
        if (!s->host_label)
            return STRATA_ERR_NOMEM;
        if (cfg->host_labels) {
            memcpy(s->host_label, cfg->host_labels, s->hosts * sizeof *s->host_label);
            int32_t mx = -1;
            for (uint32_t h = 0; h < s->hosts; h++)
                mx = s->host_label[h] > mx ? s->host_label[h] : mx;
            s->label_classes = (size_t)(mx + 1);
        } else {
            rc = strata_clustering_read_labels(cfg->labels_path, s->hosts, s->host_label,
                                               &s->label_classes, err, errlen);
            if (rc != 0)
                return rc;
        }
    }

    strata_simnet_config nc;
    strata_simnet_config_default(&nc);
    nc.seed = cfg->seed;
    nc.loss = cfg->loss;
    nc.queue_limit_bytes = 0;
    rc = strata_simnet_init(&s->net, NULL, s->n, &nc, &s->lat, err, errlen);
    if (rc != 0)
        return rc;
    strata_simq_init(&s->q, NULL);
    s->z.on = cfg->lazy_memory && GS_HAVE_LAZY;
    s->alloc = (strata_alloc){lz_alloc, lz_realloc, lz_release, &s->z};
    if (s->z.on) {
        s->blocks = calloc((size_t)s->n * LZ_NODE_BLOCKS, sizeof *s->blocks);
        if (!s->blocks)
            return STRATA_ERR_NOMEM;
    }
    s->node = calloc(s->n, sizeof *s->node);
    s->leaders = malloc(s->n * sizeof *s->leaders);
    s->members_buf = malloc(s->max_members * sizeof *s->members_buf);
    s->listed = malloc(s->n * sizeof *s->listed);
    s->in_grp = malloc(s->n);
    s->order = malloc(s->n * sizeof *s->order);
    s->n_late = cfg->late_joins < s->n ? cfg->late_joins : s->n - 1;
    if (!s->node || !s->leaders || !s->members_buf || !s->listed || !s->in_grp || !s->order ||
        strata_simq_reserve(&s->q, (size_t)s->n * 2) != 0)
        return STRATA_ERR_NOMEM;
    for (uint32_t i = 0; i < s->n; i++) {
        s->node[i].leader_pos = UINT32_MAX;
        s->node[i].wake_at = STRATA_NEVER;
    }
    strata_sim_rng_stream(&s->boot_rng, cfg->seed, cfg->bootstrap_stream, GS_STREAM_BOOT);
    return 0;
}

static void teardown(gsim *s)
{
    if (s->node) {
        for (uint32_t i = 0; i < s->n; i++)
            kill_node(s, i);
    }
    strata_simq_event ev;
    while (strata_simq_pop(&s->q, &ev)) {
        if (ev.kind == EV_DELIVER)
            strata_buf_unref(s->pkt[ev.data.u64].buf);
    }
    strata_simq_free(&s->q);
    strata_simnet_free(&s->net);
    strata_simlat_free(&s->lat);
    lz_destroy(&s->z);
    free(s->node);
    free(s->blocks);
    free(s->host_label);
    free(s->leaders);
    free(s->members_buf);
    free(s->listed);
    free(s->in_grp);
    free(s->order);
    free(s->pkt);
    free(s->pkt_free);
    free(s->joins);
    free(s->samples);
}

/* The join phase: every node of the order (less the churn pool) starts,
 * one gap after the other, then the run settles. */
static int run_joins(gsim *s)
{
    strata_rng r;
    strata_sim_rng_stream(&r, s->cfg->seed, 0, GS_STREAM_ORDER);
    for (uint32_t i = 0; i < s->n; i++)
        s->order[i] = i;
    for (uint32_t k = s->n; k > 1; k--) {
        uint32_t j = (uint32_t)strata_rng_below(&r, k);
        uint32_t t = s->order[k - 1];
        s->order[k - 1] = s->order[j];
        s->order[j] = t;
    }
    s->n_order = s->n;
    if (s->cfg->scenario == STRATA_GROUPSIM_CHURN) {
        uint32_t off = (uint32_t)((uint64_t)s->n * s->offline_pct / 100);
        s->n_order = s->n - off;
        for (uint32_t k = s->n_order; k < s->n; k++)
            s->node[s->order[k]].offline = 1;
    }
    uint32_t early = s->n_order > s->n_late ? s->n_order - s->n_late : 0;
    uint64_t t = STRATA_MS(100);
    for (uint32_t k = 0; k < early; k++) {
        if (k > 0)
            t += gap_ns(&r, s->join_spacing_ms);
        if (strata_simq_push(&s->q, t, EV_JOIN, s->order[k], k) == STRATA_SIMQ_NONE)
            return STRATA_ERR_NOMEM;
    }
    run_until(s, t);
    progress(s, 1);
    s->phase = "settle";
    t += STRATA_S(s->settle_s);
    run_until(s, t);
    progress(s, 1);
    if (early < s->n_order) {
        /* Late joiners, one at a time into the settled network. */
        s->phase = "late";
        for (uint32_t k = early; k < s->n_order; k++) {
            t += gap_ns(&r, s->late_spacing_ms);
            s->node[s->order[k]].late = 1;
            if (strata_simq_push(&s->q, t, EV_JOIN, s->order[k], k) == STRATA_SIMQ_NONE)
                return STRATA_ERR_NOMEM;
        }
        t += STRATA_S(GS_LATE_TAIL_S);
        run_until(s, t);
        progress(s, 1);
    }
    return s->fail ? STRATA_ERR_NOMEM : 0;
}

typedef struct probe_stats {
    size_t joins;
    double probes_mean, probes_p95, probes_max, ms_mean, ms_p95, ms_max;
} probe_stats;

/* Cost of the first walks: all of them (late < 0), or only the late ones
 * (late > 0). */
static int join_stats(const gsim *s, int late, probe_stats *p)
{
    memset(p, 0, sizeof *p);
    uint32_t *pr = malloc((s->n_joins ? s->n_joins : 1) * sizeof *pr);
    uint64_t *ns = malloc((s->n_joins ? s->n_joins : 1) * sizeof *ns);
    if (!pr || !ns) {
        free(pr);
        free(ns);
        return STRATA_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n_joins; i++) {
        if (late > 0 && !s->joins[i].late)
            continue;
        pr[n] = s->joins[i].probes;
        ns[n++] = s->joins[i].ns;
    }
    p->joins = n;
    if (n > 0) {
        qsort(pr, n, sizeof *pr, cmp_u32);
        qsort(ns, n, sizeof *ns, cmp_u64);
        double sp = 0, st = 0;
        for (size_t i = 0; i < n; i++) {
            sp += pr[i];
            st += (double)ns[i];
        }
        p->probes_mean = sp / (double)n;
        p->probes_p95 = pr[rank95(n)];
        p->probes_max = pr[n - 1];
        p->ms_mean = st / (double)n / 1e6;
        p->ms_p95 = (double)ns[rank95(n)] / 1e6;
        p->ms_max = (double)ns[n - 1] / 1e6;
    }
    free(pr);
    free(ns);
    return 0;
}

static void sb_joins(sbuf *b, const probe_stats *p)
{
    sb_printf(b, "\"probes_per_join\": {\"joins\": %zu, ", p->joins);
    sb_num(b, "mean", p->probes_mean, 1);
    sb_num(b, "p95", p->probes_p95, 1);
    sb_num(b, "max", p->probes_max, 0);
    sb_printf(b, "}, \"join_time_ms\": {");
    sb_num(b, "mean", p->ms_mean, 1);
    sb_num(b, "p95", p->ms_p95, 1);
    sb_num(b, "max", p->ms_max, 0);
    sb_printf(b, "}");
}

static void sb_config(sbuf *b, const gsim *s)
{
    const strata_groupsim_config *c = s->cfg;
    const strata_gnode_config *a = &c->agent;
    static const char *names[] = {"form", "failure", "churn"};
    sb_printf(b, "  \"scenario\": \"%s\",\n  \"latency\": ", names[c->scenario]);
    sb_escaped(b, c->lat ? "(matrix)" : c->latency_path);
    sb_printf(b, ",\n  \"seed\": %llu, \"hosts\": %u, \"nodes\": %u, \"labelled_hosts\": ",
              (unsigned long long)c->seed, (unsigned)s->hosts, (unsigned)s->n);
    uint32_t labelled = 0;
    for (uint32_t h = 0; s->host_label && h < s->hosts; h++)
        labelled += s->host_label[h] >= 0;
    sb_printf(b, "%u, \"label_classes\": %zu,\n", (unsigned)labelled, s->label_classes);
    uint32_t thr = (uint32_t)def_u64(a->threshold_abs, STRATA_GNODE_DEFAULT_THRESHOLD_ABS_MS);
    uint32_t rel = (uint32_t)def_u64(a->threshold_rel_pct, STRATA_GNODE_DEFAULT_THRESHOLD_REL_PCT);
    uint32_t lead = a->leader_abs ? a->leader_abs : thr;
    sb_printf(b, "  \"config\": {\"metric\": \"%s\", \"estimate\": \"%s\", ",
              a->metric == STRATA_GROUP_METRIC_ONE_WAY ? "one_way"
              : a->metric == STRATA_GROUP_METRIC_HOPS  ? "hops"
                                                       : "rtt",
              a->estimate == STRATA_GNODE_ESTIMATE_MEDIAN ? "median" : "min");
    sb_printf(b, "\"threshold_abs\": %lld, \"threshold_rel_pct\": %lld, \"leader_abs\": %lld, ",
              thr == STRATA_GNODE_OFF ? -1LL : (long long)thr,
              rel == STRATA_GNODE_OFF ? -1LL : (long long)rel,
              lead == STRATA_GNODE_OFF ? -1LL : (long long)lead);
    sb_printf(b, "\"max_members\": %u, \"bootstrap_leaders\": %u, \"join_spacing_ms\": %u, ",
              (unsigned)s->max_members, (unsigned)s->bootstrap, (unsigned)s->join_spacing_ms);
    sb_printf(b, "\"settle_s\": %u, \"loss\": %.4f", (unsigned)s->settle_s, c->loss);
    if (c->bootstrap_stream)
        sb_printf(b, ", \"bootstrap_stream\": %u", (unsigned)c->bootstrap_stream);
    /* What a control center given it (strata control --groups-seed) draws
     * its bootstrap leaders with. */
    sb_printf(b, ", \"bootstrap_seed\": \"%" PRIu64 "\"",
              strata_sim_stream_seed(c->seed, c->bootstrap_stream, GS_STREAM_BOOT));
    if (c->nodes)
        sb_printf(b, ", \"attach\": \"%s\", \"access_us\": [%u, %u]",
                  c->attach_round_robin ? "round_robin" : "random",
                  (unsigned)(c->access_min_us || c->access_max_us
                                 ? c->access_min_us
                                 : STRATA_GROUPSIM_DEFAULT_ACCESS_MIN_US),
                  (unsigned)(c->access_min_us || c->access_max_us
                                 ? c->access_max_us
                                 : STRATA_GROUPSIM_DEFAULT_ACCESS_MAX_US));
    if (c->scenario == STRATA_GROUPSIM_FAILURE)
        sb_printf(b, ", \"kill_pct\": %u, \"recover_s\": %u", (unsigned)s->kill_pct,
                  (unsigned)s->recover_s);
    if (c->scenario == STRATA_GROUPSIM_CHURN)
        sb_printf(b,
                  ", \"churn_s\": %u, \"churn_gap_ms\": %u, \"churn_offline_pct\": %u, "
                  "\"churn_leave_pct\": %u, \"sample_s\": %u",
                  (unsigned)s->churn_s, (unsigned)s->churn_gap_ms, (unsigned)s->offline_pct,
                  (unsigned)s->leave_pct, (unsigned)s->sample_s);
    sb_printf(b, "},\n");
}

int strata_groupsim_run(const strata_groupsim_config *cfg, strata_groupsim_result *res, char *err,
                        size_t errlen)
{
    memset(res, 0, sizeof *res);
    gsim *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_ERR_NOMEM;
    int32_t *lab = NULL, *lab_lm = NULL, *lab_km = NULL, *sub_lab = NULL;
    uint32_t *reps = NULL, *reps_km = NULL, *live = NULL, *medoids = NULL;
    part_score ps = {0}, ps_lm = {0}, ps_km = {0};
    failure_run fr = {0};
    sbuf b = {0};
    uint64_t departures = 0;
    int rc = setup(s, cfg, err, errlen);
    if (rc != 0)
        goto out;
    lab = malloc(s->n * sizeof *lab);
    reps = malloc(s->n * sizeof *reps);
    if (!lab || !reps) {
        rc = STRATA_ERR_NOMEM;
        goto out;
    }

    rc = run_joins(s);
    if (rc == 0 && cfg->scenario == STRATA_GROUPSIM_FAILURE) {
        s->phase = "failure";
        rc = run_failure(s, &fr);
    } else if (rc == 0 && cfg->scenario == STRATA_GROUPSIM_CHURN) {
        s->phase = "churn";
        rc = run_churn(s, lab, reps, &departures);
    }
    if (rc != 0)
        goto out;
    s->phase = "baselines";
    progress(s, 1);

    /* Strata's groups at the end. */
    uint32_t in = check_groups(s), alive = 0, never = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        alive += s->node[i].alive;
        never += s->node[i].alive && !s->node[i].joined;
    }
    long groups = group_labels(s, lab);
    if (groups < 0) {
        rc = (int)groups;
        goto out;
    }
    leader_reps(s, lab, (size_t)groups, reps);
    strata_simdist d = {node_ms, &s->lat};
    rc = score_partition(s, &d, lab, (size_t)groups, reps, &ps);
    if (rc != 0)
        goto out;

    /* The baselines on the same live nodes. */
    int baselines = !cfg->no_baselines && alive > 0 && alive <= s->baseline_max && groups > 0;
    strata_landmark_result lr = {0};
    strata_kmedoids_result kr = {0};
    if (baselines) {
        live = malloc(alive * sizeof *live);
        sub_lab = malloc(alive * sizeof *sub_lab);
        lab_lm = malloc(s->n * sizeof *lab_lm);
        lab_km = malloc(s->n * sizeof *lab_km);
        uint32_t km = cfg->kmedoids_k ? cfg->kmedoids_k : (uint32_t)groups;
        if (km > alive)
            km = alive;
        medoids = malloc((size_t)km * sizeof *medoids);
        reps_km = malloc((size_t)km * sizeof *reps_km);
        if (!live || !sub_lab || !lab_lm || !lab_km || !medoids || !reps_km) {
            rc = STRATA_ERR_NOMEM;
            goto out;
        }
        uint32_t m = 0;
        for (uint32_t i = 0; i < s->n; i++) {
            lab_lm[i] = lab_km[i] = -1;
            if (s->node[i].alive)
                live[m++] = i;
        }
        subset u = {&d, live};
        strata_simdist sd = {subset_ms, &u};
        strata_landmark_config lc = {s->landmarks, cfg->landmark_bounds_ms, cfg->n_landmark_bounds,
                                     strata_sim_stream_seed(cfg->seed, 0, GS_STREAM_LANDMARK)};
        rc = strata_landmark_bin(&sd, m, &lc, sub_lab, &lr);
        if (rc != 0) {
            set_err(err, errlen, "landmark binning: bad landmark settings");
            goto out;
        }
        for (uint32_t k = 0; k < m; k++)
            lab_lm[live[k]] = sub_lab[k];
        for (uint32_t k = 0; k < lr.n_landmarks; k++)
            lr.landmark[k] = live[lr.landmark[k]];
        rc = strata_kmedoids_run(&sd, m, km, cfg->kmedoids_max_iter, medoids, sub_lab, &kr);
        if (rc != 0)
            goto out;
        for (uint32_t k = 0; k < m; k++)
            lab_km[live[k]] = sub_lab[k];
        for (uint32_t g = 0; g < kr.k; g++)
            reps_km[g] = live[medoids[g]];
        rc = score_partition(s, &d, lab_lm, lr.bins, NULL, &ps_lm);
        if (rc == 0)
            rc = score_partition(s, &d, lab_km, kr.k, reps_km, &ps_km);
        if (rc != 0)
            goto out;
    }

    probe_stats pst, plate;
    rc = join_stats(s, -1, &pst);
    if (rc == 0)
        rc = join_stats(s, 1, &plate);
    if (rc != 0)
        goto out;
    uint32_t probes = (uint32_t)def_u64(cfg->agent.probes, STRATA_GNODE_DEFAULT_PROBES);

    /* The report. */
    sb_printf(&b, "{\n");
    sb_config(&b, s);
    sb_printf(&b, "  \"strata\": {");
    sb_partition(&b, &ps);
    sb_printf(&b, ", \"alive\": %u, \"in_group\": %u, \"never_joined\": %u, ", (unsigned)alive,
              (unsigned)in, (unsigned)never);
    sb_joins(&b, &pst);
    if (s->n_late) {
        sb_printf(&b, ", \"late_joins\": {");
        sb_joins(&b, &plate);
        sb_printf(&b, "}");
    }
    sb_printf(&b,
              ", \"rejoins\": %llu, \"founded\": %llu, \"took_over\": %llu, "
              "\"merged_away\": %llu, \"lost\": %llu",
              (unsigned long long)s->rejoins, (unsigned long long)s->reasons[STRATA_GNODE_FOUNDED],
              (unsigned long long)s->reasons[STRATA_GNODE_TOOK_OVER],
              (unsigned long long)s->reasons[STRATA_GNODE_MOVED],
              (unsigned long long)s->reasons[STRATA_GNODE_LOST]);
    if (baselines) {
        sb_agree(&b, "vs_landmark", lab, lab_lm, s->n);
        sb_agree(&b, "vs_kmedoids", lab, lab_km, s->n);
    }
    sb_printf(&b, "},\n");
    if (baselines) {
        sb_printf(&b, "  \"landmark\": {\"landmarks\": %u, \"levels_ms\": [",
                  (unsigned)lr.n_landmarks);
        if (cfg->landmark_bounds_ms) {
            for (size_t k = 0; k < cfg->n_landmark_bounds; k++)
                sb_printf(&b, "%s%.1f", k ? ", " : "", cfg->landmark_bounds_ms[k]);
        } else {
            sb_printf(&b, "100.0, 200.0");
        }
        sb_printf(&b, "], \"landmark_nodes\": [");
        for (uint32_t k = 0; k < lr.n_landmarks; k++)
            sb_printf(&b, "%s%u", k ? ", " : "", (unsigned)lr.landmark[k]);
        sb_printf(&b, "], \"measurements_per_node\": %u, \"probes_per_join\": %u, ",
                  (unsigned)lr.n_landmarks, (unsigned)(lr.n_landmarks * probes));
        sb_partition(&b, &ps_lm);
        sb_agree(&b, "vs_kmedoids", lab_lm, lab_km, s->n);
        sb_printf(&b, "},\n  \"kmedoids\": {\"k\": %u, \"swaps\": %u, \"converged\": %s, ",
                  (unsigned)kr.k, (unsigned)kr.swaps, kr.converged ? "true" : "false");
        sb_num(&b, "mean_to_medoid_ms", kr.mean_ms, 1);
        sb_printf(&b, "\"measurements_per_node\": %u, ", alive - 1);
        sb_partition(&b, &ps_km);
        sb_printf(&b, "},\n");
    } else {
        sb_printf(&b, "  \"baselines\": \"skipped: %s\",\n",
                  cfg->no_baselines ? "switched off" : "more live nodes than baseline_max_nodes");
    }
    if (cfg->scenario == STRATA_GROUPSIM_FAILURE) {
        sb_printf(&b,
                  "  \"failure\": {\"groups_before\": %u, \"leaders_killed\": %u, "
                  "\"hit_groups\": %zu, \"next_in_line_leads\": %u, \"split_groups\": %u, "
                  "\"out_of_group_after\": %u, \"groups_after\": %u, ",
                  (unsigned)fr.groups_before, (unsigned)fr.killed, fr.n_hit, (unsigned)fr.next_ok,
                  (unsigned)fr.split, (unsigned)fr.orphans, (unsigned)fr.groups_after);
        sb_num(&b, "recovery_ms", fr.recovery_ms, 0);
        sb_printf(&b, "},\n");
    }
    uint32_t stuck = 0, min_pct = 10000;
    if (cfg->scenario == STRATA_GROUPSIM_CHURN) {
        sb_printf(&b, "  \"churn\": {\"departures\": %llu, \"samples\": [\n",
                  (unsigned long long)departures);
        for (size_t k = 0; k < s->n_samples; k++) {
            gs_sample *sm = &s->samples[k];
            uint32_t pct =
                sm->alive ? (uint32_t)((uint64_t)sm->in_group * 10000 / sm->alive) : 10000;
            min_pct = pct < min_pct ? pct : min_pct;
            stuck += sm->stuck;
            sb_printf(&b,
                      "    {\"t_s\": %.1f, \"alive\": %u, \"in_group\": %u, \"joining\": %u, "
                      "\"stuck\": %u, \"groups\": %u, ",
                      sm->t_s, (unsigned)sm->alive, (unsigned)sm->in_group, (unsigned)sm->joining,
                      (unsigned)sm->stuck, (unsigned)sm->groups);
            sb_num(&b, "intra_group_ms", sm->intra_ms, 1);
            sb_num(&b, "inter_group_ms", sm->inter_ms, s->host_label != NULL);
            if (s->host_label) {
                sb_num(&b, "ari", sm->ari, 1);
                sb_num(&b, "nmi", sm->nmi, 0);
            }
            sb_printf(&b, "}%s\n", k + 1 < s->n_samples ? "," : "");
        }
        sb_printf(&b, "  ], \"stuck_total\": %u},\n", (unsigned)stuck);
    }
    uint64_t probes_sent = 0, outbox_drops = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!s->node[i].alive)
            continue;
        strata_gnode_stats st;
        strata_gnode_get_stats(s->node[i].g, &st);
        probes_sent += st.probes_sent;
        outbox_drops += strata_node_outbox(s->node[i].node)->dropped;
    }
    sb_printf(&b,
              "  \"run\": {\"sim_s\": %.3f, \"events\": %llu, \"datagrams\": %llu, \"lost\": %llu, "
              "\"undeliverable\": %llu, \"outbox_drops_of_live\": %llu, "
              "\"probes_sent_by_live\": %llu, \"agent_bytes\": %llu, "
              "\"fingerprint\": \"%016llx\"}\n}\n",
              (double)s->now / 1e9, (unsigned long long)s->events, (unsigned long long)s->datagrams,
              (unsigned long long)s->lost, (unsigned long long)s->undeliverable,
              (unsigned long long)outbox_drops, (unsigned long long)probes_sent,
              (unsigned long long)s->agent_bytes, (unsigned long long)s->fp);
    if (b.oom) {
        rc = STRATA_ERR_NOMEM;
        goto out;
    }

    /* The result. */
    res->group = malloc(s->n * sizeof *res->group);
    res->host_of = malloc(s->n * sizeof *res->host_of);
    res->start_ns = malloc(s->n * sizeof *res->start_ns);
    if (!res->group || !res->host_of || !res->start_ns) {
        rc = STRATA_ERR_NOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        res->group[i] = s->node[i].alive ? strata_gnode_group(s->node[i].g).v : 0;
        res->host_of[i] = s->lat.node_host[i];
        res->start_ns[i] = s->node[i].first_started_at;
    }
    res->hosts = s->hosts;
    res->nodes = cfg->nodes;
    res->run_seed = cfg->seed;
    res->json = b.p;
    res->json_len = b.len;
    b.p = NULL;
    res->alive = alive;
    res->in_group = in;
    res->never_joined = never;
    res->groups = (uint32_t)groups;
    res->ari = ps.have_labels ? ps.vs_labels.ari : -1;
    res->nmi = ps.have_labels ? ps.vs_labels.nmi : -1;
    res->probes_mean = pst.probes_mean;
    res->probes_p95 = pst.probes_p95;
    res->join_ms_mean = pst.ms_mean;
    res->join_ms_p95 = pst.ms_p95;
    res->joins = pst.joins;
    res->late_probes_mean = plate.probes_mean;
    res->late_probes_p95 = plate.probes_p95;
    res->late_joins = plate.joins;
    fill_scores(&res->method[STRATA_GROUPSIM_STRATA], &ps, pst.probes_mean);
    if (baselines) {
        fill_scores(&res->method[STRATA_GROUPSIM_LANDMARK], &ps_lm,
                    (double)lr.n_landmarks * probes);
        fill_scores(&res->method[STRATA_GROUPSIM_KMEDOIDS], &ps_km, -1);
    }
    res->killed = fr.killed;
    res->hit_groups = (uint32_t)fr.n_hit;
    res->next_in_line_ok = fr.next_ok;
    res->orphans_after = fr.orphans;
    res->split_groups = fr.split;
    res->recovery_ms = fr.recovery_ms;
    res->samples = (uint32_t)s->n_samples;
    res->stuck = stuck;
    res->min_in_group_pct_x100 = min_pct;
    res->events = s->events;
    res->datagrams = s->datagrams;
    res->fingerprint = s->fp;
    res->sim_s = (double)s->now / 1e9;
    res->agent_bytes = s->agent_bytes;

out:
    if (rc == STRATA_ERR_NOMEM && err && errlen && !err[0])
        set_err(err, errlen, "out of memory");
    if (rc != 0)
        strata_groupsim_result_free(res);
    strata_partition_eval_free(&ps.e);
    strata_partition_eval_free(&ps_lm.e);
    strata_partition_eval_free(&ps_km.e);
    failure_free(&fr);
    free(b.p);
    free(lab);
    free(lab_lm);
    free(lab_km);
    free(sub_lab);
    free(reps);
    free(reps_km);
    free(live);
    free(medoids);
    teardown(s);
    free(s);
    return rc;
}

void strata_groupsim_config_default(strata_groupsim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->scenario = STRATA_GROUPSIM_FORM;
}

void strata_groupsim_result_free(strata_groupsim_result *res)
{
    free(res->group);
    free(res->host_of);
    free(res->start_ns);
    free(res->json);
    memset(res, 0, sizeof *res);
}

int strata_groupsim_write_assign(const strata_groupsim_result *res, FILE *f)
{
    uint32_t n = res->nodes ? res->nodes : res->hosts;
    for (uint32_t i = 0; i < n; i++) {
        int w = res->group[i]
                    ? fprintf(f, "%u\t%016llx\n", (unsigned)i, (unsigned long long)res->group[i])
                    : fprintf(f, "%u\t-\n", (unsigned)i);
        if (w < 0)
            return STRATA_ERR_NOTFOUND;
    }
    return ferror(f) ? STRATA_ERR_NOTFOUND : 0;
}

static int cmp_start(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* {start_ns, index} pairs */
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

int strata_groupsim_write_order(const strata_groupsim_result *res, FILE *f)
{
    uint32_t n = res->nodes ? res->nodes : res->hosts;
    uint64_t(*v)[2] = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return STRATA_ERR_NOMEM;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (res->start_ns[i]) {
            v[k][0] = res->start_ns[i];
            v[k++][1] = i;
        }
    qsort(v, k, sizeof *v, cmp_start);
    int rc = 0;
    for (uint32_t i = 0; i < k && rc == 0; i++) {
        uint64_t node, seed;
        agent_identity(res->run_seed, (uint32_t)v[i][1], 1, &node, &seed);
        if (fprintf(f, "%u\t%.3f\t%016" PRIx64 "\t%" PRIu64 "\n", (unsigned)v[i][1],
                    (double)v[i][0] / 1e6, node, seed) < 0)
            rc = STRATA_ERR_NOTFOUND;
    }
    free(v);
    return rc == 0 && ferror(f) ? STRATA_ERR_NOTFOUND : rc;
}

int strata_groupsim_write_json(const strata_groupsim_result *res, FILE *f)
{
    if (res->json_len && fwrite(res->json, 1, res->json_len, f) != res->json_len)
        return STRATA_ERR_NOTFOUND;
    return ferror(f) ? STRATA_ERR_NOTFOUND : 0;
}

static int save_one(const strata_groupsim_result *res, const char *path,
                    int (*write)(const strata_groupsim_result *, FILE *), char *err, size_t errlen)
{
    if (!path)
        return 0;
    FILE *f = fopen(path, "w");
    if (!f) {
        set_err(err, errlen, "%s: cannot open for writing", path);
        return STRATA_ERR_NOTFOUND;
    }
    int rc = write(res, f);
    if (fclose(f) != 0)
        rc = STRATA_ERR_NOTFOUND;
    if (rc != 0)
        set_err(err, errlen, "%s: write failed", path);
    return rc;
}

int strata_groupsim_save_order(const strata_groupsim_result *res, const char *path, char *err,
                               size_t errlen)
{
    return save_one(res, path, strata_groupsim_write_order, err, errlen);
}

int strata_groupsim_save(const strata_groupsim_result *res, const char *assign_path,
                         const char *json_path, char *err, size_t errlen)
{
    int rc = save_one(res, assign_path, strata_groupsim_write_assign, err, errlen);
    return rc ? rc : save_one(res, json_path, strata_groupsim_write_json, err, errlen);
}

int strata_groupsim_scenario_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "form") == 0 || strcmp(name, "groups") == 0)
        return STRATA_GROUPSIM_FORM;
    if (strcmp(name, "failure") == 0)
        return STRATA_GROUPSIM_FAILURE;
    if (strcmp(name, "churn") == 0)
        return STRATA_GROUPSIM_CHURN;
    return -1;
}
