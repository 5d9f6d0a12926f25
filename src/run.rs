//! Stage: the pipeline run on this machine (`mlops run`), from the same plan every CI engine
//! gets and with the same fingerprints, re-running only what changed.
//!
//! A node is up to date when its fingerprint ([`crate::lock`]) equals the one recorded for its
//! last successful run here, every declared output still has the digest recorded then, and
//! the outputs of the steps it reads are the ones it read. Records live in `.mlops/runs/`
//! (git-ignored, one JSON file per node, written atomically after the node succeeded); logs in
//! `.mlops/logs/`. `mlops.lock` is never written: it is derived from the commit, not from
//! what ran here. Deployments and approvals never run locally; gates are judged after.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use petgraph::graph::NodeIndex;
use serde::{Deserialize, Serialize};

use crate::gate::{self, GateResult};
use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::lock::{self, InputFiles, Lock};
use crate::plan::{self, Step};
use crate::spec::Config;

/// The longest script given to bash as its `-c` argument; a longer one goes as a file (one
/// argument over 128 KiB is refused by the kernel, as E2BIG).
const INLINE_SCRIPT_LIMIT: usize = 100_000;

/// Where records and logs live, in the config's folder.
pub const STATE_DIR: &str = ".mlops";
/// `.mlops/.gitignore`: what `run` writes (records, logs, gate verdicts, atomic writes in
/// flight, this file itself).
const IGNORED: &str = "# mlops run: records and logs of local runs\n/runs/\n/logs/\n/gates.json\n/.tmp*\n/.gitignore\n";
/// How many lines of a failed node's log are printed.
const LOG_TAIL_LINES: usize = 20;
/// How long an interrupted node has to exit after SIGINT before its group is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);
/// The record format; a record of another version is not trusted (the node runs again).
const RECORD_VERSION: u32 = 1;

/// What `mlops run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Nodes named on the command line (`data.x` / `training.x` when a name is both, or a
    /// gate: its training); none: every data step and training.
    pub targets: Vec<String>,
    /// Print the plan, the reasons and the commands; run nothing.
    pub dry_run: bool,
    /// Run the selected nodes whatever their records say.
    pub force: bool,
    /// What else the named nodes bring along.
    pub scope: Scope,
    /// After a failure, go on with what does not depend on it.
    pub keep_going: bool,
    /// Nodes run at once (at least 1).
    pub jobs: usize,
    /// Where the nodes' own output goes besides their logs.
    pub echo: Echo,
}

/// Where a node's output goes besides `.mlops/logs/`: the process's stderr, as it comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Echo {
    /// As written (one job at a time).
    #[default]
    Plain,
    /// Each line after `[name] ` (several jobs at once, whose lines interleave).
    Prefixed,
    /// In a collapsed `::group::` per node (GitHub Actions, one job at a time).
    GithubGroups,
    /// Nowhere: the log only (`--quiet`).
    Quiet,
}

/// What runs beside the nodes named on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// What they need, as `make` and `dvc repro` do.
    #[default]
    WithNeeds,
    /// Nothing: the named nodes only (`--single`).
    Single,
    /// What depends on them (`--downstream`), not what they need.
    Downstream,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Nodes that ran and succeeded.
    pub ran: usize,
    /// Nodes skipped as up to date.
    pub up_to_date: usize,
    /// Nodes that failed.
    pub failed: usize,
    /// Nodes not run because something they need failed (or was never started).
    pub skipped: usize,
    /// Whether Ctrl-C stopped the run.
    pub interrupted: bool,
    /// The gates of the trainings that are now up to date.
    pub gates: Vec<GateResult>,
    /// Gates not judged, and why.
    pub gates_not_judged: Vec<(String, String)>,
    /// Gates not judged again: they passed here, and nothing they read has changed since.
    pub gates_unchanged: usize,
}

impl Outcome {
    /// Whether every node and every gate passed.
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.failed == 0
            && self.skipped == 0
            && !self.interrupted
            && self.gates_not_judged.is_empty()
            && self.gates.iter().all(|gate| gate.passed)
    }
}

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A name on the command line is no node.
    #[error("no data step or training named `{name}`{hint}")]
    UnknownNode {
        /// The name.
        name: String,
        /// "; did you mean ...?" or empty.
        hint: String,
    },
    /// A name is a node that does not run here.
    #[error("`{name}` is {what}")]
    NotRunnable {
        /// The name.
        name: String,
        /// What it is and why it does not run.
        what: String,
    },
    /// Secrets the nodes to run declare are not in the environment.
    #[error("{}", missing_secrets_message(.0))]
    MissingSecrets(Vec<(String, String)>),
    /// The plan could not be made.
    #[error("{0}")]
    Plan(String),
    /// A file under `.mlops` could not be written.
    #[error("{0}")]
    Io(String),
}

fn missing_secrets_message(missing: &[(String, String)]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|(secret, node)| format!("  {secret} (declared by {node})"))
        .collect();
    format!(
        "the run needs secrets that are not set in the environment; nothing ran:\n{}\nhelp: export them (their values are never printed), or run what does not need them",
        lines.join("\n")
    )
}

/// The config being run.
pub struct Project<'a> {
    /// The valid config.
    pub config: &'a Config,
    /// Its graph.
    pub graph: &'a Graph,
    /// Its folder: commands run here, `.mlops` lives here.
    pub folder: &'a Path,
}

/// Where the run's lines go.
pub struct Reporter<'w> {
    /// Progress lines (stderr).
    pub progress: &'w mut dyn Write,
    /// The dry run's plan and the gates' verdicts (stdout).
    pub output: &'w mut dyn Write,
}

/// A file's digest with what it was taken from, so an unchanged file is not read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    digest: String,
    size: u64,
    modified_ns: u64,
}

/// What is kept of a node's last successful run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    version: u32,
    /// Its fingerprint when it started.
    fingerprint: String,
    /// Its lock entry then (to say what changed).
    entry: String,
    /// The files its inputs matched then, with their digests.
    inputs: BTreeMap<String, String>,
    /// Each file of its declared outputs after it ran.
    outputs: BTreeMap<String, Stamp>,
    /// The files of the steps it reads that it read, with their digests.
    upstream: BTreeMap<String, String>,
}

/// A node's decision made before anything ran, reused when nothing upstream of it ran since.
#[derive(Debug, Clone)]
enum Decision {
    Undecided,
    /// Why it must run; `None`: up to date.
    Decided(Option<String>),
}

/// `.mlops/gates.json`: the gates that passed here, each with the key of what it read.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PassedGates {
    version: u32,
    gates: BTreeMap<String, String>,
}

/// A node's state in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Ran,
    UpToDate,
    Failed,
    Skipped,
    Interrupted,
}

/// How many Ctrl-C (SIGINT, SIGTERM) the process received; the handler only counts.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

fn install_interrupt_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Fails only when another handler is installed; then Ctrl-C keeps its default.
        let _ = ctrlc::set_handler(|| {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        });
    });
}

/// The label of a node in messages: `data features`, `training churn`.
fn label(step: &Step) -> String {
    format!("{} {}", step.kind.section(), step.name)
}

/// A file name for a node's record or log.
fn file_stem(step: &Step) -> String {
    let name: String = step
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.{name}", step.kind.section())
}

/// `0.4s`, `12.3s`, `3m 05s`, `1h 02m`.
#[must_use]
pub fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds < 3600 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h {:02}m", seconds / 3600, (seconds % 3600) / 60)
    }
}

/// The run's working state.
struct Runner<'a> {
    project: &'a Project<'a>,
    options: &'a Options,
    steps: Vec<Step>,
    /// Per step, the steps it waits for (indices into `steps`).
    deps: Vec<Vec<usize>>,
    /// Per step, the steps that wait for it.
    dependants: Vec<Vec<usize>>,
    selected: Vec<bool>,
    states: Vec<State>,
    records: Vec<Option<Record>>,
    /// Why a record on disk could not be used, per step.
    record_problems: Vec<Option<String>>,
    lock: Lock,
    input_files: InputFiles,
    /// Whether a step ran since `lock` was computed.
    lock_outdated: bool,
    /// Per step, what was decided before anything ran.
    first_decisions: Vec<Decision>,
    runs_dir: PathBuf,
    logs_dir: PathBuf,
}

/// Run the pipeline of `project` as `options` say. `environment` reads a variable (the
/// secrets check); `prepared` is [`prepare`]'s answer, when already made;
/// `base` is the baseline of the gates judged after.
///
/// # Errors
/// A name that is no runnable node, missing secrets, or `.mlops` cannot be written: before
/// anything runs.
pub fn run(
    project: &Project,
    options: &Options,
    environment: &dyn Fn(&str) -> Option<String>,
    prepared: Option<Prepared>,
    base: &gate::BaseReader,
    reporter: &mut Reporter,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let prepared = prepared.unwrap_or_else(|| {
        let files = lock::WorkingTree::new(project.folder);
        prepare(project.config, project.graph, project.folder, &files)
    });
    let mut runner = Runner::new(project, options, prepared)?;
    let stale = runner.initially_stale();
    let missing = runner.missing_secrets(&stale, environment);
    if options.dry_run {
        for (secret, node) in &missing {
            let _ = writeln!(
                reporter.progress,
                "warning: secret `{secret}` (declared by {node}) is not set in the environment"
            );
        }
        runner.print_plan(reporter.output);
        return Ok(Outcome::default());
    }
    if !missing.is_empty() {
        return Err(RunError::MissingSecrets(missing));
    }
    runner.prepare_state_dir()?;
    install_interrupt_handler();
    let mut outcome = runner.execute(reporter.progress);
    if !outcome.interrupted {
        runner.judge_gates(base, &mut outcome, reporter);
    }
    let _ = writeln!(
        reporter.progress,
        "{} ran, {} up to date, {} failed, {} skipped in {}{}",
        outcome.ran,
        outcome.up_to_date,
        outcome.failed,
        outcome.skipped,
        duration_text(started.elapsed()),
        if outcome.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    // Not freed: a run is the last thing its process does, and freeing the records, the lock
    // and the listing of 20,000 files one allocation at a time was a twentieth of a run with
    // nothing to do at 1,000 models.
    std::mem::forget(runner);
    Ok(outcome)
}

/// What a run decides on, whatever it was asked: the plan's steps and their dependencies, the
/// fingerprints and the records. Made by [`prepare`], which needs only the typed config, so a
/// caller can make it while the config's rules are still being checked.
pub type Prepared = Result<PreparedSteps, RunError>;

/// See [`Prepared`].
pub struct PreparedSteps {
    steps: Vec<Step>,
    deps: Vec<Vec<usize>>,
    dependants: Vec<Vec<usize>>,
    lock: Lock,
    input_files: InputFiles,
    records: Vec<Option<Record>>,
    record_problems: Vec<Option<String>>,
}

/// Prepare a run of the config in `folder` over `files`.
///
/// # Errors
/// The plan cannot be made (a setting a deploy step needs; `validate` reports it first).
pub fn prepare(
    config: &Config,
    graph: &Graph,
    folder: &Path,
    files: &lock::WorkingTree,
) -> Prepared {
    let plan = plan::build(config, graph, "mlops.yaml", "")
        .map_err(|missing| RunError::Plan(missing.message))?;
    let steps: Vec<Step> = plan
        .steps
        .into_iter()
        .filter(|step| matches!(step.kind, NodeKind::Data | NodeKind::Training))
        .collect();
    let position: BTreeMap<NodeIndex, usize> = steps
        .iter()
        .enumerate()
        .map(|(index, step)| (step.node, index))
        .collect();
    // What a step waits for locally: every step it `needs`, through nodes that run
    // nothing (external data), not only the producers whose files CI hands over.
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for step in &steps {
        let mut found = BTreeSet::new();
        let mut queue = graph.dependencies(step.node, &[EdgeKind::Needs]);
        let mut seen = BTreeSet::new();
        while let Some(node) = queue.pop() {
            if !seen.insert(node) {
                continue;
            }
            match position.get(&node) {
                Some(&index) => {
                    found.insert(index);
                }
                None => queue.extend(graph.dependencies(node, &[EdgeKind::Needs])),
            }
        }
        deps.push(found.into_iter().collect());
    }
    let mut dependants = vec![Vec::new(); steps.len()];
    for (index, waits_for) in deps.iter().enumerate() {
        for &dep in waits_for {
            dependants[dep].push(index);
        }
    }
    let runs_dir = folder.join(STATE_DIR).join("runs");
    let record_paths: Vec<PathBuf> = steps
        .iter()
        .map(|step| runs_dir.join(format!("{}.json", file_stem(step))))
        .collect();
    // The records are read while the lock is computed: neither needs the other.
    let ((lock, input_files), read) = std::thread::scope(|scope| {
        let reading = scope.spawn(|| {
            record_paths
                .iter()
                .map(|path| read_record(path))
                .collect::<Vec<_>>()
        });
        let computed = lock::compute_steps(config, graph, files);
        (computed, reading.join().unwrap_or_default())
    });
    let count = steps.len();
    let (mut records, mut record_problems) = (vec![None; count], vec![None; count]);
    for (index, (record, problem)) in read.into_iter().enumerate().take(count) {
        records[index] = record;
        record_problems[index] = problem;
    }
    Ok(PreparedSteps {
        steps,
        deps,
        dependants,
        lock,
        input_files,
        records,
        record_problems,
    })
}

impl<'a> Runner<'a> {
    fn new(
        project: &'a Project<'a>,
        options: &'a Options,
        prepared: Prepared,
    ) -> Result<Runner<'a>, RunError> {
        let PreparedSteps {
            steps,
            deps,
            dependants,
            lock,
            input_files,
            records,
            record_problems,
        } = prepared?;
        let count = steps.len();
        let state = project.folder.join(STATE_DIR);
        let mut runner = Runner {
            project,
            options,
            steps,
            deps,
            dependants,
            selected: vec![false; count],
            states: vec![State::Waiting; count],
            records,
            record_problems,
            lock,
            input_files,
            lock_outdated: false,
            first_decisions: vec![Decision::Undecided; count],
            runs_dir: state.join("runs"),
            logs_dir: state.join("logs"),
        };
        runner.select()?;
        Ok(runner)
    }

    /// The steps a command-line name stands for.
    fn resolve(&self, target: &str) -> Result<usize, RunError> {
        let config = self.project.config;
        let (kind, name) = match target.split_once('.') {
            Some(("data", name)) => (Some(NodeKind::Data), name),
            Some(("training", name)) => (Some(NodeKind::Training), name),
            _ => (None, target),
        };
        let found: Vec<usize> = (0..self.steps.len())
            .filter(|&index| {
                let step = &self.steps[index];
                step.name == name && kind.is_none_or(|kind| kind == step.kind)
            })
            .collect();
        match found.as_slice() {
            [one] => return Ok(*one),
            [_, _, ..] => {
                return Err(RunError::NotRunnable {
                    name: target.to_owned(),
                    what: format!(
                        "both a data set and a training: say `data.{name}` or `training.{name}`"
                    ),
                });
            }
            [] => {}
        }
        if let Some(gate) = config.gates.get(name)
            && kind.is_none()
            && let Some(index) = self
                .steps
                .iter()
                .position(|step| step.kind == NodeKind::Training && step.name == gate.training)
        {
            return Ok(index);
        }
        let not_runnable = |what: String| {
            Err(RunError::NotRunnable {
                name: target.to_owned(),
                what,
            })
        };
        if config.data.contains_key(name) && kind != Some(NodeKind::Training) {
            return not_runnable(
                "a data set without a `run` command (read where it is needed): nothing runs for it"
                    .to_owned(),
            );
        }
        if config.deployments.contains_key(name) {
            return not_runnable(
                "a deployment: deployments never run locally (`mlops promote` releases a model)"
                    .to_owned(),
            );
        }
        if config.approvals.contains_key(name) {
            return not_runnable(
                "an approval: approvals are given on the pull request, never locally".to_owned(),
            );
        }
        let names = self
            .steps
            .iter()
            .map(|step| step.name.as_str())
            .chain(config.gates.keys().map(String::as_str));
        let hint = crate::suggest::did_you_mean(name, names)
            .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
        Err(RunError::UnknownNode {
            name: target.to_owned(),
            hint,
        })
    }

    fn select(&mut self) -> Result<(), RunError> {
        if self.options.targets.is_empty() {
            self.selected.fill(true);
            return Ok(());
        }
        let mut queue = Vec::new();
        for target in &self.options.targets {
            queue.push(self.resolve(target)?);
        }
        while let Some(index) = queue.pop() {
            if std::mem::replace(&mut self.selected[index], true) {
                continue;
            }
            match self.options.scope {
                Scope::Single => {}
                Scope::Downstream => queue.extend(self.dependants[index].iter().copied()),
                Scope::WithNeeds => queue.extend(self.deps[index].iter().copied()),
            }
        }
        Ok(())
    }

    fn record_path(&self, index: usize) -> PathBuf {
        self.runs_dir
            .join(format!("{}.json", file_stem(&self.steps[index])))
    }

    fn entry(&self, index: usize) -> Option<&lock::Entry> {
        let step = &self.steps[index];
        // Entries are sorted by kind then name.
        self.lock
            .entries
            .binary_search_by(|entry| {
                (entry.kind, entry.name.as_str()).cmp(&(step.kind, step.name.as_str()))
            })
            .ok()
            .map(|found| &self.lock.entries[found])
    }

    fn current_inputs(&self, index: usize) -> BTreeMap<String, String> {
        let step = &self.steps[index];
        self.input_files
            .get(&(step.kind, step.name.clone()))
            .map(|files| files.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The files of the declared outputs of `index` as they are now, each digest reused from
    /// `known` when its size and modification time are the ones recorded.
    fn current_outputs(&self, index: usize) -> (BTreeMap<String, Stamp>, Vec<String>) {
        let known = self.records[index].as_ref().map(|record| &record.outputs);
        let mut stamps = BTreeMap::new();
        let mut missing = Vec::new();
        for output in &self.steps[index].outputs {
            let files = files_under(self.project.folder, output);
            if files.is_empty() {
                missing.push(output.clone());
            }
            for (path, metadata) in files {
                let size = metadata.len();
                let modified_ns = modified_ns(&metadata);
                let reused = known
                    .and_then(|known| known.get(&path))
                    .filter(|stamp| stamp.size == size && stamp.modified_ns == modified_ns)
                    .map(|stamp| stamp.digest.clone());
                let digest =
                    reused.or_else(|| lock::digest_file(&self.project.folder.join(&path)).ok());
                if let Some(digest) = digest {
                    stamps.insert(
                        path,
                        Stamp {
                            digest,
                            size,
                            modified_ns,
                        },
                    );
                }
            }
        }
        (stamps, missing)
    }

    /// The files of the steps `index` waits for, as they are now.
    fn upstream_files(&self, index: usize) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        for &dep in &self.deps[index] {
            let (stamps, _) = self.current_outputs(dep);
            files.extend(stamps.into_iter().map(|(path, stamp)| (path, stamp.digest)));
        }
        files
    }

    /// Why `index` must run, or `None` when it is up to date.
    fn why_run(&self, index: usize) -> Option<String> {
        if self.options.force {
            return Some("forced (--force)".to_owned());
        }
        let Some(record) = &self.records[index] else {
            return Some(
                self.record_problems[index]
                    .clone()
                    .unwrap_or_else(|| "never run".to_owned()),
            );
        };
        let mut reasons = Vec::new();
        if let Some(entry) = self.entry(index)
            && entry.fingerprint != record.fingerprint
        {
            let changed = changed_files(&record.inputs, &self.current_inputs(index));
            let single = Lock {
                entries: vec![entry.clone()],
            };
            for (_, _, why) in
                lock::differences(&record.entry, &single, self.project.config, &changed)
            {
                reasons.push(why);
            }
        }
        let (now, missing) = self.current_outputs(index);
        for output in &missing {
            reasons.push(format!("output {output} deleted"));
        }
        let changed_outputs: Vec<&String> = record
            .outputs
            .iter()
            .filter(|(path, stamp)| {
                !missing.iter().any(|output| covers(output, path))
                    && now.get(*path).map(|now| &now.digest) != Some(&stamp.digest)
            })
            .map(|(path, _)| path)
            .collect();
        if !changed_outputs.is_empty() {
            reasons.push(format!("output {} changed", list(&changed_outputs)));
        }
        let upstream_now = self.upstream_files(index);
        let upstream_changed: Vec<&String> = upstream_now
            .iter()
            .filter(|(path, digest)| record.upstream.get(*path) != Some(digest))
            .map(|(path, _)| path)
            .chain(
                record
                    .upstream
                    .keys()
                    .filter(|path| !upstream_now.contains_key(*path)),
            )
            .collect();
        if !upstream_changed.is_empty() {
            reasons.push(format!(
                "upstream output {} changed",
                list(&upstream_changed)
            ));
        }
        if reasons.is_empty() {
            None
        } else {
            Some(reasons.join("; "))
        }
    }

    /// The selected steps that are not up to date before anything runs; each decision is
    /// kept for when the step's turn comes with nothing upstream of it run since.
    fn initially_stale(&mut self) -> Vec<usize> {
        let mut stale = Vec::new();
        for index in 0..self.steps.len() {
            if !self.selected[index] {
                continue;
            }
            let why = self.why_run(index);
            if why.is_some() {
                stale.push(index);
            }
            self.first_decisions[index] = Decision::Decided(why);
        }
        stale
    }

    /// The selected steps that may run: the stale ones and what depends on them.
    fn may_run(&self, stale: &[usize]) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut queue = stale.to_vec();
        while let Some(index) = queue.pop() {
            if self.selected[index] && found.insert(index) {
                queue.extend(self.dependants[index].iter().copied());
            }
        }
        found
    }

    fn missing_secrets(
        &self,
        stale: &[usize],
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        let mut missing = Vec::new();
        for index in self.may_run(stale) {
            let step = &self.steps[index];
            for secret in &step.secrets {
                if environment(secret).is_none() {
                    missing.push((secret.clone(), label(step)));
                }
            }
        }
        missing
    }

    fn print_plan(&mut self, out: &mut dyn Write) {
        let stale = self.initially_stale();
        let will_run = self.may_run(&stale);
        let (mut runs, mut fresh) = (0, 0);
        for index in 0..self.steps.len() {
            if !self.selected[index] {
                continue;
            }
            let step = &self.steps[index];
            if !will_run.contains(&index) {
                fresh += 1;
                let _ = writeln!(out, "= {} up to date", label(step));
                continue;
            }
            runs += 1;
            let why = self.why_run(index).unwrap_or_else(|| {
                let first: Vec<String> = self.deps[index]
                    .iter()
                    .filter(|dep| will_run.contains(dep))
                    .map(|&dep| format!("`{}`", self.steps[dep].name))
                    .collect();
                format!("upstream {} runs first", first.join(", "))
            });
            let _ = writeln!(out, "▶ {} ({why})", label(step));
            for command in step.setup.iter().chain(step.run.iter()) {
                for line in command.lines() {
                    let _ = writeln!(out, "    $ {line}");
                }
            }
        }
        let _ = writeln!(
            out,
            "{runs} would run, {fresh} up to date (dry run: nothing ran)"
        );
    }

    fn prepare_state_dir(&self) -> Result<(), RunError> {
        let state = self.project.folder.join(STATE_DIR);
        let created = |path: &Path| {
            std::fs::create_dir_all(path)
                .map_err(|error| RunError::Io(format!("cannot create {}: {error}", path.display())))
        };
        created(&self.runs_dir)?;
        created(&self.logs_dir)?;
        let ignore = state.join(".gitignore");
        if !ignore.exists() {
            // What `run` writes, not the folder: `mlops init` keeps the editor's schema here.
            std::fs::write(&ignore, IGNORED).map_err(|error| {
                RunError::Io(format!("cannot write {}: {error}", ignore.display()))
            })?;
        }
        Ok(())
    }

    fn recompute_lock(&mut self) {
        let files = lock::WorkingTree::new(self.project.folder);
        let (lock, input_files) =
            lock::compute_steps(self.project.config, self.project.graph, &files);
        self.lock = lock;
        self.input_files = input_files;
        self.lock_outdated = false;
    }

    /// Whether a step `index` waits for, directly or not, ran in this run.
    fn upstream_ran(&self, index: usize) -> bool {
        let mut queue = self.deps[index].clone();
        let mut seen = BTreeSet::new();
        while let Some(dep) = queue.pop() {
            if !seen.insert(dep) {
                continue;
            }
            if self.states[dep] == State::Ran {
                return true;
            }
            queue.extend(self.deps[dep].iter().copied());
        }
        false
    }

    /// The next step that may start: selected, waiting, and every selected step it waits for
    /// done.
    fn next_ready(&self) -> Option<usize> {
        (0..self.steps.len()).find(|&index| {
            self.selected[index]
                && self.states[index] == State::Waiting
                && self.deps[index].iter().all(|&dep| {
                    !self.selected[dep] || matches!(self.states[dep], State::Ran | State::UpToDate)
                })
        })
    }

    /// Mark what depends on `index` skipped.
    fn skip_dependants(&mut self, index: usize, progress: &mut dyn Write, outcome: &mut Outcome) {
        let mut queue = self.dependants[index].clone();
        while let Some(dependant) = queue.pop() {
            if self.selected[dependant] && self.states[dependant] == State::Waiting {
                self.states[dependant] = State::Skipped;
                outcome.skipped += 1;
                let _ = writeln!(
                    progress,
                    "- {} skipped: upstream `{}` failed",
                    label(&self.steps[dependant]),
                    self.steps[index].name
                );
                queue.extend(self.dependants[dependant].iter().copied());
            }
        }
    }

    fn execute(&mut self, progress: &mut dyn Write) -> Outcome {
        let mut outcome = Outcome::default();
        let jobs = self.options.jobs.max(1);
        let interrupts_before = INTERRUPTS.load(Ordering::SeqCst);
        let (finished_tx, finished) = std::sync::mpsc::channel::<Finished>();
        let mut running: BTreeMap<usize, Running> = BTreeMap::new();
        let mut stopping = false;
        let mut interrupted_at: Option<Instant> = None;
        let mut signals_sent = 0;
        loop {
            let interrupts = INTERRUPTS.load(Ordering::SeqCst) - interrupts_before;
            if interrupts > signals_sent {
                // First Ctrl-C: SIGINT to each running node's group, then a grace period;
                // a second one, or the grace period over: SIGKILL.
                let first = signals_sent == 0;
                signals_sent = interrupts;
                stopping = true;
                outcome.interrupted = true;
                interrupted_at.get_or_insert_with(Instant::now);
                for started in running.values() {
                    signal_group(started.process, !first);
                }
                if first && !running.is_empty() {
                    let _ = writeln!(
                        progress,
                        "interrupted: stopping {} running node(s); Ctrl-C again to kill them",
                        running.len()
                    );
                }
            } else if let Some(at) = interrupted_at
                && at.elapsed() > INTERRUPT_GRACE
                && signals_sent < usize::MAX
            {
                for started in running.values() {
                    signal_group(started.process, true);
                }
                signals_sent = usize::MAX;
            }
            while !stopping && running.len() < jobs {
                let Some(index) = self.next_ready() else {
                    break;
                };
                let upstream_ran = self.upstream_ran(index);
                if self.lock_outdated && upstream_ran {
                    self.recompute_lock();
                }
                let first =
                    std::mem::replace(&mut self.first_decisions[index], Decision::Undecided);
                let decided = match first {
                    Decision::Decided(why) if !upstream_ran => why,
                    _ => self.why_run(index),
                };
                let Some(why) = decided else {
                    self.states[index] = State::UpToDate;
                    outcome.up_to_date += 1;
                    let _ = writeln!(progress, "= {} up to date", label(&self.steps[index]));
                    continue;
                };
                let _ = writeln!(progress, "▶ {} ({why})", label(&self.steps[index]));
                if self.options.echo == Echo::GithubGroups {
                    let _ = writeln!(progress, "::group::{} output", label(&self.steps[index]));
                }
                match self.start(index, &finished_tx) {
                    Ok(started) => {
                        self.states[index] = State::Running;
                        running.insert(index, started);
                    }
                    Err(message) => {
                        self.fail(index, &message, None, progress, &mut outcome);
                        stopping |= !self.options.keep_going;
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            let Ok(done) = finished.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let Some(started) = running.remove(&done.index) else {
                continue;
            };
            let elapsed = started.at.elapsed();
            let step_label = label(&self.steps[done.index]);
            if self.options.echo == Echo::GithubGroups {
                let _ = writeln!(progress, "::endgroup::");
            }
            if outcome.interrupted {
                self.states[done.index] = State::Interrupted;
                self.forget(done.index);
                let _ = writeln!(
                    progress,
                    "✗ {step_label} interrupted after {}; nothing recorded",
                    duration_text(elapsed)
                );
                continue;
            }
            let result = match done.status {
                Ok(status) if status.success() => self.succeed(done.index, &started),
                Ok(status) => Err(match status.code() {
                    Some(code) => {
                        format!(
                            "failed after {}: exit status {code}",
                            duration_text(elapsed)
                        )
                    }
                    None => format!(
                        "failed after {}: killed by a signal",
                        duration_text(elapsed)
                    ),
                }),
                Err(error) => Err(format!("could not be waited for: {error}")),
            };
            match result {
                Ok(()) => {
                    self.states[done.index] = State::Ran;
                    self.lock_outdated = true;
                    outcome.ran += 1;
                    let _ = writeln!(progress, "✓ {step_label} {}", duration_text(elapsed));
                }
                Err(message) => {
                    self.fail(
                        done.index,
                        &message,
                        Some(&started.log),
                        progress,
                        &mut outcome,
                    );
                    stopping |= !self.options.keep_going;
                }
            }
        }
        // What never started because the run stopped (a failure without -k, or Ctrl-C).
        for index in 0..self.steps.len() {
            if self.selected[index] && self.states[index] == State::Waiting {
                self.states[index] = State::Skipped;
                outcome.skipped += 1;
                let why = if outcome.interrupted {
                    "the run was interrupted"
                } else {
                    "the run stopped at the first failure (-k goes on)"
                };
                let _ = writeln!(progress, "- {} skipped: {why}", label(&self.steps[index]));
            }
        }
        outcome
    }

    fn fail(
        &mut self,
        index: usize,
        message: &str,
        log: Option<&Path>,
        progress: &mut dyn Write,
        outcome: &mut Outcome,
    ) {
        self.states[index] = State::Failed;
        self.forget(index);
        outcome.failed += 1;
        let _ = writeln!(progress, "✗ {} {message}", label(&self.steps[index]));
        if let Some(log) = log {
            let tail = log_tail(log);
            // `./.mlops/...` when the config is in the current folder: say `.mlops/...`.
            let log = log.strip_prefix(".").unwrap_or(log);
            if tail.is_empty() {
                let _ = writeln!(progress, "  log (empty): {}", log.display());
            } else {
                let _ = writeln!(progress, "  last lines of {}:", log.display());
                for line in tail {
                    let _ = writeln!(progress, "  | {line}");
                }
            }
        }
        self.skip_dependants(index, progress, outcome);
    }

    /// Drop the record of a node that failed or was interrupted: its outputs may be half
    /// written, so it runs next time whatever its fingerprint says.
    fn forget(&mut self, index: usize) {
        self.records[index] = None;
        let _ = std::fs::remove_file(self.record_path(index));
    }

    /// Start the node's commands in their own process group, output to its log.
    fn start(
        &self,
        index: usize,
        finished: &std::sync::mpsc::Sender<Finished>,
    ) -> Result<Running, String> {
        let step = &self.steps[index];
        let log = self.logs_dir.join(format!("{}.log", file_stem(step)));
        let file = std::fs::File::create(&log)
            .map_err(|error| format!("cannot create its log {}: {error}", log.display()))?;
        // One pipe for stdout and stderr, so the log keeps their order.
        let (output, writer) =
            std::io::pipe().map_err(|error| format!("cannot make a pipe: {error}"))?;
        let second = writer
            .try_clone()
            .map_err(|error| format!("cannot make a pipe: {error}"))?;
        let script: Vec<&str> = step
            .setup
            .iter()
            .chain(step.run.iter())
            .map(String::as_str)
            .collect();
        let script = script.join("\n");
        let mut command = std::process::Command::new("bash");
        command.args(["--noprofile", "--norc", "-e", "-o", "pipefail"]);
        if script.len() <= INLINE_SCRIPT_LIMIT {
            command.arg("-c").arg(script);
        } else {
            // Linux starts no process with one argument over 128 KiB (`MAX_ARG_STRLEN`): a
            // longer script is handed to bash as a file, beside the node's log.
            let file = self.logs_dir.join(format!("{}.sh", file_stem(step)));
            std::fs::write(&file, script)
                .map_err(|error| format!("cannot write its script {}: {error}", file.display()))?;
            command.arg(std::path::absolute(&file).unwrap_or(file));
        }
        command
            .current_dir(self.project.folder)
            .env("MLOPS_NODE", &step.name)
            .env(
                "MLOPS_ROOT",
                std::path::absolute(self.project.folder)
                    .unwrap_or_else(|_| self.project.folder.to_path_buf()),
            )
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(second);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            // Its own group: Ctrl-C reaches the node through us, so that we know it was
            // interrupted, and stops everything it started.
            command.process_group(0);
        }
        let mut child = command
            .spawn()
            .map_err(|error| format!("could not start bash: {error}"))?;
        // Our copies of the pipe's writing end close here: the copy ends when the node's
        // processes have all closed theirs.
        drop(command);
        let process = child.id();
        let prefix = match self.options.echo {
            Echo::Quiet => None,
            Echo::Prefixed => Some(format!("[{}] ", step.name)),
            Echo::Plain | Echo::GithubGroups => Some(String::new()),
        };
        let (copied, copy_done) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            copy_output(output, file, prefix.as_deref());
            let _ = copied.send(());
        });
        let sender = finished.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            // A process the node left in the background may hold the pipe open: its output
            // goes on being copied, but the node is done.
            let _ = copy_done.recv_timeout(Duration::from_secs(2));
            let _ = sender.send(Finished { index, status });
        });
        Ok(Running {
            process,
            at: Instant::now(),
            log,
            fingerprint: self.entry(index).map(|e| e.fingerprint.clone()),
            entry: self.entry(index).map(|e| {
                Lock {
                    entries: vec![e.clone()],
                }
                .to_toml("")
            }),
            inputs: self.current_inputs(index),
            upstream: self.upstream_files(index),
        })
    }

    /// Check the outputs of a node that exited 0 and record its run.
    fn succeed(&mut self, index: usize, started: &Running) -> Result<(), String> {
        // Digests are taken afresh (no record to reuse them from): the files are new.
        self.records[index] = None;
        let (outputs, missing) = self.current_outputs(index);
        if !missing.is_empty() {
            let noun = if missing.len() == 1 {
                "output"
            } else {
                "outputs"
            };
            return Err(format!(
                "exited 0 but left its declared {noun} {} missing",
                missing.join(", ")
            ));
        }
        let record = Record {
            version: RECORD_VERSION,
            fingerprint: started.fingerprint.clone().unwrap_or_default(),
            entry: started.entry.clone().unwrap_or_default(),
            inputs: started.inputs.clone(),
            outputs,
            upstream: started.upstream.clone(),
        };
        let path = self.record_path(index);
        write_atomically(
            &path,
            &serde_json::to_string_pretty(&record).unwrap_or_default(),
        )
        .map_err(|error| {
            format!(
                "ran, but its record {} cannot be written: {error}",
                path.display()
            )
        })?;
        self.records[index] = Some(record);
        Ok(())
    }

    /// What a gate reads, as one digest: its rules, the digest of its training's metrics
    /// file as recorded, and the baseline's identity. `None` when that cannot be known
    /// without reading (a `production` baseline, whose release branch moves on its own).
    fn gate_key(&self, gate: &crate::spec::model::Gate, base: &str) -> Option<String> {
        if gate.baseline != crate::spec::model::Baseline::Base {
            return None;
        }
        let metrics = self
            .project
            .config
            .training
            .get(&gate.training)?
            .metrics
            .as_ref()?;
        let index = self
            .steps
            .iter()
            .position(|step| step.kind == NodeKind::Training && step.name == gate.training)?;
        let stamp = self.records[index].as_ref()?.outputs.get(metrics)?;
        let rules = lock::canonical(&serde_json::to_value(gate).ok()?);
        Some(lock::digest(
            format!("mlops-gate/v1\n{rules}\n{}\n{base}\n", stamp.digest).as_bytes(),
        ))
    }

    fn judge_gates(&self, base: &gate::BaseReader, outcome: &mut Outcome, reporter: &mut Reporter) {
        let config = self.project.config;
        let identity = base.identity();
        let passed_path = self.project.folder.join(STATE_DIR).join("gates.json");
        // Gates that passed here, with the key of what they read then. A gate that passed
        // and reads the same is not judged again (1,000 gates cost more than the rest of a
        // run that does nothing); one that failed is judged every time.
        let passed_before: PassedGates = std::fs::read_to_string(&passed_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .filter(|passed: &PassedGates| passed.version == RECORD_VERSION)
            .unwrap_or_default();
        let mut passed_now = PassedGates {
            version: RECORD_VERSION,
            gates: BTreeMap::new(),
        };
        let mut unchanged = 0;
        let mut judged = Vec::new();
        for (name, gate) in &config.gates {
            let Some(index) = self
                .steps
                .iter()
                .position(|step| step.kind == NodeKind::Training && step.name == gate.training)
            else {
                continue;
            };
            if !self.selected[index] {
                continue;
            }
            let key = identity.as_ref().and_then(|base| self.gate_key(gate, base));
            match self.states[index] {
                State::UpToDate
                    if key.is_some() && passed_before.gates.get(name) == key.as_ref() =>
                {
                    unchanged += 1;
                    passed_now
                        .gates
                        .insert(name.clone(), key.unwrap_or_default());
                }
                State::Ran | State::UpToDate => judged.push(name.clone()),
                _ => outcome.gates_not_judged.push((
                    name.clone(),
                    format!("training `{}` did not run to the end", gate.training),
                )),
            }
        }
        if !judged.is_empty() {
            match gate::run(config, self.project.folder, &judged, base) {
                Ok(results) => outcome.gates = results,
                Err(message) => outcome
                    .gates_not_judged
                    .extend(judged.into_iter().map(|name| (name, message.clone()))),
            }
        }
        for result in outcome.gates.iter().filter(|result| result.passed) {
            if let (Some(gate), Some(base)) = (config.gates.get(&result.name), &identity)
                && let Some(key) = self.gate_key(gate, base)
            {
                passed_now.gates.insert(result.name.clone(), key);
            }
        }
        // Gates of trainings not selected this time keep what they had.
        let before = passed_before.gates.clone();
        for (name, key) in passed_before.gates {
            let selected = config.gates.get(&name).is_some_and(|gate| {
                self.steps.iter().enumerate().any(|(index, step)| {
                    step.kind == NodeKind::Training
                        && step.name == gate.training
                        && self.selected[index]
                })
            });
            if !selected {
                passed_now.gates.entry(name).or_insert(key);
            }
        }
        // Written (and synced) only when it changed: a run with nothing to do writes nothing.
        if passed_now.gates != before
            && let Ok(text) = serde_json::to_string_pretty(&passed_now)
        {
            let _ = write_atomically(&passed_path, &text);
        }
        if !outcome.gates.is_empty() {
            let _ = write!(reporter.output, "{}", gate::render_text(&outcome.gates));
        }
        if unchanged > 0 {
            let _ = writeln!(
                reporter.progress,
                "= {unchanged} gate{} passed when last judged here, and nothing {} read has changed",
                if unchanged == 1 { "" } else { "s" },
                if unchanged == 1 { "it" } else { "they" },
            );
            outcome.gates_unchanged = unchanged;
        }
        for (name, why) in &outcome.gates_not_judged {
            let _ = writeln!(reporter.progress, "- gate {name} not judged: {why}");
        }
    }
}

/// The record at `path`, or why it cannot be used (nothing when there is none).
fn read_record(path: &Path) -> (Option<Record>, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    match serde_json::from_str::<Record>(&text) {
        Ok(record) if record.version == RECORD_VERSION => (Some(record), None),
        Ok(_) => (
            None,
            Some("its run record is from another version of mlops".to_owned()),
        ),
        Err(error) => (
            None,
            Some(format!(
                "its run record `{}` cannot be read ({error})",
                path.display()
            )),
        ),
    }
}

/// A node's process while it runs.
struct Running {
    process: u32,
    at: Instant,
    log: PathBuf,
    fingerprint: Option<String>,
    entry: Option<String>,
    inputs: BTreeMap<String, String>,
    upstream: BTreeMap<String, String>,
}

/// A node's process ended.
struct Finished {
    index: usize,
    status: std::io::Result<std::process::ExitStatus>,
}

#[cfg(unix)]
fn signal_group(process: u32, kill: bool) {
    let Ok(group) = libc::pid_t::try_from(process) else {
        return;
    };
    let signal = if kill { libc::SIGKILL } else { libc::SIGINT };
    // SAFETY: killpg only sends a signal; the group is the node's own (process_group(0) made
    // the child its leader), so nothing outside the node is signalled.
    unsafe {
        libc::killpg(group, signal);
    }
}

#[cfg(not(unix))]
fn signal_group(_process: u32, _kill: bool) {
    // On Windows, Ctrl-C reaches every process of the console, the node's too.
}

/// The files (path from `folder`, metadata) that `output` names: the file, or every file under
/// the folder. Empty when it does not exist.
fn files_under(folder: &Path, output: &str) -> Vec<(String, std::fs::Metadata)> {
    let mut found = Vec::new();
    let trimmed = output.trim_end_matches('/');
    let mut queue = vec![trimmed.to_owned()];
    while let Some(path) = queue.pop() {
        let Ok(metadata) = std::fs::metadata(folder.join(&path)) else {
            continue;
        };
        if metadata.is_dir() {
            if let Ok(entries) = std::fs::read_dir(folder.join(&path)) {
                for entry in entries.flatten() {
                    queue.push(format!("{path}/{}", entry.file_name().to_string_lossy()));
                }
            }
        } else {
            found.push((path, metadata));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn modified_ns(metadata: &std::fs::Metadata) -> u64 {
    metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// Whether the declared output `output` (a file or a folder) holds `path`.
fn covers(output: &str, path: &str) -> bool {
    let output = output.trim_end_matches('/');
    path == output
        || path
            .strip_prefix(output)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Files added, deleted or modified between two manifests, as the lock's explanation wants.
fn changed_files(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<(char, String)> {
    let mut changed = Vec::new();
    for (path, digest) in now {
        match before.get(path) {
            None => changed.push(('A', path.clone())),
            Some(old) if old != digest => changed.push(('M', path.clone())),
            Some(_) => {}
        }
    }
    for path in before.keys() {
        if !now.contains_key(path) {
            changed.push(('D', path.clone()));
        }
    }
    changed.sort_by(|a, b| a.1.cmp(&b.1));
    changed
}

/// `a, b and 3 more`.
fn list(paths: &[&String]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<&str> = paths.iter().take(SHOWN).map(|path| path.as_str()).collect();
    if paths.len() > SHOWN {
        format!("{} and {} more", shown.join(", "), paths.len() - SHOWN)
    } else {
        shown.join(", ")
    }
}

/// Copy a node's output into its log and, after `prefix` on each line, to stderr.
fn copy_output(output: std::io::PipeReader, mut log: std::fs::File, prefix: Option<&str>) {
    use std::io::BufRead as _;
    let mut reader = std::io::BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = log.write_all(&line);
        if let Some(prefix) = prefix {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(prefix.as_bytes());
            let _ = stderr.write_all(&line);
            if !line.ends_with(b"\n") {
                let _ = stderr.write_all(b"\n");
            }
        }
    }
    let _ = log.flush();
}

/// The last lines of a log, lossily decoded.
fn log_tail(log: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(log) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect()
}

fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    let mut file = crate::outputs::temporary_file_in(folder)?;
    file.write_all(contents.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(duration_text(Duration::from_millis(420)), "0.4s");
        assert_eq!(duration_text(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration_text(Duration::from_secs(3720)), "1h 02m");
    }

    #[test]
    fn a_folder_output_covers_its_files_only() {
        assert!(covers("data/out", "data/out/a.csv"));
        assert!(covers("data/out/", "data/out/a.csv"));
        assert!(covers("model.pkl", "model.pkl"));
        assert!(!covers("data/out", "data/outside.csv"));
    }

    #[test]
    fn changed_files_name_added_deleted_and_modified() {
        let before: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3")]
            .into_iter()
            .map(|(p, d)| (p.to_owned(), d.to_owned()))
            .collect();
        let now: BTreeMap<String, String> = [("a", "1"), ("b", "9"), ("d", "4")]
            .into_iter()
            .map(|(p, d)| (p.to_owned(), d.to_owned()))
            .collect();
        assert_eq!(
            changed_files(&before, &now),
            vec![
                ('M', "b".to_owned()),
                ('D', "c".to_owned()),
                ('A', "d".to_owned())
            ]
        );
    }

    #[test]
    fn long_lists_say_how_many_more() {
        let paths: Vec<String> = (0..7).map(|i| format!("f{i}")).collect();
        let refs: Vec<&String> = paths.iter().collect();
        assert_eq!(list(&refs), "f0, f1, f2, f3, f4 and 2 more");
        assert_eq!(list(&refs[..2]), "f0, f1");
    }
}
