/*
 * Regions by policy (core/control_policy.c): the control center, fed
 * encoded JOINs, HEARTBEATs and LEAVEs, and its group records fed
 * GROUP_REPORTs with the leaders' nearest groups. A group too small or too
 * weak is served by the nearest capable region, gets its own back once it
 * has been capable for a while, and no pair is left detached.
 */
#include "strata/control.h"
#include "strata/control_groups.h"
#include "testutil.h"

#include <stdio.h>

enum { MAXN = 96, RATE = 1000, HB_MS = 1000 };

typedef struct pnode {
    int alive;
    strata_node_id id;
    strata_addr addr;
    uint8_t role;
    uint32_t upload;
    uint64_t group;
    char label[32];
} pnode;

typedef struct world {
    strata_control *c;
    strata_cgroups *cg;
    uint64_t now;
    pnode n[MAXN];
    int count;
} world;

static const char *CHANNEL = "news";

static strata_channel_id chan(void)
{
    return strata_channel_id_from_name(CHANNEL, strlen(CHANNEL));
}

static void drain(world *w)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_control_outbox(w->c), &d))
        strata_buf_unref(d.buf);
}

static void send(world *w, strata_addr from, const uint8_t *buf, int len)
{
    CHECK(len > 0);
    strata_control_handle_datagram(w->c, from, buf, len > 0 ? (size_t)len : 0, w->now);
    drain(w);
}

static pnode *join(world *w, uint8_t role, uint32_t upload, uint64_t group)
{
    CHECK(w->count < MAXN);
    pnode *p = &w->n[w->count];
    memset(p, 0, sizeof *p);
    p->id.v = 0x1000u + (uint64_t)w->count;
    p->addr = (strata_addr){0x0a000001u + (uint32_t)w->count, 7000};
    p->role = role;
    p->upload = upload;
    p->group = group;
    if (group)
        snprintf(p->label, sizeof p->label, "group:%016llx", (unsigned long long)group);
    w->count++;
    strata_msg_join j;
    memset(&j, 0, sizeof j);
    j.node = p->id;
    j.role = role;
    j.upload_kbps = upload;
    j.rate_kbps = role == STRATA_ROLE_SOURCE ? RATE : 0;
    j.name = (const uint8_t *)CHANNEL;
    j.name_len = (uint8_t)strlen(CHANNEL);
    j.region = (const uint8_t *)p->label;
    j.region_len = (uint8_t)strlen(p->label);
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    send(w, p->addr, buf, strata_wire_encode_join(buf, sizeof buf, &j));
    p->alive = 1;
    return p;
}

static void leave(world *w, pnode *p)
{
    strata_msg_leave m = {p->id, chan(), {0}};
    uint8_t buf[64];
    send(w, p->addr, buf, strata_wire_encode_leave(buf, sizeof buf, &m));
    p->alive = 0;
}

/* The leader of group g reports it with its nearest groups. */
static void report(world *w, uint64_t g, const uint64_t *near, const uint32_t *ms, int n)
{
    strata_msg_group_report m = {
        .node = {0x9000u + g}, .group = {g}, .term = 1, .n_members = 1, .n_near = (uint8_t)n};
    for (int i = 0; i < n; i++)
        m.near[i] = (strata_group_near){{near[i]}, ms[i] * 1000u};
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_group_report(buf, sizeof buf, &m);
    CHECK(len > 0);
    CHECK_EQ_INT(strata_cgroups_handle_datagram(w->cg, (strata_addr){0x0b000000u + (uint32_t)g, 1},
                                                buf, (size_t)len, w->now),
                 0);
}

/* Every live node heartbeats, once a second, for secs seconds. */
static void run(world *w, int secs)
{
    for (int s = 0; s < secs; s++) {
        w->now += STRATA_MS(HB_MS);
        for (int i = 0; i < w->count; i++) {
            pnode *p = &w->n[i];
            if (!p->alive)
                continue;
            strata_msg_heartbeat hb;
            memset(&hb, 0, sizeof hb);
            hb.node = p->id;
            hb.channel = chan();
            hb.hb_seq = (uint32_t)(w->now / STRATA_MS(HB_MS));
            hb.local_ts_ns = w->now;
            hb.upload_kbps = p->upload;
            uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
            send(w, p->addr, buf, strata_wire_encode_heartbeat(buf, sizeof buf, &hb));
        }
        strata_control_handle_timeout(w->c, w->now);
        drain(w);
    }
}

static world *world_new(int policy)
{
    world *w = calloc(1, sizeof *w);
    w->now = STRATA_S(100);
    strata_control_config cfg = {.heartbeat_ms = HB_MS,
                                 .region_mode = STRATA_REGION_LOCALITY,
                                 .levels = STRATA_LEVELS_THREE,
                                 .region_policy = policy,
                                 .seed = 7};
    w->c = strata_control_new(&cfg, NULL, w->now);
    w->cg = strata_cgroups_new(NULL, NULL, w->now);
    CHECK(w->c && w->cg);
    strata_control_set_groups(w->c, w->cg);
    return w;
}

static void world_del(world *w)
{
    strata_control_del(w->c);
    strata_cgroups_del(w->cg);
    free(w);
}

static strata_control_entry entries[MAXN];

/* The region label the control center has node p in ("" when unknown). */
static const char *region_of(world *w, const pnode *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (entries[i].node.v == p->id.v)
            return entries[i].region;
    (void)w;
    return "";
}

/* Groups of the live peers whose region is another group's. */
static int folded_now(world *w, uint64_t g, uint64_t *host)
{
    size_t n = strata_control_topology(w->c, entries, MAXN);
    int any = 0;
    for (int i = 0; i < w->count; i++) {
        pnode *p = &w->n[i];
        if (!p->alive || p->group != g)
            continue;
        const char *r = region_of(w, p, n);
        unsigned long long h = 0;
        CHECK(sscanf(r, "group:%llx", &h) == 1);
        if (h != g) {
            any = 1;
            if (host)
                *host = h;
        }
    }
    return any;
}

/* Every live peer of group g is in region h's trees. */
static int all_in(world *w, uint64_t g, uint64_t h)
{
    size_t n = strata_control_topology(w->c, entries, MAXN);
    char want[32];
    snprintf(want, sizeof want, "group:%016llx", (unsigned long long)h);
    int ok = 1;
    for (int i = 0; i < w->count; i++)
        if (w->n[i].alive && w->n[i].group == g && strcmp(region_of(w, &w->n[i], n), want) != 0)
            ok = 0;
    return ok;
}

static size_t detached(world *w)
{
    strata_control_status st;
    strata_control_get_status(w->c, &st);
    return st.detached_pairs;
}

/* Distances (ms): A-B 20, A-C 30, B-C 10, D-B 50, D-C 25; E is reached
 * only through B (E-B 5). */
enum { GA = 0xa, GB = 0xb, GC = 0xc, GD = 0xd, GE = 0xe };

static void report_all(world *w)
{
    report(w, GA, (uint64_t[]){GB, GC}, (uint32_t[]){20, 30}, 2);
    report(w, GB, (uint64_t[]){GC, GA, GD, GE}, (uint32_t[]){10, 20, 50, 5}, 4);
    report(w, GC, (uint64_t[]){GB, GD, GA}, (uint32_t[]){10, 25, 30}, 3);
    report(w, GD, (uint64_t[]){GC, GB}, (uint32_t[]){25, 50}, 2);
    report(w, GE, (uint64_t[]){GB}, (uint32_t[]){5}, 1);
}

static void test_fold_and_unfold(void)
{
    world *w = world_new(1);
    join(w, STRATA_ROLE_SOURCE, 20000, 0);
    for (int i = 0; i < 8; i++) {
        join(w, STRATA_ROLE_PEER, 3000, GA);
        join(w, STRATA_ROLE_PEER, 3000, GD);
    }
    report_all(w);
    run(w, 11); /* an evaluation counts the groups */

    /* B, too small (2 < k + n = 6), and C, too weak (nobody with the rate),
     * join: each is served by the nearest capable region at once. E, small
     * too, knows no capable group but through B: A at 5 + 20 ms. */
    pnode *b[8];
    for (int i = 0; i < 2; i++)
        b[i] = join(w, STRATA_ROLE_PEER, 3000, GB);
    for (int i = 0; i < 7; i++)
        join(w, STRATA_ROLE_PEER, 600, GC);
    join(w, STRATA_ROLE_PEER, 3000, GE);
    CHECK(all_in(w, GB, GA));
    CHECK(all_in(w, GC, GD)); /* 25 ms, nearer than A's 30 */
    CHECK(all_in(w, GE, GA));
    run(w, 12);
    strata_control_status st;
    strata_control_get_status(w->c, &st);
    CHECK_EQ_U64(st.folded_groups, 3);
    CHECK_EQ_U64(st.policy_folds, 3);
    CHECK_EQ_U64(detached(w), 0);
    CHECK(all_in(w, GB, GA) && all_in(w, GC, GD) && all_in(w, GE, GA));

    /* B grows capable with a margin (8 > 6 members, upload 3 x the rate):
     * its own region back, but only after six evaluations of it. */
    for (int i = 2; i < 8; i++)
        b[i] = join(w, STRATA_ROLE_PEER, 3000, GB);
    CHECK(all_in(w, GB, GA)); /* newcomers follow the group's region */
    run(w, 45);
    CHECK(all_in(w, GB, GA)); /* not yet: hysteresis */
    run(w, 30);
    CHECK(all_in(w, GB, GB));
    CHECK(all_in(w, GC, GD));
    /* E followed nothing: its host is A, which still can carry it. */
    CHECK(all_in(w, GE, GA));
    strata_control_get_status(w->c, &st);
    CHECK_EQ_U64(st.policy_unfolds, 1);
    CHECK_EQ_U64(st.folded_groups, 2);
    CHECK(st.policy_moves >= 8);
    run(w, 3);
    CHECK_EQ_U64(detached(w), 0);

    /* B shrinks to three: weak again, folded again after two evaluations
     * of weakness (a single weak evaluation moves nobody). */
    for (int i = 0; i < 5; i++)
        leave(w, b[i]);
    run(w, 9);
    CHECK(all_in(w, GB, GB));
    run(w, 25);
    CHECK(all_in(w, GB, GA));
    run(w, 3);
    CHECK_EQ_U64(detached(w), 0);
    uint64_t h = 0;
    CHECK(folded_now(w, GC, &h) && h == GD);
    world_del(w);
}

/* Without the policy every group is a region, as before. */
static void test_policy_off(void)
{
    world *w = world_new(0);
    join(w, STRATA_ROLE_SOURCE, 20000, 0);
    for (int i = 0; i < 8; i++)
        join(w, STRATA_ROLE_PEER, 3000, GA);
    report_all(w);
    run(w, 11);
    for (int i = 0; i < 2; i++)
        join(w, STRATA_ROLE_PEER, 3000, GB);
    run(w, 40);
    CHECK(all_in(w, GB, GB));
    strata_control_status st;
    strata_control_get_status(w->c, &st);
    CHECK_EQ_U64(st.folded_groups, 0);
    CHECK_EQ_U64(st.policy_moves, 0);
    world_del(w);
}

/* Random joins and leaves over five groups: after every evaluation each
 * live peer is in the region its group's host names (a capable region, or
 * its own when none can take it), no region serves a group that is
 * itself folded, and no pair is detached. */
static void test_random_churn(void)
{
    uint64_t folds = 0, unfolds = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        world *w = world_new(1);
        strata_rng rng;
        strata_rng_seed(&rng, seed);
        join(w, STRATA_ROLE_SOURCE, 40000, 0);
        report_all(w);
        const uint64_t groups[] = {GA, GB, GC, GD, GE};
        for (int step = 0; step < 24; step++) {
            uint64_t r = strata_rng_next(&rng);
            int live = 0;
            for (int i = 1; i < w->count; i++)
                live += w->n[i].alive;
            if (w->count < MAXN && (live < 10 || r % 3 != 0)) {
                int joins = 1 + (int)(r >> 8) % 4;
                uint64_t g = groups[(r >> 16) % 5];
                for (int k = 0; k < joins && w->count < MAXN; k++)
                    join(w, STRATA_ROLE_PEER, (r >> 24) % 4 == 0 ? 700 : 2500, g);
            } else {
                int victim = 1 + (int)((r >> 8) % (uint64_t)(w->count - 1));
                if (w->n[victim].alive)
                    leave(w, &w->n[victim]);
            }
            run(w, 1 + (int)((r >> 32) % 12));
            /* Settle one evaluation, then check. */
            run(w, 11);
            size_t n = strata_control_topology(w->c, entries, MAXN);
            for (int i = 1; i < w->count; i++) {
                pnode *p = &w->n[i];
                if (!p->alive)
                    continue;
                unsigned long long h = 0;
                CHECK(sscanf(region_of(w, p, n), "group:%llx", &h) == 1);
                if (h != p->group) {
                    /* Its host is a region of its own group's members. */
                    int host_has_own = 0;
                    for (int j = 1; j < w->count; j++)
                        if (w->n[j].alive && w->n[j].group == h &&
                            strcmp(region_of(w, &w->n[j], n), region_of(w, p, n)) == 0)
                            host_has_own = 1;
                    CHECK(host_has_own);
                }
            }
            if (detached(w) != 0)
                fprintf(stderr, "seed %llu step %d: %zu detached\n", (unsigned long long)seed,
                        step, detached(w));
            CHECK_EQ_U64(detached(w), 0);
        }
        strata_control_status st;
        strata_control_get_status(w->c, &st);
        folds += st.policy_folds;
        unfolds += st.policy_unfolds;
        world_del(w);
    }
    /* The churn made the policy work both ways. */
    CHECK(folds >= 6);
    CHECK(unfolds >= 1);
    fprintf(stderr, "random churn: %llu folds, %llu unfolds\n", (unsigned long long)folds,
            (unsigned long long)unfolds);
}

int main(void)
{
    test_fold_and_unfold();
    test_policy_off();
    test_random_churn();
    return test_summary("test_control_policy");
}
