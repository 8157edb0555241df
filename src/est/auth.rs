//! HTTP Basic credentials (RFC 7617) as EST's first enrollment uses them:
//! user name = invitation kid, password = the invitation's HMAC key.

use base64::Engine;
use http::{HeaderValue, StatusCode};

use crate::http::routing::{response, HttpResponse};
use crate::http::throttle::AuthThrottle;
use crate::ra::est::EstError;

/// The 429 for a client address or key id in a failed-authentication
/// backoff (`http::throttle`); the credentials are not checked then.
pub(crate) fn throttled(
    throttle: Option<&AuthThrottle>,
    ip: std::net::IpAddr,
    kid: Option<&str>,
) -> Result<(), Box<HttpResponse>> {
    let Some(throttle) = throttle else {
        return Ok(());
    };
    throttle.check("est", ip, kid).map_err(|secs| {
        let mut resp = response(
            StatusCode::TOO_MANY_REQUESTS,
            "text/plain; charset=utf-8",
            format!(
                "too many failed authentications from this address or for this key id; \
                 retry after {secs} seconds\n"
            ),
        );
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        Box::new(resp)
    })
}

/// Feeds an enrollment's outcome to the throttle: a refused credential is a
/// failure, anything past authentication a success.
pub(crate) fn record<T>(
    throttle: Option<&AuthThrottle>,
    ip: std::net::IpAddr,
    kid: Option<&str>,
    outcome: &Result<T, EstError>,
) {
    let Some(throttle) = throttle else {
        return;
    };
    match outcome {
        Err(EstError::Unauthenticated(_)) => {
            let reason = if kid.is_some() {
                "bad_credentials"
            } else {
                "malformed_credentials"
            };
            throttle.failed("est", reason, ip, kid);
        }
        _ => throttle.succeeded("est", ip, kid),
    }
}

/// Parsed Basic credentials. The password is secret: `Debug` hides it.
pub struct BasicCredentials {
    pub user: String,
    password: String,
}

impl BasicCredentials {
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why an Authorization header was not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("the Authorization header must use the Basic scheme")]
    NotBasic,
    #[error("the Basic credentials are not valid base64 of \"user:password\"")]
    Malformed,
}

/// The Basic credentials of an `Authorization` header value; `Ok(None)` when
/// there is no header.
pub fn basic_credentials(header: Option<&str>) -> Result<Option<BasicCredentials>, AuthError> {
    let Some(value) = header else {
        return Ok(None);
    };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::NotBasic);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| AuthError::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| AuthError::Malformed)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::Malformed)?;
    if user.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(Some(BasicCredentials {
        user: user.to_string(),
        password: password.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn parses_basic_credentials_with_colons_in_the_password() {
        let c = basic_credentials(Some(&header("inv_01:abc:def")))
            .unwrap()
            .unwrap();
        assert_eq!(c.user, "inv_01");
        assert_eq!(c.password(), "abc:def");
        assert!(!format!("{c:?}").contains("abc"));
        let lower = header("u:p").replace("Basic", "basic");
        assert_eq!(basic_credentials(Some(&lower)).unwrap().unwrap().user, "u");
    }

    #[test]
    fn refuses_other_schemes_and_garbage() {
        assert!(basic_credentials(None).unwrap().is_none());
        assert_eq!(
            basic_credentials(Some("Bearer abc")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            basic_credentials(Some("Basic")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            basic_credentials(Some("Basic !!!")).unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            basic_credentials(Some(&header("no-colon"))).unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            basic_credentials(Some(&header(":pw"))).unwrap_err(),
            AuthError::Malformed
        );
    }
}

/// OID of the PKCS#9 challengePassword attribute.
const CHALLENGE_PASSWORD: &str = "1.2.840.113549.1.9.7";

/// Why channel binding refused a CSR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindingError {
    #[error(
        "channel binding is required: put the base64 of this TLS connection's RFC 9266 \
         tls-exporter value in the CSR's challengePassword"
    )]
    Missing,
    #[error("the CSR's challengePassword is not this TLS connection's tls-exporter value (channel binding failed)")]
    Mismatch,
    #[error("channel binding cannot be verified: the TLS connection is not terminated by Signet")]
    NoTls,
    #[error("the CSR's challengePassword is not a readable string")]
    Unreadable,
}

/// The challengePassword of a DER CSR, if it has one (None also when the
/// CSR does not parse: the RA reports that).
fn challenge_password(csr_der: &[u8]) -> Result<Option<String>, BindingError> {
    use der::{Decode, Tag, Tagged};
    // Structure only: the RA verifies the CSR's signature right after, and a
    // CSR whose signature fails is refused there whatever its password says.
    let Ok(Some(values)) = crate::csr::Csr::unverified_attribute(csr_der, CHALLENGE_PASSWORD)
    else {
        return Ok(None);
    };
    let value = values.first().ok_or(BindingError::Unreadable)?;
    let any = der::asn1::AnyRef::from_der(value).map_err(|_| BindingError::Unreadable)?;
    match any.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
            String::from_utf8(any.value().to_vec())
                .map(Some)
                .map_err(|_| BindingError::Unreadable)
        }
        _ => Err(BindingError::Unreadable),
    }
}

/// RFC 7030 section 3.5 with RFC 9266: checks the CSR's challengePassword
/// against the connection's `tls-exporter` value according to `mode`
/// ("if-present", "required", "off").
pub fn check_channel_binding(
    mode: &str,
    csr_der: &[u8],
    tls_exporter: Option<&[u8]>,
) -> Result<(), BindingError> {
    use subtle::ConstantTimeEq;
    if mode == "off" {
        return Ok(());
    }
    let password = match challenge_password(csr_der)? {
        Some(p) => p,
        None if mode == "required" => return Err(BindingError::Missing),
        None => return Ok(()),
    };
    let exporter = tls_exporter.ok_or(BindingError::NoTls)?;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let given = engine
        .decode(password.trim())
        .map_err(|_| BindingError::Mismatch)?;
    if bool::from(given.ct_eq(exporter)) {
        Ok(())
    } else {
        Err(BindingError::Mismatch)
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    /// A P-256 CSR with an optional challengePassword, made by openssl.
    fn csr(password: Option<&str>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = String::from(
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = agent\n[attrs]\n",
        );
        if let Some(p) = password {
            cfg.push_str(&format!("challengePassword = {p}\n"));
        }
        std::fs::write(dir.path().join("req.cnf"), cfg).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "k.pem",
                "-config",
                "req.cnf",
                "-outform",
                "DER",
                "-out",
                "r.der",
            ])
            .current_dir(dir.path())
            .output()
            .expect("openssl is needed (scripts/install-test-deps)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(dir.path().join("r.der")).unwrap()
    }

    #[test]
    fn verifies_the_exporter_in_challenge_password() {
        let exporter = [7u8; 32];
        let good = base64::engine::general_purpose::STANDARD.encode(exporter);
        let with = csr(Some(&good));
        let without = csr(None);
        let wrong = csr(Some(
            &base64::engine::general_purpose::STANDARD.encode([8u8; 32]),
        ));
        let junk = csr(Some("otp-123456"));
        for mode in ["if-present", "required"] {
            assert_eq!(check_channel_binding(mode, &with, Some(&exporter)), Ok(()));
            assert_eq!(
                check_channel_binding(mode, &wrong, Some(&exporter)),
                Err(BindingError::Mismatch)
            );
            assert_eq!(
                check_channel_binding(mode, &junk, Some(&exporter)),
                Err(BindingError::Mismatch)
            );
            assert_eq!(
                check_channel_binding(mode, &with, None),
                Err(BindingError::NoTls)
            );
        }
        assert_eq!(
            check_channel_binding("if-present", &without, Some(&exporter)),
            Ok(())
        );
        assert_eq!(
            check_channel_binding("required", &without, Some(&exporter)),
            Err(BindingError::Missing)
        );
        assert_eq!(
            check_channel_binding("off", &wrong, Some(&exporter)),
            Ok(())
        );
        // Unpadded base64 is accepted too.
        let unpadded = csr(Some(good.trim_end_matches('=')));
        assert_eq!(
            check_channel_binding("required", &unpadded, Some(&exporter)),
            Ok(())
        );
    }
}
