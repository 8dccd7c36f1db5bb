/*
 * The "mesh" baseline: random mesh pull with buffer maps, in the manner of
 * CoolStreaming/DONet (Zhang, Liu, Li, Yum, INFOCOM 2005). Simulator only;
 * alg_common.h has the wire format and the playout window.
 *
 * Membership. Node 0 runs a tracker: a peer (and the source) sends JOIN
 * with its declared upload and gets PEERS, up to MESH_CANDIDATES members
 * drawn uniformly at random; MORE asks again. Members send HB every
 * heartbeat_ms and are forgotten after 3.5 heartbeats of silence (or at
 * LEAVE); an HB from a member the tracker forgot is answered WHO, and the
 * peer joins again. The tracker knows the source from the start, as a real
 * one is configured with its channel's origin. All of it travels as
 * datagrams and counts as control.
 *
 * Partnerships. A peer asks candidates (PARTNER) until it has
 * MESH_TARGET_PARTNERS; a node accepts (PARTNER_ACK) while it has fewer
 * than MESH_MAX_PARTNERS. The source accepts only as many as it can send
 * the whole stream to (STRATA_SIMBL_USABLE_PERCENT of its upload over the
 * stream rate, at least one): being the only holder of each new packet,
 * it is asked for nearly all of it by every partner. A partner silent for
 * MESH_SILENCE_HB heartbeats, or that sent LEAVE, is dropped, and the peer
 * refills from its candidates, then from the tracker.
 *
 * Buffer maps. Partners exchange BUFFERMAPs periodically (at random
 * phases), and once at the start of a partnership; a map covers the last
 * two playout delays of what the node holds and carries its partner
 * count. The period is the playout delay / MESH_BUFFERMAP_PER_DELAY,
 * within [MESH_BUFFERMAP_MIN_MS, MESH_BUFFERMAP_MAX_MS]: 250 ms for the
 * default 3 s. CoolStreaming's 1 s costs a hop about 0.5 s of waiting on
 * average, and a random mesh of thousands of peers is several hops deep:
 * with a 3 s playout delay that misses a large share of the deadlines
 * (1,000 peers on planetlab490, 60 s: delivery 0.77 and lag p50 5.6 s with
 * 1 s maps, 0.999 and 2.7 s with 250 ms), so the period follows the delay
 * instead.
 *
 * Pull scheduling. After each buffer map received and at each tick, a peer
 * lists the seqs from its playout head to the newest a partner offers that
 * it neither holds nor has asked for, and assigns them rarest first (fewest
 * partners holding it; equal rarity, oldest first). Each goes to the
 * holder that will be free soonest by the peer's estimate: a partner's
 * share of upload is STRATA_SIMBL_USABLE_PERCENT of what it declared times
 * MESH_OVERCOMMIT, divided by its partner count, and a partner gets no more
 * than one buffer-map period of work ahead. Seqs for one partner go in one
 * REQUEST (at most MESH_MAX_REQ). A request not answered by its estimated
 * completion plus MESH_REQ_SLACK_MS is forgotten and the seq is asked
 * again, from whoever then looks best.
 *
 * Serving. A node queues what a partner asks for and holds, in arrival
 * order (a FIFO of two buffer-map periods of its own upload; what does not
 * fit is not answered), and sends from it paced to its declared upload,
 * keeping at most MESH_PACE_AHEAD_MS of work, and half its uplink's queue,
 * on the uplink, as a sender over TCP or with its own pacing would;
 * dumping every request into the uplink's drop-tail queue at once would
 * lose most of a burst.
 *
 * Play-out. A joining peer starts playing at the newest seq of the first
 * non-empty buffer map it gets (the live edge as its partners know it) and
 * then plays as alg_common.h describes, with the scenario's playout delay.
 *
 * Timers per node: join_at (until PEERS), hb_at, tick_at (buffer maps,
 * expiry, refill, timeouts, scheduling), pace_at (the send queue) and the
 * playout deadline; the tracker's sweep_at.
 */
#include "alg_common.h"

#include <string.h>

enum mesh_params {
    MESH_TARGET_PARTNERS = 8,
    MESH_MAX_PARTNERS = 12,
    MESH_CANDIDATES = 16,
    MESH_BUFFERMAP_PER_DELAY = 12, /* buffer maps per playout delay */
    MESH_BUFFERMAP_MIN_MS = 100,
    MESH_BUFFERMAP_MAX_MS = 1000,
    MESH_SILENCE_HB = 3,
    MESH_PENDING_MS = 2000,
    MESH_MORE_MS = 2000,
    MESH_JOIN_RETRY_MS = 1000,
    MESH_REQ_SLACK_MS = 1000,
    MESH_MAX_REQ = 64,
    MESH_OVERCOMMIT = 2,
    MESH_PACE_AHEAD_MS = 50,
    MESH_SENDQ_MIN = 32,
    MESH_SENDQ_MAX = 1024,
    MESH_PEER_OUTBOX = 192,
    MESH_FIXED_OUTBOX = 2048,
};

enum partner_state { P_FREE = 0, P_PENDING = 1, P_UP = 2 };

typedef struct mpartner {
    uint64_t heard_ns; /* last datagram from it */
    uint64_t since_ns; /* P_PENDING: when we asked */
    uint64_t busy_ns;  /* when what we asked of it should be sent */
    uint64_t map_lo, map_hi;
    uint32_t node, kbps;
    uint16_t port;
    uint8_t state, their_partners;
} mpartner;

/* A seq a partner asked for, waiting for the uplink. */
typedef struct sendq_item {
    uint64_t seq;
    uint32_t node;
    uint16_t port;
} sendq_item;

typedef struct mnode {
    strata_simbl_window win;
    strata_rng rng;
    uint64_t tick_at, hb_at, join_at, more_at;
    uint64_t pace_at;  /* next send from sendq, STRATA_NEVER if empty */
    uint64_t ahead_ns; /* work it keeps queued on its uplink */
    uint64_t free_ns;  /* when its uplink will have sent what it was given */
    sendq_item *sendq; /* FIFO ring of sendq_cap */
    uint32_t sendq_cap, sendq_head, sendq_n;
    uint64_t req_floor;                /* requests below this seq are cleared */
    uint64_t *maps;                    /* MESH_MAX_PARTNERS x words: partners' buffer maps */
    uint64_t *reqbits;                 /* words: asked for, by position */
    uint32_t *req_ms;                  /* by position: when the request expires (ms) */
    uint8_t *req_from;                 /* by position: partner slot asked */
    uint32_t pnode[MESH_MAX_PARTNERS]; /* part[j].node, UINT32_MAX when free: one
                                        * cache line to look a sender up in */
    mpartner part[MESH_MAX_PARTNERS];
    strata_addr cand[MESH_CANDIDATES];
    uint8_t ncand, cand_next;
    uint8_t max_partners;
    uint8_t joined, is_source;
    uint16_t port;
    uint32_t kbps;
} mnode;

typedef struct mesh_alg {
    strata_simbl_base b; /* first: the shared entries take the state as one */
    mnode **node;
    uint32_t words;
    uint32_t bm_bits; /* seqs a buffer map covers */
    uint64_t bm_ns;   /* buffer-map period */
    uint64_t src_seq;
    /* scheduling scratch */
    uint64_t *cand_seq;
    uint8_t *cand_cnt;
    uint16_t *cand_who; /* partner slots holding it, as bits */
    uint32_t *order;
    uint64_t req_list[MESH_MAX_PARTNERS][MESH_MAX_REQ];
    uint32_t req_n[MESH_MAX_PARTNERS];
    /* counters */
    uint64_t partners_added, partners_lost, requests, requested_seqs, timeouts, served, refused;
} mesh_alg;

static uint32_t ms_of(uint64_t ns)
{
    uint64_t ms = ns / 1000000;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

static uint64_t *map_of(mesh_alg *a, mnode *n, unsigned j)
{
    return n->maps + (size_t)j * a->words;
}

static unsigned count_in(const mnode *n, uint8_t state)
{
    unsigned c = 0;
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++)
        c += n->part[j].state == state;
    return c;
}

/* The slot of node fnode (any session), or -1. */
static int find_partner(const mnode *n, uint32_t fnode)
{
    for (int j = 0; j < MESH_MAX_PARTNERS; j++)
        if (n->pnode[j] == fnode)
            return j;
    return -1;
}

static int free_slot(const mnode *n)
{
    return find_partner(n, UINT32_MAX);
}

/* Takes slot j for a session of node fnode (state set by the caller). */
static mpartner *claim(mnode *n, unsigned j, uint32_t fnode, uint16_t port)
{
    mpartner *p = &n->part[j];
    memset(p, 0, sizeof *p);
    p->node = fnode;
    p->port = port;
    n->pnode[j] = fnode;
    return p;
}

static strata_addr partner_addr(const mpartner *p)
{
    return strata_simbl_addr(p->node, p->port);
}

/* --- sending --------------------------------------------------------------------------- */

static void send_buffermap(mesh_alg *a, uint32_t idx, mnode *n, const mpartner *p)
{
    uint8_t bits[STRATA_SIMBL_MAX_MAP_BITS / 8];
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_BUFFERMAP;
    m.flag = (uint8_t)count_in(n, P_UP);
    uint64_t hi = n->win.started ? n->win.hi : 0;
    uint64_t base = hi > a->bm_bits ? (hi - a->bm_bits + 7) / 8 * 8 : 0;
    uint64_t nbits = (hi - base + 7) / 8 * 8;
    m.seq = base;
    m.nbits = (uint16_t)nbits;
    m.bits = bits;
    strata_simbl_window_map(&n->win, base, (uint32_t)nbits, bits);
    strata_simbl_send(&a->b, idx, partner_addr(p), &m);
}

static void send_join(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    strata_simbl_send_kbps(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_JOIN, 0,
                           n->kbps);
    n->join_at = now + STRATA_MS(MESH_JOIN_RETRY_MS);
}

/* --- partners ---------------------------------------------------------------------------- */

static void partner_up(mesh_alg *a, mnode *n, unsigned j, uint32_t kbps, uint64_t now)
{
    mpartner *p = &n->part[j];
    p->state = P_UP;
    p->kbps = kbps;
    p->heard_ns = now;
    p->busy_ns = now;
    p->map_lo = p->map_hi = 0;
    p->their_partners = 1;
    memset(map_of(a, n, j), 0, a->words * sizeof(uint64_t));
    a->partners_added++;
}

static void partner_drop(mesh_alg *a, mnode *n, unsigned j)
{
    if (n->part[j].state == P_UP)
        a->partners_lost++;
    memset(&n->part[j], 0, sizeof n->part[j]);
    n->pnode[j] = UINT32_MAX;
}

/* Asks candidates until established and pending partners reach the
 * target; then the tracker, at most every MESH_MORE_MS. */
static void refill(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    if (n->is_source)
        return;
    while (count_in(n, P_UP) + count_in(n, P_PENDING) < MESH_TARGET_PARTNERS &&
           n->cand_next < n->ncand) {
        strata_addr c = n->cand[n->cand_next++];
        uint32_t cn = strata_world_node_of(c);
        int j = free_slot(n);
        if (cn == idx || find_partner(n, cn) >= 0 || j < 0)
            continue;
        mpartner *p = claim(n, (unsigned)j, cn, c.port);
        p->state = P_PENDING;
        p->since_ns = now;
        strata_simbl_send_kbps(&a->b, idx, c, STRATA_SIMBL_PARTNER, 0, n->kbps);
    }
    if (n->joined && count_in(n, P_UP) + count_in(n, P_PENDING) < MESH_TARGET_PARTNERS &&
        now >= n->more_at) {
        strata_simbl_send_bare(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_MORE, 0);
        n->more_at = now + STRATA_MS(MESH_MORE_MS);
    }
}

/* --- pull scheduling ---------------------------------------------------------------------- */

/* Forgets requests for seqs the playout head has passed. */
static void clear_passed(mesh_alg *a, mnode *n)
{
    uint64_t to = n->win.next;
    if (to <= n->req_floor)
        return;
    if (to - n->req_floor >= a->b.window) {
        memset(n->reqbits, 0, a->words * sizeof(uint64_t));
    } else {
        for (uint64_t s = n->req_floor; s < to; s++) {
            uint32_t p = (uint32_t)(s & (a->b.window - 1));
            n->reqbits[p >> 6] &= ~(1ull << (p & 63));
        }
    }
    n->req_floor = to;
}

/* Bits off..off+span-1 of a word, for seqs [s, s + span) clipped to
 * [lo, hi). */
static uint64_t span_mask(uint64_t s, uint64_t span, unsigned off, uint64_t lo, uint64_t hi)
{
    uint64_t a = s > lo ? s : lo, b = s + span < hi ? s + span : hi;
    if (a >= b)
        return 0;
    uint64_t n = b - a;
    return (n == 64 ? ~0ull : ((1ull << n) - 1)) << (off + (a - s));
}

/* The wanted seqs (held by a partner, neither held nor asked) from the
 * head to the newest on offer, each with the set of partners holding it,
 * a word at a time. */
static uint32_t list_wanted(mesh_alg *a, mnode *n)
{
    uint32_t W = a->b.window;
    unsigned up[MESH_MAX_PARTNERS], nup = 0;
    uint64_t lo = n->win.next, end = lo;
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++) {
        if (n->part[j].state != P_UP || n->part[j].map_hi <= lo)
            continue;
        up[nup++] = j;
        end = n->part[j].map_hi > end ? n->part[j].map_hi : end;
    }
    if (end - lo > W)
        end = lo + W;
    uint32_t nc = 0;
    for (uint64_t s = lo; s < end;) {
        uint32_t p = (uint32_t)(s & (W - 1)), wi = p >> 6, off = p & 63;
        uint64_t span = strata_simbl_min(64 - off, end - s);
        uint64_t word[MESH_MAX_PARTNERS], any = 0;
        for (unsigned u = 0; u < nup; u++) {
            const mpartner *pp = &n->part[up[u]];
            word[u] = map_of(a, n, up[u])[wi] & span_mask(s, span, off, pp->map_lo, pp->map_hi);
            any |= word[u];
        }
        /* Held bits count only for seqs below hi; above, a position still
         * holds the packet one window older. */
        uint64_t held = n->win.bits[wi] & span_mask(s, span, off, s, n->win.hi);
        uint64_t want = any & ~held & ~n->reqbits[wi];
        while (want) {
            unsigned b = (unsigned)__builtin_ctzll(want);
            want &= want - 1;
            uint16_t who = 0;
            for (unsigned u = 0; u < nup; u++)
                who = (uint16_t)(who | ((word[u] >> b & 1u) << up[u]));
            a->cand_seq[nc] = s + (b - off);
            a->cand_who[nc] = who;
            a->cand_cnt[nc] = (uint8_t)__builtin_popcount(who);
            nc++;
        }
        s += span;
    }
    return nc;
}

/* Sends partner j the seqs assigned to it, as one bitmap. */
static void send_request(mesh_alg *a, uint32_t idx, mnode *n, unsigned j)
{
    uint32_t cnt = a->req_n[j];
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        lo = strata_simbl_min(lo, a->req_list[j][i]);
        hi = a->req_list[j][i] > hi ? a->req_list[j][i] : hi;
    }
    uint8_t bits[STRATA_SIMBL_MAX_MAP_BITS / 8];
    uint64_t nbits = (hi - lo + 1 + 7) / 8 * 8;
    memset(bits, 0, nbits / 8);
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t off = a->req_list[j][i] - lo;
        bits[off / 8] |= (uint8_t)(1u << (off & 7));
    }
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_REQUEST;
    m.seq = lo;
    m.nbits = (uint16_t)nbits;
    m.bits = bits;
    strata_simbl_send(&a->b, idx, partner_addr(&n->part[j]), &m);
    a->requests++;
    a->requested_seqs += cnt;
}

static void schedule(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    if (n->is_source || !n->win.started || count_in(n, P_UP) == 0)
        return;
    clear_passed(a, n);
    uint32_t nc = list_wanted(a, n);
    if (nc == 0)
        return;
    /* Rarest first: a stable counting sort by holder count. */
    uint32_t start[MESH_MAX_PARTNERS + 2];
    memset(start, 0, sizeof start);
    for (uint32_t i = 0; i < nc; i++)
        start[a->cand_cnt[i] + 1]++;
    for (unsigned c = 1; c < MESH_MAX_PARTNERS + 2; c++)
        start[c] += start[c - 1];
    for (uint32_t i = 0; i < nc; i++)
        a->order[start[a->cand_cnt[i]]++] = i;

    memset(a->req_n, 0, sizeof a->req_n);
    uint64_t tx[MESH_MAX_PARTNERS];
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++) {
        const mpartner *p = &n->part[j];
        uint64_t share = 0; /* kbit/s; 0 = unlimited */
        if (p->kbps) {
            share = (uint64_t)p->kbps * STRATA_SIMBL_USABLE_PERCENT * MESH_OVERCOMMIT / 100 /
                    (p->their_partners ? p->their_partners : 1);
            if (share == 0)
                share = 1;
        }
        tx[j] = strata_simbl_tx_ns(a->b.data_bits, share > UINT32_MAX ? 0 : (uint32_t)share);
    }
    uint32_t W = a->b.window;
    for (uint32_t o = 0; o < nc; o++) {
        uint64_t seq = a->cand_seq[a->order[o]];
        int best = -1;
        for (unsigned who = a->cand_who[a->order[o]]; who; who &= who - 1) {
            unsigned j = (unsigned)__builtin_ctz(who);
            if (a->req_n[j] < MESH_MAX_REQ &&
                (best < 0 || n->part[j].busy_ns < n->part[best].busy_ns))
                best = (int)j;
        }
        if (best < 0)
            continue;
        mpartner *p = &n->part[best];
        uint64_t fin = (p->busy_ns > now ? p->busy_ns : now) + tx[best];
        if (fin - now > a->bm_ns)
            continue; /* that partner has a period's work already */
        p->busy_ns = fin;
        a->req_list[best][a->req_n[best]++] = seq;
        uint32_t pos = (uint32_t)(seq & (W - 1));
        n->reqbits[pos >> 6] |= 1ull << (pos & 63);
        n->req_ms[pos] = ms_of(fin + STRATA_MS(MESH_REQ_SLACK_MS));
        n->req_from[pos] = (uint8_t)best;
    }
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++)
        if (a->req_n[j])
            send_request(a, idx, n, j);
}

/* Forgets requests past their expiry, so that they are asked again. */
static void expire_requests(mesh_alg *a, mnode *n, uint64_t now)
{
    uint32_t now_ms = ms_of(now);
    for (uint32_t wi = 0; wi < a->words; wi++) {
        uint64_t word = n->reqbits[wi];
        while (word) {
            unsigned b = (unsigned)__builtin_ctzll(word);
            word &= word - 1;
            uint32_t pos = wi * 64 + b;
            if (n->req_ms[pos] > now_ms)
                continue;
            n->reqbits[wi] &= ~(1ull << b);
            a->timeouts++;
            /* The partner is behind our estimate: let it catch up. */
            mpartner *p = &n->part[n->req_from[pos] % MESH_MAX_PARTNERS];
            if (p->state == P_UP && p->busy_ns < now)
                p->busy_ns = now;
        }
    }
}

/* --- the tracker --------------------------------------------------------------------------- */

static void tracker_send_peers(mesh_alg *a, uint32_t to_node, strata_addr to)
{
    uint32_t pick[MESH_CANDIDATES];
    uint32_t n =
        strata_simbl_registry_sample(&a->b.reg, &a->b.trk_rng, to_node, pick, MESH_CANDIDATES);
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = STRATA_SIMBL_PEERS;
    m.count = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++)
        m.addrs[i] = strata_simbl_addr(pick[i], a->b.reg.m[pick[i]].port);
    strata_simbl_send(&a->b, STRATA_WORLD_CONTROL, to, &m);
}

/* JOIN and MORE are answered with random members (HB and LEAVE are the
 * base's). */
static int tracker_hook(void *alg, strata_addr from, const strata_simbl_msg *m, uint64_t now)
{
    mesh_alg *a = alg;
    uint32_t fn = strata_world_node_of(from);
    if (m->type == STRATA_SIMBL_JOIN)
        strata_simbl_registry_add(&a->b.reg, fn, from.port, m->kbps, now);
    else if (m->type != STRATA_SIMBL_MORE) {
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    tracker_send_peers(a, fn, from);
    return 0;
}

/* --- a node's messages ------------------------------------------------------------------------ */

static void on_partner_request(mesh_alg *a, uint32_t idx, mnode *n, strata_addr from,
                               const strata_simbl_msg *m, uint64_t now)
{
    uint32_t fn = strata_world_node_of(from);
    int j = find_partner(n, fn);
    if (j >= 0 && n->part[j].port != from.port) {
        partner_drop(a, n, (unsigned)j); /* an older session of that node */
        j = -1;
    }
    if (j < 0 && count_in(n, P_UP) + count_in(n, P_PENDING) < n->max_partners)
        j = free_slot(n);
    if (j < 0) {
        strata_simbl_send_kbps(&a->b, idx, from, STRATA_SIMBL_PARTNER_ACK, 0, n->kbps);
        return;
    }
    if (n->part[j].state != P_UP) {
        claim(n, (unsigned)j, fn, from.port);
        partner_up(a, n, (unsigned)j, m->kbps, now);
    }
    strata_simbl_send_kbps(&a->b, idx, from, STRATA_SIMBL_PARTNER_ACK, 1, n->kbps);
    send_buffermap(a, idx, n, &n->part[j]);
}

static void on_buffermap(mesh_alg *a, uint32_t idx, mnode *n, unsigned j, const strata_simbl_msg *m,
                         uint64_t now)
{
    mpartner *p = &n->part[j];
    uint32_t W = a->b.window;
    uint64_t *map = map_of(a, n, j);
    memset(map, 0, a->words * sizeof(uint64_t));
    uint64_t base = m->seq, top = UINT64_MAX;
    if (base > UINT64_MAX - m->nbits) {
        a->b.drops[STRATA_SIMBL_DROP_RANGE]++;
        return;
    }
    uint64_t end = base + m->nbits;
    uint64_t lo = end - base > W ? end - W : base;
    for (uint32_t i = 0; i < m->nbits / 8u; i++) {
        unsigned byte = m->bits[i];
        uint64_t s = base + 8u * i;
        if (!byte || s + 8 <= lo)
            continue;
        if (s < lo)
            byte &= 0xffu << (lo - s);
        uint32_t pos = (uint32_t)(s & (W - 1));
        if ((pos & 7) == 0) {
            /* An aligned byte: a window is a multiple of 64, so it never
             * straddles two words. */
            if (byte)
                map[pos >> 6] |= (uint64_t)byte << (pos & 63);
        } else {
            for (unsigned b = 0; b < 8; b++) {
                if (!(byte >> b & 1u))
                    continue;
                uint32_t q = (uint32_t)((s + b) & (W - 1));
                map[q >> 6] |= 1ull << (q & 63);
            }
        }
        if (byte)
            top = s + 31 - (unsigned)__builtin_clz(byte);
    }
    p->map_lo = lo;
    p->map_hi = end;
    p->their_partners = m->flag;
    if (!n->win.started && top != UINT64_MAX) {
        /* Join at the live edge as this partner knows it. */
        strata_simbl_window_start(&n->win, top);
        n->req_floor = top;
    }
    schedule(a, idx, n, now);
}

/* Sends queued seqs while the uplink has less than MESH_PACE_AHEAD_MS of
 * work (an unlimited one takes everything at once), as a sender pacing
 * itself to its link would, rather than overflowing its socket buffer. */
static void pace(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    uint64_t ahead = n->ahead_ns;
    while (n->sendq_n > 0 && (n->kbps == 0 || n->free_ns <= now + ahead)) {
        sendq_item it = n->sendq[n->sendq_head];
        n->sendq_head = (n->sendq_head + 1) % n->sendq_cap;
        n->sendq_n--;
        int j = find_partner(n, it.node);
        const uint8_t *pl = strata_simbl_window_payload(&n->win, it.seq);
        if (j < 0 || n->part[j].port != it.port || n->part[j].state != P_UP || !pl)
            continue; /* the partner left, or the packet left the window */
        strata_simbl_msg d;
        memset(&d, 0, sizeof d);
        d.type = STRATA_SIMBL_DATA;
        d.seq = it.seq;
        d.payload = pl;
        strata_simbl_send(&a->b, idx, strata_simbl_addr(it.node, it.port), &d);
        a->served++;
        if (n->kbps)
            n->free_ns =
                (n->free_ns > now ? n->free_ns : now) + strata_simbl_tx_ns(a->b.data_bits, n->kbps);
    }
    n->pace_at = n->sendq_n ? n->free_ns - ahead : STRATA_NEVER;
}

/* Queues what a partner asks for that we hold, oldest first; what does
 * not fit the queue is not answered (the asker times out). */
static void on_request(mesh_alg *a, uint32_t idx, mnode *n, strata_addr from,
                       const strata_simbl_msg *m, uint64_t now)
{
    uint32_t fn = strata_world_node_of(from);
    unsigned taken = 0;
    for (uint32_t i = 0; i < m->nbits && taken < MESH_MAX_REQ; i++) {
        if (!(m->bits[i / 8] >> (i & 7) & 1u) || m->seq > UINT64_MAX - i ||
            !strata_simbl_window_has(&n->win, m->seq + i))
            continue;
        taken++;
        if (n->sendq_n == n->sendq_cap) {
            a->refused++;
            continue;
        }
        n->sendq[(n->sendq_head + n->sendq_n) % n->sendq_cap] =
            (sendq_item){m->seq + i, fn, from.port};
        n->sendq_n++;
    }
    pace(a, idx, n, now);
}

static void play(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    strata_simbl_play(&a->b, idx, &n->win, now);
    clear_passed(a, n);
}

static void on_data(mesh_alg *a, uint32_t idx, mnode *n, const strata_simbl_msg *m, uint64_t now)
{
    if (m->stripe != 0 || n->is_source) {
        a->b.drops[STRATA_SIMBL_DROP_RANGE]++;
        return;
    }
    int rc = strata_simbl_window_insert(&n->win, m->seq, m->payload, now);
    if (rc < 0) {
        a->b.drops[STRATA_SIMBL_DROP_RANGE]++;
        return;
    }
    uint32_t pos = (uint32_t)(m->seq & (a->b.window - 1));
    n->reqbits[pos >> 6] &= ~(1ull << (pos & 63));
    play(a, idx, n, now);
}

static int node_hook(void *alg, uint32_t idx, strata_addr from, const strata_simbl_msg *m,
                     uint64_t now)
{
    mesh_alg *a = alg;
    mnode *n = a->node[idx];
    uint32_t fn = strata_world_node_of(from);
    if (fn == STRATA_WORLD_CONTROL) {
        if (m->type == STRATA_SIMBL_PEERS) {
            n->joined = 1;
            n->ncand = 0;
            n->cand_next = 0;
            for (unsigned i = 0; i < m->count && n->ncand < MESH_CANDIDATES; i++)
                n->cand[n->ncand++] = m->addrs[i];
            refill(a, idx, n, now);
            return 0;
        }
        if (m->type == STRATA_SIMBL_WHO) {
            n->joined = 0;
            send_join(a, idx, n, now);
            return 0;
        }
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    if (m->type == STRATA_SIMBL_PARTNER) {
        on_partner_request(a, idx, n, from, m, now);
        return 0;
    }
    int j = find_partner(n, fn);
    if (j < 0 || n->part[j].port != from.port) {
        a->b.drops[STRATA_SIMBL_DROP_STRANGER]++;
        return STRATA_ERR_UNEXPECTED;
    }
    mpartner *p = &n->part[j];
    if (m->type == STRATA_SIMBL_PARTNER_ACK) {
        if (p->state != P_PENDING)
            return 0; /* a repeated answer */
        if (!m->flag) {
            partner_drop(a, n, (unsigned)j);
            refill(a, idx, n, now);
            return 0;
        }
        partner_up(a, n, (unsigned)j, m->kbps, now);
        send_buffermap(a, idx, n, p);
        return 0;
    }
    if (m->type == STRATA_SIMBL_LEAVE) {
        partner_drop(a, n, (unsigned)j);
        refill(a, idx, n, now);
        return 0;
    }
    if (p->state != P_UP) {
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
    p->heard_ns = now;
    switch (m->type) {
    case STRATA_SIMBL_BUFFERMAP:
        on_buffermap(a, idx, n, (unsigned)j, m, now);
        return 0;
    case STRATA_SIMBL_REQUEST:
        on_request(a, idx, n, from, m, now);
        return 0;
    case STRATA_SIMBL_DATA:
        on_data(a, idx, n, m, now);
        return 0;
    default:
        a->b.drops[STRATA_SIMBL_DROP_UNEXPECTED]++;
        return STRATA_ERR_UNEXPECTED;
    }
}

/* Buffer maps, expiry, refill, request timeouts, scheduling. */
static void node_tick(mesh_alg *a, uint32_t idx, mnode *n, uint64_t now)
{
    uint64_t silence = a->b.hb_ns * MESH_SILENCE_HB;
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++) {
        mpartner *p = &n->part[j];
        if ((p->state == P_UP && now - p->heard_ns > silence) ||
            (p->state == P_PENDING && now - p->since_ns > STRATA_MS(MESH_PENDING_MS)))
            partner_drop(a, n, j);
    }
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++)
        if (n->part[j].state == P_UP)
            send_buffermap(a, idx, n, &n->part[j]);
    refill(a, idx, n, now);
    if (!n->is_source) {
        expire_requests(a, n, now);
        schedule(a, idx, n, now);
    }
    n->tick_at = now + a->bm_ns;
}

/* --- the strata_simalg entries -------------------------------------------------------------- */

static void node_del(void *alg, uint32_t idx)
{
    mesh_alg *a = alg;
    mnode *n = a->node[idx];
    if (!n)
        return;
    strata_simbl_window_free(&n->win);
    strata_mem_free(a->b.alloc, n->maps);
    strata_mem_free(a->b.alloc, n->reqbits);
    strata_mem_free(a->b.alloc, n->req_ms);
    strata_mem_free(a->b.alloc, n->req_from);
    strata_mem_free(a->b.alloc, n->sendq);
    strata_mem_free(a->b.alloc, n);
    a->node[idx] = NULL;
}

static void mesh_free(void *state)
{
    mesh_alg *a = state;
    if (!a)
        return;
    if (a->node)
        for (uint32_t i = 0; i < a->b.nodes; i++)
            node_del(a, i);
    const strata_alloc *al = a->b.alloc;
    strata_mem_free(al, a->node);
    strata_mem_free(al, a->cand_seq);
    strata_mem_free(al, a->cand_cnt);
    strata_mem_free(al, a->cand_who);
    strata_mem_free(al, a->order);
    strata_simbl_base_free(&a->b);
    strata_mem_free(al, a);
}

static int mesh_init(strata_world *w, void **state)
{
    const strata_alloc *al = strata_world_alloc(w);
    static const strata_simbl_hooks hooks = {tracker_hook, node_hook, node_del, NULL};
    mesh_alg *a = strata_mem_calloc(al, 1, sizeof *a);
    if (!a)
        return STRATA_ERR_NOMEM;
    a->b.alloc = al;
    int rc = strata_simbl_base_init(&a->b, w, &hooks);
    if (rc < 0) {
        mesh_free(a);
        return rc;
    }
    a->words = a->b.window / 64;
    const strata_scenario *scn = strata_world_scenario(w);
    uint64_t bm_ms = scn->playout_delay_ms / MESH_BUFFERMAP_PER_DELAY;
    bm_ms = bm_ms < MESH_BUFFERMAP_MIN_MS ? MESH_BUFFERMAP_MIN_MS : bm_ms;
    a->bm_ns = STRATA_MS(bm_ms > MESH_BUFFERMAP_MAX_MS ? MESH_BUFFERMAP_MAX_MS : bm_ms);
    /* Maps cover two playout delays (a partner further behind than that
     * cannot play what we hold anyway), at most the window. */
    uint64_t cover = 2 * STRATA_MS(scn->playout_delay_ms) / a->b.interval_ns + 8;
    cover = (cover + 7) / 8 * 8;
    a->bm_bits = (uint32_t)(cover < a->b.window ? cover : a->b.window);
    a->node = strata_mem_calloc(al, a->b.nodes, sizeof *a->node);
    a->cand_seq = strata_mem_calloc(al, a->b.window, sizeof *a->cand_seq);
    a->cand_cnt = strata_mem_calloc(al, a->b.window, sizeof *a->cand_cnt);
    a->cand_who = strata_mem_calloc(al, a->b.window, sizeof *a->cand_who);
    a->order = strata_mem_calloc(al, a->b.window, sizeof *a->order);
    if (!a->node || !a->cand_seq || !a->cand_cnt || !a->cand_who || !a->order) {
        mesh_free(a);
        return STRATA_ERR_NOMEM;
    }
    *state = a;
    return 0;
}

/* Two buffer-map periods of the node's own upload, in packets. */
static uint32_t sendq_cap_for(const mesh_alg *a, uint32_t kbps)
{
    uint64_t pkts = kbps ? 2 * a->bm_ns / strata_simbl_tx_ns(a->b.data_bits, kbps) : 0;
    if (pkts < MESH_SENDQ_MIN)
        return MESH_SENDQ_MIN;
    return pkts > MESH_SENDQ_MAX ? MESH_SENDQ_MAX : (uint32_t)pkts;
}

static int mesh_node_up(void *state, uint32_t idx, uint64_t now)
{
    mesh_alg *a = state;
    strata_world *w = a->b.w;
    if (idx >= a->b.nodes)
        return STRATA_ERR_INVAL;
    if (idx == STRATA_WORLD_CONTROL) {
        int rc = strata_simbl_base_up(&a->b, idx, MESH_FIXED_OUTBOX);
        return rc < 0 ? rc : strata_simbl_tracker_up(&a->b, now);
    }
    node_del(a, idx);
    mnode *n = strata_mem_calloc(a->b.alloc, 1, sizeof *n);
    if (!n)
        return STRATA_ERR_NOMEM;
    a->node[idx] = n;
    n->maps = strata_mem_calloc(a->b.alloc, (size_t)MESH_MAX_PARTNERS * a->words, sizeof *n->maps);
    n->reqbits = strata_mem_calloc(a->b.alloc, a->words, sizeof *n->reqbits);
    n->req_ms = strata_mem_calloc(a->b.alloc, a->b.window, sizeof *n->req_ms);
    n->req_from = strata_mem_calloc(a->b.alloc, a->b.window, sizeof *n->req_from);
    n->is_source = idx == STRATA_WORLD_SOURCE;
    n->kbps = strata_world_upload_kbps(w, idx);
    n->sendq_cap = sendq_cap_for(a, n->kbps);
    n->sendq = strata_mem_calloc(a->b.alloc, n->sendq_cap, sizeof *n->sendq);
    n->pace_at = STRATA_NEVER;
    /* Half its socket buffer at most, so that paced data never overflows. */
    uint64_t qbits = (uint64_t)strata_scenario_queue_bytes(strata_world_scenario(w)) * 8 / 2;
    n->ahead_ns =
        strata_simbl_min(STRATA_MS(MESH_PACE_AHEAD_MS), strata_simbl_tx_ns(qbits, n->kbps));
    if (!n->maps || !n->reqbits || !n->req_ms || !n->req_from || !n->sendq ||
        strata_simbl_window_init(&n->win, a->b.alloc, a->b.window, a->b.delay_ns) < 0 ||
        strata_simbl_base_up(&a->b, idx, n->is_source ? MESH_FIXED_OUTBOX : MESH_PEER_OUTBOX) < 0) {
        node_del(a, idx);
        return STRATA_ERR_NOMEM;
    }
    strata_rng_seed(&n->rng, strata_world_node_seed(w, idx));
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++)
        n->pnode[j] = UINT32_MAX;
    n->port = strata_world_addr(w, idx).port;
    n->max_partners = MESH_MAX_PARTNERS;
    if (n->is_source) {
        strata_simbl_window_start(&n->win, a->src_seq);
        /* Every partner of the source pulls nearly every packet from it
         * (it is the only holder at first), so it takes no more than it
         * can feed. */
        uint64_t feeds =
            n->kbps ? (uint64_t)n->kbps * STRATA_SIMBL_USABLE_PERCENT / (100ull * a->b.rate_kbps)
                    : MESH_MAX_PARTNERS;
        n->max_partners = (uint8_t)(feeds < 1                   ? 1
                                    : feeds > MESH_MAX_PARTNERS ? MESH_MAX_PARTNERS
                                                                : feeds);
    }
    n->tick_at = strata_simbl_jitter(&n->rng, now, a->bm_ns);
    n->hb_at = strata_simbl_jitter(&n->rng, now + a->b.hb_ns / 2, a->b.hb_ns);
    send_join(a, idx, n, now);
    return 0;
}

static void mesh_node_down(void *state, uint32_t idx, int graceful, uint64_t now)
{
    mesh_alg *a = state;
    mnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    (void)now;
    if (!graceful || !n)
        return;
    strata_simbl_send_bare(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_LEAVE, 0);
    for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++)
        if (n->part[j].state != P_FREE)
            strata_simbl_send_bare(&a->b, idx, partner_addr(&n->part[j]), STRATA_SIMBL_LEAVE, 0);
}

static void mesh_handle_timeout(void *state, uint32_t idx, uint64_t now)
{
    mesh_alg *a = state;
    if (idx == STRATA_WORLD_CONTROL) {
        strata_simbl_tracker_timeout(&a->b, now);
        return;
    }
    mnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    if (!n)
        return;
    if (!n->joined && now >= n->join_at)
        send_join(a, idx, n, now);
    if (now >= n->hb_at) {
        strata_simbl_send_kbps(&a->b, idx, strata_simbl_tracker_addr(&a->b), STRATA_SIMBL_HB, 0,
                               n->kbps);
        n->hb_at = now + a->b.hb_ns;
    }
    if (now >= n->tick_at)
        node_tick(a, idx, n, now);
    if (now >= n->pace_at)
        pace(a, idx, n, now);
    if (!n->is_source && now >= strata_simbl_window_deadline(&n->win))
        play(a, idx, n, now);
}

static uint64_t mesh_next_timeout(void *state, uint32_t idx)
{
    mesh_alg *a = state;
    if (idx == STRATA_WORLD_CONTROL)
        return a->b.sweep_at;
    const mnode *n = idx < a->b.nodes ? a->node[idx] : NULL;
    if (!n)
        return STRATA_NEVER;
    uint64_t t = strata_simbl_min(strata_simbl_min(n->hb_at, n->tick_at), n->pace_at);
    if (!n->joined)
        t = strata_simbl_min(t, n->join_at);
    if (!n->is_source)
        t = strata_simbl_min(t, strata_simbl_window_deadline(&n->win));
    return t;
}

static int mesh_source_push(void *state, const uint8_t *payload, size_t len, uint64_t now)
{
    mesh_alg *a = state;
    mnode *n = a->node[STRATA_WORLD_SOURCE];
    if (!n || len != STRATA_SIMBL_PAYLOAD_BYTES)
        return STRATA_ERR_INVAL;
    if (strata_simbl_window_insert(&n->win, a->src_seq, payload, now) < 0)
        return STRATA_ERR_INVAL;
    a->src_seq++;
    return 0;
}

const strata_simalg strata_simalg_mesh = {
    .name = "mesh",
    .init = mesh_init,
    .free = mesh_free,
    .node_up = mesh_node_up,
    .node_down = mesh_node_down,
    .node_free = strata_simbl_node_free,
    .handle_datagram = strata_simbl_handle_datagram,
    .handle_timeout = mesh_handle_timeout,
    .next_timeout = mesh_next_timeout,
    .outbox = strata_simbl_outbox,
    .source_push = mesh_source_push,
    .classify = strata_simbl_classify,
};

int strata_simbl_mesh_stats_of(const strata_world *w, strata_simbl_mesh_stats *st)
{
    memset(st, 0, sizeof *st);
    if (strcmp(strata_world_scenario(w)->algorithm, "mesh") != 0 || !strata_world_alg_state(w))
        return STRATA_ERR_INVAL;
    const mesh_alg *a = strata_world_alg_state(w);
    uint64_t sum = 0;
    st->min_partners = UINT32_MAX;
    for (uint32_t i = STRATA_WORLD_FIRST_PEER; i < a->b.nodes; i++) {
        const mnode *n = a->node[i];
        if (!n || !strata_world_node_online(w, i))
            continue;
        uint32_t up = 0;
        for (unsigned j = 0; j < MESH_MAX_PARTNERS; j++) {
            const mpartner *p = &n->part[j];
            if (p->state != P_UP)
                continue;
            up++;
            if (!strata_world_node_online(w, p->node) ||
                strata_world_addr(w, p->node).port != p->port)
                st->stale_partners++;
        }
        st->peers++;
        sum += up;
        st->min_partners = up < st->min_partners ? up : st->min_partners;
        st->max_partners = up > st->max_partners ? up : st->max_partners;
    }
    if (st->peers == 0)
        st->min_partners = 0;
    st->mean_partners = st->peers ? (double)sum / st->peers : 0;
    st->partners_added = a->partners_added;
    st->partners_lost = a->partners_lost;
    st->requests = a->requests;
    st->requested_seqs = a->requested_seqs;
    st->timeouts = a->timeouts;
    st->served = a->served;
    st->refused = a->refused;
    memcpy(st->drops, a->b.drops, sizeof st->drops);
    return 0;
}
