#!/usr/bin/env bash
# --levels 3 (docs/hierarchy.md): the erasure-coded level's real-process
# test with relay and common clusters, 60 peers in three regions, and a
# waypoint server in the region that lacks capable nodes; see
# test_levels_ec.sh. (A sanitizer build runs it with fewer peers per
# region: CMakeLists.txt.)
LEVELS=3 WAYPOINT=1 PER_REGION=${PER_REGION:-20} exec bash "$(dirname "$0")/test_levels_ec.sh" "$@"
