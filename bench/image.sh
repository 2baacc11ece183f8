#!/usr/bin/env bash
# Unpack throughput: a Debian rootfs image (debootstrap, minbase) saved by the real docker,
# then `docker load` into dockerd vs the same archive loaded into berth, on the same host in
# one run (hyperfine; each run deletes the image first, so every load unpacks the layer).
#
#   sudo bench/image.sh [runs]     (needs: cargo, docker.io, debootstrap, hyperfine; fetches
#                                   Debian packages from the configured mirror once)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p berth
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
docker=$(command -v /usr/local/bin/docker || command -v docker)
cache=/var/cache/berth-bench
work=$(mktemp -d /tmp/berth-bench-img.XXXXXX)
bsock=$work/berth.sock dsock=$work/docker.sock
cleanup() {
  [ -f "$work/berth.pid" ] && kill "$(cat "$work/berth.pid")" 2>/dev/null || true
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null || true
  sleep 2
  ip link del bimg0 2>/dev/null || true
  nft delete table ip bimg0 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$cache"
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
if [ ! -f "$cache/debian-rootfs.tar" ]; then
  echo "== debootstrap (once; cached in $cache)"
  debootstrap --variant=minbase bookworm "$work/rootfs" >/dev/null
  tar --numeric-owner -C "$work/rootfs" -cf "$cache/debian-rootfs.tar" .
  rm -rf "$work/rootfs"
fi
"$berth" daemon -H "unix://$bsock" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
  --pidfile "$work/berth.pid" --bridge bimg0 >"$work/berth.log" 2>&1 &
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$dsock" \
  --pidfile "$work/docker.pid" --bridge none --iptables=false >"$work/docker.log" 2>&1 &
for s in "$bsock" "$dsock"; do
  for _ in $(seq 100); do DOCKER_HOST=unix://$s "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
done
DOCKER_HOST=unix://$dsock "$docker" import "$cache/debian-rootfs.tar" debian:bench >/dev/null
DOCKER_HOST=unix://$dsock "$docker" save -o "$work/debian.tar" debian:bench
DOCKER_HOST=unix://$dsock "$docker" rmi debian:bench >/dev/null
size=$(stat -c %s "$work/debian.tar")
echo "== load of a Debian minbase image: $((size / 1048576)) MiB archive, one layer"
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/load.md" \
  --prepare "env DOCKER_HOST=unix://$bsock $docker rmi -f debian:bench" \
  -n "berth load" "env DOCKER_HOST=unix://$bsock $docker load -q -i $work/debian.tar" \
  --prepare "env DOCKER_HOST=unix://$dsock $docker rmi -f debian:bench" \
  -n "docker load (dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,))" "env DOCKER_HOST=unix://$dsock $docker load -q -i $work/debian.tar" \
  >/dev/null
cat "$work/load.md"
id_d=$(DOCKER_HOST=unix://$dsock "$docker" image inspect -f '{{.Id}}' debian:bench)
id_b=$(DOCKER_HOST=unix://$bsock "$docker" image inspect -f '{{.Id}}' debian:bench)
echo "image ID in dockerd: $id_d"
echo "image ID in berth:   $id_b"
