//! A minimal HTTPS client for the admin CLI (hyper + tokio-rustls), trusting
//! an explicit root certificate.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::error::Error;

/// A response: status, content type and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Sends one request to `url` (https:// or http://) and reads the whole response.
pub async fn request(
    url: &str,
    method: &str,
    bearer: Option<&str>,
    body: Option<Vec<u8>>,
    roots: &[CertificateDer<'static>],
) -> Result<Response, Error> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Command(format!("invalid URL {url:?}: {e}")))?;
    let host = uri
        .host()
        .ok_or_else(|| Error::Command(format!("URL {url:?} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| Error::io(format!("connecting to {host}:{port}"), e))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", "application/json");
    if let Some(t) = bearer {
        builder = builder.header("authorization", format!("Bearer {t}"));
    }
    let req = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| Error::Command(e.to_string()))?;
    if https {
        let mut store = rustls::RootCertStore::empty();
        for r in roots {
            store
                .add(r.clone())
                .map_err(|e| Error::Tls(format!("bad trust anchor: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
        let name = ServerName::try_from(host.clone())
            .map_err(|e| Error::Tls(format!("server name {host:?}: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Tls(format!("handshake with {host}:{port}: {e}")))?;
        send(hyper_util::rt::TokioIo::new(tls), req).await
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req).await
    }
}

async fn send<T>(io: T, req: http::Request<Full<Bytes>>) -> Result<Response, Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Error::Command(format!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| Error::Command(format!("HTTP request: {e}")))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Command(format!("reading response: {e}")))?
        .to_bytes()
        .to_vec();
    Ok(Response {
        status,
        content_type,
        body,
    })
}
