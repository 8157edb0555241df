//! The attestation evidence container: the ACME finalize `attestation` member,
//! the admin CLI `--attestation FILE`, and the YubiKey attestation carried in a
//! CSR's extensionRequest. See docs/ATTESTATION.md for the JSON.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::cert::Cert;
use super::der;
use super::{AttestationError, Format, MAX_BLOB_LEN, MAX_CERTIFICATES, MAX_CERTIFICATE_LEN};
use crate::csr::Csr;

/// Attestation evidence: a format label plus the certificates (DER) and, for
/// Google Cloud HSM, the attestation blob.
///
/// `certificates[0]` is the certificate of the attested key (YubiKey slot
/// certificate, YubiHSM key attestation certificate, Luna PKC leaf, Fortanix
/// statement); the others are the device certificate and intermediates in any
/// order. Roots in the evidence are ignored: trust comes only from the
/// [`TrustStore`](super::TrustStore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EvidenceJson", into = "EvidenceJson")]
pub struct Evidence {
    pub format: Format,
    /// DER certificates (not yet validated).
    pub certificates: Vec<Vec<u8>>,
    /// Google Cloud HSM attestation blob (gzip-compressed or raw).
    pub blob: Option<Vec<u8>>,
}

/// The JSON shape of [`Evidence`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceJson {
    format: Format,
    /// Each entry: PEM text (one or more CERTIFICATE or PKCS7 blocks) or base64
    /// (standard or URL-safe, padding optional) of a DER certificate or a DER
    /// PKCS#7 certificate bag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    certificates: Vec<String>,
    /// Base64 of the Cloud HSM attestation blob (`.dat`, gzip or raw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
    /// Fortanix native `authority_chain` (base64 DER, statement signer first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    authority_chain: Vec<String>,
    /// Fortanix native `attestation_statement`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attestation_statement: Option<FortanixStatement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FortanixStatement {
    format: String,
    statement: String,
}

impl TryFrom<EvidenceJson> for Evidence {
    type Error = String;

    fn try_from(j: EvidenceJson) -> Result<Evidence, String> {
        let mut certificates = Vec::new();
        if let Some(st) = &j.attestation_statement {
            if j.format != Format::FortanixDsm {
                return Err("attestation_statement is only valid for format fortanix-dsm".into());
            }
            if st.format != "x509_certificate" {
                return Err(format!(
                    "attestation_statement.format '{}' is not supported (expected x509_certificate)",
                    st.format
                ));
            }
            certificates.extend(
                decode_cert_entry(&st.statement)
                    .map_err(|e| format!("attestation_statement: {e}"))?,
            );
        }
        for (i, c) in j.certificates.iter().enumerate() {
            certificates
                .extend(decode_cert_entry(c).map_err(|e| format!("certificates[{i}]: {e}"))?);
        }
        if !j.authority_chain.is_empty() {
            if j.format != Format::FortanixDsm {
                return Err("authority_chain is only valid for format fortanix-dsm".into());
            }
            if j.attestation_statement.is_none() && j.certificates.is_empty() {
                return Err("authority_chain without attestation_statement".into());
            }
            for (i, c) in j.authority_chain.iter().enumerate() {
                certificates.extend(
                    decode_cert_entry(c).map_err(|e| format!("authority_chain[{i}]: {e}"))?,
                );
            }
        }
        let blob = match &j.blob {
            None => None,
            Some(b) => {
                if j.format != Format::GoogleCloudHsm {
                    return Err(format!(
                        "blob is only valid for format google-cloud-hsm, not {}",
                        j.format
                    ));
                }
                let bytes = decode_base64(b).map_err(|e| format!("blob: {e}"))?;
                if bytes.len() > MAX_BLOB_LEN {
                    return Err(format!(
                        "blob: {} octets exceeds the limit of {MAX_BLOB_LEN}",
                        bytes.len()
                    ));
                }
                Some(bytes)
            }
        };
        if certificates.is_empty() {
            return Err("no certificates".into());
        }
        if certificates.len() > MAX_CERTIFICATES {
            return Err(format!(
                "{} certificates exceed the limit of {MAX_CERTIFICATES}",
                certificates.len()
            ));
        }
        Ok(Evidence {
            format: j.format,
            certificates,
            blob,
        })
    }
}

impl From<Evidence> for EvidenceJson {
    fn from(e: Evidence) -> EvidenceJson {
        let b64 = base64::engine::general_purpose::STANDARD;
        EvidenceJson {
            format: e.format,
            certificates: e.certificates.iter().map(|c| b64.encode(c)).collect(),
            blob: e.blob.as_ref().map(|b| b64.encode(b)),
            authority_chain: Vec::new(),
            attestation_statement: None,
        }
    }
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let trimmed = cleaned.trim_end_matches('=');
    let engine = if trimmed.contains(['-', '_']) {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine
        .decode(trimmed.as_bytes())
        .map_err(|e| format!("not base64: {e}"))
}

/// Decodes one `certificates` entry into DER certificates (a PEM bundle or a
/// PKCS#7 bag may hold several).
fn decode_cert_entry(s: &str) -> Result<Vec<Vec<u8>>, String> {
    if s.contains("-----BEGIN") {
        return pem_certificates(s.as_bytes());
    }
    let der = decode_base64(s)?;
    der_certificates(der)
}

/// A DER blob that is either a certificate or a PKCS#7 certificate bag.
fn der_certificates(der: Vec<u8>) -> Result<Vec<Vec<u8>>, String> {
    if is_pkcs7(&der) {
        return pkcs7_certificates(&der);
    }
    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(format!(
            "{} octets exceeds the certificate size limit",
            der.len()
        ));
    }
    Ok(vec![der])
}

/// Certificates of a PEM text (CERTIFICATE and PKCS7 blocks; others are errors).
pub(crate) fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(text).map_err(|e| format!("bad PEM: {e}"))?;
    if blocks.is_empty() {
        return Err("no PEM blocks".into());
    }
    let mut out = Vec::new();
    for b in blocks {
        match b.tag() {
            "CERTIFICATE" => out.extend(der_certificates(b.into_contents())?),
            "PKCS7" | "CMS" => out.extend(pkcs7_certificates(b.contents())?),
            other => {
                return Err(format!(
                    "unexpected PEM block '{other}' (expected CERTIFICATE or PKCS7)"
                ))
            }
        }
    }
    Ok(out)
}

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

fn is_pkcs7(der_bytes: &[u8]) -> bool {
    let Ok((outer, _)) = der::read_tlv(der_bytes) else {
        return false;
    };
    if outer.tag != der::TAG_SEQUENCE {
        return false;
    }
    match der::read_tlv(outer.value) {
        Ok((first, _)) => first.tag == der::TAG_OID && first.value == OID_SIGNED_DATA,
        Err(_) => false,
    }
}

/// Extracts the certificates of a PKCS#7 SignedData (certs-only bags such as
/// Luna PKC `.p7b` files). The certificates are returned as their raw
/// encodings, unvalidated.
pub(crate) fn pkcs7_certificates(der_bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let e = |m: &str| format!("bad PKCS#7: {m}");
    let ci = der::read_single(der_bytes, der::TAG_SEQUENCE).map_err(|x| e(&x.0))?;
    let parts = der::read_children(ci.value).map_err(|x| e(&x.0))?;
    if parts.len() != 2 || parts[0].tag != der::TAG_OID || parts[0].value != OID_SIGNED_DATA {
        return Err(e("not a SignedData ContentInfo"));
    }
    if parts[1].tag != 0xa0 {
        return Err(e("missing [0] content"));
    }
    let sd = der::read_single(parts[1].value, der::TAG_SEQUENCE).map_err(|x| e(&x.0))?;
    let fields = der::read_children(sd.value).map_err(|x| e(&x.0))?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
    let certs_field = fields
        .iter()
        .skip(3)
        .find(|t| t.tag == 0xa0)
        .ok_or_else(|| e("no certificates"))?;
    let mut out = Vec::new();
    for c in der::read_children(certs_field.value).map_err(|x| e(&x.0))? {
        if c.tag != der::TAG_SEQUENCE {
            return Err(e("certificate choice other than Certificate"));
        }
        if c.raw.len() > MAX_CERTIFICATE_LEN {
            return Err(e("certificate too large"));
        }
        out.push(c.raw.to_vec());
    }
    if out.is_empty() {
        return Err(e("no certificates"));
    }
    Ok(out)
}

impl Evidence {
    /// Parses the ACME finalize `attestation` member / the JSON file form.
    pub fn from_json(json: &[u8]) -> Result<Evidence, AttestationError> {
        serde_json::from_slice(json).map_err(|e| AttestationError::Malformed(e.to_string()))
    }

    /// The ACME finalize `attestation` member as already-parsed JSON.
    pub fn from_json_value(value: serde_json::Value) -> Result<Evidence, AttestationError> {
        serde_json::from_value(value).map_err(|e| AttestationError::Malformed(e.to_string()))
    }

    /// Reads an admin CLI `--attestation FILE`: the evidence JSON, a Fortanix
    /// key attestation JSON (`authority_chain` + `attestation_statement`), a
    /// PEM bundle, or a DER/PEM PKCS#7 bag. Bundles are classified by their
    /// certificates; a Cloud HSM blob needs the JSON form.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Evidence, AttestationError> {
        let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
        if let Some(t) = text {
            if t.starts_with('{') {
                let value: serde_json::Value = serde_json::from_str(t)
                    .map_err(|e| AttestationError::Malformed(format!("bad JSON: {e}")))?;
                if value.get("format").is_none()
                    && value.get("authority_chain").is_some()
                    && value.get("attestation_statement").is_some()
                {
                    let mut v = value;
                    if let Some(o) = v.as_object_mut() {
                        o.insert(
                            "format".into(),
                            serde_json::Value::String("fortanix-dsm".into()),
                        );
                    }
                    return serde_json::from_value(v)
                        .map_err(|e| AttestationError::Malformed(e.to_string()));
                }
                return serde_json::from_value(value)
                    .map_err(|e| AttestationError::Malformed(e.to_string()));
            }
            if t.contains("-----BEGIN") {
                let certs = pem_certificates(t.as_bytes()).map_err(AttestationError::Malformed)?;
                return Evidence::classify(certs);
            }
        }
        if is_pkcs7(bytes) {
            let certs = pkcs7_certificates(bytes).map_err(AttestationError::Malformed)?;
            return Evidence::classify(certs);
        }
        Err(AttestationError::Malformed(
            "not evidence JSON, a PEM bundle or a PKCS#7 bag".into(),
        ))
    }

    /// Builds evidence from bare certificates by recognising the format and
    /// putting the attested-key certificate first.
    pub fn classify(certificates: Vec<Vec<u8>>) -> Result<Evidence, AttestationError> {
        if certificates.is_empty() {
            return Err(AttestationError::Malformed("no certificates".into()));
        }
        if certificates.len() > MAX_CERTIFICATES {
            return Err(AttestationError::Malformed(format!(
                "{} certificates exceed the limit of {MAX_CERTIFICATES}",
                certificates.len()
            )));
        }
        let mut parsed = Vec::new();
        for (index, c) in certificates.iter().enumerate() {
            parsed.push(
                Cert::parse(c)
                    .map_err(|e| AttestationError::BadCertificate { index, reason: e.0 })?,
            );
        }
        let format = detect_format(&parsed, false).ok_or_else(|| {
            AttestationError::Malformed(
                "cannot tell the attestation format from these certificates (use the JSON form with \"format\")"
                    .into(),
            )
        })?;
        if format == Format::GoogleCloudHsm {
            return Err(AttestationError::Missing {
                format,
                what: "attestation blob (use the JSON form with \"blob\")".into(),
            });
        }
        let leaf = parsed.iter().position(|c| is_leaf_of(format, c));
        let mut certificates = certificates;
        if let Some(i) = leaf {
            let c = certificates.remove(i);
            certificates.insert(0, c);
        }
        Ok(Evidence {
            format,
            certificates,
            blob: None,
        })
    }

    /// Parses every certificate (errors name the index).
    pub(crate) fn parse_certificates(&self) -> Result<Vec<Cert>, AttestationError> {
        if self.certificates.is_empty() {
            return Err(AttestationError::Missing {
                format: self.format,
                what: "certificates".into(),
            });
        }
        if self.certificates.len() > MAX_CERTIFICATES {
            return Err(AttestationError::Malformed(format!(
                "{} certificates exceed the limit of {MAX_CERTIFICATES}",
                self.certificates.len()
            )));
        }
        self.certificates
            .iter()
            .enumerate()
            .map(|(index, c)| {
                if c.is_empty() && index == 0 {
                    return Err(AttestationError::Missing {
                        format: self.format,
                        what: leaf_description(self.format).into(),
                    });
                }
                if c.len() > MAX_CERTIFICATE_LEN {
                    return Err(AttestationError::BadCertificate {
                        index,
                        reason: format!("{} octets exceeds the certificate size limit", c.len()),
                    });
                }
                Cert::parse(c).map_err(|e| AttestationError::BadCertificate { index, reason: e.0 })
            })
            .collect()
    }
}

/// What `certificates[0]` must be, per format.
pub(crate) fn leaf_description(format: Format) -> &'static str {
    match format {
        Format::YubikeyPiv => {
            "slot attestation certificate (first certificate; in a CSR: extension 1.3.6.1.4.1.41482.3.1 or .3.11)"
        }
        Format::Yubihsm2 => "key attestation certificate 'YubiHSM Attestation id:0x....' (first certificate)",
        Format::ThalesLuna => "PKC leaf certificate (EKU 1.3.6.1.4.1.12383.1.13)",
        Format::GoogleCloudHsm => "partition certificates",
        Format::FortanixDsm => "key attestation statement certificate 'Fortanix DSM Key Attestation' (first certificate)",
    }
}

/// EKU of a Luna PKC leaf (RSA and ECC PKCs alike).
pub(crate) const PKC_LEAF_EKU: &str = "1.3.6.1.4.1.12383.1.13";

fn is_leaf_of(format: Format, c: &Cert) -> bool {
    let cn = c.subject_cn.as_deref().unwrap_or("");
    match format {
        Format::YubikeyPiv => super::yubikey_piv::slot_from_cn(cn).is_some(),
        Format::Yubihsm2 => cn.starts_with("YubiHSM Attestation id:"),
        Format::ThalesLuna => super::luna::is_pkc_leaf(c),
        Format::FortanixDsm => cn == "Fortanix DSM Key Attestation",
        Format::GoogleCloudHsm => cn.contains(":PARTN:"),
    }
}

/// Recognises the format of a set of certificates by their attested-key
/// certificate (None when nothing is recognisable).
pub(crate) fn detect_format(certs: &[Cert], has_blob: bool) -> Option<Format> {
    let order = [
        Format::YubikeyPiv,
        Format::Yubihsm2,
        Format::ThalesLuna,
        Format::FortanixDsm,
        Format::GoogleCloudHsm,
    ];
    let found: Vec<Format> = order
        .into_iter()
        .filter(|f| certs.iter().any(|c| is_leaf_of(*f, c)))
        .collect();
    match found.as_slice() {
        [] => has_blob.then_some(Format::GoogleCloudHsm),
        [one] => Some(*one),
        // Mixed evidence: report the first kind; the format verifier rejects
        // the certificates that do not belong.
        [first, ..] => Some(*first),
    }
}

/// YubiKey extensionRequest OIDs.
const CSR_SLOT_CERT_OID: &str = "1.3.6.1.4.1.41482.3.1";
const CSR_SLOT_CERT_OID_PIV_TOOL: &str = "1.3.6.1.4.1.41482.3.11";
const CSR_DEVICE_CERT_OID: &str = "1.3.6.1.4.1.41482.3.2";

/// Evidence carried inside a CSR: the YubiKey slot attestation certificate
/// (extensionRequest 1.3.6.1.4.1.41482.3.1, or .3.11 as yubico-piv-tool writes
/// it) and the f9 device certificate (.3.2). Returns None when the CSR carries
/// none of them. The values are not validated here: [`super::verify`] reports
/// precisely what is wrong (garbage, missing slot certificate ...).
///
/// The IETF LAMPS CSR-attestation attribute is not supported yet.
pub fn evidence_from_csr(csr: &Csr) -> Option<Evidence> {
    let find = |oid: &str| {
        csr.requested_extensions
            .iter()
            .find(|e| e.oid == oid)
            .map(|e| e.value.clone())
    };
    // .3.1 (minidriver) wins over .3.11 (yubico-piv-tool) when both exist.
    let slot = find(CSR_SLOT_CERT_OID).or_else(|| find(CSR_SLOT_CERT_OID_PIV_TOOL));
    let device = find(CSR_DEVICE_CERT_OID);
    if slot.is_none() && device.is_none() {
        return None;
    }
    let mut certificates = Vec::new();
    // An absent slot certificate is represented by an empty entry so that the
    // verifier can say exactly what is missing.
    certificates.push(slot.unwrap_or_default());
    certificates.extend(device);
    Some(Evidence {
        format: Format::YubikeyPiv,
        certificates,
        blob: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rejects_unknown_fields_and_formats() {
        assert!(
            Evidence::from_json(br#"{"format":"yubikey-piv","certificates":["AAAA"],"x":1}"#)
                .is_err()
        );
        assert!(Evidence::from_json(br#"{"format":"tpm","certificates":["AAAA"]}"#).is_err());
        assert!(Evidence::from_json(br#"{"format":"yubikey-piv"}"#).is_err());
        assert!(Evidence::from_json(
            br#"{"format":"yubikey-piv","certificates":["AAAA"],"blob":"AAAA"}"#
        )
        .is_err());
        let e =
            Evidence::from_json(br#"{"format":"marvell","certificates":["AAEC"],"blob":"AAEC"}"#)
                .unwrap();
        assert_eq!(e.format, Format::GoogleCloudHsm);
        assert_eq!(e.blob.as_deref(), Some(&[0u8, 1, 2][..]));
    }

    #[test]
    fn base64_variants() {
        assert_eq!(decode_base64("AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(decode_base64("AAE=").unwrap(), vec![0, 1]);
        assert_eq!(decode_base64("_-8").unwrap(), vec![0xff, 0xef]);
        assert_eq!(decode_base64("AA\nEC").unwrap(), vec![0, 1, 2]);
        assert!(decode_base64("!!").is_err());
    }

    #[test]
    fn pem_rejects_other_blocks() {
        let p = "-----BEGIN PRIVATE KEY-----\nAAEC\n-----END PRIVATE KEY-----\n";
        assert!(pem_certificates(p.as_bytes()).is_err());
    }
}
