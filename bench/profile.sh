#!/usr/bin/env bash
# Where the time goes in berth's figures (the "why" behind docs/benchmarks.md), on a private
# berth daemon (release build, own data root and bridge, removed at the end):
#   1. API round trips of `run --rm --network none true` step by step (curl, no CLI);
#   2. client vs API: the CLI's share of `ps -a` with 500 containers, `inspect`, `exec`;
#   3. syscalls per container start and per exec (strace -c on the daemon, zygote, monitors);
#   4. CPU profiles (perf) of the daemon while `logs` reads a 100 MiB log and while a
#      ~200 MB rootfs is imported.
#
#   sudo bench/profile.sh [runs]        (needs: cargo, curl, strace, perf, busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release -q --locked -p berth
berth=${CARGO_TARGET_DIR:-$PWD/target}/release/berth
work=$(mktemp -d /tmp/bp-XXXXXX)
sock=$work/api.sock br=bp$$
b() { "$berth" -H "unix://$sock" "$@"; }
api() { curl -s --unix-socket "$sock" -o /dev/null -w '%{time_total}\n' "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.2f ms\n", 1000*a[int((NR+1)/2)]}'; }
# Wall seconds of one command, output discarded.
secs() { local t0; t0=$(date +%s%N); "$@" >/dev/null 2>&1; echo "$(( $(date +%s%N) - t0 ))e-9"; }
top_symbols() { perf report -i "$1" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -15 || true; }
cleanup() {
  set +e
  b rm -f $(b ps -aq 2>/dev/null) >/dev/null 2>&1
  [ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null && sleep 2
  ip link del "$br" 2>/dev/null; nft delete table ip "$br" 2>/dev/null
  iptables -w -D DOCKER-USER -i "$br" -j ACCEPT 2>/dev/null
  iptables -w -D DOCKER-USER -o "$br" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
setsid "$berth" daemon -H "unix://$sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/pid" --bridge "$br" >"$work/daemon.log" 2>&1 </dev/null &
for _ in $(seq 100); do api "http://x/_ping" >/dev/null 2>&1 && break; sleep 0.2; done
scripts/busybox-rootfs.sh "$work/busybox.tar"
b import -c 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
daemon=$(cat "$work/pid")
# The daemon runs from a sealed, unlinked copy of its binary (CVE-2019-5736): perf finds the
# symbols through the build id instead.
perf buildid-cache -a "$berth" 2>/dev/null || true

echo "== 1. API steps of run --rm --network none busybox true (median of $runs, curl)"
body='{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}'
: >"$work/c" ; : >"$work/s"; : >"$work/w"; : >"$work/d"
for _ in $(seq "$runs"); do
  out=$(curl -s --unix-socket "$sock" -H 'Content-Type: application/json' -d "$body" \
    -w ' %{time_total}' http://x/containers/create)
  id=$(echo "$out" | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/'); echo "${out##* }" >>"$work/c"
  api -X POST "http://x/containers/$id/start" >>"$work/s"
  api -X POST "http://x/containers/$id/wait" >>"$work/w"
  api -X DELETE "http://x/containers/$id" >>"$work/d"
done
echo "create $(median <"$work/c")  start $(median <"$work/s")  wait $(median <"$work/w")  delete $(median <"$work/d")"
for _ in $(seq 5); do api http://x/_ping; done | median | sed 's/^/_ping round trip: /'
for _ in $(seq 5); do secs "$berth" --version; done | median | sed 's/^/berth client process start (--version): /'

echo "== 2. client vs API"
cid=$(b run -d busybox sleep 3600)
for _ in $(seq "$runs"); do secs b exec "$cid" true; done | median | sed 's/^/berth exec true (CLI, end to end): /'
for i in $(seq 499); do b create busybox true >/dev/null; done
for _ in $(seq 5); do api "http://x/containers/json?all=1"; done | median | sed 's/^/GET \/containers\/json?all=1 with 500: /'
for _ in $(seq 5); do secs b ps -a; done | median | sed 's/^/berth ps -a with 500 (CLI): /'
for _ in $(seq 5); do api "http://x/containers/$cid/json"; done | median | sed 's/^/GET \/containers\/{id}\/json: /'
perf record -q --buildid-mmap -g -o "$work/perf-ps" -p "$daemon" -- sleep 60 >/dev/null 2>&1 & pp=$!; sleep 1
for _ in $(seq 10); do api "http://x/containers/json?all=1" >/dev/null; done
kill -INT $pp; wait $pp 2>/dev/null || true
echo "perf of the daemon over 10 GET /containers/json?all=1 with 500:"; top_symbols "$work/perf-ps"
perf record -q -g -o "$work/perf-cli" -- "$berth" -H "unix://$sock" ps -a >/dev/null 2>&1 || true
echo "perf of berth's client, ps -a with 500:"; top_symbols "$work/perf-cli"
b rm -f $(b ps -aq) >/dev/null

echo "== 3. syscalls per container start and per exec (strace -c -f, daemon + zygote + monitors)"
# The daemon, its zygote and the zygote's children (the monitors).
pids() { for p in $daemon $(pgrep -P "$daemon") $(pgrep -P "$(pgrep -P "$daemon" | head -1)"); do echo -n " -p $p"; done; }
n=10
strace -f -c -o "$work/st-run" $(pids) 2>/dev/null & sp=$!; sleep 1
for _ in $(seq $n); do b run --rm --network none busybox true; done
kill -INT $sp; wait $sp 2>/dev/null || true
awk -v n=$n 'NR>2 && $4 ~ /^[0-9]+$/ {printf "%s %.1f\n", $NF, $4/n}' "$work/st-run" | sort -k2 -nr | head -20 | tr '\n' ';' | sed 's/;/; /g; s/^/per run: /' || true; echo
cid=$(b run -d busybox sleep 3600)
strace -f -c -o "$work/st-exec" $(pids) 2>/dev/null & sp=$!; sleep 1
for _ in $(seq $n); do b exec "$cid" true; done
kill -INT $sp; wait $sp 2>/dev/null || true
awk -v n=$n 'NR>2 && $4 ~ /^[0-9]+$/ {printf "%s %.1f\n", $NF, $4/n}' "$work/st-exec" | sort -k2 -nr | head -15 | tr '\n' ';' | sed 's/;/; /g; s/^/per exec: /' || true; echo
b rm -f "$cid" >/dev/null

echo "== 4a. perf: the daemon while logs reads 100 MiB (1 M lines)"
cid=$(b run -d busybox sh -c "yes $(printf 'x%.0s' $(seq 99)) | head -c 104857600")
b wait "$cid" >/dev/null
perf record -q --buildid-mmap -g -o "$work/perf-logs" -p "$daemon" -- sleep 60 >/dev/null 2>&1 & pp=$!; sleep 1
secs b logs "$cid" | median | sed 's/^/berth logs of 100 MiB: /' 
kill -INT $pp; wait $pp 2>/dev/null || true
top_symbols "$work/perf-logs"
b rm -f "$cid" >/dev/null
if [ -f /var/cache/berth-bench/debian-rootfs.tar ]; then
  echo "== 4b. perf: the daemon while it imports the cached Debian rootfs"
  perf record -q --buildid-mmap -g -o "$work/perf-import" -p "$daemon" -- sleep 120 >/dev/null 2>&1 & pp=$!; sleep 1
  secs b import /var/cache/berth-bench/debian-rootfs.tar bench/debian | median | sed 's/^/berth import: /' 
  kill -INT $pp; wait $pp 2>/dev/null || true
  top_symbols "$work/perf-import"
fi
