//! Deploy manifests: golden files for every target kind and strategy (read by hand before
//! accepting), releases as their single source, hostile strings kept inert, and `promote` /
//! `rollback` as a user runs them.

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

#[test]
fn every_kind_and_strategy() {
    let dir = project(SERVING);
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    for file in [
        "deploy/staging/fraud-staging.yaml",
        "deploy/production/fraud-production.yaml",
        "deploy/staging/embedder-staging.yaml",
        "deploy/staging/ranker-staging.yaml",
        "deploy/production/ranker-production.yaml",
        "deploy/argocd/staging.yaml",
        "deploy/argocd/production.yaml",
    ] {
        let name = file.trim_start_matches("deploy/").replace('/', "__");
        insta::assert_snapshot!(name, read(dir.path(), file));
    }
}

/// Before its first promotion a deployment has no manifest and its environment no Argo CD
/// application: nothing is synced that would serve no model, and `render` says so.
#[test]
fn the_example_before_its_first_promotion() {
    let dir = project(EXAMPLE);
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0, "{stderr}");
    for deployment in ["staging/churn-staging", "production/churn-production"] {
        assert!(
            !dir.path()
                .join(format!("deploy/{deployment}.yaml"))
                .exists()
        );
        let name = deployment.split('/').nth(1).unwrap();
        assert!(
            stderr.contains(&format!(
                "deploy/{deployment}.yaml: not written until the first `mlops promote {name}`"
            )),
            "{stderr}"
        );
    }
    assert!(!dir.path().join("deploy/argocd").exists());
    // The first promotion writes staging's manifest and application, and nothing of production.
    let digest = format!("sha256:{}", "ab".repeat(32));
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "churn-staging",
            "--model-uri",
            "s3://acme-ml/models/churn/ab/churn.joblib",
            "--digest",
            &digest,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let text = read(dir.path(), "deploy/staging/churn-staging.yaml");
    insta::assert_snapshot!("example__staging__churn-staging", text);
    assert!(text.contains("storageUri: \"s3://acme-ml/models/churn/ab/churn.joblib\""));
    assert!(dir.path().join("deploy/argocd/staging.yaml").exists());
    assert!(!dir.path().join("deploy/argocd/production.yaml").exists());
    assert!(
        !dir.path()
            .join("deploy/production/churn-production.yaml")
            .exists()
    );
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
    let digest = format!("sha256:{}", "cd".repeat(32));
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "model-staging",
            "--model-uri",
            "s3://b/m.joblib",
            "--digest",
            &digest,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let application = &documents(&read(dir.path(), "deploy/argocd/staging.yaml"))[0];
    assert_eq!(
        application["spec"]["source"]["repoURL"],
        "https://example.com/it's \"a\": #repo.git"
    );
    assert_eq!(
        application["spec"]["source"]["targetRevision"],
        "main'; $(id)"
    );
    assert_eq!(
        application["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "p-ro-j---x-----github.token------id"
    );
    let service = &documents(&read(dir.path(), "deploy/staging/model-staging.yaml"))[0];
    assert_eq!(service["kind"], "InferenceService");
}

#[test]
fn promote_records_the_release_and_renders_from_it_then_rollback_applies_after_later_edits() {
    let dir = project(EXAMPLE);
    let git = |args: &[&str]| common::git(dir.path(), args);
    git(&["init", "-q", "-b", "main"]);
    assert_eq!(mlops(dir.path(), &["render"]).0, 0);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "render"]);

    let digest = format!("sha256:{}", "ab".repeat(32));
    let (code, _, stderr) = mlops(
        dir.path(),
        &[
            "promote",
            "churn-staging",
            "--model-uri",
            "s3://acme/churn/v1",
            "--digest",
            &digest,
            "--metrics",
            "metrics/churn.json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let release: serde_json::Value = serde_json::from_str(&read(
        dir.path(),
        "deploy/staging/churn-staging.release.json",
    ))
    .unwrap();
    assert_eq!(release["model_uri"], "s3://acme/churn/v1");
    assert_eq!(
        release["metrics"]["latency_p95_ms"], 96,
        "numbers as written"
    );
    assert_eq!(release["commit"].as_str().unwrap().len(), 40);
    let manifest = read(dir.path(), "deploy/staging/churn-staging.yaml");
    assert!(
        manifest.contains("storageUri: \"s3://acme/churn/v1\""),
        "{manifest}"
    );
    assert!(manifest.contains(&format!("mlops.dev/model-digest: \"{digest}\"")));
    assert_eq!(
        mlops(dir.path(), &["check"]).0,
        0,
        "render derived the manifest"
    );
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "promote churn-staging v1"]);
    let first = git(&["rev-parse", "HEAD"]).trim().to_owned();

    let digest2 = format!("sha256:{}", "cd".repeat(32));
    assert_eq!(
        mlops(
            dir.path(),
            &[
                "promote",
                "churn-staging",
                "--model-uri",
                "s3://acme/churn/v2",
                "--digest",
                &digest2
            ]
        )
        .0,
        0
    );
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "promote churn-staging v2"]);

    // Later, unrelated edits, including one to the same environment's other files: the
    // rollback is a new commit, so nothing conflicts.
    let config = dir.path().join("mlops.yaml");
    let edited = std::fs::read_to_string(&config).unwrap().replace(
        "replicas: { min: 2, max: 10 }",
        "replicas: { min: 3, max: 10 }",
    ) + "# a later comment\n";
    std::fs::write(&config, edited).unwrap();
    assert_eq!(mlops(dir.path(), &["render"]).0, 0);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "unrelated edit"]);

    let (code, stdout, _) = mlops(dir.path(), &["rollback", "churn-staging", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing written"), "{stdout}");
    assert_eq!(
        git(&["status", "--porcelain"]),
        "",
        "a dry run writes nothing"
    );

    let (code, stdout, stderr) = mlops(dir.path(), &["rollback", "churn-staging"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "roll back `churn-staging` in `staging` from s3://acme/churn/v2 ({digest2}) to s3://acme/churn/v1 ({digest})"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("git add -- deploy && git commit"),
        "{stdout}"
    );
    assert!(read(dir.path(), "deploy/staging/churn-staging.yaml").contains("s3://acme/churn/v1"));
    assert_eq!(
        mlops(dir.path(), &["check"]).0,
        0,
        "record and manifest agree"
    );
    let changed = git(&["status", "--porcelain"]);
    assert_eq!(
        changed,
        " M deploy/staging/churn-staging.release.json\n M deploy/staging/churn-staging.yaml\n",
        "only this deployment's files"
    );
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "rollback churn-staging"]);

    // Regression: a second rollback proposed reverting the revert, a roll forward to v2. It
    // walks the history: v1 was the first release, so there is nothing further back.
    let (code, _, stderr) = mlops(dir.path(), &["rollback", "churn-staging"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("there is no earlier one to roll back to"),
        "{stderr}"
    );
    assert!(!read(dir.path(), "deploy/staging/churn-staging.yaml").contains("v2"));
    let _ = first;
}

/// Three releases, two rollbacks: each goes one release further back.
#[test]
fn rollback_twice_goes_back_two_releases() {
    let dir = project(EXAMPLE);
    let git = |args: &[&str]| common::git(dir.path(), args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    for version in ["1", "2", "3"] {
        let digest = format!("sha256:{}", version.repeat(64));
        let uri = format!("s3://acme/churn/v{version}");
        let (code, _, stderr) = mlops(
            dir.path(),
            &[
                "promote",
                "churn-production",
                "--model-uri",
                &uri,
                "--digest",
                &digest,
            ],
        );
        assert_eq!(code, 0, "{stderr}");
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", &format!("promote v{version}")]);
    }
    for expected in ["v2", "v1"] {
        let (code, _, stderr) = mlops(dir.path(), &["rollback", "churn-production"]);
        assert_eq!(code, 0, "{stderr}");
        let manifest = read(dir.path(), "deploy/production/churn-production.yaml");
        assert!(
            manifest.contains(&format!("s3://acme/churn/{expected}\"")),
            "{manifest}"
        );
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", &format!("rollback to {expected}")]);
    }
    let record = read(
        dir.path(),
        "deploy/production/churn-production.release.json",
    );
    assert!(
        record.contains(&format!("\"rollback_of\": \"sha256:{}\"", "2".repeat(64))),
        "{record}"
    );
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
fn a_tampered_release_record_is_refused() {
    let dir = project(SERVING);
    let path = dir.path().join("deploy/staging/fraud-staging.release.json");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "s3://acme-ml/models/fraud/sha256-3f1d0c2b9a87",
        "s3://x\\nkind: Secret",
    );
    std::fs::write(&path, text).unwrap();
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("contains whitespace"), "{stderr}");
    assert!(
        !dir.path().join("deploy/argocd").exists(),
        "nothing written"
    );
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

#[test]
fn gates_compare_with_the_production_release() {
    let dir = project(EXAMPLE);
    let config = dir.path().join("mlops.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("baseline: base", "baseline: production");
    std::fs::write(&config, text).unwrap();
    let (code, stdout, _) = mlops(dir.path(), &["gate"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("production: `churn-production` has no release yet"),
        "{stdout}"
    );
    std::fs::create_dir_all(dir.path().join("deploy/production")).unwrap();
    std::fs::write(
        dir.path().join("deploy/production/churn-production.release.json"),
        format!(
            r#"{{"deployment":"churn-production","environment":"production","training":"churn","model_uri":"s3://a/b","digest":"sha256:{}","commit":null,"metrics":{{"auc":0.84,"f1":0.71,"latency_p95_ms":90}}}}"#,
            "ab".repeat(32)
        ),
    )
    .unwrap();
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
    assert_eq!(mlops(first.path(), &["render"]).0, 0);
    assert_eq!(mlops(second.path(), &["render"]).0, 0);
    for file in [
        "deploy/staging/fraud-staging.yaml",
        "deploy/staging/ranker-staging.yaml",
        "deploy/argocd/production.yaml",
        ".github/workflows/mlops.yml",
    ] {
        assert_eq!(
            read(first.path(), file),
            read(second.path(), file),
            "{file}"
        );
    }
}
