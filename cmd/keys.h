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
/* Makes an Ed25519 key pair: the seed (64 hex digits) to a new file out
 * (mode 0600), the public key to out.pub, and prints the public key.
 * Refuses to overwrite either. Returns an exit status. */
int cmd_make_key_pair(const char *sub, const char *out);
/* Reads n bytes given to option opt of subcommand sub as 2n hex digits,
 * or from a file holding them (an access token, an operator's or the
 * control center's public key); a value that is neither is a usage error
 * (exit 2, cmd_value_error). */
void cmd_hex_arg(const char *sub, const char *opt, const char *arg, uint8_t *out, size_t n);
/* strata keygen; and its option parsing for a subcommand sub with its own
 * help (strata token keygen). */
enum { STRATA_CMD_AUTH_KEY_BYTES = 32 };
/* The control center's long-term key seed (strata control --key FILE):
 * read from path, or made there (mode 0600; *created set) when path does
 * not exist; pk gets its public half. Returns 0, or -1 with err set. */
int cmd_control_key(const char *path, uint8_t seed[STRATA_CMD_AUTH_KEY_BYTES],
                    uint8_t pk[STRATA_CMD_AUTH_KEY_BYTES], int *created, char *err, size_t errlen);
/* n secret random bytes (libsodium's randombytes_buf: the kernel's). */
void cmd_random_bytes(uint8_t *out, size_t n);
/* n bytes as 2n lower-case hex digits (outlen >= 2n + 1). */
void cmd_hex(const uint8_t *bytes, size_t n, char *out, size_t outlen);

int cmd_keygen(int argc, char **argv);
int cmd_keygen_as(const char *sub, void (*help)(void), int argc, char **argv);
/* strata token (cmd/cmd_token.c). */
int cmd_token(int argc, char **argv);

#endif
