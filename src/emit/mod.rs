//! Stage 4: turn a validated config and its graph into files (CI pipelines, and later deploy
//! manifests). Each output format is one module behind the [`Emitter`] trait; emitters only
//! compute what to write. Writing, diffing and staleness checks live in [`crate::outputs`].

pub mod argocd;
pub mod github;
pub mod kserve;
pub mod kubernetes;
pub mod serving;
pub mod templates;

use minijinja::Environment;
use sha2::{Digest, Sha256};

use crate::graph::Graph;
use crate::spec::Config;
use crate::spec::model::CiTarget;

/// One generated file: where it goes (relative to the project root, `/`-separated) and what
/// it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the output root.
    pub path: String,
    /// Complete contents, header included.
    pub contents: String,
}

/// What every emitter reads.
pub struct EmitInput<'a> {
    /// The validated config.
    pub config: &'a Config,
    /// Its dependency graph.
    pub graph: &'a Graph,
    /// The config file's path as the generated files should name it (relative to the root).
    pub config_path: &'a str,
    /// SHA-256 of the config file's bytes, lowercase hex.
    pub config_sha256: String,
    /// Templates (embedded, or the project's overrides).
    pub templates: &'a Environment<'static>,
    /// Release records by deployment name (deployments never promoted are absent).
    pub releases: &'a std::collections::BTreeMap<String, crate::release::Release>,
}

/// Why an emitter could not produce its files. The config is valid by now, so these are about
/// what rendering needs beyond validity (a required setting) or a broken template override.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The config asks for something this output cannot do, or lacks a setting it needs.
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
        /// JSON pointer of the config section it belongs in.
        pointer: String,
    },
    /// A template failed to render (typically a user's override in `.mlops/templates/`).
    #[error("template `{template}` failed: {source:#}")]
    Template {
        /// The template's name.
        template: String,
        /// minijinja's error, with line and caret.
        source: minijinja::Error,
    },
    /// A template rendered text that is not valid YAML.
    #[error("template `{template}` produced invalid YAML: {message}")]
    InvalidOutput {
        /// The template's name.
        template: String,
        /// The parser's message.
        message: String,
    },
}

/// One output format.
pub trait Emitter {
    /// The files this emitter writes for `input`.
    ///
    /// # Errors
    /// When a setting the output needs is missing or a template fails.
    fn emit(&self, input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError>;
}

/// The emitters the config asks for, in a fixed order.
#[must_use]
pub fn emitters_for(config: &Config) -> Vec<Box<dyn Emitter>> {
    let mut emitters: Vec<Box<dyn Emitter>> = Vec::new();
    for target in &config.ci.targets {
        match target {
            CiTarget::GithubActions => emitters.push(Box::new(github::GithubActions)),
            // Not built yet; `render` says so rather than writing a partial set of files.
            CiTarget::GitlabCi | CiTarget::ArgoWorkflows => {}
        }
    }
    if !config.deployments.is_empty() {
        emitters.push(Box::new(kserve::Kserve));
        emitters.push(Box::new(kubernetes::Kubernetes));
        emitters.push(Box::new(argocd::ArgoCd));
    }
    emitters
}

/// Deployments whose target kind cannot be rendered yet, as (name, kind).
#[must_use]
pub fn unsupported_deployments(config: &Config) -> Vec<(String, &'static str)> {
    use crate::spec::model::TargetKind;
    config
        .deployments
        .iter()
        .filter_map(|(name, deployment)| match deployment.target.kind {
            TargetKind::Kserve | TargetKind::Kubernetes => None,
            TargetKind::Sagemaker => Some((name.clone(), "sagemaker")),
            TargetKind::Azureml => Some((name.clone(), "azureml")),
        })
        .collect()
}

/// Targets `render` cannot emit yet, so the CLI can say so instead of silently skipping them.
#[must_use]
pub fn unsupported_targets(config: &Config) -> Vec<&'static str> {
    config
        .ci
        .targets
        .iter()
        .filter_map(|target| match target {
            CiTarget::GithubActions => None,
            CiTarget::GitlabCi => Some("gitlab-ci"),
            CiTarget::ArgoWorkflows => Some("argo-workflows"),
        })
        .collect()
}

/// Render every file of the config, sorted by path.
///
/// # Errors
/// The first emitter error.
pub fn render_all(input: &EmitInput<'_>) -> Result<Vec<Artifact>, EmitError> {
    let mut artifacts = Vec::new();
    for emitter in emitters_for(input.config) {
        artifacts.extend(emitter.emit(input)?);
    }
    artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(artifacts)
}

/// SHA-256 of `bytes` as lowercase hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The first line of every generated YAML file. `render` and `check` recognise their own files
/// by it, and never touch a file that does not start with it.
pub const HEADER_PREFIX: &str = "# Generated by mlops from ";

/// The header of a generated YAML file: what it came from and how to change it.
#[must_use]
pub fn yaml_header(input: &EmitInput<'_>) -> String {
    format!(
        "{HEADER_PREFIX}{} (sha256:{}).\n\
         # Do not edit: change {} and run `mlops render`; `mlops check` fails on any difference.\n",
        input.config_path, input.config_sha256, input.config_path
    )
}

/// Render `template` (several YAML documents separated by `---` lines) and check that each
/// document parses.
///
/// # Errors
/// Template errors and invalid output.
pub fn render_yaml_documents<S: serde::Serialize>(
    templates: &Environment<'static>,
    template: &str,
    context: &S,
) -> Result<String, EmitError> {
    let rendered = render_template(templates, template, context)?;
    for document in rendered.split("\n---\n") {
        check_yaml(template, document)?;
    }
    Ok(rendered)
}

fn render_template<S: serde::Serialize>(
    templates: &Environment<'static>,
    template: &str,
    context: &S,
) -> Result<String, EmitError> {
    templates
        .get_template(template)
        .and_then(|compiled| compiled.render(minijinja::value::Serde(context)))
        .map_err(|source| EmitError::Template {
            template: template.to_owned(),
            source,
        })
}

fn check_yaml(template: &str, text: &str) -> Result<(), EmitError> {
    let (document, diags) = crate::spec::load::load_str(text);
    if document.is_none() || !diags.is_empty() {
        let message = diags
            .first()
            .map_or_else(|| "unreadable".to_owned(), |diag| diag.message.clone());
        return Err(EmitError::InvalidOutput {
            template: template.to_owned(),
            message,
        });
    }
    Ok(())
}

/// Render `template` with `context`, and check that the result parses as YAML, so that a broken
/// override fails here, with the template's name, rather than in CI.
///
/// # Errors
/// Template errors and invalid output.
pub fn render_yaml<S: serde::Serialize>(
    templates: &Environment<'static>,
    template: &str,
    context: &S,
) -> Result<String, EmitError> {
    let rendered = render_template(templates, template, context)?;
    check_yaml(template, &rendered)?;
    Ok(rendered)
}
