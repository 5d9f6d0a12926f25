//! Nested metrics files (JSON, YAML, TOML) flattened into `name -> metric`.
//!
//! YAML scalars arrive as written ([`crate::spec::load::load_raw`]) and are resolved here by
//! the YAML 1.2 core schema, so a number keeps every digit it was written with; TOML numbers
//! arrive as written too (`toml::de::DeValue`). Both feed one [`Flattener`], which refuses a
//! name that two paths flatten onto (`{"a.b": 1, "a": {"b": 2}}`), naming both.

use std::collections::BTreeMap;

use saphyr::{MarkedYaml, YamlData};
use saphyr_parser::ScalarStyle;

use super::{Decimal, Metric, Metrics};

/// How deeply merge keys may chain (`<<` pulling in a mapping that has its own `<<`).
const MAX_MERGE_DEPTH: usize = 64;

/// Collects leaves under their flattened names, remembering where each was written.
struct Flattener {
    metrics: Metrics,
    /// Name -> the path and position it came from, for a collision's message.
    origins: BTreeMap<String, String>,
}

impl Flattener {
    fn new() -> Flattener {
        Flattener {
            metrics: Metrics::new(),
            origins: BTreeMap::new(),
        }
    }

    /// Adds the leaf at `path` (one segment per level), written at `position`.
    fn leaf(&mut self, path: &[String], position: &str, metric: Metric) -> Result<(), String> {
        let name = path.join(".");
        let origin = format!("{} ({position})", describe(path));
        if let Some(first) = self.origins.get(&name) {
            return Err(format!(
                "two values flatten onto the metric name `{name}`: {first} and {origin}; rename one of the keys"
            ));
        }
        self.origins.insert(name.clone(), origin);
        self.metrics.insert(name, metric);
        Ok(())
    }
}

/// `eval` > `auc`, with each key quoted as written.
fn describe(path: &[String]) -> String {
    path.iter()
        .map(|segment| format!("`{segment}`"))
        .collect::<Vec<_>>()
        .join(" > ")
}

// ---------------------------------------------------------------------------------------------
// YAML (and JSON)

/// A resolved YAML scalar (YAML 1.2 core schema).
enum Scalar<'a> {
    Null,
    Number(Decimal, &'a str),
    /// `.inf`, `.nan`, a number past the readable range: kept as text, not a number.
    NotFinite(&'a str),
    Text(&'a str),
}

/// Resolves a plain scalar as YAML 1.2's core schema does (10.3.2): null, booleans, integers
/// (decimal, `0o`, `0x`), floats, else a string.
fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return Scalar::Text(text),
        _ => {}
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    let infinite = matches!(unsigned, ".inf" | ".Inf" | ".INF") && text.len() - unsigned.len() <= 1;
    if infinite || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Scalar::NotFinite(text);
    }
    for (prefix, radix) in [("0o", 8), ("0x", 16)] {
        if let Some(digits) = text.strip_prefix(prefix) {
            return match bigdecimal::num_bigint::BigInt::parse_bytes(digits.as_bytes(), radix) {
                Some(integer) if !digits.is_empty() => {
                    Scalar::Number(Decimal::from_integer(integer), text)
                }
                _ => Scalar::Text(text),
            };
        }
    }
    // The core schema's number forms; `_` is not one of them in YAML.
    if text.contains('_') || !looks_numeric(text) {
        return Scalar::Text(text);
    }
    match Decimal::parse(text) {
        Ok(number) => Scalar::Number(number, text),
        Err(super::decimal::NotANumber::OutOfRange) => Scalar::NotFinite(text),
        Err(super::decimal::NotANumber::Syntax) => Scalar::Text(text),
    }
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn looks_numeric(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |at: &mut usize| {
        let start = *at;
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at - start
    };
    let whole = digits(&mut at);
    let mut fraction = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        fraction = digits(&mut at);
    }
    if whole == 0 && fraction == 0 {
        return false;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(bytes.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if digits(&mut at) == 0 {
            return false;
        }
    }
    at == bytes.len()
}

/// "line L, column C" of a node (saphyr's markers count lines from 1, columns from 0).
fn position(node: &MarkedYaml<'_>) -> String {
    format!(
        "line {}, column {}",
        node.span.start.line(),
        node.span.start.col() + 1
    )
}

fn scalar<'n>(node: &'n MarkedYaml<'_>) -> Result<Option<Scalar<'n>>, String> {
    let YamlData::Representation(text, style, tag) = &node.data else {
        return Ok(None);
    };
    let text: &'n str = text.as_ref();
    let quoted = !matches!(style, ScalarStyle::Plain);
    let resolved = match tag.as_deref() {
        None if quoted => Scalar::Text(text),
        None => resolve_plain(text),
        Some(tag) if tag.is_yaml_core_schema() => match tag.suffix.as_str() {
            "str" | "bool" => Scalar::Text(text),
            "null" => Scalar::Null,
            "int" | "float" => match resolve_plain(text) {
                number @ (Scalar::Number(..) | Scalar::NotFinite(_)) => number,
                _ => {
                    return Err(format!(
                        "{}: `{text}` is tagged `!!{}` but is not a number",
                        position(node),
                        tag.suffix
                    ));
                }
            },
            other => {
                return Err(format!(
                    "{}: the tag `!!{other}` cannot be read as a metric",
                    position(node)
                ));
            }
        },
        Some(tag) => {
            return Err(format!(
                "{}: the tag `{tag}` cannot be read as a metric; remove it",
                position(node)
            ));
        }
    };
    Ok(Some(resolved))
}

/// The name a mapping key gives its value; `None` for the merge key `<<`.
fn key_name(key: &MarkedYaml<'_>) -> Result<Option<String>, String> {
    if let YamlData::Representation(text, ScalarStyle::Plain, None) = &key.data
        && text == "<<"
    {
        return Ok(None);
    }
    match scalar(key)? {
        Some(Scalar::Null) => Ok(Some("null".to_owned())),
        // An integer key is named by its value (`0x10` is 16), as a YAML reader sees it.
        Some(Scalar::Number(number, written)) => Ok(Some(if written.contains(['.', 'e', 'E']) {
            written.to_owned()
        } else {
            number.to_string()
        })),
        Some(Scalar::NotFinite(text) | Scalar::Text(text)) => Ok(Some(text.to_owned())),
        None => Err(format!(
            "{}: a list or mapping used as a key cannot name a metric",
            position(key)
        )),
    }
}

/// A mapping's entries with its merge keys applied (YAML's merge key type): the keys
/// written in it first, then each merged mapping's keys it does not have, the earlier
/// merged mapping winning.
fn entries<'n>(
    node: &'n MarkedYaml<'n>,
    depth: usize,
) -> Result<Vec<(String, &'n MarkedYaml<'n>)>, String> {
    let YamlData::Mapping(mapping) = &node.data else {
        return Err(format!(
            "{}: only a mapping (or a list of mappings) can be merged with `<<`",
            position(node)
        ));
    };
    if depth > MAX_MERGE_DEPTH {
        return Err(format!(
            "{}: merge keys nest deeper than {MAX_MERGE_DEPTH} levels",
            position(node)
        ));
    }
    let mut own = Vec::new();
    let mut merged: Vec<&MarkedYaml<'_>> = Vec::new();
    for (key, value) in mapping {
        match key_name(key)? {
            Some(name) => own.push((name, value)),
            None => match &value.data {
                YamlData::Sequence(sources) => merged.extend(sources.iter()),
                _ => merged.push(value),
            },
        }
    }
    let mut seen: std::collections::HashSet<String> =
        own.iter().map(|(name, _)| name.clone()).collect();
    let mut all = own;
    for source in merged {
        for (name, value) in entries(source, depth + 1)? {
            if seen.insert(name.clone()) {
                all.push((name, value));
            }
        }
    }
    Ok(all)
}

fn flatten(
    node: &MarkedYaml<'_>,
    path: &mut Vec<String>,
    out: &mut Flattener,
) -> Result<(), String> {
    match &node.data {
        YamlData::Mapping(_) => {
            for (name, value) in entries(node, 0)? {
                path.push(name);
                flatten(value, path, out)?;
                path.pop();
            }
            Ok(())
        }
        YamlData::Sequence(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                flatten(item, path, out)?;
                path.pop();
            }
            Ok(())
        }
        YamlData::Tagged(tag, _) => Err(format!(
            "{}: the tag `{tag}` cannot be read as metrics; remove it",
            position(node)
        )),
        YamlData::Representation(..) => {
            let metric = match scalar(node)? {
                // A null is a missing value: no metric.
                None | Some(Scalar::Null) => return Ok(()),
                Some(Scalar::Number(number, text)) => Metric {
                    value: Some(number),
                    text: text.to_owned(),
                },
                Some(Scalar::NotFinite(text) | Scalar::Text(text)) => Metric {
                    value: None,
                    text: text.to_owned(),
                },
            };
            out.leaf(path, &position(node), metric)
        }
        // Scalars are never parsed early here; an unknown alias is a syntax error above.
        YamlData::Value(_) | YamlData::Alias(_) | YamlData::BadValue => {
            Err(format!("{}: this value could not be read", position(node)))
        }
    }
}

/// A JSON or YAML metrics file.
pub fn parse_yaml(text: &str) -> Result<Metrics, String> {
    let Some(root) = crate::spec::load::load_raw(text)? else {
        return Err("the file is empty; expected a mapping of metric names to values".to_owned());
    };
    if !matches!(root.data, YamlData::Mapping(_)) {
        return Err("expected a mapping of metric names to values".to_owned());
    }
    let mut out = Flattener::new();
    flatten(&root, &mut Vec::new(), &mut out)?;
    Ok(out.metrics)
}

// ---------------------------------------------------------------------------------------------
// TOML

/// A TOML metrics file (DVC reads `.toml` metrics too).
pub fn parse_toml(text: &str) -> Result<Metrics, String> {
    let table = toml::de::DeTable::parse(text).map_err(|error| {
        // The error's own text starts with "TOML parse error at line L, column C".
        error
            .to_string()
            .trim_end()
            .replace('\n', " ")
            .replace("  ", " ")
    })?;
    let position = |span: std::ops::Range<usize>| {
        let before = &text[..span.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        format!("line {line}, column {column}")
    };
    let mut out = Flattener::new();
    let mut path = Vec::new();
    flatten_toml_table(table.get_ref(), &mut path, &mut out, &position)?;
    Ok(out.metrics)
}

fn flatten_toml_table(
    table: &toml::de::DeTable<'_>,
    path: &mut Vec<String>,
    out: &mut Flattener,
    position: &dyn Fn(std::ops::Range<usize>) -> String,
) -> Result<(), String> {
    for (key, value) in table {
        path.push(key.get_ref().to_string());
        flatten_toml(value, path, out, position)?;
        path.pop();
    }
    Ok(())
}

fn flatten_toml(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    path: &mut Vec<String>,
    out: &mut Flattener,
    position: &dyn Fn(std::ops::Range<usize>) -> String,
) -> Result<(), String> {
    use toml::de::DeValue;
    let at = position(value.span());
    let metric = match value.get_ref() {
        DeValue::Table(table) => return flatten_toml_table(table, path, out, position),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                path.push(index.to_string());
                flatten_toml(item, path, out, position)?;
                path.pop();
            }
            return Ok(());
        }
        DeValue::Integer(integer) => {
            let digits: String = integer.as_str().chars().filter(|c| *c != '_').collect();
            let number =
                bigdecimal::num_bigint::BigInt::parse_bytes(digits.as_bytes(), integer.radix())
                    .map(Decimal::from_integer);
            Metric {
                value: number,
                text: integer.to_string(),
            }
        }
        DeValue::Float(float) => Metric {
            value: Decimal::parse(float.as_str()).ok(),
            text: float.to_string(),
        },
        DeValue::Boolean(flag) => Metric {
            value: None,
            text: flag.to_string(),
        },
        DeValue::String(text) => Metric {
            value: None,
            text: text.to_string(),
        },
        DeValue::Datetime(datetime) => Metric {
            value: None,
            text: datetime.to_string(),
        },
    };
    out.leaf(path, &at, metric)
}
