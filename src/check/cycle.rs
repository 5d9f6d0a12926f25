#![doc = include_str!("../../docs/codes/cycle.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;

/// The graph must have no cycle; each one is shown as its full path, every hop labelled.
pub struct Cycle;

impl Rule for Cycle {
    fn code(&self) -> Code {
        Code::Cycle
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        for cycle in cx.graph.cycles() {
            let hops: Vec<_> = cycle
                .iter()
                .filter_map(|&edge| {
                    cx.graph
                        .endpoints(edge)
                        .map(|(from, to)| (from, to, cx.graph.edge(edge)))
                })
                .collect();
            let Some(&(start, _, _)) = hops.first() else {
                continue;
            };
            // Read the path in the direction people think: "a needs b needs a".
            let mut path: Vec<&str> = hops
                .iter()
                .rev()
                .map(|&(_, to, _)| cx.graph.node(to).name.as_str())
                .collect();
            path.push(
                cx.graph
                    .node(hops.last().map_or(start, |&(_, to, _)| to))
                    .name
                    .as_str(),
            );
            let mut labels = hops.iter().rev().map(|&(from, to, edge)| {
                let what = match edge.kind {
                    crate::graph::EdgeKind::Needs => "needs",
                    crate::graph::EdgeKind::Judges => "judges",
                    crate::graph::EdgeKind::Ships => "ships",
                    crate::graph::EdgeKind::After => "comes after",
                };
                cx.value_label(
                    &edge.pointer,
                    format!(
                        "`{}` {what} `{}`",
                        cx.graph.node(to).name,
                        cx.graph.node(from).name
                    ),
                )
            });
            let Some(primary) = labels.next() else {
                continue;
            };
            let mut diag = Diag::error(
                Code::Cycle,
                format!("dependency cycle: {}", path.join(" -> ")),
                primary,
            )
            .with_help("remove one of these references so the steps can run in order");
            diag.related.extend(labels);
            out.push(diag);
        }
    }
}
