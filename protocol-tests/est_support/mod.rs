//! The build agent's scratch directory for the EST black-box tests: keys,
//! CSRs and renewal CSRs made by openssl, requests sent by curl.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use crate::common::TestServer;

/// One scratch directory with the server's root and TLS CA certificates in
/// it, where openssl and curl run as a build agent's script would.
pub struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    pub fn new(server: &TestServer) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.pem"), &server.root_pem).unwrap();
        std::fs::write(dir.path().join("tls-ca.pem"), &server.tls_ca_pem).unwrap();
        Work { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn text(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.read(name)).into_owned()
    }

    /// Runs a command in the scratch directory; panics with its stderr on failure.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| {
                panic!("{program} is missing ({e}): run scripts/install-test-deps")
            });
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// An EC P-256 key in `name` (PEM).
    pub fn ec_key(&self, name: &str) {
        self.run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        );
    }

    /// A CSR for `key` with `subj`, base64 of DER with line breaks (as
    /// `openssl base64` writes it) in `out`.
    pub fn csr(&self, key: &str, subj: &str, out: &str) {
        let der = format!("{out}.der");
        self.run(
            "openssl",
            &[
                "req", "-new", "-key", key, "-subj", subj, "-outform", "DER", "-out", &der,
            ],
        );
        self.run("openssl", &["base64", "-in", &der, "-out", out]);
    }

    /// A renewal CSR: the subject and extensions (SAN) of `cert`, the key `key`.
    pub fn renewal_csr(&self, cert: &str, key: &str, out: &str) {
        let pem = format!("{out}.pem");
        self.run(
            "openssl",
            &[
                "x509",
                "-x509toreq",
                "-in",
                cert,
                "-signkey",
                key,
                "-copy_extensions",
                "copyall",
                "-out",
                &pem,
            ],
        );
        let der = format!("{out}.der");
        self.run(
            "openssl",
            &["req", "-in", &pem, "-outform", "DER", "-out", &der],
        );
        self.run("openssl", &["base64", "-in", &der, "-out", out]);
    }

    /// curl; returns (status, headers text). The body lands in `body_out`.
    pub fn curl(&self, args: &[&str], body_out: &str) -> (u16, String) {
        let headers = format!("{body_out}.headers");
        let mut all: Vec<&str> = vec![
            "-sS",
            "--cacert",
            "tls-ca.pem",
            "-o",
            body_out,
            "-D",
            &headers,
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        let status = self.run("curl", &all);
        let status: u16 = status
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("curl status {status:?}"));
        (status, self.text(&headers).to_ascii_lowercase())
    }

    /// POSTs a base64 CSR file as application/pkcs10.
    pub fn post_csr(&self, url: &str, csr: &str, extra: &[&str], body_out: &str) -> (u16, String) {
        let data = format!("@{csr}");
        let mut args: Vec<&str> = vec![
            "-H",
            "Content-Type: application/pkcs10",
            "--data-binary",
            &data,
        ];
        args.extend_from_slice(extra);
        args.push(url);
        self.curl(&args, body_out)
    }

    /// Decodes a base64 certs-only PKCS#7 response into PEM certificates.
    pub fn certs_of(&self, b64: &str, pem_out: &str) -> usize {
        let der = format!("{b64}.p7b");
        self.run("openssl", &["base64", "-d", "-in", b64, "-out", &der]);
        self.run(
            "openssl",
            &[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                &der,
                "-print_certs",
                "-out",
                pem_out,
            ],
        );
        self.text(pem_out)
            .matches("-----BEGIN CERTIFICATE-----")
            .count()
    }

    /// The one certificate of a base64 certs-only PKCS#7 response, as PEM
    /// in `pem_out`.
    pub fn cert_of(&self, b64: &str, pem_out: &str) {
        assert_eq!(self.certs_of(b64, pem_out), 1, "one certificate in {b64}");
    }

    /// The serial of a PEM certificate, as Signet writes it (lower-case hex).
    pub fn serial(&self, pem: &str) -> String {
        let out = self.run("openssl", &["x509", "-in", pem, "-noout", "-serial"]);
        out.trim()
            .trim_start_matches("serial=")
            .to_ascii_lowercase()
    }
}
