#!/usr/bin/env bash
# The top level as a mesh (docs/hierarchy.md): a control center with
# --levels mesh, three regions of six peers, a 4 MiB file at 2 Mbit/s.
# Each region's first capable peer heads it at once; half-way the heads of
# two regions (c - 1 = 2 preferred nodes) are killed with SIGKILL. Every
# survivor's output must be byte-identical to the input, the mesh must
# have carried the stream (the heads' instructions are FLOOD: they name no
# parent), and the two regions must have new heads.
. "$(dirname "$0")/lib.sh"

RATE_KBPS=2000
SIZE_BYTES=$((4 * 1024 * 1024))
head -c "$SIZE_BYTES" /dev/urandom >"$WORK/input.bin"
start_control --levels mesh --regions label --topology-file "$WORK/topology.txt"

# Per region: two peers that carry a mesh of three links beside their
# region's trees, one with a stream to spare (a leaf below the mesh if it
# heads), three with one stream.
caps=(16000 16000 3000 2000 2000 2000)
pids=() names=() ids=()
for r in 0 1 2; do
    for ((i = 0; i < ${#caps[@]}; i++)); do
        name="r${r}p$i"
        start_peer "$name" --region "region$r" --upload "${caps[i]}" --exit-on-end
        pids+=("$LAST_PID")
        names+=("$name")
        ids+=("$(sed -n 's/^strata peer \([0-9a-f]*\) listening.*/\1/p' "$WORK/$name.out")")
    done
done
wait_for_members 18
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --listen 127.0.0.1:0 --linger-ms 8000
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

duration=$((SIZE_BYTES * 8 / (RATE_KBPS * 1000) + 1))
sleep $((duration / 2))
# The heads: members whose topology line names no parent (FLOOD), not the
# source. Kill the first head found in region 0 and in region 1.
heads_of() { # REGION -> peer indexes that head it now
    local r=$1 i line
    for ((i = r * 6; i < r * 6 + 6; i++)); do
        line=$(grep -i "^0*${ids[i]} " "$WORK/topology.txt" || true)
        [ -n "$line" ] || continue
        # node channel dcm p0 .. p3: a head floods, with no parent ("-")
        if echo "$line" | awk '{ for (i = 4; i <= NF; i++) if ($i != "-") exit 1 }'; then
            echo "$i"
        fi
    done
}
h0=$(heads_of 0)
h1=$(heads_of 1)
h0=${h0%%$'\n'*} h1=${h1%%$'\n'*} # the first of each
[ -n "$h0" ] && [ -n "$h1" ] || fail "no head found in regions 0 and 1: $(cat "$WORK/topology.txt")"
kill -KILL "${pids[h0]}" "${pids[h1]}"
echo "killed the heads ${names[h0]} and ${names[h1]} half-way"

ok=0
for ((i = 0; i < ${#pids[@]}; i++)); do
    [ "$i" = "$h0" ] || [ "$i" = "$h1" ] && continue
    wait_exit "${pids[i]}" $((duration + 60)) || fail "${names[i]} did not reach the end of the stream"
    cmp -s "$WORK/input.bin" "$WORK/${names[i]}.ts" \
        || fail "${names[i]} output differs ($(stat -c %s "$WORK/${names[i]}.ts") bytes)"
    ok=$((ok + 1))
done
wait_exit "$SOURCE_PID" 30 || fail "source did not leave after its linger time"
promotions=$(json_field "$WORK/control.json" promotions)
[ "${promotions:-0}" -ge 5 ] \
    || fail "expected the two regions' heads replaced (promotions ${promotions:-none}): $(cat "$WORK/control.json")"
echo "control status: $(cat "$WORK/control.json")"
pass "$ok peers byte-identical with the mesh on top, two of its preferred nodes killed (promotions $promotions)"
