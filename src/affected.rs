//! `mlops affected`: which nodes of the graph a change touches, so CI re-runs only those.
//!
//! A node is *changed* when a path it reads changed (its `inputs` globs, its `params` file) or
//! when its own entry in `mlops.yaml` changed. Everything downstream of a changed node is
//! *affected*. Everything an affected node depends on must *run* in the same workflow, since
//! jobs hand their files to each other as artifacts of that run and a deployment must ship a
//! model that this run trained and gated; so the run set is the affected nodes and all their
//! ancestors. A pull request that touches one model of ten re-trains one model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use petgraph::graph::NodeIndex;
use serde::Serialize;

use crate::git;
use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::spec::Config;

const ALL_EDGES: &[EdgeKind] = &[
    EdgeKind::Needs,
    EdgeKind::Judges,
    EdgeKind::Ships,
    EdgeKind::After,
];

/// What to compare against.
#[derive(Debug, Clone)]
pub enum Since {
    /// A git revision (the pull request's base, or the commit before a push).
    Base(String),
    /// A scheduled run for this cron expression: the data it refreshes, and what follows.
    Schedule(String),
    /// Everything (a manual run).
    All,
    /// One training again, what it needs and what follows it: the monitor's answer to a
    /// drift (the retrained model still passes its gates and approvals before it ships).
    Retrain(String),
}

/// One node's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct NodeVerdict {
    /// Its node in the graph.
    #[serde(skip)]
    pub node: NodeIndex,
    /// The node's kind.
    pub kind: NodeKind,
    /// Its name.
    pub name: String,
    /// Whether it runs.
    pub runs: bool,
    /// Why it runs (or `null`).
    pub reason: Option<String>,
}

/// The result: every node, in graph order.
#[derive(Debug, Clone, Serialize)]
pub struct Affected {
    /// Paths that changed, relative to the config's folder (empty unless [`Since::Base`]).
    pub changed_paths: Vec<String>,
    /// The `mlops.lock` committed at the base (with [`Since::Base`]).
    pub base_lock: BaseLock,
    /// Each node.
    pub nodes: Vec<NodeVerdict>,
}

/// Work out what runs.
///
/// `root` is the folder of the config (paths in it are relative to it); `config_path` is the
/// config's path relative to `root`.
///
/// # Errors
/// Git failures, with how to fix the checkout.
pub fn affected(
    config: &Config,
    graph: &Graph,
    root: &Path,
    config_path: &str,
    since: &Since,
    releases: Option<&BTreeMap<String, crate::release::Release>>,
) -> Result<Affected, String> {
    let mut reasons: BTreeMap<NodeIndex, String> = BTreeMap::new();
    let mut changed_paths = Vec::new();
    let mut base_lock = BaseLock::Missing;
    match since {
        Since::All => {
            for node in graph.nodes() {
                reasons.insert(node, "manual run: everything".to_owned());
            }
        }
        Since::Retrain(training) => {
            let Some(node) = graph.find(NodeKind::Training, training) else {
                let hint = crate::suggest::did_you_mean(
                    training,
                    config.training.keys().map(String::as_str),
                )
                .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
                return Err(format!("`--retrain`: no training named `{training}`{hint}"));
            };
            reasons.insert(node, "retraining requested".to_owned());
        }
        Since::Schedule(cron) => {
            for (name, data) in &config.data {
                if data.refresh.as_deref() == Some(cron.as_str())
                    && let Some(node) = graph.find(NodeKind::Data, name)
                {
                    reasons.insert(node, format!("refresh schedule `{cron}`"));
                }
            }
        }
        Since::Base(base) if git::is_null_revision(base) => {
            for node in graph.nodes() {
                reasons.insert(
                    node,
                    "no base revision (a new branch): everything".to_owned(),
                );
            }
        }
        Since::Base(base) => {
            let snapshot = git::Snapshot::open(root, base)?;
            let (paths, lock) = changes_since(config, graph, config_path, &snapshot, &mut reasons)?;
            changed_paths = paths;
            base_lock = lock;
        }
    }
    if let Some(releases) = releases {
        behind_their_release(config, graph, root, config_path, releases, &mut reasons);
    }
    Ok(settle(graph, &reasons, changed_paths, base_lock))
}

/// Deployments that are behind: never released, or with a change since the commit their
/// release was trained from in something they depend on. Comparing with the commit before a
/// push alone forgets the changes of a run that was cancelled or failed; comparing each
/// deployment with its own release picks them up. A release commit this clone does not have
/// counts as behind (re-running is safe; skipping is not).
fn behind_their_release(
    config: &Config,
    graph: &Graph,
    root: &Path,
    config_path: &str,
    releases: &BTreeMap<String, crate::release::Release>,
    reasons: &mut BTreeMap<NodeIndex, String>,
) {
    let mut changed_since: BTreeMap<String, Option<BTreeSet<NodeIndex>>> = BTreeMap::new();
    for name in config.deployments.keys() {
        let Some(node) = graph.find(NodeKind::Deployment, name) else {
            continue;
        };
        if reasons.contains_key(&node) {
            continue;
        }
        let Some(commit) = releases
            .get(name)
            .and_then(|release| release.commit.clone())
        else {
            let why = if releases.contains_key(name) {
                format!("the release of `{name}` records no commit")
            } else {
                format!("`{name}` was never released")
            };
            reasons.insert(node, why);
            continue;
        };
        let changed = changed_since.entry(commit.clone()).or_insert_with(|| {
            let snapshot = git::Snapshot::open(root, &commit).ok()?;
            let mut found = BTreeMap::new();
            changes_since(config, graph, config_path, &snapshot, &mut found).ok()?;
            Some(found.into_keys().collect())
        });
        let short = commit.get(..12).unwrap_or(&commit).to_owned();
        match changed {
            None => {
                reasons.insert(
                    node,
                    format!("the commit `{name}` was released from ({short}) is not in this clone"),
                );
            }
            Some(changed) => {
                let mut upstream = graph.ancestors(node, ALL_EDGES);
                upstream.insert(node);
                if let Some(first) = upstream.iter().find(|index| changed.contains(index)) {
                    reasons.insert(
                        node,
                        format!(
                            "`{}` changed since `{name}` was released from {short}",
                            graph.node(*first).name
                        ),
                    );
                }
            }
        }
    }
}

/// What runs for a change since `snapshot`'s revision (the report reuses its open snapshot).
///
/// # Errors
/// git failed.
pub fn since_snapshot(
    config: &Config,
    graph: &Graph,
    config_path: &str,
    snapshot: &git::Snapshot,
) -> Result<Affected, String> {
    let mut reasons = BTreeMap::new();
    let (changed_paths, base_lock) =
        changes_since(config, graph, config_path, snapshot, &mut reasons)?;
    Ok(settle(graph, &reasons, changed_paths, base_lock))
}

/// Record why each node changed since the snapshot; return the changed paths. A node changed
/// when its fingerprint (`mlops.lock`: its resolved entry, the files and params values it
/// reads, its pin, its upstream fingerprints) differs from the one the snapshot's revision
/// gives, computed from that revision's git objects; the lock committed there is compared too,
/// and reported stale when it disagrees.
fn changes_since(
    config: &Config,
    graph: &Graph,
    config_path: &str,
    snapshot: &git::Snapshot,
    reasons: &mut BTreeMap<NodeIndex, String>,
) -> Result<(Vec<String>, BaseLock), String> {
    let changed_paths = snapshot.changed_paths()?.to_vec();
    let base_config = snapshot
        .show(config_path)
        .ok()
        .flatten()
        .and_then(|bytes| crate::spec::parse(&bytes).config);
    let Some(base_config) = base_config else {
        for node in graph.nodes() {
            reasons.insert(
                node,
                format!(
                    "`{config_path}` at `{}` cannot be read: everything",
                    snapshot.revision()
                ),
            );
        }
        return Ok((changed_paths, BaseLock::Missing));
    };
    let base_graph = Graph::build(&base_config);
    let working = crate::lock::WorkingTree::new(snapshot.root());
    let head = crate::lock::compute(config, graph, &working);
    let at_base = crate::lock::AtRevision::new(
        snapshot.root(),
        snapshot.revision(),
        &changed_paths,
        &working,
    )?;
    let base = crate::lock::compute(&base_config, &base_graph, &at_base);
    let base_text = base.to_toml("");
    let lock_path = match config_path.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{}", crate::lock::FILE_NAME),
        None => crate::lock::FILE_NAME.to_owned(),
    };
    let base_lock = match snapshot.show(&lock_path).ok().flatten() {
        None => BaseLock::Missing,
        Some(committed) => {
            let committed = crate::lock::read(&String::from_utf8_lossy(&committed));
            if committed == crate::lock::read(&base_text) {
                BaseLock::Fresh
            } else {
                BaseLock::Stale
            }
        }
    };
    let changed_files: Vec<(char, String)> = changed_paths
        .iter()
        .map(|path| {
            let status = if crate::lock::Files::list(&at_base)
                .binary_search(path)
                .is_err()
            {
                'A'
            } else if !snapshot.root().join(path).exists() {
                'D'
            } else {
                'M'
            };
            (status, path.clone())
        })
        .collect();
    for (kind, name, why) in crate::lock::differences(&base_text, &head, config, &changed_files) {
        let Some(node) = graph.find(kind, &name) else {
            continue;
        };
        let why = if why.contains("params changed")
            && let Some(params) = config
                .training
                .get(&name)
                .and_then(|training| training.params.as_ref())
            && let Some(values) = ParamValues::read(snapshot, params.file())
            && let Some(key) = values.first_change(params)
        {
            why.replace(
                "params changed",
                &format!("params changed (`{key}` in {})", params.file()),
            )
        } else {
            why
        };
        let why = if why == "new" {
            format!("new since `{}`", snapshot.revision())
        } else {
            why
        };
        reasons.entry(node).or_insert(why);
    }
    Ok((changed_paths, base_lock))
}

/// The `mlops.lock` committed at the base, beside what its files give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseLock {
    /// It agrees with the fingerprints of the base's files.
    Fresh,
    /// It disagrees (someone committed without rendering): the files' fingerprints were used.
    Stale,
    /// There is none (or no comparison was made).
    Missing,
}

/// From the changed nodes to what runs: downstream is affected, upstream runs with it.
fn settle(
    graph: &Graph,
    reasons: &BTreeMap<NodeIndex, String>,
    changed_paths: Vec<String>,
    base_lock: BaseLock,
) -> Affected {
    let mut runs: BTreeMap<NodeIndex, String> = reasons.clone();
    for &node in reasons.keys() {
        let name = &graph.node(node).name;
        for downstream in graph.descendants(node, ALL_EDGES) {
            runs.entry(downstream)
                .or_insert_with(|| format!("downstream of `{name}`"));
        }
    }
    let affected: BTreeSet<NodeIndex> = runs.keys().copied().collect();
    for &node in &affected {
        let name = &graph.node(node).name;
        for upstream in graph.ancestors(node, ALL_EDGES) {
            runs.entry(upstream)
                .or_insert_with(|| format!("needed by `{name}`"));
        }
    }
    let nodes = graph
        .topological_order()
        .unwrap_or_else(|| graph.nodes().collect())
        .into_iter()
        .map(|index| {
            let node = graph.node(index);
            NodeVerdict {
                node: index,
                kind: node.kind,
                name: node.name.clone(),
                runs: runs.contains_key(&index),
                reason: runs.get(&index).cloned(),
            }
        })
        .collect();
    Affected {
        changed_paths,
        base_lock,
        nodes,
    }
}

/// A params file's flattened values before and after, as written.
struct ParamValues {
    before: BTreeMap<String, String>,
    after: BTreeMap<String, String>,
}

impl ParamValues {
    /// Both sides of `path`: the snapshot's and the working tree's. A side that is missing
    /// reads as empty; one that cannot be parsed makes the answer unknown (`None`).
    fn read(snapshot: &git::Snapshot, path: &str) -> Option<ParamValues> {
        let format = crate::metrics::Format::of(path);
        let parse = |bytes: Option<Vec<u8>>| -> Option<BTreeMap<String, String>> {
            match bytes {
                None => Some(BTreeMap::new()),
                Some(bytes) => crate::metrics::parse(&bytes, format).ok().map(|values| {
                    values
                        .into_iter()
                        .map(|(name, metric)| (name, metric.text))
                        .collect()
                }),
            }
        };
        let before = parse(snapshot.show(path).ok().flatten())?;
        let after = parse(std::fs::read(snapshot.root().join(path)).ok())?;
        Some(ParamValues { before, after })
    }

    /// The first parameter `params` reads whose value differs, if any.
    fn first_change(&self, params: &crate::spec::model::Params) -> Option<&str> {
        self.before
            .keys()
            .chain(self.after.keys())
            .filter(|name| params.reads(name))
            .find(|name| self.before.get(*name) != self.after.get(*name))
            .map(String::as_str)
    }
}

/// Whether `path` is one of the files `pattern` names: the one matcher of [`crate::paths`].
#[must_use]
pub fn path_matches(pattern: &str, path: &str) -> bool {
    crate::paths::matches(pattern, path)
}

impl Affected {
    /// Whether `node` runs.
    #[must_use]
    pub fn runs(&self, node: NodeIndex) -> bool {
        self.nodes
            .iter()
            .any(|verdict| verdict.node == node && verdict.runs)
    }

    /// One line per node that runs, with why.
    #[must_use]
    pub fn text(&self) -> String {
        let mut out = String::new();
        for node in self.nodes.iter().filter(|node| node.runs) {
            out.push_str(&format!(
                "{} {} ({})\n",
                node.kind.noun(),
                node.name,
                node.reason.as_deref().unwrap_or_default()
            ));
        }
        if out.is_empty() {
            out.push_str("nothing to run: no node reads a changed path\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::path_matches;
    use crate::spec::model::{Params, ScopedParams};

    #[test]
    fn scoped_params_read_their_keys_and_everything_under_them() {
        let scoped = Params::Scoped(ScopedParams {
            file: "params.yaml".to_owned(),
            keys: vec!["churn".to_owned(), "common.seed".to_owned()],
        });
        for name in ["churn", "churn.lr", "churn.layers.0", "common.seed"] {
            assert!(scoped.reads(name), "{name}");
        }
        for name in ["churner", "churn_lr", "common", "common.seeds", "fraud.lr"] {
            assert!(!scoped.reads(name), "{name}");
        }
        assert!(Params::File("params.yaml".to_owned()).reads("anything.at.all"));
    }

    #[test]
    fn globs_files_and_folders() {
        assert!(path_matches("src/model/**", "src/model/a/b.py"));
        assert!(path_matches("src/model/**", "src/model/x.py"));
        assert!(!path_matches("src/model/**", "src/modelx/x.py"));
        assert!(path_matches("train.py", "train.py"));
        assert!(!path_matches("train.py", "train.pyc"));
        assert!(path_matches("src/model", "src/model/x.py"));
        assert!(path_matches("src/*.py", "src/a.py"));
        assert!(!path_matches("src/*.py", "src/sub/a.py"));
        assert!(path_matches("**/*.py", "deep/down/a.py"));
    }
}
