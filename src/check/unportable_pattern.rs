#![doc = include_str!("../../docs/codes/unportable-pattern.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;
use crate::spec::load::escape_pointer_token;

/// `inputs` and `params` mean the same to GitHub, GitLab, git and mlops ([`crate::paths`]).
pub struct UnportablePattern;

impl Rule for UnportablePattern {
    fn code(&self) -> Code {
        Code::UnportablePattern
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        let check = |out: &mut Vec<Diag>, pointer: String, what: &str, pattern: &str| {
            let Some((problem, fix)) = crate::paths::portability_problem(pattern) else {
                return;
            };
            let help = match fix {
                Some(fix) => format!("write `{fix}`"),
                None => {
                    "use `*`, `?` and whole-segment `**` only, with `/` between folders".to_owned()
                }
            };
            out.push(
                Diag::error(
                    Code::UnportablePattern,
                    format!("{what} `{pattern}` is not read the same by GitHub, GitLab and git: {problem}"),
                    cx.value_label(&pointer, "not portable"),
                )
                .with_help(help),
            );
        };
        for (name, data) in &cx.config.data {
            for (index, pattern) in data.inputs.iter().enumerate() {
                let pointer = format!("/data/{}/inputs/{index}", escape_pointer_token(name));
                check(out, pointer, "input", pattern);
            }
        }
        for (name, training) in &cx.config.training {
            let base = format!("/training/{}", escape_pointer_token(name));
            for (index, pattern) in training.inputs.iter().enumerate() {
                check(out, format!("{base}/inputs/{index}"), "input", pattern);
            }
            if let Some(scoped) = &training.params {
                let params = scoped.file();
                let pointer = scoped.file_pointer(&base);
                check(out, pointer.clone(), "params file", params);
                if crate::paths::is_glob(params) {
                    out.push(
                        Diag::error(
                            Code::UnportablePattern,
                            format!("params file `{params}` is a pattern: `params` names one file"),
                            cx.value_label(&pointer, "not one file"),
                        )
                        .with_help("name the file, such as `params.yaml`; patterns go in `inputs`"),
                    );
                }
            }
        }
    }
}
