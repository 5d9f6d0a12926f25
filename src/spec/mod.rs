//! Stages 1 and 2: text -> [`Document`] (YAML with spans) -> schema check -> typed [`Config`].
//!
//! [`parse`] runs both and returns whatever it could build, plus every problem found, so that a
//! file with an unknown field still gets its semantic rules checked.

pub mod load;
pub mod model;
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
    // Deserialized from the value itself, not a reference: strings move into the model instead
    // of being copied, and the value's allocations are not all freed one by one afterwards.
    let config = match serde_path_to_error::deserialize::<_, Config>(value) {
        Ok(config) => Some(config),
        Err(error) => {
            // The schema is generated from `Config`, so a document it accepts deserializes; when
            // it did not accept it, the schema errors already say why.
            if schema_ok {
                let pointer = path_to_pointer(&error.path().to_string());
                diags.push(Diag::error(
                    Code::WrongType,
                    format!(
                        "cannot read {}: {}",
                        schema::describe_pointer(&pointer),
                        error.inner()
                    ),
                    Label::new(spans.value_span(&pointer), "unexpected value"),
                ));
            }
            None
        }
    };
    // The JSON value became the typed model; later stages only need positions.
    Parsed {
        spans: Some(spans),
        config,
        diags,
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
