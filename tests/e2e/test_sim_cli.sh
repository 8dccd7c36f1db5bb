#!/usr/bin/env bash
# strata sim from the command line: --help, usage errors (exit 2, with the
# line number of a bad scenario line), a small run whose JSON has every key
# issue 3 names, a CSV time series, and two runs with the same seed giving
# byte-identical JSON (with --no-timing).
. "$(dirname "$0")/lib.sh"

# --help: exit 0, the usage on standard output.
"$STRATA" sim --help >"$WORK/help.out" 2>"$WORK/help.log" || fail "sim --help exited $?"
grep -q '^usage: strata sim ' "$WORK/help.out" || fail "sim --help printed no usage"
pass "sim --help"

# expect_usage_error NAME ARGS...: the command exits 2 and says why.
expect_usage_error() {
    local name=$1 rc=0; shift
    "$STRATA" sim "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" || rc=$?
    [ "$rc" -eq 2 ] || fail "$name: exit status $rc, wanted 2 (args: $*)"
    grep -q '^strata sim: ' "$WORK/$name.log" || fail "$name: no 'strata sim:' message"
}
expect_usage_error bad_flag --no-such-flag
expect_usage_error bad_nodes --nodes many
expect_usage_error zero_rate --rate 0
expect_usage_error bad_duration --duration -5
expect_usage_error missing_value --nodes
expect_usage_error bad_set --set loss=2
expect_usage_error bad_key --set colour=blue
expect_usage_error bad_algorithm --algorithm nosuch
grep -q "unknown algorithm 'nosuch'" "$WORK/bad_algorithm.log" || fail "no message naming the algorithm"
expect_usage_error stray_arg stray
printf 'nodes = 10\n# fine so far\nat 5 explode share=0.5\n' >"$WORK/bad.scn"
expect_usage_error bad_scenario --scenario "$WORK/bad.scn"
grep -q "bad.scn:3: unknown action 'explode'" "$WORK/bad_scenario.log" \
    || fail "scenario error without its line: $(cat "$WORK/bad_scenario.log")"
pass "usage errors exit 2 with a message"

# A small run from a scenario file and flags (flags win over the file).
cat >"$WORK/small.scn" <<'EOF'
# 40 peers for 8 s; the flags below change the node count
nodes = 500
duration_s = 8
join_window_s = 1
session = exp
session_mean_s = 5
rejoin_mean_s = 1
at 4 kill share=0.1
EOF
run_sim() {
    "$STRATA" sim --scenario "$WORK/small.scn" --nodes 40 --rate 800 --seed 11 --quiet \
        --no-timing "$@"
}
run_sim --out "$WORK/a.json" --csv "$WORK/a.csv" 2>"$WORK/a.log" || fail "sim run exited $?"
for key in nodes duration_s algorithm delivery_ratio startup_delay_s lag_s stretch p2p_share \
    cross_region_bytes_ratio max_upload_utilisation control_overhead fluid_bound_kbps events \
    fingerprint; do
    grep -q "^  \"$key\": " "$WORK/a.json" || fail "JSON lacks $key: $(cat "$WORK/a.json")"
done
for key in wall_s peak_rss_mb; do
    if grep -q "\"$key\"" "$WORK/a.json"; then fail "--no-timing JSON has $key"; fi
done
grep -q '^  "nodes": 40,$' "$WORK/a.json" || fail "--nodes did not override the file"
grep -q '^  "rate_kbps": 800,$' "$WORK/a.json" || fail "--rate not applied"
grep -q '^  "duration_s": 8.000000,$' "$WORK/a.json" || fail "duration from the file not applied"
grep -q '"p50": [0-9.]*, "p95": [0-9.]*}' "$WORK/a.json" || fail "percentiles missing"
grep -qE '^  "fingerprint": "[0-9a-f]{16}"$' "$WORK/a.json" || fail "fingerprint not 16 hex digits"
[ -s "$WORK/a.log" ] && fail "--quiet run wrote to standard error: $(cat "$WORK/a.log")"
head -n 1 "$WORK/a.csv" | grep -q '^t_s,online_peers,delivery_ratio,' || fail "CSV header"
[ "$(wc -l <"$WORK/a.csv")" -eq 10 ] || fail "CSV rows: $(wc -l <"$WORK/a.csv"), wanted 1 + 9"
pass "a small run writes every metric and the time series"

# Same seed, same scenario: the same bytes. Another seed: another run.
run_sim --out "$WORK/b.json" 2>/dev/null || fail "second run exited $?"
cmp -s "$WORK/a.json" "$WORK/b.json" || fail "same seed, different JSON: $(diff "$WORK/a.json" "$WORK/b.json")"
"$STRATA" sim --scenario "$WORK/small.scn" --nodes 40 --rate 800 --seed 12 --quiet --no-timing \
    --out "$WORK/c.json" || fail "third run exited $?"
fp_a=$(sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p' "$WORK/a.json")
fp_c=$(sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p' "$WORK/c.json")
[ "$fp_a" != "$fp_c" ] || fail "seeds 11 and 12 gave the same fingerprint $fp_a"
pass "same seed gives byte-identical JSON ($fp_a)"

# Without --no-timing the figures of the machine are there; the summary
# goes to standard error unless --quiet.
"$STRATA" sim --nodes 10 --duration 3 --out - >"$WORK/d.json" 2>"$WORK/d.log" || fail "stdout run"
grep -q '"wall_s": ' "$WORK/d.json" || fail "no wall_s"
grep -q '"peak_rss_mb": ' "$WORK/d.json" || fail "no peak_rss_mb"
grep -q '^strata sim: strata, 10 nodes' "$WORK/d.log" || fail "no summary line"
pass "timing figures and summary"

# A latency file that cannot be read is a failure (exit 1), not a crash.
rc=0
"$STRATA" sim --nodes 5 --duration 1 --latency "$WORK/none.txt" --quiet --out "$WORK/e.json" \
    2>"$WORK/e.log" || rc=$?
[ "$rc" -eq 1 ] || fail "missing latency file: exit $rc, wanted 1"
grep -q "none.txt" "$WORK/e.log" || fail "missing latency file not named"
pass "missing latency file exits 1"
