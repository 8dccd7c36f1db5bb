/*
 * Channel access tokens (SPEC P4, issue 13 item 2; docs/security.md,
 * "Channel access"; protocol.md 3.3.3).
 *
 * An operator holds an Ed25519 key pair; the control center knows its
 * public half. A token says that one node may do some things (watch,
 * relay, publish) in one channel until a time, and carries the operator's
 * signature over exactly that. It travels in the node's JOIN; the control
 * center checks it (core/admission.c) before the node is placed anywhere.
 *
 * Layout (90 bytes, big-endian like the wire):
 *   0  u8   version   1
 *   1  u8   rights    STRATA_TOKEN_* bits, nonzero, no other bits
 *   2  u64  channel   channel id (FNV-1a of the name, nonzero)
 *   10 u64  node      node id (nonzero)
 *   18 u64  expires   Unix time in seconds; the token is good before it
 *   26 [64] signature Ed25519 over "strata token v1\0" | bytes 0..25
 * The prefix keeps a token's signature from being taken for any other
 * message the same key might sign (a manifest, say).
 *
 * The core never reads a key or a clock: the drivers pass keys in and the
 * control center is told the Unix time (strata_control_config).
 */
#ifndef STRATA_TOKEN_H
#define STRATA_TOKEN_H

#include "strata/common.h"

enum strata_token_limits {
    STRATA_TOKEN_VERSION = 1,
    STRATA_TOKEN_SIGNED_BYTES = 26, /* the fields the signature covers */
    STRATA_TOKEN_SIGNATURE_BYTES = 64,
    STRATA_TOKEN_BYTES = STRATA_TOKEN_SIGNED_BYTES + STRATA_TOKEN_SIGNATURE_BYTES,
    STRATA_TOKEN_PUBLIC_KEY_BYTES = 32,
    STRATA_TOKEN_SECRET_KEY_BYTES = 64, /* libsodium's: seed and public key */
};

enum strata_token_rights {
    STRATA_TOKEN_WATCH = 0x01,   /* join as a viewer (role PEER) */
    STRATA_TOKEN_RELAY = 0x02,   /* join as a recruited relay (role RELAY) */
    STRATA_TOKEN_PUBLISH = 0x04, /* join as the channel's source */
    STRATA_TOKEN_RIGHTS_KNOWN = 0x07,
};

typedef struct strata_token {
    uint8_t rights; /* enum strata_token_rights */
    strata_channel_id channel;
    strata_node_id node;
    uint64_t expires_unix_s;
    uint8_t signature[STRATA_TOKEN_SIGNATURE_BYTES];
} strata_token;

/* Writes the 90-byte layout. Returns STRATA_TOKEN_BYTES, STRATA_ERR_INVAL
 * (a field outside its range) or STRATA_ERR_NOSPACE; writes nothing then. */
int strata_token_encode(uint8_t *buf, size_t buflen, const strata_token *t);
/* Reads the layout, checking every field's range; the signature is not
 * checked (strata_token_verify). Returns STRATA_TOKEN_BYTES or
 * STRATA_ERR_SHORT, STRATA_ERR_LONG, STRATA_ERR_VERSION, STRATA_ERR_RANGE. */
int strata_token_decode(const uint8_t *buf, size_t buflen, strata_token *t);
/* Signs t's fields with the operator's secret key (into t->signature).
 * Returns 0 or STRATA_ERR_INVAL (fields out of range). */
int strata_token_sign(strata_token *t, const uint8_t sk[STRATA_TOKEN_SECRET_KEY_BYTES]);
/* 0 when the signature is the operator's over t's fields, else
 * STRATA_ERR_FORGED. */
int strata_token_verify(const strata_token *t, const uint8_t pk[STRATA_TOKEN_PUBLIC_KEY_BYTES]);

/* The right a JOIN of role (enum strata_role) needs. */
uint8_t strata_token_right_for_role(uint8_t role);

#endif
