//! HTTP Basic credentials (RFC 7617) as EST's first enrollment uses them:
//! user name = invitation kid, password = the invitation's HMAC key.

use base64::Engine;

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
