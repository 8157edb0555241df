//! An issuing CA key held in a PKCS#11 token (an HSM; SoftHSM2 in the tests).
//!
//! Configured by `ca.pkcs11_module` (the module's shared library),
//! `ca.pkcs11_token_label`, `ca.pkcs11_key_label` and `ca.pkcs11_pin`, together
//! with `ca.issuer_cert_file` (the certificate stays a file). At load the key
//! is found by label, its public half is compared with the certificate, and a
//! probe signature is verified with the certificate's public key, so a wrong
//! token, key or PIN stops the start with an error that names the setting.
//!
//! Signing: the message is hashed on the host and the token performs the raw
//! private-key operation with the mechanisms every token has: `CKM_ECDSA` over
//! the SHA-256 (P-256) or SHA-384 (P-384) digest, `CKM_RSA_PKCS` over a SHA-256
//! DigestInfo (RSA). SoftHSM2, for one, lacks `CKM_ECDSA_SHA256`. The token
//! returns ECDSA signatures as raw `r || s`; X.509 needs the DER
//! `Ecdsa-Sig-Value`, which [`ecdsa_raw_to_der`] builds. Every signature is
//! verified with the certificate's public key before it is returned.
//!
//! Concurrency: a PKCS#11 session runs one operation at a time, and the CA
//! signs on a pool of threads (`ca/pool.rs`). The key therefore holds one
//! session per pool thread of the default size, each behind its own mutex; a
//! signature takes the first free one.
//! Object handles and the login are shared by all sessions of the process.
//! A session or login the token loses (HSM restart, another application's
//! `C_Logout`) is replaced on the next signature: new session, login again,
//! key looked up again by label if its handle went stale.
//!
//! One module is loaded and initialized (`C_Initialize`) once per process and
//! kept for the process's lifetime, so that several CAs (tests) can share it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

use aws_lc_rs::digest;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use super::CaError;
use crate::config::Secret;
use crate::csr::KeyKind;

/// Where the key lives, from the `[ca]` table.
pub(crate) struct Settings<'a> {
    pub module: &'a str,
    pub token_label: &'a str,
    pub key_label: &'a str,
    pub pin: &'a Secret,
}

/// What the token computes for one signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// CKM_ECDSA over SHA-256, r||s of 32-byte halves.
    EcdsaP256,
    /// CKM_ECDSA over SHA-384, r||s of 48-byte halves.
    EcdsaP384,
    /// CKM_RSA_PKCS over a SHA-256 DigestInfo.
    RsaSha256,
}

impl Scheme {
    fn verification_algorithm(self) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        use aws_lc_rs::signature;
        match self {
            Scheme::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            Scheme::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
            Scheme::RsaSha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }

    fn rcgen_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Scheme::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Scheme::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Scheme::RsaSha256 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

/// DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2, note 1).
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The issuing CA's private key in a PKCS#11 token.
pub(crate) struct Pkcs11Key {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    /// The private key object; found again by label if the token forgets it.
    key: RwLock<ObjectHandle>,
    /// What reopening a lost session needs.
    ctx: Pkcs11,
    slot: Slot,
    token_label: String,
    key_label: String,
    pin: Secret,
    scheme: Scheme,
    /// subjectPublicKey bits of the issuing CA certificate.
    public_key: Vec<u8>,
    /// The same key, ready to verify what the token returns.
    verify_key: aws_lc_rs::signature::ParsedPublicKey,
    /// "key \"label\" on token \"label\"", for messages.
    name: String,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("key", &self.name)
            .field("scheme", &self.scheme)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

/// A short form of a PKCS#11 error ("C_Login: PinIncorrect").
fn ck(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

/// The process-wide initialized context of the module at `path`.
fn context(path: &Path) -> Result<Pkcs11, CaError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        CaError::Config(format!(
            "ca.pkcs11_module: cannot load the PKCS#11 module {}: {e}",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(CaError::Config(format!(
                "ca.pkcs11_module: initializing {} failed: {}",
                path.display(),
                ck(&e)
            )))
        }
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

impl Pkcs11Key {
    /// Opens the key named by `settings` for the issuing CA certificate `cert_der`.
    pub(crate) fn open(settings: &Settings<'_>, cert_der: &[u8]) -> Result<Pkcs11Key, CaError> {
        let (_, cert) = X509Certificate::from_der(cert_der)
            .map_err(|e| CaError::Io(format!("invalid issuing CA certificate: {e}")))?;
        let scheme = match crate::csr::key_kind(cert.public_key()) {
            KeyKind::EcP256 => Scheme::EcdsaP256,
            KeyKind::EcP384 => Scheme::EcdsaP384,
            KeyKind::Rsa { bits } if bits >= 3072 => Scheme::RsaSha256,
            KeyKind::Rsa { bits } => {
                return Err(CaError::Config(format!(
                    "ca.issuer_cert_file: RSA-{bits} CA keys are below the Code Signing BR minimum of 3072 bits"
                )))
            }
            other => {
                return Err(CaError::Config(format!(
                    "ca.issuer_cert_file: CA key type {other} is not supported (P-256, P-384 or RSA)"
                )))
            }
        };
        let module = Path::new(settings.module);
        let ctx = context(module)?;
        let slot = find_token(&ctx, module, settings.token_label)?;
        let name = format!(
            "key {:?} on token {:?}",
            settings.key_label, settings.token_label
        );

        let first = ctx.open_ro_session(slot).map_err(|e| {
            CaError::Config(format!(
                "ca.pkcs11_token_label: cannot open a session on token {:?}: {}",
                settings.token_label,
                ck(&e)
            ))
        })?;
        login(&first, settings.token_label, settings.pin)?;

        let key = find_private_key(&first, settings.token_label, settings.key_label)?;
        check_public_key(&first, key, &cert, scheme, settings, &name)?;

        let wanted = super::pool::worker_count(0).clamp(1, 64);
        let mut sessions = vec![Mutex::new(first)];
        while sessions.len() < wanted {
            match ctx.open_ro_session(slot) {
                Ok(s) => sessions.push(Mutex::new(s)),
                // A token with a session limit: sign with what it grants.
                Err(e) => {
                    tracing::warn!(
                        sessions = sessions.len(),
                        error = %ck(&e),
                        "PKCS#11 token refused more sessions; signatures will queue"
                    );
                    break;
                }
            }
        }
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        let verify_key = aws_lc_rs::signature::ParsedPublicKey::new(
            scheme.verification_algorithm(),
            &public_key,
        )
        .map_err(|e| CaError::Config(format!("ca.issuer_cert_file: public key: {e}")))?;
        let pkcs11_key = Pkcs11Key {
            sessions,
            next: AtomicUsize::new(0),
            key: RwLock::new(key),
            ctx,
            slot,
            token_label: settings.token_label.to_string(),
            key_label: settings.key_label.to_string(),
            pin: settings.pin.clone(),
            scheme,
            public_key,
            verify_key,
            name,
        };
        pkcs11_key.probe(&cert)?;
        tracing::info!(
            module = %module.display(),
            token = settings.token_label,
            key = settings.key_label,
            sessions = pkcs11_key.sessions.len(),
            "issuing CA key in a PKCS#11 token"
        );
        Ok(pkcs11_key)
    }

    /// Signs a random message and verifies it with the certificate's public
    /// key: proves that the token key is the certificate's key.
    fn probe(&self, cert: &X509Certificate<'_>) -> Result<(), CaError> {
        let mut msg = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut msg);
        let sig = self.token_sign(&msg)?;
        if self.verify_key.verify_sig(&msg, &sig).is_err() {
            return Err(CaError::Config(format!(
                "ca.pkcs11_key_label: the {} does not belong to the certificate {} \
                 (ca.issuer_cert_file): a probe signature does not verify",
                self.name,
                cert.subject()
            )));
        }
        Ok(())
    }

    /// Signs `msg` (hashing it here), returning the X.509 signature value.
    ///
    /// Every signature the token returns is verified with the certificate's
    /// public key before it leaves here: a token's fault behaviour is unknown,
    /// and next to a token round trip the verification is cheap.
    pub(crate) fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, CaError> {
        let sig = self.token_sign(msg)?;
        if self.verify_key.verify_sig(msg, &sig).is_err() {
            return Err(CaError::Signing(format!(
                "PKCS#11 {}: the token returned a signature that does not verify with the \
                 issuing CA certificate's public key",
                self.name
            )));
        }
        Ok(sig)
    }

    /// The token's signature over `msg`, DER-encoded for X.509, not yet verified.
    fn token_sign(&self, msg: &[u8]) -> Result<Vec<u8>, CaError> {
        let (mechanism, input) = match self.scheme {
            Scheme::EcdsaP256 => (
                Mechanism::Ecdsa,
                digest::digest(&digest::SHA256, msg).as_ref().to_vec(),
            ),
            Scheme::EcdsaP384 => (
                Mechanism::Ecdsa,
                digest::digest(&digest::SHA384, msg).as_ref().to_vec(),
            ),
            Scheme::RsaSha256 => {
                let mut info = SHA256_DIGEST_INFO_PREFIX.to_vec();
                info.extend_from_slice(digest::digest(&digest::SHA256, msg).as_ref());
                (Mechanism::RsaPkcs, info)
            }
        };
        let raw = self.with_session(|session| self.sign_recovering(session, &mechanism, &input))?;
        match self.scheme {
            Scheme::EcdsaP256 | Scheme::EcdsaP384 => ecdsa_raw_to_der(&raw).map_err(|why| {
                CaError::Signing(format!("PKCS#11 {}: ECDSA signature: {why}", self.name))
            }),
            Scheme::RsaSha256 => Ok(raw),
        }
    }

    /// Signs on `session`; a session the token has lost (closed, logged out,
    /// token reinserted) is replaced by a fresh logged-in one, and a key handle
    /// the token no longer knows is looked up again by label, then retried.
    fn sign_recovering(
        &self,
        session: &mut Session,
        mechanism: &Mechanism<'_>,
        input: &[u8],
    ) -> Result<Vec<u8>, CaError> {
        let failed = |e: &CkError| CaError::Signing(format!("PKCS#11 {}: {}", self.name, ck(e)));
        let mut attempts = 0;
        loop {
            let key = *self.key.read().unwrap_or_else(|p| p.into_inner());
            let err = match session.sign(mechanism, key, input) {
                Ok(raw) => return Ok(raw),
                Err(e) => e,
            };
            attempts += 1;
            if attempts > 2 {
                return Err(failed(&err));
            }
            match &err {
                CkError::Pkcs11(
                    RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::UserNotLoggedIn
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent,
                    _,
                ) => {
                    tracing::warn!(
                        key = %self.name,
                        error = %ck(&err),
                        "PKCS#11 session lost; opening a new one"
                    );
                    let fresh = self
                        .ctx
                        .open_ro_session(self.slot)
                        .map_err(|e| failed(&e))?;
                    login(&fresh, &self.token_label, &self.pin)?;
                    *session = fresh;
                }
                CkError::Pkcs11(RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid, _) => {
                    tracing::warn!(
                        key = %self.name,
                        error = %ck(&err),
                        "PKCS#11 key handle no longer valid; logging in and looking the key up again"
                    );
                    // Private objects vanish from a logged-out session (SoftHSM2
                    // then reports the handle as invalid).
                    login(session, &self.token_label, &self.pin)?;
                    let found = find_private_key(session, &self.token_label, &self.key_label)?;
                    *self.key.write().unwrap_or_else(|p| p.into_inner()) = found;
                }
                _ => return Err(failed(&err)),
            }
        }
    }

    /// Runs `f` on a free session (or waits for one).
    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(mut s) = self.sessions[(start + i) % n].try_lock() {
                return f(&mut s);
            }
        }
        let mut s = self.sessions[start]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }
}

impl rcgen::PublicKeyData for Pkcs11Key {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.scheme.rcgen_algorithm()
    }
}

impl rcgen::SigningKey for Pkcs11Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_message(msg).map_err(|e| {
            // rcgen's error carries no text: say here what failed.
            tracing::error!(error = %e, "PKCS#11 signature failed");
            rcgen::Error::RemoteKeyError
        })
    }
}

/// Logs the user in (the login is per process and token: a CA loaded
/// earlier, or another session, may already hold it).
fn login(session: &Session, token_label: &str, pin: &Secret) -> Result<(), CaError> {
    let pin = AuthPin::from(pin.expose());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(rv @ (RvError::PinIncorrect | RvError::PinLenRange), _)) => {
            return Err(CaError::Config(format!(
                "ca.pkcs11_pin: token {:?} rejected the PIN ({rv:?})",
                token_label
            )))
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(CaError::Config(format!(
                "ca.pkcs11_pin: the user PIN of token {:?} is locked",
                token_label
            )))
        }
        Err(e) => {
            return Err(CaError::Config(format!(
                "ca.pkcs11_pin: login to token {:?} failed: {}",
                token_label,
                ck(&e)
            )))
        }
    }
    Ok(())
}

fn find_token(ctx: &Pkcs11, module: &Path, label: &str) -> Result<Slot, CaError> {
    let slots = ctx.get_slots_with_token().map_err(|e| {
        CaError::Config(format!(
            "ca.pkcs11_module: listing the tokens of {} failed: {}",
            module.display(),
            ck(&e)
        ))
    })?;
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let found = info.label().trim_end();
        if found == label.trim_end() {
            return Ok(slot);
        }
        if info.token_initialized() {
            seen.push(format!("{found:?}"));
        }
    }
    Err(CaError::Config(format!(
        "ca.pkcs11_token_label: no token labelled {label:?} in {} (tokens: {})",
        module.display(),
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

fn find_private_key(
    session: &Session,
    token_label: &str,
    key_label: &str,
) -> Result<ObjectHandle, CaError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ])
        .map_err(|e| {
            CaError::Config(format!(
                "ca.pkcs11_key_label: searching token {:?} failed: {}",
                token_label,
                ck(&e)
            ))
        })?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(CaError::Config(format!(
            "ca.pkcs11_key_label: no private key labelled {:?} on token {:?}",
            key_label, token_label
        ))),
        more => Err(CaError::Config(format!(
            "ca.pkcs11_key_label: {} private keys are labelled {:?} on token {:?}; labels must be unique",
            more.len(),
            key_label,
            token_label
        ))),
    }
}

/// Compares the token's public key (the RSA modulus, or the EC point of the
/// public-key object paired by CKA_ID or label) with the certificate's.
fn check_public_key(
    session: &Session,
    key: ObjectHandle,
    cert: &X509Certificate<'_>,
    scheme: Scheme,
    settings: &Settings<'_>,
    name: &str,
) -> Result<(), CaError> {
    let mismatch = |why: &str| {
        CaError::Config(format!(
            "ca.pkcs11_key_label: the {name} does not belong to the certificate {} \
             (ca.issuer_cert_file): {why}",
            cert.subject()
        ))
    };
    let attrs = session
        .get_attributes(key, &[AttributeType::KeyType, AttributeType::Id])
        .map_err(|e| mismatch(&format!("reading the key's attributes: {}", ck(&e))))?;
    let mut key_type = None;
    let mut id = Vec::new();
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Id(v) => id = v,
            _ => {}
        }
    }
    let cert_key = cert
        .public_key()
        .parsed()
        .map_err(|e| mismatch(&format!("certificate public key: {e}")))?;
    match (scheme, key_type) {
        (Scheme::RsaSha256, Some(t)) if t == KeyType::RSA => {
            let PublicKey::RSA(rsa) = cert_key else {
                return Err(mismatch("the certificate key is not RSA"));
            };
            let attrs = session
                .get_attributes(key, &[AttributeType::Modulus])
                .map_err(|e| mismatch(&format!("reading the modulus: {}", ck(&e))))?;
            for a in attrs {
                if let Attribute::Modulus(m) = a {
                    if strip_zeros(&m) != strip_zeros(rsa.modulus) {
                        return Err(mismatch("the RSA moduli differ"));
                    }
                }
            }
            Ok(())
        }
        (Scheme::EcdsaP256 | Scheme::EcdsaP384, Some(t)) if t == KeyType::EC => {
            let point = cert.public_key().subject_public_key.data.as_ref();
            let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
            if id.is_empty() {
                template.push(Attribute::Label(settings.key_label.as_bytes().to_vec()));
            } else {
                template.push(Attribute::Id(id));
            }
            let publics = session
                .find_objects(&template)
                .map_err(|e| mismatch(&format!("searching the public key: {}", ck(&e))))?;
            if publics.is_empty() {
                // No public-key object: the probe signature decides.
                return Ok(());
            }
            for public in publics {
                let attrs = session
                    .get_attributes(public, &[AttributeType::EcPoint])
                    .map_err(|e| mismatch(&format!("reading the EC point: {}", ck(&e))))?;
                for a in attrs {
                    if let Attribute::EcPoint(p) = a {
                        if p == point || unwrap_octet_string(&p) == point {
                            return Ok(());
                        }
                    }
                }
            }
            Err(mismatch("the public keys differ"))
        }
        (_, Some(t)) => Err(mismatch(&format!(
            "the token key is of type {t}, the certificate's is {}",
            match scheme {
                Scheme::RsaSha256 => "RSA",
                Scheme::EcdsaP256 => "EC P-256",
                Scheme::EcdsaP384 => "EC P-384",
            }
        ))),
        (_, None) => Err(mismatch("the token does not report the key type")),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// CKA_EC_POINT is a DER OCTET STRING holding the point (some tokens return the bare point).
fn unwrap_octet_string(p: &[u8]) -> &[u8] {
    match p {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => p,
    }
}

/// Encodes a raw PKCS#11 ECDSA signature (`r || s`, equal halves) as the DER
/// `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` of RFC 3279.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, String> {
    if raw.is_empty() || raw.len() % 2 != 0 || raw.len() > 264 {
        return Err(format!(
            "{} bytes is not an r || s pair of a supported curve",
            raw.len()
        ));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 8);
    for part in [r, s] {
        let trimmed = strip_zeros(part);
        if trimmed.is_empty() {
            return Err("r or s is zero".into());
        }
        let pad = trimmed[0] & 0x80 != 0;
        body.push(0x02);
        push_len(&mut body, trimmed.len() + usize::from(pad));
        if pad {
            body.push(0);
        }
        body.extend_from_slice(trimmed);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_signatures_become_der_that_verifies() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
        let rng = SystemRandom::new();
        for (fixed, asn1) in [
            (
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &signature::ECDSA_P256_SHA256_ASN1,
            ),
            (
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &signature::ECDSA_P384_SHA384_ASN1,
            ),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(fixed, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(fixed, pkcs8.as_ref()).unwrap();
            // enough signatures to hit r or s with the top bit set and with leading zeros
            for i in 0..200u32 {
                let msg = i.to_be_bytes();
                let raw = key.sign(&rng, &msg).unwrap();
                let der = ecdsa_raw_to_der(raw.as_ref()).unwrap();
                signature::UnparsedPublicKey::new(asn1, key.public_key().as_ref())
                    .verify(&msg, &der)
                    .unwrap_or_else(|_| panic!("DER of {} does not verify", hex::encode(&der)));
                // and it is the canonical DER x509-parser / aws-lc accept
                assert_eq!(der[0], 0x30);
                assert_eq!(usize::from(der[1]), der.len() - 2);
            }
        }
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let mut raw = vec![0u8; 64];
        raw[31] = 0x01; // r = 1
        raw[32] = 0x80; // s has the top bit set
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 0x21, 0x00]);
        assert_eq!(der[8], 0x80);
        assert_eq!(der.len(), 2 + 3 + 35);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
        assert!(ecdsa_raw_to_der(&[0u8; 64]).is_err());
        assert!(ecdsa_raw_to_der(&[]).is_err());
    }

    #[test]
    fn ec_points_are_unwrapped_from_their_octet_string() {
        let point = [0x04u8; 65];
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_octet_string(&wrapped), &point);
        let mut long = vec![0x04, 0x81, 97];
        long.extend_from_slice(&[0x04u8; 97]);
        assert_eq!(unwrap_octet_string(&long), &[0x04u8; 97]);
        assert_eq!(unwrap_octet_string(&point), &point);
    }

    #[test]
    fn a_missing_module_is_named() {
        let err = context(Path::new("/nonexistent/libnothing.so")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("ca.pkcs11_module") && msg.contains("/nonexistent/libnothing.so"),
            "{msg}"
        );
    }
}
