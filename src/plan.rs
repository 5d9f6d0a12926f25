//! Stage: the engine-neutral plan of what a pipeline runs, built once per render from the
//! config and its graph. Steps are keyed by graph node, in the graph's order, with what they
//! wait for, what they unpack and produce, where and how long they run, and the promotion of
//! a deployment with the approvals that gate it. No engine ids and no escaping: each CI
//! emitter maps the plan onto its engine and quotes for it.

use petgraph::graph::NodeIndex;

use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::spec::Config;
use crate::spec::model::Runner;

/// How long a step may run when neither it nor `defaults` says.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 60;
/// How long a gate may run.
pub const GATE_TIMEOUT_MINUTES: u32 = 15;
/// How long a deploy may run.
pub const DEPLOY_TIMEOUT_MINUTES: u32 = 30;
/// The secrets a CI step that hands a training to the cluster needs: the argo CLI's address of
/// the Argo Server and its token.
pub const ARGO_SECRETS: [&str; 2] = ["ARGO_SERVER", "ARGO_TOKEN"];

/// What runs, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// One step per node that has work, in the graph's order.
    pub steps: Vec<Step>,
    /// Patterns from the root (as written: a name without wildcards may be a file or a
    /// folder) whose change can change a result: every input. Sorted, unique.
    pub watch: Vec<String>,
    /// Files from the root whose change can change a result: the config and every params
    /// file. Sorted, unique; the CI file itself is the emitter's to add.
    pub watch_files: Vec<String>,
    /// Cron schedules, one per distinct `refresh`, in written order.
    pub schedules: Vec<String>,
}

/// One unit of work.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its node.
    pub node: NodeIndex,
    /// The node's kind.
    pub kind: NodeKind,
    /// The node's name.
    pub name: String,
    /// The steps it waits for (producers first, then `after`), without repeats.
    pub needs: Vec<NodeIndex>,
    /// The steps whose outputs it unpacks before it runs.
    pub downloads: Vec<NodeIndex>,
    /// Runner labels; `None` for the engine's default.
    pub runner: Option<Vec<String>>,
    /// Container image.
    pub image: Option<String>,
    /// Time limit.
    pub timeout_minutes: u32,
    /// Shell run before `run`.
    pub setup: Option<String>,
    /// The step's command (data and training steps).
    pub run: Option<String>,
    /// Secret names it needs.
    pub secrets: Vec<String>,
    /// Patterns from the root (as written: a name without wildcards may be a file or a
    /// folder) of the files its own result depends on: its inputs and params file. What an
    /// engine that filters jobs by changed paths watches for this step alone.
    pub inputs: Vec<String>,
    /// Files it produces for later steps, from the config's folder (empty: none).
    pub outputs: Vec<String>,
    /// What it asks a cluster for (CPU, memory, GPUs), where the engine places pods.
    pub resources: Option<crate::spec::model::Resources>,
    /// A training the CI pipelines hand to the cluster (`engine: argo`) and wait for.
    pub on_cluster: bool,
    /// A training's metrics file.
    pub metrics: Option<String>,
    /// A gate step: the gate's name.
    pub gate: Option<String>,
    /// A deploy step: what it releases.
    pub promotion: Option<Promotion>,
    /// Its place in the run: 1 for a step that waits for none, else one more than the
    /// highest level it waits for. Steps of one level never wait for each other, so an engine
    /// may run each level as one batch.
    pub level: u32,
}

/// What a deploy step releases.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// The deployment.
    pub deployment: String,
    /// Its environment.
    pub environment: String,
    /// The trained model's file, from the config's folder.
    pub model_path: String,
    /// The training's metrics file, recorded with the release.
    pub metrics_path: Option<String>,
    /// Where the model is uploaded, without a trailing `/`.
    pub registry: String,
    /// The deployment's secret names (the registry's credentials).
    pub secrets: Vec<String>,
    /// Whether the environment waits for an approval.
    pub requires_approval: bool,
    /// The approvals that gate it ([`approvals_gating`]), sorted.
    pub approvals: Vec<String>,
    /// A monitored deployment's reference table (from the config's folder), uploaded beside
    /// the model and recorded in the release: what drift is measured against.
    pub reference_path: Option<String>,
}

/// Why a plan cannot be made of a valid config: what rendering needs beyond validity (the
/// `missing-setting` rule reports each before it gets here).
#[derive(Debug, Clone)]
pub struct Missing {
    /// What is missing.
    pub message: String,
    /// How to add it.
    pub help: String,
    /// JSON pointer of where it belongs.
    pub pointer: String,
}

/// The labels of a runner setting.
fn labels(runner: Option<&Runner>) -> Option<Vec<String>> {
    match runner? {
        Runner::Label(label) => Some(vec![label.clone()]),
        Runner::Labels(labels) => Some(labels.clone()),
    }
}

/// The step that makes the files of `node` available, if it has one: a data step with a
/// command and outputs, or a training. External data (`uri` only) is read where it is needed.
fn producer(config: &Config, graph: &Graph, node: NodeIndex) -> Option<NodeIndex> {
    let found = graph.node(node);
    match found.kind {
        NodeKind::Data => config
            .data
            .get(&found.name)
            .filter(|data| data.run.is_some() && !data.outputs.is_empty())
            .map(|_| node),
        NodeKind::Training => Some(node),
        _ => None,
    }
}

fn push_unique(list: &mut Vec<NodeIndex>, node: NodeIndex) {
    if !list.contains(&node) {
        list.push(node);
    }
}

/// The plan of a valid config; `config_dir` is the config's folder from the root.
///
/// # Errors
/// A setting a deploy step needs is absent (`validate` reports it first).
pub fn build(
    config: &Config,
    graph: &Graph,
    config_path: &str,
    config_dir: &str,
) -> Result<Plan, Missing> {
    let order = graph.topological_order().unwrap_or_default();
    let default_runner = labels(config.defaults.runner.as_ref());
    let default_timeout = config
        .defaults
        .timeout_minutes
        .unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    let setup = config.defaults.setup.clone();
    let mut steps = Vec::new();
    let mut watch: Vec<String> = Vec::new();
    let mut watch_files: Vec<String> = vec![config_path.to_owned()];
    let mut schedules: Vec<String> = Vec::new();
    for &index in &order {
        let node = graph.node(index);
        let name = node.name.as_str();
        let mut producers = Vec::new();
        for dependency in
            graph.dependencies(index, &[EdgeKind::Needs, EdgeKind::Judges, EdgeKind::Ships])
        {
            if let Some(step) = producer(config, graph, dependency) {
                push_unique(&mut producers, step);
            }
        }
        let base = Step {
            node: index,
            kind: node.kind,
            name: name.to_owned(),
            needs: producers.clone(),
            downloads: producers.clone(),
            runner: None,
            image: None,
            timeout_minutes: default_timeout,
            setup: None,
            run: None,
            secrets: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            resources: None,
            on_cluster: false,
            metrics: None,
            gate: None,
            promotion: None,
            level: 1,
        };
        match node.kind {
            NodeKind::Data => {
                let Some(data) = config.data.get(name) else {
                    continue;
                };
                if let Some(cron) = &data.refresh
                    && !schedules.contains(cron)
                {
                    schedules.push(cron.clone());
                }
                let Some(run) = &data.run else { continue };
                let inputs: Vec<String> = data
                    .inputs
                    .iter()
                    .map(|input| crate::emit::rebase(config_dir, input))
                    .collect();
                watch.extend(inputs.iter().cloned());
                steps.push(Step {
                    runner: labels(data.runner.as_ref()).or_else(|| default_runner.clone()),
                    image: config.defaults.image.clone(),
                    setup: setup.clone(),
                    run: Some(run.clone()),
                    secrets: data.secrets.clone(),
                    inputs,
                    outputs: data.outputs.clone(),
                    resources: data.resources.clone(),
                    ..base
                });
            }
            NodeKind::Training => {
                let Some(training) = config.training.get(name) else {
                    continue;
                };
                let params: Vec<String> = training
                    .params
                    .iter()
                    .map(|params| crate::emit::rebase(config_dir, params.file()))
                    .collect();
                watch.extend(
                    training
                        .inputs
                        .iter()
                        .map(|input| crate::emit::rebase(config_dir, input)),
                );
                watch_files.extend(params.iter().cloned());
                let mut inputs: Vec<String> = training
                    .inputs
                    .iter()
                    .map(|input| crate::emit::rebase(config_dir, input))
                    .collect();
                inputs.extend(params);
                let on_cluster = training.engine == Some(crate::spec::model::Engine::Argo);
                let mut outputs: Vec<String> = Vec::new();
                outputs.extend(training.model.iter().map(|model| model.path.clone()));
                outputs.extend(training.metrics.iter().cloned());
                steps.push(Step {
                    runner: labels(training.runner.as_ref()).or_else(|| default_runner.clone()),
                    image: training
                        .image
                        .clone()
                        .or_else(|| config.defaults.image.clone()),
                    timeout_minutes: training.timeout_minutes.unwrap_or(default_timeout),
                    setup: setup.clone(),
                    run: Some(training.run.clone()),
                    secrets: {
                        let mut secrets = training.secrets.clone();
                        if on_cluster {
                            // What the argo CLI reaches the cluster's Argo Server with.
                            secrets.extend(ARGO_SECRETS.iter().map(|name| (*name).to_owned()));
                        }
                        secrets
                    },
                    on_cluster,
                    inputs,
                    outputs,
                    resources: training.resources.clone(),
                    metrics: training.metrics.clone(),
                    ..base
                });
            }
            NodeKind::Gate => steps.push(Step {
                timeout_minutes: GATE_TIMEOUT_MINUTES,
                gate: Some(name.to_owned()),
                ..base
            }),
            // An approval is no step: an approval-gated release is a pull request into the
            // environment's release branch, whose required reviews are the approval.
            NodeKind::Approval => {}
            NodeKind::Deployment => {
                let Some(deployment) = config.deployments.get(name) else {
                    continue;
                };
                let mut needs = producers.clone();
                for after in graph.dependencies(index, &[EdgeKind::After]) {
                    if graph.node(after).kind != NodeKind::Approval {
                        push_unique(&mut needs, after);
                    }
                }
                let approvals = approvals_gating(config, graph, index);
                let promotion = promotion(config, name, deployment, approvals)?;
                // A monitored deployment uploads its reference table: the deploy step takes
                // the files of the data step that writes it (an ancestor of the training, so
                // it runs whenever this does).
                let mut downloads = producers.clone();
                if let Some(monitoring) = &deployment.monitoring
                    && let Some(reference) = graph.find(NodeKind::Data, &monitoring.reference)
                    && let Some(step) = producer(config, graph, reference)
                {
                    push_unique(&mut downloads, step);
                    push_unique(&mut needs, step);
                }
                steps.push(Step {
                    needs,
                    downloads,
                    timeout_minutes: DEPLOY_TIMEOUT_MINUTES,
                    promotion: Some(promotion),
                    ..base
                });
            }
        }
    }
    assign_levels(&mut steps);
    watch.sort();
    watch.dedup();
    watch_files.sort();
    watch_files.dedup();
    Ok(Plan {
        steps,
        watch,
        watch_files,
        schedules,
    })
}

/// The approvals that gate the deployment `node`: those for its environment anywhere in its
/// `after` chain (an approval of another environment gates that one, not this). The one
/// definition: the `missing-approval` rule requires one, the plan records them.
#[must_use]
pub fn approvals_gating(config: &Config, graph: &Graph, node: NodeIndex) -> Vec<String> {
    let found = graph.node(node);
    let Some(deployment) = config.deployments.get(&found.name) else {
        return Vec::new();
    };
    let mut approvals: Vec<String> = graph
        .ancestors(node, &[EdgeKind::After])
        .into_iter()
        .map(|ancestor| graph.node(ancestor))
        .filter(|ancestor| {
            ancestor.kind == NodeKind::Approval
                && config
                    .approvals
                    .get(&ancestor.name)
                    .is_some_and(|approval| approval.environment == deployment.environment)
        })
        .map(|ancestor| ancestor.name.clone())
        .collect();
    approvals.sort();
    approvals
}

/// Steps come in the graph's order, so everything a step waits for is levelled before it.
fn assign_levels(steps: &mut [Step]) {
    let mut levels: std::collections::HashMap<NodeIndex, u32> = std::collections::HashMap::new();
    for step in steps.iter_mut() {
        step.level = 1 + step
            .needs
            .iter()
            .filter_map(|need| levels.get(need))
            .max()
            .copied()
            .unwrap_or(0);
        levels.insert(step.node, step.level);
    }
}

fn promotion(
    config: &Config,
    name: &str,
    deployment: &crate::spec::model::Deployment,
    approvals: Vec<String>,
) -> Result<Promotion, Missing> {
    let training = config.training.get(&deployment.model);
    let model = training.and_then(|training| training.model.as_ref());
    let pointer = format!(
        "/training/{}",
        crate::spec::load::escape_pointer_token(&deployment.model)
    );
    let Some(model) = model else {
        return Err(Missing {
            message: format!(
                "deployment `{name}` ships training `{}`, which declares no `model`",
                deployment.model
            ),
            help: "add `model: { path: ..., format: ... }` to the training".to_owned(),
            pointer,
        });
    };
    let Some(registry) = &model.registry else {
        return Err(Missing {
            message: format!(
                "training `{}` has no `model.registry`: the deploy job of `{name}` needs somewhere to upload the model the cluster loads",
                deployment.model
            ),
            help: "add `registry: s3://BUCKET/PREFIX` (or gs://) to the training's `model`"
                .to_owned(),
            pointer: format!("{pointer}/model"),
        });
    };
    Ok(Promotion {
        deployment: name.to_owned(),
        environment: deployment.environment.clone(),
        model_path: model.path.clone(),
        metrics_path: training.and_then(|training| training.metrics.clone()),
        registry: registry.trim_end_matches('/').to_owned(),
        secrets: deployment.secrets.clone(),
        requires_approval: config
            .environments
            .get(&deployment.environment)
            .is_some_and(|environment| environment.requires_approval),
        approvals,
        reference_path: deployment.monitoring.as_ref().and_then(|monitoring| {
            let data = config.data.get(&monitoring.reference)?;
            crate::check::reference_table(&data.outputs).map(str::to_owned)
        }),
    })
}
