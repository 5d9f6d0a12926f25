//! Metrics files, as training steps write them: JSON, YAML or CSV, nested keys flattened with
//! `.` as DVC does (`{"eval": {"auc": 0.9}}` is `eval.auc`). Each number keeps the text it was
//! written with, so reports show `0.830`, not `0.83` or `0.8300000000000001`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One metric as read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// The number, when the value is a finite number.
    pub value: Option<f64>,
    /// The value as written in the file (`0.830`, `"n/a"`, `true`).
    pub text: String,
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
/// A message saying what is wrong with the file.
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
        // JSON is YAML 1.2, and the YAML reader keeps each value's position, hence its text.
        Format::Json | Format::Yaml => parse_tree(bytes),
        Format::Csv(delimiter) => parse_csv(bytes, delimiter),
    }
}

fn parse_tree(bytes: &[u8]) -> Result<Metrics, String> {
    let (document, diags) = crate::spec::load::load(bytes);
    let text = String::from_utf8_lossy(bytes);
    let Some(document) = document else {
        return Err(diags.first().map_or_else(
            || "unreadable".to_owned(),
            |diag| {
                let source = crate::diag::SourceFile::new("", text.as_ref());
                let (line, column) = source.line_column(diag.primary.span.start);
                format!("line {line}, column {column}: {}", diag.message)
            },
        ));
    };
    if !document.value.is_object() {
        return Err("expected a mapping of metric names to values".to_owned());
    }
    let mut metrics = Metrics::new();
    flatten(&document.value, "", &mut |name, pointer, value| {
        let written = text
            .get(document.spans.value_span(pointer))
            .unwrap_or_default()
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_owned();
        let metric = match value {
            Value::Number(number) => Metric {
                value: number.as_f64().filter(|value| value.is_finite()),
                text: if written.is_empty() {
                    number.to_string()
                } else {
                    written
                },
            },
            // `.nan` / `.inf` were read as null (with a diagnostic): not a number.
            Value::Null if !written.is_empty() => Metric {
                value: None,
                text: written,
            },
            other => Metric {
                value: None,
                text: match other {
                    Value::String(text) => text.clone(),
                    _ => other.to_string(),
                },
            },
        };
        metrics.insert(name.to_owned(), metric);
    });
    Ok(metrics)
}

/// Walk `value`, calling `leaf(name, pointer, value)` for each scalar.
fn flatten(value: &Value, pointer: &str, leaf: &mut dyn FnMut(&str, &str, &Value)) {
    let name_of = |pointer: &str| {
        pointer
            .split('/')
            .skip(1)
            .map(|token| token.replace("~1", "/").replace("~0", "~"))
            .collect::<Vec<_>>()
            .join(".")
    };
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let escaped = crate::spec::load::escape_pointer_token(key);
                flatten(child, &format!("{pointer}/{escaped}"), leaf);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                flatten(child, &format!("{pointer}/{index}"), leaf);
            }
        }
        scalar => leaf(&name_of(pointer), pointer, scalar),
    }
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
    let metric = |text: &str| Metric {
        value: text.parse::<f64>().ok().filter(|value| value.is_finite()),
        text: text.to_owned(),
    };
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
    use super::{Format, parse};

    fn value(bytes: &str, format: Format, name: &str) -> (Option<f64>, String) {
        let metrics = parse(bytes.as_bytes(), format).unwrap();
        let metric = &metrics[name];
        (metric.value, metric.text.clone())
    }

    #[test]
    fn json_nested_keys_flatten_and_keep_their_text() {
        let json = r#"{"auc": 0.830, "eval": {"f1": 1e-3, "n": 12}, "note": "ok", "flag": true}"#;
        assert_eq!(
            value(json, Format::Json, "auc"),
            (Some(0.83), "0.830".to_owned())
        );
        assert_eq!(
            value(json, Format::Json, "eval.f1"),
            (Some(0.001), "1e-3".to_owned())
        );
        assert_eq!(
            value(json, Format::Json, "eval.n"),
            (Some(12.0), "12".to_owned())
        );
        assert_eq!(value(json, Format::Json, "note"), (None, "ok".to_owned()));
        assert_eq!(value(json, Format::Json, "flag"), (None, "true".to_owned()));
    }

    #[test]
    fn yaml_non_finite_values_are_not_numbers() {
        let yaml = "auc: .nan\nloss: -.inf\nlatency:\n  p95_ms: 118\n";
        assert_eq!(value(yaml, Format::Yaml, "auc").0, None);
        assert_eq!(value(yaml, Format::Yaml, "loss").0, None);
        assert_eq!(
            value(yaml, Format::Yaml, "latency.p95_ms"),
            (Some(118.0), "118".to_owned())
        );
    }

    #[test]
    fn csv_wide_and_long_layouts() {
        let wide = "auc,latency_p95_ms\n0.850,NaN\n";
        assert_eq!(
            value(wide, Format::Csv(b','), "auc"),
            (Some(0.85), "0.850".to_owned())
        );
        assert_eq!(value(wide, Format::Csv(b','), "latency_p95_ms").0, None);
        let long = "metric,value\nauc,0.9\nf1,0.7\n";
        assert_eq!(
            value(long, Format::Csv(b','), "f1"),
            (Some(0.7), "0.7".to_owned())
        );
        assert!(parse(b"a,b\n1,2\n3,4\n", Format::Csv(b',')).is_err());
    }

    #[test]
    fn an_oversized_file_is_refused_whatever_its_format() {
        let huge = vec![b'1'; crate::spec::load::MAX_INPUT_BYTES + 1];
        for format in [Format::Json, Format::Csv(b',')] {
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
        let error = parse(b"{\n  \"auc\": 0.9,\n  \"auc\": 0.8\n}", Format::Json).unwrap_err();
        assert!(error.starts_with("line 3, column 3: "), "{error}");
    }
}
