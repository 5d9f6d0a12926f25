//! What the serving emitters (KServe, Kubernetes) share: one view of a deployment, with its
//! release, names, labels and resources already decided, so each template only lays it out.

use serde::Serialize;

use super::EmitInput;
use crate::release::Release;
use crate::spec::model::{Deployment, ModelFormat, Quantity, Resources};

/// A deployment as the manifest templates see it.
#[derive(Debug, Serialize)]
pub struct Serving {
    /// Resource name: the deployment's name.
    pub name: String,
    /// The environment's namespace, when it sets one.
    pub namespace: Option<String>,
    /// `app.kubernetes.io/instance`: deployment and environment, the selector's second half.
    pub instance: String,
    /// `app.kubernetes.io/*` and `mlops.dev/*` labels, in a fixed order.
    pub labels: Vec<(String, String)>,
    /// Annotations (the model digest, the source config).
    pub annotations: Vec<(String, String)>,
    /// KServe's name for the model format (`sklearn`, ...); `None` for `custom`.
    pub model_format: Option<&'static str>,
    /// The serving image (`custom` format, or kind `kubernetes`).
    pub image: Option<String>,
    /// Replica range.
    pub min_replicas: u32,
    /// Replica range.
    pub max_replicas: u32,
    /// KServe canary share, percent.
    pub canary_percent: Option<u32>,
    /// Where the model is loaded from: the release's URI, `None` before the first promotion.
    pub storage_uri: Option<String>,
    /// `sha256:...` of the released model.
    pub digest: Option<String>,
    /// Resource requests (equal to the limits: guaranteed quality of service).
    pub resources: Vec<(String, String)>,
    /// Extended resources that go in limits only (GPUs).
    pub gpu: Option<u32>,
    /// Prediction logging.
    pub logging: Option<LoggingView>,
    /// The pods' service account, when the target names one.
    pub service_account: Option<String>,
    /// The release line of the header.
    pub release_note: String,
}

/// Prediction logging as the templates see it.
#[derive(Debug, Serialize)]
pub struct LoggingView {
    /// `all`, `request` or `response`.
    pub mode: &'static str,
    /// The sink URL, or the store's bucket (`s3://bucket`).
    pub url: String,
    /// Where in the bucket, when the logger writes to object storage.
    pub storage: Option<StorageView>,
}

/// KServe's `logger.storage`: the path within the bucket, the store's type, the account.
#[derive(Debug, Serialize)]
pub struct StorageView {
    /// `/inference-logs`.
    pub path: String,
    /// `s3` or `gs`.
    pub kind: String,
    /// The service account holding the store's credentials.
    pub service_account: Option<String>,
}

/// The manifests of every released deployment of `kind`: one file per deployment,
/// `deploy/<environment>/<deployment>.yaml`, rendered from `template` with the view `s`.
/// A deployment never promoted has no file: Argo CD syncs `deploy/<environment>` as it is, and
/// a manifest without a model would be applied and serve nothing (`render` lists them).
///
/// # Errors
/// Template errors and invalid output.
pub fn emit_for_kind(
    input: &EmitInput<'_>,
    kind: crate::spec::model::TargetKind,
    template: &str,
) -> Result<Vec<super::Artifact>, super::EmitError> {
    let mut artifacts = Vec::new();
    for (name, deployment) in &input.config.deployments {
        if deployment.target.kind != kind || !input.releases.contains_key(name) {
            continue;
        }
        let view = serving(input, name, deployment);
        let mut contents = super::yaml_header(input);
        contents.push_str(&view.release_note);
        contents.push_str(&super::render_yaml_documents(
            input.templates,
            template,
            &serde_json::json!({ "s": view }),
        )?);
        artifacts.push(super::Artifact {
            path: super::rebase(
                input.config_dir,
                &format!("deploy/{}/{name}.yaml", deployment.environment),
            ),
            contents,
        });
    }
    Ok(artifacts)
}

/// KServe's `modelFormat.name` for a model format; `None` for `custom` (a container).
#[must_use]
pub fn kserve_format(format: ModelFormat) -> Option<&'static str> {
    match format {
        ModelFormat::Sklearn => Some("sklearn"),
        ModelFormat::Xgboost => Some("xgboost"),
        ModelFormat::Lightgbm => Some("lightgbm"),
        ModelFormat::Onnx => Some("onnx"),
        ModelFormat::Pytorch => Some("pytorch"),
        ModelFormat::Tensorflow => Some("tensorflow"),
        ModelFormat::Custom => None,
    }
}

/// A Kubernetes label value from free text: at most 63 of `[A-Za-z0-9._-]`, starting and
/// ending with a letter or digit; `None` when nothing is left.
#[must_use]
pub fn label_value(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

pub(crate) fn quantity(value: &Quantity) -> String {
    match value {
        Quantity::Number(number) => number.to_string(),
        Quantity::Text(text) => text.clone(),
    }
}

fn resources(resources: Option<&Resources>) -> (Vec<(String, String)>, Option<u32>) {
    let Some(resources) = resources else {
        return (Vec::new(), None);
    };
    let mut out = Vec::new();
    if let Some(cpu) = &resources.cpu {
        out.push(("cpu".to_owned(), quantity(cpu)));
    }
    if let Some(memory) = &resources.memory {
        out.push(("memory".to_owned(), quantity(memory)));
    }
    (out, resources.gpu)
}

/// The view of deployment `name`.
#[must_use]
pub fn serving(input: &EmitInput<'_>, name: &str, deployment: &Deployment) -> Serving {
    let config = input.config;
    let release: Option<&Release> = input.releases.get(name);
    let model = config
        .training
        .get(&deployment.model)
        .and_then(|training| training.model.as_ref());
    let replicas = deployment.target.replicas.as_ref();
    let (resources, gpu) = resources(deployment.target.resources.as_ref());
    // Deployment names are unique in a config and usually name their environment already
    // (`churn-production`): the instance is the name, with the environment added only when
    // the name does not say it.
    let instance = if name.ends_with(&format!("-{}", deployment.environment)) {
        name.to_owned()
    } else {
        label_value(&format!("{name}-{}", deployment.environment))
            .unwrap_or_else(|| name.to_owned())
    };
    let mut labels = vec![
        ("app.kubernetes.io/name".to_owned(), name.to_owned()),
        ("app.kubernetes.io/instance".to_owned(), instance.clone()),
        (
            "app.kubernetes.io/component".to_owned(),
            "model-server".to_owned(),
        ),
    ];
    if let Some(project) = label_value(&config.project) {
        labels.push(("app.kubernetes.io/part-of".to_owned(), project));
    }
    labels.push((
        "app.kubernetes.io/managed-by".to_owned(),
        "mlops".to_owned(),
    ));
    if let Some(release) = release
        && let Some(hex) = release.digest.strip_prefix("sha256:")
    {
        labels.push((
            "app.kubernetes.io/version".to_owned(),
            hex.chars().take(12).collect(),
        ));
    }
    labels.push((
        "mlops.dev/environment".to_owned(),
        deployment.environment.clone(),
    ));
    let mut annotations = vec![("mlops.dev/source".to_owned(), input.config_path.to_owned())];
    if deployment
        .monitoring
        .as_ref()
        .is_some_and(|monitoring| monitoring.alerts.is_some())
    {
        // The Python runtimes' own metrics (`request_predict_seconds`), which the latency
        // alert reads, are scraped only with this.
        annotations.push((
            "serving.kserve.io/enable-prometheus-scraping".to_owned(),
            "true".to_owned(),
        ));
    }
    let mut release_note = String::new();
    if let Some(release) = release {
        annotations.push(("mlops.dev/model-digest".to_owned(), release.digest.clone()));
        annotations.push(("mlops.dev/model-uri".to_owned(), release.model_uri.clone()));
        if let Some(commit) = &release.commit {
            annotations.push(("mlops.dev/trained-from".to_owned(), commit.clone()));
        }
        release_note = format!(
            "# Serves {} ({}), as released in {}.\n",
            release.model_uri,
            release.digest,
            crate::release::path(&deployment.environment, name)
        );
    }
    Serving {
        name: name.to_owned(),
        namespace: config
            .environments
            .get(&deployment.environment)
            .and_then(|environment| environment.namespace.clone()),
        instance,
        labels,
        annotations,
        model_format: model.and_then(|model| kserve_format(model.format)),
        image: deployment.target.image.clone(),
        min_replicas: replicas.map_or(1, |replicas| replicas.min),
        max_replicas: replicas.map_or(1, |replicas| replicas.max),
        canary_percent: deployment
            .strategy
            .as_ref()
            .and_then(|strategy| strategy.canary_percent),
        storage_uri: release.map(|release| release.model_uri.clone()),
        digest: release.map(|release| release.digest.clone()),
        resources,
        gpu,
        logging: deployment.logging.as_ref().and_then(|logging| {
            Some(LoggingView {
                mode: logging.mode.as_str(),
                url: logging.url()?,
                storage: logging.store_parts().map(|(bucket, path)| StorageView {
                    path,
                    kind: bucket.split("://").next().unwrap_or("s3").to_owned(),
                    service_account: logging
                        .service_account
                        .clone()
                        .or_else(|| deployment.target.service_account.clone()),
                }),
            })
        }),
        service_account: deployment.target.service_account.clone(),
        release_note,
    }
}

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_are_cleaned() {
        assert_eq!(
            label_value("churn-platform").as_deref(),
            Some("churn-platform")
        );
        assert_eq!(label_value("p\"ro'j: #x").as_deref(), Some("p-ro-j---x"));
        assert_eq!(label_value("--").as_deref(), None);
        assert_eq!(
            label_value(&"a".repeat(80)).map(|value| value.len()),
            Some(63)
        );
    }
}
