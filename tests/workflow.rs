//! The generated GitHub Actions workflow, run: a small walker reads `.github/workflows/mlops.yml`
//! as GitHub would and runs its jobs in `needs` order on this machine. The plan job's script is
//! run as written; each stage job becomes one instance per name in the matrix the plan job
//! published, each in a fresh clone of a bare remote with its own runner temp folder; the
//! `run:` steps run with bash; checkout, download-artifact and upload-artifact are played by
//! the walker against a local artifact store; `aws` is a stub that records the upload. Every
//! `${{ }}` expression the file holds must be one the walker knows, or the test fails, so a
//! template change cannot slip past it. What is not here: GitHub's scheduler and runners.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

const CONFIG: &str = "\
version: 1
project: walk
ci:
  branch: main
environments:
  staging: {}
data:
  shared:
    run: sh prep.sh
    inputs: [prep.sh]
    outputs: [data/shared.csv]
training:
  alpha:
    needs: [shared]
    run: sh train.sh alpha
    inputs: [train.sh]
    metrics: metrics/alpha.json
    model: { path: models/alpha.joblib, format: sklearn, registry: s3://acme/models/alpha }
  beta:
    needs: [shared]
    run: sh train.sh beta
    inputs: [train.sh]
    metrics: metrics/beta.json
    model: { path: models/beta.joblib, format: sklearn, registry: s3://acme/models/beta }
gates:
  alpha-quality:
    training: alpha
    rules: [{ metric: auc, min: 0.8 }]
  beta-quality:
    training: beta
    rules: [{ metric: auc, min: 0.8 }]
deployments:
  alpha-staging:
    model: alpha
    environment: staging
    after: [alpha-quality]
    target: { kind: kserve, replicas: { min: 1, max: 2 } }
  beta-staging:
    model: beta
    environment: staging
    after: [beta-quality]
    target: { kind: kserve, replicas: { min: 1, max: 2 } }
gitops:
  repo_url: https://github.com/acme/walk.git
";

const PREP: &str = "mkdir -p data\necho 'id,churned' >data/shared.csv\n";
/// A training that reads the data step's output: it fails when the artifact did not arrive.
const TRAIN: &str = "mkdir -p models metrics\ncat data/shared.csv >\"models/$1.joblib\"\necho '{\"auc\": 0.9}' >\"metrics/$1.json\"\n";

struct World {
    dir: tempfile::TempDir,
    remote: PathBuf,
    /// The mlops binary and the `aws` stub.
    bin: PathBuf,
}

/// One job instance's outcome.
#[derive(Debug)]
struct Instance {
    job: String,
    node: String,
    /// `None`: every step passed; else the failing step's output.
    failure: Option<String>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote.git");
        common::git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let mlops = assert_cmd::cargo::cargo_bin("mlops");
        std::os::unix::fs::symlink(mlops, bin.join("mlops")).unwrap();
        let uploads = dir.path().join("uploads");
        std::fs::write(
            bin.join("aws"),
            format!(
                "#!/bin/sh\n# s3 cp --only-show-errors -- FILE URI\necho \"$5 $6\" >>'{}'\n",
                uploads.display()
            ),
        )
        .unwrap();
        chmod_x(&bin.join("aws"));
        World { dir, remote, bin }
    }

    fn clone_into(&self, name: &str) -> PathBuf {
        let target = self.dir.path().join(name);
        common::git(
            self.dir.path(),
            &[
                "clone",
                "-q",
                self.remote.to_str().unwrap(),
                target.to_str().unwrap(),
            ],
        );
        target
    }

    fn uploads(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("uploads")).unwrap_or_default()
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// Run the workflow for a push of `sha` after `before`: the plan job, then every stage job
    /// in file order (which `needs` respects: asserted), each instance in a fresh clone.
    fn run_push(&self, run: &str, before: &str, sha: &str) -> Vec<Instance> {
        let checkout = self.clone_into(&format!("{run}-read"));
        let text = std::fs::read_to_string(checkout.join(".github/workflows/mlops.yml")).unwrap();
        let workflow = mlops::spec::load::load_str(&text).0.unwrap().value;
        let jobs = workflow["jobs"].as_object().unwrap();
        let store = self.dir.path().join(format!("{run}-artifacts"));
        std::fs::create_dir_all(&store).unwrap();

        // The plan job: its script as written.
        let plan = &jobs["plan"];
        let temp = self.dir.path().join(format!("{run}-plan-temp"));
        std::fs::create_dir_all(&temp).unwrap();
        let work = self.clone_into(&format!("{run}-plan"));
        let affected = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|step| step["id"] == "affected")
            .unwrap();
        let mut env = BTreeMap::new();
        env.insert("EVENT".to_owned(), "push".to_owned());
        env.insert("BASE".to_owned(), before.to_owned());
        env.insert("SCHEDULE".to_owned(), String::new());
        let (ok, log, outputs) = self.bash(&work, &temp, &env, affected["run"].as_str().unwrap());
        assert!(ok, "the plan job failed: {log}");
        // upload-artifact with `if-no-files-found: ignore`: nothing runs, nothing is uploaded.
        if temp.join("mlops-plan").is_dir() {
            copy_tree(&temp.join("mlops-plan"), &store.join("mlops-plan"));
        }

        let mut done: Vec<String> = vec!["plan".to_owned(), "check".to_owned()];
        let mut instances = Vec::new();
        for (id, job) in jobs {
            if done.contains(id) || id == "report" {
                continue;
            }
            for need in job["needs"].as_array().unwrap() {
                assert!(
                    done.iter().any(|seen| seen == need.as_str().unwrap()),
                    "{id} needs {need}, which comes later in the file"
                );
            }
            assert_eq!(
                job["strategy"]["matrix"]["node"],
                format!("${{{{ fromJSON(needs.plan.outputs.{id}) }}}}"),
            );
            assert!(
                job["if"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("needs.plan.outputs.{id} != '[]'")),
                "{id} runs with an empty matrix"
            );
            let names: Vec<String> = serde_json::from_str(&outputs[id]).unwrap();
            for name in names {
                let failure = self.instance(run, id, job, &name, sha, &store);
                instances.push(Instance {
                    job: id.clone(),
                    node: name,
                    failure,
                });
            }
            done.push(id.clone());
        }
        instances
    }

    /// One matrix instance of `job` for node `name`.
    fn instance(
        &self,
        run: &str,
        id: &str,
        job: &Value,
        name: &str,
        sha: &str,
        store: &Path,
    ) -> Option<String> {
        let work = self.clone_into(&format!("{run}-{id}-{name}"));
        let temp = self.dir.path().join(format!("{run}-{id}-{name}-temp"));
        std::fs::create_dir_all(&temp).unwrap();
        let mut scope = Scope {
            temp: temp.clone(),
            node: name.to_owned(),
            env: BTreeMap::new(),
            steps: BTreeMap::new(),
            base: sha.to_owned(),
        };
        for (key, value) in job["env"].as_object().unwrap() {
            let value = scope.eval(value.as_str().unwrap());
            scope.env.insert(key.clone(), value);
        }
        for step in job["steps"].as_array().unwrap() {
            if let Some(condition) = step["if"].as_str()
                && !scope.condition(condition)
            {
                continue;
            }
            let uses = step["uses"].as_str().unwrap_or_default();
            let with = &step["with"];
            let passed = if uses.starts_with("actions/checkout@") || uses.contains("/mlops@") {
                // Cloned above; mlops is on PATH.
                true
            } else if uses.starts_with("actions/download-artifact@") {
                let path = PathBuf::from(scope.eval(with["path"].as_str().unwrap()));
                if let Some(artifact) = with["name"].as_str() {
                    let from = store.join(scope.eval(artifact));
                    from.is_dir() && {
                        copy_tree(&from, &path);
                        true
                    }
                } else {
                    let pattern = scope.eval(with["pattern"].as_str().unwrap());
                    let wanted = expand_braces(&pattern);
                    let mut found = false;
                    for artifact in wanted {
                        let from = store.join(&artifact);
                        if from.is_dir() {
                            copy_tree(&from, &path.join(&artifact));
                            found = true;
                        }
                    }
                    found || step["continue-on-error"] == true
                }
            } else if uses.starts_with("actions/upload-artifact@") {
                let artifact = scope.eval(with["name"].as_str().unwrap());
                let path = PathBuf::from(scope.eval(with["path"].as_str().unwrap()));
                let has_files = path.is_dir() && std::fs::read_dir(&path).unwrap().count() > 0;
                assert_eq!(with["if-no-files-found"], "error");
                has_files && {
                    copy_tree(&path, &store.join(artifact));
                    true
                }
            } else if let Some(script) = step["run"].as_str() {
                let mut env = scope.env.clone();
                if let Some(step_env) = step["env"].as_object() {
                    for (key, value) in step_env {
                        env.insert(key.clone(), scope.eval(value.as_str().unwrap()));
                    }
                }
                let (ok, log, outputs) = self.bash(&work, &temp, &env, script);
                if let Some(step_id) = step["id"].as_str() {
                    scope.steps.insert(step_id.to_owned(), outputs);
                }
                if !ok {
                    return Some(log);
                }
                true
            } else {
                panic!("the walker does not know the step {step}");
            };
            if !passed {
                return Some(format!("step {step} failed"));
            }
        }
        None
    }

    /// `bash -e` as GitHub runs `run:`, in `work`, with `env`; success, its output, and what it
    /// wrote to `$GITHUB_OUTPUT`.
    fn bash(
        &self,
        work: &Path,
        temp: &Path,
        env: &BTreeMap<String, String>,
        script: &str,
    ) -> (bool, String, BTreeMap<String, String>) {
        let output_file = temp.join("github-output");
        std::fs::write(&output_file, "").unwrap();
        let output = Command::new("bash")
            .args(["--noprofile", "--norc", "-e", "-c", script])
            .current_dir(work)
            .env("PATH", self.path_env())
            .env("RUNNER_TEMP", temp)
            .env("GITHUB_OUTPUT", &output_file)
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_TOKEN")
            .envs(env)
            .output()
            .unwrap();
        let outputs = std::fs::read_to_string(&output_file)
            .unwrap()
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            outputs,
        )
    }
}

/// What an instance's expressions can see.
struct Scope {
    temp: PathBuf,
    node: String,
    env: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    base: String,
}

impl Scope {
    /// Every `${{ }}` in `text` replaced; an expression the walker does not know fails the test.
    fn eval(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").unwrap() + start;
            out.push_str(&self.expression(rest[start + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn expression(&self, expression: &str) -> String {
        if expression == "runner.temp" {
            return self.temp.display().to_string();
        }
        if expression == "github.token" {
            return String::new();
        }
        if expression == "github.event.pull_request.base.sha || github.event.before || github.sha" {
            return self.base.clone();
        }
        if let Some(name) = expression.strip_prefix("env.") {
            return self.env[name].clone();
        }
        if let Some(name) = expression.strip_prefix("secrets.") {
            return format!("secret-{name}");
        }
        if let Some(path) = expression.strip_prefix("steps.") {
            let (step, key) = path.split_once(".outputs.").unwrap();
            return self.steps[step].get(key).cloned().unwrap_or_default();
        }
        if let Some(inner) = expression.strip_prefix("format('")
            && let Some(template) = inner.strip_suffix("', matrix.node)")
        {
            return template.replace("{0}", &self.node);
        }
        panic!("the walker does not know the expression `{expression}`");
    }

    /// A step's `if:`: the one form the workflow's steps use, `EXPR != ''`.
    fn condition(&self, condition: &str) -> bool {
        let inner = condition
            .trim()
            .strip_prefix("${{")
            .and_then(|inner| inner.strip_suffix("}}"))
            .unwrap()
            .trim();
        let (left, right) = inner.split_once(" != ").unwrap();
        assert_eq!(
            right, "''",
            "the walker does not know the condition {condition}"
        );
        !self.expression(left).is_empty()
    }
}

/// `{a,b}` into `[a, b]`; a plain name into itself (the patterns the plan job writes).
fn expand_braces(pattern: &str) -> Vec<String> {
    match pattern
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
    {
        Some(inner) => inner.split(',').map(str::to_owned).collect(),
        None => vec![pattern.to_owned()],
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    common::copy_dir(from, to);
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn mlops_in(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(assert_cmd::cargo::cargo_bin("mlops"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "mlops {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn summary(instances: &[Instance]) -> Vec<String> {
    instances
        .iter()
        .map(|instance| {
            format!(
                "{} {} {}",
                instance.job,
                instance.node,
                if instance.failure.is_some() {
                    "failed"
                } else {
                    "passed"
                }
            )
        })
        .collect()
}

#[test]
fn a_push_runs_every_step_in_order_and_one_models_failure_stops_only_that_model() {
    let world = World::new();
    let work = world.clone_into("author");
    let write = |path: &str, text: &str| {
        let path = work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("mlops.yaml", CONFIG);
    write("prep.sh", PREP);
    write("train.sh", TRAIN);
    mlops_in(&work, &["render"]);
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "the pipeline"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    let first = common::git(&work, &["rev-parse", "HEAD"]).trim().to_owned();

    // The first push of a branch: no previous commit, so everything runs.
    let instances = world.run_push("one", "0000000000000000000000000000000000000000", &first);
    assert_eq!(
        summary(&instances),
        [
            "data-1 shared passed",
            "train-2 alpha passed",
            "train-2 beta passed",
            "gate-3 alpha-quality passed",
            "gate-3 beta-quality passed",
            "deploy-4 alpha-staging passed",
            "deploy-4 beta-staging passed",
        ],
        "{instances:#?}"
    );
    // The trained model (made from the data step's output) was uploaded, content-addressed,
    // and released on the staging branch.
    let uploads = world.uploads();
    assert_eq!(uploads.lines().count(), 2, "{uploads}");
    assert!(
        uploads.contains("models/alpha.joblib s3://acme/models/alpha/"),
        "{uploads}"
    );
    common::git(&work, &["fetch", "-q", "origin"]);
    let release = common::git(
        &work,
        &[
            "show",
            "origin/mlops/release/staging:deploy/staging/alpha-staging.yaml",
        ],
    );
    assert!(release.contains("s3://acme/models/alpha/"), "{release}");

    // The shared training script now fails for beta: alpha goes on to its release; beta's
    // gate and deployment refuse to start and say why.
    write(
        "train.sh",
        &format!("if [ \"$1\" = beta ]; then echo 'beta diverged' >&2; exit 3; fi\n{TRAIN}"),
    );
    common::git(&work, &["commit", "-q", "-am", "train: beta diverges"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    let second = common::git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    let instances = world.run_push("two", &first, &second);
    assert_eq!(
        summary(&instances),
        [
            "data-1 shared passed",
            "train-2 alpha passed",
            "train-2 beta failed",
            "gate-3 alpha-quality passed",
            "gate-3 beta-quality failed",
            "deploy-4 alpha-staging passed",
            "deploy-4 beta-staging failed",
        ],
        "{instances:#?}"
    );
    let failure = |job: &str| {
        instances
            .iter()
            .find(|instance| instance.job == job && instance.failure.is_some())
            .and_then(|instance| instance.failure.clone())
            .unwrap()
    };
    assert!(failure("train-2").contains("beta diverged"));
    assert!(
        failure("gate-3").contains(
            "gate-beta-quality does not run: train-beta, which it waits for, did not succeed in this run"
        ),
        "{}",
        failure("gate-3")
    );
    assert!(
        failure("deploy-4").contains("deploy-beta-staging does not run: train-beta"),
        "{}",
        failure("deploy-4")
    );
}

#[test]
fn a_push_that_touches_nothing_a_step_reads_starts_no_stage() {
    let world = World::new();
    let work = world.clone_into("author");
    std::fs::write(work.join("mlops.yaml"), CONFIG).unwrap();
    std::fs::write(work.join("prep.sh"), PREP).unwrap();
    std::fs::write(work.join("train.sh"), TRAIN).unwrap();
    mlops_in(&work, &["render"]);
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "the pipeline"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    let first = common::git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    let all = world.run_push("one", "0000000000000000000000000000000000000000", &first);
    assert!(
        all.iter().all(|instance| instance.failure.is_none()),
        "{all:#?}"
    );

    std::fs::write(work.join("README.md"), "docs\n").unwrap();
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "docs"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    let second = common::git(&work, &["rev-parse", "HEAD"]).trim().to_owned();
    assert!(world.run_push("two", &first, &second).is_empty());
}
