//! The sticky comment against a local HTTP server (wiremock) that answers as GitHub's REST API
//! documents: `Link` pagination, `x-ratelimit-*` and `retry-after` headers, 403 rate limits and
//! 502s. Each test asserts the exact requests sent, so a duplicated create cannot hide.
#![cfg(feature = "github")]

use std::time::Duration;

mod common;

use mlops::github::{Client, Outcome, Target};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "mlops.yaml";
const ME: &str = "mlops-bot";

fn connect(server: &MockServer, prefix: &str) -> (Client, Target) {
    let api_base = format!("{}{prefix}", server.uri());
    let mut client = Client::new(&api_base, "t0ken").unwrap();
    client.backoff = Duration::from_millis(10);
    client.max_wait = Duration::from_millis(50);
    let target = Target {
        api_base,
        repository: "acme/churn".to_owned(),
        pr: 7,
    };
    (client, target)
}

fn body(text: &str) -> String {
    format!("{}\n{text}", mlops::comment::marker(KEY, "abc123"))
}

fn comment(id: u64, login: &str, text: &str) -> serde_json::Value {
    json!({ "id": id, "body": text, "user": { "login": login, "type": "Bot" },
            "html_url": format!("https://github.com/acme/churn/pull/7#issuecomment-{id}") })
}

/// (method, path and query) of every request the server received, in order.
async fn requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            let query = request
                .url
                .query()
                .map(|query| format!("?{query}"))
                .unwrap_or_default();
            format!("{} {}{query}", request.method, request.url.path())
        })
        .collect()
}

#[tokio::test]
async fn updates_its_own_comment_found_on_the_second_page() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    let list = "/repos/acme/churn/issues/7/comments";
    let next = format!("{}{list}?per_page=100&page=2", server.uri());
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("<{next}>; rel=\"next\", <{next}>; rel=\"last\"").as_str(),
                )
                .insert_header("x-ratelimit-remaining", "4999")
                .set_body_json(json!([
                    comment(1, "alice", "LGTM"),
                    // Someone quoting the marker: never edited.
                    comment(2, "alice", &body("quoted")),
                ])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(
            42,
            ME,
            &body("old report")
        )])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/comments/42"))
        .and(header("authorization", "Bearer t0ken"))
        .and(body_json(json!({ "body": body("new report") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(comment(
            42,
            ME,
            &body("new report"),
        )))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = client
        .upsert(&target, ME, KEY, &body("new report"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Updated(42));
    assert_eq!(
        requests(&server).await,
        [
            "GET /repos/acme/churn/issues/7/comments?per_page=100",
            "GET /repos/acme/churn/issues/7/comments?per_page=100&page=2",
            "POST /repos/acme/churn/issues/comments/42",
        ]
    );
}

#[tokio::test]
async fn creates_once_when_it_has_no_comment_and_leaves_an_identical_one_alone() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "/api/v3");
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/acme/churn/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(
            2,
            "alice",
            &body("quoted")
        )])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v3/repos/acme/churn/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(99, ME, &body("report"))))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client
        .upsert(&target, ME, KEY, &body("report"))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Created(99),
        "GitHub Enterprise's /api/v3 prefix is kept"
    );

    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(
            5,
            ME,
            &body("same")
        )])))
        .mount(&server)
        .await;
    let outcome = client
        .upsert(&target, ME, KEY, &body("same"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Unchanged(5));
    assert_eq!(
        requests(&server).await,
        ["GET /repos/acme/churn/issues/7/comments?per_page=100"]
    );
}

#[tokio::test]
async fn waits_out_a_rate_limit_then_continues() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-remaining", "0")
                .set_body_json(json!({ "message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api" })),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(7, ME, &body("r"))))
        .mount(&server)
        .await;
    assert_eq!(
        client.upsert(&target, ME, KEY, &body("r")).await.unwrap(),
        Outcome::Created(7)
    );
    assert_eq!(
        requests(&server).await,
        [
            "GET /repos/acme/churn/issues/7/comments?per_page=100",
            "GET /repos/acme/churn/issues/7/comments?per_page=100",
            "POST /repos/acme/churn/issues/7/comments",
        ]
    );
}

#[tokio::test]
async fn a_502_on_create_is_retried_only_after_checking_it_did_not_land() {
    // The first create fails with a 502 and did not land: one look, then one more create.
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(8, ME, &body("r"))))
        .mount(&server)
        .await;
    assert_eq!(
        client.upsert(&target, ME, KEY, &body("r")).await.unwrap(),
        Outcome::Created(8)
    );
    let sent = requests(&server).await;
    assert_eq!(
        sent.iter()
            .filter(|request| request.starts_with("POST"))
            .count(),
        2,
        "{sent:?}"
    );
    assert_eq!(
        sent[2], "GET /repos/acme/churn/issues/7/comments?per_page=100",
        "looked first: {sent:?}"
    );

    // The 502 came after GitHub stored the comment: it is found, and not posted again.
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([comment(9, ME, &body("r"))])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    assert_eq!(
        client.upsert(&target, ME, KEY, &body("r")).await.unwrap(),
        Outcome::Created(9)
    );
    let sent = requests(&server).await;
    assert_eq!(
        sent.iter()
            .filter(|request| request.starts_with("POST"))
            .count(),
        1,
        "{sent:?}"
    );
}

#[tokio::test]
async fn gives_up_after_a_bounded_number_of_server_errors_with_the_reason() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({ "message": "Service Unavailable" })),
        )
        .mount(&server)
        .await;
    let error = client
        .upsert(&target, ME, KEY, &body("r"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("503: Service Unavailable"),
        "{error}"
    );
    assert_eq!(
        requests(&server).await.len(),
        4,
        "the first attempt and 3 retries"
    );
}

#[tokio::test]
async fn a_read_only_token_is_explained() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server, "");
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .mount(&server)
        .await;
    let error = client
        .upsert(&target, ME, KEY, &body("r"))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Resource not accessible by integration"),
        "{error}"
    );
    assert!(
        error.to_string().contains("pull-requests: write"),
        "{error}"
    );
    assert_eq!(
        requests(&server)
            .await
            .iter()
            .filter(|request| request.starts_with("POST"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_token_identity_comes_from_user_or_is_the_actions_bot() {
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "login": "octocat", "id": 1 })),
        )
        .mount(&server)
        .await;
    assert_eq!(client.login().await.unwrap(), "octocat");
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .mount(&server)
        .await;
    assert_eq!(client.login().await.unwrap(), "github-actions[bot]");
}

/// `mlops comment` end to end: the binary, the environment GitHub Actions sets, the server.
#[tokio::test]
async fn the_command_posts_the_report_with_the_marker_for_its_config() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/issues/3/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/3/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(
            11,
            "github-actions[bot]",
            "x",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let uri = server.uri();
    let output = tokio::task::spawn_blocking(move || {
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn");
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn/base");
        assert_cmd::Command::cargo_bin("mlops")
            .unwrap()
            .env("GITHUB_API_URL", uri)
            .env("GITHUB_TOKEN", "t0ken")
            .env("GITHUB_REPOSITORY", "acme/churn")
            .env("GITHUB_SHA", "f00d")
            .env_remove("GITHUB_EVENT_PATH")
            .args(["comment", example, "--base-dir", base, "--pr", "3"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("created comment 11 on acme/churn#3"));
    let received = server.received_requests().await.unwrap();
    let post = received
        .iter()
        .find(|request| request.method.as_str() == "POST")
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    let text = sent["body"].as_str().unwrap();
    // The key is the config's path from the repository root (this checkout), so that several
    // configs of one repository keep one comment each.
    assert!(text.starts_with("<!-- mlops-report key=\"examples/churn/mlops.yaml\" sha=\"f00d\" -->\n### ✅ the gate passed: churn-quality"), "{text}");
}

#[tokio::test]
async fn a_fork_pull_request_is_found_by_its_head_branch_and_commit() {
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .and(query_param("state", "open"))
        .and(query_param("head", "forker:fix/auc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "number": 13, "head": { "sha": "0ld", "ref": "fix/auc" } },
            { "number": 12, "head": { "sha": "abc123", "ref": "fix/auc" } },
        ])))
        .mount(&server)
        .await;
    assert_eq!(
        client
            .pull_request_for("acme/churn", "forker:fix/auc", "abc123")
            .await
            .unwrap(),
        12
    );
    let error = client
        .pull_request_for("acme/churn", "forker:fix/auc", "n3w")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no open pull request of acme/churn has head forker:fix/auc at n3w"),
        "{error}"
    );
    let sent = requests(&server).await;
    assert_eq!(
        sent[0],
        "GET /repos/acme/churn/pulls?state=open&head=forker:fix%2Fauc&per_page=100"
    );
}

/// The fork path end to end: a report file (the artifact), the PR found by head, the comment.
#[tokio::test]
async fn the_command_posts_a_rendered_report_for_a_fork() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{ "number": 4, "head": { "sha": "beef" } }])),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/issues/4/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/4/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(comment(
            21,
            "github-actions[bot]",
            "x",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let report = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(report.path(), "### ✅ the gate passed: churn-quality\n").unwrap();
    let uri = server.uri();
    let report_path = report.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("mlops")
            .unwrap()
            .env("GITHUB_API_URL", uri)
            .env("GITHUB_TOKEN", "t0ken")
            .env("GITHUB_REPOSITORY", "acme/churn")
            .env_remove("GITHUB_EVENT_PATH")
            .arg("comment")
            .arg("--body-file")
            .arg(report_path)
            .args([
                "--key",
                "mlops.yaml",
                "--pr-head",
                "forker:main",
                "--head",
                "beef",
                "--author",
                "github-actions[bot]",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received = server.received_requests().await.unwrap();
    let post = received
        .iter()
        .find(|request| request.method.as_str() == "POST")
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        sent["body"],
        "<!-- mlops-report key=\"mlops.yaml\" sha=\"beef\" -->\n### ✅ the gate passed: churn-quality\n"
    );
}

/// A bare remote and a clone of it holding the example, `min_approvals: 2`, committed on main.
fn promotion_project() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    let work = dir.path().join("work");
    common::git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    common::git(
        dir.path(),
        &["clone", "-q", remote.to_str().unwrap(), "work"],
    );
    common::copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/churn")),
        &work,
    );
    let config = work.join("mlops.yaml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("min_approvals: 1", "min_approvals: 2");
    std::fs::write(&config, text).unwrap();
    common::git(&work, &["add", "-A"]);
    common::git(&work, &["commit", "-q", "-m", "the pipeline"]);
    common::git(&work, &["push", "-q", "origin", "main"]);
    (dir, remote, work)
}

/// What the production deploy job runs: `mlops promote --publish`, in a checkout whose remote
/// is a bare repository, against a local server answering as GitHub's pull-request API.
async fn publish_production(server: &MockServer, work: &std::path::Path) -> std::process::Output {
    let uri = server.uri();
    let work = work.to_path_buf();
    let digest = format!("sha256:{}", "ab".repeat(32));
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("mlops")
            .unwrap()
            .current_dir(&work)
            .env("GITHUB_API_URL", uri)
            .env("GITHUB_TOKEN", "t0ken")
            .env("GITHUB_REPOSITORY", "acme/churn")
            .env("GITHUB_ACTIONS", "true")
            .env_remove("GITHUB_STEP_SUMMARY")
            .args([
                "promote",
                "churn-production",
                "--model-uri",
                "s3://acme-ml/models/churn/ab/churn.joblib",
                "--digest",
                &digest,
                "--publish",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

const HEAD: &str = "mlops/promote/production/churn-production-abababababab";

/// An approval-gated release: pushed to its own branch, then one pull request into the
/// release branch that says what approval it needs, with the users asked to review (the team
/// is requested by the release branch's CODEOWNERS, which an Actions token cannot do).
/// Publishing the same release again updates that pull request; it never opens a second.
#[tokio::test]
async fn an_approval_gated_release_opens_one_pull_request_into_the_release_branch() {
    let (_dir, remote, work) = promotion_project();
    let server = MockServer::start().await;
    let pull = json!({ "number": 12, "html_url": "https://github.com/acme/churn/pull/12" });
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .and(query_param("state", "open"))
        .and(query_param("head", format!("acme:{HEAD}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .and(query_param("head", format!("acme:{HEAD}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pull.clone()])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/pulls/12/requested_reviewers"))
        .and(body_json(json!({ "reviewers": ["alice"] })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;

    // The first time the release branch asks for fewer reviews than the approval; then enough.
    let rules = "/repos/acme/churn/rules/branches/mlops/release/production";
    Mock::given(method("GET"))
        .and(path(rules))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "type": "deletion" },
            { "type": "pull_request", "parameters": {
                "required_approving_review_count": 1, "require_code_owner_review": true } }
        ])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(rules))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "type": "pull_request", "parameters": {
                "required_approving_review_count": 2, "require_code_owner_review": true } }
        ])))
        .mount(&server)
        .await;

    let first = publish_production(&server, &work).await;
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "pushed to `{HEAD}` for review: opened https://github.com/acme/churn/pull/12"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "::warning title=mlops: approval not enforced::the rules of `mlops/release/production` require 1 approving review and code-owner review, but the approval asks for 2"
        ),
        "{stdout}"
    );
    let received = server.received_requests().await.unwrap();
    let create = received
        .iter()
        .find(|request| request.method.as_str() == "POST" && request.url.path().ends_with("/pulls"))
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(sent["head"], HEAD);
    assert_eq!(sent["base"], "mlops/release/production");
    assert_eq!(
        sent["title"],
        format!(
            "promote churn-production to production (sha256:{})",
            &"ab".repeat(6)[..12]
        )
    );
    let body = sent["body"].as_str().unwrap();
    assert!(
        body.contains(
            "It needs 2 approving reviews from `@acme/ml-leads`, `alice` (the branch's CODEOWNERS requests them)."
        ),
        "{body}"
    );
    // The release branch was created with its CODEOWNERS alone; the release waits on HEAD.
    assert_eq!(
        common::git(
            &remote,
            &["ls-tree", "-r", "--name-only", "mlops/release/production"]
        ),
        ".github/CODEOWNERS\n"
    );
    assert_eq!(
        common::git(
            &remote,
            &["show", "mlops/release/production:.github/CODEOWNERS"]
        ),
        "# Written by mlops: who must approve a release into this branch.\n/deploy/production/ @acme/ml-leads @alice\n"
    );
    assert!(
        common::git(&remote, &["ls-tree", "-r", "--name-only", HEAD])
            .contains("deploy/production/churn-production.yaml")
    );
    assert_eq!(
        common::git(&remote, &["log", "--format=%s", "main"]).trim(),
        "the pipeline",
        "nothing is pushed to the default branch"
    );

    let again = publish_production(&server, &work).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&again.stdout).contains("::warning"),
        "the rules now enforce the approval"
    );
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("updated https://github.com/acme/churn/pull/12"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    // `expect(1)` on the create and the reviewer request: checked when the server drops.
}

/// Without "Allow GitHub Actions to create and approve pull requests", GitHub refuses the pull
/// request; the job fails and says which setting to turn on.
#[tokio::test]
async fn a_refused_pull_request_names_the_repository_setting() {
    let (_dir, _remote, work) = promotion_project();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "GitHub Actions is not permitted to create or approve pull requests."
        })))
        .mount(&server)
        .await;
    let output = publish_production(&server, &work).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("turn on \"Allow GitHub Actions to create and approve pull requests\""),
        "{stderr}"
    );
}

/// A 502 on the pull request's create may hide one that landed: the client looks before
/// posting again, and finds it.
#[tokio::test]
async fn a_502_on_a_pull_request_create_is_not_resent_when_it_landed() {
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    let pull = json!({ "number": 4, "html_url": "https://github.com/acme/churn/pull/4" });
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([pull])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/pulls"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let opened = client
        .open_pull_request(
            "acme/churn",
            "mlops/promote/p/x-1",
            "mlops/release/p",
            "t",
            "b",
        )
        .await
        .unwrap();
    assert_eq!(opened.number, 4);
    assert_eq!(
        requests(&server).await,
        [
            "GET /repos/acme/churn/pulls?state=open&head=acme:mlops%2Fpromote%2Fp%2Fx-1&per_page=100",
            "POST /repos/acme/churn/pulls",
            "GET /repos/acme/churn/pulls?state=open&head=acme:mlops%2Fpromote%2Fp%2Fx-1&per_page=100",
        ]
    );
}

// ---- The drift issue of a monitored deployment (`mlops monitor issue`).

const DRIFT: &str = "mlops-drift";
const ISSUES: &str = "/repos/acme/churn/issues";

fn drift_marker() -> String {
    mlops::comment::issue_marker(KEY, "churn-production")
}

fn drift_body(text: &str) -> String {
    format!("{}\n{text}", drift_marker())
}

fn issue(number: u64, login: &str, text: &str, state: &str) -> serde_json::Value {
    json!({ "number": number, "body": text, "state": state,
            "user": { "login": login, "type": "Bot" } })
}

async fn list_issues(server: &MockServer, issues: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(ISSUES))
        .and(query_param("state", "all"))
        .and(query_param("labels", DRIFT))
        .respond_with(ResponseTemplate::new(200).set_body_json(issues))
        .mount(server)
        .await;
}

async fn sync(client: &Client, text: &str, drifting: bool) -> mlops::github::IssueOutcome {
    client
        .sync_issue(
            "acme/churn",
            ME,
            &mlops::github::DriftIssue {
                label: DRIFT,
                marker: &drift_marker(),
                title: "Drift in the inputs of `churn-production`",
                body: &drift_body(text),
            },
            drifting,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn drift_opens_one_issue_labelled_for_the_tool() {
    use mlops::github::IssueOutcome;
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    // Someone quoting the marker, and a pull request: neither is the tool's issue.
    list_issues(
        &server,
        json!([
            issue(3, "alice", &drift_body("quoted"), "open"),
            { "number": 4, "body": drift_body("a pull request"), "state": "open",
              "user": { "login": ME }, "pull_request": { "url": "…" } },
        ]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(ISSUES))
        .and(body_json(json!({
            "title": "Drift in the inputs of `churn-production`",
            "body": drift_body("drift in tenure"),
            "labels": [DRIFT],
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(issue(
            9,
            ME,
            &drift_body("drift in tenure"),
            "open",
        )))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        sync(&client, "drift in tenure", true).await,
        IssueOutcome::Opened(9)
    );
    // No drift and no issue of its own: nothing is sent.
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    list_issues(
        &server,
        json!([issue(3, "alice", &drift_body("quoted"), "open")]),
    )
    .await;
    assert_eq!(
        sync(&client, "no drift", false).await,
        IssueOutcome::Nothing
    );
    assert_eq!(
        requests(&server).await,
        ["GET /repos/acme/churn/issues?state=all&labels=mlops-drift&per_page=100"]
    );
}

#[tokio::test]
async fn the_open_issue_is_updated_while_drift_lasts_and_closed_when_it_is_gone() {
    use mlops::github::IssueOutcome;
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    list_issues(
        &server,
        json!([
            issue(5, ME, &drift_body("an old drift"), "closed"),
            issue(8, ME, &drift_body("drift in tenure"), "open"),
        ]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/8"))
        .and(body_json(json!({
            "title": "Drift in the inputs of `churn-production`",
            "body": drift_body("drift in tenure and plan"),
            "state": "open",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(8, ME, "", "open")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/8"))
        .and(body_json(json!({
            "body": drift_body("no drift"),
            "state": "closed",
            "state_reason": "completed",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(8, ME, "", "closed")))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        sync(&client, "drift in tenure and plan", true).await,
        IssueOutcome::Updated(8)
    );
    assert_eq!(
        sync(&client, "drift in tenure", true).await,
        IssueOutcome::Unchanged(8)
    );
    assert_eq!(
        sync(&client, "no drift", false).await,
        IssueOutcome::Closed(8)
    );
}

#[tokio::test]
async fn drift_that_comes_back_reopens_the_last_issue() {
    use mlops::github::IssueOutcome;
    let server = MockServer::start().await;
    let (client, _) = connect(&server, "");
    list_issues(
        &server,
        json!([issue(5, ME, &drift_body("gone"), "closed")]),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/churn/issues/5"))
        .and(body_json(json!({
            "title": "Drift in the inputs of `churn-production`",
            "body": drift_body("back"),
            "state": "open",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(issue(5, ME, "", "open")))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(sync(&client, "gone", false).await, IssueOutcome::Nothing);
    assert_eq!(sync(&client, "back", true).await, IssueOutcome::Reopened(5));
}

#[test]
fn monitor_issue_says_what_it_would_post_and_leaves_the_issue_alone_without_data() {
    let dir = common::project(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/monitor"
    ));
    std::fs::write(
        dir.path().join("judgement.txt"),
        "❌ churn-production: drift\n",
    )
    .unwrap();
    let run = |verdict: &str| {
        assert_cmd::Command::cargo_bin("mlops")
            .unwrap()
            .current_dir(dir.path())
            .env_remove("GITHUB_TOKEN")
            .args([
                "monitor",
                "issue",
                "--deployment",
                "churn-production",
                "--report",
                "judgement.txt",
                "--dry-run",
                "--verdict",
                verdict,
            ])
            .output()
            .unwrap()
    };
    let output = run("drift");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        format!(
            "Drift in the inputs of `churn-production`\n\n{}\nThe last scheduled check found drift. The judgement:\n\n```\n❌ churn-production: drift\n```\n",
            mlops::comment::issue_marker("mlops.yaml", "churn-production")
        )
    );
    let output = run("not-enough-data");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("stays as it is"));
    let output = run("maybe");
    assert_eq!(output.status.code(), Some(2));
}
