//! `mlops run` in throwaway git repositories with small real Python scripts: what runs, what
//! is up to date and why, failures, selection, secrets, parallel jobs and Ctrl-C.

use std::path::Path;

use assert_cmd::Command;

mod common;

const CONFIG: &str = "\
version: 1
project: local
data:
  prepare:
    run: python3 steps/prepare.py
    inputs: [steps/prepare.py, raw/**]
    outputs: [data/clean.csv]
training:
  model:
    needs: [prepare]
    run: python3 steps/train.py model
    inputs: [steps/train.py]
    metrics: metrics/model.json
    model: { path: models/model.txt, format: custom, registry: s3://bucket/model }
    secrets: [MODEL_TOKEN]
  other:
    run: python3 steps/train.py other
    inputs: [steps/train.py, other/**]
    metrics: metrics/other.json
gates:
  model-quality:
    training: model
    rules: [{ metric: auc, min: 0.8 }]
";

/// Appends its node to `runs.log`; fails when `FAIL` names it; leaves its output out when
/// `SKIP_OUTPUT` names it.
const PREPARE: &str = r#"import os, sys
open("runs.log", "a").write("prepare\n")
print("preparing")
if os.environ.get("FAIL") == "prepare":
    print("prepare: the raw data is broken", file=sys.stderr)
    sys.exit(3)
if os.environ.get("SKIP_OUTPUT") != "prepare":
    os.makedirs("data", exist_ok=True)
    open("data/env.txt", "w").write(os.environ["MLOPS_NODE"] + " " + os.environ["MLOPS_ROOT"])
    rows = sorted(os.listdir("raw"))
    open("data/clean.csv", "w").write("".join(open(os.path.join("raw", r)).read() for r in rows))
"#;

const TRAIN: &str = r#"import json, os, sys
name = sys.argv[1]
open("runs.log", "a").write(name + "\n")
if os.environ.get("FAIL") == name:
    sys.exit(4)
data = open("data/clean.csv").read() if os.path.exists("data/clean.csv") else ""
os.makedirs("metrics", exist_ok=True)
json.dump({"auc": float(os.environ.get("AUC", "0.9"))}, open(f"metrics/{name}.json", "w"))
if name == "model":
    os.makedirs("models", exist_ok=True)
    open("models/model.txt", "w").write(data)
"#;

fn write(dir: &Path, path: &str, contents: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A committed repository holding `config` and the scripts.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "mlops.yaml", config);
    write(root, "steps/prepare.py", PREPARE);
    write(root, "steps/train.py", TRAIN);
    write(root, "raw/a.csv", "1,2\n");
    write(root, "other/notes.txt", "other\n");
    write(root, ".gitignore", "runs.log\ndata/\nmodels/\nmetrics/\n");
    common::git(root, &["init", "-q", "-b", "main"]);
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-q", "-m", "base"]);
    dir
}

/// `mlops run ARGS` with `MODEL_TOKEN` set and the extra environment: (exit, stdout, stderr).
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::cargo_bin("mlops").unwrap();
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("MODEL_TOKEN", "s3cr3t-value")
        .env_remove("FAIL")
        .env_remove("SKIP_OUTPUT")
        .env_remove("AUC")
        .arg("run")
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The nodes that ran, in order, and the log emptied.
fn ran(dir: &Path) -> Vec<String> {
    let log = dir.join("runs.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines().map(str::to_owned).collect()
}

/// The progress line of `node` (`data prepare`, `training model`) that starts with `mark`.
fn line<'s>(stderr: &'s str, mark: &str, node: &str) -> &'s str {
    let prefix = format!("{mark} {node}");
    stderr
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{stderr}"))
}

#[test]
fn a_first_run_runs_everything_and_a_second_nothing() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["prepare", "model", "other"]);
    assert!(line(&stderr, "▶", "data prepare").contains("(never run)"));
    assert!(line(&stderr, "✓", "training model").ends_with('s'));
    assert!(
        stderr.contains("3 ran, 0 up to date, 0 failed, 0 skipped in "),
        "{stderr}"
    );
    // The gate of what it trained is judged, against HEAD (which has no metrics).
    assert!(stdout.contains("model-quality"), "{stdout}");
    assert!(stdout.contains("auc is 0.9"), "{stdout}");
    assert!(
        root.join(".mlops/logs/data.prepare.log").exists()
            && std::fs::read_to_string(root.join(".mlops/logs/data.prepare.log"))
                .unwrap()
                .contains("preparing")
    );
    // Records and logs are git-ignored, the editor's schema that `mlops init` puts in
    // `.mlops/` is not; the lock is never written by a run.
    assert_eq!(common::git(root, &["status", "--porcelain"]), "");
    write(root, ".mlops/mlops.schema.json", "{}");
    assert_eq!(
        common::git(root, &["status", "--porcelain"]),
        "?? .mlops/\n",
        "the schema is visible to git"
    );
    assert_eq!(
        common::git(root, &["status", "--porcelain", "--untracked-files=all"]),
        "?? .mlops/mlops.schema.json\n"
    );
    std::fs::remove_file(root.join(".mlops/mlops.schema.json")).unwrap();
    assert!(!root.join("mlops.lock").exists());

    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(ran(root).is_empty(), "{stderr}");
    assert!(stderr.contains("0 ran, 3 up to date, 0 failed, 0 skipped"));
    line(&stderr, "=", "training other");
    // The gate passed and reads the same: not judged again.
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("= 1 gate passed when last judged here, and nothing it read has changed"),
        "{stderr}"
    );
}

#[test]
fn a_gate_is_judged_again_when_what_it_reads_changes_and_every_time_it_fails() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, _, stderr) = run(root, &[], &[("AUC", "0.5")]);
    assert_eq!(code, 1, "{stderr}");
    // Up to date, and failing still: judged, exit 1 again.
    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("auc is 0.5"), "{stdout}");
    // Its rules change (no node's fingerprint does): judged with the new rule.
    let relaxed = CONFIG.replace("min: 0.8", "min: 0.4");
    write(root, "mlops.yaml", &relaxed);
    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("requires at least 0.4"), "{stdout}");
    let (code, stdout, _) = run(root, &[], &[]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    // The baseline moves (a new commit): judged against it.
    common::git(root, &["add", "-A"]);
    common::git(root, &["commit", "-q", "-m", "relax"]);
    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("model-quality"), "{stdout}");
}

#[test]
fn the_nodes_output_is_shown_as_it_comes_and_kept_in_their_logs() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, _, stderr) = run(root, &["prepare"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // Between its start and end lines.
    let start = stderr.find("▶ data prepare").unwrap();
    let end = stderr.find("✓ data prepare").unwrap();
    assert!(stderr[start..end].contains("\npreparing\n"), "{stderr}");
    // --quiet: the log only.
    let (code, _, stderr) = run(root, &["prepare", "-f", "-q"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("preparing"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(root.join(".mlops/logs/data.prepare.log")).unwrap(),
        "preparing\n"
    );
    // In GitHub Actions, each node's output in a collapsed group.
    let (code, _, stderr) = run(root, &["prepare", "-f"], &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("::group::data prepare output\npreparing\n::endgroup::\n✓ data prepare"),
        "{stderr}"
    );
    // The node knows which it is and where the config's folder is.
    let env = std::fs::read_to_string(root.join("data/env.txt")).unwrap();
    let (node, folder) = env.split_once(' ').unwrap();
    assert_eq!(node, "prepare");
    assert_eq!(
        Path::new(folder).canonicalize().unwrap(),
        root.canonicalize().unwrap()
    );
}

#[test]
fn the_lock_on_disk_is_left_as_it_is() {
    let dir = project(CONFIG);
    let root = dir.path();
    Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(root)
        .arg("render")
        .assert()
        .success();
    let before = std::fs::read(root.join("mlops.lock")).unwrap();
    write(root, "raw/b.csv", "3,4\n");
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(root.join("mlops.lock")).unwrap(), before);
}

#[test]
fn touching_an_input_reruns_its_node_and_what_depends_on_it_only() {
    let dir = project(CONFIG);
    let root = dir.path();
    assert_eq!(run(root, &[], &[]).0, 0);
    ran(root);
    write(root, "raw/a.csv", "1,2\n5,6\n");
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["prepare", "model"]);
    assert!(
        line(&stderr, "▶", "data prepare").contains("inputs changed (modified raw/a.csv)"),
        "{stderr}"
    );
    let model = line(&stderr, "▶", "training model");
    assert!(model.contains("upstream `prepare` changed"), "{model}");
    assert!(
        model.contains("upstream output data/clean.csv changed"),
        "{model}"
    );
    line(&stderr, "=", "training other");

    // A changed script re-runs both trainings that read it, and says which file.
    write(root, "steps/train.py", &format!("{TRAIN}\n# tuned\n"));
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["model", "other"]);
    assert!(
        line(&stderr, "▶", "training other").contains("modified steps/train.py"),
        "{stderr}"
    );
}

#[test]
fn a_deleted_output_reruns_its_producer_and_no_more_when_it_comes_back_the_same() {
    let dir = project(CONFIG);
    let root = dir.path();
    assert_eq!(run(root, &[], &[]).0, 0);
    ran(root);
    std::fs::remove_file(root.join("data/clean.csv")).unwrap();
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        line(&stderr, "▶", "data prepare").contains("output data/clean.csv deleted"),
        "{stderr}"
    );
    // Same bytes again: the training that reads them is up to date.
    assert_eq!(ran(root), ["prepare"]);
    line(&stderr, "=", "training model");

    // An edited output re-runs its producer too.
    write(root, "models/model.txt", "tampered");
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["model"]);
    assert!(
        line(&stderr, "▶", "training model").contains("output models/model.txt changed"),
        "{stderr}"
    );
}

#[test]
fn a_failure_stops_its_dependants_and_keep_going_runs_the_rest() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, _, stderr) = run(root, &[], &[("FAIL", "prepare")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(ran(root), ["prepare"]);
    assert!(
        line(&stderr, "✗", "data prepare").contains("exit status 3"),
        "{stderr}"
    );
    // The end of the log, and where it is.
    assert!(stderr.contains("last lines of "), "{stderr}");
    assert!(
        stderr.contains("last lines of .mlops/logs/data.prepare.log:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("| prepare: the raw data is broken"),
        "{stderr}"
    );
    assert!(
        line(&stderr, "-", "training model").contains("upstream `prepare` failed"),
        "{stderr}"
    );
    assert!(
        line(&stderr, "-", "training other").contains("stopped at the first failure"),
        "{stderr}"
    );
    assert!(stderr.contains("0 ran, 0 up to date, 1 failed, 2 skipped"));
    assert!(!root.join(".mlops/runs/data.prepare.json").exists());
    // The gate of a training that did not run is not judged, and says so.
    assert!(stderr.contains("gate model-quality not judged"), "{stderr}");

    let (code, _, stderr) = run(root, &["-k"], &[("FAIL", "prepare")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(ran(root), ["prepare", "other"]);
    assert!(stderr.contains("1 ran, 0 up to date, 1 failed, 1 skipped"));

    // Fixed: what failed runs, what ran is up to date.
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["prepare", "model"]);
}

#[test]
fn a_failed_node_runs_again_even_when_nothing_changed() {
    let dir = project(CONFIG);
    let root = dir.path();
    assert_eq!(run(root, &[], &[]).0, 0);
    ran(root);
    // Forced and failing: its old record must not make it look up to date afterwards.
    assert_eq!(run(root, &["other", "-f"], &[("FAIL", "other")]).0, 1);
    ran(root);
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["other"]);
    assert!(line(&stderr, "▶", "training other").contains("never run"));
}

/// A script past what one argument may hold (150 KB: Linux refuses one over 128 KiB, as
/// E2BIG) runs from a file beside its log, and its exit status still counts.
#[test]
fn a_script_too_long_for_one_argument_runs_from_a_file() {
    let filler: String = (0..1500)
        .map(|at| format!("      # {at:04} {}\n", "x".repeat(94)))
        .collect();
    let config = format!(
        "version: 1\nproject: long\ntraining:\n  other:\n    run: |\n      python3 steps/train.py other\n{filler}      test -f metrics/other.json\n    inputs: [steps/train.py]\n    metrics: metrics/other.json\n"
    );
    assert!(config.len() > 150_000);
    let dir = project(&config);
    let root = dir.path();
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ran(root), ["other"]);
    let script = std::fs::read_to_string(root.join(".mlops/logs/training.other.sh")).unwrap();
    assert!(
        script.starts_with("python3 steps/train.py other\n# 0000 "),
        "{}",
        &script[..80]
    );
    // Its exit status counts: a failing command fails the node.
    let (code, _, stderr) = run(root, &["--force"], &[("FAIL", "other")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        line(&stderr, "✗", "training other").contains("exit status 4"),
        "{stderr}"
    );
}

#[test]
fn an_exit_0_that_leaves_an_output_missing_is_a_failure() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, _, stderr) = run(root, &[], &[("SKIP_OUTPUT", "prepare")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        line(&stderr, "✗", "data prepare")
            .contains("exited 0 but left its declared output data/clean.csv missing"),
        "{stderr}"
    );
    assert!(!root.join(".mlops/runs/data.prepare.json").exists());
}

#[test]
fn a_failing_gate_fails_the_run() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, stdout, stderr) = run(root, &["model"], &[("AUC", "0.5")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("auc is 0.5"), "{stdout}");
    assert!(stderr.contains("2 ran, 0 up to date, 0 failed, 0 skipped"));
}

#[test]
fn a_dry_run_prints_the_commands_and_runs_nothing() {
    let dir = project(CONFIG);
    let root = dir.path();
    let (code, stdout, stderr) = run(root, &["-n"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(ran(root).is_empty());
    assert!(!root.join(".mlops").exists());
    assert!(stdout.contains("▶ data prepare (never run)\n    $ python3 steps/prepare.py\n"));
    assert!(
        stdout.contains("    $ python3 steps/train.py other\n"),
        "{stdout}"
    );
    assert!(stdout.contains("3 would run, 0 up to date (dry run: nothing ran)"));

    assert_eq!(run(root, &[], &[]).0, 0);
    ran(root);
    write(root, "raw/a.csv", "9,9\n");
    let (code, stdout, _) = run(root, &["--dry-run"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("▶ training model (upstream `prepare` changed)"),
        "{stdout}"
    );
    assert!(stdout.contains("= training other up to date"), "{stdout}");
    assert!(ran(root).is_empty());
}

#[test]
fn a_missing_secret_stops_the_run_before_anything_runs() {
    let dir = project(CONFIG);
    let root = dir.path();
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(root)
        .env_remove("MODEL_TOKEN")
        .arg("run")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("MODEL_TOKEN (declared by training model)"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing ran"), "{stderr}");
    assert!(ran(root).is_empty());
    // What does not need it runs without it.
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(root)
        .env_remove("MODEL_TOKEN")
        .args(["run", "other"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(ran(root), ["other"]);
}

#[test]
fn names_select_what_runs() {
    let dir = project(CONFIG);
    let root = dir.path();
    // A training and what it needs; a gate stands for its training.
    assert_eq!(run(root, &["model-quality"], &[]).0, 0);
    assert_eq!(ran(root), ["prepare", "model"]);
    // --force re-runs what is up to date.
    let (code, _, stderr) = run(root, &["model", "-f"], &[]);
    assert_eq!(code, 0);
    assert_eq!(ran(root), ["prepare", "model"]);
    assert!(line(&stderr, "▶", "training model").contains("forced"));
    // --single: the named node only.
    assert_eq!(run(root, &["-s", "-f", "training.model"], &[]).0, 0);
    assert_eq!(ran(root), ["model"]);
    // --downstream: the node and what depends on it, not its siblings.
    assert_eq!(run(root, &["--downstream", "-f", "prepare"], &[]).0, 0);
    assert_eq!(ran(root), ["prepare", "model"]);
    // Unknown names and nodes that never run here are errors, before anything runs.
    let (code, _, stderr) = run(root, &["modle"], &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no data step or training named `modle`; did you mean `model`?"),
        "{stderr}"
    );
    let (code, _, stderr) = run(root, &["data.model"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(ran(root).is_empty());
    // clap refuses a selection flag without names, and -j 0.
    assert_eq!(run(root, &["-s"], &[]).0, 2);
    assert_eq!(run(root, &["-j", "0"], &[]).0, 2);
}

const PAIR: &str = "\
version: 1
project: pair
training:
  left:
    run: python3 steps/pair.py left right
    inputs: [steps/pair.py]
  right:
    run: python3 steps/pair.py right left
    inputs: [steps/pair.py]
";

/// Writes `<me>.started`, then waits for `<other>.started` (`WAIT` seconds): both succeed
/// only when they run at the same time.
const PAIR_SCRIPT: &str = r#"import os, sys, time
me, other = sys.argv[1], sys.argv[2]
open(me + ".started", "w").close()
deadline = time.time() + float(os.environ.get("WAIT", "20"))
while not os.path.exists(other + ".started"):
    if time.time() > deadline:
        sys.exit(f"{me}: {other} never started")
    time.sleep(0.05)
print(f"{me}: saw {other}", flush=True)
"#;

#[test]
fn jobs_run_independent_nodes_at_the_same_time_and_one_job_never_does() {
    let dir = project(PAIR);
    let root = dir.path();
    write(root, "steps/pair.py", PAIR_SCRIPT);
    let (code, _, stderr) = run(root, &["-j", "1", "-k"], &[("WAIT", "1")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("left: right never started"), "{stderr}");
    for file in ["left.started", "right.started"] {
        let _ = std::fs::remove_file(root.join(file));
    }
    let (code, _, stderr) = run(root, &["-j", "2", "--force"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 ran, 0 up to date"), "{stderr}");
    // Lines of jobs run at once say whose they are.
    assert!(stderr.contains("\n[left] left: saw right\n"), "{stderr}");
    assert!(stderr.contains("\n[right] right: saw left\n"), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_stops_the_running_node_and_everything_it_started_and_records_nothing() {
    const SLOW: &str = "\
version: 1
project: slow
training:
  slow:
    run: python3 steps/slow.py
    inputs: [steps/slow.py]
";
    // Starts a grandchild that would outlive a plain kill of the shell, then waits.
    const SCRIPT: &str = r#"import subprocess, time
child = subprocess.Popen(["sleep", "60"])
open("grandchild.pid", "w").write(str(child.pid))
time.sleep(60)
"#;
    let dir = project(SLOW);
    let root = dir.path();
    write(root, "steps/slow.py", SCRIPT);
    let mut mlops = std::process::Command::new(assert_cmd::cargo::cargo_bin("mlops"))
        .current_dir(root)
        .arg("run")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = root.join("grandchild.pid");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&pid_file).map_or(true, |text| text.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let grandchild = std::fs::read_to_string(&pid_file).unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &mlops.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while mlops.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "mlops run did not stop"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        mlops.wait_with_output().unwrap()
    };
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("training slow interrupted after"),
        "{stderr}"
    );
    assert!(stderr.contains("(interrupted)"), "{stderr}");
    assert!(!root.join(".mlops/runs/training.slow.json").exists());
    // The grandchild went with its group: gone, or a zombie nobody has reaped yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{}/status", grandchild.trim()));
        let running = status.is_ok_and(|status| {
            status
                .lines()
                .find(|line| line.starts_with("State:"))
                .is_some_and(|state| !state.contains("zombie"))
        });
        if !running {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node's grandchild is still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn the_bundled_local_example_runs_and_a_params_key_reruns_only_its_model() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/local"),
        dir.path(),
    );
    let root = dir.path();
    let (code, stdout, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("3 ran, 0 up to date, 0 failed, 0 skipped"),
        "{stderr}"
    );
    assert!(stderr.contains("prepare: 400 rows"), "{stderr}");
    assert!(stdout.contains("✅ mean-quality"), "{stdout}");
    assert!(stdout.contains("✅ median-quality"), "{stdout}");
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("0 ran, 3 up to date"), "{stderr}");
    // Both models read params.yaml, each its own key: a change to one key re-runs one model.
    let params = std::fs::read_to_string(root.join("params.yaml")).unwrap();
    std::fs::write(
        root.join("params.yaml"),
        params.replacen("margin: 0.5", "margin: 0.7", 1),
    )
    .unwrap();
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        line(&stderr, "▶", "training mean-model").contains("params changed"),
        "{stderr}"
    );
    line(&stderr, "=", "training median-model");
    assert!(stderr.contains("1 ran, 2 up to date"), "{stderr}");
}

#[test]
fn an_invalid_config_runs_nothing_and_says_why() {
    let dir = project(&CONFIG.replace("needs: [prepare]", "needs: [prepar]"));
    let root = dir.path();
    let (code, _, stderr) = run(root, &[], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("did you mean `prepare`?"), "{stderr}");
    assert!(
        stderr.contains("is not valid; fix it before running it"),
        "{stderr}"
    );
    assert!(ran(root).is_empty());
    assert!(!root.join(".mlops").exists());
}

#[test]
fn an_up_to_date_node_needs_none_of_its_secrets() {
    let dir = project(CONFIG);
    let root = dir.path();
    assert_eq!(run(root, &[], &[]).0, 0);
    ran(root);
    write(root, "other/notes.txt", "changed\n");
    // `model` declares MODEL_TOKEN, is up to date and so is what it needs: not asked for.
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(root)
        .env_remove("MODEL_TOKEN")
        .arg("run")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(ran(root), ["other"]);
    // Once what it needs changes, it may run: the secret is asked for before anything runs.
    write(root, "raw/a.csv", "7,8\n");
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(root)
        .env_remove("MODEL_TOKEN")
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(ran(root).is_empty());
}
