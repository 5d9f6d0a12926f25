#!/usr/bin/env bash
# Hashing one large input: `mlops check` of a config whose only training reads a 1 GiB file
# (listing, one streamed SHA-256, the lock compared) beside `openssl dgst -sha256` and
# `sha256sum` on the same file, side by side in one run, page cache warm.
#
#   bash bench/hash.sh [SIZE_MIB]      # default 1024
# Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
size=${1:-1024}
cargo build --release --quiet
mlops=$PWD/target/release/mlops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "$((size * 1024 * 1024))" /dev/urandom >"$work/big.bin"
printf 'version: 1\nproject: hash\ntraining:\n  model:\n    run: python train.py\n    inputs: [big.bin]\n' >"$work/mlops.yaml"
"$mlops" render "$work" >/dev/null 2>&1
echo "one ${size} MiB input"
hyperfine --style basic --warmup 2 --runs 5 --export-markdown "$work/report.md" \
  -n "mlops check" "$mlops check $work" \
  -n "openssl dgst -sha256" "openssl dgst -sha256 $work/big.bin" \
  -n "sha256sum" "sha256sum $work/big.bin" >/dev/null
cat "$work/report.md"
