#![doc = include_str!("../../docs/codes/invalid-name.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;

/// Names must be lowercase DNS-label-like: they become job ids, Kubernetes names and file names.
pub struct InvalidName;

/// `^[a-z0-9][a-z0-9-]{0,62}$`, checked by hand: this is the one pattern, and a regex would
/// cost start-up time on every run for four lines of logic.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

fn suggestion(name: &str) -> String {
    let mut fixed: String = name
        .to_lowercase()
        .chars()
        .map(|character| {
            if character.is_ascii_lowercase() || character.is_ascii_digit() {
                character
            } else {
                '-'
            }
        })
        .collect();
    while fixed.contains("--") {
        fixed = fixed.replace("--", "-");
    }
    let fixed = fixed.trim_matches('-');
    fixed.chars().take(63).collect()
}

impl Rule for InvalidName {
    fn code(&self) -> Code {
        Code::InvalidName
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for definition in &cx.definitions {
            if is_valid_name(definition.name) {
                continue;
            }
            let fixed = suggestion(definition.name);
            let mut diag = Diag::error(
                Code::InvalidName,
                format!(
                    "invalid {} name `{}`",
                    definition.kind.noun(),
                    definition.name
                ),
                cx.key_label(
                    &definition.pointer(),
                    "names are lowercase letters, digits and `-`, at most 63 long",
                ),
            );
            // Only suggest a rename for ASCII names: `événements` -> `v-nements` helps nobody.
            if definition.name.is_ascii() && !fixed.is_empty() && is_valid_name(&fixed) {
                diag = diag.with_help(format!(
                    "rename it to `{fixed}` (and update its references)"
                ));
            } else {
                diag = diag.with_help(
                    "start with a lowercase letter or digit; use only `a-z`, `0-9` and `-`",
                );
            }
            out.push(diag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_name;

    #[test]
    fn name_pattern() {
        assert!(is_valid_name("churn"));
        assert!(is_valid_name("0day-model"));
        assert!(is_valid_name(&"a".repeat(63)));
        assert!(!is_valid_name(&"a".repeat(64)));
        assert!(!is_valid_name("-churn"));
        assert!(!is_valid_name("Churn"));
        assert!(!is_valid_name("churn_model"));
        assert!(!is_valid_name(""));
    }
}
