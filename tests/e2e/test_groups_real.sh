#!/usr/bin/env bash
# Issue 4, "must hold": 40 real peers with emulated delay from planetlab490
# form groups that match the simulator's for the same hosts and seed:
# adjusted Rand index >= 0.9, or at most 4 of the 40 hosts placed
# differently (on a busy machine which of two passing groups a newcomer
# reaches first can depend on timing; docs/groups.md, "Under load").
#
# Per seed, the hosts are a seeded sample of the matrix; both runs use the
# same 40 x 40 sub-matrix (so the same loader and gap filling), the same
# join order and the same arrival times, node ids and agent seeds (the
# simulator writes them with --order; the peers are started on that
# schedule with --node-id and --group-seed), and the same protocol
# defaults; the control center draws its bootstrap leaders with the
# simulator's seed and method (--groups-seed, strata_rng_pick). So the two
# runs differ in what the network and the machine do: delays measured
# rather than given, timers and messages that overtake one another. The
# control center is on 127.0.0.1 (outside 127.1/16: no delay).
#
# Seeds 1, 2 and 3 run side by side, each with its own control center and
# peers (ports chosen by the system, so the 127.1.0.x addresses they share
# do not collide): the peers are idle most of the time, so three runs cost
# the wall time of one (~55 s). STRATA_GROUPS_SEEDS="S ..." picks others
# (STRATA_GROUPS_SEED=S, one seed, is still understood); PEER_EXTRA replaces
# the peers' -q (e.g. -v to log every join test).
. "$(dirname "$0")/lib.sh"

DATA=${STRATA_DATA_DIR:-$(dirname "$0")/../../data}
MATRIX=$DATA/latency/planetlab490/planetlab490_median_rtt_ms.txt
[ -r "$MATRIX" ] || fail "cannot read $MATRIX (STRATA_DATA_DIR overrides the data folder)"
SEEDS=${STRATA_GROUPS_SEEDS:-${STRATA_GROUPS_SEED:-1 2 3}}
N=40
SPACING_MS=500 # mean gap between arrivals
SETTLE_S=30    # after the last arrival: a refinement round (20 s) has run everywhere
MIN_ARI=0.9
MAX_MOVED=4    # hosts placed differently when the ARI is below MIN_ARI: 10 %

# run_seed SEED: one comparison in $WORK/seedSEED; prints the "seed S:"
# line and exits non-zero when the ARI is below MIN_ARI. Runs in a
# subshell with its own WORK, PIDS and cleanup.
run_seed() {
    local seed=$1
    WORK=$WORK/seed$seed
    PIDS=()
    mkdir -p "$WORK"
    trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done' EXIT
    trap 'exit 143' TERM

    python3 - "$MATRIX" "$seed" "$N" "$WORK" <<'PY'
import random, sys
path, seed, n, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [r.split() for r in open(path) if r.strip()]
hosts = sorted(random.Random(seed).sample(range(len(rows)), n))
with open(work + '/hosts.tsv', 'w') as f:
    for i, h in enumerate(hosts):
        f.write('%d\t%d\n' % (i, h))
# A pair within EDGE ms of the 50 ms test is moved to EDGE ms from it, on
# its side: the simulator measures exactly, but a real measurement carries
# the emulation's +0.05..+0.37 ms and what load leaves after the recheck
# (protocol.md 7.3), so a host 0.25 ms inside the test (seed 2, host 20)
# joins in one run and founds in the other whatever the protocol does.
EDGE, LIMIT = 1.0, 50.0
moved = 0
with open(work + '/sub.txt', 'w') as f:
    for i in hosts:
        out = []
        for j in hosts:
            v = rows[i][j]
            x = float(v)
            if i != j and abs(x - LIMIT) < EDGE:
                v = '%.3f' % (LIMIT - EDGE if x <= LIMIT else LIMIT + EDGE)
                moved += 1
            out.append(v)
        f.write(' '.join(out) + '\n')
with open(work + '/edge.txt', 'w') as f:
    f.write('%d\n' % moved)
PY

    "$STRATA" sim --scenario groups --latency "$WORK/sub.txt" --seed "$seed" --quiet \
        --spacing-ms $SPACING_MS --settle-s $SETTLE_S --assign "$WORK/sim.tsv" \
        --order "$WORK/order.tsv" --out "$WORK/sim.json" ${SIM_EXTRA:-} || fail "seed $seed: strata sim exited $?"
    [ "$(wc -l <"$WORK/order.tsv")" -eq $N ] || fail "seed $seed: want $N arrivals in the order file"

    local boot_seed
    boot_seed=$(sed -n 's/.*"bootstrap_seed": "\([0-9]*\)".*/\1/p' "$WORK/sim.json")
    [ -n "$boot_seed" ] || fail "seed $seed: no bootstrap_seed in the simulator's metrics"
    start_control --groups-seed "$boot_seed" ${CONTROL_EXTRA:-}
    local t0 idx at_ms node_id agent_seed now_ms first_ms='' wait_ms last late_ms=0 shift_ms=0
    t0=$(date +%s%N)
    while IFS=$'\t' read -r idx at_ms node_id agent_seed; do
        # Start each peer at its simulated arrival time (first one at 0),
        # shifted by how late earlier ones started: a busy machine can take
        # a second to start a process, and the gap to the next arrival is
        # the run's input (which of two near arrivals founds a group and
        # which joins it depends on it), so lateness moves the rest of the
        # schedule rather than squeezing the next gaps.
        now_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        first_ms=${first_ms:-${at_ms%.*}}
        wait_ms=$(( ${at_ms%.*} - first_ms + shift_ms - now_ms ))
        [ $wait_ms -gt 0 ] && sleep "$(awk -v m=$wait_ms 'BEGIN { printf "%.3f", m / 1000 }')"
        if [ $wait_ms -lt 0 ]; then
            shift_ms=$((shift_ms - wait_ms))
            [ $((-wait_ms)) -gt $late_ms ] && late_ms=$((-wait_ms))
        fi
        start "p$idx" peer --control "$CONTROL" --channel groups --latency "$WORK/sub.txt" \
            --host-index "$idx" --node-id "$node_id" --group-seed "$agent_seed" \
            --status-file "$WORK/p$idx.json" ${PEER_EXTRA:--q}
        # The next arrival waits until this peer is up: on a busy machine a
        # process can take longer to start than the gap to the next one, and
        # a peer that comes up after its successor finds other groups than
        # the simulator's (the order is the run's input, not its outcome).
        wait_for_line "$WORK/p$idx.out" '^strata peer [0-9a-f]+ listening on udp ' 10 \
            || fail "seed $seed: peer $idx not ready"
    done <"$WORK/order.tsv"
    last=$(( ($(date +%s%N) - t0) / 1000000 ))

    # Settle as long as the simulator did, then every peer must be in a group.
    sleep $SETTLE_S &
    wait $! # (a TERM is handled at once, not after the sleep)
    local i h ingroup=0
    for ((i = 0; i < 100; i++)); do
        ingroup=0
        for ((h = 0; h < N; h++)); do
            grep -qE '"group":\{"state":[23],' "$WORK/p$h.json" 2>/dev/null && ingroup=$((ingroup + 1))
        done
        [ $ingroup -eq $N ] && break
        sleep 0.1
    done
    [ $ingroup -eq $N ] || fail "seed $seed: only $ingroup of $N peers are in a group"

    for ((h = 0; h < N; h++)); do
        printf '%d\t%s\n' $h "$(sed -n 's/.*"group":{"state":[23],"id":"\([0-9a-f]*\)".*/\1/p' "$WORK/p$h.json")"
    done >"$WORK/real.tsv"

    # The adjusted Rand index of the two assignments, and which hosts moved:
    # the real groups matched one to one to the simulator's by largest
    # overlap, a host outside its group's match moved.
    local ari groups_sim groups_real moved
    read -r ari groups_sim groups_real moved < <(python3 - "$WORK/sim.tsv" "$WORK/real.tsv" <<'PY'
import sys
from collections import Counter
from math import comb
def load(p):
    return {a: b for a, b in (l.split() for l in open(p) if l.strip()) if b != '-'}
a, b = load(sys.argv[1]), load(sys.argv[2])
keys = sorted(set(a) & set(b))
n = len(keys)
nij = Counter((a[k], b[k]) for k in keys)
ai, bj = Counter(a[k] for k in keys), Counter(b[k] for k in keys)
s = sum(comb(v, 2) for v in nij.values())
sa, sb = sum(comb(v, 2) for v in ai.values()), sum(comb(v, 2) for v in bj.values())
e, m = sa * sb / comb(n, 2), (sa + sb) / 2
ari = 1.0 if m == e else (s - e) / (m - e)
match, used_a, used_b = set(), set(), set()
for (ga, gb), _ in sorted(nij.items(), key=lambda kv: -kv[1]):
    if ga not in used_a and gb not in used_b:
        match.add((ga, gb)); used_a.add(ga); used_b.add(gb)
moved = [k for k in keys if (a[k], b[k]) not in match]
print('%.4f %d %d %s' % (ari, len(ai), len(bj), ','.join(moved) or '-'))
PY
)
    echo "seed $seed: simulator $groups_sim groups, real processes $groups_real groups, ARI $ari, moved hosts $moved (arrivals over ${last} ms, at most ${late_ms} ms late, ${shift_ms} ms in all; $(cat "$WORK/edge.txt") pair RTTs moved off the 50 ms edge)"
    awk -v a="$ari" -v m=$MIN_ARI 'BEGIN { exit !(a >= m) }' && return 0
    # Below MIN_ARI: on a 40-host sample one host that moves between groups
    # of six costs up to 0.17 of ARI, and on a busy machine which of two
    # groups a newcomer reaches first depends on links a few hundred ms old
    # (docs/groups.md, "Under load"): up to MAX_MOVED moved hosts are what
    # the protocol promises there, more is a failure.
    local nmoved=0
    [ "$moved" = - ] || nmoved=$(tr ',' '\n' <<<"$moved" | grep -c .)
    if [ "$nmoved" -le $MAX_MOVED ]; then
        echo "seed $seed: ARI below $MIN_ARI from $nmoved moved host(s), at most $MAX_MOVED allowed"
        return 0
    fi
    paste "$WORK/sim.tsv" "$WORK/real.tsv"
    fail "seed $seed: ARI $ari below $MIN_ARI and $nmoved hosts moved ($moved)"
}

# Each run kills its own peers when it ends; stopped early (a failure here,
# a timeout), they are told to end first, then lib.sh cleans up.
declare -A SEED_PID
stop_seeds() {
    local pid
    for pid in "${SEED_PID[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${SEED_PID[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'rc=$?; stop_seeds; (exit $rc); cleanup' EXIT
for seed in $SEEDS; do
    run_seed "$seed" >"$WORK/seed$seed.txt" 2>&1 &
    SEED_PID[$seed]=$!
done
failed=''
for seed in $SEEDS; do
    wait "${SEED_PID[$seed]}" || failed="$failed $seed"
    cat "$WORK/seed$seed.txt"
done
if [ -n "$failed" ]; then
    for seed in $failed; do
        for f in "$WORK/seed$seed"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 5 "$f"; }; done
    done
    fail "seed(s)$failed: the real peers do not group like the simulator"
fi
pass "$N real peers with emulated delay group like the simulator at seeds $SEEDS (ARI >= $MIN_ARI each)"
