/*
 * Content directory: (channel, region) -> DCM id. Table-driven basics, then
 * a seeded churn loop against a plain array model (growth and
 * backward-shift deletion are where open addressing goes wrong).
 */
#include "directory.h"
#include "testutil.h"

#include <stdio.h>

static void test_basics(void)
{
    strata_directory *d = strata_directory_new(NULL);
    CHECK(d != NULL);
    strata_channel_id a = strata_channel_id_from_name("a", 1);
    strata_channel_id b = strata_channel_id_from_name("b", 1);
    strata_dcm_id out = {0};

    CHECK_EQ_INT(strata_directory_lookup(d, a, "eu", 2, &out), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_directory_insert(d, a, "eu", 2, (strata_dcm_id){1}), 0);
    CHECK_EQ_INT(strata_directory_insert(d, a, "us", 2, (strata_dcm_id){2}), 0);
    CHECK_EQ_INT(strata_directory_insert(d, b, "eu", 2, (strata_dcm_id){3}), 0);
    CHECK_EQ_INT(strata_directory_insert(d, a, "10.1.2.0/24", 11, (strata_dcm_id){4}), 0);
    CHECK_EQ_INT(strata_directory_insert(d, a, "", 0, (strata_dcm_id){5}), 0);
    CHECK_EQ_INT(strata_directory_count(d), 5);

    CHECK_EQ_INT(strata_directory_insert(d, a, "eu", 2, (strata_dcm_id){9}), STRATA_ERR_EXISTS);
    CHECK_EQ_INT(strata_directory_insert(d, (strata_channel_id){0}, "eu", 2, (strata_dcm_id){9}),
                 STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_directory_insert(d, a, "x", 1, (strata_dcm_id){0}), STRATA_ERR_INVAL);
    char big[STRATA_DIRECTORY_MAX_REGION_BYTES + 1];
    memset(big, 'r', sizeof big);
    CHECK_EQ_INT(strata_directory_insert(d, a, big, sizeof big, (strata_dcm_id){9}),
                 STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_directory_insert(d, a, big, sizeof big - 1, (strata_dcm_id){6}), 0);

    struct {
        strata_channel_id ch;
        const char *region;
        uint32_t want; /* 0 = absent */
    } cases[] = {
        {a, "eu", 1}, {a, "us", 2}, {b, "eu", 3}, {a, "10.1.2.0/24", 4},
        {a, "", 5},   {b, "us", 0}, {a, "e", 0},  {a, "eu2", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        out.v = 0;
        int rc =
            strata_directory_lookup(d, cases[i].ch, cases[i].region, strlen(cases[i].region), &out);
        if (cases[i].want) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_U64(out.v, cases[i].want);
        } else {
            CHECK_EQ_INT(rc, STRATA_ERR_NOTFOUND);
        }
    }
    CHECK_EQ_INT(strata_directory_lookup(d, a, big, sizeof big - 1, &out), 0);
    CHECK_EQ_U64(out.v, 6);

    CHECK_EQ_INT(strata_directory_remove(d, a, "us", 2), 0);
    CHECK_EQ_INT(strata_directory_remove(d, a, "us", 2), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_directory_lookup(d, a, "us", 2, &out), STRATA_ERR_NOTFOUND);
    CHECK_EQ_INT(strata_directory_lookup(d, a, "eu", 2, &out), 0);
    CHECK_EQ_U64(out.v, 1);
    CHECK_EQ_INT(strata_directory_count(d), 5);
    strata_directory_del(d);
}

/* Random inserts and removes over a small key space, compared with a model. */
static void test_churn(void)
{
    enum { CHANNELS = 7, REGIONS = 60, STEPS = 20000 };
    static uint32_t model[CHANNELS][REGIONS];
    memset(model, 0, sizeof model);
    strata_rng rng;
    strata_rng_seed(&rng, test_seed(0x5eed));
    strata_directory *d = strata_directory_new(NULL);
    uint32_t next = 1;
    size_t live = 0;
    int bad = 0;
    for (int step = 0; step < STEPS && !bad; step++) {
        size_t ci = (size_t)strata_rng_below(&rng, CHANNELS);
        size_t ri = (size_t)strata_rng_below(&rng, REGIONS);
        strata_channel_id ch = {ci + 1};
        char region[16];
        int len = snprintf(region, sizeof region, "r%zu", ri * 7919 % 1000);
        strata_dcm_id got = {0};
        int rc = strata_directory_lookup(d, ch, region, (size_t)len, &got);
        if (model[ci][ri]) {
            if (rc != 0 || got.v != model[ci][ri])
                bad = 1;
        } else if (rc != STRATA_ERR_NOTFOUND) {
            bad = 1;
        }
        if (strata_rng_below(&rng, 2)) {
            rc = strata_directory_insert(d, ch, region, (size_t)len, (strata_dcm_id){next});
            if (model[ci][ri]) {
                bad |= rc != STRATA_ERR_EXISTS;
            } else {
                bad |= rc != 0;
                model[ci][ri] = next++;
                live++;
            }
        } else {
            rc = strata_directory_remove(d, ch, region, (size_t)len);
            if (model[ci][ri]) {
                bad |= rc != 0;
                model[ci][ri] = 0;
                live--;
            } else {
                bad |= rc != STRATA_ERR_NOTFOUND;
            }
        }
        bad |= strata_directory_count(d) != live;
        if (bad)
            fprintf(stderr, "churn diverged at step %d\n", step);
    }
    CHECK(!bad);
    /* Everything in the model is still found after all the shifting. */
    for (size_t ci = 0; ci < CHANNELS; ci++) {
        for (size_t ri = 0; ri < REGIONS; ri++) {
            char region[16];
            int len = snprintf(region, sizeof region, "r%zu", ri * 7919 % 1000);
            strata_dcm_id got = {0};
            int rc =
                strata_directory_lookup(d, (strata_channel_id){ci + 1}, region, (size_t)len, &got);
            if (model[ci][ri]) {
                CHECK_EQ_INT(rc, 0);
                CHECK_EQ_U64(got.v, model[ci][ri]);
            } else {
                CHECK_EQ_INT(rc, STRATA_ERR_NOTFOUND);
            }
        }
    }
    strata_directory_del(d);
}

/* Allocation failures: every failing allocation leaves the table usable. */
typedef struct fail_alloc {
    long countdown; /* fail the allocation that brings this to 0; <0 never */
    long allocs, live;
} fail_alloc;

static void *fa_alloc(void *user, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = malloc(size);
    if (p) {
        f->allocs++;
        f->live++;
    }
    return p;
}
static void *fa_realloc(void *user, void *ptr, size_t size)
{
    fail_alloc *f = user;
    if (f->countdown >= 0 && f->countdown-- == 0)
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr) {
        f->allocs++;
        f->live++;
    }
    return p;
}
static void fa_free(void *user, void *ptr)
{
    fail_alloc *f = user;
    if (ptr)
        f->live--;
    free(ptr);
}

static void test_alloc_failures(void)
{
    for (long fail_at = 0; fail_at < 12; fail_at++) {
        fail_alloc f = {fail_at, 0, 0};
        strata_alloc a = {fa_alloc, fa_realloc, fa_free, &f};
        strata_directory *d = strata_directory_new(&a);
        if (d) {
            size_t ok = 0;
            for (uint32_t i = 1; i <= 100; i++) {
                char region[8];
                int len = snprintf(region, sizeof region, "%u", i);
                int rc = strata_directory_insert(d, (strata_channel_id){1}, region, (size_t)len,
                                                 (strata_dcm_id){i});
                CHECK(rc == 0 || rc == STRATA_ERR_NOMEM);
                ok += rc == 0;
            }
            CHECK_EQ_INT(strata_directory_count(d), ok);
            strata_directory_del(d);
        }
        CHECK_EQ_INT(f.live, 0);
    }
}

int main(void)
{
    test_basics();
    test_churn();
    test_alloc_failures();
    return test_summary("test_directory");
}
