//! ACME status changes that reach more than one record, each one change set
//! with its audit record: deactivating an account ends its pending
//! authorizations (RFC 8555 §7.3.6), so no reply can validate a challenge
//! of an account that gave up its key. Also the account-key lookup the RA
//! runs on every enrollment (RFC 8555 §11.1).

use serde_json::Value;

use super::acme::{
    authz_key, AccountStatus, AcmeAccount, AcmeAuthorization, AuthzStatus, ChallengeStatus,
};
use super::model::AuditEvent;
use super::tx::reject;
use super::{Result, Store, Table};

/// Deactivates a pending authorization; its challenge, if still waiting for
/// a reply, becomes invalid with `error` (an RFC 8555 problem document).
pub fn end_pending_authz(a: &mut AcmeAuthorization, error: &Value) {
    a.status = AuthzStatus::Deactivated;
    if matches!(
        a.challenge.status,
        ChallengeStatus::Pending | ChallengeStatus::Processing
    ) {
        a.challenge.status = ChallengeStatus::Invalid;
        a.challenge.error = Some(error.clone());
    }
}

impl Store {
    /// Deactivates `acct` (the account as it should be stored, status
    /// deactivated, same key) and ends every pending authorization of the
    /// account ([`end_pending_authz`], challenges invalid with
    /// `challenge_error`), with the audit record `audit` builds from the
    /// ended authorizations' ids, in one change set. Refused when the
    /// account is no longer valid or its key changed meanwhile.
    pub fn deactivate_acme_account(
        &self,
        acct: &AcmeAccount,
        challenge_error: &Value,
        audit: impl Fn(&[String]) -> AuditEvent,
    ) -> Result<Vec<String>> {
        self.transact_on(&[Table::AcmeAccounts, Table::AcmeAuthorizations], |tx| {
            let old: AcmeAccount = tx.need(Table::AcmeAccounts, "ACME account", &acct.id)?;
            if old.status != AccountStatus::Valid {
                return Err(reject("the account is no longer valid"));
            }
            if old.thumbprint != acct.thumbprint {
                return Err(reject("use the key change operation to change the key"));
            }
            // The account's index entries (`a/<account>/<email>/<authz id>`)
            // are only ever added, by committed change sets, and change sets
            // run one at a time: the tree holds all of them.
            let prefix = format!("a/{}/", acct.id);
            let mut ended = Vec::new();
            for item in self
                .tree(Table::AcmeAuthorizations)
                .scan_prefix(prefix.as_bytes())
            {
                let (_, v) = item?;
                let id = String::from_utf8_lossy(&v).into_owned();
                let key = authz_key(&id);
                let Some(mut a) = tx.get::<AcmeAuthorization>(Table::AcmeAuthorizations, &key)?
                else {
                    continue;
                };
                if a.status != AuthzStatus::Pending {
                    continue;
                }
                end_pending_authz(&mut a, challenge_error);
                tx.put(Table::AcmeAuthorizations, &key, &a)?;
                ended.push(id);
            }
            tx.put(Table::AcmeAccounts, &acct.id, acct)?;
            tx.audit(&audit(&ended))?;
            Ok(ended)
        })
    }

    /// The id of the ACME account whose key has this RFC 7638 thumbprint:
    /// one read of the key index (`acme_account_keys`), whatever the number
    /// of accounts.
    pub fn acme_account_id_for_key(&self, thumbprint: &str) -> Result<Option<String>> {
        Ok(self
            .read_raw(Table::AcmeAccountKeys, thumbprint.as_bytes())?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }
}
