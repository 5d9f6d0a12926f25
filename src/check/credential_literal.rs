#![doc = include_str!("../../docs/codes/credential-literal.md")]

use std::sync::LazyLock;

use regex::Regex;

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::{Diag, Label};

/// Secrets are named (`secrets: [NAME]`), never written. This rule scans the raw text, comments
/// included, since a token in a comment leaks just the same once the file is pushed.
pub struct CredentialLiteral;

struct Pattern {
    what: &'static str,
    regex: Regex,
    /// Which capture group holds the secret itself (0: the whole match).
    group: usize,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let pattern = |what, source: &str, group| Pattern {
        what,
        regex: Regex::new(source).expect("credential patterns are valid regexes (unit-tested)"),
        group,
    };
    vec![
        pattern(
            "an AWS access key id",
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            0,
        ),
        pattern(
            "a GitHub token",
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
            0,
        ),
        pattern("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", 0),
        pattern("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b", 0),
        pattern("a private key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----", 0),
        // `password: hunter2`, `DB_PASSWORD=hunter2`, `api_key = "abc123"`: a name that says
        // secret, then a literal (not `$VAR`, `${{ secrets.X }}`, `<placeholder>` or a list).
        pattern(
            "a literal password or key",
            r#"(?i)\b[a-z0-9_-]*(?:password|passwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|token)["']?[ \t]*[:=][ \t]*["']?([^\s"'$<{(\[*][^\s"',}\]]{3,})"#,
            1,
        ),
        pattern(
            "a literal password or key",
            r#"(?i)--(?:password|passwd|secret|api-key|access-key|token)(?:=|[ \t]+)["']?([^\s"'$<{(\-][^\s"']{3,})"#,
            1,
        ),
    ]
});

impl Rule for CredentialLiteral {
    fn code(&self) -> Code {
        Code::CredentialLiteral
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (span, what) in find_credentials(cx.text) {
            out.push(
                Diag::error(
                    Code::CredentialLiteral,
                    format!("this looks like {what} written into the file"),
                    Label::new(span, "credential literal"),
                )
                .with_help(
                    "remove it (and rotate it: it is in git history once pushed); store it as a CI secret, \
                     list its name under the step's `secrets:`, and read it from the environment, e.g. `$DB_PASSWORD`",
                ),
            );
        }
    }
}

/// Byte spans of likely credentials in `text`, in order, without overlaps.
#[must_use]
pub fn find_credentials(text: &str) -> Vec<(std::ops::Range<usize>, &'static str)> {
    let mut found: Vec<(std::ops::Range<usize>, &'static str)> = Vec::new();
    for pattern in PATTERNS.iter() {
        for captures in pattern.regex.captures_iter(text) {
            let Some(secret) = captures.get(pattern.group) else {
                continue;
            };
            let span = secret.range();
            if found
                .iter()
                .any(|(other, _)| other.start < span.end && span.start < other.end)
            {
                continue;
            }
            found.push((span, pattern.what));
        }
    }
    found.sort_by_key(|(span, _)| span.start);
    found
}

#[cfg(test)]
mod tests {
    use super::find_credentials;

    fn whats(text: &str) -> Vec<&'static str> {
        find_credentials(text)
            .into_iter()
            .map(|(_, what)| what)
            .collect()
    }

    #[test]
    fn finds_real_looking_credentials() {
        assert_eq!(
            whats("run: aws --key AKIAIOSFODNN7EXAMPLE"),
            ["an AWS access key id"]
        );
        assert_eq!(
            whats(&format!("token ghp_{}", "a".repeat(36))),
            ["a GitHub token"]
        );
        assert_eq!(whats("-----BEGIN RSA PRIVATE KEY-----"), ["a private key"]);
        assert_eq!(whats("password: hunter22"), ["a literal password or key"]);
        assert_eq!(
            whats("run: DB_PASSWORD=s3cr3t ./train"),
            ["a literal password or key"]
        );
        assert_eq!(
            whats("run: login --password hunter22"),
            ["a literal password or key"]
        );
    }

    #[test]
    fn leaves_references_and_names_alone() {
        assert!(whats("secrets: [WANDB_API_KEY, DB_PASSWORD]").is_empty());
        assert!(whats("run: login --password \"$DB_PASSWORD\"").is_empty());
        assert!(whats("run: TOKEN=${{ secrets.TOKEN }} ./x").is_empty());
        assert!(whats("run: train --password-file /run/secrets/db").is_empty());
        assert!(whats("tokenizer: bert-base").is_empty());
        assert!(whats("password: <set in CI>").is_empty());
    }
}
