/*
 * libFuzzer target for strata_manifest_decode_request (docs/protocol.md 3.11.2).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged: the encoding is
 * canonical, so re-encoding gives back the input byte for byte, and the
 * second decode gives the same struct field by field. Any mismatch aborts.
 */
#include "strata/manifest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const strata_msg_manifest_request *a, const strata_msg_manifest_request *b)
{
    return a->node.v == b->node.v && a->channel.v == b->channel.v && a->seq == b->seq &&
           a->part == b->part;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_manifest_request m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_manifest_decode_request(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_MANIFEST_REQUEST)
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_manifest_encode_request(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_manifest_encode_request(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_manifest_decode_request(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
