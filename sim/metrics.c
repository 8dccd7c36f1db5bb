/*
 * Metrics of a run: see metrics.h for what is measured and how.
 *
 * Due packets are counted when a session ends, from the send times the
 * source recorded: the window is then closed and every packet in it has
 * been sent. Each session adds +1 at its first due seq and -1 after its
 * last (a difference array), so per-packet and per-interval delivery come
 * out of one prefix sum at the end, whatever the number of sessions.
 *
 * Regional series need per-session plays, which the tables above do not
 * keep. A series is taken for a few sessions (a region's peers), each with
 * a bitmap of the series' packets it played and the seqs due to it, set
 * when it ends; the figures come at the end, as the whole run's do. The
 * plays before the failure that starts a series come from a ring per slot
 * (bit seq mod its size), which only holds seqs below recent_hi and no
 * more than the ring's size below it: a play beyond clears the bits it
 * skips, so no stale bit survives in that range.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers ---------------------------------------------------------------- */

/* Index of the highest set bit of v (v > 0). */
static unsigned msb64(uint64_t v)
{
#if defined(__GNUC__)
    return 63u - (unsigned)__builtin_clzll(v);
#else
    unsigned b = 0;
    while (v >>= 1)
        b++;
    return b;
#endif
}

static size_t lag_bucket(uint64_t us)
{
    if (us < 128)
        return (size_t)us;
    unsigned b = msb64(us); /* >= 7 */
    unsigned shift = b - 6;
    uint64_t mant = us >> shift; /* [64, 128) */
    size_t idx = 128 + (size_t)(b - 7) * 64 + (size_t)(mant - 64);
    return idx < STRATA_SIMM_LAG_BUCKETS ? idx : STRATA_SIMM_LAG_BUCKETS - 1;
}

/* Lower edge and width of a bucket, in microseconds. */
static void lag_bucket_span(size_t idx, double *lo, double *width)
{
    if (idx < 128) {
        *lo = (double)idx;
        *width = 1;
        return;
    }
    size_t b = (idx - 128) / 64 + 7;
    size_t mant = (idx - 128) % 64 + 64;
    unsigned shift = (unsigned)(b - 6);
    *lo = (double)((uint64_t)mant << shift);
    *width = (double)(1ull << shift);
}

/* Middle of a bucket, in microseconds (exactly the value below 128). */
static double lag_bucket_mid(size_t idx)
{
    double lo, width;
    lag_bucket_span(idx, &lo, &width);
    return idx < 128 ? lo : lo + width / 2.0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

double strata_simm_percentile_f(float *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cmp_float);
    double rank = ceil(p * (double)n);
    size_t i = rank < 1 ? 0 : (size_t)rank - 1;
    if (i >= n)
        i = n - 1;
    return (double)v[i];
}

static double hist_percentile(const uint64_t *h, uint64_t count, double p)
{
    if (count == 0)
        return -1;
    double rank = ceil(p * (double)count);
    uint64_t want = rank < 1 ? 1 : (uint64_t)rank;
    uint64_t acc = 0;
    for (size_t i = 0; i < STRATA_SIMM_LAG_BUCKETS; i++) {
        acc += h[i];
        if (acc >= want)
            return lag_bucket_mid(i) / 1e6;
    }
    return lag_bucket_mid(STRATA_SIMM_LAG_BUCKETS - 1) / 1e6;
}

/* First seq whose send time is >= t (m->seqs if none). */
static uint64_t seq_at_or_after(const strata_simmetrics *m, uint64_t t)
{
    uint64_t lo = 0, hi = m->seqs;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (m->send_ns[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static strata_simm_row *row_at(strata_simmetrics *m, uint64_t now)
{
    size_t r = (size_t)(now / m->cfg.csv_interval_ns);
    return r < m->nrows ? &m->rows[r] : &m->rows[m->nrows - 1];
}

static int is_peer(const strata_simmetrics *m, uint32_t node)
{
    return node >= STRATA_SIMM_FIRST_PEER && node < m->cfg.nodes;
}

/* A slot's upload utilisation, if it has one: it was online and its uplink
 * was finite all along. Returns 1 and sets *u, or 0. */
static int slot_utilisation(const strata_simm_node *n, double *u)
{
    if (n->budget_bits <= 0 || n->unlimited_seen)
        return 0;
    *u = (double)n->tx_bytes * 8.0 / n->budget_bits;
    return 1;
}

/* --- regional series --------------------------------------------------------- */

static void bit_set(uint64_t *words, uint64_t i)
{
    words[i / 64] |= 1ull << (i % 64);
}

static int bit_get(const uint64_t *words, uint64_t i)
{
    return (int)((words[i / 64] >> (i % 64)) & 1u);
}

static uint64_t *recent_of(const strata_simmetrics *m, uint32_t node)
{
    return m->recent + (size_t)node * m->recent_words;
}

/* Records a play of seq in node's ring. */
static void recent_play(strata_simmetrics *m, uint32_t node, uint64_t seq)
{
    strata_simm_node *n = &m->node[node];
    uint64_t *ring = recent_of(m, node);
    uint64_t size = (uint64_t)m->recent_words * 64;
    if (seq >= n->recent_hi) {
        if (seq - n->recent_hi >= size) {
            memset(ring, 0, m->recent_words * sizeof *ring);
        } else {
            for (uint64_t s = n->recent_hi; s < seq; s++)
                ring[(s % size) / 64] &= ~(1ull << (s % 64));
        }
        n->recent_hi = seq + 1;
    } else if (n->recent_hi - seq > size) {
        return; /* older than the ring holds */
    }
    bit_set(ring, seq % size);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* node's place among the members of series w, or -1. */
static long watch_member(const strata_simm_watch *w, uint32_t node)
{
    const uint32_t *hit = bsearch(&node, w->node, w->members, sizeof *w->node, cmp_u32);
    return hit ? (long)(hit - w->node) : -1;
}

/* A due play of seq by node, for the series it is a member of. */
static void watch_play(strata_simmetrics *m, uint32_t node, uint64_t seq)
{
    for (size_t i = 0; i < m->nwatch; i++) {
        strata_simm_watch *w = &m->watch[i];
        long k = (m->node[node].regional >> i) & 1u ? watch_member(w, node) : -1;
        if (k < 0 || seq < w->first_seq || seq - w->first_seq >= w->nseqs)
            continue;
        bit_set(w->played + (size_t)k * w->words, seq - w->first_seq);
    }
}

/* node's session ends with seqs [first, last) due to it. */
static void watch_close(strata_simmetrics *m, uint32_t node, uint64_t first, uint64_t last)
{
    for (size_t i = 0; i < m->nwatch; i++) {
        strata_simm_watch *w = &m->watch[i];
        long k = (m->node[node].regional >> i) & 1u ? watch_member(w, node) : -1;
        if (k < 0)
            continue;
        w->due_first[k] = first;
        w->due_last[k] = last;
    }
    m->node[node].regional = 0;
}

static void watch_free(const strata_alloc *a, strata_simm_watch *w)
{
    strata_mem_free(a, w->node);
    strata_mem_free(a, w->played);
    strata_mem_free(a, w->due_first);
    strata_mem_free(a, w->due_last);
    memset(w, 0, sizeof *w);
}

int strata_simmetrics_regional_start(strata_simmetrics *m, uint64_t now, const uint32_t *nodes,
                                     size_t n, uint32_t victims, uint32_t regions,
                                     const char *const *labels, size_t nlabels)
{
    if (m->nwatch == STRATA_SIMM_REGIONAL_MAX)
        return STRATA_ERR_FULL;
    strata_simm_watch *w = &m->watch[m->nwatch];
    memset(w, 0, sizeof *w);
    uint64_t before = STRATA_S(STRATA_SIMM_REGIONAL_BEFORE_S);
    w->at_ns = now;
    w->first_seq = seq_at_or_after(m, now > before ? now - before : 0);
    w->nseqs = STRATA_S(STRATA_SIMM_REGIONAL_SECONDS) / m->cfg.packet_interval_ns + 2;
    w->words = (size_t)(w->nseqs + 63) / 64;
    size_t cap = n ? n : 1;
    w->node = strata_mem_alloc(m->alloc, cap * sizeof *w->node);
    w->played = strata_mem_calloc(m->alloc, cap * w->words, sizeof *w->played);
    w->due_first = strata_mem_calloc(m->alloc, cap, sizeof *w->due_first);
    w->due_last = strata_mem_calloc(m->alloc, cap, sizeof *w->due_last);
    if (!w->node || !w->played || !w->due_first || !w->due_last) {
        watch_free(m->alloc, w);
        return STRATA_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (is_peer(m, nodes[i]) && m->node[nodes[i]].online)
            w->node[w->members++] = nodes[i];
    qsort(w->node, w->members, sizeof *w->node, cmp_u32);
    size_t kept = 0;
    for (size_t i = 0; i < w->members; i++)
        if (kept == 0 || w->node[i] != w->node[kept - 1])
            w->node[kept++] = w->node[i];
    w->members = (uint32_t)kept;
    /* Their plays so far, from the rings. */
    uint64_t size = (uint64_t)m->recent_words * 64;
    for (uint32_t k = 0; k < w->members && m->recent; k++) {
        const strata_simm_node *nd = &m->node[w->node[k]];
        const uint64_t *ring = recent_of(m, w->node[k]);
        uint64_t lo = nd->recent_hi > size ? nd->recent_hi - size : 0;
        if (lo < w->first_seq)
            lo = w->first_seq;
        for (uint64_t s = lo; s < nd->recent_hi && s - w->first_seq < w->nseqs; s++)
            if (bit_get(ring, s % size))
                bit_set(w->played + (size_t)k * w->words, s - w->first_seq);
    }
    for (uint32_t k = 0; k < w->members; k++)
        m->node[w->node[k]].regional |= (uint8_t)(1u << m->nwatch);
    strata_simm_regional *o = &w->out;
    o->at_s = (double)now / 1e9;
    o->victims = victims;
    o->regions = regions;
    o->peers = w->members;
    for (size_t i = 0; i < nlabels && i < STRATA_SIMM_REGIONAL_LABELS; i++)
        snprintf(o->labels[i], sizeof o->labels[i], "%s", labels[i] ? labels[i] : "");
    m->nwatch++;
    return 0;
}

/* The series' figures, once every member's session has ended. */
static void watch_finish(const strata_simmetrics *m, strata_simm_watch *w)
{
    enum { SECONDS = STRATA_SIMM_REGIONAL_SECONDS, BEFORE = STRATA_SIMM_REGIONAL_BEFORE_S };
    uint64_t due[SECONDS] = {0}, played[SECONDS] = {0};
    uint64_t end = w->first_seq + w->nseqs < m->seqs ? w->first_seq + w->nseqs : m->seqs;
    for (uint32_t k = 0; k < w->members; k++) {
        uint64_t lo = w->due_first[k] > w->first_seq ? w->due_first[k] : w->first_seq;
        uint64_t hi = w->due_last[k] < end ? w->due_last[k] : end;
        const uint64_t *bits = w->played + (size_t)k * w->words;
        for (uint64_t s = lo; s < hi; s++) {
            /* The second of its send time, counted from BEFORE s before
             * the failure. */
            int64_t off_ns = (int64_t)m->send_ns[s] - (int64_t)w->at_ns;
            int64_t sec = off_ns >= 0 ? off_ns / 1000000000 : -((-off_ns + 999999999) / 1000000000);
            if (sec < -BEFORE || sec >= SECONDS - BEFORE)
                continue;
            size_t row = (size_t)(sec + BEFORE);
            due[row]++;
            played[row] += (uint64_t)bit_get(bits, s - w->first_seq);
        }
    }
    strata_simm_regional *o = &w->out;
    uint64_t sum_due[2] = {0, 0}, sum_played[2] = {0, 0};
    size_t lowest = SECONDS;
    for (size_t r = 0; r < SECONDS; r++) {
        o->delivery_1s[r] = due[r] ? (double)played[r] / (double)due[r] : -1;
        int part = r < BEFORE ? (r + STRATA_SIMM_REGIONAL_SUMMARY_S >= BEFORE ? 0 : -1)
                              : (r < BEFORE + STRATA_SIMM_REGIONAL_SUMMARY_S ? 1 : -1);
        if (part >= 0) {
            sum_due[part] += due[r];
            sum_played[part] += played[r];
        }
        if (r >= BEFORE && due[r] &&
            (lowest == SECONDS || o->delivery_1s[r] < o->delivery_1s[lowest]))
            lowest = r;
    }
    o->delivery_10s_before = sum_due[0] ? (double)sum_played[0] / (double)sum_due[0] : -1;
    o->delivery_10s_after = sum_due[1] ? (double)sum_played[1] / (double)sum_due[1] : -1;
    o->delivery_min_1s = lowest < SECONDS ? o->delivery_1s[lowest] : -1;
    o->delivery_min_at_s = lowest < SECONDS ? (double)lowest - BEFORE : -1;
    o->recovery_s = -1;
    if (lowest < SECONDS && o->delivery_min_1s > STRATA_SIMM_RECOVERED_DELIVERY) {
        o->recovery_s = 0;
    } else {
        for (size_t r = lowest + 1; r < SECONDS; r++) {
            if (o->delivery_1s[r] > STRATA_SIMM_RECOVERED_DELIVERY) {
                o->recovery_s = (double)r - BEFORE;
                break;
            }
        }
    }
}

/* --- lifecycle --------------------------------------------------------------- */

int strata_simmetrics_init(strata_simmetrics *m, const strata_alloc *a,
                           const strata_simmetrics_config *cfg)
{
    memset(m, 0, sizeof *m);
    if (!cfg || cfg->nodes < STRATA_SIMM_FIRST_PEER || cfg->packet_interval_ns == 0 ||
        cfg->csv_interval_ns == 0 || cfg->rate_kbps == 0)
        return STRATA_ERR_INVAL;
    m->cfg = *cfg;
    m->alloc = a;
    m->max_seqs = cfg->duration_ns / cfg->packet_interval_ns + 2;
    m->nrows = (size_t)(cfg->duration_ns / cfg->csv_interval_ns) + 1;
    m->node = strata_mem_calloc(a, cfg->nodes, sizeof *m->node);
    m->send_ns = strata_mem_calloc(a, (size_t)m->max_seqs, sizeof *m->send_ns);
    m->played = strata_mem_calloc(a, (size_t)m->max_seqs, sizeof *m->played);
    m->due_diff = strata_mem_calloc(a, (size_t)m->max_seqs + 1, sizeof *m->due_diff);
    m->rows = strata_mem_calloc(a, m->nrows, sizeof *m->rows);
    if (cfg->regional_plays) {
        /* The packets of BEFORE seconds, and the one being sent. */
        uint64_t ring = STRATA_S(STRATA_SIMM_REGIONAL_BEFORE_S) / cfg->packet_interval_ns + 2;
        m->recent_words = (size_t)(ring + 63) / 64;
        m->recent = strata_mem_calloc(a, (size_t)cfg->nodes * m->recent_words, sizeof *m->recent);
    }
    if (!m->node || !m->send_ns || !m->played || !m->due_diff || !m->rows ||
        (cfg->regional_plays && !m->recent)) {
        strata_simmetrics_free(m);
        return STRATA_ERR_NOMEM;
    }
    return 0;
}

void strata_simmetrics_free(strata_simmetrics *m)
{
    strata_mem_free(m->alloc, m->node);
    strata_mem_free(m->alloc, m->send_ns);
    strata_mem_free(m->alloc, m->played);
    strata_mem_free(m->alloc, m->due_diff);
    strata_mem_free(m->alloc, m->rows);
    strata_mem_free(m->alloc, m->startup);
    strata_mem_free(m->alloc, m->recent);
    for (size_t i = 0; i < m->nwatch; i++)
        watch_free(m->alloc, &m->watch[i]);
    memset(m, 0, sizeof *m);
}

/* --- events ------------------------------------------------------------------- */

void strata_simmetrics_set_direct(strata_simmetrics *m, uint32_t node, uint64_t direct_ns)
{
    if (node >= m->cfg.nodes)
        return;
    uint64_t us = (direct_ns + 500) / 1000;
    m->node[node].direct_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Adds the capacity x time of the part of the session since mark. */
static void budget(strata_simm_node *n, uint64_t now)
{
    if (now <= n->mark_ns)
        return;
    if (n->capacity_kbps == 0)
        n->unlimited_seen = 1;
    else
        n->budget_bits += (double)n->capacity_kbps * (double)(now - n->mark_ns) / 1e6;
    n->mark_ns = now;
}

void strata_simmetrics_set_capacity(strata_simmetrics *m, uint32_t node, uint32_t kbps,
                                    uint64_t now)
{
    if (node >= m->cfg.nodes)
        return;
    strata_simm_node *n = &m->node[node];
    if (n->online) {
        /* The budget up to now at the old rate, and the sum of online
         * capacity for the time series. */
        budget(n, now);
        m->online_capacity_kbps -= n->capacity_kbps;
        m->online_capacity_kbps += kbps;
    }
    n->capacity_kbps = kbps;
}

void strata_simmetrics_source_packet(strata_simmetrics *m, uint64_t seq, uint64_t now)
{
    if (seq != m->seqs || seq >= m->max_seqs)
        return; /* seqs come in order; the tables are sized for the run */
    m->send_ns[seq] = now;
    m->seqs++;
}

void strata_simmetrics_session_start(strata_simmetrics *m, uint32_t node, uint64_t now,
                                     uint64_t planned_end_ns)
{
    if (!is_peer(m, node) || m->node[node].online)
        return;
    strata_simm_node *n = &m->node[node];
    uint64_t end = planned_end_ns < m->cfg.duration_ns ? planned_end_ns : m->cfg.duration_ns;
    n->online = 1;
    n->played_any = 0;
    n->join_ns = now;
    n->mark_ns = now;
    n->win_lo_ns = now + m->cfg.startup_grace_ns;
    n->win_hi_ns = end >= m->cfg.playout_delay_ns ? end - m->cfg.playout_delay_ns : 0;
    n->regional = 0;
    if (m->recent) {
        memset(recent_of(m, node), 0, m->recent_words * sizeof *m->recent);
        n->recent_hi = 0;
    }
    m->sessions++;
    m->joins++;
    m->online_now++;
    m->online_capacity_kbps += n->capacity_kbps;
    row_at(m, now)->joins++;
}

/* Closes node's session at now. how: 0 the run ended, 1 it left, 2 it was
 * killed. */
static void close_session(strata_simmetrics *m, uint32_t node, int how, uint64_t now)
{
    if (!is_peer(m, node) || !m->node[node].online)
        return;
    strata_simm_node *n = &m->node[node];
    uint64_t due = 0, first = 0, last = 0;
    if (now >= m->cfg.playout_delay_ns) {
        uint64_t hi = now - m->cfg.playout_delay_ns;
        if (hi > n->win_hi_ns)
            hi = n->win_hi_ns;
        if (hi >= n->win_lo_ns) {
            first = seq_at_or_after(m, n->win_lo_ns);
            last = seq_at_or_after(m, hi + 1); /* one past */
            if (last > first) {
                m->due_diff[first]++;
                m->due_diff[last]--;
                due = last - first;
            }
        }
    }
    if (n->regional)
        watch_close(m, node, first, last > first ? last : first);
    if (!n->played_any && due > 0)
        m->startup_failures++;
    budget(n, now);
    n->online_ns += now - n->join_ns;
    n->online = 0;
    m->online_now--;
    m->online_capacity_kbps -= n->capacity_kbps;
    if (how == 0)
        return;
    if (how == 1)
        m->leaves++;
    else
        m->kills++;
    row_at(m, now)->departures++;
}

void strata_simmetrics_session_end(strata_simmetrics *m, uint32_t node, int graceful, uint64_t now)
{
    close_session(m, node, graceful ? 1 : 2, now);
}

uint64_t strata_simmetrics_sent_ns(const strata_simmetrics *m, uint64_t seq)
{
    return seq < m->seqs ? m->send_ns[seq] : UINT64_MAX;
}

void strata_simmetrics_play(strata_simmetrics *m, uint32_t node, uint64_t seq, uint64_t send_ns,
                            uint64_t now)
{
    if (!is_peer(m, node))
        return;
    strata_simm_node *n = &m->node[node];
    if (!n->online)
        return;
    if (!n->played_any) {
        n->played_any = 1;
        if (m->nstartup == m->capstartup) {
            size_t cap = m->capstartup ? m->capstartup * 2 : 1024;
            float *p = strata_mem_realloc(m->alloc, m->startup, cap * sizeof *p);
            if (p) {
                m->startup = p;
                m->capstartup = cap;
            }
        }
        if (m->nstartup < m->capstartup)
            m->startup[m->nstartup++] = (float)((double)(now - n->join_ns) / 1e9);
    }
    uint64_t lag_us = now > send_ns ? (now - send_ns) / 1000 : 0;
    m->lag_hist[lag_bucket(lag_us)]++;
    m->lag_count++;
    strata_simm_row *row = row_at(m, now);
    row->plays++;
    row->lag_sum_us += lag_us;
    if (seq < m->seqs && send_ns >= n->win_lo_ns && send_ns <= n->win_hi_ns &&
        m->send_ns[seq] == send_ns) {
        m->played[seq]++;
        if (m->recent)
            recent_play(m, node, seq);
        if (n->regional)
            watch_play(m, node, seq);
    } else {
        m->plays_outside++;
    }
}

void strata_simmetrics_path(strata_simmetrics *m, uint32_t node, uint64_t path_us)
{
    if (!is_peer(m, node))
        return;
    m->node[node].path_sum_us += path_us;
    m->node[node].path_count++;
}

void strata_simmetrics_transfer(strata_simmetrics *m, uint32_t from, uint32_t to, uint32_t bytes,
                                int data, int cross, int delivered, uint64_t now)
{
    (void)to;
    strata_simm_row *row = row_at(m, now);
    if (from < m->cfg.nodes) {
        m->node[from].tx_bytes += bytes;
        if (is_peer(m, from))
            row->peer_tx_bytes += bytes;
    }
    if (!delivered)
        return;
    if (!data) {
        m->control_bytes += bytes;
        row->control_bytes += bytes;
        return;
    }
    m->data_bytes += bytes;
    row->data_bytes += bytes;
    if (is_peer(m, from)) {
        m->peer_data_bytes += bytes;
        row->peer_data_bytes += bytes;
    } else {
        m->source_data_bytes += bytes;
    }
    if (cross) {
        m->cross_bytes += bytes;
        row->cross_bytes += bytes;
    }
}

void strata_simmetrics_cross_kind(strata_simmetrics *m, int kind, uint32_t bytes)
{
    if (kind >= 0 && kind < STRATA_SIMM_CROSS_KINDS)
        m->cross_kind_bytes[kind] += bytes;
}

void strata_simmetrics_sample(strata_simmetrics *m, uint64_t now)
{
    strata_simm_row *row = row_at(m, now);
    row->online = (uint32_t)m->online_now;
    row->capacity_kbps = m->online_capacity_kbps;
}

/* --- results -------------------------------------------------------------------- */

void strata_simmetrics_finish(strata_simmetrics *m, uint64_t now, strata_simresult *r)
{
    for (uint32_t i = STRATA_SIMM_FIRST_PEER; i < m->cfg.nodes; i++)
        close_session(m, i, 0, now);

    r->nodes = m->cfg.nodes - STRATA_SIMM_FIRST_PEER;
    r->duration_s = (double)m->cfg.duration_ns / 1e9;
    r->rate_kbps = m->cfg.rate_kbps;
    r->packet_bytes = m->cfg.packet_bytes;

    uint64_t due = 0, played = 0;
    int64_t run = 0;
    for (uint64_t s = 0; s < m->seqs; s++) {
        run += m->due_diff[s];
        uint64_t d = run > 0 ? (uint64_t)run : 0;
        due += d;
        played += m->played[s] < d ? m->played[s] : d;
    }
    r->packets_sent = m->seqs;
    r->packets_due = due;
    r->packets_played = played;
    r->delivery_ratio = due ? (double)played / (double)due : 0;

    size_t nst = m->nstartup;
    if (nst) {
        r->startup_p50 = strata_simm_percentile_f(m->startup, nst, 0.50);
        r->startup_p95 = strata_simm_percentile_f(m->startup, nst, 0.95);
    } else {
        r->startup_p50 = r->startup_p95 = -1;
    }
    r->lag_p50 = hist_percentile(m->lag_hist, m->lag_count, 0.50);
    r->lag_p95 = hist_percentile(m->lag_hist, m->lag_count, 0.95);

    /* Stretch and upload utilisation, per slot. */
    size_t nstr = 0;
    float *str = strata_mem_alloc(m->alloc, (size_t)m->cfg.nodes * sizeof *str);
    double umax = 0, usum = 0;
    size_t ucount = 0;
    uint64_t cap_sum_kbps = 0;
    int cap_unlimited = 0;
    for (uint32_t i = STRATA_SIMM_FIRST_PEER; i < m->cfg.nodes; i++) {
        const strata_simm_node *n = &m->node[i];
        if (n->capacity_kbps == 0)
            cap_unlimited = 1;
        cap_sum_kbps += n->capacity_kbps;
        if (str && n->path_count && n->direct_us)
            str[nstr++] =
                (float)((double)n->path_sum_us / (double)n->path_count / (double)n->direct_us);
        double u;
        if (slot_utilisation(n, &u)) {
            if (u > umax)
                umax = u;
            usum += u;
            ucount++;
        }
    }
    if (nstr) {
        r->stretch_p50 = strata_simm_percentile_f(str, nstr, 0.50);
        r->stretch_p95 = strata_simm_percentile_f(str, nstr, 0.95);
    } else {
        r->stretch_p50 = r->stretch_p95 = -1;
    }
    strata_mem_free(m->alloc, str);
    r->max_upload_utilisation = umax;
    r->mean_upload_utilisation = ucount ? usum / (double)ucount : 0;

    r->p2p_share = m->data_bytes ? (double)m->peer_data_bytes / (double)m->data_bytes : 0;
    double stream_bytes = (double)m->seqs * (double)m->cfg.packet_bytes;
    uint32_t regions = m->cfg.regions ? m->cfg.regions : 1;
    r->regions = regions;
    r->cross_region_bytes_ratio =
        stream_bytes > 0 ? (double)m->cross_bytes / ((double)regions * stream_bytes) : 0;
    for (int k = 0; k < STRATA_SIMM_CROSS_KINDS; k++)
        r->cross_region_by_kind[k] =
            stream_bytes > 0 ? (double)m->cross_kind_bytes[k] / ((double)regions * stream_bytes)
                             : 0;
    r->control_overhead = m->data_bytes ? (double)m->control_bytes / (double)m->data_bytes : 0;

    /* Kumar-Liu-Ross: min(us, (us + sum up) / n); an unlimited term drops out
     * of the min, and the bound is unlimited only if both are. */
    uint32_t slots = m->cfg.nodes - STRATA_SIMM_FIRST_PEER;
    double us = (double)m->cfg.source_upload_kbps;
    int us_inf = m->cfg.source_upload_kbps == 0;
    int share_inf = us_inf || cap_unlimited;
    double share = slots ? (us + (double)cap_sum_kbps) / (double)slots : 0;
    if (us_inf && share_inf)
        r->fluid_bound_kbps = -1;
    else if (us_inf)
        r->fluid_bound_kbps = share;
    else if (share_inf)
        r->fluid_bound_kbps = us;
    else
        r->fluid_bound_kbps = us < share ? us : share;

    r->sessions = m->sessions;
    r->startup_failures = m->startup_failures;
    r->leaves = m->leaves;
    r->kills = m->kills;
    r->data_bytes = m->data_bytes;
    r->control_bytes = m->control_bytes;

    r->nregional = m->nwatch;
    for (size_t i = 0; i < m->nwatch; i++) {
        watch_finish(m, &m->watch[i]);
        r->regional[i] = m->watch[i].out;
    }
}

/* --- output ---------------------------------------------------------------------- */

/* The JSON writer's place: lines after the first are indented by ind. */
typedef struct json_out {
    FILE *f;
    int ind;
} json_out;

static void put_num(const json_out *o, const char *key, double v)
{
    fprintf(o->f, "%*s  \"%s\": %.6f,\n", o->ind, "", key, v);
}

static void put_pct(const json_out *o, const char *key, double p50, double p95)
{
    if (p50 < 0)
        fprintf(o->f, "%*s  \"%s\": {\"p50\": null, \"p95\": null},\n", o->ind, "", key);
    else
        fprintf(o->f, "%*s  \"%s\": {\"p50\": %.6f, \"p95\": %.6f},\n", o->ind, "", key, p50, p95);
}

static void put_u64(const json_out *o, const char *key, uint64_t v)
{
    fprintf(o->f, "%*s  \"%s\": %llu,\n", o->ind, "", key, (unsigned long long)v);
}

/* A delivery figure: null where nothing was due (< 0). */
static void put_opt(FILE *f, int decimals, double v)
{
    if (v < 0)
        fputs("null", f);
    else
        fprintf(f, "%.*f", decimals, v);
}

/* The regional series of the kill-preferred events, one object a line but
 * the per-second series, which has one of its own. */
static void put_regional(const json_out *o, const strata_simresult *r)
{
    FILE *f = o->f;
    fprintf(f, "%*s  \"kill_preferred\": [\n", o->ind, "");
    for (size_t i = 0; i < r->nregional; i++) {
        const strata_simm_regional *g = &r->regional[i];
        fprintf(f, "%*s    {\"at_s\": %.3f, \"victims\": %u, \"regions\": %u, \"region_labels\": [",
                o->ind, "", g->at_s, g->victims, g->regions);
        for (uint32_t l = 0; l < g->regions && l < STRATA_SIMM_REGIONAL_LABELS; l++)
            fprintf(f, "%s\"%s\"", l ? ", " : "", g->labels[l]);
        fprintf(f, "], \"region_peers\": %u, \"delivery_10s_before\": ", g->peers);
        put_opt(f, 6, g->delivery_10s_before);
        fputs(", \"delivery_10s_after\": ", f);
        put_opt(f, 6, g->delivery_10s_after);
        fputs(", \"delivery_min_1s\": ", f);
        put_opt(f, 6, g->delivery_min_1s);
        fputs(", \"delivery_min_at_s\": ", f);
        put_opt(f, 0, g->delivery_min_at_s);
        fputs(", \"recovery_s\": ", f);
        put_opt(f, 0, g->recovery_s);
        fprintf(f, ",\n%*s     \"delivery_1s_from_s\": %d, \"delivery_1s\": [", o->ind, "",
                -(int)STRATA_SIMM_REGIONAL_BEFORE_S);
        for (size_t s = 0; s < STRATA_SIMM_REGIONAL_SECONDS; s++) {
            if (s)
                fputs(", ", f);
            put_opt(f, 6, g->delivery_1s[s]);
        }
        fprintf(f, "]}%s\n", i + 1 < r->nregional ? "," : "");
    }
    fprintf(f, "%*s  ],\n", o->ind, "");
}

int strata_simresult_write_json_nested(const strata_simresult *r, FILE *f, int indent)
{
    json_out o = {f, indent < 0 ? 0 : indent};
    const json_out *j = &o;
    fprintf(f, "{\n");
    fprintf(f, "%*s  \"algorithm\": \"%s\",\n", o.ind, "", r->algorithm);
    put_u64(j, "nodes", r->nodes);
    put_num(j, "duration_s", r->duration_s);
    put_u64(j, "rate_kbps", r->rate_kbps);
    put_u64(j, "packet_bytes", r->packet_bytes);
    put_u64(j, "seed", r->seed);
    put_num(j, "delivery_ratio", r->delivery_ratio);
    put_pct(j, "startup_delay_s", r->startup_p50, r->startup_p95);
    put_pct(j, "lag_s", r->lag_p50, r->lag_p95);
    put_pct(j, "stretch", r->stretch_p50, r->stretch_p95);
    put_num(j, "p2p_share", r->p2p_share);
    put_num(j, "cross_region_bytes_ratio", r->cross_region_bytes_ratio);
    fprintf(j->f,
            "%*s  \"cross_region_by_kind\": {\"source\": %.6f, \"relayed\": %.6f, "
            "\"repair\": %.6f, \"parity\": %.6f},\n",
            j->ind, "", r->cross_region_by_kind[STRATA_SIMM_CROSS_SOURCE],
            r->cross_region_by_kind[STRATA_SIMM_CROSS_RELAYED],
            r->cross_region_by_kind[STRATA_SIMM_CROSS_REPAIR],
            r->cross_region_by_kind[STRATA_SIMM_CROSS_PARITY]);
    put_num(j, "max_upload_utilisation", r->max_upload_utilisation);
    put_num(j, "mean_upload_utilisation", r->mean_upload_utilisation);
    put_num(j, "control_overhead", r->control_overhead);
    if (r->fluid_bound_kbps < 0)
        fprintf(f, "%*s  \"fluid_bound_kbps\": null,\n", o.ind, "");
    else
        put_num(j, "fluid_bound_kbps", r->fluid_bound_kbps);
    put_u64(j, "regions", r->regions);
    if (r->have_groups) {
        put_num(j, "regions_mean", r->regions_mean);
        put_u64(j, "regions_end", r->regions_end);
        put_u64(j, "online_end", r->online_end);
        put_u64(j, "in_group_end", r->in_group_end);
    }
    if (r->have_restart) {
        fprintf(f, "%*s  \"control_restart\": {\"at_s\": %.3f, \"down_s\": %.3f, ", o.ind, "",
                r->restart_at_s, r->restart_down_s);
        if (r->rebuilt_s < 0)
            fprintf(f, "\"rebuilt_s\": null, ");
        else
            fprintf(f, "\"rebuilt_s\": %.3f, ", r->rebuilt_s);
        fprintf(f,
                "\"delivery_before\": %.6f, \"delivery_after\": %.6f, "
                "\"delivery_min_row\": %.6f, \"members_before\": %llu, \"dcms_before\": %llu, "
                "\"dcms_rebuilt\": %llu, \"restored_members\": %llu, \"restored_edges\": %llu, "
                "\"reported_edges\": %llu},\n",
                r->delivery_before, r->delivery_after, r->delivery_min_row,
                (unsigned long long)r->members_before, (unsigned long long)r->dcms_before,
                (unsigned long long)r->dcms_rebuilt, (unsigned long long)r->restored_members,
                (unsigned long long)r->restored_edges, (unsigned long long)r->reported_edges);
    }
    put_u64(j, "packets_sent", r->packets_sent);
    put_u64(j, "packets_due", r->packets_due);
    put_u64(j, "packets_played", r->packets_played);
    put_u64(j, "sessions", r->sessions);
    put_u64(j, "startup_failures", r->startup_failures);
    put_u64(j, "leaves", r->leaves);
    put_u64(j, "kills", r->kills);
    put_u64(j, "data_bytes", r->data_bytes);
    put_u64(j, "control_bytes", r->control_bytes);
    put_u64(j, "net_queue_drops", r->net_queue_drops);
    put_u64(j, "net_losses", r->net_losses);
    put_u64(j, "undeliverable", r->undeliverable);
    put_u64(j, "repaired_packets", r->repaired_packets);
    put_u64(j, "parity_rebuilt_packets", r->parity_rebuilt_packets);
    put_u64(j, "parity_sent_packets", r->parity_sent_packets);
    if (r->preferred_killed)
        put_u64(j, "preferred_killed", r->preferred_killed);
    if (r->waypoint_slots) {
        put_u64(j, "waypoint_slots", r->waypoint_slots);
        put_u64(j, "waypoints_end", r->waypoints_end);
        put_u64(j, "waypoints_placed", r->waypoints_placed);
        put_u64(j, "waypoint_standbys", r->waypoint_standbys);
        put_u64(j, "waypoint_releases", r->waypoint_releases);
    }
    if (r->parity_raises || r->parity_lowers) {
        put_u64(j, "parity_raises", r->parity_raises);
        put_u64(j, "parity_lowers", r->parity_lowers);
    }
    if (r->liars) {
        put_u64(j, "liars", r->liars);
        put_u64(j, "liar_sessions", r->liar_sessions);
        put_u64(j, "liar_sessions_struck", r->liar_struck);
        put_num(j, "liar_struck_s_p50", r->liar_struck_p50);
        put_num(j, "liar_struck_s_p95", r->liar_struck_p95);
        put_num(j, "liar_struck_s_max", r->liar_struck_max);
        put_num(j, "liar_child_pairs_mean", r->liar_pairs_mean);
        put_u64(j, "liar_dropped_packets", r->liar_dropped);
    }
    if (r->signed_stream || r->polluters) {
        put_u64(j, "signed", (uint64_t)r->signed_stream);
        put_u64(j, "bad_plays", r->bad_plays);
        put_u64(j, "bad_bytes", r->bad_bytes);
        put_u64(j, "verified_packets", r->verified_packets);
        put_u64(j, "forged_packets", r->forged_packets);
        put_u64(j, "unverified_packets", r->unverified_packets);
        put_u64(j, "forged_manifests", r->forged_manifests);
    }
    if (r->polluters) {
        char key[48];
        put_u64(j, "polluters", r->polluters);
        for (unsigned a = 0; a < STRATA_SIMPOL_PACKET_KINDS; a++) {
            snprintf(key, sizeof key, "polluter_%s_packets", strata_simpol_kind_names[a]);
            put_u64(j, key, r->polluter_acts[a]);
        }
        put_u64(j, "polluter_sessions", r->polluter_sessions);
        put_u64(j, "polluter_sessions_interior", r->polluter_interior);
        put_u64(j, "polluter_sessions_cut", r->polluter_cut);
        put_u64(j, "polluter_sessions_kept", r->polluter_kept);
        put_num(j, "polluter_cut_s_p50", r->polluter_cut_p50);
        put_num(j, "polluter_cut_s_p95", r->polluter_cut_p95);
        put_num(j, "polluter_cut_s_max", r->polluter_cut_max);
        put_u64(j, "polluter_sessions_struck", r->polluter_struck);
        put_num(j, "polluter_struck_s_p50", r->polluter_struck_p50);
        put_num(j, "polluter_struck_s_p95", r->polluter_struck_p95);
        put_num(j, "polluter_struck_s_max", r->polluter_struck_max);
        put_num(j, "polluter_child_pairs_mean", r->polluter_pairs_mean);
    }
    if (r->nregional)
        put_regional(j, r);
    put_u64(j, "events", r->events);
    if (r->have_timing) {
        put_num(j, "wall_s", r->wall_s);
        put_num(j, "peak_rss_mb", r->peak_rss_mb);
    }
    fprintf(f, "%*s  \"fingerprint\": \"%016llx\"\n%*s}", o.ind, "",
            (unsigned long long)r->fingerprint, o.ind, "");
    return ferror(f) ? -1 : 0;
}

int strata_simresult_write_json(const strata_simresult *r, FILE *f)
{
    int rc = strata_simresult_write_json_nested(r, f, 0);
    fputc('\n', f);
    return rc == 0 && !ferror(f) ? 0 : -1;
}

int strata_simmetrics_next_row(const strata_simmetrics *m, strata_simm_cursor *c,
                               strata_simm_rowvals *out)
{
    if (c->row >= m->nrows)
        return 0;
    const strata_simm_row *row = &m->rows[c->row];
    double iv_s = (double)m->cfg.csv_interval_ns / 1e9;
    uint64_t row_end = (uint64_t)(c->row + 1) * m->cfg.csv_interval_ns;
    uint64_t due = 0, played = 0;
    for (; c->seq < m->seqs && m->send_ns[c->seq] < row_end; c->seq++) {
        c->run += m->due_diff[c->seq];
        uint64_t d = c->run > 0 ? (uint64_t)c->run : 0;
        due += d;
        played += m->played[c->seq] < d ? m->played[c->seq] : d;
    }
    memset(out, 0, sizeof *out);
    out->t_s = (double)c->row * iv_s;
    out->online_peers = row->online;
    out->delivery_ratio = due ? (double)played / (double)due : NAN;
    out->plays = row->plays;
    out->mean_lag_s = row->plays ? (double)row->lag_sum_us / (double)row->plays / 1e6 : NAN;
    out->data_kbps = (double)row->data_bytes * 8.0 / 1000.0 / iv_s;
    out->p2p_share = row->data_bytes ? (double)row->peer_data_bytes / (double)row->data_bytes : NAN;
    out->control_kbps = (double)row->control_bytes * 8.0 / 1000.0 / iv_s;
    out->cross_region_kbps = (double)row->cross_bytes * 8.0 / 1000.0 / iv_s;
    out->upload_utilisation = row->capacity_kbps ? (double)row->peer_tx_bytes * 8.0 / 1000.0 /
                                                       iv_s / (double)row->capacity_kbps
                                                 : NAN;
    out->joins = row->joins;
    out->departures = row->departures;
    c->row++;
    return 1;
}

/* A CSV cell: the value with that many decimals, or nothing for NAN. */
static void put_cell(FILE *f, int decimals, double v)
{
    if (!isnan(v))
        fprintf(f, "%.*f", decimals, v);
    fputc(',', f);
}

int strata_simmetrics_write_csv(const strata_simmetrics *m, FILE *f)
{
    fprintf(f, "t_s,online_peers,delivery_ratio,plays,mean_lag_s,data_kbps,p2p_share,"
               "control_kbps,cross_region_kbps,upload_utilisation,joins,departures\n");
    strata_simm_cursor c = {0, 0, 0};
    strata_simm_rowvals v;
    while (strata_simmetrics_next_row(m, &c, &v)) {
        fprintf(f, "%.3f,%u,", v.t_s, v.online_peers);
        put_cell(f, 6, v.delivery_ratio);
        fprintf(f, "%llu,", (unsigned long long)v.plays);
        put_cell(f, 6, v.mean_lag_s);
        put_cell(f, 3, v.data_kbps);
        put_cell(f, 6, v.p2p_share);
        put_cell(f, 3, v.control_kbps);
        put_cell(f, 3, v.cross_region_kbps);
        put_cell(f, 6, v.upload_utilisation);
        fprintf(f, "%u,%u\n", v.joins, v.departures);
    }
    return ferror(f) ? -1 : 0;
}

size_t strata_simmetrics_lag_cdf(const strata_simmetrics *m, double *lag_s, double *frac,
                                 size_t cap)
{
    size_t n = 0;
    uint64_t acc = 0;
    for (size_t i = 0; i < STRATA_SIMM_LAG_BUCKETS && m->lag_count; i++) {
        if (!m->lag_hist[i])
            continue;
        acc += m->lag_hist[i];
        if (n < cap) {
            double lo, width;
            lag_bucket_span(i, &lo, &width);
            lag_s[n] = (lo + width) / 1e6;
            frac[n] = (double)acc / (double)m->lag_count;
        }
        n++;
    }
    return n;
}

size_t strata_simmetrics_upload_utilisation(const strata_simmetrics *m, double *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = STRATA_SIMM_FIRST_PEER; i < m->cfg.nodes; i++) {
        double u;
        if (!slot_utilisation(&m->node[i], &u))
            continue;
        if (n < cap)
            out[n] = u;
        n++;
    }
    return n;
}
