/*
 * The verifier of a viewing node on a signed channel (SPEC P3,
 * strata/manifest.h, docs/security.md): the manifests it holds and the
 * packets that wait for one.
 *
 * Model. Every DATA packet and parity symbol is judged against the held
 * manifests (strata_manifest_store_judge) before the peer stores, plays or
 * relays it. A packet no held manifest speaks of yet waits here, as a
 * copy of its datagram, for at most wait_ns; a manifest (or a parity hash
 * list) that arrives releases the packets it vouches for, in seq order,
 * and drops those it contradicts. A packet that has waited ask_after_ns
 * makes the peer ask for what it lacks (MANIFEST_REQUEST), again every
 * retry_ns, to one repair target after another. At wait_ns it is dropped
 * and counted (UNVERIFIED). Data packets are released before parity
 * symbols, so that a group whose packets are all there is not decoded.
 *
 * Bounds: at most cap packets wait, and at most CANDIDATES different
 * datagrams for one (seq, substream), so that a forger racing the real
 * packet cannot keep it out; what finds no room is dropped (UNVERIFIED).
 *
 * A node without the channel's key keeps the manifests it is sent without
 * checking them (it relays them and answers requests for them, so that
 * keyed nodes below it can verify) and judges nothing.
 *
 * Timers: the earliest wait deadline and the earliest ask.
 */
#ifndef STRATA_VERIFY_H
#define STRATA_VERIFY_H

#include "strata/common.h"
#include "strata/manifest.h"

enum strata_verify_limits {
    STRATA_VERIFY_CANDIDATES = 2, /* different datagrams waiting for one (seq, substream) */
    /* Parity hash lists kept until their manifest comes: a list can
     * outrun the manifest, which follows another tree. */
    STRATA_VERIFY_EARLY_LISTS = 16,
    STRATA_VERIFY_DEFAULT_WAIT_MS = 1500,
    STRATA_VERIFY_DEFAULT_ASK_AFTER_MS = 300,
    STRATA_VERIFY_DEFAULT_PENDING = 1024,
};

/* What strata_verify_packet did with a packet. */
enum strata_verify_result {
    STRATA_VERIFY_OK = 0,        /* vouched for: take it now */
    STRATA_VERIFY_WAITING = 1,   /* kept until a manifest says */
    STRATA_VERIFY_DUPLICATE = 2, /* the same datagram waits already */
    /* A parity symbol kept until its hash list comes; its manifest is
     * held, so what it rebuilds can be checked already (peer_sign.c). */
    STRATA_VERIFY_WAITING_LIST = 3,
};

typedef struct strata_verify_pending {
    strata_buf *buf; /* the datagram */
    strata_addr from;
    uint64_t seq;
    uint64_t need_seq; /* the seq whose manifest it needs */
    uint8_t substream;
    uint8_t parity;    /* a parity symbol: released after the data */
    uint8_t part;      /* what it waits for (enum strata_manifest_part) */
    uint64_t since_ns; /* arrival */
    uint64_t ask_ns;   /* next ask */
    uint32_t asks;
} strata_verify_pending;

/* A parity hash list that came before its manifest. */
typedef struct strata_verify_early {
    strata_buf *buf; /* NULL: empty */
    strata_addr from;
} strata_verify_early;

typedef struct strata_verify {
    const strata_alloc *alloc;
    int keyed;
    uint8_t pk[STRATA_MANIFEST_PUBLIC_KEY_BYTES];
    strata_manifest_store store;
    strata_verify_pending *items;
    size_t n, cap;
    uint64_t wait_ns, ask_after_ns, retry_ns;
    strata_verify_early early[STRATA_VERIFY_EARLY_LISTS]; /* a ring, oldest replaced */
    size_t early_next;
    /* Told of each waiting packet strata_verify_release finds forged, with
     * its sender (NULL: only counted). Must not call into the verifier. */
    void (*forged_fn)(void *user, const strata_msg_data *m, strata_addr from);
    void *forged_user;
} strata_verify;

/* Prepares a verifier: pk (NULL: a keyless node that only keeps
 * manifests), manifests kept, packets that may wait, and its timings.
 * Returns 0, STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_verify_init(strata_verify *v, const strata_alloc *a, const uint8_t *pk, size_t manifests,
                       size_t pending, uint64_t wait_ns, uint64_t ask_after_ns, uint64_t retry_ns);
void strata_verify_free(strata_verify *v);

/* Judges DATA m (its datagram buf, len bytes, from `from`) of a stream of
 * k data substreams. Returns a strata_verify_result, STRATA_ERR_FORGED
 * (a held manifest contradicts it), STRATA_ERR_UNVERIFIED (no room to
 * wait) or STRATA_ERR_NOMEM. */
int strata_verify_packet(strata_verify *v, const strata_msg_data *m, unsigned k, const uint8_t *buf,
                         size_t len, strata_addr from, uint64_t now);

/* A MANIFEST datagram: decoded, its signature checked (keyed), kept.
 * Returns 0 and the entry in *out when new, STRATA_ERR_EXISTS when held
 * already, an input error, STRATA_ERR_FORGED or STRATA_ERR_NOMEM. */
int strata_verify_manifest(strata_verify *v, const uint8_t *buf, size_t len,
                           const strata_manifest_entry **out);

/* A PARITY_HASHES datagram for a cluster of k data trees, from `from`:
 * kept with its manifest when its digest is the one the manifest signed.
 * Returns 0 (and the parity index in *index) when new, STRATA_VERIFY_WAITING
 * when its manifest is not held yet (a copy is kept for it, see
 * strata_verify_take_early), STRATA_ERR_EXISTS, an input error,
 * STRATA_ERR_UNEXPECTED (k differs), STRATA_ERR_FORGED or
 * STRATA_ERR_NOMEM. */
int strata_verify_parity_list(strata_verify *v, const uint8_t *buf, size_t len, unsigned k,
                              strata_addr from, unsigned *index);
/* Takes out a list kept for the manifest (first_seq, count), which has
 * come: returns 1 and moves it into *out (the caller then owns its
 * reference), or 0. */
int strata_verify_take_early(strata_verify *v, uint64_t first_seq, uint8_t count,
                             strata_verify_early *out);

/* Hands every waiting packet that the held manifests now vouch for to
 * take(user, ...), data in seq order and then parity symbols, and drops those they
 * contradict (counted in *forged). take must not call into the verifier.
 * Returns the number taken. */
typedef void (*strata_verify_take_fn)(void *user, const uint8_t *buf, size_t len, strata_addr from,
                                      uint64_t now);
size_t strata_verify_release(strata_verify *v, unsigned k, strata_verify_take_fn take, void *user,
                             uint64_t now, uint64_t *forged);

/* Drops the packets that have waited wait_ns; returns how many. */
size_t strata_verify_expire(strata_verify *v, uint64_t now);

/* Calls ask(user, seq, part, asks) once for every (batch, part) that a
 * packet whose ask is due waits for (asks: how often it was asked
 * before, to rotate the targets), and schedules the next ask. */
typedef void (*strata_verify_ask_fn)(void *user, uint64_t seq, uint8_t part, uint32_t asks);
void strata_verify_asks(strata_verify *v, uint64_t now, strata_verify_ask_fn ask, void *user);

/* Earliest ask or wait deadline, or STRATA_NEVER. */
uint64_t strata_verify_next_timeout(const strata_verify *v);

#endif
