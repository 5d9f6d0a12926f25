//! The sticky pull-request comment, through GitHub's REST API (octocrab's HTTP client, behind
//! the `github` feature).
//!
//! One comment per config and pull request: a hidden marker carries a key (several configs in
//! one repository keep separate comments) and the head SHA the report was made for. The tool
//! finds its own comment (only one written by the token's identity: someone quoting the marker
//! cannot make it overwrite theirs), across every page of comments, and updates it in place.
//!
//! Retries are bounded and never blind: reads and updates (idempotent) are retried on 5xx, 429
//! and rate-limit 403s, honouring `retry-after` and `x-ratelimit-reset`; a create is retried
//! only after a rate-limit refusal (GitHub did not process it) or after re-listing shows that a
//! failed attempt did not land, so a retry can never post the comment twice.

use std::time::Duration;

use serde::Deserialize;

use crate::comment::marker_prefix;

/// Where to comment.
#[derive(Debug, Clone)]
pub struct Target {
    /// API base, such as `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_base: String,
    /// `owner/repo`.
    pub repository: String,
    /// Pull request number.
    pub pr: u64,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new comment, with its id.
    Created(u64),
    /// The existing comment was updated.
    Updated(u64),
    /// The existing comment already said exactly this.
    Unchanged(u64),
}

/// A failure, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

/// A small GitHub client: octocrab's HTTP stack, our retry policy.
pub struct Client {
    octocrab: octocrab::Octocrab,
    api_base: String,
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

impl Client {
    /// A client for `api_base` with `token`.
    ///
    /// # Errors
    /// An unusable API base URL.
    pub fn new(api_base: &str, token: &str) -> Result<Client, Error> {
        let api_base = api_base.trim_end_matches('/').to_owned();
        let octocrab = octocrab::Octocrab::builder()
            .base_uri(api_base.as_str())
            .map_err(|error| Error(format!("GITHUB_API_URL `{api_base}` is not a URL: {error}")))?
            .personal_token(token.to_owned())
            .add_header(
                http::header::ACCEPT,
                "application/vnd.github+json".to_owned(),
            )
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|error| Error(format!("cannot set up the GitHub client: {error}")))?;
        Ok(Client {
            octocrab,
            api_base,
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

    /// How long GitHub asks us to wait before retrying, if this answer is a rate limit or a
    /// server error; `None` when it must not be retried.
    fn retry_wait(&self, response: &Response, attempt: u32) -> Option<Duration> {
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
        };
        let rate_limited = response.status == 429
            || (response.status == 403
                && (header("retry-after").is_some() || header("x-ratelimit-remaining") == Some(0)));
        let backoff = self.backoff * 2u32.saturating_pow(attempt);
        let wait = if rate_limited {
            if let Some(seconds) = header("retry-after") {
                Duration::from_secs(seconds)
            } else if let Some(reset) = header("x-ratelimit-reset") {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |now| now.as_secs());
                Duration::from_secs(reset.saturating_sub(now).max(1))
            } else {
                backoff
            }
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

    /// The login of the token's identity. An Actions token cannot read `/user`; its comments
    /// are written by `github-actions[bot]`.
    ///
    /// # Errors
    /// Network failures.
    pub async fn login(&self) -> Result<String, Error> {
        let response = self.send("GET", "/user", None).await?;
        match response.status {
            200 => serde_json::from_str::<User>(&response.body)
                .map(|user| user.login)
                .map_err(|error| Error(format!("GET /user: unexpected answer: {error}"))),
            401 => Err(Error(
                "GitHub refused the token (401): check GITHUB_TOKEN".to_owned(),
            )),
            _ => Ok("github-actions[bot]".to_owned()),
        }
    }

    /// Every comment of the pull request, following `Link: rel="next"` across pages.
    async fn comments(&self, target: &Target) -> Result<Vec<Comment>, Error> {
        let path = format!(
            "/repos/{}/issues/{}/comments?per_page=100",
            target.repository, target.pr
        );
        self.every_page(path, "list the pull request's comments", "comments")
            .await
    }

    /// Every item of a listing, from `path` on across its `Link: rel="next"` pages (only ever
    /// to the same API, with the token).
    async fn every_page<T: serde::de::DeserializeOwned>(
        &self,
        mut path: String,
        what: &str,
        items: &str,
    ) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        for _ in 0..1000 {
            let response = self.send("GET", &path, None).await?;
            if response.status != 200 {
                return Err(api_error(what, &response));
            }
            let page: Vec<T> = serde_json::from_str(&response.body)
                .map_err(|error| Error(format!("GET {path}: unexpected answer: {error}")))?;
            all.extend(page);
            match next_link(&response.headers) {
                Some(next) => match next.strip_prefix(&self.api_base) {
                    Some(rest) => path = rest.to_owned(),
                    None => {
                        return Err(Error(format!(
                            "GitHub sent a next-page link outside {}: {next}",
                            self.api_base
                        )));
                    }
                },
                None => return Ok(all),
            }
        }
        Err(Error(format!("more than 1,000 pages of {items}")))
    }

    /// The open pull request of `repository` whose head is `head` (`owner:branch`) at commit
    /// `sha`. The commit must match, so a branch pushed again since cannot be mistaken for it.
    ///
    /// # Errors
    /// No such pull request, or an API failure.
    pub async fn pull_request_for(
        &self,
        repository: &str,
        head: &str,
        sha: &str,
    ) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Pull {
            number: u64,
            head: Head,
        }
        #[derive(Deserialize)]
        struct Head {
            sha: String,
        }
        let encoded = query_value(head);
        let path = format!("/repos/{repository}/pulls?state=open&head={encoded}&per_page=100");
        let response = self.send("GET", &path, None).await?;
        if response.status != 200 {
            return Err(api_error("find the pull request", &response));
        }
        let pulls: Vec<Pull> = serde_json::from_str(&response.body)
            .map_err(|error| Error(format!("GET {path}: unexpected answer: {error}")))?;
        pulls
            .into_iter()
            .find(|pull| pull.head.sha == sha)
            .map(|pull| pull.number)
            .ok_or_else(|| {
                Error(format!(
                    "no open pull request of {repository} has head {head} at {sha}"
                ))
            })
    }

    /// Create or update the sticky comment for `key` with `body`.
    ///
    /// # Errors
    /// Network and API failures, with GitHub's message.
    pub async fn upsert(
        &self,
        target: &Target,
        author: &str,
        key: &str,
        body: &str,
    ) -> Result<Outcome, Error> {
        let prefix = marker_prefix(key);
        let mine = |comment: &Comment| {
            comment
                .body
                .as_deref()
                .is_some_and(|text| text.starts_with(&prefix))
                && comment
                    .user
                    .as_ref()
                    .is_some_and(|user| user.login == author)
        };
        let existing = self
            .comments(target)
            .await?
            .into_iter()
            .find(|comment| mine(comment));
        let payload = serde_json::json!({ "body": body });
        if let Some(comment) = existing {
            if comment.body.as_deref() == Some(body) {
                return Ok(Outcome::Unchanged(comment.id));
            }
            let path = format!(
                "/repos/{}/issues/comments/{}",
                target.repository, comment.id
            );
            let response = self.send("POST", &path, Some(&payload)).await?;
            return match response.status {
                200 => Ok(Outcome::Updated(comment.id)),
                _ => Err(api_error("update the comment", &response)),
            };
        }
        let path = format!("/repos/{}/issues/{}/comments", target.repository, target.pr);
        for attempt in 0..=self.max_retries {
            let outcome = self.send_once("POST", &path, Some(&payload)).await;
            match outcome {
                Ok(response) if response.status == 201 => {
                    let created: Comment =
                        serde_json::from_str(&response.body).map_err(|error| {
                            Error(format!("POST {path}: unexpected answer: {error}"))
                        })?;
                    return Ok(Outcome::Created(created.id));
                }
                Ok(response) => {
                    let Some(wait) = self.retry_wait(&response, attempt) else {
                        return Err(api_error("create the comment", &response));
                    };
                    if attempt == self.max_retries {
                        return Err(api_error("create the comment", &response));
                    }
                    tokio::time::sleep(wait).await;
                    if response.status >= 500 {
                        // The create may have landed before the error: look before posting again.
                        if let Some(landed) = self
                            .comments(target)
                            .await?
                            .into_iter()
                            .find(|comment| mine(comment))
                        {
                            return Ok(Outcome::Created(landed.id));
                        }
                    }
                }
                Err(message) => {
                    if attempt == self.max_retries {
                        return Err(Error(message));
                    }
                    tokio::time::sleep(
                        (self.backoff * 2u32.saturating_pow(attempt)).min(self.max_wait),
                    )
                    .await;
                    if let Some(landed) = self
                        .comments(target)
                        .await?
                        .into_iter()
                        .find(|comment| mine(comment))
                    {
                        return Ok(Outcome::Created(landed.id));
                    }
                }
            }
        }
        Err(Error("could not create the comment".to_owned()))
    }
}

/// An opened (or found) pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// True when it was already open (its branch was pushed again), false when just created.
    pub existed: bool,
}

impl Client {
    /// The open pull request from `head` (a branch of `repository`) into `base`, or a new one
    /// with `title` and `body`. Pushing a promotion again updates its pull request; it never
    /// opens a second one.
    ///
    /// # Errors
    /// API failures, with GitHub's message and what to set.
    pub async fn open_pull_request(
        &self,
        repository: &str,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest, Error> {
        #[derive(Deserialize)]
        struct Pull {
            number: u64,
            html_url: String,
        }
        let owner = repository.split('/').next().unwrap_or_default();
        let query = query_value(&format!("{owner}:{head}"));
        let path = format!("/repos/{repository}/pulls?state=open&head={query}&per_page=100");
        let response = self.send("GET", &path, None).await?;
        if response.status != 200 {
            return Err(api_error("look for the promotion pull request", &response));
        }
        let open: Vec<Pull> = serde_json::from_str(&response.body)
            .map_err(|error| Error(format!("GET {path}: unexpected answer: {error}")))?;
        if let Some(pull) = open.into_iter().next() {
            return Ok(PullRequest {
                number: pull.number,
                url: pull.html_url,
                existed: true,
            });
        }
        let path = format!("/repos/{repository}/pulls");
        let payload =
            serde_json::json!({ "title": title, "head": head, "base": base, "body": body });
        // Not retried blindly: a create that failed may have landed, so look again first.
        for attempt in 0..=self.max_retries {
            let response = self.send_once("POST", &path, Some(&payload)).await;
            match response {
                Ok(response) if response.status == 201 => {
                    let pull: Pull = serde_json::from_str(&response.body).map_err(|error| {
                        Error(format!("POST {path}: unexpected answer: {error}"))
                    })?;
                    return Ok(PullRequest {
                        number: pull.number,
                        url: pull.html_url,
                        existed: false,
                    });
                }
                Ok(response)
                    if response.status == 403
                        && response.body.contains("not permitted to create") =>
                {
                    return Err(Error(
                        "GitHub refused to let the workflow open the promotion pull request: turn on \
                         \"Allow GitHub Actions to create and approve pull requests\" (Settings > Actions > \
                         General > Workflow permissions)"
                            .to_owned(),
                    ));
                }
                Ok(response) => {
                    let retry = self.retry_wait(&response, attempt);
                    match retry {
                        Some(wait) if attempt < self.max_retries => tokio::time::sleep(wait).await,
                        _ => return Err(api_error("open the promotion pull request", &response)),
                    }
                }
                Err(message) => {
                    if attempt == self.max_retries {
                        return Err(Error(message));
                    }
                    tokio::time::sleep(
                        (self.backoff * 2u32.saturating_pow(attempt)).min(self.max_wait),
                    )
                    .await;
                }
            }
            let response = self
                .send(
                    "GET",
                    &format!("/repos/{repository}/pulls?state=open&head={query}&per_page=100"),
                    None,
                )
                .await?;
            if response.status == 200
                && let Ok(open) = serde_json::from_str::<Vec<Pull>>(&response.body)
                && let Some(pull) = open.into_iter().next()
            {
                return Ok(PullRequest {
                    number: pull.number,
                    url: pull.html_url,
                    existed: false,
                });
            }
        }
        Err(Error(
            "could not open the promotion pull request".to_owned(),
        ))
    }

    /// What the rulesets on `branch` require of a pull request into it: the most approving
    /// reviews any `pull_request` rule asks for, and whether one asks for code-owner review;
    /// `None` when no ruleset rule applies. (Classic branch protection cannot be read with an
    /// Actions token; rulesets can.)
    ///
    /// # Errors
    /// API failures, with GitHub's message.
    pub async fn review_rules(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<(u64, bool)>, Error> {
        let path = format!("/repos/{repository}/rules/branches/{branch}");
        let response = self.send("GET", &path, None).await?;
        if response.status != 200 {
            return Err(api_error("read the release branch's rules", &response));
        }
        let rules: Vec<serde_json::Value> = serde_json::from_str(&response.body)
            .map_err(|error| Error(format!("GET {path}: unexpected answer: {error}")))?;
        let mut found: Option<(u64, bool)> = None;
        for rule in rules.iter().filter(|rule| rule["type"] == "pull_request") {
            let count = rule["parameters"]["required_approving_review_count"]
                .as_u64()
                .unwrap_or(0);
            let owners = rule["parameters"]["require_code_owner_review"]
                .as_bool()
                .unwrap_or(false);
            let (before, owned) = found.unwrap_or((0, false));
            found = Some((before.max(count), owned || owners));
        }
        Ok(found)
    }

    /// Ask `users` (logins, not teams: an Actions token cannot request teams, so the release
    /// branch's CODEOWNERS does that) to review pull request `number`.
    ///
    /// # Errors
    /// API failures, with GitHub's message.
    pub async fn request_reviewers(
        &self,
        repository: &str,
        number: u64,
        users: &[String],
    ) -> Result<(), Error> {
        if users.is_empty() {
            return Ok(());
        }
        let path = format!("/repos/{repository}/pulls/{number}/requested_reviewers");
        let payload = serde_json::json!({ "reviewers": users });
        let response = self.send("POST", &path, Some(&payload)).await?;
        match response.status {
            201 | 200 => Ok(()),
            _ => Err(api_error("request the reviewers", &response)),
        }
    }
}

/// `text` percent-encoded for a query string (`owner:branch`, with its `/`s).
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn api_error(what: &str, response: &Response) -> Error {
    let message = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .and_then(|message| message.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| response.body.chars().take(200).collect());
    let hint = match response.status {
        401 => " (check GITHUB_TOKEN)",
        403 | 404 => {
            " (the token needs `pull-requests: write`; a pull request from a fork gets a read-only token)"
        }
        _ => "",
    };
    Error(format!(
        "cannot {what}: GitHub answered {}: {message}{hint}",
        response.status
    ))
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|param| param.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// The drift issue as it should read.
#[derive(Debug, Clone, Copy)]
pub struct DriftIssue<'a> {
    /// The label the tool's issues carry (how it lists them).
    pub label: &'a str,
    /// The hidden first line that identifies the issue.
    pub marker: &'a str,
    /// Its title.
    pub title: &'a str,
    /// Its body, starting with `marker`.
    pub body: &'a str,
}

/// What the deployment's drift issue became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// Opened, with its number.
    Opened(u64),
    /// Updated with the latest judgement (still open).
    Updated(u64),
    /// Reopened: drift is back.
    Reopened(u64),
    /// Closed: drift is gone.
    Closed(u64),
    /// Already said exactly this.
    Unchanged(u64),
    /// No drift and no open issue: nothing to do.
    Nothing,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
    state: String,
    /// Present when the "issue" is a pull request (the issues API lists both).
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

impl Client {
    /// Every issue of `repository` with `label`, open or closed, across every page (pull
    /// requests, which the issues API lists too, left out).
    async fn labelled_issues(&self, repository: &str, label: &str) -> Result<Vec<Issue>, Error> {
        let path = format!(
            "/repos/{repository}/issues?state=all&labels={}&per_page=100",
            query_value(label)
        );
        let issues: Vec<Issue> = self
            .every_page(path, "list the repository's issues", "issues")
            .await?;
        Ok(issues
            .into_iter()
            .filter(|issue| issue.pull_request.is_none())
            .collect())
    }

    /// Keep the one drift issue of a deployment true: while `drifting`, open (or reopen) it
    /// with `body`; once drift is gone, close it with `body`. The issue is found by `marker`
    /// (its first line) and `author` (someone quoting the marker cannot make the tool edit
    /// theirs), among the issues labelled `label`.
    ///
    /// # Errors
    /// Network and API failures, with GitHub's message.
    pub async fn sync_issue(
        &self,
        repository: &str,
        author: &str,
        issue: &DriftIssue<'_>,
        drifting: bool,
    ) -> Result<IssueOutcome, Error> {
        let DriftIssue {
            label,
            marker,
            title,
            body,
        } = *issue;
        let mine = |issue: &Issue| {
            issue
                .body
                .as_deref()
                .is_some_and(|text| text.starts_with(marker))
                && issue.user.as_ref().is_some_and(|user| user.login == author)
        };
        let issues = self.labelled_issues(repository, label).await?;
        // The open one if there is one, else the most recent.
        let existing = issues
            .iter()
            .filter(|issue| mine(issue))
            .max_by_key(|issue| (issue.state == "open", issue.number));
        let Some(issue) = existing else {
            if !drifting {
                return Ok(IssueOutcome::Nothing);
            }
            let path = format!("/repos/{repository}/issues");
            let payload = serde_json::json!({ "title": title, "body": body, "labels": [label] });
            return self
                .create_issue(&path, &payload, repository, label, &mine)
                .await;
        };
        let open = issue.state == "open";
        if !drifting && !open {
            return Ok(IssueOutcome::Nothing);
        }
        if open == drifting && issue.body.as_deref() == Some(body) {
            return Ok(IssueOutcome::Unchanged(issue.number));
        }
        let state = if drifting { "open" } else { "closed" };
        let payload = if drifting {
            serde_json::json!({ "title": title, "body": body, "state": state })
        } else {
            serde_json::json!({ "body": body, "state": state, "state_reason": "completed" })
        };
        let path = format!("/repos/{repository}/issues/{}", issue.number);
        let response = self.send("POST", &path, Some(&payload)).await?;
        if response.status != 200 {
            return Err(api_error("update the drift issue", &response));
        }
        Ok(match (open, drifting) {
            (true, true) => IssueOutcome::Updated(issue.number),
            (false, true) => IssueOutcome::Reopened(issue.number),
            _ => IssueOutcome::Closed(issue.number),
        })
    }

    /// Create the issue, retrying only when GitHub did not process the attempt (a rate
    /// limit) or when listing again shows a failed attempt did not land.
    async fn create_issue(
        &self,
        path: &str,
        payload: &serde_json::Value,
        repository: &str,
        label: &str,
        mine: &dyn Fn(&Issue) -> bool,
    ) -> Result<IssueOutcome, Error> {
        for attempt in 0..=self.max_retries {
            let outcome = self.send_once("POST", path, Some(payload)).await;
            let wait = match &outcome {
                Ok(response) if response.status == 201 => {
                    let created: Issue = serde_json::from_str(&response.body).map_err(|error| {
                        Error(format!("POST {path}: unexpected answer: {error}"))
                    })?;
                    return Ok(IssueOutcome::Opened(created.number));
                }
                Ok(response) => match self.retry_wait(response, attempt) {
                    Some(wait) if attempt < self.max_retries => wait,
                    _ => return Err(api_error("open the drift issue", response)),
                },
                Err(message) if attempt == self.max_retries => return Err(Error(message.clone())),
                Err(_) => (self.backoff * 2u32.saturating_pow(attempt)).min(self.max_wait),
            };
            tokio::time::sleep(wait).await;
            let rate_limited = matches!(&outcome, Ok(response) if response.status < 500);
            if !rate_limited
                && let Some(landed) = self
                    .labelled_issues(repository, label)
                    .await?
                    .into_iter()
                    .find(|issue| mine(issue) && issue.state == "open")
            {
                return Ok(IssueOutcome::Opened(landed.number));
            }
        }
        Err(Error("could not open the drift issue".to_owned()))
    }
}
