//! Stage 4: turn a validated config and its graph into files (CI pipelines, and later deploy
//! manifests). Each output format is one module behind the [`Emitter`] trait; emitters only
//! compute what to write. Writing, diffing and staleness checks live in [`crate::outputs`].

pub mod argo;
pub mod argocd;
pub mod commands;
pub mod github;
pub mod gitlab;
pub mod kserve;
pub mod kubernetes;
pub mod monitor;
pub mod serving;
pub mod templates;

use minijinja::Environment;

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
    /// The config's folder, relative to the root (`""` at the root): where its paths, its
    /// `deploy/` and its commands start. The one place paths are rebased: see [`rebase`].
    pub config_dir: &'a str,
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

    /// Where its files live, so that one it no longer produces is found and removed. Every
    /// file it writes is under one of these and starts with the generated-file header.
    fn owns(&self) -> &'static [Owned];
}

/// A folder an emitter writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owned {
    /// The folder (or, with `file`, the file).
    pub path: &'static str,
    /// At the repository root, where the engine reads it (CI files), rather than beside the
    /// config (its `deploy/`).
    pub at_root: bool,
    /// A single file rather than a folder of `.yml`/`.yaml` files.
    pub file: bool,
}

/// Every emitter, selected or not: the files of one the config no longer asks for are still
/// its own to remove.
#[must_use]
pub fn all_emitters() -> Vec<Box<dyn Emitter>> {
    vec![
        Box::new(github::GithubActions),
        Box::new(gitlab::GitlabCi),
        Box::new(argo::ArgoWorkflows),
        Box::new(kserve::Kserve),
        Box::new(kubernetes::Kubernetes),
        Box::new(argocd::ArgoCd),
        Box::new(monitor::Monitor),
    ]
}

/// Where any emitter writes, each place once.
#[must_use]
pub fn owned_places() -> Vec<Owned> {
    let mut places: Vec<Owned> = Vec::new();
    for emitter in all_emitters() {
        for place in emitter.owns() {
            if !places.contains(place) {
                places.push(*place);
            }
        }
    }
    places
}

/// The emitters the config asks for, in a fixed order.
#[must_use]
pub fn emitters_for(config: &Config) -> Vec<Box<dyn Emitter>> {
    let mut emitters: Vec<Box<dyn Emitter>> = Vec::new();
    for target in &config.ci.targets {
        match target {
            CiTarget::GithubActions => emitters.push(Box::new(github::GithubActions)),
            CiTarget::GitlabCi => emitters.push(Box::new(gitlab::GitlabCi)),
            CiTarget::ArgoWorkflows => emitters.push(Box::new(argo::ArgoWorkflows)),
        }
    }
    if !config.deployments.is_empty() {
        emitters.push(Box::new(kserve::Kserve));
        emitters.push(Box::new(kubernetes::Kubernetes));
        emitters.push(Box::new(argocd::ArgoCd));
    }
    if config
        .deployments
        .values()
        .any(|deployment| deployment.monitoring.is_some())
    {
        emitters.push(Box::new(monitor::Monitor));
    }
    emitters
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

/// `path` (relative to the config's folder) relative to the repository root.
#[must_use]
pub fn rebase(config_dir: &str, path: &str) -> String {
    let path = path.trim_start_matches("./");
    if config_dir.is_empty() {
        path.to_owned()
    } else {
        format!("{config_dir}/{path}")
    }
}

/// The first line of every generated YAML file. `render` and `check` recognise their own files
/// by it, and never touch a file that does not start with it.
pub const HEADER_PREFIX: &str = "# Generated by mlops from ";

/// The header of a generated YAML file: what it came from and how to change it. It names the
/// config but carries no digest of it: a file changes only when its own content does, so a
/// comment in `mlops.yaml` touches no generated file and two pull requests that change
/// different models never conflict in one.
#[must_use]
pub fn yaml_header(input: &EmitInput<'_>) -> String {
    format!(
        "{}\n\
         # Do not edit: change {} and run `mlops render`; `mlops check` fails on any difference.\n",
        header_line(input.config_path),
        input.config_path
    )
}

/// The first line of every file generated from `config_path`.
#[must_use]
pub fn header_line(config_path: &str) -> String {
    format!("{HEADER_PREFIX}{config_path}.")
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

/// `value` (a map) as a block YAML document, for emitters that build their documents as data
/// rather than through a template. Every string is written by [`templates::yaml_str`] (the one
/// quoting path), keys too unless they are plain names; maps and lists are written in block
/// style, empty ones as `{}` and `[]`.
#[must_use]
pub fn to_yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_yaml(&mut out, value, 0);
    out
}

fn yaml_scalar(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => Some("null".to_owned()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::String(text) => Some(templates::yaml_str(text)),
        Value::Array(items) if items.is_empty() => Some("[]".to_owned()),
        Value::Object(map) if map.is_empty() => Some("{}".to_owned()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn yaml_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && key.starts_with(|c: char| c.is_ascii_alphabetic());
    if plain {
        key.to_owned()
    } else {
        templates::yaml_str(key)
    }
}

fn write_yaml(out: &mut String, value: &serde_json::Value, indent: usize) {
    use serde_json::Value;
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&yaml_key(key));
                out.push(':');
                if let Some(scalar) = yaml_scalar(item) {
                    out.push(' ');
                    out.push_str(&scalar);
                    out.push('\n');
                } else {
                    out.push('\n');
                    let child = if item.is_array() { indent } else { indent + 2 };
                    write_yaml(out, item, child);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if let Some(scalar) = yaml_scalar(item) {
                    out.push_str(&format!("{pad}- {scalar}\n"));
                } else {
                    // The item's block, its first line after the dash.
                    let mut block = String::new();
                    write_yaml(&mut block, item, indent + 2);
                    let first = " ".repeat(indent + 2);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(block.strip_prefix(&first).unwrap_or(&block));
                }
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&yaml_scalar(scalar).unwrap_or_default());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod yaml_tests {
    use super::to_yaml;

    #[test]
    fn documents_round_trip_through_the_parser() {
        let value = serde_json::json!({
            "a": "x: y # z\n'q'",
            "list": [{"name": "n", "deep": {"k": [1, true, null]}}, "s", [], {}],
            "nvidia.com/gpu": 1,
            "weird key": {},
            "nested": [["a", "b"]],
        });
        let text = to_yaml(&value);
        let (document, diags) = crate::spec::load::load_str(&text);
        assert!(diags.is_empty(), "{diags:?}\n{text}");
        assert_eq!(document.unwrap().value, value, "{text}");
    }
}
