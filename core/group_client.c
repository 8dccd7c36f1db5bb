/*
 * The node's side of group bootstrap (see strata/group_client.h).
 */
#include "strata/group_client.h"

#include <string.h>

struct strata_gclient {
    const strata_alloc *alloc;
    const strata_log *log;
    strata_node_id node;
    strata_addr control;
    uint64_t retry_ns, report_ns;
    strata_rng rng;
    strata_gclient_callbacks cb;
    /* bootstrap: pending while request_id != 0 */
    uint32_t request_id;
    uint64_t next_request_ns;
    /* what is reported */
    int leading;
    strata_group_id group;
    uint32_t term, n_members;
    uint8_t n_near; /* the leader's nearest groups, sent with every report */
    strata_group_near near[STRATA_WIRE_MAX_REPORT_NEAR];
    uint64_t next_report_ns;
    strata_outbox own_outbox; /* used when the config names none */
    strata_outbox *outbox;    /* the node's, or own_outbox */
    strata_gclient_stats st;
};

static void send_request(strata_gclient *gc, uint64_t now)
{
    strata_msg_group_bootstrap m = {gc->node, gc->request_id};
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_outbox_push_bytes(gc->outbox, gc->control, out,
                             strata_wire_encode_group_bootstrap(out, sizeof out, &m));
    gc->st.bootstrap_requests++;
    gc->next_request_ns = now + gc->retry_ns;
}

static void send_report(strata_gclient *gc, strata_group_id group, uint32_t term,
                        uint32_t n_members)
{
    strata_msg_group_report m = {gc->node, group, term, n_members, 0, {{{0}, 0}}};
    for (uint8_t i = 0; n_members && i < gc->n_near; i++)
        if (gc->near[i].group.v != group.v) /* 3.9.1: not the group led */
            m.near[m.n_near++] = gc->near[i];
    uint8_t out[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    strata_outbox_push_bytes(gc->outbox, gc->control, out,
                             strata_wire_encode_group_report(out, sizeof out, &m));
    if (n_members)
        gc->st.reports_sent++;
    else
        gc->st.withdrawals_sent++;
}

strata_gclient *strata_gclient_new(const strata_gclient_config *cfg,
                                   const strata_gclient_callbacks *cb, const strata_alloc *a,
                                   uint64_t now)
{
    if (!cfg || cfg->node.v == 0)
        return NULL;
    strata_gclient *gc = strata_mem_calloc(a, 1, sizeof *gc);
    if (!gc)
        return NULL;
    gc->alloc = a;
    gc->log = cfg->log;
    gc->node = cfg->node;
    gc->control = cfg->control;
    gc->retry_ns = STRATA_MS(cfg->retry_ms ? cfg->retry_ms : STRATA_GCLIENT_DEFAULT_RETRY_MS);
    gc->report_ns = STRATA_MS(cfg->report_ms ? cfg->report_ms : STRATA_GCLIENT_DEFAULT_REPORT_MS);
    if (cb)
        gc->cb = *cb;
    strata_rng_seed(&gc->rng, cfg->seed);
    gc->outbox = cfg->outbox;
    if (!gc->outbox) {
        if (strata_outbox_init(&gc->own_outbox, a, STRATA_GCLIENT_OUTBOX_DATAGRAMS)) {
            strata_mem_free(a, gc);
            return NULL;
        }
        gc->outbox = &gc->own_outbox;
    }
    do
        gc->request_id = (uint32_t)strata_rng_next(&gc->rng);
    while (gc->request_id == 0);
    gc->next_report_ns = STRATA_NEVER;
    send_request(gc, now);
    return gc;
}

void strata_gclient_ask(strata_gclient *gc, uint64_t now)
{
    do
        gc->request_id = (uint32_t)strata_rng_next(&gc->rng);
    while (gc->request_id == 0);
    send_request(gc, now);
    gc->next_request_ns = STRATA_NEVER; /* asked once: the agent founds if no answer comes */
    gc->st.asks++;
}

void strata_gclient_del(strata_gclient *gc)
{
    if (!gc)
        return;
    strata_outbox_free(&gc->own_outbox);
    strata_mem_free(gc->alloc, gc);
}

int strata_gclient_handle_datagram(strata_gclient *gc, strata_addr from, const uint8_t *buf,
                                   size_t buflen, uint64_t now)
{
    (void)from; /* matched by node and request id: the control center may answer from
                   another address of its own than the one asked */
    (void)now;
    strata_msg_group_bootstrap_reply m;
    int rc = strata_wire_decode_group_bootstrap_reply(buf, buflen, &m);
    if (rc >= 0 &&
        (gc->request_id == 0 || m.request_id != gc->request_id || m.node.v != gc->node.v))
        rc = STRATA_ERR_UNEXPECTED;
    if (rc < 0) {
        strata_drop_count(&gc->st.drops, rc);
        return rc;
    }
    gc->request_id = 0;
    gc->next_request_ns = STRATA_NEVER;
    gc->st.bootstrapped = 1;
    gc->st.bootstrap_leaders = m.n_leaders;
    strata_peer_ref refs[STRATA_WIRE_MAX_BOOTSTRAP_LEADERS];
    for (size_t i = 0; i < m.n_leaders; i++)
        refs[i] = m.leaders[i].leader;
    if (gc->log)
        strata_logf(gc->log, STRATA_LOG_DEBUG, "gclient: %u bootstrap leaders", m.n_leaders);
    if (gc->cb.on_bootstrap)
        gc->cb.on_bootstrap(gc->cb.user, refs, m.n_leaders);
    return 0;
}

void strata_gclient_handle_timeout(strata_gclient *gc, uint64_t now)
{
    if (gc->request_id != 0 && now >= gc->next_request_ns)
        send_request(gc, now);
    if (gc->leading && now >= gc->next_report_ns) {
        send_report(gc, gc->group, gc->term, gc->n_members);
        gc->next_report_ns = now + gc->report_ns;
    }
}

uint64_t strata_gclient_next_timeout(const strata_gclient *gc)
{
    uint64_t next = gc->request_id ? gc->next_request_ns : STRATA_NEVER;
    if (gc->leading && gc->next_report_ns < next)
        next = gc->next_report_ns;
    return next;
}

strata_outbox *strata_gclient_outbox(strata_gclient *gc)
{
    return gc->outbox;
}

void strata_gclient_update(strata_gclient *gc, int leading, strata_group_id group, uint32_t term,
                           uint32_t n_members, uint64_t now)
{
    leading = leading && group.v != 0;
    if (!leading) {
        if (gc->leading)
            send_report(gc, gc->group, gc->term, 0);
        gc->leading = 0;
        gc->next_report_ns = STRATA_NEVER;
        return;
    }
    if (n_members == 0)
        n_members = 1; /* the leader itself */
    if (gc->leading && gc->group.v != group.v)
        send_report(gc, gc->group, gc->term, 0); /* it leads another group now */
    int changed = !gc->leading || gc->group.v != group.v || gc->term != term;
    gc->leading = 1;
    gc->group = group;
    gc->term = term;
    gc->n_members = n_members;
    if (changed) {
        send_report(gc, group, term, n_members);
        gc->next_report_ns = now + gc->report_ns;
    }
}

void strata_gclient_set_near(strata_gclient *gc, const strata_group_near *near, size_t n)
{
    gc->n_near = 0;
    for (size_t i = 0; i < n && gc->n_near < STRATA_WIRE_MAX_REPORT_NEAR; i++) {
        if (near[i].group.v == 0) /* what the wire allows (3.9.1) */
            continue;
        gc->near[gc->n_near++] = near[i];
    }
}

void strata_gclient_get_stats(const strata_gclient *gc, strata_gclient_stats *st)
{
    *st = gc->st;
}
