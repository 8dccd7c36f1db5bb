/*
 * The node object (strata/node.h): one outbox and deadline for all roles,
 * PROBE answered once, datagrams routed by type and channel, drops
 * counted, the group agent's group passed on as the channels' region,
 * several channels on one node, and the control process's roles.
 */
#include "outbox_capture.h"
#include "strata/node.h"
#include "testutil.h"

#define MS(x) STRATA_MS(x)

static const strata_addr CONTROL = {0x0a000001u, 7000};
static const strata_addr ME_ADDR = {0x0a000002u, 7001};
static const strata_addr OTHER = {0x0a000003u, 7002};
static const strata_node_id ME = {0x1234};

static int feed(strata_node *n, strata_addr from, const uint8_t *buf, int len, uint64_t now)
{
    CHECK(len > 0);
    if (len <= 0)
        return -1000;
    strata_rx rx = {from, -1};
    return strata_node_handle_datagram(n, &rx, buf, (size_t)len, now);
}

static strata_node_config base(int groups)
{
    strata_node_config c;
    memset(&c, 0, sizeof c);
    c.id = ME;
    c.addr = ME_ADDR;
    c.control = CONTROL;
    c.seed = 5;
    c.groups = groups;
    return c;
}

static int reply_from(strata_node *n, strata_addr from, const char *channel, uint64_t now)
{
    strata_msg_join_reply r;
    memset(&r, 0, sizeof r);
    r.node = ME;
    r.channel = strata_channel_id_from_name(channel, strlen(channel));
    r.status = STRATA_JOIN_OK;
    r.k = 2;
    r.dcm.v = 1;
    r.rate_kbps = 0; /* the stream has not started: play from seq 0 */
    r.heartbeat_ms = 500;
    uint8_t b[64];
    return feed(n, from, b, strata_wire_encode_join_reply(b, sizeof b, &r), now);
}

static int reply(strata_node *n, const char *channel, uint64_t now)
{
    return reply_from(n, CONTROL, channel, now);
}

/* INSTRUCTIONs from the control center naming OTHER the parent of both
 * substreams of channel (k = 2): data from OTHER passes the sender checks. */
static void adopt_other(strata_node *n, const char *channel, uint64_t now)
{
    for (uint8_t sub = 0; sub < 2; sub++) {
        strata_msg_instruction in;
        memset(&in, 0, sizeof in);
        in.dcm.v = 1;
        in.channel = strata_channel_id_from_name(channel, strlen(channel));
        in.node = ME;
        in.epoch = 1;
        in.k = 2;
        in.substream = sub;
        in.algorithm = STRATA_ALG_TREE;
        in.parent = (strata_peer_ref){{0x0e7}, OTHER};
        uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
        CHECK_EQ_INT(feed(n, CONTROL, b, strata_wire_encode_instruction(b, sizeof b, &in), now), 0);
    }
}

static int data(strata_node *n, const char *channel, uint64_t seq, uint64_t now)
{
    uint8_t payload[10];
    memset(payload, (int)seq + 1, sizeof payload);
    strata_msg_data d;
    memset(&d, 0, sizeof d);
    d.channel = strata_channel_id_from_name(channel, strlen(channel));
    d.seq = seq;
    d.send_ts_ns = now;
    d.substream = (uint8_t)(seq % 2);
    d.payload_len = sizeof payload;
    d.payload = payload;
    uint8_t b[128];
    return feed(n, OTHER, b, strata_wire_encode_data(b, sizeof b, &d), now);
}

typedef struct played {
    size_t bytes;
} played;

static void on_play(void *user, const uint8_t *buf, size_t len)
{
    (void)buf;
    ((played *)user)->bytes += len;
}

/* Returns the region label of the JOINs in out ("" without one), or NULL
 * when there is none; *count gets how many. */
static int join_region(const sent_list *out, char *region, size_t *count)
{
    *count = 0;
    int found = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (out->items[i].type != STRATA_MSG_JOIN)
            continue;
        strata_msg_join j;
        if (strata_wire_decode_join(out->items[i].buf->data, out->items[i].buf->len, &j) < 0)
            continue;
        memcpy(region, j.region, j.region_len);
        region[j.region_len] = '\0';
        (*count)++;
        found = 1;
    }
    return found;
}

static void test_probe_once_and_drops(sent_list *out)
{
    strata_node_config c = base(0);
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.channel = "news";
    pc.upload_kbps = 1000;
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), 0);
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), STRATA_ERR_EXISTS);
    strata_msg_probe pr = {{77}, 31, 123456};
    uint8_t b[64];
    CHECK_EQ_INT(feed(n, OTHER, b, strata_wire_encode_probe(b, sizeof b, &pr), MS(1)), 0);
    capture_outbox(strata_node_outbox(n), out);
    /* one reply, and nothing else (the channel's JOIN waits for a timeout) */
    CHECK_EQ_U64(count_type(out, STRATA_MSG_PROBE_REPLY), 1);
    CHECK_EQ_U64(out->n, 1);
    for (size_t i = 0; i < out->n; i++) {
        if (out->items[i].type != STRATA_MSG_PROBE_REPLY)
            continue;
        strata_msg_probe_reply r;
        CHECK(strata_wire_decode_probe_reply(out->items[i].buf->data, out->items[i].buf->len, &r) >
              0);
        CHECK(strata_addr_eq(out->items[i].to, OTHER));
        CHECK_EQ_U64(r.node.v, 77);
        CHECK_EQ_U64(r.probe_id, 31);
        CHECK_EQ_U64(r.send_ts_ns, 123456);
        CHECK_EQ_U64(r.responder.v, ME.v);
    }
    /* garbage, a type no role here takes, a channel this node lacks */
    uint8_t junk[3] = {1, 2, 3};
    strata_rx rx = {OTHER, -1};
    CHECK_EQ_INT(strata_node_handle_datagram(n, &rx, junk, sizeof junk, MS(2)), STRATA_ERR_SHORT);
    strata_msg_leave lv = {{9}, strata_channel_id_from_name("news", 4), {1}};
    CHECK_EQ_INT(feed(n, OTHER, b, strata_wire_encode_leave(b, sizeof b, &lv), MS(2)),
                 STRATA_ERR_UNEXPECTED);
    CHECK_EQ_INT(data(n, "sport", 0, MS(2)), STRATA_ERR_UNEXPECTED);
    strata_msg_group_query q = {{1}, 2, {0}};
    CHECK_EQ_INT(feed(n, OTHER, b, strata_wire_encode_group_query(b, sizeof b, &q), MS(2)),
                 STRATA_ERR_UNEXPECTED); /* groups are off */
    strata_node_stats st;
    strata_node_get_stats(n, &st);
    CHECK_EQ_U64(st.probes_answered, 1);
    CHECK_EQ_U64(st.drops.total, 4);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_SHORT], 1);
    CHECK_EQ_U64(st.drops.by_reason[-STRATA_ERR_UNEXPECTED], 3);
    strata_node_del(n);
    sent_clear(out);
}

/* Two channels on one node: each datagram reaches the session of the
 * channel it names, and each plays its own stream. */
static void test_two_channels(sent_list *out)
{
    strata_node_config c = base(0);
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    played p1 = {0}, p2 = {0};
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.upload_kbps = 1000;
    pc.channel = "news";
    strata_peer_callbacks cb1 = {on_play, NULL, &p1};
    strata_peer_callbacks cb2 = {on_play, NULL, &p2};
    CHECK_EQ_INT(strata_node_watch(n, &pc, &cb1, 0), 0);
    pc.channel = "film";
    CHECK_EQ_INT(strata_node_watch(n, &pc, &cb2, 0), 1);
    strata_node_handle_timeout(n, 0);
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 2);
    CHECK_EQ_INT(reply(n, "news", MS(1)), 0);
    CHECK_EQ_INT(reply(n, "film", MS(1)), 0);
    adopt_other(n, "news", MS(1));
    adopt_other(n, "film", MS(1));
    for (uint64_t s = 0; s < 4; s++)
        CHECK_EQ_INT(data(n, "news", s, MS(2)), 0);
    CHECK_EQ_INT(data(n, "film", 0, MS(2)), 0);
    CHECK_EQ_U64(p1.bytes, 40);
    CHECK_EQ_U64(p2.bytes, 10);
    strata_peer_stats st;
    strata_peer_get_stats(strata_node_peer(n, 0), &st);
    CHECK_EQ_U64(st.rx_data_packets, 4);
    strata_peer_get_stats(strata_node_peer(n, 1), &st);
    CHECK_EQ_U64(st.rx_data_packets, 1);
    /* one deadline for both: the heartbeats of both come due together */
    uint64_t t = strata_node_next_timeout(n);
    CHECK(t <= MS(501));
    strata_node_handle_timeout(n, MS(501));
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_HEARTBEAT), 2);
    /* leaving leaves both */
    strata_node_leave(n, MS(600));
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_LEAVE), 2);
    strata_node_del(n);
    sent_clear(out);
}

/* The channel waits for the node's group and joins under it; a node
 * without a group joins without one after group_wait_ms. */
static void test_region_follows_group(sent_list *out)
{
    strata_node_config c = base(1);
    c.no_bootstrap_client = 1;
    c.group_wait_ms = 5000;
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.channel = "news";
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), 0);
    CHECK(strata_node_peer(n, 0) == NULL); /* held for the group */
    strata_node_handle_timeout(n, MS(1));
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN), 0);
    /* no leaders at all: the agent founds the first group */
    CHECK_EQ_INT(strata_node_bootstrap(n, NULL, 0, MS(2)), 0);
    strata_group_id g = strata_gnode_group(strata_node_gnode(n));
    CHECK(g.v != 0);
    CHECK(strata_node_peer(n, 0) != NULL);
    strata_node_handle_timeout(n, MS(3));
    capture_outbox(strata_node_outbox(n), out);
    char region[40] = "", want[40];
    size_t joins = 0;
    CHECK(join_region(out, region, &joins));
    CHECK_EQ_U64(joins, 1);
    snprintf(want, sizeof want, "group:%016" PRIx64, g.v);
    CHECK(strcmp(region, want) == 0);
    CHECK(strcmp(strata_node_region(n, 0), want) == 0);
    strata_node_del(n);

    /* no group within the wait */
    n = strata_node_new(&c, NULL, NULL, 0);
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), 0);
    CHECK_EQ_U64(strata_node_next_timeout(n), MS(5000));
    strata_node_handle_timeout(n, MS(5000));
    CHECK(strata_node_peer(n, 0) != NULL);
    strata_node_handle_timeout(n, MS(5000));
    capture_outbox(strata_node_outbox(n), out);
    CHECK(join_region(out, region, &joins));
    CHECK(strcmp(region, "") == 0);
    strata_node_del(n);

    /* a channel that names its region joins at once, under it */
    n = strata_node_new(&c, NULL, NULL, 0);
    pc.region = "eu";
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), 0);
    strata_node_handle_timeout(n, 0);
    capture_outbox(strata_node_outbox(n), out);
    CHECK(join_region(out, region, &joins));
    CHECK(strcmp(region, "eu") == 0);
    strata_node_del(n);
    sent_clear(out);
}

/* The control process: JOIN to the control center, GROUP_BOOTSTRAP to its
 * group directory, PROBE answered by the node. */
static void test_control_process(sent_list *out)
{
    strata_control_config cc;
    memset(&cc, 0, sizeof cc);
    strata_node_config c = base(0);
    c.control_center = &cc;
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    CHECK(n != NULL);
    CHECK(strata_node_control(n) != NULL && strata_node_cgroups(n) != NULL);
    uint8_t name[] = "news";
    strata_msg_join j = {.node = {9}, .role = STRATA_ROLE_PEER, .upload_kbps = 1000,
                         .name_len = 4, .name = name};
    uint8_t b[256];
    CHECK_EQ_INT(feed(n, OTHER, b, strata_wire_encode_join(b, sizeof b, &j), MS(1)), 0);
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_JOIN_REPLY), 1);
    strata_msg_group_bootstrap gb = {{9}, 5};
    CHECK_EQ_INT(feed(n, OTHER, b, strata_wire_encode_group_bootstrap(b, sizeof b, &gb), MS(2)), 0);
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_GROUP_BOOTSTRAP_REPLY), 1);
    strata_control_status st;
    strata_control_get_status(strata_node_control(n), &st);
    CHECK_EQ_U64(st.peers, 1);
    strata_node_del(n);
    sent_clear(out);
}

/* A published channel: push goes to the source; the handle of a viewer is
 * refused. */
static void test_publish(sent_list *out)
{
    strata_node_config c = base(0);
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    strata_source_config sc;
    memset(&sc, 0, sizeof sc);
    sc.channel = "live";
    sc.rate_kbps = 800;
    int h = strata_node_publish(n, &sc, 0);
    CHECK_EQ_INT(h, 0);
    CHECK(strata_node_source(n, h) != NULL);
    CHECK(strata_node_outbox(n)->max >= STRATA_NODE_SOURCE_OUTBOX_DATAGRAMS);
    uint8_t in[10] = {0};
    CHECK_EQ_INT(strata_node_push(n, h, in, sizeof in, 0), STRATA_ERR_INVAL); /* not ready */
    CHECK_EQ_INT(strata_node_push(n, 5, in, sizeof in, 0), STRATA_ERR_INVAL);
    strata_node_handle_timeout(n, 0);
    CHECK_EQ_INT(reply(n, "live", MS(1)), 0);
    CHECK_EQ_INT(strata_node_push(n, h, in, sizeof in, MS(2)), 0);
    strata_source_stats st;
    strata_source_get_stats(strata_node_source(n, h), &st);
    CHECK_EQ_U64(st.joined, 1);
    CHECK_EQ_U64(st.bytes_in, 10);
    capture_outbox(strata_node_outbox(n), out);
    strata_node_del(n);
    sent_clear(out);
}

static int recruit(strata_node *n, strata_addr from, const char *name, uint8_t flags,
                   uint64_t now)
{
    strata_msg_recruit m = {ME, flags, (uint8_t)strlen(name), (const uint8_t *)name};
    uint8_t b[128];
    return feed(n, from, b, strata_wire_encode_recruit(b, sizeof b, &m), now);
}

/* The control center (only) starts and ends relay sessions: they join as
 * RELAY with the first viewer channel's settings and play nothing. */
static void test_recruit(sent_list *out)
{
    strata_node_config c = base(0);
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    played p = {0};
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.channel = "news";
    pc.upload_kbps = 9000;
    strata_peer_callbacks cb = {on_play, NULL, &p};
    CHECK_EQ_INT(strata_node_watch(n, &pc, &cb, 0), 0);
    CHECK_EQ_INT(recruit(n, OTHER, "film", 0, MS(1)), STRATA_ERR_UNEXPECTED); /* not the control */
    CHECK_EQ_INT(recruit(n, CONTROL, "film", 0, MS(1)), 0);
    CHECK_EQ_INT(recruit(n, CONTROL, "film", 0, MS(1)), 0); /* again: nothing new */
    strata_node_stats st;
    strata_node_get_stats(n, &st);
    CHECK_EQ_U64(st.channels, 2);
    CHECK_EQ_U64(st.recruits, 1);
    strata_node_channel info;
    CHECK(strata_node_channel_info(n, 1, &info));
    CHECK(info.relay && !info.gone && strcmp(info.name, "film") == 0);
    strata_node_handle_timeout(n, MS(2));
    capture_outbox(strata_node_outbox(n), out);
    int relay_joins = 0;
    for (size_t i = 0; i < out->n; i++) {
        strata_msg_join j;
        if (out->items[i].type == STRATA_MSG_JOIN &&
            strata_wire_decode_join(out->items[i].buf->data, out->items[i].buf->len, &j) > 0 &&
            j.name_len == 4 && memcmp(j.name, "film", 4) == 0) {
            relay_joins++;
            CHECK_EQ_INT(j.role, STRATA_ROLE_RELAY);
            CHECK_EQ_U64(j.upload_kbps, 9000);
            CHECK_EQ_INT(j.priority, 255);
        }
    }
    CHECK_EQ_INT(relay_joins, 1);
    /* it relays but plays nothing */
    CHECK_EQ_INT(reply(n, "film", MS(3)), 0);
    adopt_other(n, "film", MS(3));
    CHECK_EQ_INT(data(n, "film", 0, MS(4)), 0);
    strata_peer_stats ps;
    strata_peer_get_stats(info.peer, &ps);
    CHECK_EQ_U64(ps.rx_data_packets, 1);
    CHECK_EQ_U64(p.bytes, 0);
    /* released: it leaves, and the handle names nothing */
    CHECK_EQ_INT(recruit(n, CONTROL, "news", STRATA_RECRUIT_RELEASE, MS(5)),
                 STRATA_ERR_UNEXPECTED); /* a watched channel is not the control's to end */
    CHECK_EQ_INT(recruit(n, CONTROL, "film", STRATA_RECRUIT_RELEASE, MS(5)), 0);
    capture_outbox(strata_node_outbox(n), out);
    CHECK_EQ_U64(count_type(out, STRATA_MSG_LEAVE), 1);
    CHECK(strata_node_channel_info(n, 1, &info) && info.gone);
    CHECK_EQ_INT(data(n, "film", 1, MS(6)), STRATA_ERR_UNEXPECTED);
    strata_node_del(n);

    /* a node that watches nothing is not recruited */
    n = strata_node_new(&c, NULL, NULL, 0);
    CHECK_EQ_INT(recruit(n, CONTROL, "film", 0, MS(1)), STRATA_ERR_UNEXPECTED);
    strata_node_del(n);
    sent_clear(out);
}

/* JOIN_REPLY and INSTRUCTION are the control center's: from any other
 * address they are counted drops and change nothing (a forged instruction
 * would make the node relay the stream wherever its sender wants). */
static void test_control_messages_from_control_only(sent_list *out)
{
    strata_node_config c = base(0);
    strata_node *n = strata_node_new(&c, NULL, NULL, 0);
    strata_peer_config pc;
    memset(&pc, 0, sizeof pc);
    pc.upload_kbps = 1000;
    pc.channel = "news";
    CHECK_EQ_INT(strata_node_watch(n, &pc, NULL, 0), 0);
    strata_node_handle_timeout(n, 0);
    CHECK(reply_from(n, OTHER, "news", MS(1)) < 0);
    strata_peer_stats st;
    strata_peer_get_stats(strata_node_peer(n, 0), &st);
    CHECK(st.state != STRATA_PEER_MEMBER);
    CHECK_EQ_INT(reply_from(n, CONTROL, "news", MS(2)), 0);
    strata_peer_get_stats(strata_node_peer(n, 0), &st);
    CHECK_EQ_INT(st.state, STRATA_PEER_MEMBER);

    strata_msg_instruction in;
    memset(&in, 0, sizeof in);
    in.dcm.v = 1;
    in.channel = strata_channel_id_from_name("news", 4);
    in.node = ME;
    in.epoch = 5;
    in.k = 2;
    in.algorithm = STRATA_ALG_TREE;
    in.n_children = 1;
    in.children[0] = (strata_peer_ref){{0x666}, {0x0b000001u, 9999}};
    uint8_t b[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int len = strata_wire_encode_instruction(b, sizeof b, &in);
    strata_node_stats ns;
    strata_node_get_stats(n, &ns);
    uint64_t drops = ns.drops.total;
    CHECK(feed(n, OTHER, b, len, MS(3)) < 0);
    strata_node_get_stats(n, &ns);
    CHECK_EQ_U64(ns.drops.total, drops + 1);
    strata_peer_get_stats(strata_node_peer(n, 0), &st);
    CHECK_EQ_U64(st.instructions_applied, 0);
    CHECK_EQ_INT(feed(n, CONTROL, b, len, MS(4)), 0);
    strata_peer_get_stats(strata_node_peer(n, 0), &st);
    CHECK_EQ_U64(st.instructions_applied, 1);
    capture_outbox(strata_node_outbox(n), out);
    strata_node_del(n);
    sent_clear(out);
}

static void test_config(void)
{
    strata_node_config c = base(0);
    c.id.v = 0;
    CHECK(strata_node_new(&c, NULL, NULL, 0) == NULL);
    c.id.v = UINT64_MAX;
    CHECK(strata_node_new(&c, NULL, NULL, 0) == NULL);
    CHECK(strata_node_new(NULL, NULL, NULL, 0) == NULL);
}

int main(void)
{
    sent_list *out = calloc(1, sizeof *out);
    test_probe_once_and_drops(out);
    test_two_channels(out);
    test_region_follows_group(out);
    test_control_process(out);
    test_publish(out);
    test_recruit(out);
    test_control_messages_from_control_only(out);
    test_config();
    free(out);
    return test_summary("test_node");
}
