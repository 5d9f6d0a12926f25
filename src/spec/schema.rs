//! Stage 2: check the [`Document`] against the JSON Schema and map each schema error to a
//! [`Diag`] on the offending key or value.
//!
//! The schema is generated from the typed model (`mlops schema`) and committed as
//! `schemas/mlops.schema.json`, and a test keeps the two identical. The validator is generated
//! from that committed file when `mlops` is built (jsonschema's `validator` macro): the schema is
//! checked against its meta-schema and compiled by the compiler, not by every process that
//! validates. Help text still reads the annotations (`description`, `examples`) from the parsed
//! schema text, and only when there is a problem to explain.

use std::sync::LazyLock;

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::load::{Document, escape_pointer_token};
use super::model::Config;
use crate::codes::Code;
use crate::diag::{Diag, Label};
use crate::suggest::did_you_mean;

/// The committed schema, compiled into the binary.
pub const SCHEMA_TEXT: &str = include_str!("../../schemas/mlops.schema.json");

static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(SCHEMA_TEXT)
        .expect("schemas/mlops.schema.json is valid JSON (tests/schema.rs checks it)")
});

/// The committed schema, compiled into Rust when `mlops` is built. The `regex` engine because
/// every pattern is plain (no look-around) and it compiles them several times faster than
/// `fancy-regex` on first use. `tests::generated_validator_agrees_with_the_runtime_compiler`
/// holds it to the runtime compiler's verdicts.
#[jsonschema::validator(
    path = "schemas/mlops.schema.json",
    draft = Draft7,
    pattern_options = { engine = regex }
)]
struct SchemaValidator;

/// Generate the schema from the model, as `mlops schema` prints it and as it is committed.
///
/// # Panics
/// Never in practice: serializing a generated schema to JSON cannot fail.
#[must_use]
pub fn generate() -> String {
    // Draft-07, not 2020-12: every editor's language server and check-jsonschema know it.
    let root = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Config>();
    let mut schema = serde_json::to_value(root).expect("a generated schema serializes");
    drop_null_defaults(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).expect("a generated schema serializes");
    text.push('\n');
    text
}

/// schemars writes a section's `Default` as its `default`, unset optional fields included
/// (`runner: null`); editors would offer those nulls as completions, so leave them out.
fn drop_null_defaults(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(default)) = map.get_mut("default") {
                default.retain(|_, value| !value.is_null());
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// Validate the document against the schema; one [`Diag`] per problem, on the right span.
/// `text` is the source, so that help can quote what was written (`1.10`, not `1.1`).
#[must_use]
pub fn check(document: &Document, text: &str) -> Vec<Diag> {
    let mut diags = Vec::new();
    for error in SchemaValidator::iter_errors(&document.value) {
        if let Some(diag) = to_diag(document, text, &error) {
            diags.push(diag);
        }
    }
    diags
}

fn to_diag(document: &Document, text: &str, error: &ValidationError<'_>) -> Option<Diag> {
    // These restate rules that `check` reports with a better message: the name pattern
    // (`invalid-name`) and "exactly one threshold" (`gate-rule`). The schema keeps them for
    // editors; showing both would say the same thing twice. The generated validator reports a
    // `propertyNames` failure as the inner keyword's error (a `pattern` on the map), so that one
    // is recognised by where in the schema it arose.
    if error.schema_path().as_str().contains("/propertyNames") {
        return None;
    }
    let pointer = error.instance_path().as_str();
    let spans = &document.spans;
    let value_span = spans.value_span(pointer);
    let at = describe_pointer(pointer);
    let diag = match error.kind() {
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. } => {
            return None;
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let field = unexpected.first()?;
            unknown_field(document, pointer, field, &allowed_fields(pointer), &at)
        }
        ValidationErrorKind::Required { property } => {
            let field = property.as_str().unwrap_or_default();
            Diag::error(
                Code::MissingField,
                format!("missing required field `{field}` in {at}"),
                Label::new(
                    spans.key_span(pointer),
                    format!("`{field}` is missing here"),
                ),
            )
            .with_help(field_help(pointer, field))
        }
        ValidationErrorKind::Type { kind } => type_diag(document, text, pointer, kind, &at),
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. }
            if !enum_choices(pointer).is_empty() =>
        {
            enum_diag(error.instance(), &enum_choices(pointer), value_span, &at)
        }
        // A mapping where the field takes a mapping or something else (an optional section,
        // `params: FILE | { file, keys }`): say what is wrong inside it, as for any mapping.
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. }
            if mapping_problem(document, error.instance(), pointer, &at).is_some() =>
        {
            mapping_problem(document, error.instance(), pointer, &at)?
        }
        ValidationErrorKind::AnyOf { .. } | ValidationErrorKind::OneOfNotValid { .. } => {
            let expected = subschema_at(pointer)
                .and_then(|schema| schema.get("description"))
                .and_then(Value::as_str);
            Diag::error(
                Code::WrongType,
                format!("{at} has the wrong shape"),
                Label::new(
                    value_span,
                    format!("found {}", describe_value(error.instance())),
                ),
            )
            .with_help(expected.map_or_else(
                || "see `mlops schema`".to_owned(),
                |text| format!("expected: {text}"),
            ))
        }
        ValidationErrorKind::Enum { options } => {
            let choices: Vec<&str> = options
                .as_array()
                .map(|all| all.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            enum_diag(error.instance(), &choices, value_span, &at)
        }
        _ => Diag::error(
            Code::InvalidValue,
            format!("invalid value for {at}: {}", error.masked()),
            Label::new(value_span, "invalid value"),
        ),
    };
    Some(diag)
}

fn enum_diag(found: &Value, choices: &[&str], span: std::ops::Range<usize>, at: &str) -> Diag {
    let mut diag = Diag::error(
        Code::InvalidValue,
        format!("{} is not a valid value for {at}", describe_value(found)),
        Label::new(span, "not one of the allowed values"),
    );
    let suggestion = found
        .as_str()
        .and_then(|text| did_you_mean(text, choices.iter().copied()));
    diag.help = Some(match suggestion {
        Some(close) => format!("did you mean `{close}`? (allowed: {})", choices.join(", ")),
        None => format!("allowed values: {}", choices.join(", ")),
    });
    diag
}

/// The allowed strings of an enum field. schemars writes a documented enum as a `oneOf` of
/// `const`s (one per variant, with its doc), and a plain one as `enum`.
fn enum_choices(pointer: &str) -> Vec<&'static str> {
    let Some(schema) = subschema_at(pointer) else {
        return Vec::new();
    };
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().filter_map(Value::as_str).collect();
    }
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array);
    let Some(branches) = branches else {
        return Vec::new();
    };
    let choices: Option<Vec<&str>> = branches
        .iter()
        .map(|branch| branch.get("const").and_then(Value::as_str))
        .collect();
    choices.unwrap_or_default()
}

/// JSON Schema's type names, in the words a YAML author uses.
fn yaml_type_name(json_type: &str) -> &str {
    match json_type {
        "array" => "list",
        "object" => "mapping",
        "integer" => "whole number",
        other => other,
    }
}

fn type_diag(document: &Document, text: &str, pointer: &str, kind: &TypeKind, at: &str) -> Diag {
    let found = document.value.pointer(pointer).unwrap_or(&Value::Null);
    let expected = match kind {
        TypeKind::Single(single) => yaml_type_name(&single.to_string()).to_owned(),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|one| yaml_type_name(&one.to_string()).to_owned())
            .collect::<Vec<_>>()
            .join(" or "),
    };
    let span = document.spans.value_span(pointer);
    let written = text.get(span.clone()).unwrap_or_default().trim();
    let mut diag = Diag::error(
        Code::WrongType,
        format!(
            "{at} must be {} {expected}, not {}",
            article(&expected),
            describe_value(found)
        ),
        Label::new(span, format!("expected {expected}")),
    );
    diag.help = Some(match (expected.as_str(), found) {
        // YAML 1.2 reads `yes`/`no`/`on`/`off` as strings; a YAML 1.1 habit must not be applied
        // silently, so say what happened.
        ("boolean", Value::String(text)) if is_yaml11_boolean(text) => {
            let meant = matches!(text.to_ascii_lowercase().as_str(), "yes" | "y" | "on");
            format!("`{text}` is a string in YAML 1.2; write `{meant}`")
        }
        ("string", Value::Number(_) | Value::Bool(_)) => {
            format!("quote the value to keep it as text: \"{written}\"")
        }
        ("list", Value::String(_)) => format!("write a list: [{written}]"),
        ("mapping", Value::Null) => "this section is empty; remove it or add entries".to_owned(),
        _ => format!("{at} takes {} {expected}", article(&expected)),
    });
    diag
}

fn is_yaml11_boolean(text: &str) -> bool {
    matches!(
        text.to_ascii_lowercase().as_str(),
        "yes" | "no" | "on" | "off" | "y" | "n"
    )
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "null (empty)".to_owned(),
        Value::Bool(flag) => format!("the boolean `{flag}`"),
        Value::Number(number) => format!("the number `{number}`"),
        Value::String(text) => format!("the string `{text}`"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// `/training/churn/needs/0` -> "`training.churn.needs[0]`"; the root is "the file".
#[must_use]
pub fn describe_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the top level".to_owned();
    }
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    format!("`{out}`")
}

/// `field` is not one of `allowed` in the mapping at `pointer`.
fn unknown_field(
    document: &Document,
    pointer: &str,
    field: &str,
    allowed: &[String],
    at: &str,
) -> Diag {
    let field_pointer = format!("{pointer}/{}", escape_pointer_token(field));
    Diag::error(
        Code::UnknownField,
        format!("unknown field `{field}` in {at}"),
        Label::new(document.spans.key_span(&field_pointer), "unknown field"),
    )
    .with_help(
        match did_you_mean(field, allowed.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("known fields here: {}", allowed.join(", ")),
        },
    )
}

/// For a mapping at `pointer` whose schema offers a mapping among other shapes: the first
/// unknown or missing field of that mapping shape, if that is what is wrong.
fn mapping_problem(document: &Document, found: &Value, pointer: &str, at: &str) -> Option<Diag> {
    let map = found.as_object()?;
    let schema = subschema_at(pointer)?;
    let branch = if schema.get("properties").is_some() {
        schema
    } else {
        schema
            .get("anyOf")?
            .as_array()?
            .iter()
            .filter_map(resolve)
            .find(|branch| branch.get("properties").is_some())?
    };
    let allowed: Vec<String> = branch
        .get("properties")?
        .as_object()?
        .keys()
        .cloned()
        .collect();
    if let Some(field) = map.keys().find(|field| !allowed.contains(field)) {
        return Some(unknown_field(document, pointer, field, &allowed, at));
    }
    let required = branch.get("required").and_then(Value::as_array)?;
    let missing = required
        .iter()
        .filter_map(Value::as_str)
        .find(|field| !map.contains_key(*field))?;
    Some(
        Diag::error(
            Code::MissingField,
            format!("missing required field `{missing}` in {at}"),
            Label::new(
                document.spans.key_span(pointer),
                format!("`{missing}` is missing here"),
            ),
        )
        .with_help(format!("add `{missing}:`")),
    )
}

fn field_help(pointer: &str, field: &str) -> String {
    let description = subschema_at(&format!("{pointer}/{}", escape_pointer_token(field)))
        .and_then(|schema| schema.get("description"))
        .and_then(Value::as_str);
    match description {
        Some(text) => format!(
            "add `{field}:` ({})",
            text.trim_end_matches('.').to_lowercase()
        ),
        None => format!("add `{field}:`"),
    }
}

/// The field names the schema allows in the object at `pointer`.
fn allowed_fields(pointer: &str) -> Vec<String> {
    subschema_at(pointer)
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default()
}

/// Follow an instance pointer through the schema (properties, additionalProperties, items,
/// `$ref`, and the first branch of an `anyOf` that leads on) to the subschema describing it.
fn subschema_at(pointer: &str) -> Option<&'static Value> {
    let mut schema = resolve(&SCHEMA)?;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        schema = step(schema, &token)?;
    }
    Some(schema)
}

fn step(schema: &'static Value, token: &str) -> Option<&'static Value> {
    if let Some(next) = schema
        .get("properties")
        .and_then(|properties| properties.get(token))
    {
        return resolve(next);
    }
    if let Some(next) = schema
        .get("additionalProperties")
        .filter(|next| next.is_object())
    {
        return resolve(next);
    }
    if let Some(next) = schema
        .get("items")
        .filter(|_| token.parse::<usize>().is_ok())
    {
        return resolve(next);
    }
    schema
        .get("anyOf")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(resolve)
        .find_map(|branch| step(branch, token))
}

fn resolve(schema: &'static Value) -> Option<&'static Value> {
    let mut current = schema;
    for _ in 0..8 {
        // Draft-07 ignores keywords beside `$ref`, so schemars writes a described reference as
        // `allOf: [{$ref}]` next to its description.
        let only_branch = current
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|branches| branches.len() == 1)
            .and_then(|branches| branches.first());
        match (current.get("$ref").and_then(Value::as_str), only_branch) {
            (Some(reference), _) => current = SCHEMA.pointer(reference.strip_prefix('#')?)?,
            (None, Some(branch)) => current = branch,
            (None, None) => break,
        }
    }
    // `Option<T>` fields come out as `anyOf: [T, null]` or `type: [T, "null"]`; step into T.
    if let Some(branches) = current.get("anyOf").and_then(Value::as_array)
        && branches.len() == 2
        && branches
            .iter()
            .any(|branch| branch.get("type") == Some(&Value::from("null")))
        && let Some(inner) = branches
            .iter()
            .find(|branch| branch.get("type") != Some(&Value::from("null")))
    {
        return resolve(inner);
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{SCHEMA, SchemaValidator};

    /// What an error says, in a form both validators can be compared on: where in the document,
    /// and which schema keyword (a `propertyNames` failure is reported as the keyword itself by
    /// the runtime validator and as the inner `pattern` by the generated one, so both stop at
    /// `propertyNames`).
    fn errors<'a>(found: impl Iterator<Item = jsonschema::ValidationError<'a>>) -> Vec<String> {
        let mut errors: Vec<String> = found
            .map(|error| {
                let schema_path = error.schema_path().as_str();
                let schema_path = schema_path
                    .find("/propertyNames")
                    .map_or(schema_path, |at| {
                        &schema_path[..at + "/propertyNames".len()]
                    });
                format!("{} @ {schema_path}", error.instance_path().as_str())
            })
            .collect();
        errors.sort();
        errors.dedup();
        errors
    }

    fn files_under(folder: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    /// The validator is generated from the committed schema when `mlops` is built. It must judge
    /// every document exactly as jsonschema's runtime compiler judges it against the same schema:
    /// same verdict, same errors at the same places. The documents are every YAML file shipped
    /// with the project (good and bad fixtures, examples, fuzz seeds), plus, when
    /// `MLOPS_SCHEMA_CORPUS` names a folder, every file in it (the fuzzer's corpus).
    #[test]
    fn generated_validator_agrees_with_the_runtime_compiler() {
        let runtime = jsonschema::draft7::options()
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&SCHEMA)
            .expect("the committed schema compiles");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for folder in ["tests/fixtures", "examples", "fuzz/seeds"] {
            files_under(&root.join(folder), &mut files);
        }
        if let Some(corpus) = std::env::var_os("MLOPS_SCHEMA_CORPUS") {
            files_under(Path::new(&corpus), &mut files);
        }
        let (mut compared, mut invalid) = (0, 0);
        for file in &files {
            let bytes = std::fs::read(file).expect("readable");
            let (Some(document), _) = super::super::load::load(&bytes) else {
                continue;
            };
            let generated = errors(SchemaValidator::iter_errors(&document.value));
            let compiled = errors(runtime.iter_errors(&document.value));
            assert_eq!(generated, compiled, "{}", file.display());
            assert_eq!(
                SchemaValidator::is_valid(&document.value),
                runtime.is_valid(&document.value),
                "{}",
                file.display()
            );
            compared += 1;
            invalid += usize::from(!generated.is_empty());
        }
        eprintln!("{compared} documents compared, {invalid} with schema errors");
        // Both verdicts must have been exercised, or the comparison proves nothing.
        assert!(compared >= 50 && invalid >= 10, "{compared} / {invalid}");
    }
}
