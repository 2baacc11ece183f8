#!/usr/bin/env bash
# Builds, side by side in one run: a multi-stage Dockerfile (FROM busybox, COPY of a
# 1000-file context, two RUN, COPY --from) built cold (--no-cache) and unchanged (all cache
# hits) by berth (`berth build`, and the docker CLI against berth) and by dockerd's classic
# builder (DOCKER_BUILDKIT=0), with hyperfine.
#
#   sudo bench/build.sh [runs] [debug|release]   (needs: cargo, docker.io, busybox-static,
#                                                 hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
profile=${2:-release}
if [ "$profile" = release ]; then cargo build --release -q -p berth; else cargo build -q -p berth; fi
berth=${CARGO_TARGET_DIR:-$PWD/target}/$profile/berth
docker=$(command -v /usr/local/bin/docker || command -v docker)
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
bsock=$work/berth.sock dsock=$work/docker.sock
cleanup() {
  [ -f "$work/berth.pid" ] && kill "$(cat "$work/berth.pid")" 2>/dev/null || true
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null || true
  sleep 2
  ip link del bbld0 2>/dev/null || true
  nft delete table ip bbld0 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# A busybox image from Debian's busybox-static, as the tests make it.
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list-full); do [ "$a" = bin/busybox ] || [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
tar -C "$root" -cf "$work/busybox.tar" .
# The context: 1000 small files in 10 directories.
ctx=$work/ctx
for d in $(seq 0 9); do
  mkdir -p "$ctx/src/d$d"
  for f in $(seq 0 99); do echo "file $d/$f" >"$ctx/src/d$d/f$f.txt"; done
done
cat >"$ctx/Dockerfile" <<'DF'
FROM busybox AS build
COPY src /src
RUN find /src -type f | wc -l > /count && tar -cf /src.tar /src
RUN cat /count
FROM busybox
COPY --from=build /src.tar /count /out/
DF
"$berth" daemon -H "unix://$bsock" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
  --pidfile "$work/berth.pid" --bridge bbld0 >"$work/berth.log" 2>&1 &
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$dsock" \
  --pidfile "$work/docker.pid" --bridge none --iptables=false >"$work/docker.log" 2>&1 &
for s in "$bsock" "$dsock"; do
  for _ in $(seq 100); do DOCKER_HOST=unix://$s "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
  DOCKER_HOST=unix://$s "$docker" import "$work/busybox.tar" busybox:latest >/dev/null
done
B="$berth -H unix://$bsock build -q --progress=plain"
DB="env DOCKER_BUILDKIT=0 DOCKER_HOST=unix://$bsock $docker build -q"
DD="env DOCKER_BUILDKIT=0 DOCKER_HOST=unix://$dsock $docker build -q"
echo "== cold (--no-cache): $(find "$ctx" -type f | wc -l) files in the context"
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/cold.md" \
  -n "berth build" "$B --no-cache $ctx" \
  -n "docker build -> berth" "$DB --no-cache $ctx" \
  -n "docker build -> dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) (classic)" "$DD --no-cache $ctx" >/dev/null
cat "$work/cold.md"
echo "== unchanged rebuild (every step a cache hit)"
$B "$ctx" >/dev/null && $DD "$ctx" >/dev/null
hyperfine -N -w 2 -r "$runs" --export-markdown "$work/cached.md" \
  -n "berth build" "$B $ctx" \
  -n "docker build -> berth" "$DB $ctx" \
  -n "docker build -> dockerd (classic)" "$DD $ctx" >/dev/null
cat "$work/cached.md"
