//! The Code Signing BR v3 subscriber certificate profile: everything in a
//! certificate that does not come from the request's public key.
//!
//! Extensions of an issued certificate, in order:
//! authorityKeyIdentifier, subjectAltName (one rfc822Name), keyUsage (critical,
//! digitalSignature only), extKeyUsage (codeSigning only), cRLDistributionPoints,
//! subjectKeyIdentifier, authorityInfoAccess (caIssuers only), certificatePolicies
//! (the template's reserved CA/B Forum OID without qualifiers, then the CA's own
//! `ca.policy_oid` with its `ca.cps_uri` CPS qualifier when configured).
//!
//! basicConstraints is deliberately ABSENT: the CS BRs allow it to be omitted for
//! subscriber certificates, and RFC 5280 path validation treats a v3 certificate
//! without basicConstraints as an end entity. The invariant check refuses any
//! certificate that carries cA=TRUE.

use der::asn1::{Ia5String, ObjectIdentifier};
use der::Encode;
use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    certpolicy::{PolicyInformation, PolicyQualifierInfo},
    AccessDescription, AuthorityInfoAccessSyntax, CertificatePolicies,
};

use super::{CaConfig, CaError, IssuanceRequest, SubjectInfo, Template, MAX_VALIDITY_DAYS};

/// OIDs as dotted strings (what x509-parser reports) and DER objects.
pub(crate) mod oids {
    use der::asn1::ObjectIdentifier;

    pub const POLICY_OV: &str = "2.23.140.1.4.1";
    pub const POLICY_EV: &str = "2.23.140.1.3";
    pub const ID_AD_CA_ISSUERS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
    pub const ID_QT_CPS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");
    pub const AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
    pub const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
    pub const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];

    pub const EXT_AKI: &str = "2.5.29.35";
    pub const EXT_SKI: &str = "2.5.29.14";
    pub const EXT_KU: &str = "2.5.29.15";
    pub const EXT_SAN: &str = "2.5.29.17";
    pub const EXT_EKU: &str = "2.5.29.37";
    pub const EXT_CDP: &str = "2.5.29.31";
    pub const EXT_POLICIES: &str = "2.5.29.32";
    pub const EXT_AIA: &str = "1.3.6.1.5.5.7.1.1";
    pub const AD_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

    pub const SERIAL_NUMBER: &[u64] = &[2, 5, 4, 5];
    pub const BUSINESS_CATEGORY: &[u64] = &[2, 5, 4, 15];
    pub const JURISDICTION_L: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 1];
    pub const JURISDICTION_ST: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 2];
    pub const JURISDICTION_C: &[u64] = &[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3];
}

impl Template {
    /// The reserved CA/B Forum policy OID this template puts in certificatePolicies.
    pub fn policy_oid(self) -> &'static str {
        match self {
            Template::Ov => oids::POLICY_OV,
            Template::Ev => oids::POLICY_EV,
        }
    }

    /// [`Template::policy_oid`] as a DER object identifier.
    pub(crate) fn policy_oid_der(self) -> ObjectIdentifier {
        const OV: ObjectIdentifier = ObjectIdentifier::new_unwrap(oids::POLICY_OV);
        const EV: ObjectIdentifier = ObjectIdentifier::new_unwrap(oids::POLICY_EV);
        match self {
            Template::Ov => OV,
            Template::Ev => EV,
        }
    }
}

/// Per-CA precomputed certificate parameters for each template.
#[derive(Debug, Clone)]
pub(crate) struct Profiles {
    ov: CertificateParams,
    ev: CertificateParams,
}

impl Profiles {
    /// Builds the static part of each template once (KU, EKU, CDP, AIA, policy, AKI).
    pub(crate) fn new(cfg: &CaConfig) -> Result<Profiles, CaError> {
        let aia = aia_extension(&cfg.issuer_url)?;
        if cfg.crl_url.is_empty() || !cfg.crl_url.is_ascii() {
            return Err(CaError::Config(
                "ca.crl_url must be a non-empty ASCII URL".into(),
            ));
        }
        let base = |template: Template| -> Result<CertificateParams, CaError> {
            let mut p = CertificateParams::default();
            p.is_ca = IsCa::NoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
            p.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![cfg.crl_url.clone()],
            }];
            p.use_authority_key_identifier_extension = true;
            // Filled per request: serial, validity, subject, SAN, SKI.
            p.distinguished_name = DistinguishedName::new();
            p.custom_extensions = vec![aia.clone(), policy_extension(template, cfg)?];
            Ok(p)
        };
        Ok(Profiles {
            ov: base(Template::Ov)?,
            ev: base(Template::Ev)?,
        })
    }

    /// The full certificate parameters for one request.
    pub(crate) fn params_for(
        &self,
        req: &IssuanceRequest,
        subject_public_key: &[u8],
    ) -> Result<CertificateParams, CaError> {
        let (not_before, not_after) = checked_validity(req)?;
        let mut p = match req.template {
            Template::Ov => self.ov.clone(),
            Template::Ev => self.ev.clone(),
        };
        p.serial_number = Some(SerialNumber::from_slice(&req.serial.0));
        p.not_before = not_before;
        p.not_after = not_after;
        check_template_subject(req)?;
        p.distinguished_name = subject_dn(&req.subject)?;
        check_email(&req.email)?;
        p.subject_alt_names =
            vec![SanType::Rfc822Name(req.email.as_str().try_into().map_err(
                |_| invalid(format!("email {:?} is not an ASCII address", req.email)),
            )?)];
        p.custom_extensions
            .insert(0, ski_extension(subject_public_key));
        Ok(p)
    }
}

fn invalid(msg: String) -> CaError {
    CaError::InvalidRequest(msg)
}

/// Validity truncated to whole seconds, refusing empty/negative spans and spans
/// above [`MAX_VALIDITY_DAYS`]. The validity period includes both notBefore
/// and notAfter (CS BR 1.6.1, RFC 5280 4.1.2.5): a term of N days is
/// `notAfter = notBefore + N days - 1 s`, so `notAfter - notBefore` must stay
/// below [`MAX_VALIDITY_DAYS`] days.
pub(crate) fn checked_validity(
    req: &IssuanceRequest,
) -> Result<(time::OffsetDateTime, time::OffsetDateTime), CaError> {
    let nb = req
        .not_before
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| invalid(e.to_string()))?;
    let na = req
        .not_after
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| invalid(e.to_string()))?;
    if na <= nb {
        return Err(invalid(format!(
            "not_after ({na}) must be later than not_before ({nb})"
        )));
    }
    if !within_max_validity(nb, na) {
        return Err(invalid(format!(
            "validity of {} (notBefore and notAfter inclusive) exceeds the Code Signing BR maximum of {MAX_VALIDITY_DAYS} days",
            na - nb + time::Duration::SECOND
        )));
    }
    if nb.year() < 1950 || na.year() > 9999 {
        return Err(invalid("validity outside the years 1950..9999".into()));
    }
    Ok((nb, na))
}

/// Whether `not_before..=not_after` (both inclusive, whole seconds) lasts at
/// most [`MAX_VALIDITY_DAYS`] days (CS BR 6.3.2 with 1.6.1's definition).
pub(crate) fn within_max_validity(
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> bool {
    not_after > not_before
        && not_after - not_before + time::Duration::SECOND
            <= time::Duration::days(MAX_VALIDITY_DAYS)
}

/// An rfc822Name mailbox: ASCII `local@domain`, no spaces or control
/// characters, at most 255 octets (RFC 5280 ub-emailaddress-length).
pub(crate) fn check_email(email: &str) -> Result<(), CaError> {
    let bad = |why: &str| invalid(format!("email {email:?} {why}"));
    if !email.is_ascii() {
        return Err(bad("is not an ASCII address"));
    }
    if email.len() > 255 {
        return Err(bad("is longer than 255 characters"));
    }
    if email
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad("contains whitespace or control characters"));
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err(bad("is not a local@domain mailbox")),
    }
}

/// Upper bounds from RFC 5280 Appendix A (ub-*).
fn check_attr(name: &str, value: &str, max: usize) -> Result<(), CaError> {
    if value.trim().is_empty() {
        return Err(invalid(format!("subject {name} must not be empty")));
    }
    // One pass: ASCII values (the common case) are counted by length.
    let (chars, control) = if value.is_ascii() {
        (value.len(), value.bytes().any(|b| b.is_ascii_control()))
    } else {
        value
            .chars()
            .fold((0, false), |(n, c), ch| (n + 1, c || ch.is_control()))
    };
    if chars > max {
        return Err(invalid(format!(
            "subject {name} is longer than {max} characters"
        )));
    }
    if control {
        return Err(invalid(format!(
            "subject {name} contains control characters"
        )));
    }
    Ok(())
}

/// The EV subject attributes a request carries, by name.
pub(crate) fn ev_attributes(s: &SubjectInfo) -> [(&'static str, Option<&str>); 5] {
    [
        ("businessCategory", s.business_category.as_deref()),
        ("jurisdictionCountryName", s.jurisdiction_country.as_deref()),
        (
            "jurisdictionStateOrProvinceName",
            s.jurisdiction_state.as_deref(),
        ),
        (
            "jurisdictionLocalityName",
            s.jurisdiction_locality.as_deref(),
        ),
        ("serialNumber", s.registration_number.as_deref()),
    ]
}

/// The subject rules that depend on the template: an EV certificate carries
/// businessCategory, jurisdictionCountryName and serialNumber (EV Guidelines
/// 9.2.3-9.2.5); an OV certificate carries none of the EV attributes.
pub(crate) fn check_template_subject(req: &IssuanceRequest) -> Result<(), CaError> {
    super::subject_rules::check_subject(&req.subject)?;
    let attrs = ev_attributes(&req.subject);
    match req.template {
        Template::Ev => {
            let missing: Vec<&str> = attrs[..2]
                .iter()
                .chain(&attrs[4..])
                .filter(|(_, v)| v.is_none())
                .map(|(name, _)| *name)
                .collect();
            if !missing.is_empty() {
                return Err(invalid(format!(
                    "an EV certificate subject requires {} (EV Guidelines 9.2)",
                    missing.join(", ")
                )));
            }
        }
        Template::Ov => {
            if let Some((name, _)) = attrs.iter().find(|(_, v)| v.is_some()) {
                return Err(invalid(format!(
                    "{name} is an EV subject attribute; an OV certificate must not carry it"
                )));
            }
        }
    }
    Ok(())
}

fn check_country(name: &str, value: &str) -> Result<(), CaError> {
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(format!(
            "subject {name} {value:?} is not an ISO 3166-1 alpha-2 code"
        )));
    }
    Ok(())
}

/// One subject attribute after validation, in the order of the subject DN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubjectAttr<'a> {
    /// The attribute type as OID arcs (rcgen) ...
    pub oid: &'static [u64],
    /// ... and as the content octets of its DER OBJECT IDENTIFIER.
    pub oid_der: &'static [u8],
    /// PrintableString (true) or UTF8String (false).
    pub printable: bool,
    pub value: &'a str,
}

impl SubjectAttr<'_> {
    const EMPTY: SubjectAttr<'static> = SubjectAttr {
        oid: &[],
        oid_der: &[],
        printable: false,
        value: "",
    };
}

/// The validated subject attributes (at most one of each of the 11 types),
/// without an allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubjectAttrs<'a> {
    attrs: [SubjectAttr<'a>; 11],
    len: usize,
}

impl<'a> std::ops::Deref for SubjectAttrs<'a> {
    type Target = [SubjectAttr<'a>];
    fn deref(&self) -> &[SubjectAttr<'a>] {
        &self.attrs[..self.len]
    }
}

/// The subject attributes of the profile (order, string types, OIDs).
pub(crate) mod attr {
    pub const BUSINESS_CATEGORY: (&[u64], &[u8]) = (super::oids::BUSINESS_CATEGORY, &[0x55, 4, 15]);
    pub const JURISDICTION_C: (&[u64], &[u8]) = (
        super::oids::JURISDICTION_C,
        &[0x2b, 6, 1, 4, 1, 0x82, 0x37, 0x3c, 2, 1, 3],
    );
    pub const JURISDICTION_ST: (&[u64], &[u8]) = (
        super::oids::JURISDICTION_ST,
        &[0x2b, 6, 1, 4, 1, 0x82, 0x37, 0x3c, 2, 1, 2],
    );
    pub const JURISDICTION_L: (&[u64], &[u8]) = (
        super::oids::JURISDICTION_L,
        &[0x2b, 6, 1, 4, 1, 0x82, 0x37, 0x3c, 2, 1, 1],
    );
    pub const SERIAL_NUMBER: (&[u64], &[u8]) = (super::oids::SERIAL_NUMBER, &[0x55, 4, 5]);
    pub const C: (&[u64], &[u8]) = (&[2, 5, 4, 6], &[0x55, 4, 6]);
    pub const ST: (&[u64], &[u8]) = (&[2, 5, 4, 8], &[0x55, 4, 8]);
    pub const L: (&[u64], &[u8]) = (&[2, 5, 4, 7], &[0x55, 4, 7]);
    pub const O: (&[u64], &[u8]) = (&[2, 5, 4, 10], &[0x55, 4, 10]);
    pub const OU: (&[u64], &[u8]) = (&[2, 5, 4, 11], &[0x55, 4, 11]);
    pub const CN: (&[u64], &[u8]) = (&[2, 5, 4, 3], &[0x55, 4, 3]);
}

/// The subject attributes, validated, in this order: businessCategory,
/// jurisdictionC, jurisdictionST, jurisdictionL, serialNumber (the EV
/// attributes, when set), then C, ST, L, O, OU, CN. C, jurisdictionC and
/// serialNumber are PrintableStrings, the others UTF8String. localityName or
/// stateOrProvinceName is required (CS BR 7.1.4.2.2).
pub(crate) fn subject_attributes(s: &SubjectInfo) -> Result<SubjectAttrs<'_>, CaError> {
    check_country("country", &s.country)?;
    if s.locality.is_none() && s.state.is_none() {
        return Err(invalid(
            "subject requires localityName or stateOrProvinceName (CS BR 7.1.4.2.2)".into(),
        ));
    }
    let mut attrs = SubjectAttrs {
        attrs: [SubjectAttr::EMPTY; 11],
        len: 0,
    };
    let mut push = |(oid, oid_der): (&'static [u64], &'static [u8]), printable, value| {
        // At most 11: one of each attribute type below.
        attrs.attrs[attrs.len] = SubjectAttr {
            oid,
            oid_der,
            printable,
            value,
        };
        attrs.len += 1;
    };
    if let Some(bc) = &s.business_category {
        check_attr("businessCategory", bc, 128)?;
        push(attr::BUSINESS_CATEGORY, false, bc);
    }
    if let Some(jc) = &s.jurisdiction_country {
        check_country("jurisdictionCountryName", jc)?;
        push(attr::JURISDICTION_C, true, jc);
    }
    if let Some(jst) = &s.jurisdiction_state {
        check_attr("jurisdictionStateOrProvinceName", jst, 128)?;
        push(attr::JURISDICTION_ST, false, jst);
    }
    if let Some(jl) = &s.jurisdiction_locality {
        check_attr("jurisdictionLocalityName", jl, 128)?;
        push(attr::JURISDICTION_L, false, jl);
    }
    if let Some(sn) = &s.registration_number {
        check_attr("serialNumber", sn, 64)?;
        if rcgen::string::PrintableString::try_from(sn.as_str()).is_err() {
            return Err(invalid(format!(
                "subject serialNumber {sn:?} is not a PrintableString"
            )));
        }
        push(attr::SERIAL_NUMBER, true, sn);
    }
    push(attr::C, true, &s.country);
    if let Some(st) = &s.state {
        check_attr("stateOrProvinceName", st, 128)?;
        push(attr::ST, false, st);
    }
    if let Some(l) = &s.locality {
        check_attr("localityName", l, 128)?;
        push(attr::L, false, l);
    }
    check_attr("organizationName", &s.organization, 64)?;
    push(attr::O, false, &s.organization);
    if let Some(ou) = &s.organizational_unit {
        check_attr("organizationalUnitName", ou, 64)?;
        push(attr::OU, false, ou);
    }
    check_attr("commonName", &s.common_name, 64)?;
    push(attr::CN, false, &s.common_name);
    Ok(attrs)
}

/// The subject DN in rcgen's form (the reference encoder), from [`subject_attributes`].
pub(crate) fn subject_dn(s: &SubjectInfo) -> Result<DistinguishedName, CaError> {
    let mut dn = DistinguishedName::new();
    for a in subject_attributes(s)?.iter() {
        let value = if a.printable {
            DnValue::PrintableString(
                rcgen::string::PrintableString::try_from(a.value)
                    .map_err(|e| invalid(format!("subject {}: {e}", a.value)))?,
            )
        } else {
            DnValue::Utf8String(a.value.to_string())
        };
        dn.push(DnType::from_oid(a.oid), value);
    }
    Ok(dn)
}

/// Subject key identifier: RFC 7093 section 2 method 1 (leftmost 160 bits of the
/// SHA-256 of the subjectPublicKey bits).
pub(crate) fn key_identifier(subject_public_key: &[u8]) -> [u8; 20] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, subject_public_key);
    let mut id = [0u8; 20];
    id.copy_from_slice(&d.as_ref()[..20]);
    id
}

fn ski_extension(subject_public_key: &[u8]) -> CustomExtension {
    let id = key_identifier(subject_public_key);
    let mut content = Vec::with_capacity(22);
    content.push(0x04);
    content.push(id.len() as u8);
    content.extend_from_slice(&id);
    CustomExtension::from_oid_content(oids::SUBJECT_KEY_IDENTIFIER, content)
}

fn aia_extension(issuer_url: &str) -> Result<CustomExtension, CaError> {
    Ok(CustomExtension::from_oid_content(
        oids::AIA,
        aia_value(issuer_url)?,
    ))
}

/// The authorityInfoAccess extension value: exactly caIssuers `issuer_url`.
pub(crate) fn aia_value(issuer_url: &str) -> Result<Vec<u8>, CaError> {
    aia_value_for("ca.issuer_url", issuer_url)
}

/// The authorityInfoAccess extension value: exactly caIssuers `url` (the
/// configuration key `key`).
pub(crate) fn aia_value_for(key: &str, issuer_url: &str) -> Result<Vec<u8>, CaError> {
    let url = Ia5String::new(issuer_url)
        .map_err(|_| CaError::Config(format!("{key} must be an ASCII URL")))?;
    if issuer_url.is_empty() {
        return Err(CaError::Config(format!("{key} must not be empty")));
    }
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: oids::ID_AD_CA_ISSUERS,
        access_location: GeneralName::UniformResourceIdentifier(url),
    }]);
    aia.to_der()
        .map_err(|e| CaError::Config(format!("{key} cannot be encoded: {e}")))
}

fn policy_extension(template: Template, cfg: &CaConfig) -> Result<CustomExtension, CaError> {
    Ok(CustomExtension::from_oid_content(
        oids::CERTIFICATE_POLICIES,
        policies_value(&[template.policy_oid()], cfg)?,
    ))
}

/// The CA-defined policy of the configuration (`ca.policy_oid`, `ca.cps_uri`).
pub(crate) fn ca_policy(cfg: &CaConfig) -> Result<Option<PolicyInformation>, CaError> {
    let Some(policy) = cfg.policy_oid.as_deref() else {
        if cfg.cps_uri.is_some() {
            return Err(CaError::Config(
                "ca.cps_uri needs ca.policy_oid (the CPS qualifies the CA's own policy)".into(),
            ));
        }
        return Ok(None);
    };
    let oid = ObjectIdentifier::new(policy.trim())
        .map_err(|e| CaError::Config(format!("ca.policy_oid {policy:?}: {e}")))?;
    if [oids::POLICY_OV, oids::POLICY_EV, "2.5.29.32.0"].contains(&oid.to_string().as_str()) {
        return Err(CaError::Config(format!(
            "ca.policy_oid {policy} must be the CA's own policy, not a reserved one"
        )));
    }
    let policy_qualifiers = match cfg.cps_uri.as_deref() {
        None => None,
        Some(uri) => {
            let ia5 = Ia5String::new(uri)
                .map_err(|_| CaError::Config("ca.cps_uri must be an ASCII URI".into()))?;
            let qualifier = der::Any::encode_from(&ia5)
                .map_err(|e| CaError::Config(format!("ca.cps_uri cannot be encoded: {e}")))?;
            Some(vec![PolicyQualifierInfo {
                policy_qualifier_id: oids::ID_QT_CPS,
                qualifier: Some(qualifier),
            }])
        }
    };
    Ok(Some(PolicyInformation {
        policy_identifier: oid,
        policy_qualifiers,
    }))
}

/// The certificatePolicies extension value: the `reserved` CA/B Forum OIDs
/// (no qualifiers), then the CA's own policy with its CPS qualifier when
/// configured ([`ca_policy`]).
pub(crate) fn policies_value(reserved: &[&str], cfg: &CaConfig) -> Result<Vec<u8>, CaError> {
    let mut list = reserved
        .iter()
        .map(|policy| {
            Ok(PolicyInformation {
                policy_identifier: ObjectIdentifier::new(policy)
                    .map_err(|e| CaError::Signing(format!("policy OID {policy}: {e}")))?,
                policy_qualifiers: None,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    list.extend(ca_policy(cfg)?);
    CertificatePolicies(list)
        .to_der()
        .map_err(|e| CaError::Signing(format!("certificatePolicies encoding: {e}")))
}
