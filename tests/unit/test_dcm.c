/*
 * One DCM: membership, source handling, address changes, reparenting and,
 * above all, the dirty set: after any sequence of changes, a node that was
 * not reported dirty must still hold correct instructions. The property
 * loop checks exactly that against a model of what was delivered.
 */
#include "dcm.h"
#include "testutil.h"

#include <stdio.h>
#include <string.h>

enum { K = 4, RATE = 1000, MAXN = 80 };

static strata_addr addr_of(uint64_t id, uint16_t gen)
{
    return (strata_addr){0x0a000000u + (uint32_t)id, (uint16_t)(4000 + gen)};
}

static strata_dcm *make_dcm(const strata_alloc *a, uint32_t src_upload)
{
    strata_dcm_config cfg = {
        .id = {7},
        .channel = {0xc4a11e1},
        .k = K,
        .rate_kbps = RATE,
        .source_upload_kbps = src_upload,
        .region = "eu",
        .region_len = 2,
        .seed = 1,
    };
    return strata_dcm_new(a, &cfg);
}

static int has_id(const strata_node_id *ids, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i].v == v)
            return 1;
    return 0;
}

static size_t drain(strata_dcm *d, strata_node_id *out, size_t max)
{
    size_t n = 0, got;
    do {
        got = strata_dcm_take_dirty(d, out + n, max - n < 3 ? max - n : 3); /* small chunks */
        n += got;
    } while (got > 0 && n < max);
    return n;
}

static void test_config(void)
{
    strata_dcm_config ok = {.id = {1}, .channel = {1}, .k = 4, .rate_kbps = 1000};
    strata_dcm_config bad;
    strata_dcm *d = strata_dcm_new(NULL, &ok);
    CHECK(d != NULL);
    size_t rlen = 99;
    strata_dcm_region(d, &rlen);
    CHECK_EQ_INT(rlen, 0);
    CHECK_EQ_U64(strata_dcm_id_of(d).v, 1);
    CHECK_EQ_INT(strata_dcm_k(d), 4);
    strata_dcm_del(d);
    bad = ok;
    bad.id.v = 0;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = ok;
    bad.channel.v = 0;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = ok;
    bad.k = 0;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = ok;
    bad.k = STRATA_WIRE_MAX_SUBSTREAMS + 1;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = ok;
    bad.rate_kbps = 0;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = ok;
    bad.region_len = STRATA_WIRE_MAX_REGION_BYTES + 1;
    bad.region = "x";
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    CHECK(strata_dcm_new(NULL, NULL) == NULL);
}

static void test_basic_flow(void)
{
    strata_dcm *d = make_dcm(NULL, 0);
    strata_node_id dirty[64];
    strata_msg_instruction in[K];

    /* Before any source: members attach under the source, whose ref is zero. */
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){1}, addr_of(1, 0), 2000), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){2}, addr_of(2, 0), 500), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){2}, addr_of(2, 0), 500), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){0}, addr_of(0, 0), 500), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_dcm_add(d, STRATA_MTREE_SOURCE, addr_of(0, 0), 500), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_dcm_count(d), 2);
    size_t n = drain(d, dirty, 64);
    CHECK(has_id(dirty, n, 1) && has_id(dirty, n, 2) && has_id(dirty, n, STRATA_MTREE_SOURCE.v));
    CHECK_EQ_INT(strata_dcm_take_dirty(d, dirty, 64), 0);

    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){1}, 5, in, K), K);
    for (int s = 0; s < K; s++) {
        CHECK_EQ_U64(in[s].node.v, 1);
        CHECK_EQ_U64(in[s].epoch, 5);
        CHECK_EQ_INT(in[s].substream, s);
        CHECK_EQ_INT(in[s].k, K);
        CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_TREE);
        CHECK_EQ_U64(in[s].dcm.v, 7);
        CHECK_EQ_U64(in[s].channel.v, 0xc4a11e1);
        /* the zero ref: no source known yet (protocol.md 3.4) */
        CHECK_EQ_U64(in[s].source.node.v, 0);
        CHECK(strata_addr_is_zero(in[s].source.addr));
    }
    /* Source unknown: asking for its instructions is an error; its ref is zero. */
    CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 5, in, K), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){99}, 5, in, K), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){1}, 5, in, K - 1), STRATA_ERR_NOSPACE);

    /* The source arrives with another rate and a budget: full rebuild, all dirty. */
    strata_addr src_addr = {0xc0a80001u, 9000};
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src_addr, 2000, 8000), 0);
    CHECK_EQ_U64(strata_dcm_rate(d), 2000);
    n = drain(d, dirty, 64);
    CHECK_EQ_INT(n, 3);
    CHECK(has_id(dirty, n, 1) && has_id(dirty, n, 2) && has_id(dirty, n, STRATA_MTREE_SOURCE.v));
    CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 6, in, K), K);
    size_t roots = 0;
    for (int s = 0; s < K; s++) {
        CHECK_EQ_U64(in[s].node.v, 1000);
        CHECK_EQ_U64(in[s].parent.node.v, 0);
        CHECK_EQ_U64(in[s].source.node.v, 1000); /* the source's own name itself */
        CHECK(strata_addr_eq(in[s].source.addr, src_addr));
        for (int i = 0; i < in[s].n_children; i++) {
            uint64_t c = in[s].children[i].node.v;
            CHECK(c == 1 || c == 2);
            CHECK(strata_addr_eq(in[s].children[i].addr, addr_of(c, 0)));
            roots++;
        }
    }
    CHECK(roots > 0);
    /* Every member's instructions name the source; those whose parent is
     * the source carry its ref there too. */
    for (uint64_t id = 1; id <= 2; id++) {
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 6, in, K), K);
        for (int s = 0; s < K; s++) {
            CHECK_EQ_U64(in[s].source.node.v, 1000);
            CHECK(strata_addr_eq(in[s].source.addr, src_addr));
            strata_node_id p =
                strata_mtree_parent(strata_dcm_tree(d), (strata_node_id){id}, (uint8_t)s);
            if (p.v == STRATA_MTREE_SOURCE.v) {
                CHECK_EQ_U64(in[s].parent.node.v, 1000);
                CHECK(strata_addr_eq(in[s].parent.addr, src_addr));
                CHECK_EQ_U64(strata_dcm_parent_id(d, (strata_node_id){id}, (uint8_t)s).v, 1000);
            }
        }
    }

    /* Same source again: nothing changes, nothing is dirty. */
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src_addr, 2000, 8000), 0);
    CHECK_EQ_INT(strata_dcm_take_dirty(d, dirty, 64), 0);
    /* Source moved: every instruction names it, so it and every member are
     * dirty, and the new address is what they get. */
    src_addr.port = 9001;
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src_addr, 2000, 8000), 0);
    n = drain(d, dirty, 64);
    CHECK_EQ_INT(n, 3);
    CHECK(has_id(dirty, n, 1) && has_id(dirty, n, 2) && has_id(dirty, n, STRATA_MTREE_SOURCE.v));
    CHECK_EQ_U64(strata_dcm_source(d).addr.port, 9001);
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){2}, 7, in, K), K);
    for (int s = 0; s < K; s++)
        CHECK(strata_addr_eq(in[s].source.addr, src_addr));

    /* A rate change alone goes through set_rate. */
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src_addr, 1000, 8000), 0);
    CHECK_EQ_U64(strata_dcm_rate(d), 1000);
    drain(d, dirty, 64);

    /* Member 2 moves: it and its neighbours are dirty. */
    CHECK_EQ_INT(strata_dcm_set_addr(d, (strata_node_id){2}, addr_of(2, 1)), 0);
    n = drain(d, dirty, 64);
    CHECK(has_id(dirty, n, 2));
    CHECK_EQ_INT(strata_dcm_set_addr(d, (strata_node_id){3}, addr_of(3, 1)), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_dcm_set_addr(d, (strata_node_id){2}, addr_of(2, 1)), 0);
    CHECK_EQ_INT(strata_dcm_take_dirty(d, dirty, 64), 0);

    CHECK_EQ_INT(strata_dcm_mark_dirty(d, (strata_node_id){1}), 0);
    CHECK_EQ_INT(strata_dcm_mark_dirty(d, (strata_node_id){1}), 0);
    CHECK_EQ_INT(strata_dcm_mark_dirty(d, (strata_node_id){77}), STRATA_ERR_NOTFOUND);
    n = drain(d, dirty, 64);
    CHECK_EQ_INT(n, 1);

    CHECK_EQ_INT(strata_dcm_reparent(d, (strata_node_id){77}, 0), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_dcm_reparent(d, (strata_node_id){1}, K), STRATA_ERR_INVAL);

    /* Removing a member: never reported itself, and no longer named. */
    CHECK_EQ_INT(strata_dcm_mark_dirty(d, (strata_node_id){2}), 0);
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){2}), 0);
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){2}), STRATA_ERR_NOTFOUND);
    CHECK(!strata_dcm_has(d, (strata_node_id){2}));
    n = drain(d, dirty, 64);
    CHECK(!has_id(dirty, n, 2));
    CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 9, in, K), K);
    for (int s = 0; s < K; s++)
        for (int i = 0; i < in[s].n_children; i++)
            CHECK(in[s].children[i].node.v != 2);
    strata_dcm_del(d);
}

/* A host that keeps taking one dirty node while everything keeps changing
 * walks the FIFO forward through its whole array; no mark may be lost,
 * however far it has walked when the host finally drains everything. */
static void test_partial_drain(void)
{
    enum { N = 20 };
    strata_node_id dirty[N + 2];
    int lost = 0;
    for (int rounds = 1; rounds < 160; rounds += 3) {
        strata_dcm *d = make_dcm(NULL, 0);
        for (uint64_t id = 1; id <= N; id++)
            CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 1000), 0);
        drain(d, dirty, N + 2);
        for (int r = 0; r < rounds; r++) {
            for (uint64_t id = 1; id <= N; id++)
                strata_dcm_mark_dirty(d, (strata_node_id){id});
            strata_dcm_take_dirty(d, dirty, 1);
        }
        /* Everyone was marked before the last take: all but one remain. */
        size_t n = drain(d, dirty, N + 2);
        if (n != N - 1) {
            fprintf(stderr, "after %d rounds: %zu dirty, want %d\n", rounds, n, N - 1);
            lost++;
        }
        strata_dcm_del(d);
    }
    CHECK_EQ_INT(lost, 0);
}

/* What the test has "sent" to each node, to compare with the truth. */
typedef struct delivered {
    int have;
    strata_peer_ref source[K];
    strata_peer_ref parent[K];
    uint8_t nkids[K];
    strata_peer_ref kids[K][STRATA_WIRE_MAX_CHILDREN];
} delivered;

static int ref_cmp(const void *a, const void *b)
{
    const strata_peer_ref *x = a, *y = b;
    return x->node.v < y->node.v ? -1 : x->node.v > y->node.v;
}

/* Records the instructions of the substreams in subs (bit s for s). */
static void record_subs(delivered *dv, const strata_msg_instruction *in, uint32_t subs)
{
    dv->have = 1;
    for (int s = 0; s < K; s++) {
        if (!((subs >> s) & 1u))
            continue;
        dv->source[s] = in[s].source;
        dv->parent[s] = in[s].parent;
        dv->nkids[s] = in[s].n_children;
        memcpy(dv->kids[s], in[s].children, in[s].n_children * sizeof in[s].children[0]);
        qsort(dv->kids[s], dv->nkids[s], sizeof dv->kids[s][0], ref_cmp);
    }
}

static void record(delivered *dv, const strata_msg_instruction *in)
{
    record_subs(dv, in, 0xffff);
}

static int same(const delivered *a, const delivered *b)
{
    for (int s = 0; s < K; s++) {
        if (a->parent[s].node.v != b->parent[s].node.v ||
            !strata_addr_eq(a->parent[s].addr, b->parent[s].addr) || a->nkids[s] != b->nkids[s] ||
            a->source[s].node.v != b->source[s].node.v ||
            !strata_addr_eq(a->source[s].addr, b->source[s].addr))
            return 0;
        for (int i = 0; i < a->nkids[s]; i++)
            if (a->kids[s][i].node.v != b->kids[s][i].node.v ||
                !strata_addr_eq(a->kids[s][i].addr, b->kids[s][i].addr))
                return 0;
    }
    return 1;
}

/* Random adds, removes, moves, reparents and source changes; after each
 * step the dirty nodes get fresh instructions for the substreams they are
 * dirty in (and no others), and every member's (and the source's)
 * delivered instructions must equal what the DCM says now. Sending only
 * those substreams must also save something: fewer instructions than k
 * per dirty node. */
static void test_dirty_property(void)
{
    static delivered dv[MAXN + 1], fresh;
    static uint16_t gen[MAXN + 1];
    static int member[MAXN + 1];
    memset(dv, 0, sizeof dv);
    memset(gen, 0, sizeof gen);
    memset(member, 0, sizeof member);
    strata_rng rng;
    strata_rng_seed(&rng, test_seed(0xdc11));
    strata_dcm *d = make_dcm(NULL, 6000);
    strata_msg_instruction in[K];
    strata_node_id dirty[MAXN + 2];
    uint32_t subs[MAXN + 2];
    int src_known = 0;
    int failures = 0;
    uint64_t listed = 0, sent = 0;
    for (int step = 0; step < 4000 && failures < 5; step++) {
        uint64_t op = strata_rng_below(&rng, 100);
        uint64_t id = 1 + strata_rng_below(&rng, MAXN);
        strata_node_id nid = {id};
        if (op < 40) {
            if (!member[id]) {
                uint32_t up = (uint32_t)strata_rng_below(&rng, 4) * 750;
                CHECK_EQ_INT(strata_dcm_add(d, nid, addr_of(id, gen[id]), up), 0);
                member[id] = 1;
                dv[id].have = 0;
            }
        } else if (op < 70) {
            if (member[id]) {
                CHECK_EQ_INT(strata_dcm_remove(d, nid), 0);
                member[id] = 0;
            }
        } else if (op < 80) {
            if (member[id]) {
                gen[id]++;
                CHECK_EQ_INT(strata_dcm_set_addr(d, nid, addr_of(id, gen[id])), 0);
            }
        } else if (op < 95) {
            if (member[id])
                CHECK_EQ_INT(strata_dcm_reparent(d, nid, (uint8_t)strata_rng_below(&rng, K)), 0);
        } else {
            strata_addr sa = {0xc0a80001u, (uint16_t)(9000 + strata_rng_below(&rng, 3))};
            uint32_t rate = strata_rng_below(&rng, 2) ? 1000 : 1500;
            uint32_t up = strata_rng_below(&rng, 2) ? 6000 : 9000;
            CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){5000}, sa, rate, up), 0);
            src_known = 1;
        }
        /* Now and then the host drains only part of the set before the next
         * change; the rest must survive, and come out exactly once. */
        int partial = strata_rng_below(&rng, 3) == 0;
        size_t n = 0, got;
        do {
            got = strata_dcm_take_dirty_subs(d, dirty + n, subs + n, partial ? 2 : 3);
            n += got;
        } while (!partial && got > 0 && n + 3 <= MAXN + 2);
        for (size_t i = 0; i < n; i++) {
            uint64_t v = dirty[i].v;
            if (subs[i] == 0 || subs[i] >= (1u << K)) {
                fprintf(stderr, "step %d: node %llu dirty in substreams %#x\n", step,
                        (unsigned long long)v, (unsigned)subs[i]);
                failures++;
            }
            listed++;
            for (int b = 0; b < K; b++)
                sent += (subs[i] >> b) & 1u;
            if (v == STRATA_MTREE_SOURCE.v) {
                if (src_known) {
                    CHECK_EQ_INT(strata_dcm_instructions(d, dirty[i], 1, in, K), K);
                    record_subs(&dv[0], in, subs[i]);
                }
                continue;
            }
            if (v == 0 || v > MAXN || !member[v]) {
                fprintf(stderr, "step %d: dirty id %llu is not a member\n", step,
                        (unsigned long long)v);
                failures++;
                continue;
            }
            CHECK_EQ_INT(strata_dcm_instructions(d, dirty[i], 1, in, K), K);
            record_subs(&dv[v], in, subs[i]);
        }
        if (partial)
            continue;
        for (uint64_t v = 0; v <= MAXN; v++) {
            if (v == 0 ? !src_known : !member[v])
                continue;
            strata_node_id q = v == 0 ? STRATA_MTREE_SOURCE : (strata_node_id){v};
            CHECK_EQ_INT(strata_dcm_instructions(d, q, 1, in, K), K);
            record(&fresh, in);
            /* The per-substream and all-parents variants agree with it. */
            uint16_t mask = (uint16_t)strata_rng_below(&rng, 1u << K);
            strata_msg_instruction part[K];
            int np = strata_dcm_instructions_subs(d, q, mask, 1, part, K);
            int want = 0;
            for (int b = 0; b < K; b++) {
                if (!((mask >> b) & 1u))
                    continue;
                CHECK(np > want && part[want].substream == b &&
                      memcmp(&part[want], &in[b], sizeof in[b]) == 0);
                want++;
            }
            CHECK_EQ_INT(np, want);
            if (v != 0) {
                strata_node_id ps[K];
                CHECK_EQ_INT(strata_dcm_parent_ids(d, q, ps, K), K);
                for (uint8_t b = 0; b < K; b++)
                    CHECK_EQ_U64(ps[b].v, strata_dcm_parent_id(d, q, b).v);
            }
            if (!dv[v].have || !same(&dv[v], &fresh)) {
                fprintf(stderr, "step %d (op %llu): node %llu holds stale instructions\n", step,
                        (unsigned long long)op, (unsigned long long)v);
                failures++;
            }
        }
        char why[128];
        if (strata_mtree_check(strata_dcm_tree(d), why, sizeof why) != 0) {
            fprintf(stderr, "step %d: tree invariant: %s\n", step, why);
            failures++;
        }
    }
    CHECK_EQ_INT(failures, 0);
    fprintf(stderr, "dirty property: %llu nodes listed, %llu instructions sent (k = %d)\n",
            (unsigned long long)listed, (unsigned long long)sent, K);
    CHECK(sent < listed * K * 3 / 4);
    strata_dcm_del(d);
}

/* Allocation failures during a scenario: every call fails cleanly or
 * succeeds; nothing leaks. */
typedef struct fail_alloc {
    long countdown;
    long live;
} fail_alloc;

static void *fa_alloc(void *user, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = malloc(size);
    f->live += p != NULL;
    return p;
}
static void *fa_realloc(void *user, void *ptr, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = realloc(ptr, size);
    f->live += p != NULL && ptr == NULL;
    return p;
}
static void fa_free(void *user, void *ptr)
{
    fail_alloc *f = user;
    f->live -= ptr != NULL;
    free(ptr);
}

static int scenario(const strata_alloc *a)
{
    strata_dcm *d = make_dcm(a, 0);
    if (!d)
        return 0;
    strata_node_id dirty[16];
    int calls = 0;
    for (uint64_t id = 1; id <= 40; id++) {
        int rc = strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), (uint32_t)(id % 4) * 600);
        CHECK(rc == 0 || rc == STRATA_ERR_NOMEM);
        calls++;
    }
    int rc = strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), 1200, 5000);
    CHECK(rc == 0 || rc == STRATA_ERR_NOMEM);
    for (uint64_t id = 1; id <= 40; id += 3)
        strata_dcm_remove(d, (strata_node_id){id});
    while (strata_dcm_take_dirty(d, dirty, 16) == 16)
        ;
    char why[128];
    CHECK_EQ_INT(strata_mtree_check(strata_dcm_tree(d), why, sizeof why), 0);
    strata_dcm_del(d);
    return calls;
}

static void test_alloc_failures(void)
{
    for (long fail_at = 0; fail_at < 400; fail_at += 1) {
        fail_alloc f = {fail_at, 0};
        strata_alloc a = {fa_alloc, fa_realloc, fa_free, &f};
        scenario(&a);
        CHECK_EQ_INT(f.live, 0);
        if (f.countdown >= 0)
            break; /* the scenario made fewer allocations than fail_at */
    }
}

/* Children a member has over all its trees. */
static size_t child_links(const strata_dcm *d, uint64_t id)
{
    size_t n = 0;
    for (uint8_t s = 0; s < K; s++)
        n += strata_mtree_children(strata_dcm_tree(d), (strata_node_id){id}, s, NULL, 0);
    return n;
}

/* Upload headroom (dcm.c): the trees use 85% of declared uploads, or all
 * of them when 85% leaves a member without a parent, and 85% again once
 * capacity has grown. Each row adds members; then every member of upload
 * 1000 (4 slots at 100%, 3 at 85%) has at most max_links children. */
static void test_upload_headroom(void)
{
    static const struct {
        const char *name;
        uint32_t src_upload;
        struct {
            uint32_t count, upload_kbps;
        } add[2];
        uint32_t max_links;
    } cases[] = {
        {"ample capacity: 85%", 0, {{20, 1000}, {0, 0}}, 3},
        /* at 85% the source has 3 slots for 4 trees: one tree would have
         * no root; with full uploads no member is detached */
        {"85% too little: full uploads", 1000, {{4, 1000}, {0, 0}}, 4},
        {"capacity grew: back to 85%", 1000, {{4, 1000}, {4, 10000}}, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        strata_dcm *d = make_dcm(NULL, cases[c].src_upload);
        CHECK(d != NULL);
        if (!d)
            continue;
        uint64_t id = 1;
        for (size_t a = 0; a < 2; a++) {
            for (uint32_t i = 0; i < cases[c].add[a].count; i++, id++)
                CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0),
                                            cases[c].add[a].upload_kbps),
                             0);
        }
        CHECK_EQ_U64(strata_mtree_detached(strata_dcm_tree(d)), 0);
        size_t worst = 0;
        for (uint64_t m = 1; m <= cases[c].add[0].count; m++) {
            size_t n = child_links(d, m);
            worst = n > worst ? n : worst;
        }
        CHECK(worst <= cases[c].max_links);
        if (worst > cases[c].max_links || strata_mtree_detached(strata_dcm_tree(d)) != 0)
            fprintf(stderr, "  case: %s (worst %zu)\n", cases[c].name, worst);
        strata_dcm_del(d);
    }
}

/* A heartbeat as member id would send it following its tree parents, with
 * last_rx_seq seq[s] per substream. */
static void hb_of(const strata_dcm *d, uint64_t id, const uint64_t *seq, strata_msg_heartbeat *hb)
{
    memset(hb, 0, sizeof *hb);
    hb->node.v = id;
    hb->n_parents = K;
    strata_node_id tp[K];
    CHECK_EQ_INT(strata_dcm_parent_ids(d, hb->node, tp, K), K);
    for (int s = 0; s < K; s++) {
        hb->parents[s].parent = tp[s];
        hb->parents[s].last_rx_seq = seq[s];
    }
}

/* The DCM reads its members' heartbeats (SPEC C13): a member whose parents
 * differ from its trees twice in a row needs its instructions again; a
 * substream that stands still while the others advance is moved to
 * another parent after stall_ns, not before; a stream standing still
 * everywhere blames nobody. */
/* A DCM of 20 members under a source with two streams' worth of upload,
 * looking for stalls after stall_ns (0: not at all). */
static strata_dcm *heartbeat_dcm(uint64_t stall_ns)
{
    strata_dcm_config cfg = {.id = {7},
                             .channel = {9},
                             .k = K,
                             .rate_kbps = RATE,
                             .source_upload_kbps = 2 * RATE,
                             .seed = 3,
                             .stall_ns = stall_ns};
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, addr_of(1000, 0), RATE, 2 * RATE),
                 0);
    for (uint64_t id = 1; id <= 20; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 2000), 0);
    return d;
}

static void test_heartbeats(void)
{
    const uint64_t STALL = STRATA_MS(3000), HB = STRATA_MS(1000);
    strata_dcm *d = heartbeat_dcm(STALL);
    /* A member with another member as its parent in some tree. */
    uint64_t victim = 0;
    int s0 = -1;
    for (uint64_t id = 1; id <= 20 && !victim; id++) {
        for (int s = 0; s < K; s++) {
            strata_node_id p = strata_dcm_parent_id(d, (strata_node_id){id}, (uint8_t)s);
            if (p.v && p.v != 1000) {
                victim = id;
                s0 = s;
                break;
            }
        }
    }
    CHECK(victim != 0);
    if (!victim) {
        strata_dcm_del(d);
        return;
    }
    strata_node_id old = strata_dcm_parent_id(d, (strata_node_id){victim}, (uint8_t)s0);
    strata_msg_heartbeat hb;
    strata_dcm_heard heard;
    uint64_t seq[K] = {0}, now = STRATA_MS(10000);

    /* Not a member. */
    hb_of(d, victim, seq, &hb);
    hb.node.v = 999;
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), STRATA_ERR_NOTFOUND);

    /* Parents as instructed: nothing to do. A wrong parent once: nothing
     * yet (the instructions may be on their way); twice: resend; sent:
     * answered. */
    hb_of(d, victim, seq, &hb);
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
    CHECK(!heard.resend && !heard.reparented);
    hb.parents[s0].parent.v = 4242;
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
    CHECK(!heard.resend);
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
    CHECK(heard.resend);
    strata_dcm_instructions_sent(d, hb.node);
    hb_of(d, victim, seq, &hb);
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
    CHECK(!heard.resend);

    /* Substream s0 stands still, the others advance 2k a heartbeat. */
    strata_node_id dirty[64];
    drain(d, dirty, 64);
    int moved_at = -1;
    for (int beat = 1; beat <= 6 && moved_at < 0; beat++) {
        now += HB;
        for (int s = 0; s < K; s++)
            if (s != s0)
                seq[s] += 2 * K;
        hb_of(d, victim, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
        if (heard.reparented) {
            moved_at = beat;
            CHECK_EQ_INT(heard.reparented, 1);
            CHECK_EQ_U64(heard.stalled[s0].v, old.v);
        }
    }
    CHECK_EQ_INT(moved_at, 3); /* stall_ns after its baseline, not before */
    strata_node_id now_parent = strata_dcm_parent_id(d, (strata_node_id){victim}, (uint8_t)s0);
    CHECK(now_parent.v != old.v && now_parent.v != 0);
    size_t n = drain(d, dirty, 64);
    CHECK(has_id(dirty, n, victim)); /* its new instruction is due */

    /* Everything stands still: the stream, not a parent. */
    for (int beat = 0; beat < 8; beat++) {
        now += HB;
        hb_of(d, victim, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
        CHECK_EQ_INT(heard.reparented, 0);
    }
    /* Without stall_ns (0), stalls are not looked for. */
    strata_dcm_del(d);
    d = heartbeat_dcm(0);
    memset(seq, 0, sizeof seq);
    for (int beat = 0; beat < 8; beat++) {
        now += HB;
        for (int s = 0; s < K; s++)
            if (s != s0)
                seq[s] += 2 * K;
        hb_of(d, victim, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
        CHECK_EQ_INT(heard.reparented, 0);
    }
    strata_dcm_del(d);
}

/* Capacity check (dcm_capacity.c): a DCM of 20 members of 1000 kbit/s, one
 * of 8000 that delivers and one of 10000 that forwards nothing; the
 * source has one stream's worth of copies, so the trees use the big ones'
 * slots. */
static strata_dcm *capacity_dcm(uint64_t window_ns)
{
    strata_dcm_config cfg = {.id = {7},
                             .channel = {9},
                             .k = K,
                             .rate_kbps = RATE,
                             .source_upload_kbps = RATE,
                             .seed = 5,
                             .stall_ns = STRATA_MS(3000),
                             .capacity_ns = window_ns};
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, addr_of(1000, 0), RATE, RATE), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){21}, addr_of(21, 0), 8000), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){22}, addr_of(22, 0), 10000), 0);
    for (uint64_t id = 1; id <= 20; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 1000), 0);
    return d;
}

/* A heartbeat of member id with its counters: it received rx_kbps and sent
 * tx_kbps since the start (now_ms in), its substreams at seq. */
static void hb_counted(const strata_dcm *d, uint64_t id, uint64_t now_ms, uint64_t rx_kbps,
                       uint64_t tx_kbps, const uint64_t *seq, strata_msg_heartbeat *hb)
{
    hb_of(d, id, seq, hb);
    hb->rx_data_bytes = rx_kbps * now_ms / 8u;
    hb->tx_data_bytes = tx_kbps * now_ms / 8u;
}

static void test_capacity(void)
{
    const uint64_t WINDOW = STRATA_MS(3000), HB = 500;
    /* Believed: without the check the liar takes as many children as its
     * declared upload gives; with it, no more than its probation credit
     * (twice the rate: 6 slots at the 85 % share, 8 at the full one). */
    strata_dcm *d = capacity_dcm(0);
    size_t believed = child_links(d, 22);
    strata_dcm_del(d);
    d = capacity_dcm(WINDOW);
    size_t probation = child_links(d, 22);
    CHECK(believed > 8);
    CHECK(probation >= 1 && probation <= 8);
    strata_dcm_trust tr;
    CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){22}, &tr), 0);
    CHECK_EQ_U64(tr.credit_kbps, STRATA_DCM_PROBATION_RATES * RATE);
    CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){99}, &tr), STRATA_ERR_NOTFOUND);
    /* Candidates for a head or a relay go by believed upload: on probation
     * both big ones count as twice the rate, ahead of a 1000 believed in
     * full, and what they declare breaks the tie. */
    CHECK_EQ_U64(strata_dcm_member_believed_kbps(d, (strata_node_id){22}),
                 STRATA_DCM_PROBATION_RATES * RATE);
    CHECK_EQ_U64(strata_dcm_member_believed_kbps(d, (strata_node_id){1}), 1000);
    CHECK_EQ_U64(strata_dcm_member_believed_kbps(d, (strata_node_id){99}), 0);
    CHECK_EQ_U64(strata_dcm_best_member(d, RATE).v, 22);
    CHECK_EQ_U64(strata_dcm_best_member(d, 3 * RATE).v, 0); /* nobody is believed that much */
    strata_node_id top[3];
    CHECK_EQ_U64(strata_dcm_top_members(d, RATE, top, 3), 3);
    CHECK_EQ_U64(top[0].v, 22);
    CHECK_EQ_U64(top[1].v, 21);
    CHECK_EQ_U64(top[2].v, 1);

    /* Heartbeats every 500 ms: the stream flows (each member receives the
     * rate); 21 sends what its children ask, 22 nothing. */
    strata_msg_heartbeat hb;
    strata_dcm_heard heard;
    uint64_t seq[K] = {0};
    int promoted = 0, struck_at = -1;
    uint32_t credit21 = STRATA_DCM_PROBATION_RATES * RATE;
    for (int beat = 1; beat <= 40; beat++) {
        uint64_t ms = 10000 + (uint64_t)beat * HB;
        size_t links21 = child_links(d, 21);
        hb_counted(d, 21, ms, RATE, links21 * RATE / K + 50, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_MS(ms), &heard), 0);
        if (heard.promoted) {
            promoted++;
            CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){21}, &tr), 0);
            CHECK(tr.credit_kbps > credit21);
            credit21 = tr.credit_kbps;
        }
        CHECK(!heard.demoted);
        hb_counted(d, 22, ms, RATE, 0, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_MS(ms), &heard), 0);
        if (heard.struck && struck_at < 0)
            struck_at = beat;
    }
    /* 21 doubled its credit window by window up to its declared 8000 (from
     * 2000: 4000, then proven) and now has more children than probation
     * allowed; 22 was struck at its first window's end (beat 7: the window
     * starts at the first heartbeat), is a pure leaf and held. */
    CHECK_EQ_INT(promoted, 2);
    CHECK_EQ_U64(credit21, UINT32_MAX);
    CHECK(child_links(d, 21) > 8);
    CHECK_EQ_INT(struck_at, 7);
    CHECK_EQ_U64(child_links(d, 22), 0);
    CHECK_EQ_INT(strata_mtree_interior_tree(strata_dcm_tree(d), (strata_node_id){22}), -1);
    CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){22}, &tr), 0);
    CHECK_EQ_U64(tr.credit_kbps, 0);
    CHECK_EQ_INT(tr.strikes, 1);
    CHECK(tr.demoted);
    CHECK_EQ_U64(tr.retry_ns, STRATA_MS(10000 + 7 * HB) + STRATA_DCM_HOLD_S * 1000000000ull);
    CHECK_EQ_U64(strata_mtree_detached(strata_dcm_tree(d)), 0);
    /* A demoted member is no head nor relay candidate, and a struck one
     * (believed 0) comes after the proven 8000 when anyone will do. */
    CHECK(strata_dcm_best_member(d, 9000).v == 0);
    CHECK_EQ_U64(strata_dcm_best_member(d, 0).v, 21);
    CHECK_EQ_U64(strata_dcm_best_member(d, 8000).v, 21);
    /* After its hold it is on probation again, and a second strike holds
     * it twice as long. */
    uint64_t ms = tr.retry_ns / 1000000u;
    hb_counted(d, 22, ms, RATE, 0, seq, &hb);
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_MS(ms), &heard), 0);
    CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){22}, &tr), 0);
    CHECK_EQ_U64(tr.credit_kbps, STRATA_DCM_PROBATION_RATES * RATE);
    CHECK(child_links(d, 22) >= 1);
    for (int beat = 1; beat <= 7; beat++) {
        hb_counted(d, 22, ms + (uint64_t)beat * HB, RATE, 0, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_MS(ms + (uint64_t)beat * HB), &heard), 0);
    }
    CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){22}, &tr), 0);
    CHECK_EQ_INT(tr.strikes, 2);
    CHECK_EQ_U64(tr.retry_ns, STRATA_MS(ms + 6 * HB) + 2 * STRATA_DCM_HOLD_S * 1000000000ull);
    /* Nothing flowing (no source yet, say) is no evidence: a member that
     * receives nothing and sends nothing keeps its credit. */
    strata_dcm_del(d);
    d = capacity_dcm(WINDOW);
    for (int beat = 1; beat <= 20; beat++) {
        hb_counted(d, 22, (uint64_t)beat * HB, 0, 0, seq, &hb);
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_MS((uint64_t)beat * HB), &heard), 0);
        CHECK(!heard.demoted && !heard.promoted);
    }
    strata_dcm_del(d);
}

/* Children's reports: a member whose counters claim what its children ask
 * (a liar's can) but whose child stalls in its tree while the member's own
 * heartbeat shows it held the packets loses half its credit; a parent that
 * lacked the packets itself is not blamed. */
static void test_capacity_stalls(void)
{
    for (int had = 0; had <= 1; had++) {
        strata_dcm *d = capacity_dcm(STRATA_MS(60000)); /* counters never judged here */
        int s0 = strata_mtree_interior_tree(strata_dcm_tree(d), (strata_node_id){22});
        strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
        size_t nk = s0 < 0 ? 0
                           : strata_mtree_children(strata_dcm_tree(d), (strata_node_id){22},
                                                   (uint8_t)s0, kids, STRATA_WIRE_MAX_CHILDREN);
        CHECK(nk >= 1);
        if (nk < 1) {
            strata_dcm_del(d);
            return;
        }
        uint64_t child = kids[0].v;
        uint64_t cseq[K] = {0}, pseq[K] = {0};
        strata_msg_heartbeat hb;
        strata_dcm_heard heard;
        int demoted = 0;
        for (int beat = 1; beat <= 8; beat++) {
            uint64_t now = STRATA_MS(10000 + (uint64_t)beat * 1000);
            for (int s = 0; s < K; s++) {
                pseq[s] += had || s != s0 ? 2 * K : 0;
                if (s != s0)
                    cseq[s] += 2 * K;
            }
            hb_of(d, 22, pseq, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            hb_of(d, child, cseq, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            demoted |= heard.demoted;
        }
        strata_dcm_trust tr;
        CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){22}, &tr), 0);
        if (had) {
            CHECK(demoted);
            CHECK_EQ_U64(tr.credit_kbps, STRATA_DCM_PROBATION_RATES * RATE / 2);
            CHECK(tr.demoted && tr.strikes == 0);
            CHECK(strata_dcm_parent_id(d, (strata_node_id){child}, (uint8_t)s0).v != 22);
        } else {
            CHECK(!demoted);
            CHECK_EQ_U64(tr.credit_kbps, STRATA_DCM_PROBATION_RATES * RATE);
        }
        strata_dcm_del(d);
    }
}

/* A DCM restored at the full share (a member reports 4 children where the
 * scaled share gives it 3) keeps its trees through the set_source that
 * follows every restore, as the DCM before it would have: no rebuild. */
static void test_restore_keeps_full_share(void)
{
    strata_dcm *d = make_dcm(NULL, 0);
    strata_addr src = {0xc0a80001u, 9000};
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src, RATE, 0), 0);
    enum { N = 12 };
    strata_dcm_report r[N];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        r[i].node.v = (uint64_t)i + 1;
        r[i].addr = addr_of((uint64_t)i + 1, 0);
        r[i].upload_kbps = 1000; /* 4 slots at the full share, 3 at the scaled one */
        r[i].interior = -1;
        for (int s = 0; s < K; s++)
            r[i].parents[s] = STRATA_MTREE_SOURCE;
    }
    r[0].interior = 0;
    for (int i = 1; i <= 4; i++)
        r[i].parents[0].v = 1;
    CHECK_EQ_INT(strata_dcm_restore(d, r, N), 0);
    for (int i = 1; i <= 4; i++)
        CHECK_EQ_U64(strata_dcm_parent_id(d, r[i].node, 0).v, 1);
    strata_node_id before[N][K];
    for (int i = 0; i < N; i++)
        strata_dcm_parent_ids(d, r[i].node, before[i], K);
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){1000}, src, RATE, 0), 0);
    int same = 1;
    for (int i = 0; i < N; i++) {
        strata_node_id after[K];
        strata_dcm_parent_ids(d, r[i].node, after, K);
        for (int s = 0; s < K; s++)
            same &= after[s].v == before[i][s].v;
    }
    CHECK(same);
    strata_dcm_del(d);
}

/* A FLOOD DCM (the top level's mesh): every member's instructions are
 * FLOOD with no parent and the same neighbours in every substream, links
 * are symmetric between members, the source lists c members and no member
 * lists the source; a departure dirties exactly what must learn of it,
 * and nothing is ever re-parented. */
static int lists(const strata_msg_instruction *in, uint64_t id)
{
    for (unsigned i = 0; i < in->n_children; i++)
        if (in->children[i].node.v == id)
            return 1;
    return 0;
}

static void check_mesh_instructions(strata_dcm *d, const uint64_t *ids, size_t n, uint64_t source)
{
    strata_msg_instruction in[K], other[K];
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){ids[i]}, 5, in, K), K);
        CHECK(in[0].n_children >= 3); /* c = 3, every member is core */
        for (int s = 0; s < K; s++) {
            CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_FLOOD);
            CHECK_EQ_U64(in[s].parent.node.v, 0);
            CHECK_EQ_U64(in[s].source.node.v, source);
            CHECK_EQ_INT(in[s].n_children, in[0].n_children);
            CHECK(!lists(&in[s], source));
            CHECK(!lists(&in[s], ids[i]));
        }
        for (unsigned j = 0; j < in[0].n_children; j++) {
            strata_node_id nb = in[0].children[j].node;
            CHECK_EQ_INT(strata_dcm_instructions(d, nb, 5, other, K), K);
            CHECK(lists(&other[0], ids[i]));
            CHECK_EQ_U64(in[0].children[j].addr.ipv4, addr_of(nb.v, 0).ipv4);
        }
    }
    CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 5, in, K), K);
    CHECK_EQ_INT(in[0].n_children, 3);
    CHECK_EQ_U64(in[0].node.v, source);
    CHECK_EQ_INT(in[0].algorithm, STRATA_ALG_FLOOD);
}

/* A FLOOD DCM over a 3-connected mesh. */
static strata_dcm_config mesh_config(void)
{
    return (strata_dcm_config){.id = {9},
                               .channel = {3},
                               .k = K,
                               .rate_kbps = RATE,
                               .seed = 5,
                               .algorithm = STRATA_ALG_FLOOD,
                               .mesh_c = 3};
}

static void test_mesh(void)
{
    strata_dcm_config cfg = mesh_config();
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK(strata_dcm_tree(d) == NULL);
    CHECK(strata_dcm_mesh(d) != NULL);
    CHECK_EQ_INT(strata_dcm_algorithm(d), STRATA_ALG_FLOOD);
    /* The source sends one copy to each of c members, at the 85 % share. */
    CHECK_EQ_U64(strata_dcm_source_need_kbps(d), (3u * RATE * 100u + 84u) / 85u);
    const uint64_t source = 999;
    CHECK_EQ_INT(
        strata_dcm_set_source(d, (strata_node_id){source}, addr_of(source, 0), RATE, 8 * RATE), 0);
    uint64_t ids[10];
    strata_node_id dirty[64];
    for (size_t i = 0; i < 10; i++) {
        ids[i] = 100 + i;
        CHECK_EQ_INT(strata_dcm_add_in_region(d, (strata_node_id){ids[i]}, addr_of(ids[i], 0),
                                              6 * RATE, (uint32_t)(i % 3)),
                     0);
    }
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){source}, addr_of(source, 0), 6 * RATE),
                 STRATA_ERR_EXISTS);
    drain(d, dirty, 64);
    check_mesh_instructions(d, ids, 10, source);

    /* A departure: its neighbours (and only nodes whose lists changed) are
     * dirty, and nobody lists it any more. */
    strata_msg_instruction in[K];
    strata_dcm_instructions(d, (strata_node_id){ids[4]}, 5, in, K);
    strata_node_id was[STRATA_WIRE_MAX_CHILDREN];
    unsigned nwas = in[0].n_children;
    for (unsigned j = 0; j < nwas; j++)
        was[j] = in[0].children[j].node;
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){ids[4]}), 0);
    size_t nd = drain(d, dirty, 64);
    for (unsigned j = 0; j < nwas; j++)
        CHECK(has_id(dirty, nd, was[j].v));
    CHECK(!has_id(dirty, nd, ids[4]));
    ids[4] = ids[9];
    check_mesh_instructions(d, ids, 9, source);

    /* A new address reaches every neighbour. */
    strata_dcm_instructions(d, (strata_node_id){ids[0]}, 5, in, K);
    CHECK_EQ_INT(strata_dcm_set_addr(d, (strata_node_id){ids[0]}, addr_of(ids[0], 1)), 0);
    nd = drain(d, dirty, 64);
    CHECK(has_id(dirty, nd, ids[0]));
    for (unsigned j = 0; j < in[0].n_children; j++)
        CHECK(has_id(dirty, nd, in[0].children[j].node.v));

    /* Flooding has no parent: none reported, none to replace, no root
     * children to hand over; a heartbeat never re-parents. */
    strata_node_id parents[K];
    CHECK_EQ_INT(strata_dcm_parent_ids(d, (strata_node_id){ids[1]}, parents, K), K);
    for (int s = 0; s < K; s++)
        CHECK_EQ_U64(parents[s].v, 0);
    CHECK_EQ_INT(strata_dcm_reparent(d, (strata_node_id){ids[1]}, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_dcm_set_substream_root(d, 0, (strata_peer_ref){{ids[1]}, addr_of(1, 0)}),
                 STRATA_ERR_INVAL);
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node = (strata_node_id){ids[1]};
    hb.n_parents = K;
    strata_dcm_heard heard;
    for (int t = 0; t < 10; t++) {
        for (int s = 0; s < K; s++)
            hb.parents[s].last_rx_seq = s == 0 ? 5 : (uint64_t)(100 * t); /* 0 stands still */
        CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, (uint64_t)t * 1000000000u, &heard), 0);
        CHECK_EQ_INT(heard.reparented, 0);
        CHECK_EQ_INT(heard.resend, 0);
    }
    strata_dcm_del(d);

    /* A restarted control center rebuilds a mesh from its members' reports. */
    d = strata_dcm_new(NULL, &cfg);
    strata_dcm_report r[6];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < 6; i++) {
        r[i].node = (strata_node_id){ids[i]};
        r[i].addr = addr_of(ids[i], 0);
        r[i].upload_kbps = 6 * RATE;
        r[i].interior = -1;
    }
    CHECK_EQ_INT(strata_dcm_restore(d, r, 6), 0);
    CHECK_EQ_INT(
        strata_dcm_set_source(d, (strata_node_id){source}, addr_of(source, 0), RATE, 8 * RATE), 0);
    drain(d, dirty, 64);
    check_mesh_instructions(d, ids, 6, source);
    strata_dcm_del(d);
}

/* Leaves below the mesh: a member without upload for one link is fed by a
 * member with room to spare (its instructions TREE, parent the feeder, who
 * lists it), attached again when its feeder goes; a core member never
 * takes a leaf that would cost it one of its c links. */
static void test_mesh_leaves(void)
{
    strata_dcm_config cfg = mesh_config();
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 8 * RATE);
    strata_node_id dirty[64];
    /* Four members of exactly c links: no room for a leaf, so the source
     * feeds it out of what its links leave of its budget. */
    for (uint64_t id = 1; id <= 4; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 4000), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){50}, addr_of(50, 0), 500), 0);
    CHECK(strata_dcm_fed(d, (strata_node_id){50}));
    CHECK_EQ_U64(strata_dcm_parent_id(d, (strata_node_id){50}, 0).v, 999);
    CHECK(strata_dcm_fed(d, (strata_node_id){1}));
    {
        strata_msg_instruction sin[K];
        drain(d, dirty, 64);
        CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 1, sin, K), K);
        for (int s = 0; s < K; s++)
            CHECK(lists(&sin[s], 50));
    }
    /* A source without budget to spare feeds no leaf. */
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){50}), 0);
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 2 * RATE);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){50}, addr_of(50, 0), 500), 0);
    CHECK(!strata_dcm_fed(d, (strata_node_id){50}));
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 8 * RATE);
    /* Two with room for several: the leaf goes to one of them. */
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){5}, addr_of(5, 0), 9000), 0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){6}, addr_of(6, 0), 9000), 0);
    CHECK(strata_dcm_fed(d, (strata_node_id){50}));
    drain(d, dirty, 64);
    strata_msg_instruction in[K], fin[K];
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){50}, 1, in, K), K);
    uint64_t feeder = in[0].parent.node.v;
    CHECK(feeder == 5 || feeder == 6);
    for (int s = 0; s < K; s++) {
        CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_TREE);
        CHECK_EQ_U64(in[s].parent.node.v, feeder);
        CHECK_EQ_INT(in[s].n_children, 0);
    }
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){feeder}, 1, fin, K), K);
    for (int s = 0; s < K; s++)
        CHECK(lists(&fin[s], 50));
    strata_node_id parents[K];
    strata_dcm_parent_ids(d, (strata_node_id){50}, parents, K);
    CHECK_EQ_U64(parents[K - 1].v, feeder);
    CHECK_EQ_U64(strata_dcm_child_links(d, (strata_node_id){50}, 0xf), 0);
    /* The feeder goes: the leaf moves to the other one, and is told. */
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){feeder}), 0);
    size_t nd = drain(d, dirty, 64);
    CHECK(has_id(dirty, nd, 50));
    strata_dcm_instructions(d, (strata_node_id){50}, 1, in, K);
    uint64_t other = feeder == 5 ? 6 : 5;
    CHECK_EQ_U64(in[0].parent.node.v, other);
    /* And when that one goes too, no member has room: the source feeds it
     * again, and with a budget its links use up, nobody does. */
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){other}), 0);
    CHECK(strata_dcm_fed(d, (strata_node_id){50}));
    strata_dcm_instructions(d, (strata_node_id){50}, 1, in, K);
    CHECK_EQ_U64(in[0].parent.node.v, 999);
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 2 * RATE);
    CHECK(!strata_dcm_fed(d, (strata_node_id){50}));
    strata_dcm_instructions(d, (strata_node_id){50}, 1, in, K);
    CHECK_EQ_U64(in[0].parent.node.v, 0);
    strata_dcm_del(d);
}

/* MESH_TREE (protocol.md 3.4): the same mesh, with the members told to
 * keep a tree per substream inside it. A member's instructions say
 * MESH_TREE and count its mesh neighbours, which come first in its list
 * (the symmetric links of FLOOD); a leaf it feeds comes after them and is
 * not counted; the leaf's own instructions stay TREE. */
static void test_mesh_tree(void)
{
    strata_dcm_config cfg = mesh_config();
    cfg.mesh_top = STRATA_DCM_TOP_TREE;
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ_INT(strata_dcm_algorithm(d), STRATA_ALG_FLOOD); /* the topology is the mesh's */
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 2 * RATE);
    for (uint64_t id = 1; id <= 6; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), id <= 4 ? 4000 : 9000),
                     0);
    CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){50}, addr_of(50, 0), 500), 0);
    CHECK(strata_dcm_fed(d, (strata_node_id){50}));
    strata_node_id dirty[64];
    drain(d, dirty, 64);
    strata_msg_instruction in[K], other[K];
    int leaves_listed = 0;
    for (uint64_t id = 1; id <= 6; id++) {
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 1, in, K), K);
        for (int s = 0; s < K; s++) {
            CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_MESH_TREE);
            CHECK_EQ_U64(in[s].parent.node.v, 0);
            CHECK_EQ_INT(in[s].n_neighbours, in[0].n_neighbours);
            CHECK_EQ_INT(in[s].n, 0);
        }
        CHECK(in[0].n_neighbours >= 3);
        for (unsigned j = 0; j < in[0].n_children; j++) {
            uint64_t nb = in[0].children[j].node.v;
            int is_leaf = nb == 50;
            CHECK_EQ_INT(is_leaf, j >= in[0].n_neighbours);
            leaves_listed += is_leaf;
            if (!is_leaf) { /* the links are symmetric */
                CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){nb}, 1, other, K), K);
                CHECK(lists(&other[0], id) && in[0].children[j].node.v != 999);
            }
        }
        uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
        strata_msg_instruction back;
        int n = strata_wire_encode_instruction(buf, sizeof buf, &in[1]);
        CHECK(n > 0 && strata_wire_decode_instruction(buf, (size_t)n, &back) == n);
        CHECK_EQ_INT(back.n_neighbours, in[1].n_neighbours);
    }
    CHECK_EQ_INT(leaves_listed, 1);
    /* What a member is judged against (preferred.h's reliability): with
     * MESH_TREE only its leaves; with FLOOD every neighbour but the one a
     * packet came from, and its leaves. */
    for (uint64_t id = 1; id <= 6; id++) {
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 1, in, K), K);
        size_t leaves = (size_t)(in[0].n_children - in[0].n_neighbours);
        CHECK_EQ_U64(strata_dcm_mesh_expected_links(d, (strata_node_id){id}), leaves * K);
    }
    strata_dcm_config fc = mesh_config();
    strata_dcm *f = strata_dcm_new(NULL, &fc);
    CHECK(f != NULL);
    if (f) {
        strata_dcm_set_source(f, (strata_node_id){999}, addr_of(999, 0), RATE, 2 * RATE);
        for (uint64_t id = 1; id <= 6; id++)
            strata_dcm_add(f, (strata_node_id){id}, addr_of(id, 0), id <= 4 ? 4000 : 9000);
        strata_dcm_add(f, (strata_node_id){50}, addr_of(50, 0), 500);
        for (uint64_t id = 1; id <= 6; id++) {
            CHECK_EQ_INT(strata_dcm_instructions(f, (strata_node_id){id}, 1, in, K), K);
            size_t nb = 0, leaves = 0;
            for (unsigned j = 0; j < in[0].n_children; j++) {
                nb += in[0].children[j].node.v != 50;
                leaves += in[0].children[j].node.v == 50;
            }
            CHECK_EQ_U64(strata_dcm_mesh_expected_links(f, (strata_node_id){id}),
                         (nb - 1 + leaves) * K);
        }
        CHECK_EQ_U64(strata_dcm_mesh_expected_links(f, (strata_node_id){50}), 0);
    }
    strata_dcm_del(f);
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){50}, 1, in, K), K);
    for (int s = 0; s < K; s++) {
        CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_TREE);
        CHECK_EQ_INT(in[s].n_neighbours, 0);
    }
    strata_dcm_del(d);
}

/* --top auto (SPEC C9): a member floods until its mesh links have not
 * changed for mesh_stable_ns, then is told MESH_TREE (dirty once), and
 * floods again when they change; members whose links stayed keep the
 * tree. The source is told FLOOD (it treats both alike). */
static void test_mesh_auto(void)
{
    strata_dcm_config cfg = mesh_config();
    cfg.mesh_top = STRATA_DCM_TOP_AUTO;
    cfg.mesh_stable_ns = STRATA_S(10);
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    strata_dcm_set_source(d, (strata_node_id){999}, addr_of(999, 0), RATE, 8 * RATE);
    for (uint64_t id = 1; id <= 8; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 4000), 0);
    strata_node_id dirty[64];
    strata_msg_instruction in[K];
    drain(d, dirty, 64);
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(1)), 0); /* every clock starts */
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(10)), 0);
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){3}, 1, in, K), K);
    CHECK_EQ_INT(in[0].algorithm, STRATA_ALG_FLOOD);
    CHECK(!strata_dcm_mesh_tree(d, (strata_node_id){3}));
    /* 10 s without a change: the tree, each member told once */
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(11)), 1);
    size_t nd = drain(d, dirty, 64);
    CHECK_EQ_U64(nd, 8);
    for (uint64_t id = 1; id <= 8; id++) {
        CHECK(strata_dcm_mesh_tree(d, (strata_node_id){id}));
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 1, in, K), K);
        for (int s = 0; s < K; s++) {
            CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_MESH_TREE);
            CHECK_EQ_INT(in[s].n_neighbours, in[s].n_children);
        }
    }
    CHECK_EQ_INT(strata_dcm_instructions(d, STRATA_MTREE_SOURCE, 1, in, K), K);
    CHECK_EQ_INT(in[0].algorithm, STRATA_ALG_FLOOD);
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(12)), 0);
    /* Member 8 leaves: the members whose links changed flood again, the
     * others keep the tree. */
    CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){8}, 1, in, K), K);
    uint8_t was_nb[9] = {0};
    for (unsigned j = 0; j < in[0].n_children; j++)
        if (in[0].children[j].node.v <= 8)
            was_nb[in[0].children[j].node.v] = 1;
    CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){8}), 0);
    nd = drain(d, dirty, 64);
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(13)), 1);
    int flooding = 0, kept = 0;
    for (uint64_t id = 1; id <= 7; id++) {
        int tree = strata_dcm_mesh_tree(d, (strata_node_id){id});
        CHECK(tree == !has_id(dirty, nd, id)); /* changed links: flood */
        if (was_nb[id])
            CHECK(!tree);
        flooding += !tree;
        kept += tree;
    }
    CHECK(flooding >= 3 && kept >= 1);
    /* and the tree again 10 s after their last change */
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(22)), 0);
    CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(23)), 1);
    for (uint64_t id = 1; id <= 7; id++)
        CHECK(strata_dcm_mesh_tree(d, (strata_node_id){id}));
    strata_dcm_del(d);
    /* TREE and FLOOD never change */
    cfg.mesh_top = STRATA_DCM_TOP_TREE;
    d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (d) {
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){1}, addr_of(1, 0), 4000), 0);
        CHECK(strata_dcm_mesh_tree(d, (strata_node_id){1}));
        CHECK_EQ_INT(strata_dcm_mesh_choose(d, STRATA_S(100)), 0);
    }
    strata_dcm_del(d);
    cfg.mesh_top = STRATA_DCM_TOP_AUTO + 1;
    CHECK(strata_dcm_new(NULL, &cfg) == NULL);
}

/* An erasure-coded cluster (SPEC C6): k data and n parity trees, each member
 * interior in at most one of the k + n, every member in every tree, its
 * instructions EC_TREE with n and the level for all k + n, a parity tree's
 * root children fed by the node named as its root, and heartbeats of k + n
 * parents read as matching the trees. */
static void test_ec_cluster(void)
{
    enum { N = 30, PARITY = 2, TREES = K + PARITY, SRC = 1000, ROOT = 2000 };
    strata_dcm_config cfg = {.id = {8},
                             .channel = {9},
                             .k = K,
                             .rate_kbps = RATE,
                             .algorithm = STRATA_ALG_EC_TREE,
                             .parity = PARITY,
                             .level = 2,
                             .seed = 5,
                             .stall_ns = STRATA_MS(3000)};
    strata_dcm_config bad = cfg;
    bad.parity = 0;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad.parity = STRATA_WIRE_MAX_PARITY + 1;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = cfg;
    bad.level = STRATA_WIRE_MAX_LEVEL + 1;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ_INT(strata_dcm_k(d), K);
    CHECK_EQ_INT(strata_dcm_trees(d), TREES);
    CHECK_EQ_INT(strata_dcm_algorithm(d), STRATA_ALG_EC_TREE);
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){SRC}, addr_of(SRC, 0), RATE, 2 * RATE),
                 0);
    for (uint64_t id = 1; id <= N; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0),
                                    (uint32_t)(1000 + 700 * (id % 4))),
                     0);
    /* Parity tree 1 (substream K + 1) is fed by another node. */
    strata_peer_ref root = {{ROOT}, addr_of(ROOT, 0)};
    CHECK_EQ_INT(strata_dcm_set_substream_root(d, K + PARITY, root), STRATA_ERR_RANGE);
    CHECK_EQ_INT(strata_dcm_set_substream_root(d, K + 1, root), 0);
    const strata_mtree *t = strata_dcm_tree(d);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    int interior_parity = 0;
    for (uint64_t id = 1; id <= N; id++) {
        strata_msg_instruction in[TREES];
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 3, in, TREES), TREES);
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 3, in, TREES - 1),
                     STRATA_ERR_NOSPACE);
        int interior = -1, trees_with_children = 0;
        for (int s = 0; s < TREES; s++) {
            CHECK_EQ_INT(in[s].substream, s);
            CHECK_EQ_INT(in[s].k, K);
            CHECK_EQ_INT(in[s].n, PARITY);
            CHECK_EQ_INT(in[s].level, 2);
            CHECK_EQ_INT(in[s].algorithm, STRATA_ALG_EC_TREE);
            /* Parity tree 0 (substream K) has no feeder: it carries
             * nothing, so nobody is placed in it (tree.h, idle trees). */
            if (s == K)
                CHECK(in[s].parent.node.v == 0 && in[s].n_children == 0);
            else
                CHECK(in[s].parent.node.v != 0);
            if (strata_dcm_parent_id(d, (strata_node_id){id}, (uint8_t)s).v ==
                STRATA_MTREE_SOURCE.v)
                CHECK_EQ_U64(in[s].parent.node.v, s == K + 1 ? (uint64_t)ROOT : (uint64_t)SRC);
            if (in[s].n_children) {
                trees_with_children++;
                interior = s;
            }
            uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
            CHECK(strata_wire_encode_instruction(enc, sizeof enc, &in[s]) > 0);
        }
        CHECK(trees_with_children <= 1);
        interior_parity += interior >= K;
        /* A heartbeat naming its k + n tree parents matches; one naming k does not. */
        strata_msg_heartbeat hb;
        memset(&hb, 0, sizeof hb);
        hb.node.v = id;
        hb.n_parents = TREES;
        strata_node_id tp[TREES];
        CHECK_EQ_INT(strata_dcm_parent_ids(d, hb.node, tp, TREES), TREES);
        for (int s = 0; s < TREES; s++)
            hb.parents[s].parent = tp[s];
        strata_dcm_heard heard;
        for (int i = 0; i < 2; i++) {
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_S(1u + (unsigned)i), &heard), 0);
            CHECK_EQ_INT(heard.resend, 0);
        }
        hb.n_parents = K;
        for (int i = 0; i < 2; i++)
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_S(3u + (unsigned)i), &heard), 0);
        CHECK_EQ_INT(heard.resend, 1);
    }
    CHECK(interior_parity > 0); /* the parity trees have interior members too */
    /* Parity tree 0 (substream K) has no feeder: the source sends no
     * parity, so it takes no source copy and nobody has a parent there
     * (a stall cannot be judged); the source's copies went to the other
     * trees. When a node comes to feed it, its pairs attach; when it
     * stops, they leave again. */
    for (uint64_t id = 1; id <= N; id++)
        CHECK_EQ_U64(strata_dcm_parent_id(d, (strata_node_id){id}, K).v, 0);
    CHECK_EQ_INT(strata_mtree_source_slots(t, K), 0);
    strata_peer_ref root0 = {{ROOT + 1}, addr_of(ROOT + 1, 0)};
    CHECK_EQ_INT(strata_dcm_set_substream_root(d, K, root0), 0);
    t = strata_dcm_tree(d);
    CHECK(strata_mtree_source_slots(t, K) > 0);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    for (uint64_t id = 1; id <= N; id++)
        CHECK(strata_dcm_parent_id(d, (strata_node_id){id}, K).v != 0);
    CHECK_EQ_INT(strata_dcm_set_substream_root(d, K, (strata_peer_ref){{0}, {0, 0}}), 0);
    t = strata_dcm_tree(d);
    for (uint64_t id = 1; id <= N; id++)
        CHECK_EQ_U64(strata_dcm_parent_id(d, (strata_node_id){id}, K).v, 0);
    char why0[128];
    CHECK_EQ_INT(strata_mtree_check(t, why0, sizeof why0), 0);
    /* Parity tree 1 is fed: a member whose parity stands still there
     * while the data advance has a stalled parent. */
    for (int fed = 1; fed < 2; fed++) {
        uint8_t s = (uint8_t)(K + fed);
        uint64_t who = 0;
        for (uint64_t id = 1; id <= N && !who; id++) {
            strata_node_id p = strata_dcm_parent_id(d, (strata_node_id){id}, s);
            if (p.v && p.v != SRC && p.v != ROOT && p.v != STRATA_MTREE_SOURCE.v)
                who = id; /* below another member, which could be judged */
        }
        CHECK(who != 0);
        strata_msg_heartbeat hb;
        memset(&hb, 0, sizeof hb);
        hb.node.v = who;
        hb.n_parents = TREES;
        strata_node_id tp[TREES];
        strata_dcm_parent_ids(d, hb.node, tp, TREES);
        strata_dcm_heard heard;
        int moved = 0;
        for (unsigned beat = 0; beat < 8 && who; beat++) {
            for (int x = 0; x < TREES; x++) {
                hb.parents[x].parent = tp[x];
                hb.parents[x].last_rx_seq = x == s ? 7 : 100 + 2u * K * beat;
            }
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, STRATA_S(100u + beat), &heard), 0);
            moved += heard.reparented;
        }
        CHECK_EQ_INT(moved > 0, fed);
    }
    /* Departures keep every member in every tree. */
    for (uint64_t id = 1; id <= N; id += 4)
        CHECK_EQ_INT(strata_dcm_remove(d, (strata_node_id){id}), 0);
    t = strata_dcm_tree(d); /* a departure may rebuild the trees at another share */
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    char why[128];
    CHECK_EQ_INT(strata_mtree_check(t, why, sizeof why), 0);
    strata_dcm_del(d);
}

/* A tree fed in the source's place by a node of another DCM (a region's
 * preferred node, in the mesh): a root child that stalls there names that
 * feeder (heard.feeder) and blames nobody in its own DCM; the mesh, where
 * the feeder's credit is kept (carried with strata_dcm_add_trusted),
 * halves it when the feeder's own heartbeat shows it held the packets (and
 * further stalls down to a strike), and leaves it alone when it lacked
 * them. The mesh's links keep the declared upload. */
static void test_capacity_feeders(void)
{
    const uint64_t HEAD = 500, WINDOW = STRATA_MS(3000);
    strata_dcm_config mc = mesh_config();
    mc.capacity_ns = WINDOW;
    for (int had = 0; had <= 1; had++) {
        strata_dcm *region = capacity_dcm(WINDOW), *mesh = strata_dcm_new(NULL, &mc);
        CHECK(mesh != NULL);
        if (!mesh) {
            strata_dcm_del(region);
            return;
        }
        CHECK_EQ_INT(strata_dcm_set_source(mesh, (strata_node_id){1000}, addr_of(1000, 0), RATE,
                                           8 * RATE),
                     0);
        for (uint64_t id = 600; id < 606; id++)
            CHECK_EQ_INT(strata_dcm_add_in_region(mesh, (strata_node_id){id}, addr_of(id, 0),
                                                  6 * RATE, (uint32_t)(id % 3)),
                         0);
        strata_dcm_trust probation = {.credit_kbps = STRATA_DCM_PROBATION_RATES * RATE};
        CHECK_EQ_INT(strata_dcm_add_trusted(mesh, (strata_node_id){HEAD}, addr_of(HEAD, 0),
                                            20 * RATE, 1, &probation),
                     0);
        size_t links = strata_dcm_child_links(mesh, (strata_node_id){HEAD}, 1u);
        CHECK(links >= 3);
        CHECK_EQ_U64(strata_dcm_member_believed_kbps(mesh, (strata_node_id){HEAD}),
                     STRATA_DCM_PROBATION_RATES * RATE);
        const uint8_t s0 = 1;
        CHECK_EQ_INT(strata_dcm_set_substream_root(region, s0,
                                                   (strata_peer_ref){{HEAD}, addr_of(HEAD, 0)}),
                     0);
        strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
        size_t nk = strata_mtree_children(strata_dcm_tree(region), STRATA_MTREE_SOURCE, s0, kids,
                                          STRATA_WIRE_MAX_CHILDREN);
        CHECK(nk >= 1);
        uint64_t child = nk ? kids[0].v : 1;
        CHECK_EQ_U64(strata_dcm_parent_id(region, (strata_node_id){child}, s0).v, HEAD);
        uint64_t cseq[K] = {0}, hseq[K] = {0};
        strata_msg_heartbeat hb;
        strata_dcm_heard heard, judged;
        int named = 0, demoted = 0, struck = 0;
        uint64_t now = 0;
        for (int beat = 1; beat <= 10 && !named; beat++) {
            now = STRATA_MS(10000 + (uint64_t)beat * 1000);
            for (int s = 0; s < K; s++) {
                hseq[s] += had || s != s0 ? 2 * K : 0;
                if (s != s0)
                    cseq[s] += 2 * K;
            }
            hb_of(mesh, HEAD, hseq, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(mesh, &hb, now, &heard), 0);
            CHECK(!heard.demoted && !heard.promoted);
            hb_of(region, child, cseq, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(region, &hb, now, &heard), 0);
            CHECK(!heard.demoted);
            for (uint8_t s = 0; s < K; s++)
                CHECK(heard.feeder[s].v == 0 || (s == s0 && heard.feeder[s].v == HEAD));
            if (heard.feeder[s0].v != HEAD)
                continue;
            named++;
            CHECK_EQ_U64(heard.feeder_child_seq[s0], cseq[s0]);
            CHECK_EQ_INT(strata_dcm_feeder_stalled(mesh, heard.feeder[s0], s0,
                                                   heard.feeder_child_seq[s0], now, &judged),
                         0);
            demoted += judged.demoted;
            struck += judged.struck;
        }
        CHECK_EQ_INT(named, 1);
        CHECK_EQ_INT(demoted, had);
        /* The child moved to another parent in s0; two more root children
         * stalling as it did: 1000 -> 500 -> 250, below a slot at the
         * share. */
        for (int more = 0; more < 2; more++) {
            CHECK_EQ_INT(strata_dcm_feeder_stalled(mesh, (strata_node_id){HEAD}, s0, cseq[s0],
                                                   now, &judged),
                         0);
            demoted += judged.demoted;
            struck += judged.struck;
        }
        strata_dcm_trust tr;
        CHECK_EQ_INT(strata_dcm_trust_of(mesh, (strata_node_id){HEAD}, &tr), 0);
        if (had) {
            CHECK_EQ_INT(demoted, 3);
            CHECK_EQ_INT(struck, 1);
            CHECK_EQ_U64(tr.credit_kbps, 0);
            CHECK_EQ_INT(tr.strikes, 1);
            CHECK_EQ_U64(strata_dcm_member_believed_kbps(mesh, (strata_node_id){HEAD}), 0);
        } else {
            CHECK_EQ_INT(demoted, 0);
            CHECK_EQ_U64(tr.credit_kbps, STRATA_DCM_PROBATION_RATES * RATE);
        }
        CHECK_EQ_U64(strata_dcm_child_links(mesh, (strata_node_id){HEAD}, 1u), links);
        /* A parity tree below (s >= the mesh's k) is judged against the
         * whole stream: a child at the head's furthest substream is not
         * behind, one 2k behind it is. A node that is no member is not
         * found. */
        uint64_t top = hseq[0] > hseq[s0] ? hseq[0] : hseq[s0];
        CHECK_EQ_INT(strata_dcm_feeder_stalled(mesh, (strata_node_id){HEAD}, K + 1, top, now,
                                               &judged),
                     0);
        CHECK(!judged.demoted);
        CHECK_EQ_INT(strata_dcm_feeder_stalled(mesh, (strata_node_id){HEAD}, K + 1, top - 2 * K,
                                               now, &judged),
                     0);
        CHECK_EQ_INT(judged.demoted, !had); /* a struck head is held: nothing more */
        CHECK_EQ_INT(strata_dcm_feeder_stalled(mesh, (strata_node_id){99}, 0, 0, STRATA_MS(60000),
                                               &judged),
                     STRATA_ERR_NOTFOUND);
        strata_dcm_del(mesh);
        strata_dcm_del(region);
    }
}

/* Stalls in the mesh (dcm_mesh.c): a member whose progress stands still
 * for stall_ns while a neighbour reports 2k packets more has that
 * neighbour's credit halved (heard.cut names it), judged again a stall
 * period later; neighbours no further than it, nothing; a member that
 * advances, nothing; with the check off, nothing. Here one member receives
 * and passes nothing on; every other stands still, and each of its
 * neighbours blames it. */
static void test_capacity_mesh_stalls(void)
{
    const uint64_t LIAR = 700;
    for (int check = 0; check <= 1; check++) {
        strata_dcm_config mc = mesh_config();
        mc.stall_ns = STRATA_MS(3000);
        mc.capacity_ns = check ? STRATA_MS(6000) : 0;
        strata_dcm *d = strata_dcm_new(NULL, &mc);
        CHECK(d != NULL);
        if (!d)
            return;
        CHECK_EQ_INT(
            strata_dcm_set_source(d, (strata_node_id){1000}, addr_of(1000, 0), RATE, 8 * RATE), 0);
        for (uint64_t id = 600; id < 608; id++)
            CHECK_EQ_INT(strata_dcm_add_in_region(d, (strata_node_id){id}, addr_of(id, 0),
                                                  6 * RATE, (uint32_t)(id % 3)),
                         0);
        CHECK_EQ_INT(strata_dcm_add_in_region(d, (strata_node_id){LIAR}, addr_of(LIAR, 0),
                                              20 * RATE, 1),
                     0);
        strata_node_id nb[STRATA_MESH_MAX_DEGREE];
        size_t n = strata_mesh_neighbours(strata_dcm_mesh(d), (strata_node_id){LIAR}, nb,
                                          STRATA_MESH_MAX_DEGREE);
        uint64_t victim = 0;
        for (size_t i = 0; i < n && !victim; i++)
            victim = nb[i].v != 1000 ? nb[i].v : 0;
        CHECK(victim != 0);
        uint64_t still[K] = {40, 41, 42, 43}, ahead[K] = {40, 41, 42, 43};
        strata_msg_heartbeat hb;
        strata_dcm_heard heard;
        int cuts = 0, others = 0;
        for (int beat = 0; beat <= 12; beat++) {
            uint64_t now = STRATA_MS(10000 + (uint64_t)beat * 500);
            for (int s = 0; s < K; s++)
                ahead[s] += 2 * K; /* the liar receives; the others stand still */
            for (uint64_t id = 600; id < 608; id++) {
                if (id == victim)
                    continue;
                hb_of(d, id, still, &hb);
                CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
                CHECK(heard.n_cut == 0 || (heard.n_cut == 1 && heard.cut[0].v == LIAR));
                others += heard.n_cut;
            }
            hb_of(d, LIAR, ahead, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            CHECK_EQ_INT(heard.n_cut, 0); /* nobody is ahead of it */
            hb_of(d, victim, still, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            /* Judged at 3 s and 6 s of standing still: beats 6 and 12. */
            CHECK(heard.n_cut <= (check && (beat == 6 || beat == 12)));
            if (heard.n_cut) {
                CHECK_EQ_U64(heard.cut[0].v, LIAR);
                CHECK_EQ_INT(heard.demoted, 1);
                cuts++;
            }
        }
        strata_dcm_trust tr;
        CHECK_EQ_INT(strata_dcm_trust_of(d, (strata_node_id){LIAR}, &tr), 0);
        /* 2000, halved by each cut: the third leaves no slot, a strike,
         * and a member struck and held is cut no more. */
        CHECK_EQ_INT(cuts + others, check ? 3 : 0);
        CHECK_EQ_U64(tr.credit_kbps, (check ? 0u : UINT32_MAX));
        CHECK_EQ_INT(tr.strikes, check);
        /* The victim advances: no more cuts. */
        for (int beat = 13; check && beat <= 24; beat++) {
            uint64_t now = STRATA_MS(10000 + (uint64_t)beat * 500);
            for (int s = 0; s < K; s++) {
                ahead[s] += 2 * K;
                still[s] += 2 * K;
            }
            hb_of(d, LIAR, ahead, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            hb_of(d, victim, still, &hb);
            CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, &heard), 0);
            CHECK_EQ_INT(heard.n_cut, 0);
        }
        strata_dcm_del(d);
    }
}

/* The parity a loss asks for: none extra without loss, more as it grows,
 * never outside [n_min, n_max], the binomial tail at the target. */
static void test_parity_for_loss(void)
{
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 0, 2, 6, 1000), 2);
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 1000, 2, 6, 1000), 2);
    /* 5 %: 6 symbols lose 3 or more with 2.1e-3, 7 lose 4 or more with 1.9e-4. */
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 50000, 2, 6, 1000), 3);
    /* 10 %: n = 3 leaves 2.7e-3, n = 4 leaves 4.3e-4. */
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 100000, 2, 6, 1000), 4);
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 100000, 2, 3, 1000), 3);
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 1000000, 2, 8, 1000), 8);
    CHECK_EQ_INT(strata_dcm_parity_for_loss(4, 2000000, 1, 8, 1000), 8);
    /* Monotone in the loss, for every k. */
    for (uint8_t k = 1; k <= 16; k++) {
        uint8_t prev = 0;
        for (uint32_t ppm = 0; ppm <= 400000; ppm += 5000) {
            uint8_t n = strata_dcm_parity_for_loss(k, ppm, 1, 8, 1000);
            CHECK(n >= prev && n >= 1 && n <= 8);
            prev = n;
        }
    }
}

/* A heartbeat of member id with its tree parents and the loss counters. */
static void loss_heartbeat(strata_dcm *d, uint64_t id, uint64_t played, uint64_t missed,
                           uint64_t recovered, uint64_t now, strata_dcm_heard *heard)
{
    strata_msg_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    hb.node.v = id;
    hb.n_parents = strata_dcm_trees(d);
    strata_node_id tp[STRATA_WIRE_MAX_TREES];
    strata_dcm_parent_ids(d, hb.node, tp, STRATA_WIRE_MAX_TREES);
    for (int s = 0; s < hb.n_parents; s++)
        hb.parents[s].parent = tp[s];
    hb.played_packets = played;
    hb.missed_packets = missed;
    hb.recovered_packets = recovered;
    CHECK_EQ_INT(strata_dcm_heartbeat(d, &hb, now, heard), 0);
}

/* Every member's instructions name n and hold k + n trees; a fed tree
 * reaches every member, an unfed one nobody; the trees keep their
 * invariants. */
static void check_parity_shape(strata_dcm *d, unsigned members, uint8_t n)
{
    uint8_t trees = (uint8_t)(K + n);
    CHECK_EQ_INT(strata_dcm_parity(d), n);
    CHECK_EQ_INT(strata_dcm_trees(d), trees);
    for (uint64_t id = 1; id <= members; id++) {
        strata_msg_instruction in[STRATA_WIRE_MAX_TREES];
        CHECK_EQ_INT(strata_dcm_instructions(d, (strata_node_id){id}, 1, in, STRATA_WIRE_MAX_TREES),
                     trees);
        for (int s = 0; s < trees; s++) {
            CHECK_EQ_INT(in[s].n, n);
            int fed = s < K || strata_dcm_substream_root(d, (uint8_t)s).node.v != 0;
            CHECK(fed ? in[s].parent.node.v != 0 : in[s].parent.node.v == 0);
        }
    }
    char why[128];
    CHECK_EQ_INT(strata_mtree_check(strata_dcm_tree(d), why, sizeof why), 0);
    CHECK_EQ_U64(strata_mtree_detached(strata_dcm_tree(d)), 0);
}

/* Parity from loss (dcm.h): a lossy window raises n at once, to what the
 * loss asks; quiet windows lower it one tree per three; a member that
 * joined again (counters back at zero) adds nothing; a fixed n never
 * moves; new trees start unfed, and fed they reach every member. */
static void test_parity_from_loss(void)
{
    enum { N = 24, SRC = 1000, ROOT = 3000, WIN_S = 10 };
    strata_dcm_config cfg = {.id = {8},
                             .channel = {9},
                             .k = K,
                             .rate_kbps = RATE,
                             .algorithm = STRATA_ALG_EC_TREE,
                             .parity = 2,
                             .parity_max = 5,
                             .parity_window_ns = STRATA_S(WIN_S),
                             .level = 2,
                             .seed = 5};
    strata_dcm_config bad = cfg;
    bad.parity_max = 1;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad.parity_max = STRATA_WIRE_MAX_PARITY + 1;
    CHECK(strata_dcm_new(NULL, &bad) == NULL);
    bad = cfg;
    bad.k = STRATA_WIRE_MAX_SUBSTREAMS;
    bad.parity_max = STRATA_WIRE_MAX_PARITY + 0; /* 16 + 8 = 24 trees: fits */
    strata_dcm *wide = strata_dcm_new(NULL, &bad);
    CHECK(wide != NULL);
    strata_dcm_del(wide);
    strata_dcm *d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    CHECK_EQ_INT(strata_dcm_parity_max(d), 5);
    CHECK_EQ_INT(strata_dcm_set_source(d, (strata_node_id){SRC}, addr_of(SRC, 0), RATE, 4 * RATE),
                 0);
    for (uint64_t id = 1; id <= N; id++)
        CHECK_EQ_INT(strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 3 * RATE), 0);
    for (uint8_t s = K; s < K + 2; s++)
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){{ROOT + s}, addr_of(ROOT + s, 0)});
    check_parity_shape(d, N, 2);
    CHECK_EQ_INT(strata_dcm_set_parity(d, 1), STRATA_ERR_RANGE);
    CHECK_EQ_INT(strata_dcm_set_parity(d, 6), STRATA_ERR_RANGE);

    /* Heartbeats every second, 100 packets due per member and second. A
     * loss of 10 % asks for 4 parity trees. */
    uint64_t played[N + 1] = {0}, missed[N + 1] = {0}, recovered[N + 1] = {0};
    strata_dcm_heard heard;
    uint64_t t = 0;
    int changes = 0;
    for (; t <= STRATA_S(WIN_S + 1) && strata_dcm_parity(d) == 2; t += STRATA_S(1)) {
        for (uint64_t id = 1; id <= N; id++) {
            played[id] += 99;
            missed[id] += 1;
            recovered[id] += 9;
            loss_heartbeat(d, id, played[id], missed[id], recovered[id], t, &heard);
            changes += heard.parity_changed;
        }
    }
    CHECK_EQ_INT(changes, 1);
    strata_dcm_loss loss;
    strata_dcm_loss_stats(d, &loss);
    CHECK_EQ_U64(loss.last_ppm, 100000);
    CHECK_EQ_U64(loss.raises, 1);
    CHECK_EQ_INT(strata_dcm_parity(d), 4);
    /* The new trees start unfed; every member is dirty (its instructions
     * name n), the source too. */
    strata_node_id dirty[N + 2];
    CHECK_EQ_INT((int)strata_dcm_take_dirty(d, dirty, N + 2), N + 1);
    check_parity_shape(d, N, 4);
    for (uint8_t s = K + 2; s < K + 4; s++)
        strata_dcm_set_substream_root(d, s, (strata_peer_ref){{ROOT + s}, addr_of(ROOT + s, 0)});
    check_parity_shape(d, N, 4);

    /* A member whose counters start over (it joined again) and one whose
     * heartbeats say nothing new add no loss. Quiet windows: n goes down
     * by one after three of them, again after three more, and stops at 2. */
    played[1] = missed[1] = recovered[1] = 0;
    uint64_t quiet = t, until = t + STRATA_S(8 * WIN_S), at[8] = {0};
    for (; t <= until; t += STRATA_S(1)) {
        for (uint64_t id = 1; id <= N; id++) {
            played[id] += 100;
            loss_heartbeat(d, id, played[id], missed[id], recovered[id], t, &heard);
        }
        uint8_t n = strata_dcm_parity(d);
        if (!at[n])
            at[n] = t;
    }
    /* Three whole windows after the raise (its window closed at the last
     * heartbeats before `quiet`) before each step down. */
    CHECK_EQ_U64(at[3], quiet - STRATA_S(1) + STRATA_S(3 * WIN_S));
    CHECK_EQ_U64(at[2], at[3] + STRATA_S(3 * WIN_S));
    strata_dcm_loss_stats(d, &loss);
    CHECK_EQ_U64(loss.last_ppm, 0);
    CHECK_EQ_U64(loss.lowers, 2);
    check_parity_shape(d, N, 2);
    /* A tree that stopped lost its feeder. */
    CHECK_EQ_U64(strata_dcm_substream_root(d, K + 2).node.v, 0);
    strata_dcm_del(d);

    /* Without parity_max, n stays. */
    cfg.parity_max = 0;
    d = strata_dcm_new(NULL, &cfg);
    CHECK(d != NULL);
    if (!d)
        return;
    strata_dcm_set_source(d, (strata_node_id){SRC}, addr_of(SRC, 0), RATE, 4 * RATE);
    for (uint64_t id = 1; id <= N; id++)
        strata_dcm_add(d, (strata_node_id){id}, addr_of(id, 0), 3 * RATE);
    memset(played, 0, sizeof played);
    for (t = 0; t <= STRATA_S(3 * WIN_S); t += STRATA_S(1))
        for (uint64_t id = 1; id <= N; id++) {
            played[id] += 50;
            loss_heartbeat(d, id, played[id], 0, played[id], t, &heard);
            CHECK_EQ_INT(heard.parity_changed, 0);
        }
    CHECK_EQ_INT(strata_dcm_parity(d), 2);
    CHECK_EQ_INT(strata_dcm_set_parity(d, 3), STRATA_ERR_RANGE);
    strata_dcm_del(d);
}

int main(void)
{
    test_config();
    test_basic_flow();
    test_partial_drain();
    test_upload_headroom();
    test_dirty_property();
    test_alloc_failures();
    test_heartbeats();
    test_capacity();
    test_capacity_stalls();
    test_capacity_feeders();
    test_capacity_mesh_stalls();
    test_restore_keeps_full_share();
    test_mesh();
    test_mesh_leaves();
    test_mesh_tree();
    test_mesh_auto();
    test_ec_cluster();
    test_parity_for_loss();
    test_parity_from_loss();
    return test_summary("test_dcm");
}
