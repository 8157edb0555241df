//! Where the CA's keys and certificates come from: a development hierarchy
//! (root + issuing CA) generated in the CA directory on first start and reused
//! afterwards, or PEM files of an existing issuing CA named in the configuration,
//! or an existing issuing CA whose certificate is a PEM file and whose key is
//! held in a PKCS#11 token (`ca.pkcs11_*`, see [`super::pkcs11`]).
//!
//! Development CA files in `dir`:
//! `root.pem`, `root.key.pem`, `issuing.pem`, `issuing.key.pem` (keys mode 0600).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::{CaConfig, CaError, Serial};
use crate::csr::KeyKind;

pub(crate) const ROOT_CERT: &str = "root.pem";
pub(crate) const ROOT_KEY: &str = "root.key.pem";
pub(crate) const ISSUING_CERT: &str = "issuing.pem";
pub(crate) const ISSUING_KEY: &str = "issuing.key.pem";

/// Validity of the development root (about 20 years) and issuing CA (about 10 years).
const ROOT_DAYS: i64 = 20 * 365 + 5;
const ISSUING_DAYS: i64 = 10 * 365 + 2;

/// The supported issuer key algorithms by configuration name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    P256,
    P384,
    Rsa4096,
}

impl Algorithm {
    pub(crate) fn from_config(name: &str) -> Result<Algorithm, CaError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "p256" => Ok(Algorithm::P256),
            "p384" => Ok(Algorithm::P384),
            "rsa4096" => Ok(Algorithm::Rsa4096),
            other => Err(CaError::Config(format!(
                "ca.algorithm {other:?} is not supported (use \"p384\", \"p256\" or \"rsa4096\")"
            ))),
        }
    }

    fn generate_key(self) -> Result<KeyPair, CaError> {
        let r = match self {
            Algorithm::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Algorithm::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            Algorithm::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
        };
        r.map_err(|e| CaError::Signing(format!("generating a CA key: {e}")))
    }
}

/// The issuing CA's private key: a PEM file (or the development CA), or a
/// PKCS#11 token. Signs like any rcgen key (certificates, CRLs, the TLS
/// identity) and may be used from many threads at once.
pub(crate) enum IssuingKey {
    File(KeyPair),
    Pkcs11(super::pkcs11::Pkcs11Key),
}

impl PublicKeyData for IssuingKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            IssuingKey::File(k) => k.der_bytes(),
            IssuingKey::Pkcs11(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            IssuingKey::File(k) => PublicKeyData::algorithm(k),
            IssuingKey::Pkcs11(k) => k.algorithm(),
        }
    }
}

impl rcgen::SigningKey for IssuingKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            IssuingKey::File(k) => rcgen::SigningKey::sign(k, msg),
            IssuingKey::Pkcs11(k) => rcgen::SigningKey::sign(k, msg),
        }
    }
}

/// Keys and certificates as loaded from disk.
pub(crate) struct Loaded {
    pub root_der: Vec<u8>,
    /// Present for the development CA (used for the HTTPS server certificate).
    pub root_key: Option<KeyPair>,
    pub issuing_der: Vec<u8>,
    pub issuing_key: IssuingKey,
}

pub(crate) fn load_or_create(
    dir: &Path,
    cfg: &CaConfig,
    now: OffsetDateTime,
) -> Result<Loaded, CaError> {
    if let Some(module) = &cfg.pkcs11_module {
        return load_pkcs11(cfg, module);
    }
    match (&cfg.issuer_cert_file, &cfg.issuer_key_file) {
        (Some(cert), Some(key)) => return load_external(cfg, Path::new(cert), Path::new(key)),
        (Some(_), None) => {
            return Err(CaError::Config(
                "ca.issuer_key_file must be set together with ca.issuer_cert_file".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(CaError::Config(
                "ca.issuer_cert_file must be set together with ca.issuer_key_file".into(),
            ))
        }
        (None, None) => {}
    }
    let algorithm = Algorithm::from_config(&cfg.algorithm)?;
    let files = [ROOT_CERT, ROOT_KEY, ISSUING_CERT, ISSUING_KEY].map(|f| dir.join(f));
    let present: Vec<&PathBuf> = files.iter().filter(|p| p.exists()).collect();
    if present.is_empty() {
        generate(dir, cfg, algorithm, now)?;
    } else if present.len() != files.len() {
        let missing: Vec<String> = files
            .iter()
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        return Err(CaError::Io(format!(
            "development CA in {} is incomplete, missing {} (remove the directory to generate a new CA)",
            dir.display(),
            missing.join(", ")
        )));
    }
    let root_der = read_cert(&files[0])?;
    let root_key = read_key(&files[1])?;
    let issuing_der = read_cert(&files[2])?;
    let issuing_key = read_key(&files[3])?;
    check_key_matches(&root_key, &root_der, &files[1])?;
    check_key_matches(&issuing_key, &issuing_der, &files[3])?;
    let expected = match algorithm {
        Algorithm::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        Algorithm::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
    };
    if issuing_key.algorithm() != expected {
        return Err(CaError::Config(format!(
            "ca.algorithm is {:?} but the development CA in {} was generated with another algorithm \
             (remove the directory to generate a new CA)",
            cfg.algorithm,
            dir.display()
        )));
    }
    Ok(Loaded {
        root_der,
        root_key: Some(root_key),
        issuing_der,
        issuing_key: IssuingKey::File(issuing_key),
    })
}

fn load_external(cfg: &CaConfig, cert_path: &Path, key_path: &Path) -> Result<Loaded, CaError> {
    let issuing_der = read_cert(cert_path)?;
    check_can_issue_code_signing(&issuing_der, cert_path)?;
    let issuing_key = read_key(key_path)?;
    check_key_matches(&issuing_key, &issuing_der, key_path)?;
    Ok(Loaded {
        root_der: external_root(cfg, &issuing_der)?,
        root_key: None,
        issuing_der,
        issuing_key: IssuingKey::File(issuing_key),
    })
}

/// The configured root, or (without a separate root) the issuing CA as trust anchor.
fn external_root(cfg: &CaConfig, issuing_der: &[u8]) -> Result<Vec<u8>, CaError> {
    match &cfg.root_cert_file {
        Some(p) => read_cert(Path::new(p)),
        None => Ok(issuing_der.to_vec()),
    }
}

/// The issuing CA certificate from `ca.issuer_cert_file`, its key in a PKCS#11 token.
fn load_pkcs11(cfg: &CaConfig, module: &str) -> Result<Loaded, CaError> {
    let required = |key: &str| CaError::Config(format!("{key} is required with ca.pkcs11_module"));
    if cfg.issuer_key_file.is_some() {
        return Err(CaError::Config(
            "ca.issuer_key_file and ca.pkcs11_module are exclusive (the key is either a file or in a token)"
                .into(),
        ));
    }
    let cert_path = cfg
        .issuer_cert_file
        .as_deref()
        .ok_or_else(|| required("ca.issuer_cert_file"))?;
    let settings = super::pkcs11::Settings {
        module,
        token_label: cfg
            .pkcs11_token_label
            .as_deref()
            .ok_or_else(|| required("ca.pkcs11_token_label"))?,
        key_label: cfg
            .pkcs11_key_label
            .as_deref()
            .ok_or_else(|| required("ca.pkcs11_key_label"))?,
        pin: cfg
            .pkcs11_pin
            .as_ref()
            .ok_or_else(|| required("ca.pkcs11_pin"))?,
    };
    let cert_path = Path::new(cert_path);
    let issuing_der = read_cert(cert_path)?;
    check_can_issue_code_signing(&issuing_der, cert_path)?;
    let key = super::pkcs11::Pkcs11Key::open(&settings, &issuing_der)?;
    Ok(Loaded {
        root_der: external_root(cfg, &issuing_der)?,
        root_key: None,
        issuing_der,
        issuing_key: IssuingKey::Pkcs11(key),
    })
}

fn generate(
    dir: &Path,
    cfg: &CaConfig,
    algorithm: Algorithm,
    now: OffsetDateTime,
) -> Result<(), CaError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CaError::Io(format!("creating {}: {e}", dir.display())))?;
    let now = now
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| CaError::Signing(e.to_string()))?;
    let not_before = now - Duration::hours(1);
    let org = cfg.organization.trim();
    if org.is_empty() {
        return Err(CaError::Config("ca.organization must not be empty".into()));
    }

    let root_key = algorithm.generate_key()?;
    let mut root = CertificateParams::default();
    root.distinguished_name = ca_name(org, &format!("{org} Root CA"));
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
    root.not_before = not_before;
    root.not_after = now + Duration::days(ROOT_DAYS);
    let root_cert = root
        .self_signed(&root_key)
        .map_err(|e| CaError::Signing(format!("self-signing the development root: {e}")))?;
    let root_issuer = rcgen::Issuer::new(root, &root_key);

    let issuing_key = algorithm.generate_key()?;
    let mut issuing = CertificateParams::default();
    issuing.distinguished_name = ca_name(org, &format!("{org} Code Signing CA"));
    issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    issuing.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    // CS BRs 7.1.2.2: a code signing subordinate CA carries EKU codeSigning.
    issuing.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    issuing.use_authority_key_identifier_extension = true;
    issuing.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
    issuing.not_before = not_before;
    issuing.not_after = now + Duration::days(ISSUING_DAYS);
    let issuing_cert = issuing
        .signed_by(&issuing_key, &root_issuer)
        .map_err(|e| CaError::Signing(format!("signing the development issuing CA: {e}")))?;

    // Keys first (0600), certificates last: a crash leaves an incomplete set,
    // which load_or_create reports instead of silently replacing.
    write_file(
        &dir.join(ROOT_KEY),
        root_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(
        &dir.join(ISSUING_KEY),
        issuing_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(&dir.join(ROOT_CERT), root_cert.pem().as_bytes(), false)?;
    write_file(
        &dir.join(ISSUING_CERT),
        issuing_cert.pem().as_bytes(),
        false,
    )?;
    tracing::info!(
        dir = %dir.display(),
        algorithm = ?algorithm,
        "generated a development CA hierarchy (root + issuing CA)"
    );
    Ok(())
}

fn ca_name(org: &str, cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(org.to_string()),
    );
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_string()));
    dn
}

/// Writes `data` to `path` atomically (temporary file + rename); private files get mode 0600.
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), CaError> {
    let io = |e: std::io::Error| CaError::Io(format!("writing {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

fn read_cert(path: &Path) -> Result<Vec<u8>, CaError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CaError::Io(format!("reading {}: {e}", path.display())))?;
    let blocks = pem::parse_many(&text)
        .map_err(|e| CaError::Io(format!("{} is not PEM: {e}", path.display())))?;
    let block = blocks
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| CaError::Io(format!("{} has no CERTIFICATE block", path.display())))?;
    let der = block.into_contents();
    let (rest, _) = X509Certificate::from_der(&der)
        .map_err(|e| CaError::Io(format!("{}: invalid certificate: {e}", path.display())))?;
    if !rest.is_empty() {
        return Err(CaError::Io(format!(
            "{}: trailing bytes after the certificate",
            path.display()
        )));
    }
    Ok(der)
}

fn read_key(path: &Path) -> Result<KeyPair, CaError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CaError::Io(format!("reading {}: {e}", path.display())))?;
    let key = KeyPair::from_pem(&text)
        .map_err(|e| CaError::Io(format!("{}: unusable private key: {e}", path.display())))?;
    let alg = key.algorithm();
    if alg != &rcgen::PKCS_ECDSA_P256_SHA256
        && alg != &rcgen::PKCS_ECDSA_P384_SHA384
        && alg != &rcgen::PKCS_RSA_SHA256
    {
        return Err(CaError::Config(format!(
            "{}: CA key algorithm {alg:?} is not allowed (P-256, P-384 or RSA)",
            path.display()
        )));
    }
    Ok(key)
}

fn check_key_matches(key: &KeyPair, cert_der: &[u8], key_path: &Path) -> Result<(), CaError> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| CaError::Io(format!("invalid certificate: {e}")))?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(CaError::Config(format!(
            "{} does not hold the private key of the certificate {}",
            key_path.display(),
            cert.subject()
        )));
    }
    if let KeyKind::Rsa { bits } = crate::csr::key_kind(cert.public_key()) {
        if bits < 3072 {
            return Err(CaError::Config(format!(
                "{}: RSA-{bits} CA keys are below the Code Signing BR minimum of 3072 bits",
                key_path.display()
            )));
        }
    }
    Ok(())
}

/// An external issuing CA must be a CA (basicConstraints cA, keyCertSign when
/// keyUsage is present) whose extKeyUsage, if present, allows codeSigning.
fn check_can_issue_code_signing(der: &[u8], path: &Path) -> Result<(), CaError> {
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
    if let Some(eku) = cert
        .extended_key_usage()
        .map_err(|e| bad(&format!("extKeyUsage: {e}")))?
    {
        if !eku.value.code_signing && !eku.value.any {
            return Err(bad("its extKeyUsage does not include codeSigning"));
        }
    }
    Ok(())
}

/// Facts about a CA certificate the issuer needs on every signature.
pub(crate) struct CaCertFacts {
    pub subject_raw: Vec<u8>,
    pub subject_dn: DistinguishedName,
    pub key_id: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub key_kind: KeyKind,
    pub not_after: OffsetDateTime,
}

pub(crate) fn cert_facts(der: &[u8]) -> Result<CaCertFacts, CaError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| CaError::Io(format!("invalid CA certificate: {e}")))?;
    let key_id = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap_or_else(|| {
            // RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits.
            aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                &cert.public_key().subject_public_key.data,
            )
            .as_ref()
            .to_vec()
        });
    Ok(CaCertFacts {
        not_after: cert.validity().not_after.to_datetime(),
        subject_raw: cert.subject().as_raw().to_vec(),
        subject_dn: rcgen_name(cert.subject())?,
        key_id,
        spki_der: cert.public_key().raw.to_vec(),
        key_kind: crate::csr::key_kind(cert.public_key()),
    })
}

/// Converts a parsed Name into rcgen's form, refusing what rcgen cannot
/// re-encode identically (multi-valued RDNs, repeated attribute types, unknown string types).
fn rcgen_name(name: &X509Name<'_>) -> Result<DistinguishedName, CaError> {
    let unsupported = |why: &str| {
        CaError::Config(format!(
            "the issuing CA subject \"{name}\" cannot be used: {why}"
        ))
    };
    let mut dn = DistinguishedName::new();
    let mut seen = Vec::new();
    for rdn in name.iter_rdn() {
        let attrs: Vec<_> = rdn.iter().collect();
        if attrs.len() != 1 {
            return Err(unsupported("multi-valued RDN"));
        }
        let attr = attrs[0];
        let arcs: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| unsupported("attribute OID too large"))?
            .collect();
        let ty = DnType::from_oid(&arcs);
        if seen.contains(&ty) {
            return Err(unsupported("repeated attribute type"));
        }
        seen.push(ty.clone());
        let v = attr.attr_value();
        let text = || {
            std::str::from_utf8(v.data)
                .map(str::to_string)
                .map_err(|_| unsupported("invalid string"))
        };
        let value = match v.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?),
            Tag::PrintableString => DnValue::PrintableString(
                text()?
                    .try_into()
                    .map_err(|_| unsupported("invalid PrintableString"))?,
            ),
            Tag::Ia5String => DnValue::Ia5String(
                text()?
                    .try_into()
                    .map_err(|_| unsupported("invalid IA5String"))?,
            ),
            Tag::TeletexString => DnValue::TeletexString(
                text()?
                    .try_into()
                    .map_err(|_| unsupported("invalid TeletexString"))?,
            ),
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(v.data.to_vec())
                    .map_err(|_| unsupported("invalid BMPString"))?,
            ),
            Tag::UniversalString => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(v.data.to_vec())
                    .map_err(|_| unsupported("invalid UniversalString"))?,
            ),
            _ => return Err(unsupported("unsupported attribute string type")),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}
