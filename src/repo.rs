//! The checkout around a config file, as the `missing-file` rule sees it. One of the few places
//! that touch the file system; rules only see the [`Repo`] trait.

use std::path::{Path, PathBuf};

use crate::check::Repo;

/// The folder holding `mlops.yaml`; paths in the config are relative to it.
pub struct DiskRepo {
    root: PathBuf,
    listing: std::sync::OnceLock<Listing>,
}

/// The files under the root, as CI will see them.
struct Listing {
    /// Every file: tracked, and untracked but not ignored (what a commit of it would hold).
    all: Vec<String>,
    /// The tracked ones, when the root is in a git checkout.
    tracked: Option<std::collections::BTreeSet<String>>,
}

/// At most this many files are listed outside git (a config in a home folder must not walk
/// the whole disk).
const WALK_LIMIT: usize = 200_000;

impl DiskRepo {
    /// A repository rooted at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            listing: std::sync::OnceLock::new(),
        }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches("./"))
    }

    /// `git ls-files`, which applies git's own rules (a tracked file that `.gitignore` matches
    /// is still listed); outside git, a walk of the folder.
    fn listing(&self) -> &Listing {
        self.listing.get_or_init(|| {
            let list = |args: &[&str]| -> Option<Vec<String>> {
                let output = std::process::Command::new("git")
                    .arg("-C")
                    .arg(&self.root)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .output()
                    .ok()?;
                output.status.success().then(|| {
                    output
                        .stdout
                        .split(|byte| *byte == 0)
                        .filter(|path| !path.is_empty())
                        .map(|path| String::from_utf8_lossy(path).into_owned())
                        .collect()
                })
            };
            match list(&[
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ]) {
                Some(all) => Listing {
                    all,
                    tracked: list(&["ls-files", "-z", "--cached"])
                        .map(|tracked| tracked.into_iter().collect()),
                },
                None => Listing {
                    all: walk(&self.root),
                    tracked: None,
                },
            }
        })
    }
}

/// Every file under `root`, relative and `/`-separated, skipping `.git` (bounded).
fn walk(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            let relative = folder.join(entry.file_name());
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    folders.push(relative);
                }
            } else {
                files.push(relative.to_string_lossy().replace('\\', "/"));
                if files.len() >= WALK_LIMIT {
                    return files;
                }
            }
        }
    }
    files
}

impl Repo for DiskRepo {
    fn exists(&self, path: &str) -> bool {
        self.resolve(path).exists()
    }

    fn matches_any(&self, pattern: &str) -> bool {
        if !crate::paths::is_glob(pattern) && self.exists(pattern) {
            return true;
        }
        let set = crate::paths::PathSet::new(&[pattern]);
        self.listing().all.iter().any(|file| set.is_match(file))
    }

    fn matches_untracked_only(&self, pattern: &str) -> bool {
        let listing = self.listing();
        let Some(tracked) = &listing.tracked else {
            return false;
        };
        let set = crate::paths::PathSet::new(&[pattern]);
        let mut matched = listing
            .all
            .iter()
            .filter(|file| set.is_match(file))
            .peekable();
        matched.peek().is_some() && matched.all(|file| !tracked.contains(file))
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let path = self.resolve(path);
        let size = std::fs::metadata(&path).ok()?.len();
        if size > crate::spec::load::MAX_INPUT_BYTES as u64 {
            return None;
        }
        std::fs::read(path).ok()
    }
}

impl DiskRepo {
    /// The root folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
}
