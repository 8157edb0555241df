//! The data directory is private to the user running Signet: it holds the
//! CA keys, the admin token, live invitation HMAC keys (store, outbox) and
//! mail replies.
//!
//! At start ([`secure_data_dir`]):
//! - the file-creation mask becomes `077`, so everything Signet and sled
//!   create from then on is `0600` (files) / `0700` (directories);
//! - a missing data directory is created `0700`;
//! - the start is **refused** when the data directory, its `ca/` directory
//!   or a key file in it (`*.key.pem`, `*.key`, `admin-token`) is writable by
//!   group or others or owned by another user: someone else could have
//!   replaced a key;
//! - anything else in the data directory readable by group or others is
//!   **tightened** (`0700` / `0600`) with one warning naming how many entries
//!   changed (the choice: a readable store leaks invitation keys, and the
//!   owner can only want it private).
//!
//! Key files outside the data directory (`server.tls_key_file`,
//! `ca.issuer_key_file`) are checked the same way but never changed: they
//! are the operator's files, so readable ones only get a warning.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Sets the process's file-creation mask to `077` (files `0600`, directories `0700`).
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Whether `name` (a file name in the data directory) holds a secret key.
fn is_key_file(name: &str) -> bool {
    name.ends_with(".key.pem") || name.ends_with(".key") || name == super::ADMIN_TOKEN_FILE
}

fn refuse(path: &Path, why: String) -> Error {
    Error::Command(format!("refusing to start: {}: {why}", path.display()))
}

/// Creates `dir` `0700` if missing, refuses an unsafe one, tightens what is
/// readable by others inside it, and restricts the file-creation mask.
pub fn secure_data_dir(dir: &Path) -> Result<(), Error> {
    restrict_umask();
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| Error::io(format!("creating server.data_dir {}", dir.display()), e))?;
    }
    #[cfg(unix)]
    unix::secure(dir)?;
    Ok(())
}

/// Checks a key file the operator keeps outside the data directory (`key`
/// names the setting): refused when group/world-writable or owned by
/// another user, a warning when readable by others. Never changed.
pub fn check_external_key(key: &str, path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    unix::check_external_key(key, path)?;
    let _ = (key, path);
    Ok(())
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    fn mode_text(mode: u32) -> String {
        format!("{:04o}", mode & 0o7777)
    }

    /// Refuses `path` when others may write it or another user owns it.
    fn refuse_unsafe(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), Error> {
        let me = euid();
        if meta.uid() != me {
            return Err(refuse(
                path,
                format!(
                    "the {what} is owned by uid {}, not by the user running signet (uid {me}); \
                     chown it to that user or run signet as its owner",
                    meta.uid()
                ),
            ));
        }
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(refuse(
                path,
                format!(
                    "the {what} is writable by group or others (mode {}): another local user \
                     could replace the CA key, the admin token or the store; run `chmod {} {}` \
                     and check its contents",
                    mode_text(mode),
                    if meta.is_dir() { "700" } else { "600" },
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn secure(dir: &Path) -> Result<(), Error> {
        let meta = std::fs::metadata(dir)
            .map_err(|e| Error::io(format!("reading server.data_dir {}", dir.display()), e))?;
        if !meta.is_dir() {
            return Err(refuse(
                dir,
                "server.data_dir is not a directory".to_string(),
            ));
        }
        refuse_unsafe(dir, &meta, "data directory (server.data_dir)")?;
        let mut tightened: Vec<PathBuf> = Vec::new();
        tighten(dir, &meta, &mut tightened)?;
        walk(dir, &mut tightened)?;
        if !tightened.is_empty() {
            tracing::warn!(
                data_dir = %dir.display(),
                entries = tightened.len(),
                first = %tightened[0].display(),
                "the data directory was readable by group or others: made it private \
                 (directories 0700, files 0600)"
            );
        }
        Ok(())
    }

    /// Removes group and other permissions from one entry.
    fn tighten(
        path: &Path,
        meta: &std::fs::Metadata,
        changed: &mut Vec<PathBuf>,
    ) -> Result<(), Error> {
        let mode = meta.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        let private = if meta.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(private))
            .map_err(|e| Error::io(format!("making {} private", path.display()), e))?;
        changed.push(path.to_path_buf());
        Ok(())
    }

    fn walk(dir: &Path, changed: &mut Vec<PathBuf>) -> Result<(), Error> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
            let path = entry.path();
            // symlinks are not followed: their targets are not ours to change
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                if name == "ca" {
                    refuse_unsafe(&path, &meta, "CA key directory")?;
                }
                tighten(&path, &meta, changed)?;
                walk(&path, changed)?;
            } else {
                if is_key_file(&name) {
                    refuse_unsafe(&path, &meta, "key file")?;
                }
                tighten(&path, &meta, changed)?;
            }
        }
        Ok(())
    }

    pub(super) fn check_external_key(key: &str, path: &Path) -> Result<(), Error> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("{key}: reading {}", path.display()), e))?;
        refuse_unsafe(path, &meta, &format!("key file ({key})"))?;
        let mode = meta.permissions().mode();
        if mode & 0o044 != 0 {
            tracing::warn!(
                setting = key,
                path = %path.display(),
                mode = %mode_text(mode),
                "the private key file is readable by group or others; make it 0600"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_recognized() {
        assert!(is_key_file("issuing.key.pem"));
        assert!(is_key_file("root.key.pem"));
        assert!(is_key_file("tls.key"));
        assert!(is_key_file("admin-token"));
        assert!(!is_key_file("root.pem"));
        assert!(!is_key_file("conf"));
    }
}
