//! TLS for the HTTPS listener: rustls with the aws-lc-rs provider, a server
//! certificate from Signet's CA (or from files), and OPTIONAL client
//! certificates captured for EST.
//!
//! The client-certificate verifier ([`CaptureClientCert`]) accepts any chain at
//! the TLS layer: rustls still checks that the client signed the handshake with
//! the leaf's key (proof of possession), but chain building, status and EKU are
//! decided by the EST front end, which gets the chain in
//! [`HttpRequest::client_chain`](super::routing::HttpRequest::client_chain).
//! Code-signing certificates carry no clientAuth EKU, which is why a stock
//! WebPKI client verifier cannot be used here.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

use crate::ca::Ca;
use crate::clock::SharedClock;
use crate::error::Error;

/// The crypto provider used everywhere in Signet's TLS: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts any client certificate chain (optional), verifying only the
/// handshake signature; offers no CA hints.
#[derive(Debug)]
pub struct CaptureClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl CaptureClientCert {
    pub fn new(provider: &CryptoProvider) -> CaptureClientCert {
        CaptureClientCert {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for CaptureClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Only make sure it is a certificate whose key can verify the handshake
        // signature; everything else is the EST front end's decision.
        x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Where the HTTPS server certificate comes from.
#[derive(Debug, Clone)]
pub enum IdentitySource {
    /// Issued by Signet's CA for these names (`server.tls_hostnames`); re-issued
    /// when less than [`RENEW_BEFORE_DAYS`] of validity remain.
    Ca { ca: Arc<Ca>, hostnames: Vec<String> },
    /// PEM files (`server.tls_cert_file`, `server.tls_key_file`); reloaded when
    /// their content changes.
    Files { cert: PathBuf, key: PathBuf },
}

/// Days of remaining validity below which the CA-issued identity is renewed.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// The HTTPS server identity, replaceable while serving (rustls asks it for
/// the certificate on every handshake).
pub struct ServerIdentity {
    source: IdentitySource,
    clock: SharedClock,
    provider: Arc<CryptoProvider>,
    state: RwLock<IdentityState>,
}

struct IdentityState {
    key: Arc<CertifiedKey>,
    not_after: OffsetDateTime,
    /// SHA-256 over the PEM files (file source), to notice changes.
    fingerprint: Vec<u8>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("not_after", &self.not_after())
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// Loads or issues the first identity.
    pub fn new(source: IdentitySource, clock: SharedClock) -> Result<ServerIdentity, Error> {
        let provider = provider();
        let state = load_identity(&source, &provider)?;
        Ok(ServerIdentity {
            source,
            clock,
            provider,
            state: RwLock::new(state),
        })
    }

    /// When the current server certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .not_after
    }

    /// Renews the CA-issued certificate when it is due, or reloads changed
    /// files. Returns whether the identity was replaced. On error the current
    /// identity stays in use.
    pub fn refresh(&self) -> Result<bool, Error> {
        let due = match &self.source {
            IdentitySource::Ca { .. } => {
                self.not_after() - self.clock.now() < time::Duration::days(RENEW_BEFORE_DAYS)
            }
            IdentitySource::Files { cert, key } => {
                let current = self
                    .state
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .fingerprint
                    .clone();
                files_fingerprint(cert, key)? != current
            }
        };
        if !due {
            return Ok(false);
        }
        let fresh = load_identity(&self.source, &self.provider)?;
        tracing::info!(not_after = %fresh.not_after, "HTTPS server certificate replaced");
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(true)
    }
}

impl ResolvesServerCert for ServerIdentity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.state
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .key
                .clone(),
        )
    }
}

fn files_fingerprint(cert: &Path, key: &Path) -> Result<Vec<u8>, Error> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (name, path) in [("server.tls_cert_file", cert), ("server.tls_key_file", key)] {
        let bytes =
            std::fs::read(path).map_err(|e| Error::io(format!("{name} {}", path.display()), e))?;
        ctx.update(&(bytes.len() as u64).to_be_bytes());
        ctx.update(&bytes);
    }
    Ok(ctx.finish().as_ref().to_vec())
}

fn load_identity(
    source: &IdentitySource,
    provider: &CryptoProvider,
) -> Result<IdentityState, Error> {
    let ((chain, key), fingerprint) = match source {
        IdentitySource::Ca { ca, hostnames } => (ca.tls_server_identity(hostnames)?, Vec::new()),
        IdentitySource::Files { cert, key } => {
            let fingerprint = files_fingerprint(cert, key)?;
            (load_pem_identity(cert, key)?, fingerprint)
        }
    };
    let leaf = chain
        .first()
        .ok_or_else(|| Error::Tls("empty server certificate chain".into()))?;
    let not_after = x509_parser::parse_x509_certificate(leaf)
        .ok()
        .and_then(|(_, c)| {
            OffsetDateTime::from_unix_timestamp(c.validity().not_after.timestamp()).ok()
        })
        .ok_or_else(|| Error::Tls("the server certificate cannot be parsed".into()))?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| Error::Tls(format!("server certificate and key: {e}")))?;
    Ok(IdentityState {
        key: Arc::new(key),
        not_after,
        fingerprint,
    })
}

/// The rustls server configuration for the HTTPS listener (HTTP/1.1 via ALPN).
pub fn server_config(identity: Arc<ServerIdentity>) -> Result<rustls::ServerConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(CaptureClientCert::new(&provider));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("protocol versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(identity);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Resumption keeps repeat clients (ACME polling, EST agents) off the full
    // handshake: a larger stateful cache plus stateless tickets (12 h keys).
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    cfg.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .map_err(|e| Error::Tls(format!("session tickets: {e}")))?;
    Ok(cfg)
}

/// Reads a PEM certificate chain (leaf first) and a PEM private key.
pub fn load_pem_identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    use rustls_pki_types::pem::PemObject;
    let read = |key: &str, p: &Path| {
        std::fs::read(p).map_err(|e| Error::io(format!("{key} {}", p.display()), e))
    };
    let cert_pem = read("server.tls_cert_file", cert_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("server.tls_cert_file {}: {e}", cert_file.display())))?;
    if chain.is_empty() {
        return Err(Error::Tls(format!(
            "server.tls_cert_file {}: no CERTIFICATE block",
            cert_file.display()
        )));
    }
    let key_pem = read("server.tls_key_file", key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| Error::Tls(format!("server.tls_key_file {}: {e}", key_file.display())))?;
    Ok((chain, key))
}
