#!/usr/bin/env bash
# Channel access (docs/security.md, "Channel access"): an operator key from
# `strata token keygen`, a control center given its public half, a source
# and a peer with tokens `strata token issue` made for them, and three
# peers that must be refused: no token, a token issued to another node (a
# stolen one), an expired one. The good peer's output must be the input
# byte for byte; the refused ones must receive no channel data at all, and
# the control center must count each refusal under its reason.
. "$(dirname "$0")/lib.sh"

RATE_KBPS=4000
SIZE_BYTES=$((256 * 1024))
head -c "$SIZE_BYTES" /dev/urandom >"$WORK/input.bin"

"$STRATA" token keygen --out "$WORK/op.key" >"$WORK/op.pub.out" || fail "token keygen failed"
[ "$(cat "$WORK/op.key.pub")" = "$(cat "$WORK/op.pub.out")" ] || fail "keygen printed another key"
issue() { "$STRATA" token issue --key "$WORK/op.key" --channel test "$@"; }
issue --node 5 --rights publish --valid-for 600 --out "$WORK/source.tok" || fail "issue failed"
issue --node a1 --rights watch,relay --valid-for 600 --out "$WORK/good.tok"
issue --node a9 --rights watch --expires 1000 --out "$WORK/expired.tok"
[ "$(wc -c <"$WORK/good.tok")" = 181 ] || fail "a token is not 180 hex digits and a newline"
issue --node 0 --rights watch --valid-for 1 >/dev/null 2>&1 && fail "issued a token to node 0"
issue --node a1 --rights fly --valid-for 1 >/dev/null 2>&1 && fail "issued an unknown right"

start_control --operator-key "$WORK/op.key.pub"
start_peer good --no-groups --upload 8000 --exit-on-end --node-id a1 --token "$WORK/good.tok"
GOOD_PID=$LAST_PID
start_peer none --no-groups --upload 8000 --node-id a2
start_peer stolen --no-groups --upload 8000 --node-id a3 --token "$(cat "$WORK/good.tok")"
start_peer expired --no-groups --upload 8000 --node-id a9 --token "$WORK/expired.tok"
wait_for_members 1
for reason in no_token token_node token_expired; do
    wait_for_line "$WORK/control.json" "\"$reason\":[1-9]" 10 \
        || fail "the control center counts no $reason refusal: $(cat "$WORK/control.json")"
done
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --listen 127.0.0.1:0 --linger-ms 500 --node-id 5 \
    --token "$WORK/source.tok"
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.log" 'channel announced' 10 || fail "source not announced"
wait_exit "$GOOD_PID" 20 || fail "the peer with a token did not reach the end of the stream"
cmp -s "$WORK/input.bin" "$WORK/good.ts" || fail "the good peer's output differs"
wait_exit "$SOURCE_PID" 20 || fail "source did not leave"
for name in none stolen expired; do
    wait_for_line "$WORK/$name.json" '"joins_forbidden":[1-9]' 10 \
        || fail "$name was not told it is forbidden: $(cat "$WORK/$name.json")"
    rx=$(json_field "$WORK/$name.json" rx_data_packets)
    [ "${rx:-1}" = 0 ] || fail "$name received $rx data packets without a valid token"
    [ -s "$WORK/$name.ts" ] && fail "$name wrote output without a valid token"
done
# Every JOIN waited for its address to echo a challenge (anti-amplification):
# the source and the four peers each showed they receive at theirs.
held=$(json_field "$WORK/control.json" joins_held)
verified=$(json_field "$WORK/control.json" addresses_verified)
[ "${held:-0}" -ge 5 ] && [ "${verified:-0}" -ge 5 ] \
    || fail "JOINs were not held for a challenge: $(cat "$WORK/control.json")"
refused=$(sed -n 's/.*"join_refusals":\({[^}]*}\).*/\1/p' "$WORK/control.json")
# Only the source and the good peer ever joined.
[ "$(json_field "$WORK/control.json" joins)" = 2 ] \
    || fail "refused peers were placed: $(cat "$WORK/control.json")"
pass "the peer with a token plays the stream byte for byte; none, stolen and expired receive nothing; refusals $refused; $verified addresses verified before their JOINs were taken"
