#!/usr/bin/env python3
"""A forger for the signed-stream test (test_signed.sh): from its own
address, sends a victim peer DATA packets of channel CHANNEL with garbage
payloads and old send times, and end-of-stream markers, every seq in a
window around where the live stream should be, for SECONDS seconds.

usage: forge.py VICTIM_ADDR:PORT CHANNEL SECONDS PACKETS_PER_SECOND
Prints the number of datagrams sent."""
import socket
import struct
import sys
import time


def fnv1a64(name: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in name:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h or 1


def data(channel: int, seq: int, k: int, flags: int, payload: bytes) -> bytes:
    # protocol.md 3.1: header, channel, seq, send_ts_ns, substream, flags,
    # payload_len, auth_tag_len, payload
    return (b"ST\x01\x01" + struct.pack(">QQQBBHH", channel, seq, 1, seq % k, flags,
                                         len(payload), 0) + payload)


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    channel = fnv1a64(sys.argv[2].encode())
    seconds, rate = float(sys.argv[3]), float(sys.argv[4])
    k = 4  # the control center's default; a wrong k is dropped as RANGE anyway
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start, sent = time.monotonic(), 0
    garbage = bytes([0xEE]) * 1316
    while time.monotonic() - start < seconds:
        # The live edge advances ~380 packets a second at 4 Mbit/s: forge a
        # window from around it to 1.5 s ahead (a slow start of this script
        # or of the stream leaves enough of it ahead of the real edge), and
        # ends of stream inside it.
        edge = int((time.monotonic() - start) * 380)
        for seq in range(max(0, edge - 20), edge + 600, 13):
            sock.sendto(data(channel, seq, k, 0, garbage), (host, int(port)))
            sent += 1
        for ahead in (50, 300):
            sock.sendto(data(channel, edge + ahead, k, 0x02, b""), (host, int(port)))
            sent += 1
        time.sleep(max(0.0, 40 / rate))
    print(sent)


if __name__ == "__main__":
    main()
