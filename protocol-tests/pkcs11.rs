//! Black-box tests of an issuing CA key held in a PKCS#11 token (SoftHSM2).
//!
//! Each test makes its own SoftHSM2 token in a temporary directory
//! (`SOFTHSM2_CONF` names a temporary config), generates the issuing key in
//! the token with `pkcs11-tool`, has an openssl root certify the token's
//! public key as a code-signing issuing CA, and runs the real `signet serve`
//! binary with `ca.pkcs11_*` (the PIN from `SIGNET_CA__PKCS11_PIN`). Every
//! server is its own process, so PKCS#11 state (module initialization, the
//! login) never leaks between cases.
//!
//! Needs `softhsm2` and `opensc` (scripts/install-test-deps installs them);
//! without them the tests print why and pass without running.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{openssl_csr, run};
use x509_parser::prelude::*;

const PIN: &str = "4711-signet";
const SO_PIN: &str = "12345678";
const TOKEN: &str = "signet-ca";

/// Where SoftHSM2 installs its module on Debian and other distributions.
const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The SoftHSM2 module, or None (with a message) when softhsm2/opensc are absent.
fn softhsm_module() -> Option<PathBuf> {
    let module = std::env::var_os("SIGNET_TEST_SOFTHSM2_MODULE")
        .map(PathBuf::from)
        .or_else(|| {
            MODULE_CANDIDATES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    match module {
        Some(m) if have("softhsm2-util") && have("pkcs11-tool") => Some(m),
        _ => {
            eprintln!(
                "SKIPPED: SoftHSM2 (softhsm2-util + libsofthsm2.so) or pkcs11-tool (opensc) \
                 is not installed; run scripts/install-test-deps"
            );
            None
        }
    }
}

/// A fresh SoftHSM2 token in a temporary directory, plus an openssl root CA.
struct Hsm {
    dir: tempfile::TempDir,
    module: PathBuf,
    conf: PathBuf,
}

impl Hsm {
    fn new(module: PathBuf) -> Hsm {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        let hsm = Hsm { dir, module, conf };
        run(hsm.cmd("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            SO_PIN,
            "--pin",
            PIN,
        ]));
        // the root: an ordinary openssl CA outside the token
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .arg("ec_paramgen_curve:P-256")
            .arg("-out")
            .arg(hsm.path("root.key")));
        run(Command::new("openssl")
            .args(["req", "-x509", "-new", "-days", "3650"])
            .args(["-subj", "/O=HSM Test Org/CN=HSM Test Root"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-key")
            .arg(hsm.path("root.key"))
            .arg("-out")
            .arg(hsm.path("root.pem")));
        hsm
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    fn pkcs11_tool(&self) -> Command {
        let mut c = self.cmd("pkcs11-tool");
        c.arg("--module")
            .arg(&self.module)
            .args(["--token-label", TOKEN]);
        c
    }

    /// Generates a key pair in the token (`key_type`: "EC:prime256v1",
    /// "EC:secp384r1", "rsa:3072") and returns its public key (DER SPKI).
    fn keygen(&self, label: &str, id: &str, key_type: &str) -> PathBuf {
        run(self.pkcs11_tool().args([
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            key_type,
            "--label",
            label,
            "--id",
            id,
        ]));
        let spki = self.path(&format!("{label}.pub.der"));
        let read = self
            .pkcs11_tool()
            .args(["--read-object", "--type", "pubkey", "--label", label])
            .arg("-o")
            .arg(&spki)
            .output()
            .expect("run pkcs11-tool");
        if !read.status.success() {
            // pkcs11-tool 0.23 cannot export P-384 public keys ("cannot create
            // EVP_PKEY"): build the SPKI from the listed EC_PARAMS and EC_POINT.
            std::fs::write(&spki, self.ec_spki_from_listing(label)).unwrap();
        }
        spki
    }

    fn ec_spki_from_listing(&self, label: &str) -> Vec<u8> {
        let listing =
            run(self
                .pkcs11_tool()
                .args(["--list-objects", "--type", "pubkey", "--label", label]));
        let field = |name: &str| {
            let line = listing
                .lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in:\n{listing}"));
            hex::decode(line.trim()).unwrap()
        };
        let params = field("EC_PARAMS:");
        let point_octets = field("EC_POINT:");
        // EC_POINT is an OCTET STRING (short or 0x81 long form) around the point
        let point = match point_octets.as_slice() {
            [0x04, 0x81, _, rest @ ..] => rest.to_vec(),
            [0x04, _, rest @ ..] => rest.to_vec(),
            other => panic!("unexpected EC_POINT {}", hex::encode(other)),
        };
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if body.len() < 0x80 {
                v.push(body.len() as u8);
            } else {
                v.extend_from_slice(&[0x81, body.len() as u8]);
            }
            v.extend_from_slice(body);
            v
        }
        const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        let alg = tlv(0x30, &[EC_PUBLIC_KEY, &params].concat());
        let bits = tlv(0x03, &[&[0u8][..], &point].concat());
        tlv(0x30, &[alg, bits].concat())
    }

    /// A TLS server certificate for localhost from the root (the issuing CA
    /// is restricted to codeSigning, which TLS clients enforce on the chain).
    fn tls_identity(&self) -> (PathBuf, PathBuf) {
        let key = self.path("tls.key");
        let csr = self.path("tls.csr");
        let cert = self.path("tls.pem");
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .arg("ec_paramgen_curve:P-256")
            .arg("-out")
            .arg(&key));
        run(Command::new("openssl")
            .args(["req", "-new", "-subj", "/CN=localhost", "-key"])
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        let ext = self.path("tls.ext");
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n\
             keyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "30", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(self.path("root.pem"))
            .arg("-CAkey")
            .arg(self.path("root.key"))
            .arg("-set_serial")
            .arg(format!("0x{}", random_hex()))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert));
        (cert, key)
    }

    /// A code-signing issuing CA certificate for the public key `spki`, issued by the root.
    fn issuing_cert(&self, name: &str, spki: &Path) -> PathBuf {
        // openssl needs a CSR to start from; the subject key is replaced by the token's.
        let (_, csr) = openssl_csr(self.dir.path(), &format!("{name}-placeholder"), "p256", &[]);
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(
            &ext,
            "basicConstraints=critical,CA:TRUE,pathlen:0\n\
             keyUsage=critical,digitalSignature,keyCertSign,cRLSign\n\
             extendedKeyUsage=codeSigning\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n\
             certificatePolicies=2.23.140.1.4.1,2.23.140.1.3\n\
             crlDistributionPoints=URI:http://pki.example.com/crl/root.crl\n\
             authorityInfoAccess=caIssuers;URI:http://pki.example.com/ca/root.crt\n",
        )
        .unwrap();
        let cert = self.path(&format!("{name}.pem"));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "1825", "-set_serial"])
            .arg(format!("0x{}", random_hex()))
            .arg("-in")
            .arg(&csr)
            .arg("-force_pubkey")
            .arg(spki)
            .args(["-keyform", "DER"])
            .args(["-subj", &format!("/O=HSM Test Org/CN=HSM Test {name} CA")])
            .arg("-CA")
            .arg(self.path("root.pem"))
            .arg("-CAkey")
            .arg(self.path("root.key"))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(&cert));
        cert
    }

    /// A server configuration using `key_label` with the certificate `cert`
    /// (no PIN: it comes from the environment).
    fn config(&self, name: &str, cert: &Path, token: &str, key_label: &str) -> PathBuf {
        let path = self.path(&format!("{name}.toml"));
        let (tls_cert, tls_key) = match (self.path("tls.pem"), self.path("tls.key")) {
            (c, k) if c.exists() => (c, k),
            _ => self.tls_identity(),
        };
        std::fs::write(
            &path,
            format!(
                "[server]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n\
                 tls_cert_file = {:?}\ntls_key_file = {:?}\n\
                 [ca]\nissuer_cert_file = {:?}\nroot_cert_file = {:?}\n\
                 pkcs11_module = {:?}\npkcs11_token_label = {token:?}\npkcs11_key_label = {key_label:?}\n",
                self.path(&format!("{name}-data")).display().to_string(),
                tls_cert.display().to_string(),
                tls_key.display().to_string(),
                cert.display().to_string(),
                self.path("root.pem").display().to_string(),
                self.module.display().to_string(),
            ),
        )
        .unwrap();
        path
    }

    fn serve(&self, config: &Path, pin: &str) -> Child {
        self.cmd(env!("CARGO_BIN_EXE_signet"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("SIGNET_CA__PKCS11_PIN", pin)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn signet serve")
    }

    /// Runs `signet serve` with a configuration that must be refused at start;
    /// returns its standard error.
    fn refused(&self, config: &Path, pin: &str) -> String {
        let mut child = self.serve(config, pin);
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut s).ok();
            s
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                child.wait().ok();
                panic!("signet serve --config {} did not stop", config.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = reader.join().unwrap();
        assert!(
            !status.success(),
            "signet serve should refuse {}: {stderr}",
            config.display()
        );
        stderr
    }
}

fn random_hex() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[0] &= 0x7f;
    hex::encode(b)
}

/// A `signet serve` child process that has started listening.
struct Server {
    child: Child,
    url: String,
    http_url: String,
    token: String,
    root: PathBuf,
    log: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl Server {
    fn start(hsm: &Hsm, config: &Path, data_dir: &Path) -> Server {
        let mut child = hsm.serve(config, PIN);
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = String::new();
        let serving = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.starts_with("signet: serving ") {
                        break line;
                    }
                }
                Err(_) => {
                    child.kill().ok();
                    child.wait().ok();
                    panic!("signet serve did not start:\n{seen}");
                }
            }
        };
        assert!(
            seen.contains("issuing CA key in a PKCS#11 token"),
            "the start-up log names the PKCS#11 key:\n{seen}"
        );
        assert!(!seen.contains(PIN), "the PIN leaked into the log:\n{seen}");
        // "signet: serving https://localhost:PORT (ACME directory ...), metrics and CRLs on http://localhost:PORT"
        let url = serving
            .split_whitespace()
            .nth(2)
            .expect("url in the serving line")
            .to_string();
        let http_url = serving
            .split_whitespace()
            .last()
            .expect("http url in the serving line")
            .to_string();
        let token = std::fs::read_to_string(data_dir.join("admin-token"))
            .expect("admin token")
            .trim()
            .to_string();
        Server {
            child,
            url,
            http_url,
            token,
            root: hsm.path("root.pem"),
            log: std::sync::Mutex::new(rx),
        }
    }

    fn admin_json(&self, args: &[&str]) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("admin")
            .arg(format!("--url={}", self.url))
            .arg(format!("--token={}", self.token))
            .arg("--ca-file")
            .arg(&self.root)
            .arg("--json")
            .args(args)
            .output()
            .expect("run signet admin");
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

    fn directory(&self) {
        support::standard_directory(|args| self.admin_json(args), false);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        // whatever the server logged, the PIN is not in it
        let rest: Vec<String> = match self.log.get_mut() {
            Ok(log) => log.try_iter().collect(),
            Err(_) => Vec::new(),
        };
        if !std::thread::panicking() {
            assert!(
                !rest.iter().any(|l| l.contains(PIN)),
                "the PIN leaked into the log"
            );
        }
    }
}

fn write_pem(path: &Path, der: &[u8]) {
    std::fs::write(path, ::pem::encode(&::pem::Pem::new("CERTIFICATE", der))).unwrap();
}

/// Issues a code-signing certificate through the server whose issuing key is
/// `key_label` in the token, and checks it (and a CRL) with openssl against the root.
fn issue_with_token_key(key_type: &str, name: &str) {
    let Some(module) = softhsm_module() else {
        return;
    };
    let hsm = Hsm::new(module);
    let spki = hsm.keygen(name, "01", key_type);
    let issuing = hsm.issuing_cert(name, &spki);
    let config = hsm.config(name, &issuing, TOKEN, name);

    // `config check` prints the configuration with the PIN redacted
    let out = run(hsm
        .cmd(env!("CARGO_BIN_EXE_signet"))
        .args(["config", "check", "--config"])
        .arg(&config)
        .env("SIGNET_CA__PKCS11_PIN", PIN));
    assert!(out.contains("pkcs11_pin = \"<redacted>\""), "{out}");
    assert!(!out.contains(PIN), "{out}");

    let srv = Server::start(&hsm, &config, &hsm.path(&format!("{name}-data")));
    srv.directory();
    let work = hsm.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let (_key, csr) = openssl_csr(&work, "leaf", "p256", &[]);
    let v = srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--profile",
        "cs",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
        "--term",
        "365",
    ]);
    let chain = work.join("chain.pem");
    std::fs::write(&chain, v["pem_chain"].as_str().expect("pem_chain")).unwrap();
    let pems = ::pem::parse_many(std::fs::read(&chain).unwrap()).unwrap();
    assert_eq!(pems.len(), 2, "leaf + issuing CA");
    assert_eq!(
        pems[1].contents(),
        ::pem::parse(std::fs::read(&issuing).unwrap())
            .unwrap()
            .contents(),
        "the chain carries the configured issuing CA certificate"
    );
    let leaf = work.join("leaf.pem");
    write_pem(&leaf, pems[0].contents());
    let verified = run(Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(hsm.path("root.pem"))
        .arg("-untrusted")
        .arg(&issuing)
        .arg(&leaf));
    assert!(verified.contains(": OK"), "{verified}");

    let (_, cert) = X509Certificate::from_der(pems[0].contents()).unwrap();
    let ca_pem = ::pem::parse(std::fs::read(&issuing).unwrap()).unwrap();
    let (_, ca) = X509Certificate::from_der(ca_pem.contents()).unwrap();
    assert_eq!(cert.issuer().as_raw(), ca.subject().as_raw());
    let expected_alg = if key_type.starts_with("rsa") {
        "1.2.840.113549.1.1.11"
    } else if key_type.contains("secp384r1") {
        "1.2.840.10045.4.3.3"
    } else {
        "1.2.840.10045.4.3.2"
    };
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        expected_alg
    );
    cert.verify_signature(Some(ca.public_key()))
        .expect("the leaf's signature verifies with the token's public key");
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .code_signing
    );

    // concurrent requests share the token's sessions: every one is signed correctly
    let leaves: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (srv, work) = (&srv, &work);
                scope.spawn(move || {
                    let (_, csr) = openssl_csr(work, &format!("par{i}"), "p256", &[]);
                    let v = srv.admin_json(&[
                        "cert",
                        "request",
                        "--account",
                        "release",
                        "--profile",
                        "cs",
                        "--email",
                        "dev@acme.example",
                        "--csr",
                        csr.to_str().unwrap(),
                        "--term",
                        "365",
                    ]);
                    let pems = ::pem::parse_many(v["pem_chain"].as_str().unwrap()).unwrap();
                    pems[0].contents().to_vec()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut serials = std::collections::HashSet::new();
    for der in &leaves {
        let (_, c) = X509Certificate::from_der(der).unwrap();
        c.verify_signature(Some(ca.public_key()))
            .expect("a concurrently issued leaf verifies with the token's public key");
        assert!(
            serials.insert(c.raw_serial().to_vec()),
            "serials are unique"
        );
    }

    // revoke it: the CRL is signed with the token key too
    let serial = v["serial"].as_str().expect("serial").to_string();
    srv.admin_json(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    srv.admin_json(&["crl", "publish"]);
    let crl = work.join("issuing.crl");
    run(Command::new("curl")
        .args(["-sSf", "-o"])
        .arg(&crl)
        .arg(format!("{}/crl/issuing.crl", srv.http_url)));
    let crl_text = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-verify", "-in"])
        .arg(&crl)
        .arg("-CAfile")
        .arg(&issuing));
    assert!(
        crl_text
            .to_ascii_uppercase()
            .contains(&serial.to_ascii_uppercase()),
        "the revoked serial {serial} is in the CRL:\n{crl_text}"
    );
    let crl_der = std::fs::read(&crl).unwrap();
    let (_, parsed) = CertificateRevocationList::from_der(&crl_der).unwrap();
    parsed
        .verify_signature(ca.public_key())
        .expect("the CRL signature verifies with the token's public key");
}

#[test]
fn p256_issuing_key_in_softhsm_issues_code_signing_certificates_and_crls() {
    issue_with_token_key("EC:prime256v1", "issuing-p256");
}

#[test]
fn p384_issuing_key_in_softhsm_issues_code_signing_certificates_and_crls() {
    issue_with_token_key("EC:secp384r1", "issuing-p384");
}

#[test]
fn rsa3072_issuing_key_in_softhsm_issues_code_signing_certificates_and_crls() {
    issue_with_token_key("rsa:3072", "issuing-rsa");
}

#[test]
fn wrong_pin_token_key_label_and_foreign_keys_are_refused_naming_the_setting() {
    let Some(module) = softhsm_module() else {
        return;
    };
    let hsm = Hsm::new(module);
    let spki = hsm.keygen("issuing", "01", "EC:prime256v1");
    let cert = hsm.issuing_cert("issuing", &spki);
    hsm.keygen("other", "02", "EC:prime256v1");
    hsm.keygen("other-rsa", "03", "rsa:3072");

    let good = hsm.config("good", &cert, TOKEN, "issuing");
    let err = hsm.refused(&good, "0000-wrong");
    assert!(
        err.contains("ca.pkcs11_pin") && err.contains("rejected the PIN"),
        "{err}"
    );
    assert!(!err.contains("0000-wrong"), "the PIN is not echoed: {err}");

    let cfg = hsm.config("token", &cert, "no-such-token", "issuing");
    let err = hsm.refused(&cfg, PIN);
    assert!(
        err.contains("ca.pkcs11_token_label")
            && err.contains("no token labelled \"no-such-token\"")
            && err.contains(&format!("\"{TOKEN}\"")),
        "{err}"
    );

    let cfg = hsm.config("label", &cert, TOKEN, "no-such-key");
    let err = hsm.refused(&cfg, PIN);
    assert!(
        err.contains("ca.pkcs11_key_label")
            && err.contains("no private key labelled \"no-such-key\""),
        "{err}"
    );

    // another P-256 key on the same token: its public key differs
    let cfg = hsm.config("other", &cert, TOKEN, "other");
    let err = hsm.refused(&cfg, PIN);
    assert!(
        err.contains("ca.pkcs11_key_label")
            && err.contains("key \"other\" on token")
            && err.contains("does not belong to the certificate")
            && err.contains("HSM Test issuing CA"),
        "{err}"
    );

    // an RSA key for an EC certificate
    let cfg = hsm.config("other-rsa", &cert, TOKEN, "other-rsa");
    let err = hsm.refused(&cfg, PIN);
    assert!(
        err.contains("ca.pkcs11_key_label")
            && err.contains("does not belong to the certificate")
            && err.contains("CKK_RSA"),
        "{err}"
    );

    // the module must exist (config check names the key before anything loads)
    let cfg = hsm.path("nomodule.toml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&good).unwrap().replace(
            &hsm.module.display().to_string(),
            "/nonexistent/libpkcs11.so",
        ),
    )
    .unwrap();
    let err = hsm.refused(&cfg, PIN);
    assert!(
        err.contains("ca.pkcs11_module") && err.contains("/nonexistent/libpkcs11.so"),
        "{err}"
    );

    // and after all that, the right settings start a server
    let data = hsm.path("good-data");
    let srv = Server::start(&hsm, &good, &data);
    assert!(srv.url.starts_with("https://"), "{}", srv.url);
}

/// In process: when the token logs the CA out under it (what an HSM restart
/// or another application's `C_Logout` does), the next signatures open fresh
/// sessions, log in again and carry on.
#[test]
fn a_token_logout_under_the_ca_is_recovered_in_process() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use rcgen::PublicKeyData as _;
    use signet::ca::{Ca, CaConfig, IssuanceRequest, Serial, SubjectInfo, Template};

    let Some(module) = softhsm_module() else {
        return;
    };
    let hsm = Hsm::new(module);
    let spki = hsm.keygen("issuing", "01", "EC:secp384r1");
    let cert = hsm.issuing_cert("issuing", &spki);
    // The module reads SOFTHSM2_CONF when it is initialized; no other test
    // in this binary loads it in-process (the others run `signet serve`).
    std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
    let cfg = CaConfig {
        crl_url: "http://pki.signet.test/crl/issuing.crl".into(),
        issuer_url: "http://pki.signet.test/ca/issuing.crt".into(),
        issuer_cert_file: Some(cert.display().to_string()),
        root_cert_file: Some(hsm.path("root.pem").display().to_string()),
        pkcs11_module: Some(hsm.module.display().to_string()),
        pkcs11_token_label: Some(TOKEN.into()),
        pkcs11_key_label: Some("issuing".into()),
        pkcs11_pin: Some(signet::config::Secret::new(PIN)),
        ..CaConfig::default()
    };
    let clock = signet::clock::system();
    let ca = Ca::load_or_create(&hsm.path("ca"), &cfg, &clock).expect("CA with a PKCS#11 key");
    // CS BR 3.2, 5.4.1.1: the start-up self-test signs one fixed message with
    // the token key (counted by the key wrapper), no certificate
    assert_eq!(ca.issuing_key_signatures(), 1);
    let ca_der = ca.issuing_cert_der().to_vec();
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    let issue = || {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let now = ::time::OffsetDateTime::now_utc();
        let der = ca
            .issue(&IssuanceRequest {
                serial: Serial::random(),
                subject: SubjectInfo {
                    common_name: "Acme Corp".into(),
                    organization: "Acme Corp".into(),
                    locality: Some("Springfield".into()),
                    country: "US".into(),
                    ..SubjectInfo::default()
                },
                email: "dev@acme.example".into(),
                spki_der: key.subject_public_key_info(),
                template: Template::Ov,
                not_before: now,
                not_after: now + ::time::Duration::days(30),
            })
            .expect("issue with the token key");
        let (_, leaf) = X509Certificate::from_der(&der).unwrap();
        leaf.verify_signature(Some(ca_cert.public_key()))
            .expect("signed by the token key");
        assert_eq!(
            leaf.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.10045.4.3.3"
        );
    };
    issue();

    // Another handle on the same (already initialized) module logs the user
    // out: every session of this process on the token loses its login.
    let ctx = Pkcs11::new(&hsm.module).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => panic!("the module should already be initialized by the CA"),
        Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|i| i.label().trim_end() == TOKEN)
                .unwrap_or(false)
        })
        .expect("the token");
    let session = ctx.open_ro_session(slot).unwrap();
    session.logout().expect("C_Logout");
    drop(session);

    // every pooled session recovers (more signatures than sessions)
    for _ in 0..8 {
        issue();
    }
    // and CRLs are signed with the recovered key as well
    let now = ::time::OffsetDateTime::now_utc();
    let crl = ca
        .sign_crl(&[], 7, now, now + ::time::Duration::days(1))
        .expect("CRL");
    let (_, parsed) = CertificateRevocationList::from_der(&crl).unwrap();
    parsed
        .verify_signature(ca_cert.public_key())
        .expect("CRL signed by the token key");
}
