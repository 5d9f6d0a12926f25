//! Stage 3: the semantic rules of the spec, over a schema-checked [`Config`].
//!
//! One rule per file, one code per rule; [`RULES`] lists them all. Every rule reads the shared
//! [`CheckCtx`] (the config, its spans, the name table, the reference list and the graph, each
//! computed once) and pushes [`Diag`]s; no rule stops the others, so one run reports every
//! problem. Rules do no I/O: file existence comes through the [`Repo`] trait.

mod conflicting_direction;
mod consistent_values;
mod credential_literal;
mod cycle;
mod duplicate_name;
mod gate_rule;
mod invalid_branch;
pub(crate) mod invalid_cron;
mod invalid_digest;
mod invalid_monitoring;
pub use invalid_monitoring::reference_table;
mod invalid_name;
mod missing_approval;
mod missing_file;
mod missing_image;
mod promotion_order;
mod render_requirements;
mod ungated_deployment;
mod unknown_metric;
mod unknown_ref;
mod unportable_pattern;
mod wrong_ref_kind;

use crate::codes::Code;
use crate::diag::{Diag, Label};
use crate::graph::{Graph, NodeKind};
use crate::spec::SpanIndex;
use crate::spec::load::escape_pointer_token;
use crate::spec::model::Config;

/// A semantic rule.
pub trait Rule: Sync {
    /// The code every diagnostic of this rule carries.
    fn code(&self) -> Code;
    /// Push a diagnostic for each problem found.
    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>);
}

/// Every rule, run in this order (diagnostics are sorted by position afterwards).
pub const RULES: &[&dyn Rule] = &[
    &invalid_name::InvalidName,
    &duplicate_name::DuplicateName,
    &unknown_ref::UnknownRef,
    &wrong_ref_kind::WrongRefKind,
    &cycle::Cycle,
    &missing_approval::MissingApproval,
    &promotion_order::PromotionOrder,
    &ungated_deployment::UngatedDeployment,
    &invalid_branch::InvalidBranch,
    &invalid_cron::InvalidCron,
    &invalid_monitoring::InvalidMonitoring,
    &invalid_digest::InvalidDigest,
    &gate_rule::GateRule,
    &unknown_metric::UnknownMetric,
    &conflicting_direction::ConflictingDirection,
    &credential_literal::CredentialLiteral,
    &missing_image::MissingImage,
    &consistent_values::ConsistentValues,
    &unportable_pattern::UnportablePattern,
    &render_requirements::RenderRequirements,
    // Last: the only rule that waits for the file listing, which git may still be making
    // (from a cold disk, the other rules run meanwhile). The report is sorted afterwards.
    &missing_file::MissingFile,
];

/// What the repository around the config holds. Rules ask through this trait so that they stay
/// pure; the CLI passes the real checkout, tests and the fuzzer pass a fake.
pub trait Repo: Sync {
    /// Whether `path` (relative to the config's folder) exists.
    fn exists(&self, path: &str) -> bool;
    /// Whether the glob `pattern` (relative to the config's folder) matches at least one path.
    fn matches_any(&self, pattern: &str) -> bool;
    /// Whether `pattern` matches files, but none that git tracks (so CI will not see them).
    fn matches_untracked_only(&self, _pattern: &str) -> bool {
        false
    }
    /// For each of `patterns`: whether it matches a file, and whether only files git does not
    /// track. One pass over the files for all of them (a monorepo asks for thousands).
    fn input_matches(&self, patterns: &[&str]) -> Vec<InputMatch> {
        patterns
            .iter()
            .map(|pattern| {
                let any = self.matches_any(pattern);
                InputMatch {
                    any,
                    untracked_only: any && self.matches_untracked_only(pattern),
                }
            })
            .collect()
    }
    /// The bytes of the file at `path` (relative to the config's folder), when it exists and
    /// is small enough to be a metrics file; `None` otherwise, and by default.
    fn read(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

/// What an `inputs` pattern finds in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputMatch {
    /// It matches at least one file (or names one that exists).
    pub any: bool,
    /// It matches files, none of which git tracks (CI will not see them).
    pub untracked_only: bool,
}

/// A repository where every path exists: for checks of the config alone.
pub struct AnyRepo;

impl Repo for AnyRepo {
    fn exists(&self, _path: &str) -> bool {
        true
    }
    fn matches_any(&self, _pattern: &str) -> bool {
        true
    }
}

/// What a name can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameKind {
    /// An entry of `environments`.
    Environment,
    /// A graph node: data, training, gate, approval or deployment.
    Node(NodeKind),
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Environment => "environment",
            NameKind::Node(kind) => kind.noun(),
        }
    }

    fn section(self) -> &'static str {
        match self {
            NameKind::Environment => "environments",
            NameKind::Node(kind) => kind.section(),
        }
    }
}

/// A defined name: which section, and where.
#[derive(Debug, Clone)]
pub struct Definition<'a> {
    /// The name as written.
    pub name: &'a str,
    /// The section it is defined in.
    pub kind: NameKind,
}

impl Definition<'_> {
    /// JSON pointer to the entry (made for a message only, as [`Reference::pointer`]).
    #[must_use]
    pub fn pointer(&self) -> String {
        format!(
            "/{}/{}",
            self.kind.section(),
            escape_pointer_token(self.name)
        )
    }
}

/// A use of a name in a reference field. Borrowed from the config, its pointer and wording
/// made only for a message: three strings per reference were 74,000 allocations of `check` at
/// 1,000 models, nearly all of them never read.
#[derive(Debug, Clone)]
pub struct Reference<'a> {
    /// The name referred to.
    pub name: &'a str,
    /// What the field may refer to.
    pub allowed: &'static [NameKind],
    /// The section and the entry that holds the field.
    section: &'static str,
    owner: &'a str,
    /// The entry's kind, for messages ("training").
    noun: &'static str,
    field: &'static str,
    /// The place in a list field.
    position: Option<usize>,
}

impl Reference<'_> {
    /// JSON pointer to the reference value.
    #[must_use]
    pub fn pointer(&self) -> String {
        let mut pointer = format!(
            "/{}/{}/{}",
            self.section,
            escape_pointer_token(self.owner),
            self.field
        );
        if let Some(position) = self.position {
            pointer.push_str(&format!("/{position}"));
        }
        pointer
    }

    /// The field, for messages: "`needs` of training `churn`".
    #[must_use]
    pub fn field(&self) -> String {
        format!("`{}` of {} `{}`", self.field, self.noun, self.owner)
    }

    /// "data sets or trainings": what the field takes.
    fn allowed_list(&self) -> String {
        join_or(
            &self
                .allowed
                .iter()
                .map(|kind| format!("{}s", kind.noun()))
                .collect::<Vec<_>>(),
        )
    }

    /// "data set or training": for "no data set or training is called `x`".
    fn allowed_list_singular(&self) -> String {
        join_or(
            &self
                .allowed
                .iter()
                .map(|kind| kind.noun().to_owned())
                .collect::<Vec<_>>(),
        )
    }
}

fn join_or(nouns: &[String]) -> String {
    {
        match nouns {
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => String::new(),
        }
    }
}

/// Everything a rule may read, computed once.
pub struct CheckCtx<'a> {
    /// The typed config.
    pub config: &'a Config,
    /// The config as JSON, with spans.
    pub spans: &'a SpanIndex,
    /// The raw text (for rules that look at what was written, such as credentials).
    pub text: &'a str,
    /// The dependency graph (references that resolve only).
    pub graph: &'a Graph,
    /// The repository around the config.
    pub repo: &'a dyn Repo,
    /// Every defined name, section by section in the order written.
    pub definitions: Vec<Definition<'a>>,
    /// Every reference to a name.
    pub references: Vec<Reference<'a>>,
    /// The mlops action of this build (`OWNER/NAME@COMMIT`), the default of
    /// `ci.github_action`; `None` when the build knows no commit.
    pub build_action: Option<String>,
    /// Name -> positions in `definitions`, so lookups stay linear in the file's size.
    by_name: std::collections::HashMap<&'a str, Vec<usize>>,
    /// Deployments whose `after` chain (or `model`, `environment`) holds a reference that does
    /// not resolve to something of the right kind. `unknown-ref` and `wrong-ref-kind` report the
    /// cause; the rules that reason over that chain skip these, as rustc suppresses the
    /// follow-on errors of an unresolved name (a typo in `after` would otherwise also be
    /// reported as an ungated deployment, before its cause and with a wrong fix).
    incomplete: std::collections::HashSet<String>,
}

impl<'a> CheckCtx<'a> {
    /// Gather the name table and reference list for `config`.
    #[must_use]
    pub fn new(
        config: &'a Config,
        spans: &'a SpanIndex,
        text: &'a str,
        graph: &'a Graph,
        repo: &'a dyn Repo,
    ) -> Self {
        let definitions = definitions(config);
        let mut by_name: std::collections::HashMap<&'a str, Vec<usize>> =
            std::collections::HashMap::with_capacity(definitions.len());
        for (position, definition) in definitions.iter().enumerate() {
            by_name.entry(definition.name).or_default().push(position);
        }
        Self {
            config,
            spans,
            text,
            graph,
            repo,
            definitions,
            references: references(config),
            build_action: crate::build_info::default_github_action(),
            incomplete: incomplete_deployments(config),
            by_name,
        }
    }

    /// Whether deployment `name` depends on a reference that does not resolve (see
    /// [`CheckCtx::incomplete`]): its follow-on problems are not reported.
    #[must_use]
    pub fn is_incomplete(&self, name: &str) -> bool {
        self.incomplete.contains(name)
    }

    /// A label on the value at `pointer`.
    #[must_use]
    pub fn value_label(&self, pointer: &str, text: impl Into<String>) -> Label {
        Label::new(self.spans.value_span(pointer), text)
    }

    /// A label on the key that introduces `pointer`.
    #[must_use]
    pub fn key_label(&self, pointer: &str, text: impl Into<String>) -> Label {
        Label::new(self.spans.key_span(pointer), text)
    }

    /// The definitions of `name`, in any section.
    pub fn definitions_of<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Definition<'s>> + 's {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&position| self.definitions.get(position))
    }
}

const DATA: &[NameKind] = &[NameKind::Node(NodeKind::Data)];
const DATA_OR_TRAINING: &[NameKind] = &[
    NameKind::Node(NodeKind::Data),
    NameKind::Node(NodeKind::Training),
];
const TRAINING: &[NameKind] = &[NameKind::Node(NodeKind::Training)];
const ENVIRONMENT: &[NameKind] = &[NameKind::Environment];
const AFTER: &[NameKind] = &[
    NameKind::Node(NodeKind::Gate),
    NameKind::Node(NodeKind::Approval),
    NameKind::Node(NodeKind::Deployment),
];

/// Deployments that reach, through `after`, a name that is not a gate, approval or deployment,
/// or whose `model` is not a training or `environment` not an environment.
fn incomplete_deployments(config: &Config) -> std::collections::HashSet<String> {
    let after_kind = |name: &String| {
        config.gates.contains_key(name)
            || config.approvals.contains_key(name)
            || config.deployments.contains_key(name)
    };
    let mut incomplete: std::collections::HashSet<String> = config
        .deployments
        .iter()
        .filter(|(_, deployment)| {
            !config.training.contains_key(&deployment.model)
                || !config.environments.contains_key(&deployment.environment)
                || !deployment.after.iter().all(after_kind)
        })
        .map(|(name, _)| name.clone())
        .collect();
    // Downstream deployments inherit it; each pass adds at least one or stops.
    loop {
        let before = incomplete.len();
        for (name, deployment) in &config.deployments {
            if !incomplete.contains(name) && deployment.after.iter().any(|a| incomplete.contains(a))
            {
                incomplete.insert(name.clone());
            }
        }
        if incomplete.len() == before {
            return incomplete;
        }
    }
}

fn definitions<'a>(config: &'a Config) -> Vec<Definition<'a>> {
    let mut out = Vec::new();
    let mut add = |kind: NameKind, names: Vec<&'a String>| {
        out.extend(names.into_iter().map(|name| Definition { name, kind }));
    };
    add(NameKind::Environment, config.environments.keys().collect());
    add(NameKind::Node(NodeKind::Data), config.data.keys().collect());
    add(
        NameKind::Node(NodeKind::Training),
        config.training.keys().collect(),
    );
    add(
        NameKind::Node(NodeKind::Gate),
        config.gates.keys().collect(),
    );
    add(
        NameKind::Node(NodeKind::Approval),
        config.approvals.keys().collect(),
    );
    add(
        NameKind::Node(NodeKind::Deployment),
        config.deployments.keys().collect(),
    );
    out
}

fn references<'a>(config: &'a Config) -> Vec<Reference<'a>> {
    let mut out = Vec::new();
    let mut add = |section: &'static str,
                   owner: &'a str,
                   noun: &'static str,
                   field: &'static str,
                   position: Option<usize>,
                   name: &'a str,
                   allowed| {
        out.push(Reference {
            name,
            allowed,
            section,
            owner,
            noun,
            field,
            position,
        });
    };
    for (owner, data) in &config.data {
        for (position, name) in data.needs.iter().enumerate() {
            add(
                "data",
                owner,
                "data set",
                "needs",
                Some(position),
                name,
                DATA,
            );
        }
    }
    for (owner, training) in &config.training {
        for (position, name) in training.needs.iter().enumerate() {
            add(
                "training",
                owner,
                "training",
                "needs",
                Some(position),
                name,
                DATA_OR_TRAINING,
            );
        }
    }
    for (owner, gate) in &config.gates {
        add(
            "gates",
            owner,
            "gate",
            "training",
            None,
            &gate.training,
            TRAINING,
        );
    }
    for (owner, approval) in &config.approvals {
        add(
            "approvals",
            owner,
            "approval",
            "environment",
            None,
            &approval.environment,
            ENVIRONMENT,
        );
    }
    for (owner, deployment) in &config.deployments {
        add(
            "deployments",
            owner,
            "deployment",
            "model",
            None,
            &deployment.model,
            TRAINING,
        );
        add(
            "deployments",
            owner,
            "deployment",
            "environment",
            None,
            &deployment.environment,
            ENVIRONMENT,
        );
        for (position, name) in deployment.after.iter().enumerate() {
            add(
                "deployments",
                owner,
                "deployment",
                "after",
                Some(position),
                name,
                AFTER,
            );
        }
    }
    out
}

/// Run every rule; diagnostics come back in rule order (the caller sorts them).
#[must_use]
pub fn run(cx: &CheckCtx<'_>) -> Vec<Diag> {
    let mut out = Vec::new();
    for rule in RULES {
        rule.check(cx, &mut out);
    }
    out
}

impl CheckCtx<'_> {
    /// A label on part of a string value: `range` is a byte range within `value`. When the value
    /// is written with escapes (so the source text differs), the whole value is labelled.
    #[must_use]
    pub fn substring_label(
        &self,
        pointer: &str,
        value: &str,
        range: std::ops::Range<usize>,
        text: impl Into<String>,
    ) -> Label {
        let span = self.spans.value_span(pointer);
        let written = self.text.get(span.clone()).unwrap_or_default();
        match written.find(value) {
            Some(offset) if !value.is_empty() => Label::new(
                span.start + offset + range.start..span.start + offset + range.end,
                text,
            ),
            _ => Label::new(span, text),
        }
    }
}
