//! EST wire encodings (RFC 7030 + RFC 8951): base64 of DER in both
//! directions, certs-only PKCS#7 (the CA core's encoder, in DER SET OF
//! order), and the CSR attributes structure.

use base64::Engine;
use der::asn1::{Any, ObjectIdentifier, SetOfVec};
use der::{Decode, Encode};

use crate::ra::est::EstCsrPolicy;

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodingError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not base64 (RFC 8951): {0}")]
    Base64(String),
    #[error("the body is not PEM: {0}")]
    Pem(String),
    #[error("Content-Transfer-Encoding {0:?} is not supported (use base64)")]
    TransferEncoding(String),
}

/// Decodes an EST request body to DER: base64 with any line breaks or other
/// whitespace (RFC 8951), whether or not `Content-Transfer-Encoding: base64`
/// was sent. `binary` transfer encoding (raw DER) and PEM are tolerated too.
pub fn decode_body(body: &[u8], transfer_encoding: Option<&str>) -> Result<Vec<u8>, EncodingError> {
    let cte = transfer_encoding.map(|v| v.trim().to_ascii_lowercase());
    match cte.as_deref() {
        None | Some("") | Some("base64") => {}
        Some("binary") => {
            return if body.is_empty() {
                Err(EncodingError::Empty)
            } else {
                Ok(body.to_vec())
            }
        }
        Some(other) => return Err(EncodingError::TransferEncoding(other.to_string())),
    }
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return Err(EncodingError::Empty);
    }
    if text.starts_with(b"-----BEGIN") {
        return pem::parse(body)
            .map(|p| p.into_contents())
            .map_err(|e| EncodingError::Pem(e.to_string()));
    }
    // Standard alphabet, padding optional (some clients drop it).
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(&text)
        .map_err(|e| EncodingError::Base64(e.to_string()))
}

/// base64 (standard alphabet, padded) of `der`, broken into lines of
/// `line_length` characters with CRLF (0: one line).
pub fn encode_body(der: &[u8], line_length: usize) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    if line_length == 0 {
        let mut out = b64.into_bytes();
        out.extend_from_slice(b"\r\n");
        return out;
    }
    let mut out = Vec::with_capacity(b64.len() + 2 * (b64.len() / line_length + 1));
    for chunk in b64.as_bytes().chunks(line_length) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The media type of a Content-Type header value, lower case, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A degenerate certs-only CMS SignedData (RFC 5652; RFC 7030 section 4.1.3)
/// holding `certs` (each DER, checked to be a certificate). The certificates
/// are a DER SET OF, so they are put in DER order whatever order is given;
/// the encoding itself is the CA core's (`ca::pkcs7`).
pub fn certs_only(certs: &[&[u8]]) -> Result<Vec<u8>, der::Error> {
    for der in certs {
        x509_cert::Certificate::from_der(der)?;
    }
    let mut sorted = certs.to_vec();
    sorted.sort();
    sorted.dedup();
    Ok(crate::ca::pkcs7::certs_only_der(&sorted))
}

mod oid {
    pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const P256: &str = "1.2.840.10045.3.1.7";
    pub const P384: &str = "1.3.132.0.34";
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    pub const P521: &str = "1.3.132.0.35";
    pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
    pub const EXTENSION_REQUEST: &str = "1.2.840.113549.1.9.14";
    /// YubiKey PIV slot attestation certificate, as a CSR extension.
    pub const YUBIKEY_SLOT_ATTESTATION: &str = "1.3.6.1.4.1.41482.3.1";
    /// YubiKey PIV attestation (device intermediate) certificate, as a CSR extension.
    pub const YUBIKEY_DEVICE_CERT: &str = "1.3.6.1.4.1.41482.3.2";
}

/// One element of CsrAttrs (RFC 7030 section 4.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrOrOid {
    Oid(&'static str),
    Attribute(&'static str, Vec<&'static str>),
}

/// What the policy asks of a CSR, as CsrAttrs elements: the key algorithms
/// (an EC key as `id-ecPublicKey {curves}`), the signature algorithms, and
/// when attestation is required the extensions that carry it.
pub fn csr_attr_elements(policy: &EstCsrPolicy) -> Vec<AttrOrOid> {
    let has = |k: &str| policy.key_types.iter().any(|t| t == k);
    let mut out = Vec::new();
    if has("rsa-3072") || has("rsa-4096") {
        out.push(AttrOrOid::Oid(oid::RSA_ENCRYPTION));
        out.push(AttrOrOid::Oid(oid::SHA256_WITH_RSA));
    }
    let mut curves = Vec::new();
    if has("ecdsa-p256") {
        curves.push(oid::P256);
    }
    if has("ecdsa-p384") {
        curves.push(oid::P384);
    }
    if has("ecdsa-p521") {
        curves.push(oid::P521);
    }
    if !curves.is_empty() {
        out.push(AttrOrOid::Attribute(oid::EC_PUBLIC_KEY, curves));
        if has("ecdsa-p256") {
            out.push(AttrOrOid::Oid(oid::ECDSA_SHA256));
        }
        if has("ecdsa-p384") {
            out.push(AttrOrOid::Oid(oid::ECDSA_SHA384));
        }
        if has("ecdsa-p521") {
            out.push(AttrOrOid::Oid(oid::ECDSA_SHA512));
        }
    }
    if policy.attestation_required {
        out.push(AttrOrOid::Attribute(
            oid::EXTENSION_REQUEST,
            vec![oid::YUBIKEY_SLOT_ATTESTATION, oid::YUBIKEY_DEVICE_CERT],
        ));
    }
    out
}

/// DER of `CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID`.
pub fn csr_attrs_der(elements: &[AttrOrOid]) -> Result<Vec<u8>, der::Error> {
    let mut items: Vec<Any> = Vec::new();
    for e in elements {
        match e {
            AttrOrOid::Oid(o) => items.push(Any::encode_from(&ObjectIdentifier::new(o)?)?),
            AttrOrOid::Attribute(t, values) => {
                let mut set = SetOfVec::new();
                for v in values {
                    set.insert(ObjectIdentifier::new(v)?)?;
                }
                let attr = x509_cert::attr::Attribute {
                    oid: ObjectIdentifier::new(t)?,
                    values: set
                        .iter()
                        .map(Any::encode_from)
                        .collect::<Result<Vec<_>, _>>()?
                        .try_into()?,
                };
                items.push(Any::encode_from(&attr)?);
            }
        }
    }
    items.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_with_line_breaks_and_without_padding_or_header() {
        let der = b"\x30\x03\x02\x01\x05-some-longer-content-to-wrap-over-lines".to_vec();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(decode_body(b64.as_bytes(), None).unwrap(), der);
        assert_eq!(decode_body(b64.as_bytes(), Some("base64")).unwrap(), der);
        assert_eq!(decode_body(b64.as_bytes(), Some(" BASE64 ")).unwrap(), der);
        let wrapped: String = b64
            .as_bytes()
            .chunks(16)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_body(wrapped.as_bytes(), None).unwrap(), der);
        let lf_only = wrapped.replace("\r\n", "\n");
        assert_eq!(decode_body(lf_only.as_bytes(), None).unwrap(), der);
        let unpadded = b64.trim_end_matches('=');
        assert_ne!(unpadded, b64, "test data must need padding");
        assert_eq!(decode_body(unpadded.as_bytes(), None).unwrap(), der);
        // binary and PEM are tolerated
        assert_eq!(decode_body(&der, Some("binary")).unwrap(), der);
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der.clone()));
        assert_eq!(decode_body(pem.as_bytes(), None).unwrap(), der);
    }

    #[test]
    fn refuses_what_is_not_base64() {
        assert_eq!(decode_body(b"", None), Err(EncodingError::Empty));
        assert_eq!(decode_body(b" \r\n", None), Err(EncodingError::Empty));
        assert!(matches!(
            decode_body(b"not base64 at all!", None),
            Err(EncodingError::Base64(_))
        ));
        assert!(matches!(
            decode_body(b"MAMCAQU=", Some("quoted-printable")),
            Err(EncodingError::TransferEncoding(_))
        ));
    }

    #[test]
    fn encodes_wrapped_lines_that_decode_back() {
        let der: Vec<u8> = (0..=255u8).collect();
        let body = encode_body(&der, 64);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(text.lines().all(|l| l.len() <= 64));
        assert!(text.lines().count() > 1);
        assert!(text.ends_with("\r\n"));
        assert_eq!(decode_body(&body, None).unwrap(), der);
        let one = encode_body(&der, 0);
        assert_eq!(std::str::from_utf8(&one).unwrap().lines().count(), 1);
    }

    #[test]
    fn media_type_ignores_parameters_and_case() {
        assert_eq!(
            media_type("Application/PKCS10; charset=x"),
            "application/pkcs10"
        );
        assert_eq!(media_type(""), "");
    }

    fn self_signed(cn: &str, alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut p = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn openssl(dir: &std::path::Path, args: &[&str]) -> Vec<u8> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl binary is missing: run scripts/install-test-deps");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The certs-only PKCS#7 equals `openssl crl2pkcs7 -nocrl` for the same
    /// certificates (given to openssl in DER SET OF order, which is the
    /// order the cms crate writes), and the hand-encoded CA variant.
    #[test]
    fn certs_only_matches_openssl_crl2pkcs7_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let certs = [
            self_signed("leaf", &rcgen::PKCS_ECDSA_P384_SHA384),
            self_signed("issuing", &rcgen::PKCS_ECDSA_P256_SHA256),
            self_signed("root", &rcgen::PKCS_ECDSA_P256_SHA256),
        ];
        for n in 1..=certs.len() {
            let refs: Vec<&[u8]> = certs[..n].iter().map(|c| c.as_slice()).collect();
            let ours = certs_only(&refs).unwrap();
            let mut sorted = refs.clone();
            sorted.sort();
            let pem: String = sorted.iter().map(|c| crate::ca::pem_cert(c)).collect();
            std::fs::write(dir.path().join("chain.pem"), pem).unwrap();
            openssl(
                dir.path(),
                &[
                    "crl2pkcs7",
                    "-nocrl",
                    "-certfile",
                    "chain.pem",
                    "-outform",
                    "DER",
                    "-out",
                    "golden.p7b",
                ],
            );
            let golden = std::fs::read(dir.path().join("golden.p7b")).unwrap();
            assert_eq!(hex::encode(&ours), hex::encode(&golden), "{n} certificates");
            assert_eq!(ours, crate::ca::pkcs7::certs_only_der(&sorted));
            // openssl prints every certificate back
            std::fs::write(dir.path().join("ours.p7b"), &ours).unwrap();
            let printed = openssl(
                dir.path(),
                &["pkcs7", "-inform", "DER", "-in", "ours.p7b", "-print_certs"],
            );
            let printed = String::from_utf8_lossy(&printed);
            assert_eq!(printed.matches("-----BEGIN CERTIFICATE-----").count(), n);
        }
        assert!(certs_only(&[b"\x30\x00".as_slice()]).is_err());
    }

    #[test]
    fn csr_attrs_encode_key_types_and_parse_with_openssl() {
        let policy = EstCsrPolicy {
            key_types: vec!["ecdsa-p256".into(), "ecdsa-p384".into(), "rsa-3072".into()],
            attestation_required: true,
        };
        let elements = csr_attr_elements(&policy);
        assert!(elements.contains(&AttrOrOid::Oid(oid::RSA_ENCRYPTION)));
        assert!(elements.contains(&AttrOrOid::Attribute(
            oid::EC_PUBLIC_KEY,
            vec![oid::P256, oid::P384]
        )));
        let der = csr_attrs_der(&elements).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("attrs.der"), &der).unwrap();
        let parsed = openssl(
            dir.path(),
            &["asn1parse", "-inform", "DER", "-in", "attrs.der"],
        );
        let parsed = String::from_utf8_lossy(&parsed);
        for name in [
            "rsaEncryption",
            "id-ecPublicKey",
            "prime256v1",
            "secp384r1",
            "Extension Request",
        ] {
            assert!(parsed.contains(name), "{name} missing in\n{parsed}");
        }
        // Only EC P-256, no attestation: no RSA, no extensionRequest.
        let ec_only = csr_attr_elements(&EstCsrPolicy {
            key_types: vec!["ecdsa-p256".into()],
            attestation_required: false,
        });
        assert_eq!(
            ec_only,
            vec![
                AttrOrOid::Attribute(oid::EC_PUBLIC_KEY, vec![oid::P256]),
                AttrOrOid::Oid(oid::ECDSA_SHA256)
            ]
        );
        assert_eq!(csr_attrs_der(&[]).unwrap(), vec![0x30, 0x00]);
    }
}
