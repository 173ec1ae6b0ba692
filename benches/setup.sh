#!/usr/bin/env bash
# Installs what the benchmarks run besides fleetbench: oha (the peer load generator of
# `cargo bench --bench vs_oha`), nginx (its stub endpoint), taskset, and valgrind with
# gungraun-runner (the instruction counts of `cargo bench -p fleetbench-instructions`).
# Idempotent; needs root for apt.
set -euo pipefail
need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v taskset >/dev/null || need_apt+=(util-linux)
command -v valgrind >/dev/null || need_apt+=(valgrind)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
command -v oha >/dev/null || [ -x "$HOME/.cargo/bin/oha" ] || cargo install oha --locked
# gungraun's runner must be the version of the gungraun library in Cargo.lock exactly: the
# benchmark refuses any other.
lock="$(dirname "$0")/../Cargo.lock"
gungraun=$(awk '$0 == "name = \"gungraun\"" { getline; gsub(/^version = "|"$/, ""); print; exit }' "$lock")
if [ -z "$gungraun" ]; then
  echo "setup.sh: no gungraun in $lock: run \`cargo metadata\` (or any cargo build) to update it" >&2
  exit 2
fi
if [ "$(gungraun-runner --version 2>/dev/null)" != "gungraun-runner $gungraun" ]; then
  cargo install gungraun-runner --version "$gungraun" --locked
fi
