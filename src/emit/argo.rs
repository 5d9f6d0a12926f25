//! Argo Workflows: `argo/mlops-workflow.yaml` beside the config: a `WorkflowTemplate` (Argo CD
//! can sync it; a bare `Workflow` with `generateName` it cannot) holding one `dag` with a task
//! per data step, training, gate, approval and deployment, and one `CronWorkflow` per distinct
//! `refresh` that runs the template with only the scheduled nodes (and what follows them).
//!
//! Argo substitutes `{{...}}` in nearly every string and has no escape for it, so no user
//! string reaches a field Argo reads as a template: each step's whole script travels base64
//! encoded in an environment variable (`MLOPS_SCRIPT`) and the container decodes and runs it.
//! Files move between steps as one tar per producer through the cluster's artifact repository
//! (`artifactRepositoryRef`), never a shared disk; the source is a `git` input artifact at the
//! `revision` parameter. Gates report their verdict as an output parameter and a Prometheus
//! gauge (Argo's custom metrics); an approval-gated deployment waits behind a `suspend` step,
//! then releases through `mlops promote --publish`, one at a time per environment (a mutex).

use serde_json::{Value, json};

use super::templates::shell_quote;
use super::{Artifact, EmitError, EmitInput, Emitter, yaml_header};
use crate::graph::NodeKind;
use crate::plan::Step;

/// Where the manifests go, beside the config (like its `deploy/`).
pub const MANIFEST_PATH: &str = "argo/mlops-workflow.yaml";
/// Argo's limit on a `CronWorkflow`'s name (it appends a timestamp to its workflows' names);
/// the template's name is kept under it too.
pub const NAME_LIMIT: usize = 52;
/// The most tasks one `WorkflowTemplate` holds: Argo's CRD allows 200 templates (the dag is one)
/// and 200 tasks per dag, and every task here has its own template.
pub const TASK_LIMIT: usize = 199;
/// The image gate and deploy steps run `mlops` from, unless `ci.argo.mlops_image` says.
pub const MLOPS_IMAGE: &str = "python:3.12";
/// Where a step's pod keeps the source, the files it reads and the files it leaves.
const SOURCE: &str = "/work/src";
const INPUTS: &str = "/work/in";
const OUTPUTS: &str = "/work/out";

/// The Argo Workflows emitter.
pub struct ArgoWorkflows;

impl Emitter for ArgoWorkflows {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let documents = manifests(input)?;
        let mut contents = yaml_header(input);
        for (index, document) in documents.iter().enumerate() {
            if index > 0 {
                contents.push_str("---\n");
            }
            contents.push_str(&super::to_yaml(document));
        }
        Ok(vec![Artifact {
            path: super::rebase(input.config_dir, MANIFEST_PATH),
            contents,
        }])
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[super::Owned {
            path: "argo",
            at_root: false,
            file: false,
        }]
    }
}

/// A DNS-1123 label from free text: lower case, `[a-z0-9-]`, no dash at either end.
fn label(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `name` cut to `limit` characters, with a digest of the whole so that two long names that
/// share a prefix stay apart.
fn fit(name: &str, limit: usize) -> String {
    if name.len() <= limit {
        return name.to_owned();
    }
    let digest = hex_digest(name);
    let keep = limit - 9;
    format!("{}-{}", name[..keep].trim_end_matches('-'), &digest[..8])
}

/// The hex SHA-256 of `text`.
fn hex_digest(text: &str) -> String {
    crate::lock::digest(text.as_bytes())
        .trim_start_matches("sha256:")
        .to_owned()
}

/// The template's name: the project's (and, for a config in a folder, the folder's).
#[must_use]
pub fn template_name(project: &str, config_dir: &str) -> String {
    let mut name = format!("mlops-{}", label(project));
    let folder = label(config_dir);
    if !folder.is_empty() {
        name.push('-');
        name.push_str(&folder);
    }
    fit(name.trim_end_matches('-'), NAME_LIMIT)
}

/// A task's name: prefixed by its kind, so it never starts with a digit (Argo refuses that)
/// and never collides across kinds.
fn task(kind: NodeKind, name: &str) -> String {
    super::github::job_id(kind, name)
}

/// Standard base64 with padding: the step script, out of Argo's reach.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = chunk.iter().enumerate().fold(0u32, |acc, (i, byte)| {
            acc | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(
                    ALPHABET[((triple >> (18 - 6 * i)) & 0x3f) as usize],
                ));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// What the container runs: decode the step's script and run it. The only text Argo sees.
const LAUNCHER: &str = "step=$(mktemp) && printf '%s' \"$MLOPS_SCRIPT\" | base64 -d >\"$step\" && exec sh -e \"$step\"";

fn secret_env(secret: &str, names: &[String]) -> Vec<Value> {
    names
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": name}},
            })
        })
        .collect()
}

fn resources(step: &Step) -> (Value, bool) {
    let Some(resources) = &step.resources else {
        return (json!({}), false);
    };
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    if let Some(cpu) = &resources.cpu {
        requests.insert("cpu".to_owned(), json!(super::serving::quantity(cpu)));
    }
    if let Some(memory) = &resources.memory {
        let memory = super::serving::quantity(memory);
        requests.insert("memory".to_owned(), json!(memory));
        limits.insert("memory".to_owned(), json!(memory));
    }
    let gpu = resources.gpu.filter(|&count| count > 0);
    if let Some(count) = gpu {
        // An extended resource: requests equal limits.
        requests.insert("nvidia.com/gpu".to_owned(), json!(count));
        limits.insert("nvidia.com/gpu".to_owned(), json!(count));
    }
    let mut value = serde_json::Map::new();
    if !requests.is_empty() {
        value.insert("requests".to_owned(), Value::Object(requests));
    }
    if !limits.is_empty() {
        value.insert("limits".to_owned(), Value::Object(limits));
    }
    (Value::Object(value), gpu.is_some())
}

/// The script of a step, run with `sh -e` in the pod: unpack what it reads, run its command
/// (or `mlops`), pack what it leaves. Every user string in it is a shell word or the user's
/// own command, and all of it reaches the pod base64 encoded.
fn step_script(step: &Step, config_dir: &str, config_file: &str, ids: &[String]) -> String {
    let mut script = String::from("set -eu\n");
    script.push_str(&format!(
        "mkdir -p \"$MLOPS_OUT\"\ncd \"$MLOPS_SRC\"/{}\n",
        shell_quote(if config_dir.is_empty() {
            "."
        } else {
            config_dir
        })
    ));
    for id in ids {
        script.push_str(&format!("tar -xf \"$MLOPS_IN/{id}.tar\"\n"));
    }
    if let Some(setup) = &step.setup {
        script.push_str(setup);
        script.push('\n');
    }
    if let Some(run) = &step.run {
        // In a subshell of its own, so `exit` or `cd` in it cannot skip the packing.
        script.push_str("(\n");
        script.push_str(run);
        script.push_str("\n)\n");
        if !step.outputs.is_empty() {
            let mut files: Vec<String> =
                step.outputs.iter().map(|file| shell_quote(file)).collect();
            files.dedup();
            script.push_str(&format!(
                "tar -cf \"$MLOPS_OUT/files.tar\" -- {}\n",
                files.join(" ")
            ));
        }
    }
    if let Some(gate) = &step.gate {
        script.push_str(
            "BASE=${MLOPS_BASE:-}\nif [ -z \"$BASE\" ]; then BASE=$(git rev-parse HEAD); fi\nstatus=0\n",
        );
        script.push_str(&format!(
            "{} --values-dir \"$MLOPS_OUT/values\" || status=$?\n",
            super::commands::gate(config_file, gate, Some("\"$MLOPS_OUT/junit.xml\"")).trim_end()
        ));
        script.push_str(
            "if [ \"$status\" -eq 0 ]; then echo 1 >\"$MLOPS_OUT/passed\"; else echo 0 >\"$MLOPS_OUT/passed\"; fi\nexit \"$status\"\n",
        );
    }
    if let Some(promotion) = &step.promotion {
        script.push_str(&super::commands::promotion(config_file, promotion, false));
    }
    script
}

fn install_mlops() -> String {
    format!(
        "command -v mlops >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check 'mlops-yaml=={}'\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// How the plan's steps fill Argo's objects, which the CRD caps at 200 templates per
/// `WorkflowTemplate` and 200 tasks per dag.
#[derive(Debug)]
pub struct Layout {
    /// The steps (places in `plan.steps`) that are tasks of the entry dag.
    pub outer: Vec<usize>,
    /// Steps that run as one dag of their own, which the entry dag runs as one task: empty
    /// while every step fits in the entry dag.
    pub groups: Vec<Vec<usize>>,
}

/// A step's tasks: its own, and the approval before an approval-gated deploy.
fn task_count(step: &Step) -> usize {
    1 + usize::from(
        step.promotion
            .as_ref()
            .is_some_and(|promotion| promotion.requires_approval),
    )
}

/// Where each step goes. While every task fits, one dag (the common case, and the easiest to
/// read in Argo's UI). Past that, the data steps that need only data stay in the entry dag and
/// every other step joins the group of the steps it waits for or reads from, so no group waits
/// for another: a monorepo of independent models makes one group per model (its training,
/// gates, approvals and deploys), each fed the shared data as input artifacts. (Size decides
/// too: `manifests` regroups a plan whose tasks fit but whose templates would pass what one
/// object may weigh; grouping only shortens dags, so this answer's errors cover that one.)
///
/// # Errors
/// Even grouped, a dag holds more than [`TASK_LIMIT`] tasks; the message says which.
pub fn layout(plan: &crate::plan::Plan) -> Result<Layout, String> {
    let total: usize = plan.steps.iter().map(task_count).sum();
    if total <= TASK_LIMIT {
        return Ok(Layout {
            outer: (0..plan.steps.len()).collect(),
            groups: Vec::new(),
        });
    }
    layout_grouped(plan)
}

/// The grouped layout, also for a plan whose tasks fit in one dag but whose templates are too
/// big for one object (which cannot make a dag too long: grouping only shortens them).
fn layout_grouped(plan: &crate::plan::Plan) -> Result<Layout, String> {
    /// The group a step belongs to, its path halved on the way.
    fn root(parent: &mut [usize], mut at: usize) -> usize {
        while parent[at] != at {
            parent[at] = parent[parent[at]];
            at = parent[at];
        }
        at
    }
    let total: usize = plan.steps.iter().map(task_count).sum();
    let place: std::collections::HashMap<petgraph::graph::NodeIndex, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| (step.node, index))
        .collect();
    // Steps come producers first, so one pass decides which data steps stay outside.
    let mut outside = vec![false; plan.steps.len()];
    for (index, step) in plan.steps.iter().enumerate() {
        outside[index] = step.kind == NodeKind::Data
            && step
                .needs
                .iter()
                .all(|need| place.get(need).is_none_or(|&found| outside[found]));
    }
    // Union-find over the rest: a step joins what it waits for and reads from.
    let mut parent: Vec<usize> = (0..plan.steps.len()).collect();
    for (index, step) in plan.steps.iter().enumerate() {
        if outside[index] {
            continue;
        }
        for node in step.needs.iter().chain(&step.downloads) {
            if let Some(&other) = place.get(node)
                && !outside[other]
            {
                let (a, b) = (root(&mut parent, index), root(&mut parent, other));
                // The earlier step names the group.
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for (index, _) in outside.iter().enumerate().filter(|(_, outside)| !**outside) {
        let group = root(&mut parent, index);
        let at = *group_of.entry(group).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(index);
    }
    let outer: Vec<usize> = (0..plan.steps.len())
        .filter(|&index| outside[index])
        .collect();
    let entry_tasks = outer
        .iter()
        .map(|&index| task_count(&plan.steps[index]))
        .sum::<usize>()
        + groups.len();
    if entry_tasks > TASK_LIMIT {
        return Err(format!(
            "this config makes {total} Argo tasks and, grouped by model, {entry_tasks} in the entry dag; an Argo dag holds at most {TASK_LIMIT}"
        ));
    }
    for group in &groups {
        let tasks: usize = group
            .iter()
            .map(|&index| task_count(&plan.steps[index]))
            .sum();
        if tasks > TASK_LIMIT {
            return Err(format!(
                "`{}` and the steps joined to it make {tasks} Argo tasks in one dag; an Argo dag holds at most {TASK_LIMIT}",
                plan.steps[group[0]].name
            ));
        }
    }
    Ok(Layout { outer, groups })
}

/// What every step's template shares.
struct Context<'a, 'b> {
    input: &'a EmitInput<'b>,
    repository: String,
    secret: String,
    mlops_image: String,
    config_file: &'a str,
}

/// A step's tasks and templates. `outside` says which producers live in another dag: the
/// step's group receives their files as its own input artifacts and waits for them as a whole.
fn step_unit(
    context: &Context<'_, '_>,
    step: &Step,
    outside: &dyn Fn(petgraph::graph::NodeIndex) -> bool,
) -> (Vec<Value>, Vec<Value>) {
    let config = context.input.config;
    let graph = context.input.graph;
    let task_of = |node| {
        let found = graph.node(node);
        task(found.kind, &found.name)
    };
    let mut tasks = Vec::new();
    let mut templates = Vec::new();
    let id = task(step.kind, &step.name);
    let run_parameter = format!("run-{id}");
    let waits_for: Vec<String> = step
        .needs
        .iter()
        .filter(|&&need| !outside(need))
        .map(|&need| task_of(need))
        .collect();
    let mut dependencies = waits_for.clone();
    let mut when = format!("{{{{workflow.parameters.{run_parameter}}}}} == true");
    let downloads: Vec<(String, bool)> = step
        .downloads
        .iter()
        .map(|&node| (task_of(node), outside(node)))
        .collect();
    if let Some(promotion) = &step.promotion
        && promotion.requires_approval
    {
        let approve = format!("approve-{}", step.name);
        tasks.push(json!({
            "name": approve,
            "template": approve,
            "dependencies": dependencies,
            "when": when,
        }));
        templates.push(json!({
            "name": approve,
            "suspend": {},
            "inputs": {"parameters": [{
                "name": "approve",
                "default": "NO",
                "enum": ["YES", "NO"],
                "description": format!("YES releases `{}` to `{}` (its release still goes through the promotion pull request)", step.name, promotion.environment),
            }]},
            "outputs": {"parameters": [{"name": "approve", "valueFrom": {"supplied": {}}}]},
        }));
        dependencies = vec![approve.clone()];
        dependencies.extend(waits_for);
        when = format!("{when} && {{{{tasks.{approve}.outputs.parameters.approve}}}} == YES");
    }
    let mut task_value = json!({
        "name": id,
        "template": id,
        "when": when,
    });
    if !dependencies.is_empty() {
        task_value["dependencies"] = json!(dependencies);
    }
    if !downloads.is_empty() {
        task_value["arguments"] = json!({"artifacts": downloads.iter().map(|(producer, outer)| json!({
            "name": producer,
            "from": if *outer {
                format!("{{{{inputs.artifacts.{producer}}}}}")
            } else {
                format!("{{{{tasks.{producer}.outputs.artifacts.files}}}}")
            },
        })).collect::<Vec<_>>()});
    }
    tasks.push(task_value);
    templates.push(leaf_template(context, step, &id, config, &downloads));
    (tasks, templates)
}

/// The pod a step runs in.
#[allow(clippy::too_many_lines)]
fn leaf_template(
    context: &Context<'_, '_>,
    step: &Step,
    id: &str,
    config: &crate::spec::Config,
    downloads: &[(String, bool)],
) -> Value {
    let producers: Vec<String> = downloads
        .iter()
        .map(|(producer, _)| producer.clone())
        .collect();
    let uses_mlops = step.gate.is_some() || step.promotion.is_some();
    let mut script = String::new();
    if uses_mlops {
        script.push_str(&install_mlops());
    }
    script.push_str(&step_script(
        step,
        context.input.config_dir,
        context.config_file,
        &producers,
    ));
    let mut env = vec![
        json!({"name": "MLOPS_SCRIPT", "value": base64(script.as_bytes())}),
        json!({"name": "MLOPS_SRC", "value": SOURCE}),
        json!({"name": "MLOPS_IN", "value": INPUTS}),
        json!({"name": "MLOPS_OUT", "value": OUTPUTS}),
        json!({"name": "MLOPS_NODE", "value": step.name}),
    ];
    if step.gate.is_some() {
        env.push(json!({"name": "MLOPS_BASE", "value": "{{workflow.parameters.base-revision}}"}));
    }
    let mut secrets = step.secrets.clone();
    if let Some(promotion) = &step.promotion {
        secrets.extend(promotion.secrets.iter().cloned());
        // The promotion pushes the release branch and opens its pull request.
        secrets.push("GITHUB_TOKEN".to_owned());
        env.push(
            json!({"name": "GITHUB_REPOSITORY", "value": github_repository(&context.repository)}),
        );
    }
    secrets.sort();
    secrets.dedup();
    env.extend(secret_env(&context.secret, &secrets));
    let (requested, gpu) = resources(step);
    let image = if uses_mlops {
        context.mlops_image.clone()
    } else {
        step.image
            .clone()
            .unwrap_or_else(|| context.mlops_image.clone())
    };
    let mut container = json!({
        "image": image,
        "command": ["sh", "-c"],
        "args": [LAUNCHER],
        "env": env,
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        },
    });
    if requested.as_object().is_some_and(|map| !map.is_empty()) {
        container["resources"] = requested;
    }
    let mut inputs = vec![json!({
        "name": "source",
        "path": SOURCE,
        "git": {"repo": context.repository, "revision": "{{workflow.parameters.revision}}"},
    })];
    inputs.extend(producers.iter().map(|producer| {
        json!({
            "name": producer,
            "path": format!("{INPUTS}/{producer}.tar"),
        })
    }));
    let mut template = json!({
        "name": id,
        "inputs": {"artifacts": inputs},
        "container": container,
        "activeDeadlineSeconds": u64::from(step.timeout_minutes) * 60,
        // Only what the cluster broke (a pod evicted, a node lost); never a failed command.
        "retryStrategy": {
            "limit": 2,
            "retryPolicy": "OnError",
            "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"},
        },
    });
    if gpu {
        template["tolerations"] = json!([{
            "key": "nvidia.com/gpu",
            "operator": "Exists",
            "effect": "NoSchedule",
        }]);
    }
    if step.run.is_some() && !step.outputs.is_empty() {
        template["outputs"] = json!({"artifacts": [{
            "name": "files",
            "path": format!("{OUTPUTS}/files.tar"),
            "archive": {"none": {}},
        }]});
    }
    if let Some(gate) = &step.gate {
        // Each metric the rules read, by its place (a name may hold any character; a
        // parameter name may not): its value as an output parameter and a gauge.
        let mut metrics: Vec<&str> = Vec::new();
        for rule in config
            .gates
            .get(gate)
            .map(|found| found.rules.as_slice())
            .unwrap_or_default()
        {
            if !metrics.contains(&rule.metric.as_str()) {
                metrics.push(&rule.metric);
            }
        }
        let mut output_parameters = vec![json!({
            "name": "passed",
            "valueFrom": {"path": format!("{OUTPUTS}/passed"), "default": "0"},
        })];
        let mut gauges = vec![json!({
            "name": "mlops_gate_passed",
            "help": "1 when every rule of the gate passed, 0 when one failed",
            "labels": [{"key": "gate", "value": gate}],
            "gauge": {"value": "{{outputs.parameters.passed}}", "realtime": false},
        })];
        for (index, metric) in metrics.iter().enumerate() {
            let parameter = format!("metric-{}", index + 1);
            output_parameters.push(json!({
                "name": parameter,
                "description": format!("the new value of `{}`", metric.replace("{{", "{ {")),
                "valueFrom": {"path": format!("{OUTPUTS}/values/{parameter}"), "default": "NaN"},
            }));
            gauges.push(json!({
                "name": "mlops_metric",
                "help": "A metric a gate judged, as the training wrote it",
                "labels": [
                    {"key": "gate", "value": gate},
                    {"key": "metric", "value": metric.replace("{{", "{ {")},
                ],
                "gauge": {"value": format!("{{{{outputs.parameters.{parameter}}}}}"), "realtime": false},
            }));
        }
        template["outputs"] = json!({
            "parameters": output_parameters,
            "artifacts": [{"name": "junit", "path": format!("{OUTPUTS}/junit.xml"), "optional": true, "archive": {"none": {}}}],
        });
        template["metrics"] = json!({"prometheus": gauges});
    }
    if let Some(promotion) = &step.promotion {
        template["synchronization"] = json!({"mutexes": [{
            "name": format!("mlops-deploy-{}", promotion.environment),
        }]});
    }
    template
}

/// The longest commands (`setup` and `run` together, in bytes) a step may have on this target.
/// Its template hands them to the container base64-encoded (a third larger) in one environment
/// variable, and Linux refuses to start a process with one environment string over 128 KiB
/// (`MAX_ARG_STRLEN`: the walk in `tests/argo.rs` met it as E2BIG); the wrapper around them
/// (mlops's install, the artifact moves) takes the rest. One template then also always fits in
/// one object ([`SIZE_BUDGET`]).
pub const SCRIPT_LIMIT: usize = 90_000;

/// The most templates one `WorkflowTemplate` holds (Argo's CRD).
const TEMPLATE_LIMIT: usize = 200;
/// The most bytes (as compact JSON) of templates one `WorkflowTemplate` holds: `kubectl apply`
/// and Argo CD's default client-side apply keep the whole object in an annotation, which
/// Kubernetes caps at 256 KiB.
const SIZE_BUDGET: usize = 200_000;

fn json_size(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |text| text.len())
}

/// A template part beyond the entry one: its name, its templates, their size.
type Part = (String, Vec<Value>, usize);

/// The entry template's templates (its dag first) and the parts that hold the groups it has
/// no room for (`<name>-part-<n>`).
fn arrange(
    context: &Context<'_, '_>,
    plan: &crate::plan::Plan,
    layout: &Layout,
    parameters: &[Value],
    name: &str,
) -> (Vec<Value>, Vec<Part>) {
    let graph = context.input.graph;
    let mut tasks: Vec<Value> = Vec::new();
    let mut templates: Vec<Value> = Vec::new();
    for &index in &layout.outer {
        let (step_tasks, step_templates) = step_unit(context, &plan.steps[index], &|_| false);
        tasks.extend(step_tasks);
        templates.extend(step_templates);
    }
    // Each group: a dag template with its leaves, placed in the entry template while it has
    // room, else in the next of the templates that hold the rest (`<name>-part-<n>`).
    let outer_nodes: std::collections::BTreeSet<petgraph::graph::NodeIndex> = layout
        .outer
        .iter()
        .map(|&index| plan.steps[index].node)
        .collect();
    let mut parts: Vec<Part> = Vec::new();
    // The entry dag's own tasks, about one group task per group to come.
    let mut entry_bytes: usize = templates.iter().map(json_size).sum::<usize>()
        + tasks.iter().map(json_size).sum::<usize>()
        + parameters.iter().map(json_size).sum::<usize>()
        + layout.groups.len() * 400;
    for group in &layout.groups {
        let steps: Vec<&Step> = group.iter().map(|&index| &plan.steps[index]).collect();
        let mut group_tasks = Vec::new();
        let mut group_templates = Vec::new();
        for step in &steps {
            let (step_tasks, step_templates) =
                step_unit(context, step, &|node| outer_nodes.contains(&node));
            group_tasks.extend(step_tasks);
            group_templates.extend(step_templates);
        }
        let first = task(steps[0].kind, &steps[0].name);
        let group_name = fit(&format!("group-{first}"), 63);
        let mut waits: Vec<String> = Vec::new();
        let mut reads: Vec<String> = Vec::new();
        for step in &steps {
            for need in &step.needs {
                let found = graph.node(*need);
                let id = task(found.kind, &found.name);
                if outer_nodes.contains(need) && !waits.contains(&id) {
                    waits.push(id);
                }
            }
            for download in &step.downloads {
                let found = graph.node(*download);
                let id = task(found.kind, &found.name);
                if outer_nodes.contains(download) && !reads.contains(&id) {
                    reads.push(id);
                }
            }
        }
        let mut dag_template = json!({"name": group_name});
        if !reads.is_empty() {
            dag_template["inputs"] = json!({"artifacts": reads.iter().map(|producer| json!({"name": producer})).collect::<Vec<_>>()});
        }
        dag_template["dag"] = json!({"tasks": group_tasks});
        let mut group_bytes: usize =
            json_size(&dag_template) + group_templates.iter().map(json_size).sum::<usize>();
        if group_bytes > SIZE_BUDGET {
            // Too big for any one object: the group's dag stays whole, its steps' templates go
            // to parts of their own, and each of its tasks names its template's part.
            spill(
                &mut dag_template,
                std::mem::take(&mut group_templates),
                name,
                &mut parts,
            );
            group_bytes = json_size(&dag_template);
        }
        group_templates.insert(0, dag_template);
        // The group runs when one of its steps does; a group with nothing to run is skipped
        // whole, before Argo resolves the files it would be given.
        let when = steps
            .iter()
            .map(|step| {
                format!(
                    "{{{{workflow.parameters.run-{}}}}} == true",
                    task(step.kind, &step.name)
                )
            })
            .collect::<Vec<_>>()
            .join(" || ");
        let mut group_task = json!({"name": group_name});
        if parts.is_empty()
            && 1 + templates.len() + group_templates.len() <= TEMPLATE_LIMIT
            && entry_bytes + group_bytes <= SIZE_BUDGET
        {
            group_task["template"] = json!(group_name);
            entry_bytes += group_bytes;
            templates.extend(group_templates);
        } else {
            if parts.last().is_none_or(|(_, held, bytes)| {
                held.len() + group_templates.len() > TEMPLATE_LIMIT
                    || bytes + group_bytes > SIZE_BUDGET
            }) {
                parts.push((format!("{name}-part-{}", parts.len() + 1), Vec::new(), 0));
            }
            let (part, held, bytes) = parts.last_mut().expect("a part was just pushed");
            group_task["templateRef"] = json!({"name": part, "template": group_name});
            *bytes += group_bytes;
            held.extend(group_templates);
        }
        group_task["when"] = json!(when);
        if !waits.is_empty() {
            group_task["dependencies"] = json!(waits);
        }
        if !reads.is_empty() {
            group_task["arguments"] = json!({"artifacts": reads.iter().map(|producer| json!({
                "name": producer,
                "from": format!("{{{{tasks.{producer}.outputs.artifacts.files}}}}"),
            })).collect::<Vec<_>>()});
        }
        tasks.push(group_task);
    }
    let mut all_templates = vec![json!({"name": "main", "dag": {"tasks": tasks}})];
    all_templates.extend(templates);
    (all_templates, parts)
}

/// Puts `templates` (a group's steps' own) in parts, a new one whenever the last is full, and
/// points each task of `dag_template` at its template's part (`templateRef`).
fn spill(dag_template: &mut Value, templates: Vec<Value>, name: &str, parts: &mut Vec<Part>) {
    let mut part_of: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for template in templates {
        let bytes = json_size(&template);
        if parts.last().is_none_or(|(_, held, held_bytes)| {
            held.len() + 1 > TEMPLATE_LIMIT || held_bytes + bytes > SIZE_BUDGET
        }) {
            parts.push((format!("{name}-part-{}", parts.len() + 1), Vec::new(), 0));
        }
        let (part, held, held_bytes) = parts.last_mut().expect("a part was just pushed");
        if let Some(template_name) = template["name"].as_str() {
            part_of.insert(template_name.to_owned(), part.clone());
        }
        *held_bytes += bytes;
        held.push(template);
    }
    for task in dag_template["dag"]["tasks"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let Value::Object(fields) = std::mem::take(task) else {
            continue;
        };
        // In place of `template`, where a reader of the file expects it.
        let mut pointed = serde_json::Map::new();
        for (key, value) in fields {
            match value.as_str().and_then(|template| part_of.get(template)) {
                Some(part) if key == "template" => {
                    pointed.insert(
                        "templateRef".to_owned(),
                        json!({"name": part, "template": value}),
                    );
                }
                _ => {
                    pointed.insert(key, value);
                }
            }
        }
        *task = Value::Object(pointed);
    }
}

/// Every document of the file: the template, the templates that hold the groups it could not,
/// then a `CronWorkflow` per schedule.
#[allow(clippy::too_many_lines)]
fn manifests(input: &EmitInput<'_>) -> Result<Vec<Value>, EmitError> {
    let config = input.config;
    let graph = input.graph;
    let settings = config.ci.argo.clone().unwrap_or_default();
    let config_error = |message: String| {
        EmitError::Config {
        message,
        help: "split the models over several configs (one per folder, each its own WorkflowTemplate), or train this many with the github-actions or gitlab-ci target".to_owned(),
        pointer: "/ci".to_owned(),
    }
    };
    let plan = crate::plan::build(config, graph, input.config_path, input.config_dir).map_err(
        |missing| EmitError::Config {
            message: missing.message,
            help: missing.help,
            pointer: missing.pointer,
        },
    )?;
    let layout = layout(&plan).map_err(config_error)?;
    let repository = settings
        .repo_url
        .clone()
        .or_else(|| config.gitops.as_ref().map(|gitops| gitops.repo_url.clone()))
        .ok_or_else(|| EmitError::Config {
            message: "the Argo Workflows target needs the repository its steps check out"
                .to_owned(),
            help: "add `repo_url: https://…` under `ci.argo` (or `gitops.repo_url`)".to_owned(),
            pointer: "/ci".to_owned(),
        })?;
    let name = template_name(&config.project, input.config_dir);
    let config_file = input
        .config_path
        .rsplit_once('/')
        .map_or(input.config_path, |(_, file)| file);
    let context = Context {
        input,
        repository,
        secret: settings
            .secret
            .clone()
            .unwrap_or_else(|| fit(&format!("mlops-{}", label(&config.project)), 63)),
        mlops_image: settings
            .mlops_image
            .clone()
            .unwrap_or_else(|| MLOPS_IMAGE.to_owned()),
        config_file,
    };
    let metadata_named = |name: &str| {
        let mut metadata = json!({
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "mlops"},
        });
        if let Some(namespace) = &settings.namespace {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    };

    let mut parameters = vec![
        json!({"name": "revision", "value": config.ci.branch, "description": "The commit or branch to check out and train"}),
        json!({"name": "base-revision", "value": "", "description": "The gates' baseline (empty: the metrics committed at `revision`)"}),
    ];
    for step in &plan.steps {
        parameters
            .push(json!({"name": format!("run-{}", task(step.kind, &step.name)), "value": "true"}));
    }
    let mut tolerations: Vec<Value> = settings
        .tolerations
        .iter()
        .map(|toleration| {
            let mut value = json!({"key": toleration.key, "operator": toleration.operator});
            if let Some(given) = &toleration.value {
                value["value"] = json!(given);
            }
            if let Some(effect) = toleration.effect {
                value["effect"] = json!(effect);
            }
            value
        })
        .collect();
    tolerations.dedup();

    // One dag while it fits in one object; else a dag per model.
    let (mut all_templates, mut parts) = arrange(&context, &plan, &layout, &parameters, &name);
    if layout.groups.is_empty() && all_templates.iter().map(json_size).sum::<usize>() > SIZE_BUDGET
    {
        let grouped = self::layout_grouped(&plan).map_err(config_error)?;
        (all_templates, parts) = arrange(&context, &plan, &grouped, &parameters, &name);
    }
    let mut spec = json!({
        "entrypoint": "main",
        "arguments": {"parameters": parameters.clone()},
        "podGC": {"strategy": "OnPodCompletion"},
        "ttlStrategy": {"secondsAfterCompletion": 604_800},
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "templates": all_templates,
    });
    if let Some(account) = &settings.service_account {
        spec["serviceAccountName"] = json!(account);
    }
    if !settings.node_selector.is_empty() {
        spec["nodeSelector"] = json!(settings.node_selector);
    }
    if !tolerations.is_empty() {
        spec["tolerations"] = json!(tolerations);
    }
    if let Some(repository) = &settings.artifact_repository {
        spec["artifactRepositoryRef"] =
            json!({"configMap": repository.config_map, "key": repository.key});
    }
    let mut documents = vec![json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": metadata_named(&name),
        "spec": spec,
    })];
    // The parts are libraries of templates: no entrypoint, run only through the entry
    // template's `templateRef`s, inside its workflow (its parameters, pod settings and
    // artifact repository).
    for (part, held, _) in parts {
        let text = Value::Array(held.clone()).to_string();
        let mut metadata = metadata_named(&part);
        metadata["annotations"] = json!({
            "workflows.argoproj.io/description": format!("Templates of {name}, which runs them; submit that one"),
        });
        documents.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": metadata,
            // The parameters its templates read, declared as in the entry template (the
            // entry's values are the ones used), so linters and `argo template lint` resolve
            // them.
            "spec": {"arguments": {"parameters": parameters
                .iter()
                .filter(|parameter| {
                    let reference = format!("{{{{workflow.parameters.{}}}}}", parameter["name"].as_str().unwrap_or_default());
                    text.contains(&reference)
                })
                .cloned()
                .collect::<Vec<_>>()}, "templates": held},
        }));
    }
    for cron in &plan.schedules {
        let scheduled = scheduled_tasks(config, graph, &plan, cron);
        let arguments: Vec<Value> = plan
            .steps
            .iter()
            .map(|step| {
                let id = task(step.kind, &step.name);
                json!({"name": format!("run-{id}"), "value": if scheduled.contains(&id) { "true" } else { "false" }})
            })
            .collect();
        documents.push(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "CronWorkflow",
            "metadata": metadata_named(&fit(&format!("{}-{}", fit(&name, NAME_LIMIT - 9), &hex_digest(cron)[..8]), NAME_LIMIT)),
            "spec": {
                "schedules": [cron],
                "timezone": "UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3540,
                "workflowSpec": {
                    "workflowTemplateRef": {"name": name},
                    "arguments": {"parameters": arguments},
                },
            },
        }));
    }
    Ok(documents)
}

/// The template's `run-<task>` parameters for a run of the steps `runs` selects, as JSON
/// (which `argo submit --parameter-file` reads as YAML): what `mlops affected` hands the
/// cluster, so only what a change touches runs there.
///
/// # Errors
/// A setting a deploy step needs is absent (`validate` reports it first).
pub fn run_parameters(
    config: &crate::spec::Config,
    graph: &crate::graph::Graph,
    config_path: &str,
    runs: &dyn Fn(petgraph::graph::NodeIndex) -> bool,
) -> Result<String, EmitError> {
    let plan = crate::plan::build(config, graph, config_path, "").map_err(|missing| {
        EmitError::Config {
            message: missing.message,
            help: missing.help,
            pointer: missing.pointer,
        }
    })?;
    let mut parameters = serde_json::Map::new();
    for step in &plan.steps {
        let value = if runs(step.node) { "true" } else { "false" };
        parameters.insert(format!("run-{}", task(step.kind, &step.name)), json!(value));
    }
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&Value::Object(parameters)).unwrap_or_default()
    ))
}

/// The CI side of a training with `engine: argo`: submit the `WorkflowTemplate` with only this
/// training and the producers whose files it reads switched on, wait for it (`argo wait` exits
/// non-zero when it failed), and unpack the training's files from the cluster's artifact, so
/// the pipeline's gates, report and deploys read them as if it had trained here. `revision`
/// is the shell word of the commit (`"$GITHUB_SHA"`). The argo CLI reaches the Argo Server
/// through `ARGO_SERVER` and `ARGO_TOKEN`.
#[must_use]
pub fn handoff_script(
    config: &crate::spec::Config,
    config_dir: &str,
    plan: &crate::plan::Plan,
    step: &Step,
    revision: &str,
) -> String {
    let id = task(step.kind, &step.name);
    let name = template_name(&config.project, config_dir);
    let namespace = config
        .ci
        .argo
        .as_ref()
        .and_then(|settings| settings.namespace.as_deref())
        .map(|namespace| format!(" -n {}", shell_quote(namespace)))
        .unwrap_or_default();
    // The training and, transitively, the steps it unpacks files from.
    let mut wanted = vec![step.node];
    let mut index = 0;
    while index < wanted.len() {
        let node = wanted[index];
        if let Some(found) = plan.steps.iter().find(|candidate| candidate.node == node) {
            for &download in &found.downloads {
                if !wanted.contains(&download) {
                    wanted.push(download);
                }
            }
        }
        index += 1;
    }
    let parameters: String = plan
        .steps
        .iter()
        .map(|candidate| {
            format!(
                " -p run-{}={}",
                task(candidate.kind, &candidate.name),
                wanted.contains(&candidate.node)
            )
        })
        .collect();
    format!(
        "out=$(mktemp -d)\n\
         workflow=$(argo submit --from workflowtemplate/{name}{namespace} -p revision={revision}{parameters} -o name)\n\
         echo \"mlops: {id} runs on the cluster as $workflow\"\n\
         argo wait \"$workflow\"{namespace}\n\
         argo cp \"$workflow\" \"$out\"{namespace} --template-name {id} --artifact-name files\n\
         archive=$(find \"$out\" -type f | head -n 1)\n\
         if [ -z \"$archive\" ]; then echo \"mlops: $workflow left no files for {id}\" >&2; exit 1; fi\n\
         tar -xf \"$archive\"\n"
    )
}

/// `owner/repo` of a GitHub URL, for the promotion's pull request; the URL as given otherwise.
fn github_repository(url: &str) -> String {
    url.trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit('/')
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("/")
}

/// The tasks a schedule runs: the steps built from the data it refreshes, what follows them,
/// and the producers those need (their files must exist for the consumers).
fn scheduled_tasks(
    config: &crate::spec::Config,
    graph: &crate::graph::Graph,
    plan: &crate::plan::Plan,
    cron: &str,
) -> Vec<String> {
    use crate::graph::EdgeKind;
    let edges = [
        EdgeKind::Needs,
        EdgeKind::Judges,
        EdgeKind::Ships,
        EdgeKind::After,
    ];
    let mut selected: std::collections::BTreeSet<petgraph::graph::NodeIndex> =
        std::collections::BTreeSet::new();
    for node in graph.topological_order().unwrap_or_default() {
        let found = graph.node(node);
        if found.kind == NodeKind::Data
            && config
                .data
                .get(&found.name)
                .and_then(|data| data.refresh.as_deref())
                == Some(cron)
        {
            selected.insert(node);
            selected.extend(graph.descendants(node, &edges));
        }
    }
    // What the selected steps unpack must run as well.
    let mut changed = true;
    while changed {
        changed = false;
        for step in &plan.steps {
            if selected.contains(&step.node) {
                for &need in &step.needs {
                    if selected.insert(need) {
                        changed = true;
                    }
                }
            }
        }
    }
    plan.steps
        .iter()
        .filter(|step| selected.contains(&step.node))
        .map(|step| task(step.kind, &step.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{base64, fit, label, template_name};

    #[test]
    fn names_are_dns_labels_within_argos_limit() {
        assert_eq!(
            label("p\"ro'j: #x ${{ github.token }} $(id)"),
            "p-ro-j-x-github-token-id"
        );
        assert_eq!(template_name("Churn Platform", ""), "mlops-churn-platform");
        assert_eq!(template_name("churn", "ml/churn"), "mlops-churn-ml-churn");
        let long = template_name(&"x".repeat(80), "");
        assert_eq!(long.len(), 52);
        assert_ne!(
            fit(&"a".repeat(60), 52),
            fit(&format!("{}b", "a".repeat(59)), 52)
        );
    }

    #[test]
    fn base64_has_no_braces() {
        assert_eq!(base64(b"{{x}}"), "e3t4fX0=");
        assert!(!base64("{{ workflow.name }}".as_bytes()).contains('{'));
    }
}
