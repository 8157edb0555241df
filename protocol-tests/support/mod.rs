//! Shared pieces of the black-box tests that drive the `signet` binary and
//! an in-process server over real sockets.
#![allow(dead_code)]

mod serve;
// not every test file starts `signet serve` itself
#[allow(unused_imports)]
pub use serve::{serve_command, spawn_serve, stop_serve, wait_listening};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use signet::clock::FakeClock;
use signet::config::Config;
use signet::server::RunningServer;
use time::OffsetDateTime;

/// A server started in-process on 127.0.0.1:0 with a fake clock, plus a
/// way to run the real `signet admin` CLI against it.
pub struct AdminServer {
    pub rt: tokio::runtime::Runtime,
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub clock: Arc<FakeClock>,
    pub url: String,
    pub http_url: String,
    pub token: String,
}

pub fn test_config(data_dir: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.data_dir = data_dir.to_path_buf();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.http_listen = "127.0.0.1:0".into();
    cfg.ca.algorithm = "p256".into();
    cfg
}

impl AdminServer {
    pub fn start() -> AdminServer {
        Self::start_with(|_| {})
    }

    pub fn start_with(edit: impl FnOnce(&mut Config)) -> AdminServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
        let mut cfg = test_config(&dir.path().join("data"));
        edit(&mut cfg);
        let server = rt
            .block_on(signet::server::start(cfg, clock.clone()))
            .expect("server starts");
        AdminServer {
            url: server.public_url.clone(),
            http_url: server.http_public_url.clone(),
            token: server.admin_token().expose().to_string(),
            server: Some(server),
            rt,
            dir,
            clock,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn root_pem(&self) -> PathBuf {
        self.data_dir().join("ca").join("root.pem")
    }

    /// The dev TLS CA the HTTPS listener's certificate chains to.
    pub fn tls_ca_pem(&self) -> PathBuf {
        self.data_dir().join("ca").join("tls-ca.pem")
    }

    pub fn issuing_pem(&self) -> PathBuf {
        self.data_dir().join("ca").join("issuing.pem")
    }

    /// Runs `signet admin --json ARGS` against this server.
    pub fn admin(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("admin")
            .arg(format!("--url={}", self.url))
            .arg(format!("--token={}", self.token))
            .arg("--ca-file")
            .arg(self.tls_ca_pem())
            .arg("--json")
            .args(args)
            .output()
            .expect("run signet admin")
    }

    /// Runs an admin command that must succeed and returns its JSON output.
    pub fn admin_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.admin(args);
        assert!(
            out.status.success(),
            "signet admin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "signet admin {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs an admin command that must fail; returns its standard error.
    pub fn admin_fails(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert!(
            !out.status.success(),
            "signet admin {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Organization, department, profile `cs` (OV, 365/460 days, P-256 +
    /// RSA-3072, attestation optional), endpoint `builds`, account `release`.
    pub fn standard_directory(&self, requires_approval: bool) {
        standard_directory(|args| self.admin_json(args), requires_approval);
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown()).expect("clean shutdown");
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a command that must succeed; returns stdout.
/// Builds the standard test directory through `admin_json` (any server
/// the admin CLI can reach): organization, department, profile `cs` (OV, 365/460 days, P-256 +
/// RSA-3072, attestation optional), endpoint `builds`, account `release`.
pub fn standard_directory(
    admin_json: impl Fn(&[&str]) -> serde_json::Value,
    requires_approval: bool,
) {
    admin_json(&[
        "org",
        "create",
        "--name",
        "Acme Corp",
        "--street",
        "1 Main St",
        "--city",
        "Springfield",
        "--state",
        "Oregon",
        "--postal-code",
        "97403",
        "--country",
        "US",
    ]);
    admin_json(&["dept", "create", "--org", "Acme Corp", "--name", "Release"]);
    let mut profile = vec![
        "profile",
        "create",
        "--name",
        "cs",
        "--template",
        "ov",
        "--term",
        "365",
        "--term",
        "460",
        "--key-type",
        "ecdsa-p256",
        "--key-type",
        "rsa-3072",
        "--attestation",
        "optional",
    ];
    if requires_approval {
        profile.push("--requires-approval");
    }
    admin_json(&profile);
    admin_json(&[
        "endpoint", "create", "--name", "builds", "--label", "builds",
    ]);
    admin_json(&[
        "account",
        "create",
        "--name",
        "release",
        "--endpoint",
        "builds",
        "--org",
        "Acme Corp",
        "--dept",
        "Release",
        "--profile",
        "cs",
        "--auto-approve",
    ]);
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An openssl-generated key and CSR in `dir`. `kind`: "p256", "p384", "p521",
/// "rsa2048", "rsa3072". `extra` is appended to `openssl req` (e.g. -addext).
pub fn openssl_csr(dir: &Path, name: &str, kind: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut gen = Command::new("openssl");
    gen.arg("genpkey");
    match kind {
        "p256" => gen.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        "p384" => gen.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]),
        "p521" => gen.args(["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"]),
        "rsa2048" => gen.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        "rsa3072" => gen.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]),
        "rsa4096" => gen.args(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"]),
        other => panic!("unknown key kind {other}"),
    };
    run(gen.arg("-out").arg(&key));
    run(Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=requested name/O=Requested Org"])
        .arg("-key")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(extra));
    (key, csr)
}

/// Path of a tool installed into the test venv by scripts/install-test-deps.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var("SIGNET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let p = venv.join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps first",
        p.display()
    );
    p
}
