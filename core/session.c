/*
 * The control session of a channel member: see session.h.
 */
#include "session.h"

#include "auth.h"

#include <string.h>

static uint64_t add_ns(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void strata_session_init(strata_session *s, strata_node_id node, strata_channel_id channel,
                         strata_addr control, uint32_t join_retry_ms, strata_outbox *outbox,
                         const strata_log *log, const char *role, uint64_t now)
{
    memset(s, 0, sizeof *s);
    s->node = node;
    s->channel = channel;
    s->control = control;
    s->outbox = outbox;
    s->log = log;
    s->role = role;
    s->state = STRATA_SESSION_JOINING;
    s->join_retry_ns =
        STRATA_MS(join_retry_ms ? join_retry_ms : STRATA_SESSION_DEFAULT_JOIN_RETRY_MS);
    s->join_at = now; /* the first JOIN at the first timeout */
    s->hb_at = STRATA_NEVER;
}

int strata_session_set_token(strata_session *s, const uint8_t *token, size_t len)
{
    if (len > STRATA_WIRE_MAX_TOKEN_BYTES || (len && !token))
        return STRATA_ERR_INVAL;
    s->token = len ? token : NULL;
    s->token_len = (uint8_t)len;
    return 0;
}

int strata_session_on_join_reply(strata_session *s, const strata_msg_join_reply *m, uint64_t now)
{
    if (s->state == STRATA_SESSION_LEFT)
        return 0;
    if (m->status == STRATA_JOIN_UNKNOWN) {
        /* The control center forgot us (protocol.md 3.3): join again now,
         * going on with the stream meanwhile. */
        if (s->state == STRATA_SESSION_MEMBER && !s->rejoining) {
            strata_logf(s->log, STRATA_LOG_WARN,
                        "%s %016llx: the control center does not know us, joining again",
                        s->role, (unsigned long long)s->node.v);
            s->rejoining = 1;
            s->join_at = now;
            s->rejoins++;
        }
        return 0;
    }
    if (s->state != STRATA_SESSION_JOINING && !s->rejoining)
        return 0; /* an answer to a retried JOIN: harmless */
    if (m->status == STRATA_JOIN_STANDBY) {
        /* A waypoint no region needs now (protocol.md 3.3.4): it offers
         * itself again soon, so that a region that comes to need it gets
         * it within a few retries; said once per wait, not per offer. */
        if (!s->standby)
            strata_logf(s->log, STRATA_LOG_INFO,
                        "%s %016llx: on standby: no region needs this waypoint now", s->role,
                        (unsigned long long)s->node.v);
        s->standby = 1;
        s->standbys++;
        s->state = STRATA_SESSION_JOINING; /* a placed waypoint that joined again: no
                                              member now, no heartbeats */
        s->rejoining = 0;
        s->join_at = add_ns(now, s->join_retry_ns * (uint64_t)STRATA_SESSION_STANDBY_RETRY_FACTOR);
        return 0;
    }
    if (m->status == STRATA_JOIN_FORBIDDEN) {
        /* Retried as slowly as a refusal: the operator may issue a token
         * meanwhile, but a JOIN without one is no better next time. */
        s->forbidden++;
        strata_logf(s->log, STRATA_LOG_WARN,
                    "%s %016llx: join refused: the channel needs a valid access token (%s)",
                    s->role, (unsigned long long)s->node.v,
                    s->token_len ? "ours was refused" : "we have none");
    } else if (m->status != STRATA_JOIN_OK) {
        strata_logf(s->log, STRATA_LOG_WARN, "%s %016llx: join refused (status %u), retrying",
                    s->role, (unsigned long long)s->node.v, (unsigned)m->status);
    }
    if (m->status != STRATA_JOIN_OK) {
        s->join_at = add_ns(now, s->join_retry_ns * (uint64_t)STRATA_SESSION_REFUSED_RETRY_FACTOR);
        return 0;
    }
    return 1;
}

void strata_session_accept(strata_session *s, const strata_msg_join_reply *m, uint64_t now)
{
    s->state = STRATA_SESSION_MEMBER;
    s->standby = 0;
    s->rejoining = 0;
    s->dcm = m->dcm;
    s->heartbeat_ns = STRATA_MS(m->heartbeat_ms);
    s->hb_at = add_ns(now, s->heartbeat_ns);
}

void strata_session_rejoin(strata_session *s, uint64_t now)
{
    if (s->state != STRATA_SESSION_MEMBER)
        return; /* a JOINING session's next JOIN carries the change anyway */
    s->rejoining = 1;
    s->join_at = now;
}

int strata_session_join_due(const strata_session *s, uint64_t now)
{
    int joining = s->state == STRATA_SESSION_JOINING ||
                  (s->state == STRATA_SESSION_MEMBER && s->rejoining);
    return joining && now >= s->join_at;
}

int strata_session_send(strata_session *s, const uint8_t *buf, int n)
{
    if (!s->auth || n <= 0)
        return strata_outbox_push_bytes(s->outbox, s->control, buf, n);
    uint8_t sealed[STRATA_WIRE_MAX_DATAGRAM_BYTES + STRATA_AUTH_MAX_TRAILER_BYTES];
    memcpy(sealed, buf, (size_t)n);
    int len = strata_auth_node_seal(s->auth, sealed, sizeof sealed, (size_t)n);
    if (len > STRATA_WIRE_MAX_DATAGRAM_BYTES)
        return STRATA_ERR_INVAL; /* a heartbeat sized without the trailer */
    return strata_outbox_push_bytes(s->outbox, s->control, sealed, len);
}

size_t strata_session_hb_max_children(const strata_session *s, uint8_t n_parents)
{
    size_t room = strata_wire_hb_max_children(n_parents);
    if (!s->auth)
        return room;
    /* protocol.md 3.2: 87 + 28 NP + 25 NC bytes, and the trailer. */
    size_t fixed = 87u + 28u * n_parents;
    size_t fit =
        fixed < STRATA_AUTH_HB_MAX_BODY_BYTES ? (STRATA_AUTH_HB_MAX_BODY_BYTES - fixed) / 25u : 0;
    return fit < room ? fit : room;
}

void strata_session_send_join(strata_session *s, const strata_msg_join *m, uint64_t now)
{
    strata_msg_join j = *m;
    j.token_len = s->token_len;
    j.token = s->token;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_session_send(s, buf, strata_wire_encode_join(buf, sizeof buf, &j));
    s->join_at = add_ns(now, s->join_retry_ns);
}

int strata_session_heartbeat_due(const strata_session *s, uint64_t now)
{
    return s->state == STRATA_SESSION_MEMBER && now >= s->hb_at;
}

void strata_session_heartbeat_header(strata_session *s, strata_msg_heartbeat *hb, uint64_t now)
{
    hb->node = s->node;
    hb->channel = s->channel;
    hb->dcm = s->dcm;
    hb->hb_seq = ++s->hb_seq;
    hb->local_ts_ns = now;
}

void strata_session_heartbeat_sent(strata_session *s, uint64_t now)
{
    s->hb_at = add_ns(now, s->heartbeat_ns);
}

void strata_session_leave(strata_session *s)
{
    if (s->state == STRATA_SESSION_LEFT)
        return;
    strata_msg_leave m = {.node = s->node, .channel = s->channel, .dcm = s->dcm};
    uint8_t buf[64];
    strata_session_send(s, buf, strata_wire_encode_leave(buf, sizeof buf, &m));
    s->state = STRATA_SESSION_LEFT;
}

uint64_t strata_session_next_timeout(const strata_session *s)
{
    switch (s->state) {
    case STRATA_SESSION_JOINING:
        return s->join_at;
    case STRATA_SESSION_MEMBER:
        return s->rejoining && s->join_at < s->hb_at ? s->join_at : s->hb_at;
    default:
        return STRATA_NEVER;
    }
}
