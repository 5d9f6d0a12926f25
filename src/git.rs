//! The few git questions mlops asks, through the `git` command (no checkout, no network but a
//! one-commit fetch of a missing base): what changed since a revision, and a file at a revision.

use std::path::Path;
use std::process::Command;

/// `0000...` is what GitHub sends as `before` when a push creates a branch.
#[must_use]
pub fn is_null_revision(revision: &str) -> bool {
    !revision.is_empty() && revision.chars().all(|c| c == '0')
}

/// Run git in `root`.
fn run(root: &Path, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run git: {error}"))
}

/// Make sure `base` is in the clone: CI checkouts are shallow, so fetch just that commit once.
pub fn ensure_revision(root: &Path, base: &str) -> Result<(), String> {
    let commit = format!("{base}^{{commit}}");
    if run(root, &["cat-file", "-e", &commit])?.status.success() {
        return Ok(());
    }
    let fetched = run(root, &["fetch", "--no-tags", "--depth=1", "origin", base])?;
    if fetched.status.success() && run(root, &["cat-file", "-e", &commit])?.status.success() {
        return Ok(());
    }
    Err(format!(
        "the base revision `{base}` is not in this clone, and `git fetch --depth=1 origin {base}` \
         did not bring it: check out with `fetch-depth: 0` (actions/checkout), or fetch it first"
    ))
}

/// Paths changed between `base` and the working tree, relative to `root` (changes outside it
/// are not this config's concern).
pub fn changed_since(root: &Path, base: &str) -> Result<Vec<String>, String> {
    ensure_revision(root, base)?;
    let output = run(
        root,
        &[
            "diff",
            "--name-only",
            "--no-renames",
            "--relative",
            base,
            "--",
        ],
    )?;
    if !output.status.success() {
        return Err(format!(
            "git diff against `{base}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let mut paths: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    paths.sort();
    Ok(paths)
}

/// A file's contents at `revision` (`git show REV:./path`, relative to `root`).
pub fn show_at(root: &Path, revision: &str, path: &str) -> Result<Vec<u8>, String> {
    let output = run(root, &["show", &format!("{revision}:./{path}")])?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The commit checked out in `root`, if it is a git checkout.
#[must_use]
pub fn head(root: &Path) -> Option<String> {
    let output = run(root, &["rev-parse", "HEAD"]).ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty())
}

/// The last commit that changed `path` (relative to `root`), as (full SHA, subject).
///
/// # Errors
/// git failed (not a repository, no git).
pub fn last_change(root: &Path, path: &str) -> Result<Option<(String, String)>, String> {
    let output = run(root, &["log", "-n", "1", "--format=%H%x09%s", "--", path])?;
    if !output.status.success() {
        return Err(format!(
            "git log failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .next()
        .and_then(|line| line.split_once('\t'))
        .map(|(commit, subject)| (commit.to_owned(), subject.to_owned())))
}
