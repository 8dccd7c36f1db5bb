/*
 * strata: one executable, one subcommand per role.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "keys.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: strata COMMAND [OPTIONS]\n"
               "\n"
               "A live-streaming and content-distribution overlay.\n"
               "\n"
               "commands:\n"
               "  control   run the control center (client manager, directory, DCMs)\n"
               "  source    push a stream (file, stdin or MPEG-TS over UDP) into a channel\n"
               "  peer      join a channel, relay it and play it out (file, stdout, UDP, HTTP)\n"
               "  sim       run the same core under a virtual clock at up to 100,000 nodes\n"
               "  keygen    make a channel key pair for signed streams\n"
               "  token     make an operator key; issue channel access tokens\n"
               "\n"
               "Run 'strata COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    /* libsodium picks its fastest code and opens its random source once
     * (keygen draws from it; signing and verifying need none). */
    if (sodium_init() < 0) {
        fprintf(stderr, "strata: cannot initialise libsodium\n");
        return CMD_EXIT_FAILURE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(cmd, "control") == 0)
        return cmd_control(argc - 1, argv + 1);
    if (strcmp(cmd, "source") == 0)
        return cmd_source(argc - 1, argv + 1);
    if (strcmp(cmd, "peer") == 0)
        return cmd_peer(argc - 1, argv + 1);
    if (strcmp(cmd, "sim") == 0)
        return cmd_sim(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc - 1, argv + 1);
    fprintf(stderr, "strata: unknown command '%s'\n", cmd);
    usage(stderr);
    return CMD_EXIT_USAGE;
}
