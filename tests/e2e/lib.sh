# Shared helpers for the end-to-end tests: real strata processes on
# loopback, ports chosen by the system, readiness read from each daemon's
# ready line (never slept on), and cleanup in a trap.
set -euo pipefail

STRATA=${1:?usage: $0 PATH_TO_STRATA}
STRATA=$(readlink -f "$STRATA")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/strata-e2e.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ $rc -ne 0 ]; then
        echo "--- logs of the failed run ($WORK) ---"
        for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 15 "$f"; }; done
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
pass() { echo "PASS: $*"; }

# wait_for_line FILE REGEX SECONDS: polls FILE until a line matches.
wait_for_line() {
    local file=$1 re=$2 secs=$3 i
    for ((i = 0; i < secs * 20; i++)); do
        if [ -f "$file" ] && grep -qE "$re" "$file"; then return 0; fi
        sleep 0.05
    done
    return 1
}

# start NAME ARGS...: runs "strata ARGS" in the background, stdout to
# NAME.out, stderr to NAME.log; sets LAST_PID.
start() {
    local name=$1; shift
    "$STRATA" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# start_control [ARGS]: sets CONTROL (ADDR:PORT) and CONTROL_PID.
start_control() {
    start control control --listen 127.0.0.1:0 --status-file "$WORK/control.json" "$@"
    CONTROL_PID=$LAST_PID
    wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
    CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
}

# start_peer NAME [ARGS]: a peer of channel "test" writing NAME.ts; sets
# PEER_ADDR, PEER_HTTP (if --http was given) and LAST_PID.
start_peer() {
    local name=$1; shift
    start "$name" peer --control "$CONTROL" --channel test --listen 127.0.0.1:0 \
        --output "$WORK/$name.ts" --status-file "$WORK/$name.json" "$@"
    wait_for_line "$WORK/$name.out" '^strata peer [0-9a-f]+ listening on udp ' 10 || fail "$name not ready"
    PEER_ADDR=$(sed -n 's/^strata peer [0-9a-f]* listening on udp \([0-9.:]*\).*/\1/p' "$WORK/$name.out")
    PEER_HTTP=$(sed -n 's/.* http \(http:[^ ]*\).*/\1/p' "$WORK/$name.out")
}

# start_viewer NAME ARGS: a peer of the channels ARGS name (--channel,
# --output, --upload ...) that exits at the end of its streams, with its
# status in NAME.json; waits until it is ready and sets LAST_PID.
start_viewer() {
    local name=$1; shift
    start "$name" peer --control "$CONTROL" --listen 127.0.0.1:0 --status-file "$WORK/$name.json" \
        --exit-on-end "$@"
    wait_for_line "$WORK/$name.out" '^strata peer [0-9a-f]+ listening on udp ' 10 || fail "$name not ready"
}

# wait_for_members N: waits until the control center counts N peers. A
# stream should start only then: a peer that joins the channel after the
# first packet starts where the live stream is (correctly), so it would
# miss the start that the tests compare, which a loaded machine (a group
# join first, sanitizers) makes likely.
wait_for_members() {
    wait_for_line "$WORK/control.json" "\"peers\":$1," 30 \
        || fail "the control center does not count $1 peers: $(cat "$WORK/control.json")"
}

# json_field FILE NAME: a numeric field of a status file.
json_field() {
    sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"
}

# wait_exit PID SECONDS: waits for a process to exit by itself.
wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# send_udp ADDR:PORT FILE: one datagram with FILE's bytes.
send_udp() {
    local host=${1%:*} port=${1##*:}
    cat "$2" >"/dev/udp/$host/$port"
}
