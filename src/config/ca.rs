//! The `[ca]` table's checks, the TLS identity the CA setup requires, and the
//! production check of the URLs certificates carry (`signet config check
//! --production`, a loud warning from `signet serve`).

use std::path::Path;

use super::CaConfig;
use super::{check_file, check_url, Config, ConfigError, CA_ALGORITHMS};

pub(super) fn validate_ca(ca: &CaConfig) -> Result<(), ConfigError> {
    if !CA_ALGORITHMS.contains(&ca.algorithm.as_str()) {
        return Err(ConfigError::invalid(
            "ca.algorithm",
            format!(
                "invalid algorithm {:?} (expected one of: {})",
                ca.algorithm,
                CA_ALGORITHMS.join(", ")
            ),
        ));
    }
    if ca.organization.trim().is_empty() {
        return Err(ConfigError::invalid("ca.organization", "must not be empty"));
    }
    if !ca.crl_url.is_empty() {
        check_url("ca.crl_url", &ca.crl_url, &["http", "https"])?;
    }
    if !ca.issuer_url.is_empty() {
        check_url("ca.issuer_url", &ca.issuer_url, &["http", "https"])?;
    }
    for (key, url) in [
        ("ca.root_crl_url", &ca.root_crl_url),
        ("ca.root_url", &ca.root_url),
    ] {
        if !url.is_empty() {
            check_url(key, url, &["http"])?;
        }
    }
    validate_policy(ca)?;
    validate_ca_pkcs11(ca)?;
    match (&ca.issuer_cert_file, &ca.issuer_key_file) {
        (Some(_), None) if ca.pkcs11_module.is_none() => {
            return Err(ConfigError::invalid(
                "ca.issuer_key_file",
                "required when ca.issuer_cert_file is set (or set ca.pkcs11_module)",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "ca.issuer_cert_file",
                "required when ca.issuer_key_file is set",
            ))
        }
        _ => {}
    }
    if ca.root_cert_file.is_some() && ca.issuer_cert_file.is_none() {
        return Err(ConfigError::invalid(
            "ca.root_cert_file",
            "only meaningful with ca.issuer_cert_file",
        ));
    }
    for (key, file) in [
        ("ca.issuer_cert_file", &ca.issuer_cert_file),
        ("ca.issuer_key_file", &ca.issuer_key_file),
        ("ca.root_cert_file", &ca.root_cert_file),
    ] {
        if let Some(file) = file {
            check_file(key, Path::new(file))?;
        }
    }
    Ok(())
}

/// `ca.pkcs11_*`: the issuing CA key in a PKCS#11 token, with the certificate
/// from `ca.issuer_cert_file`.
fn validate_ca_pkcs11(ca: &CaConfig) -> Result<(), ConfigError> {
    let Some(module) = &ca.pkcs11_module else {
        for (key, set) in [
            ("ca.pkcs11_token_label", ca.pkcs11_token_label.is_some()),
            ("ca.pkcs11_key_label", ca.pkcs11_key_label.is_some()),
            ("ca.pkcs11_pin", ca.pkcs11_pin.is_some()),
        ] {
            if set {
                return Err(ConfigError::invalid(
                    key,
                    "only meaningful with ca.pkcs11_module",
                ));
            }
        }
        return Ok(());
    };
    check_file("ca.pkcs11_module", Path::new(module))?;
    if ca.issuer_key_file.is_some() {
        return Err(ConfigError::invalid(
            "ca.issuer_key_file",
            "must not be set with ca.pkcs11_module (the key is in the token)",
        ));
    }
    for (key, missing) in [
        ("ca.issuer_cert_file", ca.issuer_cert_file.is_none()),
        (
            "ca.pkcs11_token_label",
            ca.pkcs11_token_label.as_deref().unwrap_or("").is_empty(),
        ),
        (
            "ca.pkcs11_key_label",
            ca.pkcs11_key_label.as_deref().unwrap_or("").is_empty(),
        ),
        ("ca.pkcs11_pin", ca.pkcs11_pin.is_none()),
    ] {
        if missing {
            return Err(ConfigError::invalid(key, "required with ca.pkcs11_module"));
        }
    }
    Ok(())
}

/// `ca.policy_oid` (a dotted OID, not a reserved CA/B Forum one) and
/// `ca.cps_uri` (http or https, only with a policy OID).
fn validate_policy(ca: &CaConfig) -> Result<(), ConfigError> {
    if let Some(oid) = &ca.policy_oid {
        let valid = der::asn1::ObjectIdentifier::new(oid.trim()).is_ok();
        if !valid {
            return Err(ConfigError::invalid(
                "ca.policy_oid",
                format!("{oid:?} is not a dotted object identifier"),
            ));
        }
        if ["2.23.140.1.4.1", "2.23.140.1.3", "2.5.29.32.0"].contains(&oid.trim()) {
            return Err(ConfigError::invalid(
                "ca.policy_oid",
                format!("{oid} is reserved; set the CA's own policy OID (the reserved one is always present)"),
            ));
        }
    }
    if let Some(uri) = &ca.cps_uri {
        if ca.policy_oid.is_none() {
            return Err(ConfigError::invalid(
                "ca.cps_uri",
                "requires ca.policy_oid (the CPS qualifies the CA's own policy)",
            ));
        }
        check_url("ca.cps_uri", uri, &["http", "https"])?;
    }
    Ok(())
}

/// With an operator-supplied issuing CA the HTTPS certificate must come from
/// files: the code-signing CA never signs a TLS certificate (CS BR 7.1.2.2).
pub(super) fn validate_tls_source(cfg: &Config) -> Result<(), ConfigError> {
    let external = cfg.ca.issuer_cert_file.is_some() || cfg.ca.pkcs11_module.is_some();
    if external && cfg.server.tls_cert_file.is_none() && !cfg.server.behind_tls_proxy {
        return Err(ConfigError::invalid(
            "server.tls_cert_file",
            "required with an operator-supplied issuing CA (ca.issuer_cert_file): the code-signing \
             CA does not sign the HTTPS listener's certificate (or set server.behind_tls_proxy)",
        ));
    }
    Ok(())
}

/// The URLs issued certificates will carry, by configuration key: the
/// configured ones, else what `signet serve` derives from the plain-HTTP
/// listener's public URL (`server.http_public_url`, else the first
/// `server.tls_hostnames` entry or `localhost` with the `server.http_listen` port).
pub fn certificate_urls(cfg: &Config) -> Vec<(&'static str, String)> {
    let base = match &cfg.server.http_public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = cfg
                .server
                .tls_hostnames
                .first()
                .cloned()
                .unwrap_or_else(|| "localhost".into());
            let port = cfg
                .server
                .http_listen
                .rsplit_once(':')
                .map(|(_, p)| p.to_string())
                .unwrap_or_default();
            format!("http://{host}:{port}")
        }
    };
    let or = |v: &str, path: &str| {
        if v.is_empty() {
            format!("{base}{path}")
        } else {
            v.to_string()
        }
    };
    let ca = &cfg.ca;
    let mut urls = vec![
        ("ca.crl_url", or(&ca.crl_url, "/crl/issuing.crl")),
        ("ca.issuer_url", or(&ca.issuer_url, "/ca/issuing.crt")),
    ];
    // the development issuing CA's CDP and AIA (an operator-supplied CA has its own)
    if ca.issuer_cert_file.is_none() && ca.pkcs11_module.is_none() {
        let mut filled = ca.clone();
        filled.crl_url = urls[0].1.clone();
        filled.issuer_url = urls[1].1.clone();
        urls.push(("ca.root_crl_url", filled.effective_root_crl_url()));
        urls.push(("ca.root_url", filled.effective_root_url()));
    }
    if let Some(cps) = &ca.cps_uri {
        urls.push(("ca.cps_uri", cps.clone()));
    }
    urls
}

/// Why `url`'s host is not a fully qualified public DNS name, if it is not:
/// `localhost`, an IP literal, a single-label name, or a special-use domain
/// (RFC 6761, 6762, RFC 8375).
pub fn non_public_host(url: &str) -> Option<String> {
    let uri: hyper::http::Uri = match url.parse() {
        Ok(u) => u,
        Err(_) => return Some("cannot be parsed".into()),
    };
    let host = uri
        .host()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return Some("has no host".into());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Some(format!("host {host} is an IP address literal"));
    }
    if !host.contains('.') {
        return Some(format!(
            "host {host} is a single-label name, not a fully qualified one"
        ));
    }
    let tld = host.rsplit('.').next().unwrap_or("");
    if [
        "localhost",
        "local",
        "test",
        "invalid",
        "example",
        "internal",
        "lan",
    ]
    .contains(&tld)
        || host.ends_with(".home.arpa")
    {
        return Some(format!("host {host} is in the special-use domain .{tld}"));
    }
    None
}

/// Each certificate URL that is not public, as `key = url: why`.
pub fn non_public_certificate_urls(cfg: &Config) -> Vec<String> {
    certificate_urls(cfg)
        .into_iter()
        .filter_map(|(key, url)| non_public_host(&url).map(|why| format!("{key} = {url:?}: {why}")))
        .collect()
}
