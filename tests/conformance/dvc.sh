#!/usr/bin/env bash
# The numbers in `mlops report --format json` agree with DVC's own `dvc metrics diff --json`
# (PyPI dvc, pinned), on the same metric files in a throwaway git repository: flat JSON, nested
# JSON, nested YAML, a metric that appears and one that disappears, integers and negatives.
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
YAML
cat >dvc.yaml <<'YAML'
metrics:
  - metrics/flat.json
  - metrics/nested.json
  - metrics/yamlish.yaml
YAML
echo '{"auc": 0.842, "f1": 0.705, "latency_p95_ms": 96, "loss": -1.25, "gone": 3}' >metrics/flat.json
echo '{"eval": {"auc": 0.9, "n": 1000}, "train": {"loss": 0.3101}}' >metrics/nested.json
printf 'test:\n  accuracy: 0.8\n  rmse: 1.5\n' >metrics/yamlish.yaml
git add -A && git commit -q -m base
echo '{"auc": 0.830, "f1": 0.712, "latency_p95_ms": 110, "loss": -1.5, "new": 7}' >metrics/flat.json
echo '{"eval": {"auc": 0.9123, "n": 1200}, "train": {"loss": 0.2999}}' >metrics/nested.json
printf 'test:\n  accuracy: 0.75\n  rmse: 1.625\n' >metrics/yamlish.yaml

"$dvc" metrics diff --json HEAD >dvc.json
"$mlops" report --base HEAD --format json >mlops.json
python3 - dvc.json mlops.json <<'PY'
import json, math, sys
dvc = json.load(open(sys.argv[1]))
mlops = json.load(open(sys.argv[2]))
files = {"flat": "metrics/flat.json", "nested": "metrics/nested.json", "yamlish": "metrics/yamlish.yaml"}
checked = failed = 0
def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
for model in mlops["models"]:
    theirs = dvc.get(files[model["training"]], {})
    ours = {row["metric"]: row for row in model["metrics"]}
    for name in sorted(set(theirs) | set(ours)):
        t, o = theirs.get(name), ours.get(name)
        if t is None or o is None:
            print(f"FAIL {model['training']}.{name}: only in {'mlops' if t is None else 'dvc'}")
            failed += 1
            continue
        for key_t, key_o in (("old", "base"), ("new", "head"), ("diff", "diff")):
            checked += 1
            if not same(t.get(key_t), o.get(key_o)):
                print(f"FAIL {model['training']}.{name} {key_t}: dvc {t.get(key_t)!r}, mlops {o.get(key_o)!r}")
                failed += 1
print(f"{checked} values compared with dvc metrics diff, {failed} differ")
sys.exit(1 if failed or checked == 0 else 0)
PY
