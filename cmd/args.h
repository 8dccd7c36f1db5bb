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

/* Parses an unsigned decimal in [min, max] or exits with a usage error. */
uint32_t cmd_parse_u32(const char *sub, const char *opt, const char *value, uint32_t min,
                       uint32_t max);
/* Parses ADDR:PORT or exits with a usage error. */
strata_addr cmd_parse_addr(const char *sub, const char *opt, const char *value);

/* Writes a small file atomically (temp file + rename); returns 0 or -1. */
int cmd_write_file_atomic(const char *path, const char *data, size_t len);

int cmd_control(int argc, char **argv);
int cmd_source(int argc, char **argv);
int cmd_peer(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_sim_groups(int argc, char **argv);

#endif
