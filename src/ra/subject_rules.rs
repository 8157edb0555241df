//! The subject rules (CS BR 7.1.4.2.2 d and f, EV Guidelines 9.2.4) and the
//! publisher-name spoofing rules (issue 19.5) on an organization or
//! department when it is created, each refusal naming the API field. The
//! rules themselves are the CA core's (`ca/subject_rules.rs`), which checks
//! them again on every certificate before signing.

use super::RaError;
use crate::ca::subject_rules::{check_country_code, check_value};
use crate::storage::model::{Department, Organization};

/// A country code as given (trimmed, upper-cased), if it is ISO 3166-1
/// alpha-2; `XX` only where `allow_xx` (countryName, not the EV
/// jurisdiction).
pub(crate) fn country(field: &str, value: &str, allow_xx: bool) -> Result<String, RaError> {
    let code = value.trim().to_ascii_uppercase();
    check_country_code(&code, allow_xx).map_err(|why| RaError::invalid(field, why))?;
    Ok(code)
}

fn attribute(field: &str, value: Option<&String>) -> Result<(), RaError> {
    match value {
        Some(v) => check_value(v).map_err(|why| RaError::invalid(field, why)),
        None => Ok(()),
    }
}

/// Every value of `org` that goes into a certificate subject (and its
/// street and postal code, shown beside it).
pub(crate) fn check_organization(org: &Organization) -> Result<(), RaError> {
    for (field, value) in [
        ("name", Some(&org.name)),
        ("street", org.street.as_ref()),
        ("city", org.city.as_ref()),
        ("state", org.state.as_ref()),
        ("postal_code", org.postal_code.as_ref()),
        ("business_category", org.business_category.as_ref()),
        ("jurisdiction_state", org.jurisdiction_state.as_ref()),
        ("jurisdiction_locality", org.jurisdiction_locality.as_ref()),
        ("registration_number", org.registration_number.as_ref()),
    ] {
        attribute(field, value)?;
    }
    if org.jurisdiction_locality.is_some() && org.jurisdiction_state.is_none() {
        return Err(RaError::invalid(
            "jurisdiction_state",
            "is required with jurisdiction_locality: an EV subject carries jurisdictionLocalityName only together with jurisdictionStateOrProvinceName (EV Guidelines 9.2.4)",
        ));
    }
    Ok(())
}

/// A department's name (the subject's organizationalUnitName).
pub(crate) fn check_department(dept: &Department) -> Result<(), RaError> {
    attribute("name", Some(&dept.name))
}

/// The organizationalUnitName of a subject (a department's name), if any.
pub(crate) fn check_ou(ou: Option<&str>) -> Result<(), RaError> {
    match ou {
        Some(v) => check_value(v).map_err(|why| RaError::invalid("department", why)),
        None => Ok(()),
    }
}
