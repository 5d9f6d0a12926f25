//! The delivery loop in a real git repository with a bare remote, as a team lives it: two
//! models, two environments (production behind an approval). Each step is what the generated
//! workflow runs (`mlops affected`, `mlops check`, `mlops promote --publish`, `mlops rollback
//! --publish`), or what a person does (branch, merge, push, and merging a promotion pull
//! request, which is what GitHub's merge button does to the release branch). Releases go to
//! `mlops/release/<environment>`; the default branch is written by people alone, so it can
//! require pull requests, reviews and checks. What is not here: GitHub itself (the pull request
//! API is tested against a local server in tests/github.rs).

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

    /// The remote's `path` on `branch`.
    fn show(&self, branch: &str, path: &str) -> String {
        common::git(&self.remote, &["show", &format!("{branch}:{path}")])
    }

    fn log(&self, branch: &str) -> Vec<String> {
        common::git(&self.remote, &["log", "--format=%s", branch])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What GitHub's merge button does to an approved pull request from `head` into `base`.
    fn merge_pull_request(&self, head: &str, base: &str) {
        let reviewer = self.remote.parent().unwrap().join("reviewer");
        if !reviewer.exists() {
            self.clone_into("reviewer");
        }
        common::git(&reviewer, &["fetch", "-q", "origin"]);
        common::git(
            &reviewer,
            &["switch", "-q", "-C", base, &format!("origin/{base}")],
        );
        common::git(
            &reviewer,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                &format!("Merge {head}"),
                &format!("origin/{head}"),
            ],
        );
        common::git(&reviewer, &["push", "-q", "origin", base]);
    }
}

fn mlops(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_STEP_SUMMARY")
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

fn uri(deployment: &str, version: char) -> String {
    format!("s3://acme/models/{deployment}/{version}/model.joblib")
}

/// What a deploy job does for `deployment` at release `version`: a fresh checkout of `main`
/// (CI clones with every branch), then `mlops promote --publish`. An approval-gated release is
/// pushed for review; the reviewers approve and merge its pull request.
fn deploy(repo: &Repo, deployment: &str, version: char) {
    let job = repo
        .remote
        .parent()
        .unwrap()
        .join(format!("job-{deployment}-{version}"));
    repo.clone_into(job.file_name().unwrap().to_str().unwrap());
    let stdout = ok(
        &job,
        &[
            "promote",
            deployment,
            "--model-uri",
            &uri(deployment, version),
            "--digest",
            &digest(version),
            "--publish",
        ],
    );
    if deployment.ends_with("production") {
        let head = format!(
            "mlops/promote/production/{deployment}-{}",
            version.to_string().repeat(12)
        );
        assert!(
            stdout.contains(&format!(
                "pushed to `{head}` for review; open a pull request from `{head}` into `mlops/release/production`"
            )),
            "{stdout}"
        );
        repo.merge_pull_request(&head, "mlops/release/production");
    } else {
        assert!(
            stdout.contains("pushed to `mlops/release/staging`"),
            "{stdout}"
        );
    }
}

/// The jobs `mlops affected --base BASE [EXTRA...]` says run.
fn running_with(work: &Path, base: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["affected", "--base", base, "--format", "github-output"];
    args.extend_from_slice(extra);
    common::started_steps(&ok(work, &args))
}

fn running(work: &Path, base: &str) -> Vec<String> {
    running_with(work, base, &[])
}

/// Makes the next push to `branch` lose a race: while it is being received, another deploy's
/// commit lands on the branch first (the hook moves the ref), so the push is refused as GitHub
/// refuses the loser of two simultaneous pushes.
fn race_the_next_push(repo: &Repo, branch: &str) {
    let hook = repo.remote.join("hooks/pre-receive");
    let script = format!(
        r#"#!/bin/sh
# Objects and refs outside the push's quarantine: this is another push, landing first.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
[ -e "$GIT_DIR/raced" ] && exit 0
while read -r old new ref; do
  if [ "$ref" = "refs/heads/{branch}" ]; then
    touch "$GIT_DIR/raced"
    blob=$(printf 'another deploy
' | git hash-object -w --stdin)
    tree=$( (git ls-tree "$old"; printf '100644 blob %s	another-deploy.txt
' "$blob") | git mktree)
    commit=$(printf 'another deploy
' | GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@o GIT_COMMITTER_NAME=o GIT_COMMITTER_EMAIL=o@o git commit-tree "$tree" -p "$old")
    git update-ref "$ref" "$commit" "$old"
  fi
done
exit 0
"#
    );
    std::fs::write(&hook, script).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn from_a_pull_request_to_a_production_rollback() {
    let (repo, work) = project();
    let main_log = |repo: &Repo| repo.log("main");

    // A pull request that changes alpha's input runs alpha alone.
    common::git(&work, &["switch", "-q", "-c", "pr-alpha"]);
    std::fs::write(work.join("alpha/train.py"), "print('better')\n").unwrap();
    let (code, _, stderr) = mlops(&work, &["check"]);
    assert_eq!(code, 1, "an input changed: the lock is stale");
    assert!(
        stderr.contains("training alpha: inputs changed (modified alpha/train.py)"),
        "{stderr}"
    );
    ok(&work, &["render"]);
    common::git(&work, &["commit", "-q", "-am", "alpha: better features"]);
    assert_eq!(
        running(&work, "main"),
        [
            "train-alpha",
            "gate-alpha-quality",
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

    // The alpha pull request merges; its deploy jobs release staging, then production through
    // the approval. Neither writes to main.
    common::git(&work, &["switch", "-q", "main"]);
    common::git(
        &work,
        &["merge", "-q", "--no-ff", "-m", "merge pr-alpha", "pr-alpha"],
    );
    common::git(&work, &["push", "-q", "origin", "main"]);
    let before = main_log(&repo);
    deploy(&repo, "alpha-staging", '1');
    deploy(&repo, "alpha-production", '1');
    assert_eq!(main_log(&repo), before, "no release writes to main");
    assert!(
        repo.show(
            "mlops/release/production",
            "deploy/production/alpha-production.yaml"
        )
        .contains(&uri("alpha-production", '1'))
    );
    assert_eq!(
        repo.show("mlops/release/production", ".github/CODEOWNERS"),
        "# Written by mlops: who must approve a release into this branch.\n/deploy/production/ @acme/ml-leads\n",
        "GitHub requests the team and counts its review"
    );
    assert!(
        !common::git(
            &repo.remote,
            &["ls-tree", "-r", "--name-only", "mlops/release/production"]
        )
        .contains("beta-production"),
        "never released"
    );

    // The beta pull request, opened before all that, merges without a conflict.
    common::git(&work, &["pull", "-q", "--ff-only", "origin", "main"]);
    // Both changed mlops.lock, in different tables: git merges it without a conflict.
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

    // Another release of alpha; staging's push loses a race with another deploy, fetches the
    // new tip and lands on top of it, keeping the other deploy's commit.
    race_the_next_push(&repo, "mlops/release/staging");
    deploy(&repo, "alpha-staging", '2');
    assert_eq!(
        repo.log("mlops/release/staging")[..2],
        [
            format!("promote alpha-staging to staging ({})", &digest('2')[..19]),
            "another deploy".to_owned()
        ]
    );
    assert!(
        repo.show("mlops/release/staging", "another-deploy.txt")
            .contains("another deploy")
    );
    deploy(&repo, "alpha-production", '2');

    // A push whose run is cancelled before it deploys: the next push, which changes nothing of
    // alpha, still retrains and deploys alpha, because alpha changed since its release.
    common::git(&work, &["fetch", "-q", "origin"]);
    std::fs::write(work.join("alpha/train.py"), "print('cancelled run')\n").unwrap();
    ok(&work, &["render"]);
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
    deploy(&repo, "alpha-staging", '3');
    deploy(&repo, "alpha-production", '3');
    common::git(&work, &["fetch", "-q", "origin"]);
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

    // Someone else edits alpha-production's replicas in another clone and pushes.
    let other = repo.clone_into("other");
    let config = std::fs::read_to_string(other.join("mlops.yaml"))
        .unwrap()
        .replace(
            "    after: [alpha-staging, prod-ok]\n    target: { kind: kserve, replicas: { min: 2, max: 4 } }",
            "    after: [alpha-staging, prod-ok]\n    target: { kind: kserve, replicas: { min: 3, max: 4 } }",
        );
    std::fs::write(other.join("mlops.yaml"), config).unwrap();
    ok(&other, &["render"]);
    common::git(
        &other,
        &["commit", "-q", "-am", "alpha-production: 3 replicas"],
    );
    common::git(&other, &["push", "-q", "origin", "main"]);

    // Production rolls back, twice: each a new release (today's config, an earlier model),
    // reviewed like a promotion, each one release further back.
    let served = || {
        repo.show(
            "mlops/release/production",
            "deploy/production/alpha-production.yaml",
        )
    };
    for expected in ['2', '1'] {
        common::git(&work, &["pull", "-q", "--rebase", "origin", "main"]);
        let stdout = ok(&work, &["rollback", "alpha-production", "--publish"]);
        let head = format!(
            "mlops/rollback/production/alpha-production-{}",
            expected.to_string().repeat(12)
        );
        assert!(
            stdout.contains(&format!("pushed to `{head}` for review")),
            "{stdout}"
        );
        repo.merge_pull_request(&head, "mlops/release/production");
        let manifest = served();
        assert!(
            manifest.contains(&uri("alpha-production", expected)),
            "rolled back to {expected}: {manifest}"
        );
        assert!(
            manifest.contains("minReplicas: 3"),
            "with the config as it is now: {manifest}"
        );
        assert_eq!(mlops(&work, &["check"]).0, 0);
    }
    let (code, _, stderr) = mlops(&work, &["rollback", "alpha-production", "--publish"]);
    assert_eq!(code, 1, "release 1 was the first: {stderr}");

    // A fresh clone of the remote is consistent, and main holds people's commits only.
    let last = repo.clone_into("last");
    assert_eq!(mlops(&last, &["check"]).0, 0);
    assert!(
        main_log(&repo)
            .iter()
            .all(|subject| !subject.starts_with("promote") && !subject.starts_with("rollback")),
        "{:?}",
        main_log(&repo)
    );
}
