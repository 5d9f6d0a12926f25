//! The generated GitLab pipeline: golden files (read by hand before accepting), and the rules
//! gitlab-ci-local cannot check because it ignores them (`workflow:rules` `when: never`,
//! `compare_to`) or because they are GitLab's limits (50 `needs`, 50 `changes` patterns).
//! `tests/conformance/gitlab.sh` runs the pipeline itself.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

mod common;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn");
const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/render/hostile.yaml"
);
const RUNNABLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/gitlab/mlops.yaml"
);

/// Render the config at `config` (inside its project folder) in place; stderr.
fn render_in_place(config: &Path) -> String {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .arg("render")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

fn parse(text: &str) -> Value {
    let (document, diags) = mlops::spec::load::load_str(text);
    assert!(diags.is_empty(), "{diags:?}");
    document.unwrap().value
}

/// The example, asking for GitLab CI as well: (project folder, `.gitlab-ci.yml`).
fn example() -> (tempfile::TempDir, String) {
    let project = common::project(EXAMPLE);
    let config = project.path().join("mlops.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "targets: [github-actions]",
        "targets: [github-actions, gitlab-ci]",
    );
    std::fs::write(&config, text).unwrap();
    render_in_place(&config);
    let pipeline = std::fs::read_to_string(project.path().join(".gitlab-ci.yml")).unwrap();
    (project, pipeline)
}

fn hostile() -> (tempfile::TempDir, String, Value) {
    let project = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(HOSTILE).unwrap().replace(
        "ci:\n  github_action:",
        "ci:\n  targets: [github-actions, gitlab-ci]\n  github_action:",
    );
    let config = project.path().join("mlops.yaml");
    std::fs::write(&config, &text).unwrap();
    render_in_place(&config);
    let pipeline = std::fs::read_to_string(project.path().join(".gitlab-ci.yml")).unwrap();
    (project, pipeline, parse(&text))
}

fn jobs(pipeline: &Value) -> Vec<(&str, &Value)> {
    pipeline
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.contains(':'))
        .map(|(name, job)| (name.as_str(), job))
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn example_pipeline() {
    let (_project, text) = example();
    insta::assert_snapshot!("example_gitlab_ci", text);
}

#[test]
fn runnable_fixture_pipeline() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::copy(RUNNABLE, &config).unwrap();
    let said = render_in_place(&config);
    // GitLab keeps schedules, approvals and the token outside YAML: render says how to set them.
    assert!(
        said.contains("glab schedule create --cron '0 4 * * *' --cronTimeZone UTC --ref 'main'"),
        "{said}"
    );
    assert!(
        said.contains("--variable 'MLOPS_SCHEDULE:0 4 * * *'"),
        "{said}"
    );
    assert!(
        said.contains("protected environment `production` with 1 required approval"),
        "{said}"
    );
    assert!(said.contains("`MLOPS_GITLAB_TOKEN`, masked"), "{said}");
    let text = std::fs::read_to_string(project.path().join(".gitlab-ci.yml")).unwrap();
    insta::assert_snapshot!("runnable_gitlab_ci", text);
}

/// Duplicate pipelines never start: a merge request's pipeline, or its branch's when no merge
/// request is open, never both (gitlab-ci-local does not apply `when: never` here).
#[test]
fn one_pipeline_per_change() {
    let (_project, text) = example();
    let pipeline = parse(&text);
    let rules = pipeline["workflow"]["rules"].as_array().unwrap();
    let conditions: Vec<(&str, Option<&str>)> = rules
        .iter()
        .map(|rule| (rule["if"].as_str().unwrap(), rule["when"].as_str()))
        .collect();
    assert_eq!(
        conditions,
        [
            ("$CI_PIPELINE_SOURCE == \"merge_request_event\"", None),
            (
                "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS",
                Some("never")
            ),
            ("$CI_COMMIT_BRANCH", None),
        ]
    );
    assert_eq!(
        pipeline["workflow"]["auto_cancel"]["on_new_commit"],
        "interruptible"
    );
}

/// Branch pipelines compare with the default branch (a new branch's first push would count
/// every file), the default branch with the previous push; deploys run only on the default
/// branch, are never interruptible, and wait for the check; approval-gated ones block as
/// manual jobs; tiers are ones GitLab accepts (its schema takes any string).
#[test]
fn jobs_run_where_and_when_they_should() {
    let (_project, text) = example();
    let pipeline = parse(&text);
    let tiers = ["production", "staging", "testing", "development", "other"];
    for (name, job) in jobs(&pipeline) {
        let rules = job["rules"].as_array().cloned().unwrap_or_default();
        let deploy = name.starts_with("mlops:deploy-");
        if deploy {
            assert_eq!(job["interruptible"], false, "{name}");
            assert!(
                strings(&Value::Array(
                    job["needs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|need| need["job"].clone())
                        .collect()
                ))
                .contains(&"mlops:check"),
                "{name} must wait for the check"
            );
            assert!(tiers.contains(&job["environment"]["deployment_tier"].as_str().unwrap()));
            assert!(
                job["resource_group"]
                    .as_str()
                    .unwrap()
                    .starts_with("mlops-deploy-")
            );
            for rule in &rules {
                let condition = rule["if"].as_str().unwrap();
                assert!(
                    condition.contains("$CI_COMMIT_BRANCH == \"main\""),
                    "{name}: {condition}"
                );
                assert!(!condition.contains("merge_request_event"), "{name}");
                let gated = name == "mlops:deploy-churn-production";
                assert_eq!(rule["when"].as_str() == Some("manual"), gated, "{name}");
                if gated {
                    assert_eq!(rule["allow_failure"], false, "{name}");
                }
            }
            continue;
        }
        for rule in &rules {
            let condition = rule["if"].as_str().unwrap();
            if condition.contains("$CI_COMMIT_BRANCH != \"main\"") {
                assert_eq!(rule["changes"]["compare_to"], "refs/heads/main", "{name}");
            } else {
                assert!(rule["changes"].get("compare_to").is_none(), "{name}");
            }
        }
        assert_ne!(job["interruptible"], false, "{name}");
    }
    // Retries only on what the runner or scheduler broke.
    assert_eq!(
        strings(&pipeline["default"]["retry"]["when"]),
        ["runner_system_failure", "scheduler_failure"]
    );
    // GitHub's runner labels are no GitLab runner's tags.
    let training = &pipeline["mlops:train-churn"];
    assert_eq!(strings(&training["tags"]), ["gpu"]);
}

/// A job runs when its own inputs changed, or an ancestor's (whose artifacts it unpacks), or a
/// descendant's (which needs its artifacts): the data step watches the training's code.
#[test]
fn changes_cover_ancestors_and_descendants() {
    let (_project, text) = example();
    let pipeline = parse(&text);
    let changes = |job: &str| -> Vec<String> {
        pipeline[job]["rules"][0]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|path| path.as_str().unwrap().to_owned())
            .collect()
    };
    let data = changes("mlops:data-features");
    for expected in [
        "src/features/**/*",
        "train.py",
        "src/model/**/*",
        "params.yaml",
        "mlops.yaml",
        ".gitlab-ci.yml",
    ] {
        assert!(
            data.contains(&expected.to_owned()),
            "{expected} in {data:?}"
        );
    }
    assert_eq!(changes("mlops:train-churn"), data);
    // Gates publish their rules as a JUnit report; the check its findings as Code Quality.
    assert_eq!(
        pipeline["mlops:gate-churn-quality"]["artifacts"]["reports"]["junit"],
        ".mlops-ci/gate-churn-quality.xml"
    );
    assert_eq!(
        pipeline["mlops:gate-churn-quality"]["artifacts"]["when"],
        "always"
    );
    assert_eq!(
        pipeline["mlops:check"]["artifacts"]["reports"]["codequality"],
        ".mlops-ci/codequality.json"
    );
}

#[test]
fn hostile_pipeline() {
    let (_project, text, _) = hostile();
    insta::assert_snapshot!("hostile_gitlab_ci", text);
}

/// Every user string reaches YAML through one quoting path; GitLab passes `script` and
/// `before_script` entries to the shell untouched, so they are the user's commands byte for
/// byte.
#[test]
fn hostile_commands_arrive_byte_for_byte() {
    let (_project, text, config) = hostile();
    let pipeline = parse(&text);
    let setup = config["defaults"]["setup"].as_str().unwrap();
    assert_eq!(strings(&pipeline["default"]["before_script"]), [setup]);
    let run = config["training"]["model"]["run"].as_str().unwrap();
    assert!(
        strings(&pipeline["mlops:train-model"]["script"]).contains(&run),
        "{text}"
    );
    let data = config["data"]["raw"]["run"].as_str().unwrap();
    assert!(strings(&pipeline["mlops:data-raw"]["script"]).contains(&data));
    // Paths with `$` reach `changes` as `*` (GitLab would expand `$NAME`; `*` matches it).
    let changes = pipeline["mlops:data-raw"]["rules"][0]["changes"].to_string();
    assert!(!changes.contains('$'), "{changes}");
}

/// Several configs in one repository: one file each under .gitlab/mlops/, for the root file to
/// include; job names carry the folder, so they never collide; every command runs in the
/// config's folder; the stage list is the same in every file (included files replace each
/// other's `stages`).
#[test]
fn several_configs_in_one_repository() {
    let project = tempfile::tempdir().unwrap();
    // The repository's root is where GitLab reads its file from.
    common::git(project.path(), &["init", "-q"]);
    let mut stages = Vec::new();
    let mut names = Vec::new();
    for folder in ["ml/churn", "ml/fraud"] {
        let dir = project.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(RUNNABLE, dir.join("mlops.yaml")).unwrap();
        let said = render_in_place(&dir.join("mlops.yaml"));
        let file = format!(".gitlab/mlops/{}.yml", folder.replace('/', "-"));
        assert!(
            said.contains(&format!("`include: [{{ local: {file} }}]`")),
            "{said}"
        );
        let text = std::fs::read_to_string(project.path().join(&file)).unwrap();
        if folder == "ml/churn" {
            insta::assert_snapshot!("folder_gitlab_ci", text);
        }
        let pipeline = parse(&text);
        assert!(
            pipeline.get("workflow").is_none(),
            "the root file owns `workflow`"
        );
        stages.push(pipeline["stages"].clone());
        for (name, job) in jobs(&pipeline) {
            let prefix = format!("mlops-{}:", folder.replace('/', "-"));
            assert!(name.starts_with(&prefix), "{name}");
            names.push(name.to_owned());
            // No `default:`: included files' defaults would merge into one another's.
            assert!(pipeline.get("default").is_none());
            let before = &job["before_script"];
            assert_eq!(job["retry"]["when"][0], "runner_system_failure", "{name}");
            assert!(
                strings(before).contains(&format!("cd -- '{folder}'").as_str()),
                "{name}: {before}"
            );
        }
    }
    assert_eq!(stages[0], stages[1]);
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    assert!(!project.path().join(".gitlab-ci.yml").exists());
}

/// The monorepo config of `common::many_models`, for this target.
fn many_models(models: usize) -> String {
    common::many_models(models, "  targets: [gitlab-ci]\n", "")
}

/// At 100 models no job needs more than GitLab's 50 jobs and no `changes` list holds more than
/// its 50 patterns: the shared data step's (every model's inputs) is split across rules, and the
/// report follows the stages instead of needing every gate.
#[test]
fn a_hundred_models_stay_within_gitlabs_limits() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::write(&config, many_models(100)).unwrap();
    render_in_place(&config);
    let text = std::fs::read_to_string(project.path().join(".gitlab-ci.yml")).unwrap();
    insta::assert_snapshot!(
        "hundred_models_gitlab_ci_head",
        text.lines().take(200).collect::<Vec<_>>().join("\n")
    );
    let pipeline = parse(&text);
    for (name, job) in jobs(&pipeline) {
        if let Some(needs) = job.get("needs") {
            assert!(needs.as_array().unwrap().len() <= 50, "{name}");
        }
        for rule in job["rules"].as_array().cloned().unwrap_or_default() {
            let changes = &rule["changes"];
            let paths = changes.get("paths").unwrap_or(changes);
            if let Some(paths) = paths.as_array() {
                assert!(paths.len() <= 50, "{name}: {} patterns", paths.len());
            }
        }
    }
    assert!(pipeline["mlops:report"].get("needs").is_none());
    // The shared step watches all 100 models' inputs: 100 * 2 + 2 patterns in 5 rules per event.
    let shared: Vec<&Value> = pipeline["mlops:data-shared"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["if"] == "$CI_PIPELINE_SOURCE == \"merge_request_event\"")
        .collect();
    assert_eq!(shared.len(), 3, "102 patterns in lists of at most 50");
    let total: usize = shared
        .iter()
        .map(|rule| rule["changes"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 102);
    // One model's jobs watch only what that model (and the shared step) read.
    let one = pipeline["mlops:train-model-7"]["rules"][0]["changes"].to_string();
    assert!(
        one.contains("src/model_7/**/*") && !one.contains("src/model_8/"),
        "{one}"
    );
}

/// YAML anchors and aliases in the config, `${VAR}` and `$$` in commands: the pipeline holds
/// the resolved commands, byte for byte, and no anchor or alias of its own.
#[test]
fn anchors_and_variables_in_commands_arrive_as_written() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::write(
        &config,
        r#"version: 1
project: anchors
ci: { targets: [gitlab-ci] }
defaults:
  setup: &prep "export A='${HOME}' B=\"$(id -u)\" # &not-an-anchor *nor-alias"
data:
  raw:
    run: &cmd "echo \"${CI_JOB_TOKEN:-none}\" '$$' && printf '%s\n' '*alias &anchor' > raw.txt"
    outputs: [raw.txt]
training:
  model:
    needs: [raw]
    run: *cmd
    metrics: m.json
"#,
    )
    .unwrap();
    render_in_place(&config);
    let text = std::fs::read_to_string(project.path().join(".gitlab-ci.yml")).unwrap();
    let pipeline = parse(&text);
    let command = "echo \"${CI_JOB_TOKEN:-none}\" '$$' && printf '%s\n' '*alias &anchor' > raw.txt";
    assert_eq!(
        strings(&pipeline["default"]["before_script"]),
        ["export A='${HOME}' B=\"$(id -u)\" # &not-an-anchor *nor-alias"]
    );
    assert!(strings(&pipeline["mlops:data-raw"]["script"]).contains(&command));
    assert!(strings(&pipeline["mlops:train-model"]["script"]).contains(&command));
    // Every value is a quoted scalar: nothing in the file is an anchor, an alias or a tag.
    for line in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
    {
        let value = line.trim_start().trim_start_matches("- ");
        let value = value.split_once(": ").map_or(value, |(_, value)| value);
        assert!(
            !value.starts_with(['&', '*', '!']),
            "unquoted YAML syntax: {line}"
        );
    }
}
