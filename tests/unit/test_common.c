/*
 * The shared vocabulary of the core (core/common.c): the outbox, whose
 * ring starts small and grows with bursts up to its bound, keeping order.
 */
#include "strata/common.h"
#include "testutil.h"

static strata_buf *buf_of(uint32_t v)
{
    strata_buf *b = strata_buf_new(NULL, 4);
    memcpy(b->data, &v, 4);
    b->len = 4;
    return b;
}

static uint32_t value_of(const strata_buf *b)
{
    uint32_t v;
    memcpy(&v, b->data, 4);
    return v;
}

/* Pushes and pops interleaved so the ring wraps before it grows; every
 * datagram comes out once, in order, and nothing past max is kept. */
static void test_outbox_growth(void)
{
    strata_outbox ob;
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 4096), 0);
    CHECK(ob.cap < 4096); /* starts small */
    size_t first_cap = ob.cap;
    uint32_t next_in = 0, next_out = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < round * 3 + 1; i++) {
            strata_buf *b = buf_of(next_in++);
            CHECK_EQ_INT(strata_outbox_push(&ob, (strata_addr){1, 2}, b), 0);
            strata_buf_unref(b);
        }
        for (int i = 0; i < round * 2 + 1 && ob.count; i++) {
            strata_datagram d;
            CHECK(strata_outbox_pop(&ob, &d));
            CHECK_EQ_U64(value_of(d.buf), next_out);
            next_out++;
            strata_buf_unref(d.buf);
        }
    }
    CHECK(ob.cap > first_cap);
    CHECK(ob.cap <= 4096);
    CHECK_EQ_U64(ob.dropped, 0);
    strata_datagram d;
    while (strata_outbox_pop(&ob, &d)) {
        CHECK_EQ_U64(value_of(d.buf), next_out);
        next_out++;
        strata_buf_unref(d.buf);
    }
    CHECK_EQ_U64(next_out, next_in);
    strata_outbox_free(&ob);
    /* at the bound: pushes are dropped and counted */
    CHECK_EQ_INT(strata_outbox_init(&ob, NULL, 1000), 0);
    for (uint32_t i = 0; i < 1010; i++) {
        strata_buf *b = buf_of(i);
        int rc = strata_outbox_push(&ob, (strata_addr){1, 2}, b);
        CHECK_EQ_INT(rc, i < 1000 ? 0 : STRATA_ERR_FULL);
        strata_buf_unref(b);
    }
    CHECK_EQ_U64(ob.cap, 1000);
    CHECK_EQ_U64(ob.count, 1000);
    CHECK_EQ_U64(ob.dropped, 10);
    strata_outbox_free(&ob); /* releases what it holds: LeakSanitizer checks */
}

int main(void)
{
    test_outbox_growth();
    return test_summary("test_common");
}
