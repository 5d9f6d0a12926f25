#!/usr/bin/env bash
# Benchmark `mlops validate`, whole process, side by side with check-jsonschema doing the schema
# alone on the same files, plus `mlops --version` as the process floor. Also peak memory and how
# time grows with the number of models. Needs hyperfine (apt-get install hyperfine), GNU time
# (apt-get install time) and the checkers (vendor/tools/install-checkers); valgrind, when
# installed, counts the instructions executed.
#
#   bash bench/validate.sh            # prints a Markdown report
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: install GNU time (apt-get install time)" >&2; exit 2; }
vendor/tools/install-checkers >/dev/null
cargo build --release --quiet
mlops=$PWD/target/release/mlops
cj=$PWD/.checkers/venv/bin/check-jsonschema
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Generated configs in checkouts where their files exist, so the runs are clean (no warnings).
for models in 250 500 1000 2000; do
  dir="$work/m$models"
  mkdir -p "$dir/metrics"
  python3 bench/gen_config.py "$models" >"$dir/mlops.yaml"
  for ((i = 0; i < models; i++)); do mkdir -p "$dir/src/model_$i" && : >"$dir/src/model_$i/train.py"; done
  "$mlops" validate "$dir/mlops.yaml" 2>/dev/null || { echo "bench: generated config is invalid" >&2; exit 1; }
done
example=examples/churn/mlops.yaml
big=$work/m1000/mlops.yaml

echo "## mlops validate vs check-jsonschema (whole process, $(nproc) cores)"
echo
hyperfine --warmup 3 --min-runs 20 -N --style none --export-markdown "$work/small.md" \
  -n "mlops --version" "$mlops --version" \
  -n "mlops validate (example)" "$mlops validate $example" \
  -n "check-jsonschema (example, schema only)" "$cj --schemafile schemas/mlops.schema.json $example" >/dev/null
cat "$work/small.md"
echo
hyperfine --warmup 2 --min-runs 10 -N --style none --export-markdown "$work/big.md" \
  -n "mlops validate (1,000 models, $(wc -c <"$big") bytes)" "$mlops validate $big" \
  -n "check-jsonschema (1,000 models, schema only)" "$cj --schemafile schemas/mlops.schema.json $big" >/dev/null
cat "$work/big.md"
echo
echo "## Growth with the number of models"
echo
hyperfine --warmup 2 --min-runs 10 -N --style none --export-markdown "$work/growth.md" \
  -n "250 models" "$mlops validate $work/m250/mlops.yaml" \
  -n "500 models" "$mlops validate $work/m500/mlops.yaml" \
  -n "1000 models" "$mlops validate $work/m1000/mlops.yaml" \
  -n "2000 models" "$mlops validate $work/m2000/mlops.yaml" >/dev/null
cat "$work/growth.md"
echo
echo "## Peak memory (maximum resident set size)"
echo
echo "| command | peak RSS |"
echo "|:---|---:|"
for target in "$example" "$work/m1000/mlops.yaml" "$work/m2000/mlops.yaml"; do
  rss=$(/usr/bin/time -f "%M" "$mlops" validate "$target" 2>&1 >/dev/null | tail -1)
  echo "| mlops validate $(basename "$(dirname "$target")") | $((rss / 1024)) MiB ($rss KiB) |"
done
echo
echo "## Work done (instructions executed, valgrind)"
echo
# Wall time per model rises a little with the file as its tree outgrows the CPU caches; the
# instruction count says whether the work itself is linear.
if command -v valgrind >/dev/null; then
  echo "| models | instructions | per model |"
  echo "|---:|---:|---:|"
  for models in 250 500 1000 2000; do
    out="$work/callgrind.$models"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$mlops" validate "$work/m$models/mlops.yaml" >/dev/null 2>&1
    instructions=$(sed -n 's/^summary: //p' "$out")
    echo "| $models | $instructions | $((instructions / models)) |"
  done
else
  echo "(skipped: install valgrind to count instructions)"
fi
