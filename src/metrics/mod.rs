//! Metrics files, as training steps write them: JSON, YAML, TOML or CSV, nested keys
//! flattened with `.` as DVC does (`{"eval": {"auc": 0.9}}` is `eval.auc`). Each number is
//! kept exactly, as a decimal ([`Decimal`]), with the text it was written with, so reports
//! show `0.830`, not `0.83` or `0.8300000000000001`, and gates never round.
//!
//! YAML is read as a YAML 1.2 reader sees it ([`tree`]): aliases are their anchors' values,
//! merge keys (`<<`) merge, integer and other scalar keys are names, `null` is a missing
//! value. What cannot be a metric, and two paths that flatten onto one name, are errors with
//! their position: nothing is dropped silently.

pub mod decimal;
mod tree;

use std::collections::BTreeMap;

pub use decimal::Decimal;

/// One metric as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The number, when the value is a finite decimal number.
    pub value: Option<Decimal>,
    /// The value as written in the file (`0.830`, `n/a`, `true`).
    pub text: String,
}

impl Metric {
    /// A metric written as `text`, a number when the text is one.
    #[must_use]
    pub fn from_text(text: &str) -> Metric {
        Metric {
            value: Decimal::parse(text).ok(),
            text: text.to_owned(),
        }
    }
}

/// A metrics file: flattened name -> metric, sorted by name.
pub type Metrics = BTreeMap<String, Metric>;

/// Which syntax a metrics file uses, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`
    Json,
    /// `.yaml`, `.yml`
    Yaml,
    /// `.toml`
    Toml,
    /// `.csv`, `.tsv`
    Csv(u8),
}

impl Format {
    /// The format a path's extension names; JSON when it names none (DVC's default).
    #[must_use]
    pub fn of(path: &str) -> Format {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else if lower.ends_with(".toml") {
            Format::Toml
        } else if lower.ends_with(".csv") {
            Format::Csv(b',')
        } else if lower.ends_with(".tsv") {
            Format::Csv(b'\t')
        } else {
            Format::Json
        }
    }
}

/// Parse a metrics file.
///
/// # Errors
/// A message saying what is wrong with the file, with its line and column where it has one.
pub fn parse(bytes: &[u8], format: Format) -> Result<Metrics, String> {
    let limit = crate::spec::load::MAX_INPUT_BYTES;
    if bytes.len() > limit {
        return Err(format!(
            "the file is {} bytes; metrics files are read up to {} MiB",
            bytes.len(),
            limit / (1024 * 1024)
        ));
    }
    match format {
        // JSON is YAML 1.2.
        Format::Json | Format::Yaml => tree::parse_yaml(text_of(bytes)?),
        Format::Toml => tree::parse_toml(text_of(bytes)?),
        Format::Csv(delimiter) => parse_csv(bytes, delimiter),
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes)
        .map_err(|error| format!("not valid UTF-8 (byte {})", error.valid_up_to()))
}

/// CSV: a header row and one row of values (DVC's layout), or rows of `name,value`.
fn parse_csv(bytes: &[u8], delimiter: u8) -> Result<Metrics, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| format!("cannot read the header row: {error}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .map_err(|error| format!("cannot read a row: {error}"))?;
    let metric = Metric::from_text;
    let mut metrics = Metrics::new();
    let key_value = header.len() == 2
        && matches!(
            header[0].to_ascii_lowercase().as_str(),
            "metric" | "name" | "key"
        )
        && header[1].eq_ignore_ascii_case("value");
    if key_value {
        for row in &rows {
            if let (Some(name), Some(value)) = (row.get(0), row.get(1)) {
                metrics.insert(name.to_owned(), metric(value));
            }
        }
        return Ok(metrics);
    }
    match rows.as_slice() {
        [row] => {
            for (name, value) in header.iter().zip(row.iter()) {
                metrics.insert(name.clone(), metric(value));
            }
            Ok(metrics)
        }
        _ => Err(format!(
            "expected a header row and one row of values (or `metric,value` rows); found {} rows",
            rows.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{Decimal, Format, parse};

    fn value(bytes: &str, format: Format, name: &str) -> (Option<String>, String) {
        let metrics = parse(bytes.as_bytes(), format).unwrap();
        let metric = metrics
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}` in {metrics:?}"));
        (
            metric.value.as_ref().map(Decimal::to_string),
            metric.text.clone(),
        )
    }

    #[allow(clippy::unnecessary_wraps)] // Compared with `Option`s.
    fn number(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn json_nested_keys_flatten_and_keep_their_text() {
        let json = r#"{"auc": 0.830, "eval": {"f1": 1e-3, "n": 12}, "note": "ok", "flag": true}"#;
        assert_eq!(
            value(json, Format::Json, "auc"),
            (number("0.83"), "0.830".to_owned())
        );
        assert_eq!(
            value(json, Format::Json, "eval.f1"),
            (number("0.001"), "1e-3".to_owned())
        );
        assert_eq!(
            value(json, Format::Json, "eval.n"),
            (number("12"), "12".to_owned())
        );
        assert_eq!(value(json, Format::Json, "note"), (None, "ok".to_owned()));
        assert_eq!(value(json, Format::Json, "flag"), (None, "true".to_owned()));
        // A quoted number is text, as in DVC.
        assert_eq!(value(r#"{"a": "0.5"}"#, Format::Json, "a").0, None);
    }

    #[test]
    fn numbers_keep_every_digit() {
        let json = r#"{"eps": 1e-20, "steps": 9007199254740993, "count": 123456789012345678901234, "tiny": 2e-400}"#;
        assert_eq!(value(json, Format::Json, "eps").0, number("1e-20"));
        assert_eq!(
            value(json, Format::Json, "steps").0,
            number("9007199254740993")
        );
        assert_eq!(
            value(json, Format::Json, "count"),
            (
                number("123456789012345678901234"),
                "123456789012345678901234".to_owned()
            )
        );
        assert_eq!(value(json, Format::Json, "tiny").0, number("2e-400"));
        // Past the readable range: text, not a number, and not an error.
        let huge = value(r#"{"x": 1e99999}"#, Format::Json, "x");
        assert_eq!(huge, (None, "1e99999".to_owned()));
    }

    #[test]
    fn yaml_non_finite_values_are_not_numbers() {
        let yaml = "auc: .nan\nloss: -.inf\nlatency:\n  p95_ms: 118\n";
        assert_eq!(value(yaml, Format::Yaml, "auc").0, None);
        assert_eq!(
            value(yaml, Format::Yaml, "loss"),
            (None, "-.inf".to_owned())
        );
        assert_eq!(
            value(yaml, Format::Yaml, "latency.p95_ms"),
            (number("118"), "118".to_owned())
        );
    }

    #[test]
    fn yaml_aliases_are_their_anchors_values() {
        // Regression: `b` was read with the text `*x` and `a` with `&x 0.8`.
        let yaml = "a: &x 0.8\nb: *x\n";
        assert_eq!(
            value(yaml, Format::Yaml, "a"),
            (number("0.8"), "0.8".to_owned())
        );
        assert_eq!(
            value(yaml, Format::Yaml, "b"),
            (number("0.8"), "0.8".to_owned())
        );
        let nested = "base: &m {auc: 0.9, f1: 0.7}\ncopy: *m\n";
        assert_eq!(value(nested, Format::Yaml, "copy.f1").0, number("0.7"));
    }

    #[test]
    fn yaml_merge_keys_merge_and_written_keys_win() {
        // Regression: merged metrics were silently absent.
        let yaml = "base: &b {auc: 0.9, f1: 0.7}\nfold: {<<: *b, f1: 0.75}\n";
        let metrics = parse(yaml.as_bytes(), Format::Yaml).unwrap();
        assert_eq!(metrics["fold.auc"].text, "0.9");
        assert_eq!(metrics["fold.f1"].text, "0.75", "the written key wins");
        let many = "a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc: {<<: [*a, *b]}\n";
        let metrics = parse(many.as_bytes(), Format::Yaml).unwrap();
        assert_eq!(metrics["c.x"].text, "1", "the earlier merged mapping wins");
        assert_eq!(metrics["c.y"].text, "3");
        let error = parse(b"a: {<<: 5}\n", Format::Yaml).unwrap_err();
        assert!(error.contains("line 1, column 9"), "{error}");
        assert!(error.contains("only a mapping"), "{error}");
    }

    #[test]
    fn yaml_integer_and_other_scalar_keys_are_names() {
        // Regression: `1: 0.5` and `fold: {2: 0.6}` were silently absent.
        let yaml = "1: 0.5\nfold: {2: 0.6, true: 1, 0x10: 2}\n";
        let metrics = parse(yaml.as_bytes(), Format::Yaml).unwrap();
        assert_eq!(metrics["1"].text, "0.5");
        assert_eq!(metrics["fold.2"].text, "0.6");
        assert_eq!(metrics["fold.true"].text, "1");
        assert_eq!(metrics["fold.16"].text, "2", "0x10 is the integer 16");
        let error = parse(b"? [a, b]\n: 1\n", Format::Yaml).unwrap_err();
        assert!(error.contains("cannot name a metric"), "{error}");
    }

    #[test]
    fn yaml_null_is_a_missing_value() {
        // Regression: `null` was the string "null".
        let metrics = parse(b"auc: null\nf1: ~\nacc: 0.9\nempty:\n", Format::Yaml).unwrap();
        assert_eq!(metrics.keys().collect::<Vec<_>>(), ["acc"]);
        let metrics = parse(br#"{"auc": null, "f1": 0.5}"#, Format::Json).unwrap();
        assert_eq!(metrics.keys().collect::<Vec<_>>(), ["f1"]);
    }

    #[test]
    fn yaml_tags_resolve_or_are_refused() {
        let metrics = parse(b"a: !!str 0.5\nb: !!float 1\n", Format::Yaml).unwrap();
        assert_eq!(metrics["a"].value, None);
        assert_eq!(metrics["b"].value, Decimal::parse("1").ok());
        let error = parse(b"a: !custom 0.5\n", Format::Yaml).unwrap_err();
        assert!(error.starts_with("line 1, column 4: "), "{error}");
        assert!(parse(b"a: !!int abc\n", Format::Yaml).is_err());
    }

    #[test]
    fn two_paths_onto_one_name_is_an_error_naming_both() {
        // Regression: one of the two was kept silently.
        let error = parse(br#"{"a.b": 1, "a": {"b": 2}}"#, Format::Json).unwrap_err();
        assert!(error.contains("`a.b`"), "{error}");
        assert!(error.contains("`a` > `b`"), "{error}");
        assert!(
            error.contains("line 1, column 9") && error.contains("line 1, column 23"),
            "{error}"
        );
        // `1` and `"1"` are one name too.
        assert!(parse(b"1: 0.5\n\"1\": 0.6\n", Format::Yaml).is_err());
    }

    #[test]
    fn toml_metrics_are_read_like_json() {
        // Regression: a `.toml` metrics file was "invalid YAML".
        assert_eq!(Format::of("metrics.toml"), Format::Toml);
        let toml = "auc = 0.830\nsteps = 9007199254740993\ncount = 1_000\nhex = 0x1F\nnote = \"ok\"\nlist = [1, 2]\n\n[eval]\nf1 = 1e-20\nloss = -inf\n";
        assert_eq!(
            value(toml, Format::Toml, "auc"),
            (number("0.83"), "0.830".to_owned())
        );
        assert_eq!(
            value(toml, Format::Toml, "steps").0,
            number("9007199254740993")
        );
        assert_eq!(value(toml, Format::Toml, "count").0, number("1000"));
        assert_eq!(value(toml, Format::Toml, "hex").0, number("31"));
        assert_eq!(value(toml, Format::Toml, "note"), (None, "ok".to_owned()));
        assert_eq!(value(toml, Format::Toml, "list.1").0, number("2"));
        assert_eq!(value(toml, Format::Toml, "eval.f1").0, number("1e-20"));
        assert_eq!(value(toml, Format::Toml, "eval.loss").0, None);
        let error = parse(b"auc = \n", Format::Toml).unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        let error = parse(b"\"a.b\" = 1\n[a]\nb = 2\n", Format::Toml).unwrap_err();
        assert!(error.contains("two values flatten onto"), "{error}");
    }

    #[test]
    fn csv_wide_and_long_layouts() {
        let wide = "auc,latency_p95_ms\n0.850,NaN\n";
        assert_eq!(
            value(wide, Format::Csv(b','), "auc"),
            (number("0.85"), "0.850".to_owned())
        );
        assert_eq!(value(wide, Format::Csv(b','), "latency_p95_ms").0, None);
        let long = "metric,value\nauc,0.9\nf1,0.7\n";
        assert_eq!(
            value(long, Format::Csv(b','), "f1"),
            (number("0.7"), "0.7".to_owned())
        );
        assert!(parse(b"a,b\n1,2\n3,4\n", Format::Csv(b',')).is_err());
    }

    #[test]
    fn an_oversized_file_is_refused_whatever_its_format() {
        let huge = vec![b'1'; crate::spec::load::MAX_INPUT_BYTES + 1];
        for format in [Format::Json, Format::Toml, Format::Csv(b',')] {
            assert!(
                parse(&huge, format)
                    .unwrap_err()
                    .contains("read up to 8 MiB")
            );
        }
    }

    #[test]
    fn a_list_or_scalar_at_the_top_is_an_error() {
        assert!(parse(b"[1, 2]", Format::Json).is_err());
        assert!(parse(b"", Format::Json).unwrap_err().contains("empty"));
        assert!(
            parse(b"a: 1\n---\nb: 2\n", Format::Yaml)
                .unwrap_err()
                .contains("second YAML document")
        );
        let error = parse(b"{\n  \"auc\": 0.9,\n  \"auc\": 0.8\n}", Format::Json).unwrap_err();
        assert!(error.starts_with("line 3, column 3: "), "{error}");
    }
}
