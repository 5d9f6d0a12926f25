#!/usr/bin/env bash
# The pre-commit hook, run by the real pre-commit (PyPI) against a throwaway repository:
# a good mlops.yaml passes, a bad one fails with the diagnostic shown, and a real `git commit`
# of a rendered project (whose workflow is also called mlops.yml) passes the hook.
# The throwaway repository's .pre-commit-config.yaml points at a clone of this checkout's HEAD,
# so pre-commit builds the hook exactly as a user's would (`cargo install`, language: rust),
# once, and both cases reuse that build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${CHECKERS_DIR:-$root/.checkers}
venv="$tools/pre-commit-venv"
if ! "$venv/bin/pre-commit" --version >/dev/null 2>&1; then
  python3 -m venv --clear "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "pre-commit==4.7.0"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PRE_COMMIT_HOME="$tools/pre-commit-cache"
git clone --quiet "$root" "$work/hook-repo"
rev=$(git -C "$work/hook-repo" rev-parse HEAD)
mkdir "$work/project"
cd "$work/project"
git init -q .
git config user.email ci@example.invalid
git config user.name ci
cat >.pre-commit-config.yaml <<YAML
repos:
  - repo: $work/hook-repo
    rev: $rev
    hooks:
      - id: mlops-validate
YAML
passed=0
failed=0

cp "$root/examples/churn/mlops.yaml" mlops.yaml
git add .pre-commit-config.yaml mlops.yaml
echo "pre-commit: building the hook at $rev with cargo install (first run takes a few minutes)"
if "$venv/bin/pre-commit" run --files mlops.yaml >out.txt 2>&1; then
  echo "ok   a valid mlops.yaml passes the hook"; passed=$((passed + 1))
else
  cat out.txt; echo "FAIL a valid mlops.yaml fails the hook"; failed=$((failed + 1))
fi

printf 'version: 1\nproject: demo\nenvironments:\n  production:\n    requires_aproval: true\n' >mlops.yaml
git add mlops.yaml
if "$venv/bin/pre-commit" run --files mlops.yaml >out.txt 2>&1; then
  cat out.txt; echo "FAIL an invalid mlops.yaml passes the hook"; failed=$((failed + 1))
elif grep -q "unknown field" out.txt && grep -q "requires_approval" out.txt && grep -q "mlops.yaml:5:5" out.txt; then
  echo "ok   an invalid mlops.yaml fails the hook, with the diagnostic at mlops.yaml:5:5"; passed=$((passed + 1))
else
  cat out.txt; echo "FAIL the hook failed without showing the diagnostic"; failed=$((failed + 1))
fi
# A project as a user commits it: the config and everything `mlops render` wrote, through the
# installed git hook. The generated .github/workflows/mlops.yml must not be taken for a config.
mlops=${MLOPS:-$root/target/debug/mlops}
cp "$root/examples/churn/mlops.yaml" mlops.yaml
"$mlops" render >/dev/null 2>&1
"$venv/bin/pre-commit" install >/dev/null
git add -A
if git commit -q -m "rendered project" >out.txt 2>&1; then
  echo "ok   a commit of a rendered project (config + .github/workflows/mlops.yml) passes the hook"
  passed=$((passed + 1))
else
  cat out.txt; echo "FAIL a commit of a rendered project fails the hook"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
