#!/usr/bin/env bash
# Runs every berth test: format, lints, unit tests, and (as root) integration and interop
# tests with real containers, the real docker CLI and dockerd, containerd, a registry and skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test.sh: run as root (integration tests make namespaces, mounts, cgroups)" >&2; exit 1; }
scripts/setup.sh
export CARGO_TERM_COLOR=never RUST_BACKTRACE=1
echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build";  cargo build --workspace --all-targets --locked
# The differential harness first, on its own so its same/different table is printed.
# `--workspace`: the features the build above resolved, so nothing is compiled again.
echo "== conformance"; BERTH_CONFORMANCE_REPORT_ONLY=1 cargo test --workspace --locked --test conformance -- --nocapture
# CLI parity (docker 28 and berth's CLI against one daemon), on its own for its table too.
echo "== cli parity"; cargo test --workspace --locked --test cli_parity -- --nocapture
echo "== tests";  cargo test --workspace --locked -- --test-threads="${BERTH_TEST_THREADS:-4}" \
    --skip berth_answers_as_dockerd_does --skip berth_cli_answers_as_docker_cli_does \
    --skip contexts_are_shared_with_the_docker_cli
# The benchmark suite cannot rot: one iteration of every figure (timings are not judged).
echo "== bench smoke"; /usr/bin/python3 -m unittest discover -s bench -t bench; bench/all --smoke
echo "== all tests passed"
