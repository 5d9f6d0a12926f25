#![doc = include_str!("../../docs/codes/unknown-metric.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;
use crate::suggest::did_you_mean;

/// When the training's metrics file is in the checkout (written by an earlier run, or
/// committed), each gate rule's metric should be one of its names; a typo would otherwise only
/// show when the gate fails in CI with "metric missing".
pub struct UnknownMetric;

impl Rule for UnknownMetric {
    fn code(&self) -> Code {
        Code::UnknownMetric
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (gate_name, gate) in &cx.config.gates {
            let Some(file) = cx
                .config
                .training
                .get(&gate.training)
                .and_then(|training| training.metrics.as_deref())
            else {
                continue;
            };
            let Some(bytes) = cx.repo.read(file) else {
                continue;
            };
            // An unreadable metrics file is the gate's business when it runs, not this rule's.
            let Ok(metrics) = crate::metrics::parse(&bytes, crate::metrics::Format::of(file))
            else {
                continue;
            };
            for (position, rule) in gate.rules.iter().enumerate() {
                if metrics.contains_key(&rule.metric) {
                    continue;
                }
                let pointer = format!(
                    "/gates/{}/rules/{position}/metric",
                    escape_pointer_token(gate_name)
                );
                let help = match did_you_mean(&rule.metric, metrics.keys().map(String::as_str)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!(
                        "`{file}` has: {}",
                        metrics
                            .keys()
                            .take(8)
                            .map(|name| format!("`{name}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                out.push(
                    Diag::warning(
                        Code::UnknownMetric,
                        format!(
                            "gate `{gate_name}` judges `{}`, which `{file}` does not have",
                            rule.metric
                        ),
                        cx.value_label(&pointer, "not in the metrics file"),
                    )
                    .with_help(help),
                );
            }
        }
    }
}
