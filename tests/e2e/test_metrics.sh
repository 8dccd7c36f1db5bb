#!/usr/bin/env bash
# Prometheus metrics (issue 12 item 2): a control center and three peers
# with --http carry a short stream; a real Prometheus server, started
# here, scrapes their /metrics every second. Once the stream has ended and
# the counters stand still, the values Prometheus stored must equal each
# daemon's own JSON status, every target must be up, every page must pass
# `promtool check metrics`, and an unknown path gets 404.
. "$(dirname "$0")/lib.sh"
command -v prometheus >/dev/null && command -v promtool >/dev/null \
    || fail "prometheus is not installed (scripts/install-deps.sh test installs it)"

PEERS=3
head -c $((1024 * 1024)) /dev/urandom >"$WORK/input.bin"

start control control --listen 127.0.0.1:0 --status-file "$WORK/control.json" --http 127.0.0.1:0
wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
CONTROL_HTTP=$(sed -n 's/.* http http:\/\/\([0-9.:]*\)\/.*/\1/p' "$WORK/control.out")
[ -n "$CONTROL_HTTP" ] || fail "the control center printed no HTTP address"
targets=("$CONTROL_HTTP")
for ((i = 0; i < PEERS; i++)); do
    start_peer "peer$i" --upload 3000 --http 127.0.0.1:0
    targets+=("${PEER_HTTP#http://}")
    targets[-1]=${targets[-1]%/stream}
done
wait_for_members $PEERS

# Every page is valid exposition text before anything is scraped.
for t in "${targets[@]}"; do
    curl -sf "http://$t/metrics" >"$WORK/page.txt" || fail "GET http://$t/metrics failed"
    promtool check metrics <"$WORK/page.txt" >"$WORK/promtool.txt" 2>&1 \
        || fail "promtool check metrics on $t: $(cat "$WORK/promtool.txt")"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$CONTROL_HTTP/nothing")
[ "$code" = 404 ] || fail "an unknown path answered $code, not 404"

# Prometheus on a probed port, scraping every target each second.
PROM_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
    echo "global: {scrape_interval: 1s, scrape_timeout: 1s}"
    echo "scrape_configs:"
    echo "  - job_name: control"
    echo "    static_configs: [{targets: ['$CONTROL_HTTP']}]"
    echo "  - job_name: peer"
    echo "    static_configs: [{targets: [$(printf "'%s'," "${targets[@]:1}" | sed 's/,$//')]}]"
} >"$WORK/prometheus.yml"
promtool check config "$WORK/prometheus.yml" >"$WORK/promtool.txt" 2>&1 \
    || fail "promtool check config: $(cat "$WORK/promtool.txt")"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn \
    >"$WORK/prometheus.out" 2>"$WORK/prometheus.log" &
PIDS+=($!)
PROM=http://127.0.0.1:$PROM_PORT
for ((i = 0; i < 300; i++)); do
    curl -sf "$PROM/-/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "$PROM/-/ready" >/dev/null || fail "prometheus not ready: $(tail -n 5 "$WORK/prometheus.log")"

start source source --control "$CONTROL" --channel test --input "$WORK/input.bin" \
    --rate 2000 --listen 127.0.0.1:0 --linger-ms 3000
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
for ((i = 0; i < PEERS; i++)); do
    wait_for_line "$WORK/peer$i.json" '"ended":1' 60 || fail "peer$i did not reach the end of the stream"
done

# compare: every value Prometheus holds equals the daemon's JSON status
# (after the end nothing changes any more, so both sides settle); prints
# what differs and exits 1 while anything does.
compare() {
    python3 - "$PROM" "$CONTROL_HTTP" "${targets[@]:1}" <<'PY'
import json, sys, urllib.parse, urllib.request
prom, control, peers = sys.argv[1], sys.argv[2], sys.argv[3:]
def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())
def query(q):
    res = get(prom + '/api/v1/query?query=' + urllib.parse.quote(q))['data']['result']
    return {(r['metric'].get('instance'), r['metric'].get('role') or r['metric'].get('tier')):
            float(r['value'][1]) for r in res}
bad = []
def want(name, got, expect):
    if got is None or abs(got - expect) > 1e-9 * max(1, abs(expect)):
        bad.append('%s: prometheus %s, status %s' % (name, got, expect))
up = query('up')
for t in [control] + peers:
    want('up ' + t, up.get((t, None)), 1)
c = get('http://%s/status' % control)
want('control peers', query('strata_control_nodes').get((control, 'peer')), c['peers'])
want('control sources', query('strata_control_nodes').get((control, 'source')), c['sources'])
for metric, field in [('strata_control_played_packets_total', 'played_packets'),
                      ('strata_control_missed_packets_total', 'missed_packets'),
                      ('strata_control_dcms', 'dcms'), ('strata_control_channels', 'channels'),
                      ('strata_control_joins_total', 'joins'),
                      ('strata_control_instructions_sent_total', 'instructions_sent'),
                      ('strata_control_delivery_ratio', 'delivery')]:
    want(metric, query(metric).get((control, None)), c[field])
tier = query('strata_control_uploaded_bytes_total')
want('uploaded bytes, peer tier', tier.get((control, 'peer')), c['peer_tx_bytes'])
want('uploaded bytes, source tier', tier.get((control, 'source')), c['source_tx_bytes'])
drops = query('sum by (instance) (strata_control_dropped_datagrams_total)')
want('control drops', drops.get((control, None)), c['dropped_datagrams'])
played = 0
for p in peers:
    s = get('http://%s/status' % p)
    played += s['played_packets']
    for metric, field in [('strata_peer_played_packets_total', 'played_packets'),
                          ('strata_peer_played_bytes_total', 'played_bytes'),
                          ('strata_peer_missed_packets_total', 'missed_packets'),
                          ('strata_peer_received_packets_total', 'rx_data_packets'),
                          ('strata_peer_duplicate_packets_total', 'rx_duplicates'),
                          ('strata_peer_sent_packets_total', 'tx_data_packets'),
                          ('strata_peer_state', 'state')]:
        want('%s %s' % (metric, p), query(metric).get((p, None)), s[field])
    if s['played_packets'] == 0:
        bad.append('%s played nothing' % p)
want('control played = sum of the peers', c['played_packets'], played)
for b in bad:
    print(b)
print('compared: control %s peers, %s played packets in all' % (c['peers'], played))
sys.exit(1 if bad else 0)
PY
}
ok=0
for ((i = 0; i < 60; i++)); do
    if compare >"$WORK/compare.txt" 2>&1; then ok=1; break; fi
    sleep 0.5
done
cat "$WORK/compare.txt"
[ $ok = 1 ] || fail "Prometheus does not hold what the daemons report"

# The control center's page after the run, once more through promtool,
# with a drop counted under its reason.
printf 'garbage' >"$WORK/garbage.bin"
send_udp "$CONTROL" "$WORK/garbage.bin"
for ((i = 0; i < 50; i++)); do
    curl -sf "http://$CONTROL_HTTP/metrics" >"$WORK/page.txt"
    grep -q '^strata_control_dropped_datagrams_total{reason="[a-z]*"} [1-9]' "$WORK/page.txt" && break
    sleep 0.1
done
grep '^strata_control_dropped_datagrams_total{reason="[a-z]*"} [1-9]' "$WORK/page.txt" \
    || fail "a garbage datagram is not counted under a reason"
promtool check metrics <"$WORK/page.txt" >"$WORK/promtool.txt" 2>&1 \
    || fail "promtool check metrics: $(cat "$WORK/promtool.txt")"
pass "Prometheus scraped 1 control center and $PEERS peers; its values equal their JSON status"
