#!/usr/bin/env bash
# strata sim --report and --compare: the report page holds the plots as
# well-formed <svg> elements with lines in them and needs nothing from
# elsewhere; --compare runs every registered algorithm (the list the binary
# itself gives for an unknown name), prints one column per algorithm and
# writes one JSON object per algorithm; --compare with --algorithm is a
# usage error; a report directory that cannot be made exits 1.
. "$(dirname "$0")/lib.sh"

SMALL=(--nodes 30 --duration 6 --rate 800 --seed 5 --set join_window_s=1 --quiet --no-timing)

# The registered algorithms, strata first, as the binary names them.
rc=0
"$STRATA" sim --algorithm no-such-algorithm >/dev/null 2>"$WORK/known.log" || rc=$?
[ "$rc" -eq 2 ] || fail "unknown algorithm: exit $rc"
known=$(sed -n 's/.*(known: \(.*\))$/\1/p' "$WORK/known.log" | tr -d ',')
[ -n "$known" ] || fail "no list of algorithms: $(cat "$WORK/known.log")"
algs="strata"
for a in $known; do [ "$a" = strata ] || algs="$algs $a"; done
nalgs=$(echo "$algs" | wc -w)
echo "algorithms: $algs"

# check_page HTML NAMES...: the page stands alone, and each of the five
# plots is an <svg> that parses as XML, with a non-empty polyline and each
# name in its legend.
check_page() {
    local html=$1; shift
    python3 - "$html" "$@" <<'EOF' || fail "report page: see above"
import re, sys, xml.dom.minidom
html, names = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2:]
assert html.startswith("<!DOCTYPE html>"), "no doctype"
for bad in ("<script", "<link", " src=", " href="):
    assert bad not in html, "page refers to something outside: " + bad
svgs = {}
for m in re.finditer(r"<svg\b.*?</svg>", html, re.S):
    doc = xml.dom.minidom.parseString(m.group(0))  # raises if malformed
    svgs[doc.documentElement.getAttribute("id")] = doc
for pid in ("delivery", "lag", "upload", "upload-cdf", "cross"):
    assert pid in svgs, "no plot " + pid + " among " + str(sorted(svgs))
    doc = svgs[pid]
    lines = [p.getAttribute("points").split() for p in doc.getElementsByTagName("polyline")]
    assert any(len(pts) >= 2 for pts in lines), pid + ": no polyline with points"
    for pts in lines:
        for pt in pts:
            x, y = (float(v) for v in pt.split(","))
    texts = [t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild]
    for n in names:
        assert n in texts, pid + ": no legend entry " + n
    if pid != "upload-cdf":  # a ratio against a ratio; the others have seconds
        assert any(t.endswith("(s)") for t in texts), pid + ": no axis in seconds"
print("page ok:", len(svgs), "plots,", len(html), "bytes")
EOF
}

# One run with a report (and the directory made on the way).
"$STRATA" sim "${SMALL[@]}" --out "$WORK/one.json" --report "$WORK/rep1" 2>"$WORK/one.log" \
    || fail "sim --report exited $?"
[ -s "$WORK/rep1/index.html" ] || fail "no index.html"
check_page "$WORK/rep1/index.html" strata
grep -q '<td>delivery_ratio</td>' "$WORK/rep1/index.html" || fail "no table of figures"
grep -q 'nodes = 30' "$WORK/rep1/index.html" || fail "no scenario on the page"
pass "--report writes a page with five plots that parse"

# --compare: a table with one column per algorithm on stdout, JSON keyed by
# algorithm, a CSV per algorithm, all algorithms on the report's plots.
"$STRATA" sim "${SMALL[@]}" --compare --out "$WORK/cmp.json" --csv "$WORK/cmp.csv" \
    --report "$WORK/rep2" >"$WORK/cmp.out" 2>"$WORK/cmp.log" || fail "--compare exited $?"
header=$(head -n 1 "$WORK/cmp.out")
[ "$(echo $header)" = "metric $algs" ] || fail "table header '$header', wanted 'metric $algs'"
for row in delivery_ratio 'startup_delay_s p50' 'startup_delay_s p95' 'lag_s p50' 'lag_s p95' \
    'stretch p50' 'stretch p95' p2p_share cross_region_bytes_ratio max_upload_utilisation \
    control_overhead events wall_s peak_rss_mb; do
    line=$(grep "^$row " "$WORK/cmp.out") || fail "table lacks $row: $(cat "$WORK/cmp.out")"
    cells=$(echo "${line#"$row"}" | wc -w)
    [ "$cells" -eq "$nalgs" ] || fail "row $row has $cells cells, wanted $nalgs"
done
python3 -m json.tool "$WORK/cmp.json" >/dev/null || fail "--compare JSON does not parse"
python3 - "$WORK/cmp.json" $algs <<'EOF' || fail "--compare JSON keys"
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d) == sys.argv[2:], "keys %s, wanted %s" % (list(d), sys.argv[2:])
for k, v in d.items():
    assert v["algorithm"] == k and v["nodes"] == 30 and "fingerprint" in v, k
EOF
for a in $algs; do [ -s "$WORK/cmp.$a.csv" ] || fail "no CSV for $a"; done
check_page "$WORK/rep2/index.html" $algs
pass "--compare: $nalgs columns, JSON keyed by algorithm, one line per algorithm"

# --compare --out -: the JSON alone on standard output (the table, if any,
# goes to standard error).
"$STRATA" sim "${SMALL[@]}" --compare --out - >"$WORK/cmp2.json" 2>/dev/null \
    || fail "--compare --out - exited $?"
python3 -m json.tool "$WORK/cmp2.json" >/dev/null || fail "--compare --out - is not JSON alone"
cmp -s "$WORK/cmp.json" "$WORK/cmp2.json" || fail "the same compare gave other JSON"
pass "--compare --out - writes the same JSON to standard output"

# Usage errors and a directory that cannot be made.
for args in "--compare --algorithm strata" "--compare --set algorithm=strata" \
    "--compare --csv -"; do
    rc=0
    "$STRATA" sim "${SMALL[@]}" $args >/dev/null 2>"$WORK/usage.log" || rc=$?
    [ "$rc" -eq 2 ] || fail "$args: exit $rc, wanted 2"
    grep -q '^strata sim: ' "$WORK/usage.log" || fail "$args: no message"
done
: >"$WORK/plainfile"
for dir in "$WORK/plainfile/sub" "$WORK/plainfile"; do
    rc=0
    "$STRATA" sim "${SMALL[@]}" --report "$dir" --out "$WORK/x.json" 2>"$WORK/dir.log" || rc=$?
    [ "$rc" -eq 1 ] || fail "--report $dir: exit $rc, wanted 1"
    grep -q "cannot create report directory $dir: Not a directory" "$WORK/dir.log" \
        || fail "--report $dir: message '$(cat "$WORK/dir.log")'"
    [ ! -e "$WORK/x.json" ] || fail "--report $dir: ran anyway"
done
pass "usage errors exit 2; an unusable report directory exits 1 before running"
