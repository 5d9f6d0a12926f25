//! The command line: clap definitions and one small function per subcommand.
//!
//! Exit codes (the spec's contract): 0 ok; 1 the input is invalid; 2 usage or I/O error.
//! Diagnostics go to stderr; machine output (JSON, SARIF, workflow commands, graphs, schemas)
//! to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::codes::Code;
use crate::diag::{self, FileReport, SourceFile};
use crate::emit::{self, EmitError};
use crate::generate::{Outputs, Planner};
use crate::graph::GraphFormat;

/// `mlops graph --format`: the command line's names for [`GraphFormat`] (only `cli` knows clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormatArg {
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// JSON: nodes and edges.
    Json,
}

impl From<GraphFormatArg> for GraphFormat {
    fn from(format: GraphFormatArg) -> GraphFormat {
        match format {
            GraphFormatArg::Mermaid => GraphFormat::Mermaid,
            GraphFormatArg::Dot => GraphFormat::Dot,
            GraphFormatArg::Json => GraphFormat::Json,
        }
    }
}
use crate::repo::DiskRepo;
use crate::{Validation, affected, gate, init, outputs, spec, suggest};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the config (or a gate) failed.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// Compile one reviewed mlops.yaml into CI pipelines, deploy manifests and PR metric reports.
#[derive(Debug, Parser)]
#[command(name = "mlops", version = crate::build_info::VERSION, about, max_term_width = 100)]
pub struct Cli {
    /// When to colour diagnostics: `auto` colours a terminal unless `NO_COLOR` is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check mlops.yaml: YAML, schema and every semantic rule; report all problems at once.
    Validate {
        /// Config files, or folders holding mlops.yaml (pre-commit passes several).
        #[arg(default_value = "mlops.yaml")]
        paths: Vec<PathBuf>,
        /// Output format: `human` on stderr; `json`, `github`, `sarif` and `gitlab` on stdout.
        #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
        format: DiagFormat,
    },
    /// Explain a diagnostic code: what it checks, why, and a wrong and a right example.
    Explain {
        /// A code such as `unknown-ref`; without one, list every code.
        code: Option<String>,
    },
    /// Print the JSON Schema of mlops.yaml (for editors and check-jsonschema).
    Schema,
    /// Print a shell completion script (`mlops completions bash > /etc/bash_completion.d/mlops`;
    /// zsh: into a folder on `$fpath` as `_mlops`; fish: `~/.config/fish/completions/mlops.fish`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, roff (`mlops man > ~/.local/share/man/man1/mlops.1`).
    Man,
    /// Print the dependency graph of a valid config.
    Graph {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Graph format.
        #[arg(long, value_enum, default_value_t = GraphFormatArg::Mermaid)]
        format: GraphFormatArg,
    },
    /// Write the generated files (the GitHub workflow, ...) from a valid config.
    Render {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Project root the files are written under (default: the config's folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the unified diff against what is on disk; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Exit 1 with a diff when a generated file differs from a fresh render (CI's drift check).
    Check {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Project root the files live under (default: the config's folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the nodes a change affects, and everything that must run with them.
    #[command(group(clap::ArgGroup::new("since").required(true).args(["base", "schedule", "all", "retrain"])))]
    Affected {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Compare the working tree with this git revision (a PR's base SHA).
        #[arg(long)]
        base: Option<String>,
        /// A scheduled run of this cron expression: the data it refreshes and what follows.
        #[arg(long)]
        schedule: Option<String>,
        /// Everything (a manual run).
        #[arg(long)]
        all: bool,
        /// This training again, with what it needs and what follows it (the monitor's answer
        /// to drift: the retrained model goes through its gates and approvals).
        #[arg(long, value_name = "TRAINING")]
        retrain: Option<String>,
        /// With `--base`, on the default branch: also re-run each deployment whose inputs
        /// changed since the commit its current release was trained from, or that was never
        /// released, so the changes of a cancelled or failed run are picked up by the next.
        #[arg(long, requires = "base")]
        since_release: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AffectedFormat::Text)]
        format: AffectedFormat,
        /// With `--format github-output`: write each running step's scripts into this folder
        /// (`<step>/run.sh`, `command.sh`, `pattern`), as the workflow's plan job does.
        #[arg(long, value_name = "DIR")]
        scripts: Option<PathBuf>,
    },
    /// Evaluate the gates; exit 1 when any rule fails, saying which and by how much.
    #[command(group(clap::ArgGroup::new("baseline").args(["base", "base_dir"])))]
    Gate {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Only this gate (repeatable); all gates by default.
        #[arg(long = "gate", value_name = "NAME")]
        gates: Vec<String>,
        /// Baseline: the metrics files at this git revision (a PR's base SHA).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Baseline: a folder holding the base metrics at the same paths.
        #[arg(long, value_name = "DIR")]
        base_dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GateFormat::Text)]
        format: GateFormat,
        /// Also write the verdicts as `JUnit` XML to this file (a CI's test report, such as
        /// GitLab's `artifacts:reports:junit`), whatever `--format` prints.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Also write each metric the gates' rules read, its new value alone, to
        /// `DIR/metric-<n>` (numbered in the order the rules first name them; `NaN` when the
        /// metrics file lacks it): what an Argo task publishes as output parameters.
        #[arg(long, value_name = "DIR")]
        values_dir: Option<PathBuf>,
    },
    /// Run the pipeline here: the named data steps and trainings (default: all) and what they
    /// need, in graph order, re-running only what changed since its last run on this machine;
    /// then judge their gates. Deployments and approvals never run locally.
    #[command(group(clap::ArgGroup::new("scope").args(["single", "downstream"])))]
    Run {
        /// Data steps, trainings or gates (a gate: its training); `data.NAME` or
        /// `training.NAME` when a name is both.
        nodes: Vec<String>,
        /// The config file, or a folder holding mlops.yaml.
        #[arg(long, default_value = "mlops.yaml", value_name = "PATH")]
        config: PathBuf,
        /// Print what would run, why, and the exact commands; run nothing.
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Run the selected nodes even when up to date.
        #[arg(short, long)]
        force: bool,
        /// Only the named nodes, not what they need.
        #[arg(short, long, requires = "nodes")]
        single: bool,
        /// The named nodes and everything that depends on them.
        #[arg(long, requires = "nodes")]
        downstream: bool,
        /// After a failure, go on with what does not depend on it (exit 1 at the end).
        #[arg(short, long)]
        keep_going: bool,
        /// Nodes run at once (default 1: trainings contend for GPUs).
        #[arg(short, long, default_value_t = 1, value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..))]
        jobs: u16,
        /// Gates' baseline: the metrics files at this git revision (default: HEAD).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// The nodes' own output to their logs only (`.mlops/logs/`), not to the terminal.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Release a model to a deployment: its release record and manifest, committed to the
    /// environment's release branch (`mlops/release/<environment>`, which Argo CD follows).
    /// With `--publish`, pushed there, or for an approval-gated environment pushed for review
    /// with a pull request into it.
    Promote {
        /// The deployment.
        deployment: String,
        /// Where the serving platform loads the model from (s3://, gs://, pvc://, https://).
        #[arg(long, value_name = "URI")]
        model_uri: String,
        /// The model artifact's SHA-256: `sha256:<64 hex digits>`.
        #[arg(long, value_name = "sha256:HEX")]
        digest: String,
        /// The model's metrics file (JSON, YAML or CSV), recorded as the production baseline.
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// The commit the model was trained from (default: the checkout's HEAD).
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
        /// A monitored deployment's reference sample, as uploaded beside the model: recorded
        /// with the release, so drift is measured against what the model was trained on.
        #[arg(long, value_name = "URI", requires = "reference_digest")]
        reference_uri: Option<String>,
        /// The reference sample's SHA-256: `sha256:<64 hex digits>`.
        #[arg(long, value_name = "sha256:HEX", requires = "reference_uri")]
        reference_digest: Option<String>,
        /// The config file, or a folder holding mlops.yaml.
        #[arg(long, default_value = "mlops.yaml")]
        config: PathBuf,
        #[command(flatten)]
        publication: PublishArgs,
    },
    /// Return a deployment to the release before its current one: a new release (marked as a
    /// rollback) on the environment's release branch, published like a promotion. Walks the
    /// branch's history, so a second rollback goes one release further back.
    Rollback {
        /// The deployment.
        deployment: String,
        /// The config file, or a folder holding mlops.yaml.
        #[arg(long, default_value = "mlops.yaml")]
        config: PathBuf,
        /// Say what it would do; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        publication: PublishArgs,
    },
    /// The pull-request report: metric diffs with gate verdicts, changed params, the graph and
    /// the generated files the change alters; Markdown (also to `$GITHUB_STEP_SUMMARY`) or JSON.
    #[command(group(clap::ArgGroup::new("baseline").required(true).args(["base", "base_dir"])))]
    Report {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Compare with the files at this git revision (a PR's base SHA).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Compare with base metrics kept in a folder (CI artifacts), at the same paths.
        #[arg(long, value_name = "DIR")]
        base_dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
    },
    /// Post the report as one sticky pull-request comment, updated in place on every run.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["base", "base_dir", "body_file"])))]
    Comment {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Compare with the files at this git revision (a PR's base SHA).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Compare with base metrics kept in a folder, at the same paths.
        #[arg(long, value_name = "DIR")]
        base_dir: Option<PathBuf>,
        /// Post this already rendered report (a fork's `mlops-report` artifact) instead of
        /// building one; the config is not read.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The pull request (default: from the Actions event).
        #[arg(long)]
        pr: Option<u64>,
        /// Find the pull request by its head, `OWNER:BRANCH`, checked against --head (for a
        /// `workflow_run` job, whose event names no pull request for a fork).
        #[arg(long, value_name = "OWNER:BRANCH", conflicts_with = "pr")]
        pr_head: Option<String>,
        /// `owner/repo` (default: `$GITHUB_REPOSITORY`).
        #[arg(long, value_name = "OWNER/REPO", env = "GITHUB_REPOSITORY")]
        repo: Option<String>,
        /// The head commit the report is for (default: from the Actions event, or `$GITHUB_SHA`).
        #[arg(long, value_name = "SHA")]
        head: Option<String>,
        /// Which sticky comment: one per key (default: the config's path).
        #[arg(long)]
        key: Option<String>,
        /// Only edit comments written by this login (default: the token's own identity).
        #[arg(long, value_name = "LOGIN")]
        author: Option<String>,
        /// Print what would be sent; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Post a GitLab merge-request note instead (`$CI_API_V4_URL`, token in
        /// `$MLOPS_GITLAB_TOKEN`): --pr is the merge request's IID (default
        /// `$CI_MERGE_REQUEST_IID`), --repo the project's id or path (default
        /// `$CI_MERGE_REQUEST_PROJECT_ID`), --author a user id (default: the token's user).
        #[arg(long, conflicts_with = "pr_head")]
        gitlab: bool,
    },
    /// The scheduled check of a served model: tabulate its logged predictions, judge drift.
    Monitor {
        #[command(subcommand)]
        action: MonitorAction,
    },
    /// Write a commented starter mlops.yaml (and its schema for editors).
    Init {
        /// Where to write it.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// What `mlops monitor` does.
#[derive(Debug, Subcommand)]
enum MonitorAction {
    /// Turn the JSON records KServe's logger wrote (a folder, read recursively) into a CSV of
    /// the deployment's features, one row per instance, and a CSV of each row's request id and
    /// prediction; report every malformed record with its file and position.
    Collect {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// The monitored deployment.
        #[arg(long, value_name = "NAME")]
        deployment: String,
        /// The folder holding the synced logs.
        #[arg(long, value_name = "DIR")]
        logs: PathBuf,
        /// Where to write the features table.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Where to write the request ids and predictions.
        #[arg(long, value_name = "FILE")]
        predictions: Option<PathBuf>,
        /// A folder of ground-truth CSV files (`id`, optional `row`, `label`): joined with the
        /// predictions by request id into the live metrics written to `--performance`.
        #[arg(long, value_name = "DIR", requires = "performance")]
        labels: Option<PathBuf>,
        /// Where to write the live metrics (`count`, `accuracy`, `auc`, `mae`, `rmse`, where
        /// they mean something), for `judge --performance`.
        #[arg(long, value_name = "FILE", requires = "labels")]
        performance: Option<PathBuf>,
        /// The end of the window (RFC 3339; default: now); records older than the config's
        /// `window` before it are left out.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Judge Evidently's snapshot of the window with the gate engine: exit 0 when there is no
    /// drift, 1 on drift (naming the features), 3 when the window holds fewer rows than
    /// `min_rows` (not enough data: neither).
    Judge {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// The monitored deployment.
        #[arg(long, value_name = "NAME")]
        deployment: String,
        /// Evidently's snapshot (`evidently report … SNAPSHOT`).
        #[arg(long, value_name = "FILE")]
        snapshot: PathBuf,
        /// The features table the snapshot was made from (`collect --out`): its rows are
        /// counted against `min_rows`.
        #[arg(long, value_name = "FILE")]
        current: PathBuf,
        /// Live performance metrics (JSON, YAML or CSV), judged by `performance.rules`.
        #[arg(long, value_name = "FILE")]
        performance: Option<PathBuf>,
        /// Also write the verdict (`pass`, `drift` or `not-enough-data`) to this file.
        #[arg(long, value_name = "FILE")]
        verdict_file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = JudgeFormat::Text)]
        format: JudgeFormat,
    },
    /// Keep one issue per monitored deployment true to the last check: opened (or reopened)
    /// on drift with the judgement, closed when drift is gone; found by its hidden marker and
    /// its author, as the pull-request comment is.
    Issue(IssueArgs),
}

/// The label every drift issue carries, by which the tool lists them.
#[cfg(feature = "github")]
const DRIFT_LABEL: &str = "mlops-drift";

/// `mlops monitor issue`'s arguments.
#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The config file, or a folder holding mlops.yaml.
    #[arg(default_value = "mlops.yaml")]
    path: PathBuf,
    /// The monitored deployment.
    #[arg(long, value_name = "NAME")]
    deployment: String,
    /// The check's verdict (`judge --verdict-file`): `drift` opens or updates the issue,
    /// `pass` closes it, `not-enough-data` leaves it as it is.
    #[arg(long, value_name = "VERDICT")]
    verdict: String,
    /// The judgement to write in the issue (`judge`'s text output).
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// `owner/repo` (default: `$GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/REPO", env = "GITHUB_REPOSITORY")]
    repo: Option<String>,
    /// Only edit issues opened by this login (default: the token's own identity).
    #[arg(long, value_name = "LOGIN")]
    author: Option<String>,
    /// Print the issue's title and body; send nothing.
    #[arg(long)]
    dry_run: bool,
}

/// How `monitor judge` prints its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum JudgeFormat {
    /// One line for the verdict, one per rule.
    Text,
    /// The judgement as JSON.
    Json,
}

/// How `validate` reports problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiagFormat {
    /// miette's report, for people (stderr).
    Human,
    /// One JSON document (stdout).
    Json,
    /// GitHub Actions workflow commands: annotations on the PR diff (stdout).
    Github,
    /// SARIF 2.1.0 for GitHub code scanning (stdout).
    Sarif,
    /// GitLab's Code Quality report, Code Climate JSON, for `artifacts:reports:codequality`
    /// (stdout).
    Gitlab,
}

/// How `affected` prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AffectedFormat {
    /// One line per node that runs, with the reason.
    Text,
    /// One JSON document.
    Json,
    /// For `$GITHUB_OUTPUT`: per stage job of the workflow, the JSON list of the names of its
    /// steps that run.
    GithubOutput,
    /// For `argo submit --parameter-file`: the Argo workflow template's `run-<task>`
    /// parameters, `"true"` for the tasks that run.
    ArgoParameters,
}

/// How `gate` prints its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GateFormat {
    /// A line per gate and per rule.
    Text,
    /// One JSON document.
    Json,
    /// `JUnit` XML: a test suite per gate, a test case per rule (GitLab's
    /// `artifacts:reports:junit`, or any CI's test summary).
    Junit,
}

/// How `report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// GitHub-flavoured Markdown.
    Markdown,
    /// One JSON document.
    Json,
}

/// Parse the arguments, run the command, return the exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        }
    };
    let code = match cli.command {
        Command::Validate { paths, format } => validate(&paths, format, color),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Schema => print_stdout(&spec::schema::generate()),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mlops", &mut script);
            print_stdout(&String::from_utf8_lossy(&script))
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => print_stdout(&String::from_utf8_lossy(&page)),
                Err(error) => fail(&format!("cannot write the man page: {error}")),
            }
        }
        Command::Graph { path, format } => graph(&path, format.into(), color),
        Command::Render { path, out, dry_run } => render(&path, out.as_deref(), dry_run, color),
        Command::Check { path, out } => check(&path, out.as_deref(), color),
        Command::Affected {
            path,
            base,
            schedule,
            all,
            retrain,
            since_release,
            format,
            scripts,
        } => {
            if scripts.is_some() && format != AffectedFormat::GithubOutput {
                return ExitCode::from(fail(
                    "`--scripts` writes the scripts of the workflow's steps: it goes with `--format github-output`",
                ));
            }
            let since = match (base, schedule) {
                (Some(base), _) if base.trim().is_empty() => {
                    return ExitCode::from(fail(
                        "`--base` is empty: give the commit to compare with, or `--all` to run every node (in a workflow, an empty base usually means the event has no previous commit)",
                    ));
                }
                (Some(base), _) => affected::Since::Base(base),
                (None, Some(cron)) => affected::Since::Schedule(cron),
                (None, None) if all => affected::Since::All,
                (None, None) if retrain.is_some() => {
                    affected::Since::Retrain(retrain.unwrap_or_default())
                }
                (None, None) => {
                    return ExitCode::from(fail(
                        "pass --base REV, --schedule CRON, --retrain TRAINING or --all",
                    ));
                }
            };
            run_affected(
                &path,
                &since,
                since_release,
                format,
                scripts.as_deref(),
                color,
            )
        }
        Command::Monitor { action } => match action {
            MonitorAction::Collect {
                path,
                deployment,
                logs,
                out,
                predictions,
                labels,
                performance,
                now,
            } => monitor_collect(
                &path,
                &deployment,
                &CollectFiles {
                    logs: &logs,
                    out: &out,
                    predictions: predictions.as_deref(),
                    ground_truth: labels.as_deref().zip(performance.as_deref()),
                },
                now.as_deref(),
                color,
            ),
            MonitorAction::Judge {
                path,
                deployment,
                snapshot,
                current,
                performance,
                verdict_file,
                format,
            } => monitor_judge(
                &path,
                &deployment,
                &MonitorFiles {
                    snapshot: &snapshot,
                    current: &current,
                    performance: performance.as_deref(),
                    verdict_file: verdict_file.as_deref(),
                },
                format,
                color,
            ),
            MonitorAction::Issue(args) => monitor_issue(&args, color),
        },
        Command::Gate {
            path,
            gates,
            base,
            base_dir,
            format,
            junit,
            values_dir,
        } => {
            let source = match (base, base_dir) {
                (Some(revision), _) => gate::BaseSource::Revision(revision),
                (None, Some(dir)) => gate::BaseSource::Dir(dir),
                (None, None) => gate::BaseSource::Nothing,
            };
            run_gate(
                &path,
                &gates,
                &source,
                format,
                &GateFiles {
                    junit: junit.as_deref(),
                    values_dir: values_dir.as_deref(),
                },
                color,
            )
        }
        Command::Run {
            nodes,
            config,
            dry_run,
            force,
            single,
            downstream,
            keep_going,
            jobs,
            base,
            quiet,
        } => run_locally(
            &config,
            &crate::run::Options {
                targets: nodes,
                dry_run,
                force,
                scope: match (single, downstream) {
                    (true, _) => crate::run::Scope::Single,
                    (_, true) => crate::run::Scope::Downstream,
                    _ => crate::run::Scope::WithNeeds,
                },
                keep_going,
                jobs: usize::from(jobs),
                echo: if quiet {
                    crate::run::Echo::Quiet
                } else if jobs > 1 {
                    crate::run::Echo::Prefixed
                } else if std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true") {
                    crate::run::Echo::GithubGroups
                } else {
                    crate::run::Echo::Plain
                },
            },
            base,
            color,
        ),
        Command::Promote {
            deployment,
            model_uri,
            digest,
            metrics,
            commit,
            reference_uri,
            reference_digest,
            config,
            publication,
        } => promote(
            &config,
            &Promotion {
                deployment,
                model_uri,
                digest,
                metrics,
                commit,
                reference: reference_uri
                    .zip(reference_digest)
                    .map(|(uri, digest)| crate::release::Reference { uri, digest }),
            },
            &publication,
            color,
        ),
        Command::Rollback {
            deployment,
            config,
            dry_run,
            publication,
        } => rollback(&config, &deployment, dry_run, &publication, color),
        Command::Report {
            path,
            base,
            base_dir,
            format,
        } => {
            let source = match (base, base_dir) {
                (Some(revision), _) => gate::BaseSource::Revision(revision),
                (None, Some(dir)) => gate::BaseSource::Dir(dir),
                (None, None) => gate::BaseSource::Nothing,
            };
            run_report(&path, &source, format, color)
        }
        Command::Comment {
            path,
            base,
            base_dir,
            body_file,
            pr,
            pr_head,
            repo,
            head,
            key,
            author,
            dry_run,
            gitlab,
        } => {
            let source = match (base, base_dir) {
                (Some(revision), _) => gate::BaseSource::Revision(revision),
                (None, Some(dir)) => gate::BaseSource::Dir(dir),
                (None, None) => gate::BaseSource::Nothing,
            };
            run_comment(
                &path,
                &source,
                &CommentArgs {
                    body_file,
                    pr,
                    pr_head,
                    repo,
                    head,
                    key,
                    author,
                    dry_run,
                    gitlab,
                },
                color,
            )
        }
        Command::Init { path, force } => init(&path, force),
    };
    ExitCode::from(code)
}

/// Print an I/O or usage error and return exit code 2.
fn fail(message: &str) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

fn print_stdout(text: &str) -> u8 {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`mlops schema | head`) is not an error worth a message.
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => EXIT_OK,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(error) => fail(&format!("cannot write to stdout: {error}")),
    }
}

/// The config file `path` names: the file, or `mlops.yaml` in the folder.
fn read_config_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("mlops.yaml")
    } else {
        path.to_path_buf()
    }
}

/// Resolve `PATH` (a file, or a folder holding mlops.yaml) and read it.
fn read_config(path: &Path) -> Result<(PathBuf, Vec<u8>), String> {
    let path = read_config_path(path);
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "cannot read `{}`: no such file (run `mlops init` to create one, or pass the path)",
            path.display()
        )),
        Err(error) => Err(format!("cannot read `{}`: {error}", path.display())),
    }
}

fn load_and_validate(path: &Path) -> Result<(SourceFile, Validation, DiskRepo), String> {
    let (source, validation, repo, _) =
        load_and_validate_with(path, crate::paths::CleanBlobs::Skip, |_, _, _| ())?;
    Ok((source, validation, repo))
}

/// [`load_and_validate`], with `meanwhile` run on the typed config while its rules are checked
/// (`crate::validate_with`; `None` when the config could not be typed).
fn load_and_validate_with<T: Send>(
    path: &Path,
    clean: crate::paths::CleanBlobs,
    meanwhile: impl FnOnce(&spec::Config, &crate::graph::Graph, &DiskRepo) -> T + Send,
) -> Result<(SourceFile, Validation, DiskRepo, Option<T>), String> {
    let (path, bytes) = read_config(path)?;
    let repo = DiskRepo::listing_with(config_folder(&path), clean);
    let (validation, made) = crate::validate_with(&bytes, &repo, |config, graph| {
        meanwhile(config, graph, &repo)
    });
    let name = path
        .strip_prefix("./")
        .unwrap_or(&path)
        .display()
        .to_string();
    let source = SourceFile::new(name, String::from_utf8_lossy(&bytes).into_owned());
    Ok((source, validation, repo, made))
}

fn validate(paths: &[PathBuf], format: DiagFormat, color: bool) -> u8 {
    let mut reports = Vec::with_capacity(paths.len());
    let mut all_ok = true;
    for path in paths {
        let (source, validation, _) = match load_and_validate(path) {
            Ok(loaded) => loaded,
            Err(message) => return fail(&message),
        };
        if format == DiagFormat::Human {
            eprint!("{}", human_report(&source, &validation, color));
        }
        all_ok &= validation.is_ok();
        reports.push(FileReport {
            source,
            diags: validation.diags,
        });
    }
    let written = match format {
        DiagFormat::Human => EXIT_OK,
        DiagFormat::Json => print_stdout(&diag::render_json(&reports)),
        DiagFormat::Github => print_stdout(
            &reports
                .iter()
                .map(|report| diag::render_github(&report.source, &report.diags))
                .collect::<String>(),
        ),
        DiagFormat::Sarif => print_stdout(&diag::render_sarif(&reports)),
        DiagFormat::Gitlab => print_stdout(&diag::render_codequality(&reports)),
    };
    if written != EXIT_OK {
        return written;
    }
    if all_ok { EXIT_OK } else { EXIT_INVALID }
}

fn human_report(source: &SourceFile, validation: &Validation, color: bool) -> String {
    let diags = &validation.diags;
    if diags.is_empty() {
        return format!("{}: valid\n", source.name);
    }
    let mut report = diag::render_human(source, diags, color);
    if validation.is_ok() {
        report.push_str(&format!("{}: valid (with warnings)\n", source.name));
    } else if !validation.rules_ran {
        report.push_str(
            "note: the semantic rules (references, cycles, approvals, promotion order, gates) did not run \
             because of the errors above; fix them and run again\n",
        );
    }
    report
}

fn explain(code: Option<&str>) -> u8 {
    let Some(name) = code else {
        let mut out = String::from("Diagnostic codes (mlops explain CODE for details):\n\n");
        let width = Code::ALL
            .iter()
            .map(|code| code.name().len())
            .max()
            .unwrap_or(0);
        for code in Code::ALL {
            out.push_str(&format!("  {:width$}  {}\n", code.name(), code.summary()));
        }
        return print_stdout(&out);
    };
    if let Some(code) = Code::from_name(name) {
        print_stdout(code.doc())
    } else {
        let hint = suggest::did_you_mean(name, Code::ALL.iter().map(|code| code.name()))
            .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
        fail(&format!(
            "unknown code `{name}`{hint} (`mlops explain` lists them all)"
        ))
    }
}

fn graph(path: &Path, format: GraphFormat, color: bool) -> u8 {
    let (source, validation, _) = match load_and_validate(path) {
        Ok(loaded) => loaded,
        Err(message) => return fail(&message),
    };
    let Some(graph) = validation.graph.as_ref().filter(|_| validation.is_ok()) else {
        eprint!("{}", diag::render_human(&source, &validation.diags, color));
        eprintln!(
            "error: `{}` is not valid; fix it before drawing its graph",
            source.name
        );
        return EXIT_INVALID;
    };
    print_stdout(&graph.render(format))
}

fn init(path: &Path, force: bool) -> u8 {
    let schema_path = path
        .parent()
        .unwrap_or(Path::new(""))
        .join(".mlops")
        .join("mlops.schema.json");
    if path.exists() && !force {
        return fail(&format!(
            "`{}` already exists; pass --force to overwrite it",
            path.display()
        ));
    }
    if let Some(folder) = schema_path.parent()
        && let Err(error) = std::fs::create_dir_all(folder)
    {
        return fail(&format!("cannot create `{}`: {error}", folder.display()));
    }
    for (target, text) in [
        (path, init::STARTER.to_owned()),
        (schema_path.as_path(), spec::schema::generate()),
    ] {
        if let Err(error) = std::fs::write(target, text) {
            return fail(&format!("cannot write `{}`: {error}", target.display()));
        }
    }
    eprintln!(
        "wrote {} and {}; check it with `mlops validate`",
        path.display(),
        schema_path.display()
    );
    EXIT_OK
}

/// A valid config, ready for the emitters.
struct Loaded {
    source: SourceFile,
    validation: Validation,
    /// The config's folder.
    folder: PathBuf,
}

/// Load and validate; on any error print the diagnostics and return the exit code.
fn load_valid(path: &Path, color: bool, purpose: &str) -> Result<Loaded, u8> {
    load_valid_with(
        path,
        color,
        purpose,
        crate::paths::CleanBlobs::Skip,
        |_, _, _| (),
    )
    .map(|(loaded, _)| loaded)
}

/// [`load_valid`], with `meanwhile` run on the typed config while its rules are checked; what
/// it made is returned only with a valid config.
fn load_valid_with<T: Send>(
    path: &Path,
    color: bool,
    purpose: &str,
    clean: crate::paths::CleanBlobs,
    meanwhile: impl FnOnce(&spec::Config, &crate::graph::Graph, &DiskRepo) -> T + Send,
) -> Result<(Loaded, Option<T>), u8> {
    let (source, validation, repo, made) =
        load_and_validate_with(path, clean, meanwhile).map_err(|message| fail(&message))?;
    // Its listing (every file's name, twice, and the clean files' blobs) is freed off the
    // path to the answer: at 20,000 files that took 1 to 2 ms.
    drop_elsewhere(repo);
    if !validation.is_ok() || validation.config.is_none() || validation.graph.is_none() {
        eprint!("{}", human_report(&source, &validation, color));
        eprintln!(
            "error: `{}` is not valid; fix it before {purpose}",
            source.name
        );
        return Err(EXIT_INVALID);
    }
    Ok((
        Loaded {
            source,
            validation,
            folder: config_folder(path),
        },
        made,
    ))
}

/// Drop `value` on a thread of its own (or here, if no thread can start): for large values
/// whose freeing nothing waits for.
fn drop_elsewhere<T: Send + 'static>(value: T) {
    // A thread that cannot start drops its closure, and `value` with it, here.
    let _ = std::thread::Builder::new()
        .name("drop".to_owned())
        .spawn(move || drop(value));
}

/// The top of the git checkout holding `folder`, or `folder` itself outside git.
fn repository_root(folder: &Path) -> PathBuf {
    crate::git::toplevel(folder).unwrap_or_else(|| folder.to_path_buf())
}

/// The config's path as generated files name it: relative to the output root when it lies
/// inside it, else its file name.
fn config_path_under(root: &Path, loaded: &Loaded) -> String {
    config_path_in(root, Path::new(&loaded.source.name), &loaded.folder)
}

/// [`config_path_under`] for the config at `path` (a file, or a folder holding `mlops.yaml`)
/// in `folder`, before it is read.
fn config_path_in(root: &Path, path: &Path, folder: &Path) -> String {
    let file_name = if path.is_dir() {
        "mlops.yaml".to_owned()
    } else {
        path.file_name().map_or_else(
            || "mlops.yaml".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    };
    let (Ok(root), Ok(folder)) = (root.canonicalize(), folder.canonicalize()) else {
        return file_name;
    };
    match folder.strip_prefix(&root) {
        Ok(inside) if inside.as_os_str().is_empty() => file_name,
        Ok(inside) => format!(
            "{}/{file_name}",
            inside.to_string_lossy().replace('\\', "/")
        ),
        Err(_) => file_name,
    }
}

/// Render every output in memory and compare it with the files under the root; print the
/// warnings, and on any error the diagnostics, and return the exit code.
fn plan_outputs(path: &Path, out: Option<&Path>, color: bool) -> Result<Outputs, u8> {
    let config_folder = config_folder(path);
    // Read while the config is parsed.
    let blobs = crate::lock::KnownBlobs::start(&config_folder);
    // The root generated paths are relative to: `--out`, else the repository the config is
    // in (CI files go where their engines read them), else the config's folder.
    let root = out.map_or_else(|| repository_root(&config_folder), Path::to_path_buf);
    let config_path = config_path_in(&root, path, &config_folder);
    let planner = Planner::new(config_folder, root, config_path);
    let (loaded, made) = load_valid_with(
        path,
        color,
        "rendering",
        crate::paths::CleanBlobs::Find,
        |config, graph, repo| planner.make(blobs, config, graph, repo),
    )?;
    let Some(made) = made else {
        return Err(EXIT_INVALID);
    };
    if let Some(error) = &made.emit_error {
        return Err(emit_failure(&loaded, error));
    }
    // Moved out, not cloned: a 1,000-model config is 15 million instructions to copy.
    let Loaded {
        validation, folder, ..
    } = loaded;
    let Some(config) = validation.config else {
        return Err(EXIT_INVALID);
    };
    let (warnings, outputs) = planner.finish(config, folder, made);
    for warning in warnings {
        eprintln!("warning: {}", warning.message);
        eprintln!("  help: {}", warning.help);
    }
    outputs.map_err(|error| fail(&error.to_string()))
}

fn emit_failure(loaded: &Loaded, error: &EmitError) -> u8 {
    match error {
        EmitError::Config {
            message,
            help,
            pointer,
        } => {
            let at = loaded
                .validation
                .spans
                .as_ref()
                .map(|spans| spans.key_span(pointer).start)
                .map(|offset| loaded.source.line_column(offset));
            eprintln!("error: {message}");
            if let Some((line, column)) = at {
                eprintln!("  --> {}:{line}:{column}", loaded.source.name);
            }
            eprintln!("  help: {help}");
            EXIT_INVALID
        }
        EmitError::Template { .. } | EmitError::InvalidOutput { .. } => {
            eprintln!("error: {error}");
            eprintln!(
                "  help: fix or remove the override in `{}`",
                emit::templates::OVERRIDE_DIR
            );
            EXIT_INVALID
        }
    }
}

fn render(path: &Path, out: Option<&Path>, dry_run: bool, color: bool) -> u8 {
    let Outputs {
        root,
        planned,
        unreleased,
        settings,
        gitlab_settings,
        ..
    } = match plan_outputs(path, out, color) {
        Ok(outputs) => outputs,
        Err(code) => return code,
    };
    if dry_run {
        let diff: String = planned
            .iter()
            .map(outputs::PlannedFile::unified_diff)
            .collect();
        let stale = planned.iter().filter(|file| file.is_stale()).count();
        eprintln!(
            "dry run: {stale} of {} generated files would change; nothing written",
            planned.len()
        );
        for line in &unreleased {
            eprintln!("{line}");
        }
        return print_stdout(&diff);
    }
    if let Err(error) = outputs::write(&root, &planned) {
        return fail(&error.to_string());
    }
    if crate::git::checked_out_crlf(&read_config_path(path)) {
        eprintln!("warning: {CRLF_NOTE}");
    }
    for file in &planned {
        let what = match file.change {
            outputs::Change::Create => "created",
            outputs::Change::Update(_) => "updated",
            outputs::Change::Unchanged => "unchanged",
            outputs::Change::Remove(_) => "deleted (no longer generated)",
        };
        eprintln!("{}: {what}", root.join(&file.path).display());
    }
    for line in &unreleased {
        eprintln!("{}", root.join(line).display());
    }
    let first_workflow = planned.iter().any(|file| {
        file.path.starts_with(".github/workflows/")
            && !file.path.contains("mlops-comment")
            && file.change == outputs::Change::Create
    });
    if first_workflow && !settings.is_empty() {
        eprintln!(
            "\nThe workflow relies on these repository settings (the README lists them under \"Repository settings\"):"
        );
        for setting in settings {
            eprintln!("  - {setting}");
        }
    }
    let first_pipeline = planned.iter().any(|file| {
        (file.path == emit::gitlab::PIPELINE_PATH
            || file.path.starts_with(emit::gitlab::INCLUDED_DIR))
            && file.change == outputs::Change::Create
    });
    if first_pipeline && !gitlab_settings.is_empty() {
        eprintln!(
            "\nThe GitLab pipeline relies on these project settings, which GitLab keeps outside YAML (the README lists them under \"GitLab project settings\"):"
        );
        for setting in gitlab_settings {
            eprintln!("  - {setting}");
        }
    }
    EXIT_OK
}

/// Why a lock rendered in a checkout that writes CRLF line endings cannot match CI's, and the
/// fix.
const CRLF_NOTE: &str = "git checks text files out with CRLF line endings here (`core.autocrlf` is true, or an `eol=crlf` attribute: `git ls-files --eol` shows `w/crlf`) and commits them with LF; mlops.lock digests the files' bytes as they are on disk (what `sha256sum` gives), so a lock rendered here differs from CI's. Make the checkout write LF: add `* text=auto eol=lf` to .gitattributes and commit it (or `git config core.autocrlf input`), then, with nothing uncommitted, write the files again: `git rm -rq --cached . && git reset -q --hard`";

fn check(path: &Path, out: Option<&Path>, color: bool) -> u8 {
    let Outputs { planned, lock, .. } = match plan_outputs(path, out, color) {
        Ok(outputs) => outputs,
        Err(code) => return code,
    };
    if let Some(file) = planned.iter().find(|file| file.path == lock.path)
        && let outputs::Change::Update(old) = &file.change
    {
        let changed = crate::lock::changed_since_written(&lock.folder);
        let lines = crate::lock::explain(old, &lock.lock, &lock.config, &changed);
        eprintln!(
            "error[lock-stale]: {} is out of date for {} of {} nodes",
            lock.path,
            lines.len(),
            lock.lock.entries.len()
        );
        for line in lines {
            eprintln!("  {line}");
        }
        if crate::git::checked_out_crlf(&read_config_path(path)) {
            eprintln!("  note: {CRLF_NOTE}");
        }
        eprintln!("  help: run `mlops render` and commit {}", lock.path);
    }
    let stale: Vec<&outputs::PlannedFile> = planned.iter().filter(|file| file.is_stale()).collect();
    if stale.is_empty() {
        eprintln!("{} generated files match a fresh render", planned.len());
        return EXIT_OK;
    }
    let diff: String = stale.iter().map(|file| file.unified_diff()).collect();
    let written = print_stdout(&diff);
    if written != EXIT_OK {
        return written;
    }
    for file in &stale {
        let why = match file.change {
            outputs::Change::Create => "missing",
            outputs::Change::Remove(_) => "no longer generated",
            _ => "differs from a fresh render",
        };
        eprintln!("stale: {} ({why})", file.path);
    }
    eprintln!(
        "error: {} of {} generated files are out of date with the config\n  fix: run `mlops render` and commit the result",
        stale.len(),
        planned.len()
    );
    EXIT_INVALID
}

fn run_affected(
    path: &Path,
    since: &affected::Since,
    since_release: bool,
    format: AffectedFormat,
    scripts: Option<&Path>,
    color: bool,
) -> u8 {
    let loaded = match load_valid(path, color, "mapping a change onto it") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let (Some(config), Some(graph)) = (&loaded.validation.config, &loaded.validation.graph) else {
        return EXIT_INVALID;
    };
    let config_path = config_path_under(&loaded.folder, &loaded);
    let releases = if since_release {
        let mut served = None;
        let code = with_project(
            &loaded,
            |project, branches| {
                served = Some(project.served(branches)?);
                Ok(EXIT_OK)
            },
            "origin",
        );
        match served {
            Some(served) => Some(served),
            None => return code,
        }
    } else {
        None
    };
    let result = match affected::affected(
        config,
        graph,
        &loaded.folder,
        &config_path,
        since,
        releases.as_ref(),
    ) {
        Ok(result) => result,
        Err(message) => return fail(&message),
    };
    if result.base_lock == affected::BaseLock::Stale {
        eprintln!(
            "warning: the mlops.lock committed at the base does not match its files (committed without `mlops render`); compared with the fingerprints of the base's files instead"
        );
    }
    match format {
        AffectedFormat::Text => print_stdout(&result.text()),
        AffectedFormat::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        )),
        AffectedFormat::GithubOutput => {
            let runs = |node| result.runs(node);
            let (output, files) =
                match crate::emit::github::run_time_plan(config, graph, &config_path, &runs) {
                    Ok(planned) => planned,
                    Err(error) => return fail(&error.to_string()),
                };
            if let Some(folder) = scripts
                && let Err(message) = write_scripts(folder, &files)
            {
                return fail(&message);
            }
            print_stdout(&output)
        }
        AffectedFormat::ArgoParameters => {
            let runs = |node| result.runs(node);
            match crate::emit::argo::run_parameters(config, graph, &config_path, &runs) {
                Ok(parameters) => print_stdout(&parameters),
                Err(error) => fail(&error.to_string()),
            }
        }
    }
}

/// The plan job's scripts, each under `folder`.
fn write_scripts(folder: &Path, files: &[(String, String)]) -> Result<(), String> {
    for (path, contents) in files {
        let target = folder.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
        }
        std::fs::write(&target, contents)
            .map_err(|error| format!("cannot write {}: {error}", target.display()))?;
    }
    Ok(())
}

/// The files `gate` writes beside what it prints.
struct GateFiles<'a> {
    junit: Option<&'a Path>,
    values_dir: Option<&'a Path>,
}

/// `DIR/metric-<n>`: the new value of each metric the rules read, in the order they first
/// name it (the order `emit::argo` numbers its output parameters in).
fn write_metric_values(folder: &Path, results: &[gate::GateResult]) -> Result<(), String> {
    std::fs::create_dir_all(folder)
        .map_err(|error| format!("cannot create `{}`: {error}", folder.display()))?;
    let mut seen: Vec<&str> = Vec::new();
    for verdict in results.iter().flat_map(|result| &result.rules) {
        if seen.contains(&verdict.metric.as_str()) {
            continue;
        }
        seen.push(&verdict.metric);
        let file = folder.join(format!("metric-{}", seen.len()));
        let value = verdict.head.as_deref().unwrap_or("NaN");
        std::fs::write(&file, format!("{value}\n"))
            .map_err(|error| format!("cannot write `{}`: {error}", file.display()))?;
    }
    Ok(())
}

/// Exit code of `monitor judge` when the window holds too few rows for a verdict.
const EXIT_NOT_ENOUGH_DATA: u8 = 3;

/// The monitoring settings of `deployment` in a valid config.
fn monitoring_of<'a>(
    config: &'a spec::Config,
    deployment: &str,
) -> Result<&'a spec::model::Monitoring, String> {
    let Some(found) = config.deployments.get(deployment) else {
        let hint =
            crate::suggest::did_you_mean(deployment, config.deployments.keys().map(String::as_str))
                .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
        return Err(format!("no deployment named `{deployment}`{hint}"));
    };
    found
        .monitoring
        .as_ref()
        .ok_or_else(|| format!("deployment `{deployment}` has no `monitoring` section"))
}

/// Run `work` on the valid config at `path` and the monitoring of `deployment` in it; exit 1
/// on an invalid config (its diagnostics printed), 2 on a deployment that is not monitored.
fn with_monitoring(
    path: &Path,
    deployment: &str,
    color: bool,
    purpose: &str,
    work: impl FnOnce(&Loaded, &spec::model::Monitoring) -> u8,
) -> u8 {
    let loaded = match load_valid(path, color, purpose) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(config) = &loaded.validation.config else {
        return EXIT_INVALID;
    };
    match monitoring_of(config, deployment) {
        Ok(monitoring) => work(&loaded, monitoring),
        Err(message) => fail(&message),
    }
}

/// Every `.<extension>` file under `folder`, by path, sorted (the same logs make the same
/// table).
fn files_under(folder: &Path, extension: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|error| format!("cannot read the folder `{}`: {error}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind)
                    if kind.is_file() && path.extension().is_some_and(|ext| ext == extension) =>
                {
                    let bytes = std::fs::read(&path)
                        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
                    let shown = path.strip_prefix(folder).unwrap_or(&path);
                    found.push((shown.display().to_string(), bytes));
                }
                _ => {}
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The folders and files `monitor collect` reads and writes.
struct CollectFiles<'a> {
    logs: &'a Path,
    out: &'a Path,
    predictions: Option<&'a Path>,
    /// The labels folder and where the live metrics go.
    ground_truth: Option<(&'a Path, &'a Path)>,
}

fn monitor_collect(
    path: &Path,
    deployment: &str,
    files: &CollectFiles<'_>,
    now: Option<&str>,
    color: bool,
) -> u8 {
    with_monitoring(
        path,
        deployment,
        color,
        "collecting its logs",
        |_, monitoring| collect_window(deployment, monitoring, files, now),
    )
}

fn collect_window(
    deployment: &str,
    monitoring: &spec::model::Monitoring,
    files: &CollectFiles<'_>,
    now: Option<&str>,
) -> u8 {
    let CollectFiles {
        logs,
        out,
        predictions,
        ground_truth,
    } = *files;
    let end = match now {
        Some(text) => match crate::monitor::unix_seconds(text) {
            Some(seconds) => seconds,
            None => {
                return fail(&format!(
                    "`--now {text}` is not an RFC 3339 time (2026-12-01T06:00:00Z)"
                ));
            }
        },
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            }),
    };
    let since = crate::monitor::window_seconds(&monitoring.window).map(|window| end - window);
    let records = match files_under(logs, "json") {
        Ok(files) => files,
        Err(message) => return fail(&message),
    };
    let collected =
        crate::monitor::collect::collect(&records, deployment, &monitoring.features, since);
    for problem in &collected.problems {
        eprintln!("warning: {problem}");
    }
    if let Err(message) =
        crate::outputs::write_atomically(out, &out.display().to_string(), &collected.features_csv)
    {
        return fail(&message.to_string());
    }
    if let Some(file) = predictions
        && let Err(message) = crate::outputs::write_atomically(
            file,
            &file.display().to_string(),
            &collected.predictions_csv,
        )
    {
        return fail(&message.to_string());
    }
    let mut summary = format!(
        "collected {} rows from {} requests of `{deployment}` in {} files (window {})",
        collected.rows,
        collected.requests,
        records.len(),
        monitoring.window
    );
    let plural = |count: usize, one: &str, many: &str| {
        if count == 1 {
            one.to_owned()
        } else {
            many.to_owned()
        }
    };
    for (count, what) in [
        (
            collected.unanswered,
            plural(
                collected.unanswered,
                "request had no response: its rows have no prediction",
                "requests had no response: their rows have no prediction",
            ),
        ),
        (
            collected.orphan_responses,
            plural(collected.orphan_responses, "response had", "responses had")
                + " no request: nothing to tabulate",
        ),
        (
            collected.outside_window,
            plural(collected.outside_window, "record was", "records were")
                + " older than the window",
        ),
        (
            collected.other_service,
            plural(collected.other_service, "record was", "records were") + " another service's",
        ),
        (
            collected.problems.len(),
            plural(collected.problems.len(), "record was", "records were")
                + " malformed (above) and left out",
        ),
    ] {
        if count > 0 {
            summary.push_str(&format!("; {count} {what}"));
        }
    }
    eprintln!("{summary}");
    if let Some((labels, metrics_file)) = ground_truth {
        let label_files = match files_under(labels, "csv") {
            Ok(files) => files,
            Err(message) => return fail(&message),
        };
        let performance =
            crate::monitor::performance::join(&collected.predictions_csv, &label_files);
        for problem in &performance.problems {
            eprintln!("warning: {problem}");
        }
        if let Err(message) = crate::outputs::write_atomically(
            metrics_file,
            &metrics_file.display().to_string(),
            &performance.to_json(),
        ) {
            return fail(&message.to_string());
        }
        let count = performance.metrics.get("count").copied().unwrap_or(0.0);
        eprintln!(
            "joined {count} labelled rows from {} files; {} labelled rows have no logged prediction",
            label_files.len(),
            performance.unmatched
        );
    }
    EXIT_OK
}

/// The files `monitor judge` reads and writes.
struct MonitorFiles<'a> {
    snapshot: &'a Path,
    current: &'a Path,
    performance: Option<&'a Path>,
    verdict_file: Option<&'a Path>,
}

fn monitor_judge(
    path: &Path,
    deployment: &str,
    files: &MonitorFiles<'_>,
    format: JudgeFormat,
    color: bool,
) -> u8 {
    with_monitoring(
        path,
        deployment,
        color,
        "judging its monitoring",
        |_, monitoring| judge_window(deployment, monitoring, files, format),
    )
}

fn judge_window(
    deployment: &str,
    monitoring: &spec::model::Monitoring,
    files: &MonitorFiles<'_>,
    format: JudgeFormat,
) -> u8 {
    let read = |file: &Path| {
        std::fs::read(file).map_err(|error| format!("cannot read `{}`: {error}", file.display()))
    };
    let current = match read(files.current) {
        Ok(bytes) => bytes,
        Err(message) => return fail(&message),
    };
    let mut table = csv::ReaderBuilder::new().from_reader(current.as_slice());
    let rows = table.records().count() as u64;
    let performance = match files.performance {
        None => None,
        Some(file) => {
            let parsed = read(file).and_then(|bytes| {
                crate::metrics::parse(
                    &bytes,
                    crate::metrics::Format::of(&file.display().to_string()),
                )
                .map_err(|message| format!("`{}`: {message}", file.display()))
            });
            match parsed {
                Ok(metrics) => Some(metrics),
                Err(message) => return fail(&message),
            }
        }
    };
    // Under `min_rows` there is no snapshot to read: the check did not measure.
    let snapshot = if rows < monitoring.min_rows {
        Vec::new()
    } else {
        match read(files.snapshot) {
            Ok(bytes) => bytes,
            Err(message) => return fail(&message),
        }
    };
    let judgement = match crate::monitor::judge::judge(
        deployment,
        monitoring,
        &snapshot,
        rows,
        performance.as_ref(),
    ) {
        Ok(judgement) => judgement,
        Err(message) => return fail(&format!("`{}`: {message}", files.snapshot.display())),
    };
    if let Some(file) = files.verdict_file
        && let Err(error) = std::fs::write(file, format!("{}\n", judgement.verdict.as_str()))
    {
        return fail(&format!("cannot write `{}`: {error}", file.display()));
    }
    let printed = match format {
        JudgeFormat::Text => print_stdout(&crate::monitor::judge::render_text(&judgement)),
        JudgeFormat::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&judgement).unwrap_or_default()
        )),
    };
    if printed != EXIT_OK {
        return printed;
    }
    match judgement.verdict {
        crate::monitor::judge::Verdict::Pass => EXIT_OK,
        crate::monitor::judge::Verdict::Drift => EXIT_INVALID,
        crate::monitor::judge::Verdict::NotEnoughData => EXIT_NOT_ENOUGH_DATA,
    }
}

fn monitor_issue(args: &IssueArgs, color: bool) -> u8 {
    with_monitoring(
        &args.path,
        &args.deployment,
        color,
        "updating its drift issue",
        |loaded, _| sync_issue_of(loaded, args),
    )
}

fn sync_issue_of(loaded: &Loaded, args: &IssueArgs) -> u8 {
    let drifting = match args.verdict.trim() {
        "drift" => true,
        "pass" => false,
        "not-enough-data" => {
            eprintln!(
                "not enough data: the drift issue of `{}` stays as it is",
                args.deployment
            );
            return EXIT_OK;
        }
        other => {
            return fail(&format!(
                "`--verdict {other}`: the verdicts are drift, pass and not-enough-data"
            ));
        }
    };
    let report = match std::fs::read_to_string(&args.report) {
        Ok(text) => text,
        Err(error) => return fail(&format!("cannot read `{}`: {error}", args.report.display())),
    };
    // One issue per deployment of each config of the repository: the key is its path from the
    // root, as the comment's is.
    let key = config_path_under(&repository_root(&loaded.folder), loaded);
    let marker = crate::comment::issue_marker(&key, &args.deployment);
    let title = format!("Drift in the inputs of `{}`", args.deployment);
    let lead = if drifting {
        "The last scheduled check found drift. The judgement:"
    } else {
        "Drift is gone: the last scheduled check passed. The judgement:"
    };
    let body = format!("{marker}\n{lead}\n\n```\n{}\n```\n", report.trim_end());
    if args.dry_run {
        return print_stdout(&format!("{title}\n\n{body}"));
    }
    let Some(repository) = args.repo.clone() else {
        return fail(
            "which repository? pass --repo OWNER/REPO (in GitHub Actions it comes from the environment)",
        );
    };
    sync_drift_issue(
        &repository,
        args.author.as_deref(),
        &marker,
        &title,
        &body,
        drifting,
    )
}

#[cfg(feature = "github")]
fn sync_drift_issue(
    repository: &str,
    author: Option<&str>,
    marker: &str,
    title: &str,
    body: &str,
    drifting: bool,
) -> u8 {
    use crate::github::IssueOutcome;
    let Some(token) = env_value("GITHUB_TOKEN") else {
        return fail(
            "GITHUB_TOKEN is not set (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`)",
        );
    };
    let api_base =
        env_value("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let outcome = runtime.block_on(async {
        let client = crate::github::Client::new(&api_base, &token)?;
        let author = match author {
            Some(author) => author.to_owned(),
            None => client.login().await?,
        };
        client
            .sync_issue(
                repository,
                &author,
                &crate::github::DriftIssue {
                    label: DRIFT_LABEL,
                    marker,
                    title,
                    body,
                },
                drifting,
            )
            .await
    });
    match outcome {
        Ok(IssueOutcome::Opened(number)) => eprintln!("opened {repository}#{number}"),
        Ok(IssueOutcome::Updated(number)) => eprintln!("updated {repository}#{number}"),
        Ok(IssueOutcome::Reopened(number)) => {
            eprintln!("reopened {repository}#{number}: drift is back");
        }
        Ok(IssueOutcome::Closed(number)) => {
            eprintln!("closed {repository}#{number}: drift is gone");
        }
        Ok(IssueOutcome::Unchanged(number)) => eprintln!("{repository}#{number} is up to date"),
        Ok(IssueOutcome::Nothing) => eprintln!("no drift, and no drift issue open: nothing to do"),
        Err(error) => return fail(&error.to_string()),
    }
    EXIT_OK
}

#[cfg(not(feature = "github"))]
fn sync_drift_issue(
    _repository: &str,
    _author: Option<&str>,
    _marker: &str,
    _title: &str,
    _body: &str,
    _drifting: bool,
) -> u8 {
    fail(
        "this mlops was built without the GitHub client; rebuild with `cargo install --features github` \
         (the mlops GitHub Action does), or use --dry-run",
    )
}

fn run_gate(
    path: &Path,
    only: &[String],
    base: &gate::BaseSource,
    format: GateFormat,
    files: &GateFiles<'_>,
    color: bool,
) -> u8 {
    // Git starts reading the base while the config is validated.
    let reader = gate::BaseReader::start(&config_folder(path), base);
    let loaded = match load_valid(path, color, "evaluating its gates") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(config) = &loaded.validation.config else {
        return EXIT_INVALID;
    };
    if let Err(message) = reader.verify() {
        return fail(&message);
    }
    let results = match gate::run(config, &loaded.folder, only, &reader) {
        Ok(results) => results,
        Err(message) => return fail(&message),
    };
    if let Some(file) = files.junit
        && let Err(error) = std::fs::write(file, gate::render_junit(&results))
    {
        return fail(&format!("cannot write `{}`: {error}", file.display()));
    }
    if let Some(folder) = files.values_dir
        && let Err(error) = write_metric_values(folder, &results)
    {
        return fail(&error);
    }
    let written = match format {
        GateFormat::Text => print_stdout(&gate::render_text(&results)),
        GateFormat::Junit => print_stdout(&gate::render_junit(&results)),
        GateFormat::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "gates": results,
                "gates_passed": results.iter().all(|result| result.passed),
            }))
            .unwrap_or_default()
        )),
    };
    if written != EXIT_OK {
        return written;
    }
    if results.iter().all(|result| result.passed) {
        EXIT_OK
    } else {
        EXIT_INVALID
    }
}

/// Exit code: the run was interrupted (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

fn run_locally(
    path: &Path,
    options: &crate::run::Options,
    base: Option<String>,
    color: bool,
) -> u8 {
    let folder = config_folder(path);
    let known_blobs = crate::lock::KnownBlobs::start(&folder);
    // The fingerprints and the records are made while the config's rules are checked.
    let prepare = |config: &spec::Config, graph: &crate::graph::Graph, repo: &DiskRepo| {
        let files = crate::lock::WorkingTree::prepared(
            &folder,
            repo.files(),
            repo.clean_blobs(),
            known_blobs.wait(),
        );
        crate::run::prepare(config, graph, &folder, &files)
    };
    let (loaded, prepared) = match load_valid_with(
        path,
        color,
        "running it",
        crate::paths::CleanBlobs::Find,
        prepare,
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let (Some(config), Some(graph)) = (&loaded.validation.config, &loaded.validation.graph) else {
        return EXIT_INVALID;
    };
    // The gates' baseline: what is committed, unless told otherwise; nothing before the
    // first commit.
    let reader = match base {
        Some(revision) => {
            gate::BaseReader::start(&loaded.folder, &gate::BaseSource::Revision(revision))
        }
        None if crate::git::head(&loaded.folder).is_some() => gate::BaseReader::start(
            &loaded.folder,
            &gate::BaseSource::Revision("HEAD".to_owned()),
        ),
        None => gate::BaseReader::Nothing("missing: nothing is committed yet".to_owned()),
    };
    if let Err(message) = reader.verify() {
        return fail(&message);
    }
    let project = crate::run::Project {
        config,
        graph,
        folder: &loaded.folder,
    };
    let (mut stderr, mut stdout) = (std::io::stderr(), std::io::stdout());
    let mut reporter = crate::run::Reporter {
        progress: &mut stderr,
        output: &mut stdout,
    };
    let environment =
        |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    let code = match crate::run::run(
        &project,
        options,
        &environment,
        prepared,
        &reader,
        &mut reporter,
    ) {
        Ok(outcome) if outcome.interrupted => EXIT_INTERRUPTED,
        Ok(outcome) if outcome.succeeded() => EXIT_OK,
        Ok(_) => EXIT_INVALID,
        Err(error) => fail(&error.to_string()),
    };
    // The process ends here: freeing the config, its spans and its graph one allocation at a
    // time is work nobody waits for (see `crate::run::run`).
    std::mem::forget(loaded);
    code
}

/// Where `promote` and `rollback` put the release commit.
#[derive(Debug, Clone, clap::Args)]
pub struct PublishArgs {
    /// Push the release: to the release branch, or for an approval-gated environment to a
    /// promotion branch with a pull request into the release branch (`GITHUB_TOKEN`,
    /// `GITHUB_REPOSITORY`). Without it, the commit is made on the local release branch only.
    #[arg(long)]
    publish: bool,
    /// The approval was given in CI before this ran (GitLab: a manual job on a protected
    /// environment with required approvals): with `--publish`, push an approval-gated
    /// release straight to its release branch, with no pull request.
    #[arg(long, requires = "publish")]
    approved: bool,
    /// The remote holding the release branches.
    #[arg(long, default_value = "origin", value_name = "NAME")]
    remote: String,
}

/// What `mlops promote` was asked to record.
struct Promotion {
    deployment: String,
    model_uri: String,
    digest: String,
    metrics: Option<PathBuf>,
    commit: Option<String>,
    reference: Option<crate::release::Reference>,
}

/// The deployment named `name`, or exit 2 with a suggestion.
fn find_deployment<'c>(
    config: &'c spec::Config,
    name: &str,
) -> Result<&'c spec::model::Deployment, u8> {
    config.deployments.get(name).ok_or_else(|| {
        let hint = suggest::did_you_mean(name, config.deployments.keys().map(String::as_str))
            .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
        fail(&format!("no deployment named `{name}`{hint}"))
    })
}

fn promote(
    config_path: &Path,
    promotion: &Promotion,
    publication: &PublishArgs,
    color: bool,
) -> u8 {
    let loaded = match load_valid(config_path, color, "promoting") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(config) = &loaded.validation.config else {
        return EXIT_INVALID;
    };
    let deployment = match find_deployment(config, &promotion.deployment) {
        Ok(deployment) => deployment,
        Err(code) => return code,
    };
    if !crate::release::is_digest(&promotion.digest) {
        return fail(&format!(
            "--digest `{}` is not `sha256:` followed by 64 lowercase hex digits (`sha256sum MODEL`)",
            promotion.digest
        ));
    }
    let uri = promotion.model_uri.trim();
    if uri.is_empty() || uri.contains(char::is_whitespace) || !uri.contains("://") {
        return fail(&format!(
            "--model-uri `{}` is not a URI such as s3://bucket/models/churn/<digest>",
            promotion.model_uri
        ));
    }
    let metrics = match &promotion.metrics {
        None => std::collections::BTreeMap::new(),
        Some(path) => {
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(error) => return fail(&format!("cannot read `{}`: {error}", path.display())),
            };
            let format = crate::metrics::Format::of(&path.to_string_lossy());
            match crate::metrics::parse(&bytes, format) {
                Ok(metrics) => metrics
                    .into_iter()
                    .map(|(name, metric)| {
                        // A JSON number when one holds it exactly (`96` stays `96`), else the
                        // text, which `gate` reads back as the same exact decimal (`1e-400`,
                        // 24-digit counts).
                        let exact = serde_json::from_str::<serde_json::Number>(&metric.text)
                            .ok()
                            .filter(|number| {
                                metric.value.is_some()
                                    && crate::metrics::Decimal::parse(&number.to_string()).ok()
                                        == metric.value
                            });
                        let value = match exact {
                            Some(number) => serde_json::Value::Number(number),
                            None => serde_json::Value::String(metric.text),
                        };
                        (name, value)
                    })
                    .collect(),
                Err(problem) => return fail(&format!("`{}`: {problem}", path.display())),
            }
        }
    };
    let commit = promotion
        .commit
        .clone()
        .or_else(|| crate::git::head(&loaded.folder));
    let release = crate::release::Release {
        deployment: promotion.deployment.clone(),
        environment: deployment.environment.clone(),
        training: deployment.model.clone(),
        model_uri: uri.to_owned(),
        digest: promotion.digest.clone(),
        commit,
        metrics,
        rollback_of: None,
        reference: promotion.reference.clone(),
    };
    with_project(
        &loaded,
        |project, branches| {
            let route = project.route(&release, publication.publish, publication.approved);
            let published = project.publish(branches, &release, "promote", route)?;
            Ok(announce(project, &release, &published, "released"))
        },
        &publication.remote,
    )
}

/// Run `work` on the validated config placed in its repository, with its release branches
/// fetched from `remote` when it has one. Its error is printed; its answer is the exit code.
fn with_project(
    loaded: &Loaded,
    work: impl FnOnce(&crate::promote::Project<'_>, &crate::publish::Branches<'_>) -> Result<u8, String>,
    remote: &str,
) -> u8 {
    let (Some(config), Some(graph)) = (&loaded.validation.config, &loaded.validation.graph) else {
        return EXIT_INVALID;
    };
    let root = repository_root(&loaded.folder);
    if crate::git::toplevel(&loaded.folder).is_none() {
        return fail(&format!(
            "`{}` is not in a git repository: releases are commits on release branches",
            loaded.source.name
        ));
    }
    let config_path = config_path_under(&root, loaded);
    let config_dir = config_path
        .rsplit_once('/')
        .map_or(String::new(), |(dir, _)| dir.to_owned());
    let templates =
        emit::templates::environment(Some(emit::templates::override_dir(&loaded.folder)));
    let project = crate::promote::Project {
        config,
        graph,
        config_path: &config_path,
        config_dir: &config_dir,
        templates: &templates,
    };
    let branches = crate::publish::Branches {
        root: &root,
        remote,
    };
    match work(&project, &branches) {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
}

/// Say where a release went (and on GitHub, open its pull request); the exit code.
fn announce(
    project: &crate::promote::Project<'_>,
    release: &crate::release::Release,
    published: &crate::publish::Published,
    what: &str,
) -> u8 {
    use crate::publish::Published;
    let name = &release.deployment;
    let summary = match published {
        Published::Unchanged => format!(
            "`{name}` already serves {} ({}) in `{}`: nothing to publish",
            release.model_uri, release.digest, release.environment
        ),
        Published::Local { branch, commit } => format!(
            "{what} `{name}` in `{}`: {} ({}), committed to the local branch `{branch}` ({}).\n\
             Publish it: `git push origin {branch}`{}, or run again with --publish",
            release.environment,
            release.model_uri,
            release.digest,
            &commit[..commit.len().min(12)],
            if project.is_gated(&release.environment) {
                " is refused on a protected branch; push it to a branch of its own and open a pull request into it"
            } else {
                ""
            }
        ),
        Published::Pushed { branch, commit } => format!(
            "{what} `{name}` in `{}`: {} ({}), pushed to `{branch}` ({}); Argo CD follows it",
            release.environment,
            release.model_uri,
            release.digest,
            &commit[..commit.len().min(12)]
        ),
        Published::ForReview { head, base, .. } => {
            match open_review(project, release, head, base) {
                Ok(line) => line,
                Err(message) => return fail(&message),
            }
        }
    };
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY")
        && !path.is_empty()
    {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
        {
            let _ = writeln!(file, "{summary}");
        }
    }
    print_stdout(&format!("{summary}\n"))
}

/// Open (or find) the pull request of an approval-gated release, when running where GitHub's
/// API is at hand; otherwise say how to open it.
fn open_review(
    project: &crate::promote::Project<'_>,
    release: &crate::release::Release,
    head: &str,
    base: &str,
) -> Result<String, String> {
    let pushed = format!(
        "`{}` to `{}`: {} ({}) pushed to `{head}` for review",
        release.deployment, release.environment, release.model_uri, release.digest
    );
    let repository = std::env::var("GITHUB_REPOSITORY").unwrap_or_default();
    let token = std::env::var("GITHUB_TOKEN").unwrap_or_default();
    if repository.is_empty() || token.is_empty() {
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true") {
            return Err(format!(
                "{pushed}, but GITHUB_TOKEN or GITHUB_REPOSITORY is not set, so no pull request was opened \
                 (in the workflow: `env: GITHUB_TOKEN: ${{{{ github.token }}}}`)"
            ));
        }
        return Ok(format!(
            "{pushed}; open a pull request from `{head}` into `{base}`: its approving reviews are the approval"
        ));
    }
    let title = project
        .message(
            release,
            if release.rollback_of.is_some() {
                "rollback"
            } else {
                "promote"
            },
        )
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let body = crate::promote::review_body(project, release, base);
    let users: Vec<String> = project
        .reviewers(&release.environment)
        .into_iter()
        .filter(|reviewer| !reviewer.contains('/'))
        .map(|reviewer| reviewer.trim_start_matches('@').to_owned())
        .collect();
    let min_approvals = project.min_approvals(&release.environment);
    let pull = open_pull_request(
        &repository,
        &token,
        &PullRequestAsk {
            head,
            base,
            title: &title,
            body: &body,
            users: &users,
            min_approvals,
        },
    )?;
    Ok(format!(
        "{pushed}: {} {}",
        if pull.1 { "updated" } else { "opened" },
        pull.0
    ))
}

/// A promotion pull request to open.
#[cfg_attr(not(feature = "github"), allow(dead_code))] // without the client, only its branches
struct PullRequestAsk<'a> {
    head: &'a str,
    base: &'a str,
    title: &'a str,
    body: &'a str,
    /// Users to request (teams come from CODEOWNERS).
    users: &'a [String],
    /// What the branch's rules must require for the review to be the approval.
    min_approvals: u32,
}

/// The pull request's page, and whether it was already open.
#[cfg(feature = "github")]
fn open_pull_request(
    repository: &str,
    token: &str,
    ask: &PullRequestAsk<'_>,
) -> Result<(String, bool), String> {
    let PullRequestAsk {
        head,
        base,
        title,
        body,
        users,
        min_approvals,
    } = *ask;
    let api_base = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "https://api.github.com".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime
        .block_on(async {
            let client = crate::github::Client::new(&api_base, token)?;
            let pull = client
                .open_pull_request(repository, head, base, title, body)
                .await?;
            if !pull.existed
                && let Err(error) = client
                    .request_reviewers(repository, pull.number, users)
                    .await
            {
                // The pull request stands and CODEOWNERS requests the teams; say what failed.
                eprintln!("warning: {error}");
            }
            // The approval is only as strong as the branch's rules: say when they are weaker.
            match client.review_rules(repository, base).await {
                Ok(Some((count, owners))) if count >= u64::from(min_approvals) && owners => {}
                Ok(rules) => {
                    let (count, owners) = rules.unwrap_or((0, false));
                    let message = format!(
                        "the rules of `{base}` require {count} approving review{} and {}code-owner review, \
                         but the approval asks for {min_approvals}: this pull request can be merged without it \
                         (add a ruleset on `{base}`: README, \"Repository settings\")",
                        if count == 1 { "" } else { "s" },
                        if owners { "" } else { "no " },
                    );
                    println!("::warning title=mlops: approval not enforced::{message}");
                    eprintln!("warning: {message}");
                }
                Err(error) => {
                    eprintln!("warning: cannot check that `{base}` enforces the approval: {error}");
                }
            }
            Ok::<_, crate::github::Error>((pull.url, pull.existed))
        })
        .map_err(|error| error.to_string())
}

#[cfg(not(feature = "github"))]
fn open_pull_request(
    _repository: &str,
    _token: &str,
    ask: &PullRequestAsk<'_>,
) -> Result<(String, bool), String> {
    let (head, base) = (ask.head, ask.base);
    Err(format!(
        "pushed `{head}`; this mlops was built without the GitHub client, so open the pull request \
         into `{base}` by hand, or rebuild with `cargo install --features github`"
    ))
}

fn rollback(
    config_path: &Path,
    name: &str,
    dry_run: bool,
    publication: &PublishArgs,
    color: bool,
) -> u8 {
    let loaded = match load_valid(config_path, color, "rolling back") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(config) = &loaded.validation.config else {
        return EXIT_INVALID;
    };
    if let Err(code) = find_deployment(config, name) {
        return code;
    }
    with_project(
        &loaded,
        |project, branches| {
            let deployment = &project.config.deployments[name];
            let branch = project.branch(&deployment.environment);
            let relative = project.record_path(&deployment.environment, name);
            if let Err(message) = branches.fetch(&branch) {
                if publication.publish {
                    return Err(message);
                }
                eprintln!("warning: working from this clone's view of `{branch}`: {message}");
            }
            let history = match branches.tip(&branch) {
                Some(tip) => branches.history(&tip, &relative)?,
                None => Vec::new(),
            };
            let Some(current) = history.last() else {
                eprintln!(
                    "error: `{name}` has never been released (`{relative}` is not on branch `{branch}`)"
                );
                eprintln!(
                    "  help: nothing to roll back; `mlops promote {name} ... --publish` makes the first release"
                );
                return Ok(EXIT_INVALID);
            };
            let Some(target) = crate::release::rollback_target(&history) else {
                eprintln!(
                    "error: `{name}` serves its first release ({}): there is no earlier one to roll back to",
                    current.digest
                );
                eprintln!("  help: to stop serving it, remove the deployment from the config");
                return Ok(EXIT_INVALID);
            };
            crate::release::verify(target, name, &deployment.environment, &relative)?;
            let restored = crate::release::Release {
                rollback_of: Some(current.digest.clone()),
                ..target.clone()
            };
            if dry_run {
                return Ok(print_stdout(&format!(
                    "would roll back `{name}` in `{}` from {} ({}) to {} ({}); nothing written\n",
                    deployment.environment,
                    current.model_uri,
                    current.digest,
                    target.model_uri,
                    target.digest
                )));
            }
            let route = project.route(&restored, publication.publish, publication.approved);
            let published = project.publish(branches, &restored, "rollback", route)?;
            Ok(announce(project, &restored, &published, "rolled back"))
        },
        &publication.remote,
    )
}

/// The pull-request report of a validated config. Generated files name the config by its path
/// from the repository root; its own paths are relative to its folder.
fn build_report(loaded: &Loaded, reader: &gate::BaseReader) -> Result<crate::report::Report, u8> {
    let (Some(config), Some(graph)) = (&loaded.validation.config, &loaded.validation.graph) else {
        return Err(EXIT_INVALID);
    };
    let config_path = config_path_under(&loaded.folder, loaded);
    let header_path = config_path_under(&repository_root(&loaded.folder), loaded);
    let mut report = crate::report::build(
        config,
        graph,
        &loaded.folder,
        &config_path,
        &header_path,
        reader,
    )
    .map_err(|message| fail(&message))?;
    if crate::git::toplevel(&loaded.folder).is_some() {
        let mut releases = Vec::new();
        with_project(
            loaded,
            |project, branches| {
                releases = project.next_release_diffs(branches)?;
                Ok(EXIT_OK)
            },
            "origin",
        );
        report.generated_diffs.extend(releases);
    }
    Ok(report)
}

fn run_report(path: &Path, base: &gate::BaseSource, format: ReportFormat, color: bool) -> u8 {
    // Git starts reading the base while the config is validated.
    let reader = gate::BaseReader::start(&config_folder(path), base);
    reader.prefetch_changes();
    let loaded = match load_valid(path, color, "reporting on it") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let report = match build_report(&loaded, &reader) {
        Ok(report) => report,
        Err(code) => return code,
    };
    match format {
        ReportFormat::Markdown => {
            let markdown = report.markdown();
            // In GitHub Actions the report also lands on the run's summary page.
            if let Some(summary) =
                std::env::var_os("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty())
            {
                let appended = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&summary)
                    .and_then(|mut file| file.write_all(markdown.as_bytes()));
                if let Err(error) = appended {
                    eprintln!("warning: cannot append to $GITHUB_STEP_SUMMARY: {error}");
                }
            }
            print_stdout(&markdown)
        }
        ReportFormat::Json => print_stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )),
    }
}

/// Where and as whom `comment` posts.
struct CommentArgs {
    body_file: Option<PathBuf>,
    pr: Option<u64>,
    pr_head: Option<String>,
    repo: Option<String>,
    head: Option<String>,
    key: Option<String>,
    author: Option<String>,
    dry_run: bool,
    gitlab: bool,
}

/// The Actions event payload, if there is one: `pull_request.number` and `.head.sha`.
fn event_pull_request() -> (Option<u64>, Option<String>) {
    let event = std::env::var_os("GITHUB_EVENT_PATH")
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let Some(pull_request) = event.as_ref().and_then(|event| event.get("pull_request")) else {
        return (None, None);
    };
    (
        pull_request
            .get("number")
            .and_then(serde_json::Value::as_u64),
        pull_request
            .get("head")
            .and_then(|head| head.get("sha"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    )
}

fn run_comment(path: &Path, base: &gate::BaseSource, args: &CommentArgs, color: bool) -> u8 {
    let (markdown, markdown_without_diffs, default_key) = if let Some(file) = &args.body_file {
        // A report rendered elsewhere (a fork's artifact): posted as text, never executed.
        match std::fs::read(file) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                (text.clone(), text, "mlops.yaml".to_owned())
            }
            Err(error) => return fail(&format!("cannot read `{}`: {error}", file.display())),
        }
    } else {
        // Git starts reading the base while the config is validated.
        let reader = gate::BaseReader::start(&config_folder(path), base);
        reader.prefetch_changes();
        let loaded = match load_valid(path, color, "reporting on it") {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        let report = match build_report(&loaded, &reader) {
            Ok(report) => report,
            Err(code) => return code,
        };
        // One sticky comment per config of the repository: the key is its path from the root.
        (
            report.markdown(),
            report.markdown_without_diffs(),
            config_path_under(&repository_root(&loaded.folder), &loaded),
        )
    };
    if args.gitlab {
        return gitlab_note(path, args, &default_key, &markdown, &markdown_without_diffs);
    }
    let (event_pr, event_head) = event_pull_request();
    let pr = args.pr.or(event_pr);
    let head = args
        .head
        .clone()
        .or(event_head)
        .or_else(|| std::env::var("GITHUB_SHA").ok())
        .or_else(|| crate::git::head(&config_folder(path)))
        .unwrap_or_default();
    let key = args.key.clone().unwrap_or(default_key);
    let body = crate::comment::body(
        &crate::comment::marker(&key, &head),
        &markdown,
        &markdown_without_diffs,
    );
    if args.dry_run {
        let target = match (&args.repo, pr) {
            (Some(repo), Some(pr)) => format!("{repo}#{pr}"),
            _ => "the pull request (pass --repo and --pr, or run in GitHub Actions)".to_owned(),
        };
        eprintln!(
            "dry run: would create, or update in place, the comment marked `{}` on {target}, with this body:",
            crate::comment::marker_prefix(&key).trim_end()
        );
        return print_stdout(&body);
    }
    let Some(repository) = args.repo.clone() else {
        return fail(
            "which repository? pass --repo OWNER/REPO (in GitHub Actions it comes from the environment)",
        );
    };
    let pull_request = match (pr, &args.pr_head) {
        (Some(pr), _) => PullRequest::Number(pr),
        (None, Some(pr_head)) => PullRequest::Head {
            head: pr_head.clone(),
            sha: head.clone(),
        },
        (None, None) => {
            return fail(
                "which pull request? pass --pr N or --pr-head OWNER:BRANCH (in GitHub Actions it comes from the event)",
            );
        }
    };
    post_comment(
        &repository,
        &pull_request,
        &key,
        args.author.as_deref(),
        &body,
    )
}

/// A non-empty environment variable.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `mlops comment --gitlab`: the report as the merge request's sticky note.
fn gitlab_note(
    path: &Path,
    args: &CommentArgs,
    default_key: &str,
    markdown: &str,
    markdown_without_diffs: &str,
) -> u8 {
    let head = args
        .head
        .clone()
        .or_else(|| env_value("CI_COMMIT_SHA"))
        .or_else(|| crate::git::head(&config_folder(path)))
        .unwrap_or_default();
    let key = args.key.clone().unwrap_or_else(|| default_key.to_owned());
    let body = crate::comment::body_within(
        &crate::comment::marker(&key, &head),
        markdown,
        markdown_without_diffs,
        crate::comment::GITLAB_MAX_BODY_CHARS,
        "GitLab's note limit",
    );
    let merge_request = match args.pr {
        Some(iid) => Some(iid),
        None => match env_value("CI_MERGE_REQUEST_IID") {
            Some(text) => match text.parse::<u64>() {
                Ok(iid) => Some(iid),
                Err(_) => {
                    return fail(&format!(
                        "CI_MERGE_REQUEST_IID is `{text}`, not a merge request number"
                    ));
                }
            },
            None => None,
        },
    };
    let project = args
        .repo
        .clone()
        .or_else(|| env_value("CI_MERGE_REQUEST_PROJECT_ID"));
    if args.dry_run {
        let target = match (&project, merge_request) {
            (Some(project), Some(iid)) => format!("merge request !{iid} of project {project}"),
            _ => "the merge request (pass --repo and --pr, or run in a merge request pipeline)"
                .to_owned(),
        };
        eprintln!(
            "dry run: would create, or update in place, the note marked `{}` on {target}, with this body:",
            crate::comment::marker_prefix(&key).trim_end()
        );
        return print_stdout(&body);
    }
    let Some(project) = project else {
        return fail(
            "which project? pass --repo ID or GROUP/PROJECT (in a merge request pipeline it comes from CI_MERGE_REQUEST_PROJECT_ID)",
        );
    };
    let Some(merge_request) = merge_request else {
        return fail(
            "which merge request? pass --pr IID (in a merge request pipeline it comes from CI_MERGE_REQUEST_IID)",
        );
    };
    let author = match args.author.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return fail("with --gitlab, --author is a numeric user id (GET /user shows it)");
        }
    };
    let token_name = crate::emit::gitlab::TOKEN_VARIABLE;
    let Some(token) = env_value(token_name) else {
        return fail(&format!(
            "{token_name} is not set: a masked CI/CD variable holding a project access token (role Reporter, scope `api`); CI_JOB_TOKEN cannot write notes"
        ));
    };
    let Some(api_base) = env_value("CI_API_V4_URL") else {
        return fail(
            "CI_API_V4_URL is not set (GitLab CI sets it; elsewhere, export it, such as https://gitlab.com/api/v4)",
        );
    };
    post_note(
        &NoteTarget {
            api_base: &api_base,
            token: &token,
            project: &project,
            merge_request,
        },
        &key,
        author,
        &body,
    )
}

/// Where `comment --gitlab` posts, and with what.
#[cfg_attr(not(feature = "gitlab"), allow(dead_code))]
struct NoteTarget<'a> {
    api_base: &'a str,
    token: &'a str,
    project: &'a str,
    merge_request: u64,
}

#[cfg(feature = "gitlab")]
fn post_note(to: &NoteTarget<'_>, key: &str, author: Option<u64>, body: &str) -> u8 {
    let (api_base, token, project, merge_request) =
        (to.api_base, to.token, to.project, to.merge_request);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let target = crate::gitlab::Target {
        project: project.to_owned(),
        merge_request,
    };
    let outcome = runtime.block_on(async {
        let client = crate::gitlab::Client::new(api_base, token)?;
        let author = match author {
            Some(author) => author,
            None => client.user_id().await?,
        };
        client.upsert(&target, author, key, body).await
    });
    let place = format!("merge request !{merge_request} of {project}");
    match outcome {
        Ok(crate::gitlab::Outcome::Created(id)) => eprintln!("created note {id} on {place}"),
        Ok(crate::gitlab::Outcome::Updated(id)) => eprintln!("updated note {id} on {place}"),
        Ok(crate::gitlab::Outcome::Unchanged(id)) => {
            eprintln!("note {id} on {place} is up to date");
        }
        Err(error) => return fail(&error.to_string()),
    }
    EXIT_OK
}

#[cfg(not(feature = "gitlab"))]
fn post_note(_to: &NoteTarget<'_>, _key: &str, _author: Option<u64>, _body: &str) -> u8 {
    fail(
        "this mlops was built without the GitLab client; rebuild with `cargo install --features gitlab` \
         (the mlops-yaml wheel has it), or use --dry-run",
    )
}

/// The pull request to comment on: by number, or by its head branch and commit.
// Read only by the GitHub client, which a build without the `github` feature leaves out.
#[cfg_attr(not(feature = "github"), allow(dead_code))]
enum PullRequest {
    Number(u64),
    Head { head: String, sha: String },
}

#[cfg(feature = "github")]
fn post_comment(
    repository: &str,
    pull_request: &PullRequest,
    key: &str,
    author: Option<&str>,
    body: &str,
) -> u8 {
    let Some(token) = std::env::var("GITHUB_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
    else {
        return fail(
            "GITHUB_TOKEN is not set (in a workflow: `env: GITHUB_TOKEN: ${{ github.token }}`)",
        );
    };
    let api_base = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "https://api.github.com".to_owned());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let outcome = runtime.block_on(async {
        let client = crate::github::Client::new(&api_base, &token)?;
        let pr = match pull_request {
            PullRequest::Number(pr) => *pr,
            PullRequest::Head { head, sha } => {
                client.pull_request_for(repository, head, sha).await?
            }
        };
        let target = crate::github::Target {
            api_base: api_base.clone(),
            repository: repository.to_owned(),
            pr,
        };
        let author = match author {
            Some(author) => author.to_owned(),
            None => client.login().await?,
        };
        let outcome = client.upsert(&target, &author, key, body).await?;
        Ok::<_, crate::github::Error>((pr, outcome))
    });
    match outcome {
        Ok((pr, crate::github::Outcome::Created(id))) => {
            eprintln!("created comment {id} on {repository}#{pr}");
        }
        Ok((pr, crate::github::Outcome::Updated(id))) => {
            eprintln!("updated comment {id} on {repository}#{pr}");
        }
        Ok((pr, crate::github::Outcome::Unchanged(id))) => {
            eprintln!("comment {id} on {repository}#{pr} is up to date");
        }
        Err(error) => return fail(&error.to_string()),
    }
    EXIT_OK
}

#[cfg(not(feature = "github"))]
fn post_comment(
    _repository: &str,
    _pull_request: &PullRequest,
    _key: &str,
    _author: Option<&str>,
    _body: &str,
) -> u8 {
    fail(
        "this mlops was built without the GitHub client; rebuild with `cargo install --features github` \
         (the mlops GitHub Action does), or use --dry-run",
    )
}

/// The folder of the config at `path` (a file, or a folder holding mlops.yaml).
fn config_folder(path: &Path) -> PathBuf {
    let file = if path.is_dir() {
        path.join("mlops.yaml")
    } else {
        path.to_path_buf()
    };
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
