/* Shared command-line helpers; see args.h. */
#include "args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "delay.h"
#include "strata/groups.h"
#include "host.h"
#include "status_file.h"

void cmd_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "strata %s: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'strata %s --help'.\n", sub);
    exit(CMD_EXIT_USAGE);
}

void cmd_value_error(const char *sub, const char *opt, const char *value, const char *fmt, ...)
{
    const char *path, *name;
    int line;
    va_list ap;
    if (cmd_config_origin(value, &path, &line, &name))
        fprintf(stderr, "strata %s: %s:%d: %s: ", sub, path, line, name);
    else
        fprintf(stderr, "strata %s: %s ", sub, opt);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'strata %s --help'.\n", sub);
    exit(CMD_EXIT_USAGE);
}

uint32_t cmd_parse_u32(const char *sub, const char *opt, const char *value, uint32_t min,
                       uint32_t max)
{
    char *end;
    errno = 0;
    if (!value || !*value || *value == '-' || *value == '+')
        cmd_value_error(sub, opt, value, "needs a number, got '%s'", value ? value : "");
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end != '\0')
        cmd_value_error(sub, opt, value, "needs a number, got '%s'", value);
    if (v < min || v > max)
        cmd_value_error(sub, opt, value, "must be between %u and %u, got %s", min, max, value);
    return (uint32_t)v;
}

uint8_t cmd_parse_group_metric(const char *sub, const char *opt, const char *value)
{
    if (strcmp(value, "rtt") == 0)
        return STRATA_GROUP_METRIC_RTT;
    if (strcmp(value, "one-way") == 0)
        return STRATA_GROUP_METRIC_ONE_WAY;
    if (strcmp(value, "hops") == 0)
        return STRATA_GROUP_METRIC_HOPS;
    cmd_value_error(sub, opt, value, "must be rtt, one-way or hops, got '%s'", value);
}

uint8_t cmd_parse_group_estimate(const char *sub, const char *opt, const char *value)
{
    if (strcmp(value, "min") == 0)
        return STRATA_GNODE_ESTIMATE_MIN;
    if (strcmp(value, "median") == 0)
        return STRATA_GNODE_ESTIMATE_MEDIAN;
    cmd_value_error(sub, opt, value, "must be min or median, got '%s'", value);
}

uint64_t cmd_parse_u64(const char *sub, const char *opt, const char *value, int base)
{
    char *end;
    errno = 0;
    if (!value || !*value || *value == '-' || *value == '+' || (base == 16 && strlen(value) > 16))
        cmd_value_error(sub, opt, value, "needs %s, got '%s'",
                        base == 16 ? "up to 16 hex digits" : "a number", value ? value : "");
    unsigned long long v = strtoull(value, &end, base);
    if (errno || *end != '\0')
        cmd_value_error(sub, opt, value, "needs %s, got '%s'",
                        base == 16 ? "up to 16 hex digits" : "a number", value);
    return (uint64_t)v;
}

strata_addr cmd_parse_addr(const char *sub, const char *opt, const char *value)
{
    strata_addr a;
    if (!value || host_parse_addr(value, &a) < 0)
        cmd_value_error(sub, opt, value, "needs ADDR:PORT with an IPv4 address, got '%s'",
                        value ? value : "");
    return a;
}

int cmd_write_file_atomic(const char *path, const char *data, size_t len)
{
    return host_write_file_atomic(path, data, len);
}

void cmd_delay_option(const char *sub, int opt, const char *value, cmd_delay_opts *o)
{
    if (opt == CMD_OPT_LATENCY) {
        o->latency_path = value;
        return;
    }
    o->host_index = cmd_parse_u32(sub, "--host-index", value, 0, HOST_DELAY_MAX_HOSTS - 1);
    o->have_host_index = 1;
}

int cmd_delay_setup(const char *sub, const cmd_delay_opts *o, strata_addr *listen,
                    struct host_delay *d)
{
    if (!o->latency_path && !o->have_host_index)
        return 0;
    if (!o->latency_path || !o->have_host_index)
        cmd_usage_error(sub, "--latency PATH and --host-index I go together");
    uint32_t ip = host_delay_ipv4(o->host_index);
    if (o->have_listen && listen->ipv4 != 0 && listen->ipv4 != ip)
        cmd_usage_error(sub, "--host-index %u binds 127.1.%u.%u; --listen may only choose the port",
                        o->host_index, o->host_index >> 8, o->host_index & 255u);
    char err[512];
    if (host_delay_init(d, o->latency_path, o->host_index, err, sizeof err) < 0) {
        fprintf(stderr, "strata %s: %s\n", sub, err);
        exit(CMD_EXIT_FAILURE);
    }
    listen->ipv4 = ip;
    return 1;
}
