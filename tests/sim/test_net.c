/*
 * Tests of the simulator's network model: serialisation on a finite uplink,
 * the drop-tail queue limit, seeded loss, capacity-mix parsing and shares,
 * propagation delay through the latency model, and determinism.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eventq.h"
#include "latency.h"
#include "net.h"
#include "testutil.h"

/* A network of n nodes, no mix, fixed 10 ms delay, the given queue limit. */
static void make_net(strata_simnet *net, uint32_t n, uint32_t queue_bytes, double loss,
                     uint64_t seed)
{
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.queue_limit_bytes = queue_bytes;
    cfg.loss = loss;
    cfg.seed = seed;
    char err[128] = "";
    int rc = strata_simnet_init(net, NULL, n, &cfg, NULL, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "init: %s\n", err);
    CHECK_EQ_INT(rc, 0);
}

static void test_serialisation(void)
{
    strata_simnet net;
    make_net(&net, 3, 0, 0, 1);
    CHECK_EQ_INT(strata_simnet_set_upload_kbps(&net, 0, 1000), 0);
    CHECK_EQ_U64(strata_simnet_tx_ns(1250, 1000), STRATA_MS(10));
    CHECK_EQ_U64(strata_simnet_tx_ns(1250, 0), 0);

    /* Two back-to-back 1,250-byte packets at 1 Mbit/s depart 10 ms apart:
     * departures at 10 and 20 ms, arrivals 10 ms later. */
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, 0, &t1), STRATA_SIM_DELIVER);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 2, 1250, 0, &t2), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t1, STRATA_MS(20));
    CHECK_EQ_U64(t2, STRATA_MS(30));
    CHECK_EQ_U64(t2 - t1, STRATA_MS(10));
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, 0), STRATA_MS(20));
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, STRATA_MS(15)), STRATA_MS(5));
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, STRATA_MS(25)), 0);
    /* Sent while the link is still busy: queued behind. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 125, STRATA_MS(15), &t3), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t3, STRATA_MS(20) + STRATA_MS(1) + STRATA_MS(10));
    /* After the link went idle: no queueing. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, STRATA_MS(100), &t3), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t3, STRATA_MS(120));

    /* An unlimited uplink sends at once, whatever the load. */
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(strata_simnet_send(&net, 1, 0, 60000, STRATA_MS(5), &t3), STRATA_SIM_DELIVER);
        CHECK_EQ_U64(t3, STRATA_MS(15));
    }
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 1, 0), 0);

    /* Rounding goes up: 1,316 bytes at 3,000 kbit/s is 3,509,333.3 ns. */
    CHECK_EQ_U64(strata_simnet_tx_ns(1316, 3000), 3509334u);

    /* Counters. */
    const strata_simnet_counters *c = strata_simnet_counters_of(&net, 0);
    CHECK_EQ_U64(c->sent_pkts, 4);
    CHECK_EQ_U64(c->sent_bytes, 1250 * 3 + 125);
    CHECK_EQ_U64(c->drop_queue_pkts, 0);
    CHECK(strata_simnet_counters_of(&net, 3) == NULL);

    /* Out of range. */
    CHECK_EQ_INT(strata_simnet_send(&net, 3, 0, 1, 0, &t3), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 3, 1, 0, &t3), STRATA_ERR_INVAL);
    CHECK_EQ_U64(t3, STRATA_NEVER);
    CHECK_EQ_INT(strata_simnet_set_upload_kbps(&net, 3, 1), STRATA_ERR_INVAL);
    strata_simnet_free(&net);

    /* Per-packet overhead counts on the link, not in sent_bytes. */
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.overhead_bytes = 28;
    cfg.capacity_mix = "only:1:1000";
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, 2, &cfg, NULL, NULL, 0), 0);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1222, 0, &t1), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t1, STRATA_MS(10) + STRATA_MS(10));
    CHECK_EQ_U64(strata_simnet_counters_of(&net, 0)->sent_bytes, 1222);
    strata_simnet_free(&net);
}

/* Packet trains (net.h): a packet above the unit arrives when its head
 * does; one instant's sends interleave their heads; the link stays busy
 * for every byte; packets up to the unit behave as store-and-forward. */
static void test_trains(void)
{
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.queue_limit_bytes = 0;
    cfg.cut_through_bytes = 1250; /* 10 ms at 1 Mbit/s */
    strata_simnet net;
    char err[128] = "";
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, 4, &cfg, NULL, err, sizeof err), 0);
    strata_simnet_set_upload_kbps(&net, 0, 1000);
    uint64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0;
    /* Three trains of 12,500 bytes (100 ms each) at once: heads at 10, 20
     * and 30 ms, arrivals 10 ms later; the link is busy for 300 ms. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 12500, 0, &t1), STRATA_SIM_DELIVER);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 2, 12500, 0, &t2), STRATA_SIM_DELIVER);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 3, 12500, 0, &t3), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t1, STRATA_MS(20));
    CHECK_EQ_U64(t2, STRATA_MS(30));
    CHECK_EQ_U64(t3, STRATA_MS(40));
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, 0), STRATA_MS(300));
    /* A later send waits for the whole backlog: its head leaves at 310 ms. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 12500, STRATA_MS(50), &t4), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t4, STRATA_MS(320));
    /* A small packet in a burst queues behind the heads before it. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 2, 125, STRATA_MS(50), &t4), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t4, STRATA_MS(321));
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, STRATA_MS(50)), STRATA_MS(351));
    strata_simnet_free(&net);

    /* Without trains, or with packets no larger than the unit, the same
     * sends are stored and forwarded whole. */
    for (int trains = 0; trains < 2; trains++) {
        cfg.cut_through_bytes = trains ? 1250 : 0;
        CHECK_EQ_INT(strata_simnet_init(&net, NULL, 4, &cfg, NULL, err, sizeof err), 0);
        strata_simnet_set_upload_kbps(&net, 0, 1000);
        uint32_t size = trains ? 1250 : 12500;
        uint64_t tx = strata_simnet_tx_ns(size, 1000);
        CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, size, 0, &t1), STRATA_SIM_DELIVER);
        CHECK_EQ_INT(strata_simnet_send(&net, 0, 2, size, 0, &t2), STRATA_SIM_DELIVER);
        CHECK_EQ_U64(t1, tx + STRATA_MS(10));
        CHECK_EQ_U64(t2, 2 * tx + STRATA_MS(10));
        strata_simnet_free(&net);
    }
}

static void test_queue_limit(void)
{
    strata_simnet net;
    make_net(&net, 2, 3000, 0, 1);
    strata_simnet_set_upload_kbps(&net, 0, 1000);
    uint64_t t;
    /* 1,250 + 1,250 fit in 3,000 bytes; a third would need 3,750. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, 0, &t), STRATA_SIM_DELIVER);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, 0, &t), STRATA_SIM_DELIVER);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, 0, &t), STRATA_SIM_DROP_QUEUE);
    CHECK_EQ_U64(t, STRATA_NEVER);
    /* A smaller one still fits: 2,500 + 500. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 500, 0, &t), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t, STRATA_MS(24) + STRATA_MS(10));
    /* The drop did not use the link. */
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 0, 0), STRATA_MS(24));
    /* At 5 ms 2,375 bytes are still queued: no room for 1,250. At 10 ms
     * 1,750 are: exactly room. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, STRATA_MS(5), &t), STRATA_SIM_DROP_QUEUE);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1250, STRATA_MS(10), &t), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t, STRATA_MS(34) + STRATA_MS(10));
    /* Larger than the whole buffer: never fits. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 3001, STRATA_S(10), &t), STRATA_SIM_DROP_QUEUE);
    const strata_simnet_counters *c = strata_simnet_counters_of(&net, 0);
    CHECK_EQ_U64(c->drop_queue_pkts, 3);
    CHECK_EQ_U64(c->sent_pkts, 4);

    /* Sustained overload at twice the capacity for 10 s: the link carries
     * its capacity, about half is dropped, the queue delay stays bounded. */
    strata_simnet_set_queue_limit(&net, 1, 12500); /* 100 ms at 1 Mbit/s */
    strata_simnet_set_upload_kbps(&net, 1, 1000);
    uint64_t max_delay = 0, delivered = 0, last_arrival = 0;
    for (uint64_t now = 0; now < STRATA_S(10); now += STRATA_MS(5)) {
        int rc = strata_simnet_send(&net, 1, 0, 1250, now, &t);
        if (rc == STRATA_SIM_DELIVER) {
            delivered++;
            uint64_t d = t - STRATA_MS(10) - now;
            max_delay = d > max_delay ? d : max_delay;
            CHECK(t > last_arrival);
            last_arrival = t;
        }
    }
    c = strata_simnet_counters_of(&net, 1);
    CHECK(delivered >= 995 && delivered <= 1011);
    CHECK_EQ_U64(c->sent_pkts + c->drop_queue_pkts, 2000);
    CHECK(max_delay <= STRATA_MS(100));
    CHECK(max_delay >= STRATA_MS(90));
    strata_simnet_free(&net);
}

static void test_loss(uint64_t seed)
{
    enum { N = 200000 };
    strata_simnet net;
    make_net(&net, 4, 0, 0.1, seed);
    uint64_t lost = 0, t;
    int wrong = 0;
    for (uint64_t i = 0; i < N; i++) {
        int rc = strata_simnet_send(&net, 0, 1, 100, i, &t);
        if (rc == STRATA_SIM_DROP_LOSS)
            lost++;
        wrong += t != (rc == STRATA_SIM_DROP_LOSS ? STRATA_NEVER : i + STRATA_MS(10));
    }
    CHECK_EQ_INT(wrong, 0);
    double p = (double)lost / N;
    /* Standard deviation sqrt(0.09 / 2e5) = 0.00067; allow 5 sigma. */
    if (fabs(p - 0.1) > 0.0034)
        fprintf(stderr, "loss rate %.5f, want 0.1\n", p);
    CHECK(fabs(p - 0.1) < 0.0034);
    const strata_simnet_counters *c = strata_simnet_counters_of(&net, 0);
    CHECK_EQ_U64(c->drop_loss_pkts, lost);
    CHECK_EQ_U64(c->sent_pkts, N); /* lost packets were sent */

    /* Per-node probabilities: 0 never loses, 1 always does. */
    CHECK_EQ_INT(strata_simnet_set_loss(&net, 2, 0), 0);
    CHECK_EQ_INT(strata_simnet_set_loss(&net, 3, 1), 0);
    CHECK_EQ_INT(strata_simnet_set_loss(&net, 3, 1.5), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simnet_set_loss(&net, 3, NAN), STRATA_ERR_INVAL);
    int bad = 0;
    for (int i = 0; i < 10000; i++) {
        bad += strata_simnet_send(&net, 2, 0, 100, 0, &t) != STRATA_SIM_DELIVER;
        bad += strata_simnet_send(&net, 3, 0, 100, 0, &t) != STRATA_SIM_DROP_LOSS;
    }
    CHECK_EQ_INT(bad, 0);

    /* Receive loss: what node 2 receives from anyone is lost at 1, what it
     * sends is not; the loss is counted at the sender. */
    CHECK_EQ_INT(strata_simnet_set_rx_loss(&net, 2, 1), 0);
    CHECK_EQ_INT(strata_simnet_set_rx_loss(&net, 2, -0.5), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simnet_set_rx_loss(&net, 9, 0.5), STRATA_ERR_INVAL);
    uint64_t lost0 = strata_simnet_counters_of(&net, 0)->drop_loss_pkts;
    bad = 0;
    for (int i = 0; i < 1000; i++) {
        bad += strata_simnet_send(&net, 0, 2, 100, 0, &t) != STRATA_SIM_DROP_LOSS;
        bad += strata_simnet_send(&net, 2, 0, 100, 0, &t) != STRATA_SIM_DELIVER;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_U64(strata_simnet_counters_of(&net, 0)->drop_loss_pkts, lost0 + 1000);
    CHECK_EQ_INT(strata_simnet_set_rx_loss(&net, 2, 0), 0);

    /* A lost packet still occupied the uplink. */
    strata_simnet_set_upload_kbps(&net, 3, 1000);
    CHECK_EQ_INT(strata_simnet_send(&net, 3, 0, 1250, 0, &t), STRATA_SIM_DROP_LOSS);
    CHECK_EQ_U64(strata_simnet_backlog_ns(&net, 3, 0), STRATA_MS(10));
    strata_simnet_free(&net);

    /* Loss draws are the sender's own: node 0's losses do not change when
     * node 1 also sends lossy traffic in between. */
    strata_simnet a, b;
    make_net(&a, 2, 0, 0.3, seed);
    make_net(&b, 2, 0, 0.3, seed);
    int differ = 0;
    for (int i = 0; i < 5000; i++) {
        int ra = strata_simnet_send(&a, 0, 1, 10, 0, NULL);
        strata_simnet_send(&b, 1, 0, 10, 0, NULL);
        int rb = strata_simnet_send(&b, 0, 1, 10, 0, NULL);
        differ += ra != rb;
    }
    CHECK_EQ_INT(differ, 0);
    strata_simnet_free(&a);
    strata_simnet_free(&b);

    /* Bad loss in the configuration. */
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.loss = -0.1;
    char err[128] = "";
    CHECK_EQ_INT(strata_simnet_init(&a, NULL, 2, &cfg, NULL, err, sizeof err), STRATA_ERR_RANGE);
    CHECK(strstr(err, "loss") != NULL);
}

static const struct mix_case {
    const char *mix;
    int n;           /* classes, or a negative error */
    const char *msg; /* fragment of the error */
} mix_cases[] = {
    {"dsl:0.5:1000,cable:0.3:5000,fibre:0.2:50000", 3, NULL},
    {" dsl : 1 : 1000 ,\tlan:3:0 ", 2, NULL},
    {"solo:1:0", 1, NULL},
    {"", STRATA_ERR_RANGE, "entry 1"},
    {",", STRATA_ERR_RANGE, "entry 1"},
    {"dsl:0.5:1000,", STRATA_ERR_RANGE, "entry 2"},
    {"dsl:0.5", STRATA_ERR_RANGE, "expected name:share:kbps"},
    {"dsl:0.5:1000:9", STRATA_ERR_RANGE, "expected name:share:kbps"},
    {"dsl:x:1000", STRATA_ERR_RANGE, "share 'x'"},
    {"dsl:-1:1000", STRATA_ERR_RANGE, "share '-1'"},
    {"dsl:nan:1000", STRATA_ERR_RANGE, "share"},
    {"dsl:1e999:1000", STRATA_ERR_RANGE, "share"},
    {"dsl:1:-5", STRATA_ERR_RANGE, "kbps '-5'"},
    {"dsl:1:1e3", STRATA_ERR_RANGE, "kbps '1e3'"},
    {"dsl:1:4294967296", STRATA_ERR_RANGE, "kbps"},
    {"dsl:1:", STRATA_ERR_RANGE, "kbps"},
    {":1:10", STRATA_ERR_RANGE, "name"},
    {"d s l:1:10", STRATA_ERR_RANGE, "name"},
    {"abcdefghijklmnop:1:10", STRATA_ERR_RANGE, "name"},
    {"a:1:1,a:1:2", STRATA_ERR_RANGE, "class 'a' given twice"},
    {"a:0:1,b:0:2", STRATA_ERR_RANGE, "more than 0"},
    {"a:1:1,b:1:1,c:1:1,d:1:1,e:1:1,f:1:1,g:1:1,h:1:1,i:1:1,j:1:1,k:1:1,l:1:1,m:1:1,n:1:1,"
     "o:1:1,p:1:1,q:1:1",
     STRATA_ERR_RANGE, "more than 16 classes"},
};

static void test_mix_parse(void)
{
    for (size_t i = 0; i < sizeof mix_cases / sizeof mix_cases[0]; i++) {
        const struct mix_case *c = &mix_cases[i];
        strata_simnet_class cls[STRATA_SIMNET_MAX_CLASSES];
        char err[160] = "";
        int n = strata_simnet_parse_mix(c->mix, cls, STRATA_SIMNET_MAX_CLASSES, err, sizeof err);
        int ok = n == c->n && (!c->msg || strstr(err, c->msg));
        if (!ok)
            fprintf(stderr, "mix \"%s\": got %d \"%s\", want %d \"%s\"\n", c->mix, n, err, c->n,
                    c->msg ? c->msg : "");
        CHECK(ok);
    }
    strata_simnet_class cls[4];
    CHECK_EQ_INT(strata_simnet_parse_mix(" dsl : 1 : 1000 ,\tlan:3:0 ", cls, 4, NULL, 0), 2);
    CHECK(strcmp(cls[0].name, "dsl") == 0 && strcmp(cls[1].name, "lan") == 0);
    CHECK(cls[0].share == 0.25 && cls[1].share == 0.75);
    CHECK(cls[0].upload_kbps == 1000 && cls[1].upload_kbps == 0);
    CHECK_EQ_INT(strata_simnet_parse_mix(NULL, cls, 4, NULL, 0), STRATA_ERR_RANGE);
}

static void test_mix_shares(uint64_t seed)
{
    enum { N = 100000 };
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.seed = seed;
    cfg.capacity_mix = "dsl:0.5:1000,cable:0.3:5000,fibre:0.2:50000";
    strata_simnet net;
    char err[128] = "";
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, N, &cfg, NULL, err, sizeof err), 0);
    CHECK_EQ_U64(net.nclasses, 3);
    uint32_t count[3] = {0, 0, 0};
    int bad = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t c = strata_simnet_class_of(&net, i);
        if (c >= 3 || strata_simnet_upload_kbps(&net, i) != net.classes[c].upload_kbps) {
            bad++;
            continue;
        }
        count[c]++;
    }
    CHECK_EQ_INT(bad, 0);
    const double want[3] = {0.5, 0.3, 0.2};
    for (int c = 0; c < 3; c++) {
        double share = (double)count[c] / N;
        /* sigma <= 0.0016; allow 5 sigma. */
        if (fabs(share - want[c]) > 0.008)
            fprintf(stderr, "class %d share %.4f, want %.1f\n", c, share, want[c]);
        CHECK(fabs(share - want[c]) < 0.008);
    }
    /* Compact: 100,000 nodes in under 13 MB. */
    CHECK(sizeof(strata_simnet_node) <= 128);

    /* Adding nodes moves no one. */
    strata_simnet small;
    CHECK_EQ_INT(strata_simnet_init(&small, NULL, 1000, &cfg, NULL, err, sizeof err), 0);
    bad = 0;
    for (uint32_t i = 0; i < 1000; i++)
        bad += strata_simnet_class_of(&small, i) != strata_simnet_class_of(&net, i);
    CHECK_EQ_INT(bad, 0);
    strata_simnet_free(&small);

    /* A bad mix fails init with its message. */
    cfg.capacity_mix = "dsl:0.5";
    CHECK_EQ_INT(strata_simnet_init(&small, NULL, 10, &cfg, NULL, err, sizeof err),
                 STRATA_ERR_RANGE);
    CHECK(strstr(err, "capacity mix") != NULL);
    strata_simnet_free(&net);
}

/* Delays from the latency model: access + core/2 + access. */
static void test_with_latency(void)
{
    double m[4] = {0, 80, 80, 0};
    strata_simlat lat;
    char err[128] = "";
    CHECK_EQ_INT(strata_simlat_from_matrix(&lat, NULL, 2, m, err, sizeof err), 0);
    CHECK_EQ_INT(
        strata_simlat_attach(&lat, 10, STRATA_SIMLAT_ROUND_ROBIN, 5, STRATA_MS(1), STRATA_MS(10)),
        0);
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.capacity_mix = "x:1:8000"; /* 1 KB per ms */
    strata_simnet net;
    /* More nodes than the model has attached: refused. */
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, 11, &cfg, &lat, err, sizeof err), STRATA_ERR_INVAL);
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, 10, &cfg, &lat, err, sizeof err), 0);
    uint64_t t;
    uint64_t a0 = strata_simlat_node_access_ns(&lat, 0), a1 = strata_simlat_node_access_ns(&lat, 1);
    uint64_t a2 = strata_simlat_node_access_ns(&lat, 2);
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 1, 1000, STRATA_MS(3), &t), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t, STRATA_MS(4) + a0 + STRATA_MS(40) + a1);
    CHECK_EQ_U64(strata_simnet_delay_ns(&net, 0, 1), a0 + STRATA_MS(40) + a1);
    /* Same host (0 and 2 on host 0): the access links only. */
    CHECK_EQ_INT(strata_simnet_send(&net, 0, 2, 1000, STRATA_MS(3), &t), STRATA_SIM_DELIVER);
    CHECK_EQ_U64(t, STRATA_MS(5) + a0 + a2);
    strata_simnet_free(&net);
    strata_simlat_free(&lat);
}

/* Runs random traffic and folds every outcome into a hash. */
static uint64_t run_traffic(uint64_t seed, strata_simnet_counters *tot)
{
    enum { NODES = 500 };
    strata_simnet_config cfg;
    strata_simnet_config_default(&cfg);
    cfg.seed = seed;
    cfg.capacity_mix = "dsl:0.5:1000,cable:0.3:5000,fibre:0.2:50000";
    cfg.loss = 0.02;
    cfg.queue_limit_bytes = 20000;
    strata_simnet net;
    CHECK_EQ_INT(strata_simnet_init(&net, NULL, NODES, &cfg, NULL, NULL, 0), 0);
    strata_rng r; /* traffic pattern fixed; only the net's seed varies */
    strata_rng_seed(&r, 4242);
    uint64_t h = 0, now = 0;
    for (int i = 0; i < 200000; i++) {
        now += strata_rng_below(&r, 20000);
        uint32_t from = (uint32_t)strata_rng_below(&r, NODES);
        uint32_t to = (uint32_t)strata_rng_below(&r, NODES);
        uint32_t size = 100 + (uint32_t)strata_rng_below(&r, 1300);
        uint64_t t = 0;
        int rc = strata_simnet_send(&net, from, to, size, now, &t);
        h = strata_sim_mix64(h ^ (uint64_t)rc ^ (t * 31));
    }
    strata_simnet_totals(&net, tot);
    strata_simnet_free(&net);
    return h;
}

static void test_determinism(void)
{
    strata_simnet_counters c1, c2, c3;
    uint64_t h1 = run_traffic(99, &c1);
    uint64_t h2 = run_traffic(99, &c2);
    uint64_t h3 = run_traffic(100, &c3);
    CHECK_EQ_U64(h1, h2);
    CHECK_EQ_MEM(&c1, &c2, sizeof c1);
    CHECK(h1 != h3);
    CHECK_EQ_U64(c1.sent_pkts + c1.drop_queue_pkts, 200000);
    CHECK(c1.drop_queue_pkts > 0 && c1.drop_loss_pkts > 0);
    fprintf(stderr, "traffic: %llu sent, %llu queue drops, %llu lost\n",
            (unsigned long long)c1.sent_pkts, (unsigned long long)c1.drop_queue_pkts,
            (unsigned long long)c1.drop_loss_pkts);
}

int main(void)
{
    uint64_t seed = test_seed(31337);
    test_serialisation();
    test_trains();
    test_queue_limit();
    test_loss(seed);
    test_mix_parse();
    test_mix_shares(seed);
    test_with_latency();
    test_determinism();
    return test_summary("test_net");
}
