/*
 * Channel access tokens: see strata/token.h for the layout and the model.
 *
 * The codec follows wire.c's rules: one token_valid() both sides call, a
 * bounds-checked reader, a canonical encoding (a decoded token encodes
 * back to the same bytes). Signatures are libsodium's Ed25519 over a
 * domain-separation prefix and the 26 signed bytes.
 */
#include "strata/token.h"

#include "strata/wire.h"
#include "wire_io.h"

#include <sodium.h>
#include <string.h>

static const uint8_t SIGN_PREFIX[16] = "strata token v1";

static int token_valid(const strata_token *t)
{
    return t->rights != 0 && (t->rights & ~STRATA_TOKEN_RIGHTS_KNOWN) == 0 && t->channel.v != 0 &&
           t->node.v != 0;
}

static void put_signed(uint8_t *p, const strata_token *t)
{
    p = put_u8(p, STRATA_TOKEN_VERSION);
    p = put_u8(p, t->rights);
    p = put_u64(p, t->channel.v);
    p = put_u64(p, t->node.v);
    put_u64(p, t->expires_unix_s);
}

int strata_token_encode(uint8_t *buf, size_t buflen, const strata_token *t)
{
    if (!t || !buf || !token_valid(t))
        return STRATA_ERR_INVAL;
    if (buflen < STRATA_TOKEN_BYTES)
        return STRATA_ERR_NOSPACE;
    put_signed(buf, t);
    memcpy(buf + STRATA_TOKEN_SIGNED_BYTES, t->signature, STRATA_TOKEN_SIGNATURE_BYTES);
    return STRATA_TOKEN_BYTES;
}

int strata_token_decode(const uint8_t *buf, size_t buflen, strata_token *t)
{
    if (!t)
        return STRATA_ERR_INVAL;
    memset(t, 0, sizeof *t);
    if (!buf || buflen == 0)
        return STRATA_ERR_SHORT;
    reader r = {buf, buf + buflen, 0};
    uint8_t version = get_u8(&r);
    if (r.err)
        return r.err;
    if (version != STRATA_TOKEN_VERSION)
        return STRATA_ERR_VERSION;
    t->rights = get_u8(&r);
    t->channel.v = get_u64(&r);
    t->node.v = get_u64(&r);
    t->expires_unix_s = get_u64(&r);
    const uint8_t *sig = get_bytes(&r, STRATA_TOKEN_SIGNATURE_BYTES);
    if (r.err)
        return r.err;
    if (r.p != r.end)
        return STRATA_ERR_LONG;
    memcpy(t->signature, sig, STRATA_TOKEN_SIGNATURE_BYTES);
    return token_valid(t) ? STRATA_TOKEN_BYTES : STRATA_ERR_RANGE;
}

/* The bytes the signature covers: the prefix and the signed fields. */
static void signed_message(const strata_token *t,
                           uint8_t out[sizeof SIGN_PREFIX + STRATA_TOKEN_SIGNED_BYTES])
{
    memcpy(out, SIGN_PREFIX, sizeof SIGN_PREFIX);
    put_signed(out + sizeof SIGN_PREFIX, t);
}

int strata_token_sign(strata_token *t, const uint8_t sk[STRATA_TOKEN_SECRET_KEY_BYTES])
{
    if (!t || !sk || !token_valid(t))
        return STRATA_ERR_INVAL;
    uint8_t msg[sizeof SIGN_PREFIX + STRATA_TOKEN_SIGNED_BYTES];
    signed_message(t, msg);
    crypto_sign_detached(t->signature, NULL, msg, sizeof msg, sk);
    return 0;
}

int strata_token_verify(const strata_token *t, const uint8_t pk[STRATA_TOKEN_PUBLIC_KEY_BYTES])
{
    uint8_t msg[sizeof SIGN_PREFIX + STRATA_TOKEN_SIGNED_BYTES];
    signed_message(t, msg);
    return crypto_sign_verify_detached(t->signature, msg, sizeof msg, pk) == 0 ? 0
                                                                               : STRATA_ERR_FORGED;
}

uint8_t strata_token_right_for_role(uint8_t role)
{
    switch (role) {
    case STRATA_ROLE_SOURCE:
        return STRATA_TOKEN_PUBLISH;
    case STRATA_ROLE_RELAY:
    case STRATA_ROLE_WAYPOINT:
        return STRATA_TOKEN_RELAY;
    default:
        return STRATA_TOKEN_WATCH;
    }
}
