/*
 * Polluting peers and signed streams in the simulator (issue 13,
 * docs/security.md "Polluters in the simulator"): what a polluter does to
 * a datagram (sim/pollute.h), then whole runs of 250 peers for 40 s with a
 * fifth of them polluting in every way. Unsigned, pollution reaches the
 * honest viewers' outputs (bad plays, and delivery collapses); signed,
 * nothing bad is played, delivery stays high, forged packets are dropped
 * and the polluters lose their children (a child distrusts a parent that
 * sent it a forged packet, and stall detection moves it).
 */
#include <stdlib.h>
#include <string.h>

#include "pollute.h"
#include "testutil.h"
#include "world.h"
#include "strata/wire.h"

static void set(strata_scenario *s, const char *key, const char *value)
{
    char err[256];
    if (strata_scenario_set(s, key, value, err, sizeof err) != 0) {
        fprintf(stderr, "set %s=%s: %s\n", key, value, err);
        exit(2);
    }
}

static void test_kinds(void)
{
    uint32_t m = 0;
    CHECK_EQ_INT(strata_simpol_parse_kinds("all", &m), 0);
    CHECK_EQ_U64(m, (1u << STRATA_SIMPOL_KINDS) - 1u);
    CHECK_EQ_INT(strata_simpol_parse_kinds("forge,eos,lie", &m), 0);
    CHECK_EQ_U64(m, (1u << STRATA_SIMPOL_FORGE) | (1u << STRATA_SIMPOL_EOS) |
                        (1u << STRATA_SIMPOL_LIE));
    CHECK_EQ_INT(strata_simpol_parse_kinds("", &m), 0);
    CHECK_EQ_U64(m, 0);
    CHECK_EQ_INT(strata_simpol_parse_kinds("none", &m), 0);
    CHECK_EQ_U64(m, 0);
    CHECK_EQ_INT(strata_simpol_parse_kinds("forge,", &m), -1);
    CHECK_EQ_INT(strata_simpol_parse_kinds("forgery", &m), -1);
    CHECK_EQ_INT(strata_simpol_parse_kinds("seq,,drop", &m), -1);

    /* The scenario refuses an unknown kind when it is validated. */
    strata_scenario s;
    strata_scenario_default(&s);
    set(&s, "polluter_kinds", "replay,bogus");
    char err[256] = "";
    CHECK(strata_scenario_validate(&s, err, sizeof err) < 0);
    CHECK(strstr(err, "polluter_kinds") != NULL);
    set(&s, "polluter_kinds", "replay,reorder");
    CHECK_EQ_INT(strata_scenario_validate(&s, err, sizeof err), 0);
    CHECK_EQ_U64(s.polluter_mask, (1u << STRATA_SIMPOL_REPLAY) | (1u << STRATA_SIMPOL_REORDER));
}

/* A DATA datagram of seq with a 16-byte payload. */
static strata_buf *data_buf(uint64_t seq, uint8_t k)
{
    uint8_t payload[16];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(seq + i);
    strata_msg_data m = {.channel = {42},
                         .seq = seq,
                         .substream = (uint8_t)(seq % k),
                         .send_ts_ns = STRATA_S(100) + seq,
                         .payload_len = sizeof payload,
                         .payload = payload};
    strata_buf *b = strata_buf_new(NULL, 128);
    int n = strata_wire_encode_data(b->data, 128, &m);
    CHECK(n > 0);
    b->len = (uint32_t)n;
    return b;
}

static int bits_differ(const uint8_t *a, const uint8_t *b, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n; i++)
        d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
    return d;
}

/* Each kind alone, on datagrams of a polluter and of an honest node. */
static void test_alter(void)
{
    const uint8_t k = 4;
    for (unsigned kind = 0; kind < STRATA_SIMPOL_PACKET_KINDS; kind++) {
        strata_simpol p;
        CHECK_EQ_INT(strata_simpol_init(&p, NULL, 10, 1u << kind, 1.0, STRATA_MS(500), k, 9), 0);
        CHECK_EQ_INT(strata_simpol_add(&p, 3), 0);
        CHECK(strata_simpol_is(&p, 3) && !strata_simpol_is(&p, 4));
        uint64_t hold;
        int act;
        /* An honest node's datagram passes untouched. */
        strata_buf *in = data_buf(7, k);
        CHECK(strata_simpol_alter(&p, 4, in, &hold, &act) == in);
        CHECK_EQ_INT(act, -1);
        strata_buf_unref(in);
        for (uint64_t seq = 10; seq < 20; seq++) {
            in = data_buf(seq, k);
            strata_msg_data orig;
            CHECK_EQ_INT(strata_wire_decode_data(in->data, in->len, &orig) > 0, 1);
            strata_buf *keep = strata_buf_ref(in);
            strata_buf *out = strata_simpol_alter(&p, 3, in, &hold, &act);
            strata_msg_data m;
            if (kind == STRATA_SIMPOL_REPLAY && seq == 10) {
                /* Nothing older to replay: the first one passes. */
                CHECK(out == keep);
                CHECK_EQ_INT(act, -1);
            } else {
                CHECK_EQ_INT(act, (int)kind);
            }
            if (kind == STRATA_SIMPOL_DROP) {
                CHECK(out == NULL);
            } else {
                CHECK(out != NULL);
                CHECK(strata_wire_decode_data(out->data, out->len, &m) > 0);
            }
            switch (kind) {
            case STRATA_SIMPOL_FORGE:
                CHECK_EQ_U64(m.seq, seq);
                CHECK_EQ_INT(m.payload_len, 16);
                CHECK(memcmp(m.payload, orig.payload, 16) != 0);
                break;
            case STRATA_SIMPOL_CORRUPT: {
                int d = bits_differ(m.payload, orig.payload, 16);
                CHECK(d >= 1 && d <= 4);
                break;
            }
            case STRATA_SIMPOL_SEQ:
                CHECK(m.seq != seq || m.send_ts_ns != orig.send_ts_ns);
                CHECK_EQ_U64(m.seq % k, seq % k);
                CHECK(m.seq <= seq + (uint64_t)k * STRATA_SIMPOL_SEQ_JUMP);
                CHECK(memcmp(m.payload, orig.payload, 16) == 0);
                break;
            case STRATA_SIMPOL_REPLAY:
                if (seq > 10)
                    CHECK(m.seq < seq && m.seq >= 10);
                break;
            case STRATA_SIMPOL_REORDER:
                CHECK(out == keep);
                CHECK(hold >= 1 && hold <= STRATA_MS(500));
                break;
            case STRATA_SIMPOL_EOS:
                CHECK(m.flags & STRATA_DATA_FLAG_EOS);
                CHECK_EQ_INT(m.payload_len, 0);
                CHECK_EQ_U64(m.seq, seq);
                break;
            default:
                break;
            }
            if (out)
                strata_buf_unref(out);
            strata_buf_unref(keep);
        }
        CHECK(p.acts[kind] >= 9);
        strata_simpol_free(&p);
    }

    /* rate 0: nothing altered. */
    strata_simpol p;
    CHECK_EQ_INT(strata_simpol_init(&p, NULL, 10, (1u << STRATA_SIMPOL_KINDS) - 1u, 0, 1, k, 9), 0);
    CHECK_EQ_INT(strata_simpol_add(&p, 3), 0);
    strata_buf *in = data_buf(5, k);
    uint64_t hold;
    int act;
    CHECK(strata_simpol_alter(&p, 3, in, &hold, &act) == in);
    CHECK_EQ_INT(act, -1);
    strata_buf_unref(in);
    strata_simpol_free(&p);
}

static void run(const strata_scenario *s, strata_simresult *r)
{
    char err[512] = "";
    strata_world *w = strata_world_new(s, NULL, err, sizeof err);
    if (!w) {
        fprintf(stderr, "world: %s\n", err);
        exit(2);
    }
    CHECK_EQ_INT(strata_world_run(w), 0);
    strata_world_result(w, r);
    strata_world_del(w);
}

/* 250 peers for 40 s on 20 ms links, joining over the first 5 s, levels 3
 * (under ASan 200: the seven runs took 80 s there with 250, 60 s with 200;
 * with 150 for 30 s levels 3 without liars delivered 0.975). */
enum { PEERS = UNDER_ASAN ? 200 : 250 };
static void base(strata_scenario *s, int signed_stream, const char *share)
{
    strata_scenario_default(s);
    s->nodes = PEERS;
    s->duration_ns = STRATA_S(40);
    s->seed = 3;
    set(s, "signed", signed_stream ? "yes" : "no");
    set(s, "polluter_share", share);
}

static void report(const char *what, const strata_simresult *r)
{
    fprintf(stderr,
            "%s: delivery %.4f, bad plays %llu, forged %llu, unverified %llu; polluters %u, "
            "sessions %llu, with children %llu, cut %llu (p50 %.1f s, p95 %.1f s), kept %llu, "
            "struck %llu\n",
            what, r->delivery_ratio, (unsigned long long)r->bad_plays,
            (unsigned long long)r->forged_packets, (unsigned long long)r->unverified_packets,
            r->polluters, (unsigned long long)r->polluter_sessions,
            (unsigned long long)r->polluter_interior, (unsigned long long)r->polluter_cut,
            r->polluter_cut_p50, r->polluter_cut_p95, (unsigned long long)r->polluter_kept,
            (unsigned long long)r->polluter_struck);
}

static void test_runs(void)
{
    strata_scenario s;
    strata_simresult r;

    /* Nobody pollutes: nothing bad is played, signed or not (the check of
     * what is played holds for honest runs). */
    base(&s, 0, "0");
    run(&s, &r);
    report("unsigned, no polluters", &r);
    CHECK_EQ_U64(r.bad_plays, 0);
    CHECK(r.delivery_ratio > 0.99);
    base(&s, 1, "0");
    run(&s, &r);
    report("signed, no polluters", &r);
    CHECK_EQ_U64(r.bad_plays, 0);
    CHECK_EQ_U64(r.forged_packets, 0);
    CHECK(r.verified_packets > 0);
    CHECK(r.delivery_ratio > 0.99);

    /* Unsigned with polluters: their forgeries are played, and the forged
     * ends and seqs break the stream. */
    base(&s, 0, "0.2");
    run(&s, &r);
    report("unsigned, 20 % polluters", &r);
    CHECK(r.polluters > PEERS / 8 && r.polluters < PEERS * 2 / 7); /* 20 % of the slots */
    CHECK(r.bad_plays > 0);
    CHECK_EQ_U64(r.bad_bytes, r.bad_plays * s.packet_bytes);
    CHECK(r.delivery_ratio < 0.9);
    for (unsigned a = 0; a < STRATA_SIMPOL_PACKET_KINDS; a++)
        CHECK(r.polluter_acts[a] > 0);

    /* Only payload forgeries, unsigned: every one that is played is bad. */
    set(&s, "polluter_kinds", "forge,corrupt");
    run(&s, &r);
    report("unsigned, 20 % polluters forging payloads", &r);
    CHECK(r.bad_plays > 100);

    /* Signed with polluters of every kind: nothing bad played, at both
     * levels. Their children distrust them and are moved, so most
     * polluters that had children lose them all for good within the run
     * (before the children reported them, the same runs: 1 of 39 with
     * backbone levels, 3 of 32 at levels 3, 0 of 33 at levels 3 without
     * lie). With backbone levels delivery is whole; at levels 3 polluters
     * that also lie about their upload cost a few per cent
     * (docs/security.md, "Polluters in the simulator"). */
    base(&s, 1, "0.2");
    set(&s, "levels", "backbone");
    run(&s, &r);
    report("signed, 20 % polluters, backbone", &r);
    CHECK_EQ_U64(r.bad_plays, 0);
    CHECK(r.forged_packets > 0);
    CHECK(r.delivery_ratio > 0.999);
    CHECK(r.polluter_interior > 10);
    CHECK(r.polluter_cut * 10 >= r.polluter_interior * 9);
    CHECK(r.polluter_cut_p50 > 0 && r.polluter_cut_p50 < 10);
    CHECK(r.polluter_struck > 0);

    base(&s, 1, "0.2");
    run(&s, &r);
    report("signed, 20 % polluters, levels 3", &r);
    CHECK_EQ_U64(r.bad_plays, 0);
    CHECK(r.forged_packets > 0);
    /* 0.966 before the manifest went ahead of its batch (session 15):
     * nodes held each batch and relayed it in a burst their queues
     * dropped. */
    CHECK(r.delivery_ratio > 0.999);
    CHECK(r.polluter_interior > 10);
    CHECK(r.polluter_cut * 10 >= r.polluter_interior * 7);
    CHECK(r.polluter_cut_p50 > 0 && r.polluter_cut_p50 < 10);

    set(&s, "polluter_kinds", "forge,seq,corrupt,replay,reorder,eos,drop");
    run(&s, &r);
    report("signed, 20 % polluters, levels 3, no lie", &r);
    CHECK_EQ_U64(r.bad_plays, 0);
    CHECK(r.delivery_ratio > 0.999);
    CHECK(r.polluter_cut * 10 >= r.polluter_interior * 6);
}

int main(void)
{
    test_kinds();
    test_alter();
    test_runs();
    return test_summary("test_polluters");
}
