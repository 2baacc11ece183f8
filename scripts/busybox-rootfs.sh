#!/usr/bin/env bash
# Writes a tarball of a busybox root filesystem made from Debian's busybox-static:
# the static binary, one symlink per applet, /etc/passwd and /etc/group with root and nobody.
#   scripts/busybox-rootfs.sh out.tar
set -euo pipefail
out=${1:?usage: busybox-rootfs.sh OUT.tar}
[ -x /bin/busybox ] || { echo "busybox-rootfs: install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,var,proc,sys,dev,tmp,var/tmp}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
cp /bin/busybox "$dir/bin/busybox"
for a in $(/bin/busybox --list-full); do
  [ "$a" = bin/busybox ] && continue
  mkdir -p "$dir/$(dirname "$a")"
  ln -sf /bin/busybox "$dir/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
tar --numeric-owner -C "$dir" -cf "$out" .
