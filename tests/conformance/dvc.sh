#!/usr/bin/env bash
# The numbers in `mlops report --format json` agree with DVC's own `dvc metrics diff --json`
# (PyPI dvc, pinned), on the same metric files in a throwaway git repository: flat JSON, nested
# JSON, nested YAML, a metric that appears and one that disappears, integers and negatives,
# YAML aliases, merge keys, integer keys and nulls, TOML, values too small and integers too
# large for a float. Every value is compared exactly (as decimals); every one that differs is
# printed, and the run fails unless the difference is one of the deliberate ones listed below.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mlops=${MLOPS:-$root/target/debug/mlops}
checkers=${CHECKERS_DIR:-.checkers}
DVC_VERSION=3.67.1
venv=$checkers/dvc-venv
if [ "$("$venv/bin/dvc" --version 2>/dev/null)" != "$DVC_VERSION" ]; then
  echo "dvc.sh: installing dvc==$DVC_VERSION into $venv"
  python3 -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "dvc==$DVC_VERSION"
fi
dvc=$(cd "$venv/bin" && pwd)/dvc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q -b main
git config user.name t && git config user.email t@t && git config commit.gpgsign false
"$dvc" init -q
mkdir -p metrics
cat >mlops.yaml <<'YAML'
version: 1
project: parity
training:
  flat:
    run: python a.py
    metrics: metrics/flat.json
  nested:
    run: python b.py
    metrics: metrics/nested.json
  yamlish:
    run: python c.py
    metrics: metrics/yamlish.yaml
  aliased:
    run: python d.py
    metrics: metrics/aliased.yaml
  keyed:
    run: python e.py
    metrics: metrics/keyed.yaml
  tomlish:
    run: python f.py
    metrics: metrics/tomlish.toml
  exact:
    run: python g.py
    metrics: metrics/exact.json
YAML
cat >dvc.yaml <<'YAML'
metrics:
  - metrics/flat.json
  - metrics/nested.json
  - metrics/yamlish.yaml
  - metrics/aliased.yaml
  - metrics/keyed.yaml
  - metrics/tomlish.toml
  - metrics/exact.json
YAML
echo '{"auc": 0.842, "f1": 0.705, "latency_p95_ms": 96, "loss": -1.25, "gone": 3}' >metrics/flat.json
echo '{"eval": {"auc": 0.9, "n": 1000}, "train": {"loss": 0.3101}}' >metrics/nested.json
printf 'test:\n  accuracy: 0.8\n  rmse: 1.5\n' >metrics/yamlish.yaml
printf 'a: &x 0.8\nb: *x\nbase: &m {auc: 0.9, f1: 0.7}\nfold: {<<: *m, f1: 0.75}\nlater: 0.5\n' >metrics/aliased.yaml
printf '1: 0.5\nfold: {2: 0.6, 3: 0.61}\n' >metrics/keyed.yaml
printf 'auc = 0.842\nsteps = 1_000\n[eval]\nloss = 0.3\n' >metrics/tomlish.toml
echo '{"eps": 1e-20, "p": 5e-310, "steps": 9007199254740993, "count": 123456789012345678901234}' >metrics/exact.json
git add -A && git commit -q -m base
echo '{"auc": 0.830, "f1": 0.712, "latency_p95_ms": 110, "loss": -1.5, "new": 7}' >metrics/flat.json
echo '{"eval": {"auc": 0.9123, "n": 1200}, "train": {"loss": 0.2999}}' >metrics/nested.json
printf 'test:\n  accuracy: 0.75\n  rmse: 1.625\n' >metrics/yamlish.yaml
printf 'a: &x 0.85\nb: *x\nbase: &m {auc: 0.95, f1: 0.7}\nfold: {<<: *m, f1: 0.8}\nlater: null\n' >metrics/aliased.yaml
printf '1: 0.55\nfold: {2: 0.65, 3: 0.6}\n' >metrics/keyed.yaml
printf 'auc = 0.830\nsteps = 1_200\n[eval]\nloss = 0.25\n' >metrics/tomlish.toml
echo '{"eps": 3e-20, "p": 7e-310, "steps": 9007199254740996, "count": 123456789012345678901235}' >metrics/exact.json

"$dvc" metrics diff --all --json HEAD >dvc.json
"$mlops" report --base HEAD --format json >mlops.json
python3 - dvc.json mlops.json <<'PY'
import json, math, sys
from decimal import Decimal

# Both sides read exactly: every JSON number as the decimal it is written as.
def load(path):
    return json.load(open(path), parse_float=Decimal, parse_int=Decimal)

dvc = load(sys.argv[1])
mlops = load(sys.argv[2])
files = {
    "flat": "metrics/flat.json", "nested": "metrics/nested.json", "yamlish": "metrics/yamlish.yaml",
    "aliased": "metrics/aliased.yaml", "keyed": "metrics/keyed.yaml",
    "tomlish": "metrics/tomlish.toml", "exact": "metrics/exact.json",
}
# Deliberate differences, each with its reason. A difference not listed here fails the run.
def float_noise(name, key, theirs, ours):
    # DVC subtracts in binary floating point (0.830 - 0.842 = -0.01200000000000001); mlops
    # subtracts the decimals as written (-0.012). Deliberate when the two agree as floats.
    return key == "diff" and theirs is not None and ours is not None and theirs != ours and \
        math.isclose(float(theirs), float(ours), rel_tol=1e-9, abs_tol=0)
DELIBERATE = [
    ("DVC subtracts in binary floating point; mlops subtracts exact decimals", float_noise),
]
checked = failed = deliberate = 0
for model in mlops["models"]:
    theirs = dvc.get(files[model["training"]], {})
    ours = {row["metric"]: row for row in model["metrics"]}
    if model.get("problem"):
        print(f"FAIL {model['training']}: mlops could not read the metrics: {model['problem']}")
        failed += 1
    for name in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(name), ours.get(name)
        if t is None or o is None:
            print(f"FAIL {model['training']}.{name}: only in {'mlops' if t is None else 'dvc'}")
            failed += 1
            continue
        for key_t, key_o in (("old", "base"), ("new", "head"), ("diff", "diff")):
            checked += 1
            a, b = t.get(key_t), o.get(key_o)
            if a == b:
                continue
            reasons = [reason for reason, applies in DELIBERATE if applies(name, key_t, a, b)]
            if reasons:
                deliberate += 1
                print(f"differs {model['training']}.{name} {key_t}: dvc {a}, mlops {b} (deliberate: {reasons[0]})")
            else:
                print(f"FAIL {model['training']}.{name} {key_t}: dvc {a!r}, mlops {b!r}")
                failed += 1
print(f"{checked} values compared exactly with dvc metrics diff: {checked - deliberate - failed} equal, {deliberate} differ deliberately, {failed} differ")
sys.exit(1 if failed or checked == 0 else 0)
PY
