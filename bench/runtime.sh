#!/usr/bin/env bash
# OCI runtime start cost: `run` of /bin/true in a busybox bundle, berth vs runc, interleaved
# by hyperfine on the same bundle and the same config (berth's Docker-default spec, which
# includes Docker's seccomp profile, so both compile and load the same filter).
#
#   sudo bench/runtime.sh [runs]        (needs: cargo, runc, hyperfine, busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
cargo build --release -q -p berth
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench-rt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$work/bundle/rootfs/bin/"
for a in $(/bin/busybox --list-full); do
  [ "$a" = bin/busybox ] || { mkdir -p "$work/bundle/rootfs/$(dirname "$a")"; ln -sf /bin/busybox "$work/bundle/rootfs/$a"; }
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/bundle/rootfs/etc/passwd"
"$berth" runtime spec -b "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False; c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"))
PY
echo "berth: $("$berth" runtime --version)"; echo "runc:  $(runc --version | head -1)"
hyperfine -N -w 5 -r "$runs" --export-markdown "$work/result.md" \
  -n "berth runtime run" "$berth runtime --root $work/berth-root run -b $work/bundle bench" \
  -n "runc run" "runc --root $work/runc-root run -b $work/bundle bench"
cat "$work/result.md"
