/*
 * UDP output (SPEC P2): the played stream sent to ADDR:PORT as MPEG-TS over
 * UDP, as `ffplay udp://ADDR:PORT`, VLC (udp://@:PORT) and ffprobe read it:
 * each datagram carries 7 whole 188-byte TS packets (1316 bytes), the last
 * one of a stream fewer.
 *
 * The played bytes are cut into TS packets on their sync bytes: a packet is
 * taken where a 0x47 is followed 188 bytes later by another (or by the end
 * of the stream); anything else is skipped byte by byte and counted, so a
 * stream that lost bytes (a packet missed at its playout time) resumes on
 * the next whole TS packet, and bytes that are not MPEG-TS are not sent at
 * all. Sends never block: a datagram the socket cannot take at once is
 * dropped and counted, as the network would drop it.
 */
#ifndef STRATA_HOST_UDP_OUT_H
#define STRATA_HOST_UDP_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "strata/common.h"

enum {
    HOST_UDP_OUT_TS_BYTES = 188,
    HOST_UDP_OUT_TS_PER_DATAGRAM = 7,
    HOST_UDP_OUT_DATAGRAM_BYTES = HOST_UDP_OUT_TS_BYTES * HOST_UDP_OUT_TS_PER_DATAGRAM,
};

typedef struct host_udp_out_stats {
    uint64_t datagrams, bytes; /* sent */
    uint64_t skipped_bytes;    /* not part of a whole TS packet */
    uint64_t send_errors;      /* datagrams the socket did not take */
} host_udp_out_stats;

typedef struct host_udp_out {
    uv_udp_t udp;
    struct sockaddr_in to;
    uint8_t acc[2 * HOST_UDP_OUT_TS_BYTES]; /* bytes not yet cut into packets */
    size_t acc_len;
    uint8_t dgram[HOST_UDP_OUT_DATAGRAM_BYTES];
    size_t dgram_len;
    host_udp_out_stats stats;
    int open;
} host_udp_out;

/* Parses "udp://A.B.C.D:PORT" into *to; returns 0 or -1. */
int host_udp_out_parse(const char *url, strata_addr *to);
/* Opens a UDP socket (any local port) that sends to `to`. Returns 0 or a
 * negative libuv error. o is the caller's; it must stay put until closed. */
int host_udp_out_start(host_udp_out *o, uv_loop_t *loop, strata_addr to);
/* Takes len played bytes; sends each datagram as it fills. */
void host_udp_out_write(host_udp_out *o, const uint8_t *buf, size_t len);
/* End of stream: the packets still held go out (a shorter datagram). */
void host_udp_out_flush(host_udp_out *o);
/* Closes the socket (nothing more is sent). */
void host_udp_out_close(host_udp_out *o);

#endif
