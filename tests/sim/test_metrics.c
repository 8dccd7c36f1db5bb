/*
 * Tests of the simulator's metrics, fed by hand: delivery over the nodes
 * present (a node that leaves is not counted missing afterwards), startup,
 * lag percentiles, stretch (a direct path has stretch 1), traffic shares,
 * upload utilisation, the fluid bound, the JSON and CSV writers, and the
 * regional series around a kill-preferred event.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

#define NEAR(a, b, eps) (fabs((double)(a) - (double)(b)) <= (eps))
#define CHECK_NEAR(a, b, eps)                                                                      \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!NEAR(a, b, eps)) {                                                                    \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s ~ %s failed: %.9g vs %.9g\n", __FILE__, __LINE__, #a, #b,   \
                    (double)(a), (double)(b));                                                     \
        }                                                                                          \
    } while (0)

enum { IV_MS = 100, DELAY_MS = 1000 };

/* Metrics for `peers` peer slots over duration_s, a packet every 100 ms,
 * a playout delay of one second. */
static void make(strata_simmetrics *m, uint32_t peers, uint32_t duration_s)
{
    strata_simmetrics_config c = {
        .nodes = peers + STRATA_SIMM_FIRST_PEER,
        .duration_ns = STRATA_S(duration_s),
        .packet_interval_ns = STRATA_MS(IV_MS),
        .playout_delay_ns = STRATA_MS(DELAY_MS),
        .startup_grace_ns = 0,
        .csv_interval_ns = STRATA_S(1),
        .rate_kbps = 1000,
        .packet_bytes = 12500, /* 100 ms at 1 Mbit/s */
        .source_upload_kbps = 4000,
        .regions = 2,
    };
    CHECK_EQ_INT(strata_simmetrics_init(m, NULL, &c), 0);
}

/* The source sends packets 0.. every 100 ms up to (excluding) until_ms. */
static void send_until(strata_simmetrics *m, uint64_t *seq, uint64_t until_ms)
{
    while (*seq * IV_MS < until_ms) {
        strata_simmetrics_source_packet(m, *seq, STRATA_MS(*seq * IV_MS));
        (*seq)++;
    }
}

/* node plays packets [from, to) each lag_ms after it was sent. */
static void play_range(strata_simmetrics *m, uint32_t node, uint64_t from, uint64_t to,
                       uint64_t lag_ms)
{
    for (uint64_t s = from; s < to; s++)
        strata_simmetrics_play(m, node, s, STRATA_MS(s * IV_MS), STRATA_MS(s * IV_MS + lag_ms));
}

static void test_leaver_not_missing(void)
{
    /* Node 2 joins at 0 and leaves at 10 s, having played everything it
     * could: packets sent up to 10 s - 1 s. Node 3 stays for the whole
     * 20 s run. Neither missed anything. */
    strata_simmetrics m;
    make(&m, 2, 20);
    strata_simmetrics_session_start(&m, 2, 0, STRATA_S(10));
    strata_simmetrics_session_start(&m, 3, 0, STRATA_NEVER);
    uint64_t seq = 0;
    send_until(&m, &seq, 20000);
    play_range(&m, 2, 0, 91, 500);  /* sent at 0 .. 9.0 s */
    play_range(&m, 2, 91, 95, 500); /* sent after 9 s: played, but not due */
    play_range(&m, 3, 0, 191, 500); /* up to 19.0 s */
    strata_simmetrics_session_end(&m, 2, 1, STRATA_S(10));
    strata_simresult r;
    memset(&r, 0, sizeof r);
    strata_simmetrics_finish(&m, STRATA_S(20), &r);
    /* Due: node 2 seqs 0..90 (91), node 3 seqs 0..190 (191). */
    CHECK_EQ_U64(r.packets_due, 91 + 191);
    CHECK_EQ_U64(r.packets_played, 91 + 191);
    CHECK_NEAR(r.delivery_ratio, 1.0, 1e-12);
    CHECK_EQ_U64(r.packets_sent, 200);
    CHECK_EQ_U64(r.leaves, 1);
    CHECK_EQ_U64(r.kills, 0);
    CHECK_EQ_U64(r.sessions, 2);
    strata_simmetrics_free(&m);

    /* The same leaver, killed at 6 s instead (earlier than planned): it
     * is not counted missing for 5..9 s either. */
    make(&m, 1, 20);
    strata_simmetrics_session_start(&m, 2, 0, STRATA_S(10));
    seq = 0;
    send_until(&m, &seq, 6000);
    play_range(&m, 2, 0, 51, 300);
    strata_simmetrics_session_end(&m, 2, 0, STRATA_S(6));
    send_until(&m, &seq, 20000);
    strata_simmetrics_finish(&m, STRATA_S(20), &r);
    CHECK_EQ_U64(r.packets_due, 51);
    CHECK_NEAR(r.delivery_ratio, 1.0, 1e-12);
    CHECK_EQ_U64(r.kills, 1);
    strata_simmetrics_free(&m);
}

static void test_delivery_partial(void)
{
    /* A node that joins at 5 s and plays every other packet. */
    strata_simmetrics m;
    make(&m, 1, 10);
    uint64_t seq = 0;
    send_until(&m, &seq, 5000);
    strata_simmetrics_session_start(&m, 2, STRATA_S(5), STRATA_NEVER);
    send_until(&m, &seq, 10000);
    for (uint64_t s = 50; s < 100; s += 2)
        strata_simmetrics_play(&m, 2, s, STRATA_MS(s * IV_MS), STRATA_MS(s * IV_MS + 200));
    /* A play of a packet sent before the join does not count. */
    strata_simmetrics_play(&m, 2, 10, STRATA_MS(1000), STRATA_MS(5100));
    strata_simresult r;
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    /* Due: sent in [5 s, 9 s] = seqs 50..90 (41); played 50, 52, .., 90 (21). */
    CHECK_EQ_U64(r.packets_due, 41);
    CHECK_EQ_U64(r.packets_played, 21);
    CHECK_NEAR(r.delivery_ratio, 21.0 / 41.0, 1e-12);
    /* Startup: the first play (seq 50) came 5.2 s - 5 s after the join. */
    CHECK_NEAR(r.startup_p50, 0.2, 1e-6);
    CHECK_EQ_U64(r.startup_failures, 0);
    strata_simmetrics_free(&m);

    /* A session that never plays is a startup failure. */
    make(&m, 1, 10);
    strata_simmetrics_session_start(&m, 2, 0, STRATA_NEVER);
    seq = 0;
    send_until(&m, &seq, 10000);
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    CHECK_EQ_U64(r.startup_failures, 1);
    CHECK_NEAR(r.delivery_ratio, 0.0, 0);
    CHECK(r.startup_p50 < 0);
    strata_simmetrics_free(&m);
}

static void test_startup_and_lag(void)
{
    strata_simmetrics m;
    make(&m, 100, 30);
    uint64_t seq = 0;
    send_until(&m, &seq, 30000);
    /* Node i joins at i * 10 ms and first plays (i + 1) * 10 ms later;
     * every play has lag 100 + i ms. */
    for (uint32_t i = 0; i < 100; i++) {
        uint32_t node = i + STRATA_SIMM_FIRST_PEER;
        uint64_t join = STRATA_MS(i * 10);
        strata_simmetrics_session_start(&m, node, join, STRATA_NEVER);
        uint64_t s0 = 10;
        strata_simmetrics_play(&m, node, s0, STRATA_MS(s0 * IV_MS), join + STRATA_MS((i + 1) * 10));
        for (uint64_t s = s0 + 1; s < s0 + 11; s++)
            strata_simmetrics_play(&m, node, s, STRATA_MS(s * IV_MS),
                                   STRATA_MS(s * IV_MS + 100 + i));
    }
    strata_simresult r;
    strata_simmetrics_finish(&m, STRATA_S(30), &r);
    /* Startup samples 0.01 .. 1.00 s: p50 is the 50th, p95 the 95th. */
    CHECK_NEAR(r.startup_p50, 0.50, 1e-6);
    CHECK_NEAR(r.startup_p95, 0.95, 1e-6);
    /* Lags: 1,000 plays at 100..199 ms, plus the first plays; the
     * histogram is within 1 % of the true percentiles. */
    CHECK(r.lag_p50 > 0.14 * 0.99 && r.lag_p50 < 0.16 * 1.01);
    CHECK(r.lag_p95 > 0.18 * 0.99 && r.lag_p95 < 0.20 * 1.01);
    strata_simmetrics_free(&m);
}

static void test_stretch(void)
{
    strata_simmetrics m;
    make(&m, 3, 10);
    /* Node 2 is fed by the source directly: path = direct. */
    strata_simmetrics_set_direct(&m, 2, STRATA_MS(40));
    for (int i = 0; i < 50; i++)
        strata_simmetrics_path(&m, 2, 40000);
    /* Node 3 through a relay: 40 ms + 30 ms over a direct 35 ms. */
    strata_simmetrics_set_direct(&m, 3, STRATA_MS(35));
    for (int i = 0; i < 50; i++)
        strata_simmetrics_path(&m, 3, 70000);
    /* Node 4 receives nothing: no sample. */
    strata_simmetrics_set_direct(&m, 4, STRATA_MS(10));
    strata_simresult r;
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    CHECK_NEAR(r.stretch_p50, 1.0, 0);
    CHECK_NEAR(r.stretch_p95, 2.0, 1e-6);
    strata_simmetrics_free(&m);

    /* Only direct paths: exactly 1. */
    make(&m, 2, 10);
    strata_simmetrics_set_direct(&m, 2, 12345678);
    strata_simmetrics_set_direct(&m, 3, 999);
    strata_simmetrics_path(&m, 2, 12346);
    strata_simmetrics_path(&m, 3, 1);
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    CHECK_NEAR(r.stretch_p50, 1.0, 0);
    CHECK_NEAR(r.stretch_p95, 1.0, 0);
    strata_simmetrics_free(&m);
}

static void test_traffic(void)
{
    strata_simmetrics m;
    make(&m, 2, 10);
    strata_simmetrics_set_capacity(&m, 2, 1000, 0);
    strata_simmetrics_set_capacity(&m, 3, 0, 0); /* unlimited */
    strata_simmetrics_session_start(&m, 2, 0, STRATA_NEVER);
    strata_simmetrics_session_start(&m, 3, 0, STRATA_NEVER);
    uint64_t seq = 0;
    send_until(&m, &seq, 10000); /* 100 packets x 12,500 bytes */
    /* Source -> 2: 100 data packets; 2 -> 3: 100, half across regions;
     * one lost in flight from 2; control both ways. */
    for (uint32_t i = 0; i < 100; i++) {
        strata_simmetrics_transfer(&m, 1, 2, 12500, 1, 0, 1, STRATA_MS(i * 100));
        strata_simmetrics_transfer(&m, 2, 3, 12500, 1, (int)(i % 2), 1, STRATA_MS(i * 100));
        if (i % 2) /* the cross-region ones: 30 relayed, 15 parity, 5 repairs */
            strata_simmetrics_cross_kind(&m,
                                         i < 60   ? STRATA_SIMM_CROSS_RELAYED
                                         : i < 90 ? STRATA_SIMM_CROSS_PARITY
                                                  : STRATA_SIMM_CROSS_REPAIR,
                                         12500);
    }
    strata_simmetrics_cross_kind(&m, STRATA_SIMM_CROSS_KINDS, 12500); /* not a kind: ignored */
    strata_simmetrics_transfer(&m, 2, 3, 12500, 1, 0, 0, STRATA_S(5));
    strata_simmetrics_transfer(&m, 2, 0, 1000, 0, 0, 1, STRATA_S(5));
    strata_simmetrics_transfer(&m, 0, 2, 1500, 0, 1, 1, STRATA_S(5));
    strata_simresult r;
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    CHECK_EQ_U64(r.data_bytes, 200 * 12500);
    CHECK_EQ_U64(r.control_bytes, 2500);
    CHECK_NEAR(r.p2p_share, 0.5, 1e-12);
    /* 50 cross-region packets / (2 regions x 100 packets). */
    CHECK_NEAR(r.cross_region_bytes_ratio, 0.25, 1e-12);
    CHECK_NEAR(r.cross_region_by_kind[STRATA_SIMM_CROSS_SOURCE], 0, 0);
    CHECK_NEAR(r.cross_region_by_kind[STRATA_SIMM_CROSS_RELAYED], 30.0 / 200, 1e-12);
    CHECK_NEAR(r.cross_region_by_kind[STRATA_SIMM_CROSS_PARITY], 15.0 / 200, 1e-12);
    CHECK_NEAR(r.cross_region_by_kind[STRATA_SIMM_CROSS_REPAIR], 5.0 / 200, 1e-12);
    CHECK_NEAR(r.control_overhead, 2500.0 / 2500000.0, 1e-12);
    /* Node 2 put 101 x 12,500 + 1,000 bytes on a 1 Mbit/s link for 10 s. */
    CHECK_NEAR(r.max_upload_utilisation, (101.0 * 12500 + 1000) * 8 / 1e7, 1e-9);
    CHECK_NEAR(r.mean_upload_utilisation, r.max_upload_utilisation, 1e-12);
    /* One slot unlimited: the bound is the source's upload. */
    CHECK_NEAR(r.fluid_bound_kbps, 4000, 1e-9);
    strata_simmetrics_free(&m);
}

static void test_fluid_bound(void)
{
    strata_simmetrics m;
    strata_simresult r;
    /* 4 slots of 500 kbit/s and a 4 Mbit/s source: (4000 + 2000) / 4. */
    make(&m, 4, 5);
    for (uint32_t i = 2; i < 6; i++)
        strata_simmetrics_set_capacity(&m, i, 500, 0);
    strata_simmetrics_finish(&m, STRATA_S(5), &r);
    CHECK_NEAR(r.fluid_bound_kbps, 1500, 1e-9);
    strata_simmetrics_free(&m);
    /* Fast peers: the source's upload bounds. */
    make(&m, 2, 5);
    strata_simmetrics_set_capacity(&m, 2, 100000, 0);
    strata_simmetrics_set_capacity(&m, 3, 100000, 0);
    strata_simmetrics_finish(&m, STRATA_S(5), &r);
    CHECK_NEAR(r.fluid_bound_kbps, 4000, 1e-9);
    strata_simmetrics_free(&m);
    /* Everything unlimited: no bound. */
    strata_simmetrics_config c = {.nodes = 3,
                                  .duration_ns = STRATA_S(1),
                                  .packet_interval_ns = STRATA_MS(10),
                                  .playout_delay_ns = STRATA_MS(100),
                                  .csv_interval_ns = STRATA_S(1),
                                  .rate_kbps = 1000,
                                  .packet_bytes = 1250,
                                  .source_upload_kbps = 0,
                                  .regions = 1};
    CHECK_EQ_INT(strata_simmetrics_init(&m, NULL, &c), 0);
    strata_simmetrics_finish(&m, STRATA_S(1), &r);
    CHECK(r.fluid_bound_kbps < 0);
    strata_simmetrics_free(&m);
}

static void test_capacity_change(void)
{
    /* 1,000 kbit/s for 5 s, then 250 kbit/s for 5 s: a budget of
     * 6.25 Mbit; 3.125 Mbit sent is 50 %. */
    strata_simmetrics m;
    make(&m, 1, 10);
    strata_simmetrics_set_capacity(&m, 2, 1000, 0);
    strata_simmetrics_session_start(&m, 2, 0, STRATA_NEVER);
    strata_simmetrics_set_capacity(&m, 2, 250, STRATA_S(5));
    strata_simmetrics_transfer(&m, 2, 3, 390625, 1, 0, 1, STRATA_S(6));
    strata_simresult r;
    strata_simmetrics_finish(&m, STRATA_S(10), &r);
    CHECK_NEAR(r.max_upload_utilisation, 0.5, 1e-9);
    strata_simmetrics_free(&m);
}

static void test_percentile(void)
{
    float v[] = {5, 1, 4, 2, 3};
    CHECK_NEAR(strata_simm_percentile_f(v, 5, 0.5), 3, 0);
    CHECK_NEAR(strata_simm_percentile_f(v, 5, 0.95), 5, 0);
    CHECK_NEAR(strata_simm_percentile_f(v, 5, 0.2), 1, 0);
    CHECK_NEAR(strata_simm_percentile_f(v, 1, 0.5), 1, 0);
    CHECK(strata_simm_percentile_f(v, 0, 0.5) < 0);
}

/* Every one of keys[0..n) is in text. */
static void check_has(const char *text, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        test_checks++;
        if (!strstr(text, keys[i])) {
            test_failures++;
            fprintf(stderr, "JSON lacks %s:\n%s\n", keys[i], text);
        }
    }
}

static void test_json_csv(void)
{
    strata_simmetrics m;
    make(&m, 2, 5);
    strata_simmetrics_session_start(&m, 2, 0, STRATA_NEVER);
    uint64_t seq = 0;
    send_until(&m, &seq, 5000);
    play_range(&m, 2, 0, 41, 250); /* all that is due: sent up to 4 s */
    for (uint64_t t = 0; t < 5; t++)
        strata_simmetrics_sample(&m, STRATA_MS(t * 1000 + 500));
    strata_simresult r;
    memset(&r, 0, sizeof r);
    strata_simmetrics_finish(&m, STRATA_S(5), &r);
    snprintf(r.algorithm, sizeof r.algorithm, "strata");
    r.fingerprint = 0x0123456789abcdefull;
    r.events = 99;

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_simresult_write_json(&r, f), 0);
    fclose(f);
    static const char *const keys[] = {"\"nodes\": 2,",
                                       "\"duration_s\": 5.000000",
                                       "\"algorithm\": \"strata\"",
                                       "\"delivery_ratio\": 1.000000",
                                       "\"startup_delay_s\": {\"p50\": ",
                                       "\"lag_s\": {\"p50\": 0.25",
                                       "\"stretch\": {\"p50\": null, \"p95\": null}",
                                       "\"p2p_share\": ",
                                       "\"cross_region_bytes_ratio\": ",
                                       "\"max_upload_utilisation\": ",
                                       "\"control_overhead\": ",
                                       "\"fluid_bound_kbps\": ",
                                       "\"events\": 99,",
                                       "\"fingerprint\": \"0123456789abcdef\""};
    check_has(text, keys, sizeof keys / sizeof keys[0]);
    CHECK(strstr(text, "wall_s") == NULL);
    free(text);
    r.have_timing = 1;
    r.wall_s = 1.5;
    r.peak_rss_mb = 12;
    f = open_memstream(&text, &len);
    strata_simresult_write_json(&r, f);
    fclose(f);
    CHECK(strstr(text, "\"wall_s\": 1.500000") != NULL);
    CHECK(strstr(text, "\"peak_rss_mb\": 12.000000") != NULL);
    free(text);

    f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_simmetrics_write_csv(&m, f), 0);
    fclose(f);
    /* A header and one row per second (plus the row the end falls in). */
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    CHECK_EQ_INT(lines, 1 + 6);
    CHECK(strncmp(text, "t_s,online_peers,delivery_ratio,", 32) == 0);
    /* Second row: t = 1 s, one peer online, all due packets played. */
    CHECK(strstr(text, "\n1.000,1,1.000000,10,0.250000,") != NULL);
    free(text);
    strata_simmetrics_free(&m);
}

/* What slot 2 of test_regional misses: the packets sent in [15 s, 17 s)
 * and [18 s, 18.5 s). */
static int regional_missed(uint64_t seq)
{
    return (seq >= 150 && seq < 170) || (seq >= 180 && seq < 185);
}

/* node plays the packets [from, to), 500 ms after each was sent, but
 * those skip says it misses (skip may be NULL). */
static void play_but(strata_simmetrics *m, uint32_t node, uint64_t from, uint64_t to,
                     int (*skip)(uint64_t))
{
    for (uint64_t s = from; s < to; s++)
        if (!skip || !skip(s))
            play_range(m, node, s, s + 1, 500);
}

/* A regional series (kill-preferred) from hand-fed plays. A failure at
 * 15 s; the region's survivors are slots 2 and 3, slot 4 is elsewhere.
 * Slot 2 misses what was sent in [15 s, 17 s) and [18 s, 18.5 s); slot 3
 * plays everything, leaves at 30 s and comes back at 32 s as a new session
 * (not followed: it missed everything then); slot 4 plays nothing after
 * 5 s (not followed either). Plays up to 14.5 s are made before the
 * failure (from the rings), the rest after. 10 packets a second, playout
 * delay 1 s, a run of 40 s. */
static void test_regional(void)
{
    strata_simmetrics m;
    strata_simmetrics_config c = {
        .nodes = 3 + STRATA_SIMM_FIRST_PEER,
        .duration_ns = STRATA_S(40),
        .packet_interval_ns = STRATA_MS(IV_MS),
        .playout_delay_ns = STRATA_MS(DELAY_MS),
        .csv_interval_ns = STRATA_S(1),
        .rate_kbps = 1000,
        .packet_bytes = 12500,
        .regions = 2,
        .regional_plays = 1,
    };
    CHECK_EQ_INT(strata_simmetrics_init(&m, NULL, &c), 0);
    for (uint32_t n = 2; n <= 4; n++)
        strata_simmetrics_session_start(&m, n, 0, n == 3 ? STRATA_S(30) : STRATA_NEVER);
    uint64_t seq = 0;
    send_until(&m, &seq, 15000);
    play_but(&m, 2, 0, 145, regional_missed);
    play_but(&m, 3, 0, 145, NULL);
    play_but(&m, 4, 0, 50, NULL);
    uint32_t region[] = {3, 2, 3}; /* any order, a repeat is one */
    const char *labels[] = {"h7"};
    CHECK_EQ_INT(strata_simmetrics_regional_start(&m, STRATA_S(15), region, 3, 2, 1, labels, 1), 0);
    send_until(&m, &seq, 40000);
    play_but(&m, 2, 145, 400, regional_missed);
    play_but(&m, 3, 145, 291, NULL); /* due up to 29 s */
    strata_simmetrics_session_end(&m, 3, 1, STRATA_S(30));
    strata_simmetrics_session_start(&m, 3, STRATA_S(32), STRATA_NEVER);
    strata_simresult r;
    memset(&r, 0, sizeof r);
    strata_simmetrics_finish(&m, STRATA_S(40), &r);

    CHECK_EQ_INT(r.nregional, 1);
    const strata_simm_regional *g = &r.regional[0];
    CHECK_NEAR(g->at_s, 15, 1e-9);
    CHECK_EQ_INT(g->victims, 2);
    CHECK_EQ_INT(g->regions, 1);
    CHECK(strcmp(g->labels[0], "h7") == 0);
    CHECK_EQ_INT(g->peers, 2);
    /* Second i covers send times [5 + i, 6 + i) s: everything before the
     * failure, half of what the two sent in its first two seconds,
     * 15 of 20 in the fourth, the rest whole; slot 2 alone from 30 s
     * (slot 3's last due packet was sent at 29 s), nothing due from
     * 39.1 s on. */
    for (int i = 0; i < STRATA_SIMM_REGIONAL_SECONDS; i++) {
        double want = i < 10 ? 1 : i < 12 ? 0.5 : i == 13 ? 0.75 : i < 35 ? 1 : -1;
        CHECK_NEAR(g->delivery_1s[i], want, 1e-9);
    }
    CHECK_NEAR(g->delivery_10s_before, 1, 1e-9);
    CHECK_NEAR(g->delivery_10s_after, 175.0 / 200.0, 1e-9);
    CHECK_NEAR(g->delivery_min_1s, 0.5, 1e-9);
    CHECK_NEAR(g->delivery_min_at_s, 0, 1e-9);
    /* Back above 0.999 in the third second (the fourth dips again: the
     * series shows it). */
    CHECK_NEAR(g->recovery_s, 2, 1e-9);
    /* The whole run counts slot 4's losses too. */
    CHECK(r.delivery_ratio < 0.9);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CHECK_EQ_INT(strata_simresult_write_json(&r, f), 0);
    fclose(f);
    static const char *const keys[] = {
        "\"kill_preferred\": [\n    {\"at_s\": 15.000, \"victims\": 2, \"regions\": 1, "
        "\"region_labels\": [\"h7\"], \"region_peers\": 2, \"delivery_10s_before\": 1.000000, "
        "\"delivery_10s_after\": 0.875000, \"delivery_min_1s\": 0.500000, "
        "\"delivery_min_at_s\": 0, \"recovery_s\": 2,\n",
        "\"delivery_1s_from_s\": -10, \"delivery_1s\": [1.000000, ",
        "0.500000, 0.500000, 1.000000, 0.750000, 1.000000, ",
        "1.000000, null, null, null, null, null]}\n  ],\n"};
    check_has(text, keys, sizeof keys / sizeof keys[0]);
    free(text);

    /* Only the first STRATA_SIMM_REGIONAL_MAX events are followed. */
    strata_simmetrics_free(&m);
    CHECK_EQ_INT(strata_simmetrics_init(&m, NULL, &c), 0);
    for (int i = 0; i < STRATA_SIMM_REGIONAL_MAX; i++)
        CHECK_EQ_INT(strata_simmetrics_regional_start(&m, STRATA_S(1), NULL, 0, 0, 0, NULL, 0), 0);
    CHECK_EQ_INT(strata_simmetrics_regional_start(&m, STRATA_S(1), NULL, 0, 0, 0, NULL, 0),
                 STRATA_ERR_FULL);
    strata_simmetrics_free(&m);
}

static void test_bad_config(void)
{
    strata_simmetrics m;
    strata_simmetrics_config c;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(strata_simmetrics_init(&m, NULL, &c), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simmetrics_init(&m, NULL, NULL), STRATA_ERR_INVAL);
}

int main(void)
{
    test_leaver_not_missing();
    test_delivery_partial();
    test_startup_and_lag();
    test_stretch();
    test_traffic();
    test_fluid_bound();
    test_capacity_change();
    test_percentile();
    test_json_csv();
    test_regional();
    test_bad_config();
    return test_summary("test_metrics");
}
