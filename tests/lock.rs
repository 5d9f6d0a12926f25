//! `mlops.lock` as a user meets it: derived (rendered, checked), stable under reordering,
//! local to what changed, and merged by git without a conflict when two branches change
//! different models.

use std::path::Path;

use assert_cmd::Command;

mod common;

const CONFIG: &str = "\
version: 1
project: two-models
defaults:
  image: python:3.12-slim
training:
  alpha:
    run: python alpha/train.py
    inputs: [alpha/**, shared/**]
    params: { file: params.yaml, keys: [alpha] }
    metrics: metrics/alpha.json
  beta:
    run: python beta/train.py
    inputs: [beta/**, shared/**]
    params: { file: params.yaml, keys: [beta] }
    metrics: metrics/beta.json
gates:
  alpha-quality:
    training: alpha
    rules: [{ metric: auc, min: 0.8 }]
  beta-quality:
    training: beta
    rules: [{ metric: auc, min: 0.8 }]
";

fn mlops(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("mlops")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The project in a git repository on `main`, rendered and committed.
fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mlops.yaml", config);
    write(dir.path(), "alpha/train.py", "print('alpha')\n");
    write(dir.path(), "beta/train.py", "print('beta')\n");
    write(dir.path(), "shared/util.py", "X = 1\n");
    write(
        dir.path(),
        "params.yaml",
        "alpha: { lr: 0.1 }\nbeta: { lr: 0.2 }\n",
    );
    common::git(dir.path(), &["init", "-q", "-b", "main"]);
    render(dir.path());
    common::git(dir.path(), &["add", "-A"]);
    common::git(dir.path(), &["commit", "-q", "-m", "base"]);
    dir
}

fn render(dir: &Path) -> String {
    let (code, _, stderr) = mlops(dir, &["render"]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::read_to_string(dir.join("mlops.lock")).unwrap()
}

/// The tables (`[kind.name]`) whose lines differ between two locks.
fn changed_tables(before: &str, after: &str) -> Vec<String> {
    let tables = |text: &str| mlops::lock::read(text);
    let (before, after) = (tables(before), tables(after));
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_lock_is_the_same_bytes_across_runs_and_reorderings_of_the_config() {
    let dir = project(CONFIG);
    let first = render(dir.path());
    assert_eq!(render(dir.path()), first, "byte-identical across runs");
    assert!(
        first.contains("[training.alpha]\nfingerprint = \"sha256:"),
        "{first}"
    );
    // Sections swapped, and entries within them.
    let (head, rest) = CONFIG.split_once("training:\n").unwrap();
    let (training, gates) = rest.split_once("gates:\n").unwrap();
    let (alpha, beta) = training.split_once("  beta:\n").unwrap();
    let reordered = format!("{head}gates:\n{gates}training:\n  beta:\n{beta}{alpha}");
    write(dir.path(), "mlops.yaml", &reordered);
    assert_eq!(render(dir.path()), first, "reordered sections and entries");
}

#[test]
fn a_change_to_one_file_changes_the_nodes_that_read_it_and_what_follows_them() {
    let dir = project(CONFIG);
    let before = render(dir.path());
    write(dir.path(), "alpha/train.py", "print('alpha v2')\n");
    let after = render(dir.path());
    assert_eq!(
        changed_tables(&before, &after),
        ["gate.alpha-quality", "training.alpha"]
    );
    write(dir.path(), "shared/util.py", "X = 2\n");
    let shared = render(dir.path());
    assert_eq!(
        changed_tables(&after, &shared),
        [
            "gate.alpha-quality",
            "gate.beta-quality",
            "training.alpha",
            "training.beta"
        ],
        "a file both read"
    );
    write(
        dir.path(),
        "params.yaml",
        "alpha: { lr: 0.1 }\nbeta: { lr: 0.3 }\n",
    );
    assert_eq!(
        changed_tables(&shared, &render(dir.path())),
        ["gate.beta-quality", "training.beta"],
        "params by key"
    );
}

#[test]
fn timeouts_and_comments_change_no_fingerprint_and_a_moved_default_does() {
    let dir = project(CONFIG);
    let before = render(dir.path());
    let timed = CONFIG.replace(
        "    run: python alpha/train.py\n",
        "    run: python alpha/train.py\n    timeout_minutes: 30   # a longer run\n",
    );
    write(dir.path(), "mlops.yaml", &timed);
    assert_eq!(render(dir.path()), before, "timeout_minutes and a comment");
    // The default image is part of each training's resolved entry.
    write(
        dir.path(),
        "mlops.yaml",
        &CONFIG.replace("python:3.12-slim", "python:3.13-slim"),
    );
    assert_eq!(
        changed_tables(&before, &render(dir.path())),
        [
            "gate.alpha-quality",
            "gate.beta-quality",
            "training.alpha",
            "training.beta"
        ]
    );
}

/// `mlops check` says per node what made the lock stale, then shows the diff.
#[test]
fn check_explains_a_stale_lock_node_by_node() {
    let dir = project(CONFIG);
    write(dir.path(), "alpha/new_feature.py", "Y = 1\n");
    write(dir.path(), "alpha/train.py", "print('alpha v2')\n");
    let (code, stdout, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error[lock-stale]: mlops.lock is out of date for 2 of 4 nodes\n  \
             training alpha: inputs changed (modified alpha/train.py, added alpha/new_feature.py)\n  \
             gate alpha-quality: upstream `alpha` changed\n  \
             help: run `mlops render` and commit mlops.lock\n"
        ),
        "{stderr}"
    );
    assert!(stdout.contains("--- a/mlops.lock"), "{stdout}");
}

/// Two branches that change different models each render; git merges the two locks with no
/// conflict, and the merge is what a fresh render gives.
#[test]
fn two_branches_that_change_different_models_merge_without_a_conflict() {
    let dir = project(CONFIG);
    let git = |args: &[&str]| common::git(dir.path(), args);
    git(&["switch", "-q", "-c", "alpha-work"]);
    write(dir.path(), "alpha/train.py", "print('alpha v2')\n");
    render(dir.path());
    git(&["commit", "-q", "-am", "alpha"]);
    git(&["switch", "-q", "-c", "beta-work", "main"]);
    write(dir.path(), "beta/train.py", "print('beta v2')\n");
    write(
        dir.path(),
        "params.yaml",
        "alpha: { lr: 0.1 }\nbeta: { lr: 0.25 }\n",
    );
    render(dir.path());
    git(&["commit", "-q", "-am", "beta"]);
    git(&["switch", "-q", "main"]);
    git(&["merge", "-q", "--no-ff", "-m", "alpha", "alpha-work"]);
    git(&["merge", "-q", "--no-ff", "-m", "beta", "beta-work"]);
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 0, "the merged lock is a fresh render's: {stderr}");
}

/// The lock fingerprints the image's name; a tag moves under it, so `render` says so.
#[test]
fn an_image_given_by_tag_is_flagged() {
    let dir = project(CONFIG);
    let (_, _, stderr) = mlops(dir.path(), &["render"]);
    assert!(
        stderr.contains("warning: image `python:3.12-slim` is a tag, which moves: mlops.lock cannot say what ran in it"),
        "{stderr}"
    );
    let pinned = CONFIG.replace(
        "python:3.12-slim",
        "python:3.12-slim@sha256:2b0079146a74e23bf4ae8f6a28e1b484c6292f6fb904cbb51825b4a19812fcd8",
    );
    write(dir.path(), "mlops.yaml", &pinned);
    let (code, _, stderr) = mlops(dir.path(), &["render"]);
    assert_eq!(code, 0);
    assert!(!stderr.contains("is a tag"), "{stderr}");
}

/// `mlops affected --base HEAD --format json`: the nodes that run and the committed lock's
/// state.
fn affected(dir: &Path) -> (Vec<String>, String) {
    let (code, stdout, stderr) = mlops(dir, &["affected", "--base", "HEAD", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let running = answer["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["runs"] == true)
        .map(|node| {
            format!(
                "{} {}",
                node["kind"].as_str().unwrap(),
                node["name"].as_str().unwrap()
            )
        })
        .collect();
    (running, answer["base_lock"].as_str().unwrap().to_owned())
}

/// `affected` compares fingerprints, not config text: what changes no fingerprint runs
/// nothing, and a change to `defaults` runs what it reaches, not everything.
#[test]
fn affected_is_the_nodes_whose_fingerprint_differs_from_the_base() {
    let dir = project(CONFIG);
    assert_eq!(affected(dir.path()), (vec![], "fresh".to_owned()));

    write(
        dir.path(),
        "mlops.yaml",
        &CONFIG.replace(
            "  alpha:\n    run:",
            "  alpha:\n    timeout_minutes: 5\n    run:",
        ),
    );
    assert_eq!(
        affected(dir.path()).0,
        Vec::<String>::new(),
        "a timeout is no input"
    );

    write(
        dir.path(),
        "mlops.yaml",
        &CONFIG.replace(
            "  beta:\n    run:",
            "  beta:\n    image: python:3.11-slim\n    run:",
        ),
    );
    assert_eq!(
        affected(dir.path()).0,
        ["training beta", "gate beta-quality"]
    );

    write(dir.path(), "mlops.yaml", CONFIG);
    write(dir.path(), "shared/util.py", "X = 2\n");
    assert_eq!(
        affected(dir.path()).0,
        [
            "training alpha",
            "training beta",
            "gate alpha-quality",
            "gate beta-quality"
        ]
    );
}

/// The lock committed at the base is checked against the base's own files: committed stale
/// (an input edited without rendering) it is reported, and the files decide.
#[test]
fn a_stale_lock_at_the_base_is_reported_and_not_trusted() {
    let dir = project(CONFIG);
    write(dir.path(), "beta/train.py", "print('beta 2')\n");
    common::git(dir.path(), &["commit", "-q", "-am", "beta, not rendered"]);
    assert_eq!(affected(dir.path()), (vec![], "stale".to_owned()));
    write(dir.path(), "alpha/train.py", "print('alpha 2')\n");
    assert_eq!(
        affected(dir.path()),
        (
            vec!["training alpha".to_owned(), "gate alpha-quality".to_owned()],
            "stale".to_owned()
        )
    );

    std::fs::remove_file(dir.path().join("mlops.lock")).unwrap();
    common::git(dir.path(), &["commit", "-q", "-am", "no lock"]);
    assert_eq!(affected(dir.path()), (vec![], "missing".to_owned()));
}

/// The blob cache (`.git/mlops-sha256-cache`) serves only files git says are unchanged: an
/// edit to a tracked file after the cache learned it is seen, staged or not, and a line of
/// garbage in the cache is ignored.
#[test]
fn the_blob_cache_never_hides_an_edit() {
    let dir = project(CONFIG);
    // Tracked and clean now: this render learns every input's blob.
    render(dir.path());
    let cache = dir.path().join(".git/mlops-sha256-cache");
    let learned = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(learned.lines().count(), 3, "the three inputs: {learned}");
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);

    // Same size, so only the content says it changed.
    write(dir.path(), "alpha/train.py", "print('ALPHA')\n");
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("training alpha: inputs changed"),
        "{stderr}"
    );
    common::git(dir.path(), &["add", "alpha/train.py"]);
    assert_eq!(
        mlops(dir.path(), &["check"]).0,
        1,
        "staged, still not rendered"
    );

    std::fs::write(
        &cache,
        format!("{learned}not a line\n{}\n", "f".repeat(200)),
    )
    .unwrap();
    render(dir.path());
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);
}

/// The files the lock reads are what a commit of the folder would hold, from the three git
/// listings run at once: a tracked file deleted from the working tree is gone, an untracked one
/// counts, an ignored one does not; and the lock then equals one rendered without a blob cache.
#[test]
fn the_listing_drops_deleted_files_and_counts_untracked_not_ignored_ones() {
    let dir = project(CONFIG);
    render(dir.path());
    std::fs::remove_file(dir.path().join("shared/util.py")).unwrap();
    write(dir.path(), "shared/extra.py", "Z = 3\n");
    write(dir.path(), ".gitignore", "*.log\n");
    write(dir.path(), "shared/noise.log", "ignored\n");
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "{stderr}");
    for node in ["training alpha", "training beta"] {
        assert!(
            stderr.contains(&format!(
                "{node}: inputs changed (deleted shared/util.py, added shared/extra.py)"
            )),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("noise.log"), "{stderr}");
    let rendered = render(dir.path());
    let alpha = &mlops::lock::read(&rendered)["training.alpha"];
    assert_eq!(alpha["files"], "2", "alpha/train.py and shared/extra.py");

    std::fs::remove_file(dir.path().join(".git/mlops-sha256-cache")).unwrap();
    assert_eq!(
        render(dir.path()),
        rendered,
        "the same without the blob cache"
    );
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);
}

/// `render` and `check` make the lock from git's index while git still checks the working
/// tree, and make it again when git finds a change: with every blob known to the cache, an
/// edit, an untracked input and a deleted input are each still seen, and the edit is never
/// learned as the staged blob's digest.
#[test]
fn the_lock_made_from_the_index_is_made_again_when_git_finds_a_change() {
    let dir = project(CONFIG);
    let clean = render(dir.path());
    let cache = dir.path().join(".git/mlops-sha256-cache");
    let learned = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);

    write(dir.path(), "shared/util.py", "X = 2\n");
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "an edit: {stderr}");
    assert!(
        stderr.contains("training alpha: inputs changed (modified shared/util.py)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap(),
        learned,
        "nothing learned from an edited file"
    );
    write(dir.path(), "shared/util.py", "X = 1\n");
    assert_eq!(mlops(dir.path(), &["check"]).0, 0, "the edit undone");

    // A params file is read, not hashed as an input: its edit is seen too.
    write(
        dir.path(),
        "params.yaml",
        "alpha: { lr: 0.3 }\nbeta: { lr: 0.2 }\n",
    );
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "a params edit: {stderr}");
    assert!(
        stderr.contains("training alpha: params changed"),
        "{stderr}"
    );
    assert!(!stderr.contains("training beta"), "{stderr}");
    write(
        dir.path(),
        "params.yaml",
        "alpha: { lr: 0.1 }\nbeta: { lr: 0.2 }\n",
    );

    // A tracked file no node reads changes nothing.
    write(dir.path(), "alpha/train.py", "print('alpha')\n");
    write(dir.path(), "notes.txt", "v1\n");
    common::git(dir.path(), &["add", "notes.txt"]);
    write(dir.path(), "notes.txt", "v2, not staged\n");
    assert_eq!(mlops(dir.path(), &["check"]).0, 0, "an edit no node reads");
    assert_eq!(render(dir.path()), clean);

    write(dir.path(), "alpha/new.py", "Y = 1\n");
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "an untracked input: {stderr}");
    assert!(stderr.contains("added alpha/new.py"), "{stderr}");
    std::fs::remove_file(dir.path().join("alpha/new.py")).unwrap();

    std::fs::remove_file(dir.path().join("beta/train.py")).unwrap();
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 1, "a deleted input: {stderr}");
    assert!(stderr.contains("deleted beta/train.py"), "{stderr}");
    common::git(dir.path(), &["checkout", "--", "beta/train.py"]);
    assert_eq!(render(dir.path()), clean, "the same lock as before it all");
}

/// Without a blob cache the lock made from the index reads every input; once git finds
/// nothing changed, what was read is learned: the same blobs a plain render learns.
#[test]
fn what_is_read_while_assumed_clean_is_learned_once_confirmed() {
    let dir = project(CONFIG);
    let cache = dir.path().join(".git/mlops-sha256-cache");
    assert!(
        !cache.exists(),
        "rendered before the files were committed: nothing learned"
    );
    assert_eq!(mlops(dir.path(), &["check"]).0, 0);
    let sorted_lines = || {
        let mut lines: Vec<String> = std::fs::read_to_string(&cache)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let by_check = sorted_lines();
    assert_eq!(by_check.len(), 3, "the three inputs: {by_check:?}");
    std::fs::remove_file(&cache).unwrap();
    render(dir.path());
    assert_eq!(sorted_lines(), by_check);
}

/// A clone whose checkout writes CRLF (`core.autocrlf`, Git for Windows' default) has other
/// bytes on disk than CI's: `check` says so and how to fix it, `render` warns, the generated
/// files are not called stale for their line endings alone, and with `eol=lf` in
/// `.gitattributes` the same clone checks clean.
#[test]
fn a_checkout_that_writes_crlf_is_told_why_its_lock_differs_and_how_to_fix_it() {
    let dir = project(CONFIG);
    let clone = |name: &str| {
        let target = dir.path().join(name);
        let source = dir.path().to_str().unwrap();
        let target_arg = target.to_str().unwrap();
        common::git(
            dir.path(),
            &[
                "clone",
                "-q",
                "-c",
                "core.autocrlf=true",
                source,
                target_arg,
            ],
        );
        target
    };
    let crlf = clone("crlf-clone");
    let config = std::fs::read(crlf.join("mlops.yaml")).unwrap();
    assert!(
        config.windows(2).any(|pair| pair == b"\r\n"),
        "the clone is CRLF"
    );
    let (code, _, stderr) = mlops(&crlf, &["check"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error[lock-stale]"), "{stderr}");
    assert!(
        stderr.contains("note: git checks text files out with CRLF line endings here"),
        "{stderr}"
    );
    assert!(stderr.contains("`* text=auto eol=lf`"), "{stderr}");
    assert!(
        !stderr.contains("stale: .github/workflows/"),
        "the workflows differ only by line endings: {stderr}"
    );
    let (code, _, stderr) = mlops(&crlf, &["render"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: git checks text files out with CRLF"),
        "{stderr}"
    );
    assert!(stderr.contains("mlops.yml: unchanged"), "{stderr}");
    // Where nothing converts, nothing is said.
    let (code, _, stderr) = mlops(dir.path(), &["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("CRLF"), "{stderr}");
    // The fix the note gives.
    write(dir.path(), ".gitattributes", "* text=auto eol=lf\n");
    common::git(dir.path(), &["add", ".gitattributes"]);
    common::git(dir.path(), &["commit", "-q", "-m", "LF"]);
    let fixed = clone("lf-clone");
    let (code, _, stderr) = mlops(&fixed, &["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("CRLF"), "{stderr}");
}
