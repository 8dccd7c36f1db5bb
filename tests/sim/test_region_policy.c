/*
 * Regions by policy in the whole system (docs/hierarchy.md): peers on
 * planetlab490 run their locality-group agents and watch one channel, the
 * control node runs the control center and its group records, and the
 * channel's regions come from the groups. The same run with the policy
 * off (every group a region) and on (groups too small or too weak for
 * their own trees served by the nearest capable region): fewer regions on,
 * groups folded, no pair left detached; delivery is asserted as reached
 * today (below), a little under the run without the policy.
 *
 * Size: 1,000 peers (300 under AddressSanitizer), 60 s; STRATA_SIM_POLICY_NODES
 * overrides it. Figures of larger runs are in docs/hierarchy.md.
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

typedef struct outcome {
    strata_simresult r;
    size_t regions;  /* distinct regions of the peers, as the control center has them */
    size_t detached; /* pairs without a parent at the end */
    strata_control_status st;
} outcome;

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void run(const char *lat, uint32_t nodes, int policy, int restart, outcome *o)
{
    strata_scenario s;
    strata_scenario_default(&s);
    char num[32];
    snprintf(num, sizeof num, "%u", nodes);
    set(&s, "nodes", num);
    set(&s, "duration_s", "60");
    set(&s, "latency", lat);
    set(&s, "region", "groups");
    set(&s, "packet_bytes", "65536");
    set(&s, "heartbeat_ms", "1000");
    set(&s, "join", "all");
    set(&s, "join_window_s", "20");
    set(&s, "seed", "1");
    s.region_policy = (uint8_t)policy;
    char err[512] = "";
    if (restart)
        CHECK_EQ_INT(strata_scenario_add_event(&s, "40", "control-restart down=1", 0, err,
                                               sizeof err),
                     0);
    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    CHECK(w != NULL);
    if (!w) {
        fprintf(stderr, "world: %s\n", err);
        exit(1);
    }
    CHECK_EQ_INT(strata_world_run(w), 0);
    strata_world_result(w, &o->r);
    const strata_control *c = strata_world_control(w);
    CHECK(c != NULL);
    strata_control_get_status(c, &o->st);
    o->detached = o->st.detached_pairs;
    size_t n = strata_control_topology(c, NULL, 0);
    strata_control_entry *e = calloc(n ? n : 1, sizeof *e);
    uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
    n = strata_control_topology(c, e, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].role == STRATA_ROLE_PEER)
            ids[m++] = e[i].region_dcm.v;
    qsort(ids, m, sizeof *ids, cmp_u64);
    o->regions = 0;
    for (size_t i = 0; i < m; i++)
        o->regions += i == 0 || ids[i] != ids[i - 1];
    free(e);
    free(ids);
    fprintf(stderr,
            "policy %s%s: %zu regions for %u groups (%zu folded), %zu detached pairs, delivery "
            "%.6f, cross-region ratio %.3f, %llu members moved",
            policy ? "on" : "off", restart ? " with a control restart" : "", o->regions,
            o->r.regions_end, o->st.folded_groups, o->detached, o->r.delivery_ratio,
            o->r.cross_region_bytes_ratio, (unsigned long long)o->st.policy_moves);
    if (restart)
        fprintf(stderr, "; after the restart %.4f (worst second %.4f), %llu of %llu edges kept",
                o->r.delivery_after, o->r.delivery_min_row,
                (unsigned long long)o->r.restored_edges,
                (unsigned long long)o->r.reported_edges);
    fprintf(stderr, "\n");
    strata_world_del(w);
}

int main(void)
{
    char path[1024];
    const char *lat =
        test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", path, sizeof path);
    CHECK(lat != NULL);
    if (!lat)
        return test_summary("test_region_policy");
    uint32_t nodes = UNDER_ASAN ? 300 : 1000;
    const char *env = getenv("STRATA_SIM_POLICY_NODES");
    if (env && atoi(env) > 0)
        nodes = (uint32_t)atoi(env);

    static outcome off, on, again;
    run(lat, nodes, 0, 0, &off);
    run(lat, nodes, 1, 0, &on);
    run(lat, nodes, 1, 1, &again);

    /* Off: every group with members is a region of its own. */
    CHECK_EQ_U64(off.st.folded_groups, 0);
    CHECK_EQ_U64(off.st.policy_moves, 0);
    CHECK(off.regions + 2 >= off.r.regions_end); /* a few peers may be between groups */
    /* On: groups folded, fewer regions, nobody detached, delivery kept. */
    CHECK(on.st.folded_groups > 0);
    CHECK(on.regions < off.regions);
    CHECK(on.regions + on.st.folded_groups >= on.r.regions_end);
    CHECK_EQ_U64(on.detached, 0);
    CHECK(on.detached <= off.detached);
    /* What the run reaches today, with a margin, NOT "no worse": at 1,000
     * peers 0.9926 on against 0.9951 off (2,000: 0.9889 against 0.9933,
     * 15 detached pairs against 5). Larger regions cross split_members
     * and split into relay and common clusters, and members moved lose
     * what their new trees had sent (docs/hierarchy.md, "Regions by
     * policy": left to do). */
    CHECK(on.r.delivery_ratio >= 0.985);
    /* A control center restarted mid-stream takes the folds back from the
     * clusters its members report (control_restart.c, restore_folds):
     * groups stay folded, few members move, most edges are kept. */
    CHECK(again.st.folded_groups > 0);
    CHECK(again.st.policy_moves < nodes / 10);
    CHECK(again.r.restored_edges * 2 > again.r.reported_edges);
    CHECK(again.r.delivery_after >= 0.95);
    return test_summary("test_region_policy");
}
