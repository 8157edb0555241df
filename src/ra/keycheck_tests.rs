//! The weak-key tests against badkeys' own vectors (protocol-tests/vectors/weak-keys).

use super::*;

fn vector(name: &str) -> String {
    let path = format!(
        "{}/protocol-tests/vectors/weak-keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The SubjectPublicKeyInfo of a PEM key (PKCS#1 `RSA PUBLIC KEY` wrapped
/// as rsaEncryption), certificate request or SPKI `PUBLIC KEY`.
fn spki_of(name: &str) -> Vec<u8> {
    let text = vector(name);
    let start = text.find("-----BEGIN").expect("a PEM block");
    let block = pem::parse(&text[start..]).expect("PEM");
    match block.tag() {
        "PUBLIC KEY" => block.contents().to_vec(),
        "CERTIFICATE REQUEST" => {
            crate::csr::Csr::parse(&text.as_bytes()[start..])
                .expect("the vector's CSR verifies")
                .spki_der
        }
        "RSA PUBLIC KEY" => {
            let mut bits = vec![0u8];
            bits.extend_from_slice(block.contents());
            let alg = der_tlv(
                0x30,
                &[
                    &der_tlv(
                        0x06,
                        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                    )[..],
                    &[0x05, 0x00],
                ]
                .concat(),
            );
            der_tlv(0x30, &[alg, der_tlv(0x03, &bits)].concat())
        }
        other => panic!("{name}: unexpected PEM block {other}"),
    }
}

fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn badkeys_good_key_passes() {
    assert_eq!(check_spki(&spki_of("badkeys/rsa-ok.key")), Ok(()));
}

#[test]
fn badkeys_roca_key_is_refused_as_roca() {
    assert_eq!(
        check_spki(&spki_of("badkeys/rsa-roca.key")),
        Err(Weakness::Roca)
    );
}

#[test]
fn badkeys_fermat_keys_are_refused() {
    assert_eq!(
        check_spki(&spki_of("badkeys/rsa-fermat.csr")),
        Err(Weakness::Fermat)
    );
    assert_eq!(
        check_spki(&spki_of("badkeys/rsa-fermat-pkcs8.key")),
        Err(Weakness::Fermat)
    );
    // badkeys: "square modulus, detectable by Fermat"
    assert_eq!(
        check_spki(&spki_of("badkeys/rsa-fermat-pkcs1.key")),
        Err(Weakness::Square)
    );
}

#[test]
fn badkeys_small_factor_keys_are_refused() {
    for name in [
        "badkeys/rsa-smallfactors-valid.key",
        "badkeys/rsa-smallfactors-corrupt.key",
    ] {
        assert!(
            matches!(check_spki(&spki_of(name)), Err(Weakness::SmallFactor(_))),
            "{name}"
        );
    }
}

#[test]
fn badkeys_exponent_one_is_refused() {
    let r = check_spki(&spki_of("badkeys/rsa-e1.key"));
    assert!(matches!(r, Err(Weakness::Exponent(_))), "{r:?}");
}

#[test]
fn signet_rsa3072_vectors_each_refused_for_their_weakness() {
    for (name, want) in [
        ("rsa3072-fermat.csr", Some(Weakness::Fermat)),
        (
            "rsa3072-smallfactor-751.csr",
            Some(Weakness::SmallFactor(751)),
        ),
        ("rsa3072-roca.csr", Some(Weakness::Roca)),
        ("rsa3072-good.csr", None),
    ] {
        let r = check_spki(&spki_of(name));
        match want {
            Some(w) => assert_eq!(r, Err(w), "{name}"),
            None => assert_eq!(r, Ok(()), "{name}"),
        }
    }
    let r = check_spki(&spki_of("rsa3072-e3.csr"));
    assert!(matches!(r, Err(Weakness::Exponent(_))), "{r:?}");
}

#[test]
fn exponent_rules() {
    let n = BigUint::parse_bytes(b"c5a1", 16).unwrap().to_bytes_be();
    let e = |v: u64| v.to_be_bytes().to_vec();
    for bad in [1u64, 3, 17, 65_535, 65_538] {
        assert!(
            matches!(check_rsa(&n, &e(bad)), Err(Weakness::Exponent(_))),
            "{bad}"
        );
    }
    let huge = [vec![1u8], vec![0u8; 32]].concat(); // 2^256
    assert!(matches!(
        check_exponent(&BigUint::from_bytes_be(&huge)),
        Err(Weakness::Exponent(_))
    ));
    assert_eq!(check_exponent(&BigUint::from(65_537u32)), Ok(()));
}

#[test]
fn small_factor_names_the_smallest_prime() {
    let q = BigUint::parse_bytes(b"ffffffffffffffffffffffffffffff61", 16).unwrap(); // 2^128-159, prime
    let n = &q * 65_537u32 * 65_537u32;
    assert_eq!(small_factor(&n), Some(65_537));
    assert_eq!(small_factor(&(&q * 3u32)), Some(3));
    assert_eq!(small_factor(&(&q * &q)), None);
}

#[test]
fn roca_tables_have_the_published_constants() {
    let t = roca_tables();
    assert_eq!(t.modulus.bits(), 220);
    // M is the product of the primes up to 167; the order splits into the
    // 13 prime powers.
    let primorial = small_primes()
        .0
        .iter()
        .take_while(|p| **p <= 167)
        .fold(BigUint::one(), |acc, p| acc * *p);
    assert_eq!(t.modulus, primorial);
    let order: u64 = [16u64, 81, 25, 7, 11, 13, 17, 23, 29, 37, 41, 53, 83]
        .iter()
        .product();
    assert_eq!(t.order, BigUint::from(order));
    assert!(BigUint::from(65_537u32)
        .modpow(&t.order, &t.modulus)
        .is_one());
}

/// The cost of the whole check on a sound RSA-3072 key (printed, never
/// asserted): `cargo test --lib ra::keycheck::tests::cost -- --nocapture`.
#[test]
fn cost_per_key_is_printed() {
    let spki = spki_of("rsa3072-good.csr");
    check_spki(&spki).unwrap(); // tables built once
    let rounds = if cfg!(debug_assertions) { 20 } else { 200 };
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        check_spki(&spki).unwrap();
    }
    let per_key = start.elapsed() / rounds;
    println!("weak-key check of an RSA-3072 key: {per_key:?} per key");
}
