/*
 * libFuzzer target for strata_wire_decode_instruction (docs/protocol.md 3.4).
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

static int same_ref(const strata_peer_ref *a, const strata_peer_ref *b)
{
    return a->node.v == b->node.v && a->addr.ipv4 == b->addr.ipv4 && a->addr.port == b->addr.port;
}

static int same(const strata_msg_instruction *a, const strata_msg_instruction *b)
{
    if (a->dcm.v != b->dcm.v || a->channel.v != b->channel.v || a->node.v != b->node.v ||
        a->epoch != b->epoch || a->k != b->k || a->substream != b->substream ||
        a->algorithm != b->algorithm || !same_ref(&a->parent, &b->parent) ||
        !same_ref(&a->source, &b->source) || a->n_children != b->n_children ||
        a->n_children > STRATA_WIRE_MAX_CHILDREN)
        return 0;
    for (size_t i = 0; i < a->n_children; i++) {
        if (!same_ref(&a->children[i], &b->children[i]))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_instruction m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_instruction(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_INSTRUCTION)
        abort();
    /* protocol.md 3.4: an unknown source is the all-zero reference. */
    if (m.source.node.v == 0 && (m.source.addr.ipv4 != 0 || m.source.addr.port != 0))
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_instruction(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_instruction(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_instruction(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
