/*
 * Command-line helpers shared by every subcommand, so that they read alike:
 * the same error wording, exit status 2 for bad usage, the same number and
 * address parsing.
 */
#ifndef STRATA_CMD_ARGS_H
#define STRATA_CMD_ARGS_H

#include <stdint.h>

#include "strata/common.h"

enum { CMD_EXIT_OK = 0, CMD_EXIT_FAILURE = 1, CMD_EXIT_USAGE = 2 };

/* Prints "strata SUB: message" and a hint to use --help; exits with 2. */
_Noreturn void cmd_usage_error(const char *sub, const char *fmt, ...) STRATA_PRINTF(2, 3);

/* A bad value of option opt ("--name"): prints "strata SUB: OPT MESSAGE",
 * or, when value came from the config file, "strata SUB: FILE:LINE: name:
 * MESSAGE" (cmd_config_origin), and exits with 2. */
_Noreturn void cmd_value_error(const char *sub, const char *opt, const char *value, const char *fmt,
                               ...) STRATA_PRINTF(4, 5);

/* Parses an unsigned decimal in [min, max] or exits with a usage error. */
uint32_t cmd_parse_u32(const char *sub, const char *opt, const char *value, uint32_t min,
                       uint32_t max);
/* Parses a group-agent setting by name (rtt, one-way, hops; min, median)
 * into its enum or exits with a usage error. */
uint8_t cmd_parse_group_metric(const char *sub, const char *opt, const char *value);
uint8_t cmd_parse_group_estimate(const char *sub, const char *opt, const char *value);
/* Parses an unsigned decimal (base 10) or 16 hex digits (base 16) into a
 * 64-bit value or exits with a usage error. */
uint64_t cmd_parse_u64(const char *sub, const char *opt, const char *value, int base);
/* Parses ADDR:PORT or exits with a usage error. */
strata_addr cmd_parse_addr(const char *sub, const char *opt, const char *value);

/* Writes a small file atomically (temp file + rename); returns 0 or -1. */
int cmd_write_file_atomic(const char *path, const char *data, size_t len);

/* Long options without a short form, shared by the daemons. */
enum {
    CMD_OPT_LATENCY = 0x100,
    CMD_OPT_HOST_INDEX = 0x101,
    CMD_OPT_CONTROL_KEY = 0x102,
    CMD_OPT_WAYPOINT = 0x103,
};

/* Delay emulation flags (--latency PATH --host-index I, host/delay.h). */
typedef struct cmd_delay_opts {
    const char *latency_path;
    uint32_t host_index;
    int have_host_index, have_listen;
} cmd_delay_opts;
#define CMD_DELAY_HELP                                                                             \
    "  --latency PATH          emulate network delay from this RTT matrix (the data\n"             \
    "                          sets' format, e.g. planetlab490_median_rtt_ms.txt)\n"               \
    "  --host-index I          the matrix host this process plays (with --latency): it\n"          \
    "                          binds 127.1.(I>>8).(I&255) and holds every datagram it\n"           \
    "                          sends to another 127.1/16 address back by RTT/2 between\n"          \
    "                          the two hosts; other addresses get no delay\n"
struct host_delay;
/* Takes CMD_OPT_LATENCY or CMD_OPT_HOST_INDEX with its value. */
void cmd_delay_option(const char *sub, int opt, const char *value, cmd_delay_opts *o);
/* Checks the delay flags; without them returns 0. With them loads the
 * matrix into *d, sets listen's address to the host's 127.1/16 address
 * (keeping its port) and returns 1. Exits 2 on bad usage, 1 when the
 * matrix cannot be loaded or lacks the host. */
int cmd_delay_setup(const char *sub, const cmd_delay_opts *o, strata_addr *listen,
                    struct host_delay *d);

int cmd_control(int argc, char **argv);
int cmd_source(int argc, char **argv);
int cmd_peer(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_sim_groups(int argc, char **argv);

#endif
