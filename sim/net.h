/*
 * The simulator's in-memory network: per-node upload links with finite
 * capacity and a bounded send queue, pairwise propagation delay from the
 * latency model, and seeded random loss.
 *
 * Link model (STYLE.md, "The simulator"). A packet of s bytes sent by node a
 * at time now:
 *     backlog   = max(0, link_free(a) - now)            time still queued
 *     dropped at the sender (STRATA_SIM_DROP_QUEUE) if the bytes still queued
 *         plus s exceed a's queue limit -- a drop-tail buffer;
 *     departure = max(now, link_free(a)) + s / upload(a);  link_free(a) = departure
 *     arrival   = departure + one_way_delay(a, b)
 *     lost in flight (STRATA_SIM_DROP_LOSS) with a's loss probability, drawn
 *         from a's own seeded stream, then with b's receive loss probability,
 *         drawn from b's; a lost packet did use a's uplink.
 * An unlimited uplink (0 kbit/s) sends at once and never queues. Nothing
 * models the receiver's downlink: the bottleneck of a live-streaming overlay
 * is the upload of the peers that relay. A rate change applies to packets
 * sent after it; the backlog already queued keeps its departure times.
 *
 * Serialisation time is size * 8e6 / kbps ns, rounded up to the next ns, so
 * a link never runs faster than its capacity.
 *
 * Packet trains (cut_through_bytes = u > 0). A simulator that charges each
 * DATA packet as s >> u bytes (to run fewer events) stands for a train of
 * s / u real datagrams. Real relays forward each datagram as it comes, so
 * a train is not stored and forwarded whole: its head reaches the next hop
 * after one datagram's serialisation, and a relay sending one train to c
 * children interleaves them. The model keeps the link's occupancy exact
 * (link_free advances by the whole s / upload, so capacity, backlog and
 * queue drops are unchanged) and moves only the arrival:
 *     a burst = the sends of one node at one instant now;
 *     head(j) = head(j-1) + min(s_j, u) / upload, head(-1) = the burst's start
 *               = max(now, link_free) at its first send;
 *     arrival = head(j) + one_way_delay(a, b).
 * With every packet <= u this is exactly the store-and-forward rule above.
 * A datagram-sized send (control traffic: heartbeats, instructions, group
 * probes and their answers) goes between the datagrams of the trains
 * already queued, as it would in a real FIFO that holds a train's
 * datagrams only as they come in from upstream: it leaves after the heads
 * and datagram-sized sends queued before it, not after the trains' tails
 *     depart = max(now, heads_free) + size / upload
 * (heads_free = the latest such departure or train head). Without trains
 * in the queue that is the FIFO rule again; the link's occupancy and the
 * queue drops stay those of the whole trains. Without this a probe sent
 * by a relay of 64 KiB packets on a 1 Mbit/s uplink waited up to the
 * whole backlog of trains (seconds) and group agents measured that.
 * A train's tail lands up to one train's serialisation later than its
 * head; the model counts the train as there when its head is, an optimism
 * bounded by one train (one packet interval at the bottleneck) for the
 * whole path, where store-and-forward would add a whole train per hop.
 *
 * Capacities come from a mix "name:share:kbps,...", e.g.
 * "dsl:0.5:1000,cable:0.3:5000,fibre:0.2:50000": each node independently
 * draws its class from its own STRATA_SIM_STREAM_CAPACITY stream with
 * probability share / (sum of shares). Independent draws (rather than a
 * shuffled exact split) keep every node's class fixed as nodes are added;
 * the shares hold to within sampling error (+-0.5 % at 100,000 nodes).
 *
 * Per-node state is one 128-byte record; 100,000 nodes take under 13 MB.
 */
#ifndef STRATA_SIM_NET_H
#define STRATA_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "latency.h"
#include "strata/common.h"

/* Results of strata_simnet_send (errors are negative STRATA_ERR_*). */
enum strata_sim_send_result {
    STRATA_SIM_DELIVER = 0,    /* will arrive at *arrival_ns */
    STRATA_SIM_DROP_QUEUE = 1, /* sender's queue full: dropped before the link */
    STRATA_SIM_DROP_LOSS = 2,  /* sent, lost in flight */
};

enum {
    STRATA_SIMNET_MAX_CLASSES = 16,
    STRATA_SIMNET_CLASS_NAME_BYTES = 16, /* including the NUL */
    /* Default send buffer: 64 KiB, about 0.5 s at 1 Mbit/s, 10 ms at 50. */
    STRATA_SIMNET_DEFAULT_QUEUE_BYTES = 65536,
};

/* One capacity class of the mix. */
typedef struct strata_simnet_class {
    char name[STRATA_SIMNET_CLASS_NAME_BYTES];
    double share;         /* normalised: the shares of a mix sum to 1 */
    uint32_t upload_kbps; /* 0 = unlimited */
} strata_simnet_class;

typedef struct strata_simnet_config {
    uint64_t seed;              /* run seed; node streams derive from it */
    const char *capacity_mix;   /* NULL or "" = every uplink unlimited */
    uint32_t queue_limit_bytes; /* per node; 0 = unlimited */
    double loss;                /* per-packet loss probability, [0, 1] */
    uint32_t overhead_bytes;    /* added to each packet on the link (28 = IPv4+UDP) */
    uint64_t fixed_delay_ns;    /* one-way delay when no latency model is given */
    uint32_t cut_through_bytes; /* a train's unit (see "Packet trains"); 0 = store-and-forward */
} strata_simnet_config;

typedef struct strata_simnet_counters {
    uint64_t sent_pkts;       /* accepted onto the uplink (including later losses) */
    uint64_t sent_bytes;      /* their sizes, without overhead */
    uint64_t drop_queue_pkts; /* dropped at the sender: queue full */
    uint64_t drop_loss_pkts;  /* lost in flight */
} strata_simnet_counters;

/* Per-node state; private, exposed only so its size is known. */
typedef struct strata_simnet_node {
    uint64_t link_free_ns; /* when the uplink finishes what is queued */
    uint64_t burst_at_ns;  /* now of the current burst of sends (trains) */
    uint64_t burst_head_ns; /* departure of the latest train head in that burst */
    uint64_t heads_free_ns; /* trains: departure of the latest head or datagram-sized send */
    double loss;           /* loss probability of what it sends */
    double rx_loss;        /* ... and of what it receives (a lossy access link) */
    strata_rng rng;        /* loss draws */
    strata_simnet_counters c;
    uint32_t upload_kbps;
    uint32_t queue_limit_bytes;
    uint8_t class_idx;
} strata_simnet_node;

typedef struct strata_simnet {
    uint32_t nodes;
    strata_simnet_node *node;
    strata_simnet_class classes[STRATA_SIMNET_MAX_CLASSES];
    uint32_t nclasses;
    const strata_simlat *lat; /* borrowed; NULL = fixed delay */
    uint64_t fixed_delay_ns;
    uint32_t overhead_bytes;
    uint32_t cut_through_bytes;
    uint64_t seed;
    const strata_alloc *alloc;
} strata_simnet;

/* Fills cfg with the defaults: seed 1, no mix (unlimited), 64 KiB queues,
 * no loss, no overhead, 10 ms fixed delay, store-and-forward. */
void strata_simnet_config_default(strata_simnet_config *cfg);

/* Parses a capacity mix into classes[0..max): "name:share:kbps" entries
 * separated by commas, optional blanks around fields; name is 1..15 of
 * [A-Za-z0-9_-], unique; share a finite decimal >= 0; kbps an integer in
 * [0, 4294967295] (0 = unlimited). Shares are normalised to sum to 1 (their
 * sum must be > 0). Returns the number of classes, or STRATA_ERR_RANGE with
 * a message naming the entry and what is wrong (err may be NULL). */
int strata_simnet_parse_mix(const char *mix, strata_simnet_class *classes, size_t max, char *err,
                            size_t errlen);

/* Prepares a network of nodes 0..nodes-1. cfg NULL means the defaults. lat,
 * if not NULL, gives the one-way delays and must have at least nodes nodes
 * attached (strata_simlat_attach); it is borrowed and must outlive net.
 * alloc may be NULL (libc). Returns 0, STRATA_ERR_RANGE (bad mix or loss,
 * message in err), STRATA_ERR_INVAL or STRATA_ERR_NOMEM. */
int strata_simnet_init(strata_simnet *net, const strata_alloc *alloc, uint32_t nodes,
                       const strata_simnet_config *cfg, const strata_simlat *lat, char *err,
                       size_t errlen);

void strata_simnet_free(strata_simnet *net);

/* Sends size_bytes from node from to node to at time now_ns under the link
 * model above. Returns STRATA_SIM_DELIVER with *arrival_ns set,
 * STRATA_SIM_DROP_QUEUE or STRATA_SIM_DROP_LOSS (*arrival_ns =
 * STRATA_NEVER), or STRATA_ERR_INVAL for a node out of range. now_ns must
 * not go backwards for a given sender. arrival_ns may be NULL. */
int strata_simnet_send(strata_simnet *net, uint32_t from, uint32_t to, uint32_t size_bytes,
                       uint64_t now_ns, uint64_t *arrival_ns);

/* One-way propagation delay from node a to node b, in ns. */
uint64_t strata_simnet_delay_ns(const strata_simnet *net, uint32_t a, uint32_t b);

/* Serialisation time of bytes at kbps, rounded up; 0 when kbps is 0. */
uint64_t strata_simnet_tx_ns(uint64_t bytes, uint32_t kbps);

/* Setters for scenarios (link changes). Return 0 or STRATA_ERR_INVAL. */
int strata_simnet_set_upload_kbps(strata_simnet *net, uint32_t node, uint32_t kbps);
int strata_simnet_set_loss(strata_simnet *net, uint32_t node, double loss);
/* The loss probability of what node receives, [0, 1] (0 at the start). */
int strata_simnet_set_rx_loss(strata_simnet *net, uint32_t node, double loss);
int strata_simnet_set_queue_limit(strata_simnet *net, uint32_t node, uint32_t bytes);

/* Getters; node out of range gives 0 / NULL. */
uint32_t strata_simnet_upload_kbps(const strata_simnet *net, uint32_t node);
/* Index into net->classes of the node's class (0 when there is no mix). */
uint32_t strata_simnet_class_of(const strata_simnet *net, uint32_t node);
/* Time the node's queued bytes still need on its uplink at now_ns. */
uint64_t strata_simnet_backlog_ns(const strata_simnet *net, uint32_t node, uint64_t now_ns);
const strata_simnet_counters *strata_simnet_counters_of(const strata_simnet *net, uint32_t node);
/* Sum of every node's counters. */
void strata_simnet_totals(const strata_simnet *net, strata_simnet_counters *out);

#endif
