#![doc = include_str!("../../docs/codes/conflicting-direction.md")]

use std::collections::HashMap;

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;
use crate::spec::model::Direction;

/// A metric judged as higher-is-better by one rule and lower-is-better by another (for the same
/// training) is almost always a mistake; a warning, since a band (`min` and `max`) can be meant.
pub struct ConflictingDirection;

impl Rule for ConflictingDirection {
    fn code(&self) -> Code {
        Code::ConflictingDirection
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        // (training, metric) -> (direction, field, pointer) of the first rule seen.
        let mut first_seen: HashMap<(&str, &str), (Direction, &str, String)> = HashMap::new();
        let mut warned: Vec<(&str, &str)> = Vec::new();
        for (gate_name, gate) in &cx.config.gates {
            for (position, rule) in gate.rules.iter().enumerate() {
                let Some(&(field, _, direction)) = rule.thresholds().first() else {
                    continue;
                };
                let pointer = format!(
                    "/gates/{}/rules/{position}/{field}",
                    escape_pointer_token(gate_name)
                );
                let key = (gate.training.as_str(), rule.metric.as_str());
                let Some((first_direction, first_field, first_pointer)) = first_seen.get(&key)
                else {
                    first_seen.insert(key, (direction, field, pointer));
                    continue;
                };
                if *first_direction == direction || warned.contains(&key) {
                    continue;
                }
                warned.push(key);
                out.push(
                    Diag::warning(
                        Code::ConflictingDirection,
                        format!(
                            "metric `{}` of training `{}` is judged both as higher-is-better and as lower-is-better",
                            rule.metric, gate.training
                        ),
                        cx.key_label(&pointer, format!("`{field}` treats {} as {}", rule.metric, describe(direction))),
                    )
                    .with_related(cx.key_label(first_pointer, format!("`{first_field}` treats it as {}", describe(*first_direction))))
                    .with_help("if this is a band on purpose, ignore this warning; otherwise use thresholds of one direction"),
                );
            }
        }
    }
}

fn describe(direction: Direction) -> &'static str {
    match direction {
        Direction::HigherIsBetter => "higher-is-better",
        Direction::LowerIsBetter => "lower-is-better",
    }
}
