#![doc = include_str!("../../docs/codes/missing-file.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// Files the config points at should exist: a training's `params` file, the folder its `metrics`
/// file goes into, and something for each `inputs` glob to match. Warnings only: on a fresh clone
/// generated folders may not exist yet.
pub struct MissingFile;

impl Rule for MissingFile {
    fn code(&self) -> Code {
        Code::MissingFile
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        // Every `inputs` pattern of the config, asked of the repository at once.
        let mut inputs: Vec<(String, usize, &str)> = Vec::new();
        for (name, data) in &cx.config.data {
            let base = format!("/data/{}", escape_pointer_token(name));
            inputs.extend(
                data.inputs
                    .iter()
                    .enumerate()
                    .map(|(position, pattern)| (base.clone(), position, pattern.as_str())),
            );
        }
        for (name, training) in &cx.config.training {
            let base = format!("/training/{}", escape_pointer_token(name));
            inputs.extend(
                training
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(position, pattern)| (base.clone(), position, pattern.as_str())),
            );
        }
        // An unportable pattern is an error of its own (`unportable-pattern`).
        inputs.retain(|(_, _, pattern)| crate::paths::portability_problem(pattern).is_none());
        let patterns: Vec<&str> = inputs.iter().map(|(_, _, pattern)| *pattern).collect();
        let found = cx.repo.input_matches(&patterns);
        for ((base, position, pattern), found) in inputs.iter().zip(found) {
            check_input(cx, base, *position, pattern, found, out);
        }
        for (name, training) in &cx.config.training {
            let base = format!("/training/{}", escape_pointer_token(name));
            if let Some(scoped) = &training.params
                && !cx.repo.exists(scoped.file())
            {
                let params = scoped.file();
                out.push(
                        Diag::warning(
                            Code::MissingFile,
                            format!("params file `{params}` of training `{name}` does not exist"),
                            cx.value_label(&scoped.file_pointer(&base), "not found next to mlops.yaml"),
                        )
                        .with_help("paths are relative to the folder of mlops.yaml; create the file or fix the path"),
                    );
            }
            if let Some(metrics) = &training.metrics {
                let folder = metrics
                    .rsplit_once('/')
                    .map(|(folder, _)| folder)
                    .filter(|folder| !folder.is_empty());
                if let Some(folder) = folder
                    && !cx.repo.exists(folder)
                {
                    out.push(
                            Diag::warning(
                                Code::MissingFile,
                                format!("folder `{folder}` for the metrics of training `{name}` does not exist"),
                                cx.value_label(&format!("{base}/metrics"), "its folder is missing"),
                            )
                            .with_help(format!("create it (with a `.gitkeep`) or make `run` create it: `mkdir -p {folder}`")),
                        );
                }
            }
        }
    }
}

fn check_input(
    cx: &CheckCtx<'_>,
    base: &str,
    position: usize,
    pattern: &str,
    found: crate::check::InputMatch,
    out: &mut Vec<Diag>,
) {
    if found.any {
        if found.untracked_only {
            out.push(
                Diag::warning(
                    Code::MissingFile,
                    format!("`inputs` pattern `{pattern}` matches only files git does not track"),
                    cx.value_label(&format!("{base}/inputs/{position}"), "untracked files only"),
                )
                .with_help("CI sees the committed files only: `git add` them, or fix the pattern"),
            );
        }
        return;
    }
    out.push(
        Diag::warning(
            Code::MissingFile,
            format!("`inputs` pattern `{pattern}` matches no file"),
            cx.value_label(&format!("{base}/inputs/{position}"), "matches nothing"),
        )
        .with_help("a change can only re-run this step if the pattern matches the files it reads; check the path"),
    );
}
