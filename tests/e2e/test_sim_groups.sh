#!/usr/bin/env bash
# strata sim --scenario groups on the real planetlab490 matrix: every host
# of the matrix gets one assignment line, the JSON has the issue's metrics
# for strata and both baselines, and the same seed gives the same bytes.
. "$(dirname "$0")/lib.sh"

DATA=${STRATA_DATA_DIR:-$(dirname "$0")/../../data}
MATRIX=$DATA/latency/planetlab490/planetlab490_median_rtt_ms.txt
[ -r "$MATRIX" ] || fail "cannot read $MATRIX (STRATA_DATA_DIR overrides the data folder)"

run() {
    "$STRATA" sim --scenario groups --latency "$MATRIX" --seed 7 --quiet \
        --assign "$WORK/$1.tsv" --out "$WORK/$1.json" || fail "strata sim --scenario groups exited $?"
}
run a
run b
[ "$(wc -l <"$WORK/a.tsv")" -eq 490 ] || fail "want 490 assignment lines, got $(wc -l <"$WORK/a.tsv")"
awk -F'\t' '$1 != NR - 1 || $2 !~ /^[0-9a-f]+$/ || length($2) != 16 { bad = 1 } END { exit bad }' "$WORK/a.tsv" \
    || fail "assignment lines are not host_index<TAB>group_id in row order"
for key in '"strata"' '"landmark"' '"kmedoids"' '"groups"' '"group_sizes"' '"probes_per_join"' \
    '"join_time_ms"' '"intra_group_ms"' '"inter_group_ms"' '"spread_ms"' '"ari"' '"nmi"'; do
    grep -q "$key" "$WORK/a.json" || fail "JSON lacks $key"
done
cmp -s "$WORK/a.tsv" "$WORK/b.tsv" || fail "same seed, different assignment"
cmp -s "$WORK/a.json" "$WORK/b.json" || fail "same seed, different JSON"
rc=0
"$STRATA" sim --scenario groups --quiet 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "groups without --latency exited $rc, want 2"
pass "groups scenario: 490 hosts assigned, metrics for strata and both baselines, deterministic"
