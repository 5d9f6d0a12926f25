//! Monitoring: what `render` and a release emit for a monitored deployment (golden files, read
//! by hand before accepting), `mlops monitor collect` on logs shaped as KServe's logger writes
//! them, and `mlops monitor judge` on Evidently snapshots (trimmed copies of what the pinned
//! Evidently wrote for the CSV pairs beside them; `tests/conformance/monitor.sh` runs Evidently
//! itself).

use std::path::Path;

use assert_cmd::Command;

mod common;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/monitor");
const DEPLOYMENT: &str = "churn-production";

fn mlops(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The fixture as a git repository of its own.
fn project() -> tempfile::TempDir {
    let dir = common::project(FIXTURE);
    common::git(dir.path(), &["init", "-q", "-b", "main"]);
    common::git(dir.path(), &["add", "-A"]);
    common::git(dir.path(), &["commit", "-q", "-m", "the pipeline"]);
    dir
}

#[test]
fn a_monitored_release_carries_its_logger_and_alert_rules_and_render_writes_the_drift_config() {
    let dir = project();
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    let config = std::fs::read_to_string(
        dir.path()
            .join(".mlops/monitor/churn-production.evidently.json"),
    )
    .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(parsed["metrics"][0]["columns"][1], "plan");
    insta::assert_snapshot!("evidently_config", config);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            DEPLOYMENT,
            "--model-uri",
            "s3://acme-ml/models/churn/abab/churn.joblib",
            "--digest",
            &digest,
            "--commit",
            "0123456789abcdef0123456789abcdef01234567",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let branch = "mlops/release/production";
    let files = common::git(dir.path(), &["ls-tree", "-r", "--name-only", branch]);
    assert_eq!(
        files,
        "deploy/production/churn-production.release.json\n\
         deploy/production/churn-production.rules.yaml\n\
         deploy/production/churn-production.yaml\n"
    );
    let show = |file: &str| common::git(dir.path(), &["show", &format!("{branch}:{file}")]);
    let service = show("deploy/production/churn-production.yaml");
    assert!(service.contains("serving.kserve.io/enable-prometheus-scraping: \"true\""));
    insta::assert_snapshot!("monitored_inference_service", service);
    insta::assert_snapshot!(
        "prometheus_rule",
        show("deploy/production/churn-production.rules.yaml")
    );
    // The next render leaves everything as it is: `check` agrees.
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn collect_tabulates_v1_and_v2_logs_and_reports_what_it_leaves_out() {
    let dir = project();
    let (code, stdout, stderr) = mlops(
        dir.path(),
        &[
            "monitor",
            "collect",
            "--deployment",
            DEPLOYMENT,
            "--logs",
            "logs",
            "--out",
            "current.csv",
            "--predictions",
            "predictions.csv",
            "--now",
            "2026-12-03T06:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    let read = |file: &str| std::fs::read_to_string(dir.path().join(file)).unwrap();
    insta::assert_snapshot!(
        "collect",
        format!(
            "--- current.csv\n{}--- predictions.csv\n{}--- stderr\n{stderr}",
            read("current.csv"),
            read("predictions.csv")
        )
    );
}

#[test]
fn collect_refuses_an_unknown_deployment_and_a_bad_time() {
    let dir = project();
    let base = [
        "monitor",
        "collect",
        "--logs",
        "logs",
        "--out",
        "current.csv",
    ];
    let mut args = base.to_vec();
    args.extend(["--deployment", "churn-prod"]);
    let (code, _, stderr) = mlops(dir.path(), &args);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no deployment named `churn-prod`; did you mean `churn-production`?"),
        "{stderr}"
    );
    let mut args = base.to_vec();
    args.extend(["--deployment", DEPLOYMENT, "--now", "yesterday"]);
    let (code, _, stderr) = mlops(dir.path(), &args);
    assert_eq!(code, 2);
    assert!(stderr.contains("is not an RFC 3339 time"), "{stderr}");
    let mut args = base.to_vec();
    args.extend(["--deployment", DEPLOYMENT]);
    args[3] = "missing";
    let (code, _, stderr) = mlops(dir.path(), &args);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read the folder `missing`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("current.csv").exists(),
        "nothing written on an error"
    );
}

fn judge(dir: &Path, snapshot: &str, current: &str) -> (i32, String, String) {
    let verdict = dir.join("verdict");
    mlops(
        dir,
        &[
            "monitor",
            "judge",
            "--deployment",
            DEPLOYMENT,
            "--snapshot",
            snapshot,
            "--current",
            current,
            "--verdict-file",
            verdict.to_str().unwrap(),
        ],
    )
}

fn verdict(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("verdict")).unwrap()
}

#[test]
fn judge_passes_the_same_distribution_and_names_the_drifted_features() {
    let dir = project();
    let (code, stdout, stderr) = judge(
        dir.path(),
        "evidently/snapshot-same.json",
        "evidently/same.csv",
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(verdict(dir.path()), "pass\n");
    assert!(
        stdout.starts_with("✅ churn-production: no drift over 300 rows\n"),
        "{stdout}"
    );
    let (code, stdout, _) = judge(
        dir.path(),
        "evidently/snapshot-shifted.json",
        "evidently/shifted.csv",
    );
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(verdict(dir.path()), "drift\n");
    insta::assert_snapshot!("judge_shifted", stdout);
}

#[test]
fn judge_says_not_enough_data_under_min_rows() {
    let dir = project();
    std::fs::write(
        dir.path().join("few.csv"),
        "tenure,plan,monthly_charges\n1,pro,2\n",
    )
    .unwrap();
    let (code, stdout, _) = judge(dir.path(), "evidently/snapshot-shifted.json", "few.csv");
    assert_eq!(code, 3, "{stdout}");
    assert_eq!(verdict(dir.path()), "not-enough-data\n");
    assert_eq!(
        stdout,
        "⏸ churn-production: not enough data: 1 rows in the window, 5 needed for a verdict (neither a pass nor a drift)\n"
    );
}

/// Nothing passes without its numbers: a snapshot that lacks a feature's score, or that was
/// measured with another threshold, fails.
#[test]
fn judge_fails_a_snapshot_without_the_numbers_it_needs() {
    let dir = project();
    let text = std::fs::read_to_string(dir.path().join("evidently/snapshot-same.json")).unwrap();
    let mut snapshot: serde_json::Value = serde_json::from_str(&text).unwrap();
    let results = snapshot["metric_results"].as_object_mut().unwrap();
    let tenure = results
        .iter()
        .find(|(_, result)| {
            result["metric_value_location"]["metric"]["params"]["column"] == "tenure"
        })
        .map(|(key, _)| key.clone())
        .unwrap();
    let mut other_threshold = results[&tenure].clone();
    results.remove(&tenure);
    std::fs::write(dir.path().join("no-tenure.json"), snapshot.to_string()).unwrap();
    let (code, stdout, _) = judge(dir.path(), "no-tenure.json", "evidently/same.csv");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("drift.tenure is missing in the new metrics; the monitoring of churn-production cannot pass without it"),
        "{stdout}"
    );
    other_threshold["metric_value_location"]["metric"]["params"]["threshold"] = 0.5.into();
    snapshot["metric_results"]
        .as_object_mut()
        .unwrap()
        .insert(tenure, other_threshold);
    std::fs::write(dir.path().join("other.json"), snapshot.to_string()).unwrap();
    let (code, stdout, _) = judge(dir.path(), "other.json", "evidently/same.csv");
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("`tenure` was measured with psi at 0.5, the config says psi at 0.2"),
        "{stdout}"
    );
    std::fs::write(dir.path().join("broken.json"), "{").unwrap();
    let (code, _, stderr) = judge(dir.path(), "broken.json", "evidently/same.csv");
    assert_eq!(code, 2);
    assert!(stderr.contains("the snapshot is not JSON"), "{stderr}");
}

/// The monitor's answer to drift: `affected --retrain` runs the training, the data it needs
/// and what follows it (its gate and deploy, so the retrained model ships only through them).
#[test]
fn affected_retrain_runs_the_training_its_producer_and_what_follows() {
    let dir = project();
    let (code, stdout, stderr) = mlops(dir.path(), &["affected", "--retrain", "churn"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "data set features (needed by `churn`)\n\
         training churn (retraining requested)\n\
         gate churn-quality (downstream of `churn`)\n\
         deployment churn-production (downstream of `churn`)\n"
    );
    let (code, _, stderr) = mlops(dir.path(), &["affected", "--retrain", "chrn"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no training named `chrn`; did you mean `churn`?"),
        "{stderr}"
    );
}
