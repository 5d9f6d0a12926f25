#!/usr/bin/env bash
# The generated workflow and the project's action.yml, judged by tools nobody here wrote
# (../shared/tools/external-checks: actionlint with shellcheck, zizmor --offline, SchemaStore's
# github-workflow and github-action schemas). Three configs: the bundled example, the hostile
# one (every free-text field trying to break YAML, expressions or the shell), and a generated
# 100-model config. Each is rendered into its own project folder, which declares the
# self-hosted runner labels the config uses, as a user's repository would.
set -euo pipefail
cd "$(dirname "$0")/../.."
mlops=${MLOPS:-target/debug/mlops}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

project() { # project NAME CONFIG: render CONFIG into $work/NAME
  local dir=$work/$1
  mkdir -p "$dir/.github"
  printf 'self-hosted-runner:\n  labels:\n    - gpu\n' >"$dir/.github/actionlint.yaml"
  "$mlops" render "$2" --out "$dir" 2>/dev/null
}

project example examples/churn/mlops.yaml
project hostile tests/fixtures/render/hostile.yaml
python3 bench/gen_config.py 100 >"$work/m100.yaml"
project models-100 "$work/m100.yaml"
mkdir -p "$work/action"
cp action.yml "$work/action/"

status=0
for dir in example hostile models-100 action; do
  echo "-- $dir"
  ../shared/tools/external-checks "$work/$dir" || status=1
done
exit $status
