/*
 * Tests of the locality-group simulator (sim/groupsim.c): the very group
 * agent of the core on the simulated network.
 *
 *  - a synthetic matrix of four clusters: the groups follow the clusters
 *    (high ARI against them), and k-medoids agrees;
 *  - planetlab490: every host joins and ends in a group, the assignment
 *    file has one line per host;
 *  - leader-failure burst: the leaders of every group die at once; each
 *    group is led by the member next in line, nobody is left out;
 *  - 30 simulated minutes of churn: every live node stays in a group
 *    (sampled each minute), none is stuck out;
 *  - determinism: the same seed gives byte-identical JSON and assignment,
 *    with and without the lazy allocator; another seed gives another run;
 *  - attached nodes, late joins and loss; bad settings are refused.
 * The data set ships in data/latency/ (STRATA_DATA_DIR overrides the
 * folder); without it the test fails loudly rather than skipping the
 * planetlab cases.
 */
#include "testutil.h"

#include <math.h>

#include "groupsim.h"

static char pl_path[1024];

static int have_planetlab(void)
{
    return test_data_file("latency/planetlab490/planetlab490_median_rtt_ms.txt", pl_path,
                          sizeof pl_path) != NULL;
}

/* Four clusters of `per` hosts: centre RTTs 90-200 ms apart, each host an
 * access delay of 1-8 ms (both ends add theirs), 3 ms more inside a
 * cluster. Hosts are interleaved (host i is in cluster i % 4). */
static const double centre_ms[4][4] = {
    {0, 90, 180, 140}, {90, 0, 130, 200}, {180, 130, 0, 110}, {140, 200, 110, 0}};

static void synth(strata_simlat *lat, int32_t *labels, uint32_t per, uint64_t seed)
{
    uint32_t n = 4 * per;
    double own[256], *m = malloc((size_t)n * n * sizeof *m);
    strata_rng r;
    strata_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n; i++) {
        labels[i] = (int32_t)(i % 4);
        own[i] = 1 + (double)strata_rng_below(&r, 8);
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            m[(size_t)i * n + j] =
                i == j ? 0 : centre_ms[i % 4][j % 4] + own[i] + own[j] + (i % 4 == j % 4 ? 3 : 0);
    char err[128];
    CHECK_EQ_INT(strata_simlat_from_matrix(lat, NULL, n, m, err, sizeof err), 0);
    free(m);
}

/* The assignment file as text. */
static char *assign_text(const strata_groupsim_result *r, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    CHECK_EQ_INT(strata_groupsim_write_assign(r, f), 0);
    fclose(f);
    return buf;
}

static void test_synthetic(uint64_t seed)
{
    strata_simlat lat;
    int32_t labels[64];
    synth(&lat, labels, 15, seed);
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.lat = &lat;
    c.host_labels = labels;
    c.seed = seed;
    c.settle_s = 60;
    strata_groupsim_result r;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    printf("synthetic 4 x 15: %u groups, ARI %.3f, NMI %.3f, probes/join %.1f (p95 %.0f); "
           "k-medoids ARI %.3f, landmark %u bins ARI %.3f\n",
           (unsigned)r.groups, r.ari, r.nmi, r.probes_mean, r.probes_p95,
           r.method[STRATA_GROUPSIM_KMEDOIDS].ari,
           (unsigned)r.method[STRATA_GROUPSIM_LANDMARK].groups,
           r.method[STRATA_GROUPSIM_LANDMARK].ari);
    CHECK_EQ_INT(r.alive, 60);
    CHECK_EQ_INT(r.in_group, 60);
    CHECK(r.ari >= 0.9);
    CHECK(r.nmi >= 0.9);
    CHECK(r.method[STRATA_GROUPSIM_KMEDOIDS].ari >= 0.9);
    CHECK(r.method[STRATA_GROUPSIM_LANDMARK].valid);
    CHECK(r.method[STRATA_GROUPSIM_STRATA].groups == r.groups);
    CHECK(r.method[STRATA_GROUPSIM_LANDMARK].probes_per_join == 8 * 3);
    CHECK_EQ_U64(r.joins, 60);
    CHECK(r.probes_mean > 0);
    CHECK(r.json && strstr(r.json, "\"kmedoids\": {\"k\": ") != NULL);
    CHECK(strstr(r.json, "\"spread_ms\"") != NULL);
    strata_groupsim_result_free(&r);

    /* 5 % of the datagrams lost: slower, but the same groups. */
    c.loss = 0.05;
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    printf("synthetic with 5%% loss: %u groups, ARI %.3f, %u of %u in a group\n",
           (unsigned)r.groups, r.ari, (unsigned)r.in_group, (unsigned)r.alive);
    CHECK_EQ_INT(r.in_group, 60);
    CHECK(r.ari >= 0.9);
    strata_groupsim_result_free(&r);
    strata_simlat_free(&lat);
}

static void test_planetlab(uint64_t seed)
{
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.latency_path = pl_path;
    c.seed = seed;
    c.settle_s = 60;
    strata_groupsim_result r;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    if (!r.json) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    printf("planetlab490: %u groups, %u in a group, probes/join %.1f (p95 %.0f), join %.0f ms "
           "(p95 %.0f); k-medoids %u groups, landmark %u bins; %llu events\n",
           (unsigned)r.groups, (unsigned)r.in_group, r.probes_mean, r.probes_p95, r.join_ms_mean,
           r.join_ms_p95, (unsigned)r.method[STRATA_GROUPSIM_KMEDOIDS].groups,
           (unsigned)r.method[STRATA_GROUPSIM_LANDMARK].groups, (unsigned long long)r.events);
    CHECK_EQ_INT(r.hosts, 490);
    CHECK_EQ_INT(r.alive, 490);
    CHECK_EQ_INT(r.in_group, 490);
    CHECK_EQ_INT(r.never_joined, 0);
    CHECK_EQ_U64(r.joins, 490);
    CHECK_EQ_INT(r.method[STRATA_GROUPSIM_KMEDOIDS].groups, r.groups);
    /* The upper reference is tighter than the peers' own groups. */
    CHECK(r.method[STRATA_GROUPSIM_KMEDOIDS].intra_ms < r.method[STRATA_GROUPSIM_STRATA].intra_ms);
    CHECK(r.ari == -1); /* no labels */
    /* One line per host, in host order, each with a group. */
    size_t len = 0;
    char *text = assign_text(&r, &len);
    size_t lines = 0, dashes = 0;
    for (char *p = text; p && *p;) {
        unsigned idx;
        char gid[32];
        CHECK_EQ_INT(sscanf(p, "%u\t%31s", &idx, gid), 2);
        CHECK_EQ_INT(idx, lines);
        dashes += gid[0] == '-';
        CHECK(gid[0] == '-' || strlen(gid) == 16);
        lines++;
        char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    CHECK_EQ_INT(lines, 490);
    CHECK_EQ_INT(dashes, 0);
    free(text);
    strata_groupsim_result_free(&r);
}

static void test_failure(uint64_t seed)
{
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.latency_path = pl_path;
    c.seed = seed + 1;
    c.settle_s = 60;
    c.scenario = STRATA_GROUPSIM_FAILURE;
    c.kill_pct = 100;
    c.no_baselines = 1;
    strata_groupsim_result r;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    printf("leader failure: %u leaders killed, %u groups of 2+ hit, %u led by the next in line, "
           "%u split, %u out of a group after, recovered in %.0f ms\n",
           (unsigned)r.killed, (unsigned)r.hit_groups, (unsigned)r.next_in_line_ok,
           (unsigned)r.split_groups, (unsigned)r.orphans_after, r.recovery_ms);
    CHECK(r.hit_groups >= 10);
    CHECK_EQ_INT(r.next_in_line_ok, r.hit_groups);
    CHECK_EQ_INT(r.split_groups, 0);
    CHECK_EQ_INT(r.orphans_after, 0);
    CHECK_EQ_INT(r.in_group, r.alive);
    CHECK(r.recovery_ms > 0 && r.recovery_ms <= 30000);
    CHECK(r.json && strstr(r.json, "\"failure\": {") != NULL);
    strata_groupsim_result_free(&r);
}

static void test_churn(uint64_t seed)
{
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.latency_path = pl_path;
    c.seed = seed + 2;
    c.settle_s = 60;
    c.scenario = STRATA_GROUPSIM_CHURN;
    c.churn_s = UNDER_ASAN ? 600 : 1800; /* ASan: a third of the churn, the same checks */
    c.no_baselines = 1;
    strata_groupsim_result r;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    printf("churn: %u min, %u samples, lowest share in a group %.2f %%, %u stuck, at the end "
           "%u of %u in %u groups, %llu walks\n",
           (unsigned)(c.churn_s / 60), (unsigned)r.samples, r.min_in_group_pct_x100 / 100.0,
           (unsigned)r.stuck, (unsigned)r.in_group, (unsigned)r.alive, (unsigned)r.groups,
           (unsigned long long)r.joins);
    CHECK(r.samples >= c.churn_s / 60 + 1);
    CHECK_EQ_INT(r.stuck, 0);
    CHECK(r.min_in_group_pct_x100 >= 9500);
    CHECK_EQ_INT(r.in_group, r.alive);
    CHECK_EQ_INT(r.alive, 490 - 490 * 20 / 100);
    CHECK(r.joins > 392 + 500 * c.churn_s / 1800); /* the first joins and the arrivals */
    CHECK(r.json && strstr(r.json, "\"churn\": {\"departures\": ") != NULL);
    strata_groupsim_result_free(&r);
}

static void test_determinism(uint64_t seed)
{
    strata_simlat lat;
    int32_t labels[160];
    synth(&lat, labels, 40, seed + 3);
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.lat = &lat;
    c.host_labels = labels;
    c.seed = seed;
    c.settle_s = 30;
    c.join_spacing_ms = 200; /* joins overlap: races, merges */
    c.loss = 0.01;
    strata_groupsim_result a, b, lz, other, draws;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &a, err, sizeof err), 0);
    CHECK_EQ_INT(strata_groupsim_run(&c, &b, err, sizeof err), 0);
    c.lazy_memory = 1;
    CHECK_EQ_INT(strata_groupsim_run(&c, &lz, err, sizeof err), 0);
    c.lazy_memory = 0;
    c.bootstrap_stream = 1; /* other bootstrap draws: another run */
    CHECK_EQ_INT(strata_groupsim_run(&c, &draws, err, sizeof err), 0);
    c.bootstrap_stream = 0;
    c.seed = seed + 1;
    CHECK_EQ_INT(strata_groupsim_run(&c, &other, err, sizeof err), 0);
    CHECK(a.fingerprint != draws.fingerprint);
    CHECK(draws.json && strstr(draws.json, "\"bootstrap_stream\": 1") != NULL);
    CHECK(a.json && strstr(a.json, "bootstrap_stream") == NULL);
    if (a.json && b.json && lz.json && other.json) {
        CHECK_EQ_INT(a.json_len, b.json_len);
        CHECK(strcmp(a.json, b.json) == 0);
        CHECK(strcmp(a.json, lz.json) == 0);
        CHECK(strcmp(a.json, other.json) != 0);
        CHECK_EQ_U64(a.fingerprint, b.fingerprint);
        CHECK(a.fingerprint != other.fingerprint);
        size_t la, lb, ll;
        char *ta = assign_text(&a, &la), *tb = assign_text(&b, &lb), *tl = assign_text(&lz, &ll);
        CHECK(ta && tb && tl && la == lb && la == ll && memcmp(ta, tb, la) == 0 &&
              memcmp(ta, tl, la) == 0);
        free(ta);
        free(tb);
        free(tl);
        printf("determinism: fingerprint %016llx twice (and with lazy memory), %016llx for "
               "another seed\n",
               (unsigned long long)a.fingerprint, (unsigned long long)other.fingerprint);
    }
    strata_groupsim_result_free(&a);
    strata_groupsim_result_free(&b);
    strata_groupsim_result_free(&lz);
    strata_groupsim_result_free(&other);
    strata_groupsim_result_free(&draws);
    strata_simlat_free(&lat);
}

/* More nodes than hosts, behind access links; the last ones join late. */
static void test_attached(uint64_t seed)
{
    strata_simlat lat;
    int32_t labels[64];
    synth(&lat, labels, 10, seed + 4);
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    c.lat = &lat;
    c.host_labels = labels;
    c.seed = seed;
    c.nodes = 400;
    c.join_spacing_ms = 50;
    c.settle_s = 30;
    c.late_joins = 40;
    c.lazy_memory = 1;
    c.agent.cache_entries = 128;
    strata_groupsim_result r;
    char err[256] = "";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), 0);
    printf("400 nodes on 40 hosts: %u groups, ARI %.3f, probes/join %.1f, late joiners %llu: "
           "%.1f (p95 %.0f); an agent allocates %llu bytes\n",
           (unsigned)r.groups, r.ari, r.probes_mean, (unsigned long long)r.late_joins,
           r.late_probes_mean, r.late_probes_p95, (unsigned long long)r.agent_bytes);
    CHECK_EQ_INT(r.in_group, 400);
    CHECK_EQ_U64(r.late_joins, 40);
    CHECK(r.ari >= 0.9);
    CHECK(r.json && strstr(r.json, "\"late_joins\": {") != NULL);
    CHECK(r.json && strstr(r.json, "\"attach\": \"random\"") != NULL);
    /* Node mode: the assignment is indexed by node. */
    size_t len;
    char *t = assign_text(&r, &len);
    size_t lines = 0;
    for (size_t i = 0; t && i < len; i++)
        lines += t[i] == '\n';
    CHECK_EQ_INT(lines, 400);
    free(t);
    strata_groupsim_result_free(&r);
    strata_simlat_free(&lat);
}

static void test_bad_settings(void)
{
    strata_groupsim_config c;
    strata_groupsim_result r;
    char err[256];
    strata_groupsim_config_default(&c);
    err[0] = 0;
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_INVAL);
    CHECK(strstr(err, "no latency matrix") != NULL);
    c.latency_path = "/nonexistent/matrix.txt";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_NOTFOUND);
    CHECK(strstr(err, "/nonexistent/matrix.txt") != NULL);
    c.agent.metric = STRATA_GROUP_METRIC_HOPS;
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_INVAL);
    CHECK(strstr(err, "hop") != NULL);
    c.agent.metric = 0;
    c.bootstrap_leaders = 9;
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_INVAL);
    c.bootstrap_leaders = 0;
    c.loss = 1.0;
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_INVAL);
    CHECK(r.json == NULL && r.group == NULL);
    /* A label file that cannot be read, after the matrix was loaded. */
    strata_simlat lat;
    int32_t labels[8];
    synth(&lat, labels, 2, 1);
    c.loss = 0;
    c.lat = &lat;
    c.labels_path = "/nonexistent/labels.tsv";
    CHECK_EQ_INT(strata_groupsim_run(&c, &r, err, sizeof err), STRATA_ERR_NOTFOUND);
    CHECK(strstr(err, "/nonexistent/labels.tsv") != NULL);
    strata_simlat_free(&lat);
    CHECK_EQ_INT(strata_groupsim_scenario_from_name("churn"), STRATA_GROUPSIM_CHURN);
    CHECK_EQ_INT(strata_groupsim_scenario_from_name("groups"), STRATA_GROUPSIM_FORM);
    CHECK_EQ_INT(strata_groupsim_scenario_from_name("nope"), -1);
}

int main(void)
{
    uint64_t seed = test_seed(11);
    test_bad_settings();
    test_synthetic(seed);
    test_determinism(seed);
    test_attached(seed);
    if (have_planetlab()) {
        test_planetlab(seed);
        test_failure(seed);
        test_churn(seed);
    }
    return test_summary("test_groupsim");
}
