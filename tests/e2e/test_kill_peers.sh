#!/usr/bin/env bash
# The file transfer with 30% of the peers killed with SIGKILL half-way.
KILL_SHARE=30 exec bash "$(dirname "$0")/test_file_transfer.sh" "$@"
