#!/usr/bin/env bash
# UDP output (SPEC P2, issue 12 item 6): `strata peer --output udp://ADDR:PORT`
# sends the played MPEG-TS as datagrams of 7 whole TS packets. A peer
# watches a 2 s H.264 stream made by ffmpeg and sends it to a Python
# receiver, which must get every byte of the input in datagrams of 1316
# bytes (the last shorter) that each start with a TS sync byte; the receiver
# passes each datagram on to ffprobe reading udp://, which must find the
# H.264 video at its size. Malformed udp:// outputs are usage errors.
. "$(dirname "$0")/lib.sh"
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null \
    || fail "ffmpeg/ffprobe missing (scripts/install-deps.sh test installs them)"

for bad in udp://127.0.0.1 udp://127.0.0.1:0 udp://nowhere:5000; do
    rc=0
    "$STRATA" peer --control 127.0.0.1:1 --channel x --output "$bad" >/dev/null 2>"$WORK/usage.err" || rc=$?
    [ $rc -eq 2 ] || fail "--output $bad exited $rc, want 2: $(cat "$WORK/usage.err")"
done
pass "malformed udp:// outputs are refused"

ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=25 -t 2 \
    -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p -f mpegts "$WORK/input.ts"
bytes=$(stat -c %s "$WORK/input.ts")
RATE=$((bytes * 8 / 2 / 1000 + 1))

# The receiver binds its port and picks a free one for ffprobe, writes both
# ("RECV PROBE"), then takes datagrams until it has the input's length (or
# 3 s pass without one), passing each on to ffprobe's port, and judges them.
python3 - "$WORK" "$bytes" <<'PY' >"$WORK/recv.txt" 2>&1 &
import os, socket, sys
work, want = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", 0))
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p.bind(("127.0.0.1", 0))
probe_port = p.getsockname()[1]
p.close()
with open(work + "/ports.tmp", "w") as f:
    f.write("%d %d\n" % (s.getsockname()[1], probe_port))
os.rename(work + "/ports.tmp", work + "/ports")
s.settimeout(30)
got, sizes = bytearray(), []
while len(got) < want:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    s.settimeout(3)
    s.sendto(d, ("127.0.0.1", probe_port))
    got += d
    sizes.append(len(d))
open(work + "/recv.ts", "wb").write(got)
bad = ["a datagram of %d bytes" % n for n in sizes[:-1] if n != 1316]
if sizes and (sizes[-1] % 188 or sizes[-1] > 1316):
    bad.append("a last datagram of %d bytes" % sizes[-1])
off = 0
for n in sizes:
    if got[off] != 0x47:
        bad.append("no sync byte at %d" % off)
    off += n
print("%d datagrams, %d bytes; the last %d" % (len(sizes), len(got), sizes[-1] if sizes else 0))
for b in bad[:5]:
    print("bad:", b)
sys.exit(1 if bad or not sizes else 0)
PY
RECV_PID=$!
PIDS+=($RECV_PID)
wait_for_line "$WORK/ports" '^[0-9]+ [0-9]+$' 10 || fail "the receiver did not start: $(cat "$WORK/recv.txt")"
read -r RECV_PORT PROBE_PORT <"$WORK/ports"

timeout 20 ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 \
    -probesize 32768 -analyzeduration 200000 -fpsprobesize 0 \
    "udp://127.0.0.1:$PROBE_PORT?timeout=15000000" >"$WORK/ffprobe.txt" 2>"$WORK/ffprobe.log" &
PROBE_PID=$!
PIDS+=($PROBE_PID)
# ffprobe is ready once its port is bound (a line of /proc/net/udp).
hexport=$(printf ':%04X ' "$PROBE_PORT")
for ((i = 0; i < 200; i++)); do grep -q "$hexport" /proc/net/udp && break; sleep 0.05; done
grep -q "$hexport" /proc/net/udp || fail "ffprobe did not bind udp port $PROBE_PORT: $(cat "$WORK/ffprobe.log")"

start_control
start_viewer peer --channel test --no-groups --output "udp://127.0.0.1:$RECV_PORT"
wait_for_members 1
start source source --control "$CONTROL" --channel test --input "$WORK/input.ts" --rate "$RATE" \
    --listen 127.0.0.1:0
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

wait "$RECV_PID" || fail "the receiver: $(cat "$WORK/recv.txt")"
cmp "$WORK/input.ts" "$WORK/recv.ts" \
    || fail "the UDP output differs from the input: $(cat "$WORK/recv.txt")"
pass "the UDP output carries the whole input in datagrams of 7 TS packets: $(cat "$WORK/recv.txt")"

wait "$PROBE_PID" || fail "ffprobe failed: $(cat "$WORK/ffprobe.log")"
grep -q '^h264,320,240' "$WORK/ffprobe.txt" \
    || fail "ffprobe did not find the video: $(cat "$WORK/ffprobe.txt" "$WORK/ffprobe.log")"
udp=$(sed -n 's/.*"udp":{"datagrams":\([0-9]*\).*/\1/p' "$WORK/peer.json")
[ "${udp:-0}" -gt 0 ] || fail "the peer's status counts no UDP datagram: $(cat "$WORK/peer.json")"
pass "ffprobe reads the UDP output: $(head -n 1 "$WORK/ffprobe.txt") ($udp datagrams in the peer's status)"
