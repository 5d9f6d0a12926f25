#!/usr/bin/env bash
# Everything `mlops render` writes, and the project's action.yml, judged by tools nobody here
# wrote (vendor/tools/external-checks): the workflow by actionlint (with shellcheck), zizmor
# --offline and SchemaStore's github-workflow schema; KServe and Argo CD manifests by the CRD
# schemas in vendor/external-schemas; Deployment, Service and HPA by kubernetes-validate
# --strict; action.yml by SchemaStore's github-action schema and zizmor, and the release workflow
# (.github/workflows/release.yml) like the generated one. Four configs: the
# bundled example, the hostile one (every free-text field trying to break YAML, expressions or
# the shell), every target kind and strategy with a recorded release (tests/fixtures/serving),
# and a generated 1,000-model config (its workflow does not grow with the models: stage jobs with matrices); and the release branches `mlops promote` writes. Each is rendered into its own project folder, which declares
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

# released DIR NAME: every release branch (mlops/release/<environment>) of the git repository
# DIR, extracted into $work/NAME: the manifests a release serves live there, not on main.
released() {
  local branch
  mkdir -p "$work/$2"
  for branch in $(git -C "$1" for-each-ref --format='%(refname:short)' refs/heads/mlops/release/); do
    git -C "$1" archive "$branch" | tar -x -C "$work/$2"
  done
  [ -n "$(ls -A "$work/$2")" ] || { echo "outputs.sh: no release branch in $1" >&2; exit 1; }
}
commit_all() { # commit_all DIR: a git repository on main with DIR's files committed
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c user.name=ci -c user.email=ci@example.com -c commit.gpgsign=false commit -q -m base
}
digest="sha256:$(printf 'ab%.0s' {1..32})"

project example examples/churn/mlops.yaml
# The example after a release of each deployment: the manifests that serve a model, as they
# are on the release branches Argo CD follows.
mkdir -p "$work/example-repo"
cp -R examples/churn/. "$work/example-repo/"
commit_all "$work/example-repo"
for deployment in churn-staging churn-production; do
  "$mlops" promote "$deployment" --config "$work/example-repo/mlops.yaml" \
    --model-uri "s3://acme-ml/models/churn/$digest/churn.joblib" --digest "$digest" >/dev/null
done
released "$work/example-repo" example-released
project hostile tests/fixtures/render/hostile.yaml
# Every target kind and strategy: each release record of the fixture released as `promote`
# would, then the release branches checked.
project serving tests/fixtures/serving/mlops.yaml
mkdir -p "$work/serving-repo"
cp -R tests/fixtures/serving/. "$work/serving-repo/"
commit_all "$work/serving-repo"
python3 - "$work/serving-repo" <<'PY' | while read -r deployment uri sha commit; do
import json, pathlib, sys
for record in sorted(pathlib.Path(sys.argv[1], "deploy").glob("*/*.release.json")):
    r = json.loads(record.read_text())
    print(r["deployment"], r["model_uri"], r["digest"], r["commit"])
PY
  "$mlops" promote "$deployment" --config "$work/serving-repo/mlops.yaml" \
    --model-uri "$uri" --digest "$sha" --commit "$commit" >/dev/null
done
released "$work/serving-repo" serving-released
# A monorepo: the example in a subfolder of a git repository, rendered from the root (its
# workflow lands in the root's .github/workflows, named after the folder, with its commands
# running in the folder), and released from its folder (paths on the branch from the root).
mkdir -p "$work/monorepo/ml/churn" "$work/monorepo/.github"
printf 'self-hosted-runner:\n  labels:\n    - gpu\n' >"$work/monorepo/.github/actionlint.yaml"
cp -R examples/churn/. "$work/monorepo/ml/churn/"
"$mlops" render "$work/monorepo/ml/churn/mlops.yaml" --out "$work/monorepo" 2>/dev/null
commit_all "$work/monorepo"
"$mlops" promote churn-staging --config "$work/monorepo/ml/churn/mlops.yaml" \
  --model-uri "s3://acme-ml/models/churn/$digest/churn.joblib" --digest "$digest" >/dev/null
released "$work/monorepo" monorepo-released
python3 bench/gen_config.py 1000 >"$work/m1000.yaml"
project models-1000 "$work/m1000.yaml"
mkdir -p "$work/action"
cp action.yml "$work/action/"
# The project's own release workflow.
mkdir -p "$work/release/.github/workflows"
cp .github/workflows/release.yml "$work/release/.github/workflows/"

status=0
for dir in example example-released monorepo hostile serving serving-released models-1000 action release; do
  echo "-- $dir"
  vendor/tools/external-checks "$work/$dir" || status=1
done
# The monorepo config's files live beside it, under ml/churn/deploy, on main and on its
# release branch.
for dir in monorepo/ml/churn monorepo-released/ml/churn; do
  echo "-- $dir"
  vendor/tools/external-checks "$work/$dir" || status=1
done
exit $status
