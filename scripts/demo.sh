#!/usr/bin/env bash
# The offline demo: build berth, make a busybox image from Debian's busybox-static, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
scripts/setup.sh
echo "== building berth (release)"
cargo build --release -q -p berth
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
install -m 0755 "$berth" /usr/local/bin/berth
tar=$(mktemp /tmp/busybox-rootfs.XXXXXX.tar)
trap 'rm -f "$tar"' EXIT
scripts/busybox-rootfs.sh "$tar"
echo "== importing the busybox image (the first client command starts the daemon)"
berth import "$tar" busybox:latest
berth images busybox
echo "== running it"
berth run --rm busybox sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; ls /'
berth run -d --name demo-web -p 8080:80 busybox httpd -f -p 80 -h /etc >/dev/null
sleep 0.3
echo "== a published port: http://127.0.0.1:8080/hostname -> $(curl -s --max-time 3 http://127.0.0.1:8080/hostname)"
berth ps
berth rm -f demo-web >/dev/null
echo "== done (the daemon keeps running: berth ps, berth run -it busybox sh, ...)"
