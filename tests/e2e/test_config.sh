#!/usr/bin/env bash
# The daemons' config file (issue 12 item 5, docs/config.md): one INI file
# with a section per daemon. A control center, a peer and a source started
# from it carry a stream end to end; options given on the command line win
# over the file's (k, and a repeated --channel); bad files are refused with
# the file and line named.
. "$(dirname "$0")/lib.sh"

expect_rc() {
    local want=$1 re=$2 rc=0; shift 2
    "$STRATA" "$@" >"$WORK/usage.out" 2>"$WORK/usage.err" || rc=$?
    [ $rc -eq "$want" ] || fail "'strata $*' exited $rc, want $want: $(cat "$WORK/usage.err")"
    grep -qE "$re" "$WORK/usage.err" || fail "'strata $*' said: $(cat "$WORK/usage.err"), want /$re/"
}
printf '[peer]\nchannel = x\nbogus = 1\n' >"$WORK/unknown.conf"
expect_rc 2 'unknown.conf:3: bogus: unknown option' peer --config "$WORK/unknown.conf"
printf '[peer]\nexit-on-end = maybe\n' >"$WORK/flag.conf"
expect_rc 2 'flag.conf:2: exit-on-end: a flag takes true or false' peer --config "$WORK/flag.conf"
printf '[peer]\nthis is not ini\n' >"$WORK/garbage.conf"
expect_rc 2 'garbage.conf:2: not an INI line' peer --config "$WORK/garbage.conf"
# A bad value names the file, the line and the option, whichever check
# finds it (the number parser, an option's own check, one after parsing);
# comments, blank lines and other sections count in the line numbers.
printf '; c\n[control]\nk = 9\n\n[peer]\nchannel = x\n# c\nupload = lots\n' >"$WORK/value.conf"
expect_rc 2 'value.conf:8: upload: needs a number, got .lots.' peer --config "$WORK/value.conf"
printf '[peer]\nchannel = x\nhttp = nowhere\n' >"$WORK/addr.conf"
expect_rc 2 'addr.conf:3: http: needs ADDR:PORT' peer --config "$WORK/addr.conf"
printf '[peer]\nchannel = x\nchannel = y:999\n' >"$WORK/prio.conf"
expect_rc 2 'prio.conf:3: channel: priority must be 0 to 255' peer --config "$WORK/prio.conf"
printf '[peer]\ncontrol = 127.0.0.1:1\nchannel = x\n\nregion = %s\n' "$(printf 'r%.0s' {1..40})" >"$WORK/region.conf"
expect_rc 2 'region.conf:5: region: LABEL must be at most 32 bytes' peer --config "$WORK/region.conf"
printf '[control]\nrecruit = maybe\n' >"$WORK/recruit.conf"
expect_rc 2 'recruit.conf:2: recruit: must be .on. or .off.' control --config "$WORK/recruit.conf"
printf '[source]\ncontrol = 127.0.0.1:1\nrate = 0\n' >"$WORK/rate.conf"
expect_rc 2 'rate.conf:3: rate: must be between 1 and' source --config "$WORK/rate.conf"
# The same values on the command line name the option instead.
expect_rc 2 'strata peer: --upload needs a number' peer --control 127.0.0.1:1 --channel x --upload lots
expect_rc 1 'cannot read the config file' control --config "$WORK/nonexistent.conf"
expect_rc 2 'needs a value' source --config
for sub in control peer source; do
    "$STRATA" $sub --help | grep -q -- "--config FILE" || fail "strata $sub --help lacks --config"
done
EXAMPLE=$(dirname "$0")/../../docs/strata.conf
for sub in control peer source; do
    "$STRATA" $sub --config "$EXAMPLE" --help >/dev/null 2>"$WORK/usage.err" \
        || fail "docs/strata.conf is not a valid [$sub] section: $(cat "$WORK/usage.err")"
done
pass "bad config files are refused, naming the file and line; docs/strata.conf is valid"

head -c $((200 * 1024)) /dev/urandom >"$WORK/input.bin"
cat >"$WORK/strata.conf" <<CONF
; one file for the three daemons
[control]
listen = 127.0.0.1:0
http = 127.0.0.1:0
k = 3
status-file = $WORK/control.json

[peer]
channel = elsewhere
listen = 127.0.0.1:0
upload = 3000
no-groups = true
exit-on-end = yes
output = $WORK/peer.ts
status-file = $WORK/peer.json

[source]
channel = test
input = $WORK/input.bin
rate = 2000
listen = 127.0.0.1:0
CONF
start control control --config "$WORK/strata.conf" --k 2
wait_for_line "$WORK/control.out" '^strata control listening on udp .* http ' 10 \
    || fail "the control center did not take --http from the file: $(cat "$WORK/control.out" "$WORK/control.log")"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
start peer peer --config "$WORK/strata.conf" --control "$CONTROL" --channel test
PEER_PID=$LAST_PID
wait_for_members 1
start source source --config "$WORK/strata.conf" --control "$CONTROL"
wait_exit "$PEER_PID" 30 || fail "the peer did not exit at the end of the stream (exit-on-end from the file)"
wait "$PEER_PID" || fail "the peer exited with an error: $(tail -n 5 "$WORK/peer.log")"
cmp "$WORK/input.bin" "$WORK/peer.ts" || fail "the peer's output (from the file) differs from the input"
grep -q '"name":"test"' "$WORK/peer.json" && ! grep -q '"name":"elsewhere"' "$WORK/peer.json" \
    || fail "the command line's --channel did not replace the file's: $(cat "$WORK/peer.json")"
grep -q 'member of dcm [0-9]*, k 2,' "$WORK/peer.log" \
    || fail "the command line's --k 2 did not win over the file's k = 3: $(grep 'member of' "$WORK/peer.log")"
pass "control, peer and source ran from one config file; the command line overrode it"
