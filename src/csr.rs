//! PKCS#10 certificate signing requests: parse (PEM or DER), verify the
//! signature (proof of possession) and report the facts the RA decides on.
//! Nothing here decides policy.
//!
//! Accepted signature algorithms (verified with aws-lc-rs):
//! RSA PKCS#1 v1.5 with SHA-256/384/512, RSA-PSS (SHA-256/384/512, MGF1 with the
//! same hash, salt length = hash length), ECDSA on P-256/P-384 with
//! SHA-256/384/512. Keys the Code Signing BRs do not allow but aws-lc-rs can
//! verify (Ed25519, ECDSA P-521, secp256k1) are verified too and reported as
//! [`KeyKind::Unsupported`], so the RA refuses them by key type. Everything else
//! (SHA-1, DSA, MD5, unknown OIDs, odd PSS parameters) is
//! [`CsrError::UnsupportedSignatureAlgorithm`].
//!
//! Structure: the CertificationRequest and its CertificationRequestInfo are
//! split with the `der` crate into their raw TLVs; the signature is verified
//! over exactly the CertificationRequestInfo bytes of the input. Attributes
//! are reported raw (only extensionRequest is decoded), so an attribute whose
//! contents some parser dislikes (e.g. Microsoft's OS version,
//! 1.3.6.1.4.1.311.13.2.3, or a non-UTF8String challengePassword) does not make
//! the CSR unreadable. x509-parser reads the SubjectPublicKeyInfo, the signature
//! AlgorithmIdentifier and (for display) the subject.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use serde::{Deserialize, Serialize};
use x509_cert::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use x509_parser::prelude::FromDer as _;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

/// The kind of public key a CSR carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum KeyKind {
    Rsa {
        bits: u32,
    },
    EcP256,
    EcP384,
    /// ECDSA P-521 (CS BR 6.1.5 allows it; a profile must list `ecdsa-p521`).
    EcP521,
    /// Anything else (other curves, Ed25519, DSA ...), described for error messages.
    Unsupported {
        description: String,
    },
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyKind::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyKind::EcP256 => f.write_str("ECDSA P-256"),
            KeyKind::EcP384 => f.write_str("ECDSA P-384"),
            KeyKind::EcP521 => f.write_str("ECDSA P-521"),
            KeyKind::Unsupported { description } => f.write_str(description),
        }
    }
}

/// One extension requested in the CSR's extensionRequest attribute.
#[derive(Debug, Clone)]
pub struct RequestedExtension {
    /// Dotted OID, e.g. "1.3.6.1.4.1.41482.3.1".
    pub oid: String,
    pub critical: bool,
    /// The extnValue contents (the bytes inside the OCTET STRING).
    pub value: Vec<u8>,
}

/// One CSR attribute other than extensionRequest.
#[derive(Debug, Clone)]
pub struct CsrAttribute {
    pub oid: String,
    /// DER of each AttributeValue.
    pub values: Vec<Vec<u8>>,
}

/// A parsed CSR whose signature has been verified.
#[derive(Debug, Clone)]
pub struct Csr {
    /// The CSR's DER encoding.
    pub der: Vec<u8>,
    /// DER SubjectPublicKeyInfo: the only thing the CA takes from a CSR.
    pub spki_der: Vec<u8>,
    pub key: KeyKind,
    /// The requested subject, for display only (never copied into a certificate).
    pub subject: String,
    pub requested_extensions: Vec<RequestedExtension>,
    pub attributes: Vec<CsrAttribute>,
}

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("CSR is not valid PEM: {0}")]
    Pem(String),
    #[error("CSR is not a valid PKCS#10 DER structure: {0}")]
    Der(String),
    #[error("CSR signature algorithm {0} is not supported")]
    UnsupportedSignatureAlgorithm(String),
    #[error("CSR signature does not verify (no proof of possession of the key)")]
    BadSignature,
}

/// OIDs this module names.
mod oids {
    pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
    pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
    pub const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
    pub const SHA512_WITH_RSA: &str = "1.2.840.113549.1.1.13";
    pub const MGF1: &str = "1.2.840.113549.1.1.8";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
    pub const P256: &str = "1.2.840.10045.3.1.7";
    pub const P384: &str = "1.3.132.0.34";
    pub const P521: &str = "1.3.132.0.35";
    pub const SECP256K1: &str = "1.3.132.0.10";
    pub const ED25519: &str = "1.3.101.112";
    pub const ED448: &str = "1.3.101.113";
    pub const DSA: &str = "1.2.840.10040.4.1";
    pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    pub const SHA384: &str = "2.16.840.1.101.3.4.2.2";
    pub const SHA512: &str = "2.16.840.1.101.3.4.2.3";
    pub const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
}

impl Csr {
    /// Parses a CSR given as PEM (`-----BEGIN CERTIFICATE REQUEST-----` or
    /// `-----BEGIN NEW CERTIFICATE REQUEST-----`) or DER and verifies its self-signature.
    pub fn parse(input: &[u8]) -> Result<Csr, CsrError> {
        let der = if looks_like_pem(input) {
            decode_pem(input)?
        } else {
            input.to_vec()
        };
        Self::parse_der(der)
    }

    /// The DER values of the first attribute with this dotted OID, read
    /// from the CSR's structure WITHOUT verifying its signature: for a front
    /// end that needs one attribute before handing the CSR to the RA, which
    /// parses and verifies it ([`Csr::parse`]). Never trust the result for
    /// anything the signature should protect.
    pub fn unverified_attribute(input: &[u8], oid: &str) -> Result<Option<Vec<Vec<u8>>>, CsrError> {
        let der = if looks_like_pem(input) {
            decode_pem(input)?
        } else {
            input.to_vec()
        };
        let raw = RawCsr::split(&der)?;
        Ok(raw
            .attributes
            .iter()
            .find(|a| a.oid.to_string() == oid)
            .map(|a| a.values.iter().map(|v| v.to_vec()).collect()))
    }

    fn parse_der(der: Vec<u8>) -> Result<Csr, CsrError> {
        if der.is_empty() {
            return Err(CsrError::Der("empty input".into()));
        }
        let raw = RawCsr::split(&der)?;
        let (rest, spki) = SubjectPublicKeyInfo::from_der(raw.spki)
            .map_err(|e| CsrError::Der(format!("subjectPKInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(CsrError::Der("trailing bytes in subjectPKInfo".into()));
        }
        let (rest, sig_alg) = AlgorithmIdentifier::from_der(raw.signature_algorithm)
            .map_err(|e| CsrError::Der(format!("signatureAlgorithm: {e}")))?;
        if !rest.is_empty() {
            return Err(CsrError::Der("trailing bytes in signatureAlgorithm".into()));
        }
        let key = key_kind(&spki);
        let alg = verification_algorithm(&sig_alg, &spki, &key)?;
        if raw.signature_unused_bits != 0 {
            return Err(CsrError::BadSignature);
        }
        UnparsedPublicKey::new(alg, &spki.subject_public_key.data)
            .verify(raw.info, raw.signature)
            .map_err(|_| CsrError::BadSignature)?;

        let mut requested_extensions = Vec::new();
        let mut attributes = Vec::new();
        for attr in raw.attributes {
            if attr.oid == EXTENSION_REQUEST {
                for value in &attr.values {
                    requested_extensions.extend(parse_extensions(value).map_err(|e| match e {
                        CsrError::Der(m) => {
                            CsrError::Der(format!("extensionRequest is malformed: {m}"))
                        }
                        other => other,
                    })?);
                }
            } else {
                attributes.push(CsrAttribute {
                    oid: attr.oid.to_string(),
                    values: attr.values.iter().map(|v| v.to_vec()).collect(),
                });
            }
        }
        let subject = match X509Name::from_der(raw.subject) {
            Ok((&[], name)) => name.to_string(),
            _ => "(subject not decodable)".to_string(),
        };

        Ok(Csr {
            spki_der: raw.spki.to_vec(),
            key,
            subject,
            requested_extensions,
            attributes,
            der,
        })
    }

    /// The first requested extension with this dotted OID.
    pub fn requested_extension(&self, oid: &str) -> Option<&RequestedExtension> {
        self.requested_extensions.iter().find(|e| e.oid == oid)
    }

    /// The first attribute (other than extensionRequest) with this dotted OID.
    pub fn attribute(&self, oid: &str) -> Option<&CsrAttribute> {
        self.attributes.iter().find(|a| a.oid == oid)
    }
}

/// DER starts with a SEQUENCE tag; anything else that holds a PEM boundary is
/// PEM (text around the block, e.g. `openssl req -text` output, is ignored).
fn looks_like_pem(input: &[u8]) -> bool {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    if input.get(start) == Some(&0x30) {
        return false;
    }
    input.windows(10).any(|w| w == b"-----BEGIN")
}

fn decode_pem(input: &[u8]) -> Result<Vec<u8>, CsrError> {
    let text = std::str::from_utf8(input).map_err(|_| CsrError::Pem("not UTF-8 text".into()))?;
    let blocks = pem::parse_many(text).map_err(|e| CsrError::Pem(e.to_string()))?;
    let mut labels = Vec::new();
    for block in blocks {
        match block.tag() {
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => return Ok(block.into_contents()),
            other => labels.push(other.to_string()),
        }
    }
    if labels.is_empty() {
        Err(CsrError::Pem("no PEM block found".into()))
    } else {
        Err(CsrError::Pem(format!(
            "expected a CERTIFICATE REQUEST block, found {}",
            labels.join(", ")
        )))
    }
}

/// Classifies the public key of a SubjectPublicKeyInfo.
pub(crate) fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> KeyKind {
    use der::asn1::ObjectIdentifier as O;
    // Fast path without string formatting (the CA calls this for every certificate).
    const RSA: O = O::new_unwrap(oids::RSA_ENCRYPTION);
    const EC: O = O::new_unwrap(oids::EC_PUBLIC_KEY);
    const P256: O = O::new_unwrap(oids::P256);
    const P384: O = O::new_unwrap(oids::P384);
    let alg_bytes = spki.algorithm.algorithm.as_bytes();
    if alg_bytes == EC.as_bytes() {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        match curve.as_ref().map(|c| c.as_bytes()) {
            Some(c) if c == P256.as_bytes() => return KeyKind::EcP256,
            Some(c) if c == P384.as_bytes() => return KeyKind::EcP384,
            _ => {}
        }
    } else if alg_bytes == RSA.as_bytes() {
        if let Some(bits) = rsa_modulus_bits(&spki.subject_public_key.data) {
            return KeyKind::Rsa { bits };
        }
    }
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        oids::RSA_ENCRYPTION => match rsa_modulus_bits(&spki.subject_public_key.data) {
            Some(bits) => KeyKind::Rsa { bits },
            None => KeyKind::Unsupported {
                description: "RSA key with a malformed RSAPublicKey".into(),
            },
        },
        oids::RSASSA_PSS => KeyKind::Unsupported {
            description: "RSASSA-PSS restricted RSA key (use an rsaEncryption key)".into(),
        },
        oids::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some(oids::P256) => KeyKind::EcP256,
                Some(oids::P384) => KeyKind::EcP384,
                Some(oids::P521) => KeyKind::EcP521,
                Some(oids::SECP256K1) => KeyKind::Unsupported {
                    description: "ECDSA secp256k1".into(),
                },
                Some(other) => KeyKind::Unsupported {
                    description: format!("ECDSA on curve {other}"),
                },
                None => KeyKind::Unsupported {
                    description: "EC key without a named curve".into(),
                },
            }
        }
        oids::ED25519 => KeyKind::Unsupported {
            description: "Ed25519".into(),
        },
        oids::ED448 => KeyKind::Unsupported {
            description: "Ed448".into(),
        },
        oids::DSA => KeyKind::Unsupported {
            description: "DSA".into(),
        },
        other => KeyKind::Unsupported {
            description: format!("public key algorithm {other}"),
        },
    }
}

/// Bit length of the modulus of a DER RSAPublicKey.
fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Option<u32> {
    use x509_parser::der_parser::der::{parse_der_integer, parse_der_sequence_defined_g};
    let (_, modulus) = parse_der_sequence_defined_g(|i, _| {
        let (i, n) = parse_der_integer(i)?;
        let (i, _e) = parse_der_integer(i)?;
        Ok((i, n))
    })(rsa_public_key)
    .ok()?;
    let bytes = modulus.as_slice().ok()?;
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative modulus
    }
    let first = bytes.iter().position(|b| *b != 0)?;
    let significant = &bytes[first..];
    let lead_bits = 8 - significant[0].leading_zeros();
    u32::try_from(significant.len() - 1)
        .ok()?
        .checked_mul(8)?
        .checked_add(lead_bits)
}

fn oid_of(alg: &AlgorithmIdentifier<'_>) -> String {
    alg.algorithm.to_id_string()
}

/// Chooses the aws-lc-rs verification algorithm for the CSR's signature.
fn verification_algorithm(
    sig_alg: &AlgorithmIdentifier<'_>,
    spki: &SubjectPublicKeyInfo<'_>,
    key: &KeyKind,
) -> Result<&'static dyn VerificationAlgorithm, CsrError> {
    let sig_oid = oid_of(sig_alg);
    let unsupported = |what: &str| CsrError::UnsupportedSignatureAlgorithm(what.to_string());
    // The AlgorithmIdentifier is outside the signed bytes: besides RSASSA-PSS,
    // whose parameters are checked below, only absent or NULL parameters are
    // accepted (RFC 4055 / RFC 5758 / RFC 8410; NULL tolerated for ECDSA).
    if sig_oid != oids::RSASSA_PSS {
        let null_or_absent = match &sig_alg.parameters {
            None => true,
            Some(p) => {
                p.header.class() == x509_parser::asn1_rs::Class::Universal
                    && p.header.tag() == x509_parser::asn1_rs::Tag::Null
                    && p.data.is_empty()
            }
        };
        if !null_or_absent {
            return Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                "{sig_oid} with parameters other than NULL"
            )));
        }
    }
    let is_rsa = matches!(key, KeyKind::Rsa { .. });
    let rsa_only = |alg: &'static dyn VerificationAlgorithm, name: &str| {
        if is_rsa {
            Ok(alg)
        } else {
            Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                "{name} with a {key} key"
            )))
        }
    };
    match sig_oid.as_str() {
        oids::SHA256_WITH_RSA => rsa_only(
            &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            "sha256WithRSAEncryption",
        ),
        oids::SHA384_WITH_RSA => rsa_only(
            &signature::RSA_PKCS1_2048_8192_SHA384,
            "sha384WithRSAEncryption",
        ),
        oids::SHA512_WITH_RSA => rsa_only(
            &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
            "sha512WithRSAEncryption",
        ),
        oids::RSASSA_PSS => {
            let params = sig_alg
                .parameters
                .as_ref()
                .ok_or_else(|| unsupported("RSASSA-PSS without parameters"))?;
            let params = RsaSsaPssParams::try_from(params)
                .map_err(|_| unsupported("RSASSA-PSS with malformed parameters"))?;
            let hash = params.hash_algorithm_oid().to_id_string();
            let mgf = params
                .mask_gen_algorithm()
                .map_err(|_| unsupported("RSASSA-PSS with a malformed mask generation function"))?;
            if mgf.mgf.to_id_string() != oids::MGF1 || mgf.hash.to_id_string() != hash {
                return Err(unsupported(
                    "RSASSA-PSS whose mask generation is not MGF1 with the message hash",
                ));
            }
            if params.trailer_field() != 1 {
                return Err(unsupported("RSASSA-PSS with a trailer field other than 1"));
            }
            let (alg, salt): (&'static dyn VerificationAlgorithm, u32) = match hash.as_str() {
                oids::SHA256 => (&signature::RSA_PSS_2048_8192_SHA256, 32),
                oids::SHA384 => (&signature::RSA_PSS_2048_8192_SHA384, 48),
                oids::SHA512 => (&signature::RSA_PSS_2048_8192_SHA512, 64),
                other => {
                    return Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                        "RSASSA-PSS with hash {other}"
                    )))
                }
            };
            if params.salt_length() != salt {
                return Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                    "RSASSA-PSS with salt length {} (must equal the hash length {salt})",
                    params.salt_length()
                )));
            }
            rsa_only(alg, "RSASSA-PSS")
        }
        oids::ECDSA_SHA256 | oids::ECDSA_SHA384 | oids::ECDSA_SHA512 => {
            let curve = (oid_of(&spki.algorithm) == oids::EC_PUBLIC_KEY)
                .then(|| {
                    spki.algorithm
                        .parameters
                        .as_ref()
                        .and_then(|p| p.as_oid().ok())
                        .map(|o| o.to_id_string())
                })
                .flatten()
                .unwrap_or_default();
            // P-521 and secp256k1 are verified too (proof of possession), so the
            // RA can refuse them by key type with a precise message.
            let alg: &'static dyn VerificationAlgorithm = match (curve.as_str(), sig_oid.as_str()) {
                (oids::P256, oids::ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
                (oids::P256, oids::ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
                (oids::P256, oids::ECDSA_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
                (oids::P384, oids::ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
                (oids::P384, oids::ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
                (oids::P384, oids::ECDSA_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
                (oids::P521, oids::ECDSA_SHA256) => &signature::ECDSA_P521_SHA256_ASN1,
                (oids::P521, oids::ECDSA_SHA384) => &signature::ECDSA_P521_SHA384_ASN1,
                (oids::P521, oids::ECDSA_SHA512) => &signature::ECDSA_P521_SHA512_ASN1,
                (oids::SECP256K1, oids::ECDSA_SHA256) => &signature::ECDSA_P256K1_SHA256_ASN1,
                _ => {
                    return Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                        "ECDSA ({sig_oid}) with a {key} key"
                    )))
                }
            };
            Ok(alg)
        }
        oids::ED25519 if oid_of(&spki.algorithm) == oids::ED25519 => Ok(&signature::ED25519),
        oids::ED25519 => Err(unsupported("Ed25519 signature with a non-Ed25519 key")),
        oids::ED448 => Err(unsupported("Ed448")),
        other => Err(CsrError::UnsupportedSignatureAlgorithm(other.to_string())),
    }
}

const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap(oids::EXTENSION_REQUEST);

/// One attribute of the CertificationRequestInfo, undecoded.
struct RawAttribute<'a> {
    oid: ObjectIdentifier,
    /// DER of each AttributeValue.
    values: Vec<&'a [u8]>,
}

/// The TLVs of a CertificationRequest (RFC 2986), split but not interpreted.
struct RawCsr<'a> {
    /// The whole CertificationRequestInfo TLV: exactly the signed bytes.
    info: &'a [u8],
    subject: &'a [u8],
    spki: &'a [u8],
    attributes: Vec<RawAttribute<'a>>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
    signature_unused_bits: u8,
}

fn der_err(what: &str) -> impl Fn(der::Error) -> CsrError + '_ {
    move |e| CsrError::Der(format!("{what}: {e}"))
}

/// The contents of a TLV that must carry `tag`.
fn contents<'a>(tlv: AnyRef<'a>, tag: Tag, what: &str) -> Result<&'a [u8], CsrError> {
    if tlv.tag() != tag {
        return Err(CsrError::Der(format!(
            "{what}: expected {tag}, found {}",
            tlv.tag()
        )));
    }
    Ok(tlv.value())
}

/// The next element of `r` as its complete TLV bytes, which must carry `tag`.
fn tlv_with_tag<'a>(r: &mut SliceReader<'a>, tag: Tag, what: &str) -> Result<&'a [u8], CsrError> {
    let found = r.peek_tag().map_err(der_err(what))?;
    if found != tag {
        return Err(CsrError::Der(format!(
            "{what}: expected {tag}, found {found}"
        )));
    }
    r.tlv_bytes().map_err(der_err(what))
}

fn reader<'a>(bytes: &'a [u8], what: &str) -> Result<SliceReader<'a>, CsrError> {
    SliceReader::new(bytes).map_err(der_err(what))
}

fn ensure_finished(r: &SliceReader<'_>, what: &str) -> Result<(), CsrError> {
    if r.is_finished() {
        Ok(())
    } else {
        Err(CsrError::Der(format!(
            "{} unexpected trailing bytes in {what}",
            u32::from(r.remaining_len())
        )))
    }
}

impl<'a> RawCsr<'a> {
    fn split(der: &'a [u8]) -> Result<RawCsr<'a>, CsrError> {
        let mut top = reader(der, "CertificationRequest")?;
        let outer = AnyRef::decode(&mut top).map_err(der_err("CertificationRequest"))?;
        if !top.is_finished() {
            return Err(CsrError::Der(format!(
                "{} trailing bytes after the CertificationRequest",
                u32::from(top.remaining_len())
            )));
        }
        let mut r = reader(
            contents(outer, Tag::Sequence, "CertificationRequest")?,
            "CertificationRequest",
        )?;
        let info = tlv_with_tag(&mut r, Tag::Sequence, "certificationRequestInfo")?;
        let signature_algorithm = tlv_with_tag(&mut r, Tag::Sequence, "signatureAlgorithm")?;
        let signature = BitStringRef::decode(&mut r).map_err(der_err("signature"))?;
        ensure_finished(&r, "the CertificationRequest")?;

        let info_any = AnyRef::from_der(info).map_err(der_err("certificationRequestInfo"))?;
        let mut r = reader(info_any.value(), "certificationRequestInfo")?;
        let version = AnyRef::decode(&mut r).map_err(der_err("version"))?;
        let version = contents(version, Tag::Integer, "version")?;
        if version != [0] {
            return Err(CsrError::Der(format!(
                "unsupported CertificationRequest version (INTEGER {})",
                hex::encode(version)
            )));
        }
        let subject = tlv_with_tag(&mut r, Tag::Sequence, "subject")?;
        let spki = tlv_with_tag(&mut r, Tag::Sequence, "subjectPKInfo")?;
        // Strict DER shape checks (x509-parser, which interprets these two
        // below, is lenient about the OID's tag).
        SubjectPublicKeyInfoRef::from_der(spki).map_err(der_err("subjectPKInfo"))?;
        AlgorithmIdentifierRef::from_der(signature_algorithm)
            .map_err(der_err("signatureAlgorithm"))?;
        // attributes [0] IMPLICIT SET OF Attribute; tolerated when absent.
        let mut attributes = Vec::new();
        if !r.is_finished() {
            let tag = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            };
            let set = AnyRef::decode(&mut r).map_err(der_err("attributes"))?;
            let mut set = reader(contents(set, tag, "attributes")?, "attributes")?;
            while !set.is_finished() {
                let attr = AnyRef::decode(&mut set).map_err(der_err("attribute"))?;
                let mut a = reader(contents(attr, Tag::Sequence, "attribute")?, "attribute")?;
                let oid = ObjectIdentifier::decode(&mut a).map_err(der_err("attribute type"))?;
                let what = format!("attribute {oid} values");
                let values = AnyRef::decode(&mut a).map_err(der_err(&what))?;
                let mut v = reader(contents(values, Tag::Set, &what)?, &what)?;
                let mut list = Vec::new();
                while !v.is_finished() {
                    list.push(v.tlv_bytes().map_err(der_err(&what))?);
                }
                ensure_finished(&a, &format!("attribute {oid}"))?;
                attributes.push(RawAttribute { oid, values: list });
            }
        }
        ensure_finished(&r, "the certificationRequestInfo")?;
        Ok(RawCsr {
            info,
            subject,
            spki,
            attributes,
            signature_algorithm,
            signature: signature.raw_bytes(),
            signature_unused_bits: signature.unused_bits(),
        })
    }
}

/// Decodes one extensionRequest value: `Extensions ::= SEQUENCE OF Extension`.
/// A critical flag is accepted in any BOOLEAN encoding (non-zero is true).
fn parse_extensions(value: &[u8]) -> Result<Vec<RequestedExtension>, CsrError> {
    let seq = AnyRef::from_der(value).map_err(der_err("Extensions"))?;
    let mut r = reader(contents(seq, Tag::Sequence, "Extensions")?, "Extensions")?;
    let mut out = Vec::new();
    while !r.is_finished() {
        let ext = AnyRef::decode(&mut r).map_err(der_err("Extension"))?;
        let mut e = reader(contents(ext, Tag::Sequence, "Extension")?, "Extension")?;
        let oid = ObjectIdentifier::decode(&mut e).map_err(der_err("extnID"))?;
        let mut critical = false;
        if e.peek_tag().map_err(der_err("Extension"))? == Tag::Boolean {
            let b = AnyRef::decode(&mut e).map_err(der_err("critical"))?;
            match b.value() {
                [byte] => critical = *byte != 0,
                _ => return Err(CsrError::Der(format!("extension {oid}: malformed BOOLEAN"))),
            }
        }
        let value = OctetStringRef::decode(&mut e).map_err(der_err("extnValue"))?;
        ensure_finished(&e, &format!("extension {oid}"))?;
        out.push(RequestedExtension {
            oid: oid.to_string(),
            critical,
            value: value.as_bytes().to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    const INSTALL_HINT: &str = "run scripts/install-test-deps";

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl: {e} ({INSTALL_HINT})"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Key (genpkey args) + CSR made by the openssl binary; returns the CSR PEM.
    fn openssl_csr(dir: &Path, name: &str, genpkey: &[&str], req_extra: &[&str]) -> Vec<u8> {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend_from_slice(&["-out", &key]);
        openssl(dir, &args);
        let mut req = vec!["req", "-new", "-key", &key, "-out", &csr];
        if !req_extra.contains(&"-config") {
            // -subj would also suppress the config file's attributes
            req.extend_from_slice(&["-subj", "/CN=tester"]);
        }
        req.extend_from_slice(req_extra);
        openssl(dir, &req);
        std::fs::read(dir.join(&csr)).unwrap()
    }

    fn rcgen_csr(alg: &'static rcgen::SignatureAlgorithm) -> (rcgen::KeyPair, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "rcgen tester");
        let der = p.serialize_request(&key).unwrap().der().to_vec();
        (key, der)
    }

    #[test]
    fn csr_pem_and_der_are_accepted() {
        use rcgen::PublicKeyData as _;
        let (key, der) = rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256);
        let from_der = Csr::parse(&der).unwrap();
        assert_eq!(from_der.key, KeyKind::EcP256);
        assert_eq!(from_der.spki_der, key.subject_public_key_info());
        assert_eq!(from_der.der, der);
        assert_eq!(from_der.subject, "CN=rcgen tester");

        for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
            let pem = pem::encode(&pem::Pem::new(label, der.clone()));
            let crlf = pem.replace('\n', "\r\n");
            let with_text = format!("Certificate Request:\n    Data: ...\n{pem}trailing words\n");
            for text in [pem.clone(), format!("\n  {pem}"), crlf, with_text] {
                let csr = Csr::parse(text.as_bytes()).unwrap();
                assert_eq!(csr.der, der);
                assert_eq!(csr.spki_der, from_der.spki_der);
            }
        }
        let wrong = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
        assert!(
            matches!(Csr::parse(wrong.as_bytes()), Err(CsrError::Pem(m)) if m.contains("CERTIFICATE"))
        );
    }

    #[test]
    fn csr_key_kinds_from_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cases: [(&str, &[&str], KeyKind); 4] = [
            (
                "rsa3072",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
                KeyKind::Rsa { bits: 3072 },
            ),
            (
                "rsa2048",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                KeyKind::Rsa { bits: 2048 },
            ),
            (
                "p256",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                KeyKind::EcP256,
            ),
            (
                "p384",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
                KeyKind::EcP384,
            ),
        ];
        for (name, genpkey, kind) in cases {
            let pem = openssl_csr(d, name, genpkey, &[]);
            let csr = Csr::parse(&pem).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(csr.key, kind, "{name}");
            assert_eq!(csr.subject, "CN=tester");
            // DER form of the same request.
            openssl(
                d,
                &[
                    "req",
                    "-in",
                    &format!("{name}.csr"),
                    "-outform",
                    "DER",
                    "-out",
                    &format!("{name}.der"),
                ],
            );
            let der = std::fs::read(d.join(format!("{name}.der"))).unwrap();
            assert_eq!(Csr::parse(&der).unwrap().spki_der, csr.spki_der);
        }
        // SHA-384/512 and RSA-PSS signatures.
        for (name, extra) in [
            ("p256", &["-sha384"][..]),
            ("p384", &["-sha512"][..]),
            ("rsa3072", &["-sha512"][..]),
            (
                "rsa3072",
                &[
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                    "-sha256",
                ][..],
            ),
            (
                "rsa3072",
                &[
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                    "-sha384",
                ][..],
            ),
        ] {
            let mut args = vec!["req", "-new", "-key"];
            let key = format!("{name}.key");
            args.push(&key);
            args.extend_from_slice(&["-subj", "/CN=alt", "-out", "alt.csr"]);
            args.extend_from_slice(extra);
            openssl(d, &args);
            let pem = std::fs::read(d.join("alt.csr")).unwrap();
            Csr::parse(&pem).unwrap_or_else(|e| panic!("{name} {extra:?}: {e}"));
        }
        // SHA-1 is refused as an algorithm.
        openssl(
            d,
            &[
                "req", "-new", "-key", "p256.key", "-subj", "/CN=old", "-sha1", "-out", "sha1.csr",
            ],
        );
        let pem = std::fs::read(d.join("sha1.csr")).unwrap();
        assert!(matches!(
            Csr::parse(&pem),
            Err(CsrError::UnsupportedSignatureAlgorithm(_))
        ));
        // PSS with a salt length other than the hash length is refused.
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "rsa3072.key",
                "-subj",
                "/CN=pss",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:20",
                "-out",
                "pss20.csr",
            ],
        );
        let pem = std::fs::read(d.join("pss20.csr")).unwrap();
        assert!(
            matches!(Csr::parse(&pem), Err(CsrError::UnsupportedSignatureAlgorithm(m)) if m.contains("salt"))
        );
    }

    #[test]
    fn csr_disallowed_keys_are_reported_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // P-521 is a key kind of its own (CS BR 6.1.5; a profile lists ecdsa-p521)
        let pem = openssl_csr(
            d,
            "p521",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            &[],
        );
        assert_eq!(Csr::parse(&pem).unwrap().key, KeyKind::EcP521);
        let cases: [(&str, &[&str], &str); 2] = [
            ("ed25519", &["-algorithm", "ED25519"], "Ed25519"),
            (
                "k256",
                &[
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:secp256k1",
                ],
                "secp256k1",
            ),
        ];
        for (name, genpkey, desc) in cases {
            let pem = openssl_csr(d, name, genpkey, &[]);
            let csr = Csr::parse(&pem).unwrap_or_else(|e| panic!("{name}: {e}"));
            match &csr.key {
                KeyKind::Unsupported { description } => {
                    assert!(description.contains(desc), "{description}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        // Ed25519 from rcgen too.
        let (_, der) = rcgen_csr(&rcgen::PKCS_ED25519);
        assert!(matches!(
            Csr::parse(&der).unwrap().key,
            KeyKind::Unsupported { .. }
        ));
    }

    #[test]
    fn csr_flipped_signature_byte_is_a_bad_signature() {
        for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_RSA_SHA256] {
            let (_, der) = if alg == &rcgen::PKCS_RSA_SHA256 {
                let key = rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072).unwrap();
                let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
                p.distinguished_name.push(rcgen::DnType::CommonName, "rsa");
                let der = p.serialize_request(&key).unwrap().der().to_vec();
                (key, der)
            } else {
                rcgen_csr(alg)
            };
            Csr::parse(&der).unwrap();
            // The last byte is inside the signature for both (ECDSA: INTEGER s; RSA: raw).
            let mut bad = der.clone();
            let n = bad.len() - 1;
            bad[n] ^= 0x01;
            assert!(
                matches!(Csr::parse(&bad), Err(CsrError::BadSignature)),
                "{alg:?}"
            );
            // Tampering with the signed content (the subject CN) is a bad signature too.
            let cn: &[u8] = if alg == &rcgen::PKCS_RSA_SHA256 {
                b"rsa"
            } else {
                b"rcgen tester"
            };
            let pos = der.windows(cn.len()).position(|w| w == cn).unwrap();
            let mut bad = der.clone();
            bad[pos] ^= 0x20;
            assert!(matches!(Csr::parse(&bad), Err(CsrError::BadSignature)));
        }
    }

    #[test]
    fn csr_garbage_never_panics() {
        assert!(matches!(Csr::parse(b""), Err(CsrError::Der(_))));
        assert!(matches!(
            Csr::parse(b"\x30\x03\x02\x01\x00"),
            Err(CsrError::Der(_))
        ));
        assert!(matches!(Csr::parse(b"hello world"), Err(CsrError::Der(_))));
        assert!(matches!(
            Csr::parse(
                b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n"
            ),
            Err(CsrError::Pem(_))
        ));
        assert!(matches!(
            Csr::parse(b"-----BEGIN nothing"),
            Err(CsrError::Pem(_))
        ));
        let (_, der) = rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256);
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(matches!(Csr::parse(&trailing), Err(CsrError::Der(m)) if m.contains("trailing")));
        // Every truncation and every single-byte corruption: an error, never a panic.
        for n in 0..der.len() {
            assert!(Csr::parse(&der[..n]).is_err());
        }
        for i in 0..der.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bad = der.clone();
                bad[i] ^= x;
                let _ = Csr::parse(&bad);
            }
        }
    }

    #[test]
    fn csr_extension_request_and_attributes_are_reported() {
        // rcgen: a custom extension (YubiKey attestation-like OID) with raw bytes.
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        let mut ext = rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 41482, 3, 1],
            vec![0x04, 0x03, 0x01, 0x02, 0x03],
        );
        ext.set_criticality(false);
        p.custom_extensions = vec![ext];
        let attr = rcgen::Attribute {
            oid: &[1, 2, 840, 113549, 1, 9, 7],
            values: vec![0x31, 0x05, 0x0c, 0x03, b'p', b'w', b'd'],
        };
        let der = p
            .serialize_request_with_attributes(&key, vec![attr])
            .unwrap()
            .der()
            .to_vec();
        let csr = Csr::parse(&der).unwrap();
        let e = csr.requested_extension("1.3.6.1.4.1.41482.3.1").unwrap();
        assert_eq!(e.value, vec![0x04, 0x03, 0x01, 0x02, 0x03]);
        assert!(!e.critical);
        assert!(csr.requested_extension("2.5.29.17").is_some());
        let a = csr.attribute("1.2.840.113549.1.9.7").unwrap();
        assert_eq!(a.values, vec![vec![0x0c, 0x03, b'p', b'w', b'd']]);
        // the structural reader sees the same attribute, also in a CSR whose
        // signature no longer verifies (the RA refuses that one later)
        let unverified = |d: &[u8]| Csr::unverified_attribute(d, "1.2.840.113549.1.9.7");
        assert_eq!(unverified(&der).unwrap(), Some(a.values.clone()));
        let mut broken = der.clone();
        let last = broken.len() - 1;
        broken[last] ^= 0x01;
        assert!(Csr::parse(&broken).is_err());
        assert_eq!(unverified(&broken).unwrap(), Some(a.values.clone()));
        assert_eq!(Csr::unverified_attribute(&der, "2.5.4.3").unwrap(), None);
        assert!(Csr::unverified_attribute(&der[..der.len() / 2], "1.2.840.113549.1.9.7").is_err());

        // openssl: -addext with a DER value and a challengePassword attribute.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("req.cnf"),
            "[req]\ndistinguished_name=dn\nattributes=attrs\nprompt=no\n[dn]\nCN=tester\n[attrs]\nchallengePassword=secret123\n",
        )
        .unwrap();
        let pem = openssl_csr(
            d,
            "ossl",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &[
                "-config",
                "req.cnf",
                "-addext",
                "1.3.6.1.4.1.41482.3.1=critical,DER:04020a0b",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
            ],
        );
        let csr = Csr::parse(&pem).unwrap();
        let e = csr.requested_extension("1.3.6.1.4.1.41482.3.1").unwrap();
        assert!(e.critical);
        assert_eq!(e.value, vec![0x04, 0x02, 0x0a, 0x0b]);
        assert!(csr.requested_extension("2.5.29.19").is_some());
        let a = csr
            .attribute("1.2.840.113549.1.9.7")
            .unwrap_or_else(|| panic!("{:?}", csr.attributes));
        assert_eq!(a.values.len(), 1);
        assert!(a.values[0].ends_with(b"secret123"));
    }

    /// Real-world requests vendored in protocol-tests/vectors/csr (Apache-2.0,
    /// see PROVENANCE.tsv there).
    fn vendored_csr(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("protocol-tests/vectors/csr")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The SubjectPublicKeyInfo DER of a CSR file as OpenSSL reads it (after
    /// OpenSSL verified the self-signature).
    fn openssl_spki(dir: &Path, csr_path: &Path) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(["req", "-noout", "-verify", "-pubkey", "-in"])
            .arg(csr_path)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl: {e} ({INSTALL_HINT})"));
        assert!(
            out.status.success(),
            "openssl refuses {}: {}",
            csr_path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text
            .find("-----BEGIN PUBLIC KEY-----")
            .expect("public key PEM");
        pem::parse(&text[start..]).unwrap().into_contents()
    }

    /// Every single-bit flip of `der` is refused (a CSR has no bit outside
    /// the signed bytes whose change leaves it acceptable), truncations too.
    fn assert_every_bit_flip_fails(der: &[u8], what: &str) {
        for n in 0..der.len() {
            assert!(Csr::parse(&der[..n]).is_err(), "{what}: truncated to {n}");
        }
        for i in 0..der.len() {
            for bit in 0..8 {
                let mut bad = der.to_vec();
                bad[i] ^= 1 << bit;
                assert!(
                    Csr::parse(&bad).is_err(),
                    "{what}: flipping bit {bit} of byte {i} was accepted"
                );
            }
        }
    }

    #[test]
    fn csr_real_world_requests_that_openssl_accepts_parse() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // TameMyCerts: YubiKey fw 5.7.4 request with its attestation inside.
        let fw574 = vendored_csr("tamemycerts-yubikey-fw574.csr.pem");
        let csr = Csr::parse(&fw574).unwrap();
        assert_eq!(csr.key, KeyKind::EcP384);
        assert_eq!(
            csr.subject,
            "O=Fake, CN=SubjectName to be supplied by Server"
        );
        for oid in ["1.3.6.1.4.1.41482.3.1", "1.3.6.1.4.1.41482.3.2"] {
            let e = csr.requested_extension(oid).unwrap();
            assert!(!e.critical);
            assert_eq!(e.value[0], 0x30, "{oid} holds a DER certificate");
        }
        // Windows (certreq) requests carrying Microsoft attributes: OS version
        // (1.3.6.1.4.1.311.13.2.3, IA5String), client info (.311.21.20) and
        // enrollment CSP (.311.13.2.2), reported raw.
        let cases = [
            (
                "tamemycerts-ms-osversion-no-attestation.csr.pem",
                2048,
                2,
                "10.0.19044.2",
            ),
            (
                "tamemycerts-ms-osversion-invalid-attestation.csr.pem",
                3072,
                4,
                "10.0.26100.2",
            ),
        ];
        for (name, bits, extensions, os_version) in cases {
            let pem_bytes = vendored_csr(name);
            let csr = Csr::parse(&pem_bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(csr.key, KeyKind::Rsa { bits }, "{name}");
            assert_eq!(csr.requested_extensions.len(), extensions, "{name}");
            let ku = csr.requested_extension("2.5.29.15").unwrap();
            assert!(ku.critical);
            assert_eq!(ku.value, [0x03, 0x02, 0x07, 0x80]);
            let os = csr.attribute("1.3.6.1.4.1.311.13.2.3").unwrap();
            let expected = [&[0x16, os_version.len() as u8][..], os_version.as_bytes()].concat();
            assert_eq!(os.values, vec![expected], "{name}");
            let client = csr.attribute("1.3.6.1.4.1.311.21.20").unwrap();
            assert_eq!(client.values.len(), 1);
            assert_eq!(client.values[0][0], 0x30);
            assert!(csr.attribute("1.3.6.1.4.1.311.13.2.2").is_some());
            assert_eq!(csr.attributes.len(), 3);
        }
        for name in [
            "tamemycerts-yubikey-fw574.csr.pem",
            "tamemycerts-ms-osversion-no-attestation.csr.pem",
            "tamemycerts-ms-osversion-invalid-attestation.csr.pem",
        ] {
            let pem_bytes = vendored_csr(name);
            let csr = Csr::parse(&pem_bytes).unwrap();
            let path = d.join(name);
            std::fs::write(&path, &pem_bytes).unwrap();
            assert_eq!(csr.spki_der, openssl_spki(d, &path), "{name}");
            assert_eq!(Csr::parse(&csr.der).unwrap().spki_der, csr.spki_der);
            assert_every_bit_flip_fails(&csr.der, name);
        }
    }

    /// Every CSR of the workspace attestation corpus that OpenSSL verifies
    /// parses, with the key OpenSSL reads.
    #[test]
    fn csr_every_openssl_verified_request_of_the_shared_corpus_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/attestation");
        if !root.exists() {
            eprintln!(
                "SKIP: {} is absent (workspace attestation corpus)",
                root.display()
            );
            return;
        }
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&root, &mut files);
        files.sort();
        let dir = tempfile::tempdir().unwrap();
        let mut checked = 0;
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let is_pem_csr = text.contains("-----BEGIN CERTIFICATE REQUEST-----")
                || text.contains("-----BEGIN NEW CERTIFICATE REQUEST-----");
            if !is_pem_csr || path.extension().is_some_and(|e| e == "json") {
                continue;
            }
            let csr = Csr::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                csr.spki_der,
                openssl_spki(dir.path(), &path),
                "{}",
                path.display()
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} CSRs found");
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    const ECDSA_SHA256_ALG: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];

    /// A CSR assembled by hand: `info_fields` (the CertificationRequestInfo
    /// contents after version) signed with `key`, under `sig_alg`.
    fn hand_made_csr(
        key: &rcgen::KeyPair,
        version: u8,
        info_fields: &[u8],
        sig_alg: &[u8],
    ) -> Vec<u8> {
        use rcgen::SigningKey as _;
        let mut body = tlv(0x02, &[version]);
        body.extend_from_slice(info_fields);
        let info = tlv(0x30, &body);
        let sig = key.sign(&info).unwrap();
        let mut bits = vec![0];
        bits.extend_from_slice(&sig);
        let mut outer = info;
        outer.extend_from_slice(sig_alg);
        outer.extend_from_slice(&tlv(0x03, &bits));
        tlv(0x30, &outer)
    }

    fn subject_and_spki(key: &rcgen::KeyPair) -> Vec<u8> {
        use rcgen::PublicKeyData as _;
        let cn = [
            &[0x06, 0x03, 0x55, 0x04, 0x03][..],
            &tlv(0x0c, b"hand made"),
        ]
        .concat();
        let mut v = tlv(0x30, &tlv(0x31, &tlv(0x30, &cn)));
        v.extend_from_slice(&key.subject_public_key_info());
        v
    }

    #[test]
    fn csr_attributes_are_reported_raw_whatever_their_syntax() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        // challengePassword as an IA5String (not a DirectoryString), an unknown
        // attribute with two values and one with none.
        let attrs = [
            tlv(
                0x30,
                &[
                    &[
                        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07,
                    ][..],
                    &tlv(0x31, &tlv(0x16, b"pw")),
                ]
                .concat(),
            ),
            tlv(
                0x30,
                &[
                    &[0x06, 0x03, 0x2a, 0x03, 0x04][..],
                    &tlv(0x31, &[tlv(0x02, &[7]), tlv(0x04, b"xy")].concat()),
                ]
                .concat(),
            ),
            tlv(
                0x30,
                &[&[0x06, 0x03, 0x2a, 0x03, 0x05][..], &[0x31, 0x00]].concat(),
            ),
        ]
        .concat();
        let mut fields = subject_and_spki(&key);
        fields.extend_from_slice(&tlv(0xa0, &attrs));
        let der = hand_made_csr(&key, 0, &fields, ECDSA_SHA256_ALG);
        let csr = Csr::parse(&der).unwrap();
        assert_eq!(csr.subject, "CN=hand made");
        assert_eq!(
            csr.attribute("1.2.840.113549.1.9.7").unwrap().values,
            vec![b"\x16\x02pw".to_vec()]
        );
        assert_eq!(
            csr.attribute("1.2.3.4").unwrap().values,
            vec![vec![0x02, 0x01, 0x07], b"\x04\x02xy".to_vec()]
        );
        assert!(csr.attribute("1.2.3.5").unwrap().values.is_empty());
        assert!(csr.requested_extensions.is_empty());

        // Without the attributes field at all (some encoders omit an empty one).
        let der = hand_made_csr(&key, 0, &subject_and_spki(&key), ECDSA_SHA256_ALG);
        let csr = Csr::parse(&der).unwrap();
        assert!(csr.attributes.is_empty() && csr.requested_extensions.is_empty());
        // NULL parameters for ECDSA are tolerated; anything else is not.
        let mut null_alg = ECDSA_SHA256_ALG.to_vec();
        null_alg[1] += 2;
        null_alg.extend_from_slice(&[0x05, 0x00]);
        Csr::parse(&hand_made_csr(&key, 0, &subject_and_spki(&key), &null_alg)).unwrap();
        let mut odd_alg = null_alg.clone();
        let n = odd_alg.len();
        odd_alg[n - 2] = 0x04;
        assert!(matches!(
            Csr::parse(&hand_made_csr(&key, 0, &subject_and_spki(&key), &odd_alg)),
            Err(CsrError::UnsupportedSignatureAlgorithm(m)) if m.contains("parameters")
        ));
    }

    #[test]
    fn csr_malformed_but_signed_structures_are_refused_precisely() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let base = subject_and_spki(&key);
        let err = |der: Vec<u8>| match Csr::parse(&der) {
            Err(CsrError::Der(m)) => m,
            other => panic!("expected a DER error, got {other:?}"),
        };
        // version 1
        let m = err(hand_made_csr(
            &key,
            1,
            &[base.clone(), vec![0xa0, 0x00]].concat(),
            ECDSA_SHA256_ALG,
        ));
        assert!(m.contains("version"), "{m}");
        // an element after the attributes
        let m = err(hand_made_csr(
            &key,
            0,
            &[base.clone(), vec![0xa0, 0x00, 0x05, 0x00]].concat(),
            ECDSA_SHA256_ALG,
        ));
        assert!(m.contains("trailing"), "{m}");
        // attributes under another tag
        let m = err(hand_made_csr(
            &key,
            0,
            &[base.clone(), vec![0xa1, 0x00]].concat(),
            ECDSA_SHA256_ALG,
        ));
        assert!(m.contains("attributes"), "{m}");
        // an extensionRequest whose value is not Extensions
        let ext_req = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e,
        ];
        let attr = tlv(0x30, &[&ext_req[..], &tlv(0x31, &tlv(0x02, &[5]))].concat());
        let m = err(hand_made_csr(
            &key,
            0,
            &[base.clone(), tlv(0xa0, &attr)].concat(),
            ECDSA_SHA256_ALG,
        ));
        assert!(
            m.starts_with("extensionRequest is malformed: Extensions: expected SEQUENCE"),
            "{m}"
        );
        // an extensionRequest with a well-formed extension is decoded (the
        // critical flag in BER form 0x01 is read as true)
        let ext = tlv(
            0x30,
            &[
                &[0x06, 0x03, 0x2a, 0x03, 0x04, 0x01, 0x01, 0x01][..],
                &tlv(0x04, &[0x05, 0x00]),
            ]
            .concat(),
        );
        let attr = tlv(0x30, &[&ext_req[..], &tlv(0x31, &tlv(0x30, &ext))].concat());
        let csr = Csr::parse(&hand_made_csr(
            &key,
            0,
            &[base.clone(), tlv(0xa0, &attr)].concat(),
            ECDSA_SHA256_ALG,
        ))
        .unwrap();
        let e = csr.requested_extension("1.2.3.4").unwrap();
        assert!(e.critical);
        assert_eq!(e.value, [0x05, 0x00]);
        // a subject that is not a Name still needs to be a SEQUENCE
        let mut not_name = vec![0x31, 0x00];
        not_name.extend_from_slice(&{
            use rcgen::PublicKeyData as _;
            key.subject_public_key_info()
        });
        let m = err(hand_made_csr(&key, 0, &not_name, ECDSA_SHA256_ALG));
        assert!(m.contains("subject"), "{m}");
        // the outer structure must be exactly three elements
        let good = hand_made_csr(&key, 0, &base, ECDSA_SHA256_ALG);
        Csr::parse(&good).unwrap();
        let header = match good[1] {
            0x81 => 3,
            0x82 => 4,
            _ => 2,
        };
        let mut inner = good[header..].to_vec();
        inner.extend_from_slice(&[0x05, 0x00]);
        let m = err(tlv(0x30, &inner));
        assert!(m.contains("trailing"), "{m}");
    }
}
