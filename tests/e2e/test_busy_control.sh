#!/usr/bin/env bash
# A control center that was not scheduled for a while (a busy machine:
# here SIGSTOP for twice the time after which it declares a silent node
# dead) must not declare dead the peers whose heartbeats wait unread in its
# socket when it runs again: it reads what arrived before it judges
# silence (host/node.c, on_timer). No death, no rejoin, and the stream
# plays on byte for byte.
. "$(dirname "$0")/lib.sh"

head -c $((512 * 1024)) /dev/urandom >"$WORK/input.bin"
start_control --heartbeat-ms 250
PEERS=3
for ((i = 0; i < PEERS; i++)); do
    start_viewer "peer$i" --channel test --output "$WORK/peer$i.ts" --upload 2000
    pids[i]=$LAST_PID
done
wait_for_members $PEERS
# 512 KiB at 256 kbit/s: 16 s.
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate 256 --listen 127.0.0.1:0 --linger-ms 2000
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
sleep 4
# A node silent for 3.5 heartbeats (875 ms) is dead: stopped for 2 s.
kill -STOP "$CONTROL_PID"
sleep 2
kill -CONT "$CONTROL_PID"
for ((i = 0; i < PEERS; i++)); do
    wait_exit "${pids[i]}" 60 || fail "peer$i did not reach the end of the stream"
    cmp -s "$WORK/input.bin" "$WORK/peer$i.ts" || fail "peer$i output differs"
done
deaths=$(json_field "$WORK/control.json" deaths)
[ "${deaths:-x}" = 0 ] || fail "the control center declared $deaths nodes dead: $(grep dead "$WORK/control.log")"
# One JOIN each (the source's too): nobody was told UNKNOWN and joined again.
joins=$(json_field "$WORK/control.json" joins)
[ "${joins:-x}" = $((PEERS + 1)) ] || fail "$joins joins for $((PEERS + 1)) nodes: $(grep -i join "$WORK"/peer*.log)"
pass "a control center stopped for 2 s declared nobody dead; $PEERS peers byte-identical, none joined again"
