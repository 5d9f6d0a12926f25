#!/usr/bin/env bash
# From nothing to a working `mlops --version`, side by side in one run:
#   - the wheel (pyproject.toml, maturin, release profile; built first and not timed, as PyPI
#     would serve it): a fresh virtual environment, `pip install` of the wheel, `mlops --version`;
#   - `cargo install --path .` (what the pre-commit hook and the action did before releases):
#     a fresh target folder and install root (crates already downloaded: the registry cache is
#     kept, so the network is not measured on either side), then `mlops --version`.
#
#   bash bench/install.sh
# Takes as long as a release build twice (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
maturin="$root/.checkers/maturin-venv/bin/maturin"
[ -x "$maturin" ] || { echo "bench: run tests/conformance/wheel.sh once to install maturin" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo fetch --locked --quiet
echo "bench: building the release wheel (not timed)" >&2
"$maturin" build --release --quiet --out "$work/dist" --target-dir "$work/wheel-target" >/dev/null 2>&1
wheel=$(ls "$work"/dist/*.whl)

seconds() { python3 -c 'import sys, time; print(f"{time.time():.3f}")'; }
start=$(seconds)
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$wheel"
"$work/venv/bin/mlops" --version >/dev/null
wheel_time=$(python3 -c "print(f'{$(seconds) - $start:.1f}')")

start=$(seconds)
cargo install --quiet --locked --features github --path . --root "$work/cargo-root" --target-dir "$work/cargo-target" 2>/dev/null
"$work/cargo-root/bin/mlops" --version >/dev/null
cargo_time=$(python3 -c "print(f'{$(seconds) - $start:.1f}')")

echo "## From nothing to \`mlops --version\` ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "| route | seconds |"
echo "|:---|---:|"
echo "| venv + \`pip install\` of the wheel ($(( $(wc -c <"$wheel") / 1024 / 1024 )) MiB) | $wheel_time |"
echo "| \`cargo install --path .\` | $cargo_time |"
echo
python3 -c "print(f'The wheel is {$cargo_time / $wheel_time:.0f} times faster.')"
