//! The sticky comment's body, shared by `mlops comment` and its `--dry-run` (which needs no
//! network and no `github` feature): the hidden marker and GitHub's size limit.

/// GitHub's limit on a comment body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// The hidden first line that marks the tool's comment for `key`.
#[must_use]
pub fn marker(key: &str, head_sha: &str) -> String {
    format!(
        "<!-- mlops-report key=\"{}\" sha=\"{}\" -->",
        key.replace(['"', '-', '>'], "_"),
        head_sha.replace(['"', '-', '>'], "_")
    )
}

/// What identifies the tool's comment for `key`, whatever head SHA it was made for.
#[must_use]
pub fn marker_prefix(key: &str) -> String {
    format!(
        "<!-- mlops-report key=\"{}\" ",
        key.replace(['"', '-', '>'], "_")
    )
}

/// The hidden first line of the drift issue of `deployment` in the config `key`: the issue's
/// identity, as the marker is the comment's.
#[must_use]
pub fn issue_marker(key: &str, deployment: &str) -> String {
    format!(
        "<!-- mlops-monitor key=\"{}\" deployment=\"{}\" -->",
        key.replace(['"', '-', '>'], "_"),
        deployment.replace(['"', '-', '>'], "_")
    )
}

/// GitLab's limit on a note body, in characters ("is too long (maximum is 1000000
/// characters)").
pub const GITLAB_MAX_BODY_CHARS: usize = 1_000_000;

/// The comment body: the marker, then the report; trimmed under GitHub's limit (the generated
/// file diffs go first, then the tail), with a note saying so.
#[must_use]
pub fn body(marker: &str, full: &str, without_diffs: &str) -> String {
    body_within(
        marker,
        full,
        without_diffs,
        MAX_BODY_CHARS,
        "GitHub's comment limit",
    )
}

/// [`body`] under `limit` characters; `limit_name` says whose limit in the trimming note.
#[must_use]
pub fn body_within(
    marker: &str,
    full: &str,
    without_diffs: &str,
    limit: usize,
    limit_name: &str,
) -> String {
    let note_diffs = format!(
        "\n> ✂️ The diffs of generated files were left out to fit {limit_name}; \
         the full report is in the pipeline's artifacts or summary.\n"
    );
    let fits = |text: &str| marker.chars().count() + 1 + text.chars().count() <= limit;
    if fits(full) {
        return format!("{marker}\n{full}");
    }
    let trimmed = format!("{without_diffs}{note_diffs}");
    if fits(&trimmed) {
        return format!("{marker}\n{trimmed}");
    }
    let note = format!(
        "\n\n> ✂️ Trimmed to fit {limit_name}; the full report is in the pipeline's artifacts or summary.\n"
    );
    let room = limit.saturating_sub(marker.chars().count() + 1 + note.chars().count());
    let head: String = without_diffs.chars().take(room).collect();
    format!("{marker}\n{head}{note}")
}

#[cfg(test)]
mod tests {
    use super::{MAX_BODY_CHARS, body, marker, marker_prefix};

    #[test]
    fn markers_carry_key_and_sha_and_cannot_close_early() {
        assert_eq!(
            marker("mlops.yaml", "abc"),
            "<!-- mlops-report key=\"mlops.yaml\" sha=\"abc\" -->"
        );
        assert!(marker("a-->b", "c").starts_with(&marker_prefix("a-->b")));
        assert!(!marker("a-->b", "c").contains("a-->"));
    }

    #[test]
    fn long_reports_lose_the_diffs_first_then_the_tail() {
        let short = "x".repeat(100);
        assert_eq!(
            body("<!-- m -->", &short, &short),
            format!("<!-- m -->\n{short}")
        );
        let huge_diffs = format!("{short}{}", "d".repeat(MAX_BODY_CHARS));
        let trimmed = body("<!-- m -->", &huge_diffs, &short);
        assert!(trimmed.contains("diffs of generated files were left out"));
        assert!(trimmed.chars().count() <= MAX_BODY_CHARS);
        let huge = "y".repeat(MAX_BODY_CHARS * 2);
        let trimmed = body("<!-- m -->", &huge, &huge);
        assert!(trimmed.chars().count() <= MAX_BODY_CHARS);
        assert!(trimmed.ends_with("summary.\n"));
    }
}
