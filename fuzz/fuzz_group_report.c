/*
 * libFuzzer target for strata_wire_decode_group_report (docs/protocol.md
 * 3.9.1).
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

static int same(const strata_msg_group_report *a, const strata_msg_group_report *b)
{
    if (a->node.v != b->node.v || a->group.v != b->group.v || a->term != b->term ||
        a->n_members != b->n_members || a->n_near != b->n_near)
        return 0;
    for (size_t i = 0; i < a->n_near; i++)
        if (a->near[i].group.v != b->near[i].group.v || a->near[i].distance != b->near[i].distance)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_group_report m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_group_report(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_GROUP_REPORT)
        abort();
    int e = strata_wire_encode_group_report(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_group_report(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_group_report(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
