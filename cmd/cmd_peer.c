/*
 * strata peer: joins a locality group (SPEC L1-L11) and, under it as its
 * region, a channel; relays its part of the multi-tree and plays the
 * stream out to a file, standard output, UDP and/or HTTP.
 *
 * One node (strata/node.h) on one socket (host.h): its group agent and
 * bootstrap client, and a viewer session of the channel, which joins once
 * the node is in a group (or --group-wait-ms has passed, or groups are
 * off, or --region names a label) under the region label "group:<id>"
 * (protocol.md 7.8), and follows the group from then on.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "config.h"
#include "delay.h"
#include "escape.h"
#include "groups.h"
#include "host.h"
#include "http.h"
#include "keys.h"
#include "metrics.h"
#include "status_file.h"
#include "strata/peer.h"
#include "strata/token.h"
#include "udp_out.h"

static const char *const SUB = "peer";

static void usage(void)
{
    printf("usage: strata peer --control ADDR:PORT --channel NAME[:PRIO]\n"
           "                   [--output FILE|-|udp://ADDR:PORT]\n"
           "                   [--http ADDR:PORT] [--upload KBPS] [--region LABEL] [OPTIONS]\n"
           "\n"
           "Joins channels through the control center, receives each substream from\n"
           "its parent, relays to its children, and plays each stream out in order.\n"
           "\n"
           "  --control ADDR:PORT     the control center (required)\n"
           "  --channel NAME[:PRIO]   channel to watch (required, at most 64 bytes); repeat\n"
           "                          it to watch several at once on one socket. PRIO ranks\n"
           "                          them for the node's upload, 0 first (default: the\n"
           "                          order given)\n"
           "  --output FILE|-|udp://ADDR:PORT\n"
           "                          write a channel's stream to FILE, to standard output,\n"
           "                          or as MPEG-TS over UDP to ADDR:PORT (7 TS packets a\n"
           "                          datagram; ffplay udp://ADDR:PORT plays it); the i-th\n"
           "                          --output is the i-th channel's\n"
           "  --http ADDR:PORT        serve the live streams at http://ADDR:PORT/stream/NAME\n"
           "                          and the first at /stream (MPEG-TS; VLC, mpv and\n"
           "                          ffplay open it)\n"
           "  --channel-key HEX|-     the channel's public key (strata keygen), 64 hex\n"
           "                          digits: every packet must then be vouched for by the\n"
           "                          source's signed manifests, and an unsigned or forged\n"
           "                          one is dropped; the i-th --channel-key is the i-th\n"
           "                          channel's, - for none (default: none, nothing is\n"
           "                          verified)\n"
           "  --control-key HEX|FILE  pin the control center's key (default: the first met)\n"
           "  --token HEX|FILE|-      the channel's access token (strata token issue), 180\n"
           "                          hex digits or a file holding them, for a control\n"
           "                          center that requires one; the i-th --token is the\n"
           "                          i-th channel's, - for none (default: none)\n"
           "  --upload KBPS           upload capacity offered to the overlay (default 2000)\n"
           "  --region LABEL          region label (default: the node's locality group)\n"
           "  --waypoint              run as a waypoint server: an operator's relay that\n"
           "                          watches nothing. It offers itself for each --channel\n"
           "                          and the control center places it only in a region\n"
           "                          that lacks nodes able to carry the stream, takes it\n"
           "                          back when the region has its own or no viewers left\n"
           "                          (no --output)\n"
           "  --listen ADDR:PORT      UDP address for the overlay (default 0.0.0.0:0)\n"
           "  --playout-delay-ms MS   how long a missing packet may be waited for (default 3000)\n"
           "  --exit-on-end           exit once the end of every stream has been played\n"
           "  --status-file PATH      rewrite PATH with a JSON status every second\n"
           "  --no-groups             do not run the locality-group agent\n"
           "  --group-wait-ms MS      join the channel without a group after MS (default 10000)\n"
           "  --group-metric NAME     rtt, one-way or hops (default rtt)\n"
           "  --group-estimate NAME   a distance from its probes: min or median (default min)\n"
           "  --group-threshold-ms MS join-test threshold (default 50)\n"
           "  --group-seed N          seed of the group agent's random draws (default: random)\n"
           "  --node-id HEX           this node's id, up to 16 hex digits (default: random)\n"
           "  --group-refine-ms MS    a leader's refinement period (default 20000)\n" CMD_DELAY_HELP
               CMD_CONFIG_HELP(
                   "peer") "  -v, --verbose           log more\n"
                           "  -q, --quiet             log errors only\n"
                           "  -h, --help              show this help\n"
                           "\n"
                           "Once ready it prints one line (to standard error when --output is -):\n"
                           "  strata peer ID listening on udp ADDR:PORT [http "
                           "http://ADDR:PORT/stream]\n");
}

/* One watched channel: its output and where it stands. */
typedef struct peer_channel {
    struct peer_daemon *d;
    const char *name;
    uint8_t priority;
    int handle;      /* in the node */
    int http_stream; /* its stream on the HTTP server, or -1 */
    FILE *out;
    host_udp_out *udp; /* --output udp://: points into udp_out */
    host_udp_out udp_out;
    strata_addr udp_to;
    int out_is_stdout, ended, write_failed;
    int keyed;                         /* given the channel's key: every packet is verified */
    uint8_t token[STRATA_TOKEN_BYTES]; /* --token: the channel's access token */
    size_t token_len;
} peer_channel;

typedef struct peer_daemon {
    uv_loop_t *loop;
    strata_node *core; /* the process's node */
    peer_channel ch[STRATA_NODE_MAX_CHANNELS];
    int nch;
    host_groups groups;
    host_node node;
    host_delay delay;
    int emulating;
    host_signals signals;
    host_http *http;
    int exit_on_end, stopping;
    int waypoint; /* --waypoint: offers itself for its channels, plays nothing */
    host_status_file status_file;
    strata_log log;
    host_logger logger;
    strata_node_id id;
} peer_daemon;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    peer_channel *pc = user;
    peer_daemon *d = pc->d;
    if (pc->out && !pc->write_failed && fwrite(buf, 1, len, pc->out) != len) {
        pc->write_failed = 1;
        strata_logf(&d->log, STRATA_LOG_ERROR, "writing the output of %s failed: %s", pc->name,
                    strerror(errno));
    }
    if (pc->udp)
        host_udp_out_write(pc->udp, buf, len);
    if (d->http && pc->http_stream >= 0)
        host_http_write_stream(d->http, pc->http_stream, buf, len);
}

static void stop(peer_daemon *d);

static void on_end(void *user)
{
    peer_channel *pc = user;
    peer_daemon *d = pc->d;
    pc->ended = 1;
    strata_logf(&d->log, STRATA_LOG_INFO, "end of stream played: %s", pc->name);
    if (pc->out)
        fflush(pc->out);
    if (pc->udp)
        host_udp_out_flush(pc->udp);
    if (d->http && pc->http_stream >= 0)
        host_http_end_stream(d->http, pc->http_stream);
}

static int all_ended(const peer_daemon *d)
{
    for (int i = 0; i < d->nch; i++)
        if (!d->ch[i].ended)
            return 0;
    return 1;
}

static void channel_stats(const peer_daemon *d, int i, strata_peer_stats *st)
{
    memset(st, 0, sizeof *st);
    st->state = -1; /* not in the channel yet */
    const strata_peer *peer = d->core ? strata_node_peer(d->core, d->ch[i].handle) : NULL;
    if (peer)
        strata_peer_get_stats(peer, st);
}

/* Every session of the node (the channels watched, then those the
 * control center asked it to relay), each under its channel label, and
 * the drops of every session and of the node. */
static size_t metrics_text(void *user, char *buf, size_t buflen)
{
    peer_daemon *d = user;
    strata_node_stats ns;
    strata_node_get_stats(d->core, &ns);
    host_metrics_channel ch[STRATA_NODE_MAX_CHANNELS];
    strata_peer_stats st[STRATA_NODE_MAX_CHANNELS];
    size_t n = 0;
    for (size_t h = 0; h < ns.channels && n < STRATA_NODE_MAX_CHANNELS; h++) {
        strata_node_channel info;
        if (!strata_node_channel_info(d->core, (int)h, &info) || info.gone)
            continue;
        ch[n].name = info.name;
        ch[n].st = NULL;
        if (info.peer) {
            strata_peer_get_stats(info.peer, &st[n]);
            ch[n].st = &st[n];
        }
        n++;
    }
    size_t len =
        host_metrics_peer(buf, buflen, ch, n, &ns.drops, d->http ? host_http_clients(d->http) : 0);
    return host_metrics_append_node(buf, buflen, len, "peer", &ns);
}

/* The first channel's figures at the top level (as for a peer of one
 * channel), then every channel's in "channels". */
static size_t status_json(void *user, char *buf, size_t buflen)
{
    peer_daemon *d = user;
    strata_peer_stats st;
    channel_stats(d, 0, &st);
    /* Dropped datagrams: those of the channels and those no role took. */
    strata_node_stats ns;
    memset(&ns, 0, sizeof ns);
    if (d->core)
        strata_node_get_stats(d->core, &ns);
    uint64_t drops = ns.drops.total;
    for (int i = 0; i < d->nch; i++) {
        strata_peer_stats ci;
        channel_stats(d, i, &ci);
        drops += ci.drops.total;
    }
    size_t off = 0;
    host_status_appendf(
        buf, buflen, &off,
        "{\"node\":\"%016" PRIx64 "\",\"state\":%d,\"rx_data_packets\":%" PRIu64
        ",\"rx_duplicates\":%" PRIu64 ",\"tx_data_packets\":%" PRIu64 ",\"played_packets\":%" PRIu64
        ",\"played_bytes\":%" PRIu64 ",\"missed_packets\":%" PRIu64
        ",\"repair_requests_sent\":%" PRIu64 ",\"repair_requests_served\":%" PRIu64
        ",\"dropped_datagrams\":%" PRIu64 ",\"ended\":%d,\"http_clients\":%zu,\"region\":",
        d->id.v, st.state, st.rx_data_packets, st.rx_duplicates, st.tx_data_packets,
        st.played_packets, st.played_bytes, st.missed_packets, st.repair_requests_sent,
        st.repair_requests_served, drops, all_ended(d), d->http ? host_http_clients(d->http) : 0u);
    host_json_string(buf, buflen, &off,
                     d->core ? strata_node_region(d->core, d->ch[0].handle) : "");
    host_status_appendf(buf, buflen, &off, ",\"channels\":[");
    /* Every session of the node: the channels watched, then those the
     * control center asked it to relay (which it does not play). */
    strata_node_stats all;
    memset(&all, 0, sizeof all);
    if (d->core)
        strata_node_get_stats(d->core, &all);
    int first = 1;
    for (size_t h = 0; h < all.channels; h++) {
        strata_node_channel info;
        if (!strata_node_channel_info(d->core, (int)h, &info) || info.gone)
            continue;
        const peer_channel *pc = NULL;
        for (int i = 0; i < d->nch; i++)
            if (d->ch[i].handle == (int)h)
                pc = &d->ch[i];
        strata_peer_stats ci;
        memset(&ci, 0, sizeof ci);
        ci.state = -1;
        if (info.peer)
            strata_peer_get_stats(info.peer, &ci);
        host_status_appendf(buf, buflen, &off, "%s{\"name\":", first ? "" : ",");
        host_json_string(buf, buflen, &off, info.name);
        host_status_appendf(buf, buflen, &off,
                            ",\"relay\":%s,\"waypoint\":%s,\"joins_standby\":%" PRIu64
                            ",\"priority\":%u,\"state\":%d,"
                            "\"rx_data_packets\":%" PRIu64 ",\"rx_data_bytes\":%" PRIu64
                            ",\"rx_source_bytes\":%" PRIu64 ",\"rx_peer_bytes\":%" PRIu64
                            ",\"rx_repair_bytes\":%" PRIu64 ",\"rx_duplicates\":%" PRIu64
                            ",\"rx_late\":%" PRIu64 ",\"tx_data_bytes\":%" PRIu64
                            ",\"played_packets\":%" PRIu64 ",\"played_bytes\":%" PRIu64
                            ",\"missed_packets\":%" PRIu64 ",\"playout_lag_s\":%.9f,\"ended\":%d",
                            info.relay ? "true" : "false", d->waypoint ? "true" : "false",
                            ci.joins_standby, pc ? (unsigned)pc->priority : 255u,
                            ci.state, ci.rx_data_packets, ci.rx_data_bytes, ci.rx_source_bytes,
                            ci.rx_peer_bytes, ci.rx_repair_bytes, ci.rx_duplicates, ci.rx_late,
                            ci.tx_data_bytes, ci.played_packets, ci.played_bytes, ci.missed_packets,
                            (double)ci.playout_lag_ns / 1e9, pc ? pc->ended : 0);
        /* The erasure-coded cluster's (docs/metrics.md): rebuilt bytes are
         * the fourth origin of rx_data_bytes. */
        host_status_appendf(
            buf, buflen, &off,
            ",\"parity_rebuilt_packets\":%" PRIu64 ",\"parity_rebuilt_bytes\":%" PRIu64
            ",\"rx_parity_packets\":%" PRIu64 ",\"rx_parity_bytes\":%" PRIu64
            ",\"parity_sent_packets\":%" PRIu64 ",\"parity_sent_bytes\":%" PRIu64
            ",\"parity_encoded_symbols\":%" PRIu64 ",\"parity_decode_failures\":%" PRIu64,
            ci.parity_rebuilt_packets, ci.parity_rebuilt_bytes, ci.rx_parity_packets,
            ci.rx_parity_bytes, ci.parity_sent_packets, ci.parity_sent_bytes,
            ci.parity_encoded_symbols, ci.parity_decode_failures);
        /* MESH_TREE (protocol.md 3.13): a preferred node's tree inside the mesh. */
        host_status_appendf(buf, buflen, &off,
                            ",\"mesh_states_tx\":%" PRIu64 ",\"mesh_states_rx\":%" PRIu64
                            ",\"mesh_upstream_moves\":%" PRIu64
                            ",\"mesh_backfill_packets\":%" PRIu64,
                            ci.mesh_states_tx, ci.mesh_states_rx, ci.mesh_upstream_moves,
                            ci.mesh_backfill_packets);
        /* Signed channels (docs/security.md): what the manifests vouched
         * for, and what was dropped as forged or unverified. */
        host_status_appendf(
            buf, buflen, &off,
            ",\"verified\":%s,\"manifests_rx\":%" PRIu64 ",\"verified_packets\":%" PRIu64
            ",\"forged_packets\":%" PRIu64 ",\"forged_manifests\":%" PRIu64
            ",\"unverified_packets\":%" PRIu64 ",\"manifest_requests_sent\":%" PRIu64
            ",\"joins_forbidden\":%" PRIu64 ",\"send_time_outliers\":%" PRIu64,
            pc && pc->keyed ? "true" : "false", ci.manifests_rx, ci.verified_packets,
            ci.forged_packets, ci.forged_manifests, ci.unverified_packets,
            ci.manifest_requests_sent, ci.joins_forbidden, ci.send_time_outliers);
        if (pc && pc->udp)
            host_status_appendf(buf, buflen, &off,
                                ",\"udp\":{\"datagrams\":%" PRIu64 ",\"bytes\":%" PRIu64
                                ",\"skipped_bytes\":%" PRIu64 ",\"send_errors\":%" PRIu64 "}",
                                pc->udp->stats.datagrams, pc->udp->stats.bytes,
                                pc->udp->stats.skipped_bytes, pc->udp->stats.send_errors);
        host_status_appendf(buf, buflen, &off, "}");
        first = 0;
    }
    host_status_appendf(buf, buflen, &off, "]");
    /* Every rejection by reason (issue 13, item 6): the channels' drops
     * and those of the node itself, as /metrics has them. */
    const strata_drop_counters *sets[STRATA_NODE_MAX_CHANNELS + 1];
    strata_peer_stats dst[STRATA_NODE_MAX_CHANNELS];
    size_t nsets = 0;
    for (size_t h = 0; h < all.channels && nsets < STRATA_NODE_MAX_CHANNELS; h++) {
        strata_node_channel info;
        if (strata_node_channel_info(d->core, (int)h, &info) && info.peer) {
            strata_peer_get_stats(info.peer, &dst[nsets]);
            sets[nsets] = &dst[nsets].drops;
            nsets++;
        }
    }
    sets[nsets++] = &ns.drops;
    host_status_appendf(buf, buflen, &off, ",\"drops\":");
    host_json_drops(buf, buflen, &off, sets, nsets);
    host_status_appendf(buf, buflen, &off, ",\"amplification\":");
    host_json_amplification(buf, buflen, &off, &ns);
    if (off >= buflen)
        return 0;
    int n;
    if (d->emulating) {
        n = snprintf(buf + off, buflen - off,
                     ",\"delay\":{\"host\":%u,\"delayed\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
                     d->delay.self, d->delay.delayed, d->delay.dropped_full);
        off = n < 0 || (size_t)n >= buflen - off ? buflen : off + (size_t)n;
    }
    if (off < buflen)
        off += host_groups_status_json(&d->groups, d->core, buf + off, buflen - off, host_now_ns());
    if (off + 3 > buflen)
        return 0;
    memcpy(buf + off, "}\n", 3);
    return off + 2;
}

static void after_core(host_node *n)
{
    peer_daemon *d = n->user;
    if (d->stopping)
        return;
    if (d->exit_on_end && all_ended(d))
        stop(d);
}

static void stop(peer_daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    if (d->core)
        strata_node_leave(d->core, host_now_ns()); /* the channel and the group */
    host_node_close(&d->node);                     /* sends the queued LEAVEs first */
    host_signals_close(&d->signals);
    host_status_file_close(&d->status_file);
    host_http_close(d->http);
    d->http = NULL;
    for (int i = 0; i < d->nch; i++)
        if (d->ch[i].udp)
            host_udp_out_close(d->ch[i].udp);
}

static void on_signal(void *user, int signum)
{
    peer_daemon *d = user;
    strata_logf(&d->log, STRATA_LOG_INFO, "signal %d: leaving the channel", signum);
    stop(d);
}

/* --channel NAME[:PRIORITY]: the priority defaults to the channel's place
 * on the command line (the first 0, the first to get upload). */
static void parse_channel(peer_daemon *d, char *arg)
{
    peer_channel *pc = &d->ch[d->nch];
    memset(pc, 0, sizeof *pc);
    pc->d = d;
    pc->http_stream = -1;
    pc->priority = (uint8_t)d->nch;
    char *colon = strrchr(arg, ':');
    if (colon) {
        char *end;
        unsigned long prio = strtoul(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || prio > 255)
            cmd_value_error(SUB, "--channel", arg, "priority must be 0 to 255, got '%s'",
                            colon + 1);
        *colon = '\0';
        pc->priority = (uint8_t)prio;
    }
    if (!*arg || strlen(arg) > STRATA_WIRE_MAX_NAME_BYTES)
        cmd_value_error(SUB, "--channel", arg, "NAME must be 1 to 64 bytes");
    pc->name = arg;
    d->nch++;
}

int cmd_peer(int argc, char **argv)
{
    static const struct option opts[] = {
        {"control", required_argument, NULL, 'c'},
        {"channel", required_argument, NULL, 'n'},
        {"output", required_argument, NULL, 'o'},
        {"http", required_argument, NULL, 'H'},
        {"upload", required_argument, NULL, 'u'},
        {"channel-key", required_argument, NULL, 'k'},
        {"token", required_argument, NULL, 'A'},
        {"control-key", required_argument, NULL, CMD_OPT_CONTROL_KEY},
        {"region", required_argument, NULL, 'r'},
        {"listen", required_argument, NULL, 'l'},
        {"playout-delay-ms", required_argument, NULL, 'd'},
        {"exit-on-end", no_argument, NULL, 'e'},
        {"waypoint", no_argument, NULL, CMD_OPT_WAYPOINT},
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
    uint32_t group_wait_ms = STRATA_NODE_DEFAULT_GROUP_WAIT_MS;
    uint64_t group_seed = 0;
    int have_group_seed = 0, with_groups = 1;
    uint8_t control_pk[32], auth_seed[32]; /* node authentication: the pin, our secret */
    int have_control_pk = 0;
    strata_addr listen = {0, 0}, http_addr = {0};
    int have_control = 0, have_http = 0, level = STRATA_LOG_INFO;
    const char *outputs[STRATA_NODE_MAX_CHANNELS];
    int noutputs = 0;
    const char *keys[STRATA_NODE_MAX_CHANNELS];
    int nkeys = 0;
    const char *tokens[STRATA_NODE_MAX_CHANNELS];
    int ntokens = 0;
    cfg.upload_kbps = 2000;
    const char *status_path = NULL;
    cmd_delay_opts dopt = {0};
    int c;
    cmd_config_apply(SUB, opts, &argc, &argv);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hvq", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg.control = cmd_parse_addr(SUB, "--control", optarg);
            have_control = 1;
            break;
        case CMD_OPT_WAYPOINT:
            cfg.waypoint = 1;
            break;
        case 'n':
            if (d.nch == STRATA_NODE_MAX_CHANNELS)
                cmd_usage_error(SUB, "at most %d --channel", STRATA_NODE_MAX_CHANNELS);
            parse_channel(&d, optarg);
            break;
        case 'o':
            if (noutputs == STRATA_NODE_MAX_CHANNELS)
                cmd_usage_error(SUB, "at most %d --output", STRATA_NODE_MAX_CHANNELS);
            outputs[noutputs++] = optarg;
            break;
        case 'k':
            if (nkeys == STRATA_NODE_MAX_CHANNELS)
                cmd_usage_error(SUB, "at most %d --channel-key", STRATA_NODE_MAX_CHANNELS);
            if (strcmp(optarg, "-") != 0 &&
                cmd_parse_key_hex(optarg, cfg.channel_pk, sizeof cfg.channel_pk) != 0)
                cmd_value_error(SUB, "--channel-key", optarg, "needs %d hex digits or -, got '%s'",
                                2 * STRATA_MANIFEST_PUBLIC_KEY_BYTES, optarg);
            keys[nkeys++] = optarg;
            break;
        case CMD_OPT_CONTROL_KEY:
            cmd_hex_arg(SUB, "--control-key", optarg, control_pk, sizeof control_pk);
            have_control_pk = 1;
            break;
        case 'A':
            if (ntokens == STRATA_NODE_MAX_CHANNELS)
                cmd_usage_error(SUB, "at most %d --token", STRATA_NODE_MAX_CHANNELS);
            tokens[ntokens++] = optarg;
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
            with_groups = 0;
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
                cmd_value_error(SUB, "--node-id", optarg, "must not be 0 or ffffffffffffffff");
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
    if (d.nch == 0)
        cmd_usage_error(SUB, "--channel NAME is required (1 to 64 bytes)");
    if (noutputs > d.nch)
        cmd_usage_error(SUB, "more --output than --channel");
    if (cfg.waypoint && noutputs > 0)
        cmd_usage_error(SUB, "a --waypoint plays nothing: no --output");
    d.waypoint = cfg.waypoint;
    if (nkeys > d.nch)
        cmd_usage_error(SUB, "more --channel-key than --channel");
    if (ntokens > d.nch)
        cmd_usage_error(SUB, "more --token than --channel");
    for (int i = 0; i < ntokens; i++) {
        if (strcmp(tokens[i], "-") == 0)
            continue;
        cmd_hex_arg(SUB, "--token", tokens[i], d.ch[i].token, sizeof d.ch[i].token);
        d.ch[i].token_len = sizeof d.ch[i].token;
    }
    for (int i = 0; i < d.nch; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(d.ch[i].name, d.ch[j].name) == 0)
                cmd_usage_error(SUB, "channel '%s' given twice", d.ch[i].name);
    if (cfg.region && strlen(cfg.region) > 32)
        cmd_value_error(SUB, "--region", cfg.region, "LABEL must be at most 32 bytes");

    d.emulating = cmd_delay_setup(SUB, &dopt, &listen, &d.delay);

    int to_stdout = 0;
    for (int i = 0; i < noutputs; i++) {
        peer_channel *pc = &d.ch[i];
        if (strcmp(outputs[i], "-") == 0) {
            if (to_stdout++)
                cmd_usage_error(SUB, "only one --output can be -");
            pc->out = stdout;
            pc->out_is_stdout = 1;
        } else if (strncmp(outputs[i], "udp://", 6) == 0) {
            if (host_udp_out_parse(outputs[i], &pc->udp_to) < 0)
                cmd_value_error(SUB, "--output", outputs[i],
                                "udp://A.B.C.D:PORT (a port above 0), got '%s'", outputs[i]);
            pc->udp = &pc->udp_out;
        } else if (!(pc->out = fopen(outputs[i], "wb"))) {
            fprintf(stderr, "strata peer: cannot open output '%s': %s\n", outputs[i],
                    strerror(errno));
            return CMD_EXIT_FAILURE;
        }
    }
    host_log_init(&d.log, &d.logger, "peer", level);
    if (d.id.v == 0) {
        d.id.v = host_random_u64() | 1u; /* never zero */
        if (d.id.v == UINT64_MAX)
            d.id.v--;
    }
    cfg.seed = host_random_u64();
    d.loop = uv_default_loop();
    d.node.after_core = after_core;
    d.node.user = &d;
    if (d.emulating)
        host_node_set_delay(&d.node, &d.delay);
    for (int i = 0; i < d.nch; i++) {
        peer_channel *pc = &d.ch[i];
        int urc = pc->udp ? host_udp_out_start(pc->udp, d.loop, pc->udp_to) : 0;
        if (urc < 0) {
            fprintf(stderr, "strata peer: cannot open the UDP output of %s: %s\n", pc->name,
                    uv_strerror(urc));
            return CMD_EXIT_FAILURE;
        }
    }
    int rc = host_node_open(&d.node, d.loop, listen);
    if (rc < 0) {
        fprintf(stderr, "strata peer: cannot open a UDP socket: %s\n", uv_strerror(rc));
        return CMD_EXIT_FAILURE;
    }
    /* Others reach the node at the address it advertises: the bound one,
     * or for 0.0.0.0 the one the kernel sends from toward the control. */
    cmd_random_bytes(auth_seed, sizeof auth_seed);
    strata_node_config ncfg = {.id = d.id,
                               .verify_addresses = 1,
                               .verify_key = host_random_u64(),
                               .authenticate = 1,
                               .auth_seed = auth_seed,
                               .control_pk = have_control_pk ? control_pk : NULL,
                               .addr = d.node.bound,
                               .control = cfg.control,
                               .seed = have_group_seed ? group_seed : host_random_u64(),
                               .log = &d.log,
                               .groups = with_groups,
                               .group = gcfg,
                               /* 0 asks for the default: "at once" is the
                                * shortest wait there is */
                               .group_wait_ms = group_wait_ms ? group_wait_ms : 1};
    if (ncfg.addr.ipv4 == 0 && host_local_addr_toward(cfg.control, &ncfg.addr.ipv4) < 0)
        ncfg.addr.ipv4 = 0x7f000001u;
    host_groups_init(&d.groups, &d.log);
    strata_node_callbacks ncb = {host_groups_on_event, NULL, &d.groups};
    d.core = strata_node_new(&ncfg, &ncb, NULL, host_now_ns());
    if (!d.core) {
        fprintf(stderr, "strata peer: cannot create the node\n");
        return CMD_EXIT_FAILURE;
    }
    for (int i = 0; i < d.nch; i++) {
        peer_channel *pc = &d.ch[i];
        strata_peer_callbacks pcb = {on_play, on_end, pc};
        cfg.channel = pc->name;
        cfg.priority = pc->priority;
        cfg.verify = i < nkeys && strcmp(keys[i], "-") != 0;
        pc->keyed = cfg.verify;
        if (cfg.verify)
            cmd_parse_key_hex(keys[i], cfg.channel_pk, sizeof cfg.channel_pk);
        cfg.token = pc->token;
        cfg.token_len = pc->token_len;
        pc->handle = strata_node_watch(d.core, &cfg, &pcb, host_now_ns());
        if (pc->handle < 0) {
            fprintf(stderr, "strata peer: cannot watch channel %s: %s\n", pc->name,
                    strata_strerror(pc->handle));
            return CMD_EXIT_FAILURE;
        }
    }
    rc = host_node_begin(&d.node, d.core);
    if (rc < 0) {
        fprintf(stderr, "strata peer: cannot receive: %s\n", uv_strerror(rc));
        return CMD_EXIT_FAILURE;
    }
    strata_addr http_bound = {0};
    if (have_http) {
        rc = host_http_start(&d.http, d.loop, http_addr, &http_bound, status_json, &d);
        if (rc < 0) {
            fprintf(stderr, "strata peer: cannot serve HTTP: %s\n", uv_strerror(rc));
            return CMD_EXIT_FAILURE;
        }
        for (int i = 0; i < d.nch; i++)
            d.ch[i].http_stream = host_http_add_stream(d.http, d.ch[i].name);
        host_http_set_metrics(d.http, metrics_text, &d);
    }
    host_status_file_start(&d.status_file, d.loop, status_path, status_json, &d);
    host_signals_start(&d.signals, d.loop, on_signal, &d);
    FILE *ready = to_stdout ? stderr : stdout;
    char a[32], h[32];
    fprintf(ready, "strata peer %016" PRIx64 " listening on udp %s", d.id.v,
            strata_addr_format(d.node.bound, a, sizeof a));
    if (have_http)
        fprintf(ready, " http http://%s/stream", strata_addr_format(http_bound, h, sizeof h));
    fprintf(ready, "\n");
    fflush(ready);
    uv_run(d.loop, UV_RUN_DEFAULT);
    int status = CMD_EXIT_OK;
    for (int i = 0; i < d.nch; i++) {
        peer_channel *pc = &d.ch[i];
        if (!pc->out)
            continue;
        if (fflush(pc->out) != 0 || pc->write_failed)
            status = CMD_EXIT_FAILURE;
        if (!pc->out_is_stdout && fclose(pc->out) != 0)
            status = CMD_EXIT_FAILURE;
    }
    strata_node_del(d.core);
    uv_loop_close(d.loop);
    if (d.emulating)
        host_delay_free(&d.delay);
    return status;
}
