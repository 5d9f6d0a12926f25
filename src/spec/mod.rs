//! Stages 1 and 2: text -> [`Document`] (YAML with spans) -> schema check -> typed [`Config`].
//!
//! [`parse`] runs both and returns whatever it could build, plus every problem found, so that a
//! file with an unknown field still gets its semantic rules checked.

pub mod load;
pub mod model;
mod scan;
pub mod schema;

pub use load::{Document, SpanIndex};
pub use model::Config;

use crate::codes::Code;
use crate::diag::{Diag, Label};

/// The result of reading a config: where each node is written (unless the YAML was unreadable),
/// the typed model (unless a value had the wrong type), and every problem found so far.
#[derive(Debug)]
pub struct Parsed {
    /// Key and value positions by JSON pointer.
    pub spans: Option<SpanIndex>,
    /// The typed model.
    pub config: Option<Config>,
    /// Problems from loading and from the schema.
    pub diags: Vec<Diag>,
}

/// Load, schema-check and deserialize config bytes.
#[must_use]
pub fn parse(bytes: &[u8]) -> Parsed {
    let (document, mut diags) = load::load(bytes);
    let Some(document) = document else {
        return Parsed {
            spans: None,
            config: None,
            diags,
        };
    };
    let text = std::str::from_utf8(bytes).unwrap_or_default();
    let schema_diags = schema::check(&document, text);
    let schema_ok = schema_diags.is_empty();
    diags.extend(schema_diags);
    let Document { value, spans } = document;
    let config = typed(value, bytes, schema_ok, &spans, &mut diags);
    // The JSON value became the typed model; later stages only need positions.
    Parsed {
        spans: Some(spans),
        config,
        diags,
    }
}

/// The typed model of a loaded `value` (of `bytes`), or `None` with the reason in `diags` when
/// the schema (`schema_ok`: it accepted the file) has not given one already.
fn typed(
    value: serde_json::Value,
    bytes: &[u8],
    schema_ok: bool,
    spans: &SpanIndex,
    diags: &mut Vec<Diag>,
) -> Option<Config> {
    // Deserialized from the value itself, not a reference: strings move into the model instead
    // of being copied, and the value's allocations are not all freed one by one afterwards.
    // Without tracking the path: that cost a string per key (a tenth of parsing at 1,000
    // models), and is only needed to say where a value did not read, which the schema has
    // said already unless it accepted the file.
    match <Config as serde::Deserialize>::deserialize(value) {
        Ok(config) => Some(config),
        Err(_) if !schema_ok => None,
        Err(untracked) => {
            // The schema is generated from `Config`, so a document it accepts deserializes:
            // this is a bug, and the value is read again (the same text loads the same way),
            // tracking the path this time, to say where.
            let tracked = load::load(bytes)
                .0
                .map(|document| serde_path_to_error::deserialize::<_, Config>(document.value));
            let (pointer, message) = match tracked {
                Some(Err(error)) => (
                    path_to_pointer(&error.path().to_string()),
                    error.inner().to_string(),
                ),
                _ => (String::new(), untracked.to_string()),
            };
            diags.push(Diag::error(
                Code::WrongType,
                format!(
                    "cannot read {}: {message}",
                    schema::describe_pointer(&pointer)
                ),
                Label::new(spans.value_span(&pointer), "unexpected value"),
            ));
            None
        }
    }
}

/// `serde_path_to_error` prints `training.churn.needs[0]`; turn it into a JSON pointer.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut pointer = String::new();
    for part in path.split('.') {
        let (name, indices) = part
            .split_once('[')
            .map_or((part, ""), |(name, rest)| (name, rest));
        if !name.is_empty() {
            pointer.push('/');
            pointer.push_str(&load::escape_pointer_token(name));
        }
        for index in indices.split('[').filter(|index| !index.is_empty()) {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value the schema accepted and the model cannot read (a bug, out of reach of any
    /// input the schema checks) is still reported, where it is written.
    #[test]
    fn a_value_the_model_cannot_read_is_reported_where_it_is_written() {
        let text = b"version: 1\nproject: 5\n";
        let (document, _) = load::load(text);
        let document = document.unwrap();
        let mut diags = Vec::new();
        let config = typed(document.value, text, true, &document.spans, &mut diags);
        assert!(config.is_none());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, Code::WrongType);
        assert!(
            diags[0].message.starts_with("cannot read `project`"),
            "{}",
            diags[0].message
        );
        assert_eq!(diags[0].primary.span, 20..21);
        // When the schema has spoken, nothing is added.
        let (document, _) = load::load(text);
        let document = document.unwrap();
        let mut diags = Vec::new();
        assert!(typed(document.value, text, false, &document.spans, &mut diags).is_none());
        assert!(diags.is_empty());
    }
}
