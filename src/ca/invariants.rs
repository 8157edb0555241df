//! Post-signing checks. [`check`]: the issued DER is parsed again with
//! x509-parser and every property the Code Signing BR profile promises is
//! asserted (at start-up on the templates' certificates, per certificate with
//! `ca.reparse_certificates` and in debug builds). [`check_issued`]: per
//! certificate, what varies between certificates of one checked template. A
//! violation is a bug in the CA core, reported as [`CaError::Invariant`]; the
//! certificate is never returned.

use aws_lc_rs::signature::ParsedPublicKey;
use der::asn1::ObjectIdentifier;
use x509_parser::asn1_rs::Oid;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Version;

use super::profile::{checked_validity, key_identifier, oids};
use super::template::CertTemplate;
use super::{CaError, IssuanceRequest};

/// What every certificate from one issuer must look like.
pub(crate) struct Expectations<'a> {
    pub issuer_subject_raw: &'a [u8],
    pub issuer_key_id: &'a [u8],
    pub signature_alg: ObjectIdentifier,
    pub crl_url: &'a str,
    pub issuer_url: &'a str,
    /// The certificatePolicies extnValue of the OV and EV template.
    pub policies: [&'a [u8]; 2],
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
    if !super::profile::within_max_validity(got_nb, got_na) {
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
/// meets the subject rules (see [`subject_rules`]).
fn check_subject(cert: &X509Certificate<'_>, req: &IssuanceRequest) -> Result<(), CaError> {
    let mut attrs: Vec<(&[u8], &str)> = Vec::with_capacity(11);
    for rdn in cert.subject().iter_rdn() {
        let mut it = rdn.iter();
        let (Some(attr), None) = (it.next(), it.next()) else {
            return Err(fail("subject has a multi-valued or empty RDN"));
        };
        let value = attr
            .as_str()
            .map_err(|_| fail("subject attribute is not a string"))?;
        attrs.push((attr.attr_type().as_bytes(), value));
    }
    subject_rules(req, &attrs, || cert.subject().to_string())
}

/// `attrs` (attribute type OID content octets, value) are exactly the
/// requested subject in the profile's order, and meet the subject rules:
/// localityName or stateOrProvinceName (CS BR 7.1.4.2.2); businessCategory,
/// jurisdictionCountryName and serialNumber in an EV certificate, none of the
/// EV attributes in an OV one.
fn subject_rules(
    req: &IssuanceRequest,
    attrs: &[(&[u8], &str)],
    describe: impl Fn() -> String,
) -> Result<(), CaError> {
    use super::profile::attr;
    let s = &req.subject;
    // Attribute types as DER OID content octets (the same constants are
    // checked against the dotted OIDs in `ca::tests`).
    let (c, st, l, o_, ou, cn) = (
        attr::C.1,
        attr::ST.1,
        attr::L.1,
        attr::O.1,
        attr::OU.1,
        attr::CN.1,
    );
    let (bc, jc, jst, jl, sn) = (
        attr::BUSINESS_CATEGORY.1,
        attr::JURISDICTION_C.1,
        attr::JURISDICTION_ST.1,
        attr::JURISDICTION_L.1,
        attr::SERIAL_NUMBER.1,
    );
    let ev_attributes = [bc, jc, jst, jl, sn];
    let ev_required = [
        (bc, "businessCategory"),
        (jc, "jurisdictionCountryName"),
        (sn, "serialNumber"),
    ];
    let expected: [(&[u8], Option<&str>); 11] = [
        (bc, s.business_category.as_deref()),
        (jc, s.jurisdiction_country.as_deref()),
        (jst, s.jurisdiction_state.as_deref()),
        (jl, s.jurisdiction_locality.as_deref()),
        (sn, s.registration_number.as_deref()),
        (c, Some(s.country.as_str())),
        (st, s.state.as_deref()),
        (l, s.locality.as_deref()),
        (o_, Some(s.organization.as_str())),
        (ou, s.organizational_unit.as_deref()),
        (cn, Some(s.common_name.as_str())),
    ];
    let mut present = expected.iter().filter_map(|(oid, v)| v.map(|v| (*oid, v)));
    let mut same = true;
    for (oid, value) in attrs {
        match present.next() {
            Some((e, v)) if *oid == e && *value == v => {}
            _ => same = false,
        }
    }
    if present.next().is_some() {
        same = false;
    }
    if !same {
        return Err(fail(format!(
            "subject {} differs from the requested subject",
            describe()
        )));
    }
    // The attributes are exactly the expected ones, in order: an attribute
    // type is present iff the request has a value for it.
    let has = |oid: &[u8]| expected.iter().any(|(e, v)| v.is_some() && *e == oid);
    if !has(l) && !has(st) {
        return Err(fail(
            "subject has neither localityName nor stateOrProvinceName (CS BR 7.1.4.2.2)",
        ));
    }
    match req.template {
        super::Template::Ev => {
            if let Some((_, name)) = ev_required.iter().find(|(oid, _)| !has(oid)) {
                return Err(fail(format!(
                    "EV certificate subject lacks {name} (EV Guidelines 9.2)"
                )));
            }
        }
        super::Template::Ov => {
            if let Some(oid) = ev_attributes.iter().find(|oid| has(oid)) {
                let oid = ObjectIdentifier::from_bytes(oid)
                    .map(|o| o.to_string())
                    .unwrap_or_default();
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
                // first the template's reserved OID without qualifiers (CS BR
                // 7.1.2.3 a), then exactly what the configuration adds
                let expected = req.template.policy_oid_der();
                let reserved_first = policies
                    .first()
                    .is_some_and(|p| is(&p.policy_id, &expected) && p.policy_qualifiers.is_none());
                let configured = match req.template {
                    super::Template::Ov => exp.policies[0],
                    super::Template::Ev => exp.policies[1],
                };
                if !reserved_first || ext.value != configured {
                    let ids: Vec<String> = policies
                        .iter()
                        .map(|p| p.policy_id.to_id_string())
                        .collect();
                    return Err(fail(format!(
                        "certificatePolicies {ids:?} must be [{}] (without qualifiers) and the configured ca.policy_oid / ca.cps_uri",
                        req.template.policy_oid()
                    )));
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
                if ski.0
                    != key_identifier(&cert.public_key().subject_public_key.data).as_slice() =>
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

/// A minimal DER reader for the per-certificate check: one-octet tags,
/// definite minimal lengths, nothing else. Deliberately independent of the
/// encoder in [`super::template`].
struct Reader<'a>(&'a [u8]);

/// A failed expectation of the reader: what was being read (kept small so
/// that the reader's results stay cheap to return).
#[derive(Debug)]
struct Bad {
    what: &'static str,
    why: &'static str,
}

impl From<Bad> for CaError {
    fn from(b: Bad) -> CaError {
        fail(format!("{}: {}", b.what, b.why))
    }
}

/// One TLV: its tag, its content octets and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn next(&mut self, what: &'static str) -> Result<Tlv<'a>, Bad> {
        let bad = || Bad {
            what,
            why: "malformed DER",
        };
        let input = self.0;
        let (&tag, rest) = input.split_first().ok_or_else(bad)?;
        if tag & 0x1f == 0x1f {
            return Err(bad());
        }
        let (&first, rest) = rest.split_first().ok_or_else(bad)?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
                return Err(bad());
            }
            let len = rest[..n].iter().fold(0usize, |l, b| (l << 8) | *b as usize);
            if len < 0x80 {
                return Err(bad());
            }
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(bad());
        }
        let header = input.len() - rest.len();
        self.0 = &rest[len..];
        Ok(Tlv {
            tag,
            content: &rest[..len],
            whole: &input[..header + len],
        })
    }

    /// The next TLV, which must carry `tag`.
    #[inline]
    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], Bad> {
        let t = self.next(what)?;
        if t.tag != tag {
            return Err(Bad {
                what,
                why: "unexpected tag",
            });
        }
        Ok(t.content)
    }

    /// Consumes exactly `bytes`.
    #[inline]
    fn expect_bytes(&mut self, bytes: &[u8], what: &'static str) -> Result<(), Bad> {
        match self.0.strip_prefix(bytes) {
            Some(rest) => {
                self.0 = rest;
                Ok(())
            }
            None => Err(Bad {
                what,
                why: "differs from the checked template",
            }),
        }
    }

    #[inline]
    fn end(&self, what: &'static str) -> Result<(), Bad> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Bad {
                what,
                why: "trailing bytes",
            })
        }
    }
}

/// What the per-certificate check compares an issued certificate with,
/// besides the request.
pub(crate) struct Issued<'a> {
    /// The template, whose static pieces were checked in full (re-parse and
    /// [`check`]) when the CA started.
    pub template: &'a CertTemplate,
    /// The subjectKeyIdentifier computed from the request's public key.
    pub ski: &'a [u8; 20],
    pub issuer_not_after: time::OffsetDateTime,
}

/// The per-certificate check of a certificate built from a checked template:
/// walks the DER (independently of the encoder) and asserts everything that
/// varies between certificates -- the serial (positive, minimal, the
/// requested one), the validity (the requested one, within the CS BR maximum
/// and the issuer's validity, UTCTime exactly for 1950-2049), the subject
/// (exactly the requested attributes, subject rules), the
/// subjectPublicKeyInfo (byte for byte the request's), subjectAltName
/// (exactly the rfc822Name), subjectKeyIdentifier -- that every static piece
/// is byte for byte the template's, and that the certificate carries exactly
/// the signature the issuing key returned over exactly its TBSCertificate.
pub(crate) fn check_issued(
    der: &[u8],
    req: &IssuanceRequest,
    issued: &Issued<'_>,
    signed: &Signed,
) -> Result<(), CaError> {
    use super::template::{ext_oid, tag};
    let t = issued.template;
    if t.template != req.template {
        return Err(fail("certificate built from the other template"));
    }
    let mut outer = Reader(der);
    let cert = outer.expect(tag::SEQUENCE, "Certificate")?;
    outer.end("the certificate")?;
    let mut cert = Reader(cert);
    let tbs = cert.next("TBSCertificate")?;
    if tbs.tag != tag::SEQUENCE || tbs.whole != signed.tbs.as_slice() {
        return Err(fail(
            "the TBSCertificate differs from the bytes that were signed",
        ));
    }
    cert.expect_bytes(&t.sig_alg, "signatureAlgorithm")?;
    let bits = cert.expect(tag::BIT_STRING, "signatureValue")?;
    if bits.first() != Some(&0) {
        return Err(fail("signature BIT STRING has unused bits"));
    }
    if &bits[1..] != signed.signature.as_slice() {
        return Err(fail(
            "the signature value differs from the one the issuing key produced",
        ));
    }
    cert.end("signatureValue")?;

    let mut tbs = Reader(tbs.content);
    tbs.expect_bytes(&[0xa0, 3, tag::INTEGER, 1, 2], "version (v3)")?;
    let serial = tbs.expect(tag::INTEGER, "serialNumber")?;
    if !serial_ok(serial) {
        return Err(fail(
            "serial is not a positive INTEGER of at most 20 octets",
        ));
    }
    if serial != req.serial.0.as_slice() {
        return Err(fail(format!(
            "serial {} differs from the requested {}",
            hex::encode(serial),
            req.serial
        )));
    }
    tbs.expect_bytes(&t.sig_alg, "signature algorithm")?;
    tbs.expect_bytes(&t.issuer, "issuer name")?;

    let (nb, na) = checked_validity(req).map_err(|e| fail(format!("request validity: {e}")))?;
    let mut validity = Reader(tbs.expect(tag::SEQUENCE, "validity")?);
    let got_nb = decode_time(validity.next("notBefore")?)?;
    let got_na = decode_time(validity.next("notAfter")?)?;
    validity.end("validity")?;
    if got_nb != nb || got_na != na {
        return Err(fail(format!(
            "validity {got_nb}..{got_na} differs from the requested {nb}..{na}"
        )));
    }
    if !super::profile::within_max_validity(got_nb, got_na) {
        return Err(fail("validity exceeds the Code Signing BR maximum"));
    }
    if got_na > issued.issuer_not_after {
        return Err(fail("validity ends after the issuing CA's"));
    }

    let mut subject = Reader(tbs.expect(tag::SEQUENCE, "subject")?);
    // The profile has at most 11 attributes: a fixed array, no allocation.
    let mut attrs: [(&[u8], &str); 11] = [(&[], ""); 11];
    let mut n = 0;
    while !subject.0.is_empty() {
        if n == attrs.len() {
            return Err(fail("subject has more attributes than the profile allows"));
        }
        let mut rdn = Reader(subject.expect(tag::SET, "subject RDN")?);
        let mut atv = Reader(rdn.expect(tag::SEQUENCE, "subject attribute")?);
        if rdn.end("subject RDN").is_err() {
            return Err(fail("subject has a multi-valued or empty RDN"));
        }
        let oid = atv.expect(tag::OID, "subject attribute type")?;
        let value = atv.next("subject attribute value")?;
        atv.end("subject attribute")?;
        if value.tag != tag::UTF8_STRING && value.tag != tag::PRINTABLE_STRING {
            return Err(fail(
                "subject attribute is not a UTF8String or PrintableString",
            ));
        }
        let value = std::str::from_utf8(value.content)
            .map_err(|_| fail("subject attribute is not a string"))?;
        attrs[n] = (oid, value);
        n += 1;
    }
    let attrs = &attrs[..n];
    subject_rules(req, attrs, || format!("{attrs:?}"))?;

    let spki = tbs.next("subjectPublicKeyInfo")?;
    if spki.whole != req.spki_der.as_slice() {
        return Err(fail(
            "subjectPublicKeyInfo differs from the request's public key",
        ));
    }

    let mut exts = Reader(tbs.expect(tag::CTX3_CONSTRUCTED, "extensions")?);
    tbs.end("extensions")?;
    let mut list = Reader(exts.expect(tag::SEQUENCE, "extensions")?);
    exts.end("extensions")?;
    list.expect_bytes(&t.aki, "authorityKeyIdentifier")?;
    // subjectAltName: exactly one rfc822Name, the requested one, not critical.
    let san_ok = (|| {
        let mut san = Reader(list.expect(tag::SEQUENCE, "subjectAltName")?);
        let oid = san.expect(tag::OID, "subjectAltName")?;
        let mut value = Reader(san.expect(tag::OCTET_STRING, "subjectAltName")?);
        san.end("subjectAltName")?;
        let mut names = Reader(value.expect(tag::SEQUENCE, "subjectAltName")?);
        value.end("subjectAltName")?;
        let email = names.expect(tag::CTX1, "rfc822Name")?;
        names.end("subjectAltName")?;
        Ok::<bool, Bad>(oid == ext_oid::SAN && email == req.email.as_bytes())
    })()
    .unwrap_or(false);
    if !san_ok {
        return Err(fail(format!(
            "subjectAltName must be exactly rfc822Name {}",
            req.email
        )));
    }
    list.expect_bytes(&t.middle, "keyUsage, extKeyUsage, cRLDistributionPoints")?;
    let ski_ok = (|| {
        let mut ski = Reader(list.expect(tag::SEQUENCE, "subjectKeyIdentifier")?);
        let oid = ski.expect(tag::OID, "subjectKeyIdentifier")?;
        let mut value = Reader(ski.expect(tag::OCTET_STRING, "subjectKeyIdentifier")?);
        ski.end("subjectKeyIdentifier")?;
        let id = value.expect(tag::OCTET_STRING, "subjectKeyIdentifier")?;
        value.end("subjectKeyIdentifier")?;
        Ok::<bool, Bad>(oid == ext_oid::SKI && id == issued.ski.as_slice())
    })()
    .unwrap_or(false);
    if !ski_ok {
        return Err(fail("subjectKeyIdentifier does not match the public key"));
    }
    list.expect_bytes(&t.tail, "authorityInfoAccess, certificatePolicies")?;
    list.end("certificatePolicies")?;
    Ok(())
}

/// Whether INTEGER content octets are a positive, non-zero, minimally encoded
/// serial of at most 20 octets (RFC 5280 4.1.2.2).
fn serial_ok(serial: &[u8]) -> bool {
    let positive_minimal = match serial {
        [] => false,
        [first, ..] if first & 0x80 != 0 => false,
        [0, second, ..] => second & 0x80 != 0,
        _ => true,
    };
    positive_minimal && serial.len() <= 20 && serial.iter().any(|b| *b != 0)
}

/// A UTCTime (years 1950-2049) or GeneralizedTime (other years) in the DER
/// form RFC 5280 requires: whole seconds, `Z`.
fn decode_time(t: Tlv<'_>) -> Result<time::OffsetDateTime, CaError> {
    use super::template::tag;
    let bad = || fail("validity time is not a DER UTCTime/GeneralizedTime");
    let c = t.content;
    if !c.ends_with(b"Z")
        || !c[..c.len().saturating_sub(1)]
            .iter()
            .all(u8::is_ascii_digit)
    {
        return Err(bad());
    }
    let n = |i: usize| ((c[i] - b'0') * 10 + (c[i + 1] - b'0')) as i32;
    let (year, rest) = match (t.tag, c.len()) {
        (tag::UTC_TIME, 13) => {
            let yy = n(0);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (tag::GENERALIZED_TIME, 15) => {
            let year = n(0) * 100 + n(2);
            if (1950..2050).contains(&year) {
                return Err(fail("GeneralizedTime used for a year UTCTime must carry"));
            }
            (year, 4)
        }
        _ => return Err(bad()),
    };
    let month = time::Month::try_from(n(rest) as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, n(rest + 2) as u8).map_err(|_| bad())?;
    let tod = time::Time::from_hms(n(rest + 4) as u8, n(rest + 6) as u8, n(rest + 8) as u8)
        .map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, tod).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::super::template::tag;
    use super::*;
    use time::macros::datetime;

    fn time(tag: u8, s: &str) -> Result<time::OffsetDateTime, CaError> {
        decode_time(Tlv {
            tag,
            content: s.as_bytes(),
            whole: &[],
        })
    }

    /// UTCTime exactly for 1950-2049, GeneralizedTime otherwise, whole seconds, Z.
    #[test]
    fn validity_times_are_decoded_strictly() {
        assert_eq!(
            time(tag::UTC_TIME, "491231235959Z").unwrap(),
            datetime!(2049-12-31 23:59:59 UTC)
        );
        assert_eq!(
            time(tag::UTC_TIME, "500101000000Z").unwrap(),
            datetime!(1950-01-01 00:00:00 UTC)
        );
        assert_eq!(
            time(tag::GENERALIZED_TIME, "20500101000000Z").unwrap(),
            datetime!(2050-01-01 00:00:00 UTC)
        );
        for (t, s) in [
            (tag::GENERALIZED_TIME, "20491231235959Z"),
            (tag::UTC_TIME, "4912312359Z"),
            (tag::UTC_TIME, "491231235959"),
            (tag::UTC_TIME, "491231235959+0000"),
            (tag::GENERALIZED_TIME, "20500101000000.5Z"),
            (tag::UTC_TIME, "491331235959Z"),
            (tag::UTC_TIME, "4912312359-9Z"),
            (tag::OCTET_STRING, "491231235959Z"),
        ] {
            assert!(time(t, s).is_err(), "{s}");
        }
    }

    /// Serial encodings that are not positive and minimal are refused without
    /// panicking (an empty INTEGER included).
    #[test]
    fn check_issued_refuses_bad_serial_encodings() {
        assert!(serial_ok(&[0x01, 0x02]));
        assert!(serial_ok(&[0x00, 0x80]));
        for bad in [
            &[][..],
            &[0x80][..],
            &[0x00, 0x01][..],
            &[0x00][..],
            &[0u8; 21][..],
        ] {
            assert!(!serial_ok(bad), "{bad:?}");
        }
    }

    /// The DER reader refuses non-minimal and overlong lengths.
    #[test]
    fn der_reader_refuses_non_minimal_lengths() {
        let ok = [0x04, 0x81, 0x80];
        let mut long = ok.to_vec();
        long.extend_from_slice(&[0u8; 0x80]);
        assert_eq!(Reader(&long).next("x").unwrap().content.len(), 0x80);
        for bad in [
            &[0x04, 0x81, 0x05, 0, 0, 0, 0, 0][..],
            &[0x04, 0x82, 0x00, 0x80][..],
            &[0x04, 0x80][..],
            &[0x04, 0x02, 0x00][..],
            &[0x1f, 0x01, 0x00][..],
        ] {
            assert!(Reader(bad).next("x").is_err(), "{bad:?}");
        }
    }
}
