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
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::path::Path;
use std::sync::Arc;

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

/// The rustls server configuration for the HTTPS listener (HTTP/1.1 via ALPN).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, Error> {
    let provider = provider();
    let verifier = Arc::new(CaptureClientCert::new(&provider));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("protocol versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(format!("server certificate and key: {e}")))?;
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
