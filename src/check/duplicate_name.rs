#![doc = include_str!("../../docs/codes/duplicate-name.md")]

use std::collections::HashMap;

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;

/// Names are unique across all sections, because `needs` and `after` use bare names.
pub struct DuplicateName;

impl Rule for DuplicateName {
    fn code(&self) -> Code {
        Code::DuplicateName
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        let mut first_seen = HashMap::new();
        for definition in &cx.definitions {
            let Some(first) = first_seen.get(definition.name).copied() else {
                first_seen.insert(definition.name, definition);
                continue;
            };
            out.push(
                Diag::error(
                    Code::DuplicateName,
                    format!(
                        "name `{}` is used by {} `{}` and {} `{}`",
                        definition.name,
                        first.kind.noun(),
                        first.name,
                        definition.kind.noun(),
                        definition.name
                    ),
                    cx.key_label(&definition.pointer(), format!("second use, in `{}`", definition.kind.section())),
                )
                .with_related(cx.key_label(&first.pointer(), format!("first used here, in `{}`", first.kind.section())))
                .with_help(format!(
                    "references name entries without their section, so names must be unique; rename one, e.g. `{}-{}`",
                    definition.name,
                    definition.kind.noun().replace(' ', "-")
                )),
            );
        }
    }
}
