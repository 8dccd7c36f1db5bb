/*
 * Drives the control center's group bookkeeping (strata_cgroups) and a
 * node's bootstrap client (strata_gclient) with fuzzed input: raw
 * datagrams to either, well-formed GROUP_REPORTs (a small space of nodes,
 * groups, terms and member counts, so that claims, withdrawals, expiry and
 * a full table are reached), bootstrap requests, client updates and time
 * steps. Everything either sends must decode with our own codec, a reply
 * must never offer the asker itself, and nothing may crash or leak.
 *
 * Input: a sequence of operations, each an opcode byte and its arguments;
 * a short read ends the run.
 */
#include "strata/control_groups.h"
#include "strata/group_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const strata_addr CONTROL = {0x7f000001u, 7000};

static void on_bootstrap(void *user, const strata_peer_ref *leaders, size_t n)
{
    (void)user;
    if (n > STRATA_WIRE_MAX_BOOTSTRAP_LEADERS)
        abort();
    for (size_t i = 0; i < n; i++)
        if (leaders[i].node.v == 0)
            abort();
}

/* Checks and frees what cg sent; the replies go to gc too. */
static void drain(strata_cgroups *cg, strata_gclient *gc, uint64_t now)
{
    strata_datagram d;
    while (strata_outbox_pop(strata_cgroups_outbox(cg), &d)) {
        strata_msg_group_bootstrap_reply r;
        if (strata_wire_decode_group_bootstrap_reply(d.buf->data, d.buf->len, &r) < 0)
            abort();
        for (size_t i = 0; i < r.n_leaders; i++)
            if (r.leaders[i].leader.node.v == r.node.v)
                abort();
        strata_gclient_handle_datagram(gc, CONTROL, d.buf->data, d.buf->len, now);
        strata_buf_unref(d.buf);
    }
    while (strata_outbox_pop(strata_gclient_outbox(gc), &d)) {
        int t = strata_wire_peek_type(d.buf->data, d.buf->len);
        if (t != STRATA_MSG_GROUP_REPORT && t != STRATA_MSG_GROUP_BOOTSTRAP)
            abort();
        strata_cgroups_handle_datagram(cg, (strata_addr){0x7f010001u, 9000}, d.buf->data,
                                       d.buf->len, now);
        strata_buf_unref(d.buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_cgroups_config cfg = {.max_groups = 8, .report_timeout_ms = 3500, .seed = 7};
    strata_cgroups *cg = strata_cgroups_new(&cfg, NULL, 0);
    strata_gclient_config gcfg = {.node = {1}, .control = CONTROL, .seed = 9};
    strata_gclient_callbacks cb = {on_bootstrap, NULL};
    strata_gclient *gc = strata_gclient_new(&gcfg, &cb, NULL, 0);
    if (!cg || !gc)
        abort();
    uint64_t now = 0;
    uint8_t buf[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        switch (op % 6) {
        case 0: { /* raw datagram to the control side */
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            strata_cgroups_handle_datagram(cg, (strata_addr){0x7f010000u | op, 9000}, data + i, n,
                                           now);
            i += n;
            break;
        }
        case 1: { /* raw datagram to the client */
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i)
                n = size - i;
            strata_gclient_handle_datagram(gc, CONTROL, data + i, n, now);
            i += n;
            break;
        }
        case 2: { /* a well-formed report */
            if (size - i < 3)
                goto done;
            strata_msg_group_report m = {
                {1u + data[i] % 8}, {1u + data[i + 1] % 12}, data[i + 2] % 4u, data[i + 2] / 64u};
            i += 3;
            /* Its nearest groups, some of them unknown ones. */
            for (; m.n_near < (data[i - 1] & 3u) && i < size; m.n_near++, i++)
                m.near[m.n_near] = (strata_group_near){{1u + (m.group.v + data[i] % 11u) % 12u},
                                                        data[i] == 0xff ? UINT32_MAX : data[i] * 1000u};
            int n = strata_wire_encode_group_report(buf, sizeof buf, &m);
            if (n < 0)
                abort();
            strata_cgroups_handle_datagram(
                cg, (strata_addr){0x7f010000u | (uint32_t)m.node.v, 9000}, buf, (size_t)n, now);
            break;
        }
        case 3: { /* a bootstrap request */
            if (size - i < 1)
                goto done;
            strata_msg_group_bootstrap m = {{1u + data[i++] % 8}, op};
            int n = strata_wire_encode_group_bootstrap(buf, sizeof buf, &m);
            strata_cgroups_handle_datagram(cg, (strata_addr){0x7f010009u, 9000}, buf, (size_t)n,
                                           now);
            break;
        }
        case 4: /* the client's agent changes */
            if (size - i < 1)
                goto done;
            strata_gclient_update(gc, data[i] & 1, (strata_group_id){data[i] >> 4}, data[i] >> 6,
                                  data[i] >> 2, now);
            i++;
            break;
        default: /* time passes, up to ~4 s */
            now += (uint64_t)op * STRATA_MS(16);
            if (strata_cgroups_next_timeout(cg) <= now)
                strata_cgroups_handle_timeout(cg, now);
            if (strata_gclient_next_timeout(gc) <= now)
                strata_gclient_handle_timeout(gc, now);
            break;
        }
        drain(cg, gc, now);
    }
done:
    strata_gclient_del(gc);
    strata_cgroups_del(cg);
    return 0;
}
