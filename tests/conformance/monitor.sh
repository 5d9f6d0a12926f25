#!/usr/bin/env bash
# The monitoring outputs under tools nobody here wrote (tests/fixtures/monitor: one KServe
# deployment whose logger stores its predictions in S3, with drift, latency and error alerts):
# - the released InferenceService (logger.storage) and PrometheusRule under the CRD schemas,
#   and the monitor workflow under actionlint, zizmor and SchemaStore (vendor/tools/external-checks);
# - the PrometheusRule's rules under `promtool check rules`, and `promtool test rules`: under a
#   slow, failing load the alerts (`for: 10m`) are pending, not firing, at 5 minutes and firing
#   at 15; under a healthy load they never fire;
# - the rendered Evidently configuration run by the pinned Evidently on a same-distribution pair
#   of CSV files (judged pass, exit 0) and a shifted pair (judged drift, exit 1, the drifted
#   columns named), and on the table `mlops monitor collect` makes of the fixture's logs;
# - the monitor workflow's jobs run step by step (tests/conformance/run_job.py) against stubs
#   for S3 and GitHub: the check fetches the release's reference sample (digest checked) and
#   the logs, collects, measures and judges a drift; the retrain job dispatches the main
#   workflow for the training; the issue job opens the drift issue.
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
git_ add -A && git_ commit -q -m rendered
# The bucket (the stub `aws` below reads and writes this folder): the reference sample the
# release records, and the logger's records of the fixture, dated as if logged lately.
bucket=$work/bucket
mkdir -p "$bucket/acme-ml/models/churn/abab" "$bucket/acme-ml/ml/churn-production/predictor"
cp evidently/reference.csv "$bucket/acme-ml/models/churn/abab/reference.csv"
cp -R logs/ml/churn-production/predictor/inference-logs "$bucket/acme-ml/ml/churn-production/predictor/"
"$python" - "$bucket/acme-ml/ml/churn-production/predictor/inference-logs" <<'PY'
import datetime, json, pathlib, sys
# Keep each record's age relative to 2026-12-03T06:00Z, the fixture's "now".
shift = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime(2026, 12, 3, 6, tzinfo=datetime.timezone.utc)
def move(record):
    if isinstance(record, dict) and "occurrenceTime" in record:
        at = datetime.datetime.fromisoformat(record["occurrenceTime"].replace("Z", "+00:00"))
        record["occurrenceTime"] = (at + shift).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return record
for path in pathlib.Path(sys.argv[1]).glob("*.json"):
    try:
        data = json.loads(path.read_text())
    except ValueError:
        continue  # the fixture's malformed record stays malformed
    data = [move(r) for r in data] if isinstance(data, list) else move(data)
    path.write_text(json.dumps(data))
PY
"$mlops" promote churn-production --model-uri s3://acme-ml/models/churn/abab/churn.joblib \
  --digest "sha256:$(printf 'ab%.0s' $(seq 32))" --commit 0123456789abcdef0123456789abcdef01234567 \
  --reference-uri s3://acme-ml/models/churn/abab/reference.csv \
  --reference-digest "sha256:$(sha256sum evidently/reference.csv | cut -d' ' -f1)" >/dev/null
mkdir -p "$work/release"
git_ archive mlops/release/production deploy | tar -x -C "$work/release"
rm "$work/release/deploy/production/"*.release.json
cp -R .github "$work/release/"
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
# The monitor workflow's jobs, run here as a runner would (tests/conformance/run_job.py), with
# stubs for what lives outside: `aws` maps s3:// onto the bucket folder, `gh` records what it
# was asked, and a local server answers as GitHub's issues API.
stubs=$work/stubs
mkdir -p "$stubs"
cat >"$stubs/aws" <<STUB
#!/bin/sh
set -eu
verb=\$2; shift 2
while [ "\$1" != -- ]; do shift; done; shift
from=\$(printf '%s' "\$1" | sed 's#^s3://#$bucket/#'); to=\$2
case "\$verb" in
  cp) mkdir -p "\$(dirname "\$to")"; cp "\$from" "\$to" ;;
  sync) mkdir -p "\$to"; cp -R "\$from/." "\$to/" ;;
  *) echo "aws stub: \$verb" >&2; exit 2 ;;
esac
STUB
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$work/gh.log" >"$stubs/gh"
chmod +x "$stubs/aws" "$stubs/gh"
workflow=.github/workflows/mlops-monitor.yml
artifact=$work/artifact
run_job() {
  PATH="$stubs:$(dirname "$mlops"):$checkers/evidently/bin:$PATH" GITHUB_REPOSITORY=acme/churn-monitor \
    RUNNER_TEMP=$(mktemp -d) ARTIFACT=$artifact \
    "$python" "$OLDPWD/tests/conformance/run_job.py" "$workflow" "$@"
}
pins=$(sed -n 's/^EVIDENTLY="\(.*\)"$/\1/p' "$OLDPWD/vendor/tools/install-checkers")
grep -q "pip install --quiet --disable-pip-version-check 'evidently==0.7.23' 'pandas==2.3.3'" "$workflow" &&
  [ "$pins" = "evidently==0.7.23 pandas==2.3.3" ] ||
  { echo "monitor.sh: the workflow's Evidently pins are not the ones installed here ($pins)" >&2; exit 1; }
outputs=$(run_job check-churn-production \
  --uses actions/checkout='if [ -n "${WITH_REF:-}" ]; then mkdir -p "$WITH_PATH"; git archive "$WITH_REF" | tar -x -C "$WITH_PATH"; fi' \
  --skip mlops-dev/mlops \
  --instead 'Install the pinned Evidently=command -v evidently' \
  --uses actions/upload-artifact='mkdir -p "$ARTIFACT"; for f in $WITH_PATH; do if [ -f "$f" ]; then cp "$f" "$ARTIFACT/"; fi; done')
echo "monitor.sh: check job outputs $outputs"
[ "$outputs" = '{"verdict": "drift"}' ] || { echo "monitor.sh: the check job did not judge the logs a drift" >&2; exit 1; }
grep -q 'drift over 8 rows' "$artifact/judgement.txt" || { cat "$artifact/judgement.txt" >&2; exit 1; }
run_job retrain-churn-production --set needs.check-churn-production.outputs.verdict=drift >/dev/null
[ "$(cat "$work/gh.log")" = "workflow run mlops.yml --repo acme/churn-monitor --ref main -f retrain=churn" ] ||
  { echo "monitor.sh: the retrain job dispatched $(cat "$work/gh.log")" >&2; exit 1; }
# GitHub's issues API, as much as the issue job uses: no issue yet, so it opens one.
"$python" - "$work/github.port" "$work/github.log" <<'PY' &
import http.server, json, sys
class GitHub(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        with open(sys.argv[2], "a") as log:
            log.write(f"GET {self.path}\n")
        if self.path == "/user":
            self.answer(403, {"message": "Resource not accessible by integration"})
        else:
            self.answer(200, [])
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        with open(sys.argv[2], "a") as log:
            log.write(f"POST {self.path} {body}\n")
        self.answer(201, {"number": 1, "state": "open", "body": json.loads(body)["body"], "user": {"login": "github-actions[bot]"}})
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), GitHub)
server.timeout = 120
open(sys.argv[1], "w").write(str(server.server_address[1]))
for _ in range(3):
    server.handle_request()
PY
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/github.port" ] && break; sleep 0.1; done
GITHUB_API_URL=http://127.0.0.1:$(cat "$work/github.port") run_job issue-churn-production \
  --set needs.check-churn-production.outputs.verdict=drift \
  --uses actions/download-artifact='mkdir -p "$WITH_PATH"; cp "$ARTIFACT"/* "$WITH_PATH"/' \
  --skip mlops-dev/mlops >/dev/null
wait "$server" || true
grep -q '^POST /repos/acme/churn-monitor/issues .*mlops-monitor key=.*drift over 8 rows' "$work/github.log" ||
  { cat "$work/github.log" >&2; echo "monitor.sh: the issue job opened no drift issue" >&2; exit 1; }
# With live performance: the workflow also fetches the ground truth and passes the metrics on.
mkdir -p "$work/performance/project"
cp -R "$fixture/." "$work/performance/project/"
(
  cd "$work/performance/project"
  sed -i 's/^      on_drift: \[retrain, issue\]$/      on_drift: [retrain, issue]\n      performance:\n        labels: s3:\/\/acme-ml\/labels\/churn\/\n        rules: [{ metric: accuracy, min: 0.8 }]/' mlops.yaml
  grep -q 'metric: accuracy' mlops.yaml
  git_ init -q -b main
  "$mlops" render >/dev/null 2>&1
  grep -q -- '--labels "$RUNNER_TEMP/labels"' .github/workflows/mlops-monitor.yml
  mkdir -p "$work/performance/judge" && cp -R .github "$work/performance/judge/"
)
CHECKERS_DIR=$checkers "$OLDPWD/vendor/tools/external-checks" "$work/performance/judge"
echo "monitor.sh: ok"
