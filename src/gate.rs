//! Gate verdicts: each rule of a gate judged against the new metrics and, for the no-regression
//! rules, a baseline.
//!
//! Soundness first: a rule passes only when it has every number it needs and the numbers
//! satisfy it. A missing metric, a value that is not a finite number, or a missing baseline for
//! a relative rule fails the rule with the reason; nothing passes by default.

use serde::Serialize;

use crate::metrics::{Decimal, Metric, Metrics};
use crate::spec::model::GateRule;

/// How a rule fared.
#[derive(Debug, Clone, Serialize)]
pub struct RuleVerdict {
    /// The metric it judges.
    pub metric: String,
    /// The rule as written: `max_drop: 0.01`.
    pub rule: String,
    /// Whether it passed.
    pub passed: bool,
    /// The new value, as written, when there is one.
    pub head: Option<String>,
    /// The baseline value, as written, when the rule uses one and there is one.
    pub base: Option<String>,
    /// One sentence with the numbers: why it passed or failed.
    pub message: String,
}

/// Judge every rule of a gate. `baseline_name` says where the baseline came from, for messages
/// (`the base branch`, `production`).
#[must_use]
pub fn evaluate(
    gate: &str,
    rules: &[GateRule],
    head: &Metrics,
    base: Option<&Metrics>,
    baseline_name: &str,
) -> Vec<RuleVerdict> {
    rules
        .iter()
        .flat_map(|rule| {
            rule.thresholds()
                .into_iter()
                .map(move |(field, limit, _)| (rule, field, limit))
        })
        .map(|(rule, field, limit)| {
            judge(gate, &rule.metric, field, limit, head, base, baseline_name)
        })
        .collect()
}

fn judge(
    gate: &str,
    metric: &str,
    field: &str,
    limit: f64,
    head: &Metrics,
    base: Option<&Metrics>,
    baseline_name: &str,
) -> RuleVerdict {
    // The threshold as written in the config (a float holds the 15 significant digits a
    // threshold is written with; the schema admits only finite numbers).
    let limit = Decimal::from_f64(limit).unwrap_or_else(|| Decimal::from_integer(0));
    let limit_text = limit.to_string();
    let mut verdict = RuleVerdict {
        metric: metric.to_owned(),
        rule: format!("{field}: {limit_text}"),
        passed: false,
        head: head.get(metric).map(|value| value.text.clone()),
        base: None,
        message: String::new(),
    };
    let now = match number(head.get(metric)) {
        Ok(now) => now,
        Err(problem) => {
            verdict.message =
                format!("{metric} {problem} in the new metrics; {gate} cannot pass without it");
            return verdict;
        }
    };
    let relative = !matches!(field, "min" | "max");
    let then = if relative {
        verdict.base = base
            .and_then(|base| base.get(metric))
            .map(|value| value.text.clone());
        match number(base.and_then(|base| base.get(metric))) {
            Ok(then) => Some(then),
            Err(problem) => {
                let problem = if base.is_none() {
                    format!("has no baseline ({baseline_name})")
                } else {
                    format!("{problem} in the baseline ({baseline_name})")
                };
                verdict.message =
                    format!("{metric} {problem}; `{field}` needs one, so {gate} fails");
                return verdict;
            }
        }
    } else {
        None
    };
    let now_text = verdict.head.clone().unwrap_or_default();
    let then_text = verdict.base.clone().unwrap_or_default();
    // Every comparison below is exact: a value at the threshold passes, any value past it
    // (by however little) fails.
    let (passed, message) = match (field, then) {
        ("min", _) => (
            now >= limit,
            format!("{metric} is {now_text}; {gate} requires at least {limit_text}"),
        ),
        ("max", _) => (
            now <= limit,
            format!("{metric} is {now_text}; {gate} allows at most {limit_text}"),
        ),
        ("max_drop", Some(then)) => {
            let drop = then.minus(&now);
            let change = describe_change(metric, &drop, "fell", "rose", &then_text, &now_text);
            (
                drop <= limit,
                format!("{change}; {gate} allows a drop of at most {limit_text}"),
            )
        }
        ("max_rise", Some(then)) => {
            let rise = now.minus(&then);
            let change = describe_change(metric, &rise, "rose", "fell", &then_text, &now_text);
            (
                rise <= limit,
                format!("{change}; {gate} allows a rise of at most {limit_text}"),
            )
        }
        ("max_drop_pct", Some(then)) => relative_rule(
            metric,
            gate,
            &then.minus(&now),
            &then,
            &limit,
            ["fell", "rose", "drop"],
            &then_text,
            &now_text,
        ),
        ("max_rise_pct", Some(then)) => relative_rule(
            metric,
            gate,
            &now.minus(&then),
            &then,
            &limit,
            ["rose", "fell", "rise"],
            &then_text,
            &now_text,
        ),
        _ => (false, format!("unknown rule `{field}`")),
    };
    verdict.passed = passed;
    verdict.message = message;
    verdict
}

/// A `_pct` rule: `worsening` (then - now for a drop, now - then for a rise) as a percentage
/// of `|then|`, at most `limit`. `[worse, better, noun]` word the sentence.
#[allow(clippy::too_many_arguments)]
fn relative_rule(
    metric: &str,
    gate: &str,
    worsening: &Decimal,
    then: &Decimal,
    limit: &Decimal,
    [worse, better, noun]: [&str; 3],
    then_text: &str,
    now_text: &str,
) -> (bool, String) {
    if worsening.is_zero() || worsening.is_negative() {
        let change = if worsening.is_zero() {
            format!("{metric} is unchanged at {now_text}")
        } else {
            format!("{metric} {better} from {then_text} to {now_text}")
        };
        return (
            true,
            format!("{change}; {gate} allows a {noun} of at most {limit}%"),
        );
    }
    if then.is_zero() {
        // Any worsening from 0 is an infinite percentage.
        return (
            false,
            format!(
                "{metric} {worse} from {then_text} to {now_text}: a {noun} from 0 is not a percentage, and {gate} allows at most {limit}%"
            ),
        );
    }
    // worsening / |then| * 100 <= limit, multiplied out so that nothing is divided or rounded.
    let passed = worsening.times(&Decimal::from_integer(100)) <= limit.times(&then.abs());
    (
        passed,
        format!(
            "{metric} {worse} {}% from {then_text} to {now_text}; {gate} allows a {noun} of at most {limit}%",
            percent_text(worsening, then)
        ),
    )
}

fn describe_change(
    metric: &str,
    worsening: &Decimal,
    worse: &str,
    better: &str,
    then_text: &str,
    now_text: &str,
) -> String {
    let size = worsening.abs();
    if worsening.is_zero() {
        format!("{metric} is unchanged at {now_text}")
    } else if worsening.is_negative() {
        format!("{metric} {better} {size} from {then_text} to {now_text}")
    } else {
        format!("{metric} {worse} {size} from {then_text} to {now_text}")
    }
}

/// The finite number in `metric`, or what is wrong with it.
fn number(metric: Option<&Metric>) -> Result<Decimal, String> {
    match metric {
        None => Err("is missing".to_owned()),
        Some(Metric {
            value: Some(value), ..
        }) => Ok(value.clone()),
        Some(Metric { text, .. }) => Err(format!("is `{text}`, not a finite number")),
    }
}

/// `change` as a percentage of `|base|`, for people: two decimals (`1.25`), or two
/// significant digits when two decimals would show a change as `0` (`0.00012`).
#[must_use]
pub fn percent_text(change: &Decimal, base: &Decimal) -> String {
    let Some(rounded) = change.percent_of(&base.abs(), 2) else {
        return "∞".to_owned();
    };
    if !rounded.is_zero() || change.is_zero() {
        return rounded.to_string();
    }
    change
        .percent_of(&base.abs(), super::metrics::decimal::MAX_EXPONENT * 3)
        .map_or_else(String::new, |exact| exact.significant(2).to_string())
}

/// Where the baseline metrics of `baseline: base` come from.
#[derive(Debug, Clone)]
pub enum BaseSource {
    /// A git revision: `git show REV:path`.
    Revision(String),
    /// A folder holding the base metrics at the same relative paths (CI artifacts).
    Dir(std::path::PathBuf),
    /// None given.
    Nothing,
}

/// An opened baseline: one git snapshot (one `git cat-file` process for every file), a folder,
/// or nothing.
pub enum BaseReader {
    /// Files at a git revision.
    Git(Box<crate::git::Snapshot>),
    /// A folder of base files at the same relative paths.
    Dir(std::path::PathBuf),
    /// No baseline, and why.
    Nothing(String),
}

impl BaseReader {
    /// Open `source` for the config in `folder`.
    ///
    /// # Errors
    /// A revision that is not in the clone and cannot be fetched.
    pub fn open(folder: &std::path::Path, source: &BaseSource) -> Result<BaseReader, String> {
        let reader = BaseReader::start(folder, source);
        reader.verify()?;
        Ok(reader)
    }

    /// Start opening `source` (git processes begin work now) without waiting; call
    /// [`BaseReader::verify`] before use.
    #[must_use]
    pub fn start(folder: &std::path::Path, source: &BaseSource) -> BaseReader {
        match source {
            BaseSource::Nothing => {
                BaseReader::Nothing("missing: pass --base REV or --base-dir DIR".to_owned())
            }
            BaseSource::Revision(revision) if crate::git::is_null_revision(revision) => {
                BaseReader::Nothing("missing: a new branch has no base revision".to_owned())
            }
            BaseSource::Revision(revision) => {
                BaseReader::Git(Box::new(crate::git::Snapshot::start(folder, revision)))
            }
            BaseSource::Dir(dir) => BaseReader::Dir(dir.clone()),
        }
    }

    /// What the baseline is, as a value that changes when it does: the commit of a git
    /// revision, `nothing` for none; `None` for a folder, whose files may change at any time.
    #[must_use]
    pub fn identity(&self) -> Option<String> {
        match self {
            BaseReader::Git(snapshot) => crate::git::quiet_output(
                snapshot.root(),
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{}^{{commit}}", snapshot.revision()),
                ],
            )
            .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
            .filter(|commit| !commit.is_empty()),
            BaseReader::Nothing(_) => Some("nothing".to_owned()),
            BaseReader::Dir(_) => None,
        }
    }

    /// Read `paths` ahead, at once (a git baseline; the others read files directly). A
    /// failure here is met again, and reported, when the file is read.
    pub fn prefetch(&self, paths: &[String]) {
        if let BaseReader::Git(snapshot) = self {
            let _ = snapshot.prefetch(paths);
        }
    }

    /// Start listing what changed since a git baseline (the report needs it; a gate does not).
    pub fn prefetch_changes(&self) {
        if let BaseReader::Git(snapshot) = self {
            snapshot.prefetch_changes();
        }
    }

    /// Wait until the baseline is known to exist (a git revision may need a one-commit fetch).
    ///
    /// # Errors
    /// The revision cannot be found or fetched.
    pub fn verify(&self) -> Result<(), String> {
        match self {
            BaseReader::Git(snapshot) => snapshot.verify(),
            BaseReader::Dir(_) | BaseReader::Nothing(_) => Ok(()),
        }
    }

    /// The base version of `path` (relative to the config's folder) and where it came from in
    /// words; `None` when there is none.
    #[must_use]
    pub fn read(&self, path: &str) -> (Option<Vec<u8>>, String) {
        match self {
            BaseReader::Nothing(why) => (None, why.clone()),
            BaseReader::Git(snapshot) => (
                snapshot.show(path).ok().flatten(),
                format!("`{path}` at {}", short_revision(snapshot.revision())),
            ),
            BaseReader::Dir(dir) => (
                std::fs::read(dir.join(path)).ok(),
                format!("`{}`", dir.join(path).display()),
            ),
        }
    }
}

/// One gate's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    /// The gate.
    pub name: String,
    /// The training it judges.
    pub training: String,
    /// Where its baseline came from, in words.
    pub baseline: String,
    /// Whether every rule passed.
    pub passed: bool,
    /// Each rule.
    pub rules: Vec<RuleVerdict>,
}

/// Evaluate the gates named in `only` (all when empty) of a config whose folder is `folder`.
///
/// # Errors
/// An unknown gate name, or a git failure while fetching the baseline.
pub fn run(
    config: &crate::spec::Config,
    folder: &std::path::Path,
    only: &[String],
    base: &BaseReader,
) -> Result<Vec<GateResult>, String> {
    for name in only {
        if !config.gates.contains_key(name) {
            let hint = crate::suggest::did_you_mean(name, config.gates.keys().map(String::as_str))
                .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
            return Err(format!("no gate named `{name}`{hint}"));
        }
    }
    // Every base file in one exchange with git, not one round trip each.
    let base_paths: Vec<String> = config
        .gates
        .iter()
        .filter(|(name, gate)| {
            (only.is_empty() || only.contains(name))
                && gate.baseline == crate::spec::model::Baseline::Base
        })
        .filter_map(|(_, gate)| config.training.get(&gate.training)?.metrics.clone())
        .collect();
    base.prefetch(&base_paths);
    let mut results = Vec::new();
    for (name, gate) in &config.gates {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let metrics_path = config
            .training
            .get(&gate.training)
            .and_then(|training| training.metrics.clone());
        let (head, head_problem) = match &metrics_path {
            None => (
                Metrics::new(),
                Some(format!(
                    "training `{}` declares no `metrics` file",
                    gate.training
                )),
            ),
            Some(path) => match std::fs::read(folder.join(path)) {
                Ok(bytes) => {
                    match crate::metrics::parse(&bytes, crate::metrics::Format::of(path)) {
                        Ok(metrics) => (metrics, None),
                        Err(problem) => (
                            Metrics::new(),
                            Some(format!("`{path}` cannot be read: {problem}")),
                        ),
                    }
                }
                Err(error) => (
                    Metrics::new(),
                    Some(format!("`{path}` cannot be read: {error}")),
                ),
            },
        };
        let (base_metrics, baseline) = match (gate.baseline, &metrics_path) {
            (crate::spec::model::Baseline::Production, _) => {
                production_metrics(config, folder, &gate.training)
            }
            (crate::spec::model::Baseline::Base, None) => (None, "the base revision".to_owned()),
            (crate::spec::model::Baseline::Base, Some(path)) => base_metrics(base, path),
        };
        let mut rules = evaluate(name, &gate.rules, &head, base_metrics.as_ref(), &baseline);
        if let Some(problem) = head_problem {
            for rule in &mut rules {
                rule.passed = false;
                rule.message = format!("{problem}; {name} cannot pass without it");
            }
        }
        results.push(GateResult {
            name: name.clone(),
            training: gate.training.clone(),
            baseline,
            passed: rules.iter().all(|rule| rule.passed),
            rules,
        });
    }
    Ok(results)
}

/// The metrics recorded by the last promotion of `training` to its last environment in
/// promotion order (production), and where they came from in words.
fn production_metrics(
    config: &crate::spec::Config,
    folder: &std::path::Path,
    training: &str,
) -> (Option<Metrics>, String) {
    let last = config.environments.keys().rev().find_map(|environment| {
        config.deployments.iter().find(|(_, deployment)| {
            deployment.model == training && deployment.environment == *environment
        })
    });
    let Some((name, deployment)) = last else {
        return (
            None,
            format!("production: no deployment ships `{training}`"),
        );
    };
    let branch = crate::publish::release_branch(config, &deployment.environment);
    let record = crate::release::path(&deployment.environment, name);
    let relative = format!("{record} on `{branch}`");
    let Some(bytes) = read_released(folder, &branch, &record) else {
        return (
            None,
            format!("production: `{name}` has no release yet ({relative})"),
        );
    };
    match serde_json::from_slice::<crate::release::Release>(&bytes) {
        Ok(release) if !release.metrics.is_empty() => {
            let metrics = release
                .metrics
                .iter()
                .map(|(metric, value)| {
                    let text = match value {
                        serde_json::Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (metric.clone(), Metric::from_text(&text))
                })
                .collect();
            (Some(metrics), format!("production: the release {relative}"))
        }
        Ok(_) => (None, format!("production: {relative} records no metrics")),
        Err(error) => (
            None,
            format!("production: {relative} cannot be read: {error}"),
        ),
    }
}

/// The release record at `record` (relative to the config's `folder`) on `branch`, as this
/// clone knows the branch (CI checks out with every branch).
fn read_released(folder: &std::path::Path, branch: &str, record: &str) -> Option<Vec<u8>> {
    let root = crate::git::toplevel(folder)?;
    let inside = folder
        .canonicalize()
        .ok()?
        .strip_prefix(root.canonicalize().ok()?)
        .ok()?
        .to_string_lossy()
        .replace('\\', "/");
    let branches = crate::publish::Branches {
        root: &root,
        remote: "origin",
    };
    let tip = branches.tip(branch)?;
    branches
        .read(&tip, &crate::emit::rebase(&inside, record))
        .ok()
        .flatten()
        .map(String::into_bytes)
}

/// The baseline metrics at `path`, and where they came from in words.
#[must_use]
pub fn base_metrics(base: &BaseReader, path: &str) -> (Option<Metrics>, String) {
    let format = crate::metrics::Format::of(path);
    let (bytes, described) = base.read(path);
    if matches!(base, BaseReader::Nothing(_)) {
        return (None, described);
    }
    match bytes.map(|bytes| crate::metrics::parse(&bytes, format)) {
        Some(Ok(metrics)) => (Some(metrics), described),
        Some(Err(problem)) => (
            None,
            format!("{described}, which cannot be read: {problem}"),
        ),
        None => (None, format!("{described}, which does not exist")),
    }
}

fn short_revision(revision: &str) -> &str {
    if revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()) {
        &revision[..12]
    } else {
        revision
    }
}

/// The verdicts as a `JUnit` XML report: a test suite per gate, a test case per rule
/// (`auc min: 0.8`), a failing rule a `<failure>` with its sentence. GitLab shows it in the
/// merge request's test summary (`artifacts:reports:junit`) on every tier.
#[must_use]
pub fn render_junit(results: &[GateResult]) -> String {
    let tests: usize = results.iter().map(|result| result.rules.len()).sum();
    let failures: usize = results
        .iter()
        .map(|result| result.rules.iter().filter(|rule| !rule.passed).count())
        .sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mlops gates\" tests=\"{tests}\" failures=\"{failures}\">\n"
    );
    for result in results {
        let failed = result.rules.iter().filter(|rule| !rule.passed).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">\n",
            xml_text(&result.name),
            result.rules.len()
        ));
        out.push_str(&format!(
            "    <properties>\n      <property name=\"training\" value=\"{}\"/>\n      <property name=\"baseline\" value=\"{}\"/>\n    </properties>\n",
            xml_text(&result.training),
            xml_text(&result.baseline)
        ));
        for rule in &result.rules {
            let name = xml_text(&format!("{} {}", rule.metric, rule.rule));
            let classname = xml_text(&result.name);
            if rule.passed {
                out.push_str(&format!(
                    "    <testcase classname=\"{classname}\" name=\"{name}\">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    xml_text(&rule.message)
                ));
            } else {
                out.push_str(&format!(
                    "    <testcase classname=\"{classname}\" name=\"{name}\">\n      <failure message=\"{}\" type=\"gate\">{}</failure>\n    </testcase>\n",
                    xml_text(&rule.message),
                    xml_text(&rule.message)
                ));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `text` as XML character data or an attribute value: markup escaped, and the characters
/// XML 1.0 cannot hold at all (control characters but tab, newline and carriage return)
/// replaced by U+FFFD, since a metric name comes from any file.
fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The verdicts for people: one line per gate, then one per rule.
#[must_use]
pub fn render_text(results: &[GateResult]) -> String {
    let mut out = String::new();
    for result in results {
        let failed = result.rules.iter().filter(|rule| !rule.passed).count();
        if result.passed {
            out.push_str(&format!(
                "✅ {}: all {} rules pass (baseline: {})\n",
                result.name,
                result.rules.len(),
                result.baseline
            ));
        } else {
            out.push_str(&format!(
                "❌ {}: {failed} of {} rules fail (baseline: {})\n",
                result.name,
                result.rules.len(),
                result.baseline
            ));
        }
        for rule in &result.rules {
            let mark = if rule.passed { "✅" } else { "❌" };
            out.push_str(&format!(
                "  {mark} {} {} — {}\n",
                rule.metric, rule.rule, rule.message
            ));
        }
    }
    if results.is_empty() {
        out.push_str("no gates to evaluate\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{GateResult, RuleVerdict, evaluate, render_junit, xml_text};
    use crate::metrics::{Metric, Metrics};
    use crate::spec::model::GateRule;

    fn metrics(pairs: &[(&str, &str)]) -> Metrics {
        pairs
            .iter()
            .map(|(name, text)| ((*name).to_owned(), Metric::from_text(text)))
            .collect()
    }

    fn rule(field: &str, limit: f64) -> GateRule {
        let mut rule = GateRule {
            metric: "m".to_owned(),
            min: None,
            max: None,
            max_drop: None,
            max_drop_pct: None,
            max_rise: None,
            max_rise_pct: None,
        };
        match field {
            "min" => rule.min = Some(limit),
            "max" => rule.max = Some(limit),
            "max_drop" => rule.max_drop = Some(limit),
            "max_drop_pct" => rule.max_drop_pct = Some(limit),
            "max_rise" => rule.max_rise = Some(limit),
            "max_rise_pct" => rule.max_rise_pct = Some(limit),
            _ => unreachable!(),
        }
        rule
    }

    /// (passed, message) of one rule with head and (optional) base values of `m`.
    fn judge(field: &str, limit: f64, head: Option<&str>, base: Option<&str>) -> (bool, String) {
        let head = metrics(&head.map(|text| vec![("m", text)]).unwrap_or_default());
        let base = base.map(|text| metrics(&[("m", text)]));
        let verdicts = evaluate(
            "g",
            &[rule(field, limit)],
            &head,
            base.as_ref(),
            "the base branch",
        );
        (verdicts[0].passed, verdicts[0].message.clone())
    }

    #[test]
    fn exactly_at_the_threshold_passes() {
        assert!(judge("min", 0.8, Some("0.80"), None).0);
        assert!(judge("max", 120.0, Some("120"), None).0);
        assert!(
            judge("max_drop", 0.01, Some("0.832"), Some("0.842")).0,
            "0.842 - 0.832 is 0.010000000000000009 in f64"
        );
        assert!(judge("max_rise", 0.1, Some("0.3"), Some("0.2")).0);
        assert!(judge("max_drop_pct", 10.0, Some("0.9"), Some("1.0")).0);
        assert!(judge("max_rise_pct", 10.0, Some("110"), Some("100")).0);
    }

    #[test]
    fn just_past_the_threshold_fails_with_the_numbers() {
        let (passed, message) = judge("max_drop", 0.01, Some("0.830"), Some("0.842"));
        assert!(!passed);
        assert_eq!(
            message,
            "m fell 0.012 from 0.842 to 0.830; g allows a drop of at most 0.01"
        );
        let (passed, message) = judge("min", 0.8, Some("0.799"), None);
        assert!(!passed);
        assert_eq!(message, "m is 0.799; g requires at least 0.8");
        let (passed, message) = judge("max_rise_pct", 10.0, Some("111"), Some("100"));
        assert!(!passed);
        assert_eq!(
            message,
            "m rose 11% from 100 to 111; g allows a rise of at most 10%"
        );
    }

    #[test]
    fn missing_or_non_numbers_fail_never_pass() {
        let (passed, message) = judge("min", 0.8, None, None);
        assert!(!passed);
        assert_eq!(
            message,
            "m is missing in the new metrics; g cannot pass without it"
        );
        assert!(!judge("max", 1.0, Some("NaN"), None).0);
        assert!(!judge("max", 1.0, Some("n/a"), None).0);
        assert!(!judge("max", 1.0, Some("inf"), None).0);
        let (passed, message) = judge("max_drop", 0.01, Some("0.9"), None);
        assert!(!passed);
        assert!(message.contains("has no baseline"), "{message}");
        let head = metrics(&[("m", "0.9")]);
        let base = metrics(&[("other", "0.9")]);
        let verdicts = evaluate(
            "g",
            &[rule("max_drop", 0.01)],
            &head,
            Some(&base),
            "the base branch",
        );
        assert!(!verdicts[0].passed);
        assert_eq!(
            verdicts[0].message,
            "m is missing in the baseline (the base branch); `max_drop` needs one, so g fails"
        );
    }

    #[test]
    fn negative_values_integers_and_improvements() {
        assert!(judge("min", -1.0, Some("-0.5"), None).0);
        assert!(!judge("min", -1.0, Some("-1.5"), None).0);
        // A log-likelihood from -2.0 to -2.1 is a 5% drop relative to |base|.
        let (passed, message) = judge("max_drop_pct", 4.0, Some("-2.1"), Some("-2.0"));
        assert!(!passed);
        assert_eq!(
            message,
            "m fell 5% from -2.0 to -2.1; g allows a drop of at most 4%"
        );
        assert!(
            judge("max_drop", 0.0, Some("3"), Some("3")).0,
            "integers, unchanged"
        );
        let (passed, message) = judge("max_drop", 0.01, Some("0.95"), Some("0.9"));
        assert!(passed);
        assert_eq!(
            message,
            "m rose 0.05 from 0.9 to 0.95; g allows a drop of at most 0.01"
        );
    }

    #[test]
    fn percentages_against_a_zero_baseline() {
        assert!(
            judge("max_drop_pct", 5.0, Some("0"), Some("0")).0,
            "no change from 0"
        );
        assert!(
            judge("max_drop_pct", 5.0, Some("0.1"), Some("0")).0,
            "a rise from 0"
        );
        let (passed, message) = judge("max_drop_pct", 5.0, Some("-0.1"), Some("0"));
        assert!(!passed);
        assert!(message.contains("not a percentage"), "{message}");
        assert!(!judge("max_rise_pct", 5.0, Some("0.001"), Some("0")).0);
    }

    #[test]
    fn tiny_values_are_compared_exactly() {
        // Regression: in f64 (rounded to the written precision) this was "unchanged at 3e-20"
        // and passed.
        let (passed, message) = judge("max_rise", 0.0, Some("3e-20"), Some("1e-20"));
        assert!(!passed);
        assert_eq!(
            message,
            "m rose 2e-20 from 1e-20 to 3e-20; g allows a rise of at most 0"
        );
        assert!(judge("max", 1e-20, Some("1e-20"), None).0);
        assert!(!judge("max", 1e-20, Some("1.0000000000000000000001e-20"), None).0);
        // Past f64's range altogether.
        assert!(!judge("max_rise", 0.0, Some("2e-400"), Some("1e-400")).0);
    }

    #[test]
    fn integers_past_two_to_the_53_are_exact() {
        let (passed, message) = judge(
            "max_rise",
            3.0,
            Some("9007199254740996"),
            Some("9007199254740993"),
        );
        assert!(passed, "{message}");
        assert_eq!(
            message,
            "m rose 3 from 9007199254740993 to 9007199254740996; g allows a rise of at most 3"
        );
        assert!(
            !judge(
                "max_rise",
                2.0,
                Some("9007199254740996"),
                Some("9007199254740993")
            )
            .0
        );
        let (_, message) = judge(
            "max_drop",
            0.0,
            Some("123456789012345678901235"),
            Some("123456789012345678901234"),
        );
        assert!(message.contains("rose 1 from"), "{message}");
    }

    #[test]
    fn a_tiny_percentage_is_shown_with_its_digits() {
        let (passed, message) = judge("max_rise_pct", 0.0, Some("1.000001"), Some("1"));
        assert!(!passed);
        assert_eq!(
            message,
            "m rose 0.0001% from 1 to 1.000001; g allows a rise of at most 0%"
        );
        let (passed, message) = judge("max_rise_pct", 0.0, Some("1.0000000001"), Some("1"));
        assert!(!passed);
        assert!(message.contains("rose 1e-8% from"), "{message}");
    }

    #[test]
    fn junit_escapes_markup_and_what_xml_cannot_hold() {
        assert_eq!(
            xml_text("a<b & \"c\" 'd'>\u{1}\tok"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}\tok"
        );
        let results = vec![GateResult {
            name: "q<1>".to_owned(),
            training: "churn".to_owned(),
            baseline: "`m.json` at HEAD".to_owned(),
            passed: false,
            rules: vec![
                RuleVerdict {
                    metric: "auc".to_owned(),
                    rule: "min: 0.8".to_owned(),
                    passed: true,
                    head: Some("0.9".to_owned()),
                    base: None,
                    message: "auc is 0.9".to_owned(),
                },
                RuleVerdict {
                    metric: "f1".to_owned(),
                    rule: "max_drop: 0.01".to_owned(),
                    passed: false,
                    head: Some("0.5".to_owned()),
                    base: Some("0.6".to_owned()),
                    message: "f1 fell by 0.1 & more".to_owned(),
                },
            ],
        }];
        let xml = render_junit(&results);
        assert!(xml.contains("<testsuites name=\"mlops gates\" tests=\"2\" failures=\"1\">"));
        assert!(xml.contains("<testsuite name=\"q&lt;1&gt;\" tests=\"2\" failures=\"1\">"));
        assert!(xml.contains(
            "<failure message=\"f1 fell by 0.1 &amp; more\" type=\"gate\">f1 fell by 0.1 &amp; more</failure>"
        ));
        assert_eq!(xml.matches("<testcase ").count(), 2);
    }
}
