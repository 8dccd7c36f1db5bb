/*
 * The EC_TREE strategy and the group coder: see relay_ec.h for the model.
 */
#include "relay_ec.h"

#include "strata/fec.h"

#include <string.h>

typedef struct ec_group {
    uint64_t first_seq;  /* gk */
    uint64_t send_ts_ns; /* of the group's last packet, as its symbols carry it */
    strata_buf *sym[STRATA_WIRE_MAX_PARITY];  /* the received datagrams, by parity index */
    uint16_t sym_off[STRATA_WIRE_MAX_PARITY]; /* where each symbol starts in its datagram */
    uint16_t symbol_bytes;                    /* every symbol of the group has this length */
    uint32_t held;                            /* bit i: symbol i is in sym[i] */
    uint32_t sent;                            /* bit i: symbol i went to tree k + i's children */
    uint32_t unvouched; /* bit i: sym[i] came before its hash list: decodes, is never sent */
    uint8_t used;
    uint8_t failed; /* its symbols did not decode: it takes no more */
} ec_group;

struct strata_relay_ec {
    const strata_alloc *alloc;
    uint8_t k;
    size_t n_slots;
    ec_group *slots; /* group g in slot g mod n_slots */
    uint64_t floor;  /* groups below this one are forgotten (before the window) */
    uint32_t held_count[STRATA_WIRE_MAX_PARITY];
    strata_fec_encoder *enc; /* its own, made on first use when none is shared */
    strata_fec_decoder *dec;
};

/* What the node holds of a group's data packets (the packet store's). */
typedef struct group_view {
    const uint8_t *data[STRATA_FEC_MAX_DATA]; /* NULL: missing */
    size_t len[STRATA_FEC_MAX_DATA];
    uint64_t send_ts_ns[STRATA_FEC_MAX_DATA];
    unsigned present;
    int cut_short; /* holds the end of the stream: no parity */
} group_view;

strata_relay_ec *strata_relay_ec_new(const strata_alloc *a, uint8_t k, size_t window_packets)
{
    if (k == 0 || k > STRATA_FEC_MAX_DATA)
        return NULL;
    /* Two groups of the window never share a slot: it spans at most
     * window / k + 1 groups. */
    size_t n_slots = window_packets / k + 2;
    strata_relay_ec *ec = strata_mem_calloc(a, 1, sizeof *ec);
    ec_group *slots = strata_mem_calloc(a, n_slots, sizeof *slots);
    if (!ec || !slots) {
        strata_mem_free(a, ec);
        strata_mem_free(a, slots);
        return NULL;
    }
    *ec = (strata_relay_ec){.alloc = a, .k = k, .n_slots = n_slots, .slots = slots};
    return ec;
}

static void group_release(strata_relay_ec *ec, ec_group *g)
{
    for (unsigned i = 0; i < STRATA_WIRE_MAX_PARITY; i++) {
        if (g->sym[i]) {
            strata_buf_unref(g->sym[i]);
            ec->held_count[i]--;
        }
    }
    memset(g, 0, sizeof *g);
}

void strata_relay_ec_del(strata_relay_ec *ec)
{
    if (!ec)
        return;
    for (size_t i = 0; i < ec->n_slots; i++)
        group_release(ec, &ec->slots[i]);
    strata_mem_free(ec->alloc, ec->slots);
    strata_fec_encoder_del(ec->enc);
    strata_fec_decoder_del(ec->dec);
    strata_mem_free(ec->alloc, ec);
}

/* The state of the group starting at first_seq, made when create is set;
 * NULL for a group before the window, or older than the one in its slot. */
static ec_group *group_find(strata_relay_ec *ec, uint64_t first_seq, int create)
{
    uint64_t number = first_seq / ec->k;
    if (number < ec->floor)
        return NULL;
    ec_group *g = &ec->slots[number % ec->n_slots];
    if (g->used && g->first_seq == first_seq)
        return g;
    if (!create || (g->used && g->first_seq > first_seq))
        return NULL;
    group_release(ec, g);
    g->used = 1;
    g->first_seq = first_seq;
    return g;
}

void strata_relay_ec_window(strata_relay_ec *ec, uint64_t first_seq)
{
    uint64_t target = first_seq / ec->k;
    if (target <= ec->floor)
        return;
    if (target - ec->floor >= ec->n_slots) {
        for (size_t i = 0; i < ec->n_slots; i++)
            if (ec->slots[i].used && ec->slots[i].first_seq / ec->k < target)
                group_release(ec, &ec->slots[i]);
    } else {
        for (uint64_t n = ec->floor; n < target; n++) {
            ec_group *g = &ec->slots[n % ec->n_slots];
            if (g->used && g->first_seq / ec->k < target)
                group_release(ec, g);
        }
    }
    ec->floor = target;
}

uint32_t strata_relay_ec_held(const strata_relay_ec *ec, unsigned i)
{
    return ec && i < STRATA_WIRE_MAX_PARITY ? ec->held_count[i] : 0;
}

static void gather(const strata_relay *r, uint64_t first_seq, group_view *v)
{
    memset(v, 0, sizeof *v);
    for (unsigned j = 0; j < r->k; j++) {
        const strata_pktstore_entry *e = strata_pktstore_get(r->peer.store, first_seq + j);
        if (!e)
            continue;
        if (e->flags & STRATA_DATA_FLAG_EOS)
            v->cut_short = 1;
        v->data[j] = e->buf->data + e->payload_off;
        v->len[j] = e->payload_len;
        v->send_ts_ns[j] = e->send_ts_ns;
        v->present++;
    }
}

/* Encodes a DATA message into a new buffer of its size; NULL on failure. */
static strata_buf *datagram_of(const strata_relay *r, const strata_msg_data *m)
{
    uint8_t tmp[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_data(tmp, sizeof tmp, m);
    if (n < 0)
        return NULL;
    return strata_buf_copy(r->alloc, tmp, (size_t)n);
}

/* The encoder the peer shares with others (relay.h), else the coder's
 * own, made on first use; NULL when out of memory. */
static strata_fec_encoder *encoder_of(strata_relay *r)
{
    if (r->peer.fec_encoder)
        return r->peer.fec_encoder;
    if (!r->ec->enc)
        r->ec->enc = strata_fec_encoder_new(r->alloc);
    return r->ec->enc;
}

strata_fec_encoder *strata_relay_ec_encoder(strata_relay *r)
{
    return r->ec ? encoder_of(r) : NULL;
}

/* The decoder, likewise. */
static strata_fec_decoder *decoder_of(strata_relay *r)
{
    if (r->peer.fec_decoder)
        return r->peer.fec_decoder;
    if (!r->ec->dec)
        r->ec->dec = strata_fec_decoder_new(r->alloc, STRATA_RELAY_EC_DECODE_PATTERNS);
    return r->ec->dec;
}

/* Symbol i of a whole group, computed and encoded as its parity datagram;
 * NULL when out of memory. */
static strata_buf *make_symbol(strata_relay *r, uint64_t first_seq, const group_view *v, unsigned i)
{
    strata_fec_encoder *enc = encoder_of(r);
    if (!enc)
        return NULL;
    uint8_t sym[STRATA_FEC_MAX_SYMBOL_BYTES];
    uint8_t *out[1] = {sym};
    int len = strata_fec_encode(enc, r->k, v->data, v->len, i, 1, out, sizeof sym);
    if (len < 0)
        return NULL; /* cannot happen: the store holds valid payloads */
    strata_msg_data m = {
        .channel = r->peer.channel,
        .seq = first_seq,
        .substream = (uint8_t)(r->k + i),
        .flags = STRATA_DATA_FLAG_PARITY,
        .send_ts_ns = v->send_ts_ns[r->k - 1],
        .payload_len = (uint16_t)len,
        .payload = sym,
    };
    strata_buf *b = datagram_of(r, &m);
    if (b)
        r->peer.st->parity_encoded_symbols++;
    return b;
}

static void count_parity_sent(strata_relay *r, size_t children, const strata_buf *b)
{
    r->peer.st->parity_sent_packets += children;
    r->peer.st->parity_sent_bytes += children * b->len;
}

/* The group is whole: each parity child gets the symbol it is owed and has
 * not had, the received one if held, else one computed from the group. */
static void send_owed(strata_relay *r, uint64_t first_seq, const ec_group *g, const group_view *v,
                      uint64_t now)
{
    const strata_addr nobody = {0, 0};
    for (unsigned i = 0; i < r->n; i++) {
        strata_relay_tree *t = &r->trees[r->k + i];
        uint32_t bit = 1u << i;
        if (!t->n_children || (g && (g->sent & bit)))
            continue;
        if (g && (g->held & bit) && !(g->unvouched & bit)) {
            count_parity_sent(r, strata_relay_send(r, t, g->sym[i], first_seq, nobody, now),
                              g->sym[i]);
            continue;
        }
        strata_buf *b = make_symbol(r, first_seq, v, i);
        if (!b)
            continue; /* out of memory: the children rebuild or repair */
        count_parity_sent(r, strata_relay_send(r, t, b, first_seq, nobody, now), b);
        strata_buf_unref(b);
    }
}

/* The send time a rebuilt packet j takes. The group's last packet's is
 * exact: its symbols carry it (protocol.md 3.1.1), and the parity this
 * node makes from the group then carries it too. Another packet takes that
 * of the nearest packet held before it, never later than its own, so that
 * a child's playout clock (the smallest one-way delay seen) is not pulled
 * early; failing that, the nearest held after it, or the group's last. */
static uint64_t rebuilt_send_ts(const strata_relay *r, uint64_t first_seq, const group_view *v,
                                unsigned j, const ec_group *g)
{
    if (j + 1u == r->k)
        return g->send_ts_ns;
    for (unsigned b = j; b-- > 0;)
        if (v->data[b])
            return v->send_ts_ns[b];
    const strata_pktstore_entry *before =
        first_seq ? strata_pktstore_get(r->peer.store, first_seq - 1) : NULL;
    if (before)
        return before->send_ts_ns;
    for (unsigned a = j + 1; a < r->k; a++)
        if (v->data[a])
            return v->send_ts_ns[a];
    return g->send_ts_ns;
}

/* At least k symbols are held and data is missing: rebuild it, hand each
 * packet to the peer, then finish the group. */
static void decode(strata_relay *r, uint64_t first_seq, ec_group *g, group_view *v, uint64_t now)
{
    strata_relay_ec *ec = r->ec;
    strata_fec_decoder *dec = decoder_of(r);
    if (!dec) {
        r->peer.st->parity_decode_failures++;
        return; /* tried again with the next symbol or packet */
    }
    const uint8_t *parity[STRATA_WIRE_MAX_PARITY];
    for (unsigned i = 0; i < STRATA_WIRE_MAX_PARITY; i++)
        parity[i] = (g->held & (1u << i)) ? g->sym[i]->data + g->sym_off[i] : NULL;
    /* Missing packets are at most the symbols held, so at most n. */
    uint8_t rebuilt[STRATA_WIRE_MAX_PARITY][STRATA_FEC_MAX_PAYLOAD_BYTES];
    uint8_t *out[STRATA_FEC_MAX_DATA] = {0};
    size_t out_len[STRATA_FEC_MAX_DATA] = {0};
    unsigned missing = 0;
    for (unsigned j = 0; j < r->k && missing < STRATA_WIRE_MAX_PARITY; j++)
        if (!v->data[j])
            out[j] = rebuilt[missing++];
    int rc = strata_fec_decode(dec, r->k, STRATA_WIRE_MAX_PARITY, v->data, v->len, parity,
                               g->symbol_bytes, out, STRATA_FEC_MAX_PAYLOAD_BYTES, out_len);
    if (rc < 0) {
        r->peer.st->parity_decode_failures++;
        if (rc == STRATA_ERR_NOMEM)
            return; /* the symbols may be fine: tried again with the next one */
        /* Symbols that do not belong together: trust none of them again
         * for this group (repairs fill it). */
        uint32_t sent = g->sent;
        group_release(ec, g);
        g->used = 1;
        g->first_seq = first_seq;
        g->sent = sent;
        g->failed = 1;
        return;
    }
    for (unsigned j = 0; j < r->k; j++) {
        if (v->data[j] || !out[j])
            continue;
        strata_msg_data m = {
            .channel = r->peer.channel,
            .seq = first_seq + j,
            .substream = (uint8_t)j,
            .send_ts_ns = rebuilt_send_ts(r, first_seq, v, j, g),
            .payload_len = (uint16_t)out_len[j],
            .payload = out[j],
        };
        r->peer.take_rebuilt(r->peer.user, &m, now);
        /* Later rebuilt packets of the group take their time from it. */
        v->data[j] = out[j];
        v->send_ts_ns[j] = m.send_ts_ns;
    }
    /* Whole now, unless a rebuilt packet fell outside the window: the
     * parity owed is made from what the store holds. */
    group_view whole;
    gather(r, first_seq, &whole);
    if (whole.present == r->k)
        send_owed(r, first_seq, g, &whole, now);
    group_release(ec, g);
}

/* After a packet or symbol of the group arrived: finish it when whole,
 * decode it when it can be. */
static void progress(strata_relay *r, uint64_t first_seq, ec_group *g, group_view *v, uint64_t now)
{
    if (v->present == r->k) {
        send_owed(r, first_seq, g, v, now);
        if (g)
            group_release(r->ec, g);
    } else if (g && !g->failed && v->present + (unsigned)__builtin_popcount(g->held) >= r->k) {
        decode(r, first_seq, g, v, now);
    }
}

void strata_relay_ec_data(strata_relay *r, uint64_t seq, uint64_t now)
{
    uint8_t k = r->k;
    uint64_t first_seq = seq - seq % k;
    if (first_seq > UINT64_MAX - (k - 1u) || first_seq / k < r->ec->floor)
        return; /* a group that cannot be whole, or one no one plays any more */
    group_view v;
    gather(r, first_seq, &v);
    ec_group *g = group_find(r->ec, first_seq, 0);
    if (v.cut_short) {
        if (g)
            group_release(r->ec, g);
        return;
    }
    progress(r, first_seq, g, &v, now);
}

/* The EC strategy's parity entry (relay.h): relay.c has checked the seq
 * and the tree against the node's instructions. */
static int take_symbol(strata_relay *r, unsigned t, const strata_msg_data *m, const uint8_t *buf,
                       size_t len, strata_addr from, int vouched, uint64_t now)
{
    strata_relay_ec *ec = r->ec;
    unsigned i = t - r->k;
    uint32_t bit = 1u << i;
    if (!ec || m->seq > UINT64_MAX - (r->k - 1u))
        return STRATA_ERR_RANGE;
    group_view v;
    gather(r, m->seq, &v);
    if (v.cut_short)
        return STRATA_ERR_RANGE; /* a group cut short by the end has no parity */
    ec_group *g = v.present == r->k ? NULL : group_find(ec, m->seq, 1);
    if (v.present < r->k && !g)
        return STRATA_ERR_RANGE; /* before the window */
    if (!vouched && (!g || g->failed))
        return 0; /* nothing to rebuild, or trusting nothing */
    /* The vouched copy of a symbol held unvouched takes its place (and
     * may be relayed now). */
    int replaces = g && (g->held & bit) && vouched && (g->unvouched & bit);
    if (g && (g->held & bit) && !replaces) {
        r->peer.st->rx_duplicates++;
        return 0;
    }
    if (g && (g->held & ~(replaces ? bit : 0u)) && m->payload_len != g->symbol_bytes)
        return STRATA_ERR_RANGE; /* not a symbol of the same group */
    if (replaces) {
        strata_buf_unref(g->sym[i]);
        g->sym[i] = NULL;
        g->held &= ~bit;
        g->unvouched &= ~bit;
        ec->held_count[i]--;
    }
    /* Counted once vouched for (an unvouched symbol's copy comes later). */
    if (vouched) {
        r->peer.st->rx_parity_packets++;
        r->peer.st->rx_parity_bytes += len;
    }
    /* A whole group sent what it owed when it became whole; a failed one
     * trusts no symbol. */
    if (!g || g->failed)
        return 0;
    strata_buf *b = strata_buf_copy(r->alloc, buf, len);
    if (!b)
        return STRATA_ERR_NOMEM;
    strata_relay_tree *tree = &r->trees[t];
    if (vouched && !(g->sent & bit) && tree->n_children) {
        count_parity_sent(r, strata_relay_send(r, tree, b, m->seq, from, now), b);
        g->sent |= bit;
    }
    g->sym[i] = b;
    g->sym_off[i] = (uint16_t)(m->payload - buf);
    g->symbol_bytes = m->payload_len;
    g->send_ts_ns = m->send_ts_ns;
    g->held |= bit;
    if (!vouched)
        g->unvouched |= bit;
    ec->held_count[i]++;
    progress(r, m->seq, g, &v, now);
    return 0;
}

void strata_relay_ec_ops(strata_relay_ops *ops)
{
    /* Data trees of an EC cluster relay as trees do (protocol.md 3.4). */
    strata_relay_tree_ops(ops);
    ops->parity = take_symbol;
}
