/*
 * libFuzzer target driving one group agent (core/groups*.c with its
 * distance cache) with fuzzed datagrams and time steps.
 *
 * The input is a small program. Its first byte picks the configuration
 * (metric, bootstrap leaders, tiny caps); then each step starts with an
 * opcode byte:
 *   0  advance time by a fuzzed amount and run every due deadline
 *   1  a raw datagram of fuzzed bytes
 *   2  GROUP_QUERY     3  GROUP_INFO      4  GROUP_JOIN     5  GROUP_STATE
 *   6  GROUP_KEEPALIVE 7  GROUP_LEAVE     8  GROUP_LINK     9  PROBE_REPLY
 *   10 GROUP_PONG      11 an API call (bootstrap, leave)
 * Structured messages are built from fuzzed fields around plausible values:
 * a handful of node and group ids, and the request ids, keepalive seqs and
 * probe ids the agent itself sent last (read back from its outbox), so the
 * agent gets past its own matching and deep into its states. They may then
 * be corrupted at one fuzzed offset.
 *
 * After every step the outbox is drained and every queued datagram must
 * decode with the decoder of its own type: the agent never sends what a
 * receiver would drop. Its state must stay in range and its caches within
 * their bounds. It must never crash, trip a sanitizer, or leak.
 */
#include "strata/groups.h"
#include "strata/wire.h"

#include "fuzz_prog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const strata_node_id ME = {0xfeed};

/* What the agent sent last, so answers can match it. */
typedef struct seen {
    uint32_t query_id, join_id, ka_seq, probe_id;
    uint64_t probe_ts;
    strata_group_id own_group;
} seen;

static strata_addr addr_of(uint8_t i)
{
    return (strata_addr){0x0a000000u + (i & 7u) + 1, 7000};
}
static strata_node_id node_of(uint8_t i)
{
    return (strata_node_id){0x100u + (i & 7u)};
}
static strata_peer_ref ref_of(uint8_t i)
{
    return (strata_peer_ref){node_of(i), addr_of(i)};
}
/* Groups 0x70.. plus, on bit 3, the agent's own. */
static strata_group_id group_of(uint8_t i, const seen *s)
{
    if ((i & 8) && s->own_group.v)
        return s->own_group;
    return (strata_group_id){0x70u + (i & 3u)};
}

static void check_outbox(strata_gnode *g, seen *s)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_gnode_outbox(g), &d)) {
        const uint8_t *b = d.buf->data;
        size_t n = d.buf->len;
        int rc;
        switch (strata_wire_peek_type(b, n)) {
        case STRATA_MSG_PROBE: {
            strata_msg_probe m;
            rc = strata_wire_decode_probe(b, n, &m);
            s->probe_id = m.probe_id;
            s->probe_ts = m.send_ts_ns;
            break;
        }
        case STRATA_MSG_PROBE_REPLY: {
            strata_msg_probe_reply m;
            rc = strata_wire_decode_probe_reply(b, n, &m);
            break;
        }
        case STRATA_MSG_GROUP_QUERY: {
            strata_msg_group_query m;
            rc = strata_wire_decode_group_query(b, n, &m);
            s->query_id = m.query_id;
            break;
        }
        case STRATA_MSG_GROUP_INFO: {
            strata_msg_group_info m;
            rc = strata_wire_decode_group_info(b, n, &m);
            break;
        }
        case STRATA_MSG_GROUP_JOIN: {
            strata_msg_group_join m;
            rc = strata_wire_decode_group_join(b, n, &m);
            s->join_id = m.join_id;
            break;
        }
        case STRATA_MSG_GROUP_STATE: {
            strata_msg_group_state m;
            rc = strata_wire_decode_group_state(b, n, &m);
            break;
        }
        case STRATA_MSG_GROUP_KEEPALIVE: {
            strata_msg_group_keepalive m;
            rc = strata_wire_decode_group_keepalive(b, n, &m);
            s->ka_seq = m.seq;
            break;
        }
        case STRATA_MSG_GROUP_LEAVE: {
            strata_msg_group_leave m;
            rc = strata_wire_decode_group_leave(b, n, &m);
            break;
        }
        case STRATA_MSG_GROUP_LINK: {
            strata_msg_group_link m;
            rc = strata_wire_decode_group_link(b, n, &m);
            break;
        }
        case STRATA_MSG_GROUP_PING: {
            strata_msg_group_ping m;
            rc = strata_wire_decode_group_ping(b, n, &m);
            s->probe_id = m.ping_id;
            s->probe_ts = m.send_ts_ns;
            break;
        }
        case STRATA_MSG_GROUP_PONG: {
            strata_msg_group_pong m;
            rc = strata_wire_decode_group_pong(b, n, &m);
            break;
        }
        default:
            rc = -1; /* an agent sends nothing else */
            break;
        }
        if (rc < 0 || (size_t)rc != n)
            abort();
        strata_buf_unref(d.buf);
    }
    s->own_group = strata_gnode_group(g);
}

static void maybe_corrupt(prog *r, uint8_t *buf, int n)
{
    uint8_t c = u8(r);
    if (n > 0 && (c & 0x80))
        buf[(size_t)(c & 0x7f) % (size_t)n] ^= u8(r);
}

static void fill_nb(prog *r, strata_group_nb *nb, uint8_t *count, size_t max, const seen *s,
                    strata_group_id own)
{
    uint8_t n = (uint8_t)(u8(r) % (max + 1));
    *count = 0;
    for (uint8_t i = 0; i < n; i++) {
        uint8_t k = u8(r);
        strata_group_id gid = group_of(k, s);
        if (gid.v == own.v)
            gid.v ^= 0x1000;
        nb[*count].group = gid;
        nb[*count].leader = ref_of((uint8_t)(k >> 4));
        nb[*count].distance = (k & 0x80) ? STRATA_GROUP_DISTANCE_UNKNOWN : (uint32_t)u16(r) * 10u;
        (*count)++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prog r = {data, data + size};
    uint8_t conf = u8(&r);
    strata_peer_ref boot[3] = {ref_of(0), ref_of(1), ref_of(2)};
    strata_gnode_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.node = ME;
    cfg.addr = (strata_addr){0x0a0000feu, 7000};
    cfg.seed = conf;
    cfg.metric = (uint8_t)(1 + conf % 3);
    cfg.bootstrap = boot;
    cfg.n_bootstrap = (conf >> 2) & 3;
    if (conf & 0x10) { /* tiny caps, so every bound is reached */
        cfg.max_members = 3;
        cfg.max_links = 2;
        cfg.max_candidates = 3;
        cfg.cache_entries = 4;
        cfg.successors = 1;
        cfg.max_tests = 2;
    }
    if (conf & 0x20)
        cfg.leader_abs = STRATA_GNODE_OFF;
    if (conf & 0x40)
        cfg.bridge_links = STRATA_GNODE_OFF;
    uint64_t now = (conf & 0x80) ? UINT64_MAX - STRATA_S(100000) : STRATA_S(1);
    strata_gnode *g = strata_gnode_new(&cfg, NULL, NULL, now);
    if (!g)
        return 0;
    uint32_t max_members = cfg.max_members ? cfg.max_members : STRATA_GNODE_DEFAULT_MAX_MEMBERS;
    uint32_t max_links = cfg.max_links ? cfg.max_links : STRATA_GNODE_DEFAULT_MAX_LINKS;
    seen s;
    memset(&s, 0, sizeof s);
    check_outbox(g, &s);
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];

    for (int steps = 0; more(&r) && steps < 4096; steps++) {
        uint8_t op = u8(&r) % 12;
        uint8_t who = u8(&r);
        strata_addr from = addr_of(who);
        int n = -1;
        int ttl = (who & 0x80) ? -1 : (int)(who & 0x7f) + 40;
        switch (op) {
        case 0: {
            uint64_t step = (uint64_t)u16(&r) * STRATA_MS(1) / 8;
            now = now > UINT64_MAX - step ? UINT64_MAX : now + step;
            if (strata_gnode_next_timeout(g) <= now)
                strata_gnode_handle_timeout(g, now);
            break;
        }
        case 1: {
            size_t len = u8(&r);
            if (len > (size_t)(r.end - r.p))
                len = (size_t)(r.end - r.p);
            strata_gnode_handle_datagram_ttl(g, from, r.p, len, ttl, now);
            r.p += len;
            break;
        }
        case 2: {
            strata_msg_group_query m = {node_of(who), u32(&r), group_of(u8(&r), &s)};
            n = strata_wire_encode_group_query(buf, sizeof buf, &m);
            break;
        }
        case 3: {
            strata_msg_group_info m;
            memset(&m, 0, sizeof m);
            uint8_t f = u8(&r);
            m.node = node_of(who);
            m.query_id = (f & 0x80) ? u32(&r) : (f & 0x40) ? s.join_id : s.query_id;
            m.status = f % 4;
            m.metric = (f & 0x20) ? (uint8_t)(1 + u8(&r) % 3) : cfg.metric;
            if (m.status != STRATA_GROUP_INFO_NO_GROUP) {
                m.group = group_of(u8(&r), &s);
                m.term = u8(&r);
                m.n_members = u16(&r);
                if (m.status == STRATA_GROUP_INFO_MEMBER) {
                    m.leader = ref_of((uint8_t)(who + 1));
                    if (u8(&r) & 1)
                        m.leader = (strata_peer_ref){ME, cfg.addr};
                } else {
                    m.leader = ref_of(who);
                    if (m.n_members == 0)
                        m.n_members = 1;
                    fill_nb(&r, m.neighbours, &m.n_neighbours, 8, &s, m.group);
                }
            }
            n = strata_wire_encode_group_info(buf, sizeof buf, &m);
            break;
        }
        case 4: {
            strata_msg_group_join m = {node_of(who), u32(&r), group_of(u8(&r), &s)};
            n = strata_wire_encode_group_join(buf, sizeof buf, &m);
            break;
        }
        case 5: {
            strata_msg_group_state m;
            memset(&m, 0, sizeof m);
            uint8_t f = u8(&r);
            m.leader = node_of(who);
            m.group = group_of(u8(&r), &s);
            m.term = u8(&r);
            m.epoch = u8(&r);
            m.member = (f & 0x80) ? node_of(f) : ME;
            m.reply_id = (f & 0x40) ? s.ka_seq : (f & 0x20) ? u32(&r) : s.join_id;
            m.metric = cfg.metric;
            m.n_successors = (uint8_t)(u8(&r) % 4);
            for (uint8_t i = 0; i < m.n_successors; i++) {
                uint8_t k = u8(&r);
                m.successors[i] = (k & 1) ? (strata_peer_ref){ME, cfg.addr} : ref_of(k >> 1);
                if (m.successors[i].node.v == m.leader.v)
                    m.successors[i].node.v ^= 0x10000;
            }
            fill_nb(&r, m.neighbours, &m.n_neighbours, 4, &s, m.group);
            m.n_page = (uint8_t)(u8(&r) % 6);
            for (uint8_t i = 0; i < m.n_page; i++)
                m.page[i] = ref_of(u8(&r));
            m.n_members = m.n_page + m.n_successors + 1u + u8(&r);
            m.page_offset = u8(&r) % (m.n_members - m.n_page + 1);
            n = strata_wire_encode_group_state(buf, sizeof buf, &m);
            break;
        }
        case 6: {
            strata_msg_group_keepalive m;
            memset(&m, 0, sizeof m);
            uint8_t f = u8(&r);
            m.node = node_of(who);
            m.group = group_of(u8(&r), &s);
            m.term = u8(&r);
            m.seq = u32(&r);
            m.flags = f & STRATA_GROUP_KA_FLAGS_KNOWN;
            if (m.flags & STRATA_GROUP_KA_LEFT)
                m.flags |= STRATA_GROUP_KA_TAKEOVER;
            if (m.flags)
                m.lost_leader = (f & 0x80) ? strata_gnode_leader(g).node : node_of(f >> 4);
            if (m.flags && m.lost_leader.v == 0)
                m.lost_leader.v = 1;
            n = strata_wire_encode_group_keepalive(buf, sizeof buf, &m);
            break;
        }
        case 7: {
            strata_msg_group_leave m;
            memset(&m, 0, sizeof m);
            uint8_t f = u8(&r);
            m.node = (f & 0x80) ? strata_gnode_leader(g).node : node_of(who);
            if (m.node.v == 0 || m.node.v == ME.v)
                m.node = node_of(who);
            m.group = group_of(u8(&r), &s);
            m.term = u8(&r);
            if (f & 1) {
                m.next_group = (f & 2) ? m.group : group_of(u8(&r), &s);
                m.next_leader = (f & 4) ? (strata_peer_ref){ME, cfg.addr} : ref_of(f >> 3);
                if (m.next_leader.node.v == m.node.v)
                    m.next_leader.node.v ^= 0x10000;
            }
            n = strata_wire_encode_group_leave(buf, sizeof buf, &m);
            break;
        }
        case 8: {
            strata_msg_group_link m;
            memset(&m, 0, sizeof m);
            uint8_t f = u8(&r);
            m.node = node_of(who);
            m.group = group_of(u8(&r), &s);
            m.term = u8(&r);
            m.peer_group = (f & 0x80) ? s.own_group : group_of(f, &s);
            if (m.peer_group.v == m.group.v)
                m.peer_group.v = 0;
            m.kind = f % (STRATA_GROUP_LINK_KIND_MAX + 1);
            m.distance = (f & 0x40) ? STRATA_GROUP_DISTANCE_UNKNOWN : (uint32_t)u16(&r) * 10u;
            n = strata_wire_encode_group_link(buf, sizeof buf, &m);
            break;
        }
        case 9: {
            uint8_t f = u8(&r);
            strata_msg_probe_reply m = {ME, (f & 1) ? s.probe_id + (f >> 4) : u32(&r),
                                        (f & 2) ? s.probe_ts : now, node_of(who)};
            n = strata_wire_encode_probe_reply(buf, sizeof buf, &m);
            break;
        }
        case 10: {
            uint8_t f = u8(&r);
            strata_msg_group_pong m = {ME, (f & 1) ? s.probe_id + (f >> 4) : u32(&r),
                                       (f & 2) ? s.probe_ts : now, node_of(who),
                                       now - (uint64_t)u16(&r) * 1000u};
            n = strata_wire_encode_group_pong(buf, sizeof buf, &m);
            break;
        }
        default: {
            uint8_t f = u8(&r);
            if (f == 0xff)
                strata_gnode_leave(g, now);
            else
                strata_gnode_bootstrap(g, boot, f % 4, now);
            break;
        }
        }
        if (n > 0) {
            maybe_corrupt(&r, buf, n);
            strata_gnode_handle_datagram_ttl(g, from, buf, (size_t)n, ttl, now);
        }
        check_outbox(g, &s);
        int st = strata_gnode_state(g);
        if (st < STRATA_GNODE_IDLE || st > STRATA_GNODE_LEFT)
            abort();
        if (strata_gnode_members(g, NULL, 0) > max_members ||
            strata_gnode_neighbours(g, NULL, 0) > STRATA_WIRE_MAX_GROUP_NEIGHBOURS)
            abort();
        if (st == STRATA_GNODE_LEADER && strata_gnode_neighbours(g, NULL, 0) > max_links)
            abort();
        if ((st == STRATA_GNODE_LEADER || st == STRATA_GNODE_MEMBER) &&
            strata_gnode_group(g).v == 0)
            abort();
    }
    /* Let the timers run out a little, then tear down. */
    for (int i = 0; i < 64; i++) {
        uint64_t due = strata_gnode_next_timeout(g);
        if (due == STRATA_NEVER || due > now + STRATA_S(60))
            break;
        if (due > now)
            now = due;
        strata_gnode_handle_timeout(g, now);
        check_outbox(g, &s);
    }
    strata_gnode_del(g);
    return 0;
}
