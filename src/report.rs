//! `mlops report`: what a reviewer reads on a pull request. Per model, each metric's base and
//! new value with the difference and the gate rules that judge it; the verdict first; the
//! params that changed; the pipeline graph with the affected nodes outlined; and the diff of
//! every generated file the change touches, like a Terraform plan.
//!
//! Differences follow DVC's `metrics diff` (new minus old, nested keys flattened with `.`), and
//! print at the precision the numbers were written with.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::gate::{self, GateResult};
use crate::graph::Graph;
use crate::metrics::{self, Metric, Metrics};
use crate::spec::Config;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The first line: the verdict.
    pub verdict: String,
    /// Whether every gate passed.
    pub gates_passed: bool,
    /// One entry per training, in the order written.
    pub models: Vec<ModelReport>,
    /// Every gate's verdict.
    pub gates: Vec<GateResult>,
    /// Unified diffs of generated files the change touches (only with a git base).
    pub generated_diffs: Vec<FileDiff>,
    /// The pipeline graph in Mermaid, affected nodes outlined.
    pub mermaid: String,
}

/// One training's metrics and params, base against head.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    /// The training.
    pub training: String,
    /// Its metrics file.
    pub metrics_file: Option<String>,
    /// Whether anything differs from the base (a metric, a param, a new model).
    pub changed: bool,
    /// Whether the base has no metrics for it (a new model, or no base given).
    pub new: bool,
    /// Why the metrics could not be read, if they could not.
    pub problem: Option<String>,
    /// One row per metric, by name.
    pub metrics: Vec<MetricRow>,
    /// Params that differ, by name.
    pub params: Vec<ParamChange>,
}

/// One metric: `metric | base | PR | Δ | Δ% | gate`.
#[derive(Debug, Serialize)]
pub struct MetricRow {
    /// Its flattened name.
    pub metric: String,
    /// The base value (a number when it is one, exactly as written, else the text), or null.
    pub base: Option<Box<serde_json::value::RawValue>>,
    /// The new value, or null.
    pub head: Option<Box<serde_json::value::RawValue>>,
    /// New minus base, exactly (decimal arithmetic: `2e-20`, not `0.0`).
    pub diff: Option<Box<serde_json::value::RawValue>>,
    /// The difference as a percentage of |base| (2 decimals, or 2 significant digits when
    /// smaller); null when base is 0 or absent.
    pub diff_pct: Option<Box<serde_json::value::RawValue>>,
    /// The gate rules judging this metric, or null.
    pub gate: Option<GateCell>,
    #[serde(skip)]
    base_text: Option<String>,
    #[serde(skip)]
    head_text: Option<String>,
    #[serde(skip)]
    diff_text: Option<String>,
    #[serde(skip)]
    diff_pct_text: Option<String>,
}

/// The rules that judge one metric.
#[derive(Debug, Serialize)]
pub struct GateCell {
    /// Whether all of them passed.
    pub passed: bool,
    /// Each rule: gate, rule, pass/fail, sentence.
    pub rules: Vec<RuleCell>,
}

/// One rule in a metric's row.
#[derive(Debug, Serialize)]
pub struct RuleCell {
    /// The gate.
    pub gate: String,
    /// `max_drop: 0.01`.
    pub rule: String,
    /// Whether it passed.
    pub passed: bool,
    /// The sentence with the numbers.
    pub message: String,
}

/// A param whose value differs.
#[derive(Debug, Serialize)]
pub struct ParamChange {
    /// Flattened name.
    pub param: String,
    /// Base value as written, or null.
    pub base: Option<String>,
    /// New value as written, or null.
    pub head: Option<String>,
}

/// A generated file's diff.
#[derive(Debug, Serialize)]
pub struct FileDiff {
    /// Path relative to the config's folder.
    pub path: String,
    /// Unified diff.
    pub diff: String,
}

/// A metric for JSON: a number exactly as written when the text is a JSON number (`0.830`
/// stays `0.830`, `1e-400` stays `1e-400`), the exact decimal when it is a number written
/// otherwise (YAML's `.5`, `+1`, `0x1F`), else the text as a string.
fn json_value(metric: &Metric) -> Box<serde_json::value::RawValue> {
    match &metric.value {
        Some(number) => json_number(&metric.text).unwrap_or_else(|| raw_number(number)),
        None => raw_string(&metric.text),
    }
}

/// `text` as raw JSON when it is a JSON number.
fn json_number(text: &str) -> Option<Box<serde_json::value::RawValue>> {
    let is_number = serde_json::from_str::<&serde_json::value::RawValue>(text)
        .ok()
        .is_some_and(|raw| {
            raw.get()
                .starts_with(|c: char| c == '-' || c.is_ascii_digit())
        });
    is_number
        .then(|| serde_json::value::RawValue::from_string(text.to_owned()).ok())
        .flatten()
}

fn raw_number(number: &metrics::Decimal) -> Box<serde_json::value::RawValue> {
    // Decimal's text is always a JSON number.
    json_number(&number.to_string()).unwrap_or_else(|| raw_string(&number.to_string()))
}

fn raw_string(text: &str) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(text).unwrap_or_else(|_| {
        serde_json::value::RawValue::from_string("null".to_owned()).unwrap_or_default()
    })
}

/// Build the report for the config in `folder`.
///
/// # Errors
/// Git failures (a base that cannot be fetched).
pub fn build(
    config: &Config,
    graph: &Graph,
    folder: &Path,
    config_path: &str,
    header_path: &str,
    reader: &gate::BaseReader,
) -> Result<Report, String> {
    reader.verify()?;
    let gates = gate::run(config, folder, &[], reader)?;
    let mut models = Vec::new();
    for (name, training) in &config.training {
        let mut report = ModelReport {
            training: name.clone(),
            metrics_file: training.metrics.clone(),
            changed: false,
            new: false,
            problem: None,
            metrics: Vec::new(),
            params: Vec::new(),
        };
        if let Some(path) = &training.metrics {
            let head = match std::fs::read(folder.join(path)) {
                Ok(bytes) => {
                    metrics::parse(&bytes, metrics::Format::of(path)).unwrap_or_else(|problem| {
                        report.problem = Some(format!("`{path}` cannot be read: {problem}"));
                        Metrics::new()
                    })
                }
                Err(error) => {
                    report.problem = Some(format!("`{path}` cannot be read: {error}"));
                    Metrics::new()
                }
            };
            let (base_metrics, _) = gate::base_metrics(reader, path);
            report.new = base_metrics.is_none();
            let base_metrics = base_metrics.unwrap_or_default();
            let names: BTreeSet<&String> = head.keys().chain(base_metrics.keys()).collect();
            for metric in names {
                let row = metric_row(
                    metric,
                    base_metrics.get(metric),
                    head.get(metric),
                    name,
                    &gates,
                );
                report.changed |= row.base_text != row.head_text;
                report.metrics.push(row);
            }
        }
        if let Some(params) = &training.params {
            report.params = param_changes(folder, params, reader);
            report.changed |= !report.params.is_empty();
        }
        report.changed |= report.new;
        models.push(report);
    }
    let (generated_diffs, affected) = match reader {
        gate::BaseReader::Git(snapshot) => {
            let affected = crate::affected::since_snapshot(config, graph, config_path, snapshot)
                .map(|affected| {
                    affected
                        .nodes
                        .iter()
                        .filter(|node| node.runs)
                        .filter_map(|node| graph.find(node.kind, &node.name))
                        .collect()
                })
                .unwrap_or_default();
            (generated_diffs(folder, snapshot, header_path), affected)
        }
        _ => (Vec::new(), BTreeSet::new()),
    };
    let failed: Vec<&str> = gates
        .iter()
        .filter(|gate| !gate.passed)
        .map(|gate| gate.name.as_str())
        .collect();
    let verdict = if gates.is_empty() {
        "ℹ️ no gates are defined".to_owned()
    } else if failed.is_empty() && gates.len() == 1 {
        format!("✅ the gate passed: {}", gates[0].name)
    } else if failed.is_empty() {
        format!("✅ all {} gates passed", gates.len())
    } else {
        format!(
            "❌ {} of {} gates failed: {}",
            failed.len(),
            gates.len(),
            failed.join(", ")
        )
    };
    Ok(Report {
        verdict,
        gates_passed: failed.is_empty(),
        models,
        gates,
        generated_diffs,
        mermaid: graph.render_mermaid_highlighting(&affected),
    })
}

fn metric_row(
    metric: &str,
    base: Option<&Metric>,
    head: Option<&Metric>,
    training: &str,
    gates: &[GateResult],
) -> MetricRow {
    let base_number = base.and_then(|metric| metric.value.as_ref());
    let head_number = head.and_then(|metric| metric.value.as_ref());
    let diff = match (base_number, head_number) {
        (Some(old), Some(new)) => Some(new.minus(old)),
        _ => None,
    };
    let diff_pct = match (base_number, &diff) {
        (Some(old), Some(diff)) if !old.is_zero() => Some(gate::percent_text(diff, old)),
        _ => None,
    };
    let rules: Vec<RuleCell> = gates
        .iter()
        .filter(|result| result.training == training)
        .flat_map(|result| {
            result
                .rules
                .iter()
                .filter(|rule| rule.metric == metric)
                .map(|rule| RuleCell {
                    gate: result.name.clone(),
                    rule: rule.rule.clone(),
                    passed: rule.passed,
                    message: rule.message.clone(),
                })
        })
        .collect();
    MetricRow {
        metric: metric.to_owned(),
        base: base.map(json_value),
        head: head.map(json_value),
        diff: diff.as_ref().map(raw_number),
        diff_pct: diff_pct.as_deref().and_then(json_number),
        gate: (!rules.is_empty()).then(|| GateCell {
            passed: rules.iter().all(|rule| rule.passed),
            rules,
        }),
        base_text: base.map(|metric| metric.text.clone()),
        head_text: head.map(|metric| metric.text.clone()),
        diff_text: diff.map(|diff| diff.to_string()),
        diff_pct_text: diff_pct,
    }
}

fn param_changes(
    folder: &Path,
    params: &crate::spec::model::Params,
    base: &gate::BaseReader,
) -> Vec<ParamChange> {
    let path = params.file();
    let format = metrics::Format::of(path);
    let head = std::fs::read(folder.join(path))
        .ok()
        .and_then(|bytes| metrics::parse(&bytes, format).ok())
        .unwrap_or_default();
    let (base_params, _) = gate::base_metrics(base, path);
    let Some(base_params) = base_params else {
        return Vec::new();
    };
    let names: BTreeSet<&String> = head.keys().chain(base_params.keys()).collect();
    names
        .into_iter()
        .filter(|name| params.reads(name))
        .filter_map(|name| {
            let old = base_params.get(name).map(|metric| metric.text.clone());
            let new = head.get(name).map(|metric| metric.text.clone());
            (old != new).then(|| ParamChange {
                param: name.clone(),
                base: old,
                head: new,
            })
        })
        .collect()
}

/// Generated files (by their header) that differ between the snapshot and the working tree.
fn generated_diffs(
    folder: &Path,
    snapshot: &crate::git::Snapshot,
    config_path: &str,
) -> Vec<FileDiff> {
    let Ok(changed) = snapshot.changed_paths() else {
        return Vec::new();
    };
    changed
        .iter()
        .cloned()
        .filter_map(|path| {
            let old = snapshot
                .show(&path)
                .ok()
                .flatten()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            let new = std::fs::read_to_string(folder.join(&path)).ok();
            let generated = [&old, &new].iter().any(|text| {
                text.as_deref()
                    .is_some_and(|text| crate::outputs::is_generated_from(text, config_path))
            });
            if !generated {
                return None;
            }
            let diff = similar::TextDiff::from_lines(
                old.as_deref().unwrap_or(""),
                new.as_deref().unwrap_or(""),
            )
            .unified_diff()
            .context_radius(3)
            .header(
                &old.as_ref()
                    .map_or_else(|| "/dev/null".to_owned(), |_| format!("a/{path}")),
                &new.as_ref()
                    .map_or_else(|| "/dev/null".to_owned(), |_| format!("b/{path}")),
            )
            .to_string();
            Some(FileDiff { path, diff })
        })
        .collect()
}

/// Text for a Markdown table cell: no `|` that would end the cell, no HTML a file could
/// smuggle into a pull-request comment, no line breaks. The text comes from the pull request's
/// own files (a fork's too), and the comment is posted with a write token, so nothing in it may
/// act: an `@name` would notify that person or team, `![](url)` would make every reader's
/// browser load the URL, `#123` would put a back-link on that issue. A zero-width space after
/// `@` and `#` (as Renovate writes mentions) and escaped brackets keep the text as it reads.
#[must_use]
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '[' => out.push_str("\\["),
            ']' => out.push_str("\\]"),
            '\n' | '\r' => out.push(' '),
            '@' => out.push_str("@&#8203;"),
            '#' if characters.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("#&#8203;");
            }
            other => out.push(other),
        }
    }
    out
}

/// Inline code that a backtick in `text` cannot close early.
fn code(text: &str) -> String {
    format!("<code>{}</code>", cell(text))
}

fn signed(text: &str) -> String {
    if text.starts_with('-') || text == "0" {
        text.to_owned()
    } else {
        format!("+{text}")
    }
}

impl Report {
    /// The report as Markdown (GitHub-flavoured: tables, `<details>`, Mermaid).
    #[must_use]
    pub fn markdown(&self) -> String {
        self.markdown_with(true)
    }

    /// The report without the diffs of generated files (for a comment that must be shorter).
    #[must_use]
    pub fn markdown_without_diffs(&self) -> String {
        self.markdown_with(false)
    }

    fn markdown_with(&self, diffs: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.verdict);
        let changed = self.models.iter().filter(|model| model.changed).count();
        let failed = self.gates.iter().filter(|gate| !gate.passed).count();
        let _ = writeln!(
            out,
            "{} changed, {} failed.\n",
            plural(changed, "model", "models"),
            plural(failed, "gate", "gates")
        );
        for model in &self.models {
            let file = model
                .metrics_file
                .as_deref()
                .map(|file| format!(" ({})", code(file)))
                .unwrap_or_default();
            let status = if model.new {
                " · new"
            } else if model.changed {
                ""
            } else {
                " · unchanged"
            };
            let _ = writeln!(out, "#### {}{file}{status}\n", cell(&model.training));
            if let Some(problem) = &model.problem {
                let _ = writeln!(out, "⚠️ {}\n", cell(problem));
            }
            if !model.metrics.is_empty() {
                out.push_str(
                    "| metric | base | PR | Δ | Δ% | gate |\n|---|---:|---:|---:|---:|---|\n",
                );
                for row in &model.metrics {
                    let diff = row
                        .diff_text
                        .as_deref()
                        .map_or_else(|| "—".to_owned(), signed);
                    let pct = row
                        .diff_pct_text
                        .as_deref()
                        .map_or_else(|| "—".to_owned(), |pct| format!("{}%", signed(pct)));
                    let gate_cell = row.gate.as_ref().map_or_else(String::new, |gate| {
                        gate.rules
                            .iter()
                            .map(|rule| {
                                format!(
                                    "{} {}",
                                    if rule.passed { "✅" } else { "❌" },
                                    cell(&rule.rule)
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(" · ")
                    });
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {diff} | {pct} | {gate_cell} |",
                        cell(&row.metric),
                        row.base_text
                            .as_deref()
                            .map_or_else(|| "—".to_owned(), cell),
                        row.head_text
                            .as_deref()
                            .map_or_else(|| "—".to_owned(), cell),
                    );
                }
                out.push('\n');
                for rule in model
                    .metrics
                    .iter()
                    .filter_map(|row| row.gate.as_ref())
                    .flat_map(|gate| &gate.rules)
                    .filter(|rule| !rule.passed)
                {
                    let _ = writeln!(out, "- ❌ {}", cell(&rule.message));
                }
                if model
                    .metrics
                    .iter()
                    .any(|row| row.gate.as_ref().is_some_and(|gate| !gate.passed))
                {
                    out.push('\n');
                }
            }
            if !model.params.is_empty() {
                out.push_str("Params changed:\n\n| param | base | PR |\n|---|---|---|\n");
                for param in &model.params {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} |",
                        cell(&param.param),
                        param.base.as_deref().map_or_else(|| "—".to_owned(), cell),
                        param.head.as_deref().map_or_else(|| "—".to_owned(), cell)
                    );
                }
                out.push('\n');
            }
        }
        out.push_str("<details><summary>Pipeline graph (nodes this change runs are outlined in red)</summary>\n\n```mermaid\n");
        out.push_str(&self.mermaid);
        out.push_str("```\n\n</details>\n");
        if diffs && !self.generated_diffs.is_empty() {
            let _ = writeln!(
                out,
                "\n<details><summary>Generated files this change alters ({})</summary>\n",
                self.generated_diffs.len()
            );
            for file in &self.generated_diffs {
                // A fence longer than any backtick run inside cannot be closed by the diff.
                let longest = longest_backtick_run(&file.diff);
                let fence = "`".repeat(longest.max(2) + 1);
                let _ = writeln!(
                    out,
                    "{}\n\n{fence}diff\n{}{fence}\n",
                    code(&file.path),
                    file.diff
                );
            }
            out.push_str("</details>\n");
        }
        out
    }
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::{cell, longest_backtick_run};

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(cell("a|b<script>&\n"), "a\\|b&lt;script&gt;&amp; ");
    }

    #[test]
    fn cells_cannot_mention_load_images_or_link_issues() {
        assert_eq!(cell("@acme/ml-leads"), "@&#8203;acme/ml-leads");
        assert_eq!(
            cell("![x](https://evil.example/p.png)"),
            "!\\[x\\](https://evil.example/p.png)"
        );
        assert_eq!(cell("see #12 or #x"), "see #&#8203;12 or #x");
        assert_eq!(
            cell("auc_v2 0.830"),
            "auc_v2 0.830",
            "ordinary text is kept"
        );
        assert_eq!(longest_backtick_run("a ``` b `` c"), 3);
    }
}
