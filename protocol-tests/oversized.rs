//! Issue 29.5: a request body over `server.max_body_bytes` is answered in the
//! front end's own error format (ACME: an RFC 8555 problem document with
//! Replay-Nonce and the directory Link; EST: 413 text; admin: a JSON error
//! naming the body), and the server reads (and throws away) a bounded amount
//! of the body first, so a client that writes its whole body before reading
//! sees the answer instead of a reset connection.
//!
//! The client here is such a client: rustls over TCP, the whole request
//! written (`write_all`) before the first read.

mod common;

use common::TestServer;

/// The default limit (1 MiB): the bodies below are 3 MiB.
const LIMIT: usize = 1024 * 1024;

fn big_body() -> Vec<u8> {
    vec![b'{'; 3 * LIMIT]
}

#[test]
fn acme_answers_an_oversized_body_with_a_problem_document_and_the_usual_headers() {
    let server = TestServer::start();
    let resp = server
        .client()
        .try_request(
            "POST",
            "/acme/new-order",
            &[("Content-Type", "application/jose+json")],
            &big_body(),
        )
        .expect("the client sees the answer (no reset while it writes its body)");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json"),
        "{}",
        resp.text()
    );
    let problem = resp.json();
    assert_eq!(problem["type"], "urn:ietf:params:acme:error:malformed");
    assert_eq!(problem["status"], 413);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&LIMIT.to_string()),
        "the limit is in the detail: {problem}"
    );
    let nonce = resp.header("replay-nonce").expect("Replay-Nonce");
    assert!(!nonce.is_empty());
    let links = resp.headers_named("link");
    let index = format!("<{}/acme/directory>;rel=\"index\"", server.base_url);
    assert!(links.contains(&index.as_str()), "{links:?}");

    // the nonce is a real one: newNonce-style use is checked by the ACME
    // tests; here it must at least differ from the next one handed out
    let next = server.get("/acme/new-nonce");
    assert_ne!(next.header("replay-nonce"), Some(nonce));
}

#[test]
fn a_chunked_oversized_body_gets_the_same_problem_document() {
    let server = TestServer::start_with(|c| c.server.max_body_bytes = 4096);
    let mut body = Vec::new();
    for _ in 0..8 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b' '; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let resp = server
        .client()
        .try_request(
            "POST",
            "/acme/new-account",
            &[
                ("Content-Type", "application/jose+json"),
                ("Transfer-Encoding", "chunked"),
            ],
            &body,
        )
        .expect("answer");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.json()["type"], "urn:ietf:params:acme:error:malformed");
    assert!(resp.json()["detail"].as_str().unwrap().contains("4096"));
    assert!(resp.header("replay-nonce").is_some());
}

#[test]
fn est_answers_an_oversized_body_with_413_text() {
    let server = TestServer::start();
    let resp = server
        .client()
        .try_request(
            "POST",
            "/.well-known/est/simpleenroll",
            &[("Content-Type", "application/pkcs10")],
            &big_body(),
        )
        .expect("the client sees the answer");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert!(
        resp.header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        resp.header("content-type")
    );
    assert!(resp.text().contains(&LIMIT.to_string()), "{}", resp.text());
}

#[test]
fn the_admin_api_answers_an_oversized_body_with_a_json_error_naming_the_body() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.admin_token);
    let resp = server
        .client()
        .try_request(
            "POST",
            "/admin/v1/organizations",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            &big_body(),
        )
        .expect("the client sees the answer");
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let error = &resp.json()["error"];
    assert_eq!(error["type"], "payloadTooLarge");
    assert_eq!(error["field"], "body");
    assert!(error["message"]
        .as_str()
        .unwrap_or_default()
        .contains(&LIMIT.to_string()));
}
