#!/usr/bin/env bash
# The rendered Argo Workflows manifests under the checkers nobody here wrote
# (vendor/tools/external-checks: the WorkflowTemplate and CronWorkflow CRD schemas, and
# argo-tugboat 0.6.3 less its one known false positive on nvidia.com/gpu): the example, a GPU
# training (tests/fixtures/argo/gpu.yaml), the hostile config, 60 models (181 tasks, which fit one
# dag but not one object `kubectl apply` takes: grouped by size) and 100 models (301 tasks: one
# dag per model, over several WorkflowTemplates, since Argo's CRD allows 200 templates and 200
# tasks per dag); 250 models (251 tasks in the entry dag even grouped) are refused by
# `validate`, checked at the end. Argo's own semantic rules and the DAG
# walked task by task are in tests/argo.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."
mlops=$PWD/${MLOPS:-target/debug/mlops}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/example" && cp -R examples/churn/. "$work/example/"
# Beside GitHub Actions: the example monitors a deployment, and only GitHub schedules the check.
sed -i 's/targets: \[github-actions\]/targets: [github-actions, argo-workflows]/' "$work/example/mlops.yaml"
mkdir -p "$work/gpu" && cp tests/fixtures/argo/gpu.yaml "$work/gpu/mlops.yaml"
mkdir -p "$work/hostile"
# Argo cannot escape `{{` in an image name, so validate refuses one; every other string stays.
sed -e 's/^ci:$/ci:\n  targets: [argo-workflows]/' \
  -e 's/image: "img\\":${{ secrets.GITHUB_TOKEN }}"/image: "img\\":$(id)'"'"'x'"'"'"/' \
  tests/fixtures/render/hostile.yaml >"$work/hostile/mlops.yaml"
many() { # many N: a config of N models sharing one refreshed data step
{
  printf 'version: 1\nproject: big\nci:\n  targets: [argo-workflows]\ngitops:\n  repo_url: https://github.com/acme/big.git\n'
  printf 'environments:\n  staging: {}\ndata:\n  shared:\n    run: python prep.py\n    outputs: [data/shared.csv]\n    refresh: "0 2 * * *"\ntraining:\n'
  for i in $(seq 0 $(($1 - 1))); do
    printf '  model-%s:\n    needs: [shared]\n    run: python train.py %s\n    metrics: metrics/%s.json\n' "$i" "$i" "$i"
    printf '    model: { path: models/%s.joblib, format: sklearn, registry: s3://acme/models/%s }\n' "$i" "$i"
  done
  printf 'gates:\n'
  for i in $(seq 0 $(($1 - 1))); do printf '  quality-%s:\n    training: model-%s\n    rules: [{ metric: auc, min: 0.8 }]\n' "$i" "$i"; done
  printf 'deployments:\n'
  for i in $(seq 0 $(($1 - 1))); do
    printf '  model-%s-staging:\n    model: model-%s\n    environment: staging\n    after: [quality-%s]\n    target: { kind: kserve }\n' "$i" "$i" "$i"
  done
}
}
mkdir -p "$work/many" "$work/hundred" "$work/too-many"
many 60 >"$work/many/mlops.yaml"
many 100 >"$work/hundred/mlops.yaml"
many 250 >"$work/too-many/mlops.yaml"
for name in example gpu hostile many hundred; do
  "$mlops" render "$work/$name/mlops.yaml" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; echo "argo.sh: $name did not render" >&2; exit 1; }
  [ -f "$work/$name/argo/mlops-workflow.yaml" ] || { echo "argo.sh: $name rendered no manifest" >&2; exit 1; }
  # Only the Argo manifests: the deploy manifests are judged by outputs.sh.
  mkdir -p "$work/judge-$name"
  cp -R "$work/$name/argo" "$work/judge-$name/"
  vendor/tools/external-checks "$work/judge-$name"
done
grep -q 'kind: "CronWorkflow"' "$work/many/argo/mlops-workflow.yaml" || { echo "argo.sh: no CronWorkflow" >&2; exit 1; }
grep -q 'name: "mlops-big-part-1"' "$work/hundred/argo/mlops-workflow.yaml" || { echo "argo.sh: 100 models made no second WorkflowTemplate" >&2; exit 1; }
if "$mlops" validate "$work/too-many/mlops.yaml" 2>"$work/too-many.err"; then
  echo "argo.sh: 250 models (251 tasks in the entry dag) validated, but Argo's CRD takes 200 per dag" >&2; exit 1
fi
grep -q "251 in the entry dag" "$work/too-many.err" || { cat "$work/too-many.err" >&2; exit 1; }
echo "argo.sh: ok"
