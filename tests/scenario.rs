//! The delivery loop in a real git repository with a bare remote, as a team lives it: two
//! models, two environments (production behind an approval). Each step is what the generated
//! workflow runs (`mlops affected`, `mlops render`, `mlops check`, `mlops promote`,
//! `mlops rollback`) followed by the git a person or a deploy job does (branch, merge, pull
//! --rebase, push). What is not here yet: the workflow's own upload and push steps are shell in
//! the workflow (this test runs the same git commands), and GitHub itself.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;

const CONFIG: &str = "\
version: 1
project: two-models
ci:
  branch: main
environments:
  staging: {}
  production:
    requires_approval: true
training:
  alpha:
    run: python alpha/train.py
    inputs: [alpha/**]
    metrics: metrics/alpha.json
    model: { path: models/alpha.joblib, format: sklearn, registry: s3://acme/models/alpha }
  beta:
    run: python beta/train.py
    inputs: [beta/**]
    metrics: metrics/beta.json
    model: { path: models/beta.joblib, format: sklearn, registry: s3://acme/models/beta }
gates:
  alpha-quality:
    training: alpha
    rules: [{ metric: auc, min: 0.8 }]
  beta-quality:
    training: beta
    rules: [{ metric: auc, min: 0.8 }]
approvals:
  prod-ok:
    environment: production
    reviewers: [\"@acme/ml-leads\"]
deployments:
  alpha-staging:
    model: alpha
    environment: staging
    after: [alpha-quality]
    target: { kind: kserve, replicas: { min: 1, max: 2 } }
  alpha-production:
    model: alpha
    environment: production
    after: [alpha-staging, prod-ok]
    target: { kind: kserve, replicas: { min: 2, max: 4 } }
  beta-staging:
    model: beta
    environment: staging
    after: [beta-quality]
    target: { kind: kserve, replicas: { min: 1, max: 2 } }
  beta-production:
    model: beta
    environment: production
    after: [beta-staging, prod-ok]
    target: { kind: kserve, replicas: { min: 2, max: 4 } }
gitops:
  repo_url: https://github.com/acme/two-models.git
";

struct Repo {
    _dir: tempfile::TempDir,
    remote: PathBuf,
}

impl Repo {
    fn clone_into(&self, name: &str) -> PathBuf {
        let path = self.remote.parent().unwrap().join(name);
        common::git(
            self.remote.parent().unwrap(),
            &["clone", "-q", self.remote.to_str().unwrap(), name],
        );
        path
    }
}

fn mlops(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, stdout, stderr) = mlops(dir, args);
    assert_eq!(code, 0, "mlops {args:?}: {stderr}");
    stdout
}

/// A project pushed to a bare remote: the config, its files, and what `render` wrote.
fn project() -> (Repo, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    common::git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    let repo = Repo { _dir: dir, remote };
    let work = repo.clone_into("work");
    let write = |path: &str, text: &str| {
        let path = work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("mlops.yaml", CONFIG);
    for model in ["alpha", "beta"] {
        write(&format!("{model}/train.py"), "print('train')\n");
        write(&format!("metrics/{model}.json"), "{\"auc\": 0.9}\n");
    }
    ok(&work, &["render"]);
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "the pipeline"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    (repo, work)
}

fn digest(version: char) -> String {
    format!("sha256:{}", version.to_string().repeat(64))
}

/// What a deploy job does for `deployment` at release `version`: record and render
/// (`mlops promote`), commit, and publish: straight to `main`, or, approval-gated, a branch
/// whose merge is the approval.
fn deploy(work: &Path, deployment: &str, version: char, gated: bool) {
    common::git(work, &["pull", "-q", "--rebase", "origin", "main"]);
    let uri = format!("s3://acme/models/{deployment}/{version}/model.joblib");
    ok(
        work,
        &[
            "promote",
            deployment,
            "--model-uri",
            &uri,
            "--digest",
            &digest(version),
        ],
    );
    let message = format!("promote {deployment} ({version})");
    if gated {
        let branch = format!("mlops/promote-{deployment}-{version}");
        common::git(work, &["switch", "-q", "-c", &branch]);
        common::git(work, &["add", "--", "deploy"]);
        common::git(work, &["commit", "-q", "-m", &message]);
        common::git(
            work,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
        // The reviewers approve: the pull request is merged.
        common::git(work, &["switch", "-q", "main"]);
        common::git(
            work,
            &["merge", "-q", "--no-ff", "-m", "merge promotion", &branch],
        );
    } else {
        common::git(work, &["add", "--", "deploy"]);
        common::git(work, &["commit", "-q", "-m", &message]);
    }
    common::git(work, &["push", "-q", "origin", "main"]);
}

/// The jobs `mlops affected --base BASE [EXTRA...]` says run.
fn running_with(work: &Path, base: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["affected", "--base", base, "--format", "github-output"];
    args.extend_from_slice(extra);
    ok(work, &args)
        .lines()
        .filter_map(|line| line.strip_suffix("=true"))
        .map(str::to_owned)
        .collect()
}

fn running(work: &Path, base: &str) -> Vec<String> {
    running_with(work, base, &[])
}

#[test]
fn from_a_pull_request_to_a_production_rollback() {
    let (repo, work) = project();

    // A pull request that changes alpha's input runs alpha alone.
    common::git(&work, &["switch", "-q", "-c", "pr-alpha"]);
    std::fs::write(work.join("alpha/train.py"), "print('better')\n").unwrap();
    common::git(&work, &["commit", "-q", "-am", "alpha: better features"]);
    assert_eq!(
        running(&work, "main"),
        [
            "train-alpha",
            "gate-alpha-quality",
            "approval-prod-ok",
            "deploy-alpha-staging",
            "deploy-alpha-production"
        ],
        "nothing of beta"
    );
    assert_eq!(mlops(&work, &["check"]).0, 0);

    // Meanwhile a second pull request edits beta's replicas (and re-renders).
    common::git(&work, &["switch", "-q", "-c", "pr-beta", "main"]);
    let config = std::fs::read_to_string(work.join("mlops.yaml"))
        .unwrap()
        .replace(
            "    after: [beta-quality]\n    target: { kind: kserve, replicas: { min: 1, max: 2 } }",
            "    after: [beta-quality]\n    target: { kind: kserve, replicas: { min: 2, max: 3 } }",
        );
    std::fs::write(work.join("mlops.yaml"), config).unwrap();
    ok(&work, &["render"]);
    common::git(&work, &["commit", "-q", "-am", "beta: more replicas"]);

    // The alpha pull request merges; its deploy jobs promote staging, then production through
    // the approval.
    common::git(&work, &["switch", "-q", "main"]);
    common::git(
        &work,
        &["merge", "-q", "--no-ff", "-m", "merge pr-alpha", "pr-alpha"],
    );
    common::git(&work, &["push", "-q", "origin", "main"]);
    deploy(&work, "alpha-staging", '1', false);
    deploy(&work, "alpha-production", '1', true);
    assert!(
        work.join("deploy/production/alpha-production.yaml")
            .exists()
    );
    assert!(
        !work.join("deploy/production/beta-production.yaml").exists(),
        "never promoted"
    );
    assert_eq!(mlops(&work, &["check"]).0, 0);

    // The beta pull request, opened before all that, merges without a conflict.
    common::git(
        &work,
        &["merge", "-q", "--no-ff", "-m", "merge pr-beta", "pr-beta"],
    );
    assert_eq!(
        mlops(&work, &["check"]).0,
        0,
        "generated files agree after both merges"
    );
    common::git(&work, &["push", "-q", "origin", "main"]);

    // Two more production releases of alpha.
    deploy(&work, "alpha-staging", '2', false);
    deploy(&work, "alpha-production", '2', true);

    // A push whose run is cancelled before it deploys: the next push, which changes nothing of
    // alpha, still retrains and deploys alpha, because alpha changed since its release.
    std::fs::write(work.join("alpha/train.py"), "print('cancelled run')\n").unwrap();
    common::git(
        &work,
        &[
            "commit",
            "-q",
            "-am",
            "alpha: a change whose run was cancelled",
        ],
    );
    std::fs::write(work.join("NOTES.md"), "unrelated\n").unwrap();
    common::git(&work, &["add", "NOTES.md"]);
    common::git(&work, &["commit", "-q", "-m", "unrelated"]);
    let plain = running(&work, "HEAD~1");
    assert!(
        !plain.contains(&"deploy-alpha-staging".to_owned()),
        "{plain:?}"
    );
    let caught_up = running_with(&work, "HEAD~1", &["--since-release"]);
    for job in [
        "train-alpha",
        "deploy-alpha-staging",
        "deploy-alpha-production",
    ] {
        assert!(caught_up.contains(&job.to_owned()), "{job}: {caught_up:?}");
    }
    common::git(&work, &["push", "-q", "origin", "main"]);
    deploy(&work, "alpha-staging", '3', false);
    deploy(&work, "alpha-production", '3', true);
    let after = running_with(&work, "HEAD", &["--since-release"]);
    assert!(
        !after.contains(&"deploy-alpha-staging".to_owned()),
        "deployed: nothing left to catch up for alpha: {after:?}"
    );

    // A comment in the config changes no generated file.
    let mut config = std::fs::read_to_string(work.join("mlops.yaml")).unwrap();
    config.push_str("# owners: the ML platform team\n");
    std::fs::write(work.join("mlops.yaml"), config).unwrap();
    assert_eq!(
        mlops(&work, &["check"]).0,
        0,
        "a comment leaves check green"
    );
    common::git(&work, &["commit", "-q", "-am", "a comment"]);
    common::git(&work, &["push", "-q", "origin", "main"]);

    // Someone else edits beta in another clone and pushes first.
    let other = repo.clone_into("other");
    let config = std::fs::read_to_string(other.join("mlops.yaml"))
        .unwrap()
        .replace(
            "replicas: { min: 2, max: 4 } }\ngitops",
            "replicas: { min: 3, max: 4 } }\ngitops",
        );
    std::fs::write(other.join("mlops.yaml"), config).unwrap();
    ok(&other, &["render"]);
    common::git(
        &other,
        &["commit", "-q", "-am", "beta-production: 3 replicas"],
    );
    common::git(&other, &["push", "-q", "origin", "main"]);

    // Production rolls back: a new change that applies on top of everything since.
    let served = |work: &Path| {
        std::fs::read_to_string(work.join("deploy/production/alpha-production.yaml")).unwrap()
    };
    for (expected, message) in [('2', "rollback to 2"), ('1', "rollback to 1")] {
        common::git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
        let stdout = ok(&work, &["rollback", "alpha-production"]);
        assert!(
            stdout.contains("git add -- deploy && git commit"),
            "{stdout}"
        );
        assert!(
            served(&work).contains(&format!("s3://acme/models/alpha-production/{expected}/")),
            "rolled back to release {expected}"
        );
        assert_eq!(mlops(&work, &["check"]).0, 0);
        common::git(&work, &["add", "--", "deploy"]);
        common::git(&work, &["commit", "-q", "-m", message]);
        common::git(&work, &["push", "-q", "origin", "main"]);
    }
    // The other clone's edit survived, and the remote holds the rolled-back release.
    let last = repo.clone_into("last");
    assert!(served(&last).contains("s3://acme/models/alpha-production/1/"));
    assert!(
        std::fs::read_to_string(last.join("mlops.yaml"))
            .unwrap()
            .contains("replicas: { min: 3, max: 4 } }\ngitops")
    );
    assert_eq!(
        mlops(&last, &["check"]).0,
        0,
        "a fresh clone of the remote is consistent"
    );
}
