//! What `git ls-files -s -z` says about a folder: every entry of git's index under it (path,
//! mode, stage, blob), read from `.git/index` directly when its format is one read here.
//!
//! Why not always ask git: from a cold disk, with the other two listing processes stat-ing
//! 20,000 files and walking every folder, `git ls-files -s` in a 1,000-model monorepo finished
//! 150 to 200 ms after `check` started (alone it takes 30 ms), and the lock waited for it. The
//! file itself is read in a few milliseconds. Anything this reader does not know is git's to
//! read: a split index (`link`), a sparse index (`sdir`, or a folder entry), a SHA-256
//! repository, a case-insensitive checkout, a worktree's shared config, `GIT_INDEX_FILE`, any
//! version but 2, 3 and 4, any entry that does not parse. Compared with git's own listing by
//! the tests below.

use super::BlobId;
use std::path::Path;

/// Index entries, in the index's order (by path, then stage: a conflicted path appears once
/// per stage), with paths relative to the folder listed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Staged {
    /// The paths one after another (one allocation for 20,000 of them), as git wrote them.
    text: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    start: usize,
    len: usize,
    /// As git prints it in octal: `100644`, `100755`, `120000` (a link), `160000` (a submodule).
    mode: u32,
    stage: u8,
    blob: Option<BlobId>,
}

impl Staged {
    /// The entries under `folder`: from the index file when this reader knows its format, else
    /// from `git ls-files -s -z`; `None` when `folder` is not in a git checkout.
    pub(crate) fn list(folder: &Path) -> Option<Staged> {
        read_index(folder).or_else(|| {
            super::quiet_output(folder, &["ls-files", "-s", "-z"])
                .map(|listing| Staged::from_listing(&listing))
        })
    }

    /// Read from `git ls-files -s -z`: `<mode> <blob> <stage>\t<path>` entries.
    pub(crate) fn from_listing(listing: &[u8]) -> Staged {
        let mut staged = Staged {
            text: Vec::with_capacity(listing.len()),
            entries: Vec::new(),
        };
        for field in listing.split(|byte| *byte == 0) {
            let Some(tab) = field.iter().position(|byte| *byte == b'\t') else {
                continue;
            };
            let (meta, path) = (&field[..tab], &field[tab + 1..]);
            let mut meta = meta.split(|byte| *byte == b' ');
            let (mode, blob, stage) = match (meta.next(), meta.next(), meta.next(), meta.next()) {
                (Some(mode), Some(blob), Some(stage), None) => (
                    std::str::from_utf8(mode)
                        .ok()
                        .and_then(|mode| u32::from_str_radix(mode, 8).ok())
                        .unwrap_or(0),
                    BlobId::parse(blob),
                    std::str::from_utf8(stage)
                        .ok()
                        .and_then(|stage| stage.parse().ok())
                        .unwrap_or(u8::MAX),
                ),
                _ => (0, None, u8::MAX),
            };
            staged.push(path, mode, stage, blob);
        }
        staged
    }

    fn push(&mut self, path: &[u8], mode: u32, stage: u8, blob: Option<BlobId>) {
        self.entries.push(Entry {
            start: self.text.len(),
            len: path.len(),
            mode,
            stage,
            blob,
        });
        self.text.extend_from_slice(path);
    }

    fn path(&self, entry: &Entry) -> &[u8] {
        &self.text[entry.start..entry.start + entry.len]
    }

    /// Every entry's path (a conflicted one once per stage), as `git::nul_separated` reads
    /// git's listings: the same name for the same bytes.
    pub(crate) fn paths(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.entries
            .iter()
            .map(|entry| String::from_utf8_lossy(self.path(entry)))
    }

    /// Path -> blob id of every regular file at stage 0 but those in `modified` (the paths
    /// `git diff-files` names): the tracked files git's stat check says are unchanged since
    /// they were staged.
    pub(crate) fn clean_blobs(
        &self,
        modified: &hashbrown::HashSet<&[u8]>,
    ) -> super::PathTable<BlobId> {
        let mut blobs = super::PathTable::with_capacity(self.entries.len(), self.text.len());
        for entry in &self.entries {
            let path = self.path(entry);
            if let (0o100_000..=0o107_777, 0, Some(blob)) = (entry.mode, entry.stage, entry.blob)
                && !modified.contains(path)
            {
                blobs.insert(&String::from_utf8_lossy(path), blob);
            }
        }
        blobs
    }
}

/// `folder`'s entries from the index file, or `None` for git to read it.
fn read_index(folder: &Path) -> Option<Staged> {
    // The prefix is compared byte for byte, as on a case-sensitive file system; elsewhere (and
    // for Windows paths) git's own rules apply.
    if !cfg!(target_os = "linux") || std::env::var_os("GIT_INDEX_FILE").is_some() {
        return None;
    }
    let checkout = super::checkout(folder)?;
    // A linked worktree's settings are in the shared folder: git reads those.
    if checkout.git_dir.join("commondir").exists() {
        return None;
    }
    let config = std::fs::read(checkout.git_dir.join("config")).ok()?;
    if !plain_settings(&config) {
        return None;
    }
    let prefix = prefix_of(folder, &checkout.top)?;
    let bytes = std::fs::read(checkout.git_dir.join("index")).ok()?;
    parse_index(&bytes, prefix.as_bytes())
}

/// Whether a repository's config leaves the index as read here: SHA-1 object names, and a
/// case-sensitive checkout (`core.ignorecase` compares paths in other ways).
fn plain_settings(config: &[u8]) -> bool {
    let text: Vec<u8> = config
        .iter()
        .filter(|byte| !byte.is_ascii_whitespace())
        .map(u8::to_ascii_lowercase)
        .collect();
    let has = |needle: &[u8]| text.windows(needle.len()).any(|window| window == needle);
    !has(b"objectformat") && !has(b"ignorecase=true") && !has(b"[include") && !has(b"includeif")
}

/// `folder` relative to `top`, `/`-separated with a trailing `/` (empty at the top), as git's
/// index spells it.
fn prefix_of(folder: &Path, top: &Path) -> Option<String> {
    let folder = folder.canonicalize().ok()?;
    let top = top.canonicalize().ok()?;
    let relative = folder.strip_prefix(&top).ok()?;
    let mut prefix = String::new();
    for part in relative.components() {
        let std::path::Component::Normal(part) = part else {
            return None;
        };
        prefix.push_str(part.to_str()?);
        prefix.push('/');
    }
    Some(prefix)
}

/// The 40-byte stat block before an entry's object name.
const STAT_BYTES: usize = 40;
/// A SHA-1 object name.
const HASH_BYTES: usize = 20;
/// `flags`: the entry has a second flags word (index version 3 and later).
const EXTENDED: u16 = 0x4000;
/// The second flags word's known bits: skip-worktree, intent-to-add.
const KNOWN_EXTENDED: u16 = 0x4000 | 0x2000;
/// `mode`'s object type bits, and the type of a sparse index's folder entry.
const TYPE_BITS: u32 = 0o170_000;
const FOLDER: u32 = 0o040_000;

/// The entries whose path starts with `prefix`, that prefix taken off; `None` for anything
/// this reader leaves to git (see the module's comment), or any inconsistency.
fn parse_index(bytes: &[u8], prefix: &[u8]) -> Option<Staged> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    };
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = u32_at(4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = usize::try_from(u32_at(8)?).ok()?;
    let body_end = bytes.len().checked_sub(HASH_BYTES)?;
    let mut staged = Staged {
        text: Vec::with_capacity(bytes.len().min(count.saturating_mul(64))),
        entries: Vec::with_capacity(count.min(bytes.len() / 62)),
    };
    let mut at = 12;
    // Version 4 writes each path as what to keep of the one before, and the rest.
    let mut name: Vec<u8> = Vec::new();
    for _ in 0..count {
        let mode = u32_at(at + 24)?;
        let blob = bytes.get(at + STAT_BYTES..at + STAT_BYTES + HASH_BYTES)?;
        let flags = u16_at(at + STAT_BYTES + HASH_BYTES)?;
        let mut cursor = at + STAT_BYTES + HASH_BYTES + 2;
        if flags & EXTENDED != 0 {
            if version < 3 || u16_at(cursor)? & !KNOWN_EXTENDED != 0 {
                return None;
            }
            cursor += 2;
        }
        if version == 4 {
            let (strip, used) = varint(bytes.get(cursor..body_end)?)?;
            cursor += used;
            name.truncate(name.len().checked_sub(strip)?);
        } else {
            name.clear();
        }
        let rest = bytes.get(cursor..body_end)?;
        let end = rest.iter().position(|byte| *byte == 0)?;
        name.extend_from_slice(&rest[..end]);
        cursor += end + 1;
        // Versions 2 and 3 pad each entry with NULs to a multiple of 8 bytes.
        at = if version == 4 {
            cursor
        } else {
            let unpadded = cursor - 1 - at;
            at + ((unpadded + 8) & !7)
        };
        // The name's length, or 0xfff for "at least that": a check that this is an entry.
        let named = usize::from(flags & 0x0fff);
        if (named < 0x0fff && named != name.len()) || (named == 0x0fff && name.len() < named) {
            return None;
        }
        if mode & TYPE_BITS == FOLDER {
            return None;
        }
        if let Some(path) = name.strip_prefix(prefix) {
            let stage = u8::try_from((flags >> 12) & 3).ok()?;
            let mut id = [0u8; 32];
            id[..HASH_BYTES].copy_from_slice(blob);
            let blob = BlobId { bytes: id, len: 20 };
            staged.push(path, mode, stage, Some(blob));
        }
    }
    if at > body_end {
        return None;
    }
    // Extensions: a signature and a size each. Two change what the entries mean.
    while at < body_end {
        let signature = bytes.get(at..at + 4)?;
        if signature == b"link" || signature == b"sdir" {
            return None;
        }
        at = at
            .checked_add(8)?
            .checked_add(usize::try_from(u32_at(at + 4)?).ok()?)?;
    }
    (at == body_end).then_some(staged)
}

/// git's offset varint (`varint.c`): 7 bits a byte, high bit "more", each continuation adding
/// one before the shift so that every value has one encoding. The value and the bytes used.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: usize = 0;
    for (used, byte) in bytes.iter().enumerate() {
        if used > 0 {
            value = value.checked_add(1)?.checked_mul(128)?;
        }
        value |= usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, used + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::git;
    use super::*;
    use std::process::Command;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// git's own answer, `ls-files -s -z` in `folder`.
    fn by_git(folder: &Path) -> Staged {
        Staged::from_listing(&git(folder, &["ls-files", "-s", "-z"]))
    }

    /// A repository with what an index can hold: files in folders, an executable, a link, a
    /// submodule entry, a non-ASCII name, a name over 4,095 bytes (git writes 0xfff for its
    /// length), a path git only knows by `--cacheinfo`, and a conflict (three stages).
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        write(root, "mlops.yaml", "version: 1\n");
        write(root, "models/a/train.py", "print('a')\n");
        write(root, "models/b/données.csv", "x\n1\n");
        write(root, "models/b/run.sh", "#!/bin/sh\n");
        write(root, "shared.txt", "base\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let script = root.join("models/b/run.sh");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("train.py", root.join("models/a/link.py")).unwrap();
        }
        git(root, &["add", "-A"]);
        let blob = String::from_utf8(git(root, &["hash-object", "mlops.yaml"])).unwrap();
        let blob = blob.trim();
        let long = format!("models/{}/x.py", vec!["d".repeat(200); 21].join("/"));
        assert!(long.len() > 0xfff);
        for cacheinfo in [
            format!("160000,{blob},vendor/lib"),
            format!("100644,{blob},{long}"),
        ] {
            git(root, &["update-index", "--add", "--cacheinfo", &cacheinfo]);
        }
        git(root, &["commit", "-q", "-m", "base"]);
        git(root, &["checkout", "-q", "-b", "other"]);
        // Not `commit -a`: it would stage the removal of the two entries with no file.
        write(root, "shared.txt", "other\n");
        git(root, &["add", "shared.txt"]);
        git(root, &["commit", "-q", "-m", "other"]);
        git(root, &["checkout", "-q", "main"]);
        write(root, "shared.txt", "main\n");
        git(root, &["add", "shared.txt"]);
        git(root, &["commit", "-q", "-m", "main"]);
        let merge = Command::new("git")
            .current_dir(root)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "merge",
                "-q",
                "other",
            ])
            .output()
            .unwrap();
        assert!(!merge.status.success(), "the merge conflicts");
        dir
    }

    fn read(folder: &Path) -> Staged {
        read_index(folder).expect("read without git")
    }

    #[test]
    fn the_index_read_here_is_what_git_lists_in_every_version_and_folder() {
        let dir = repository();
        let root = dir.path();
        let listed = by_git(root);
        assert!(listed.entries.iter().any(|entry| entry.stage == 3));
        assert!(listed.entries.iter().any(|entry| entry.mode == 0o160_000));
        assert!(listed.entries.iter().any(|entry| entry.len > 0xfff));
        assert_eq!(read(root), listed, "version 2");
        for version in ["3", "4", "2"] {
            git(root, &["update-index", "--index-version", version]);
            for folder in [
                root.to_path_buf(),
                root.join("models"),
                root.join("models/b"),
            ] {
                assert_eq!(
                    read(&folder),
                    by_git(&folder),
                    "version {version} in {folder:?}"
                );
            }
        }
        // The second flags word (version 3): intent-to-add and skip-worktree.
        write(root, "models/a/new.py", "new\n");
        git(root, &["add", "-N", "models/a/new.py"]);
        git(
            root,
            &["update-index", "--skip-worktree", "models/a/train.py"],
        );
        let bytes = std::fs::read(root.join(".git/index")).unwrap();
        assert_eq!(&bytes[4..8], &3u32.to_be_bytes(), "git wrote version 3");
        assert_eq!(read(root), by_git(root));
        git(root, &["update-index", "--index-version", "4"]);
        assert_eq!(read(root), by_git(root));
        let paths: Vec<String> = read(&root.join("models"))
            .paths()
            .map(String::from)
            .collect();
        assert!(paths.contains(&"b/données.csv".to_owned()), "{paths:?}");
        assert!(paths.contains(&"a/new.py".to_owned()), "{paths:?}");
    }

    #[test]
    fn what_this_reader_does_not_know_is_left_to_git() {
        let dir = repository();
        let root = dir.path();
        assert!(read_index(root).is_some());
        // A split index: most entries are in another file.
        git(root, &["update-index", "--split-index"]);
        assert!(read_index(root).is_none(), "split index");
        assert_eq!(Staged::list(root), Some(by_git(root)), "git listed it");
        git(root, &["update-index", "--no-split-index"]);
        assert!(read_index(root).is_some());
        // Settings that change how paths and names are read.
        let config = std::fs::read_to_string(root.join(".git/config")).unwrap();
        for setting in [
            "[core]\n\tignoreCase = true\n",
            "[extensions]\n\tobjectFormat = sha256\n",
            "[include]\n\tpath = elsewhere\n",
        ] {
            std::fs::write(root.join(".git/config"), format!("{config}{setting}")).unwrap();
            assert!(read_index(root).is_none(), "{setting}");
        }
        std::fs::write(root.join(".git/config"), &config).unwrap();
        // A damaged index is not guessed at.
        let index = std::fs::read(root.join(".git/index")).unwrap();
        for damaged in [&index[..index.len() / 2], &index[..30], b"DIRX".as_slice()] {
            assert!(parse_index(damaged, b"").is_none());
        }
        let mut version = index.clone();
        version[7] = 5;
        assert!(parse_index(&version, b"").is_none(), "version 5");
        assert!(parse_index(&index, b"").is_some());
        // A linked worktree: its settings are shared with the main checkout's.
        git(root, &["merge", "--abort"]);
        let worktree = root.join("models/linked");
        // Not checked out: the long name cannot be written to disk.
        git(
            root,
            &[
                "worktree",
                "add",
                "-q",
                "--no-checkout",
                worktree.to_str().unwrap(),
            ],
        );
        git(&worktree, &["read-tree", "HEAD"]);
        assert!(!by_git(&worktree).entries.is_empty());
        assert!(read_index(&worktree).is_none(), "linked worktree");
        assert_eq!(Staged::list(&worktree), Some(by_git(&worktree)));
        // Outside any repository: nothing, from either reader.
        let outside = tempfile::tempdir().unwrap();
        assert_eq!(Staged::list(outside.path()), None);
    }

    #[test]
    fn a_sparse_index_is_left_to_git() {
        let dir = repository();
        let root = dir.path();
        // The conflict first: sparse checkout refuses to start with one.
        git(root, &["merge", "--abort"]);
        git(
            root,
            &["sparse-checkout", "init", "--cone", "--sparse-index"],
        );
        git(root, &["sparse-checkout", "set", "models/a"]);
        assert!(read_index(root).is_none());
        assert_eq!(Staged::list(root), Some(by_git(root)));
    }

    #[test]
    fn varints_are_read_as_git_writes_them() {
        assert_eq!(varint(&[0x00]), Some((0, 1)));
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        // 128 is `0x80 0x00` in git's encoding (not `0x81 0x00`, as in LEB128).
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x80, 0x7f]), Some((255, 2)));
        assert_eq!(varint(&[0x81, 0x00]), Some((256, 2)));
        assert_eq!(varint(&[0x80]), None, "unterminated");
    }
}
