//! The directory (RFC 8555 §7.1.1) with `meta.profiles` (ACME profiles draft)
//! and the built-in terms of service page.

use http::StatusCode;
use serde_json::Value;

use super::problem::Problem;
use super::types::{Directory, DirectoryMeta};
use super::{Inner, Reply};

/// The built-in terms of service (served at `/acme/terms` unless
/// `acme.terms_of_service` names another URL).
pub const TERMS: &str = "Signet code-signing certificate service: terms of use\n\
\n\
1. Certificates are issued only for the email address you were invited with,\n\
   to the organization and department your administrator assigned.\n\
2. Keep private keys in the hardware your certificate profile requires and\n\
   report a compromised key at once (revoke with reason keyCompromise).\n\
3. Sign only software you are authorized to publish for your organization.\n\
4. Issuance, approval and revocation are recorded in an audit log.\n";

impl Inner {
    pub(crate) fn terms_url(&self) -> String {
        if self.cfg.terms_of_service.is_empty() {
            self.url("/terms")
        } else {
            self.cfg.terms_of_service.clone()
        }
    }

    pub(crate) fn directory(&self) -> Result<Reply, Problem> {
        let mut profiles = serde_json::Map::new();
        for p in self.store.list_profiles()? {
            let mut desc = format!(
                "{} code signing, terms up to {} days, keys: {}",
                match p.template {
                    crate::ca::Template::Ov => "OV",
                    crate::ca::Template::Ev => "EV",
                },
                p.terms_days.iter().max().copied().unwrap_or(0),
                p.key_types.join(", ")
            );
            if p.requires_approval {
                desc.push_str("; requires approval");
            }
            if p.attestation.required {
                desc.push_str("; requires key attestation");
            }
            profiles.insert(p.name.clone(), Value::String(desc));
        }
        let dir = Directory {
            new_nonce: self.url("/new-nonce"),
            new_account: self.url("/new-account"),
            new_order: self.url("/new-order"),
            revoke_cert: self.url("/revoke-cert"),
            key_change: self.url("/key-change"),
            renewal_info: self.url("/renewal-info"),
            meta: DirectoryMeta {
                terms_of_service: Some(self.terms_url()),
                website: (!self.cfg.website.is_empty()).then(|| self.cfg.website.clone()),
                external_account_required: true,
                profiles,
            },
        };
        Ok(Reply::json(StatusCode::OK, &dir))
    }

    pub(crate) fn terms(&self) -> Reply {
        let mut r = Reply::empty(StatusCode::OK);
        r.content_type = Some("text/plain; charset=utf-8".into());
        r.body = TERMS.as_bytes().to_vec();
        r
    }
}
