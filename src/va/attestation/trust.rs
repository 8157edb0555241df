//! Pinned vendor roots (and the vendor intermediates that devices do not
//! carry), per trust family.
//!
//! The defaults shipped with the project live in `config/attestation-roots/`
//! (see its PROVENANCE file) and are compiled in. An operator may add roots in
//! a configured directory laid out like that folder: one sub-directory per
//! family (`yubikey-piv/`, `yubihsm2/`, `thales-luna/`,
//! `google-cloud-hsm-manufacturer/`, `google-cloud-hsm-owner/`,
//! `fortanix-dsm/`) holding PEM files. A self-issued certificate is a trust
//! anchor (its self-signature is not checked: trust comes from being pinned);
//! any other certificate is a pinned intermediate, usable only if it chains
//! to an anchor of the same family.
//!
//! Yubico preview (engineering-sample) CAs are refused, at load time, from
//! every source.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cert::Cert;
use super::evidence::pem_certificates;

/// A set of anchors serving one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustFamily {
    YubikeyPiv,
    Yubihsm2,
    ThalesLuna,
    /// Marvell/Cavium LiquidSecurity manufacturer root (card certificates).
    GoogleCloudHsmManufacturer,
    /// Google "Hawksbill" owner root (card and partition certificates).
    GoogleCloudHsmOwner,
    FortanixDsm,
}

impl TrustFamily {
    pub const ALL: [TrustFamily; 6] = [
        TrustFamily::YubikeyPiv,
        TrustFamily::Yubihsm2,
        TrustFamily::ThalesLuna,
        TrustFamily::GoogleCloudHsmManufacturer,
        TrustFamily::GoogleCloudHsmOwner,
        TrustFamily::FortanixDsm,
    ];

    /// Directory name under the roots folder.
    pub fn dir_name(self) -> &'static str {
        match self {
            TrustFamily::YubikeyPiv => "yubikey-piv",
            TrustFamily::Yubihsm2 => "yubihsm2",
            TrustFamily::ThalesLuna => "thales-luna",
            TrustFamily::GoogleCloudHsmManufacturer => "google-cloud-hsm-manufacturer",
            TrustFamily::GoogleCloudHsmOwner => "google-cloud-hsm-owner",
            TrustFamily::FortanixDsm => "fortanix-dsm",
        }
    }

    pub fn from_dir_name(name: &str) -> Option<TrustFamily> {
        TrustFamily::ALL.into_iter().find(|f| f.dir_name() == name)
    }
}

impl fmt::Display for TrustFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

/// Why the trust store could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read attestation roots at {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("attestation roots {path}: {reason}")]
    BadFile { path: String, reason: String },
    #[error("attestation roots {path}: unknown trust family directory '{name}' (expected one of: yubikey-piv, yubihsm2, thales-luna, google-cloud-hsm-manufacturer, google-cloud-hsm-owner, fortanix-dsm)")]
    UnknownFamily { path: PathBuf, name: String },
    #[error("attestation roots {path}: certificate files must be inside a trust family directory (e.g. yubikey-piv/)")]
    NotInFamilyDir { path: PathBuf },
    #[error("attestation roots {path}: '{subject}' is a Yubico preview (engineering sample) CA and is never trusted")]
    PreviewCa { path: String, subject: String },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TrustSet {
    pub anchors: Vec<Cert>,
    pub intermediates: Vec<Cert>,
}

/// One pinned certificate, for display (`signet config check`).
#[derive(Debug, Clone, Serialize)]
pub struct PinnedCert {
    pub family: TrustFamily,
    pub anchor: bool,
    pub subject: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub not_after: String,
    pub source: String,
}

/// The pinned roots and intermediates, per family.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    sets: BTreeMap<TrustFamily, TrustSet>,
    pinned: Vec<PinnedCert>,
}

/// The shipped defaults: (family, file name, PEM).
const DEFAULT_ROOTS: &[(TrustFamily, &str, &str)] = &[
    (
        TrustFamily::YubikeyPiv,
        "yubico-piv-root-ca-263751.pem",
        include_str!("../../../config/attestation-roots/yubikey-piv/yubico-piv-root-ca-263751.pem"),
    ),
    (
        TrustFamily::YubikeyPiv,
        "yubico-attestation-root-1.pem",
        include_str!("../../../config/attestation-roots/yubikey-piv/yubico-attestation-root-1.pem"),
    ),
    (
        TrustFamily::YubikeyPiv,
        "yubico-attestation-intermediates-piv.pem",
        include_str!("../../../config/attestation-roots/yubikey-piv/yubico-attestation-intermediates-piv.pem"),
    ),
    (
        TrustFamily::Yubihsm2,
        "yubico-yubihsm-root-ca.pem",
        include_str!("../../../config/attestation-roots/yubihsm2/yubico-yubihsm-root-ca.pem"),
    ),
    (
        TrustFamily::Yubihsm2,
        "yubico-yubihsm-6742036-sub-ca.pem",
        include_str!("../../../config/attestation-roots/yubihsm2/yubico-yubihsm-6742036-sub-ca.pem"),
    ),
    (
        TrustFamily::Yubihsm2,
        "yubico-attestation-root-1.pem",
        include_str!("../../../config/attestation-roots/yubihsm2/yubico-attestation-root-1.pem"),
    ),
    (
        TrustFamily::Yubihsm2,
        "yubico-attestation-intermediates-yubihsm.pem",
        include_str!("../../../config/attestation-roots/yubihsm2/yubico-attestation-intermediates-yubihsm.pem"),
    ),
    (
        TrustFamily::ThalesLuna,
        "chrysalis-its-root.pem",
        include_str!("../../../config/attestation-roots/thales-luna/chrysalis-its-root.pem"),
    ),
    (
        TrustFamily::ThalesLuna,
        "safenet-ecc-manufacturer-integrity-module.pem",
        include_str!("../../../config/attestation-roots/thales-luna/safenet-ecc-manufacturer-integrity-module.pem"),
    ),
    (
        TrustFamily::GoogleCloudHsmManufacturer,
        "marvell-liquidsecurity-root-2024.pem",
        include_str!("../../../config/attestation-roots/google-cloud-hsm-manufacturer/marvell-liquidsecurity-root-2024.pem"),
    ),
    (
        TrustFamily::GoogleCloudHsmOwner,
        "google-hawksbill-root-v1-prod.pem",
        include_str!("../../../config/attestation-roots/google-cloud-hsm-owner/google-hawksbill-root-v1-prod.pem"),
    ),
    (
        TrustFamily::FortanixDsm,
        "fortanix-attestation-provisioning-root-ca.pem",
        include_str!("../../../config/attestation-roots/fortanix-dsm/fortanix-attestation-provisioning-root-ca.pem"),
    ),
];

fn is_yubico_preview(c: &Cert) -> bool {
    let s = c.subject.to_ascii_lowercase();
    s.contains("yubico") && s.contains("preview")
}

impl TrustStore {
    /// An empty store (trusts nothing). Tests build their own stores from it.
    pub fn empty() -> TrustStore {
        TrustStore::default()
    }

    /// The shipped default roots only.
    pub fn defaults() -> Result<TrustStore, TrustError> {
        let mut store = TrustStore::empty();
        for (family, name, pem) in DEFAULT_ROOTS {
            store.add_pem(
                *family,
                pem.as_bytes(),
                &format!("built-in:{}/{name}", family.dir_name()),
            )?;
        }
        Ok(store)
    }

    /// The shipped defaults plus, if given, the operator's directory.
    pub fn load(dir: Option<&Path>) -> Result<TrustStore, TrustError> {
        let mut store = TrustStore::defaults()?;
        if let Some(dir) = dir {
            store.add_dir(dir)?;
        }
        Ok(store)
    }

    /// Adds every PEM file of a roots directory (layout: one sub-directory per
    /// family). Unknown sub-directories and loose files are errors.
    pub fn add_dir(&mut self, dir: &Path) -> Result<usize, TrustError> {
        let io = |path: &Path, e: std::io::Error| TrustError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| io(dir, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        let mut added = 0;
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let ft = entry.file_type().map_err(|e| io(&path, e))?;
            if !ft.is_dir() {
                if name == "PROVENANCE"
                    || name.ends_with(".md")
                    || name.ends_with(".tsv")
                    || name.ends_with(".txt")
                {
                    continue;
                }
                return Err(TrustError::NotInFamilyDir { path });
            }
            let family =
                TrustFamily::from_dir_name(&name).ok_or_else(|| TrustError::UnknownFamily {
                    path: path.clone(),
                    name: name.clone(),
                })?;
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .map_err(|e| io(&path, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| io(&path, e))?;
            files.sort_by_key(|e| e.file_name());
            for f in files {
                let fpath = f.path();
                let fname = f.file_name().to_string_lossy().into_owned();
                if fname.starts_with('.') || !f.file_type().map_err(|e| io(&fpath, e))?.is_file() {
                    continue;
                }
                let ext_ok = [".pem", ".crt", ".cer"]
                    .iter()
                    .any(|x| fname.to_ascii_lowercase().ends_with(x));
                if !ext_ok {
                    continue;
                }
                let bytes = std::fs::read(&fpath).map_err(|e| io(&fpath, e))?;
                added += self.add_pem(family, &bytes, &fpath.display().to_string())?;
            }
        }
        Ok(added)
    }

    /// Adds the certificates of a PEM text to a family. Returns how many.
    pub fn add_pem(
        &mut self,
        family: TrustFamily,
        pem_text: &[u8],
        source: &str,
    ) -> Result<usize, TrustError> {
        let ders = pem_certificates(pem_text).map_err(|reason| TrustError::BadFile {
            path: source.to_string(),
            reason,
        })?;
        let mut n = 0;
        for der in ders {
            let cert = Cert::parse(&der).map_err(|e| TrustError::BadFile {
                path: source.to_string(),
                reason: e.0,
            })?;
            if is_yubico_preview(&cert) {
                return Err(TrustError::PreviewCa {
                    path: source.to_string(),
                    subject: cert.subject.clone(),
                });
            }
            let set = self.sets.entry(family).or_default();
            if set
                .anchors
                .iter()
                .chain(set.intermediates.iter())
                .any(|c| c.der == cert.der)
            {
                continue;
            }
            let anchor = cert.self_issued();
            self.pinned.push(PinnedCert {
                family,
                anchor,
                subject: cert.subject.clone(),
                sha256: cert.sha256(),
                spki_sha256: super::cert::sha256_hex(&cert.spki_der),
                not_after: super::fmt_time(cert.not_after),
                source: source.to_string(),
            });
            if anchor {
                set.anchors.push(cert);
            } else {
                set.intermediates.push(cert);
            }
            n += 1;
        }
        Ok(n)
    }

    /// Everything pinned, for display.
    pub fn pinned(&self) -> &[PinnedCert] {
        &self.pinned
    }

    pub(crate) fn set(&self, family: TrustFamily) -> TrustSetRef<'_> {
        match self.sets.get(&family) {
            Some(s) => TrustSetRef {
                anchors: &s.anchors,
                intermediates: &s.intermediates,
            },
            None => TrustSetRef {
                anchors: &[],
                intermediates: &[],
            },
        }
    }
}

/// Borrowed view of one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrustSetRef<'a> {
    pub anchors: &'a [Cert],
    pub intermediates: &'a [Cert],
}
