/*
 * strata sim: runs the unchanged core (control center, source, peers) on
 * the simulator's virtual clock and in-memory network, and writes the
 * run's figures as JSON (and optionally a CSV time series).
 *
 * Parameters come from a scenario file (sim/scenario.h, docs/simulator.md)
 * and from flags, flags winning: the file is read first whatever the order
 * on the command line. Bad flags, bad scenario text and unknown algorithms
 * are usage errors (exit 2); a latency file that cannot be read, running
 * out of memory or an output that cannot be written exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "args.h"
#include "progress.h"
#include "scenario.h"
#include "world.h"

static const char *const SUB = "sim";

static void usage(void)
{
    printf("usage: strata sim --nodes N --duration SECONDS --rate KBPS [--latency PATH]\n"
           "                  [--seed S] [--out FILE] [--scenario FILE] [--csv FILE]\n"
           "                  [--packet-bytes N] [--algorithm NAME] [--set KEY=VALUE]...\n"
           "                  [--quiet] [--no-timing]\n"
           "\n"
           "Runs the strata core (control center, source, peers) under a virtual clock\n"
           "on a simulated network with measured latency, and writes the figures of the\n"
           "run (delivery, startup, lag, stretch, traffic, fingerprint) as JSON.\n"
           "\n"
           "  --nodes N            peers (slots) in the run                (default 100)\n"
           "  --duration SECONDS   simulated time                          (default 60)\n"
           "  --rate KBPS          stream rate                             (default 1000)\n"
           "  --latency PATH       RTT matrix (N lines of N values in ms, -1 = missing);\n"
           "                       without it every link has fixed_delay_ms (20)\n"
           "  --seed S             seed of every random choice             (default 1)\n"
           "  --out FILE           JSON figures; - for standard output     (default -)\n"
           "  --scenario FILE      scenario file (key = value lines and 'at T ...' events);\n"
           "                       --scenario groups (groups-failure, groups-churn) runs the\n"
           "                       locality groups instead: see 'strata sim --scenario groups -h'\n"
           "  --csv FILE           time series, one row per csv_interval_s\n"
           "  --packet-bytes N     size the network charges per DATA packet (default 1316);\n"
           "                       larger packets make very large runs feasible\n"
           "  --algorithm NAME     what runs on the nodes: strata          (default strata)\n"
           "  --set KEY=VALUE      any scenario key, e.g. --set capacity_mix=dsl:1:800\n"
           "  --print-scenario     print the effective scenario and exit\n"
           "  --no-timing          leave wall_s and peak_rss_mb out of the JSON, so that\n"
           "                       runs with the same seed give byte-identical output\n"
           "  -q, --quiet          no progress bar and no summary on standard error\n"
           "  -h, --help           show this help\n"
           "\n"
           "Same seed and scenario give the same fingerprint and, with --no-timing, the\n"
           "same JSON bytes. docs/simulator.md describes the scenario keys and every metric.\n");
}

enum {
    OPT_NODES = 256,
    OPT_DURATION,
    OPT_RATE,
    OPT_LATENCY,
    OPT_SEED,
    OPT_OUT,
    OPT_SCENARIO,
    OPT_CSV,
    OPT_PACKET_BYTES,
    OPT_ALGORITHM,
    OPT_SET,
    OPT_NO_TIMING,
    OPT_PRINT,
};

enum { MAX_FLAGS = 256 };

/* A flag to apply on top of the scenario file, in command-line order. */
typedef struct sim_flag {
    const char *key;
    const char *value;
    const char *opt; /* for messages */
} sim_flag;

static void apply(strata_scenario *s, const sim_flag *f)
{
    char err[512];
    if (strata_scenario_set(s, f->key, f->value, err, sizeof err) < 0)
        cmd_usage_error(SUB, "%s: %s", f->opt, err);
}

/* Writes the JSON figures to path ("-" = standard output). */
static int write_json(const char *path, const strata_simresult *r)
{
    if (strcmp(path, "-") == 0)
        return strata_simresult_write_json(r, stdout) == 0 && fflush(stdout) == 0 ? 0 : -1;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return -1;
    int rc = strata_simresult_write_json(r, m);
    if (fclose(m) != 0)
        rc = -1;
    if (rc == 0)
        rc = cmd_write_file_atomic(path, text, len);
    free(text);
    return rc;
}

static int write_csv(const char *path, const strata_simmetrics *m)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f)
        return -1;
    int rc = strata_simmetrics_write_csv(m, f);
    if (f == stdout)
        return fflush(f) == 0 ? rc : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static void summary(const strata_simresult *r)
{
    fprintf(stderr,
            "strata sim: %s, %u nodes, %.0f s: delivery %.4f, startup p50 %.2f s, lag p50 "
            "%.2f s p95 %.2f s, stretch p50 %.2f, p2p %.3f, %" PRIu64 " events",
            r->algorithm, r->nodes, r->duration_s, r->delivery_ratio, r->startup_p50, r->lag_p50,
            r->lag_p95, r->stretch_p50, r->p2p_share, r->events);
    if (r->have_timing)
        fprintf(stderr, " in %.1f s (%.2f M ev/s), peak RSS %.0f MB", r->wall_s,
                r->wall_s > 0 ? (double)r->events / r->wall_s / 1e6 : 0, r->peak_rss_mb);
    fprintf(stderr, ", fingerprint %016" PRIx64 "\n", r->fingerprint);
}

/* --scenario groups[-failure|-churn] runs the locality-group simulator
 * (cmd_sim_groups.c), which takes flags of its own. */
static int wants_groups(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc)
            v = argv[i + 1];
        else if (strncmp(argv[i], "--scenario=", 11) == 0)
            v = argv[i] + 11;
        if (v && strncmp(v, "groups", 6) == 0 && (v[6] == '\0' || v[6] == '-'))
            return 1;
    }
    return 0;
}

int cmd_sim(int argc, char **argv)
{
    if (wants_groups(argc, argv))
        return cmd_sim_groups(argc, argv);
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, OPT_NODES},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"rate", required_argument, NULL, OPT_RATE},
        {"latency", required_argument, NULL, OPT_LATENCY},
        {"seed", required_argument, NULL, OPT_SEED},
        {"out", required_argument, NULL, OPT_OUT},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"csv", required_argument, NULL, OPT_CSV},
        {"packet-bytes", required_argument, NULL, OPT_PACKET_BYTES},
        {"algorithm", required_argument, NULL, OPT_ALGORITHM},
        {"set", required_argument, NULL, OPT_SET},
        {"no-timing", no_argument, NULL, OPT_NO_TIMING},
        {"print-scenario", no_argument, NULL, OPT_PRINT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = "-", *scenario_path = NULL, *csv_path = NULL;
    int quiet = 0, timing = 1, print = 0;
    /* On the stack: usage errors exit at once, and nothing may leak then. */
    sim_flag flags[MAX_FLAGS];
    size_t nflags = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        sim_flag f = {NULL, optarg, NULL};
        switch (c) {
        case OPT_NODES:
            cmd_parse_u32(SUB, "--nodes", optarg, 1, STRATA_SCN_MAX_NODES);
            f.key = "nodes";
            f.opt = "--nodes";
            break;
        case OPT_DURATION:
            f.key = "duration_s";
            f.opt = "--duration";
            break;
        case OPT_RATE:
            cmd_parse_u32(SUB, "--rate", optarg, 1, 1000000);
            f.key = "rate_kbps";
            f.opt = "--rate";
            break;
        case OPT_LATENCY:
            f.key = "latency";
            f.opt = "--latency";
            break;
        case OPT_SEED:
            f.key = "seed";
            f.opt = "--seed";
            break;
        case OPT_PACKET_BYTES:
            cmd_parse_u32(SUB, "--packet-bytes", optarg, 64, 16u << 20);
            f.key = "packet_bytes";
            f.opt = "--packet-bytes";
            break;
        case OPT_ALGORITHM:
            f.key = "algorithm";
            f.opt = "--algorithm";
            break;
        case OPT_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                cmd_usage_error(SUB, "--set needs KEY=VALUE, got '%s'", optarg);
            *eq = '\0';
            f.key = optarg;
            f.value = eq + 1;
            f.opt = "--set";
            break;
        }
        case OPT_OUT:
            out_path = optarg;
            break;
        case OPT_SCENARIO:
            scenario_path = optarg;
            break;
        case OPT_CSV:
            csv_path = optarg;
            break;
        case OPT_NO_TIMING:
            timing = 0;
            break;
        case OPT_PRINT:
            print = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage();
            return CMD_EXIT_OK;
        case ':':
            cmd_usage_error(SUB, "%s needs a value", argv[optind - 1]);
        default:
            cmd_usage_error(SUB, "unknown option '%s'", argv[optind - 1]);
        }
        if (f.key && nflags == MAX_FLAGS)
            cmd_usage_error(SUB, "more than %d scenario flags", MAX_FLAGS);
        if (f.key)
            flags[nflags++] = f;
    }
    if (optind < argc)
        cmd_usage_error(SUB, "unexpected argument '%s'", argv[optind]);

    strata_scenario scenario;
    strata_scenario *scn = &scenario;
    strata_scenario_default(scn);
    char err[1024];
    if (scenario_path) {
        int rc = strata_scenario_load(scn, scenario_path, err, sizeof err);
        if (rc < 0)
            cmd_usage_error(SUB, "%s", err);
    }
    for (size_t i = 0; i < nflags; i++)
        apply(scn, &flags[i]);
    if (strata_scenario_validate(scn, err, sizeof err) < 0)
        cmd_usage_error(SUB, "%s", err);
    if (!strata_simalg_find(scn->algorithm)) {
        char list[256] = "";
        size_t n = 0;
        for (size_t i = 0; strata_simalgs[i] && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                  strata_simalgs[i]->name);
        cmd_usage_error(SUB, "unknown algorithm '%s' (known: %s)", scn->algorithm, list);
    }
    if (print) {
        size_t need = strata_scenario_format(scn, NULL, 0);
        char *text = malloc(need + 1);
        if (text) {
            strata_scenario_format(scn, text, need + 1);
            fputs(text, stdout);
            free(text);
        }
        return text ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    }

    double t0 = strata_progress_wall_s();
    strata_world *w = strata_world_new(scn, NULL, err, sizeof err);
    if (!w) {
        fprintf(stderr, "strata sim: %s\n", err);
        return CMD_EXIT_FAILURE;
    }
    strata_progress bar;
    strata_progress_init(&bar, stderr, !quiet);
    strata_world_set_progress(w, strata_progress_update, &bar);
    int rc = strata_world_run(w);
    strata_progress_finish(&bar);
    if (rc < 0) {
        fprintf(stderr, "strata sim: the run failed: %s\n", strata_strerror(rc));
        strata_world_del(w);
        return CMD_EXIT_FAILURE;
    }
    strata_simresult r;
    strata_world_result(w, &r);
    r.have_timing = timing;
    r.wall_s = strata_progress_wall_s() - t0;
    r.peak_rss_mb = peak_rss_mb();
    int status = CMD_EXIT_OK;
    if (write_json(out_path, &r) < 0) {
        fprintf(stderr, "strata sim: cannot write %s: %s\n", out_path, strerror(errno));
        status = CMD_EXIT_FAILURE;
    }
    if (csv_path && write_csv(csv_path, strata_world_metrics(w)) < 0) {
        fprintf(stderr, "strata sim: cannot write %s: %s\n", csv_path, strerror(errno));
        status = CMD_EXIT_FAILURE;
    }
    if (!quiet) {
        r.have_timing = 1;
        summary(&r);
    }
    strata_world_del(w);
    return status;
}
