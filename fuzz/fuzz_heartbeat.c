/*
 * libFuzzer target for strata_wire_decode_heartbeat (docs/protocol.md 3.2).
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

static int same(const strata_msg_heartbeat *a, const strata_msg_heartbeat *b)
{
    if (a->node.v != b->node.v || a->channel.v != b->channel.v || a->dcm.v != b->dcm.v ||
        a->hb_seq != b->hb_seq || a->local_ts_ns != b->local_ts_ns ||
        a->instr_epoch != b->instr_epoch || a->upload_kbps != b->upload_kbps ||
        a->played_packets != b->played_packets || a->missed_packets != b->missed_packets ||
        a->rx_data_bytes != b->rx_data_bytes || a->tx_data_bytes != b->tx_data_bytes ||
        a->n_parents != b->n_parents || a->n_children != b->n_children || a->level != b->level)
        return 0;
    if (a->n_parents > STRATA_WIRE_MAX_TREES || a->n_children > STRATA_WIRE_MAX_HB_CHILDREN)
        return 0;
    for (size_t i = 0; i < a->n_parents; i++) {
        const strata_hb_parent *p = &a->parents[i], *q = &b->parents[i];
        if (p->parent.v != q->parent.v || p->buffer_packets != q->buffer_packets ||
            p->last_rx_ts_ns != q->last_rx_ts_ns || p->last_rx_seq != q->last_rx_seq)
            return 0;
    }
    for (size_t i = 0; i < a->n_children; i++) {
        const strata_hb_child *p = &a->children[i], *q = &b->children[i];
        if (p->child.v != q->child.v || p->substream != q->substream ||
            p->last_tx_ts_ns != q->last_tx_ts_ns || p->last_tx_seq != q->last_tx_seq)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_heartbeat m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_heartbeat(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_HEARTBEAT)
        abort();

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_heartbeat(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_heartbeat(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_heartbeat(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
