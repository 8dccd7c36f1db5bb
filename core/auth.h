/*
 * Node authentication (issue 13 item 3; protocol.md 3.12, docs/security.md
 * "No node speaks for another").
 *
 * Model. Every node draws an X25519 key pair (libsodium's crypto_kx) when
 * it starts, from a secret its host gives. Its JOIN carries the public
 * half; the control center answers with its own public key and a session
 * id, and both sides derive the same two MAC keys from the exchange and
 * that id: one for what the node sends (JOIN, HEARTBEAT, LEAVE), one for
 * what the control center sends it (JOIN_REPLY, INSTRUCTION, RECRUIT).
 * Each of those messages is the message of protocol.md section 3 followed
 * by a trailer: a sequence number (replays are refused by a 64-wide
 * window) and a 16-byte keyed BLAKE2b tag over everything before the tag.
 *
 * A session id is the control center's incarnation (drawn at start) in its
 * high 32 bits and a count of the nodes it registered in its low 32 bits,
 * so a restarted control center, or a node registered again, has fresh
 * keys even when both key pairs stayed the same; INSTRUCTIONs carry it,
 * and a node takes only those of the session it joined.
 *
 * Who proves what:
 *  - the control center proves its key pair in each JOIN_REPLY (only the
 *    holder of its secret derives the keys the tag is made with). A node
 *    pins that key: given by its operator (--control-key), or the first one
 *    it met (trust on first use). A pinned-by-first-use key may change only
 *    in the reply to a JOIN made after an UNKNOWN (a restarted control
 *    center without a key file); an operator's pin never changes.
 *  - a node proves its key pair in every JOIN once it knows the control
 *    center's key, and in every HEARTBEAT and LEAVE. The control center
 *    binds a node id to the first key it registered it with: a JOIN,
 *    HEARTBEAT or LEAVE for a known node that does not prove that key is
 *    dropped and counted (STRATA_ERR_AUTH), and moves nothing.
 *
 * Everything here is a pure function of its inputs: keys come from seeds
 * the caller passes (the host draws them), never from the system.
 */
#ifndef STRATA_AUTH_H
#define STRATA_AUTH_H

#include "strata/common.h"

#include <stddef.h>
#include <stdint.h>

enum strata_auth_sizes {
    STRATA_AUTH_KEY_BYTES = 32,   /* X25519 public and secret keys, MAC keys, seeds */
    STRATA_AUTH_TAG_BYTES = 16,   /* keyed BLAKE2b, truncated */
    STRATA_AUTH_UP_BYTES = 20,    /* HEARTBEAT, LEAVE: seq u32, tag */
    STRATA_AUTH_JOIN_BYTES = 52,  /* JOIN: node key, seq u32, tag */
    STRATA_AUTH_DOWN_BYTES = 28,  /* INSTRUCTION, RECRUIT: session u64, seq u32, tag */
    STRATA_AUTH_REPLY_BYTES = 60, /* JOIN_REPLY: center key, session u64, echo u32, tag */
    STRATA_AUTH_MAX_TRAILER_BYTES = 60,
    STRATA_AUTH_WINDOW = 64, /* sequence numbers accepted out of order */
};

/* The highest instruction epoch (exclusive) a control center that
 * authenticates adopts from an unauthenticated heartbeat of a node from
 * before a restart (docs/design.md, "A control center that restarts"). */
#define STRATA_AUTH_ADOPT_EPOCH_LIMIT 0x80000000u

/* --- the trailer (protocol.md 3.12) ---------------------------------------- */

typedef struct strata_auth_trailer {
    size_t body_len;    /* bytes of the section-3 message before the trailer */
    const uint8_t *key; /* JOIN: the node's public key; JOIN_REPLY: the center's */
    uint64_t session;   /* JOIN_REPLY, INSTRUCTION, RECRUIT */
    uint32_t seq;       /* JOIN, HEARTBEAT, LEAVE, INSTRUCTION, RECRUIT */
    uint32_t echo;      /* JOIN_REPLY: seq of the JOIN it answers */
    const uint8_t *tag;
} strata_auth_trailer;

/* Trailer bytes a message of this type carries (0 for a JOIN_REPLY of
 * STRATA_AUTH_UNKNOWN_REPLY_BYTES, the untagged UNKNOWN), or
 * STRATA_ERR_TYPE for a type that carries none. */
int strata_auth_trailer_bytes(int type, size_t len);
enum { STRATA_AUTH_UNKNOWN_REPLY_BYTES = 42 };

/* Splits an authenticated datagram (its type read from the header) into
 * body and trailer. Returns the body length, or STRATA_ERR_SHORT (not
 * even a header and a trailer), STRATA_ERR_TYPE, or a header error.
 * Pointers in *t point into buf. */
int strata_auth_decode(const uint8_t *buf, size_t len, strata_auth_trailer *t);

/* Appends the trailer of t (its tag computed with mac_key over the body
 * and the trailer's other fields) to the body_len bytes at buf. A NULL
 * mac_key writes an all-zero tag (a JOIN that proves nothing yet).
 * Returns the whole length, STRATA_ERR_NOSPACE or STRATA_ERR_TYPE. */
int strata_auth_encode(uint8_t *buf, size_t cap, const strata_auth_trailer *t,
                       const uint8_t *mac_key);

/* 1 when t's tag is the one mac_key makes over buf[0, len - 16). */
int strata_auth_tag_ok(const uint8_t *buf, size_t len, const uint8_t *mac_key);

/* --- replay window --------------------------------------------------------- */

typedef struct strata_auth_window {
    uint32_t top;  /* highest sequence number taken; 0 = none */
    uint64_t bits; /* bit i: top - i taken */
} strata_auth_window;

/* 1 when seq was not taken yet and is not too old (seq 0 never is). */
int strata_auth_window_fresh(const strata_auth_window *w, uint32_t seq);
void strata_auth_window_take(strata_auth_window *w, uint32_t seq);

/* --- keys ------------------------------------------------------------------ */

typedef struct strata_auth_keys {
    uint64_t session;
    uint8_t up[STRATA_AUTH_KEY_BYTES];   /* node -> control center */
    uint8_t down[STRATA_AUTH_KEY_BYTES]; /* control center -> node */
} strata_auth_keys;

/* The key pair of seed (crypto_kx_seed_keypair). */
void strata_auth_keypair(uint8_t pk[STRATA_AUTH_KEY_BYTES], uint8_t sk[STRATA_AUTH_KEY_BYTES],
                         const uint8_t seed[STRATA_AUTH_KEY_BYTES]);
/* The session keys as the node derives them (crypto_kx client side, then
 * keyed by session). Returns 0 or STRATA_ERR_AUTH (a degenerate key). */
int strata_auth_node_keys(strata_auth_keys *k, const uint8_t node_pk[STRATA_AUTH_KEY_BYTES],
                          const uint8_t node_sk[STRATA_AUTH_KEY_BYTES],
                          const uint8_t center_pk[STRATA_AUTH_KEY_BYTES], uint64_t session);
/* The same keys as the control center derives them (server side). */
int strata_auth_center_keys(strata_auth_keys *k, const uint8_t center_pk[STRATA_AUTH_KEY_BYTES],
                            const uint8_t center_sk[STRATA_AUTH_KEY_BYTES],
                            const uint8_t node_pk[STRATA_AUTH_KEY_BYTES], uint64_t session);

/* --- the node's side ------------------------------------------------------- */

typedef struct strata_auth_node_stats {
    uint64_t key_changes; /* a first-use key replaced after an UNKNOWN */
    uint64_t sessions;    /* sessions installed (joins at a control center incarnation) */
    uint64_t dropped;     /* datagrams from the center's address refused */
    uint64_t unknowns;    /* untagged UNKNOWNs taken */
    uint64_t replies;     /* tagged JOIN_REPLYs taken */
} strata_auth_node_stats;

typedef struct strata_auth_node {
    uint8_t pk[STRATA_AUTH_KEY_BYTES], sk[STRATA_AUTH_KEY_BYTES];
    uint8_t center_pk[STRATA_AUTH_KEY_BYTES];
    uint8_t pinned;      /* center_pk is the operator's: it never changes */
    uint8_t have_center; /* center_pk known (pinned, or met first) */
    uint8_t have_session;
    uint8_t after_unknown; /* an UNKNOWN came since: a first-use key may change */
    strata_auth_keys keys;
    uint32_t tx_seq;
    uint32_t install_seq; /* tx_seq when the session was installed */
    strata_auth_window rx;
    /* Set by strata_auth_node_open when it refused an INSTRUCTION or
     * RECRUIT of another session than ours while a new one is awaited
     * (before the first, or after an UNKNOWN): not counted in st.dropped,
     * since it may have overtaken the reply that installs it. */
    uint8_t other_session;
    strata_auth_node_stats st;
} strata_auth_node;

/* seed: the node's secret (32 bytes); center_pk: the operator's pin, or
 * NULL to trust the first key met. */
void strata_auth_node_init(strata_auth_node *a, const uint8_t seed[STRATA_AUTH_KEY_BYTES],
                           const uint8_t *center_pk);

/* Seals a JOIN, HEARTBEAT or LEAVE of body_len bytes at buf (cap bytes of
 * room) for the control center. Returns the sealed length or an error. */
int strata_auth_node_seal(strata_auth_node *a, uint8_t *buf, size_t cap, size_t body_len);

/* Opens a JOIN_REPLY, INSTRUCTION or RECRUIT from the control center's
 * address: checks the trailer (a JOIN_REPLY's key against the pin, its
 * echo, the tag; an INSTRUCTION's session, sequence and tag) and returns
 * the body length to decode, or STRATA_ERR_AUTH (counted in st.dropped)
 * or a decoding error. An OK JOIN_REPLY of another session installs it;
 * an untagged UNKNOWN is passed on and lets a first-use key change. An
 * INSTRUCTION or RECRUIT of another session sets a->other_session and is
 * not counted: the caller holds it or counts it (strata_auth_node_count). */
int strata_auth_node_open(strata_auth_node *a, const uint8_t *buf, size_t len);

/* Counts one refused datagram the caller held and gave up on. */
void strata_auth_node_count(strata_auth_node *a);

/* Largest heartbeat body the trailer leaves room for. */
enum { STRATA_AUTH_HB_MAX_BODY_BYTES = 1472 - STRATA_AUTH_UP_BYTES };

/* --- the control center's side --------------------------------------------- */

/* What the control center keeps of a registered node. */
typedef struct strata_auth_peer {
    uint8_t set;    /* registered */
    uint8_t proven; /* a tagged message from it was verified */
    uint8_t pk[STRATA_AUTH_KEY_BYTES];
    strata_auth_keys keys;
    strata_auth_window rx;
    uint32_t tx_seq;
} strata_auth_peer;

typedef struct strata_auth_center {
    uint8_t pk[STRATA_AUTH_KEY_BYTES], sk[STRATA_AUTH_KEY_BYTES];
    uint32_t incarnation;
    uint32_t registered; /* session ids given */
    /* The JOIN under way (strata_auth_center_join): the keys its replies
     * are tagged with, and what a node it registers keeps. */
    strata_auth_peer join;
    uint32_t join_echo;
    uint8_t join_valid;
} strata_auth_center;

/* key_seed: the control center's long-term secret (NULL: one derived from
 * seed, which changes with every process); seed: the process's secret,
 * which also gives the incarnation. */
void strata_auth_center_init(strata_auth_center *ac, const uint8_t *key_seed,
                             const uint8_t seed[STRATA_AUTH_KEY_BYTES]);

/* Checks a JOIN (sealed, len bytes) from `from` for the node whose record
 * is `known` (NULL: no record) at known_addr. Returns 0 when it may go on
 * (with ac->join set for the reply, and the record a new node gets: keys
 * of a new session) and *proven set when it proved the node's key (only a
 * proven JOIN may move a known node's address), else STRATA_ERR_AUTH. */
int strata_auth_center_join(strata_auth_center *ac, strata_auth_peer *known, strata_addr known_addr,
                            const uint8_t *buf, size_t len, strata_addr from, int *proven);
/* Seals a JOIN_REPLY with the keys of the JOIN under way (an UNKNOWN,
 * which answers a HEARTBEAT, is never sealed). Returns the length. */
int strata_auth_center_seal_reply(strata_auth_center *ac, uint8_t *buf, size_t cap,
                                  size_t body_len);
/* Opens a HEARTBEAT or LEAVE from registered node p: tag and sequence.
 * Returns 0 or STRATA_ERR_AUTH. */
int strata_auth_center_open(strata_auth_peer *p, const uint8_t *buf, size_t len);
/* Seals an INSTRUCTION or RECRUIT for p. Returns the length or an error. */
int strata_auth_center_seal(strata_auth_peer *p, uint8_t *buf, size_t cap, size_t body_len);

#endif
