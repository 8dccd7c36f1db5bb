#!/usr/bin/env bash
# A real player-side check: ffmpeg encodes a test pattern to MPEG-TS and
# sends it over UDP to the source; ffprobe opens a peer's HTTP stream and
# must find the video stream.
. "$(dirname "$0")/lib.sh"
command -v ffmpeg >/dev/null || fail "ffmpeg is not installed (scripts/install-deps.sh test installs it)"

start_control
for i in 0 1 2; do
    start_peer "peer$i" --upload 3000 --http 127.0.0.1:0
done
HTTP=$PEER_HTTP
[ -n "$HTTP" ] || fail "peer2 printed no HTTP address"

# A UDP port for the source's ingest, chosen by the system.
INGEST_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start source source --control "$CONTROL" --channel test --input "udp://127.0.0.1:$INGEST_PORT" \
    --rate 1500 --listen 127.0.0.1:0
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
wait_for_line "$WORK/source.log" 'channel announced' 10 || fail "source not announced"

# 20 s of a moving test pattern at about 1 Mbit/s, sent in real time.
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=25 -t 20 \
    -c:v mpeg2video -b:v 800k -maxrate 1000k -bufsize 500k -g 25 \
    -f mpegts "udp://127.0.0.1:$INGEST_PORT?pkt_size=1316" >"$WORK/ffmpeg.log" 2>&1 &
PIDS+=($!)

# Give the stream a moment to reach the peer, then probe the live HTTP stream.
wait_for_line "$WORK/peer2.json" '"played_packets":[1-9]' 20 || fail "peer2 plays nothing"
timeout 30 ffprobe -v error -probesize 500000 -analyzeduration 2000000 \
    -show_entries stream=codec_type,codec_name,width,height -of csv=p=0 "$HTTP" \
    >"$WORK/ffprobe.txt" 2>"$WORK/ffprobe.log" || fail "ffprobe could not read $HTTP: $(cat "$WORK/ffprobe.log")"
echo "ffprobe: $(cat "$WORK/ffprobe.txt")"
grep -q '^mpeg2video,video,320,240' "$WORK/ffprobe.txt" || fail "no 320x240 mpeg2video stream in $HTTP"
pass "ffprobe found the video stream at $HTTP"
