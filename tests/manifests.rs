//! Deploy manifests: golden files for every target kind and strategy (read by hand before
//! accepting), releases as their single source, hostile strings kept inert, and `promote` /
//! `rollback` as a user runs them. A release is a commit on the environment's release branch
//! (`mlops/release/<environment>`); the default branch never changes by one.

use std::path::Path;

use assert_cmd::Command;

mod common;
use common::project;

const SERVING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/serving");
const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/render/hostile.yaml"
);
const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn");

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

fn read(dir: &Path, relative: &str) -> String {
    std::fs::read_to_string(dir.join(relative)).unwrap_or_else(|_| panic!("{relative} exists"))
}

/// `dir` as a git repository on `main` with everything in it committed.
fn repository(dir: &Path) {
    common::git(dir, &["init", "-q", "-b", "main"]);
    common::git(dir, &["add", "-A"]);
    common::git(dir, &["commit", "-q", "-m", "the pipeline"]);
}

/// `path` on `branch`.
fn on_branch(dir: &Path, branch: &str, path: &str) -> String {
    common::git(dir, &["show", &format!("{branch}:{path}")])
}

/// Whether `branch` has a file at `path`.
fn has(dir: &Path, branch: &str, path: &str) -> bool {
    std::process::Command::new("git")
        .current_dir(dir)
        .args(["cat-file", "-e", &format!("{branch}:{path}")])
        .status()
        .unwrap()
        .success()
}

fn digest(byte: &str) -> String {
    format!("sha256:{}", byte.repeat(64 / byte.len()))
}

fn promote(dir: &Path, deployment: &str, uri: &str, digest: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "promote",
        deployment,
        "--model-uri",
        uri,
        "--digest",
        digest,
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = mlops(dir, &args);
    assert_eq!(code, 0, "promote {deployment}: {stderr}");
    stdout
}

/// Release every record the serving fixture carries under `deploy/`, as `promote` would.
fn release_the_fixture_records(dir: &Path) {
    for environment in ["staging", "production"] {
        for entry in std::fs::read_dir(dir.join("deploy").join(environment)).unwrap() {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                    .unwrap();
            promote(
                dir,
                record["deployment"].as_str().unwrap(),
                record["model_uri"].as_str().unwrap(),
                record["digest"].as_str().unwrap(),
                &["--commit", record["commit"].as_str().unwrap()],
            );
        }
    }
}

#[test]
fn every_kind_and_strategy() {
    let dir = project(SERVING);
    repository(dir.path());
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    release_the_fixture_records(dir.path());
    for (environment, deployment) in [
        ("staging", "fraud-staging"),
        ("production", "fraud-production"),
        ("staging", "embedder-staging"),
        ("staging", "ranker-staging"),
        ("production", "ranker-production"),
    ] {
        let file = format!("deploy/{environment}/{deployment}.yaml");
        let name = format!("{environment}__{deployment}.yaml");
        let text = on_branch(dir.path(), &format!("mlops/release/{environment}"), &file);
        insta::assert_snapshot!(name, text);
    }
    for environment in ["staging", "production"] {
        let file = format!("deploy/argocd/{environment}.yaml");
        insta::assert_snapshot!(
            format!("argocd__{environment}.yaml"),
            read(dir.path(), &file)
        );
    }
}

/// What the default branch holds is a function of the config alone: no manifest of a model,
/// an Argo CD application per environment following its release branch. The first release
/// goes to staging's branch; the default branch and production's branch do not change.
#[test]
fn the_example_before_and_after_its_first_release() {
    let dir = project(EXAMPLE);
    repository(dir.path());
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    for environment in ["staging", "production"] {
        assert!(!dir.path().join(format!("deploy/{environment}")).exists());
        assert!(
            stderr.contains(&format!(
                "deploy/{environment}/: churn-{environment} released to branch `mlops/release/{environment}` by `mlops promote --publish`, not written here"
            )),
            "{stderr}"
        );
        let application = &documents(&read(
            dir.path(),
            &format!("deploy/argocd/{environment}.yaml"),
        ))[0];
        assert_eq!(
            application["spec"]["source"]["targetRevision"],
            format!("mlops/release/{environment}").as_str()
        );
        assert_eq!(
            application["spec"]["source"]["path"],
            format!("deploy/{environment}").as_str()
        );
    }
    common::git(dir.path(), &["add", "-A"]);
    common::git(dir.path(), &["commit", "-q", "-m", "render"]);
    let main_before = common::git(dir.path(), &["rev-parse", "main"]);

    let trained_from = "4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090";
    let stdout = promote(
        dir.path(),
        "churn-staging",
        "s3://acme-ml/models/churn/ab/churn.joblib",
        &digest("ab"),
        &["--commit", trained_from],
    );
    assert!(
        stdout.contains("committed to the local branch `mlops/release/staging`")
            && stdout.contains("git push origin mlops/release/staging"),
        "{stdout}"
    );
    let text = on_branch(
        dir.path(),
        "mlops/release/staging",
        "deploy/staging/churn-staging.yaml",
    );
    insta::assert_snapshot!("example__staging__churn-staging", text);
    assert!(text.contains("storageUri: \"s3://acme-ml/models/churn/ab/churn.joblib\""));
    assert_eq!(
        common::git(
            dir.path(),
            &["ls-tree", "-r", "--name-only", "mlops/release/staging"]
        ),
        "deploy/staging/churn-staging.release.json\ndeploy/staging/churn-staging.yaml\n",
        "the release branch holds the release alone"
    );
    assert_eq!(common::git(dir.path(), &["rev-parse", "main"]), main_before);
    assert_eq!(
        common::git(dir.path(), &["status", "--porcelain"]),
        "",
        "the checkout is untouched"
    );
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);
    let production = std::process::Command::new("git")
        .current_dir(dir.path())
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            "refs/heads/mlops/release/production",
        ])
        .status()
        .unwrap();
    assert!(!production.success(), "nothing of production");

    // The same release again commits nothing.
    let stdout = promote(
        dir.path(),
        "churn-staging",
        "s3://acme-ml/models/churn/ab/churn.joblib",
        &digest("ab"),
        &["--commit", trained_from],
    );
    assert!(stdout.contains("already serves"), "{stdout}");
}

fn documents(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|document| {
            let (loaded, diags) = mlops::spec::load::load_str(document);
            assert!(diags.is_empty(), "{diags:?}");
            loaded.unwrap().value
        })
        .collect()
}

#[test]
fn hostile_strings_stay_data_in_manifests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(HOSTILE, dir.path().join("mlops.yaml")).unwrap();
    repository(dir.path());
    assert_eq!(mlops(dir.path(), &["render"]).0, 0);
    promote(
        dir.path(),
        "model-staging",
        "s3://b/m.joblib",
        &digest("cd"),
        &[],
    );
    let application = &documents(&read(dir.path(), "deploy/argocd/staging.yaml"))[0];
    assert_eq!(
        application["spec"]["source"]["repoURL"],
        "https://example.com/it's \"a\": #repo.git"
    );
    assert_eq!(
        application["spec"]["source"]["targetRevision"],
        "deploys/rel.v2/staging"
    );
    assert_eq!(
        application["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "p-ro-j---x-----github.token------id"
    );
    let service = &documents(&on_branch(
        dir.path(),
        "deploys/rel.v2/staging",
        "deploy/staging/model-staging.yaml",
    ))[0];
    assert_eq!(service["kind"], "InferenceService");
}

#[test]
fn promote_records_the_release_and_renders_from_it_then_rollback_applies_after_later_edits() {
    let dir = project(EXAMPLE);
    let git = |args: &[&str]| common::git(dir.path(), args);
    repository(dir.path());
    assert_eq!(mlops(dir.path(), &["render"]).0, 0);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "render"]);
    let branch = "mlops/release/staging";

    let first = digest("ab");
    promote(
        dir.path(),
        "churn-staging",
        "s3://acme/churn/v1",
        &first,
        &["--metrics", "metrics/churn.json"],
    );
    let release: serde_json::Value = serde_json::from_str(&on_branch(
        dir.path(),
        branch,
        "deploy/staging/churn-staging.release.json",
    ))
    .unwrap();
    assert_eq!(release["model_uri"], "s3://acme/churn/v1");
    assert_eq!(
        release["metrics"]["latency_p95_ms"], 96,
        "numbers as written"
    );
    assert_eq!(release["commit"], git(&["rev-parse", "HEAD"]).trim());
    let manifest = on_branch(dir.path(), branch, "deploy/staging/churn-staging.yaml");
    assert!(
        manifest.contains("storageUri: \"s3://acme/churn/v1\""),
        "{manifest}"
    );
    assert!(manifest.contains(&format!("mlops.dev/model-digest: \"{first}\"")));
    assert_eq!(
        mlops(dir.path(), &["check"]).0,
        0,
        "the default branch is as rendered"
    );

    let second = digest("cd");
    promote(
        dir.path(),
        "churn-staging",
        "s3://acme/churn/v2",
        &second,
        &[],
    );

    // Later, unrelated edits to the config: the rollback renders the earlier model with the
    // config as it is now.
    let config = dir.path().join("mlops.yaml");
    let edited = std::fs::read_to_string(&config).unwrap().replace(
        "replicas: { min: 1, max: 3 }",
        "replicas: { min: 2, max: 3 }",
    ) + "# a later comment\n";
    std::fs::write(&config, edited).unwrap();
    assert_eq!(mlops(dir.path(), &["render"]).0, 0);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "unrelated edit"]);

    let tip = git(&["rev-parse", branch]);
    let (code, stdout, _) = mlops(dir.path(), &["rollback", "churn-staging", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing written"), "{stdout}");
    assert_eq!(git(&["rev-parse", branch]), tip, "a dry run writes nothing");

    let (code, stdout, stderr) = mlops(dir.path(), &["rollback", "churn-staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "rolled back `churn-staging` in `staging`: s3://acme/churn/v1 ({first}), committed to the local branch `{branch}`"
        )),
        "{stdout}"
    );
    let manifest = on_branch(dir.path(), branch, "deploy/staging/churn-staging.yaml");
    assert!(manifest.contains("s3://acme/churn/v1"), "{manifest}");
    assert!(
        manifest.contains("minReplicas: 2"),
        "today's config: {manifest}"
    );
    assert_eq!(
        git(&["diff", "--name-only", &format!("{branch}~1"), branch]),
        "deploy/staging/churn-staging.release.json\ndeploy/staging/churn-staging.yaml\n",
        "only this deployment's files"
    );
    assert!(
        git(&["log", "-1", "--format=%B", branch]).starts_with(&format!(
            "rollback churn-staging to staging ({})",
            &first[..19]
        ))
    );

    // Regression: a second rollback proposed reverting the revert, a roll forward to v2. It
    // walks the history: v1 was the first release, so there is nothing further back.
    let (code, _, stderr) = mlops(dir.path(), &["rollback", "churn-staging"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("there is no earlier one to roll back to"),
        "{stderr}"
    );
    assert!(!on_branch(dir.path(), branch, "deploy/staging/churn-staging.yaml").contains("v2"));
}

/// Three releases, two rollbacks: each goes one release further back. Production is approval
/// gated, so its branch also carries the CODEOWNERS that names the approvers.
#[test]
fn rollback_twice_goes_back_two_releases() {
    let dir = project(EXAMPLE);
    repository(dir.path());
    let branch = "mlops/release/production";
    for version in ["1", "2", "3"] {
        promote(
            dir.path(),
            "churn-production",
            &format!("s3://acme/churn/v{version}"),
            &digest(version),
            &[],
        );
    }
    for expected in ["v2", "v1"] {
        let (code, _, stderr) = mlops(dir.path(), &["rollback", "churn-production"]);
        assert_eq!(code, 0, "{stderr}");
        let manifest = on_branch(
            dir.path(),
            branch,
            "deploy/production/churn-production.yaml",
        );
        assert!(
            manifest.contains(&format!("s3://acme/churn/{expected}\"")),
            "{manifest}"
        );
    }
    let record = on_branch(
        dir.path(),
        branch,
        "deploy/production/churn-production.release.json",
    );
    assert!(
        record.contains(&format!("\"rollback_of\": \"{}\"", digest("2"))),
        "{record}"
    );
    assert_eq!(
        on_branch(dir.path(), branch, ".github/CODEOWNERS"),
        "# Written by mlops: who must approve a release into this branch.\n/deploy/production/ @acme/ml-leads @alice\n"
    );
}

/// A record on a release branch is read back, and anyone who can push there can write one:
/// one that could not reach a manifest as data is refused with where it is.
#[test]
fn a_tampered_release_record_is_refused() {
    let dir = project(EXAMPLE);
    repository(dir.path());
    promote(
        dir.path(),
        "churn-staging",
        "s3://acme/churn/v1",
        &digest("ab"),
        &[],
    );
    promote(
        dir.path(),
        "churn-staging",
        "s3://acme/churn/v2",
        &digest("cd"),
        &[],
    );
    let path = "deploy/staging/churn-staging.release.json";
    let tampered = on_branch(dir.path(), "mlops/release/staging~1", path)
        .replace("s3://acme/churn/v1", "s3://x\\nkind: Secret");
    let worktree = dir.path().join("release-worktree");
    common::git(
        dir.path(),
        &[
            "worktree",
            "add",
            "-q",
            worktree.to_str().unwrap(),
            "mlops/release/staging",
        ],
    );
    std::fs::write(worktree.join(path), &tampered).unwrap();
    common::git(&worktree, &["commit", "-q", "-am", "tampered"]);
    std::fs::write(
        worktree.join(path),
        on_branch(dir.path(), "mlops/release/staging", path)
            .replace("s3://x\\nkind: Secret", "s3://acme/churn/v3")
            .replace(&digest("ab"), &digest("ef")),
    )
    .unwrap();
    common::git(&worktree, &["commit", "-q", "-am", "v3"]);
    let (code, _, stderr) = mlops(dir.path(), &["rollback", "churn-staging"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("contains whitespace"), "{stderr}");
    let (code, _, stderr) = mlops(
        dir.path(),
        &["affected", "--base", "HEAD", "--since-release"],
    );
    assert_eq!(code, 0, "the record served is sound: {stderr}");
}

#[test]
fn gates_compare_with_the_production_release() {
    let dir = project(EXAMPLE);
    let config = dir.path().join("mlops.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("baseline: base", "baseline: production");
    std::fs::write(&config, text).unwrap();
    repository(dir.path());
    let (code, stdout, _) = mlops(dir.path(), &["gate"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains(
            "production: `churn-production` has no release yet (deploy/production/churn-production.release.json on `mlops/release/production`)"
        ),
        "{stdout}"
    );
    std::fs::write(
        dir.path().join("base-metrics.json"),
        r#"{"auc": 0.84, "f1": 0.71, "latency_p95_ms": 90}"#,
    )
    .unwrap();
    promote(
        dir.path(),
        "churn-production",
        "s3://a/b",
        &digest("ab"),
        &["--metrics", "base-metrics.json"],
    );
    let (code, stdout, _) = mlops(dir.path(), &["gate"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("auc rose 0.011 from 0.84 to 0.851"),
        "{stdout}"
    );
}

#[test]
fn manifests_are_deterministic() {
    let first = project(SERVING);
    let second = project(SERVING);
    for dir in [&first, &second] {
        repository(dir.path());
        assert_eq!(mlops(dir.path(), &["render"]).0, 0);
        release_the_fixture_records(dir.path());
    }
    for file in [
        "deploy/argocd/production.yaml",
        ".github/workflows/mlops.yml",
    ] {
        assert_eq!(
            read(first.path(), file),
            read(second.path(), file),
            "{file}"
        );
    }
    for (branch, file) in [
        ("mlops/release/staging", "deploy/staging/fraud-staging.yaml"),
        (
            "mlops/release/staging",
            "deploy/staging/ranker-staging.yaml",
        ),
        ("mlops/release/production", ".github/CODEOWNERS"),
    ] {
        assert!(has(first.path(), branch, file), "{file}");
        assert_eq!(
            on_branch(first.path(), branch, file),
            on_branch(second.path(), branch, file),
            "{file}"
        );
    }
}

#[test]
fn promote_rejects_bad_input_and_unknown_deployments() {
    let dir = project(EXAMPLE);
    let good = format!("sha256:{}", "ab".repeat(32));
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "churn-stagin",
            "--model-uri",
            "s3://a/b",
            "--digest",
            &good,
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("did you mean `churn-staging`?"), "{stderr}");
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "churn-staging",
            "--model-uri",
            "s3://a/b",
            "--digest",
            "sha256:xyz",
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("64 lowercase hex digits"), "{stderr}");
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "churn-staging",
            "--model-uri",
            "models/x",
            "--digest",
            &good,
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a URI"), "{stderr}");
    assert!(!dir.path().join("deploy").exists(), "nothing written");
}

#[test]
fn unsupported_target_kinds_are_refused_by_name() {
    let dir = project(EXAMPLE);
    let config = dir.path().join("mlops.yaml");
    let text =
        std::fs::read_to_string(&config)
            .unwrap()
            .replacen("kind: kserve", "kind: sagemaker", 1);
    std::fs::write(&config, text).unwrap();
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("mlops::unsupported-target")
            && stderr.contains("deployment `churn-staging`: target kind `sagemaker` cannot be"),
        "{stderr}"
    );
    assert!(
        stderr.contains("supported target kinds: kserve, kubernetes"),
        "{stderr}"
    );
    assert!(!dir.path().join("deploy").exists() && !dir.path().join(".github").exists());
}
