#![doc = include_str!("../../docs/codes/missing-approval.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::graph::NodeKind;
use crate::spec::load::escape_pointer_token;

/// A deployment to an environment with `requires_approval: true` must have an approval for that
/// environment among its transitive `after`.
pub struct MissingApproval;

impl Rule for MissingApproval {
    fn code(&self) -> Code {
        Code::MissingApproval
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, deployment) in &cx.config.deployments {
            if cx.is_incomplete(name) {
                continue; // unknown-ref or wrong-ref-kind reports the cause
            }
            let Some(environment) = cx.config.environments.get(&deployment.environment) else {
                continue;
            };
            if !environment.requires_approval {
                continue;
            }
            let Some(node) = cx.graph.find(NodeKind::Deployment, name) else {
                continue;
            };
            let approved = !crate::plan::approvals_gating(cx.config, cx.graph, node).is_empty();
            if approved {
                continue;
            }
            let pointer = format!("/deployments/{}/environment", escape_pointer_token(name));
            let environment_pointer = format!(
                "/environments/{}/requires_approval",
                escape_pointer_token(&deployment.environment)
            );
            let candidates: Vec<&String> = cx
                .config
                .approvals
                .iter()
                .filter(|(_, approval)| approval.environment == deployment.environment)
                .map(|(approval_name, _)| approval_name)
                .collect();
            let help = match candidates.first() {
                Some(approval) => format!("add `{approval}` to the `after` of `{name}`"),
                None => format!(
                    "define an approval with `environment: {}` under `approvals:` and add it to the `after` of `{name}`",
                    deployment.environment
                ),
            };
            out.push(
                Diag::error(
                    Code::MissingApproval,
                    format!(
                        "deployment `{name}` to `{}` has no approval before it",
                        deployment.environment
                    ),
                    cx.value_label(&pointer, "this environment requires an approval"),
                )
                .with_related(cx.value_label(&environment_pointer, "approval required here"))
                .with_help(help),
            );
        }
    }
}
