/*
 * Benchmark of the top-level mesh (core/mesh.c): build and repair times
 * and what flooding over the mesh costs, for 100, 1,000 and 5,000
 * preferred nodes with c = 3.
 *
 * Setup. Stream 2,000 kbit/s, the 85 % upload share, max degree 16.
 * Uploads (in links a member can carry): 50 % room for 4 (c + 1), 35 % for
 * 6, 15 % for 12. Node i plays host i mod H of planetlab490 (H = 490
 * hosts) with an access delay of 1-5 ms each way, so RTT = the matrix's
 * RTT + twice both access delays; regions are k-medoids clusters of the
 * hosts (k = n / 4, at most H / 2: a few nodes per region at 100 and
 * 1,000 nodes, about 20 at 5,000). The source is one more node (upload 0:
 * c links) on host 0.
 *
 * Figures (times are process CPU time). build: n adds into an empty mesh
 * (ms, median of three runs but at 5,000 one). depart: a random 10 % removed one at a time, each a
 * failure repaired at once (mean and max us per departure, and the links
 * and nodes it changed, i.e. instructions to send); join: the same number
 * added back (mean us). Then, on the final mesh: mean and max degree,
 * whether the target is met, flooding from the source (first copy over
 * the fastest path; every member forwards to every member neighbour but
 * its first sender): duplicates per packet per node (copies received - 1,
 * mean), hops from the source (mean, max), first-arrival delay (mean, p95,
 * max, ms: the top level's added delay); failures: 1,000 random sets of
 * c - 1 members killed at once without repair, members the source no
 * longer reaches (must be 0); and each region killed whole, the mean
 * number of other members cut off.
 *
 * usage: bench_mesh [--latency FILE] (default: $STRATA_DATA_DIR or data/,
 * latency/planetlab490/planetlab490_median_rtt_ms.txt). Prints figures
 * only.
 */
#include "strata/mesh.h"

#include "kmedoids.h"
#include "latmatrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { C = 3, RATE_KBPS = 2000, FAIL_SETS = 1000, BUILD_RUNS = 3, MAXN = 5000 };

struct world {
    const strata_latmatrix *lat;
    uint32_t hosts;
    size_t n;
    uint32_t *host;   /* per node index (id - 1); the source is index n */
    uint8_t *access;  /* one-way access delay, ms */
    uint32_t *region; /* per node */
    uint32_t *upload;
};

/* Process CPU time: the machine this runs on is often shared, and wall
 * time then measures the neighbours. */
static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static size_t idx_of(const struct world *w, strata_node_id id)
{
    return id.v == UINT64_MAX - 1 ? w->n : (size_t)(id.v - 1);
}

static uint32_t rtt_ms(void *user, strata_node_id a, strata_node_id b)
{
    const struct world *w = user;
    size_t i = idx_of(w, a), j = idx_of(w, b);
    double r = strata_latmatrix_rtt_ms(w->lat, w->host[i], w->host[j]);
    if (r < 0)
        return STRATA_MESH_RTT_UNKNOWN;
    return (uint32_t)(r + 0.5) + 2u * (w->access[i] + w->access[j]);
}

static double host_ms(void *user, uint32_t a, uint32_t b)
{
    return strata_latmatrix_rtt_ms(user, a, b);
}

static strata_node_id nid(size_t i)
{
    return (strata_node_id){(uint64_t)i + 1};
}
static const strata_node_id SOURCE = {UINT64_MAX - 1};

static strata_mesh *mesh_new(struct world *w)
{
    strata_mesh_config cfg = {
        .c = C, .rate_kbps = RATE_KBPS, .seed = 1, .rtt_ms = rtt_ms, .rtt_user = w};
    return strata_mesh_new(NULL, &cfg);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* --- flooding over the links ----------------------------------------------- */

struct flood {
    size_t n;
    uint32_t *deg;
    uint32_t *adj;  /* [i * STRATA_MESH_MAX_DEGREE ...] member neighbours */
    uint8_t *src;   /* linked to the source */
    uint8_t *gone;  /* killed */
    double *at;     /* first arrival, ms; < 0 unreached */
    uint32_t *pred; /* first sender; n for the source */
    uint32_t *hops;
};

static void flood_load(struct flood *f, strata_mesh *m, const struct world *w)
{
    memset(f->deg, 0, f->n * sizeof *f->deg);
    memset(f->src, 0, f->n);
    size_t pos = 0;
    strata_node_id a, b;
    while (strata_mesh_link_next(m, &pos, &a, &b)) {
        if (a.v == SOURCE.v) {
            f->src[idx_of(w, b)] = 1;
            continue;
        }
        size_t i = idx_of(w, a), j = idx_of(w, b);
        f->adj[i * STRATA_MESH_MAX_DEGREE + f->deg[i]++] = (uint32_t)j;
        f->adj[j * STRATA_MESH_MAX_DEGREE + f->deg[j]++] = (uint32_t)i;
    }
}

/* First arrivals from the source (Dijkstra over one-way delays; O(n^2)
 * selection is enough for one run and keeps the bench small). */
static void flood_run(struct flood *f, struct world *w)
{
    uint8_t *done = calloc(f->n, 1);
    for (size_t i = 0; i < f->n; i++) {
        f->at[i] = -1;
        f->pred[i] = UINT32_MAX;
        if (f->src[i] && !f->gone[i]) {
            f->at[i] = rtt_ms(w, SOURCE, nid(i)) / 2.0;
            f->pred[i] = (uint32_t)f->n;
            f->hops[i] = 1;
        }
    }
    for (;;) {
        size_t best = f->n;
        for (size_t i = 0; i < f->n; i++)
            if (!done[i] && f->at[i] >= 0 && (best == f->n || f->at[i] < f->at[best]))
                best = i;
        if (best == f->n)
            break;
        done[best] = 1;
        for (uint32_t k = 0; k < f->deg[best]; k++) {
            uint32_t j = f->adj[best * STRATA_MESH_MAX_DEGREE + k];
            if (f->gone[j] || done[j])
                continue;
            double t = f->at[best] + rtt_ms(w, nid(best), nid(j)) / 2.0;
            if (f->at[j] < 0 || t < f->at[j]) {
                f->at[j] = t;
                f->pred[j] = (uint32_t)best;
                f->hops[j] = f->hops[best] + 1;
            }
        }
    }
    free(done);
}

/* Members (with links) the source no longer reaches once the gone ones
 * are dead: breadth first, queue in pred, seen in hops. */
static size_t flood_unreached(struct flood *f)
{
    size_t qh = 0, qt = 0, u = 0;
    memset(f->hops, 0, f->n * sizeof *f->hops);
    for (size_t i = 0; i < f->n; i++)
        if (f->src[i] && !f->gone[i]) {
            f->hops[i] = 1;
            f->pred[qt++] = (uint32_t)i;
        }
    while (qh < qt) {
        uint32_t v = f->pred[qh++];
        for (uint32_t k = 0; k < f->deg[v]; k++) {
            uint32_t j = f->adj[v * STRATA_MESH_MAX_DEGREE + k];
            if (!f->gone[j] && !f->hops[j]) {
                f->hops[j] = 1;
                f->pred[qt++] = j;
            }
        }
    }
    for (size_t i = 0; i < f->n; i++)
        u += !f->gone[i] && !f->hops[i] && (f->deg[i] || f->src[i]);
    return u;
}

/* --- one size ------------------------------------------------------------------ */

static void bench_size(strata_latmatrix *lat, size_t n, strata_rng *r)
{
    struct world w = {lat, strata_latmatrix_hosts(lat), n, NULL, NULL, NULL, NULL};
    w.host = calloc(n + 1, sizeof *w.host);
    w.access = calloc(n + 1, 1);
    w.region = calloc(n + 1, sizeof *w.region);
    w.upload = calloc(n + 1, sizeof *w.upload);
    uint32_t k = (uint32_t)(n / 4 < w.hosts / 2 ? n / 4 : w.hosts / 2);
    uint32_t *medoids = calloc(k, sizeof *medoids);
    int32_t *assign = calloc(w.hosts, sizeof *assign);
    strata_simdist d = {host_ms, lat};
    strata_kmedoids_result kr;
    strata_kmedoids_run(&d, w.hosts, k, 0, medoids, assign, &kr);
    uint64_t per_link = ((uint64_t)RATE_KBPS * 100 + 84) / 85;
    for (size_t i = 0; i <= n; i++) {
        w.host[i] = i == n ? 0 : (uint32_t)(i % w.hosts);
        w.access[i] = (uint8_t)(1 + strata_rng_below(r, 5));
        w.region[i] = (uint32_t)assign[w.host[i]];
        uint64_t x = strata_rng_below(r, 100);
        w.upload[i] = (uint32_t)(per_link * (x < 50 ? 4 : x < 85 ? 6 : 12));
    }

    /* Build. */
    int runs = n >= MAXN ? 1 : BUILD_RUNS;
    double build[BUILD_RUNS];
    strata_mesh *m = NULL;
    for (int run = 0; run < runs; run++) {
        strata_mesh *t = mesh_new(&w);
        double t0 = now_us();
        for (size_t i = 0; i < n; i++)
            strata_mesh_add(t, nid(i), w.upload[i], w.region[i]);
        build[run] = (now_us() - t0) / 1e3;
        if (run == 0)
            m = t;
        else
            strata_mesh_del(t);
    }
    qsort(build, (size_t)runs, sizeof build[0], cmp_double);
    strata_mesh_set_source(m, SOURCE, 0, w.region[n]);
    strata_mesh_change ch[256];
    strata_node_id dirty[256];
    while (strata_mesh_take_changes(m, ch, 256) > 0)
        ;
    while (strata_mesh_take_dirty(m, dirty, 256) > 0)
        ;

    /* Departures (failures) and joins: a random 10 %, one at a time. */
    size_t nrm = n / 10;
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 0; i < nrm; i++) {
        size_t j = i + (size_t)strata_rng_below(r, n - i);
        size_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    double rm_sum = 0, rm_max = 0;
    long links_changed = 0, nodes_told = 0, unmet = 0;
    for (size_t j = 0; j < nrm; j++) {
        double t0 = now_us();
        strata_mesh_remove(m, nid(order[j]));
        double dt = now_us() - t0;
        rm_sum += dt;
        rm_max = dt > rm_max ? dt : rm_max;
        int c;
        while ((c = strata_mesh_take_changes(m, ch, 256)) > 0)
            links_changed += c;
        size_t dn;
        while ((dn = strata_mesh_take_dirty(m, dirty, 256)) > 0)
            nodes_told += (long)dn;
        unmet += !strata_mesh_target_met(m);
    }
    double t0 = now_us();
    for (size_t j = 0; j < nrm; j++)
        strata_mesh_add(m, nid(order[j]), w.upload[order[j]], w.region[order[j]]);
    double add_us = nrm ? (now_us() - t0) / (double)nrm : 0;
    while (strata_mesh_take_changes(m, ch, 256) > 0)
        ;

    strata_mesh_stats st;
    strata_mesh_get_stats(m, &st);

    /* Flooding. */
    struct flood f;
    memset(&f, 0, sizeof f);
    f.n = n;
    f.deg = calloc(n, sizeof *f.deg);
    f.adj = calloc(n * STRATA_MESH_MAX_DEGREE, sizeof *f.adj);
    f.src = calloc(n, 1);
    f.gone = calloc(n, 1);
    f.at = calloc(n, sizeof *f.at);
    f.pred = calloc(n, sizeof *f.pred);
    f.hops = calloc(n, sizeof *f.hops);
    flood_load(&f, m, &w);
    flood_run(&f, &w);
    double dup_sum = 0, *delays = malloc(n * sizeof *delays);
    size_t reached = 0;
    uint32_t max_hops = 0;
    double hop_sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (f.at[i] < 0)
            continue;
        unsigned got = f.src[i];
        for (uint32_t k2 = 0; k2 < f.deg[i]; k2++)
            got += f.pred[f.adj[i * STRATA_MESH_MAX_DEGREE + k2]] != i;
        dup_sum += got - 1.0;
        delays[reached++] = f.at[i];
        hop_sum += f.hops[i];
        max_hops = f.hops[i] > max_hops ? f.hops[i] : max_hops;
    }
    qsort(delays, reached, sizeof *delays, cmp_double);
    double dsum = 0;
    for (size_t i = 0; i < reached; i++)
        dsum += delays[i];

    /* c - 1 members killed at once, no repair. */
    size_t worst = 0;
    for (int s = 0; s < FAIL_SETS; s++) {
        memset(f.gone, 0, n);
        for (int kk = 0; kk < C - 1; kk++)
            f.gone[strata_rng_below(r, n)] = 1;
        size_t u = flood_unreached(&f);
        worst = u > worst ? u : worst;
    }
    /* Each region killed whole, no repair. */
    double cut_sum = 0;
    size_t cut_worst = 0, regions_cutting = 0;
    for (uint32_t reg = 0; reg < k; reg++) {
        for (size_t i = 0; i < n; i++)
            f.gone[i] = w.region[i] == reg;
        size_t u = flood_unreached(&f);
        cut_sum += (double)u;
        regions_cutting += u > 0;
        cut_worst = u > cut_worst ? u : cut_worst;
    }

    printf("%6zu %4u %9.1f %9.1f %8.0f %7.2f %6.2f %6.2f %5u %5s %6.2f %5.2f %4u %6.1f %6.1f "
           "%6.1f %6zu %6.2f/%zu/%zu\n",
           n, k, build[runs / 2], nrm ? rm_sum / (double)nrm : 0, rm_max,
           nrm ? (double)links_changed / (double)nrm : 0,
           nrm ? (double)nodes_told / (double)nrm : 0, add_us / 1e3, st.max_degree,
           st.met && !unmet ? "yes" : "NO", st.mean_degree, reached ? dup_sum / (double)reached : 0,
           max_hops, reached ? dsum / (double)reached : 0, reached ? delays[reached * 95 / 100] : 0,
           reached ? delays[reached - 1] : 0, worst, k ? cut_sum / k : 0, regions_cutting,
           cut_worst);
    (void)hop_sum;
    char conn[16] = "-"; /* from scratch: O(n^2) and more, skipped at 5,000 */
    if (n <= 1000)
        snprintf(conn, sizeof conn, "%u", strata_mesh_connectivity(m, C + 1));
    printf("%6s mean hops %.2f, connectivity %s, links %zu, source links %zu\n", "",
           reached ? hop_sum / (double)reached : 0, conn, st.links, st.source_links);

    free(delays);
    free(f.deg);
    free(f.adj);
    free(f.src);
    free(f.gone);
    free(f.at);
    free(f.pred);
    free(f.hops);
    free(order);
    strata_mesh_del(m);
    free(medoids);
    free(assign);
    free(w.host);
    free(w.access);
    free(w.region);
    free(w.upload);
}

int main(int argc, char **argv)
{
    char path[1024];
    const char *file = NULL;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--latency") == 0)
            file = argv[i + 1];
    if (!file) {
        const char *dir = getenv("STRATA_DATA_DIR");
        snprintf(path, sizeof path, "%s/latency/planetlab490/planetlab490_median_rtt_ms.txt",
                 dir && *dir ? dir : "data");
        file = path;
    }
    strata_latmatrix lat;
    char err[256];
    if (strata_latmatrix_load(&lat, NULL, file, err, sizeof err)) {
        fprintf(stderr, "bench_mesh: %s\n", err);
        return 1;
    }
    printf("top-level mesh: c=%d, stream %d kbit/s, 85%% share, room for 4/6/12 links "
           "(50/35/15%%), planetlab490 hosts + 1-5 ms access, source with c links\n",
           C, RATE_KBPS);
    printf("%6s %4s %9s %9s %8s %7s %6s %6s %5s %5s %6s %5s %4s %6s %6s %6s %6s %s\n", "nodes",
           "regs", "build ms", "dep us", "dep max", "links/d", "told/d", "join ms", "maxd", "met",
           "degree", "dups", "hops", "ms avg", "ms p95", "ms max", "c-1 cut",
           "region loss: mean/cutting/worst");
    strata_rng r;
    strata_rng_seed(&r, 2024);
    static const size_t sizes[] = {100, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        bench_size(&lat, sizes[i], &r);
    strata_latmatrix_free(&lat);
    return 0;
}
