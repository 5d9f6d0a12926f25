//! Fuzz metrics parsing and gate verdicts on arbitrary metrics files. The bytes are: a format
//! selector, eight bytes of threshold, the new metrics file, a NUL, the baseline file. Every
//! parse must succeed or fail cleanly, every number kept must be finite, and no rule may pass
//! without its numbers or against them: gate soundness, whatever the files hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlops::metrics::{Format, Metrics, parse};
use mlops::spec::model::GateRule;

fuzz_target!(|bytes: &[u8]| {
    let [selector, rest @ ..] = bytes else { return };
    let Some((limit, files)) = rest.split_first_chunk::<8>() else { return };
    let limit = f64::from_le_bytes(*limit);
    let limit = if limit.is_finite() { limit } else { 0.01 };
    let format = match selector % 3 {
        0 => Format::Json,
        1 => Format::Yaml,
        _ => Format::Csv(b','),
    };
    let (head_bytes, base_bytes) = match files.iter().position(|&byte| byte == 0) {
        Some(at) => (&files[..at], Some(&files[at + 1..])),
        None => (files, None),
    };
    let Ok(head) = parse(head_bytes, format) else { return };
    let base = base_bytes.and_then(|bytes| parse(bytes, format).ok());
    for metrics in std::iter::once(&head).chain(base.as_ref()) {
        for metric in metrics.values() {
            assert!(metric.value.is_none_or(f64::is_finite), "{metric:?}");
            let _ = mlops::gate::round_text(metric.value.unwrap_or(0.0), mlops::gate::decimals_of(&metric.text));
        }
    }
    let mut names: Vec<&String> = head.keys().chain(base.iter().flat_map(Metrics::keys)).take(8).collect();
    let missing = "missing".to_owned();
    names.push(&missing);
    for name in names {
        for field in ["min", "max", "max_drop", "max_drop_pct", "max_rise", "max_rise_pct"] {
            let set = |wanted: &str| (wanted == field).then_some(limit);
            let rule = GateRule {
                metric: name.clone(),
                min: set("min"),
                max: set("max"),
                max_drop: set("max_drop"),
                max_drop_pct: set("max_drop_pct"),
                max_rise: set("max_rise"),
                max_rise_pct: set("max_rise_pct"),
            };
            for verdict in mlops::gate::evaluate("g", &[rule], &head, base.as_ref(), "the base") {
                if !verdict.passed {
                    continue;
                }
                let now = head.get(name).and_then(|metric| metric.value);
                let now = now.unwrap_or_else(|| panic!("passed without a new value: {verdict:?}"));
                let then = base.as_ref().and_then(|base| base.get(name)).and_then(|metric| metric.value);
                let slack = 1e-6 * limit.abs().max(1.0);
                let holds = match field {
                    "min" => now >= limit - slack,
                    "max" => now <= limit + slack,
                    _ => {
                        let then = then.unwrap_or_else(|| panic!("passed without a baseline: {verdict:?}"));
                        let worsening = if field.starts_with("max_drop") { then - now } else { now - then };
                        if field.ends_with("_pct") {
                            worsening <= 0.0 || (then != 0.0 && worsening / then.abs() * 100.0 <= limit + slack)
                        } else {
                            worsening <= limit + slack
                        }
                    }
                };
                assert!(holds, "passed against its numbers: {verdict:?} (now {now}, then {then:?}, limit {limit})");
            }
        }
    }
});
