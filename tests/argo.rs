//! The generated Argo Workflows manifests: golden files (read by hand before accepting), the
//! rules of Argo's `workflow/validate/validate.go` that neither the CRD schemas nor
//! argo-tugboat check, and (no cluster can start here) the DAG walked as Argo would walk it:
//! tasks in dependency order, each `when` applied, each container's command run through
//! `sh -c` in a fresh clone of the project, artifacts passed from producers to consumers as the
//! manifest declares them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
const MANIFEST: &str = "argo/mlops-workflow.yaml";

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
    let folder = config.parent().unwrap();
    std::fs::read_to_string(folder.join(MANIFEST)).unwrap()
}

/// The documents of a manifest file.
fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .map(|document| {
            let (parsed, diags) = mlops::spec::load::load_str(document);
            assert!(diags.is_empty(), "{diags:?}");
            parsed.unwrap().value
        })
        .collect()
}

fn with_argo(text: &str) -> String {
    text.replace(
        "targets: [github-actions]",
        "targets: [github-actions, argo-workflows]",
    )
}

fn example() -> String {
    let project = common::project(EXAMPLE);
    let config = project.path().join("mlops.yaml");
    std::fs::write(
        &config,
        with_argo(&std::fs::read_to_string(&config).unwrap()),
    )
    .unwrap();
    render_in_place(&config)
}

fn write_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let project = tempfile::tempdir().unwrap();
    let config = project.path().join("mlops.yaml");
    std::fs::write(&config, text).unwrap();
    (project, config)
}

fn hostile() -> (String, Value) {
    let text = std::fs::read_to_string(HOSTILE).unwrap().replace(
        "ci:\n  github_action:",
        "ci:\n  targets: [argo-workflows]\n  github_action:",
    );
    // Argo cannot escape `{{` in an image name, so validate refuses those (tested in
    // render_requirements); every other hostile string stays.
    let text = text.replace(
        "image: \"img\\\":${{ secrets.GITHUB_TOKEN }}\"",
        "image: \"img\\\":$(id)'x'\"",
    );
    let (_project, config) = write_config(&text);
    let (parsed, _) = mlops::spec::load::load_str(&text);
    (render_in_place(&config), parsed.unwrap().value)
}

fn gpu_config() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/argo/gpu.yaml"
    ))
    .unwrap()
}

/// The monorepo config of `common::many_models`, for this target.
fn many_models(models: usize) -> String {
    common::many_models(
        models,
        "  targets: [argo-workflows]\n",
        "    refresh: \"0 2 * * *\"\n",
    )
}

// ---- Argo's own rules (workflow/validate/validate.go @f016ad89), over the parsed manifests.

fn strings_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings_in(item, out)),
        Value::Object(map) => map.values().for_each(|item| strings_in(item, out)),
        _ => {}
    }
}

fn template_references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("every {{ closes");
        found.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    found
}

/// Every rule the CRD schema and argo-tugboat miss; returns the template document.
fn check_argo_rules(documents: &[Value]) -> &Value {
    let template = documents
        .iter()
        .find(|document| document["kind"] == "WorkflowTemplate")
        .expect("a WorkflowTemplate");
    let name = template["metadata"]["name"].as_str().unwrap();
    assert!(name.len() <= 52, "{name}");
    let spec = &template["spec"];
    let parameters: BTreeSet<&str> = spec["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    let templates: BTreeMap<&str, &Value> = spec["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|template| (template["name"].as_str().unwrap(), template))
        .collect();
    assert!(templates.contains_key(spec["entrypoint"].as_str().unwrap()));
    for (template_name, template) in &templates {
        let types = ["container", "script", "dag", "steps", "suspend", "resource"]
            .iter()
            .filter(|kind| template.get(**kind).is_some())
            .count();
        assert_eq!(types, 1, "exactly one template type: {template_name}");
        if template.get("activeDeadlineSeconds").is_some() {
            assert!(
                template.get("container").is_some() || template.get("script").is_some(),
                "activeDeadlineSeconds on a leaf template only: {template_name}"
            );
        }
        // Every `{{outputs.parameters.X}}` of a template (its metrics) is one of its outputs.
        let mut texts = Vec::new();
        strings_in(template, &mut texts);
        for reference in texts.iter().flat_map(|text| template_references(text)) {
            if let Some(parameter) = reference.strip_prefix("outputs.parameters.") {
                assert!(
                    template["outputs"]["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|output| output["name"] == parameter),
                    "{template_name}: {reference}"
                );
            }
        }
    }
    let dag = templates[spec["entrypoint"].as_str().unwrap()]["dag"]["tasks"]
        .as_array()
        .unwrap();
    let tasks: BTreeMap<&str, &Value> = dag
        .iter()
        .map(|task| (task["name"].as_str().unwrap(), task))
        .collect();
    assert_eq!(tasks.len(), dag.len(), "task names are unique");
    for (task_name, task) in &tasks {
        assert!(
            !task_name.starts_with(|c: char| c.is_ascii_digit()),
            "a task name cannot begin with a digit: {task_name}"
        );
        assert!(
            !(task.get("depends").is_some() && task.get("dependencies").is_some()),
            "{task_name} mixes depends and dependencies"
        );
        let template = templates
            .get(task["template"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{task_name}: its template does not exist"));
        for dependency in task["dependencies"].as_array().into_iter().flatten() {
            assert!(
                tasks.contains_key(dependency.as_str().unwrap()),
                "{task_name} depends on a task that does not exist: {dependency}"
            );
        }
        // Every input artifact has a location or is given by the task.
        let given: BTreeSet<&str> = task["arguments"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|artifact| artifact["name"].as_str().unwrap())
            .collect();
        for artifact in template["inputs"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let artifact_name = artifact["name"].as_str().unwrap();
            assert!(
                artifact.get("git").is_some() || given.contains(artifact_name),
                "{task_name}: input artifact {artifact_name} has no source"
            );
        }
        // Every `{{...}}` of the task resolves.
        let mut texts = Vec::new();
        strings_in(task, &mut texts);
        for reference in texts.iter().flat_map(|text| template_references(text)) {
            let parts: Vec<&str> = reference.split('.').collect();
            match parts.as_slice() {
                ["workflow", "parameters", parameter] => {
                    assert!(parameters.contains(parameter), "{task_name}: {reference}");
                }
                ["tasks", producer, "outputs", kind, output] => {
                    let producer_task = tasks
                        .get(producer)
                        .unwrap_or_else(|| panic!("{task_name}: {reference}: no such task"));
                    let listed = task["dependencies"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|item| item == producer));
                    assert!(
                        listed,
                        "{task_name} reads {producer} without waiting for it"
                    );
                    let producer_template = templates[producer_task["template"].as_str().unwrap()];
                    assert!(
                        producer_template["outputs"][kind]
                            .as_array()
                            .is_some_and(|list| list.iter().any(|item| item["name"] == *output)),
                        "{task_name}: {reference}: no such output"
                    );
                }
                _ => panic!("{task_name}: {{{{{reference}}}}} resolves to nothing"),
            }
        }
    }
    // Templates' own `{{...}}`: only workflow parameters (and a template's own outputs).
    for (template_name, template) in &templates {
        let mut texts = Vec::new();
        strings_in(&json_without_dag(template), &mut texts);
        for reference in texts.iter().flat_map(|text| template_references(text)) {
            let known = reference
                .strip_prefix("workflow.parameters.")
                .is_some_and(|parameter| parameters.contains(parameter))
                || reference.starts_with("outputs.parameters.");
            assert!(
                known,
                "{template_name}: {{{{{reference}}}}} resolves to nothing"
            );
        }
    }
    // Parameter values are within their enums (the approval's default).
    for template in templates.values() {
        for parameter in template["inputs"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let (Some(allowed), Some(default)) =
                (parameter["enum"].as_array(), parameter.get("default"))
            {
                assert!(allowed.contains(default), "{parameter}");
            }
        }
    }
    for document in documents
        .iter()
        .filter(|document| document["kind"] == "CronWorkflow")
    {
        let cron_name = document["metadata"]["name"].as_str().unwrap();
        assert!(cron_name.len() <= 52, "{cron_name}");
        let spec = &document["spec"];
        assert!(spec.get("schedule").is_none(), "v4 removed `schedule`");
        assert!(
            spec["schedules"]
                .as_array()
                .is_some_and(|list| !list.is_empty())
        );
        assert_eq!(spec["workflowSpec"]["workflowTemplateRef"]["name"], name);
        for parameter in spec["workflowSpec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
        {
            assert!(
                parameters.contains(parameter["name"].as_str().unwrap()),
                "{parameter}"
            );
        }
    }
    template
}

fn json_without_dag(template: &Value) -> Value {
    let mut copy = template.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("dag");
    }
    copy
}

fn decode(text: &str) -> String {
    let output = std::process::Command::new("sh")
        .args(["-c", "printf '%s' \"$1\" | base64 -d", "sh", text])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

fn template_env<'a>(template: &'a Value, name: &str) -> Option<&'a str> {
    template["container"]["env"]
        .as_array()?
        .iter()
        .find(|env| env["name"] == name)?["value"]
        .as_str()
}

#[test]
fn example_manifests() {
    let text = example();
    check_argo_rules(&documents(&text));
    insta::assert_snapshot!("example_argo", text);
}

#[test]
fn gpu_training_manifests() {
    let (_project, config) = write_config(&gpu_config());
    let text = render_in_place(&config);
    let documents = documents(&text);
    let template = check_argo_rules(&documents);
    let spec = &template["spec"];
    assert_eq!(spec["serviceAccountName"], "mlops-runner");
    assert_eq!(spec["nodeSelector"]["pool"], "gpu");
    assert_eq!(
        spec["artifactRepositoryRef"]["configMap"],
        "artifact-repositories"
    );
    let training = spec["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|template| template["name"] == "train-vision")
        .unwrap();
    let resources = &training["container"]["resources"];
    assert_eq!(resources["requests"]["nvidia.com/gpu"], 2);
    assert_eq!(resources["limits"]["nvidia.com/gpu"], 2);
    assert_eq!(resources["requests"]["cpu"], "8");
    assert_eq!(resources["limits"]["memory"], "32Gi");
    assert_eq!(training["tolerations"][0]["key"], "nvidia.com/gpu");
    assert_eq!(training["activeDeadlineSeconds"], 240 * 60);
    assert_eq!(training["retryStrategy"]["retryPolicy"], "OnError");
    assert_eq!(training["container"]["image"], "ghcr.io/acme/vision:2.1");
    insta::assert_snapshot!("gpu_argo", text);
}

#[test]
fn hostile_manifests_carry_every_command_out_of_argos_reach() {
    let (text, config) = hostile();
    let documents = documents(&text);
    let template = check_argo_rules(&documents);
    insta::assert_snapshot!("hostile_argo", text);
    // No `{{` but the manifest's own references (checked above to resolve): every user string
    // that holds one travels encoded.
    let training = template["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|template| template["name"] == "train-model")
        .unwrap();
    let script = decode(template_env(training, "MLOPS_SCRIPT").unwrap());
    let run = config["training"]["model"]["run"].as_str().unwrap();
    let setup = config["defaults"]["setup"].as_str().unwrap();
    assert!(
        script.contains(&format!("{setup}\n(\n{run}\n)\n")),
        "{script}"
    );
    assert!(run.contains("${{"), "the hostile command holds a `{{{{`");
}

/// Argo's CRD allows 200 templates and 200 tasks per dag: 60 models (181 tasks) make one dag
/// and one schedule; 100 models (301 tasks) are refused by `validate`, saying what to do, so a
/// config that validates never renders a manifest the cluster refuses.
#[test]
fn sixty_models_make_one_dag_and_a_hundred_are_refused_by_validate() {
    let (_project, config) = write_config(&many_models(60));
    let text = render_in_place(&config);
    let documents = documents(&text);
    let template = check_argo_rules(&documents);
    let tasks = template["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap();
    assert_eq!(tasks.len(), 1 + 60 * 3);
    assert!(template["spec"]["templates"].as_array().unwrap().len() <= 200);
    assert_eq!(documents.len(), 2, "one CronWorkflow for the one refresh");
    // The schedule refreshes the shared data: everything follows it.
    let scheduled = documents[1]["spec"]["workflowSpec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        scheduled
            .iter()
            .all(|parameter| parameter["value"] == "true")
    );
    insta::assert_snapshot!(
        "sixty_models_argo_head",
        text.lines().take(120).collect::<Vec<_>>().join("\n")
    );
    let (_project, config) = write_config(&many_models(100));
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .arg("validate")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "this config makes 301 Argo tasks; Argo's WorkflowTemplate holds at most 199"
        ),
        "{stderr}"
    );
}

// ---- The walk.

/// What a walked task left.
#[derive(Default)]
struct Left {
    parameters: BTreeMap<String, String>,
    artifacts: BTreeMap<String, PathBuf>,
}

struct Walk {
    /// Tasks that ran, in order, with whether they succeeded.
    ran: Vec<(String, bool)>,
    /// Tasks whose `when` was false (their dependants go on).
    skipped: Vec<String>,
    /// Tasks not run because a dependency failed or was itself omitted.
    omitted: Vec<String>,
    /// The output parameters each task that ran left.
    parameters: BTreeMap<String, BTreeMap<String, String>>,
}

/// `{{...}}` of a task's `when` replaced; then `a == b && c == d` evaluated.
fn evaluate(
    when: &str,
    parameters: &BTreeMap<String, String>,
    left: &BTreeMap<String, Left>,
) -> bool {
    let mut text = when.to_owned();
    for reference in template_references(when) {
        let value = if let Some(parameter) = reference.strip_prefix("workflow.parameters.") {
            parameters[parameter].clone()
        } else {
            let parts: Vec<&str> = reference.split('.').collect();
            let ["tasks", task, "outputs", "parameters", name] = parts.as_slice() else {
                panic!("{reference}");
            };
            left.get(*task)
                .and_then(|left| left.parameters.get(*name))
                .cloned()
                .unwrap_or_default()
        };
        text = text.replace(&format!("{{{{{reference}}}}}"), &value);
    }
    text.split("&&").all(|clause| {
        let (left, right) = clause.split_once("==").expect("a comparison");
        left.trim() == right.trim()
    })
}

/// Walk the template's dag as Argo does. `origin` is the bare repository every task's source is
/// cloned from; `bin` holds `mlops` and a stub `aws`; `supplied` answers suspend steps.
fn walk(
    template: &Value,
    overrides: &BTreeMap<&str, &str>,
    origin: &Path,
    bin: &Path,
    supplied: &BTreeMap<&str, &str>,
) -> Walk {
    let spec = &template["spec"];
    let mut parameters: BTreeMap<String, String> = spec["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| {
            (
                parameter["name"].as_str().unwrap().to_owned(),
                parameter["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (name, value) in overrides {
        parameters.insert((*name).to_owned(), (*value).to_owned());
    }
    let templates: BTreeMap<&str, &Value> = spec["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|template| (template["name"].as_str().unwrap(), template))
        .collect();
    let tasks = templates["main"]["dag"]["tasks"].as_array().unwrap();
    let mut left: BTreeMap<String, Left> = BTreeMap::new();
    let mut succeeded: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut walk = Walk {
        ran: Vec::new(),
        skipped: Vec::new(),
        omitted: Vec::new(),
        parameters: BTreeMap::new(),
    };
    let root = tempfile::tempdir().unwrap();
    // Argo runs a task once every dependency has finished: Succeeded or Skipped lets it go on.
    while finished.len() < tasks.len() {
        let ready = tasks.iter().find(|task| {
            let name = task["name"].as_str().unwrap();
            !finished.contains(name)
                && task["dependencies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|dependency| finished.contains(dependency.as_str().unwrap()))
        });
        let task = ready.expect("the dag has no cycle");
        let name = task["name"].as_str().unwrap().to_owned();
        finished.insert(name.clone());
        let dependencies_ok = task["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|dependency| dependency.as_str().unwrap())
            .all(|dependency| {
                succeeded.contains(dependency) || walk.skipped.iter().any(|skip| skip == dependency)
            });
        if !dependencies_ok {
            // A dependency failed or was omitted: Argo does not run it (and the dag fails).
            walk.omitted.push(name);
            continue;
        }
        let runs = task["when"]
            .as_str()
            .is_none_or(|when| evaluate(when, &parameters, &left));
        if !runs {
            walk.skipped.push(name);
            continue;
        }
        let template = templates[task["template"].as_str().unwrap()];
        if template.get("suspend").is_some() {
            let answer = supplied.get(name.as_str()).copied().unwrap_or("NO");
            let mut outputs = Left::default();
            outputs
                .parameters
                .insert("approve".to_owned(), answer.to_owned());
            left.insert(name.clone(), outputs);
            succeeded.insert(name.clone());
            walk.ran.push((name, true));
            continue;
        }
        // A pod: a fresh clone at the revision, the input artifacts at their paths.
        let pod = root.path().join(&name);
        let (src, input, output) = (pod.join("src"), pod.join("in"), pod.join("out"));
        std::fs::create_dir_all(&input).unwrap();
        let revision = &parameters["revision"];
        let clone = std::process::Command::new("git")
            .args(["clone", "-q", "--branch", revision])
            .arg(origin)
            .arg(&src)
            .status()
            .unwrap();
        assert!(clone.success());
        for argument in task["arguments"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let from = argument["from"].as_str().unwrap();
            let reference = &template_references(from)[0];
            let parts: Vec<&str> = reference.split('.').collect();
            let producer = left
                .get(parts[1])
                .unwrap_or_else(|| panic!("{name} reads {reference}, which nobody left"));
            let file = &producer.artifacts[parts[4]];
            let declared = template["inputs"]["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|artifact| artifact["name"] == argument["name"])
                .unwrap();
            let path = declared["path"].as_str().unwrap();
            let target = input.join(path.strip_prefix("/work/in/").unwrap());
            std::fs::copy(file, target).unwrap();
        }
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(template["container"]["args"][0].as_str().unwrap())
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "argo")
            .env("GIT_AUTHOR_EMAIL", "argo@example.com")
            .env("GIT_COMMITTER_NAME", "argo")
            .env("GIT_COMMITTER_EMAIL", "argo@example.com");
        for env in template["container"]["env"].as_array().unwrap() {
            let key = env["name"].as_str().unwrap();
            let value = if let Some(value) = env["value"].as_str() {
                let mut value = value.to_owned();
                for reference in template_references(&value.clone()) {
                    let parameter = reference.strip_prefix("workflow.parameters.").unwrap();
                    value = value.replace(&format!("{{{{{reference}}}}}"), &parameters[parameter]);
                }
                value
                    .replace("/work/src", src.to_str().unwrap())
                    .replace("/work/in", input.to_str().unwrap())
                    .replace("/work/out", output.to_str().unwrap())
            } else {
                // A secretKeyRef: the cluster's secret.
                format!("secret-{key}")
            };
            command.env(key, value);
        }
        let status = command.status().unwrap();
        let mut outputs = Left::default();
        for parameter in template["outputs"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = parameter["valueFrom"]["path"].as_str().unwrap();
            let file = output.join(path.strip_prefix("/work/out/").unwrap());
            let value = std::fs::read_to_string(file).map_or_else(
                |_| {
                    parameter["valueFrom"]["default"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                },
                |text| text.trim().to_owned(),
            );
            outputs
                .parameters
                .insert(parameter["name"].as_str().unwrap().to_owned(), value);
        }
        for artifact in template["outputs"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = artifact["path"].as_str().unwrap();
            let file = output.join(path.strip_prefix("/work/out/").unwrap());
            if status.success() {
                assert!(
                    file.exists() || artifact["optional"] == true,
                    "{name} left no {path}"
                );
            }
            outputs
                .artifacts
                .insert(artifact["name"].as_str().unwrap().to_owned(), file);
        }
        walk.parameters
            .insert(name.clone(), outputs.parameters.clone());
        left.insert(name.clone(), outputs);
        if status.success() {
            succeeded.insert(name.clone());
        }
        walk.ran.push((name, status.success()));
    }
    walk
}

/// The runnable fixture (examples/local's scripts) as a repository with a bare origin, and a
/// folder with `mlops` and a stub `aws` for the pods' PATH.
fn runnable(margin: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Value) {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir_all(work.join("metrics")).unwrap();
    let local = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/local");
    for part in ["steps", "raw"] {
        std::fs::create_dir_all(work.join(part)).unwrap();
        common::copy_dir(&Path::new(local).join(part), &work.join(part));
    }
    std::fs::write(work.join("metrics/.gitkeep"), "").unwrap();
    let params = std::fs::read_to_string(Path::new(local).join("params.yaml")).unwrap();
    std::fs::write(
        work.join("params.yaml"),
        params.replace("margin: 0.5", margin),
    )
    .unwrap();
    let config = std::fs::read_to_string(RUNNABLE)
        .unwrap()
        .replace("targets: [gitlab-ci]", "targets: [argo-workflows]");
    std::fs::write(work.join("mlops.yaml"), config).unwrap();
    let text = render_in_place(&work.join("mlops.yaml"));
    let origin = root.path().join("origin.git");
    common::git(
        root.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    common::git(&work, &["init", "-q", "-b", "main"]);
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "pipeline"]);
    common::git(
        &work,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    common::git(&work, &["push", "-q", "origin", "main"]);
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("mlops"), bin.join("mlops")).unwrap();
    std::fs::write(bin.join("aws"), "#!/bin/sh\necho \"aws stub: $*\" >&2\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("aws"))
        .status()
        .unwrap();
    let template = documents(&text).remove(0);
    (root, origin, bin, template)
}

fn names(walk: &Walk) -> Vec<&str> {
    walk.ran.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn the_walked_dag_trains_judges_and_releases_staging_and_waits_for_the_approval() {
    let (_root, origin, bin, template) = runnable("margin: 0.5");
    check_argo_rules(std::slice::from_ref(&template));
    let walk = walk(&template, &BTreeMap::new(), &origin, &bin, &BTreeMap::new());
    assert_eq!(
        names(&walk),
        [
            "data-prepare",
            "train-mean-model",
            "gate-mean-quality",
            "deploy-mean-staging",
            "approve-mean-production"
        ]
    );
    assert!(walk.ran.iter().all(|(_, ok)| *ok), "{:?}", walk.ran);
    // The gate's verdict and the metric it read, as output parameters (and gauges).
    let gate = &walk.parameters["gate-mean-quality"];
    assert_eq!(gate["passed"], "1");
    assert_eq!(gate["metric-1"], "0.86");
    // Nobody said YES: production is not released.
    assert_eq!(walk.skipped, ["deploy-mean-production"]);
    let released = common::git(
        &origin,
        &["log", "-1", "--format=%s", "mlops/release/staging"],
    );
    assert!(
        released.starts_with("promote mean-staging to staging"),
        "{released}"
    );
}

#[test]
fn a_failing_metric_stops_the_walk_before_any_promotion() {
    let (_root, origin, bin, template) = runnable("margin: 3.0");
    let walk = walk(&template, &BTreeMap::new(), &origin, &bin, &BTreeMap::new());
    assert_eq!(
        walk.ran,
        [
            ("data-prepare".to_owned(), true),
            ("train-mean-model".to_owned(), true),
            ("gate-mean-quality".to_owned(), false),
        ]
    );
    assert_eq!(
        walk.omitted,
        [
            "deploy-mean-staging",
            "approve-mean-production",
            "deploy-mean-production"
        ]
    );
    let gate = &walk.parameters["gate-mean-quality"];
    assert_eq!(
        (gate["passed"].as_str(), gate["metric-1"].as_str()),
        ("0", "0.4175")
    );
    let branches = common::git(&origin, &["branch", "--list", "mlops/*"]);
    assert!(branches.trim().is_empty(), "{branches}");
}

#[test]
fn run_parameters_select_what_runs() {
    let (_root, origin, bin, template) = runnable("margin: 0.5");
    // What `mlops affected` would pass for a change to the training alone on a pull request:
    // the producer whose files it reads and the training; no gate, no deploy.
    let overrides = BTreeMap::from([
        ("run-gate-mean-quality", "false"),
        ("run-deploy-mean-staging", "false"),
        ("run-deploy-mean-production", "false"),
    ]);
    let walk = walk(&template, &overrides, &origin, &bin, &BTreeMap::new());
    assert_eq!(
        names(&walk),
        ["data-prepare", "train-mean-model"],
        "{:?} {:?} {:?}",
        walk.ran,
        walk.skipped,
        walk.omitted
    );
}

/// `mlops affected --format argo-parameters` is what the CI side hands `argo submit
/// --parameter-file`: a change to the training's params runs the training (with the producer
/// whose files it reads), its gate and its deploys; nothing changed runs nothing. The walked
/// dag runs exactly those.
#[test]
fn affected_hands_the_cluster_only_what_a_change_touches() {
    let (root, origin, bin, template) = runnable("margin: 0.5");
    let work = root.path().join("work");
    let affected = |base: &str| -> BTreeMap<String, String> {
        let output = Command::cargo_bin("mlops")
            .unwrap()
            .current_dir(&work)
            .args(["affected", "--base", base, "--format", "argo-parameters"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap().to_owned()))
            .collect()
    };
    let declared: BTreeSet<String> = template["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap().to_owned())
        .filter(|name| name.starts_with("run-"))
        .collect();
    let nothing = affected("HEAD");
    assert_eq!(nothing.keys().cloned().collect::<BTreeSet<_>>(), declared);
    assert!(
        nothing.values().all(|value| value == "false"),
        "{nothing:?}"
    );
    let params = work.join("params.yaml");
    let text = std::fs::read_to_string(&params).unwrap();
    std::fs::write(&params, text.replacen("margin: 0.5", "margin: 0.45", 1)).unwrap();
    common::git(&work, &["commit", "-q", "-am", "a new margin for mean"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    let changed = affected("HEAD~1");
    let running: Vec<&str> = changed
        .iter()
        .filter(|(_, value)| *value == "true")
        .map(|(key, _)| key.as_str())
        .collect();
    assert_eq!(
        running,
        [
            "run-data-prepare",
            "run-deploy-mean-production",
            "run-deploy-mean-staging",
            "run-gate-mean-quality",
            "run-train-mean-model"
        ]
    );
    let overrides: BTreeMap<&str, &str> = changed
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let walk = walk(&template, &overrides, &origin, &bin, &BTreeMap::new());
    assert_eq!(
        names(&walk),
        [
            "data-prepare",
            "train-mean-model",
            "gate-mean-quality",
            "deploy-mean-staging",
            "approve-mean-production"
        ]
    );
}

/// `engine: argo`: the GitHub and GitLab pipelines hand the training to the cluster and wait for
/// it. The step's script, run here with a stub `argo` standing for the cluster, submits the
/// template with only the training and the producer it reads switched on, waits, and unpacks
/// the training's files where the gate and the deploys read them.
#[test]
fn ci_pipelines_hand_a_training_to_the_cluster_and_take_its_files() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir_all(work.join("metrics")).unwrap();
    std::fs::write(work.join("metrics/.gitkeep"), "").unwrap();
    let config = std::fs::read_to_string(RUNNABLE)
        .unwrap()
        .replace(
            "targets: [gitlab-ci]",
            "targets: [github-actions, gitlab-ci, argo-workflows]",
        )
        .replace(
            "    run: python3 steps/train.py mean\n",
            "    run: python3 steps/train.py mean\n    engine: argo\n",
        );
    std::fs::write(work.join("mlops.yaml"), &config).unwrap();
    common::git(&work, &["init", "-q", "-b", "main"]);
    let said = Command::cargo_bin("mlops")
        .unwrap()
        .arg("render")
        .arg(work.join("mlops.yaml"))
        .output()
        .unwrap();
    assert!(said.status.success());
    // Both pipelines' settings name what the argo CLI needs.
    let said = String::from_utf8_lossy(&said.stderr);
    assert!(
        said.contains("Settings > Secrets and variables > Actions: `ARGO_SERVER`, `ARGO_TOKEN`"),
        "{said}"
    );
    assert!(
        said.contains("Settings > CI/CD > Variables: `ARGO_SERVER` and `ARGO_TOKEN`, masked"),
        "{said}"
    );
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "pipeline"]);

    // GitLab: the training job's script is the hand-off, not the command.
    let gitlab = std::fs::read_to_string(work.join(".gitlab-ci.yml")).unwrap();
    let (parsed, _) = mlops::spec::load::load_str(&gitlab);
    let job = &parsed.unwrap().value["mlops:train-mean-model"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_str().unwrap())
        .collect();
    assert!(
        !script.iter().any(|line| line.contains("steps/train.py")),
        "{script:?}"
    );
    assert!(
        script.iter().any(|line| line.contains(
            "argo submit --from workflowtemplate/mlops-gitlab-demo -p revision=\"$CI_COMMIT_SHA\""
        )),
        "{script:?}"
    );

    // GitHub: the plan job writes the step's script; run it against a stub cluster.
    let scripts = root.path().join("scripts");
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(&work)
        .args([
            "affected",
            "--all",
            "--format",
            "github-output",
            "--scripts",
        ])
        .arg(&scripts)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let command = std::fs::read_to_string(scripts.join("train-mean-model/command.sh")).unwrap();
    assert!(!command.contains("steps/train.py"), "{command}");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = root.path().join("argo.log");
    std::fs::write(
        bin.join("argo"),
        format!(
            "#!/bin/sh\necho \"$*\" >>'{log}'\ncase \"$1\" in\n  submit) echo wf-7q2x ;;\n  wait) exit 0 ;;\n  cp) mkdir -p \"$3/ns/wf-7q2x/node/outputs\" && d=$(mktemp -d) && mkdir -p \"$d/metrics\" && echo '{{\"accuracy\": 0.91}}' >\"$d/metrics/mean.json\" && tar -cf \"$3/ns/wf-7q2x/node/outputs/files\" -C \"$d\" metrics/mean.json ;;\nesac\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(bin.join("argo"))
        .status()
        .unwrap();
    let ran = std::process::Command::new("bash")
        .arg("-e")
        .arg(scripts.join("train-mean-model/command.sh"))
        .current_dir(&work)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GITHUB_SHA", "abc123")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(work.join("metrics/mean.json"))
            .unwrap()
            .trim(),
        "{\"accuracy\": 0.91}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(
        lines[0],
        "submit --from workflowtemplate/mlops-gitlab-demo -p revision=abc123 -p run-data-prepare=true -p run-train-mean-model=true -p run-gate-mean-quality=false -p run-deploy-mean-staging=false -p run-deploy-mean-production=false -o name"
    );
    assert_eq!(lines[1], "wait wf-7q2x");
    assert!(
        lines[2].starts_with("cp wf-7q2x ")
            && lines[2].ends_with(" --template-name train-mean-model --artifact-name files"),
        "{calls}"
    );
    // A failed workflow fails the step.
    std::fs::write(
        bin.join("argo"),
        "#!/bin/sh\ncase \"$1\" in\n  submit) echo wf-9 ;;\n  wait) echo 'wf-9 Failed' >&2; exit 1 ;;\nesac\n",
    )
    .unwrap();
    let failed = std::process::Command::new("bash")
        .arg("-e")
        .arg(scripts.join("train-mean-model/command.sh"))
        .current_dir(&work)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("GITHUB_SHA", "abc123")
        .output()
        .unwrap();
    assert!(!failed.status.success());
}
