/*
 * libFuzzer target for strata_wire_decode_join (docs/protocol.md 3.3.1)
 * and for the access token a JOIN carries (strata_token_decode,
 * protocol.md 3.3.3).
 *
 * Decodes the input. A rejection must be an input-band error. An accepted
 * datagram must survive encode -> decode unchanged: the encoding is
 * canonical, so re-encoding gives back the input byte for byte, and the
 * second decode gives the same struct field by field. The token field,
 * when there is one, goes through the token decoder under the same rules
 * (and its signature check, which must refuse without a crash). Any
 * mismatch aborts.
 */
#include "strata/token.h"
#include "strata/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded byte strings must lie inside the input. */
static int inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p && p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static int same(const strata_msg_join *a, const strata_msg_join *b)
{
    return a->node.v == b->node.v && a->role == b->role && a->upload_kbps == b->upload_kbps &&
           a->rate_kbps == b->rate_kbps && a->name_len == b->name_len &&
           a->region_len == b->region_len && memcmp(a->name, b->name, a->name_len) == 0 &&
           (a->region_len == 0 || memcmp(a->region, b->region, a->region_len) == 0) &&
           a->priority == b->priority && a->token_len == b->token_len &&
           (a->token_len == 0 || memcmp(a->token, b->token, a->token_len) == 0);
}

/* The token decoder: rejections in the input band, accepted tokens
 * canonical, and no key vouches for a fuzzed signature. */
static void check_token(const uint8_t *buf, size_t len)
{
    static const uint8_t pk[STRATA_TOKEN_PUBLIC_KEY_BYTES] = {1};
    strata_token t, t2;
    uint8_t out[STRATA_TOKEN_BYTES];
    int n = strata_token_decode(buf, len, &t);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return;
    }
    if ((size_t)n != len || strata_token_encode(out, sizeof out, &t) != n ||
        memcmp(out, buf, len) != 0 || strata_token_decode(out, sizeof out, &t2) != n ||
        memcmp(&t, &t2, sizeof t) != 0)
        abort();
    if (strata_token_verify(&t, pk) == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_msg_join m, m2;
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    int n = strata_wire_decode_join(data, size, &m);
    if (n < 0) {
        if (!strata_err_is_input(n))
            abort();
        return 0;
    }
    if ((size_t)n != size || strata_wire_peek_type(data, size) != STRATA_MSG_JOIN)
        abort();
    if (!inside(m.name, m.name_len, data, size) || !inside(m.region, m.region_len, data, size) ||
        (m.token_len && !inside(m.token, m.token_len, data, size)))
        abort();
    check_token(m.token, m.token_len);

    /* Canonical: the same bytes again, and never larger than one datagram. */
    int e = strata_wire_encode_join(out, sizeof out, &m);
    if (e != n || memcmp(out, data, size) != 0)
        abort();
    if (strata_wire_encode_join(out, size - 1, &m) != STRATA_ERR_NOSPACE)
        abort();
    if (strata_wire_decode_join(out, (size_t)e, &m2) != n || !same(&m, &m2))
        abort();
    return 0;
}
