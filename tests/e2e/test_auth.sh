#!/usr/bin/env bash
# No node speaks for another (docs/security.md; issue 13 item 3): a control
# center, two sources and three peers, one of them in both channels, all
# with fixed node ids, and a hostile process on the same machine
# (forge_auth.py) that knows those ids. From its own address it sends the
# control center HEARTBEATs, LEAVEs and JOINs naming a peer, the two-channel
# peer and a source; from the control center's address (spoofed) it sends
# the peers INSTRUCTIONs with a higher epoch naming itself as their child,
# and UNKNOWNs. Every honest output must be byte-identical to its input,
# every forgery counted ("auth" in the status JSON's drops), and no DATA
# reach the forger (nothing was redirected to it). a1 pins the control
# center's key (--control-key, from the status of a control center started
# with --key); the others trust it on first use. About 7 s.
. "$(dirname "$0")/lib.sh"

RATE_KBPS=2000
SIZE_BYTES=$((1024 * 1024))
ROUNDS=${ROUNDS:-8}
head -c "$SIZE_BYTES" /dev/urandom >"$WORK/live.bin"
head -c "$SIZE_BYTES" /dev/urandom >"$WORK/film.bin"

start_control --key "$WORK/control.key"
[ -s "$WORK/control.key" ] || fail "strata control --key did not make its key file"
KEY=$(sed -n 's/.*"control_key":"\([0-9a-f]*\)".*/\1/p' "$WORK/control.json")
[ ${#KEY} = 64 ] || fail "no control_key in the status: $(cat "$WORK/control.json")"
start_viewer a1 --node-id a1 --no-groups --upload 6000 --control-key "$KEY" \
    --channel test --output "$WORK/a1.ts"
A1_PID=$LAST_PID
A1=$(sed -n 's/^strata peer [0-9a-f]* listening on udp \([0-9.:]*\).*/\1/p' "$WORK/a1.out")
start_viewer a2 --node-id a2 --no-groups --upload 6000 --channel test --output "$WORK/a2.ts"
A2_PID=$LAST_PID
A2=$(sed -n 's/^strata peer [0-9a-f]* listening on udp \([0-9.:]*\).*/\1/p' "$WORK/a2.out")
start_viewer b2 --node-id b2 --no-groups --upload 12000 --channel test --output "$WORK/b2-test.ts" \
    --channel film --output "$WORK/b2-film.ts"
B2_PID=$LAST_PID
B2=$(sed -n 's/^strata peer [0-9a-f]* listening on udp \([0-9.:]*\).*/\1/p' "$WORK/b2.out")
wait_for_members 4 # a1, a2 and b2 in two channels

python3 "$(dirname "$0")/forge_auth.py" "$CONTROL" "$ROUNDS" a1/test b2/film 5/test -- \
    "$A1/a1/test" "$A2/a2/test" "$B2/b2/test" "$B2/b2/film" >"$WORK/forger.out" 2>"$WORK/forger.log" &
FORGER=$!
PIDS+=("$FORGER")
for ch in test film; do
    id=5; [ $ch = film ] && id=6
    start "source-$ch" source --control "$CONTROL" --channel $ch --input "$WORK/$( [ $ch = test ] && echo live || echo film).bin" \
        --rate "$RATE_KBPS" --listen 127.0.0.1:0 --linger-ms 1000 --node-id $id
done
wait $FORGER || fail "the forger failed: $(cat "$WORK/forger.log")"
read -r control spoofed data raw <<<"$(cat "$WORK/forger.out")"
control=${control#control=}
data=${data#data=}

for pid in $A1_PID $A2_PID $B2_PID; do
    wait_exit "$pid" 30 || fail "a peer did not reach the end of its streams"
done
cmp -s "$WORK/live.bin" "$WORK/a1.ts" || fail "a1's output differs"
cmp -s "$WORK/live.bin" "$WORK/a2.ts" || fail "a2's output differs"
cmp -s "$WORK/live.bin" "$WORK/b2-test.ts" || fail "b2's output of test differs"
cmp -s "$WORK/film.bin" "$WORK/b2-film.ts" || fail "b2's output of film differs"
[ "$data" = 0 ] || fail "$data DATA datagrams reached the forger"

# Every forgery counted where it was aimed. The control center's status is
# rewritten every second: wait for the last ones.
wait_for_line "$WORK/control.json" "\"auth\":$control[,}]" 5 \
    || fail "the control center counted $(json_field "$WORK/control.json" auth) of $control forgeries"
# A heartbeat naming a node the control center forgot (a source that has
# left, say) with a huge epoch must not pass for one from before a restart.
grep -q 'nodes from before a restart' "$WORK/control.log" && fail "a forged epoch opened a recovery window"
if [ "$raw" = raw=1 ]; then
    for entry in $(echo "${spoofed#spoofed=}" | tr ',' ' '); do
        addr=${entry%:*} n=${entry##*:}
        case $addr in
        "$A1") f=a1 ;;
        "$A2") f=a2 ;;
        "$B2") f=b2; n=$((n)) ;;
        *) fail "forger named an unknown target $addr" ;;
        esac
        echo "$f $n" >>"$WORK/expected"
    done
    for f in a1 a2 b2; do
        want=$(awk -v f=$f '$1 == f { s += $2 } END { print s + 0 }' "$WORK/expected")
        got=$(json_field "$WORK/$f.json" auth)
        [ "$got" = "$want" ] || fail "$f counted $got of $want forged INSTRUCTIONs"
    done
    spoof_note="$(awk '{ s += $2 } END { print s }' "$WORK/expected") INSTRUCTIONs from the control center's address refused"
else
    spoof_note="no raw socket (not root): INSTRUCTIONs from the control center's address not tried"
fi
pass "every output byte-identical; the control center refused $control forged HEARTBEATs, LEAVEs and JOINs naming known nodes; $spoof_note; no DATA reached the forger"
