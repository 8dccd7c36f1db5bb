/*
 * Untrusted bytes (channel names, region labels: 1..64 opaque bytes from
 * the command line or the network) written into the daemons' text
 * outputs, escaped so that any bytes make a valid document and read back
 * as the same string in both:
 *
 * - JSON (/status, --status-file, /topology.json): quotes, backslashes and
 *   every byte outside printable ASCII as \u00XX, so a byte b reads back as
 *   the code point U+00b (the bytes taken as Latin-1);
 * - Prometheus label values (/metrics, exposition format 0.0.4): backslash,
 *   quote and newline as \\, \" and \n, and every byte of 0x80 and above as
 *   the UTF-8 of U+00XX (the format requires UTF-8), so a label reads back
 *   as the same string as the JSON;
 * - log lines (standard error): control bytes as \xNN, so that a record
 *   stays one line; other bytes as they are (a UTF-8 name stays readable).
 */
#ifndef STRATA_HOST_ESCAPE_H
#define STRATA_HOST_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

enum {
    /* Output bytes per input byte at most: \u00XX for JSON, two bytes of
     * UTF-8 or a two-byte escape for a label. */
    HOST_ESCAPE_JSON_MAX_PER_BYTE = 6,
    HOST_ESCAPE_LABEL_MAX_PER_BYTE = 2,
};

/* Appends s as a JSON string, quotes included, to buf at *off (as
 * host_status_appendf: *off is set past buflen when it does not fit). */
void host_json_string(char *buf, size_t buflen, size_t *off, const char *s);

/* Writes s escaped as a Prometheus label value (no quotes) into out (cap
 * bytes, NUL-terminated); returns its length, or 0 with out "" when it does
 * not fit (an empty s also gives 0). */
size_t host_label_value(char *out, size_t cap, const char *s);

/* Writes s to f with its control bytes (below 0x20, and 0x7f) as \xNN. */
void host_log_text(FILE *f, const char *s);

#endif
