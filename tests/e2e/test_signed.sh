#!/usr/bin/env bash
# Signed streams (SPEC P3, docs/security.md): a control center, a source
# signing with a key from `strata keygen`, and four peers given the public
# key, as separate processes over real UDP. While the 2 MiB stream flows, a
# forger (forge.py, from its own address) sends one peer DATA packets with
# garbage payloads and old send times, and end-of-stream markers, around
# the live edge. Every output must be byte-identical to the input, the
# victim must have counted the forgeries and relayed none of them, and a
# peer given a wrong key must play nothing and count what it dropped. The
# forger sends from an address that is none of the victim's parents, so
# the sender checks drop its packets (counted "sender") before the
# verifier would (test_peer_sign has a forger that spoofs the source).
. "$(dirname "$0")/lib.sh"

PEERS=4
RATE_KBPS=4000
SIZE_BYTES=$((2 * 1024 * 1024))

head -c "$SIZE_BYTES" /dev/urandom >"$WORK/input.bin"
"$STRATA" keygen --out "$WORK/channel.key" >"$WORK/channel.pub.out" || fail "keygen failed"
PUB=$(cat "$WORK/channel.key.pub")
[ "$PUB" = "$(cat "$WORK/channel.pub.out")" ] || fail "keygen printed another key than it wrote"
[ "$(stat -c %a "$WORK/channel.key")" = 600 ] || fail "the secret key file is not 0600"
"$STRATA" keygen --out "$WORK/channel.key" >/dev/null 2>&1 && fail "keygen overwrote a key"
"$STRATA" keygen --out "$WORK/wrong.key" >/dev/null

start_control
peer_pids=()
for ((i = 0; i < PEERS; i++)); do
    start_peer "peer$i" --no-groups --upload 8000 --exit-on-end --channel-key "$PUB"
    peer_pids+=("$LAST_PID")
    [ "$i" = 0 ] && VICTIM=$PEER_ADDR
done
start_peer wrongkey --no-groups --upload 0 --channel-key "$(cat "$WORK/wrong.key.pub")"
WRONG_PID=$LAST_PID
wait_for_members $((PEERS + 1))
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --listen 127.0.0.1:0 --linger-ms 3000 \
    --channel-key-file "$WORK/channel.key"
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
wait_for_line "$WORK/source.log" 'channel announced' 10 || fail "source not announced"

duration=$((SIZE_BYTES * 8 / (RATE_KBPS * 1000) + 1))
python3 "$(dirname "$0")/forge.py" "$VICTIM" test "$duration" 200 >"$WORK/forge.out" \
    || fail "the forger failed"
echo "forged datagrams sent to $VICTIM: $(cat "$WORK/forge.out")"

for ((i = 0; i < PEERS; i++)); do
    wait_exit "${peer_pids[i]}" $((duration + 40)) || fail "peer$i did not reach the end of the stream"
done
for ((i = 0; i < PEERS; i++)); do
    cmp -s "$WORK/input.bin" "$WORK/peer$i.ts" \
        || fail "peer$i output differs ($(stat -c %s "$WORK/peer$i.ts") bytes)"
done
# The status file of a peer that exits is its last word (rewritten at exit).
forged=$(json_field "$WORK/peer0.json" forged_packets)
sender=$(json_field "$WORK/peer0.json" sender)
verified=$(json_field "$WORK/peer0.json" verified_packets)
echo "victim: $forged forged packets and $sender from a stranger dropped, $verified verified"
[ $((${forged:-0} + ${sender:-0})) -gt 0 ] \
    || fail "the victim counted no forgery: $(cat "$WORK/peer0.json")"
for ((i = 1; i < PEERS; i++)); do
    f=$(json_field "$WORK/peer$i.json" forged_packets)
    [ "${f:-0}" = 0 ] || fail "peer$i was sent $f forged packets: the victim relayed them"
done
# The wrong key: nothing played, every packet dropped unverified (its
# status file is rewritten every second).
wait_for_line "$WORK/wrongkey.json" '"unverified_packets":[1-9]' 10 \
    || fail "the peer with the wrong key counted no drop: $(cat "$WORK/wrongkey.json")"
wrong_played=$(json_field "$WORK/wrongkey.json" played_bytes)
wrong_unverified=$(json_field "$WORK/wrongkey.json" unverified_packets)
[ "${wrong_played:-1}" = 0 ] || fail "the peer with the wrong key played $wrong_played bytes"
[ "${wrong_unverified:-0}" -gt 0 ] || fail "the peer with the wrong key counted no drop"
[ -s "$WORK/wrongkey.ts" ] && fail "the peer with the wrong key wrote output"
kill -TERM "$WRONG_PID"
wait_exit "$SOURCE_PID" 30 || fail "source did not leave after its linger time"
pass "$PEERS signed outputs byte-identical; $forged forged packets and $sender from a stranger counted at the victim, none relayed; a wrong key plays nothing ($wrong_unverified dropped unverified)"
