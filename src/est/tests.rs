//! Front-end tests that need no server: path parsing and status mapping.
//! The full protocol is exercised in protocol-tests/est.rs.

use super::*;

#[test]
fn paths_with_and_without_label() {
    assert_eq!(parse_path("/cacerts"), Some((None, Operation::CaCerts)));
    assert_eq!(
        parse_path("/builds/simpleenroll"),
        Some((Some("builds"), Operation::SimpleEnroll))
    );
    assert_eq!(
        parse_path("/a.b-c_d/simplereenroll"),
        Some((Some("a.b-c_d"), Operation::SimpleReenroll))
    );
    assert_eq!(parse_path("/csrattrs"), Some((None, Operation::CsrAttrs)));
    assert_eq!(
        parse_path("/serverkeygen"),
        Some((None, Operation::ServerKeygen))
    );
    assert_eq!(parse_path("/fullcmc"), Some((None, Operation::FullCmc)));
    for bad in [
        "",
        "/",
        "/nope",
        "/builds/",
        "/builds/nope",
        "//cacerts",
        "/a/b/cacerts",
        "/a b/cacerts",
        "/cacerts/",
    ] {
        assert_eq!(parse_path(bad), None, "{bad:?}");
    }
}

#[test]
fn statuses_follow_the_issue() {
    assert_eq!(
        status_for(&EstError::Unauthenticated("x".into())),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_for(&EstError::Forbidden("x".into())),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_for(&EstError::NotFound("x".into())),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status_for(&EstError::Ra(RaError::BadCsr("x".into()))),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status_for(&EstError::Ra(RaError::Policy("x".into()))),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status_for(&EstError::Ra(RaError::BadPublicKey("x".into()))),
        StatusCode::BAD_REQUEST
    );
    let resp = error_response(&EstError::Unauthenticated("no".into()));
    assert!(resp
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
}
