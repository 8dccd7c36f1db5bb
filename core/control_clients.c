/*
 * Client manager. Keeps one record per node (the host table: id, address,
 * declared upload, its memberships) and one per membership, a (node,
 * channel) pair (role, DCM, priority, its share of the upload, last time
 * heard, the last instruction epoch sent and when, the counters of its
 * latest heartbeat; its DCM keeps what stall detection needs). A
 * node may be in several channels at once (SPEC C12): its upload is shared
 * among them in priority order (share_uploads). JOIN, HEARTBEAT and LEAVE
 * are handled here, per (node, channel), and passed on to the
 * membership's DCM; anything else is counted and dropped. Memberships are
 * indexed by a keyed hash of (node, channel) (member_key): ids are chosen
 * by the nodes, and the key is what an attacker does not know.
 *
 */
#include "control_int.h"

#include <stdio.h>

/* The upload a node delivers, from its heartbeats' transmit counter: a
 * moving average over heartbeats (a quarter of the newest sample). A
 * counter that went back (the node started again) only restarts it. */
static void note_delivered(ctl_node *rec, uint64_t tx_bytes, uint64_t now)
{
    uint64_t dt_ms = elapsed(now, rec->tx_sample_ns) / 1000000u;
    if (rec->tx_sample_ns && dt_ms > 0 && tx_bytes >= rec->tx_sample_bytes) {
        uint64_t kbps = (tx_bytes - rec->tx_sample_bytes) * 8u / dt_ms;
        if (kbps > UINT32_MAX)
            kbps = UINT32_MAX;
        rec->delivered_kbps = (uint32_t)((rec->delivered_kbps * 3u + kbps) / 4u);
    }
    rec->tx_sample_ns = now ? now : 1;
    rec->tx_sample_bytes = tx_bytes;
}

static void forget_counters(strata_control *c, ctl_node *rec)
{
    c->played_sum -= rec->played;
    c->missed_sum -= rec->missed;
    if (rec->role == STRATA_ROLE_SOURCE)
        c->source_tx_sum -= rec->tx_bytes;
    else
        c->peer_tx_sum -= rec->tx_bytes;
    rec->played = rec->missed = rec->tx_bytes = 0;
}

/* The node record of id, made (with room for a membership) when new.
 * NULL when out of memory or the node is in as many channels as allowed. */
static ctl_host *host_for(strata_control *c, strata_node_id id, strata_addr addr,
                          uint32_t upload_kbps)
{
    ctl_host *h = ctl_ptab_get(&c->hosts, id.v);
    if (h)
        return h->n_members < STRATA_CONTROL_MAX_CHANNELS_PER_NODE ? h : NULL;
    if (ctl_ptab_reserve(&c->hosts, c->alloc, c->hosts.count + 1))
        return NULL;
    h = strata_mem_calloc(c->alloc, 1, sizeof *h);
    if (!h)
        return NULL;
    h->id = id;
    h->addr = addr;
    h->upload_kbps = upload_kbps;
    if (c->auth && c->auth->join_valid)
        h->auth = c->auth->join; /* the session its JOIN's reply names (auth.h) */
    ctl_ptab_put(&c->hosts, id.v, h);
    return h;
}

static void host_release_if_empty(strata_control *c, ctl_host *h)
{
    if (h->n_members || h == c->keep_host)
        return;
    ctl_ptab_del(&c->hosts, h->id.v);
    strata_mem_free(c->alloc, h);
}

/* Takes membership rec into the tables (room was reserved by node_new). */
static void member_insert(strata_control *c, ctl_node *rec)
{
    if (rec->role == STRATA_ROLE_RELAY)
        c->relays++;
    ctl_waypoint_track(c, rec, 1);
    ctl_ptab_put(&c->nodes, ctl_member_key(c, rec->id, rec->ch->id), rec);
    rec->ch->members++;
    rec->host->members[rec->host->n_members++] = rec;
}

/* A membership that never made it into the tables. */
static void member_discard(strata_control *c, ctl_node *rec)
{
    ctl_host *h = rec->host;
    strata_mem_free(c->alloc, rec);
    host_release_if_empty(c, h);
}

/* What channel ch's trees can use of one node: the slots of its interior
 * tree are capped at STRATA_WIRE_MAX_CHILDREN, so upload beyond
 * max_children x rate / k buys nothing there. */
uint32_t ctl_channel_demand_kbps(const strata_control *c, const ctl_channel *ch)
{
    uint64_t d = (uint64_t)ch->rate_kbps * STRATA_WIRE_MAX_CHILDREN / (c->k ? c->k : 1);
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Membership a goes before b in the node's upload. */
static int share_before(const ctl_node *a, const ctl_node *b)
{
    return a->priority < b->priority ||
           (a->priority == b->priority && a->joined_seq < b->joined_seq);
}

/* Shares node h's upload among its channels (SPEC C12): in priority order
 * (ties to the earlier member), each channel gets what its trees can use
 * (ctl_channel_demand_kbps) out of what the channels before it left, and the
 * last one all that remains. A channel alone gets the whole upload, as it
 * always did; a second one of lower priority gets only what the first
 * cannot use, so starting it never takes upload from the first one's
 * trees. Sources keep the upload their JOIN gave. Writes each
 * membership's share into want[] (in h->members order). */
static void compute_shares(const strata_control *c, const ctl_host *h, uint32_t *want)
{
    const ctl_node *order[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
    size_t n = 0;
    for (uint8_t i = 0; i < h->n_members; i++) {
        const ctl_node *m = h->members[i];
        want[i] = m->upload_kbps;
        if (!in_trees(m))
            continue;
        size_t j = n++;
        while (j > 0 && share_before(m, order[j - 1])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = m;
    }
    uint32_t left = h->upload_kbps;
    for (size_t j = 0; j < n; j++) {
        uint32_t give = left;
        if (j + 1 < n) {
            uint32_t demand = ctl_channel_demand_kbps(c, order[j]->ch);
            give = demand < left ? demand : left;
        }
        left -= give;
        for (uint8_t i = 0; i < h->n_members; i++)
            if (h->members[i] == order[j])
                want[i] = give;
    }
}

/* Applies compute_shares to every membership of h but skip (whose share
 * its caller set): a plain member whose share changed, or whose share of
 * it its cluster takes (a relay member's depends on the rate), leaves its
 * trees and joins them again with the new share, so its children find
 * parents that can carry them. A region's head keeps its share until it
 * stops heading (the backbone has no way yet to resize a member in
 * place). */
static void share_uploads(strata_control *c, ctl_host *h, const ctl_node *skip, uint64_t now)
{
    uint32_t want[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
    compute_shares(c, h, want);
    for (uint8_t i = 0; i < h->n_members; i++) {
        ctl_node *m = h->members[i];
        if (m == skip || !in_trees(m) || m->roots)
            continue;
        if (m->restoring) {
            m->upload_kbps = want[i]; /* its tree is built with it */
            continue;
        }
        strata_dcm *d = m->dcm;
        uint32_t rate = m->ch->rate_kbps;
        if (!d || (want[i] == m->upload_kbps &&
                   strata_dcm_member_kbps(d, m->id) == ctl_cluster_kbps(c, d, want[i], rate)))
            continue;
        int r = ctl_dcm_resize_member(d, m, ctl_cluster_kbps(c, d, want[i], rate),
                                      ctl_cluster_kbps(c, d, m->upload_kbps, rate));
        if (r < 0)
            continue;
        if (r == 0)
            m->upload_kbps = want[i];
        ctl_flush_dcm(c, d, now);
    }
}

/* The channel's rate changed (its source announced it): what its trees can
 * use of a node changed too (its share when it is in other channels, the
 * part a relay member keeps for common trees), so every node in it shares
 * its upload again; with levels 3 a region whose relay members no longer
 * have twice the rate becomes one cluster again (ctl_relays_top_up), as
 * it would have had the rate been known when they joined. */
static void reshare_channel(strata_control *c, ctl_channel *ch, uint64_t now)
{
    for (size_t i = 0; i < c->nodes.count; i++) {
        ctl_node *rec = c->nodes.items[i];
        if (rec->ch == ch && in_trees(rec))
            share_uploads(c, rec->host, NULL, now);
    }
    if (c->levels == STRATA_LEVELS_THREE && !c->recover_until) {
        for (size_t i = 0; i < ch->ndcms; i++)
            ctl_relays_top_up(c, ch, ch->dcms[i], now);
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
    }
}

/* Removes a membership (leave, death, or a JOIN that changes its role) and
 * repairs the trees it was in; the node's other channels get its upload. */
void ctl_remove_node(strata_control *c, ctl_node *rec, uint64_t now)
{
    ctl_channel *ch = rec->ch;
    ctl_host *host = rec->host;
    if (rec->role == STRATA_ROLE_RELAY)
        c->relays--;
    ctl_waypoint_track(c, rec, 0);
    /* Its counters stay in the sums: status figures cover the whole run. */
    ctl_ptab_del(&c->nodes, ctl_member_key(c, rec->id, ch->id));
    ch->members--;
    for (uint8_t i = 0; i < host->n_members; i++) {
        if (host->members[i] == rec) {
            host->members[i] = host->members[--host->n_members];
            break;
        }
    }
    if (rec->restoring) {
        /* In no tree yet: its DCM goes if nobody else waits for it. */
        c->peers--;
        strata_dcm *d = rec->dcm; /* NULL: it waits with its report (join_in_window) */
        if (d && ctl_dcm_unused(c, d)) {
            ctl_dcm_destroy(c, d);
            ctl_backbone_maybe_stop(c, ch, now); /* it may have been the last region */
        }
    } else if (rec->role == STRATA_ROLE_SOURCE) {
        /* Children keep their trees and the source's ref: the data plane
         * goes on as it was until a new source registers. */
        ch->source_live = 0;
        c->sources--;
    } else if (rec->roots) {
        /* A region's head leaves the backbone; its trees get other heads,
         * or the source, or the region goes if no one is left in it. */
        strata_dcm *region = rec->roots;
        strata_dcm_remove(rec->dcm, rec->id);
        ctl_drop_away(rec);
        ctl_drop_feeds(rec);
        c->peers--;
        if (ctl_dcm_unused(c, region)) {
            ctl_dcm_destroy(c, region);
        } else {
            ctl_relays_top_up(c, ch, region, now); /* levels 3: a candidate for its place */
            if (!ctl_region_take_heads(c, ch, region, now, NULL))
                /* The source feeds it again: it must learn its roots there. */
                strata_dcm_mark_dirty(region, STRATA_MTREE_SOURCE);
        }
        ctl_drop_unfed_heads(c, ch, now); /* leaves it fed in a mesh */
        ctl_push_roots(c, ch, now);
        ctl_flush_channel(c, ch, now);
        ctl_backbone_maybe_stop(c, ch, now);
    } else {
        strata_dcm *d = rec->dcm, *region = ctl_home_of(c, d);
        int fed = rec->feeds != NULL;
        ctl_drop_feeds(rec);
        strata_dcm_remove(d, rec->id);
        c->peers--;
        if (d != region) {
            /* A common member: its cluster goes with its last member; the
             * region's relay cluster stays or goes as a region would. */
            if (ctl_dcm_unused(c, d)) {
                ctl_retire_common(c, d, now);
            } else {
                ctl_direct_region_changed(c, ch, d, now);
                ctl_flush_dcm(c, d, now);
            }
            d = region;
        } else if (fed || ctl_common_of(c, d)) {
            /* A relay member: the cluster takes another from the common
             * one, and the common trees it fed get other feeders
             * (ctl_push_roots runs ctl_common_assign). */
            ctl_relays_top_up(c, ch, d, now);
            ctl_push_roots(c, ch, now);
            ctl_flush_channel(c, ch, now);
        }
        if (ctl_dcm_unused(c, d)) {
            /* Tell the source this region has no roots left, then go. */
            strata_dcm_mark_dirty(d, STRATA_MTREE_SOURCE);
            ctl_flush_dcm(c, d, now);
            ctl_dcm_destroy(c, d);      /* a region, or the emptied backbone */
            ctl_push_roots(c, ch, now); /* one directly fed region fewer */
            ctl_flush_channel(c, ch, now);
            ctl_backbone_maybe_stop(c, ch, now);
        } else {
            ctl_direct_region_changed(c, ch, d, now);
            ctl_flush_dcm(c, d, now);
            if (ch->backbone && d != ch->backbone)
                ctl_flush_dcm(c, ch->backbone, now);
        }
    }
    strata_mem_free(c->alloc, rec);
    ctl_channel_maybe_release(c, ch);
    if (host->n_members)
        share_uploads(c, host, NULL, now);
    else
        host_release_if_empty(c, host);
}

/* A new membership of node j->node in ch, not yet in the tables
 * (member_insert); its share of the upload is set for a peer
 * (compute_shares). NULL when out of memory, when the node is in too many
 * channels, or in the rare case of a key collision. */
static ctl_node *node_new(strata_control *c, const strata_msg_join *j, strata_addr addr,
                          ctl_channel *ch, uint64_t now)
{
    if (ctl_ptab_reserve(&c->nodes, c->alloc, c->nodes.count + 1) ||
        ctl_ptab_get(&c->nodes, ctl_member_key(c, j->node, ch->id)))
        return NULL;
    ctl_host *h = host_for(c, j->node, addr, j->upload_kbps);
    if (!h)
        return NULL;
    ctl_node *rec = strata_mem_calloc(c->alloc, 1, sizeof *rec);
    if (!rec) {
        host_release_if_empty(c, h);
        return NULL;
    }
    h->addr = addr;
    h->upload_kbps = j->upload_kbps;
    rec->id = j->node;
    rec->host = h;
    if (!ch->name_len) {
        /* what a RECRUIT will name the channel by */
        ch->name_len = j->name_len;
        memcpy(ch->name, j->name, j->name_len);
    }
    rec->role = j->role;
    rec->priority = j->priority;
    rec->joined_seq = ++c->joins_seq;
    rec->joined_ns = now;
    rec->ch = ch;
    rec->upload_kbps = j->upload_kbps;
    rec->last_seen_ns = now;
    if (in_trees(rec) && h->n_members) {
        /* Its place among the node's channels, counted as if it were in. */
        uint32_t want[STRATA_CONTROL_MAX_CHANNELS_PER_NODE];
        h->members[h->n_members++] = rec;
        compute_shares(c, h, want);
        h->n_members--;
        rec->upload_kbps = want[h->n_members];
    }
    return rec;
}

/* --- JOIN ---------------------------------------------------------------------------- */

static void send_join_reply(strata_control *c, strata_addr to, const strata_msg_join *j,
                            strata_channel_id ch_id, const ctl_channel *ch, uint8_t status,
                            strata_dcm_id dcm)
{
    if (c->quiet_join)
        return; /* a move by the policy: the node sent no JOIN */
    strata_msg_join_reply r;
    memset(&r, 0, sizeof r);
    r.node = j->node;
    r.channel = ch_id;
    r.status = status;
    r.dcm = status == STRATA_JOIN_OK ? dcm : (strata_dcm_id){0};
    r.k = c->k;
    r.rate_kbps = ch && ch->source_live ? ch->rate_kbps : 0;
    r.heartbeat_ms = c->heartbeat_ms;
    r.start_seq = ch ? ch->start_seq : 0;
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_join_reply(enc, sizeof enc, &r);
    if (n > 0 && c->auth) /* the JOIN's session tags it; an UNKNOWN stays bare (auth.h) */
        n = strata_auth_center_seal_reply(c->auth, enc, sizeof enc, (size_t)n);
    strata_outbox_push_bytes(c->outbox, to, enc, n);
}

/* The region of a joining node: its label when it gives one and the mode
 * allows (in LOCALITY mode, a group label only), else its address prefix
 * ("10.1.2.0/24"). */
static int region_of(const strata_control *c, const strata_msg_join *j, strata_addr from, char *out,
                     size_t *len)
{
    int take_label =
        j->region_len > 0 &&
        (c->region_mode == STRATA_REGION_LABEL_OR_PREFIX ||
         (c->region_mode == STRATA_REGION_LOCALITY &&
          ctl_label_group((const char *)j->region, j->region_len) != 0));
    if (take_label) {
        /* Labels end up in logs and status pages: printable ASCII only. */
        for (size_t i = 0; i < j->region_len; i++)
            if (j->region[i] < 0x20 || j->region[i] > 0x7e)
                return STRATA_ERR_RANGE;
        memcpy(out, j->region, j->region_len);
        *len = j->region_len;
        return 0;
    }
    uint32_t mask = c->prefix_bits >= 32 ? UINT32_MAX : ~(UINT32_MAX >> c->prefix_bits);
    uint32_t net = from.ipv4 & mask;
    int n = snprintf(out, CONTROL_REGION_BUF, "%u.%u.%u.%u/%u", (unsigned)(net >> 24),
                     (unsigned)(net >> 16) & 255u, (unsigned)(net >> 8) & 255u,
                     (unsigned)net & 255u, (unsigned)c->prefix_bits);
    if (n <= 0 || n >= CONTROL_REGION_BUF)
        return STRATA_ERR_RANGE;
    *len = (size_t)n;
    return 0;
}

/* A peer's region: the DCM whose trees it is in, or, for a head (a
 * member of the backbone's trees), the one whose trees it feeds. */
strata_dcm *ctl_region_dcm(const strata_control *c, const ctl_node *rec)
{
    return rec->roots ? rec->roots : ctl_home_of(c, rec->dcm);
}

/* 1 when a member's JOIN names another region than the one it is in. */
static int region_moved(strata_control *c, const ctl_node *rec, const char *region,
                        size_t region_len)
{
    strata_dcm_id id;
    if (rec->restoring && !rec->dcm) {
        /* Waiting in a recovery window: its region is the report's. */
        const ctl_report *r = ctl_window_report(c, rec->id, rec->ch->id);
        return !r || r->region_len != region_len || memcmp(r->region, region, region_len) != 0;
    }
    if (strata_directory_lookup(c->dir, rec->ch->id, region, region_len, &id) != 0)
        return 1;
    return ctl_ptab_get(&c->dcms, id.v) != ctl_region_dcm(c, rec);
}

/* A JOIN from a node we know (its reply was lost, or it moved): same DCM,
 * reply again, send its instructions again. */
static int rejoin(strata_control *c, ctl_node *rec, const strata_msg_join *j, strata_addr from,
                  uint64_t now)
{
    ctl_channel *ch = rec->ch;
    rec->last_seen_ns = now;
    ctl_set_addr(c, rec, from, now);
    if (in_trees(rec) &&
        (j->priority != rec->priority || j->upload_kbps != rec->host->upload_kbps)) {
        rec->priority = j->priority;
        rec->host->upload_kbps = j->upload_kbps;
        share_uploads(c, rec->host, NULL, now);
    }
    if (rec->role == STRATA_ROLE_SOURCE &&
        (j->rate_kbps != ch->rate_kbps || j->upload_kbps != ch->source_upload_kbps)) {
        int rate_changed = j->rate_kbps != ch->rate_kbps;
        ch->rate_kbps = j->rate_kbps;
        ch->source_upload_kbps = j->upload_kbps;
        ctl_push_roots(c, ch, now);
        if (rate_changed)
            reshare_channel(c, ch, now);
    }
    strata_dcm *region = rec->roots ? rec->roots : rec->dcm;
    if (rec->restoring && !region) {
        /* Waiting in a recovery window: nothing to send yet. */
        const ctl_report *r = ctl_window_report(c, rec->id, ch->id);
        send_join_reply(c, from, j, ch->id, ch, STRATA_JOIN_OK, r ? r->dcm : (strata_dcm_id){0});
        return 0;
    }
    send_join_reply(c, from, j, ch->id, ch, STRATA_JOIN_OK,
                    region ? strata_dcm_id_of(region) : (strata_dcm_id){0});
    ctl_mark_resend(c, rec);
    ctl_flush_node(c, rec, now);
    return 0;
}

static int join_source(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                       strata_addr from, uint64_t now)
{
    ctl_node *rec = NULL;
    ctl_channel *ch = ctl_channel_get(c, ch_id);
    if (ch && ch->source_live) {
        /* One live source per channel; the known one would have matched
         * rejoin, so this is a different node. */
        send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_REFUSED, (strata_dcm_id){0});
        if (ctl_log_allowed(c, STRATA_LOG_WARN, now))
            strata_logf(c->log, STRATA_LOG_WARN,
                        "control: refused second source %016llx for channel %016llx",
                        (unsigned long long)j->node.v, (unsigned long long)ch_id.v);
        return 0;
    }
    if (c->nodes.count >= c->max_nodes)
        goto fail_full;
    ch = ctl_channel_get_or_create(c, ch_id);
    if (!ch)
        goto fail_channel;
    rec = node_new(c, j, from, ch, now);
    if (!rec)
        goto fail_node;
    member_insert(c, rec);
    if (ch->source.v != j->node.v)
        ch->start_seq = 0; /* a new source numbers its packets afresh */
    ch->source_live = 1;
    ch->source = j->node;
    ch->source_addr = from;
    ch->source_upload_kbps = j->upload_kbps;
    int rate_changed = j->rate_kbps != ch->rate_kbps;
    ch->rate_kbps = j->rate_kbps;
    c->sources++;
    c->joins++;
    ctl_push_roots(c, ch, now);
    if (rate_changed)
        reshare_channel(c, ch, now);
    if (ch->backbone && !c->recover_until) {
        /* Regions whose members came before the source had no mesh to
         * feed a head (the source feeds a head that no member can): they
         * take their heads now, as they would have at a join. */
        int moved = 0;
        for (size_t i = 0; i < ch->ndcms; i++) {
            int m = 0;
            if (!ctl_has_heads(c, ch->dcms[i]))
                ctl_region_take_heads(c, ch, ch->dcms[i], now, &m);
            moved |= m;
        }
        if (moved)
            ctl_push_roots(c, ch, now);
    }
    send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, (strata_dcm_id){0});
    ctl_mark_resend(c, rec);
    ctl_flush_channel(c, ch, now);
    ctl_recruit_channel(c, ch, now);
    return 0;

fail_node:
    ctl_channel_maybe_release(c, ch);
fail_channel:
fail_full:
    send_join_reply(c, from, j, ch_id, NULL, STRATA_JOIN_OVERLOADED, (strata_dcm_id){0});
    return 0;
}

/* A peer joining in a recovery window waits in no DCM, with its region in
 * its report (heartbeats before the JOIN made it, or this makes it): the
 * DCMs are made from the reports when the window closes
 * (control_restart.c). Returns 1 when it answered the JOIN, 0 when there
 * is no room for a report (the caller takes it in as before). */
static int join_in_window(strata_control *c, const strata_msg_join *j, ctl_channel *ch,
                          const char *region, size_t region_len, strata_addr from, uint64_t now)
{
    ctl_report *r = ctl_window_report(c, j->node, ch->id);
    if (!r)
        return 0;
    ctl_node *rec = node_new(c, j, from, ch, now);
    if (!rec) {
        ctl_channel_maybe_release(c, ch);
        send_join_reply(c, from, j, ch->id, NULL, STRATA_JOIN_OVERLOADED, (strata_dcm_id){0});
        return 1;
    }
    if (r->n_parents && !r->region_len)
        c->window_joined++; /* one more of the nodes heard from before */
    memcpy(r->region, region, region_len);
    r->region_len = (uint8_t)region_len;
    rec->restoring = 1;
    member_insert(c, rec);
    share_uploads(c, rec->host, rec, now); /* the node's other channels give way, as it joins */
    c->peers++;
    c->joins++;
    send_join_reply(c, from, j, ch->id, ch, STRATA_JOIN_OK, r->dcm);
    return 1;
}

static int join_peer(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                     const char *region, size_t region_len, strata_addr from, uint64_t now)
{
    ctl_channel *ch = NULL;
    strata_dcm *d = NULL;
    ctl_node *rec = NULL;
    if (c->nodes.count >= c->max_nodes)
        goto fail_full;
    ch = ctl_channel_get_or_create(c, ch_id);
    if (!ch)
        goto fail_channel;
    if (c->recover_until && join_in_window(c, j, ch, region, region_len, from, now))
        return 0;
    d = ctl_dcm_for(c, ch, region, region_len, (strata_dcm_id){0});
    if (!d)
        goto fail_dcm;
    rec = node_new(c, j, from, ch, now);
    if (!rec)
        goto fail_node;
    /* With levels 3, the region's relay cluster or its common one. */
    strata_dcm *into = d;
    int split = 0;
    if (!ctl_joins_relay(c, ch, d, rec->upload_kbps)) {
        split = !c->recover_until && !ctl_common_of(c, d);
        into = ctl_common_for(c, ch, d, (strata_dcm_id){0});
        if (!into)
            goto fail_common;
    }
    if (split) {
        ctl_region_split(c, ch, d, into);
        ctl_flush_dcm(c, d, now);
        ctl_flush_dcm(c, into, now);
    }
    if (c->recover_until) {
        /* In a recovery window without room for a report: a member of
         * its region's cluster, in a tree only when the window closes. */
        rec->dcm = into;
        rec->restoring = 1;
        member_insert(c, rec);
        share_uploads(c, rec->host, rec, now);
        c->peers++;
        c->joins++;
        send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, strata_dcm_id_of(into));
        return 0;
    }
    if (strata_dcm_add(into, j->node, from,
                       ctl_cluster_kbps(c, into, rec->upload_kbps, ch->rate_kbps)))
        goto fail_add;
    rec->dcm = into;
    member_insert(c, rec);
    share_uploads(c, rec->host, rec, now); /* channels of lower priority give way */
    c->peers++;
    c->joins++;
    if (!ch->backbone && ch->ndcms >= 2) {
        ctl_backbone_start(c, ch, now);
    } else if (ch->backbone && rec->upload_kbps >= ctl_head_min_kbps(ch) &&
               (!mesh_levels(c) || !ctl_has_heads(c, d))) {
        /* With a mesh, later places are the evaluations' (see control_preferred.c,
         * nodes"). */
        /* A capable newcomer may head a tree (or the region's first);
         * budgets change only if it does. */
        int moved;
        ctl_region_take_heads(c, ch, d, now, &moved);
        if (moved)
            ctl_push_roots(c, ch, now);
    }
    if (ctl_common_assign(c, ch, d))
        ctl_push_roots(c, ch, now); /* a common tree got a feeder: budgets move */
    if (ch->backbone)
        ctl_direct_region_changed(c, ch, into, now);
    send_join_reply(c, from, j, ch_id, ch, STRATA_JOIN_OK, strata_dcm_id_of(into));
    ctl_flush_dcm(c, into, now);
    if (into != d)
        ctl_flush_dcm(c, d, now); /* its relay members feed into's trees */
    if (ch->backbone)
        ctl_flush_dcm(c, ch->backbone, now);
    return 0;

fail_add:
    if (into != d && strata_dcm_count(into) == 0)
        ctl_dcm_destroy(c, into);
fail_common:
    member_discard(c, rec);
fail_node:
    if (ctl_dcm_unused(c, d))
        ctl_dcm_destroy(c, d);
fail_dcm:
    ctl_channel_maybe_release(c, ch);
fail_channel:
fail_full:
    send_join_reply(c, from, j, ch_id, NULL, STRATA_JOIN_OVERLOADED, (strata_dcm_id){0});
    return 0;
}

/* The bytes of a sealed message before its trailer (auth.h); buflen
 * when the control center does not authenticate. */
static int auth_body(const strata_control *c, const uint8_t *buf, size_t buflen, size_t *body)
{
    *body = buflen;
    if (!c->auth)
        return 0;
    strata_auth_trailer t;
    int rc = strata_auth_decode(buf, buflen, &t);
    if (rc < 0)
        return rc;
    *body = t.body_len;
    return 0;
}

/* A JOIN's proof (auth.h): a node id is bound to the key it was first
 * registered with; a JOIN for a known node that does not prove that key is
 * refused (and, from another address, would move nothing anyway). */
static int auth_join(strata_control *c, const strata_msg_join *j, const uint8_t *buf, size_t buflen,
                     strata_addr from)
{
    ctl_host *h = ctl_ptab_get(&c->hosts, j->node.v);
    int proven;
    return strata_auth_center_join(c->auth, h ? &h->auth : NULL, h ? h->addr : from, buf, buflen,
                                   from, &proven);
}

static int place_join(strata_control *c, const strata_msg_join *j, strata_channel_id ch_id,
                      const char *region, size_t region_len, strata_addr from, uint64_t now);
static int place_member(strata_control *c, const strata_msg_join *jp, strata_channel_id ch_id,
                        const char *region, size_t region_len, strata_addr from, uint64_t now);

int ctl_handle_join(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                    uint64_t now)
{
    /* Who may join (admission.h): the prefix's rate first, so that a
     * flood costs no more than this; the token once the JOIN is read. */
    if (!strata_admission_rate_ok(&c->adm, from, now))
        return ctl_drop(c, from, STRATA_ERR_LIMIT, "JOIN (its prefix's rate)", now);
    strata_msg_join j;
    size_t body;
    int rc = auth_body(c, buf, buflen, &body);
    if (rc >= 0)
        rc = strata_wire_decode_join(buf, body, &j);
    if (rc < 0)
        return ctl_drop(c, from, rc, "JOIN", now);
    if (j.node.v == 0 || j.node.v == STRATA_MTREE_SOURCE.v)
        return ctl_drop(c, from, STRATA_ERR_RANGE, "JOIN (reserved node id)", now);
    if (j.role == STRATA_ROLE_SOURCE && j.rate_kbps == 0)
        return ctl_drop(c, from, STRATA_ERR_RANGE, "source JOIN without a rate", now);
    char region[CONTROL_REGION_BUF];
    size_t region_len = 0;
    rc = region_of(c, &j, from, region, &region_len);
    if (rc < 0)
        return ctl_drop(c, from, rc, "JOIN (region label)", now);
    strata_channel_id ch_id = strata_channel_id_from_name((const char *)j.name, j.name_len);
    if (c->auth && auth_join(c, &j, buf, buflen, from) < 0)
        return ctl_drop(c, from, STRATA_ERR_AUTH, "JOIN (a known node id without its key)", now);
    int refusal = strata_admission_check(&c->adm, &j, ch_id, now);
    if (refusal >= 0) {
        /* Never placed: it gets no instruction, so no channel data. */
        send_join_reply(c, from, &j, ch_id, NULL, STRATA_JOIN_FORBIDDEN, (strata_dcm_id){0});
        if (c->auth)
            c->auth->join_valid = 0;
        return ctl_drop(c, from, STRATA_ERR_DENIED, strata_refusal_name(refusal), now);
    }
    /* A node placed for the first time keeps the session its reply names
     * (host_for), before any INSTRUCTION is sealed for it. */
    rc = place_join(c, &j, ch_id, region, region_len, from, now);
    if (c->auth)
        c->auth->join_valid = 0;
    return rc;
}

static int place_join(strata_control *c, const strata_msg_join *jp, strata_channel_id ch_id,
                      const char *region, size_t region_len, strata_addr from, uint64_t now)
{
    /* A peer's group may be served by another group's region (regions by
     * policy): it joins, or stays in, that one. */
    char mapped[CONTROL_REGION_BUF];
    uint64_t group = 0;
    if (jp->role == STRATA_ROLE_PEER || jp->role == STRATA_ROLE_RELAY)
        group = ctl_policy_region(c, ch_id, &region, &region_len, mapped, now);
    int rc = place_member(c, jp, ch_id, region, region_len, from, now);
    ctl_node *rec = group ? ctl_member_get(c, jp->node, ch_id) : NULL;
    if (rec && in_trees(rec))
        rec->group = group;
    return rc;
}

static int place_member(strata_control *c, const strata_msg_join *jp, strata_channel_id ch_id,
                        const char *region, size_t region_len, strata_addr from, uint64_t now)
{
    strata_msg_join j = *jp;
    ctl_node *rec = ctl_member_get(c, j.node, ch_id);
    if (rec && rec->role != j.role) {
        /* Same node and channel, another role: the old membership is over. */
        ctl_remove_node(c, rec, now);
        rec = NULL;
    }
    if (rec && in_trees(rec) && region_moved(c, rec, region, region_len)) {
        /* A member under another label (its locality group merged into
         * another): it leaves its region's trees and joins the new one's,
         * as a LEAVE and a JOIN would. */
        if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
            strata_logf(c->log, STRATA_LOG_INFO, "control: node %016llx moves to region %.*s",
                        (unsigned long long)rec->id.v, (int)region_len, region);
        ctl_remove_node(c, rec, now);
        rec = NULL;
        c->region_moves++;
    }
    if (rec)
        return rejoin(c, rec, &j, from, now);
    if (j.role == STRATA_ROLE_SOURCE)
        return join_source(c, &j, ch_id, from, now);
    if (j.role == STRATA_ROLE_WAYPOINT) {
        /* An offer (protocol.md 3.3.4): placed where a region lacks capable
         * nodes, else not kept at all. */
        if (!ctl_waypoint_admit(c, &j, ch_id, region, region_len, now)) {
            c->waypoint_standbys++;
            send_join_reply(c, from, &j, ch_id, ctl_channel_get(c, ch_id), STRATA_JOIN_STANDBY,
                            (strata_dcm_id){0});
            return 0;
        }
        int rc = join_peer(c, &j, ch_id, region, region_len, from, now);
        ctl_node *w = ctl_member_get(c, j.node, ch_id);
        if (w)
            ctl_waypoint_placed(c, w, now);
        return rc;
    }
    return join_peer(c, &j, ch_id, region, region_len, from, now);
}

int ctl_rejoin_region(strata_control *c, ctl_node *rec, const char *region, size_t region_len,
                      uint64_t now)
{
    /* The JOIN it would send: what its membership was placed with. */
    strata_msg_join j;
    memset(&j, 0, sizeof j);
    j.node = rec->id;
    j.role = rec->role;
    j.priority = rec->priority;
    j.upload_kbps = rec->host->upload_kbps;
    j.name_len = rec->ch->name_len;
    j.name = rec->ch->name; /* what node_new may keep a copy of */
    strata_channel_id ch_id = rec->ch->id;
    ctl_host *h = rec->host;
    uint64_t group = rec->group;
    /* Its heartbeats' counters (the status sums keep what they gave) and
     * its history go with it: the node is the same. */
    ctl_node was = *rec;
    c->keep_host = h; /* its session key and address stay */
    ctl_remove_node(c, rec, now);
    c->region_moves++;
    c->quiet_join = 1;
    int rc = join_peer(c, &j, ch_id, region, region_len, h->addr, now);
    c->quiet_join = 0;
    c->keep_host = NULL;
    ctl_node *moved = ctl_member_get(c, j.node, ch_id);
    if (moved) {
        moved->group = group;
        moved->played = was.played;
        moved->missed = was.missed;
        moved->tx_bytes = was.tx_bytes;
        moved->joined_ns = was.joined_ns;
        moved->tx_sample_ns = was.tx_sample_ns;
        moved->tx_sample_bytes = was.tx_sample_bytes;
        moved->delivered_kbps = was.delivered_kbps;
    } else
        host_release_if_empty(c, h);
    return moved ? rc : STRATA_ERR_NOMEM;
}

int ctl_handle_heartbeat(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                         uint64_t now)
{
    strata_msg_heartbeat *hb = &c->hb;
    size_t body;
    int rc = auth_body(c, buf, buflen, &body);
    if (rc >= 0)
        rc = strata_wire_decode_heartbeat(buf, body, hb);
    if (rc < 0)
        return ctl_drop(c, from, rc, "HEARTBEAT", now);
    if (c->auth) {
        /* A known node's heartbeat proves its key before it moves, reports
         * or counts anything (auth.h); an unknown one's is answered
         * UNKNOWN, as a restarted control center must (it has no keys). */
        ctl_host *h = ctl_ptab_get(&c->hosts, hb->node.v);
        if (h && h->auth.set && strata_auth_center_open(&h->auth, buf, buflen) < 0)
            return ctl_drop(c, from, STRATA_ERR_AUTH, "HEARTBEAT (not the node's key)", now);
    }
    /* An epoch above any this control center gave: from before a restart
     * (a node it declared dead can only report its own epochs). A node
     * from before a restart cannot prove it to a control center without
     * its keys, so with authentication an epoch of 2^31 or more is never
     * adopted: a forger would make the counter wrap, and every node ignore
     * the instructions after it (docs/security.md). */
    int from_before = now < c->adopt_epochs_until && hb->instr_epoch > c->epoch &&
                      (!c->auth || hb->instr_epoch < STRATA_AUTH_ADOPT_EPOCH_LIMIT);
    if (from_before)
        c->epoch = hb->instr_epoch; /* outrank what the nodes follow */
    ctl_node *rec = ctl_member_get(c, hb->node, hb->channel);
    if (!rec && !c->recovered && from_before) {
        /* A node from before a restart: the recovery window opens. */
        c->recovered = 1;
        c->recover_until = deadline(now, c->hb_ns * RESTART_WINDOW_HEARTBEATS);
        c->recover_limit = deadline(now, c->hb_ns * RESTART_SOURCE_WAIT_HEARTBEATS);
        if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
            strata_logf(c->log, STRATA_LOG_INFO,
                        "control: nodes from before a restart: rebuilding from their heartbeats");
    }
    if (c->recover_until && (!rec || rec->restoring) && hb->n_parents)
        ctl_keep_report(c, hb);
    if (!rec) {
        /* Declared dead after lost heartbeats, or from before a restart: it
         * is told to join again (protocol.md 3.3, UNKNOWN), and counted. */
        strata_msg_join j;
        memset(&j, 0, sizeof j);
        j.node = hb->node;
        send_join_reply(c, from, &j, hb->channel, NULL, STRATA_JOIN_UNKNOWN, (strata_dcm_id){0});
        return ctl_drop(c, from, STRATA_ERR_UNEXPECTED, "HEARTBEAT from unknown node", now);
    }

    rec->last_seen_ns = now;
    ctl_set_addr(c, rec, from, now);
    forget_counters(c, rec);
    rec->played = hb->played_packets;
    rec->missed = hb->missed_packets;
    rec->tx_bytes = hb->tx_data_bytes;
    note_delivered(rec, hb->tx_data_bytes, now);
    c->played_sum += rec->played;
    c->missed_sum += rec->missed;
    if (rec->role == STRATA_ROLE_SOURCE) {
        c->source_tx_sum += rec->tx_bytes;
        /* Newcomers start where the source is now. */
        uint64_t top = 0;
        for (size_t i = 0; i < hb->n_children; i++)
            if (hb->children[i].last_tx_seq > top)
                top = hb->children[i].last_tx_seq;
        if (top > 0)
            rec->ch->start_seq = top;
    } else {
        c->peer_tx_sum += rec->tx_bytes;
    }

    if (rec->restoring)
        return 0; /* in no tree until the recovery window closes */
    int resend =
        hb->instr_epoch < rec->last_epoch_sent && elapsed(now, rec->last_send_ns) > c->hb_ns;
    if (in_trees(rec)) {
        strata_dcm_heard heard;
        if (strata_dcm_heartbeat(rec->dcm, hb, now, &heard) == 0) {
            resend |= heard.resend;
            c->reparents += heard.reparented;
            c->capacity_promotions += heard.promoted;
            c->capacity_demotions += heard.demoted;
            c->capacity_strikes += heard.struck;
            ctl_judge_feeders(c, rec, &heard, now);
            if (heard.parity_changed)
                ctl_ec_parity_changed(c, rec->ch, rec->dcm, heard.parity_changed, now);
            for (uint8_t s = 0; heard.reparented && s < strata_dcm_trees(rec->dcm); s++) {
                ctl_node *p =
                    heard.stalled[s].v ? ctl_member_get(c, heard.stalled[s], rec->ch->id) : NULL;
                if (p && p->stalls < UINT32_MAX)
                    p->stalls++;
                if (heard.stalled[s].v && ctl_log_allowed(c, STRATA_LOG_INFO, now))
                    strata_logf(c->log, STRATA_LOG_INFO,
                                "control: node %016llx substream %u: parent %016llx stalled, "
                                "reparented",
                                (unsigned long long)rec->id.v, (unsigned)s,
                                (unsigned long long)heard.stalled[s].v);
            }
        }
    }
    if (resend)
        ctl_mark_resend(c, rec);
    ctl_flush_node(c, rec, now);
    return 0;
}

/* --- LEAVE ---------------------------------------------------------------------- */

int ctl_handle_leave(strata_control *c, strata_addr from, const uint8_t *buf, size_t buflen,
                     uint64_t now)
{
    strata_msg_leave m;
    size_t body;
    int rc = auth_body(c, buf, buflen, &body);
    if (rc >= 0)
        rc = strata_wire_decode_leave(buf, body, &m);
    if (rc < 0)
        return ctl_drop(c, from, rc, "LEAVE", now);
    ctl_node *rec = ctl_member_get(c, m.node, m.channel);
    if (!rec)
        return ctl_drop(c, from, STRATA_ERR_UNEXPECTED, "LEAVE from unknown node", now);
    if (c->auth && strata_auth_center_open(&rec->host->auth, buf, buflen) < 0)
        return ctl_drop(c, from, STRATA_ERR_AUTH, "LEAVE (not the node's key)", now);
    c->leaves++;
    if (ctl_log_allowed(c, STRATA_LOG_DEBUG, now))
        strata_logf(c->log, STRATA_LOG_DEBUG, "control: node %016llx left",
                    (unsigned long long)rec->id.v);
    ctl_remove_node(c, rec, now);
    return 0;
}