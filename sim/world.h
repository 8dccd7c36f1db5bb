/*
 * The simulated world: one control center, one source and a population of
 * peer slots on the in-memory network (net.h) under the virtual clock of
 * the event queue (eventq.h), driven through a scenario (scenario.h) and
 * measured by metrics.h.
 *
 * Nodes. Network node i has address 10.x.y.z = 0x0A000000 + i and port
 * 9000 + generation: node 0 is the control center, 1 the source, 2.. the
 * peer slots. A slot hosts one session at a time; each session is a new
 * core object with a new node id and the next generation's port, so a
 * datagram still in flight to a departed viewer finds no one (it is
 * counted undeliverable) instead of reaching its successor.
 *
 * Algorithms. The world does not know what runs on the nodes: an algorithm
 * (strata_simalg) creates one object per node and offers the four entry
 * points every core object has (handle_datagram, handle_timeout,
 * next_timeout, outbox). "strata" hosts the very same strata_control,
 * strata_source and strata_peer as the daemons; baselines plug in beside it
 * through the same table.
 *
 * Events, all in one queue ordered by (time, insertion):
 *   TIMER    a node's deadline. Timers are lazy: after every call into a
 *            node the world asks next_timeout and pushes a wake-up only if
 *            it is earlier than the one already queued; a wake-up that finds
 *            its node's deadline still ahead just re-arms. A deadline moved
 *            later on every packet (as the peer's tail timer is) thus costs
 *            no queue operation per packet.
 *   DELIVER  a datagram arrives. Every outbox entry goes through
 *            strata_simnet_send (uplink serialisation, queue, loss, delay)
 *            and, unless dropped, becomes one event holding a reference to
 *            the sender's strata_buf: a packet relayed to eight children is
 *            still one buffer.
 *   TICK     the source's next packet is due (one every packet interval).
 *   JOIN / DEPART   a session starts or ends (scenario.h plans them).
 *   TIMELINE a scenario event that changes the network (upload, loss) or
 *            crashes the control center (control-restart: its node object
 *            and all its state are destroyed; datagrams to it are lost).
 *   CONTROL_UP  a fresh control center starts on the same address (new
 *            node id and seed, nothing carried over); the world watches its
 *            status until its recovery window closes (every DCM rebuilt).
 *   SAMPLE   a row of the CSV time series.
 * Every processed event is folded into the run's fingerprint: a 64-bit hash
 * of (time, kind, node) in processing order.
 *
 * Regions (scenario key region): "one", "host" (fixed labels), or
 * "groups": every peer's node runs its locality-group agent and bootstrap
 * client, the control node its group directory, which answers bootstrap
 * requests; a viewer's region is its node's group, passed by the node as
 * in the daemons, and the control center runs in LOCALITY region mode
 * (a peer in no group yet is in its address prefix's region). For the
 * cross-region bytes the world follows each peer's group through the
 * node's on_group callback.
 *
 * Simulated packet size. The source pushes one tiny payload per packet
 * interval (16 bytes: sequence number and send time, so that a play
 * reveals its lag); the network charges each DATA datagram as if its
 * payload were packet_bytes long. Control traffic is charged at its real
 * size. docs/simulator.md explains the choice for large runs.
 */
#ifndef STRATA_SIM_WORLD_H
#define STRATA_SIM_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "eventq.h"
#include "latency.h"
#include "metrics.h"
#include "net.h"
#include "scenario.h"
#include "strata/common.h"
#include "strata/control.h"

typedef struct strata_world strata_world;

enum {
    STRATA_WORLD_CONTROL = 0,
    STRATA_WORLD_SOURCE = 1,
    STRATA_WORLD_FIRST_PEER = 2,
    STRATA_WORLD_BASE_IPV4 = 0x0A000000,
    STRATA_WORLD_BASE_PORT = 9000,
    STRATA_WORLD_PORT_SPAN = 50000, /* generations wrap after this many sessions */
    STRATA_WORLD_PAYLOAD_BYTES = 16,
};

/* Kinds of events, for strata_world_events_of_kind (see the list above). */
enum strata_world_event_kind {
    STRATA_WORLD_EV_TIMER = 1,
    STRATA_WORLD_EV_DELIVER = 2,
    STRATA_WORLD_EV_TICK = 3,
    STRATA_WORLD_EV_JOIN = 4,
    STRATA_WORLD_EV_DEPART = 5,
    STRATA_WORLD_EV_TIMELINE = 6,
    STRATA_WORLD_EV_SAMPLE = 7,
    STRATA_WORLD_EV_CONTROL_UP = 8,
    STRATA_WORLD_EVENT_KINDS = 9,
};

/* What the world needs to know about a datagram: whether it is stream data
 * (charged at the simulated size, counted as data) and, for data, its
 * packet number and substream (for path tracking). */
typedef struct strata_simpkt {
    uint8_t data;      /* 1 for a DATA packet */
    uint8_t repair;    /* a retransmission: not a new packet on a path */
    uint8_t parity;    /* a parity symbol (levels ec and 3) */
    uint8_t substream; /* < k */
    uint8_t has_payload;
    uint64_t seq;
} strata_simpkt;

/* An algorithm: the objects that run on the nodes. Every function gets the
 * algorithm's own state (from init) and a network node index. */
typedef struct strata_simalg {
    const char *name;
    /* Creates the state for world w (whose scenario, addresses and seeds
     * are available through the accessors below). Returns 0 or an error. */
    int (*init)(strata_world *w, void **state);
    void (*free)(void *state);
    /* Brings node up at now (control and source once at the start; a peer
     * at each session start). Returns 0 or an error (the session is then
     * counted but the node stays dark). */
    int (*node_up)(void *state, uint32_t node, uint64_t now);
    /* Ends node's life: graceful means it says goodbye (queues what it
     * sends when leaving), which the world sends before node_free. */
    void (*node_down)(void *state, uint32_t node, int graceful, uint64_t now);
    void (*node_free)(void *state, uint32_t node);
    int (*handle_datagram)(void *state, uint32_t node, strata_addr from, const uint8_t *buf,
                           size_t len, uint64_t now);
    void (*handle_timeout)(void *state, uint32_t node, uint64_t now);
    uint64_t (*next_timeout)(void *state, uint32_t node);
    strata_outbox *(*outbox)(void *state, uint32_t node);
    /* Pushes one stream payload into the source; 0 if it was sent as one
     * DATA packet, < 0 if the source cannot send yet (not joined). */
    int (*source_push)(void *state, const uint8_t *payload, size_t len, uint64_t now);
    /* Describes a datagram (see strata_simpkt). Returns 0, or < 0 if it
     * cannot be parsed (then charged and counted as control). */
    int (*classify)(void *state, const uint8_t *buf, size_t len, strata_simpkt *out);
    /* Optional: adds what the algorithm's nodes counted over the run (every
     * session's, ended or not) to the result's repair and parity figures. */
    void (*counters)(void *state, strata_simresult *out);
} strata_simalg;

/* The algorithms compiled in; NULL-terminated. */
extern const strata_simalg *const strata_simalgs[];
/* The baselines (alg_mesh.c, alg_tree.c; alg_common.h describes them). */
extern const strata_simalg strata_simalg_mesh;
extern const strata_simalg strata_simalg_tree;
extern const strata_simalg strata_simalg_splitstream;
/* The algorithm of that name, or NULL. */
const strata_simalg *strata_simalg_find(const char *name);

/* Progress hook, called every few hundred thousand events (and at the end):
 * virtual time now, the run's end, events so far. */
typedef void (*strata_world_progress_fn)(void *user, uint64_t now_ns, uint64_t end_ns,
                                         uint64_t events);

/* Creates a world for scenario scn (copied and validated), loading its
 * latency file, attaching the nodes and planning the first sessions; the
 * algorithm is the scenario's. On error returns NULL with a message in err
 * (errlen > 0). */
strata_world *strata_world_new(const strata_scenario *scn, const strata_alloc *a, char *err,
                               size_t errlen);
void strata_world_del(strata_world *w);

/* Sets the progress hook (may be NULL). */
void strata_world_set_progress(strata_world *w, strata_world_progress_fn fn, void *user);

/* Runs every event up to and including time t (capped at the run's end).
 * Returns 0, or a negative error if an algorithm failed fatally. */
int strata_world_run_until(strata_world *w, uint64_t t);
/* Runs to the end of the scenario. */
int strata_world_run(strata_world *w);

/* After the run: computes the figures (closing open sessions at the end).
 * Only the first call closes; later calls return the same figures. */
void strata_world_result(strata_world *w, strata_simresult *r);
/* The metrics, for the CSV writer and tests. */
const strata_simmetrics *strata_world_metrics(const strata_world *w);
/* The network, for tests and diagnostics (per-node counters, capacities). */
const strata_simnet *strata_world_net(const strata_world *w);

uint64_t strata_world_now(const strata_world *w);
uint64_t strata_world_events(const strata_world *w);
/* Events processed of one kind (enum strata_world_event_kind). */
uint64_t strata_world_events_of_kind(const strata_world *w, unsigned kind);
uint64_t strata_world_fingerprint(const strata_world *w);

/* --- for algorithms (and tests) ---------------------------------------------- */

const strata_scenario *strata_world_scenario(const strata_world *w);
const strata_alloc *strata_world_alloc(const strata_world *w);
uint32_t strata_world_nodes(const strata_world *w); /* network nodes, 2 + slots */
/* The current address of node (its session's port). */
strata_addr strata_world_addr(const strata_world *w, uint32_t node);
/* The node of an address, or UINT32_MAX if it names none. */
uint32_t strata_world_node_of(strata_addr a);
/* A nonzero node id for node's current session, never UINT64_MAX. */
strata_node_id strata_world_node_id(const strata_world *w, uint32_t node);
/* A seed for node's current session's core object. */
uint64_t strata_world_node_seed(const strata_world *w, uint32_t node);
/* node's uplink capacity (0 = unlimited) and region label. */
uint32_t strata_world_upload_kbps(const strata_world *w, uint32_t node);
/* 1 when node's slot lies about its upload (scenario liar_share). */
int strata_world_is_liar(const strata_world *w, uint32_t node);
/* 1 when node's slot pollutes what it sends (scenario polluter_share). */
int strata_world_is_polluter(const strata_world *w, uint32_t node);
const char *strata_world_region(const strata_world *w, uint32_t node);
/* Simulated packet rate and size, from the scenario. */
uint64_t strata_world_packet_interval_ns(const strata_world *w);
/* An algorithm hands every played stream payload here. */
void strata_world_on_play(strata_world *w, uint32_t node, const uint8_t *buf, size_t len);
/* 1 if node is up (control and source once started, a peer in session). */
int strata_world_node_online(const strata_world *w, uint32_t node);
/* The algorithm's state (for tests that look inside). */
void *strata_world_alg_state(const strata_world *w);
/* The control center of a run of strata (NULL with a baseline, or while it
 * is down): its topology and status, for tests and figures. */
const strata_control *strata_world_control(const strata_world *w);

/* --- the strata algorithm's own view, for tests and extra output ------------- */

typedef struct strata_simalg_strata_stats {
    uint64_t reparents, deaths, joins, leaves, instructions_sent;
    size_t detached_pairs;
    int max_depth;
} strata_simalg_strata_stats;
/* Fills st from the control center of a world running "strata"; returns 0
 * or STRATA_ERR_INVAL for another algorithm. */
int strata_simalg_strata_stats_of(const strata_world *w, strata_simalg_strata_stats *st);

#endif
