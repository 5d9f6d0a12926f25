//! `mlops monitor judge`: Evidently's snapshot of the window against the reference, judged
//! with the gate engine.
//!
//! The snapshot's numbers become metrics (`drift.<feature>`, each feature's score) and the
//! config's drift settings become rules (per feature, a distance at most the threshold or a
//! p-value at least it; then `drift.share`, the share of features whose rule failed, at most
//! `max_drift_share`), judged by [`crate::gate::evaluate`]: the same sentences with the
//! numbers, and nothing passes without its numbers (a feature missing from the snapshot, or
//! measured with another test or threshold, fails, and leaves no share to judge). The verdict
//! is a drift when the share rule fails; the features whose rule fails are named either way.
//! Under `min_rows` rows there is no verdict but "not enough data".

use serde::Serialize;
use serde_json::Value;

use crate::gate::RuleVerdict;
use crate::metrics::{Metric, Metrics};
use crate::spec::model::{GateRule, Monitoring};

/// What the check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No drift, and every performance rule holds.
    Pass,
    /// The inputs drifted (or a performance rule failed, or a number is missing).
    Drift,
    /// Fewer rows than `min_rows` (or, with `performance`, fewer labelled ones): neither.
    NotEnoughData,
}

impl Verdict {
    /// The word the workflow reads.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Drift => "drift",
            Verdict::NotEnoughData => "not-enough-data",
        }
    }
}

/// The judgement of one window.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    /// The deployment watched.
    pub deployment: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Rows in the window.
    pub rows: u64,
    /// Rows needed for a verdict.
    pub min_rows: u64,
    /// The features whose drift rule failed, in the config's order.
    pub drifted: Vec<String>,
    /// Every rule: the share, each feature, each performance rule.
    pub rules: Vec<RuleVerdict>,
    /// What was not judged, and why.
    pub notes: Vec<String>,
}

/// Judge `snapshot` (Evidently's JSON) for `deployment`, whose window held `rows` rows;
/// `performance` holds the live metrics when ground truth was joined.
///
/// # Errors
/// The snapshot is not JSON.
pub fn judge(
    deployment: &str,
    monitoring: &Monitoring,
    snapshot: &[u8],
    rows: u64,
    performance: Option<&Metrics>,
) -> Result<Judgement, String> {
    let mut judgement = Judgement {
        deployment: deployment.to_owned(),
        verdict: Verdict::NotEnoughData,
        rows,
        min_rows: monitoring.min_rows,
        drifted: Vec::new(),
        rules: Vec::new(),
        notes: Vec::new(),
    };
    if rows < monitoring.min_rows {
        return Ok(judgement);
    }
    let snapshot: Value = serde_json::from_slice(snapshot)
        .map_err(|error| format!("the snapshot is not JSON: {error}"))?;
    let (mut metrics, mismatches) = drift_metrics(&snapshot, monitoring);
    let gate = format!("the monitoring of {deployment}");
    let method = monitoring.drift.method;
    let threshold = monitoring.drift.threshold;
    let mut feature_rules = Vec::new();
    for feature in &monitoring.features {
        let rule = GateRule {
            metric: format!("drift.{feature}"),
            min: method.is_p_value().then_some(threshold),
            max: (!method.is_p_value()).then_some(threshold),
            ..GateRule::default()
        };
        let verdict = crate::gate::evaluate(&gate, &[rule], &metrics, None, "").remove(0);
        // A feature without its score is not a drift, but it is no pass either.
        if !verdict.passed && verdict.head.is_some() {
            judgement.drifted.push(feature.clone());
        }
        feature_rules.push(verdict);
    }
    // The share of drifted features, from the scores judged above (not Evidently's own
    // count, whose columns and boundary may differ): only when every feature has its score.
    if feature_rules.iter().all(|rule| rule.head.is_some()) {
        #[allow(clippy::cast_precision_loss)] // counts of features
        let share = judgement.drifted.len() as f64 / monitoring.features.len() as f64;
        metrics.insert(
            "drift.share".to_owned(),
            Metric::from_text(&Value::from(share).to_string()),
        );
    }
    let share_rule = GateRule {
        metric: "drift.share".to_owned(),
        max: Some(monitoring.drift.max_drift_share),
        ..GateRule::default()
    };
    let mut rules = crate::gate::evaluate(&gate, &[share_rule], &metrics, None, "");
    rules.extend(feature_rules);
    // A snapshot of another test or threshold has no numbers for this config's rules.
    for mismatch in mismatches {
        rules.push(RuleVerdict {
            metric: "drift".to_owned(),
            rule: format!("method: {}, threshold: {threshold}", method.as_str()),
            passed: false,
            head: None,
            base: None,
            message: mismatch,
        });
    }
    // Drift is the share's verdict; a rule without its numbers fails the check too.
    let drifted = rules
        .iter()
        .any(|rule| !rule.passed && (rule.metric == "drift.share" || rule.head.is_none()));
    // Live performance, judged once enough predictions have their ground truth (labels come
    // later than predictions: until then it is not known, which is no pass).
    let mut performance_failed = false;
    let mut performance_unknown = false;
    if let Some(settings) = &monitoring.performance {
        let empty = Metrics::new();
        let live = performance.unwrap_or(&empty);
        let labelled = live
            .get("count")
            .and_then(|count| count.text.parse::<f64>().ok())
            .unwrap_or(0.0);
        #[allow(clippy::cast_precision_loss)] // row counts
        if labelled < monitoring.min_rows as f64 {
            performance_unknown = true;
            judgement.notes.push(format!(
                "performance not judged: {labelled} predictions have their ground truth, {} needed",
                monitoring.min_rows
            ));
        } else {
            for verdict in crate::gate::evaluate(&gate, &settings.rules, live, None, "") {
                performance_failed |= !verdict.passed;
                rules.push(verdict);
            }
        }
    }
    judgement.verdict = if drifted || performance_failed {
        Verdict::Drift
    } else if performance_unknown {
        Verdict::NotEnoughData
    } else {
        Verdict::Pass
    };
    judgement.rules = rules;
    Ok(judgement)
}

/// The per-feature scores of a snapshot, and each sign that it was measured with other
/// settings than the config's.
fn drift_metrics(snapshot: &Value, monitoring: &Monitoring) -> (Metrics, Vec<String>) {
    let mut metrics = Metrics::new();
    let mut mismatches = Vec::new();
    let results = snapshot["metric_results"]
        .as_object()
        .into_iter()
        .flat_map(|results| results.values());
    for result in results {
        let params = &result["metric_value_location"]["metric"]["params"];
        let number = |value: &Value| {
            value
                .as_f64()
                .map(|value| Metric::from_text(&Value::from(value).to_string()))
        };
        if params["type"] != "evidently:metric_v2:ValueDrift" {
            continue;
        }
        let Some(column) = params["column"].as_str() else {
            continue;
        };
        if !monitoring.features.iter().any(|feature| feature == column) {
            continue;
        }
        let method = params["method"].as_str().unwrap_or("(none)");
        let threshold = params["threshold"].as_f64();
        if method != monitoring.drift.method.as_str()
            || threshold != Some(monitoring.drift.threshold)
        {
            mismatches.push(format!(
                "`{column}` was measured with {method} at {}, the config says {} at {}; run the rendered configuration",
                threshold.map_or_else(|| "no threshold".to_owned(), |value| value.to_string()),
                monitoring.drift.method.as_str(),
                monitoring.drift.threshold
            ));
            continue;
        }
        if let Some(score) = number(&result["value"]) {
            metrics.insert(format!("drift.{column}"), score);
        }
    }
    (metrics, mismatches)
}

/// The judgement for people: the verdict, then one line per rule.
#[must_use]
pub fn render_text(judgement: &Judgement) -> String {
    let mut out = match judgement.verdict {
        Verdict::NotEnoughData if !judgement.rules.is_empty() => format!(
            "⏸ {}: no drift over {} rows, but not enough ground truth for a verdict\n",
            judgement.deployment, judgement.rows
        ),
        Verdict::NotEnoughData => {
            return format!(
                "⏸ {}: not enough data: {} rows in the window, {} needed for a verdict (neither a pass nor a drift)\n",
                judgement.deployment, judgement.rows, judgement.min_rows
            );
        }
        Verdict::Pass => format!(
            "✅ {}: no drift over {} rows\n",
            judgement.deployment, judgement.rows
        ),
        Verdict::Drift if judgement.drifted.is_empty() => format!(
            "❌ {}: failed over {} rows\n",
            judgement.deployment, judgement.rows
        ),
        Verdict::Drift => format!(
            "❌ {}: drift over {} rows in {}\n",
            judgement.deployment,
            judgement.rows,
            judgement
                .drifted
                .iter()
                .map(|feature| format!("`{feature}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    for rule in &judgement.rules {
        let mark = if rule.passed { "✅" } else { "❌" };
        out.push_str(&format!(
            "  {mark} {} {} — {}\n",
            rule.metric, rule.rule, rule.message
        ));
    }
    for note in &judgement.notes {
        out.push_str(&format!("  ⏸ {note}\n"));
    }
    out
}
