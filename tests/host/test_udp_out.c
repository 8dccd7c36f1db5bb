/*
 * host/udp_out on a real socket: played bytes in any chunking come out as
 * datagrams of 7 whole TS packets; bytes before a sync byte, a packet cut
 * short by a gap and a tail of less than a packet are skipped and counted;
 * a stream without TS packets sends nothing. A plain blocking socket on
 * loopback receives (the sends are synchronous: uv_udp_try_send), so no
 * loop needs to run.
 */
#include "udp_out.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "testutil.h"

enum { TS = HOST_UDP_OUT_TS_BYTES, DGRAM = HOST_UDP_OUT_DATAGRAM_BYTES };

typedef struct rx {
    int fd;
    uint16_t port;
} rx;

static rx rx_open(void)
{
    rx r = {socket(AF_INET, SOCK_DGRAM, 0), 0};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    struct timeval tv = {0, 200000}; /* nothing more within 200 ms: nothing was sent */
    CHECK(r.fd >= 0 && bind(r.fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(r.fd, (struct sockaddr *)&a, &len) == 0);
    setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r.port = ntohs(a.sin_port);
    return r;
}

/* Receives datagrams until none comes; their sizes into sizes[], their
 * bytes appended to buf. Returns how many. */
static int rx_all(rx *r, uint8_t *buf, size_t cap, size_t *len, int *sizes, int max)
{
    int n = 0;
    *len = 0;
    for (;;) {
        ssize_t got = recv(r->fd, buf + *len, cap - *len, 0);
        if (got < 0)
            return n;
        if (n < max)
            sizes[n] = (int)got;
        n++;
        *len += (size_t)got;
    }
}

/* A TS packet: sync byte, then bytes that name it (no 0x47 among them, so
 * that no false sync appears inside). */
static void ts_packet(uint8_t *p, int i)
{
    p[0] = 0x47;
    for (int j = 1; j < TS; j++)
        p[j] = (uint8_t)(1 + (i * 7 + j) % 60);
}

int main(void)
{
    uv_loop_t *loop = uv_default_loop();
    static uint8_t in[40 * TS], out[64 * TS];
    int sizes[64];
    size_t len;

    /* 1. 20 packets written in chunks of 1, 100 and 333 bytes: 2 datagrams
     * of 7 packets at once, the last 6 packets on flush. */
    rx r = rx_open();
    /* A handle closes only when the loop runs: one object per case. */
    static host_udp_out objs[3];
    host_udp_out *o = &objs[0];
    strata_addr to = {0x7f000001u, r.port};
    CHECK_EQ_INT(host_udp_out_start(o, loop, to), 0);
    for (int i = 0; i < 20; i++)
        ts_packet(in + i * TS, i);
    size_t chunks[] = {1, 100, 333}, off = 0;
    for (int c = 0; off < 20 * TS; c++) {
        size_t n = chunks[c % 3] < 20 * TS - off ? chunks[c % 3] : 20 * TS - off;
        host_udp_out_write(o, in + off, n);
        off += n;
    }
    CHECK_EQ_U64(o->stats.datagrams, 2);
    host_udp_out_flush(o);
    CHECK_EQ_INT(rx_all(&r, out, sizeof out, &len, sizes, 64), 3);
    CHECK_EQ_INT(sizes[0], DGRAM);
    CHECK_EQ_INT(sizes[1], DGRAM);
    CHECK_EQ_INT(sizes[2], 6 * TS);
    CHECK_EQ_U64(len, 20 * TS);
    CHECK_EQ_MEM(out, in, 20 * TS);
    CHECK_EQ_U64(o->stats.skipped_bytes, 0);
    CHECK_EQ_U64(o->stats.bytes, 20 * TS);

    /* 2. 5 bytes of garbage, 3 packets, then a packet cut to 100 bytes (a
     * gap), 7 packets, and a 50-byte tail: the garbage, the cut packet and
     * the tail are skipped, the 10 whole packets go out in order. */
    host_udp_out_close(o);
    o = &objs[1];
    CHECK_EQ_INT(host_udp_out_start(o, loop, to), 0);
    static const uint8_t junk[5] = {1, 2, 0x47, 3, 4};
    host_udp_out_write(o, junk, sizeof junk);
    host_udp_out_write(o, in, 3 * TS);
    host_udp_out_write(o, in + 3 * TS, 100);
    host_udp_out_write(o, in + 4 * TS, 7 * TS);
    host_udp_out_write(o, in + 11 * TS, 50);
    host_udp_out_flush(o);
    CHECK_EQ_INT(rx_all(&r, out, sizeof out, &len, sizes, 64), 2);
    CHECK_EQ_INT(sizes[0], DGRAM);
    CHECK_EQ_INT(sizes[1], 3 * TS);
    CHECK_EQ_U64(len, 10 * TS);
    CHECK_EQ_MEM(out, in, 3 * TS);
    CHECK_EQ_MEM(out + 3 * TS, in + 4 * TS, 7 * TS);
    CHECK_EQ_U64(o->stats.skipped_bytes, 5 + 100 + 50);

    /* 3. Bytes that are no MPEG-TS: nothing is sent, all are counted. */
    host_udp_out_close(o);
    o = &objs[2];
    CHECK_EQ_INT(host_udp_out_start(o, loop, to), 0);
    static uint8_t noise[5000];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)(i % 71 == 3 ? 0x47 : i * 13 % 256 == 0x47 ? 0 : i * 13 % 256);
    host_udp_out_write(o, noise, sizeof noise);
    host_udp_out_flush(o);
    CHECK_EQ_INT(rx_all(&r, out, sizeof out, &len, sizes, 64), 0);
    CHECK_EQ_U64(o->stats.datagrams, 0);
    CHECK_EQ_U64(o->stats.skipped_bytes, sizeof noise);

    /* 4. After close nothing is sent; parsing takes only udp://A.B.C.D:PORT>0. */
    host_udp_out_close(o);
    host_udp_out_write(o, in, 7 * TS);
    host_udp_out_flush(o);
    CHECK_EQ_INT(rx_all(&r, out, sizeof out, &len, sizes, 64), 0);
    strata_addr a;
    CHECK_EQ_INT(host_udp_out_parse("udp://127.0.0.1:5000", &a), 0);
    CHECK_EQ_U64(a.port, 5000);
    CHECK_EQ_INT(host_udp_out_parse("udp://127.0.0.1:0", &a), -1);
    CHECK_EQ_INT(host_udp_out_parse("udp://127.0.0.1", &a), -1);
    CHECK_EQ_INT(host_udp_out_parse("tcp://127.0.0.1:5000", &a), -1);
    CHECK_EQ_INT(host_udp_out_parse("udp://", &a), -1);

    uv_run(loop, UV_RUN_DEFAULT); /* the close callbacks */
    uv_loop_close(loop);
    close(r.fd);
    return test_summary("test_udp_out");
}
