//! Problems found in a config, as values: a code, a message, labelled spans and help.
//!
//! Every stage (load, schema, rules) produces [`Diag`]s; the renderers in this module turn a list
//! of them into a terminal report (miette), JSON, GitHub workflow commands or SARIF. Spans are
//! byte ranges into the one source text; line and column are derived here, in one place.

mod codequality;
mod human;
mod machine;
mod sarif;

use std::ops::Range;

pub use codequality::render_codequality;
pub use human::render_human;
pub use machine::{render_github, render_json};
pub use sarif::render_sarif;

use crate::codes::Code;

/// How bad a problem is. Errors fail `mlops validate` (exit 1); warnings are shown only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The config must be fixed.
    Error,
    /// Worth a look; does not fail the run.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as machine formats spell it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span of source text with a short explanation shown under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Byte range in the source.
    pub span: Range<usize>,
    /// What is wrong here, in a few words.
    pub text: String,
}

impl Label {
    /// A label on `span`.
    pub fn new(span: Range<usize>, text: impl Into<String>) -> Self {
        Self {
            span,
            text: text.into(),
        }
    }
}

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// Stable code, such as `unknown-ref`.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// One line: lowercase, names in backticks, no final period.
    pub message: String,
    /// The offending value.
    pub primary: Label,
    /// Other places that explain the problem (a definition, the rest of a cycle).
    pub related: Vec<Label>,
    /// How to fix it, with "did you mean" where a known name is close.
    pub help: Option<String>,
}

impl Diag {
    /// An error labelled at `primary`.
    pub fn error(code: Code, message: impl Into<String>, primary: Label) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary,
            related: Vec::new(),
            help: None,
        }
    }

    /// A warning labelled at `primary`.
    pub fn warning(code: Code, message: impl Into<String>, primary: Label) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message, primary)
        }
    }

    /// Add a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Add a secondary label.
    #[must_use]
    pub fn with_related(mut self, label: Label) -> Self {
        self.related.push(label);
        self
    }
}

/// Sort problems by position, then code, so every output is stable.
pub fn sort(diags: &mut [Diag]) {
    diags.sort_by(|a, b| {
        (a.primary.span.start, a.code, a.severity, &a.message).cmp(&(
            b.primary.span.start,
            b.code,
            b.severity,
            &b.message,
        ))
    });
}

/// A config file as it was read: the name to show and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user gave it (relative where possible), used in every report.
    pub name: String,
    /// The whole text (lossily decoded when the file was not UTF-8, for display only).
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wrap `text` read from `name`.
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The byte offset where 0-based line `index` starts, if the text has that line.
    #[must_use]
    pub fn line_start(&self, index: usize) -> Option<usize> {
        self.line_starts.get(index).copied()
    }

    /// 1-based line and column (in characters) of a byte offset.
    #[must_use]
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count());
        (line_index + 1, column + 1)
    }
}

/// The problems found in one file, ready to render.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub source: SourceFile,
    /// Its problems, sorted.
    pub diags: Vec<Diag>,
}

/// Count errors and warnings.
#[must_use]
pub fn counts(diags: &[Diag]) -> (usize, usize) {
    let errors = diags
        .iter()
        .filter(|diag| diag.severity == Severity::Error)
        .count();
    (errors, diags.len() - errors)
}

/// "3 errors, 1 warning": English plurals for the summary line.
#[must_use]
pub fn summarize(diags: &[Diag]) -> String {
    let (errors, warnings) = counts(diags);
    let plural =
        |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems".to_owned(),
        (errors, 0) => plural(errors, "error"),
        (0, warnings) => plural(warnings, "warning"),
        (errors, warnings) => format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}
