#!/usr/bin/env bash
# One small scenario run twice: as real processes on loopback and in the
# simulator (issue 3: "a small scenario run both as real processes and in
# the simulator reaches the same delivery outcome").
#
# The scenario: 16 viewers (6 at 1 Mbit/s of declared upload, 8 at 5, 2 at
# 20), a source with 4 Mbit/s of upload sending a 1 Mbit/s stream for 12 s,
# and 5 of the viewers (30 %) killed without a word half-way. Both runs must
# deliver the stream to those present (delivery >= 0.99) and agree on it
# within one percentage point; and before the kills both must carry most of
# it from peer to peer, the share of data uploaded by peers agreeing within
# 0.1: the same trees from the same control center, whatever hosts it.
# (After the kills, a real relay's sends to a dead child still count as
# sent until the control center notices, which no receiver can correct for;
# so the share is compared over the first half.)
. "$(dirname "$0")/lib.sh"

PEERS=16
RATE_KBPS=1000
SECONDS_OF_STREAM=12
SOURCE_UPLOAD=4000
caps=(5000 1000 5000 20000 1000 5000 5000 1000)
KILLED=(0 3 6 9 12) # 5000, 20000, 5000, 1000, 1000: a mix of relays and leaves

head -c $((RATE_KBPS * 1000 / 8 * SECONDS_OF_STREAM)) /dev/urandom >"$WORK/input.bin"

# --- real processes -----------------------------------------------------------
start_control
peer_pids=()
for ((i = 0; i < PEERS; i++)); do
    start_peer "peer$i" --upload "${caps[i % ${#caps[@]}]}" --exit-on-end
    peer_pids+=("$LAST_PID")
done
wait_for_members "$PEERS"
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate "$RATE_KBPS" --upload "$SOURCE_UPLOAD" --listen 127.0.0.1:0 --linger-ms 8000
SOURCE_PID=$LAST_PID
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
sleep $((SECONDS_OF_STREAM / 2))
mkdir "$WORK/half"
# cat, not cp: the peers replace their status files (a rename) every
# second, and cp refuses a file replaced while it copies it.
for f in "$WORK"/peer*.json; do cat "$f" >"$WORK/half/${f##*/}"; done
for i in "${KILLED[@]}"; do kill -KILL "${peer_pids[i]}"; done

played=0 missed=0 tx=0 rx=0
for ((i = 0; i < PEERS; i++)); do
    [[ " ${KILLED[*]} " == *" $i "* ]] && continue
    wait_exit "${peer_pids[i]}" $((SECONDS_OF_STREAM + 60)) || fail "peer$i did not reach the end"
done
for ((i = 0; i < PEERS; i++)); do
    f=$WORK/half/peer$i.json
    [ -s "$f" ] || fail "peer$i wrote no status by half-way"
    tx=$((tx + $(json_field "$f" tx_data_packets)))
    rx=$((rx + $(json_field "$f" rx_data_packets)))
    [[ " ${KILLED[*]} " == *" $i "* ]] && continue
    f=$WORK/peer$i.json
    played=$((played + $(json_field "$f" played_packets)))
    missed=$((missed + $(json_field "$f" missed_packets)))
done
[ $((played + missed)) -gt 0 ] || fail "the real peers played nothing"
[ "$rx" -gt 0 ] || fail "the real peers received nothing"
real_delivery=$(awk -v p="$played" -v m="$missed" 'BEGIN { printf "%.4f", p / (p + m) }')
real_p2p=$(awk -v t="$tx" -v r="$rx" 'BEGIN { printf "%.4f", t / r }')

# --- the simulator ------------------------------------------------------------
# The same population: the sim's capacity mix splits 16 peers exactly into
# 6, 8 and 2; no latency file, so every link has a few ms as on loopback.
cat >"$WORK/scenario.scn" <<EOF
capacity_mix = slow:0.375:1000,mid:0.5:5000,fast:0.125:20000
source_upload_kbps = $SOURCE_UPLOAD
fixed_delay_ms = 1
join = all
join_window_s = 1
at $((SECONDS_OF_STREAM / 2)) kill share=0.3
EOF
"$STRATA" sim --nodes "$PEERS" --duration $((SECONDS_OF_STREAM + 4)) --rate "$RATE_KBPS" \
    --seed 5 --scenario "$WORK/scenario.scn" --quiet --no-timing --out "$WORK/sim.json" \
    --csv "$WORK/sim.csv" || fail "strata sim failed"
sim_field() { sed -n "s/^ *\"$1\": \([0-9.]*\).*/\1/p" "$WORK/sim.json"; }
sim_delivery=$(sim_field delivery_ratio)
# The share over the first half: the CSV's per-second rows weighted by
# their data rate.
sim_p2p=$(awk -F, -v half=$((SECONDS_OF_STREAM / 2)) '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $col["t_s"] < half && $col["p2p_share"] != "" {
        w += $col["data_kbps"]; s += $col["data_kbps"] * $col["p2p_share"] }
    END { if (w > 0) printf "%.4f", s / w }' "$WORK/sim.csv")
sim_kills=$(sim_field kills)
[ -n "$sim_delivery" ] && [ -n "$sim_p2p" ] || fail "no figures in the simulator's JSON"
[ "${sim_kills:-0}" -gt 0 ] || fail "the simulated kill hit nobody"

echo "real: delivery $real_delivery p2p share $real_p2p ($played played, $missed missed)"
echo "sim:  delivery $sim_delivery p2p share $sim_p2p ($sim_kills killed)"
awk -v r="$real_delivery" -v s="$sim_delivery" 'BEGIN { exit !(r >= 0.99 && s >= 0.99) }' \
    || fail "delivery below 0.99 (real $real_delivery, sim $sim_delivery)"
awk -v r="$real_delivery" -v s="$sim_delivery" 'BEGIN { d = r - s; if (d < 0) d = -d; exit !(d <= 0.01) }' \
    || fail "real and simulated delivery differ by more than 0.01"
awk -v r="$real_p2p" -v s="$sim_p2p" 'BEGIN { d = r - s; if (d < 0) d = -d; exit !(d <= 0.1 && r > 0.5) }' \
    || fail "peer share differs (real $real_p2p, sim $sim_p2p) or is not most of the traffic"
pass "same outcome: delivery real $real_delivery / sim $sim_delivery, p2p share real $real_p2p / sim $sim_p2p"
