#!/usr/bin/env bash
# 20 peers started before a source that sends a 4 MiB random file at
# 2 Mbit/s: every peer's output is byte-identical to the input. With
# KILL_SHARE set (test_kill_peers.sh), that share of the peers is killed
# with SIGKILL half-way, and every survivor must still be byte-identical.
. "$(dirname "$0")/lib.sh"

PEERS=${PEERS:-20}
KILL_SHARE=${KILL_SHARE:-0}
RATE_KBPS=2000
SIZE_BYTES=$((4 * 1024 * 1024))

head -c "$SIZE_BYTES" /dev/urandom >"$WORK/input.bin"
start_control
# Mixed capacities: a quarter can feed several children, half about one
# substream's worth, a quarter nothing at all.
caps=(6000 4000 1000 500 0 2000 500 0)
peer_pids=()
for ((i = 0; i < PEERS; i++)); do
    start_peer "peer$i" --upload "${caps[i % ${#caps[@]}]}" --exit-on-end
    peer_pids+=("$LAST_PID")
done
wait_for_members "$PEERS"
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --listen 127.0.0.1:0 --linger-ms 8000
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

# The file lasts SIZE*8/RATE seconds; allow generous slack for sanitizers.
duration=$((SIZE_BYTES * 8 / (RATE_KBPS * 1000) + 1))
killed=()
if [ "$KILL_SHARE" != 0 ]; then
    sleep $((duration / 2))
    nkill=$(((PEERS * KILL_SHARE + 99) / 100))
    # Kill interior nodes first: peers with capacity are the ones whose loss hurts.
    for ((i = 0; i < nkill; i++)); do
        kill -KILL "${peer_pids[i]}"
        killed+=("$i")
    done
    echo "killed $nkill of $PEERS peers half-way"
fi

for ((i = 0; i < PEERS; i++)); do
    [[ " ${killed[*]} " == *" $i "* ]] && continue
    wait_exit "${peer_pids[i]}" $((duration + 60)) || fail "peer$i did not reach the end of the stream"
done
ok=0
for ((i = 0; i < PEERS; i++)); do
    [[ " ${killed[*]} " == *" $i "* ]] && continue
    cmp -s "$WORK/input.bin" "$WORK/peer$i.ts" || fail "peer$i output differs ($(stat -c %s "$WORK/peer$i.ts") bytes)"
    ok=$((ok + 1))
done
wait_exit "$SOURCE_PID" 30 || fail "source did not leave after its linger time"
echo "control status: $(cat "$WORK/control.json")"
pass "$ok peers byte-identical to the $SIZE_BYTES-byte input (${#killed[@]} killed)"
