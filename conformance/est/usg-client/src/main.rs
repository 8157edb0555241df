//! Drives `usg-est-client` (a third-party RFC 7030 client) against Signet.
//!
//! ```text
//! signet-est-conformance cacerts   --url URL --root ROOT.pem [--label L] --out CERTS.pem
//! signet-est-conformance csrattrs  --url URL --root ROOT.pem [--label L]
//! signet-est-conformance enroll    --url URL --root ROOT.pem [--label L] --user KID --password KEY
//!                                  --cn CN --key-out KEY.pem --cert-out CERT.pem
//!                                  [--key-in KEY.pem: reuse a key, e.g. to resend a pending request]
//! signet-est-conformance reenroll  --url URL --root ROOT.pem [--label L] --cert CERT.pem --key KEY.pem
//!                                  --rdn C=DE --rdn O=... (the certificate's subject, in order)
//!                                  --san-email ADDR --key-out NEW.pem --cert-out NEW-CERT.pem
//! ```
//! Exit codes: 0 done, 1 error (message on stderr), 3 pending approval.

use std::collections::HashMap;
use std::process::ExitCode;

use base64::Engine;
use der::Encode;
use usg_est_client::csr::CsrBuilder;
use usg_est_client::{ClientIdentity, EnrollmentResponse, EstClient, EstClientConfig};

type Res<T> = Result<T, String>;

struct Args {
    single: HashMap<String, String>,
    rdns: Vec<(String, String)>,
}

impl Args {
    fn parse(list: &[String]) -> Res<Args> {
        let mut single = HashMap::new();
        let mut rdns = Vec::new();
        let mut it = list.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            if name == "rdn" {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--rdn {value:?}: expected TYPE=value"))?;
                rdns.push((k.trim().to_string(), v.trim().to_string()));
            } else {
                single.insert(name.to_string(), value.clone());
            }
        }
        Ok(Args { single, rdns })
    }

    fn get(&self, name: &str) -> Res<&str> {
        self.single
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.single.get(name).map(String::as_str)
    }
}

fn read(path: &str) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn write(path: &str, bytes: &[u8]) -> Res<()> {
    std::fs::write(path, bytes).map_err(|e| format!("{path}: {e}"))
}

fn pem_cert(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

async fn client(
    args: &Args,
    identity: Option<ClientIdentity>,
    auth: Option<(&str, &str)>,
) -> Res<EstClient> {
    let mut b = EstClientConfig::builder()
        .server_url(args.get("url")?)
        .map_err(|e| format!("--url: {e}"))?
        .trust_explicit(vec![read(args.get("root")?)?]);
    if let Some(label) = args.opt("label") {
        b = b.ca_label(label);
    }
    if let Some(id) = identity {
        b = b.client_identity(id);
    }
    if let Some((user, password)) = auth {
        b = b.http_auth(user, password);
    }
    let config = b
        .build()
        .map_err(|e| format!("client configuration: {e}"))?;
    EstClient::new(config)
        .await
        .map_err(|e| format!("client: {e}"))
}

fn issued(resp: EnrollmentResponse, cert_out: &str) -> Res<ExitCode> {
    match resp {
        EnrollmentResponse::Issued { certificate } => {
            let der = certificate
                .to_der()
                .map_err(|e| format!("encoding the certificate: {e}"))?;
            write(cert_out, pem_cert(&der).as_bytes())?;
            println!("issued: {cert_out}");
            Ok(ExitCode::SUCCESS)
        }
        EnrollmentResponse::Pending { retry_after } => {
            println!("pending: retry after {retry_after} seconds");
            Ok(ExitCode::from(3))
        }
    }
}

async fn run(cmd: &str, args: &Args) -> Res<ExitCode> {
    match cmd {
        "cacerts" => {
            let c = client(args, None, None).await?;
            let certs = c
                .get_ca_certs()
                .await
                .map_err(|e| format!("cacerts: {e}"))?;
            let mut pem = String::new();
            for cert in &certs.certificates {
                pem.push_str(&pem_cert(&cert.to_der().map_err(|e| e.to_string())?));
            }
            write(args.get("out")?, pem.as_bytes())?;
            println!("cacerts: {} certificates", certs.certificates.len());
            Ok(ExitCode::SUCCESS)
        }
        "csrattrs" => {
            let c = client(args, None, None).await?;
            let attrs = c
                .get_csr_attributes()
                .await
                .map_err(|e| format!("csrattrs: {e}"))?;
            for a in &attrs.attributes {
                println!("{} values={}", a.oid, a.values.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        "enroll" => {
            let c = client(args, None, Some((args.get("user")?, args.get("password")?))).await?;
            let mut builder = CsrBuilder::new().common_name(args.get("cn")?);
            if let Some(path) = args.opt("key-in") {
                let pem = String::from_utf8(read(path)?).map_err(|e| format!("{path}: {e}"))?;
                let key = rcgen::KeyPair::from_pem(&pem).map_err(|e| format!("{path}: {e}"))?;
                builder = builder.with_key_pair(key);
            }
            let (csr, key) = builder.build().map_err(|e| format!("CSR: {e}"))?;
            write(args.get("key-out")?, key.serialize_pem().as_bytes())?;
            let resp = c
                .simple_enroll(&csr)
                .await
                .map_err(|e| format!("simpleenroll: {e}"))?;
            issued(resp, args.get("cert-out")?)
        }
        "reenroll" => {
            let identity = ClientIdentity::new(read(args.get("cert")?)?, read(args.get("key")?)?);
            let c = client(args, Some(identity), None).await?;
            let mut b = CsrBuilder::new();
            for (k, v) in &args.rdns {
                b = match k.as_str() {
                    "CN" => b.common_name(v),
                    "O" => b.organization(v),
                    "OU" => b.organizational_unit(v),
                    "C" => b.country(v),
                    "ST" => b.state(v),
                    "L" => b.locality(v),
                    other => return Err(format!("--rdn {other}: unsupported attribute")),
                };
            }
            if let Some(email) = args.opt("san-email") {
                b = b.san_email(email);
            }
            let (csr, key) = b.build().map_err(|e| format!("CSR: {e}"))?;
            write(args.get("key-out")?, key.serialize_pem().as_bytes())?;
            let resp = c
                .simple_reenroll(&csr)
                .await
                .map_err(|e| format!("simplereenroll: {e}"))?;
            issued(resp, args.get("cert-out")?)
        }
        other => Err(format!(
            "unknown command {other:?} (cacerts, csrattrs, enroll, reenroll)"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("usage: signet-est-conformance cacerts|csrattrs|enroll|reenroll --url URL --root ROOT.pem ...");
        return ExitCode::from(2);
    };
    let result = match Args::parse(rest) {
        Ok(args) => run(cmd, &args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
