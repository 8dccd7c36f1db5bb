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
# The channel's name is untrusted bytes in every output: a quote, a
# backslash, a newline, a tab and two bytes above 0x7f (UTF-8 of e-acute).
# JSON escapes them as \u00XX (each byte a code point), a Prometheus label
# as \" \\ \n and UTF-8 of U+00XX (host/escape.h): both read back as the same
# string, the bytes taken as Latin-1.
CH=$'te"s\\t\nx\t\xc3\xa9'

start control control --listen 127.0.0.1:0 --status-file "$WORK/control.json" --http 127.0.0.1:0
wait_for_line "$WORK/control.out" '^strata control listening on udp ' 10 || fail "control not ready"
CONTROL=$(sed -n 's/^strata control listening on udp \([0-9.:]*\).*/\1/p' "$WORK/control.out")
CONTROL_HTTP=$(sed -n 's/.* http http:\/\/\([0-9.:]*\)\/.*/\1/p' "$WORK/control.out")
[ -n "$CONTROL_HTTP" ] || fail "the control center printed no HTTP address"
targets=("$CONTROL_HTTP")
for ((i = 0; i < PEERS; i++)); do
    start "peer$i" peer --control "$CONTROL" --channel "$CH" --listen 127.0.0.1:0 \
        --output "$WORK/peer$i.ts" --status-file "$WORK/peer$i.json" --upload 3000 --http 127.0.0.1:0
    wait_for_line "$WORK/peer$i.out" '^strata peer [0-9a-f]+ listening on udp ' 10 || fail "peer$i not ready"
    targets+=("$(sed -n 's/.* http http:\/\/\([0-9.:]*\)\/.*/\1/p' "$WORK/peer$i.out")")
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

# The source's upload (2.5 Mbit/s for a 2 Mbit/s stream) feeds about one
# root per tree, so peers relay to each other and every origin is seen.
start source source --control "$CONTROL" --channel "$CH" --input "$WORK/input.bin" \
    --rate 2000 --upload 2500 --listen 127.0.0.1:0 --linger-ms 3000
wait_for_line "$WORK/source.out" '^strata source ' 10 || fail "source not ready"
for ((i = 0; i < PEERS; i++)); do
    wait_for_line "$WORK/peer$i.json" '"ended":1' 60 || fail "peer$i did not reach the end of the stream"
done

# compare: every value Prometheus holds equals the daemon's JSON status
# (after the end nothing changes any more, so both sides settle); prints
# what differs and exits 1 while anything does.
compare() {
    CH="$CH" python3 - "$PROM" "$CONTROL_HTTP" "$WORK" "${targets[@]:1}" <<'PY'
import json, os, sys, urllib.parse, urllib.request
prom, control, work, peers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# The name as both outputs must read it: each byte a code point.
ch = os.environb[b'CH'].decode('latin-1')
def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())  # fails on a bad escape
def query(q):
    """{(instance, ((label, value), ...)): value} without job/instance/__name__."""
    res = get(prom + '/api/v1/query?query=' + urllib.parse.quote(q))['data']['result']
    out = {}
    for r in res:
        m = r['metric']
        labels = tuple(sorted((k, v) for k, v in m.items() if k not in ('job', 'instance', '__name__')))
        out[(m.get('instance'), labels)] = float(r['value'][1])
    return out
def one(q, inst, **labels):
    return query(q).get((inst, tuple(sorted(labels.items()))))
bad = []
def want(name, got, expect, slack=0):
    if got is None or abs(got - expect) > max(slack, 1e-9 * max(1, abs(expect))):
        bad.append('%s: prometheus %s, status %s' % (name, got, expect))
for t in [control] + peers:
    want('up ' + t, one('up', t), 1)
c = get('http://%s/status' % control)
want('control peers', one('strata_control_nodes', control, role='peer'), c['peers'])
want('control sources', one('strata_control_nodes', control, role='source'), c['sources'])
for metric, field in [('strata_control_played_packets_total', 'played_packets'),
                      ('strata_control_missed_packets_total', 'missed_packets'),
                      ('strata_control_dcms', 'dcms'), ('strata_control_channels', 'channels'),
                      ('strata_control_joins_total', 'joins'),
                      ('strata_control_capacity_promotions_total', 'capacity_promotions'),
                      ('strata_control_capacity_demotions_total', 'capacity_demotions'),
                      ('strata_control_capacity_strikes_total', 'capacity_strikes'),
                      ('strata_control_parity_raises_total', 'parity_raises'),
                      ('strata_control_parity_lowers_total', 'parity_lowers'),
                      ('strata_control_instructions_sent_total', 'instructions_sent'),
                      ('strata_control_delivery_ratio', 'delivery')]:
    want(metric, one(metric, control), c[field])
want('uploaded bytes, peer tier', one('strata_control_uploaded_bytes_total', control, tier='peer'),
     c['peer_tx_bytes'])
want('uploaded bytes, source tier', one('strata_control_uploaded_bytes_total', control, tier='source'),
     c['source_tx_bytes'])
drops = query('sum by (instance) (strata_control_dropped_datagrams_total)')
want('control drops', drops.get((control, ())), c['dropped_datagrams'])
# Heartbeats go on after the end: Prometheus holds a scrape up to a second
# old, so it may trail the status by a second's heartbeats (4 nodes, 2 a
# second each), never lead it.
hb = one('strata_control_heartbeats_received_total', control)
if hb is None or not (c['heartbeats'] - 16 <= hb <= c['heartbeats']) or hb <= 0:
    bad.append('heartbeats: prometheus %s, status %s' % (hb, c['heartbeats']))
# Nodes per channel and tier, regions per channel: as /topology.json (the
# topology page's tiers) counts them.
topo = get('http://%s/topology.json' % control)
tiers = {'source': 0, 'head': 0, 'member': 0, 'relay': 0}
regions = set()
for m in topo['members']:
    if m['channel'] != ch:
        bad.append('topology.json channel %r, want %r' % (m['channel'], ch))
    t = ('source' if m['role'] == 'source' else 'relay' if m['role'] == 'relay'
         else 'head' if m['dcm'] != m['region_dcm'] else 'member')
    tiers[t] += 1
    if m['region_dcm']:
        regions.add(m['region_dcm'])
for t, n in tiers.items():
    want('channel nodes, tier ' + t, one('strata_control_channel_nodes', control, channel=ch, tier=t), n)
want('channel regions', one('strata_control_channel_regions', control, channel=ch), len(regions))
played = peer_bytes = 0
for p in peers:
    s = get('http://%s/status' % p)
    played += s['played_packets']
    with open('%s/peer%d.json' % (work, peers.index(p))) as f:
        json.load(f)  # the status file is valid JSON too
    for metric, field in [('strata_peer_played_packets_total', 'played_packets'),
                          ('strata_peer_played_bytes_total', 'played_bytes'),
                          ('strata_peer_missed_packets_total', 'missed_packets'),
                          ('strata_peer_received_packets_total', 'rx_data_packets'),
                          ('strata_peer_duplicate_packets_total', 'rx_duplicates'),
                          ('strata_peer_sent_packets_total', 'tx_data_packets'),
                          ('strata_peer_state', 'state')]:
        want('%s %s' % (metric, p), one(metric, p, channel=ch), s[field])
    [cs] = s['channels']
    if cs['name'] != ch:
        bad.append('%s: channel name %r in the status, want %r' % (p, cs['name'], ch))
    for metric, field in [('strata_peer_late_packets_total', 'rx_late'),
                          ('strata_peer_duplicate_packets_total', 'rx_duplicates'),
                          ('strata_peer_sent_bytes_total', 'tx_data_bytes'),
                          ('strata_peer_playout_lag_seconds', 'playout_lag_s')]:
        want('%s %s' % (metric, p), one(metric, p, channel=ch), cs[field])
    for origin, field in (('source', 'rx_source_bytes'), ('peer', 'rx_peer_bytes'),
                          ('repair', 'rx_repair_bytes'), ('parity', 'parity_rebuilt_bytes')):
        want('received bytes from %s %s' % (origin, p),
             one('strata_peer_received_bytes_total', p, channel=ch, origin=origin), cs[field])
    for metric, field in [('strata_peer_rebuilt_packets_total', 'parity_rebuilt_packets'),
                          ('strata_peer_parity_received_packets_total', 'rx_parity_packets'),
                          ('strata_peer_parity_sent_packets_total', 'parity_sent_packets'),
                          ('strata_peer_parity_decode_failures_total', 'parity_decode_failures')]:
        want('%s %s' % (metric, p), one(metric, p, channel=ch), cs[field])
    if (cs['rx_source_bytes'] + cs['rx_peer_bytes'] + cs['rx_repair_bytes']
            + cs['parity_rebuilt_bytes'] != cs['rx_data_bytes']):
        bad.append('%s: bytes by origin do not add up to rx_data_bytes' % p)
    if not 0 <= cs['playout_lag_s'] < 3:
        bad.append('%s: playout lag %s s, want 0 to the playout delay' % (p, cs['playout_lag_s']))
    peer_bytes += cs['rx_peer_bytes']
    if s['played_packets'] == 0:
        bad.append('%s played nothing' % p)
want('control played = sum of the peers', c['played_packets'], played)
if peer_bytes == 0:
    bad.append('no peer received bytes from another peer')
for b in bad:
    print(b)
print('compared: control %s peers, %s played packets in all, %s bytes from peers, tiers %s, %d heartbeats'
      % (c['peers'], played, peer_bytes, tiers, c['heartbeats']))
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
# The name's newline and tab do not break the peer's log lines.
grep -qF 'joining channel te"s\t\x0ax\x09' "$WORK/peer0.log" \
    || fail "the log does not escape the channel name: $(grep -a 'joining channel' -A1 "$WORK/peer0.log")"

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
pass "Prometheus scraped 1 control center and $PEERS peers; its values equal their JSON status (channel name with a quote, a backslash, a newline, a tab and non-ASCII bytes)"
