#!/usr/bin/env bash
# Figures of the simulator (issue 3): wall time, peak memory and events per
# second of
#   1. 100,000 peers, 5 simulated minutes of a 1 Mbit/s stream, churn on,
#      at a simulated packet size that makes the run feasible (PACKET_BYTES:
#      64 KiB packets travel as trains of datagrams and stay within 2 % of
#      the packet level's delivery, docs/simulator.md), with the control
#      center's heartbeat at BIG_HEARTBEAT_MS (1 s: one control center for
#      100,000 viewers; its default, 500 ms, doubles the control plane's
#      events and costs 100 s more);
#   2. a packet-level run (1,316-byte packets) at 10,000 peers.
# Both on the PlanetLab 490-host latency matrix. Prints figures only; never
# part of pass/fail. The runs are long (minutes each) and want ~8 GiB of
# memory for the first: run them on an otherwise idle machine.
#
# usage: bench/bench_sim.sh [PATH_TO_STRATA]
# environment (all optional):
#   DATA_DIR       data directory holding latency/       (data/, or $STRATA_DATA_DIR)
#   PACKET_BYTES   simulated DATA size of run 1           (65536)
#   BIG_HEARTBEAT_MS  heartbeat interval of run 1         (1000)
#   BIG_NODES      peers of run 1                         (100000)
#   BIG_DURATION   seconds of run 1                       (300)
#   PKT_NODES      peers of run 2                         (10000)
#   PKT_DURATION   seconds of run 2                       (60)
#   ONLY           "big" or "packet" to run just one
#   EXTRA          more flags for both runs, e.g. "--set heartbeat_ms=2000", or
#                  "--set region=groups" for regions formed by the locality groups
#                  (docs/simulator.md, session 6: far slower at 100,000 peers today)
# glibc's malloc is asked to back its arenas with transparent huge pages
# (GLIBC_TUNABLES=glibc.malloc.hugetlb=1) unless GLIBC_TUNABLES is set:
# the runs touch gigabytes at random, and fewer TLB misses save ~15 %.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
STRATA=${1:-$here/../build/strata}
DATA_DIR=${DATA_DIR:-${STRATA_DATA_DIR:-$here/../data}}
LATENCY=$DATA_DIR/latency/planetlab490/planetlab490_median_rtt_ms.txt
PACKET_BYTES=${PACKET_BYTES:-65536}
BIG_HEARTBEAT_MS=${BIG_HEARTBEAT_MS:-1000}
BIG_NODES=${BIG_NODES:-100000}
BIG_DURATION=${BIG_DURATION:-300}
PKT_NODES=${PKT_NODES:-10000}
PKT_DURATION=${PKT_DURATION:-60}
ONLY=${ONLY:-}
EXTRA=${EXTRA:-}
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}

[ -x "$STRATA" ] || { echo "no strata binary at $STRATA" >&2; exit 1; }
[ -r "$LATENCY" ] || { echo "no latency matrix at $LATENCY" >&2; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-sim.XXXXXX")
trap 'rm -rf "$out"' EXIT

# Churn for run 1: exponential sessions (mean 5 min), half of the
# departures silent, a slot's next viewer 30 s later on average; arrivals
# spread over the first 30 s.
cat >"$out/churn.scn" <<'EOF'
join = all
join_window_s = 30
session = exp
session_mean_s = 300
leave_share = 0.5
rejoin = yes
rejoin_mean_s = 30
EOF

field() { sed -n "s/^  \"$1\": \([^,]*\),\{0,1\}$/\1/p" "$2"; }

# bench NAME ARGS...: one run, then its figures.
bench() {
    local name=$1; shift
    local cmd=("$STRATA" sim "$@" --out "$out/$name.json" --quiet)
    echo "== $name"
    echo "   command: ${cmd[*]}"
    local t0 t1
    t0=$(date +%s.%N)
    if command -v /usr/bin/time >/dev/null; then
        /usr/bin/time -v "${cmd[@]}" 2>"$out/$name.time" || { cat "$out/$name.time"; return 1; }
    else
        "${cmd[@]}"
    fi
    t1=$(date +%s.%N)
    local events wall rss
    events=$(field events "$out/$name.json")
    wall=$(field wall_s "$out/$name.json")
    rss=$(field peak_rss_mb "$out/$name.json")
    if [ -f "$out/$name.time" ]; then
        rss=$(awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$out/$name.time")
    fi
    awk -v w="$wall" -v e="$events" -v r="$rss" -v t0="$t0" -v t1="$t1" 'BEGIN {
        printf "   wall time       %.1f s (process %.1f s)\n", w, t1 - t0
        printf "   peak RSS        %.0f MB\n", r
        printf "   events          %d (%.2f M events/s)\n", e, e / w / 1e6 }'
    for k in delivery_ratio p2p_share control_overhead net_queue_drops sessions fingerprint; do
        printf "   %-15s %s\n" "$k" "$(field "$k" "$out/$name.json")"
    done
    printf "   %-15s %s\n" "startup_delay_s" \
        "$(sed -n 's/^  "startup_delay_s": \(.*\),$/\1/p' "$out/$name.json")"
    printf "   %-15s %s\n" "lag_s" "$(sed -n 's/^  "lag_s": \(.*\),$/\1/p' "$out/$name.json")"
}

echo "strata sim benchmarks on $(nproc) CPU(s), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
if [ "$ONLY" != "packet" ]; then
    # shellcheck disable=SC2086
    bench "${BIG_NODES}_nodes_${BIG_DURATION}s_churn" --nodes "$BIG_NODES" \
        --duration "$BIG_DURATION" --rate 1000 --packet-bytes "$PACKET_BYTES" \
        --latency "$LATENCY" --seed 1 --scenario "$out/churn.scn" \
        --set heartbeat_ms="$BIG_HEARTBEAT_MS" $EXTRA
fi
if [ "$ONLY" != "big" ]; then
    # shellcheck disable=SC2086
    bench "${PKT_NODES}_nodes_${PKT_DURATION}s_packet_level" --nodes "$PKT_NODES" \
        --duration "$PKT_DURATION" --rate 1000 --packet-bytes 1316 --latency "$LATENCY" \
        --seed 1 --set join_window_s=10 $EXTRA
fi
