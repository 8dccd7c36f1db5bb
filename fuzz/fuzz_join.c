/*
 * libFuzzer target for strata_wire_decode_join (docs/protocol.md 3.3.1).
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

static int same(const strata_msg_join *a, const strata_msg_join *b)
{
    return a->node.v == b->node.v && a->role == b->role && a->upload_kbps == b->upload_kbps &&
           a->rate_kbps == b->rate_kbps && a->name_len == b->name_len &&
           a->region_len == b->region_len && memcmp(a->name, b->name, a->name_len) == 0 &&
           (a->region_len == 0 || memcmp(a->region, b->region, a->region_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_join m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_join(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_JOIN)
        abort();
    if (!inside(m.name, m.name_len, data, size) || !inside(m.region, m.region_len, data, size))
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_join(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_join(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_join(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
