/*
 * Measured Internet latency for the simulator: a host-to-host RTT matrix
 * loaded from the data sets under data/latency/, gaps filled, and simulated
 * nodes attached behind those hosts.
 *
 * File format (the derived matrices of every data set): N lines of N
 * whitespace-separated decimal RTTs in milliseconds; row i is the source
 * host i; -1 marks a pair never measured; the diagonal is 0 or an intra-host
 * (intra-country) RTT. Lines may end in \n or \r\n; blank lines are allowed
 * only after the last row. Anything else is rejected with "name:line:col:"
 * in the error text; no input makes the loader crash.
 *
 * Filling missing pairs, in this order (each rule sees only values that are
 * measured or filled by an earlier rule, so the result does not depend on
 * the order pairs are visited):
 *   1. symmetric: rtt(i,j) missing but rtt(j,i) measured -> rtt(j,i);
 *   2. two-hop:   min over k of rtt(i,k) + rtt(k,j), with both legs measured
 *                 (or filled by rule 1) -- the detour a packet could take
 *                 through a host both ends can reach;
 *   3. median:    the median of all measured off-diagonal RTTs (hosts with
 *                 no measured partner at all, e.g. some RIPE countries).
 * A missing diagonal entry becomes the median of the measured diagonal
 * entries (the typical intra-country RTT in the RIPE set), or 0 if none is
 * measured. On symmetric input every rule yields a symmetric result.
 *
 * One-way delay = RTT / 2. The data sets measure round trips only; halving
 * assumes both directions cost the same. For an asymmetric matrix (Seattle)
 * the i->j delay is rtt(i,j)/2 from i's own measurement.
 *
 * Nodes and hosts. A run may have more nodes than the matrix has hosts.
 * Each node is attached to a host (round robin, or a seeded uniform choice)
 * and gets an access-link delay (seeded, uniform in [min, max], one way).
 * The one-way delay between nodes a != b is
 *     access(a) + rtt(host(a), host(b)) / 2 + access(b),
 * so two nodes behind the same host pay access(a) + diag/2 + access(b)
 * (just their two access links when the diagonal is 0). Both choices are
 * drawn from per-node streams (eventq.h), so adding nodes never moves an
 * existing node.
 */
#ifndef STRATA_SIM_LATENCY_H
#define STRATA_SIM_LATENCY_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

enum {
    /* Largest matrix accepted: 16384^2 doubles is 2 GiB already. */
    STRATA_SIMLAT_MAX_HOSTS = 16384,
    /* Largest RTT accepted in a file, in ms (1,000 s); more is a unit error. */
    STRATA_SIMLAT_MAX_RTT_MS = 1000000,
    /* Largest file read, in bytes. */
    STRATA_SIMLAT_MAX_FILE_BYTES = 1 << 30,
};

/* Where an entry of the filled matrix came from. */
enum strata_simlat_origin {
    STRATA_SIMLAT_MEASURED = 0,  /* in the file */
    STRATA_SIMLAT_SYMMETRIC = 1, /* rule 1 */
    STRATA_SIMLAT_TWO_HOP = 2,   /* rule 2 */
    STRATA_SIMLAT_MEDIAN = 3,    /* rule 3, or a missing diagonal entry */
};

/* Node-to-host attachment modes. */
enum strata_simlat_attach_mode {
    STRATA_SIMLAT_ROUND_ROBIN = 0, /* node n -> host n mod hosts */
    STRATA_SIMLAT_RANDOM = 1,      /* node n -> uniform host from n's stream */
};

typedef struct strata_simlat_stats {
    uint32_t hosts;
    uint64_t pairs;            /* off-diagonal (directed) pairs: hosts*(hosts-1) */
    uint64_t missing;          /* off-diagonal pairs -1 in the file */
    uint64_t filled_symmetric; /* by rule 1 */
    uint64_t filled_two_hop;   /* by rule 2 */
    uint64_t filled_median;    /* by rule 3 */
    uint32_t diag_missing;     /* diagonal entries -1 in the file */
    double missing_fraction;   /* missing / pairs (0 when pairs is 0) */
    double median_rtt_ms;      /* median of measured off-diagonal RTTs */
    double diag_fill_ms;       /* value given to missing diagonal entries */
    int symmetric;             /* 1 if the filled matrix is exactly symmetric */
} strata_simlat_stats;

/* A loaded matrix plus the node attachment. Caller-owned; fields private. */
typedef struct strata_simlat {
    uint32_t hosts;
    double *rtt_ms;  /* hosts x hosts, row-major, filled */
    uint8_t *origin; /* hosts x hosts, enum strata_simlat_origin */
    strata_simlat_stats stats;
    uint32_t nodes; /* attached nodes (0 until attach) */
    uint32_t *node_host;
    uint32_t *node_access_ns;
    const strata_alloc *alloc;
} strata_simlat;

/* Reads and parses the matrix file at path into *lat (see the format above),
 * then fills missing pairs. alloc may be NULL (libc) and must outlive lat.
 * On error *lat holds nothing to free, err (if errlen > 0) receives a
 * NUL-terminated message "path:line:col: what" or "path: what", and the
 * return is STRATA_ERR_NOTFOUND (cannot open or read), STRATA_ERR_RANGE
 * (malformed content), STRATA_ERR_INVAL (too large) or STRATA_ERR_NOMEM. */
int strata_simlat_load(strata_simlat *lat, const strata_alloc *alloc, const char *path, char *err,
                       size_t errlen);

/* Same from text in memory (len bytes, need not be NUL-terminated); name is
 * used in error messages. */
int strata_simlat_parse(strata_simlat *lat, const strata_alloc *alloc, const char *text, size_t len,
                        const char *name, char *err, size_t errlen);

/* Same from a row-major hosts x hosts array of RTTs in ms (-1 = missing);
 * the array is copied. For synthetic topologies and tests. */
int strata_simlat_from_matrix(strata_simlat *lat, const strata_alloc *alloc, uint32_t hosts,
                              const double *rtt_ms, char *err, size_t errlen);

/* Releases everything lat holds. Safe on a zeroed or freed struct. */
void strata_simlat_free(strata_simlat *lat);

uint32_t strata_simlat_hosts(const strata_simlat *lat);

/* Filled RTT from host i to host j in ms; -1.0 if i or j is out of range. */
double strata_simlat_rtt_ms(const strata_simlat *lat, uint32_t i, uint32_t j);

/* One-way delay host i -> host j = RTT/2, in ns (rounded to nearest);
 * STRATA_NEVER if i or j is out of range. */
uint64_t strata_simlat_one_way_ns(const strata_simlat *lat, uint32_t i, uint32_t j);

/* enum strata_simlat_origin of entry (i, j); -1 if out of range. */
int strata_simlat_origin_of(const strata_simlat *lat, uint32_t i, uint32_t j);

const strata_simlat_stats *strata_simlat_get_stats(const strata_simlat *lat);

/* The host node n sits behind under mode and seed, for a matrix of hosts
 * hosts (> 0). Pure: depends on nothing else, so it is stable as nodes are
 * added. */
uint32_t strata_simlat_pick_host(uint32_t hosts, int mode, uint64_t seed, uint32_t node);

/* Attaches nodes 0..nodes-1 (replacing any earlier attachment): host by
 * strata_simlat_pick_host, access delay uniform in [access_min_ns,
 * access_max_ns] from the node's STRATA_SIM_STREAM_ACCESS stream. Returns 0,
 * STRATA_ERR_INVAL (no hosts, bad mode, min > max, max > UINT32_MAX ns) or
 * STRATA_ERR_NOMEM (lat keeps its previous attachment). */
int strata_simlat_attach(strata_simlat *lat, uint32_t nodes, int mode, uint64_t seed,
                         uint64_t access_min_ns, uint64_t access_max_ns);

uint32_t strata_simlat_nodes(const strata_simlat *lat);
/* Host and one-way access delay of an attached node; UINT32_MAX if the node
 * is out of range. */
uint32_t strata_simlat_node_host(const strata_simlat *lat, uint32_t node);
uint32_t strata_simlat_node_access_ns(const strata_simlat *lat, uint32_t node);

/* One-way delay in ns from node a to node b (0 when a == b); STRATA_NEVER if
 * either is not attached. */
uint64_t strata_simlat_node_one_way_ns(const strata_simlat *lat, uint32_t a, uint32_t b);

#endif
