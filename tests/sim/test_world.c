/*
 * Tests of the simulated world running the strata core: a small healthy
 * run, determinism (same seed -> same fingerprint and JSON bytes, also when
 * run in steps), pinned fingerprints of small scenarios, the capacity
 * model against the fluid bound, churn, correlated failures (and the
 * regional series of a kill-preferred event), loss, the measured latency
 * data set, and addressing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "world.h"

/* A small scenario: n peers for secs seconds, fixed 20 ms links, everyone
 * joining at the start (before the stream begins). */
static void small(strata_scenario *s, uint32_t n, uint32_t secs)
{
    strata_scenario_default(s);
    s->nodes = n;
    s->duration_ns = STRATA_S(secs);
    s->join_window_ns = 0;
    s->seed = 7;
}

static void set(strata_scenario *s, const char *key, const char *value)
{
    char err[256];
    if (strata_scenario_set(s, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "set %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static void add_event(strata_scenario *s, const char *at, const char *what)
{
    char err[256];
    if (strata_scenario_add_event(s, at, what, 0, err, sizeof err) != 0) {
        fprintf(stderr, "at %s %s: %s\n", at, what, err);
        exit(2);
    }
}

/* Runs s to the end; fills r (without timing) and, if json is not NULL,
 * the JSON text (caller frees). Returns the fingerprint. */
static uint64_t run(const strata_scenario *s, strata_simresult *r, char **json,
                    strata_simalg_strata_stats *st)
{
    char err[512] = "";
    strata_world *w = strata_world_new(s, NULL, err, sizeof err);
    if (!w) {
        fprintf(stderr, "world: %s\n", err);
        exit(2);
    }
    CHECK_EQ_INT(strata_world_run(w), 0);
    strata_world_result(w, r);
    if (json) {
        size_t len = 0;
        FILE *f = open_memstream(json, &len);
        strata_simresult_write_json(r, f);
        fclose(f);
    }
    if (st)
        CHECK_EQ_INT(strata_simalg_strata_stats_of(w, st), 0);
    uint64_t fp = strata_world_fingerprint(w);
    strata_world_del(w);
    return fp;
}

/* Twenty peers and an unlimited source: every peer is a root of every
 * tree, so every packet comes straight from the source (stretch 1). */
static void test_direct(void)
{
    strata_scenario s;
    small(&s, 20, 10);
    set(&s, "capacity_mix", "");
    set(&s, "source_upload_kbps", "0");
    strata_simresult r;
    strata_simalg_strata_stats st;
    run(&s, &r, NULL, &st);
    CHECK(r.delivery_ratio > 0.999);
    CHECK_EQ_U64(r.startup_failures, 0);
    CHECK(r.stretch_p50 == 1.0);
    CHECK(r.stretch_p95 == 1.0);
    CHECK(r.p2p_share == 0.0);
    CHECK_EQ_U64(r.sessions, 20);
    CHECK_EQ_U64(st.joins, 21); /* and the source */
    CHECK_EQ_U64(st.detached_pairs, 0);
    CHECK(r.fluid_bound_kbps < 0); /* nothing is limited */
    /* 10 s at 1,316 bytes per 10.528 ms: 950 packets. */
    CHECK(r.packets_sent >= 940 && r.packets_sent <= 950);
    CHECK(r.lag_p50 > 0.02 && r.lag_p50 < 0.5);
    CHECK(r.control_overhead > 0 && r.control_overhead < 0.05);
    CHECK_EQ_U64(r.undeliverable, 0);
}

/* A healthy small overlay: the default capacity mix, peers relay. */
static void test_relaying(void)
{
    strata_scenario s;
    small(&s, 100, 15);
    strata_simresult r;
    strata_simalg_strata_stats st;
    run(&s, &r, NULL, &st);
    CHECK(r.delivery_ratio > 0.99);
    CHECK(r.p2p_share > 0.5);
    CHECK(r.stretch_p50 >= 1.0);
    CHECK(st.max_depth >= 2);
    CHECK(r.max_upload_utilisation > 0 && r.max_upload_utilisation <= 1.05);
    CHECK(r.startup_p50 >= 0 && r.startup_p50 < 3);
    CHECK(r.fluid_bound_kbps >= 1000);
}

static void test_determinism(void)
{
    strata_scenario s;
    small(&s, 60, 20);
    set(&s, "session", "exp");
    set(&s, "session_mean_s", "10");
    set(&s, "rejoin_mean_s", "3");
    set(&s, "loss", "0.01");
    set(&s, "join", "poisson");
    set(&s, "join_window_s", "4");
    add_event(&s, "12", "kill share=0.2");
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    if (lat)
        set(&s, "latency", lat);
    strata_simresult r1, r2, r3;
    char *j1 = NULL, *j2 = NULL;
    uint64_t f1 = run(&s, &r1, &j1, NULL);
    uint64_t f2 = run(&s, &r2, &j2, NULL);
    CHECK_EQ_U64(f1, f2);
    CHECK(strcmp(j1, j2) == 0);
    CHECK_EQ_U64(r1.events, r2.events);
    /* Another seed gives another run. */
    s.seed = 8;
    uint64_t f3 = run(&s, &r3, NULL, NULL);
    CHECK(f3 != f1);
    s.seed = 7;

    /* Running in steps processes the same events. */
    char err[256];
    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    CHECK(w != NULL);
    if (w) {
        for (uint64_t t = 0; t <= STRATA_S(20); t += STRATA_MS(1700))
            CHECK_EQ_INT(strata_world_run_until(w, t), 0);
        CHECK_EQ_INT(strata_world_run(w), 0);
        CHECK_EQ_U64(strata_world_fingerprint(w), f1);
        CHECK_EQ_U64(strata_world_events(w), r1.events);
        uint64_t sum = 0;
        for (unsigned k = 0; k < STRATA_WORLD_EVENT_KINDS; k++)
            sum += strata_world_events_of_kind(w, k);
        CHECK_EQ_U64(sum, r1.events);
        CHECK(strata_world_events_of_kind(w, STRATA_WORLD_EV_DELIVER) > 0);
        strata_world_del(w);
    }
    free(j1);
    free(j2);
}

/* Fingerprints of three small scenarios, pinned. A change of the core (a
 * different message, timer or tree decision) or of the engine (event
 * order, network model, planning draws) legitimately changes them: check
 * that the change was meant, then update the values here (the failure
 * message prints the new ones). Last changed, all three, when the
 * simulator's default levels became 3, the control center's (session 13;
 * before: the backbone). Before that when a DCM's root budget
 * began to change in place (strata_mtree_set_source_upload) instead of
 * rebuilding its trees, and HEARTBEAT grew a level byte (protocol.md
 * 3.2); "failure" again when a packet's send time stopped moving the
 * playout point (its deadline kept within [arrival + delay / 2, arrival +
 * delay], playout.h): in that scenario (uplinks cut to 300 kbit/s) some
 * packets arrive more than half the delay late, and the runs before them
 * are skipped later (delivery over 30 s, seeds 7, 8, 12: 0.98293, 0.91890,
 * 0.98318 before, 0.98484, 0.91519, 0.98659 after). After the levels,
 * "churn" and "failure" again when the capacity check (dcm_capacity.c)
 * became the default once it covered preferred nodes: newcomers' trees get
 * twice the rate of their upload until their heartbeats show more, and
 * preferred nodes are chosen by the upload it believes. Then, all three,
 * when HEARTBEAT grew recovered_packets (8 bytes on every heartbeat,
 * session 14: parity from loss). */
static void test_pinned(void)
{
    struct {
        const char *name;
        uint64_t want;
    } pins[] = {
        {"direct", 0xbdd27e6ae22ee4e1ull},
        {"churn", 0x6c5ed95ce17842f6ull},
        {"failure", 0xb33ee3438a1e10cbull},
    };
    strata_scenario s[3];
    small(&s[0], 10, 5);
    set(&s[0], "capacity_mix", "");
    small(&s[1], 30, 10);
    set(&s[1], "session", "exp");
    set(&s[1], "session_mean_s", "4");
    set(&s[1], "rejoin_mean_s", "1");
    set(&s[1], "leave_share", "0.5");
    small(&s[2], 40, 8);
    set(&s[2], "rejoin", "no");
    set(&s[2], "loss", "0.02");
    add_event(&s[2], "4", "kill share=0.25");
    add_event(&s[2], "5", "upload share=0.5 kbps=300");
    for (int i = 0; i < 3; i++) {
        strata_simresult r;
        uint64_t fp = run(&s[i], &r, NULL, NULL);
        test_checks++;
        if (fp != pins[i].want) {
            test_failures++;
            fprintf(stderr, "pinned scenario %s: fingerprint %016llx, pinned %016llx\n",
                    pins[i].name, (unsigned long long)fp, (unsigned long long)pins[i].want);
        }
    }
}

/* Liars (scenario liar_share): a share of the slots declares a large
 * upload and forwards nothing. Their own playback is left out of delivery.
 * With the capacity check fewer pairs hang under them and the honest
 * peers' delivery rises; with the backbone the control center strikes some
 * (their credit below one slot), without the check none. (With levels 3
 * this region of 60 splits, the liars rank among the strongest by what
 * they declare and are cut in the relay cluster and the mesh, not always
 * below a slot within 30 s: 0 struck, delivery 0.8242 -> 0.9804.) */
static void test_liars(void)
{
    static const char *const levels[] = {"backbone", "3"};
    for (int l = 0; l < 2; l++) {
        strata_simresult r[2];
        for (int check = 0; check <= 1; check++) {
            strata_scenario s;
            small(&s, 60, 30);
            set(&s, "levels", levels[l]);
            set(&s, "liar_share", "0.2");
            set(&s, "capacity_check", check ? "yes" : "no");
            run(&s, &r[check], NULL, NULL);
            CHECK(r[check].liars > 0 && r[check].liars < 30);
            CHECK(r[check].liar_sessions >= r[check].liars);
            CHECK(r[check].liar_dropped > 0);
        }
        CHECK_EQ_U64(r[0].liar_struck, 0);
        if (l == 0) {
            CHECK(r[1].liar_struck > 0);
            CHECK(r[1].liar_struck_p50 > 0 && r[1].liar_struck_p50 < 30);
        }
        CHECK(r[1].liar_pairs_mean < r[0].liar_pairs_mean);
        CHECK(r[1].delivery_ratio > r[0].delivery_ratio);
        fprintf(stderr,
                "liars, levels %s: %u, struck %llu of %llu sessions (p50 %.1f s), pairs under "
                "liars %.1f -> %.1f, delivery %.4f -> %.4f\n",
                levels[l], r[1].liars, (unsigned long long)r[1].liar_struck,
                (unsigned long long)r[1].liar_sessions, r[1].liar_struck_p50,
                r[0].liar_pairs_mean, r[1].liar_pairs_mean, r[0].delivery_ratio,
                r[1].delivery_ratio);
    }
}

/* Total upload below N x rate: delivery falls short and never beats the
 * fluid bound (Kumar, Liu, Ross). */
static void test_capacity(void)
{
    strata_scenario s;
    small(&s, 100, 20);
    set(&s, "capacity_mix", "slow:1:400");
    set(&s, "source_upload_kbps", "2000");
    strata_simresult r;
    run(&s, &r, NULL, NULL);
    /* min(2000, (2000 + 100 x 400) / 100) = 420 kbit/s of a 1,000 stream. */
    CHECK(fabs(r.fluid_bound_kbps - 420) < 1e-9);
    double bound = r.fluid_bound_kbps / 1000.0;
    if (!(r.delivery_ratio <= bound + 0.01))
        fprintf(stderr, "delivery %.4f above the fluid bound %.4f\n", r.delivery_ratio, bound);
    CHECK(r.delivery_ratio <= bound + 0.01);
    CHECK(r.delivery_ratio < 0.9);
    CHECK(r.net_queue_drops > 0);

    /* The same overlay with room to spare delivers. (The tree fills an
     * uplink's slots up to 100 % of its capacity, before DATA headers; a
     * capacity above the 64-children cap leaves the headroom repairs and
     * heartbeats need.) */
    set(&s, "capacity_mix", "fast:1:20000");
    set(&s, "source_upload_kbps", "10000");
    run(&s, &r, NULL, NULL);
    CHECK(r.fluid_bound_kbps >= 1000);
    CHECK(r.delivery_ratio > 0.98);
}

static void test_churn(void)
{
    strata_scenario s;
    small(&s, 80, 30);
    set(&s, "capacity_mix", "fast:1:20000");
    set(&s, "session", "exp");
    set(&s, "session_mean_s", "8");
    set(&s, "rejoin_mean_s", "2");
    set(&s, "leave_share", "0.5");
    strata_simresult r;
    strata_simalg_strata_stats st;
    run(&s, &r, NULL, &st);
    CHECK(r.sessions > 150);
    CHECK(r.leaves > 20);
    CHECK(r.kills > 20);
    /* The control center heard the goodbyes and noticed the silent ones
     * (a kill in the last 3.5 s of the run is not yet declared dead). */
    CHECK(st.leaves >= r.leaves * 9 / 10);
    CHECK(st.deaths > r.kills / 2);
    CHECK(r.delivery_ratio > 0.5);
    CHECK(r.startup_p50 >= 0);
}

static void test_correlated_failures(void)
{
    strata_scenario s;
    small(&s, 100, 10);
    set(&s, "rejoin", "no");
    set(&s, "capacity_mix", "fast:1:20000");
    add_event(&s, "5", "kill share=0.4");
    strata_simresult r;
    strata_simalg_strata_stats st;
    run(&s, &r, NULL, &st);
    CHECK(r.kills >= 25 && r.kills <= 55);
    CHECK_EQ_U64(r.leaves, 0);
    CHECK_EQ_U64(st.deaths, r.kills);
    /* Survivors are repaired and keep playing. */
    CHECK(r.delivery_ratio > 0.9);

    /* A whole region at once, gracefully. */
    small(&s, 50, 6);
    set(&s, "rejoin", "no");
    add_event(&s, "3", "leave region=one");
    run(&s, &r, NULL, &st);
    CHECK_EQ_U64(r.leaves, 50);
    CHECK_EQ_U64(st.leaves, 50);
    CHECK_EQ_U64(r.kills, 0);
}

static void test_loss(void)
{
    strata_scenario s;
    small(&s, 50, 10);
    set(&s, "loss", "0.03");
    strata_simresult r;
    run(&s, &r, NULL, NULL);
    CHECK(r.net_losses > 0);
    /* Repairs recover most of what the links lose. */
    CHECK(r.delivery_ratio > 0.95);
}

/* Waypoint servers (scenario waypoint_share, SPEC C5): a region per
 * PlanetLab host (about one peer each), 30 % of the peers below the rate.
 * The waypoints (30 % of the slots, 20 Mbit/s) are placed only in the
 * regions that lack a capable member, the others wait (standby); their
 * playback is not measured. What they do to delivery is not asserted: the
 * slots they take are viewers fewer, and the figures move either way by a
 * percent (docs/hierarchy.md, "Built: waypoint servers"). */
/* Parity from loss (dcm.h): three regions of one host each; from 10 s on
 * region h1's peers lose 8 % of what they send and of what they receive.
 * Its relay cluster takes more parity trees, the others keep theirs, and
 * nothing moves with parity_max = parity or without the loss. */
static void test_parity_from_loss(void)
{
    char lat[] = "/tmp/strata-test-lat3-XXXXXX";
    int fd = mkstemp(lat);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    static const char matrix[] = "0 40 80\n40 0 60\n80 60 0\n";
    CHECK(write(fd, matrix, sizeof matrix - 1) == (ssize_t)(sizeof matrix - 1));
    close(fd);
    strata_simresult r[3];
    for (int i = 0; i < 3; i++) {
        strata_scenario s;
        /* Under ASan (15 s at full size) three regions of 35: still above the
         * 32 members a region splits at, so each has a relay cluster. */
        small(&s, UNDER_ASAN ? 105 : 150, UNDER_ASAN ? 45 : 60);
        set(&s, "latency", lat);
        set(&s, "region", "host");
        set(&s, "attach", "round_robin");
        set(&s, "capacity_mix", "dsl:0.2:900,cable:0.5:5000,fibre:0.3:20000");
        set(&s, "parity_max", i == 1 ? "2" : "4");
        if (i < 2)
            add_event(&s, "10", "loss 0.08 region=h1 side=both");
        run(&s, &r[i], NULL, NULL);
    }
    unlink(lat);
    CHECK(r[0].parity_raises >= 1);
    CHECK_EQ_U64(r[0].parity_lowers, 0);
    CHECK_EQ_U64(r[1].parity_raises, 0);
    CHECK_EQ_U64(r[2].parity_raises, 0);
    CHECK(r[0].net_losses > 0 && r[2].net_losses == 0);
    CHECK(r[0].delivery_ratio >= 0.999);
    fprintf(stderr,
            "parity from loss: raises %llu; delivery %.6f (parity_max 4) %.6f (2); repaired %llu, "
            "%llu; rebuilt %llu, %llu\n",
            (unsigned long long)r[0].parity_raises, r[0].delivery_ratio, r[1].delivery_ratio,
            (unsigned long long)r[0].repaired_packets, (unsigned long long)r[1].repaired_packets,
            (unsigned long long)r[0].parity_rebuilt_packets,
            (unsigned long long)r[1].parity_rebuilt_packets);
}

static void test_waypoints(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    if (!lat)
        return;
    strata_simresult r[2];
    for (int with = 0; with <= 1; with++) {
        strata_scenario s;
        small(&s, 150, 20);
        set(&s, "latency", lat);
        set(&s, "region", "host");
        set(&s, "capacity_mix", "dsl:0.3:900,cable:0.5:5000,fibre:0.2:20000");
        set(&s, "waypoint_share", with ? "0.3" : "0");
        run(&s, &r[with], NULL, NULL);
    }
    CHECK_EQ_INT(r[0].waypoint_slots, 0);
    CHECK(r[1].waypoint_slots > 20 && r[1].waypoint_slots < 80);
    CHECK(r[1].waypoints_placed > 0);
    CHECK(r[1].waypoints_placed < r[1].waypoint_slots); /* only where needed */
    CHECK(r[1].waypoints_end > 0);
    CHECK(r[1].waypoint_standbys > 0);
    CHECK_EQ_U64(r[0].waypoints_placed, 0);
    fprintf(stderr, "waypoints: %u slots, %llu placed, %u at the end; delivery %.4f -> %.4f\n",
            r[1].waypoint_slots, (unsigned long long)r[1].waypoints_placed, r[1].waypoints_end,
            r[0].delivery_ratio, r[1].delivery_ratio);
}

static void test_dataset(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    if (!lat)
        return;
    strata_scenario s;
    small(&s, 60, 8);
    set(&s, "latency", lat);
    set(&s, "region", "host");
    set(&s, "attach", "round_robin");
    strata_simresult r;
    run(&s, &r, NULL, NULL);
    /* Round robin over 490 hosts: every peer has a region of its own. */
    CHECK_EQ_INT(r.regions, 60);
    CHECK(r.cross_region_bytes_ratio > 0);
    CHECK(r.stretch_p50 > 0);
    CHECK(r.packets_played > 0);

    /* A missing file is an error with its name. */
    set(&s, "latency", "/nonexistent/matrix.txt");
    char err[512] = "";
    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    CHECK(w == NULL);
    CHECK(strstr(err, "/nonexistent/matrix.txt") != NULL);
}

/* region = groups: the peers' nodes run their group agents, the control
 * node's group directory bootstraps them, and the channel's regions are
 * the groups. */
static void test_groups_regions(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    if (!lat)
        return;
    strata_scenario s;
    small(&s, 80, 30);
    set(&s, "latency", lat);
    set(&s, "region", "groups");
    set(&s, "join_window_s", "10");
    strata_simresult r, r2;
    char *j1 = NULL, *j2 = NULL;
    uint64_t fp = run(&s, &r, &j1, NULL);
    CHECK_EQ_INT(r.have_groups, 1);
    CHECK_EQ_INT(r.online_end, 80);
    CHECK_EQ_INT(r.in_group_end, 80); /* every peer found or founded a group */
    CHECK(r.regions_end > 1);         /* 80 peers over five continents */
    CHECK(r.regions_end < 80);        /* and groups of more than one */
    CHECK(r.regions >= 1);
    CHECK(r.cross_region_bytes_ratio > 0);
    CHECK(r.delivery_ratio > 0.95);
    CHECK(strstr(j1, "\"regions_end\"") != NULL);
    /* Deterministic, agents included. */
    CHECK_EQ_U64(run(&s, &r2, &j2, NULL), fp);
    CHECK(strcmp(j1, j2) == 0);
    free(j1);
    free(j2);
}

/* The control center crashes mid-stream (its node object destroyed) and a
 * fresh one starts on the same address: the peers relay on, re-associate
 * through their heartbeats, and every DCM is rebuilt from them. */
static void test_control_restart(void)
{
    strata_scenario s;
    small(&s, 60, 30);
    add_event(&s, "10", "control-restart down=1");
    strata_simresult r;
    char *json = NULL;
    run(&s, &r, &json, NULL);
    CHECK_EQ_INT(r.have_restart, 1);
    CHECK(fabs(r.restart_at_s - 10) < 1e-9);
    CHECK(fabs(r.restart_down_s - 1) < 1e-9);
    CHECK(r.rebuilt_s > 0 && r.rebuilt_s < 5); /* a recovery window of three heartbeats */
    CHECK_EQ_U64(r.members_before, 61);        /* 60 peers and the source */
    CHECK(r.restored_members >= 60);
    CHECK(r.reported_edges > 0);
    CHECK_EQ_U64(r.restored_edges, r.reported_edges); /* nobody left: the same trees */
    CHECK_EQ_U64(r.dcms_rebuilt, r.dcms_before);
    CHECK(r.delivery_before > 0.999);
    CHECK(r.delivery_after > 0.999); /* no dip: the data plane never waits */
    CHECK(strstr(json, "\"control_restart\"") != NULL);
    free(json);

    /* Without the event the JSON has no such block. */
    small(&s, 10, 3);
    run(&s, &r, &json, NULL);
    CHECK_EQ_INT(r.have_restart, 0);
    CHECK(strstr(json, "control_restart") == NULL);
    free(json);
}

/* kill-preferred with levels = mesh: four hosts, so four regions of
 * about 20 peers, and a short playout delay (1.5 s, under the 1.75 s a
 * dead node takes to be declared), so that the region whose preferred
 * nodes all die at 10 s loses packets before its trees are rebuilt. Its
 * other peers' series shows the dip, which the whole run's delivery
 * dilutes, and the recovery. */
static void test_kill_preferred_regional(void)
{
    char path[] = "/tmp/strata_test_world_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    FILE *f = fdopen(fd, "w");
    fputs("0 40 80 120\n40 0 60 100\n80 60 0 50\n120 100 50 0\n", f);
    fclose(f);
    strata_scenario s;
    small(&s, 80, 40);
    set(&s, "latency", path);
    set(&s, "region", "host");
    set(&s, "levels", "mesh");
    set(&s, "playout_delay_ms", "1500");
    add_event(&s, "10", "kill-preferred regions=1");
    strata_simresult r;
    char *json = NULL;
    run(&s, &r, &json, NULL);
    remove(path);
    CHECK_EQ_INT(r.nregional, 1);
    const strata_simm_regional *g = &r.regional[0];
    if (!(g->delivery_min_1s < 0.95 && g->recovery_s > 0 && g->recovery_s <= 8))
        fprintf(stderr,
                "kill-preferred: %u victims, %u peers of %s, lowest second %.4f at +%.0f s, "
                "recovered after %.0f s\n",
                g->victims, g->peers, g->labels[0], g->delivery_min_1s, g->delivery_min_at_s,
                g->recovery_s);
    CHECK_EQ_U64(r.preferred_killed, g->victims);
    CHECK(g->victims >= 1);
    CHECK_EQ_INT(g->regions, 1);
    CHECK(g->labels[0][0] == 'h');
    CHECK(g->peers >= 10 && g->peers <= 40);
    CHECK(g->delivery_10s_before > 0.999);
    /* The dip: in the first seconds after the failure, deep in the
     * region, hardly visible in the whole run. */
    CHECK(g->delivery_min_1s < 0.95);
    CHECK(g->delivery_min_at_s >= 0 && g->delivery_min_at_s <= 3);
    CHECK(g->delivery_10s_after < 0.999);
    CHECK(r.delivery_ratio > g->delivery_10s_after);
    /* Recovered within a few seconds (a dead node is found in 1.75 s,
     * then the trees are rebuilt), and whole after that. */
    CHECK(g->recovery_s > g->delivery_min_at_s && g->recovery_s <= 8);
    for (int i = STRATA_SIMM_REGIONAL_BEFORE_S + 10; i < STRATA_SIMM_REGIONAL_SECONDS - 5; i++)
        CHECK(g->delivery_1s[i] > 0.999);
    CHECK(strstr(json, "\"kill_preferred\"") != NULL);
    CHECK(strstr(json, "\"recovery_s\": ") != NULL);
    free(json);
}

static void test_addresses_and_lookup(void)
{
    CHECK(strata_simalg_find("strata") != NULL);
    CHECK(strata_simalg_find("nope") == NULL);
    strata_addr a = {0x0A000005, 9001};
    CHECK_EQ_INT(strata_world_node_of(a), 5);
    a.ipv4 = 0x0B000000;
    CHECK_EQ_INT(strata_world_node_of(a), UINT32_MAX);

    strata_scenario s;
    small(&s, 5, 2);
    set(&s, "algorithm", "nope");
    char err[256] = "";
    CHECK(strata_world_new(&s, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "unknown algorithm 'nope'") != NULL);

    small(&s, 5, 2);
    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    CHECK(w != NULL);
    if (!w)
        return;
    strata_addr c = strata_world_addr(w, STRATA_WORLD_CONTROL);
    CHECK_EQ_U64(c.ipv4, 0x0A000000u);
    CHECK_EQ_INT(c.port, 9000);
    CHECK_EQ_INT(strata_world_addr(w, 3).ipv4, 0x0A000003);
    CHECK(strata_world_node_id(w, 2).v != strata_world_node_id(w, 3).v);
    CHECK(strcmp(strata_world_region(w, 4), "one") == 0);
    CHECK_EQ_INT(strata_world_node_online(w, STRATA_WORLD_SOURCE), 1);
    CHECK_EQ_INT(strata_world_run(w), 0);
    CHECK_EQ_INT(strata_world_node_online(w, 6), 1);
    CHECK_EQ_U64(strata_world_now(w), STRATA_S(2));
    strata_simresult r1, r2;
    strata_world_result(w, &r1);
    strata_world_result(w, &r2);
    CHECK(memcmp(&r1, &r2, sizeof r1) == 0);
    strata_world_del(w);
}

int main(void)
{
    test_direct();
    test_relaying();
    test_determinism();
    test_pinned();
    test_parity_from_loss();
    test_liars();
    test_capacity();
    test_churn();
    test_correlated_failures();
    test_loss();
    test_dataset();
    test_waypoints();
    test_groups_regions();
    test_control_restart();
    test_kill_preferred_regional();
    test_addresses_and_lookup();
    return test_summary("test_world");
}
