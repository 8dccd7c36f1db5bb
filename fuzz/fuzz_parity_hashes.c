/*
 * libFuzzer target for strata_manifest_decode_parity (docs/protocol.md 3.11.3).
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

static int same(const strata_msg_parity_hashes *a, const strata_msg_parity_hashes *b)
{
    return a->channel.v == b->channel.v && a->first_seq == b->first_seq && a->count == b->count &&
           a->k == b->k && a->index == b->index && a->n_groups == b->n_groups &&
           memcmp(a->hashes, b->hashes, (size_t)a->n_groups * STRATA_MANIFEST_HASH_BYTES) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_parity_hashes m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_manifest_decode_parity(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_PARITY_HASHES)
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_manifest_encode_parity(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_manifest_encode_parity(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_manifest_decode_parity(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
