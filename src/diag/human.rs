//! The terminal report: miette's graphical renderer over our [`Diag`] values.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, SourceCode, SourceSpan, SpanContents,
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
    let named = IndexedSource(source);
    let mut out = String::new();
    // Per (code, severity): how many were shown in full. Past `SHOWN_PER_WARNING` warnings of
    // one code, the rest are counted into one line: 3,000 copies of one warning bury the
    // errors. Errors are always shown.
    let mut shown: std::collections::HashMap<crate::codes::Code, usize> =
        std::collections::HashMap::new();
    let mut folded: Vec<(crate::codes::Code, usize)> = Vec::new();
    for diag in diags {
        if diag.severity == Severity::Warning {
            let count = shown.entry(diag.code).or_default();
            *count += 1;
            if *count > SHOWN_PER_WARNING {
                match folded.iter_mut().find(|(code, _)| *code == diag.code) {
                    Some((_, more)) => *more += 1,
                    None => folded.push((diag.code, 1)),
                }
                continue;
            }
        }
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
    for (code, more) in folded {
        out.push_str(&format!(
            "... and {more} more `{code}` warning{} like these (`--format json` lists every one)\n\n",
            if more == 1 { "" } else { "s" }
        ));
    }
    if !diags.is_empty() {
        out.push_str(&format!("{}: {}\n", source.name, summarize(diags)));
    }
    out
}

/// Warnings of one code shown in full before the rest are counted.
const SHOWN_PER_WARNING: usize = 20;

/// The file as miette reads it, through our line index. miette's own `SourceCode` for a
/// string scans from the first byte to every label, which made a report quadratic in the
/// number of diagnostics (3,000 warnings on a 1,000-model file: 4.5 s). This hands miette only
/// the lines around the label, found by binary search, and shifts its answer back, so the
/// output is the same byte for byte.
struct IndexedSource<'a>(&'a SourceFile);

impl SourceCode for IndexedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let file = self.0;
        let text = file.text.as_str();
        let start = span.offset();
        let end = start + span.len();
        if end > text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let (first_line, _) = file.line_column(start);
        let (last_line, _) = file.line_column(end);
        // One line of margin each side beyond what miette asks for, so that its scan finds
        // the same line ends it would in the whole text.
        let window_first = (first_line - 1).saturating_sub(context_lines_before + 1);
        let window_last = last_line + context_lines_after + 1;
        let window_start = file.line_start(window_first);
        let window_end = file.line_start(window_last).unwrap_or(text.len());
        let window_start = window_start.unwrap_or(0);
        let window = &text.as_bytes()[window_start..window_end];
        let inner = window.read_span(
            &SourceSpan::new((start - window_start).into(), span.len()),
            context_lines_before,
            context_lines_after,
        )?;
        Ok(Box::new(
            MietteSpanContents::new_named(
                file.name.clone(),
                inner.data(),
                SourceSpan::new(
                    (inner.span().offset() + window_start).into(),
                    inner.span().len(),
                ),
                inner.line() + window_first,
                inner.column(),
                inner.line_count() + window_first,
            )
            .with_language("yaml"),
        ))
    }
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
    source: &'a IndexedSource<'a>,
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

#[cfg(test)]
mod tests {
    use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};

    use super::{IndexedSource, SHOWN_PER_WARNING, render_human};
    use crate::codes::Code;
    use crate::diag::{Diag, Label, SourceFile};

    /// Our line-indexed source must give miette exactly what its own source does.
    #[test]
    fn the_indexed_source_renders_as_miette_own_source() {
        let mut text = String::new();
        for line in 0..300 {
            text.push_str(&format!("key{line}: value {line}\n"));
        }
        text.push_str("last: no newline at the end");
        let crlf = text.replace('\n', "\r\n");
        for text in [text, crlf] {
            let file = SourceFile::new("f.yaml", text.clone());
            let named = NamedSource::new("f.yaml", text.clone()).with_language("yaml");
            let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
                .with_width(100)
                .with_links(false);
            let mut spans = vec![
                0..3,
                0..0,
                text.len() - 4..text.len(),
                text.len()..text.len(),
            ];
            for line in [1, 2, 150, 298, 299] {
                let start = text.match_indices("key").nth(line).unwrap().0;
                spans.push(start..start + 5);
                spans.push(start..start + 40); // across a line end
            }
            for span in spans {
                let diag = Diag::error(Code::InvalidValue, "x", Label::new(span.clone(), "here"))
                    .with_related(Label::new(0..3, "first"));
                let render = |source: &dyn miette::SourceCode| {
                    let mut out = String::new();
                    let report = ReportOn {
                        diag: &diag,
                        source,
                    };
                    handler.render_report(&mut out, &report).unwrap();
                    out
                };
                let indexed = IndexedSource(&file);
                assert_eq!(render(&indexed), render(&named), "span {span:?}");
            }
        }
    }

    /// The same diagnostic over any `SourceCode`, for the comparison above.
    struct ReportOn<'a> {
        diag: &'a Diag,
        source: &'a dyn miette::SourceCode,
    }

    impl std::fmt::Debug for ReportOn<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("report")
        }
    }
    impl std::fmt::Display for ReportOn<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.diag.message)
        }
    }
    impl std::error::Error for ReportOn<'_> {}
    impl miette::Diagnostic for ReportOn<'_> {
        fn source_code(&self) -> Option<&dyn miette::SourceCode> {
            Some(self.source)
        }
        fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
            let labels = std::iter::once(&self.diag.primary)
                .chain(&self.diag.related)
                .map(|label| {
                    miette::LabeledSpan::new_with_span(Some(label.text.clone()), label.span.clone())
                });
            Some(Box::new(labels))
        }
    }

    #[test]
    fn many_warnings_of_one_code_are_counted_not_repeated() {
        let text = "a: 1\n".repeat(100);
        let file = SourceFile::new("f.yaml", text);
        let mut diags: Vec<Diag> = (0..100)
            .map(|line| {
                Diag::warning(
                    Code::MissingFile,
                    "missing",
                    Label::new(line * 5..line * 5 + 1, "x"),
                )
            })
            .collect();
        diags.push(Diag::error(
            Code::InvalidValue,
            "bad",
            Label::new(0..1, "y"),
        ));
        let out = render_human(&file, &diags, false);
        assert_eq!(
            out.matches("mlops::missing-file").count(),
            SHOWN_PER_WARNING
        );
        assert!(out.contains(&format!(
            "... and {} more `missing-file` warnings like these (`--format json` lists every one)",
            100 - SHOWN_PER_WARNING
        )));
        assert_eq!(
            out.matches("mlops::invalid-value").count(),
            1,
            "errors are all shown"
        );
        assert!(out.ends_with("f.yaml: 1 error, 100 warnings\n"), "{out}");
    }
}
