//! Post-signing checks: the issued DER is parsed again with x509-parser and every
//! property the Code Signing BR profile promises is asserted. A violation is a
//! bug in the CA core, reported as [`CaError::Invariant`]; the certificate is
//! never returned.

use aws_lc_rs::signature::ParsedPublicKey;
use der::asn1::ObjectIdentifier;
use x509_parser::asn1_rs::Oid;
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
    pub signature_alg: ObjectIdentifier,
    pub crl_url: &'a str,
    pub issuer_url: &'a str,
    /// None: the structural signature check only (`ca.verify_signatures = false`).
    pub verify_key: Option<&'a ParsedPublicKey>,
}

/// What the issuing key was asked to sign and what it returned.
pub(crate) struct Signed {
    pub tbs: Vec<u8>,
    pub signature: Vec<u8>,
}

/// OID equality on the DER bytes (no string formatting on the hot path).
fn is(oid: &Oid<'_>, expected: &ObjectIdentifier) -> bool {
    oid.as_bytes() == expected.as_bytes()
}

const fn o(s: &str) -> ObjectIdentifier {
    ObjectIdentifier::new_unwrap(s)
}

fn fail(msg: impl Into<String>) -> CaError {
    CaError::Invariant(msg.into())
}

/// Checks an issued code-signing certificate against the request and the profile.
pub(crate) fn check(
    der: &[u8],
    req: &IssuanceRequest,
    exp: &Expectations<'_>,
    signed: &Signed,
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
    let sig_alg = &cert.signature_algorithm.algorithm;
    if !is(sig_alg, &exp.signature_alg) || tbs.signature != cert.signature_algorithm {
        return Err(fail(format!(
            "signature algorithm {} is not the issuer's {}",
            sig_alg.to_id_string(),
            exp.signature_alg
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

    check_extensions(&cert, req, exp)?;
    check_subject(&cert, req)?;

    // The certificate carries exactly the signature the issuing key produced,
    // over exactly the TBSCertificate bytes it contains ...
    if cert.signature_value.unused_bits != 0 {
        return Err(fail("signature BIT STRING has unused bits"));
    }
    if tbs.as_ref() != signed.tbs.as_slice() {
        return Err(fail(
            "the TBSCertificate differs from the bytes that were signed",
        ));
    }
    if cert.signature_value.data.as_ref() != signed.signature.as_slice() {
        return Err(fail(
            "the signature value differs from the one the issuing key produced",
        ));
    }
    // ... and that signature verifies with the issuing CA public key.
    if let Some(key) = exp.verify_key {
        key.verify_sig(tbs.as_ref(), &cert.signature_value.data)
            .map_err(|_| fail("signature does not verify with the issuing CA key"))?;
    }
    Ok(())
}

/// The subject is exactly the requested one, in the profile's order, and
/// meets the subject rules: localityName or stateOrProvinceName (CS BR
/// 7.1.4.2.2); businessCategory, jurisdictionCountryName and serialNumber in an
/// EV certificate, none of the EV attributes in an OV one.
fn check_subject(cert: &X509Certificate<'_>, req: &IssuanceRequest) -> Result<(), CaError> {
    let s = &req.subject;
    const C: ObjectIdentifier = o(oids::AT_C);
    const ST: ObjectIdentifier = o(oids::AT_ST);
    const L: ObjectIdentifier = o(oids::AT_L);
    const O: ObjectIdentifier = o(oids::AT_O);
    const OU: ObjectIdentifier = o(oids::AT_OU);
    const CN: ObjectIdentifier = o(oids::AT_CN);
    const BUSINESS_CATEGORY: ObjectIdentifier = o(oids::AT_BUSINESS_CATEGORY);
    const JURISDICTION_C: ObjectIdentifier = o(oids::AT_JURISDICTION_C);
    const JURISDICTION_ST: ObjectIdentifier = o(oids::AT_JURISDICTION_ST);
    const JURISDICTION_L: ObjectIdentifier = o(oids::AT_JURISDICTION_L);
    const SERIAL_NUMBER: ObjectIdentifier = o(oids::AT_SERIAL_NUMBER);
    const EV_ATTRIBUTES: [ObjectIdentifier; 5] = [
        BUSINESS_CATEGORY,
        JURISDICTION_C,
        JURISDICTION_ST,
        JURISDICTION_L,
        SERIAL_NUMBER,
    ];
    const EV_REQUIRED: [(ObjectIdentifier, &str); 3] = [
        (BUSINESS_CATEGORY, "businessCategory"),
        (JURISDICTION_C, "jurisdictionCountryName"),
        (SERIAL_NUMBER, "serialNumber"),
    ];
    let expected: [(&ObjectIdentifier, Option<&str>); 11] = [
        (&BUSINESS_CATEGORY, s.business_category.as_deref()),
        (&JURISDICTION_C, s.jurisdiction_country.as_deref()),
        (&JURISDICTION_ST, s.jurisdiction_state.as_deref()),
        (&JURISDICTION_L, s.jurisdiction_locality.as_deref()),
        (&SERIAL_NUMBER, s.registration_number.as_deref()),
        (&C, Some(s.country.as_str())),
        (&ST, s.state.as_deref()),
        (&L, s.locality.as_deref()),
        (&O, Some(s.organization.as_str())),
        (&OU, s.organizational_unit.as_deref()),
        (&CN, Some(s.common_name.as_str())),
    ];
    let mut expected = expected.iter().filter_map(|(oid, v)| v.map(|v| (*oid, v)));
    let mut same = true;
    let mut present: Vec<&Oid<'_>> = Vec::with_capacity(11);
    for rdn in cert.subject().iter_rdn() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(fail("subject has a multi-valued or empty RDN"));
        };
        present.push(attr.attr_type());
        let value = attr
            .as_str()
            .map_err(|_| fail("subject attribute is not a string"))?;
        match expected.next() {
            Some((oid, v)) if is(attr.attr_type(), oid) && value == v => {}
            _ => same = false,
        }
    }
    if expected.next().is_some() {
        same = false;
    }
    if !same {
        return Err(fail(format!(
            "subject {} differs from the requested subject",
            cert.subject()
        )));
    }
    let has = |oid: &ObjectIdentifier| present.iter().any(|p| is(p, oid));
    if !has(&L) && !has(&ST) {
        return Err(fail(
            "subject has neither localityName nor stateOrProvinceName (CS BR 7.1.4.2.2)",
        ));
    }
    match req.template {
        super::Template::Ev => {
            if let Some((_, name)) = EV_REQUIRED.iter().find(|(oid, _)| !has(oid)) {
                return Err(fail(format!(
                    "EV certificate subject lacks {name} (EV Guidelines 9.2)"
                )));
            }
        }
        super::Template::Ov => {
            if let Some(oid) = EV_ATTRIBUTES.iter().find(|oid| has(oid)) {
                return Err(fail(format!(
                    "OV certificate subject carries the EV attribute {oid}"
                )));
            }
        }
    }
    Ok(())
}

fn check_extensions(
    cert: &X509Certificate<'_>,
    req: &IssuanceRequest,
    exp: &Expectations<'_>,
) -> Result<(), CaError> {
    const ALLOWED: [ObjectIdentifier; 8] = [
        o(oids::EXT_AKI),
        o(oids::EXT_SAN),
        o(oids::EXT_KU),
        o(oids::EXT_EKU),
        o(oids::EXT_CDP),
        o(oids::EXT_SKI),
        o(oids::EXT_AIA),
        o(oids::EXT_POLICIES),
    ];
    const AD_CA_ISSUERS: ObjectIdentifier = o(oids::AD_CA_ISSUERS);
    let mut seen = [false; ALLOWED.len()];
    for ext in cert.extensions() {
        let Some(index) = ALLOWED.iter().position(|a| is(&ext.oid, a)) else {
            return Err(fail(format!(
                "unexpected extension {}",
                ext.oid.to_id_string()
            )));
        };
        if seen[index] {
            return Err(fail(format!("extension {} appears twice", ALLOWED[index])));
        }
        seen[index] = true;
        if let ParsedExtension::ParseError { error } = ext.parsed_extension() {
            return Err(fail(format!(
                "extension {} does not parse: {error}",
                ALLOWED[index]
            )));
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
                let expected = req.template.policy_oid_der();
                if policies.len() != 1 || !is(&policies[0].policy_id, &expected) {
                    let ids: Vec<String> = policies
                        .iter()
                        .map(|p| p.policy_id.to_id_string())
                        .collect();
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
                    && is(&aia.accessdescs[0].access_method, &AD_CA_ISSUERS)
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
            ParsedExtension::SubjectKeyIdentifier(ski)
                if ski.0 != key_identifier(&cert.public_key().subject_public_key.data) =>
            {
                return Err(fail("subjectKeyIdentifier does not match the public key"));
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
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(fail(format!(
            "required extension {} is missing",
            ALLOWED[missing]
        )));
    }
    Ok(())
}
