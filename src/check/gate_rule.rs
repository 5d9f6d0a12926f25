#![doc = include_str!("../../docs/codes/gate-rule.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// Each gate rule names one metric and sets exactly one threshold, so that its verdict (and its
/// direction) is unambiguous. Ranges (`max_drop_pct` 0-100, non-negative drops and rises) are in
/// the schema and reported as `invalid-value`.
pub struct GateRule;

impl Rule for GateRule {
    fn code(&self) -> Code {
        Code::GateRule
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for (gate_name, gate) in &cx.config.gates {
            for (position, rule) in gate.rules.iter().enumerate() {
                let pointer = format!(
                    "/gates/{}/rules/{position}",
                    escape_pointer_token(gate_name)
                );
                let thresholds = rule.thresholds();
                match thresholds.as_slice() {
                    [_] => {}
                    [] => out.push(
                        Diag::error(
                            Code::GateRule,
                            format!("rule for `{}` in gate `{gate_name}` sets no threshold", rule.metric),
                            cx.value_label(&format!("{pointer}/metric"), "no threshold for this metric"),
                        )
                        .with_help("add one of `min`, `max_drop`, `max_drop_pct` (higher is better) or `max`, `max_rise`, `max_rise_pct` (lower is better)"),
                    ),
                    [(first, ..), rest @ ..] => {
                        for (extra, ..) in rest {
                            out.push(
                                Diag::error(
                                    Code::GateRule,
                                    format!("rule for `{}` in gate `{gate_name}` sets both `{first}` and `{extra}`", rule.metric),
                                    cx.key_label(&format!("{pointer}/{extra}"), "second threshold in one rule"),
                                )
                                .with_related(cx.key_label(&format!("{pointer}/{first}"), "first threshold"))
                                .with_help(format!("split it into two rules: `{{ metric: {0}, {first}: … }}` and `{{ metric: {0}, {extra}: … }}`", rule.metric)),
                            );
                        }
                    }
                }
            }
        }
    }
}
