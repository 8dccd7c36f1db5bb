/*
 * strata token: channel access (docs/security.md, "Channel access").
 *
 *   strata token keygen --out FILE    an operator key pair (as strata keygen)
 *   strata token issue --key FILE --channel NAME --node HEX --rights LIST
 *                      (--expires UNIX_S | --valid-for S) [--out FILE]
 *
 * A token is printed (or written) as 180 hex digits: the 90 bytes of
 * strata/token.h. Daemons take it with --token HEX|FILE; the control center
 * takes the public key with --operator-key HEX|FILE.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "keys.h"
#include "strata/token.h"

static void usage(void)
{
    printf("usage: strata token keygen --out FILE\n"
           "       strata token issue --key FILE --channel NAME --node HEX --rights LIST\n"
           "                          (--expires UNIX_S | --valid-for S) [--out FILE]\n"
           "\n"
           "Channel access. 'keygen' makes an operator key pair: the secret key to FILE\n"
           "(mode 0600), the public key to FILE.pub, and prints the public key, which the\n"
           "control center takes as 'strata control --operator-key HEX|FILE'; it then\n"
           "refuses every JOIN without a valid token. 'issue' signs a token that lets one\n"
           "node do LIST in one channel until a time, and prints it (180 hex digits) or\n"
           "writes it to --out; the node passes it with --token HEX|FILE.\n"
           "\n"
           "  --out FILE        keygen: where the secret key goes (required);\n"
           "                    issue: write the token there instead of printing it\n"
           "  --key FILE        the operator's secret key (strata token keygen)\n"
           "  --channel NAME    the channel the token is for\n"
           "  --node HEX        the node's id (its --node-id), up to 16 hex digits\n"
           "  --rights LIST     comma-separated: watch, relay, publish\n"
           "  --expires UNIX_S  good until this Unix time, in seconds\n"
           "  --valid-for S     good for S seconds from now\n"
           "  -h, --help        show this help\n");
}

static uint8_t parse_rights(const char *sub, const char *value)
{
    uint8_t rights = 0;
    char buf[64];
    if (strlen(value) >= sizeof buf)
        cmd_value_error(sub, "--rights", value, "is too long");
    strcpy(buf, value);
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "watch") == 0)
            rights |= STRATA_TOKEN_WATCH;
        else if (strcmp(w, "relay") == 0)
            rights |= STRATA_TOKEN_RELAY;
        else if (strcmp(w, "publish") == 0)
            rights |= STRATA_TOKEN_PUBLISH;
        else
            cmd_value_error(sub, "--rights", value, "names '%s': watch, relay or publish", w);
    }
    if (!rights)
        cmd_value_error(sub, "--rights", value, "names no right");
    return rights;
}

static int issue(int argc, char **argv)
{
    static const char *const SUB = "token issue";
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"channel", required_argument, NULL, 'c'},
                                         {"node", required_argument, NULL, 'n'},
                                         {"rights", required_argument, NULL, 'r'},
                                         {"expires", required_argument, NULL, 'e'},
                                         {"valid-for", required_argument, NULL, 'v'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *key = NULL, *channel = NULL, *out = NULL;
    strata_token t;
    memset(&t, 0, sizeof t);
    int have_expiry = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key = optarg;
            break;
        case 'c':
            channel = optarg;
            break;
        case 'n':
            t.node.v = cmd_parse_u64(SUB, "--node", optarg, 16);
            if (t.node.v == 0 || t.node.v == UINT64_MAX)
                cmd_value_error(SUB, "--node", optarg, "must not be 0 or ffffffffffffffff");
            break;
        case 'r':
            t.rights = parse_rights(SUB, optarg);
            break;
        case 'e':
            t.expires_unix_s = cmd_parse_u64(SUB, "--expires", optarg, 10);
            have_expiry = 1;
            break;
        case 'v':
            t.expires_unix_s = (uint64_t)time(NULL) + cmd_parse_u64(SUB, "--valid-for", optarg, 10);
            have_expiry = 1;
            break;
        case 'o':
            out = optarg;
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
    if (!key || !channel || !t.node.v || !t.rights || !have_expiry)
        cmd_usage_error(SUB, "--key, --channel, --node, --rights and --expires or --valid-for "
                             "are required");
    size_t name_len = strlen(channel);
    if (name_len == 0 || name_len > 64)
        cmd_value_error(SUB, "--channel", channel, "must be 1 to 64 bytes");
    t.channel = strata_channel_id_from_name(channel, name_len);
    uint8_t sk[STRATA_TOKEN_SECRET_KEY_BYTES], pk[STRATA_TOKEN_PUBLIC_KEY_BYTES];
    char err[512];
    if (cmd_read_channel_key(key, sk, pk, err, sizeof err) != 0) {
        fprintf(stderr, "strata %s: --key: %s\n", SUB, err);
        return CMD_EXIT_FAILURE;
    }
    strata_token_sign(&t, sk);
    sodium_memzero(sk, sizeof sk);
    uint8_t raw[STRATA_TOKEN_BYTES];
    char hex[2 * STRATA_TOKEN_BYTES + 2];
    strata_token_encode(raw, sizeof raw, &t);
    sodium_bin2hex(hex, sizeof hex - 1, raw, sizeof raw);
    strcat(hex, "\n");
    if (!out) {
        fputs(hex, stdout);
        return CMD_EXIT_OK;
    }
    if (cmd_write_file_atomic(out, hex, strlen(hex)) != 0) {
        fprintf(stderr, "strata %s: cannot write %s\n", SUB, out);
        return CMD_EXIT_FAILURE;
    }
    return CMD_EXIT_OK;
}

int cmd_token(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage();
        return argc < 2 ? CMD_EXIT_USAGE : CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen_as("token keygen", usage, argc - 1, argv + 1);
    if (strcmp(argv[1], "issue") == 0)
        return issue(argc - 1, argv + 1);
    cmd_usage_error("token", "unknown command '%s': keygen or issue", argv[1]);
}
