/*
 * libFuzzer target for strata_wire_decode_mesh_state (docs/protocol.md 3.13).
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

static int same(const strata_msg_mesh_state *a, const strata_msg_mesh_state *b)
{
    if (a->channel.v != b->channel.v || a->node.v != b->node.v || a->k != b->k ||
        a->want != b->want || a->top != b->top || a->k > STRATA_WIRE_MAX_SUBSTREAMS)
        return 0;
    return memcmp(a->behind, b->behind, a->k * sizeof a->behind[0]) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_mesh_state m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_mesh_state(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_MESH_STATE)
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_mesh_state(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_mesh_state(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_mesh_state(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
