//! SARIF 2.1.0, for GitHub code scanning (`github/codeql-action/upload-sarif`).

use serde_json::{Value, json};

use super::{Diag, FileReport, Label, SourceFile};
use crate::codes::Code;

/// One SARIF log with one run. Every code is listed as a rule (with its `mlops explain` page as
/// help) so that code scanning can show the docs next to each alert.
#[must_use]
pub fn render_sarif(files: &[FileReport]) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.name(),
                "shortDescription": { "text": code.summary() },
                "help": { "text": code.doc(), "markdown": code.doc() },
            })
        })
        .collect();
    let results: Vec<Value> = files
        .iter()
        .flat_map(|file| file.diags.iter().map(move |diag| (&file.source, diag)))
        .map(|(source, diag)| {
            let mut result = json!({
                "ruleId": diag.code.name(),
                "ruleIndex": Code::ALL.iter().position(|code| *code == diag.code),
                "level": diag.severity.name(),
                "message": { "text": message_text(diag) },
                "locations": [location(source, &diag.primary, None)],
            });
            if !diag.related.is_empty() {
                result["relatedLocations"] = diag
                    .related
                    .iter()
                    .enumerate()
                    .map(|(index, label)| location(source, label, Some(index)))
                    .collect();
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mlops",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&log).unwrap_or_default();
    out.push('\n');
    out
}

fn message_text(diag: &Diag) -> String {
    match &diag.help {
        Some(help) => format!("{}\nhelp: {help}", diag.message),
        None => diag.message.clone(),
    }
}

fn location(source: &SourceFile, label: &Label, id: Option<usize>) -> Value {
    let (start_line, start_column) = source.line_column(label.span.start);
    let (end_line, end_column) = source.line_column(label.span.end.max(label.span.start));
    let mut location = json!({
        "physicalLocation": {
            "artifactLocation": { "uri": source.name.replace('\\', "/") },
            "region": {
                "startLine": start_line,
                "startColumn": start_column,
                "endLine": end_line,
                "endColumn": end_column.max(start_column + usize::from(end_line == start_line && end_column == start_column)),
            },
        },
        "message": { "text": label.text },
    });
    if let Some(id) = id {
        location["id"] = json!(id);
    }
    location
}
