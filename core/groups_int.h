/*
 * Internal state of the group agent, shared by its three files:
 *   groups.c        lifecycle, dispatch, queries, the join walk (L3-L5)
 *   groups_intra.c  members and leader: replication, succession (L6, L7)
 *   groups_inter.c  links between leaders, re-measurement, refinement and
 *                   merging (L8-L10)
 * with distance measurement in groups_dist.c (L1).
 */
#ifndef STRATA_GROUPS_INT_H
#define STRATA_GROUPS_INT_H

#include "groups_dist.h"
#include "idmap.h"
#include "strata/groups.h"

enum gnode_limits {
    GN_OUTBOX_DATAGRAMS = 4096,
    GN_PUSH_DELAY_MS = 20, /* coalesces a burst of changes into one push */
    GN_MAX_REDIRECTS = 4,  /* per tested group */
    GN_LOG_LINES_PER_SECOND = 8,
    GN_OLD_LINKS = 8,
    /* A join test that fails only because own distances exceed their limits
     * by at most this share of the limit, measured with samples that
     * disagree by more than GN_RECHECK_SPREAD_US, is measured again before
     * the verdict (groups.c, recheck_narrow; protocol.md 7.3). */
    GN_RECHECK_PCT = 50,
    GN_RECHECK_SPREAD_US = 1000,
};

/* A group the join walk may test (L4). */
typedef struct gn_cand {
    strata_group_id group; /* 0 until a GROUP_INFO names it */
    strata_peer_ref leader;
    uint32_t dist; /* own distance to the leader; UNKNOWN until measured */
    uint8_t measured;
    uint8_t tested;
    uint8_t passed; /* passed the join test; cleared when it refuses the join */
} gn_cand;

enum gn_walk_phase {
    WALK_NONE = 0,
    WALK_MEASURE_CANDS, /* measuring untested candidates to order them */
    WALK_QUERY,         /* GROUP_QUERY sent to the candidate under test */
    WALK_MEASURE,       /* measuring the leader and its neighbours */
    WALK_JOIN,          /* GROUP_JOIN sent */
    WALK_RELOOK,        /* nothing passed: fresh leaders asked for before founding */
};

typedef struct gn_walk {
    int phase;
    gn_cand *cands;
    size_t n;
    size_t cur;  /* candidate under test */
    size_t pass; /* the nearest candidate that passed; SIZE_MAX = none */
    uint32_t req_id;
    uint32_t sends; /* sends of the current request */
    uint32_t redirects;
    uint64_t at;                /* request timeout */
    int direct;                 /* joining a named group without a test (merge, handover) */
    int full;                   /* the group under test refused for lack of room */
    int relooked;               /* fresh leaders were asked for in this walk */
    int rechecked;              /* the group under test was measured again */
    strata_msg_group_info info; /* the group under test */
    uint32_t tests;
    uint64_t probes_base;
    uint64_t started_at;
} gn_walk;

/* A member as the leader keeps it (L6). */
typedef struct gn_member {
    strata_peer_ref ref;
    uint64_t heard_at;
} gn_member;

/* A neighbour group (L8). */
typedef struct gn_link {
    strata_group_id group;
    strata_peer_ref leader;
    uint32_t term;
    uint32_t distance; /* own measurement; UNKNOWN until one */
    uint64_t measured_at;
    uint64_t heard_at;
    uint8_t up; /* 0 = requested, waiting for ACCEPT */
    uint8_t sends;
    uint64_t retry_at;
} gn_link;

/* Failover of a member whose leader is silent (L7). */
typedef struct gn_failover {
    int active;
    strata_node_id lost; /* the leader given up on */
    size_t idx;          /* next entry of the successor list to ask */
    uint32_t seq;        /* the keepalive seq of the ask */
    uint32_t sends;
    uint64_t at;
    uint32_t rounds; /* failovers in a row that were told the leader lives */
    int left;        /* the leader said it left */
} gn_failover;

/* A refinement round (L10): one neighbour's neighbours being measured. A
 * leader without links asks a bootstrap leader instead (target 0). */
typedef struct gn_refine {
    int phase; /* 0 idle, 1 query sent, 2 measuring */
    uint32_t req_id;
    uint32_t sends;
    uint32_t redirects;
    uint64_t at;
    strata_group_id target; /* the neighbour asked; 0 = a bootstrap leader */
    strata_peer_ref ref;    /* whom the query goes to */
    strata_msg_group_info info;
} gn_refine;

struct strata_gnode {
    const strata_alloc *alloc;
    const strata_log *log;
    strata_gnode_callbacks cb;
    strata_node_id node;
    strata_addr addr;
    strata_rng rng;
    uint8_t metric;

    /* settings, converted to ns and metric units */
    uint32_t thr_abs, thr_rel_pct, leader_abs; /* metric units; OFF = not used */
    uint64_t cache_ttl_ns, request_timeout_ns;
    uint32_t request_retries;
    uint32_t max_tests, max_join_probes, max_candidates;
    uint32_t max_members, max_links, new_links, bridge_links, n_successors;
    uint64_t keepalive_ns, leader_timeout_ns, member_timeout_ns;
    uint64_t link_refresh_ns, link_timeout_ns, remeasure_ns, refine_ns;
    int merge;

    int state;
    strata_group_id group;
    strata_peer_ref leader;
    uint32_t term, epoch;

    strata_peer_ref boot[STRATA_GNODE_MAX_BOOTSTRAP];
    size_t n_boot;

    gdist dist;
    gn_walk walk;

    /* Member side: the replica of the leader's cache. */
    uint64_t heard_leader_at;
    uint64_t ka_at;
    uint32_t ka_seq;
    strata_peer_ref succ[STRATA_WIRE_MAX_GROUP_SUCCESSORS];
    size_t n_succ;
    strata_peer_ref *view; /* ordered member list as last seen, up to max_members entries */
    size_t view_n, view_cap;
    uint32_t n_members_seen;
    gn_failover fo;

    /* Leader side. */
    gn_member *members; /* members[0] is this node; order = leadership order */
    size_t n_members, members_cap;
    strata_idmap member_map;
    uint64_t sweep_at, push_at;
    size_t page_next;
    strata_node_id pushed_succ[STRATA_WIRE_MAX_GROUP_SUCCESSORS]; /* as last pushed to all */
    size_t n_pushed_succ;

    /* Links: a leader's live links; a member keeps the copy it was sent. */
    gn_link links[STRATA_WIRE_MAX_GROUP_NEIGHBOURS];
    size_t n_links;
    uint64_t link_at, remeasure_at, refine_at;
    size_t refine_next;
    /* Leaders of links that timed out, asked again when no link is left
     * (a healed partition): a ring of GN_OLD_LINKS. */
    strata_peer_ref old_links[GN_OLD_LINKS];
    size_t n_old_links, old_links_next;
    gn_refine refine;

    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_gnode_stats st;

    uint64_t log_window_ns;
    uint32_t log_lines;
};

/* --- shared helpers (groups.c) --- */
uint64_t gn_add_ns(uint64_t a, uint64_t b);
int gn_send(strata_gnode *g, strata_addr to, const uint8_t *buf, int n);
uint32_t gn_new_id(strata_gnode *g);
void gn_emit(strata_gnode *g, int reason);
void gn_send_info(strata_gnode *g, strata_addr to, uint32_t query_id);
/* The join test of L3 for a group whose info is given, with own distances
 * looked up in the cache: 1 pass, 0 fail. *compared counts the neighbour
 * entries used. */
int gn_join_test(strata_gnode *g, const strata_msg_group_info *info, uint32_t own_leader,
                 size_t *compared);
void gn_walk_start(strata_gnode *g, const strata_peer_ref *refs, size_t n, uint64_t now);
void gn_walk_direct(strata_gnode *g, strata_group_id group, strata_peer_ref leader, uint64_t now);
void gn_walk_from_known(strata_gnode *g, uint64_t now);
int gn_better_leader(uint32_t term_a, strata_node_id a, uint32_t term_b, strata_node_id b);

/* --- intra-group (groups_intra.c) --- */
int gn_intra_init(strata_gnode *g);
void gn_intra_free(strata_gnode *g);
void gn_become_leader(strata_gnode *g, strata_group_id group, uint32_t term, uint64_t now);
void gn_become_member(strata_gnode *g, const strata_msg_group_state *m, strata_addr from,
                      uint64_t now);
void gn_reset_group(strata_gnode *g);
int gn_on_join(strata_gnode *g, strata_addr from, const strata_msg_group_join *m, uint64_t now);
int gn_on_state(strata_gnode *g, strata_addr from, const strata_msg_group_state *m, uint64_t now);
int gn_on_keepalive(strata_gnode *g, strata_addr from, const strata_msg_group_keepalive *m,
                    uint64_t now);
int gn_on_leave_intra(strata_gnode *g, strata_addr from, const strata_msg_group_leave *m,
                      uint64_t now);
int gn_on_info_intra(strata_gnode *g, strata_addr from, const strata_msg_group_info *m,
                     uint64_t now);
void gn_intra_timeout(strata_gnode *g, uint64_t now);
uint64_t gn_intra_next(const strata_gnode *g);
void gn_leave_intra(strata_gnode *g, uint64_t now);
void gn_schedule_push(strata_gnode *g, uint64_t now);
void gn_step_down(strata_gnode *g, strata_peer_ref winner, uint32_t term, uint64_t now);

/* --- inter-group (groups_inter.c) --- */
void gn_links_found(strata_gnode *g, uint64_t now);
void gn_links_activate(strata_gnode *g, uint64_t now);
void gn_links_clear(strata_gnode *g);
int gn_on_link(strata_gnode *g, strata_addr from, const strata_msg_group_link *m, uint64_t now);
int gn_on_leave_inter(strata_gnode *g, const strata_msg_group_leave *m, uint64_t now);
int gn_on_info_inter(strata_gnode *g, strata_addr from, const strata_msg_group_info *m,
                     uint64_t now);
void gn_inter_measured(strata_gnode *g, uint64_t now);
void gn_inter_timeout(strata_gnode *g, uint64_t now);
uint64_t gn_inter_next(const strata_gnode *g);
/* Fills up to cap neighbour entries for a GROUP_INFO or GROUP_STATE. */
uint8_t gn_links_export(const strata_gnode *g, strata_group_nb *out, size_t cap);
void gn_links_import(strata_gnode *g, const strata_group_nb *nb, size_t n, uint64_t now);
void gn_links_announce_leave(strata_gnode *g, strata_group_id next_group,
                             strata_peer_ref next_leader);

#endif
