/*
 * The whole system in one simulated run (issue 10, "What must hold"):
 * 10,000 peers on planetlab490, each a whole strata_node running its
 * locality-group agent and a viewer of one channel; the control node runs
 * the control center and its group directory, which bootstraps the agents;
 * the channel's regions are the groups the peers form. 10 % of the peers
 * leave per minute (exponential sessions of 10 minutes, half of them
 * silent, a slot's next viewer 30 s later on average). The control center
 * crashes at 60 s (its node object destroyed) and a fresh one starts on
 * the same address 1 s later.
 *
 * Size: the plain build runs the full 10,000 peers (about 30 s of one
 * core). Under AddressSanitizer the same scenario runs with 1,000 peers:
 * 10,000 would take minutes there and the suite must stay under its time
 * budget. STRATA_SIM_WHOLE_NODES overrides the size.
 *
 * 64 KiB simulated packets (as bench/bench_sim.sh's 100,000-peer run) and
 * a 1 s heartbeat keep the run cheap.
 *
 * It runs the default levels, 3 (preferred nodes flooding over a mesh,
 * erasure-coded relay clusters, common clusters; the backbone until
 * session 13). What is asserted is what the run reaches today, with a
 * margin. The delivery goal of 0.999 is NOT met: the 10,000-peer
 * run delivers 0.984 (the backbone: 0.964), 0.986 at 1,000 peers; the
 * restart's worst second 0.976 (0.899 at 1,000). With 64 KiB packets a
 * packet is half a second of the stream, so every loss weighs heavily;
 * docs/simulator.md has the packet-level figures.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "world.h"

static void set(strata_scenario *s, const char *key, const char *value)
{
    char err[256];
    if (strata_scenario_set(s, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "set %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

int main(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    if (!lat) {
        fprintf(stderr, "test_whole_system: no planetlab490 matrix, skipped\n");
        return test_summary("test_whole_system");
    }
    uint32_t nodes = UNDER_ASAN ? 1000 : 10000;
    const char *env = getenv("STRATA_SIM_WHOLE_NODES");
    if (env && atoi(env) > 0)
        nodes = (uint32_t)atoi(env);

    strata_scenario s;
    strata_scenario_default(&s);
    char num[32];
    snprintf(num, sizeof num, "%u", nodes);
    set(&s, "nodes", num);
    set(&s, "duration_s", "100");
    set(&s, "latency", lat);
    set(&s, "region", "groups");
    set(&s, "packet_bytes", "65536");
    set(&s, "heartbeat_ms", "1000");
    set(&s, "join", "all");
    set(&s, "join_window_s", "30");
    set(&s, "session", "exp");
    set(&s, "session_mean_s", "600"); /* 10 % of the peers leave per minute */
    set(&s, "leave_share", "0.5");
    set(&s, "rejoin_mean_s", "30");
    set(&s, "seed", "1");
    char err[512] = "";
    CHECK_EQ_INT(strata_scenario_add_event(&s, "60", "control-restart down=1", 0, err, sizeof err),
                 0);

    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    CHECK(w != NULL);
    if (!w) {
        fprintf(stderr, "world: %s\n", err);
        return test_summary("test_whole_system");
    }
    CHECK_EQ_INT(strata_world_run(w), 0);
    strata_simresult r;
    strata_world_result(w, &r);
    strata_simresult_write_json(&r, stderr);

    /* 10 % per minute: about 1,000 departures at 10,000 peers in 100 s. */
    CHECK(r.sessions > nodes + nodes / 20);
    CHECK(r.leaves + r.kills > nodes / 20);

    /* Regions come from the groups: every online peer's agent is in a
     * group (a few may be walking again after a departure), and there are
     * many regions but far fewer than peers. */
    CHECK_EQ_INT(r.have_groups, 1);
    CHECK(r.online_end > nodes * 9 / 10);
    /* With 10 % leaving a minute and coming back, 17 a second start a walk
     * at 10,000 peers and an agent whose leader left walks again: 1-2 %
     * are walking at any moment (1.1 % in a run without the restart). */
    CHECK(r.in_group_end >= r.online_end * 97 / 100);
    CHECK(r.regions > nodes / 100);
    CHECK(r.regions < nodes / 3);
    CHECK(r.regions_end > 1);
    CHECK(r.cross_region_bytes_ratio > 0.1);
    CHECK(r.cross_region_bytes_ratio < 3);

    /* The channel streams over those regions. */
    CHECK(r.delivery_ratio >= 0.97);
    CHECK(r.p2p_share > 0.9);

    /* The control center crashed at 60 s and a fresh one rebuilt every DCM
     * from the heartbeats within its recovery window (3 heartbeats). */
    CHECK_EQ_INT(r.have_restart, 1);
    CHECK(r.rebuilt_s > 0 && r.rebuilt_s <= 5);
    CHECK(r.members_before > nodes * 9 / 10);
    CHECK(r.restored_members >= r.members_before * 95 / 100);
    CHECK(r.dcms_rebuilt >= r.dcms_before * 9 / 10);
    CHECK(r.reported_edges > 0);
    /* Trees come back as they were, those the regions' preferred nodes
     * feed too: 86 % of the reported parents kept at 10,000 peers, 83 % at
     * 1,000 (the backbone: 91 %; 3 % before preferred nodes and feeders
     * were restored). The relay clusters' trees are the ones that move:
     * they move without a restart too (at 1,000 peers, a fifth of their
     * edges in 10 s of churn). */
    CHECK(r.restored_edges >= r.reported_edges * 80 / 100);
    /* The dip: reported, and delivery comes back. Preferred nodes take
     * their old mesh neighbours' packets while the rebuilt mesh's
     * instructions spread (peer_senders.c): without that the worst second
     * was 0.36. */
    CHECK(r.delivery_min_row >= 0.85 && r.delivery_min_row <= r.delivery_after);
    CHECK(r.delivery_after >= 0.97);
    CHECK(r.delivery_before >= 0.97);

    strata_world_del(w);
    return test_summary("test_whole_system");
}
