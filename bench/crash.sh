#!/usr/bin/env bash
# Crash consistency by fault injection: kill -9 the daemon at random points of create, run,
# start, stop, rm, exec, commit, load, import, rmi, volume and network work, restart it and
# check every invariant after each kill (crates/berth/tests/crash.rs has the list).
#
#   sudo bench/crash.sh [kills] [seed]     (default 300 kills; CI runs 30 through cargo test)
# The daemon is private (own socket, roots, bridge, nft table) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-300}
export BERTH_CRASH_KILLS=$kills
[ -n "${2:-}" ] && export BERTH_CRASH_SEED=$2
exec cargo test -q -p berth --test crash -- --exact kill_the_daemon_at_random_points --nocapture
