//! The command line: clap definitions and one small function per subcommand.
//!
//! Exit codes (the spec's contract): 0 ok; 1 the input is invalid; 2 usage or I/O error.
//! Diagnostics go to stderr; machine output (JSON, SARIF, workflow commands, graphs, schemas)
//! to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::codes::Code;
use crate::diag::{self, FileReport, SourceFile};
use crate::graph::GraphFormat;
use crate::repo::DiskRepo;
use crate::{Validation, init, spec, suggest};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the config (or a gate) failed.
pub const EXIT_INVALID: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_USAGE: u8 = 2;

/// Compile one reviewed mlops.yaml into CI pipelines, deploy manifests and PR metric reports.
#[derive(Debug, Parser)]
#[command(name = "mlops", version, about, max_term_width = 100)]
pub struct Cli {
    /// When to colour diagnostics: `auto` colours a terminal unless NO_COLOR is set.
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
        /// Output format: `human` on stderr; `json`, `github` and `sarif` on stdout.
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
    /// Print the dependency graph of a valid config.
    Graph {
        /// The config file, or a folder holding mlops.yaml.
        #[arg(default_value = "mlops.yaml")]
        path: PathBuf,
        /// Graph format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
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
        Command::Graph { path, format } => graph(&path, format, color),
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

/// Resolve `PATH` (a file, or a folder holding mlops.yaml) and read it.
fn read_config(path: &Path) -> Result<(PathBuf, Vec<u8>), String> {
    let path = if path.is_dir() {
        path.join("mlops.yaml")
    } else {
        path.to_path_buf()
    };
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "cannot read `{}`: no such file (run `mlops init` to create one, or pass the path)",
            path.display()
        )),
        Err(error) => Err(format!("cannot read `{}`: {error}", path.display())),
    }
}

fn load_and_validate(path: &Path) -> Result<(SourceFile, Validation), String> {
    let (path, bytes) = read_config(path)?;
    let root = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    let validation = crate::validate(&bytes, &DiskRepo::new(root));
    let name = path
        .strip_prefix("./")
        .unwrap_or(&path)
        .display()
        .to_string();
    let source = SourceFile::new(name, String::from_utf8_lossy(&bytes).into_owned());
    Ok((source, validation))
}

fn validate(paths: &[PathBuf], format: DiagFormat, color: bool) -> u8 {
    let mut reports = Vec::with_capacity(paths.len());
    let mut all_ok = true;
    for path in paths {
        let (source, validation) = match load_and_validate(path) {
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
    match Code::from_name(name) {
        Some(code) => print_stdout(code.doc()),
        None => {
            let hint = suggest::did_you_mean(name, Code::ALL.iter().map(|code| code.name()))
                .map_or_else(String::new, |close| format!("; did you mean `{close}`?"));
            fail(&format!(
                "unknown code `{name}`{hint} (`mlops explain` lists them all)"
            ))
        }
    }
}

fn graph(path: &Path, format: GraphFormat, color: bool) -> u8 {
    let (source, validation) = match load_and_validate(path) {
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
