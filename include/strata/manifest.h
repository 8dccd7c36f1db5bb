/*
 * Signed streams (SPEC P3; protocol.md 3.11, docs/security.md): the
 * source's signed MANIFESTs, what they say of the packets they cover, and
 * where a node keeps them.
 *
 * Model. The source signs its stream at an amortised cost: a MANIFEST,
 * signed with the channel's Ed25519 key, covers a batch of up to
 * STRATA_MANIFEST_MAX_PACKETS consecutive data packets and carries a
 * truncated BLAKE2b hash of each (channel, seq, substream and payload
 * bound in; not the send time, which a packet rebuilt from parity cannot
 * recover). Parity symbols of the erasure-coded clusters (protocol.md
 * 3.1.1) are deterministic, so the source also computes every symbol
 * index the hierarchy can ask for (STRATA_WIRE_MAX_PARITY) for each group
 * whose last packet the batch holds, and signs, per index, a digest of
 * the list of their hashes. Those lists travel apart (PARITY_HASHES, one
 * per batch and index) and only down the parity tree that needs them, so
 * a viewer outside an erasure-coded cluster pays nothing for parity. The
 * last manifest of a stream says where it ends (flag EOS), so the
 * end-of-stream marker is signed too.
 *
 * A node that knows the channel's public key takes a packet only once a
 * manifest whose signature it checked vouches for its hash; a node that
 * misses a manifest asks for it (MANIFEST_REQUEST) from the nodes it asks
 * for repairs. Waiting packets are the verifier's (core/verify.h).
 *
 * This module is pure computation over caller buffers (libsodium's hash,
 * sign and verify; no randomness: Ed25519 signing is deterministic). Key
 * material is passed in by the drivers; the core never reads a key file.
 */
#ifndef STRATA_MANIFEST_H
#define STRATA_MANIFEST_H

#include "strata/common.h"
#include "strata/wire.h"

enum strata_manifest_limits {
    /* A packet hash: BLAKE2b truncated to 80 bits (docs/security.md says
     * why that is enough for a hash bound to one seq of one channel). */
    STRATA_MANIFEST_HASH_BYTES = 10,
    STRATA_MANIFEST_MAX_PACKETS = 64,      /* data packets one manifest covers */
    STRATA_MANIFEST_SIG_BYTES = 64,        /* Ed25519 signature */
    STRATA_MANIFEST_PUBLIC_KEY_BYTES = 32, /* Ed25519 public key */
    STRATA_MANIFEST_SECRET_KEY_BYTES = 64, /* libsodium's secret key (seed + public key) */
    STRATA_MANIFEST_FIXED_BYTES = 24,      /* MANIFEST without hashes and signature */
    STRATA_MANIFEST_REQUEST_BYTES = 29,
    STRATA_PARITY_HASHES_FIXED_BYTES = 24,
    /* Groups whose last packet one manifest's batch can hold. */
    STRATA_MANIFEST_MAX_GROUPS = STRATA_MANIFEST_MAX_PACKETS,
    STRATA_MANIFEST_MAX_BYTES =
        STRATA_MANIFEST_FIXED_BYTES +
        STRATA_MANIFEST_HASH_BYTES * (STRATA_MANIFEST_MAX_PACKETS + STRATA_WIRE_MAX_PARITY) +
        STRATA_MANIFEST_SIG_BYTES,
};

enum strata_manifest_flags {
    STRATA_MANIFEST_FLAG_EOS = 0x01, /* the stream ends at first_seq + count */
    STRATA_MANIFEST_FLAGS_KNOWN = 0x01,
};

/* MANIFEST (protocol.md 3.11.1). Pointers point into the datagram. */
typedef struct strata_msg_manifest {
    strata_channel_id channel;
    uint64_t first_seq;    /* the first data packet covered */
    uint8_t count;         /* packets covered, 0..STRATA_MANIFEST_MAX_PACKETS; 0 only with EOS */
    uint8_t flags;         /* enum strata_manifest_flags */
    uint8_t k;             /* group size of the parity digests; 0 iff n_parity is 0 */
    uint8_t n_parity;      /* parity digests, 0..STRATA_WIRE_MAX_PARITY: index i for i < n_parity */
    const uint8_t *hashes; /* count * STRATA_MANIFEST_HASH_BYTES, packet first_seq + j at j */
    const uint8_t *digests; /* n_parity * STRATA_MANIFEST_HASH_BYTES */
    const uint8_t *sig;     /* STRATA_MANIFEST_SIG_BYTES over every byte before it */
} strata_msg_manifest;

/* MANIFEST_REQUEST (protocol.md 3.11.2): "send me what covers seq". */
enum strata_manifest_part {
    STRATA_MANIFEST_PART_MANIFEST = 0, /* the MANIFEST covering seq */
    /* 1 + i: the PARITY_HASHES of index i of the manifest covering seq */
    STRATA_MANIFEST_PART_MAX = STRATA_WIRE_MAX_PARITY,
};
typedef struct strata_msg_manifest_request {
    strata_node_id node; /* requester */
    strata_channel_id channel;
    uint64_t seq;
    uint8_t part; /* enum strata_manifest_part */
} strata_msg_manifest_request;

/* PARITY_HASHES (protocol.md 3.11.3): the hashes of parity symbol `index`
 * of every group a manifest's parity digests cover, in group order. */
typedef struct strata_msg_parity_hashes {
    strata_channel_id channel;
    uint64_t first_seq;    /* the manifest's */
    uint8_t count;         /* the manifest's */
    uint8_t k;             /* the manifest's, 1..16 */
    uint8_t index;         /* parity symbol index, < STRATA_WIRE_MAX_PARITY */
    uint8_t n_groups;      /* strata_manifest_groups(first_seq, count, k) */
    const uint8_t *hashes; /* n_groups * STRATA_MANIFEST_HASH_BYTES */
} strata_msg_parity_hashes;

/* Codec, as wire.h's: encoders return the length or STRATA_ERR_INVAL /
 * STRATA_ERR_NOSPACE and write nothing then; decoders return the length
 * or a negative input error. The MANIFEST encoder copies sig (NULL writes
 * zeros there, for strata_manifest_sign to fill). */
int strata_manifest_encode(uint8_t *buf, size_t buflen, const strata_msg_manifest *m);
int strata_manifest_decode(const uint8_t *buf, size_t buflen, strata_msg_manifest *m);
int strata_manifest_encode_request(uint8_t *buf, size_t buflen,
                                   const strata_msg_manifest_request *m);
int strata_manifest_decode_request(const uint8_t *buf, size_t buflen,
                                   strata_msg_manifest_request *m);
int strata_manifest_encode_parity(uint8_t *buf, size_t buflen, const strata_msg_parity_hashes *m);
int strata_manifest_decode_parity(const uint8_t *buf, size_t buflen, strata_msg_parity_hashes *m);

/* The groups of k whose last packet lies in [first_seq, first_seq + count)
 * (the groups a manifest's parity digests cover), and the first of them
 * (group g starts at seq g * k). k must be 1..16. */
unsigned strata_manifest_groups(uint64_t first_seq, unsigned count, unsigned k);
uint64_t strata_manifest_first_group(uint64_t first_seq, unsigned k);

/* The hash of a DATA packet or parity symbol (not of an EOS marker, which
 * the manifest's EOS flag vouches for): BLAKE2b over channel, seq,
 * substream, kind (data or parity), payload length and payload, truncated
 * to STRATA_MANIFEST_HASH_BYTES. The flags are not bound, since relays set
 * REPAIR, nor the send time, which a rebuilt packet does not recover. */
void strata_manifest_hash_packet(const strata_msg_data *m, uint8_t out[STRATA_MANIFEST_HASH_BYTES]);
/* The hash of parity symbol `index` (sym, len bytes) of the group of k
 * packets starting at first_seq: strata_manifest_hash_packet of the
 * parity DATA that carries it (protocol.md 3.1.1). */
void strata_manifest_hash_symbol(strata_channel_id channel, uint64_t first_seq, unsigned k,
                                 unsigned index, const uint8_t *sym, size_t len,
                                 uint8_t out[STRATA_MANIFEST_HASH_BYTES]);
/* The digest of an encoded PARITY_HASHES datagram: BLAKE2b over all of it,
 * truncated like a packet hash. */
void strata_manifest_digest(const uint8_t *buf, size_t len,
                            uint8_t out[STRATA_MANIFEST_HASH_BYTES]);

/* Signs an encoded MANIFEST in place: the signature over its first len - 64
 * bytes goes into its last 64. Returns 0 or STRATA_ERR_INVAL (too short). */
int strata_manifest_sign(uint8_t *buf, size_t len,
                         const uint8_t sk[STRATA_MANIFEST_SECRET_KEY_BYTES]);
/* 0 when the encoded MANIFEST's signature is the key's, else
 * STRATA_ERR_FORGED. */
int strata_manifest_verify(const uint8_t *buf, size_t len,
                           const uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES]);

/* --- the manifests a node holds ---------------------------------------- */

/* One manifest held: its datagram and the decoded view into it, and the
 * PARITY_HASHES datagrams held for it (checked against its digests). */
typedef struct strata_manifest_entry {
    strata_buf *buf; /* NULL: empty slot */
    strata_msg_manifest m;
    strata_buf *parity[STRATA_WIRE_MAX_PARITY];
} strata_manifest_entry;

/* A ring of the newest cap manifests, oldest replaced first, with the end
 * of the stream once a manifest said it. Lookups scan from the newest:
 * the packets asked about are nearly always the newest batch's. */
typedef struct strata_manifest_store {
    const strata_alloc *alloc;
    strata_manifest_entry *items;
    size_t cap, next, count;
    uint64_t end_seq; /* with has_end: the EOS manifest's first_seq + count */
    int has_end;
    uint64_t max_end; /* highest first_seq + count held so far */
} strata_manifest_store;

int strata_manifest_store_init(strata_manifest_store *s, const strata_alloc *a, size_t cap);
void strata_manifest_store_free(strata_manifest_store *s);
/* Keeps a copy of the decoded manifest's datagram buf (len bytes; checked
 * by the caller). Returns the entry, or NULL: STRATA_ERR_EXISTS in *err
 * when one with the same first_seq is held, STRATA_ERR_NOMEM. */
const strata_manifest_entry *strata_manifest_store_add(strata_manifest_store *s, const uint8_t *buf,
                                                       size_t len, int *err);
/* The newest manifest whose packets include seq, or NULL. */
const strata_manifest_entry *strata_manifest_store_find(const strata_manifest_store *s,
                                                        uint64_t seq);
/* The i-th newest manifest held (0: the newest), or NULL. */
const strata_manifest_entry *strata_manifest_store_newest(const strata_manifest_store *s, size_t i);
/* The manifest that starts at first_seq and covers count packets, or NULL. */
strata_manifest_entry *strata_manifest_store_exact(strata_manifest_store *s, uint64_t first_seq,
                                                   uint8_t count);
/* What answers a MANIFEST_REQUEST: the datagram of the manifest covering
 * req->seq (or, for a seq at or past the signed end, the manifest that
 * says it), or of its PARITY_HASHES of the index asked; NULL when not
 * held. The buffer stays the store's. */
strata_buf *strata_manifest_store_answer(const strata_manifest_store *s,
                                         const strata_msg_manifest_request *req);
/* Keeps a copy of a PARITY_HASHES datagram for entry e's index; 0,
 * STRATA_ERR_EXISTS or STRATA_ERR_NOMEM. */
int strata_manifest_store_set_parity(strata_manifest_store *s, strata_manifest_entry *e,
                                     unsigned index, const uint8_t *buf, size_t len);

/* What a verifying node concludes about one packet from the manifests it
 * holds (core/verify.c). */
enum strata_manifest_verdict {
    STRATA_MANIFEST_OK = 0,      /* a held manifest vouches for it */
    STRATA_MANIFEST_UNKNOWN = 1, /* nothing held says yet: wait for a manifest */
    STRATA_MANIFEST_NO_LIST = 2, /* parity: its manifest is held, its hash list not yet */
    STRATA_MANIFEST_FORGED = -8, /* = STRATA_ERR_FORGED: a held manifest says otherwise */
};
/* Judges DATA m (an EOS marker, a data packet or a parity symbol of a
 * cluster of k data trees) against the store. */
int strata_manifest_store_judge(const strata_manifest_store *s, const strata_msg_data *m,
                                unsigned k);

#endif
