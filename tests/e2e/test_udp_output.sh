#!/usr/bin/env bash
# UDP output (SPEC P2, issue 12 item 6): `strata peer --output udp://ADDR:PORT`
# sends the played MPEG-TS as datagrams of 7 whole TS packets. Two peers
# watch a 2 s H.264 stream made by ffmpeg: the first sends it to a Python
# receiver, which must get every byte of the input, in datagrams of 1316
# bytes (the last shorter) that each start with a TS sync byte; the second
# sends it to ffprobe reading udp://, which must find the H.264 video at its
# size. A malformed udp:// output is a usage error.
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

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The receiver binds first and says so; it stops once it has the input's
# length or 3 s after the last datagram.
python3 - "$WORK/recv.port" "$WORK/recv.ts" "$WORK/recv.sizes" "$bytes" <<'PY' &
import socket, sys
port_file, out, sizes_file, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", 0))
open(port_file + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(port_file + ".tmp", port_file)
s.settimeout(30)
got, sizes = bytearray(), []
while len(got) < want:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    s.settimeout(3)
    got += d
    sizes.append(len(d))
open(out, "wb").write(got)
open(sizes_file, "w").write(" ".join(map(str, sizes)))
PY
RECV_PID=$!
PIDS+=($RECV_PID)
for ((i = 0; i < 100; i++)); do [ -s "$WORK/recv.port" ] && break; sleep 0.05; done
[ -s "$WORK/recv.port" ] || fail "the receiver did not start"
PROBE_PORT=$(free_port)

start_control
start_viewer peer0 --channel test --no-groups --output "udp://127.0.0.1:$(cat "$WORK/recv.port")"
start_viewer peer1 --channel test --no-groups --output "udp://127.0.0.1:$PROBE_PORT"
wait_for_members 2
timeout 20 ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 \
    -probesize 32768 -analyzeduration 200000 -fpsprobesize 0 \
    "udp://127.0.0.1:$PROBE_PORT?timeout=15000000" >"$WORK/ffprobe.txt" 2>"$WORK/ffprobe.log" &
PROBE_PID=$!
PIDS+=($PROBE_PID)
# ffprobe is ready once its port is taken (it binds without SO_REUSEADDR).
python3 - "$PROBE_PORT" <<'PY' || fail "ffprobe did not bind udp port $PROBE_PORT: $(cat "$WORK/ffprobe.log")"
import socket, sys, time
for _ in range(200):
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
start source source --control "$CONTROL" --channel test --input "$WORK/input.ts" --rate "$RATE" \
    --listen 127.0.0.1:0
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

wait "$RECV_PID" || fail "the receiver failed"
got=$(stat -c %s "$WORK/recv.ts")
cmp "$WORK/input.ts" "$WORK/recv.ts" \
    || fail "the UDP output differs from the input ($got of $bytes bytes received)"
python3 - "$WORK/recv.sizes" "$WORK/recv.ts" <<'PY' || fail "datagrams are not 7 TS packets each"
import sys
sizes = list(map(int, open(sys.argv[1]).read().split()))
data = open(sys.argv[2], "rb").read()
bad = [n for n in sizes[:-1] if n != 1316] + ([sizes[-1]] if sizes[-1] % 188 or sizes[-1] > 1316 else [])
off = 0
for n in sizes:
    if data[off] != 0x47:
        bad.append("no sync byte at %d" % off)
    off += n
print("%d datagrams, %d bytes; last %d" % (len(sizes), off, sizes[-1]))
sys.exit(1 if bad else 0)
PY
pass "the UDP output carries the whole input ($bytes bytes) in datagrams of 7 TS packets"

wait "$PROBE_PID" || fail "ffprobe failed: $(cat "$WORK/ffprobe.log")"
grep -q '^h264,320,240' "$WORK/ffprobe.txt" \
    || fail "ffprobe did not find the video: $(cat "$WORK/ffprobe.txt" "$WORK/ffprobe.log")"
udp=$(sed -n 's/.*"udp":{"datagrams":\([0-9]*\).*/\1/p' "$WORK/peer1.json")
[ "${udp:-0}" -gt 0 ] || fail "peer1's status counts no UDP datagram: $(cat "$WORK/peer1.json")"
pass "ffprobe reads the UDP output: $(tr '\n' ' ' <"$WORK/ffprobe.txt")($udp datagrams)"
