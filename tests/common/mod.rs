//! Helpers shared by the integration tests that work in throwaway project folders.

use std::path::Path;

/// Copy the folder `from` (recursively) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the folder `from` in a fresh temporary folder.
#[allow(dead_code)] // not every test file that uses `common` needs it
pub fn project(from: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new(from), dir.path());
    dir
}

/// Run git in `dir` as a throwaway identity (no signing), asserting success; its stdout.
#[allow(dead_code)] // not every test file that uses `common` needs it
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A node's step id, as the workflow names its artifacts (`train-churn`).
#[allow(dead_code)]
pub fn step_id(kind: &str, name: &str) -> String {
    let prefix = match kind {
        "training" => "train",
        "deployment" => "deploy",
        other => other,
    };
    format!("{prefix}-{name}")
}

/// The steps the workflow's plan job starts, from `mlops affected --format github-output`
/// (per stage job, the JSON list of the names of its steps that run), as step ids.
#[allow(dead_code)]
pub fn started_steps(github_output: &str) -> Vec<String> {
    let mut steps = Vec::new();
    for line in github_output.lines() {
        let (stage, names) = line.split_once('=').expect("`stage=[...]` lines");
        let prefix = stage.split('-').next().unwrap();
        let names: Vec<String> = serde_json::from_str(names).expect("a JSON list of names");
        steps.extend(names.into_iter().map(|name| format!("{prefix}-{name}")));
    }
    steps
}

/// `models` trainings reading one shared data step, each with a gate and a staging deployment
/// (the shape of a monorepo). `ci` is the body of the `ci:` section, `shared` more lines of the
/// shared data step (such as a `refresh`).
#[allow(dead_code)]
pub fn many_models(models: usize, ci: &str, shared: &str) -> String {
    let mut config = format!(
        "version: 1\nproject: big\nci:\n{ci}gitops:\n  repo_url: https://github.com/acme/big.git\nenvironments:\n  staging: {{}}\ndata:\n  shared:\n    run: python prep.py\n    outputs: [data/shared.csv]\n{shared}training:\n"
    );
    for i in 0..models {
        config.push_str(&format!(
            "  model-{i}:\n    needs: [shared]\n    run: python train.py {i}\n    inputs: [src/model_{i}/**]\n    metrics: metrics/{i}.json\n    model: {{ path: models/{i}.joblib, format: sklearn, registry: s3://acme/models/{i} }}\n"
        ));
    }
    config.push_str("gates:\n");
    for i in 0..models {
        config.push_str(&format!(
            "  quality-{i}:\n    training: model-{i}\n    rules: [{{ metric: auc, min: 0.8 }}]\n"
        ));
    }
    config.push_str("deployments:\n");
    for i in 0..models {
        config.push_str(&format!(
            "  model-{i}-staging:\n    model: model-{i}\n    environment: staging\n    after: [quality-{i}]\n    target: {{ kind: kserve, replicas: {{ min: 1, max: 2 }} }}\n"
        ));
    }
    config
}
