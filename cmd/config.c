/*
 * The configuration file; see config.h. The file's options are turned into
 * command-line words placed before the real ones, so that getopt and every
 * check of the subcommand apply to them unchanged.
 */
#include "config.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"

/* Where a value word came from: the file's line and the option's word
 * ("--name"), so that a bad value names FILE:LINE (cmd_config_origin). */
typedef struct config_origin {
    const char *value, *opt;
    int line;
} config_origin;

typedef struct config_words {
    const char *sub, *path;
    const struct option *opts;
    int cli_argc;
    char **cli_argv;
    char **words;
    int n, cap;
    config_origin *origins;
    int n_origins;
    int line;        /* of the entry the handler is given */
    const char *bad; /* why the handler stopped */
    char why[128];   /* bad, when it names the option */
} config_words;

/* The argv being built and where its words came from; kept reachable for
 * the process's life (the subcommand's options point into it). */
static char **config_argv;
static const char *config_path;
static config_origin *config_origins;
static int config_n_origins;

static int push(config_words *w, const char *s)
{
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 32;
        char **nw = realloc(w->words, (size_t)cap * sizeof *nw);
        if (!nw)
            return -1;
        w->words = nw;
        w->cap = cap;
    }
    if (!(w->words[w->n] = strdup(s)))
        return -1;
    w->n++;
    return 0;
}

/* 1 when the command line gives --name (or --name=...). */
static int on_command_line(const config_words *w, const char *name)
{
    size_t len = strlen(name);
    for (int i = 1; i < w->cli_argc; i++) {
        const char *a = w->cli_argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, name, len) == 0 &&
            (a[2 + len] == '\0' || a[2 + len] == '='))
            return 1;
    }
    return 0;
}

/* 1 or 0 for a flag's value, -1 for anything else. */
static int flag_value(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    config_words *w = user;
    if (strcmp(section, w->sub) != 0)
        return 1; /* another daemon's */
    const struct option *o = w->opts;
    while (o->name && strcmp(o->name, name) != 0)
        o++;
    if (!o->name || strcmp(name, "config") == 0 || strcmp(name, "help") == 0) {
        snprintf(w->why, sizeof w->why, "%.64s: unknown option", name);
        w->bad = w->why;
        return 0;
    }
    if (on_command_line(w, name))
        return 1;
    char opt[80];
    snprintf(opt, sizeof opt, "--%s", name);
    if (o->has_arg == no_argument) {
        int v = flag_value(value);
        if (v < 0) {
            snprintf(w->why, sizeof w->why, "%s: a flag takes true or false, got '%.32s'", name,
                     value);
            w->bad = w->why;
            return 0;
        }
        if (v && push(w, opt) < 0)
            goto nomem;
        return 1;
    }
    if (push(w, opt) < 0 || push(w, value) < 0)
        goto nomem;
    config_origin *no = realloc(w->origins, (size_t)(w->n_origins + 1) * sizeof *no);
    if (!no)
        goto nomem;
    w->origins = no;
    no[w->n_origins++] = (config_origin){w->words[w->n - 1], w->words[w->n - 2], w->line};
    return 1;
nomem:
    w->bad = "out of memory";
    return 0;
}

/* inih's reader (fgets) counting lines, so that the handler knows the
 * line of the entry it is given: the line where the text read last began. */
typedef struct line_reader {
    FILE *f;
    config_words *w;
    int next;
} line_reader;

static char *read_line(char *str, int num, void *stream)
{
    line_reader *r = stream;
    r->w->line = r->next;
    char *s = fgets(str, num, r->f);
    if (s && strchr(s, '\n'))
        r->next++;
    return s;
}

int cmd_config_origin(const char *value, const char **path, int *line, const char **name)
{
    for (int i = 0; value && i < config_n_origins; i++) {
        if (config_origins[i].value == value) {
            *path = config_path;
            *line = config_origins[i].line;
            *name = config_origins[i].opt + 2;
            return 1;
        }
    }
    return 0;
}

void cmd_config_apply(const char *sub, const struct option *opts, int *argc, char ***argv)
{
    const char *path = NULL;
    int at = -1, words = 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "--config") == 0) {
            if (i + 1 >= *argc)
                cmd_usage_error(sub, "option --config needs a value");
            path = (*argv)[i + 1];
            at = i;
            words = 2;
        } else if (strncmp(a, "--config=", 9) == 0) {
            path = a + 9;
            at = i;
            words = 1;
        }
    }
    if (!path)
        return;
    config_words w = {.sub = sub, .path = path, .opts = opts, .cli_argc = *argc, .cli_argv = *argv};
    if (push(&w, (*argv)[0]) < 0)
        goto nomem;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "strata %s: cannot read the config file '%s'\n", sub, path);
        exit(CMD_EXIT_FAILURE);
    }
    line_reader reader = {f, &w, 1};
    int rc = ini_parse_stream(read_line, &reader, on_entry, &w);
    fclose(f);
    if (rc < 0)
        goto nomem; /* inih's own allocation */
    if (rc > 0) {
        if (!w.bad)
            cmd_usage_error(sub, "%s:%d: not an INI line (name = value, or [section])", path, rc);
        cmd_usage_error(sub, "%s:%d: %s", path, rc, w.bad);
    }
    for (int i = 1; i < *argc; i++) {
        if (i >= at && i < at + words)
            continue;
        if (push(&w, (*argv)[i]) < 0)
            goto nomem;
    }
    if (push(&w, "") < 0) /* room for argv[argc], which is NULL */
        goto nomem;
    w.n--;
    free(w.words[w.n]);
    w.words[w.n] = NULL;
    config_argv = w.words;
    config_path = path;
    config_origins = w.origins;
    config_n_origins = w.n_origins;
    *argc = w.n;
    *argv = config_argv;
    return;
nomem:
    fprintf(stderr, "strata %s: out of memory reading '%s'\n", sub, path);
    exit(CMD_EXIT_FAILURE);
}
