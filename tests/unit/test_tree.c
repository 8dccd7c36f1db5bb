/*
 * Unit tests of the bottom-level multi-tree (core/tree.c) and of the id map
 * it uses (core/idmap.c).
 *
 * Most cases are a table of short strings:
 *   setup   "k=2 rate=1000 src=2000 [max=N] [inc] | a:2000 b:1000 c:0"
 *           nodes named a.., each with its upload in kbps; built in bulk
 *           (add_detached + rebuild) unless "inc" asks for one add each;
 *   ops     applied after the setup: "+e:500" add, "=e:500" add_detached,
 *           "-a" remove, "~c/0" reparent c in tree 0, "!" rebuild,
 *           "R2000" set the rate, "*a:500" set a's upload in place;
 *   expect  the trees, one "tN[...]" per tree: "S:a,b" lists the source's
 *           children, "a:c,d" those of a, "-:e" the detached nodes; names
 *           sorted, childless parents omitted;
 *   dirty   the dirty set after the ops (drained after setup), "S" for the
 *           source, names sorted; NULL skips the check.
 */
#include "strata/tree.h"
#include "strata/wire.h"

#include "idmap.h"
#include "testutil.h"

enum { MAX_NAMES = 32 };

struct harness {
    strata_mtree *t;
    unsigned k;
    int nnames;
    char names[MAX_NAMES][8];
};

static uint64_t find_name(const struct harness *h, const char *name, size_t len)
{
    for (int i = 0; i < h->nnames; i++)
        if (strlen(h->names[i]) == len && memcmp(h->names[i], name, len) == 0)
            return 100u + (uint64_t)i;
    return 0;
}

/* Ids are 100, 101, ... in order of first appearance. */
static uint64_t name_id(struct harness *h, const char *name, size_t len, int create)
{
    uint64_t id = find_name(h, name, len);
    if (id || !create || h->nnames == MAX_NAMES || len >= sizeof h->names[0])
        return id;
    memcpy(h->names[h->nnames], name, len);
    h->names[h->nnames][len] = '\0';
    return 100u + (uint64_t)h->nnames++;
}

static const char *id_name(const struct harness *h, strata_node_id id)
{
    if (id.v == STRATA_MTREE_SOURCE.v)
        return "S";
    if (id.v >= 100 && id.v < 100u + (uint64_t)h->nnames)
        return h->names[id.v - 100];
    return "?";
}

static uint64_t nid(struct harness *h, const char *name)
{
    return name_id(h, name, strlen(name), 0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends "name:child,child" for one parent, children sorted. */
static void dump_children(const struct harness *h, strata_node_id id, const char *label, unsigned s,
                          char *buf, size_t len, int *first)
{
    strata_node_id kids[STRATA_WIRE_MAX_CHILDREN];
    const char *kn[STRATA_WIRE_MAX_CHILDREN];
    size_t n = strata_mtree_children(h->t, id, (uint8_t)s, kids, STRATA_WIRE_MAX_CHILDREN);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        kn[i] = id_name(h, kids[i]);
    qsort(kn, n, sizeof kn[0], cmp_str);
    size_t off = strlen(buf);
    off += (size_t)snprintf(buf + off, len - off, "%s%s:", *first ? "" : " ", label);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", kn[i]);
    *first = 0;
}

static void dump(const struct harness *h, char *buf, size_t len)
{
    const char *sorted[MAX_NAMES];
    for (int i = 0; i < h->nnames; i++)
        sorted[i] = h->names[i];
    qsort(sorted, (size_t)h->nnames, sizeof sorted[0], cmp_str);
    buf[0] = '\0';
    for (unsigned s = 0; s < h->k; s++) {
        size_t off = strlen(buf);
        snprintf(buf + off, len - off, "%st%u[", s ? " " : "", s);
        int first = 1;
        dump_children(h, STRATA_MTREE_SOURCE, "S", s, buf, len, &first);
        for (int i = 0; i < h->nnames; i++) {
            strata_node_id id = {find_name(h, sorted[i], strlen(sorted[i]))};
            dump_children(h, id, sorted[i], s, buf, len, &first);
        }
        int ndet = 0;
        for (int i = 0; i < h->nnames; i++) {
            strata_node_id id = {find_name(h, sorted[i], strlen(sorted[i]))};
            if (strata_mtree_interior_tree(h->t, id) == STRATA_ERR_NOTFOUND)
                continue; /* removed */
            if (strata_mtree_parent(h->t, id, (uint8_t)s).v != STRATA_MTREE_NONE.v)
                continue;
            off = strlen(buf);
            snprintf(buf + off, len - off, "%s%s", ndet++ ? "," : (first ? "-:" : " -:"),
                     sorted[i]);
            first = 0;
        }
        off = strlen(buf);
        snprintf(buf + off, len - off, "]");
    }
}

static void dump_dirty(struct harness *h, char *buf, size_t len)
{
    strata_node_id ids[64];
    const char *nm[64];
    size_t n = strata_mtree_take_dirty(h->t, ids, 64);
    for (size_t i = 0; i < n; i++)
        nm[i] = id_name(h, ids[i]);
    qsort(nm, n, sizeof nm[0], cmp_str);
    buf[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", nm[i]);
}

/* Next space-separated token of *p; returns its length (0 at the end). */
static size_t token(const char **p, const char **tok)
{
    while (**p == ' ')
        (*p)++;
    *tok = *p;
    while (**p && **p != ' ')
        (*p)++;
    return (size_t)(*p - *tok);
}

static int check_ok(const strata_mtree *t, const char *ctx)
{
    char why[200];
    int err = strata_mtree_check(t, why, sizeof why);
    if (err)
        fprintf(stderr, "%s: check failed: %s\n", ctx, why);
    return err;
}

/* Parses "name:upload" and adds the node (attach: incremental add). */
static int add_token(struct harness *h, const char *tok, size_t len, int attach)
{
    const char *colon = memchr(tok, ':', len);
    if (!colon)
        return -1;
    uint64_t id = name_id(h, tok, (size_t)(colon - tok), 1);
    uint32_t up = (uint32_t)strtoul(colon + 1, NULL, 10);
    strata_node_id nid_ = {id};
    return attach ? strata_mtree_add(h->t, nid_, up) : strata_mtree_add_detached(h->t, nid_, up);
}

static int setup(struct harness *h, const char *spec)
{
    strata_mtree_config cfg = {.k = 1, .rate_kbps = 1000};
    int inc = 0;
    const char *p = spec, *tok;
    size_t len;
    memset(h, 0, sizeof *h);
    while ((len = token(&p, &tok)) && *tok != '|') {
        if (!strncmp(tok, "k=", 2))
            cfg.k = (uint8_t)atoi(tok + 2);
        else if (!strncmp(tok, "rate=", 5))
            cfg.rate_kbps = (uint32_t)atol(tok + 5);
        else if (!strncmp(tok, "src=", 4))
            cfg.source_upload_kbps = (uint32_t)atol(tok + 4);
        else if (!strncmp(tok, "max=", 4))
            cfg.max_children = (uint32_t)atol(tok + 4);
        else if (!strncmp(tok, "inc", 3))
            inc = 1;
    }
    h->t = strata_mtree_new(NULL, &cfg);
    if (!h->t)
        return -1;
    h->k = cfg.k;
    while ((len = token(&p, &tok)))
        if (add_token(h, tok, len, inc))
            return -1;
    if (!inc && strata_mtree_rebuild(h->t))
        return -1;
    return 0;
}

static int apply_ops(struct harness *h, const char *ops)
{
    const char *p = ops, *tok;
    size_t len;
    while ((len = token(&p, &tok))) {
        int err = 0;
        char name[8] = {0};
        switch (tok[0]) {
        case '+':
            err = add_token(h, tok + 1, len - 1, 1);
            break;
        case '=':
            err = add_token(h, tok + 1, len - 1, 0);
            break;
        case '-': {
            strata_node_id id = {name_id(h, tok + 1, len - 1, 0)};
            err = strata_mtree_remove(h->t, id);
            break;
        }
        case '~': {
            const char *slash = memchr(tok, '/', len);
            if (!slash)
                return -1;
            strata_node_id id = {name_id(h, tok + 1, (size_t)(slash - tok - 1), 0)};
            strata_node_id before = strata_mtree_parent(h->t, id, (uint8_t)atoi(slash + 1));
            err = strata_mtree_reparent(h->t, id, (uint8_t)atoi(slash + 1));
            /* Whatever else happens, id never ends up back under the old parent. */
            if (!err && before.v != STRATA_MTREE_NONE.v)
                CHECK(strata_mtree_parent(h->t, id, (uint8_t)atoi(slash + 1)).v != before.v);
            break;
        }
        case '*': {
            const char *colon = memchr(tok, ':', len);
            if (!colon)
                return -1;
            strata_node_id id = {name_id(h, tok + 1, (size_t)(colon - tok - 1), 0)};
            err = strata_mtree_set_upload(h->t, id, (uint32_t)atol(colon + 1));
            break;
        }
        case '!':
            err = strata_mtree_rebuild(h->t);
            break;
        case 'R':
            err = strata_mtree_set_rate(h->t, (uint32_t)atol(tok + 1));
            break;
        default:
            return -1;
        }
        memcpy(name, tok, len < sizeof name - 1 ? len : sizeof name - 1);
        if (err) {
            fprintf(stderr, "op %s: %s\n", name, strata_strerror(err));
            return err;
        }
        if (check_ok(h->t, name))
            return -1;
    }
    return 0;
}

struct tcase {
    const char *what;
    const char *setup;
    const char *ops;
    const char *expect;
    const char *dirty;
    int detached;
};

static const struct tcase cases[] = {
    {"interior trees spread capacity, leaves fill breadth-first",
     "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0", "", "t0[S:a,b a:c,d] t1[S:a,b b:c,d]", NULL,
     0},
    {"incremental add builds the same trees", "k=2 rate=1000 src=2000 inc | a:2000 b:1000 c:0 d:0",
     "", "t0[S:a,b a:c,d] t1[S:a,b b:c,d]", NULL, 0},
    {"zero capacity: leaves everywhere, fed by the source", "k=3 rate=900 src=0 | a:0 b:0 c:299",
     "", "t0[S:a,b,c] t1[S:a,b,c] t2[S:a,b,c]", NULL, 0},
    {"source feeds what peers cannot", "k=2 rate=1000 src=3000 | a:400 b:400 c:0", "",
     "t0[S:a,b,c] t1[S:a,b,c]", NULL, 0},
    {"source full: the rest stays detached", "k=2 rate=1000 src=1000 | a:0 b:0 c:0", "",
     "t0[S:a -:b,c] t1[S:a -:b,c]", NULL, 4},
    {"source remainder goes to the first trees", "k=2 rate=1000 src=1500 | a:0 b:0", "",
     "t0[S:a,b] t1[S:a -:b]", NULL, 1},
    {"highest capacity nearest the source",
     "k=1 rate=1000 src=1000 max=2 | d:0 e:0 f:0 c:1000 a:5000 b:5000", "",
     "t0[S:a a:b,c b:d,e c:f]", NULL, 0},
    {"remove interior: orphans move up, full tree detaches one leaf",
     "k=1 rate=1000 src=1000 max=2 | d:0 e:0 f:0 c:1000 a:5000 b:5000", "-a",
     "t0[S:b b:c,d c:f -:e]", "S,b,c,e", 1},
    {"remove interior: orphans re-attach under a sibling orphan",
     "k=1 rate=1000 src=1000 max=3 | a:3000 b:2000 c:0 d:0", "-a", "t0[S:b b:c,d]", "S,b,c,d", 0},
    {"remove a leaf: only its parents change", "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0",
     "-c", "t0[S:a,b a:d] t1[S:a,b b:d]", "a,b", 0},
    {"add: min-depth spare slot, detached where the tree is full",
     "k=2 rate=1000 src=1000 | a:2000 b:1000 c:0", "+d:0", "t0[S:a a:b,c,d] t1[S:b b:a,c -:d]",
     "a,d", 1},
    {"add: a tree that needs a source copy takes one a roomier tree can spare",
     "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0", "+e:0",
     "t0[S:a a:b,c,d,e] t1[S:a,b,e b:c,d]", "S,a,b,e", 0},
    {"add interior into a full tree: takes the shallowest leaf's place, detached attach under it",
     "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0", "+e:0 +f:1000",
     "t0[S:a,f a:b,c,d,e] t1[S:b,f b:c,d f:a,e]", "S,a,b,e,f", 0},
    {"add interior into a full tree: takes a leaf's place",
     "k=1 rate=1000 src=1000 max=2 inc | d:0", "+a:2000", "t0[S:a a:d]", "S,a,d", 0},
    {"reparent avoids the old parent", "k=1 rate=1000 src=2000 | a:2000 b:2000 c:0", "~c/0",
     "t0[S:a,b b:c]", "a,b,c", 0},
    {"reparent never hangs a node under its own subtree",
     "k=1 rate=1000 src=1000 max=2 | a:2000 b:2000 c:0", "~a/0", "t0[S:b b:a,c]", "S,a,b,c", 0},
    {"reparent of a leaf in a full tree swaps with another leaf",
     "k=1 rate=1000 src=2000 max=2 | a:1000 b:0 c:0", "~c/0", "t0[S:a,c a:b]", "S,a,b,c", 0},
    {"rebuild after the avoided parent: same trees, nothing dirty",
     "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0", "!", "t0[S:a,b a:c,d] t1[S:a,b b:c,d]", "",
     0},
    {"add_detached waits for rebuild", "k=2 rate=1000 src=2000 | a:2000 b:1000", "=c:0 =d:0",
     "t0[S:a,b -:c,d] t1[S:a,b -:c,d]", "c,d", 4},
    {"set_rate recomputes capacity", "k=1 rate=1000 src=2000 | a:1000 b:0 c:0", "R2000",
     "t0[S:a -:b,c]", "S,a,b,c", 2},
    {"max_children caps capacity", "k=1 rate=100 src=0 max=2 | a:100000 b:0 c:0 d:0 e:0", "",
     "t0[S:a,b a:c,d -:e]", NULL, 1},
    {"tiny region: the source's copies follow need, not the even split",
     "k=4 rate=1000 src=2000 inc | a:6000 b:3000 c:2000", "",
     "t0[S:a,b a:c] t1[S:a,b b:c] t2[S:c c:a,b] t3[S:a,b,c]", NULL, 0},
    {"tiny region built in bulk: the same shares", "k=4 rate=1000 src=2000 | a:6000 b:3000 c:2000",
     "", "t0[S:a,b a:c] t1[S:a,b b:c] t2[S:c c:a,b] t3[S:a,b,c]", NULL, 0},
    {"tiny region: a fourth interior member brings back the even split",
     "k=4 rate=1000 src=2000 inc | a:6000 b:3000 c:2000", "+d:1000",
     "t0[S:a,b a:c,d] t1[S:a,b b:c,d] t2[S:c,d c:a,b] t3[S:b,d d:a,c]", "S,a,b,c,d", 0},
    {"tiny region: that member leaving restores the shares by need",
     "k=4 rate=1000 src=2000 inc | a:6000 b:3000 c:2000", "+d:1000 -d",
     "t0[S:a,b a:c] t1[S:a,b b:c] t2[S:c c:a,b] t3[S:a,b,c]", "S,a,b,c", 0},
    {"one uploader, the rest leaves everywhere: its tree lends the others copies",
     "k=4 rate=1000 src=2500 inc | a:3000 b:0 c:0", "",
     "t0[S:a a:b,c] t1[S:a,b,c] t2[S:a,b,c] t3[S:a,b,c]", NULL, 0},
    {"only leaves: the even split is what they need", "k=4 rate=1000 src=2000 inc | a:0 b:0", "",
     "t0[S:a,b] t1[S:a,b] t2[S:a,b] t3[S:a,b]", NULL, 0},
    {"source short of the needs: water-filled, lowest-numbered trees first",
     "k=4 rate=1000 src=1500 | a:3000 b:0 c:0", "",
     "t0[S:a a:b,c] t1[S:a,b -:c] t2[S:a,b -:c] t3[S:a -:b,c]", NULL, 4},
    {"a node alone", "k=4 rate=1000 src=0 | a:5000", "", "t0[S:a] t1[S:a] t2[S:a] t3[S:a]", NULL,
     0},
    {"remove the last node", "k=2 rate=1000 src=0 | a:5000", "-a", "t0[] t1[]", "S", 0},
    {"set_upload lower: the cheapest children move (leaves of the tree first), nothing else",
     "k=1 rate=1000 src=1000 max=4 | a:4000 b:1000 c:0 d:0 e:0", "*a:2000", "t0[S:a a:b,c b:e -:d]",
     "a,b,d,e", 1},
    {"set_upload to nothing: a pure leaf, its children elsewhere or detached",
     "k=2 rate=1000 src=2000 | a:4000 b:2000 c:0 d:0 e:0", "*a:0",
     "t0[S:a,b,e -:c,d] t1[S:b b:a,c,d,e]", "S,a,b,c,d,e", 2},
    {"set_upload of a pure leaf: interior in place, where capacity is lowest",
     "k=2 rate=1000 src=1000 | a:2000 b:0 c:0 d:0", "*b:2000", "t0[S:a a:b,c,d] t1[S:b b:a,c,d]",
     "S,a,b,c,d", 0},
    {"set_upload to the same slots moves nothing", "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0",
     "*a:2400", "t0[S:a,b a:c,d] t1[S:a,b b:c,d]", "", 0},
};

static void run_case(const struct tcase *c)
{
    struct harness h;
    char got[1024], dirty[512];
    if (setup(&h, c->setup)) {
        fprintf(stderr, "case \"%s\": setup failed\n", c->what);
        CHECK(0);
        strata_mtree_del(h.t);
        return;
    }
    CHECK_EQ_INT(check_ok(h.t, c->what), 0);
    dump_dirty(&h, dirty, sizeof dirty);
    if (apply_ops(&h, c->ops)) {
        fprintf(stderr, "case \"%s\": ops failed\n", c->what);
        CHECK(0);
        strata_mtree_del(h.t);
        return;
    }
    dump(&h, got, sizeof got);
    test_checks++;
    if (strcmp(got, c->expect) != 0) {
        test_failures++;
        fprintf(stderr, "case \"%s\":\n  expected %s\n  got      %s\n", c->what, c->expect, got);
    }
    if (c->dirty) {
        dump_dirty(&h, dirty, sizeof dirty);
        test_checks++;
        if (strcmp(dirty, c->dirty) != 0) {
            test_failures++;
            fprintf(stderr, "case \"%s\": dirty expected {%s} got {%s}\n", c->what, c->dirty,
                    dirty);
        }
    }
    if ((size_t)c->detached != strata_mtree_detached(h.t)) {
        fprintf(stderr, "case \"%s\": detached\n", c->what);
        CHECK_EQ_U64(strata_mtree_detached(h.t), c->detached);
    }
    strata_mtree_del(h.t);
}

/* Depths, interior trees and queries on the first table case. */
static void test_queries(void)
{
    struct harness h;
    CHECK_EQ_INT(setup(&h, "k=2 rate=1000 src=2000 | a:2000 b:1000 c:0 d:0"), 0);
    strata_mtree *t = h.t;
    strata_node_id a = {nid(&h, "a")}, b = {nid(&h, "b")}, c = {nid(&h, "c")};
    CHECK_EQ_INT(strata_mtree_interior_tree(t, a), 0);
    CHECK_EQ_INT(strata_mtree_interior_tree(t, b), 1);
    CHECK_EQ_INT(strata_mtree_interior_tree(t, c), -1);
    CHECK_EQ_INT(strata_mtree_depth(t, STRATA_MTREE_SOURCE, 0), 0);
    CHECK_EQ_INT(strata_mtree_depth(t, a, 0), 1);
    CHECK_EQ_INT(strata_mtree_depth(t, c, 0), 2);
    CHECK_EQ_INT(strata_mtree_depth(t, c, 1), 2);
    CHECK_EQ_INT(strata_mtree_depth(t, a, 2), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mtree_depth(t, (strata_node_id){999}, 0), STRATA_ERR_NOTFOUND);
    CHECK_EQ_U64(strata_mtree_parent(t, c, 0).v, a.v);
    CHECK_EQ_U64(strata_mtree_parent(t, a, 0).v, STRATA_MTREE_SOURCE.v);
    CHECK_EQ_U64(strata_mtree_parent(t, a, 5).v, STRATA_MTREE_NONE.v);
    CHECK_EQ_U64(strata_mtree_parent(t, (strata_node_id){999}, 0).v, STRATA_MTREE_NONE.v);
    CHECK_EQ_INT(strata_mtree_interior_tree(t, (strata_node_id){999}), STRATA_ERR_NOTFOUND);
    strata_node_id out[1];
    CHECK_EQ_U64(strata_mtree_children(t, a, 0, out, 1), 2); /* total, though max is 1 */
    CHECK(out[0].v == c.v || out[0].v == nid(&h, "d"));
    CHECK_EQ_U64(strata_mtree_children(t, a, 1, out, 1), 0); /* a is a leaf in tree 1 */
    CHECK_EQ_U64(strata_mtree_children(t, STRATA_MTREE_SOURCE, 1, out, 0), 2);
    CHECK_EQ_U64(strata_mtree_count(t), 4);
    CHECK_EQ_INT(strata_mtree_k(t), 2);
    strata_mtree_stats st;
    strata_mtree_get_stats(t, &st);
    CHECK_EQ_U64(st.nodes, 4);
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK_EQ_U64(st.source_children, 4);
    CHECK_EQ_INT(st.max_depth, 2);
    CHECK(st.mean_depth > 1.49 && st.mean_depth < 1.51);
    strata_mtree_del(t);
}

static void test_errors(void)
{
    strata_mtree_config cfg = {.k = 2, .rate_kbps = 1000};
    CHECK(strata_mtree_new(NULL, NULL) == NULL);
    strata_mtree_config bad = cfg;
    bad.k = 0;
    CHECK(strata_mtree_new(NULL, &bad) == NULL);
    bad.k = STRATA_WIRE_MAX_TREES + 1;
    CHECK(strata_mtree_new(NULL, &bad) == NULL);
    bad = cfg;
    bad.rate_kbps = 0;
    CHECK(strata_mtree_new(NULL, &bad) == NULL);
    bad = cfg;
    bad.max_children = STRATA_WIRE_MAX_CHILDREN + 1;
    CHECK(strata_mtree_new(NULL, &bad) == NULL);

    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    CHECK(t != NULL);
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){0}, 100), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mtree_add(t, STRATA_MTREE_SOURCE, 100), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){7}, 100), 0);
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){7}, 100), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_mtree_add_detached(t, (strata_node_id){7}, 100), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){8}), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mtree_reparent(t, (strata_node_id){8}, 0), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mtree_reparent(t, (strata_node_id){7}, 2), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mtree_set_rate(t, 0), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){7}), 0);
    CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){7}), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(check_ok(t, "errors"), 0);
    strata_mtree_del(t);
    strata_mtree_del(NULL);
}

/* Reparenting a detached node is harmless; draining dirty in small chunks
 * returns every entry exactly once. */
static void test_dirty_drain(void)
{
    strata_mtree_config cfg = {.k = 3, .rate_kbps = 1000, .source_upload_kbps = 0};
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    for (uint64_t i = 1; i <= 50; i++)
        CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){i}, (uint32_t)(i % 3) * 700), 0);
    strata_node_id out[7];
    int seen[52] = {0}, src = 0;
    size_t n, total = 0;
    while ((n = strata_mtree_take_dirty(t, out, 7)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (out[i].v == STRATA_MTREE_SOURCE.v) {
                src++;
            } else {
                CHECK(out[i].v >= 1 && out[i].v <= 50);
                if (out[i].v <= 50)
                    seen[out[i].v]++;
            }
        }
        total += n;
    }
    CHECK_EQ_INT(src, 1);
    for (int i = 1; i <= 50; i++)
        CHECK_EQ_INT(seen[i], 1);
    CHECK_EQ_U64(total, 51);
    CHECK_EQ_U64(strata_mtree_take_dirty(t, out, 7), 0);
    CHECK_EQ_INT(check_ok(t, "drain"), 0);
    strata_mtree_del(t);
}

/* An erasure-coded cluster's multi-tree has k + n trees, up to 24: every
 * tree's dirty bit survives the 32-bit masks, each node is interior in one
 * tree, and departures keep every pair attached. */
static void test_k_plus_n_trees(void)
{
    enum { TREES = STRATA_WIRE_MAX_TREES, N = 120 };
    strata_mtree_config cfg = {.k = TREES, .rate_kbps = 6000, .source_upload_kbps = 0};
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    CHECK(t != NULL);
    cfg.k = TREES + 1;
    CHECK(strata_mtree_new(NULL, &cfg) == NULL);
    if (!t)
        return;
    for (uint64_t i = 1; i <= N; i++)
        CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){i}, 1000 + (uint32_t)(i % 5) * 1000), 0);
    strata_node_id out[16];
    uint32_t subs[16], src_subs = 0;
    size_t n;
    while ((n = strata_mtree_take_dirty_subs(t, out, subs, 16)) > 0)
        for (size_t i = 0; i < n; i++)
            if (out[i].v == STRATA_MTREE_SOURCE.v)
                src_subs |= subs[i];
    CHECK_EQ_U64(src_subs, (1u << TREES) - 1u); /* the source has root children in all 24 */
    int interior_in_last = 0;
    for (uint64_t i = 1; i <= N; i++)
        interior_in_last += strata_mtree_interior_tree(t, (strata_node_id){i}) == TREES - 1;
    CHECK(interior_in_last > 0);
    for (uint64_t i = 1; i <= N; i += 3)
        CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){i}), 0);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    CHECK_EQ_INT(check_ok(t, "k + n trees"), 0);
    strata_mtree_del(t);
}

/* Idle trees (a source-fed EC cluster's parity trees) get no interior
 * node: slots there would carry nothing. Nodes that came before a tree went
 * idle stay where they are; once it is active again, newcomers fill it.
 * With every tree idle the nodes are spread as usual. */
static void test_idle_interior(void)
{
    enum { K = 4, TREES = 6, N = 30 };
    strata_mtree_config cfg = {.k = TREES, .rate_kbps = 2000, .source_upload_kbps = 8000};
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    CHECK(t != NULL);
    if (!t)
        return;
    strata_mtree_set_idle(t, K, 1);
    strata_mtree_set_idle(t, K + 1, 1);
    for (uint64_t i = 1; i <= N; i++)
        CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){i}, 500 + (uint32_t)(i % 4) * 1000), 0);
    int per_tree[TREES] = {0};
    for (uint64_t i = 1; i <= N; i++) {
        int s = strata_mtree_interior_tree(t, (strata_node_id){i});
        if (s >= 0)
            per_tree[s]++;
    }
    CHECK_EQ_INT(per_tree[K], 0);
    CHECK_EQ_INT(per_tree[K + 1], 0);
    for (int s = 0; s < K; s++)
        CHECK(per_tree[s] >= N / K - 2);
    CHECK_EQ_U64(strata_mtree_detached(t), 0); /* the data trees hold everyone */
    CHECK_EQ_INT(check_ok(t, "idle trees"), 0);
    /* Tree K becomes active: nodes move there from the others until it
     * has about its share, and it holds everyone; idle again, it gives
     * them back. */
    strata_mtree_set_idle(t, K, 0);
    int moved = 0;
    for (uint64_t i = 1; i <= N; i++)
        moved += strata_mtree_interior_tree(t, (strata_node_id){i}) == K;
    CHECK(moved > 0 && moved < N / 2);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    CHECK_EQ_INT(check_ok(t, "idle trees, one active again"), 0);
    strata_mtree_set_idle(t, K, 1);
    for (uint64_t i = 1; i <= N; i++)
        CHECK(strata_mtree_interior_tree(t, (strata_node_id){i}) != K);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    CHECK_EQ_INT(check_ok(t, "idle again"), 0);
    strata_mtree_del(t);

    /* Every tree idle: spread over all of them. */
    cfg.k = 2;
    t = strata_mtree_new(NULL, &cfg);
    CHECK(t != NULL);
    if (!t)
        return;
    strata_mtree_set_idle(t, 0, 1);
    strata_mtree_set_idle(t, 1, 1);
    int in[2] = {0};
    for (uint64_t i = 1; i <= 8; i++) {
        CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){i}, 3000), 0);
        int s = strata_mtree_interior_tree(t, (strata_node_id){i});
        if (s >= 0)
            in[s]++;
    }
    CHECK(in[0] > 0 && in[1] > 0);
    strata_mtree_del(t);
}

/* Orphans of a removed node never end up under their own descendants, and
 * every removal keeps the structure valid: a deep chain (one slot each) is
 * torn down from the top. */
static void test_chain_removal(void)
{
    strata_mtree_config cfg = {
        .k = 1, .rate_kbps = 1000, .source_upload_kbps = 1000, .max_children = 1};
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    for (uint64_t i = 1; i <= 200; i++)
        CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){i}, 1000), 0);
    CHECK_EQ_INT(strata_mtree_depth(t, (strata_node_id){200}, 0), 200);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    for (uint64_t i = 1; i <= 200; i += 2) {
        CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){i}), 0);
        CHECK_EQ_U64(strata_mtree_detached(t), 0);
        CHECK_EQ_INT(check_ok(t, "chain"), 0);
    }
    CHECK_EQ_INT(strata_mtree_depth(t, (strata_node_id){200}, 0), 100);
    for (uint64_t i = 2; i <= 200; i += 2)
        CHECK_EQ_INT(strata_mtree_reparent(t, (strata_node_id){i}, 0), 0);
    CHECK_EQ_INT(check_ok(t, "chain reparent"), 0);
    strata_mtree_del(t);
}

/* --- the source's shares --------------------------------------------------------- */

enum { TINY_K = 4, TINY_MAX_IDS = 8 };

static void check_shares(const strata_mtree *t, const uint32_t *want, const char *ctx)
{
    for (uint8_t s = 0; s < TINY_K; s++) {
        if (strata_mtree_source_slots(t, s) != want[s]) {
            fprintf(stderr, "%s: tree %u\n", ctx, s);
            CHECK_EQ_U64(strata_mtree_source_slots(t, s), want[s]);
        }
    }
}

/* Every node of ids[0..n) is connected in every tree, and nothing is
 * detached; check passes. */
static void check_connected(const strata_mtree *t, size_t n, const char *ctx)
{
    CHECK_EQ_INT(check_ok(t, ctx), 0);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    for (uint64_t id = 1; id <= n; id++)
        for (uint8_t s = 0; s < TINY_K; s++)
            if (strata_mtree_depth(t, (strata_node_id){id}, s) <= 0) {
                fprintf(stderr, "%s: node %llu tree %u\n", ctx, (unsigned long long)id, s);
                CHECK(0);
            }
}

static void snapshot_parents(const strata_mtree *t, strata_node_id par[][TINY_K])
{
    for (uint64_t id = 1; id < TINY_MAX_IDS; id++)
        for (uint8_t s = 0; s < TINY_K; s++)
            par[id][s] = strata_mtree_parent(t, (strata_node_id){id}, s);
}

/* Drains the dirty set and checks that every node still present whose
 * parent changed since the snapshot is in it for that tree, and the source
 * too where it gained or lost a child. Returns how many pairs moved. */
static int check_moves_dirty(strata_mtree *t, strata_node_id before[][TINY_K], const char *ctx)
{
    uint32_t dirty[TINY_MAX_IDS] = {0}, src_dirty = 0, subs[TINY_MAX_IDS + 1];
    strata_node_id ids[TINY_MAX_IDS + 1];
    size_t n = strata_mtree_take_dirty_subs(t, ids, subs, TINY_MAX_IDS + 1);
    for (size_t i = 0; i < n; i++) {
        if (ids[i].v == STRATA_MTREE_SOURCE.v)
            src_dirty = subs[i];
        else if (ids[i].v < TINY_MAX_IDS)
            dirty[ids[i].v] = subs[i];
    }
    int moved = 0;
    for (uint64_t id = 1; id < TINY_MAX_IDS; id++) {
        if (strata_mtree_interior_tree(t, (strata_node_id){id}) == STRATA_ERR_NOTFOUND)
            continue;
        for (uint8_t s = 0; s < TINY_K; s++) {
            strata_node_id now = strata_mtree_parent(t, (strata_node_id){id}, s);
            if (now.v == before[id][s].v || before[id][s].v == STRATA_MTREE_NONE.v)
                continue; /* unchanged, or a newcomer (dirty in every tree anyway) */
            moved++;
            int src_moved =
                now.v == STRATA_MTREE_SOURCE.v || before[id][s].v == STRATA_MTREE_SOURCE.v;
            if (!(dirty[id] & (1u << s)) || (src_moved && !(src_dirty & (1u << s)))) {
                fprintf(stderr, "%s: node %llu moved in tree %u but is not dirty there\n", ctx,
                        (unsigned long long)id, s);
                CHECK(0);
            }
        }
    }
    return moved;
}

/* A region of three under a head with 2 Mbit/s for it at 1 Mbit/s, k = 4:
 * 8 copies. Each member is interior in its own tree, so the even split (2
 * per tree) leaves tree 3, with no interior node, one copy short while
 * trees 0-2 need one each. A fourth interior member brings the even split
 * back; its leaving restores the shares by need. Nobody is ever detached. */
static void test_tiny_region(void)
{
    strata_mtree_config cfg = {.k = TINY_K, .rate_kbps = 1000, .source_upload_kbps = 2000};
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    strata_node_id par[TINY_MAX_IDS][TINY_K];
    static const uint32_t by_need[TINY_K] = {2, 2, 1, 3}, even[TINY_K] = {2, 2, 2, 2};
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){1}, 6000), 0);
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){2}, 3000), 0);
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){3}, 2000), 0);
    for (uint8_t s = 0; s < 3; s++)
        CHECK_EQ_INT(strata_mtree_interior_tree(t, (strata_node_id){s + 1u}), s);
    check_shares(t, by_need, "three members");
    check_connected(t, 3, "three members");

    snapshot_parents(t, par);
    check_moves_dirty(t, par, "drain");
    CHECK_EQ_INT(strata_mtree_add(t, (strata_node_id){4}, 1000), 0);
    CHECK_EQ_INT(strata_mtree_interior_tree(t, (strata_node_id){4}), 3);
    check_shares(t, even, "fourth member");
    check_connected(t, 4, "fourth member");
    /* Tree 3 gave up a source copy: one of its source children moved. */
    CHECK(check_moves_dirty(t, par, "fourth member") > 0);

    snapshot_parents(t, par);
    CHECK_EQ_INT(strata_mtree_remove(t, (strata_node_id){4}), 0);
    check_shares(t, by_need, "fourth member gone");
    check_connected(t, 3, "fourth member gone");
    CHECK(check_moves_dirty(t, par, "fourth member gone") > 0);

    /* A rebuild of the same members gives the same shares and, here, the
     * same trees: nothing moves. */
    snapshot_parents(t, par);
    CHECK_EQ_INT(strata_mtree_rebuild(t), 0);
    check_shares(t, by_need, "rebuild");
    CHECK_EQ_INT(check_moves_dirty(t, par, "rebuild"), 0);
    strata_mtree_del(t);
}

/* --- allocation failures ------------------------------------------------------ */

struct failing_alloc {
    long calls;   /* allocations so far */
    long fail_at; /* the one to fail, -1 for none */
    long live;    /* outstanding blocks */
};

static void *fa_alloc(void *user, size_t size)
{
    struct failing_alloc *fa = user;
    if (fa->calls++ == fa->fail_at)
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        fa->live++;
    return p;
}

static void *fa_realloc(void *user, void *ptr, size_t size)
{
    struct failing_alloc *fa = user;
    if (fa->calls++ == fa->fail_at)
        return NULL;
    void *p = realloc(ptr, size ? size : 1);
    if (p && !ptr)
        fa->live++;
    return p;
}

static void fa_free(void *user, void *ptr)
{
    struct failing_alloc *fa = user;
    if (ptr)
        fa->live--;
    free(ptr);
}

/* A scenario that touches every allocating path; returns the number of
 * calls that failed with NOMEM, or -1 on any other problem. */
static int alloc_scenario(const strata_alloc *a)
{
    strata_mtree_config cfg = {.k = 3, .rate_kbps = 1000, .source_upload_kbps = 3000};
    strata_mtree *t = strata_mtree_new(a, &cfg);
    int nomem = 0, bad = 0;
    if (!t)
        return 1;
    for (uint64_t i = 1; i <= 40 && !bad; i++) {
        size_t before = strata_mtree_count(t);
        int err = (i % 4) ? strata_mtree_add(t, (strata_node_id){i}, (uint32_t)(i * 97 % 3000))
                          : strata_mtree_add_detached(t, (strata_node_id){i}, 1500);
        if (err == STRATA_ERR_NOMEM) {
            nomem++;
            bad |= strata_mtree_count(t) != before;
        } else {
            bad |= err != 0;
        }
        bad |= strata_mtree_check(t, NULL, 0) != 0;
    }
    int err = strata_mtree_rebuild(t);
    nomem += err == STRATA_ERR_NOMEM;
    bad |= err && err != STRATA_ERR_NOMEM;
    bad |= strata_mtree_check(t, NULL, 0) != 0;
    for (uint64_t i = 1; i <= 40; i += 3) {
        strata_mtree_remove(t, (strata_node_id){i});
        strata_mtree_reparent(t, (strata_node_id){i + 1}, (uint8_t)(i % 3));
        bad |= strata_mtree_check(t, NULL, 0) != 0;
    }
    err = strata_mtree_set_rate(t, 700);
    nomem += err == STRATA_ERR_NOMEM;
    bad |= err && err != STRATA_ERR_NOMEM;
    bad |= strata_mtree_check(t, NULL, 0) != 0;
    for (uint64_t i = 100; i <= 140; i++) {
        err = strata_mtree_add(t, (strata_node_id){i}, 2500);
        nomem += err == STRATA_ERR_NOMEM;
        bad |= err && err != STRATA_ERR_NOMEM;
    }
    bad |= strata_mtree_check(t, NULL, 0) != 0;
    strata_mtree_del(t);
    return bad ? -1 : nomem;
}

static void test_alloc_failures(void)
{
    struct failing_alloc fa = {0, -1, 0};
    strata_alloc a = {fa_alloc, fa_realloc, fa_free, &fa};
    CHECK_EQ_INT(alloc_scenario(&a), 0);
    CHECK_EQ_INT(fa.live, 0);
    long total = fa.calls;
    CHECK(total > 10);
    for (long i = 0; i < total; i++) {
        fa = (struct failing_alloc){0, i, 0};
        int r = alloc_scenario(&a);
        if (r < 0 || fa.live != 0) {
            fprintf(stderr, "allocation %ld of %ld failed: result %d, %ld blocks leaked\n", i,
                    total, r, fa.live);
            CHECK(0);
        }
    }
}

/* --- id map --------------------------------------------------------------------- */

static void test_idmap(void)
{
    strata_idmap m;
    strata_idmap_init(&m, NULL, 12345);
    uint32_t v = 0;
    CHECK_EQ_INT(strata_idmap_get(&m, 5, &v), 0);
    CHECK_EQ_INT(strata_idmap_del(&m, 5), 0);
    CHECK_EQ_INT(strata_idmap_put(&m, 0, 1), STRATA_ERR_INVAL);

    enum { N = 5000 };
    static uint64_t keys[N];
    static int present[N];
    strata_rng r;
    strata_rng_seed(&r, 99);
    for (size_t i = 0; i < N; i++)
        keys[i] = (i % 3 == 0) ? i + 1 : (strata_rng_next(&r) | 1u); /* dense and sparse */
    for (int round = 0; round < 20000; round++) {
        size_t i = (size_t)strata_rng_below(&r, N);
        if (strata_rng_below(&r, 3)) {
            CHECK_EQ_INT(strata_idmap_put(&m, keys[i], (uint32_t)i), 0);
            present[i] = 1;
        } else {
            CHECK_EQ_INT(strata_idmap_del(&m, keys[i]), present[i]);
            present[i] = 0;
        }
    }
    size_t count = 0;
    for (size_t i = 0; i < N; i++) {
        int found = strata_idmap_get(&m, keys[i], &v);
        CHECK_EQ_INT(found, present[i]);
        if (found)
            CHECK_EQ_U64(v, i);
        count += (size_t)present[i];
    }
    CHECK_EQ_U64(strata_idmap_count(&m), count);
    size_t pos = 0, iter = 0;
    uint64_t key;
    while (strata_idmap_next(&m, &pos, &key, &v)) {
        CHECK_EQ_U64(key, keys[v]);
        iter++;
    }
    CHECK_EQ_U64(iter, count);
    CHECK_EQ_INT(strata_idmap_put(&m, keys[0], 77), 0); /* overwrite or insert */
    CHECK_EQ_INT(strata_idmap_get(&m, keys[0], &v), 1);
    CHECK_EQ_U64(v, 77);
    strata_idmap_clear(&m);
    CHECK_EQ_U64(strata_idmap_count(&m), 0);
    CHECK_EQ_INT(strata_idmap_get(&m, keys[0], &v), 0);
    CHECK_EQ_INT(strata_idmap_reserve(&m, 10000), 0);
    size_t cap = m.cap;
    for (uint64_t i = 1; i <= 10000; i++)
        strata_idmap_put(&m, i, (uint32_t)i);
    CHECK_EQ_U64(m.cap, cap); /* reserve meant no growth */
    strata_idmap_free(&m);
}

/* Restore (SPEC C14): trees grown by adds and removes are rebuilt in a
 * fresh tree from what each member would report (its upload, the tree it
 * is interior in, its parent per substream) in a random order: add_restored
 * for all, adopt parents-first, settle. Every parent is the same. */
static void test_restore(void)
{
    enum { N = 300, K = 4 };
    strata_rng r;
    strata_rng_seed(&r, test_seed(1234));
    strata_mtree_config cfg = {.k = K, .rate_kbps = 1000, .source_upload_kbps = 8000};
    for (int round = 0; round < 20; round++) {
        strata_mtree *a = strata_mtree_new(NULL, &cfg);
        uint32_t up[N + 1];
        int in[N + 1];
        for (uint64_t i = 1; i <= N; i++) {
            static const uint32_t caps[] = {0, 250, 500, 1000, 2000, 4000};
            up[i] = caps[strata_rng_below(&r, 6)];
            in[i] = 1;
            strata_mtree_add(a, (strata_node_id){i}, up[i]);
        }
        for (int j = 0; j < N / 5; j++) { /* churn shapes trees no bulk build would */
            uint64_t v = 1 + strata_rng_below(&r, N);
            if (in[v])
                strata_mtree_remove(a, (strata_node_id){v});
            else
                strata_mtree_add(a, (strata_node_id){v}, up[v]);
            in[v] = !in[v];
        }
        strata_node_id par[N + 1][K];
        int interior[N + 1];
        for (uint64_t i = 1; i <= N; i++) {
            interior[i] = in[i] ? strata_mtree_interior_tree(a, (strata_node_id){i}) : -1;
            if (in[i])
                strata_mtree_parents(a, (strata_node_id){i}, par[i], K);
        }
        strata_mtree *b = strata_mtree_new(NULL, &cfg);
        uint64_t order[N];
        size_t n = 0;
        for (uint64_t i = 1; i <= N; i++)
            if (in[i])
                order[n++] = i;
        for (size_t j = n; j > 1; j--) {
            size_t x = (size_t)strata_rng_below(&r, j);
            uint64_t tmp = order[j - 1];
            order[j - 1] = order[x];
            order[x] = tmp;
        }
        for (size_t j = 0; j < n; j++)
            CHECK_EQ_INT(strata_mtree_add_restored(b, (strata_node_id){order[j]}, up[order[j]],
                                                   interior[order[j]]),
                         0);
        /* parents first: passes until none is adopted */
        int adopted;
        do {
            adopted = 0;
            for (size_t j = 0; j < n; j++)
                for (uint8_t s = 0; s < K; s++) {
                    strata_node_id p = par[order[j]][s];
                    if (p.v == 0 || strata_mtree_parent(b, (strata_node_id){order[j]}, s).v != 0)
                        continue;
                    if (strata_mtree_adopt(b, (strata_node_id){order[j]}, s, p) == 0)
                        adopted++;
                }
        } while (adopted);
        strata_mtree_settle(b);
        char why[160];
        CHECK_EQ_INT(strata_mtree_check(b, why, sizeof why), 0);
        size_t same = 0, pairs = 0;
        for (size_t j = 0; j < n; j++)
            for (uint8_t s = 0; s < K; s++) {
                pairs++;
                same +=
                    strata_mtree_parent(b, (strata_node_id){order[j]}, s).v == par[order[j]][s].v;
            }
        CHECK_EQ_U64(same, pairs);
        /* a connected pair, a parent not interior there, a full one */
        strata_mtree_del(a);
        strata_mtree_del(b);
    }
    /* errors */
    strata_mtree *t = strata_mtree_new(NULL, &cfg);
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){1}, 0, STRATA_MTREE_SOURCE),
                 STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_mtree_add_restored(t, (strata_node_id){1}, 4000, 2), 0);
    CHECK_EQ_INT(strata_mtree_interior_tree(t, (strata_node_id){1}), 2);
    CHECK_EQ_INT(strata_mtree_add_restored(t, (strata_node_id){2}, 0, -1), 0);
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){2}, 0, (strata_node_id){1}),
                 STRATA_ERR_UNEXPECTED); /* 1 is not connected, nor interior in 0 */
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){1}, 2, STRATA_MTREE_SOURCE), 0);
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){1}, 2, STRATA_MTREE_SOURCE),
                 STRATA_ERR_UNEXPECTED); /* already connected */
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){2}, 0, (strata_node_id){1}),
                 STRATA_ERR_UNEXPECTED); /* 1 is interior in 2 only */
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){2}, 2, (strata_node_id){1}), 0);
    CHECK_EQ_INT(strata_mtree_adopt(t, (strata_node_id){2}, 9, (strata_node_id){1}),
                 STRATA_ERR_NOTFOUND);
    strata_mtree_settle(t);
    CHECK_EQ_U64(strata_mtree_detached(t), 0);
    char why[160];
    CHECK_EQ_INT(strata_mtree_check(t, why, sizeof why), 0);
    strata_mtree_del(t);
}

int main(void)
{
    test_restore();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    test_queries();
    test_errors();
    test_dirty_drain();
    test_k_plus_n_trees();
    test_idle_interior();
    test_chain_removal();
    test_tiny_region();
    test_alloc_failures();
    test_idmap();
    return test_summary("test_tree");
}
