/*
 * libFuzzer target for the authentication trailer (core/auth.h,
 * docs/protocol.md 3.12) and the checks on both sides of it.
 *
 * Decodes the input as a sealed message: a rejection must be an
 * input-band error; an accepted one must split into a body and a trailer
 * that encode back to the input byte for byte (tag included, which is
 * opaque to the codec). Then the input goes, as it is, to a node's open
 * (as from its control center) and to a control center's JOIN check and
 * open (for a registered node): none may read outside it, and a forged
 * tag is never taken (the fuzzer cannot find a keyed BLAKE2b tag).
 */
#include "auth.h"
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_auth_trailer t;
    int n = strata_auth_decode(data, size, &t);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
    } else {
        if ((size_t)n != t.body_len || t.body_len > size)
            abort();
        if (t.tag) {
            /* Canonical: the same bytes again from the fields. */
            uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES + STRATA_AUTH_MAX_TRAILER_BYTES];
            if (size > sizeof out)
                return 0;
            memcpy(out, data, t.body_len);
            int e = strata_auth_encode(out, sizeof out, &t, NULL);
            if (e != (int)size)
                abort();
            memcpy(out + size - STRATA_AUTH_TAG_BYTES, t.tag, STRATA_AUTH_TAG_BYTES);
            if (memcmp(out, data, size) != 0)
                abort();
        }
    }

    uint8_t seed[32];
    memset(seed, 0x11, sizeof seed);
    strata_auth_node node;
    strata_auth_node_init(&node, seed, NULL);
    node.tx_seq = 3; /* a few JOINs sent, so echoes have somewhere to point */
    int r = strata_auth_node_open(&node, data, size);
    /* Only the untagged UNKNOWN passes without a key the fuzzer cannot know. */
    if (r >= 0 && !(size == STRATA_AUTH_UNKNOWN_REPLY_BYTES && data[3] == STRATA_MSG_JOIN_REPLY &&
                    data[20] == STRATA_JOIN_UNKNOWN)) {
        /* A JOIN_REPLY may carry any key under trust on first use: it
         * proves that key, and the fuzzer may have made one; anything else
         * must fail. */
        if (data[3] != STRATA_MSG_JOIN_REPLY)
            abort();
    }

    strata_auth_center center;
    memset(seed, 0x22, sizeof seed);
    strata_auth_center_init(&center, NULL, seed);
    strata_auth_peer known;
    memset(&known, 0, sizeof known);
    known.set = 1;
    known.proven = 1;
    memset(known.pk, 0x33, sizeof known.pk);
    memset(known.keys.up, 0x44, sizeof known.keys.up);
    const strata_addr at = {0x0a000001u, 1}, from = {0x0a000002u, 2};
    int proven = 0;
    if (strata_wire_peek_type(data, size) == STRATA_MSG_JOIN) {
        strata_auth_center_join(&center, NULL, at, data, size, from, &proven);
        if (strata_auth_center_join(&center, &known, at, data, size, from, &proven) == 0)
            abort(); /* a proven node's JOIN from elsewhere without its tag */
    }
    if (strata_auth_center_open(&known, data, size) == 0 &&
        !strata_auth_tag_ok(data, size, known.keys.up))
        abort();
    return 0;
}
