//! Administrative changes to the directory, validated field by field.

use serde::Deserialize;
use serde_json::json;

use super::attestation::AttestationPolicy;
use super::{Ra, RaError};
use crate::ca::{Template, MAX_VALIDITY_DAYS};
use crate::storage::model::{Department, Endpoint, EndpointAccount, Organization, Profile};
use crate::storage::new_id;

/// Key types a profile may allow.
pub const KEY_TYPES: [&str; 5] = [
    "rsa-3072",
    "rsa-4096",
    "ecdsa-p256",
    "ecdsa-p384",
    "ecdsa-p521",
];

/// A new organization. City or state is required (CS BR 7.1.4.2.2). An
/// EV-validated organization (`validation: ev`) needs business_category,
/// jurisdiction_country and registration_number (EV Guidelines 9.2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub name: String,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    #[serde(default)]
    pub validation: Option<Template>,
    /// EV: "Private Organization", "Government Entity", "Business Entity" or
    /// "Non-Commercial Entity" (EV Guidelines 7.1.4.2.3).
    #[serde(default)]
    pub business_category: Option<String>,
    /// EV: jurisdiction of incorporation, ISO 3166-1 alpha-2.
    #[serde(default)]
    pub jurisdiction_country: Option<String>,
    #[serde(default)]
    pub jurisdiction_state: Option<String>,
    #[serde(default)]
    pub jurisdiction_locality: Option<String>,
    /// EV: registration (incorporation) number; PrintableString characters.
    #[serde(default)]
    pub registration_number: Option<String>,
}

/// The businessCategory values the EV Guidelines (7.1.4.2.3) allow.
pub const BUSINESS_CATEGORIES: [&str; 4] = [
    "Private Organization",
    "Government Entity",
    "Business Entity",
    "Non-Commercial Entity",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub organization: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProfile {
    pub name: String,
    pub template: Template,
    pub terms_days: Vec<u32>,
    pub key_types: Vec<String>,
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default)]
    pub attestation: Option<AttestationPolicy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    pub name: String,
    pub label: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    pub endpoint: String,
    pub organization: String,
    #[serde(default)]
    pub department: Option<String>,
    pub profiles: Vec<String>,
    #[serde(default)]
    pub auto_approve: bool,
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, RaError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(RaError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(RaError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(RaError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

fn check_opt(field: &str, value: &Option<String>, max: usize) -> Result<Option<String>, RaError> {
    match value {
        Some(v) if !v.trim().is_empty() => check_text(field, v, max).map(Some),
        _ => Ok(None),
    }
}

/// X.520 PrintableString characters (the encoding of subject serialNumber).
fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

fn check_label(field: &str, value: &str) -> Result<String, RaError> {
    let v = check_text(field, value, 64)?;
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RaError::invalid(
            field,
            "may contain only letters, digits, '-' and '_'",
        ));
    }
    Ok(v)
}

impl Ra {
    pub fn create_organization(
        &self,
        n: &NewOrganization,
        actor: &str,
    ) -> Result<Organization, RaError> {
        let country = super::subject_rules::country("country", &n.country, true)?;
        let city = check_opt("city", &n.city, 128)?;
        let state = check_opt("state", &n.state, 128)?;
        if city.is_none() && state.is_none() {
            return Err(RaError::invalid(
                "city",
                "a city or a state is required (the certificate subject needs localityName or stateOrProvinceName, CS BR 7.1.4.2.2)",
            ));
        }
        let business_category = match check_opt("business_category", &n.business_category, 128)? {
            Some(b) => Some(
                BUSINESS_CATEGORIES
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(&b))
                    .ok_or_else(|| {
                        RaError::invalid(
                            "business_category",
                            format!("must be one of: {}", BUSINESS_CATEGORIES.join(", ")),
                        )
                    })?
                    .to_string(),
            ),
            None => None,
        };
        let jurisdiction_country = match &n.jurisdiction_country {
            Some(c) if !c.trim().is_empty() => Some(super::subject_rules::country(
                "jurisdiction_country",
                c,
                false,
            )?),
            _ => None,
        };
        let registration_number = check_opt("registration_number", &n.registration_number, 64)?;
        if registration_number
            .as_deref()
            .is_some_and(|r| !r.chars().all(is_printable))
        {
            return Err(RaError::invalid(
                "registration_number",
                "may contain only letters, digits, spaces and ' ( ) + , - . / : = ?",
            ));
        }
        let validation = n.validation.unwrap_or(Template::Ov);
        if validation == Template::Ev {
            for (field, value) in [
                ("business_category", &business_category),
                ("jurisdiction_country", &jurisdiction_country),
                ("registration_number", &registration_number),
            ] {
                if value.is_none() {
                    return Err(RaError::invalid(
                        field,
                        "is required for an EV-validated organization (EV Guidelines 9.2)",
                    ));
                }
            }
        }
        let org = Organization {
            id: new_id("org"),
            name: check_text("name", &n.name, 64)?,
            street: check_opt("street", &n.street, 128)?,
            city,
            state,
            postal_code: check_opt("postal_code", &n.postal_code, 16)?,
            country,
            validation,
            created_at: self.clock.now(),
            business_category,
            jurisdiction_country,
            jurisdiction_state: check_opt("jurisdiction_state", &n.jurisdiction_state, 128)?,
            jurisdiction_locality: check_opt(
                "jurisdiction_locality",
                &n.jurisdiction_locality,
                128,
            )?,
            registration_number,
        };
        super::subject_rules::check_organization(&org)?;
        let ev = self.event(
            actor,
            "organization.create",
            json!({"id": org.id, "name": org.name}),
        );
        self.store
            .create_organization(&org, &ev)
            .map_err(RaError::from_store)?;
        Ok(org)
    }

    pub fn organization(&self, id_or_name: &str) -> Result<Organization, RaError> {
        self.store
            .find_organization(id_or_name)?
            .ok_or_else(|| RaError::NotFound(format!("organization {id_or_name:?}")))
    }

    pub fn create_department(&self, n: &NewDepartment, actor: &str) -> Result<Department, RaError> {
        let org = self.organization_ref("organization", &n.organization)?;
        let dept = Department {
            id: new_id("dept"),
            organization_id: org.id.clone(),
            name: check_text("name", &n.name, 64)?,
            created_at: self.clock.now(),
        };
        super::subject_rules::check_department(&dept)?;
        let ev = self.event(
            actor,
            "department.create",
            json!({"id": dept.id, "organization": org.id, "name": dept.name}),
        );
        self.store
            .create_department(&dept, &ev)
            .map_err(RaError::from_store)?;
        Ok(dept)
    }

    pub fn create_profile(&self, n: &NewProfile, actor: &str) -> Result<Profile, RaError> {
        let name = check_label("name", &n.name)?;
        if n.terms_days.is_empty() {
            return Err(RaError::invalid(
                "terms_days",
                "at least one term is required",
            ));
        }
        for t in &n.terms_days {
            if *t == 0 || i64::from(*t) > MAX_VALIDITY_DAYS {
                return Err(RaError::invalid(
                    "terms_days",
                    format!("{t} is outside 1..={MAX_VALIDITY_DAYS} days (CS BR maximum)"),
                ));
            }
        }
        if n.key_types.is_empty() {
            return Err(RaError::invalid(
                "key_types",
                "at least one key type is required",
            ));
        }
        for k in &n.key_types {
            if !KEY_TYPES.contains(&k.as_str()) {
                return Err(RaError::invalid(
                    "key_types",
                    format!("{k:?} is not one of {}", KEY_TYPES.join(", ")),
                ));
            }
        }
        if let Some(a) = &n.attestation {
            a.validate()
                .map_err(|e| RaError::invalid("attestation", e))?;
        }
        let mut terms = n.terms_days.clone();
        terms.sort_unstable();
        terms.dedup();
        let profile = Profile {
            id: new_id("prof"),
            name,
            template: n.template,
            terms_days: terms,
            key_types: n.key_types.clone(),
            requires_approval: n.requires_approval,
            attestation: n.attestation.clone().unwrap_or_default(),
            created_at: self.clock.now(),
        };
        let ev = self.event(
            actor,
            "profile.create",
            serde_json::to_value(&profile).unwrap_or_default(),
        );
        self.store
            .create_profile(&profile, &ev)
            .map_err(RaError::from_store)?;
        Ok(profile)
    }

    pub fn profile(&self, id_or_name: &str) -> Result<Profile, RaError> {
        self.store
            .find_profile(id_or_name)?
            .ok_or_else(|| RaError::NotFound(format!("profile {id_or_name:?}")))
    }

    pub fn create_endpoint(&self, n: &NewEndpoint, actor: &str) -> Result<Endpoint, RaError> {
        let ep = Endpoint {
            id: new_id("ep"),
            name: check_text("name", &n.name, 64)?,
            label: check_label("label", &n.label)?,
            created_at: self.clock.now(),
        };
        let ev = self.event(
            actor,
            "endpoint.create",
            json!({"id": ep.id, "name": ep.name, "label": ep.label}),
        );
        self.store
            .create_endpoint(&ep, &ev)
            .map_err(RaError::from_store)?;
        Ok(ep)
    }

    pub fn create_account(&self, n: &NewAccount, actor: &str) -> Result<EndpointAccount, RaError> {
        let name = check_label("name", &n.name)?;
        let ep = self.endpoint_ref("endpoint", &n.endpoint)?;
        let org = self.organization_ref("organization", &n.organization)?;
        let department_id = match &n.department {
            Some(d) => Some(self.department_ref("department", &org, d)?.id),
            None => None,
        };
        if n.profiles.is_empty() {
            return Err(RaError::invalid(
                "profiles",
                "at least one profile is required",
            ));
        }
        let mut profile_ids = Vec::new();
        for p in &n.profiles {
            profile_ids.push(self.profile_ref("profiles", p)?.id);
        }
        let acct = EndpointAccount {
            id: new_id("acct"),
            name,
            endpoint_id: ep.id,
            organization_id: org.id,
            department_id,
            profile_ids,
            auto_approve: n.auto_approve,
            created_at: self.clock.now(),
        };
        let ev = self.event(
            actor,
            "account.create",
            serde_json::to_value(&acct).unwrap_or_default(),
        );
        self.store
            .create_account(&acct, &ev)
            .map_err(RaError::from_store)?;
        Ok(acct)
    }

    pub fn account(&self, id_or_name: &str) -> Result<EndpointAccount, RaError> {
        self.store
            .find_account(id_or_name)?
            .ok_or_else(|| RaError::NotFound(format!("endpoint account {id_or_name:?}")))
    }
}
