#!/usr/bin/env bash
# The generated GitLab pipeline, judged and run by tools nobody here wrote.
#
# 1. check-jsonschema's vendored GitLab schema (GitLab's own ci.json) accepts every rendered
#    file: the example, the hostile config, a config in a folder, the runnable fixture, and
#    100 models.
# 2. gitlab-ci-local 4.73.0 (vendor/tools/install-checkers) runs the runnable fixture
#    (tests/fixtures/gitlab: examples/local's Python scripts, one model shipped to staging and to
#    approval-gated production) in a throwaway git repository whose `origin` is a bare
#    repository, with the shell executor: the real mlops on PATH, a stub `aws`.
#    - a push to main: check, data, train, gate and the staging deploy pass, and the release
#      is pushed to origin's mlops/release/staging; the gated production deploy does not start;
#    - `--manual` starts it: mlops/release/production is pushed;
#    - a merge request: the report runs (no token: it says so), no deploy job exists;
#    - metrics that break the gate: the gate fails, the pipeline fails, no deploy runs;
#    - a schedule with MLOPS_SCHEDULE: the refreshed data and everything after it;
#    - a push that touches no input: only the check.
#    gitlab-ci-local ignores `compare_to` and `workflow:rules` `when: never`: tests/gitlab_ci.rs
#    checks those over the rendered file.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mlops=$root/${MLOPS:-target/debug/mlops}
checkers=$root/.checkers
gcl=$checkers/npm/node_modules/.bin/gitlab-ci-local
schema=(--builtin-schema vendor.gitlab-ci --data-transform gitlab-ci --regex-variant nonunicode)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "gitlab.sh: $*" >&2; exit 1; }
judge() { "$checkers/venv/bin/check-jsonschema" --color never "${schema[@]}" "$1" >/dev/null ||
  { "$checkers/venv/bin/check-jsonschema" --color never "${schema[@]}" "$1"; fail "schema refused $1"; }; }

echo "gitlab.sh: GitLab's schema on every rendered file"
mkdir -p "$work/example" && cp -R examples/churn/. "$work/example/"
sed -i 's/targets: \[github-actions\]/targets: [github-actions, gitlab-ci]/' "$work/example/mlops.yaml"
"$mlops" render "$work/example/mlops.yaml" 2>/dev/null
judge "$work/example/.gitlab-ci.yml"
mkdir -p "$work/hostile"
sed 's/^ci:$/ci:\n  targets: [github-actions, gitlab-ci]/' tests/fixtures/render/hostile.yaml >"$work/hostile/mlops.yaml"
"$mlops" render "$work/hostile/mlops.yaml" 2>/dev/null
judge "$work/hostile/.gitlab-ci.yml"
mkdir -p "$work/folder/ml/churn" && git -C "$work/folder" init -q
cp tests/fixtures/gitlab/mlops.yaml "$work/folder/ml/churn/"
"$mlops" render "$work/folder/ml/churn/mlops.yaml" 2>/dev/null
judge "$work/folder/.gitlab/mlops/ml-churn.yml"
mkdir -p "$work/many"
{
  printf 'version: 1\nproject: big\nci:\n  targets: [gitlab-ci]\ngitops:\n  repo_url: https://gitlab.example.com/acme/big.git\n'
  printf 'environments:\n  staging: {}\ndata:\n  shared:\n    run: python prep.py\n    outputs: [data/shared.csv]\ntraining:\n'
  for i in $(seq 0 99); do
    printf '  model-%s:\n    needs: [shared]\n    run: python train.py %s\n    inputs: [src/model_%s/**]\n    metrics: metrics/%s.json\n' "$i" "$i" "$i" "$i"
    printf '    model: { path: models/%s.joblib, format: sklearn, registry: s3://acme/models/%s }\n' "$i" "$i"
  done
  printf 'gates:\n'
  for i in $(seq 0 99); do printf '  quality-%s:\n    training: model-%s\n    rules: [{ metric: auc, min: 0.8 }]\n' "$i" "$i"; done
  printf 'deployments:\n'
  for i in $(seq 0 99); do
    printf '  model-%s-staging:\n    model: model-%s\n    environment: staging\n    after: [quality-%s]\n    target: { kind: kserve }\n' "$i" "$i" "$i"
  done
} >"$work/many/mlops.yaml"
"$mlops" render "$work/many/mlops.yaml" 2>/dev/null
judge "$work/many/.gitlab-ci.yml"

# The runnable fixture as a user's repository: origin/main holds an empty first commit, so
# every file of the pipeline commit is a change; gitlab-ci-local reads the project's name from
# the `gcl-origin` remote and diffs `rules:changes` against origin/main.
bin=$work/bin
mkdir -p "$bin"
ln -s "$mlops" "$bin/mlops"
printf '#!/bin/sh\necho "aws stub: $*" >&2\n' >"$bin/aws" && chmod +x "$bin/aws"
export PATH="$bin:$PATH"
# The scenarios set CI_PIPELINE_SOURCE themselves, on purpose.
export GCL_IGNORE_PREDEFINED_VARS=CI_PIPELINE_SOURCE
g() { git -c user.name=ci -c user.email=ci@example.com -c commit.gpgsign=false "$@"; }
fixture() { # fixture NAME: a fresh repository with the rendered fixture committed on main
  local dir=$work/$1
  mkdir -p "$dir/metrics"
  cp -R examples/local/steps examples/local/raw examples/local/params.yaml "$dir/"
  cp tests/fixtures/gitlab/mlops.yaml "$dir/"
  touch "$dir/metrics/.gitkeep"
  git init -q --bare "$dir.git"
  g -C "$dir" init -q -b main
  g -C "$dir" commit -q --allow-empty -m start
  g -C "$dir" remote add origin "$dir.git"
  g -C "$dir" remote add gcl-origin https://gitlab.example.com/acme/gitlab-demo.git
  g -C "$dir" push -q origin main
  g -C "$dir" fetch -q origin
  g -C "$dir" remote set-head origin main
  "$mlops" render "$dir/mlops.yaml" 2>/dev/null
  judge "$dir/.gitlab-ci.yml"
  g -C "$dir" add -A
  g -C "$dir" commit -q -m pipeline
  echo "$dir"
}
pipeline() { # pipeline DIR LOG ARGS...: run it; its exit code
  local dir=$1 log=$2
  shift 2
  local rc=0
  (cd "$dir" && timeout 600 "$gcl" --force-shell-executor --shell-isolation \
    --no-artifacts-to-source --concurrency 1 --no-color "$@") >"$log" 2>&1 || rc=$?
  return $rc
}
# An artifact a job left; gitlab-ci-local names the folder after the job, `:` spelt `Og`.
artifact() { ls -d "$1"/.gitlab-ci-local/artifacts/*"$2"/"$3" 2>/dev/null | head -1; }
passed() { grep -Eq "^ *PASS +$2 *$" "$1" || { cat "$1" >&2; fail "$2 did not pass ($1)"; }; }
absent() { ! grep -Eq "^$2 +starting" "$1" || { cat "$1" >&2; fail "$2 ran ($1)"; }; }

echo "gitlab.sh: a push to main under gitlab-ci-local"
dir=$(fixture push)
pipeline "$dir" "$work/push.log" || { cat "$work/push.log" >&2; fail "the push pipeline failed"; }
for job in check data-prepare train-mean-model gate-mean-quality deploy-mean-staging; do
  passed "$work/push.log" "mlops:$job"
done
absent "$work/push.log" "mlops:deploy-mean-production"
g -C "$dir.git" rev-parse -q --verify refs/heads/mlops/release/staging >/dev/null ||
  fail "the staging deploy pushed no release branch"
! g -C "$dir.git" rev-parse -q --verify refs/heads/mlops/release/production >/dev/null ||
  fail "production was released without its manual job"
grep -q 'aws stub: s3 cp --only-show-errors -- metrics/mean.json s3://demo-models/mean/' "$work/push.log" ||
  fail "the model was not uploaded content-addressed"
junit=$(artifact "$dir" gate-mean-quality .mlops-ci/gate-mean-quality.xml)
[ -n "$junit" ] || fail "the gate left no JUnit report"
python3 - "$junit" <<'ENDPY'
import sys, xml.etree.ElementTree as ET
suites = ET.parse(sys.argv[1]).getroot()
cases = suites.findall(".//testcase")
assert cases and not suites.findall(".//failure"), ET.tostring(suites)
ENDPY

echo "gitlab.sh: --manual starts the approval-gated deploy"
pipeline "$dir" "$work/manual.log" --manual mlops:deploy-mean-production ||
  { cat "$work/manual.log" >&2; fail "the manual deploy failed"; }
passed "$work/manual.log" "mlops:deploy-mean-production"
g -C "$dir.git" log -1 --format=%s refs/heads/mlops/release/production | grep -q '^promote mean-production to production' ||
  fail "the production release is not on its branch"
# The manual job on the protected environment was the approval: no promotion branch waits.
[ -z "$(g -C "$dir.git" for-each-ref refs/heads/mlops/promote/)" ] ||
  fail "an approved GitLab deploy still pushed a promotion branch"

echo "gitlab.sh: a merge request"
base=$(g -C "$dir" rev-parse origin/main)
pipeline "$dir" "$work/mr.log" --variable CI_PIPELINE_SOURCE=merge_request_event \
  --variable "CI_MERGE_REQUEST_DIFF_BASE_SHA=$base" ||
  { cat "$work/mr.log" >&2; fail "the merge request pipeline failed"; }
for job in check data-prepare train-mean-model gate-mean-quality report; do
  passed "$work/mr.log" "mlops:$job"
done
absent "$work/mr.log" "mlops:deploy-mean-staging"
grep -q "MLOPS_GITLAB_TOKEN is not set" "$work/mr.log" || fail "the report job did not say why no note"
report=$(artifact "$dir" report .mlops-ci/report.md)
grep -q "mean-quality" "${report:-/dev/null}" ||
  fail "the report artifact does not name the gate"

echo "gitlab.sh: metrics that break the gate"
dir=$(fixture failing)
sed -i 's/margin: 0.5/margin: 3.0/' "$dir/params.yaml" # the threshold rises past most rows
"$mlops" render "$dir/mlops.yaml" 2>/dev/null
g -C "$dir" commit -q -am "a margin that breaks the model"
if pipeline "$dir" "$work/failing.log"; then
  cat "$work/failing.log" >&2
  fail "the pipeline passed with a failing gate"
fi
passed "$work/failing.log" "mlops:train-mean-model"
grep -Eq "^ *FAIL +mlops:gate-mean-quality" "$work/failing.log" || { cat "$work/failing.log" >&2; fail "the gate did not fail"; }
grep -Eq "accuracy min: 0.6 — accuracy is 0\.[0-5]" "$work/failing.log" ||
  { cat "$work/failing.log" >&2; fail "the gate failed for another reason than the metric"; }
absent "$work/failing.log" "mlops:deploy-mean-staging"
! g -C "$dir.git" rev-parse -q --verify refs/heads/mlops/release/staging >/dev/null ||
  fail "a model that failed its gate was released"

echo "gitlab.sh: which jobs exist per event (--list-json, --validate-dependency-chain)"
listed() { # listed DIR ARGS...: the names of the jobs that would run, sorted, one line
  (cd "$1" && shift && "$gcl" --list-json "$@" 2>/dev/null) |
    python3 -c 'import json,sys; print(" ".join(sorted(j["name"] for j in json.load(sys.stdin) if j["when"] != "never")))'
}
dir=$work/push
[ "$(listed "$dir" --variable CI_PIPELINE_SOURCE=schedule --variable 'MLOPS_SCHEDULE=0 4 * * *')" = \
  "mlops:check mlops:data-prepare mlops:deploy-mean-production mlops:deploy-mean-staging mlops:gate-mean-quality mlops:train-mean-model" ] ||
  fail "a schedule does not run the refreshed data and what follows"
[ "$(listed "$dir" --variable CI_PIPELINE_SOURCE=schedule --variable 'MLOPS_SCHEDULE=0 5 * * *')" = "mlops:check" ] ||
  fail "another schedule runs this pipeline's jobs"
for source in push merge_request_event schedule web; do
  (cd "$dir" && "$gcl" --validate-dependency-chain --variable "CI_PIPELINE_SOURCE=$source" \
    --variable 'MLOPS_SCHEDULE=0 4 * * *' >/dev/null 2>&1) || fail "a broken dependency chain on $source"
done
dir=$(fixture untouched)
g -C "$dir" push -q origin main
echo "notes" >"$dir/NOTES.md"
g -C "$dir" add -A
g -C "$dir" commit -q -m "notes"
[ "$(listed "$dir")" = "mlops:check" ] || fail "a change to no input started more than the check: $(listed "$dir")"
echo "gitlab.sh: ok"
