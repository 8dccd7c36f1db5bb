/*
 * Tests of the wire codec (core/wire.c) against docs/protocol.md.
 *
 * Every message type is reached through one table of codecs so that the
 * generic properties (round trip, every truncation, one extra byte, header
 * damage, small output buffers) run over every sample of every type. Range
 * violations are two tables: byte patches at the offsets protocol.md gives
 * (decoder must answer STRATA_ERR_RANGE) and struct edits (encoder must
 * answer STRATA_ERR_INVAL). A seeded loop then round-trips random valid
 * messages and throws random and mutated datagrams at every decoder.
 *
 * `test_wire --corpus DIR` writes the samples as seed corpora for the fuzz
 * targets into DIR/fuzz_<type>/ and exits.
 */
#include "strata/wire.h"

#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

typedef union anymsg {
    strata_msg_data data;
    strata_msg_heartbeat heartbeat;
    strata_msg_join join;
    strata_msg_join_reply join_reply;
    strata_msg_instruction instruction;
    strata_msg_probe probe;
    strata_msg_probe_reply probe_reply;
    strata_msg_leave leave;
    strata_msg_repair repair;
    strata_msg_group_query group_query;
    strata_msg_group_info group_info;
    strata_msg_group_join group_join;
    strata_msg_group_state group_state;
    strata_msg_group_keepalive group_keepalive;
    strata_msg_group_leave group_leave;
    strata_msg_group_link group_link;
    strata_msg_group_ping group_ping;
    strata_msg_group_pong group_pong;
    strata_msg_group_report group_report;
    strata_msg_group_bootstrap group_bootstrap;
    strata_msg_recruit recruit;
    strata_msg_group_bootstrap_reply group_bootstrap_reply;
    strata_msg_mesh_state mesh_state;
} anymsg;

/* Room for any datagram plus slack to detect writes past the end. */
enum { BUF_BYTES = 4096 };

/* ------------------------------------------------------------------------ */
/* Field-by-field equality. */

static int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || (a && b && memcmp(a, b, n) == 0);
}

static int eq_data(const anymsg *x, const anymsg *y)
{
    const strata_msg_data *a = &x->data, *b = &y->data;
    return a->channel.v == b->channel.v && a->seq == b->seq && a->substream == b->substream &&
           a->flags == b->flags && a->send_ts_ns == b->send_ts_ns &&
           a->auth_tag_len == b->auth_tag_len && a->payload_len == b->payload_len &&
           bytes_eq(a->auth_tag, b->auth_tag, a->auth_tag_len) &&
           bytes_eq(a->payload, b->payload, a->payload_len);
}

static int eq_heartbeat(const anymsg *x, const anymsg *y)
{
    const strata_msg_heartbeat *a = &x->heartbeat, *b = &y->heartbeat;
    if (a->node.v != b->node.v || a->channel.v != b->channel.v || a->dcm.v != b->dcm.v ||
        a->hb_seq != b->hb_seq || a->local_ts_ns != b->local_ts_ns ||
        a->instr_epoch != b->instr_epoch || a->upload_kbps != b->upload_kbps ||
        a->played_packets != b->played_packets || a->missed_packets != b->missed_packets ||
        a->rx_data_bytes != b->rx_data_bytes || a->tx_data_bytes != b->tx_data_bytes ||
        a->recovered_packets != b->recovered_packets ||
        a->n_parents != b->n_parents || a->n_children != b->n_children || a->level != b->level)
        return 0;
    for (size_t i = 0; i < a->n_parents && i < STRATA_WIRE_MAX_SUBSTREAMS; i++) {
        const strata_hb_parent *p = &a->parents[i], *q = &b->parents[i];
        if (p->parent.v != q->parent.v || p->buffer_packets != q->buffer_packets ||
            p->last_rx_ts_ns != q->last_rx_ts_ns || p->last_rx_seq != q->last_rx_seq)
            return 0;
    }
    for (size_t i = 0; i < a->n_children && i < STRATA_WIRE_MAX_HB_CHILDREN; i++) {
        const strata_hb_child *p = &a->children[i], *q = &b->children[i];
        if (p->child.v != q->child.v || p->substream != q->substream ||
            p->last_tx_ts_ns != q->last_tx_ts_ns || p->last_tx_seq != q->last_tx_seq)
            return 0;
    }
    return 1;
}

static int eq_join(const anymsg *x, const anymsg *y)
{
    const strata_msg_join *a = &x->join, *b = &y->join;
    return a->node.v == b->node.v && a->role == b->role && a->upload_kbps == b->upload_kbps &&
           a->rate_kbps == b->rate_kbps && a->name_len == b->name_len &&
           a->region_len == b->region_len && bytes_eq(a->name, b->name, a->name_len) &&
           bytes_eq(a->region, b->region, a->region_len) && a->priority == b->priority &&
           a->token_len == b->token_len && bytes_eq(a->token, b->token, a->token_len);
}

static int eq_join_reply(const anymsg *x, const anymsg *y)
{
    const strata_msg_join_reply *a = &x->join_reply, *b = &y->join_reply;
    return a->node.v == b->node.v && a->channel.v == b->channel.v && a->status == b->status &&
           a->dcm.v == b->dcm.v && a->k == b->k && a->rate_kbps == b->rate_kbps &&
           a->heartbeat_ms == b->heartbeat_ms && a->start_seq == b->start_seq;
}

static int peer_ref_eq(const strata_peer_ref *a, const strata_peer_ref *b)
{
    return a->node.v == b->node.v && strata_addr_eq(a->addr, b->addr);
}

static int eq_instruction(const anymsg *x, const anymsg *y)
{
    const strata_msg_instruction *a = &x->instruction, *b = &y->instruction;
    if (a->dcm.v != b->dcm.v || a->channel.v != b->channel.v || a->node.v != b->node.v ||
        a->epoch != b->epoch || a->k != b->k || a->substream != b->substream ||
        a->algorithm != b->algorithm || a->n != b->n || a->n_neighbours != b->n_neighbours ||
        a->level != b->level ||
        !peer_ref_eq(&a->parent, &b->parent) || !peer_ref_eq(&a->source, &b->source) ||
        a->n_children != b->n_children)
        return 0;
    for (size_t i = 0; i < a->n_children && i < STRATA_WIRE_MAX_CHILDREN; i++) {
        if (!peer_ref_eq(&a->children[i], &b->children[i]))
            return 0;
    }
    return 1;
}

static int eq_probe(const anymsg *x, const anymsg *y)
{
    const strata_msg_probe *a = &x->probe, *b = &y->probe;
    return a->node.v == b->node.v && a->probe_id == b->probe_id && a->send_ts_ns == b->send_ts_ns;
}

static int eq_probe_reply(const anymsg *x, const anymsg *y)
{
    const strata_msg_probe_reply *a = &x->probe_reply, *b = &y->probe_reply;
    return a->node.v == b->node.v && a->probe_id == b->probe_id && a->send_ts_ns == b->send_ts_ns &&
           a->responder.v == b->responder.v;
}

static int eq_leave(const anymsg *x, const anymsg *y)
{
    const strata_msg_leave *a = &x->leave, *b = &y->leave;
    return a->node.v == b->node.v && a->channel.v == b->channel.v && a->dcm.v == b->dcm.v;
}

static int eq_mesh_state(const anymsg *x, const anymsg *y)
{
    const strata_msg_mesh_state *a = &x->mesh_state, *b = &y->mesh_state;
    if (a->channel.v != b->channel.v || a->node.v != b->node.v || a->k != b->k ||
        a->want != b->want || a->top != b->top)
        return 0;
    for (unsigned i = 0; i < a->k && i < STRATA_WIRE_MAX_SUBSTREAMS; i++)
        if (a->behind[i] != b->behind[i])
            return 0;
    return 1;
}

static int eq_repair(const anymsg *x, const anymsg *y)
{
    const strata_msg_repair *a = &x->repair, *b = &y->repair;
    return a->node.v == b->node.v && a->channel.v == b->channel.v && a->first_seq == b->first_seq &&
           a->mask == b->mask;
}

static int group_nb_eq(const strata_group_nb *a, const strata_group_nb *b)
{
    return a->group.v == b->group.v && peer_ref_eq(&a->leader, &b->leader) &&
           a->distance == b->distance;
}

static int eq_group_query(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_query *a = &x->group_query, *b = &y->group_query;
    return a->node.v == b->node.v && a->query_id == b->query_id && a->group.v == b->group.v;
}

static int eq_group_info(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_info *a = &x->group_info, *b = &y->group_info;
    if (a->node.v != b->node.v || a->query_id != b->query_id || a->status != b->status ||
        a->metric != b->metric || a->group.v != b->group.v || a->term != b->term ||
        !peer_ref_eq(&a->leader, &b->leader) || a->n_members != b->n_members ||
        a->n_neighbours != b->n_neighbours)
        return 0;
    for (size_t i = 0; i < a->n_neighbours && i < STRATA_WIRE_MAX_GROUP_NEIGHBOURS; i++) {
        if (!group_nb_eq(&a->neighbours[i], &b->neighbours[i]))
            return 0;
    }
    return 1;
}

static int eq_group_join(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_join *a = &x->group_join, *b = &y->group_join;
    return a->node.v == b->node.v && a->join_id == b->join_id && a->group.v == b->group.v;
}

static int eq_group_state(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_state *a = &x->group_state, *b = &y->group_state;
    if (a->leader.v != b->leader.v || a->group.v != b->group.v || a->term != b->term ||
        a->epoch != b->epoch || a->member.v != b->member.v || a->reply_id != b->reply_id ||
        a->n_members != b->n_members || a->page_offset != b->page_offset ||
        a->metric != b->metric || a->n_successors != b->n_successors ||
        a->n_neighbours != b->n_neighbours || a->n_page != b->n_page)
        return 0;
    for (size_t i = 0; i < a->n_successors && i < STRATA_WIRE_MAX_GROUP_SUCCESSORS; i++) {
        if (!peer_ref_eq(&a->successors[i], &b->successors[i]))
            return 0;
    }
    for (size_t i = 0; i < a->n_neighbours && i < STRATA_WIRE_MAX_GROUP_NEIGHBOURS; i++) {
        if (!group_nb_eq(&a->neighbours[i], &b->neighbours[i]))
            return 0;
    }
    for (size_t i = 0; i < a->n_page && i < STRATA_WIRE_MAX_GROUP_PAGE; i++) {
        if (!peer_ref_eq(&a->page[i], &b->page[i]))
            return 0;
    }
    return 1;
}

static int eq_group_keepalive(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_keepalive *a = &x->group_keepalive, *b = &y->group_keepalive;
    return a->node.v == b->node.v && a->group.v == b->group.v && a->term == b->term &&
           a->seq == b->seq && a->flags == b->flags && a->lost_leader.v == b->lost_leader.v;
}

static int eq_group_leave(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_leave *a = &x->group_leave, *b = &y->group_leave;
    return a->node.v == b->node.v && a->group.v == b->group.v && a->term == b->term &&
           a->next_group.v == b->next_group.v && peer_ref_eq(&a->next_leader, &b->next_leader);
}

static int eq_group_link(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_link *a = &x->group_link, *b = &y->group_link;
    return a->node.v == b->node.v && a->group.v == b->group.v && a->term == b->term &&
           a->peer_group.v == b->peer_group.v && a->kind == b->kind && a->distance == b->distance;
}

static int eq_group_ping(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_ping *a = &x->group_ping, *b = &y->group_ping;
    return a->node.v == b->node.v && a->ping_id == b->ping_id && a->send_ts_ns == b->send_ts_ns;
}

static int eq_group_pong(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_pong *a = &x->group_pong, *b = &y->group_pong;
    return a->node.v == b->node.v && a->ping_id == b->ping_id && a->send_ts_ns == b->send_ts_ns &&
           a->responder.v == b->responder.v && a->rx_ts_ns == b->rx_ts_ns;
}

static int eq_group_report(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_report *a = &x->group_report, *b = &y->group_report;
    if (a->node.v != b->node.v || a->group.v != b->group.v || a->term != b->term ||
        a->n_members != b->n_members || a->n_near != b->n_near)
        return 0;
    for (size_t i = 0; i < a->n_near; i++)
        if (a->near[i].group.v != b->near[i].group.v || a->near[i].distance != b->near[i].distance)
            return 0;
    return 1;
}

static int eq_recruit(const anymsg *x, const anymsg *y)
{
    const strata_msg_recruit *a = &x->recruit, *b = &y->recruit;
    return a->node.v == b->node.v && a->flags == b->flags && a->name_len == b->name_len &&
           bytes_eq(a->name, b->name, a->name_len);
}

static int eq_group_bootstrap(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_bootstrap *a = &x->group_bootstrap, *b = &y->group_bootstrap;
    return a->node.v == b->node.v && a->request_id == b->request_id;
}

static int eq_group_bootstrap_reply(const anymsg *x, const anymsg *y)
{
    const strata_msg_group_bootstrap_reply *a = &x->group_bootstrap_reply;
    const strata_msg_group_bootstrap_reply *b = &y->group_bootstrap_reply;
    if (a->node.v != b->node.v || a->request_id != b->request_id || a->n_leaders != b->n_leaders)
        return 0;
    for (size_t i = 0; i < a->n_leaders; i++) {
        const strata_group_leader_entry *e = &a->leaders[i], *f = &b->leaders[i];
        if (e->group.v != f->group.v || !peer_ref_eq(&e->leader, &f->leader) ||
            e->n_members != f->n_members)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Uniform encode/decode entry points so the codec table can hold them. */

#define WRAP(name)                                                                                 \
    static int enc_##name(uint8_t *b, size_t n, const anymsg *m)                                   \
    {                                                                                              \
        return strata_wire_encode_##name(b, n, m ? &m->name : NULL);                               \
    }                                                                                              \
    static int dec_##name(const uint8_t *b, size_t n, anymsg *m)                                   \
    {                                                                                              \
        return strata_wire_decode_##name(b, n, m ? &m->name : NULL);                               \
    }
WRAP(data)
WRAP(heartbeat)
WRAP(join)
WRAP(join_reply)
WRAP(instruction)
WRAP(probe)
WRAP(probe_reply)
WRAP(leave)
WRAP(repair)
WRAP(group_query)
WRAP(group_info)
WRAP(group_join)
WRAP(group_state)
WRAP(group_keepalive)
WRAP(group_leave)
WRAP(group_link)
WRAP(group_ping)
WRAP(group_pong)
WRAP(group_report)
WRAP(group_bootstrap)
WRAP(group_bootstrap_reply)
WRAP(recruit)
WRAP(mesh_state)
#undef WRAP

/* ------------------------------------------------------------------------ */
/* Random valid messages. Byte strings are drawn into the caller's scratch. */

static uint64_t rnd(strata_rng *r, uint64_t bound)
{
    return strata_rng_below(r, bound);
}

/* A 64-bit value biased towards the edges a codec gets wrong. */
static uint64_t rnd_u64(strata_rng *r)
{
    switch (rnd(r, 6)) {
    case 0:
        return 0;
    case 1:
        return 1;
    case 2:
        return UINT64_MAX;
    case 3:
        return rnd(r, 1000);
    case 4:
        return (uint64_t)1 << rnd(r, 64);
    default:
        return strata_rng_next(r);
    }
}

static uint32_t rnd_u32(strata_rng *r)
{
    uint64_t v = rnd_u64(r);
    return (uint32_t)(rnd(r, 2) ? v >> 32 : v);
}
static uint64_t rnd_nonzero(strata_rng *r)
{
    uint64_t v = rnd_u64(r);
    return v ? v : 1;
}

/* A length in [0, max], often one of the ends. */
static size_t rnd_len(strata_rng *r, size_t max)
{
    switch (rnd(r, 4)) {
    case 0:
        return 0;
    case 1:
        return max;
    default:
        return (size_t)rnd(r, max + 1);
    }
}

static void rnd_bytes(strata_rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)strata_rng_next(r);
}

static void rand_data(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_data *m = &am->data;
    memset(m, 0, sizeof *m);
    m->channel.v = rnd_nonzero(r);
    m->seq = rnd_u64(r);
    m->substream = (uint8_t)rnd(r, STRATA_WIRE_MAX_SUBSTREAMS);
    m->flags = (uint8_t)rnd(r, STRATA_DATA_FLAG_PARITY); /* REPAIR and EOS in any mix */
    int parity = rnd(r, 4) == 0;
    if (parity) {
        m->flags = STRATA_DATA_FLAG_PARITY;
        m->substream = (uint8_t)rnd(r, STRATA_WIRE_MAX_TREES);
    }
    m->send_ts_ns = rnd_u64(r);
    m->auth_tag_len = (uint16_t)rnd_len(r, STRATA_WIRE_MAX_AUTH_TAG_BYTES);
    size_t room = STRATA_WIRE_MAX_DATAGRAM_BYTES - 34 - m->auth_tag_len;
    size_t cap = parity ? STRATA_WIRE_MAX_PARITY_BYTES : STRATA_WIRE_MAX_PAYLOAD_BYTES;
    if (room > cap)
        room = cap;
    m->payload_len = (m->flags & STRATA_DATA_FLAG_EOS) ? 0 : (uint16_t)rnd_len(r, room);
    if (parity && m->payload_len < STRATA_WIRE_PARITY_TRAILER_BYTES)
        m->payload_len = STRATA_WIRE_PARITY_TRAILER_BYTES;
    rnd_bytes(r, scratch, (size_t)m->payload_len + m->auth_tag_len);
    m->payload = scratch;
    m->auth_tag = scratch + m->payload_len;
}

static void rand_heartbeat(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_heartbeat *m = &am->heartbeat;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->channel.v = rnd_nonzero(r);
    m->dcm.v = rnd_u32(r);
    m->hb_seq = rnd_u32(r);
    m->local_ts_ns = rnd_u64(r);
    m->instr_epoch = rnd_u32(r);
    m->upload_kbps = rnd_u32(r);
    m->played_packets = rnd_u64(r);
    m->missed_packets = rnd_u64(r);
    m->recovered_packets = rnd_u64(r);
    m->rx_data_bytes = rnd_u64(r);
    m->tx_data_bytes = rnd_u64(r);
    m->n_parents = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_SUBSTREAMS);
    m->level = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_LEVEL);
    size_t room = (STRATA_WIRE_MAX_DATAGRAM_BYTES - 87 - 28 * (size_t)m->n_parents) / 25;
    if (room > STRATA_WIRE_MAX_HB_CHILDREN)
        room = STRATA_WIRE_MAX_HB_CHILDREN;
    m->n_children = (uint8_t)rnd_len(r, room);
    for (size_t i = 0; i < m->n_parents; i++) {
        m->parents[i].parent.v = rnd_u64(r);
        m->parents[i].buffer_packets = rnd_u32(r);
        m->parents[i].last_rx_ts_ns = rnd_u64(r);
        m->parents[i].last_rx_seq = rnd_u64(r);
    }
    unsigned k = m->n_parents ? m->n_parents : STRATA_WIRE_MAX_SUBSTREAMS;
    for (size_t i = 0; i < m->n_children; i++) {
        m->children[i].child.v = rnd_nonzero(r);
        m->children[i].substream = (uint8_t)rnd(r, k);
        m->children[i].last_tx_ts_ns = rnd_u64(r);
        m->children[i].last_tx_seq = rnd_u64(r);
    }
    (void)scratch;
}

static void rand_join(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_join *m = &am->join;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->role = (uint8_t)rnd(r, STRATA_ROLE_MAX + 1);
    m->upload_kbps = rnd_u32(r);
    m->rate_kbps = m->role == STRATA_ROLE_SOURCE ? rnd_u32(r) : 0;
    m->name_len = (uint8_t)(1 + rnd_len(r, STRATA_WIRE_MAX_NAME_BYTES - 1));
    m->region_len = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_REGION_BYTES);
    m->token_len = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_TOKEN_BYTES);
    rnd_bytes(r, scratch, (size_t)m->name_len + m->region_len + m->token_len);
    m->name = scratch;
    m->region = scratch + m->name_len;
    m->token = scratch + m->name_len + m->region_len;
    m->priority = (uint8_t)rnd(r, 256);
}

static void rand_join_reply(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_join_reply *m = &am->join_reply;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->channel.v = rnd_nonzero(r);
    m->status = (uint8_t)rnd(r, STRATA_JOIN_STATUS_MAX + 1);
    m->dcm.v = rnd_u32(r);
    m->k = (uint8_t)(1 + rnd(r, STRATA_WIRE_MAX_SUBSTREAMS));
    m->rate_kbps = rnd_u32(r);
    m->heartbeat_ms = rnd_u32(r);
    if (m->heartbeat_ms == 0)
        m->heartbeat_ms = 1000;
    m->start_seq = rnd_u64(r);
    (void)scratch;
}

static void rand_peer_ref(strata_rng *r, strata_peer_ref *p, int nonzero)
{
    p->node.v = nonzero ? rnd_nonzero(r) : rnd_u64(r);
    p->addr.ipv4 = rnd_u32(r);
    p->addr.port = (uint16_t)rnd_u32(r);
}

static void rand_instruction(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_instruction *m = &am->instruction;
    memset(m, 0, sizeof *m);
    m->dcm.v = rnd_u32(r);
    m->channel.v = rnd_nonzero(r);
    m->node.v = rnd_nonzero(r);
    m->epoch = rnd_u32(r);
    m->k = (uint8_t)(1 + rnd(r, STRATA_WIRE_MAX_SUBSTREAMS));
    m->algorithm = (uint8_t)(1 + rnd(r, STRATA_ALG_MAX));
    m->n = m->algorithm == STRATA_ALG_EC_TREE ? (uint8_t)rnd(r, STRATA_WIRE_MAX_PARITY + 1) : 0;
    m->substream = (uint8_t)rnd(r, (uint64_t)m->k + m->n);
    m->level = (uint8_t)rnd(r, STRATA_WIRE_MAX_LEVEL + 1);
    rand_peer_ref(r, &m->parent, 0);
    if (rnd(r, 4)) /* else the zero ref: source not known yet */
        rand_peer_ref(r, &m->source, 1);
    m->n_children = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_CHILDREN);
    for (size_t i = 0; i < m->n_children; i++)
        rand_peer_ref(r, &m->children[i], 1);
    if (m->algorithm == STRATA_ALG_MESH_TREE)
        m->n_neighbours = (uint8_t)rnd(r, (uint64_t)m->n_children + 1);
    (void)scratch;
}

static void rand_probe(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->probe, 0, sizeof am->probe);
    am->probe.node.v = rnd_nonzero(r);
    am->probe.probe_id = rnd_u32(r);
    am->probe.send_ts_ns = rnd_u64(r);
    (void)scratch;
}

static void rand_probe_reply(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->probe_reply, 0, sizeof am->probe_reply);
    am->probe_reply.node.v = rnd_nonzero(r);
    am->probe_reply.probe_id = rnd_u32(r);
    am->probe_reply.send_ts_ns = rnd_u64(r);
    am->probe_reply.responder.v = rnd_nonzero(r);
    (void)scratch;
}

static void rand_leave(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->leave, 0, sizeof am->leave);
    am->leave.node.v = rnd_nonzero(r);
    am->leave.channel.v = rnd_nonzero(r);
    am->leave.dcm.v = rnd_u32(r);
    (void)scratch;
}

static void rand_repair(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_repair *m = &am->repair;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->channel.v = rnd_nonzero(r);
    m->mask = rnd_nonzero(r);
    unsigned top = 63;
    while (!(m->mask >> top))
        top--;
    m->first_seq = rnd_u64(r);
    if (m->first_seq > UINT64_MAX - top)
        m->first_seq = UINT64_MAX - top;
    (void)scratch;
}

static uint64_t rnd_other(strata_rng *r, uint64_t avoid)
{
    uint64_t v = rnd_nonzero(r);
    return v == avoid ? v + 1 + (v + 1 == 0) : v;
}

static void rand_group_nb(strata_rng *r, strata_group_nb *e, strata_group_id own)
{
    e->group.v = rnd_other(r, own.v);
    rand_peer_ref(r, &e->leader, 1);
    e->distance = rnd_u32(r);
}

static void rand_group_query(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_query, 0, sizeof am->group_query);
    am->group_query.node.v = rnd_nonzero(r);
    am->group_query.query_id = rnd_u32(r);
    am->group_query.group.v = rnd_u64(r);
    (void)scratch;
}

static void rand_group_info(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_info *m = &am->group_info;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->query_id = rnd_u32(r);
    m->status = (uint8_t)rnd(r, STRATA_GROUP_INFO_STATUS_MAX + 1);
    m->metric = (uint8_t)(1 + rnd(r, STRATA_GROUP_METRIC_MAX));
    if (m->status == STRATA_GROUP_INFO_NO_GROUP)
        return;
    m->group.v = rnd_nonzero(r);
    m->term = rnd_u32(r);
    m->n_members = rnd_u32(r);
    if (m->status == STRATA_GROUP_INFO_MEMBER) {
        rand_peer_ref(r, &m->leader, 1);
        m->leader.node.v = rnd_other(r, m->node.v);
        return;
    }
    if (m->n_members == 0)
        m->n_members = 1;
    rand_peer_ref(r, &m->leader, 1);
    m->leader.node = m->node;
    m->n_neighbours = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_GROUP_NEIGHBOURS);
    for (size_t i = 0; i < m->n_neighbours; i++)
        rand_group_nb(r, &m->neighbours[i], m->group);
    (void)scratch;
}

static void rand_group_join(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_join, 0, sizeof am->group_join);
    am->group_join.node.v = rnd_nonzero(r);
    am->group_join.join_id = rnd_u32(r);
    am->group_join.group.v = rnd_nonzero(r);
    (void)scratch;
}

static void rand_group_state(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_state *m = &am->group_state;
    memset(m, 0, sizeof *m);
    m->leader.v = rnd_nonzero(r);
    m->group.v = rnd_nonzero(r);
    m->term = rnd_u32(r);
    m->epoch = rnd_u32(r);
    m->member.v = rnd_nonzero(r);
    m->reply_id = rnd_u32(r);
    m->metric = (uint8_t)(1 + rnd(r, STRATA_GROUP_METRIC_MAX));
    m->n_neighbours = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_GROUP_NEIGHBOURS);
    m->n_successors = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_GROUP_SUCCESSORS);
    size_t room = strata_wire_group_state_max_page(m->n_successors, m->n_neighbours);
    m->n_page = (uint8_t)rnd_len(r, room);
    /* n_members > n_successors and >= page_offset + n_page */
    uint32_t least = m->n_successors + 1u > m->n_page ? m->n_successors + 1u : m->n_page;
    m->n_members = least + (uint32_t)rnd(r, 3) * (uint32_t)rnd(r, 1000);
    m->page_offset = (uint32_t)rnd(r, (uint64_t)m->n_members - m->n_page + 1);
    for (size_t i = 0; i < m->n_successors; i++) {
        rand_peer_ref(r, &m->successors[i], 1);
        m->successors[i].node.v = rnd_other(r, m->leader.v);
    }
    for (size_t i = 0; i < m->n_neighbours; i++)
        rand_group_nb(r, &m->neighbours[i], m->group);
    for (size_t i = 0; i < m->n_page; i++)
        rand_peer_ref(r, &m->page[i], 1);
    (void)scratch;
}

static void rand_group_keepalive(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_keepalive *m = &am->group_keepalive;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->group.v = rnd_nonzero(r);
    m->term = rnd_u32(r);
    m->seq = rnd_u32(r);
    m->flags = (uint8_t)rnd(r, 2) ? (uint8_t)(STRATA_GROUP_KA_TAKEOVER | rnd(r, 2) * 2) : 0;
    if (m->flags)
        m->lost_leader.v = rnd_nonzero(r);
    (void)scratch;
}

static void rand_group_leave(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_leave *m = &am->group_leave;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->group.v = rnd_nonzero(r);
    m->term = rnd_u32(r);
    if (rnd(r, 3)) {
        m->next_group.v = rnd(r, 2) ? m->group.v : rnd_nonzero(r);
        rand_peer_ref(r, &m->next_leader, 1);
        m->next_leader.node.v = rnd_other(r, m->node.v);
    }
    (void)scratch;
}

static void rand_group_link(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_link *m = &am->group_link;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->group.v = rnd_nonzero(r);
    m->term = rnd_u32(r);
    m->peer_group.v = rnd(r, 4) ? rnd_other(r, m->group.v) : 0;
    m->kind = (uint8_t)rnd(r, STRATA_GROUP_LINK_KIND_MAX + 1);
    m->distance = rnd_u32(r);
    (void)scratch;
}

static void rand_group_ping(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_ping, 0, sizeof am->group_ping);
    am->group_ping.node.v = rnd_nonzero(r);
    am->group_ping.ping_id = rnd_u32(r);
    am->group_ping.send_ts_ns = rnd_u64(r);
    (void)scratch;
}

static void rand_group_pong(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_pong, 0, sizeof am->group_pong);
    am->group_pong.node.v = rnd_nonzero(r);
    am->group_pong.ping_id = rnd_u32(r);
    am->group_pong.send_ts_ns = rnd_u64(r);
    am->group_pong.responder.v = rnd_nonzero(r);
    am->group_pong.rx_ts_ns = rnd_u64(r);
    (void)scratch;
}

static void rand_group_report(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_report, 0, sizeof am->group_report);
    am->group_report.node.v = rnd_nonzero(r);
    am->group_report.group.v = rnd_nonzero(r);
    am->group_report.term = rnd_u32(r);
    am->group_report.n_members = rnd_u32(r);
    am->group_report.n_near = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_REPORT_NEAR);
    for (size_t i = 0; i < am->group_report.n_near; i++) {
        uint64_t g = rnd_nonzero(r);
        am->group_report.near[i].group.v = g == am->group_report.group.v ? g + 1 : g;
        if (am->group_report.near[i].group.v == 0)
            am->group_report.near[i].group.v = 1;
        am->group_report.near[i].distance = rnd_u32(r);
    }
    (void)scratch;
}

static void rand_recruit(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_recruit *m = &am->recruit;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->flags = (uint8_t)rnd(r, 2);
    m->name_len = (uint8_t)(1 + rnd_len(r, STRATA_WIRE_MAX_NAME_BYTES - 1));
    rnd_bytes(r, scratch, m->name_len);
    m->name = scratch;
}

static void rand_mesh_state(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_mesh_state *m = &am->mesh_state;
    memset(m, 0, sizeof *m);
    m->channel.v = rnd_nonzero(r);
    m->node.v = rnd_nonzero(r);
    m->k = (uint8_t)(1 + rnd(r, STRATA_WIRE_MAX_SUBSTREAMS));
    m->want = rnd_u32(r) & (uint32_t)((1u << m->k) - 1u);
    m->top = rnd_u64(r);
    for (unsigned i = 0; i < m->k; i++)
        m->behind[i] = (uint16_t)rnd(r, 65536);
    (void)scratch;
}

static void rand_group_bootstrap(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    memset(&am->group_bootstrap, 0, sizeof am->group_bootstrap);
    am->group_bootstrap.node.v = rnd_nonzero(r);
    am->group_bootstrap.request_id = rnd_u32(r);
    (void)scratch;
}

static void rand_group_bootstrap_reply(strata_rng *r, anymsg *am, uint8_t *scratch)
{
    strata_msg_group_bootstrap_reply *m = &am->group_bootstrap_reply;
    memset(m, 0, sizeof *m);
    m->node.v = rnd_nonzero(r);
    m->request_id = rnd_u32(r);
    m->n_leaders = (uint8_t)rnd_len(r, STRATA_WIRE_MAX_BOOTSTRAP_LEADERS);
    for (size_t i = 0; i < m->n_leaders; i++) {
        m->leaders[i].group.v = rnd_nonzero(r);
        m->leaders[i].leader.node.v = rnd_nonzero(r);
        m->leaders[i].leader.addr = (strata_addr){rnd_u32(r), (uint16_t)rnd(r, 65536)};
        uint32_t n = rnd_u32(r);
        m->leaders[i].n_members = n ? n : 1;
    }
    (void)scratch;
}

/* ------------------------------------------------------------------------ */

typedef struct codec {
    const char *name; /* fuzz target is fuzz_<name> */
    int type;
    int (*enc)(uint8_t *, size_t, const anymsg *);
    int (*dec)(const uint8_t *, size_t, anymsg *);
    int (*eq)(const anymsg *, const anymsg *);
    void (*rand)(strata_rng *, anymsg *, uint8_t *);
} codec;

#define CODEC(name, type)                                                                          \
    {                                                                                              \
#name, type, enc_##name, dec_##name, eq_##name, rand_##name                                \
    }
static const codec codecs[] = {
    CODEC(data, STRATA_MSG_DATA),
    CODEC(heartbeat, STRATA_MSG_HEARTBEAT),
    CODEC(join, STRATA_MSG_JOIN),
    CODEC(join_reply, STRATA_MSG_JOIN_REPLY),
    CODEC(instruction, STRATA_MSG_INSTRUCTION),
    CODEC(probe, STRATA_MSG_PROBE),
    CODEC(probe_reply, STRATA_MSG_PROBE_REPLY),
    CODEC(leave, STRATA_MSG_LEAVE),
    CODEC(repair, STRATA_MSG_REPAIR_REQUEST),
    CODEC(group_query, STRATA_MSG_GROUP_QUERY),
    CODEC(group_info, STRATA_MSG_GROUP_INFO),
    CODEC(group_join, STRATA_MSG_GROUP_JOIN),
    CODEC(group_state, STRATA_MSG_GROUP_STATE),
    CODEC(group_keepalive, STRATA_MSG_GROUP_KEEPALIVE),
    CODEC(group_leave, STRATA_MSG_GROUP_LEAVE),
    CODEC(group_link, STRATA_MSG_GROUP_LINK),
    CODEC(group_ping, STRATA_MSG_GROUP_PING),
    CODEC(group_pong, STRATA_MSG_GROUP_PONG),
    CODEC(group_report, STRATA_MSG_GROUP_REPORT),
    CODEC(group_bootstrap, STRATA_MSG_GROUP_BOOTSTRAP),
    CODEC(group_bootstrap_reply, STRATA_MSG_GROUP_BOOTSTRAP_REPLY),
    CODEC(recruit, STRATA_MSG_RECRUIT),
    CODEC(mesh_state, STRATA_MSG_MESH_STATE),
};
#undef CODEC
enum { N_CODECS = sizeof codecs / sizeof codecs[0] };

static const codec *codec_of(int type)
{
    for (size_t i = 0; i < N_CODECS; i++) {
        if (codecs[i].type == type)
            return &codecs[i];
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Samples: typical, maximal and minimal contents of every message. */

static uint8_t pattern[2048]; /* filled with i * 7 + 3 by main */

enum sample_id {
    S_DATA,
    S_DATA_MAX,
    S_DATA_TAG,
    S_DATA_EOS,
    S_DATA_PARITY,
    S_HB,
    S_HB_MAX,
    S_HB_MIN,
    S_HB_EC,
    S_JOIN,
    S_JOIN_MAX,
    S_JOIN_REPLY,
    S_INSTR,
    S_INSTR_MAX,
    S_INSTR_MIN,
    S_INSTR_EC,
    S_INSTR_MESH,
    S_PROBE,
    S_PROBE_REPLY,
    S_LEAVE,
    S_REPAIR,
    S_REPAIR_TOP,
    S_GQUERY,
    S_GINFO,
    S_GINFO_MAX,
    S_GINFO_MEMBER,
    S_GINFO_NOGROUP,
    S_GJOIN,
    S_GSTATE,
    S_GSTATE_MAX,
    S_GSTATE_MIN,
    S_GKA,
    S_GKA_TAKEOVER,
    S_GLEAVE,
    S_GLEAVE_HANDOVER,
    S_GLINK,
    S_GPING,
    S_GPONG,
    S_GREPORT,
    S_GREPORT_MAX,
    S_GREPORT_WITHDRAW,
    S_GBOOT,
    S_GBOOT_REPLY,
    S_GBOOT_REPLY_MAX,
    S_GBOOT_REPLY_EMPTY,
    S_MESH_STATE,
    S_MESH_STATE_MAX,
    N_SAMPLES
};

static void build_sample(enum sample_id id, anymsg *am)
{
    memset(am, 0, sizeof *am);
    switch (id) {
    case S_DATA: {
        strata_msg_data *m = &am->data;
        m->channel.v = 0x1122334455667788ull;
        m->seq = 1001;
        m->substream = 1;
        m->send_ts_ns = STRATA_S(12);
        m->payload_len = 188;
        m->payload = pattern;
        break;
    }
    case S_DATA_MAX: {
        strata_msg_data *m = &am->data;
        m->channel.v = UINT64_MAX;
        m->seq = UINT64_MAX;
        m->substream = STRATA_WIRE_MAX_SUBSTREAMS - 1;
        m->flags = STRATA_DATA_FLAG_REPAIR;
        m->send_ts_ns = UINT64_MAX;
        m->payload_len = STRATA_WIRE_MAX_PAYLOAD_BYTES;
        m->payload = pattern;
        break;
    }
    case S_DATA_TAG: { /* the largest tag with the largest payload that still fits */
        strata_msg_data *m = &am->data;
        m->channel.v = 7;
        m->seq = 42;
        m->substream = 2;
        m->send_ts_ns = 99;
        m->auth_tag_len = STRATA_WIRE_MAX_AUTH_TAG_BYTES;
        m->auth_tag = pattern + 1500;
        m->payload_len = STRATA_WIRE_MAX_DATAGRAM_BYTES - 34 - STRATA_WIRE_MAX_AUTH_TAG_BYTES;
        m->payload = pattern;
        break;
    }
    case S_DATA_PARITY: { /* parity symbol 2 of the group 1000..1003 (k = 4) */
        strata_msg_data *m = &am->data;
        m->channel.v = 7;
        m->seq = 1000;
        m->substream = 4 + 2;
        m->flags = STRATA_DATA_FLAG_PARITY;
        m->send_ts_ns = 5;
        m->payload_len = STRATA_WIRE_MAX_PARITY_BYTES;
        m->payload = pattern;
        break;
    }
    case S_DATA_EOS: {
        strata_msg_data *m = &am->data;
        m->channel.v = 7;
        m->seq = 5000;
        m->substream = 0;
        m->flags = STRATA_DATA_FLAG_EOS;
        m->send_ts_ns = 1;
        break;
    }
    case S_HB:
    case S_HB_MAX: {
        strata_msg_heartbeat *m = &am->heartbeat;
        int max = id == S_HB_MAX;
        m->node.v = max ? UINT64_MAX : 0xabcdef;
        m->channel.v = max ? UINT64_MAX : 77;
        m->dcm.v = max ? UINT32_MAX : 3;
        m->hb_seq = max ? UINT32_MAX : 10;
        m->local_ts_ns = max ? UINT64_MAX : STRATA_S(100);
        m->instr_epoch = max ? UINT32_MAX : 4;
        m->upload_kbps = max ? UINT32_MAX : 2000;
        m->played_packets = max ? UINT64_MAX : 900;
        m->missed_packets = max ? UINT64_MAX : 3;
        m->rx_data_bytes = max ? UINT64_MAX : 1234567;
        m->tx_data_bytes = max ? UINT64_MAX : 7654321;
        m->recovered_packets = max ? UINT64_MAX : 17;
        m->level = max ? STRATA_WIRE_MAX_LEVEL : 2;
        /* 16 parents leave room for 37 children: (1472 - 87 - 16*28) / 25. */
        m->n_parents = max ? STRATA_WIRE_MAX_SUBSTREAMS : 4;
        m->n_children = max ? 37 : 3;
        for (size_t i = 0; i < m->n_parents; i++) {
            m->parents[i].parent.v = max ? UINT64_MAX - i : (i == 2 ? 0 : 100 + i);
            m->parents[i].buffer_packets = max ? UINT32_MAX : (uint32_t)(20 + i);
            m->parents[i].last_rx_ts_ns = max ? UINT64_MAX : STRATA_S(99) + i;
            m->parents[i].last_rx_seq = max ? UINT64_MAX : 996 + i;
        }
        for (size_t i = 0; i < m->n_children; i++) {
            m->children[i].child.v = max ? UINT64_MAX - i : 200 + i;
            m->children[i].substream = (uint8_t)(max ? 15 - (i % 16) : i);
            m->children[i].last_tx_ts_ns = max ? UINT64_MAX : STRATA_S(98) + i;
            m->children[i].last_tx_seq = max ? UINT64_MAX : 990 + i;
        }
        break;
    }
    case S_HB_MIN: {
        strata_msg_heartbeat *m = &am->heartbeat;
        m->node.v = 1;
        m->channel.v = 1;
        break;
    }
    case S_HB_EC: { /* a member of an EC cluster with k + n = 24 trees, children to the brim */
        strata_msg_heartbeat *m = &am->heartbeat;
        m->node.v = 5;
        m->channel.v = 6;
        m->n_parents = STRATA_WIRE_MAX_TREES;
        m->n_children = 28; /* (1472 - 87 - 24*28) / 25 */
        for (size_t i = 0; i < m->n_parents; i++)
            m->parents[i].parent.v = 300 + i;
        for (size_t i = 0; i < m->n_children; i++) {
            m->children[i].child.v = 400 + i;
            m->children[i].substream = (uint8_t)(STRATA_WIRE_MAX_TREES - 1 - i % 24);
        }
        break;
    }
    case S_JOIN: {
        strata_msg_join *m = &am->join;
        m->node.v = 0x5eed;
        m->role = STRATA_ROLE_PEER;
        m->upload_kbps = 3000;
        m->name = (const uint8_t *)"news";
        m->name_len = 4;
        m->region = (const uint8_t *)"eu-west";
        m->region_len = 7;
        break;
    }
    case S_JOIN_MAX: {
        strata_msg_join *m = &am->join;
        m->node.v = UINT64_MAX;
        m->role = STRATA_ROLE_SOURCE;
        m->upload_kbps = UINT32_MAX;
        m->rate_kbps = UINT32_MAX;
        m->name = pattern;
        m->name_len = STRATA_WIRE_MAX_NAME_BYTES;
        m->region = pattern + 100;
        m->region_len = STRATA_WIRE_MAX_REGION_BYTES;
        m->priority = 255;
        m->token = pattern + 200;
        m->token_len = STRATA_WIRE_MAX_TOKEN_BYTES;
        break;
    }
    case S_JOIN_REPLY: {
        strata_msg_join_reply *m = &am->join_reply;
        m->node.v = 0x5eed;
        m->channel.v = 0x1122334455667788ull;
        m->status = STRATA_JOIN_OK;
        m->dcm.v = 9;
        m->k = 4;
        m->rate_kbps = 2500;
        m->heartbeat_ms = 1000;
        m->start_seq = 12345;
        break;
    }
    case S_INSTR:
    case S_INSTR_MAX: {
        strata_msg_instruction *m = &am->instruction;
        int max = id == S_INSTR_MAX;
        m->dcm.v = max ? UINT32_MAX : 9;
        m->channel.v = max ? UINT64_MAX : 0x1122334455667788ull;
        m->node.v = max ? UINT64_MAX : 0x5eed;
        m->epoch = max ? UINT32_MAX : 17;
        m->k = max ? STRATA_WIRE_MAX_SUBSTREAMS : 4;
        m->substream = max ? STRATA_WIRE_MAX_SUBSTREAMS - 1 : 2;
        m->algorithm = max ? STRATA_ALG_MAX : STRATA_ALG_TREE;
        m->level = max ? STRATA_WIRE_MAX_LEVEL : 3;
        m->parent.node.v = max ? UINT64_MAX : 0x7000;
        m->parent.addr = (strata_addr){max ? UINT32_MAX : 0x0a000001u, max ? 65535 : 7000};
        m->source.node.v = max ? UINT64_MAX : 0x5005;
        m->source.addr = (strata_addr){max ? UINT32_MAX : 0xc0a80001u, max ? 65535 : 9000};
        m->n_children = max ? STRATA_WIRE_MAX_CHILDREN : 3;
        for (size_t i = 0; i < m->n_children; i++) {
            m->children[i].node.v = max ? UINT64_MAX - i : 0x8000 + i;
            m->children[i].addr = (strata_addr){max ? UINT32_MAX : 0x0a000010u + (uint32_t)i,
                                                (uint16_t)(max ? 65535 : 8000 + i)};
        }
        break;
    }
    case S_INSTR_EC: { /* the last parity tree of a 16 + 8 cluster, level 2 */
        strata_msg_instruction *m = &am->instruction;
        m->channel.v = 1;
        m->node.v = 1;
        m->k = STRATA_WIRE_MAX_SUBSTREAMS;
        m->n = STRATA_WIRE_MAX_PARITY;
        m->substream = STRATA_WIRE_MAX_TREES - 1;
        m->algorithm = STRATA_ALG_EC_TREE;
        m->level = 2;
        m->parent.node.v = 2;
        m->n_children = 1;
        m->children[0].node.v = 3;
        break;
    }
    case S_INSTR_MESH: { /* a tree inside the mesh: 2 neighbours, then a root it feeds */
        strata_msg_instruction *m = &am->instruction;
        m->channel.v = 1;
        m->node.v = 1;
        m->k = 4;
        m->substream = 1;
        m->algorithm = STRATA_ALG_MESH_TREE;
        m->n_neighbours = 2;
        m->level = 1;
        m->n_children = 3;
        for (size_t i = 0; i < 3; i++)
            m->children[i].node.v = 10 + i;
        break;
    }
    case S_MESH_STATE:
        am->mesh_state = (strata_msg_mesh_state){
            {0x1122334455667788ull}, {0x5eed}, 4, 0x5, 1000, {0, 3, 1, STRATA_MESH_STATE_BEHIND_NONE}};
        break;
    case S_MESH_STATE_MAX: {
        strata_msg_mesh_state *m = &am->mesh_state;
        m->channel.v = UINT64_MAX;
        m->node.v = UINT64_MAX;
        m->k = STRATA_WIRE_MAX_SUBSTREAMS;
        m->want = 0xffff;
        m->top = UINT64_MAX;
        for (unsigned i = 0; i < m->k; i++)
            m->behind[i] = (uint16_t)(UINT16_MAX - i);
        break;
    }
    case S_INSTR_MIN: { /* no parent, no children, source not known yet */
        strata_msg_instruction *m = &am->instruction;
        m->channel.v = 1;
        m->node.v = 1;
        m->k = 1;
        m->algorithm = STRATA_ALG_TREE;
        break;
    }
    case S_PROBE:
        am->probe = (strata_msg_probe){{0x0102030405060708ull}, 0x0a0b0c0du, 0x1112131415161718ull};
        break;
    case S_PROBE_REPLY:
        am->probe_reply = (strata_msg_probe_reply){{1}, 77, STRATA_S(5), {2}};
        break;
    case S_LEAVE:
        am->leave = (strata_msg_leave){{0x5eed}, {0x1122334455667788ull}, {9}};
        break;
    case S_REPAIR:
        am->repair = (strata_msg_repair){{0x5eed}, {77}, 1000, 0x5ull};
        break;
    case S_REPAIR_TOP: /* names exactly seq 2^64 - 1 with its top bit */
        am->repair = (strata_msg_repair){{1}, {1}, UINT64_MAX - 63, (uint64_t)1 << 63};
        break;
    case S_GQUERY:
        am->group_query = (strata_msg_group_query){{0x5eed}, 0x01020304u, {0x6a}};
        break;
    case S_GINFO:
    case S_GINFO_MAX: {
        strata_msg_group_info *m = &am->group_info;
        int max = id == S_GINFO_MAX;
        m->node.v = max ? UINT64_MAX : 0x10;
        m->query_id = max ? UINT32_MAX : 77;
        m->status = max ? STRATA_GROUP_INFO_FULL : STRATA_GROUP_INFO_LEADER;
        m->metric = max ? STRATA_GROUP_METRIC_MAX : STRATA_GROUP_METRIC_RTT;
        m->group.v = max ? UINT64_MAX : 0x6a;
        m->term = max ? UINT32_MAX : 2;
        m->leader =
            (strata_peer_ref){m->node, {max ? UINT32_MAX : 0x0a000001u, max ? 65535 : 7000}};
        m->n_members = max ? UINT32_MAX : 12;
        m->n_neighbours = max ? STRATA_WIRE_MAX_GROUP_NEIGHBOURS : 3;
        for (size_t i = 0; i < m->n_neighbours; i++) {
            m->neighbours[i].group.v = max ? UINT64_MAX - 1 - i : 0x70 + i;
            m->neighbours[i].leader =
                (strata_peer_ref){{max ? UINT64_MAX - i : 0x100 + i},
                                  {max ? UINT32_MAX : 0x0a000010u + (uint32_t)i, 7000}};
            m->neighbours[i].distance = max ? UINT32_MAX : 20000u * (uint32_t)(i + 1);
        }
        break;
    }
    case S_GINFO_MEMBER:
        am->group_info = (strata_msg_group_info){.node = {0x11},
                                                 .query_id = 5,
                                                 .status = STRATA_GROUP_INFO_MEMBER,
                                                 .metric = STRATA_GROUP_METRIC_HOPS,
                                                 .group = {0x6a},
                                                 .term = 3,
                                                 .leader = {{0x10}, {0x0a000001u, 7000}},
                                                 .n_members = 9};
        break;
    case S_GINFO_NOGROUP:
        am->group_info = (strata_msg_group_info){.node = {0x12},
                                                 .query_id = 6,
                                                 .status = STRATA_GROUP_INFO_NO_GROUP,
                                                 .metric = STRATA_GROUP_METRIC_ONE_WAY};
        break;
    case S_GJOIN:
        am->group_join = (strata_msg_group_join){{0x5eed}, 99, {0x6a}};
        break;
    case S_GSTATE:
    case S_GSTATE_MAX: {
        strata_msg_group_state *m = &am->group_state;
        int max = id == S_GSTATE_MAX;
        m->leader.v = max ? UINT64_MAX : 0x10;
        m->group.v = max ? UINT64_MAX : 0x6a;
        m->term = max ? UINT32_MAX : 2;
        m->epoch = max ? UINT32_MAX : 17;
        m->member.v = max ? UINT64_MAX - 1 : 0x11;
        m->reply_id = max ? UINT32_MAX : 4;
        m->metric = STRATA_GROUP_METRIC_RTT;
        m->n_successors = max ? STRATA_WIRE_MAX_GROUP_SUCCESSORS : 2;
        m->n_neighbours = max ? STRATA_WIRE_MAX_GROUP_NEIGHBOURS : 1;
        /* with 8 successors and 32 neighbours, 34 member entries fit */
        m->n_page = max ? 34 : 5;
        m->n_members = max ? UINT32_MAX : 5;
        m->page_offset = max ? UINT32_MAX - 34 : 0;
        for (size_t i = 0; i < m->n_successors; i++)
            m->successors[i] = (strata_peer_ref){{max ? UINT64_MAX - 1 - i : 0x11 + i},
                                                 {0x0a000002u + (uint32_t)i, 7000}};
        for (size_t i = 0; i < m->n_neighbours; i++) {
            m->neighbours[i].group.v = max ? 1 + i : 0x70;
            m->neighbours[i].leader = (strata_peer_ref){{0x100 + i}, {0x0b000001u, 7001}};
            m->neighbours[i].distance = max ? UINT32_MAX : STRATA_GROUP_DISTANCE_UNKNOWN - 1;
        }
        for (size_t i = 0; i < m->n_page; i++)
            m->page[i] = (strata_peer_ref){{max ? UINT64_MAX - i : 0x10 + i},
                                           {0x0a000001u + (uint32_t)i, 7000}};
        break;
    }
    case S_GSTATE_MIN:
        am->group_state = (strata_msg_group_state){.leader = {1},
                                                   .group = {1},
                                                   .member = {2},
                                                   .n_members = 1,
                                                   .metric = STRATA_GROUP_METRIC_RTT};
        break;
    case S_GKA:
        am->group_keepalive = (strata_msg_group_keepalive){{0x11}, {0x6a}, 2, 41, 0, {0}};
        break;
    case S_GKA_TAKEOVER:
        am->group_keepalive = (strata_msg_group_keepalive){
            {0x11}, {0x6a}, 2, 42, STRATA_GROUP_KA_TAKEOVER | STRATA_GROUP_KA_LEFT, {0x10}};
        break;
    case S_GLEAVE:
        am->group_leave = (strata_msg_group_leave){{0x11}, {0x6a}, 2, {0}, {{0}, {0, 0}}};
        break;
    case S_GLEAVE_HANDOVER:
        am->group_leave =
            (strata_msg_group_leave){{0x10}, {0x6a}, 2, {0x6a}, {{0x11}, {0x0a000002u, 7000}}};
        break;
    case S_GLINK:
        am->group_link =
            (strata_msg_group_link){{0x10}, {0x6a}, 2, {0x70}, STRATA_GROUP_LINK_REQUEST, 45000};
        break;
    case S_GPING:
        am->group_ping = (strata_msg_group_ping){{0x11}, 0xabcdef01u, STRATA_S(3)};
        break;
    case S_GPONG:
        am->group_pong =
            (strata_msg_group_pong){{0x11}, 0xabcdef01u, STRATA_S(3), {0x10}, STRATA_S(3) + 7};
        break;
    case S_GREPORT:
        am->group_report = (strata_msg_group_report){
            .node = {0x10}, .group = {0x6a}, .term = 2, .n_members = 12, .n_near = 2};
        am->group_report.near[0] = (strata_group_near){{0x70}, 31900};
        am->group_report.near[1] = (strata_group_near){{0x71}, UINT32_MAX};
        break;
    case S_GREPORT_MAX:
        am->group_report = (strata_msg_group_report){.node = {UINT64_MAX},
                                                     .group = {0x6a},
                                                     .term = UINT32_MAX,
                                                     .n_members = UINT32_MAX,
                                                     .n_near = STRATA_WIRE_MAX_REPORT_NEAR};
        for (uint8_t i = 0; i < STRATA_WIRE_MAX_REPORT_NEAR; i++)
            am->group_report.near[i] = (strata_group_near){{0x100u + i}, 1000u * i};
        break;
    case S_GREPORT_WITHDRAW:
        am->group_report =
            (strata_msg_group_report){.node = {0x10}, .group = {0x6a}, .term = 3, .n_members = 0};
        break;
    case S_GBOOT:
        am->group_bootstrap = (strata_msg_group_bootstrap){{0x5eed}, 0x01020304u};
        break;
    case S_GBOOT_REPLY:
    case S_GBOOT_REPLY_MAX: {
        strata_msg_group_bootstrap_reply *m = &am->group_bootstrap_reply;
        int max = id == S_GBOOT_REPLY_MAX;
        m->node.v = max ? UINT64_MAX : 0x5eed;
        m->request_id = max ? UINT32_MAX : 0x01020304u;
        m->n_leaders = max ? STRATA_WIRE_MAX_BOOTSTRAP_LEADERS : 3;
        for (size_t i = 0; i < m->n_leaders; i++) {
            m->leaders[i].group.v = max ? UINT64_MAX - i : 0x6a + i;
            m->leaders[i].leader =
                (strata_peer_ref){{max ? UINT64_MAX - i : 0x10 + i},
                                  {max ? UINT32_MAX : 0x7f010000u + (uint32_t)i, 7000}};
            m->leaders[i].n_members = max ? UINT32_MAX : 5 + (uint32_t)i;
        }
        break;
    }
    case S_GBOOT_REPLY_EMPTY:
        am->group_bootstrap_reply = (strata_msg_group_bootstrap_reply){.node = {0x5eed}};
        break;
    case N_SAMPLES:
        break;
    }
}

typedef struct sample_info {
    const char *name;
    int type;
    size_t len; /* the encoded size protocol.md gives */
} sample_info;

static const sample_info samples[N_SAMPLES] = {
    [S_DATA] = {"typical", STRATA_MSG_DATA, 34 + 188},
    [S_DATA_MAX] = {"max_payload", STRATA_MSG_DATA, 34 + 1400},
    [S_DATA_TAG] = {"max_tag", STRATA_MSG_DATA, 1472},
    [S_DATA_EOS] = {"eos", STRATA_MSG_DATA, 34},
    [S_DATA_PARITY] = {"parity", STRATA_MSG_DATA, 34 + 1402},
    [S_HB] = {"typical", STRATA_MSG_HEARTBEAT, 87 + 4 * 28 + 3 * 25},
    [S_HB_MAX] = {"max", STRATA_MSG_HEARTBEAT, 87 + 16 * 28 + 37 * 25},
    [S_HB_MIN] = {"min", STRATA_MSG_HEARTBEAT, 87},
    [S_HB_EC] = {"ec", STRATA_MSG_HEARTBEAT, 87 + 24 * 28 + 28 * 25},
    [S_JOIN] = {"typical", STRATA_MSG_JOIN, 24 + 4 + 7},
    [S_JOIN_MAX] = {"max", STRATA_MSG_JOIN, 24 + 64 + 32 + 1 + 128},
    [S_JOIN_REPLY] = {"typical", STRATA_MSG_JOIN_REPLY, 42},
    [S_INSTR] = {"typical", STRATA_MSG_INSTRUCTION, 62 + 3 * 14},
    [S_INSTR_MAX] = {"max", STRATA_MSG_INSTRUCTION, 62 + 64 * 14},
    [S_INSTR_MIN] = {"min", STRATA_MSG_INSTRUCTION, 62},
    [S_INSTR_EC] = {"ec", STRATA_MSG_INSTRUCTION, 62 + 14},
    [S_INSTR_MESH] = {"mesh_tree", STRATA_MSG_INSTRUCTION, 62 + 3 * 14},
    [S_PROBE] = {"typical", STRATA_MSG_PROBE, 24},
    [S_PROBE_REPLY] = {"typical", STRATA_MSG_PROBE_REPLY, 32},
    [S_LEAVE] = {"typical", STRATA_MSG_LEAVE, 24},
    [S_REPAIR] = {"typical", STRATA_MSG_REPAIR_REQUEST, 36},
    [S_REPAIR_TOP] = {"top", STRATA_MSG_REPAIR_REQUEST, 36},
    [S_GQUERY] = {"typical", STRATA_MSG_GROUP_QUERY, 24},
    [S_GINFO] = {"typical", STRATA_MSG_GROUP_INFO, 49 + 3 * 26},
    [S_GINFO_MAX] = {"max", STRATA_MSG_GROUP_INFO, 49 + 32 * 26},
    [S_GINFO_MEMBER] = {"member", STRATA_MSG_GROUP_INFO, 49},
    [S_GINFO_NOGROUP] = {"no_group", STRATA_MSG_GROUP_INFO, 49},
    [S_GJOIN] = {"typical", STRATA_MSG_GROUP_JOIN, 24},
    [S_GSTATE] = {"typical", STRATA_MSG_GROUP_STATE, 52 + 2 * 14 + 26 + 5 * 14},
    [S_GSTATE_MAX] = {"max", STRATA_MSG_GROUP_STATE, 52 + 8 * 14 + 32 * 26 + 34 * 14},
    [S_GSTATE_MIN] = {"min", STRATA_MSG_GROUP_STATE, 52},
    [S_GKA] = {"typical", STRATA_MSG_GROUP_KEEPALIVE, 37},
    [S_GKA_TAKEOVER] = {"takeover", STRATA_MSG_GROUP_KEEPALIVE, 37},
    [S_GLEAVE] = {"typical", STRATA_MSG_GROUP_LEAVE, 46},
    [S_GLEAVE_HANDOVER] = {"handover", STRATA_MSG_GROUP_LEAVE, 46},
    [S_GLINK] = {"typical", STRATA_MSG_GROUP_LINK, 37},
    [S_GPING] = {"typical", STRATA_MSG_GROUP_PING, 24},
    [S_GPONG] = {"typical", STRATA_MSG_GROUP_PONG, 40},
    [S_GREPORT] = {"typical", STRATA_MSG_GROUP_REPORT, 29 + 2 * 12},
    [S_GREPORT_MAX] = {"max", STRATA_MSG_GROUP_REPORT, 29 + 8 * 12},
    [S_GREPORT_WITHDRAW] = {"withdraw", STRATA_MSG_GROUP_REPORT, 29},
    [S_GBOOT] = {"typical", STRATA_MSG_GROUP_BOOTSTRAP, 16},
    [S_GBOOT_REPLY] = {"typical", STRATA_MSG_GROUP_BOOTSTRAP_REPLY, 17 + 3 * 26},
    [S_GBOOT_REPLY_MAX] = {"max", STRATA_MSG_GROUP_BOOTSTRAP_REPLY, 17 + 8 * 26},
    [S_GBOOT_REPLY_EMPTY] = {"empty", STRATA_MSG_GROUP_BOOTSTRAP_REPLY, 17},
    [S_MESH_STATE] = {"typical", STRATA_MSG_MESH_STATE, 33 + 4 * 2},
    [S_MESH_STATE_MAX] = {"max", STRATA_MSG_MESH_STATE, 33 + 16 * 2},
};

/* Encodes sample id into buf; returns its length (checked against the
 * documented size). */
static size_t encode_sample(enum sample_id id, anymsg *m, uint8_t *buf)
{
    const codec *c = codec_of(samples[id].type);
    build_sample(id, m);
    int n = c->enc(buf, BUF_BYTES, m);
    CHECK_EQ_INT(n, (long long)samples[id].len);
    if (n != (int)samples[id].len)
        fprintf(stderr, "  sample %s/%s\n", c->name, samples[id].name);
    return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------------------ */

static void test_sizes_fit(void)
{
    /* protocol.md 2: every message fits one datagram. The maximal
     * instruction does; the maximal heartbeat (16 parents, 64 children)
     * does not, so the datagram limit caps its children (protocol.md 3.2). */
    CHECK(62 + 64 * 14 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 24 * 28 + 28 * 25 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 24 * 28 + 29 * 25 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(34 + 1402 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 16 * 28 + 64 * 25 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 16 * 28 + 37 * 25 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 16 * 28 + 38 * 25 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 0 * 28 + 55 * 25 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(87 + 0 * 28 + 56 * 25 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(34 + 1400 + 64 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK_EQ_INT(strata_wire_hb_max_children(16), 37);
    CHECK_EQ_INT(strata_wire_hb_max_children(4), 50);
    CHECK_EQ_INT(strata_wire_hb_max_children(0), 55);
    CHECK_EQ_INT(strata_wire_hb_max_children(24), 28);
    CHECK_EQ_INT(strata_wire_hb_max_children(25), 0);

    /* protocol.md 3.9.3: a full bootstrap reply is small. */
    CHECK(17 + 8 * 26 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);

    /* protocol.md 3.8: INFO fits at its maximum; STATE has a size rule. */
    CHECK(49 + 32 * 26 <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK(52 + 8 * 14 + 32 * 26 + 64 * 14 > STRATA_WIRE_MAX_DATAGRAM_BYTES);
    CHECK_EQ_INT(strata_wire_group_state_max_page(8, 32), 34);
    CHECK_EQ_INT(strata_wire_group_state_max_page(0, 0), 64);
    CHECK_EQ_INT(strata_wire_group_state_max_page(4, 0), 64);
    CHECK_EQ_INT(strata_wire_group_state_max_page(4, 16), 64);
    CHECK_EQ_INT(strata_wire_group_state_max_page(8, 20), 56);
    CHECK_EQ_INT(strata_wire_group_state_max_page(9, 0), 0);
    CHECK_EQ_INT(strata_wire_group_state_max_page(0, 33), 0);

    uint8_t buf[BUF_BYTES];
    anymsg m;
    build_sample(S_GSTATE_MAX, &m);
    m.group_state.n_page = 35;
    m.group_state.page[34] = m.group_state.page[0];
    m.group_state.page_offset = 0;
    CHECK_EQ_INT(strata_wire_encode_group_state(buf, sizeof buf, &m.group_state), STRATA_ERR_INVAL);
    m.group_state.n_page = 34;
    CHECK_EQ_INT(strata_wire_encode_group_state(buf, sizeof buf, &m.group_state),
                 52 + 8 * 14 + 32 * 26 + 34 * 14);
    build_sample(S_HB_MAX, &m);
    m.heartbeat.n_children = STRATA_WIRE_MAX_HB_CHILDREN;
    for (size_t i = 37; i < STRATA_WIRE_MAX_HB_CHILDREN; i++)
        m.heartbeat.children[i] = m.heartbeat.children[0];
    CHECK_EQ_INT(strata_wire_encode_heartbeat(buf, sizeof buf, &m.heartbeat), STRATA_ERR_INVAL);
    m.heartbeat.n_children = 38;
    CHECK_EQ_INT(strata_wire_encode_heartbeat(buf, sizeof buf, &m.heartbeat), STRATA_ERR_INVAL);
    m.heartbeat.n_parents = 0;
    m.heartbeat.n_children = 55;
    for (size_t i = 0; i < 55; i++)
        m.heartbeat.children[i].substream = 15;
    CHECK_EQ_INT(strata_wire_encode_heartbeat(buf, sizeof buf, &m.heartbeat), 87 + 55 * 25);
    m.heartbeat.n_children = 56;
    CHECK_EQ_INT(strata_wire_encode_heartbeat(buf, sizeof buf, &m.heartbeat), STRATA_ERR_INVAL);
}

/* Round trip, truncations, one extra byte, header damage, small buffers. */
static void test_samples(void)
{
    static uint8_t buf[BUF_BYTES], buf2[BUF_BYTES], out[BUF_BYTES];
    for (int id = 0; id < N_SAMPLES; id++) {
        const codec *c = codec_of(samples[id].type);
        anymsg m, d, d2;
        int failures_before = test_failures;
        size_t len = encode_sample((enum sample_id)id, &m, buf);
        CHECK(len <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
        CHECK_EQ_INT(strata_wire_peek_type(buf, len), c->type);

        /* round trip, and decode -> encode gives the same bytes */
        CHECK_EQ_INT(c->dec(buf, len, &d), (long long)len);
        CHECK(c->eq(&m, &d));
        CHECK_EQ_INT(c->enc(buf2, sizeof buf2, &d), (long long)len);
        CHECK_EQ_MEM(buf, buf2, len);
        CHECK_EQ_INT(c->dec(buf2, len, &d2), (long long)len);
        CHECK(c->eq(&d, &d2));

        /* the decoder touches nothing past buflen: a copy into an exactly
         * sized heap block lets ASan see any overread */
        uint8_t *exact = malloc(len);
        CHECK(exact != NULL);
        if (exact) {
            memcpy(exact, buf, len);
            CHECK_EQ_INT(c->dec(exact, len, &d), (long long)len);
            /* JOIN's token is the one field that is there only when
             * set (protocol.md 3.3.1): cut just before it, a JOIN with
             * a token is a valid JOIN without one. */
            size_t tokenless = c->type == STRATA_MSG_JOIN && d.join.token_len
                                   ? len - 1u - d.join.token_len
                                   : SIZE_MAX;
            for (size_t n = 0; n < len; n++)
                CHECK_EQ_INT(c->dec(exact, n, &d),
                             n == tokenless ? (long long)n : STRATA_ERR_SHORT);
            free(exact);
        }

        /* one extra byte (after a JOIN without a token, a token_len of 0
         * or 255: out of range) */
        int extra = c->type == STRATA_MSG_JOIN && m.join.token_len == 0 ? STRATA_ERR_RANGE
                                                                        : STRATA_ERR_LONG;
        buf[len] = 0;
        CHECK_EQ_INT(c->dec(buf, len + 1, &d), extra);
        buf[len] = 0xff;
        CHECK_EQ_INT(c->dec(buf, len + 1, &d), extra);

        /* header damage */
        for (size_t i = 0; i < 2; i++) {
            memcpy(buf2, buf, len);
            buf2[i] ^= 0x20;
            CHECK_EQ_INT(c->dec(buf2, len, &d), STRATA_ERR_MAGIC);
        }
        static const uint8_t bad_versions[] = {0, 2, 3, 0x81, 255};
        for (size_t i = 0; i < sizeof bad_versions; i++) {
            memcpy(buf2, buf, len);
            buf2[2] = bad_versions[i];
            CHECK_EQ_INT(c->dec(buf2, len, &d), STRATA_ERR_VERSION);
        }
        for (unsigned t = 0; t < 256; t++) {
            if (t == (unsigned)c->type)
                continue;
            memcpy(buf2, buf, len);
            buf2[3] = (uint8_t)t;
            CHECK_EQ_INT(c->dec(buf2, len, &d), STRATA_ERR_TYPE);
        }

        /* every other decoder refuses it by type */
        for (size_t j = 0; j < N_CODECS; j++) {
            if (codecs[j].type != c->type)
                CHECK_EQ_INT(codecs[j].dec(buf, len, &d), STRATA_ERR_TYPE);
        }

        /* every too-small output buffer: NOSPACE and not one byte written */
        for (size_t n = 0; n < len; n++) {
            memset(out, 0xa5, len + 16);
            CHECK_EQ_INT(c->enc(out, n, &m), STRATA_ERR_NOSPACE);
            int untouched = 1;
            for (size_t i = 0; i < len + 16; i++)
                untouched &= out[i] == 0xa5;
            CHECK(untouched);
        }
        memset(out, 0xa5, len + 16);
        CHECK_EQ_INT(c->enc(out, len, &m), (long long)len);
        CHECK_EQ_MEM(out, buf, len);
        CHECK(out[len] == 0xa5);
        CHECK_EQ_INT(c->enc(NULL, 0, &m), STRATA_ERR_NOSPACE);
        CHECK_EQ_INT(c->enc(buf2, sizeof buf2, NULL), STRATA_ERR_INVAL);
        CHECK_EQ_INT(c->dec(buf, len, NULL), STRATA_ERR_INVAL);
        CHECK_EQ_INT(c->dec(NULL, 0, &d), STRATA_ERR_SHORT);

        if (test_failures != failures_before)
            fprintf(stderr, "  in sample %s/%s\n", c->name, samples[id].name);
    }
}

/* Exact bytes against hand-written arrays (protocol.md 2: big-endian). */
static void test_exact_bytes(void)
{
    uint8_t buf[BUF_BYTES];
    anymsg m;

    static const uint8_t probe[] = {
        0x53, 0x54, 0x01, 0x06,                         /* "ST", v1, PROBE */
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* node */
        0x0a, 0x0b, 0x0c, 0x0d,                         /* probe_id */
        0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* send_ts_ns */
    };
    build_sample(S_PROBE, &m);
    CHECK_EQ_INT(strata_wire_encode_probe(buf, sizeof buf, &m.probe), (long long)sizeof probe);
    CHECK_EQ_MEM(buf, probe, sizeof probe);

    /* protocol.md 3.13 */
    static const uint8_t mesh_state[] = {
        0x53, 0x54, 0x01, 0x1a,                         /* "ST", v1, MESH_STATE */
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* channel */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0xed, /* node */
        0x04,                                           /* k */
        0x00, 0x00, 0x00, 0x05,                         /* want: substreams 0 and 2 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, /* top 1000 */
        0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0xff, 0xff, /* behind 0, 3, 1, none */
    };
    build_sample(S_MESH_STATE, &m);
    CHECK_EQ_INT(strata_wire_encode_mesh_state(buf, sizeof buf, &m.mesh_state),
                 (long long)sizeof mesh_state);
    CHECK_EQ_MEM(buf, mesh_state, sizeof mesh_state);

    /* protocol.md 3.9.3 */
    static const uint8_t boot_reply[] = {
        0x53, 0x54, 0x01, 0x15,                         /* "ST", v1, GROUP_BOOTSTRAP_REPLY */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0xed, /* node */
        0x01, 0x02, 0x03, 0x04,                         /* request_id */
        0x01,                                           /* n_leaders */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, /* group */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* leader node */
        0x7f, 0x01, 0x00, 0x00, 0x1b, 0x58,             /* 127.1.0.0:7000 */
        0x00, 0x00, 0x00, 0x05,                         /* n_members */
    };
    build_sample(S_GBOOT_REPLY, &m);
    m.group_bootstrap_reply.n_leaders = 1;
    CHECK_EQ_INT(strata_wire_encode_group_bootstrap_reply(buf, sizeof buf, &m.group_bootstrap_reply),
                 (long long)sizeof boot_reply);
    CHECK_EQ_MEM(buf, boot_reply, sizeof boot_reply);

    static const uint8_t data[] = {
        0x53, 0x54, 0x01, 0x01,                         /* "ST", v1, DATA */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, /* channel */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x04, /* seq */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x06, /* send_ts_ns */
        0x03,                                           /* substream */
        0x01,                                           /* flags: REPAIR */
        0x00, 0x03,                                     /* payload_len */
        0x00, 0x02,                                     /* auth_tag_len */
        0xaa, 0xbb, 0xcc,                               /* payload */
        0xdd, 0xee,                                     /* auth tag */
    };
    static const uint8_t payload[] = {0xaa, 0xbb, 0xcc}, tag[] = {0xdd, 0xee};
    m.data = (strata_msg_data){.channel = {0x0102},
                               .seq = 0x0304,
                               .substream = 3,
                               .flags = STRATA_DATA_FLAG_REPAIR,
                               .send_ts_ns = 0x0506,
                               .auth_tag_len = 2,
                               .auth_tag = tag,
                               .payload_len = 3,
                               .payload = payload};
    CHECK_EQ_INT(strata_wire_encode_data(buf, sizeof buf, &m.data), (long long)sizeof data);
    CHECK_EQ_MEM(buf, data, sizeof data);

    static const uint8_t instr[] = {
        0x53, 0x54, 0x01, 0x05,                         /* "ST", v1, INSTRUCTION */
        0x00, 0x00, 0x00, 0x09,                         /* dcm */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, /* channel */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5e, 0xed, /* node */
        0x00, 0x00, 0x01, 0x00,                         /* epoch */
        0x04, 0x02, 0x01,                               /* k, substream, algorithm */
        0x00, 0x03,                                     /* n, level */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, /* parent node */
        0x0a, 0x00, 0x00, 0x01, 0x1b, 0x58,             /* 10.0.0.1:7000 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x05, /* source node */
        0xc0, 0xa8, 0x00, 0x01, 0x23, 0x28,             /* 192.168.0.1:9000 */
        0x01,                                           /* n_children */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, /* child node */
        0xc0, 0xa8, 0x01, 0x02, 0x1f, 0x40,             /* 192.168.1.2:8000 */
    };
    memset(&m, 0, sizeof m);
    m.instruction.dcm.v = 9;
    m.instruction.channel.v = 77;
    m.instruction.node.v = 0x5eed;
    m.instruction.epoch = 256;
    m.instruction.k = 4;
    m.instruction.substream = 2;
    m.instruction.algorithm = STRATA_ALG_TREE;
    m.instruction.level = 3;
    m.instruction.parent = (strata_peer_ref){{0x7000}, {0x0a000001u, 7000}};
    m.instruction.source = (strata_peer_ref){{0x5005}, {0xc0a80001u, 9000}};
    m.instruction.n_children = 1;
    m.instruction.children[0] = (strata_peer_ref){{0x8000}, {0xc0a80102u, 8000}};
    CHECK_EQ_INT(strata_wire_encode_instruction(buf, sizeof buf, &m.instruction),
                 (long long)sizeof instr);
    CHECK_EQ_MEM(buf, instr, sizeof instr);

    static const uint8_t leave[] = {
        0x53, 0x54, 0x01, 0x0f,                         /* "ST", v1, GROUP_LEAVE */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* node */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, /* group */
        0x00, 0x00, 0x00, 0x02,                         /* term */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, /* next_group: the same, a handover */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, /* next leader node */
        0x0a, 0x00, 0x00, 0x02, 0x1b, 0x58,             /* 10.0.0.2:7000 */
    };
    build_sample(S_GLEAVE_HANDOVER, &m);
    CHECK_EQ_INT(strata_wire_encode_group_leave(buf, sizeof buf, &m.group_leave),
                 (long long)sizeof leave);
    CHECK_EQ_MEM(buf, leave, sizeof leave);

    static const uint8_t info[] = {
        0x53, 0x54, 0x01, 0x0b,                         /* "ST", v1, GROUP_INFO */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* node */
        0x00, 0x00, 0x00, 0x4d,                         /* query_id */
        0x00, 0x01,                                     /* status LEADER, metric RTT */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x6a, /* group */
        0x00, 0x00, 0x00, 0x02,                         /* term */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, /* leader node */
        0x0a, 0x00, 0x00, 0x01, 0x1b, 0x58,             /* 10.0.0.1:7000 */
        0x00, 0x00, 0x00, 0x0c,                         /* n_members */
        0x01,                                           /* n_neighbours */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70, /* neighbour group */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, /* its leader */
        0x0a, 0x00, 0x00, 0x10, 0x1b, 0x58,             /* 10.0.0.16:7000 */
        0x00, 0x00, 0x4e, 0x20,                         /* distance 20000 us */
    };
    build_sample(S_GINFO, &m);
    m.group_info.n_neighbours = 1;
    CHECK_EQ_INT(strata_wire_encode_group_info(buf, sizeof buf, &m.group_info),
                 (long long)sizeof info);
    CHECK_EQ_MEM(buf, info, sizeof info);
}

/* Decoder: a byte patch at a documented offset must give the error. */
typedef struct patch {
    enum sample_id sample;
    size_t offset;
    size_t width; /* 1, 2, 4 or 8 bytes, big-endian */
    uint64_t value;
    int err;
    const char *what;
} patch;

/* Offsets of heartbeat entries: parents at 87, children after them. */
#define HB_CHILD(np, i) (87 + 28 * (np) + 25 * (i))

static const patch patches[] = {
    {S_DATA, 4, 8, 0, STRATA_ERR_RANGE, "data: zero channel"},
    {S_DATA, 28, 1, 16, STRATA_ERR_RANGE, "data: substream 16"},
    {S_DATA, 28, 1, 255, STRATA_ERR_RANGE, "data: substream 255"},
    {S_DATA, 29, 1, 0x08, STRATA_ERR_RANGE, "data: unknown flag 0x08"},
    {S_DATA, 29, 1, 0x05, STRATA_ERR_RANGE, "data: PARITY|REPAIR"},
    {S_DATA_PARITY, 29, 1, 0x06, STRATA_ERR_RANGE, "data: PARITY|EOS"},
    {S_DATA_PARITY, 28, 1, 24, STRATA_ERR_RANGE, "data: parity substream 24"},
    {S_DATA_PARITY, 29, 1, 0x00, STRATA_ERR_RANGE, "data: substream 6 without PARITY"},
    {S_DATA_PARITY, 30, 2, 1403, STRATA_ERR_RANGE, "data: parity payload_len 1403"},
    {S_DATA_PARITY, 30, 2, 1, STRATA_ERR_LONG, "data: parity payload_len 1 (no trailer)"},
    {S_DATA, 29, 1, 0x80, STRATA_ERR_RANGE, "data: unknown flag 0x80"},
    {S_DATA, 29, 1, 0x02, STRATA_ERR_RANGE, "data: EOS with payload"},
    {S_DATA, 29, 1, 0x03, STRATA_ERR_RANGE, "data: REPAIR|EOS with payload"},
    {S_DATA, 30, 2, 1401, STRATA_ERR_RANGE, "data: payload_len 1401"},
    {S_DATA, 30, 2, 65535, STRATA_ERR_RANGE, "data: payload_len 65535"},
    {S_DATA, 32, 2, 65, STRATA_ERR_RANGE, "data: auth_tag_len 65"},
    {S_DATA, 32, 2, 65535, STRATA_ERR_RANGE, "data: auth_tag_len 65535"},
    {S_DATA_MAX, 32, 2, 64, STRATA_ERR_RANGE, "data: 1400 payload + 64 tag > 1472"},
    {S_DATA_TAG, 30, 2, 1375, STRATA_ERR_RANGE, "data: 1375 payload + 64 tag > 1472"},
    {S_DATA, 30, 2, 189, STRATA_ERR_SHORT, "data: payload_len one more than sent"},
    {S_DATA, 30, 2, 187, STRATA_ERR_LONG, "data: payload_len one less than sent"},
    {S_HB, 4, 8, 0, STRATA_ERR_RANGE, "heartbeat: zero node"},
    {S_HB, 12, 8, 0, STRATA_ERR_RANGE, "heartbeat: zero channel"},
    {S_HB, 84, 1, 25, STRATA_ERR_RANGE, "heartbeat: 25 parents"},
    {S_HB_EC, 85, 1, 29, STRATA_ERR_RANGE, "heartbeat: 24 parents + 29 children > 1472"},
    {S_HB, 84, 1, 255, STRATA_ERR_RANGE, "heartbeat: 255 parents"},
    {S_HB, 85, 1, 65, STRATA_ERR_RANGE, "heartbeat: 65 children"},
    {S_HB, 85, 1, 255, STRATA_ERR_RANGE, "heartbeat: 255 children"},
    {S_HB, 86, 1, 5, STRATA_ERR_RANGE, "heartbeat: level 5"},
    {S_HB, 86, 1, 255, STRATA_ERR_RANGE, "heartbeat: level 255"},
    {S_HB_MAX, 85, 1, 38, STRATA_ERR_RANGE, "heartbeat: 16 parents + 38 children > 1472"},
    {S_HB_MIN, 85, 1, 56, STRATA_ERR_RANGE, "heartbeat: 56 children > 1472"},
    {S_HB, HB_CHILD(4, 1), 8, 0, STRATA_ERR_RANGE, "heartbeat: zero child"},
    {S_HB, HB_CHILD(4, 2) + 8, 1, 4, STRATA_ERR_RANGE, "heartbeat: child substream == k"},
    {S_HB_MAX, HB_CHILD(16, 0) + 8, 1, 16, STRATA_ERR_RANGE, "heartbeat: child substream 16"},
    {S_HB_MAX, HB_CHILD(16, 36) + 8, 1, 200, STRATA_ERR_RANGE, "heartbeat: child substream 200"},
    {S_HB, 85, 1, 4, STRATA_ERR_SHORT, "heartbeat: one child more than sent"},
    {S_HB, 85, 1, 2, STRATA_ERR_LONG, "heartbeat: one child less than sent"},
    {S_JOIN, 4, 8, 0, STRATA_ERR_RANGE, "join: zero node"},
    {S_JOIN, 12, 1, 4, STRATA_ERR_RANGE, "join: role 4"},
    {S_JOIN, 12, 1, 255, STRATA_ERR_RANGE, "join: role 255"},
    {S_JOIN, 17, 4, 1, STRATA_ERR_RANGE, "join: peer with a stream rate"},
    {S_JOIN, 21, 1, 0, STRATA_ERR_RANGE, "join: name_len 0"},
    {S_JOIN_MAX, 21, 1, 65, STRATA_ERR_RANGE, "join: name_len 65"},
    {S_JOIN_MAX, 21, 1, 255, STRATA_ERR_RANGE, "join: name_len 255"},
    {S_JOIN_MAX, 22 + 64, 1, 33, STRATA_ERR_RANGE, "join: region_len 33"},
    {S_JOIN, 22 + 4, 1, 255, STRATA_ERR_RANGE, "join: region_len 255"},
    {S_JOIN, 22 + 4, 1, 8, STRATA_ERR_SHORT, "join: region one byte longer than sent"},
    {S_JOIN_MAX, 22 + 64 + 1 + 32 + 1, 1, 129, STRATA_ERR_RANGE, "join: token_len 129"},
    {S_JOIN_MAX, 22 + 64 + 1 + 32 + 1, 1, 255, STRATA_ERR_RANGE, "join: token_len 255"},
    {S_JOIN_MAX, 22 + 64 + 1 + 32 + 1, 1, 0, STRATA_ERR_RANGE,
     "join: token field with token_len 0"},
    {S_JOIN_MAX, 22 + 64 + 1 + 32 + 1, 1, 127, STRATA_ERR_LONG,
     "join: token one byte shorter than sent"},
    {S_JOIN_REPLY, 4, 8, 0, STRATA_ERR_RANGE, "join_reply: zero node"},
    {S_JOIN_REPLY, 12, 8, 0, STRATA_ERR_RANGE, "join_reply: zero channel"},
    {S_JOIN_REPLY, 20, 1, 6, STRATA_ERR_RANGE, "join_reply: status 6"},
    {S_JOIN_REPLY, 21, 1, 0, STRATA_ERR_RANGE, "join_reply: k 0"},
    {S_JOIN_REPLY, 21, 1, 17, STRATA_ERR_RANGE, "join_reply: k 17"},
    {S_JOIN_REPLY, 30, 4, 0, STRATA_ERR_RANGE, "join_reply: heartbeat_ms 0"},
    {S_INSTR, 8, 8, 0, STRATA_ERR_RANGE, "instruction: zero channel"},
    {S_INSTR, 16, 8, 0, STRATA_ERR_RANGE, "instruction: zero node"},
    {S_INSTR, 28, 1, 0, STRATA_ERR_RANGE, "instruction: k 0"},
    {S_INSTR, 28, 1, 17, STRATA_ERR_RANGE, "instruction: k 17"},
    {S_INSTR, 28, 1, 2, STRATA_ERR_RANGE, "instruction: substream == k"},
    {S_INSTR, 29, 1, 5, STRATA_ERR_RANGE, "instruction: substream > k"},
    {S_INSTR_MAX, 29, 1, 16, STRATA_ERR_RANGE, "instruction: substream 16"},
    {S_INSTR, 30, 1, 0, STRATA_ERR_RANGE, "instruction: algorithm 0"},
    {S_INSTR, 30, 1, 5, STRATA_ERR_RANGE, "instruction: algorithm 5"},
    {S_INSTR_MESH, 31, 1, 4, STRATA_ERR_RANGE, "instruction: 4 neighbours of 3 children"},
    {S_INSTR_MESH, 30, 1, STRATA_ALG_TREE, STRATA_ERR_RANGE, "instruction: MESH_TREE's neighbour count read as TREE's n"},
    {S_INSTR, 31, 1, 1, STRATA_ERR_RANGE, "instruction: parity trees with TREE"},
    {S_INSTR_EC, 31, 1, 9, STRATA_ERR_RANGE, "instruction: n 9"},
    {S_INSTR_EC, 31, 1, 7, STRATA_ERR_RANGE, "instruction: substream == k + n"},
    {S_INSTR, 32, 1, 5, STRATA_ERR_RANGE, "instruction: level 5"},
    {S_INSTR, 47, 8, 0, STRATA_ERR_RANGE, "instruction: source address without a node"},
    {S_INSTR_MIN, 55, 4, 1, STRATA_ERR_RANGE, "instruction: unknown source with an ipv4"},
    {S_INSTR_MIN, 59, 2, 1, STRATA_ERR_RANGE, "instruction: unknown source with a port"},
    {S_INSTR, 61, 1, 65, STRATA_ERR_RANGE, "instruction: 65 children"},
    {S_INSTR, 61, 1, 255, STRATA_ERR_RANGE, "instruction: 255 children"},
    {S_INSTR, 62 + 14, 8, 0, STRATA_ERR_RANGE, "instruction: zero child"},
    {S_INSTR, 61, 1, 4, STRATA_ERR_SHORT, "instruction: one child more than sent"},
    {S_INSTR, 61, 1, 2, STRATA_ERR_LONG, "instruction: one child less than sent"},
    {S_PROBE, 4, 8, 0, STRATA_ERR_RANGE, "probe: zero node"},
    {S_PROBE_REPLY, 4, 8, 0, STRATA_ERR_RANGE, "probe_reply: zero node"},
    {S_PROBE_REPLY, 24, 8, 0, STRATA_ERR_RANGE, "probe_reply: zero responder"},
    {S_LEAVE, 4, 8, 0, STRATA_ERR_RANGE, "leave: zero node"},
    {S_LEAVE, 12, 8, 0, STRATA_ERR_RANGE, "leave: zero channel"},
    {S_REPAIR, 4, 8, 0, STRATA_ERR_RANGE, "repair: zero node"},
    {S_REPAIR, 12, 8, 0, STRATA_ERR_RANGE, "repair: zero channel"},
    {S_REPAIR, 28, 8, 0, STRATA_ERR_RANGE, "repair: zero mask"},
    {S_REPAIR_TOP, 20, 8, UINT64_MAX - 62, STRATA_ERR_RANGE, "repair: seq wraps"},
    {S_REPAIR, 20, 8, UINT64_MAX, STRATA_ERR_RANGE, "repair: seq wraps at bit 2"},
    {S_GQUERY, 4, 8, 0, STRATA_ERR_RANGE, "group_query: zero node"},
    {S_GINFO, 4, 8, 0, STRATA_ERR_RANGE, "group_info: zero node"},
    {S_GREPORT, 4, 8, 0, STRATA_ERR_RANGE, "group_report: zero node"},
    {S_GREPORT, 12, 8, 0, STRATA_ERR_RANGE, "group_report: zero group"},
    {S_GREPORT, 28, 1, 9, STRATA_ERR_RANGE, "group_report: 9 near groups"},
    {S_GREPORT, 28, 1, 255, STRATA_ERR_RANGE, "group_report: 255 near groups"},
    {S_GREPORT, 28, 1, 3, STRATA_ERR_SHORT, "group_report: one near group more"},
    {S_GREPORT, 28, 1, 1, STRATA_ERR_LONG, "group_report: one near group less"},
    {S_GREPORT, 29, 8, 0, STRATA_ERR_RANGE, "group_report: zero near group"},
    {S_GREPORT, 41, 8, 0x6a, STRATA_ERR_RANGE, "group_report: its own group as near"},
    {S_GBOOT, 4, 8, 0, STRATA_ERR_RANGE, "group_bootstrap: zero node"},
    {S_MESH_STATE, 4, 8, 0, STRATA_ERR_RANGE, "mesh_state: zero channel"},
    {S_MESH_STATE, 12, 8, 0, STRATA_ERR_RANGE, "mesh_state: zero node"},
    {S_MESH_STATE, 20, 1, 0, STRATA_ERR_RANGE, "mesh_state: k 0"},
    {S_MESH_STATE, 20, 1, 17, STRATA_ERR_RANGE, "mesh_state: k 17"},
    {S_MESH_STATE, 20, 1, 5, STRATA_ERR_SHORT, "mesh_state: one substream more than sent"},
    {S_MESH_STATE, 20, 1, 3, STRATA_ERR_LONG, "mesh_state: one substream less than sent"},
    {S_MESH_STATE, 21, 4, 0x10, STRATA_ERR_RANGE, "mesh_state: want bit 4 of k 4"},
    {S_GBOOT_REPLY, 4, 8, 0, STRATA_ERR_RANGE, "group_bootstrap_reply: zero node"},
    {S_GBOOT_REPLY, 16, 1, 9, STRATA_ERR_RANGE, "group_bootstrap_reply: 9 leaders"},
    {S_GBOOT_REPLY, 16, 1, 255, STRATA_ERR_RANGE, "group_bootstrap_reply: 255 leaders"},
    {S_GBOOT_REPLY, 16, 1, 4, STRATA_ERR_SHORT, "group_bootstrap_reply: one leader more"},
    {S_GBOOT_REPLY, 16, 1, 2, STRATA_ERR_LONG, "group_bootstrap_reply: one leader less"},
    {S_GBOOT_REPLY, 17, 8, 0, STRATA_ERR_RANGE, "group_bootstrap_reply: zero group"},
    {S_GBOOT_REPLY, 25, 8, 0, STRATA_ERR_RANGE, "group_bootstrap_reply: zero leader"},
    {S_GBOOT_REPLY, 39, 4, 0, STRATA_ERR_RANGE, "group_bootstrap_reply: no members"},
    {S_GINFO, 16, 1, 4, STRATA_ERR_RANGE, "group_info: status 4"},
    {S_GINFO, 17, 1, 0, STRATA_ERR_RANGE, "group_info: metric 0"},
    {S_GINFO, 17, 1, 4, STRATA_ERR_RANGE, "group_info: metric 4"},
    {S_GINFO, 18, 8, 0, STRATA_ERR_RANGE, "group_info: leader without a group"},
    {S_GINFO, 30, 8, 0x11, STRATA_ERR_RANGE, "group_info: leader is not the sender"},
    {S_GINFO, 44, 4, 0, STRATA_ERR_RANGE, "group_info: leader of no member"},
    {S_GINFO, 48, 1, 33, STRATA_ERR_RANGE, "group_info: 33 neighbours"},
    {S_GINFO, 48, 1, 255, STRATA_ERR_RANGE, "group_info: 255 neighbours"},
    {S_GINFO, 48, 1, 4, STRATA_ERR_SHORT, "group_info: one neighbour more than sent"},
    {S_GINFO, 48, 1, 2, STRATA_ERR_LONG, "group_info: one neighbour less than sent"},
    {S_GINFO, 49, 8, 0, STRATA_ERR_RANGE, "group_info: neighbour without a group"},
    {S_GINFO, 49 + 26, 8, 0x6a, STRATA_ERR_RANGE, "group_info: own group as neighbour"},
    {S_GINFO, 49 + 8, 8, 0, STRATA_ERR_RANGE, "group_info: neighbour without a leader"},
    {S_GINFO, 16, 1, 1, STRATA_ERR_RANGE, "group_info: member naming itself, with neighbours"},
    {S_GINFO, 16, 1, 2, STRATA_ERR_RANGE, "group_info: no group, with a group"},
    {S_GINFO_MEMBER, 30, 8, 0x11, STRATA_ERR_RANGE, "group_info: member names itself"},
    {S_GINFO_MEMBER, 30, 8, 0, STRATA_ERR_RANGE, "group_info: member names no leader"},
    {S_GINFO_MEMBER, 18, 8, 0, STRATA_ERR_RANGE, "group_info: member of no group"},
    {S_GINFO_NOGROUP, 18, 8, 1, STRATA_ERR_RANGE, "group_info: no group with a group"},
    {S_GINFO_NOGROUP, 26, 4, 1, STRATA_ERR_RANGE, "group_info: no group with a term"},
    {S_GINFO_NOGROUP, 42, 2, 1, STRATA_ERR_RANGE, "group_info: no group with a leader port"},
    {S_GINFO_NOGROUP, 44, 4, 1, STRATA_ERR_RANGE, "group_info: no group with members"},
    {S_GINFO_NOGROUP, 48, 1, 1, STRATA_ERR_SHORT, "group_info: no group, a neighbour short"},
    {S_GJOIN, 4, 8, 0, STRATA_ERR_RANGE, "group_join: zero node"},
    {S_GJOIN, 16, 8, 0, STRATA_ERR_RANGE, "group_join: zero group"},
    {S_GSTATE, 4, 8, 0, STRATA_ERR_RANGE, "group_state: zero leader"},
    {S_GSTATE, 12, 8, 0, STRATA_ERR_RANGE, "group_state: zero group"},
    {S_GSTATE, 28, 8, 0, STRATA_ERR_RANGE, "group_state: zero member"},
    {S_GSTATE, 40, 4, 0, STRATA_ERR_RANGE, "group_state: no members"},
    {S_GSTATE, 40, 4, 4, STRATA_ERR_RANGE, "group_state: page beyond the members"},
    {S_GSTATE, 44, 4, 1, STRATA_ERR_RANGE, "group_state: page offset beyond the members"},
    {S_GSTATE, 44, 4, UINT32_MAX, STRATA_ERR_RANGE, "group_state: page offset wraps"},
    {S_GSTATE, 48, 1, 0, STRATA_ERR_RANGE, "group_state: metric 0"},
    {S_GSTATE, 48, 1, 4, STRATA_ERR_RANGE, "group_state: metric 4"},
    {S_GSTATE, 49, 1, 9, STRATA_ERR_RANGE, "group_state: 9 successors"},
    {S_GSTATE, 50, 1, 33, STRATA_ERR_RANGE, "group_state: 33 neighbours"},
    {S_GSTATE, 51, 1, 65, STRATA_ERR_RANGE, "group_state: 65 members in a page"},
    {S_GSTATE_MAX, 51, 1, 35, STRATA_ERR_RANGE, "group_state: 35 page entries > 1472"},
    {S_GSTATE, 51, 1, 6, STRATA_ERR_SHORT, "group_state: one page entry more than sent"},
    {S_GSTATE, 51, 1, 4, STRATA_ERR_LONG, "group_state: one page entry less than sent"},
    {S_GSTATE, 52, 8, 0, STRATA_ERR_RANGE, "group_state: zero successor"},
    {S_GSTATE, 52 + 14, 8, 0x10, STRATA_ERR_RANGE, "group_state: leader as successor"},
    {S_GSTATE, 52 + 28, 8, 0x6a, STRATA_ERR_RANGE, "group_state: own group as neighbour"},
    {S_GSTATE, 52 + 28 + 8, 8, 0, STRATA_ERR_RANGE, "group_state: neighbour without leader"},
    {S_GSTATE, 52 + 28 + 26 + 14 * 4, 8, 0, STRATA_ERR_RANGE, "group_state: zero page entry"},
    {S_GSTATE_MIN, 40, 4, 0, STRATA_ERR_RANGE, "group_state: min with no members"},
    {S_GKA, 4, 8, 0, STRATA_ERR_RANGE, "group_keepalive: zero node"},
    {S_GKA, 12, 8, 0, STRATA_ERR_RANGE, "group_keepalive: zero group"},
    {S_GKA, 28, 1, 0x04, STRATA_ERR_RANGE, "group_keepalive: unknown flag"},
    {S_GKA, 28, 1, 0x02, STRATA_ERR_RANGE, "group_keepalive: LEFT without TAKEOVER"},
    {S_GKA, 28, 1, 0x01, STRATA_ERR_RANGE, "group_keepalive: TAKEOVER without a lost leader"},
    {S_GKA, 29, 8, 5, STRATA_ERR_RANGE, "group_keepalive: lost leader without TAKEOVER"},
    {S_GKA_TAKEOVER, 29, 8, 0, STRATA_ERR_RANGE, "group_keepalive: TAKEOVER of nobody"},
    {S_GLEAVE, 4, 8, 0, STRATA_ERR_RANGE, "group_leave: zero node"},
    {S_GLEAVE, 12, 8, 0, STRATA_ERR_RANGE, "group_leave: zero group"},
    {S_GLEAVE, 24, 8, 5, STRATA_ERR_RANGE, "group_leave: next group without a leader"},
    {S_GLEAVE, 40, 4, 1, STRATA_ERR_RANGE, "group_leave: no next group, an address"},
    {S_GLEAVE, 32, 8, 1, STRATA_ERR_RANGE, "group_leave: no next group, a leader"},
    {S_GLEAVE_HANDOVER, 32, 8, 0, STRATA_ERR_RANGE, "group_leave: next group, no leader"},
    {S_GLEAVE_HANDOVER, 32, 8, 0x10, STRATA_ERR_RANGE, "group_leave: hands over to itself"},
    {S_GLINK, 4, 8, 0, STRATA_ERR_RANGE, "group_link: zero node"},
    {S_GLINK, 12, 8, 0, STRATA_ERR_RANGE, "group_link: zero group"},
    {S_GLINK, 24, 8, 0x6a, STRATA_ERR_RANGE, "group_link: link to itself"},
    {S_GLINK, 32, 1, 5, STRATA_ERR_RANGE, "group_link: kind 5"},
    {S_GPING, 4, 8, 0, STRATA_ERR_RANGE, "group_ping: zero node"},
    {S_GPONG, 4, 8, 0, STRATA_ERR_RANGE, "group_pong: zero node"},
    {S_GPONG, 24, 8, 0, STRATA_ERR_RANGE, "group_pong: zero responder"},
};

static void test_patches(void)
{
    static uint8_t buf[BUF_BYTES];
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        const patch *t = &patches[i];
        const codec *c = codec_of(samples[t->sample].type);
        anymsg m, d;
        size_t len = encode_sample(t->sample, &m, buf);
        CHECK(t->offset + t->width <= len);
        if (t->offset + t->width > len)
            continue;
        for (size_t b = 0; b < t->width; b++)
            buf[t->offset + b] = (uint8_t)(t->value >> (8 * (t->width - 1 - b)));
        int got = c->dec(buf, len, &d);
        CHECK_EQ_INT(got, t->err);
        if (got != t->err)
            fprintf(stderr, "  patch: %s\n", t->what);
    }
}

/* Encoder: a struct breaking a limit gives STRATA_ERR_INVAL. */
typedef struct edit {
    enum sample_id sample;
    void (*apply)(anymsg *m);
    const char *what;
} edit;

#define EDIT(name, stmt)                                                                           \
    static void edit_##name(anymsg *m)                                                             \
    {                                                                                              \
        stmt;                                                                                      \
    }
EDIT(data_channel, m->data.channel.v = 0)
EDIT(data_substream, m->data.substream = STRATA_WIRE_MAX_SUBSTREAMS)
EDIT(data_flags, m->data.flags = 0x08)
EDIT(data_parity_repair, m->data.flags = STRATA_DATA_FLAG_PARITY | STRATA_DATA_FLAG_REPAIR)
EDIT(data_parity_substream, m->data.substream = STRATA_WIRE_MAX_TREES)
EDIT(data_parity_short, m->data.payload_len = 1)
EDIT(data_eos, m->data.flags = STRATA_DATA_FLAG_EOS)
EDIT(data_payload, m->data.payload_len = STRATA_WIRE_MAX_PAYLOAD_BYTES + 1)
EDIT(data_tag, m->data.auth_tag_len = STRATA_WIRE_MAX_AUTH_TAG_BYTES + 1;
     m->data.auth_tag = pattern)
EDIT(data_total, m->data.payload_len++)
EDIT(data_null_payload, m->data.payload = NULL)
EDIT(data_null_tag, m->data.auth_tag_len = 1; m->data.auth_tag = NULL)
EDIT(hb_node, m->heartbeat.node.v = 0)
EDIT(hb_channel, m->heartbeat.channel.v = 0)
EDIT(hb_parents, m->heartbeat.n_parents = STRATA_WIRE_MAX_TREES + 1)
EDIT(hb_children, m->heartbeat.n_children = STRATA_WIRE_MAX_HB_CHILDREN + 1)
EDIT(hb_fit, m->heartbeat.n_children = 38)
EDIT(hb_child_zero, m->heartbeat.children[1].child.v = 0)
EDIT(hb_child_substream, m->heartbeat.children[0].substream = 4)
EDIT(hb_child_substream16, m->heartbeat.children[0].substream = 16)
EDIT(join_node, m->join.node.v = 0)
EDIT(join_role, m->join.role = STRATA_ROLE_MAX + 1)
EDIT(join_rate, m->join.rate_kbps = 1)
EDIT(join_name0, m->join.name_len = 0)
EDIT(join_name65, m->join.name_len = STRATA_WIRE_MAX_NAME_BYTES + 1)
EDIT(join_region33, m->join.region_len = STRATA_WIRE_MAX_REGION_BYTES + 1)
EDIT(join_null_name, m->join.name = NULL)
EDIT(join_null_region, m->join.region = NULL)
EDIT(jr_node, m->join_reply.node.v = 0)
EDIT(jr_channel, m->join_reply.channel.v = 0)
EDIT(jr_status, m->join_reply.status = STRATA_JOIN_STATUS_MAX + 1)
EDIT(jr_k0, m->join_reply.k = 0)
EDIT(jr_k17, m->join_reply.k = STRATA_WIRE_MAX_SUBSTREAMS + 1)
EDIT(jr_hb, m->join_reply.heartbeat_ms = 0)
EDIT(in_node, m->instruction.node.v = 0)
EDIT(in_channel, m->instruction.channel.v = 0)
EDIT(in_k0, m->instruction.k = 0; m->instruction.substream = 0)
EDIT(in_k17, m->instruction.k = STRATA_WIRE_MAX_SUBSTREAMS + 1)
EDIT(in_substream, m->instruction.substream = m->instruction.k)
EDIT(in_alg0, m->instruction.algorithm = 0)
EDIT(in_alg5, m->instruction.algorithm = STRATA_ALG_MAX + 1)
EDIT(in_nb_over, m->instruction.n_neighbours = (uint8_t)(m->instruction.n_children + 1))
EDIT(in_nb_tree, m->instruction.algorithm = STRATA_ALG_FLOOD)
EDIT(ms_channel, m->mesh_state.channel.v = 0)
EDIT(ms_node, m->mesh_state.node.v = 0)
EDIT(ms_k0, m->mesh_state.k = 0)
EDIT(ms_k17, m->mesh_state.k = STRATA_WIRE_MAX_SUBSTREAMS + 1)
EDIT(ms_want, m->mesh_state.want |= 1u << m->mesh_state.k)
EDIT(in_n_tree, m->instruction.n = 1)
EDIT(in_n9, m->instruction.n = STRATA_WIRE_MAX_PARITY + 1)
EDIT(in_ec_substream, m->instruction.substream = STRATA_WIRE_MAX_TREES)
EDIT(in_level5, m->instruction.level = STRATA_WIRE_MAX_LEVEL + 1)
EDIT(in_children, m->instruction.n_children = STRATA_WIRE_MAX_CHILDREN + 1)
EDIT(in_child_zero, m->instruction.children[2].node.v = 0)
EDIT(in_source_half, m->instruction.source.node.v = 0)
EDIT(in_source_port, m->instruction.source.addr.port = 1)
EDIT(pr_node, m->probe.node.v = 0)
EDIT(prr_node, m->probe_reply.node.v = 0)
EDIT(prr_responder, m->probe_reply.responder.v = 0)
EDIT(lv_node, m->leave.node.v = 0)
EDIT(lv_channel, m->leave.channel.v = 0)
EDIT(rp_node, m->repair.node.v = 0)
EDIT(rp_channel, m->repair.channel.v = 0)
EDIT(rp_mask, m->repair.mask = 0)
EDIT(rp_wrap, m->repair.first_seq++)
EDIT(gq_node, m->group_query.node.v = 0)
EDIT(gi_node, m->group_info.node.v = 0)
EDIT(gi_status, m->group_info.status = STRATA_GROUP_INFO_STATUS_MAX + 1)
EDIT(gi_metric0, m->group_info.metric = 0)
EDIT(gi_metric4, m->group_info.metric = STRATA_GROUP_METRIC_MAX + 1)
EDIT(gi_group, m->group_info.group.v = 0)
EDIT(gi_leader, m->group_info.leader.node.v++)
EDIT(gi_members, m->group_info.n_members = 0)
EDIT(gi_nbs, m->group_info.n_neighbours = STRATA_WIRE_MAX_GROUP_NEIGHBOURS + 1)
EDIT(gi_nb_group, m->group_info.neighbours[1].group.v = 0)
EDIT(gi_nb_own, m->group_info.neighbours[2].group = m->group_info.group)
EDIT(gi_nb_leader, m->group_info.neighbours[0].leader.node.v = 0)
EDIT(gi_member_nbs, m->group_info.n_neighbours = 1; m->group_info.neighbours[0].group.v = 7;
     m->group_info.neighbours[0].leader.node.v = 8)
EDIT(gi_member_self, m->group_info.leader.node = m->group_info.node)
EDIT(gi_nogroup_group, m->group_info.group.v = 1)
EDIT(gi_nogroup_leader, m->group_info.leader.addr.ipv4 = 1)
EDIT(gj_node, m->group_join.node.v = 0)
EDIT(gj_group, m->group_join.group.v = 0)
EDIT(gs_leader, m->group_state.leader.v = 0)
EDIT(gs_group, m->group_state.group.v = 0)
EDIT(gs_member, m->group_state.member.v = 0)
EDIT(gs_metric, m->group_state.metric = 0)
EDIT(gs_members0, m->group_state.n_members = 0)
EDIT(gs_succ_many, m->group_state.n_successors = STRATA_WIRE_MAX_GROUP_SUCCESSORS + 1)
EDIT(gs_succ_all, m->group_state.n_members = 2; m->group_state.n_page = 2)
EDIT(gs_succ_zero, m->group_state.successors[1].node.v = 0)
EDIT(gs_succ_leader, m->group_state.successors[0].node = m->group_state.leader)
EDIT(gs_nbs, m->group_state.n_neighbours = STRATA_WIRE_MAX_GROUP_NEIGHBOURS + 1)
EDIT(gs_nb_own, m->group_state.neighbours[0].group = m->group_state.group)
EDIT(gs_page_many, m->group_state.n_page = STRATA_WIRE_MAX_GROUP_PAGE + 1)
EDIT(gs_page_fit, m->group_state.n_page = 35)
EDIT(gs_page_beyond, m->group_state.page_offset = 1)
EDIT(gs_page_zero, m->group_state.page[3].node.v = 0)
EDIT(gk_node, m->group_keepalive.node.v = 0)
EDIT(gk_group, m->group_keepalive.group.v = 0)
EDIT(gk_flags, m->group_keepalive.flags = 0x04)
EDIT(gk_left, m->group_keepalive.flags = STRATA_GROUP_KA_LEFT)
EDIT(gk_lost, m->group_keepalive.lost_leader.v = 9)
EDIT(gk_nolost, m->group_keepalive.lost_leader.v = 0)
EDIT(gl_node, m->group_leave.node.v = 0)
EDIT(gl_group, m->group_leave.group.v = 0)
EDIT(gl_half, m->group_leave.next_group.v = 9)
EDIT(gl_addr, m->group_leave.next_leader.addr.port = 1)
EDIT(gl_noleader, m->group_leave.next_leader.node.v = 0)
EDIT(gl_self, m->group_leave.next_leader.node = m->group_leave.node)
EDIT(gk2_node, m->group_link.node.v = 0)
EDIT(gk2_group, m->group_link.group.v = 0)
EDIT(gk2_self, m->group_link.peer_group = m->group_link.group)
EDIT(gk2_kind, m->group_link.kind = STRATA_GROUP_LINK_KIND_MAX + 1)
EDIT(gp_node, m->group_ping.node.v = 0)
EDIT(gpo_node, m->group_pong.node.v = 0)
EDIT(gpo_responder, m->group_pong.responder.v = 0)
EDIT(grp_node, m->group_report.node.v = 0)
EDIT(grp_group, m->group_report.group.v = 0)
EDIT(gb_node, m->group_bootstrap.node.v = 0)
EDIT(gbr_node, m->group_bootstrap_reply.node.v = 0)
EDIT(gbr_count, m->group_bootstrap_reply.n_leaders = STRATA_WIRE_MAX_BOOTSTRAP_LEADERS + 1)
EDIT(gbr_group, m->group_bootstrap_reply.leaders[1].group.v = 0)
EDIT(gbr_leader, m->group_bootstrap_reply.leaders[0].leader.node.v = 0)
EDIT(gbr_members, m->group_bootstrap_reply.leaders[2].n_members = 0)
#undef EDIT

static const edit edits[] = {
    {S_DATA, edit_data_channel, "data: zero channel"},
    {S_DATA, edit_data_substream, "data: substream 16"},
    {S_DATA, edit_data_flags, "data: unknown flag"},
    {S_DATA_PARITY, edit_data_parity_repair, "data: PARITY|REPAIR"},
    {S_DATA_PARITY, edit_data_parity_substream, "data: parity substream 24"},
    {S_DATA_PARITY, edit_data_parity_short, "data: parity payload 1"},
    {S_DATA, edit_data_eos, "data: EOS with payload"},
    {S_DATA, edit_data_payload, "data: payload 1401"},
    {S_DATA, edit_data_tag, "data: tag 65"},
    {S_DATA_TAG, edit_data_total, "data: 1473 bytes"},
    {S_DATA, edit_data_null_payload, "data: NULL payload"},
    {S_DATA, edit_data_null_tag, "data: NULL tag"},
    {S_HB, edit_hb_node, "heartbeat: zero node"},
    {S_HB, edit_hb_channel, "heartbeat: zero channel"},
    {S_HB, edit_hb_parents, "heartbeat: 25 parents"},
    {S_HB, edit_hb_children, "heartbeat: 65 children"},
    {S_HB_MAX, edit_hb_fit, "heartbeat: 16 parents + 38 children"},
    {S_HB, edit_hb_child_zero, "heartbeat: zero child"},
    {S_HB, edit_hb_child_substream, "heartbeat: child substream == k"},
    {S_HB_MAX, edit_hb_child_substream16, "heartbeat: child substream 16"},
    {S_JOIN, edit_join_node, "join: zero node"},
    {S_JOIN, edit_join_role, "join: role 4"},
    {S_JOIN, edit_join_rate, "join: peer with a rate"},
    {S_JOIN, edit_join_name0, "join: empty name"},
    {S_JOIN_MAX, edit_join_name65, "join: name 65"},
    {S_JOIN_MAX, edit_join_region33, "join: region 33"},
    {S_JOIN, edit_join_null_name, "join: NULL name"},
    {S_JOIN, edit_join_null_region, "join: NULL region"},
    {S_JOIN_REPLY, edit_jr_node, "join_reply: zero node"},
    {S_JOIN_REPLY, edit_jr_channel, "join_reply: zero channel"},
    {S_JOIN_REPLY, edit_jr_status, "join_reply: status 6"},
    {S_JOIN_REPLY, edit_jr_k0, "join_reply: k 0"},
    {S_JOIN_REPLY, edit_jr_k17, "join_reply: k 17"},
    {S_JOIN_REPLY, edit_jr_hb, "join_reply: heartbeat_ms 0"},
    {S_INSTR, edit_in_node, "instruction: zero node"},
    {S_INSTR, edit_in_channel, "instruction: zero channel"},
    {S_INSTR, edit_in_k0, "instruction: k 0"},
    {S_INSTR_MAX, edit_in_k17, "instruction: k 17"},
    {S_INSTR, edit_in_substream, "instruction: substream == k"},
    {S_INSTR, edit_in_alg0, "instruction: algorithm 0"},
    {S_INSTR, edit_in_alg5, "instruction: algorithm 5"},
    {S_INSTR_MESH, edit_in_nb_over, "instruction: more neighbours than children"},
    {S_INSTR_MESH, edit_in_nb_tree, "instruction: neighbours with FLOOD"},
    {S_INSTR, edit_in_n_tree, "instruction: parity trees with TREE"},
    {S_INSTR_EC, edit_in_n9, "instruction: n 9"},
    {S_INSTR_EC, edit_in_ec_substream, "instruction: substream 24"},
    {S_INSTR, edit_in_level5, "instruction: level 5"},
    {S_INSTR_MAX, edit_in_children, "instruction: 65 children"},
    {S_INSTR, edit_in_child_zero, "instruction: zero child"},
    {S_INSTR, edit_in_source_half, "instruction: source address without a node"},
    {S_INSTR_MIN, edit_in_source_port, "instruction: unknown source with a port"},
    {S_PROBE, edit_pr_node, "probe: zero node"},
    {S_PROBE_REPLY, edit_prr_node, "probe_reply: zero node"},
    {S_PROBE_REPLY, edit_prr_responder, "probe_reply: zero responder"},
    {S_LEAVE, edit_lv_node, "leave: zero node"},
    {S_LEAVE, edit_lv_channel, "leave: zero channel"},
    {S_REPAIR, edit_rp_node, "repair: zero node"},
    {S_REPAIR, edit_rp_channel, "repair: zero channel"},
    {S_REPAIR, edit_rp_mask, "repair: zero mask"},
    {S_REPAIR_TOP, edit_rp_wrap, "repair: seq wraps"},
    {S_GQUERY, edit_gq_node, "group_query: zero node"},
    {S_GINFO, edit_gi_node, "group_info: zero node"},
    {S_GINFO, edit_gi_status, "group_info: status 4"},
    {S_GINFO, edit_gi_metric0, "group_info: metric 0"},
    {S_GINFO, edit_gi_metric4, "group_info: metric 4"},
    {S_GINFO, edit_gi_group, "group_info: leader of no group"},
    {S_GINFO, edit_gi_leader, "group_info: leader is not the sender"},
    {S_GINFO, edit_gi_members, "group_info: no members"},
    {S_GINFO_MAX, edit_gi_nbs, "group_info: 33 neighbours"},
    {S_GINFO, edit_gi_nb_group, "group_info: neighbour of no group"},
    {S_GINFO, edit_gi_nb_own, "group_info: own group as neighbour"},
    {S_GINFO, edit_gi_nb_leader, "group_info: neighbour without leader"},
    {S_GINFO_MEMBER, edit_gi_member_nbs, "group_info: member with neighbours"},
    {S_GINFO_MEMBER, edit_gi_member_self, "group_info: member names itself"},
    {S_GINFO_NOGROUP, edit_gi_nogroup_group, "group_info: no group with a group"},
    {S_GINFO_NOGROUP, edit_gi_nogroup_leader, "group_info: no group with a leader"},
    {S_GJOIN, edit_gj_node, "group_join: zero node"},
    {S_GJOIN, edit_gj_group, "group_join: zero group"},
    {S_GSTATE, edit_gs_leader, "group_state: zero leader"},
    {S_GSTATE, edit_gs_group, "group_state: zero group"},
    {S_GSTATE, edit_gs_member, "group_state: zero member"},
    {S_GSTATE, edit_gs_metric, "group_state: metric 0"},
    {S_GSTATE_MIN, edit_gs_members0, "group_state: no members"},
    {S_GSTATE, edit_gs_succ_many, "group_state: 9 successors"},
    {S_GSTATE, edit_gs_succ_all, "group_state: every member a successor"},
    {S_GSTATE, edit_gs_succ_zero, "group_state: zero successor"},
    {S_GSTATE, edit_gs_succ_leader, "group_state: leader as successor"},
    {S_GSTATE, edit_gs_nbs, "group_state: 33 neighbours"},
    {S_GSTATE, edit_gs_nb_own, "group_state: own group as neighbour"},
    {S_GSTATE, edit_gs_page_many, "group_state: 65 page entries"},
    {S_GSTATE_MAX, edit_gs_page_fit, "group_state: 35 page entries > 1472"},
    {S_GSTATE, edit_gs_page_beyond, "group_state: page beyond the members"},
    {S_GSTATE, edit_gs_page_zero, "group_state: zero page entry"},
    {S_GKA, edit_gk_node, "group_keepalive: zero node"},
    {S_GKA, edit_gk_group, "group_keepalive: zero group"},
    {S_GKA, edit_gk_flags, "group_keepalive: unknown flag"},
    {S_GKA, edit_gk_left, "group_keepalive: LEFT alone"},
    {S_GKA, edit_gk_lost, "group_keepalive: lost leader without TAKEOVER"},
    {S_GKA_TAKEOVER, edit_gk_nolost, "group_keepalive: TAKEOVER of nobody"},
    {S_GLEAVE, edit_gl_node, "group_leave: zero node"},
    {S_GLEAVE, edit_gl_group, "group_leave: zero group"},
    {S_GLEAVE, edit_gl_half, "group_leave: next group without leader"},
    {S_GLEAVE, edit_gl_addr, "group_leave: address without next group"},
    {S_GLEAVE_HANDOVER, edit_gl_noleader, "group_leave: next group, no leader"},
    {S_GLEAVE_HANDOVER, edit_gl_self, "group_leave: hands over to itself"},
    {S_GLINK, edit_gk2_node, "group_link: zero node"},
    {S_GLINK, edit_gk2_group, "group_link: zero group"},
    {S_GLINK, edit_gk2_self, "group_link: link to itself"},
    {S_GLINK, edit_gk2_kind, "group_link: kind 5"},
    {S_GPING, edit_gp_node, "group_ping: zero node"},
    {S_GPONG, edit_gpo_node, "group_pong: zero node"},
    {S_GPONG, edit_gpo_responder, "group_pong: zero responder"},
    {S_GREPORT, edit_grp_node, "group_report: zero node"},
    {S_GREPORT, edit_grp_group, "group_report: zero group"},
    {S_GBOOT, edit_gb_node, "group_bootstrap: zero node"},
    {S_GBOOT_REPLY, edit_gbr_node, "group_bootstrap_reply: zero node"},
    {S_GBOOT_REPLY, edit_gbr_count, "group_bootstrap_reply: 9 leaders"},
    {S_GBOOT_REPLY, edit_gbr_group, "group_bootstrap_reply: zero group"},
    {S_GBOOT_REPLY, edit_gbr_leader, "group_bootstrap_reply: zero leader"},
    {S_GBOOT_REPLY, edit_gbr_members, "group_bootstrap_reply: no members"},
    {S_MESH_STATE, edit_ms_channel, "mesh_state: zero channel"},
    {S_MESH_STATE, edit_ms_node, "mesh_state: zero node"},
    {S_MESH_STATE, edit_ms_k0, "mesh_state: k 0"},
    {S_MESH_STATE_MAX, edit_ms_k17, "mesh_state: k 17"},
    {S_MESH_STATE, edit_ms_want, "mesh_state: want bit k"},
};

static void test_edits(void)
{
    static uint8_t buf[BUF_BYTES];
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        const edit *t = &edits[i];
        const codec *c = codec_of(samples[t->sample].type);
        anymsg m;
        build_sample(t->sample, &m);
        t->apply(&m);
        /* INVAL wins over NOSPACE: the struct is judged first. */
        int got = c->enc(buf, sizeof buf, &m);
        int got_small = c->enc(buf, 1, &m);
        CHECK_EQ_INT(got, STRATA_ERR_INVAL);
        CHECK_EQ_INT(got_small, STRATA_ERR_INVAL);
        if (got != STRATA_ERR_INVAL || got_small != STRATA_ERR_INVAL)
            fprintf(stderr, "  edit: %s\n", t->what);
    }
}

static void test_peek_and_drops(void)
{
    uint8_t h[5] = {0x53, 0x54, 0x01, 0x01, 0x00};
    for (int t = 1; t <= STRATA_MSG_TYPE_MAX; t++) {
        h[3] = (uint8_t)t;
        CHECK_EQ_INT(strata_wire_peek_type(h, 4), t);
        CHECK_EQ_INT(strata_wire_peek_type(h, 5), t);
    }
    for (size_t n = 0; n < 4; n++)
        CHECK_EQ_INT(strata_wire_peek_type(h, n), STRATA_ERR_SHORT);
    CHECK_EQ_INT(strata_wire_peek_type(NULL, 0), STRATA_ERR_SHORT);
    h[3] = 0;
    CHECK_EQ_INT(strata_wire_peek_type(h, 4), STRATA_ERR_TYPE);
    h[3] = STRATA_MSG_TYPE_MAX + 1;
    CHECK_EQ_INT(strata_wire_peek_type(h, 4), STRATA_ERR_TYPE);
    h[2] = 2;
    CHECK_EQ_INT(strata_wire_peek_type(h, 4), STRATA_ERR_VERSION);
    h[0] = 'T';
    CHECK_EQ_INT(strata_wire_peek_type(h, 4), STRATA_ERR_MAGIC);

    strata_drop_counters c;
    memset(&c, 0, sizeof c);
    strata_drop_count(&c, STRATA_ERR_SHORT);
    strata_drop_count(&c, STRATA_ERR_SHORT);
    strata_drop_count(&c, STRATA_ERR_RANGE);
    strata_drop_count(&c, STRATA_ERR_UNEXPECTED);
    strata_drop_count(&c, -15);
    strata_drop_count(&c, -16);
    strata_drop_count(&c, -99);
    strata_drop_count(&c, STRATA_ERR_INVAL);
    strata_drop_count(&c, INT_MIN);
    strata_drop_count(&c, 0);
    strata_drop_count(&c, 5);
    strata_drop_count(NULL, STRATA_ERR_SHORT);
    CHECK_EQ_U64(c.by_reason[1], 2);
    CHECK_EQ_U64(c.by_reason[6], 1);
    CHECK_EQ_U64(c.by_reason[7], 1);
    CHECK_EQ_U64(c.by_reason[15], 5);
    CHECK_EQ_U64(c.by_reason[0], 2);
    CHECK_EQ_U64(c.total, 11);
}

/* Random valid messages round-trip exactly. */
static void test_random_roundtrip(uint64_t seed)
{
    static uint8_t buf[BUF_BYTES], buf2[BUF_BYTES], scratch[BUF_BYTES];
    strata_rng r;
    strata_rng_seed(&r, seed);
    int failures_before = test_failures;
    for (int i = 0; i < 5000 && test_failures == failures_before; i++) {
        const codec *c = &codecs[rnd(&r, N_CODECS)];
        anymsg m, d;
        c->rand(&r, &m, scratch);
        int n = c->enc(buf, sizeof buf, &m);
        CHECK(n > 0 && n <= STRATA_WIRE_MAX_DATAGRAM_BYTES);
        if (n <= 0) {
            fprintf(stderr, "  random %s #%d: encode %d\n", c->name, i, n);
            continue;
        }
        CHECK_EQ_INT(strata_wire_peek_type(buf, (size_t)n), c->type);
        CHECK_EQ_INT(c->dec(buf, (size_t)n, &d), n);
        CHECK(c->eq(&m, &d));
        CHECK_EQ_INT(c->enc(buf2, sizeof buf2, &d), n);
        CHECK_EQ_MEM(buf, buf2, (size_t)n);
        CHECK_EQ_INT(c->enc(buf2, (size_t)n - 1, &m), STRATA_ERR_NOSPACE);
        if (test_failures != failures_before)
            fprintf(stderr, "  random %s #%d (seed %" PRIu64 ")\n", c->name, i, seed);
    }
}

/* Hands one datagram to every decoder: nothing crashes, and whatever is
 * accepted re-encodes to the very same bytes. Returns how many accepted. */
static int feed_all(const uint8_t *in, size_t len)
{
    static uint8_t out[BUF_BYTES];
    int accepted = 0;
    for (size_t j = 0; j < N_CODECS; j++) {
        const codec *c = &codecs[j];
        anymsg d, d2;
        int n = c->dec(in, len, &d);
        if (n < 0) {
            CHECK(strata_err_is_input(n));
            continue;
        }
        accepted++;
        CHECK_EQ_INT(n, (long long)len);
        CHECK_EQ_INT(strata_wire_peek_type(in, len), c->type);
        int m = c->enc(out, sizeof out, &d);
        CHECK_EQ_INT(m, (long long)len);
        if (m == (int)len) {
            CHECK_EQ_MEM(out, in, len);
            CHECK_EQ_INT(c->dec(out, len, &d2), (long long)len);
            CHECK(c->eq(&d, &d2));
        }
    }
    CHECK(accepted <= 1);
    return accepted;
}

static void test_garbage(uint64_t seed)
{
    static uint8_t buf[BUF_BYTES], scratch[BUF_BYTES];
    strata_rng r;
    strata_rng_seed(&r, seed ^ 0x9e3779b97f4a7c15ull);
    int failures_before = test_failures;
    int accepted = 0, mutated_accepted = 0;
    for (int i = 0; i < 20000 && test_failures == failures_before; i++) {
        size_t len;
        int mode = (int)rnd(&r, 4);
        if (mode == 0) { /* bytes of any kind */
            len = (size_t)rnd(&r, 1600);
            rnd_bytes(&r, buf, len);
        } else if (mode == 1) { /* a good header over random bytes */
            len = 4 + (size_t)rnd(&r, 1600);
            rnd_bytes(&r, buf, len);
            buf[0] = 0x53;
            buf[1] = 0x54;
            buf[2] = STRATA_WIRE_VERSION;
            buf[3] = (uint8_t)(1 + rnd(&r, STRATA_MSG_TYPE_MAX));
        } else { /* a valid message with a few bytes changed, cut or grown */
            const codec *c = &codecs[rnd(&r, N_CODECS)];
            anymsg m;
            c->rand(&r, &m, scratch);
            int n = c->enc(buf, sizeof buf, &m);
            len = n > 0 ? (size_t)n : 0;
            size_t flips = 1 + (size_t)rnd(&r, 3);
            for (size_t f = 0; f < flips && len; f++) {
                size_t at = (size_t)rnd(&r, len);
                if (rnd(&r, 2))
                    buf[at] ^= (uint8_t)(1u << rnd(&r, 8));
                else
                    buf[at] = (uint8_t)strata_rng_next(&r);
            }
            if (mode == 3 && len) {
                size_t delta = (size_t)rnd(&r, 30);
                if (rnd(&r, 2)) {
                    len = delta < len ? len - delta : 0;
                } else {
                    rnd_bytes(&r, buf + len, delta);
                    len += delta;
                }
            }
        }
        int a = feed_all(buf, len);
        accepted += a;
        mutated_accepted += mode >= 2 ? a : 0;
        if (test_failures != failures_before)
            fprintf(stderr, "  garbage #%d mode %d len %zu (seed %" PRIu64 ")\n", i, mode, len,
                    seed);
    }
    /* The mutations must reach the accepting paths, or this tests little. */
    CHECK(mutated_accepted > 100);
    fprintf(stderr, "garbage: %d of 20000 accepted\n", accepted);
}

/* ------------------------------------------------------------------------ */
/* Seed corpora for the fuzz targets. */

static int write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    int rc = fclose(f);
    return (w == n && rc == 0) ? 0 : -1;
}

static int make_dir(const char *path)
{
    return (mkdir(path, 0777) == 0 || errno == EEXIST) ? 0 : -1;
}

static int write_corpus(const char *dir)
{
    static uint8_t buf[BUF_BYTES], scratch[BUF_BYTES];
    char path[1024];
    int status = make_dir(dir);
    for (size_t j = 0; j < N_CODECS && status == 0; j++) {
        const codec *c = &codecs[j];
        snprintf(path, sizeof path, "%s/fuzz_%s", dir, c->name);
        status = make_dir(path);
        /* the samples of this type */
        for (int id = 0; id < N_SAMPLES && status == 0; id++) {
            if (samples[id].type != c->type)
                continue;
            anymsg m;
            size_t len = encode_sample((enum sample_id)id, &m, buf);
            snprintf(path, sizeof path, "%s/fuzz_%s/%s", dir, c->name, samples[id].name);
            status = write_file(path, buf, len);
        }
        /* and a few random ones from a fixed seed, so reruns give the same files */
        strata_rng r;
        strata_rng_seed(&r, 1000 + j);
        for (int i = 0; i < 4 && status == 0; i++) {
            anymsg m;
            c->rand(&r, &m, scratch);
            int n = c->enc(buf, sizeof buf, &m);
            snprintf(path, sizeof path, "%s/fuzz_%s/random%d", dir, c->name, i);
            status = n > 0 ? write_file(path, buf, (size_t)n) : -1;
        }
    }
    if (status)
        fprintf(stderr, "writing corpus into %s failed\n", dir);
    return status ? 1 : 0;
}

int main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + 3);
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0)
        return write_corpus(argv[2]);

    uint64_t seed = test_seed(20240601);
    test_sizes_fit();
    test_samples();
    test_exact_bytes();
    test_patches();
    test_edits();
    test_peek_and_drops();
    test_random_roundtrip(seed);
    test_garbage(seed);
    return test_summary("test_wire");
}
