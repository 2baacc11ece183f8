#!/usr/bin/env bash
# Compose clients side by side: `berth compose` and docker-compose 1.29 (Debian's), each against
# berth's daemon and against dockerd, in one run (hyperfine). The app: four busybox services
# (three independent, one depending on another), a user network, a published port.
#   cold:  `up -d` after `down -t 0` (network and containers created and started)
#   no-op: `up -d` on an unchanged, running project (what a converge costs)
#
#   sudo bench/compose.sh [runs]   (needs: cargo, docker.io, docker-compose, busybox-static,
#                                   hyperfine); BERTH=path/to/berth skips the release build
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
if [ -z "${BERTH:-}" ]; then
  cargo build --release -q -p berth
  BERTH=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
fi
docker=$(command -v /usr/local/bin/docker || command -v docker)
work=$(mktemp -d /tmp/berth-bench-compose.XXXXXX)
bsock=$work/berth.sock dsock=$work/docker.sock
cleanup() {
  for s in "$bsock" "$dsock"; do
    DOCKER_HOST=unix://$s "$BERTH" compose -f "$work/app/compose.yaml" -p bench down -t 0 >/dev/null 2>&1 || true
  done
  [ -f "$work/berth.pid" ] && kill "$(cat "$work/berth.pid")" 2>/dev/null || true
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null || true
  sleep 2
  ip link del bcmp0 2>/dev/null || true
  nft delete table ip bcmp0 2>/dev/null || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$BERTH" daemon -H "unix://$bsock" --data-root "$work/berth-data" --exec-root "$work/berth-exec" \
  --pidfile "$work/berth.pid" --bridge bcmp0 >"$work/berth.log" 2>&1 &
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" -H "unix://$dsock" \
  --pidfile "$work/docker.pid" --bridge none --iptables=false >"$work/docker.log" 2>&1 &
for s in "$bsock" "$dsock"; do
  for _ in $(seq 150); do DOCKER_HOST=unix://$s "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
done
mkdir -p "$work/rootfs/bin" "$work/app"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list-full); do
  mkdir -p "$work/rootfs/$(dirname "$a")"
  [ -e "$work/rootfs/$a" ] || ln -s /bin/busybox "$work/rootfs/$a"
done
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
for s in "$bsock" "$dsock"; do
  DOCKER_HOST=unix://$s "$docker" import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Each daemon's project publishes its own port (both stay up side by side).
declare -A port=(["$bsock"]=$(free_port) ["$dsock"]=$(free_port))
cat >"$work/app/compose.yaml" <<EOF
services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /etc
    ports: ["127.0.0.1:\${PORT}:80"]
    depends_on: [api]
  api: {image: busybox, command: sleep 3600}
  cache: {image: busybox, command: sleep 3600}
  queue: {image: busybox, command: sleep 3600}
EOF
f=$work/app/compose.yaml
bc() { echo "env DOCKER_HOST=unix://$1 PORT=${port[$1]} $BERTH compose --progress quiet -f $f -p bench $2"; }
dc() { echo "env DOCKER_HOST=unix://$1 PORT=${port[$1]} docker-compose --log-level ERROR -f $f -p bench $2"; }
dd_version=$(dockerd --version | cut -d' ' -f3 | tr -d ,)
echo "== cold: up -d after down (4 containers, 1 network)"
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/cold.md" \
  --prepare "$(bc "$bsock" "down -t 0")" -n "berth compose → berth" "$(bc "$bsock" "up -d")" \
  --prepare "$(dc "$bsock" "down -t 0")" -n "docker-compose → berth" "$(dc "$bsock" "up -d")" \
  --prepare "$(bc "$dsock" "down -t 0")" -n "berth compose → dockerd $dd_version" "$(bc "$dsock" "up -d")" \
  --prepare "$(dc "$dsock" "down -t 0")" -n "docker-compose → dockerd $dd_version" "$(dc "$dsock" "up -d")" \
  >/dev/null
cat "$work/cold.md"
echo "== no-op: up -d on the running, unchanged project"
for s in "$bsock" "$dsock"; do $(bc "$s" "up -d") >/dev/null 2>&1; done
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/noop.md" \
  -n "berth compose → berth" "$(bc "$bsock" "up -d")" \
  -n "berth compose → dockerd $dd_version" "$(bc "$dsock" "up -d")" \
  >/dev/null
cat "$work/noop.md"
# docker-compose recreates what berth compose made (its config hash differs), so its no-op
# runs on its own project.
for s in "$bsock" "$dsock"; do $(bc "$s" "down -t 0") >/dev/null 2>&1; $(dc "$s" "up -d") >/dev/null 2>&1; done
hyperfine -N -w 1 -r "$runs" --export-markdown "$work/noop-dc.md" \
  -n "docker-compose → berth" "$(dc "$bsock" "up -d")" \
  -n "docker-compose → dockerd $dd_version" "$(dc "$dsock" "up -d")" \
  >/dev/null
cat "$work/noop-dc.md"
