//! Degenerate certs-only PKCS#7 / CMS SignedData (RFC 5652 section 5; RFC 2315
//! "degenerate case"), byte-identical to `openssl crl2pkcs7 -nocrl -certfile`:
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData,
//!   content [0] EXPLICIT SignedData ::= SEQUENCE {
//!     version 1, digestAlgorithms SET {} (empty),
//!     encapContentInfo SEQUENCE { id-data } (no content),
//!     certificates [0] IMPLICIT SET OF Certificate -- in the given order, as openssl does
//!     signerInfos SET {} (empty) } }
//! ```
//!
//! The certificates are copied verbatim in the order given (leaf first for a
//! chain); openssl keeps the file order instead of sorting the SET OF.

/// id-signedData 1.2.840.113549.1.7.2
const OID_SIGNED_DATA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
];
/// id-data 1.2.840.113549.1.7.1
const OID_DATA: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
];

/// Appends a DER TLV (definite length) to `out`.
fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
    out.extend_from_slice(content);
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut v, tag, content);
    v
}

/// A certs-only SignedData (DER) holding `certs` (each a DER certificate) in order.
pub fn certs_only_der(certs: &[&[u8]]) -> Vec<u8> {
    let certs_len: usize = certs.iter().map(|c| c.len()).sum();
    let mut cert_set = Vec::with_capacity(certs_len);
    for c in certs {
        cert_set.extend_from_slice(c);
    }
    let mut signed_data = Vec::with_capacity(certs_len + 40);
    push_tlv(&mut signed_data, 0x02, &[0x01]); // version 1
    push_tlv(&mut signed_data, 0x31, &[]); // digestAlgorithms
    push_tlv(&mut signed_data, 0x30, &OID_DATA); // encapContentInfo
    push_tlv(&mut signed_data, 0xa0, &cert_set); // certificates [0] IMPLICIT
    push_tlv(&mut signed_data, 0x31, &[]); // signerInfos
    let signed_data = tlv(0x30, &signed_data);
    let mut content_info = Vec::with_capacity(signed_data.len() + 20);
    content_info.extend_from_slice(&OID_SIGNED_DATA);
    push_tlv(&mut content_info, 0xa0, &signed_data);
    tlv(0x30, &content_info)
}

/// The same structure as PEM with the `PKCS7` label (what `openssl crl2pkcs7` prints).
pub fn certs_only_pem(certs: &[&[u8]]) -> String {
    pem::encode_config(
        &pem::Pem::new("PKCS7", certs_only_der(certs)),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::cert::CertificateChoices;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::{Decode, Encode};

    fn run_openssl(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl binary is missing: run scripts/install-test-deps");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn self_signed(cn: &str, alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut p = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, cn.to_string());
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn pkcs7_matches_openssl_crl2pkcs7_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        // Different sizes and an order that is not sorted, to catch sorting.
        let certs = [
            self_signed("zzz-leaf", &rcgen::PKCS_ECDSA_P384_SHA384),
            self_signed("aaa-ca", &rcgen::PKCS_ECDSA_P256_SHA256),
            self_signed("mmm-root", &rcgen::PKCS_ECDSA_P256_SHA256),
        ];
        for n in 1..=certs.len() {
            let pem: String = certs[..n].iter().map(|c| crate::ca::pem_cert(c)).collect();
            std::fs::write(dir.path().join("chain.pem"), pem).unwrap();
            run_openssl(
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
            let refs: Vec<&[u8]> = certs[..n].iter().map(|c| c.as_slice()).collect();
            let ours = certs_only_der(&refs);
            assert_eq!(hex::encode(&ours), hex::encode(&golden), "{n} certificates");

            // PEM form: openssl reads it back to the same DER.
            std::fs::write(dir.path().join("ours.pem"), certs_only_pem(&refs)).unwrap();
            run_openssl(
                dir.path(),
                &[
                    "pkcs7", "-in", "ours.pem", "-outform", "DER", "-out", "back.der",
                ],
            );
            assert_eq!(std::fs::read(dir.path().join("back.der")).unwrap(), golden);
        }
    }

    #[test]
    fn pkcs7_decodes_with_the_cms_crate_in_order() {
        let a = self_signed("first", &rcgen::PKCS_ECDSA_P256_SHA256);
        let b = self_signed("second", &rcgen::PKCS_ECDSA_P256_SHA256);
        let der = certs_only_der(&[&a, &b]);
        let ci = ContentInfo::from_der(&der).unwrap();
        assert_eq!(ci.content_type.to_string(), "1.2.840.113549.1.7.2");
        let sd: SignedData = ci.content.decode_as().unwrap();
        assert!(sd.signer_infos.0.is_empty());
        assert!(sd.digest_algorithms.is_empty());
        let certs: Vec<Vec<u8>> = sd
            .certificates
            .unwrap()
            .0
            .iter()
            .map(|c| match c {
                CertificateChoices::Certificate(c) => c.to_der().unwrap(),
                _ => panic!("unexpected certificate choice"),
            })
            .collect();
        // The cms crate re-sorts a SET OF on decode; both must be there.
        assert_eq!(certs.len(), 2);
        assert!(certs.contains(&a) && certs.contains(&b));
    }

    #[test]
    fn pkcs7_long_lengths_are_encoded_minimally() {
        let big = vec![0x30u8; 70_000];
        let der = certs_only_der(&[&big]);
        assert_eq!(&der[..2], &[0x30, 0x83]);
        let empty = certs_only_der(&[]);
        assert_eq!(
            hex::encode(empty),
            "302506092a864886f70d010702a01830160201013100300b06092a864886f70d010701a0003100"
        );
    }
}
