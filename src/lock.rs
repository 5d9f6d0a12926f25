//! `mlops.lock`: the content fingerprint of every node, derived like every other output (a
//! pure function of the commit: `mlops render` rewrites it, `mlops check` fails when it is
//! stale), so a merge conflict in it is resolved by rendering again, never by re-training.
//!
//! A node's fingerprint is the SHA-256 of a line-based preimage:
//!
//! ```text
//! mlops-fingerprint/v1
//! definition sha256:<canonical JSON of the resolved entry: defaults applied, no timeout>
//! inputs sha256:<manifest of "<sha256> <path>" lines, sorted by path>
//! params sha256:<"key\tvalue" lines of the values it reads, sorted>
//! pin sha256:<the data pin>
//! upstream <name> <fingerprint>          (one line per dependency, sorted)
//! ```
//!
//! The file is TOML, one table per node sorted by kind then name, one value per line, every
//! digest prefixed with its algorithm, no whole-file digest: reordering the config changes
//! nothing, and two branches that change different models change different tables.
//! Secrets count by name, never by value; `timeout_minutes` does not count. Files are hashed
//! streamed, each once however many nodes read it, across files in parallel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::git::{BlobId, PathTable, parse_hex, push_hex};
use crate::graph::{EdgeKind, Graph, NodeKind};
use crate::paths::PathSet;
use crate::spec::Config;

/// The lock's file name, beside its config.
pub const FILE_NAME: &str = "mlops.lock";

const ALL_EDGES: &[EdgeKind] = &[
    EdgeKind::Needs,
    EdgeKind::Judges,
    EdgeKind::Ships,
    EdgeKind::After,
];

/// One node's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its kind.
    pub kind: NodeKind,
    /// Its name.
    pub name: String,
    /// The digest of everything below.
    pub fingerprint: String,
    /// The resolved entry of the config.
    pub definition: String,
    /// The manifest of the files its `inputs` match, and how many.
    pub inputs: Option<(String, usize)>,
    /// The values of the params it reads.
    pub params: Option<String>,
    /// A data set's pin.
    pub pin: Option<String>,
    /// Each dependency's fingerprint, by name.
    pub upstream: BTreeMap<String, String>,
}

/// Every node's entry, sorted by kind then name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// `sha256:` and the hex digest of `bytes`.
#[must_use]
pub fn digest(bytes: &[u8]) -> String {
    Sum::of(bytes).to_string()
}

/// A SHA-256 kept as its 32 bytes, written `sha256:<hex>` only where text is wanted: a
/// monorepo's 20,000 file digests as strings were some 5 MB and an allocation each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sum(pub [u8; 32]);

impl Sum {
    /// The SHA-256 of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Sum {
        Sum(Sha256::digest(bytes).into())
    }

    /// Appends `sha256:<hex>` to `out`.
    pub fn write_to(&self, out: &mut String) {
        out.push_str("sha256:");
        push_hex(&self.0, out);
    }
}

impl std::fmt::Display for Sum {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = String::with_capacity(71);
        self.write_to(&mut text);
        formatter.write_str(&text)
    }
}

/// The digest of the file at `path`, streamed ([`digest_reader`]).
///
/// # Errors
/// The file cannot be read.
pub fn digest_file(path: &Path) -> std::io::Result<String> {
    sum_file(path).map(|sum| sum.to_string())
}

/// [`digest_file`], as bytes.
///
/// # Errors
/// The file cannot be read.
pub fn sum_file(path: &Path) -> std::io::Result<Sum> {
    sum_reader(&mut std::fs::File::open(path)?)
}

/// The digest of everything `reader` yields ([`sum_reader`]).
///
/// # Errors
/// The reader fails.
pub fn digest_reader(reader: &mut dyn std::io::Read) -> std::io::Result<String> {
    sum_reader(reader).map(|sum| sum.to_string())
}

/// The SHA-256 of everything `reader` yields, streamed in 64 KiB reads: a buffer that stays in
/// the L2 cache, so the hash reads what the kernel just copied from cache, not from memory
/// (1 MiB reads made `check` of a 1 GiB input 1.34 times `openssl dgst`; 64 KiB, 0.9 times).
///
/// # Errors
/// The reader fails.
pub fn sum_reader(reader: &mut dyn std::io::Read) -> std::io::Result<Sum> {
    thread_local! {
        // One buffer per hashing thread: allocating and zeroing 64 KiB per file cost more than
        // hashing a monorepo's small files.
        static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 1 << 16]);
    }
    BUFFER.with_borrow_mut(|buffer| {
        let mut hasher = Sha256::new();
        loop {
            let read = reader.read(buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        Ok(Sum(hasher.finalize().into()))
    })
}

/// `value` as JSON with every object's keys sorted: the same entry always gives the same
/// bytes, whatever order the config wrote it in.
#[must_use]
pub fn canonical(value: &serde_json::Value) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical(value, &mut out);
    // Only JSON was written, and JSON is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// [`canonical`], into one buffer: a string per field and per level was 8% of `check` in a
/// monorepo.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let fields = map.iter().filter(|(_, value)| !value.is_null());
            out.push(b'{');
            // Most objects are written in order already (a struct's fields were declared so):
            // those are not collected to be sorted.
            if map.keys().is_sorted() {
                write_fields(fields, out);
            } else {
                let mut sorted: Vec<(&String, &serde_json::Value)> = fields.collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_fields(sorted.into_iter(), out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_fields<'v>(
    fields: impl Iterator<Item = (&'v String, &'v serde_json::Value)>,
    out: &mut Vec<u8>,
) {
    for (at, (key, value)) in fields.enumerate() {
        if at > 0 {
            out.push(b',');
        }
        // Writing into a Vec cannot fail, and a string always serializes.
        let _ = serde_json::to_writer(&mut *out, key.as_str());
        out.push(b':');
        write_canonical(value, out);
    }
}

/// A string, number, bool or null as compact JSON.
fn write_scalar(value: &serde_json::Value, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and a scalar always serializes.
    let _ = serde_json::to_writer(out, value);
}

/// A node's resolved entry: its section's entry with `defaults` applied where it sets
/// nothing, without what does not change its result (`timeout_minutes`).
fn definition(
    config: &Config,
    defaults: &serde_json::Value,
    kind: NodeKind,
    name: &str,
) -> serde_json::Value {
    let entry = match kind {
        NodeKind::Data => config.data.get(name).map(serde_json::to_value),
        NodeKind::Training => config.training.get(name).map(serde_json::to_value),
        NodeKind::Gate => config.gates.get(name).map(serde_json::to_value),
        NodeKind::Approval => config.approvals.get(name).map(serde_json::to_value),
        NodeKind::Deployment => config.deployments.get(name).map(serde_json::to_value),
    };
    let mut value = entry
        .and_then(Result::ok)
        .unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut value {
        map.remove("timeout_minutes");
        if matches!(kind, NodeKind::Data | NodeKind::Training) {
            for key in ["runner", "image", "setup"] {
                let unset = map.get(key).is_none_or(serde_json::Value::is_null);
                if unset && let Some(default) = defaults.get(key).filter(|value| !value.is_null()) {
                    map.insert(key.to_owned(), default.clone());
                }
            }
        }
    }
    value
}

/// What the fingerprints read from the repository.
pub trait Files: Sync {
    /// Every file under the config's folder, relative and sorted.
    fn list(&self) -> &[String];
    /// The digest of the file at `path` (relative), if it can be read.
    fn digest(&self, path: &str) -> Option<Sum>;
    /// Its digest when known without reading the file (hashed before, or a clean tracked
    /// file whose blob was hashed before).
    fn known_digest(&self, _path: &str) -> Option<Sum> {
        None
    }
    /// The bytes of the file at `path` (relative), if it exists.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// The working tree of a config's folder, as CI will see it. Each file is hashed once, however
/// many locks are computed over it (`affected` computes the base's from the same files), and
/// a tracked file git knows to be unchanged is not read at all when its git blob was hashed
/// before: its SHA-256 comes from the blob cache ([`BlobCache`]).
pub struct WorkingTree {
    folder: std::path::PathBuf,
    listed: Vec<String>,
    digests: std::sync::Mutex<FastMap<String, Option<Sum>>>,
    /// Tracked files whose content is their index entry's blob (not in `git diff-files`).
    clean_blobs: PathTable<BlobId>,
    cache: BlobCache,
    /// Whether a file read from disk teaches the blob cache its blob's digest: not while the
    /// files are only assumed clean ([`WorkingTree::assumed_as_indexed`]).
    learns: bool,
    /// While the files are assumed clean, every path a lock asked about (digest or content),
    /// by hash: two paths sharing one only make [`WorkingTree::untouched`] say no, and the
    /// lock is made again (a `String` per path was 20,000 allocations at 1,000 models).
    touched: Option<std::sync::Mutex<hashbrown::HashSet<u64>>>,
    touched_hasher: hashbrown::DefaultHashBuilder,
}

impl WorkingTree {
    /// The files under `folder` ([`crate::paths::list_files`]).
    #[must_use]
    pub fn new(folder: &Path) -> WorkingTree {
        let listed = crate::paths::list_files_for(folder, crate::paths::CleanBlobs::Find);
        WorkingTree::prepared(folder, listed.all, listed.clean, BlobCache::read(folder))
    }

    /// The files `listed` and the `clean` ones among them (from [`crate::paths::list_files`]
    /// of `folder`), with the blob cache read beforehand ([`KnownBlobs::start`]).
    #[must_use]
    pub(crate) fn prepared(
        folder: &Path,
        listed: Vec<String>,
        clean: Option<PathTable<BlobId>>,
        cache: BlobCache,
    ) -> WorkingTree {
        WorkingTree {
            folder: folder.to_path_buf(),
            listed,
            digests: std::sync::Mutex::default(),
            clean_blobs: clean.unwrap_or_else(|| PathTable::with_capacity(0, 0)),
            cache,
            learns: true,
            touched: None,
            touched_hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// The files as git's index has them, every one assumed unchanged since staged, while git
    /// still checks the working tree: a lock made from them is the lock if git then finds
    /// nothing changed ([`WorkingTree::confirm`]), and is made again otherwise
    /// ([`WorkingTree::relist`]). Nothing is learned until then, so a file edited since it
    /// was staged never gives its staged blob the edit's digest.
    #[must_use]
    pub(crate) fn assumed_as_indexed(
        folder: &Path,
        index: crate::paths::IndexView,
        cache: BlobCache,
    ) -> WorkingTree {
        let mut files = WorkingTree::prepared(folder, index.files, Some(index.blobs), cache);
        files.learns = false;
        // At its final size: a lock asks about most files.
        let touched = hashbrown::HashSet::with_capacity(files.listed.len());
        files.touched = Some(std::sync::Mutex::new(touched));
        files
    }

    /// Whether the locks made since [`WorkingTree::assumed_as_indexed`] asked about none of
    /// `paths` (so a change to them changes none of those locks).
    pub(crate) fn untouched(&self, paths: &[String]) -> bool {
        let Some(Ok(touched)) = self.touched.as_ref().map(std::sync::Mutex::lock) else {
            return false;
        };
        paths.iter().all(|path| {
            !touched.contains(&std::hash::BuildHasher::hash_one(
                &self.touched_hasher,
                path.as_str(),
            ))
        })
    }

    fn touch(&self, path: &str) {
        if let Some(Ok(mut touched)) = self.touched.as_ref().map(std::sync::Mutex::lock) {
            touched.insert(std::hash::BuildHasher::hash_one(&self.touched_hasher, path));
        }
    }

    /// git found no change to what the lock read: the files read while assumed clean (none
    /// of them changed) teach the blob cache.
    pub(crate) fn confirm(&mut self) {
        if self.learns {
            return;
        }
        self.learns = true;
        self.touched = None;
        let digests = self
            .digests
            .lock()
            .map(|digests| digests.clone())
            .unwrap_or_default();
        if let Ok(mut learned) = self.cache.learned.lock() {
            for (path, sum) in digests {
                if let (Some(blob), Some(sum)) = (self.clean_blobs.get(&path), sum) {
                    learned.push((blob, sum));
                }
            }
        }
    }

    /// The files as listed after all (`listed`, the `clean` ones among them): what was read
    /// from disk is kept (it is what the disk holds), what was assumed is dropped.
    pub(crate) fn relist(&mut self, listed: Vec<String>, clean: Option<PathTable<BlobId>>) {
        self.listed = listed;
        self.clean_blobs = clean.unwrap_or_else(|| PathTable::with_capacity(0, 0));
        self.learns = true;
        self.touched = None;
    }
}

/// The blob cache read in the background ([`KnownBlobs::start`]) while the config is parsed:
/// at 20,000 files it is a 2 MB file; which files are clean, and their blobs, come with the
/// file listing ([`crate::paths::list_files`]), from the same git reads.
pub struct KnownBlobs;

/// [`BlobCache`] being read on another thread.
pub struct PendingBlobs {
    folder: std::path::PathBuf,
    thread: Option<std::thread::JoinHandle<BlobCache>>,
}

impl KnownBlobs {
    /// Starts reading the blob cache of the repository around `folder` on another thread.
    #[must_use]
    pub fn start(folder: &Path) -> PendingBlobs {
        let owned = folder.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("blob-cache".to_owned())
            .spawn(move || BlobCache::read(&owned))
            .ok();
        PendingBlobs {
            folder: folder.to_path_buf(),
            thread,
        }
    }
}

impl PendingBlobs {
    /// What was read (read now if the thread could not start or failed).
    #[must_use]
    pub fn wait(self) -> BlobCache {
        self.thread
            .and_then(|thread| thread.join().ok())
            .unwrap_or_else(|| BlobCache::read(&self.folder))
    }
}

/// A map keyed by paths or ids we made ourselves: hashed with foldhash, not `SipHash` (which
/// was 5% of `check` in a monorepo and defends against keys an attacker chooses).
type FastMap<K, V> = hashbrown::HashMap<K, V>;

/// Git blob id -> SHA-256, kept in the repository's git folder (`mlops-sha256-cache`, never
/// committed): a blob id names its content, so a hit is that content's digest without
/// reading the file. Lines of `<blob id> <hex sha256>`; anything else is ignored, new
/// entries are appended when the tree is dropped, and a lost cache costs one re-read.
pub struct BlobCache {
    path: Option<std::path::PathBuf>,
    known: FastMap<BlobId, Sum>,
    learned: std::sync::Mutex<Vec<(BlobId, Sum)>>,
}

impl BlobCache {
    fn none() -> BlobCache {
        BlobCache {
            path: None,
            known: FastMap::default(),
            learned: std::sync::Mutex::default(),
        }
    }

    /// The cache of the repository around `folder`; empty outside git or when unreadable.
    fn read(folder: &Path) -> BlobCache {
        let Some(path) = BlobCache::locate(folder) else {
            return BlobCache::none();
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        BlobCache::parse(path, &text)
    }

    /// Where the cache of the repository around `folder` is; none outside git.
    fn locate(folder: &Path) -> Option<std::path::PathBuf> {
        // Not a path git knows (`git rev-parse --git-path` puts it in the git folder itself).
        Some(
            crate::git::checkout(folder)?
                .git_dir
                .join("mlops-sha256-cache"),
        )
    }

    fn parse(path: std::path::PathBuf, text: &str) -> BlobCache {
        let known = text
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(blob, sha)| {
                Some((
                    BlobId::parse(blob.as_bytes())?,
                    Sum(parse_hex::<32>(sha.as_bytes())?),
                ))
            })
            .collect();
        BlobCache {
            path: Some(path),
            known,
            learned: std::sync::Mutex::default(),
        }
    }
}

impl Drop for WorkingTree {
    fn drop(&mut self) {
        let Some(path) = &self.cache.path else {
            return;
        };
        let learned = self
            .cache
            .learned
            .lock()
            .map(|learned| learned.clone())
            .unwrap_or_default();
        if learned.is_empty() {
            return;
        }
        let mut lines = String::with_capacity(learned.len() * 106);
        for (blob, sum) in &learned {
            lines.push_str(&blob.to_hex());
            lines.push(' ');
            push_hex(&sum.0, &mut lines);
            lines.push('\n');
        }
        // One append: concurrent runs interleave whole lines at worst.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = std::io::Write::write_all(&mut file, lines.as_bytes());
        }
    }
}

impl WorkingTree {
    /// What is known of `path` without reading it: hashed before (`Some(None)`: it could not
    /// be read), or a clean tracked file whose blob was hashed before.
    #[allow(
        clippy::option_option,
        reason = "the digests map keeps a file that could not be read as None"
    )]
    fn known(&self, path: &str) -> Option<Option<Sum>> {
        if let Some(known) = self
            .digests
            .lock()
            .ok()
            .and_then(|digests| digests.get(path).copied())
        {
            return Some(known);
        }
        let blob = self.clean_blobs.get(path)?;
        self.cache.known.get(&blob).copied().map(Some)
    }
}

impl Files for WorkingTree {
    fn list(&self) -> &[String] {
        &self.listed
    }
    fn known_digest(&self, path: &str) -> Option<Sum> {
        self.touch(path);
        self.known(path).flatten()
    }
    fn digest(&self, path: &str) -> Option<Sum> {
        self.touch(path);
        if let Some(known) = self.known(path) {
            return known;
        }
        let blob = self.clean_blobs.get(path).filter(|_| self.learns);
        let found = sum_file(&self.folder.join(path)).ok();
        if let (Some(blob), Some(sum)) = (blob, found)
            && let Ok(mut learned) = self.cache.learned.lock()
        {
            learned.push((blob, sum));
        }
        if let Ok(mut digests) = self.digests.lock() {
            digests.insert(path.to_owned(), found);
        }
        found
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.touch(path);
        std::fs::read(self.folder.join(path)).ok()
    }
}

/// A config's folder as committed at a revision, read from git objects. A file the revision
/// and the working tree agree on (not in `git diff REV`) is the working tree's, hashed once
/// for both sides; only the files that differ are read from git, by blob id, through one
/// `git cat-file --batch` ([`crate::git::CatFile`]).
pub struct AtRevision<'w> {
    folder: std::path::PathBuf,
    revision: String,
    listed: Vec<String>,
    /// The blob of each file that is one at the revision (a submodule is not).
    blobs: FastMap<String, String>,
    changed: BTreeSet<String>,
    working: &'w WorkingTree,
    /// Started at the first file read; `None` once it broke (each file then has its own
    /// `git cat-file blob`, as it would without it).
    stream: std::sync::Mutex<Option<StreamState>>,
}

enum StreamState {
    Running(crate::git::CatFile),
    Broken,
}

impl<'w> AtRevision<'w> {
    /// The files of `folder` at `revision`; `changed` are the paths (relative to `folder`)
    /// that differ between it and the working tree.
    ///
    /// # Errors
    /// git cannot list the revision's files.
    pub fn new(
        folder: &Path,
        revision: &str,
        changed: &[String],
        working: &'w WorkingTree,
    ) -> Result<AtRevision<'w>, String> {
        let listing = crate::git::quiet_output(folder, &["ls-tree", "-r", "-z", revision])
            .ok_or_else(|| format!("git cannot list the files of `{revision}`"))?;
        let mut listed = Vec::new();
        let mut blobs = FastMap::default();
        // `<mode> <type> <id>\t<path>`, each ended by a NUL.
        for entry in listing
            .split(|byte| *byte == 0)
            .filter(|entry| !entry.is_empty())
        {
            let Some(tab) = entry.iter().position(|byte| *byte == b'\t') else {
                continue;
            };
            let path = String::from_utf8_lossy(&entry[tab + 1..]).into_owned();
            let mut fields = entry[..tab].split(|byte| *byte == b' ');
            if let (Some(_), Some(b"blob"), Some(id)) =
                (fields.next(), fields.next(), fields.next())
            {
                blobs.insert(path.clone(), String::from_utf8_lossy(id).into_owned());
            }
            listed.push(path);
        }
        listed.sort();
        Ok(AtRevision {
            folder: folder.to_path_buf(),
            revision: revision.to_owned(),
            listed,
            blobs,
            changed: changed.iter().cloned().collect(),
            working,
            stream: std::sync::Mutex::new(None),
        })
    }

    /// The file at `path` as the revision has it, handed to `consume`: from the stream by its
    /// blob id; `None` when the revision has no such file.
    fn committed<T>(
        &self,
        path: &str,
        consume: impl Fn(&mut dyn std::io::Read) -> Option<T>,
    ) -> Option<T> {
        let id = self.blobs.get(path)?;
        if let Ok(mut stream) = self.stream.lock() {
            if stream.is_none() {
                *stream = Some(match crate::git::CatFile::start(&self.folder) {
                    Ok(started) => StreamState::Running(started),
                    Err(_) => StreamState::Broken,
                });
            }
            if let Some(StreamState::Running(running)) = stream.as_mut() {
                match running.blob(id, &consume) {
                    Ok(answer) => return answer.flatten(),
                    Err(_) => *stream = Some(StreamState::Broken),
                }
            }
        }
        // The stream broke, or could not start: this file alone, read again from its start.
        self.blob(path, consume)
    }

    /// `git cat-file blob REV:./path`, streamed into `consume`.
    fn blob<T>(
        &self,
        path: &str,
        consume: impl FnOnce(&mut dyn std::io::Read) -> Option<T>,
    ) -> Option<T> {
        let mut child = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.folder)
            .args(["cat-file", "blob", &format!("{}:./{path}", self.revision)])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut stdout = child.stdout.take()?;
        let answer = consume(&mut stdout);
        drop(stdout);
        let status = child.wait().ok()?;
        answer.filter(|_| status.success())
    }
}

impl Files for AtRevision<'_> {
    fn list(&self) -> &[String] {
        &self.listed
    }
    fn digest(&self, path: &str) -> Option<Sum> {
        if !self.changed.contains(path) {
            return self.working.digest(path);
        }
        self.committed(path, |reader| sum_reader(reader).ok())
    }
    fn known_digest(&self, path: &str) -> Option<Sum> {
        if self.changed.contains(path) {
            return None;
        }
        self.working.known_digest(path)
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        if !self.changed.contains(path) {
            return self.working.read(path);
        }
        self.committed(path, |reader| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).ok().map(|_| bytes)
        })
    }
}

/// Files hashed at once when computing a lock (see `compute`).
const HASHING_THREADS: usize = 32;

/// The digest of every node's resolved entry: the part of the lock that reads no file, so it
/// can be made while git still lists them (from a cold disk, `git ls-files --others` walking
/// 1,000 folders is what the lock waits for; this is two fifths of the lock's work).
pub struct Definitions(FastMap<petgraph::graph::NodeIndex, String>);

impl Definitions {
    /// Those of every node of `graph`.
    #[must_use]
    pub fn of(config: &Config, graph: &Graph) -> Definitions {
        let defaults = serde_json::to_value(&config.defaults).unwrap_or_default();
        Definitions(
            graph
                .nodes()
                .map(|index| {
                    let node = graph.node(index);
                    let entry = definition(config, &defaults, node.kind, &node.name);
                    (index, digest(canonical(&entry).as_bytes()))
                })
                .collect(),
        )
    }
}

/// The lock of `config`, reading files through `files`.
#[must_use]
pub fn compute(config: &Config, graph: &Graph, files: &dyn Files) -> Lock {
    compute_with(config, graph, files, &Definitions::of(config, graph))
}

/// [`compute`], with the definitions made beforehand ([`Definitions::of`] the same config).
#[must_use]
pub fn compute_with(
    config: &Config,
    graph: &Graph,
    files: &dyn Files,
    definitions: &Definitions,
) -> Lock {
    compute_inner(config, graph, files, false, definitions).0
}

/// The files each node's `inputs` match, with their digests, sorted by path: what a local run
/// records to name the files that changed since (the lock keeps only their manifest's digest).
pub type InputFiles = BTreeMap<(NodeKind, String), Vec<(String, String)>>;

/// The entries of the nodes that run commands (data steps and trainings, which depend on
/// nothing else), with the files behind each one's inputs: what a local run decides on.
#[must_use]
pub fn compute_steps(config: &Config, graph: &Graph, files: &dyn Files) -> (Lock, InputFiles) {
    compute_inner(config, graph, files, true, &Definitions::of(config, graph))
}

/// The lock of `config`; for `steps_only`, only data and training entries, and the files
/// behind each node's inputs.
fn compute_inner(
    config: &Config,
    graph: &Graph,
    files: &dyn Files,
    steps_only: bool,
    definitions: &Definitions,
) -> (Lock, InputFiles) {
    let keep_files = steps_only;
    // Which files each node reads, then each of those files hashed once, in parallel.
    let mut readers: Vec<(NodeKind, &String, &Vec<String>)> = Vec::new();
    for (name, data) in &config.data {
        readers.push((NodeKind::Data, name, &data.inputs));
    }
    for (name, training) in &config.training {
        readers.push((NodeKind::Training, name, &training.inputs));
    }
    // What each reader with inputs matched, by its place in `readers`.
    let mut matched: Vec<Option<Vec<&str>>> = vec![None; readers.len()];
    let reader_at: FastMap<(NodeKind, &str), usize> = readers
        .iter()
        .enumerate()
        .map(|(reader, (kind, name, _))| ((*kind, name.as_str()), reader))
        .collect();
    // One set of every reader's patterns, each remembered by its reader: one pass over the
    // files (a monorepo has thousands of readers and tens of thousands of files).
    let mut patterns: Vec<&str> = Vec::new();
    let mut reader_of: Vec<usize> = Vec::new();
    for (reader, (_, _, inputs)) in readers.iter().enumerate() {
        if inputs.is_empty() {
            continue;
        }
        matched[reader] = Some(Vec::new());
        patterns.extend(inputs.iter().map(String::as_str));
        reader_of.extend(std::iter::repeat_n(reader, inputs.len()));
    }
    let set = PathSet::shared(&patterns);
    let (mut scratch, mut found) = (Vec::new(), Vec::new());
    for path in files.list() {
        set.matching_into(path, &mut scratch, &mut found);
        let mut last = None;
        for &pattern in &found {
            let reader = reader_of[pattern];
            // A reader's patterns are adjacent, so a file two of them match is pushed once.
            if last == Some(reader) {
                continue;
            }
            last = Some(reader);
            if let Some(hits) = &mut matched[reader] {
                hits.push(path.as_str());
            }
        }
    }
    let unique: BTreeSet<&str> = matched.iter().flatten().flatten().copied().collect();
    // What is known without reading is looked up here; only the rest goes to the pool (a
    // pool of 32 threads for 20,000 lookups cost more than the lookups).
    let mut digests: FastMap<&str, Option<Sum>> = FastMap::default();
    let mut unknown: Vec<&str> = Vec::new();
    for path in unique {
        match files.known_digest(path) {
            Some(digest) => {
                digests.insert(path, Some(digest));
            }
            None => unknown.push(path),
        }
    }
    let unique = unknown;
    let progress = Progress::new(unique.len());
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let hashed: Vec<(&str, Option<Sum>)> = if unique.is_empty() {
        Vec::new()
    } else {
        std::thread::scope(|scope| {
            // Shown only when the work is still going after a second, and only on a terminal.
            let shown = &progress;
            scope.spawn(move || {
                if finished
                    .recv_timeout(std::time::Duration::from_secs(1))
                    .is_err()
                {
                    shown.show();
                }
            });
            let readers = HASHING_THREADS.min(unique.len()).max(1);
            let hash_all = || {
                unique
                    .into_par_iter()
                    .map(|path| {
                        let digest = files.digest(path);
                        progress.bar.inc(1);
                        (path, digest)
                    })
                    .collect()
            };
            // Reading small files from a cold disk waits on the device, not the CPU: more reads in
            // flight than cores keeps it busy (measured on 20,000 files of 2.7 KB: 32 readers
            // take a third of the time 2 take).
            let digests = match rayon::ThreadPoolBuilder::new().num_threads(readers).build() {
                Ok(pool) => pool.install(hash_all),
                Err(_) => hash_all(),
            };
            let _ = done.send(());
            digests
        })
    };
    progress.bar.finish_and_clear();
    digests.extend(hashed);

    let order = graph
        .topological_order()
        .unwrap_or_else(|| graph.nodes().collect());
    let mut fingerprints: BTreeMap<petgraph::graph::NodeIndex, String> = BTreeMap::new();
    let mut entries = Vec::new();
    for index in order {
        let node = graph.node(index);
        if steps_only && !matches!(node.kind, NodeKind::Data | NodeKind::Training) {
            continue;
        }
        let (kind, name) = (node.kind, node.name.clone());
        let definition = definitions.0.get(&index).cloned().unwrap_or_else(|| {
            let defaults = serde_json::to_value(&config.defaults).unwrap_or_default();
            digest(canonical(&definition(config, &defaults, kind, &name)).as_bytes())
        });
        let paths = reader_at
            .get(&(kind, name.as_str()))
            .and_then(|reader| matched[*reader].as_ref());
        let inputs = paths.map(|paths| {
            let mut manifest = String::with_capacity(paths.len() * 100);
            for path in paths {
                write_digest(digests[path].as_ref(), &mut manifest);
                manifest.push(' ');
                manifest.push_str(path);
                manifest.push('\n');
            }
            (digest(manifest.as_bytes()), paths.len())
        });
        let params = (kind == NodeKind::Training)
            .then(|| config.training.get(&name).and_then(|t| t.params.as_ref()))
            .flatten()
            .map(|params| params_digest(params, files));
        let pin = (kind == NodeKind::Data)
            .then(|| config.data.get(&name).and_then(|data| data.sha256.clone()))
            .flatten()
            .map(|pin| format!("sha256:{}", pin.to_ascii_lowercase()));
        let upstream: BTreeMap<String, String> = graph
            .dependencies(index, ALL_EDGES)
            .into_iter()
            .filter_map(|dependency| {
                fingerprints
                    .get(&dependency)
                    .map(|print| (graph.node(dependency).name.clone(), print.clone()))
            })
            .collect();
        let mut preimage = String::with_capacity(256 + upstream.len() * 100);
        for piece in ["mlops-fingerprint/v1\ndefinition ", &definition, "\n"] {
            preimage.push_str(piece);
        }
        let lines = [
            ("inputs", inputs.as_ref().map(|(manifest, _)| manifest)),
            ("params", params.as_ref()),
            ("pin", pin.as_ref()),
        ];
        for (key, value) in lines {
            if let Some(value) = value {
                for piece in [key, " ", value, "\n"] {
                    preimage.push_str(piece);
                }
            }
        }
        for (upstream_name, print) in &upstream {
            for piece in ["upstream ", upstream_name, " ", print, "\n"] {
                preimage.push_str(piece);
            }
        }
        let fingerprint = digest(preimage.as_bytes());
        fingerprints.insert(index, fingerprint.clone());
        entries.push(Entry {
            kind,
            name,
            fingerprint,
            definition,
            inputs,
            params,
            pin,
            upstream,
        });
    }
    entries.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let mut input_files = InputFiles::new();
    if keep_files {
        let matched = readers
            .iter()
            .zip(matched)
            .filter_map(|((kind, name, _), paths)| Some(((*kind, (*name).clone()), paths?)));
        for (key, paths) in matched {
            let listed = paths
                .iter()
                .map(|path| {
                    let mut digest = String::with_capacity(71);
                    write_digest(digests[path].as_ref(), &mut digest);
                    ((*path).to_owned(), digest)
                })
                .collect();
            input_files.insert(key, listed);
        }
    }
    (Lock { entries }, input_files)
}

/// A file's digest as the manifests write it; `unreadable` for a file that could not be read.
fn write_digest(sum: Option<&Sum>, out: &mut String) {
    match sum {
        Some(sum) => sum.write_to(out),
        None => out.push_str("unreadable"),
    }
}

/// The values a training reads from its params file, as `key\tvalue` lines; a file that is
/// missing or does not parse counts by its bytes.
fn params_digest(params: &crate::spec::model::Params, files: &dyn Files) -> String {
    let path = params.file();
    let Some(bytes) = files.read(path) else {
        return digest(b"missing");
    };
    match crate::metrics::parse(&bytes, crate::metrics::Format::of(path)) {
        Ok(values) => {
            let lines: BTreeSet<String> = values
                .into_iter()
                .filter(|(name, _)| params.reads(name))
                .map(|(name, metric)| format!("{name}\t{}\n", metric.text))
                .collect();
            digest(lines.into_iter().collect::<String>().as_bytes())
        }
        Err(_) => digest(&bytes),
    }
}

/// A progress bar for hashing, drawn only when it takes longer than a second and stderr is a
/// terminal (never in CI or a pipe), and cleared when done.
struct Progress {
    bar: indicatif::ProgressBar,
    terminal: bool,
}

impl Progress {
    fn new(files: usize) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(files as u64),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} hashing inputs {bar:30} {pos}/{len} files {elapsed}",
        ) {
            bar.set_style(style);
        }
        Progress {
            bar,
            terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    /// Start drawing (on a terminal), with a spinner that moves while one large file hashes.
    fn show(&self) {
        if self.terminal && !self.bar.is_finished() {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(100));
        }
    }
}

/// Whether `image` names its content: `...@sha256:` and 64 hex digits. A tag moves, so the
/// fingerprint of a step that runs in a tagged image cannot say what ran.
#[must_use]
pub fn is_pinned(image: &str) -> bool {
    image
        .rsplit_once("@sha256:")
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The images steps run in that are tags, not digests (`defaults.image`, trainings' `image`),
/// each once, in the order written.
#[must_use]
pub fn unpinned_images(config: &Config) -> Vec<&str> {
    let mut images: Vec<&str> = Vec::new();
    let all = config.defaults.image.iter().chain(
        config
            .training
            .values()
            .filter_map(|training| training.image.as_ref()),
    );
    for image in all {
        if !is_pinned(image) && !images.contains(&image.as_str()) {
            images.push(image);
        }
    }
    images
}

/// The section name of `kind` in the lock.
fn table(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Data => "data",
        NodeKind::Training => "training",
        NodeKind::Gate => "gate",
        NodeKind::Approval => "approval",
        NodeKind::Deployment => "deployment",
    }
}

impl Lock {
    /// The file, after `header` (the generated-file header, `#` comments).
    #[must_use]
    pub fn to_toml(&self, header: &str) -> String {
        let mut out = String::from(header);
        out.push_str(
            "# A merge conflict here is resolved by `mlops render`, never by hand.\nversion = 1\n",
        );
        // Pushed piece by piece: a `format!` per line was 3% of `check` in a monorepo.
        let line = |out: &mut String, key: &str, value: &str| {
            for piece in [key, " = \"", value, "\"\n"] {
                out.push_str(piece);
            }
        };
        out.reserve(self.entries.len() * 400);
        for entry in &self.entries {
            for piece in ["\n[", table(entry.kind), ".", &entry.name, "]\n"] {
                out.push_str(piece);
            }
            line(&mut out, "fingerprint", &entry.fingerprint);
            line(&mut out, "definition", &entry.definition);
            if let Some((manifest, count)) = &entry.inputs {
                line(&mut out, "inputs", manifest);
                out.push_str("files = ");
                out.push_str(&count.to_string());
                out.push('\n');
            }
            if let Some(params) = &entry.params {
                line(&mut out, "params", params);
            }
            if let Some(pin) = &entry.pin {
                line(&mut out, "pin", pin);
            }
            if !entry.upstream.is_empty() {
                out.push_str("upstream = { ");
                for (at, (name, print)) in entry.upstream.iter().enumerate() {
                    if at > 0 {
                        out.push_str(", ");
                    }
                    for piece in [name.as_str(), " = \"", print, "\""] {
                        out.push_str(piece);
                    }
                }
                out.push_str(" }\n");
            }
        }
        out
    }
}

/// A lock file read back: `[kind.name]` -> key -> the value as written. Lines it does not
/// understand are skipped (it only serves to explain what changed).
#[must_use]
pub fn read(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            current = Some(name.to_owned());
            tables.entry(name.to_owned()).or_default();
        } else if let (Some(table), Some((key, value))) = (&current, line.split_once(" = ")) {
            tables
                .entry(table.clone())
                .or_default()
                .insert(key.to_owned(), value.to_owned());
        }
    }
    tables
}

/// The files changed (status letter, path from `folder`) since the last commit that wrote the
/// lock in `folder`, and the untracked ones, to name them when the lock is stale; empty when
/// git cannot say.
#[must_use]
pub fn changed_since_written(folder: &Path) -> Vec<(char, String)> {
    use crate::git::{nul_separated, quiet_output};
    let Some(commit) = quiet_output(folder, &["log", "-1", "--format=%H", "--", FILE_NAME])
        .map(|out| String::from_utf8_lossy(&out).trim().to_owned())
        .filter(|commit| !commit.is_empty())
    else {
        return Vec::new();
    };
    let Some(out) = quiet_output(
        folder,
        &[
            "diff",
            "--name-status",
            "--no-renames",
            "--relative",
            "-z",
            &commit,
        ],
    ) else {
        return Vec::new();
    };
    let fields = nul_separated(&out);
    let mut changed: Vec<(char, String)> = fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [status, path] => Some((status.chars().next().unwrap_or('M'), path.clone())),
            _ => None,
        })
        .collect();
    // New files git does not track yet are also what a render reads.
    if let Some(out) = quiet_output(
        folder,
        &["ls-files", "-z", "--others", "--exclude-standard"],
    ) {
        changed.extend(nul_separated(&out).into_iter().map(|path| ('A', path)));
    }
    changed
}

/// What changed between the lock on disk (`old`) and a fresh one, node by node, in words:
/// `training churn: inputs changed (modified src/model/net.py); upstream `features` changed`.
/// `changed_files` are the repository files changed since the lock was last written, when
/// known, to name the ones each node reads.
#[must_use]
pub fn explain(
    old: &str,
    new: &Lock,
    config: &Config,
    changed_files: &[(char, String)],
) -> Vec<String> {
    let mut lines: Vec<String> = differences(old, new, config, changed_files)
        .into_iter()
        .map(|(kind, name, why)| format!("{} {name}: {why}", kind.noun()))
        .collect();
    let old = read(old);
    let known: BTreeSet<String> = new
        .entries
        .iter()
        .map(|entry| format!("{}.{}", table(entry.kind), entry.name))
        .collect();
    for key in old.keys().filter(|key| !known.contains(*key)) {
        lines.push(format!("{key}: no longer in the config"));
    }
    lines
}

/// Each node of `new` whose fingerprint differs from the lock text `old` (or that `old` lacks),
/// with what differs, in words.
#[must_use]
pub fn differences(
    old: &str,
    new: &Lock,
    config: &Config,
    changed_files: &[(char, String)],
) -> Vec<(NodeKind, String, String)> {
    let old = read(old);
    let mut lines = Vec::new();
    for entry in &new.entries {
        let key = format!("{}.{}", table(entry.kind), entry.name);
        let Some(before) = old.get(&key) else {
            lines.push((entry.kind, entry.name.clone(), "new".to_owned()));
            continue;
        };
        let quoted = |value: &str| format!("\"{value}\"");
        if before.get("fingerprint") == Some(&quoted(&entry.fingerprint)) {
            continue;
        }
        let mut why = Vec::new();
        if before.get("definition") != Some(&quoted(&entry.definition)) {
            why.push("its entry in the config changed".to_owned());
        }
        let inputs_now = entry.inputs.as_ref().map(|(manifest, _)| quoted(manifest));
        if before.get("inputs") != inputs_now.as_ref() {
            let patterns: &[String] = match entry.kind {
                NodeKind::Data => config.data.get(&entry.name).map_or(&[], |d| &d.inputs),
                NodeKind::Training => config.training.get(&entry.name).map_or(&[], |t| &t.inputs),
                _ => &[],
            };
            let set = PathSet::new(patterns);
            let named: Vec<String> = changed_files
                .iter()
                .filter(|(_, path)| set.is_match(path))
                .map(|(status, path)| {
                    let verb = match status {
                        'A' => "added",
                        'D' => "deleted",
                        _ => "modified",
                    };
                    format!("{verb} {path}")
                })
                .collect();
            if named.is_empty() {
                why.push("inputs changed".to_owned());
            } else {
                why.push(format!("inputs changed ({})", named.join(", ")));
            }
        }
        if before.get("params") != entry.params.as_ref().map(|params| quoted(params)).as_ref() {
            why.push("params changed".to_owned());
        }
        if before.get("pin") != entry.pin.as_ref().map(|pin| quoted(pin)).as_ref() {
            why.push("its pin changed".to_owned());
        }
        let upstream_before = before.get("upstream").cloned().unwrap_or_default();
        for (name, print) in &entry.upstream {
            if !upstream_before.contains(&format!("{name} = \"{print}\"")) {
                why.push(format!("upstream `{name}` changed"));
            }
        }
        if why.is_empty() {
            why.push("its fingerprint changed".to_owned());
        }
        lines.push((entry.kind, entry.name.clone(), why.join("; ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_pins_an_image_and_a_tag_does_not() {
        let digest = "2b0079146a74e23bf4ae8f6a28e1b484c6292f6fb904cbb51825b4a19812fcd8";
        assert!(is_pinned(&format!("python:3.12-slim@sha256:{digest}")));
        assert!(is_pinned(&format!("ghcr.io/acme/train@sha256:{digest}")));
        for image in [
            "python:3.12-slim",
            "python",
            "python@sha256:abc",
            "python:latest",
        ] {
            assert!(!is_pinned(image), "{image}");
        }
    }

    #[test]
    fn digests_match_sha256sum() {
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_nulls() {
        let value =
            serde_json::json!({ "b": 1, "a": { "d": [1, { "y": 2, "x": null }], "c": "s" } });
        assert_eq!(
            canonical(&value),
            r#"{"a":{"c":"s","d":[1,{"y":2}]},"b":1}"#
        );
        // In order already (written without sorting), and keys that need escaping.
        let value = serde_json::json!({ "a": 1, "b": null, "c\"": { "x": [], "y": "\n" } });
        assert_eq!(canonical(&value), r#"{"a":1,"c\"":{"x":[],"y":"\n"}}"#);
    }

    #[test]
    fn the_files_of_a_revision_are_its_blobs_and_the_unchanged_ones_the_working_trees() {
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path();
        let git = |args: &[&str]| crate::git::tests::git(root, args);
        git(&["init", "-q", "-b", "main"]);
        let folder = root.join("sub");
        std::fs::create_dir_all(folder.join("données")).unwrap();
        let big: Vec<u8> = (0..300_000u32).map(|at| (at % 253) as u8).collect();
        let base: [(&str, &[u8]); 5] = [
            ("a.py", b"one"),
            ("données/b y.csv", b"two\n"),
            ("gone.txt", b"three"),
            ("same.txt", b"same"),
            ("big.bin", &big),
        ];
        for (path, content) in base {
            std::fs::write(folder.join(path), content).unwrap();
        }
        std::fs::write(root.join("outside.txt"), "not the folder's").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "base"]);
        std::fs::write(folder.join("a.py"), "ONE").unwrap();
        std::fs::write(folder.join("données/b y.csv"), "TWO\n").unwrap();
        std::fs::write(folder.join("big.bin"), "small now").unwrap();
        std::fs::remove_file(folder.join("gone.txt")).unwrap();
        std::fs::write(folder.join("new.txt"), "new").unwrap();
        let changed =
            ["a.py", "big.bin", "données/b y.csv", "gone.txt", "new.txt"].map(str::to_owned);
        let working = WorkingTree::new(&folder);
        let at = AtRevision::new(&folder, "HEAD", &changed, &working).unwrap();
        let mut listed: Vec<&str> = base.iter().map(|(path, _)| *path).collect();
        listed.sort_unstable();
        assert_eq!(at.list(), listed.as_slice());
        for (path, content) in base {
            assert_eq!(at.digest(path), Some(Sum::of(content)), "{path}");
            assert_eq!(at.read(path).as_deref(), Some(content), "{path}");
            // The same as each file's own `git cat-file blob` (the way without the stream).
            if changed.iter().any(|changed| changed == path) {
                assert_eq!(
                    at.blob(path, |reader| sum_reader(reader).ok()),
                    Some(Sum::of(content))
                );
            }
        }
        assert_eq!(at.digest("new.txt"), None, "not in the revision");
        assert_eq!(at.read("new.txt"), None);
        assert!(
            matches!(*at.stream.lock().unwrap(), Some(StreamState::Running(_))),
            "the changed files came through the stream"
        );
    }

    #[test]
    fn the_file_reads_back() {
        let text = "# header\nversion = 1\n\n[training.churn]\nfingerprint = \"sha256:ab\"\nupstream = { features = \"sha256:cd\" }\n";
        let tables = read(text);
        assert_eq!(tables["training.churn"]["fingerprint"], "\"sha256:ab\"");
        assert_eq!(
            tables["training.churn"]["upstream"],
            "{ features = \"sha256:cd\" }"
        );
    }
}
