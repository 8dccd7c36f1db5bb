/*
 * Packet store tests (core/pktstore.c): canonical storage, eviction by
 * ring position, newer-wins, repair answers, and allocation failure.
 */
#include "pktstore.h"
#include "testutil.h"

#include "strata/wire.h"

static const strata_channel_id CH = {0x1234};

static strata_msg_data data_msg(uint64_t seq, uint8_t flags, const uint8_t *payload, uint16_t len)
{
    strata_msg_data m;
    memset(&m, 0, sizeof m);
    m.channel = CH;
    m.seq = seq;
    m.substream = (uint8_t)(seq % 4);
    m.flags = flags;
    m.send_ts_ns = seq * 1000;
    m.payload = len ? payload : NULL;
    m.payload_len = len;
    return m;
}

static void test_put_get(void)
{
    strata_pktstore ps;
    CHECK_EQ_INT(strata_pktstore_init(&ps, NULL, 8), 0);
    CHECK_EQ_U64(ps.cap, STRATA_PKTSTORE_MIN_PACKETS); /* clamped up */
    uint8_t pay[5] = {1, 2, 3, 4, 5};
    strata_msg_data m = data_msg(7, STRATA_DATA_FLAG_REPAIR, pay, sizeof pay);
    const strata_pktstore_entry *e = NULL;
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, &e), 0);
    CHECK(e != NULL);
    CHECK(strata_pktstore_get(&ps, 7) == e);
    CHECK(strata_pktstore_get(&ps, 8) == NULL);
    CHECK(strata_pktstore_get(&ps, 7 + ps.cap) == NULL);
    if (e) {
        CHECK_EQ_INT(e->payload_len, 5);
        CHECK_EQ_MEM(e->buf->data + e->payload_off, pay, 5);
        CHECK_EQ_INT(e->flags, 0);
        CHECK_EQ_U64(e->send_ts_ns, 7000);
        /* stored canonically: the REPAIR flag is cleared */
        strata_msg_data d;
        CHECK(strata_wire_decode_data(e->buf->data, e->buf->len, &d) > 0);
        CHECK_EQ_INT(d.flags, 0);
        CHECK_EQ_U64(d.seq, 7);
        CHECK_EQ_INT(e->buf->refs, 1);
    }
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, NULL), STRATA_ERR_EXISTS);
    CHECK_EQ_U64(ps.count, 1);

    /* seq + cap replaces seq; seq cannot come back over the newer one */
    strata_msg_data n = data_msg(7 + ps.cap, 0, pay, 2);
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &n, NULL), 0);
    CHECK(strata_pktstore_get(&ps, 7) == NULL);
    CHECK(strata_pktstore_get(&ps, 7 + ps.cap) != NULL);
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, NULL), STRATA_ERR_RANGE);
    CHECK_EQ_U64(ps.count, 1);

    strata_msg_data eos = data_msg(9, STRATA_DATA_FLAG_EOS, NULL, 0);
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &eos, &e), 0);
    if (e)
        CHECK_EQ_INT(e->flags, STRATA_DATA_FLAG_EOS);

    /* a struct that does not encode is refused */
    strata_msg_data bad = data_msg(10, 0x80, pay, 1);
    CHECK_EQ_INT(strata_pktstore_put_data(&ps, &bad, NULL), STRATA_ERR_INVAL);
    strata_pktstore_free(&ps);
    strata_pktstore_free(&ps); /* twice is harmless */
}

static void test_answer_repair(void)
{
    strata_pktstore ps;
    CHECK_EQ_INT(strata_pktstore_init(&ps, NULL, 128), 0);
    uint8_t pay[3] = {9, 8, 7};
    for (uint64_t s = 100; s < 110; s++) {
        if (s == 103)
            continue;
        strata_msg_data m = data_msg(s, 0, pay, 3);
        CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, NULL), 0);
    }
    strata_outbox ob;
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 64), 0);
    /* asks 100..105 and 163: holds 100, 101, 102, 104, 105 */
    strata_msg_repair req = {{5}, CH, 100, 0x3full | (1ull << 63)};
    uint64_t packets = 0, bytes = 0;
    strata_addr to = {0x0a000001, 4000};
    CHECK_EQ_INT(strata_pktstore_answer_repair(&ps, &req, to, &ob, &packets, &bytes), 0);
    CHECK_EQ_U64(packets, 5);
    CHECK_EQ_U64(ob.count, 5);
    uint64_t want[] = {100, 101, 102, 104, 105};
    uint64_t sum = 0;
    for (size_t i = 0; i < 5; i++) {
        strata_datagram d;
        CHECK(strata_outbox_pop(&ob, &d));
        CHECK(strata_addr_eq(d.to, to));
        strata_msg_data m;
        CHECK(strata_wire_decode_data(d.buf->data, d.buf->len, &m) > 0);
        CHECK_EQ_U64(m.seq, want[i]);
        CHECK_EQ_INT(m.flags, STRATA_DATA_FLAG_REPAIR);
        CHECK_EQ_MEM(m.payload, pay, 3);
        /* a fresh buffer, not the stored one */
        CHECK(d.buf != strata_pktstore_get(&ps, m.seq)->buf);
        sum += d.buf->len;
        strata_buf_unref(d.buf);
    }
    CHECK_EQ_U64(bytes, sum);
    strata_outbox_free(&ob);
    strata_pktstore_free(&ps);
}

/* Counts allocations and fails the n-th one. */
typedef struct failing {
    int calls, fail_at;
} failing;

static void *f_alloc(void *user, size_t size)
{
    failing *f = user;
    if (++f->calls == f->fail_at)
        return NULL;
    return malloc(size);
}
static void *f_realloc(void *user, void *ptr, size_t size)
{
    failing *f = user;
    if (++f->calls == f->fail_at)
        return NULL;
    return realloc(ptr, size);
}
static void f_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static void test_alloc_failure(void)
{
    for (int at = 1; at <= 4; at++) {
        failing f = {0, at};
        strata_alloc a = {f_alloc, f_realloc, f_free, &f};
        strata_pktstore ps;
        int err = strata_pktstore_init(&ps, &a, 64);
        if (err) {
            CHECK_EQ_INT(err, STRATA_ERR_NOMEM);
            continue;
        }
        uint8_t pay[1] = {1};
        strata_msg_data m = data_msg(1, 0, pay, 1);
        err = strata_pktstore_put_data(&ps, &m, NULL);
        CHECK(err == 0 || err == STRATA_ERR_NOMEM);
        strata_outbox ob;
        if (strata_outbox_init(&ob, &a, 8) == 0) {
            strata_msg_repair req = {{5}, CH, 0, 3};
            uint64_t p = 0, b = 0;
            err = strata_pktstore_answer_repair(&ps, &req, (strata_addr){1, 1}, &ob, &p, &b);
            CHECK(err == 0 || err == STRATA_ERR_NOMEM);
            strata_outbox_free(&ob);
        }
        strata_pktstore_free(&ps);
    }
}

/* Recovered entries: a packet rebuilt or repaired counts as lost when it
 * leaves the store unless its own copy came meanwhile (the mark cleared);
 * marks on seqs not stored change nothing. */
static void test_recovered(void)
{
    strata_pktstore ps;
    CHECK_EQ_INT(strata_pktstore_init(&ps, NULL, STRATA_PKTSTORE_MIN_PACKETS), 0);
    uint8_t pay[3] = {1, 2, 3};
    for (uint64_t s = 0; s < 10; s++) {
        strata_msg_data m = data_msg(s, 0, pay, 3);
        CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, NULL), 0);
    }
    for (uint64_t s = 0; s < 6; s++)
        strata_pktstore_set_recovered(&ps, s, 1);
    strata_pktstore_set_recovered(&ps, 2, 0);      /* its copy came after all */
    strata_pktstore_set_recovered(&ps, 500, 1);    /* not stored */
    CHECK_EQ_INT(strata_pktstore_get(&ps, 3)->recovered, 1);
    CHECK_EQ_U64(ps.lost_recovered, 0);
    /* The window moves on: seqs 0..9 leave for cap..cap + 9. */
    for (uint64_t s = ps.cap; s < ps.cap + 10; s++) {
        strata_msg_data m = data_msg(s, 0, pay, 3);
        CHECK_EQ_INT(strata_pktstore_put_data(&ps, &m, NULL), 0);
        CHECK_EQ_INT(strata_pktstore_get(&ps, s)->recovered, 0); /* a new entry starts clear */
    }
    CHECK_EQ_U64(ps.lost_recovered, 5);
    strata_pktstore_free(&ps);
}

int main(void)
{
    test_put_get();
    test_answer_repair();
    test_alloc_failure();
    test_recovered();
    return test_summary("test_pktstore");
}
