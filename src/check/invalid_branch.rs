#![doc = include_str!("../../docs/codes/invalid-branch.md")]

use super::{CheckCtx, Rule};
use crate::codes::Code;
use crate::diag::Diag;

/// `ci.branch` and `gitops.release_branch` are git branch names that read the same as a
/// GitHub branch filter, a YAML scalar and a string inside a GitHub expression.
pub struct InvalidBranch;

impl Rule for InvalidBranch {
    fn code(&self) -> Code {
        Code::InvalidBranch
    }

    fn check(&self, cx: &CheckCtx<'_>, out: &mut Vec<Diag>) {
        let branch = &cx.config.ci.branch;
        if let Some(problem) = branch_problem(branch) {
            out.push(
                Diag::error(
                    Code::InvalidBranch,
                    format!("`ci.branch` {branch:?} is not a branch name mlops can use: {problem}"),
                    cx.value_label("/ci/branch", "not a plain branch name"),
                )
                .with_help(
                    "write the default branch as git shows it, such as `main` or `release/v2` \
                     (letters, digits, `.`, `_`, `-` and `/` between parts)",
                ),
            );
        }
        let prefix = cx
            .config
            .gitops
            .as_ref()
            .and_then(|gitops| gitops.release_branch.as_deref());
        if let Some(prefix) = prefix
            && let Some(problem) = branch_problem(prefix)
        {
            out.push(
                Diag::error(
                    Code::InvalidBranch,
                    format!(
                        "`gitops.release_branch` {prefix:?} is not a branch name mlops can use: {problem}"
                    ),
                    cx.value_label("/gitops/release_branch", "not a plain branch name"),
                )
                .with_help(
                    "write a branch prefix such as `mlops/release` (each environment's releases go \
                     to `<prefix>/<environment>`; letters, digits, `.`, `_`, `-` and `/`)",
                ),
            );
        }
    }
}

/// Why `branch` is refused, if it is: git's own rules (`git check-ref-format --branch`) plus
/// a character set with no meaning in GitHub's branch filters (`* ? + [ ! \`), YAML or GitHub
/// expressions (`' " { } $`).
#[must_use]
pub fn branch_problem(branch: &str) -> Option<&'static str> {
    if branch.is_empty() {
        return Some("it is empty");
    }
    if let Some(bad) = branch
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        return Some(if bad.is_whitespace() || bad.is_control() {
            "it contains whitespace or a control character"
        } else {
            "it contains a character other than letters, digits, `.`, `_`, `-` and `/`"
        });
    }
    if branch.starts_with('-') {
        return Some("it starts with `-`, which git reads as an option");
    }
    if branch.contains("..") {
        return Some("git refuses `..` in a branch name");
    }
    if branch.split('/').any(str::is_empty) {
        return Some("it has an empty part (a leading, trailing or double `/`)");
    }
    if branch
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return Some("git refuses a part that starts with `.` or ends with `.lock`");
    }
    if branch.ends_with('.') {
        return Some("git refuses a branch name that ends with `.`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::branch_problem;

    #[test]
    fn plain_branch_names_pass() {
        for branch in ["main", "master", "release/v2.1", "team_a/feature-x", "v1.0"] {
            assert_eq!(branch_problem(branch), None, "{branch}");
        }
    }

    #[test]
    fn names_that_could_escape_or_that_git_refuses_fail() {
        for branch in [
            "main' || true || '",
            "main'",
            "a\"b",
            "${{ github.token }}",
            "ma}}in",
            "main branch",
            "main\n",
            "!main",
            "rel+1",
            "re*",
            "",
            "-main",
            "a..b",
            "/main",
            "main/",
            "a//b",
            ".hidden",
            "a/.b",
            "main.lock",
            "main.",
            "mäin",
        ] {
            assert!(
                branch_problem(branch).is_some(),
                "{branch:?} must be refused"
            );
        }
    }
}
