//! Where the CA's keys and certificates come from: a development hierarchy
//! (root + issuing CA + a separate TLS CA, see [`super::dev_hierarchy`])
//! generated in the CA directory on first start and reused afterwards, or PEM
//! files of an existing issuing CA named in the configuration, or an existing
//! issuing CA whose certificate is a PEM file and whose key is held in a
//! PKCS#11 token (`ca.pkcs11_*`, see [`super::pkcs11`]). An operator-supplied
//! issuing CA is checked against the CS BR 7.1.2.2 profile
//! ([`super::issuer_profile`]).
//!
//! Development CA files in `dir`:
//! `root.pem`, `root.key.pem`, `issuing.pem`, `issuing.key.pem`,
//! `tls-ca.pem`, `tls-ca.key.pem`, `root.crl` (keys mode 0600).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{DistinguishedName, DnType, DnValue, KeyPair, PublicKeyData};
use time::OffsetDateTime;
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::dev_hierarchy::{self, Algorithm};
use super::issuing_key::{IssuingKey, KeySource};
use super::{issuer_profile, CaConfig, CaError, StartupEvent};
use crate::csr::KeyKind;

pub(crate) const ROOT_CERT: &str = "root.pem";
pub(crate) const ROOT_KEY: &str = "root.key.pem";
pub(crate) const ISSUING_CERT: &str = "issuing.pem";
pub(crate) const ISSUING_KEY: &str = "issuing.key.pem";

/// Keys and certificates as loaded from disk.
pub(crate) struct Loaded {
    pub root_der: Vec<u8>,
    /// Present for the development CA: it signs the root CRL (and CA
    /// certificates, at creation), nothing else.
    pub root_key: Option<KeyPair>,
    pub issuing_der: Vec<u8>,
    pub issuing_key: IssuingKey,
    /// What happened while loading, for the audit log (CS BR 5.4.1.1).
    pub events: Vec<StartupEvent>,
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
    let mut events = Vec::new();
    if present.is_empty() {
        events.extend(dev_hierarchy::generate(dir, cfg, algorithm, now)?);
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
    if issuing_key.algorithm() != algorithm.signature_algorithm() {
        return Err(CaError::Config(format!(
            "ca.algorithm is {:?} but the development CA in {} was generated with another algorithm \
             (remove the directory to generate a new CA)",
            cfg.algorithm,
            dir.display()
        )));
    }
    events.push(loaded_event("development root", &files[0], &root_der));
    events.push(loaded_event(
        "development issuing CA",
        &files[2],
        &issuing_der,
    ));
    Ok(Loaded {
        root_der,
        root_key: Some(root_key),
        issuing_der,
        issuing_key: IssuingKey::new(KeySource::File(issuing_key)),
        events,
    })
}

/// The audit event for a CA certificate loaded at start-up.
pub(crate) fn loaded_event(role: &str, path: &Path, der: &[u8]) -> StartupEvent {
    let subject = X509Certificate::from_der(der)
        .map(|(_, c)| c.subject().to_string())
        .unwrap_or_default();
    StartupEvent {
        action: "ca.certificate.load",
        details: serde_json::json!({
            "role": role,
            "file": path.display().to_string(),
            "subject": subject,
            "sha256": hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)),
        }),
    }
}

fn load_external(cfg: &CaConfig, cert_path: &Path, key_path: &Path) -> Result<Loaded, CaError> {
    let issuing_der = read_cert(cert_path)?;
    issuer_profile::check(&issuing_der, cert_path, cfg)?;
    let issuing_key = read_key(key_path)?;
    check_key_matches(&issuing_key, &issuing_der, key_path)?;
    let (root_der, mut events) = external_root(cfg, &issuing_der)?;
    events.push(loaded_event("issuing CA", cert_path, &issuing_der));
    Ok(Loaded {
        root_der,
        root_key: None,
        issuing_der,
        issuing_key: IssuingKey::new(KeySource::File(issuing_key)),
        events,
    })
}

/// The configured root, or (without a separate root) the issuing CA as trust
/// anchor; with the audit event of loading it.
fn external_root(
    cfg: &CaConfig,
    issuing_der: &[u8],
) -> Result<(Vec<u8>, Vec<StartupEvent>), CaError> {
    match &cfg.root_cert_file {
        Some(p) => {
            let der = read_cert(Path::new(p))?;
            let event = loaded_event("root", Path::new(p), &der);
            Ok((der, vec![event]))
        }
        None => Ok((issuing_der.to_vec(), Vec::new())),
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
    issuer_profile::check(&issuing_der, cert_path, cfg)?;
    let key = super::pkcs11::Pkcs11Key::open(&settings, &issuing_der)?;
    let (root_der, mut events) = external_root(cfg, &issuing_der)?;
    events.push(loaded_event(
        "issuing CA (key in PKCS#11 token)",
        cert_path,
        &issuing_der,
    ));
    Ok(Loaded {
        root_der,
        root_key: None,
        issuing_der,
        issuing_key: IssuingKey::new(KeySource::Pkcs11(key)),
        events,
    })
}

/// Writes `data` to `path` atomically (temporary file + rename); private files get mode 0600.
pub(crate) fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), CaError> {
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

pub(crate) fn read_cert(path: &Path) -> Result<Vec<u8>, CaError> {
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

pub(crate) fn read_key(path: &Path) -> Result<KeyPair, CaError> {
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

pub(crate) fn check_key_matches(
    key: &KeyPair,
    cert_der: &[u8],
    key_path: &Path,
) -> Result<(), CaError> {
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
