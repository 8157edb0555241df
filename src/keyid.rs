//! RFC 7638 thumbprints of public keys, from a JWK (ACME account keys) or a
//! DER SubjectPublicKeyInfo (CSR and certificate keys), so one key has one
//! thumbprint whichever way it arrives. The account-key index
//! (`storage::acme`) is keyed by it; the RA looks a CSR's key up there
//! (RFC 8555 §11.1), and revocation by the certificate key matches with it.

use aws_lc_rs::digest;
use base64::Engine;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: its
/// required members only, in lexicographic order, without whitespace (§3).
/// Members are taken as they are: [`canonical_jwk_problem`] says whether
/// they are in the one encoding RFC 7518 allows.
pub fn jwk_thumbprint(jwk: &Value) -> String {
    let s = |n: &str| Value::String(jwk.get(n).and_then(Value::as_str).unwrap_or("").into());
    let canonical = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        Some("RSA") => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s("e"), s("n")),
        _ => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, s("crv"), s("x")),
    };
    B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

/// Why a public JWK's members are not in the single encoding RFC 7518
/// prescribes (RSA `n`/`e` without leading zero octets, §6.3.1; EC
/// coordinates of the full field size, §6.2.1; an Ed25519 `x` of 32
/// octets, RFC 8037), if they are not. Only then do a key's JWK and SPKI
/// thumbprints agree.
pub fn canonical_jwk_problem(jwk: &Value) -> Option<String> {
    let bytes = |n: &str| {
        jwk.get(n)
            .and_then(Value::as_str)
            .and_then(|v| B64.decode(v).ok())
            .unwrap_or_default()
    };
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or("");
    match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => ["n", "e"].into_iter().find_map(|m| match bytes(m).first() {
            None => Some(format!("the RSA JWK member {m} is empty")),
            Some(0) => Some(format!(
                "the RSA JWK member {m} has leading zero octets (RFC 7518 §6.3.1)"
            )),
            Some(_) => None,
        }),
        Some("EC") => {
            let len = if crv == "P-384" { 48 } else { 32 };
            ["x", "y"].into_iter().find_map(|m| {
                let got = bytes(m).len();
                (got != len).then(|| {
                    format!(
                        "the {crv} JWK coordinate {m} has {got} octets, not {len} (RFC 7518 §6.2.1)"
                    )
                })
            })
        }
        Some("OKP") => {
            let got = bytes("x").len();
            (got != 32).then(|| format!("the Ed25519 JWK member x has {got} octets, not 32"))
        }
        _ => None,
    }
}

/// The RFC 7638 thumbprint of the public key in a DER SubjectPublicKeyInfo:
/// RSA, EC P-256/P-384 (uncompressed points) and Ed25519; `None` for any
/// other key or encoding.
pub fn spki_thumbprint(spki_der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    let alg = spki.algorithm.algorithm.to_id_string();
    let minimal = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
    let jwk = match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => json!({"kty": "RSA", "n": B64.encode(minimal(rsa.modulus)),
                                      "e": B64.encode(minimal(rsa.exponent))}),
        PublicKey::EC(point) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())?;
            let (crv, len) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256", 32),
                "1.3.132.0.34" => ("P-384", 48),
                "1.3.132.0.35" => ("P-521", 66),
                _ => return None,
            };
            let data = point.data();
            if data.len() != 1 + 2 * len || data[0] != 4 {
                return None;
            }
            json!({"kty": "EC", "crv": crv, "x": B64.encode(&data[1..=len]),
                   "y": B64.encode(&data[1 + len..])})
        }
        _ if alg == "1.3.101.112" => {
            json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(&spki.subject_public_key.data)})
        }
        _ => return None,
    };
    Some(jwk_thumbprint(&jwk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_spki_and_jwk_agree() {
        use rcgen::PublicKeyData;
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
        ] {
            let kp = rcgen::KeyPair::generate_for(alg).unwrap();
            let raw = kp.public_key_raw();
            let len = (raw.len() - 1) / 2;
            let crv = if len == 32 { "P-256" } else { "P-384" };
            let jwk = json!({"kty": "EC", "crv": crv, "x": B64.encode(&raw[1..=len]),
                             "y": B64.encode(&raw[1 + len..])});
            assert_eq!(canonical_jwk_problem(&jwk), None);
            assert_eq!(
                spki_thumbprint(&kp.subject_public_key_info()),
                Some(jwk_thumbprint(&jwk))
            );
        }
    }

    #[test]
    fn rsa_spki_and_jwk_agree_and_padded_members_are_named() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let spki = kp.public_key().as_der().unwrap();
        let public = kp.public_key();
        let n = public.modulus().big_endian_without_leading_zero();
        let e = public.exponent().big_endian_without_leading_zero();
        let jwk = json!({"kty": "RSA", "n": B64.encode(n), "e": B64.encode(e)});
        assert_eq!(canonical_jwk_problem(&jwk), None);
        assert_eq!(spki_thumbprint(spki.as_ref()), Some(jwk_thumbprint(&jwk)));
        let mut padded = vec![0u8];
        padded.extend_from_slice(n);
        let jwk = json!({"kty": "RSA", "n": B64.encode(padded), "e": B64.encode(e)});
        assert!(canonical_jwk_problem(&jwk)
            .unwrap()
            .contains("leading zero"));
    }

    #[test]
    fn short_coordinates_are_named() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": B64.encode([1u8; 31]),
                         "y": B64.encode([1u8; 32])});
        assert!(canonical_jwk_problem(&jwk).unwrap().contains("31 octets"));
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode([1u8; 33])});
        assert!(canonical_jwk_problem(&jwk).is_some());
    }
}
