/*
 * host/escape: untrusted bytes (a channel name, a region label) written
 * into JSON and into Prometheus label values. Table-driven: each input
 * with its exact JSON and label forms; log lines; then the overflow rules
 * (nothing cut in half, *off past the end), and a peer's metrics page for a
 * hostile channel name, whose every line must stay one line with the name
 * escaped.
 */
#include "escape.h"

#include "metrics.h"
#include "testutil.h"

static const struct {
    const char *in, *json, *label;
} cases[] = {
    {"news", "\"news\"", "news"},
    {"", "\"\"", ""},
    {"a\"b", "\"a\\u0022b\"", "a\\\"b"},
    {"back\\slash", "\"back\\u005cslash\"", "back\\\\slash"},
    {"new\nline", "\"new\\u000aline\"", "new\\nline"},
    {"tab\tcr\r", "\"tab\\u0009cr\\u000d\"", "tab\tcr\r"},
    {"\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"", "\x01\x1f\x7f"},
    /* UTF-8 of e-acute: two bytes, each a code point (Latin-1) in both */
    {"caf\xc3\xa9", "\"caf\\u00c3\\u00a9\"", "caf\xc3\x83\xc2\xa9"},
    {"\xff", "\"\\u00ff\"", "\xc3\xbf"},
    {"</script>", "\"</script>\"", "</script>"},
};

static void table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        size_t off = 0;
        host_json_string(buf, sizeof buf, &off, cases[i].in);
        CHECK_EQ_U64(off, strlen(cases[i].json));
        if (off != strlen(cases[i].json) || memcmp(buf, cases[i].json, off) != 0)
            fprintf(stderr, "case %zu: JSON %.*s, want %s\n", i, (int)off, buf, cases[i].json);
        CHECK(off == strlen(cases[i].json) && memcmp(buf, cases[i].json, off) == 0);

        char lab[256];
        size_t n = host_label_value(lab, sizeof lab, cases[i].in);
        CHECK_EQ_U64(n, strlen(cases[i].label));
        CHECK(strcmp(lab, cases[i].label) == 0);
    }
}

static void bounds(void)
{
    /* A 64-byte name of the worst bytes fits the documented room. */
    char worst[65];
    memset(worst, '"', 64);
    worst[64] = '\0';
    char buf[64 * HOST_ESCAPE_JSON_MAX_PER_BYTE + 3];
    size_t off = 0;
    host_json_string(buf, sizeof buf, &off, worst);
    CHECK_EQ_U64(off, 64 * 6 + 2);
    char lab[64 * HOST_ESCAPE_LABEL_MAX_PER_BYTE + 1];
    CHECK_EQ_U64(host_label_value(lab, sizeof lab, worst), 128);

    /* Too small: JSON sets *off past the end, a label comes back empty. */
    off = 0;
    host_json_string(buf, 10, &off, worst);
    CHECK(off >= 10);
    CHECK_EQ_U64(host_label_value(lab, 4, "a\"b"), 0);
    CHECK_EQ_INT(lab[0], '\0');
    CHECK_EQ_U64(host_label_value(lab, 4, "abc"), 3);
    CHECK_EQ_U64(host_label_value(lab, 3, "abc"), 0);
}

/* Every line of the page is one sample or a comment, and the hostile name
 * appears only escaped. */
static void metrics_page(void)
{
    strata_peer_stats st;
    memset(&st, 0, sizeof st);
    st.state = 1;
    st.rx_source_bytes = 7;
    st.parity_rebuilt_bytes = 9;
    st.parity_sent_packets = 3;
    host_metrics_channel ch[2] = {{"a\"\n\\b", &st}, {"x", NULL}};
    static char page[HOST_METRICS_MAX_BYTES];
    size_t n = host_metrics_peer(page, sizeof page, ch, 2, NULL, 0);
    CHECK(n > 0);
    CHECK(strstr(page, "strata_peer_state{channel=\"a\\\"\\n\\\\b\"} 1\n") != NULL);
    CHECK(strstr(page, "strata_peer_state{channel=\"x\"} -1\n") != NULL);
    CHECK(
        strstr(
            page,
            "strata_peer_received_bytes_total{channel=\"a\\\"\\n\\\\b\",origin=\"source\"} 7\n") !=
        NULL);
    CHECK(strstr(page, "strata_peer_received_bytes_total{channel=\"x\",origin=\"parity\"} 0\n") !=
          NULL);
    CHECK(strstr(page, "origin=\"parity\"} 9\n") != NULL);
    CHECK(strstr(page, "strata_peer_parity_sent_packets_total{channel=\"a\\\"\\n\\\\b\"} 3\n") !=
          NULL);
    for (char *line = page; *line;) {
        char *end = strchr(line, '\n');
        CHECK(end != NULL);
        if (!end)
            break;
        CHECK(line[0] == '#' || strncmp(line, "strata_peer_", 12) == 0);
        line = end + 1;
    }
    /* A buffer too small gives 0, never a cut page. */
    CHECK_EQ_U64(host_metrics_peer(page, 100, ch, 2, NULL, 0), 0);
}

/* A log record stays one line: control bytes as \xNN, others as they are. */
static void log_text(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f)
        return;
    host_log_text(f, "a\nb\tc\x7f\"\\\xc3\xa9");
    char got[64] = {0};
    rewind(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    const char *want = "a\\x0ab\\x09c\\x7f\"\\\xc3\xa9";
    CHECK_EQ_U64(n, strlen(want));
    CHECK(strcmp(got, want) == 0);
}

int main(void)
{
    table();
    log_text();
    bounds();
    metrics_page();
    return test_summary("test_escape");
}
