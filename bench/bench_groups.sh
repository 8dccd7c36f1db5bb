#!/usr/bin/env bash
# Figures of the locality groups (issue 4), from the simulator
# (sim/groupsim.h) through the small driver bench/bench_groups.c:
#   1. planetlab490: strata's groups against landmark binning and k-medoids
#      (no labels exist: groups, sizes, distances, spread, probes per join);
#      a landmark-count sweep;
#   2. ripeatlas-country2025 with its continent labels (countries.tsv,
#      converted here to host_index<TAB>continent): the same plus ARI/NMI;
#      a sweep of the join threshold;
#   3. join cost as the network grows: probes per join at 100, 1,000,
#      10,000 and 100,000 simulated peers attached to planetlab490 hosts
#      (1-5 ms access links each way). Nodes arrive 10 ms apart on average
#      (a crowd: joins overlap), then the network settles for 60 s, then
#      LATE nodes join one a second into the settled network; both costs
#      are printed ("all" and "late"). Lazy memory is on; peak RSS is
#      printed. 100,000 peers take ~20 min and ~8-12 GiB: run it last, on
#      an otherwise quiet machine.
# Prints figures only; never part of pass/fail.
#
# usage: bench/bench_groups.sh [PATH_TO_bench_groups]
# environment (all optional):
#   DATA_DIR     data directory holding latency/            (data/, or $STRATA_DATA_DIR)
#   SEEDS        seeds of the data-set runs                  ("1 2 3")
#   SIZES        peers of the scaling runs                   ("100 1000 10000 100000")
#   MAX_MEMBERS  max_members of the scaling runs              (4096, the default)
#   ONLY         "datasets" or "scale" to run just one part
#   OUT          directory for the JSON and assignment files  (a temporary one)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$here/../build/bench_groups}
DATA_DIR=${DATA_DIR:-${STRATA_DATA_DIR:-$here/../data}}
SEEDS=${SEEDS:-1 2 3}
SIZES=${SIZES:-100 1000 10000 100000}
MAX_MEMBERS=${MAX_MEMBERS:-4096}
ONLY=${ONLY:-}
PL=$DATA_DIR/latency/planetlab490/planetlab490_median_rtt_ms.txt
RIPE=$DATA_DIR/latency/ripeatlas-country2025/country_rtt_avg_ms.txt
COUNTRIES=$DATA_DIR/latency/ripeatlas-country2025/countries.tsv

[ -x "$BIN" ] || { echo "no bench_groups binary at $BIN (cmake --build build)" >&2; exit 1; }
for f in "$PL" "$RIPE" "$COUNTRIES"; do
    [ -r "$f" ] || { echo "missing $f" >&2; exit 1; }
done
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
echo "strata locality-group figures on $(nproc) CPU(s); files in $OUT"

# host_index<TAB>continent from "index cc name continent n_pairs_measured".
LABELS=$OUT/ripe_continents.tsv
awk -F'\t' 'NR > 1 { print $1 "\t" $4 }' "$COUNTRIES" > "$LABELS"

run() { # name, then bench_groups arguments
    local name=$1
    shift
    echo
    echo "== $name"
    echo "   bench_groups $*"
    "$BIN" "$@" --out "$OUT/$name.json" --assign "$OUT/$name.tsv" | sed 's/^/   /'
}

if [ "$ONLY" != scale ]; then
    echo
    echo "### 1. planetlab490 (490 hosts, no labels), joins 1 s apart, defaults"
    for s in $SEEDS; do
        run "planetlab490-seed$s" --latency "$PL" --seed "$s"
    done
    echo
    echo "### landmark count (seed 1): the landmark row only"
    for l in 4 12 16; do
        echo "   landmarks $l: $("$BIN" --latency "$PL" --seed 1 --landmarks "$l" | awk '$1 == "landmark"')"
    done

    echo
    echo "### 2. ripeatlas-country2025 (170 countries, 6 continent labels), defaults"
    for s in $SEEDS; do
        run "ripe-seed$s" --latency "$RIPE" --labels "$LABELS" --seed "$s"
    done
    echo
    echo "### k-medoids with k = 6, one group per continent (seed 1): the reference row"
    "$BIN" --latency "$RIPE" --labels "$LABELS" --seed 1 --kmedoids-k 6 |
        awk '$1 == "k-medoids" { print "   " $0 }'
    echo
    echo "### join threshold on ripeatlas (seed 1): the strata and k-medoids rows"
    for t in 50 75 100 150 200; do
        "$BIN" --latency "$RIPE" --labels "$LABELS" --seed 1 --threshold-ms "$t" |
            awk -v t="$t" '$1 == "strata" || $1 == "k-medoids" { printf "   threshold %3d ms: %s\n", t, $0 }'
    done
fi

if [ "$ONLY" != datasets ]; then
    echo
    echo "### 3. probes per join as the network grows (planetlab490 hosts, max_members $MAX_MEMBERS)"
    printf "   %8s %7s %9s %12s %11s %12s %11s %9s %8s %9s\n" peers groups max_group \
        "all: mean" "all: p95" "late: mean" "late: p95" wall_s rss_MB KB/peer
    for n in $SIZES; do
        late=$((n / 5 < 200 ? n / 5 : 200))
        seeds=1
        [ "$n" -le 1000 ] && seeds="1 2 3"
        for s in $seeds; do
            line=$("$BIN" --latency "$PL" --nodes "$n" --seed "$s" --spacing-ms 10 --settle-s 60 \
                --late "$late" --late-spacing-ms 1000 --no-baselines --lazy \
                --max-members "$MAX_MEMBERS" --out "$OUT/scale-$n-seed$s.json" | grep '^summary')
            echo "$line" | awk '{
                for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                printf "   %8s %7s %9s %12s %11s %12s %11s %9s %8s %9s\n", v["nodes"], v["groups"],
                    v["max_group"], v["probes_mean"], v["probes_p95"], v["late_mean"],
                    v["late_p95"], v["wall_s"], v["peak_rss_mb"], v["kb_per_node"] }'
        done
    done
fi
