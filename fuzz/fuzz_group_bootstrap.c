/*
 * libFuzzer target for strata_wire_decode_group_bootstrap
 * (docs/protocol.md 3.9.2).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged (canonical encoding).
 * Any mismatch aborts.
 */
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_group_bootstrap m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_group_bootstrap(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_GROUP_BOOTSTRAP)
        abort();
    int e = strata_wire_encode_group_bootstrap(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_group_bootstrap(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_group_bootstrap(out, (size_t)e, &m2) != n || m.node.v != m2.node.v ||
        m.request_id != m2.request_id)
        abort();
    return 0;
}
