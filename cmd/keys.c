/*
 * Keys (docs/security.md): `strata keygen` (channel keys for signed
 * streams, SPEC P3; the operator keys of `strata token keygen` are made
 * the same way), and the reading of key files and keys on the command line
 * for the daemons. The core never reads a key: these drivers
 * hand it the bytes.
 *
 * Files are text: a secret key file holds the 32-byte Ed25519 seed as 64
 * hex digits (and a newline); the public key file beside it (FILE.pub)
 * holds the public key the same way, which viewers pass as
 * --channel-key HEX.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "keys.h"

static const char *const SUB = "keygen";

static void usage(void)
{
    printf("usage: strata keygen --out FILE\n"
           "\n"
           "Makes a channel key pair for signed streams: writes the secret key to FILE\n"
           "(mode 0600; give it to 'strata source --channel-key-file FILE') and the public\n"
           "key to FILE.pub, and prints the public key, which viewers pass as\n"
           "'strata peer --channel-key HEX'. Refuses to overwrite either file.\n"
           "\n"
           "  --out FILE     where the secret key goes (required)\n"
           "  -h, --help     show this help\n");
}

int cmd_parse_key_hex(const char *hex, uint8_t *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (!hex || strlen(hex) != 2 * n)
        return -1;
    if (sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, &end) != 0 || got != n || *end != '\0')
        return -1;
    return 0;
}

/* Reads a small text file into text (NUL-terminated, trailing blanks and
 * line ends cut); 0, or -1 when it cannot be opened. */
static int read_trimmed(const char *path, char *text, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(text, 1, size - 1, f);
    fclose(f);
    text[len] = '\0';
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    return 0;
}

int cmd_read_channel_key(const char *path, uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES],
                         uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES], char *err, size_t errlen)
{
    char text[256];
    if (read_trimmed(path, text, sizeof text) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t seed[crypto_sign_SEEDBYTES];
    if (cmd_parse_key_hex(text, seed, sizeof seed) != 0) {
        snprintf(err, errlen, "%s does not hold a key: %d hex digits expected (strata keygen)",
                 path, 2 * crypto_sign_SEEDBYTES);
        return -1;
    }
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(text, sizeof text);
    return 0;
}

/* Writes text to a new file of the given mode; refuses an existing one. */
static int write_new(const char *sub, const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        fprintf(stderr, "strata %s: cannot create %s: %s\n", sub, path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok)
        fprintf(stderr, "strata %s: cannot write %s: %s\n", sub, path, strerror(errno));
    return ok ? 0 : -1;
}

int cmd_make_key_pair(const char *sub, const char *out)
{
    char pub_path[4096];
    if (snprintf(pub_path, sizeof pub_path, "%s.pub", out) >= (int)sizeof pub_path)
        cmd_value_error(sub, "--out", out, "path too long");
    uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
        sk[crypto_sign_SECRETKEYBYTES];
    randombytes_buf(seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    char seed_hex[2 * sizeof seed + 2], pk_hex[2 * sizeof pk + 2];
    sodium_bin2hex(seed_hex, sizeof seed_hex - 1, seed, sizeof seed);
    sodium_bin2hex(pk_hex, sizeof pk_hex - 1, pk, sizeof pk);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    strcat(seed_hex, "\n");
    int rc = write_new(sub, out, seed_hex, 0600);
    sodium_memzero(seed_hex, sizeof seed_hex);
    if (rc != 0)
        return CMD_EXIT_FAILURE;
    strcat(pk_hex, "\n");
    if (write_new(sub, pub_path, pk_hex, 0644) != 0)
        return CMD_EXIT_FAILURE;
    fputs(pk_hex, stdout);
    return CMD_EXIT_OK;
}

static int read_hex_arg(const char *arg, uint8_t *out, size_t n, char *err, size_t errlen)
{
    if (cmd_parse_key_hex(arg, out, n) == 0)
        return 0;
    char text[1024];
    if (read_trimmed(arg, text, sizeof text) != 0) {
        snprintf(err, errlen, "'%s' is neither %zu hex digits nor a readable file", arg, 2 * n);
        return -1;
    }
    if (cmd_parse_key_hex(text, out, n) != 0) {
        snprintf(err, errlen, "%s does not hold %zu hex digits", arg, 2 * n);
        return -1;
    }
    return 0;
}

void cmd_hex_arg(const char *sub, const char *opt, const char *arg, uint8_t *out, size_t n)
{
    char err[512];
    if (read_hex_arg(arg, out, n, err, sizeof err) != 0)
        cmd_value_error(sub, opt, arg, "%s", err);
}

int cmd_keygen_as(const char *sub, void (*help)(void), int argc, char **argv)
{
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'h':
            help();
            return CMD_EXIT_OK;
        case ':':
            cmd_usage_error(sub, "option %s needs a value", argv[optind - 1]);
        default:
            cmd_usage_error(sub, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        cmd_usage_error(sub, "unexpected argument '%s'", argv[optind]);
    if (!out || !*out)
        cmd_usage_error(sub, "--out FILE is required");
    return cmd_make_key_pair(sub, out);
}

int cmd_keygen(int argc, char **argv)
{
    return cmd_keygen_as(SUB, usage, argc, argv);
}

int cmd_control_key(const char *path, uint8_t seed[STRATA_CMD_AUTH_KEY_BYTES],
                    uint8_t pk[STRATA_CMD_AUTH_KEY_BYTES], int *created, char *err, size_t errlen)
{
    uint8_t sk[crypto_kx_SECRETKEYBYTES];
    char text[256];
    *created = 0;
    if (read_trimmed(path, text, sizeof text) == 0) {
        if (cmd_parse_key_hex(text, seed, STRATA_CMD_AUTH_KEY_BYTES) != 0) {
            snprintf(err, errlen, "%s does not hold a control key: %d hex digits expected", path,
                     2 * STRATA_CMD_AUTH_KEY_BYTES);
            sodium_memzero(text, sizeof text);
            return -1;
        }
    } else if (errno == ENOENT) {
        /* A first start: the key is made here and kept, so that nodes
         * that pin it (--control-key) follow this control center across
         * restarts. */
        randombytes_buf(seed, STRATA_CMD_AUTH_KEY_BYTES);
        sodium_bin2hex(text, sizeof text, seed, STRATA_CMD_AUTH_KEY_BYTES);
        strcat(text, "\n");
        if (write_new("control", path, text, 0600) != 0) {
            snprintf(err, errlen, "cannot create %s", path);
            sodium_memzero(text, sizeof text);
            return -1;
        }
        *created = 1;
    } else {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    sodium_memzero(text, sizeof text);
    crypto_kx_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    return 0;
}

void cmd_random_bytes(uint8_t *out, size_t n)
{
    randombytes_buf(out, n);
}

void cmd_hex(const uint8_t *bytes, size_t n, char *out, size_t outlen)
{
    sodium_bin2hex(out, outlen, bytes, n);
}
