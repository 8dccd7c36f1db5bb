/*
 * The control session peers and sources share (core/session.h): JOIN and
 * its retries, a refusal's backoff, accepting a reply, heartbeat timing,
 * joining again after UNKNOWN or a region change, LEAVE.
 */
#include "outbox_capture.h"
#include "session.h"
#include "testutil.h"

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x7f000001u, 7000};

static strata_msg_join_reply reply(uint8_t status, uint32_t dcm)
{
    strata_msg_join_reply m;
    memset(&m, 0, sizeof m);
    m.node.v = 42;
    m.channel.v = 7;
    m.status = status;
    m.k = 4;
    m.dcm.v = dcm;
    m.heartbeat_ms = 500;
    return m;
}

static void join_if_due(strata_session *s, uint64_t now)
{
    if (!strata_session_join_due(s, now))
        return;
    uint8_t name[] = "news";
    strata_msg_join m = {.node = s->node, .role = STRATA_ROLE_PEER, .name_len = 4, .name = name};
    strata_session_send_join(s, &m, now);
}

static void test_join_retry_refuse_accept(void)
{
    strata_outbox ob;
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 64), 0);
    sent_list *out = calloc(1, sizeof *out);
    strata_session s;
    strata_session_init(&s, (strata_node_id){42}, (strata_channel_id){7}, CONTROL, 0, &ob, NULL,
                        "peer", MS(0));
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(0));
    join_if_due(&s, MS(0));
    capture_outbox(&ob, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 1);
    CHECK(out->n == 1 && strata_addr_eq(out->items[0].to, CONTROL));
    /* retried every default join retry until answered */
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(STRATA_SESSION_DEFAULT_JOIN_RETRY_MS));
    CHECK(!strata_session_join_due(&s, MS(499)));
    CHECK(strata_session_join_due(&s, MS(500)));
    join_if_due(&s, MS(500));
    /* a refusal waits eight retries */
    strata_msg_join_reply r = reply(STRATA_JOIN_REFUSED, 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(600)), 0);
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(600 + 8 * 500));
    CHECK_EQ_INT(s.state, STRATA_SESSION_JOINING);
    /* an OK is the role's to apply, then committed */
    r = reply(STRATA_JOIN_OK, 3);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(700)), 1);
    CHECK_EQ_INT(s.state, STRATA_SESSION_JOINING); /* nothing before accept */
    strata_session_accept(&s, &r, MS(700));
    CHECK_EQ_INT(s.state, STRATA_SESSION_MEMBER);
    CHECK_EQ_U64(s.dcm.v, 3);
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(1200));
    /* a second answer to a retried JOIN is harmless */
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(710)), 0);
    CHECK(!strata_session_join_due(&s, MS(5000)));
    /* heartbeats carry the DCM and a rising sequence */
    CHECK(!strata_session_heartbeat_due(&s, MS(1199)));
    CHECK(strata_session_heartbeat_due(&s, MS(1200)));
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    strata_session_heartbeat_header(&s, &hb, MS(1200));
    CHECK_EQ_U64(hb.node.v, 42);
    CHECK_EQ_U64(hb.channel.v, 7);
    CHECK_EQ_U64(hb.dcm.v, 3);
    CHECK_EQ_U64(hb.hb_seq, 1);
    CHECK_EQ_U64(hb.local_ts_ns, MS(1200));
    strata_session_heartbeat_sent(&s, MS(1200));
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(1700));
    strata_session_heartbeat_header(&s, &hb, MS(1700));
    CHECK_EQ_U64(hb.hb_seq, 2);
    sent_clear(out);
    free(out);
    strata_outbox_free(&ob);
}

static void test_unknown_rejoin_and_leave(void)
{
    strata_outbox ob;
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 64), 0);
    sent_list *out = calloc(1, sizeof *out);
    strata_session s;
    strata_session_init(&s, (strata_node_id){42}, (strata_channel_id){7}, CONTROL, 200, &ob, NULL,
                        "source", MS(0));
    /* UNKNOWN while JOINING is not an answer */
    strata_msg_join_reply r = reply(STRATA_JOIN_UNKNOWN, 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(10)), 0);
    CHECK_EQ_U64(s.rejoins, 0);
    r = reply(STRATA_JOIN_OK, 3);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(20)), 1);
    strata_session_accept(&s, &r, MS(20));
    /* a member the control center forgot joins again at once, once */
    r = reply(STRATA_JOIN_UNKNOWN, 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(100)), 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(101)), 0);
    CHECK_EQ_U64(s.rejoins, 1);
    CHECK_EQ_INT(s.state, STRATA_SESSION_MEMBER); /* heartbeats go on meanwhile */
    CHECK(strata_session_join_due(&s, MS(100)));
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(100));
    join_if_due(&s, MS(100));
    CHECK_EQ_U64(strata_session_next_timeout(&s), MS(300)); /* retry 200 ms < next heartbeat */
    /* the new control center's OK is applied again: a new DCM */
    r = reply(STRATA_JOIN_OK, 9);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(150)), 1);
    strata_session_accept(&s, &r, MS(150));
    CHECK_EQ_U64(s.dcm.v, 9);
    CHECK(!strata_session_join_due(&s, MS(300)));
    /* a region change joins again too */
    strata_session_rejoin(&s, MS(400));
    CHECK(strata_session_join_due(&s, MS(400)));
    capture_outbox(&ob, out);
    /* LEAVE names the DCM; then nothing is due */
    strata_session_leave(&s);
    capture_outbox(&ob, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_LEAVE), 1);
    if (out->n == 1) {
        strata_msg_leave lv;
        CHECK(strata_wire_decode_leave(out->items[0].buf->data, out->items[0].buf->len, &lv) > 0);
        CHECK_EQ_U64(lv.dcm.v, 9);
        CHECK_EQ_U64(lv.node.v, 42);
    }
    CHECK_EQ_U64(strata_session_next_timeout(&s), STRATA_NEVER);
    CHECK(!strata_session_join_due(&s, MS(10000)));
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, MS(500)), 0);
    strata_session_leave(&s); /* once */
    capture_outbox(&ob, out);
    CHECK_EQ_U64(out->n, 0);
    sent_clear(out);
    free(out);
    strata_outbox_free(&ob);
}

/* A waypoint's offer answered STANDBY (protocol.md 3.3.4): offered again
 * two retries later, again and again, until an OK makes it a member. */
static void test_waypoint_standby(void)
{
    strata_outbox ob;
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 64), 0);
    sent_list *out = calloc(1, sizeof *out);
    strata_session s;
    strata_session_init(&s, (strata_node_id){42}, (strata_channel_id){7}, CONTROL, 0, &ob, NULL,
                        "peer", MS(0));
    uint64_t now = 0;
    for (int round = 1; round <= 3; round++) {
        join_if_due(&s, now);
        strata_msg_join_reply r = reply(STRATA_JOIN_STANDBY, 0);
        CHECK_EQ_INT(strata_session_on_join_reply(&s, &r, now + MS(10)), 0);
        CHECK_EQ_INT(s.state, STRATA_SESSION_JOINING);
        CHECK_EQ_U64(s.standbys, (uint64_t)round);
        CHECK_EQ_INT(s.standby, 1);
        uint64_t next = now + MS(10) + 2 * MS(STRATA_SESSION_DEFAULT_JOIN_RETRY_MS);
        CHECK_EQ_U64(strata_session_next_timeout(&s), next);
        CHECK(!strata_session_join_due(&s, next - 1));
        now = next;
    }
    capture_outbox(&ob, out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 3);
    join_if_due(&s, now);
    strata_msg_join_reply ok = reply(STRATA_JOIN_OK, 5);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &ok, now + MS(10)), 1);
    strata_session_accept(&s, &ok, now + MS(10));
    CHECK_EQ_INT(s.state, STRATA_SESSION_MEMBER);
    CHECK_EQ_INT(s.standby, 0);
    /* a STANDBY that comes late (to a retried offer) changes nothing */
    strata_msg_join_reply late = reply(STRATA_JOIN_STANDBY, 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &late, now + MS(20)), 0);
    CHECK_EQ_INT(s.state, STRATA_SESSION_MEMBER);
    CHECK(!strata_session_join_due(&s, now + MS(5000)));
    /* A restarted control center forgets it (UNKNOWN) and, needing it
     * nowhere, answers its JOIN STANDBY: no member any more, so no
     * heartbeats, and offered again two retries later. */
    strata_msg_join_reply unknown = reply(STRATA_JOIN_UNKNOWN, 0);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &unknown, now + MS(100)), 0);
    CHECK(s.rejoining);
    CHECK_EQ_INT(strata_session_on_join_reply(&s, &late, now + MS(150)), 0);
    CHECK_EQ_INT(s.state, STRATA_SESSION_JOINING);
    CHECK(!s.rejoining);
    CHECK(!strata_session_heartbeat_due(&s, now + MS(10000)));
    CHECK_EQ_U64(strata_session_next_timeout(&s),
                 now + MS(150) + 2 * MS(STRATA_SESSION_DEFAULT_JOIN_RETRY_MS));
    sent_clear(out);
    free(out);
    strata_outbox_free(&ob);
}

int main(void)
{
    test_join_retry_refuse_accept();
    test_unknown_rejoin_and_leave();
    test_waypoint_standby();
    return test_summary("test_session");
}
