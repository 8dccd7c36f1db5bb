#!/usr/bin/env bash
# Runs the whole plain test suite ROUNDS times in a row (default 20) in a
# clean clone of this repository while a second clone rebuilds the core
# library and relinks everything in a loop beside it, so that every
# timing-sensitive test runs with the other core busy (issue 12). Stops at
# the first failing round; the rounds' ctest outputs and a summary line per
# round go to OUT (default /tmp/strata-rounds).
#   scripts/suite-rounds.sh [ROUNDS]
set -u
rounds=${1:-20}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
out=${OUT:-/tmp/strata-rounds}
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-rounds.XXXXXX")
mkdir -p "$out"
rm -f "$out"/round*.txt "$out"/summary.txt
git clone -q "$repo" "$work/suite" && git clone -q "$repo" "$work/load" || exit 1
cmake -S "$work/suite" -B "$work/suite/build" -DSTRATA_WERROR=ON >/dev/null &&
    cmake --build "$work/suite/build" -j2 >/dev/null || { echo "build failed"; exit 1; }
cmake -S "$work/load" -B "$work/load/build" >/dev/null || exit 1
touch "$work/loading"
(while [ -f "$work/loading" ]; do
    rm -rf "$work/load/build/CMakeFiles/strata_core.dir"
    cmake --build "$work/load/build" -j1 >/dev/null 2>&1
done) &
loader=$!
rc=0
for ((i = 1; i <= rounds; i++)); do
    start=$(date +%s)
    (cd "$work/suite/build" && ctest -j2 --timeout 900 >"$out/round$i.txt" 2>&1)
    rc=$?
    echo "round $i rc $rc $(($(date +%s) - start)) s $(date +%T)" | tee -a "$out/summary.txt"
    [ $rc -ne 0 ] && break
done
rm -f "$work/loading"
wait $loader
[ $rc -eq 0 ] && rm -rf "$work" || echo "kept $work (the failed round's build and logs)"
exit $rc
