//! Thales Luna key attestation (PKC bundles).

use super::common::*;

#[test]
fn corpus_luna_pkcs() {
    let Some(c) = corpus() else { return };
    let dir = c.join("thales-luna/luna-pkc-validator-tests");
    // RSA PKC as the admin CLI would read it (DER PKCS#7 file).
    let ev = Evidence::from_file_bytes(&read(&dir.join("rsa-pkc.p7b"))).unwrap();
    assert_eq!(ev.format, Format::ThalesLuna);
    let csr = load_csr(&dir.join("rsa-test.csr"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("521174"));
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
    assert!(!facts
        .quirks
        .iter()
        .any(|q| q == "luna-non-der-ecdsa-signature"));
    assert_eq!(facts.chain_subjects.len(), 5, "{:?}", facts.chain_subjects);
    // ECC PKC: the leaf's non-DER ECDSA signature is tolerated and recorded.
    let ev = Evidence::from_file_bytes(&read(&dir.join("ecc-pkc.p7b"))).unwrap();
    let csr = load_csr(&dir.join("ecc-test.csr"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("521174"));
    assert!(
        facts
            .quirks
            .iter()
            .any(|q| q == "luna-non-der-ecdsa-signature"),
        "{:?}",
        facts.quirks
    );
    // The RSA PKC does not attest the ECC CSR's key.
    let ev = Evidence::from_file_bytes(&read(&dir.join("rsa-pkc.p7b"))).unwrap();
    assert!(matches!(
        decide(&AttestationPolicy::default(), &csr, Some(&ev)),
        Err(AttestationRefusal::KeyMismatch { .. })
    ));
}
