/*
 * One process's node: see strata/node.h for the contract.
 *
 * Model. The node owns the outbox every role queues into (each role is
 * created with a pointer to it), so the host drains one queue in the
 * order the datagrams were made. A datagram is routed by its type, and a
 * channel's by the channel id at its fixed offset (strata_wire_peek_channel),
 * without decoding the rest: the role decodes it in full and counts its
 * own drops.
 *
 * After every entry call, sync() passes on what one role learnt for
 * another: the bootstrap client is told whether the agent leads, and the
 * viewer channels that follow the group get it as their region (a held
 * channel joins; a joined one joins again under the new label, which the
 * control center takes as a move between regions).
 *
 * Channels live in a small array of pointers (at most
 * STRATA_NODE_MAX_CHANNELS), looked up by a linear scan: a node watches a
 * handful of channels at most.
 */
#include "strata/node.h"

#include "auth.h"
#include "mix.h"
#include "reach.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum node_limits {
    LOG_LINES_PER_SECOND = 8,
    /* Anti-amplification tables (reach.h): addresses a peer or source
     * talks to are few; a control center verifies every member's. */
    REACH_NODE_ADDRESSES = 1024,
    REACH_CONTROL_ADDRESSES = 1 << 16,
    HELD_REQUESTS = 64, /* JOINs, and requests answered in part, waiting for their address */
    /* INSTRUCTIONs and RECRUITs of a session not installed yet (auth.h):
     * a newcomer's k + n instructions can overtake its JOIN_REPLY. */
    EARLY_DATAGRAMS = STRATA_WIRE_MAX_TREES,
    REGION_LABEL_BYTES = STRATA_WIRE_MAX_REGION_BYTES + 1,
    NODE_NEAR_SCAN = 32, /* a leader's links looked at for its report's nearest groups */
    NAME_BYTES = STRATA_WIRE_MAX_NAME_BYTES + 1,
};

enum channel_kind { CH_VIEWER = 1, CH_SOURCE = 2, CH_RELAY = 3, CH_GONE = 4 };

typedef struct node_channel {
    strata_channel_id id;
    int kind;
    strata_peer *peer;     /* CH_VIEWER, NULL while held for a group */
    strata_source *source; /* CH_SOURCE */
    int follows_group;     /* the region is the node's locality group */
    strata_group_id group; /* the group its region names; 0 = none */
    char name[NAME_BYTES];
    char region[REGION_LABEL_BYTES];
    strata_peer_config pcfg; /* a held viewer's settings */
    strata_peer_callbacks pcb;
    uint8_t token[STRATA_WIRE_MAX_TOKEN_BYTES]; /* pcfg.token points here */
} node_channel;

struct strata_node {
    const strata_alloc *alloc;
    const strata_log *log;
    strata_node_callbacks cb;
    strata_node_id id;
    strata_addr control;
    strata_outbox outbox;

    strata_gnode *gnode;
    strata_gclient *gclient;
    uint64_t group_wait_at; /* held channels join without a group from then */
    int group_wait_logged;

    strata_control *center;
    strata_cgroups *cgroups;

    node_channel *chans[STRATA_NODE_MAX_CHANNELS];
    size_t nchans;

    uint64_t now_ns; /* of the entry call under way: for the roles' callbacks */
    strata_node_stats st;

    int verify;              /* strata_node_config.verify_addresses */
    strata_auth_node *authn; /* authenticate, a peer or source: its keys (auth.h) */
    int center_auth;         /* authenticate, the control process */
    uint64_t probe_key;      /* authenticate: keys the PROBE pseudonyms (answer_probe) */
    struct early_datagram {
        uint16_t len; /* 0: free */
        uint8_t bytes[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    } * early; /* EARLY_DATAGRAMS, a ring from early_next; with authn */
    size_t early_next;
    uint8_t center_pk[STRATA_AUTH_KEY_BYTES];
    strata_reach reach;
    struct held_request {
        strata_addr from;
        uint8_t type;
        uint16_t len; /* 0: free */
        uint8_t bytes[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    } * held; /* HELD_REQUESTS */
    uint64_t log_window_ns;
    uint32_t log_lines;
};

static uint64_t add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t min_ns(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static int drop(strata_node *n, int err, int type, strata_addr from, uint64_t now)
{
    strata_drop_count(&n->st.drops, err);
    if (!n->log || n->log->max_level < STRATA_LOG_DEBUG)
        return err;
    if (now - n->log_window_ns >= STRATA_S(1) || now < n->log_window_ns) {
        n->log_window_ns = now;
        n->log_lines = 0;
    }
    if (n->log_lines++ >= LOG_LINES_PER_SECOND)
        return err;
    char a[32];
    strata_logf(n->log, STRATA_LOG_DEBUG, "node %016" PRIx64 ": dropped datagram (type %d) from %s: %s",
                n->id.v, type, strata_addr_format(from, a, sizeof a), strata_strerror(err));
    return err;
}

/* Lets the outbox hold up to cap datagrams (its ring grows as bursts
 * need; the roles keep its address, which does not change). */
static void outbox_allow(strata_node *n, size_t cap)
{
    if (n->outbox.max < cap)
        n->outbox.max = cap;
}

/* --- the group agent and its client ----------------------------------------- */

static void on_group(void *user, const strata_gnode_event *ev)
{
    strata_node *n = user;
    if (n->cb.on_group)
        n->cb.on_group(n->cb.user, ev);
}

static void on_want_leaders(void *user)
{
    strata_node *n = user;
    if (n->gclient)
        strata_gclient_ask(n->gclient, n->now_ns);
    else if (n->cb.want_leaders)
        n->cb.want_leaders(n->cb.user);
}

/* The client's answer goes to the agent, within the call that brought it,
 * whose time the node keeps (now_ns). */
static void on_bootstrap(void *user, const strata_peer_ref *leaders, size_t count)
{
    strata_node *n = user;
    strata_logf(n->log, STRATA_LOG_INFO, "groups: %zu bootstrap leader%s from the control center",
                count, count == 1 ? "" : "s");
    strata_gnode_bootstrap(n->gnode, leaders, count, n->now_ns);
}

static node_channel *channel_by_id(const strata_node *n, strata_channel_id id)
{
    for (size_t i = 0; i < n->nchans; i++)
        if (n->chans[i]->kind != CH_GONE && n->chans[i]->id.v == id.v)
            return n->chans[i];
    return NULL;
}

static void group_label(strata_group_id g, char *buf)
{
    snprintf(buf, REGION_LABEL_BYTES, "group:%016" PRIx64, g.v);
}

/* Creates a held viewer's session under the region it has now. */
static int start_viewer(strata_node *n, node_channel *ch, uint64_t now)
{
    ch->pcfg.channel = ch->name;
    ch->pcfg.region = ch->region[0] ? ch->region : NULL;
    ch->peer = strata_peer_new(&ch->pcfg, &ch->pcb, n->alloc, now);
    if (!ch->peer)
        return STRATA_ERR_NOMEM;
    strata_logf(n->log, STRATA_LOG_INFO, "joining channel %s in region %s", ch->name,
                ch->region[0] ? ch->region : "(the control center's choice)");
    return 0;
}

/* A leader reports its nearest linked groups with its distances to them
 * (protocol.md 3.9.1), nearest first, unmeasured ones left out. */
static void report_near(strata_node *n)
{
    strata_gnode_neighbour nb[NODE_NEAR_SCAN];
    size_t got = strata_gnode_neighbours(n->gnode, nb, NODE_NEAR_SCAN);
    if (got > NODE_NEAR_SCAN)
        got = NODE_NEAR_SCAN;
    strata_group_near near[STRATA_WIRE_MAX_REPORT_NEAR];
    size_t m = 0;
    for (size_t i = 0; i < got; i++) {
        if (nb[i].distance == STRATA_GROUP_DISTANCE_UNKNOWN || nb[i].group.v == 0)
            continue;
        /* Insertion into the nearest STRATA_WIRE_MAX_REPORT_NEAR. */
        size_t j = m < STRATA_WIRE_MAX_REPORT_NEAR ? m++ : m;
        if (j == STRATA_WIRE_MAX_REPORT_NEAR) {
            if (nb[i].distance >= near[j - 1].distance)
                continue;
            j--;
        }
        while (j > 0 && near[j - 1].distance > nb[i].distance) {
            near[j] = near[j - 1];
            j--;
        }
        near[j] = (strata_group_near){nb[i].group, nb[i].distance};
    }
    strata_gclient_set_near(n->gclient, near, m);
}

/* What one role learnt for another (see the model above). */
static void sync_roles(strata_node *n, uint64_t now)
{
    strata_group_id g = {0};
    if (n->gnode) {
        g = strata_gnode_group(n->gnode);
        if (n->gclient) {
            int leading = strata_gnode_state(n->gnode) == STRATA_GNODE_LEADER;
            size_t members = leading ? strata_gnode_members(n->gnode, NULL, 0) : 0;
            if (leading)
                report_near(n);
            strata_gclient_update(n->gclient, leading, g, strata_gnode_term(n->gnode),
                                  members > UINT32_MAX ? UINT32_MAX : (uint32_t)members, now);
        }
    }
    int waited = now >= n->group_wait_at;
    for (size_t i = 0; i < n->nchans; i++) {
        node_channel *ch = n->chans[i];
        if ((ch->kind != CH_VIEWER && ch->kind != CH_RELAY) || !ch->follows_group)
            continue;
        if (!ch->peer) {
            if (g.v == 0 && !waited)
                continue;
            if (g.v == 0 && !n->group_wait_logged) {
                strata_logf(n->log, STRATA_LOG_WARN,
                            "no group yet: joining the channel without one");
                n->group_wait_logged = 1;
            }
            ch->group = g;
            if (g.v)
                group_label(g, ch->region);
            start_viewer(n, ch, now); /* on failure, tried again at the next call */
        } else if (g.v != 0 && g.v != ch->group.v) {
            /* The group merged into another (or the node walked to one):
             * the region follows it, so the control center's regions stay
             * the groups. */
            ch->group = g;
            group_label(g, ch->region);
            strata_peer_set_region(ch->peer, ch->region, now);
            strata_logf(n->log, STRATA_LOG_INFO, "region follows the group: %s", ch->region);
        }
    }
}

static int held_channels(const strata_node *n)
{
    for (size_t i = 0; i < n->nchans; i++)
        if ((n->chans[i]->kind == CH_VIEWER || n->chans[i]->kind == CH_RELAY) &&
            !n->chans[i]->peer)
            return 1;
    return 0;
}

/* --- life cycle ------------------------------------------------------------------- */

strata_node *strata_node_new(const strata_node_config *cfg, const strata_node_callbacks *cb,
                             const strata_alloc *a, uint64_t now)
{
    if (!cfg || cfg->id.v == 0 || cfg->id.v == UINT64_MAX)
        goto fail_config;
    strata_node *n = strata_mem_calloc(a, 1, sizeof *n);
    if (!n)
        goto fail_alloc;
    n->alloc = a;
    n->log = cfg->log;
    if (cb)
        n->cb = *cb;
    n->id = cfg->id;
    n->control = cfg->control;
    n->log_window_ns = now;
    size_t cap = cfg->outbox_datagrams;
    if (!cap)
        cap = cfg->control_center ? STRATA_NODE_CONTROL_OUTBOX_DATAGRAMS
                                  : STRATA_NODE_DEFAULT_OUTBOX_DATAGRAMS;
    if (strata_outbox_init(&n->outbox, a, cap))
        goto fail_outbox;
    n->group_wait_at = add_ns(now, STRATA_MS(cfg->group_wait_ms ? cfg->group_wait_ms
                                                                : STRATA_NODE_DEFAULT_GROUP_WAIT_MS));
    if (cfg->groups) {
        strata_gnode_config gc = cfg->group;
        gc.node = n->id;
        gc.addr = cfg->addr;
        gc.seed = cfg->seed;
        gc.outbox = &n->outbox;
        gc.log = cfg->log;
        /* Fresh leaders are offered only when someone can answer: the
         * bootstrap client, or a host that bootstraps the agent itself. An
         * agent told so waits for them before founding a group. */
        int offers = !cfg->no_bootstrap_client || (cb && cb->want_leaders);
        strata_gnode_callbacks gcb = {on_group, n, offers ? on_want_leaders : NULL};
        n->gnode = strata_gnode_new(&gc, &gcb, a, now);
        if (!n->gnode)
            goto fail_roles;
        if (!cfg->no_bootstrap_client) {
            strata_gclient_config cc = {.node = n->id,
                                        .control = cfg->control,
                                        .seed = cfg->seed ^ 0x626f6f74ull,
                                        .outbox = &n->outbox,
                                        .log = cfg->log};
            strata_gclient_callbacks ccb = {on_bootstrap, n};
            n->gclient = strata_gclient_new(&cc, &ccb, a, now);
            if (!n->gclient)
                goto fail_roles;
        }
    }
    n->verify = cfg->verify_addresses != 0;
    if (n->verify) {
        size_t table = cfg->verify_table      ? cfg->verify_table
                       : cfg->control_center ? REACH_CONTROL_ADDRESSES
                                             : REACH_NODE_ADDRESSES;
        uint64_t key = cfg->verify_key ? cfg->verify_key : cfg->seed;
        if (strata_reach_init(&n->reach, n->id, key, table, table, a) != 0)
            goto fail_roles;
        if (!(n->held = strata_mem_calloc(a, HELD_REQUESTS, sizeof *n->held)))
            goto fail_roles;
    }
    uint8_t auth_seed[STRATA_AUTH_KEY_BYTES];
    if (cfg->authenticate) {
        if (cfg->auth_seed) {
            memcpy(auth_seed, cfg->auth_seed, sizeof auth_seed);
        } else {
            /* Tests fix the seed; the daemons give a secret of their own. */
            for (size_t i = 0; i < sizeof auth_seed; i += 8) {
                uint64_t v = strata_mix64(cfg->seed ^ (0x61757468ull + i));
                memcpy(auth_seed + i, &v, 8);
            }
        }
    }
    if (cfg->authenticate)
        memcpy(&n->probe_key, auth_seed + 24, sizeof n->probe_key);
    if (cfg->authenticate && !cfg->control_center) {
        if (!(n->authn = strata_mem_calloc(a, 1, sizeof *n->authn)) ||
            !(n->early = strata_mem_calloc(a, EARLY_DATAGRAMS, sizeof *n->early)))
            goto fail_roles;
        strata_auth_node_init(n->authn, auth_seed, cfg->control_pk);
    }
    if (cfg->control_center) {
        strata_control_config cc = *cfg->control_center;
        cc.outbox = &n->outbox;
        cc.log = cfg->log;
        n->center = strata_control_new(&cc, a, now);
        strata_cgroups_config gc;
        if (cfg->cgroups)
            gc = *cfg->cgroups;
        else
            memset(&gc, 0, sizeof gc);
        gc.outbox = &n->outbox;
        gc.log = cfg->log;
        n->cgroups = strata_cgroups_new(&gc, a, now);
        if (n->center && n->cgroups)
            strata_control_set_groups(n->center, n->cgroups); /* regions by policy */
        if (!n->center || !n->cgroups)
            goto fail_roles;
        if (cfg->authenticate) {
            if (strata_control_authenticate(n->center, cfg->control_key_seed, auth_seed,
                                            n->center_pk) != 0)
                goto fail_roles;
            n->center_auth = 1;
        }
    }
    return n;

fail_roles:
    strata_node_del(n);
    return NULL;
fail_outbox:
    strata_mem_free(a, n);
fail_alloc:
fail_config:
    return NULL;
}

void strata_node_del(strata_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nchans; i++) {
        strata_peer_del(n->chans[i]->peer);
        strata_source_del(n->chans[i]->source);
        strata_mem_free(n->alloc, n->chans[i]);
    }
    strata_gclient_del(n->gclient);
    strata_gnode_del(n->gnode);
    strata_cgroups_del(n->cgroups);
    strata_control_del(n->center);
    strata_reach_free(&n->reach);
    strata_mem_free(n->alloc, n->held);
    strata_mem_free(n->alloc, n->authn);
    strata_mem_free(n->alloc, n->early);
    strata_outbox_free(&n->outbox);
    strata_mem_free(n->alloc, n);
}

strata_outbox *strata_node_outbox(strata_node *n)
{
    return &n->outbox;
}

/* --- channels --------------------------------------------------------------------- */

static node_channel *add_channel(strata_node *n, const char *name, int *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > STRATA_WIRE_MAX_NAME_BYTES) {
        *err = STRATA_ERR_INVAL;
        return NULL;
    }
    strata_channel_id id = strata_channel_id_from_name(name, len);
    if (channel_by_id(n, id)) {
        *err = STRATA_ERR_EXISTS;
        return NULL;
    }
    if (n->nchans == STRATA_NODE_MAX_CHANNELS) {
        *err = STRATA_ERR_FULL;
        return NULL;
    }
    node_channel *ch = strata_mem_calloc(n->alloc, 1, sizeof *ch);
    if (!ch) {
        *err = STRATA_ERR_NOMEM;
        return NULL;
    }
    ch->id = id;
    memcpy(ch->name, name, len);
    return ch;
}

int strata_node_watch(strata_node *n, const strata_peer_config *cfg, const strata_peer_callbacks *cb,
                      uint64_t now)
{
    if (!cfg || (cfg->region && strlen(cfg->region) > STRATA_WIRE_MAX_REGION_BYTES))
        return STRATA_ERR_INVAL;
    int err = 0;
    node_channel *ch = add_channel(n, cfg->channel, &err);
    if (!ch)
        return err;
    ch->kind = CH_VIEWER;
    ch->pcfg = *cfg;
    ch->pcfg.node = n->id;
    ch->pcfg.control = n->control;
    ch->pcfg.outbox = &n->outbox;
    ch->pcfg.log = n->log;
    if (cfg->token_len > sizeof ch->token || (cfg->token_len && !cfg->token)) {
        strata_mem_free(n->alloc, ch);
        return STRATA_ERR_INVAL;
    }
    if (cfg->token_len)
        memcpy(ch->token, cfg->token, cfg->token_len);
    ch->pcfg.token = ch->token; /* a held viewer starts later: the node keeps it */
    ch->pcfg.auth = n->authn;
    if (cb)
        ch->pcb = *cb;
    if (cfg->region && cfg->region[0])
        snprintf(ch->region, sizeof ch->region, "%s", cfg->region);
    else
        ch->follows_group = n->gnode != NULL;
    if (!ch->follows_group && (err = start_viewer(n, ch, now)) != 0) {
        strata_mem_free(n->alloc, ch);
        return err;
    }
    n->chans[n->nchans] = ch;
    sync_roles(n, now); /* a group the node already has: join under it now */
    return (int)n->nchans++;
}

int strata_node_publish(strata_node *n, const strata_source_config *cfg, uint64_t now)
{
    if (!cfg)
        return STRATA_ERR_INVAL;
    int err = 0;
    node_channel *ch = add_channel(n, cfg->channel, &err);
    if (!ch)
        return err;
    outbox_allow(n, STRATA_NODE_SOURCE_OUTBOX_DATAGRAMS);
    strata_source_config sc = *cfg;
    sc.node = n->id;
    sc.control = n->control;
    sc.outbox = &n->outbox;
    sc.log = n->log;
    sc.auth = n->authn;
    ch->kind = CH_SOURCE;
    ch->source = strata_source_new(&sc, n->alloc, now);
    if (!ch->source) {
        strata_mem_free(n->alloc, ch);
        return STRATA_ERR_NOMEM;
    }
    n->chans[n->nchans] = ch;
    return (int)n->nchans++;
}

static strata_source *source_of(strata_node *n, int channel)
{
    if (channel < 0 || (size_t)channel >= n->nchans)
        return NULL;
    return n->chans[channel]->source;
}

int strata_node_push(strata_node *n, int channel, const uint8_t *buf, size_t len, uint64_t now)
{
    strata_source *s = source_of(n, channel);
    return s ? strata_source_push(s, buf, len, now) : STRATA_ERR_INVAL;
}

int strata_node_finish(strata_node *n, int channel, uint64_t now)
{
    strata_source *s = source_of(n, channel);
    return s ? strata_source_finish(s, now) : STRATA_ERR_INVAL;
}

void strata_node_leave(strata_node *n, uint64_t now)
{
    for (size_t i = 0; i < n->nchans; i++) {
        if (n->chans[i]->peer)
            strata_peer_leave(n->chans[i]->peer, now);
        if (n->chans[i]->source)
            strata_source_leave(n->chans[i]->source, now);
    }
    if (n->gnode)
        strata_gnode_leave(n->gnode, now);
    if (n->gclient)
        strata_gclient_update(n->gclient, 0, (strata_group_id){0}, 0, 0, now);
}

int strata_node_bootstrap(strata_node *n, const strata_peer_ref *refs, size_t count, uint64_t now)
{
    if (!n->gnode)
        return STRATA_ERR_INVAL;
    n->now_ns = now;
    int err = strata_gnode_bootstrap(n->gnode, refs, count, now);
    sync_roles(n, now);
    return err;
}

/* --- datagrams ------------------------------------------------------------------- */

/* A waypoint's region no longer needs it (protocol.md 3.3.4): the control
 * center has taken it out of the trees already, so it sends no LEAVE; a
 * fresh session offers the waypoint again, and is answered STANDBY until
 * some region needs it. */
static int waypoint_released(strata_node *n, node_channel *ch, uint64_t now)
{
    if (!ch->peer)
        return 0; /* held for a group: not placed anywhere yet */
    strata_peer_del(ch->peer);
    ch->peer = NULL;
    n->st.releases++;
    strata_logf(n->log, STRATA_LOG_INFO, "waypoint released from channel %s: on standby",
                ch->name);
    if (ch->follows_group)
        return 0; /* sync_roles starts it again under the node's group */
    return start_viewer(n, ch, now);
}

/* RECRUIT (protocol.md 3.10): the control center, and only it, asks the
 * node to relay a channel it does not watch, or releases it. A relay
 * session is a viewer session that joins as a RELAY and plays nothing,
 * with the settings of the node's first viewer channel; a node that
 * watches nothing is not recruited. */
static int recruited(strata_node *n, strata_addr from, const uint8_t *buf, size_t len,
                     uint64_t now)
{
    strata_msg_recruit m;
    int err = strata_wire_decode_recruit(buf, len, &m);
    if (err < 0)
        return err;
    if (m.node.v != n->id.v || !strata_addr_eq(from, n->control))
        return STRATA_ERR_UNEXPECTED;
    char name[NAME_BYTES];
    memcpy(name, m.name, m.name_len);
    name[m.name_len] = '\0';
    node_channel *ch = channel_by_id(n, strata_channel_id_from_name(name, m.name_len));
    if ((m.flags & STRATA_RECRUIT_RELEASE) && ch && ch->kind == CH_VIEWER && ch->pcfg.waypoint)
        return waypoint_released(n, ch, now);
    if (m.flags & STRATA_RECRUIT_RELEASE) {
        if (!ch || ch->kind != CH_RELAY)
            return STRATA_ERR_UNEXPECTED;
        if (ch->peer) {
            strata_peer_leave(ch->peer, now);
            strata_peer_del(ch->peer);
            ch->peer = NULL;
        }
        ch->kind = CH_GONE; /* the handle stays valid, and names nothing */
        n->st.releases++;
        strata_logf(n->log, STRATA_LOG_INFO, "released from relaying channel %s", name);
        return 0;
    }
    if (ch)
        return 0; /* watched or relayed already (a repeated RECRUIT) */
    const node_channel *tmpl = NULL;
    for (size_t i = 0; i < n->nchans && !tmpl; i++)
        if (n->chans[i]->kind == CH_VIEWER && !n->chans[i]->pcfg.waypoint)
            tmpl = n->chans[i]; /* a waypoint serves the channels its operator named */
    if (!tmpl)
        return STRATA_ERR_UNEXPECTED;
    strata_peer_config pc = tmpl->pcfg;
    pc.channel = name;
    pc.region = tmpl->follows_group ? NULL : tmpl->region;
    pc.priority = UINT8_MAX; /* after every channel the node watches */
    pc.relay_only = 1;
    /* The viewer's key is its channel's: a recruited relay of another
     * channel verifies nothing (it relays that channel's manifests as
     * they come, docs/security.md). */
    pc.verify = 0;
    pc.token = NULL; /* the viewer's token is for its own channel */
    pc.token_len = 0;
    int h = strata_node_watch(n, &pc, NULL, now);
    if (h < 0)
        return h == STRATA_ERR_NOMEM ? h : STRATA_ERR_UNEXPECTED;
    n->chans[h]->kind = CH_RELAY;
    n->st.recruits++;
    strata_logf(n->log, STRATA_LOG_INFO, "recruited to relay channel %s", name);
    return 0;
}

/* PROBE (protocol.md 3.5): answered once for the whole node, whatever
 * roles it has, naming the node. A node that authenticates and runs no
 * group agent (a source, a control center, a peer without groups) names
 * itself by a pseudonym per prober instead: nobody needs its id there
 * (the address challenge checks the echo), and a PROBE should reveal no
 * more than it must, though an id alone no longer lets anyone speak for
 * the node. */
static int answer_probe(strata_node *n, strata_addr from, const uint8_t *buf, size_t len)
{
    strata_msg_probe m;
    int err = strata_wire_decode_probe(buf, len, &m);
    if (err < 0)
        return err;
    strata_node_id responder = n->id;
    if ((n->authn || n->center_auth) && !n->gnode)
        responder.v = strata_mix64(n->probe_key ^ ((uint64_t)from.ipv4 << 16 | from.port)) | 1u;
    strata_msg_probe_reply r = {
        .node = m.node, .probe_id = m.probe_id, .send_ts_ns = m.send_ts_ns, .responder = responder};
    uint8_t out[64];
    strata_outbox_push_bytes(&n->outbox, from, out,
                             strata_wire_encode_probe_reply(out, sizeof out, &r));
    n->st.probes_answered++;
    return 0;
}

static int to_channel(strata_node *n, strata_addr from, const uint8_t *buf, size_t len,
                      uint64_t now)
{
    strata_channel_id id;
    int type = strata_wire_peek_channel(buf, len, &id);
    if (type < 0)
        return type;
    const node_channel *ch = channel_by_id(n, id);
    if (ch && ch->peer)
        return strata_peer_handle_datagram(ch->peer, from, buf, len, now);
    if (ch && ch->source)
        return strata_source_handle_datagram(ch->source, from, buf, len, now);
    return STRATA_ERR_UNEXPECTED; /* a channel this node does not have (yet) */
}

/* A JOIN_REPLY, INSTRUCTION or RECRUIT sealed by the control center
 * (auth.h): the length of the message inside, or the reason to drop it;
 * 0 when it is held (one of a session a JOIN_REPLY it overtook will
 * install: see replay_early). */
static int from_control(strata_node *n, strata_addr from, const uint8_t *buf, size_t len)
{
    if (!strata_addr_eq(from, n->control))
        return STRATA_ERR_UNEXPECTED;
    int body = strata_auth_node_open(n->authn, buf, len);
    if (body >= 0 || !n->authn->other_session)
        return body;
    struct early_datagram *e = &n->early[n->early_next];
    if (e->len)
        strata_auth_node_count(n->authn); /* the oldest held one is given up */
    n->early_next = (n->early_next + 1) % EARLY_DATAGRAMS;
    memcpy(e->bytes, buf, len);
    e->len = (uint16_t)len;
    return 0;
}

/* Returns the role's verdict, or a node-level error (*mine set) that the
 * node counts itself. */
static int route(strata_node *n, const strata_rx *rx, int type, const uint8_t *buf, size_t len,
                 uint64_t now, int *mine)
{
    *mine = 0;
    switch (type) {
    case STRATA_MSG_PROBE:
        *mine = 1;
        return answer_probe(n, rx->from, buf, len);
    case STRATA_MSG_RECRUIT:
        *mine = 1;
        if (n->authn) {
            int body = from_control(n, rx->from, buf, len);
            if (body <= 0)
                return body; /* refused, or held */
            len = (size_t)body;
        }
        return recruited(n, rx->from, buf, len, now);
    case STRATA_MSG_JOIN_REPLY:
    case STRATA_MSG_INSTRUCTION:
        if (!strata_addr_eq(rx->from, n->control)) {
            /* Only the control center says where a node belongs and whom
             * it feeds: from anyone else, four datagrams would make it
             * relay the stream to an address of the sender's choosing. */
            *mine = 1;
            return STRATA_ERR_UNEXPECTED;
        }
        if (n->authn) {
            /* And only what its tag proves (auth.h): from its address, a
             * forger (spoofing it, or on the path) is refused here. */
            int body = from_control(n, rx->from, buf, len);
            if (body <= 0) {
                *mine = 1;
                return body; /* refused, or held */
            }
            len = (size_t)body;
        }
        /* fall through */
    case STRATA_MSG_DATA:
    case STRATA_MSG_REPAIR_REQUEST:
    case STRATA_MSG_MANIFEST:
    case STRATA_MSG_MANIFEST_REQUEST:
    case STRATA_MSG_PARITY_HASHES:
    case STRATA_MSG_MESH_STATE: {
        int err = to_channel(n, rx->from, buf, len, now);
        *mine = err == STRATA_ERR_UNEXPECTED || err == STRATA_ERR_SHORT;
        return err;
    }
    case STRATA_MSG_JOIN:
    case STRATA_MSG_HEARTBEAT:
    case STRATA_MSG_LEAVE:
        if (n->center)
            return strata_control_handle_datagram(n->center, rx->from, buf, len, now);
        break;
    case STRATA_MSG_GROUP_REPORT:
    case STRATA_MSG_GROUP_BOOTSTRAP:
        if (n->cgroups)
            return strata_cgroups_handle_datagram(n->cgroups, rx->from, buf, len, now);
        break;
    case STRATA_MSG_GROUP_BOOTSTRAP_REPLY:
        if (n->gclient)
            return strata_gclient_handle_datagram(n->gclient, rx->from, buf, len, now);
        break;
    default:
        if (n->gnode && (type == STRATA_MSG_PROBE_REPLY ||
                         (type >= STRATA_MSG_GROUP_QUERY && type <= STRATA_MSG_GROUP_PONG)))
            return strata_gnode_handle_datagram_ttl(n->gnode, rx->from, buf, len, rx->ttl, now);
        break;
    }
    *mine = 1;
    return STRATA_ERR_UNEXPECTED;
}

/* --- anti-amplification (reach.h, docs/security.md "Amplification") ---------- */

/* An address whose answers need no budget: the control center's, one that
 * echoed a challenge, or one a channel's instructions name (the control
 * center vouched for it). */
static int trusted(strata_node *n, strata_addr from, uint64_t now)
{
    if (strata_addr_eq(from, n->control))
        return 1;
    for (size_t i = 0; i < n->nchans; i++)
        if (n->chans[i]->peer && strata_peer_knows(n->chans[i]->peer, from))
            return 1;
    return strata_reach_is_verified(&n->reach, from, now);
}

/* Keyed, so that a sender cannot aim its requests at another's slot. */
static size_t held_slot(const strata_node *n, strata_addr a)
{
    return (size_t)(strata_mix64(((uint64_t)a.ipv4 << 16 | a.port) ^ n->reach.key) % HELD_REQUESTS);
}

/* Keeps a request from an address that has not shown it receives there
 * (one per slot: a newer one replaces it), to be taken again when the
 * address echoes its challenge: a JOIN, whose placing would send
 * INSTRUCTIONs and a stream to whoever the address is, or a repair asked
 * of a node that is not the asker's next target (the source, say), which
 * would otherwise wait for its turn in the asker's rotation. */
static void hold_request(strata_node *n, strata_addr from, int type, const uint8_t *buf, size_t len)
{
    struct held_request *h = &n->held[held_slot(n, from)];
    h->from = from;
    h->type = (uint8_t)type;
    h->len = (uint16_t)len;
    memcpy(h->bytes, buf, len);
}

/* The address echoed: its held request is taken now. */
static void release_request(strata_node *n, const strata_rx *rx, uint64_t now)
{
    struct held_request *h = &n->held[held_slot(n, rx->from)];
    if (!h->len || !strata_addr_eq(h->from, rx->from))
        return;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    size_t len = h->len;
    memcpy(buf, h->bytes, len);
    h->len = 0;
    int mine;
    route(n, rx, h->type, buf, len, now, &mine);
}

/* route() behind the anti-amplification rule: a challenge's echo is the
 * node's; a JOIN to the control center waits for its address to be
 * verified; a request whose answer can outweigh it, from an address the
 * node has no reason to trust, gets at most STRATA_REACH_FACTOR times the
 * bytes that address sent. */
static int guarded_route(strata_node *n, const strata_rx *rx, int type, const uint8_t *buf,
                         size_t len, uint64_t now, int *mine)
{
    if (type == STRATA_MSG_PROBE_REPLY) {
        strata_msg_probe_reply m;
        if (strata_wire_decode_probe_reply(buf, len, &m) >= 0 &&
            strata_reach_on_probe_reply(&n->reach, rx->from, &m, now)) {
            *mine = 1;
            release_request(n, rx, now);
            return 0;
        }
    }
    if (type == STRATA_MSG_JOIN && n->center &&
        !strata_reach_is_verified(&n->reach, rx->from, now)) {
        /* A malformed JOIN is a drop, as it would be without the rule. */
        strata_msg_join j;
        size_t body = len;
        strata_auth_trailer t;
        int err = 0;
        if (n->center_auth && (err = strata_auth_decode(buf, len, &t)) >= 0)
            body = t.body_len;
        if (err >= 0)
            err = strata_wire_decode_join(buf, body, &j);
        *mine = 1;
        if (err < 0)
            return err;
        hold_request(n, rx->from, type, buf, len);
        n->st.joins_held++;
        strata_reach_received(&n->reach, rx->from, len, now);
        strata_reach_challenge(&n->reach, &n->outbox, rx->from, now);
        return 0;
    }
    if ((type == STRATA_MSG_REPAIR_REQUEST || type == STRATA_MSG_MANIFEST_REQUEST) &&
        !trusted(n, rx->from, now)) {
        strata_reach_received(&n->reach, rx->from, len, now);
        size_t first = n->outbox.count;
        int err = route(n, rx, type, buf, len, now, mine);
        if (strata_reach_limit(&n->reach, &n->outbox, first, rx->from, type, now))
            hold_request(n, rx->from, type, buf, len);
        return err;
    }
    return route(n, rx, type, buf, len, now, mine);
}

/* A JOIN_REPLY came: the INSTRUCTIONs and RECRUITs held while a session
 * was awaited are taken now, in the order they came, if they are of the
 * session we have; the rest are counted as refused. */
static void replay_early(strata_node *n, uint64_t now)
{
    strata_rx rx = {n->control, -1};
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    for (size_t i = 0; i < EARLY_DATAGRAMS; i++) {
        struct early_datagram *e = &n->early[(n->early_next + i) % EARLY_DATAGRAMS];
        if (!e->len)
            continue;
        size_t len = e->len;
        memcpy(buf, e->bytes, len);
        e->len = 0;
        int mine, type = strata_wire_peek_type(buf, len);
        int err = route(n, &rx, type, buf, len, now, &mine);
        if (err < 0 && mine && strata_err_is_input(err))
            drop(n, err, type, rx.from, now);
    }
}

int strata_node_handle_datagram(strata_node *n, const strata_rx *rx, const uint8_t *buf,
                                size_t buflen, uint64_t now)
{
    n->st.rx_datagrams++;
    int type = strata_wire_peek_type(buf, buflen);
    int err, mine = 1;
    if (type < 0)
        err = type;
    else if (buflen > STRATA_WIRE_MAX_DATAGRAM_BYTES)
        err = STRATA_ERR_LONG;
    else {
        n->now_ns = now;
        uint64_t replies = n->authn ? n->authn->st.replies : 0;
        err = n->verify ? guarded_route(n, rx, type, buf, buflen, now, &mine)
                        : route(n, rx, type, buf, buflen, now, &mine);
        if (n->authn && n->authn->st.replies != replies)
            replay_early(n, now);
    }
    if (err < 0 && mine && strata_err_is_input(err))
        drop(n, err, type, rx->from, now);
    sync_roles(n, now);
    return err;
}

/* --- timers --------------------------------------------------------------------- */

void strata_node_handle_timeout(strata_node *n, uint64_t now)
{
    n->now_ns = now;
    if (n->gnode && strata_gnode_next_timeout(n->gnode) <= now)
        strata_gnode_handle_timeout(n->gnode, now);
    if (n->gclient && strata_gclient_next_timeout(n->gclient) <= now)
        strata_gclient_handle_timeout(n->gclient, now);
    if (n->center && strata_control_next_timeout(n->center) <= now)
        strata_control_handle_timeout(n->center, now);
    if (n->cgroups && strata_cgroups_next_timeout(n->cgroups) <= now)
        strata_cgroups_handle_timeout(n->cgroups, now);
    for (size_t i = 0; i < n->nchans; i++) {
        node_channel *ch = n->chans[i];
        if (ch->peer && strata_peer_next_timeout(ch->peer) <= now)
            strata_peer_handle_timeout(ch->peer, now);
        if (ch->source && strata_source_next_timeout(ch->source) <= now)
            strata_source_handle_timeout(ch->source, now);
    }
    sync_roles(n, now);
}

uint64_t strata_node_next_timeout(const strata_node *n)
{
    uint64_t t = STRATA_NEVER;
    if (n->gnode)
        t = min_ns(t, strata_gnode_next_timeout(n->gnode));
    if (n->gclient)
        t = min_ns(t, strata_gclient_next_timeout(n->gclient));
    if (n->center)
        t = min_ns(t, strata_control_next_timeout(n->center));
    if (n->cgroups)
        t = min_ns(t, strata_cgroups_next_timeout(n->cgroups));
    for (size_t i = 0; i < n->nchans; i++) {
        const node_channel *ch = n->chans[i];
        if (ch->peer)
            t = min_ns(t, strata_peer_next_timeout(ch->peer));
        if (ch->source)
            t = min_ns(t, strata_source_next_timeout(ch->source));
    }
    if (held_channels(n))
        t = min_ns(t, n->group_wait_at);
    return t;
}

/* --- queries -------------------------------------------------------------------- */

strata_node_id strata_node_id_of(const strata_node *n)
{
    return n->id;
}

static const node_channel *channel_at(const strata_node *n, int channel)
{
    return channel >= 0 && (size_t)channel < n->nchans ? n->chans[channel] : NULL;
}

int strata_node_channel_info(const strata_node *n, int channel, strata_node_channel *out)
{
    const node_channel *ch = channel >= 0 && (size_t)channel < n->nchans ? n->chans[channel] : NULL;
    if (!ch)
        return 0;
    out->name = ch->name;
    out->relay = ch->kind == CH_RELAY;
    out->gone = ch->kind == CH_GONE;
    out->peer = ch->peer;
    out->source = ch->source;
    return 1;
}

const strata_peer *strata_node_peer(const strata_node *n, int channel)
{
    const node_channel *ch = channel_at(n, channel);
    return ch ? ch->peer : NULL;
}

const strata_source *strata_node_source(const strata_node *n, int channel)
{
    const node_channel *ch = channel_at(n, channel);
    return ch ? ch->source : NULL;
}

const char *strata_node_region(const strata_node *n, int channel)
{
    const node_channel *ch = channel_at(n, channel);
    return ch ? ch->region : "";
}

const strata_gnode *strata_node_gnode(const strata_node *n)
{
    return n->gnode;
}

const strata_gclient *strata_node_gclient(const strata_node *n)
{
    return n->gclient;
}

const strata_control *strata_node_control(const strata_node *n)
{
    return n->center;
}

const strata_cgroups *strata_node_cgroups(const strata_node *n)
{
    return n->cgroups;
}

void strata_node_get_stats(const strata_node *n, strata_node_stats *st)
{
    *st = n->st;
    st->channels = n->nchans;
    st->addresses_verified = n->reach.st.verified;
    st->challenges_sent = n->reach.st.challenges;
    memcpy(st->withheld, n->reach.st.withheld, sizeof st->withheld);
    st->withheld_bytes = n->reach.st.withheld_bytes;
    if (n->authn) {
        st->auth_sessions = n->authn->st.sessions;
        st->auth_key_changes = n->authn->st.key_changes;
        st->auth_unknowns = n->authn->st.unknowns;
        st->auth_dropped = n->authn->st.dropped;
    }
}

int strata_node_control_key(const strata_node *n, uint8_t *pk)
{
    if (n->center_auth) {
        memcpy(pk, n->center_pk, STRATA_AUTH_KEY_BYTES);
        return 1;
    }
    if (n->authn && n->authn->have_center) {
        memcpy(pk, n->authn->center_pk, STRATA_AUTH_KEY_BYTES);
        return 1;
    }
    return 0;
}
