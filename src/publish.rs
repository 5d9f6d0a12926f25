//! Publishing releases: the write stage of `mlops promote` and `mlops rollback`.
//!
//! Each environment's manifests and release records live on a branch that only CI (and a
//! person rolling back) writes, `mlops/release/<environment>`, and Argo CD follows it. The
//! default branch holds the config and what is derived from it alone, so it can require pull
//! requests, reviews and status checks: no promotion ever pushes to it. GitHub's
//! `GITHUB_TOKEN` can push to an unprotected branch but can bypass no rule, so:
//!
//! - an environment without `requires_approval` gets the release commit pushed straight to
//!   its branch (rebased and pushed again when another deploy got there first);
//! - an approval-gated one gets it on `mlops/promote/<environment>/<deployment>-<digest>`,
//!   and a pull request into its release branch; that branch is protected (required reviews,
//!   code-owner review), and the `.github/CODEOWNERS` on it, written here from the config's
//!   approvals, makes GitHub itself request and count the teams' reviews.
//!
//! Commits are built with git's plumbing in a private index, so the checkout, its index and
//! its branch are never touched, and nothing here needs a working tree of the release branch.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::release::Release;
use crate::spec::Config;

/// The release branches' prefix when `gitops.release_branch` is not set.
pub const DEFAULT_PREFIX: &str = "mlops/release";

/// The branch holding `environment`'s releases.
#[must_use]
pub fn release_branch(config: &Config, environment: &str) -> String {
    let prefix = config
        .gitops
        .as_ref()
        .and_then(|gitops| gitops.release_branch.as_deref())
        .unwrap_or(DEFAULT_PREFIX);
    format!("{}/{environment}", prefix.trim_end_matches('/'))
}

/// The branch an approval-gated release waits on (`verb`: `promote` or `rollback`): one per
/// deployment and model, so pushing the same release again updates its pull request instead
/// of opening a second one.
#[must_use]
pub fn promotion_branch(verb: &str, environment: &str, deployment: &str, digest: &str) -> String {
    let short = digest
        .strip_prefix("sha256:")
        .and_then(|hex| hex.get(..12))
        .unwrap_or("unknown");
    format!("mlops/{verb}/{environment}/{deployment}-{short}")
}

/// A file on a release branch: its path from the repository root, and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// From the repository root, `/`-separated.
    pub path: String,
    /// The whole file (empty when `remove`).
    pub contents: String,
    /// The release no longer has this file: the commit removes it (when it is there).
    pub remove: bool,
}

/// Run git in `root`; its standard output on success, else its message.
fn git(
    root: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    env: &[(String, String)],
) -> Result<String, String> {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(root)
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write as _;
        pipe.write_all(bytes)
            .map_err(|error| format!("cannot write to git: {error}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The commit `reference` names, if it exists.
fn resolve(root: &Path, reference: &str) -> Option<String> {
    git(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
        None,
        &[],
    )
    .ok()
    .filter(|commit| !commit.is_empty())
}

/// How git authenticates to the remote in CI: `GITHUB_TOKEN` as an HTTP header for the
/// GitHub server only, passed through git's environment (never on a command line, where
/// other processes could read it). Nothing outside GitHub Actions.
fn credentials() -> Vec<(String, String)> {
    if let Some(gitlab) = gitlab_credentials() {
        return gitlab;
    }
    let Ok(token) = std::env::var("GITHUB_TOKEN") else {
        return Vec::new();
    };
    if token.is_empty() {
        return Vec::new();
    }
    let server =
        std::env::var("GITHUB_SERVER_URL").unwrap_or_else(|_| "https://github.com".to_owned());
    let basic = base64(format!("x-access-token:{token}").as_bytes());
    vec![
        ("GIT_CONFIG_COUNT".to_owned(), "1".to_owned()),
        (
            "GIT_CONFIG_KEY_0".to_owned(),
            format!("http.{}/.extraheader", server.trim_end_matches('/')),
        ),
        (
            "GIT_CONFIG_VALUE_0".to_owned(),
            format!("AUTHORIZATION: basic {basic}"),
        ),
    ]
}

/// In GitLab CI, the project access token in `MLOPS_GITLAB_TOKEN` for the GitLab server only
/// (`CI_JOB_TOKEN`, which the checkout's remote carries, cannot push). The header takes
/// precedence over the remote URL's own credentials, which git sends only when challenged.
fn gitlab_credentials() -> Option<Vec<(String, String)>> {
    let server = std::env::var("CI_SERVER_URL").ok()?;
    let token = std::env::var(crate::emit::gitlab::TOKEN_VARIABLE).ok()?;
    if token.is_empty() || server.is_empty() {
        return None;
    }
    let basic = base64(format!("oauth2:{token}").as_bytes());
    Some(vec![
        ("GIT_CONFIG_COUNT".to_owned(), "1".to_owned()),
        (
            "GIT_CONFIG_KEY_0".to_owned(),
            format!("http.{}/.extraheader", server.trim_end_matches('/')),
        ),
        (
            "GIT_CONFIG_VALUE_0".to_owned(),
            format!("AUTHORIZATION: basic {basic}"),
        ),
    ])
}

/// Standard base64 with padding (RFC 4648), for the one header above.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let triple = chunk.iter().enumerate().fold(0u32, |acc, (i, byte)| {
            acc | u32::from(*byte) << (16 - 8 * i)
        });
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (triple >> (18 - 6 * i)) & 0x3f;
                text.push(char::from(ALPHABET[index as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// The release branches of one repository, seen from a clone of it.
pub struct Branches<'a> {
    /// The repository root (the clone's top folder).
    pub root: &'a Path,
    /// The remote to fetch from and publish to, normally `origin`.
    pub remote: &'a str,
}

/// Where a release commit went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The branch already held exactly these files: nothing committed.
    Unchanged,
    /// Committed to the local branch only (no `--publish`): push it to publish it.
    Local {
        /// The branch.
        branch: String,
        /// The new commit.
        commit: String,
    },
    /// Pushed to the release branch itself.
    Pushed {
        /// The branch.
        branch: String,
        /// The new commit.
        commit: String,
    },
    /// Pushed to a promotion branch, for a pull request into the release branch.
    ForReview {
        /// The promotion branch.
        head: String,
        /// The release branch it goes into.
        base: String,
        /// The new commit.
        commit: String,
    },
}

/// The files of a release commit, given the branch's tip (`None`: no branch yet).
pub type FilesFor<'c> = dyn Fn(Option<&str>) -> Result<Vec<File>, String> + 'c;

/// What to publish: the same files whatever the branch holds (each deployment owns its own),
/// plus any that depend on what is already there (the shared CODEOWNERS).
pub struct Change<'c> {
    /// The release branch.
    pub branch: String,
    /// The commit message: a title line, a blank line, the body.
    pub message: String,
    /// The files for `branch`'s tip (`None`: the branch does not exist yet).
    pub files: &'c FilesFor<'c>,
    /// How it is published.
    pub route: Route,
}

/// How a change is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Commit onto the local branch; push nothing.
    Local,
    /// Push to the release branch.
    Direct,
    /// Push to this promotion branch (forced: it is ours alone), for a pull request.
    Review(String),
}

/// How many times a direct push is retried after another deploy pushed first.
const PUSH_ATTEMPTS: usize = 5;

impl Branches<'_> {
    fn remote_ref(&self, branch: &str) -> String {
        format!("refs/remotes/{}/{branch}", self.remote)
    }

    /// Bring the remote's `branch` into its remote-tracking ref; a branch the remote does not
    /// have is not an error (the first release creates it).
    ///
    /// # Errors
    /// The remote cannot be reached.
    pub fn fetch(&self, branch: &str) -> Result<(), String> {
        let refspec = format!("+refs/heads/{branch}:{}", self.remote_ref(branch));
        let listed = git(
            self.root,
            &[
                "ls-remote",
                "--heads",
                self.remote,
                &format!("refs/heads/{branch}"),
            ],
            None,
            &credentials(),
        )?;
        if listed.trim().is_empty() {
            // Gone from the remote (or never there): forget a stale remote-tracking ref.
            let _ = git(
                self.root,
                &["update-ref", "-d", &self.remote_ref(branch)],
                None,
                &[],
            );
            return Ok(());
        }
        git(
            self.root,
            &["fetch", "--quiet", "--no-tags", self.remote, &refspec],
            None,
            &credentials(),
        )
        .map(drop)
    }

    /// The newest tip of `branch` this clone knows: the local branch when it contains the
    /// remote-tracking one (a rollback committed here and not pushed yet), else the
    /// remote-tracking one, else the local one.
    #[must_use]
    pub fn tip(&self, branch: &str) -> Option<String> {
        let local = resolve(self.root, &format!("refs/heads/{branch}"));
        let remote = resolve(self.root, &self.remote_ref(branch));
        match (local, remote) {
            (Some(local), Some(remote)) => {
                let contains = git(
                    self.root,
                    &["merge-base", "--is-ancestor", &remote, &local],
                    None,
                    &[],
                )
                .is_ok();
                Some(if contains { local } else { remote })
            }
            (local, remote) => remote.or(local),
        }
    }

    /// The file at `path` in `commit`, if it has one, byte for byte.
    ///
    /// # Errors
    /// git could not be run.
    pub fn read(&self, commit: &str, path: &str) -> Result<Option<String>, String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.root)
            .args(["cat-file", "blob", &format!("{commit}:{path}")])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("cannot run git: {error}"))?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    /// Every version of the release record at `path` on the branch ending at `tip`, oldest
    /// first; the last is the one served. Unreadable versions are skipped.
    ///
    /// # Errors
    /// git failed.
    pub fn history(&self, tip: &str, path: &str) -> Result<Vec<Release>, String> {
        let log = git(
            self.root,
            &["log", "--format=%H", tip, "--", path],
            None,
            &[],
        )?;
        let mut versions = Vec::new();
        for commit in log.lines().rev() {
            if let Some(text) = self.read(commit, path)?
                && let Ok(release) = serde_json::from_str::<Release>(&text)
            {
                versions.push(release);
            }
        }
        // Deleted at the tip: nothing is served, nothing to roll back from.
        if self.read(tip, path)?.is_none() {
            versions.clear();
        }
        Ok(versions)
    }

    /// The release record at `path` on `branch`'s tip, if there is one.
    ///
    /// # Errors
    /// git failed, or the record there is not a release record.
    pub fn record(&self, branch: &str, path: &str) -> Result<Option<Release>, String> {
        let Some(tip) = self.tip(branch) else {
            return Ok(None);
        };
        match self.read(&tip, path)? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text).map(Some).map_err(|error| {
                format!("`{path}` on branch `{branch}` is not a valid release record: {error}")
            }),
        }
    }

    /// A commit of `files` on top of `parent` (a root commit when there is none), or `None`
    /// when `parent` already holds exactly these files.
    fn commit(
        &self,
        parent: Option<&str>,
        files: &[File],
        message: &str,
    ) -> Result<Option<String>, String> {
        let scratch = tempfile::tempdir()
            .map_err(|error| format!("cannot make a temporary folder: {error}"))?;
        let index = scratch.path().join("index");
        let env = vec![(
            "GIT_INDEX_FILE".to_owned(),
            index.to_string_lossy().into_owned(),
        )];
        match parent {
            Some(parent) => git(self.root, &["read-tree", parent], None, &env)?,
            None => git(self.root, &["read-tree", "--empty"], None, &env)?,
        };
        for file in files {
            if file.remove {
                git(
                    self.root,
                    &["update-index", "--force-remove", &file.path],
                    None,
                    &env,
                )?;
                continue;
            }
            let blob = git(
                self.root,
                &["hash-object", "-w", "--stdin"],
                Some(file.contents.as_bytes()),
                &[],
            )?;
            git(
                self.root,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("100644,{blob},{}", file.path),
                ],
                None,
                &env,
            )?;
        }
        let tree = git(self.root, &["write-tree"], None, &env)?;
        if let Some(parent) = parent
            && git(
                self.root,
                &["rev-parse", &format!("{parent}^{{tree}}")],
                None,
                &[],
            )? == tree
        {
            return Ok(None);
        }
        let mut args = vec!["commit-tree", tree.as_str()];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        args.extend(["-F", "-"]);
        git(
            self.root,
            &args,
            Some(message.as_bytes()),
            &identity(self.root),
        )
        .map(Some)
    }

    fn push(&self, commit: &str, branch: &str, force: bool) -> Result<bool, String> {
        let refspec = format!(
            "{}{commit}:refs/heads/{branch}",
            if force { "+" } else { "" }
        );
        match git(
            self.root,
            &["push", "--quiet", "--porcelain", self.remote, &refspec],
            None,
            &credentials(),
        ) {
            Ok(_) => Ok(true),
            Err(message)
                // Another push got there first: refused as not a fast-forward by git, or, when
                // both pushes reached the server at once, by its ref lock.
                if [
                    "[rejected]",
                    "non-fast-forward",
                    "fetch first",
                    "stale info",
                    "cannot lock ref",
                    "failed to update ref",
                ]
                    .iter()
                    .any(|sign| message.contains(sign)) =>
            {
                Ok(false)
            }
            Err(message) => Err(message),
        }
    }

    /// Commit `change` on its branch's newest tip and publish it by its route. A direct push
    /// that loses a race with another deploy fetches the new tip and tries again.
    ///
    /// # Errors
    /// git failed, or the remote kept refusing the push.
    pub fn publish(&self, change: &Change<'_>) -> Result<Published, String> {
        let branch = change.branch.as_str();
        for _ in 0..PUSH_ATTEMPTS {
            if change.route != Route::Local {
                self.fetch(branch)?;
            }
            let tip = self.tip(branch);
            let files = (change.files)(tip.as_deref())?;
            let Some(commit) = self.commit(tip.as_deref(), &files, &change.message)? else {
                return Ok(Published::Unchanged);
            };
            match &change.route {
                Route::Local => {
                    let mut args = vec!["update-ref", "-m", "mlops", "--"];
                    let target = format!("refs/heads/{branch}");
                    args.push(&target);
                    args.push(&commit);
                    git(self.root, &args, None, &[])?;
                    return Ok(Published::Local {
                        branch: branch.to_owned(),
                        commit,
                    });
                }
                Route::Direct => {
                    if self.push(&commit, branch, false)? {
                        let _ = git(
                            self.root,
                            &["update-ref", &self.remote_ref(branch), &commit],
                            None,
                            &[],
                        );
                        return Ok(Published::Pushed {
                            branch: branch.to_owned(),
                            commit,
                        });
                    }
                }
                Route::Review(head) => {
                    // The base must exist for a pull request into it: the first gated release
                    // creates the branch with what does not need review (its CODEOWNERS).
                    if tip.is_none() {
                        let owners: Vec<File> = files
                            .iter()
                            .filter(|file| file.path == CODEOWNERS)
                            .cloned()
                            .collect();
                        let message = format!(
                            "start {branch}\n\nThe release branch Argo CD follows; releases arrive as pull requests."
                        );
                        if let Some(start) = self.commit(None, &owners, &message)? {
                            // Refused: someone else created it first; either way, go again.
                            self.push(&start, branch, false)?;
                        }
                        continue;
                    }
                    self.push(&commit, head, true)?;
                    return Ok(Published::ForReview {
                        head: head.clone(),
                        base: branch.to_owned(),
                        commit,
                    });
                }
            }
        }
        Err(format!(
            "`{branch}` on `{}` kept moving: {PUSH_ATTEMPTS} pushes were refused; run the deploy again",
            self.remote
        ))
    }
}

/// Where GitHub reads code owners from (on the pull request's base branch).
pub const CODEOWNERS: &str = ".github/CODEOWNERS";

/// The committer: git's own configuration when it has one, else the Actions bot (a CI
/// checkout has no `user.name`).
fn identity(root: &Path) -> Vec<(String, String)> {
    if git(root, &["var", "GIT_COMMITTER_IDENT"], None, &[]).is_ok()
        && git(root, &["var", "GIT_AUTHOR_IDENT"], None, &[]).is_ok()
    {
        return Vec::new();
    }
    let (name, email) = (
        "github-actions[bot]",
        "41898282+github-actions[bot]@users.noreply.github.com",
    );
    ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"]
        .iter()
        .map(|key| ((*key).to_owned(), name.to_owned()))
        .chain(
            ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"]
                .iter()
                .map(|key| ((*key).to_owned(), email.to_owned())),
        )
        .collect()
}

/// `existing` (the release branch's CODEOWNERS, if any) with the lines for `folder` (the
/// config's `deploy/<environment>/`, from the root) replaced by one naming `owners`. Other
/// configs' lines are kept, so several configs can share one release branch.
#[must_use]
pub fn codeowners(existing: Option<&str>, folder: &str, owners: &[String]) -> String {
    let pattern = format!("/{}/", folder.trim_matches('/'));
    let mut lines: Vec<String> = existing
        .unwrap_or("# Written by mlops: who must approve a release into this branch.\n")
        .lines()
        .filter(|line| line.split_whitespace().next() != Some(pattern.as_str()))
        .map(str::to_owned)
        .collect();
    if !owners.is_empty() {
        let owners: Vec<String> = owners
            .iter()
            .map(|owner| format!("@{}", owner.trim_start_matches('@')))
            .collect();
        lines.push(format!("{pattern} {}", owners.join(" ")));
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn promotion_branches_name_the_model() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            promotion_branch("promote", "production", "churn", &digest),
            "mlops/promote/production/churn-abababababab"
        );
    }

    #[test]
    fn codeowners_keeps_other_configs_lines() {
        let first = codeowners(None, "deploy/production", &["@acme/leads".to_owned()]);
        assert_eq!(
            first,
            "# Written by mlops: who must approve a release into this branch.\n/deploy/production/ @acme/leads\n"
        );
        let other = codeowners(
            Some(&first),
            "ml/fraud/deploy/production",
            &["@acme/risk".to_owned()],
        );
        let again = codeowners(
            Some(&other),
            "deploy/production",
            &["@acme/leads".to_owned(), "alice".to_owned()],
        );
        assert_eq!(
            again,
            "# Written by mlops: who must approve a release into this branch.\n/ml/fraud/deploy/production/ @acme/risk\n/deploy/production/ @acme/leads @alice\n"
        );
    }
}
