#![doc = include_str!("../../docs/codes/ungated-deployment.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::graph::{EdgeKind, NodeKind};
use crate::spec::load::escape_pointer_token;

/// The model a deployment ships must be judged by at least one gate among its transitive
/// `after`, unless the deployment says `ungated: true` (then a warning).
pub struct UngatedDeployment;

impl Rule for UngatedDeployment {
    fn code(&self) -> Code {
        Code::UngatedDeployment
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, deployment) in &cx.config.deployments {
            if cx.is_incomplete(name) {
                continue; // unknown-ref or wrong-ref-kind reports the cause
            }
            let Some(node) = cx.graph.find(NodeKind::Deployment, name) else {
                continue;
            };
            if !cx.config.training.contains_key(&deployment.model) {
                continue; // unknown-ref reports it
            }
            let gated = cx
                .graph
                .ancestors(node, &[EdgeKind::After])
                .into_iter()
                .any(|ancestor| {
                    let ancestor = cx.graph.node(ancestor);
                    ancestor.kind == NodeKind::Gate
                        && cx
                            .config
                            .gates
                            .get(&ancestor.name)
                            .is_some_and(|gate| gate.training == deployment.model)
                });
            if gated {
                continue;
            }
            let escaped = escape_pointer_token(name);
            let model_gates: Vec<&String> = cx
                .config
                .gates
                .iter()
                .filter(|(_, gate)| gate.training == deployment.model)
                .map(|(gate, _)| gate)
                .collect();
            if deployment.ungated {
                out.push(
                    Diag::warning(
                        Code::UngatedDeployment,
                        format!("deployment `{name}` ships `{}` without any gate", deployment.model),
                        cx.value_label(&format!("/deployments/{escaped}/ungated"), "gates skipped on purpose"),
                    )
                    .with_help("a worse model can reach this environment unchecked; add a gate when you can"),
                );
                continue;
            }
            let help = match model_gates.first() {
                Some(gate) => format!("add `{gate}` to the `after` of `{name}`"),
                None => format!(
                    "define a gate with `training: {}` and add it to `after`, or set `ungated: true` to deploy unchecked",
                    deployment.model
                ),
            };
            out.push(
                Diag::error(
                    Code::UngatedDeployment,
                    format!(
                        "deployment `{name}` ships `{}`, which no gate before it checks",
                        deployment.model
                    ),
                    cx.value_label(
                        &format!("/deployments/{escaped}/model"),
                        "no gate on this model in `after`",
                    ),
                )
                .with_help(help),
            );
        }
    }
}
