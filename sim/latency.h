/*
 * Measured Internet latency for the simulator: a host-to-host RTT matrix
 * loaded from the data sets under data/latency/, gaps filled, and simulated
 * nodes attached behind those hosts.
 *
 * The matrix itself -- file format, the rules that fill missing pairs, one
 * way = RTT / 2 -- is util/latmatrix.h, which the daemons' delay emulation
 * shares; the strata_simlat_* functions below that only read the matrix
 * pass through to it.
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

#include "latmatrix.h"
#include "strata/common.h"

enum {
    STRATA_SIMLAT_MAX_HOSTS = STRATA_LATMATRIX_MAX_HOSTS,
    STRATA_SIMLAT_MAX_RTT_MS = STRATA_LATMATRIX_MAX_RTT_MS,
    STRATA_SIMLAT_MAX_FILE_BYTES = STRATA_LATMATRIX_MAX_FILE_BYTES,
};

/* Where an entry of the filled matrix came from (latmatrix.h). */
enum strata_simlat_origin {
    STRATA_SIMLAT_MEASURED = STRATA_LATMATRIX_MEASURED,
    STRATA_SIMLAT_SYMMETRIC = STRATA_LATMATRIX_SYMMETRIC,
    STRATA_SIMLAT_TWO_HOP = STRATA_LATMATRIX_TWO_HOP,
    STRATA_SIMLAT_MEDIAN = STRATA_LATMATRIX_MEDIAN,
};

/* Node-to-host attachment modes. */
enum strata_simlat_attach_mode {
    STRATA_SIMLAT_ROUND_ROBIN = 0, /* node n -> host n mod hosts */
    STRATA_SIMLAT_RANDOM = 1,      /* node n -> uniform host from n's stream */
};

typedef strata_latmatrix_stats strata_simlat_stats;

/* A loaded matrix plus the node attachment. Caller-owned; fields private. */
typedef struct strata_simlat {
    strata_latmatrix m; /* the matrix (hosts, rtt_ms, ...) */
    uint32_t nodes;     /* attached nodes (0 until attach) */
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
