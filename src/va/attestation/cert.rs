//! Certificates as the verifiers see them: every field the chain logic and the
//! format verifiers need, extracted once (with x509-parser) into owned data,
//! plus signature verification with aws-lc-rs.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use time::OffsetDateTime;

use super::der;

pub const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub const OID_ED25519: &str = "1.3.101.112";
pub const OID_P256: &str = "1.2.840.10045.3.1.7";
pub const OID_P384: &str = "1.3.132.0.34";
pub const OID_P521: &str = "1.3.132.0.35";

const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_KEY_USAGE: &str = "2.5.29.15";
const OID_EXT_KEY_USAGE: &str = "2.5.29.37";

/// Critical extensions this verifier understands (RFC 5280 4.2: a certificate
/// with an unrecognised critical extension must be rejected).
const UNDERSTOOD_CRITICAL: &[&str] = &[
    OID_BASIC_CONSTRAINTS,
    OID_KEY_USAGE,
    OID_EXT_KEY_USAGE,
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.17", // subjectAltName
    "2.5.29.32", // certificatePolicies (not processed; no policy is required)
];

/// The kind of a subject public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAlg {
    Rsa { bits: usize },
    EcP256,
    EcP384,
    EcP521,
    Ed25519,
    Other(String),
}

impl KeyAlg {
    pub fn describe(&self) -> String {
        match self {
            KeyAlg::Rsa { bits } => format!("RSA-{bits}"),
            KeyAlg::EcP256 => "ECDSA P-256".into(),
            KeyAlg::EcP384 => "ECDSA P-384".into(),
            KeyAlg::EcP521 => "ECDSA P-521".into(),
            KeyAlg::Ed25519 => "Ed25519".into(),
            KeyAlg::Other(s) => s.clone(),
        }
    }
}

/// One extension, raw.
#[derive(Debug, Clone)]
pub struct Ext {
    pub oid: String,
    pub critical: bool,
    /// extnValue contents.
    pub value: Vec<u8>,
}

/// A parsed certificate (owned).
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    /// X.509 version as encoded (0 = v1, 2 = v3).
    pub version: u32,
    pub subject: String,
    pub issuer: String,
    pub subject_cn: Option<String>,
    /// Subject attributes (dotted OID, string value) in order.
    pub subject_attrs: Vec<(String, String)>,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub spki_der: Vec<u8>,
    pub key_alg: KeyAlg,
    /// subjectPublicKey BIT STRING contents (RSAPublicKey DER, EC point, Ed25519 key).
    pub key_bytes: Vec<u8>,
    /// (cA, pathLenConstraint) when basicConstraints is present.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// Key usage bits (bit 0 = digitalSignature in the MSB of the first octet),
    /// when the extension is present.
    pub key_usage: Option<u16>,
    pub ext_key_usage: Vec<String>,
    pub extensions: Vec<Ext>,
    pub tbs_der: Vec<u8>,
    pub sig_alg_oid: String,
    pub sig_value: Vec<u8>,
    /// Quirks tolerated while reading this certificate (e.g. explicitly
    /// encoded DEFAULT values), for the facts' `quirks` list.
    pub parse_quirks: Vec<&'static str>,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertError(pub String);

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigError {
    UnsupportedAlgorithm(String),
    KeyMismatch(String),
    Invalid,
}

impl std::fmt::Display for SigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SigError::UnsupportedAlgorithm(s) => write!(f, "unsupported signature algorithm {s}"),
            SigError::KeyMismatch(s) => write!(f, "{s}"),
            SigError::Invalid => f.write_str("signature does not verify"),
        }
    }
}

/// How a signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigOutcome {
    Strict,
    /// An ECDSA signature whose INTEGERs were not DER (e.g. a negative `s`
    /// without its 0x00 pad) verified after re-encoding (r, s) as unsigned.
    ReencodedEcdsa,
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data).as_ref())
}

fn cert_err<T>(msg: impl Into<String>) -> Result<T, CertError> {
    Err(CertError(msg.into()))
}

fn asn1_time(t: &x509_parser::time::ASN1Time) -> OffsetDateTime {
    t.to_datetime()
}

impl Cert {
    /// Parses one DER certificate; trailing data is an error.
    pub fn parse(input: &[u8]) -> Result<Cert, CertError> {
        let (rest, x) = match x509_parser::parse_x509_certificate(input) {
            Ok(v) => v,
            Err(e) => return cert_err(format!("not an X.509 certificate: {e}")),
        };
        if !rest.is_empty() {
            return cert_err(format!(
                "{} octets of trailing data after the certificate",
                rest.len()
            ));
        }
        let tbs = &x.tbs_certificate;
        let spki = &tbs.subject_pki;
        let alg_oid = spki.algorithm.algorithm.to_id_string();
        let key_bytes = spki.subject_public_key.data.to_vec();
        let key_alg = match alg_oid.as_str() {
            OID_RSA_ENCRYPTION => KeyAlg::Rsa {
                bits: rsa_modulus_bits(&key_bytes).unwrap_or(0),
            },
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    OID_P256 => KeyAlg::EcP256,
                    OID_P384 => KeyAlg::EcP384,
                    OID_P521 => KeyAlg::EcP521,
                    other => KeyAlg::Other(format!("EC curve {other}")),
                }
            }
            OID_ED25519 => KeyAlg::Ed25519,
            other => KeyAlg::Other(format!("key algorithm {other}")),
        };

        let mut extensions = Vec::new();
        for e in tbs.extensions() {
            extensions.push(Ext {
                oid: e.oid.to_id_string(),
                critical: e.critical,
                value: e.value.to_vec(),
            });
        }
        let mut parse_quirks = Vec::new();
        for (i, e) in extensions.iter().enumerate() {
            if extensions[..i].iter().any(|o| o.oid == e.oid) {
                return cert_err(format!("duplicate extension {}", e.oid));
            }
            if e.critical && !UNDERSTOOD_CRITICAL.contains(&e.oid.as_str()) {
                return cert_err(format!("unrecognised critical extension {}", e.oid));
            }
        }
        let find = |oid: &str| extensions.iter().find(|e| e.oid == oid);
        let basic_constraints = match find(OID_BASIC_CONSTRAINTS) {
            None => None,
            Some(e) => Some(
                parse_basic_constraints(&e.value, &mut parse_quirks)
                    .map_err(|m| CertError(format!("bad basicConstraints: {m}")))?,
            ),
        };
        let key_usage = match find(OID_KEY_USAGE) {
            None => None,
            Some(e) => Some(
                parse_key_usage(&e.value).map_err(|m| CertError(format!("bad keyUsage: {m}")))?,
            ),
        };
        let ext_key_usage = match find(OID_EXT_KEY_USAGE) {
            None => Vec::new(),
            Some(e) => {
                parse_eku(&e.value).map_err(|m| CertError(format!("bad extendedKeyUsage: {m}")))?
            }
        };

        let subject_cn = tbs
            .subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);

        let subject_attrs = tbs
            .subject
            .iter_attributes()
            .map(|a| {
                (
                    a.attr_type().to_id_string(),
                    a.as_str().map(str::to_owned).unwrap_or_default(),
                )
            })
            .collect();

        Ok(Cert {
            der: x.as_raw().to_vec(),
            version: tbs.version.0,
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            subject_cn,
            subject_attrs,
            subject_raw: tbs.subject.as_raw().to_vec(),
            issuer_raw: tbs.issuer.as_raw().to_vec(),
            not_before: asn1_time(&tbs.validity.not_before),
            not_after: asn1_time(&tbs.validity.not_after),
            spki_der: spki.raw.to_vec(),
            key_alg,
            key_bytes,
            basic_constraints,
            key_usage,
            ext_key_usage,
            extensions,
            tbs_der: tbs.as_ref().to_vec(),
            sig_alg_oid: x.signature_algorithm.algorithm.to_id_string(),
            sig_value: x.signature_value.data.to_vec(),
            parse_quirks,
        })
    }

    pub fn ext(&self, oid: &str) -> Option<&Ext> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    pub fn sha256(&self) -> String {
        sha256_hex(&self.der)
    }

    /// Subject and issuer names are byte-identical (self-issued).
    pub fn self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `self` names `issuer` as its issuer (byte comparison of the
    /// DER names; attestation hierarchies encode names consistently).
    pub fn issued_by_name(&self, issuer: &Cert) -> bool {
        self.issuer_raw == issuer.subject_raw
    }

    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// keyCertSign, when keyUsage is present.
    pub fn key_cert_sign(&self) -> Option<bool> {
        self.key_usage.map(|ku| ku & 0x0400 != 0)
    }

    pub fn digital_signature(&self) -> Option<bool> {
        self.key_usage.map(|ku| ku & 0x8000 != 0)
    }

    /// Verifies this certificate's signature with `issuer`'s public key.
    pub fn verify_signed_by(
        &self,
        issuer: &Cert,
        lenient_ecdsa: bool,
    ) -> Result<SigOutcome, SigError> {
        verify_signature(
            &issuer.key_alg,
            &issuer.key_bytes,
            &self.sig_alg_oid,
            &self.tbs_der,
            &self.sig_value,
            lenient_ecdsa,
        )
    }

    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

fn parse_basic_constraints(
    value: &[u8],
    quirks: &mut Vec<&'static str>,
) -> Result<(bool, Option<u32>), der::DerError> {
    let seq = der::read_single(value, der::TAG_SEQUENCE)?;
    let items = der::read_children(seq.value)?;
    let mut ca = false;
    let mut path_len = None;
    let mut idx = 0;
    if let Some(first) = items.first() {
        if first.tag == der::TAG_BOOLEAN {
            match first.value {
                [0x00] => {
                    // DER forbids encoding the DEFAULT; BER allows it. Seen in
                    // real Luna and Fortanix certificates.
                    quirks.push("explicit-default-basic-constraints");
                }
                [0xff] => ca = true,
                _ => return Err(der::DerError("bad BOOLEAN".into())),
            }
            idx = 1;
        }
    }
    if let Some(pl) = items.get(idx) {
        if pl.tag != der::TAG_INTEGER {
            return Err(der::DerError("pathLenConstraint is not an INTEGER".into()));
        }
        let v = der::integer_u64(pl.value)?;
        path_len = Some(
            u32::try_from(v).map_err(|_| der::DerError("pathLenConstraint too large".into()))?,
        );
        idx += 1;
    }
    if idx != items.len() {
        return Err(der::DerError("unexpected elements".into()));
    }
    Ok((ca, path_len))
}

fn parse_key_usage(value: &[u8]) -> Result<u16, der::DerError> {
    let bs = der::read_single(value, der::TAG_BIT_STRING)?;
    let (&unused, bits) = bs
        .value
        .split_first()
        .ok_or_else(|| der::DerError("empty BIT STRING".into()))?;
    if unused > 7 || bits.len() > 2 {
        return Err(der::DerError("malformed keyUsage BIT STRING".into()));
    }
    let hi = bits.first().copied().unwrap_or(0) as u16;
    let lo = bits.get(1).copied().unwrap_or(0) as u16;
    Ok((hi << 8) | lo)
}

fn parse_eku(value: &[u8]) -> Result<Vec<String>, der::DerError> {
    let seq = der::read_single(value, der::TAG_SEQUENCE)?;
    der::read_children(seq.value)?
        .into_iter()
        .map(|t| {
            if t.tag != der::TAG_OID {
                return Err(der::DerError("EKU element is not an OID".into()));
            }
            der::oid_to_string(t.value)
        })
        .collect()
}

/// Bit length of the modulus of an RSAPublicKey DER.
pub fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Option<usize> {
    let seq = der::read_single(rsa_public_key, der::TAG_SEQUENCE).ok()?;
    let items = der::read_children(seq.value).ok()?;
    let n = items.first()?;
    if n.tag != der::TAG_INTEGER {
        return None;
    }
    let digits: &[u8] = {
        let skip = n.value.iter().take_while(|b| **b == 0).count();
        &n.value[skip..]
    };
    let first = *digits.first()?;
    Some((digits.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// Verifies `sig` over `message` with the given public key.
pub fn verify_signature(
    key_alg: &KeyAlg,
    key_bytes: &[u8],
    sig_alg_oid: &str,
    message: &[u8],
    sig: &[u8],
    lenient_ecdsa: bool,
) -> Result<SigOutcome, SigError> {
    let alg: &'static dyn VerificationAlgorithm = match (sig_alg_oid, key_alg) {
        ("1.2.840.113549.1.1.11", KeyAlg::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.12", KeyAlg::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.13", KeyAlg::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.4.3.2", KeyAlg::EcP256) => &signature::ECDSA_P256_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyAlg::EcP256) => &signature::ECDSA_P256_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyAlg::EcP256) => &signature::ECDSA_P256_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", KeyAlg::EcP384) => &signature::ECDSA_P384_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyAlg::EcP384) => &signature::ECDSA_P384_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyAlg::EcP384) => &signature::ECDSA_P384_SHA512_ASN1,
        ("1.2.840.10045.4.3.2", KeyAlg::EcP521) => &signature::ECDSA_P521_SHA256_ASN1,
        ("1.2.840.10045.4.3.3", KeyAlg::EcP521) => &signature::ECDSA_P521_SHA384_ASN1,
        ("1.2.840.10045.4.3.4", KeyAlg::EcP521) => &signature::ECDSA_P521_SHA512_ASN1,
        (OID_ED25519, KeyAlg::Ed25519) => &signature::ED25519,
        ("1.2.840.113549.1.1.5", _) | ("1.2.840.10045.4.1", _) => {
            return Err(SigError::UnsupportedAlgorithm(format!(
                "{sig_alg_oid} (SHA-1 signatures are not accepted)"
            )))
        }
        (
            "1.2.840.113549.1.1.11"
            | "1.2.840.113549.1.1.12"
            | "1.2.840.113549.1.1.13"
            | "1.2.840.10045.4.3.2"
            | "1.2.840.10045.4.3.3"
            | "1.2.840.10045.4.3.4"
            | OID_ED25519,
            other,
        ) => {
            return Err(SigError::KeyMismatch(format!(
                "signature algorithm {sig_alg_oid} does not match the signer's {} key",
                other.describe()
            )))
        }
        _ => return Err(SigError::UnsupportedAlgorithm(sig_alg_oid.to_string())),
    };
    if UnparsedPublicKey::new(alg, key_bytes)
        .verify(message, sig)
        .is_ok()
    {
        return Ok(SigOutcome::Strict);
    }
    let is_ecdsa = sig_alg_oid.starts_with("1.2.840.10045.4.3.");
    if lenient_ecdsa && is_ecdsa {
        if let Some(reencoded) = reencode_ecdsa(sig, key_alg) {
            if reencoded != sig
                && UnparsedPublicKey::new(alg, key_bytes)
                    .verify(message, &reencoded)
                    .is_ok()
            {
                return Ok(SigOutcome::ReencodedEcdsa);
            }
        }
    }
    Err(SigError::Invalid)
}

/// Re-encodes an Ecdsa-Sig-Value whose INTEGERs are not minimal/positive DER,
/// reading each INTEGER's contents as an unsigned big-endian magnitude. The
/// magnitude must fit the curve's field size.
pub fn reencode_ecdsa(sig: &[u8], key_alg: &KeyAlg) -> Option<Vec<u8>> {
    let field = match key_alg {
        KeyAlg::EcP256 => 32,
        KeyAlg::EcP384 => 48,
        KeyAlg::EcP521 => 66,
        _ => return None,
    };
    let seq = der::read_single(sig, der::TAG_SEQUENCE).ok()?;
    let items = der::read_children(seq.value).ok()?;
    if items.len() != 2
        || items
            .iter()
            .any(|t| t.tag != der::TAG_INTEGER || t.value.is_empty())
    {
        return None;
    }
    let mut body = Vec::new();
    for t in &items {
        let skip = t.value.iter().take_while(|b| **b == 0).count();
        let mag = &t.value[skip..];
        if mag.is_empty() || mag.len() > field {
            return None;
        }
        body.extend(der::encode_unsigned_integer(mag));
    }
    Some(der::encode_tlv(der::TAG_SEQUENCE, &body))
}

/// Builds an RSA SubjectPublicKeyInfo from modulus and exponent magnitudes.
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut rsa_key = der::encode_unsigned_integer(modulus);
    rsa_key.extend(der::encode_unsigned_integer(exponent));
    let rsa_key = der::encode_tlv(der::TAG_SEQUENCE, &rsa_key);
    // AlgorithmIdentifier { rsaEncryption, NULL }
    let alg: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend(rsa_key);
    let mut body = alg.to_vec();
    body.extend(der::encode_tlv(der::TAG_BIT_STRING, &bits));
    der::encode_tlv(der::TAG_SEQUENCE, &body)
}

/// Builds an EC SubjectPublicKeyInfo for an uncompressed point on P-256/P-384/P-521.
pub fn ec_spki(point: &[u8], curve: &KeyAlg) -> Option<Vec<u8>> {
    let curve_oid: &[u8] = match curve {
        KeyAlg::EcP256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        KeyAlg::EcP384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        KeyAlg::EcP521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
        _ => return None,
    };
    let ec_oid: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let mut alg = ec_oid.to_vec();
    alg.extend_from_slice(curve_oid);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut body = der::encode_tlv(der::TAG_SEQUENCE, &alg);
    body.extend(der::encode_tlv(der::TAG_BIT_STRING, &bits));
    Some(der::encode_tlv(der::TAG_SEQUENCE, &body))
}

/// Whether `point` is a valid uncompressed point on the curve.
pub fn ec_point_on_curve(point: &[u8], curve: &KeyAlg) -> bool {
    let alg: &'static dyn VerificationAlgorithm = match curve {
        KeyAlg::EcP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyAlg::EcP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyAlg::EcP521 => &signature::ECDSA_P521_SHA512_ASN1,
        _ => return false,
    };
    point.first() == Some(&0x04) && signature::ParsedPublicKey::new(alg, point).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reencodes_negative_s() {
        // r = 0x01, s = 0x80 encoded without its pad (negative in DER).
        let sig = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80];
        let fixed = reencode_ecdsa(&sig, &KeyAlg::EcP256).unwrap();
        assert_eq!(
            fixed,
            vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80]
        );
        // Too wide for the curve.
        let mut wide = vec![0x30, 0x27, 0x02, 0x01, 0x01, 0x02, 0x22];
        wide.extend(std::iter::repeat_n(0x11u8, 0x22));
        assert!(reencode_ecdsa(&wide, &KeyAlg::EcP256).is_none());
        assert!(reencode_ecdsa(&sig, &KeyAlg::Rsa { bits: 2048 }).is_none());
    }

    #[test]
    fn modulus_bits() {
        let key = der::encode_tlv(
            der::TAG_SEQUENCE,
            &[
                der::encode_unsigned_integer(&[0x80; 256]),
                der::encode_unsigned_integer(&[1, 0, 1]),
            ]
            .concat(),
        );
        assert_eq!(rsa_modulus_bits(&key), Some(2048));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Cert::parse(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(Cert::parse(b"").is_err());
    }
}
