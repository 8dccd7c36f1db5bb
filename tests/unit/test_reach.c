/*
 * Anti-amplification (core/reach.c through the node, docs/security.md
 * "Amplification"): every request type that gets an answer, sent from an
 * address that never showed it receives there, to a source (REPAIR_REQUEST,
 * MANIFEST_REQUEST, PROBE), a control process (JOIN, HEARTBEAT,
 * GROUP_BOOTSTRAP) and a group leader (GROUP_QUERY, GROUP_JOIN,
 * GROUP_KEEPALIVE, GROUP_PING). Prints the amplification factor of each
 * (bytes sent to that address / bytes received from it) with the rule off
 * and on, and checks that with it on the guarded types stay within 3; then
 * that an address which echoes the challenge is answered in full, and that
 * a held JOIN goes in as soon as it does.
 */
#include "outbox_capture.h"
#include "strata/node.h"
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x0a000001u, 7000};
static const strata_addr ME_ADDR = {0x0a000002u, 7001};
static const strata_addr VICTIM = {0x0a0000feu, 4444}; /* the forged source address */

typedef struct amp {
    size_t in, out;
    int withheld_ok; /* the node counted what it withheld */
} amp;

/* Feeds one datagram from VICTIM and sums what the node queued to it. */
static amp send_from_victim(strata_node *n, const uint8_t *buf, int len, uint64_t now,
                            sent_list *out)
{
    amp a = {0, 0, 0};
    CHECK(len > 0);
    if (len <= 0)
        return a;
    capture_outbox(strata_node_outbox(n), out); /* what went before is not this answer's */
    sent_clear(out);
    strata_rx rx = {VICTIM, -1};
    strata_node_handle_datagram(n, &rx, buf, (size_t)len, now);
    capture_outbox(strata_node_outbox(n), out);
    a.in = (size_t)len;
    for (size_t i = 0; i < out->n; i++)
        if (strata_addr_eq(out->items[i].to, VICTIM))
            a.out += out->items[i].buf->len;
    return a;
}

static void report(const char *type, amp off, amp on, int guarded)
{
    printf("  %-17s request %4zu B  answer %5zu B  factor %6.2f   with the rule: %5zu B, %5.2f%s\n",
           type, off.in, off.out, (double)off.out / (double)off.in, on.out,
           (double)on.out / (double)on.in, guarded ? "" : " (not guarded)");
    if (guarded)
        CHECK(on.out <= 3 * on.in);
}

static uint8_t sk[64], pk[32];

/* A source that has sent 200 packets, signed. */
static strata_node *source_node(int verify, sent_list *out)
{
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id.v = 0x50;
    c.addr = ME_ADDR;
    c.control = CONTROL;
    c.seed = 3;
    c.verify_addresses = verify;
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    strata_source_config sc;
    memset(&sc, 0, sizeof sc);
    sc.channel = "live";
    sc.rate_kbps = 4000;
    sc.upload_kbps = 100000;
    sc.payload_bytes = 1316;
    sc.sign = 1;
    memcpy(sc.channel_sk, sk, sizeof sk);
    int ch = strata_node_publish(n, &sc, 0);
    CHECK_EQ_INT(ch, 0);
    strata_node_handle_timeout(n, 0);
    strata_msg_join_reply r = {
        {0x50}, strata_channel_id_from_name("live", 4), STRATA_JOIN_OK, {0}, 4, 4000, 500, 0};
    uint8_t b[64];
    strata_rx rx = {CONTROL, -1};
    strata_node_handle_datagram(n, &rx, b, (size_t)strata_wire_encode_join_reply(b, sizeof b, &r),
                                MS(1));
    static uint8_t input[200 * 1316];
    memset(input, 0x47, sizeof input);
    CHECK_EQ_INT(strata_node_push(n, ch, input, sizeof input, MS(2)), 0);
    strata_node_handle_timeout(n, MS(400));
    capture_outbox(strata_node_outbox(n), out);
    sent_clear(out);
    return n;
}

static amp repair_request(strata_node *n, uint64_t now, sent_list *out)
{
    strata_msg_repair m = {{0x666}, strata_channel_id_from_name("live", 4), 0, UINT64_MAX};
    uint8_t b[64];
    amp a = send_from_victim(n, b, strata_wire_encode_repair(b, sizeof b, &m), now, out);
    sent_clear(out);
    return a;
}

static amp manifest_request(strata_node *n, uint64_t now, sent_list *out)
{
    strata_msg_manifest_request m = {{0x666}, strata_channel_id_from_name("live", 4), 3, 0};
    uint8_t b[64];
    amp a = send_from_victim(n, b, strata_manifest_encode_request(b, sizeof b, &m), now, out);
    sent_clear(out);
    return a;
}

static amp probe(strata_node *n, uint64_t now, sent_list *out)
{
    strata_msg_probe m = {{0x666}, 1, 2};
    uint8_t b[64];
    amp a = send_from_victim(n, b, strata_wire_encode_probe(b, sizeof b, &m), now, out);
    sent_clear(out);
    return a;
}

/* A control process with a source and a live channel, and 8 groups. */
static strata_node *control_node(int verify, strata_control_config *cc, sent_list *out)
{
    memset(cc, 0, sizeof *cc);
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id.v = 0xc0;
    c.addr = CONTROL;
    c.seed = 4;
    c.control_center = cc;
    c.verify_addresses = verify;
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    return n;
}

static amp join(strata_node *n, uint64_t id, uint64_t now, sent_list *out)
{
    strata_msg_join j = {.node = {id},
                         .role = STRATA_ROLE_PEER,
                         .upload_kbps = 10000,
                         .name_len = 1,
                         .name = (const uint8_t *)"x"};
    uint8_t b[256];
    amp a = send_from_victim(n, b, strata_wire_encode_join(b, sizeof b, &j), now, out);
    return a;
}

static amp heartbeat(strata_node *n, uint64_t now, sent_list *out)
{
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node.v = 0x778; /* no member: answered UNKNOWN */
    hb.channel = strata_channel_id_from_name("x", 1);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    amp a = send_from_victim(n, b, strata_wire_encode_heartbeat(b, sizeof b, &hb), now, out);
    sent_clear(out);
    return a;
}

static amp bootstrap(strata_node *n, uint64_t now, sent_list *out)
{
    /* Eight groups report first, from their own addresses. */
    for (uint32_t g = 1; g <= 8; g++) {
        strata_msg_group_report r;
        memset(&r, 0, sizeof r);
        r.group.v = g;
        r.node.v = 0x100 + g;
        r.term = 1;
        r.n_members = 3;
        uint8_t b[64];
        strata_rx rx = {{0x0b000000u + g, 5000}, -1};
        strata_node_handle_datagram(n, &rx, b,
                                    (size_t)strata_wire_encode_group_report(b, sizeof b, &r), now);
    }
    capture_outbox(strata_node_outbox(n), out);
    sent_clear(out);
    strata_msg_group_bootstrap m = {{0x666}, 8};
    uint8_t b[64];
    amp a = send_from_victim(n, b, strata_wire_encode_group_bootstrap(b, sizeof b, &m), now, out);
    sent_clear(out);
    return a;
}

/* The challenge the node sent VICTIM, echoed as a PROBE_REPLY. */
static int echo_challenge(strata_node *n, const sent_list *out, uint64_t now)
{
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_probe p;
        if (out->items[i].type == STRATA_MSG_PROBE && strata_addr_eq(out->items[i].to, VICTIM) &&
            strata_wire_decode_probe(out->items[i].buf->data, out->items[i].buf->len, &p) > 0) {
            strata_msg_probe_reply r = {p.node, p.probe_id, p.send_ts_ns, {0x666}};
            uint8_t b[64];
            strata_rx rx = {VICTIM, -1};
            return strata_node_handle_datagram(
                       n, &rx, b, (size_t)strata_wire_encode_probe_reply(b, sizeof b, &r), now) ==
                   0;
        }
    }
    return 0;
}

/* A group leader alone in its group (groups of any size answer alike). */
static strata_node *leader_node(int verify)
{
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id.v = 0x1e;
    c.addr = ME_ADDR;
    c.control = CONTROL;
    c.seed = 6;
    c.groups = 1;
    c.no_bootstrap_client = 1;
    c.verify_addresses = verify;
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    CHECK_EQ_INT(strata_node_bootstrap(n, NULL, 0, MS(1)), 0);
    return n;
}

static amp group_msg(strata_node *n, int type, uint64_t now, sent_list *out)
{
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = -1;
    strata_group_id g = strata_gnode_group(strata_node_gnode(n));
    if (type == STRATA_MSG_GROUP_QUERY) {
        strata_msg_group_query q = {{0x666}, 7, {0}};
        len = strata_wire_encode_group_query(b, sizeof b, &q);
    } else if (type == STRATA_MSG_GROUP_JOIN) {
        strata_msg_group_join j = {{0x666}, 8, g};
        len = strata_wire_encode_group_join(b, sizeof b, &j);
    } else if (type == STRATA_MSG_GROUP_PING) {
        strata_msg_group_ping p;
        memset(&p, 0, sizeof p);
        p.node.v = 0x666;
        p.ping_id = 9;
        len = strata_wire_encode_group_ping(b, sizeof b, &p);
    }
    amp a = send_from_victim(n, b, len, now, out);
    sent_clear(out);
    return a;
}

static void test_factors(sent_list *out)
{
    printf("amplification towards an address that never showed it receives there:\n");
    strata_node *s0 = source_node(0, out), *s1 = source_node(1, out);
    report("REPAIR_REQUEST", repair_request(s0, MS(500), out), repair_request(s1, MS(500), out), 1);
    report("MANIFEST_REQUEST", manifest_request(s0, MS(501), out),
           manifest_request(s1, MS(501), out), 1);
    report("PROBE", probe(s0, MS(502), out), probe(s1, MS(502), out), 0);
    /* The victim asks again, with the rule on: at most 3 x again, and a
     * challenge went out once (a PROBE within the budget). */
    amp again = repair_request(s1, MS(900), out);
    CHECK(again.out <= 3 * again.in);
    strata_node_stats st;
    strata_node_get_stats(s1, &st);
    CHECK(st.withheld[STRATA_MSG_REPAIR_REQUEST] > 0);
    CHECK(st.withheld[STRATA_MSG_MANIFEST_REQUEST] > 0);
    CHECK(st.challenges_sent >= 1);
    /* Echoed: the same request is answered in full. */
    {
        strata_msg_repair m = {{0x666}, strata_channel_id_from_name("live", 4), 0, 0xf};
        uint8_t b[64];
        send_from_victim(s1, b, strata_wire_encode_repair(b, sizeof b, &m), MS(1200), out);
        CHECK(echo_challenge(s1, out, MS(1201)));
        sent_clear(out);
        /* The request it held is answered as soon as the echo comes. */
        capture_outbox(strata_node_outbox(s1), out);
        CHECK_EQ_U64(count_type(out, STRATA_MSG_DATA), 4);
        sent_clear(out);
        amp full =
            send_from_victim(s1, b, strata_wire_encode_repair(b, sizeof b, &m), MS(1300), out);
        CHECK(full.out > 4 * 1300); /* the 4 packets asked for */
        sent_clear(out);
        strata_node_get_stats(s1, &st);
        CHECK_EQ_U64(st.addresses_verified, 1);
    }
    strata_node_del(s0);
    strata_node_del(s1);

    strata_control_config cc0, cc1;
    strata_node *c0 = control_node(0, &cc0, out), *c1 = control_node(1, &cc1, out);
    amp j0 = join(c0, 0x777, MS(10), out), j1 = join(c1, 0x777, MS(10), out);
    report("JOIN", j0, j1, 1);
    CHECK(j0.out > j0.in); /* a JOIN_REPLY and INSTRUCTIONs: more than came in */
    /* The held JOIN goes in when the address echoes the challenge. */
    strata_control_member mem;
    CHECK_EQ_INT(strata_control_member_of(strata_node_control(c1), (strata_node_id){0x777},
                                          strata_channel_id_from_name("x", 1), &mem),
                 0);
    CHECK(echo_challenge(c1, out, MS(11)));
    sent_clear(out);
    capture_outbox(strata_node_outbox(c1), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN_REPLY), 1);
    sent_clear(out);
    CHECK_EQ_INT(strata_control_member_of(strata_node_control(c1), (strata_node_id){0x777},
                                          strata_channel_id_from_name("x", 1), &mem),
                 1);
    sent_clear(out);
    report("HEARTBEAT", heartbeat(c0, MS(20), out), heartbeat(c1, MS(20), out), 0);
    report("GROUP_BOOTSTRAP", bootstrap(c0, MS(30), out), bootstrap(c1, MS(30), out), 0);
    strata_node_stats cs;
    strata_node_get_stats(c1, &cs);
    CHECK_EQ_U64(cs.joins_held, 1);
    /* A malformed JOIN from an unverified address is a counted drop, not
     * held. */
    const uint8_t truncated[6] = {'S', 'T', 1, STRATA_MSG_JOIN, 0, 0};
    strata_rx rx = {{0x0a0000fdu, 4445}, -1};
    CHECK_EQ_INT(strata_node_handle_datagram(c1, &rx, truncated, sizeof truncated, MS(40)),
                 STRATA_ERR_SHORT);
    strata_node_get_stats(c1, &cs);
    CHECK_EQ_U64(cs.joins_held, 1);
    CHECK_EQ_U64(cs.drops.by_reason[-STRATA_ERR_SHORT], 1);
    strata_node_del(c0);
    strata_node_del(c1);

    strata_node *g0 = leader_node(0), *g1 = leader_node(1);
    capture_outbox(strata_node_outbox(g0), out);
    capture_outbox(strata_node_outbox(g1), out);
    sent_clear(out);
    report("GROUP_QUERY", group_msg(g0, STRATA_MSG_GROUP_QUERY, MS(10), out),
           group_msg(g1, STRATA_MSG_GROUP_QUERY, MS(10), out), 0);
    report("GROUP_PING", group_msg(g0, STRATA_MSG_GROUP_PING, MS(11), out),
           group_msg(g1, STRATA_MSG_GROUP_PING, MS(11), out), 0);
    report("GROUP_JOIN", group_msg(g0, STRATA_MSG_GROUP_JOIN, MS(12), out),
           group_msg(g1, STRATA_MSG_GROUP_JOIN, MS(12), out), 0);
    strata_node_del(g0);
    strata_node_del(g1);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    sent_list out;
    memset(&out, 0, sizeof out);
    test_factors(&out);
    sent_clear(&out);
    return test_summary("test_reach");
}
