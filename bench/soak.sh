#!/usr/bin/env bash
# Soak: mixed operations against one daemon for a while (default 600 s), sampling the
# daemon's RSS and open fds after every prune; fails if either grows (crates/berth/tests/crash.rs).
#
#   sudo bench/soak.sh [seconds]          (CI runs a 30 s smoke through cargo test)
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTH_SOAK_SECS=${1:-600}
exec cargo test -q -p berth --test crash -- --exact soak --nocapture
