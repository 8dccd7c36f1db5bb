#!/usr/bin/env bash
# Fails if a driver (host/, cmd/, sim/, tests/e2e/) calls into a role of
# the node directly: a role's datagram handler, timer entry, deadline or
# outbox. Drivers feed only the node object (strata/node.h), which routes
# every datagram to the role it is for (STYLE "One node per process").
# Usage: check-one-entry-point.sh SOURCE_DIR, or --self-test.
set -euo pipefail
roles='peer|source|control|cgroups|gnode|gclient'
entries='handle_datagram(_ttl)?|handle_timeout|next_timeout|outbox'
pattern="\\bstrata_(${roles})_(${entries})[[:space:]]*\\("

check() {
    local root=$1 hits
    hits=$(cd "$root" && grep -rnE "$pattern" host cmd sim tests/e2e 2>/dev/null || true)
    if [ -n "$hits" ]; then
        echo "drivers call a role of the node directly (use strata_node_*):"
        echo "$hits"
        return 1
    fi
    echo "one entry point: ok (no driver calls a role's handler, timer or outbox)"
}

if [ "${1:-}" = "--self-test" ]; then
    # The check must catch a violation and pass a clean tree.
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/host" "$tmp/cmd" "$tmp/sim" "$tmp/tests/e2e"
    echo 'strata_node_handle_datagram(n, &rx, b, l, now);' > "$tmp/host/ok.c"
    check "$tmp" >/dev/null || { echo "self-test: a clean tree failed"; exit 1; }
    echo 'strata_gnode_handle_datagram_ttl (g, from, b, l, -1, now);' > "$tmp/sim/bad.c"
    if check "$tmp" >/dev/null; then echo "self-test: a violation passed"; exit 1; fi
    echo "self-test: ok"
    exit 0
fi
check "${1:?usage: check-one-entry-point.sh SOURCE_DIR | --self-test}"
