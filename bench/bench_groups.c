/*
 * One run of the locality-group simulator (sim/groupsim.h) from the command
 * line, for bench/bench_groups.sh: prints a one-line summary, the wall time
 * and the peak resident memory, and optionally writes the assignment and
 * the JSON metrics. Not part of pass/fail.
 *
 * usage: bench_groups --latency FILE [--labels FILE] [--nodes N] [--seed S]
 *          [--scenario form|failure|churn] [--spacing-ms MS] [--settle-s S]
 *          [--bootstrap K] [--max-members M] [--cache-entries C]
 *          [--late N] [--late-spacing-ms MS] [--kill-pct P] [--churn-s S]
 *          [--kmedoids-k K]
 *          [--threshold-ms T] [--rel-pct P] [--landmarks L] [--no-baselines]
 *          [--loss P] [--lazy] [--progress S] [--assign FILE] [--out FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "groupsim.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak and current resident set from /proc (Linux); 0 elsewhere. */
static void rss_kb(long *peak, long *now)
{
    *peak = *now = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            *peak = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmRSS:", 6) == 0)
            *now = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static void on_progress(void *user, const strata_groupsim_progress *p)
{
    double *t0 = user;
    long peak, now;
    rss_kb(&peak, &now);
    fprintf(stderr,
            "  [%6.0f s wall] %-9s sim %8.1f s  started %u/%u  joined %u  leaders %u  "
            "events %llu  rss %ld MB\n",
            wall_s() - *t0, p->phase, p->sim_s, (unsigned)p->started, (unsigned)p->nodes,
            (unsigned)p->joined, (unsigned)p->leaders, (unsigned long long)p->events, now / 1024);
}

static unsigned long num(const char *s)
{
    return strtoul(s, NULL, 10);
}

int main(int argc, char **argv)
{
    strata_groupsim_config c;
    strata_groupsim_config_default(&c);
    const char *assign = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(a, "--lazy") == 0) {
            c.lazy_memory = 1;
            used = 0;
        } else if (strcmp(a, "--no-baselines") == 0) {
            c.no_baselines = 1;
            used = 0;
        } else if (!v) {
            fprintf(stderr, "bench_groups: %s needs a value\n", a);
            return 2;
        } else if (strcmp(a, "--latency") == 0) {
            c.latency_path = v;
        } else if (strcmp(a, "--labels") == 0) {
            c.labels_path = v;
        } else if (strcmp(a, "--nodes") == 0) {
            c.nodes = (uint32_t)num(v);
        } else if (strcmp(a, "--seed") == 0) {
            c.seed = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--scenario") == 0) {
            c.scenario = strata_groupsim_scenario_from_name(v);
        } else if (strcmp(a, "--spacing-ms") == 0) {
            c.join_spacing_ms = (uint32_t)num(v);
        } else if (strcmp(a, "--settle-s") == 0) {
            c.settle_s = (uint32_t)num(v);
        } else if (strcmp(a, "--bootstrap") == 0) {
            c.bootstrap_leaders = (uint32_t)num(v);
        } else if (strcmp(a, "--max-members") == 0) {
            c.agent.max_members = (uint32_t)num(v);
        } else if (strcmp(a, "--cache-entries") == 0) {
            c.agent.cache_entries = (uint32_t)num(v);
        } else if (strcmp(a, "--threshold-ms") == 0) {
            c.agent.threshold_abs = (uint32_t)num(v);
        } else if (strcmp(a, "--rel-pct") == 0) {
            c.agent.threshold_rel_pct = (uint32_t)num(v);
        } else if (strcmp(a, "--late") == 0) {
            c.late_joins = (uint32_t)num(v);
        } else if (strcmp(a, "--late-spacing-ms") == 0) {
            c.late_spacing_ms = (uint32_t)num(v);
        } else if (strcmp(a, "--kill-pct") == 0) {
            c.kill_pct = (uint32_t)num(v);
        } else if (strcmp(a, "--churn-s") == 0) {
            c.churn_s = (uint32_t)num(v);
        } else if (strcmp(a, "--kmedoids-k") == 0) {
            c.kmedoids_k = (uint32_t)num(v);
        } else if (strcmp(a, "--landmarks") == 0) {
            c.landmarks = (uint32_t)num(v);
        } else if (strcmp(a, "--loss") == 0) {
            c.loss = strtod(v, NULL);
        } else if (strcmp(a, "--progress") == 0) {
            c.progress_s = (uint32_t)num(v);
        } else if (strcmp(a, "--assign") == 0) {
            assign = v;
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else {
            fprintf(stderr, "bench_groups: unknown option %s\n", a);
            return 2;
        }
        i += used;
    }
    if (!c.latency_path || c.scenario < 0) {
        fprintf(stderr, "usage: bench_groups --latency FILE [options] (see the source)\n");
        return 2;
    }
    double t0 = wall_s();
    c.progress = on_progress;
    c.progress_user = &t0;
    strata_groupsim_result r;
    char err[256] = "";
    int rc = strata_groupsim_run(&c, &r, err, sizeof err);
    double wall = wall_s() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_groups: %s (%d)\n", err, rc);
        return 1;
    }
    long peak, now;
    rss_kb(&peak, &now);
    uint32_t nodes = c.nodes ? c.nodes : r.hosts;
    static const char *names[] = {"strata", "landmark", "k-medoids"};
    printf("%-10s %7s %6s %7s %6s %9s %9s %9s %7s %7s %12s\n", "method", "groups", "singl",
           "median", "max", "intra_ms", "inter_ms", "spread_ms", "ARI", "NMI", "probes/join");
    for (int m = 0; m < STRATA_GROUPSIM_METHODS; m++) {
        const strata_groupsim_scores *sc = &r.method[m];
        if (!sc->valid)
            continue;
        char ari[16] = "-", nmi[16] = "-", probes[32] = "offline";
        if (sc->ari != -1) { /* -1: no labels */
            snprintf(ari, sizeof ari, "%.3f", sc->ari);
            snprintf(nmi, sizeof nmi, "%.3f", sc->nmi);
        }
        if (m == STRATA_GROUPSIM_STRATA)
            snprintf(probes, sizeof probes, "%.1f (p95 %.0f)", r.probes_mean, r.probes_p95);
        else if (sc->probes_per_join >= 0)
            snprintf(probes, sizeof probes, "%.0f", sc->probes_per_join);
        printf("%-10s %7u %6u %7.1f %6u %9.1f %9.1f %9.1f %7s %7s %12s\n", names[m],
               (unsigned)sc->groups, (unsigned)sc->singletons, sc->size_median,
               (unsigned)sc->size_max, sc->intra_ms, sc->inter_ms, sc->spread_ms, ari, nmi, probes);
    }
    printf("nodes %u, %u alive, %u in a group; first walks %llu: join time mean %.0f ms, p95 "
           "%.0f ms\n",
           (unsigned)nodes, (unsigned)r.alive, (unsigned)r.in_group, (unsigned long long)r.joins,
           r.join_ms_mean, r.join_ms_p95);
    if (r.late_joins)
        printf("late joins: %llu, probes/join mean %.1f p95 %.0f\n",
               (unsigned long long)r.late_joins, r.late_probes_mean, r.late_probes_p95);
    printf("run: sim %.0f s, %llu events, %llu datagrams, wall %.1f s, peak rss %ld MB "
           "(%.1f KB per node), agent allocates %llu bytes, fingerprint %016llx\n",
           r.sim_s, (unsigned long long)r.events, (unsigned long long)r.datagrams, wall,
           peak / 1024, (double)peak / nodes, (unsigned long long)r.agent_bytes,
           (unsigned long long)r.fingerprint);
    printf("summary nodes=%u groups=%u max_group=%u in_group=%u probes_mean=%.1f probes_p95=%.0f "
           "late_joins=%llu late_mean=%.1f late_p95=%.0f join_ms_mean=%.0f join_ms_p95=%.0f "
           "wall_s=%.1f peak_rss_mb=%ld kb_per_node=%.1f\n",
           (unsigned)nodes, (unsigned)r.groups, (unsigned)r.method[0].size_max,
           (unsigned)r.in_group, r.probes_mean, r.probes_p95, (unsigned long long)r.late_joins,
           r.late_probes_mean, r.late_probes_p95, r.join_ms_mean, r.join_ms_p95, wall, peak / 1024,
           (double)peak / nodes);
    rc = strata_groupsim_save(&r, assign, out, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "bench_groups: %s\n", err);
    strata_groupsim_result_free(&r);
    return rc ? 1 : 0;
}
