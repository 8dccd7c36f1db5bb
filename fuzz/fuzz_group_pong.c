/*
 * libFuzzer target for strata_wire_decode_group_pong (docs/protocol.md 3.8.8).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged: the encoding is
 * canonical, so re-encoding gives back the input byte for byte, a buffer
 * one byte short is refused, and the second decode encodes to the same
 * bytes once more (field-by-field equality, through the canonical form).
 * Any mismatch aborts.
 */
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_group_pong m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES], out2[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_group_pong(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_GROUP_PONG)
        abort();
    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_group_pong(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_group_pong(out2, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_group_pong(out, (size_t)e, &m2) != n)
        abort();
    if (strata_wire_encode_group_pong(out2, sizeof out2, &m2) != n || memcmp(out2, data, size) != 0)
        abort();
    return 0;
}
