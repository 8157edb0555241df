//! What every admin command shares: the connection to the server (URL, token,
//! trust anchor), the request helper and the output helpers.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::AdminArgs;
use crate::cli::http;
use crate::error::Error;

/// A connection to the admin API: base URL, bearer token and trust anchors.
pub(super) struct Conn {
    base: String,
    token: String,
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The server's configuration as `signet serve` would read it (`--config`,
/// `SIGNET_SERVER__*`). A file named with --config must load; a broken
/// environment alone is reported and ignored (the flags may suffice).
fn server_config(a: &AdminArgs) -> Result<Option<crate::config::Config>, Error> {
    match crate::config::load(a.config.as_deref()) {
        Ok(cfg) => Ok(Some(cfg)),
        Err(e) if a.config.is_some() => Err(e.into()),
        Err(e) => {
            eprintln!("signet: not using the server configuration from the environment: {e}");
            Ok(None)
        }
    }
}

/// Finds the server URL, token and trust anchor: flags, environment, the
/// server's configuration, then the data directory.
pub(super) fn connection(a: &AdminArgs) -> Result<Conn, Error> {
    let cfg = server_config(a)?;
    let data_dir = a
        .data_dir
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.server.data_dir.clone()))
        .unwrap_or_else(|| PathBuf::from("./signet-data"));
    let base = a
        .url
        .clone()
        .or_else(|| read_trimmed(&data_dir.join("server-url")))
        .or_else(|| cfg.as_ref().and_then(|c| c.server.public_url.clone()))
        .unwrap_or_else(|| "https://localhost:8443".into());
    let token = a
        .token
        .clone()
        .or_else(|| {
            cfg.as_ref()
                .and_then(|c| c.server.admin_token.as_ref())
                .map(|t| t.expose().to_string())
        })
        .or_else(|| read_trimmed(&data_dir.join("admin-token")))
        .ok_or_else(|| {
            Error::Command(format!(
                "no admin token: pass --token, set SIGNET_ADMIN_TOKEN, or point --data-dir / \
                 SIGNET_SERVER__DATA_DIR (or --config) at the server's data directory ({} not found)",
                data_dir.join("admin-token").display()
            ))
        })?;
    let ca_path = a
        .ca_file
        .clone()
        // the development TLS CA signs the listener's certificate (never the
        // code-signing root); root.pem for data directories from before it
        .unwrap_or_else(|| {
            let tls_ca = data_dir.join("ca").join("tls-ca.pem");
            if tls_ca.exists() {
                tls_ca
            } else {
                data_dir.join("ca").join("root.pem")
            }
        });
    let mut roots = Vec::new();
    if let Ok(bytes) = std::fs::read(&ca_path) {
        for p in pem::parse_many(&bytes)
            .map_err(|e| Error::Command(format!("{}: {e}", ca_path.display())))?
        {
            roots.push(rustls_pki_types::CertificateDer::from(p.into_contents()));
        }
    } else if base.starts_with("https://") {
        return Err(Error::Command(format!(
            "no trust anchor: pass --ca-file or set SIGNET_ADMIN_CA ({} not found)",
            ca_path.display()
        )));
    }
    Ok(Conn {
        base: base.trim_end_matches('/').to_string(),
        token,
        roots,
    })
}

impl Conn {
    /// Sends one request; an error status becomes an error naming the type, message and field.
    pub(super) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String, Vec<u8>), Error> {
        let url = format!("{}{}{}", self.base, crate::admin::PREFIX, path);
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let r = http::request(&url, method, Some(&self.token), body, &self.roots).await?;
        if r.status >= 400 {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let msg =
                crate::text::escape(v["error"]["message"].as_str().unwrap_or("request failed"))
                    .into_owned();
            let field = v["error"]["field"]
                .as_str()
                .map(|f| format!(" (field {})", crate::text::escape(f)))
                .unwrap_or_default();
            return Err(Error::Command(format!(
                "{} {}: {msg}{field}",
                r.status,
                crate::text::escape(v["error"]["type"].as_str().unwrap_or("error"))
            )));
        }
        Ok((r.status, r.content_type, r.body))
    }

    /// Sends one request and parses the JSON answer.
    pub(super) async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        let (_, _, bytes) = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Command(format!("server sent invalid JSON: {e}")))
    }
}

/// What a path segment or query value keeps unencoded: RFC 3986 unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment or query value, percent-encoded (`Example Corp` -> `Example%20Corp`).
pub(super) fn seg(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// An admin API path from its segments, each percent-encoded:
/// `path(&["organizations", "Example Corp"])` is `/organizations/Example%20Corp`.
pub(super) fn path(segments: &[&str]) -> String {
    segments.iter().map(|s| format!("/{}", seg(s))).collect()
}

/// Prints `v` as pretty JSON, or one summary line per item. Server-supplied
/// text never reaches the terminal raw: control and bidi characters are
/// escaped (`\u{1b}`; in JSON `\u001b`).
pub(super) fn print(v: &Value, json_out: bool, summary: impl Fn(&Value) -> String) {
    if json_out {
        println!("{}", show_all(v));
    } else if let Some(items) = v.as_array() {
        for item in items {
            println!("{}", summary(item));
        }
    } else {
        println!("{}", summary(v));
    }
}

/// Field `k` of `v` as text (`-` when absent), control characters escaped.
pub(super) fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => crate::text::escape(x).into_owned(),
        Value::Null => "-".into(),
        other => json_safe(other.to_string()),
    }
}

/// The whole object, pretty-printed JSON with every control or bidi
/// character (serde leaves DEL, C1 and bidi controls raw) as a `\uXXXX` escape.
pub(super) fn show_all(v: &Value) -> String {
    json_safe(serde_json::to_string_pretty(v).unwrap_or_default())
}

/// JSON text with unsafe characters escaped; they can stand only inside
/// strings (the layout's own newlines are kept), so the result is the same JSON.
fn json_safe(text: String) -> String {
    if !text.chars().any(|c| c != '\n' && crate::text::is_unsafe(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c != '\n' && crate::text::is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `bytes` to `out`, or to standard output.
pub(super) fn write_out(out: &Option<PathBuf>, bytes: &[u8]) -> Result<(), Error> {
    match out {
        Some(p) => {
            std::fs::write(p, bytes).map_err(|e| Error::io(format!("writing {}", p.display()), e))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|e| Error::io("writing standard output", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_escaped_for_the_terminal_and_json_stays_json() {
        let v = serde_json::json!({"message": "no\u{1b}[2J\u{202e}\u{85}\nx", "n": 1});
        assert_eq!(s(&v, "message"), "no\\u{1b}[2J\\u{202e}\\u{85}\\nx");
        let shown = show_all(&v);
        assert!(
            !shown
                .chars()
                .any(|c| c != '\n' && crate::text::is_unsafe(c)),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn every_path_segment_is_percent_encoded() {
        assert_eq!(
            path(&["organizations", "Example Corp"]),
            "/organizations/Example%20Corp"
        );
        assert_eq!(path(&["a/b", "x?y#z%"]), "/a%2Fb/x%3Fy%23z%25");
        assert_eq!(path(&["Zürich", "a-b_c.d~e"]), "/Z%C3%BCrich/a-b_c.d~e");
    }
}
