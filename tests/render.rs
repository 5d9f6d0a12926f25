//! The generated GitHub workflow: golden files (read by hand before accepting), and the proof
//! that no string from a config can break the YAML, smuggle in a GitHub expression, or reach a
//! shell unquoted.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn/mlops.yaml");
const HOSTILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/render/hostile.yaml"
);
const WORKFLOW: &str = ".github/workflows/mlops.yml";

/// Render `config` into a fresh folder and return (folder, workflow text).
fn render(config: &str) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .args(["render", config, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.path().join(WORKFLOW)).unwrap();
    (out, text)
}

fn parse(text: &str) -> serde_json::Value {
    let (document, diags) = mlops::spec::load::load_str(text);
    assert!(diags.is_empty(), "{diags:?}");
    document.unwrap().value
}

/// The example names no `ci.github_action`, so its workflow pins this build's action, whose
/// commit changes with every commit of mlops: the golden file shows it as a placeholder, after
/// checking that it is there.
fn with_build_action_as_placeholder(text: &str) -> String {
    let action = mlops::build_info::default_github_action()
        .expect("the tests are built from a git checkout, so the build knows its commit");
    let commit = mlops::build_info::commit().unwrap();
    assert!(text.contains(&format!("uses: {action}\n")), "{text}");
    assert!(text.contains(&format!("commit: \"{commit}\"\n")), "{text}");
    text.replace(commit, "<the commit this mlops was built from>")
}

#[test]
fn example_workflow() {
    let (_out, text) = render(EXAMPLE);
    insta::assert_snapshot!("example_workflow", with_build_action_as_placeholder(&text));
}

#[test]
fn example_fork_comment_workflow() {
    let (out, _) = render(EXAMPLE);
    let text =
        std::fs::read_to_string(out.path().join(".github/workflows/mlops-comment.yml")).unwrap();
    insta::assert_snapshot!(
        "example_fork_comment_workflow",
        with_build_action_as_placeholder(&text)
    );
}

#[test]
fn rendering_is_deterministic() {
    assert_eq!(render(EXAMPLE).1, render(EXAMPLE).1);
    assert_eq!(render(HOSTILE).1, render(HOSTILE).1);
}

#[test]
fn hostile_workflow() {
    let (_out, text) = render(HOSTILE);
    insta::assert_snapshot!("hostile_workflow", text);
}

/// Every `${{ ... }}` in the output is one the template wrote, or the defused form of a user's
/// `${{`; none comes from the config.
#[test]
fn no_expression_comes_from_the_config() {
    let (_out, text) = render(HOSTILE);
    // Every expression of the workflow, whole, with how often it appears. The one that
    // carries a config value (the branch, as an expression string literal) is written out in
    // full: a branch that closed its quotes would change it.
    let expected: std::collections::BTreeMap<&str, usize> = [
        ("!cancelled() && github.event_name == 'pull_request'", 1),
        ("!cancelled() && needs.plan.result == 'success' && needs.check.result == 'success' && github.event_name != 'pull_request' && github.ref == 'refs/heads/release/v2.0_x-y' && needs.plan.outputs.deploy-4 != '[]'", 1),
        ("!cancelled() && needs.plan.result == 'success' && needs.plan.outputs.data-1 != '[]'", 1),
        ("!cancelled() && needs.plan.result == 'success' && needs.plan.outputs.gate-3 != '[]'", 1),
        ("!cancelled() && needs.plan.result == 'success' && needs.plan.outputs.train-2 != '[]'", 1),
        ("'${{'", 4),
        ("env.MLOPS_STEP", 4),
        ("format('data-{0}', matrix.node)", 1),
        ("format('data: {0}', matrix.node)", 1),
        ("format('deploy-{0}', matrix.node)", 1),
        ("format('deploy: {0}', matrix.node)", 1),
        ("format('gate-{0}', matrix.node)", 1),
        ("format('gate: {0}', matrix.node)", 1),
        ("format('mlops-deploy-{0}-{1}', 'staging', matrix.node)", 1),
        ("format('mlops-{0}-{1}', github.workflow, github.ref)", 1),
        ("format('train-{0}', matrix.node)", 1),
        ("format('train: {0}', matrix.node)", 1),
        ("fromJSON(needs.plan.outputs.data-1)", 1),
        ("fromJSON(needs.plan.outputs.deploy-4)", 1),
        ("fromJSON(needs.plan.outputs.gate-3)", 1),
        ("fromJSON(needs.plan.outputs.train-2)", 1),
        ("github.event.pull_request.base.sha || github.event.before || github.sha", 1),
        ("github.event.pull_request.base.sha || github.event.before", 1),
        ("github.event.pull_request.base.sha", 2),
        ("github.event.pull_request.head.repo.full_name == github.repository", 1),
        ("github.event.schedule", 1),
        ("github.event_name == 'pull_request'", 1),
        ("github.event_name", 1),
        ("github.token", 2),
        ("inputs.retrain", 1),
        ("runner.temp", 14),
        ("secrets.TOKEN", 2),
        ("steps.affected.outputs.data-1", 1),
        ("steps.affected.outputs.deploy-4", 1),
        ("steps.affected.outputs.gate-3", 1),
        ("steps.affected.outputs.train-2", 1),
        ("steps.inputs.outputs.pattern != ''", 4),
        ("steps.inputs.outputs.pattern", 4),
    ]
    .into_iter()
    .collect();
    let mut found: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let end = after.find("}}").expect("every expression is closed");
        *found.entry(after[..end].trim()).or_default() += 1;
        rest = &after[end + 2..];
    }
    assert_eq!(found, expected);
    assert!(
        !text.contains("${{ github.token }}$(id)") && !text.contains("'${{ github.token }}'"),
        "defused everywhere"
    );
    // The template's own `${{ github.token }}` appears only as a step's GITHUB_TOKEN / GH_TOKEN.
    for line in text
        .lines()
        .filter(|line| line.contains("${{ github.token"))
    {
        let line = line.trim();
        assert!(
            line == "GITHUB_TOKEN: ${{ github.token }}" || line == "GH_TOKEN: ${{ github.token }}",
            "{line}"
        );
    }
    assert!(
        !text.contains("${{ secrets.GITHUB_TOKEN"),
        "defused everywhere"
    );
}

/// What GitHub will hand the shell: the defused expression evaluates to `${{` itself.
fn as_github_evaluates(script: &str) -> String {
    script.replace("${{ '${{' }}", "${{")
}

/// The scripts the plan job writes for every step of `config` (`mlops affected --all
/// --format github-output --scripts DIR`), by path under DIR.
fn step_scripts(config: &str) -> std::collections::BTreeMap<String, String> {
    let folder = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::copy(config, project.path().join("mlops.yaml")).unwrap();
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(project.path())
        .args([
            "affected",
            "--all",
            "--format",
            "github-output",
            "--scripts",
        ])
        .arg(folder.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut scripts = std::collections::BTreeMap::new();
    for step in std::fs::read_dir(folder.path()).unwrap() {
        let step = step.unwrap();
        for file in std::fs::read_dir(step.path()).unwrap() {
            let file = file.unwrap();
            scripts.insert(
                format!(
                    "{}/{}",
                    step.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                ),
                std::fs::read_to_string(file.path()).unwrap(),
            );
        }
    }
    scripts
}

#[test]
fn commands_arrive_byte_for_byte() {
    let (_out, text) = render(HOSTILE);
    let workflow = parse(&text);
    let config = parse(&std::fs::read_to_string(HOSTILE).unwrap());
    let scripts = step_scripts(HOSTILE);
    let setup = config["defaults"]["setup"].as_str().unwrap();
    let run = config["training"]["model"]["run"].as_str().unwrap();
    assert_eq!(
        scripts["train-model/command.sh"],
        format!("{setup}\n{run}\n")
    );
    assert_eq!(
        as_github_evaluates(
            workflow["jobs"]["train-2"]["container"]["image"]
                .as_str()
                .unwrap()
        ),
        config["defaults"]["image"].as_str().unwrap()
    );
}

/// Run the `tar` line of the data step's script with `tar` replaced by a function that prints
/// its arguments: each output path arrives as one argument, exactly as written, and nothing
/// else runs.
#[test]
fn file_names_reach_the_shell_as_single_words() {
    let config = parse(&std::fs::read_to_string(HOSTILE).unwrap());
    let scripts = step_scripts(HOSTILE);
    let script = &scripts["data-raw/run.sh"];
    // The command spans lines: one output's name holds a newline.
    let start = script.find("\ntar -cf").unwrap() + 1;
    let end = script.find("\necho ok").unwrap();
    let pack = &script[start..end];
    let work = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "tar() {{ printf '%s\\0' \"$@\"; }}\nout=/out\n{pack}"
        ))
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let arguments: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let mut expected = vec![
        "-cf".to_owned(),
        "/out/data-raw.tar".to_owned(),
        "--".to_owned(),
    ];
    expected.extend(
        config["data"]["raw"]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|path| path.as_str().unwrap().to_owned()),
    );
    assert_eq!(arguments, expected);
    assert!(
        std::fs::read_dir(work.path()).unwrap().next().is_none(),
        "no command ran (`$(touch pwned)` stayed a name)"
    );
}

fn write_override(root: &Path, text: &str) -> PathBuf {
    let dir = root.join(".mlops/templates");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("github-actions.yml.j2");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_template_in_mlops_templates_overrides_the_embedded_one() {
    let out = tempfile::tempdir().unwrap();
    write_override(
        out.path(),
        "name: {{ name | yaml_str }}\non: push\njobs:\n{% for job in jobs %}  # {{ job.id }}\n{% endfor %}  x:\n    runs-on: ubuntu-latest\n    steps: [{run: \"true\"}]\n",
    );
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .args(["render", EXAMPLE, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = std::fs::read_to_string(out.path().join(WORKFLOW)).unwrap();
    assert!(text.contains("  # train-2\n"), "{text}");
    assert!(text.starts_with("# Generated by mlops from mlops.yaml.\n"));
}

#[test]
fn a_broken_override_fails_with_its_name_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    write_override(out.path(), "name: {{ no_such_value }}\n");
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .args(["render", EXAMPLE, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("template `github-actions.yml.j2` failed"),
        "{stderr}"
    );
    assert!(stderr.contains("no_such_value"), "{stderr}");
    assert!(!out.path().join(WORKFLOW).exists());

    write_override(out.path(), "name: [unclosed\n");
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .args(["render", EXAMPLE, "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("produced invalid YAML"), "{stderr}");
}

/// GitHub keeps one running and one pending job per concurrency group and cancels every other
/// pending one, so two deploy jobs of one run in one group would cancel a deploy without a
/// word. The serving fixture sends three models to staging in one run.
#[test]
fn no_two_jobs_of_a_run_share_a_concurrency_group() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/serving/mlops.yaml"
    );
    let (_out, text) = render(config);
    let workflow = parse(&text);
    let jobs = workflow["jobs"].as_object().unwrap();
    let deploys: Vec<&serde_json::Value> = jobs
        .values()
        .filter(|job| job.get("environment").is_some())
        .collect();
    assert!(!deploys.is_empty());
    // One group per deployment (a matrix instance's node) and environment: two instances of a
    // run never share one, since node names are unique.
    for job in &deploys {
        let environment = job["environment"].as_str().unwrap();
        assert_eq!(
            job["concurrency"]["group"],
            format!("${{{{ format('mlops-deploy-{{0}}-{{1}}', '{environment}', matrix.node) }}}}")
        );
        assert!(
            job["strategy"]["matrix"]["node"]
                .as_str()
                .unwrap()
                .contains("fromJSON(needs.plan.outputs.")
        );
        assert_eq!(job["concurrency"]["cancel-in-progress"], false);
    }
    assert_eq!(
        jobs.values()
            .filter(|job| job.get("concurrency").is_some())
            .count(),
        deploys.len()
    );
}

/// The monorepo config of `common::many_models`, for this target.
fn many_models(models: usize) -> String {
    common::many_models(
        models,
        "  github_action: OWNER/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090\n",
        "",
    )
}

/// GitHub starts no run of a workflow file over 500 KB and makes at most 256 jobs of a matrix:
/// at 1,000 models the file stays far under the first, and the plan job never publishes more
/// than 256 names for one job, however many run.
#[test]
fn a_thousand_models_stay_within_githubs_limits() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::write(&config, many_models(1000)).unwrap();
    let (_out, text) = render(config.to_str().unwrap());
    assert!(text.len() < 150_000, "{} bytes", text.len());
    let small = project.path().join("small.yaml");
    std::fs::write(&small, many_models(10)).unwrap();
    let (_out, small_text) = render(small.to_str().unwrap());
    // Growth per model: its `paths` filters (pull_request and push), and a few jobs per 256.
    let per_model = (text.len() - small_text.len()) / 990;
    assert!(per_model < 100, "{per_model} bytes per model");

    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(project.path())
        .args(["affected", "--all", "--format", "github-output"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let workflow = parse(&text);
    let mut started = 0;
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let (job, names) = line.split_once('=').unwrap();
        let names: Vec<String> = serde_json::from_str(names).unwrap();
        assert!(names.len() <= 256, "{job}: {}", names.len());
        assert!(workflow["jobs"].get(job).is_some(), "{job} is in the file");
        started += names.len();
    }
    assert_eq!(started, 1 + 3 * 1000, "every step, once");
}

/// Steps of one level and kind that differ in what a job fixes (here the runner) are separate
/// stage jobs, and the plan job puts each name in the job whose runner it asked for.
#[test]
fn steps_that_differ_in_runner_get_their_own_stage_jobs() {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::write(
        &config,
        "version: 1\nproject: runners\nci:\n  github_action: OWNER/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090\ntraining:\n  cpu-model:\n    run: python cpu.py\n  gpu-model:\n    run: python gpu.py\n    runner: [self-hosted, gpu]\n  other-cpu-model:\n    run: python other.py\n",
    )
    .unwrap();
    let (_out, text) = render(config.to_str().unwrap());
    let workflow = parse(&text);
    assert_eq!(
        workflow["jobs"]["train-1-1"]["runs-on"],
        serde_json::json!(["ubuntu-latest"])
    );
    assert_eq!(
        workflow["jobs"]["train-1-2"]["runs-on"],
        serde_json::json!(["self-hosted", "gpu"])
    );
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(project.path())
        .args(["affected", "--all", "--format", "github-output"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "train-1-1=[\"cpu-model\",\"other-cpu-model\"]\ntrain-1-2=[\"gpu-model\"]\n"
    );
}
