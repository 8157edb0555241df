//! Claims: what an issuance in progress will use (its serial, its request,
//! the ACME order it finalizes or the invitation it redeems), held in memory
//! from the RA's check to the one change set that records the certificate.
//!
//! An issuance is checked against the committed state and claimed
//! ([`Store::claim_issuance`], a dry run that takes no turn at the writer
//! lock), signed without any lock, then recorded in a single change set
//! ([`Store::record_issuance`]): intent, certificate, protocol outcome and
//! audit together. While the claim is held, no other change set may redeem
//! its invitation or finalize its order (`redeem_in` and the order intent
//! ask [`super::Tx::claimed_elsewhere`]), so of two concurrent finalizations
//! one is refused before anything is signed, as with a stored intent, at one
//! change set per issuance instead of two. The recording change set checks
//! everything again under the writer lock: a change set committed between
//! the check and the claim (an administrator revoking the invitation, say)
//! can only cost a signature that is then thrown away, never a record.
//!
//! Nothing here is durable, and nothing needs to be: a claim only guards
//! work in this process (sled opens a store in one process at a time), and a
//! crash before the change set leaves no record and hands nothing out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::flush::FlushIntent;
use super::links::RequestLink;
use super::model::CertRequest;

/// The keys claimed by issuances in progress, each with the serial of the
/// certificate its issuance will record (shared by a store's clones).
#[derive(Debug, Default)]
pub(super) struct Claims(Mutex<HashMap<String, String>>);

impl Claims {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_claimed(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// The serial of the issuance that holds `key`, if one does.
    pub(super) fn holder(&self, key: &str) -> Option<String> {
        self.lock().get(key).cloned()
    }

    /// Claims every key for the issuance of `serial`, or none if one is
    /// taken (returns that key and its holder's serial).
    pub(super) fn claim_all(&self, keys: &[String], serial: &str) -> Result<(), (String, String)> {
        let mut held = self.lock();
        if let Some((k, by)) = keys.iter().find_map(|k| held.get(k).map(|by| (k, by))) {
            return Err((k.clone(), by.clone()));
        }
        held.extend(keys.iter().map(|k| (k.clone(), serial.to_string())));
        Ok(())
    }

    fn release(&self, keys: &[String]) {
        let mut held = self.lock();
        for k in keys {
            held.remove(k);
        }
    }
}

/// The claim key of a serial.
pub(super) fn serial_key(serial_hex: &str) -> String {
    format!("serial:{serial_hex}")
}

/// The claim key of an invitation.
pub(super) fn invitation_key(kid: &str) -> String {
    format!("invitation:{kid}")
}

/// The claim key of an ACME order.
pub(super) fn order_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

/// The claim key of a certificate being renewed (`lineage.rs`).
pub(super) fn renewal_key(serial_hex: &str) -> String {
    format!("renewal:{serial_hex}")
}

/// Why a claim of `key` (held by the issuance of `holder`) was refused.
pub(super) fn conflict_message(key: &str, holder: &str) -> String {
    match key.strip_prefix("renewal:") {
        Some(old) => super::lineage::being_renewed(old, holder),
        None => format!("{key} is in use"),
    }
}

/// An issuance checked and claimed, not yet recorded: pass it to
/// [`super::Store::record_issuance`] after signing. Dropping it releases
/// the claim (the issuance is abandoned, nothing was written).
pub struct IssuanceClaim {
    pub(super) request: CertRequest,
    pub(super) serial: String,
    pub(super) link: RequestLink,
    pub(super) keys: Vec<String>,
    pub(super) claims: Arc<Claims>,
    /// The flush this issuance will ask for (group commit, `flush.rs`).
    pub(super) flush: Option<FlushIntent>,
}

impl IssuanceClaim {
    /// The reserved serial (hex).
    pub fn serial(&self) -> &str {
        &self.serial
    }
}

impl std::fmt::Debug for IssuanceClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuanceClaim")
            .field("request", &self.request.id)
            .field("serial", &self.serial)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Drop for IssuanceClaim {
    fn drop(&mut self) {
        self.claims.release(&self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_claimed_all_or_none_and_released() {
        let c = Claims::default();
        c.claim_all(&["a".into(), "b".into()], "s1").unwrap();
        assert_eq!(
            c.claim_all(&["c".into(), "b".into()], "s2"),
            Err(("b".into(), "s1".into()))
        );
        assert!(!c.is_claimed("c"), "a refused claim must not keep any key");
        assert_eq!(c.holder("a").as_deref(), Some("s1"));
        c.release(&["a".into(), "b".into()]);
        c.claim_all(&["b".into()], "s3").unwrap();
        assert!(c.is_claimed("b") && !c.is_claimed("a"));
    }
}
