/*
 * The delay queue and the 127.1/16 addressing of delay emulation. See
 * delay.h.
 */
#include "delay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t host_delay_ipv4(uint32_t host_index)
{
    return HOST_DELAY_NET | (host_index & 0xffffu);
}

int host_delay_index_of(uint32_t ipv4, uint32_t *host_index)
{
    if ((ipv4 & 0xffff0000u) != HOST_DELAY_NET)
        return 0;
    *host_index = ipv4 & 0xffffu;
    return 1;
}

int host_delay_init(host_delay *d, const char *path, uint32_t host_index, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    int rc = strata_latmatrix_load(&d->lat, NULL, path, err, errlen);
    if (rc < 0)
        return rc;
    uint32_t hosts = strata_latmatrix_hosts(&d->lat);
    if (host_index >= hosts || host_index >= HOST_DELAY_MAX_HOSTS) {
        snprintf(err, errlen, "%s: host index %u out of range: the matrix has %u hosts", path,
                 host_index, hosts);
        strata_latmatrix_free(&d->lat);
        return STRATA_ERR_RANGE;
    }
    d->self = host_index;
    return 0;
}

void host_delay_free(host_delay *d)
{
    for (size_t i = 0; i < d->count; i++)
        strata_buf_unref(d->heap[i].buf);
    free(d->heap);
    strata_latmatrix_free(&d->lat);
    memset(d, 0, sizeof *d);
}

uint64_t host_delay_to(const host_delay *d, strata_addr to)
{
    uint32_t host;
    if (!host_delay_index_of(to.ipv4, &host) || host >= strata_latmatrix_hosts(&d->lat))
        return 0;
    uint64_t ns = strata_latmatrix_one_way_ns(&d->lat, d->self, host);
    return ns > HOST_DELAY_LOOPBACK_NS ? ns - HOST_DELAY_LOOPBACK_NS : 0;
}

static int before(const host_delayed *a, const host_delayed *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

int host_delay_push(host_delay *d, uint64_t due_ns, strata_addr to, strata_buf *buf)
{
    if (d->count == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : HOST_DELAY_INITIAL_QUEUED;
        host_delayed *nh =
            d->cap < HOST_DELAY_MAX_QUEUED ? realloc(d->heap, ncap * sizeof *nh) : NULL;
        if (!nh) {
            d->dropped_full++;
            strata_buf_unref(buf);
            return STRATA_ERR_FULL;
        }
        d->heap = nh;
        d->cap = ncap;
    }
    host_delayed e = {due_ns, d->next_seq++, to, buf};
    size_t i = d->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e, &d->heap[parent]))
            break;
        d->heap[i] = d->heap[parent];
        i = parent;
    }
    d->heap[i] = e;
    d->delayed++;
    return 0;
}

uint64_t host_delay_next_due(const host_delay *d)
{
    return d->count ? d->heap[0].due_ns : STRATA_NEVER;
}

int host_delay_pop_due(host_delay *d, uint64_t now, host_delayed *out)
{
    if (d->count == 0 || (now != STRATA_NEVER && d->heap[0].due_ns > now))
        return 0;
    *out = d->heap[0];
    host_delayed last = d->heap[--d->count];
    size_t i = 0, n = d->count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&d->heap[c + 1], &d->heap[c]))
            c++;
        if (!before(&d->heap[c], &last))
            break;
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (n > 0)
        d->heap[i] = last;
    return 1;
}
