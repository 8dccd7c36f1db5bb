/*
 * Capacity check (issue 13 item 5): a tree DCM does not believe a declared
 * upload until the member has delivered it.
 *
 * Model. Each member has a credit (strata_dcm_trust): its trees are given
 * min(declared upload, credit). A newcomer's credit is
 * STRATA_DCM_PROBATION_RATES times the stream rate (8 slots with k = 4 at
 * the full share), so a node that declares 10 Mbit/s and forwards nothing
 * can hold a few children for a few seconds, not 64 in its tree. Two kinds
 * of evidence move the credit:
 *
 * - Counters, per window of capacity_ns (the control center uses two stall
 *   periods): the member's heartbeats say how many DATA bytes it sent (tx)
 *   and received (rx). Its child links ask for links x rx / active trees
 *   (each tree carries a k-th of what a member receives; rx measures what
 *   flows, so a channel without a source or a member that starves itself
 *   is not judged: below rate / STRATA_DCM_MIN_RX_SHARE nothing is). With
 *   links the fewest it had in the window: tx below half of that sets the
 *   credit to tx (a demotion); tx of at least 3/4, with at least half of
 *   its slots used, doubles the credit up to the declared upload (a
 *   promotion). Slots it does not use prove nothing, so a member the trees
 *   do not need keeps its credit.
 * - Children's reports: stall detection (dcm.c, "Stalls") moves a child off
 *   a parent whose substream stood still while the others advanced. When
 *   the parent's own last heartbeat shows it held at least two packets of
 *   that substream beyond the child's, it had them and did not pass them
 *   on: its credit is halved. A parent that lacked them itself is not
 *   blamed (its own parent is, in its turn).
 *
 * Counters are the node's word and a liar can inflate them; children's
 * reports are the check on that: a node whose children starve loses half
 * its credit per stalled child, whatever its counters say.
 *
 * A credit that gives no slot at the trees' share strikes the member: it
 * is a pure leaf, and for STRATA_DCM_HOLD_S << (strikes - 1) seconds (at most
 * STRATA_DCM_HOLD_MAX_S) nothing promotes it; then it starts a probation
 * again. A strike is forgiven after STRATA_DCM_FORGIVE_S without one. A
 * credit change moves the member's slots in place (strata_mtree_set_upload):
 * only children over its new slots move.
 *
 * Nothing here reads a clock: every time comes from the heartbeat's call.
 */
#include "dcm_int.h"

#include <string.h>

enum { CAP_MAX_STRIKES = 7 };

#define SEC_NS 1000000000ull

static uint32_t probation_kbps(const strata_dcm *d)
{
    uint64_t c = (uint64_t)d->rate_kbps * STRATA_DCM_PROBATION_RATES;
    return c < UINT32_MAX ? (uint32_t)c : UINT32_MAX - 1u;
}

strata_dcm_trust dcm_trust_new(const strata_dcm *d)
{
    strata_dcm_trust t;
    memset(&t, 0, sizeof t);
    t.credit_kbps = d->capacity_ns ? probation_kbps(d) : UINT32_MAX;
    return t;
}

static void window_start(dcm_member *m, const strata_msg_heartbeat *hb, uint64_t now, size_t links)
{
    m->cap_since_ns = now ? now : 1;
    m->cap_tx = hb ? hb->tx_data_bytes : 0;
    m->cap_rx = hb ? hb->rx_data_bytes : 0;
    m->cap_links_min = (uint16_t)(links < UINT16_MAX ? links : UINT16_MAX);
    if (!hb)
        m->cap_since_ns = 0; /* the next heartbeat starts it */
}

static void demote(strata_dcm *d, dcm_member *m, uint64_t to_kbps, uint64_t now,
                   strata_dcm_heard *out)
{
    strata_dcm_trust *t = &m->trust;
    out->demoted = 1;
    t->demoted = 1;
    /* No slot left at the share the trees use: nothing more can be seen of
     * it, so it is held before another probation. */
    if (to_kbps * d->share_percent / 100u * d->k / d->rate_kbps == 0) {
        if (t->strikes < CAP_MAX_STRIKES)
            t->strikes++;
        t->last_strike_ns = now;
        uint64_t hold_s = (uint64_t)STRATA_DCM_HOLD_S << (t->strikes - 1);
        if (hold_s > STRATA_DCM_HOLD_MAX_S)
            hold_s = STRATA_DCM_HOLD_MAX_S;
        t->retry_ns = now + hold_s * SEC_NS;
        out->struck = 1;
        to_kbps = 0;
    }
    dcm_set_credit(d, m, (uint32_t)to_kbps);
    window_start(m, NULL, now, 0);
}

static unsigned active_trees(const strata_dcm *d)
{
    unsigned n = d->k;
    for (uint8_t s = d->k; s < d->trees; s++)
        n += d->sub_root[s].node.v != 0; /* a parity tree nobody feeds carries nothing */
    return n;
}

void dcm_capacity_heartbeat(strata_dcm *d, dcm_member *m, const strata_msg_heartbeat *hb,
                            uint64_t now, strata_dcm_heard *out)
{
    if (!d->capacity_ns || d->mesh)
        return;
    strata_dcm_trust *t = &m->trust;
    if (t->strikes && now - t->last_strike_ns >= STRATA_DCM_FORGIVE_S * SEC_NS) {
        t->strikes--;
        t->last_strike_ns = now;
    }
    size_t links = strata_dcm_child_links(d, m->id, (1u << d->trees) - 1u);
    if (t->retry_ns) {
        if (now < t->retry_ns)
            return;
        t->retry_ns = 0; /* its hold is over: on probation again */
        dcm_set_credit(d, m, probation_kbps(d));
        window_start(m, hb, now, strata_dcm_child_links(d, m->id, (1u << d->trees) - 1u));
        return;
    }
    if (!m->cap_since_ns || now <= m->cap_since_ns || hb->tx_data_bytes < m->cap_tx ||
        hb->rx_data_bytes < m->cap_rx) {
        window_start(m, hb, now, links); /* the first heartbeat, or counters restarted */
        return;
    }
    if (links < m->cap_links_min)
        m->cap_links_min = (uint16_t)links;
    if (now - m->cap_since_ns < d->capacity_ns)
        return;
    uint64_t ms = (now - m->cap_since_ns) / 1000000u;
    uint64_t tx_kbps = (hb->tx_data_bytes - m->cap_tx) * 8u / (ms ? ms : 1u);
    uint64_t rx_kbps = (hb->rx_data_bytes - m->cap_rx) * 8u / (ms ? ms : 1u);
    uint64_t used = m->cap_links_min;
    window_start(m, hb, now, links);
    if (used == 0 || rx_kbps * STRATA_DCM_MIN_RX_SHARE < d->rate_kbps)
        return; /* asked for nothing, or nothing flows: no evidence */
    uint64_t asked = used * rx_kbps / active_trees(d);
    if (tx_kbps * 2u < asked) {
        demote(d, m, tx_kbps, now, out);
        return;
    }
    uint32_t have = dcm_member_kbps(m);
    if (t->credit_kbps >= m->upload_kbps)
        return; /* it has all it declared */
    uint64_t slots = (uint64_t)have * d->share_percent / 100u * d->k / d->rate_kbps;
    if (slots > STRATA_WIRE_MAX_CHILDREN)
        slots = STRATA_WIRE_MAX_CHILDREN;
    if (tx_kbps * 4u < asked * 3u || used * 2u < slots)
        return;
    uint64_t credit = (uint64_t)have * 2u;
    if (credit >= m->upload_kbps) {
        credit = UINT32_MAX; /* proven: whatever it declares from now on */
        t->demoted = 0;
    }
    out->promoted = 1;
    dcm_set_credit(d, m, (uint32_t)credit);
}

void dcm_capacity_stalled(strata_dcm *d, dcm_member *p, uint8_t s, uint64_t p_seq,
                          uint64_t child_seq, uint64_t now, strata_dcm_heard *out)
{
    (void)s;
    if (!d->capacity_ns || p_seq < child_seq + 2u * d->k)
        return; /* it lacked the packets itself */
    if (p->trust.retry_ns && now < p->trust.retry_ns)
        return; /* struck and held already: a preferred node stays in the
                   mesh until the control center drops it, and its other
                   neighbours' reports are the same evidence */
    demote(d, p, dcm_member_kbps(p) / 2u, now, out);
}
