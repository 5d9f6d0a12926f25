#!/usr/bin/env bash
# `mlops run` with everything up to date beside `dvc repro` with everything up to date, on
# the same generated monorepo (default 1,000 models, 20 input files of 2.7 KB each), side by
# side in one run, whole process, page cache warm (both have just read everything).
#
# The config is bench/gen_config.py's (a training per model, `python train.py --model I`,
# writing its metrics and model); the dvc.yaml has the same stages: the same command, the
# model's folder as the dependency, the model and the metrics as outputs. Both pipelines are
# brought up to date first: `mlops run` runs the 1,000 trainings once, `dvc commit` records
# the outputs they wrote.
#
#   bash bench/run.sh [N]
# Needs hyperfine (apt-get install hyperfine) and DVC (tests/conformance/dvc.sh installs it
# into .checkers/dvc-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
models=${1:-1000}
venv=$PWD/.checkers/dvc-venv
dvc=$venv/bin/dvc
[ -x "$dvc" ] || { echo "bench: run tests/conformance/dvc.sh once to install dvc" >&2; exit 2; }
cargo build --release --quiet
mlops=$PWD/target/release/mlops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=$work/m$models
mkdir -p "$dir"
python3 bench/gen_config.py "$models" >"$dir/mlops.yaml"
python3 - "$dir" "$models" <<'PY'
import os, sys, random
dir, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
stages = ["stages:"]
for i in range(n):
    folder = os.path.join(dir, "src", f"model_{i}")
    os.makedirs(folder, exist_ok=True)
    for f in range(20):
        with open(os.path.join(folder, f"part_{f}.py"), "w") as out:
            out.write("".join(f"weights_{k} = {rng.random()!r}\n" for k in range(100)))
    stages += [
        f"  model-{i}:",
        f"    cmd: python train.py --model {i}",
        "    deps:",
        f"      - src/model_{i}",
        "    outs:",
        f"      - models/model-{i}.joblib",
        "    metrics:",
        f"      - metrics/model-{i}.json:",
        "          cache: false",
    ]
with open(os.path.join(dir, "dvc.yaml"), "w") as out:
    out.write("\n".join(stages) + "\n")
with open(os.path.join(dir, "train.py"), "w") as out:
    out.write(
        "import json, os, sys\n"
        "i = sys.argv[2]\n"
        "os.makedirs('metrics', exist_ok=True)\n"
        "os.makedirs('models', exist_ok=True)\n"
        "json.dump({'auc': 0.9, 'latency_p95_ms': 80}, open(f'metrics/model-{i}.json', 'w'))\n"
        "open(f'models/model-{i}.joblib', 'w').write(f'model {i}\\n')\n"
    )
PY
cd "$dir"
export PATH=$venv/bin:$PATH
git init -q -b main
git config user.name bench && git config user.email bench@example.com && git config commit.gpgsign false
printf 'models/\n' >.gitignore
"$dvc" init -q
git add -A >/dev/null
git commit -q -m base
start=$(date +%s)
# Exit 1 expected: `max_drop` rules fail with no committed metrics to compare with.
"$mlops" run >/dev/null 2>"$work/first.txt" || true
grep -q " 0 failed, 0 skipped" "$work/first.txt" || { tail -5 "$work/first.txt"; exit 1; }
echo "first mlops run (every training runs): $(( $(date +%s) - start )) s; $(tail -1 "$work/first.txt")"
# The metrics committed, as DVC users do with `cache: false`: the gates' baseline.
git add metrics && git commit -q -m metrics
start=$(date +%s)
"$dvc" commit -f -q
echo "dvc commit of the same outputs: $(( $(date +%s) - start )) s"
# Both up to date: nothing may run, and every gate passes.
"$mlops" run 2>&1 >/dev/null | tail -1
"$dvc" repro 2>&1 | tail -1
echo
echo "## No-op run ($models models, $(find src -type f | wc -l) input files, $(nproc) cores, page cache warm)"
echo
hyperfine --style none --warmup 1 --runs 5 -N --export-markdown "$work/mlops.md" \
  -n "mlops run (everything up to date)" "$mlops run" >/dev/null
hyperfine --style none --runs 2 --export-markdown "$work/dvc.md" \
  -n "dvc repro (everything up to date)" "cd $dir && $dvc repro -q" >/dev/null
cat "$work/mlops.md"
tail -n +3 "$work/dvc.md"
python3 - "$work/mlops.md" "$work/dvc.md" <<'PY'
import re, sys
def mean(path):
    line = open(path).read().splitlines()[2]
    value, unit = re.search(r"\| ([0-9.]+) ± [0-9.]+ \|", line).group(1), "s" if "[s]" in open(path).read() else "ms"
    return float(value) / (1000 if unit == "ms" else 1)
print(f"\ndvc repro takes {mean(sys.argv[2]) / mean(sys.argv[1]):.0f} times as long as mlops run")
PY
