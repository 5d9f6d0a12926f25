#![doc = include_str!("../../docs/codes/credential-literal.md")]

use std::sync::LazyLock;

use regex::bytes::{Regex, RegexBuilder};

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::{Diag, Label};

/// Secrets are named (`secrets: [NAME]`), never written. This rule scans the raw text, comments
/// included, since a token in a comment leaks just the same once the file is pushed.
pub struct CredentialLiteral;

// Two regexes, each an alternation with one capture group per kind of secret, rather than
// seven: compiling them was a third of `validate`'s run time on a small file. ASCII classes
// (`unicode(false)`) for the same reason: credentials are ASCII, and Unicode `\b`, `\s` and
// `[^...]` cost several times more to compile. [`TOKENS`] is matched on the text as written;
// [`ASSIGNMENTS`] on the text in ASCII lower case (the same byte offsets), which is cheaper than
// `(?i)` and its case-folded literal sets.

/// Every match of [`TOKENS`] contains one of these. Most files contain none, and looking for
/// them costs far less than compiling [`TOKENS`], so that is compiled only when one is there.
const TOKEN_PREFIXES: [&str; 10] = [
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
];
const OTHER_TOKEN_MARKERS: [&str; 2] = ["xox", "PRIVATE KEY"];

/// What each capture group of [`TOKENS`] finds, in group order.
const TOKEN_KINDS: [&str; 5] = [
    "an AWS access key id",
    "a GitHub token",
    "a GitHub token",
    "a Slack token",
    "a private key",
];

const TOKENS: &str = concat!(
    r"(\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b)",
    // Unbounded rather than GitHub's `{36,255}`: a bounded repetition is a copy of the class per
    // count in the compiled program, and a longer run is no less a token.
    r"|(\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b)",
    r"|(\bgithub_pat_[A-Za-z0-9_]{22,}\b)",
    r"|(\bxox[abposr]-[A-Za-z0-9-]{10,}\b)",
    r"|(-----BEGIN [A-Z ]*PRIVATE KEY-----)",
);

/// `password: hunter2`, `DB_PASSWORD=hunter2`, `api_key = "abc123"`, `--token abc123`: a name
/// that says secret, then a literal (not `$VAR`, `${{ secrets.X }}`, `<placeholder>`, a list, or
/// the default of a shell expansion such as `${TOKEN:-none}`).
/// Group 1 or 2 is the secret itself.
const ASSIGNMENTS: &str = concat!(
    r#"(?:password|passwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|token)["']?[ \t]*[:=][ \t]*["']?([^\s"'$<{(\[*?+=-][^\s"',}\]]{3,})"#,
    r#"|--(?:password|passwd|secret|api-key|access-key|token)(?:=|[ \t]+)["']?([^\s"'$<{(\-][^\s"']{3,})"#,
);

const LITERAL: &str = "a literal password or key";

/// Whether [`ASSIGNMENTS`] can match `lower` at all: some secret word is directly followed (after
/// at most one quote) by `:`, `=`, a space or a tab. A necessary condition, checked without
/// compiling the regex: most files only name secrets (`secrets: [DB_PASSWORD]`), and skipping
/// the compile is a tenth of `validate`'s time on them.
fn may_assign_a_secret(lower: &str) -> bool {
    ["passw", "secret", "key", "token"].iter().any(|word| {
        lower.match_indices(word).any(|(at, _)| {
            let mut rest = lower[at + word.len()..].bytes();
            // `password`, `passwd`: skip the rest of the word; others end here.
            let mut next = rest.next();
            if *word == "passw" {
                while matches!(next, Some(b'o' | b'r' | b'd')) {
                    next = rest.next();
                }
            }
            if matches!(next, Some(b'"' | b'\'')) {
                next = rest.next();
            }
            matches!(next, Some(b':' | b'=' | b' ' | b'\t'))
        })
    })
}

fn compile(source: &str) -> Regex {
    RegexBuilder::new(source)
        .unicode(false)
        .build()
        .expect("credential patterns are valid regexes (unit-tested)")
}

static TOKEN_REGEX: LazyLock<Regex> = LazyLock::new(|| compile(TOKENS));
static ASSIGNMENT_REGEX: LazyLock<Regex> = LazyLock::new(|| compile(ASSIGNMENTS));

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

/// Byte spans of likely credentials in `text`, in order. Spans fall on ASCII bytes at both ends,
/// so they are valid `str` boundaries.
#[must_use]
pub fn find_credentials(text: &str) -> Vec<(std::ops::Range<usize>, &'static str)> {
    let mut found: Vec<(std::ops::Range<usize>, &'static str)> = Vec::new();
    let has_token_marker = TOKEN_PREFIXES
        .iter()
        .chain(&OTHER_TOKEN_MARKERS)
        .any(|marker| text.contains(marker));
    let token_matches = has_token_marker
        .then(|| TOKEN_REGEX.captures_iter(text.as_bytes()))
        .into_iter()
        .flatten();
    for captures in token_matches {
        let kind = TOKEN_KINDS
            .iter()
            .enumerate()
            .find_map(|(index, kind)| Some((captures.get(index + 1)?, *kind)));
        if let Some((secret, kind)) = kind {
            found.push((secret.range(), kind));
        }
    }
    let lower = text.to_ascii_lowercase();
    let assignments = may_assign_a_secret(&lower)
        .then(|| ASSIGNMENT_REGEX.captures_iter(lower.as_bytes()))
        .into_iter()
        .flatten();
    for captures in assignments {
        let Some(secret) = captures.get(1).or_else(|| captures.get(2)) else {
            continue;
        };
        let span = secret.range();
        if !found
            .iter()
            .any(|(other, _)| other.start < span.end && span.start < other.end)
        {
            found.push((span, LITERAL));
        }
    }
    for span in url_passwords(text) {
        if !found
            .iter()
            .any(|(other, _)| other.start < span.end && span.start < other.end)
        {
            found.push((span, "a password inside a URL"));
        }
    }
    found.sort_by_key(|(span, _)| span.start);
    found
}

/// Byte spans of the password in every `scheme://user:password@host` of `text`. A scanner, not
/// a regex: nearly every config has both `://` and `@` (registries, reviewers, the action pin),
/// so a regex would be compiled on every run. A password that is a reference (`$VAR`,
/// `${{ ... }}`, `<placeholder>`, `***`, `%s`) is not a literal.
fn url_passwords(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    for (at, _) in text.match_indices("://") {
        let start = at + 3;
        let authority_len = text[start..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(c, '/' | '\'' | '"' | '?' | '#' | ',' | ']' | '}' | ')')
            })
            .unwrap_or(text.len() - start);
        let authority = &text[start..start + authority_len];
        let Some(userinfo_end) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..userinfo_end].find(':') else {
            continue;
        };
        let password = &authority[colon + 1..userinfo_end];
        if password.is_empty() || password.starts_with(['$', '<', '{', '*', '%']) {
            continue;
        }
        spans.push(start + colon + 1..start + userinfo_end);
    }
    spans
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
    fn finds_a_password_inside_a_url() {
        let text = "uri: postgres://etl:S3cretPass99@db:5432/x\nrepo: https://u:p@host/\n";
        let found = find_credentials(text);
        assert_eq!(
            found
                .iter()
                .map(|(span, what)| (&text[span.clone()], *what))
                .collect::<Vec<_>>(),
            [
                ("S3cretPass99", "a password inside a URL"),
                ("p", "a password inside a URL")
            ]
        );
    }

    #[test]
    fn a_url_without_a_literal_password_is_fine() {
        for text in [
            "uri: s3://acme-ml/events/",
            "url: https://user@host/x",
            "url: postgres://etl:${DB_PASSWORD}@db/x",
            "url: postgres://etl:$DB_PASSWORD@db/x",
            "url: https://x-access-token:<token>@github.com/o/r",
            "reviewers: [\"@acme/leads\"] # see https://github.com/acme",
            "github_action: acme/mlops@4266430a8c1d0b36e0a4d6a4b1f0e5c3d2b1a090",
            "url: https://host:8443/path@x",
        ] {
            assert_eq!(whats(text), Vec::<&str>::new(), "{text}");
        }
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
        assert_eq!(
            whats(&format!("# github_pat_{}", "A1_".repeat(10))),
            ["a GitHub token"]
        );
        assert_eq!(whats("slack: xoxb-1234567890-abcdef"), ["a Slack token"]);
        assert_eq!(
            whats("AUTH_TOKEN: AbC123xyz"),
            ["a literal password or key"],
            "the keyword is matched in any case"
        );
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
    fn the_prefilter_never_hides_a_match() {
        for text in [
            "password: hunter22",
            "DB_PASSWORD=s3cr3t",
            "passwd = abcdef",
            "api_key: \"abc123\"",
            "x_token\t: abcdef",
            "--token abcdef",
            "--password=abcdef",
            "'secret': abcdef",
        ] {
            assert!(
                super::may_assign_a_secret(&text.to_ascii_lowercase()),
                "{text}"
            );
            assert_eq!(whats(text), ["a literal password or key"], "{text}");
        }
        assert!(!super::may_assign_a_secret(
            "secrets: [wandb_api_key, db_password]"
        ));
    }

    #[test]
    fn leaves_references_and_names_alone() {
        assert!(whats("secrets: [WANDB_API_KEY, DB_PASSWORD]").is_empty());
        assert!(whats("run: login --password \"$DB_PASSWORD\"").is_empty());
        assert!(whats("run: TOKEN=${{ secrets.TOKEN }} ./x").is_empty());
        assert!(whats("run: train --password-file /run/secrets/db").is_empty());
        assert!(whats("tokenizer: bert-base").is_empty());
        assert!(whats("password: <set in CI>").is_empty());
        // A shell default (`${TOKEN:-none}`, `${TOKEN:=x}`, `${TOKEN:?unset}`) is no literal.
        assert!(
            whats("run: echo \"${CI_JOB_TOKEN:-none}\" ${API_KEY:=abcd} ${TOKEN:?unset}")
                .is_empty()
        );
    }
}
