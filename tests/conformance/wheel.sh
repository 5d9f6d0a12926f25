#!/usr/bin/env bash
# The PyPI distribution (pyproject.toml, maturin, `bindings = "bin"`), as a user without Rust
# gets it: the wheel for this machine is built with maturin, installed into a fresh virtual
# environment whose PATH has no cargo, and `mlops --version`, `mlops validate` and
# `mlops render --dry-run` run from it on the bundled example; then a real pre-commit run uses
# the installed wheel through a `language: python` hook (the pattern the README documents, with
# the local wheel standing in for the pinned PyPI release).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools=${CHECKERS_DIR:-$root/.checkers}
MATURIN_VERSION=1.16.0
maturin_venv="$tools/maturin-venv"
if [ "$("$maturin_venv/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ]; then
  python3 -m venv --clear "$maturin_venv"
  "$maturin_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "maturin==$MATURIN_VERSION"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# The dev profile and the default target folder: the test suite has built every dependency.
echo "wheel.sh: building the wheel with maturin $MATURIN_VERSION"
(cd "$root" && "$maturin_venv/bin/maturin" build --quiet --out "$work/dist" 2>&1 | tail -n 3)
wheel=$(ls "$work"/dist/mlops_yaml-*.whl)
echo "wheel.sh: built $(basename "$wheel") ($(($(wc -c <"$wheel") / 1024 / 1024)) MiB, dev profile)"

python3 -m venv "$work/venv"
clean_path="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
if PATH=$clean_path command -v cargo >/dev/null; then
  echo "wheel.sh: cargo is on $clean_path; cannot show that the wheel needs no Rust" >&2
  exit 1
fi
# Offline, from the file alone: the wheel has no dependencies.
PATH=$clean_path "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index "$wheel"
run() { (cd "$work" && env -u CARGO_HOME -u RUSTUP_HOME PATH="$clean_path" "$@"); }

if version=$(run mlops --version) && [[ $version == mlops\ * ]]; then
  ok "the installed wheel runs: $version"
else
  fail "mlops --version from the wheel: ${version:-nothing}"
fi
cp -R "$root/examples/churn" "$work/churn"
if run mlops validate churn/mlops.yaml >"$work/validate.txt" 2>&1; then
  ok "mlops validate on the example, from the wheel"
else
  cat "$work/validate.txt"; fail "mlops validate on the example, from the wheel"
fi
if run mlops render churn/mlops.yaml --dry-run >"$work/render.txt" 2>&1 && grep -q "mlops.yml" "$work/render.txt"; then
  ok "mlops render --dry-run on the example, from the wheel ($(grep -c . "$work/render.txt") lines)"
else
  cat "$work/render.txt"; fail "mlops render --dry-run on the example, from the wheel"
fi

# pre-commit, with the hook as the README shows it for people without Rust.
pre_commit_venv="$tools/pre-commit-venv"
if ! "$pre_commit_venv/bin/pre-commit" --version >/dev/null 2>&1; then
  python3 -m venv --clear "$pre_commit_venv"
  "$pre_commit_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "pre-commit==4.7.0"
fi
project="$work/project"
mkdir "$project"
cd "$project"
git init -q .
git config user.email ci@example.invalid
git config user.name ci
cat >.pre-commit-config.yaml <<YAML
repos:
  - repo: local
    hooks:
      - id: mlops-validate
        name: mlops validate
        language: python
        additional_dependencies: ["$wheel"]
        entry: mlops validate --color always
        files: (^|/)mlops\.ya?ml$
        exclude: (^|/)\.github/
YAML
cp "$root/examples/churn/mlops.yaml" mlops.yaml
git add -A
export PRE_COMMIT_HOME="$work/pre-commit-home"
if PATH=$clean_path "$pre_commit_venv/bin/pre-commit" run --files mlops.yaml >out.txt 2>&1; then
  ok "pre-commit (language: python, the wheel) passes a valid mlops.yaml without cargo on PATH"
else
  cat out.txt; fail "pre-commit with the wheel on a valid mlops.yaml"
fi
printf 'version: 1\nproject: demo\nenvironments:\n  production:\n    requires_aproval: true\n' >mlops.yaml
git add mlops.yaml
if PATH=$clean_path "$pre_commit_venv/bin/pre-commit" run --files mlops.yaml >out.txt 2>&1; then
  cat out.txt; fail "pre-commit with the wheel passed an invalid mlops.yaml"
elif grep -q "requires_approval" out.txt && grep -q "mlops.yaml:5:5" out.txt; then
  ok "pre-commit with the wheel fails an invalid mlops.yaml, with the diagnostic at mlops.yaml:5:5"
else
  cat out.txt; fail "pre-commit with the wheel failed without the diagnostic"
fi
echo "wheel.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
