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
    spki: &SubjectPublicKeyInfo<'_>,
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

fn verify_self_signature(
    req: &X509CertificationRequest<'_>,
    key: &KeyKind,
) -> Result<(), CsrError> {
    let alg = verification_algorithm(
        &req.signature_algorithm,
        &req.certification_request_info.subject_pki,
        key,
    )?;
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
    let mut input: &[u8] = any.data;
    while !input.is_empty() {
        let (rest, _) = Any::from_der(input).map_err(|e| e.to_string())?;
        let used = input.len() - rest.len();
        values.push(input[..used].to_vec());
        input = rest;
    }
    Ok(values)
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
        let cases: [(&str, &[&str], &str); 3] = [
            ("ed25519", &["-algorithm", "ED25519"], "Ed25519"),
            (
                "p521",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
                "P-521",
            ),
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
}
