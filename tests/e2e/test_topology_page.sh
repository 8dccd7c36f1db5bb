#!/usr/bin/env bash
# The live topology page (issue 12 item 3) in headless Chromium, driven by
# chromedriver's WebDriver API (tests/e2e/webdriver.py): a control center
# with --http, four peers in two labelled regions and a source. The page at
# / must draw as many nodes as the control center counts, one region box
# per region and one edge per attached (node, substream) of the topology
# the control center serves, load nothing from elsewhere, and drop a peer
# killed with SIGKILL within a few heartbeats of the kill.
. "$(dirname "$0")/lib.sh"
command -v chromium >/dev/null && command -v chromedriver >/dev/null \
    || fail "chromium and chromedriver are not installed (scripts/install-deps.sh test installs them)"

HB_MS=250
start control control --listen 127.0.0.1:0 --status-file "$WORK/control.json" --http 127.0.0.1:0 \
    --regions label --heartbeat-ms $HB_MS
wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
PAGE=$(sed -n 's/.* http \(http:\/\/[0-9.:]*\/\).*/\1/p' "$WORK/control.out")
[ -n "$PAGE" ] || fail "the control center printed no page URL"
regions=(east east west west)
for i in 0 1 2 3; do
    start_peer "peer$i" --no-groups --region "${regions[i]}" --upload 3000
done
VICTIM_PID=$LAST_PID
VICTIM_ID=$(sed -n 's/^strata peer \([0-9a-f]*\) .*/\1/p' "$WORK/peer3.out")
wait_for_members 4
head -c $((256 * 1024)) /dev/urandom >"$WORK/input.bin"
start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" --rate 1000 \
    --listen 127.0.0.1:0 --loop
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"

python3 - "$(dirname "$0")" "$PAGE" "$WORK" "$VICTIM_PID" "$VICTIM_ID" "$HB_MS" <<'PY'
import json, os, signal, sys, time, urllib.request
here, page, work, victim_pid, victim, hb_ms = sys.argv[1:7]
sys.path.insert(0, here)
from webdriver import Browser

def get(path):
    with urllib.request.urlopen(page + path, timeout=5) as r:
        return json.loads(r.read().decode())

DRAWN = """return {polls: +document.body.dataset.polls,
  nodes: Array.from(new Set(Array.from(document.querySelectorAll('g.node'), g => g.dataset.node))),
  groups: document.querySelectorAll('g.node').length,
  regions: document.querySelectorAll('rect.region-box').length,
  edges: document.querySelectorAll('path.edge').length};"""

b = Browser(os.path.join(work, "chromedriver.log"))
try:
    b.open(page + "?poll_ms=250")
    # The page and the control center agree once the overlay is settled: the
    # same nodes, regions and (node, substream) edges as /topology.json.
    deadline, last = time.time() + 20, None
    while True:
        topo = get("topology.json")
        ms = topo["members"]
        want = {"nodes": sorted(m["node"] for m in ms),
                "regions": len({m["region_dcm"] for m in ms if m["role"] != "source"}),
                "edges": sum(p is not None for m in ms for p in m["parents"])}
        d = b.run(DRAWN)
        got = {"nodes": sorted(d["nodes"]), "regions": d["regions"], "edges": d["edges"]}
        last = (got, want, topo["status"]["nodes"], d)
        if (d["polls"] >= 2 and got == want and len(want["nodes"]) == topo["status"]["nodes"] == 5
                and d["groups"] == 5 and want["regions"] == 2
                and topo["status"]["detached_pairs"] == 0):
            break
        if time.time() > deadline:
            sys.exit("FAIL: the page does not draw what the control center holds: "
                     "drawn %s, topology %s, status nodes %s, raw %s" % last)
        time.sleep(0.1)
    print("page draws %d nodes in %d regions with %d edges, as the control center holds"
          % (len(got["nodes"]), got["regions"], got["edges"]))
    foreign = b.run("return performance.getEntriesByType('resource').map(e => e.name)"
                    ".filter(n => !n.startsWith(location.origin));")
    if foreign:
        sys.exit("FAIL: the page loaded assets from elsewhere: %s" % foreign)
    b.screenshot(os.path.join(work, "topology.png"))
    with open(os.path.join(work, "topology.png"), "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            sys.exit("FAIL: the screenshot is not a PNG")

    # SIGKILL a peer: the page drops it within a few heartbeats (3.5 to
    # declare it dead, a poll period and a fetch on top).
    if victim not in got["nodes"]:
        sys.exit("FAIL: the victim %s is not drawn" % victim)
    os.kill(int(victim_pid), signal.SIGKILL)
    t0 = time.time()
    limit = 10 * int(hb_ms) / 1000
    while True:
        d = b.run(DRAWN)
        if victim not in d["nodes"]:
            break
        if time.time() - t0 > 3 * limit:
            sys.exit("FAIL: the killed peer is still drawn after %.1f s" % (time.time() - t0))
        time.sleep(0.02)
    gone = time.time() - t0
    status = get("status")
    if len(d["nodes"]) != 4:
        sys.exit("FAIL: %d nodes drawn after the kill, want 4" % len(d["nodes"]))
    if gone > limit:
        sys.exit("FAIL: the killed peer disappeared after %.2f s, more than 10 heartbeats (%.2f s)"
                 % (gone, limit))
    print("killed peer gone from the page %.2f s after SIGKILL (%.1f heartbeats of %s ms; "
          "control center counts %d nodes)" % (gone, gone * 1000 / int(hb_ms), hb_ms,
                                                status["nodes"]))
finally:
    b.close()
PY
wait "$VICTIM_PID" 2>/dev/null || true # reaped here, so bash reports no "Killed"
[ -n "${STRATA_SCREENSHOT:-}" ] && cp "$WORK/topology.png" "$STRATA_SCREENSHOT"
pass "the topology page draws the control center's nodes and drops a killed peer"
