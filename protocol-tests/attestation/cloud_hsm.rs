//! Google Cloud HSM attestation blobs: the corpus and generated blobs.

use super::common::*;

#[test]
fn corpus_cloud_hsm_attestations() {
    let Some(c) = corpus() else { return };
    let g = c.join("google-cloud-hsm");
    for (sub, blob, certs, serial, key) in [
        (
            "smallstep-crypto-ec",
            "ec.dat",
            "ec.certs",
            "5.2G1804-ICM000678",
            "ECDSA P-256",
        ),
        (
            "smallstep-crypto-rsa",
            "rsa.dat",
            "rsa.certs",
            "5.3G2041-ICM002696",
            "RSA-2048",
        ),
        (
            "peculiar-attestation-validator-spec",
            "attestation.dat",
            "certs.pem",
            "5.3G1953-ICM001225",
            "ECDSA P-256",
        ),
    ] {
        let dir = g.join(sub);
        let facts = verify_ok(&cloud_evidence(&dir, blob, certs));
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join("attested-pubkey.DERIVED.pem")),
            "{sub}"
        );
        assert_eq!(facts.device_serial.as_deref(), Some(serial), "{sub}");
        assert_eq!(facts.attested_key, key, "{sub}");
        assert_eq!(facts.key_origin, KeyOrigin::Generated, "{sub}");
        assert_eq!(facts.extractable, Some(false), "{sub}");
        assert_eq!(facts.never_extractable, Some(true), "{sub}");
        assert_eq!(facts.fips, Some(true), "{sub}");
        assert!(
            facts
                .quirks
                .iter()
                .any(|q| q == "marvell-v1-card-certificate"),
            "{sub}"
        );
        assert_eq!(
            facts.trust_anchor_sha256.len(),
            2,
            "manufacturer and owner anchors"
        );
    }
    // A symmetric key has no public key to certify.
    let dir = g.join("smallstep-crypto-aes");
    assert_eq!(
        verify_err(&cloud_evidence(&dir, "aes.dat", "aes.certs")).code(),
        "no-public-key"
    );
    // The blob of one HSM with the certificates of another.
    let ec = g.join("smallstep-crypto-ec");
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.blob = Some(read(&g.join("smallstep-crypto-rsa/rsa.dat")));
    assert_eq!(verify_err(&ev).code(), "signature");
    // The imported-key blob published without certificates: parses, says
    // CKA_LOCAL = 0, and cannot be verified against any chain.
    let raw = read(&g.join("peculiar-attestation-parser-spec/rsa-attestation.dat"));
    let blob = attestation::cloud_hsm::parse_blob(&raw, 256).unwrap();
    let key = blob
        .objects
        .iter()
        .find(|o| o.attr(attestation::cloud_hsm::ATTR_CLASS) == Some(&[3][..]))
        .unwrap();
    assert_eq!(
        key.attr(attestation::cloud_hsm::ATTR_LOCAL),
        Some(&[0u8][..])
    );
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.blob = Some(raw);
    assert_eq!(verify_err(&ev).code(), "signature");
    // Missing owner chain: only the manufacturer certificates.
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.certificates = pem_certs(&ec.join("split/1-mfr-card-cert.pem"))
        .into_iter()
        .chain(pem_certs(&ec.join("split/2-mfr-partition-cert.pem")))
        .collect();
    assert_eq!(verify_err(&ev).code(), "missing");
    // Only the expired 2015 Cavium root pinned: refused (its re-issue is the anchor).
    let mut old = TrustStore::empty();
    old.add_pem(
        signet::va::attestation::TrustFamily::GoogleCloudHsmManufacturer,
        &read(&ec.join("split/0-mfr-root-cavium-2015.pem")),
        "2015",
    )
    .unwrap();
    old.add_pem(
        signet::va::attestation::TrustFamily::GoogleCloudHsmOwner,
        &read(&g.join("roots/google-hawksbill-root-v1-prod.pem")),
        "owner",
    )
    .unwrap();
    match attestation::verify(&cloud_evidence(&ec, "ec.dat", "ec.certs"), &old, NOW) {
        Err(AttestationError::Untrusted { reason, .. }) => {
            assert!(reason.contains("not valid"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// One attestation-data object: handle, attribute count, attribute bytes, attributes.
fn blob_object(handle: u32, attrs: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in attrs {
        body.extend(t.to_be_bytes());
        body.extend((v.len() as u32).to_be_bytes());
        body.extend(v);
    }
    let mut out = Vec::new();
    out.extend(handle.to_be_bytes());
    out.extend((attrs.len() as u32).to_be_bytes());
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

/// A Cavium-V2-shaped attestation blob for an EC key pair, signed with `sign`.
fn build_blob(point: &[u8], local: bool, sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let common = |class: u8, extractable: u8, never: u8| {
        vec![
            (0x0000, vec![class]),
            (0x0100, vec![3]),
            (0x0003, b"app_key\0\0\0".to_vec()),
            (0x0120, point.to_vec()),
            (0x0162, vec![extractable]),
            (0x0163, vec![local as u8]),
            (0x0164, vec![never]),
        ]
    };
    let public = blob_object(0x0a1c, &common(2, 1, 0));
    let private = blob_object(0x0a1d, &common(3, 0, 1));
    let header_len = 16 + 2 * 8;
    let data_len = header_len + 8 + public.len() + private.len();
    let total = data_len + 256;
    let mut data = Vec::new();
    data.extend(0u32.to_be_bytes());
    data.extend(3u32.to_be_bytes());
    data.extend((total as u32).to_be_bytes());
    data.extend(((total - header_len - 256) as u32).to_be_bytes());
    data.extend(0x0a1cu64.to_be_bytes());
    data.extend(0x0a1du64.to_be_bytes());
    data.extend(1u16.to_be_bytes());
    data.extend(3u16.to_be_bytes());
    data.extend(8u16.to_be_bytes());
    data.extend(((8 + public.len()) as u16).to_be_bytes());
    data.extend(&public);
    data.extend(&private);
    assert_eq!(data.len(), data_len);
    let sig = sign(&data);
    assert_eq!(sig.len(), 256);
    data.extend(sig);
    data
}

struct CloudPki {
    mfr_root: gen::Node,
    owner_root: gen::Node,
    certs: Vec<Vec<u8>>,
    partition_key: aws_lc_rs::rsa::KeyPair,
}

fn cloud_pki() -> CloudPki {
    use aws_lc_rs::encoding::AsDer;
    let partition_key =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = partition_key.as_der().unwrap();
    let rc_key = || rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let card_key = rcgen::KeyPair::generate().unwrap();
    let card_pkcs8 = card_key.serialize_der();
    let mfr_root = gen::root(Spec::ca("localca.liquidsecurity.test", None));
    let owner_root = gen::root(Spec::ca("Test Owner Root", None));
    let mfr_card = gen::issue(
        &mfr_root,
        Spec::ca("HSM:TEST-ICM000001, for FIPS mode", None).with_key(card_key),
    );
    let mfr_part = gen::issue(
        &mfr_card,
        Spec::leaf("HSM:TEST-ICM000001:PARTN:1, for FIPS mode").with_key(rc_key()),
    );
    let owner_card = gen::issue(
        &owner_root,
        Spec::leaf("HSM:TEST-ICM000001, for FIPS mode")
            .with_key(rcgen::KeyPair::try_from(card_pkcs8.as_slice()).unwrap()),
    );
    let owner_part = gen::issue(
        &owner_root,
        Spec::leaf("HSM:TEST-ICM000001:PARTN:1, for FIPS mode").with_key(rc_key()),
    );
    CloudPki {
        certs: vec![
            mfr_card.der.clone(),
            mfr_part.der.clone(),
            owner_card.der.clone(),
            owner_part.der.clone(),
        ],
        mfr_root,
        owner_root,
        partition_key,
    }
}

#[test]
fn generated_cloud_hsm_blobs_and_imported_keys() {
    let pki = cloud_pki();
    let mut store = TrustStore::empty();
    store
        .add_pem(
            TrustFamily::GoogleCloudHsmManufacturer,
            pki.mfr_root.pem().as_bytes(),
            "mfr",
        )
        .unwrap();
    store
        .add_pem(
            TrustFamily::GoogleCloudHsmOwner,
            pki.owner_root.pem().as_bytes(),
            "owner",
        )
        .unwrap();
    let sign = |data: &[u8]| {
        let mut sig = vec![0u8; pki.partition_key.public_modulus_len()];
        pki.partition_key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                data,
                &mut sig,
            )
            .unwrap();
        sig
    };
    let attested = rcgen::KeyPair::generate().unwrap();
    let point = attested.public_key_raw().to_vec();
    let csr_spki = pem::parse(attested.public_key_pem())
        .unwrap()
        .into_contents();
    let ev = |blob: Vec<u8>| Evidence {
        format: Format::GoogleCloudHsm,
        certificates: pki.certs.clone(),
        blob: Some(blob),
    };
    // Generated in the HSM, gzip-compressed like Cloud KMS delivers it.
    let raw = build_blob(&point, true, sign);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let gz = gz.finish().unwrap();
    for blob in [raw.clone(), gz] {
        let e = ev(blob);
        let facts = signet::ra::attestation::decide(
            &AttestationPolicy::default(),
            &csr_spki,
            Some(&e),
            &store,
            NOW,
        )
        .unwrap()
        .unwrap();
        assert_eq!(facts.attested_spki_der, csr_spki);
        assert_eq!(facts.device_serial.as_deref(), Some("TEST-ICM000001"));
        assert_eq!(facts.key_label.as_deref(), Some("app_key"));
        assert_eq!(facts.key_id.as_deref(), Some("0xa1d"));
        assert!(!facts
            .quirks
            .iter()
            .any(|q| q == "marvell-v1-card-certificate"));
    }
    // Imported key: verified, refused by policy (and accepted when allowed).
    let imported = ev(build_blob(&point, false, sign));
    let facts = attestation::verify(&imported, &store, NOW).unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Imported);
    let r = signet::ra::attestation::decide(
        &AttestationPolicy::default(),
        &csr_spki,
        Some(&imported),
        &store,
        NOW,
    );
    assert!(
        matches!(r, Err(AttestationRefusal::NotGeneratedOnDevice { ref origin }) if origin == "imported"),
        "{r:?}"
    );
    let lax = AttestationPolicy {
        allow_imported_keys: true,
        ..Default::default()
    };
    assert!(signet::ra::attestation::decide(&lax, &csr_spki, Some(&imported), &store, NOW).is_ok());
    // Tampered data.
    let mut tampered = raw.clone();
    let pos = tampered.len() - 300;
    tampered[pos] ^= 1;
    assert_eq!(
        attestation::verify(&ev(tampered), &store, NOW)
            .unwrap_err()
            .code(),
        "signature"
    );
    // Truncated / inconsistent blobs are malformed, never a panic.
    for cut in [0usize, 10, 40, 200, raw.len() - 1] {
        let e = attestation::verify(&ev(raw[..cut].to_vec()), &store, NOW).unwrap_err();
        assert!(
            matches!(e.code(), "malformed" | "signature"),
            "cut {cut}: {e}"
        );
    }
    // Without the owner chain, or with the roots swapped, it is refused.
    let mut no_owner = ev(raw.clone());
    no_owner.certificates.truncate(2);
    assert_eq!(
        attestation::verify(&no_owner, &store, NOW)
            .unwrap_err()
            .code(),
        "missing"
    );
    let mut swapped = TrustStore::empty();
    swapped
        .add_pem(
            TrustFamily::GoogleCloudHsmManufacturer,
            pki.owner_root.pem().as_bytes(),
            "x",
        )
        .unwrap();
    swapped
        .add_pem(
            TrustFamily::GoogleCloudHsmOwner,
            pki.mfr_root.pem().as_bytes(),
            "y",
        )
        .unwrap();
    assert!(attestation::verify(&ev(raw), &swapped, NOW).is_err());
}
