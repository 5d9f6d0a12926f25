//! The terminal report: miette's graphical renderer over our [`Diag`] values.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode,
};

use super::{Diag, Severity, SourceFile, summarize};

/// Render every problem, then a one-line summary. `color` picks ANSI colours; without it the
/// output is plain Unicode, readable in CI logs and stable for snapshots.
#[must_use]
pub fn render_human(source: &SourceFile, diags: &[Diag], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let named = NamedSource::new(&source.name, source.text.clone()).with_language("yaml");
    let mut out = String::new();
    for diag in diags {
        let location = if shows_snippet(source, diag) {
            None
        } else {
            let (line, column) = source.line_column(diag.primary.span.start);
            Some(format!("{}:{line}:{column}", source.name))
        };
        let report = Report {
            diag,
            source: &named,
            location,
        };
        // Writing into a String cannot fail; a miette formatting error would be our bug.
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", diag.code, diag.message));
        }
        out.push('\n');
    }
    if !diags.is_empty() {
        out.push_str(&format!("{}: {}\n", source.name, summarize(diags)));
    }
    out
}

/// Labels further right than this are reported by position, without the source line: such a
/// line is unreadable in a terminal, and miette pads to the label's column with a format width,
/// which panics past 65,535.
const MAX_SNIPPET_COLUMN: usize = 4096;

fn shows_snippet(source: &SourceFile, diag: &Diag) -> bool {
    std::iter::once(&diag.primary)
        .chain(&diag.related)
        .flat_map(|label| [label.span.start, label.span.end])
        .all(|offset| source.line_column(offset).1 <= MAX_SNIPPET_COLUMN)
}

struct Report<'a> {
    diag: &'a Diag,
    source: &'a NamedSource<String>,
    /// `file:line:column`, when the source line is too long to show.
    location: Option<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, formatter)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.diag.message)?;
        match &self.location {
            Some(location) => write!(
                formatter,
                "\n  at {location} (the line is too long to show)"
            ),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Report<'_> {}

impl Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("mlops::{}", self.diag.code)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self.location {
            None => Some(self.source),
            Some(_) => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.location.is_some() {
            return None;
        }
        let primary = &self.diag.primary;
        let first =
            LabeledSpan::new_primary_with_span(Some(primary.text.clone()), primary.span.clone());
        let rest =
            self.diag.related.iter().map(|label| {
                LabeledSpan::new_with_span(Some(label.text.clone()), label.span.clone())
            });
        Some(Box::new(std::iter::once(first).chain(rest)))
    }
}
