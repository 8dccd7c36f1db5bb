/* Escaping untrusted bytes for JSON and Prometheus labels; see escape.h. */
#include "escape.h"

#include "status_file.h"

void host_json_string(char *buf, size_t buflen, size_t *off, const char *s)
{
    host_status_appendf(buf, buflen, off, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && *off < buflen; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            host_status_appendf(buf, buflen, off, "\\u%04x", (unsigned)*p);
        else
            host_status_appendf(buf, buflen, off, "%c", *p);
    }
    host_status_appendf(buf, buflen, off, "\"");
}

size_t host_label_value(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[2];
        size_t len = 2;
        if (*p == '\\' || *p == '"') {
            e[0] = '\\';
            e[1] = (char)*p;
        } else if (*p == '\n') {
            e[0] = '\\';
            e[1] = 'n';
        } else if (*p >= 0x80) {
            e[0] = (char)(0xc0 | (*p >> 6)); /* U+0080..U+00FF in UTF-8 */
            e[1] = (char)(0x80 | (*p & 0x3f));
        } else {
            e[0] = (char)*p;
            len = 1;
        }
        if (cap == 0 || cap - 1 - n < len) {
            if (cap)
                out[0] = '\0';
            return 0;
        }
        for (size_t i = 0; i < len; i++)
            out[n++] = e[i];
    }
    if (cap)
        out[n] = '\0';
    return n;
}

void host_log_text(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", (unsigned)*p);
        else
            fputc(*p, f);
    }
}
