//! Embeds the build's identity: the commit it was built from, so that a rendered workflow can
//! pin the mlops action of exactly this build (`ci.github_action`'s default).
//!
//! The commit comes from `MLOPS_BUILD_COMMIT` when it is set (the action sets it: GitHub hands
//! an action its files without `.git`), else from git, when this crate's folder is the top of a
//! git checkout (never from a repository that merely contains it, such as a home folder). A
//! build that finds neither knows no commit, and `mlops validate` says so where it matters.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MLOPS_BUILD_COMMIT");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let commit = match std::env::var("MLOPS_BUILD_COMMIT") {
        Ok(value) if !value.is_empty() => {
            if is_commit(&value) {
                Some(value)
            } else {
                println!(
                    "cargo:warning=MLOPS_BUILD_COMMIT={value:?} is not a 40-digit commit id; the build knows no commit"
                );
                None
            }
        }
        _ => commit_from_git(Path::new(&manifest_dir)),
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version_text = match &commit {
        Some(commit) => format!("{version} ({commit})"),
        None => format!("{version} (commit unknown)"),
    };
    println!("cargo:rustc-env=MLOPS_VERSION_TEXT={version_text}");
    println!(
        "cargo:rustc-env=MLOPS_BUILD_COMMIT_ID={}",
        commit.unwrap_or_default()
    );
}

fn is_commit(text: &str) -> bool {
    text.len() == 40
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn commit_from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), dir) {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
    if let Some(git_dir) = git(dir, &["rev-parse", "--absolute-git-dir"]) {
        let git_dir = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        println!(
            "cargo:rerun-if-changed={}",
            git_dir.join("packed-refs").display()
        );
        if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", git_dir.join(branch).display());
        }
    }
    git(dir, &["rev-parse", "HEAD"]).filter(|commit| is_commit(commit))
}
