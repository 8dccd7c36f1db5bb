/*
 * libFuzzer target for strata_wire_decode_group_state (docs/protocol.md 3.8.4).
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
    strata_msg_group_state m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES], out2[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_group_state(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_GROUP_STATE)
        abort();
    /* protocol.md 3.8.4: counts within their limits and the page within
     * the member list. */
    if (m.n_successors > STRATA_WIRE_MAX_GROUP_SUCCESSORS ||
        m.n_neighbours > STRATA_WIRE_MAX_GROUP_NEIGHBOURS ||
        m.n_page > STRATA_WIRE_MAX_GROUP_PAGE ||
        m.n_page > strata_wire_group_state_max_page(m.n_successors, m.n_neighbours) ||
        m.n_successors >= m.n_members || (uint64_t)m.page_offset + m.n_page > m.n_members)
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_group_state(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_group_state(out2, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_group_state(out, (size_t)e, &m2) != n)
        abort();
    if (strata_wire_encode_group_state(out2, sizeof out2, &m2) != n ||
        memcmp(out2, data, size) != 0)
        abort();
    return 0;
}
