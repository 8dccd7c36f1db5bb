#!/usr/bin/env bash
# Delay emulation (issue 4 item 6): a daemon given --latency and
# --host-index binds 127.1.(I>>8).(I&255) and holds each datagram it sends
# to another 127.1/16 address back by RTT/2 of the matrix. Two emulating
# daemons therefore see each other at the matrix's RTT; a prober that does
# not emulate sees half of it; addresses outside 127.1/16 get no delay.
. "$(dirname "$0")/lib.sh"

DATA=${STRATA_DATA_DIR:-$(dirname "$0")/../../../shared/data}
MATRIX=$DATA/latency/planetlab490/planetlab490_median_rtt_ms.txt
[ -r "$MATRIX" ] || fail "cannot read $MATRIX (set STRATA_DATA_DIR to the shared data folder)"

# --- command line -------------------------------------------------------------
expect_rc() {
    local want=$1 rc=0; shift
    "$STRATA" "$@" >"$WORK/usage.out" 2>"$WORK/usage.err" || rc=$?
    [ $rc -eq "$want" ] || fail "'strata $*' exited $rc, want $want: $(cat "$WORK/usage.err")"
}
expect_rc 2 control --latency "$MATRIX"
expect_rc 2 control --host-index 3
expect_rc 2 peer --control 127.0.0.1:1 --channel x --latency "$MATRIX" --host-index 70000
expect_rc 2 peer --control 127.0.0.1:1 --channel x --latency "$MATRIX" --host-index 3 \
    --listen 127.0.0.1:0
expect_rc 1 control --latency "$MATRIX" --host-index 490
expect_rc 1 control --latency "$WORK/nonexistent" --host-index 0
for sub in control source peer; do
    "$STRATA" $sub --help | grep -q -- "--host-index I" || fail "strata $sub --help lacks --host-index"
done
pass "delay flags: both or neither, index checked against the matrix"

# rtt A B: the matrix entry (A and B are 0-based).
rtt() { awk -v a="$1" -v b="$2" 'NR == a + 1 { print $(b + 1); exit }' "$MATRIX"; }

# probe FROM_IP ADDR:PORT: the median RTT in ms of 5 PROBEs (protocol.md
# 3.5) sent from FROM_IP, answered by the daemon at ADDR:PORT.
probe() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys, time
src, dst = sys.argv[1], sys.argv[2].rsplit(':', 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.settimeout(2.0)
samples = []
for i in range(5):
    t = time.monotonic()
    s.sendto(b'ST\x01\x06' + struct.pack('>QIQ', 77, i, 0), (dst[0], int(dst[1])))
    while True:
        data, _ = s.recvfrom(2048)
        if len(data) == 32 and data[3] == 7 and struct.unpack('>I', data[12:16])[0] == i:
            break
    samples.append((time.monotonic() - t) * 1000)
    time.sleep(0.02)
samples.sort()
print('%.3f' % samples[2])
PY
}

# --- a non-emulating prober: half the RTT, and no delay outside 127.1/16 ---
A=0 B=7
want=$(rtt $A $B)
start control control --listen 0.0.0.0:0 --latency "$MATRIX" --host-index $A
wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
[ "${CONTROL%:*}" = "127.1.0.$A" ] || fail "control bound $CONTROL, want 127.1.0.$A"
half=$(probe 127.1.0.$B "$CONTROL")
awk -v m="$half" -v w="$want" 'BEGIN { exit !(m >= w / 2 - 0.5 && m <= w / 2 + 8) }' \
    || fail "prober at host $B saw ${half} ms, want about $want / 2"
direct=$(probe 127.0.0.1 "$CONTROL")
awk -v m="$direct" 'BEGIN { exit !(m < 8) }' || fail "127.0.0.1 saw ${direct} ms, want no delay"
pass "one emulating side: ${half} ms for a matrix RTT of $want ms; ${direct} ms outside 127.1/16"
