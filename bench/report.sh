#!/usr/bin/env bash
# Benchmark `mlops report --format json` beside `dvc metrics diff --json` on the same throwaway
# git repository (3 metric files, flat and nested), whole process, side by side in one hyperfine
# run. Needs hyperfine (apt-get install hyperfine); installs dvc into .checkers/dvc-venv as
# tests/conformance/dvc.sh does.
#
#   bash bench/report.sh            # prints a Markdown table
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
DVC_VERSION=3.67.1
venv=${CHECKERS_DIR:-.checkers}/dvc-venv
if [ "$("$venv/bin/dvc" --version 2>/dev/null)" != "$DVC_VERSION" ]; then
  python3 -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "dvc==$DVC_VERSION"
fi
dvc=$(cd "$venv/bin" && pwd)/dvc
cargo build --release --quiet
mlops=$root/target/release/mlops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main
git config user.name t && git config user.email t@t && git config commit.gpgsign false
"$dvc" init -q
mkdir -p metrics
printf 'version: 1\nproject: bench\ntraining:\n' >mlops.yaml
printf 'metrics:\n' >dvc.yaml
for name in churn fraud ranker; do
  printf '  %s:\n    run: python %s.py\n    metrics: metrics/%s.json\n' "$name" "$name" "$name" >>mlops.yaml
  printf '  - metrics/%s.json\n' "$name" >>dvc.yaml
  echo '{"auc": 0.842, "f1": 0.705, "latency": {"p50_ms": 40, "p95_ms": 96}}' >"metrics/$name.json"
done
git add -A && git commit -q -m base
for name in churn fraud ranker; do
  echo '{"auc": 0.851, "f1": 0.712, "latency": {"p50_ms": 41, "p95_ms": 99}}' >"metrics/$name.json"
done
echo "## mlops report vs dvc metrics diff (whole process, $(nproc) cores)"
echo
hyperfine --warmup 2 --min-runs 10 -N --style none --export-markdown "$work/report.md" \
  -n "mlops report --format json" "$mlops report --base HEAD --format json" \
  -n "dvc metrics diff --json" "$dvc metrics diff --json HEAD" >/dev/null
cat "$work/report.md"
