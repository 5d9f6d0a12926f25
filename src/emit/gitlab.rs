//! GitLab CI: `.gitlab-ci.yml` (a config in a folder: `.gitlab/mlops/<folder>.yml`, for the
//! root file to `include`).
//!
//! One job per plan step, in a `needs:` DAG; stages only lay the pipeline out. GitLab cannot
//! gate a job's `rules` on what a plan job computed at run time (dotenv values reach scripts
//! only), so the filter is static: a job runs when a file changed that its own result, an
//! ancestor's or a descendant's (and that descendant's other ancestors) depends on. So a job
//! never runs without the producers whose artifacts it unpacks, and a consumer of a changed
//! producer always runs. Lists of paths are split at GitLab's 50 patterns; branch pipelines
//! compare to the default branch (`compare_to`), since a new branch would otherwise count
//! every file as changed.
//!
//! Files pass between jobs as one tar per producer (`.mlops-ci/<step>.tar`), so every user
//! path stays inside a shell word: GitLab expands `$NAME` in `artifacts:paths`, never in
//! `script`. A step's commands are script entries, byte for byte the user's.

use std::collections::{BTreeSet, HashMap};

use petgraph::graph::NodeIndex;
use serde::Serialize;

use super::templates::shell_quote;
use super::{Artifact, EmitError, EmitInput, Emitter, render_yaml, yaml_header};
use crate::graph::{EdgeKind, NodeKind};
use crate::plan::{Plan, Step};

/// Where the pipeline of a config at the repository root goes: where GitLab reads it.
pub const PIPELINE_PATH: &str = ".gitlab-ci.yml";
/// Where the pipelines of configs in folders go, one file each, for the root file to include.
pub const INCLUDED_DIR: &str = ".gitlab/mlops";
/// The template it is rendered from.
pub const TEMPLATE: &str = "gitlab-ci.yml.j2";
/// GitLab refuses a `rules:changes` list longer than this.
pub const CHANGES_LIMIT: usize = 50;
/// GitLab refuses more `needs` than this per job (the default `ci_needs_size_limit`).
pub const NEEDS_LIMIT: usize = 50;
/// The image the jobs that run only `mlops` use (gates, the report, the check): Python, to
/// install the `mlops-yaml` wheel, and git, to read the base's metrics.
pub const MLOPS_IMAGE: &str = "python:3.12";
/// Where files travel between jobs, from the project's root.
pub const TRANSFER_DIR: &str = ".mlops-ci";
/// The masked CI/CD variable holding the project access token `mlops comment` and the deploy
/// jobs use (`CI_JOB_TOKEN` can neither write notes nor push).
pub const TOKEN_VARIABLE: &str = "MLOPS_GITLAB_TOKEN";
/// How long job artifacts are kept.
const EXPIRE_IN: &str = "30 days";

/// Where the pipeline of the config in `config_dir` goes.
#[must_use]
pub fn pipeline_path(config_dir: &str) -> String {
    if config_dir.is_empty() {
        PIPELINE_PATH.to_owned()
    } else {
        format!("{INCLUDED_DIR}/{}.yml", slug(config_dir))
    }
}

fn slug(config_dir: &str) -> String {
    config_dir
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The GitLab CI emitter.
pub struct GitlabCi;

/// Everything the template needs, precomputed; every string is written by `yaml_str`.
#[derive(Debug, Serialize)]
struct Pipeline {
    /// A file GitLab reads itself (the root config's), rather than one to include.
    standalone: bool,
    on_merge_request: bool,
    stages: Vec<String>,
    image: Option<String>,
    before_script: Vec<String>,
    mlops_image: &'static str,
    mlops_version: &'static str,
    /// The script entries that put `mlops` on the PATH.
    install_mlops: Vec<String>,
    jobs: Vec<Job>,
}

#[derive(Debug, Serialize)]
struct Job {
    name: String,
    /// A comment line above the job.
    comment: String,
    stage: String,
    /// `None`: the pipeline's default (the config's image).
    image: Option<String>,
    /// `None`: the pipeline's default (the config's setup).
    before_script: Option<Vec<String>>,
    script: Vec<String>,
    /// `None`: stage order (and every earlier job's artifacts).
    needs: Option<Vec<Need>>,
    rules: Vec<Rule>,
    tags: Vec<String>,
    timeout: String,
    interruptible: bool,
    variables: Vec<(String, String)>,
    artifacts: Option<Artifacts>,
    environment: Option<Environment>,
    resource_group: Option<String>,
    /// CI/CD variables the job reads (by name only: GitLab passes project variables to every
    /// job; scope them to the job's environment).
    secrets: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Need {
    job: String,
    artifacts: bool,
}

#[derive(Debug, Serialize, Clone)]
struct Rule {
    condition: String,
    changes: Option<Vec<String>>,
    compare_to: Option<String>,
    /// `manual`, `always`, or `None` for on success.
    when: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Artifacts {
    paths: Vec<String>,
    /// Uploaded whatever the job's result (reports).
    always: bool,
    junit: Option<String>,
    codequality: Option<String>,
    expose_as: Option<String>,
    expire_in: &'static str,
}

#[derive(Debug, Serialize)]
struct Environment {
    name: String,
    tier: &'static str,
}

/// GitLab's `deployment_tier` for an environment name. GitLab's schema takes any string and
/// its server only these five, so the tier is derived here rather than copied.
#[must_use]
pub fn deployment_tier(environment: &str) -> &'static str {
    match environment {
        "production" | "prod" | "live" => "production",
        "staging" | "stage" | "preprod" | "pre-production" => "staging",
        "test" | "testing" | "qa" => "testing",
        "development" | "dev" => "development",
        _ => "other",
    }
}

/// A step's runner labels as GitLab tags: without GitHub's own labels (`self-hosted`, and the
/// hosted images such as `ubuntu-latest`), which no GitLab runner carries, so a job asking for
/// them would wait for a runner forever.
fn runner_tags(labels: Option<&[String]>) -> Vec<String> {
    labels
        .unwrap_or_default()
        .iter()
        .filter(|label| {
            let label = label.as_str();
            label != "self-hosted"
                && !["ubuntu-", "windows-", "macos-"]
                    .iter()
                    .any(|hosted| label.starts_with(hosted))
        })
        .cloned()
        .collect()
}

/// A GitLab expression string literal holding `text`: GitLab has no escape inside one, so the
/// quote must be one `text` does not contain.
fn literal(text: &str) -> Result<String, EmitError> {
    if !text.contains('"') {
        Ok(format!("\"{text}\""))
    } else if !text.contains('\'') {
        Ok(format!("'{text}'"))
    } else {
        Err(EmitError::Config {
            message: format!(
                "`{text}` holds both kinds of quote: GitLab's rules cannot compare with it"
            ),
            help: "name the branch without quotes".to_owned(),
            pointer: "/ci/branch".to_owned(),
        })
    }
}

impl Emitter for GitlabCi {
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
        let pipeline = pipeline(input)?;
        let mut contents = yaml_header(input);
        contents.push_str(&render_yaml(input.templates, TEMPLATE, &pipeline)?);
        Ok(vec![Artifact {
            path: pipeline_path(input.config_dir),
            contents,
        }])
    }

    fn owns(&self) -> &'static [super::Owned] {
        &[
            super::Owned {
                path: PIPELINE_PATH,
                at_root: true,
                file: true,
            },
            super::Owned {
                path: INCLUDED_DIR,
                at_root: true,
                file: false,
            },
        ]
    }
}

/// Which steps a step's filter covers: itself, its ancestors, its descendants and their
/// ancestors (the producers a descendant unpacks must run when it does).
fn related(plan: &Plan) -> HashMap<NodeIndex, BTreeSet<NodeIndex>> {
    let needs: HashMap<NodeIndex, &[NodeIndex]> = plan
        .steps
        .iter()
        .map(|step| (step.node, step.needs.as_slice()))
        .collect();
    let mut dependants: HashMap<NodeIndex, Vec<NodeIndex>> = HashMap::new();
    for step in &plan.steps {
        for &need in &step.needs {
            dependants.entry(need).or_default().push(step.node);
        }
    }
    let closure = |start: NodeIndex, edges: &dyn Fn(NodeIndex) -> Vec<NodeIndex>| {
        let mut seen = BTreeSet::from([start]);
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for next in edges(node) {
                if seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        seen
    };
    let up = |node: NodeIndex| {
        needs
            .get(&node)
            .map(|list| list.to_vec())
            .unwrap_or_default()
    };
    let down = |node: NodeIndex| dependants.get(&node).cloned().unwrap_or_default();
    plan.steps
        .iter()
        .map(|step| {
            let mut set = closure(step.node, &up);
            for descendant in closure(step.node, &down) {
                set.extend(closure(descendant, &up));
            }
            (step.node, set)
        })
        .collect()
}

/// The job name of a step (`mlops:train-churn`; a config in a folder:
/// `mlops-<folder>:train-churn`, so several configs' files can be included in one pipeline).
fn job_name(prefix: &str, kind: NodeKind, name: &str) -> String {
    format!("{prefix}:{}", super::github::job_id(kind, name))
}

/// The rules of a job whose filter is `changes`: on merge requests, on pushes (against the
/// default branch on other branches) and on the schedules that refresh it; everything on a
/// pipeline started by hand.
struct RuleSet<'a> {
    branch: &'a str,
    on_merge_request: bool,
}

impl RuleSet<'_> {
    fn chunks(changes: &[String]) -> Vec<Vec<String>> {
        changes
            .chunks(CHANGES_LIMIT)
            .map(<[String]>::to_vec)
            .collect()
    }

    fn build(
        &self,
        changes: &[String],
        schedules: &[String],
        deploy: bool,
        when: Option<&'static str>,
    ) -> Result<Vec<Rule>, EmitError> {
        let branch = literal(self.branch)?;
        let mut rules = Vec::new();
        let rule =
            |condition: String, changes: Option<Vec<String>>, compare_to: Option<String>| Rule {
                condition,
                changes,
                compare_to,
                when,
            };
        if !deploy && self.on_merge_request {
            for chunk in Self::chunks(changes) {
                rules.push(rule(
                    "$CI_PIPELINE_SOURCE == \"merge_request_event\"".to_owned(),
                    Some(chunk),
                    None,
                ));
            }
        }
        // On the default branch: what changed since the previous push.
        for chunk in Self::chunks(changes) {
            rules.push(rule(
                format!("$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH == {branch}"),
                Some(chunk),
                None,
            ));
        }
        if !deploy {
            // Elsewhere: what differs from the default branch (a new branch's first push
            // would otherwise count every file as changed).
            for chunk in Self::chunks(changes) {
                rules.push(rule(
                    format!("$CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH != {branch}"),
                    Some(chunk),
                    Some(format!("refs/heads/{}", self.branch)),
                ));
            }
        }
        let on_branch = if deploy {
            format!(" && $CI_COMMIT_BRANCH == {branch}")
        } else {
            String::new()
        };
        for cron in schedules {
            rules.push(rule(
                format!(
                    "$CI_PIPELINE_SOURCE == \"schedule\" && $MLOPS_SCHEDULE == {}{on_branch}",
                    literal(cron)?
                ),
                None,
                None,
            ));
        }
        rules.push(rule(
            format!("$CI_PIPELINE_SOURCE == \"web\"{on_branch}"),
            None,
            None,
        ));
        Ok(rules)
    }
}

/// The script entries that unpack the files of the steps `step` reads.
fn unpack(step: &Step, names: &HashMap<NodeIndex, String>, transfer: &str) -> Vec<String> {
    step.downloads
        .iter()
        .filter_map(|download| names.get(download))
        .map(|id| format!("tar -xf \"{transfer}/{id}.tar\""))
        .collect()
}

/// The transfer folder seen from the config's folder, where every command runs: relative, not
/// through `$CI_PROJECT_DIR`, which runners set differently (gitlab-ci-local's shell executor
/// gives a job with an `image` the container's path).
fn transfer_from(config_dir: &str) -> String {
    if config_dir.is_empty() {
        TRANSFER_DIR.to_owned()
    } else {
        let up = config_dir
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|_| "..")
            .collect::<Vec<_>>()
            .join("/");
        format!("{up}/{TRANSFER_DIR}")
    }
}

/// The pipeline's view of the plan.
#[allow(clippy::too_many_lines)]
fn pipeline(input: &EmitInput<'_>) -> Result<Pipeline, EmitError> {
    let config = input.config;
    let graph = input.graph;
    let plan = crate::plan::build(config, graph, input.config_path, input.config_dir).map_err(
        |missing| EmitError::Config {
            message: missing.message,
            help: missing.help,
            pointer: missing.pointer,
        },
    )?;
    let standalone = input.config_dir.is_empty();
    let prefix = if standalone {
        "mlops".to_owned()
    } else {
        format!("mlops-{}", slug(input.config_dir))
    };
    let config_file = input
        .config_path
        .rsplit_once('/')
        .map_or(input.config_path, |(_, file)| file);
    let config_word = shell_quote(config_file);
    // Every command runs in the config's folder, where its paths start.
    let cd: Vec<String> = if standalone {
        Vec::new()
    } else {
        vec![format!("cd -- {}", shell_quote(input.config_dir))]
    };
    let install_mlops = vec![format!(
        "command -v mlops >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check \"mlops-yaml==$MLOPS_VERSION\""
    )];
    let mlops_before: Vec<String> = install_mlops.iter().chain(&cd).cloned().collect();
    let transfer = transfer_from(input.config_dir);
    let mut before_script = cd.clone();
    if let Some(setup) = &config.defaults.setup {
        before_script.push(setup.clone());
    }

    let ids: HashMap<NodeIndex, String> = plan
        .steps
        .iter()
        .map(|step| (step.node, super::github::job_id(step.kind, &step.name)))
        .collect();
    let jobs_of: HashMap<NodeIndex, String> = plan
        .steps
        .iter()
        .map(|step| (step.node, job_name(&prefix, step.kind, &step.name)))
        .collect();
    let step_of: HashMap<NodeIndex, &Step> =
        plan.steps.iter().map(|step| (step.node, step)).collect();
    let related = related(&plan);
    let ci_file = pipeline_path(input.config_dir);
    let changes_of = |node: NodeIndex| -> Vec<String> {
        let mut patterns: BTreeSet<String> = BTreeSet::new();
        patterns.insert(input.config_path.to_owned());
        patterns.insert(ci_file.clone());
        for member in related.get(&node).into_iter().flatten() {
            if let Some(step) = step_of.get(member) {
                for pattern in &step.inputs {
                    patterns.extend(crate::paths::gitlab_changes(pattern));
                }
            }
        }
        patterns.into_iter().collect()
    };
    // The schedules a step runs on: those that refresh data any step of its filter is built
    // from (a scheduled training's other producers must run too, for their artifacts).
    let upstream = [EdgeKind::Needs, EdgeKind::Judges, EdgeKind::Ships];
    let schedules_of = |node: NodeIndex| -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        let members = related.get(&node).cloned().unwrap_or_default();
        let mut sources: BTreeSet<NodeIndex> = BTreeSet::new();
        for member in members {
            sources.insert(member);
            sources.extend(graph.ancestors(member, &upstream));
        }
        for ancestor in sources {
            let found_node = graph.node(ancestor);
            if found_node.kind != NodeKind::Data {
                continue;
            }
            if let Some(cron) = config
                .data
                .get(&found_node.name)
                .and_then(|data| data.refresh.as_ref())
                && !found.contains(cron)
            {
                found.push(cron.clone());
            }
        }
        plan.schedules
            .iter()
            .filter(|cron| found.contains(cron))
            .cloned()
            .collect()
    };
    let rules = RuleSet {
        branch: &config.ci.branch,
        on_merge_request: config.ci.on_pull_request,
    };

    // Deploy stages in promotion order: the order their first deploy appears in the plan.
    let mut environments: Vec<String> = Vec::new();
    for step in &plan.steps {
        if let Some(promotion) = &step.promotion
            && !environments.contains(&promotion.environment)
        {
            environments.push(promotion.environment.clone());
        }
    }
    let deploy_stage = |environment: &str| {
        if standalone {
            format!("deploy-{environment}")
        } else {
            // Included files replace each other's `stages:`; one fixed list keeps them equal.
            "deploy".to_owned()
        }
    };
    let mut stages: Vec<String> = ["check", "data", "train", "gate", "report"]
        .iter()
        .map(|stage| (*stage).to_owned())
        .collect();
    if standalone {
        stages.extend(
            environments
                .iter()
                .map(|environment| deploy_stage(environment)),
        );
    } else {
        stages.push("deploy".to_owned());
    }

    let check_name = format!("{prefix}:check");
    let codequality = format!("{TRANSFER_DIR}/codequality.json");
    let mut jobs = vec![Job {
        name: check_name.clone(),
        comment: "The config validates (findings in the merge request's Code Quality widget) and every generated file equals a fresh render.".to_owned(),
        stage: "check".to_owned(),
        image: Some(MLOPS_IMAGE.to_owned()),
        before_script: Some(mlops_before.clone()),
        script: vec![
            format!("mkdir -p \"{transfer}\""),
            format!(
                "mlops validate --format gitlab {config_word} >\"{transfer}/codequality.json\" || {{ mlops validate {config_word}; exit 1; }}"
            ),
            format!("mlops check {config_word}"),
        ],
        needs: Some(Vec::new()),
        rules: Vec::new(),
        tags: Vec::new(),
        timeout: "10 minutes".to_owned(),
        interruptible: true,
        variables: Vec::new(),
        artifacts: Some(Artifacts {
            paths: Vec::new(),
            always: true,
            junit: None,
            codequality: Some(codequality),
            expose_as: None,
            expire_in: EXPIRE_IN,
        }),
        environment: None,
        resource_group: None,
        secrets: Vec::new(),
    }];
    let base_line = "BASE=\"${CI_MERGE_REQUEST_DIFF_BASE_SHA:-${CI_COMMIT_BEFORE_SHA:-}}\"; case \"$BASE\" in \"\"|0000000000000000000000000000000000000000) BASE=\"$CI_COMMIT_SHA\" ;; esac".to_owned();
    let mut all_changes: BTreeSet<String> = BTreeSet::new();
    let mut all_schedules: Vec<String> = Vec::new();
    let mut deploys = Vec::new();
    for step in &plan.steps {
        let id = &ids[&step.node];
        let name = &jobs_of[&step.node];
        let mut needs: Vec<Need> = step
            .needs
            .iter()
            .filter_map(|need| {
                jobs_of.get(need).map(|job| Need {
                    job: job.clone(),
                    artifacts: step.downloads.contains(need),
                })
            })
            .collect();
        let changes = changes_of(step.node);
        let schedules = schedules_of(step.node);
        let mut script = unpack(step, &ids, &transfer);
        let (stage, comment) = match step.kind {
            NodeKind::Data => ("data".to_owned(), format!("data step `{}`", step.name)),
            NodeKind::Training => ("train".to_owned(), format!("training `{}`", step.name)),
            NodeKind::Gate => ("gate".to_owned(), format!("gate `{}`", step.name)),
            NodeKind::Approval | NodeKind::Deployment => {
                let environment = step
                    .promotion
                    .as_ref()
                    .map_or("", |promotion| promotion.environment.as_str());
                (
                    deploy_stage(environment),
                    format!("deployment `{}` to `{environment}`", step.name),
                )
            }
        };
        let mut artifacts = None;
        let mut variables = Vec::new();
        let mut image = None;
        let mut before = None;
        let mut environment = None;
        let mut resource_group = None;
        let mut when = None;
        let deploy = step.promotion.is_some();
        if let Some(run) = &step.run {
            if step.on_cluster {
                // The training runs on the cluster; this job waits for it and takes its files.
                before = Some(cd.clone());
                script.push(
                    super::argo::handoff_script(
                        config,
                        input.config_dir,
                        &plan,
                        step,
                        "\"$CI_COMMIT_SHA\"",
                    )
                    .trim_end()
                    .to_owned(),
                );
            } else {
                script.push(run.clone());
            }
            if !step.outputs.is_empty() {
                let mut files: Vec<String> =
                    step.outputs.iter().map(|file| shell_quote(file)).collect();
                files.dedup();
                script.push(format!(
                    "mkdir -p \"{transfer}\" && tar -cf \"{transfer}/{id}.tar\" -- {}",
                    files.join(" ")
                ));
                artifacts = Some(Artifacts {
                    paths: vec![format!("{TRANSFER_DIR}/{id}.tar")],
                    always: false,
                    junit: None,
                    codequality: None,
                    expose_as: None,
                    expire_in: EXPIRE_IN,
                });
            }
            // The pipeline's default unless the step has its own.
            image = step
                .image
                .clone()
                .filter(|image| Some(image) != config.defaults.image.as_ref());
        } else if let Some(gate) = &step.gate {
            image = Some(MLOPS_IMAGE.to_owned());
            before = Some(mlops_before.clone());
            variables.push(("GIT_DEPTH".to_owned(), "0".to_owned()));
            let junit = format!("{TRANSFER_DIR}/{id}.xml");
            script.push(format!("mkdir -p \"{transfer}\""));
            script.push(base_line.clone());
            script.push(
                super::commands::gate(config_file, gate, Some(&format!("\"{transfer}/{id}.xml\"")))
                    .trim_end()
                    .to_owned(),
            );
            artifacts = Some(Artifacts {
                paths: vec![junit.clone()],
                always: true,
                junit: Some(junit),
                codequality: None,
                expose_as: None,
                expire_in: EXPIRE_IN,
            });
        } else if let Some(promotion) = &step.promotion {
            // Nothing stale or invalid is ever deployed.
            needs.push(Need {
                job: check_name.clone(),
                artifacts: false,
            });
            // mlops and git to publish the release; the registry's client to upload the model.
            image = Some(MLOPS_IMAGE.to_owned());
            let mut deploy_before = install_mlops.clone();
            if promotion.registry.starts_with("s3://") {
                deploy_before.push("command -v aws >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check awscli".to_owned());
            }
            deploy_before.extend(cd.iter().cloned());
            before = Some(deploy_before);
            variables.push(("GIT_DEPTH".to_owned(), "0".to_owned()));
            script.push(
                super::commands::promotion(config_file, promotion, true)
                    .trim_end()
                    .to_owned(),
            );
            environment = Some(Environment {
                name: promotion.environment.clone(),
                tier: deployment_tier(&promotion.environment),
            });
            resource_group = Some(format!("mlops-deploy-{}", promotion.environment));
            if promotion.requires_approval {
                when = Some("manual");
            }
        }
        if !deploy {
            all_changes.extend(changes.iter().cloned());
            for cron in &schedules {
                if !all_schedules.contains(cron) {
                    all_schedules.push(cron.clone());
                }
            }
        }
        let job = Job {
            name: name.clone(),
            comment,
            stage,
            image,
            before_script: before,
            script,
            // Past GitLab's limit, stage order (and every earlier job's artifacts) instead.
            needs: (needs.len() <= NEEDS_LIMIT).then_some(needs),
            rules: rules.build(&changes, &schedules, deploy, when)?,
            tags: runner_tags(step.runner.as_deref()),
            timeout: format!("{} minutes", step.timeout_minutes),
            // A newer pipeline may cancel anything but a deploy half-way.
            interruptible: !deploy,
            variables,
            artifacts,
            environment,
            resource_group,
            secrets: {
                let mut secrets = step.secrets.clone();
                if let Some(promotion) = &step.promotion {
                    secrets.extend(promotion.secrets.iter().cloned());
                    secrets.push(TOKEN_VARIABLE.to_owned());
                }
                secrets.sort();
                secrets.dedup();
                secrets
            },
        };
        if deploy {
            deploys.push(job);
        } else {
            jobs.push(job);
        }
    }
    if config.ci.on_pull_request {
        let all: Vec<String> = all_changes.into_iter().collect();
        let trainings = plan
            .steps
            .iter()
            .any(|step| step.kind == NodeKind::Training);
        let mut script = vec![format!("mkdir -p \"{transfer}\"")];
        if trainings {
            script.push(format!(
                "for archive in \"{transfer}\"/train-*.tar; do if [ -f \"$archive\" ]; then tar -xf \"$archive\"; fi; done"
            ));
        }
        script.push(format!(
            "mlops report {config_word} --base \"$CI_MERGE_REQUEST_DIFF_BASE_SHA\" | tee \"{transfer}/report.md\""
        ));
        script.push(format!(
            "if [ -n \"${{{TOKEN_VARIABLE}:-}}\" ]; then mlops comment {config_word} --gitlab --base \"$CI_MERGE_REQUEST_DIFF_BASE_SHA\"; else echo \"mlops: {TOKEN_VARIABLE} is not set (or not passed to this merge request's pipeline): the report is this job's artifact, not a note\"; fi"
        ));
        let report_rules: Vec<Rule> = RuleSet::chunks(&all)
            .into_iter()
            .map(|chunk| Rule {
                condition: "$CI_PIPELINE_SOURCE == \"merge_request_event\"".to_owned(),
                changes: Some(chunk),
                compare_to: None,
                // After failed gates too: the report says why.
                when: Some("always"),
            })
            .collect();
        jobs.push(Job {
            name: format!("{prefix}:report"),
            comment: "The merge request's sticky note: metric diffs against the target branch and the gates' verdicts. Stage order, not `needs`: it reads every training's files, however many.".to_owned(),
            stage: "report".to_owned(),
            image: Some(MLOPS_IMAGE.to_owned()),
            before_script: Some(mlops_before.clone()),
            script,
            needs: None,
            rules: report_rules,
            tags: Vec::new(),
            timeout: "10 minutes".to_owned(),
            interruptible: true,
            variables: vec![("GIT_DEPTH".to_owned(), "0".to_owned())],
            artifacts: Some(Artifacts {
                paths: vec![format!("{TRANSFER_DIR}/report.md")],
                always: true,
                junit: None,
                codequality: None,
                expose_as: Some("mlops report".to_owned()),
                expire_in: EXPIRE_IN,
            }),
            environment: None,
            resource_group: None,
            secrets: vec![TOKEN_VARIABLE.to_owned()],
        });
    }
    jobs.extend(deploys);
    if !standalone {
        // An included file's `default:` would be merged with every other included file's:
        // each job says everything itself.
        for job in &mut jobs {
            if job.image.is_none() {
                job.image.clone_from(&config.defaults.image);
            }
            if job.before_script.is_none() {
                job.before_script = Some(before_script.clone());
            }
        }
    }
    Ok(Pipeline {
        standalone,
        on_merge_request: config.ci.on_pull_request,
        stages,
        image: config.defaults.image.clone(),
        before_script,
        mlops_image: MLOPS_IMAGE,
        mlops_version: env!("CARGO_PKG_VERSION"),
        install_mlops,
        jobs,
    })
}

/// The project settings the pipeline relies on that GitLab keeps outside YAML, one sentence
/// (or command) each, for `render` to print and the README to list.
#[must_use]
pub fn project_settings(config: &crate::spec::Config, config_path: &str) -> Vec<String> {
    let mut settings = Vec::new();
    let deploys = !config.deployments.is_empty();
    settings.push(format!(
        "Settings > CI/CD > Variables: `{TOKEN_VARIABLE}`, masked, holding a project access token (Settings > Access tokens) with role {} and scope{} {} (CI_JOB_TOKEN can {}); it is not protected, so merge-request pipelines can post their note: give it a short expiry",
        if deploys { "Developer" } else { "Reporter" },
        if deploys { "s" } else { "" },
        if deploys { "`api`, `write_repository`" } else { "`api`" },
        if deploys {
            "neither post merge-request notes nor push release branches"
        } else {
            "not post merge-request notes"
        }
    ));
    if config
        .training
        .values()
        .any(|training| training.engine == Some(crate::spec::model::Engine::Argo))
    {
        settings.push(format!(
            "Settings > CI/CD > Variables: {}, masked: the Argo Server's address and a token the argo CLI submits the cluster's trainings with (`engine: argo`); the runner needs the argo CLI",
            crate::plan::ARGO_SECRETS
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    let mut schedules: Vec<&String> = config
        .data
        .values()
        .filter_map(|data| data.refresh.as_ref())
        .collect();
    schedules.dedup();
    let mut seen = Vec::new();
    for cron in schedules {
        if seen.contains(&cron) {
            continue;
        }
        seen.push(cron);
        settings.push(format!(
            "pipeline schedule (GitLab keeps none in YAML): glab schedule create --cron {} --cronTimeZone UTC --ref {} --description {} --variable {}",
            shell_quote(cron),
            shell_quote(&config.ci.branch),
            shell_quote(&format!("mlops refresh ({config_path})")),
            shell_quote(&format!("MLOPS_SCHEDULE:{cron}"))
        ));
    }
    for (name, environment) in &config.environments {
        if !config
            .deployments
            .values()
            .any(|deployment| &deployment.environment == name)
        {
            continue;
        }
        if environment.requires_approval {
            let wanted = config
                .approvals
                .values()
                .filter(|approval| &approval.environment == name)
                .map(|approval| approval.min_approvals)
                .max()
                .unwrap_or(1);
            let body = serde_json::json!({
                "name": name,
                "deploy_access_levels": [{"access_level": 40}],
                "approval_rules": [{"access_level": 30, "required_approvals": wanted}],
            });
            settings.push(format!(
                "protected environment `{name}` with {wanted} required approval{} (Premium; the deploy job waits as a manual job until then; replace access_level with the group_id of the approvals' reviewers): glab api --method POST projects/:id/protected_environments --header 'Content-Type: application/json' --input - <<<{}",
                if wanted == 1 { "" } else { "s" },
                shell_quote(&body.to_string())
            ));
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::{deployment_tier, literal, runner_tags, transfer_from};

    #[test]
    fn tiers_are_only_the_five_gitlab_accepts() {
        assert_eq!(deployment_tier("production"), "production");
        assert_eq!(deployment_tier("prod"), "production");
        assert_eq!(deployment_tier("staging"), "staging");
        assert_eq!(deployment_tier("qa"), "testing");
        assert_eq!(deployment_tier("dev"), "development");
        assert_eq!(deployment_tier("eu-west-canary"), "other");
    }

    #[test]
    fn branch_literals_pick_a_quote_the_name_lacks() {
        assert_eq!(literal("main").unwrap(), "\"main\"");
        assert_eq!(literal("a\"b").unwrap(), "'a\"b'");
        assert!(literal("a\"b'c").is_err());
    }

    #[test]
    fn github_runner_labels_are_not_gitlab_tags() {
        let labels = ["self-hosted", "gpu", "ubuntu-latest", "macos-14", "linux"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(runner_tags(Some(&labels)), ["gpu", "linux"]);
        assert!(runner_tags(None).is_empty());
    }

    #[test]
    fn the_transfer_folder_is_reached_from_the_config_folder() {
        assert_eq!(transfer_from(""), ".mlops-ci");
        assert_eq!(transfer_from("ml/churn"), "../../.mlops-ci");
    }
}
