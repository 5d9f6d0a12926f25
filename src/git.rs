//! The few git questions mlops asks, through the `git` command (no checkout, no network but a
//! one-commit fetch of a missing base): what changed since a revision, and a file at a revision.

use std::path::Path;
use std::process::Command;

mod index;
pub(crate) use index::Staged;

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

/// git's standard output in `folder` when it succeeds (its messages dropped): for questions
/// whose answer may simply be "not in git".
#[must_use]
pub fn quiet_output(folder: &Path, args: &[&str]) -> Option<Vec<u8>> {
    Command::new("git")
        .arg("-C")
        .arg(folder)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| output.stdout)
}

/// Whether git checked the tracked text file `file` out with CRLF line endings where it
/// committed LF (`core.autocrlf` true, as Git for Windows sets it, or an `eol=crlf`
/// attribute): then the bytes on disk are not the bytes committed, and a digest of them is not
/// the one a Linux checkout (CI) computes. From `git ls-files --eol`; `false` outside git or for
/// an untracked file.
#[must_use]
pub fn checked_out_crlf(file: &Path) -> bool {
    let (Some(folder), Some(name)) = (file.parent(), file.file_name()) else {
        return false;
    };
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let Some(name) = name.to_str() else {
        return false;
    };
    quiet_output(folder, &["ls-files", "--eol", "-z", "--", name]).is_some_and(|listed| {
        let fields: Vec<&[u8]> = listed.split(u8::is_ascii_whitespace).collect();
        fields.contains(&&b"i/lf"[..]) && fields.contains(&&b"w/crlf"[..])
    })
}

/// The fields of git's `-z` output (NUL-separated, never quoted).
#[must_use]
pub fn nul_separated(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|byte| *byte == 0)
        .filter(|field| !field.is_empty())
        .map(|field| String::from_utf8_lossy(field).into_owned())
        .collect()
}

/// Make sure `base` is in the clone: CI checkouts are shallow, so fetch just that commit once.
///
/// # Errors
/// The commit is neither in the clone nor fetchable, with how to fix the checkout.
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

/// A file's contents at `revision` (`git show REV:./path`, relative to `root`).
///
/// # Errors
/// git's message when the file or revision does not exist.
pub fn show_at(root: &Path, revision: &str, path: &str) -> Result<Vec<u8>, String> {
    let output = run(root, &["show", &format!("{revision}:./{path}")])?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The top folder of the git checkout that holds `dir`, if it is in one.
#[must_use]
pub fn toplevel(dir: &Path) -> Option<std::path::PathBuf> {
    checkout(dir).map(|checkout| checkout.top)
}

/// Where a checkout is: its top folder and its git folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// What `git rev-parse --show-toplevel` prints.
    pub top: std::path::PathBuf,
    /// What `git rev-parse --absolute-git-dir` prints (files of our own go there).
    pub git_dir: std::path::PathBuf,
}

/// The checkout that holds `dir`, if it is in one. The common case (a `.git` folder above
/// `dir`, owned by us, on the same file system, no `GIT_*` variable steering the search) is
/// found here without starting git: with the page cache cold, starting git cost 20 to 40 ms
/// before `check` could begin. Anything else asks git ([`checkout_by_git`]), which knows
/// every rule (worktrees and submodules, bare repositories, `safe.directory`, ceilings).
#[must_use]
pub fn checkout(dir: &Path) -> Option<Checkout> {
    match find_checkout(dir) {
        Found::Checkout(checkout) => Some(checkout),
        Found::AskGit => checkout_by_git(dir),
    }
}

enum Found {
    Checkout(Checkout),
    AskGit,
}

/// The variables that change where git looks for a repository.
const DISCOVERY_VARIABLES: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
];

fn find_checkout(dir: &Path) -> Found {
    if DISCOVERY_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some())
    {
        return Found::AskGit;
    }
    let Ok(start) = dir.canonicalize() else {
        return Found::AskGit;
    };
    let mut device = None;
    for folder in start.ancestors() {
        let Ok(here) = std::fs::metadata(folder) else {
            return Found::AskGit;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // git stops at a mount point; so does this search, by handing over.
            if *device.get_or_insert(here.dev()) != here.dev() {
                return Found::AskGit;
            }
        }
        #[cfg(not(unix))]
        let _ = (&mut device, &here);
        // A bare repository (or being inside a git folder) is git's to describe.
        if looks_like_git_dir(folder) {
            return Found::AskGit;
        }
        let dot_git = folder.join(".git");
        let Ok(kind) = std::fs::symlink_metadata(&dot_git) else {
            continue;
        };
        // A `.git` file (a worktree, a submodule) or link: git resolves it.
        if !kind.is_dir() || !looks_like_git_dir(&dot_git) {
            return Found::AskGit;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            // Someone else's repository: git's `safe.directory` rules decide.
            // SAFETY: `geteuid` has no preconditions and cannot fail.
            if kind.uid() != unsafe { libc::geteuid() } {
                return Found::AskGit;
            }
        }
        return Found::Checkout(Checkout {
            top: folder.to_path_buf(),
            git_dir: dot_git,
        });
    }
    Found::AskGit
}

/// What git itself checks before it takes a folder for a repository.
fn looks_like_git_dir(folder: &Path) -> bool {
    folder.join("HEAD").is_file() && folder.join("objects").is_dir() && folder.join("refs").is_dir()
}

/// [`checkout`] asking git.
fn checkout_by_git(dir: &Path) -> Option<Checkout> {
    let output = quiet_output(dir, &["rev-parse", "--show-toplevel", "--absolute-git-dir"])?;
    let text = String::from_utf8(output).ok()?;
    let mut lines = text.lines();
    let (top, git_dir) = (lines.next()?, lines.next()?);
    (!top.is_empty() && !git_dir.is_empty()).then(|| Checkout {
        top: std::path::PathBuf::from(top),
        git_dir: std::path::PathBuf::from(git_dir),
    })
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

/// Every commit that changed `path` (relative to `root`), newest first, as full SHAs.
///
/// # Errors
/// git failed (not a repository, no git).
pub fn changes(root: &Path, path: &str) -> Result<Vec<String>, String> {
    let output = run(root, &["log", "--format=%H", "--", path])?;
    if !output.status.success() {
        return Err(format!(
            "git log failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// One revision, read with as few processes as the report needs: one long-lived
/// `git cat-file --batch` answers every "file at this revision" (and checks the revision
/// exists), and one `git diff` lists what changed since it, once.
pub struct Snapshot {
    root: std::path::PathBuf,
    revision: String,
    batch: std::cell::RefCell<Option<CatFile>>,
    /// `git diff --name-only`, started with the snapshot so that it runs while mlops validates.
    diff: std::cell::RefCell<Option<std::process::Child>>,
    changed: std::cell::OnceCell<Result<Vec<String>, String>>,
    verified: std::cell::OnceCell<Result<(), String>>,
    /// Files read ahead by [`Snapshot::prefetch`], by path.
    fetched: std::cell::RefCell<std::collections::HashMap<String, Option<Vec<u8>>>>,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Its own drop closes git's input and waits for it.
        drop(self.batch.borrow_mut().take());
        if let Some(mut diff) = self.diff.borrow_mut().take() {
            let _ = diff.kill();
            let _ = diff.wait();
        }
    }
}

impl Snapshot {
    /// Start reading `revision` in the repository at `root`: the git processes start now and
    /// work while the caller does something else; [`Snapshot::verify`] waits for the answer.
    #[must_use]
    pub fn start(root: &Path, revision: &str) -> Snapshot {
        let snapshot = Snapshot {
            root: root.to_path_buf(),
            revision: revision.to_owned(),
            batch: std::cell::RefCell::new(None),
            diff: std::cell::RefCell::new(None),
            changed: std::cell::OnceCell::new(),
            verified: std::cell::OnceCell::new(),
            fetched: std::cell::RefCell::default(),
        };
        // Starting the batch process now overlaps its start-up.
        let _ = snapshot.with_batch(|_| Ok(()));
        snapshot
    }

    /// Open `revision` and check that it exists (see [`Snapshot::verify`]).
    ///
    /// # Errors
    /// As [`Snapshot::verify`].
    pub fn open(root: &Path, revision: &str) -> Result<Snapshot, String> {
        let snapshot = Snapshot::start(root, revision);
        snapshot.verify()?;
        Ok(snapshot)
    }

    /// Check that the revision is in the clone, fetching just that commit when a shallow clone
    /// lacks it, so that nothing is ever silently compared against nothing.
    ///
    /// # Errors
    /// The revision cannot be found or fetched, or git cannot run.
    pub fn verify(&self) -> Result<(), String> {
        self.verified
            .get_or_init(|| {
                if self
                    .object(&format!("{}^{{commit}}", self.revision))?
                    .is_some()
                {
                    return Ok(());
                }
                ensure_revision(&self.root, &self.revision)?;
                // The processes started before the fetch cannot see it: start them again.
                self.batch.borrow_mut().take();
                let started_diff = self.diff.borrow_mut().take();
                if let Some(mut diff) = started_diff {
                    let _ = diff.kill();
                    let _ = diff.wait();
                    self.spawn_diff();
                }
                Ok(())
            })
            .clone()
    }

    /// Start listing the changed paths now, for a caller that will ask for them
    /// ([`Snapshot::changed_paths`]) after other work.
    pub fn prefetch_changes(&self) {
        if self.diff.borrow().is_none() && self.changed.get().is_none() {
            self.spawn_diff();
        }
    }

    fn spawn_diff(&self) {
        let child = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args([
                "diff",
                "--name-only",
                // NUL-separated and unquoted: without it git quotes a non-ASCII path
                // (`"donn\303\251es/x.csv"`), which no pattern matches.
                "-z",
                "--no-renames",
                "--relative",
                &self.revision,
                "--",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .ok();
        *self.diff.borrow_mut() = child;
    }

    /// The folder it was opened in: paths are relative to it.
    #[must_use]
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The revision, as given.
    #[must_use]
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// The contents of `path` (relative to the root) at the revision, or `None` if it did not
    /// exist there.
    ///
    /// # Errors
    /// The revision is missing, or git failed.
    pub fn show(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        self.verify()?;
        if let Some(fetched) = self.fetched.borrow_mut().remove(path) {
            return Ok(fetched);
        }
        self.object(&format!("{}:./{path}", self.revision))
    }

    /// Paths changed between the revision and the working tree, relative to the root.
    ///
    /// # Errors
    /// The revision is missing, or git failed.
    pub fn changed_paths(&self) -> Result<&[String], String> {
        self.changed
            .get_or_init(|| {
                self.verify()?;
                self.prefetch_changes();
                let Some(child) = self.diff.borrow_mut().take() else {
                    return Err("cannot run git diff".to_owned());
                };
                let output = child
                    .wait_with_output()
                    .map_err(|error| format!("git diff: {error}"))?;
                if !output.status.success() {
                    return Err(format!(
                        "git diff against `{}` failed: {}",
                        self.revision,
                        String::from_utf8_lossy(&output.stderr).trim()
                    ));
                }
                let mut paths: Vec<String> = output
                    .stdout
                    .split(|byte| *byte == 0)
                    .filter(|path| !path.is_empty())
                    .map(|path| String::from_utf8_lossy(path).into_owned())
                    .collect();
                paths.sort();
                Ok(paths)
            })
            .as_deref()
            .map_err(Clone::clone)
    }

    fn with_batch<T>(
        &self,
        use_batch: impl FnOnce(&mut CatFile) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut slot = self.batch.borrow_mut();
        if slot.is_none() {
            *slot = Some(
                CatFile::start(&self.root).map_err(|error| format!("cannot run git: {error}"))?,
            );
        }
        match slot.as_mut() {
            Some(batch) => use_batch(batch),
            None => Err("cannot talk to git cat-file".to_owned()),
        }
    }

    fn object(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        if name.contains('\n') {
            return Ok(None);
        }
        self.with_batch(|batch| {
            batch
                .object(name, |_, reader| read_all(reader))
                .map_err(broken)?
                .transpose()
                .map_err(broken)
        })
    }

    /// Read every one of `paths` at the revision in one exchange with git, kept for
    /// [`Snapshot::show`]: the requests are written while the answers are read, where one
    /// round trip per file cost 0.17 s for 1,000 metrics files.
    ///
    /// # Errors
    /// The revision is missing, or git failed.
    pub fn prefetch(&self, paths: &[String]) -> Result<(), String> {
        self.verify()?;
        let paths: Vec<&String> = paths
            .iter()
            .filter(|path| !path.contains('\n') && !self.fetched.borrow().contains_key(*path))
            .collect();
        if paths.is_empty() {
            return Ok(());
        }
        // Their blob ids from one listing: asking git for `REV:path` makes it read the trees
        // on the way to each file again, which for 1,000 files in one folder cost more than
        // the files.
        let blobs = self.blob_ids(&paths);
        let (paths, names): (Vec<&String>, Vec<String>) = paths
            .into_iter()
            .filter_map(|path| blobs.get(path.as_str()).map(|blob| (path, blob.clone())))
            .unzip();
        if paths.is_empty() {
            return Ok(());
        }
        let answers = self.with_batch(|batch| {
            let (mut requests, mut answers) = batch.split().map_err(broken)?;
            let asked = &names;
            std::thread::scope(|scope| {
                // Written from another thread: git stops reading requests while its answers
                // wait to be read.
                let writer = scope.spawn(move || {
                    for name in asked {
                        requests.ask(name)?;
                    }
                    requests.flush()
                });
                let read: Result<Vec<Option<Vec<u8>>>, String> = names
                    .iter()
                    .map(|_| {
                        answers
                            .next(|_, reader| read_all(reader))
                            .map_err(broken)?
                            .transpose()
                            .map_err(broken)
                    })
                    .collect();
                let written = writer
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")));
                written.map_err(broken)?;
                read
            })
        })?;
        let mut fetched = self.fetched.borrow_mut();
        for (path, answer) in paths.into_iter().zip(answers) {
            fetched.insert(path.clone(), answer);
        }
        Ok(())
    }
}

impl Snapshot {
    /// The blob id of each of `paths` that is a file at the revision (`git ls-tree`; paths
    /// as written, no pattern matching). Empty when git fails: each file is then asked for by
    /// its path.
    fn blob_ids(&self, paths: &[&String]) -> std::collections::HashMap<String, String> {
        let mut blobs = std::collections::HashMap::new();
        let Ok(output) = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args([
                "--literal-pathspecs",
                "ls-tree",
                "-r",
                "-z",
                &self.revision,
                "--",
            ])
            .args(paths.iter().map(|path| path.as_str()))
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
        else {
            return blobs;
        };
        if !output.status.success() {
            return blobs;
        }
        for entry in output.stdout.split(|byte| *byte == 0) {
            // `<mode> blob <id>\t<path>`
            let Some(tab) = entry.iter().position(|byte| *byte == b'\t') else {
                continue;
            };
            let (Ok(header), Ok(path)) = (
                std::str::from_utf8(&entry[..tab]),
                std::str::from_utf8(&entry[tab + 1..]),
            ) else {
                continue;
            };
            if let [_, "blob", id] = header.split(' ').collect::<Vec<_>>().as_slice() {
                blobs.insert(path.to_owned(), (*id).to_owned());
            }
        }
        blobs
    }
}

/// One `git cat-file --batch`: objects asked for by name (an id, or `REV:path`), each answer
/// streamed to its reader. What reads many files of a revision: one process where one per
/// file made `affected` take 1.9 s for 2,000 files changed since the base, and no file held
/// whole in memory unless its reader keeps it.
pub struct CatFile {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl CatFile {
    /// The objects of the repository at `root`.
    ///
    /// # Errors
    /// git cannot be started.
    pub fn start(root: &Path) -> std::io::Result<CatFile> {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["cat-file", "--batch"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("cannot talk to git cat-file"));
        };
        Ok(CatFile {
            child,
            stdin: Some(stdin),
            stdout: std::io::BufReader::new(stdout),
        })
    }

    /// The object `name`, handed to `consume` with its type (`blob`, `commit`, ...) as a
    /// reader of its content; `None` when there is no such object.
    ///
    /// # Errors
    /// The exchange with git broke (the process is then of no further use), or `name` holds a
    /// line break, which the exchange cannot carry.
    pub fn object<T>(
        &mut self,
        name: &str,
        consume: impl FnOnce(&str, &mut dyn std::io::Read) -> T,
    ) -> std::io::Result<Option<T>> {
        let (mut requests, mut answers) = self.split()?;
        requests.ask(name)?;
        requests.flush()?;
        drop(requests);
        answers.next(consume)
    }

    /// [`CatFile::object`] when it is a blob; `None` too when it is not (as `git cat-file
    /// blob` fails on a folder or a submodule).
    ///
    /// # Errors
    /// As [`CatFile::object`].
    pub fn blob<T>(
        &mut self,
        name: &str,
        consume: impl FnOnce(&mut dyn std::io::Read) -> T,
    ) -> std::io::Result<Option<T>> {
        self.object(name, |kind, reader| {
            (kind == "blob").then(|| consume(reader))
        })
        .map(Option::flatten)
    }

    /// Its two ends, for many requests written (from another thread: git stops reading them
    /// while its answers wait to be read) while the answers are read, in order.
    ///
    /// # Errors
    /// Its input was closed.
    pub fn split(&mut self) -> std::io::Result<(Requests<'_>, Answers<'_>)> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("git cat-file has stopped"))?;
        Ok((
            Requests {
                stdin: std::io::BufWriter::new(stdin),
            },
            Answers {
                stdout: &mut self.stdout,
            },
        ))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // Closing its input ends git's loop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The requests end of a [`CatFile`].
pub struct Requests<'c> {
    stdin: std::io::BufWriter<&'c mut std::process::ChildStdin>,
}

impl Requests<'_> {
    /// Asks for the object `name`.
    ///
    /// # Errors
    /// git stopped reading, or `name` holds a line break.
    pub fn ask(&mut self, name: &str) -> std::io::Result<()> {
        use std::io::Write;
        if name.contains('\n') {
            return Err(std::io::Error::other("a line break in an object name"));
        }
        writeln!(self.stdin, "{name}")
    }

    /// Sends what was asked.
    ///
    /// # Errors
    /// git stopped reading.
    pub fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        self.stdin.flush()
    }
}

/// The answers end of a [`CatFile`].
pub struct Answers<'c> {
    stdout: &'c mut std::io::BufReader<std::process::ChildStdout>,
}

impl Answers<'_> {
    /// The next answer, handed to `consume` as [`CatFile::object`] does. What `consume` leaves
    /// unread is skipped, so that the next answer starts where it should.
    ///
    /// # Errors
    /// The exchange with git broke.
    pub fn next<T>(
        &mut self,
        consume: impl FnOnce(&str, &mut dyn std::io::Read) -> T,
    ) -> std::io::Result<Option<T>> {
        use std::io::{BufRead, Read};
        let mut header = Vec::new();
        self.stdout.read_until(b'\n', &mut header)?;
        let Some(header) = header.strip_suffix(b"\n") else {
            return Err(std::io::Error::other("git cat-file stopped answering"));
        };
        // `<name> missing`: the name may hold spaces, so look at the end.
        if header.ends_with(b" missing") || header.ends_with(b" ambiguous") {
            return Ok(None);
        }
        let header = std::str::from_utf8(header).map_err(std::io::Error::other)?;
        let mut fields = header.rsplitn(3, ' ');
        let (Some(size), Some(kind), Some(_)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(std::io::Error::other(format!(
                "git cat-file: unexpected answer `{header}`"
            )));
        };
        let size: u64 = size.parse().map_err(std::io::Error::other)?;
        let mut content = (&mut *self.stdout).take(size);
        let value = consume(kind, &mut content);
        std::io::copy(&mut content, &mut std::io::sink())?;
        let mut end = [0u8; 1];
        if content.limit() != 0 || self.stdout.read(&mut end)? != 1 || end != *b"\n" {
            return Err(std::io::Error::other("git cat-file: an answer cut short"));
        }
        Ok(Some(value))
    }
}

/// All of `reader`.
fn read_all(reader: &mut dyn std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map(|_| bytes)
}

/// A broken exchange with `git cat-file`, in words.
#[allow(clippy::needless_pass_by_value, reason = "used as map_err(broken)")]
fn broken(error: std::io::Error) -> String {
    format!("git cat-file: {error}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn hex_is_read_in_either_case_and_nothing_else_is() {
        for byte in 0..=u8::MAX {
            let expected = char::from(byte).to_digit(16);
            for text in [[b'0', byte], [byte, b'0']] {
                let parsed = parse_hex::<1>(&text);
                let expected = expected.map(|value| {
                    let value = u8::try_from(value).unwrap();
                    if text[0] == b'0' { value } else { value << 4 }
                });
                assert_eq!(parsed.map(|[value]| value), expected, "{text:?}");
            }
        }
        assert_eq!(parse_hex::<2>(b"aF09"), Some([0xaf, 0x09]));
        assert_eq!(parse_hex::<2>(b"aF0"), None, "odd length");
        assert_eq!(parse_hex::<2>(b"aF0 "), None);
    }

    /// git in `dir` as a test's author (no signing, no hooks, no stdin), which must succeed:
    /// its standard output. Also the index reader's tests' (`index.rs`) and the lock's.
    pub(crate) fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
        let output = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The checkout found without git is the one git names, wherever the search starts; and
    /// where it hands over (a worktree's `.git` file, inside the git folder, outside any
    /// repository) the answer is git's own.
    #[test]
    fn the_checkout_found_without_git_is_the_one_git_names() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("models/churn")).unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        std::fs::write(root.join("models/churn/a.txt"), "a").unwrap();
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "a"]);
        git(&root, &["worktree", "add", "-q", "../linked"]);
        let linked = dir.path().join("linked");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        for (folder, fast) in [
            (root.clone(), true),
            (root.join("models/churn"), true),
            (linked.join("models"), false),
            (root.join(".git/refs"), false),
            (outside.clone(), false),
        ] {
            let by_git = checkout_by_git(&folder);
            let found = checkout(&folder);
            assert_eq!(found, by_git, "{}", folder.display());
            assert_eq!(
                matches!(find_checkout(&folder), Found::Checkout(_)),
                fast,
                "{}",
                folder.display()
            );
        }
        let top = checkout(&root.join("models")).unwrap();
        assert_eq!(top.top, root.canonicalize().unwrap());
        assert_eq!(top.git_dir, root.canonicalize().unwrap().join(".git"));
    }

    #[test]
    fn files_read_ahead_are_the_files_at_the_revision_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(root.join("m")).unwrap();
        // A glob character and a space: read as written, not as a pattern.
        std::fs::write(root.join("m/a [x].json"), "{\"a\": 1}").unwrap();
        std::fs::write(root.join("m/ax.json"), "{\"ax\": 1}").unwrap();
        std::fs::write(root.join("m/b.json"), "{\"b\": 2}").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "base"]);
        std::fs::write(root.join("m/b.json"), "{\"b\": 3}").unwrap();
        let snapshot = Snapshot::open(root, "HEAD").unwrap();
        let paths = ["m/a [x].json", "m/b.json", "m/missing.json"].map(str::to_owned);
        snapshot.prefetch(&paths).unwrap();
        assert_eq!(
            snapshot.fetched.borrow().len(),
            2,
            "the missing file is not listed"
        );
        assert_eq!(
            snapshot.show("m/a [x].json").unwrap().as_deref(),
            Some(&b"{\"a\": 1}"[..])
        );
        assert_eq!(
            snapshot.show("m/b.json").unwrap().as_deref(),
            Some(&b"{\"b\": 2}"[..])
        );
        assert_eq!(snapshot.show("m/missing.json").unwrap(), None);
        // Not read ahead: asked for by path, as before.
        assert_eq!(
            snapshot.show("m/ax.json").unwrap().as_deref(),
            Some(&b"{\"ax\": 1}"[..])
        );
    }

    #[test]
    fn cat_file_answers_each_object_in_turn_whatever_was_read_of_the_last() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(root.join("d")).unwrap();
        // Past one 64 KiB read, and with the answer's own line break inside.
        let big: Vec<u8> = (0..200_000u32).map(|at| (at % 251) as u8).collect();
        std::fs::write(root.join("d/big.bin"), &big).unwrap();
        std::fs::write(root.join("d/small.txt"), "small\n").unwrap();
        std::fs::write(root.join("empty"), "").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "base"]);
        let id = |path: &str| {
            String::from_utf8(git(root, &["rev-parse", &format!("HEAD:{path}")]))
                .unwrap()
                .trim()
                .to_owned()
        };
        let mut stream = CatFile::start(root).unwrap();
        let whole = |reader: &mut dyn Read| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).map(|_| bytes).ok()
        };
        assert_eq!(
            stream.blob(&id("d/big.bin"), whole).unwrap().flatten(),
            Some(big.clone())
        );
        // Three bytes of it read: the rest is skipped, and the next answer is the next file.
        let head = |reader: &mut dyn Read| {
            let mut bytes = [0u8; 3];
            reader.read_exact(&mut bytes).map(|()| bytes.to_vec()).ok()
        };
        assert_eq!(
            stream.blob(&id("d/big.bin"), head).unwrap().flatten(),
            Some(big[..3].to_vec())
        );
        assert_eq!(
            stream.blob("HEAD:d/small.txt", whole).unwrap().flatten(),
            Some(b"small\n".to_vec())
        );
        assert_eq!(
            stream.blob(&id("empty"), whole).unwrap().flatten(),
            Some(Vec::new())
        );
        // A folder is no blob, a missing file no object: neither is read, and the stream goes on.
        assert!(stream.blob("HEAD:d", whole).unwrap().is_none());
        assert!(stream.blob("HEAD:d/missing.txt", whole).unwrap().is_none());
        assert!(stream.blob(&"0".repeat(40), whole).unwrap().is_none());
        assert!(
            stream.blob("HEAD:d/\nx", whole).is_err(),
            "a line break cannot be asked for"
        );
        assert_eq!(
            stream.blob("HEAD:d/small.txt", whole).unwrap().flatten(),
            Some(b"small\n".to_vec())
        );
        // Any object, with its type: the commit, and the folder refused as a blob above.
        let kind = |kind: &str, _: &mut dyn Read| kind.to_owned();
        assert_eq!(
            stream.object("HEAD^{commit}", kind).unwrap().as_deref(),
            Some("commit")
        );
        assert_eq!(
            stream.object("HEAD:d", kind).unwrap().as_deref(),
            Some("tree")
        );
    }
}

/// The bytes of lower- or upper-case hex text; `None` for an odd length or another character.
pub(crate) fn parse_hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    /// Each byte's value as a hex digit, `INVALID` for a byte that is not one: by table, not by
    /// comparisons (random digits made the branches mispredict; the blob cache's 2 million
    /// digits at 1,000 models took 10 ms that way).
    const INVALID: u8 = 0xff;
    const VALUES: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut digit: u8 = 0;
        while digit < 10 {
            table[(b'0' + digit) as usize] = digit;
            digit += 1;
        }
        let mut letter: u8 = 0;
        while letter < 6 {
            table[(b'a' + letter) as usize] = 10 + letter;
            table[(b'A' + letter) as usize] = 10 + letter;
            letter += 1;
        }
        table
    };
    if text.len() != N * 2 {
        return None;
    }
    let mut bytes = [0u8; N];
    // Invalid digits are collected and checked once, after the loop.
    let mut invalid = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (VALUES[usize::from(pair[0])], VALUES[usize::from(pair[1])]);
        invalid |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    (invalid == 0).then_some(bytes)
}

/// A git blob id: SHA-1 (40 hex digits) or, in a SHA-256 repository, 64; kept as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct BlobId {
    bytes: [u8; 32],
    len: u8,
}

impl BlobId {
    pub(crate) fn parse(text: &[u8]) -> Option<BlobId> {
        let mut bytes = [0u8; 32];
        match text.len() {
            40 => bytes[..20].copy_from_slice(&parse_hex::<20>(text)?),
            64 => bytes = parse_hex::<32>(text)?,
            _ => return None,
        }
        Some(BlobId {
            bytes,
            len: if text.len() == 40 { 20 } else { 32 },
        })
    }

    pub(crate) fn to_hex(self) -> String {
        let mut text = String::with_capacity(64);
        push_hex(&self.bytes[..usize::from(self.len)], &mut text);
        text
    }
}

/// Path -> `V` for tens of thousands of paths in a few allocations: the paths one after another
/// in one string, the table holding offsets (a `String` per path was 20,000 allocations).
#[derive(Clone)]
pub(crate) struct PathTable<V> {
    text: String,
    table: hashbrown::HashTable<(u32, u32, V)>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<V: Copy> PathTable<V> {
    pub(crate) fn with_capacity(paths: usize, bytes: usize) -> PathTable<V> {
        PathTable {
            text: String::with_capacity(bytes),
            table: hashbrown::HashTable::with_capacity(paths),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<V> {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, path);
        self.table
            .find(hash, |(start, len, _)| self.at(*start, *len) == path)
            .map(|(_, _, value)| *value)
    }

    pub(crate) fn at(&self, start: u32, len: u32) -> &str {
        &self.text[start as usize..(start + len) as usize]
    }

    /// Adds `path` (once: a second insert of the same path is ignored).
    pub(crate) fn insert(&mut self, path: &str, value: V) {
        if self.get(path).is_some() {
            return;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.text.len()), u32::try_from(path.len()))
        else {
            return;
        };
        self.text.push_str(path);
        let hasher = &self.hasher;
        let text = &self.text;
        let hash = std::hash::BuildHasher::hash_one(hasher, path);
        self.table
            .insert_unique(hash, (start, len, value), |(start, len, _)| {
                std::hash::BuildHasher::hash_one(
                    hasher,
                    &text[*start as usize..(start + len) as usize],
                )
            });
    }
}

/// `bytes` as lower-case hex, appended to `out`.
pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    // By table, not `write!("{:02x}")`: the formatter was 4% of `check` in a monorepo.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}
