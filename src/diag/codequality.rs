//! GitLab's Code Quality report (a subset of Code Climate's JSON): `mlops validate --format
//! gitlab` in a job whose `artifacts:reports:codequality` is the output, so each problem shows
//! in the merge request's widget, on every GitLab tier.

use serde_json::{Value, json};

use super::{FileReport, Severity};

/// One JSON array: per problem `description`, `check_name` (the code), `fingerprint`,
/// `severity` (`major` for an error, `minor` for a warning) and `location` (`path` as given,
/// `lines.begin`, and `positions` with the column). The fingerprint is the digest of the path,
/// the code, the message and how many identical ones came before, not of the line, so that a
/// problem moved by an edit above it is the same problem to GitLab.
#[must_use]
pub fn render_codequality(files: &[FileReport]) -> String {
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut issues: Vec<Value> = Vec::new();
    for file in files {
        let path = file
            .source
            .name
            .strip_prefix("./")
            .unwrap_or(&file.source.name);
        for diag in &file.diags {
            let (line, column) = file.source.line_column(diag.primary.span.start);
            let (end_line, end_column) = file
                .source
                .line_column(diag.primary.span.end.max(diag.primary.span.start));
            let identity = format!("{path}\0{}\0{}", diag.code.name(), diag.message);
            let occurrence = seen.entry(identity.clone()).or_default();
            let fingerprint = crate::lock::digest(format!("{identity}\0{occurrence}").as_bytes());
            *occurrence += 1;
            let mut description = format!("{}: {}", diag.primary.text, diag.message);
            if let Some(help) = &diag.help {
                description.push_str(&format!(" (help: {help})"));
            }
            issues.push(json!({
                "description": description,
                "check_name": diag.code.name(),
                "fingerprint": fingerprint.trim_start_matches("sha256:"),
                "severity": match diag.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                "location": {
                    "path": path,
                    "lines": { "begin": line, "end": end_line },
                    "positions": {
                        "begin": { "line": line, "column": column },
                        "end": { "line": end_line, "column": end_column },
                    },
                },
            }));
        }
    }
    let mut out = serde_json::to_string_pretty(&issues).unwrap_or_default();
    out.push('\n');
    out
}
