#!/usr/bin/env bash
# The erasure-coded level (docs/hierarchy.md, --levels ec): real processes
# with emulated delay (planetlab490), a control center with --levels ec,
# three regions of PER_REGION peers, a file at 1 Mbit/s. Each region's
# k + n = 6 trees are rooted at six different preferred nodes (its own two,
# then other regions'), so:
#  - a quarter of the way in, one member with children in its region's
#    trees (a second-level node) is killed: its subtree loses one tree,
#    which the parity fills;
#  - half-way, both preferred nodes of one region (c - 1 = 2) are killed at
#    once: every cluster loses at most two of its six trees.
# Every survivor must play every packet in time (missed_packets 0) and
# write the input byte for byte; the parity must have rebuilt packets
# (counted apart from repairs).
#
# With LEVELS=3 (test_levels_three.sh) the control center runs --levels 3:
# in regions 0 and 1, besides the two preferred nodes, four members of
# twice the rate make the relay cluster and two of the rate the common
# cluster (each of its trees fed by another relay member); region 2 has
# no member of twice the rate but the two that become its preferred nodes,
# which then feed its common trees themselves. The member killed a quarter
# of the way in is a relay member that feeds a common tree.
#
# With WAYPOINT=1 as well (test_levels_three.sh, 20 peers a region), no
# member of region 2 can carry the stream (990 kbit/s each, below the
# rate) and a waypoint server (strata peer --waypoint, SPEC C5) offers
# itself for the channel in region 2: the control center must place it
# there, make it one of the region's preferred nodes, and leave it there;
# it relays and writes nothing.
. "$(dirname "$0")/lib.sh"

LEVELS=${LEVELS:-ec}
WAYPOINT=${WAYPOINT:-0}
# How the mesh carries the stream (strata control --top): the ctest entry
# of this script (levels ec) runs it with TOP=tree, test_levels_three.sh
# with the default, flood.
TOP=${TOP:-flood}

DATA=${STRATA_DATA_DIR:-$(dirname "$0")/../../data}
MATRIX=$DATA/latency/planetlab490/planetlab490_median_rtt_ms.txt
[ -r "$MATRIX" ] || fail "cannot read $MATRIX (STRATA_DATA_DIR overrides the data folder)"

PER_REGION=${PER_REGION:-8}
RATE_KBPS=1000
SIZE_BYTES=$((1024 * 1024))
head -c "$SIZE_BYTES" /dev/urandom >"$WORK/input.bin"

# The control center plays host 0; region r's peers hosts 10 + 20 r + i
# (a region's hosts are not especially near each other: the labels make
# the regions, the delays make the paths real).
# (Port 0: the system's choice, so that this test runs beside its LEVELS=3
# twin, whose control center has the same host.)
# Heartbeats every 250 ms: the preferred nodes are chosen (an evaluation
# every ten heartbeats, once the source is in) well before half-way.
# Regions of 8 split into relay and common clusters (--split-members 1;
# by default a region that small stays one cluster).
start control control --latency "$MATRIX" --host-index 0 --listen 0.0.0.0:0 \
    --heartbeat-ms 250 --status-file "$WORK/control.json" --split-members 1 \
    --levels "$LEVELS" --top "$TOP" --regions label --topology-file "$WORK/topology.txt"
wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")

# Per region: two peers that carry a mesh of three links and the few root
# children of the trees they feed (so that the trees have second-level
# nodes below them), the rest with room for a few children.
pids=() names=() ids=()
for r in 0 1 2; do
    for ((i = 0; i < PER_REGION; i++)); do
        name="r${r}p$i"
        up=2000
        [ "$i" -lt 2 ] && up=8000
        if [ "$LEVELS" = 3 ]; then
            [ "$i" -ge 6 ] && up=1000
            [ "$r" = 2 ] && [ "$i" -ge 2 ] && up=1000
            [ "$r" = 2 ] && [ "$WAYPOINT" = 1 ] && up=990
        fi
        start "$name" peer --control "$CONTROL" --channel test --latency "$MATRIX" \
            --host-index $((10 + 20 * r + i)) --region "region$r" --upload "$up" \
            --output "$WORK/$name.ts" --status-file "$WORK/$name.json" --exit-on-end
        wait_for_line "$WORK/$name.out" '^strata peer [0-9a-f]+ listening on udp ' 10 \
            || fail "$name not ready"
        pids+=("$LAST_PID")
        names+=("$name")
        ids+=("$(sed -n 's/^strata peer \([0-9a-f]*\) listening.*/\1/p' "$WORK/$name.out")")
    done
done
wait_for_members $((3 * PER_REGION))
if [ "$WAYPOINT" = 1 ]; then
    start waypoint peer --waypoint --control "$CONTROL" --channel test --latency "$MATRIX" \
        --host-index 75 --region region2 --upload 20000 --status-file "$WORK/waypoint.json"
    wait_for_line "$WORK/waypoint.out" '^strata peer [0-9a-f]+ listening on udp ' 10 \
        || fail "waypoint not ready"
    WAYPOINT_PID=$LAST_PID
    WAYPOINT_ID=$(sed -n 's/^strata peer \([0-9a-f]*\) listening.*/\1/p' "$WORK/waypoint.out")
    # No source yet, so nobody can say who is capable: it waits.
    wait_for_line "$WORK/waypoint.json" '"joins_standby":[1-9]' 10 \
        || fail "the waypoint was not told to wait: $(cat "$WORK/waypoint.json")"
fi
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --latency "$MATRIX" --host-index 5 --linger-ms 5000
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

duration=$((SIZE_BYTES * 8 / (RATE_KBPS * 1000) + 1))

# line_of I: peer I's topology line (node channel dcm p0 .. p5).
line_of() { grep -i "^0*${ids[$1]} " "$WORK/topology.txt" || true; }
# is_head I: a preferred node floods: its data trees name no parent.
is_head() {
    line_of "$1" | awk '{ for (i = 4; i <= 7; i++) if ($i != "-") exit 1; exit NF < 4 }'
}
# has_children I: another peer names it as a parent.
has_children() {
    local id=${ids[$1]}
    awk -v id="$id" '{ for (i = 4; i <= NF; i++) if ($i ~ ("^0*" id "$")) f = 1 } END { exit !f }' \
        "$WORK/topology.txt"
}

# level_of I: the level its topology line gives (level=N), or 0.
level_of() { line_of "$1" | sed -n 's/.* level=\([0-9]\).*/\1/p'; }
# feeds_common I: a common member (level 3) names it as a parent.
feeds_common() {
    local id=${ids[$1]}
    awk -v id="$id" '/ level=3/ { for (i = 4; i <= NF; i++) if ($i ~ ("^0*" id "$")) f = 1 } END { exit !f }' \
        "$WORK/topology.txt"
}

sleep $((duration / 4))
victim=
# (Not one of the two strongest: the preferred nodes may not be chosen yet,
# and losing one as well as region 1's two would be c of them, not c - 1.)
for ((i = 2; i < PER_REGION; i++)); do # region 0's members
    is_head "$i" && continue
    if [ "$LEVELS" = 3 ]; then
        [ "$(level_of "$i")" = 2 ] && feeds_common "$i" && { victim=$i; break; }
    else
        has_children "$i" && { victim=$i; break; }
    fi
done
[ -n "$victim" ] || fail "no member of region 0 to kill: $(cat "$WORK/topology.txt")"
if [ "$LEVELS" = 3 ]; then
    # The shape: in regions 0 and 1, all but the six strongest are common.
    for r in 0 1; do
        commons=0
        for ((i = r * PER_REGION; i < (r + 1) * PER_REGION; i++)); do
            [ "$(level_of "$i")" = 3 ] && commons=$((commons + 1))
        done
        [ "$commons" = $((PER_REGION - 6)) ] \
            || fail "region $r has $commons common members, want $((PER_REGION - 6)): $(cat "$WORK/topology.txt")"
    done
fi
if [ "$WAYPOINT" = 1 ]; then
    # Placed in region 2 and one of its preferred nodes (it floods: its
    # data trees name no parent).
    wline=$(grep -i "^0*$WAYPOINT_ID " "$WORK/topology.txt" || true)
    echo "$wline" | grep -q '(waypoint)' \
        || fail "the waypoint is not placed: $(cat "$WORK/topology.txt")"
    echo "$wline" | awk '{ for (i = 4; i <= 7; i++) if ($i != "-") exit 1; exit NF < 4 }' \
        || fail "the waypoint is not a preferred node: $wline"
    wait_for_line "$WORK/control.json" '"waypoints":1,' 5 \
        || fail "the control center does not count one waypoint: $(cat "$WORK/control.json")"
fi
kill -KILL "${pids[victim]}"
echo "killed the second-level node ${names[victim]} (level $LEVELS) a quarter of the way in"

sleep $((duration / 4))
heads=()
for ((i = PER_REGION; i < 2 * PER_REGION; i++)); do # region 1's preferred nodes
    is_head "$i" && heads+=("$i")
done
[ ${#heads[@]} -eq 2 ] || fail "region 1 has ${#heads[@]} preferred nodes, want 2: $(cat "$WORK/topology.txt")"
# Who fed whom when they died, for a failure's post-mortem (the work
# directory is kept then). cat, not cp: the file is renamed over every second.
cat "$WORK/topology.txt" >"$WORK/topology_at_kill.txt"
kill -KILL "${pids[heads[0]]}" "${pids[heads[1]]}"
echo "killed ${names[heads[0]]} and ${names[heads[1]]}, both preferred nodes of region 1, half-way"
if [ "$WAYPOINT" = 1 ]; then
    # Half-way it has relayed (its counters are its session's: once the
    # viewers are gone at the end, it is taken back and starts a new one).
    wtx=$(sed -n 's/.*"channels":\[{[^]]*"tx_data_bytes":\([0-9]*\).*/\1/p' "$WORK/waypoint.json")
    [ "${wtx:-0}" -gt $((SIZE_BYTES / 4)) ] \
        || fail "the waypoint relayed ${wtx:-0} bytes by half-way: $(cat "$WORK/waypoint.json")"
    grep -q '"waypoint":true' "$WORK/waypoint.json" || fail "the waypoint's status does not say so"
fi

ok=0 rebuilt=0 repaired=0 states=0 moves=0
for ((i = 0; i < ${#pids[@]}; i++)); do
    [ "$i" = "$victim" ] || [ "$i" = "${heads[0]}" ] || [ "$i" = "${heads[1]}" ] && continue
    wait_exit "${pids[i]}" $((duration + 60)) || fail "${names[i]} did not reach the end of the stream"
    cmp -s "$WORK/input.bin" "$WORK/${names[i]}.ts" \
        || fail "${names[i]} output differs ($(stat -c %s "$WORK/${names[i]}.ts") bytes; id ${ids[i]}): $(cat "$WORK/${names[i]}.json")"
    missed=$(json_field "$WORK/${names[i]}.json" missed_packets)
    [ "${missed:-x}" = 0 ] || fail "${names[i]} missed ${missed:-?} packets: $(cat "$WORK/${names[i]}.json")"
    rebuilt=$((rebuilt + $(json_field "$WORK/${names[i]}.json" parity_rebuilt_packets)))
    repaired=$((repaired + $(json_field "$WORK/${names[i]}.json" rx_repair_bytes) / 1350))
    states=$((states + $(json_field "$WORK/${names[i]}.json" mesh_states_tx)))
    moves=$((moves + $(json_field "$WORK/${names[i]}.json" mesh_upstream_moves)))
    ok=$((ok + 1))
done
wait_exit "$SOURCE_PID" 30 || fail "source did not leave after its linger time"
[ "$rebuilt" -gt 0 ] || fail "no packet was rebuilt from parity"
if [ "$TOP" = tree ]; then
    # The surviving preferred nodes kept a tree inside the mesh.
    [ "$states" -gt 0 ] || fail "--top tree, but no preferred node sent a MESH_STATE"
    echo "--top tree: the survivors sent $states MESH_STATEs and moved $moves substreams"
else
    [ "$states" = 0 ] || fail "--top flood, but $states MESH_STATEs were sent"
fi
if [ "$WAYPOINT" = 1 ]; then
    # It played none of the stream; once the viewers are gone it is taken
    # back (nobody left to serve) and waits again.
    wplayed=$(json_field "$WORK/waypoint.json" played_bytes)
    [ "${wplayed:-x}" = 0 ] || fail "the waypoint played ${wplayed:-?} bytes"
    wait_for_line "$WORK/control.json" '"waypoint_releases":1,' 15 \
        || fail "the waypoint was not taken back at the end: $(cat "$WORK/control.json")"
    wait_for_line "$WORK/waypoint.json" '"state":0,' 5 \
        || fail "the released waypoint does not offer itself again: $(cat "$WORK/waypoint.json")"
    kill "$WAYPOINT_PID"
    echo "the waypoint relayed $wtx bytes by half-way, played none, and was taken back at the end"
fi
echo "control status: $(cat "$WORK/control.json")"
pass "$ok peers byte-identical, none missed a packet, with a second-level node and two preferred nodes of one region killed ($rebuilt packets rebuilt from parity, about $repaired repaired)"
