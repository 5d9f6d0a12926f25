#!/usr/bin/env bash
# The committed JSON Schema is real, judged by a tool nobody here wrote: check-jsonschema (from
# vendor/tools/install-checkers) must accept the bundled example and reject an unknown field,
# and the SARIF that `mlops validate --format sarif` prints must match the SARIF 2.1.0 schema.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkers=${CHECKERS_DIR:-.checkers}
check_jsonschema="$checkers/venv/bin/check-jsonschema"
mlops=${MLOPS:-target/debug/mlops}
passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
flunk() { echo "FAIL $1"; failed=$((failed + 1)); }

for file in examples/churn/mlops.yaml templates/init.yaml; do
  if "$check_jsonschema" --schemafile schemas/mlops.schema.json "$file" >/tmp/cj.out 2>&1; then
    pass "check-jsonschema accepts $file"
  else
    cat /tmp/cj.out; flunk "check-jsonschema rejects $file"
  fi
done

if "$check_jsonschema" --schemafile schemas/mlops.schema.json tests/conformance/unknown-field.yaml >/tmp/cj.out 2>&1; then
  flunk "check-jsonschema accepted a file with an unknown field"
elif grep -q "requires_aproval" /tmp/cj.out; then
  pass "check-jsonschema rejects the unknown field requires_aproval"
else
  cat /tmp/cj.out; flunk "check-jsonschema failed for another reason"
fi

sarif=$(mktemp --suffix=.json)
"$mlops" validate --format sarif tests/fixtures/bad/many-problems.yaml >"$sarif" || true
if "$check_jsonschema" --schemafile vendor/external-schemas/sarif-2.1.0.json "$sarif" >/tmp/cj.out 2>&1; then
  pass "SARIF output matches sarif-2.1.0.json"
else
  cat /tmp/cj.out; flunk "SARIF output does not match sarif-2.1.0.json"
fi
rm -f "$sarif"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
