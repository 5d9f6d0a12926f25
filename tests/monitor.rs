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

/// `mlops monitor collect` of the fixture's logs into `current.csv`, at the fixture's "now".
fn collect(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "monitor",
        "collect",
        "--deployment",
        DEPLOYMENT,
        "--logs",
        "logs",
        "--out",
        "current.csv",
        "--now",
        "2026-12-03T06:00:00Z",
    ];
    args.extend_from_slice(extra);
    mlops(dir, &args)
}

#[test]
fn collect_tabulates_v1_and_v2_logs_and_reports_what_it_leaves_out() {
    let dir = project();
    let (code, stdout, stderr) = collect(dir.path(), &["--predictions", "predictions.csv"]);
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

#[test]
fn the_monitor_workflow() {
    let dir = project();
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    let text =
        std::fs::read_to_string(dir.path().join(".github/workflows/mlops-monitor.yml")).unwrap();
    // The fixture names no `ci.github_action`: the workflow pins this build's action, whose
    // commit changes with every commit of mlops, shown as a placeholder once checked.
    let commit = mlops::build_info::commit().unwrap();
    assert!(text.contains(&format!("commit: \"{commit}\"\n")), "{text}");
    insta::assert_snapshot!(
        "monitor_workflow",
        text.replace(commit, "<the commit this mlops was built from>")
    );
}

/// The deploy step of a monitored deployment, as the plan job writes it, run here against a
/// stub `aws` standing for the bucket (it copies to and from a folder) and a bare remote:
/// the reference table lands beside the model, and the release records its URI and digest,
/// which is what the monitor's check reads back.
#[test]
fn a_monitored_deploy_uploads_its_reference_and_the_release_records_it() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    common::copy_dir(Path::new(FIXTURE), &work);
    let origin = root.path().join("origin.git");
    common::git(
        root.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    common::git(&work, &["init", "-q", "-b", "main"]);
    let (code, _, stderr) = mlops(&work, &["render"]);
    assert_eq!(code, 0, "{stderr}");
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "pipeline"]);
    common::git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    common::git(&work, &["push", "-q", "origin", "main"]);
    // What the training and the data step left (their artifacts, unpacked).
    for (file, text) in [
        ("models/churn.joblib", "a model"),
        ("metrics/churn.json", "{\"auc\": 0.9}"),
        (
            "data/features.csv",
            "tenure,plan,monthly_charges\n1,pro,2\n",
        ),
    ] {
        std::fs::create_dir_all(work.join(file).parent().unwrap()).unwrap();
        std::fs::write(work.join(file), text).unwrap();
    }
    let scripts = root.path().join("scripts");
    let (code, _, stderr) = mlops(
        &work,
        &[
            "affected",
            "--all",
            "--format",
            "github-output",
            "--scripts",
            scripts.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let bucket = root.path().join("bucket");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("mlops"), bin.join("mlops")).unwrap();
    // `aws s3 cp [--only-show-errors] -- FROM TO`, with s3:// mapped onto the folder.
    let stub = format!(
        "#!/bin/sh\nset -eu\nshift 2\nwhile [ \"$1\" != -- ]; do shift; done\nshift\n\
         to=$(printf '%s' \"$2\" | sed 's#^s3://#{}/#')\nmkdir -p \"$(dirname \"$to\")\"\ncp \"$1\" \"$to\"\n",
        bucket.display()
    );
    std::fs::write(bin.join("aws"), stub).unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("aws"))
        .status()
        .unwrap();
    let status = std::process::Command::new("sh")
        .arg("-e")
        .arg(scripts.join("deploy-churn-production/command.sh"))
        .current_dir(&work)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .status()
        .unwrap();
    assert!(status.success());
    let record = common::git(
        &origin,
        &[
            "show",
            "mlops/release/production:deploy/production/churn-production.release.json",
        ],
    );
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let reference_uri = record["reference"]["uri"].as_str().unwrap();
    let model_digest = record["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    assert_eq!(
        reference_uri,
        format!("s3://acme-ml/models/churn/{model_digest}/reference.csv")
    );
    let uploaded = bucket.join(reference_uri.strip_prefix("s3://").unwrap());
    let bytes = std::fs::read(&uploaded).unwrap();
    assert_eq!(bytes, b"tenure,plan,monthly_charges\n1,pro,2\n");
    // The digest as `sha256sum` computes it, independently of mlops.
    let sum = std::process::Command::new("sha256sum")
        .arg(&uploaded)
        .output()
        .unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    let digest = format!("sha256:{}", sum.split_whitespace().next().unwrap());
    assert_eq!(record["reference"]["digest"], digest.as_str());
}

/// A release whose config no longer sets alerts removes the previous release's rules: Argo CD
/// would otherwise keep alerting on thresholds nobody reviews any more.
#[test]
fn a_release_without_alerts_removes_the_rules_of_the_one_before() {
    let dir = project();
    let promote = |dir: &Path, byte: &str| {
        let digest = format!("sha256:{}", byte.repeat(64));
        let (code, _, stderr) = mlops(
            dir,
            &[
                "promote",
                DEPLOYMENT,
                "--model-uri",
                "s3://acme-ml/models/churn/x/churn.joblib",
                "--digest",
                &digest,
                "--commit",
                "0123456789abcdef0123456789abcdef01234567",
            ],
        );
        assert_eq!(code, 0, "{stderr}");
        common::git(
            dir,
            &["ls-tree", "-r", "--name-only", "mlops/release/production"],
        )
    };
    assert!(promote(dir.path(), "a").contains("churn-production.rules.yaml"));
    let config = dir.path().join("mlops.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "      alerts: { latency_p95_ms: 200, error_rate: 0.01, for: 10m }\n",
            "",
        ),
    )
    .unwrap();
    assert_eq!(
        promote(dir.path(), "b"),
        "deploy/production/churn-production.release.json\ndeploy/production/churn-production.yaml\n"
    );
}

/// Live performance: `collect --labels` joins the ground truth with the logged predictions by
/// request id and row; `judge --performance` holds the rules to them, once enough rows have
/// their ground truth (before that: not enough data, never a pass).
#[test]
fn performance_is_joined_from_the_ground_truth_and_judged_once_there_is_enough() {
    let dir = project();
    let config = dir.path().join("mlops.yaml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "      on_drift: [retrain, issue]\n",
        "      on_drift: [retrain, issue]\n      performance:\n        labels: s3://acme-ml/labels/churn/\n        rules: [{ metric: accuracy, min: 0.8 }]\n",
    );
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = collect(
        dir.path(),
        &["--labels", "labels", "--performance", "performance.json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "joined 7 labelled rows from 1 files; 1 labelled rows have no logged prediction"
        ),
        "{stderr}"
    );
    let performance = std::fs::read_to_string(dir.path().join("performance.json")).unwrap();
    // Predictions a1: 0, 1; a2: 1; b1: class 0, class 1; b2: 0; d1: 1. Labels: a2 is 0, the
    // six others agree: 6 of 7.
    let metrics: serde_json::Value = serde_json::from_str(&performance).unwrap();
    assert_eq!(metrics["count"], 7.0);
    assert_eq!(metrics["accuracy"], 6.0 / 7.0);
    let judge_with = |performance: &str| {
        mlops(
            dir.path(),
            &[
                "monitor",
                "judge",
                "--deployment",
                DEPLOYMENT,
                "--snapshot",
                "evidently/snapshot-same.json",
                "--current",
                "evidently/same.csv",
                "--performance",
                performance,
            ],
        )
    };
    let (code, stdout, _) = judge_with("performance.json");
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("✅ accuracy min: 0.8 — accuracy is 0.8571428571428571"),
        "{stdout}"
    );
    std::fs::write(
        dir.path().join("worse.json"),
        "{\"count\": 7, \"accuracy\": 0.5}",
    )
    .unwrap();
    let (code, stdout, _) = judge_with("worse.json");
    assert_eq!(code, 1, "{stdout}");
    std::fs::write(
        dir.path().join("few.json"),
        "{\"count\": 2, \"accuracy\": 1.0}",
    )
    .unwrap();
    let (code, stdout, _) = judge_with("few.json");
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("performance not judged: 2 predictions have their ground truth, 5 needed"),
        "{stdout}"
    );
    // The monitor workflow fetches the labels and passes the metrics on.
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    let workflow =
        std::fs::read_to_string(dir.path().join(".github/workflows/mlops-monitor.yml")).unwrap();
    assert!(
        workflow.contains("LABELS: \"s3://acme-ml/labels/churn/\""),
        "{workflow}"
    );
    assert!(
        workflow.contains(
            "--labels \"$RUNNER_TEMP/labels\" --performance \"$RUNNER_TEMP/performance.json\""
        ),
        "{workflow}"
    );
    assert_eq!(
        workflow
            .matches("--performance \"$RUNNER_TEMP/performance.json\"")
            .count(),
        2,
        "collect writes it, judge reads it"
    );
}
