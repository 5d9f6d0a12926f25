//! `mlops report` Markdown for each situation a reviewer meets, as golden files (read by hand
//! before accepting), built in throwaway git repositories: the base commit holds the old
//! metrics, the working tree the new ones.

use std::path::Path;

use assert_cmd::Command;

mod common;
use common::git;

const CONFIG: &str = "\
version: 1
project: report
training:
  churn:
    run: python train.py
    params: params.yaml
    metrics: metrics/churn.json
  ranker:
    run: python rank.py
    metrics: metrics/ranker.json
gates:
  churn-quality:
    training: churn
    rules:
      - { metric: auc, min: 0.8 }
      - { metric: auc, max_drop: 0.01 }
      - { metric: latency_ms, max_rise_pct: 10 }
";

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A repository whose base commit has `base` metrics for churn (and `ranker_base` for ranker,
/// when given); then the working tree gets `head` and `ranker_head`. Returns the Markdown.
fn report(
    base: &str,
    head: &str,
    ranker_base: Option<&str>,
    ranker_head: &str,
    params_head: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mlops.yaml", CONFIG);
    write(dir.path(), "params.yaml", "lr: 0.1\ndepth: 6\n");
    write(dir.path(), "metrics/churn.json", base);
    if let Some(ranker) = ranker_base {
        write(dir.path(), "metrics/ranker.json", ranker);
    }
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    write(dir.path(), "metrics/churn.json", head);
    write(dir.path(), "metrics/ranker.json", ranker_head);
    write(dir.path(), "params.yaml", params_head);
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["report", "--base", "HEAD"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const BASE: &str = r#"{"auc": 0.842, "latency_ms": 90}"#;
const RANKER: &str = r#"{"ndcg": 0.61}"#;
const PARAMS: &str = "lr: 0.1\ndepth: 6\n";

#[test]
fn no_change() {
    insta::assert_snapshot!(report(BASE, BASE, Some(RANKER), RANKER, PARAMS));
}

#[test]
fn improvement() {
    insta::assert_snapshot!(report(
        BASE,
        r#"{"auc": 0.851, "latency_ms": 88}"#,
        Some(RANKER),
        RANKER,
        PARAMS
    ));
}

#[test]
fn regression_within_the_gate() {
    insta::assert_snapshot!(report(
        BASE,
        r#"{"auc": 0.835, "latency_ms": 95}"#,
        Some(RANKER),
        r#"{"ndcg": 0.58}"#,
        PARAMS
    ));
}

#[test]
fn failed_gate_with_changed_params() {
    insta::assert_snapshot!(report(
        BASE,
        r#"{"auc": 0.830, "latency_ms": 120}"#,
        Some(RANKER),
        RANKER,
        "lr: 0.05\ndepth: 8\nseed: 1\n"
    ));
}

#[test]
fn new_and_removed_metrics() {
    insta::assert_snapshot!(report(
        r#"{"auc": 0.842, "latency_ms": 90, "recall": 0.7}"#,
        r#"{"auc": 0.842, "latency_ms": 90, "precision": 0.66}"#,
        Some(RANKER),
        RANKER,
        PARAMS
    ));
}

#[test]
fn new_model() {
    insta::assert_snapshot!(report(BASE, BASE, None, RANKER, PARAMS));
}

#[test]
fn json_matches_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mlops.yaml", CONFIG);
    write(dir.path(), "params.yaml", PARAMS);
    write(dir.path(), "metrics/churn.json", BASE);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    write(
        dir.path(),
        "metrics/churn.json",
        r#"{"auc": 0.830, "latency_ms": 90}"#,
    );
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir.path())
        .args(["report", "--base", "HEAD", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["gates_passed"], false);
    let auc = &json["models"][0]["metrics"][0];
    assert_eq!(auc["metric"], "auc");
    assert_eq!(auc["base"], 0.842);
    assert_eq!(auc["head"], 0.830);
    assert_eq!(auc["diff"], -0.012, "not -0.01200000000000001");
    assert_eq!(auc["diff_pct"], -1.43);
    assert_eq!(auc["gate"]["passed"], false);
    assert_eq!(json["models"][1]["training"], "ranker");
    assert_eq!(json["models"][1]["metrics"], serde_json::json!([]));
    assert_eq!(json["verdict"], "❌ 1 of 1 gates failed: churn-quality");
}

#[test]
fn generated_files_the_change_alters_are_shown_as_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{CONFIG}ci:\n  github_action: OWNER/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090\ndefaults:\n  timeout_minutes: 60\n"
    );
    write(dir.path(), "mlops.yaml", &config);
    write(dir.path(), "params.yaml", PARAMS);
    write(dir.path(), "metrics/churn.json", BASE);
    let mlops = |args: &[&str]| {
        let output = Command::cargo_bin("mlops")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    mlops(&["render"]);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    write(
        dir.path(),
        "mlops.yaml",
        &config.replace("timeout_minutes: 60", "timeout_minutes: 90"),
    );
    mlops(&["render"]);
    let markdown = mlops(&["report", "--base", "HEAD"]);
    assert!(
        markdown.contains("<details><summary>Generated files this change alters (1)</summary>"),
        "{markdown}"
    );
    assert!(
        markdown.contains("-    timeout-minutes: 60\n+    timeout-minutes: 90\n"),
        "{markdown}"
    );
}

/// `mlops report --format json` in a repository whose `metrics` file is `path` (any format),
/// `base` committed and `head` in the working tree; the rows of the one model, by metric.
fn json_rows(path: &str, base: &str, head: &str) -> serde_json::Map<String, serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "version: 1\nproject: exact\ntraining:\n  churn:\n    run: python train.py\n    metrics: {path}\n"
    );
    write(dir.path(), "mlops.yaml", &config);
    write(dir.path(), path, base);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    write(dir.path(), path, head);
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir.path())
        .args(["report", "--base", "HEAD", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let model = &json["models"][0];
    assert_eq!(model["problem"], serde_json::Value::Null, "{stdout}");
    model["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["metric"].as_str().unwrap().to_owned(), row.clone()))
        .collect()
}

/// The JSON text of one field of one row (numbers as written, not through f64).
fn raw(row: &serde_json::Value, field: &str) -> String {
    row[field].to_string()
}

#[test]
fn differences_are_exact_decimals_in_the_json() {
    // Regression: 1e-20 -> 3e-20 gave a diff of 0.0; 2^53 + 1 -> 2^53 + 4 "rose 4"; a
    // 24-digit count printed as 1.2345678901234569e+23 with a diff of 0.0.
    let rows = json_rows(
        "metrics.json",
        r#"{"eps": 1e-20, "steps": 9007199254740993, "count": 123456789012345678901234}"#,
        r#"{"eps": 3e-20, "steps": 9007199254740996, "count": 123456789012345678901235}"#,
    );
    // serde_json (in this test) reads numbers as f64, so compare the texts it was given.
    let text = |name: &str, field: &str| {
        let row = &rows[name];
        serde_json::to_string(&row[field]).unwrap_or_else(|_| raw(row, field))
    };
    assert_eq!(text("eps", "diff"), "2e-20");
    assert_eq!(text("steps", "diff"), "3");
    assert_eq!(text("count", "diff"), "1");
    assert_eq!(text("eps", "diff_pct"), "200");
}

#[test]
fn aliases_merge_keys_integer_keys_and_nulls_in_yaml() {
    // Regression: `b: *x` read as `*x` with a diff of 0; merged and integer-keyed metrics
    // absent; null reported as the string "null".
    let rows = json_rows(
        "metrics.yaml",
        "a: &x 0.8\nb: *x\nbase: &m {auc: 0.9}\nfold: {<<: *m, 2: 0.6}\ngone: 0.5\n",
        "a: &x 0.85\nb: *x\nbase: &m {auc: 0.95}\nfold: {<<: *m, 2: 0.65}\ngone: null\n",
    );
    assert_eq!(rows["b"]["base"], 0.8);
    assert_eq!(rows["b"]["head"], 0.85);
    assert_eq!(raw(&rows["b"], "diff"), "0.05");
    assert_eq!(raw(&rows["fold.auc"], "diff"), "0.05");
    assert_eq!(raw(&rows["fold.2"], "diff"), "0.05");
    assert_eq!(
        rows["gone"]["head"],
        serde_json::Value::Null,
        "null is missing"
    );
    assert_eq!(rows["gone"]["diff"], serde_json::Value::Null);
}

#[test]
fn toml_metrics_files_are_read() {
    let rows = json_rows(
        "metrics.toml",
        "auc = 0.842\n[eval]\nloss = 0.3\n",
        "auc = 0.830\n[eval]\nloss = 0.25\n",
    );
    assert_eq!(raw(&rows["auc"], "diff"), "-0.012");
    assert_eq!(raw(&rows["eval.loss"], "diff"), "-0.05");
}

#[test]
fn a_metric_name_two_paths_flatten_onto_is_a_problem_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "mlops.yaml",
        "version: 1\nproject: exact\ntraining:\n  churn:\n    run: python train.py\n    metrics: metrics.json\n",
    );
    write(dir.path(), "metrics.json", r#"{"a.b": 1, "a": {"b": 2}}"#);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir.path())
        .args(["report", "--base", "HEAD", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let problem = json["models"][0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("`a.b`") && problem.contains("`a` > `b`"),
        "{problem}"
    );
}
