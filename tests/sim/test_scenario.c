/*
 * Tests of simulator scenarios: every key through the setter, the text
 * format (comments, blank lines, CRLF, timeline), errors with their line
 * numbers, validation, a format/parse round trip, and the planning draws
 * (join patterns, session lengths, graceful share, rejoin, correlated
 * failures) with their statistics and their stability per slot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario.h"
#include "testutil.h"

static int parse(strata_scenario *s, const char *text, char *err, size_t errlen)
{
    strata_scenario_default(s);
    return strata_scenario_parse(s, text, strlen(text), "t.scn", err, errlen);
}

static void test_defaults(void)
{
    strata_scenario s;
    strata_scenario_default(&s);
    char err[256] = "";
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), 0);
    CHECK_EQ_INT(s.nodes, 100);
    CHECK_EQ_U64(s.duration_ns, STRATA_S(60));
    CHECK_EQ_INT(s.rate_kbps, 1000);
    CHECK(strcmp(s.algorithm, "strata") == 0);
    CHECK_EQ_INT(s.packet_bytes, 1316);
    /* 1,316 bytes at 1 Mbit/s: 10.528 ms. */
    CHECK_EQ_U64(strata_scenario_packet_interval_ns(&s), 10528000u);
    CHECK_EQ_INT(strata_scenario_queue_bytes(&s), 80 * 1316);
    CHECK_EQ_INT(strata_scenario_repair_after_ms(&s), 60);
    /* 2 x 3 s / 10.528 ms + 9 = 578.9 -> 1024 packets. */
    CHECK_EQ_INT(strata_scenario_store_packets(&s), 1024);
    s.packet_bytes = 32768;
    CHECK_EQ_INT(strata_scenario_store_packets(&s), 64);
    CHECK_EQ_INT(strata_scenario_repair_after_ms(&s), 60 * 32768 / 1316);
    CHECK_EQ_INT(strata_scenario_queue_bytes(&s), 80 * 32768);
    s.queue_bytes = 1000;
    s.store_packets = 77;
    s.repair_after_ms = 5;
    CHECK_EQ_INT(strata_scenario_queue_bytes(&s), 1000);
    CHECK_EQ_INT(strata_scenario_store_packets(&s), 77);
    CHECK_EQ_INT(strata_scenario_repair_after_ms(&s), 5);
}

static void test_set(void)
{
    strata_scenario s;
    strata_scenario_default(&s);
    char err[256] = "";
    CHECK_EQ_INT(strata_scenario_set(&s, "nodes", "2500", err, sizeof err), 0);
    CHECK_EQ_INT(s.nodes, 2500);
    CHECK_EQ_INT(strata_scenario_set(&s, "duration_s", "12.5", err, sizeof err), 0);
    CHECK_EQ_U64(s.duration_ns, 12500000000ull);
    CHECK_EQ_INT(strata_scenario_set(&s, "seed", "18446744073709551615", err, sizeof err), 0);
    CHECK_EQ_U64(s.seed, UINT64_MAX);
    CHECK_EQ_INT(strata_scenario_set(&s, "join", "flash", err, sizeof err), 0);
    CHECK_EQ_INT(s.join, STRATA_SCN_JOIN_FLASH);
    CHECK_EQ_INT(strata_scenario_set(&s, "session", "lognormal", err, sizeof err), 0);
    CHECK_EQ_INT(s.session, STRATA_SCN_SESSION_LOGNORMAL);
    CHECK_EQ_INT(strata_scenario_set(&s, "rejoin", "no", err, sizeof err), 0);
    CHECK_EQ_INT(s.rejoin, 0);
    CHECK_EQ_INT(strata_scenario_set(&s, "loss", "0.25", err, sizeof err), 0);
    CHECK(s.loss == 0.25);
    CHECK_EQ_INT(strata_scenario_set(&s, "region", "host", err, sizeof err), 0);
    CHECK_EQ_INT(s.region_mode, STRATA_SCN_REGION_HOST);
    CHECK_EQ_INT(strata_scenario_set(&s, "capacity_mix", "a:1:500", err, sizeof err), 0);
    CHECK(strcmp(s.capacity_mix, "a:1:500") == 0);

    /* Errors name the key and the value. */
    struct {
        const char *key, *value, *want;
        int rc;
    } bad[] = {
        {"nodes", "0", "nodes", STRATA_ERR_RANGE},
        {"nodes", "12x", "nodes", STRATA_ERR_RANGE},
        {"nodes", "-5", "nodes", STRATA_ERR_RANGE},
        {"nodes", "", "nodes", STRATA_ERR_RANGE},
        {"duration_s", "abc", "duration_s", STRATA_ERR_RANGE},
        {"duration_s", "0", "duration_s", STRATA_ERR_RANGE},
        {"duration_s", "nan", "duration_s", STRATA_ERR_RANGE},
        {"loss", "1.5", "loss", STRATA_ERR_RANGE},
        {"join", "sometimes", "all|poisson|flash", STRATA_ERR_RANGE},
        {"rejoin", "maybe", "yes or no", STRATA_ERR_RANGE},
        {"k", "17", "k", STRATA_ERR_RANGE},
        {"packet_bytes", "10", "packet_bytes", STRATA_ERR_RANGE},
        {"nosuchkey", "1", "unknown key 'nosuchkey'", STRATA_ERR_NOTFOUND},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = strata_scenario_set(&s, bad[i].key, bad[i].value, err, sizeof err);
        CHECK_EQ_INT(rc, bad[i].rc);
        if (!strstr(err, bad[i].want)) {
            test_failures++;
            fprintf(stderr, "set %s=%s: message '%s' lacks '%s'\n", bad[i].key, bad[i].value, err,
                    bad[i].want);
        }
    }
    /* A failed set leaves the value alone. */
    CHECK_EQ_INT(s.nodes, 2500);
    char longv[600];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    CHECK_EQ_INT(strata_scenario_set(&s, "capacity_mix", longv, err, sizeof err), STRATA_ERR_RANGE);
}

static void test_parse_text(void)
{
    static const char text[] = "# a scenario\n"
                               "\n"
                               "nodes = 300   # trailing comment\n"
                               "duration_s=20\r\n"
                               "   rate_kbps =  800\n"
                               "join = poisson\n"
                               "join_window_s = 10\n"
                               "at 12 kill share=0.25\n"
                               "at 5 leave region=one\n"
                               "at 7.5 upload share=0.5 kbps=300\n"
                               "at 9 loss 0.01\n"
                               "at 5 kill share=0.1\n"
                               "at 15 loss 0.05 region=h2 side=both\n"
                               "at 16 loss 0.03 side=receive\n";
    strata_scenario s;
    char err[256] = "";
    CHECK_EQ_INT(parse(&s, text, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_INT(s.nodes, 300);
    CHECK_EQ_U64(s.duration_ns, STRATA_S(20));
    CHECK_EQ_INT(s.rate_kbps, 800);
    CHECK_EQ_INT(s.join, STRATA_SCN_JOIN_POISSON);
    CHECK_EQ_INT((int)s.nevents, 7);
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), 0);
    /* Sorted by time, written order kept at equal times. */
    CHECK_EQ_U64(s.events[0].at_ns, STRATA_S(5));
    CHECK_EQ_INT(s.events[0].action, STRATA_SCN_LEAVE);
    CHECK_EQ_INT(s.events[0].by_region, 1);
    CHECK(strcmp(s.events[0].region, "one") == 0);
    CHECK_EQ_INT(s.events[0].line, 9);
    CHECK_EQ_U64(s.events[1].at_ns, STRATA_S(5));
    CHECK_EQ_INT(s.events[1].action, STRATA_SCN_KILL);
    CHECK(s.events[1].share == 0.1);
    CHECK_EQ_U64(s.events[2].at_ns, 7500000000ull);
    CHECK_EQ_INT(s.events[2].action, STRATA_SCN_UPLOAD);
    CHECK_EQ_INT(s.events[2].kbps, 300);
    CHECK_EQ_INT(s.events[3].action, STRATA_SCN_LOSS);
    CHECK(s.events[3].loss == 0.01);
    CHECK_EQ_INT(s.events[3].by_region, 0);
    CHECK_EQ_INT(s.events[3].side, STRATA_SCN_LOSS_SEND);
    CHECK_EQ_INT(s.events[4].action, STRATA_SCN_KILL);
    CHECK(s.events[4].share == 0.25);
    /* A region's loss hits its peers only; without a region, everyone. */
    CHECK_EQ_INT(s.events[5].action, STRATA_SCN_LOSS);
    CHECK_EQ_INT(s.events[5].by_region, 1);
    CHECK(strcmp(s.events[5].region, "h2") == 0);
    CHECK_EQ_INT(s.events[5].side, STRATA_SCN_LOSS_BOTH);
    CHECK(strata_scenario_event_hits(&s, 5, 3, "h2"));
    CHECK(!strata_scenario_event_hits(&s, 5, 3, "h1"));
    CHECK_EQ_INT(s.events[6].side, STRATA_SCN_LOSS_RECEIVE);
    CHECK(strata_scenario_event_hits(&s, 6, 3, "h1"));
}

/* Each bad line and the message (with its line number) it must produce. */
static void test_parse_errors(void)
{
    struct {
        const char *text, *want;
    } cases[] = {
        {"nodes = 10\nbogus line\n", "t.scn:2: expected 'key = value'"},
        {"\n\n\nnodes = ten\n", "t.scn:4: nodes needs a whole number"},
        {"colour = blue\n", "t.scn:1: unknown key 'colour'"},
        {" = 5\n", "t.scn:1: missing key"},
        {"nodes = 5\nat\n", "t.scn:2: expected"},
        {"at 10\n", "t.scn:1: 'at 10' needs an action"},
        {"at ten kill share=0.1\n", "t.scn:1: 'at' needs a time"},
        {"at 10 explode share=0.1\n", "t.scn:1: unknown action 'explode'"},
        {"at 10 kill\n", "t.scn:1: 'kill' needs exactly one of share=P or region=LABEL"},
        {"at 10 kill share=0.1 region=h1\n", "exactly one of"},
        {"at 10 kill share=2\n", "t.scn:1: share needs a number in [0, 1]"},
        {"at 10 kill share\n", "t.scn:1: unexpected 'share'"},
        {"at 10 kill kbps=5\n", "does not take 'kbps='"},
        {"at 10 upload share=0.5\n", "'upload' needs share=P and kbps=K"},
        {"at 10 loss 0.1 side=up\n", "side needs send, receive or both"},
        {"at 10 loss 0.1 share=0.5\n", "unexpected 'share'"},
        {"at 10 upload share=0.5 kbps=-1\n", "kbps needs a whole number"},
        {"at 10 loss\n", "'loss' needs a probability"},
        {"at 10 loss 0.1 extra=1\n", "unexpected"},
        {"at -1 kill share=0.1\n", "'at' needs a time"},
        {"nodes = 5\r\nrate_kbps = 0\r\n", "t.scn:2: rate_kbps"},
        {"at 10 control-restart share=0.1\n", "unexpected 'share'"},
        {"at 10 control-restart down=x\n", "down needs seconds"},
        {"at 10 kill-preferred regions=0\n", "regions needs a whole number"},
        {"at 10 kill-preferred share=0.5\n", "unexpected 'share'"},
        {"region = regions\n", "region must be one of one|host|groups"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strata_scenario s;
        char err[256] = "";
        int rc = parse(&s, cases[i].text, err, sizeof err);
        CHECK(rc < 0);
        if (!strstr(err, cases[i].want)) {
            test_failures++;
            fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, err, cases[i].want);
        }
    }
    /* A NUL inside a line and an overlong line. */
    strata_scenario s;
    strata_scenario_default(&s);
    char err[256] = "";
    static const char nul[] = "nodes = 5\nno\0des = 6\n";
    CHECK(strata_scenario_parse(&s, nul, sizeof nul - 1, "t.scn", err, sizeof err) < 0);
    CHECK(strstr(err, "t.scn:2: NUL") != NULL);
    char *big = malloc(STRATA_SCN_MAX_LINE_BYTES + 10);
    memset(big, 'a', STRATA_SCN_MAX_LINE_BYTES + 9);
    big[STRATA_SCN_MAX_LINE_BYTES + 9] = '\0';
    CHECK(strata_scenario_parse(&s, big, strlen(big), "t.scn", err, sizeof err) < 0);
    CHECK(strstr(err, "t.scn:1: line longer") != NULL);
    free(big);
    /* A missing file. */
    CHECK_EQ_INT(strata_scenario_load(&s, "/nonexistent/x.scn", err, sizeof err),
                 STRATA_ERR_NOTFOUND);
    CHECK(strstr(err, "/nonexistent/x.scn") != NULL);
}

static void test_validate(void)
{
    strata_scenario s;
    char err[256];
    strata_scenario_default(&s);
    s.join = STRATA_SCN_JOIN_POISSON;
    s.join_window_ns = 0;
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), STRATA_ERR_RANGE);
    CHECK(strstr(err, "poisson") != NULL);
    strata_scenario_default(&s);
    s.access_min_ms = 5;
    s.access_max_ms = 1;
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), STRATA_ERR_RANGE);
    CHECK(strstr(err, "access_min_ms") != NULL);
    strata_scenario_default(&s);
    s.packet_bytes = 64;
    s.rate_kbps = 1000000;
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), STRATA_ERR_RANGE);
    strata_scenario_default(&s);
    s.algorithm[0] = '\0';
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), STRATA_ERR_RANGE);
}

/* Formatting and parsing back gives the same scenario. */
static void test_round_trip(void)
{
    static const char text[] = "nodes = 321\nduration_s = 7.25\nloss = 0.125\nsession = exp\n"
                               "session_mean_s = 33.3\nregion = host\nlatency = /tmp/x.txt\n"
                               "at 3 kill region=h7\nat 4 leave share=0.3\n"
                               "at 5 upload share=0.2 kbps=100\nat 6 loss 0.5\n"
                               "at 7 control-restart down=2.5\ngroup_max_members = 64\n"
                               "at 8 kill-preferred regions=3\n";
    strata_scenario a, b;
    char err[256] = "";
    CHECK_EQ_INT(parse(&a, text, err, sizeof err), 0);
    CHECK_EQ_INT(strata_scenario_validate(&a, err, sizeof err), 0);
    size_t n = strata_scenario_format(&a, NULL, 0);
    char *buf = malloc(n + 1);
    CHECK_EQ_U64(strata_scenario_format(&a, buf, n + 1), n);
    CHECK_EQ_INT(parse(&b, buf, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
    CHECK_EQ_INT(strata_scenario_validate(&b, err, sizeof err), 0);
    size_t n2 = strata_scenario_format(&b, NULL, 0);
    char *buf2 = malloc(n2 + 1);
    strata_scenario_format(&b, buf2, n2 + 1);
    CHECK_EQ_U64(n, n2);
    CHECK(strcmp(buf, buf2) == 0);
    CHECK_EQ_INT(b.nodes, 321);
    CHECK_EQ_U64(b.duration_ns, 7250000000ull);
    CHECK_EQ_INT((int)b.nevents, 6);
    CHECK_EQ_INT(b.events[4].action, STRATA_SCN_CONTROL_RESTART);
    CHECK_EQ_U64(b.events[4].down_ns, 2500000000ull);
    CHECK_EQ_INT(b.events[5].action, STRATA_SCN_KILL_PREFERRED);
    CHECK_EQ_INT((int)b.events[5].regions, 3);
    CHECK_EQ_INT(b.group_max_members, 64);
    /* A short buffer still reports the full length and stays terminated. */
    char small[16];
    CHECK_EQ_U64(strata_scenario_format(&a, small, sizeof small), n);
    CHECK(strlen(small) == sizeof small - 1);
    free(buf);
    free(buf2);
}

static void test_joins(void)
{
    enum { N = 4000 };
    static uint64_t t[N];
    strata_scenario s;
    strata_scenario_default(&s);
    s.join_window_ns = 0;
    strata_scenario_first_joins(&s, N, t);
    int all_zero = 1;
    for (int i = 0; i < N; i++)
        all_zero &= t[i] == 0;
    CHECK(all_zero);

    /* all over a window: uniform in it. */
    s.join_window_ns = STRATA_S(10);
    strata_scenario_first_joins(&s, N, t);
    double sum = 0;
    int inside = 1;
    for (int i = 0; i < N; i++) {
        inside &= t[i] < STRATA_S(10);
        sum += (double)t[i] / 1e9;
    }
    CHECK(inside);
    CHECK(fabs(sum / N - 5.0) < 0.25);

    /* poisson: increasing, gaps exponential with mean window / N. */
    s.join = STRATA_SCN_JOIN_POISSON;
    s.join_window_ns = STRATA_S(100);
    strata_scenario_first_joins(&s, N, t);
    int increasing = 1;
    double gaps = 0, gaps2 = 0;
    for (int i = 1; i < N; i++) {
        increasing &= t[i] >= t[i - 1];
        double g = (double)(t[i] - t[i - 1]) / 1e9;
        gaps += g;
        gaps2 += g * g;
    }
    CHECK(increasing);
    double mean = gaps / (N - 1), var = gaps2 / (N - 1) - mean * mean;
    CHECK(fabs(mean - 0.025) < 0.0025);
    /* Exponential: standard deviation equals the mean. */
    CHECK(fabs(sqrt(var) - mean) < 0.1 * mean);
    CHECK(fabs((double)t[N - 1] / 1e9 - 100.0) < 8.0);

    /* flash: about flash_share of the slots in the burst. */
    s.join = STRATA_SCN_JOIN_FLASH;
    s.join_window_ns = 0;
    s.flash_at_ns = STRATA_S(30);
    s.flash_window_ns = STRATA_S(2);
    s.flash_share = 0.7;
    strata_scenario_first_joins(&s, N, t);
    int burst = 0, other = 0;
    for (int i = 0; i < N; i++) {
        if (t[i] >= STRATA_S(30) && t[i] < STRATA_S(32))
            burst++;
        else if (t[i] == 0)
            other++;
    }
    CHECK_EQ_INT(burst + other, N);
    CHECK(fabs((double)burst / N - 0.7) < 0.03);

    /* A slot's draw does not depend on how many slots there are. */
    static uint64_t u[N / 2];
    s.join = STRATA_SCN_JOIN_ALL;
    s.join_window_ns = STRATA_S(10);
    strata_scenario_first_joins(&s, N, t);
    strata_scenario_first_joins(&s, N / 2, u);
    CHECK(memcmp(t, u, sizeof u) == 0);
    /* Another seed, other draws. */
    s.seed = 2;
    strata_scenario_first_joins(&s, N / 2, u);
    CHECK(memcmp(t, u, sizeof u) != 0);
}

static void test_sessions(void)
{
    enum { N = 20000 };
    strata_scenario s;
    strata_scenario_default(&s);
    CHECK_EQ_U64(strata_scenario_session_ns(&s, 3, 0), STRATA_NEVER);

    s.session = STRATA_SCN_SESSION_EXP;
    s.session_mean_s = 120;
    double sum = 0;
    for (uint32_t i = 0; i < N; i++)
        sum += (double)strata_scenario_session_ns(&s, i, i % 3) / 1e9;
    CHECK(fabs(sum / N - 120) < 3);
    /* Sessions of one slot differ from each other, and repeat exactly. */
    CHECK(strata_scenario_session_ns(&s, 5, 0) != strata_scenario_session_ns(&s, 5, 1));
    CHECK_EQ_U64(strata_scenario_session_ns(&s, 5, 1), strata_scenario_session_ns(&s, 5, 1));

    s.session = STRATA_SCN_SESSION_LOGNORMAL;
    s.session_median_s = 60;
    s.session_sigma = 1.2;
    int below = 0;
    double logs = 0;
    for (uint32_t i = 0; i < N; i++) {
        double x = (double)strata_scenario_session_ns(&s, i, 0) / 1e9;
        below += x < 60;
        logs += log(x);
    }
    CHECK(fabs((double)below / N - 0.5) < 0.015);
    CHECK(fabs(logs / N - log(60)) < 0.05);

    s.leave_share = 0.3;
    int graceful = 0;
    for (uint32_t i = 0; i < N; i++)
        graceful += strata_scenario_graceful(&s, i, 2);
    CHECK(fabs((double)graceful / N - 0.3) < 0.015);

    s.rejoin_mean_s = 10;
    sum = 0;
    for (uint32_t i = 0; i < N; i++)
        sum += (double)strata_scenario_rejoin_ns(&s, i, 0) / 1e9;
    CHECK(fabs(sum / N - 10) < 0.3);
    s.rejoin = 0;
    CHECK_EQ_U64(strata_scenario_rejoin_ns(&s, 1, 0), STRATA_NEVER);
}

static void test_event_hits(void)
{
    enum { N = 20000 };
    strata_scenario s;
    char err[256] = "";
    CHECK_EQ_INT(parse(&s,
                       "at 10 kill share=0.2\nat 20 kill region=h3\nat 30 loss 0.1\n"
                       "at 40 kill share=0.2\n",
                       err, sizeof err),
                 0);
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), 0);
    int hit = 0, both = 0;
    for (uint32_t i = 0; i < N; i++) {
        int a = strata_scenario_event_hits(&s, 0, i, "h1");
        int b = strata_scenario_event_hits(&s, 3, i, "h1");
        hit += a;
        both += a && b;
    }
    CHECK(fabs((double)hit / N - 0.2) < 0.015);
    /* Two failures at different times draw independently. */
    CHECK(fabs((double)both / N - 0.04) < 0.008);
    CHECK_EQ_INT(strata_scenario_event_hits(&s, 1, 7, "h3"), 1);
    CHECK_EQ_INT(strata_scenario_event_hits(&s, 1, 7, "h33"), 0);
    CHECK_EQ_INT(strata_scenario_event_hits(&s, 1, 7, NULL), 0);
    CHECK_EQ_INT(strata_scenario_event_hits(&s, 2, 7, "h3"), 1); /* a loss without a region: all */
    CHECK_EQ_INT(strata_scenario_event_hits(&s, 99, 7, "h3"), 0);

    /* Adding an event elsewhere does not change who a failure hits. */
    strata_scenario t = s;
    CHECK_EQ_INT(strata_scenario_add_event(&t, "1", "kill share=0.5", 0, err, sizeof err), 0);
    CHECK_EQ_INT(strata_scenario_validate(&t, err, sizeof err), 0);
    CHECK_EQ_U64(t.events[1].at_ns, STRATA_S(10));
    int same = 1;
    for (uint32_t i = 0; i < 2000; i++)
        same &=
            strata_scenario_event_hits(&s, 0, i, "x") == strata_scenario_event_hits(&t, 1, i, "x");
    CHECK(same);
}

static void test_load_file(void)
{
    char path[] = "/tmp/strata_scn_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    static const char text[] = "nodes = 42\nat 1 kill share=0.5\n";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    strata_scenario s;
    strata_scenario_default(&s);
    char err[256] = "";
    CHECK_EQ_INT(strata_scenario_load(&s, path, err, sizeof err), 0);
    CHECK_EQ_INT(s.nodes, 42);
    CHECK_EQ_INT((int)s.nevents, 1);
    unlink(path);
}

int main(void)
{
    test_defaults();
    test_set();
    test_parse_text();
    test_parse_errors();
    test_validate();
    test_round_trip();
    test_joins();
    test_sessions();
    test_event_hits();
    test_load_file();
    return test_summary("test_scenario");
}
