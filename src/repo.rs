//! The checkout around a config file, as the `missing-file` rule sees it. One of the few places
//! that touch the file system; rules only see the [`Repo`] trait.

use std::path::{Path, PathBuf};

use crate::check::Repo;

/// The folder holding `mlops.yaml`; paths in the config are relative to it.
pub struct DiskRepo {
    root: PathBuf,
    /// Whether the listing finds the clean files' blobs.
    clean: crate::paths::CleanBlobs,
    listing: std::sync::OnceLock<Listing>,
    /// The listing, started when the repository is opened so that git works while the config
    /// is parsed.
    started: std::sync::Mutex<Option<std::thread::JoinHandle<Listing>>>,
    /// Git's index, sent by the listing as soon as it is read (when it lists blobs).
    indexed: std::sync::Mutex<Option<std::sync::mpsc::Receiver<crate::paths::IndexView>>>,
}

/// The files under the root, as CI will see them.
type Listing = crate::paths::Listed;

impl DiskRepo {
    /// A repository rooted at `root`; its files start being listed now.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskRepo::listing_with(root, crate::paths::CleanBlobs::Skip)
    }

    /// [`DiskRepo::new`], listing the clean files' blobs too when `clean` says so (for a lock).
    #[must_use]
    pub fn listing_with(root: impl Into<PathBuf>, clean: crate::paths::CleanBlobs) -> Self {
        let root = root.into();
        let folder = root.clone();
        let (send_index, indexed) = std::sync::mpsc::sync_channel(1);
        let started = std::thread::Builder::new()
            .name("list-files".to_owned())
            .spawn(move || {
                crate::paths::list_files_with(&folder, clean, |view| {
                    // Nobody waiting for it is no error.
                    let _ = send_index.send(view);
                })
            })
            .ok();
        Self {
            root,
            clean,
            listing: std::sync::OnceLock::new(),
            started: std::sync::Mutex::new(started),
            indexed: std::sync::Mutex::new(Some(indexed)),
        }
    }

    /// Git's index as the listing read it, before the listing is done ([`crate::paths::IndexView`]);
    /// once, and only when the listing finds blobs in a git checkout.
    pub(crate) fn index_view(&self) -> Option<crate::paths::IndexView> {
        let receiver = self.indexed.lock().ok()?.take()?;
        receiver.recv().ok()
    }

    /// How the listing differs from the [`DiskRepo::index_view`], when only by tracked files
    /// changed or deleted: those files (none: it is the index view). `None` when git found
    /// untracked files, or outside git. Waits for the listing.
    pub(crate) fn changed_since_indexed(&self) -> Option<Vec<String>> {
        self.listing().changed_since_indexed.clone()
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches("./"))
    }

    fn listing(&self) -> &Listing {
        self.listing.get_or_init(|| {
            let started = self.started.lock().ok().and_then(|mut slot| slot.take());
            started
                .and_then(|thread| thread.join().ok())
                .unwrap_or_else(|| crate::paths::list_files_for(&self.root, self.clean))
        })
    }

    /// Every file under the root, as the rules saw them: the lock reads the same listing.
    #[must_use]
    pub fn files(&self) -> Vec<String> {
        self.listing().all.clone()
    }

    /// The clean tracked files and their blobs, from the same listing.
    pub(crate) fn clean_blobs(&self) -> Option<crate::git::PathTable<crate::git::BlobId>> {
        self.listing().clean.clone()
    }
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

    fn input_matches(&self, patterns: &[&str]) -> Vec<crate::check::InputMatch> {
        let listing = self.listing();
        let set = crate::paths::PathSet::shared(patterns);
        let mut any = vec![false; patterns.len()];
        let mut tracked_hit = vec![false; patterns.len()];
        let (mut scratch, mut found) = (Vec::new(), Vec::new());
        // Both lists are sorted: a cursor over the tracked files moves along with the files
        // (a lookup per file was 15 string comparisons each, 300,000 at 20,000 files).
        let mut tracked_files = listing
            .tracked
            .as_ref()
            .map(|tracked| tracked.iter().peekable());
        for file in &listing.all {
            let tracked = tracked_files.as_mut().is_none_or(|tracked_files| {
                while tracked_files.next_if(|tracked| *tracked < file).is_some() {}
                tracked_files.peek() == Some(&file)
            });
            set.matching_into(file, &mut scratch, &mut found);
            if found.is_empty() {
                continue;
            }
            for &index in &found {
                any[index] = true;
                tracked_hit[index] |= tracked;
            }
        }
        patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                let listed = any[index];
                crate::check::InputMatch {
                    any: listed || (!crate::paths::is_glob(pattern) && self.exists(pattern)),
                    untracked_only: listed && !tracked_hit[index],
                }
            })
            .collect()
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
