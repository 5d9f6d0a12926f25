//! The sticky merge-request note, through GitLab's REST API (v4), on the same HTTP stack as
//! the GitHub client (behind the `gitlab` feature). GitLab takes a project access token as
//! `Authorization: Bearer`.
//!
//! One note per config and merge request, found by the marker *and* the token's own user id
//! (`GET /user`), so a human's note that quotes the marker is never edited; the notes are
//! listed page by page following `x-next-page` (GitLab drops `x-total-pages` past 10,000
//! records). Reads and updates (`PUT`, idempotent) are retried on 5xx and 429 (honouring
//! `Retry-After`); a create is re-sent only after re-listing shows that the failed attempt did
//! not land, so a retry never posts the note twice.

use std::time::Duration;

use serde::Deserialize;

use crate::comment::marker_prefix;

/// Where to post.
#[derive(Debug, Clone)]
pub struct Target {
    /// The project: its numeric id, or its path (`group/project`).
    pub project: String,
    /// The merge request's IID (its number within the project).
    pub merge_request: u64,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new note, with its id.
    Created(u64),
    /// The existing note was updated.
    Updated(u64),
    /// The existing note already said exactly this.
    Unchanged(u64),
}

/// A failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

#[derive(Debug, Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    body: String,
    #[serde(default)]
    system: bool,
    author: Option<Author>,
}

#[derive(Debug, Deserialize)]
struct Author {
    id: u64,
}

/// A small GitLab client.
pub struct Client {
    octocrab: octocrab::Octocrab,
    /// First wait between retries (doubled each time); tests shorten it.
    pub backoff: Duration,
    /// Longest single wait, whatever the server asks for.
    pub max_wait: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

struct Response {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

/// `text` as one URL path segment or query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

fn api_error(what: &str, response: &Response) -> Error {
    let message = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .or_else(|| value.get("error"))
                .map(|message| match message {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
        })
        .unwrap_or_else(|| response.body.chars().take(300).collect());
    let hint = match response.status {
        401 => {
            ": GitLab refused the token; check MLOPS_GITLAB_TOKEN (a project access token, not CI_JOB_TOKEN)"
        }
        403 => {
            ": the token may not do this; it needs the `api` scope and at least the Reporter role"
        }
        404 => ": no such project or merge request, or the token cannot see it",
        _ => "",
    };
    Error(format!(
        "cannot {what}: GitLab answered {}: {message}{hint}",
        response.status
    ))
}

impl Client {
    /// A client for `api_base` (`$CI_API_V4_URL`, such as `https://gitlab.com/api/v4`) with
    /// `token`.
    ///
    /// # Errors
    /// An unusable API base URL.
    pub fn new(api_base: &str, token: &str) -> Result<Client, Error> {
        let api_base = api_base.trim_end_matches('/');
        let octocrab = octocrab::Octocrab::builder()
            .base_uri(api_base)
            .map_err(|error| Error(format!("CI_API_V4_URL `{api_base}` is not a URL: {error}")))?
            .personal_token(token.to_owned())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|error| Error(format!("cannot set up the GitLab client: {error}")))?;
        Ok(Client {
            octocrab,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(60),
            max_retries: 3,
        })
    }

    async fn send_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, String> {
        let result = match method {
            "GET" => self.octocrab._get(path).await,
            "PUT" => self.octocrab._put(path, body).await,
            _ => self.octocrab._post(path, body).await,
        };
        let response = result.map_err(|error| format!("{method} {path}: {error}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = self
            .octocrab
            .body_to_string(response)
            .await
            .map_err(|error| format!("{method} {path}: cannot read the answer: {error}"))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// How long to wait before retrying this answer, or `None` when it must not be retried.
    fn retry_wait(&self, response: &Response, attempt: u32) -> Option<Duration> {
        let backoff = self.backoff * 2u32.saturating_pow(attempt);
        let wait = if response.status == 429 {
            response
                .headers
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or(backoff, Duration::from_secs)
        } else if response.status >= 500 {
            backoff
        } else {
            return None;
        };
        Some(wait.min(self.max_wait))
    }

    /// Send an idempotent request, retrying within the policy.
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, Error> {
        let policy = crate::http_retry::Policy {
            backoff: self.backoff,
            max_wait: self.max_wait,
            max_retries: self.max_retries,
        };
        crate::http_retry::send(
            &policy,
            || self.send_once(method, path, body),
            |response, attempt| self.retry_wait(response, attempt),
        )
        .await
        .map_err(Error)
    }

    /// The id of the token's own user (a project access token has a bot user).
    ///
    /// # Errors
    /// The token is refused, or the network fails.
    pub async fn user_id(&self) -> Result<u64, Error> {
        let response = self.send("GET", "/user", None).await?;
        if response.status != 200 {
            return Err(api_error("read the token's user (GET /user)", &response));
        }
        serde_json::from_str::<Author>(&response.body)
            .map(|user| user.id)
            .map_err(|error| Error(format!("GET /user: unexpected answer: {error}")))
    }

    fn notes_path(target: &Target) -> String {
        format!(
            "/projects/{}/merge_requests/{}/notes",
            encode(&target.project),
            target.merge_request
        )
    }

    /// Every note of the merge request, oldest first, following `x-next-page`.
    async fn notes(&self, target: &Target) -> Result<Vec<Note>, Error> {
        let base = Self::notes_path(target);
        let mut page = "1".to_owned();
        let mut all = Vec::new();
        for _ in 0..10_000 {
            let path = format!("{base}?sort=asc&order_by=created_at&per_page=100&page={page}");
            let response = self.send("GET", &path, None).await?;
            if response.status != 200 {
                return Err(api_error("list the merge request's notes", &response));
            }
            let notes: Vec<Note> = serde_json::from_str(&response.body)
                .map_err(|error| Error(format!("GET {path}: unexpected answer: {error}")))?;
            all.extend(notes);
            let next = response
                .headers
                .get("x-next-page")
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
                .unwrap_or_default();
            if next.is_empty() {
                return Ok(all);
            }
            if next.parse::<u64>().is_err() {
                return Err(Error(format!(
                    "GitLab sent x-next-page `{next}`, which is no page number"
                )));
            }
            next.clone_into(&mut page);
        }
        Err(Error("more than 10,000 pages of notes".to_owned()))
    }

    /// Create or update the sticky note for `key` with `body`, as the user `author`.
    ///
    /// # Errors
    /// Network and API failures, with GitLab's message.
    pub async fn upsert(
        &self,
        target: &Target,
        author: u64,
        key: &str,
        body: &str,
    ) -> Result<Outcome, Error> {
        let prefix = marker_prefix(key);
        let mine = |note: &Note| {
            !note.system
                && note.body.starts_with(&prefix)
                && note.author.as_ref().is_some_and(|user| user.id == author)
        };
        let existing = self
            .notes(target)
            .await?
            .into_iter()
            .find(|note| mine(note));
        let payload = serde_json::json!({ "body": body });
        let base = Self::notes_path(target);
        if let Some(note) = existing {
            if note.body == body {
                return Ok(Outcome::Unchanged(note.id));
            }
            let path = format!("{base}/{}", note.id);
            let response = self.send("PUT", &path, Some(&payload)).await?;
            return match response.status {
                200 => Ok(Outcome::Updated(note.id)),
                _ => Err(api_error("update the note", &response)),
            };
        }
        for attempt in 0..=self.max_retries {
            let failed = match self.send_once("POST", &base, Some(&payload)).await {
                Ok(response) if response.status == 201 || response.status == 200 => {
                    let created: Note = serde_json::from_str(&response.body).map_err(|error| {
                        Error(format!("POST {base}: unexpected answer: {error}"))
                    })?;
                    return Ok(Outcome::Created(created.id));
                }
                Ok(response) => {
                    let Some(wait) = self.retry_wait(&response, attempt) else {
                        return Err(api_error("create the note", &response));
                    };
                    if attempt == self.max_retries {
                        return Err(api_error("create the note", &response));
                    }
                    (wait, response.status >= 500)
                }
                Err(message) => {
                    if attempt == self.max_retries {
                        return Err(Error(message));
                    }
                    (
                        (self.backoff * 2u32.saturating_pow(attempt)).min(self.max_wait),
                        true,
                    )
                }
            };
            let (wait, may_have_landed) = failed;
            tokio::time::sleep(wait).await;
            if may_have_landed
                && let Some(landed) = self
                    .notes(target)
                    .await?
                    .into_iter()
                    .find(|note| mine(note))
            {
                return Ok(Outcome::Created(landed.id));
            }
        }
        Err(Error("could not create the note".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn project_paths_are_one_segment() {
        assert_eq!(encode("group/sub/project"), "group%2Fsub%2Fproject");
        assert_eq!(encode("42"), "42");
    }
}
