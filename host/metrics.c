/*
 * Prometheus text format; see metrics.h. A writer appends into the
 * caller's buffer and remembers whether anything did not fit, so a
 * truncated page is never served (the caller answers 500 instead).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "status_file.h"

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
    static const char *const names[] = {"unknown", "short", "long",       "magic",  "version",
                                        "type",    "range", "unexpected", "forged", "unverified",
                                        "sender",  "limit", "denied",     "auth"};
    if (slot < sizeof names / sizeof names[0])
        return names[slot];
    return "other";
}

/* Slots with a name of their own (drop_reason); the rest is "other". */
enum { NAMED_DROP_REASONS = 14 };

/* Sums n counter sets (NULL ones skipped) by reason into by[16]. */
static void sum_drops(const strata_drop_counters *const *sets, size_t n, uint64_t *by)
{
    enum { SLOTS = sizeof sets[0]->by_reason / sizeof sets[0]->by_reason[0] };
    for (size_t i = 0; i < SLOTS; i++)
        by[i] = 0;
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; sets[k] && i < SLOTS; i++)
            by[i] += sets[k]->by_reason[i];
}

void host_json_drops(char *buf, size_t buflen, size_t *off, const strata_drop_counters *const *sets,
                     size_t n)
{
    uint64_t by[16];
    sum_drops(sets, n, by);
    uint64_t other = 0;
    for (size_t i = NAMED_DROP_REASONS; i < 16; i++)
        other += by[i];
    host_status_appendf(buf, buflen, off, "{");
    for (size_t i = 1; i < NAMED_DROP_REASONS; i++)
        host_status_appendf(buf, buflen, off, "\"%s\":%" PRIu64 ",", drop_reason(i), by[i]);
    host_status_appendf(buf, buflen, off, "\"other\":%" PRIu64 "}", other + by[0]);
}

void host_json_refusals(char *buf, size_t buflen, size_t *off, const strata_control_status *st)
{
    host_status_appendf(buf, buflen, off, "{");
    for (int i = 0; i < STRATA_REFUSAL_REASONS; i++)
        host_status_appendf(buf, buflen, off, "%s\"%s\":%" PRIu64, i ? "," : "",
                            strata_refusal_name(i), st->refused[i]);
    host_status_appendf(buf, buflen, off, "}");
}

/* One family of drops by reason, summed over n counter sets; every reason
 * appears (0 included), so a rate over it never starts from a missing
 * series. */
static void drops(mwriter *w, const char *name, const char *help,
                  const strata_drop_counters *const *sets, size_t n)
{
    enum { SLOTS = sizeof sets[0]->by_reason / sizeof sets[0]->by_reason[0] };
    uint64_t by[SLOTS];
    sum_drops(sets, n, by);
    /* Slots 13..14 are unused today (no input error between -13 and
     * -14): fold them into "other" with the last one. */
    enum { NAMED = NAMED_DROP_REASONS };
    uint64_t other = 0;
    for (size_t i = NAMED; i < SLOTS; i++)
        other += by[i];
    family(w, name, "counter", help);
    for (size_t i = 0; i < NAMED; i++)
        put(w, "%s{reason=\"%s\"} %" PRIu64 "\n", name, drop_reason(i), by[i]);
    put(w, "%s{reason=\"other\"} %" PRIu64 "\n", name, other);
}

/* A channel name as a label value (escape.h); a name that cannot be
 * escaped into the room (never: 64 bytes at most) reads "". */
typedef struct label {
    char v[STRATA_WIRE_MAX_NAME_BYTES * HOST_ESCAPE_LABEL_MAX_PER_BYTE + 1];
} label;

static label channel_label(const char *name)
{
    label l;
    host_label_value(l.v, sizeof l.v, name);
    return l;
}

/* --- the control center's census ------------------------------------------------------ */

enum census_tier { TIER_SOURCE, TIER_HEAD, TIER_MEMBER, TIER_RELAY, TIERS };
static const char *const tier_names[TIERS] = {"source", "head", "member", "relay"};

typedef struct census_row {
    uint64_t channel, region_dcm;
    const char *name;
    unsigned tier;
} census_row;

static unsigned tier_of(const strata_control_entry *e)
{
    if (e->role == STRATA_ROLE_SOURCE)
        return TIER_SOURCE;
    if (e->dcm.v != e->region_dcm.v)
        return TIER_HEAD; /* in the backbone's trees (as the topology page) */
    /* A waypoint in the trees relays what nobody there could: a relay. */
    return e->role == STRATA_ROLE_RELAY || e->role == STRATA_ROLE_WAYPOINT ? TIER_RELAY
                                                                            : TIER_MEMBER;
}

static int cmp_row(const void *a, const void *b)
{
    const census_row *x = a, *y = b;
    if (x->channel != y->channel)
        return x->channel < y->channel ? -1 : 1;
    if (x->region_dcm != y->region_dcm)
        return x->region_dcm < y->region_dcm ? -1 : 1;
    return 0;
}

/* Memberships per channel and tier, regions per channel. */
static void census(mwriter *w, const strata_control_entry *e, size_t n)
{
    census_row *rows = n ? malloc(n * sizeof *rows) : NULL;
    if (n && !rows) {
        w->overflow = 1; /* a 500 rather than a page without the census */
        return;
    }
    for (size_t i = 0; i < n; i++)
        rows[i] =
            (census_row){e[i].channel.v, e[i].region_dcm.v, e[i].channel_name, tier_of(&e[i])};
    if (n)
        qsort(rows, n, sizeof *rows, cmp_row);
    family(w, "strata_control_channel_nodes", "gauge",
           "Nodes in a channel, by tier: source, region head (in the backbone), region member, "
           "recruited relay.");
    for (size_t i = 0; i < n;) {
        size_t by[TIERS] = {0}, j = i;
        for (; j < n && rows[j].channel == rows[i].channel; j++)
            by[rows[j].tier]++;
        label l = channel_label(rows[i].name);
        for (unsigned t = 0; t < TIERS; t++)
            put(w, "strata_control_channel_nodes{channel=\"%s\",tier=\"%s\"} %zu\n", l.v,
                tier_names[t], by[t]);
        i = j;
    }
    family(w, "strata_control_channel_regions", "gauge",
           "Regions of a channel (one DCM each; the backbone not counted).");
    for (size_t i = 0; i < n;) {
        size_t regions = 0, j = i;
        for (; j < n && rows[j].channel == rows[i].channel; j++)
            if (rows[j].region_dcm != 0 && (j == i || rows[j].region_dcm != rows[j - 1].region_dcm))
                regions++;
        label l = channel_label(rows[i].name);
        put(w, "strata_control_channel_regions{channel=\"%s\"} %zu\n", l.v, regions);
        i = j;
    }
    free(rows);
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
                            const strata_cgroups_stats *groups, uint64_t heartbeats,
                            const strata_control_entry *members, size_t nmembers)
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
    /* Three counters, not one family with a label: a strike is a demotion
     * too, so a sum over such a label would count it twice. */
    counter(&w, "strata_control_capacity_promotions_total",
            "Capacity check: members whose credit rose after they delivered it.",
            st->capacity_promotions);
    counter(&w, "strata_control_capacity_demotions_total",
            "Capacity check: members whose credit was cut (counters or children's stalls).",
            st->capacity_demotions);
    counter(&w, "strata_control_capacity_strikes_total",
            "Capacity check: demotions below one slot, which make the member a leaf for a while.",
            st->capacity_strikes);
    counter(&w, "strata_control_parity_raises_total",
            "Parity from loss: erasure-coded clusters that took more parity trees.",
            st->parity_raises);
    counter(&w, "strata_control_parity_lowers_total",
            "Parity from loss: erasure-coded clusters that went back to fewer parity trees.",
            st->parity_lowers);
    counter(&w, "strata_control_instructions_sent_total", "INSTRUCTION datagrams sent.",
            st->instructions_sent);
    counter(&w, "strata_control_region_moves_total",
            "Members that joined again under another region.", st->region_moves);
    gauge(&w, "strata_control_folded_groups",
          "Locality groups served by another group's region now (regions by policy).",
          (double)st->folded_groups);
    counter(&w, "strata_control_policy_folds_total",
            "Groups folded into the nearest capable region (too small or too weak).",
            st->policy_folds);
    counter(&w, "strata_control_policy_unfolds_total",
            "Folded groups given their own region back once capable.", st->policy_unfolds);
    counter(&w, "strata_control_policy_moves_total",
            "Members moved between regions by the policy.", st->policy_moves);
    counter(&w, "strata_control_heartbeats_received_total",
            "HEARTBEAT datagrams taken from peers and sources.", heartbeats);
    family(&w, "strata_control_join_refusals_total", "counter",
           "JOINs refused, by reason: over their prefix's rate, or without a valid access token.");
    for (int i = 0; i < STRATA_REFUSAL_REASONS; i++)
        put(&w, "strata_control_join_refusals_total{reason=\"%s\"} %" PRIu64 "\n",
            strata_refusal_name(i), st->refused[i]);
    counter(&w, "strata_control_token_signatures_checked_total",
            "Access tokens whose signature was checked (each about 45 us).", st->token_checks);
    const strata_drop_counters *sets[] = {&st->drops, groups ? &groups->drops : NULL};
    drops(&w, "strata_control_dropped_datagrams_total",
          "Datagrams rejected by the control center and its group table, by reason.", sets, 2);
    census(&w, members, nmembers);
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

/* A counter family with one series per channel, the field at off of each
 * channel's stats (0 before it joined). */
static void per_channel(mwriter *w, const char *name, const char *help,
                        const host_metrics_channel *ch, const label *l, size_t nch, size_t off)
{
    family(w, name, "counter", help);
    for (size_t i = 0; i < nch; i++) {
        uint64_t v = 0;
        if (ch[i].st)
            memcpy(&v, (const char *)ch[i].st + off, sizeof v);
        put(w, "%s{channel=\"%s\"} %" PRIu64 "\n", name, l[i].v, v);
    }
}

size_t host_metrics_peer(char *buf, size_t buflen, const host_metrics_channel *ch, size_t nch,
                         const strata_drop_counters *node_drops, size_t http_clients)
{
    enum { MAX_CHANNELS = 64 };
    mwriter w = {buf, buflen, 0, buflen == 0};
    label l[MAX_CHANNELS];
    if (nch > MAX_CHANNELS)
        nch = MAX_CHANNELS;
    for (size_t i = 0; i < nch; i++)
        l[i] = channel_label(ch[i].name);
    family(&w, "strata_peer_state", "gauge",
           "Per channel: -1 not in the channel yet, 0 joining, 1 member, 2 left "
           "(enum strata_peer_state).");
    for (size_t i = 0; i < nch; i++)
        put(&w, "strata_peer_state{channel=\"%s\"} %d\n", l[i].v, ch[i].st ? ch[i].st->state : -1);
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
#define F(field) offsetof(strata_peer_stats, field)
        {"strata_peer_received_packets_total",
         "New DATA packets received (duplicates and late ones not included).", F(rx_data_packets)},
        {"strata_peer_duplicate_packets_total", "DATA packets received more than once.",
         F(rx_duplicates)},
        {"strata_peer_late_packets_total",
         "DATA packets that arrived after playout had passed their sequence number.", F(rx_late)},
        {"strata_peer_repaired_packets_total", "Packets received in answer to a repair request.",
         F(rx_repairs)},
        {"strata_peer_sent_packets_total", "DATA packets relayed to children or repaired.",
         F(tx_data_packets)},
        {"strata_peer_sent_bytes_total",
         "DATA bytes uploaded (relayed and repaired): the channel's use of the upload.",
         F(tx_data_bytes)},
        {"strata_peer_repairs_sent_total", "Packets sent in answer to repair requests.",
         F(tx_repairs)},
        {"strata_peer_played_packets_total", "Packets handed to the player in order.",
         F(played_packets)},
        {"strata_peer_played_bytes_total", "Bytes handed to the player.", F(played_bytes)},
        {"strata_peer_missed_packets_total", "Packets not there at their playout time.",
         F(missed_packets)},
        {"strata_peer_repair_requests_sent_total", "Repair requests sent.",
         F(repair_requests_sent)},
        {"strata_peer_repair_requests_served_total", "Repair requests answered.",
         F(repair_requests_served)},
        {"strata_peer_repair_requests_refused_total",
         "Repair requests answered in part or not at all (over budget).",
         F(repair_requests_refused)},
        {"strata_peer_instructions_applied_total", "Instructions from the DCM applied.",
         F(instructions_applied)},
        {"strata_peer_rejoins_total",
         "Joins again after the control center no longer knew this peer.", F(rejoins)},
        {"strata_peer_region_changes_total", "Joins again under a new region label.",
         F(region_changes)},
        {"strata_peer_joins_forbidden_total",
         "JOINs the control center answered FORBIDDEN: no valid access token.", F(joins_forbidden)},
        {"strata_peer_send_time_outliers_total",
         "Send times kept out of the playout clock (they would have moved it by more than the "
         "playout delay).",
         F(send_time_outliers)},
        /* The tree inside the mesh (MESH_TREE, protocol.md 3.13): 0 elsewhere. */
        {"strata_peer_mesh_states_sent_total", "MESH_STATE messages sent to mesh neighbours.",
         F(mesh_states_tx)},
        {"strata_peer_mesh_states_received_total", "MESH_STATE messages taken from mesh neighbours.",
         F(mesh_states_rx)},
        {"strata_peer_mesh_upstream_moves_total",
         "Substreams moved to another mesh neighbour: theirs went silent, stalled or was slower.",
         F(mesh_upstream_moves)},
        {"strata_peer_mesh_backfill_packets_total",
         "Packets sent to a mesh neighbour that had just chosen this node, past where it was.",
         F(mesh_backfill_packets)},
        /* The erasure-coded cluster (EC_TREE, protocol.md 3.1.1): 0 elsewhere. */
        {"strata_peer_rebuilt_packets_total",
         "Packets rebuilt from a group's parity symbols, taken as received (among received "
         "packets).",
         F(parity_rebuilt_packets)},
        {"strata_peer_parity_received_packets_total", "Parity symbols received and taken.",
         F(rx_parity_packets)},
        {"strata_peer_parity_received_bytes_total", "Bytes of the parity symbols taken.",
         F(rx_parity_bytes)},
        {"strata_peer_parity_sent_packets_total",
         "Parity symbols sent to parity-tree children (among sent packets).",
         F(parity_sent_packets)},
        {"strata_peer_parity_sent_bytes_total", "Bytes of the parity symbols sent.",
         F(parity_sent_bytes)},
        {"strata_peer_parity_encoded_total", "Parity symbols computed from whole groups.",
         F(parity_encoded_symbols)},
        {"strata_peer_parity_decode_failures_total",
         "Groups whose symbols did not decode (they do not belong together).",
         F(parity_decode_failures)},
        /* Signed channels (docs/security.md): 0 on an unsigned one. */
        {"strata_peer_manifests_received_total",
         "New signed manifests taken (signature checked when the channel key is known).",
         F(manifests_rx)},
        {"strata_peer_manifests_sent_total", "Manifest copies relayed to children.",
         F(manifests_tx)},
        {"strata_peer_parity_lists_received_total",
         "Parity hash lists taken (checked against a manifest's digest).", F(parity_lists_rx)},
        {"strata_peer_manifest_requests_sent_total", "Requests for a missing manifest sent.",
         F(manifest_requests_sent)},
        {"strata_peer_manifest_requests_served_total", "Requests for a manifest answered.",
         F(manifest_requests_served)},
        {"strata_peer_verified_packets_total",
         "Packets and parity symbols a signed manifest vouched for.", F(verified_packets)},
        {"strata_peer_forged_packets_total",
         "Packets and parity symbols a signed manifest contradicted (dropped, never relayed).",
         F(forged_packets)},
        {"strata_peer_forged_manifests_total",
         "Manifests or parity hash lists whose signature or digest did not match.",
         F(forged_manifests)},
        {"strata_peer_unverified_packets_total",
         "Packets dropped because no signed manifest vouched for them in time.",
         F(unverified_packets)},
    };
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++)
        per_channel(&w, counters[k].name, counters[k].help, ch, l, nch, counters[k].off);
    static const struct {
        const char *origin;
        size_t off;
    } origins[] = {{"source", F(rx_source_bytes)},
                   {"peer", F(rx_peer_bytes)},
                   {"repair", F(rx_repair_bytes)},
                   {"parity", F(parity_rebuilt_bytes)}};
#undef F
    family(&w, "strata_peer_received_bytes_total", "counter",
           "Bytes of new DATA packets received, by origin: the channel's source, another peer, "
           "an answer to a repair request, rebuilt from parity symbols.");
    for (size_t i = 0; i < nch; i++)
        for (size_t o = 0; o < sizeof origins / sizeof origins[0]; o++) {
            uint64_t v = 0;
            if (ch[i].st)
                memcpy(&v, (const char *)ch[i].st + origins[o].off, sizeof v);
            put(&w, "strata_peer_received_bytes_total{channel=\"%s\",origin=\"%s\"} %" PRIu64 "\n",
                l[i].v, origins[o].origin, v);
        }
    family(&w, "strata_peer_playout_lag_seconds", "gauge",
           "When the latest packet was played, seconds after its earliest expected arrival "
           "(send time plus the smallest one-way offset seen: the fastest path's delay is not "
           "included).");
    for (size_t i = 0; i < nch; i++)
        put(&w, "strata_peer_playout_lag_seconds{channel=\"%s\"} %.9f\n", l[i].v,
            ch[i].st ? (double)ch[i].st->playout_lag_ns / 1e9 : 0.0);
    const strata_drop_counters *sets[MAX_CHANNELS + 1];
    size_t nsets = 0;
    for (size_t i = 0; i < nch; i++)
        if (ch[i].st)
            sets[nsets++] = &ch[i].st->drops;
    sets[nsets++] = node_drops;
    drops(&w, "strata_peer_dropped_datagrams_total", "Datagrams rejected by the peer, by reason.",
          sets, nsets);
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
    counter(&w, "strata_source_manifests_signed_total",
            "Manifests signed (signed channels; 0 on an unsigned one).", st->manifests_signed);
    counter(&w, "strata_source_manifests_sent_total", "Manifest copies sent to tree roots.",
            st->manifests_sent);
    counter(&w, "strata_source_manifest_requests_served_total",
            "Requests for a manifest or a parity hash list answered.",
            st->manifest_requests_served);
    const strata_drop_counters *sets[] = {&st->drops};
    drops(&w, "strata_source_dropped_datagrams_total",
          "Datagrams rejected by the source, by reason.", sets, 1);
    return finish(&w);
}

size_t host_metrics_append_node(char *buf, size_t buflen, size_t len, const char *role,
                                const strata_node_stats *ns)
{
    if (len == 0 || len >= buflen)
        return 0;
    mwriter w = {buf, buflen, len, 0};
    char name[96];
    snprintf(name, sizeof name, "strata_%s_addresses_verified_total", role);
    counter(&w, name, "Addresses that echoed an anti-amplification challenge.",
            ns->addresses_verified);
    snprintf(name, sizeof name, "strata_%s_challenges_sent_total", role);
    counter(&w, name, "Challenges (PROBEs) sent to addresses that had not shown they receive.",
            ns->challenges_sent);
    snprintf(name, sizeof name, "strata_%s_joins_held_total", role);
    counter(&w, name, "JOINs held until their address echoed a challenge.", ns->joins_held);
    snprintf(name, sizeof name, "strata_%s_answers_withheld_total", role);
    family(&w, name, "counter",
           "Answers not sent: over 3 x the bytes an unverified address sent, by the request.");
    put(&w, "%s{request=\"repair_request\"} %" PRIu64 "\n", name,
        ns->withheld[STRATA_MSG_REPAIR_REQUEST]);
    put(&w, "%s{request=\"manifest_request\"} %" PRIu64 "\n", name,
        ns->withheld[STRATA_MSG_MANIFEST_REQUEST]);
    snprintf(name, sizeof name, "strata_%s_answers_withheld_bytes_total", role);
    counter(&w, name, "Bytes of the answers withheld.", ns->withheld_bytes);
    return finish(&w);
}

void host_json_amplification(char *buf, size_t buflen, size_t *off, const strata_node_stats *ns)
{
    host_status_appendf(
        buf, buflen, off,
        "{\"addresses_verified\":%" PRIu64 ",\"challenges_sent\":%" PRIu64
        ",\"joins_held\":%" PRIu64 ",\"withheld_bytes\":%" PRIu64
        ",\"withheld\":{\"repair_request\":%" PRIu64 ",\"manifest_request\":%" PRIu64 "}}",
        ns->addresses_verified, ns->challenges_sent, ns->joins_held, ns->withheld_bytes,
        ns->withheld[STRATA_MSG_REPAIR_REQUEST], ns->withheld[STRATA_MSG_MANIFEST_REQUEST]);
}
