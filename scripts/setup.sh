#!/usr/bin/env bash
# Installs what berth's demo and tests need on a Debian host (idempotent).
set -euo pipefail
packages=(
  busybox-static   # the test and demo image: a static busybox root filesystem
  nftables         # berth's NAT and filtering (tests inspect the ruleset with nft)
  iproute2         # tests inspect links and make "outside" network namespaces
  docker.io        # interop: the real dockerd (and containerd, runc) next to berth
  docker-registry  # interop: a local OCI distribution registry
  skopeo           # interop: reads berth's OCI-layout archives
  libseccomp-dev   # berth compiles seccomp profiles with libseccomp
  pkg-config
  util-linux       # script(1) for tests that need a terminal
  procps
  hyperfine        # benchmarks
  python3-matplotlib  # bench/all: the plots of docs/benchmarks.md
  debootstrap      # bench/all: the ~200 MB Debian image (made once, cached)
  jq
  socat
  curl
  openssl         # tests make TLS certificates for tcp:// listeners
  containerd      # interop: ctr and the runc shim (also a dependency of docker.io)
  docker-compose  # interop: compose v1 and docker-py (python3-docker) against berth daemon
  gcc libc6-dev   # security tests build a static C probe that runs as a hostile PID 1
  apache2-utils   # htpasswd -B for the registry auth tests
  debootstrap     # bench/pull.sh builds a Debian image
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust stable) is required" >&2; exit 1; }
