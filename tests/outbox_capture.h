/*
 * Test helper: captures what a core object queued in its outbox, with each
 * datagram's message type, so a test can inspect and count what was sent.
 * The captured entries keep their buffer references until the next capture
 * or sent_clear.
 */
#ifndef STRATA_TEST_OUTBOX_CAPTURE_H
#define STRATA_TEST_OUTBOX_CAPTURE_H

#include "strata/common.h"
#include "strata/wire.h"

typedef struct sent {
    strata_addr to;
    int type;
    strata_buf *buf;
} sent;

typedef struct sent_list {
    sent items[4096];
    size_t n;
} sent_list;

static inline void sent_clear(sent_list *s)
{
    for (size_t i = 0; i < s->n; i++)
        strata_buf_unref(s->items[i].buf);
    s->n = 0;
}

/* Moves everything queued in ob into s (after clearing s); datagrams past
 * the list's capacity are released. */
static inline void capture_outbox(strata_outbox *ob, sent_list *s)
{
    sent_clear(s);
    strata_datagram d;
    while (strata_outbox_pop(ob, &d)) {
        if (s->n == sizeof s->items / sizeof s->items[0]) {
            strata_buf_unref(d.buf);
            continue;
        }
        sent *e = &s->items[s->n++];
        e->to = d.to;
        e->buf = d.buf;
        e->type = strata_wire_peek_type(d.buf->data, d.buf->len);
    }
}

static inline size_t count_type(const sent_list *s, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->items[i].type == type;
    return n;
}

#endif
