/*
 * The daemons' configuration file (docs/config.md): one INI file, parsed by
 * libinih, whose [control], [peer] and [source] sections hold each daemon's
 * long options by name (`upload = 3000`, `exit-on-end = true`). A daemon
 * reads its own section and ignores the others, so one file can serve all
 * three. The command line overrides the file: an option given there replaces
 * every value the file gives it (a repeated one, --channel say, included).
 */
#ifndef STRATA_CMD_CONFIG_H
#define STRATA_CMD_CONFIG_H

#include <getopt.h>

/* Help text for --config, shared by the daemons; sec is the section name. */
#define CMD_CONFIG_HELP(sec)                                                                       \
    "  --config FILE           read options from FILE's [" sec "] section (INI:\n"                 \
    "                          long-option = value); the command line overrides it\n"

/* When argv holds --config FILE (or --config=FILE), reads FILE's [section]
 * and replaces *argc and *argv with argv[0], the file's options not given on
 * the command line, then the command line without --config. Each name must
 * be one of opts' long options; a flag (no_argument) takes true/false,
 * yes/no, on/off or 1/0. Exits 2 on an unknown name or a bad flag value
 * (naming the file and line), 1 when the file cannot be read; a bad value
 * found later, by the option's own check, names them too (cmd_value_error). The new argv lives as
 * long as the process. */
void cmd_config_apply(const char *sub, const struct option *opts, int *argc, char ***argv);

/* Whether value (a word of the argv cmd_config_apply made, compared by
 * address) came from the file: sets *path, *line and *name (the option's
 * name, without dashes) and returns 1; else 0. */
int cmd_config_origin(const char *value, const char **path, int *line, const char **name);

#endif
