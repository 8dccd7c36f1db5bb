/*
 * Unit tests of the top-level mesh (core/mesh.c) and its connectivity
 * checker (core/mesh_flow.c): small exact cases. The random sequences are
 * in tests/prop/prop_mesh.c.
 *
 * Members are named by one letter; "a:4/0" is member a with room for 4
 * links (upload just enough at the default 85 % share) in region 0.
 */
#include "strata/mesh.h"

#include "failalloc.h"
#include "mesh_flow.h"
#include "testutil.h"

enum { RATE = 1000 };

/* The upload that gives exactly `links` links at rate RATE and 85 %. */
static uint32_t up_for(unsigned links)
{
    return (uint32_t)(((uint64_t)links * RATE * 100 + 84) / 85);
}

static strata_node_id nid(char name)
{
    return (strata_node_id){(uint64_t)(unsigned char)name};
}

static strata_mesh *mesh_new(unsigned c)
{
    strata_mesh_config cfg = {.c = (uint8_t)c, .rate_kbps = RATE, .seed = 42};
    return strata_mesh_new(NULL, &cfg);
}

/* Adds members from a spec like "a:4/0 b:4/1". */
static void add_all(strata_mesh *m, const char *spec)
{
    while (*spec) {
        char name;
        unsigned links, region;
        int used;
        if (sscanf(spec, " %c:%u/%u%n", &name, &links, &region, &used) != 3)
            break;
        CHECK_EQ_INT(strata_mesh_add(m, nid(name), up_for(links), region), 0);
        spec += used;
    }
}

static size_t degree(const strata_mesh *m, char name)
{
    strata_node_id out[STRATA_MESH_MAX_DEGREE + 1];
    size_t n = strata_mesh_neighbours(m, nid(name), out, STRATA_MESH_MAX_DEGREE + 1);
    size_t member = 0;
    for (size_t i = 0; i < n; i++)
        member += strata_mesh_role(m, out[i]) != STRATA_MESH_SOURCE;
    return member;
}

static int is_linked(const strata_mesh *m, char a, char b)
{
    strata_node_id out[STRATA_MESH_MAX_DEGREE + 1];
    size_t n = strata_mesh_neighbours(m, nid(a), out, STRATA_MESH_MAX_DEGREE + 1);
    for (size_t i = 0; i < n; i++)
        if (out[i].v == nid(b).v)
            return 1;
    return 0;
}

static void check_ok(const strata_mesh *m)
{
    char why[160];
    int err = strata_mesh_check(m, why, sizeof why);
    if (err)
        fprintf(stderr, "mesh check: %s\n", why);
    CHECK_EQ_INT(err, 0);
}

static size_t drain_dirty(strata_mesh *m, strata_node_id *out, size_t max)
{
    return strata_mesh_take_dirty(m, out, max);
}

/* --- cases ------------------------------------------------------------------- */

static void test_bad_args(void)
{
    strata_mesh_config cfg = {.c = 3, .rate_kbps = RATE};
    CHECK(strata_mesh_new(NULL, NULL) == NULL);
    cfg.rate_kbps = 0;
    CHECK(strata_mesh_new(NULL, &cfg) == NULL);
    cfg.rate_kbps = RATE;
    cfg.c = STRATA_MESH_MAX_C + 1;
    CHECK(strata_mesh_new(NULL, &cfg) == NULL);
    cfg.c = 5;
    cfg.max_degree = 4; /* below c */
    CHECK(strata_mesh_new(NULL, &cfg) == NULL);
    cfg.max_degree = STRATA_MESH_MAX_DEGREE + 1;
    CHECK(strata_mesh_new(NULL, &cfg) == NULL);
    cfg.max_degree = 0;
    cfg.upload_share_percent = 101;
    CHECK(strata_mesh_new(NULL, &cfg) == NULL);

    strata_mesh *m = mesh_new(0); /* c 0: the default, 3 */
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_EQ_INT(strata_mesh_add(m, (strata_node_id){0}, up_for(4), 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mesh_add(m, (strata_node_id){UINT64_MAX}, up_for(4), 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mesh_add(m, nid('a'), up_for(4), 0), 0);
    CHECK_EQ_INT(strata_mesh_add(m, nid('a'), up_for(4), 0), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_mesh_set_source(m, nid('a'), 0, 0), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_mesh_set_source(m, (strata_node_id){0}, 0, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mesh_set_source(m, nid('S'), 0, 0), 0);
    CHECK_EQ_INT(strata_mesh_add(m, nid('S'), up_for(4), 0), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_mesh_remove(m, nid('z')), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mesh_set_upload(m, nid('z'), 1), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mesh_set_rate(m, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mesh_role(m, nid('z')), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mesh_role(m, nid('S')), STRATA_MESH_SOURCE);
    CHECK_EQ_U64(strata_mesh_neighbours(m, nid('z'), NULL, 0), 0);
    check_ok(m);
    strata_mesh_del(m);
    strata_mesh_del(NULL);
}

/* Caps follow upload * 85 % / rate; below one link a member is unlinked,
 * below c links weak, and both are reported. */
static void test_caps_and_roles(void)
{
    strata_mesh *m = mesh_new(3);
    if (!m)
        return;
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 999), 0);  /* below the rate */
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 1176), 0); /* 999.6 kbit/s of it usable */
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 1177), 1); /* a link carries more than the rate */
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 3529), 2);
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 3530), 3);
    CHECK_EQ_INT(strata_mesh_degree_cap(m, 1000000), STRATA_MESH_DEFAULT_MAX_DEGREE);
    add_all(m, "a:5/0 b:5/0 c:5/1 d:5/1 e:5/2");
    CHECK_EQ_INT(strata_mesh_add(m, nid('u'), 900, 0), 0);  /* upload below the rate */
    CHECK_EQ_INT(strata_mesh_add(m, nid('v'), 1100, 0), 0); /* rate < upload < rate / 85 % */
    add_all(m, "w:2/1");
    CHECK_EQ_INT(strata_mesh_role(m, nid('a')), STRATA_MESH_CORE);
    CHECK_EQ_INT(strata_mesh_role(m, nid('u')), STRATA_MESH_UNLINKED);
    CHECK_EQ_INT(strata_mesh_role(m, nid('v')), STRATA_MESH_UNLINKED);
    CHECK_EQ_INT(strata_mesh_role(m, nid('w')), STRATA_MESH_WEAK);
    CHECK_EQ_U64(degree(m, 'u'), 0);
    CHECK_EQ_U64(degree(m, 'v'), 0);
    CHECK_EQ_U64(degree(m, 'w'), 2);
    strata_mesh_stats st;
    strata_mesh_get_stats(m, &st);
    CHECK_EQ_U64(st.members, 8);
    CHECK_EQ_U64(st.core, 5);
    CHECK_EQ_U64(st.weak, 1);
    CHECK_EQ_U64(st.unlinked, 2);
    CHECK_EQ_INT(st.met, 1); /* the target is about the core */
    CHECK_EQ_INT(st.target, 3);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    /* Upload changes move members between roles. */
    CHECK_EQ_INT(strata_mesh_set_upload(m, nid('u'), up_for(6)), 0);
    CHECK_EQ_INT(strata_mesh_role(m, nid('u')), STRATA_MESH_CORE);
    CHECK(degree(m, 'u') >= 3);
    CHECK_EQ_INT(strata_mesh_set_upload(m, nid('a'), 500), 0);
    CHECK_EQ_INT(strata_mesh_role(m, nid('a')), STRATA_MESH_UNLINKED);
    CHECK_EQ_U64(degree(m, 'a'), 0);
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    check_ok(m);
    strata_mesh_del(m);
}

/* c = 3 with 3, 4 and 5 core members: the complete graphs K3 and K4, then
 * a 3-connected mesh; and back down. */
static void test_small_c3(void)
{
    strata_mesh *m = mesh_new(3);
    if (!m)
        return;
    add_all(m, "a:6/0 b:6/0 c:6/0");
    CHECK(is_linked(m, 'a', 'b') && is_linked(m, 'b', 'c') && is_linked(m, 'a', 'c'));
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 2); /* K3: as much as 3 members allow */
    add_all(m, "d:6/0");
    for (char x = 'a'; x <= 'd'; x++)
        CHECK_EQ_U64(degree(m, x), 3);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    add_all(m, "e:6/0");
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    for (char x = 'a'; x <= 'e'; x++)
        CHECK(degree(m, x) >= 3);
    /* A sixth: one split and one link from the member with a fourth link,
     * so every member has three again (the degree sum grows by 2c). */
    add_all(m, "f:6/0");
    for (char x = 'a'; x <= 'f'; x++)
        CHECK_EQ_U64(degree(m, x), 3);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    CHECK_EQ_INT(strata_mesh_remove(m, nid('f')), 0);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    CHECK_EQ_INT(strata_mesh_remove(m, nid('e')), 0);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    for (char x = 'a'; x <= 'd'; x++)
        CHECK_EQ_U64(degree(m, x), 3);
    CHECK_EQ_INT(strata_mesh_remove(m, nid('d')), 0);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 2);
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    check_ok(m);
    strata_mesh_del(m);
}

/* Every c from 1 to 8: 3c + 4 members with room for c + 2 links each; the
 * core is c-connected, every member has at least c links and the mean
 * stays under c + 1; after c - 1 departures it still is. */
static void test_c_range(void)
{
    for (unsigned c = 1; c <= STRATA_MESH_MAX_C; c++) {
        strata_mesh *m = mesh_new(c);
        if (!m)
            return;
        unsigned n = 3 * c + 4;
        for (unsigned i = 0; i < n; i++)
            CHECK_EQ_INT(strata_mesh_add(m, (strata_node_id){100 + i}, up_for(c + 2), i % 3), 0);
        strata_mesh_stats st;
        strata_mesh_get_stats(m, &st);
        CHECK_EQ_INT(st.met, 1);
        CHECK_EQ_INT(strata_mesh_connectivity(m, STRATA_MESH_MAX_C + 1) >= c, 1);
        CHECK(st.mean_degree < c + 1.0);
        for (unsigned i = 0; i < n; i++) {
            strata_node_id out[STRATA_MESH_MAX_DEGREE];
            CHECK(strata_mesh_neighbours(m, (strata_node_id){100 + i}, out,
                                         STRATA_MESH_MAX_DEGREE) >= c);
        }
        for (unsigned i = 0; i + 1 < c; i++)
            CHECK_EQ_INT(strata_mesh_remove(m, (strata_node_id){100 + 2 * i}), 0);
        CHECK_EQ_INT(strata_mesh_target_met(m), 1);
        CHECK_EQ_INT(strata_mesh_connectivity(m, STRATA_MESH_MAX_C + 1) >= c, 1);
        check_ok(m);
        if (test_failures)
            fprintf(stderr, "c=%u: mean degree %.2f\n", c, st.mean_degree);
        strata_mesh_del(m);
    }
}

/* Two far clusters (regions 0 and 1) of six members: links stay mostly
 * inside each cluster, yet every member keeps one to the other region. */
static uint32_t two_clusters(void *user, strata_node_id a, strata_node_id b)
{
    (void)user;
    int ra = (int)(a.v % 2), rb = (int)(b.v % 2);
    if (a.v == 'S' || b.v == 'S')
        return 5;
    return ra == rb ? 10 + (uint32_t)((a.v + b.v) % 7) : 150;
}

static void test_near_and_across(void)
{
    strata_mesh_config cfg = {.c = 3, .rate_kbps = RATE, .seed = 7, .rtt_ms = two_clusters};
    strata_mesh *m = strata_mesh_new(NULL, &cfg);
    if (!m)
        return;
    for (uint64_t i = 0; i < 12; i++)
        CHECK_EQ_INT(strata_mesh_add(m, (strata_node_id){1000 + i}, up_for(5), (uint32_t)(i % 2)),
                     0);
    size_t pos = 0, across = 0, links = 0;
    strata_node_id a, b;
    while (strata_mesh_link_next(m, &pos, &a, &b)) {
        links++;
        across += a.v % 2 != b.v % 2;
    }
    CHECK(links >= 18);
    /* Mostly near: the first members form a complete graph across both
     * regions, and splits keep those links, so not much fewer than half. */
    CHECK(across * 2 < links);
    for (uint64_t i = 0; i < 12; i++) {
        strata_node_id out[STRATA_MESH_MAX_DEGREE];
        size_t n =
            strata_mesh_neighbours(m, (strata_node_id){1000 + i}, out, STRATA_MESH_MAX_DEGREE);
        size_t cross = 0;
        for (size_t j = 0; j < n && j < STRATA_MESH_MAX_DEGREE; j++)
            cross += out[j].v % 2 != i % 2;
        CHECK(cross >= 1);
    }
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    strata_mesh_del(m);
}

/* The source takes c members in distinct regions, nearest first, and a
 * new one when one of them leaves; members are told of it. */
static void test_source(void)
{
    strata_mesh *m = mesh_new(3);
    if (!m)
        return;
    add_all(m, "a:5/0 b:5/0 c:5/1 d:5/1 e:5/2 f:5/2 g:5/3");
    CHECK_EQ_INT(strata_mesh_set_source(m, nid('S'), up_for(3), 9), 0);
    strata_node_id out[8];
    size_t n = strata_mesh_neighbours(m, nid('S'), out, 8);
    CHECK_EQ_U64(n, 3);
    unsigned regions = 0;
    for (size_t i = 0; i < n && i < 8; i++) {
        char x = (char)out[i].v;
        unsigned r = x <= 'b' ? 0 : x <= 'd' ? 1 : x <= 'f' ? 2 : 3;
        regions |= 1u << r;
        CHECK(is_linked(m, x, 'S'));
    }
    CHECK_EQ_INT(__builtin_popcount(regions), 3);
    strata_mesh_stats st;
    strata_mesh_get_stats(m, &st);
    CHECK_EQ_U64(st.source_links, 3);
    CHECK(st.max_hops >= 1 && st.max_hops <= 3);
    CHECK_EQ_U64(st.unreached, 0);
    /* One of its members leaves: the source has three again. */
    CHECK_EQ_INT(strata_mesh_remove(m, out[0]), 0);
    CHECK_EQ_U64(strata_mesh_neighbours(m, nid('S'), out, 8), 3);
    /* A smaller upload: fewer links; upload 0 means c. */
    CHECK_EQ_INT(strata_mesh_set_upload(m, nid('S'), up_for(2)), 0);
    CHECK_EQ_U64(strata_mesh_neighbours(m, nid('S'), out, 8), 2);
    CHECK_EQ_INT(strata_mesh_set_upload(m, nid('S'), 0), 0);
    CHECK_EQ_U64(strata_mesh_neighbours(m, nid('S'), out, 8), 3);
    check_ok(m);
    CHECK_EQ_INT(strata_mesh_remove(m, nid('S')), 0);
    CHECK_EQ_INT(strata_mesh_role(m, nid('S')), STRATA_ERR_NOTFOUND);
    strata_mesh_get_stats(m, &st);
    CHECK_EQ_U64(st.source_links, 0);
    CHECK_EQ_INT(st.max_hops, -1);
    check_ok(m);
    strata_mesh_del(m);
}

/* The change log and the dirty set name exactly what changed. */
static void test_changes(void)
{
    strata_mesh *m = mesh_new(3);
    if (!m)
        return;
    add_all(m, "a:5/0 b:5/0 c:5/0 d:5/0");
    strata_mesh_change ch[64];
    strata_node_id dirty[16];
    CHECK_EQ_INT(strata_mesh_take_changes(m, ch, 64), 6); /* K4 */
    CHECK_EQ_U64(drain_dirty(m, dirty, 16), 4);
    CHECK_EQ_INT(strata_mesh_take_changes(m, ch, 64), 0);
    add_all(m, "e:5/0");
    int n = strata_mesh_take_changes(m, ch, 64);
    /* One split (a link removed, two added) and one more link for e. */
    int added = 0, removed = 0;
    for (int i = 0; i < n; i++) {
        added += ch[i].added;
        removed += !ch[i].added;
    }
    CHECK_EQ_INT(removed, 1);
    CHECK_EQ_INT(added, 3);
    size_t nd = drain_dirty(m, dirty, 16);
    CHECK_EQ_U64(nd, 4); /* e, the split link's ends, the third neighbour */
    /* A departure: its links go, its neighbours gain links, and only nodes
     * whose links changed are dirty. */
    CHECK_EQ_INT(strata_mesh_remove(m, nid('e')), 0);
    n = strata_mesh_take_changes(m, ch, 64);
    removed = 0;
    for (int i = 0; i < n; i++)
        removed += !ch[i].added && (ch[i].a.v == nid('e').v || ch[i].b.v == nid('e').v);
    CHECK_EQ_INT(removed, 3);
    nd = drain_dirty(m, dirty, 16);
    for (size_t i = 0; i < nd; i++)
        CHECK(dirty[i].v != nid('e').v);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    /* Taking in small steps returns the rest later. */
    add_all(m, "e:5/0");
    CHECK_EQ_INT(strata_mesh_take_changes(m, ch, 2), 2);
    CHECK(strata_mesh_take_changes(m, ch, 64) >= 2);
    strata_mesh_del(m);
}

/* A rate change recomputes every cap: members fall to weak or unlinked
 * and come back. */
static void test_set_rate(void)
{
    strata_mesh *m = mesh_new(3);
    if (!m)
        return;
    add_all(m, "a:8/0 b:8/1 c:8/2 d:8/0 e:4/1 f:4/2 g:4/0 h:3/1 i:1/0");
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_set_rate(m, 2 * RATE), 0); /* caps halve */
    check_ok(m);
    CHECK_EQ_INT(strata_mesh_role(m, nid('a')), STRATA_MESH_CORE);
    CHECK_EQ_INT(strata_mesh_role(m, nid('e')), STRATA_MESH_WEAK);
    CHECK_EQ_INT(strata_mesh_role(m, nid('h')), STRATA_MESH_WEAK);
    CHECK_EQ_INT(strata_mesh_role(m, nid('i')), STRATA_MESH_UNLINKED);
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3); /* a..d: K4 */
    CHECK_EQ_INT(strata_mesh_set_rate(m, RATE), 0);
    check_ok(m);
    CHECK_EQ_INT(strata_mesh_role(m, nid('h')), STRATA_MESH_CORE);
    CHECK_EQ_INT(strata_mesh_role(m, nid('i')), STRATA_MESH_WEAK);
    CHECK_EQ_INT(strata_mesh_target_met(m), 1);
    CHECK_EQ_INT(strata_mesh_connectivity(m, 8), 3);
    strata_mesh_del(m);
}

/* The same seed and calls give the same links. */
static void test_determinism(void)
{
    uint64_t sums[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        strata_mesh *m = mesh_new(3);
        if (!m)
            return;
        for (uint64_t i = 1; i <= 60; i++)
            strata_mesh_add(m, (strata_node_id){i * 7919}, up_for(3 + (unsigned)(i % 4)),
                            (uint32_t)(i % 5));
        for (uint64_t i = 1; i <= 60; i += 4)
            strata_mesh_remove(m, (strata_node_id){i * 7919});
        size_t pos = 0;
        strata_node_id a, b;
        while (strata_mesh_link_next(m, &pos, &a, &b))
            sums[run] = sums[run] * 31 + a.v * 1000003 + b.v;
        strata_mesh_del(m);
    }
    CHECK_EQ_U64(sums[0], sums[1]);
}

/* The checker alone: a 6-cycle is 2-connected, not 3; two triangles
 * joined at one vertex are 1-connected, and the cut found is that vertex. */
static void test_flow(void)
{
    enum { N = 6, S = 4 };
    uint32_t adj[N * S];
    uint8_t deg[N], in[N] = {1, 1, 1, 1, 1, 1};
    for (uint32_t v = 0; v < N; v++) {
        adj[v * S] = (v + 1) % N;
        adj[v * S + 1] = (v + N - 1) % N;
        deg[v] = 2;
    }
    strata_mesh_graph g = {N, S, adj, deg, in};
    strata_mesh_flow f;
    strata_mesh_flow_init(&f, NULL);
    CHECK_EQ_INT(strata_mesh_flow_reserve(&f, N), 0);
    strata_mesh_flow_begin(&f, &g);
    uint32_t all[N] = {0, 1, 2, 3, 4, 5};
    CHECK_EQ_INT(strata_mesh_flow_check(&f, all, N, 2), 1);
    CHECK_EQ_INT(strata_mesh_flow_check(&f, all, N, 3), 0);
    CHECK_EQ_INT(strata_mesh_flow_pair(&f, 0, 3, 5), 2);
    CHECK_EQ_INT(strata_mesh_flow_pair(&f, 0, 1, 5), 2); /* the link itself, and around */
    /* Triangles 0-1-2 and 2-3-4 sharing 2; 5 outside the graph. */
    static const uint32_t tri[N][S] = {{1, 2}, {0, 2}, {0, 1, 3, 4}, {2, 4}, {2, 3}, {0}};
    static const uint8_t tdeg[N] = {2, 2, 4, 2, 2, 1};
    for (uint32_t v = 0; v < N; v++) {
        memcpy(&adj[v * S], tri[v], sizeof tri[v]);
        deg[v] = tdeg[v];
    }
    in[5] = 0;
    strata_mesh_flow_begin(&f, &g);
    CHECK_EQ_INT(strata_mesh_flow_check(&f, all, 5, 1), 1);
    CHECK_EQ_INT(strata_mesh_flow_pair(&f, 0, 4, 3), 1);
    CHECK_EQ_INT(strata_mesh_flow_side(&f, 2), STRATA_MESH_FLOW_CUT);
    CHECK_EQ_INT(strata_mesh_flow_side(&f, 1), STRATA_MESH_FLOW_NEAR);
    CHECK_EQ_INT(strata_mesh_flow_side(&f, 3), STRATA_MESH_FLOW_FAR);
    CHECK_EQ_INT(strata_mesh_flow_open_sink(&f, 4), 1);
    CHECK_EQ_INT(strata_mesh_flow_check(&f, all, 5, 2), 0);
    strata_mesh_flow_free(&f);
}

/* --- allocation failures ------------------------------------------------------ */

/* A scenario through every allocating path; returns the number of calls
 * that failed with NOMEM, or -1 on any other problem. */
static int alloc_scenario(const strata_alloc *a)
{
    strata_mesh_config cfg = {.c = 3, .rate_kbps = RATE, .seed = 1};
    strata_mesh *m = strata_mesh_new(a, &cfg);
    int nomem = 0, bad = 0;
    if (!m)
        return 1;
    strata_mesh_set_source(m, nid('S'), 0, 0);
    for (uint64_t i = 1; i <= 40 && !bad; i++) {
        size_t before = strata_mesh_count(m);
        int err = strata_mesh_add(m, (strata_node_id){i}, up_for(1 + (unsigned)(i % 6)),
                                  (uint32_t)(i % 3));
        if (err == STRATA_ERR_NOMEM) {
            nomem++;
            bad |= strata_mesh_count(m) != before;
        } else {
            bad |= err != 0;
        }
        bad |= strata_mesh_check(m, NULL, 0) != 0;
    }
    for (uint64_t i = 1; i <= 40; i += 3) {
        strata_mesh_remove(m, (strata_node_id){i});
        strata_mesh_set_upload(m, (strata_node_id){i + 1}, up_for(5));
        bad |= strata_mesh_check(m, NULL, 0) != 0;
    }
    strata_mesh_set_rate(m, RATE / 2);
    bad |= strata_mesh_check(m, NULL, 0) != 0;
    strata_mesh_change ch[8];
    int r;
    while ((r = strata_mesh_take_changes(m, ch, 8)) > 0)
        ;
    nomem += r == STRATA_ERR_NOMEM;
    strata_mesh_stats st;
    strata_mesh_get_stats(m, &st);
    bad |= st.core && !st.met;
    strata_mesh_del(m);
    return bad ? -1 : nomem;
}

static void test_alloc_failures(void)
{
    long total;
    CHECK_EQ_INT(fa_each(alloc_scenario, &total), 0);
    CHECK(total > 10);
}

int main(void)
{
    test_bad_args();
    test_caps_and_roles();
    test_small_c3();
    test_c_range();
    test_near_and_across();
    test_source();
    test_changes();
    test_set_rate();
    test_determinism();
    test_flow();
    test_alloc_failures();
    return test_summary("test_mesh");
}
