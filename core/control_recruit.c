/*
 * Recruiting relays (SPEC C5, C12): a node with upload its channels
 * cannot use relays a channel it does not watch, where that channel's
 * viewers lack upload.
 */
#include "control_int.h"

void ctl_send_recruit(strata_control *c, ctl_host *h, const ctl_channel *ch, uint8_t flags)
{
    strata_msg_recruit m = {
        .node = h->id, .flags = flags, .name_len = ch->name_len, .name = ch->name};
    uint8_t enc[STRATA_WIRE_MAX_DATAGRAM_BYTES];
    int n = strata_wire_encode_recruit(enc, sizeof enc, &m);
    if (n > 0 && c->auth) /* tagged with the node's session (auth.h) */
        n = strata_auth_center_seal(&h->auth, enc, sizeof enc, (size_t)n);
    strata_outbox_push_bytes(c->outbox, h->addr, enc, n);
}

/* Upload node h has beyond what its channels' trees can use (0 if none). */
static uint64_t spare_kbps(const strata_control *c, const ctl_host *h)
{
    uint64_t used = 0;
    for (uint8_t i = 0; i < h->n_members; i++)
        if (in_trees(h->members[i]))
            used += ctl_channel_demand_kbps(c, h->members[i]->ch);
    return h->upload_kbps > used ? h->upload_kbps - used : 0;
}

/* 1 when node h is in region d's region (a membership of another channel
 * under the same label). */
static int in_region_of(const ctl_host *h, const strata_dcm *d)
{
    size_t len, mlen;
    const char *want = strata_dcm_region(d, &len);
    for (uint8_t i = 0; i < h->n_members; i++) {
        const ctl_node *m = h->members[i];
        const strata_dcm *md = m->roots ? m->roots : m->dcm;
        if (!in_trees(m) || !md)
            continue;
        const char *have = strata_dcm_region(md, &mlen);
        if (mlen == len && memcmp(have, want, len) == 0)
            return 1;
    }
    return 0;
}

/* Region d of channel ch leaves (node, substream) pairs without a parent:
 * its viewers lack upload. A node of the same region that watches other
 * channels and has upload they cannot use (at least the stream rate) is
 * asked to relay ch without watching it (RECRUIT, protocol.md 3.10): it
 * joins as a RELAY and the trees take its upload. Returns 1 when one was
 * asked. The candidates are
 * looked at RECRUIT_SCAN_HOSTS at a time, from where the last search
 * stopped, so a scan costs the same whatever the number of nodes. */
static int recruit_for(strata_control *c, ctl_channel *ch, strata_dcm *d, uint64_t now)
{
    ctl_host *best = NULL;
    uint64_t best_spare = 0;
    size_t n = c->hosts.count;
    for (size_t i = 0; i < n && i < RECRUIT_SCAN_HOSTS; i++) {
        ctl_host *h = c->hosts.items[(c->recruit_cursor + i) % n];
        if (h->recruited_ns && elapsed(now, h->recruited_ns) < STRATA_MS(RECRUIT_RETRY_MS))
            continue;
        if (ctl_member_get(c, h->id, ch->id) || !in_region_of(h, d))
            continue;
        uint64_t spare = spare_kbps(c, h);
        if (spare >= ch->rate_kbps && spare > best_spare) {
            best = h;
            best_spare = spare;
        }
    }
    c->recruit_cursor = n ? (c->recruit_cursor + RECRUIT_SCAN_HOSTS) % n : 0;
    if (!best)
        return 0;
    best->recruited_ns = now;
    c->recruits_sent++;
    ctl_send_recruit(c, best, ch, 0);
    if (ctl_log_allowed(c, STRATA_LOG_INFO, now))
        strata_logf(c->log, STRATA_LOG_INFO,
                    "control: recruiting node %016llx (%llu kbps spare) to relay channel %.*s",
                    (unsigned long long)best->id.v, (unsigned long long)best_spare,
                    (int)ch->name_len, (const char *)ch->name);
    return 1;
}

/* Relays of regions where nobody watches any more are released. One scan
 * a heartbeat interval: a pass finds the regions that have relays (a few),
 * a second the viewers among them, a third the relays to let go. */
static void release_idle_relays(strata_control *c)
{
    const strata_dcm *idle[RELEASE_SCAN_REGIONS];
    size_t n = 0;
    for (size_t i = 0; i < c->nodes.count && n < RELEASE_SCAN_REGIONS; i++) {
        const ctl_node *m = c->nodes.items[i];
        size_t j = 0;
        while (m->role == STRATA_ROLE_RELAY && j < n && idle[j] != ctl_region_dcm(c, m))
            j++;
        if (m->role == STRATA_ROLE_RELAY && j == n)
            idle[n++] = ctl_region_dcm(c, m);
    }
    for (size_t i = 0; i < c->nodes.count && n > 0; i++) {
        const ctl_node *m = c->nodes.items[i];
        for (size_t j = 0; m->role == STRATA_ROLE_PEER && j < n; j++) {
            if (idle[j] == ctl_region_dcm(c, m)) {
                idle[j] = idle[--n]; /* watched: not idle */
                break;
            }
        }
    }
    for (size_t i = 0; i < c->nodes.count && n > 0; i++) {
        const ctl_node *m = c->nodes.items[i];
        for (size_t j = 0; m->role == STRATA_ROLE_RELAY && j < n; j++) {
            if (idle[j] == ctl_region_dcm(c, m)) {
                ctl_send_recruit(c, m->host, m->ch, STRATA_RECRUIT_RELEASE);
                c->releases_sent++;
                break;
            }
        }
    }
}

void ctl_recruit_channel(strata_control *c, ctl_channel *ch, uint64_t now)
{
    /* With one channel every node is in it: nobody to recruit. */
    if (!c->recruit || c->recover_until || c->channels.count < 2 || !ch->source_live ||
        !ch->name_len)
        return;
    for (size_t j = 0; j < ch->ndcms; j++) {
        strata_dcm *d = ch->dcms[j];
        /* A relay is interior in one tree: up to k at once, so that a
         * region short everywhere is served within one scan. */
        strata_dcm *cm = ctl_common_of(c, d);
        size_t detached = strata_mtree_detached(strata_dcm_tree(d)) +
                          (cm ? strata_mtree_detached(strata_dcm_tree(cm)) : 0);
        for (size_t r = 0; r < detached && r < c->k; r++)
            if (!recruit_for(c, ch, d, now))
                break;
    }
}

/* Every heartbeat interval; and at once when a source announces its rate,
 * the moment its trees learn what they need (so relays are in before the
 * first packets). */
void ctl_recruit_scan(strata_control *c, uint64_t now)
{
    if (c->relays && !c->recover_until) /* in a window, regions are not made yet */
        release_idle_relays(c);
    for (size_t i = 0; i < c->channels.count; i++)
        ctl_recruit_channel(c, c->channels.items[i], now);
}