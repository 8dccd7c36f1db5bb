/*
 * In-memory network of the simulator: capacity-mix parsing, per-node
 * uplinks with drop-tail queues, propagation delay and seeded loss. The
 * model is described in net.h.
 */
#include "net.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventq.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...) STRATA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void strata_simnet_config_default(strata_simnet_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->capacity_mix = NULL;
    cfg->queue_limit_bytes = STRATA_SIMNET_DEFAULT_QUEUE_BYTES;
    cfg->loss = 0;
    cfg->overhead_bytes = 0;
    cfg->fixed_delay_ns = STRATA_MS(10);
}

/* ---- Capacity mix ----------------------------------------------------------- */

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks off [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_blank(**s))
        (*s)++;
    while (*e > *s && is_blank((*e)[-1]))
        (*e)--;
}

/* Parses [s, e) as a finite decimal >= 0. */
static int parse_share(const char *s, const char *e, double *out)
{
    char buf[64];
    size_t len = (size_t)(e - s);
    if (len == 0 || len >= sizeof buf)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
              s[i] == '+' || s[i] == '-'))
            return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *endp = NULL;
    double v = strtod(buf, &endp);
    if (endp != buf + len || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Parses [s, e) as a decimal integer in [0, UINT32_MAX]. */
static int parse_kbps(const char *s, const char *e, uint32_t *out)
{
    if (s == e)
        return -1;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int strata_simnet_parse_mix(const char *mix, strata_simnet_class *classes, size_t max, char *err,
                            size_t errlen)
{
    if (!mix) {
        set_err(err, errlen, "capacity mix: missing");
        return STRATA_ERR_RANGE;
    }
    const char *p = mix;
    size_t n = 0;
    double total = 0;
    for (size_t entry = 1;; entry++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        /* Fields of this entry. */
        const char *f[3], *fe[3];
        const char *s = p;
        int nf = 0;
        for (;;) {
            const char *c = memchr(s, ':', (size_t)(end - s));
            const char *stop = c ? c : end;
            if (nf == 3) {
                nf = 4;
                break;
            }
            f[nf] = s;
            fe[nf] = stop;
            trim(&f[nf], &fe[nf]);
            nf++;
            if (!c)
                break;
            s = c + 1;
        }
        if (nf != 3) {
            set_err(err, errlen, "capacity mix: entry %zu ('%.*s'): expected name:share:kbps",
                    entry, (int)(end - p > 40 ? 40 : end - p), p);
            return STRATA_ERR_RANGE;
        }
        size_t nlen = (size_t)(fe[0] - f[0]);
        int name_ok = nlen > 0 && nlen < STRATA_SIMNET_CLASS_NAME_BYTES;
        for (size_t i = 0; name_ok && i < nlen; i++) {
            char c = f[0][i];
            name_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
        }
        if (!name_ok) {
            set_err(err, errlen, "capacity mix: entry %zu: name must be 1..%d of [A-Za-z0-9_-]",
                    entry, STRATA_SIMNET_CLASS_NAME_BYTES - 1);
            return STRATA_ERR_RANGE;
        }
        double share = 0;
        if (parse_share(f[1], fe[1], &share) != 0) {
            set_err(err, errlen, "capacity mix: entry %zu: share '%.*s' is not a number >= 0",
                    entry, (int)(fe[1] - f[1] > 30 ? 30 : fe[1] - f[1]), f[1]);
            return STRATA_ERR_RANGE;
        }
        uint32_t kbps = 0;
        if (parse_kbps(f[2], fe[2], &kbps) != 0) {
            set_err(err, errlen,
                    "capacity mix: entry %zu: kbps '%.*s' is not an integer in [0, 4294967295]",
                    entry, (int)(fe[2] - f[2] > 30 ? 30 : fe[2] - f[2]), f[2]);
            return STRATA_ERR_RANGE;
        }
        if (n == max) {
            set_err(err, errlen, "capacity mix: more than %zu classes", max);
            return STRATA_ERR_RANGE;
        }
        for (size_t i = 0; i < n; i++) {
            if (strlen(classes[i].name) == nlen && memcmp(classes[i].name, f[0], nlen) == 0) {
                set_err(err, errlen, "capacity mix: entry %zu: class '%s' given twice", entry,
                        classes[i].name);
                return STRATA_ERR_RANGE;
            }
        }
        memset(&classes[n], 0, sizeof classes[n]);
        memcpy(classes[n].name, f[0], nlen);
        classes[n].share = share;
        classes[n].upload_kbps = kbps;
        total += share;
        n++;
        if (*end == '\0')
            break;
        p = end + 1;
    }
    if (!(total > 0) || !isfinite(total)) {
        set_err(err, errlen, "capacity mix: shares must add up to more than 0");
        return STRATA_ERR_RANGE;
    }
    for (size_t i = 0; i < n; i++)
        classes[i].share /= total;
    return (int)n;
}

/* ---- Network ---------------------------------------------------------------- */

int strata_simnet_init(strata_simnet *net, const strata_alloc *alloc, uint32_t nodes,
                       const strata_simnet_config *cfg, const strata_simlat *lat, char *err,
                       size_t errlen)
{
    strata_simnet_config def;
    if (!cfg) {
        strata_simnet_config_default(&def);
        cfg = &def;
    }
    memset(net, 0, sizeof *net);
    net->alloc = alloc;
    if (!(cfg->loss >= 0 && cfg->loss <= 1)) {
        set_err(err, errlen, "loss probability %g not in [0, 1]", cfg->loss);
        return STRATA_ERR_RANGE;
    }
    if (lat && strata_simlat_nodes(lat) < nodes) {
        set_err(err, errlen, "latency model has %u nodes attached, network needs %u",
                strata_simlat_nodes(lat), nodes);
        return STRATA_ERR_INVAL;
    }
    if (cfg->capacity_mix && cfg->capacity_mix[0] != '\0') {
        int n = strata_simnet_parse_mix(cfg->capacity_mix, net->classes, STRATA_SIMNET_MAX_CLASSES,
                                        err, errlen);
        if (n < 0)
            return n;
        net->nclasses = (uint32_t)n;
    } else {
        memcpy(net->classes[0].name, "unlimited", 10);
        net->classes[0].share = 1;
        net->classes[0].upload_kbps = 0;
        net->nclasses = 1;
    }
    net->node = strata_mem_calloc(alloc, nodes ? nodes : 1, sizeof *net->node);
    if (!net->node) {
        set_err(err, errlen, "out of memory for %u nodes", nodes);
        return STRATA_ERR_NOMEM;
    }
    net->nodes = nodes;
    net->lat = lat;
    net->fixed_delay_ns = cfg->fixed_delay_ns;
    net->overhead_bytes = cfg->overhead_bytes;
    net->cut_through_bytes = cfg->cut_through_bytes;
    net->seed = cfg->seed;

    /* Cumulative shares; the last bound is exactly 1 so rounding in the sum
     * can never leave a draw without a class. */
    double cum[STRATA_SIMNET_MAX_CLASSES];
    double acc = 0;
    for (uint32_t c = 0; c < net->nclasses; c++) {
        acc += net->classes[c].share;
        cum[c] = acc;
    }
    cum[net->nclasses - 1] = 1.0;

    for (uint32_t i = 0; i < nodes; i++) {
        strata_simnet_node *nd = &net->node[i];
        uint32_t cls = 0;
        if (net->nclasses > 1) {
            strata_rng r;
            strata_sim_rng_stream(&r, cfg->seed, i, STRATA_SIM_STREAM_CAPACITY);
            double u = strata_rng_unit(&r);
            while (cls + 1 < net->nclasses && u >= cum[cls])
                cls++;
        }
        nd->class_idx = (uint8_t)cls;
        nd->upload_kbps = net->classes[cls].upload_kbps;
        nd->queue_limit_bytes = cfg->queue_limit_bytes;
        nd->burst_at_ns = STRATA_NEVER;
        nd->loss = cfg->loss;
        strata_sim_rng_stream(&nd->rng, cfg->seed, i, STRATA_SIM_STREAM_LOSS);
    }
    return 0;
}

void strata_simnet_free(strata_simnet *net)
{
    strata_mem_free(net->alloc, net->node);
    const strata_alloc *alloc = net->alloc;
    memset(net, 0, sizeof *net);
    net->alloc = alloc;
}

uint64_t strata_simnet_tx_ns(uint64_t bytes, uint32_t kbps)
{
    if (kbps == 0)
        return 0;
    if (bytes > (UINT64_MAX - kbps) / 8000000u)
        return UINT64_MAX;
    /* bytes * 8 bits / (kbps * 1000 bit/s) s = bytes * 8e6 / kbps ns. */
    return (bytes * 8000000u + kbps - 1) / kbps;
}

uint64_t strata_simnet_delay_ns(const strata_simnet *net, uint32_t a, uint32_t b)
{
    return net->lat ? strata_simlat_node_one_way_ns(net->lat, a, b) : net->fixed_delay_ns;
}

/* Bytes still queued on an uplink of kbps whose queue needs backlog_ns more,
 * rounded down; UINT64_MAX if that does not fit. */
static uint64_t backlog_bytes(uint64_t backlog_ns, uint32_t kbps)
{
    if (backlog_ns > UINT64_MAX / kbps)
        return UINT64_MAX;
    return backlog_ns * kbps / 8000000u;
}

int strata_simnet_send(strata_simnet *net, uint32_t from, uint32_t to, uint32_t size_bytes,
                       uint64_t now_ns, uint64_t *arrival_ns)
{
    uint64_t dummy;
    if (!arrival_ns)
        arrival_ns = &dummy;
    *arrival_ns = STRATA_NEVER;
    if (from >= net->nodes || to >= net->nodes)
        return STRATA_ERR_INVAL;
    strata_simnet_node *nd = &net->node[from];
    uint64_t wire = (uint64_t)size_bytes + net->overhead_bytes;
    uint64_t depart = now_ns;

    if (nd->upload_kbps != 0) {
        uint64_t start = nd->link_free_ns > now_ns ? nd->link_free_ns : now_ns;
        if (nd->queue_limit_bytes != 0) {
            uint64_t queued = backlog_bytes(start - now_ns, nd->upload_kbps);
            if (queued > nd->queue_limit_bytes || wire > nd->queue_limit_bytes - queued) {
                nd->c.drop_queue_pkts++;
                return STRATA_SIM_DROP_QUEUE;
            }
        }
        uint64_t tx = strata_simnet_tx_ns(wire, nd->upload_kbps);
        nd->link_free_ns = start + tx;
        depart = nd->link_free_ns;
        if (net->cut_through_bytes != 0) {
            /* Trains: the head of this send leaves after the heads of the
             * burst's earlier sends (net.h, "Packet trains"). */
            if (nd->burst_at_ns != now_ns) {
                nd->burst_at_ns = now_ns;
                nd->burst_head_ns = start;
            }
            uint64_t unit = wire < net->cut_through_bytes ? wire : net->cut_through_bytes;
            nd->burst_head_ns += unit == wire ? tx : strata_simnet_tx_ns(unit, nd->upload_kbps);
            depart = nd->burst_head_ns;
            if (unit == wire) {
                /* A datagram goes between the queued trains' datagrams. */
                depart = (nd->heads_free_ns > now_ns ? nd->heads_free_ns : now_ns) + tx;
            }
            if (depart > nd->heads_free_ns)
                nd->heads_free_ns = depart;
        }
    }
    nd->c.sent_pkts++;
    nd->c.sent_bytes += size_bytes;

    /* The draw is made only when loss is configured, so turning loss on for
     * one node leaves every other node's stream where it was. */
    if (nd->loss > 0 && strata_rng_unit(&nd->rng) < nd->loss) {
        nd->c.drop_loss_pkts++;
        return STRATA_SIM_DROP_LOSS;
    }
    strata_simnet_node *rx = &net->node[to];
    if (rx->rx_loss > 0 && strata_rng_unit(&rx->rng) < rx->rx_loss) {
        nd->c.drop_loss_pkts++;
        return STRATA_SIM_DROP_LOSS;
    }
    uint64_t delay = strata_simnet_delay_ns(net, from, to);
    *arrival_ns = delay > UINT64_MAX - depart ? STRATA_NEVER : depart + delay;
    return STRATA_SIM_DELIVER;
}

int strata_simnet_set_upload_kbps(strata_simnet *net, uint32_t node, uint32_t kbps)
{
    if (node >= net->nodes)
        return STRATA_ERR_INVAL;
    net->node[node].upload_kbps = kbps;
    return 0;
}

int strata_simnet_set_loss(strata_simnet *net, uint32_t node, double loss)
{
    if (node >= net->nodes || !(loss >= 0 && loss <= 1))
        return STRATA_ERR_INVAL;
    net->node[node].loss = loss;
    return 0;
}

int strata_simnet_set_rx_loss(strata_simnet *net, uint32_t node, double loss)
{
    if (node >= net->nodes || !(loss >= 0 && loss <= 1))
        return STRATA_ERR_INVAL;
    net->node[node].rx_loss = loss;
    return 0;
}

int strata_simnet_set_queue_limit(strata_simnet *net, uint32_t node, uint32_t bytes)
{
    if (node >= net->nodes)
        return STRATA_ERR_INVAL;
    net->node[node].queue_limit_bytes = bytes;
    return 0;
}

uint32_t strata_simnet_upload_kbps(const strata_simnet *net, uint32_t node)
{
    return node < net->nodes ? net->node[node].upload_kbps : 0;
}

uint32_t strata_simnet_class_of(const strata_simnet *net, uint32_t node)
{
    return node < net->nodes ? net->node[node].class_idx : 0;
}

uint64_t strata_simnet_backlog_ns(const strata_simnet *net, uint32_t node, uint64_t now_ns)
{
    if (node >= net->nodes)
        return 0;
    uint64_t f = net->node[node].link_free_ns;
    return f > now_ns ? f - now_ns : 0;
}

const strata_simnet_counters *strata_simnet_counters_of(const strata_simnet *net, uint32_t node)
{
    return node < net->nodes ? &net->node[node].c : NULL;
}

void strata_simnet_totals(const strata_simnet *net, strata_simnet_counters *out)
{
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < net->nodes; i++) {
        const strata_simnet_counters *c = &net->node[i].c;
        out->sent_pkts += c->sent_pkts;
        out->sent_bytes += c->sent_bytes;
        out->drop_queue_pkts += c->drop_queue_pkts;
        out->drop_loss_pkts += c->drop_loss_pkts;
    }
}
