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
# The example after a promotion of each deployment: manifests that serve a model, and the
# Argo CD applications that sync them (before the first promotion neither is written).
mkdir -p "$work/example-released"
cp -R examples/churn/. "$work/example-released/"
for deployment in churn-staging churn-production; do
  "$mlops" promote "$deployment" --config "$work/example-released/mlops.yaml" \
    --model-uri "s3://acme-ml/models/churn/$(printf 'ab%.0s' {1..32})/churn.joblib" \
    --digest "sha256:$(printf 'ab%.0s' {1..32})" >/dev/null 2>&1
done
project example-released "$work/example-released/mlops.yaml"
project hostile tests/fixtures/render/hostile.yaml
# Rendered in place of a copy, so that its release record is the one the manifest derives from.
mkdir -p "$work/serving"
cp -R tests/fixtures/serving/. "$work/serving/"
project serving "$work/serving/mlops.yaml"
# A monorepo: the example in a subfolder of a git repository, rendered from the root (its
# workflow lands in the root's .github/workflows, named after the folder, with its commands
# running in the folder).
mkdir -p "$work/monorepo/ml/churn" "$work/monorepo/.github"
printf 'self-hosted-runner:\n  labels:\n    - gpu\n' >"$work/monorepo/.github/actionlint.yaml"
cp -R examples/churn/. "$work/monorepo/ml/churn/"
git -C "$work/monorepo" init -q -b main
"$mlops" promote churn-staging --config "$work/monorepo/ml/churn/mlops.yaml" \
  --model-uri "s3://acme-ml/models/churn/$(printf 'ab%.0s' {1..32})/churn.joblib" \
  --digest "sha256:$(printf 'ab%.0s' {1..32})" >/dev/null 2>&1
python3 bench/gen_config.py 100 >"$work/m100.yaml"
project models-100 "$work/m100.yaml"
mkdir -p "$work/action"
cp action.yml "$work/action/"

status=0
for dir in example example-released monorepo hostile serving models-100 action; do
  echo "-- $dir"
  vendor/tools/external-checks "$work/$dir" || status=1
done
# The monorepo config's manifests live beside it, under ml/churn/deploy.
echo "-- monorepo/ml/churn"
vendor/tools/external-checks "$work/monorepo/ml/churn" || status=1
exit $status
