#!/usr/bin/env bash
# The offline demo: build berth, build a busybox image from Debian's busybox-static with a
# Dockerfile, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }
scripts/setup.sh
echo "== building berth (release)"
cargo build --release -q -p berth
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
install -m 0755 "$berth" /usr/local/bin/berth
# Shell completion and man pages, generated from the binary's own command line.
mkdir -p /etc/bash_completion.d /usr/local/share/man/man1
berth completion bash >/etc/bash_completion.d/berth
berth man --dir /usr/local/share/man/man1 2>/dev/null
ctx=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ctx/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/group"
cat >"$ctx/Dockerfile" <<'EOF2'
# A busybox image from Debian's busybox-static: the static binary, one symlink per applet.
FROM scratch
COPY busybox /bin/busybox
COPY passwd group /etc/
RUN ["/bin/busybox", "sh", "-c", "mkdir -p /usr/bin /sbin /usr/sbin /tmp /root && chmod 1777 /tmp && /bin/busybox --install -s"]
CMD ["sh"]
EOF2
echo "== building the busybox image from a Dockerfile (the first client command starts the daemon)"
berth build -t busybox:latest "$ctx"
echo "== rebuilding it unchanged: every step from the cache"
berth build -t busybox:latest "$ctx" | grep -c 'Using cache' | sed 's/^/   steps from the cache: /'
berth images busybox
echo "== running it"
berth run --rm busybox sh -c 'echo "hello from $(hostname), pid $$, as $(id -un)"; ls /'
berth run -d --name demo-web -p 8080:80 busybox httpd -f -p 80 -h /etc >/dev/null
sleep 0.3
echo "== a published port: http://127.0.0.1:8080/hostname -> $(curl -s --max-time 3 http://127.0.0.1:8080/hostname)"
berth ps
berth rm -f demo-web >/dev/null
echo "== done (the daemon keeps running: berth ps, berth run -it busybox sh, ...)"
