//! This build's identity: the repository it comes from (`Cargo.toml`) and the commit it was
//! built from (embedded by `build.rs`), which make the default `ci.github_action`.

/// `https://github.com/OWNER/NAME`, from `Cargo.toml`.
pub const REPOSITORY_URL: &str = env!("CARGO_PKG_REPOSITORY");

/// The commit this binary was built from, when the build knew it.
#[must_use]
pub fn commit() -> Option<&'static str> {
    let commit = env!("MLOPS_BUILD_COMMIT_ID");
    (!commit.is_empty()).then_some(commit)
}

/// `OWNER/NAME` of the mlops repository on GitHub.
#[must_use]
pub fn repository() -> &'static str {
    REPOSITORY_URL
        .strip_prefix("https://github.com/")
        .unwrap_or(REPOSITORY_URL)
        .trim_end_matches('/')
}

/// `OWNER/NAME@COMMIT`: the mlops action of exactly this build, when its commit is known.
#[must_use]
pub fn default_github_action() -> Option<String> {
    commit().map(|commit| format!("{}@{commit}", repository()))
}

/// `mlops --version`: the version and the commit, or `(commit unknown)`.
pub const VERSION: &str = env!("MLOPS_VERSION_TEXT");

#[cfg(test)]
mod tests {
    #[test]
    fn the_repository_is_an_owner_and_a_name() {
        let repository = super::repository();
        let parts: Vec<&str> = repository.split('/').collect();
        assert_eq!(parts.len(), 2, "{repository}");
        assert!(parts.iter().all(|part| !part.is_empty()));
    }

    #[test]
    fn the_default_action_pins_the_build_commit() {
        match super::commit() {
            Some(commit) => {
                assert_eq!(commit.len(), 40);
                assert_eq!(
                    super::default_github_action().unwrap(),
                    format!("{}@{commit}", super::repository())
                );
            }
            None => assert!(super::default_github_action().is_none()),
        }
    }
}
