#!/usr/bin/env bash
# The monitoring outputs under tools nobody here wrote (tests/fixtures/monitor: one KServe
# deployment whose logger stores its predictions in S3, with drift, latency and error alerts):
# - the released InferenceService (logger.storage) and PrometheusRule under the CRD schemas
#   (vendor/tools/external-checks);
# - the PrometheusRule's rules under `promtool check rules`, and `promtool test rules`: under a
#   slow, failing load the alerts (`for: 10m`) are pending, not firing, at 5 minutes and firing
#   at 15; under a healthy load they never fire;
# - the rendered Evidently configuration run by the pinned Evidently on a same-distribution pair
#   of CSV files (judged pass, exit 0) and a shifted pair (judged drift, exit 1, the drifted
#   columns named), and on the table `mlops monitor collect` makes of the fixture's logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
mlops=$PWD/${MLOPS:-target/debug/mlops}
checkers=${CHECKERS_DIR:-$PWD/.checkers}
promtool=$checkers/promtool/usr/bin/promtool
evidently=$checkers/evidently/bin/evidently
python=$checkers/venv/bin/python
for tool in "$promtool" "$evidently" "$python"; do
  [ -x "$tool" ] || { echo "monitor.sh: $tool is missing; run vendor/tools/install-checkers" >&2; exit 2; }
done
fixture=$PWD/tests/fixtures/monitor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git_() { git -c user.name=t -c user.email=t@t -c commit.gpgsign=false "$@"; }

mkdir -p "$work/project" && cp -R "$fixture/." "$work/project/"
cd "$work/project"
git_ init -q -b main && git_ add -A && git_ commit -q -m pipeline
"$mlops" render >/dev/null 2>&1
"$mlops" promote churn-production --model-uri s3://acme-ml/models/churn/abab/churn.joblib \
  --digest "sha256:$(printf 'ab%.0s' $(seq 32))" --commit 0123456789abcdef0123456789abcdef01234567 >/dev/null
mkdir -p "$work/release"
git_ archive mlops/release/production deploy | tar -x -C "$work/release"
rm "$work/release/deploy/production/"*.release.json
CHECKERS_DIR=$checkers "$OLDPWD/vendor/tools/external-checks" "$work/release"

# promtool reads a rules file (`groups:`), not the PrometheusRule object around it.
rules=$work/release/deploy/production/churn-production.rules.yaml
"$python" - "$rules" "$work/rules.yml" "$work/tests.yml" <<'PY'
import sys, yaml
rule = yaml.safe_load(open(sys.argv[1]))
assert rule["kind"] == "PrometheusRule"
yaml.safe_dump(rule["spec"], open(sys.argv[2], "w"), sort_keys=False)
alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
def firing(name):
    r = alerts[name]
    return {"exp_labels": dict(r["labels"], alertname=name), "exp_annotations": r["annotations"]}
slow_and_failing = [
    # Every prediction between 0.1 s and 0.5 s: the 95th percentile is 0.48 s, past 200 ms.
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="0.1"}', "values": "0+0x30"},
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="0.5"}', "values": "0+60x30"},
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="+Inf"}', "values": "0+60x30"},
    # One request in ten answers 5xx: past 1%.
    {"series": 'revision_request_count{service_name="churn-production-predictor",response_code_class="5xx"}', "values": "0+6x30"},
    {"series": 'revision_request_count{service_name="churn-production-predictor",response_code_class="2xx"}', "values": "0+54x30"},
]
healthy = [
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="0.1"}', "values": "0+60x30"},
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="0.5"}', "values": "0+60x30"},
    {"series": 'request_predict_seconds_bucket{model_name="churn-production",le="+Inf"}', "values": "0+60x30"},
    {"series": 'revision_request_count{service_name="churn-production-predictor",response_code_class="5xx"}', "values": "0+0x30"},
    {"series": 'revision_request_count{service_name="churn-production-predictor",response_code_class="2xx"}', "values": "0+60x30"},
]
tests = []
for series, fire in [(slow_and_failing, True), (healthy, False)]:
    cases = []
    for name in alerts:
        cases.append({"eval_time": "5m", "alertname": name, "exp_alerts": []})
        cases.append({"eval_time": "15m", "alertname": name, "exp_alerts": [firing(name)] if fire else []})
    tests.append({"interval": "1m", "input_series": series, "alert_rule_test": cases})
yaml.safe_dump({"rule_files": [sys.argv[2]], "evaluation_interval": "1m", "tests": tests},
               open(sys.argv[3], "w"), sort_keys=False)
print(f"monitor.sh: {len(alerts)} alerts, {sum(len(t['alert_rule_test']) for t in tests)} promtool cases")
PY
"$promtool" check rules "$work/rules.yml"
"$promtool" test rules "$work/tests.yml"

# The drift check as the monitor workflow runs it.
config=.mlops/monitor/churn-production.evidently.json
judge() { # judge CURRENT: Evidently's report, then mlops's verdict; prints the exit code
  "$evidently" report "$config" "$1" "$work/snapshot.json" --reference-path evidently/reference.csv >"$work/evidently.log" 2>&1 ||
    { cat "$work/evidently.log" >&2; echo "monitor.sh: evidently failed on $1" >&2; exit 1; }
  status=0
  "$mlops" monitor judge --deployment churn-production --snapshot "$work/snapshot.json" \
    --current "$1" --verdict-file "$work/verdict" >"$work/judge.txt" || status=$?
  cat "$work/judge.txt" >&2
  echo "$status"
}
[ "$(judge evidently/same.csv)" = 0 ] && grep -qx pass "$work/verdict" ||
  { echo "monitor.sh: the same-distribution pair was not judged a pass" >&2; exit 1; }
[ "$(judge evidently/shifted.csv)" = 1 ] && grep -qx drift "$work/verdict" &&
  grep -q 'drift over 300 rows in `tenure`, `plan`' "$work/judge.txt" ||
  { echo "monitor.sh: the shifted pair was not judged a drift of tenure and plan" >&2; exit 1; }
# The table collect makes of the logger's records is one Evidently reads.
"$mlops" monitor collect --deployment churn-production --logs logs --out "$work/current.csv" \
  --now 2026-12-03T06:00:00Z 2>/dev/null
status=$(judge "$work/current.csv")
[ "$status" = 0 ] || [ "$status" = 1 ] ||
  { echo "monitor.sh: the collected table was not judged (exit $status)" >&2; exit 1; }
echo "monitor.sh: ok"
