/*
 * libFuzzer target for strata_wire_decode_group_bootstrap_reply
 * (docs/protocol.md 3.9.3).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged (canonical encoding),
 * every leader entry included. Any mismatch aborts.
 */
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const strata_msg_group_bootstrap_reply *a,
                const strata_msg_group_bootstrap_reply *b)
{
    if (a->node.v != b->node.v || a->request_id != b->request_id || a->n_leaders != b->n_leaders)
        return 0;
    for (size_t i = 0; i < a->n_leaders; i++) {
        const strata_group_leader_entry *x = &a->leaders[i], *y = &b->leaders[i];
        if (x->group.v != y->group.v || x->leader.node.v != y->leader.node.v ||
            x->leader.addr.ipv4 != y->leader.addr.ipv4 ||
            x->leader.addr.port != y->leader.addr.port || x->n_members != y->n_members)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_group_bootstrap_reply m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_group_bootstrap_reply(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_GROUP_BOOTSTRAP_REPLY)
        abort();
    int e = strata_wire_encode_group_bootstrap_reply(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_group_bootstrap_reply(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_group_bootstrap_reply(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
