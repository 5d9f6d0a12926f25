//! Property test: `mlops monitor judge` never passes without its numbers. For random
//! snapshots (each feature's score present or missing, measured with the config's test and
//! threshold or another, a number or not; the share present or missing; random row counts),
//! a pass is re-checked here from the snapshot itself, independently of the judge: the window
//! has `min_rows` rows, every feature has a score measured as configured, and the share of
//! features past their threshold is at most `max_drift_share`; and numbers that earn a pass
//! get one. (`fuzz/fuzz_targets/judge.rs` feeds
//! arbitrary bytes to the same check.)

use mlops::monitor::judge::{Verdict, judge};
use mlops::spec::model::{Drift, DriftMethod, Monitoring, OnDrift};
use proptest::prelude::*;
use serde_json::{Value, json};

const FEATURES: [&str; 3] = ["tenure", "plan", "monthly_charges"];

fn monitoring(method: DriftMethod, threshold: f64, share: f64) -> Monitoring {
    Monitoring {
        schedule: "0 6 * * *".to_owned(),
        window: "7d".to_owned(),
        min_rows: 50,
        reference: "features".to_owned(),
        features: FEATURES.iter().map(|&feature| feature.to_owned()).collect(),
        drift: Drift {
            method,
            threshold,
            max_drift_share: share,
        },
        performance: None,
        alerts: None,
        on_drift: vec![OnDrift::Issue],
    }
}

/// One feature's entry as a test wants it: left out, or with a method, threshold and value.
#[derive(Debug, Clone)]
enum Entry {
    Missing,
    Present {
        same_method: bool,
        same_threshold: bool,
        value: Value,
    },
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        1 => Just(Entry::Missing),
        6 => (
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.9),
            prop_oneof![
                4 => (0.0f64..1.0).prop_map(Value::from),
                1 => Just(Value::Null),
                1 => Just(Value::from("0.1")),
                1 => (-1.0e300f64..1.0e300).prop_map(Value::from),
            ],
        )
            .prop_map(|(same_method, same_threshold, value)| Entry::Present {
                same_method,
                same_threshold,
                value,
            }),
    ]
}

fn snapshot(method: DriftMethod, threshold: f64, entries: &[Entry], share: Option<Value>) -> Value {
    let mut results = serde_json::Map::new();
    if let Some(share) = share {
        results.insert(
            "count".to_owned(),
            json!({ "metric_value_location": { "metric": { "params": {
                "type": "evidently:metric_v2:DriftedColumnsCount" } } },
                "share": { "value": share } }),
        );
    }
    for (feature, entry) in FEATURES.iter().zip(entries) {
        if let Entry::Present {
            same_method,
            same_threshold,
            value,
        } = entry
        {
            let used_method = if *same_method {
                method.as_str()
            } else {
                "wasserstein_other"
            };
            let used_threshold = if *same_threshold {
                threshold
            } else {
                threshold / 2.0 + 0.25
            };
            results.insert(
                (*feature).to_owned(),
                json!({ "metric_value_location": { "metric": { "params": {
                    "type": "evidently:metric_v2:ValueDrift", "column": feature,
                    "method": used_method, "threshold": used_threshold } } },
                    "value": value }),
            );
        }
    }
    json!({ "metric_results": results })
}

/// The pass re-checked from the snapshot, with f64 (the snapshot's own numbers).
fn pass_is_earned(config: &Monitoring, snapshot: &Value, rows: u64) -> bool {
    if rows < config.min_rows {
        return false;
    }
    let results = snapshot["metric_results"].as_object().unwrap();
    // Every feature has its score, measured as configured; the drifted ones are counted.
    let mut drifted = 0u32;
    for feature in FEATURES {
        let score = results.values().find_map(|result| {
            let params = &result["metric_value_location"]["metric"]["params"];
            (params["column"] == feature
                && params["method"] == config.drift.method.as_str()
                && params["threshold"].as_f64() == Some(config.drift.threshold))
            .then(|| result["value"].as_f64())
            .flatten()
        });
        let Some(score) = score else {
            return false;
        };
        let within = if config.drift.method.is_p_value() {
            score >= config.drift.threshold
        } else {
            score <= config.drift.threshold
        };
        drifted += u32::from(!within);
    }
    f64::from(drifted) / 3.0 <= config.drift.max_drift_share
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_pass_without_its_numbers(
        p_value in any::<bool>(),
        threshold in 0.01f64..0.99,
        max_share in 0.0f64..1.0,
        entries in prop::collection::vec(entry(), 3),
        share in prop_oneof![
            3 => (0.0f64..1.0).prop_map(|share| Some(Value::from(share))),
            1 => Just(None),
            1 => Just(Some(Value::from("0"))),
        ],
        rows in 0u64..200,
    ) {
        let method = if p_value { DriftMethod::Ks } else { DriftMethod::Psi };
        let config = monitoring(method, threshold, max_share);
        let snapshot = snapshot(method, threshold, &entries, share);
        let bytes = serde_json::to_vec(&snapshot).unwrap();
        let judgement = judge("churn-production", &config, &bytes, rows, None).unwrap();
        if judgement.verdict == Verdict::Pass {
            prop_assert!(pass_is_earned(&config, &snapshot, rows), "{judgement:?}\n{snapshot}");
        }
        if rows < config.min_rows {
            prop_assert_eq!(judgement.verdict, Verdict::NotEnoughData);
        }
        // And the converse: numbers that earn a pass get one.
        if pass_is_earned(&config, &snapshot, rows) {
            prop_assert_eq!(judgement.verdict, Verdict::Pass, "{}", snapshot);
        }
    }
}
