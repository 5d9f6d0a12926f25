//! Release records: the one source of the model version a deployment serves.
//!
//! `mlops promote` writes `deploy/<environment>/<deployment>.release.json` (model URI, digest,
//! metrics, the commit it was trained from) and the manifest derived from it as one commit on
//! the environment's release branch ([`crate::publish`]); a promotion is therefore a small,
//! reviewable diff in git. A rollback is a new record (the earlier release, marked
//! `rollback_of`), not a revert: it applies whatever changed in the config since.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// Set by `mlops rollback`: the digest of the release this one withdrew. A rollback
    /// restores an earlier release; this field is how the next rollback knows to go further
    /// back instead of forward to the release just withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// The reference sample of a monitored deployment: the data the model was trained on,
    /// uploaded beside it, so drift is measured against exactly what the served model saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// A reference sample: where it was uploaded and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `s3://…/<model digest>/reference.csv`.
    pub uri: String,
    /// `sha256:<64 hex digits>` of the file.
    pub digest: String,
}

/// The release a rollback returns to, given every version of one deployment's record, oldest
/// first (the last is the current one). The records are replayed as a stack: a promotion
/// pushes; a rollback pops down to the release it restored. The answer is the release under
/// the current one, so rolling back twice goes back two releases, never forward to the one
/// the first rollback withdrew.
#[must_use]
pub fn rollback_target(history: &[Release]) -> Option<&Release> {
    let mut stack: Vec<&Release> = Vec::new();
    for release in history {
        if release.rollback_of.is_some() {
            while stack.last().is_some_and(|top| top.digest != release.digest) {
                stack.pop();
            }
            if stack.is_empty() {
                stack.push(release);
            }
        } else {
            stack.push(release);
        }
    }
    stack.len().checked_sub(2).map(|below| stack[below])
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

/// Refuse a record that does not belong where it was found (`path`, for deployment `name` in
/// `environment`) or whose values could not reach a manifest as data: records on a release
/// branch are read back, and anyone who can push there can write one.
///
/// # Errors
/// What is wrong with it.
pub fn verify(release: &Release, name: &str, environment: &str, path: &str) -> Result<(), String> {
    if release.deployment != name || release.environment != environment {
        return Err(format!(
            "`{path}` records deployment `{}` in `{}`, not `{name}` in `{environment}`",
            release.deployment, release.environment
        ));
    }
    if release.model_uri.is_empty()
        || release
            .model_uri
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "`{path}`: model_uri {:?} is empty or contains whitespace",
            release.model_uri
        ));
    }
    if let Some(commit) = &release.commit
        && !(commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(format!(
            "`{path}`: commit `{commit}` is not a git commit id"
        ));
    }
    if let Some(reference) = &release.reference
        && (!is_digest(&reference.digest)
            || reference.uri.is_empty()
            || reference
                .uri
                .chars()
                .any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(format!(
            "`{path}`: the reference sample ({:?}, {:?}) needs a URI without whitespace and a `sha256:` digest",
            reference.uri, reference.digest
        ));
    }
    if !is_digest(&release.digest) {
        return Err(format!(
            "`{path}`: digest `{}` is not `sha256:` and 64 hex digits",
            release.digest
        ));
    }
    Ok(())
}

/// The record as written to disk: pretty JSON, keys in a fixed order, a final newline.
#[must_use]
pub fn to_text(release: &Release) -> String {
    let mut text = serde_json::to_string_pretty(release).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::{Release, rollback_target};

    fn release(digest: char, rollback_of: Option<char>) -> Release {
        Release {
            deployment: "d".to_owned(),
            environment: "e".to_owned(),
            training: "t".to_owned(),
            model_uri: format!("s3://b/{digest}"),
            digest: format!("sha256:{}", digest.to_string().repeat(64)),
            commit: None,
            metrics: std::collections::BTreeMap::new(),
            reference: None,
            rollback_of: rollback_of.map(|d| format!("sha256:{}", d.to_string().repeat(64))),
        }
    }

    fn target(history: &[Release]) -> Option<char> {
        rollback_target(history).map(|release| release.model_uri.chars().last().unwrap())
    }

    #[test]
    fn rollbacks_walk_back_through_promotions() {
        let (a, b, c) = (release('a', None), release('b', None), release('c', None));
        assert_eq!(
            target(std::slice::from_ref(&a)),
            None,
            "the first release has nothing before it"
        );
        assert_eq!(target(&[a.clone(), b.clone(), c.clone()]), Some('b'));
        // Rolled back from c to b: the next rollback goes to a, not forward to c.
        let to_b = release('b', Some('c'));
        assert_eq!(
            target(&[a.clone(), b.clone(), c.clone(), to_b.clone()]),
            Some('a')
        );
        let to_a = release('a', Some('b'));
        assert_eq!(
            target(&[a.clone(), b.clone(), c.clone(), to_b.clone(), to_a.clone()]),
            None
        );
        // A promotion after a rollback starts a new top: rolling back returns to what served.
        let d = release('d', None);
        assert_eq!(target(&[a, b, c, to_b, d]), Some('b'));
    }

    #[test]
    fn a_record_without_rollback_of_reads_as_before() {
        let text = r#"{"deployment":"d","environment":"e","training":"t","model_uri":"s3://b/x","digest":"sha256:00","commit":null}"#;
        let release: Release = serde_json::from_str(text).unwrap();
        assert_eq!(release.rollback_of, None);
        assert!(!super::to_text(&release).contains("rollback_of"));
    }
}
