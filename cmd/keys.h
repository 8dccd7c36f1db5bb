/*
 * Channel keys for signed streams (cmd/keys.c): `strata keygen` and the
 * reading of keys for the source and the peer.
 */
#ifndef STRATA_CMD_KEYS_H
#define STRATA_CMD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "strata/manifest.h"

/* Parses exactly 2 * n hex digits into out; 0 or -1. */
int cmd_parse_key_hex(const char *hex, uint8_t *out, size_t n);
/* Reads a secret key file (64 hex digits: the Ed25519 seed) into
 * libsodium's secret key and the public key; 0, or -1 with a message in
 * err. */
int cmd_read_channel_key(const char *path, uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES],
                         uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES], char *err, size_t errlen);
/* strata keygen. */
int cmd_keygen(int argc, char **argv);

#endif
