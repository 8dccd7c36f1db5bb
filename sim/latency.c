/*
 * Latency for the simulator: the matrix (util/latmatrix.c) plus the
 * attachment of simulated nodes to its hosts. The model is in latency.h.
 */
#include "latency.h"

#include <string.h>

#include "eventq.h"

/* ---- The matrix ----------------------------------------------------------- */

/* The node attachment starts empty whatever the outcome of a load. */
static int adopt(strata_simlat *lat, const strata_alloc *alloc, int rc)
{
    lat->alloc = alloc;
    lat->nodes = 0;
    lat->node_host = NULL;
    lat->node_access_ns = NULL;
    return rc;
}

int strata_simlat_load(strata_simlat *lat, const strata_alloc *alloc, const char *path, char *err,
                       size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    return adopt(lat, alloc, strata_latmatrix_load(&lat->m, alloc, path, err, errlen));
}

int strata_simlat_parse(strata_simlat *lat, const strata_alloc *alloc, const char *text, size_t len,
                        const char *name, char *err, size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    return adopt(lat, alloc, strata_latmatrix_parse(&lat->m, alloc, text, len, name, err, errlen));
}

int strata_simlat_from_matrix(strata_simlat *lat, const strata_alloc *alloc, uint32_t hosts,
                              const double *rtt_ms, char *err, size_t errlen)
{
    memset(lat, 0, sizeof *lat);
    return adopt(lat, alloc,
                 strata_latmatrix_from_matrix(&lat->m, alloc, hosts, rtt_ms, err, errlen));
}

void strata_simlat_free(strata_simlat *lat)
{
    strata_latmatrix_free(&lat->m);
    strata_mem_free(lat->alloc, lat->node_host);
    strata_mem_free(lat->alloc, lat->node_access_ns);
    const strata_alloc *alloc = lat->alloc;
    memset(lat, 0, sizeof *lat);
    lat->alloc = alloc;
    lat->m.alloc = alloc;
}

uint32_t strata_simlat_hosts(const strata_simlat *lat)
{
    return lat->m.hosts;
}

double strata_simlat_rtt_ms(const strata_simlat *lat, uint32_t i, uint32_t j)
{
    return strata_latmatrix_rtt_ms(&lat->m, i, j);
}

uint64_t strata_simlat_one_way_ns(const strata_simlat *lat, uint32_t i, uint32_t j)
{
    return strata_latmatrix_one_way_ns(&lat->m, i, j);
}

int strata_simlat_origin_of(const strata_simlat *lat, uint32_t i, uint32_t j)
{
    return strata_latmatrix_origin_of(&lat->m, i, j);
}

const strata_simlat_stats *strata_simlat_get_stats(const strata_simlat *lat)
{
    return strata_latmatrix_get_stats(&lat->m);
}

/* ---- Nodes behind hosts ------------------------------------------------- */

uint32_t strata_simlat_pick_host(uint32_t hosts, int mode, uint64_t seed, uint32_t node)
{
    if (hosts == 0)
        return 0;
    if (mode == STRATA_SIMLAT_RANDOM) {
        strata_rng r;
        strata_sim_rng_stream(&r, seed, node, STRATA_SIM_STREAM_ATTACH);
        return (uint32_t)strata_rng_below(&r, hosts);
    }
    return node % hosts;
}

int strata_simlat_attach(strata_simlat *lat, uint32_t nodes, int mode, uint64_t seed,
                         uint64_t access_min_ns, uint64_t access_max_ns)
{
    if (lat->m.hosts == 0 || (mode != STRATA_SIMLAT_ROUND_ROBIN && mode != STRATA_SIMLAT_RANDOM) ||
        access_min_ns > access_max_ns || access_max_ns > UINT32_MAX || nodes == UINT32_MAX)
        return STRATA_ERR_INVAL;
    size_t cnt = nodes ? nodes : 1;
    uint32_t *host = strata_mem_alloc(lat->alloc, cnt * sizeof *host);
    uint32_t *acc = strata_mem_alloc(lat->alloc, cnt * sizeof *acc);
    if (!host || !acc) {
        strata_mem_free(lat->alloc, host);
        strata_mem_free(lat->alloc, acc);
        return STRATA_ERR_NOMEM;
    }
    uint64_t span = access_max_ns - access_min_ns;
    for (uint32_t n = 0; n < nodes; n++) {
        host[n] = strata_simlat_pick_host(lat->m.hosts, mode, seed, n);
        uint64_t a = access_min_ns;
        if (span > 0) {
            strata_rng r;
            strata_sim_rng_stream(&r, seed, n, STRATA_SIM_STREAM_ACCESS);
            a += strata_rng_below(&r, span + 1);
        }
        acc[n] = (uint32_t)a;
    }
    strata_mem_free(lat->alloc, lat->node_host);
    strata_mem_free(lat->alloc, lat->node_access_ns);
    lat->node_host = host;
    lat->node_access_ns = acc;
    lat->nodes = nodes;
    return 0;
}

uint32_t strata_simlat_nodes(const strata_simlat *lat)
{
    return lat->nodes;
}

uint32_t strata_simlat_node_host(const strata_simlat *lat, uint32_t node)
{
    return node < lat->nodes ? lat->node_host[node] : UINT32_MAX;
}

uint32_t strata_simlat_node_access_ns(const strata_simlat *lat, uint32_t node)
{
    return node < lat->nodes ? lat->node_access_ns[node] : UINT32_MAX;
}

uint64_t strata_simlat_node_one_way_ns(const strata_simlat *lat, uint32_t a, uint32_t b)
{
    if (a >= lat->nodes || b >= lat->nodes)
        return STRATA_NEVER;
    if (a == b)
        return 0;
    uint32_t ha = lat->node_host[a], hb = lat->node_host[b];
    return (uint64_t)lat->node_access_ns[a] + strata_latmatrix_one_way_ns(&lat->m, ha, hb) +
           lat->node_access_ns[b];
}
