//! The CS BR 7.1.2.2 profile of an operator-supplied issuing CA certificate,
//! checked at every start (`ca.issuer_cert_file`).
//!
//! Always refused (the CA could not issue at all): not a CA (basicConstraints
//! cA), keyUsage without keyCertSign, an extKeyUsage without codeSigning.
//! Refused unless `ca.allow_nonconforming_issuer = true` (test setups only,
//! which then warn loudly at every start): no extKeyUsage, or one that also
//! allows serverAuth, timeStamping or anyExtendedKeyUsage (7.1.2.2 g); no
//! certificatePolicies (7.1.2.2 a); no HTTP cRLDistributionPoints (7.1.2.2
//! b); no authorityInformationAccess with an HTTP caIssuers (7.1.2.2 c); a
//! public key other than RSA of at least 3072 bits, ECDSA P-256 or P-384
//! (6.1.5). The error names every finding.

use std::path::Path;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::{CaConfig, CaError};
use crate::csr::KeyKind;

/// Checks the issuing CA certificate `der` (read from `path`).
pub(crate) fn check(der: &[u8], path: &Path, cfg: &CaConfig) -> Result<(), CaError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| CaError::Io(format!("{}: invalid certificate: {e}", path.display())))?;
    let bad = |why: &str| {
        CaError::Config(format!(
            "ca.issuer_cert_file {} cannot issue code-signing certificates: {why}",
            path.display()
        ))
    };
    let bc = cert
        .basic_constraints()
        .map_err(|e| bad(&format!("basicConstraints: {e}")))?;
    if !bc.is_some_and(|bc| bc.value.ca) {
        return Err(bad(
            "it is not a CA certificate (basicConstraints cA is not TRUE)",
        ));
    }
    if let Some(ku) = cert
        .key_usage()
        .map_err(|e| bad(&format!("keyUsage: {e}")))?
    {
        if !ku.value.key_cert_sign() {
            return Err(bad("its keyUsage lacks keyCertSign"));
        }
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| bad(&format!("extKeyUsage: {e}")))?;
    if let Some(eku) = &eku {
        if !eku.value.code_signing && !eku.value.any {
            return Err(bad("its extKeyUsage does not include codeSigning"));
        }
    }
    let findings = profile_findings(&cert);
    if findings.is_empty() {
        return Ok(());
    }
    let summary = findings.join("; ");
    if cfg.allow_nonconforming_issuer {
        tracing::warn!(
            file = %path.display(),
            findings = %summary,
            "!!! NON-CONFORMING ISSUING CA ALLOWED BY ca.allow_nonconforming_issuer: \
             the issuing CA certificate does not meet the Code Signing BR 7.1.2.2 profile; \
             certificates issued by it are NOT publicly trustworthy. Test setups only !!!"
        );
        return Ok(());
    }
    Err(CaError::Config(format!(
        "ca.issuer_cert_file {} does not meet the Code Signing BR 7.1.2.2 subordinate CA profile: {summary} \
         (for a test setup only, ca.allow_nonconforming_issuer = true starts anyway)",
        path.display()
    )))
}

/// The CS BR 7.1.2.2 / 6.1.5 findings on an issuing CA certificate (empty: conforming).
pub(crate) fn profile_findings(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut findings = Vec::new();
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let v = &eku.value;
            for (present, name) in [
                (v.server_auth, "serverAuth"),
                (v.time_stamping, "timeStamping"),
                (v.any, "anyExtendedKeyUsage"),
            ] {
                if present {
                    findings.push(format!(
                        "extKeyUsage includes {name} (only codeSigning is allowed, 7.1.2.2 g)"
                    ));
                }
            }
        }
        Ok(None) => {
            findings.push("extKeyUsage is missing (codeSigning required, 7.1.2.2 g)".into())
        }
        Err(e) => findings.push(format!("extKeyUsage: {e}")),
    }
    let (mut policies, mut cdp, mut aia) = (false, false, false);
    let http = |u: &str| u.starts_with("http://");
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => policies = !p.is_empty(),
            ParsedExtension::CRLDistributionPoints(points) => {
                cdp = points.points.iter().any(|dp| match &dp.distribution_point {
                    Some(DistributionPointName::FullName(names)) => names
                        .iter()
                        .any(|n| matches!(n, GeneralName::URI(u) if http(u))),
                    _ => false,
                })
            }
            ParsedExtension::AuthorityInfoAccess(a) => {
                aia = a.accessdescs.iter().any(|d| {
                    d.access_method.to_id_string() == super::profile::oids::AD_CA_ISSUERS
                        && matches!(&d.access_location, GeneralName::URI(u) if http(u))
                })
            }
            _ => {}
        }
    }
    if !policies {
        findings.push("certificatePolicies is missing (7.1.2.2 a)".into());
    }
    if !cdp {
        findings.push("cRLDistributionPoints with an http:// URL is missing (7.1.2.2 b)".into());
    }
    if !aia {
        findings.push(
            "authorityInformationAccess with an http:// caIssuers URL is missing (7.1.2.2 c)"
                .into(),
        );
    }
    match crate::csr::key_kind(cert.public_key()) {
        KeyKind::Rsa { bits } if bits >= 3072 => {}
        KeyKind::EcP256 | KeyKind::EcP384 => {}
        other => findings.push(format!(
            "public key {other} is not RSA of at least 3072 bits, ECDSA P-256 or P-384 (6.1.5)"
        )),
    }
    findings
}
