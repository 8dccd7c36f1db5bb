/*
 * Channel access tokens (strata/token.h) and the control center's gate
 * (core/admission.c): the codec's checks, signatures, and JOINs refused
 * for every reason, counted, answered FORBIDDEN and never placed (no
 * INSTRUCTION reaches them); the JOIN rate per address prefix.
 */
#include "strata/control.h"
#include "strata/token.h"
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>

enum { NOW_UNIX_S = 1800000000, HOUR = 3600 };

static uint8_t op_pk[32], op_sk[64], other_pk[32], other_sk[64];

static strata_token make_token(const char *channel, uint64_t node, uint8_t rights, uint64_t expires,
                               const uint8_t *sk)
{
    strata_token t;
    memset(&t, 0, sizeof t);
    t.rights = rights;
    t.channel = strata_channel_id_from_name(channel, strlen(channel));
    t.node.v = node;
    t.expires_unix_s = expires;
    CHECK_EQ_INT(strata_token_sign(&t, sk), 0);
    return t;
}

static void test_codec(void)
{
    strata_token t = make_token("news", 0x1234, STRATA_TOKEN_WATCH, NOW_UNIX_S + HOUR, op_sk);
    uint8_t buf[STRATA_TOKEN_BYTES + 1];
    CHECK_EQ_INT(strata_token_encode(buf, sizeof buf, &t), STRATA_TOKEN_BYTES);
    CHECK_EQ_INT(strata_token_encode(buf, STRATA_TOKEN_BYTES - 1, &t), STRATA_ERR_NOSPACE);
    strata_token d;
    CHECK_EQ_INT(strata_token_decode(buf, STRATA_TOKEN_BYTES, &d), STRATA_TOKEN_BYTES);
    CHECK(memcmp(&d, &t, sizeof d) == 0);
    CHECK_EQ_INT(strata_token_verify(&d, op_pk), 0);
    CHECK_EQ_INT(strata_token_verify(&d, other_pk), STRATA_ERR_FORGED);
    /* Every length short of the whole, and one byte more. */
    for (size_t n = 0; n < STRATA_TOKEN_BYTES; n++)
        CHECK_EQ_INT(strata_token_decode(buf, n, &d), n == 0 ? STRATA_ERR_SHORT : STRATA_ERR_SHORT);
    CHECK_EQ_INT(strata_token_decode(buf, STRATA_TOKEN_BYTES + 1, &d), STRATA_ERR_LONG);
    /* Field ranges. */
    struct {
        size_t off;
        uint8_t v;
        int err;
    } edits[] = {{0, 2, STRATA_ERR_VERSION},
                 {1, 0, STRATA_ERR_RANGE},
                 {1, 0x08, STRATA_ERR_RANGE},
                 {1, 0x0f, STRATA_ERR_RANGE},
                 {1, 0x07, STRATA_TOKEN_BYTES}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        uint8_t e[STRATA_TOKEN_BYTES];
        memcpy(e, buf, sizeof e);
        e[edits[i].off] = edits[i].v;
        CHECK_EQ_INT(strata_token_decode(e, sizeof e, &d), edits[i].err);
    }
    uint8_t zero[STRATA_TOKEN_BYTES];
    memcpy(zero, buf, sizeof zero);
    memset(zero + 2, 0, 8); /* channel 0 */
    CHECK_EQ_INT(strata_token_decode(zero, sizeof zero, &d), STRATA_ERR_RANGE);
    memcpy(zero, buf, sizeof zero);
    memset(zero + 10, 0, 8); /* node 0 */
    CHECK_EQ_INT(strata_token_decode(zero, sizeof zero, &d), STRATA_ERR_RANGE);
    /* Any signed byte changed breaks the signature. */
    for (size_t off = 0; off < STRATA_TOKEN_BYTES; off++) {
        uint8_t e[STRATA_TOKEN_BYTES];
        memcpy(e, buf, sizeof e);
        e[off] ^= 0x10;
        if (strata_token_decode(e, sizeof e, &d) == STRATA_TOKEN_BYTES)
            CHECK_EQ_INT(strata_token_verify(&d, op_pk), STRATA_ERR_FORGED);
    }
    strata_token bad = t;
    bad.rights = 0;
    CHECK_EQ_INT(strata_token_encode(buf, sizeof buf, &bad), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_token_sign(&bad, op_sk), STRATA_ERR_INVAL);
}

/* --- the gate, through the control center ------------------------------------------ */

typedef struct harness {
    strata_control *c;
    uint64_t now;
    int replies[8];    /* JOIN_REPLY statuses seen, by status */
    int instructions;  /* INSTRUCTIONs to the address under test */
    strata_addr watch; /* the address under test */
} harness;

static void drain(harness *h)
{
    strata_datagram dg;
    while (strata_outbox_pop(strata_control_outbox(h->c), &dg)) {
        int type = strata_wire_peek_type(dg.buf->data, dg.buf->len);
        if (strata_addr_eq(dg.to, h->watch)) {
            if (type == STRATA_MSG_JOIN_REPLY) {
                strata_msg_join_reply r;
                CHECK(strata_wire_decode_join_reply(dg.buf->data, dg.buf->len, &r) > 0);
                h->replies[r.status]++;
            } else if (type == STRATA_MSG_INSTRUCTION || type == STRATA_MSG_DATA) {
                h->instructions++;
            }
        }
        strata_buf_unref(dg.buf);
    }
}

static int join(harness *h, strata_addr from, uint64_t node, uint8_t role, const char *channel,
                const strata_token *t)
{
    uint8_t tok[STRATA_TOKEN_BYTES];
    strata_msg_join j;
    memset(&j, 0, sizeof j);
    j.node.v = node;
    j.role = role;
    j.upload_kbps = 2000;
    j.rate_kbps = role == STRATA_ROLE_SOURCE ? 1000 : 0;
    j.name = (const uint8_t *)channel;
    j.name_len = (uint8_t)strlen(channel);
    if (t) {
        CHECK_EQ_INT(strata_token_encode(tok, sizeof tok, t), STRATA_TOKEN_BYTES);
        j.token = tok;
        j.token_len = STRATA_TOKEN_BYTES;
    }
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_join(buf, sizeof buf, &j);
    CHECK(n > 0);
    h->watch = from;
    memset(h->replies, 0, sizeof h->replies);
    h->instructions = 0;
    int rc = strata_control_handle_datagram(h->c, from, buf, (size_t)n, h->now);
    drain(h);
    return rc;
}

static void test_gate(void)
{
    strata_control_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.require_tokens = 1;
    memcpy(cfg.operator_pk, op_pk, sizeof op_pk);
    cfg.heartbeat_ms = 500;
    harness h = {0};
    h.now = STRATA_S(10);
    cfg.unix_ns_at_zero = (uint64_t)NOW_UNIX_S * STRATA_S(1) - h.now;
    h.c = strata_control_new(&cfg, NULL, h.now);
    CHECK(h.c != NULL);
    strata_channel_id news = strata_channel_id_from_name("news", 4);
    strata_addr src = {0x0a000001, 5000}, bad = {0x0a000102, 5000}, good = {0x0a000203, 5000};
    const uint64_t later = NOW_UNIX_S + HOUR;

    /* The source, with the right to publish. */
    strata_token ts = make_token("news", 0x50, STRATA_TOKEN_PUBLISH, later, op_sk);
    CHECK_EQ_INT(join(&h, src, 0x50, STRATA_ROLE_SOURCE, "news", &ts), 0);
    CHECK_EQ_INT(h.replies[STRATA_JOIN_OK], 1);

    /* Each reason once, from the same address and node. */
    struct {
        const char *what;
        uint8_t role;
        int with_token;
        strata_token t;
        int reason;
    } cases[] = {
        {"no token", STRATA_ROLE_PEER, 0, {0}, STRATA_REFUSAL_NO_TOKEN},
        {"other channel", STRATA_ROLE_PEER, 1,
         make_token("sport", 0x77, STRATA_TOKEN_WATCH, later, op_sk), STRATA_REFUSAL_TOKEN_CHANNEL},
        {"other node", STRATA_ROLE_PEER, 1,
         make_token("news", 0x78, STRATA_TOKEN_WATCH, later, op_sk), STRATA_REFUSAL_TOKEN_NODE},
        {"expired", STRATA_ROLE_PEER, 1,
         make_token("news", 0x77, STRATA_TOKEN_WATCH, NOW_UNIX_S, op_sk),
         STRATA_REFUSAL_TOKEN_EXPIRED},
        {"source without publish", STRATA_ROLE_SOURCE, 1,
         make_token("news", 0x77, STRATA_TOKEN_WATCH | STRATA_TOKEN_RELAY, later, op_sk),
         STRATA_REFUSAL_TOKEN_RIGHTS},
        {"relay without relay", STRATA_ROLE_RELAY, 1,
         make_token("news", 0x77, STRATA_TOKEN_WATCH, later, op_sk), STRATA_REFUSAL_TOKEN_RIGHTS},
        {"another key", STRATA_ROLE_PEER, 1,
         make_token("news", 0x77, STRATA_TOKEN_WATCH, later, other_sk),
         STRATA_REFUSAL_TOKEN_SIGNATURE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata_control_status before, after;
        strata_control_get_status(h.c, &before);
        int rc =
            join(&h, bad, 0x77, cases[i].role, "news", cases[i].with_token ? &cases[i].t : NULL);
        strata_control_get_status(h.c, &after);
        if (rc != STRATA_ERR_DENIED || h.replies[STRATA_JOIN_FORBIDDEN] != 1 ||
            after.refused[cases[i].reason] != before.refused[cases[i].reason] + 1)
            printf("case %s: rc %d, forbidden replies %d, %s %llu -> %llu\n", cases[i].what, rc,
                   h.replies[STRATA_JOIN_FORBIDDEN], strata_refusal_name(cases[i].reason),
                   (unsigned long long)before.refused[cases[i].reason],
                   (unsigned long long)after.refused[cases[i].reason]);
        CHECK_EQ_INT(rc, STRATA_ERR_DENIED);
        CHECK_EQ_INT(h.replies[STRATA_JOIN_FORBIDDEN], 1);
        CHECK_EQ_INT(h.replies[STRATA_JOIN_OK], 0);
        CHECK_EQ_INT(h.instructions, 0);
        CHECK_EQ_U64(after.refused[cases[i].reason], before.refused[cases[i].reason] + 1);
        CHECK_EQ_U64(after.joins, before.joins);
        strata_control_member member;
        CHECK_EQ_INT(strata_control_member_of(h.c, (strata_node_id){0x77}, news, &member), 0);
    }
    /* A token altered after signing (rights widened). */
    strata_token widened = make_token("news", 0x77, STRATA_TOKEN_WATCH, later, op_sk);
    widened.rights |= STRATA_TOKEN_PUBLISH;
    CHECK_EQ_INT(join(&h, bad, 0x77, STRATA_ROLE_SOURCE, "news", &widened), STRATA_ERR_DENIED);

    /* Heartbeats of the refused node place it nowhere either. */
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node.v = 0x77;
    hb.channel = news;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_heartbeat(buf, sizeof buf, &hb);
    CHECK(n > 0);
    strata_control_handle_datagram(h.c, bad, buf, (size_t)n, h.now);
    drain(&h);
    CHECK_EQ_INT(h.instructions, 0);

    /* The same node with a good token is placed and instructed. */
    strata_token tg = make_token("news", 0x77, STRATA_TOKEN_WATCH, later, op_sk);
    CHECK_EQ_INT(join(&h, good, 0x77, STRATA_ROLE_PEER, "news", &tg), 0);
    CHECK_EQ_INT(h.replies[STRATA_JOIN_OK], 1);
    CHECK(h.instructions > 0);
    strata_control_member member;
    CHECK_EQ_INT(strata_control_member_of(h.c, (strata_node_id){0x77}, news, &member), 1);
    strata_control_status st;
    strata_control_get_status(h.c, &st);
    CHECK_EQ_U64(st.token_checks, 4); /* the source, another key, the widened one, the good one */
    strata_control_del(h.c);
}

static void test_join_rate(void)
{
    strata_control_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.join_rate_per_s = 10;
    cfg.join_burst = 20;
    harness h = {0};
    h.now = STRATA_S(10);
    h.c = strata_control_new(&cfg, NULL, h.now);
    CHECK(h.c != NULL);
    /* 100 JOINs at once from one /24 (other hosts, other nodes): the burst
     * gets in, the rest is dropped unanswered. */
    int ok = 0, limited = 0;
    for (uint32_t i = 0; i < 100; i++) {
        strata_addr a = {0x0b000100 + i, 4000};
        int rc = join(&h, a, 0x1000 + i, STRATA_ROLE_PEER, "news", NULL);
        if (rc == 0 && h.replies[STRATA_JOIN_OK] == 1)
            ok++;
        if (rc == STRATA_ERR_LIMIT &&
            h.replies[STRATA_JOIN_OK] + h.replies[STRATA_JOIN_FORBIDDEN] == 0)
            limited++;
    }
    CHECK_EQ_INT(ok, 20);
    CHECK_EQ_INT(limited, 80);
    /* Another /24 is not held back by it. */
    strata_addr other = {0x0b000201, 4000};
    CHECK_EQ_INT(join(&h, other, 0x2000, STRATA_ROLE_PEER, "news", NULL), 0);
    /* A second later the prefix has earned 10 more. */
    h.now += STRATA_S(1);
    ok = 0;
    for (uint32_t i = 0; i < 20; i++) {
        strata_addr a = {0x0b000100 + 100 + i, 4000};
        if (join(&h, a, 0x3000 + i, STRATA_ROLE_PEER, "news", NULL) == 0)
            ok++;
    }
    CHECK_EQ_INT(ok, 10);
    strata_control_status st;
    strata_control_get_status(h.c, &st);
    CHECK_EQ_U64(st.refused[STRATA_REFUSAL_JOIN_RATE], 90);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_LIMIT], 90);
    strata_control_del(h.c);
}

int main(void)
{
    CHECK(sodium_init() >= 0);
    crypto_sign_keypair(op_pk, op_sk);
    crypto_sign_keypair(other_pk, other_sk);
    test_codec();
    test_gate();
    test_join_rate();
    return test_summary("test_token");
}
