#!/usr/bin/env bash
# Runs every benchmark in BUILD_DIR and prints its figures. Benchmarks never
# pass or fail; they measure.
set -euo pipefail
build=${1:-build}
for b in "$build"/bench_*; do
    [ -x "$b" ] || continue
    echo "=== $(basename "$b")"
    "$b" "$build/strata"
done
for s in bench/bench_*.sh; do
    [ -f "$s" ] || continue
    echo "=== $(basename "$s")"
    bash "$s" "$build/strata"
done
