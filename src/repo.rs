//! The checkout around a config file, as the `missing-file` rule sees it. One of the few places
//! that touch the file system; rules only see the [`Repo`] trait.

use std::path::{Path, PathBuf};

use crate::check::Repo;

/// The folder holding `mlops.yaml`; paths in the config are relative to it.
pub struct DiskRepo {
    root: PathBuf,
}

impl DiskRepo {
    /// A repository rooted at `root`.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches("./"))
    }
}

impl Repo for DiskRepo {
    fn exists(&self, path: &str) -> bool {
        self.resolve(path).exists()
    }

    fn matches_any(&self, pattern: &str) -> bool {
        let is_pattern = pattern.contains(['*', '?', '[']);
        if !is_pattern {
            return self.exists(pattern);
        }
        // GitHub's `paths` filters read a trailing `**` as "everything below"; the glob crate
        // matches nothing for it, so spell out the files below.
        let pattern = if pattern == "**" || pattern.ends_with("/**") {
            format!("{pattern}/*")
        } else {
            pattern.to_owned()
        };
        let full = self.resolve(&pattern);
        let Some(full) = full.to_str() else {
            return true;
        };
        // A malformed glob is not this warning's business; treat it as matching.
        glob::glob(full).map_or(true, |mut paths| paths.any(|path| path.is_ok()))
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
