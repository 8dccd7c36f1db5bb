/*
 * The control session of a channel member (SPEC C1, C13; protocol.md 3.2,
 * 3.3, 3.6): what a peer and a source share in talking to the control
 * center, written once.
 *
 * States: JOINING (a JOIN every join_retry until a JOIN_REPLY with status
 * OK; a refusal waits eight retries, a waypoint's STANDBY two) -> MEMBER (a HEARTBEAT every interval
 * the reply asked for) -> LEFT (after a LEAVE). A MEMBER joins again, at
 * once and playing on meanwhile, when the control center answers a
 * heartbeat with UNKNOWN (it forgot the node: it restarted, or declared it
 * dead after lost heartbeats) or when the node's region changes.
 *
 * The role (peer.c, source.c) fills the JOIN and the HEARTBEAT body; the
 * session keeps the state, the timers, the DCM and the heartbeat sequence.
 * A JOIN_REPLY is offered to the session first, which says whether the
 * role should apply it; the role then commits it with
 * strata_session_accept, so that a reply the role cannot apply (out of
 * memory) changes nothing and is taken again at the next JOIN.
 *
 * Timers: join_at (JOINING, or a MEMBER joining again), hb_at (MEMBER).
 */
#ifndef STRATA_SESSION_H
#define STRATA_SESSION_H

#include "strata/common.h"
#include "strata/wire.h"

struct strata_auth_node;

enum strata_session_state {
    STRATA_SESSION_JOINING = 0,
    STRATA_SESSION_MEMBER = 1,
    STRATA_SESSION_LEFT = 2,
};

enum strata_session_defaults {
    STRATA_SESSION_DEFAULT_JOIN_RETRY_MS = 500,
    STRATA_SESSION_REFUSED_RETRY_FACTOR = 8,
    STRATA_SESSION_STANDBY_RETRY_FACTOR = 2, /* a waypoint's next offer after STANDBY */
};

typedef struct strata_session {
    strata_node_id node;
    strata_channel_id channel;
    strata_addr control;
    strata_outbox *outbox; /* borrowed: the role's (the node's) */
    const strata_log *log;
    const char *role; /* "peer", "source": for log lines */
    int state;        /* enum strata_session_state */
    uint8_t rejoining; /* a MEMBER joining again */
    uint64_t join_retry_ns;
    uint64_t join_at;
    uint64_t heartbeat_ns;
    uint64_t hb_at;
    uint32_t hb_seq;
    strata_dcm_id dcm;
    uint64_t rejoins;   /* joins again after an UNKNOWN */
    uint64_t forbidden; /* JOIN_REPLYs FORBIDDEN: the channel needs a token we lack */
    uint64_t standbys;  /* JOIN_REPLYs STANDBY: a waypoint no region needs now */
    uint8_t standby;    /* the last reply was STANDBY */
    /* The access token every JOIN carries (strata/token.h; borrowed from
     * the role's config, whose owner keeps it); 0 = none. */
    uint8_t token_len;
    const uint8_t *token;
    /* Node authentication (auth.h; borrowed from the node, NULL = off):
     * every JOIN, HEARTBEAT and LEAVE is sealed with its session key. */
    struct strata_auth_node *auth;
} strata_session;

/* Starts JOINING: the first JOIN goes at the first timeout. join_retry_ms
 * 0 = default. */
void strata_session_init(strata_session *s, strata_node_id node, strata_channel_id channel,
                         strata_addr control, uint32_t join_retry_ms, strata_outbox *outbox,
                         const strata_log *log, const char *role, uint64_t now);

/* Sets the access token the JOINs carry (borrowed: it must outlive the
 * session; a peer is small, and a token is 90 bytes). Returns 0 or
 * STRATA_ERR_INVAL (longer than the wire allows). */
int strata_session_set_token(strata_session *s, const uint8_t *token, size_t len);

/* Offers a decoded JOIN_REPLY (the caller checked node and channel).
 * Returns 1 when the role should apply it (then strata_session_accept), 0
 * when it has been dealt with (an UNKNOWN starts a rejoin; a refusal
 * backs off; a duplicate answer is ignored). */
int strata_session_on_join_reply(strata_session *s, const strata_msg_join_reply *m, uint64_t now);
/* Commits an OK reply the role applied: MEMBER, its DCM and heartbeat
 * interval, the first heartbeat one interval from now. */
void strata_session_accept(strata_session *s, const strata_msg_join_reply *m, uint64_t now);

/* Joins again under a changed JOIN (a new region) while playing on. */
void strata_session_rejoin(strata_session *s, uint64_t now);

/* True when a JOIN is due; the role then fills one and calls send_join,
 * which adds the token. */
int strata_session_join_due(const strata_session *s, uint64_t now);
void strata_session_send_join(strata_session *s, const strata_msg_join *m, uint64_t now);

/* True when a HEARTBEAT is due. The role fills the body after
 * strata_session_heartbeat_header (node, channel, dcm, seq, timestamp)
 * and sends it with strata_session_send, then calls heartbeat_sent. */
int strata_session_heartbeat_due(const strata_session *s, uint64_t now);
void strata_session_heartbeat_header(strata_session *s, strata_msg_heartbeat *hb, uint64_t now);
void strata_session_heartbeat_sent(strata_session *s, uint64_t now);

/* Queues n encoded bytes (or returns n when it is an encoder's error) to
 * the control center, sealed when the session authenticates. */
int strata_session_send(strata_session *s, const uint8_t *buf, int n);

/* Child entries a heartbeat with n_parents parent entries has room for,
 * the trailer of an authenticated session counted (protocol.md 3.2, 3.12). */
size_t strata_session_hb_max_children(const strata_session *s, uint8_t n_parents);

/* Sends LEAVE and stops. */
void strata_session_leave(strata_session *s);

/* Earliest deadline of the session, or STRATA_NEVER. */
uint64_t strata_session_next_timeout(const strata_session *s);

#endif
