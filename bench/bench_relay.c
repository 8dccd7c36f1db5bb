/*
 * One relay process on loopback: a real `strata peer` is made interior in a
 * one-substream tree with 8 children by this program, which plays its
 * control center, its source and its children over real UDP sockets.
 *
 * Prints: packets/s and Mbit/s forwarded at 1,316-byte payloads when the
 * source sends as fast as it can, and the relay's CPU share (user+system
 * time from /proc/PID/stat over wall time) at a 4 Mbit/s stream.
 *
 * Usage: bench_relay PATH_TO_STRATA [SECONDS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "strata/wire.h"

enum { CHILDREN = 8, PAYLOAD = 1316 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int udp_socket(struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001u)};
    socklen_t len = sizeof sin;
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound = sin;
    return fd;
}

static strata_addr to_addr(const struct sockaddr_in *sin)
{
    return (strata_addr){ntohl(sin->sin_addr.s_addr), ntohs(sin->sin_port)};
}

static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    /* fields after the command name: state is field 3; utime 14, stime 15 */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t drain(const int *fds, int n)
{
    uint64_t got = 0;
    uint8_t buf[2048];
    for (int i = 0; i < n; i++)
        while (recv(fds[i], buf, sizeof buf, 0) > 0)
            got++;
    return got;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_STRATA [SECONDS]\n", argv[0]);
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 5.0;
    struct sockaddr_in ctl_sin, src_sin, child_sin[CHILDREN];
    int ctl = udp_socket(&ctl_sin), src = udp_socket(&src_sin), child[CHILDREN];
    for (int i = 0; i < CHILDREN; i++)
        child[i] = udp_socket(&child_sin[i]);
    char ctl_arg[32];
    snprintf(ctl_arg, sizeof ctl_arg, "127.0.0.1:%u", (unsigned)ntohs(ctl_sin.sin_port));
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(argv[1], argv[1], "peer", "--control", ctl_arg, "--channel", "bench", "--listen",
              "127.0.0.1:0", "--upload", "1000000", "-q", (char *)NULL);
        _exit(127);
    }
    /* The peer's JOIN tells us its address. */
    uint8_t buf[2048];
    struct sockaddr_in peer_sin;
    strata_msg_join join;
    double deadline = now_s() + 10;
    for (;;) {
        socklen_t len = sizeof peer_sin;
        ssize_t n = recvfrom(ctl, buf, sizeof buf, 0, (struct sockaddr *)&peer_sin, &len);
        if (n > 0 && strata_wire_decode_join(buf, (size_t)n, &join) > 0)
            break;
        if (now_s() > deadline) {
            fprintf(stderr, "bench_relay: the peer never joined\n");
            kill(pid, SIGKILL);
            return 1;
        }
        poll(&(struct pollfd){.fd = ctl, .events = POLLIN}, 1, 100);
    }
    strata_channel_id channel = strata_channel_id_from_name("bench", 5);
    strata_node_id source_id = {42};
    strata_msg_join_reply reply = {.node = join.node,
                                   .channel = channel,
                                   .status = STRATA_JOIN_OK,
                                   .dcm = {1},
                                   .k = 1,
                                   .rate_kbps = 4000,
                                   .heartbeat_ms = 1000,
                                   .start_seq = 0};
    int n = strata_wire_encode_join_reply(buf, sizeof buf, &reply);
    sendto(ctl, buf, (size_t)n, 0, (struct sockaddr *)&peer_sin, sizeof peer_sin);
    strata_msg_instruction ins = {.dcm = {1},
                                  .channel = channel,
                                  .node = join.node,
                                  .epoch = 1,
                                  .k = 1,
                                  .substream = 0,
                                  .algorithm = STRATA_ALG_TREE,
                                  .parent = {source_id, to_addr(&src_sin)},
                                  .source = {source_id, to_addr(&src_sin)},
                                  .n_children = CHILDREN};
    for (int i = 0; i < CHILDREN; i++)
        ins.children[i] = (strata_peer_ref){{100u + (uint64_t)i}, to_addr(&child_sin[i])};
    n = strata_wire_encode_instruction(buf, sizeof buf, &ins);
    sendto(ctl, buf, (size_t)n, 0, (struct sockaddr *)&peer_sin, sizeof peer_sin);
    usleep(200000);

    uint8_t payload[PAYLOAD];
    memset(payload, 0x47, sizeof payload);
    strata_msg_data d = {
        .channel = channel, .substream = 0, .payload_len = PAYLOAD, .payload = payload};
    uint64_t seq = 0;

    /* Phase 1: as fast as the source can send, in bursts so that the relay,
     * not this process, sets the pace; the playout window bounds how far
     * ahead we may run, so keep within it. */
    double t0 = now_s(), t_end = t0 + seconds;
    uint64_t received = 0, sent = 0;
    while (now_s() < t_end) {
        for (int b = 0; b < 64; b++) {
            d.seq = seq++;
            d.send_ts_ns = (uint64_t)(now_s() * 1e9);
            n = strata_wire_encode_data(buf, sizeof buf, &d);
            if (sendto(src, buf, (size_t)n, 0, (struct sockaddr *)&peer_sin, sizeof peer_sin) > 0)
                sent++;
        }
        received += drain(child, CHILDREN);
        /* Stay within the relay's window: wait until it has forwarded most of what we sent. */
        double wait_until = now_s() + 0.02;
        while (received + 64u * CHILDREN < sent * CHILDREN && now_s() < wait_until) {
            poll(&(struct pollfd){.fd = child[CHILDREN - 1], .events = POLLIN}, 1, 1);
            received += drain(child, CHILDREN);
        }
    }
    usleep(100000);
    received += drain(child, CHILDREN);
    double elapsed = now_s() - t0;
    double fwd_pps = (double)received / elapsed;
    printf("relay, max rate: source sent %" PRIu64 " packets in %.1f s; children received %" PRIu64
           "\n",
           sent, elapsed, received);
    printf("relay, max rate: %.0f packets/s forwarded (%.0f in/s), %.1f Mbit/s of payload out\n",
           fwd_pps, fwd_pps / CHILDREN, fwd_pps * PAYLOAD * 8 / 1e6);

    /* Phase 2: a 4 Mbit/s stream (380 packets/s) to 8 children; CPU share. */
    double pps = 4e6 / 8 / PAYLOAD;
    double c0 = cpu_seconds(pid);
    t0 = now_s();
    t_end = t0 + seconds * 2;
    uint64_t sent2 = 0, received2 = 0;
    while (now_s() < t_end) {
        double due = (now_s() - t0) * pps;
        while ((double)sent2 < due) {
            d.seq = seq++;
            d.send_ts_ns = (uint64_t)(now_s() * 1e9);
            n = strata_wire_encode_data(buf, sizeof buf, &d);
            sendto(src, buf, (size_t)n, 0, (struct sockaddr *)&peer_sin, sizeof peer_sin);
            sent2++;
        }
        poll(&(struct pollfd){.fd = child[0], .events = POLLIN}, 1, 2);
        received2 += drain(child, CHILDREN);
    }
    elapsed = now_s() - t0;
    double cpu = cpu_seconds(pid) - c0;
    received2 += drain(child, CHILDREN);
    printf("relay at 4 Mbit/s, 8 children: %.0f packets/s in, %.1f%% of one core "
           "(%.3f s CPU in %.1f s), %.2f%% of expected child packets delivered\n",
           (double)sent2 / elapsed, 100.0 * cpu / elapsed, cpu, elapsed,
           100.0 * (double)received2 / ((double)sent2 * CHILDREN));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return 0;
}
