/*
 * strata sim --scenario groups|groups-failure|groups-churn: the locality
 * group protocol (SPEC L1-L11) on a measured latency matrix, every host of
 * the data set joining in a seeded random order, scored against landmark
 * binning and k-medoids (sim/groupsim.h, docs/groups.md). Writes one line
 * per host of the matrix, host_index<TAB>group_id, to --assign and the
 * metrics as JSON to --out.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "groupsim.h"
#include "strata/groups.h"

static const char *const SUB = "sim";

static void usage(void)
{
    printf("usage: strata sim --scenario groups|groups-failure|groups-churn --latency PATH\n"
           "                  [--assign FILE] [--out FILE] [--labels FILE] [OPTIONS]\n"
           "\n"
           "Runs the locality-group protocol (one agent per node) on a latency matrix:\n"
           "every host joins in a seeded random order; landmark binning and k-medoids\n"
           "(with as many groups) run on the same nodes for comparison.\n"
           "\n"
           "  --scenario NAME     groups: formation; groups-failure: then the leaders of\n"
           "                      many groups die at once; groups-churn: 30 minutes of churn\n"
           "  --latency PATH      RTT matrix (N lines of N values in ms, -1 = missing)\n"
           "  --assign FILE       host_index<TAB>group_id for every host of the matrix\n"
           "  --out FILE          metrics as JSON (default: standard output)\n"
           "  --labels FILE       host_index<TAB>label: adds ARI and NMI against them\n"
           "  --order FILE        the join order, in start order: index<TAB>start_ms<TAB>\n"
           "                      node id<TAB>agent seed (for strata peer --node-id and\n"
           "                      --group-seed, to replay the run with real peers)\n"
           "  --spacing-ms MS     mean gap between joins (default 1000)\n"
           "  --settle-s S        simulated time after the last join (default 120)\n"
           "  --refine-ms MS      the agents' refinement period (default 20000)\n"
           "  --bootstrap N       leaders handed to a newcomer, 1..8 (default 3)\n"
           "  --bootstrap-stream K\n"
           "                      draw those leaders from another stream of the seed\n"
           "                      (default 0); nothing else in the run changes\n"
           "  --seed S            seed of every random choice (default 1)\n"
           "  --nodes N           N simulated peers attached to the hosts instead of one\n"
           "                      per host\n"
           "  --metric NAME       rtt, one-way or hops (default rtt)\n"
           "  --estimate NAME     a distance from its probes: min or median (default min)\n"
           "  --threshold-ms MS   join threshold (default 50)\n"
           "  --landmarks L       landmarks of the binning baseline (default 8)\n"
           "  --loss P            datagram loss probability, 0..0.5 (default 0)\n"
           "  -v, --verbose       the agents' debug log on standard error (each line: the\n"
           "                      simulated time and the node's host index)\n"
           "  -q, --quiet         no progress on standard error\n"
           "  -h, --help          show this help\n");
}

static void write_stderr(void *user, int level, const char *line)
{
    (void)user;
    (void)level;
    fprintf(stderr, "%s\n", line);
}

static const strata_log agent_log = {write_stderr, NULL, STRATA_LOG_DEBUG};

static void on_progress(void *user, const strata_groupsim_progress *p)
{
    (void)user;
    fprintf(stderr, "\r%-9s sim %7.1f s  joined %u/%u  leaders %u  %" PRIu64 " events   ", p->phase,
            p->sim_s, p->joined, p->nodes, p->leaders, p->events);
    fflush(stderr);
}

int cmd_sim_groups(int argc, char **argv)
{
    enum {
        OPT_SCENARIO = 256,
        OPT_LATENCY,
        OPT_ASSIGN,
        OPT_OUT,
        OPT_LABELS,
        OPT_SEED,
        OPT_NODES,
        OPT_METRIC,
        OPT_ESTIMATE,
        OPT_THRESHOLD,
        OPT_LANDMARKS,
        OPT_LOSS,
        OPT_ORDER,
        OPT_SPACING,
        OPT_SETTLE,
        OPT_REFINE,
        OPT_BOOTSTRAP,
        OPT_BOOTSTRAP_STREAM
    };
    static const struct option opts[] = {
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"latency", required_argument, NULL, OPT_LATENCY},
        {"assign", required_argument, NULL, OPT_ASSIGN},
        {"out", required_argument, NULL, OPT_OUT},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"nodes", required_argument, NULL, OPT_NODES},
        {"metric", required_argument, NULL, OPT_METRIC},
        {"estimate", required_argument, NULL, OPT_ESTIMATE},
        {"threshold-ms", required_argument, NULL, OPT_THRESHOLD},
        {"landmarks", required_argument, NULL, OPT_LANDMARKS},
        {"loss", required_argument, NULL, OPT_LOSS},
        {"order", required_argument, NULL, OPT_ORDER},
        {"spacing-ms", required_argument, NULL, OPT_SPACING},
        {"settle-s", required_argument, NULL, OPT_SETTLE},
        {"refine-ms", required_argument, NULL, OPT_REFINE},
        {"bootstrap", required_argument, NULL, OPT_BOOTSTRAP},
        {"bootstrap-stream", required_argument, NULL, OPT_BOOTSTRAP_STREAM},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    strata_groupsim_config cfg;
    strata_groupsim_config_default(&cfg);
    cfg.seed = 1;
    const char *assign_path = NULL, *out_path = "-", *order_path = NULL;
    int quiet = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":vqh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SCENARIO: {
            const char *name = strncmp(optarg, "groups-", 7) == 0 ? optarg + 7 : optarg;
            int sc = strata_groupsim_scenario_from_name(name);
            if (sc < 0)
                cmd_usage_error(SUB,
                                "--scenario must be groups, groups-failure or groups-churn, "
                                "got '%s'",
                                optarg);
            cfg.scenario = sc;
            break;
        }
        case OPT_LATENCY:
            cfg.latency_path = optarg;
            break;
        case OPT_ASSIGN:
            assign_path = optarg;
            break;
        case OPT_OUT:
            out_path = optarg;
            break;
        case OPT_LABELS:
            cfg.labels_path = optarg;
            break;
        case OPT_SEED:
            cfg.seed = cmd_parse_u32(SUB, "--seed", optarg, 0, UINT32_MAX);
            break;
        case OPT_NODES:
            cfg.nodes = cmd_parse_u32(SUB, "--nodes", optarg, 1, 1000000);
            break;
        case OPT_METRIC:
            cfg.agent.metric = cmd_parse_group_metric(SUB, "--metric", optarg);
            break;
        case OPT_ESTIMATE:
            cfg.agent.estimate = cmd_parse_group_estimate(SUB, "--estimate", optarg);
            break;
        case OPT_THRESHOLD:
            cfg.agent.threshold_abs = cmd_parse_u32(SUB, "--threshold-ms", optarg, 1, 10000);
            break;
        case OPT_LANDMARKS:
            cfg.landmarks = cmd_parse_u32(SUB, "--landmarks", optarg, 1, 16);
            break;
        case OPT_LOSS: {
            char *end;
            double p = strtod(optarg, &end);
            if (*end != '\0' || end == optarg || !(p >= 0 && p <= 0.5))
                cmd_usage_error(SUB, "--loss must be a probability in [0, 0.5], got '%s'", optarg);
            cfg.loss = p;
            break;
        }
        case OPT_ORDER:
            order_path = optarg;
            break;
        case OPT_SPACING:
            cfg.join_spacing_ms = cmd_parse_u32(SUB, "--spacing-ms", optarg, 1, 3600000);
            break;
        case OPT_SETTLE:
            cfg.settle_s = cmd_parse_u32(SUB, "--settle-s", optarg, 1, 86400);
            break;
        case OPT_BOOTSTRAP:
            cfg.bootstrap_leaders =
                cmd_parse_u32(SUB, "--bootstrap", optarg, 1, STRATA_GNODE_MAX_BOOTSTRAP);
            break;
        case OPT_BOOTSTRAP_STREAM:
            cfg.bootstrap_stream = cmd_parse_u32(SUB, "--bootstrap-stream", optarg, 0, UINT32_MAX);
            break;
        case OPT_REFINE:
            cfg.agent.refine_ms = cmd_parse_u32(SUB, "--refine-ms", optarg, 100, 3600000);
            break;
        case 'q':
            quiet = 1;
            break;
        case 'v':
            cfg.agent_log = &agent_log;
            break;
        case 'h':
            usage();
            return CMD_EXIT_OK;
        case ':':
            cmd_usage_error(SUB, "%s needs a value", argv[optind - 1]);
        default:
            cmd_usage_error(SUB, "unknown option '%s' for the groups scenarios", argv[optind - 1]);
        }
    }
    if (optind < argc)
        cmd_usage_error(SUB, "unexpected argument '%s'", argv[optind]);
    if (!cfg.latency_path)
        cmd_usage_error(SUB, "the groups scenarios need --latency PATH");
    if (cfg.nodes > 20000)
        cfg.lazy_memory = 1; /* agents allocate their tables up front; see groupsim.h */
    if (!quiet && isatty(STDERR_FILENO)) {
        cfg.progress_s = 10; /* every 10 simulated seconds, redrawn in place */
        cfg.progress = on_progress;
    }
    strata_groupsim_result res;
    char err[512];
    if (strata_groupsim_run(&cfg, &res, err, sizeof err) < 0) {
        fprintf(stderr, "%sstrata sim: %s\n", cfg.progress ? "\n" : "", err);
        return CMD_EXIT_FAILURE;
    }
    if (!quiet)
        fprintf(stderr, "%s%u of %u live nodes in %u groups; probes per join %.1f (p95 %.0f)\n",
                cfg.progress ? "\n" : "", res.in_group, res.alive, res.groups, res.probes_mean,
                res.probes_p95);
    int status = CMD_EXIT_OK;
    if (strata_groupsim_save(&res, assign_path, strcmp(out_path, "-") == 0 ? NULL : out_path, err,
                             sizeof err) < 0) {
        fprintf(stderr, "strata sim: %s\n", err);
        status = CMD_EXIT_FAILURE;
    } else if (strata_groupsim_save_order(&res, order_path, err, sizeof err) < 0) {
        fprintf(stderr, "strata sim: %s\n", err);
        status = CMD_EXIT_FAILURE;
    } else if (strcmp(out_path, "-") == 0) {
        fwrite(res.json, 1, res.json_len, stdout);
    }
    strata_groupsim_result_free(&res);
    return status;
}
