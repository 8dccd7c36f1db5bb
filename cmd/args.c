/* Shared command-line helpers; see args.h. */
#include "args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

uint32_t cmd_parse_u32(const char *sub, const char *opt, const char *value, uint32_t min,
                       uint32_t max)
{
    char *end;
    errno = 0;
    if (!value || !*value || *value == '-' || *value == '+')
        cmd_usage_error(sub, "%s needs a number, got '%s'", opt, value ? value : "");
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || *end != '\0')
        cmd_usage_error(sub, "%s needs a number, got '%s'", opt, value);
    if (v < min || v > max)
        cmd_usage_error(sub, "%s must be between %u and %u, got %s", opt, min, max, value);
    return (uint32_t)v;
}

strata_addr cmd_parse_addr(const char *sub, const char *opt, const char *value)
{
    strata_addr a;
    if (!value || host_parse_addr(value, &a) < 0)
        cmd_usage_error(sub, "%s needs ADDR:PORT with an IPv4 address, got '%s'", opt,
                        value ? value : "");
    return a;
}

int cmd_write_file_atomic(const char *path, const char *data, size_t len)
{
    return host_write_file_atomic(path, data, len);
}
