/*
 * The node's side of group bootstrap (protocol.md 3.9, 7.8):
 * `strata_gclient` asks the control center for group leaders to start the
 * join walk from, and, while the node's group agent (strata_gnode) leads a
 * group, reports that group to the control center so that it can hand the
 * leader to newcomers.
 *
 * A small core object next to strata_gnode and strata_peer on the node's
 * socket (the host routes GROUP_BOOTSTRAP_REPLY here). It never calls the
 * agent: the host passes the bootstrap leaders on (on_bootstrap) and tells
 * it what the agent is now (strata_gclient_update).
 *
 * Timers: the first bootstrap request, resent every retry_ms until answered
 * (an ask for fresh leaders, strata_gclient_ask, is sent once); the
 * report, every report_ms while leading (and at once on a change).
 */
#ifndef STRATA_GROUP_CLIENT_H
#define STRATA_GROUP_CLIENT_H

#include "strata/common.h"
#include "strata/wire.h"

typedef struct strata_gclient strata_gclient;

enum strata_gclient_defaults {
    STRATA_GCLIENT_DEFAULT_RETRY_MS = 1000,
    STRATA_GCLIENT_DEFAULT_REPORT_MS = 1000,
    STRATA_GCLIENT_OUTBOX_DATAGRAMS = 16,
};

typedef struct strata_gclient_config {
    strata_node_id node; /* nonzero: the node's id, the agent's too */
    strata_addr control; /* the control center */
    uint64_t seed;       /* request ids */
    uint32_t retry_ms;   /* 0 = default */
    uint32_t report_ms;  /* 0 = default */
    strata_outbox *outbox; /* the node's (borrowed); NULL = one of its own */
    const strata_log *log;
} strata_gclient_config;

typedef struct strata_gclient_callbacks {
    /* The control center's answer: leaders to hand to strata_gnode_bootstrap
     * (n may be 0: found the first group). Must not call back into the
     * client. */
    void (*on_bootstrap)(void *user, const strata_peer_ref *leaders, size_t n);
    void *user;
} strata_gclient_callbacks;

typedef struct strata_gclient_stats {
    int bootstrapped; /* an answer came */
    uint32_t bootstrap_leaders;
    uint64_t bootstrap_requests, reports_sent, withdrawals_sent;
    uint64_t asks; /* strata_gclient_ask calls (fresh leaders before founding) */
    strata_drop_counters drops;
} strata_gclient_stats;

/* Starts asking at once. Returns NULL on a bad config (zero node) or out
 * of memory. cb may be NULL. */
strata_gclient *strata_gclient_new(const strata_gclient_config *cfg,
                                   const strata_gclient_callbacks *cb, const strata_alloc *a,
                                   uint64_t now);
void strata_gclient_del(strata_gclient *gc);

/* Asks the control center for leaders again, once (no resend: the agent
 * that wants them founds its group if no answer comes); the answer goes to
 * on_bootstrap like the first one. Replaces an ask still unanswered. */
void strata_gclient_ask(strata_gclient *gc, uint64_t now);

/* Takes GROUP_BOOTSTRAP_REPLY; anything else, or an answer nobody asked
 * for, is counted and dropped. Returns 0 or the reason of the drop. */
int strata_gclient_handle_datagram(strata_gclient *gc, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now);
void strata_gclient_handle_timeout(strata_gclient *gc, uint64_t now);
uint64_t strata_gclient_next_timeout(const strata_gclient *gc);
strata_outbox *strata_gclient_outbox(strata_gclient *gc);

/* What the node's agent is now: leading (nonzero) group with term and
 * n_members, or not leading (leading 0; the rest ignored). A change of
 * group or term, or the start of leading, is reported at once; the end of
 * leading is withdrawn at once (n_members 0). */
void strata_gclient_update(strata_gclient *gc, int leading, strata_group_id group, uint32_t term,
                           uint32_t n_members, uint64_t now);

/* The leader's nearest groups and its distances to them (its links,
 * protocol.md 7.6), sent with every report from now on (3.9.1: the
 * control center's regions by policy weigh them). Up to
 * STRATA_WIRE_MAX_REPORT_NEAR are kept; zero ids are skipped. */
void strata_gclient_set_near(strata_gclient *gc, const strata_group_near *near, size_t n);
void strata_gclient_get_stats(const strata_gclient *gc, strata_gclient_stats *st);

#endif
