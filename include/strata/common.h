/*
 * Shared vocabulary of the strata core: error codes, typed ids, addresses,
 * the allocator and log sink a host passes in, reference-counted buffers,
 * the outbox through which the core asks its host to send datagrams, and a
 * small deterministic random generator.
 *
 * Nothing here touches a socket, a clock, the environment or a global.
 */
#ifndef STRATA_COMMON_H
#define STRATA_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Errors: 0 is success; negative values fall in three bands so callers can
 * tell bad input (count and drop) from misuse of the API (a bug) and from
 * fatal conditions (out of memory). */
enum strata_err {
    STRATA_OK = 0,
    /* -1..-99: malformed or hostile input; counted and dropped */
    STRATA_ERR_SHORT = -1,      /* input ends before a field */
    STRATA_ERR_LONG = -2,       /* bytes left over after the message */
    STRATA_ERR_MAGIC = -3,      /* not a strata datagram */
    STRATA_ERR_VERSION = -4,    /* protocol version we do not speak */
    STRATA_ERR_TYPE = -5,       /* unknown message type */
    STRATA_ERR_RANGE = -6,      /* a field is outside its allowed range */
    STRATA_ERR_UNEXPECTED = -7, /* well-formed but not valid in this state */
    STRATA_ERR_FORGED = -8,     /* a signature or a signed hash does not match (P3) */
    STRATA_ERR_UNVERIFIED = -9, /* no signed manifest vouched for it in time (P3) */
    STRATA_ERR_SENDER = -10,    /* not from a node this one takes it from (issue 13, item 4) */
    STRATA_ERR_LIMIT = -11,     /* over a rate limit (JOINs per address prefix) */
    STRATA_ERR_DENIED = -12,    /* a JOIN without a valid access token (strata/token.h) */
    STRATA_ERR_AUTH = -13,      /* not proven by the sender's session key, or a replay (core/auth.h) */
    /* -100..-199: state and usage errors */
    STRATA_ERR_INVAL = -100,   /* bad argument from the caller */
    STRATA_ERR_NOSPACE = -101, /* output buffer or table too small */
    STRATA_ERR_NOTFOUND = -102,
    STRATA_ERR_EXISTS = -103,
    STRATA_ERR_FULL = -104,    /* a bounded queue or table is full */
    STRATA_ERR_TOO_FEW = -105, /* fewer pieces than needed (an erasure code's k) */
    /* -200..: fatal */
    STRATA_ERR_NOMEM = -200,
};

/* Returns a static English description of an error code. */
const char *strata_strerror(int err);

/* True when err belongs to the malformed-input band. */
static inline int strata_err_is_input(int err)
{
    return err <= -1 && err >= -99;
}

/* Typed ids: one-member structs so that the compiler refuses to take one
 * kind of id for another. Zero means "none" for every kind. */
typedef struct strata_node_id {
    uint64_t v;
} strata_node_id;
typedef struct strata_channel_id {
    uint64_t v;
} strata_channel_id;
typedef struct strata_dcm_id {
    uint32_t v;
} strata_dcm_id;
typedef struct strata_group_id {
    uint64_t v;
} strata_group_id;

/* Channel ids are the 64-bit FNV-1a hash of the channel name, so every
 * party computes the same id without asking anyone. Never returns 0. */
strata_channel_id strata_channel_id_from_name(const char *name, size_t namelen);

/* A transport address as a plain value. The daemons store an IPv4 address
 * (host byte order) and a UDP port; the simulator numbers nodes freely. */
typedef struct strata_addr {
    uint32_t ipv4;
    uint16_t port;
} strata_addr;

static inline int strata_addr_eq(strata_addr a, strata_addr b)
{
    return a.ipv4 == b.ipv4 && a.port == b.port;
}
static inline int strata_addr_is_zero(strata_addr a)
{
    return a.ipv4 == 0 && a.port == 0;
}

/* Formats "a.b.c.d:port" into buf (at least 22 bytes); returns buf. */
char *strata_addr_format(strata_addr a, char *buf, size_t buflen);

/* Time is always uint64_t nanoseconds on the host's monotonic clock (or the
 * simulator's virtual clock). STRATA_NEVER means "no deadline". */
#define STRATA_NEVER UINT64_MAX
#define STRATA_MS(x) ((uint64_t)(x)*1000000ull)
#define STRATA_S(x) ((uint64_t)(x)*1000000000ull)

/* Allocator passed to every constructor; NULL means libc. */
typedef struct strata_alloc {
    void *(*alloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
} strata_alloc;

void *strata_mem_alloc(const strata_alloc *a, size_t size);
void *strata_mem_calloc(const strata_alloc *a, size_t n, size_t size);
void *strata_mem_realloc(const strata_alloc *a, void *ptr, size_t size);
void strata_mem_free(const strata_alloc *a, void *ptr);

/* Log sink. Levels follow syslog order. The core formats the line and hands
 * it over; the host decides where it goes. */
enum strata_log_level {
    STRATA_LOG_ERROR = 3,
    STRATA_LOG_WARN = 4,
    STRATA_LOG_INFO = 6,
    STRATA_LOG_DEBUG = 7,
};
typedef struct strata_log {
    void (*write)(void *user, int level, const char *line);
    void *user;
    int max_level; /* lines above this level are not even formatted */
} strata_log;

#if defined(__GNUC__)
#define STRATA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define STRATA_PRINTF(a, b)
#endif

/* Formats and writes one log line if log is set and level <= max_level. */
void strata_logf(const strata_log *log, int level, const char *fmt, ...) STRATA_PRINTF(3, 4);

/* A reference-counted byte buffer: one encoded datagram relayed to many
 * children is one strata_buf referenced by many outbox entries. */
typedef struct strata_buf {
    uint32_t refs;
    uint32_t len;
    const strata_alloc *alloc;
    uint8_t data[];
} strata_buf;

/* Allocates a buffer of capacity bytes with one reference and len 0. */
strata_buf *strata_buf_new(const strata_alloc *a, size_t capacity);
/* A new buffer holding a copy of len bytes, one reference; NULL when out of
 * memory or len is above UINT32_MAX. */
strata_buf *strata_buf_copy(const strata_alloc *a, const uint8_t *data, size_t len);
static inline strata_buf *strata_buf_ref(strata_buf *b)
{
    b->refs++;
    return b;
}
void strata_buf_unref(strata_buf *b);

/* The outbox: datagrams the core wants sent, in order. The host drains it
 * after every call into the core. Bounded by max: when full, push drops the
 * datagram and counts it, like a full socket buffer would. Its ring starts
 * small and doubles as bursts need, up to max, so a node that never sends
 * a burst (most simulated peers) never pays for room it does not use. */
typedef struct strata_datagram {
    strata_addr to;
    strata_buf *buf; /* one reference owned by the entry */
} strata_datagram;

typedef struct strata_outbox {
    strata_datagram *items;
    size_t cap, head, count; /* cap: slots allocated now, <= max */
    size_t max;
    uint64_t dropped;
    const strata_alloc *alloc;
} strata_outbox;

int strata_outbox_init(strata_outbox *ob, const strata_alloc *a, size_t cap);
void strata_outbox_free(strata_outbox *ob);
/* Queues buf for to, taking a new reference; returns 0 or STRATA_ERR_FULL. */
int strata_outbox_push(strata_outbox *ob, strata_addr to, strata_buf *buf);
/* Copies len encoded bytes into a new buffer and queues it; a negative len
 * (an encoder's error) is returned as it is. Returns 0, that error,
 * STRATA_ERR_NOMEM or STRATA_ERR_FULL. */
int strata_outbox_push_bytes(strata_outbox *ob, strata_addr to, const uint8_t *data, int len);
/* Moves the oldest datagram into *out (caller then owns its reference);
 * returns 1 if one was taken, 0 if the outbox was empty. */
int strata_outbox_pop(strata_outbox *ob, strata_datagram *out);

/* Deterministic random numbers (xoshiro256**), seeded by the host. */
typedef struct strata_rng {
    uint64_t s[4];
} strata_rng;
void strata_rng_seed(strata_rng *r, uint64_t seed);
uint64_t strata_rng_next(strata_rng *r);
/* Uniform in [0, bound) without modulo bias; bound 0 returns 0. */
uint64_t strata_rng_below(strata_rng *r, uint64_t bound);
/* Uniform double in [0, 1). */
double strata_rng_unit(strata_rng *r);
/* Up to k distinct indices of [0, n) other than skip (skip >= n: none) into
 * out: every one, in order, when n <= k; otherwise k drawn uniformly by
 * rejection (O(k) draws expected while k is small against n). Returns how
 * many. The control center's bootstrap and the simulator's draw alike
 * through this, so the same seed hands out the same leaders. */
size_t strata_rng_pick(strata_rng *r, size_t n, size_t k, size_t skip, size_t *out);

#endif
