/*
 * UDP output; see udp_out.h. acc holds at most two TS packets' worth of
 * bytes: a packet is cut once the byte 188 after its sync byte is there to
 * confirm it, so acc never needs more.
 */
#include "udp_out.h"

#include <string.h>

#include "host.h"

enum { TS_SYNC = 0x47 };

int host_udp_out_parse(const char *url, strata_addr *to)
{
    if (strncmp(url, "udp://", 6) != 0 || host_parse_addr(url + 6, to) < 0 || to->port == 0)
        return -1;
    return 0;
}

int host_udp_out_start(host_udp_out *o, uv_loop_t *loop, strata_addr to)
{
    memset(o, 0, sizeof *o);
    host_addr_to_sockaddr(to, &o->to);
    int rc = uv_udp_init(loop, &o->udp);
    if (rc < 0)
        return rc;
    o->open = 1;
    struct sockaddr_in any;
    memset(&any, 0, sizeof any);
    any.sin_family = AF_INET;
    rc = uv_udp_bind(&o->udp, (const struct sockaddr *)&any, 0);
    if (rc < 0)
        host_udp_out_close(o);
    return rc;
}

static void send_dgram(host_udp_out *o)
{
    if (!o->dgram_len)
        return;
    uv_buf_t b = uv_buf_init((char *)o->dgram, (unsigned)o->dgram_len);
    int rc = uv_udp_try_send(&o->udp, &b, 1, (const struct sockaddr *)&o->to);
    if (rc < 0) {
        o->stats.send_errors++;
    } else {
        o->stats.datagrams++;
        o->stats.bytes += o->dgram_len;
    }
    o->dgram_len = 0;
}

/* Cuts the TS packets acc holds; at the end of the stream (final) a packet
 * needs no sync byte after it. */
static void cut(host_udp_out *o, int final)
{
    size_t i = 0;
    while (o->acc_len - i >= HOST_UDP_OUT_TS_BYTES + (final ? 0u : 1u)) {
        const uint8_t *p = o->acc + i;
        int whole = p[0] == TS_SYNC && (o->acc_len - i == HOST_UDP_OUT_TS_BYTES ||
                                        p[HOST_UDP_OUT_TS_BYTES] == TS_SYNC);
        if (!whole) {
            o->stats.skipped_bytes++;
            i++;
            continue;
        }
        memcpy(o->dgram + o->dgram_len, p, HOST_UDP_OUT_TS_BYTES);
        o->dgram_len += HOST_UDP_OUT_TS_BYTES;
        i += HOST_UDP_OUT_TS_BYTES;
        if (o->dgram_len == sizeof o->dgram)
            send_dgram(o);
    }
    memmove(o->acc, o->acc + i, o->acc_len - i);
    o->acc_len -= i;
}

void host_udp_out_write(host_udp_out *o, const uint8_t *buf, size_t len)
{
    if (!o->open)
        return;
    while (len) {
        size_t n = sizeof o->acc - o->acc_len;
        if (n > len)
            n = len;
        memcpy(o->acc + o->acc_len, buf, n);
        o->acc_len += n;
        buf += n;
        len -= n;
        cut(o, 0);
    }
}

void host_udp_out_flush(host_udp_out *o)
{
    if (!o->open)
        return;
    cut(o, 1);
    o->stats.skipped_bytes += o->acc_len; /* less than a packet: never sent */
    o->acc_len = 0;
    send_dgram(o);
}

void host_udp_out_close(host_udp_out *o)
{
    if (!o->open)
        return;
    o->open = 0;
    uv_close((uv_handle_t *)&o->udp, NULL);
}
