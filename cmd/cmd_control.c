/*
 * strata control: the control center daemon. One process holds the client
 * manager, content directory, service manager and every DCM (SPEC P8's
 * embedded default), and next to them, on the same socket, the group
 * bookkeeping that bootstraps the peers' locality groups (strata_cgroups:
 * GROUP_REPORT and GROUP_BOOTSTRAP go there).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "delay.h"
#include "host.h"
#include "http.h"
#include "metrics.h"
#include "status_file.h"
#include "strata/control.h"
#include "strata/control_groups.h"

static const char *const SUB = "control";

static void usage(void)
{
    printf("usage: strata control [--listen ADDR:PORT] [OPTIONS]\n"
           "\n"
           "Runs the control center: nodes join channels through it, it groups them\n"
           "into regions and builds each region's multi-tree (k substreams).\n"
           "\n"
           "  --listen ADDR:PORT     UDP address to serve on (default 127.0.0.1:7000;\n"
           "                         port 0 lets the system choose)\n"
           "  --k N                  substreams per channel, 1..16 (default 4)\n"
           "  --heartbeat-ms MS      heartbeat interval nodes must keep (default 500; a node\n"
           "                         silent for 3.5 intervals is dead)\n"
           "  --regions MODE         locality (a node's locality group, else its prefix),\n"
           "                         label (a node's --region, else its prefix) or prefix\n"
           "                         (default locality)\n"
           "  --prefix-bits N        address prefix length for prefix regions (default 24)\n"
           "  --bootstrap-leaders N  group leaders handed to a newcomer, 1..8 (default 3)\n"
           "  --groups-seed N        seed of those draws (default: random; strata sim\n"
           "                         --scenario groups reports its own as bootstrap_seed)\n"
           "  --status-file PATH     rewrite PATH with a JSON status every second\n" CMD_DELAY_HELP
           "  --http ADDR:PORT       serve the JSON status at /status\n"
           "  -v, --verbose          log every join, leave and repair\n"
           "  -q, --quiet            log errors only\n"
           "  -h, --help             show this help\n"
           "\n"
           "Once ready it prints one line: strata control listening on udp ADDR:PORT\n");
}

typedef struct control_daemon {
    uv_loop_t *loop;
    strata_control *ctl;
    strata_cgroups *groups;
    host_node node;
    host_delay delay;
    int emulating;
    host_signals signals;
    host_http *http;
    host_status_file status_file;
    strata_log log;
    host_logger logger;
} control_daemon;

HOST_CORE_OPS(control_ops, control, strata_control);
HOST_CORE_OPS(cgroups_ops, cgroups, strata_cgroups);

static int cgroups_takes(int type)
{
    return type == STRATA_MSG_GROUP_REPORT || type == STRATA_MSG_GROUP_BOOTSTRAP;
}

static size_t status_json(void *user, char *buf, size_t buflen)
{
    control_daemon *d = user;
    strata_control_status st;
    strata_control_get_status(d->ctl, &st);
    strata_cgroups_stats gs;
    strata_cgroups_get_stats(d->groups, &gs);
    uint64_t due = st.played_packets + st.missed_packets;
    uint64_t up = st.peer_tx_bytes + st.source_tx_bytes;
    int n = snprintf(
        buf, buflen,
        "{\"nodes\":%zu,\"peers\":%zu,\"sources\":%zu,\"channels\":%zu,\"dcms\":%zu,"
        "\"detached_pairs\":%zu,\"max_depth\":%d,\"played_packets\":%" PRIu64
        ",\"missed_packets\":%" PRIu64 ",\"delivery\":%.6f,\"peer_tx_bytes\":%" PRIu64
        ",\"source_tx_bytes\":%" PRIu64 ",\"p2p_share\":%.6f,\"joins\":%" PRIu64
        ",\"leaves\":%" PRIu64 ",\"deaths\":%" PRIu64 ",\"reparents\":%" PRIu64
        ",\"instructions_sent\":%" PRIu64 ",\"dropped_datagrams\":%" PRIu64
        ",\"groups\":%zu,\"group_reports\":%" PRIu64 ",\"group_bootstraps\":%" PRIu64 "}\n",
        st.nodes, st.peers, st.sources, st.channels, st.dcms, st.detached_pairs, st.max_depth,
        st.played_packets, st.missed_packets, due ? (double)st.played_packets / (double)due : 1.0,
        st.peer_tx_bytes, st.source_tx_bytes, up ? (double)st.peer_tx_bytes / (double)up : 0.0,
        st.joins, st.leaves, st.deaths, st.reparents, st.instructions_sent,
        st.drops.total + gs.drops.total, gs.groups, gs.reports, gs.bootstraps);
    if (n < 0)
        return 0;
    return (size_t)n < buflen ? (size_t)n : buflen - 1;
}

static size_t metrics_text(void *user, char *buf, size_t buflen)
{
    control_daemon *d = user;
    strata_control_status st;
    strata_cgroups_stats gs;
    strata_control_get_status(d->ctl, &st);
    strata_cgroups_get_stats(d->groups, &gs);
    return host_metrics_control(buf, buflen, &st, &gs);
}

static void on_signal(void *user, int signum)
{
    control_daemon *d = user;
    strata_logf(&d->log, STRATA_LOG_INFO, "signal %d: shutting down", signum);
    host_node_close(&d->node);
    host_signals_close(&d->signals);
    host_status_file_close(&d->status_file);
    host_http_close(d->http);
    d->http = NULL;
}

int cmd_control(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"k", required_argument, NULL, 'k'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"regions", required_argument, NULL, 'r'},
        {"prefix-bits", required_argument, NULL, 'p'},
        {"bootstrap-leaders", required_argument, NULL, 'B'},
        {"groups-seed", required_argument, NULL, 'G'},
        {"status-file", required_argument, NULL, 's'},
        {"latency", required_argument, NULL, CMD_OPT_LATENCY},
        {"host-index", required_argument, NULL, CMD_OPT_HOST_INDEX},
        {"http", required_argument, NULL, 'H'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    control_daemon d;
    memset(&d, 0, sizeof d);
    strata_control_config cfg = {0};
    uint32_t bootstrap_leaders = 0;
    uint64_t groups_seed = 0;
    int have_groups_seed = 0;
    cfg.region_mode = STRATA_REGION_LOCALITY;
    strata_addr listen = {0x7f000001u, 7000};
    strata_addr http_addr = {0};
    int have_http = 0, level = STRATA_LOG_INFO;
    const char *status_path = NULL;
    cmd_delay_opts dopt = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hvq", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = cmd_parse_addr(SUB, "--listen", optarg);
            dopt.have_listen = 1;
            break;
        case CMD_OPT_LATENCY:
        case CMD_OPT_HOST_INDEX:
            cmd_delay_option(SUB, c, optarg, &dopt);
            break;
        case 'k':
            cfg.k = (uint8_t)cmd_parse_u32(SUB, "--k", optarg, 1, 16);
            break;
        case 'b':
            cfg.heartbeat_ms = cmd_parse_u32(SUB, "--heartbeat-ms", optarg, 10, 60000);
            break;
        case 'r':
            if (strcmp(optarg, "locality") == 0)
                cfg.region_mode = STRATA_REGION_LOCALITY;
            else if (strcmp(optarg, "label") == 0)
                cfg.region_mode = STRATA_REGION_LABEL_OR_PREFIX;
            else if (strcmp(optarg, "prefix") == 0)
                cfg.region_mode = STRATA_REGION_PREFIX;
            else
                cmd_usage_error(SUB, "--regions must be 'locality', 'label' or 'prefix', got '%s'",
                                optarg);
            break;
        case 'B':
            bootstrap_leaders = cmd_parse_u32(SUB, "--bootstrap-leaders", optarg, 1,
                                              STRATA_WIRE_MAX_BOOTSTRAP_LEADERS);
            break;
        case 'G':
            groups_seed = cmd_parse_u64(SUB, "--groups-seed", optarg, 10);
            have_groups_seed = 1;
            break;
        case 'p':
            cfg.prefix_bits = (uint8_t)cmd_parse_u32(SUB, "--prefix-bits", optarg, 1, 32);
            break;
        case 's':
            status_path = optarg;
            break;
        case 'H':
            http_addr = cmd_parse_addr(SUB, "--http", optarg);
            have_http = 1;
            break;
        case 'v':
            level = STRATA_LOG_DEBUG;
            break;
        case 'q':
            level = STRATA_LOG_ERROR;
            break;
        case 'h':
            usage();
            return CMD_EXIT_OK;
        case ':':
            cmd_usage_error(SUB, "option %s needs a value", argv[optind - 1]);
        default:
            cmd_usage_error(SUB, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        cmd_usage_error(SUB, "unexpected argument '%s'", argv[optind]);

    d.emulating = cmd_delay_setup(SUB, &dopt, &listen, &d.delay);
    host_log_init(&d.log, &d.logger, "control", level);
    cfg.seed = host_random_u64();
    cfg.log = &d.log;
    d.loop = uv_default_loop();
    d.ctl = strata_control_new(&cfg, NULL, host_now_ns());
    if (!d.ctl) {
        fprintf(stderr, "strata control: cannot create the control center\n");
        return CMD_EXIT_FAILURE;
    }
    strata_cgroups_config gcfg = {
        .bootstrap_leaders = bootstrap_leaders,
        .seed = have_groups_seed ? groups_seed : host_random_u64(),
        .log = &d.log};
    d.groups = strata_cgroups_new(&gcfg, NULL, host_now_ns());
    if (!d.groups) {
        fprintf(stderr, "strata control: cannot create the group bookkeeping\n");
        return CMD_EXIT_FAILURE;
    }
    if (d.emulating)
        host_node_set_delay(&d.node, &d.delay);
    host_node_add_core(&d.node, &cgroups_ops, d.groups, cgroups_takes);
    int rc = host_node_start(&d.node, d.loop, listen, &control_ops, d.ctl);
    if (rc < 0) {
        char a[32];
        fprintf(stderr, "strata control: cannot listen on %s: %s\n",
                strata_addr_format(listen, a, sizeof a), uv_strerror(rc));
        strata_control_del(d.ctl);
        return CMD_EXIT_FAILURE;
    }
    strata_addr http_bound = {0};
    if (have_http) {
        rc = host_http_start(&d.http, d.loop, http_addr, &http_bound, status_json, &d);
        if (rc < 0) {
            fprintf(stderr, "strata control: cannot serve HTTP: %s\n", uv_strerror(rc));
            return CMD_EXIT_FAILURE;
        }
        host_http_set_metrics(d.http, metrics_text, &d);
    }
    host_status_file_start(&d.status_file, d.loop, status_path, status_json, &d);
    host_signals_start(&d.signals, d.loop, on_signal, &d);
    char a[32], h[32];
    if (have_http)
        printf("strata control listening on udp %s http http://%s/status\n",
               strata_addr_format(d.node.bound, a, sizeof a),
               strata_addr_format(http_bound, h, sizeof h));
    else
        printf("strata control listening on udp %s\n",
               strata_addr_format(d.node.bound, a, sizeof a));
    fflush(stdout);
    uv_run(d.loop, UV_RUN_DEFAULT);
    strata_control_del(d.ctl);
    strata_cgroups_del(d.groups);
    uv_loop_close(d.loop);
    if (d.emulating)
        host_delay_free(&d.delay);
    return CMD_EXIT_OK;
}
