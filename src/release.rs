//! Release records: the one source of the model version a deployment serves.
//!
//! `mlops promote` writes `deploy/<environment>/<deployment>.release.json` (model URI, digest,
//! metrics, the commit it was trained from); `render` derives the manifest from it; a promotion
//! is therefore a small, reviewable diff in git, and `git revert` of it is the rollback.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::spec::Config;

/// One promotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The deployment it promotes.
    pub deployment: String,
    /// Its environment.
    pub environment: String,
    /// The training that produced the model.
    pub training: String,
    /// Where the serving platform loads the model from (`s3://...`, `gs://...`, `pvc://...`).
    pub model_uri: String,
    /// The model artifact's SHA-256: `sha256:<64 hex digits>`.
    pub digest: String,
    /// The commit the model was trained from, when known.
    pub commit: Option<String>,
    /// The model's metrics at promotion (flattened names; the production baseline of gates).
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

/// Where the release record of `deployment` in `environment` lives, relative to the root.
#[must_use]
pub fn path(environment: &str, deployment: &str) -> String {
    format!("deploy/{environment}/{deployment}.release.json")
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
#[must_use]
pub fn is_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Read every deployment's release record under `root` (deployments without one are absent).
///
/// # Errors
/// A record that exists but cannot be read, or that does not belong where it is.
pub fn load_all(root: &Path, config: &Config) -> Result<BTreeMap<String, Release>, String> {
    let mut releases = BTreeMap::new();
    for (name, deployment) in &config.deployments {
        let relative = path(&deployment.environment, name);
        let bytes = match std::fs::read(root.join(&relative)) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(format!("cannot read `{relative}`: {error}")),
        };
        let release: Release = serde_json::from_slice(&bytes)
            .map_err(|error| format!("`{relative}` is not a valid release record: {error}"))?;
        if release.deployment != *name || release.environment != deployment.environment {
            return Err(format!(
                "`{relative}` records deployment `{}` in `{}`, not `{name}` in `{}`",
                release.deployment, release.environment, deployment.environment
            ));
        }
        if release.model_uri.is_empty()
            || release
                .model_uri
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "`{relative}`: model_uri {:?} is empty or contains whitespace",
                release.model_uri
            ));
        }
        if let Some(commit) = &release.commit
            && !(commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(format!(
                "`{relative}`: commit `{commit}` is not a git commit id"
            ));
        }
        if !is_digest(&release.digest) {
            return Err(format!(
                "`{relative}`: digest `{}` is not `sha256:` and 64 hex digits",
                release.digest
            ));
        }
        releases.insert(name.clone(), release);
    }
    Ok(releases)
}

/// The record as written to disk: pretty JSON, keys in a fixed order, a final newline.
#[must_use]
pub fn to_text(release: &Release) -> String {
    let mut text = serde_json::to_string_pretty(release).unwrap_or_default();
    text.push('\n');
    text
}
