//! GitHub Actions: `.github/workflows/mlops.yml`.
//!
//! The job graph is decided here, in Rust; the template (`templates/github-actions.yml.j2`)
//! only lays it out. One job per data step with a `run`, per training, per gate and per
//! deployment, plus `plan` (which nodes the change affects, from `mlops affected`) and `report`.
//! Every job after `plan` runs only if `plan` says its node is affected, so a pull request that
//! touches one model re-trains that model alone.

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

/// Action pins, read from each action's repository (`shared/research/action-pins.md`).
const CHECKOUT: &str = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";
const UPLOAD_ARTIFACT: &str =
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0";
const DOWNLOAD_ARTIFACT: &str =
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c # v8.0.1";

const DEFAULT_RUNNER: &str = "ubuntu-latest";
/// The job that validates the config and checks that every generated file is fresh.
const CHECK_JOB: &str = "check";

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
    jobs: Vec<Job>,
    /// Job ids the report waits for.
    report_needs: Vec<String>,
    /// Artifacts (one per training) the report gathers the metrics from.
    metrics: Vec<MetricsArtifact>,
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

#[derive(Debug, Serialize)]
struct MetricsArtifact {
    artifact: String,
    path: String,
}

#[derive(Debug, Serialize)]
struct Job {
    id: String,
    kind: &'static str,
    name: String,
    needs: Vec<String>,
    /// Only on the default branch (deploy jobs).
    deploy_only: bool,
    runs_on: Vec<String>,
    image: Option<String>,
    timeout_minutes: u32,
    /// GitHub environment the job is bound to (deploy jobs).
    environment: Option<String>,
    /// Artifacts of upstream jobs to unpack before running.
    downloads: Vec<String>,
    setup: Option<String>,
    /// The step's shell script, with GitHub expressions defused.
    run: Option<String>,
    secrets: Vec<String>,
    /// Artifact this job uploads (a tar of `files`), if any.
    upload: Option<String>,
    files: Vec<String>,
    /// Gate jobs: the gate's name.
    gate: Option<String>,
    /// Deploy jobs: what to upload and promote.
    promotion: Option<Promotion>,
}

/// A deploy job's promotion: upload the trained model, then `mlops promote --publish`, which
/// pushes the release to its release branch (or, approval-gated, opens its pull request).
#[derive(Debug, Serialize)]
struct Promotion {
    deployment: String,
    environment: String,
    model_path: String,
    metrics_path: Option<String>,
    registry: String,
    /// `aws` or `gcloud`: the CLI that uploads to the registry's scheme.
    upload_tool: &'static str,
    secrets: Vec<String>,
    requires_approval: bool,
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

/// The workflow's view of the engine-neutral plan: job ids, `needs` with the plan and check
/// jobs, and every config string defused for GitHub.
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
    let plan = crate::plan::build(config, graph, input.config_path, input.config_dir).map_err(
        |missing| EmitError::Config {
            message: missing.message,
            help: missing.help,
            pointer: missing.pointer,
        },
    )?;
    let id = |node: petgraph::graph::NodeIndex| {
        let node = graph.node(node);
        job_id(node.kind, &node.name)
    };
    let ids = |nodes: &[petgraph::graph::NodeIndex]| {
        nodes.iter().map(|&node| id(node)).collect::<Vec<_>>()
    };
    let runs_on = |runner: &Option<Vec<String>>| {
        runner.as_ref().map_or_else(
            || vec![DEFAULT_RUNNER.to_owned()],
            |labels| labels.iter().map(|label| gha_literal(label)).collect(),
        )
    };
    let mut jobs = Vec::new();
    let mut report_needs = Vec::new();
    let mut metrics = Vec::new();
    for step in &plan.steps {
        let job_id = id(step.node);
        let (kind, name) = match step.kind {
            NodeKind::Data => ("data", format!("data: {}", step.name)),
            NodeKind::Training => ("training", format!("train: {}", step.name)),
            NodeKind::Gate => ("gate", format!("gate: {}", step.name)),
            NodeKind::Deployment => (
                "deployment",
                format!(
                    "deploy: {} to {}",
                    step.name,
                    step.promotion
                        .as_ref()
                        .map_or("", |promotion| promotion.environment.as_str())
                ),
            ),
            NodeKind::Approval => continue,
        };
        if matches!(step.kind, NodeKind::Training | NodeKind::Gate) {
            report_needs.push(job_id.clone());
        }
        if let Some(path) = &step.metrics {
            metrics.push(MetricsArtifact {
                artifact: job_id.clone(),
                path: path.clone(),
            });
        }
        let mut needs = ids(&step.needs);
        if step.kind == NodeKind::Deployment {
            // Nothing stale or invalid is ever deployed: the deploy waits for `check`.
            needs.push(CHECK_JOB.to_owned());
        }
        jobs.push(Job {
            id: job_id.clone(),
            kind,
            name,
            needs: with_plan(needs),
            deploy_only: step.kind == NodeKind::Deployment,
            runs_on: runs_on(&step.runner),
            image: step.image.as_deref().map(gha_literal),
            timeout_minutes: step.timeout_minutes,
            environment: step
                .promotion
                .as_ref()
                .map(|promotion| promotion.environment.clone()),
            downloads: ids(&step.downloads),
            setup: step.setup.as_deref().map(gha_literal),
            run: step.run.as_deref().map(gha_literal),
            secrets: step.secrets.clone(),
            upload: (!step.outputs.is_empty()).then(|| job_id.clone()),
            files: step.outputs.clone(),
            gate: step.gate.clone(),
            promotion: step.promotion.as_ref().map(promotion),
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
    let config_file = input
        .config_path
        .rsplit_once('/')
        .map_or(input.config_path, |(_, file)| file)
        .to_owned();
    Ok(Workflow {
        // `name` is a static field: no expression can be written there, so a `${{` in the
        // project's name is shown with a space, `$ {{`.
        name: format!("mlops: {}", config.project).replace("${{", "$ {{"),
        branch: config.ci.branch.clone(),
        on_pull_request: config.ci.on_pull_request,
        paths,
        schedules: plan.schedules,
        config_path: config_file,
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
        jobs,
        report_needs: with_plan(report_needs),
        metrics,
    })
}

/// A deploy step's promotion, for the template.
fn promotion(promotion: &crate::plan::Promotion) -> Promotion {
    Promotion {
        deployment: promotion.deployment.clone(),
        environment: promotion.environment.clone(),
        model_path: gha_literal(&promotion.model_path),
        metrics_path: promotion.metrics_path.as_deref().map(gha_literal),
        registry: gha_literal(&promotion.registry),
        upload_tool: if promotion.registry.starts_with("gs://") {
            "gcloud"
        } else {
            "aws"
        },
        secrets: promotion.secrets.clone(),
        requires_approval: promotion.requires_approval,
    }
}

/// Job ids are prefixed by kind, so no node name can collide with `plan` or `report`, and an id
/// never starts with a digit (GitHub requires a letter or `_`).
#[must_use]
pub fn job_id(kind: NodeKind, name: &str) -> String {
    let prefix = match kind {
        NodeKind::Data => "data",
        NodeKind::Training => "train",
        NodeKind::Gate => "gate",
        NodeKind::Approval => "approval",
        NodeKind::Deployment => "deploy",
    };
    format!("{prefix}-{name}")
}

fn with_plan(mut needs: Vec<String>) -> Vec<String> {
    needs.dedup();
    let mut all = vec!["plan".to_owned()];
    for need in needs {
        if !all.contains(&need) {
            all.push(need);
        }
    }
    all
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
