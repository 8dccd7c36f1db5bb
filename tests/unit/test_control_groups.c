/*
 * The control center's group bookkeeping (strata_cgroups) and the node's
 * bootstrap client (strata_gclient), protocol.md 3.9 and 7.8: reports,
 * claims, withdrawals, expiry, bounds, bootstrap choices, retries, bad
 * input, and the two talking to each other through their outboxes.
 */
#include "strata/control_groups.h"
#include "strata/group_client.h"
#include "testutil.h"

static const strata_addr CONTROL = {0x7f000001u, 7000};

static strata_addr addr_of(uint32_t i)
{
    return (strata_addr){0x7f010000u + i, 9000};
}

/* Feeds an encoded message to cg; returns the handler's result. */
static int feed(strata_cgroups *cg, strata_addr from, const uint8_t *buf, int n, uint64_t now)
{
    CHECK(n > 0);
    return strata_cgroups_handle_datagram(cg, from, buf, n > 0 ? (size_t)n : 0, now);
}

static int report(strata_cgroups *cg, uint64_t node, uint64_t group, uint32_t term,
                  uint32_t members, uint64_t now)
{
    strata_msg_group_report m = {.node = {node}, .group = {group}, .term = term, .n_members = members};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    return feed(cg, addr_of((uint32_t)node), b, strata_wire_encode_group_report(b, sizeof b, &m),
                now);
}

/* Asks for bootstrap leaders as `node`; decodes the reply into *r. */
static int ask(strata_cgroups *cg, uint64_t node, strata_msg_group_bootstrap_reply *r, uint64_t now)
{
    strata_msg_group_bootstrap m = {{node}, 4242};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(feed(cg, addr_of((uint32_t)node), b,
                      strata_wire_encode_group_bootstrap(b, sizeof b, &m), now),
                 0);
    strata_datagram d;
    if (!strata_outbox_pop(strata_cgroups_outbox(cg), &d))
        return -1;
    CHECK(d.to.ipv4 == addr_of((uint32_t)node).ipv4);
    int rc = strata_wire_decode_group_bootstrap_reply(d.buf->data, d.buf->len, r);
    strata_buf_unref(d.buf);
    CHECK(rc > 0 && r->request_id == 4242 && r->node.v == node);
    return rc;
}

static void test_reports(void)
{
    strata_cgroups_config cfg = {.report_timeout_ms = 3500, .max_groups = 3, .seed = 1};
    strata_cgroups *cg = strata_cgroups_new(&cfg, NULL, 0);
    strata_cgroups_group g;
    strata_cgroups_stats st;

    CHECK_EQ_INT(report(cg, 10, 100, 1, 5, 0), 0);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){100}, &g));
    CHECK_EQ_U64(g.leader.node.v, 10);
    CHECK(g.leader.addr.ipv4 == addr_of(10).ipv4); /* the source address */
    CHECK_EQ_INT(g.n_members, 5);

    /* another leader of group 100: a worse claim (same term, higher id) is ignored... */
    CHECK_EQ_INT(report(cg, 11, 100, 1, 2, STRATA_MS(100)), 0);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){100}, &g) && g.leader.node.v == 10);
    /* ... a better one (higher term) wins */
    CHECK_EQ_INT(report(cg, 11, 100, 2, 6, STRATA_MS(200)), 0);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){100}, &g) && g.leader.node.v == 11);
    /* a withdrawal from the old leader does not remove it */
    CHECK_EQ_INT(report(cg, 10, 100, 1, 0, STRATA_MS(300)), STRATA_ERR_UNEXPECTED);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){100}, NULL));

    /* bounded: the fourth group is refused and counted */
    CHECK_EQ_INT(report(cg, 20, 200, 1, 1, STRATA_MS(300)), 0);
    CHECK_EQ_INT(report(cg, 30, 300, 1, 1, STRATA_MS(300)), 0);
    CHECK_EQ_INT(report(cg, 40, 400, 1, 1, STRATA_MS(300)), STRATA_ERR_UNEXPECTED);
    strata_cgroups_get_stats(cg, &st);
    CHECK_EQ_INT(st.groups, 3);
    CHECK_EQ_U64(st.refused_full, 1);

    /* the recorded leader withdraws */
    CHECK_EQ_INT(report(cg, 11, 100, 2, 0, STRATA_MS(400)), 0);
    CHECK(!strata_cgroups_lookup(cg, (strata_group_id){100}, NULL));

    /* silence for the timeout drops a record; a refreshed one stays */
    CHECK_EQ_INT(report(cg, 20, 200, 1, 3, STRATA_MS(3000)), 0);
    for (uint64_t t = STRATA_MS(3000); t <= STRATA_MS(5000); t += STRATA_MS(250))
        if (strata_cgroups_next_timeout(cg) <= t)
            strata_cgroups_handle_timeout(cg, t);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){200}, NULL));
    CHECK(!strata_cgroups_lookup(cg, (strata_group_id){300}, NULL));
    /* a stale record yields to any other leader */
    CHECK_EQ_INT(report(cg, 50, 200, 1, 1, STRATA_MS(9000)), 0);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){200}, &g) && g.leader.node.v == 50);

    /* bad input is counted */
    static const uint8_t junk[] = {0x53, 0x54, 0x01, 19, 0};
    CHECK_EQ_INT(strata_cgroups_handle_datagram(cg, CONTROL, junk, sizeof junk, 0),
                 STRATA_ERR_SHORT);
    static const uint8_t other[] = {0x53, 0x54, 0x01, 6};
    CHECK_EQ_INT(strata_cgroups_handle_datagram(cg, CONTROL, other, sizeof other, 0),
                 STRATA_ERR_UNEXPECTED);
    strata_cgroups_get_stats(cg, &st);
    CHECK_EQ_U64(st.drops.total, 4);
    strata_cgroups_del(cg);
}

static void test_bootstrap_choice(void)
{
    strata_cgroups *cg = strata_cgroups_new(NULL, NULL, 0);
    strata_msg_group_bootstrap_reply r;
    CHECK(ask(cg, 7, &r, 0) > 0);
    CHECK_EQ_INT(r.n_leaders, 0); /* nobody yet: found the first group */

    for (uint64_t i = 1; i <= 10; i++)
        report(cg, i, 100 + i, 1, (uint32_t)i, 0);
    int seen[11] = {0};
    for (int round = 0; round < 200; round++) {
        CHECK(ask(cg, 3, &r, 0) > 0); /* 3 leads group 103: never offered itself */
        CHECK_EQ_INT(r.n_leaders, STRATA_CGROUPS_DEFAULT_BOOTSTRAP_LEADERS);
        for (size_t i = 0; i < r.n_leaders; i++) {
            uint64_t n = r.leaders[i].leader.node.v;
            CHECK(n >= 1 && n <= 10 && n != 3);
            CHECK_EQ_U64(r.leaders[i].group.v, 100 + n);
            CHECK_EQ_INT(r.leaders[i].n_members, n);
            for (size_t j = 0; j < i; j++)
                CHECK(r.leaders[j].leader.node.v != n); /* distinct */
            if (n <= 10)
                seen[n]++;
        }
    }
    for (int n = 1; n <= 10; n++)
        CHECK(n == 3 ? seen[n] == 0 : seen[n] > 30); /* uniform: 600 / 9 = 67 each */
    strata_cgroups_del(cg);
}

/* strata_rng_pick: all but skip, in order, when n <= k; else k distinct
 * indices other than skip; the same seed, the same draws. */
static void test_rng_pick(void)
{
    size_t out[8];
    strata_rng r;
    strata_rng_seed(&r, 5);
    CHECK_EQ_U64(strata_rng_pick(&r, 3, 3, 1, out), 2);
    CHECK_EQ_U64(out[0], 0);
    CHECK_EQ_U64(out[1], 2);
    CHECK_EQ_U64(strata_rng_pick(&r, 0, 3, SIZE_MAX, out), 0);
    for (int round = 0; round < 500; round++) {
        size_t n = 4 + (size_t)strata_rng_below(&r, 20), skip = (size_t)strata_rng_below(&r, n + 2);
        CHECK_EQ_U64(strata_rng_pick(&r, n, 3, skip, out), 3);
        for (size_t i = 0; i < 3; i++) {
            CHECK(out[i] < n && out[i] != skip);
            for (size_t j = 0; j < i; j++)
                CHECK(out[i] != out[j]);
        }
    }
    strata_rng a, b;
    strata_rng_seed(&a, 99);
    strata_rng_seed(&b, 99);
    size_t o2[8];
    strata_rng_pick(&a, 50, 5, 7, out);
    strata_rng_pick(&b, 50, 5, 7, o2);
    CHECK(memcmp(out, o2, 5 * sizeof *out) == 0);
}

/* A control center given a seed draws exactly what strata_rng_pick draws
 * over its records in report order with that seed: what lets the
 * simulator hand out the same leaders (test_groups_real.sh). */
static void test_bootstrap_seeded(void)
{
    strata_cgroups_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1234;
    strata_cgroups *cg = strata_cgroups_new(&c, NULL, 0);
    for (uint64_t i = 1; i <= 10; i++)
        report(cg, i, 100 + i, 1, (uint32_t)i, 0);
    strata_rng r;
    strata_rng_seed(&r, 1234);
    for (int round = 0; round < 20; round++) {
        uint64_t asker = round % 2 ? 3 : 77; /* 3 leads the third record */
        size_t want[8];
        size_t n = strata_rng_pick(&r, 10, STRATA_CGROUPS_DEFAULT_BOOTSTRAP_LEADERS,
                                   asker == 3 ? 2 : SIZE_MAX, want);
        strata_msg_group_bootstrap_reply rep;
        CHECK(ask(cg, asker, &rep, 0) > 0);
        CHECK_EQ_U64(rep.n_leaders, n);
        for (size_t i = 0; i < n && i < rep.n_leaders; i++)
            CHECK_EQ_U64(rep.leaders[i].leader.node.v, want[i] + 1);
    }
    strata_cgroups_del(cg);
}

typedef struct boot_seen {
    int calls;
    size_t n;
    strata_peer_ref refs[STRATA_WIRE_MAX_BOOTSTRAP_LEADERS];
} boot_seen;

static void on_bootstrap(void *user, const strata_peer_ref *leaders, size_t n)
{
    boot_seen *b = user;
    b->calls++;
    b->n = n;
    memcpy(b->refs, leaders, n * sizeof *leaders);
}

/* Moves every datagram of gc's outbox into cg; returns how many. */
static int pump(strata_gclient *gc, strata_addr gc_addr, strata_cgroups *cg, uint64_t now,
                int *reports)
{
    int n = 0;
    strata_datagram d;
    while (strata_outbox_pop(strata_gclient_outbox(gc), &d)) {
        CHECK(d.to.ipv4 == CONTROL.ipv4 && d.to.port == CONTROL.port);
        if (strata_wire_peek_type(d.buf->data, d.buf->len) == STRATA_MSG_GROUP_REPORT && reports)
            (*reports)++;
        strata_cgroups_handle_datagram(cg, gc_addr, d.buf->data, d.buf->len, now);
        strata_buf_unref(d.buf);
        n++;
    }
    return n;
}

/* cgroups' answers back to gc. */
static void pump_back(strata_cgroups *cg, strata_gclient *gc, uint64_t now)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_cgroups_outbox(cg), &d)) {
        strata_gclient_handle_datagram(gc, CONTROL, d.buf->data, d.buf->len, now);
        strata_buf_unref(d.buf);
    }
}

static void test_client(void)
{
    strata_cgroups *cg = strata_cgroups_new(NULL, NULL, 0);
    boot_seen seen_a = {0}, seen_b = {0};
    strata_gclient_config ca = {.node = {0xa}, .control = CONTROL, .seed = 1};
    strata_gclient_callbacks cba = {on_bootstrap, &seen_a};
    strata_gclient *a = strata_gclient_new(&ca, &cba, NULL, 0);
    CHECK(strata_gclient_new(&(strata_gclient_config){.control = CONTROL}, NULL, NULL, 0) == NULL);

    /* The request is lost once: resent after retry_ms. */
    strata_datagram d;
    CHECK(strata_outbox_pop(strata_gclient_outbox(a), &d));
    strata_buf_unref(d.buf);
    CHECK_EQ_U64(strata_gclient_next_timeout(a), STRATA_MS(1000));
    strata_gclient_handle_timeout(a, STRATA_MS(1000));
    CHECK_EQ_INT(pump(a, addr_of(0xa), cg, STRATA_MS(1000), NULL), 1);
    /* A reply to someone else, or a forged id, is dropped. */
    strata_msg_group_bootstrap_reply forged = {.node = {0xa}, .request_id = 1};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_group_bootstrap_reply(b, sizeof b, &forged);
    CHECK_EQ_INT(strata_gclient_handle_datagram(a, CONTROL, b, (size_t)n, 0),
                 STRATA_ERR_UNEXPECTED);
    pump_back(cg, a, STRATA_MS(1000));
    CHECK_EQ_INT(seen_a.calls, 1);
    CHECK_EQ_INT(seen_a.n, 0);
    CHECK_EQ_U64(strata_gclient_next_timeout(a), STRATA_NEVER); /* answered: no more asks */

    /* a founds a group and leads it: reported at once, then every report_ms */
    int reports = 0;
    strata_gclient_update(a, 1, (strata_group_id){0x6a}, 1, 1, STRATA_MS(1100));
    strata_gclient_update(a, 1, (strata_group_id){0x6a}, 1, 1, STRATA_MS(1150)); /* no change */
    pump(a, addr_of(0xa), cg, STRATA_MS(1150), &reports);
    CHECK_EQ_INT(reports, 1);
    for (uint64_t t = STRATA_MS(1200); t <= STRATA_MS(5100); t += STRATA_MS(100)) {
        if (strata_gclient_next_timeout(a) <= t)
            strata_gclient_handle_timeout(a, t);
        pump(a, addr_of(0xa), cg, t, &reports);
    }
    CHECK_EQ_INT(reports, 5); /* 1100 (at once), 2100, 3100, 4100, 5100 */

    /* b asks and is handed a */
    strata_gclient_config cb_cfg = {.node = {0xb}, .control = CONTROL, .seed = 2};
    strata_gclient_callbacks cbb = {on_bootstrap, &seen_b};
    strata_gclient *bc = strata_gclient_new(&cb_cfg, &cbb, NULL, STRATA_MS(5200));
    pump(bc, addr_of(0xb), cg, STRATA_MS(5200), NULL);
    pump_back(cg, bc, STRATA_MS(5200));
    CHECK_EQ_INT(seen_b.calls, 1);
    CHECK_EQ_INT(seen_b.n, 1);
    CHECK_EQ_U64(seen_b.refs[0].node.v, 0xa);
    CHECK(seen_b.refs[0].addr.ipv4 == addr_of(0xa).ipv4);

    /* b asks again (its walk found no group): one request, never resent,
     * answered like the first through on_bootstrap. */
    strata_gclient_ask(bc, STRATA_MS(5250));
    CHECK_EQ_U64(strata_gclient_next_timeout(bc), STRATA_NEVER);
    CHECK_EQ_INT(pump(bc, addr_of(0xb), cg, STRATA_MS(5250), NULL), 1);
    pump_back(cg, bc, STRATA_MS(5250));
    CHECK_EQ_INT(seen_b.calls, 2);
    CHECK_EQ_INT(seen_b.n, 1);
    strata_gclient_ask(bc, STRATA_MS(5260)); /* lost: nothing more goes out */
    strata_datagram lost;
    CHECK(strata_outbox_pop(strata_gclient_outbox(bc), &lost));
    strata_buf_unref(lost.buf);
    strata_gclient_handle_timeout(bc, STRATA_MS(9000));
    CHECK_EQ_INT(pump(bc, addr_of(0xb), cg, STRATA_MS(9000), NULL), 0);
    strata_gclient_stats bst;
    strata_gclient_get_stats(bc, &bst);
    CHECK_EQ_U64(bst.asks, 2);
    CHECK_EQ_U64(bst.bootstrap_requests, 3);

    /* a stops leading: withdrawn at once, and nobody is handed it any more */
    strata_gclient_update(a, 0, (strata_group_id){0}, 0, 0, STRATA_MS(5300));
    pump(a, addr_of(0xa), cg, STRATA_MS(5300), NULL);
    CHECK(!strata_cgroups_lookup(cg, (strata_group_id){0x6a}, NULL));
    CHECK_EQ_U64(strata_gclient_next_timeout(a), STRATA_NEVER);
    strata_gclient_stats st;
    strata_gclient_get_stats(a, &st);
    CHECK_EQ_U64(st.withdrawals_sent, 1);
    CHECK_EQ_U64(st.bootstrap_requests, 2);
    CHECK_EQ_U64(st.drops.total, 1);

    strata_gclient_del(a);
    strata_gclient_del(bc);
    strata_cgroups_del(cg);
}

/* Leaders report their nearest groups (protocol.md 3.9.1); the control
 * center keeps the latest list per group and answers the distance between
 * two groups with the smaller of the two leaders' figures. */
static void test_near_groups(void)
{
    strata_cgroups *cg = strata_cgroups_new(NULL, NULL, 0);
    strata_gclient_config ca = {.node = {0xa}, .control = CONTROL, .seed = 1};
    strata_gclient *a = strata_gclient_new(&ca, NULL, NULL, 0);
    strata_datagram d;
    CHECK(strata_outbox_pop(strata_gclient_outbox(a), &d)); /* its bootstrap request */
    strata_buf_unref(d.buf);

    /* Nine near groups given, a zero id among them: the first eight
     * nonzero kept; the group it leads is never sent as its own near. */
    strata_group_near near[10];
    for (int i = 0; i < 10; i++)
        near[i] = (strata_group_near){{(uint64_t)(0x100 + i)}, 1000u * (uint32_t)(i + 1)};
    near[1].group.v = 0;
    near[2].group.v = 0x6a;
    strata_gclient_set_near(a, near, 10);
    strata_gclient_update(a, 1, (strata_group_id){0x6a}, 1, 3, STRATA_MS(100));
    CHECK_EQ_INT(pump(a, addr_of(0xa), cg, STRATA_MS(100), NULL), 1);
    strata_cgroups_group g;
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){0x6a}, &g));
    CHECK_EQ_INT(g.n_near, 7); /* 8 kept, the own group dropped when sent */
    CHECK_EQ_U64(g.near[0].group.v, 0x100);
    CHECK_EQ_U64(g.near[1].group.v, 0x103);
    uint32_t dist = 0;
    CHECK(strata_cgroups_distance(cg, (strata_group_id){0x6a}, (strata_group_id){0x103}, &dist));
    CHECK_EQ_U64(dist, 4000);
    /* Unknown group 0x103: a's figure either way round. */
    CHECK(strata_cgroups_distance(cg, (strata_group_id){0x103}, (strata_group_id){0x6a}, &dist));
    CHECK_EQ_U64(dist, 4000);
    CHECK(!strata_cgroups_distance(cg, (strata_group_id){0x6a}, (strata_group_id){0x101}, &dist));
    CHECK(!strata_cgroups_distance(cg, (strata_group_id){0x6a}, (strata_group_id){0x109}, &dist));

    /* 0x103's leader measures it nearer: the smaller figure wins. */
    strata_msg_group_report m = {.node = {0xb}, .group = {0x103}, .term = 1, .n_members = 2,
                                 .n_near = 1};
    m.near[0] = (strata_group_near){{0x6a}, 2500};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    CHECK_EQ_INT(feed(cg, addr_of(0xb), b, strata_wire_encode_group_report(b, sizeof b, &m),
                      STRATA_MS(150)),
                 0);
    CHECK(strata_cgroups_distance(cg, (strata_group_id){0x6a}, (strata_group_id){0x103}, &dist));
    CHECK_EQ_U64(dist, 2500);

    /* A new list replaces the old one with the next report. */
    strata_gclient_set_near(a, near, 1);
    strata_gclient_handle_timeout(a, STRATA_MS(1100));
    int reports = 0;
    pump(a, addr_of(0xa), cg, STRATA_MS(1100), &reports); /* and its unanswered request again */
    CHECK_EQ_INT(reports, 1);
    CHECK(strata_cgroups_lookup(cg, (strata_group_id){0x6a}, &g));
    CHECK_EQ_INT(g.n_near, 1);
    /* The withdrawal carries none. */
    strata_gclient_update(a, 0, (strata_group_id){0}, 0, 0, STRATA_MS(1200));
    CHECK_EQ_INT(pump(a, addr_of(0xa), cg, STRATA_MS(1200), NULL), 1);
    CHECK(!strata_cgroups_lookup(cg, (strata_group_id){0x6a}, NULL));
    CHECK(strata_cgroups_distance(cg, (strata_group_id){0x6a}, (strata_group_id){0x103}, &dist));
    CHECK_EQ_U64(dist, 2500); /* 0x103's own figure remains */
    strata_gclient_del(a);
    strata_cgroups_del(cg);
}

int main(void)
{
    test_reports();
    test_bootstrap_choice();
    test_rng_pick();
    test_bootstrap_seeded();
    test_client();
    test_near_groups();
    return test_summary("test_control_groups");
}
