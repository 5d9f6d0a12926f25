#![doc = include_str!("../../docs/codes/invalid-value.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// Values that are each valid alone but contradict each other: a replica range that runs
/// backwards, more required approvals than reviewers, a data set with neither `uri` nor `run`.
/// Single-value ranges are in the schema; this rule adds the cross-field ones under the same code.
pub struct ConsistentValues;

impl Rule for ConsistentValues {
    fn code(&self) -> Code {
        Code::InvalidValue
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (name, deployment) in &cx.config.deployments {
            let Some(replicas) = &deployment.target.replicas else {
                continue;
            };
            if replicas.min > replicas.max {
                let pointer = format!(
                    "/deployments/{}/target/replicas",
                    escape_pointer_token(name)
                );
                out.push(
                    Diag::error(
                        Code::InvalidValue,
                        format!(
                            "replicas of deployment `{name}`: `min` ({}) is above `max` ({})",
                            replicas.min, replicas.max
                        ),
                        cx.value_label(&format!("{pointer}/min"), "more than `max`"),
                    )
                    .with_related(cx.value_label(&format!("{pointer}/max"), "the maximum"))
                    .with_help("swap the two values, or raise `max`"),
                );
            }
        }
        for (name, approval) in &cx.config.approvals {
            let reviewers = approval.reviewers.len();
            if usize::try_from(approval.min_approvals).is_ok_and(|wanted| wanted > reviewers) {
                let pointer = format!("/approvals/{}", escape_pointer_token(name));
                out.push(
                    Diag::error(
                        Code::InvalidValue,
                        format!(
                            "approval `{name}` wants {} approvals from {reviewers} reviewers",
                            approval.min_approvals
                        ),
                        cx.value_label(
                            &format!("{pointer}/min_approvals"),
                            "more than there are reviewers",
                        ),
                    )
                    .with_related(cx.key_label(&format!("{pointer}/reviewers"), "the reviewers"))
                    .with_help("lower `min_approvals` or add reviewers"),
                );
            }
        }
        for (name, data) in &cx.config.data {
            if data.uri.is_none() && data.run.is_none() {
                out.push(
                    Diag::error(
                        Code::MissingField,
                        format!("data set `{name}` has neither `uri` (an external source) nor `run` (a derived set)"),
                        cx.key_label(&format!("/data/{}", escape_pointer_token(name)), "where does this data come from?"),
                    )
                    .with_help("add `uri:` for a source that exists, or `run:` with the command that builds it"),
                );
            }
        }
    }
}
