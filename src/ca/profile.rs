//! The Code Signing BR v3 subscriber certificate profile: everything in a
//! certificate that does not come from the request's public key.
//!
//! Extensions of an issued certificate, in order:
//! authorityKeyIdentifier, subjectAltName (one rfc822Name), keyUsage (critical,
//! digitalSignature only), extKeyUsage (codeSigning only), cRLDistributionPoints,
//! subjectKeyIdentifier, authorityInfoAccess (caIssuers only), certificatePolicies
//! (exactly one reserved CA/B Forum OID, no qualifiers).
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
    certpolicy::PolicyInformation, AccessDescription, AuthorityInfoAccessSyntax,
    CertificatePolicies,
};

use super::{CaConfig, CaError, IssuanceRequest, SubjectInfo, Template, MAX_VALIDITY_DAYS};

/// OIDs as dotted strings (what x509-parser reports) and DER objects.
pub(crate) mod oids {
    use der::asn1::ObjectIdentifier;

    pub const POLICY_OV: &str = "2.23.140.1.4.1";
    pub const POLICY_EV: &str = "2.23.140.1.3";
    pub const ID_AD_CA_ISSUERS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
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

    pub const AT_CN: &str = "2.5.4.3";
    pub const AT_C: &str = "2.5.4.6";
    pub const AT_L: &str = "2.5.4.7";
    pub const AT_ST: &str = "2.5.4.8";
    pub const AT_O: &str = "2.5.4.10";
    pub const AT_OU: &str = "2.5.4.11";
    pub const AT_SERIAL_NUMBER: &str = "2.5.4.5";
    pub const AT_BUSINESS_CATEGORY: &str = "2.5.4.15";
    pub const AT_JURISDICTION_L: &str = "1.3.6.1.4.1.311.60.2.1.1";
    pub const AT_JURISDICTION_ST: &str = "1.3.6.1.4.1.311.60.2.1.2";
    pub const AT_JURISDICTION_C: &str = "1.3.6.1.4.1.311.60.2.1.3";

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
            p.custom_extensions = vec![aia.clone(), policy_extension(template.policy_oid())?];
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
/// above [`MAX_VALIDITY_DAYS`].
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
    if na - nb > time::Duration::days(MAX_VALIDITY_DAYS) {
        return Err(invalid(format!(
            "validity of {} days exceeds the Code Signing BR maximum of {MAX_VALIDITY_DAYS} days",
            (na - nb).whole_days()
        )));
    }
    if nb.year() < 1950 || na.year() > 9999 {
        return Err(invalid("validity outside the years 1950..9999".into()));
    }
    Ok((nb, na))
}

/// An rfc822Name mailbox: ASCII `local@domain`, no spaces or control
/// characters, at most 255 octets (RFC 5280 ub-emailaddress-length).
fn check_email(email: &str) -> Result<(), CaError> {
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
    if value.chars().count() > max {
        return Err(invalid(format!(
            "subject {name} is longer than {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control()) {
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
fn check_template_subject(req: &IssuanceRequest) -> Result<(), CaError> {
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

fn check_country(name: &str, value: &str) -> Result<rcgen::string::PrintableString, CaError> {
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(format!(
            "subject {name} {value:?} is not an ISO 3166-1 alpha-2 code"
        )));
    }
    rcgen::string::PrintableString::try_from(value)
        .map_err(|e| invalid(format!("subject {name}: {e}")))
}

/// The subject DN, in this order: businessCategory, jurisdictionC,
/// jurisdictionST, jurisdictionL, serialNumber (the EV attributes, when set),
/// then C, ST, L, O, OU, CN. C, jurisdictionC and serialNumber are
/// PrintableStrings, the others UTF8String. localityName or
/// stateOrProvinceName is required (CS BR 7.1.4.2.2).
pub(crate) fn subject_dn(s: &SubjectInfo) -> Result<DistinguishedName, CaError> {
    let country = check_country("country", &s.country)?;
    if s.locality.is_none() && s.state.is_none() {
        return Err(invalid(
            "subject requires localityName or stateOrProvinceName (CS BR 7.1.4.2.2)".into(),
        ));
    }
    let mut dn = DistinguishedName::new();
    let custom = |oid: &[u64]| DnType::CustomDnType(oid.to_vec());
    if let Some(bc) = &s.business_category {
        check_attr("businessCategory", bc, 128)?;
        dn.push(
            custom(oids::BUSINESS_CATEGORY),
            DnValue::Utf8String(bc.clone()),
        );
    }
    if let Some(jc) = &s.jurisdiction_country {
        let jc = check_country("jurisdictionCountryName", jc)?;
        dn.push(custom(oids::JURISDICTION_C), DnValue::PrintableString(jc));
    }
    if let Some(jst) = &s.jurisdiction_state {
        check_attr("jurisdictionStateOrProvinceName", jst, 128)?;
        dn.push(
            custom(oids::JURISDICTION_ST),
            DnValue::Utf8String(jst.clone()),
        );
    }
    if let Some(jl) = &s.jurisdiction_locality {
        check_attr("jurisdictionLocalityName", jl, 128)?;
        dn.push(
            custom(oids::JURISDICTION_L),
            DnValue::Utf8String(jl.clone()),
        );
    }
    if let Some(sn) = &s.registration_number {
        check_attr("serialNumber", sn, 64)?;
        let sn = rcgen::string::PrintableString::try_from(sn.as_str()).map_err(|_| {
            invalid(format!(
                "subject serialNumber {sn:?} is not a PrintableString"
            ))
        })?;
        dn.push(custom(oids::SERIAL_NUMBER), DnValue::PrintableString(sn));
    }
    dn.push(DnType::CountryName, DnValue::PrintableString(country));
    if let Some(st) = &s.state {
        check_attr("stateOrProvinceName", st, 128)?;
        dn.push(DnType::StateOrProvinceName, DnValue::Utf8String(st.clone()));
    }
    if let Some(l) = &s.locality {
        check_attr("localityName", l, 128)?;
        dn.push(DnType::LocalityName, DnValue::Utf8String(l.clone()));
    }
    check_attr("organizationName", &s.organization, 64)?;
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(s.organization.clone()),
    );
    if let Some(ou) = &s.organizational_unit {
        check_attr("organizationalUnitName", ou, 64)?;
        dn.push(
            DnType::OrganizationalUnitName,
            DnValue::Utf8String(ou.clone()),
        );
    }
    check_attr("commonName", &s.common_name, 64)?;
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(s.common_name.clone()),
    );
    Ok(dn)
}

/// Subject key identifier: RFC 7093 section 2 method 1 (leftmost 160 bits of the
/// SHA-256 of the subjectPublicKey bits).
pub(crate) fn key_identifier(subject_public_key: &[u8]) -> Vec<u8> {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, subject_public_key);
    d.as_ref()[..20].to_vec()
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
    let url = Ia5String::new(issuer_url)
        .map_err(|_| CaError::Config("ca.issuer_url must be an ASCII URL".into()))?;
    if issuer_url.is_empty() {
        return Err(CaError::Config("ca.issuer_url must not be empty".into()));
    }
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: oids::ID_AD_CA_ISSUERS,
        access_location: GeneralName::UniformResourceIdentifier(url),
    }]);
    let der = aia
        .to_der()
        .map_err(|e| CaError::Config(format!("ca.issuer_url cannot be encoded: {e}")))?;
    Ok(CustomExtension::from_oid_content(oids::AIA, der))
}

fn policy_extension(policy: &str) -> Result<CustomExtension, CaError> {
    let oid = ObjectIdentifier::new(policy)
        .map_err(|e| CaError::Signing(format!("policy OID {policy}: {e}")))?;
    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier: oid,
        policy_qualifiers: None,
    }]);
    let der = policies
        .to_der()
        .map_err(|e| CaError::Signing(format!("certificatePolicies encoding: {e}")))?;
    Ok(CustomExtension::from_oid_content(
        oids::CERTIFICATE_POLICIES,
        der,
    ))
}
