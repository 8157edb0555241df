//! Post-signing checks: the issued DER is parsed again with x509-parser and every
//! property the Code Signing BR profile promises is asserted. A violation is a
//! bug in the CA core, reported as [`CaError::Invariant`]; the certificate is
//! never returned.

use aws_lc_rs::signature::ParsedPublicKey;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

use super::profile::{checked_validity, key_identifier, oids};
use super::{CaError, IssuanceRequest, MAX_VALIDITY_DAYS};

/// What every certificate from one issuer must look like.
pub(crate) struct Expectations<'a> {
    pub issuer_subject_raw: &'a [u8],
    pub issuer_key_id: &'a [u8],
    pub signature_alg_oid: &'a str,
    pub crl_url: &'a str,
    pub issuer_url: &'a str,
    pub verify_key: &'a ParsedPublicKey,
}

fn fail(msg: impl Into<String>) -> CaError {
    CaError::Invariant(msg.into())
}

/// Checks an issued code-signing certificate against the request and the profile.
pub(crate) fn check(
    der: &[u8],
    req: &IssuanceRequest,
    exp: &Expectations<'_>,
) -> Result<(), CaError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| fail(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(fail("trailing bytes after the certificate"));
    }
    let tbs = &cert.tbs_certificate;
    if tbs.version != X509Version::V3 {
        return Err(fail("not a v3 certificate"));
    }
    if tbs.raw_serial() != req.serial.0.as_slice() {
        return Err(fail(format!(
            "serial {} differs from the requested {}",
            hex::encode(tbs.raw_serial()),
            req.serial
        )));
    }
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    if sig_oid != exp.signature_alg_oid || tbs.signature != cert.signature_algorithm {
        return Err(fail(format!(
            "signature algorithm {sig_oid} is not the issuer's {}",
            exp.signature_alg_oid
        )));
    }
    if tbs.issuer.as_raw() != exp.issuer_subject_raw {
        return Err(fail("issuer name differs from the issuing CA subject"));
    }
    if tbs.subject_pki.raw != req.spki_der.as_slice() {
        return Err(fail(
            "subjectPublicKeyInfo differs from the request's public key",
        ));
    }

    // Validity: exactly the (second-truncated) request, within the cap.
    let (nb, na) = checked_validity(req).map_err(|e| fail(format!("request validity: {e}")))?;
    let v = &tbs.validity;
    let (got_nb, got_na) = (v.not_before.to_datetime(), v.not_after.to_datetime());
    if got_nb != nb || got_na != na {
        return Err(fail(format!(
            "validity {got_nb}..{got_na} differs from the requested {nb}..{na}"
        )));
    }
    if got_na - got_nb > time::Duration::days(MAX_VALIDITY_DAYS) || got_na <= got_nb {
        return Err(fail("validity exceeds the Code Signing BR maximum"));
    }

    check_subject(&cert, req)?;
    check_extensions(&cert, req, exp)?;

    // The signature verifies with the issuing CA key.
    if cert.signature_value.unused_bits != 0 {
        return Err(fail("signature BIT STRING has unused bits"));
    }
    exp.verify_key
        .verify_sig(tbs.as_ref(), &cert.signature_value.data)
        .map_err(|_| fail("signature does not verify with the issuing CA key"))?;
    Ok(())
}

fn check_subject(cert: &X509Certificate<'_>, req: &IssuanceRequest) -> Result<(), CaError> {
    let s = &req.subject;
    let mut expected: Vec<(&str, &str)> = vec![(oids::AT_C, s.country.as_str())];
    if let Some(st) = &s.state {
        expected.push((oids::AT_ST, st));
    }
    if let Some(l) = &s.locality {
        expected.push((oids::AT_L, l));
    }
    expected.push((oids::AT_O, &s.organization));
    if let Some(ou) = &s.organizational_unit {
        expected.push((oids::AT_OU, ou));
    }
    expected.push((oids::AT_CN, &s.common_name));
    let mut got = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let attrs: Vec<_> = rdn.iter().collect();
        if attrs.len() != 1 {
            return Err(fail("subject has a multi-valued RDN"));
        }
        let value = attrs[0]
            .as_str()
            .map_err(|_| fail("subject attribute is not a string"))?;
        got.push((attrs[0].attr_type().to_id_string(), value));
    }
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(&expected)
            .all(|((go, gv), (eo, ev))| go == eo && gv == ev);
    if !same {
        return Err(fail(format!(
            "subject {} differs from the requested subject",
            cert.subject()
        )));
    }
    Ok(())
}

fn check_extensions(
    cert: &X509Certificate<'_>,
    req: &IssuanceRequest,
    exp: &Expectations<'_>,
) -> Result<(), CaError> {
    const ALLOWED: [&str; 8] = [
        oids::EXT_AKI,
        oids::EXT_SAN,
        oids::EXT_KU,
        oids::EXT_EKU,
        oids::EXT_CDP,
        oids::EXT_SKI,
        oids::EXT_AIA,
        oids::EXT_POLICIES,
    ];
    let mut seen: Vec<String> = Vec::with_capacity(8);
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if seen.contains(&oid) {
            return Err(fail(format!("extension {oid} appears twice")));
        }
        if let ParsedExtension::ParseError { error } = ext.parsed_extension() {
            return Err(fail(format!("extension {oid} does not parse: {error}")));
        }
        match ext.parsed_extension() {
            ParsedExtension::BasicConstraints(bc) if bc.ca => {
                return Err(fail("basicConstraints cA=TRUE in a subscriber certificate"));
            }
            ParsedExtension::KeyUsage(ku) => {
                if !ext.critical {
                    return Err(fail("keyUsage is not critical"));
                }
                if !ku.digital_signature() || ku.flags != 1 {
                    return Err(fail(format!(
                        "keyUsage must be digitalSignature only, found {ku}"
                    )));
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let ok = eku.code_signing
                    && !eku.any
                    && !eku.server_auth
                    && !eku.client_auth
                    && !eku.email_protection
                    && !eku.time_stamping
                    && !eku.ocsp_signing
                    && eku.other.is_empty();
                if !ok || ext.critical {
                    return Err(fail(
                        "extKeyUsage must be exactly codeSigning (not critical)",
                    ));
                }
            }
            ParsedExtension::CertificatePolicies(policies) => {
                let ids: Vec<String> = policies
                    .iter()
                    .map(|p| p.policy_id.to_id_string())
                    .collect();
                if ids.len() != 1 || ids[0] != req.template.policy_oid() {
                    return Err(fail(format!(
                        "certificatePolicies {ids:?} must be exactly [{}]",
                        req.template.policy_oid()
                    )));
                }
                if policies.iter().any(|p| p.policy_qualifiers.is_some()) {
                    return Err(fail("certificatePolicies carries qualifiers"));
                }
            }
            ParsedExtension::CRLDistributionPoints(cdp) => {
                let uris: Vec<&str> = cdp
                    .points
                    .iter()
                    .flat_map(|dp| match &dp.distribution_point {
                        Some(DistributionPointName::FullName(names)) => names
                            .iter()
                            .filter_map(|n| match n {
                                GeneralName::URI(u) => Some(*u),
                                _ => None,
                            })
                            .collect(),
                        _ => Vec::new(),
                    })
                    .collect();
                if cdp.points.len() != 1 || uris != [exp.crl_url] {
                    return Err(fail(format!(
                        "cRLDistributionPoints {uris:?} must be exactly [{}]",
                        exp.crl_url
                    )));
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                let ok = aia.accessdescs.len() == 1
                    && aia.accessdescs[0].access_method.to_id_string() == oids::AD_CA_ISSUERS
                    && matches!(aia.accessdescs[0].access_location, GeneralName::URI(u) if u == exp.issuer_url);
                if !ok {
                    return Err(fail(format!(
                        "authorityInfoAccess must be exactly caIssuers {}",
                        exp.issuer_url
                    )));
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                let id = aki.key_identifier.as_ref().map(|k| k.0);
                if id != Some(exp.issuer_key_id) || aki.authority_cert_issuer.is_some() {
                    return Err(fail("authorityKeyIdentifier is not the issuing CA key id"));
                }
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => {
                if ski.0 != key_identifier(&cert.public_key().subject_public_key.data).as_slice() {
                    return Err(fail("subjectKeyIdentifier does not match the public key"));
                }
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                let ok = san.general_names.len() == 1
                    && matches!(san.general_names[0], GeneralName::RFC822Name(e) if e == req.email);
                if !ok || ext.critical {
                    return Err(fail(format!(
                        "subjectAltName must be exactly rfc822Name {}",
                        req.email
                    )));
                }
            }
            _ => {}
        }
        if !ALLOWED.contains(&oid.as_str()) {
            return Err(fail(format!("unexpected extension {oid}")));
        }
        seen.push(oid);
    }
    for required in ALLOWED {
        if !seen.iter().any(|s| s == required) {
            return Err(fail(format!("required extension {required} is missing")));
        }
    }
    Ok(())
}
