#!/usr/bin/env bash
# A generated monorepo of N models (default 1,000) with 20 input files each (2.7 KB of text
# apiece, `src/model_<i>/`), side by side in one run, whole process:
#
# - `mlops check` (lock fresh) beside `dvc status` on the equivalent dvc.yaml (one stage per
#   model, its folder as the dependency, dvc.lock fresh), both with the page cache dropped
#   before every run, each without its hash cache (mlops: the blob cache in the git folder;
#   DVC: its site cache dir) and with it warm; then taking turns; then as in CI, where a fresh
#   checkout has no hash cache but its files are in the page cache;
# - `mlops render` (every target) beside `mlops validate` on the same config, and the peak
#   memory of each command;
# - growth from 100 to N models (instructions executed, valgrind's callgrind);
# - the size of the rendered GitHub workflow at 10, 100 and N models.
#
#   bash bench/monorepo.sh [N]      (PAIRS=7: the turns of check and dvc status below)
# Needs hyperfine and GNU time (apt-get install hyperfine time), valgrind for the instruction
# counts, root for dropping the page cache (else the runs are warm, and the report says so),
# and DVC (installed by tests/conformance/dvc.sh into .checkers/dvc-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: install GNU time (apt-get install time)" >&2; exit 2; }
models=${1:-1000}
dvc=$PWD/.checkers/dvc-venv/bin/dvc
[ -x "$dvc" ] || { echo "bench: run tests/conformance/dvc.sh once to install dvc" >&2; exit 2; }
cargo build --release --quiet
mlops=$PWD/target/release/mlops
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then
  drop='sync; echo 3 >/proc/sys/vm/drop_caches'
  cache="page cache dropped before every run"
else
  drop=true
  cache="page cache warm (not root: cannot drop it)"
fi

# generate DIR N: the config, its files, a git repository with everything committed.
generate() {
  local dir=$1 n=$2
  mkdir -p "$dir"
  python3 bench/gen_config.py "$n" >"$dir/mlops.yaml"
  python3 - "$dir" "$n" <<'PY'
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
    stages += [f"  model-{i}:", f"    cmd: python train.py --model {i}", "    deps:", f"      - src/model_{i}"]
with open(os.path.join(dir, "dvc.yaml"), "w") as out:
    out.write("\n".join(stages) + "\n")
PY
  (
    cd "$dir"
    git init -q -b main
    git config user.name bench && git config user.email bench@example.com && git config commit.gpgsign false
    "$mlops" render >/dev/null 2>&1
    "$dvc" init -q
    "$dvc" config core.site_cache_dir "$dir/.dvc-site-cache"
    "$dvc" commit -f -q
    git add -A >/dev/null
    git commit -q -m base
  )
}

generate "$work/m$models" "$models"
generate "$work/m100" 100
big=$work/m$models
files=$(find "$big/src" -type f | wc -l)
echo "## mlops check beside dvc status ($models models, $files input files, $(nproc) cores, $cache)"
echo
(cd "$big" && "$mlops" check >/dev/null && "$dvc" status -q)
hyperfine --style none --runs 5 -N --export-markdown "$work/check.md" \
  --prepare "sh -c '$drop; rm -f $big/.git/mlops-sha256-cache'" -n "mlops check (no blob cache: a fresh clone)" "$mlops check $big" \
  --prepare "sh -c '$drop'" -n "mlops check (blob cache warm)" "$mlops check $big" >/dev/null
hyperfine --style none --runs 3 --export-markdown "$work/dvc.md" \
  --prepare "sh -c '$drop; rm -rf $big/.dvc-site-cache'" -n "dvc status (no hash cache)" "cd $big && $dvc status -q" \
  --prepare "sh -c '$drop'" -n "dvc status (hash cache warm)" "cd $big && $dvc status -q" >/dev/null
cat "$work/check.md"
tail -n +3 "$work/dvc.md"
echo
# The machine's speed drifts over minutes: the blocks above ran one after the other, so their
# ratio also measures the drift. Here the two take turns, a pair seconds apart,
# and the ratio is taken within each pair (both with their hash caches warm, as above).
pairs=${PAIRS:-7}
echo "Taking turns ($pairs pairs, $cache, hash caches warm):"
echo
echo "| pair | mlops check | dvc status | ratio |"
echo "|---:|---:|---:|---:|"
ratios=()
for pair in $(seq "$pairs"); do
  sh -c "$drop"
  start=$(date +%s%N); "$mlops" check "$big" >/dev/null 2>&1; check_ns=$(($(date +%s%N) - start))
  sh -c "$drop"
  start=$(date +%s%N); (cd "$big" && "$dvc" status -q >/dev/null 2>&1); dvc_ns=$(($(date +%s%N) - start))
  ratio=$(python3 -c "print(f'{$dvc_ns / $check_ns:.1f}')")
  ratios+=("$ratio")
  echo "| $pair | $((check_ns / 1000000)) ms | $(python3 -c "print(f'{$dvc_ns / 1e9:.2f}')") s | $ratio |"
done
echo
echo "Ratio within a pair: median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'), lowest $(printf '%s\n' "${ratios[@]}" | sort -n | head -1), highest $(printf '%s\n' "${ratios[@]}" | sort -n | tail -1) (target: 20)."
echo
# What CI sees: a fresh checkout has no hash cache, but every file was just written, so the
# page cache holds them.
echo "A fresh checkout in CI (no hash cache; page cache warm: the files were just written):"
echo
hyperfine --style none --warmup 1 --runs 5 -N --export-markdown "$work/ci.md" \
  --prepare "rm -f $big/.git/mlops-sha256-cache" -n "mlops check (no blob cache, page cache warm)" "$mlops check $big" >/dev/null
hyperfine --style none --warmup 1 --runs 3 --export-markdown "$work/ci-dvc.md" \
  --prepare "rm -rf $big/.dvc-site-cache" -n "dvc status (no hash cache, page cache warm)" "cd $big && $dvc status -q" >/dev/null
cat "$work/ci.md"
tail -n +3 "$work/ci-dvc.md"
echo
echo "## render beside validate ($models models, page cache warm)"
echo
hyperfine --style none --warmup 1 --runs 10 -N --export-markdown "$work/render.md" \
  -n "mlops validate" "$mlops validate $big/mlops.yaml" \
  -n "mlops render (every target, lock included)" "$mlops render $big/mlops.yaml --out $work/out" >/dev/null
cat "$work/render.md"
echo
echo "## Peak memory ($models models)"
echo
echo "| command | peak RSS |"
echo "|:---|---:|"
for command in "validate $big/mlops.yaml" "render $big/mlops.yaml --out $work/out" "check $big/mlops.yaml" "affected $big/mlops.yaml --all --format github-output" "graph $big/mlops.yaml --format json"; do
  rss=$(cd "$big" && /usr/bin/time -f "%M" "$mlops" $command 2>&1 >/dev/null | tail -1)
  echo "| mlops ${command//$big\//} | $((rss / 1024)) MiB |"
done
echo
echo "## Growth from 100 to $models models (instructions executed, callgrind)"
echo
if command -v valgrind >/dev/null; then
  echo "| command | 100 models | $models models | per model at 100 | per model at $models |"
  echo "|:---|---:|---:|---:|---:|"
  for command in validate render check; do
    counts=()
    for dir in "$work/m100" "$big"; do
      out=$work/callgrind.$command
      args=("$dir/mlops.yaml")
      [ "$command" = render ] && args+=(--out "$work/out-$(basename "$dir")")
      valgrind --tool=callgrind --callgrind-out-file="$out" "$mlops" "$command" "${args[@]}" >/dev/null 2>&1
      counts+=("$(sed -n 's/^summary: //p' "$out")")
    done
    echo "| mlops $command | ${counts[0]} | ${counts[1]} | $((counts[0] / 100)) | $((counts[1] / models)) |"
  done
else
  echo "(skipped: install valgrind to count instructions)"
fi
echo
echo "## Size of the rendered GitHub workflow"
echo
echo "| models | bytes | jobs |"
echo "|---:|---:|---:|"
for n in 10 100 "$models"; do
  python3 bench/gen_config.py "$n" >"$work/size.yaml"
  rm -rf "$work/size"
  "$mlops" render "$work/size.yaml" --out "$work/size" >/dev/null 2>&1
  workflow=$work/size/.github/workflows/mlops.yml
  jobs=$(grep -c '^  [a-z0-9-]*:$' <(sed -n '/^jobs:/,$p' "$workflow"))
  echo "| $n | $(wc -c <"$workflow") | $jobs |"
done
