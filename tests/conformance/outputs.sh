#!/usr/bin/env bash
# Everything `mlops render` writes, and the project's action.yml, judged by tools nobody here
# wrote (vendor/tools/external-checks): the workflow by actionlint (with shellcheck), zizmor
# --offline and SchemaStore's github-workflow schema; KServe and Argo CD manifests by the CRD
# schemas in vendor/external-schemas; Deployment, Service and HPA by kubernetes-validate
# --strict; action.yml by SchemaStore's github-action schema and zizmor. Four configs: the
# bundled example, the hostile one (every free-text field trying to break YAML, expressions or
# the shell), every target kind and strategy with a recorded release (tests/fixtures/serving),
# and a generated 100-model config. Each is rendered into its own project folder, which declares
# the self-hosted runner labels the config uses, as a user's repository would.
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
# Rendered in place of a copy, so that its release record is the one the manifest derives from.
mkdir -p "$work/serving"
cp -R tests/fixtures/serving/. "$work/serving/"
project serving "$work/serving/mlops.yaml"
python3 bench/gen_config.py 100 >"$work/m100.yaml"
project models-100 "$work/m100.yaml"
mkdir -p "$work/action"
cp action.yml "$work/action/"

status=0
for dir in example hostile serving models-100 action; do
  echo "-- $dir"
  vendor/tools/external-checks "$work/$dir" || status=1
done
exit $status
