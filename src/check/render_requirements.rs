#![doc = include_str!("../../docs/codes/missing-setting.md")]
//!
//! This module also raises `unsupported-target` and `unpinned-action`: together they make spec
//! rule 10 hold, "a file that validates renders for every target it names". Whatever an
//! emitter needs is checked here, with a span and a help line, so that `render` can fail only
//! on a broken template override.

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;
use crate::spec::model::{CiTarget, TargetKind};

/// The settings, targets and kinds the emitters need.
pub struct RenderRequirements;

impl Rule for RenderRequirements {
    fn code(&self) -> Code {
        Code::MissingSetting
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        let github = cx.config.ci.targets.contains(&CiTarget::GithubActions);
        if github {
            github_action(cx, out);
        } else if cx.config.ci.github_action.is_some() {
            // Only the GitHub workflow runs mlops through the action: elsewhere it is unread.
            out.push(
                Diag::warning(
                    Code::UnsupportedTarget,
                    "`ci.github_action` names the action the GitHub workflow runs mlops with, but `ci.targets` has no github-actions: nothing uses it".to_owned(),
                    cx.key_label("/ci/github_action", "used by nothing"),
                )
                .with_help("add `github-actions` to `ci.targets`, or remove `ci.github_action`"),
            );
        }
        if !cx.config.deployments.is_empty() {
            gitops(cx, out);
        }
        for (name, deployment) in &cx.config.deployments {
            let pointer = format!("/deployments/{}/target/kind", escape_pointer_token(name));
            let kind = match deployment.target.kind {
                TargetKind::Kserve | TargetKind::Kubernetes => None,
                TargetKind::Sagemaker => Some("sagemaker"),
                TargetKind::Azureml => Some("azureml"),
            };
            if deployment.target.kind == TargetKind::Kubernetes
                && let Some(percent) = deployment
                    .strategy
                    .as_ref()
                    .and_then(|strategy| strategy.canary_percent)
            {
                // A Deployment replaces every pod in a rolling update: a canary share is
                // KServe's `canaryTrafficPercent`, and kind `kubernetes` would drop it.
                let strategy = format!(
                    "/deployments/{}/strategy/canary_percent",
                    escape_pointer_token(name)
                );
                out.push(
                    Diag::error(
                        Code::UnsupportedTarget,
                        format!(
                            "deployment `{name}`: a canary of {percent}% needs kind `kserve`; a Kubernetes Deployment would roll the new model out to every replica"
                        ),
                        cx.value_label(&strategy, "not rendered for kind kubernetes"),
                    )
                    .with_help(
                        "use `kind: kserve` (its `canaryTrafficPercent` sends this share to the new model), or remove `strategy` to roll out with a rolling update",
                    ),
                );
            }
            if let Some(kind) = kind {
                out.push(
                    Diag::error(
                        Code::UnsupportedTarget,
                        format!(
                            "deployment `{name}`: target kind `{kind}` cannot be rendered by this version of mlops"
                        ),
                        cx.value_label(&pointer, "not supported yet"),
                    )
                    .with_help("supported target kinds: kserve, kubernetes"),
                );
            }
        }
        if !github {
            unscheduled_monitoring(cx, out);
        }
        // Every CI target's deploy steps upload the model to its registry.
        if !cx.config.ci.targets.is_empty() {
            shipped_models(cx, out);
        }
        if cx.config.ci.targets.contains(&CiTarget::ArgoWorkflows) {
            argo(cx, out);
        } else {
            let on_cluster = cx
                .config
                .training
                .values()
                .any(|training| training.engine == Some(crate::spec::model::Engine::Argo));
            if cx.config.ci.argo.is_some() && !on_cluster {
                // Settings for a cluster nothing is sent to: the trainings run on the runner.
                out.push(
                    Diag::warning(
                        Code::UnsupportedTarget,
                        "`ci.argo` says where trainings run on the cluster, but `ci.targets` has no argo-workflows and no training has `engine: argo`: every training runs on the CI runner".to_owned(),
                        cx.key_label("/ci/argo", "used by nothing"),
                    )
                    .with_help("add `engine: argo` to the trainings that belong on the cluster, or `argo-workflows` to `ci.targets`, or remove `ci.argo`"),
                );
            }
            for (name, training) in &cx.config.training {
                if training.engine != Some(crate::spec::model::Engine::Argo)
                    && training.resources.is_some()
                {
                    // A pod's requests, and no pod: the CI runner's machine is `runner`'s.
                    out.push(
                        Diag::warning(
                            Code::UnsupportedTarget,
                            format!("training `{name}` asks for `resources`, which only a pod on the cluster gets (`engine: argo`, or the argo-workflows target); on the CI runner they are not applied"),
                            cx.key_label(&format!("/training/{}/resources", escape_pointer_token(name)), "not applied on the CI runner"),
                        )
                        .with_help("choose the machine with `runner` (a self-hosted runner's labels, say `[self-hosted, gpu]`), or run the training on the cluster with `engine: argo`"),
                    );
                }
                if training.engine == Some(crate::spec::model::Engine::Argo) {
                    out.push(
                        Diag::error(
                            Code::MissingSetting,
                            format!("training `{name}` runs on the cluster (`engine: argo`), but `ci.targets` renders no Argo template for it"),
                            cx.value_label(&format!("/training/{}/engine", escape_pointer_token(name)), "needs the argo-workflows target"),
                        )
                        .with_help("add `argo-workflows` to `ci.targets` (with `ci.argo` for the cluster), or remove `engine: argo`"),
                    );
                }
            }
        }
        autoscaled_without_cpu(cx, out);
    }
}

/// A `kubernetes` deployment with a replica range gets a HorizontalPodAutoscaler on CPU
/// utilisation, a percentage of the CPU *request*: with no `resources.cpu` it has nothing to
/// divide by and never scales.
fn autoscaled_without_cpu(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    for (name, deployment) in &cx.config.deployments {
        let target = &deployment.target;
        let ranged = target
            .replicas
            .as_ref()
            .is_some_and(|replicas| replicas.min < replicas.max);
        let has_cpu = target
            .resources
            .as_ref()
            .is_some_and(|resources| resources.cpu.is_some());
        if target.kind != TargetKind::Kubernetes || !ranged || has_cpu {
            continue;
        }
        let pointer = format!(
            "/deployments/{}/target/replicas",
            escape_pointer_token(name)
        );
        out.push(
            Diag::error(
                Code::MissingSetting,
                format!("deployment `{name}` scales on CPU, but its target sets no `resources.cpu`: the autoscaler could never scale it"),
                cx.key_label(&pointer, "a replica range: a HorizontalPodAutoscaler on CPU use"),
            )
            .with_help("add `resources: { cpu: \"1\", memory: 2Gi }` under `target` (the autoscaler aims at 80% of the CPU request), or fix the replicas with `{ min: N, max: N }`"),
        );
    }
}

/// The Argo Workflows target checks the source out of a repository, and Argo substitutes
/// `{{...}}` in an image name with no way to escape it (commands travel encoded; an image
/// cannot).
fn argo(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    let config = cx.config;
    let settings = config.ci.argo.as_ref();
    let position = config
        .ci
        .targets
        .iter()
        .position(|target| *target == CiTarget::ArgoWorkflows)
        .unwrap_or(0);
    let repository = settings
        .and_then(|settings| settings.repo_url.as_ref())
        .or_else(|| config.gitops.as_ref().map(|gitops| &gitops.repo_url));
    if repository.is_none() {
        out.push(
            Diag::error(
                Code::MissingSetting,
                "the `argo-workflows` target needs the git repository its steps check out",
                cx.value_label(
                    &format!("/ci/targets/{position}"),
                    "runs on the cluster, from git",
                ),
            )
            .with_help(
                "add `argo: { repo_url: https://… }` under `ci:` (or `gitops: { repo_url: … }`)",
            ),
        );
    }
    // Argo's CRD caps a dag at 200 tasks; past that the emitter groups the steps by model.
    let plan = crate::plan::build(config, cx.graph, "mlops.yaml", "").ok();
    if let Some(plan) = &plan
        && let Err(message) = crate::emit::argo::layout(plan)
    {
        out.push(
            Diag::error(
                Code::UnsupportedTarget,
                message,
                cx.value_label(&format!("/ci/targets/{position}"), "too many steps for Argo's dags"),
            )
            .with_help("split the models over several configs (one per folder, each its own WorkflowTemplate), or train this many with the github-actions or gitlab-ci target"),
        );
    }
    // A step's commands travel inside its template, and a template inside one object.
    for step in plan.iter().flat_map(|plan| &plan.steps) {
        let length =
            step.setup.as_ref().map_or(0, String::len) + step.run.as_ref().map_or(0, String::len);
        if length <= crate::emit::argo::SCRIPT_LIMIT {
            continue;
        }
        let section = match step.kind {
            crate::graph::NodeKind::Data => "data",
            crate::graph::NodeKind::Training => "training",
            _ => continue,
        };
        let entry = format!("/{section}/{}", escape_pointer_token(&step.name));
        let pointer = if cx.spans.get(&format!("{entry}/run")).is_some() {
            format!("{entry}/run")
        } else {
            entry
        };
        out.push(
            Diag::error(
                Code::UnsupportedTarget,
                format!(
                    "`{}`: its commands are {length} bytes, more than an Argo template can carry ({} bytes: the pod gets them base64-encoded in one environment variable, which Linux caps at 128 KiB)",
                    step.name,
                    crate::emit::argo::SCRIPT_LIMIT
                ),
                // The key: the value may be thousands of lines.
                cx.key_label(&pointer, "too long for the argo-workflows target"),
            )
            .with_help("move the commands into a script in the repository and `run` that script"),
        );
    }
    let mut images: Vec<(String, &str)> = Vec::new();
    if let Some(image) = &config.defaults.image {
        images.push(("/defaults/image".to_owned(), image));
    }
    for (name, training) in &config.training {
        if let Some(image) = &training.image {
            images.push((
                format!("/training/{}/image", escape_pointer_token(name)),
                image,
            ));
        }
    }
    if let Some(image) = settings.and_then(|settings| settings.mlops_image.as_ref()) {
        images.push(("/ci/argo/mlops_image".to_owned(), image));
    }
    for (pointer, image) in images {
        if image.contains("{{") {
            out.push(
                Diag::error(
                    Code::UnsupportedTarget,
                    format!("image `{image}` holds `{{{{`, which Argo Workflows reads as a template and cannot escape"),
                    cx.value_label(&pointer, "Argo would substitute this"),
                )
                .with_help("name the image without `{{`"),
            );
        }
    }
}

/// The action must be pinned to a commit, and when the file names none, this build must know
/// its own.
fn github_action(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    match &cx.config.ci.github_action {
        Some(action) => {
            let (repository, reference) = action.rsplit_once('@').unwrap_or((action, ""));
            let pinned = reference.len() == 40
                && reference
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !pinned {
                out.push(
                    Diag::error(
                        Code::UnpinnedAction,
                        format!("`ci.github_action` names `{reference}`, which is not a commit: a branch or tag can move under a workflow"),
                        cx.value_label("/ci/github_action", "pin a full 40-digit commit SHA"),
                    )
                    .with_help(format!(
                        "write `github_action: {repository}@<40-hex commit>` (`git ls-remote https://github.com/{repository} {}` prints it), or delete the line to use the mlops that renders",
                        if reference.is_empty() { "HEAD" } else { reference }
                    )),
                );
            }
        }
        None if cx.build_action.is_none() => {
            out.push(
                Diag::error(
                    Code::MissingSetting,
                    "this build of mlops knows no commit, so the workflow cannot pin the mlops action by default",
                    cx.key_label("/ci", "add `github_action` here"),
                )
                .with_help(format!(
                    "add under `ci:` the line `  github_action: {}@<40-hex commit of the mlops you use>`, or install mlops from a git checkout (`cargo install --path .`), which records its commit",
                    crate::build_info::repository()
                )),
            );
        }
        None => {}
    }
}

fn gitops(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    if cx.config.gitops.is_some() {
        return;
    }
    out.push(
        Diag::error(
            Code::MissingSetting,
            "`gitops` is not set: the Argo CD applications of the deployments need the repository the cluster reads `deploy/` from",
            cx.key_label("/deployments", "these deployments are synced by Argo CD"),
        )
        .with_help("add at the top level: `gitops: { repo_url: https://github.com/OWNER/REPO.git }`"),
    );
}

/// The deploy job uploads the trained model to its registry: each shipped training needs a
/// `model` with a `registry`. Reported once per training, at the training.
fn shipped_models(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    // A set: a list was searched once per deployment, 2 million comparisons at 1,000 models.
    let mut reported: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (name, deployment) in &cx.config.deployments {
        let training_name = deployment.model.as_str();
        let Some(training) = cx.config.training.get(training_name) else {
            continue; // unknown-ref reports it
        };
        if !reported.insert(training_name) {
            continue;
        }
        let pointer = format!("/training/{}", escape_pointer_token(training_name));
        match &training.model {
            None => out.push(
                Diag::error(
                    Code::MissingSetting,
                    format!("training `{training_name}` declares no `model`, and deployment `{name}` ships it"),
                    cx.key_label(&pointer, "no `model` here"),
                )
                .with_help("add `model: { path: models/FILE, format: sklearn, registry: s3://BUCKET/PREFIX }` to the training"),
            ),
            Some(model) if model.registry.is_none() => out.push(
                Diag::error(
                    Code::MissingSetting,
                    format!("training `{training_name}` has no `model.registry`: the deploy job of `{name}` uploads the model there for the cluster to load"),
                    cx.key_label(&format!("{pointer}/model"), "no `registry` in this model"),
                )
                .with_help("add `registry: s3://BUCKET/PREFIX` (or gs://) under `model`"),
            ),
            Some(_) => {}
        }
    }
}

/// A monitored deployment's scheduled drift check is a GitHub workflow
/// (`.github/workflows/mlops-monitor.yml`); with no `github-actions` target nothing would run
/// it, while the Evidently config and the alert rules would still be written: a team would
/// believe its model watched.
fn unscheduled_monitoring(cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
    let targets: Vec<&str> = cx
        .config
        .ci
        .targets
        .iter()
        .map(|target| target.as_str())
        .collect();
    for (name, deployment) in &cx.config.deployments {
        if deployment.monitoring.is_none() {
            continue;
        }
        let pointer = format!("/deployments/{}/monitoring", escape_pointer_token(name));
        let targets = if targets.is_empty() {
            "no CI target".to_owned()
        } else {
            format!("ci.targets [{}]", targets.join(", "))
        };
        out.push(
            Diag::error(
                Code::UnsupportedTarget,
                format!(
                    "deployment `{name}`: its scheduled drift check runs only from GitHub Actions (`{}`), and with {targets} nothing would run it",
                    crate::emit::github::MONITOR_WORKFLOW_PATH
                ),
                cx.key_label(&pointer, "never scheduled"),
            )
            .with_help(
                "add `github-actions` to `ci.targets` (the monitor workflow runs there beside the other engines' pipelines), or remove `monitoring` until your CI target supports it",
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::RenderRequirements;
    use crate::check::{AnyRepo, CheckCtx, Rule};
    use crate::codes::Code;

    const SHIPPED: &str = "version: 1
project: demo
environments:
  staging: {}
training:
  churn:
    run: python train.py
    model: { path: m.joblib, format: sklearn, registry: s3://b/m }
deployments:
  churn-staging: { model: churn, environment: staging, ungated: true, target: { kind: kserve } }
gitops: { repo_url: https://github.com/acme/churn.git }
";

    /// The codes and messages this rule raises on `text`, with the build's action `build`.
    fn problems(text: &str, build: Option<&str>) -> Vec<(Code, String)> {
        let parsed = crate::spec::parse(text.as_bytes());
        let (spans, config) = (parsed.spans.unwrap(), parsed.config.unwrap());
        let graph = crate::graph::Graph::build(&config);
        let mut cx = CheckCtx::new(&config, &spans, text, &graph, &AnyRepo);
        cx.build_action = build.map(str::to_owned);
        let mut out = Vec::new();
        RenderRequirements.check(&cx, &mut out);
        out.into_iter()
            .map(|diag| (diag.code, diag.message))
            .collect()
    }

    /// Whether any problem this rule raises on `text` says `phrase`.
    fn mentions(text: &str, build: Option<&str>, phrase: &str) -> bool {
        problems(text, build)
            .iter()
            .any(|(_, message)| message.contains(phrase))
    }

    const BUILD: Option<&str> = Some("acme/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090");

    #[test]
    fn a_complete_config_needs_nothing() {
        assert_eq!(problems(SHIPPED, BUILD), []);
    }

    #[test]
    fn deployments_need_gitops() {
        let text = SHIPPED.replace(
            "gitops: { repo_url: https://github.com/acme/churn.git }\n",
            "",
        );
        let found = problems(&text, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::MissingSetting);
        assert!(found[0].1.contains("`gitops` is not set"));
    }

    #[test]
    fn a_shipped_training_needs_a_model_with_a_registry_once() {
        let text = SHIPPED.replace(", registry: s3://b/m", "").replace(
            "deployments:\n",
            "deployments:\n  churn-b: { model: churn, environment: staging, ungated: true, target: { kind: kserve } }\n",
        );
        let found = problems(&text, BUILD);
        assert_eq!(
            found.len(),
            1,
            "one report per training, not per deployment: {found:?}"
        );
        assert!(found[0].1.contains("has no `model.registry`"));
        let text = SHIPPED.replace(
            "    model: { path: m.joblib, format: sklearn, registry: s3://b/m }\n",
            "",
        );
        let found = problems(&text, BUILD);
        assert!(found[0].1.contains("declares no `model`"), "{found:?}");
    }

    #[test]
    fn cluster_settings_nothing_is_sent_to_are_said_to_be_unused() {
        let settings = SHIPPED.replace(
            "version: 1\n",
            "version: 1\nci: { argo: { repo_url: https://git.example.com/a/b.git } }\n",
        );
        assert_ne!(settings, SHIPPED);
        let found = problems(&settings, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnsupportedTarget);
        assert!(found[0].1.contains("`ci.argo` says where"), "{found:?}");
        let sent = settings.replace(
            "    run: python train.py\n",
            "    run: python train.py\n    engine: argo\n",
        );
        assert!(
            !mentions(&sent, BUILD, "`ci.argo` says where"),
            "engine: argo"
        );
        let target = settings.replace("ci: { argo:", "ci: { targets: [argo-workflows], argo:");
        assert!(
            !mentions(&target, None, "`ci.argo` says where"),
            "the argo target"
        );
    }

    #[test]
    fn an_action_without_the_github_target_is_said_to_be_unused() {
        let action = "  github_action: acme/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090\n";
        let gitlab = SHIPPED.replace(
            "version: 1\n",
            &format!("version: 1\nci:\n  targets: [gitlab-ci]\n{action}"),
        );
        assert_ne!(gitlab, SHIPPED);
        let found = problems(&gitlab, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnsupportedTarget);
        assert!(
            found[0].1.contains("`ci.github_action` names the action"),
            "{found:?}"
        );
        let github = gitlab.replace("[gitlab-ci]", "[gitlab-ci, github-actions]");
        assert_eq!(problems(&github, None), [], "the GitHub workflow reads it");
        let unset = gitlab.replace(action, "");
        assert_eq!(problems(&unset, None), [], "nothing to say without it");
    }

    #[test]
    fn resources_on_the_ci_runner_are_said_to_be_not_applied() {
        let asks = SHIPPED.replace(
            "    run: python train.py\n",
            "    run: python train.py\n    resources: { gpu: 1 }\n",
        );
        assert_ne!(asks, SHIPPED);
        let found = problems(&asks, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnsupportedTarget);
        assert!(
            found[0].1.contains("training `churn` asks for `resources`"),
            "{found:?}"
        );
        let on_cluster = asks.replace(
            "    run: python train.py\n",
            "    run: python train.py\n    engine: argo\n",
        );
        assert!(
            !mentions(&on_cluster, BUILD, "asks for `resources`"),
            "engine: argo applies them"
        );
        let argo = asks.replace(
            "version: 1\n",
            "version: 1\nci: { targets: [argo-workflows] }\n",
        );
        assert_eq!(problems(&argo, None), [], "the argo target applies them");
    }

    #[test]
    fn a_canary_needs_kserve() {
        let canary = SHIPPED.replace(
            "ungated: true, target: { kind: kserve } }",
            "ungated: true, strategy: { canary_percent: 10 }, target: { kind: kserve } }",
        );
        assert_ne!(canary, SHIPPED);
        assert_eq!(problems(&canary, BUILD), [], "KServe splits the traffic");
        let plain = canary.replace(
            "target: { kind: kserve }",
            "target: { kind: kubernetes, image: \"ghcr.io/a/s@sha256:0000000000000000000000000000000000000000000000000000000000000000\" }",
        );
        let found = problems(&plain, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnsupportedTarget);
        assert!(
            found[0].1.contains("a canary of 10% needs kind `kserve`"),
            "{found:?}"
        );
        let without = plain.replace("strategy: { canary_percent: 10 }, ", "");
        assert_eq!(
            problems(&without, BUILD),
            [],
            "a rolling update needs no strategy"
        );
    }

    #[test]
    fn a_monitored_deployment_needs_the_target_that_schedules_its_check() {
        let monitored = SHIPPED.replace(
            "target: { kind: kserve } }\n",
            "target: { kind: kserve }, logging: { store: s3://b/logs }, monitoring: { schedule: \"0 6 * * *\", reference: churn, features: [a], drift: { method: psi, threshold: 0.2 } } }\n",
        );
        assert_ne!(monitored, SHIPPED);
        assert_eq!(problems(&monitored, BUILD), [], "github-actions by default");
        for (targets, named) in [
            ("[gitlab-ci]", "ci.targets [gitlab-ci]"),
            (
                "[gitlab-ci, argo-workflows]",
                "ci.targets [gitlab-ci, argo-workflows]",
            ),
            ("[]", "no CI target"),
        ] {
            let text = monitored.replace(
                "version: 1\n",
                &format!("version: 1\nci: {{ targets: {targets} }}\n"),
            );
            let found: Vec<_> = problems(&text, BUILD)
                .into_iter()
                .filter(|(_, message)| message.contains("drift check"))
                .collect();
            assert_eq!(found.len(), 1, "{targets}: {found:?}");
            assert_eq!(found[0].0, Code::UnsupportedTarget);
            assert!(found[0].1.contains("`churn-staging`"), "{found:?}");
            assert!(found[0].1.contains(named), "{found:?}");
        }
        let both = monitored.replace(
            "version: 1\n",
            "version: 1\nci: { targets: [gitlab-ci, github-actions] }\n",
        );
        assert_eq!(problems(&both, BUILD), [], "GitHub runs it beside GitLab");
    }

    #[test]
    fn a_training_on_the_cluster_needs_the_argo_target() {
        let text = SHIPPED.replace(
            "    run: python train.py\n",
            "    run: python train.py\n    engine: argo\n",
        );
        let found = problems(&text, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("`engine: argo`"), "{found:?}");
        let both = text.replace(
            "version: 1\n",
            "version: 1\nci: { targets: [github-actions, argo-workflows] }\n",
        );
        assert_eq!(problems(&both, BUILD), []);
    }

    #[test]
    fn argo_needs_a_repository_and_images_without_braces() {
        let argo = SHIPPED.replace(
            "version: 1\n",
            "version: 1\nci: { targets: [argo-workflows] }\n",
        );
        assert_eq!(
            problems(&argo, None),
            [],
            "gitops.repo_url is the repository"
        );
        let alone = argo.replace(
            "gitops: { repo_url: https://github.com/acme/churn.git }\n",
            "",
        );
        let found = problems(&alone, None);
        assert!(
            found
                .iter()
                .any(|(code, message)| *code == Code::MissingSetting
                    && message.contains("needs the git repository")),
            "{found:?}"
        );
        let own = alone.replace(
            "ci: { targets: [argo-workflows] }",
            "ci: { targets: [argo-workflows], argo: { repo_url: https://git.example.com/a/b.git } }",
        );
        assert!(
            !mentions(&own, None, "needs the git repository"),
            "ci.argo.repo_url counts"
        );
        let braces = argo.replace(
            "    run: python train.py\n",
            "    run: python train.py\n    image: \"img:{{tag}}\"\n",
        );
        let found = problems(&braces, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnsupportedTarget);
        assert!(found[0].1.contains("cannot escape"), "{found:?}");
    }

    #[test]
    fn gitlab_ci_renders_and_its_deploy_jobs_need_the_registry() {
        let gitlab = SHIPPED.replace("version: 1\n", "version: 1\nci: { targets: [gitlab-ci] }\n");
        assert_eq!(
            problems(&gitlab, None),
            [],
            "no action pin needed, no refusal"
        );
        let found = problems(&gitlab.replace(", registry: s3://b/m", ""), None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("has no `model.registry`"), "{found:?}");
    }

    #[test]
    fn the_action_defaults_to_the_build_and_an_unknown_build_says_what_to_add() {
        assert_eq!(problems(SHIPPED, BUILD), []);
        let found = problems(SHIPPED, None);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.contains("knows no commit"), "{found:?}");
        let pinned = SHIPPED.replace(
            "version: 1\n",
            "version: 1\nci: { github_action: acme/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090 }\n",
        );
        assert_eq!(
            problems(&pinned, None),
            [],
            "a pinned action needs no build commit"
        );
    }

    #[test]
    fn a_branch_or_short_sha_is_not_a_pin() {
        for reference in [
            "main",
            "v1",
            "4266430",
            "4266430A8C1D0B36E0A4D6A4B1F0E5C3D2B1A090",
        ] {
            let text = SHIPPED.replace(
                "version: 1\n",
                &format!("version: 1\nci: {{ github_action: acme/mlops@{reference} }}\n"),
            );
            let found = problems(&text, BUILD);
            assert_eq!(found.len(), 1, "{reference}: {found:?}");
            assert_eq!(found[0].0, Code::UnpinnedAction);
        }
    }

    #[test]
    fn an_autoscaled_kubernetes_deployment_needs_a_cpu_request() {
        let kubernetes = SHIPPED.replace(
            "target: { kind: kserve }",
            "target: { kind: kubernetes, image: x, replicas: { min: 1, max: 3 } }",
        );
        let found = problems(&kubernetes, BUILD);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].1.contains("sets no `resources.cpu`"));
        let with_cpu = kubernetes.replace("max: 3 }", "max: 3 }, resources: { cpu: 1 }");
        assert_eq!(problems(&with_cpu, BUILD), []);
        let fixed = kubernetes.replace("max: 3", "max: 1");
        assert_eq!(
            problems(&fixed, BUILD),
            [],
            "no autoscaler, nothing to divide by"
        );
        let kserve = SHIPPED.replace("kind: kserve", "kind: kserve, replicas: { min: 1, max: 3 }");
        assert_eq!(problems(&kserve, BUILD), [], "KServe scales on concurrency");
    }

    #[test]
    fn unsupported_kinds_are_named() {
        let text = SHIPPED
            .replace(
                "version: 1\n",
                "version: 1\nci: { targets: [github-actions, argo-workflows] }\n",
            )
            .replace("kind: kserve", "kind: azureml");
        let found = problems(&text, BUILD);
        assert_eq!(found.len(), 1, "every CI target renders: {found:?}");
        assert!(found[0].1.contains("`azureml`"), "{found:?}");
    }
}
