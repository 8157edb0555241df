//! Crash safety: a certificate returned to a client survives SIGKILL of the
//! server right after the response, and its serial stays reserved.

mod acme_support;
mod common;
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{openssl_csr, run};

struct Serve {
    child: Child,
    url: String,
}

/// Starts `signet serve` on free ports with its data in `data`.
fn serve(data: &Path) -> Serve {
    serve_with(data, &[])
}

/// [`serve`] with extra `SIGNET_*` environment settings.
fn serve_with(data: &Path, env: &[(&str, &str)]) -> Serve {
    let url_file = data.join("server-url");
    let _ = std::fs::remove_file(&url_file);
    let mut s = Serve {
        child: Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("serve")
            .env("SIGNET_SERVER__DATA_DIR", data)
            .env("SIGNET_SERVER__LISTEN", "127.0.0.1:0")
            .env("SIGNET_SERVER__HTTP_LISTEN", "127.0.0.1:0")
            .env("SIGNET_CA__ALGORITHM", "p256")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start signet serve"),
        url: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(u) = std::fs::read_to_string(&url_file) {
            if !u.trim().is_empty() {
                s.url = u.trim().to_string();
                return s;
            }
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Serve {
    /// SIGKILL: no graceful shutdown, no flush.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

fn admin(data: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Organization "Acme", P-256 profile "cs", endpoint "e" and auto-approving
/// account "a" (through the CLI, which finds URL, token and root in `data`).
fn build_directory(data: &Path) {
    admin(
        data,
        &[
            "org",
            "create",
            "--name",
            "Acme",
            "--city",
            "Springfield",
            "--country",
            "US",
        ],
    );
    admin(
        data,
        &[
            "profile",
            "create",
            "--name",
            "cs",
            "--term",
            "365",
            "--key-type",
            "ecdsa-p256",
            "--attestation",
            "optional",
        ],
    );
    admin(data, &["endpoint", "create", "--name", "e", "--label", "e"]);
    admin(
        data,
        &[
            "account",
            "create",
            "--name",
            "a",
            "--endpoint",
            "e",
            "--org",
            "Acme",
            "--profile",
            "cs",
            "--auto-approve",
        ],
    );
}

#[test]
fn sigkill_right_after_issuance_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = serve(&data);
    build_directory(&data);
    let (_, csr) = openssl_csr(dir.path(), "k", "p256", &[]);
    let cert = admin(
        &data,
        &[
            "cert",
            "request",
            "--account",
            "a",
            "--email",
            "dev@acme.example",
            "--csr",
            csr.to_str().unwrap(),
        ],
    );
    // SIGKILL immediately after the response: no graceful shutdown, no flush
    s.kill();
    let serial = cert["serial"].as_str().unwrap().to_string();

    let mut s2 = serve(&data);
    assert!(s2.url.starts_with("https://"));
    let list = admin(&data, &["cert", "list"]);
    let serials: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, vec![serial.as_str()]);
    let shown = admin(&data, &["cert", "show", &serial]);
    assert_eq!(shown["pem_chain"], cert["pem_chain"]);
    s2.kill();

    // the serial is still reserved in the store
    let store = signet::storage::Store::open(&data.join("store")).unwrap();
    assert!(store.serial_reserved(&serial).unwrap());
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, cert["pem_chain"].as_str().unwrap()).unwrap();
    run(Command::new("openssl")
        .args(["x509", "-noout", "-in"])
        .arg(&leaf));
}

/// EST enrollments run whole on the issuance pool and their answers wait for
/// the group commit without a thread (`storage/deferred.rs`). Several
/// enrollments run at once and the server is killed as soon as the first
/// answer arrives: every enrollment a client got a certificate for must be in
/// the store after the restart.
#[test]
fn sigkill_right_after_est_enrollments_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = serve(&data);
    build_directory(&data);
    let (_, csr) = openssl_csr(dir.path(), "k", "p256", &[]);
    let der = dir.path().join("k.der");
    run(Command::new("openssl")
        .args(["req", "-outform", "DER", "-in"])
        .arg(&csr)
        .arg("-out")
        .arg(&der));
    let b64 = dir.path().join("k.b64");
    run(Command::new("openssl")
        .args(["base64", "-in"])
        .arg(&der)
        .arg("-out")
        .arg(&b64));
    let root = data.join("ca").join("tls-ca.pem");
    let n = 8;
    let clients: Vec<(String, String, String, String)> = (0..n)
        .map(|i| {
            let email = format!("agent{i}@acme.example");
            let inv = admin(&data, &["invite", "--email", &email, "--account", "a"]);
            let url = format!("{}/simpleenroll", inv["est_url"].as_str().unwrap());
            let user = format!(
                "{}:{}",
                inv["kid"].as_str().unwrap(),
                inv["hmac_key"].as_str().unwrap()
            );
            (
                email,
                url,
                user,
                dir.path().join(format!("out{i}")).display().to_string(),
            )
        })
        .collect();
    let jobs: Vec<Box<dyn FnOnce() -> Option<String> + Send>> = clients
        .into_iter()
        .map(|(email, url, user, out)| {
            let (root, b64) = (root.clone(), b64.clone());
            Box::new(move || {
                let status = Command::new("curl")
                    .args(["-sS", "--max-time", "30", "-o", &out, "-w", "%{http_code}"])
                    .arg("--cacert")
                    .arg(&root)
                    .args(["-u", &user, "-H", "Content-Type: application/pkcs10"])
                    .arg("--data-binary")
                    .arg(format!("@{}", b64.display()))
                    .arg(&url)
                    .output()
                    .unwrap();
                (String::from_utf8_lossy(&status.stdout).trim() == "200").then_some(email)
            }) as Box<dyn FnOnce() -> Option<String> + Send>
        })
        .collect();
    kill_at_first_answer_then_find_every_answered(&data, s, jobs, &[]);
}

/// Runs `jobs` at once against server `s`; each returns the email it got a
/// certificate for. SIGKILLs the server as soon as the first one has, lets
/// the others finish (or fail), restarts it (with `env`) and asserts every
/// acknowledged certificate is in the store.
fn kill_at_first_answer_then_find_every_answered(
    data: &Path,
    mut s: Serve,
    jobs: Vec<Box<dyn FnOnce() -> Option<String> + Send>>,
    env: &[(&str, &str)],
) {
    use std::sync::{Arc, Mutex};
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                if let Some(email) = job() {
                    acknowledged.lock().unwrap().push(email);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no request was answered");
        std::thread::sleep(Duration::from_millis(1));
    }
    // SIGKILL as soon as one answer is out: no graceful shutdown, no flush
    s.kill();
    for t in threads {
        let _ = t.join();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());

    let mut s2 = serve_with(data, env);
    let list = admin(data, &["cert", "list"]);
    let stored: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    for email in &acknowledged {
        assert!(
            stored.contains(&email.as_str()),
            "{email} got its certificate but it is not in the store after SIGKILL ({stored:?})"
        );
    }
    s2.kill();
}

#[test]
fn bad_config_key_and_value_fail_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nlisen = \"127.0.0.1:1\"\n", "server.lisen"),
        ("[server]\nlisten = \"not an address\"\n", "server.listen"),
        ("[ca]\nalgorithm = \"dsa\"\n", "ca.algorithm"),
    ];
    for (i, (toml, key)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, toml).unwrap();
        for cmd in [
            &["config", "check", "--config"][..],
            &["serve", "--config"][..],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_signet"))
                .args(cmd)
                .arg(&file)
                .env("SIGNET_SERVER__DATA_DIR", dir.path().join("never"))
                .output()
                .unwrap();
            assert!(!out.status.success(), "{cmd:?} {toml} must fail");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(key), "{cmd:?}: {err} does not name {key}");
        }
    }
    // and a bad environment value names the key too
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["config", "check"])
        .env("SIGNET_INVITATIONS__TTL_DAYS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invitations.ttl_days"));
    let ok = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["config", "check", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

/// One ACME client of [`sigkill_right_after_acme_finalizations_loses_nothing`]:
/// registers with an invitation, orders, finalizes; returns the email when
/// the finalize answer says the order is valid with a certificate.
fn acme_finalize(base: &str, root_pem: &str, kid: &str, hmac: &str, email: &str) -> Option<String> {
    use acme_support::{csr, eab, Key};
    use base64::Engine;
    use serde_json::{json, Value};
    let addr: std::net::SocketAddr = base
        .trim_start_matches("https://")
        .replace("localhost", "127.0.0.1")
        .parse()
        .ok()?;
    let http = common::HttpsClient::new(addr, root_pem);
    let path = |url: &str| url.strip_prefix(base).unwrap_or(url).to_string();
    let dir = http
        .try_request("GET", "/acme/directory", &[], b"")
        .ok()?
        .json();
    let nonce = || -> Option<String> {
        let r = http
            .try_request("HEAD", &path(dir["newNonce"].as_str()?), &[], b"")
            .ok()?;
        r.header("replay-nonce").map(str::to_string)
    };
    let key = Key::es256();
    let post = |url: &str, header: Value, payload: Option<Value>| {
        let jws = key.sign(&header, payload.as_ref());
        http.try_request(
            "POST",
            &path(url),
            &[("Content-Type", "application/jose+json")],
            jws.to_string().as_bytes(),
        )
        .ok()
    };
    let new_account = dir["newAccount"].as_str()?.to_string();
    let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(hmac)
        .ok()?;
    let r = post(
        &new_account,
        json!({"alg": "ES256", "jwk": key.jwk, "url": new_account, "nonce": nonce()?}),
        Some(json!({"termsOfServiceAgreed": true,
                    "externalAccountBinding": eab(kid, &mac, &new_account, &key.jwk, "HS256")})),
    )?;
    assert_eq!(r.status, 201, "{}", r.text());
    let account = r.header("location")?.to_string();
    let signed = |url: &str, payload: Option<Value>| {
        post(
            url,
            json!({"alg": "ES256", "kid": account, "url": url, "nonce": nonce()?}),
            payload,
        )
    };
    let new_order = dir["newOrder"].as_str()?.to_string();
    let r = signed(
        &new_order,
        Some(json!({"identifiers": [{"type": "email", "value": email}]})),
    )?;
    assert_eq!(r.status, 201, "{}", r.text());
    let order = r.json();
    // acme.invitation_confirms_email: the invited address needs no challenge
    assert_eq!(order["status"], "ready", "{order}");
    let (pem, _) = csr(Some(email));
    let r = signed(order["finalize"].as_str()?, Some(json!({"csr": pem})))?;
    let done = r.json();
    (r.status == 200 && done["status"] == "valid" && done["certificate"].is_string())
        .then(|| email.to_string())
}

/// ACME finalizations run on the issuance pool, record intent and
/// certificate in one change set, and answer only after the group commit.
/// Several run at once and the server is killed as soon as the first
/// `valid` answer arrives: every order a client was told is valid must have
/// its certificate in the store after the restart.
#[test]
fn sigkill_right_after_acme_finalizations_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let confirms = [("SIGNET_ACME__INVITATION_CONFIRMS_EMAIL", "true")];
    let s = serve_with(&data, &confirms);
    build_directory(&data);
    let root = std::fs::read_to_string(data.join("ca").join("tls-ca.pem")).unwrap();
    let n = 8;
    let clients: Vec<(String, String, String)> = (0..n)
        .map(|i| {
            let email = format!("dev{i}@acme.example");
            let inv = admin(&data, &["invite", "--email", &email, "--account", "a"]);
            (
                email,
                inv["kid"].as_str().unwrap().to_string(),
                inv["hmac_key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let jobs: Vec<Box<dyn FnOnce() -> Option<String> + Send>> = clients
        .into_iter()
        .map(|(email, kid, hmac)| {
            let (root, base) = (root.clone(), s.url.clone());
            Box::new(move || acme_finalize(&base, &root, &kid, &hmac, &email))
                as Box<dyn FnOnce() -> Option<String> + Send>
        })
        .collect();
    kill_at_first_answer_then_find_every_answered(&data, s, jobs, &confirms);
}
