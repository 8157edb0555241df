//! `GET /crl/issuing.crl` on the plain-HTTP listener: the current CRL of the
//! issuing CA (DER; PEM for `/crl/issuing.pem`, `?format=pem` or
//! `Accept: application/x-pem-file`). Re-signed on demand when it is due.

use std::sync::Arc;

use base64::Engine;
use http::{Method, StatusCode};

use super::routing::{json_error, response, BoxFuture, FrontEnd, HttpRequest, HttpResponse};
use crate::ra::Ra;

/// Serves the CRL named by the CRL distribution point of issued certificates.
pub struct CrlEndpoint {
    pub ra: Arc<Ra>,
}

impl FrontEnd for CrlEndpoint {
    fn name(&self) -> &'static str {
        "crl"
    }

    fn prefix(&self) -> &str {
        "/crl"
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        let ra = self.ra.clone();
        Box::pin(async move {
            if req.method != Method::GET && req.method != Method::HEAD {
                return json_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "methodNotAllowed",
                    "only GET and HEAD",
                );
            }
            let pem = match req.path.as_str() {
                "/crl/issuing.crl" => {
                    req.query
                        .as_deref()
                        .is_some_and(|q| q.split('&').any(|kv| kv == "format=pem"))
                        || req
                            .header("accept")
                            .is_some_and(|a| a.contains("application/x-pem-file"))
                }
                "/crl/issuing.pem" => true,
                "/crl/root.crl" => return root_crl(ra).await,
                other => return super::routing::not_found(other),
            };
            let crl = match tokio::task::spawn_blocking(move || ra.current_crl()).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "CRL unavailable");
                    return json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "crlUnavailable",
                        "the CRL could not be produced",
                    );
                }
                Err(_) => {
                    return json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "serverInternal",
                        "CRL task failed",
                    )
                }
            };
            let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&crl.der)
                .unwrap_or_default();
            if pem {
                let text = pem::encode(&pem::Pem::new("X509 CRL", der));
                response(StatusCode::OK, "application/x-pem-file", text)
            } else {
                response(StatusCode::OK, "application/pkix-crl", der)
            }
        })
    }
}

/// `GET /crl/root.crl`: the development root's CRL (DER), the
/// cRLDistributionPoint of the development issuing CA certificate.
async fn root_crl(ra: Arc<Ra>) -> HttpResponse {
    match tokio::task::spawn_blocking(move || ra.ca().root_crl()).await {
        Ok(Ok(Some(der))) => response(StatusCode::OK, "application/pkix-crl", der),
        Ok(Ok(None)) => super::routing::not_found("/crl/root.crl"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "root CRL unavailable");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "crlUnavailable",
                "the root CRL could not be produced",
            )
        }
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "serverInternal",
            "CRL task failed",
        ),
    }
}

/// Feeds `signet_crl_age_seconds` / `signet_crl_next_update_seconds` from the
/// CRL currently published in `store`, read at scrape time.
pub fn watch_crl(
    metrics: &crate::metrics::Metrics,
    store: &crate::storage::Store,
    clock: &crate::clock::SharedClock,
) {
    let store = store.clone();
    let clock = clock.clone();
    metrics.set_crl_source(move || {
        let crl = store.current_crl().ok()??;
        let now = clock.now();
        Some((
            (now - crl.this_update).as_seconds_f64(),
            (crl.next_update - now).as_seconds_f64(),
        ))
    });
}
