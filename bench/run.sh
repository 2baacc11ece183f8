#!/usr/bin/env bash
# `run --rm busybox true` end to end through the docker CLI: berth daemon vs dockerd, in one
# hyperfine run on the same host, each with its default bridge network; then berth's idle
# daemon memory, memory per running container, and 50 concurrent runs.
#
#   sudo bench/run.sh [runs]      (needs: cargo, docker.io, hyperfine, busybox-static)
# Both daemons are private (own sockets, data roots and bridges) and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
cargo build --release -q -p berth
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
docker=$(command -v /usr/local/bin/docker || command -v docker)
work=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
bsock=$work/berth.sock dsock=$work/docker.sock
cleanup() {
  DOCKER_HOST=unix://$bsock "$docker" rm -f $(DOCKER_HOST=unix://$bsock "$docker" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  [ -f "$work/berth.pid" ] && kill "$(cat "$work/berth.pid")" 2>/dev/null || true
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null || true
  sleep 2
  ip link del bbench0 2>/dev/null || true; ip link del dbench0 2>/dev/null || true
  nft delete table ip bbench0 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
scripts/busybox-rootfs.sh "$work/busybox.tar"

"$berth" daemon -H "unix://$bsock" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
  --pidfile "$work/berth.pid" --bridge bbench0 >"$work/berth.log" 2>&1 &
ip link add dbench0 type bridge 2>/dev/null || true
ip addr add 10.199.0.1/24 dev dbench0 2>/dev/null || true
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$dsock" \
  --pidfile "$work/docker.pid" --bridge dbench0 >"$work/docker.log" 2>&1 &
for s in "$bsock" "$dsock"; do
  for _ in $(seq 100); do DOCKER_HOST=unix://$s "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
  DOCKER_HOST=unix://$s "$docker" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
done

echo "== run --rm busybox true, default bridge: berth's CLI, and the docker CLI $("$docker" version -f '{{.Client.Version}}' 2>/dev/null) against each daemon"
hyperfine -N -w 3 -r "$runs" --export-markdown "$work/run.md" \
  -n "berth run (berth CLI → berth daemon)" "$berth -H unix://$bsock run --rm busybox true" \
  -n "docker run → berth daemon" "env DOCKER_HOST=unix://$bsock $docker run --rm busybox true" \
  -n "docker run → dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,)" "env DOCKER_HOST=unix://$dsock $docker run --rm busybox true"
cat "$work/run.md"

echo "== what networking adds: default bridge vs --network none, berth and dockerd"
hyperfine -N -w 3 -r "$runs" --export-markdown "$work/net.md" \
  -n "berth, bridge" "$berth -H unix://$bsock run --rm busybox true" \
  -n "berth, none" "$berth -H unix://$bsock run --rm --network none busybox true" \
  -n "dockerd, bridge" "env DOCKER_HOST=unix://$dsock $docker run --rm busybox true" \
  -n "dockerd, none" "env DOCKER_HOST=unix://$dsock $docker run --rm --network none busybox true" >/dev/null
cat "$work/net.md"

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Proportional set size: pages shared copy-on-write with the zygote count once across them.
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
dpid=$(cat "$work/berth.pid")
echo "== memory"
echo "idle berth daemon RSS: $(( $(rss_kib "$dpid") / 1024 )) MiB"
export DOCKER_HOST=unix://$bsock
for i in $(seq 10); do "$docker" run -d --name "m$i" busybox sleep 600 >/dev/null; done
total=0
for i in $(seq 10); do
  p=$("$docker" inspect -f '{{.State.Pid}}' "m$i")
  mon=$(awk '{print $4}' "/proc/$p/stat")   # the container's parent is its monitor
  total=$(( total + $(pss_kib "$mon") ))
done
echo "per-container monitor PSS: $(( total / 10 )) KiB (average of 10)"
echo "daemon RSS with 10 containers: $(( $(rss_kib "$dpid") / 1024 )) MiB"
"$docker" rm -f $("$docker" ps -aq) >/dev/null

echo "== 50 concurrent berth run --rm busybox true"
start=$(date +%s%N)
pids=()
for i in $(seq 50); do "$berth" run --rm busybox true & pids+=($!); done
wait "${pids[@]}"
echo "50 concurrent runs: $(( ($(date +%s%N) - start) / 1000000 )) ms"
