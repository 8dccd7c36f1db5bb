/*
 * Measured Internet latency: a host-to-host RTT matrix loaded from the data
 * sets under data/latency/, gaps filled. The simulator (sim/latency.h)
 * attaches simulated nodes to its hosts; the daemons' delay emulation
 * (host/delay.h) holds each datagram back by the pair's one-way delay.
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
 * Not part of the core: loading reads a file. The parser and the filling
 * work on memory and depend on nothing but libc and the core's allocator.
 */
#ifndef STRATA_UTIL_LATMATRIX_H
#define STRATA_UTIL_LATMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "strata/common.h"

enum {
    /* Largest matrix accepted: 16384^2 doubles is 2 GiB already. */
    STRATA_LATMATRIX_MAX_HOSTS = 16384,
    /* Largest RTT accepted in a file, in ms (1,000 s); more is a unit error. */
    STRATA_LATMATRIX_MAX_RTT_MS = 1000000,
    /* Largest file read, in bytes. */
    STRATA_LATMATRIX_MAX_FILE_BYTES = 1 << 30,
};

/* Where an entry of the filled matrix came from. */
enum strata_latmatrix_origin {
    STRATA_LATMATRIX_MEASURED = 0,  /* in the file */
    STRATA_LATMATRIX_SYMMETRIC = 1, /* rule 1 */
    STRATA_LATMATRIX_TWO_HOP = 2,   /* rule 2 */
    STRATA_LATMATRIX_MEDIAN = 3,    /* rule 3, or a missing diagonal entry */
};

typedef struct strata_latmatrix_stats {
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
} strata_latmatrix_stats;

/* A loaded, filled matrix. Caller-owned; read it through the functions. */
typedef struct strata_latmatrix {
    uint32_t hosts;
    double *rtt_ms;  /* hosts x hosts, row-major, filled */
    uint8_t *origin; /* hosts x hosts, enum strata_latmatrix_origin */
    strata_latmatrix_stats stats;
    const strata_alloc *alloc;
} strata_latmatrix;

/* Reads and parses the matrix file at path into *lat (see the format above),
 * then fills missing pairs. alloc may be NULL (libc) and must outlive lat.
 * On error *lat holds nothing to free, err (if errlen > 0) receives a
 * NUL-terminated message "path:line:col: what" or "path: what", and the
 * return is STRATA_ERR_NOTFOUND (cannot open or read), STRATA_ERR_RANGE
 * (malformed content), STRATA_ERR_INVAL (too large) or STRATA_ERR_NOMEM. */
int strata_latmatrix_load(strata_latmatrix *lat, const strata_alloc *alloc, const char *path,
                          char *err, size_t errlen);

/* Same from text in memory (len bytes, need not be NUL-terminated); name is
 * used in error messages. */
int strata_latmatrix_parse(strata_latmatrix *lat, const strata_alloc *alloc, const char *text,
                           size_t len, const char *name, char *err, size_t errlen);

/* Same from a row-major hosts x hosts array of RTTs in ms (-1 = missing);
 * the array is copied. For synthetic topologies and tests. */
int strata_latmatrix_from_matrix(strata_latmatrix *lat, const strata_alloc *alloc, uint32_t hosts,
                                 const double *rtt_ms, char *err, size_t errlen);

/* Releases everything lat holds. Safe on a zeroed or freed struct. */
void strata_latmatrix_free(strata_latmatrix *lat);

uint32_t strata_latmatrix_hosts(const strata_latmatrix *lat);

/* Filled RTT from host i to host j in ms; -1.0 if i or j is out of range. */
double strata_latmatrix_rtt_ms(const strata_latmatrix *lat, uint32_t i, uint32_t j);

/* One-way delay host i -> host j = RTT/2, in ns (rounded to nearest);
 * STRATA_NEVER if i or j is out of range. */
uint64_t strata_latmatrix_one_way_ns(const strata_latmatrix *lat, uint32_t i, uint32_t j);

/* enum strata_latmatrix_origin of entry (i, j); -1 if out of range. */
int strata_latmatrix_origin_of(const strata_latmatrix *lat, uint32_t i, uint32_t j);

const strata_latmatrix_stats *strata_latmatrix_get_stats(const strata_latmatrix *lat);

#endif
