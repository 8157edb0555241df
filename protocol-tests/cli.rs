//! The `signet admin` command line as people use it, driven through the real
//! `signet` binary against a running server: names with spaces in request
//! paths, serials as people paste them, objects referenced by id, name or
//! label, the server's data-directory settings, and what the CLI says about
//! what it did.

mod support;

use support::AdminServer;

/// `signet admin org show "Acme Corp"`: every path segment the CLI builds
/// is percent-encoded, so names with spaces, slashes, `?`, `#` and `%` reach
/// the server as one segment.
#[test]
fn names_with_spaces_and_reserved_characters_work_in_paths() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let v = srv.admin_json(&["org", "show", "Acme Corp"]);
    assert_eq!(v["name"], "Acme Corp");

    let odd = "R&D / Labs? #1 100%";
    let created = srv.admin_json(&[
        "org",
        "create",
        "--name",
        odd,
        "--city",
        "Berlin",
        "--country",
        "DE",
    ]);
    let v = srv.admin_json(&["org", "show", odd]);
    assert_eq!(v["name"], odd);
    assert_eq!(v["id"], created["id"]);
    // an encoded slash stays inside its segment: no other route is reached
    let err = srv.admin_fails(&["org", "show", "Acme Corp/../x"]);
    assert!(err.contains("404"), "{err}");
}
