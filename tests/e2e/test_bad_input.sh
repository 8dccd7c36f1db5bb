#!/usr/bin/env bash
# Garbage, truncated and oversized datagrams sent to the control center and
# to a peer are counted and dropped, and both keep serving. Bad command-line
# arguments print a message and exit with status 2.
. "$(dirname "$0")/lib.sh"

# --- command line -----------------------------------------------------------
expect_usage() {
    local rc=0
    "$STRATA" "$@" >"$WORK/usage.out" 2>"$WORK/usage.err" || rc=$?
    [ $rc -eq 2 ] || fail "'strata $*' exited $rc, want 2"
    [ -s "$WORK/usage.err" ] || fail "'strata $*' printed no message"
}
expect_usage
expect_usage frobnicate
expect_usage control --listen nowhere
expect_usage control --k 0
expect_usage control --k 17
expect_usage control --regions planets
expect_usage control --bogus
expect_usage peer --channel x
expect_usage peer --control 127.0.0.1:1
expect_usage peer --control 127.0.0.1:99999 --channel x
expect_usage peer --control 127.0.0.1:1 --channel x --upload -5
expect_usage peer --control 127.0.0.1:1 --channel x --upload 12abc
expect_usage peer --control 127.0.0.1:1 --channel "$(printf 'c%.0s' {1..65})"
expect_usage source --control 127.0.0.1:1 --channel x --input -
expect_usage source --control 127.0.0.1:1 --channel x --rate 100
expect_usage source --control 127.0.0.1:1 --channel x --input udp://nowhere --rate 100
expect_usage peer --control 127.0.0.1:1 --channel x extra-argument
expect_usage peer --control 127.0.0.1:1 --channel x --node-id 0
expect_usage peer --control 127.0.0.1:1 --channel x --node-id 12345678901234567
expect_usage peer --control 127.0.0.1:1 --channel x --group-seed 12x
expect_usage peer --control 127.0.0.1:1 --channel x --group-estimate mode
expect_usage control --groups-seed -3
expect_usage peer --control 127.0.0.1:1 --channel x --group-metric miles
expect_usage peer --control 127.0.0.1:1 --channel x --group-wait-ms soon
for sub in control source peer; do
    # grep reads it all: -q would stop early and, over 4 KiB of help, the
    # writer would die of SIGPIPE (a failure under pipefail)
    "$STRATA" $sub --help | grep "usage: strata $sub" >/dev/null || fail "strata $sub --help"
done
pass "bad arguments exit with status 2"

# --- hostile datagrams ---------------------------------------------------------
start_control
start_peer victim --upload 2000
VICTIM=$PEER_ADDR
VICTIM_PID=$LAST_PID

head -c 200 /dev/urandom >"$WORK/garbage"
printf 'ST\001\003\000\000' >"$WORK/truncated_join"     # JOIN header and two bytes
printf 'ST\002\001' >"$WORK/bad_version"
printf 'ST\001\077' >"$WORK/bad_type"
head -c 3000 /dev/urandom >"$WORK/oversized"
printf 'ST\001\001' >"$WORK/truncated_data"; head -c 40 /dev/zero >>"$WORK/truncated_data"
sent=0
for target in "$CONTROL" "$VICTIM"; do
    for f in garbage truncated_join bad_version bad_type oversized truncated_data; do
        for _ in 1 2 3; do send_udp "$target" "$WORK/$f"; done
    done
done
wait_for_line "$WORK/control.json" '"dropped_datagrams":(1[8-9]|[2-9][0-9]|[0-9]{3,})' 10 \
    || fail "control did not count 18 drops: $(cat "$WORK/control.json")"
wait_for_line "$WORK/victim.json" '"dropped_datagrams":(1[8-9]|[2-9][0-9]|[0-9]{3,})' 10 \
    || fail "peer did not count 18 drops: $(cat "$WORK/victim.json")"
kill -0 "$CONTROL_PID" || fail "control died"

# The group messages (protocol.md 3.8, 3.9), truncated, go to the cores that
# take them on each socket (the control center's group bookkeeping, the
# peer's group agent and bootstrap client) and are counted there.
printf 'ST\001\023\000' >"$WORK/truncated_report"         # GROUP_REPORT
printf 'ST\001\024' >"$WORK/truncated_bootstrap"           # GROUP_BOOTSTRAP
printf 'ST\001\025\000\000' >"$WORK/truncated_boot_reply" # GROUP_BOOTSTRAP_REPLY
printf 'ST\001\012\000' >"$WORK/truncated_query"           # GROUP_QUERY
for f in truncated_report truncated_bootstrap; do
    for _ in 1 2 3; do send_udp "$CONTROL" "$WORK/$f"; done
done
for f in truncated_boot_reply truncated_query; do
    for _ in 1 2 3; do send_udp "$VICTIM" "$WORK/$f"; done
done
wait_for_line "$WORK/control.json" '"dropped_datagrams":(2[4-9]|[3-9][0-9]|[0-9]{3,})' 10 \
    || fail "control did not count 24 drops: $(cat "$WORK/control.json")"
wait_for_line "$WORK/victim.json" '"group":\{.*"dropped_datagrams":([6-9]|[0-9]{2,})' 10 \
    || fail "peer's group agent did not count 6 drops: $(cat "$WORK/victim.json")"

# Both keep serving: a stream still reaches the victim and a new peer.
start_peer late --upload 2000 --exit-on-end
late_pid=$LAST_PID
wait_for_members 2
head -c 300000 /dev/urandom >"$WORK/input.bin"
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate 2000 --listen 127.0.0.1:0 --linger-ms 3000
SOURCE_PID=$LAST_PID
wait_exit "$late_pid" 60 || fail "the late peer did not get the stream"
cmp -s "$WORK/input.bin" "$WORK/late.ts" || fail "late peer output differs"
wait_for_line "$WORK/victim.json" '"ended":1' 20 || fail "victim peer did not reach the end"
cmp -s "$WORK/input.bin" "$WORK/victim.ts" || fail "victim peer output differs"
pass "hostile datagrams counted and dropped; control and peer kept serving"

# A clean leave on SIGTERM: the peer exits 0 and the control center counts
# a LEAVE rather than waiting for its heartbeats to stop.
# The late peer and the source have left by now (the source after its linger).
wait_exit "$SOURCE_PID" 20 || fail "source did not leave"
wait_for_line "$WORK/control.json" '"leaves":2,' 10 || fail "want 2 leaves: $(cat "$WORK/control.json")"
leaves_before=2
kill -TERM "$VICTIM_PID"
rc=0; wait "$VICTIM_PID" || rc=$?
[ $rc -eq 0 ] || fail "peer exited with status $rc after SIGTERM"
for ((i = 0; i < 40; i++)); do
    [ "$(json_field "$WORK/control.json" leaves)" -gt "$leaves_before" ] && break
    sleep 0.1
done
[ "$(json_field "$WORK/control.json" leaves)" -gt "$leaves_before" ] || fail "control saw no LEAVE: $(cat "$WORK/control.json")"
[ "$(json_field "$WORK/control.json" deaths)" -eq 0 ] || fail "a peer was counted dead"
pass "SIGTERM makes a peer leave cleanly"
