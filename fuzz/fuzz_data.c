/*
 * libFuzzer target for strata_wire_decode_data (docs/protocol.md 3.1).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged: the encoding is
 * canonical, so re-encoding gives back the input byte for byte, and the
 * second decode gives the same struct field by field. Any mismatch aborts.
 */
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded byte strings must lie inside the input. */
static int inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p && p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static int same(const strata_msg_data *a, const strata_msg_data *b)
{
    return a->channel.v == b->channel.v && a->seq == b->seq && a->substream == b->substream &&
           a->flags == b->flags && a->send_ts_ns == b->send_ts_ns &&
           a->auth_tag_len == b->auth_tag_len && a->payload_len == b->payload_len &&
           (a->auth_tag_len == 0 || memcmp(a->auth_tag, b->auth_tag, a->auth_tag_len) == 0) &&
           (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_data m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_data(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_DATA)
        abort();
    if (!inside(m.payload, m.payload_len, data, size) ||
        !inside(m.auth_tag, m.auth_tag_len, data, size))
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_data(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_data(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_data(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
