/*
 * Parity from loss: an erasure-coded cluster chooses its n (dcm.h,
 * "Parity from loss"; SPEC C6).
 *
 * Model. Each member's heartbeat carries, since its join, the packets it
 * played, those it missed at their deadline and those it recovered (answers
 * to its repair requests, packets rebuilt from parity). Between two of its
 * heartbeats, missed + recovered of missed + played is the share of packets
 * that did not come down its trees in time: the loss of its links, before
 * the parity and the repairs this DCM's shape gives it. The DCM sums these
 * over all members for a window, and treats the sum as one loss probability
 * p per symbol. A group of k data and n parity symbols is lost (repair must
 * fill it) when more than n of its k + n symbols are; with independent
 * losses that is the binomial tail P(X > n), X ~ B(k + n, p). The cluster
 * takes the fewest n that keeps the tail under the target. Bursts and
 * correlated losses (a feeder's departure takes a whole tree for the
 * seconds until its children move) make real tails heavier; the window
 * of 20 s keeps one departure from raising n on its own (one tree of
 * k + n for 1.5 s is under 2 % of a window), and a churn that does is
 * one that parity should cover.
 */
#include <math.h>
#include <string.h>

#include "dcm_int.h"

/* P(X > n) for X ~ B(trees, p), summed from the tail up (the terms are
 * small there, and 1 - P(X <= n) would lose them to rounding). */
static double tail_above(unsigned trees, unsigned n, double p)
{
    double sum = 0;
    for (unsigned i = n + 1; i <= trees; i++) {
        double c = 1; /* C(trees, i) */
        for (unsigned j = 0; j < i; j++)
            c = c * (trees - j) / (j + 1);
        sum += c * pow(p, i) * pow(1 - p, trees - i);
    }
    return sum;
}

uint8_t strata_dcm_parity_for_loss(uint8_t k, uint32_t loss_ppm, uint8_t n_min, uint8_t n_max,
                                   uint32_t target_ppm)
{
    double p = loss_ppm >= 1000000u ? 1.0 : loss_ppm / 1e6, target = target_ppm / 1e6;
    for (unsigned n = n_min; n < n_max; n++)
        if (tail_above((unsigned)k + n, n, p) <= target)
            return (uint8_t)n;
    return n_max;
}

/* The window closed with the members' sums: n follows them. Returns what
 * changed (strata_dcm_heard's parity_changed). */
static uint8_t decide(strata_dcm *d)
{
    uint64_t ppm64 = d->loss_total ? d->loss_lost * 1000000u / d->loss_total : 0;
    uint32_t ppm = ppm64 > 1000000u ? 1000000u : (uint32_t)ppm64;
    d->loss.last_ppm = ppm;
    d->loss.windows++;
    uint8_t want = strata_dcm_parity_for_loss(d->k, ppm, d->n_min, d->n_max,
                                              STRATA_DCM_PARITY_TARGET_PPM);
    /* No more trees than the members' upload carries for each of them. */
    while (want > d->n && !dcm_parity_fits(d, want))
        want--;
    if (want > d->n) {
        d->loss_calm = 0;
        d->loss.raises++;
        return strata_dcm_set_parity(d, want) == 0 ? STRATA_DCM_PARITY_RAISED : 0;
    }
    if (want == d->n) {
        d->loss_calm = 0;
        return 0;
    }
    /* Fewer only when the loss stays low, a tree at a time: a quiet window
     * after a lossy one is no promise. */
    if (++d->loss_calm < STRATA_DCM_PARITY_CALM_WINDOWS)
        return 0;
    d->loss_calm = 0;
    d->loss.lowers++;
    return strata_dcm_set_parity(d, (uint8_t)(d->n - 1)) == 0 ? STRATA_DCM_PARITY_LOWERED : 0;
}

void dcm_parity_heartbeat(strata_dcm *d, dcm_member *m, const strata_msg_heartbeat *hb,
                          uint64_t now, strata_dcm_heard *out)
{
    if (d->n_max == d->n_min)
        return; /* n is fixed */
    /* Counters since the node's join: a node that joined again starts
     * them over, and its first heartbeat here only sets where they stand. */
    int counts = m->loss_seen && hb->played_packets >= m->seen_played &&
                 hb->missed_packets >= m->seen_missed &&
                 hb->recovered_packets >= m->seen_recovered;
    if (counts) {
        uint64_t missed = hb->missed_packets - m->seen_missed;
        uint64_t recovered = hb->recovered_packets - m->seen_recovered;
        uint64_t due = hb->played_packets - m->seen_played + missed;
        /* A recovered packet is among those played (or missed, when it came
         * too late): it cannot exceed what was due. */
        uint64_t lost = missed + recovered < due ? missed + recovered : due;
        d->loss_lost += lost;
        d->loss_total += due;
    }
    m->loss_seen = 1;
    m->seen_played = hb->played_packets;
    m->seen_missed = hb->missed_packets;
    m->seen_recovered = hb->recovered_packets;

    if (d->loss_since_ns == 0 || now < d->loss_since_ns) {
        d->loss_since_ns = now; /* the first heartbeat, or the clock stepped back */
        return;
    }
    if (now - d->loss_since_ns < d->parity_window_ns ||
        d->loss_total < STRATA_DCM_PARITY_MIN_PACKETS)
        return;
    out->parity_changed = decide(d);
    d->loss_since_ns = now;
    d->loss_lost = d->loss_total = 0;
}
