/*
 * Polluting peers (issue 13): what a polluter slot does to the DATA it
 * sends.
 *
 * A polluter is a real peer node, the daemons' core object, unchanged: it
 * joins, is placed in trees, relays and answers repairs as any peer does.
 * What it sends passes through the simulator's send path (world.c,
 * send_one), and there, for a polluter, each outgoing DATA datagram
 * (relayed packets, repair answers, parity symbols) is altered with
 * probability `rate` in one of the ways the scenario's polluter_kinds
 * allows, drawn uniformly:
 *
 *   forge    the payload replaced by bytes of the polluter's choosing;
 *   seq      the seq moved ahead by 1..32 packets of the same substream
 *            and/or the send time moved 16 s back (the forgery
 *            that made a victim skip its stream); the payload kept;
 *   corrupt  1..4 bits of the payload flipped;
 *   replay   an old DATA datagram it sent (of its last 32) instead;
 *   reorder  the datagram held back 1 ns .. hold_ns;
 *   eos      a forged end-of-stream marker at this seq instead;
 *   drop     withheld (as a liar: its counters say it was sent).
 *
 * `lie` is not an act on packets: a polluter with it declares the
 * scenario's liar_upload_kbps (the liars' mechanism), which the world
 * applies when it starts the node. A kind that does not fit a datagram
 * (seq or eos on a parity symbol, replay before anything was sent,
 * forge or corrupt without payload) becomes the next that does, in the
 * order above, or the datagram passes.
 *
 * Decisions come from one stream of the run's seed, drawn in send order,
 * so a run stays deterministic.
 */
#ifndef STRATA_SIM_POLLUTE_H
#define STRATA_SIM_POLLUTE_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

enum strata_simpol_kind {
    STRATA_SIMPOL_FORGE = 0,
    STRATA_SIMPOL_SEQ = 1,
    STRATA_SIMPOL_CORRUPT = 2,
    STRATA_SIMPOL_REPLAY = 3,
    STRATA_SIMPOL_REORDER = 4,
    STRATA_SIMPOL_EOS = 5,
    STRATA_SIMPOL_DROP = 6,
    STRATA_SIMPOL_LIE = 7,
    STRATA_SIMPOL_KINDS = 8,
    STRATA_SIMPOL_PACKET_KINDS = 7, /* forge .. drop act on datagrams */
};

enum strata_simpol_limits {
    STRATA_SIMPOL_RING = 32,       /* old datagrams a polluter keeps for replays */
    STRATA_SIMPOL_SEQ_JUMP = 32,   /* seq moves ahead by 1 .. this many packets of a substream */
    STRATA_SIMPOL_OLD_SEND_S = 16, /* send time moved back by this much */
};

/* The names of the kinds, in enum order ("forge" ... "lie"). */
extern const char *const strata_simpol_kind_names[STRATA_SIMPOL_KINDS];

/* Parses a comma list of kind names, or "all", into a bit per kind (bit i
 * = enum value i). Empty or "none" is 0. Returns 0, or -1 on an unknown
 * name. */
int strata_simpol_parse_kinds(const char *s, uint32_t *mask);

typedef struct strata_simpol {
    const strata_alloc *alloc;
    uint32_t mask; /* kinds allowed */
    double rate;   /* share of DATA datagrams altered */
    uint64_t hold_ns;
    uint8_t k; /* substreams: seq moves keep the substream */
    uint32_t nodes, npolluters, cap;
    uint32_t *ordinal;  /* per node: 1 + index into the rings; 0 = not a polluter */
    strata_buf **ring;  /* cap x STRATA_SIMPOL_RING references */
    uint8_t *ring_next; /* per polluter: next ring position */
    uint8_t *ring_fill; /* per polluter: entries held */
    strata_rng rng;
    uint64_t acts[STRATA_SIMPOL_KINDS]; /* datagrams altered, by kind */
} strata_simpol;

/* Sets p up for nodes world nodes, no polluter yet; rng_seed seeds the
 * decisions. Returns 0 or STRATA_ERR_NOMEM. */
int strata_simpol_init(strata_simpol *p, const strata_alloc *a, uint32_t nodes, uint32_t mask,
                       double rate, uint64_t hold_ns, uint8_t k, uint64_t rng_seed);
/* Releases the rings' references and the tables. */
void strata_simpol_free(strata_simpol *p);
/* Makes node a polluter. Returns 0 or STRATA_ERR_NOMEM. */
int strata_simpol_add(strata_simpol *p, uint32_t node);
/* 1 when node is a polluter. */
static inline int strata_simpol_is(const strata_simpol *p, uint32_t node)
{
    return p->ordinal && node < p->nodes && p->ordinal[node] != 0;
}
/* A polluter's session ends: its old datagrams go (a new viewer in the
 * slot has sent nothing). */
void strata_simpol_reset(strata_simpol *p, uint32_t node);

/* What polluter node sends instead of the DATA datagram in (the caller's
 * reference, taken over): the datagram to send (a reference the caller
 * owns: in itself, a new buffer or an old one) or NULL to send nothing,
 * *hold_ns an extra delay before it leaves, *kind the act (-1: none).
 * NULL with *kind -1 only when out of memory (in is then dropped). */
strata_buf *strata_simpol_alter(strata_simpol *p, uint32_t node, strata_buf *in, uint64_t *hold_ns,
                                int *kind);

#endif
