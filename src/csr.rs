//! PKCS#10 certificate signing requests: parse (PEM or DER), verify the
//! signature (proof of possession) and report the facts the RA decides on.
//! Nothing here decides policy.
//!
//! Accepted signature algorithms (verified with aws-lc-rs):
//! RSA PKCS#1 v1.5 with SHA-256/384/512, RSA-PSS (SHA-256/384/512, MGF1 with the
//! same hash, salt length = hash length), ECDSA on P-256/P-384 with
//! SHA-256/384/512. Everything else is [`CsrError::UnsupportedSignatureAlgorithm`].

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::{Deserialize, Serialize};
use x509_parser::asn1_rs::{Any, FromDer as _};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

/// The kind of public key a CSR carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum KeyKind {
    Rsa {
        bits: u32,
    },
    EcP256,
    EcP384,
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

    fn parse_der(der: Vec<u8>) -> Result<Csr, CsrError> {
        if der.is_empty() {
            return Err(CsrError::Der("empty input".into()));
        }
        let (rest, req) =
            X509CertificationRequest::from_der(&der).map_err(|e| CsrError::Der(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CsrError::Der(format!(
                "{} trailing bytes after the CertificationRequest",
                rest.len()
            )));
        }
        let info = &req.certification_request_info;
        if info.version.0 != 0 {
            return Err(CsrError::Der(format!(
                "unsupported CertificationRequest version {}",
                info.version.0
            )));
        }
        let spki = &info.subject_pki;
        let key = key_kind(spki);
        verify_self_signature(&req, &key)?;

        let mut requested_extensions = Vec::new();
        let mut attributes = Vec::new();
        for attr in info.iter_attributes() {
            let oid = attr.oid.to_id_string();
            match attr.parsed_attribute() {
                ParsedCriAttribute::ExtensionRequest(er) if oid == oids::EXTENSION_REQUEST => {
                    for ext in &er.extensions {
                        requested_extensions.push(RequestedExtension {
                            oid: ext.oid.to_id_string(),
                            critical: ext.critical,
                            value: ext.value.to_vec(),
                        });
                    }
                }
                _ => {
                    let values = split_set_of(attr.value).map_err(|e| {
                        CsrError::Der(format!("attribute {oid} has malformed values: {e}"))
                    })?;
                    attributes.push(CsrAttribute { oid, values });
                }
            }
        }

        Ok(Csr {
            spki_der: spki.raw.to_vec(),
            key,
            subject: info.subject.to_string(),
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

fn looks_like_pem(input: &[u8]) -> bool {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    input[start..].starts_with(b"-----BEGIN")
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
                Some(oids::P521) => KeyKind::Unsupported {
                    description: "ECDSA P-521".into(),
                },
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
    key: &KeyKind,
) -> Result<&'static dyn VerificationAlgorithm, CsrError> {
    let sig_oid = oid_of(sig_alg);
    let unsupported = |what: &str| CsrError::UnsupportedSignatureAlgorithm(what.to_string());
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
            let alg: &'static dyn VerificationAlgorithm = match (key, sig_oid.as_str()) {
                (KeyKind::EcP256, oids::ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
                (KeyKind::EcP256, oids::ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
                (KeyKind::EcP256, oids::ECDSA_SHA512) => &signature::ECDSA_P256_SHA512_ASN1,
                (KeyKind::EcP384, oids::ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
                (KeyKind::EcP384, oids::ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
                (KeyKind::EcP384, oids::ECDSA_SHA512) => &signature::ECDSA_P384_SHA512_ASN1,
                _ => {
                    return Err(CsrError::UnsupportedSignatureAlgorithm(format!(
                        "ECDSA ({sig_oid}) with a {key} key"
                    )))
                }
            };
            Ok(alg)
        }
        oids::ED25519 => Err(unsupported("Ed25519")),
        oids::ED448 => Err(unsupported("Ed448")),
        other => Err(CsrError::UnsupportedSignatureAlgorithm(other.to_string())),
    }
}

fn verify_self_signature(
    req: &X509CertificationRequest<'_>,
    key: &KeyKind,
) -> Result<(), CsrError> {
    let alg = verification_algorithm(&req.signature_algorithm, key)?;
    if req.signature_value.unused_bits != 0 {
        return Err(CsrError::BadSignature);
    }
    let info = &req.certification_request_info;
    UnparsedPublicKey::new(alg, &info.subject_pki.subject_public_key.data)
        .verify(info.raw, &req.signature_value.data)
        .map_err(|_| CsrError::BadSignature)
}

/// Splits the DER of a SET OF (tag + length + contents) into the DER of each element.
fn split_set_of(set: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let (rest, any) = Any::from_der(set).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the SET".into());
    }
    let mut values = Vec::new();
    let mut input: &[u8] = any.data.as_ref();
    while !input.is_empty() {
        let (rest, _) = Any::from_der(input).map_err(|e| e.to_string())?;
        let used = input.len() - rest.len();
        values.push(input[..used].to_vec());
        input = rest;
    }
    Ok(values)
}
