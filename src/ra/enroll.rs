//! Enrollment: the one policy path every front end (ACME, EST, admin) uses.
//! Parse and check the CSR, pick the profile, check key type, term and
//! attestation, then either park the request for approval or issue it.

use aws_lc_rs::digest;
use base64::Engine;
use serde_json::json;
use time::Duration;

use super::{Ra, RaError};
use crate::ca::{IssuanceRequest, Serial, SubjectInfo, Template, MAX_VALIDITY_DAYS};
use crate::csr::{Csr, KeyKind};
use crate::storage::model::{
    CertRequest, CertificateRecord, EndpointAccount, Lineage, Organization, Profile, RequestStatus,
};
use crate::storage::{new_id, IssuanceClaim, RequestLink, StorageError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A request for a certificate, as a front end hands it to the RA.
#[derive(Debug, Clone)]
pub struct EnrollmentRequest {
    /// Endpoint account (id or name).
    pub account: String,
    /// Profile (id or name); default: the account's first profile.
    pub profile: Option<String>,
    /// The (already authorized) email address for the SAN.
    pub email: String,
    /// The CSR, PEM or DER.
    pub csr: Vec<u8>,
    /// Requested term in days; default: the profile's longest term.
    pub term_days: Option<u32>,
    /// Key attestation evidence (JSON) sent beside the CSR, if any.
    pub attestation: Option<serde_json::Value>,
    /// Who asks: `admin:<token id>`, `acme:<account>`, `est:<kid>`.
    pub requester: String,
    /// The protocol record (ACME order, EST binding) stored in the same
    /// transaction as the request or its certificate.
    pub link: RequestLink,
    /// The id the request gets (default: a new one), so a front end can
    /// recognize its own request afterwards.
    pub request_id: Option<String>,
    /// The certificate (serial) this request renews: EST simplereenroll,
    /// ACME `replaces` (a certificate renews once, `storage/lineage.rs`).
    pub renews: Option<String>,
}

/// What came of an enrollment.
#[derive(Debug, Clone)]
pub enum EnrollmentOutcome {
    /// Issued and durable in the store.
    Issued(CertificateRecord),
    /// Waiting for an administrator (status applied).
    Pending(CertRequest),
}

/// The profile key-type name of a CSR key: exactly `rsa-3072` (RSA-3072),
/// `rsa-4096` (RSA-4096), `ecdsa-p256`, `ecdsa-p384` or `ecdsa-p521` (CS BR
/// 6.1.5); None for any other key.
pub(crate) fn key_type_name(key: &KeyKind) -> Option<&'static str> {
    match key {
        KeyKind::Rsa { bits: 3072 } => Some("rsa-3072"),
        KeyKind::Rsa { bits: 4096 } => Some("rsa-4096"),
        KeyKind::EcP256 => Some("ecdsa-p256"),
        KeyKind::EcP384 => Some("ecdsa-p384"),
        KeyKind::EcP521 => Some("ecdsa-p521"),
        _ => None,
    }
}

/// Whether `profile` allows the CSR key: its key type must be listed exactly
/// (a profile allowing `rsa-3072` issues RSA-3072 only, not RSA-4096 or
/// RSA-8192). The refusal names the key type and the allowed ones.
fn key_allowed(key: &KeyKind, profile: &Profile) -> Result<(), RaError> {
    let allowed = profile.key_types.join(", ");
    match key_type_name(key) {
        Some(name) if profile.key_types.iter().any(|k| k == name) => Ok(()),
        Some(name) => Err(RaError::BadPublicKey(format!(
            "profile {:?} does not allow {key} keys ({name}; allowed: {allowed})",
            profile.name
        ))),
        None => Err(RaError::BadPublicKey(format!(
            "{key} keys are not accepted; profile {:?} allows {allowed} \
             (RSA exactly 3072 or 4096 bits, ECDSA P-256/P-384/P-521)",
            profile.name
        ))),
    }
}

/// The certificate subject of `org` (department `ou`) under `profile`, or why
/// the organization cannot be the subject: the CS BRs (7.1.4.2.2) need its
/// city or state; an EV profile needs an EV-validated organization with
/// businessCategory, jurisdictionCountryName and a registration number (EV
/// Guidelines 9.2). The EV attributes appear in EV certificates only.
pub(crate) fn subject_for(
    org: &Organization,
    ou: Option<String>,
    profile: &Profile,
) -> Result<SubjectInfo, RaError> {
    // An organization stored before the subject rules existed is refused
    // here rather than by the CA core (which checks them again).
    super::subject_rules::check_organization(org)
        .and_then(|()| super::subject_rules::check_ou(ou.as_deref()))
        .map_err(|e| {
            RaError::Policy(format!(
                "organization {:?} cannot be a certificate subject: {e} (CS BR 7.1.4.2)",
                org.name
            ))
        })?;
    if org.city.is_none() && org.state.is_none() {
        return Err(RaError::Policy(format!(
            "organization {:?} has neither a city nor a state; the certificate subject needs one (CS BR 7.1.4.2.2)",
            org.name
        )));
    }
    let ev = profile.template == Template::Ev;
    if ev {
        if org.validation != Template::Ev {
            return Err(RaError::Policy(format!(
                "profile {:?} issues EV certificates but organization {:?} is not EV-validated",
                profile.name, org.name
            )));
        }
        let missing: Vec<&str> = [
            ("business_category", &org.business_category),
            ("jurisdiction_country", &org.jurisdiction_country),
            ("registration_number", &org.registration_number),
        ]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
        if !missing.is_empty() {
            return Err(RaError::Policy(format!(
                "profile {:?} issues EV certificates but organization {:?} lacks {} (EV Guidelines 9.2)",
                profile.name,
                org.name,
                missing.join(", ")
            )));
        }
    }
    let ev_only = |v: &Option<String>| if ev { v.clone() } else { None };
    Ok(SubjectInfo {
        common_name: org.name.clone(),
        organization: org.name.clone(),
        organizational_unit: ou,
        locality: org.city.clone(),
        state: org.state.clone(),
        country: org.country.clone(),
        business_category: ev_only(&org.business_category),
        jurisdiction_country: ev_only(&org.jurisdiction_country),
        jurisdiction_state: ev_only(&org.jurisdiction_state),
        jurisdiction_locality: ev_only(&org.jurisdiction_locality),
        registration_number: ev_only(&org.registration_number),
    })
}

pub(crate) fn spki_sha256(spki: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, spki).as_ref())
}

impl Ra {
    /// Runs the enrollment policy and issues (or parks) the certificate.
    /// Every outcome is counted in `signet_issuances_total` (issued ones in
    /// `Ra::issue_request`).
    pub fn enroll(&self, req: &EnrollmentRequest) -> Result<EnrollmentOutcome, RaError> {
        match Csr::parse(&req.csr) {
            Ok(csr) => self.enroll_parsed(req, &csr),
            Err(e) => self.enroll_counted(req, Err(RaError::BadCsr(e.to_string()))),
        }
    }

    /// [`Ra::enroll`] for a front end that already parsed (and verified)
    /// `req.csr` as `csr`: the proof of possession is checked once.
    pub fn enroll_parsed(
        &self,
        req: &EnrollmentRequest,
        csr: &Csr,
    ) -> Result<EnrollmentOutcome, RaError> {
        let result = self.enroll_decided(req, csr);
        self.enroll_counted(req, result)
    }

    fn enroll_counted(
        &self,
        req: &EnrollmentRequest,
        result: Result<EnrollmentOutcome, RaError>,
    ) -> Result<EnrollmentOutcome, RaError> {
        let protocol = protocol_of(&req.requester);
        match &result {
            Ok(EnrollmentOutcome::Issued(_)) => {}
            Ok(EnrollmentOutcome::Pending(r)) => {
                let profile = self.profile_label(Some(&r.profile_id));
                self.metrics
                    .issuance(&profile, protocol, "pending_approval");
            }
            Err(e) => {
                let outcome = match e {
                    RaError::Storage(_) | RaError::Ca(_) | RaError::Mail(_) => "failed",
                    _ => "rejected",
                };
                let profile = self.profile_label(req.profile.as_deref());
                self.metrics.issuance(&profile, protocol, outcome);
                if outcome == "rejected" {
                    self.audit_refusal(req, &profile, e);
                }
            }
        }
        result
    }

    /// The `profile` label: a known profile's name, "default" when none was
    /// asked for, "unknown" otherwise (never the client's string).
    fn profile_label(&self, wanted: Option<&str>) -> String {
        match wanted {
            None => "default".into(),
            Some(p) => match self.store.find_profile(p) {
                Ok(Some(prof)) => prof.name,
                _ => "unknown".into(),
            },
        }
    }

    fn enroll_decided(
        &self,
        req: &EnrollmentRequest,
        csr: &Csr,
    ) -> Result<EnrollmentOutcome, RaError> {
        let account = self.account_ref("account", &req.account)?;
        let profile = self.pick_profile(&account.profile_ids, req.profile.as_deref())?;
        subject_for(
            &self.organization(&account.organization_id)?,
            None,
            &profile,
        )?;
        key_allowed(&csr.key, &profile)?;
        self.refuse_weak_key(&csr.spki_der)?;
        self.refuse_acme_account_key(csr, &req.requester)?;
        let term = self.pick_term(&profile, req.term_days)?;
        let attestation =
            self.check_attestation(&profile, csr, req.attestation.as_ref(), &req.requester)?;

        let request = CertRequest {
            id: req.request_id.clone().unwrap_or_else(|| new_id("req")),
            status: RequestStatus::Applied,
            account_id: account.id.clone(),
            profile_id: profile.id.clone(),
            email: req.email.clone(),
            csr: B64.encode(&csr.der),
            term_days: term,
            requester: req.requester.clone(),
            created_at: self.clock.now(),
            decided_by: None,
            message: None,
            serial: None,
            attestation,
            renews: req.renews.clone(),
        };
        if profile.requires_approval || !account.auto_approve {
            let ev = self.event(
                &req.requester,
                "request.applied",
                json!({"request": request.id, "profile": profile.id, "email": request.email}),
            );
            self.store
                .create_request(&request, &req.link, &ev)
                .map_err(RaError::from_store)?;
            self.notify_admins(
                "A code-signing certificate request needs approval",
                format!(
                    "Request {} for {} (profile {}, account {}) waits for approval.\n\n  signet admin request approve {}\n  signet admin request decline {} --reason \"...\"\n",
                    request.id, request.email, profile.name, account.name, request.id, request.id
                ),
            );
            return Ok(EnrollmentOutcome::Pending(request));
        }
        self.issue_request(&request, csr, &account, &profile, &req.link)
            .map(EnrollmentOutcome::Issued)
    }

    /// The profile a request uses: `wanted` (name or id) if it is among
    /// `allowed` (profile ids), else the first allowed profile.
    pub(crate) fn pick_profile(
        &self,
        allowed: &[String],
        wanted: Option<&str>,
    ) -> Result<Profile, RaError> {
        match wanted {
            Some(p) => {
                let prof = self
                    .store
                    .find_profile(p)?
                    .ok_or_else(|| RaError::Policy(format!("there is no profile {p:?}")))?;
                if !allowed.contains(&prof.id) {
                    return Err(RaError::Policy(format!(
                        "profile {:?} is not allowed for this account",
                        prof.name
                    )));
                }
                Ok(prof)
            }
            None => {
                let id = allowed
                    .first()
                    .ok_or_else(|| RaError::Policy("the account allows no profile".into()))?;
                self.store
                    .find_profile(id)?
                    .ok_or_else(|| RaError::NotFound(format!("profile {id:?}")))
            }
        }
    }

    fn pick_term(&self, profile: &Profile, wanted: Option<u32>) -> Result<u32, RaError> {
        let max = profile.terms_days.iter().copied().max().unwrap_or(0);
        match wanted {
            None => Ok(max),
            Some(t) if i64::from(t) > MAX_VALIDITY_DAYS => Err(RaError::Policy(format!(
                "a term of {t} days exceeds the CS BR maximum of {MAX_VALIDITY_DAYS} days"
            ))),
            Some(t) if t > max => Err(RaError::Policy(format!(
                "a term of {t} days exceeds profile {:?}'s maximum of {max} days",
                profile.name
            ))),
            Some(0) => Err(RaError::Policy("a term must be at least one day".into())),
            Some(t) => Ok(t),
        }
    }

    /// Decides on key attestation for `profile`: evidence sent beside the CSR
    /// (JSON object, or a PEM bundle as a string) or, failing that, evidence
    /// inside the CSR. Returns the verified facts to record; a refusal is audited.
    fn check_attestation(
        &self,
        profile: &Profile,
        csr: &Csr,
        evidence: Option<&serde_json::Value>,
        requester: &str,
    ) -> Result<Option<serde_json::Value>, RaError> {
        use crate::va::attestation::{evidence_from_csr, Evidence};
        let refuse = |reason: String| {
            let ev = self.event(
                requester,
                "attestation.refused",
                json!({"profile": profile.id, "reason": reason}),
            );
            if let Err(e) = self.store.append_audit(&ev) {
                tracing::error!(error = %e, "audit record for an attestation refusal failed");
            }
            RaError::BadAttestation(reason)
        };
        let evidence = match evidence {
            Some(serde_json::Value::String(text)) => Some(
                Evidence::from_file_bytes(text.as_bytes())
                    .map_err(|e| refuse(format!("attestation is malformed: {e}")))?,
            ),
            Some(v) => Some(
                Evidence::from_json(v.to_string().as_bytes())
                    .map_err(|e| refuse(format!("attestation is malformed: {e}")))?,
            ),
            None => evidence_from_csr(csr),
        };
        let format = evidence.as_ref().map_or("none", |e| e.format.as_str());
        let facts = super::attestation::decide(
            &profile.attestation,
            &csr.spki_der,
            evidence.as_ref(),
            self.attestation_trust(),
            self.clock.now(),
        )
        .map_err(|r| {
            self.metrics.attestation_verdict(format, "refused");
            refuse(format!("{} ({})", r, r.code()))
        })?;
        self.metrics
            .attestation_verdict(format, if facts.is_some() { "accepted" } else { "none" });
        Ok(facts.map(|f| serde_json::to_value(&f).unwrap_or_default()))
    }

    /// Issues a decided request: checks and claims the serial and the
    /// link's intent, signs, then records intent and certificate in one
    /// change set, durably, before returning it.
    pub(crate) fn issue_request(
        &self,
        request: &CertRequest,
        csr: &Csr,
        account: &EndpointAccount,
        profile: &Profile,
        link: &RequestLink,
    ) -> Result<CertificateRecord, RaError> {
        let org = self.organization(&account.organization_id)?;
        let ou = match &account.department_id {
            Some(d) => self.store.get_department(d)?.map(|d| d.name),
            None => None,
        };
        let subject = subject_for(&org, ou, profile)?;
        // the claim announces record_issuance's flush (group commit)
        let (serial, claim) = self.claim_serial(request, link)?;
        let now = self.clock.now();
        let issuance = IssuanceRequest {
            serial,
            subject,
            email: request.email.clone(),
            spki_der: csr.spki_der.clone(),
            template: profile.template,
            not_before: now,
            // inclusive validity (CS BR 1.6.1): a term of N days ends 1 s
            // before notBefore + N days
            not_after: now + Duration::days(i64::from(request.term_days)) - Duration::SECOND,
        };
        let der = self.signer.issue(issuance.clone())?;
        let record = CertificateRecord {
            serial: serial.to_hex(),
            der: B64.encode(&der),
            request_id: request.id.clone(),
            account_id: account.id.clone(),
            profile_id: profile.id.clone(),
            email: request.email.clone(),
            subject: subject_line(&issuance.subject),
            spki_sha256: spki_sha256(&csr.spki_der),
            not_before: issuance.not_before,
            not_after: issuance.not_after,
            issued_at: now,
            requester: request.requester.clone(),
            revocation: None,
            attestation: request.attestation.clone(),
            lineage: Lineage {
                renews: request.renews.clone(),
                ..Lineage::default()
            },
        };
        let ev = self.event(
            &request.requester,
            "certificate.issue",
            json!({"serial": record.serial, "request": request.id, "profile": profile.id,
                   "email": record.email, "attestation": record.attestation,
                   "renews": record.lineage.renews}),
        );
        self.record_signed(claim, &record, &ev)?;
        if record.lineage.renews.is_some() {
            // the renewed certificate is superseded after the grace period
            self.wake_duties();
        }
        self.metrics
            .issuance(&profile.name, protocol_of(&request.requester), "issued");
        self.notify(
            &record.email,
            "Your code-signing certificate has been issued",
            format!(
                "Certificate {} for {} was issued ({}), valid until {}.\nDownload it with the client that requested it (ACME certificate URL or EST response).\n",
                record.serial, record.email, record.subject, record.not_after
            ),
        );
        Ok(record)
    }

    /// Records a signed certificate under its claim. If that fails (the
    /// link's intent stopped holding meanwhile, or the store failed) the
    /// certificate is never handed out, and the audit log says it was
    /// signed and discarded.
    pub(crate) fn record_signed(
        &self,
        claim: IssuanceClaim,
        record: &CertificateRecord,
        ev: &crate::storage::model::AuditEvent,
    ) -> Result<(), RaError> {
        let Err(e) = self.store.record_issuance(claim, record, ev) else {
            return Ok(());
        };
        let discarded = self.event(
            &record.requester,
            "certificate.discard",
            json!({"serial": record.serial, "request": record.request_id, "reason": e.to_string()}),
        );
        if let Err(audit) = self.store.append_audit(&discarded) {
            tracing::error!(serial = %record.serial, error = %audit, "audit record for a discarded certificate failed");
        }
        Err(RaError::from_store(e))
    }

    /// A fresh random serial, claimed with the request's link until the
    /// certificate is recorded (`storage/claims.rs`).
    fn claim_serial(
        &self,
        request: &CertRequest,
        link: &RequestLink,
    ) -> Result<(Serial, IssuanceClaim), RaError> {
        for _ in 0..4 {
            let serial = Serial::fresh();
            match self.store.claim_issuance(request, &serial.to_hex(), link) {
                Ok(claim) => return Ok((serial, claim)),
                Err(StorageError::Conflict(m)) if m.starts_with("serial") => continue,
                Err(e) => return Err(RaError::from_store(e)),
            }
        }
        Err(RaError::Conflict("could not reserve a fresh serial".into()))
    }
}

/// The `protocol` label of a requester ("acme:<id>", "est:<kid>", "admin:...").
fn protocol_of(requester: &str) -> &'static str {
    match requester.split(':').next() {
        Some("acme") => "acme",
        Some("est") => "est",
        _ => "admin",
    }
}

fn subject_line(s: &SubjectInfo) -> String {
    let mut parts = vec![format!("CN={}", s.common_name)];
    if let Some(ou) = &s.organizational_unit {
        parts.push(format!("OU={ou}"));
    }
    parts.push(format!("O={}", s.organization));
    if let Some(l) = &s.locality {
        parts.push(format!("L={l}"));
    }
    if let Some(st) = &s.state {
        parts.push(format!("ST={st}"));
    }
    parts.push(format!("C={}", s.country));
    for (name, value) in [
        ("serialNumber", &s.registration_number),
        ("jurisdictionL", &s.jurisdiction_locality),
        ("jurisdictionST", &s.jurisdiction_state),
        ("jurisdictionC", &s.jurisdiction_country),
        ("businessCategory", &s.business_category),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name}={v}"));
        }
    }
    parts.join(", ")
}
