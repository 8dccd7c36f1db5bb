/*
 * Playout buffer tests (core/playout.c).
 *
 * Table-driven: each case is a script of short tokens and the expected
 * trace and final buffer state, both as short strings.
 *
 * Script tokens (space separated):
 *   t<ms>        set now to <ms> milliseconds
 *   <seq>        insert seq, send_ts = seq * 10 ms, payload one letter
 *   <seq>@<ms>   insert seq with send_ts <ms> milliseconds
 *   E<seq>       insert the EOS marker at seq (send_ts = seq * 10 ms)
 *   p            poll
 *   J<seq>       jump to seq, counting misses
 * Trace: a letter ('a' + seq mod 26) per packet played, '-' per packet
 * skipped (missed), 'X' for on_end, 'D' for a duplicate insert, 'R' for an
 * insert outside the window.
 * State: "<next>[<slot per seq in next..end-1: P present, . missing>]".
 */
#include "playout.h"
#include "testutil.h"

#include "strata/common.h"

typedef struct ctx {
    strata_playout *po;
    char trace[256];
    size_t len;
    uint64_t missed_seen;
    int ends;
} ctx;

static void put(ctx *c, char ch)
{
    if (c->len + 1 < sizeof c->trace) {
        c->trace[c->len++] = ch;
        c->trace[c->len] = 0;
    }
}

static void flush_missed(ctx *c)
{
    while (c->missed_seen < c->po->missed_packets) {
        put(c, '-');
        c->missed_seen++;
    }
}

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    ctx *c = user;
    flush_missed(c);
    for (size_t i = 0; i < len; i++)
        put(c, (char)buf[i]);
}

static void on_end(void *user)
{
    ctx *c = user;
    flush_missed(c);
    put(c, 'X');
    c->ends++;
}

static void insert(ctx *c, uint64_t seq, uint64_t ts_ms, int eos, uint64_t now)
{
    strata_buf *b = strata_buf_new(NULL, 1);
    b->data[0] = (uint8_t)('a' + seq % 26);
    b->len = 1;
    strata_playout_observe(c->po, STRATA_MS(ts_ms), now);
    int r = strata_playout_insert(c->po, seq, STRATA_MS(ts_ms), b, 0, eos ? 0 : 1, eos, now);
    if (r == 0)
        put(c, 'D');
    else if (r < 0)
        put(c, 'R');
    strata_buf_unref(b);
}

static void state_string(const strata_playout *po, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%llu[", (unsigned long long)po->next);
    for (uint64_t q = po->next; q < po->end && (size_t)n + 2 < outlen; q++) {
        const strata_playout_slot *s = &po->slots[q % po->cap];
        out[n++] = s->state == STRATA_PLAYOUT_PRESENT ? 'P' : '.';
    }
    out[n++] = ']';
    out[n] = 0;
}

static void run_script(ctx *c, const char *script)
{
    uint64_t now = 0;
    const char *p = script;
    strata_playout_callbacks cb = {on_play, on_end, c};
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *endp;
        if (*p == 't') {
            now = STRATA_MS(strtoull(p + 1, &endp, 10));
        } else if (*p == 'p') {
            strata_playout_poll(c->po, now, &cb);
            flush_missed(c);
            endp = (char *)(uintptr_t)(p + 1);
        } else if (*p == 'E') {
            uint64_t seq = strtoull(p + 1, &endp, 10);
            insert(c, seq, seq * 10, 1, now);
        } else if (*p == 'J') {
            uint64_t seq = strtoull(p + 1, &endp, 10);
            strata_playout_jump(c->po, seq, 1);
            flush_missed(c);
        } else {
            uint64_t seq = strtoull(p, &endp, 10);
            uint64_t ts = seq * 10;
            if (*endp == '@')
                ts = strtoull(endp + 1, &endp, 10);
            insert(c, seq, ts, 0, now);
        }
        p = endp;
    }
}

typedef struct pcase {
    const char *name;
    size_t cap;
    uint64_t delay_ms;
    uint64_t start;
    const char *script;
    const char *trace;
    const char *state;
} pcase;

static const pcase cases[] = {
    {"in order", 16, 100, 0, "0 p 1 p 2 p", "abc", "3[]"},
    {"reorder", 16, 100, 0, "2 1 p 0 p", "abc", "3[]"},
    {"gap waits", 16, 100, 0, "0 2 3 p", "a", "1[.PP]"},
    {"duplicate", 16, 100, 0, "1 1 p 0 p 0", "DabR", "2[]"},
    /* offset 0 (received at send time); deadline of 2 is 20 + 100 ms */
    {"skip before deadline", 16, 100, 0, "t0 0 t20 2 t119 p", "a", "1[.P]"},
    {"skip at deadline", 16, 100, 0, "t0 0 t20 2 t120 p", "a-c", "3[]"},
    {"skip long gap", 16, 100, 0, "t0 0 t60 6 t160 p", "a-----g", "7[]"},
    /* the nearest later packet sets the deadline, not the farthest */
    {"nearest later", 16, 100, 0, "t0 0 t50 5 t20 2 t119 p t120 p", "a-c", "3[..P]"},
    /* packets 40 ms late still set an offset of 0 from the first one */
    {"offset is the minimum", 16, 100, 0, "t0 0 t60 2 t119 p t120 p", "a-c", "3[]"},
    /* sender clock 1000 s ahead: the offset absorbs it */
    {"clock skew", 16, 100, 0, "t5 0@1000000 t25 2@1000020 t124 p t125 p", "a-c", "3[]"},
    {"window bounds", 4, 100, 0, "4 3 0 p 4 p", "Ra", "1[..PP]"},
    {"below window", 8, 100, 5, "4 5 p", "Rf", "6[]"},
    {"start late", 16, 100, 10, "10 11 p", "kl", "12[]"},
    {"eos", 16, 100, 0, "0 1 E2 p", "abX", "3[]"},
    {"eos early", 16, 100, 0, "E3 0 p 2 p 1 p", "abcX", "4[]"},
    {"eos after gap", 16, 100, 0, "t0 0 E2 t121 p", "a-X", "3[]"},
    {"nothing after end", 16, 100, 0, "E0 p 1 p", "X", "1[P]"},
    {"jump", 16, 100, 0, "0 p 5 J4 p", "a---", "4[.P]"},
    {"jump beyond", 8, 100, 0, "0 1 J10 10 p", "----------k", "11[]"},
    /* A forged send time never moves the playout point (issue 13, item
     * 4): a packet far ahead with an old send time (deadline 100 ms, long
     * past) skips nothing before arrival + delay / 2 ... */
    {"old send time: no skip at once", 16, 100, 0, "t0 0 t10 1 p t500 9@0 p t549 p", "ab",
     "2[.......P]"},
    {"old send time: skip at arrival + delay/2", 16, 100, 0, "t0 0 t10 1 p t500 9@0 p t550 p",
     "ab-------j", "10[]"},
    /* ... and one with a send time 100 s ahead neither drags the offset
     * (an outlier) nor holds the packets before it past arrival + delay. */
    {"future send time: at most the delay", 16, 100, 0, "t0 0 t10 2@100000 t109 p t110 p", "a-c",
     "3[]"},
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pcase *tc = &cases[i];
        strata_playout po;
        ctx c;
        memset(&c, 0, sizeof c);
        c.po = &po;
        CHECK_EQ_INT(strata_playout_init(&po, NULL, tc->cap, STRATA_MS(tc->delay_ms)), 0);
        strata_playout_start(&po, tc->start);
        run_script(&c, tc->script);
        char state[128];
        state_string(&po, state, sizeof state);
        if (strcmp(c.trace, tc->trace) != 0 || strcmp(state, tc->state) != 0) {
            fprintf(stderr, "case '%s': trace '%s' want '%s', state '%s' want '%s'\n", tc->name,
                    c.trace, tc->trace, state, tc->state);
            test_failures++;
        }
        test_checks++;
        CHECK(c.ends <= 1);
        strata_playout_free(&po);
    }
}

/* Once ended nothing plays, and on_end fires exactly once. */
static void test_end_once(void)
{
    strata_playout po;
    ctx c;
    memset(&c, 0, sizeof c);
    c.po = &po;
    CHECK_EQ_INT(strata_playout_init(&po, NULL, 8, STRATA_MS(100)), 0);
    strata_playout_start(&po, 0);
    run_script(&c, "0 E1 p p t1000 p");
    CHECK_EQ_INT(c.ends, 1);
    CHECK_EQ_U64(strata_playout_deadline(&po), STRATA_NEVER);
    strata_playout_free(&po);
}

static void test_deadline_and_slots(void)
{
    strata_playout po;
    ctx c;
    memset(&c, 0, sizeof c);
    c.po = &po;
    CHECK_EQ_INT(strata_playout_init(&po, NULL, 16, STRATA_MS(100)), 0);
    CHECK_EQ_U64(strata_playout_deadline(&po), STRATA_NEVER);
    CHECK_EQ_INT(strata_playout_insert(&po, 0, 0, NULL, 0, 0, 0, 0), STRATA_ERR_UNEXPECTED);
    strata_playout_start(&po, 0);
    run_script(&c, "t7 0 t30 3 p");
    /* offset = min(7 - 0, 30 - 30) = 0; deadline of 3 = 30 + 0 + 100 ms */
    CHECK_EQ_U64(strata_playout_deadline(&po), STRATA_MS(130));
    strata_playout_slot *s = strata_playout_slot_at(&po, 1);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(s->state, STRATA_PLAYOUT_MISSING);
        CHECK_EQ_U64(s->missing_since_ns, STRATA_MS(30));
    }
    CHECK(strata_playout_slot_at(&po, 0) == NULL); /* already played */
    CHECK(strata_playout_slot_at(&po, 4) == NULL); /* beyond end */
    uint32_t counts[4];
    strata_playout_count_by_substream(&po, 4, counts);
    CHECK_EQ_INT(counts[0], 0);
    CHECK_EQ_INT(counts[3], 1);
    strata_playout_free(&po);
}

/* An observation that would lower the offset by more than the delay (a
 * send time far ahead) is ignored and counted; a smaller drop is taken. */
static void test_offset_outlier(void)
{
    strata_playout po;
    ctx c;
    memset(&c, 0, sizeof c);
    c.po = &po;
    CHECK_EQ_INT(strata_playout_init(&po, NULL, 16, STRATA_MS(100)), 0);
    strata_playout_start(&po, 0);
    run_script(&c, "t0 0 t10 2@100000");
    CHECK_EQ_U64(po.offset_outliers, 1);
    CHECK(po.offset_ns == 0);
    run_script(&c, "t20 3@70");
    CHECK_EQ_U64(po.offset_outliers, 1);
    CHECK(po.offset_ns == -(int64_t)STRATA_MS(50));
    strata_playout_free(&po);
}

/* Property: random arrival order with random losses and random poll
 * times; played seqs strictly increase, every seq below next is played
 * or missed exactly once, and nothing leaks (ASan). */
static void test_random(void)
{
    uint64_t seed = test_seed(0x9a7b);
    strata_rng rng;
    strata_rng_seed(&rng, seed);
    for (int round = 0; round < 200; round++) {
        strata_playout po;
        ctx c;
        memset(&c, 0, sizeof c);
        c.po = &po;
        size_t cap = 8 + (size_t)strata_rng_below(&rng, 64);
        strata_playout_init(&po, NULL, cap, STRATA_MS(50));
        strata_playout_start(&po, 0);
        uint64_t now = 0;
        uint64_t n = 1 + strata_rng_below(&rng, 300);
        strata_playout_callbacks cb = {on_play, on_end, &c};
        for (uint64_t seq = 0; seq < n; seq++) {
            now += STRATA_MS(strata_rng_below(&rng, 10));
            uint64_t s = seq + strata_rng_below(&rng, 5); /* some reordering */
            if (strata_rng_below(&rng, 10) == 0)
                continue; /* lost */
            insert(&c, s, s * 5, 0, now);
            strata_playout_poll(&po, now, &cb);
        }
        now += STRATA_S(10);
        strata_playout_poll(&po, now, &cb);
        flush_missed(&c);
        CHECK_EQ_U64(po.played_packets + po.missed_packets, po.next);
        CHECK(po.next == po.end);
        strata_playout_free(&po);
        if (test_failures) {
            fprintf(stderr, "random round %d failed (seed %llu)\n", round,
                    (unsigned long long)seed);
            break;
        }
    }
}

static void test_alloc_fail(void)
{
    strata_playout po;
    CHECK_EQ_INT(strata_playout_init(&po, NULL, 0, 1), STRATA_ERR_INVAL);
    strata_playout_free(&po);
}

int main(void)
{
    test_table();
    test_end_once();
    test_deadline_and_slots();
    test_offset_outlier();
    test_random();
    test_alloc_fail();
    return test_summary("test_playout");
}
