/*
 * The control center (see strata/control.h): client manager and service
 * manager, with the content directory (directory.c) and the DCMs (dcm.c).
 *
 * Client manager. Keeps one record per node (the host table: id, address,
 * declared upload, its memberships) and one per membership, a (node,
 * channel) pair (role, DCM, priority, its share of the upload, last time
 * heard, the last instruction epoch sent and when, the counters of its
 * latest heartbeat; its DCM keeps what stall detection needs). A
 * node may be in several channels at once (SPEC C12): its upload is shared
 * among them in priority order (share_uploads). JOIN, HEARTBEAT and LEAVE
 * are handled here, per (node, channel), and passed on to the
 * membership's DCM; anything else is counted and dropped. Memberships are
 * indexed by a keyed hash of (node, channel) (member_key): ids are chosen
 * by the nodes, and the key is what an attacker does not know.
 *
 * Channels. One record per channel with nodes: the source (live, or the
 * last one known: when a source leaves its trees stay, and so does the ref
 * instructions carry), the tree rate (provisional until a source
 * announces), the stream position for newcomers (start_seq) and the list
 * of the channel's DCMs. A channel record goes when it has neither a live
 * source nor a DCM.
 *
 * Service manager. Creates a DCM when a (channel, region) has none, with
 * logical ids from a counter starting at 1, and registers it in the
 * directory. A DCM whose last member leaves is deleted (after telling the
 * source it has no more roots there): keeping it would let anyone who
 * invents region labels grow the table without limit.
 *
 * Regions and the backbone (docs/design.md). A channel's second region
 * starts its backbone, a DCM without a region whose root is the source and
 * whose members are the regions' heads; each head feeds its region's root
 * children in the source's place. Regions without a capable member are fed
 * by the source directly, with a share of its upload.
 *
 * Epochs come from one counter for the whole control center, one value per
 * batch of instructions, so a node can compare epochs from several DCMs.
 *
 * Restart. A control center that starts where another one ran (it was
 * killed and started again on the same address) is told so by the
 * heartbeats of nodes it does not know: they still follow the old one's
 * instructions. It answers UNKNOWN (they join again, relaying on
 * meanwhile) and, while young (the first RESTART_ADOPT_HEARTBEATS
 * heartbeat intervals), raises its epoch counter above the epochs they
 * report, so that its instructions outrank the old ones instead of being
 * ignored. (An older epoch a node still holds would otherwise win for
 * good.) Later heartbeats never move the counter: a node cannot push it
 * to the wrap.
 *
 * Such a heartbeat also opens a recovery window of RESTART_WINDOW_HEARTBEATS
 * intervals (every live node heartbeats, hears UNKNOWN and joins again
 * within it), longer while a channel's source is not back (up to
 * RESTART_SOURCE_WAIT_HEARTBEATS): the trees are restored at the rate the
 * source announces and with the upload shares that rate gives nodes in
 * several channels, so that its JOIN does not rebuild them. The control
 * center keeps what each unknown node reports of its parents (a report),
 * takes the JOINs into memberships but into no tree, and sends no
 * instruction, so the nodes relay on as they were. When the window
 * closes, each DCM is rebuilt from its members' reports
 * (strata_dcm_restore): every reported edge that keeps the trees'
 * invariants is kept, so the trees equal those before the crash for every
 * node that stayed, and only the changes (nodes that left meanwhile) cost
 * instructions... all of which go out as one batch that outranks the old
 * epochs. A parent outside the member's DCM (a region's head feeding it)
 * is not taken; those trees are rebuilt as joins would build them. A
 * DCM made for the members of a window gets the logical id they report
 * (heartbeats carry it), so the nodes, the source above all, find their
 * DCMs under the ids they know; the backbone, which no member reports,
 * gets a new one.
 *
 * Timer: every heartbeat interval, nodes not heard for dead_after are
 * removed like a leave (counted as deaths). A peer's heartbeat goes on to
 * its DCM, which compares it with the trees (strata_dcm_heartbeat: lost
 * instructions, stalled parents).
 */
#include "strata/control.h"

#include "dcm.h"
#include "directory.h"
#include "idmap.h"
#include "preferred.h"
#include "strata/tree.h"

#include <stdio.h>
#include <string.h>

enum control_limits {
    CONTROL_OUTBOX_CAP = 65536,
    CONTROL_PROVISIONAL_RATE_KBPS = 1000, /* tree rate until the source announces */
    CONTROL_DIRTY_CHUNK = 64,
    CONTROL_SCAN_CHUNK = 64,
    CONTROL_LOG_WINDOW_MS = 1000,
    CONTROL_LOG_LINES_PER_WINDOW = 20, /* drop lines beyond this are counted, not written */
    CONTROL_REGION_BUF = STRATA_WIRE_MAX_REGION_BYTES + 1,
    RESTART_ADOPT_HEARTBEATS = 10,
    RESTART_WINDOW_HEARTBEATS = 3,
    RESTART_SOURCE_WAIT_HEARTBEATS = 12, /* the longest a window waits for a channel's source */
    RECRUIT_RETRY_MS = 5000,             /* a node asked to relay is not asked again before */
    RECRUIT_SCAN_HOSTS = 512,            /* candidates looked at per region and scan */
    RELEASE_SCAN_REGIONS = 64,           /* regions with relays looked at per scan */
    CONTROL_MAX_AWAY_TREES = 4,          /* other regions' trees one preferred node roots */
};

struct ctl_channel;

struct ctl_host;

/* One membership: a node in one channel. */
typedef struct ctl_node {
    strata_node_id id;
    struct ctl_host *host; /* the node: address, declared upload */
    uint8_t role;          /* enum strata_role */
    uint8_t priority;      /* among the node's channels, 0 first */
    uint8_t restoring;     /* joined in a recovery window: in no tree yet */
    struct ctl_channel *ch;
    strata_dcm *dcm;    /* peers only: the DCM whose trees it is in */
    strata_dcm *roots;  /* a region's head: the regional DCM whose trees it feeds */
    uint32_t root_subs; /* ... which of them (bit s: tree s) */
    uint8_t naway;      /* levels = ec: trees of other regions' clusters it roots */
    struct ctl_away {
        strata_dcm *d;
        uint8_t tree;
    } away[CONTROL_MAX_AWAY_TREES];
    /* levels = 3: the common cluster whose trees it feeds in the source's
     * place (a member of its region's relay cluster, or a preferred node
     * of the region when the relay cluster has nobody with room) and which
     * of them (bit s: tree s). */
    strata_dcm *feeds;
    uint32_t feed_subs;
    uint32_t upload_kbps; /* this channel's share of the node's upload */
    uint64_t joined_seq;  /* join order: ties of priority go to the earlier */
    uint64_t last_seen_ns;
    uint32_t last_epoch_sent;
    uint64_t last_send_ns;
    uint64_t played, missed, tx_bytes; /* from the latest heartbeat */
    /* A preferred node's history (levels = mesh, see "Preferred nodes"). */
    uint64_t joined_ns, tx_sample_ns, tx_sample_bytes, preferred_since_ns;
    uint32_t delivered_kbps; /* its tx rate, averaged over heartbeats */
    uint32_t stalls;         /* children moved off it for stalling, halved at each evaluation */
} ctl_node;

/* What a node reported of its parents in a heartbeat to a control center
 * that did not know it (see "Restart"). */
typedef struct ctl_report {
    strata_node_id node;
    strata_channel_id channel;
    strata_dcm_id dcm; /* the logical id of the DCM it followed */
    uint8_t n_parents;
    strata_node_id parents[STRATA_WIRE_MAX_TREES];
} ctl_report;

/* One node, whatever its channels: the facts that are the node's. */
typedef struct ctl_host {
    strata_node_id id;
    strata_addr addr;
    uint32_t upload_kbps;  /* declared, shared among its memberships */
    uint64_t recruited_ns; /* when it was last asked to relay a channel (see recruit_scan) */
    uint8_t n_members;
    ctl_node *members[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
} ctl_host;

/* A mesh of preferred nodes above the regions (levels mesh and ec). */
static inline int mesh_levels(const struct strata_control *c);

/* Peers and recruited relays are in the trees; a source feeds them. */
static inline int in_trees(const ctl_node *rec)
{
    return rec->role != STRATA_ROLE_SOURCE;
}

typedef struct ctl_channel {
    strata_channel_id id;
    uint8_t source_live;
    strata_node_id source; /* live or last known; 0 = never had one */
    strata_addr source_addr;
    uint32_t source_upload_kbps;
    uint32_t rate_kbps; /* the trees' rate */
    uint64_t start_seq;
    strata_dcm **dcms; /* one per region */
    size_t ndcms, capdcms;
    strata_dcm *backbone; /* the regions' heads, once there are two regions */
    uint8_t name_len;     /* from the first JOIN: RECRUIT names the channel */
    uint8_t name[STRATA_WIRE_MAX_NAME_BYTES];
} ctl_channel;

/* A dense array of pointers with an id index; swap-remove on delete. */
typedef struct ptab {
    void **items;
    uint64_t *keys;
    size_t count, cap;
    strata_idmap index;
} ptab;

struct strata_control {
    const strata_alloc *alloc;
    const strata_log *log;
    uint8_t k, region_mode, prefix_bits;
    uint8_t levels;           /* enum strata_levels */
    uint8_t heads_per_region; /* 1 with the backbone; the preferred nodes per region with a mesh */
    uint8_t mesh_c;
    uint8_t parity; /* levels = ec: n */
    uint32_t heartbeat_ms, max_nodes;
    uint64_t hb_ns, dead_ns, stall_ns;
    uint64_t seed;

    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_directory *dir;
    ptab nodes; /* memberships, by member_key */
    ptab hosts; /* nodes, by id */
    ptab channels, dcms;
    ptab pairs; /* levels = 3: a region's relay cluster <-> its common cluster, by DCM id */
    uint64_t member_salt[2]; /* member_key's secret */
    uint64_t joins_seq;
    uint32_t next_dcm_id;
    uint32_t epoch;
    uint64_t adopt_epochs_until; /* see "Restart" above */
    uint64_t recover_until;      /* end of the recovery window; 0: none open */
    uint64_t recover_limit;      /* ... which waits for sources until then at the latest */
    int recovered;               /* a window was opened once: never again */
    ptab reports;                /* ctl_report by member_key, during the window */
    uint64_t next_scan_ns;
    uint64_t next_eval_ns; /* levels = mesh: the next evaluation of the preferred nodes */
    uint64_t promotions, demotions;

    size_t peers, sources, relays;
    int recruit;           /* see recruit_scan */
    size_t recruit_cursor; /* where the next candidate search starts */
    uint64_t recruits_sent, releases_sent;
    uint64_t played_sum, missed_sum, peer_tx_sum, source_tx_sum;
    uint64_t joins, leaves, deaths, reparents, instructions_sent, region_moves;
    uint64_t restored_members, restored_edges, reported_edges;
    strata_drop_counters drops;

    uint64_t log_window_ns;
    uint32_t log_lines;
    uint64_t log_suppressed;

    ctl_node **away_cands; /* scratch of ec_assign_channel */
    size_t away_cap;

    /* Scratch kept here rather than on the stack (about 20 KiB). */
    strata_msg_heartbeat hb;
    strata_msg_instruction instr[STRATA_WIRE_MAX_TREES];
    strata_msg_instruction root_instr[STRATA_WIRE_MAX_TREES];
};

static inline int mesh_levels(const strata_control *c)
{
    return c->levels == STRATA_LEVELS_MESH || c->levels == STRATA_LEVELS_EC ||
           c->levels == STRATA_LEVELS_THREE;
}

/* Each region's (relay) cluster erasure-coded, its trees rooted at distinct
 * preferred nodes (levels ec and 3). */
static inline int ec_levels(const strata_control *c)
{
    return c->levels == STRATA_LEVELS_EC || c->levels == STRATA_LEVELS_THREE;
}

/* --- small helpers -------------------------------------------------------------- */

/* Time differences saturate: a host clock that steps back must not make a
 * node look silent for centuries. */
static uint64_t elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

static uint64_t deadline(uint64_t now, uint64_t after)
{
    return now > STRATA_NEVER - after ? STRATA_NEVER : now + after;
}

static void ptab_init(ptab *t, const strata_alloc *a, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    strata_idmap_init(&t->index, a, seed);
}

static void ptab_free(ptab *t, const strata_alloc *a)
{
    strata_mem_free(a, t->items);
    strata_mem_free(a, t->keys);
    strata_idmap_free(&t->index);
    memset(t, 0, sizeof *t);
}

static void *ptab_get(const ptab *t, uint64_t key)
{
    uint32_t i;
    return strata_idmap_get(&t->index, key, &i) ? t->items[i] : NULL;
}

/* Makes room for n entries so that ptab_put cannot fail. */
static int ptab_reserve(ptab *t, const strata_alloc *a, size_t n)
{
    if (n > UINT32_MAX)
        return STRATA_ERR_NOMEM;
    if (n > t->cap) {
        size_t cap = t->cap ? t->cap : 16;
        while (cap < n)
            cap *= 2;
        if (cap > SIZE_MAX / sizeof(uint64_t))
            return STRATA_ERR_NOMEM;
        void **items = strata_mem_realloc(a, t->items, cap * sizeof *items);
        if (!items)
            return STRATA_ERR_NOMEM;
        t->items = items;
        uint64_t *keys = strata_mem_realloc(a, t->keys, cap * sizeof *keys);
        if (!keys)
            return STRATA_ERR_NOMEM; /* items grew, which is harmless */
        t->keys = keys;
        t->cap = cap;
    }
    return strata_idmap_reserve(&t->index, n);
}

static void ptab_put(ptab *t, uint64_t key, void *item)
{
    t->items[t->count] = item;
    t->keys[t->count] = key;
    strata_idmap_put(&t->index, key, (uint32_t)t->count); /* reserved: cannot fail */
    t->count++;
}

static void ptab_del(ptab *t, uint64_t key)
{
    uint32_t i;
    if (!strata_idmap_get(&t->index, key, &i))
        return;
    strata_idmap_del(&t->index, key);
    size_t last = t->count - 1;
    if (i != last) {
        t->items[i] = t->items[last];
        t->keys[i] = t->keys[last];
        strata_idmap_put(&t->index, t->keys[i], i); /* replaces: cannot fail */
    }
    t->count--;
}

/* Log lines caused by peers are rate-limited per window of `now`. */
static int log_allowed(strata_control *c, int level, uint64_t now)
{
    if (!c->log || !c->log->write || level > c->log->max_level)
        return 0;
    if (elapsed(now, c->log_window_ns) >= STRATA_MS(CONTROL_LOG_WINDOW_MS)) {
        if (c->log_suppressed)
            strata_logf(c->log, STRATA_LOG_WARN, "control: %llu log lines suppressed",
                        (unsigned long long)c->log_suppressed);
        c->log_window_ns = now;
        c->log_lines = 0;
        c->log_suppressed = 0;
    }
    if (c->log_lines >= CONTROL_LOG_LINES_PER_WINDOW) {
        c->log_suppressed++;
        return 0;
    }
    c->log_lines++;
    return 1;
}

static int drop(strata_control *c, strata_addr from, int err, const char *what, uint64_t now)
{
    strata_drop_count(&c->drops, err);
    if (log_allowed(c, STRATA_LOG_WARN, now)) {
        char a[32];
        strata_logf(c->log, STRATA_LOG_WARN, "control: dropped %s from %s: %s", what,
                    strata_addr_format(from, a, sizeof a), strata_strerror(err));
    }
    return err;
}

/* --- memberships and hosts ------------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The index key of (node, channel): keyed with the control center's own
 * secret, so that nodes, which choose their ids, cannot make two
 * memberships share a key on purpose. (A chance collision, about 2^-64 a
 * pair, only refuses the later JOIN.) */
static uint64_t member_key(const strata_control *c, strata_node_id node, strata_channel_id ch)
{
    return mix64(mix64(node.v ^ c->member_salt[0]) ^ ch.v ^ c->member_salt[1]);
}

static ctl_node *member_get(const strata_control *c, strata_node_id node, strata_channel_id ch)
{
    ctl_node *rec = ptab_get(&c->nodes, member_key(c, node, ch));
    return rec && rec->id.v == node.v && rec->ch->id.v == ch.v ? rec : NULL;
}

static uint32_t next_epoch(strata_control *c)
{
    if (++c->epoch == 0)
        c->epoch = 1; /* 0 means "nothing applied yet" to a node */
    return c->epoch;
}

/* --- channels and DCMs (service manager) ------------------------------------------ */

static ctl_channel *channel_get(strata_control *c, strata_channel_id id)
{
    return ptab_get(&c->channels, id.v);
}

static ctl_channel *channel_get_or_create(strata_control *c, strata_channel_id id)
{
    ctl_channel *ch = channel_get(c, id);
    if (ch)
        return ch;
    if (ptab_reserve(&c->channels, c->alloc, c->channels.count + 1))
        return NULL;
    ch = strata_mem_calloc(c->alloc, 1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->id = id;
    ch->rate_kbps = CONTROL_PROVISIONAL_RATE_KBPS;
    ptab_put(&c->channels, id.v, ch);
    return ch;
}

static void channel_maybe_release(strata_control *c, ctl_channel *ch)
{
    if (ch->source_live || ch->ndcms > 0 || ch->backbone)
        return;
    ptab_del(&c->channels, ch->id.v);
    strata_mem_free(c->alloc, ch->dcms);
    strata_mem_free(c->alloc, ch);
}

/* What a DCM is to its channel. */
enum dcm_kind {
    DCM_BACKBONE, /* above the regions: the backbone's tree or the mesh */
    DCM_REGION,   /* a region's cluster (with levels 3, its relay cluster) */
    DCM_COMMON,   /* levels 3: a region's common cluster, below its relay cluster */
};

/* Makes a DCM for channel ch: a region's (listed in the directory and in
 * ch->dcms), the channel's backbone (neither, region NULL) or a region's
 * common cluster (neither: it is found through its relay cluster,
 * common_of). Its logical id is want when nonzero and free (a restarted
 * control center gives a DCM back the id its members report), else the
 * next one. */
static strata_dcm *dcm_make(strata_control *c, ctl_channel *ch, enum dcm_kind kind,
                            const char *region, size_t region_len, strata_dcm_id want)
{
    strata_dcm *d = NULL;
    int regional = kind == DCM_REGION;
    strata_dcm_id id = want;
    if (!id.v || ptab_get(&c->dcms, id.v)) {
        /* The next id of the counter that no DCM holds (a reported one
         * may): the counter never jumps, whatever a node reports. */
        while (c->next_dcm_id && ptab_get(&c->dcms, c->next_dcm_id))
            c->next_dcm_id++;
        id.v = c->next_dcm_id;
    }
    if (id.v == 0)
        goto fail_ids; /* 2^32 - 1 DCMs created: the counter is spent */
    if (regional && ch->ndcms == ch->capdcms) {
        size_t cap = ch->capdcms ? ch->capdcms * 2 : 4;
        strata_dcm **p = strata_mem_realloc(c->alloc, ch->dcms, cap * sizeof *p);
        if (!p)
            goto fail_list;
        ch->dcms = p;
        ch->capdcms = cap;
    }
    if (ptab_reserve(&c->dcms, c->alloc, c->dcms.count + 1))
        goto fail_table;
    strata_dcm_config dc = {
        .id = id,
        .channel = ch->id,
        .k = c->k,
        .rate_kbps = ch->rate_kbps,
        .source_upload_kbps = ch->source.v ? ch->source_upload_kbps : 0,
        .region = region,
        .region_len = region_len,
        .seed = c->seed ^ id.v,
        .stall_ns = c->stall_ns,
        /* The level above the regions: the backbone's tree, or the mesh of
         * preferred nodes; below it a region's trees, erasure-coded with
         * levels ec and 3; with levels 3 a common cluster of plain trees
         * below that (docs/hierarchy.md). */
        .algorithm = kind == DCM_BACKBONE ? (mesh_levels(c) ? STRATA_ALG_FLOOD : STRATA_ALG_TREE)
                                          : (kind == DCM_REGION && ec_levels(c) ? STRATA_ALG_EC_TREE
                                                                                : STRATA_ALG_TREE),
        .mesh_c = c->mesh_c,
        .parity = c->parity,
        .level = !ec_levels(c)          ? 0
                 : kind == DCM_BACKBONE ? 1
                 : kind == DCM_REGION   ? 2
                                        : 3,
    };
    d = strata_dcm_new(c->alloc, &dc);
    if (!d)
        goto fail_dcm;
    /* A DCM made after the source joined learns it from the channel. */
    if (ch->source.v && strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps,
                                              ch->source_upload_kbps))
        goto fail_source;
    if (regional && strata_directory_insert(c->dir, ch->id, region, region_len, dc.id))
        goto fail_directory;
    ptab_put(&c->dcms, dc.id.v, d);
    if (regional)
        ch->dcms[ch->ndcms++] = d;
    if (id.v == c->next_dcm_id)
        c->next_dcm_id++; /* wraps to 0 when spent */
    return d;

fail_directory:
fail_source:
    strata_dcm_del(d);
fail_dcm:
fail_table:
fail_list:
fail_ids:
    return NULL;
}

static strata_dcm *dcm_for(strata_control *c, ctl_channel *ch, const char *region,
                           size_t region_len, strata_dcm_id want)
{
    strata_dcm_id id;
    if (strata_directory_lookup(c->dir, ch->id, region, region_len, &id) == 0)
        return ptab_get(&c->dcms, id.v);
    return dcm_make(c, ch, DCM_REGION, region, region_len, want);
}

/* --- levels = 3: a region's relay and common clusters -------------------------------
 *
 * With three levels a region has two DCMs: its relay cluster (the one the
 * directory and ch->dcms know, erasure-coded as with levels ec, fed by
 * preferred nodes) and, once it has a common member, its common cluster
 * (plain trees, level 3), whose tree s is fed by one relay member in the
 * source's place, each tree by another when there are enough. c->pairs
 * maps each one's id to the other. */

static int is_common(const strata_control *c, const strata_dcm *d)
{
    return c->levels == STRATA_LEVELS_THREE && strata_dcm_level(d) == 3;
}

/* The common cluster below region d, or NULL. */
static strata_dcm *common_of(const strata_control *c, const strata_dcm *d)
{
    if (c->levels != STRATA_LEVELS_THREE || is_common(c, d))
        return NULL;
    return ptab_get(&c->pairs, strata_dcm_id_of(d).v);
}

/* The region's DCM of a node in d: d's relay cluster when d is a common
 * cluster, else d itself. */
static strata_dcm *home_of(const strata_control *c, strata_dcm *d)
{
    return d && is_common(c, d) ? ptab_get(&c->pairs, strata_dcm_id_of(d).v) : d;
}

/* Region d's common cluster, made when it has none (NULL: no memory). */
static strata_dcm *common_for(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_dcm_id want)
{
    strata_dcm *cm = common_of(c, d);
    if (cm)
        return cm;
    if (ptab_reserve(&c->pairs, c->alloc, c->pairs.count + 2))
        return NULL;
    size_t len;
    const char *region = strata_dcm_region(d, &len);
    cm = dcm_make(c, ch, DCM_COMMON, region, len, want);
    if (!cm)
        return NULL;
    ptab_put(&c->pairs, strata_dcm_id_of(d).v, cm);
    ptab_put(&c->pairs, strata_dcm_id_of(cm).v, d);
    return cm;
}

static void forget_away_into(strata_control *c, const strata_dcm *d);
static void forget_feeders_of(strata_control *c, strata_dcm *cm);

static void dcm_destroy(strata_control *c, strata_dcm *d)
{
    if (is_common(c, d)) {
        forget_feeders_of(c, d);
        strata_dcm *relay = home_of(c, d);
        if (relay)
            ptab_del(&c->pairs, strata_dcm_id_of(relay).v);
        ptab_del(&c->pairs, strata_dcm_id_of(d).v);
        ptab_del(&c->dcms, strata_dcm_id_of(d).v);
        strata_dcm_del(d);
        return;
    }
    forget_away_into(c, d);
    ctl_channel *ch = channel_get(c, strata_dcm_channel(d));
    size_t rlen;
    const char *region = strata_dcm_region(d, &rlen);
    ptab_del(&c->dcms, strata_dcm_id_of(d).v);
    if (ch && ch->backbone == d) {
        ch->backbone = NULL;
        strata_dcm_del(d);
        return;
    }
    strata_directory_remove(c->dir, strata_dcm_channel(d), region, rlen);
    if (ch) {
        for (size_t i = 0; i < ch->ndcms; i++) {
            if (ch->dcms[i] == d) {
                ch->dcms[i] = ch->dcms[--ch->ndcms];
                break;
            }
        }
    }
    strata_dcm_del(d);
}

/* --- instructions ---------------------------------------------------------------------- */

/* Sends c->instr[0..n-1], encoded, to rec's address. */
static void send_encoded(strata_control *c, ctl_node *rec, int n, uint32_t epoch, uint64_t now)
{
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (int i = 0; i < n; i++) {
        int len = strata_wire_encode_instruction(enc, sizeof enc, &c->instr[i]);
        if (strata_outbox_push_bytes(c->outbox, rec->host->addr, enc, len) == 0)
            c->instructions_sent++;
    }
    if (n > 0) {
        rec->last_epoch_sent = epoch;
        rec->last_send_ns = now;
        if (in_trees(rec))
            strata_dcm_instructions_sent(rec->dcm, rec->id);
    }
}

/* Sends member who's instructions of DCM d for the substreams in subs
 * (bit s for substream s) to rec's address, stamped epoch. Only the trees
 * that changed are sent: a departure touches a node in one or two of its
 * k trees, and one datagram per tree would be most of the control
 * center's traffic under churn. */
static void send_instructions(strata_control *c, strata_dcm *d, strata_node_id who, ctl_node *rec,
                              uint32_t subs, uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions_subs(d, who, subs, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    send_encoded(c, rec, n, epoch, now);
}

/* A region's head gets one instruction per substream, in the backbone's
 * name: its parent and children in the backbone's trees, plus, for each
 * substream it heads, the root children of its region's tree. The two sets
 * cannot overlap (a head is in no region's trees); a head with more than
 * the wire's children in one substream loses the excess, which stall
 * detection then re-parents. */
static void add_root_children(strata_control *c, ctl_node *rec, int *n, strata_dcm *d,
                              uint32_t subs, uint32_t epoch)
{
    int m = strata_dcm_instructions(d, STRATA_MTREE_SOURCE, epoch, c->root_instr,
                                    STRATA_WIRE_MAX_TREES);
    for (int t = 0; t < m; t++) {
        if (!((subs >> t) & 1u))
            continue;
        const strata_msg_instruction *r = &c->root_instr[t];
        strata_msg_instruction *in = NULL;
        for (int i = 0; i < *n && !in; i++)
            if (c->instr[i].substream == r->substream)
                in = &c->instr[i];
        if (!in) {
            /* A parity tree (levels = ec): the node makes its symbols from the
             * stream it holds and sends them to the tree's root children. */
            if (*n == STRATA_WIRE_MAX_TREES)
                continue;
            in = &c->instr[(*n)++];
            *in = *r;
            in->dcm = c->instr[0].dcm; /* in the name of its own DCM, as the rest */
            in->level = c->instr[0].level;
            in->node = rec->id;
            in->n_children = 0;
        }
        for (uint8_t j = 0; j < r->n_children && in->n_children < STRATA_WIRE_MAX_CHILDREN; j++)
            in->children[in->n_children++] = r->children[j];
    }
}

/* Every parity tree a head does not root gets an instruction without
 * children: a node keeps a substream's instruction until a newer one
 * names it, and would go on sending symbols to a tree it no longer roots. */
static void add_idle_parity(strata_control *c, int *n)
{
    uint8_t k = c->instr[0].k;
    for (uint8_t t = k; t < k + c->parity && *n < STRATA_WIRE_MAX_TREES; t++) {
        int have = 0;
        for (int i = 0; i < *n && !have; i++)
            have = c->instr[i].substream == t;
        if (have)
            continue;
        strata_msg_instruction *in = &c->instr[(*n)++];
        *in = c->instr[0];
        in->substream = t;
        in->algorithm = STRATA_ALG_EC_TREE;
        in->n = c->parity;
        in->parent = (strata_peer_ref){{0}, {0, 0}};
        in->n_children = 0;
    }
}

static void send_head_instructions(strata_control *c, ctl_node *rec, uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions(rec->dcm, rec->id, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    if (n <= 0)
        return;
    if (rec->roots)
        add_root_children(c, rec, &n, rec->roots, rec->root_subs, epoch);
    for (uint8_t i = 0; i < rec->naway; i++)
        add_root_children(c, rec, &n, rec->away[i].d, 1u << rec->away[i].tree, epoch);
    if (rec->feeds)
        add_root_children(c, rec, &n, rec->feeds, rec->feed_subs, epoch);
    if (ec_levels(c))
        add_idle_parity(c, &n);
    send_encoded(c, rec, n, epoch, now);
}

/* The head feeding tree s of regional DCM d, or NULL (the source does). */
static ctl_node *sub_head(strata_control *c, strata_dcm *d, uint8_t s)
{
    strata_node_id id = strata_dcm_substream_root(d, s).node;
    ctl_node *rec = id.v ? member_get(c, id, strata_dcm_channel(d)) : NULL;
    return rec && rec->roots == d && ((rec->root_subs >> s) & 1u) ? rec : NULL;
}

/* 1 when h roots tree s of d, a cluster of another region (levels = ec). */
static int feeds_away(const ctl_node *h, const strata_dcm *d, uint8_t s)
{
    for (uint8_t i = 0; i < h->naway; i++)
        if (h->away[i].d == d && h->away[i].tree == s)
            return 1;
    return 0;
}

/* Whoever feeds tree s of d in the source's place: one of its region's
 * heads, or (levels ec and 3) another region's, or (d a common cluster) a
 * member of its relay cluster; NULL when the source does. */
static ctl_node *tree_feeder(strata_control *c, strata_dcm *d, uint8_t s)
{
    strata_node_id id = strata_dcm_substream_root(d, s).node;
    ctl_node *rec = id.v ? member_get(c, id, strata_dcm_channel(d)) : NULL;
    if (!rec)
        return NULL;
    if (rec->roots == d && ((rec->root_subs >> s) & 1u))
        return rec;
    if (rec->feeds == d && ((rec->feed_subs >> s) & 1u))
        return rec;
    return feeds_away(rec, d, s) ? rec : NULL;
}

/* 1 when heads feed d (all its trees or, for a moment, some). */
static int has_heads(strata_control *c, strata_dcm *d)
{
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++)
        if (tree_feeder(c, d, s))
            return 1;
    return 0;
}

/* Head h stops feeding other regions' trees; they go back to the source
 * until ec_assign_channel finds them other heads. */
static void drop_away(ctl_node *h)
{
    for (uint8_t i = 0; i < h->naway; i++) {
        strata_dcm *d = h->away[i].d;
        /* By id: a node that left is no longer in the table. */
        if (strata_dcm_substream_root(d, h->away[i].tree).node.v == h->id.v)
            strata_dcm_set_substream_root(d, h->away[i].tree, (strata_peer_ref){{0}, {0, 0}});
    }
    h->naway = 0;
}

/* DCM d goes: no head may keep feeding its trees. */
static void forget_away_into(strata_control *c, const strata_dcm *d)
{
    if (!ec_levels(c))
        return;
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *h = c->nodes.items[i];
        for (uint8_t j = 0; j < h->naway;) {
            if (h->away[j].d == d)
                h->away[j] = h->away[--h->naway];
            else
                j++;
        }
    }
}

/* 1 when DCM d has no member in its trees, no head feeding them, and no
 * member waiting for a recovery window to close (see "Restart"): it can go. */
static int dcm_unused(strata_control *c, strata_dcm *d)
{
    /* A common cluster's feeders are its region's; a relay cluster stays
     * while its region has common members. */
    if (strata_dcm_count(d) > 0 || (!is_common(c, d) && has_heads(c, d)) || common_of(c, d))
        return 0;
    for (size_t i = 0; c->recover_until && i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->restoring && m->dcm == d)
            return 0;
    }
    return 1;
}

/* Sends the source its instructions for d; for a region fed by heads, the
 * trees they feed show no children (the heads' instructions list them). */
static void send_source_instructions(strata_control *c, strata_dcm *d, ctl_node *src,
                                     uint32_t epoch, uint64_t now)
{
    int n = strata_dcm_instructions(d, STRATA_MTREE_SOURCE, epoch, c->instr, STRATA_WIRE_MAX_TREES);
    if (n > strata_dcm_k(d))
        n = strata_dcm_k(d); /* it sends no parity: the trees' root children make it */
    for (int i = 0; i < n; i++)
        if (strata_dcm_substream_root(d, (uint8_t)i).node.v)
            c->instr[i].n_children = 0;
    send_encoded(c, src, n, epoch, now);
}

/* Sends every dirty node of d its instructions, as one batch (one epoch).
 * The source's entry (STRATA_MTREE_SOURCE) goes to the source and to every
 * head that feeds one of d's trees in its place. */
static void flush_dcm(strata_control *c, strata_dcm *d, uint64_t now)
{
    if (c->recover_until)
        return; /* a recovery window: the nodes follow the old trees until it closes */
    strata_node_id ids[CONTROL_DIRTY_CHUNK];
    uint32_t subs[CONTROL_DIRTY_CHUNK];
    uint32_t epoch = 0;
    size_t n;
    ctl_channel *ch = channel_get(c, strata_dcm_channel(d));
    do {
        n = strata_dcm_take_dirty_subs(d, ids, subs, CONTROL_DIRTY_CHUNK);
        for (size_t i = 0; i < n; i++) {
            if (!epoch)
                epoch = next_epoch(c);
            if (ids[i].v == STRATA_MTREE_SOURCE.v) {
                ctl_node *src = ch && ch->source_live ? member_get(c, ch->source, ch->id) : NULL;
                if (src)
                    send_source_instructions(c, d, src, epoch, now);
                ctl_node *last = NULL;
                for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
                    ctl_node *h = tree_feeder(c, d, s);
                    if (h && h != last) /* a head of several trees: once is enough */
                        send_head_instructions(c, h, epoch, now);
                    last = h ? h : last;
                }
                continue;
            }
            ctl_node *rec = member_get(c, ids[i], strata_dcm_channel(d));
            if (!rec || rec->dcm != d)
                continue;
            if (rec->roots || rec->feeds)
                send_head_instructions(c, rec, epoch, now);
            else
                send_instructions(c, d, ids[i], rec, subs[i], epoch, now);
        }
    } while (n == CONTROL_DIRTY_CHUNK);
}

static void flush_channel(strata_control *c, ctl_channel *ch, uint64_t now)
{
    for (size_t i = 0; i < ch->ndcms; i++) {
        flush_dcm(c, ch->dcms[i], now);
        strata_dcm *cm = common_of(c, ch->dcms[i]);
        if (cm)
            flush_dcm(c, cm, now);
    }
    if (ch->backbone)
        flush_dcm(c, ch->backbone, now);
}

/* Marks a node's instructions for resending (a source's in every DCM). */
static void mark_resend(const strata_control *c, ctl_node *rec)
{
    if (rec->role == STRATA_ROLE_SOURCE) {
        for (size_t i = 0; i < rec->ch->ndcms; i++) {
            strata_dcm_mark_dirty(rec->ch->dcms[i], STRATA_MTREE_SOURCE);
            strata_dcm *cm = common_of(c, rec->ch->dcms[i]);
            if (cm)
                strata_dcm_mark_dirty(cm, STRATA_MTREE_SOURCE);
        }
        if (rec->ch->backbone)
            strata_dcm_mark_dirty(rec->ch->backbone, STRATA_MTREE_SOURCE);
    } else {
        strata_dcm_mark_dirty(rec->dcm, rec->id);
    }
}

static void flush_node(strata_control *c, ctl_node *rec, uint64_t now)
{
    if (rec->role == STRATA_ROLE_SOURCE)
        flush_channel(c, rec->ch, now);
    else
        flush_dcm(c, rec->dcm, now);
}

/* --- regions and the backbone ------------------------------------------------------------ */

static unsigned popcount32(uint32_t v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* The trees head h feeds: its region's and other regions' (and, with
 * levels 3, its region's common cluster's). */
static unsigned fed_trees(const ctl_node *h)
{
    return popcount32(h->root_subs) + h->naway + popcount32(h->feed_subs);
}

/* What a head keeps for the region trees it feeds: half its upload, but
 * at least 5/4 of the rate (room for one child per substream); the rest is
 * its upload in the backbone. */
static uint32_t head_region_kbps(uint32_t upload_kbps, uint32_t rate_kbps)
{
    uint64_t need = (uint64_t)rate_kbps * 5 / 4, half = upload_kbps / 2;
    uint64_t r = half > need ? half : need;
    return r < upload_kbps ? (uint32_t)r : upload_kbps;
}

/* The least upload (this channel's share) a head needs: the stream rate.
 * It then keeps all of it for its region's trees; in the backbone it is a
 * leaf of the trees, in a mesh a leaf fed by a member with room to spare
 * (dcm.c, "Leaves"). The evaluations prefer the stronger (preferred.h). */
static uint32_t head_min_kbps(const ctl_channel *ch)
{
    return ch->rate_kbps;
}

/* head_min_kbps as region d's DCM sees it: a relay member gives its
 * cluster only what feeding common trees leaves (cluster_kbps). */
static uint32_t cluster_kbps(const strata_control *c, const strata_dcm *d, uint32_t upload_kbps,
                             uint32_t rate_kbps);
static uint32_t head_min_in(const strata_control *c, const ctl_channel *ch, const strata_dcm *d)
{
    return cluster_kbps(c, d, head_min_kbps(ch), ch->rate_kbps);
}

/* What the source gives a region it feeds itself while the backbone runs
 * (0 = unlimited). */
static uint32_t source_region_kbps(const ctl_channel *ch)
{
    if (ch->source_upload_kbps == 0)
        return 0;
    uint64_t need = (uint64_t)ch->rate_kbps * 5 / 4;
    return need < ch->source_upload_kbps ? (uint32_t)need : ch->source_upload_kbps;
}

/* The root budget of a region fed by heads: the trees share the root
 * slots evenly (tree.h), so the budget is the trees (k, or k + n) times
 * what the most loaded head can give one tree. */
static uint32_t headed_region_kbps(strata_control *c, strata_dcm *d, uint32_t rate_kbps)
{
    uint64_t per_tree = UINT64_MAX;
    uint8_t trees = strata_dcm_trees(d);
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *h = tree_feeder(c, d, s);
        if (!h)
            continue;
        uint64_t v = head_region_kbps(h->upload_kbps, rate_kbps) / fed_trees(h);
        if (v < per_tree)
            per_tree = v;
    }
    if (per_tree == UINT64_MAX)
        return 0;
    uint64_t total = per_tree * trees;
    return total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
}

/* What the source's trees need of it for region d (or the backbone) to
 * leave no pair detached, but never less than 5/4 of the rate. */
static uint64_t source_need_kbps(const ctl_channel *ch, strata_dcm *d)
{
    uint64_t need = strata_dcm_source_need_kbps(d), share = source_region_kbps(ch);
    return need > share ? need : share;
}

/* The sum of what the directly fed regions and the backbone need of the
 * source (source_need_kbps); with it direct_region_kbps shares the
 * source's upload out. */
static uint64_t source_needs_kbps(strata_control *c, const ctl_channel *ch)
{
    uint64_t sum = ch->backbone ? source_need_kbps(ch, ch->backbone) : 0;
    for (size_t i = 0; i < ch->ndcms; i++) {
        strata_dcm *d = ch->dcms[i], *cm = common_of(c, d);
        if (!has_heads(c, d) && (strata_dcm_count(d) > 0 || !cm))
            sum += source_need_kbps(ch, d);
        if (cm && !has_heads(c, cm))
            sum += source_need_kbps(ch, cm);
    }
    return sum;
}

/* What the source gives region d, which it feeds itself while the
 * backbone runs: what d's trees need to leave no pair detached (at least
 * 5/4 of the rate: a small region of members with little upload needs the
 * source in most of its trees); when the needs of the directly fed regions
 * and the backbone (needs) exceed the source's upload, the backbone's need
 * is met first and the directly fed regions share what it leaves by need;
 * never below 5/4 of the rate. A backbone pair left without a parent is a
 * head's, and the head's region tree hangs under it, cut off from the
 * source without counting as detached. */
static uint32_t direct_region_kbps(const ctl_channel *ch, strata_dcm *d, uint64_t needs)
{
    uint32_t share = source_region_kbps(ch);
    if (ch->source_upload_kbps == 0)
        return share; /* unlimited */
    uint64_t want = source_need_kbps(ch, d);
    if (needs > ch->source_upload_kbps) {
        uint64_t bb = ch->backbone ? source_need_kbps(ch, ch->backbone) : 0;
        uint64_t left = ch->source_upload_kbps > bb ? ch->source_upload_kbps - bb : 0;
        want = want * left / (needs - bb); /* needs - bb >= d's need > 0 */
    }
    return want > share ? (uint32_t)(want > UINT32_MAX ? UINT32_MAX : want) : share;
}

/* Tells every DCM of the channel its source and root budget. Without a
 * backbone each region gets the source's whole upload, as the source
 * feeds every region. With one, a region fed by heads gets what its heads
 * can give; the source's upload is split between the backbone and the
 * regions it still feeds itself by what their trees need
 * (direct_region_kbps; the backbone keeps what those leave, but never
 * less than 5/4 of the rate). */
/* --- levels = ec: a cluster's trees at distinct preferred nodes ---------------------
 *
 * Each of a region's k + n trees is rooted at another preferred node, so
 * that any c - 1 of them lost cost the cluster at most c - 1 trees, which
 * its n >= c - 1 parity trees make up (docs/hierarchy.md). The region's
 * own heads keep one tree each, the lowest (data trees first); the other
 * trees go to other regions' heads with room for the tree's root children,
 * the one with the most upload left first (nearest first once group
 * distances reach the control center); a head whose root children came to
 * take more than its share gives one back. Without enough heads a region's own share trees
 * (spread_trees) or the source feeds them; a region with no capable member of its own is fed by
 * other regions' heads alone. */

/* The root children head h feeds in the source's place: in the trees of
 * its region it roots and in other regions' (levels = ec). */
static uint64_t root_links(const ctl_node *h)
{
    uint64_t links = 0;
    if (h->roots)
        links += strata_dcm_child_links(h->roots, STRATA_MTREE_SOURCE, h->root_subs);
    for (uint8_t i = 0; i < h->naway; i++)
        links += strata_dcm_child_links(h->away[i].d, STRATA_MTREE_SOURCE, 1u << h->away[i].tree);
    if (h->feeds)
        links += strata_dcm_child_links(h->feeds, STRATA_MTREE_SOURCE, h->feed_subs);
    return links;
}

/* What the root children of tree s of d take of their feeder (kbit/s): a
 * k-th of the rate each. */
static uint64_t tree_root_kbps(const strata_dcm *d, uint8_t s, uint32_t rate_kbps)
{
    return strata_dcm_child_links(d, STRATA_MTREE_SOURCE, 1u << s) * rate_kbps / strata_dcm_k(d);
}

/* What head h's root children take now, in its region's trees and others'.
 * The trees' root budgets split each feeder's upload evenly, but a tree
 * with no interior member takes more than its even share (tree.h, "Source
 * shares"): the actual load, not the promise, says whether a head can
 * take another tree. */
static uint64_t root_load_kbps(const ctl_node *h, uint32_t rate_kbps)
{
    return root_links(h) * rate_kbps / strata_dcm_k(h->dcm);
}

/* What head h has left for root children (kbit/s; negative: overloaded). */
static int64_t away_room(const ctl_node *h, uint32_t rate_kbps)
{
    return (int64_t)head_region_kbps(h->upload_kbps, rate_kbps) -
           (int64_t)root_load_kbps(h, rate_kbps);
}

/* The best head of cands[0..n-1] for tree s of d: not of d's region, not
 * feeding d already, with room for the tree's root children (one at
 * least) left; the most room first; NULL if none. */
static ctl_node *away_candidate(ctl_node **cands, size_t n, const strata_dcm *d, uint8_t s,
                                uint32_t rate_kbps)
{
    ctl_node *best = NULL;
    int64_t best_room = 0;
    uint64_t need = tree_root_kbps(d, s, rate_kbps);
    uint64_t one = rate_kbps / strata_dcm_k(d);
    if (need < one)
        need = one;
    for (size_t i = 0; i < n; i++) {
        ctl_node *h = cands[i];
        if (h->roots == d || h->naway >= CONTROL_MAX_AWAY_TREES)
            continue;
        int already = 0;
        for (uint8_t j = 0; j < h->naway && !already; j++)
            already = h->away[j].d == d;
        if (already)
            continue;
        int64_t room = away_room(h, rate_kbps);
        if (room < (int64_t)need)
            continue;
        if (!best || room > best_room || (room == best_room && h->id.v < best->id.v)) {
            best = h;
            best_room = room;
        }
    }
    return best;
}

/* A head whose root children take more than its share of upload (a
 * quarter over: the trees' budgets settle after each change) gives back
 * the other region's tree that takes the most; 1 when it gave one. */
static int shed_away(ctl_node *h, uint32_t rate_kbps)
{
    uint64_t cap = head_region_kbps(h->upload_kbps, rate_kbps);
    if (h->naway == 0 || root_load_kbps(h, rate_kbps) <= cap + cap / 4)
        return 0;
    uint8_t worst = 0;
    uint64_t worst_kbps = 0;
    for (uint8_t i = 0; i < h->naway; i++) {
        uint64_t v = tree_root_kbps(h->away[i].d, h->away[i].tree, rate_kbps);
        if (v > worst_kbps) {
            worst = i;
            worst_kbps = v;
        }
    }
    strata_dcm *d = h->away[worst].d;
    uint8_t t = h->away[worst].tree;
    if (strata_dcm_substream_root(d, t).node.v == h->id.v)
        strata_dcm_set_substream_root(d, t, (strata_peer_ref){{0}, {0, 0}});
    h->away[worst] = h->away[--h->naway];
    strata_dcm_mark_dirty(h->dcm, h->id); /* it stops sending that tree */
    return 1;
}

/* Gives d's trees without a feeder of their own, and the extra trees of
 * its heads of several, to other regions' heads. */
static int ec_assign(strata_control *c, ctl_channel *ch, strata_dcm *d, ctl_node **cands, size_t n)
{
    int changed = 0;
    for (int s = strata_dcm_trees(d) - 1; s >= 0; s--) {
        ctl_node *f = tree_feeder(c, d, (uint8_t)s);
        int shared = f && f->roots == d && popcount32(f->root_subs) > 1;
        if (f && !shared)
            continue;
        ctl_node *g = away_candidate(cands, n, d, (uint8_t)s, ch->rate_kbps);
        if (!g)
            return changed; /* everyone is full, or every head is d's */
        if (shared) {
            f->root_subs &= ~(1u << s);
            strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
        }
        g->away[g->naway++] = (struct ctl_away){d, (uint8_t)s};
        strata_dcm_set_substream_root(d, (uint8_t)s, (strata_peer_ref){g->id, g->host->addr});
        changed = 1;
    }
    return changed;
}

/* ec_assign for every region of ch that needs it; 1 when a tree moved. */
static int ec_assign_channel(strata_control *c, ctl_channel *ch)
{
    if (!ec_levels(c) || !ch->backbone)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *h = c->nodes.items[i];
        if (h->ch != ch || !h->roots)
            continue;
        if (n == c->away_cap) {
            size_t cap = c->away_cap ? c->away_cap * 2 : 64;
            ctl_node **p = strata_mem_realloc(c->alloc, c->away_cands, cap * sizeof *p);
            if (!p)
                break; /* no memory: fewer candidates this time */
            c->away_cands = p;
            c->away_cap = cap;
        }
        c->away_cands[n++] = h;
    }
    int changed = 0;
    for (size_t i = 0; i < n; i++)
        changed |= shed_away(c->away_cands[i], ch->rate_kbps);
    for (size_t i = 0; i < ch->ndcms && n > 0; i++)
        changed |= ec_assign(c, ch, ch->dcms[i], c->away_cands, n);
    return changed;
}

/* --- levels = 3: common clusters fed by relay members --------------------------------
 *
 * A relay member keeps for the common trees it feeds what a preferred node
 * keeps for the region trees it feeds (head_region_kbps: half its upload,
 * at least 5/4 of the rate) and gives its relay cluster the rest. Each
 * common tree is fed by a relay member with room, those feeding fewest
 * trees first, so that each tree has another feeder when there are k; a
 * region whose relay cluster has nobody with room has its common trees fed
 * by its preferred nodes, and a region with neither by the source. The
 * relay cluster itself gets few root children (RELAY_ROOT_LINKS a tree):
 * its members carry its trees, and every root child of a tree rooted in
 * another region is a copy of a k-th of the stream crossing regions. */
enum {
    RELAY_ROOT_LINKS = 2,     /* root children per relay tree the budget aims at */
    RELAY_CANDIDATES = 32,    /* relay members weighed per common tree */
    RELAY_MIN_RATE_TIMES = 2, /* a relay member's upload: at least twice the rate */
};

/* 1 when d is a region's relay cluster (levels 3). */
static int is_relay_cluster(const strata_control *c, const strata_dcm *d)
{
    return c->levels == STRATA_LEVELS_THREE && strata_dcm_level(d) == 2;
}

/* The upload a member with this channel share gives cluster d: in a relay
 * cluster what feeding common trees leaves, elsewhere all of it. */
static uint32_t cluster_kbps(const strata_control *c, const strata_dcm *d, uint32_t upload_kbps,
                             uint32_t rate_kbps)
{
    if (!is_relay_cluster(c, d))
        return upload_kbps;
    return upload_kbps - head_region_kbps(upload_kbps, rate_kbps);
}

static uint32_t relay_min_kbps(const ctl_channel *ch)
{
    uint64_t v = (uint64_t)ch->rate_kbps * RELAY_MIN_RATE_TIMES;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* 1 when region d has a node that can feed common trees: a relay member or
 * one of its preferred nodes with twice the rate. */
static int has_strong_feeder(strata_control *c, const ctl_channel *ch, strata_dcm *d)
{
    strata_node_id id;
    if (strata_dcm_top_members(d, cluster_kbps(c, d, relay_min_kbps(ch), ch->rate_kbps), &id, 1))
        return 1;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        const ctl_node *h = sub_head(c, d, s);
        if (h && h->upload_kbps >= relay_min_kbps(ch))
            return 1;
    }
    return 0;
}

/* A node with this upload joining region d goes to its relay cluster when
 * it has twice the rate and the cluster has fewer than k + n members (one
 * interior per tree), and whatever its upload while the region has no
 * node with twice the rate to feed common trees (has_strong_feeder): such
 * a region keeps one erasure-coded cluster for all, as with levels ec,
 * whose trees other regions' preferred nodes feed. (Asking for k strong
 * relay members, one feeder per common tree, made regions of 20 merge and
 * split under churn: delivery 0.99733 at 10,000 peers against 0.99976;
 * asking for one, without counting preferred nodes, 0.99840.) */
static int joins_relay(strata_control *c, const ctl_channel *ch, strata_dcm *d,
                       uint32_t upload_kbps)
{
    if (c->levels != STRATA_LEVELS_THREE)
        return 1;
    if (upload_kbps >= relay_min_kbps(ch) && strata_dcm_count(d) < strata_dcm_trees(d))
        return 1;
    return !has_strong_feeder(c, ch, d);
}

/* Node f stops feeding common trees; they go to the source until
 * common_assign finds them other feeders. */
static void drop_feeds(ctl_node *f)
{
    strata_dcm *cm = f->feeds;
    for (uint8_t s = 0; cm && s < strata_dcm_k(cm); s++)
        if (((f->feed_subs >> s) & 1u) && strata_dcm_substream_root(cm, s).node.v == f->id.v)
            strata_dcm_set_substream_root(cm, s, (strata_peer_ref){{0}, {0, 0}});
    f->feeds = NULL;
    f->feed_subs = 0;
}

/* Common cluster cm goes: its feeders stop feeding it. */
static void forget_feeders_of(strata_control *c, strata_dcm *cm)
{
    for (uint8_t s = 0; s < strata_dcm_k(cm); s++) {
        ctl_node *f = tree_feeder(c, cm, s);
        if (f && f->feeds == cm) {
            drop_feeds(f);
            strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending to its root children */
        }
    }
}

/* The better feeder for a common tree of a and b (either may be NULL):
 * a relay member before a preferred node, then fewer common trees fed,
 * then more room. */
static ctl_node *better_feeder(ctl_node *a, ctl_node *b, uint32_t rate_kbps)
{
    if (!a || !b)
        return a ? a : b;
    int ah = a->roots != NULL, bh = b->roots != NULL;
    if (ah != bh)
        return ah ? b : a;
    unsigned af = popcount32(a->feed_subs), bf = popcount32(b->feed_subs);
    if (af != bf)
        return af < bf ? a : b;
    int64_t ar = away_room(a, rate_kbps), br = away_room(b, rate_kbps);
    if (ar != br)
        return ar > br ? a : b;
    return a->id.v < b->id.v ? a : b;
}

/* Gives every tree of region d's common cluster a feeder (see above), and
 * moves a tree off a feeder of several, or off a preferred node, to a
 * relay member feeding none. Returns 1 when a feeder changed. */
static int common_assign(strata_control *c, ctl_channel *ch, strata_dcm *d)
{
    strata_dcm *cm = common_of(c, d);
    if (!cm)
        return 0;
    ctl_node *cands[RELAY_CANDIDATES + STRATA_WIRE_MAX_TREES];
    size_t n = 0;
    strata_node_id ids[RELAY_CANDIDATES];
    size_t m = strata_dcm_top_members(d, 0, ids, RELAY_CANDIDATES);
    for (size_t i = 0; i < m; i++) {
        ctl_node *r = member_get(c, ids[i], ch->id);
        if (r && !r->restoring && (!r->feeds || r->feeds == cm))
            cands[n++] = r;
    }
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        ctl_node *h = sub_head(c, d, s);
        int seen = !h || (h->feeds && h->feeds != cm);
        for (size_t i = 0; i < n && !seen; i++)
            seen = cands[i] == h;
        if (!seen)
            cands[n++] = h;
    }
    uint32_t rate = ch->rate_kbps;
    int64_t one = rate / strata_dcm_k(cm);
    int changed = 0;
    for (uint8_t s = 0; s < strata_dcm_k(cm); s++) {
        ctl_node *f = tree_feeder(c, cm, s);
        if (f && f->roots == NULL && popcount32(f->feed_subs) == 1)
            continue; /* a relay member feeding this tree alone */
        ctl_node *best = NULL, *head = NULL;
        int64_t need = (int64_t)tree_root_kbps(cm, s, rate);
        for (size_t i = 0; i < n; i++) {
            ctl_node *g = cands[i];
            if (g == f)
                continue;
            if (g->roots)
                head = better_feeder(head, g, rate);
            if (away_room(g, rate) < (need > one ? need : one))
                continue;
            best = better_feeder(best, g, rate);
        }
        if (!best && !f)
            best =
                head; /* its own region's first: it gives other regions' trees back (shed_away) */
        /* A feeder keeps its tree unless a relay member can take it off a
         * preferred node, or off a relay member of two more trees. */
        if (f &&
            !(best && best->roots == NULL &&
              (f->roots != NULL || popcount32(best->feed_subs) + 1 < popcount32(f->feed_subs))))
            continue;
        if (!best) {
            if (strata_dcm_substream_root(cm, s).node.v)
                strata_dcm_set_substream_root(cm, s, (strata_peer_ref){{0}, {0, 0}});
            continue; /* the source feeds it */
        }
        if (f) {
            f->feed_subs &= ~(1u << s);
            if (!f->feed_subs)
                f->feeds = NULL;
            strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
        }
        best->feeds = cm;
        best->feed_subs |= 1u << s;
        strata_dcm_set_substream_root(cm, s, (strata_peer_ref){best->id, best->host->addr});
        strata_dcm_mark_dirty(best->dcm, best->id);
        changed = 1;
    }
    return changed;
}

/* Common cluster cm of a region has no member left: it goes, after telling
 * the source it has no roots there. */
static void retire_common(strata_control *c, strata_dcm *cm, uint64_t now);

/* Common member rec of cm moves to its region's relay cluster d; 1 when
 * it did (0: no memory, it stays). */
static int move_to_relay(strata_control *c, const ctl_channel *ch, strata_dcm *d, strata_dcm *cm,
                         ctl_node *rec)
{
    if (strata_dcm_add(d, rec->id, rec->host->addr,
                       cluster_kbps(c, d, rec->upload_kbps, ch->rate_kbps)))
        return 0;
    strata_dcm_remove(cm, rec->id);
    rec->dcm = d;
    return 1;
}

/* Region d's relay cluster short of k + n members takes the best common
 * members with twice the rate: after promotions took relay members to the
 * top (the evaluations) and after a relay member or preferred node left.
 * If the region still has nobody with twice the rate to feed the common
 * trees, the common cluster merges into the relay cluster (the region is
 * then one erasure-coded cluster, as joins_relay would have made it).
 * Returns 1 when a member moved. */
static int relays_top_up(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    strata_dcm *cm = common_of(c, d);
    int moved = 0;
    while (cm && strata_dcm_count(d) < strata_dcm_trees(d)) {
        strata_node_id id = strata_dcm_best_member(cm, relay_min_kbps(ch));
        ctl_node *rec = id.v ? member_get(c, id, ch->id) : NULL;
        if (!rec || rec->restoring || !move_to_relay(c, ch, d, cm, rec))
            break;
        moved = 1;
    }
    if (cm && !has_strong_feeder(c, ch, d)) {
        strata_node_id ids[64];
        size_t n;
        while ((n = strata_dcm_top_members(cm, 0, ids, 64)) > 0) {
            size_t done = 0;
            for (size_t i = 0; i < n; i++) {
                ctl_node *rec = member_get(c, ids[i], ch->id);
                done += rec && move_to_relay(c, ch, d, cm, rec);
            }
            moved |= done > 0;
            if (done < n)
                break; /* no memory: the rest stay common until the next try */
        }
    }
    if (cm && strata_dcm_count(cm) == 0)
        retire_common(c, cm, now);
    return moved;
}

static void flush_channel(strata_control *c, ctl_channel *ch, uint64_t now);

/* The root budget of cluster d fed by preferred nodes or relay members:
 * what they can give (headed_region_kbps); with levels 3 a region's own
 * clusters come first: at least what their trees need to leave no pair
 * detached, even if the feeders then carry more than their share
 * (shed_away gives other regions' trees back), and a relay cluster aims at
 * a few root children a tree (see "levels = 3"). */
static uint32_t headed_budget_kbps(strata_control *c, const ctl_channel *ch, strata_dcm *d)
{
    uint32_t budget = headed_region_kbps(c, d, ch->rate_kbps);
    if (c->levels != STRATA_LEVELS_THREE)
        return budget;
    uint32_t need = strata_dcm_source_need_kbps(d);
    if (is_relay_cluster(c, d)) {
        uint32_t aim = strata_dcm_root_links_kbps(d, RELAY_ROOT_LINKS);
        if (budget > aim)
            budget = aim;
    }
    return budget < need ? need : budget;
}

/* Tells cluster d (a region's, or its common cluster) its source and root
 * budget (see push_roots); returns what of the source's upload it takes. */
static uint64_t push_cluster_roots(strata_control *c, ctl_channel *ch, strata_dcm *d,
                                   uint64_t needs, uint64_t now)
{
    int headed = has_heads(c, d);
    uint32_t budget;
    if (headed)
        budget = headed_budget_kbps(c, ch, d);
    else if (ch->backbone)
        budget = direct_region_kbps(ch, d, needs);
    else
        budget = ch->source_upload_kbps;
    /* An empty relay cluster above a common one takes nothing. */
    uint64_t used = headed || strata_dcm_count(d) == 0 ? 0 : budget;
    int err = strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, budget);
    if (!err && ch->backbone && !headed) {
        /* The rebuild may have changed the share of uploads the trees use,
         * and with it what they need: once more, settled. */
        uint32_t again = direct_region_kbps(ch, d, needs);
        if (again > budget) {
            used += again - budget;
            err = strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, again);
        }
    }
    if (err && log_allowed(c, STRATA_LOG_ERROR, now))
        strata_logf(c->log, STRATA_LOG_ERROR, "control: dcm %u: source update failed: %s",
                    (unsigned)strata_dcm_id_of(d).v, strata_strerror(err));
    return used;
}

/* common_assign for every region of ch (levels 3); 1 when a feeder moved. */
static int common_assign_channel(strata_control *c, ctl_channel *ch)
{
    int changed = 0;
    for (size_t i = 0; c->levels == STRATA_LEVELS_THREE && i < ch->ndcms; i++)
        changed |= common_assign(c, ch, ch->dcms[i]);
    return changed;
}

static void push_roots(strata_control *c, ctl_channel *ch, uint64_t now)
{
    /* The trees that moved may be other regions' than those the caller
     * flushes: they are flushed at the end. */
    int moved = ec_assign_channel(c, ch);
    moved |= common_assign_channel(c, ch);
    if (!ch->source.v) {
        if (moved)
            flush_channel(c, ch, now);
        return; /* DCMs learn the source when it joins */
    }
    uint64_t needs = ch->backbone ? source_needs_kbps(c, ch) : 0;
    uint64_t used = 0;
    for (size_t i = 0; i < ch->ndcms; i++) {
        used += push_cluster_roots(c, ch, ch->dcms[i], needs, now);
        strata_dcm *cm = common_of(c, ch->dcms[i]);
        if (cm)
            used += push_cluster_roots(c, ch, cm, needs, now);
    }
    if (ch->backbone) {
        uint64_t left = 0;
        if (ch->source_upload_kbps) {
            uint32_t share = source_region_kbps(ch);
            left = used < ch->source_upload_kbps ? ch->source_upload_kbps - used : 0;
            if (left < share)
                left = share;
        }
        int err = strata_dcm_set_source(ch->backbone, ch->source, ch->source_addr, ch->rate_kbps,
                                        (uint32_t)left);
        if (err && log_allowed(c, STRATA_LOG_ERROR, now))
            strata_logf(c->log, STRATA_LOG_ERROR, "control: backbone: source update failed: %s",
                        strata_strerror(err));
    }
    if (moved)
        flush_channel(c, ch, now);
}

/* After a join or leave in region d: a directly fed region whose trees
 * now need another budget gets it (push_roots, which also resizes the
 * backbone's share). */
static void direct_region_changed(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    if (!ch->backbone || d == ch->backbone || !ch->source.v)
        return;
    if (c->levels == STRATA_LEVELS_THREE && has_heads(c, d)) {
        /* Its budget follows what its trees need (headed_budget_kbps). */
        uint32_t b = headed_budget_kbps(c, ch, d);
        if (b != strata_dcm_source_budget_kbps(d))
            strata_dcm_set_source(d, ch->source, ch->source_addr, ch->rate_kbps, b);
        return;
    }
    if (has_heads(c, d) || ch->source_upload_kbps == 0)
        return;
    if (direct_region_kbps(ch, d, source_needs_kbps(c, ch)) != strata_dcm_source_budget_kbps(d))
        push_roots(c, ch, now);
}

static void retire_common(strata_control *c, strata_dcm *cm, uint64_t now)
{
    strata_dcm_mark_dirty(cm, STRATA_MTREE_SOURCE);
    flush_dcm(c, cm, now);
    dcm_destroy(c, cm);
}

/* Makes member id of regional DCM d a head: it leaves d's trees for the
 * backbone's. Returns it, or NULL (no memory: it stays a member). */
static ctl_node *make_head(strata_control *c, ctl_channel *ch, strata_dcm *d, strata_node_id id,
                           uint64_t now)
{
    ctl_node *h = member_get(c, id, ch->id);
    if (!h)
        return NULL;
    uint32_t backbone_kbps = h->upload_kbps - head_region_kbps(h->upload_kbps, ch->rate_kbps);
    if (strata_dcm_add_in_region(ch->backbone, h->id, h->host->addr, backbone_kbps,
                                 strata_dcm_id_of(d).v))
        return NULL;
    if (!strata_dcm_fed(ch->backbone, h->id)) {
        /* A mesh without room for it: it would head a region and receive
         * nothing. */
        strata_dcm_remove(ch->backbone, h->id);
        return NULL;
    }
    strata_dcm_remove(d, h->id);
    h->dcm = ch->backbone;
    h->roots = d;
    h->root_subs = 0;
    h->preferred_since_ns = now ? now : 1;
    c->promotions++;
    if (log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx heads in dcm %u",
                    (unsigned long long)h->id.v, (unsigned)strata_dcm_id_of(d).v);
    return h;
}

/* Heads per region. Each head receives the whole stream from the backbone
 * (it is a viewer too), so every head costs the backbone one stream; and
 * a region whose head of tree s dies misses substream s until the control
 * center finds the death (dead_after), which without erasure coding is as
 * bad for a player as missing the stream. One head per region, then: the
 * machinery below handles up to k (one per tree), for when the levels
 * above carry coded substreams (SPEC C6). */
enum { CONTROL_HEADS_PER_REGION = 1 }; /* with the backbone; see heads_per_region */

/* The distinct heads feeding d's trees. */
static unsigned head_count(strata_control *c, strata_dcm *d)
{
    unsigned n = 0;
    uint32_t seen = 0;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        ctl_node *h = sub_head(c, d, s);
        if (!h || (h->root_subs & seen))
            continue;
        seen |= h->root_subs;
        n++;
    }
    return n;
}

/* Gives regional DCM d (of a channel with a backbone) a head for each of
 * its k trees: its best members with at least the stream rate of upload,
 * up to CONTROL_HEADS_PER_REGION, each head one tree in the order of their
 * upload; with fewer heads than trees the best heads take several, and a
 * newcomer takes a tree over from a head of several while the limit
 * allows. A region without such a member is fed by the source. Returns 1
 * when heads feed d; *moved (may be NULL) is set when a tree got another
 * feeder, so that the budgets need pushing (push_roots). */
static int region_take_heads(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now,
                             int *moved)
{
    if (moved)
        *moved = 0;
    if (!ch->backbone)
        return 0;
    uint8_t k = strata_dcm_trees(d);
    for (uint8_t s = 0; s < k; s++) {
        ctl_node *h = sub_head(c, d, s);
        if (h && popcount32(h->root_subs) == 1)
            continue;
        if (!h && tree_feeder(c, d, s))
            continue; /* another region's preferred node feeds it (ec_assign) */
        strata_node_id id = {0};
        if (head_count(c, d) < c->heads_per_region)
            id = strata_dcm_best_member(d, head_min_in(c, ch, d));
        ctl_node *nh = id.v ? make_head(c, ch, d, id, now) : NULL;
        if (!nh) {
            if (h)
                continue; /* keeps its several trees */
            /* The best head there is takes this tree too. */
            for (uint8_t t = 0; t < k; t++) {
                ctl_node *o = sub_head(c, d, t);
                if (o && (!nh || o->upload_kbps > nh->upload_kbps ||
                          (o->upload_kbps == nh->upload_kbps && o->id.v < nh->id.v)))
                    nh = o;
            }
            if (!nh)
                continue;
        }
        if (h)
            h->root_subs &= ~(1u << s);
        nh->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){nh->id, nh->host->addr});
        if (moved)
            *moved = 1;
    }
    /* Trees whose feeder went and that no head took go back to the source
     * (another region's head may feed the others: ec_assign). */
    for (uint8_t s = 0; s < k; s++)
        if (!tree_feeder(c, d, s) && strata_dcm_substream_root(d, s).node.v)
            strata_dcm_set_substream_root(d, s, (strata_peer_ref){{0}, {0, 0}});
    return has_heads(c, d);
}

/* The channel's second region starts its backbone: a DCM without a region
 * whose members are the regions' heads and whose root is the source. */
static void backbone_start(strata_control *c, ctl_channel *ch, uint64_t now)
{
    ch->backbone = dcm_make(c, ch, DCM_BACKBONE, NULL, 0, (strata_dcm_id){0});
    if (!ch->backbone)
        return; /* no memory: the source keeps feeding every region; tried again at the next join */
    for (size_t i = 0; i < ch->ndcms; i++)
        region_take_heads(c, ch, ch->dcms[i], now, NULL);
    push_roots(c, ch, now);
    flush_channel(c, ch, now);
}

/* --- preferred nodes (levels = mesh) ------------------------------------------------
 *
 * With a mesh above the regions, a region's heads are its preferred nodes
 * (SPEC C4, C10). The first capable member of a region heads it at once,
 * as with the backbone (a region must not wait for its first feeder);
 * every PREF_EVAL_HEARTBEATS heartbeat intervals each region's heads and
 * its best members are weighed on their history (preferred.h: declared
 * upload, upload delivered against what their place asks, uptime, stalls
 * caused), empty places are filled and a much better member replaces the
 * weakest head, one at a time, with hysteresis. The region's trees are then
 * spread over its heads. A replaced head goes back to its region's trees
 * in the same batch of instructions as its successor joins the mesh and
 * takes trees: not yet make before break (a root child whose feeder
 * changes repairs what it missed meanwhile; docs/hierarchy.md). */
enum {
    PREF_EVAL_HEARTBEATS = 10,
    PREF_CANDIDATES = 8, /* best members per region weighed beside its heads */
    PREF_MAX_HEADS = STRATA_WIRE_MAX_SUBSTREAMS,
};

/* What node rec's place asks of it (kbit/s): a stream per child link per
 * k, in its region's trees or, for a head, in the mesh and the root
 * children it feeds. */
static uint32_t asked_kbps(const ctl_node *rec, const ctl_channel *ch)
{
    uint64_t links =
        strata_dcm_child_links(rec->dcm, rec->id, (1u << strata_dcm_trees(rec->dcm)) - 1u) +
        root_links(rec);
    uint64_t kbps = links * ch->rate_kbps / strata_dcm_k(rec->dcm);
    return kbps > UINT32_MAX ? UINT32_MAX : (uint32_t)kbps;
}

static void fill_candidate(const ctl_node *rec, const ctl_channel *ch, uint64_t now,
                           strata_pref_candidate *out)
{
    memset(out, 0, sizeof *out);
    out->node = rec->id;
    out->upload_kbps = rec->upload_kbps;
    out->expected_kbps = asked_kbps(rec, ch);
    out->delivered_kbps = rec->delivered_kbps;
    out->uptime_ns = elapsed(now, rec->joined_ns);
    out->stalls = rec->stalls;
    out->preferred = rec->roots != NULL;
    out->held_ns = rec->roots ? elapsed(now, rec->preferred_since_ns) : 0;
}

/* Head h goes back to its region's trees; the trees it fed go to the
 * region's other heads, or to the source. Returns 0 or an error (it stays
 * a head). */
static int unmake_head(strata_control *c, ctl_channel *ch, ctl_node *h, uint64_t now)
{
    strata_dcm *d = h->roots;
    if (strata_dcm_add(d, h->id, h->host->addr, cluster_kbps(c, d, h->upload_kbps, ch->rate_kbps)))
        return STRATA_ERR_NOMEM;
    strata_dcm_remove(ch->backbone, h->id);
    h->dcm = d;
    h->roots = NULL;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++)
        if ((h->root_subs >> s) & 1u)
            strata_dcm_set_substream_root(d, s, (strata_peer_ref){{0}, {0, 0}});
    h->root_subs = 0;
    drop_away(h);
    c->demotions++;
    if (log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx no longer heads dcm %u",
                    (unsigned long long)h->id.v, (unsigned)strata_dcm_id_of(d).v);
    return 0;
}

/* Spreads d's k trees over its heads: a tree keeps its head unless that
 * head has more than its share (ceil(k / heads)) while another has less
 * than its floor; trees without a head go to the head with the fewest. */
static void spread_trees(strata_control *c, strata_dcm *d, ctl_node **heads, size_t n)
{
    uint8_t k = strata_dcm_trees(d);
    if (n == 0)
        return;
    unsigned hi = (unsigned)((k + n - 1) / n), lo = (unsigned)(k / n);
    for (uint8_t s = 0; s < k; s++) {
        ctl_node *h = sub_head(c, d, s);
        if (!h && tree_feeder(c, d, s))
            continue; /* another region's preferred node feeds it (ec_assign) */
        size_t least = 0;
        for (size_t i = 1; i < n; i++)
            if (popcount32(heads[i]->root_subs) < popcount32(heads[least]->root_subs))
                least = i;
        if (h && (popcount32(h->root_subs) <= hi && popcount32(heads[least]->root_subs) >= lo))
            continue;
        if (h && popcount32(h->root_subs) <= popcount32(heads[least]->root_subs) + 1u)
            continue;
        ctl_node *to = heads[least];
        if (h)
            h->root_subs &= ~(1u << s);
        to->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){to->id, to->host->addr});
    }
}

/* levels = ec: a tree for a region's head that has none (one just
 * promoted, while other regions' heads feed the rest): one that another
 * region's head feeds, data trees first, else one of a head of several.
 * Returns the tree, or -1 when every tree has a head of its region alone. */
static int claim_tree(strata_control *c, strata_dcm *d)
{
    uint8_t trees = strata_dcm_trees(d);
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *f = tree_feeder(c, d, s);
        if (!f || f->roots == d)
            continue;
        for (uint8_t i = 0; i < f->naway; i++)
            if (f->away[i].d == d && f->away[i].tree == s) {
                f->away[i] = f->away[--f->naway];
                break;
            }
        strata_dcm_mark_dirty(f->dcm, f->id); /* it stops sending tree s */
        return s;
    }
    for (uint8_t s = 0; s < trees; s++) {
        ctl_node *f = sub_head(c, d, s);
        if (f && popcount32(f->root_subs) > 1) {
            f->root_subs &= ~(1u << s);
            strata_dcm_mark_dirty(f->dcm, f->id);
            return s;
        }
    }
    return -1;
}

/* Every head of d feeds a tree of its region: a head without one is
 * invisible to the evaluations (they find heads by the trees) and would
 * stay one for good while others are promoted beside it. One that no tree
 * can be found for goes back to the region's trees. */
static void heads_take_trees(strata_control *c, ctl_channel *ch, strata_dcm *d, ctl_node **heads,
                             size_t n, uint64_t now)
{
    for (size_t i = 0; i < n; i++) {
        ctl_node *h = heads[i];
        if (h->root_subs || !h->roots)
            continue;
        int s = ec_levels(c) ? claim_tree(c, d) : -1;
        if (s < 0) {
            unmake_head(c, ch, h, now);
            continue;
        }
        h->root_subs |= 1u << s;
        strata_dcm_set_substream_root(d, (uint8_t)s, (strata_peer_ref){h->id, h->host->addr});
    }
}

/* Heads the mesh no longer feeds (their feeder left and no member has room
 * for them) go back to their regions' trees, whose trees get other heads
 * or the source. Returns 1 when one went. */
static int drop_unfed_heads(strata_control *c, ctl_channel *ch, uint64_t now)
{
    strata_node_id unfed[PREF_MAX_HEADS];
    size_t n;
    int any = 0;
    while (ch->backbone && (n = strata_dcm_unfed(ch->backbone, unfed, PREF_MAX_HEADS)) > 0) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            ctl_node *h = member_get(c, unfed[i], ch->id);
            strata_dcm *d = h ? h->roots : NULL;
            if (!d || unmake_head(c, ch, h, now) != 0)
                continue;
            region_take_heads(c, ch, d, now, NULL);
            done++;
        }
        any |= done > 0;
        if (done < n)
            break; /* no memory, or not a head: try again at the next change */
    }
    return any;
}

/* One region's evaluation; returns 1 when its heads changed. */
static int evaluate_region(strata_control *c, ctl_channel *ch, strata_dcm *d,
                           const strata_pref_config *pc, uint64_t now)
{
    ctl_node *recs[PREF_MAX_HEADS + PREF_CANDIDATES];
    strata_pref_candidate cand[PREF_MAX_HEADS + PREF_CANDIDATES];
    uint8_t want[PREF_MAX_HEADS + PREF_CANDIDATES];
    size_t n = 0;
    uint32_t seen = 0;
    for (uint8_t s = 0; s < strata_dcm_trees(d); s++) {
        ctl_node *h = sub_head(c, d, s);
        if (h && !(h->root_subs & seen) && n < PREF_MAX_HEADS) {
            seen |= h->root_subs;
            recs[n++] = h;
        }
    }
    strata_node_id top[PREF_CANDIDATES];
    size_t nt = strata_dcm_top_members(d, head_min_in(c, ch, d), top, PREF_CANDIDATES);
    for (size_t i = 0; i < nt; i++) {
        ctl_node *m = member_get(c, top[i], ch->id);
        if (m && !m->restoring)
            recs[n++] = m;
    }
    for (size_t i = 0; i < n; i++)
        fill_candidate(recs[i], ch, now, &cand[i]);
    int changes = strata_pref_choose(cand, n, pc, want);
    if (changes <= 0)
        return 0;
    /* Promotions first: a region never goes without a head. */
    ctl_node *heads[PREF_MAX_HEADS];
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        if (!want[i] || cand[i].preferred)
            continue;
        if (make_head(c, ch, d, recs[i]->id, now))
            cand[i].preferred = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (cand[i].preferred && !want[i] && unmake_head(c, ch, recs[i], now) == 0)
            cand[i].preferred = 0;
        if (cand[i].preferred && nh < PREF_MAX_HEADS)
            heads[nh++] = recs[i];
    }
    spread_trees(c, d, heads, nh);
    heads_take_trees(c, ch, d, heads, nh, now);
    return 1;
}

/* Every region of every channel with a mesh, every PREF_EVAL_HEARTBEATS
 * heartbeat intervals. */
static void evaluate_preferred(strata_control *c, uint64_t now)
{
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->backbone || !ch->source.v)
            continue;
        strata_pref_config pc = {
            .rate_kbps = ch->rate_kbps,
            .min_upload_kbps = head_min_kbps(ch),
            .per_region = c->heads_per_region,
            .probation_ns = STRATA_MS(STRATA_PREF_DEFAULT_PROBATION_MS),
            .hysteresis_pct = STRATA_PREF_DEFAULT_HYSTERESIS_PCT,
            .min_hold_ns = STRATA_MS(STRATA_PREF_DEFAULT_MIN_HOLD_MS),
        };
        int changed = 0;
        for (size_t j = 0; j < ch->ndcms; j++) {
            changed |= evaluate_region(c, ch, ch->dcms[j], &pc, now);
            changed |= relays_top_up(c, ch, ch->dcms[j], now);
        }
        changed |= drop_unfed_heads(c, ch, now);
        /* Stalls count for the last few evaluations, not for good. */
        for (size_t j = 0; j < c->nodes.count; j++) {
            ctl_node *rec = c->nodes.items[j];
            if (rec->ch == ch)
                rec->stalls /= 2;
        }
        if (changed) {
            push_roots(c, ch, now);
            flush_channel(c, ch, now);
        }
    }
}

/* Tells whoever holds a ref to membership rec its node's new address. */
static void member_moved(strata_control *c, ctl_node *rec, strata_addr addr, uint64_t now)
{
    if (rec->role == STRATA_ROLE_SOURCE) {
        rec->ch->source_addr = addr;
        push_roots(c, rec->ch, now);
        return;
    }
    strata_dcm_set_addr(rec->dcm, rec->id, addr);
    for (uint8_t s = 0; rec->roots && s < strata_dcm_trees(rec->roots); s++)
        if ((rec->root_subs >> s) & 1u)
            strata_dcm_set_substream_root(rec->roots, s, (strata_peer_ref){rec->id, addr});
    for (uint8_t i = 0; i < rec->naway; i++)
        strata_dcm_set_substream_root(rec->away[i].d, rec->away[i].tree,
                                      (strata_peer_ref){rec->id, addr});
}

/* Records a node's new address (heard from membership rec) and tells the
 * DCMs of every channel it is in. */
static void set_addr(strata_control *c, ctl_node *rec, strata_addr addr, uint64_t now)
{
    ctl_host *h = rec->host;
    if (strata_addr_eq(h->addr, addr))
        return;
    h->addr = addr;
    for (uint8_t i = 0; i < h->n_members; i++)
        member_moved(c, h->members[i], addr, now);
    for (uint8_t i = 0; i < h->n_members; i++)
        if (h->members[i] != rec)
            flush_node(c, h->members[i], now); /* rec's own caller flushes it */
}

/* The last region of a channel gone and its backbone empty, the backbone
 * goes too, after telling the source it has no roots there. */
static void backbone_maybe_stop(strata_control *c, ctl_channel *ch, uint64_t now)
{
    if (!ch->backbone || ch->ndcms > 0 || strata_dcm_count(ch->backbone) > 0)
        return;
    strata_dcm_mark_dirty(ch->backbone, STRATA_MTREE_SOURCE);
    flush_dcm(c, ch->backbone, now);
    dcm_destroy(c, ch->backbone);
}

/* --- node table (client manager) ------------------------------------------------------- */

/* The upload a node delivers, from its heartbeats' transmit counter: a
 * moving average over heartbeats (a quarter of the newest sample). A
 * counter that went back (the node started again) only restarts it. */
static void note_delivered(ctl_node *rec, uint64_t tx_bytes, uint64_t now)
{
    uint64_t dt_ms = elapsed(now, rec->tx_sample_ns) / 1000000u;
    if (rec->tx_sample_ns && dt_ms > 0 && tx_bytes >= rec->tx_sample_bytes) {
        uint64_t kbps = (tx_bytes - rec->tx_sample_bytes) * 8u / dt_ms;
        if (kbps > UINT32_MAX)
            kbps = UINT32_MAX;
        rec->delivered_kbps = (uint32_t)((rec->delivered_kbps * 3u + kbps) / 4u);
    }
    rec->tx_sample_ns = now ? now : 1;
    rec->tx_sample_bytes = tx_bytes;
}

static void forget_counters(strata_control *c, ctl_node *rec)
{
    c->played_sum -= rec->played;
    c->missed_sum -= rec->missed;
    if (rec->role == STRATA_ROLE_SOURCE)
        c->source_tx_sum -= rec->tx_bytes;
    else
        c->peer_tx_sum -= rec->tx_bytes;
    rec->played = rec->missed = rec->tx_bytes = 0;
}

/* The node record of id, made (with room for a membership) when new.
 * NULL when out of memory or the node is in as many channels as allowed. */
static ctl_host *host_for(strata_control *c, strata_node_id id, strata_addr addr,
                          uint32_t upload_kbps)
{
    ctl_host *h = ptab_get(&c->hosts, id.v);
    if (h)
        return h->n_members < STRATA_CONTROL_MAX_CHANNELS_PER_NODE ? h : NULL;
    if (ptab_reserve(&c->hosts, c->alloc, c->hosts.count + 1))
        return NULL;
    h = strata_mem_calloc(c->alloc, 1, sizeof *h);
    if (!h)
        return NULL;
    h->id = id;
    h->addr = addr;
    h->upload_kbps = upload_kbps;
    ptab_put(&c->hosts, id.v, h);
    return h;
}

static void host_release_if_empty(strata_control *c, ctl_host *h)
{
    if (h->n_members)
        return;
    ptab_del(&c->hosts, h->id.v);
    strata_mem_free(c->alloc, h);
}

/* Takes membership rec into the tables (room was reserved by node_new). */
static void member_insert(strata_control *c, ctl_node *rec)
{
    if (rec->role == STRATA_ROLE_RELAY)
        c->relays++;
    ptab_put(&c->nodes, member_key(c, rec->id, rec->ch->id), rec);
    rec->host->members[rec->host->n_members++] = rec;
}

/* A membership that never made it into the tables. */
static void member_discard(strata_control *c, ctl_node *rec)
{
    ctl_host *h = rec->host;
    strata_mem_free(c->alloc, rec);
    host_release_if_empty(c, h);
}

/* What channel ch's trees can use of one node: the slots of its interior
 * tree are capped at STRATA_WIRE_MAX_CHILDREN, so upload beyond
 * max_children x rate / k buys nothing there. */
static uint32_t channel_demand_kbps(const strata_control *c, const ctl_channel *ch)
{
    uint64_t d = (uint64_t)ch->rate_kbps * STRATA_WIRE_MAX_CHILDREN / (c->k ? c->k : 1);
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Membership a goes before b in the node's upload. */
static int share_before(const ctl_node *a, const ctl_node *b)
{
    return a->priority < b->priority ||
           (a->priority == b->priority && a->joined_seq < b->joined_seq);
}

/* Shares node h's upload among its channels (SPEC C12): in priority order
 * (ties to the earlier member), each channel gets what its trees can use
 * (channel_demand_kbps) out of what the channels before it left, and the
 * last one all that remains. A channel alone gets the whole upload, as it
 * always did; a second one of lower priority gets only what the first
 * cannot use, so starting it never takes upload from the first one's
 * trees. Sources keep the upload their JOIN gave. Writes each
 * membership's share into want[] (in h->members order). */
static void compute_shares(const strata_control *c, const ctl_host *h, uint32_t *want)
{
    const ctl_node *order[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
    size_t n = 0;
    for (uint8_t i = 0; i < h->n_members; i++) {
        const ctl_node *m = h->members[i];
        want[i] = m->upload_kbps;
        if (!in_trees(m))
            continue;
        size_t j = n++;
        while (j > 0 && share_before(m, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = m;
    }
    uint32_t left = h->upload_kbps;
    for (size_t j = 0; j < n; j++) {
        uint32_t give = left;
        if (j + 1 < n) {
            uint32_t demand = channel_demand_kbps(c, order[j]->ch);
            give = demand < left ? demand : left;
        }
        left -= give;
        for (uint8_t i = 0; i < h->n_members; i++)
            if (h->members[i] == order[j])
                want[i] = give;
    }
}

/* Applies compute_shares to every membership of h but skip (whose share
 * its caller set): a plain member whose share changed leaves its trees and
 * joins them again with the new share, so its children find parents that
 * can carry them. A region's head keeps its share until it stops heading
 * (the backbone has no way yet to resize a member in place). */
static void share_uploads(strata_control *c, ctl_host *h, const ctl_node *skip, uint64_t now)
{
    uint32_t want[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
    compute_shares(c, h, want);
    for (uint8_t i = 0; i < h->n_members; i++) {
        ctl_node *m = h->members[i];
        if (m == skip || !in_trees(m) || m->roots || want[i] == m->upload_kbps)
            continue;
        if (m->restoring) {
            m->upload_kbps = want[i]; /* its tree is built with it */
            continue;
        }
        strata_dcm *d = m->dcm;
        uint32_t rate = m->ch->rate_kbps;
        if (strata_dcm_remove(d, m->id) == 0 &&
            strata_dcm_add(d, m->id, h->addr, cluster_kbps(c, d, want[i], rate)) == 0) {
            m->upload_kbps = want[i];
        } else if (!strata_dcm_has(d, m->id) &&
                   strata_dcm_add(d, m->id, h->addr, cluster_kbps(c, d, m->upload_kbps, rate)) !=
                       0) {
            /* Out of memory with the member out of its trees: it is told
             * so at its next heartbeat (UNKNOWN) and joins again. */
            continue;
        }
        flush_dcm(c, d, now);
    }
}

/* The channel's rate changed (its source announced it): what its trees can
 * use of a node changed too, so every node in it and another channel
 * shares its upload again. */
static void reshare_channel(strata_control *c, const ctl_channel *ch, uint64_t now)
{
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *rec = c->nodes.items[i];
        if (rec->ch == ch && in_trees(rec) && rec->host->n_members > 1)
            share_uploads(c, rec->host, NULL, now);
    }
}

/* Removes a membership (leave, death, or a JOIN that changes its role) and
 * repairs the trees it was in; the node's other channels get its upload. */
static void remove_node(strata_control *c, ctl_node *rec, uint64_t now)
{
    ctl_channel *ch = rec->ch;
    ctl_host *host = rec->host;
    if (rec->role == STRATA_ROLE_RELAY)
        c->relays--;
    /* Its counters stay in the sums: status figures cover the whole run. */
    ptab_del(&c->nodes, member_key(c, rec->id, ch->id));
    for (uint8_t i = 0; i < host->n_members; i++) {
        if (host->members[i] == rec) {
            host->members[i] = host->members[--host->n_members];
            break;
        }
    }
    if (rec->restoring) {
        /* In no tree yet: its DCM goes if nobody else waits for it. */
        c->peers--;
        strata_dcm *d = rec->dcm;
        if (dcm_unused(c, d)) {
            dcm_destroy(c, d);
            backbone_maybe_stop(c, ch, now); /* it may have been the last region */
        }
    } else if (rec->role == STRATA_ROLE_SOURCE) {
        /* Children keep their trees and the source's ref: the data plane
         * goes on as it was until a new source registers. */
        ch->source_live = 0;
        c->sources--;
    } else if (rec->roots) {
        /* A region's head leaves the backbone; its trees get other heads,
         * or the source, or the region goes if no one is left in it. */
        strata_dcm *region = rec->roots;
        strata_dcm_remove(rec->dcm, rec->id);
        drop_away(rec);
        drop_feeds(rec);
        c->peers--;
        if (dcm_unused(c, region)) {
            dcm_destroy(c, region);
        } else {
            relays_top_up(c, ch, region, now); /* levels 3: a candidate for its place */
            if (!region_take_heads(c, ch, region, now, NULL))
                /* The source feeds it again: it must learn its roots there. */
                strata_dcm_mark_dirty(region, STRATA_MTREE_SOURCE);
        }
        drop_unfed_heads(c, ch, now); /* leaves it fed in a mesh */
        push_roots(c, ch, now);
        flush_channel(c, ch, now);
        backbone_maybe_stop(c, ch, now);
    } else {
        strata_dcm *d = rec->dcm, *region = home_of(c, d);
        int fed = rec->feeds != NULL;
        drop_feeds(rec);
        strata_dcm_remove(d, rec->id);
        c->peers--;
        if (d != region) {
            /* A common member: its cluster goes with its last member; the
             * region's relay cluster stays or goes as a region would. */
            if (dcm_unused(c, d)) {
                retire_common(c, d, now);
            } else {
                direct_region_changed(c, ch, d, now);
                flush_dcm(c, d, now);
            }
            d = region;
        } else if (fed || common_of(c, d)) {
            /* A relay member: the cluster takes another from the common
             * one, and the common trees it fed get other feeders
             * (push_roots runs common_assign). */
            relays_top_up(c, ch, d, now);
            push_roots(c, ch, now);
            flush_channel(c, ch, now);
        }
        if (dcm_unused(c, d)) {
            /* Tell the source this region has no roots left, then go. */
            strata_dcm_mark_dirty(d, STRATA_MTREE_SOURCE);
            flush_dcm(c, d, now);
            dcm_destroy(c, d);      /* a region, or the emptied backbone */
            push_roots(c, ch, now); /* one directly fed region fewer */
            flush_channel(c, ch, now);
            backbone_maybe_stop(c, ch, now);
        } else {
            direct_region_changed(c, ch, d, now);
            flush_dcm(c, d, now);
            if (ch->backbone && d != ch->backbone)
                flush_dcm(c, ch->backbone, now);
        }
    }
    strata_mem_free(c->alloc, rec);
    channel_maybe_release(c, ch);
    if (host->n_members)
        share_uploads(c, host, NULL, now);
    else
        host_release_if_empty(c, host);
}

/* A new membership of node j->node in ch, not yet in the tables
 * (member_insert); its share of the upload is set for a peer
 * (compute_shares). NULL when out of memory, when the node is in too many
 * channels, or in the rare case of a key collision. */
static ctl_node *node_new(strata_control *c, const strata_msg_join *j, strata_addr addr,
                          ctl_channel *ch, uint64_t now)
{
    if (ptab_reserve(&c->nodes, c->alloc, c->nodes.count + 1) ||
        ptab_get(&c->nodes, member_key(c, j->node, ch->id)))
        return NULL;
    ctl_host *h = host_for(c, j->node, addr, j->upload_kbps);
    if (!h)
        return NULL;
    ctl_node *rec = strata_mem_calloc(c->alloc, 1, sizeof *rec);
    if (!rec) {
        host_release_if_empty(c, h);
        return NULL;
    }
    h->addr = addr;
    h->upload_kbps = j->upload_kbps;
    rec->id = j->node;
    rec->host = h;
    if (!ch->name_len) {
        /* what a RECRUIT will name the channel by */
        ch->name_len = j->name_len;
        memcpy(ch->name, j->name, j->name_len);
    }
    rec->role = j->role;
    rec->priority = j->priority;
    rec->joined_seq = ++c->joins_seq;
    rec->joined_ns = now;
    rec->ch = ch;
    rec->upload_kbps = j->upload_kbps;
    rec->last_seen_ns = now;
    if (in_trees(rec) && h->n_members) {
        /* Its place among the node's channels, counted as if it were in. */
        uint32_t want[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
        h->members[h->n_members++] = rec;
        compute_shares(c, h, want);
        h->n_members--;
        rec->upload_kbps = want[h->n_members];
    }
    return rec;
}

/* --- JOIN ---------------------------------------------------------------------------- */

static void send_join_reply(strata_control *c, strata_addr to, const strata_msg_join *j,
                            strata_channel_id ch_id, const ctl_channel *ch, uint8_t status,
                            strata_dcm_id dcm)
{
    strata_msg_join_reply r;
    memset(&r, 0, sizeof r);
    r.node = j->node;
    r.channel = ch_id;
    r.status = status;
    r.dcm = status == STRATA_JOIN_OK ? dcm : (strata_dcm_id){0};
    r.k = c->k;
    r.rate_kbps = ch && ch->source_live ? ch->rate_kbps : 0;
    r.heartbeat_ms = c->heartbeat_ms;
    r.start_seq = ch ? ch->start_seq : 0;
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_outbox_push_bytes(c->outbox, to, enc,
                             strata_wire_encode_join_reply(enc, sizeof enc, &r));
}

/* protocol.md 7.8: "group:" and 16 lower-case hex digits. */
static int is_group_label(const uint8_t *s, size_t len)
{
    static const char prefix[] = "group:";
    if (len != sizeof prefix - 1 + 16 || memcmp(s, prefix, sizeof prefix - 1) != 0)
        return 0;
    for (size_t i = sizeof prefix - 1; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The region of a joining node: its label when it gives one and the mode
 * allows (in LOCALITY mode, a group label only), else its address prefix
 * ("10.1.2.0/24"). */
static int region_of(const strata_control *c, const strata_msg_join *j, strata_addr from, char *out,
                     size_t *len)
{
    int take_label =
        j->region_len > 0 &&
        (c->region_mode == STRATA_REGION_LABEL_OR_PREFIX ||
         (c->region_mode == STRATA_REGION_LOCALITY && is_group_label(j->region, j->region_len)));
    if (take_label) {
        /* Labels end up in logs and status pages: printable ASCII only. */
        for (size_t i = 0; i < j->region_len; i++)
            if (j->region[i] < 0x20 || j->region[i] > 0x7e)
                return STRATA_ERR_RANGE;
        memcpy(out, j->region, j->region_len);
        *len = j->region_len;
        return 0;
    }
    uint32_t mask = c->prefix_bits >= 32 ? UINT32_MAX : ~(UINT32_MAX >> c->prefix_bits);
    uint32_t net = from.ipv4 & mask;
    int n = snprintf(out, CONTROL_REGION_BUF, "%u.%u.%u.%u/%u", (unsigned)(net >> 24),
                     (unsigned)(net >> 16) & 255u, (unsigned)(net >> 8) & 255u,
                     (unsigned)net & 255u, (unsigned)c->prefix_bits);
    if (n <= 0 || n >= CONTROL_REGION_BUF)
        return STRATA_ERR_RANGE;
    *len = (size_t)n;
    return 0;
}

/* A peer's region: the DCM whose trees it is in, or, for a head (a
 * member of the backbone's trees), the one whose trees it feeds. */
static strata_dcm *region_dcm(const strata_control *c, const ctl_node *rec)
{
    return rec->roots ? rec->roots : home_of(c, rec->dcm);
}

/* 1 when a member's JOIN names another region than the one it is in. */
static int region_moved(strata_control *c, const ctl_node *rec, const char *region,
                        size_t region_len)
{
    strata_dcm_id id;
    if (strata_directory_lookup(c->dir, rec->ch->id, region, region_len, &id) != 0)
        return 1;
    return ptab_get(&c->dcms, id.v) != region_dcm(c, rec);
}

/* A JOIN from a node we know (its reply was lost, or it moved): same DCM,
 * reply again, send its instructions again. */
static int rejoin(strata_control *c, ctl_node *rec, const strata_msg_join *j, strata_addr from,
                  uint64_t now)
{
    ctl_channel *ch = rec->ch;
    rec->last_seen_ns = now;
    set_addr(c, rec, from, now);
    if (in_trees(rec) &&
        (j->priority != rec->priority || j->upload_kbps != rec->host->upload_kbps)) {
        rec->priority = j->priority;
        rec->host->upload_kbps = j->upload_kbps;
        share_uploads(c, rec->host, NULL, now);
    }
    if (rec->role == STRATA_ROLE_SOURCE &&
        (j->rate_kbps != ch->rate_kbps || j->upload_kbps != ch->source_upload_kbps)) {
        int rate_changed = j->rate_kbps != ch->rate_kbps;
        ch->rate_kbps = j->rate_kbps;
        ch->source_upload_kbps = j->upload_kbps;
        push_roots(c, ch, now);
        if (rate_changed)
            reshare_channel(c, ch, now);
    }
    strata_dcm *region = rec->roots ? rec->roots : rec->dcm;
    send_join_reply(c, from, j, ch->id, ch, STRATA_JOIN_OK,
                    region ? strata_dcm_id_of(region) : (strata_dcm_id){0});
    mark_resend(c, rec);
    flush_node(c, rec, now);
    return 0;
}

static void recruit_channel(strata_control *c, ctl_channel *ch, uint64_t now);

static int join_source(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                       strata_addr from, uint64_t now)
{
    ctl_node *rec = NULL;
    ctl_channel *ch = channel_get(c, ch_id);
    if (ch && ch->source_live) {
        /* One live source per channel; the known one would have matched
         * rejoin, so this is a different node. */
        send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_REFUSED, (strata_dcm_id){0});
        if (log_allowed(c, STRATA_LOG_WARN, now))
            strata_logf(c->log, STRATA_LOG_WARN,
                        "control: refused second source %016llx for channel %016llx",
                        (unsigned long long)j->node.v, (unsigned long long)ch_id.v);
        return 0;
    }
    if (c->nodes.count >= c->max_nodes)
        goto fail_full;
    ch = channel_get_or_create(c, ch_id);
    if (!ch)
        goto fail_channel;
    rec = node_new(c, j, from, ch, now);
    if (!rec)
        goto fail_node;
    member_insert(c, rec);
    if (ch->source.v != j->node.v)
        ch->start_seq = 0; /* a new source numbers its packets afresh */
    ch->source_live = 1;
    ch->source = j->node;
    ch->source_addr = from;
    ch->source_upload_kbps = j->upload_kbps;
    int rate_changed = j->rate_kbps != ch->rate_kbps;
    ch->rate_kbps = j->rate_kbps;
    c->sources++;
    c->joins++;
    push_roots(c, ch, now);
    if (rate_changed)
        reshare_channel(c, ch, now);
    send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, (strata_dcm_id){0});
    mark_resend(c, rec);
    flush_channel(c, ch, now);
    recruit_channel(c, ch, now);
    return 0;

fail_node:
    channel_maybe_release(c, ch);
fail_channel:
fail_full:
    send_join_reply(c, from, j, ch_id, NULL, STRATA_JOIN_OVERLOADED, (strata_dcm_id){0});
    return 0;
}

/* The logical id of the DCM a node joining in a recovery window reported
 * following (see "Restart"), or 0. */
static strata_dcm_id reported_dcm(const strata_control *c, strata_node_id node,
                                  strata_channel_id ch)
{
    const ctl_report *r = c->recover_until ? ptab_get(&c->reports, member_key(c, node, ch)) : NULL;
    return r && r->node.v == node.v && r->channel.v == ch.v ? r->dcm : (strata_dcm_id){0};
}

static int join_peer(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                     const char *region, size_t region_len, strata_addr from, uint64_t now)
{
    ctl_channel *ch = NULL;
    strata_dcm *d = NULL;
    ctl_node *rec = NULL;
    if (c->nodes.count >= c->max_nodes)
        goto fail_full;
    ch = channel_get_or_create(c, ch_id);
    if (!ch)
        goto fail_channel;
    d = dcm_for(c, ch, region, region_len, reported_dcm(c, j->node, ch_id));
    if (!d)
        goto fail_dcm;
    rec = node_new(c, j, from, ch, now);
    if (!rec)
        goto fail_node;
    /* With levels 3, the region's relay cluster or its common one. */
    strata_dcm *into = d;
    if (!joins_relay(c, ch, d, rec->upload_kbps)) {
        into = common_for(c, ch, d, reported_dcm(c, j->node, ch_id));
        if (!into)
            goto fail_common;
    }
    if (c->recover_until) {
        /* In a recovery window: a member, in a tree only when it closes. */
        rec->dcm = into;
        rec->restoring = 1;
        member_insert(c, rec);
        c->peers++;
        c->joins++;
        send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, strata_dcm_id_of(into));
        return 0;
    }
    if (strata_dcm_add(into, j->node, from, cluster_kbps(c, into, rec->upload_kbps, ch->rate_kbps)))
        goto fail_add;
    rec->dcm = into;
    member_insert(c, rec);
    share_uploads(c, rec->host, rec, now); /* channels of lower priority give way */
    c->peers++;
    c->joins++;
    if (!ch->backbone && ch->ndcms >= 2) {
        backbone_start(c, ch, now);
    } else if (ch->backbone && rec->upload_kbps >= head_min_kbps(ch) &&
               (!mesh_levels(c) || !has_heads(c, d))) {
        /* With a mesh, later places are the evaluations' (see "Preferred
         * nodes"). */
        /* A capable newcomer may head a tree (or the region's first);
         * budgets change only if it does. */
        int moved;
        region_take_heads(c, ch, d, now, &moved);
        if (moved)
            push_roots(c, ch, now);
    }
    if (common_assign(c, ch, d))
        push_roots(c, ch, now); /* a common tree got a feeder: budgets move */
    if (ch->backbone)
        direct_region_changed(c, ch, into, now);
    send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, strata_dcm_id_of(into));
    flush_dcm(c, into, now);
    if (into != d)
        flush_dcm(c, d, now); /* its relay members feed into's trees */
    if (ch->backbone)
        flush_dcm(c, ch->backbone, now);
    return 0;

fail_add:
    if (into != d && strata_dcm_count(into) == 0)
        dcm_destroy(c, into);
fail_common:
    member_discard(c, rec);
fail_node:
    if (dcm_unused(c, d))
        dcm_destroy(c, d);
fail_dcm:
    channel_maybe_release(c, ch);
fail_channel:
fail_full:
    send_join_reply(c, from, j, ch_id, NULL, STRATA_JOIN_OVERLOADED, (strata_dcm_id){0});
    return 0;
}

static int handle_join(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                       uint64_t now)
{
    strata_msg_join j;
    int rc = strata_wire_decode_join(buf, buflen, &j);
    if (rc < 0)
        return drop(c, from, rc, "JOIN", now);
    if (j.node.v == 0 || j.node.v == STRATA_MTREE_SOURCE.v)
        return drop(c, from, STRATA_ERR_RANGE, "JOIN (reserved node id)", now);
    if (j.role == STRATA_ROLE_SOURCE && j.rate_kbps == 0)
        return drop(c, from, STRATA_ERR_RANGE, "source JOIN without a rate", now);
    char region[CONTROL_REGION_BUF];
    size_t region_len = 0;
    rc = region_of(c, &j, from, region, &region_len);
    if (rc < 0)
        return drop(c, from, rc, "JOIN (region label)", now);
    strata_channel_id ch_id = strata_channel_id_from_name((const char *)j.name, j.name_len);

    ctl_node *rec = member_get(c, j.node, ch_id);
    if (rec && rec->role != j.role) {
        /* Same node and channel, another role: the old membership is over. */
        remove_node(c, rec, now);
        rec = NULL;
    }
    if (rec && in_trees(rec) && region_moved(c, rec, region, region_len)) {
        /* A member under another label (its locality group merged into
         * another): it leaves its region's trees and joins the new one's,
         * as a LEAVE and a JOIN would. */
        if (log_allowed(c, STRATA_LOG_INFO, now))
            strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx moves to region %.*s",
                        (unsigned long long)rec->id.v, (int)region_len, region);
        remove_node(c, rec, now);
        rec = NULL;
        c->region_moves++;
    }
    if (rec)
        return rejoin(c, rec, &j, from, now);
    if (j.role == STRATA_ROLE_SOURCE)
        return join_source(c, &j, ch_id, from, now);
    return join_peer(c, &j, ch_id, region, region_len, from, now);
}

/* --- HEARTBEAT ------------------------------------------------------------------------ */

/* Keeps (or refreshes) what a node reports of its parents while a recovery
 * window is open. Out of memory or over max_nodes it is not kept: that
 * member's trees are then built as a join would build them. */
static void keep_report(strata_control *c, const strata_msg_heartbeat *hb)
{
    uint64_t key = member_key(c, hb->node, hb->channel);
    ctl_report *r = ptab_get(&c->reports, key);
    if (r && (r->node.v != hb->node.v || r->channel.v != hb->channel.v))
        return; /* a chance key collision: the first keeps it */
    if (!r) {
        if (c->reports.count >= c->max_nodes ||
            ptab_reserve(&c->reports, c->alloc, c->reports.count + 1))
            return;
        r = strata_mem_calloc(c->alloc, 1, sizeof *r);
        if (!r)
            return;
        r->node = hb->node;
        r->channel = hb->channel;
        ptab_put(&c->reports, key, r);
    }
    if (hb->dcm.v)
        r->dcm = hb->dcm;
    r->n_parents = hb->n_parents;
    for (uint8_t s = 0; s < hb->n_parents; s++)
        r->parents[s] = hb->parents[s].parent;
}

static void drop_reports(strata_control *c)
{
    for (size_t i = 0; i < c->reports.count; i++)
        strata_mem_free(c->alloc, c->reports.items[i]);
    ptab_free(&c->reports, c->alloc);
    ptab_init(&c->reports, c->alloc, c->seed ^ 0x7265706f727473ull);
}

/* The recovery window closes: every DCM is rebuilt from its members'
 * reports (see "Restart"), then the channels resume as joins would leave
 * them (backbones, heads, budgets) and one batch of instructions goes out. */
static void finish_recovery(strata_control *c, uint64_t now)
{
    c->recover_until = 0;
    size_t restored = 0, kept = 0, edges = 0;
    for (size_t i = 0; i < c->dcms.count; i++) {
        strata_dcm *d = c->dcms.items[i];
        ctl_channel *ch = channel_get(c, strata_dcm_channel(d));
        if (!ch)
            continue;
        size_t n = 0;
        for (size_t j = 0; j < c->nodes.count; j++) {
            const ctl_node *m = c->nodes.items[j];
            n += m->restoring && m->dcm == d;
        }
        if (n == 0)
            continue;
        strata_dcm_report *r = strata_mem_calloc(c->alloc, n, sizeof *r);
        n = 0;
        for (size_t j = 0; r && j < c->nodes.count; j++) {
            ctl_node *m = c->nodes.items[j];
            if (!m->restoring || m->dcm != d)
                continue;
            strata_dcm_report *e = &r[n++];
            e->node = m->id;
            e->addr = m->host->addr;
            e->upload_kbps = cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps);
            e->interior = -1;
        }
        /* Parents named by the reports: the source, or a member of d. */
        for (size_t a = 0; r && a < n; a++) {
            const ctl_report *rep = ptab_get(&c->reports, member_key(c, r[a].node, ch->id));
            for (uint8_t s = 0; rep && s < rep->n_parents && s < strata_dcm_trees(d); s++) {
                strata_node_id p = rep->parents[s];
                if (p.v == 0)
                    continue;
                edges++;
                if (ch->source.v && p.v == ch->source.v) {
                    r[a].parents[s] = STRATA_MTREE_SOURCE;
                    continue;
                }
                for (size_t b = 0; b < n; b++) {
                    if (r[b].node.v == p.v && b != a) {
                        r[a].parents[s] = p;
                        r[b].interior = s; /* a parent has children in s */
                        break;
                    }
                }
            }
        }
        int err = r ? strata_dcm_restore(d, r, n) : STRATA_ERR_NOMEM;
        for (size_t a = 0; !err && a < n; a++) {
            for (uint8_t s = 0; s < c->k; s++) {
                /* As the node reports it: the source (or head) by its id. */
                strata_node_id want = r[a].parents[s];
                if (want.v == STRATA_MTREE_SOURCE.v)
                    want = ch->source;
                kept += want.v != 0 && strata_dcm_parent_id(d, r[a].node, s).v == want.v;
            }
        }
        strata_mem_free(c->alloc, r);
        for (size_t j = 0; j < c->nodes.count; j++) {
            ctl_node *m = c->nodes.items[j];
            if (!m->restoring || m->dcm != d)
                continue;
            m->restoring = 0;
            /* Without memory for the restore, members join as usual; one
             * that cannot is told UNKNOWN at its next heartbeat. */
            if (err)
                strata_dcm_add(d, m->id, m->host->addr,
                               cluster_kbps(c, d, m->upload_kbps, ch->rate_kbps));
            restored++;
        }
    }
    drop_reports(c);
    /* DCMs whose members all left in the window go, as they would have. */
    for (size_t i = c->dcms.count; i-- > 0;) {
        strata_dcm *d = c->dcms.items[i];
        ctl_channel *ch = channel_get(c, strata_dcm_channel(d));
        if (dcm_unused(c, d) && (!ch || d != ch->backbone)) {
            dcm_destroy(c, d);
            if (ch)
                channel_maybe_release(c, ch);
        }
    }
    if (log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: recovery window closed: %zu members back, %zu of %zu reported "
                    "edges kept",
                    restored, kept, edges);
    c->restored_members += restored;
    c->restored_edges += kept;
    c->reported_edges += edges;
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        if (!ch->backbone && ch->ndcms >= 2)
            backbone_start(c, ch, now);
        push_roots(c, ch, now);
        flush_channel(c, ch, now);
    }
}

/* 1 when a channel with members waiting for the recovery window has no
 * source back yet: its rate and the uploads its nodes share with other
 * channels are not known, and trees restored without them would be
 * rebuilt when the source joins. */
static int source_missing(const strata_control *c)
{
    for (size_t i = 0; i < c->nodes.count; i++) {
        const ctl_node *m = c->nodes.items[i];
        if (m->restoring && !m->ch->source_live)
            return 1;
    }
    return 0;
}

static int handle_heartbeat(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                            uint64_t now)
{
    strata_msg_heartbeat *hb = &c->hb;
    int rc = strata_wire_decode_heartbeat(buf, buflen, hb);
    if (rc < 0)
        return drop(c, from, rc, "HEARTBEAT", now);
    /* An epoch above any this control center gave: from before a restart
     * (a node it declared dead can only report its own epochs). */
    int from_before = now < c->adopt_epochs_until && hb->instr_epoch > c->epoch;
    if (from_before)
        c->epoch = hb->instr_epoch; /* outrank what the nodes follow */
    ctl_node *rec = member_get(c, hb->node, hb->channel);
    if (!rec && !c->recovered && from_before) {
        /* A node from before a restart: the recovery window opens. */
        c->recovered = 1;
        c->recover_until = deadline(now, c->hb_ns * RESTART_WINDOW_HEARTBEATS);
        c->recover_limit = deadline(now, c->hb_ns * RESTART_SOURCE_WAIT_HEARTBEATS);
        if (log_allowed(c, STRATA_LOG_INFO, now))
            strata_logf(c->log, STRATA_LOG_INFO,
                        "control: nodes from before a restart: rebuilding from their heartbeats");
    }
    if (c->recover_until && (!rec || rec->restoring) && hb->n_parents)
        keep_report(c, hb);
    if (!rec) {
        /* Declared dead after lost heartbeats, or from before a restart: it
         * is told to join again (protocol.md 3.3, UNKNOWN), and counted. */
        strata_msg_join j;
        memset(&j, 0, sizeof j);
        j.node = hb->node;
        send_join_reply(c, from, &j, hb->channel, NULL, STRATA_JOIN_UNKNOWN, (strata_dcm_id){0});
        return drop(c, from, STRATA_ERR_UNEXPECTED, "HEARTBEAT from unknown node", now);
    }

    rec->last_seen_ns = now;
    set_addr(c, rec, from, now);
    forget_counters(c, rec);
    rec->played = hb->played_packets;
    rec->missed = hb->missed_packets;
    rec->tx_bytes = hb->tx_data_bytes;
    note_delivered(rec, hb->tx_data_bytes, now);
    c->played_sum += rec->played;
    c->missed_sum += rec->missed;
    if (rec->role == STRATA_ROLE_SOURCE) {
        c->source_tx_sum += rec->tx_bytes;
        /* Newcomers start where the source is now. */
        uint64_t top = 0;
        for (size_t i = 0; i < hb->n_children; i++)
            if (hb->children[i].last_tx_seq > top)
                top = hb->children[i].last_tx_seq;
        if (top > 0)
            rec->ch->start_seq = top;
    } else {
        c->peer_tx_sum += rec->tx_bytes;
    }

    if (rec->restoring)
        return 0; /* in no tree until the recovery window closes */
    int resend =
        hb->instr_epoch < rec->last_epoch_sent && elapsed(now, rec->last_send_ns) > c->hb_ns;
    if (in_trees(rec)) {
        strata_dcm_heard heard;
        if (strata_dcm_heartbeat(rec->dcm, hb, now, &heard) == 0) {
            resend |= heard.resend;
            c->reparents += heard.reparented;
            for (uint8_t s = 0; heard.reparented && s < strata_dcm_trees(rec->dcm); s++) {
                ctl_node *p =
                    heard.stalled[s].v ? member_get(c, heard.stalled[s], rec->ch->id) : NULL;
                if (p && p->stalls < UINT32_MAX)
                    p->stalls++;
                if (heard.stalled[s].v && log_allowed(c, STRATA_LOG_INFO, now))
                    strata_logf(c->log, STRATA_LOG_INFO,
                                "control: node %016llx substream %u: parent %016llx stalled, "
                                "reparented",
                                (unsigned long long)rec->id.v, (unsigned)s,
                                (unsigned long long)heard.stalled[s].v);
            }
        }
    }
    if (resend)
        mark_resend(c, rec);
    flush_node(c, rec, now);
    return 0;
}

/* --- LEAVE ---------------------------------------------------------------------- */

static int handle_leave(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                        uint64_t now)
{
    strata_msg_leave m;
    int rc = strata_wire_decode_leave(buf, buflen, &m);
    if (rc < 0)
        return drop(c, from, rc, "LEAVE", now);
    ctl_node *rec = member_get(c, m.node, m.channel);
    if (!rec)
        return drop(c, from, STRATA_ERR_UNEXPECTED, "LEAVE from unknown node", now);
    c->leaves++;
    if (log_allowed(c, STRATA_LOG_DEBUG, now))
        strata_logf(c->log, STRATA_LOG_DEBUG, "control: node %016llx left",
                    (unsigned long long)rec->id.v);
    remove_node(c, rec, now);
    return 0;
}

/* --- public API ---------------------------------------------------------------------------- */

strata_control *strata_control_new(const strata_control_config *cfg, const strata_alloc *a,
                                   uint64_t now)
{
    strata_control_config def;
    if (!cfg) {
        memset(&def, 0, sizeof def);
        cfg = &def;
    }
    if (cfg->k > STRATA_WIRE_MAX_SUBSTREAMS || cfg->region_mode > STRATA_REGION_LOCALITY ||
        cfg->prefix_bits > 32 ||
        (cfg->levels != STRATA_LEVELS_BACKBONE && cfg->levels != STRATA_LEVELS_MESH &&
         cfg->levels != STRATA_LEVELS_EC && cfg->levels != STRATA_LEVELS_THREE) ||
        cfg->parity > STRATA_WIRE_MAX_PARITY ||
        cfg->preferred_per_region > STRATA_WIRE_MAX_SUBSTREAMS || cfg->mesh_c > STRATA_MESH_MAX_C)
        goto fail_config;
    strata_control *c = strata_mem_calloc(a, 1, sizeof *c);
    if (!c)
        goto fail_control;
    c->alloc = a;
    c->log = cfg->log;
    c->k = cfg->k ? cfg->k : STRATA_CONTROL_DEFAULT_K;
    c->region_mode = cfg->region_mode;
    c->prefix_bits = cfg->prefix_bits ? cfg->prefix_bits : STRATA_CONTROL_DEFAULT_PREFIX_BITS;
    c->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : STRATA_CONTROL_DEFAULT_HEARTBEAT_MS;
    c->recruit = !cfg->no_recruit;
    c->levels = cfg->levels;
    c->heads_per_region = cfg->levels != STRATA_LEVELS_BACKBONE
                              ? (cfg->preferred_per_region ? cfg->preferred_per_region
                                                           : STRATA_CONTROL_DEFAULT_PREFERRED)
                              : CONTROL_HEADS_PER_REGION;
    c->mesh_c = cfg->mesh_c;
    /* n >= c - 1 parity trees: any c - 1 preferred nodes lost cost a cluster
     * at most c - 1 trees (docs/hierarchy.md). */
    uint8_t mesh_c = cfg->mesh_c ? cfg->mesh_c : STRATA_MESH_DEFAULT_C;
    c->parity = cfg->parity ? cfg->parity : (mesh_c > 2 ? (uint8_t)(mesh_c - 1) : 1);
    c->max_nodes = cfg->max_nodes ? cfg->max_nodes : STRATA_CONTROL_DEFAULT_MAX_NODES;
    c->hb_ns = STRATA_MS(c->heartbeat_ms);
    c->dead_ns = cfg->dead_after_ms ? STRATA_MS(cfg->dead_after_ms) : c->hb_ns * 7 / 2;
    c->stall_ns = cfg->stall_after_ms ? STRATA_MS(cfg->stall_after_ms) : c->hb_ns * 3;
    c->seed = cfg->seed;
    c->next_dcm_id = 1;
    c->next_scan_ns = deadline(now, c->hb_ns);
    c->next_eval_ns = deadline(now, c->hb_ns * PREF_EVAL_HEARTBEATS);
    c->adopt_epochs_until = deadline(now, c->hb_ns * RESTART_ADOPT_HEARTBEATS);
    c->log_window_ns = now;
    ptab_init(&c->nodes, a, cfg->seed ^ 0x6e6f646573ull);
    ptab_init(&c->hosts, a, cfg->seed ^ 0x686f737473ull);
    ptab_init(&c->reports, a, cfg->seed ^ 0x7265706f727473ull);
    c->member_salt[0] = mix64(cfg->seed ^ 0x6d656d6265727331ull);
    c->member_salt[1] = mix64(cfg->seed ^ 0x6d656d6265727332ull);
    ptab_init(&c->channels, a, cfg->seed ^ 0x6368616e6eull);
    ptab_init(&c->dcms, a, cfg->seed ^ 0x64636d73ull);
    ptab_init(&c->pairs, a, cfg->seed ^ 0x7061697273ull);
    c->outbox = cfg->outbox;
    if (!c->outbox && !strata_outbox_init(&c->own_outbox, a, CONTROL_OUTBOX_CAP))
        c->outbox = &c->own_outbox;
    if (!c->outbox)
        goto fail_outbox;
    c->dir = strata_directory_new(a);
    if (!c->dir)
        goto fail_directory;
    return c;

fail_directory:
    strata_outbox_free(&c->own_outbox);
fail_outbox:
    strata_mem_free(a, c);
fail_control:
fail_config:
    return NULL;
}

void strata_control_del(strata_control *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nodes.count; i++)
        strata_mem_free(c->alloc, c->nodes.items[i]);
    for (size_t i = 0; i < c->hosts.count; i++)
        strata_mem_free(c->alloc, c->hosts.items[i]);
    ptab_free(&c->hosts, c->alloc);
    for (size_t i = 0; i < c->reports.count; i++)
        strata_mem_free(c->alloc, c->reports.items[i]);
    ptab_free(&c->reports, c->alloc);
    for (size_t i = 0; i < c->dcms.count; i++)
        strata_dcm_del(c->dcms.items[i]);
    for (size_t i = 0; i < c->channels.count; i++) {
        ctl_channel *ch = c->channels.items[i];
        strata_mem_free(c->alloc, ch->dcms);
        strata_mem_free(c->alloc, ch);
    }
    ptab_free(&c->nodes, c->alloc);
    ptab_free(&c->dcms, c->alloc);
    ptab_free(&c->pairs, c->alloc);
    ptab_free(&c->channels, c->alloc);
    strata_directory_del(c->dir);
    strata_outbox_free(&c->own_outbox);
    strata_mem_free(c->alloc, c->away_cands);
    strata_mem_free(c->alloc, c);
}

int strata_control_handle_datagram(strata_control *c, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now)
{
    if (!buf && buflen)
        return STRATA_ERR_INVAL;
    if (buflen > STRATA_WIRE_MAX_DATAGRAM_BYTES)
        return drop(c, from, STRATA_ERR_LONG, "oversized datagram", now);
    int type = strata_wire_peek_type(buf, buflen);
    if (type < 0)
        return drop(c, from, type, "datagram", now);
    switch (type) {
    case STRATA_MSG_JOIN:
        return handle_join(c, from, buf, buflen, now);
    case STRATA_MSG_HEARTBEAT:
        return handle_heartbeat(c, from, buf, buflen, now);
    case STRATA_MSG_LEAVE:
        return handle_leave(c, from, buf, buflen, now);
    default:
        return drop(c, from, STRATA_ERR_UNEXPECTED, "message the control does not take", now);
    }
}

/* --- recruiting relays (SPEC C5, C12) ------------------------------------------------- */

static void send_recruit(strata_control *c, const ctl_host *h, const ctl_channel *ch, uint8_t flags)
{
    strata_msg_recruit m = {
        .node = h->id, .flags = flags, .name_len = ch->name_len, .name = ch->name};
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_outbox_push_bytes(c->outbox, h->addr, enc,
                             strata_wire_encode_recruit(enc, sizeof enc, &m));
}

/* Upload node h has beyond what its channels' trees can use (0 if none). */
static uint64_t spare_kbps(const strata_control *c, const ctl_host *h)
{
    uint64_t used = 0;
    for (uint8_t i = 0; i < h->n_members; i++)
        if (in_trees(h->members[i]))
            used += channel_demand_kbps(c, h->members[i]->ch);
    return h->upload_kbps > used ? h->upload_kbps - used : 0;
}

/* 1 when node h is in region d's region (a membership of another channel
 * under the same label). */
static int in_region_of(const ctl_host *h, const strata_dcm *d)
{
    size_t len, mlen;
    const char *want = strata_dcm_region(d, &len);
    for (uint8_t i = 0; i < h->n_members; i++) {
        const ctl_node *m = h->members[i];
        const strata_dcm *md = m->roots ? m->roots : m->dcm;
        if (!in_trees(m) || !md)
            continue;
        const char *have = strata_dcm_region(md, &mlen);
        if (mlen == len && memcmp(have, want, len) == 0)
            return 1;
    }
    return 0;
}

/* Region d of channel ch leaves (node, substream) pairs without a parent:
 * its viewers lack upload. A node of the same region that watches other
 * channels and has upload they cannot use (at least the stream rate) is
 * asked to relay ch without watching it (RECRUIT, protocol.md 3.10): it
 * joins as a RELAY and the trees take its upload. Returns 1 when one was
 * asked. The candidates are
 * looked at RECRUIT_SCAN_HOSTS at a time, from where the last search
 * stopped, so a scan costs the same whatever the number of nodes. */
static int recruit_for(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    ctl_host *best = NULL;
    uint64_t best_spare = 0;
    size_t n = c->hosts.count;
    for (size_t i = 0; i < n && i < RECRUIT_SCAN_HOSTS; i++) {
        ctl_host *h = c->hosts.items[(c->recruit_cursor + i) % n];
        if (h->recruited_ns && elapsed(now, h->recruited_ns) < STRATA_MS(RECRUIT_RETRY_MS))
            continue;
        if (member_get(c, h->id, ch->id) || !in_region_of(h, d))
            continue;
        uint64_t spare = spare_kbps(c, h);
        if (spare >= ch->rate_kbps && spare > best_spare) {
            best = h;
            best_spare = spare;
        }
    }
    c->recruit_cursor = n ? (c->recruit_cursor + RECRUIT_SCAN_HOSTS) % n : 0;
    if (!best)
        return 0;
    best->recruited_ns = now;
    c->recruits_sent++;
    send_recruit(c, best, ch, 0);
    if (log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: recruiting node %016llx (%llu kbps spare) to relay channel %.*s",
                    (unsigned long long)best->id.v, (unsigned long long)best_spare,
                    (int)ch->name_len, (const char *)ch->name);
    return 1;
}

/* Relays of regions where nobody watches any more are released. One scan
 * a heartbeat interval: a pass finds the regions that have relays (a few),
 * a second the viewers among them, a third the relays to let go. */
static void release_idle_relays(strata_control *c)
{
    const strata_dcm *idle[RELEASE_SCAN_REGIONS];
    size_t n = 0;
    for (size_t i = 0; i < c->nodes.count && n < RELEASE_SCAN_REGIONS; i++) {
        const ctl_node *m = c->nodes.items[i];
        size_t j = 0;
        while (m->role == STRATA_ROLE_RELAY && j < n && idle[j] != region_dcm(c, m))
            j++;
        if (m->role == STRATA_ROLE_RELAY && j == n)
            idle[n++] = region_dcm(c, m);
    }
    for (size_t i = 0; i < c->nodes.count && n > 0; i++) {
        const ctl_node *m = c->nodes.items[i];
        for (size_t j = 0; m->role == STRATA_ROLE_PEER && j < n; j++) {
            if (idle[j] == region_dcm(c, m)) {
                idle[j] = idle[--n]; /* watched: not idle */
                break;
            }
        }
    }
    for (size_t i = 0; i < c->nodes.count && n > 0; i++) {
        const ctl_node *m = c->nodes.items[i];
        for (size_t j = 0; m->role == STRATA_ROLE_RELAY && j < n; j++) {
            if (idle[j] == region_dcm(c, m)) {
                send_recruit(c, m->host, m->ch, STRATA_RECRUIT_RELEASE);
                c->releases_sent++;
                break;
            }
        }
    }
}

static void recruit_channel(strata_control *c, ctl_channel *ch, uint64_t now)
{
    /* With one channel every node is in it: nobody to recruit. */
    if (!c->recruit || c->recover_until || c->channels.count < 2 || !ch->source_live ||
        !ch->name_len)
        return;
    for (size_t j = 0; j < ch->ndcms; j++) {
        strata_dcm *d = ch->dcms[j];
        /* A relay is interior in one tree: up to k at once, so that a
         * region short everywhere is served within one scan. */
        strata_dcm *cm = common_of(c, d);
        size_t detached = strata_mtree_detached(strata_dcm_tree(d)) +
                          (cm ? strata_mtree_detached(strata_dcm_tree(cm)) : 0);
        for (size_t r = 0; r < detached && r < c->k; r++)
            if (!recruit_for(c, ch, d, now))
                break;
    }
}

/* Every heartbeat interval; and at once when a source announces its rate,
 * the moment its trees learn what they need (so relays are in before the
 * first packets). */
static void recruit_scan(strata_control *c, uint64_t now)
{
    if (c->relays)
        release_idle_relays(c);
    for (size_t i = 0; i < c->channels.count; i++)
        recruit_channel(c, c->channels.items[i], now);
}

void strata_control_handle_timeout(strata_control *c, uint64_t now)
{
    if (c->recover_until && now >= c->recover_until) {
        if (now < c->recover_limit && source_missing(c))
            c->recover_until = deadline(now, c->hb_ns); /* see "Restart" */
        else
            finish_recovery(c, now);
    }
    if (now < c->next_scan_ns)
        return;
    c->next_scan_ns = deadline(now, c->hb_ns);
    /* Collect the dead in chunks (the table must not change while it is
     * walked), remove them, and look again until a walk finds fewer than a
     * chunk: one walk per CONTROL_SCAN_CHUNK deaths, without allocating. */
    uint64_t dead[CONTROL_SCAN_CHUNK]; /* member keys */
    size_t n;
    do {
        n = 0;
        for (size_t i = 0; i < c->nodes.count && n < CONTROL_SCAN_CHUNK; i++) {
            const ctl_node *rec = c->nodes.items[i];
            if (elapsed(now, rec->last_seen_ns) >= c->dead_ns)
                dead[n++] = c->nodes.keys[i];
        }
        for (size_t i = 0; i < n; i++) {
            ctl_node *rec = ptab_get(&c->nodes, dead[i]);
            if (!rec)
                continue;
            c->deaths++;
            if (log_allowed(c, STRATA_LOG_INFO, now))
                strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx is dead",
                            (unsigned long long)rec->id.v);
            remove_node(c, rec, now);
        }
    } while (n == CONTROL_SCAN_CHUNK);
    recruit_scan(c, now);
    if (mesh_levels(c) && !c->recover_until && now >= c->next_eval_ns) {
        c->next_eval_ns = deadline(now, c->hb_ns * PREF_EVAL_HEARTBEATS);
        evaluate_preferred(c, now);
    }
}

uint64_t strata_control_next_timeout(const strata_control *c)
{
    if (c->recover_until && c->recover_until < c->next_scan_ns)
        return c->recover_until;
    return c->next_scan_ns;
}

strata_outbox *strata_control_outbox(strata_control *c)
{
    return c->outbox;
}

size_t strata_control_topology(const strata_control *c, strata_control_entry *out, size_t cap)
{
    for (size_t i = 0; i < c->nodes.count && i < cap; i++) {
        const ctl_node *rec = c->nodes.items[i];
        strata_control_entry *e = &out[i];
        memset(e, 0, sizeof *e);
        e->node = rec->id;
        e->channel = rec->ch->id;
        e->role = rec->role;
        e->k = c->k;
        if (rec->dcm) {
            e->dcm = strata_dcm_id_of(rec->dcm);
            strata_dcm_parent_ids(rec->dcm, rec->id, e->parents, STRATA_WIRE_MAX_TREES);
        }
        const strata_dcm *rd = region_dcm(c, rec);
        if (ec_levels(c)) /* the levels that name one (mesh and backbone say 0) */
            e->level = rec->roots ? 1 : rec->dcm ? strata_dcm_level(rec->dcm) : 0;
        if (rd) {
            size_t len = 0;
            const char *r = strata_dcm_region(rd, &len);
            e->region_dcm = strata_dcm_id_of(rd);
            if (r && len)
                memcpy(e->region, r, len < sizeof e->region ? len : sizeof e->region - 1);
        }
        memcpy(e->channel_name, rec->ch->name, rec->ch->name_len);
        e->addr = rec->host->addr;
        e->upload_kbps = rec->upload_kbps;
        e->played = rec->played;
        e->missed = rec->missed;
        e->tx_bytes = rec->tx_bytes;
    }
    return c->nodes.count;
}

int strata_control_member_of(const strata_control *c, strata_node_id node, strata_channel_id ch,
                             strata_control_member *out)
{
    const ctl_node *rec = member_get(c, node, ch);
    if (!rec)
        return 0;
    out->role = rec->role;
    out->priority = rec->priority;
    out->channels = rec->host->n_members;
    out->upload_kbps = rec->upload_kbps;
    out->dcm = rec->dcm ? strata_dcm_id_of(rec->dcm) : (strata_dcm_id){0};
    return 1;
}

void strata_control_get_status(const strata_control *c, strata_control_status *st)
{
    memset(st, 0, sizeof *st);
    st->peers = c->peers;
    st->sources = c->sources;
    st->nodes = c->peers + c->sources;
    st->channels = c->channels.count;
    st->dcms = c->dcms.count;
    for (size_t i = 0; i < c->dcms.count; i++) {
        strata_mtree_stats ts;
        const strata_mtree *t = strata_dcm_tree(c->dcms.items[i]);
        if (!t)
            continue; /* a mesh: no tree to have detached pairs or depth */
        strata_mtree_get_stats(t, &ts);
        st->detached_pairs += ts.detached_pairs;
        if (ts.max_depth > st->max_depth)
            st->max_depth = ts.max_depth;
    }
    st->played_packets = c->played_sum;
    st->missed_packets = c->missed_sum;
    st->peer_tx_bytes = c->peer_tx_sum;
    st->source_tx_bytes = c->source_tx_sum;
    st->joins = c->joins;
    st->leaves = c->leaves;
    st->deaths = c->deaths;
    st->reparents = c->reparents;
    st->instructions_sent = c->instructions_sent;
    st->region_moves = c->region_moves;
    st->relays = c->relays;
    st->promotions = c->promotions;
    st->demotions = c->demotions;
    st->recruits_sent = c->recruits_sent;
    st->releases_sent = c->releases_sent;
    st->recovering = c->recover_until != 0;
    st->restored_members = c->restored_members;
    st->restored_edges = c->restored_edges;
    st->reported_edges = c->reported_edges;
    st->drops = c->drops;
}
