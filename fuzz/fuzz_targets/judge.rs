//! Fuzz `mlops monitor judge` on arbitrary snapshots. The bytes are: a method selector, eight
//! bytes of threshold, eight of the largest drifted share, two of the window's row count, then
//! the snapshot. No input may panic, and no pass may come without its numbers: a pass is
//! re-checked from the snapshot (as parsed JSON, independently of the judge): enough rows,
//! for every feature a score measured with the configured test and threshold (the last one in
//! the file, as the judge reads them) and none measured otherwise, and the share of features
//! past their threshold within the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlops::monitor::judge::{Verdict, judge};
use mlops::spec::model::{Drift, DriftMethod, Monitoring, OnDrift};
use serde_json::Value;

const FEATURES: [&str; 3] = ["tenure", "plan", "monthly_charges"];

fuzz_target!(|bytes: &[u8]| {
    let [selector, rest @ ..] = bytes else { return };
    let Some((threshold, rest)) = rest.split_first_chunk::<8>() else { return };
    let Some((share, rest)) = rest.split_first_chunk::<8>() else { return };
    let Some((rows, snapshot)) = rest.split_first_chunk::<2>() else { return };
    let method = if selector % 2 == 0 { DriftMethod::Psi } else { DriftMethod::Ks };
    let threshold = f64::from_le_bytes(*threshold);
    let share = f64::from_le_bytes(*share);
    // What `validate` lets through: a meaningful threshold, a share between 0 and 1.
    if !method.accepts(threshold).0 || !(0.0..=1.0).contains(&share) {
        return;
    }
    let rows = u64::from(u16::from_le_bytes(*rows));
    let config = Monitoring {
        schedule: "0 6 * * *".to_owned(),
        window: "7d".to_owned(),
        min_rows: 100,
        reference: "features".to_owned(),
        features: FEATURES.iter().map(|&feature| feature.to_owned()).collect(),
        drift: Drift { method, threshold, max_drift_share: share },
        performance: None,
        alerts: None,
        on_drift: vec![OnDrift::Issue],
    };
    let Ok(judgement) = judge("d", &config, snapshot, rows, None) else { return };
    if judgement.verdict != Verdict::Pass {
        return;
    }
    assert!(rows >= config.min_rows);
    let parsed: Value = serde_json::from_slice(snapshot).expect("a pass read a snapshot");
    let results = parsed["metric_results"].as_object().expect("a pass had results");
    let mut drifted = 0u32;
    for feature in FEATURES {
        let mut score = None;
        for result in results.values() {
            let params = &result["metric_value_location"]["metric"]["params"];
            if params["type"] != "evidently:metric_v2:ValueDrift" || params["column"] != feature {
                continue;
            }
            assert!(
                params["method"] == method.as_str() && params["threshold"].as_f64() == Some(threshold),
                "a pass with {feature} measured otherwise: {params}"
            );
            if let Some(value) = result["value"].as_f64() {
                score = Some(value);
            }
        }
        let score = score.unwrap_or_else(|| panic!("a pass without a score for {feature}"));
        let within = if method.is_p_value() { score >= threshold } else { score <= threshold };
        drifted += u32::from(!within);
    }
    assert!(f64::from(drifted) / 3.0 <= share, "a pass with {drifted} of 3 drifted, limit {share}");
});
