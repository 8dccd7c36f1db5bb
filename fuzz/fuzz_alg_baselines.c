/*
 * libFuzzer target driving the simulator's baselines (sim/alg_mesh.c,
 * sim/alg_tree.c) with fuzzed datagrams and time, inside a running world.
 *
 * The input is a small program. Its first byte picks the algorithm (mesh,
 * tree, splitstream) and the scenario (k, capacities, loss); the world
 * then runs 300 ms, by when the tracker, the source and all six peers are
 * in their usual states (every peer attached in every stripe). Each step
 * starts with an opcode byte:
 *   0  run the world on by a fuzzed number of milliseconds (2 s in all at
 *      most; with the 500 ms run after the last step, the baselines'
 *      longest timers, 2 s, can fire)
 *   1  a raw datagram of fuzzed bytes
 *   2  a well-formed message of a fuzzed type with fuzzed fields, then
 *      optionally corrupted at one fuzzed offset
 * Datagrams go to a fuzzed node (tracker, source or peer), from a fuzzed
 * node and session. classify must agree with decode on every input.
 * Simulated time is what an input costs, so it is kept short: a 32 kbit/s
 * stream and 2.8 s at most (about 1,000 inputs a second under ASan).
 *
 * After every injected datagram the target node's outbox is drained here
 * and every queued datagram must decode, to its full length, and classify:
 * a baseline never sends what a receiver would drop. Nothing may crash,
 * trip a sanitizer or leak (LeakSanitizer at exit of each run), and the
 * trackers' trees must keep their invariants.
 */
#include "fuzz_prog.h"
#include "alg_common.h"
#include "world.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PEERS = 6, NODES = PEERS + STRATA_WORLD_FIRST_PEER };

static const char *const algs[3] = {"mesh", "tree", "splitstream"};

/* A node and one of its sessions: mostly the current one. */
static strata_addr addr_of(strata_world *w, uint8_t b)
{
    uint32_t node = b % NODES;
    strata_addr a = strata_world_addr(w, node);
    if (b & 0x80)
        a.port = (uint16_t)(a.port + 1 + (b >> 4 & 7));
    return a;
}

/* Every queued datagram must decode whole and classify. */
static void check_outbox(const strata_simalg *alg, void *st, uint32_t node)
{
    strata_outbox *ob = alg->outbox(st, node);
    strata_datagram d;
    while (ob && strata_outbox_pop(ob, &d)) {
        strata_simbl_msg m;
        strata_simpkt pk;
        if (strata_simbl_decode(d.buf->data, d.buf->len, &m) != (int)d.buf->len ||
            alg->classify(st, d.buf->data, d.buf->len, &pk) != 0)
            abort();
        strata_buf_unref(d.buf);
    }
}

/* A message of a fuzzed type with fields near plausible values. */
static int build(prog *r, strata_world *w, uint8_t *buf, size_t cap, uint8_t *bits)
{
    strata_simbl_msg m;
    memset(&m, 0, sizeof m);
    m.type = (uint8_t)(1 + u8(r) % (STRATA_SIMBL_TYPES - 1));
    uint64_t base = strata_world_now(w) / strata_world_packet_interval_ns(w);
    switch (m.type) {
    case STRATA_SIMBL_DATA:
        m.stripe = u8(r) % STRATA_SIMBL_MAX_STRIPES;
        m.seq = (u8(r) & 1) ? un(r, 8) : base - (base > 64 ? u8(r) % 64 : 0);
        for (int i = 0; i < STRATA_SIMBL_PAYLOAD_BYTES; i++)
            bits[i] = u8(r);
        m.payload = bits;
        break;
    case STRATA_SIMBL_JOIN:
    case STRATA_SIMBL_HB:
    case STRATA_SIMBL_PARTNER:
        m.kbps = (uint32_t)un(r, 4);
        break;
    case STRATA_SIMBL_PEERS:
        m.count = u8(r) % (STRATA_SIMBL_MAX_PEERS + 1);
        for (unsigned i = 0; i < m.count; i++)
            m.addrs[i] = addr_of(w, u8(r));
        break;
    case STRATA_SIMBL_PARTNER_ACK:
        m.flag = u8(r) & 1;
        m.kbps = (uint32_t)un(r, 4);
        break;
    case STRATA_SIMBL_BUFFERMAP:
    case STRATA_SIMBL_REQUEST:
        m.flag = u8(r);
        m.seq = (u8(r) & 1) ? un(r, 8) : base - (base > 512 ? un(r, 2) % 512 : 0);
        m.nbits = (uint16_t)(8 * (1 + u8(r) % 64));
        for (unsigned i = 0; i < m.nbits / 8u; i++)
            bits[i] = u8(r);
        m.bits = bits;
        break;
    case STRATA_SIMBL_WELCOME:
        m.k = m.count = (uint8_t)(1 + u8(r) % STRATA_SIMBL_MAX_STRIPES);
        m.interior = (u8(r) & 1) ? STRATA_SIMBL_NO_STRIPE : (uint8_t)(u8(r) % m.k);
        m.slots = u8(r);
        for (unsigned i = 0; i < m.k; i++)
            m.addrs[i] = (u8(r) & 1) ? (strata_addr){0, 0} : addr_of(w, u8(r));
        break;
    case STRATA_SIMBL_ASK:
    case STRATA_SIMBL_PARENT:
        m.stripe = u8(r) % STRATA_SIMBL_MAX_STRIPES;
        m.addr = (u8(r) & 1) ? (strata_addr){0, 0} : addr_of(w, u8(r));
        break;
    case STRATA_SIMBL_ATTACH:
    case STRATA_SIMBL_DETACH:
    case STRATA_SIMBL_KEEPALIVE:
    case STRATA_SIMBL_REFUSE:
        m.stripe = u8(r) % STRATA_SIMBL_MAX_STRIPES;
        break;
    default:
        break;
    }
    return strata_simbl_encode(&m, buf, cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prog r = {data, data + size};
    uint8_t conf = u8(&r);
    strata_scenario s;
    strata_scenario_default(&s);
    s.nodes = PEERS;
    s.duration_ns = STRATA_S(20);
    s.rate_kbps = 32;
    s.join_window_ns = STRATA_MS(100);
    s.seed = 1 + (conf >> 5);
    s.k = (uint8_t)(1 + (conf >> 2 & 3));
    snprintf(s.algorithm, sizeof s.algorithm, "%s", algs[conf % 3]);
    if (conf & 0x10)
        snprintf(s.capacity_mix, sizeof s.capacity_mix, "slow:1:300");
    char err[256];
    strata_world *w = strata_world_new(&s, NULL, err, sizeof err);
    if (!w)
        abort();
    const strata_simalg *alg = strata_simalg_find(s.algorithm);
    void *st = strata_world_alg_state(w);
    if (strata_world_run_until(w, STRATA_MS(300)) != 0)
        abort();
    uint8_t buf[STRATA_SIMBL_MAX_MSG_BYTES + 16], bits[STRATA_SIMBL_MAX_MAP_BITS / 8];
    uint64_t until = strata_world_now(w) + STRATA_S(2);
    for (int steps = 0; more(&r) && steps < 512; steps++) {
        uint8_t op = u8(&r) % 3;
        if (op == 0) {
            uint64_t t = strata_world_now(w) + STRATA_MS(u8(&r)) * 4;
            if (t > until)
                t = until;
            if (strata_world_run_until(w, t) != 0)
                abort();
            continue;
        }
        uint32_t to = u8(&r) % NODES;
        strata_addr from = addr_of(w, u8(&r));
        const uint8_t *dgram;
        size_t len;
        if (op == 1) {
            len = u8(&r);
            if (len > (size_t)(r.end - r.p))
                len = (size_t)(r.end - r.p);
            dgram = r.p;
            r.p += len;
        } else {
            int n = build(&r, w, buf, sizeof buf, bits);
            if (n <= 0)
                continue;
            uint8_t c = u8(&r);
            if (c & 0x80)
                buf[(size_t)(c & 0x7f) % (size_t)n] ^= u8(&r);
            dgram = buf;
            len = (size_t)n;
        }
        strata_simbl_msg m;
        strata_simpkt pk;
        int dec = strata_simbl_decode(dgram, len, &m);
        int cls = alg->classify(st, dgram, len, &pk);
        if ((dec < 0) != (cls < 0))
            abort();
        if (!strata_world_node_online(w, to))
            continue;
        alg->handle_datagram(st, to, from, dgram, len, strata_world_now(w));
        check_outbox(alg, st, to);
    }
    strata_simbl_tree_stats ts;
    if (strata_simbl_tree_stats_of(w, &ts) == 0 && ts.tracker_violations != 0)
        abort();
    if (strata_world_run_until(w, strata_world_now(w) + STRATA_MS(500)) != 0)
        abort();
    strata_world_del(w);
    return 0;
}
