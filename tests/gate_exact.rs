//! Property tests: gate rules compare exact decimals. For random decimal strings (tiny, huge,
//! negative, in exponent form), a value exactly at a rule's threshold passes and one step past
//! it (however small the step) fails.

use mlops::gate::evaluate;
use mlops::metrics::{Decimal, Metric, Metrics};
use mlops::spec::model::GateRule;
use proptest::prelude::*;

/// A decimal written as `digits` × 10^`exponent`, in one of the forms metrics files use.
fn written(negative: bool, digits: u64, exponent: i32, form: u8) -> String {
    let sign = if negative { "-" } else { "" };
    let digits = digits.to_string();
    match form % 3 {
        // 123e-5
        0 => format!("{sign}{digits}e{exponent}"),
        // 1.23E-3
        1 => {
            let (first, rest) = digits.split_at(1);
            let shift = exponent + i32::try_from(rest.len()).unwrap();
            let rest = if rest.is_empty() { "0" } else { rest };
            format!("{sign}{first}.{rest}E{shift:+}")
        }
        // Plain (0.00123 / 12300), for exponents small enough to write out.
        _ if exponent.abs() > 30 => format!("{sign}{digits}e{exponent}"),
        _ => {
            let value = Decimal::parse(&format!("{digits}e{exponent}")).unwrap();
            let plain = plain_text(&value);
            format!("{sign}{plain}")
        }
    }
}

/// The plain (no exponent) text of a small-exponent decimal.
fn plain_text(value: &Decimal) -> String {
    let text = value.to_string();
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text;
    };
    let exponent: i32 = exponent.parse().unwrap();
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let point = 1 + exponent;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).unwrap()))
    } else {
        let point = usize::try_from(point).unwrap();
        if point >= digits.len() {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    }
}

fn metrics(value: &str) -> Metrics {
    Metrics::from([("m".to_owned(), Metric::from_text(value))])
}

fn rule(field: &str, limit: f64) -> GateRule {
    let set = |wanted: &str| (wanted == field).then_some(limit);
    GateRule {
        metric: "m".to_owned(),
        min: set("min"),
        max: set("max"),
        max_drop: set("max_drop"),
        max_drop_pct: set("max_drop_pct"),
        max_rise: set("max_rise"),
        max_rise_pct: set("max_rise_pct"),
    }
}

fn passes(field: &str, limit: f64, head: &str, base: Option<&str>) -> bool {
    let base = base.map(metrics);
    let verdicts = evaluate(
        "g",
        &[rule(field, limit)],
        &metrics(head),
        base.as_ref(),
        "the base",
    );
    verdicts[0].passed
}

fn d(text: &str) -> Decimal {
    Decimal::parse(text).unwrap()
}

/// A threshold as the config holds it: an f64 whose shortest text is the decimal written.
fn threshold(negative: bool, digits: u64, exponent: i32) -> (f64, Decimal) {
    let text = format!("{}{digits}e{exponent}", if negative { "-" } else { "" });
    let float: f64 = text.parse().unwrap();
    (float, d(&text))
}

/// One unit `depth` digits below the last digit of `value` (a step past it however small).
fn step_below(value: &Decimal, depth: u32) -> Decimal {
    let text = value.to_string();
    let last = match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
            exponent.parse::<i64>().unwrap() - i64::try_from(fraction).unwrap()
        }
        None => -i64::try_from(text.split_once('.').map_or(0, |(_, f)| f.len())).unwrap(),
    };
    d(&format!("1e{}", last - i64::from(depth)))
}

fn add(a: &Decimal, b: &Decimal) -> Decimal {
    a.minus(&Decimal::from_integer(0).minus(b))
}

proptest! {
    // Failures print their minimal input; nothing is written beside the tests.
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn min_and_max_at_and_past_the_threshold(
        negative in any::<bool>(),
        digits in 1u64..1_000_000_000_000_000,
        exponent in -300i32..280,
        form in any::<u8>(),
        depth in 1u32..40,
    ) {
        let (limit, exact) = threshold(negative, digits, exponent);
        let at = written(negative, digits, exponent, form);
        prop_assert!(passes("min", limit, &at, None), "min {limit} at {at}");
        prop_assert!(passes("max", limit, &at, None), "max {limit} at {at}");
        let step = step_below(&exact, depth);
        let below = exact.minus(&step).to_string();
        let above = add(&exact, &step).to_string();
        prop_assert!(!passes("min", limit, &below, None), "min {limit} at {below}");
        prop_assert!(!passes("max", limit, &above, None), "max {limit} at {above}");
    }

    #[test]
    fn drops_and_rises_at_and_past_the_threshold(
        base_negative in any::<bool>(),
        base_digits in 1u64..1_000_000_000_000_000_000,
        base_exponent in -400i32..400,
        digits in 1u64..1_000_000_000_000_000,
        exponent in -300i32..280,
        depth in 1u32..40,
    ) {
        let base = written(base_negative, base_digits, base_exponent, 0);
        let (limit, exact) = threshold(false, digits, exponent);
        let b = d(&base);
        let dropped = b.minus(&exact);
        let risen = add(&b, &exact);
        prop_assert!(passes("max_drop", limit, &dropped.to_string(), Some(&base)));
        prop_assert!(passes("max_rise", limit, &risen.to_string(), Some(&base)));
        let step = step_below(&exact, depth).min(step_below(&b, depth));
        let past_drop = dropped.minus(&step).to_string();
        let past_rise = add(&risen, &step).to_string();
        prop_assert!(!passes("max_drop", limit, &past_drop, Some(&base)), "{base} -> {past_drop}, {limit}");
        prop_assert!(!passes("max_rise", limit, &past_rise, Some(&base)), "{base} -> {past_rise}, {limit}");
    }

    #[test]
    fn percentages_at_and_past_the_threshold(
        base_negative in any::<bool>(),
        base_digits in 1u64..1_000_000_000_000,
        base_exponent in -400i32..400,
        digits in 1u64..100_000,
        exponent in -6i32..2,
        depth in 1u32..40,
    ) {
        let base = written(base_negative, base_digits, base_exponent, 1);
        let (limit, exact) = threshold(false, digits, exponent);
        let b = d(&base);
        // |base| * limit / 100, exactly (dividing by 100 is exact in decimal).
        let allowed = b.abs().times(&exact).times(&d("0.01"));
        let dropped = b.minus(&allowed);
        let risen = add(&b, &allowed);
        prop_assert!(passes("max_drop_pct", limit, &dropped.to_string(), Some(&base)), "{base} -> {dropped}, {limit}%");
        prop_assert!(passes("max_rise_pct", limit, &risen.to_string(), Some(&base)), "{base} -> {risen}, {limit}%");
        let step = step_below(&allowed, depth);
        let past_drop = dropped.minus(&step).to_string();
        let past_rise = add(&risen, &step).to_string();
        prop_assert!(!passes("max_drop_pct", limit, &past_drop, Some(&base)), "{base} -> {past_drop}, {limit}%");
        prop_assert!(!passes("max_rise_pct", limit, &past_rise, Some(&base)), "{base} -> {past_rise}, {limit}%");
    }
}
