#!/usr/bin/env bash
# The main job: a control center, a source streaming a real MPEG-TS video
# (made with ffmpeg's test sources) and 32 peers with mixed upload
# capacities, some leaving (cleanly and by SIGKILL) and others joining while
# it runs. Prints a live status line, then a summary and the URL of a peer's
# HTTP stream that VLC, mpv or ffplay opens.
#
# Usage: scripts/demo.sh PATH_TO_STRATA
#   DEMO_SECONDS=60  length of the measured run
#   DEMO_PEERS=32    peers at the start
#   DEMO_HOLD=N      after the summary, keep the channel live N more seconds so
#                    a player can open the URL (default 60 on a terminal, else 0)
#   DEMO_LATENCY=PATH  the RTT matrix the peers emulate (--latency/--host-index),
#                    so that they form several locality groups, each its own
#                    region (default: data/latency/planetlab490, four clusters
#                    of its hosts, see DEMO_HOSTS); none: all peers on loopback,
#                    one group
#   DEMO_HOSTS="I J ..."  the matrix hosts peer 0, 1, ... play, in turn (default
#                    with the shipped matrix: 8 hosts from each of four clusters,
#                    interleaved; with another matrix: 0 1 2 ...)
#   DEMO_CONTROL_ARGS="..."  more options for strata control (e.g.
#                    "--region-policy off" to see every group a region)
#   DEMO_HTTP=ADDR:PORT  where the control center serves the live topology page
#                    (default 127.0.0.1:0, a free port; the URL is printed first)
#
# The peers join locality groups first (the control center's default
# --regions locality makes each group a region); the summary lists the
# regions with their figures.
set -euo pipefail
STRATA=$(readlink -f "${1:?usage: $0 PATH_TO_STRATA}")
SECONDS_TOTAL=${DEMO_SECONDS:-60}
PEERS=${DEMO_PEERS:-32}
if [ -t 1 ]; then HOLD=${DEMO_HOLD:-60}; TTY=1; else HOLD=${DEMO_HOLD:-0}; TTY=0; fi
WORK=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")}
mkdir -p "$WORK"
PIDS=()
cleanup() {
    {
        for pid in "${PIDS[@]}"; do kill -TERM "$pid" || true; done
        sleep 0.5
        for pid in "${PIDS[@]}"; do kill -KILL "$pid" || true; done
        wait
    } 2>/dev/null
}
trap cleanup EXIT INT TERM

wait_for_line() {
    local file=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        [ -f "$file" ] && grep -qE "$re" "$file" && return 0
        sleep 0.05
    done
    echo "timed out waiting for $re in $file" >&2
    return 1
}
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" 2>/dev/null; }
# region_table URL: the control center's regions from URL/topology.json, a
# line each: members, heads, delivery and bytes uploaded by the current
# members (their latest heartbeats), and the matrix hosts they play (an
# emulating peer's address is 127.1.(I>>8).(I&255)).
region_table() {
    python3 - "$1" <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "topology.json", timeout=5) as r:
    doc = json.loads(r.read().decode())
regions = {}
for m in doc["members"]:
    if m["role"] != "source":
        regions.setdefault(m["region_dcm"], []).append(m)
print("   %-22s %7s %5s %9s %10s  %s" % ("region", "members", "heads", "delivery", "uploaded",
                                         "hosts played"))
for dcm, ms in sorted(regions.items(), key=lambda kv: -len(kv[1])):
    played = sum(m["played"] for m in ms)
    missed = sum(m["missed"] for m in ms)
    octets = [m["addr"].split(":")[0].split(".") for m in ms]
    hosts = sorted(int(o[2]) * 256 + int(o[3]) for o in octets if o[:2] == ["127", "1"])
    label = ms[0]["region"] or "(none)"
    if label.startswith("group:"):
        label = "group " + label[6:14]
    print("   %-22s %7d %5d %8.2f%% %7.1f MB  %s" % (
        label, len(ms), sum(m["dcm"] != m["region_dcm"] for m in ms),
        100.0 * played / (played + missed) if played + missed else 100.0,
        sum(m["tx_bytes"] for m in ms) / 1e6, " ".join(map(str, hosts)) or "-"))
PY
}
# Kills a peer without bash reporting "Killed" in the middle of the status line.
kill_quietly() { { kill "-$1" "$2" && wait "$2"; } 2>/dev/null || true; }

# Four clusters of planetlab490 hosts, interleaved so that fewer peers still
# spread over all four: around hosts 398, 442, 473 and 412 (those with the
# most neighbours within 12 ms, 100 ms or more apart), the nearest hosts that
# are within 20 ms of every host already taken and see the other three
# anchors within max(35 ms, 12 %) of what their own anchor sees (the group
# join test asks max(50 ms, 20 %) of a group's neighbour distances, so they
# pass it with a margin). The fourth cluster has 7 such hosts: 412 is played
# twice.
DEFAULT_LATENCY=$(dirname "$0")/../data/latency/planetlab490/planetlab490_median_rtt_ms.txt
LATENCY=${DEMO_LATENCY:-$DEFAULT_LATENCY}
[ "$LATENCY" = none ] && LATENCY=
if [ -n "$LATENCY" ]; then
    LATENCY=$(readlink -f "$LATENCY")
    [ -r "$LATENCY" ] || { echo "cannot read the latency matrix $LATENCY" >&2; exit 1; }
    if [ -z "${DEMO_HOSTS:-}" ] && [ "$LATENCY" = "$(readlink -f "$DEFAULT_LATENCY")" ]; then
        DEMO_HOSTS="398 442 473 412 323 443 472 396 224 19 37 71 315 20 124 58
                    217 241 433 212 38 340 273 119 40 261 193 110 379 404 419 412"
    fi
fi
read -r -a HOSTS <<<"$(echo ${DEMO_HOSTS:-})"

echo "== strata demo: $PEERS peers, ${SECONDS_TOTAL}s of live video; work dir $WORK"
# Eight bootstrap leaders (not 3): a newcomer then hears of every group of
# the four clusters; with 3 drawn among 4 or more, one in four misses its
# own cluster's, finds no group near enough and founds a group of one.
# shellcheck disable=SC2086 # DEMO_CONTROL_ARGS: options, word-split on purpose
"$STRATA" control --listen 127.0.0.1:0 --status-file "$WORK/control.json" --bootstrap-leaders 8 \
    --http "${DEMO_HTTP:-127.0.0.1:0}" ${DEMO_CONTROL_ARGS:-} >"$WORK/control.out" 2>"$WORK/control.log" &
PIDS+=($!)
wait_for_line "$WORK/control.out" 'listening' 10
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
PAGE=$(sed -n 's/.* http \(http:[^ ]*\).*/\1/p' "$WORK/control.out")
echo "-- control center on $CONTROL"
echo "-- live topology: open $PAGE in a browser (regions, trees, delivery, upload; it updates every second)"
if [ -n "$LATENCY" ]; then
    echo "-- peers emulate hosts of $(basename "$LATENCY") (delay between them as measured there)"
else
    echo "-- peers on loopback without delay: one locality group, one region"
fi

# The video is shorter than the run so that every peer present throughout
# holds at least one whole copy to compare; the source repeats it.
VIDEO_SECONDS=$((SECONDS_TOTAL * 3 / 4 > 8 ? SECONDS_TOTAL * 3 / 4 : 8))
echo "-- encoding a ${VIDEO_SECONDS}s test video (H.264 + AAC in MPEG-TS) with ffmpeg"
ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
    -t "$VIDEO_SECONDS" -c:v libx264 -preset veryfast -tune zerolatency -b:v 900k -maxrate 1000k \
    -bufsize 1000k -g 50 -pix_fmt yuv420p -c:a aac -b:a 96k -f mpegts "$WORK/input.ts"
bytes=$(stat -c %s "$WORK/input.ts")
RATE=$((bytes * 8 / VIDEO_SECONDS / 1000 + 1))
echo "   $bytes bytes, $RATE kbit/s"

# Mixed upload capacities (kbit/s) around the stream rate: fibre, cable, DSL, mobile;
# peer i takes caps[(i + i/4) % 8], so that each of the four clusters (peers i, i+4,
# i+8 ...) gets every kind, not two of them.
caps=($((RATE * 6)) $((RATE * 3)) $((RATE * 2)) $RATE $RATE $((RATE / 2)) $((RATE / 2)) 0)
declare -A PEER_PID
next_peer=0
start_peer() {
    local i=$next_peer extra=("$@")
    next_peer=$((next_peer + 1))
    local net=(--listen 127.0.0.1:0)
    if [ -n "$LATENCY" ]; then
        local host=$i
        [ ${#HOSTS[@]} -gt 0 ] && host=${HOSTS[i % ${#HOSTS[@]}]}
        net=(--latency "$LATENCY" --host-index "$host")
    fi
    "$STRATA" peer --control "$CONTROL" --channel demo "${net[@]}" \
        --upload "${caps[(i + i / 4) % ${#caps[@]}]}" --output "$WORK/peer$i.ts" --status-file "$WORK/peer$i.json" \
        "${extra[@]}" >"$WORK/peer$i.out" 2>"$WORK/peer$i.log" &
    PEER_PID[$i]=$!
    PIDS+=($!)
}
start_peer --http 127.0.0.1:0        # peer0 serves HTTP and stays for the whole run
wait_for_line "$WORK/peer0.out" 'http://' 10
URL=$(sed -n 's/.* http \(http:[^ ]*\).*/\1/p' "$WORK/peer0.out")
# The first peers (one per cluster with the default hosts) found the groups
# before the others arrive: peers that all start at once before any group
# exists each found their own, and a cluster ends up split in several; the
# others come 0.15 s apart, as arrivals do, not all in one instant.
FIRST=$((PEERS < 4 ? PEERS : 4))
for ((n = 1; n < FIRST; n++)); do start_peer; done
for ((t = 0; t < 100; t++)); do
    grouped=0
    for ((n = 0; n < FIRST; n++)); do
        grep -qE '"group":\{"state":[23],' "$WORK/peer$n.json" 2>/dev/null && grouped=$((grouped + 1))
    done
    [ $grouped -eq $FIRST ] && break
    sleep 0.1
done
echo "-- the first $FIRST peers are in their groups after $((t / 10)) s; starting the others"
for ((n = FIRST; n < PEERS; n++)); do start_peer; sleep 0.15; done
echo "-- $PEERS peers started; peer0 serves $URL"
# The broadcast starts once the audience is in: each peer first joins a
# locality group (seconds with emulated delay), then the channel, and a
# peer that joins after the first packet starts where the live stream is.
for ((t = 0; t < 600; t++)); do
    [ "$(field "$WORK/control.json" peers)" = "$PEERS" ] && break
    sleep 0.1
done
echo "-- $(field "$WORK/control.json" peers) of $PEERS peers have joined the channel after $((t / 10)) s"

"$STRATA" source --control "$CONTROL" --channel demo --input "$WORK/input.ts" --rate "$RATE" --loop \
    --listen 127.0.0.1:0 --linger-ms 1000 >"$WORK/source.out" 2>"$WORK/source.log" &
SOURCE_PID=$!
PIDS+=($SOURCE_PID)
wait_for_line "$WORK/source.out" 'listening' 10
echo "-- source streaming at $RATE kbit/s (the video repeats until the demo ends)"

# Churn plan: at 1/4 of the run two peers leave cleanly and two are killed;
# at 1/2 four new peers join; at 3/4 two more are killed.
left=(); killed=(); joined=()
status_line() {
    local c=$WORK/control.json t=$1
    [ -f "$c" ] || return 0
    local peers dcms delivery ptx stx detached depth groups
    peers=$(field "$c" peers); dcms=$(field "$c" dcms); delivery=$(field "$c" delivery)
    ptx=$(field "$c" peer_tx_bytes); stx=$(field "$c" source_tx_bytes)
    detached=$(field "$c" detached_pairs); depth=$(field "$c" max_depth)
    groups=$(field "$c" groups)
    awk -v t="$t" -v p="${peers:-0}" -v r="${dcms:-0}" -v g="${groups:-0}" -v dep="${depth:-0}" \
        -v det="${detached:-0}" -v d="${delivery:-0}" -v ptx="${ptx:-0}" -v stx="${stx:-0}" 'BEGIN {
        printf "\r[%3ds] peers %3d | groups %d, DCMs %d, depth %d, detached %d | delivery %6.2f%% | from peers %6.1f MB, from source %5.1f MB   ",
            t, p, g, r, dep, det, d * 100, ptx / 1e6, stx / 1e6 }'
}
for ((t = 1; t <= SECONDS_TOTAL; t++)); do
    sleep 1
    if [ $t -eq $((SECONDS_TOTAL / 4)) ]; then
        for i in 3 4; do kill_quietly TERM "${PEER_PID[$i]}"; left+=($i); done
        for i in 1 5; do kill_quietly KILL "${PEER_PID[$i]}"; killed+=($i); done
        printf '\n-- churn: peers 3,4 left cleanly; peers 1,5 killed with SIGKILL\n'
    fi
    if [ $t -eq $((SECONDS_TOTAL / 2)) ]; then
        for _ in 1 2 3 4; do joined+=($next_peer); start_peer; done
        printf '\n-- churn: peers %s joined\n' "${joined[*]}"
    fi
    if [ $t -eq $((SECONDS_TOTAL * 3 / 4)) ]; then
        for i in 2 9; do kill_quietly KILL "${PEER_PID[$i]}"; killed+=($i); done
        printf '\n-- churn: peers 2,9 killed with SIGKILL\n'
    fi
    if [ $t -eq $((SECONDS_TOTAL / 3)) ] && command -v ffprobe >/dev/null; then
        # A player's view, in the background so the status line keeps its pace.
        (timeout 15 ffprobe -v error -show_entries stream=codec_type,codec_name,width,height \
            -of csv=p=0 "$URL" 2>/dev/null | sort -u | tr '\n' ' ' >"$WORK/ffprobe.txt") &
    fi
    if [ -s "$WORK/ffprobe.txt" ] && [ ! -f "$WORK/ffprobe.shown" ]; then
        printf '\n-- player check: ffprobe %s sees: %s\n' "$URL" "$(cat "$WORK/ffprobe.txt")"
        touch "$WORK/ffprobe.shown"
    fi
    status_line "$t"
    [ $TTY -eq 1 ] || echo
done
echo

# Summary: peers present for the whole run hold the exact video, repeated;
# the first copy is compared byte for byte.
identical=0; whole=0
for ((i = 0; i < PEERS; i++)); do
    [[ " ${left[*]} ${killed[*]} " == *" $i "* ]] && continue
    whole=$((whole + 1))
    [ "$(stat -c %s "$WORK/peer$i.ts")" -ge "$bytes" ] && cmp -s -n "$bytes" "$WORK/input.ts" "$WORK/peer$i.ts" \
        && identical=$((identical + 1))
done
c=$WORK/control.json
ptx=$(field "$c" peer_tx_bytes); stx=$(field "$c" source_tx_bytes)
echo "== summary"
echo "   peers now:            $(field "$c" peers) (joined $(field "$c" joins), left $(field "$c" leaves), died $(field "$c" deaths))"
pct() { awk -v x="${1:-0}" 'BEGIN { printf "%.2f", x * 100 }'; }
echo "   delivery:             $(pct "$(field "$c" delivery)")% of packets played on time"
echo "   bytes from peers:     $ptx"
echo "   bytes from source:    $stx  (peer share $(pct "$(field "$c" p2p_share)")%)"
echo "   tree repairs:         $(field "$c" reparents) reparents, $(field "$c" instructions_sent) instructions sent"
echo "   whole-run peers with byte-identical output: $identical of $whole"
echo "   regions (one per locality group; $(field "$c" groups) groups known to the control center):"
region_table "$PAGE" || echo "   (the control center's topology could not be read)"
echo "   open the live stream of a peer: $URL   (e.g. mpv $URL  or  ffplay $URL)"
echo "   logs and outputs: $WORK"
if [ "$HOLD" -gt 0 ]; then
    echo "-- the channel stays live for ${HOLD}s more: open $URL in a player (Ctrl-C ends the demo)"
    sleep "$HOLD"
fi
