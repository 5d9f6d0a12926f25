//! The typed `mlops.yaml` model (format version 1), with no spans.
//!
//! The JSON Schema in `schemas/mlops.schema.json` is generated from these types by schemars, so
//! the docs here are what an editor shows on hover. Serde itself ignores unknown fields on
//! purpose: the schema rejects them (`#[schemars(deny_unknown_fields)]`) with a span and a
//! suggestion, and the semantic rules can still run on the rest of the file.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Name-keyed sections keep the order the author wrote: promotion order is the order of
/// `environments`, and outputs list entries as written.
pub type Section<T> = IndexMap<String, T>;

/// An `mlops.yaml`: one ML project's delivery pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, title = "mlops.yaml", example = example_config())]
pub struct Config {
    /// Format version. Only `1` exists.
    #[schemars(range(min = 1, max = 1), example = 1)]
    pub version: u32,
    /// The project's name: used in generated file headers, job names and Kubernetes labels.
    #[schemars(length(min = 1, max = 63), example = &"churn-platform")]
    pub project: String,
    /// Settings every step inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Which CI systems to generate pipelines for, and when they run.
    #[serde(default)]
    pub ci: Ci,
    /// Deployment environments. Promotion order is the order written here.
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub environments: Section<Environment>,
    /// Data sets: external sources (`uri`) and derived ones (`run`).
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub data: Section<Data>,
    /// Training steps, each producing one model and a metrics file.
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub training: Section<Training>,
    /// Validation gates: metric thresholds and no-regression rules a model must pass.
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub gates: Section<Gate>,
    /// Human sign-offs required before deploying to an environment.
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub approvals: Section<Approval>,
    /// Where each model is served, per environment.
    #[serde(default)]
    #[schemars(extend("propertyNames" = name_schema()))]
    pub deployments: Section<Deployment>,
    /// Where the cluster reads the rendered manifests from: needed to render the Argo CD
    /// applications of the environments.
    pub gitops: Option<Gitops>,
}

/// The name rule of the spec (rule 2), for editors. `mlops validate` checks it again with a
/// better message, so the schema's own `propertyNames` error is not shown twice.
fn name_schema() -> serde_json::Value {
    serde_json::json!({ "pattern": "^[a-z0-9][a-z0-9-]{0,62}$" })
}

fn example_config() -> serde_json::Value {
    serde_json::json!({ "version": 1, "project": "churn-platform" })
}

/// Settings every step inherits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Defaults {
    /// GitHub `runs-on` label or labels. Default: `ubuntu-latest`.
    pub runner: Option<Runner>,
    /// Container image the `run` steps execute in.
    #[schemars(example = &"python:3.12-slim")]
    pub image: Option<String>,
    /// Per-job time limit in minutes. Default: 60.
    #[schemars(range(min = 1, max = 4320), example = 60)]
    pub timeout_minutes: Option<u32>,
    /// Shell command run before every `run` (installing dependencies, say).
    #[schemars(example = &"pip install -r requirements.txt")]
    pub setup: Option<String>,
}

/// A GitHub `runs-on` value: one label or a list of labels that must all match.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Runner {
    /// One label, such as `ubuntu-latest`.
    Label(String),
    /// Several labels, such as `[self-hosted, gpu]`.
    Labels(Vec<String>),
}

/// Which CI systems to generate for, and when pipelines run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Ci {
    /// CI systems to emit pipelines for. Default: `[github-actions]`.
    #[serde(default = "default_targets")]
    #[schemars(length(min = 1))]
    pub targets: Vec<CiTarget>,
    /// Train, gate and report on pull requests. Default: `true`.
    #[serde(default = "default_true")]
    pub on_pull_request: bool,
    /// Pushes to this branch run the deploy path. Default: `main`.
    #[serde(default = "default_branch")]
    #[schemars(example = &"main")]
    pub branch: String,
    /// The mlops GitHub Action the generated workflow runs mlops with, pinned to a full commit
    /// SHA: `OWNER/REPO@<40 hex digits>`. Default: the mlops that renders (its repository and
    /// the commit it was built from), so that the tool that checks a pull request is the one
    /// that rendered it.
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[^\s@]+$"),
        example = &"acme/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090"
    )]
    pub github_action: Option<String>,
    /// Where and how the Argo Workflows target runs on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argo: Option<ArgoSettings>,
}

impl Default for Ci {
    fn default() -> Self {
        Self {
            targets: default_targets(),
            on_pull_request: true,
            branch: default_branch(),
            github_action: None,
            argo: None,
        }
    }
}

/// The cluster side of the `argo-workflows` target.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ArgoSettings {
    /// The git repository the steps check the source out from. Default: `gitops.repo_url`.
    #[schemars(example = &"https://github.com/acme/churn.git")]
    pub repo_url: Option<String>,
    /// Namespace of the workflow template and the cron workflows (and their pods).
    #[schemars(example = &"ml-pipelines")]
    pub namespace: Option<String>,
    /// Service account the pods run as.
    #[schemars(example = &"mlops-runner")]
    pub service_account: Option<String>,
    /// Node labels every pod must match.
    #[serde(default)]
    pub node_selector: indexmap::IndexMap<String, String>,
    /// Taints every pod tolerates (GPU steps also tolerate `nvidia.com/gpu`).
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// The artifact repository (a config map key, Argo's `artifactRepositoryRef`) that carries
    /// files between steps; default: the namespace's default repository.
    pub artifact_repository: Option<ArtifactRepository>,
    /// Name of the Kubernetes Secret holding the steps' secrets, one key per name. Default:
    /// `mlops-<project>`.
    pub secret: Option<String>,
    /// The image gate and deploy steps run `mlops` from. Default: `python:3.12`, which installs
    /// the `mlops-yaml` wheel of the version that rendered.
    pub mlops_image: Option<String>,
}

/// A Kubernetes toleration.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Toleration {
    /// The taint's key.
    #[schemars(example = &"dedicated")]
    pub key: String,
    /// `Exists` (any value) or `Equal` (to `value`). Default: `Exists`.
    #[serde(default)]
    pub operator: TolerationOperator,
    /// The taint's value, with `operator: Equal`.
    pub value: Option<String>,
    /// The taint's effect; default: all.
    pub effect: Option<TaintEffect>,
}

/// How a toleration matches a taint's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TolerationOperator {
    /// Any value.
    #[default]
    Exists,
    /// Exactly `value`.
    Equal,
}

/// What a taint does to pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    /// Not scheduled there.
    NoSchedule,
    /// Avoided there.
    PreferNoSchedule,
    /// Evicted from there.
    NoExecute,
}

/// Argo's `artifactRepositoryRef`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ArtifactRepository {
    /// The config map.
    #[schemars(example = &"artifact-repositories")]
    pub config_map: String,
    /// Its key.
    #[schemars(example = &"s3-ml")]
    pub key: String,
}

fn default_targets() -> Vec<CiTarget> {
    vec![CiTarget::GithubActions]
}

fn default_true() -> bool {
    true
}

fn default_branch() -> String {
    "main".to_owned()
}

/// A CI system `mlops render` can emit a pipeline for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CiTarget {
    /// `.github/workflows/mlops.yml`
    GithubActions,
    /// `.gitlab-ci.yml`
    GitlabCi,
    /// `argo/mlops-workflow.yaml`
    ArgoWorkflows,
}

impl CiTarget {
    /// As the config spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CiTarget::GithubActions => "github-actions",
            CiTarget::GitlabCi => "gitlab-ci",
            CiTarget::ArgoWorkflows => "argo-workflows",
        }
    }
}

/// A deployment environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Environment {
    /// Argo CD destination: a cluster name or an API server URL.
    #[schemars(example = &"prod-cluster")]
    pub cluster: Option<String>,
    /// Kubernetes namespace the models are served in.
    #[schemars(example = &"ml")]
    pub namespace: Option<String>,
    /// A deployment here must come after an approval for this environment.
    #[serde(default)]
    pub requires_approval: bool,
}

/// A data set: an external source (`uri`) or one derived by a `run` command.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Data {
    /// Where an external source lives.
    #[schemars(example = &"s3://acme-ml/events/2026-11/")]
    pub uri: Option<String>,
    /// Expected SHA-256 of the source: 64 hexadecimal digits.
    #[schemars(example = &"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    pub sha256: Option<String>,
    /// Cron schedule (5 fields, UTC) for retraining on fresh data.
    #[schemars(example = &"0 3 * * 1")]
    pub refresh: Option<String>,
    /// Data sets this one is built from.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Shell command that builds this data set.
    #[schemars(example = &"python -m features.build --out data/features.parquet")]
    pub run: Option<String>,
    /// Repository paths or globs whose change re-runs this step.
    #[serde(default)]
    #[schemars(example = &["src/features/**"])]
    pub inputs: Vec<String>,
    /// Paths this step writes.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Runner label(s) for this step; overrides `defaults.runner`.
    pub runner: Option<Runner>,
    /// Secrets this step needs, by name.
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")))]
    pub secrets: Vec<String>,
    /// What the step's pod asks the cluster for (Argo Workflows): CPU, memory, GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

/// A training's hyper-parameters: a file, or the keys of a file that several trainings share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Params {
    /// The whole file.
    File(String),
    /// Some keys of it.
    Scoped(ScopedParams),
}

/// The keys of a params file a training reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ScopedParams {
    /// The file (YAML or JSON).
    #[schemars(example = &"params.yaml")]
    pub file: String,
    /// The keys this training reads, each with everything under it (`churn` covers
    /// `churn.lr`); dotted for nested keys (`common.seed`).
    #[schemars(length(min = 1), example = &["churn", "common.seed"])]
    pub keys: Vec<String>,
}

impl Params {
    /// The file.
    #[must_use]
    pub fn file(&self) -> &str {
        match self {
            Params::File(file) | Params::Scoped(ScopedParams { file, .. }) => file,
        }
    }

    /// The keys it is scoped to, if it is.
    #[must_use]
    pub fn keys(&self) -> Option<&[String]> {
        match self {
            Params::File(_) => None,
            Params::Scoped(scoped) => Some(&scoped.keys),
        }
    }

    /// The JSON pointer of the file's path, under the training's pointer `base`.
    #[must_use]
    pub fn file_pointer(&self, base: &str) -> String {
        match self {
            Params::File(_) => format!("{base}/params"),
            Params::Scoped(_) => format!("{base}/params/file"),
        }
    }

    /// Whether the flattened parameter `name` is one this training reads.
    #[must_use]
    pub fn reads(&self, name: &str) -> bool {
        self.keys().is_none_or(|keys| {
            keys.iter().any(|key| {
                name == key
                    || name
                        .strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    }
}

/// A training step: produces a model and a metrics file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Training {
    /// Data sets or trainings this step needs.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Shell command that trains the model.
    #[schemars(example = &"python train.py --params params.yaml")]
    pub run: String,
    /// Repository paths or globs whose change re-runs this step.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Hyper-parameter file (YAML or JSON): a change to one of its values re-runs this step
    /// (a comment or a reordering does not). `{ file, keys }` scopes it to some keys, for a
    /// file that several steps share.
    #[schemars(example = &"params.yaml")]
    pub params: Option<Params>,
    /// The metrics file `run` writes (JSON, YAML, TOML or CSV, by extension); gates read it.
    #[schemars(example = &"metrics/churn.json")]
    pub metrics: Option<String>,
    /// The model artifact `run` writes.
    pub model: Option<Model>,
    /// Runner label(s) for this step; overrides `defaults.runner`.
    pub runner: Option<Runner>,
    /// Container image for this step; overrides `defaults.image`.
    pub image: Option<String>,
    /// Time limit in minutes; overrides `defaults.timeout_minutes`.
    #[schemars(range(min = 1, max = 4320))]
    pub timeout_minutes: Option<u32>,
    /// Secrets this step needs, by name (never values).
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")), example = &["WANDB_API_KEY"])]
    pub secrets: Vec<String>,
    /// What the training's pod asks the cluster for (Argo Workflows): CPU, memory, GPUs
    /// (`gpu: 1` requests `nvidia.com/gpu` and tolerates the GPU nodes' taint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Where the GitHub and GitLab pipelines run it: `ci` (the runner, the default) or `argo`
    /// (handed to the cluster's Argo Workflows template, which the pipeline waits for and
    /// takes the training's files from, so gates and reports stay in the pipeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
}

/// Where a pipeline runs a training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// On the CI runner.
    Ci,
    /// On the cluster, through the `argo-workflows` target's template.
    Argo,
}

/// A model artifact.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Model {
    /// Where `run` writes the model.
    #[schemars(example = &"models/churn.joblib")]
    pub path: String,
    /// Serving format; picks the KServe predictor.
    pub format: ModelFormat,
    /// Where promoted models are stored, as a URI prefix the serving platform reads: each
    /// promotion uploads the model to `<registry>/<sha256>/<file name>` (`s3://` with the AWS
    /// CLI, `gs://` with gcloud). Required to deploy the model from the generated workflow.
    #[schemars(regex(pattern = r"^(s3|gs)://[^\s/]+(/[^\s]*)?$"), example = &"s3://acme-ml/models/churn")]
    pub registry: Option<String>,
}

/// A model's serving format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// scikit-learn (joblib or pickle).
    Sklearn,
    /// XGBoost.
    Xgboost,
    /// LightGBM.
    Lightgbm,
    /// ONNX.
    Onnx,
    /// PyTorch (TorchServe).
    Pytorch,
    /// TensorFlow SavedModel.
    Tensorflow,
    /// Anything else: the deployment's `target.image` serves it.
    Custom,
}

/// A validation gate on one training's metrics.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Gate {
    /// The training whose metrics this gate judges.
    #[schemars(example = &"churn")]
    pub training: String,
    /// What `max_drop`/`max_rise` rules compare with. Default: `base`.
    #[serde(default)]
    pub baseline: Baseline,
    /// The rules; every one must pass.
    #[schemars(length(min = 1))]
    pub rules: Vec<GateRule>,
}

/// What no-regression rules compare with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// The pull request's base ref.
    #[default]
    Base,
    /// The metrics of the model deployed to production.
    Production,
}

/// One gate rule: a metric and exactly one threshold.
///
/// `min`, `max_drop` and `max_drop_pct` are for metrics where higher is better (AUC, accuracy);
/// `max`, `max_rise` and `max_rise_pct` for metrics where lower is better (latency, loss).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, extend("minProperties" = 2, "maxProperties" = 2))]
pub struct GateRule {
    /// Metric name in the training's metrics file (nested keys joined with `.`).
    #[schemars(example = &"auc")]
    pub metric: String,
    /// Fail when the metric is below this value.
    pub min: Option<f64>,
    /// Fail when the metric is above this value.
    pub max: Option<f64>,
    /// Fail when the metric falls by more than this, absolute, from the baseline.
    #[schemars(range(min = 0))]
    pub max_drop: Option<f64>,
    /// Fail when the metric falls by more than this percentage of the baseline (0-100).
    #[schemars(range(min = 0, max = 100))]
    pub max_drop_pct: Option<f64>,
    /// Fail when the metric rises by more than this, absolute, from the baseline.
    #[schemars(range(min = 0))]
    pub max_rise: Option<f64>,
    /// Fail when the metric rises by more than this percentage of the baseline.
    #[schemars(range(min = 0))]
    pub max_rise_pct: Option<f64>,
}

/// A required human sign-off.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Approval {
    /// The environment this approval guards.
    #[schemars(example = &"production")]
    pub environment: String,
    /// GitHub users and `@org/team`s who may approve.
    #[schemars(length(min = 1), example = &["@acme/ml-leads", "alice"])]
    pub reviewers: Vec<String>,
    /// How many of them must approve. Default: 1.
    #[serde(default = "default_min_approvals")]
    #[schemars(range(min = 1))]
    pub min_approvals: u32,
}

fn default_min_approvals() -> u32 {
    1
}

/// Serving one training's model in one environment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Deployment {
    /// The training whose model is served.
    #[schemars(example = &"churn")]
    pub model: String,
    /// The environment it is served in.
    #[schemars(example = &"staging")]
    pub environment: String,
    /// Gates, approvals and deployments that must pass first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Roll-out strategy.
    pub strategy: Option<Strategy>,
    /// What serves the model.
    pub target: Target,
    /// Deploy without any gate on the model (reported as a warning).
    #[serde(default)]
    pub ungated: bool,
    /// Log every prediction (for back-testing and drift analysis).
    pub logging: Option<Logging>,
    /// Watch the served model: drift of its inputs, its performance where ground truth comes
    /// back, latency and errors; on drift, retrain or open an issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Monitoring>,
    /// Secrets the promotion needs (to upload to the model registry), by name.
    #[serde(default)]
    #[schemars(inner(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")), example = &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])]
    pub secrets: Vec<String>,
}

/// Prediction logging: what is sent, and where.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Logging {
    /// Which messages to log. Default: `all`.
    #[serde(default)]
    pub mode: LogMode,
    /// The HTTP(S) endpoint that receives the logged messages (CloudEvents). Give this or
    /// `store`.
    #[schemars(
        regex(pattern = r"^https?://[^\s/?#]+[^\s]*$"),
        example = &"http://message-dumper.ml-staging.svc.cluster.local"
    )]
    pub sink: Option<String>,
    /// The bucket and path KServe's logger writes each request and response to as JSON
    /// (`logger.storage`, no Knative Eventing needed), under
    /// `<bucket>/<namespace>/<deployment>/predictor/<path>/`; what `monitoring` reads. Give this
    /// or `sink`.
    #[schemars(
        regex(pattern = r"^(s3|gs)://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s/][^\s]*$"),
        example = &"s3://acme-ml/inference-logs"
    )]
    pub store: Option<String>,
    /// The service account whose credentials the logger writes to `store` with. Default: the
    /// deployment's `target.service_account`.
    #[schemars(example = &"logger-sa")]
    pub service_account: Option<String>,
}

impl Logging {
    /// The URL KServe's logger is given: the sink, or the store's bucket.
    #[must_use]
    pub fn url(&self) -> Option<String> {
        if let Some(sink) = &self.sink {
            return Some(sink.clone());
        }
        let (bucket, _) = self.store_parts()?;
        Some(bucket)
    }

    /// The store as KServe splits it: `s3://bucket` and the path within it (`/logs`).
    #[must_use]
    pub fn store_parts(&self) -> Option<(String, String)> {
        let store = self.store.as_deref()?;
        let (scheme, rest) = store.split_once("://")?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        Some((
            format!("{scheme}://{bucket}"),
            format!("/{}", path.trim_matches('/')),
        ))
    }
}

/// Watching one deployment: the scheduled drift check (a gate over the logged inputs against
/// the data the served model was trained on), optional performance against ground truth,
/// latency and error alerts, and what a drift sets off.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Monitoring {
    /// When the check runs: cron, 5 fields, UTC (as `refresh`).
    #[schemars(example = &"0 6 * * *")]
    pub schedule: String,
    /// How far back each check reads the logs: hours (`24h`) or days (`7d`). Default: `7d`.
    #[serde(default = "default_window")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}[hd]$"), example = &"7d")]
    pub window: String,
    /// Fewer rows than this in the window: "not enough data", neither a pass nor a drift.
    /// Default: 100.
    #[serde(default = "default_min_rows")]
    #[schemars(range(min = 1))]
    pub min_rows: u64,
    /// The data set the model was trained on: its CSV or Parquet output, taken at the commit
    /// of the release being served, is the reference.
    #[schemars(example = &"features")]
    pub reference: String,
    /// The input columns, in the order of a v1 request's `instances` rows (or the names of a
    /// v2 request's inputs).
    #[schemars(length(min = 1), extend("uniqueItems" = true), example = &["tenure", "plan", "monthly_charges"])]
    pub features: Vec<String>,
    /// How drift is measured and when it counts.
    pub drift: Drift,
    /// Live performance, where ground truth comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<Performance>,
    /// Latency and error-rate alerts (a `PrometheusRule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
    /// What a drift sets off: dispatch the training again (through its gates and approvals),
    /// keep one issue open, or both. Default: `[issue]`.
    #[serde(default = "default_on_drift")]
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub on_drift: Vec<OnDrift>,
}

fn default_window() -> String {
    "7d".to_owned()
}

fn default_min_rows() -> u64 {
    100
}

fn default_on_drift() -> Vec<OnDrift> {
    vec![OnDrift::Issue]
}

/// How drift is measured (by Evidently) and judged (by mlops).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Drift {
    /// The statistical test per column.
    pub method: DriftMethod,
    /// Per column: a distance at or above it (`psi`, `wasserstein`, `jensenshannon`, `kl_div`,
    /// `hellinger`), or a p-value below it (`ks`, `chisquare`), is drift.
    #[schemars(example = 0.2)]
    pub threshold: f64,
    /// The share of drifted columns above which the model counts as drifted (0 to 1).
    /// Default: 0.5.
    #[serde(default = "default_drift_share")]
    #[schemars(range(min = 0, max = 1), example = 0.3)]
    pub max_drift_share: f64,
}

fn default_drift_share() -> f64 {
    0.5
}

/// A drift test Evidently runs per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftMethod {
    /// Population stability index (a distance; 0.1 to 0.25 is the usual threshold).
    Psi,
    /// Kolmogorov-Smirnov (a p-value; numeric columns).
    Ks,
    /// Chi-squared (a p-value; categorical columns).
    Chisquare,
    /// Wasserstein distance, normed.
    Wasserstein,
    /// Jensen-Shannon distance (0 to 1).
    Jensenshannon,
    /// Kullback-Leibler divergence.
    KlDiv,
    /// Hellinger distance (0 to 1).
    Hellinger,
}

impl DriftMethod {
    /// The name Evidently knows it by.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMethod::Psi => "psi",
            DriftMethod::Ks => "ks",
            DriftMethod::Chisquare => "chisquare",
            DriftMethod::Wasserstein => "wasserstein",
            DriftMethod::Jensenshannon => "jensenshannon",
            DriftMethod::KlDiv => "kl_div",
            DriftMethod::Hellinger => "hellinger",
        }
    }

    /// Whether the test gives a p-value (drift below the threshold) rather than a distance
    /// (drift at or above it).
    #[must_use]
    pub fn is_p_value(self) -> bool {
        matches!(self, DriftMethod::Ks | DriftMethod::Chisquare)
    }

    /// The thresholds that mean something for this test, in words, and whether `threshold`
    /// is among them.
    #[must_use]
    pub fn accepts(self, threshold: f64) -> (bool, &'static str) {
        match self {
            DriftMethod::Ks | DriftMethod::Chisquare => (
                threshold > 0.0 && threshold < 1.0,
                "a p-value, between 0 and 1 (0.05 is usual)",
            ),
            DriftMethod::Jensenshannon | DriftMethod::Hellinger => (
                threshold > 0.0 && threshold <= 1.0,
                "a distance above 0 and at most 1 (0.1 is usual)",
            ),
            DriftMethod::Psi | DriftMethod::Wasserstein | DriftMethod::KlDiv => (
                threshold > 0.0,
                "a distance above 0 (0.1 to 0.25 is usual for psi)",
            ),
        }
    }
}

/// Live performance: the logged predictions joined with ground truth by request id.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Performance {
    /// Where the ground truth lands (S3): CSV files with the columns `id` (the logger's request
    /// id), optionally `row` (1-based, for requests of several instances) and `label`.
    #[schemars(regex(pattern = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$"), example = &"s3://acme-ml/labels/churn/")]
    pub labels: String,
    /// Rules in the gates' grammar, absolute only (`min`, `max`): there is no baseline.
    #[schemars(length(min = 1))]
    pub rules: Vec<GateRule>,
}

/// Alerts on the serving itself, as a `PrometheusRule`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Alerts {
    /// Alert when the 95th percentile of prediction latency passes this, in milliseconds.
    #[schemars(range(min = 1), example = 200)]
    pub latency_p95_ms: Option<u32>,
    /// Alert when the share of 5xx responses passes this (0 to 1).
    #[schemars(range(min = 0, max = 1), example = 0.01)]
    pub error_rate: Option<f64>,
    /// How long the condition must hold before the alert fires. Default: `10m`.
    #[serde(default = "default_alert_for", rename = "for")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}[smh]$"), example = &"10m")]
    pub hold: String,
}

fn default_alert_for() -> String {
    "10m".to_owned()
}

/// What a drift sets off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDrift {
    /// Dispatch the main workflow to retrain the model; it ships through its gates and, where
    /// the environment requires it, the approval.
    Retrain,
    /// Keep one issue per deployment open while drift lasts, closed when it is gone.
    Issue,
}

/// Which prediction messages are logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogMode {
    /// Requests and responses.
    #[default]
    All,
    /// Requests only.
    Request,
    /// Responses only.
    Response,
}

impl LogMode {
    /// The word KServe's logger and the environment variable use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LogMode::All => "all",
            LogMode::Request => "request",
            LogMode::Response => "response",
        }
    }
}

/// Where the cluster reads the rendered manifests from (Argo CD).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Gitops {
    /// The git repository Argo CD reads `deploy/` from.
    #[schemars(example = &"https://github.com/acme/churn.git")]
    pub repo_url: String,
    /// The prefix of the release branches: each environment's manifests and release records
    /// are published to `<release_branch>/<environment>`, which its Argo CD application
    /// follows and only CI writes. Default: `mlops/release`.
    #[schemars(example = &"mlops/release")]
    pub release_branch: Option<String>,
    /// The namespace Argo CD runs in. Default: `argocd`.
    #[serde(default = "default_argocd_namespace")]
    pub argocd_namespace: String,
    /// The Argo CD project of the applications. Default: `default`.
    #[serde(default = "default_argocd_project")]
    pub project: String,
}

fn default_argocd_namespace() -> String {
    "argocd".to_owned()
}

fn default_argocd_project() -> String {
    "default".to_owned()
}

/// Roll-out strategy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Strategy {
    /// Share of traffic, in percent, the new model gets first.
    #[schemars(range(min = 1, max = 99), example = 10)]
    pub canary_percent: Option<u32>,
}

/// What serves a model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Target {
    /// The serving platform.
    pub kind: TargetKind,
    /// The serving image: required for kind `kubernetes` and for models of format `custom`.
    #[schemars(example = &"ghcr.io/acme/churn-server:1.4.2")]
    pub image: Option<String>,
    /// Replica count range.
    pub replicas: Option<Replicas>,
    /// CPU and memory per replica.
    pub resources: Option<Resources>,
    /// The Kubernetes service account the serving pods run as: for KServe, the one whose
    /// credentials let the storage initializer pull the model from `s3://` or `gs://` (an
    /// IRSA or Workload Identity account, or one with an S3 secret attached).
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        length(max = 253),
        example = &"churn-model-reader"
    )]
    pub service_account: Option<String>,
}

/// A serving platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// KServe `InferenceService`.
    Kserve,
    /// Kubernetes `Deployment` and `Service`.
    Kubernetes,
    /// Amazon SageMaker endpoint.
    Sagemaker,
    /// Azure ML managed online endpoint.
    Azureml,
}

/// Replica count range.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Replicas {
    /// Fewest replicas (0 lets KServe scale to zero).
    #[schemars(example = 1)]
    pub min: u32,
    /// Most replicas.
    #[schemars(example = 3)]
    pub max: u32,
}

/// Kubernetes resource quantities per replica.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Resources {
    /// CPU, such as `1`, `0.5` or `500m`.
    #[schemars(example = &"1")]
    pub cpu: Option<Quantity>,
    /// Memory, such as `2Gi`.
    #[schemars(example = &"2Gi")]
    pub memory: Option<Quantity>,
    /// GPUs (`nvidia.com/gpu`).
    pub gpu: Option<u32>,
}

/// A Kubernetes resource quantity: a number (`1`, `0.5`) or a string with a unit (`500m`, `2Gi`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Quantity {
    /// A plain number of units.
    Number(serde_json::Number),
    /// A quantity with a suffix, such as `500m` or `2Gi`.
    Text(String),
}

/// Which way a metric is better, as a gate rule's threshold implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `min`, `max_drop`, `max_drop_pct`: accuracy, AUC, F1.
    HigherIsBetter,
    /// `max`, `max_rise`, `max_rise_pct`: latency, loss, error rate.
    LowerIsBetter,
}

impl GateRule {
    /// The thresholds this rule sets, as (field name, value, direction), in field order.
    #[must_use]
    pub fn thresholds(&self) -> Vec<(&'static str, f64, Direction)> {
        use Direction::{HigherIsBetter, LowerIsBetter};
        [
            ("min", self.min, HigherIsBetter),
            ("max", self.max, LowerIsBetter),
            ("max_drop", self.max_drop, HigherIsBetter),
            ("max_drop_pct", self.max_drop_pct, HigherIsBetter),
            ("max_rise", self.max_rise, LowerIsBetter),
            ("max_rise_pct", self.max_rise_pct, LowerIsBetter),
        ]
        .into_iter()
        .filter_map(|(field, value, direction)| value.map(|value| (field, value, direction)))
        .collect()
    }
}
