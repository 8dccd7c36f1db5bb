#!/usr/bin/env bash
# Several contents per node (SPEC C12): 30 peers on two channels at once,
# a live stream at 2 Mbit/s and a file sent at 4 Mbit/s, each peer
# watching one or both on one socket. Every output is byte-identical to
# its input, the live channel (priority 0) misses nothing while the file
# runs beside it, and the control center shares the upload of the peers
# in both channels by priority: the live channel keeps what its trees can
# use (64 children x rate / k = 32 Mbit/s), the file gets the rest.
#
# The file's own viewers and the peers in both channels have too little
# upload for it, so the control center recruits relays (SPEC C5, C12):
# peers that watch only the live channel and have upload it cannot use
# relay the file without playing it. Such a relay forwards the file and
# writes none of it.
#
# LIVE_S and FILE_MIB size the run (defaults: 24 s of live stream, a
# 10 MiB file, about as long); FILE_MIB=20 is the full-size figure.
. "$(dirname "$0")/lib.sh"

PEERS=${PEERS:-30}
LIVE_KBPS=2000
FILE_KBPS=4000
LIVE_S=${LIVE_S:-24}
FILE_MIB=${FILE_MIB:-10}
LIVE_BYTES=$((LIVE_KBPS * 1000 / 8 * LIVE_S))
FILE_BYTES=$((FILE_MIB * 1024 * 1024))
BOTH_UPLOAD=34000 # live share 32000 (what its trees can use), file share 2000
RICH_UPLOAD=80000 # a live-only peer with 48000 kbps its channel cannot use

head -c "$LIVE_BYTES" /dev/urandom >"$WORK/live.in"
head -c "$FILE_BYTES" /dev/urandom >"$WORK/file.in"
start_control

# Peer i watches: both channels (i % 3 == 0), the live one (1), the file (2);
# live-only peers with i % 6 == 1 are rich, the rest have a little.
caps=(1000 500 0 2000 500 0)
watch=()
members=0
peer_pids=()
for ((i = 0; i < PEERS; i++)); do
    case $((i % 3)) in
    0) args=(--channel live:0 --channel file:1 --output "$WORK/p$i.live" --output "$WORK/p$i.file"
             --upload "$BOTH_UPLOAD"); watch+=("live file"); members=$((members + 2)) ;;
    1) up=${caps[i % ${#caps[@]}]}; [ $((i % 6)) = 1 ] && up=$RICH_UPLOAD
       args=(--channel live --output "$WORK/p$i.live" --upload "$up")
       watch+=("live"); members=$((members + 1)) ;;
    2) args=(--channel file --output "$WORK/p$i.file" --upload "${caps[i % ${#caps[@]}]}")
       watch+=("file"); members=$((members + 1)) ;;
    esac
    start_viewer "p$i" "${args[@]}"
    peer_pids+=("$LAST_PID")
done
wait_for_members "$members"

# The live channel runs. Then the file channel is announced, its source
# reading a pipe that stays empty (a broadcaster on air before the show):
# its trees learn the rate, the control center finds the file's viewers
# short of upload and recruits relays, and only then does the file start.
start source_live source --control "$CONTROL" --channel live --input "$WORK/live.in" \
    --rate "$LIVE_KBPS" --listen 127.0.0.1:0 --linger-ms 8000
LIVE_PID=$LAST_PID
wait_for_line "$WORK/source_live.out" '^strata source ' 10 || fail "live source not ready"
mkfifo "$WORK/file.fifo"
exec 3<>"$WORK/file.fifo"
"$STRATA" source --control "$CONTROL" --channel file --input - --rate "$FILE_KBPS" \
    --listen 127.0.0.1:0 --linger-ms 8000 <"$WORK/file.fifo" >"$WORK/source_file.out" \
    2>"$WORK/source_file.log" 3>&- &
FILE_PID=$!
PIDS+=("$FILE_PID")
wait_for_line "$WORK/source_file.out" '^strata source ' 10 || fail "file source not ready"
wait_for_line "$WORK/control.json" '"detached_pairs":0,' 20 ||
    fail "the file's trees were not completed: $(cat "$WORK/control.json")"
wait_for_line "$WORK/control.json" '"relays":[1-9]' 20 ||
    fail "no relay was recruited: $(cat "$WORK/control.json")"
# The file, at its rate, into the pipe; then the end of it.
python3 - "$WORK/file.in" "$FILE_KBPS" <<'PY' >&3 &
import sys, time
data, rate = open(sys.argv[1], "rb").read(), int(sys.argv[2]) * 1000 / 8
out, chunk, t0 = sys.stdout.buffer, 13160, time.monotonic()
for off in range(0, len(data), chunk):
    delay = t0 + off / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    out.write(data[off:off + chunk])
    out.flush()
PY
FEED_PID=$!
PIDS+=("$FEED_PID")

# The CPU one process spends on both channels: p0's, sampled each second.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
( start_ns=$(date +%s%N); last=0
  while kill -0 "${peer_pids[0]}" 2>/dev/null; do
      t=$(cpu_of "${peer_pids[0]}") && [ -n "$t" ] && last=$t
      echo "$last $(( ($(date +%s%N) - start_ns) / 1000000 ))" >"$WORK/p0.cpu"
      sleep 1
  done ) 3>&- &

longest=$(((LIVE_BYTES > FILE_BYTES / 2 ? LIVE_S : FILE_BYTES * 8 / (FILE_KBPS * 1000)) + 1))
wait "$FEED_PID" || fail "feeding the file failed"
exec 3>&- # the end of the file's input
for ((i = 0; i < PEERS; i++)); do
    wait_exit "${peer_pids[i]}" $((longest + 90)) || fail "p$i did not reach the end of its streams"
done
for ((i = 0; i < PEERS; i++)); do
    for c in ${watch[i]}; do
        cmp -s "$WORK/$c.in" "$WORK/p$i.$c" ||
            fail "p$i's $c output differs ($(stat -c %s "$WORK/p$i.$c") bytes)"
    done
done
# The live channel missed nothing at any peer that watched it; and the
# peers in both channels uploaded in both.
# Who relays what: the recruited relays forwarded the file and wrote none
# of it (they have no file output; their status says relay).
for ((i = 0; i < PEERS; i++)); do
    [ -e "$WORK/p$i.file" ] && [[ " ${watch[i]} " != *" file "* ]] && fail "p$i wrote a file it relays"
done
python3 - "$WORK" "$PEERS" <<'PY' || fail "channel figures"
import json, sys
work, peers = sys.argv[1], int(sys.argv[2])
relays = []
for i in range(peers):
    for ch in json.load(open(f"{work}/p{i}.json"))["channels"]:
        if ch["relay"]:
            relays.append((i, ch["name"], ch["tx_data_bytes"], ch["rx_data_bytes"]))
print("recruited relays: " + ", ".join(f"p{i} relays {n} ({tx} bytes sent, {rx} received)"
                                       for i, n, tx, rx in relays))
if not relays:
    sys.exit("no relay was recruited")
if any(n != "file" or tx == 0 for i, n, tx, rx in relays):
    sys.exit("a relay of the wrong channel, or one that forwarded nothing")
live_missed = 0
both_tx = {"live": 0, "file": 0}
for i in range(peers):
    st = json.load(open(f"{work}/p{i}.json"))
    for ch in st["channels"]:
        if ch["name"] == "live":
            live_missed += ch["missed_packets"]
        if i % 3 == 0:
            both_tx[ch["name"]] += ch["tx_data_bytes"]
print(f"live channel: {live_missed} packets missed; peers in both channels uploaded "
      f"{both_tx['live']} bytes of live, {both_tx['file']} of the file")
for name in ("live", "file"):
    played = missed = 0
    for i in range(peers):
        for ch in json.load(open(f"{work}/p{i}.json"))["channels"]:
            if ch["name"] == name:
                played += ch["played_packets"]
                missed += ch["missed_packets"]
    print(f"{name}: delivery {played / max(1, played + missed):.6f} ({missed} missed)")
if live_missed:
    sys.exit("the live channel missed packets while the file ran")
if both_tx["live"] == 0:
    sys.exit("the nodes in both channels did not relay the first one")
PY
read -r ticks ms <"$WORK/p0.cpu"
echo "p0 (both channels): $((ticks * 1000 / $(getconf CLK_TCK))) ms of CPU over ${ms} ms of streaming"
wait_exit "$LIVE_PID" 30 || fail "live source did not leave"
wait_exit "$FILE_PID" 30 || fail "file source did not leave"
echo "control status: $(cat "$WORK/control.json")"
pass "$PEERS peers on two channels ($members memberships): every output byte-identical"
