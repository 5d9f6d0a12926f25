//! `mlops` compiles one reviewed `mlops.yaml` into CI pipelines and deploy manifests.
//!
//! The stages, each a module, each taking the previous stage's output:
//!
//! 1. [`spec::load`]: bytes -> [`spec::Document`] (YAML 1.2 via saphyr, with a span per node);
//! 2. [`spec::schema`]: JSON Schema check, errors mapped to spans; then the typed [`spec::Config`];
//! 3. [`graph`]: the dependency graph every emitter consumes;
//! 4. [`check`]: the semantic rules, over the config and the graph;
//! 5. [`diag`]: the problems, rendered for people (miette), JSON, GitHub or SARIF.
//!
//! ```
//! let text = b"version: 1\nproject: demo\n";
//! let validation = mlops::validate(text, &mlops::check::AnyRepo);
//! assert!(validation.diags.is_empty());
//! ```

pub mod affected;
pub mod build_info;
pub mod check;
pub mod cli;
pub mod codes;
pub mod comment;
pub mod diag;
pub mod emit;
pub mod gate;
pub mod generate;
pub mod git;
#[cfg(feature = "github")]
pub mod github;
#[cfg(feature = "gitlab")]
pub mod gitlab;
pub mod graph;
#[cfg(any(feature = "github", feature = "gitlab"))]
pub mod http_retry;
pub mod init;
pub mod lock;
pub mod metrics;
pub mod monitor;
pub mod outputs;
pub mod paths;
pub mod plan;
pub mod promote;
pub mod publish;
pub mod release;
pub mod repo;
pub mod report;
pub mod run;
pub mod spec;
pub mod suggest;

use check::{CheckCtx, Repo};
use diag::Diag;
use graph::Graph;
use spec::Config;
use spec::SpanIndex;

/// Everything `mlops validate` learns about a file.
#[derive(Debug)]
pub struct Validation {
    /// Where each node of the YAML is written, unless it could not be read.
    pub spans: Option<SpanIndex>,
    /// The typed config, unless a value had the wrong type.
    pub config: Option<Config>,
    /// The dependency graph, when the config could be typed.
    pub graph: Option<Graph>,
    /// Every problem, sorted by position then code.
    pub diags: Vec<Diag>,
    /// Whether the semantic rules ran. They need the typed config, so a value of the wrong type
    /// (reported) keeps them from running; the report says so rather than implying all is well.
    pub rules_ran: bool,
}

impl Validation {
    /// True when there is no error (warnings allowed).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.diags
            .iter()
            .all(|diag| diag.severity == diag::Severity::Warning)
    }
}

/// Parse, schema-check, build the graph and run every rule on config bytes. Never panics on any
/// input; every problem found is in `diags`.
#[must_use]
pub fn validate(bytes: &[u8], repo: &dyn Repo) -> Validation {
    validate_inner(bytes, repo, None::<fn(&Config, &Graph)>).0
}

/// [`validate`], running `meanwhile` on another thread on the typed config and its graph while
/// the semantic rules check them (when the config could be typed: else `None`). What it makes
/// is the caller's to use only if the validation is ok: `mlops run` computes its fingerprints
/// there.
pub fn validate_with<T: Send>(
    bytes: &[u8],
    repo: &dyn Repo,
    meanwhile: impl FnOnce(&Config, &Graph) -> T + Send,
) -> (Validation, Option<T>) {
    validate_inner(bytes, repo, Some(meanwhile))
}

fn validate_inner<T: Send>(
    bytes: &[u8],
    repo: &dyn Repo,
    meanwhile: Option<impl FnOnce(&Config, &Graph) -> T + Send>,
) -> (Validation, Option<T>) {
    let parsed = spec::parse(bytes);
    let mut diags = parsed.diags;
    let graph = parsed.config.as_ref().map(Graph::build);
    let mut rules_ran = false;
    let mut made = None;
    if let (Some(spans), Some(config), Some(graph)) = (&parsed.spans, &parsed.config, &graph) {
        // The text is valid UTF-8 here: `load` succeeded.
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        match meanwhile {
            // The rules (their context too) go to the new thread and `meanwhile` stays here:
            // it allocates more, and here it reuses what parsing freed (in another thread it
            // took a malloc arena of its own, and the peak of `check` at 1,000 models grew by
            // 10 MiB).
            Some(meanwhile) => std::thread::scope(|scope| {
                let rules =
                    scope.spawn(|| check::run(&CheckCtx::new(config, spans, text, graph, repo)));
                made = Some(meanwhile(config, graph));
                match rules.join() {
                    Ok(found) => diags.extend(found),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }),
            None => diags.extend(check::run(&CheckCtx::new(config, spans, text, graph, repo))),
        }
        rules_ran = true;
    }
    diag::sort(&mut diags);
    (
        Validation {
            spans: parsed.spans,
            config: parsed.config,
            graph,
            diags,
            rules_ran,
        },
        made,
    )
}
