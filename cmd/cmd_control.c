/*
 * strata control: the control center daemon. One process, one node
 * (strata/node.h) holding the client manager, content directory, service
 * manager and every DCM (SPEC P8's embedded default), and next to them the
 * group bookkeeping that bootstraps the peers' locality groups
 * (strata_cgroups). The node routes each datagram to the role it is for.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "config.h"
#include "delay.h"
#include "host.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "status_file.h"
#include "strata/node.h"
#include "topology.h"

static const char *const SUB = "control";

enum {
    CONTROL_DEFAULT_JOIN_RATE = 20,        /* JOINs a second per /24 */
    CONTROL_DEFAULT_JOIN_BURST_FACTOR = 5, /* a burst of 100: a crowd of peers started at once */
};

static void usage(void)
{
    printf(
        "usage: strata control [--listen ADDR:PORT] [OPTIONS]\n"
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
        "  --region-policy on|off with locality regions, a group too small or too weak\n"
        "                         to carry its own trees is served by the nearest region\n"
        "                         that can (by the distances its leader reports), and\n"
        "                         gets its own region back once capable for a while\n"
        "                         (default off)\n"
        "  --region-min-members N the members a group needs in a channel to be a region\n"
        "                         of its own (default k + parity with --levels ec or 3,\n"
        "                         k otherwise)\n"
        "  --prefix-bits N        address prefix length for prefix regions (default 24)\n"
        "  --bootstrap-leaders N  group leaders handed to a newcomer, 1..8 (default 3)\n"
        "  --groups-seed N        seed of those draws (default: random; strata sim\n"
        "                         --scenario groups reports its own as bootstrap_seed)\n"
        "  --status-file PATH     rewrite PATH with a JSON status every second\n"
        "  --topology-file PATH   rewrite PATH every second with each membership's parents,\n"
        "                         one sorted line each: node channel dcm parent...\n"
        "                         [level=N] (1 preferred, 2 relay, 3 common; with --levels\n"
        "                         ec or 3) [folded=group:G>group:H] (its group G served\n"
        "                         by group H's region)\n"
        "  --recruit on|off       ask nodes with upload to spare to relay a channel they\n"
        "                         do not watch where its viewers lack upload (default on)\n"
        "  --capacity-check on|off\n"
        "                         check each member's declared upload against what its\n"
        "                         heartbeats and its children show it delivers before it\n"
        "                         gets children or becomes a preferred node: newcomers\n"
        "                         start at twice the rate, liars become leaves (default\n"
        "                         on; docs/security.md)\n"
        "  --levels MODE          what carries a channel above its regions: backbone (one\n"
        "                         head per region, fed by a multi-tree), mesh (preferred\n"
        "                         nodes flooding over a 3-connected mesh; also '2'), ec\n"
        "                         (the mesh above regions of erasure-coded trees, each\n"
        "                         rooted at another preferred node) or 3 (the mesh, per\n"
        "                         region an erasure-coded relay cluster of its high-\n"
        "                         capacity nodes and below it a common cluster of plain\n"
        "                         trees fed by the relay nodes; the default)\n"
        "  --preferred N          preferred nodes per region with --levels mesh, ec or 3,\n"
        "                         1..16 (default 2)\n"
        "  --top ALGORITHM        how the mesh of preferred nodes carries the stream:\n"
        "                         flood (every packet over every link; the default) or\n"
        "                         tree (each node takes each substream from two of its\n"
        "                         neighbours, and from others when those fall behind)\n"
        "                         or auto (each preferred node floods until its mesh\n"
        "                         links have not changed for 60 s, then keeps the tree\n"
        "                         until they change)\n"
        "  --parity N             parity trees per (relay) cluster with --levels ec or 3,\n"
        "                         1..8 (default 2): the fewest it has\n"
        "  --parity-max N         the most a cluster takes as the loss its members\n"
        "                         report grows, --parity..8 (default twice --parity);\n"
        "                         equal to --parity: a fixed number\n"
        "  --split-members N      --levels 3: a region splits into relay and common\n"
        "                         clusters from N members on, and is one erasure-coded\n"
        "                         cluster again below N / 2; 1 splits whenever a member\n"
        "                         can feed common trees (default 32)\n"
        "  --operator-key HEX|FILE\n"
        "                         the operator's public key (strata token keygen): every\n"
        "                         channel then needs a token it signed in each JOIN, and\n"
        "                         nodes are not recruited (default: open channels)\n"
        "  --key FILE             keep the node-authentication key in FILE (made if absent)\n"
        "  --join-rate N          JOINs a second taken from one /24, 0 = no limit\n"
        "                         (default 20)\n"
        "  --join-burst N         JOINs one /24 may send at once (default 5 x "
        "--join-rate)\n" CMD_DELAY_HELP CMD_CONFIG_HELP(
            "control") "  --http ADDR:PORT       serve the live topology page at /, its data at\n"
                       "                         /topology.json, the JSON status at /status and\n"
                       "                         Prometheus metrics at /metrics\n"
                       "  -v, --verbose          log every join, leave and repair\n"
                       "  -q, --quiet            log errors only\n"
                       "  -h, --help             show this help\n"
                       "\n"
                       "Once ready it prints one line: strata control listening on udp "
                       "ADDR:PORT\n");
}

typedef struct control_daemon {
    uv_loop_t *loop;
    strata_node *core; /* the control center and its group directory */
    host_node node;
    host_delay delay;
    int emulating;
    host_signals signals;
    host_http *http;
    host_status_file status_file;
    const char *topology_path; /* NULL: no topology file */
    uv_timer_t topology_timer;
    strata_log log;
    host_logger logger;
} control_daemon;

static size_t status_json(void *user, char *buf, size_t buflen)
{
    control_daemon *d = user;
    strata_control_status st;
    strata_control_get_status(strata_node_control(d->core), &st);
    strata_cgroups_stats gs;
    strata_cgroups_get_stats(strata_node_cgroups(d->core), &gs);
    strata_node_stats ns;
    strata_node_get_stats(d->core, &ns);
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
        ",\"groups\":%zu,\"group_reports\":%" PRIu64 ",\"group_bootstraps\":%" PRIu64
        ",\"recovering\":%d,\"restored_members\":%" PRIu64 ",\"restored_edges\":%" PRIu64
        ",\"reported_edges\":%" PRIu64 ",\"relays\":%zu,\"recruits_sent\":%" PRIu64
        ",\"releases_sent\":%" PRIu64 ",\"heartbeats\":%" PRIu64 ",\"promotions\":%" PRIu64
        ",\"demotions\":%" PRIu64 ",\"capacity_promotions\":%" PRIu64
        ",\"capacity_demotions\":%" PRIu64 ",\"capacity_strikes\":%" PRIu64
        ",\"parity_raises\":%" PRIu64 ",\"parity_lowers\":%" PRIu64 "}\n",
        st.nodes, st.peers, st.sources, st.channels, st.dcms, st.detached_pairs, st.max_depth,
        st.played_packets, st.missed_packets, due ? (double)st.played_packets / (double)due : 1.0,
        st.peer_tx_bytes, st.source_tx_bytes, up ? (double)st.peer_tx_bytes / (double)up : 0.0,
        st.joins, st.leaves, st.deaths, st.reparents, st.instructions_sent,
        st.drops.total + gs.drops.total + ns.drops.total, gs.groups, gs.reports, gs.bootstraps,
        st.recovering, st.restored_members, st.restored_edges, st.reported_edges, st.relays,
        st.recruits_sent, st.releases_sent, d->node.rx_heartbeats, st.promotions, st.demotions,
        st.capacity_promotions, st.capacity_demotions, st.capacity_strikes, st.parity_raises,
        st.parity_lowers);
    if (n < 0 || (size_t)n >= buflen)
        return 0;
    /* Every rejection by reason (issue 13, item 6): the JOINs refused, and
     * the datagrams dropped by the control center, its group table and the
     * node. The object above ends with "}\n": these go inside it. */
    size_t off = (size_t)n - 2;
    host_status_appendf(buf, buflen, &off,
                        ",\"waypoints\":%zu,\"waypoints_placed\":%" PRIu64
                        ",\"waypoint_standbys\":%" PRIu64 ",\"waypoint_releases\":%" PRIu64,
                        st.waypoints, st.waypoints_placed, st.waypoint_standbys,
                        st.waypoint_releases);
    host_status_appendf(buf, buflen, &off,
                        ",\"region_moves\":%" PRIu64 ",\"folded_groups\":%zu"
                        ",\"policy_folds\":%" PRIu64 ",\"policy_unfolds\":%" PRIu64
                        ",\"policy_moves\":%" PRIu64,
                        st.region_moves, st.folded_groups, st.policy_folds, st.policy_unfolds,
                        st.policy_moves);
    host_status_appendf(buf, buflen, &off,
                        ",\"token_checks\":%" PRIu64 ",\"join_refusals\":", st.token_checks);
    host_json_refusals(buf, buflen, &off, &st);
    const strata_drop_counters *sets[] = {&st.drops, &gs.drops, &ns.drops};
    host_status_appendf(buf, buflen, &off, ",\"drops\":");
    host_json_drops(buf, buflen, &off, sets, 3);
    host_status_appendf(buf, buflen, &off, ",\"amplification\":");
    host_json_amplification(buf, buflen, &off, &ns);
    uint8_t pk[32];
    char pk_hex[65];
    if (strata_node_control_key(d->core, pk)) { /* node authentication: what nodes pin */
        cmd_hex(pk, sizeof pk, pk_hex, sizeof pk_hex);
        host_status_appendf(buf, buflen, &off, ",\"control_key\":\"%s\"", pk_hex);
    }
    host_status_appendf(buf, buflen, &off, "}\n");
    return off < buflen ? off : 0;
}

/* The topology file: one line per membership, "node channel dcm p0 .. pk-1"
 * in hex ("source" for the channel's source, "-" for none), then
 * "level=N" where the levels say one, sorted, so that two moments (before
 * and after a restart, say) compare with diff. */
static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void write_topology(control_daemon *d)
{
    const strata_control *c = strata_node_control(d->core);
    size_t n = strata_control_topology(c, NULL, 0);
    strata_control_entry *e = n ? malloc(n * sizeof *e) : NULL;
    char *text = malloc(n * 400 + 1);
    char **lines = n ? malloc(n * sizeof *lines) : NULL;
    if ((n && (!e || !lines)) || !text)
        goto done;
    n = strata_control_topology(c, e, n);
    for (size_t i = 0; i < n; i++) {
        char *p = lines[i] = text + i * 400;
        int off = snprintf(p, 400, "%016" PRIx64 " %016" PRIx64 " %u", e[i].node.v, e[i].channel.v,
                           (unsigned)e[i].dcm.v);
        for (uint8_t s = 0; e[i].role != STRATA_ROLE_SOURCE && s < e[i].k; s++) {
            strata_node_id q = e[i].parents[s];
            if (q.v == 0)
                off += snprintf(p + off, (size_t)(400 - off), " -");
            else if (q.v == UINT64_MAX)
                off += snprintf(p + off, (size_t)(400 - off), " source");
            else
                off += snprintf(p + off, (size_t)(400 - off), " %016" PRIx64, q.v);
        }
        if (e[i].level)
            off += snprintf(p + off, (size_t)(400 - off), " level=%u", (unsigned)e[i].level);
        if (e[i].folded_group) /* regions by policy: served by another group's region */
            off += snprintf(p + off, (size_t)(400 - off), " folded=group:%016" PRIx64 ">%s",
                            e[i].folded_group, e[i].region);
        if (e[i].role == STRATA_ROLE_SOURCE)
            snprintf(p + off, (size_t)(400 - off), " (source)");
        else if (e[i].role == STRATA_ROLE_RELAY)
            snprintf(p + off, (size_t)(400 - off), " (relay)");
        else if (e[i].role == STRATA_ROLE_WAYPOINT)
            snprintf(p + off, (size_t)(400 - off), " (waypoint)");
    }
    if (n > 1)
        qsort(lines, n, sizeof *lines, cmp_line);
    char *out = malloc(n * 400 + 1);
    size_t len = 0;
    for (size_t i = 0; out && i < n; i++)
        len += (size_t)sprintf(out + len, "%s\n", lines[i]);
    if (out)
        host_write_file_atomic(d->topology_path, out, len);
    free(out);
done:
    free(lines);
    free(text);
    free(e);
}

static void on_topology_timer(uv_timer_t *t)
{
    write_topology(t->data);
}

/* GET /topology.json: the status and every membership (host/topology.h). */
static char *topology_json(void *user, size_t *len)
{
    control_daemon *d = user;
    char status[4096];
    size_t n = status_json(d, status, sizeof status);
    status[n < sizeof status ? n : sizeof status - 1] = '\0';
    return host_topology_json(strata_node_control(d->core), status, len);
}

/* The Prometheus page: the control center's and its group directory's
 * figures; datagrams no role took count among the drops, as in the JSON
 * status. */
static size_t metrics_text(void *user, char *buf, size_t buflen)
{
    control_daemon *d = user;
    strata_control_status st;
    strata_cgroups_stats gs;
    strata_node_stats ns;
    strata_control_get_status(strata_node_control(d->core), &st);
    strata_cgroups_get_stats(strata_node_cgroups(d->core), &gs);
    strata_node_get_stats(d->core, &ns);
    for (size_t i = 0; i < sizeof st.drops.by_reason / sizeof st.drops.by_reason[0]; i++)
        st.drops.by_reason[i] += ns.drops.by_reason[i];
    st.drops.total += ns.drops.total;
    const strata_control *c = strata_node_control(d->core);
    size_t n = strata_control_topology(c, NULL, 0);
    strata_control_entry *e = n ? malloc(n * sizeof *e) : NULL;
    if (n && !e)
        return 0; /* a 500 */
    n = strata_control_topology(c, e, n);
    size_t len = host_metrics_control(buf, buflen, &st, &gs, d->node.rx_heartbeats, e, n);
    free(e);
    return host_metrics_append_node(buf, buflen, len, "control", &ns);
}

static void on_signal(void *user, int signum)
{
    control_daemon *d = user;
    strata_logf(&d->log, STRATA_LOG_INFO, "signal %d: shutting down", signum);
    host_node_close(&d->node);
    host_signals_close(&d->signals);
    host_status_file_close(&d->status_file);
    if (d->topology_path) {
        write_topology(d);
        uv_close((uv_handle_t *)&d->topology_timer, NULL);
    }
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
        {"topology-file", required_argument, NULL, 'T'},
        {"recruit", required_argument, NULL, 'R'},
        {"capacity-check", required_argument, NULL, 'C'},
        {"levels", required_argument, NULL, 'L'},
        {"parity", required_argument, NULL, 'Y'},
        {"parity-max", required_argument, NULL, 'X'},
        {"split-members", required_argument, NULL, 'M'},
        {"region-policy", required_argument, NULL, 'E'},
        {"region-min-members", required_argument, NULL, 'N'},
        {"preferred", required_argument, NULL, 'P'},
        {"top", required_argument, NULL, 'A'},
        {"operator-key", required_argument, NULL, 'O'},
        {"join-rate", required_argument, NULL, 'J'},
        {"join-burst", required_argument, NULL, 'U'},
        {"key", required_argument, NULL, 'K'},
        {"latency", required_argument, NULL, CMD_OPT_LATENCY},
        {"host-index", required_argument, NULL, CMD_OPT_HOST_INDEX},
        {"http", required_argument, NULL, 'H'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    control_daemon d;
    memset(&d, 0, sizeof d);
    /* The capacity check is on unless the operator turns it off
     * (docs/security.md, "Declared capacity"). */
    strata_control_config cfg = {.levels = STRATA_LEVELS_THREE, .capacity_check = 1};
    uint32_t bootstrap_leaders = 0;
    uint64_t groups_seed = 0;
    int have_groups_seed = 0;
    cfg.region_mode = STRATA_REGION_LOCALITY;
    cfg.join_rate_per_s = CONTROL_DEFAULT_JOIN_RATE;
    int have_join_burst = 0;
    const char *key_path = NULL; /* --key: the long-term key of node authentication */
    strata_addr listen = {0x7f000001u, 7000};
    strata_addr http_addr = {0};
    int have_http = 0, level = STRATA_LOG_INFO;
    const char *status_path = NULL;
    cmd_delay_opts dopt = {0};
    int c;
    cmd_config_apply(SUB, opts, &argc, &argv);
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
                cmd_value_error(SUB, "--regions", optarg,
                                "must be 'locality', 'label' or 'prefix', got '%s'", optarg);
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
        case 'T':
            d.topology_path = optarg;
            break;
        case 'R':
            if (strcmp(optarg, "on") == 0)
                cfg.no_recruit = 0;
            else if (strcmp(optarg, "off") == 0)
                cfg.no_recruit = 1;
            else
                cmd_value_error(SUB, "--recruit", optarg, "must be 'on' or 'off', got '%s'",
                                optarg);
            break;
        case 'C':
            if (strcmp(optarg, "on") == 0)
                cfg.capacity_check = 1;
            else if (strcmp(optarg, "off") == 0)
                cfg.capacity_check = 0;
            else
                cmd_value_error(SUB, "--capacity-check", optarg,
                                "must be 'on' or 'off', got '%s'", optarg);
            break;
        case 'L':
            if (strcmp(optarg, "backbone") == 0)
                cfg.levels = STRATA_LEVELS_BACKBONE;
            else if (strcmp(optarg, "mesh") == 0 || strcmp(optarg, "2") == 0)
                cfg.levels = STRATA_LEVELS_MESH;
            else if (strcmp(optarg, "ec") == 0)
                cfg.levels = STRATA_LEVELS_EC;
            else if (strcmp(optarg, "3") == 0)
                cfg.levels = STRATA_LEVELS_THREE;
            else
                cmd_value_error(SUB, "--levels", optarg,
                                "must be 'backbone', 'mesh' (or '2'), 'ec' or '3', got '%s'",
                                optarg);
            break;
        case 'Y':
            cfg.parity = (uint8_t)cmd_parse_u32(SUB, "--parity", optarg, 1, STRATA_WIRE_MAX_PARITY);
            break;
        case 'X':
            cfg.parity_max =
                (uint8_t)cmd_parse_u32(SUB, "--parity-max", optarg, 1, STRATA_WIRE_MAX_PARITY);
            break;
        case 'M':
            cfg.split_members = cmd_parse_u32(SUB, "--split-members", optarg, 1, 1000000);
            break;
        case 'E':
            if (strcmp(optarg, "on") == 0)
                cfg.region_policy = 1;
            else if (strcmp(optarg, "off") == 0)
                cfg.region_policy = 0;
            else
                cmd_value_error(SUB, "--region-policy", optarg, "must be 'on' or 'off', got '%s'",
                                optarg);
            break;
        case 'N':
            cfg.region_min_members = cmd_parse_u32(SUB, "--region-min-members", optarg, 1, 1000000);
            break;
        case 'P':
            cfg.preferred_per_region = (uint8_t)cmd_parse_u32(SUB, "--preferred", optarg, 1, 16);
            break;
        case 'A':
            if (strcmp(optarg, "flood") == 0)
                cfg.top = STRATA_TOP_FLOOD;
            else if (strcmp(optarg, "tree") == 0)
                cfg.top = STRATA_TOP_TREE;
            else if (strcmp(optarg, "auto") == 0)
                cfg.top = STRATA_TOP_AUTO;
            else
                cmd_value_error(SUB, "--top", optarg,
                                "must be 'flood', 'tree' or 'auto', got '%s'", optarg);
            break;
        case 'O':
            cmd_hex_arg(SUB, "--operator-key", optarg, cfg.operator_pk, sizeof cfg.operator_pk);
            cfg.require_tokens = 1;
            break;
        case 'K':
            key_path = optarg;
            break;
        case 'J':
            cfg.join_rate_per_s = cmd_parse_u32(SUB, "--join-rate", optarg, 0, 1000000);
            break;
        case 'U':
            cfg.join_burst = cmd_parse_u32(SUB, "--join-burst", optarg, 1, 100000000);
            have_join_burst = 1;
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
    /* --parity's default is 2 (--help). */
    if (cfg.parity_max && cfg.parity_max < (cfg.parity ? cfg.parity : 2))
        cmd_usage_error(SUB, "--parity-max %u is below --parity %u", (unsigned)cfg.parity_max,
                        (unsigned)(cfg.parity ? cfg.parity : 2));

    if (!have_join_burst)
        cfg.join_burst = cfg.join_rate_per_s * CONTROL_DEFAULT_JOIN_BURST_FACTOR;
    /* Token expiries are Unix times; the core's clock is the host's
     * monotonic one: say where it starts. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    cfg.unix_ns_at_zero =
        (uint64_t)wall.tv_sec * 1000000000u + (uint64_t)wall.tv_nsec - host_now_ns();
    d.emulating = cmd_delay_setup(SUB, &dopt, &listen, &d.delay);
    host_log_init(&d.log, &d.logger, "control", level);
    cfg.seed = host_random_u64();
    d.loop = uv_default_loop();
    strata_cgroups_config gcfg = {.bootstrap_leaders = bootstrap_leaders,
                                  .seed = have_groups_seed ? groups_seed : host_random_u64()};
    /* Node authentication (docs/security.md, "No node speaks for another"):
     * always on in the daemon; --key keeps the key pair across restarts. */
    uint8_t auth_seed[32], key_seed[32], key_pk[32];
    cmd_random_bytes(auth_seed, sizeof auth_seed);
    if (key_path) {
        char err[512];
        int created = 0;
        if (cmd_control_key(key_path, key_seed, key_pk, &created, err, sizeof err) != 0)
            cmd_value_error(SUB, "--key", key_path, "%s", err);
        if (created)
            fprintf(stderr, "strata control: made a new key in %s\n", key_path);
    }
    strata_node_config ncfg = {.id = {host_random_u64() | 1u},
                               .seed = host_random_u64(),
                               .verify_addresses = 1,
                               .verify_key = host_random_u64(),
                               .authenticate = 1,
                               .auth_seed = auth_seed,
                               .control_key_seed = key_path ? key_seed : NULL,
                               .log = &d.log,
                               .control_center = &cfg,
                               .cgroups = &gcfg};
    if (ncfg.id.v == UINT64_MAX)
        ncfg.id.v--;
    d.core = strata_node_new(&ncfg, NULL, NULL, host_now_ns());
    if (!d.core) {
        fprintf(stderr, "strata control: cannot create the control center\n");
        return CMD_EXIT_FAILURE;
    }
    if (d.emulating)
        host_node_set_delay(&d.node, &d.delay);
    int rc = host_node_start(&d.node, d.loop, listen, d.core);
    if (rc < 0) {
        char a[32];
        fprintf(stderr, "strata control: cannot listen on %s: %s\n",
                strata_addr_format(listen, a, sizeof a), uv_strerror(rc));
        strata_node_del(d.core);
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
        host_http_add_page(d.http, "/", "text/html; charset=utf-8", host_topology_page, NULL);
        host_http_add_page(d.http, "/topology.json", "application/json", topology_json, &d);
    }
    host_status_file_start(&d.status_file, d.loop, status_path, status_json, &d);
    if (d.topology_path) {
        uv_timer_init(d.loop, &d.topology_timer);
        d.topology_timer.data = &d;
        uv_timer_start(&d.topology_timer, on_topology_timer, 1000, 1000);
    }
    host_signals_start(&d.signals, d.loop, on_signal, &d);
    uint8_t pk[32];
    char pk_hex[65];
    if (strata_node_control_key(d.core, pk)) {
        cmd_hex(pk, sizeof pk, pk_hex, sizeof pk_hex);
        strata_logf(&d.log, STRATA_LOG_INFO, "control key %s (%s; nodes pin it with --control-key)",
                    pk_hex,
                    key_path ? key_path : "this process only: start with --key FILE to keep it");
    }
    char a[32], h[32];
    if (have_http)
        printf("strata control listening on udp %s http http://%s/\n",
               strata_addr_format(d.node.bound, a, sizeof a),
               strata_addr_format(http_bound, h, sizeof h));
    else
        printf("strata control listening on udp %s\n",
               strata_addr_format(d.node.bound, a, sizeof a));
    fflush(stdout);
    uv_run(d.loop, UV_RUN_DEFAULT);
    strata_node_del(d.core);
    uv_loop_close(d.loop);
    if (d.emulating)
        host_delay_free(&d.delay);
    return CMD_EXIT_OK;
}
