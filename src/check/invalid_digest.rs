#![doc = include_str!("../../docs/codes/invalid-digest.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// A data source's `sha256` is 64 hexadecimal digits.
pub struct InvalidDigest;

impl Rule for InvalidDigest {
    fn code(&self) -> Code {
        Code::InvalidDigest
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, data) in &cx.config.data {
            let Some(digest) = &data.sha256 else { continue };
            let bare = digest.strip_prefix("sha256:").unwrap_or(digest);
            let bad_character = bare
                .char_indices()
                .find(|(_, character)| !character.is_ascii_hexdigit());
            if bare.len() == 64 && bad_character.is_none() {
                continue;
            }
            let pointer = format!("/data/{}/sha256", escape_pointer_token(name));
            let (message, label) = match bad_character {
                Some((at, character)) => {
                    let at = at + (digest.len() - bare.len());
                    (
                        format!(
                            "`sha256` of data set `{name}` contains `{character}`, which is not a hexadecimal digit"
                        ),
                        cx.substring_label(
                            &pointer,
                            digest,
                            at..at + character.len_utf8(),
                            "not 0-9 or a-f",
                        ),
                    )
                }
                None => (
                    format!(
                        "`sha256` of data set `{name}` has {} digits; a SHA-256 has 64",
                        bare.len()
                    ),
                    cx.value_label(&pointer, format!("{} hex digits", bare.len())),
                ),
            };
            out.push(
                Diag::error(Code::InvalidDigest, message, label)
                    .with_help("paste the full digest, e.g. from `sha256sum FILE`"),
            );
        }
    }
}
