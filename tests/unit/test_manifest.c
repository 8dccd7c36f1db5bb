/*
 * Signed streams (core/manifest.c, core/signer.c, core/verify.c): the
 * codec of MANIFEST, MANIFEST_REQUEST and PARITY_HASHES with every length
 * and range check, signatures, the source's signer with parity, and the
 * verifier's judgement: vouched for, tampered packet, tampered parity,
 * missing manifest (a bounded wait, then a counted drop), late joiner,
 * end of stream signed and forged.
 */
#include "pktstore.h"
#include "signer.h"
#include "testutil.h"
#include "verify.h"

#include "strata/fec.h"
#include "strata/manifest.h"

#include <sodium.h>

#define MS(x) STRATA_MS(x)
enum { K = 4, NP = 2, PAYLOAD = 200 };

static uint8_t PK[crypto_sign_PUBLICKEYBYTES], SK[crypto_sign_SECRETKEYBYTES];
static uint8_t OTHER_PK[crypto_sign_PUBLICKEYBYTES], OTHER_SK[crypto_sign_SECRETKEYBYTES];

static const strata_addr NOBODY = {0, 0};

static strata_channel_id chan(void)
{
    return strata_channel_id_from_name("signed", 6);
}

static void keys(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 7, sizeof seed);
    crypto_sign_seed_keypair(PK, SK, seed);
    memset(seed, 8, sizeof seed);
    crypto_sign_seed_keypair(OTHER_PK, OTHER_SK, seed);
}

/* --- codec ---------------------------------------------------------------- */

static void test_manifest_codec(void)
{
    uint8_t hashes[3 * STRATA_MANIFEST_HASH_BYTES], digests[2 * STRATA_MANIFEST_HASH_BYTES];
    uint8_t sig[STRATA_MANIFEST_SIG_BYTES];
    for (size_t i = 0; i < sizeof hashes; i++)
        hashes[i] = (uint8_t)i;
    memset(digests, 0xdd, sizeof digests);
    memset(sig, 0x55, sizeof sig);
    strata_msg_manifest m = {chan(), 128, 3, 0, K, 2, hashes, digests, sig};
    uint8_t b[STRATA_MANIFEST_MAX_BYTES];
    int n = strata_manifest_encode(b, sizeof b, &m);
    CHECK_EQ_INT(n, 24 + 10 * 5 + 64);
    strata_msg_manifest d;
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), n);
    CHECK_EQ_U64(d.first_seq, 128);
    CHECK_EQ_INT(d.count, 3);
    CHECK_EQ_INT(d.k, K);
    CHECK_EQ_INT(d.n_parity, 2);
    CHECK_EQ_MEM(d.hashes, hashes, sizeof hashes);
    CHECK_EQ_MEM(d.digests, digests, sizeof digests);
    CHECK_EQ_MEM(d.sig, sig, sizeof sig);
    /* Every cut is short, a byte more is long. */
    for (int cut = 0; cut < n; cut++)
        CHECK(strata_manifest_decode(b, (size_t)cut, &d) < 0);
    CHECK_EQ_INT(strata_manifest_decode(b, 20, &d), STRATA_ERR_SHORT);
    b[n] = 0;
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n + 1, &d), STRATA_ERR_LONG);
    CHECK_EQ_INT(strata_manifest_encode(b, (size_t)n - 1, &m), STRATA_ERR_NOSPACE);
    /* Ranges: each rule of protocol.md 3.11.1, both ways. */
    strata_msg_manifest bad = m;
    bad.channel.v = 0;
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.count = STRATA_MANIFEST_MAX_PACKETS + 1;
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.count = 0; /* only with EOS */
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad.flags = STRATA_MANIFEST_FLAG_EOS;
    CHECK(strata_manifest_encode(b, sizeof b, &bad) > 0);
    bad = m;
    bad.flags = 0x02;
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.k = 0; /* parity digests need a k */
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.n_parity = 0; /* and a k needs digests */
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.n_parity = STRATA_WIRE_MAX_PARITY + 1;
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.first_seq = UINT64_MAX - 1; /* the covered seqs would wrap */
    CHECK_EQ_INT(strata_manifest_encode(b, sizeof b, &bad), STRATA_ERR_INVAL);
    /* The decoder refuses the same, reading bytes the encoder would not
     * write: patch a valid encoding. */
    n = strata_manifest_encode(b, sizeof b, &m);
    b[20] = STRATA_MANIFEST_MAX_PACKETS + 1; /* count, checked as soon as read */
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), STRATA_ERR_RANGE);
    n = strata_manifest_encode(b, sizeof b, &m);
    b[23] = 9; /* n_parity */
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), STRATA_ERR_RANGE);
    n = strata_manifest_encode(b, sizeof b, &m);
    b[22] = 0; /* k 0 with digests */
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), STRATA_ERR_RANGE);
    n = strata_manifest_encode(b, sizeof b, &m);
    b[21] = 0x80; /* unknown flag */
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), STRATA_ERR_RANGE);
    n = strata_manifest_encode(b, sizeof b, &m);
    b[3] = STRATA_MSG_DATA;
    CHECK_EQ_INT(strata_manifest_decode(b, (size_t)n, &d), STRATA_ERR_TYPE);
    /* The largest manifest fits a datagram. */
    CHECK((int)STRATA_MANIFEST_MAX_BYTES <= (int)STRATA_WIRE_MAX_DATAGRAM_BYTES);
    strata_channel_id c;
    n = strata_manifest_encode(b, sizeof b, &m);
    CHECK_EQ_INT(strata_wire_peek_channel(b, (size_t)n, &c), STRATA_MSG_MANIFEST);
    CHECK_EQ_U64(c.v, chan().v);
}

static void test_request_codec(void)
{
    strata_msg_manifest_request m = {{0x77}, chan(), 1234, 2}, d;
    uint8_t b[64];
    int n = strata_manifest_encode_request(b, sizeof b, &m);
    CHECK_EQ_INT(n, STRATA_MANIFEST_REQUEST_BYTES);
    CHECK_EQ_INT(strata_manifest_decode_request(b, (size_t)n, &d), n);
    CHECK_EQ_U64(d.node.v, 0x77);
    CHECK_EQ_U64(d.seq, 1234);
    CHECK_EQ_INT(d.part, 2);
    for (int cut = 0; cut < n; cut++)
        CHECK(strata_manifest_decode_request(b, (size_t)cut, &d) < 0);
    b[n] = 0;
    CHECK_EQ_INT(strata_manifest_decode_request(b, (size_t)n + 1, &d), STRATA_ERR_LONG);
    CHECK_EQ_INT(strata_manifest_encode_request(b, (size_t)n - 1, &m), STRATA_ERR_NOSPACE);
    strata_msg_manifest_request bad = m;
    bad.part = STRATA_MANIFEST_PART_MAX + 1;
    CHECK_EQ_INT(strata_manifest_encode_request(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.node.v = 0;
    CHECK_EQ_INT(strata_manifest_encode_request(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.channel.v = 0;
    CHECK_EQ_INT(strata_manifest_encode_request(b, sizeof b, &bad), STRATA_ERR_INVAL);
    n = strata_manifest_encode_request(b, sizeof b, &m);
    b[28] = STRATA_MANIFEST_PART_MAX + 1;
    CHECK_EQ_INT(strata_manifest_decode_request(b, (size_t)n, &d), STRATA_ERR_RANGE);
    strata_channel_id c;
    n = strata_manifest_encode_request(b, sizeof b, &m);
    CHECK_EQ_INT(strata_wire_peek_channel(b, (size_t)n, &c), STRATA_MSG_MANIFEST_REQUEST);
    CHECK_EQ_U64(c.v, chan().v);
}

static void test_parity_codec(void)
{
    CHECK_EQ_INT(strata_manifest_groups(0, 64, 4), 16);
    CHECK_EQ_INT(strata_manifest_groups(2, 3, 4), 1); /* holds the end of group 0 (seq 3) */
    CHECK_EQ_INT(strata_manifest_groups(4, 3, 4), 0); /* 4..6: group 1 ends at 7 */
    CHECK_EQ_INT(strata_manifest_groups(0, 64, 3), 21);
    uint8_t h[2 * STRATA_MANIFEST_HASH_BYTES];
    memset(h, 0x33, sizeof h);
    strata_msg_parity_hashes m = {chan(), 6, 4, 4, 1, 2, h},
                             d;                            /* 6..9: groups 1 (4..7), 2 (8..11)? */
    m.n_groups = (uint8_t)strata_manifest_groups(6, 4, 4); /* only group 1 ends inside */
    CHECK_EQ_INT(m.n_groups, 1);
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_manifest_encode_parity(b, sizeof b, &m);
    CHECK_EQ_INT(n, STRATA_PARITY_HASHES_FIXED_BYTES + STRATA_MANIFEST_HASH_BYTES);
    CHECK_EQ_INT(strata_manifest_decode_parity(b, (size_t)n, &d), n);
    CHECK_EQ_INT(d.index, 1);
    for (int cut = 0; cut < n; cut++)
        CHECK(strata_manifest_decode_parity(b, (size_t)cut, &d) < 0);
    b[n] = 0;
    CHECK_EQ_INT(strata_manifest_decode_parity(b, (size_t)n + 1, &d), STRATA_ERR_LONG);
    CHECK_EQ_INT(strata_manifest_encode_parity(b, (size_t)n - 1, &m), STRATA_ERR_NOSPACE);
    strata_msg_parity_hashes bad = m;
    bad.n_groups = 2; /* not what the range holds */
    CHECK_EQ_INT(strata_manifest_encode_parity(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.k = 0;
    CHECK_EQ_INT(strata_manifest_encode_parity(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.index = STRATA_WIRE_MAX_PARITY;
    CHECK_EQ_INT(strata_manifest_encode_parity(b, sizeof b, &bad), STRATA_ERR_INVAL);
    bad = m;
    bad.count = STRATA_MANIFEST_MAX_PACKETS + 1;
    CHECK_EQ_INT(strata_manifest_encode_parity(b, sizeof b, &bad), STRATA_ERR_INVAL);
    n = strata_manifest_encode_parity(b, sizeof b, &m);
    b[23] = 5; /* n_groups announces more hashes than the range has groups */
    CHECK_EQ_INT(strata_manifest_decode_parity(b, sizeof b, &d), STRATA_ERR_RANGE);
}

/* --- a signed stream ----------------------------------------------------- */

typedef struct stream {
    strata_pktstore store;
    strata_signer signer;
    uint64_t next_seq;
    /* every manifest made, and the hash lists of the last one */
    uint8_t manifests[8][STRATA_MANIFEST_MAX_BYTES];
    size_t manifest_len[8];
    size_t n_manifests;
} stream;

static void payload_of(uint64_t seq, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seq * 31u + i);
}

static strata_msg_data data_msg(uint64_t seq, uint8_t *pay, size_t len)
{
    payload_of(seq, pay, len);
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = chan();
    m.seq = seq;
    m.substream = (uint8_t)(seq % K);
    m.send_ts_ns = MS(seq);
    m.payload_len = (uint16_t)len;
    m.payload = pay;
    return m;
}

static void keep_manifest(stream *s, const strata_manifest_entry *e)
{
    CHECK(e != NULL);
    if (!e || s->n_manifests == 8)
        return;
    memcpy(s->manifests[s->n_manifests], e->buf->data, e->buf->len);
    s->manifest_len[s->n_manifests++] = e->buf->len;
}

/* Emits packets up to (not including) `until`, as the source does. */
static void emit(stream *s, uint64_t until, uint64_t now)
{
    uint8_t pay[PAYLOAD];
    for (; s->next_seq < until; s->next_seq++) {
        strata_msg_data m = data_msg(s->next_seq, pay, PAYLOAD - (s->next_seq % 5));
        const strata_pktstore_entry *e;
        CHECK_EQ_INT(strata_pktstore_put_data(&s->store, &m, &e), 0);
        int full = strata_signer_add(&s->signer, &m, &s->store, K, now);
        CHECK(full >= 0);
        if (full > 0) {
            int err;
            keep_manifest(s, strata_signer_close(&s->signer, 0, s->next_seq + 1, &err));
        }
    }
}

static void stream_init(stream *s)
{
    memset(s, 0, sizeof *s);
    CHECK_EQ_INT(strata_pktstore_init(&s->store, NULL, 1024), 0);
    CHECK_EQ_INT(strata_signer_init(&s->signer, NULL, chan(), SK, NP, 200, 32, NULL), 0);
}

static void stream_free(stream *s)
{
    strata_signer_free(&s->signer);
    strata_pktstore_free(&s->store);
}

static void test_sign_and_verify(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 64, MS(1));
    CHECK_EQ_INT(s.n_manifests, 1);
    uint8_t *mb = s.manifests[0];
    size_t ml = s.manifest_len[0];
    CHECK_EQ_INT(ml, 24 + 10 * (64 + NP) + 64);
    CHECK_EQ_INT(strata_manifest_verify(mb, ml, PK), 0);
    CHECK_EQ_INT(strata_manifest_verify(mb, ml, OTHER_PK), STRATA_ERR_FORGED);
    /* Any byte changed breaks the signature, signature bytes included. */
    for (size_t i = 0; i < ml; i += 7) {
        mb[i] ^= 0x01;
        CHECK_EQ_INT(strata_manifest_verify(mb, ml, PK), STRATA_ERR_FORGED);
        mb[i] ^= 0x01;
    }
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, PK, 16, 64, MS(1500), MS(300), MS(150)), 0);
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_verify_manifest(&v, mb, ml, &e), 0);
    CHECK_EQ_INT(strata_verify_manifest(&v, mb, ml, &e), STRATA_ERR_EXISTS);
    /* One signed by another key is forged, even for a new batch. */
    mb[13] ^= 0x40; /* first_seq */
    CHECK_EQ_INT(strata_verify_manifest(&v, mb, ml, &e), STRATA_ERR_FORGED);
    mb[13] ^= 0x40;
    uint8_t pay[PAYLOAD], db[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_addr from = {1, 2};
    for (uint64_t seq = 0; seq < 64; seq++) {
        strata_msg_data m = data_msg(seq, pay, PAYLOAD - (seq % 5));
        int n = strata_wire_encode_data(db, sizeof db, &m);
        CHECK_EQ_INT(strata_verify_packet(&v, &m, K, db, (size_t)n, from, MS(2)), STRATA_VERIFY_OK);
        /* The send time and the REPAIR flag are not bound. */
        m.send_ts_ns += 5;
        m.flags = STRATA_DATA_FLAG_REPAIR;
        CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &m, K), STRATA_MANIFEST_OK);
        /* A payload byte changed, or a payload cut short, is forged. */
        pay[seq % 50] ^= 0x80;
        CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &m, K), STRATA_MANIFEST_FORGED);
        pay[seq % 50] ^= 0x80;
        m.payload_len--;
        CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &m, K), STRATA_MANIFEST_FORGED);
    }
    /* A packet of a batch not signed yet waits. */
    strata_msg_data later = data_msg(64, pay, 10);
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &later, K), STRATA_MANIFEST_UNKNOWN);
    strata_verify_free(&v);
    stream_free(&s);
}

/* What a verifier released, in order. */
typedef struct taken {
    size_t n;
    uint64_t seq[256];
    uint8_t sub[256];
} taken;

static void take(void *user, const uint8_t *buf, size_t len, strata_addr from, uint64_t now)
{
    taken *t = user;
    strata_msg_data m;
    CHECK_EQ_INT(strata_wire_decode_data(buf, len, &m), (int)len);
    if (t->n < 256) {
        t->seq[t->n] = m.seq;
        t->sub[t->n++] = m.substream;
    }
    (void)from;
    (void)now;
}

/* Parity symbol i of group g, as a cluster node makes it, in SYM. */
static uint8_t SYM[STRATA_FEC_MAX_SYMBOL_BYTES];
static int parity_datagram(const stream *s, strata_fec_encoder *enc, uint64_t g, unsigned i,
                           uint8_t *out, size_t cap, strata_msg_data *m)
{
    const uint8_t *data[K];
    size_t len[K];
    for (unsigned j = 0; j < K; j++) {
        const strata_pktstore_entry *e = strata_pktstore_get(&s->store, g * K + j);
        data[j] = e->buf->data + e->payload_off;
        len[j] = e->payload_len;
    }
    uint8_t *outs[1] = {SYM};
    int n = strata_fec_encode(enc, K, data, len, i, 1, outs, sizeof SYM);
    memset(m, 0, sizeof *m);
    m->channel = chan();
    m->seq = g * K;
    m->substream = (uint8_t)(K + i);
    m->flags = STRATA_DATA_FLAG_PARITY;
    m->payload_len = (uint16_t)n;
    m->payload = SYM;
    return strata_wire_encode_data(out, cap, m);
}

static void test_parity(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 64, MS(1));
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, PK, 16, 64, MS(1500), MS(300), MS(150)), 0);
    /* A list that outruns its manifest is kept (once) until it comes. */
    strata_msg_manifest_request early_req = {{9}, chan(), 0, 1};
    strata_buf *early = strata_manifest_store_answer(&s.signer.store, &early_req);
    unsigned early_index;
    strata_addr early_from = {7, 7};
    CHECK_EQ_INT(
        strata_verify_parity_list(&v, early->data, early->len, K, early_from, &early_index),
        STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(
        strata_verify_parity_list(&v, early->data, early->len, K, early_from, &early_index),
        STRATA_VERIFY_WAITING);
    strata_verify_early got;
    CHECK_EQ_INT(strata_verify_take_early(&v, 64, 64, &got), 0);
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[0], s.manifest_len[0], &e), 0);
    CHECK_EQ_INT(strata_verify_take_early(&v, 0, 64, &got), 1);
    CHECK(strata_addr_eq(got.from, early_from));
    CHECK_EQ_INT(strata_verify_take_early(&v, 0, 64, &got), 0); /* kept once */
    CHECK_EQ_INT(
        strata_verify_parity_list(&v, got.buf->data, got.buf->len, K, got.from, &early_index), 0);
    CHECK_EQ_INT(early_index, 0);
    strata_buf_unref(got.buf);
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    uint8_t pb[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_msg_data pm;
    int pn = parity_datagram(&s, enc, 3, 1, pb, sizeof pb, &pm);
    CHECK(pn > 0);
    strata_addr from = {1, 2};
    /* The manifest is held, its list of index 1 not yet: the symbol waits
     * for it (saying so: it may rebuild already), and asks for part 2. */
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_NO_LIST);
    CHECK_EQ_INT(strata_verify_packet(&v, &pm, K, pb, (size_t)pn, from, MS(10)),
                 STRATA_VERIFY_WAITING_LIST);
    CHECK_EQ_INT(v.items[0].part, 2);
    /* The signer kept the lists; a wrong one is forged, the right one
     * releases the symbol. */
    strata_msg_manifest_request req = {{9}, chan(), 0, 2};
    strata_buf *list = strata_manifest_store_answer(&s.signer.store, &req);
    CHECK(list != NULL);
    uint8_t lb[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    memcpy(lb, list->data, list->len);
    lb[30] ^= 1;
    unsigned index = 99;
    CHECK_EQ_INT(strata_verify_parity_list(&v, lb, list->len, K, NOBODY, &index),
                 STRATA_ERR_FORGED);
    CHECK_EQ_INT(strata_verify_parity_list(&v, list->data, list->len, 3, NOBODY, &index),
                 STRATA_ERR_UNEXPECTED); /* another k */
    CHECK_EQ_INT(strata_verify_parity_list(&v, list->data, list->len, K, NOBODY, &index), 0);
    CHECK_EQ_INT(index, 1);
    uint64_t forged = 0;
    taken t = {0};
    CHECK_EQ_INT(strata_verify_release(&v, K, take, &t, MS(20), &forged), 1);
    CHECK_EQ_INT(forged, 0);
    CHECK_EQ_INT(t.n, 1);
    CHECK_EQ_U64(t.seq[0], 12);
    CHECK_EQ_INT(v.n, 0);
    /* Every group's symbols 0 and 1 are vouched for; a changed byte, or a
     * symbol index the source did not sign, is forged. */
    for (uint64_t g = 0; g < 16; g++) {
        for (unsigned i = 0; i < NP; i++) {
            if (i == 0) {
                req.part = 1;
                list = strata_manifest_store_answer(&s.signer.store, &req);
                strata_verify_parity_list(&v, list->data, list->len, K, NOBODY, &index);
            }
            pn = parity_datagram(&s, enc, g, i, pb, sizeof pb, &pm);
            CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_OK);
            SYM[g] ^= 4;
            CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_FORGED);
        }
    }
    pn = parity_datagram(&s, enc, 2, NP, pb, sizeof pb, &pm);
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_FORGED);
    pm.seq = 9; /* not a group's first seq */
    pm.substream = K;
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_FORGED);
    strata_verify_free(&v);
    strata_fec_encoder_del(enc);
    stream_free(&s);
}

/* Asks made by a verifier. */
typedef struct asked {
    size_t n;
    uint64_t seq[16];
    uint8_t part[16];
} asked;

static void on_ask(void *user, uint64_t seq, uint8_t part, uint32_t asks)
{
    asked *a = user;
    if (a->n < 16) {
        a->seq[a->n] = seq;
        a->part[a->n++] = part;
    }
    (void)asks;
}

static int feed_packet(strata_verify *v, uint64_t seq, size_t len, uint64_t now)
{
    uint8_t pay[PAYLOAD], db[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_msg_data m = data_msg(seq, pay, len);
    int n = strata_wire_encode_data(db, sizeof db, &m);
    strata_addr from = {3, 4};
    return strata_verify_packet(v, &m, K, db, (size_t)n, from, now);
}

/* A late joiner: its first packets come before any manifest it holds.
 * They wait, ask after ask_after, are released in seq order when the
 * manifest comes; what no manifest vouches for is dropped at the bounded
 * wait. */
static void test_waiting(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 128, MS(1));
    CHECK_EQ_INT(s.n_manifests, 2);
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, PK, 16, 8, MS(1500), MS(300), MS(150)), 0);
    /* Arrival order: 70, 66, 65 (batch 64..127), then a forgery of 67 and
     * the real 67, then 5 (batch 0..63, whose manifest never comes). */
    CHECK_EQ_INT(feed_packet(&v, 70, PAYLOAD - 0, MS(100)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(feed_packet(&v, 66, PAYLOAD - 1, MS(100)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(feed_packet(&v, 66, PAYLOAD - 1, MS(101)), STRATA_VERIFY_DUPLICATE);
    CHECK_EQ_INT(feed_packet(&v, 65, PAYLOAD - 0, MS(102)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(feed_packet(&v, 67, 7, MS(103)), STRATA_VERIFY_WAITING); /* forged */
    CHECK_EQ_INT(feed_packet(&v, 67, PAYLOAD - 2, MS(104)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(feed_packet(&v, 67, 9, MS(105)), STRATA_ERR_UNVERIFIED); /* a third candidate */
    CHECK_EQ_INT(feed_packet(&v, 5, PAYLOAD - 0, MS(200)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(v.n, 6);
    /* Nothing to ask before ask_after; then one ask per batch. */
    asked a = {0};
    CHECK_EQ_U64(strata_verify_next_timeout(&v), MS(400));
    strata_verify_asks(&v, MS(399), on_ask, &a);
    CHECK_EQ_INT(a.n, 0);
    strata_verify_asks(&v, MS(405), on_ask, &a);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(a.part[0], STRATA_MANIFEST_PART_MANIFEST);
    CHECK(a.seq[0] >= 64 && a.seq[0] < 128);
    strata_verify_asks(&v, MS(500), on_ask, &a);
    CHECK_EQ_INT(a.n, 2); /* seq 5's */
    CHECK_EQ_U64(a.seq[1], 5);
    /* The manifest of 64..127 comes: 65, 66, 67 (the real one), 70 go in
     * order, the forgery of 67 is counted. */
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[1], s.manifest_len[1], &e), 0);
    taken t = {0};
    uint64_t forged = 0;
    CHECK_EQ_INT(strata_verify_release(&v, K, take, &t, MS(600), &forged), 4);
    CHECK_EQ_INT(forged, 1);
    CHECK_EQ_INT(t.n, 4);
    CHECK_EQ_U64(t.seq[0], 65);
    CHECK_EQ_U64(t.seq[1], 66);
    CHECK_EQ_U64(t.seq[2], 67);
    CHECK_EQ_U64(t.seq[3], 70);
    CHECK_EQ_INT(v.n, 1);
    /* Seq 5 waits until its bounded wait, then is dropped. */
    CHECK_EQ_U64(strata_verify_next_timeout(&v) <= MS(1700), 1);
    CHECK_EQ_INT(strata_verify_expire(&v, MS(1699)), 0);
    CHECK_EQ_INT(strata_verify_expire(&v, MS(1700)), 1);
    CHECK_EQ_INT(v.n, 0);
    CHECK_EQ_U64(strata_verify_next_timeout(&v), STRATA_NEVER);
    /* The room is bounded: 8 packets wait, the ninth is dropped. */
    for (uint64_t q = 200; q < 208; q++)
        CHECK_EQ_INT(feed_packet(&v, q, 10, MS(2000)), STRATA_VERIFY_WAITING);
    CHECK_EQ_INT(feed_packet(&v, 208, 10, MS(2000)), STRATA_ERR_UNVERIFIED);
    strata_verify_free(&v);
    stream_free(&s);
}

/* The end of the stream is signed: the EOS marker at the signed end is
 * vouched for, one anywhere else is forged, and so is a packet after the
 * end; before any manifest says, an EOS marker waits. */
static void test_eos(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 70, MS(1));
    int err;
    keep_manifest(&s, strata_signer_close(&s.signer, 1, 70, &err));
    CHECK_EQ_INT(s.n_manifests, 2);
    strata_msg_manifest last;
    CHECK(strata_manifest_decode(s.manifests[1], s.manifest_len[1], &last) > 0);
    CHECK_EQ_U64(last.first_seq, 64);
    CHECK_EQ_INT(last.count, 6);
    CHECK(last.flags & STRATA_MANIFEST_FLAG_EOS);
    CHECK_EQ_INT(last.n_parity, NP); /* group 64..67 ends inside */
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, PK, 16, 8, MS(1500), MS(300), MS(150)), 0);
    strata_msg_data eos;
    memset(&eos, 0, sizeof eos);
    eos.channel = chan();
    eos.flags = STRATA_DATA_FLAG_EOS;
    eos.seq = 40;
    eos.substream = 0;
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_UNKNOWN);
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[0], s.manifest_len[0], &e), 0);
    /* 0..63 are signed data: an EOS at 40 is forged; at 64 it waits. */
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_FORGED);
    eos.seq = 64;
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_UNKNOWN);
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[1], s.manifest_len[1], &e), 0);
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_FORGED);
    eos.seq = 70;
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_OK);
    eos.seq = 71;
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &eos, K), STRATA_MANIFEST_FORGED);
    uint8_t pay[PAYLOAD];
    strata_msg_data after = data_msg(75, pay, 30);
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &after, K), STRATA_MANIFEST_FORGED);
    /* A request for the end is answered with the manifest that says it. */
    strata_msg_manifest_request req = {{9}, chan(), 70, 0};
    strata_buf *b = strata_manifest_store_answer(&s.signer.store, &req);
    CHECK(b != NULL && b->len == s.manifest_len[1]);
    strata_verify_free(&v);
    /* A stream that ends on a batch's edge ends with an empty manifest. */
    keep_manifest(&s, strata_signer_close(&s.signer, 1, 70, &err));
    stream_free(&s);
    stream_init(&s);
    emit(&s, 64, MS(1));
    keep_manifest(&s, strata_signer_close(&s.signer, 1, 64, &err));
    CHECK(strata_manifest_decode(s.manifests[1], s.manifest_len[1], &last) > 0);
    CHECK_EQ_INT(last.count, 0);
    CHECK_EQ_INT(last.n_parity, 0);
    CHECK_EQ_U64(last.first_seq, 64);
    CHECK_EQ_INT(strata_manifest_verify(s.manifests[1], s.manifest_len[1], PK), 0);
    stream_free(&s);
}

/* A batch closes when its clock runs out, at any seq; the parity of a
 * group split between two batches is in the second. */
static void test_batch_clock(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 6, MS(1));
    CHECK_EQ_U64(strata_signer_deadline(&s.signer), MS(201));
    int err;
    keep_manifest(&s, strata_signer_close(&s.signer, 0, 6, &err));
    CHECK_EQ_U64(strata_signer_deadline(&s.signer), STRATA_NEVER);
    CHECK(strata_signer_close(&s.signer, 0, 6, &err) == NULL && err == 0);
    emit(&s, 10, MS(300));
    keep_manifest(&s, strata_signer_close(&s.signer, 0, 10, &err));
    strata_msg_manifest a, b;
    CHECK(strata_manifest_decode(s.manifests[0], s.manifest_len[0], &a) > 0);
    CHECK(strata_manifest_decode(s.manifests[1], s.manifest_len[1], &b) > 0);
    CHECK_EQ_INT(a.count, 6);
    CHECK_EQ_U64(b.first_seq, 6);
    CHECK_EQ_INT(b.count, 4);
    strata_msg_manifest_request req = {{9}, chan(), 7, 1};
    strata_buf *list = strata_manifest_store_answer(&s.signer.store, &req);
    strata_msg_parity_hashes ph;
    CHECK(list && strata_manifest_decode_parity(list->data, list->len, &ph) > 0);
    CHECK_EQ_INT(ph.n_groups, 1); /* group 4..7 */
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, PK, 16, 8, MS(1500), MS(300), MS(150)), 0);
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[0], s.manifest_len[0], &e), 0);
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[1], s.manifest_len[1], &e), 0);
    unsigned index;
    CHECK_EQ_INT(strata_verify_parity_list(&v, list->data, list->len, K, NOBODY, &index), 0);
    strata_fec_encoder *enc = strata_fec_encoder_new(NULL);
    uint8_t pb[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_msg_data pm;
    parity_datagram(&s, enc, 1, 0, pb, sizeof pb, &pm);
    CHECK_EQ_INT(strata_manifest_store_judge(&v.store, &pm, K), STRATA_MANIFEST_OK);
    strata_fec_encoder_del(enc);
    strata_verify_free(&v);
    stream_free(&s);
}

/* A keyless verifier keeps manifests unchecked (to relay them). */
static void test_keyless(void)
{
    stream s;
    stream_init(&s);
    emit(&s, 64, MS(1));
    strata_verify v;
    CHECK_EQ_INT(strata_verify_init(&v, NULL, NULL, 4, 8, MS(1500), MS(300), MS(150)), 0);
    s.manifests[0][40] ^= 1; /* no key: nobody notices */
    const strata_manifest_entry *e;
    CHECK_EQ_INT(strata_verify_manifest(&v, s.manifests[0], s.manifest_len[0], &e), 0);
    strata_verify_free(&v);
    strata_verify bad;
    CHECK_EQ_INT(strata_verify_init(&bad, NULL, PK, 0, 0, 1, 1, 1), STRATA_ERR_INVAL);
    stream_free(&s);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    keys();
    test_manifest_codec();
    test_request_codec();
    test_parity_codec();
    test_sign_and_verify();
    test_parity();
    test_waiting();
    test_eos();
    test_batch_clock();
    test_keyless();
    return test_summary("test_manifest");
}
