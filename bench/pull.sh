#!/usr/bin/env bash
# Pull throughput: a ~200 MB, multi-layer Debian image pushed once to a local
# `docker-registry`, then pulled (download + verify + unpack) by berth and by Debian's dockerd
# in one hyperfine run, alternating; each run deletes the image first, so every pull fetches
# and unpacks every layer.
#
#   sudo [BERTH_BIN=...] bench/pull.sh [runs]     (needs: cargo, docker.io, docker-registry, hyperfine;
#                                  debootstrap if a Debian mirror is reachable, else the image
#                                  is built from the host's /usr)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
# BERTH_BIN=path runs another build (e.g. the dev profile) instead of building release.
if [ -z "${BERTH_BIN:-}" ]; then cargo build --release -q -p berth; fi
berth=${BERTH_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/berth}
docker=$(command -v /usr/local/bin/docker || command -v docker)
cache=/var/cache/berth-bench
work=$(mktemp -d /tmp/berth-bench-pull.XXXXXX)
bsock=$work/berth.sock dsock=$work/docker.sock
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -f "$work/berth.pid" ] && kill "$(cat "$work/berth.pid")" 2>/dev/null || true
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null || true
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null || true
  sleep 2
  ip link del bpull0 2>/dev/null || true
  nft delete table ip bpull0 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$cache"

# The image: four layers of a Debian root (debootstrap), or of the host's /usr.
if [ ! -d "$cache/pull-ctx" ]; then
  ctx=$cache/pull-ctx.tmp
  rm -rf "$ctx" && mkdir -p "$ctx"
  if command -v debootstrap >/dev/null && debootstrap --variant=minbase bookworm "$ctx/root" >/dev/null 2>&1; then
    src=$ctx/root
  else
    echo "== debootstrap unavailable: building the image from the host's /usr"
    src=/
  fi
  mkdir -p "$ctx/l1" "$ctx/l2" "$ctx/l3" "$ctx/l4"
  cp -a "$src/usr/bin" "$src/usr/sbin" "$ctx/l1/" 2>/dev/null || true
  cp -a "$src/usr/lib/x86_64-linux-gnu" "$ctx/l2/" 2>/dev/null || true
  cp -a "$src/usr/share/locale" "$src/usr/share/doc" "$src/usr/share/zoneinfo" "$ctx/l3/" 2>/dev/null || true
  cp -a "$src/usr/share/perl" "$src/usr/share/i18n" "$src/usr/lib/python3" "$ctx/l4/" 2>/dev/null || true
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY l1 /usr/
COPY l2 /usr/lib/
COPY l3 /usr/share/
COPY l4 /usr/share/
EOF
  mv "$ctx" "$cache/pull-ctx"
fi

cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
"$berth" daemon -H "unix://$bsock" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
  --pidfile "$work/berth.pid" --bridge bpull0 >"$work/berth.log" 2>&1 &
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$dsock" \
  --pidfile "$work/docker.pid" --bridge none --iptables=false >"$work/docker.log" 2>&1 &
for s in "$bsock" "$dsock"; do
  for _ in $(seq 100); do DOCKER_HOST=unix://$s "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
done
ref=127.0.0.1:$port/bench/debian:pull
DOCKER_HOST=unix://$dsock DOCKER_BUILDKIT=0 "$docker" build -q -t "$ref" "$cache/pull-ctx" >/dev/null 2>&1
DOCKER_HOST=unix://$dsock "$docker" push -q "$ref" >/dev/null
DOCKER_HOST=unix://$dsock "$docker" rmi "$ref" >/dev/null
blobs=$(du -sb "$work/registry" | cut -f1)
files=$(find "$cache/pull-ctx"/l? | wc -l)
unpacked=$(du -scb "$cache/pull-ctx"/l? | tail -1 | cut -f1)
echo "== pull of $ref: $((unpacked / 1000000)) MB, $files files, 4 layers, $((blobs / 1000000)) MB compressed"
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/pull.md" \
  --prepare "env DOCKER_HOST=unix://$bsock $docker rmi -f $ref" \
  -n "berth pull" "env DOCKER_HOST=unix://$bsock $docker pull -q $ref" \
  --prepare "env DOCKER_HOST=unix://$dsock $docker rmi -f $ref" \
  -n "docker pull (dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,))" "env DOCKER_HOST=unix://$dsock $docker pull -q $ref" \
  >/dev/null
cat "$work/pull.md"
echo "image ID in dockerd: $(DOCKER_HOST=unix://$dsock "$docker" image inspect -f '{{.Id}} {{.RepoDigests}}' "$ref")"
echo "image ID in berth:   $(DOCKER_HOST=unix://$bsock "$docker" image inspect -f '{{.Id}} {{.RepoDigests}}' "$ref")"
