#![doc = include_str!("../../docs/codes/promotion-order.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::graph::{EdgeKind, NodeKind};
use crate::spec::load::escape_pointer_token;

/// A deployment to a later environment must come after a deployment of the same model to every
/// earlier environment (environments are promoted in the order they are written).
pub struct PromotionOrder;

impl Rule for PromotionOrder {
    fn code(&self) -> Code {
        Code::PromotionOrder
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        let environments = &cx.config.environments;
        // (model, environment) -> deployments, so each check is a lookup, not a scan.
        let mut placed: std::collections::HashMap<(&str, &str), Vec<&String>> =
            std::collections::HashMap::new();
        for (other_name, other) in &cx.config.deployments {
            placed
                .entry((other.model.as_str(), other.environment.as_str()))
                .or_default()
                .push(other_name);
        }
        for (name, deployment) in &cx.config.deployments {
            if cx.is_incomplete(name) {
                continue; // unknown-ref or wrong-ref-kind reports the cause
            }
            let Some(position) = environments.get_index_of(&deployment.environment) else {
                continue;
            };
            let Some(node) = cx.graph.find(NodeKind::Deployment, name) else {
                continue;
            };
            let before = cx.graph.ancestors(node, &[EdgeKind::After]);
            for (earlier, _) in environments.iter().take(position) {
                let same_model_there: &[&String] = placed
                    .get(&(deployment.model.as_str(), earlier.as_str()))
                    .map_or(&[], Vec::as_slice);
                let promoted = same_model_there.iter().any(|other| {
                    cx.graph
                        .find(NodeKind::Deployment, other)
                        .is_some_and(|other| before.contains(&other))
                });
                if promoted {
                    continue;
                }
                let help = match same_model_there.first() {
                    Some(other) => format!("add `{other}` to the `after` of `{name}`"),
                    None => format!(
                        "deploy `{}` to `{earlier}` first, and list that deployment in `after`",
                        deployment.model
                    ),
                };
                let pointer = format!("/deployments/{}/environment", escape_pointer_token(name));
                out.push(
                    Diag::error(
                        Code::PromotionOrder,
                        format!(
                            "deployment `{name}` promotes `{}` to `{}` without going through `{earlier}`",
                            deployment.model, deployment.environment
                        ),
                        cx.value_label(&pointer, format!("`{earlier}` comes before this environment")),
                    )
                    .with_related(cx.key_label(&format!("/environments/{}", escape_pointer_token(earlier)), "earlier environment"))
                    .with_help(help),
                );
            }
        }
    }
}
