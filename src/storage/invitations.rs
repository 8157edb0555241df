//! Invitations: created, mailed, redeemed once, revoked, expired.

use time::OffsetDateTime;

use super::model::{AuditEvent, Invitation, InvitationState};
use super::tx::{reject, Tx, TxResult};
use super::{Result, Store, Table};

impl Store {
    pub fn create_invitation(&self, inv: &Invitation, audit: &AuditEvent) -> Result<()> {
        self.transact_on(&[Table::Invitations], |tx| {
            tx.insert_new(Table::Invitations, &inv.kid, inv)?;
            tx.audit(audit)?;
            Ok(())
        })
    }

    pub fn get_invitation(&self, kid: &str) -> Result<Option<Invitation>> {
        self.get(Table::Invitations, kid)
    }

    pub fn list_invitations(&self) -> Result<Vec<Invitation>> {
        self.scan(Table::Invitations)
    }

    /// Revokes an unredeemed invitation.
    pub fn revoke_invitation(
        &self,
        kid: &str,
        now: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Invitation> {
        self.transact_on(&[Table::Invitations], |tx| {
            let mut inv: Invitation = tx.need(Table::Invitations, "invitation", kid)?;
            match inv.state {
                InvitationState::Revoked => return Err(reject("invitation is already revoked")),
                InvitationState::Redeemed => return Err(reject(
                    "invitation was already redeemed; revoke the account or certificates instead",
                )),
                InvitationState::Sent => {}
            }
            inv.state = InvitationState::Revoked;
            inv.revoked_at = Some(now);
            tx.put(Table::Invitations, kid, &inv)?;
            tx.audit(audit)?;
            Ok(inv)
        })
    }

    /// Redeems an invitation on its own (EST first enrollment).
    pub fn redeem_invitation(
        &self,
        kid: &str,
        now: OffsetDateTime,
        redeemed_by: &str,
        audit: &AuditEvent,
    ) -> Result<Invitation> {
        self.transact_on(&[Table::Invitations], |tx| {
            let inv = redeem_in(tx, kid, now, redeemed_by)?;
            tx.audit(audit)?;
            Ok(inv)
        })
    }
}

/// Redeems invitation `kid` inside a larger transaction (e.g. together with
/// creating the ACME account it binds). Fails unless it is unredeemed,
/// unrevoked and unexpired at `now`.
pub fn redeem_in(
    tx: &Tx<'_>,
    kid: &str,
    now: OffsetDateTime,
    redeemed_by: &str,
) -> TxResult<Invitation> {
    let Some(mut inv) = tx.get::<Invitation>(Table::Invitations, kid)? else {
        return Err(reject("unknown invitation key identifier"));
    };
    match inv.status(now) {
        // an issuance in progress will redeem it (`claims.rs`)
        "sent" if tx.claimed_elsewhere(&super::claims::invitation_key(kid)) => {
            return Err(reject("invitation has already been used"))
        }
        "sent" => {}
        "redeemed" => return Err(reject("invitation has already been used")),
        "revoked" => return Err(reject("invitation has been revoked")),
        _ => return Err(reject("invitation has expired")),
    }
    inv.state = InvitationState::Redeemed;
    inv.redeemed_at = Some(now);
    inv.redeemed_by = Some(redeemed_by.to_string());
    tx.put(Table::Invitations, kid, &inv)?;
    Ok(inv)
}
