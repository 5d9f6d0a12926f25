//! The one path matcher. A config's `inputs` are read by four parties that must agree on what
//! they mean: GitHub's `paths` filters (which start a run), `mlops affected` (which decides what
//! runs), the `missing-file` rule, and the fingerprints. So a pattern is accepted only in the
//! subset that means the same to all of them, and every one of them matches through
//! [`PathSet`] (globset, compiled once).
//!
//! The subset: `/`-separated paths from the config's folder; `*` (any run of characters within
//! one path segment), `?` (one character) and `**` as a whole segment (any depth, zero
//! included). A pattern without wildcards names a file or a folder and everything in it.
//! Refused, each with the portable spelling where there is one: `**` inside a segment
//! (`**.py`, which GitHub reads as "any depth" and most globbers do not), character classes and
//! braces, a leading `!` (GitHub's negation), `+` (one-or-more in GitHub's filters), `\`, a
//! leading `./` or `/`, and `..`.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why `pattern` is not portable, and the spelling to use instead when there is one.
#[must_use]
pub fn portability_problem(pattern: &str) -> Option<(String, Option<String>)> {
    if pattern.is_empty() {
        return Some(("it is empty".to_owned(), None));
    }
    if let Some(rest) = pattern.strip_prefix("./") {
        return Some((
            "GitHub's filters do not strip a leading `./`, so it would never match there"
                .to_owned(),
            Some(rest.to_owned()),
        ));
    }
    if pattern.starts_with('/') {
        return Some((
            "paths are relative to the config's folder".to_owned(),
            Some(pattern.trim_start_matches('/').to_owned()),
        ));
    }
    if pattern.starts_with('!') {
        return Some((
            "a leading `!` is a negation in GitHub's filters and a file name elsewhere".to_owned(),
            None,
        ));
    }
    if pattern.contains('\\') {
        return Some((
            "write paths with `/`: `\\` escapes in GitHub's filters".to_owned(),
            Some(pattern.replace('\\', "/")),
        ));
    }
    if let Some(bad) = pattern
        .chars()
        .find(|c| matches!(c, '[' | ']' | '{' | '}' | '+'))
    {
        return Some((
            format!(
                "`{bad}` means something different to GitHub's filters, GitLab's `changes` and git"
            ),
            None,
        ));
    }
    let segments: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    if segments.contains(&"..") {
        return Some((
            "`..` leaves the config's folder, where CI does not look".to_owned(),
            None,
        ));
    }
    if segments.iter().any(|segment| segment.is_empty()) {
        return Some(("it has an empty segment (`//`)".to_owned(), None));
    }
    if let Some(segment) = segments
        .iter()
        .find(|segment| segment.contains("**") && **segment != "**")
    {
        // `**.py` is "any depth" to GitHub, a plain `*` to others: spell the depth out.
        let fixed = segment.starts_with("**").then(|| {
            let mut star = (*segment).to_owned();
            while star.contains("**") {
                star = star.replace("**", "*");
            }
            segments
                .iter()
                .map(|part| {
                    if part == segment {
                        format!("**/{star}")
                    } else {
                        (*part).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        });
        return Some((
            format!(
                "`**` is a whole path segment or nothing (`{segment}` is read differently by GitHub and by git)"
            ),
            fixed,
        ));
    }
    None
}

/// Whether `pattern` has wildcards (else it names a file or a folder).
#[must_use]
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// `pattern` as GitHub's `paths` filters must be written to mean the same: a name without
/// wildcards is a file or a folder, so it becomes the name and everything below it.
#[must_use]
pub fn github_filters(pattern: &str) -> Vec<String> {
    let pattern = pattern.trim_end_matches('/');
    if is_glob(pattern) {
        vec![pattern.to_owned()]
    } else {
        vec![pattern.to_owned(), format!("{pattern}/**")]
    }
}

/// `pattern` as GitLab's `rules:changes` must be written to mean the same. GitLab matches with
/// Ruby's `File.fnmatch` and `FNM_PATHNAME`, where a final `**` is a plain `*` (one segment):
/// "any depth" is `**/*`; a name without wildcards is a file or a folder. GitLab expands
/// `$NAME` in these paths and has no escape for `$`, so each `$` becomes `*`, which matches it
/// (and, at worst, a few more names in that one segment).
#[must_use]
pub fn gitlab_changes(pattern: &str) -> Vec<String> {
    let written = pattern.trim_end_matches('/');
    let pattern = written.replace('$', "*");
    let pattern = pattern.as_str();
    if is_glob(written) {
        if pattern == "**" {
            vec!["**/*".to_owned()]
        } else if let Some(folder) = pattern.strip_suffix("/**") {
            vec![format!("{folder}/**/*")]
        } else {
            vec![pattern.to_owned()]
        }
    } else {
        vec![pattern.to_owned(), format!("{pattern}/**/*")]
    }
}

/// Sets of fewer patterns are cheap to compile again: [`PathSet::shared`] keeps none of them.
const SHARED_AT_LEAST: usize = 64;

/// A set of patterns, compiled once, each remembered by its index.
#[derive(Debug, Clone)]
pub struct PathSet {
    set: GlobSet,
    /// Which pattern each compiled glob came from (a literal compiles to two).
    owners: Vec<usize>,
}

impl PathSet {
    /// Compile `patterns`. A pattern that does not compile (only an unportable one can fail:
    /// `validate` refuses those) matches nothing.
    #[must_use]
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> PathSet {
        let mut builder = GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (index, pattern) in patterns.iter().enumerate() {
            for glob in github_filters(pattern.as_ref()) {
                if let Ok(glob) = GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(false)
                    .build()
                {
                    builder.add(glob);
                    owners.push(index);
                }
            }
        }
        let set = builder.build().unwrap_or_else(|_| GlobSet::empty());
        PathSet { set, owners }
    }

    /// [`PathSet::new`], shared: the last set of many patterns compiled is kept, and asking
    /// for it again returns it. The lock and the `missing-file` rule compile the same
    /// thousands of input patterns at once, in two threads (at 1,000 models each compile was
    /// 2% of `check`); the second waits for the first rather than compiling them again.
    #[must_use]
    pub fn shared(patterns: &[&str]) -> std::sync::Arc<PathSet> {
        type Last = Option<(Vec<String>, std::sync::Arc<PathSet>)>;
        static LAST: std::sync::Mutex<Last> = std::sync::Mutex::new(None);
        if patterns.len() < SHARED_AT_LEAST {
            return std::sync::Arc::new(PathSet::new(patterns));
        }
        let Ok(mut last) = LAST.lock() else {
            return std::sync::Arc::new(PathSet::new(patterns));
        };
        if let Some((known, set)) = &*last
            && known
                .iter()
                .map(String::as_str)
                .eq(patterns.iter().copied())
        {
            return std::sync::Arc::clone(set);
        }
        let set = std::sync::Arc::new(PathSet::new(patterns));
        *last = Some((
            patterns.iter().map(|&pattern| pattern.to_owned()).collect(),
            std::sync::Arc::clone(&set),
        ));
        set
    }

    /// The first pattern (by index) that matches `path`, if any.
    #[must_use]
    pub fn first_match(&self, path: &str) -> Option<usize> {
        self.set
            .matches(path)
            .into_iter()
            .map(|glob| self.owners[glob])
            .min()
    }

    /// Whether any pattern matches `path`.
    #[must_use]
    pub fn is_match(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// Every pattern (by index, ascending, once) that matches `path`; `scratch` is reused
    /// between calls so matching many paths allocates nothing per path.
    pub fn matching_into(&self, path: &str, scratch: &mut Vec<usize>, found: &mut Vec<usize>) {
        found.clear();
        self.set.matches_into(path, scratch);
        found.extend(scratch.iter().map(|&glob| self.owners[glob]));
        found.sort_unstable();
        found.dedup();
    }
}

/// The files under a folder, as CI will see them.
pub struct Listed {
    /// Every file, relative and `/`-separated, sorted: tracked, and untracked but not ignored
    /// (what a commit of the folder would hold).
    pub all: Vec<String>,
    /// The tracked ones, when the folder is in a git checkout.
    pub tracked: Option<std::collections::BTreeSet<String>>,
    /// The tracked files git's stat check calls unchanged since staged, with their blobs: what
    /// the lock's blob cache is asked about (from the same git reads).
    pub(crate) clean: Option<crate::git::PathTable<crate::git::BlobId>>,
    /// When git found no untracked file: the tracked files it found changed or deleted since
    /// staged (the listing is its [`IndexView`] but for these).
    pub(crate) changed_since_indexed: Option<Vec<String>>,
}

/// The files as git's index has them, read before the working tree has been checked against
/// it (git's index is read in milliseconds; the stat of every file and the walk for untracked
/// ones take the rest of the listing): what the listing will be if nothing changed.
pub(crate) struct IndexView {
    /// The tracked files, sorted.
    pub(crate) files: Vec<String>,
    /// Every tracked regular file, with its staged blob.
    pub(crate) blobs: crate::git::PathTable<crate::git::BlobId>,
}

/// At most this many files are listed outside git (a config in a home folder must not walk
/// the whole disk).
const WALK_LIMIT: usize = 200_000;

/// The files under `folder`: `git ls-files -z --cached --others --exclude-standard`, which
/// applies git's own rules (a tracked file that `.gitignore` matches is still listed, as CI
/// sees it), less the tracked files deleted from the working tree; outside git, a walk of the
/// folder that skips `.git` and `.mlops`. No `stat` of ours per file (20,000 of them were a
/// tenth of `check` in a monorepo).
///
/// Three reads at once, each doing one kind of disk work: the index (read here when its format
/// allows, else `ls-files -s`: see [`crate::git::Staged`]), the changed and deleted files
/// (`diff-files`, which stats in parallel), the untracked ones (`ls-files --others`, a walk of
/// the folders). From a cold disk at 20,000 files they take 3 to 20, 130 and 190 ms; one
/// tagged `ls-files` doing all three (its stat of each file serial) took 165 ms on an earlier
/// machine. The same reads tell the lock which files are clean (and their blobs).
#[must_use]
pub fn list_files(folder: &std::path::Path) -> Listed {
    list_files_for(folder, CleanBlobs::Skip)
}

/// Whether a listing also says which tracked files are clean, with their blobs (what the lock
/// asks its blob cache about; 70 million instructions at 20,000 files that `validate` skips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanBlobs {
    /// Only the files.
    Skip,
    /// The files and the clean ones' blobs.
    Find,
}

/// [`list_files`], with the clean files' blobs when `clean` says so.
#[must_use]
pub fn list_files_for(folder: &std::path::Path, clean: CleanBlobs) -> Listed {
    list_files_with(folder, clean, |_| {})
}

/// [`list_files_for`], handing `indexed` the [`IndexView`] as soon as git's index is read,
/// while the rest is still being listed (only when `clean` asks for blobs, and only in git).
pub(crate) fn list_files_with(
    folder: &std::path::Path,
    clean: CleanBlobs,
    indexed: impl FnOnce(IndexView),
) -> Listed {
    let git = |args: &'static [&'static str]| move || crate::git::quiet_output(folder, args);
    let (staged, changed, others, tracked, index_blobs) = std::thread::scope(|scope| {
        let changed = scope.spawn(git(&["diff-files", "-z", "--name-status", "--relative"]));
        let others = scope.spawn(git(&["ls-files", "-z", "--others", "--exclude-standard"]));
        let staged = crate::git::Staged::list(folder);
        let tracked: Option<std::collections::BTreeSet<String>> = staged
            .as_ref()
            .map(|staged| staged.paths().map(std::borrow::Cow::into_owned).collect());
        let mut index_blobs = None;
        if let (Some(staged), Some(tracked), CleanBlobs::Find) = (&staged, &tracked, clean) {
            let blobs = staged.clean_blobs(&hashbrown::HashSet::new());
            indexed(IndexView {
                files: tracked.iter().cloned().collect(),
                blobs: blobs.clone(),
            });
            index_blobs = Some(blobs);
        }
        (
            staged,
            changed.join().ok().flatten(),
            others.join().ok().flatten(),
            tracked,
            index_blobs,
        )
    });
    let (Some(staged), Some(changed), Some(others), Some(tracked)) =
        (staged, changed, others, tracked)
    else {
        let mut all = walk(folder);
        all.sort();
        return Listed {
            all,
            tracked: None,
            clean: None,
            changed_since_indexed: None,
        };
    };
    // `<status>\0<path>` pairs: D deleted, M modified, T type changed, U unmerged.
    let mut modified = hashbrown::HashSet::new();
    let mut deleted = std::collections::BTreeSet::new();
    let mut fields = changed
        .split(|byte| *byte == 0)
        .filter(|field| !field.is_empty());
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if status == b"D" {
            deleted.insert(String::from_utf8_lossy(path).into_owned());
        }
        modified.insert(path);
    }
    let changed_since_indexed = others.is_empty().then(|| {
        modified
            .iter()
            .map(|path| String::from_utf8_lossy(path).into_owned())
            .collect()
    });
    let clean = match (clean, index_blobs) {
        (CleanBlobs::Skip, _) => None,
        // Nothing modified: the clean files are the index's.
        (CleanBlobs::Find, Some(blobs)) if modified.is_empty() => Some(blobs),
        (CleanBlobs::Find, _) => Some(staged.clean_blobs(&modified)),
    };
    let mut all: Vec<String> = tracked
        .iter()
        .filter(|path| !deleted.contains(*path))
        .cloned()
        .chain(crate::git::nul_separated(&others))
        .collect();
    all.sort();
    all.dedup();
    Listed {
        all,
        tracked: Some(tracked),
        clean,
        changed_since_indexed,
    }
}

/// Every file under `root`, relative and `/`-separated, skipping `.git` (bounded).
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![std::path::PathBuf::new()];
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
                // `.mlops` holds `mlops run`'s records and logs (git-ignored inside git).
                if entry.file_name() != ".git" && entry.file_name() != ".mlops" {
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

/// Whether `path` is one of the files `pattern` names (one-off; sets are faster for many).
#[must_use]
pub fn matches(pattern: &str, path: &str) -> bool {
    PathSet::new(&[pattern]).is_match(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_set_asked_for_again_is_the_one_compiled_before() {
        let many: Vec<String> = (0..SHARED_AT_LEAST).map(|at| format!("m{at}/**")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let first = PathSet::shared(&many);
        assert!(std::sync::Arc::ptr_eq(&first, &PathSet::shared(&many)));
        assert!(first.is_match("m3/x.py") && !first.is_match("n3/x.py"));
        // Another list (one pattern changed): compiled afresh, and it means what it says.
        let mut other = many.clone();
        other[3] = "n3/**";
        let second = PathSet::shared(&other);
        assert!(!std::sync::Arc::ptr_eq(&first, &second));
        assert!(second.is_match("n3/x.py") && !second.is_match("m3/x.py"));
        // A few patterns are not kept.
        let few = ["a/**"];
        assert!(!std::sync::Arc::ptr_eq(
            &PathSet::shared(&few),
            &PathSet::shared(&few)
        ));
    }

    #[test]
    fn globs_files_and_folders() {
        assert!(matches("src/**", "src/a/b.py"));
        assert!(matches("src/**/*.py", "src/a/b.py"));
        assert!(
            matches("**/*.py", "top.py"),
            "`**/` is zero or more folders"
        );
        assert!(matches("*.py", "train.py"));
        assert!(!matches("*.py", "src/train.py"), "`*` stays in its segment");
        assert!(matches("src/features", "src/features/x.py"), "a folder");
        assert!(matches("src/features/", "src/features/x.py"));
        assert!(matches("train.py", "train.py"), "a file");
        assert!(!matches("train.py", "train.pyc"));
        assert!(!matches("src/feat", "src/features/x.py"));
        assert!(matches(
            "data/donn\u{e9}es/*.csv",
            "data/donn\u{e9}es/x.csv"
        ));
    }

    #[test]
    fn literals_reach_github_as_file_or_folder() {
        assert_eq!(
            github_filters("src/features"),
            ["src/features", "src/features/**"]
        );
        assert_eq!(
            github_filters("src/features/"),
            ["src/features", "src/features/**"]
        );
        assert_eq!(github_filters("src/**/*.py"), ["src/**/*.py"]);
    }

    #[test]
    fn unportable_patterns_are_refused_with_the_portable_spelling() {
        let fix = |pattern: &str| portability_problem(pattern).and_then(|(_, fix)| fix);
        assert_eq!(fix("**.py").as_deref(), Some("**/*.py"));
        assert_eq!(fix("src/**.py").as_deref(), Some("src/**/*.py"));
        assert_eq!(fix("./src/**").as_deref(), Some("src/**"));
        assert_eq!(fix("/src").as_deref(), Some("src"));
        assert_eq!(fix("src\\a.py").as_deref(), Some("src/a.py"));
        for refused in [
            "src/[ab].py",
            "src/{a,b}.py",
            "!src",
            "c++/x",
            "../x",
            "a//b",
            "",
        ] {
            assert!(portability_problem(refused).is_some(), "{refused}");
        }
        for fine in [
            "src/**",
            "**/*.py",
            "*.py",
            "src/features",
            "src/a?.py",
            "params.yaml",
        ] {
            assert_eq!(portability_problem(fine), None, "{fine}");
        }
    }

    #[test]
    fn gitlab_reads_any_depth_as_a_double_star_segment_then_a_star() {
        assert_eq!(gitlab_changes("src/**"), ["src/**/*"]);
        assert_eq!(gitlab_changes("**"), ["**/*"]);
        assert_eq!(gitlab_changes("src/**/*.py"), ["src/**/*.py"]);
        assert_eq!(gitlab_changes("*.py"), ["*.py"]);
        assert_eq!(gitlab_changes("data/raw/"), ["data/raw", "data/raw/**/*"]);
        // GitLab would expand `$HOME`; a `*` matches the `$` instead.
        assert_eq!(gitlab_changes("in/$HOME/**"), ["in/*HOME/**/*"]);
        assert_eq!(gitlab_changes("a$b"), ["a*b", "a*b/**/*"]);
    }

    #[test]
    fn the_first_matching_pattern_is_named() {
        let set = PathSet::new(&["docs/**", "src/**", "src/model"]);
        assert_eq!(set.first_match("src/model/net.py"), Some(1));
        assert_eq!(set.first_match("README.md"), None);
    }
}
