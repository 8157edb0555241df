//! References to directory objects as people give them: an id, a name or
//! (for endpoints) a label, resolved in one place. A reference that matches
//! nothing is refused naming the field and the forms it accepts, e.g.
//! `no endpoint "cs" (give its id, name or label)`. Certificate serials are
//! taken as people paste them (see [`normalize_serial`]).

use super::{Ra, RaError};
use crate::storage::model::{Department, Endpoint, EndpointAccount, Organization, Profile};

/// The store's form of a certificate serial (lower-case hex, 32 digits for
/// Signet's 16-octet serials) from the forms people paste: any case, with or
/// without colons or spaces between octets, with or without a `0x` prefix,
/// with or without leading zeros (`0C0D74F3...`, `0c:0d:74:f3:...`,
/// `0x0c0d74f3...`, `C0D74F3...`). Err: why the text is not a serial.
pub fn normalize_serial(text: &str) -> Result<String, String> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if digits.is_empty() {
        return Err("a certificate serial must not be empty".into());
    }
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{text:?} is not a hexadecimal serial ({bad:?} is not a hex digit); give it as `openssl x509 -serial` prints it, with or without colons or 0x"
        ));
    }
    let significant = digits.trim_start_matches('0').to_ascii_lowercase();
    let width = significant.len().max(32);
    let width = width + width % 2;
    Ok(format!("{significant:0>width$}"))
}

/// [`normalize_serial`] for a serial given in `field`: refused naming the field.
pub fn serial_ref(field: &str, text: &str) -> Result<String, RaError> {
    normalize_serial(text).map_err(|reason| RaError::invalid(field, reason))
}

/// How a reference to a directory object failed to resolve: the field it
/// came in and what was looked for.
fn unknown(field: &str, kind: &str, given: &str, forms: &str) -> RaError {
    RaError::invalid(field, format!("no {kind} {given:?} (give its {forms})"))
}

/// The same refusal for an object named in a request path: not found.
fn missing(kind: &str, given: &str, forms: &str) -> RaError {
    RaError::NotFound(format!("{kind} {given:?} (give its {forms})"))
}

impl Ra {
    fn lookup_endpoint(&self, reference: &str) -> Result<Option<Endpoint>, RaError> {
        let r = reference.trim();
        if let Some(ep) = self.store.find_endpoint(r)? {
            return Ok(Some(ep));
        }
        Ok(self.store.find_endpoint_by_label(r)?)
    }

    /// The endpoint `reference` (id, name or label) names, given in `field`.
    pub fn endpoint_ref(&self, field: &str, reference: &str) -> Result<Endpoint, RaError> {
        self.lookup_endpoint(reference)?
            .ok_or_else(|| unknown(field, "endpoint", reference, "id, name or label"))
    }

    /// The endpoint named in a request path (id, name or label).
    pub fn endpoint(&self, reference: &str) -> Result<Endpoint, RaError> {
        self.lookup_endpoint(reference)?
            .ok_or_else(|| missing("endpoint", reference, "id, name or label"))
    }

    /// The organization `reference` (id or name) names, given in `field`.
    pub fn organization_ref(&self, field: &str, reference: &str) -> Result<Organization, RaError> {
        self.store
            .find_organization(reference.trim())?
            .ok_or_else(|| unknown(field, "organization", reference, "id or name"))
    }

    /// The department `reference` (id, or name within `org`) names, given in `field`.
    pub fn department_ref(
        &self,
        field: &str,
        org: &Organization,
        reference: &str,
    ) -> Result<Department, RaError> {
        self.store
            .find_department(&org.id, reference.trim())?
            .filter(|d| d.organization_id == org.id)
            .ok_or_else(|| {
                RaError::invalid(
                    field,
                    format!(
                        "no department {reference:?} in organization {:?} (give its id or name)",
                        org.name
                    ),
                )
            })
    }

    /// The profile `reference` (id or name) names, given in `field`.
    pub fn profile_ref(&self, field: &str, reference: &str) -> Result<Profile, RaError> {
        self.store
            .find_profile(reference.trim())?
            .ok_or_else(|| unknown(field, "profile", reference, "id or name"))
    }

    /// The endpoint account `reference` (id or name) names, given in `field`.
    pub fn account_ref(&self, field: &str, reference: &str) -> Result<EndpointAccount, RaError> {
        self.store
            .find_account(reference.trim())?
            .ok_or_else(|| unknown(field, "endpoint account", reference, "id or name"))
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_serial;

    const SERIAL: &str = "0c0d74f35d83429b00df3032d20642cd";

    #[test]
    fn serials_are_taken_in_every_pasted_form() {
        for given in [
            "0C0D74F35D83429B00DF3032D20642CD",
            "0c0d74f35d83429b00df3032d20642cd",
            "0x0C0D74F35D83429B00DF3032D20642CD",
            "0X0c0d74f35d83429b00df3032d20642cd",
            "0C:0D:74:F3:5D:83:42:9B:00:DF:30:32:D2:06:42:CD",
            "0c 0d 74 f3 5d 83 42 9b 00 df 30 32 d2 06 42 cd",
            "C0D74F35D83429B00DF3032D20642CD",
            "000C0D74F35D83429B00DF3032D20642CD",
            "  0c0d74f35d83429b00df3032d20642cd\n",
        ] {
            assert_eq!(normalize_serial(given).as_deref(), Ok(SERIAL), "{given:?}");
        }
    }

    #[test]
    fn text_that_is_not_hex_is_refused_naming_the_character() {
        let e = normalize_serial("0C0D74G3").unwrap_err();
        assert!(e.contains("'G' is not a hex digit"), "{e}");
        assert!(normalize_serial("0x").is_err());
        assert!(normalize_serial("").is_err());
        assert!(normalize_serial("12-34").is_err());
    }
}
