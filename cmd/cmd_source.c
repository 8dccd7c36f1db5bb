/*
 * strata source: announces a channel and pushes a stream into it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "config.h"
#include "delay.h"
#include "host.h"
#include "ingest.h"
#include "keys.h"
#include "strata/node.h"
#include "strata/token.h"

static const char *const SUB = "source";

static void usage(void)
{
    printf(
        "usage: strata source --control ADDR:PORT --channel NAME --input FILE|-|udp://ADDR:PORT\n"
        "                     --rate KBPS [OPTIONS]\n"
        "\n"
        "Announces a channel and pushes a stream into it: a file paced at --rate,\n"
        "standard input (a redirected file is paced; a pipe is passed on as it arrives,\n"
        "never faster than 1.25 x --rate), or\n"
        "MPEG-TS over UDP as 'ffmpeg -f mpegts udp://ADDR:PORT' sends it.\n"
        "\n"
        "  --control ADDR:PORT   the control center (required)\n"
        "  --channel NAME        channel name (required, at most 64 bytes)\n"
        "  --input SRC           FILE, - (standard input) or udp://ADDR:PORT (required)\n"
        "  --rate KBPS           stream rate in kbit/s (required; paces file input and\n"
        "                        sizes the trees)\n"
        "  --upload KBPS         the source's own upload capacity (default 4 x --rate:\n"
        "                        it feeds a few tree roots, the peers do the rest)\n"
        "  --listen ADDR:PORT    UDP address for the overlay (default 0.0.0.0:0)\n"
        "  --loop                start a file over at its end instead of ending the\n"
        "                        stream (a test channel that never stops)\n"
        "  --linger-ms MS        after the input ends, keep answering repairs this long\n"
        "                        before leaving (default 5000)\n"
        "  --channel-key-file FILE\n"
        "                        sign the stream with this secret key (strata keygen):\n"
        "                        a signed manifest per 64 packets or 200 ms, each packet\n"
        "                        sent 400 ms after it was read so that its manifest goes\n"
        "                        first; viewers given the public key refuse anything it\n"
        "                        does not vouch for (default: an unsigned channel)\n"
        "  --sign-parity N       parity symbols signed per group of k, 0 to 8 (default 8:\n"
        "                        every one an erasure-coded cluster can make)\n"
        "  --control-key HEX|FILE pin the control center's key (default: the first met)\n"
        "  --token HEX|FILE      the channel's access token (strata token issue) with the\n"
        "                        publish right, for a control center that requires one\n"
        "  --node-id HEX         this node's id, up to 16 hex digits (default: random; a\n"
        "                        token names the node it is for)\n" CMD_DELAY_HELP CMD_CONFIG_HELP(
            "source") "  -v, --verbose         log more\n"
                      "  -q, --quiet           log errors only\n"
                      "  -h, --help            show this help\n"
                      "\n"
                      "Once ready it prints one line: strata source ID listening on udp "
                      "ADDR:PORT\n");
}

typedef struct source_daemon {
    uv_loop_t *loop;
    strata_node *core; /* the process's node, publishing one channel */
    int channel;
    host_node node;
    host_delay delay;
    int emulating;
    host_signals signals;
    host_ingest *ingest;
    const char *input;
    uint32_t rate_kbps, linger_ms;
    int ingest_started, announced, stopping, input_ended, repeat;
    uint64_t dropped_before_ready;
    uv_timer_t linger;
    strata_log log;
    host_logger logger;
} source_daemon;

/* The published channel's source, for its state and counters. */
static const strata_source *source_of(const source_daemon *d)
{
    return strata_node_source(d->core, d->channel);
}

static void stop(source_daemon *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    strata_source_stats st;
    strata_source_get_stats(source_of(d), &st);
    strata_logf(&d->log, STRATA_LOG_INFO,
                "leaving: %" PRIu64 " bytes in, %" PRIu64 " packets, %" PRIu64 " repairs served",
                st.bytes_in, st.packets_sent, st.repair_requests_served);
    strata_node_leave(d->core, host_now_ns());
    host_node_close(&d->node);
    host_signals_close(&d->signals);
    host_ingest_close(d->ingest);
    d->ingest = NULL;
    if (d->input_ended)
        uv_close((uv_handle_t *)&d->linger, NULL);
}

static void on_linger_done(uv_timer_t *t)
{
    stop(t->data);
}

static void on_input(void *user, const uint8_t *buf, size_t len)
{
    source_daemon *d = user;
    if (!strata_source_ready(source_of(d))) {
        d->dropped_before_ready += len; /* only UDP input runs before ready */
        return;
    }
    if (strata_node_push(d->core, d->channel, buf, len, host_now_ns()) < 0)
        strata_logf(&d->log, STRATA_LOG_ERROR, "cannot packetise input");
    host_node_kick(&d->node);
}

static void on_input_end(void *user)
{
    source_daemon *d = user;
    strata_node_finish(d->core, d->channel, host_now_ns());
    host_node_kick(&d->node);
    strata_logf(&d->log, STRATA_LOG_INFO, "input ended; lingering %u ms for repairs", d->linger_ms);
    d->input_ended = 1;
    uv_timer_init(d->loop, &d->linger);
    d->linger.data = d;
    uv_timer_start(&d->linger, on_linger_done, d->linger_ms, 0);
}

static int start_ingest(source_daemon *d)
{
    char err[256];
    host_ingest_sink sink = {on_input, on_input_end, d};
    d->ingest_started = 1;
    if (host_ingest_start(&d->ingest, d->loop, d->input, d->rate_kbps, d->repeat, &sink, err,
                          sizeof err) < 0) {
        fprintf(stderr, "strata source: %s\n", err);
        return -1;
    }
    return 0;
}

static void after_core(host_node *n)
{
    source_daemon *d = n->user;
    if (d->announced || d->stopping || !strata_source_ready(source_of(d)))
        return;
    d->announced = 1;
    strata_logf(&d->log, STRATA_LOG_INFO, "channel announced; reading %s", d->input);
    if (!d->ingest_started && start_ingest(d) < 0)
        stop(d);
}

static void on_signal(void *user, int signum)
{
    source_daemon *d = user;
    strata_logf(&d->log, STRATA_LOG_INFO, "signal %d", signum);
    stop(d);
}

int cmd_source(int argc, char **argv)
{
    static const struct option opts[] = {
        {"control", required_argument, NULL, 'c'},
        {"channel", required_argument, NULL, 'n'},
        {"input", required_argument, NULL, 'i'},
        {"rate", required_argument, NULL, 'R'},
        {"upload", required_argument, NULL, 'u'},
        {"listen", required_argument, NULL, 'l'},
        {"latency", required_argument, NULL, CMD_OPT_LATENCY},
        {"host-index", required_argument, NULL, CMD_OPT_HOST_INDEX},
        {"linger-ms", required_argument, NULL, 'L'},
        {"loop", no_argument, NULL, 'O'},
        {"channel-key-file", required_argument, NULL, 'K'},
        {"sign-parity", required_argument, NULL, 'P'},
        {"token", required_argument, NULL, 'A'},
        {"control-key", required_argument, NULL, CMD_OPT_CONTROL_KEY},
        {"node-id", required_argument, NULL, 'N'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    source_daemon d;
    memset(&d, 0, sizeof d);
    strata_source_config cfg = {0};
    const char *key_file = NULL;
    uint8_t token[STRATA_TOKEN_BYTES];
    uint8_t control_pk[32], auth_seed[32]; /* node authentication: the pin, our secret */
    int have_control_pk = 0;
    strata_node_id node_id = {0};
    cfg.sign_parity = STRATA_WIRE_MAX_PARITY;
    strata_addr listen = {0, 0};
    int have_control = 0, level = STRATA_LOG_INFO;
    d.linger_ms = 5000;
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
        case 'n':
            cfg.channel = optarg;
            break;
        case 'i':
            d.input = optarg;
            break;
        case 'R':
            cfg.rate_kbps = cmd_parse_u32(SUB, "--rate", optarg, 1, 10000000);
            break;
        case 'u':
            cfg.upload_kbps = cmd_parse_u32(SUB, "--upload", optarg, 1, 100000000);
            break;
        case 'l':
            listen = cmd_parse_addr(SUB, "--listen", optarg);
            dopt.have_listen = 1;
            break;
        case CMD_OPT_LATENCY:
        case CMD_OPT_HOST_INDEX:
            cmd_delay_option(SUB, c, optarg, &dopt);
            break;
        case 'O':
            d.repeat = 1;
            break;
        case 'L':
            d.linger_ms = cmd_parse_u32(SUB, "--linger-ms", optarg, 0, 3600000);
            break;
        case 'K':
            key_file = optarg;
            break;
        case 'P':
            cfg.sign_parity =
                (uint8_t)cmd_parse_u32(SUB, "--sign-parity", optarg, 0, STRATA_WIRE_MAX_PARITY);
            break;
        case CMD_OPT_CONTROL_KEY:
            cmd_hex_arg(SUB, "--control-key", optarg, control_pk, sizeof control_pk);
            have_control_pk = 1;
            break;
        case 'A':
            cmd_hex_arg(SUB, "--token", optarg, token, sizeof token);
            cfg.token = token;
            cfg.token_len = sizeof token;
            break;
        case 'N':
            node_id.v = cmd_parse_u64(SUB, "--node-id", optarg, 16);
            if (node_id.v == 0 || node_id.v == UINT64_MAX)
                cmd_value_error(SUB, "--node-id", optarg, "must not be 0 or ffffffffffffffff");
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
    if (!cfg.channel)
        cmd_usage_error(SUB, "--channel NAME is required (1 to 64 bytes)");
    if (!*cfg.channel || strlen(cfg.channel) > 64)
        cmd_value_error(SUB, "--channel", cfg.channel, "NAME must be 1 to 64 bytes");
    if (!d.input)
        cmd_usage_error(SUB, "--input FILE|-|udp://ADDR:PORT is required");
    if (!cfg.rate_kbps)
        cmd_usage_error(SUB, "--rate KBPS is required");
    if (strncmp(d.input, "udp://", 6) == 0) {
        strata_addr probe;
        if (host_parse_addr(d.input + 6, &probe) < 0)
            cmd_value_error(SUB, "--input", d.input,
                            "udp://ADDR:PORT needs an IPv4 address, got '%s'", d.input);
    }
    if (strncmp(d.input, "udp://", 6) != 0 && strcmp(d.input, "-") != 0 &&
        access(d.input, R_OK) != 0) {
        fprintf(stderr, "strata source: cannot read input '%s': %s\n", d.input, strerror(errno));
        return CMD_EXIT_FAILURE;
    }
    if (key_file) {
        char err[512];
        uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES];
        if (cmd_read_channel_key(key_file, cfg.channel_sk, pk, err, sizeof err) != 0) {
            fprintf(stderr, "strata source: --channel-key-file: %s\n", err);
            return CMD_EXIT_FAILURE;
        }
        cfg.sign = 1;
    }
    d.rate_kbps = cfg.rate_kbps;
    if (!cfg.upload_kbps)
        cfg.upload_kbps = cfg.rate_kbps > UINT32_MAX / 4 ? UINT32_MAX : cfg.rate_kbps * 4;

    d.emulating = cmd_delay_setup(SUB, &dopt, &listen, &d.delay);
    host_log_init(&d.log, &d.logger, "source", level);
    cfg.node.v = node_id.v ? node_id.v : host_random_u64() | 1u;
    if (cfg.node.v == UINT64_MAX)
        cfg.node.v--;
    cfg.seed = host_random_u64();
    d.loop = uv_default_loop();
    cmd_random_bytes(auth_seed, sizeof auth_seed);
    strata_node_config ncfg = {.id = cfg.node,
                               .control = cfg.control,
                               .seed = host_random_u64(),
                               .log = &d.log,
                               .verify_addresses = 1,
                               .verify_key = host_random_u64(),
                               .authenticate = 1,
                               .auth_seed = auth_seed,
                               .control_pk = have_control_pk ? control_pk : NULL};
    d.core = strata_node_new(&ncfg, NULL, NULL, host_now_ns());
    d.channel = d.core ? strata_node_publish(d.core, &cfg, host_now_ns()) : -1;
    if (d.channel < 0) {
        fprintf(stderr, "strata source: cannot create the source\n");
        strata_node_del(d.core);
        return CMD_EXIT_FAILURE;
    }
    d.node.after_core = after_core;
    d.node.user = &d;
    if (d.emulating)
        host_node_set_delay(&d.node, &d.delay);
    int rc = host_node_start(&d.node, d.loop, listen, d.core);
    if (rc < 0) {
        fprintf(stderr, "strata source: cannot open a UDP socket: %s\n", uv_strerror(rc));
        strata_node_del(d.core);
        return CMD_EXIT_FAILURE;
    }
    /* UDP ingest listens at once so an encoder can start before the channel
     * is announced; files wait for the announcement so nothing is lost. */
    if (strncmp(d.input, "udp://", 6) == 0 && start_ingest(&d) < 0) {
        host_node_close(&d.node);
        uv_run(d.loop, UV_RUN_DEFAULT);
        strata_node_del(d.core);
        return CMD_EXIT_FAILURE;
    }
    host_signals_start(&d.signals, d.loop, on_signal, &d);
    char a[32];
    printf("strata source %016" PRIx64 " listening on udp %s\n", cfg.node.v,
           strata_addr_format(d.node.bound, a, sizeof a));
    fflush(stdout);
    uv_run(d.loop, UV_RUN_DEFAULT);
    strata_node_del(d.core);
    uv_loop_close(d.loop);
    if (d.emulating)
        host_delay_free(&d.delay);
    return CMD_EXIT_OK;
}
