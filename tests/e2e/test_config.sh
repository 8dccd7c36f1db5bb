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
# bad_config NAME SUB 'LINE: WHAT' TEXT: strata SUB refuses a file holding
# TEXT (printf escapes) with exit status 2, saying NAME.conf:LINE: WHAT.
bad_config() {
    printf '%b' "$4" >"$WORK/$1.conf"
    expect_rc 2 "$1.conf:$3" "$2" --config "$WORK/$1.conf"
}
bad_config unknown peer '3: bogus: unknown option' '[peer]\nchannel = x\nbogus = 1\n'
bad_config flag peer '2: exit-on-end: a flag takes true or false' '[peer]\nexit-on-end = maybe\n'
bad_config garbage peer '2: not an INI line' '[peer]\nthis is not ini\n'
# A bad value names the file, the line and the option, whichever check
# finds it (the number parser, an option's own check, one after parsing);
# comments, blank lines and other sections count in the line numbers.
bad_config value peer '8: upload: needs a number, got .lots.' \
    '; c\n[control]\nk = 9\n\n[peer]\nchannel = x\n# c\nupload = lots\n'
bad_config addr peer '3: http: needs ADDR:PORT' '[peer]\nchannel = x\nhttp = nowhere\n'
bad_config prio peer '3: channel: priority must be 0 to 255' '[peer]\nchannel = x\nchannel = y:999\n'
bad_config region peer '5: region: LABEL must be at most 32 bytes' \
    "[peer]\ncontrol = 127.0.0.1:1\nchannel = x\n\nregion = $(printf 'r%.0s' {1..40})\n"
bad_config recruit control '2: recruit: must be .on. or .off.' '[control]\nrecruit = maybe\n'
bad_config rate source '3: rate: must be between 1 and' '[source]\ncontrol = 127.0.0.1:1\nrate = 0\n'
# The same values on the command line name the option instead.
expect_rc 2 'strata peer: --upload needs a number' peer --control 127.0.0.1:1 --channel x --upload lots
expect_rc 1 'cannot read the config file' control --config "$WORK/nonexistent.conf"
expect_rc 2 'needs a value' source --config
for sub in control peer source; do
    "$STRATA" $sub --help | grep -- "--config FILE" >/dev/null || fail "strata $sub --help lacks --config"
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
