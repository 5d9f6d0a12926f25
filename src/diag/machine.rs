//! Machine-readable reports: one JSON document, or GitHub Actions workflow commands.

use serde::Serialize;

use super::{Diag, FileReport, SourceFile};

#[derive(Serialize)]
struct JsonReport<'a> {
    diagnostics: Vec<JsonDiag<'a>>,
}

#[derive(Serialize)]
struct JsonDiag<'a> {
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    help: Option<&'a str>,
    file: &'a str,
    line: usize,
    column: usize,
}

/// `{"diagnostics":[{"severity","code","message","help","file","line","column"}]}`, with
/// 1-based line and column of the offending value, followed by a newline. One document for all
/// the files checked in one run.
#[must_use]
pub fn render_json(files: &[FileReport]) -> String {
    let diagnostics = files
        .iter()
        .flat_map(|file| file.diags.iter().map(move |diag| (&file.source, diag)))
        .map(|(source, diag)| {
            let (line, column) = source.line_column(diag.primary.span.start);
            JsonDiag {
                severity: diag.severity.name(),
                code: diag.code.name(),
                message: &diag.message,
                help: diag.help.as_deref(),
                file: &source.name,
                line,
                column,
            }
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&JsonReport { diagnostics }).unwrap_or_default();
    out.push('\n');
    out
}

/// GitHub Actions workflow commands (`::error file=…,line=…,col=…,title=…::message`), so that
/// each problem appears as an annotation on the pull request's diff.
#[must_use]
pub fn render_github(source: &SourceFile, diags: &[Diag]) -> String {
    let mut out = String::new();
    for diag in diags {
        let (line, column) = source.line_column(diag.primary.span.start);
        let (end_line, end_column) =
            source.line_column(diag.primary.span.end.max(diag.primary.span.start));
        let mut message = format!("{}: {}", diag.primary.text, diag.message);
        if let Some(help) = &diag.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let mut location = format!(
            "file={},line={line},col={column}",
            escape_property(&source.name)
        );
        if end_line == line {
            location.push_str(&format!(",endColumn={end_column}"));
        } else {
            location.push_str(&format!(",endLine={end_line}"));
        }
        out.push_str(&format!(
            "::{} {location},title={}::{}\n",
            diag.severity.name(),
            escape_property(&format!("mlops::{}", diag.code)),
            escape_data(&message)
        ));
    }
    out
}

/// Escaping rules of the Actions toolkit (`@actions/core` `command.ts`): data escapes `%`, CR
/// and LF; property values also escape `:` and `,`.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escapes_newlines_and_separators() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a,b:c"), "a%2Cb%3Ac");
    }
}
