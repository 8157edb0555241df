//! The development TLS CA: a self-signed CA of its own, unrelated to the code
//! signing hierarchy, that issues the HTTPS listener's certificate when no
//! `server.tls_cert_file` is configured (CS BR 7.1.2.2: the code-signing CA
//! and its root never sign a TLS certificate). Clients of a development
//! server trust `<data_dir>/ca/tls-ca.pem` for HTTPS.
//!
//! With an operator-supplied issuing CA there is no TLS CA: the server then
//! needs `server.tls_cert_file` (or `server.behind_tls_proxy`).

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::hierarchy::{check_key_matches, read_cert, read_key, write_file};
use super::{CaError, Serial, StartupEvent};

pub(crate) const TLS_CA_CERT: &str = "tls-ca.pem";
pub(crate) const TLS_CA_KEY: &str = "tls-ca.key.pem";

/// Validity of the development TLS CA (about 10 years) and of the listener
/// certificates it issues.
const TLS_CA_DAYS: i64 = 10 * 365 + 2;
const SERVER_CERT_DAYS: i64 = 365;

/// The development TLS CA with its key.
pub(crate) struct TlsIssuer {
    der: Vec<u8>,
    key: KeyPair,
    params: CertificateParams,
    organization: String,
}

impl TlsIssuer {
    /// Loads the TLS CA from `dir`, generating it when absent (also in a
    /// development CA directory created before the TLS CA existed).
    pub(crate) fn load_or_create(
        dir: &Path,
        organization: &str,
        now: OffsetDateTime,
        events: &mut Vec<StartupEvent>,
    ) -> Result<TlsIssuer, CaError> {
        let (cert_path, key_path) = (dir.join(TLS_CA_CERT), dir.join(TLS_CA_KEY));
        match (cert_path.exists(), key_path.exists()) {
            (false, false) => {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| CaError::Signing(format!("generating the TLS CA key: {e}")))?;
                let mut p = CertificateParams::default();
                p.distinguished_name = super::dev_hierarchy::ca_name(
                    organization,
                    &format!("{organization} Development TLS CA"),
                );
                p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                p.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
                p.not_before = now - Duration::hours(1);
                p.not_after = now + Duration::days(TLS_CA_DAYS);
                let cert = p
                    .self_signed(&key)
                    .map_err(|e| CaError::Signing(format!("self-signing the TLS CA: {e}")))?;
                write_file(&key_path, key.serialize_pem().as_bytes(), true)?;
                write_file(&cert_path, cert.pem().as_bytes(), false)?;
                events.push(StartupEvent {
                    action: "ca.key.generate",
                    details: serde_json::json!({
                        "role": "development TLS CA",
                        "algorithm": "P256",
                        "key_file": key_path.display().to_string(),
                    }),
                });
                tracing::info!(file = %cert_path.display(), "generated the development TLS CA");
            }
            (true, true) => {}
            _ => {
                return Err(CaError::Io(format!(
                    "development TLS CA in {} is incomplete: {TLS_CA_CERT} and {TLS_CA_KEY} go together \
                     (remove both to generate a new one)",
                    dir.display()
                )))
            }
        }
        let der = read_cert(&cert_path)?;
        let key = read_key(&key_path)?;
        check_key_matches(&key, &der, &key_path)?;
        events.push(super::hierarchy::loaded_event(
            "development TLS CA",
            &cert_path,
            &der,
        ));
        let facts = super::hierarchy::cert_facts(&der)?;
        Ok(TlsIssuer {
            der,
            key,
            params: super::issuer_setup::issuer_params_for(&facts),
            organization: organization.to_string(),
        })
    }

    /// The TLS CA certificate (DER).
    pub(crate) fn cert_der(&self) -> &[u8] {
        &self.der
    }

    /// A TLS server certificate (fresh P-256 key, serverAuth) for `dns_names`.
    pub(crate) fn server_identity(
        &self,
        dns_names: &[String],
        now: OffsetDateTime,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Signing(format!("TLS key: {e}")))?;
        let names: Vec<String> = if dns_names.is_empty() {
            vec!["localhost".to_string()]
        } else {
            dns_names.to_vec()
        };
        let mut p = CertificateParams::new(names.clone())
            .map_err(|e| CaError::InvalidRequest(format!("TLS server names: {e}")))?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, self.organization.clone());
        dn.push(rcgen::DnType::CommonName, names[0].clone());
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(SERVER_CERT_DAYS);
        let issuer = rcgen::Issuer::from_params(&self.params, &self.key);
        let cert = p
            .signed_by(&key, &issuer)
            .map_err(|e| CaError::Signing(format!("TLS certificate: {e}")))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key_der))
    }
}
