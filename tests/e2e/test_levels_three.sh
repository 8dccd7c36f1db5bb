#!/usr/bin/env bash
# --levels 3 (docs/hierarchy.md): the erasure-coded level's real-process
# test with relay and common clusters; see test_levels_ec.sh.
LEVELS=3 exec bash "$(dirname "$0")/test_levels_ec.sh" "$@"
