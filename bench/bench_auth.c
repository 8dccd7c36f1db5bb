/*
 * Node authentication (core/auth.h, docs/security.md "No node speaks for
 * another"): what each side pays per message, measured as process CPU
 * time over many calls.
 *
 *   seal hb     a node seals a heartbeat (k = 4 parents, 8 children: 391
 *               bytes) for its control center;
 *   open hb     the control center checks it (tag and replay window);
 *   seal instr  the control center seals an INSTRUCTION (8 children);
 *   open instr  the node checks it;
 *   session     a key exchange and the session's keys (crypto_kx), once per
 *               JOIN on each side.
 *
 * And the figure that matters for a control center: heartbeats of 10,000
 * nodes every 500 ms checked, as a share of one core. Figures only.
 *
 * Usage: bench_auth [IGNORED]
 */
#include "auth.h"

#include "strata/wire.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        return 1;
    enum { N = 200000, HB_BODY = 87 + 28 * 4 + 25 * 8, INSTR_BODY = 62 + 14 * 8 };
    uint8_t seed[32], cseed[32];
    memset(seed, 1, sizeof seed);
    memset(cseed, 2, sizeof cseed);
    strata_auth_node node;
    strata_auth_center center;
    strata_auth_node_init(&node, seed, NULL);
    strata_auth_center_init(&center, NULL, cseed);
    strata_auth_peer rec;
    memset(&rec, 0, sizeof rec);
    rec.set = 1;
    double t0 = cpu_s();
    for (int i = 0; i < 2000; i++)
        strata_auth_center_keys(&rec.keys, center.pk, center.sk, node.pk, (uint64_t)i + 1);
    double kx_us = (cpu_s() - t0) / 2000 * 1e6;
    memcpy(rec.pk, node.pk, 32);
    strata_auth_node_keys(&node.keys, node.pk, node.sk, center.pk, rec.keys.session);
    node.have_session = 1;

    static uint8_t hb[N][HB_BODY + STRATA_AUTH_UP_BYTES];
    t0 = cpu_s();
    for (int i = 0; i < N; i++) {
        memcpy(hb[i], "ST\x01\x02", 4); /* a HEARTBEAT's header */
        strata_auth_node_seal(&node, hb[i], sizeof hb[i], HB_BODY);
    }
    double seal_hb_us = (cpu_s() - t0) / N * 1e6;
    t0 = cpu_s();
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += strata_auth_center_open(&rec, hb[i], sizeof hb[i]) != 0;
    double open_hb_us = (cpu_s() - t0) / N * 1e6;

    static uint8_t in[N][INSTR_BODY + STRATA_AUTH_DOWN_BYTES];
    t0 = cpu_s();
    for (int i = 0; i < N; i++) {
        memcpy(in[i], "ST\x01\x05", 4); /* an INSTRUCTION's header */
        strata_auth_center_seal(&rec, in[i], sizeof in[i], INSTR_BODY);
    }
    double seal_in_us = (cpu_s() - t0) / N * 1e6;
    t0 = cpu_s();
    for (int i = 0; i < N; i++)
        bad += strata_auth_node_open(&node, in[i], sizeof in[i]) != INSTR_BODY;
    double open_in_us = (cpu_s() - t0) / N * 1e6;

    printf("bench_auth: %d messages each (%d refused: must be 0)\n", N, bad);
    printf("  seal hb     %6.2f us  (%d + %d bytes)\n", seal_hb_us, HB_BODY, STRATA_AUTH_UP_BYTES);
    printf("  open hb     %6.2f us\n", open_hb_us);
    printf("  seal instr  %6.2f us  (%d + %d bytes)\n", seal_in_us, INSTR_BODY,
           STRATA_AUTH_DOWN_BYTES);
    printf("  open instr  %6.2f us\n", open_in_us);
    printf("  session     %6.2f us  (crypto_kx and the session's keys, once per JOIN)\n", kx_us);
    printf("  10,000 nodes' heartbeats every 500 ms at the control center: %.2f %% of a core\n",
           open_hb_us * 20000 / 1e6 * 100);
    return bad != 0;
}
