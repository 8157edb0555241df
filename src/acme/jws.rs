//! JWS for ACME (RFC 8555 §6.2, RFC 7515 flattened JSON serialization).
//!
//! Parsing is strict: exactly the members `protected`, `payload` and
//! `signature` (no unprotected `header`, no `signatures` array), an allowed
//! `alg`, and the signature verified with josekit against the key the
//! request names. JWK thumbprints follow RFC 7638.

use aws_lc_rs::hmac;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::problem::{Problem, ProblemType};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signature algorithms accepted for account keys.
pub const ALGORITHMS: [&str; 5] = ["ES256", "ES384", "RS256", "PS256", "EdDSA"];

/// MAC algorithms accepted for external account binding.
pub const EAB_ALGORITHMS: [&str; 3] = ["HS256", "HS384", "HS512"];

/// Decodes base64url without padding, strictly.
pub fn b64_decode(field: &str, s: &str) -> Result<Vec<u8>, Problem> {
    if s.contains('=') {
        return Err(Problem::malformed(format!(
            "{field} must be base64url without padding"
        )));
    }
    B64.decode(s)
        .map_err(|_| Problem::malformed(format!("{field} is not valid base64url")))
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// The protected header members ACME uses.
#[derive(Debug, Clone)]
pub struct Protected {
    pub alg: String,
    pub nonce: Option<String>,
    pub url: Option<String>,
    pub jwk: Option<Value>,
    pub kid: Option<String>,
    pub raw: Map<String, Value>,
}

/// A parsed (not yet verified) flattened JWS.
#[derive(Debug, Clone)]
pub struct Flattened {
    pub protected_b64: String,
    pub payload_b64: String,
    pub signature: Vec<u8>,
    pub header: Protected,
    /// The decoded payload (empty for POST-as-GET).
    pub payload: Vec<u8>,
}

impl Flattened {
    /// Parses a flattened JWS from a JSON value.
    pub fn from_value(v: &Value) -> Result<Flattened, Problem> {
        let obj = v.as_object().ok_or_else(|| {
            Problem::malformed("the request body must be a JSON object (flattened JWS)")
        })?;
        if obj.contains_key("signatures") {
            return Err(Problem::malformed(
                "general JWS serialization is not accepted; send a flattened JWS",
            ));
        }
        if obj.contains_key("header") {
            return Err(Problem::malformed(
                "the JWS must not have an unprotected header",
            ));
        }
        for k in obj.keys() {
            if !["protected", "payload", "signature"].contains(&k.as_str()) {
                return Err(Problem::malformed(format!("unexpected JWS member {k:?}")));
            }
        }
        let get = |name: &str| -> Result<&str, Problem> {
            obj.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| Problem::malformed(format!("the JWS has no string member {name:?}")))
        };
        let protected_b64 = get("protected")?.to_string();
        let payload_b64 = get("payload")?.to_string();
        let signature = b64_decode("signature", get("signature")?)?;
        let header_bytes = b64_decode("protected", &protected_b64)?;
        let raw: Map<String, Value> = serde_json::from_slice(&header_bytes)
            .map_err(|_| Problem::malformed("the protected header is not a JSON object"))?;
        let payload = b64_decode("payload", &payload_b64)?;
        let alg = match raw.get("alg") {
            Some(Value::String(a)) => a.clone(),
            _ => return Err(Problem::malformed("the protected header has no alg")),
        };
        let opt_str = |name: &str| -> Result<Option<String>, Problem> {
            match raw.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(Problem::malformed(format!(
                    "header {name} must be a string"
                ))),
            }
        };
        let header = Protected {
            nonce: opt_str("nonce")?,
            url: opt_str("url")?,
            kid: opt_str("kid")?,
            jwk: match raw.get("jwk") {
                None => None,
                Some(v @ Value::Object(_)) => Some(v.clone()),
                Some(_) => return Err(Problem::malformed("header jwk must be an object")),
            },
            alg,
            raw,
        };
        if let Some(Value::Array(crit)) = header.raw.get("crit") {
            if !crit.is_empty() {
                return Err(Problem::malformed(
                    "no critical header extensions are supported",
                ));
            }
        }
        Ok(Flattened {
            protected_b64,
            payload_b64,
            signature,
            header,
            payload,
        })
    }

    pub fn parse(body: &[u8]) -> Result<Flattened, Problem> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Problem::malformed(format!("the request body is not JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// The signing input `protected.payload`.
    pub fn signing_input(&self) -> Vec<u8> {
        format!("{}.{}", self.protected_b64, self.payload_b64).into_bytes()
    }

    /// The payload as JSON (`{}` members); an empty payload is POST-as-GET.
    pub fn payload_json(&self) -> Result<Value, Problem> {
        serde_json::from_slice(&self.payload)
            .map_err(|_| Problem::malformed("the JWS payload is not JSON"))
    }

    pub fn is_post_as_get(&self) -> bool {
        self.payload_b64.is_empty()
    }

    /// Checks that the alg is one accepted for account keys.
    pub fn check_account_alg(&self) -> Result<(), Problem> {
        if ALGORITHMS.contains(&self.header.alg.as_str()) {
            return Ok(());
        }
        let mut p = Problem::new(
            ProblemType::BadSignatureAlgorithm,
            format!(
                "JWS algorithm {:?} is not accepted; use one of {}",
                self.header.alg,
                ALGORITHMS.join(", ")
            ),
        );
        p.algorithms = Some(ALGORITHMS.iter().map(|s| s.to_string()).collect());
        Err(p)
    }

    /// Verifies the signature with `jwk` (an account key).
    pub fn verify(&self, jwk: &Value) -> Result<(), Problem> {
        self.check_account_alg()?;
        // Hot path (every ACME POST): ECDSA straight with aws-lc-rs, without
        // building an OpenSSL key from the JWK each time (that was ~17% of
        // the server's CPU under load, see docs/performance-log.md).
        if let Some(result) = self.verify_ec_fast(jwk) {
            return result;
        }
        let verifier = verifier(&self.header.alg, jwk)?;
        verifier
            .verify(&self.signing_input(), &self.signature)
            .map_err(|_| Problem::malformed("JWS signature verification failed"))
    }

    /// ES256/ES384 over an EC JWK of the matching curve with aws-lc-rs:
    /// Some(Ok) when it verifies, None otherwise (the general path decides
    /// and explains).
    fn verify_ec_fast(&self, jwk: &Value) -> Option<Result<(), Problem>> {
        use aws_lc_rs::signature::{
            UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED,
        };
        let obj = jwk.as_object()?;
        let (alg, len, crv) = match self.header.alg.as_str() {
            "ES256" => (&ECDSA_P256_SHA256_FIXED, 32, "P-256"),
            "ES384" => (&ECDSA_P384_SHA384_FIXED, 48, "P-384"),
            _ => return None,
        };
        if obj.get("kty")?.as_str()? != "EC" || obj.get("crv")?.as_str()? != crv {
            return None;
        }
        let coord = |name: &str| {
            B64.decode(obj.get(name)?.as_str()?)
                .ok()
                .filter(|v| v.len() == len)
        };
        let (x, y) = (coord("x")?, coord("y")?);
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(4);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        // A failure takes the general path, which explains it (bad key or bad signature).
        UnparsedPublicKey::new(alg, &point)
            .verify(&self.signing_input(), &self.signature)
            .ok()
            .map(Ok)
    }

    /// Verifies an HMAC (external account binding) under `key`, in constant time.
    pub fn verify_mac(&self, key: &[u8]) -> Result<(), Problem> {
        let alg = match self.header.alg.as_str() {
            "HS256" => hmac::HMAC_SHA256,
            "HS384" => hmac::HMAC_SHA384,
            "HS512" => hmac::HMAC_SHA512,
            other => {
                return Err(Problem::malformed(format!(
                    "external account binding algorithm {other:?} is not one of {}",
                    EAB_ALGORITHMS.join(", ")
                )))
            }
        };
        let tag = hmac::sign(&hmac::Key::new(alg, key), &self.signing_input());
        let expected = tag.as_ref();
        if expected.len() == self.signature.len()
            && bool::from(expected.ct_eq(self.signature.as_slice()))
        {
            Ok(())
        } else {
            Err(Problem::unauthorized(
                "external account binding MAC does not verify with the invitation's HMAC key",
            ))
        }
    }
}

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, Problem> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::new(ProblemType::BadPublicKey, format!("JWK has no {name}")))
}

/// Checks a JWK is a public key of a supported kind and returns it reduced to
/// its public members (what we store).
pub fn public_jwk(jwk: &Value) -> Result<Value, Problem> {
    let obj = jwk
        .as_object()
        .ok_or_else(|| Problem::malformed("jwk must be a JSON object"))?;
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        if obj.contains_key(private) {
            return Err(Problem::new(
                ProblemType::BadPublicKey,
                "the JWK contains private or symmetric key material",
            ));
        }
    }
    let kty = str_member(obj, "kty")?;
    let mut out = Map::new();
    out.insert("kty".into(), Value::String(kty.to_string()));
    let names: &[&str] = match kty {
        "EC" => {
            let crv = str_member(obj, "crv")?;
            if crv != "P-256" && crv != "P-384" {
                return Err(Problem::new(
                    ProblemType::BadPublicKey,
                    format!("EC curve {crv:?} is not accepted (P-256, P-384)"),
                ));
            }
            &["crv", "x", "y"]
        }
        "RSA" => &["n", "e"],
        "OKP" => {
            if str_member(obj, "crv")? != "Ed25519" {
                return Err(Problem::new(
                    ProblemType::BadPublicKey,
                    "only Ed25519 OKP keys are accepted",
                ));
            }
            &["crv", "x"]
        }
        other => {
            return Err(Problem::new(
                ProblemType::BadPublicKey,
                format!("key type {other:?} is not accepted"),
            ))
        }
    };
    for n in names {
        let v = str_member(obj, n)?;
        if *n != "crv" {
            b64_decode(&format!("jwk.{n}"), v)?;
        }
        out.insert((*n).to_string(), Value::String(v.to_string()));
    }
    if kty == "RSA" {
        let n = b64_decode("jwk.n", str_member(obj, "n")?)?;
        let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < 2048 {
            return Err(Problem::new(
                ProblemType::BadPublicKey,
                format!(
                    "RSA account keys must have at least 2048 bits (this one has about {bits})"
                ),
            ));
        }
    }
    Ok(Value::Object(out))
}

/// A josekit verifier for `alg` and `jwk`, checking the key fits the algorithm.
fn verifier(alg: &str, jwk: &Value) -> Result<Box<dyn JwsVerifier>, Problem> {
    let public = public_jwk(jwk)?;
    let obj = public.as_object().cloned().unwrap_or_default();
    let kty = obj.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = obj.get("crv").and_then(Value::as_str).unwrap_or("");
    let fits = matches!(
        (alg, kty, crv),
        ("ES256", "EC", "P-256")
            | ("ES384", "EC", "P-384")
            | ("RS256", "RSA", _)
            | ("PS256", "RSA", _)
            | ("EdDSA", "OKP", "Ed25519")
    );
    if !fits {
        return Err(Problem::new(
            ProblemType::BadSignatureAlgorithm,
            format!("algorithm {alg} does not fit a {kty} {crv} key"),
        ));
    }
    let key = Jwk::from_map(obj)
        .map_err(|e| Problem::new(ProblemType::BadPublicKey, format!("unusable JWK: {e}")))?;
    let bad = |e: josekit::JoseError| {
        Problem::new(ProblemType::BadPublicKey, format!("unusable JWK: {e}"))
    };
    Ok(match alg {
        "ES256" => Box::new(jws::ES256.verifier_from_jwk(&key).map_err(bad)?),
        "ES384" => Box::new(jws::ES384.verifier_from_jwk(&key).map_err(bad)?),
        "RS256" => Box::new(jws::RS256.verifier_from_jwk(&key).map_err(bad)?),
        "PS256" => Box::new(jws::PS256.verifier_from_jwk(&key).map_err(bad)?),
        "EdDSA" => Box::new(jws::EdDSA.verifier_from_jwk(&key).map_err(bad)?),
        other => {
            return Err(Problem::new(
                ProblemType::BadSignatureAlgorithm,
                format!("algorithm {other:?} is not accepted"),
            ))
        }
    })
}

/// The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK.
pub fn thumbprint(jwk: &Value) -> Result<String, Problem> {
    Ok(crate::keyid::jwk_thumbprint(&public_jwk(jwk)?))
}

/// Refuses a JWK whose members are not in RFC 7518's one encoding (see
/// [`crate::keyid::canonical_jwk_problem`]): a new account key must have the
/// thumbprint its SubjectPublicKeyInfo has, or a CSR for it would not be
/// recognized as an account key (RFC 8555 §11.1).
pub fn require_canonical_jwk(jwk: &Value) -> Result<(), Problem> {
    match crate::keyid::canonical_jwk_problem(&public_jwk(jwk)?) {
        None => Ok(()),
        Some(m) => Err(Problem::new(ProblemType::BadPublicKey, m)),
    }
}

pub use crate::keyid::spki_thumbprint;

#[cfg(test)]
pub(crate) mod testkit {
    //! Signing helpers for tests (a client's side of the JWS).
    use super::*;
    use josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm;
    use josekit::jws::{JwsHeader, JwsSigner};

    pub struct TestKey {
        pub signer: Box<dyn JwsSigner>,
        pub jwk: Value,
        pub alg: &'static str,
    }

    impl TestKey {
        pub fn es256() -> TestKey {
            let kp = EcdsaJwsAlgorithm::Es256.generate_key_pair().unwrap();
            let mut jwk = kp.to_jwk_public_key();
            jwk.set_algorithm("ES256");
            let signer = EcdsaJwsAlgorithm::Es256
                .signer_from_jwk(&kp.to_jwk_private_key())
                .unwrap();
            let jwk_v: Value = serde_json::from_str(&jwk.to_string()).unwrap();
            TestKey {
                signer: Box::new(signer),
                jwk: jwk_v,
                alg: "ES256",
            }
        }

        /// A flattened JWS over `payload` (None: POST-as-GET) with the given header.
        pub fn sign(&self, header: Value, payload: Option<&Value>) -> Value {
            let protected = b64(header.to_string().as_bytes());
            let payload_b64 = payload
                .map(|p| b64(p.to_string().as_bytes()))
                .unwrap_or_default();
            let sig = self
                .signer
                .sign(format!("{protected}.{payload_b64}").as_bytes())
                .unwrap();
            serde_json::json!({"protected": protected, "payload": payload_b64, "signature": b64(&sig)})
        }

        pub fn header_jwk(&self, url: &str, nonce: &str) -> Value {
            serde_json::json!({"alg": self.alg, "jwk": self.jwk, "url": url, "nonce": nonce})
        }

        pub fn header_kid(&self, kid: &str, url: &str, nonce: &str) -> Value {
            serde_json::json!({"alg": self.alg, "kid": kid, "url": url, "nonce": nonce})
        }
    }

    /// An EAB JWS (HS256) over `account_jwk`.
    pub fn eab(kid: &str, hmac_key: &[u8], url: &str, account_jwk: &Value, alg: &str) -> Value {
        let header = serde_json::json!({"alg": alg, "kid": kid, "url": url});
        let protected = b64(header.to_string().as_bytes());
        let payload = b64(account_jwk.to_string().as_bytes());
        let halg = match alg {
            "HS384" => hmac::HMAC_SHA384,
            "HS512" => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        let tag = hmac::sign(
            &hmac::Key::new(halg, hmac_key),
            format!("{protected}.{payload}").as_bytes(),
        );
        serde_json::json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
    }

    pub fn _unused(_: JwsHeader) {}
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn verifies_es256_and_rejects_a_tampered_signature() {
        let k = TestKey::es256();
        let jws = k.sign(
            k.header_jwk("https://x/acme/new-account", "n1"),
            Some(&json!({"a":1})),
        );
        let f = Flattened::from_value(&jws).unwrap();
        f.verify(&k.jwk).unwrap();
        assert_eq!(f.payload_json().unwrap()["a"], 1);
        let other = TestKey::es256();
        let err = f.verify(&other.jwk).unwrap_err();
        assert!(err.is(ProblemType::Malformed));
    }

    #[test]
    fn rejects_disallowed_algorithms_and_shapes() {
        let k = TestKey::es256();
        let mut h = k.header_jwk("u", "n");
        h["alg"] = json!("none");
        let f = Flattened::from_value(&k.sign(h, None)).unwrap();
        let e = f.verify(&k.jwk).unwrap_err();
        assert!(e.is(ProblemType::BadSignatureAlgorithm));
        assert!(e
            .algorithms
            .as_ref()
            .unwrap()
            .contains(&"ES256".to_string()));
        let mut h = k.header_jwk("u", "n");
        h["alg"] = json!("HS256");
        let f = Flattened::from_value(&k.sign(h, None)).unwrap();
        assert!(f
            .verify(&k.jwk)
            .unwrap_err()
            .is(ProblemType::BadSignatureAlgorithm));
        // ES384 claimed with a P-256 key
        let mut h = k.header_jwk("u", "n");
        h["alg"] = json!("ES384");
        let f = Flattened::from_value(&k.sign(h, None)).unwrap();
        assert!(f.verify(&k.jwk).is_err());
        // general serialization and unprotected header
        let mut jws = k.sign(k.header_jwk("u", "n"), None);
        jws["header"] = json!({"kid": "x"});
        assert!(Flattened::from_value(&jws).is_err());
        assert!(Flattened::from_value(&json!({"signatures": [], "payload": ""})).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn spki_thumbprint_equals_jwk_thumbprint() {
        use rcgen::PublicKeyData;
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = kp.subject_public_key_info();
        let raw = kp.public_key_raw();
        let jwk = json!({"kty":"EC","crv":"P-256","x": b64(&raw[1..33]), "y": b64(&raw[33..])});
        assert_eq!(spki_thumbprint(&spki).unwrap(), thumbprint(&jwk).unwrap());
    }

    #[test]
    fn private_keys_are_refused() {
        let jwk = json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"});
        assert!(public_jwk(&jwk).unwrap_err().is(ProblemType::BadPublicKey));
    }

    #[test]
    fn eab_mac_is_checked() {
        let k = TestKey::es256();
        let key = [7u8; 32];
        let e = eab("inv_1", &key, "https://x/acme/new-account", &k.jwk, "HS256");
        let f = Flattened::from_value(&e).unwrap();
        f.verify_mac(&key).unwrap();
        assert!(f
            .verify_mac(&[8u8; 32])
            .unwrap_err()
            .is(ProblemType::Unauthorized));
        let e = eab("inv_1", &key, "https://x/acme/new-account", &k.jwk, "HS512");
        Flattened::from_value(&e).unwrap().verify_mac(&key).unwrap();
    }
}
