/*
 * The upstream side of MESH_TREE (protocol.md 3.4 and 3.13, SPEC C4 and
 * C9): a tree per substream inside the top level's mesh, kept whole by the
 * members themselves.
 *
 * Why. Flooding sends every packet over every mesh link, so each member
 * hears it from all its neighbours: c copies or more, most of them from
 * other regions. Here each member takes substream s from MESH_UPSTREAMS
 * (two) neighbours, its upstreams in s, and tells every neighbour ten
 * times a second (MESH_STATE) which substreams it wants from it and how
 * far it has each. A neighbour pushes s only to the members that want s
 * from it (relay_mesh.c), so each packet crosses two links per member
 * instead of c or more. Two, not one: with one, every queue drop and every
 * departure stalls the substream below it until the tree mends, and
 * repairs rose by half (docs/hierarchy.md, "A tree inside the mesh").
 *
 * Choice. While s has a free slot the member wants s from every neighbour
 * (it floods, as FLOOD does); the neighbour whose copy of a packet of s
 * comes first takes a slot, the one whose duplicate comes next the other:
 * the fastest paths, usually the nearest. Its next MESH_STATE makes the
 * others stop (the pruning of epidemic broadcast trees, where the first
 * copy's link stays eager).
 *
 * Repair of the tree. An upstream that has said nothing for MESH_GONE_MS
 * left or died: its slot is freed. When s has not advanced for
 * MESH_BEHIND_ROUNDS rounds while a neighbour reports holding
 * MESH_LAG_PACKETS of s beyond ours, the upstream that brought the fewest
 * first copies gives way to the neighbour furthest ahead. That neighbour
 * sees the new want bit and first sends what it holds of s past the point
 * the member reported (backfill), then pushes as before. A dead upstream
 * therefore costs a substream well under half a second, which the playout
 * delay absorbs, where a tree would wait for the control center; gaps
 * wait MESH_REPAIR_HOLD_MS before repairs are asked.
 *
 * A faster path. The first copies pick the fastest paths once; paths
 * change (members leave, links load). A neighbour's MESH_STATE is already
 * old when it arrives, so one that still shows MESH_LAG_PACKETS of s
 * beyond ours gets s sooner than we do by more than the way between us:
 * when the same neighbour does so MESH_FASTER_ROUNDS rounds in a row, it
 * takes the slot of the upstream that brought the fewest first copies.
 * This is the shortest-path rule of distance vectors, and it settles: the
 * new path is strictly faster.
 *
 * Only what the instruction lists is believed: a MESH_STATE counts only
 * from a neighbour's address with its node id, and it can only change
 * what that neighbour is pushed.
 */
#include "peer_impl.h"

#include <string.h>

enum {
    MESH_UPSTREAMS = 2,         /* neighbours each substream is taken from at once */
    MESH_STATE_MS = 100,        /* a round: MESH_STATE to every neighbour, then the checks */
    MESH_BEHIND_ROUNDS = 2,     /* rounds s stood still behind a neighbour before moving */
    MESH_FASTER_ROUNDS = 3,     /* rounds one neighbour was ahead (s moving) before moving */
    MESH_LAG_PACKETS = 1,       /* packets of s a neighbour must hold beyond ours */
    MESH_HEARD_ROUNDS = 3,      /* a neighbour's state older than this many rounds is stale */
    MESH_GONE_MS = 250,         /* an upstream silent this long left or died */
    MESH_BACKFILL_PACKETS = 64, /* at most this many packets of s sent at a new want bit */
    MESH_REPAIR_HOLD_MS = 300,  /* a gap waits this long for the tree to mend before repairs */
};

typedef struct peer_mesh_nb {
    strata_peer_ref ref;
    uint64_t heard_ns; /* 0 = no MESH_STATE yet */
    uint64_t top;
    uint16_t behind[STRATA_WIRE_MAX_SUBSTREAMS];
} peer_mesh_nb;

/* Substream s's upstreams: zero slots are empty (s is then wanted from
 * every neighbour, and the next copy from another fills one); firsts
 * counts the first copies each slot brought since the last round. */
typedef struct peer_mesh_sub {
    strata_addr up[MESH_UPSTREAMS];
    uint32_t firsts[MESH_UPSTREAMS];
    uint64_t high_then; /* our highest in s at the last round */
    uint8_t behind_rounds;   /* s stood still while a neighbour was ahead */
    uint8_t ahead_rounds;    /* ahead_of was ahead of s */
    strata_addr ahead_of;
} peer_mesh_sub;

struct peer_mesh {
    uint64_t round_at;
    peer_mesh_sub sub[STRATA_WIRE_MAX_SUBSTREAMS];
    uint8_t n_nb;
    peer_mesh_nb nb[STRATA_WIRE_MAX_CHILDREN];
};

static int is_mesh_tree(const strata_peer *p, unsigned s)
{
    return s < p->k && p->relay.trees && p->relay.trees[s].algorithm == STRATA_ALG_MESH_TREE;
}

/* The highest seq of substream s received (repairs included), or 0 with
 * *none set. */
static uint64_t high_of(const strata_peer *p, unsigned s, int *none)
{
    uint64_t next = p->subs[s].rx_next;
    *none = next == 0;
    return next >= p->k ? next - p->k : 0;
}

/* The highest seq of a substream a MESH_STATE's top and behind entry say
 * the sender holds, into *high; 0 when it holds none of it. */
static int held_of(uint64_t top, uint16_t behind, uint64_t *high)
{
    if (top == 0 || behind == STRATA_MESH_STATE_BEHIND_NONE || top < behind)
        return 0;
    *high = top - behind;
    return 1;
}

static peer_mesh_nb *nb_of(struct peer_mesh *m, strata_addr a)
{
    for (unsigned i = 0; i < m->n_nb; i++)
        if (strata_addr_eq(m->nb[i].ref.addr, a))
            return &m->nb[i];
    return NULL;
}

/* The slot of s that holds a, or -1. */
static int slot_of(const peer_mesh_sub *ms, strata_addr a)
{
    for (int i = 0; i < MESH_UPSTREAMS; i++)
        if (!strata_addr_is_zero(ms->up[i]) && strata_addr_eq(ms->up[i], a))
            return i;
    return -1;
}

/* An empty slot of s, or -1. */
static int free_slot(const peer_mesh_sub *ms)
{
    for (int i = 0; i < MESH_UPSTREAMS; i++)
        if (strata_addr_is_zero(ms->up[i]))
            return i;
    return -1;
}

static void clear_slot(peer_mesh_sub *ms, int i)
{
    ms->up[i] = (strata_addr){0, 0};
    ms->firsts[i] = 0;
}

/* Rebuilds the neighbour list from the MESH_TREE trees (keeping what was
 * heard from those that stay) and forgets upstreams that are neither a
 * neighbour nor the source any more. */
static void sync_neighbours(strata_peer *p)
{
    struct peer_mesh *m = p->mesh;
    peer_mesh_nb next[STRATA_WIRE_MAX_CHILDREN];
    unsigned n = 0;
    for (unsigned s = 0; s < p->k; s++) {
        if (!is_mesh_tree(p, s))
            continue;
        const strata_relay_tree *t = &p->relay.trees[s];
        for (unsigned i = 0; i < t->n_neighbours && n < STRATA_WIRE_MAX_CHILDREN; i++) {
            const strata_peer_ref *r = &t->children[i].ref;
            int dup = 0;
            for (unsigned j = 0; j < n && !dup; j++)
                dup = strata_addr_eq(next[j].ref.addr, r->addr);
            if (dup || strata_addr_is_zero(r->addr) || r->node.v == p->node.v)
                continue;
            const peer_mesh_nb *old = nb_of(m, r->addr);
            if (old && old->ref.node.v == r->node.v)
                next[n] = *old;
            else
                next[n] = (peer_mesh_nb){.ref = *r};
            n++;
        }
    }
    memcpy(m->nb, next, n * sizeof *next);
    m->n_nb = (uint8_t)n;
    for (unsigned s = 0; s < STRATA_WIRE_MAX_SUBSTREAMS; s++) {
        peer_mesh_sub *ms = &m->sub[s];
        for (int i = 0; i < MESH_UPSTREAMS; i++) {
            strata_addr up = ms->up[i];
            if (strata_addr_is_zero(up) ||
                (p->source.node.v && strata_addr_eq(up, p->source.addr)))
                continue;
            if (s >= p->k || !is_mesh_tree(p, s) || !nb_of(m, up))
                clear_slot(ms, i);
        }
    }
}

int strata_peer_mesh_applied(strata_peer *p, uint64_t now)
{
    int any = 0;
    for (unsigned s = 0; s < p->k && !any; s++)
        any = is_mesh_tree(p, s);
    if (!any) {
        strata_mem_free(p->alloc, p->mesh);
        p->mesh = NULL;
        return 0;
    }
    if (!p->mesh) {
        p->mesh = strata_mem_calloc(p->alloc, 1, sizeof *p->mesh);
        if (!p->mesh)
            return STRATA_ERR_NOMEM;
        p->mesh->round_at = now; /* say at once what we want */
    }
    sync_neighbours(p);
    return 0;
}

void strata_peer_mesh_free(strata_peer *p)
{
    strata_mem_free(p->alloc, p->mesh);
    p->mesh = NULL;
}

void strata_peer_mesh_copy(strata_peer *p, unsigned s, strata_addr from, int first)
{
    if (!p->mesh || !is_mesh_tree(p, s))
        return;
    peer_mesh_sub *ms = &p->mesh->sub[s];
    int i = slot_of(ms, from);
    if (i < 0 && (i = free_slot(ms)) >= 0)
        ms->up[i] = from;
    if (i >= 0 && first)
        ms->firsts[i]++;
}

static int wants_from(const peer_mesh_sub *ms, strata_addr a)
{
    return free_slot(ms) >= 0 || slot_of(ms, a) >= 0;
}

/* Sends what we hold of substream s after `after` to child c, the newest
 * MESH_BACKFILL_PACKETS at most: a neighbour that has just chosen us (one
 * that holds none of s yet gets the live stream only, not a store's
 * burst). Played packets count too: its playout may be behind ours. */
static void backfill(strata_peer *p, strata_relay_child *c, unsigned s, uint64_t after,
                     uint64_t now)
{
    int mine_none;
    uint64_t mine = high_of(p, s, &mine_none);
    if (mine_none || after >= mine)
        return;
    uint64_t first = after + p->k;
    first += (s + p->k - first % p->k) % p->k; /* the first seq of s from there */
    if (mine >= first && (mine - first) / p->k >= MESH_BACKFILL_PACKETS)
        first = mine - (uint64_t)(MESH_BACKFILL_PACKETS - 1) * p->k; /* the newest ones */
    const strata_addr nobody = {0, 0};
    for (uint64_t q = first; q <= mine; q += p->k) {
        const strata_pktstore_entry *e = strata_pktstore_get(&p->store, q);
        if (e && strata_relay_send_child(&p->relay, c, e->buf, q, nobody, now))
            p->st.mesh_backfill_packets++;
        if (q > UINT64_MAX - p->k)
            break;
    }
}

int strata_peer_mesh_state(strata_peer *p, strata_addr from, const uint8_t *buf, size_t len,
                           uint64_t now)
{
    strata_msg_mesh_state ms;
    int err = strata_wire_decode_mesh_state(buf, len, &ms);
    if (err < 0)
        return err;
    if (!p->mesh) {
        /* A FLOOD member pushes its neighbours everything whatever they
         * want: with --top auto its neighbours may run MESH_TREE, and
         * their states are no error here. */
        for (unsigned s = 0; s < p->k && p->relay.trees; s++) {
            const strata_relay_tree *t = &p->relay.trees[s];
            for (unsigned i = 0; t->algorithm == STRATA_ALG_FLOOD && i < t->n_children; i++)
                if (strata_addr_eq(t->children[i].ref.addr, from))
                    return 0;
        }
        return STRATA_ERR_UNEXPECTED;
    }
    if (ms.channel.v != p->channel.v || ms.k != p->k)
        return STRATA_ERR_UNEXPECTED;
    peer_mesh_nb *nb = nb_of(p->mesh, from);
    if (!nb || nb->ref.node.v != ms.node.v)
        return STRATA_ERR_SENDER; /* only a neighbour the instructions name */
    nb->heard_ns = now ? now : 1;
    nb->top = ms.top;
    memcpy(nb->behind, ms.behind, sizeof nb->behind);
    for (unsigned s = 0; s < p->k; s++) {
        if (!is_mesh_tree(p, s))
            continue;
        strata_relay_tree *t = &p->relay.trees[s];
        int want = (ms.want >> s) & 1u;
        for (unsigned i = 0; i < t->n_neighbours; i++) {
            strata_relay_child *c = &t->children[i];
            if (!strata_addr_eq(c->ref.addr, from))
                continue;
            uint64_t theirs;
            if (want && c->lazy && held_of(ms.top, ms.behind[s], &theirs))
                backfill(p, c, s, theirs, now);
            c->lazy = (uint8_t)!want;
        }
    }
    p->st.mesh_states_rx++;
    return 0;
}

/* The neighbour furthest ahead in s, with a fresh state, that is not an
 * upstream of s, and how far it is. */
static const peer_mesh_nb *furthest(const strata_peer *p, unsigned s, uint64_t now,
                                    uint64_t *high)
{
    const struct peer_mesh *m = p->mesh;
    const peer_mesh_nb *best = NULL;
    uint64_t stale = (uint64_t)MESH_HEARD_ROUNDS * STRATA_MS(MESH_STATE_MS);
    for (unsigned i = 0; i < m->n_nb; i++) {
        const peer_mesh_nb *nb = &m->nb[i];
        uint64_t h;
        if (!nb->heard_ns || now - nb->heard_ns > stale || !held_of(nb->top, nb->behind[s], &h) ||
            slot_of(&m->sub[s], nb->ref.addr) >= 0)
            continue;
        if (!best || h > *high) {
            best = nb;
            *high = h;
        }
    }
    return best;
}

/* Repairs each substream's upstreams (see "Repair of the tree"): one that
 * has said nothing for MESH_GONE_MS left or died, and its slot is freed
 * (s is wanted from everyone until the next copy fills it); when s stood
 * still MESH_BEHIND_ROUNDS rounds while a neighbour moved on, the
 * upstream that brought the fewest first copies gives way to the
 * neighbour furthest ahead. */
static void check_upstreams(strata_peer *p, uint64_t now)
{
    struct peer_mesh *m = p->mesh;
    for (unsigned s = 0; s < p->k; s++) {
        if (!is_mesh_tree(p, s))
            continue;
        peer_mesh_sub *ms = &m->sub[s];
        for (int i = 0; i < MESH_UPSTREAMS; i++) {
            const peer_mesh_nb *up = nb_of(m, ms->up[i]);
            if (up && up->heard_ns && now - up->heard_ns > STRATA_MS(MESH_GONE_MS)) {
                clear_slot(ms, i);
                p->st.mesh_upstream_moves++;
            }
        }
        int none;
        uint64_t mine = high_of(p, s, &none);
        uint64_t theirs = 0;
        const peer_mesh_nb *best = furthest(p, s, now, &theirs);
        int ahead = best && (none || theirs >= mine + (uint64_t)MESH_LAG_PACKETS * p->k);
        int still = none || mine == ms->high_then;
        ms->high_then = mine;
        ms->behind_rounds = ahead && still ? (uint8_t)(ms->behind_rounds + 1) : 0;
        if (!ahead)
            ms->ahead_rounds = 0;
        else if (strata_addr_eq(best->ref.addr, ms->ahead_of))
            ms->ahead_rounds++;
        else
            ms->ahead_rounds = 1;
        if (ahead)
            ms->ahead_of = best->ref.addr;
        if (ms->behind_rounds >= MESH_BEHIND_ROUNDS || ms->ahead_rounds >= MESH_FASTER_ROUNDS) {
            int worst = 0;
            for (int i = 1; i < MESH_UPSTREAMS; i++)
                if (ms->firsts[i] < ms->firsts[worst])
                    worst = i;
            ms->up[worst] = best->ref.addr;
            ms->behind_rounds = ms->ahead_rounds = 0;
            p->st.mesh_upstream_moves++;
            strata_logf(p->log, STRATA_LOG_DEBUG,
                        "peer %016llx: substream %u now also from %016llx (%llu ahead of us)",
                        (unsigned long long)p->node.v, s, (unsigned long long)best->ref.node.v,
                        (unsigned long long)(none ? 0 : theirs - mine));
        }
        for (int i = 0; i < MESH_UPSTREAMS; i++)
            ms->firsts[i] = 0;
    }
}

static void send_states(strata_peer *p)
{
    struct peer_mesh *m = p->mesh;
    strata_msg_mesh_state ms;
    memset(&ms, 0, sizeof ms);
    ms.channel = p->channel;
    ms.node = p->node;
    ms.k = p->k;
    for (unsigned s = 0; s < p->k; s++) {
        int none;
        uint64_t h = high_of(p, s, &none);
        if (!none && h > ms.top)
            ms.top = h;
    }
    for (unsigned s = 0; s < p->k; s++) {
        int none;
        uint64_t h = high_of(p, s, &none);
        uint64_t behind = none ? STRATA_MESH_STATE_BEHIND_NONE : ms.top - h;
        ms.behind[s] = (uint16_t)(behind < STRATA_MESH_STATE_BEHIND_NONE
                                      ? behind
                                      : STRATA_MESH_STATE_BEHIND_NONE);
    }
    uint8_t buf[STRATA_WIRE_MESH_STATE_MAX_BYTES];
    for (unsigned i = 0; i < m->n_nb; i++) {
        ms.want = 0;
        for (unsigned s = 0; s < p->k; s++)
            if (is_mesh_tree(p, s) && wants_from(&m->sub[s], m->nb[i].ref.addr))
                ms.want |= 1u << s;
        int n = strata_wire_encode_mesh_state(buf, sizeof buf, &ms);
        if (n > 0 && strata_outbox_push_bytes(p->outbox, m->nb[i].ref.addr, buf, n) == 0)
            p->st.mesh_states_tx++;
    }
}

void strata_peer_mesh_timeout(strata_peer *p, uint64_t now)
{
    struct peer_mesh *m = p->mesh;
    if (!m || now < m->round_at)
        return;
    check_upstreams(p, now);
    send_states(p);
    m->round_at = now + STRATA_MS(MESH_STATE_MS);
}

uint64_t strata_peer_mesh_repair_hold(const strata_peer *p, unsigned s, uint64_t now)
{
    if (!p->mesh || !is_mesh_tree(p, s))
        return 0;
    return now + STRATA_MS(MESH_REPAIR_HOLD_MS);
}

uint64_t strata_peer_mesh_next_timeout(const strata_peer *p)
{
    return p->mesh ? p->mesh->round_at : STRATA_NEVER;
}
