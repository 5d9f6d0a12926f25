#!/usr/bin/env bash
# The human report against the JSON one on the same diagnostics: a generated 1,000-model config
# in a folder without its files, so every model's `inputs`, `params` and metrics folder warn
# (2,000 warnings). Both formats find the same problems; the human one also draws each, so it
# should cost little more. Optionally a second binary (an older build) side by side:
#
#   bash bench/human.sh [OTHER_MLOPS]
# Needs hyperfine (apt-get install hyperfine).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cargo build --release --quiet
mlops=$PWD/target/release/mlops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/gen_config.py 1000 >"$work/mlops.yaml"
warnings=$("$mlops" validate "$work/mlops.yaml" --format json | grep -c '"severity": "warning"' || true)
echo "1,000 models, $warnings warnings"
commands=(-n "mlops validate --format json" "$mlops validate $work/mlops.yaml --format json"
  -n "mlops validate (human)" "$mlops validate $work/mlops.yaml --color never")
if [ -n "${1:-}" ]; then
  commands+=(-n "other build (human)" "$1 validate $work/mlops.yaml --color never")
fi
hyperfine --style basic --warmup 1 --runs 5 -i --export-markdown "$work/report.md" "${commands[@]}" >/dev/null
cat "$work/report.md"

# Errors are never folded: every model's `run` misspelt, 2,000 errors drawn in full.
sed 's/^    run: /    rnu: /' "$work/mlops.yaml" >"$work/errors.yaml"
errors=$("$mlops" validate "$work/errors.yaml" --format json | grep -c '"severity": "error"' || true)
echo
echo "1,000 models, $errors errors"
commands=(-n "mlops validate --format json" "$mlops validate $work/errors.yaml --format json"
  -n "mlops validate (human)" "$mlops validate $work/errors.yaml --color never")
if [ -n "${1:-}" ]; then
  commands+=(-n "other build (human)" "$1 validate $work/errors.yaml --color never")
fi
hyperfine --style basic --warmup 1 --runs 5 -i --export-markdown "$work/report.md" "${commands[@]}" >/dev/null
cat "$work/report.md"
