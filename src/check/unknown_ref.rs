#![doc = include_str!("../../docs/codes/unknown-ref.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::suggest::did_you_mean;

/// Every name in `needs`, `after`, `training`, `model` and `environment` must exist.
pub struct UnknownRef;

impl Rule for UnknownRef {
    fn code(&self) -> Code {
        Code::UnknownRef
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for reference in &cx.references {
            if cx.definitions_of(reference.name).next().is_some() {
                continue;
            }
            let candidates = cx
                .definitions
                .iter()
                .filter(|definition| reference.allowed.contains(&definition.kind))
                .map(|definition| definition.name);
            let nouns = reference.allowed_list();
            let help = if let Some(close) = did_you_mean(reference.name, candidates.clone()) {
                format!("did you mean `{close}`?")
            } else {
                let known: Vec<&str> = candidates.collect();
                if known.is_empty() {
                    format!("there are no {nouns} defined yet")
                } else {
                    format!("known {nouns}: {}", known.join(", "))
                }
            };
            out.push(
                Diag::error(
                    Code::UnknownRef,
                    format!("unknown name `{}` in {}", reference.name, reference.field()),
                    cx.value_label(
                        &reference.pointer(),
                        format!(
                            "no {} is called `{}`",
                            reference.allowed_list_singular(),
                            reference.name
                        ),
                    ),
                )
                .with_help(help),
            );
        }
    }
}
