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

/// A template a task names: by `template` in its own `WorkflowTemplate`, or by `templateRef`
/// in another of the file's. Returns the holder's name and the template.
fn resolve<'a>(
    libraries: &BTreeMap<&'a str, BTreeMap<&'a str, &'a Value>>,
    holder: &'a str,
    task: &'a Value,
) -> (&'a str, &'a Value) {
    let task_name = task["name"].as_str().unwrap();
    match (task["template"].as_str(), task.get("templateRef")) {
        (Some(name), None) => (
            holder,
            libraries[holder]
                .get(name)
                .unwrap_or_else(|| panic!("{task_name}: its template does not exist")),
        ),
        (None, Some(reference)) => {
            let library = reference["name"].as_str().unwrap();
            let (library, templates) = libraries
                .get_key_value(library)
                .unwrap_or_else(|| panic!("{task_name}: no WorkflowTemplate {library}"));
            (
                library,
                templates
                    .get(reference["template"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("{task_name}: {reference} does not exist")),
            )
        }
        _ => panic!("{task_name}: exactly one of template and templateRef"),
    }
}

/// The rules of one dag: its tasks' templates, dependencies and references.
fn check_dag(
    libraries: &BTreeMap<&str, BTreeMap<&str, &Value>>,
    holder: &str,
    dag_template: &Value,
    parameters: &BTreeSet<&str>,
) -> usize {
    let dag = dag_template["dag"]["tasks"].as_array().unwrap();
    assert!(dag.len() <= 200, "Argo's CRD: at most 200 tasks per dag");
    let tasks: BTreeMap<&str, &Value> = dag
        .iter()
        .map(|task| (task["name"].as_str().unwrap(), task))
        .collect();
    assert_eq!(tasks.len(), dag.len(), "task names are unique");
    let given_to_dag: BTreeSet<&str> = dag_template["inputs"]["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|artifact| artifact["name"].as_str().unwrap())
        .collect();
    for (task_name, task) in &tasks {
        assert!(
            !task_name.starts_with(|c: char| c.is_ascii_digit()),
            "a task name cannot begin with a digit: {task_name}"
        );
        assert!(
            !(task.get("depends").is_some() && task.get("dependencies").is_some()),
            "{task_name} mixes depends and dependencies"
        );
        let (_, template) = resolve(libraries, holder, task);
        for dependency in task["dependencies"].as_array().into_iter().flatten() {
            assert!(
                tasks.contains_key(dependency.as_str().unwrap()),
                "{task_name} depends on a task that does not exist in its dag: {dependency}"
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
                ["inputs", "artifacts", artifact] => {
                    assert!(
                        given_to_dag.contains(artifact),
                        "{task_name}: {reference}: its dag is given no such artifact"
                    );
                }
                ["tasks", producer, "outputs", kind, output] => {
                    let producer_task = tasks.get(producer).unwrap_or_else(|| {
                        panic!("{task_name}: {reference}: no such task in its dag")
                    });
                    let listed = task["dependencies"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|item| item == producer));
                    assert!(
                        listed,
                        "{task_name} reads {producer} without waiting for it"
                    );
                    let (_, producer_template) = resolve(libraries, holder, producer_task);
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
    tasks.len()
}

/// Every rule the CRD schema and argo-tugboat miss, over every `WorkflowTemplate` of the file
/// (the entry one and the parts holding what it could not); returns the entry one.
fn check_argo_rules(documents: &[Value]) -> &Value {
    let holders: Vec<&Value> = documents
        .iter()
        .filter(|document| document["kind"] == "WorkflowTemplate")
        .collect();
    let template = holders
        .iter()
        .find(|holder| holder["spec"].get("entrypoint").is_some())
        .expect("an entry WorkflowTemplate");
    let name = template["metadata"]["name"].as_str().unwrap();
    assert!(name.len() <= 52, "{name}");
    let spec = &template["spec"];
    let parameters: BTreeSet<&str> = spec["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    let libraries: BTreeMap<&str, BTreeMap<&str, &Value>> = holders
        .iter()
        .map(|holder| {
            let holder_name = holder["metadata"]["name"].as_str().unwrap();
            assert!(holder_name.len() <= 63, "{holder_name}");
            // Client-side `kubectl apply` (and Argo CD's default) keeps the whole object in
            // an annotation Kubernetes caps at 256 KiB.
            assert!(
                serde_json::to_string(holder).unwrap().len() < 262_144,
                "{holder_name} is too big for kubectl apply"
            );
            let list = holder["spec"]["templates"].as_array().unwrap();
            assert!(list.len() <= 200, "Argo's CRD: at most 200 templates");
            let map: BTreeMap<&str, &Value> = list
                .iter()
                .map(|template| (template["name"].as_str().unwrap(), template))
                .collect();
            assert_eq!(
                map.len(),
                list.len(),
                "{holder_name}: template names are unique"
            );
            (holder_name, map)
        })
        .collect();
    assert!(libraries[name].contains_key(spec["entrypoint"].as_str().unwrap()));
    let mut all_tasks: Vec<&str> = Vec::new();
    for holder in &holders {
        let holder_name = holder["metadata"]["name"].as_str().unwrap();
        // A part declares the parameters it reads as the entry does.
        for parameter in holder["spec"]["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert!(
                spec["arguments"]["parameters"]
                    .as_array()
                    .unwrap()
                    .contains(parameter),
                "{holder_name}: {parameter}"
            );
        }
        for (template_name, template) in &libraries[holder_name] {
            let types = ["container", "script", "dag", "steps", "suspend", "resource"]
                .iter()
                .filter(|kind| template.get(**kind).is_some())
                .count();
            assert_eq!(types, 1, "exactly one template type: {template_name}");
            // validate.go's validateInputs: a path only on a leaf's input artifacts, `from`
            // on none.
            let leaf = template.get("container").is_some() || template.get("script").is_some();
            for artifact in template["inputs"]["artifacts"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert_eq!(
                    artifact.get("path").is_some(),
                    leaf,
                    "{template_name}: {artifact}"
                );
                assert!(
                    artifact.get("from").is_none(),
                    "{template_name}: {artifact}"
                );
            }
            if template.get("activeDeadlineSeconds").is_some() {
                assert!(
                    template.get("container").is_some() || template.get("script").is_some(),
                    "activeDeadlineSeconds on a leaf template only: {template_name}"
                );
            }
            // Templates' own `{{...}}`: only workflow parameters and their own outputs.
            let mut texts = Vec::new();
            strings_in(&json_without_dag(template), &mut texts);
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
                    continue;
                }
                assert!(
                    reference
                        .strip_prefix("workflow.parameters.")
                        .is_some_and(|parameter| parameters.contains(parameter)),
                    "{template_name}: {{{{{reference}}}}} resolves to nothing"
                );
            }
            // Parameter values are within their enums (the approval's default).
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
            if template.get("dag").is_some() {
                check_dag(&libraries, holder_name, template, &parameters);
                all_tasks.extend(
                    template["dag"]["tasks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|task| task["name"].as_str().unwrap()),
                );
            }
        }
    }
    // Task names are unique across the dags too: `argo cp --template-name`, `argo resume
    // --node-field-selector` and the walk name a step by its task.
    let unique: BTreeSet<&str> = all_tasks.iter().copied().collect();
    assert_eq!(
        unique.len(),
        all_tasks.len(),
        "task names are unique across dags"
    );
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

/// Argo's CRD allows 200 templates and 200 tasks per dag, and `kubectl apply` an object of at
/// most 256 KiB: 100 models (301 tasks) make one group task per model in the entry dag (the
/// shared data step stays there), each group a dag of its model's training, gate and deploy,
/// held in as many `WorkflowTemplate`s as the size takes; one schedule still runs everything.
#[test]
fn a_hundred_models_make_a_dag_per_model_over_several_templates() {
    let (_project, config) = write_config(&many_models(100));
    let text = render_in_place(&config);
    let documents = documents(&text);
    let template = check_argo_rules(&documents);
    let tasks = template["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap();
    assert_eq!(
        tasks.len(),
        1 + 100,
        "the data step and one group per model"
    );
    assert_eq!(tasks[0]["name"], "data-shared");
    let group = &tasks[8];
    assert_eq!(group["name"], "group-train-model-7");
    assert_eq!(
        group["when"],
        "{{workflow.parameters.run-train-model-7}} == true || \
         {{workflow.parameters.run-gate-quality-7}} == true || \
         {{workflow.parameters.run-deploy-model-7-staging}} == true"
    );
    let holders = documents
        .iter()
        .filter(|document| document["kind"] == "WorkflowTemplate")
        .count();
    assert!(holders >= 2, "{holders} WorkflowTemplates");
    let crons: Vec<&Value> = documents
        .iter()
        .filter(|document| document["kind"] == "CronWorkflow")
        .collect();
    assert_eq!(crons.len(), 1, "one CronWorkflow for the one refresh");
    // The schedule refreshes the shared data: everything follows it.
    let scheduled = crons[0]["spec"]["workflowSpec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    assert_eq!(scheduled.len(), 1 + 3 * 100);
    assert!(
        scheduled
            .iter()
            .all(|parameter| parameter["value"] == "true")
    );
    // The shape, read by hand: each document with its size, the entry dag's first tasks, and
    // model 42's group, held in a part.
    let shape: Vec<Value> = documents
        .iter()
        .map(|document| {
            serde_json::json!({
                "kind": document["kind"],
                "name": document["metadata"]["name"],
                "templates": document["spec"]["templates"].as_array().map(Vec::len),
                "parameters": document["spec"]["arguments"]["parameters"].as_array().map(Vec::len),
            })
        })
        .collect();
    let model_42 = documents
        .iter()
        .flat_map(|document| {
            document["spec"]["templates"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .find(|template| template["name"] == "group-train-model-42")
        .unwrap();
    assert_eq!(
        tasks[43]["templateRef"],
        serde_json::json!({"name": "mlops-big-part-1", "template": "group-train-model-42"})
    );
    insta::assert_snapshot!(
        "hundred_models_argo_shape",
        serde_json::to_string_pretty(&serde_json::json!({
            "documents": shape,
            "entry_tasks": [&tasks[0], &tasks[1], &tasks[43]],
            "group_of_model_42": model_42,
        }))
        .unwrap()
    );
}

/// Sixty models (181 tasks) fit one dag, but not one object `kubectl apply` takes (about
/// 330 kB flat): they are grouped by size as a hundred are by count.
#[test]
fn sixty_models_are_grouped_to_stay_within_what_kubectl_applies() {
    let (_project, config) = write_config(&many_models(60));
    let grouped = documents(&render_in_place(&config));
    let template = check_argo_rules(&grouped);
    let tasks = template["spec"]["templates"][0]["dag"]["tasks"]
        .as_array()
        .unwrap();
    assert_eq!(tasks.len(), 1 + 60);
    // Twenty fit in one object: one dag, nothing grouped.
    let (_project, config) = write_config(&many_models(20));
    let flat = documents(&render_in_place(&config));
    let template = check_argo_rules(&flat);
    assert_eq!(
        template["spec"]["templates"][0]["dag"]["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1 + 20 * 3
    );
}

/// `mlops validate CONFIG`: its exit code and its report.
fn validate(config: &Path) -> (Option<i32>, String) {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .arg("validate")
        .arg(config)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Past what grouping can hold (250 models: 251 tasks in the entry dag), `validate` refuses the
/// config, saying what to do, so a config that validates never renders a manifest the cluster
/// refuses.
#[test]
fn two_hundred_and_fifty_models_are_refused_by_validate() {
    let (_project, config) = write_config(&many_models(250));
    let (code, stderr) = validate(&config);
    assert_eq!(code, Some(1));
    // (The report wraps long messages: the parts are checked one by one.)
    for part in [
        "this config makes 751 Argo tasks and, grouped by model, 251 in the entry dag;",
        "holds at most 199",
    ] {
        assert!(stderr.contains(part), "{stderr}");
    }
    assert!(
        stderr.contains("too many steps for Argo's dags"),
        "{stderr}"
    );
}

/// A config of `trainings` chained trainings for this target (`t1`, `t2` needing it, ...),
/// each running `train.py` with `padding` bytes of comment lines after it (a long `run` that
/// still runs).
fn long_commands(trainings: usize, padding: usize) -> String {
    let line = format!("# {}\n", "x".repeat(98));
    let filler = line.repeat(padding / line.len());
    let indented: String = filler
        .lines()
        .map(|line| format!("      {line}\n"))
        .collect();
    let mut config = "version: 1\nproject: long\nci:\n  targets: [argo-workflows]\n  argo: { repo_url: https://github.com/acme/long.git }\ntraining:\n".to_owned();
    for at in 1..=trainings {
        config.push_str(&format!("  t{at}:\n"));
        if at > 1 {
            config.push_str(&format!("    needs: [t{}]\n", at - 1));
        }
        config.push_str(&format!(
            "    run: |\n      python3 train.py t{at}\n{indented}    metrics: metrics/t{at}.json\n"
        ));
    }
    config
}

/// Commands longer than one template can carry (`argo::SCRIPT_LIMIT`) are refused by
/// `validate`, at the step's `run`, saying what to do; a step just under the limit is not.
#[test]
fn commands_too_long_for_a_template_are_refused_by_validate() {
    for (padding, refused) in [(95_000, true), (85_000, false)] {
        let (_project, config) = write_config(&long_commands(2, padding));
        let (code, stderr) = validate(&config);
        assert_eq!(code, Some(i32::from(refused)), "{stderr}");
        assert_eq!(
            stderr.contains("too long for the argo-workflows target"),
            refused,
            "{stderr}"
        );
        if refused {
            assert!(
                stderr.contains("mlops.yaml:8:5]"),
                "at `t1`'s `run` key: {stderr}"
            );
            // Labelled at the key: the 950 lines of each value are not printed.
            assert!(stderr.lines().count() < 100, "{stderr}");
            assert!(
                stderr.contains("more than an Argo template can carry"),
                "{stderr}"
            );
        }
    }
}

/// One group too big for one object (three chained trainings whose commands are 85 KB each:
/// about 345 KB of templates, where `kubectl apply` takes 256 KiB): its dag stays whole, its
/// steps' templates go to parts of their own, each task naming its template's part; every
/// object passes Argo's rules and is under 256 KiB, and the walk runs the three trainings on a
/// real script, through the parts.
#[test]
fn a_group_too_big_for_one_object_has_its_templates_in_parts_of_their_own() {
    let root = tempfile::tempdir().unwrap();
    let work = work_folder(root.path());
    std::fs::write(
        work.join("train.py"),
        "import json, sys\njson.dump({'auc': 0.9}, open(f'metrics/{sys.argv[1]}.json', 'w'))\n",
    )
    .unwrap();
    std::fs::write(work.join("mlops.yaml"), long_commands(3, 85_000)).unwrap();
    let (origin, bin, manifests) = served(root.path(), &work);
    check_argo_rules(&manifests);
    let holders: Vec<&Value> = manifests
        .iter()
        .filter(|document| document["kind"] == "WorkflowTemplate")
        .collect();
    // The entry, then a part per training (each over half the budget), the last one also
    // holding the group's dag, which is small.
    assert_eq!(holders.len(), 4);
    let group = holders
        .iter()
        .flat_map(|holder| holder["spec"]["templates"].as_array().unwrap())
        .find(|template| template["name"] == "group-train-t1")
        .expect("the group's dag");
    let tasks = group["dag"]["tasks"].as_array().unwrap();
    let task_names: Vec<&str> = tasks
        .iter()
        .map(|task| task["name"].as_str().unwrap())
        .collect();
    assert_eq!(task_names, ["train-t1", "train-t2", "train-t3"]);
    for task in tasks {
        assert!(task.get("template").is_none(), "{task}");
        assert_eq!(task["templateRef"]["template"], task["name"]);
        let keys: Vec<&String> = task.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["name", "templateRef"], "where `template` was");
    }
    let walk = walk(
        &manifests,
        &BTreeMap::new(),
        &origin,
        &bin,
        &BTreeMap::new(),
    );
    assert_eq!(names(&walk), ["train-t1", "train-t2", "train-t3"]);
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

/// `{{...}}` of a task's `when` replaced; then `a == b && c == d || e == f` evaluated as Argo's
/// expression language does (`&&` binds tighter than `||`).
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
    text.split("||").any(|alternative| {
        alternative.split("&&").all(|clause| {
            let (left, right) = clause.split_once("==").expect("a comparison");
            left.trim() == right.trim()
        })
    })
}

/// Walks a manifest's dags as Argo does: the entry `WorkflowTemplate`'s `main`, and the dag of
/// every group task, by `template` or by `templateRef` into another of the file's templates.
struct Walker<'a> {
    /// Each `WorkflowTemplate`'s templates by name.
    libraries: BTreeMap<&'a str, BTreeMap<&'a str, &'a Value>>,
    parameters: BTreeMap<String, String>,
    /// The bare repository every task's source is cloned from.
    origin: &'a Path,
    /// `mlops` and a stub `aws`, for the pods' PATH.
    bin: &'a Path,
    /// The answers to suspend steps.
    supplied: &'a BTreeMap<&'a str, &'a str>,
    pods: tempfile::TempDir,
    walk: Walk,
}

/// Walk the manifest (its documents) as Argo does, with `overrides` of the entry's parameters.
fn walk(
    documents: &[Value],
    overrides: &BTreeMap<&str, &str>,
    origin: &Path,
    bin: &Path,
    supplied: &BTreeMap<&str, &str>,
) -> Walk {
    let holders: Vec<&Value> = documents
        .iter()
        .filter(|document| document["kind"] == "WorkflowTemplate")
        .collect();
    let entry = holders
        .iter()
        .find(|holder| holder["spec"].get("entrypoint").is_some())
        .unwrap();
    let mut parameters: BTreeMap<String, String> = entry["spec"]["arguments"]["parameters"]
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
        assert!(parameters.contains_key(*name), "no parameter {name}");
        parameters.insert((*name).to_owned(), (*value).to_owned());
    }
    let libraries = holders
        .iter()
        .map(|holder| {
            (
                holder["metadata"]["name"].as_str().unwrap(),
                holder["spec"]["templates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|template| (template["name"].as_str().unwrap(), template))
                    .collect(),
            )
        })
        .collect();
    let mut walker = Walker {
        libraries,
        parameters,
        origin,
        bin,
        supplied,
        pods: tempfile::tempdir().unwrap(),
        walk: Walk {
            ran: Vec::new(),
            skipped: Vec::new(),
            omitted: Vec::new(),
            parameters: BTreeMap::new(),
        },
    };
    let holder = entry["metadata"]["name"].as_str().unwrap();
    let main = walker.libraries[holder]["main"];
    walker.dag(holder, main, &BTreeMap::new());
    walker.walk
}

impl<'a> Walker<'a> {
    /// Runs one dag; `given` are the artifacts its template's inputs received. Returns whether
    /// it succeeded: every task succeeded or was skipped.
    fn dag(
        &mut self,
        holder: &'a str,
        dag_template: &'a Value,
        given: &BTreeMap<String, PathBuf>,
    ) -> bool {
        let tasks = dag_template["dag"]["tasks"].as_array().unwrap();
        let mut left: BTreeMap<String, Left> = BTreeMap::new();
        let mut succeeded: BTreeSet<String> = BTreeSet::new();
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        let mut finished: BTreeSet<String> = BTreeSet::new();
        let mut ok = true;
        // Argo runs a task once every dependency has finished: Succeeded or Skipped lets it go
        // on.
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
                .all(|dependency| succeeded.contains(dependency) || skipped.contains(dependency));
            if !dependencies_ok {
                // A dependency failed or was omitted: Argo does not run it (and the dag fails).
                self.walk.omitted.push(name);
                ok = false;
                continue;
            }
            let runs = task["when"]
                .as_str()
                .is_none_or(|when| evaluate(when, &self.parameters, &left));
            if !runs {
                self.walk.skipped.push(name.clone());
                skipped.insert(name);
                continue;
            }
            let (task_holder, template) = self.resolve(holder, task);
            // The task's input artifacts: from a producer of this dag or from the dag's own.
            let mut inputs: BTreeMap<String, PathBuf> = BTreeMap::new();
            for argument in task["arguments"]["artifacts"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let from = argument["from"].as_str().unwrap();
                let reference = &template_references(from)[0];
                let parts: Vec<&str> = reference.split('.').collect();
                let file = match parts.as_slice() {
                    ["tasks", producer, "outputs", "artifacts", artifact] => left
                        .get(*producer)
                        .unwrap_or_else(|| panic!("{name} reads {reference}, which nobody left"))
                        .artifacts[*artifact]
                        .clone(),
                    ["inputs", "artifacts", artifact] => given
                        .get(*artifact)
                        .unwrap_or_else(|| panic!("{name} reads {reference}, never given"))
                        .clone(),
                    _ => panic!("{name}: {reference}"),
                };
                inputs.insert(argument["name"].as_str().unwrap().to_owned(), file);
            }
            if template.get("dag").is_some() {
                // A group: its tasks run in its own dag; only its leaves are named in the walk.
                if !self.dag(task_holder, template, &inputs) {
                    ok = false;
                    continue;
                }
                succeeded.insert(name);
                continue;
            }
            if template.get("suspend").is_some() {
                let answer = self.supplied.get(name.as_str()).copied().unwrap_or("NO");
                let mut outputs = Left::default();
                outputs
                    .parameters
                    .insert("approve".to_owned(), answer.to_owned());
                left.insert(name.clone(), outputs);
                succeeded.insert(name.clone());
                self.walk.ran.push((name, true));
                continue;
            }
            let (outputs, success) = self.pod(&name, template, &inputs);
            self.walk
                .parameters
                .insert(name.clone(), outputs.parameters.clone());
            left.insert(name.clone(), outputs);
            if success {
                succeeded.insert(name.clone());
            } else {
                ok = false;
            }
            self.walk.ran.push((name, success));
        }
        ok
    }

    fn resolve(&self, holder: &'a str, task: &'a Value) -> (&'a str, &'a Value) {
        if let Some(name) = task["template"].as_str() {
            return (holder, self.libraries[holder][name]);
        }
        let reference = &task["templateRef"];
        let library = reference["name"].as_str().unwrap();
        let (library, templates) = self.libraries.get_key_value(library).unwrap();
        (library, templates[reference["template"].as_str().unwrap()])
    }

    /// A pod: a fresh clone at the revision, the input artifacts at their paths, the container's
    /// command through `sh -c`. Returns what it left (a failed gate still leaves its verdict)
    /// and whether it succeeded.
    fn pod(
        &self,
        name: &str,
        template: &Value,
        inputs: &BTreeMap<String, PathBuf>,
    ) -> (Left, bool) {
        let pod = self.pods.path().join(name);
        let (src, input, output) = (pod.join("src"), pod.join("in"), pod.join("out"));
        std::fs::create_dir_all(&input).unwrap();
        let revision = &self.parameters["revision"];
        let clone = std::process::Command::new("git")
            .args(["clone", "-q", "--branch", revision])
            .arg(self.origin)
            .arg(&src)
            .status()
            .unwrap();
        assert!(clone.success());
        for (artifact_name, file) in inputs {
            let declared = template["inputs"]["artifacts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|artifact| artifact["name"] == artifact_name.as_str())
                .unwrap_or_else(|| panic!("{name} is given {artifact_name}, which it never takes"));
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
                format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap()),
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
                    value =
                        value.replace(&format!("{{{{{reference}}}}}"), &self.parameters[parameter]);
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
        (outputs, status.success())
    }
}

/// The runnable fixture (examples/local's scripts) as a repository with a bare origin, and a
/// folder with `mlops` and a stub `aws` for the pods' PATH.
fn runnable(margin: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Vec<Value>) {
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
    let (origin, bin, manifests) = served(root.path(), &work);
    (root, origin, bin, manifests)
}

/// `root/work`, with the `metrics` folder a training writes into (kept by a `.gitkeep`).
fn work_folder(root: &Path) -> PathBuf {
    let work = root.join("work");
    std::fs::create_dir_all(work.join("metrics")).unwrap();
    std::fs::write(work.join("metrics/.gitkeep"), "").unwrap();
    work
}

/// Renders the project in `root/work`, commits it and pushes it to a bare `root/origin.git`;
/// returns the origin, a folder with `mlops` and a stub `aws` for the pods' PATH, and the
/// manifest's documents.
fn served(root: &Path, work: &Path) -> (PathBuf, PathBuf, Vec<Value>) {
    let text = render_in_place(&work.join("mlops.yaml"));
    let origin = root.join("origin.git");
    common::git(root, &["init", "-q", "--bare", origin.to_str().unwrap()]);
    common::git(work, &["init", "-q", "-b", "main"]);
    common::git(work, &["add", "-A"]);
    common::git(work, &["commit", "-q", "-m", "pipeline"]);
    common::git(work, &["remote", "add", "origin", origin.to_str().unwrap()]);
    common::git(work, &["push", "-q", "origin", "main"]);
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("mlops"), bin.join("mlops")).unwrap();
    std::fs::write(bin.join("aws"), "#!/bin/sh\necho \"aws stub: $*\" >&2\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("aws"))
        .status()
        .unwrap();
    (origin, bin, documents(&text))
}

fn names(walk: &Walk) -> Vec<&str> {
    walk.ran.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn the_walked_dag_trains_judges_and_releases_staging_and_waits_for_the_approval() {
    let (_root, origin, bin, manifests) = runnable("margin: 0.5");
    check_argo_rules(&manifests);
    let walk = walk(
        &manifests,
        &BTreeMap::new(),
        &origin,
        &bin,
        &BTreeMap::new(),
    );
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
    let (_root, origin, bin, manifests) = runnable("margin: 3.0");
    let walk = walk(
        &manifests,
        &BTreeMap::new(),
        &origin,
        &bin,
        &BTreeMap::new(),
    );
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
    let (_root, origin, bin, manifests) = runnable("margin: 0.5");
    // What `mlops affected` would pass for a change to the training alone on a pull request:
    // the producer whose files it reads and the training; no gate, no deploy.
    let overrides = BTreeMap::from([
        ("run-gate-mean-quality", "false"),
        ("run-deploy-mean-staging", "false"),
        ("run-deploy-mean-production", "false"),
    ]);
    let walk = walk(&manifests, &overrides, &origin, &bin, &BTreeMap::new());
    assert_eq!(
        names(&walk),
        ["data-prepare", "train-mean-model"],
        "{:?} {:?} {:?}",
        walk.ran,
        walk.skipped,
        walk.omitted
    );
}

/// A hundred models, grouped: with only the shared data and model 42 switched on, the walk
/// enters model 42's group (through its `templateRef` into a part) and runs its training, gate
/// and deploy on small real scripts, the shared data reaching the training through the
/// group's input artifact; the 99 other groups are skipped whole.
#[test]
fn the_walk_enters_one_models_group_of_a_hundred() {
    let root = tempfile::tempdir().unwrap();
    let work = work_folder(root.path());
    std::fs::write(
        work.join("prep.py"),
        "import os\nos.makedirs('data', exist_ok=True)\n\
         open('data/shared.csv', 'w').write('x,y\\n1,2\\n')\n",
    )
    .unwrap();
    // The training reads the shared data (so it must have arrived) and scores itself by it.
    std::fs::write(
        work.join("train.py"),
        "import json, os, sys\ni = sys.argv[1]\nrows = open('data/shared.csv').read().split()\n\
         os.makedirs('models', exist_ok=True)\nopen(f'models/{i}.joblib', 'w').write('model')\n\
         json.dump({'auc': round(0.8 + 0.05 * (len(rows) - 1), 4)}, open(f'metrics/{i}.json', 'w'))\n",
    )
    .unwrap();
    std::fs::write(
        work.join("mlops.yaml"),
        many_models(100).replace("python ", "python3 "),
    )
    .unwrap();
    let (origin, bin, manifests) = served(root.path(), &work);
    let mut overrides: BTreeMap<String, &str> = manifests[0]["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|parameter| parameter["name"].as_str())
        .filter(|name| name.starts_with("run-"))
        .map(|name| (name.to_owned(), "false"))
        .collect();
    for name in [
        "run-data-shared",
        "run-train-model-42",
        "run-gate-quality-42",
        "run-deploy-model-42-staging",
    ] {
        overrides.insert(name.to_owned(), "true");
    }
    let overrides: BTreeMap<&str, &str> = overrides
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect();
    let walk = walk(&manifests, &overrides, &origin, &bin, &BTreeMap::new());
    assert_eq!(
        walk.ran,
        [
            ("data-shared".to_owned(), true),
            ("train-model-42".to_owned(), true),
            ("gate-quality-42".to_owned(), true),
            ("deploy-model-42-staging".to_owned(), true),
        ],
        "{:?}",
        walk.omitted
    );
    assert_eq!(walk.parameters["gate-quality-42"]["metric-1"], "0.85");
    assert_eq!(walk.skipped.len(), 99, "{:?}", walk.skipped);
    assert!(walk.skipped.iter().all(|name| name.starts_with("group-")));
    assert!(walk.omitted.is_empty(), "{:?}", walk.omitted);
    let released = common::git(
        &origin,
        &["log", "-1", "--format=%s", "mlops/release/staging"],
    );
    assert!(
        released.starts_with("promote model-42-staging to staging"),
        "{released}"
    );
}

/// `mlops affected --format argo-parameters` is what the CI side hands `argo submit
/// --parameter-file`: a change to the training's params runs the training (with the producer
/// whose files it reads), its gate and its deploys; nothing changed runs nothing. The walked
/// dag runs exactly those.
#[test]
fn affected_hands_the_cluster_only_what_a_change_touches() {
    let (root, origin, bin, manifests) = runnable("margin: 0.5");
    let template = &manifests[0];
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
    let walk = walk(&manifests, &overrides, &origin, &bin, &BTreeMap::new());
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
    let work = work_folder(root.path());
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
