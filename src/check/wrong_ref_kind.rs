#![doc = include_str!("../../docs/codes/wrong-ref-kind.md")]

use super::{CheckCtx, NameKind, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::graph::NodeKind;
use crate::suggest::did_you_mean;

/// A reference must name something of an allowed kind: `needs` takes data or trainings,
/// `after` takes gates, approvals or deployments, and so on.
pub struct WrongRefKind;

impl Rule for WrongRefKind {
    fn code(&self) -> Code {
        Code::WrongRefKind
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for reference in &cx.references {
            let mut found = cx.definitions_of(reference.name).peekable();
            let Some(definition) = found.peek().copied() else {
                continue;
            };
            if cx
                .definitions_of(reference.name)
                .any(|definition| reference.allowed.contains(&definition.kind))
            {
                continue;
            }
            let nouns = reference.allowed_list();
            let candidates = cx
                .definitions
                .iter()
                .filter(|candidate| reference.allowed.contains(&candidate.kind))
                .map(|candidate| candidate.name);
            // `after: [churn]` names a training where a gate is meant: name its gates.
            let gates_of_training: Vec<&str> = if definition.kind
                == NameKind::Node(NodeKind::Training)
                && reference.allowed.contains(&NameKind::Node(NodeKind::Gate))
            {
                cx.config
                    .gates
                    .iter()
                    .filter(|(_, gate)| gate.training == reference.name)
                    .map(|(gate, _)| gate.as_str())
                    .collect()
            } else {
                Vec::new()
            };
            let help = match (
                gates_of_training.as_slice(),
                did_you_mean(reference.name, candidates),
            ) {
                ([gate], _) => format!(
                    "{} takes {nouns}; to wait for the gate that judges `{}`, write `{gate}`",
                    reference.field(),
                    reference.name
                ),
                ([_, ..], _) => format!(
                    "{} takes {nouns}; the gates that judge `{}` are {}",
                    reference.field(),
                    reference.name,
                    gates_of_training
                        .iter()
                        .map(|gate| format!("`{gate}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ([], Some(close)) => {
                    format!(
                        "{} takes {nouns}; did you mean `{close}`?",
                        reference.field()
                    )
                }
                ([], None) => format!("{} takes {nouns}", reference.field()),
            };
            out.push(
                Diag::error(
                    Code::WrongRefKind,
                    format!(
                        "`{}` is a {}, but {} takes {nouns}",
                        reference.name,
                        definition.kind.noun(),
                        reference.field()
                    ),
                    cx.value_label(
                        &reference.pointer(),
                        format!("this is a {}", definition.kind.noun()),
                    ),
                )
                .with_related(cx.key_label(
                    &definition.pointer(),
                    format!("{} defined here", definition.kind.noun()),
                ))
                .with_help(help),
            );
        }
    }
}
