//! Fuzz metrics parsing and gate verdicts on arbitrary metrics files. The bytes are: a format
//! selector, eight bytes of threshold, two bytes of decimal exponent, the new metrics file, a
//! NUL, the baseline file. The threshold is the f64 times ten to that exponent, so that with
//! the files' own values (any decimal the fuzzer writes) the numbers span the whole decimal
//! range mlops reads (10^±4096), far past f64's. Every parse must succeed or fail cleanly, and
//! no rule may pass without its numbers or against them, checked in exact decimal arithmetic:
//! gate soundness, whatever the files hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlops::metrics::{Decimal, Format, Metrics, parse};
use mlops::spec::model::GateRule;

fuzz_target!(|bytes: &[u8]| {
    let [selector, rest @ ..] = bytes else { return };
    let Some((limit, rest)) = rest.split_first_chunk::<8>() else { return };
    let Some((scale, files)) = rest.split_first_chunk::<2>() else { return };
    let limit = f64::from_le_bytes(*limit);
    let limit = if limit.is_finite() { limit } else { 0.01 };
    let format = match selector % 4 {
        0 => Format::Json,
        1 => Format::Yaml,
        2 => Format::Toml,
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
            // A number reads back from its own text as itself.
            if let Some(value) = &metric.value {
                assert_eq!(Decimal::parse(&value.to_string()).as_ref(), Ok(value), "{metric:?}");
            }
        }
    }
    // The rule's threshold: the f64 scaled by 10^(exponent % 600 - 300) where the decimal
    // allows (gates read thresholds as f64, so only the in-range ones reach them).
    let exponent = i32::from(i16::from_le_bytes(*scale)) % 300;
    let scaled = limit * 10f64.powi(exponent);
    let limit = if scaled.is_finite() { scaled } else { limit };
    let Some(exact_limit) = Decimal::from_f64(limit) else { return };
    let mut names: Vec<&String> = head.keys().chain(base.iter().flat_map(Metrics::keys)).take(8).collect();
    let missing = "missing".to_owned();
    names.push(&missing);
    let hundred = Decimal::from_integer(100);
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
                let now = head.get(name).and_then(|metric| metric.value.clone());
                let now = now.unwrap_or_else(|| panic!("passed without a new value: {verdict:?}"));
                let then = base.as_ref().and_then(|base| base.get(name)).and_then(|metric| metric.value.clone());
                let holds = match field {
                    "min" => now >= exact_limit,
                    "max" => now <= exact_limit,
                    _ => {
                        let then = then.clone().unwrap_or_else(|| panic!("passed without a baseline: {verdict:?}"));
                        let worsening = if field.starts_with("max_drop") { then.minus(&now) } else { now.minus(&then) };
                        if field.ends_with("_pct") {
                            worsening.is_negative()
                                || worsening.is_zero()
                                || (!then.is_zero() && worsening.times(&hundred) <= exact_limit.times(&then.abs()))
                        } else {
                            worsening <= exact_limit
                        }
                    }
                };
                assert!(holds, "passed against its numbers: {verdict:?} (now {now}, then {then:?}, limit {exact_limit})");
            }
        }
    }
});
