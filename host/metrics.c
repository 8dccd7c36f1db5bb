/*
 * Prometheus text format; see metrics.h. A writer appends into the
 * caller's buffer and remembers whether anything did not fit, so a
 * truncated page is never served (the caller answers 500 instead).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct mwriter {
    char *buf;
    size_t cap, len;
    int overflow;
} mwriter;

static void put(mwriter *w, const char *fmt, ...) STRATA_PRINTF(2, 3);

static void put(mwriter *w, const char *fmt, ...)
{
    if (w->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    w->len += (size_t)n;
}

/* The HELP and TYPE lines of a family. */
static void family(mwriter *w, const char *name, const char *type, const char *help)
{
    put(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(mwriter *w, const char *name, const char *help, uint64_t v)
{
    family(w, name, "counter", help);
    put(w, "%s %" PRIu64 "\n", name, v);
}

static void gauge(mwriter *w, const char *name, const char *help, double v)
{
    family(w, name, "gauge", help);
    put(w, "%s %.17g\n", name, v);
}

/* Label values of strata_drop_counters.by_reason, indexed by -err
 * (strata_drop_count): slot 0 counts non-errors, the last slot every rarer
 * reason. */
static const char *drop_reason(size_t slot)
{
    static const char *const names[] = {"unknown", "short", "long",  "magic",
                                        "version", "type",  "range", "unexpected"};
    if (slot < sizeof names / sizeof names[0])
        return names[slot];
    return "other";
}

/* One family of drops by reason; every reason appears (0 included), so a
 * rate over it never starts from a missing series. */
static void drops(mwriter *w, const char *name, const char *help, const strata_drop_counters *a,
                  const strata_drop_counters *b)
{
    enum { SLOTS = sizeof a->by_reason / sizeof a->by_reason[0] };
    uint64_t by[SLOTS] = {0};
    for (size_t i = 0; i < SLOTS; i++)
        by[i] = a->by_reason[i] + (b ? b->by_reason[i] : 0);
    /* Slots 8..14 are unused today (no input error between -8 and -14):
     * fold them into "other" with the last one. */
    uint64_t other = 0;
    for (size_t i = 8; i < SLOTS; i++)
        other += by[i];
    family(w, name, "counter", help);
    for (size_t i = 0; i < 8; i++)
        put(w, "%s{reason=\"%s\"} %" PRIu64 "\n", name, drop_reason(i), by[i]);
    put(w, "%s{reason=\"other\"} %" PRIu64 "\n", name, other);
}

static size_t finish(mwriter *w)
{
    if (w->overflow || w->cap == 0) {
        if (w->cap)
            w->buf[0] = '\0';
        return 0;
    }
    return w->len;
}

size_t host_metrics_control(char *buf, size_t buflen, const strata_control_status *st,
                            const strata_cgroups_stats *groups)
{
    mwriter w = {buf, buflen, 0, buflen == 0};
    family(&w, "strata_control_nodes", "gauge", "Live nodes in every channel, by role.");
    put(&w, "strata_control_nodes{role=\"peer\"} %zu\n", st->peers);
    put(&w, "strata_control_nodes{role=\"source\"} %zu\n", st->sources);
    gauge(&w, "strata_control_channels", "Channels with at least one live node.",
          (double)st->channels);
    gauge(&w, "strata_control_dcms", "Cluster coordinators (one per channel and region).",
          (double)st->dcms);
    gauge(&w, "strata_control_detached_pairs",
          "(node, substream) pairs without a parent in the current trees.",
          (double)st->detached_pairs);
    gauge(&w, "strata_control_tree_max_depth", "Deepest node of any tree, in hops.",
          (double)st->max_depth);
    counter(&w, "strata_control_played_packets_total",
            "Packets played, summed over the latest heartbeat of every node known.",
            st->played_packets);
    counter(&w, "strata_control_missed_packets_total",
            "Packets missed (not there at their playout time), summed likewise.",
            st->missed_packets);
    uint64_t due = st->played_packets + st->missed_packets;
    gauge(&w, "strata_control_delivery_ratio",
          "Played packets over packets due, whole run (1 before any is due).",
          due ? (double)st->played_packets / (double)due : 1.0);
    family(&w, "strata_control_uploaded_bytes_total", "counter",
           "Data bytes uploaded by the nodes, by tier, summed likewise.");
    put(&w, "strata_control_uploaded_bytes_total{tier=\"peer\"} %" PRIu64 "\n", st->peer_tx_bytes);
    put(&w, "strata_control_uploaded_bytes_total{tier=\"source\"} %" PRIu64 "\n",
        st->source_tx_bytes);
    counter(&w, "strata_control_joins_total", "Nodes admitted to a channel.", st->joins);
    counter(&w, "strata_control_leaves_total", "Nodes that left a channel cleanly.", st->leaves);
    counter(&w, "strata_control_deaths_total", "Nodes declared dead after silent heartbeats.",
            st->deaths);
    counter(&w, "strata_control_reparents_total", "Tree positions changed by the DCMs.",
            st->reparents);
    counter(&w, "strata_control_instructions_sent_total", "INSTRUCTION datagrams sent.",
            st->instructions_sent);
    counter(&w, "strata_control_region_moves_total",
            "Members that joined again under another region.", st->region_moves);
    drops(&w, "strata_control_dropped_datagrams_total",
          "Datagrams rejected by the control center and its group table, by reason.", &st->drops,
          groups ? &groups->drops : NULL);
    if (groups) {
        gauge(&w, "strata_control_groups", "Locality groups whose leaders report.",
              (double)groups->groups);
        counter(&w, "strata_control_group_reports_total", "GROUP_REPORT datagrams taken.",
                groups->reports);
        counter(&w, "strata_control_group_bootstraps_total", "GROUP_BOOTSTRAP requests answered.",
                groups->bootstraps);
    }
    return finish(&w);
}

size_t host_metrics_peer(char *buf, size_t buflen, const strata_peer_stats *st, size_t http_clients)
{
    static const strata_peer_stats none;
    mwriter w = {buf, buflen, 0, buflen == 0};
    const strata_peer_stats *s = st ? st : &none;
    gauge(&w, "strata_peer_state",
          "-1 not in the channel yet, 0 joining, 1 member, 2 left (enum strata_peer_state).",
          st ? (double)st->state : -1.0);
    counter(&w, "strata_peer_received_packets_total", "DATA packets received, duplicates included.",
            s->rx_data_packets);
    counter(&w, "strata_peer_received_bytes_total", "DATA bytes received, duplicates included.",
            s->rx_data_bytes);
    counter(&w, "strata_peer_duplicate_packets_total", "DATA packets received more than once.",
            s->rx_duplicates);
    counter(&w, "strata_peer_repaired_packets_total",
            "Packets received in answer to a repair request.", s->rx_repairs);
    counter(&w, "strata_peer_sent_packets_total", "DATA packets relayed to children.",
            s->tx_data_packets);
    counter(&w, "strata_peer_sent_bytes_total", "DATA bytes relayed to children.",
            s->tx_data_bytes);
    counter(&w, "strata_peer_repairs_sent_total", "Packets sent in answer to repair requests.",
            s->tx_repairs);
    counter(&w, "strata_peer_played_packets_total", "Packets handed to the player in order.",
            s->played_packets);
    counter(&w, "strata_peer_played_bytes_total", "Bytes handed to the player.", s->played_bytes);
    counter(&w, "strata_peer_missed_packets_total", "Packets not there at their playout time.",
            s->missed_packets);
    counter(&w, "strata_peer_repair_requests_sent_total", "Repair requests sent.",
            s->repair_requests_sent);
    counter(&w, "strata_peer_repair_requests_served_total", "Repair requests answered.",
            s->repair_requests_served);
    counter(&w, "strata_peer_repair_requests_refused_total",
            "Repair requests answered in part or not at all (over budget).",
            s->repair_requests_refused);
    counter(&w, "strata_peer_instructions_applied_total", "Instructions from the DCM applied.",
            s->instructions_applied);
    counter(&w, "strata_peer_rejoins_total",
            "Joins again after the control center no longer knew this peer.", s->rejoins);
    counter(&w, "strata_peer_region_changes_total", "Joins again under a new region label.",
            s->region_changes);
    drops(&w, "strata_peer_dropped_datagrams_total", "Datagrams rejected by the peer, by reason.",
          &s->drops, NULL);
    gauge(&w, "strata_peer_http_clients", "Players connected to /stream.", (double)http_clients);
    return finish(&w);
}

size_t host_metrics_source(char *buf, size_t buflen, const strata_source_stats *st)
{
    mwriter w = {buf, buflen, 0, buflen == 0};
    gauge(&w, "strata_source_joined", "1 once the control center accepted the source.",
          st->joined ? 1.0 : 0.0);
    counter(&w, "strata_source_input_bytes_total", "Bytes read from the input.", st->bytes_in);
    counter(&w, "strata_source_packets_total", "DATA packets made from the input.",
            st->packets_sent);
    counter(&w, "strata_source_sent_packets_total", "DATA packets sent to tree roots.",
            st->tx_data_packets);
    counter(&w, "strata_source_sent_bytes_total", "DATA bytes sent to tree roots.",
            st->tx_data_bytes);
    counter(&w, "strata_source_repair_requests_served_total", "Repair requests answered.",
            st->repair_requests_served);
    counter(&w, "strata_source_repair_requests_refused_total",
            "Repair requests answered in part or not at all (over budget).",
            st->repair_requests_refused);
    gauge(&w, "strata_source_roots", "Distinct root children across substreams and regions.",
          (double)st->roots);
    drops(&w, "strata_source_dropped_datagrams_total",
          "Datagrams rejected by the source, by reason.", &st->drops, NULL);
    return finish(&w);
}
