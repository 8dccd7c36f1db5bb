/*
 * Node authentication: see auth.h for the model, protocol.md 3.12 for the
 * trailer. The tag is libsodium's keyed BLAKE2b (crypto_generichash) at
 * its smallest output, 16 bytes: one pass over a heartbeat, about a
 * microsecond; the key exchange is crypto_kx (X25519), once per session.
 */
#include "auth.h"

#include "strata/wire.h"

#include <sodium.h>
#include <string.h>

static const char UP_LABEL[] = "strata auth v1 up";
static const char DOWN_LABEL[] = "strata auth v1 down";
static const char INCARNATION_LABEL[] = "strata auth v1 incarnation";
static const char KEY_LABEL[] = "strata auth v1 key";

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* --- trailer -------------------------------------------------------------- */

int strata_auth_trailer_bytes(int type, size_t len)
{
    switch (type) {
    case STRATA_MSG_HEARTBEAT:
    case STRATA_MSG_LEAVE:
        return STRATA_AUTH_UP_BYTES;
    case STRATA_MSG_JOIN:
        return STRATA_AUTH_JOIN_BYTES;
    case STRATA_MSG_INSTRUCTION:
    case STRATA_MSG_RECRUIT:
        return STRATA_AUTH_DOWN_BYTES;
    case STRATA_MSG_JOIN_REPLY:
        return len == STRATA_AUTH_UNKNOWN_REPLY_BYTES ? 0 : STRATA_AUTH_REPLY_BYTES;
    default:
        return STRATA_ERR_TYPE;
    }
}

int strata_auth_decode(const uint8_t *buf, size_t len, strata_auth_trailer *t)
{
    int type = strata_wire_peek_type(buf, len);
    if (type < 0)
        return type;
    int n = strata_auth_trailer_bytes(type, len);
    if (n < 0)
        return n;
    memset(t, 0, sizeof *t);
    /* Every body has its 4-byte header before the trailer. */
    if (len < 4 || (size_t)(len - 4) < (size_t)n)
        return STRATA_ERR_SHORT;
    const uint8_t *p = buf + (len - (size_t)n);
    t->body_len = len - (size_t)n;
    switch (type) {
    case STRATA_MSG_HEARTBEAT:
    case STRATA_MSG_LEAVE:
        t->seq = get32(p);
        t->tag = p + 4;
        break;
    case STRATA_MSG_JOIN:
        t->key = p;
        t->seq = get32(p + 32);
        t->tag = p + 36;
        break;
    case STRATA_MSG_INSTRUCTION:
    case STRATA_MSG_RECRUIT:
        t->session = get64(p);
        t->seq = get32(p + 8);
        t->tag = p + 12;
        break;
    default: /* JOIN_REPLY */
        if (n == 0)
            break; /* the untagged UNKNOWN */
        t->key = p;
        t->session = get64(p + 32);
        t->echo = get32(p + 40);
        t->tag = p + 44;
        break;
    }
    return (int)t->body_len;
}

static void tag_of(uint8_t out[STRATA_AUTH_TAG_BYTES], const uint8_t *buf, size_t len,
                   const uint8_t *key)
{
    crypto_generichash(out, STRATA_AUTH_TAG_BYTES, buf, len, key, STRATA_AUTH_KEY_BYTES);
}

int strata_auth_encode(uint8_t *buf, size_t cap, const strata_auth_trailer *t,
                       const uint8_t *mac_key)
{
    int type = strata_wire_peek_type(buf, t->body_len);
    if (type < 0)
        return STRATA_ERR_INVAL;
    int n = strata_auth_trailer_bytes(type, t->body_len + STRATA_AUTH_REPLY_BYTES);
    if (n < 0)
        return n;
    if (cap < t->body_len || cap - t->body_len < (size_t)n || t->body_len + (size_t)n > INT32_MAX)
        return STRATA_ERR_NOSPACE;
    uint8_t *p = buf + t->body_len;
    switch (type) {
    case STRATA_MSG_HEARTBEAT:
    case STRATA_MSG_LEAVE:
        put32(p, t->seq);
        break;
    case STRATA_MSG_JOIN:
        if (!t->key)
            return STRATA_ERR_INVAL;
        memcpy(p, t->key, STRATA_AUTH_KEY_BYTES);
        put32(p + 32, t->seq);
        break;
    case STRATA_MSG_INSTRUCTION:
    case STRATA_MSG_RECRUIT:
        put64(p, t->session);
        put32(p + 8, t->seq);
        break;
    default: /* JOIN_REPLY */
        if (!t->key)
            return STRATA_ERR_INVAL;
        memcpy(p, t->key, STRATA_AUTH_KEY_BYTES);
        put64(p + 32, t->session);
        put32(p + 40, t->echo);
        break;
    }
    size_t len = t->body_len + (size_t)n;
    if (mac_key)
        tag_of(buf + len - STRATA_AUTH_TAG_BYTES, buf, len - STRATA_AUTH_TAG_BYTES, mac_key);
    else
        memset(buf + len - STRATA_AUTH_TAG_BYTES, 0, STRATA_AUTH_TAG_BYTES);
    return (int)len;
}

int strata_auth_tag_ok(const uint8_t *buf, size_t len, const uint8_t *mac_key)
{
    if (len < STRATA_AUTH_TAG_BYTES)
        return 0;
    uint8_t want[STRATA_AUTH_TAG_BYTES];
    tag_of(want, buf, len - STRATA_AUTH_TAG_BYTES, mac_key);
    return sodium_memcmp(want, buf + len - STRATA_AUTH_TAG_BYTES, STRATA_AUTH_TAG_BYTES) == 0;
}

/* --- replay window --------------------------------------------------------- */

int strata_auth_window_fresh(const strata_auth_window *w, uint32_t seq)
{
    if (seq == 0)
        return 0;
    if (seq > w->top)
        return 1;
    uint32_t back = w->top - seq;
    return back < STRATA_AUTH_WINDOW && !((w->bits >> back) & 1u);
}

void strata_auth_window_take(strata_auth_window *w, uint32_t seq)
{
    if (seq > w->top) {
        uint32_t shift = seq - w->top;
        w->bits = shift >= STRATA_AUTH_WINDOW ? 0 : w->bits << shift;
        w->bits |= 1u;
        w->top = seq;
    } else if (w->top - seq < STRATA_AUTH_WINDOW) {
        w->bits |= (uint64_t)1 << (w->top - seq);
    }
}

/* --- keys ------------------------------------------------------------------ */

void strata_auth_keypair(uint8_t pk[STRATA_AUTH_KEY_BYTES], uint8_t sk[STRATA_AUTH_KEY_BYTES],
                         const uint8_t seed[STRATA_AUTH_KEY_BYTES])
{
    crypto_kx_seed_keypair(pk, sk, seed);
}

/* One direction's MAC key: the exchange's key for it, keyed by the session
 * id, so that the same two key pairs make new keys in a new session. */
static void direction_key(uint8_t out[STRATA_AUTH_KEY_BYTES],
                          const uint8_t kx[STRATA_AUTH_KEY_BYTES], const char *label,
                          size_t label_len, uint64_t session)
{
    uint8_t msg[32];
    memcpy(msg, label, label_len);
    put64(msg + label_len, session);
    crypto_generichash(out, STRATA_AUTH_KEY_BYTES, msg, label_len + 8, kx, STRATA_AUTH_KEY_BYTES);
    sodium_memzero(msg, sizeof msg);
}

static void session_keys(strata_auth_keys *k, const uint8_t up[STRATA_AUTH_KEY_BYTES],
                         const uint8_t down[STRATA_AUTH_KEY_BYTES], uint64_t session)
{
    k->session = session;
    direction_key(k->up, up, UP_LABEL, sizeof UP_LABEL - 1, session);
    direction_key(k->down, down, DOWN_LABEL, sizeof DOWN_LABEL - 1, session);
}

int strata_auth_node_keys(strata_auth_keys *k, const uint8_t node_pk[STRATA_AUTH_KEY_BYTES],
                          const uint8_t node_sk[STRATA_AUTH_KEY_BYTES],
                          const uint8_t center_pk[STRATA_AUTH_KEY_BYTES], uint64_t session)
{
    uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
    int rc = 0;
    if (crypto_kx_client_session_keys(rx, tx, node_pk, node_sk, center_pk) != 0)
        rc = STRATA_ERR_AUTH;
    else
        session_keys(k, tx, rx, session);
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return rc;
}

int strata_auth_center_keys(strata_auth_keys *k, const uint8_t center_pk[STRATA_AUTH_KEY_BYTES],
                            const uint8_t center_sk[STRATA_AUTH_KEY_BYTES],
                            const uint8_t node_pk[STRATA_AUTH_KEY_BYTES], uint64_t session)
{
    uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
    int rc = 0;
    if (crypto_kx_server_session_keys(rx, tx, center_pk, center_sk, node_pk) != 0)
        rc = STRATA_ERR_AUTH;
    else
        session_keys(k, rx, tx, session);
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return rc;
}

/* A secret of its own for each use of one seed. */
static void derive(uint8_t out[STRATA_AUTH_KEY_BYTES], const uint8_t seed[STRATA_AUTH_KEY_BYTES],
                   const char *label, size_t label_len)
{
    crypto_generichash(out, STRATA_AUTH_KEY_BYTES, (const uint8_t *)label, label_len, seed,
                       STRATA_AUTH_KEY_BYTES);
}

/* --- the node's side ------------------------------------------------------- */

void strata_auth_node_init(strata_auth_node *a, const uint8_t seed[STRATA_AUTH_KEY_BYTES],
                           const uint8_t *center_pk)
{
    memset(a, 0, sizeof *a);
    uint8_t s[STRATA_AUTH_KEY_BYTES];
    derive(s, seed, KEY_LABEL, sizeof KEY_LABEL - 1);
    strata_auth_keypair(a->pk, a->sk, s);
    sodium_memzero(s, sizeof s);
    if (center_pk) {
        memcpy(a->center_pk, center_pk, STRATA_AUTH_KEY_BYTES);
        a->pinned = a->have_center = 1;
    }
}

int strata_auth_node_seal(strata_auth_node *a, uint8_t *buf, size_t cap, size_t body_len)
{
    int type = strata_wire_peek_type(buf, body_len);
    if (type != STRATA_MSG_JOIN && type != STRATA_MSG_HEARTBEAT && type != STRATA_MSG_LEAVE)
        return STRATA_ERR_INVAL;
    strata_auth_trailer t = {.body_len = body_len, .key = a->pk, .seq = a->tx_seq + 1};
    /* Without a session yet (a first JOIN) the tag proves nothing: the
     * control center registers the key it carries. */
    int n = strata_auth_encode(buf, cap, &t, a->have_session ? a->keys.up : NULL);
    if (n >= 0)
        a->tx_seq++;
    return n;
}

static int node_drop(strata_auth_node *a)
{
    a->st.dropped++;
    return STRATA_ERR_AUTH;
}

void strata_auth_node_count(strata_auth_node *a)
{
    a->st.dropped++;
}

/* A tagged JOIN_REPLY: the control center's key against the pin, the echo
 * against the JOINs sent, the tag under the session it names; an OK reply
 * of another session than ours installs it. */
static int open_reply(strata_auth_node *a, const uint8_t *buf, size_t len,
                      const strata_auth_trailer *t)
{
    int same_key = a->have_center && memcmp(t->key, a->center_pk, STRATA_AUTH_KEY_BYTES) == 0;
    if (a->have_center && !same_key && (a->pinned || !a->after_unknown))
        return node_drop(a);
    if (t->echo == 0 || t->echo > a->tx_seq)
        return node_drop(a); /* answers no JOIN of ours */
    if (a->have_session && same_key && t->session == a->keys.session) {
        if (!strata_auth_tag_ok(buf, len, a->keys.down))
            return node_drop(a);
        /* The control center still knows us: no restart, whatever an
         * UNKNOWN said. */
        a->after_unknown = 0;
        a->st.replies++;
        return (int)t->body_len;
    }
    /* Another session: it must answer a JOIN sent since ours began (an
     * older reply is a replay), and prove the key it names. */
    if (a->have_session && t->echo <= a->install_seq)
        return node_drop(a);
    strata_auth_keys k;
    if (strata_auth_node_keys(&k, a->pk, a->sk, t->key, t->session) != 0 ||
        !strata_auth_tag_ok(buf, len, k.down)) {
        sodium_memzero(&k, sizeof k);
        return node_drop(a);
    }
    /* status (protocol.md 3.3.2, offset 20): only an OK reply installs. */
    if (t->body_len > 20 && buf[20] == STRATA_JOIN_OK) {
        if (a->have_center && !same_key)
            a->st.key_changes++;
        memcpy(a->center_pk, t->key, STRATA_AUTH_KEY_BYTES);
        a->have_center = 1;
        a->keys = k;
        a->have_session = 1;
        a->after_unknown = 0;
        a->install_seq = a->tx_seq;
        memset(&a->rx, 0, sizeof a->rx);
        a->st.sessions++;
    }
    sodium_memzero(&k, sizeof k);
    a->st.replies++;
    return (int)t->body_len;
}

int strata_auth_node_open(strata_auth_node *a, const uint8_t *buf, size_t len)
{
    strata_auth_trailer t;
    a->other_session = 0;
    int rc = strata_auth_decode(buf, len, &t);
    if (rc < 0) /* too short for a trailer: a malformed datagram, counted as such */
        return rc == STRATA_ERR_TYPE ? STRATA_ERR_UNEXPECTED : rc;
    int type = buf[3];
    if (type == STRATA_MSG_JOIN_REPLY) {
        if (!t.tag) {
            /* UNKNOWN is the one untagged reply: a control center that
             * restarted has no key for us. It can only make us join again
             * (docs/security.md); anything else untagged is refused. */
            if (len <= 20 || buf[20] != STRATA_JOIN_UNKNOWN)
                return node_drop(a);
            a->after_unknown = 1;
            a->st.unknowns++;
            return (int)len;
        }
        return open_reply(a, buf, len, &t);
    }
    /* INSTRUCTION, RECRUIT: of our session, fresh, and tagged by it. One
     * of another session may have overtaken the JOIN_REPLY that starts
     * it (a control center sends a newcomer's instructions beside its
     * reply): the caller may hold it until a reply installs a session. */
    if (!a->have_session || t.session != a->keys.session) {
        /* Held only while a new session is awaited: before the first, or
         * after an UNKNOWN (a restart); else it is refused at once. */
        if (a->have_session && !a->after_unknown)
            return node_drop(a);
        a->other_session = 1;
        return STRATA_ERR_AUTH; /* counted by the caller, once it gives up on it */
    }
    if (!strata_auth_window_fresh(&a->rx, t.seq) || !strata_auth_tag_ok(buf, len, a->keys.down))
        return node_drop(a);
    strata_auth_window_take(&a->rx, t.seq);
    return (int)t.body_len;
}

/* --- the control center's side --------------------------------------------- */

void strata_auth_center_init(strata_auth_center *ac, const uint8_t *key_seed,
                             const uint8_t seed[STRATA_AUTH_KEY_BYTES])
{
    memset(ac, 0, sizeof *ac);
    uint8_t s[STRATA_AUTH_KEY_BYTES];
    if (key_seed)
        memcpy(s, key_seed, sizeof s);
    else
        derive(s, seed, KEY_LABEL, sizeof KEY_LABEL - 1);
    strata_auth_keypair(ac->pk, ac->sk, s);
    derive(s, seed, INCARNATION_LABEL, sizeof INCARNATION_LABEL - 1);
    ac->incarnation = get32(s) ? get32(s) : 1u;
    sodium_memzero(s, sizeof s);
}

int strata_auth_center_join(strata_auth_center *ac, strata_auth_peer *known, strata_addr known_addr,
                            const uint8_t *buf, size_t len, strata_addr from, int *proven)
{
    strata_auth_trailer t;
    *proven = 0;
    ac->join_valid = 0;
    int rc = strata_auth_decode(buf, len, &t);
    if (rc < 0)
        return STRATA_ERR_AUTH;
    if (known && known->set) {
        /* A node id is bound to the key it was registered with. */
        if (memcmp(t.key, known->pk, STRATA_AUTH_KEY_BYTES) != 0)
            return STRATA_ERR_AUTH;
        if (strata_auth_window_fresh(&known->rx, t.seq) &&
            strata_auth_tag_ok(buf, len, known->keys.up))
            *proven = 1;
        else if (known->proven || !strata_addr_eq(from, known_addr))
            /* A retry of a first JOIN, sent before the node knew our key,
             * is taken only from where that JOIN came, and only until the
             * node proved its key once. */
            return STRATA_ERR_AUTH;
        if (*proven) {
            strata_auth_window_take(&known->rx, t.seq);
            known->proven = 1;
        }
        ac->join = *known;
    } else {
        /* A node we do not know: a fresh exchange under a new session. */
        memset(&ac->join, 0, sizeof ac->join);
        uint64_t session = (uint64_t)ac->incarnation << 32 | (uint64_t)(ac->registered + 1u);
        if (strata_auth_center_keys(&ac->join.keys, ac->pk, ac->sk, t.key, session) != 0)
            return STRATA_ERR_AUTH;
        ac->registered++;
        ac->join.set = 1;
        memcpy(ac->join.pk, t.key, STRATA_AUTH_KEY_BYTES);
    }
    ac->join_echo = t.seq;
    ac->join_valid = 1;
    return 0;
}

int strata_auth_center_seal_reply(strata_auth_center *ac, uint8_t *buf, size_t cap, size_t body_len)
{
    if (body_len > 20 && buf[20] == STRATA_JOIN_UNKNOWN)
        return (int)body_len;
    if (!ac->join_valid)
        return STRATA_ERR_INVAL;
    strata_auth_trailer t = {.body_len = body_len,
                             .key = ac->pk,
                             .session = ac->join.keys.session,
                             .echo = ac->join_echo};
    return strata_auth_encode(buf, cap, &t, ac->join.keys.down);
}

int strata_auth_center_open(strata_auth_peer *p, const uint8_t *buf, size_t len)
{
    strata_auth_trailer t;
    if (strata_auth_decode(buf, len, &t) < 0 || !t.tag || t.key)
        return STRATA_ERR_AUTH;
    if (!p->set || !strata_auth_window_fresh(&p->rx, t.seq) ||
        !strata_auth_tag_ok(buf, len, p->keys.up))
        return STRATA_ERR_AUTH;
    strata_auth_window_take(&p->rx, t.seq);
    p->proven = 1;
    return 0;
}

int strata_auth_center_seal(strata_auth_peer *p, uint8_t *buf, size_t cap, size_t body_len)
{
    if (!p->set)
        return STRATA_ERR_INVAL;
    strata_auth_trailer t = {
        .body_len = body_len, .session = p->keys.session, .seq = p->tx_seq + 1};
    int n = strata_auth_encode(buf, cap, &t, p->keys.down);
    if (n >= 0)
        p->tx_seq++;
    return n;
}
