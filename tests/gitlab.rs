//! The sticky merge-request note against a local HTTP server (wiremock) that answers as
//! GitLab's REST API v4 documents: `x-next-page` pagination (and no `x-total-pages`, as past
//! 10,000 records), `GET /user`, 401/403, 429 with `Retry-After`, 5xx. Each test asserts the
//! exact requests sent, so a duplicated create cannot hide.
#![cfg(feature = "gitlab")]

use std::time::Duration;

use mlops::gitlab::{Client, Outcome, Target};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "mlops.yaml";
const ME: u64 = 4242;
const NOTES: &str = "/api/v4/projects/acme%2Fchurn/merge_requests/7/notes";

fn connect(server: &MockServer) -> (Client, Target) {
    let mut client = Client::new(&format!("{}/api/v4", server.uri()), "glpat-t0ken").unwrap();
    client.backoff = Duration::from_millis(10);
    client.max_wait = Duration::from_millis(50);
    let target = Target {
        project: "acme/churn".to_owned(),
        merge_request: 7,
    };
    (client, target)
}

fn body(text: &str) -> String {
    format!("{}\n{text}", mlops::comment::marker(KEY, "abc123"))
}

fn note(id: u64, author: u64, text: &str, system: bool) -> serde_json::Value {
    json!({ "id": id, "body": text, "system": system,
            "author": { "id": author, "username": format!("user{author}") } })
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

fn page(number: u32) -> String {
    format!("?sort=asc&order_by=created_at&per_page=100&page={number}")
}

async fn notes_page(
    server: &MockServer,
    number: &str,
    next: &str,
    notes: serde_json::Value,
    times: u64,
) {
    Mock::given(method("GET"))
        .and(path(NOTES))
        .and(query_param("page", number))
        .and(query_param("per_page", "100"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", next)
                .insert_header("x-page", number)
                .set_body_json(notes),
        )
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn reads_its_own_user_with_the_token_as_bearer() {
    let server = MockServer::start().await;
    let (client, _) = connect(&server);
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .and(header("authorization", "Bearer glpat-t0ken"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": ME, "username": "project_1_bot"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client.user_id().await.unwrap(), ME);
}

#[tokio::test]
async fn updates_its_own_note_on_the_second_page_never_a_quoting_humans() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    notes_page(
        &server,
        "1",
        "2",
        json!([
            note(1, 7, "LGTM", false),
            // A human quoting the marker: never edited.
            note(2, 7, &body("quoted"), false),
            // A system note that happens to start with it: never edited.
            note(3, ME, &body("system"), true),
        ]),
        1,
    )
    .await;
    notes_page(
        &server,
        "2",
        "",
        json!([note(9, ME, &body("old"), false)]),
        1,
    )
    .await;
    Mock::given(method("PUT"))
        .and(path(format!("{NOTES}/9")))
        .and(body_json(json!({ "body": body("new") })))
        .respond_with(ResponseTemplate::new(200).set_body_json(note(9, ME, &body("new"), false)))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client.upsert(&target, ME, KEY, &body("new")).await.unwrap();
    assert_eq!(outcome, Outcome::Updated(9));
    assert_eq!(
        requests(&server).await,
        [
            format!("GET {NOTES}{}", page(1)),
            format!("GET {NOTES}{}", page(2)),
            format!("PUT {NOTES}/9"),
        ]
    );
}

#[tokio::test]
async fn creates_one_note_when_only_a_human_quoted_the_marker() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    notes_page(
        &server,
        "1",
        "",
        json!([note(2, 7, &body("quoted"), false)]),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path(NOTES))
        .and(body_json(json!({ "body": body("report") })))
        .respond_with(ResponseTemplate::new(201).set_body_json(note(
            10,
            ME,
            &body("report"),
            false,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client
        .upsert(&target, ME, KEY, &body("report"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Created(10));
    assert_eq!(
        requests(&server).await,
        [format!("GET {NOTES}{}", page(1)), format!("POST {NOTES}")]
    );
}

#[tokio::test]
async fn an_identical_note_is_left_alone() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    notes_page(
        &server,
        "1",
        "",
        json!([note(9, ME, &body("same"), false)]),
        1,
    )
    .await;
    let outcome = client
        .upsert(&target, ME, KEY, &body("same"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Unchanged(9));
    assert_eq!(requests(&server).await, [format!("GET {NOTES}{}", page(1))]);
}

#[tokio::test]
async fn a_create_that_failed_with_a_5xx_but_landed_is_not_sent_again() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    // First listing: nothing; after the 502, the re-listing finds the note that landed.
    Mock::given(method("GET"))
        .and(path(NOTES))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .set_body_json(json!([])),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(NOTES))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(NOTES))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .set_body_json(json!([note(11, ME, &body("report"), false)])),
        )
        .mount(&server)
        .await;
    let outcome = client
        .upsert(&target, ME, KEY, &body("report"))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Created(11));
    assert_eq!(
        requests(&server).await,
        [
            format!("GET {NOTES}{}", page(1)),
            format!("POST {NOTES}"),
            format!("GET {NOTES}{}", page(1)),
        ]
    );
}

#[tokio::test]
async fn a_rate_limited_listing_waits_as_told_then_goes_on() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    Mock::given(method("GET"))
        .and(path(NOTES))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    notes_page(&server, "1", "", json!([]), 1).await;
    Mock::given(method("POST"))
        .and(path(NOTES))
        .respond_with(ResponseTemplate::new(201).set_body_json(note(12, ME, &body("r"), false)))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = client.upsert(&target, ME, KEY, &body("r")).await.unwrap();
    assert_eq!(outcome, Outcome::Created(12));
    assert_eq!(
        requests(&server).await,
        [
            format!("GET {NOTES}{}", page(1)),
            format!("GET {NOTES}{}", page(1)),
            format!("POST {NOTES}"),
        ]
    );
}

#[tokio::test]
async fn a_refused_token_says_which_variable_and_is_not_retried() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    Mock::given(method("GET"))
        .and(path("/api/v4/user"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "401 Unauthorized"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let error = client.user_id().await.unwrap_err().to_string();
    assert!(error.contains("401 Unauthorized"), "{error}");
    assert!(error.contains("MLOPS_GITLAB_TOKEN"), "{error}");
    Mock::given(method("GET"))
        .and(path(NOTES))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "403 Forbidden"})))
        .expect(1)
        .mount(&server)
        .await;
    let error = client
        .upsert(&target, ME, KEY, &body("r"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("403 Forbidden") && error.contains("`api` scope"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_keeps_failing_is_given_up_on_after_the_retries() {
    let server = MockServer::start().await;
    let (client, target) = connect(&server);
    Mock::given(method("GET"))
        .and(path(NOTES))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let error = client
        .upsert(&target, ME, KEY, &body("r"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("503"), "{error}");
}

#[test]
fn a_report_past_the_note_limit_is_trimmed_under_it() {
    let marker = mlops::comment::marker(KEY, "abc123");
    let huge = "x".repeat(1_200_000);
    let body = mlops::comment::body_within(
        &marker,
        &huge,
        &huge,
        mlops::comment::GITLAB_MAX_BODY_CHARS,
        "GitLab's note limit",
    );
    assert!(body.chars().count() <= 1_000_000);
    assert!(body.starts_with(&marker));
    assert!(body.contains("Trimmed to fit GitLab's note limit"));
    // Under the limit, nothing is cut.
    let small = mlops::comment::body_within(&marker, "ok", "ok", 1_000_000, "GitLab's note limit");
    assert_eq!(small, format!("{marker}\nok"));
}
