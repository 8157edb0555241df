//! EST bookkeeping: which certificate request an EST credential (an
//! invitation's Basic credentials, or a client certificate being renewed)
//! produced for which CSR key, so a resend of the request while it waits for
//! approval (or after it was answered) finds it again; and the release of an
//! invitation whose first enrollment failed.
//!
//! Bindings live in the `meta` table under `est/binding/<auth>/<key sha-256>`
//! (`<auth>` is `inv:<kid>` or `cert:<serial>`); the invitation's own binding
//! marker is `est/first/<kid>`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::tx::TxResult;
use super::Tx;
use super::{Result, Store, Table};

/// One EST enrollment: the request a credential + CSR produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstBinding {
    /// `inv:<kid>` (first enrollment) or `cert:<serial>` (renewal).
    pub auth: String,
    /// SHA-256 of the CSR's SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// The certificate request it produced.
    pub request_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn binding_key(auth: &str, key_sha256: &str) -> String {
    format!("est/binding/{auth}/{key_sha256}")
}

impl Store {
    /// Records a binding on its own (tests; the server writes bindings
    /// with the request or certificate, see [`super::RequestLink`]).
    #[cfg(test)]
    pub fn est_bind(&self, binding: &EstBinding) -> Result<()> {
        self.transact_on(&[Table::Meta], |tx| bind_in(tx, binding))?;
        self.flush()
    }

    /// The binding for this credential and CSR, if any.
    pub fn est_binding(&self, auth: &str, key_sha256: &str) -> Result<Option<EstBinding>> {
        let key = binding_key(auth, key_sha256);
        match self.read_raw(Table::Meta, key.as_bytes())? {
            Some(bytes) => super::decode(Table::Meta, &key, &bytes).map(Some),
            None => Ok(None),
        }
    }
}

/// Writes `binding` inside a larger change set (see [`super::RequestLink`]).
pub(super) fn bind_in(tx: &Tx<'_>, binding: &EstBinding) -> TxResult<()> {
    let key = binding_key(&binding.auth, &binding.key_sha256);
    tx.put_raw(Table::Meta, key.as_bytes(), &super::encode(binding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_round_trip_per_auth_and_csr() {
        let store = Store::temporary().unwrap();
        let b = EstBinding {
            auth: "cert:01".into(),
            key_sha256: "aa".into(),
            request_id: "req_1".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        store.est_bind(&b).unwrap();
        assert_eq!(store.est_binding("cert:01", "aa").unwrap(), Some(b));
        assert_eq!(store.est_binding("cert:01", "bb").unwrap(), None);
        assert_eq!(store.est_binding("cert:02", "aa").unwrap(), None);
    }
}
