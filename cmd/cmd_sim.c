/*
 * strata sim: runs the unchanged core (control center, source, peers) on
 * the simulator's virtual clock and in-memory network, and writes the
 * run's figures as JSON (and optionally a CSV time series and an HTML
 * report with plots). --compare runs every algorithm compiled in
 * (strata_simalgs[], strata first) on the same scenario and seed, one
 * after another, and prints a table of them side by side.
 *
 * Parameters come from a scenario file (sim/scenario.h, docs/simulator.md)
 * and from flags, flags winning: the file is read first whatever the order
 * on the command line. Bad flags, bad scenario text and unknown algorithms
 * are usage errors (exit 2); a latency file that cannot be read, running
 * out of memory or an output that cannot be written exit 1.
 */
#include <errno.h>
#include <getopt.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "args.h"
#include "progress.h"
#include "report.h"
#include "scenario.h"
#include "world.h"

static const char *const SUB = "sim";

static void usage(void)
{
    printf("usage: strata sim --nodes N --duration SECONDS --rate KBPS [--latency PATH]\n"
           "                  [--seed S] [--out FILE] [--scenario FILE] [--csv FILE]\n"
           "                  [--packet-bytes N] [--algorithm NAME | --compare]\n"
           "                  [--report DIR] [--set KEY=VALUE]... [--quiet] [--no-timing]\n"
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
           "                       larger packets make very large runs feasible; they\n"
           "                       travel as trains of datagrams (--set trains=no: whole)\n"
           "  --algorithm NAME     what runs on the nodes: strata, or a baseline: mesh,\n"
           "                       tree, splitstream                  (default strata)\n"
           "  --compare            run every algorithm on the same scenario and seed and\n"
           "                       print a table of them side by side (standard error if\n"
           "                       --out is -); --out writes one JSON object per algorithm,\n"
           "                       --csv FILE one FILE per algorithm (run.csv: run.NAME.csv)\n"
           "  --report DIR         write DIR/index.html: plots of delivery, lag, upload and\n"
           "                       cross-region traffic (one line per algorithm) and a table\n"
           "                       of the figures; one file, nothing fetched from elsewhere\n"
           "  --set KEY=VALUE      any scenario key, e.g. --set capacity_mix=dsl:1:800\n"
           "                       --set region=groups: each peer runs its locality-group\n"
           "                       agent and the channel's regions are the groups; a\n"
           "                       scenario line 'at 60 control-restart down=1' crashes the\n"
           "                       control center and starts a fresh one 1 s later\n"
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
    OPT_COMPARE,
    OPT_REPORT,
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

/* Writes text to path, "-" meaning standard output. */
static int put_text(const char *path, const char *text, size_t len)
{
    if (strcmp(path, "-") == 0)
        return fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
    return cmd_write_file_atomic(path, text, len);
}

/* Writes the JSON figures to path ("-" = standard output): the one run's
 * object, or with compare an object of every run's, keyed by algorithm. */
static int write_json(const char *path, const strata_simresult *r, size_t n, int compare)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m)
        return -1;
    int rc = 0;
    if (!compare) {
        rc = strata_simresult_write_json(&r[0], m);
    } else {
        fputs("{\n", m);
        for (size_t i = 0; i < n && rc == 0; i++) {
            fprintf(m, "  \"%s\": ", r[i].algorithm);
            rc = strata_simresult_write_json_nested(&r[i], m, 2);
            fputs(i + 1 < n ? ",\n" : "\n", m);
        }
        fputs("}\n", m);
    }
    if (fclose(m) != 0)
        rc = -1;
    if (rc == 0)
        rc = put_text(path, text, len);
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

/* The CSV path of one algorithm of --compare: NAME goes before the
 * extension (run.csv -> run.NAME.csv), or at the end without one. */
static void csv_path_of(char *buf, size_t len, const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : path))
        snprintf(buf, len, "%s.%s", path, name);
    else
        snprintf(buf, len, "%.*s.%s%s", (int)(dot - path), path, name, dot);
}

/* Peak RSS is kept per process; writing 5 to clear_refs (Linux 4.0 and
 * later) resets it to the current RSS, so each run of --compare measures
 * its own peak. Without it, later runs report the peak of all so far.
 * The current RSS still holds what the allocator kept of earlier runs'
 * freed memory (glibc: ~180 MB after a 1,000-node run), so that is handed
 * back first. */
static void reset_peak_rss(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return;
    fputs("5", f);
    fclose(f);
}

static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kib = 0;
        int found = 0;
        while (!found && fgets(line, sizeof line, f))
            found = sscanf(line, "VmHWM: %llu kB", &kib) == 1;
        fclose(f);
        if (found)
            return (double)kib / 1024.0;
    }
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

/* What the command does besides the scenario. */
typedef struct sim_opts {
    const char *out_path; /* NULL: none (--compare without --out) */
    const char *csv_path;
    const char *report_dir;
    int quiet, timing, print, compare;
} sim_opts;

/* Runs scn once, filling r; writes the CSV to csv_path (may be NULL) and
 * keeps what the report needs in rep (may be NULL). Returns CMD_EXIT_OK or
 * CMD_EXIT_FAILURE with a message printed; r->algorithm stays empty if
 * there are no figures, *made 0 if not even the world could be made. */
static int run_one(const strata_scenario *scn, const sim_opts *o, const char *csv_path,
                   strata_report_run *rep, strata_simresult *r, int *made)
{
    char err[1024];
    reset_peak_rss();
    double t0 = strata_progress_wall_s();
    strata_world *w = strata_world_new(scn, NULL, err, sizeof err);
    if (!w) {
        fprintf(stderr, "strata sim: %s\n", err);
        return CMD_EXIT_FAILURE;
    }
    *made = 1;
    strata_progress bar;
    strata_progress_init(&bar, stderr, !o->quiet);
    strata_world_set_progress(w, strata_progress_update, &bar);
    int rc = strata_world_run(w);
    strata_progress_finish(&bar);
    if (rc < 0) {
        fprintf(stderr, "strata sim: the %s run failed: %s\n", scn->algorithm, strata_strerror(rc));
        strata_world_del(w);
        return CMD_EXIT_FAILURE;
    }
    strata_world_result(w, r);
    r->have_timing = o->timing;
    r->wall_s = strata_progress_wall_s() - t0;
    r->peak_rss_mb = peak_rss_mb();
    int status = CMD_EXIT_OK;
    if (csv_path && write_csv(csv_path, strata_world_metrics(w)) < 0) {
        fprintf(stderr, "strata sim: cannot write %s: %s\n", csv_path, strerror(errno));
        status = CMD_EXIT_FAILURE;
    }
    if (rep && strata_report_run_capture(rep, NULL, strata_world_metrics(w), r) < 0) {
        fprintf(stderr, "strata sim: out of memory for the report\n");
        status = CMD_EXIT_FAILURE;
    }
    if (!o->quiet) {
        strata_simresult shown = *r;
        shown.have_timing = 1;
        summary(&shown);
    }
    strata_world_del(w);
    return status;
}

/* Makes the report directory before any run, so that a long --compare
 * does not end in an output it cannot write. */
static int prepare_report_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (errno == EEXIST)
        errno = ENOTDIR;
    fprintf(stderr, "strata sim: cannot create report directory %s: %s\n", dir, strerror(errno));
    return -1;
}

/* Writes dir/index.html for runs[0..n) of scenario scn. */
static int write_report(const char *dir, const strata_report_run *runs, size_t n,
                        const strata_scenario *scn, int compare)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *scn_text = NULL, *page = NULL;
    size_t need = strata_scenario_format(scn, NULL, 0), len = 0;
    int rc = -1;
    scn_text = malloc(need + 1);
    FILE *m = scn_text ? open_memstream(&page, &len) : NULL;
    if (m) {
        strata_scenario_format(scn, scn_text, need + 1);
        /* Every algorithm ran on this scenario: its algorithm line would
         * name just one of them. */
        char *line = compare ? strstr(scn_text, "\nalgorithm = ") : NULL;
        char *next = line ? strchr(line + 1, '\n') : NULL;
        if (next)
            memmove(line, next, strlen(next) + 1);
        rc = strata_report_write_page(m, runs, n, scn_text);
        if (fclose(m) != 0)
            rc = -1;
    }
    if (rc == 0)
        rc = cmd_write_file_atomic(path, page, len);
    if (rc < 0)
        fprintf(stderr, "strata sim: cannot write %s: %s\n", path, strerror(errno));
    free(page);
    free(scn_text);
    return rc;
}

/* A usage error naming the algorithms there are. */
_Noreturn static void unknown_algorithm(const char *name)
{
    char list[256] = "";
    size_t n = 0;
    for (size_t i = 0; strata_simalgs[i] && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                              strata_simalgs[i]->name);
    cmd_usage_error(SUB, "unknown algorithm '%s' (known: %s)", name, list);
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
        {"compare", no_argument, NULL, OPT_COMPARE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sim_opts o = {NULL, NULL, NULL, 0, 1, 0, 0};
    const char *scenario_path = NULL;
    int algorithm_flag = 0;
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
            algorithm_flag = 1;
            break;
        case OPT_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                cmd_usage_error(SUB, "--set needs KEY=VALUE, got '%s'", optarg);
            *eq = '\0';
            f.key = optarg;
            f.value = eq + 1;
            f.opt = "--set";
            algorithm_flag |= strcmp(f.key, "algorithm") == 0;
            break;
        }
        case OPT_OUT:
            o.out_path = optarg;
            break;
        case OPT_SCENARIO:
            scenario_path = optarg;
            break;
        case OPT_CSV:
            o.csv_path = optarg;
            break;
        case OPT_REPORT:
            o.report_dir = optarg;
            break;
        case OPT_NO_TIMING:
            o.timing = 0;
            break;
        case OPT_PRINT:
            o.print = 1;
            break;
        case OPT_COMPARE:
            o.compare = 1;
            break;
        case 'q':
            o.quiet = 1;
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
    if (o.compare && algorithm_flag)
        cmd_usage_error(SUB, "--compare runs every algorithm; it cannot go with --algorithm");
    if (o.compare && o.csv_path && strcmp(o.csv_path, "-") == 0)
        cmd_usage_error(SUB, "--compare writes one CSV per algorithm; --csv needs a file name");
    if (!o.compare && !o.out_path)
        o.out_path = "-";

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
    /* The algorithms to run: the scenario's, or with --compare every one
     * compiled in, strata first. */
    const strata_simalg *algs[STRATA_REPORT_MAX_LINES];
    size_t nalgs = 0;
    if (!o.compare) {
        algs[nalgs] = strata_simalg_find(scn->algorithm);
        if (!algs[nalgs])
            unknown_algorithm(scn->algorithm);
        nalgs++;
    } else {
        const strata_simalg *first = strata_simalg_find("strata");
        if (first)
            algs[nalgs++] = first;
        for (size_t i = 0; strata_simalgs[i] && nalgs < STRATA_REPORT_MAX_LINES; i++)
            if (strata_simalgs[i] != first)
                algs[nalgs++] = strata_simalgs[i];
    }
    if (o.print) {
        size_t need = strata_scenario_format(scn, NULL, 0);
        char *text = malloc(need + 1);
        if (text) {
            strata_scenario_format(scn, text, need + 1);
            fputs(text, stdout);
            free(text);
        }
        return text ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
    }
    if (o.report_dir && prepare_report_dir(o.report_dir) < 0)
        return CMD_EXIT_FAILURE;

    strata_simresult results[STRATA_REPORT_MAX_LINES];
    strata_report_run runs[STRATA_REPORT_MAX_LINES];
    size_t nres = 0;
    int status = CMD_EXIT_OK;
    for (size_t i = 0; i < nalgs; i++) {
        snprintf(scn->algorithm, sizeof scn->algorithm, "%s", algs[i]->name);
        char csv[4096];
        const char *csv_path = o.csv_path;
        if (o.compare && csv_path) {
            csv_path_of(csv, sizeof csv, o.csv_path, algs[i]->name);
            csv_path = csv;
        }
        if (o.compare && !o.quiet)
            fprintf(stderr, "strata sim: run %zu of %zu: %s\n", i + 1, nalgs, algs[i]->name);
        memset(&results[nres], 0, sizeof results[nres]);
        int w_made = 0;
        int rc =
            run_one(scn, &o, csv_path, o.report_dir ? &runs[nres] : NULL, &results[nres], &w_made);
        if (rc != CMD_EXIT_OK)
            status = rc;
        /* A run that failed has no figures (one whose output failed has).
         * If the world could not even be made (its latency file, say), no
         * other algorithm will fare better. */
        if (results[nres].algorithm[0])
            nres++;
        else if (!w_made)
            break;
    }
    if (nres && o.compare) {
        /* Standard output carries the table, or the JSON with --out -. */
        int json_on_stdout = o.out_path && strcmp(o.out_path, "-") == 0;
        FILE *tf = json_on_stdout ? (o.quiet ? NULL : stderr) : stdout;
        if (tf && (strata_report_write_table(tf, results, nres) < 0 || fflush(tf) != 0)) {
            fprintf(stderr, "strata sim: cannot write the table: %s\n", strerror(errno));
            status = CMD_EXIT_FAILURE;
        }
    }
    if (nres && o.out_path && write_json(o.out_path, results, nres, o.compare) < 0) {
        fprintf(stderr, "strata sim: cannot write %s: %s\n", o.out_path, strerror(errno));
        status = CMD_EXIT_FAILURE;
    }
    if (nres && o.report_dir && write_report(o.report_dir, runs, nres, scn, o.compare) < 0)
        status = CMD_EXIT_FAILURE;
    for (size_t i = 0; o.report_dir && i < nres; i++)
        strata_report_run_free(&runs[i]);
    return status;
}
