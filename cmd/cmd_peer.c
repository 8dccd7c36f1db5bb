/*
 * strata peer: joins a locality group (SPEC L1-L11) and, under it as its
 * region, a channel; relays its part of the multi-tree and plays the
 * stream out to a file, standard output and/or HTTP.
 *
 * Three cores on one socket (host.h): the group bootstrap client, the
 * group agent and, once the node is in a group (or --group-wait-ms has
 * passed, or groups are off, or --region names a label), the peer. The
 * peer's JOIN carries the region label "group:<id>" (protocol.md 7.8).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "delay.h"
#include "groups.h"
#include "host.h"
#include "http.h"
#include "metrics.h"
#include "status_file.h"
#include "strata/peer.h"

static const char *const SUB = "peer";

static void usage(void)
{
    printf("usage: strata peer --control ADDR:PORT --channel NAME [--output FILE|-]\n"
           "                   [--http ADDR:PORT] [--upload KBPS] [--region LABEL] [OPTIONS]\n"
           "\n"
           "Joins a channel through the control center, receives each substream from\n"
           "its parent, relays to its children, and plays the stream out in order.\n"
           "\n"
           "  --control ADDR:PORT     the control center (required)\n"
           "  --channel NAME          channel to watch (required, at most 64 bytes)\n"
           "  --output FILE|-         write the stream to FILE, or to standard output\n"
           "  --http ADDR:PORT        serve the live stream at http://ADDR:PORT/stream\n"
           "                          (MPEG-TS; VLC, mpv and ffplay open it)\n"
           "  --upload KBPS           upload capacity offered to the overlay (default 2000)\n"
           "  --region LABEL          region label (default: the node's locality group)\n"
           "  --listen ADDR:PORT      UDP address for the overlay (default 0.0.0.0:0)\n"
           "  --playout-delay-ms MS   how long a missing packet may be waited for (default 3000)\n"
           "  --exit-on-end           exit once the end of the stream has been played\n"
           "  --status-file PATH      rewrite PATH with a JSON status every second\n"
           "  --no-groups             do not run the locality-group agent\n"
           "  --group-wait-ms MS      join the channel without a group after MS (default 10000)\n"
           "  --group-metric NAME     rtt, one-way or hops (default rtt)\n"
           "  --group-estimate NAME   a distance from its probes: min or median (default min)\n"
           "  --group-threshold-ms MS join-test threshold (default 50)\n"
           "  --group-seed N          seed of the group agent's random draws (default: random)\n"
           "  --node-id HEX           this node's id, up to 16 hex digits (default: random)\n"
           "  --group-refine-ms MS    a leader's refinement period (default 20000)\n" CMD_DELAY_HELP
           "  -v, --verbose           log more\n"
           "  -q, --quiet             log errors only\n"
           "  -h, --help              show this help\n"
           "\n"
           "Once ready it prints one line (to standard error when --output is -):\n"
           "  strata peer ID listening on udp ADDR:PORT [http http://ADDR:PORT/stream]\n");
}

typedef struct peer_daemon {
    uv_loop_t *loop;
    strata_peer *peer; /* NULL until the node joins the channel */
    strata_peer_config cfg;
    host_groups groups;
    int with_groups;
    uv_timer_t group_wait;
    char region[STRATA_WIRE_MAX_REGION_BYTES + 1];
    strata_group_id region_group; /* the group the region label names; 0: not from a group */
    host_node node;
    host_delay delay;
    int emulating;
    host_signals signals;
    host_http *http;
    FILE *out;
    int out_is_stdout, exit_on_end, ended, stopping, write_failed;
    host_status_file status_file;
    strata_log log;
    host_logger logger;
    strata_node_id id;
} peer_daemon;

HOST_CORE_OPS(peer_ops, peer, strata_peer);

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    peer_daemon *d = user;
    if (d->out && !d->write_failed && fwrite(buf, 1, len, d->out) != len) {
        d->write_failed = 1;
        strata_logf(&d->log, STRATA_LOG_ERROR, "writing the output failed: %s", strerror(errno));
    }
    if (d->http)
        host_http_write(d->http, buf, len);
}

static void stop(peer_daemon *d);

static void on_end(void *user)
{
    peer_daemon *d = user;
    d->ended = 1;
    strata_logf(&d->log, STRATA_LOG_INFO, "end of stream played");
    if (d->out)
        fflush(d->out);
    if (d->http)
        host_http_end_streams(d->http);
}

static size_t metrics_text(void *user, char *buf, size_t buflen)
{
    peer_daemon *d = user;
    strata_peer_stats st;
    if (d->peer)
        strata_peer_get_stats(d->peer, &st);
    return host_metrics_peer(buf, buflen, d->peer ? &st : NULL, host_http_clients(d->http));
}

static size_t status_json(void *user, char *buf, size_t buflen)
{
    peer_daemon *d = user;
    strata_peer_stats st;
    memset(&st, 0, sizeof st);
    st.state = -1; /* not in the channel yet */
    if (d->peer)
        strata_peer_get_stats(d->peer, &st);
    int n = snprintf(buf, buflen,
                     "{\"node\":\"%016" PRIx64 "\",\"state\":%d,\"rx_data_packets\":%" PRIu64
                     ",\"rx_duplicates\":%" PRIu64 ",\"tx_data_packets\":%" PRIu64
                     ",\"played_packets\":%" PRIu64 ",\"played_bytes\":%" PRIu64
                     ",\"missed_packets\":%" PRIu64 ",\"repair_requests_sent\":%" PRIu64
                     ",\"repair_requests_served\":%" PRIu64 ",\"dropped_datagrams\":%" PRIu64
                     ",\"ended\":%d,\"http_clients\":%zu,\"region\":\"%s\"",
                     d->id.v, st.state, st.rx_data_packets, st.rx_duplicates, st.tx_data_packets,
                     st.played_packets, st.played_bytes, st.missed_packets, st.repair_requests_sent,
                     st.repair_requests_served, st.drops.total, d->ended,
                     d->http ? host_http_clients(d->http) : 0u, d->region);
    if (n < 0 || (size_t)n >= buflen)
        return 0;
    size_t off = (size_t)n;
    if (d->emulating) {
        n = snprintf(buf + off, buflen - off,
                     ",\"delay\":{\"host\":%u,\"delayed\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
                     d->delay.self, d->delay.delayed, d->delay.dropped_full);
        off = n < 0 || (size_t)n >= buflen - off ? buflen : off + (size_t)n;
    }
    if (off < buflen)
        off += host_groups_status_json(&d->groups, buf + off, buflen - off, host_now_ns());
    if (off + 3 > buflen)
        return 0;
    memcpy(buf + off, "}\n", 3);
    return off + 2;
}

/* Joins the channel: under the node's group when it has one. */
static void join_channel(peer_daemon *d)
{
    if (d->peer || d->stopping)
        return;
    strata_group_id g = host_groups_group(&d->groups);
    if (!d->cfg.region && g.v != 0) {
        snprintf(d->region, sizeof d->region, "group:%016" PRIx64, g.v);
        d->cfg.region = d->region;
        d->region_group = g;
    } else if (d->cfg.region) {
        snprintf(d->region, sizeof d->region, "%s", d->cfg.region);
    }
    strata_peer_callbacks cb = {on_play, on_end, d};
    d->peer = strata_peer_new(&d->cfg, &cb, NULL, host_now_ns());
    if (!d->peer || host_node_add_core(&d->node, &peer_ops, d->peer, NULL) < 0) {
        strata_logf(&d->log, STRATA_LOG_ERROR, "cannot create the peer");
        stop(d);
        return;
    }
    strata_logf(&d->log, STRATA_LOG_INFO, "joining channel %s in region %s", d->cfg.channel,
                d->region[0] ? d->region : "(the control center's choice)");
    if (d->with_groups)
        uv_timer_stop(&d->group_wait);
}

static void on_group_wait(uv_timer_t *t)
{
    peer_daemon *d = t->data;
    strata_logf(&d->log, STRATA_LOG_WARN, "no group yet: joining the channel without one");
    join_channel(d);
    host_node_kick(&d->node);
}

static void after_core(host_node *n)
{
    peer_daemon *d = n->user;
    if (d->stopping)
        return;
    host_groups_update(&d->groups, host_now_ns());
    strata_group_id g = host_groups_group(&d->groups);
    if (!d->peer && g.v != 0)
        join_channel(d);
    else if (d->peer && d->region_group.v != 0 && g.v != 0 && g.v != d->region_group.v) {
        /* The group merged into another (or the node walked to one): the
         * region follows it, so the control center's regions stay the
         * groups. */
        snprintf(d->region, sizeof d->region, "group:%016" PRIx64, g.v);
        d->region_group = g;
        strata_peer_set_region(d->peer, d->region, host_now_ns());
        strata_logf(&d->log, STRATA_LOG_INFO, "region follows the group: %s", d->region);
    }
    if (d->ended && d->exit_on_end)
        stop(d);
}

static void stop(peer_daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    if (d->peer)
        strata_peer_leave(d->peer, host_now_ns());
    host_groups_leave(&d->groups, host_now_ns());
    if (d->with_groups)
        uv_close((uv_handle_t *)&d->group_wait, NULL);
    host_node_close(&d->node); /* sends the queued LEAVE first */
    host_signals_close(&d->signals);
    host_status_file_close(&d->status_file);
    host_http_close(d->http);
    d->http = NULL;
}

static void on_signal(void *user, int signum)
{
    peer_daemon *d = user;
    strata_logf(&d->log, STRATA_LOG_INFO, "signal %d: leaving the channel", signum);
    stop(d);
}

int cmd_peer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"control", required_argument, NULL, 'c'},
        {"channel", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"http", required_argument, NULL, 'H'},
        {"upload", required_argument, NULL, 'u'},
        {"region", required_argument, NULL, 'r'},
        {"listen", required_argument, NULL, 'l'},
        {"playout-delay-ms", required_argument, NULL, 'd'},
        {"exit-on-end", no_argument, NULL, 'e'},
        {"status-file", required_argument, NULL, 's'},
        {"latency", required_argument, NULL, CMD_OPT_LATENCY},
        {"host-index", required_argument, NULL, CMD_OPT_HOST_INDEX},
        {"no-groups", no_argument, NULL, 'G'},
        {"group-wait-ms", required_argument, NULL, 'W'},
        {"group-metric", required_argument, NULL, 'M'},
        {"group-estimate", required_argument, NULL, 'E'},
        {"group-seed", required_argument, NULL, 'S'},
        {"node-id", required_argument, NULL, 'N'},
        {"group-threshold-ms", required_argument, NULL, 'T'},
        {"group-refine-ms", required_argument, NULL, 'F'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    peer_daemon d;
    memset(&d, 0, sizeof d);
    strata_peer_config cfg = {0};
    strata_gnode_config gcfg = {0};
    uint32_t group_wait_ms = 10000;
    uint64_t group_seed = 0;
    int have_group_seed = 0;
    d.with_groups = 1;
    strata_addr listen = {0, 0}, http_addr = {0};
    int have_control = 0, have_http = 0, level = STRATA_LOG_INFO;
    const char *output = NULL;
    cfg.upload_kbps = 2000;
    const char *status_path = NULL;
    cmd_delay_opts dopt = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hvq", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg.control = cmd_parse_addr(SUB, "--control", optarg);
            have_control = 1;
            break;
        case 'n':
            cfg.channel = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'H':
            http_addr = cmd_parse_addr(SUB, "--http", optarg);
            have_http = 1;
            break;
        case 'u':
            cfg.upload_kbps = cmd_parse_u32(SUB, "--upload", optarg, 0, 10000000);
            break;
        case 'r':
            cfg.region = optarg;
            break;
        case 'l':
            listen = cmd_parse_addr(SUB, "--listen", optarg);
            dopt.have_listen = 1;
            break;
        case CMD_OPT_LATENCY:
        case CMD_OPT_HOST_INDEX:
            cmd_delay_option(SUB, c, optarg, &dopt);
            break;
        case 'G':
            d.with_groups = 0;
            break;
        case 'W':
            group_wait_ms = cmd_parse_u32(SUB, "--group-wait-ms", optarg, 0, 3600000);
            break;
        case 'M':
            gcfg.metric = cmd_parse_group_metric(SUB, "--group-metric", optarg);
            break;
        case 'E':
            gcfg.estimate = cmd_parse_group_estimate(SUB, "--group-estimate", optarg);
            break;
        case 'S':
            group_seed = cmd_parse_u64(SUB, "--group-seed", optarg, 10);
            have_group_seed = 1;
            break;
        case 'N':
            d.id.v = cmd_parse_u64(SUB, "--node-id", optarg, 16);
            if (d.id.v == 0 || d.id.v == UINT64_MAX)
                cmd_usage_error(SUB, "--node-id must not be 0 or ffffffffffffffff");
            break;
        case 'F':
            gcfg.refine_ms = cmd_parse_u32(SUB, "--group-refine-ms", optarg, 100, 3600000);
            break;
        case 'T':
            gcfg.threshold_abs = cmd_parse_u32(SUB, "--group-threshold-ms", optarg, 1, 10000);
            break;
        case 'd':
            cfg.playout_delay_ms = cmd_parse_u32(SUB, "--playout-delay-ms", optarg, 1, 600000);
            break;
        case 'e':
            d.exit_on_end = 1;
            break;
        case 's':
            status_path = optarg;
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
    if (!have_control)
        cmd_usage_error(SUB, "--control ADDR:PORT is required");
    if (!cfg.channel || !*cfg.channel || strlen(cfg.channel) > 64)
        cmd_usage_error(SUB, "--channel NAME is required (1 to 64 bytes)");
    if (cfg.region && strlen(cfg.region) > 32)
        cmd_usage_error(SUB, "--region LABEL must be at most 32 bytes");

    d.emulating = cmd_delay_setup(SUB, &dopt, &listen, &d.delay);

    if (output) {
        if (strcmp(output, "-") == 0) {
            d.out = stdout;
            d.out_is_stdout = 1;
        } else if (!(d.out = fopen(output, "wb"))) {
            fprintf(stderr, "strata peer: cannot open output '%s': %s\n", output, strerror(errno));
            return CMD_EXIT_FAILURE;
        }
    }
    host_log_init(&d.log, &d.logger, "peer", level);
    if (d.id.v == 0) {
        d.id.v = host_random_u64() | 1u; /* never zero */
        if (d.id.v == UINT64_MAX)
            d.id.v--;
    }
    cfg.node = d.id;
    cfg.seed = host_random_u64();
    cfg.log = &d.log;
    d.cfg = cfg;
    d.loop = uv_default_loop();
    d.node.after_core = after_core;
    d.node.user = &d;
    if (d.emulating)
        host_node_set_delay(&d.node, &d.delay);
    int rc = host_node_open(&d.node, d.loop, listen);
    if (rc < 0) {
        fprintf(stderr, "strata peer: cannot open a UDP socket: %s\n", uv_strerror(rc));
        return CMD_EXIT_FAILURE;
    }
    if (d.with_groups) {
        /* Others reach the agent at the address it advertises: the bound one,
         * or for 0.0.0.0 the one the kernel sends from toward the control. */
        gcfg.node = d.id;
        gcfg.addr = d.node.bound;
        if (gcfg.addr.ipv4 == 0 && host_local_addr_toward(cfg.control, &gcfg.addr.ipv4) < 0)
            gcfg.addr.ipv4 = 0x7f000001u;
        gcfg.seed = have_group_seed ? group_seed : host_random_u64();
        gcfg.log = &d.log;
        if (host_groups_start(&d.groups, &d.node, &gcfg, cfg.control, host_now_ns()) < 0) {
            fprintf(stderr, "strata peer: cannot start the group agent\n");
            return CMD_EXIT_FAILURE;
        }
    }
    rc = host_node_begin(&d.node);
    if (rc < 0) {
        fprintf(stderr, "strata peer: cannot receive: %s\n", uv_strerror(rc));
        return CMD_EXIT_FAILURE;
    }
    if (d.with_groups && !cfg.region) {
        uv_timer_init(d.loop, &d.group_wait);
        d.group_wait.data = &d;
        uv_timer_start(&d.group_wait, on_group_wait, group_wait_ms, 0);
    } else {
        if (d.with_groups) {
            uv_timer_init(d.loop, &d.group_wait); /* closed by stop() */
            d.group_wait.data = &d;
        }
        join_channel(&d);
        host_node_kick(&d.node);
    }
    strata_addr http_bound = {0};
    if (have_http) {
        rc = host_http_start(&d.http, d.loop, http_addr, &http_bound, status_json, &d);
        if (rc < 0) {
            fprintf(stderr, "strata peer: cannot serve HTTP: %s\n", uv_strerror(rc));
            return CMD_EXIT_FAILURE;
        }
        host_http_set_metrics(d.http, metrics_text, &d);
    }
    host_status_file_start(&d.status_file, d.loop, status_path, status_json, &d);
    host_signals_start(&d.signals, d.loop, on_signal, &d);
    FILE *ready = d.out_is_stdout ? stderr : stdout;
    char a[32], h[32];
    fprintf(ready, "strata peer %016" PRIx64 " listening on udp %s", d.id.v,
            strata_addr_format(d.node.bound, a, sizeof a));
    if (have_http)
        fprintf(ready, " http http://%s/stream", strata_addr_format(http_bound, h, sizeof h));
    fprintf(ready, "\n");
    fflush(ready);
    uv_run(d.loop, UV_RUN_DEFAULT);
    int status = CMD_EXIT_OK;
    if (d.out) {
        if (fflush(d.out) != 0 || d.write_failed)
            status = CMD_EXIT_FAILURE;
        if (!d.out_is_stdout && fclose(d.out) != 0)
            status = CMD_EXIT_FAILURE;
    }
    strata_peer_del(d.peer);
    host_groups_free(&d.groups);
    uv_loop_close(d.loop);
    if (d.emulating)
        host_delay_free(&d.delay);
    return status;
}
