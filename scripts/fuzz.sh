#!/usr/bin/env bash
# Runs every libFuzzer target found in a build directory for a while.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS [RUNS]
#
# FUZZ_ONLY (an extended regular expression matched against the whole
# name, e.g. 'fuzz_(data|join)') keeps the targets it matches. With RUNS, each target stops after RUNS executions instead
# (SECONDS then bounds it as well; 0 = no bound).
#
# Each fuzz_<name> binary runs for SECONDS over a work directory (first, so
# new inputs land there) and the committed seed corpus fuzz/corpus/fuzz_<name>
# (read only). Crash reproducers are written into the work directory. Prints
# one line per target and exits nonzero if any target crashed or failed.
# Build the targets with: cmake -DSTRATA_FUZZ=ON -DCMAKE_C_COMPILER=clang.
set -uo pipefail

if [ $# -ne 2 ] && [ $# -ne 3 ]; then
    echo "usage: $0 BUILD_DIR SECONDS [RUNS]" >&2
    exit 2
fi
build=$1
seconds=$2
runs=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
limits=(-max_total_time="$seconds")
[ -n "$runs" ] && limits+=(-runs="$runs")

mapfile -t targets < <(find "$build" -maxdepth 2 -type f -name 'fuzz_*' -perm -u+x | sort |
    grep -E "/(${FUZZ_ONLY:-.*})\$" || true)
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz_* binaries in $build (configure with -DSTRATA_FUZZ=ON)" >&2
    exit 2
fi

failed=0
for bin in "${targets[@]}"; do
    name=$(basename "$bin")
    corpus=$repo/fuzz/corpus/$name
    work=$build/fuzz-work/$name
    log=$build/fuzz-work/$name.log
    mkdir -p "$work"
    corpus_args=("$work")
    [ -d "$corpus" ] && corpus_args+=("$corpus")
    "$bin" "${limits[@]}" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/" "${corpus_args[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
    if [ $rc -eq 0 ]; then
        printf '%-20s ok      %s execs, %s/s, cov %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}"
    else
        printf '%-20s FAILED  exit %d, see %s\n' "$name" "$rc" "$log"
        grep -m 3 -E 'ERROR|SUMMARY|Test unit written' "$log" | sed 's/^/    /'
        failed=1
    fi
done
exit $failed
