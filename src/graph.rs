//! The dependency graph: the one representation every emitter consumes.
//!
//! Nodes are the named entries of the config (data, training, gate, approval, deployment);
//! an edge runs from what must happen first to what depends on it, typed by the field that
//! created it. Nodes are added section by section in the order written, and every traversal
//! breaks ties by that order, so the same file always gives the same graph and the same outputs.
//!
//! [`Graph::build`] resolves names leniently (a reference to something missing or of the wrong
//! kind adds no edge); the `unknown-ref` and `wrong-ref-kind` rules report those. Emitters only
//! ever see graphs of configs that passed every rule.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::Serialize;

use crate::spec::Config;
use crate::spec::load::escape_pointer_token;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// An entry of `data`.
    Data,
    /// An entry of `training`.
    Training,
    /// An entry of `gates`.
    Gate,
    /// An entry of `approvals`.
    Approval,
    /// An entry of `deployments`.
    Deployment,
}

impl NodeKind {
    /// The config section that defines nodes of this kind.
    #[must_use]
    pub fn section(self) -> &'static str {
        match self {
            NodeKind::Data => "data",
            NodeKind::Training => "training",
            NodeKind::Gate => "gates",
            NodeKind::Approval => "approvals",
            NodeKind::Deployment => "deployments",
        }
    }

    /// The kind as a noun, for messages: "data set", "training", ...
    #[must_use]
    pub fn noun(self) -> &'static str {
        match self {
            NodeKind::Data => "data set",
            NodeKind::Training => "training",
            NodeKind::Gate => "gate",
            NodeKind::Approval => "approval",
            NodeKind::Deployment => "deployment",
        }
    }
}

/// Why one node depends on another: the field that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// `data.*.needs` or `training.*.needs`: the upstream data set or training.
    Needs,
    /// `gates.*.training`: the training whose metrics the gate judges.
    Judges,
    /// `deployments.*.model`: the training whose model is deployed.
    Ships,
    /// `deployments.*.after`: a gate, approval or deployment that must pass first.
    After,
}

/// A node: a named config entry.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Its kind.
    pub kind: NodeKind,
    /// Its name, as written.
    pub name: String,
    /// JSON pointer to its entry, such as `/training/churn`.
    #[serde(skip)]
    pub pointer: String,
}

/// An edge: dependency -> dependent.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// The field that created it.
    pub kind: EdgeKind,
    /// JSON pointer to the reference in the dependent's entry, such as `/training/churn/needs/0`.
    #[serde(skip)]
    pub pointer: String,
}

/// The pipeline's dependency graph.
#[derive(Debug, Default)]
pub struct Graph {
    inner: DiGraph<Node, Edge>,
    by_name: HashMap<(NodeKind, String), NodeIndex>,
}

impl Graph {
    /// Build the graph of `config`. References that do not resolve to a node of an allowed kind
    /// are skipped (the rules report them).
    #[must_use]
    pub fn build(config: &Config) -> Graph {
        let mut graph = Graph::default();
        let sections: [(NodeKind, Vec<&String>); 5] = [
            (NodeKind::Data, config.data.keys().collect()),
            (NodeKind::Training, config.training.keys().collect()),
            (NodeKind::Gate, config.gates.keys().collect()),
            (NodeKind::Approval, config.approvals.keys().collect()),
            (NodeKind::Deployment, config.deployments.keys().collect()),
        ];
        for (kind, names) in sections {
            for name in names {
                let pointer = format!("/{}/{}", kind.section(), escape_pointer_token(name));
                let index = graph.inner.add_node(Node {
                    kind,
                    name: name.clone(),
                    pointer,
                });
                graph.by_name.entry((kind, name.clone())).or_insert(index);
            }
        }
        for (name, data) in &config.data {
            graph.link_all(
                NodeKind::Data,
                name,
                "needs",
                &data.needs,
                &[NodeKind::Data],
                EdgeKind::Needs,
            );
        }
        for (name, training) in &config.training {
            let allowed = [NodeKind::Data, NodeKind::Training];
            graph.link_all(
                NodeKind::Training,
                name,
                "needs",
                &training.needs,
                &allowed,
                EdgeKind::Needs,
            );
        }
        for (name, gate) in &config.gates {
            let pointer = format!("/gates/{}/training", escape_pointer_token(name));
            graph.link(
                NodeKind::Gate,
                name,
                &gate.training,
                pointer,
                &[NodeKind::Training],
                EdgeKind::Judges,
            );
        }
        for (name, deployment) in &config.deployments {
            let pointer = format!("/deployments/{}/model", escape_pointer_token(name));
            graph.link(
                NodeKind::Deployment,
                name,
                &deployment.model,
                pointer,
                &[NodeKind::Training],
                EdgeKind::Ships,
            );
            let allowed = [NodeKind::Gate, NodeKind::Approval, NodeKind::Deployment];
            graph.link_all(
                NodeKind::Deployment,
                name,
                "after",
                &deployment.after,
                &allowed,
                EdgeKind::After,
            );
        }
        graph
    }

    fn link_all(
        &mut self,
        kind: NodeKind,
        name: &str,
        field: &str,
        targets: &[String],
        allowed: &[NodeKind],
        edge: EdgeKind,
    ) {
        for (position, target) in targets.iter().enumerate() {
            let pointer = format!(
                "/{}/{}/{field}/{position}",
                kind.section(),
                escape_pointer_token(name)
            );
            self.link(kind, name, target, pointer, allowed, edge);
        }
    }

    fn link(
        &mut self,
        kind: NodeKind,
        name: &str,
        target: &str,
        pointer: String,
        allowed: &[NodeKind],
        edge: EdgeKind,
    ) {
        let Some(&dependent) = self.by_name.get(&(kind, name.to_owned())) else {
            return;
        };
        let Some(dependency) = allowed
            .iter()
            .find_map(|kind| self.by_name.get(&(*kind, target.to_owned())).copied())
        else {
            return;
        };
        self.inner.add_edge(
            dependency,
            dependent,
            Edge {
                kind: edge,
                pointer,
            },
        );
    }

    /// The node of `kind` called `name`.
    #[must_use]
    pub fn find(&self, kind: NodeKind, name: &str) -> Option<NodeIndex> {
        self.by_name.get(&(kind, name.to_owned())).copied()
    }

    /// The node at `index`.
    #[must_use]
    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.inner[index]
    }

    /// The edge at `index`.
    #[must_use]
    pub fn edge(&self, index: EdgeIndex) -> &Edge {
        &self.inner[index]
    }

    /// Every node index, in the order nodes were added (section, then as written).
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.inner.node_indices()
    }

    /// Every edge as (dependency, dependent, edge), in the order edges were added.
    pub fn edges(&self) -> impl Iterator<Item = (NodeIndex, NodeIndex, &Edge)> + '_ {
        self.inner
            .edge_references()
            .map(|edge| (edge.source(), edge.target(), edge.weight()))
    }

    /// Number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.node_count()
    }

    /// True when the config defines no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.node_count() == 0
    }

    /// Nodes reachable from `start` by walking dependencies backwards along edges of `kinds`,
    /// excluding `start` itself: for `[After]`, a deployment's transitive `after`.
    #[must_use]
    pub fn ancestors(&self, start: NodeIndex, kinds: &[EdgeKind]) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            for edge in self.inner.edges_directed(current, Direction::Incoming) {
                if kinds.contains(&edge.weight().kind) && seen.insert(edge.source()) {
                    queue.push_back(edge.source());
                }
            }
        }
        seen.remove(&start);
        seen
    }

    /// Nodes reachable from `start` by following edges of `kinds` forwards, excluding `start`:
    /// for `[Needs, Judges]`, everything that must re-run when `start` changes.
    #[must_use]
    pub fn descendants(&self, start: NodeIndex, kinds: &[EdgeKind]) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            for edge in self.inner.edges_directed(current, Direction::Outgoing) {
                if kinds.contains(&edge.weight().kind) && seen.insert(edge.target()) {
                    queue.push_back(edge.target());
                }
            }
        }
        seen.remove(&start);
        seen
    }

    /// The direct dependencies of `node` along edges of `kinds`, in the order they were added.
    #[must_use]
    pub fn dependencies(&self, node: NodeIndex, kinds: &[EdgeKind]) -> Vec<NodeIndex> {
        let mut found: Vec<NodeIndex> = self
            .inner
            .edges_directed(node, Direction::Incoming)
            .filter(|edge| kinds.contains(&edge.weight().kind))
            .map(|edge| edge.source())
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// Every node in dependency order (Kahn's algorithm, ready nodes taken in the order they were
    /// added), or `None` when the graph has a cycle.
    #[must_use]
    pub fn topological_order(&self) -> Option<Vec<NodeIndex>> {
        let mut waiting: Vec<usize> = self
            .inner
            .node_indices()
            .map(|node| self.inner.edges_directed(node, Direction::Incoming).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = self
            .inner
            .node_indices()
            .filter(|node| waiting[node.index()] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.len());
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            for edge in self.inner.edges_directed(node, Direction::Outgoing) {
                let target = edge.target();
                waiting[target.index()] -= 1;
                if waiting[target.index()] == 0 {
                    ready.push(Reverse(target));
                }
            }
        }
        (order.len() == self.len()).then_some(order)
    }

    /// Each cycle in the graph, one per strongly connected component, as the edges of a shortest
    /// loop through the component's first-added node. Tarjan's algorithm finds the components;
    /// `petgraph::algo::toposort` would name only one node of a cycle.
    #[must_use]
    pub fn cycles(&self) -> Vec<Vec<EdgeIndex>> {
        let mut cycles = Vec::new();
        for component in petgraph::algo::tarjan_scc(&self.inner) {
            let Some(&start) = component.iter().min() else {
                continue;
            };
            let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
            if let Some(path) = self.shortest_loop(start, &members) {
                cycles.push(path);
            }
        }
        cycles.sort_by_key(|path| path.first().map(|edge| self.inner.edge_endpoints(*edge)));
        cycles
    }

    /// Breadth-first search from `start` back to itself within `members`.
    fn shortest_loop(
        &self,
        start: NodeIndex,
        members: &BTreeSet<NodeIndex>,
    ) -> Option<Vec<EdgeIndex>> {
        let mut came_by: HashMap<NodeIndex, EdgeIndex> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            let mut outgoing: Vec<_> = self
                .inner
                .edges_directed(current, Direction::Outgoing)
                .collect();
            outgoing.sort_by_key(|edge| (edge.target(), edge.id()));
            for edge in outgoing {
                let next = edge.target();
                if !members.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut path = vec![edge.id()];
                    let mut at = current;
                    while at != start {
                        let previous = came_by[&at];
                        path.push(previous);
                        at = self
                            .inner
                            .edge_endpoints(previous)
                            .map_or(start, |(source, _)| source);
                    }
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = came_by.entry(next) {
                    slot.insert(edge.id());
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The endpoints (dependency, dependent) of an edge.
    #[must_use]
    pub fn endpoints(&self, edge: EdgeIndex) -> Option<(NodeIndex, NodeIndex)> {
        self.inner.edge_endpoints(edge)
    }
}

/// Output formats of `mlops graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// JSON: nodes and edges.
    Json,
}

impl Graph {
    /// Render the graph. Node ids are `<kind>:<name>`, unique even when names are reused.
    #[must_use]
    pub fn render(&self, format: GraphFormat) -> String {
        match format {
            GraphFormat::Mermaid => self.render_mermaid(),
            GraphFormat::Dot => self.render_dot(),
            GraphFormat::Json => self.render_json(),
        }
    }

    fn id(&self, index: NodeIndex) -> String {
        let node = &self.inner[index];
        format!("{}:{}", node.kind.section(), node.name)
    }

    /// Mermaid with `highlighted` nodes outlined (a pull request's affected nodes).
    #[must_use]
    pub fn render_mermaid_highlighting(&self, highlighted: &BTreeSet<NodeIndex>) -> String {
        let mut out = self.render_mermaid();
        if !highlighted.is_empty() {
            out.push_str("  classDef affected stroke:#d1242f,stroke-width:3px\n  class ");
            let ids: Vec<String> = highlighted
                .iter()
                .map(|index| format!("n{}", index.index()))
                .collect();
            out.push_str(&ids.join(","));
            out.push_str(" affected\n");
        }
        out
    }

    fn render_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let mermaid_id = |index: NodeIndex| format!("n{}", index.index());
        for index in self.nodes() {
            let node = &self.inner[index];
            let label = node.name.replace('"', "#quot;");
            let shape = match node.kind {
                NodeKind::Data => format!("[(\"{label}\")]"),
                NodeKind::Training => format!("[\"{label}\"]"),
                NodeKind::Gate => format!("{{\"{label}\"}}"),
                NodeKind::Approval => format!("[/\"{label}\"/]"),
                NodeKind::Deployment => format!("([\"{label}\"])"),
            };
            let _ = writeln!(
                out,
                "  {}{shape}:::{}",
                mermaid_id(index),
                node.kind.noun().replace(' ', "_")
            );
        }
        for (from, to, edge) in self.edges() {
            let _ = writeln!(
                out,
                "  {} -->|{}| {}",
                mermaid_id(from),
                edge_label(edge.kind),
                mermaid_id(to)
            );
        }
        out.push_str(
            "  classDef data_set fill:#e8f4fd,stroke:#1f6feb\n  classDef training fill:#fff8e1,stroke:#bf8700\n  \
             classDef gate fill:#fdecea,stroke:#cf222e\n  classDef approval fill:#f3e8fd,stroke:#8250df\n  \
             classDef deployment fill:#e6f6ea,stroke:#1a7f37\n",
        );
        out
    }

    fn render_dot(&self) -> String {
        let mut out = String::from("digraph mlops {\n  rankdir=LR;\n");
        for index in self.nodes() {
            let node = &self.inner[index];
            let shape = match node.kind {
                NodeKind::Data => "cylinder",
                NodeKind::Training => "box",
                NodeKind::Gate => "diamond",
                NodeKind::Approval => "parallelogram",
                NodeKind::Deployment => "ellipse",
            };
            let _ = writeln!(
                out,
                "  {} [label={}, shape={shape}];",
                dot_quote(&self.id(index)),
                dot_quote(&node.name)
            );
        }
        for (from, to, edge) in self.edges() {
            let _ = writeln!(
                out,
                "  {} -> {} [label={}];",
                dot_quote(&self.id(from)),
                dot_quote(&self.id(to)),
                dot_quote(edge_label(edge.kind))
            );
        }
        out.push_str("}\n");
        out
    }

    fn render_json(&self) -> String {
        #[derive(Serialize)]
        struct JsonNode<'a> {
            id: String,
            #[serde(flatten)]
            node: &'a Node,
        }
        #[derive(Serialize)]
        struct JsonEdge<'a> {
            from: String,
            to: String,
            #[serde(flatten)]
            edge: &'a Edge,
        }
        let nodes: Vec<JsonNode<'_>> = self
            .nodes()
            .map(|index| JsonNode {
                id: self.id(index),
                node: &self.inner[index],
            })
            .collect();
        let edges: Vec<JsonEdge<'_>> = self
            .edges()
            .map(|(from, to, edge)| JsonEdge {
                from: self.id(from),
                to: self.id(to),
                edge,
            })
            .collect();
        let order: Option<Vec<String>> = self
            .topological_order()
            .map(|order| order.into_iter().map(|index| self.id(index)).collect());
        let mut out = serde_json::to_string_pretty(
            &serde_json::json!({ "nodes": nodes, "edges": edges, "order": order }),
        )
        .unwrap_or_default();
        out.push('\n');
        out
    }
}

fn edge_label(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Needs => "needs",
        EdgeKind::Judges => "judges",
        EdgeKind::Ships => "ships",
        EdgeKind::After => "after",
    }
}

fn dot_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
