#!/usr/bin/env python3
"""A hostile process for test_auth.sh (docs/security.md, "No node speaks for
another"). It knows every node's id (the test gives them; PROBE or a
GROUP_INFO would) and, for ROUNDS rounds:

- from its own address, sends the control center a HEARTBEAT, a LEAVE and
  a JOIN naming each VICTIM (node id, channel), with a trailer of its own
  (protocol.md 3.12: a made-up key and tag); it answers the control
  center's address challenge (a PROBE) so that its JOINs are looked at;
- from the control center's address (spoofed with a raw socket, which
  needs root: skipped otherwise), sends each TARGET peer (address, node id,
  channel) an INSTRUCTION per substream with a higher epoch than any real
  one, naming the forger as its child, once with a made-up trailer and
  once bare, and an UNKNOWN.

Prints "control=N spoofed=A:N,... data=D": the forgeries the control
center must have counted, those each target must have counted, and the DATA
datagrams that reached the forger (none may).

usage: forge_auth.py CONTROL ROUNDS VICTIM... -- TARGET...
  VICTIM: NODEHEX/CHANNEL; TARGET: ADDR:PORT/NODEHEX/CHANNEL
"""
import os
import select
import socket
import struct
import sys
import time

K = 4  # the control center's default k


def fnv1a64(name: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in name:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h or 1


def hdr(t: int) -> bytes:
    return b"ST\x01" + bytes([t])


def up_trailer(seq: int) -> bytes:  # HEARTBEAT, LEAVE: seq, tag
    return struct.pack(">I", seq) + os.urandom(16)


def heartbeat(node: int, channel: int, seq: int) -> bytes:
    # protocol.md 3.2 with no parents and no children
    body = hdr(2) + struct.pack(">QQIIQIIQQQQQBBB", node, channel, 0, seq, 1, 0xFFFFFFF0, 10000,
                                0, 0, 0, 0, 0, 0, 0, 0)
    return body + up_trailer(seq)


def leave(node: int, channel: int, seq: int) -> bytes:
    return hdr(8) + struct.pack(">QQI", node, channel, 0) + up_trailer(seq)


def join(node: int, name: bytes, seq: int) -> bytes:
    # protocol.md 3.3.1: a peer claiming 10 Mbit/s; then our own key, seq, tag
    body = hdr(3) + struct.pack(">QBIIB", node, 0, 10000, 0, len(name)) + name + b"\x00\x00"
    return body + os.urandom(32) + struct.pack(">I", seq) + os.urandom(16)


def instruction(node: int, channel: int, sub: int, child_ip: int, child_port: int) -> bytes:
    # protocol.md 3.4: TREE, no parent, no source, one child: the forger
    body = hdr(5) + struct.pack(">IQQIBBBBB", 0, channel, node, 0xFFFFFFF0, K, sub, 1, 0, 0)
    body += bytes(14) + bytes(14) + b"\x01" + struct.pack(">QIH", 0xEE, child_ip, child_port)
    return body


def unknown(node: int, channel: int) -> bytes:
    # protocol.md 3.3.2: status UNKNOWN (the one untagged reply)
    return hdr(4) + struct.pack(">QQBBIIIQ", node, channel, 3, K, 0, 0, 500, 0)


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def spoof(raw, src, dst, payload: bytes) -> None:
    """One UDP datagram from src to dst (both (ip, port)) through a raw socket."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    raw.sendto(ip + udp, (dst[0], 0))


def main() -> None:
    args = sys.argv[1:]
    sep = args.index("--")
    host, port = args[0].rsplit(":", 1)
    control = (host, int(port))
    rounds = int(args[1])
    victims = [(int(v.split("/")[0], 16), v.split("/")[1].encode()) for v in args[2:sep]]
    targets = []
    for t in args[sep + 1:]:
        addr, node, ch = t.split("/")
        h, p = addr.rsplit(":", 1)
        targets.append(((h, int(p)), int(node, 16), ch.encode()))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    me = sock.getsockname()
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        raw = None

    counted_control = 0
    spoofed = {t[0]: 0 for t in targets}
    data = 0
    seq = 1000

    def drain(wait: float) -> None:
        """Answers the control center's challenges, counts DATA."""
        nonlocal data
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                return
            b, src = sock.recvfrom(2048)
            if len(b) < 4 or b[:3] != b"ST\x01":
                continue
            if b[3] == 1:
                data += 1
            elif b[3] == 6 and len(b) == 24:  # PROBE: echo it (protocol.md 3.5.3)
                node, pid, ts = struct.unpack(">QIQ", b[4:24])
                sock.sendto(hdr(7) + struct.pack(">QIQQ", node, pid, ts, 0xEE), src)

    for r in range(rounds):
        for node, name in victims:
            ch = fnv1a64(name)
            seq += 1
            sock.sendto(heartbeat(node, ch, seq), control)
            seq += 1
            sock.sendto(leave(node, ch, seq), control)
            seq += 1
            sock.sendto(join(node, name, seq), control)
            counted_control += 3
            # The first JOIN waits for our address to echo a challenge.
            drain(0.3 if r == 0 else 0.0)
        if raw is not None:
            for addr, node, name in targets:
                ch = fnv1a64(name)
                for sub in range(K):
                    ins = instruction(node, ch, sub, 0x7F000001, me[1])
                    seq += 1
                    sealed = ins + struct.pack(">QI", (1 << 32) | 1, seq) + os.urandom(16)
                    spoof(raw, control, addr, sealed)
                    spoof(raw, control, addr, ins)
                    spoofed[addr] += 2
                spoof(raw, control, addr, unknown(node, ch))
        drain(0.1)
    drain(1.0)  # anything a redirected node would send the forger
    print("control=%d spoofed=%s data=%d raw=%d" % (
        counted_control, ",".join("%s:%d:%d" % (a[0], a[1], n) for a, n in spoofed.items()),
        data, raw is not None))


if __name__ == "__main__":
    main()
