#!/usr/bin/env bash
# Standard input to standard output: a source reading a pipe and a peer
# writing the stream to its standard output deliver the exact bytes.
. "$(dirname "$0")/lib.sh"

head -c 600000 /dev/urandom >"$WORK/input.bin"
start_control
# The ready line goes to standard error when the stream takes standard output.
"$STRATA" peer --control "$CONTROL" --channel test --listen 127.0.0.1:0 --output - --exit-on-end \
    >"$WORK/stdout.bin" 2>"$WORK/peer.log" &
peer_pid=$!
PIDS+=("$peer_pid")
wait_for_line "$WORK/peer.log" '^strata peer [0-9a-f]+ listening on udp ' 10 || fail "peer not ready"
# A pipe is passed on as it arrives, at most 1.25 x --rate.
cat "$WORK/input.bin" | "$STRATA" source --control "$CONTROL" --channel test --input - \
    --rate 2000 --listen 127.0.0.1:0 --linger-ms 2000 >"$WORK/source.out" 2>"$WORK/source.log" &
PIDS+=($!)
wait_exit "$peer_pid" 60 || fail "peer did not reach the end of the stream"
wait "$peer_pid" || fail "peer exited with status $?"
cmp -s "$WORK/input.bin" "$WORK/stdout.bin" || fail "standard output differs ($(stat -c %s "$WORK/stdout.bin") bytes)"
pass "stdin -> source -> peer -> stdout is byte-identical"
