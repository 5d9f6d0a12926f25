//! GitHub Actions: `.github/workflows/mlops.yml`.
//!
//! The job graph is decided here, in Rust; the template (`templates/github-actions.yml.j2`)
//! only lays it out. The plan's steps are grouped into stages (one level and kind of the
//! graph, sharing runner, image, time limit, secrets and environment), and each stage is one
//! job whose matrix the `plan` job fills at run time with the steps that run (`mlops affected
//! --format github-output`). So the file's size does not grow with the number of models, a
//! pull request that touches one model of fifty starts one training, and a stage larger than
//! GitHub's 256-job matrix limit is split into parts. A step's commands are not in the file:
//! the plan job writes each running step's scripts (`run_time_plan`) into the `mlops-plan`
//! artifact, and every step refuses to start unless the steps it waits for succeeded.

use serde::Serialize;

use super::templates::gha_literal;
use super::{Artifact, EmitError, EmitInput, Emitter, render_yaml, yaml_header};
use crate::graph::NodeKind;

/// Where the workflow of a config at the repository root goes.
pub const WORKFLOW_PATH: &str = ".github/workflows/mlops.yml";

/// Where the workflow of the config in `config_dir` goes: at the root, where GitHub reads
/// workflows, named after the folder so several configs in one repository never collide
/// (`ml/churn` -> `.github/workflows/mlops-ml-churn.yml`).
#[must_use]
pub fn workflow_path(config_dir: &str) -> String {
    named_for(WORKFLOW_PATH, config_dir)
}

fn named_for(path: &str, config_dir: &str) -> String {
    if config_dir.is_empty() {
        return path.to_owned();
    }
    let slug: String = config_dir
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = path.strip_suffix(".yml").unwrap_or(path);
    format!("{stem}-{slug}.yml")
}
/// The template it is rendered from.
pub const TEMPLATE: &str = "github-actions.yml.j2";
/// Where the workflow that comments on pull requests from forks goes.
pub const COMMENT_WORKFLOW_PATH: &str = ".github/workflows/mlops-comment.yml";
/// Its template.
pub const COMMENT_TEMPLATE: &str = "github-comment.yml.j2";
/// Where the scheduled monitoring of the monitored deployments goes.
pub const MONITOR_WORKFLOW_PATH: &str = ".github/workflows/mlops-monitor.yml";
/// Its template.
pub const MONITOR_TEMPLATE: &str = "github-monitor.yml.j2";

/// Action pins, read from each action's repository (`shared/research/action-pins.md`).
const CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";
const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0";
const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c # v8.0.1";

const DEFAULT_RUNNER: &str = "ubuntu-latest";
/// The job that validates the config and checks that every generated file is fresh.
const CHECK_JOB: &str = "check";
/// GitHub makes at most 256 jobs of one matrix: a larger stage is split into parts.
pub const MATRIX_LIMIT: usize = 256;
/// Where the plan job writes each step's scripts, under the runner's temporary folder; they
/// reach the steps as the `mlops-plan` artifact.
pub const SCRIPTS_ARTIFACT: &str = "mlops-plan";

/// The GitHub Actions emitter.
pub struct GithubActions;

/// Everything the template needs, precomputed.
#[derive(Debug, Serialize)]
struct Workflow {
    name: String,
    /// `defaults.run.working-directory`: the config's folder, when it is not the root.
    working_directory: Option<String>,
    /// The sticky comment's key: the config's path from the root.
    comment_key: String,
    /// Where the report job writes the report, from the root (for upload-artifact).
    report_file: String,
    branch: String,
    on_pull_request: bool,
    /// `on.pull_request.paths` / `on.push.paths`: what can change a node's result.
    paths: Vec<String>,
    schedules: Vec<String>,
    config_path: String,
    uses: Uses,
    /// One job per stage, each a matrix over the stage's steps that run.
    jobs: Vec<Job>,
    /// Job ids the report waits for.
    report_needs: Vec<String>,
    /// Whether any training uploads files the report may read metrics from.
    trainings: bool,
}

#[derive(Debug, Serialize)]
struct Uses {
    checkout: &'static str,
    upload_artifact: &'static str,
    download_artifact: &'static str,
    /// `OWNER/REPO@SHA`: the mlops action, pinned.
    mlops: String,
    /// The SHA of `mlops`, passed to the action so its build knows its own commit.
    mlops_commit: String,
}

/// One stage's job: what its steps share (static, in the file) and its id, under which the
/// plan job publishes the names of the steps that run (dynamic, a matrix).
#[derive(Debug, Serialize)]
struct Job {
    id: String,
    /// `data`, `training`, `gate` or `deployment`.
    kind: &'static str,
    /// The step id's prefix (`train` in `train-churn`).
    prefix: &'static str,
    /// The job's title before the step's name (`train: churn`).
    title: &'static str,
    needs: Vec<String>,
    /// Only on the default branch (deploy jobs).
    deploy_only: bool,
    runs_on: Vec<String>,
    image: Option<String>,
    timeout_minutes: u32,
    /// GitHub environment the job is bound to (deploy jobs).
    environment: Option<String>,
    secrets: Vec<String>,
    /// Gates and deploys run `mlops` and read history (the base's metrics, the releases).
    uses_mlops: bool,
    /// Approval-gated deploys open a pull request.
    requires_approval: bool,
    /// How many steps the stage holds, for the comment above the job.
    steps: usize,
}

/// A stage: steps of one level and kind that share everything the job fixes (runner, image,
/// time limit, secrets, environment), at most [`MATRIX_LIMIT`] of them.
#[derive(Debug, Clone)]
pub struct Stage {
    /// The job id (`train-2`; `train-2-2` for the second group of a level, `...-part2` for a
    /// stage split at the matrix limit).
    pub id: String,
    /// Its steps' nodes, in the plan's order.
    pub nodes: Vec<petgraph::graph::NodeIndex>,
    level: u32,
    kind: NodeKind,
    runner: Option<Vec<String>>,
    image: Option<String>,
    timeout_minutes: u32,
    secrets: Vec<String>,
    environment: Option<String>,
    requires_approval: bool,
}

/// What a step id is made of.
fn prefix(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Data => "data",
        NodeKind::Training => "train",
        NodeKind::Gate => "gate",
        NodeKind::Approval => "approval",
        NodeKind::Deployment => "deploy",
    }
}

fn kind_rank(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Data => 0,
        NodeKind::Training => 1,
        NodeKind::Gate => 2,
        NodeKind::Approval => 3,
        NodeKind::Deployment => 4,
    }
}

/// A step's secrets: its own and, for a deploy, the registry's.
fn step_secrets(step: &crate::plan::Step) -> Vec<String> {
    let mut secrets = step.secrets.clone();
    if let Some(promotion) = &step.promotion {
        secrets.extend(promotion.secrets.iter().cloned());
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

/// The plan's steps as stages: grouped by level and kind and by what the job fixes, in level
/// order, each group split at the matrix limit. The same function serves `render` (the jobs)
/// and the plan job at run time (which names go in which job), so the two always agree.
#[must_use]
pub fn stages(plan: &crate::plan::Plan) -> Vec<Stage> {
    let mut groups: Vec<Stage> = Vec::new();
    for step in &plan.steps {
        let candidate = Stage {
            id: String::new(),
            nodes: vec![step.node],
            level: step.level,
            kind: step.kind,
            runner: step.runner.clone(),
            image: step.image.clone(),
            timeout_minutes: step.timeout_minutes,
            secrets: step_secrets(step),
            environment: step
                .promotion
                .as_ref()
                .map(|promotion| promotion.environment.clone()),
            requires_approval: step
                .promotion
                .as_ref()
                .is_some_and(|promotion| promotion.requires_approval),
        };
        if let Some(group) = groups.iter_mut().find(|group| {
            group.level == candidate.level
                && group.kind == candidate.kind
                && group.runner == candidate.runner
                && group.image == candidate.image
                && group.timeout_minutes == candidate.timeout_minutes
                && group.secrets == candidate.secrets
                && group.environment == candidate.environment
                && group.requires_approval == candidate.requires_approval
        }) {
            group.nodes.push(step.node);
        } else {
            groups.push(candidate);
        }
    }
    groups.sort_by_key(|group| (group.level, kind_rank(group.kind)));
    let mut stages = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let level = group.level;
        let same: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, other)| other.level == level && other.kind == group.kind)
            .map(|(other, _)| other)
            .collect();
        let mut id = format!("{}-{level}", prefix(group.kind));
        if same.len() > 1 {
            let position = same.iter().position(|&other| other == index).unwrap_or(0);
            id.push_str(&format!("-{}", position + 1));
        }
        let parts = group.nodes.chunks(MATRIX_LIMIT).count();
        for (part, nodes) in group.nodes.chunks(MATRIX_LIMIT).enumerate() {
            stages.push(Stage {
                id: if parts > 1 {
                    format!("{id}-part{}", part + 1)
                } else {
                    id.clone()
                },
                nodes: nodes.to_vec(),
                ..group.clone()
            });
        }
    }
    stages
}

impl Emitter for GithubActions {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let workflow = plan(input)?;
        let mut contents = yaml_header(input);
        contents.push_str(&render_yaml(input.templates, TEMPLATE, &workflow)?);
        let mut artifacts = vec![Artifact {
            path: workflow_path(input.config_dir),
            contents,
        }];
        if workflow.on_pull_request {
            let mut contents = yaml_header(input);
            contents.push_str(&render_yaml(input.templates, COMMENT_TEMPLATE, &workflow)?);
            artifacts.push(Artifact {
                path: named_for(COMMENT_WORKFLOW_PATH, input.config_dir),
                contents,
            });
        }
        if let Some(monitor) = monitor_workflow(input, &workflow) {
            let mut contents = yaml_header(input);
            contents.push_str(&render_yaml(input.templates, MONITOR_TEMPLATE, &monitor)?);
            artifacts.push(Artifact {
                path: named_for(MONITOR_WORKFLOW_PATH, input.config_dir),
                contents,
            });
        }
        Ok(artifacts)
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[super::Owned {
            path: ".github/workflows",
            at_root: true,
            file: false,
        }]
    }
}

fn missing_to_error(missing: crate::plan::Missing) -> EmitError {
    EmitError::Config {
        message: missing.message,
        help: missing.help,
        pointer: missing.pointer,
    }
}

/// The workflow's view of the engine-neutral plan: a job per stage with its `needs`, the plan
/// and check jobs, and every config string defused for GitHub. No step's command is in the
/// file: the plan job writes them as scripts, so the file does not grow with the models.
fn plan(input: &EmitInput<'_>) -> Result<Workflow, EmitError> {
    let config = input.config;
    let graph = input.graph;
    // `validate` guarantees one of the two (`missing-setting`).
    let mlops = config
        .ci
        .github_action
        .clone()
        .or_else(crate::build_info::default_github_action)
        .ok_or_else(|| EmitError::Config {
            message: "`ci.github_action` is not set and this build of mlops knows no commit"
                .to_owned(),
            help: "add `github_action: OWNER/mlops@<full commit sha>` under `ci:`".to_owned(),
            pointer: "/ci".to_owned(),
        })?;
    if input.config_path.chars().any(char::is_control) {
        return Err(EmitError::Config {
            message: format!(
                "the config path {:?} contains a control character",
                input.config_path
            ),
            help: "rename the file or its folder".to_owned(),
            pointer: String::new(),
        });
    }
    let plan = crate::plan::build(config, graph, input.config_path, input.config_dir)
        .map_err(missing_to_error)?;
    let stages = stages(&plan);
    let stage_index: std::collections::HashMap<petgraph::graph::NodeIndex, usize> = stages
        .iter()
        .enumerate()
        .flat_map(|(index, stage)| stage.nodes.iter().map(move |&node| (node, index)))
        .collect();
    let step_of: std::collections::HashMap<petgraph::graph::NodeIndex, &crate::plan::Step> =
        plan.steps.iter().map(|step| (step.node, step)).collect();
    let stage_of = |node: petgraph::graph::NodeIndex| {
        stage_index
            .get(&node)
            .map(|&index| stages[index].id.clone())
    };
    let mut jobs = Vec::new();
    let mut report_needs = vec!["plan".to_owned()];
    for stage in &stages {
        let mut needs = vec!["plan".to_owned()];
        if stage.kind == NodeKind::Deployment {
            // Nothing stale or invalid is ever deployed: the deploy waits for `check`.
            needs.push(CHECK_JOB.to_owned());
        }
        for step in stage.nodes.iter().filter_map(|node| step_of.get(node)) {
            for &need in &step.needs {
                if let Some(id) = stage_of(need)
                    && !needs.contains(&id)
                {
                    needs.push(id);
                }
            }
        }
        if matches!(stage.kind, NodeKind::Training | NodeKind::Gate) {
            report_needs.push(stage.id.clone());
        }
        let (kind, title) = match stage.kind {
            NodeKind::Data => ("data", "data"),
            NodeKind::Training => ("training", "train"),
            NodeKind::Gate => ("gate", "gate"),
            NodeKind::Approval | NodeKind::Deployment => ("deployment", "deploy"),
        };
        jobs.push(Job {
            id: stage.id.clone(),
            kind,
            prefix: prefix(stage.kind),
            title,
            needs,
            deploy_only: stage.kind == NodeKind::Deployment,
            runs_on: stage.runner.as_ref().map_or_else(
                || vec![DEFAULT_RUNNER.to_owned()],
                |labels| labels.iter().map(|label| gha_literal(label)).collect(),
            ),
            image: stage.image.as_deref().map(gha_literal),
            timeout_minutes: stage.timeout_minutes,
            environment: stage.environment.clone(),
            secrets: stage.secrets.clone(),
            uses_mlops: matches!(stage.kind, NodeKind::Gate | NodeKind::Deployment),
            requires_approval: stage.requires_approval,
            steps: stage.nodes.len(),
        });
    }
    let mut paths: Vec<String> = plan.watch_files.clone();
    paths.push(workflow_path(input.config_dir));
    paths.extend(
        plan.watch
            .iter()
            .flat_map(|pattern| crate::paths::github_filters(pattern)),
    );
    paths.sort();
    paths.dedup();
    Ok(Workflow {
        // `name` is a static field: no expression can be written there, so a `${{` in the
        // project's name is shown with a space, `$ {{`.
        name: format!("mlops: {}", config.project).replace("${{", "$ {{"),
        branch: config.ci.branch.clone(),
        on_pull_request: config.ci.on_pull_request,
        paths,
        schedules: plan.schedules,
        config_path: config_file(input.config_path).to_owned(),
        working_directory: (!input.config_dir.is_empty()).then(|| gha_literal(input.config_dir)),
        comment_key: input.config_path.to_owned(),
        report_file: gha_literal(&super::rebase(input.config_dir, "mlops-report.md")),
        uses: Uses {
            checkout: CHECKOUT,
            upload_artifact: UPLOAD_ARTIFACT,
            download_artifact: DOWNLOAD_ARTIFACT,
            mlops_commit: mlops
                .rsplit_once('@')
                .map(|(_, commit)| commit.to_owned())
                .unwrap_or_default(),
            mlops,
        },
        trainings: plan
            .steps
            .iter()
            .any(|step| step.kind == NodeKind::Training && !step.outputs.is_empty()),
        jobs,
        report_needs,
    })
}

/// The monitor workflow's view: the main workflow's settings it shares, a job per monitored
/// deployment.
#[derive(Debug, Serialize)]
struct MonitorWorkflow<'a> {
    name: &'a str,
    working_directory: Option<&'a str>,
    config_path: &'a str,
    uses: &'a Uses,
    /// The main workflow's file name, which a retrain dispatches.
    main_workflow: String,
    branch: &'a str,
    /// The pinned Evidently and pandas, as pip arguments.
    evidently: String,
    schedules: Vec<String>,
    jobs: Vec<MonitorJob>,
}

/// One monitored deployment's jobs.
#[derive(Debug, Serialize)]
struct MonitorJob {
    /// A job id suffix (the deployment's name is one already: `^[a-z0-9][a-z0-9-]*$`).
    id: String,
    deployment: String,
    training: String,
    schedule: String,
    min_rows: u64,
    release_branch: String,
    /// The release record, from the repository root.
    release_record: String,
    /// The prefix KServe's logger writes this deployment's records under.
    logs: String,
    /// The Evidently configuration, from the config's folder.
    evidently_config: String,
    /// Where the ground truth lands, when live performance is judged.
    labels: Option<String>,
    /// `collect`'s arguments that join it (empty without `performance`).
    collect_ground_truth: &'static str,
    /// `judge`'s argument that reads the metrics (empty without `performance`).
    judge_performance: &'static str,
    secrets: Vec<String>,
    retrain: bool,
    issue: bool,
}

fn monitor_workflow<'a>(
    input: &EmitInput<'_>,
    workflow: &'a Workflow,
) -> Option<MonitorWorkflow<'a>> {
    use crate::spec::model::OnDrift;
    let config = input.config;
    let mut schedules: Vec<String> = Vec::new();
    let mut jobs = Vec::new();
    for (name, deployment) in &config.deployments {
        let Some(monitoring) = &deployment.monitoring else {
            continue;
        };
        // `validate` requires a store for a monitored deployment.
        let Some((bucket, path)) = deployment
            .logging
            .as_ref()
            .and_then(crate::spec::model::Logging::store_parts)
        else {
            continue;
        };
        let namespace = config
            .environments
            .get(&deployment.environment)
            .and_then(|environment| environment.namespace.clone())
            .unwrap_or_else(|| "default".to_owned());
        if !schedules.contains(&monitoring.schedule) {
            schedules.push(monitoring.schedule.clone());
        }
        jobs.push(MonitorJob {
            id: name.clone(),
            deployment: name.clone(),
            training: deployment.model.clone(),
            schedule: monitoring.schedule.clone(),
            min_rows: monitoring.min_rows,
            release_branch: crate::publish::release_branch(config, &deployment.environment),
            release_record: super::rebase(
                input.config_dir,
                &crate::release::path(&deployment.environment, name),
            ),
            logs: format!("{bucket}/{namespace}/{name}/predictor{path}/"),
            evidently_config: super::monitor::evidently_path(name),
            labels: monitoring
                .performance
                .as_ref()
                .map(|performance| gha_literal(&performance.labels)),
            collect_ground_truth: if monitoring.performance.is_some() {
                " --labels \"$RUNNER_TEMP/labels\" --performance \"$RUNNER_TEMP/performance.json\""
            } else {
                ""
            },
            judge_performance: if monitoring.performance.is_some() {
                " --performance \"$RUNNER_TEMP/performance.json\""
            } else {
                ""
            },
            secrets: deployment.secrets.clone(),
            retrain: monitoring.on_drift.contains(&OnDrift::Retrain),
            issue: monitoring.on_drift.contains(&OnDrift::Issue),
        });
    }
    if jobs.is_empty() {
        return None;
    }
    Some(MonitorWorkflow {
        name: &workflow.name,
        working_directory: workflow.working_directory.as_deref(),
        config_path: &workflow.config_path,
        uses: &workflow.uses,
        main_workflow: workflow_path(input.config_dir)
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        branch: &workflow.branch,
        evidently: format!(
            "'{}' '{}'",
            super::monitor::EVIDENTLY,
            super::monitor::PANDAS
        ),
        schedules,
        jobs,
    })
}

/// The config's file name: every command runs in its folder.
fn config_file(config_path: &str) -> &str {
    config_path
        .rsplit_once('/')
        .map_or(config_path, |(_, file)| file)
}

/// What the plan job publishes at run time: `$GITHUB_OUTPUT` lines, one per stage job, each
/// the JSON list of the names of its steps that run (`[]`: the job is skipped), and each
/// running step's scripts, as `(path under the scripts folder, contents)`.
///
/// # Errors
/// A setting a deploy step needs is absent (`validate` reports it first).
pub fn run_time_plan(
    config: &crate::spec::Config,
    graph: &crate::graph::Graph,
    config_path: &str,
    runs: &dyn Fn(petgraph::graph::NodeIndex) -> bool,
) -> Result<(String, Vec<(String, String)>), EmitError> {
    let config_file = config_file(config_path);
    let plan = crate::plan::build(config, graph, config_path, "").map_err(missing_to_error)?;
    let mut output = String::new();
    for stage in stages(&plan) {
        let names: Vec<&str> = stage
            .nodes
            .iter()
            .filter(|&&node| runs(node))
            .map(|&node| graph.node(node).name.as_str())
            .collect();
        output.push_str(&format!(
            "{}={}\n",
            stage.id,
            serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_owned())
        ));
    }
    let mut scripts = Vec::new();
    for step in plan.steps.iter().filter(|step| runs(step.node)) {
        let id = job_id(step.kind, &step.name);
        let needs: Vec<String> = step
            .needs
            .iter()
            .map(|&need| {
                let node = graph.node(need);
                job_id(node.kind, &node.name)
            })
            .collect();
        let pattern = match needs.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            many => format!("{{{}}}", many.join(",")),
        };
        scripts.push((format!("{id}/pattern"), pattern));
        let command = if step.on_cluster {
            let config_dir = config_path.rsplit_once('/').map_or("", |(dir, _)| dir);
            super::argo::handoff_script(config, config_dir, &plan, step, "\"$GITHUB_SHA\"")
        } else {
            command_script(step, config_file)
        };
        scripts.push((format!("{id}/command.sh"), command));
        scripts.push((format!("{id}/run.sh"), run_script(step, &id, &needs, graph)));
    }
    Ok((output, scripts))
}

/// The step's own work: the config's `setup` and `run`, a gate's evaluation, a deploy's
/// upload and promotion. Run with `bash -e` (as GitHub runs `run:`), or `sh -e` in an image
/// without bash.
fn command_script(step: &crate::plan::Step, config_file: &str) -> String {
    let mut script = String::new();
    if let Some(setup) = &step.setup {
        script.push_str(setup);
        script.push('\n');
    }
    if let Some(run) = &step.run {
        script.push_str(run);
        script.push('\n');
    }
    if let Some(gate) = &step.gate {
        // The pull request's base; after a push, the commit before it; on a schedule or by
        // hand, the metrics committed at this commit (the job's BASE).
        script.push_str(&super::commands::gate(config_file, gate, None));
    }
    if let Some(promotion) = &step.promotion {
        // Pushes to the release branch (approval-gated: to a promotion branch, with a pull
        // request into the release branch); never to the default branch.
        script.push_str(&super::commands::promotion(config_file, promotion, false));
    }
    script
}

/// The wrapper every step runs: refuse to start unless each step it waits for succeeded in
/// this run (each leaves `<id>.ok` in its artifact), unpack its producers' files, run the
/// command, pack its own files and leave its `.ok`.
fn run_script(
    step: &crate::plan::Step,
    id: &str,
    needs: &[String],
    graph: &crate::graph::Graph,
) -> String {
    use super::templates::shell_quote;
    let mut script = format!(
        "# mlops: step {id}, written by `mlops affected` in the plan job\nset -eu\nin=\"$RUNNER_TEMP/mlops-in\"\nout=\"$RUNNER_TEMP/mlops-out\"\nhere=$(dirname -- \"$0\")\n"
    );
    for need in needs {
        script.push_str(&format!(
            "if [ ! -f \"$in/{need}/{need}.ok\" ]; then\n  echo \"::error title=mlops::{id} does not run: {need}, which it waits for, did not succeed in this run\"\n  exit 1\nfi\n"
        ));
    }
    for &download in &step.downloads {
        let node = graph.node(download);
        let producer = job_id(node.kind, &node.name);
        script.push_str(&format!(
            "if [ -f \"$in/{producer}/{producer}.tar\" ]; then tar -xf \"$in/{producer}/{producer}.tar\"; fi\n"
        ));
    }
    script.push_str(
        "if command -v bash >/dev/null 2>&1; then bash -e \"$here/command.sh\"; else sh -e \"$here/command.sh\"; fi\nmkdir -p \"$out\"\n",
    );
    if !step.outputs.is_empty() {
        // A tar keeps each file's path; upload-artifact alone would strip the common prefix.
        let files: Vec<String> = step.outputs.iter().map(|file| shell_quote(file)).collect();
        script.push_str(&format!(
            "tar -cf \"$out/{id}.tar\" -- {}\n",
            files.join(" ")
        ));
    }
    script.push_str(&format!("echo ok >\"$out/{id}.ok\"\n"));
    script
}

/// Step ids are prefixed by kind, so no node name can collide with `plan` or `report`, and an
/// id never starts with a digit (GitHub requires a letter or `_`).
#[must_use]
pub fn job_id(kind: NodeKind, name: &str) -> String {
    format!("{}-{name}", prefix(kind))
}

/// The repository settings the generated workflow relies on, one sentence each, for `render` to
/// print when it first writes the workflow (the README lists them too). None of them can be
/// set from a workflow file.
#[must_use]
pub fn repository_settings(config: &crate::spec::Config) -> Vec<String> {
    let mut settings = Vec::new();
    let deployed: Vec<&String> = config
        .environments
        .keys()
        .filter(|environment| {
            config
                .deployments
                .values()
                .any(|deployment| &deployment.environment == *environment)
        })
        .collect();
    if !deployed.is_empty() {
        settings.push(format!(
            "Settings > Environments: create {} (each deploy job runs in its environment; its secrets and protection rules apply)",
            deployed
                .iter()
                .map(|environment| format!("`{environment}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let gated: Vec<&String> = deployed
        .iter()
        .copied()
        .filter(|environment| {
            config
                .environments
                .get(*environment)
                .is_some_and(|environment| environment.requires_approval)
        })
        .collect();
    for environment in &gated {
        let wanted = config
            .approvals
            .values()
            .filter(|approval| &approval.environment == *environment)
            .map(|approval| approval.min_approvals)
            .max()
            .unwrap_or(1);
        settings.push(format!(
            "Settings > Rules > Rulesets: protect branch `{}` (no bypass): require a pull request with at least {wanted} approving review{} (`min_approvals`) and review from Code Owners; its .github/CODEOWNERS, written by mlops from the approvals' reviewers, names who must approve, teams included",
            crate::publish::release_branch(config, environment),
            if wanted == 1 { "" } else { "s" }
        ));
    }
    if !gated.is_empty() {
        let names = gated
            .iter()
            .map(|environment| format!("`{environment}`"))
            .collect::<Vec<_>>()
            .join(", ");
        settings.push(format!(
            "Settings > Actions > General > Workflow permissions: allow GitHub Actions to create and approve pull requests (the deploy jobs of {names} open the promotion pull request into the release branch; the code-owner review is what a bot approval cannot give)"
        ));
    }
    let ungated: Vec<&String> = deployed
        .iter()
        .copied()
        .filter(|environment| !gated.contains(environment))
        .collect();
    if !ungated.is_empty() {
        settings.push(format!(
            "branch{} {}: leave without a rule that requires pull requests (the deploy jobs push releases there with GITHUB_TOKEN, which no rule lets bypass); the default branch `{}` can require anything: no job pushes to it",
            if ungated.len() == 1 { "" } else { "es" },
            ungated
                .iter()
                .map(|environment| format!("`{}`", crate::publish::release_branch(config, environment)))
                .collect::<Vec<_>>()
                .join(", "),
            config.ci.branch
        ));
    }
    let on_cluster = config
        .training
        .values()
        .any(|training| training.engine == Some(crate::spec::model::Engine::Argo));
    let argo: Vec<String> = if on_cluster {
        crate::plan::ARGO_SECRETS
            .iter()
            .map(|name| (*name).to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let mut secrets: Vec<&String> = config
        .training
        .values()
        .flat_map(|training| &training.secrets)
        .chain(
            config
                .deployments
                .values()
                .flat_map(|deployment| &deployment.secrets),
        )
        .chain(&argo)
        .collect();
    secrets.sort();
    secrets.dedup();
    if !secrets.is_empty() {
        settings.push(format!(
            "Settings > Secrets and variables > Actions: {}",
            secrets
                .iter()
                .map(|secret| format!("`{secret}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    settings
}
