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
        for (name, data) in &cx.config.data {
            let base = format!("/data/{}", escape_pointer_token(name));
            check_inputs(cx, &base, &data.inputs, out);
        }
        for (name, training) in &cx.config.training {
            let base = format!("/training/{}", escape_pointer_token(name));
            check_inputs(cx, &base, &training.inputs, out);
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

fn check_inputs(cx: &CheckCtx<'_>, base: &str, inputs: &[String], out: &mut Vec<Diag>) {
    for (position, pattern) in inputs.iter().enumerate() {
        // An unportable pattern is an error of its own (`unportable-pattern`).
        if crate::paths::portability_problem(pattern).is_some() {
            continue;
        }
        if cx.repo.matches_any(pattern) {
            if cx.repo.matches_untracked_only(pattern) {
                out.push(
                    Diag::warning(
                        Code::MissingFile,
                        format!(
                            "`inputs` pattern `{pattern}` matches only files git does not track"
                        ),
                        cx.value_label(
                            &format!("{base}/inputs/{position}"),
                            "untracked files only",
                        ),
                    )
                    .with_help(
                        "CI sees the committed files only: `git add` them, or fix the pattern",
                    ),
                );
            }
            continue;
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
}
