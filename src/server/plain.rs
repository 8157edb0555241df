//! Front ends of the plain-HTTP listener: `/metrics`, `/ca/...` (CA
//! certificates for AIA and for clients to fetch the trust anchor) and
//! `/healthz`.

use bytes::Bytes;
use http::{Method, StatusCode};
use std::sync::Arc;

use super::routing::{
    json_error, response, BoxFuture, FrontEnd, HttpRequest, HttpResponse, RouteLabel,
};
use crate::ca::Ca;
use crate::metrics::Metrics;

/// The CA certificate files served under `/ca/`.
pub const CA_FILES: &[&str] = &[
    "root.pem",
    "root.crt",
    "issuing.pem",
    "issuing.crt",
    "chain.pem",
];

fn method_not_allowed() -> HttpResponse {
    let mut resp = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "methodNotAllowed",
        "only GET and HEAD are allowed here",
    );
    resp.headers_mut().insert(
        http::header::ALLOW,
        http::HeaderValue::from_static("GET, HEAD"),
    );
    resp
}

fn is_read(req: &HttpRequest) -> bool {
    req.method == Method::GET || req.method == Method::HEAD
}

/// `GET /metrics`: Prometheus text exposition.
pub struct MetricsEndpoint {
    pub metrics: Metrics,
}

impl FrontEnd for MetricsEndpoint {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn prefix(&self) -> &str {
        "/metrics"
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            if !is_read(&req) {
                return method_not_allowed();
            }
            if req.path != "/metrics" {
                return super::routing::not_found(&req.path);
            }
            match self.metrics.encode() {
                Ok(text) => response(StatusCode::OK, self.metrics.content_type(), text),
                Err(e) => {
                    tracing::error!(error = %e, "encoding metrics failed");
                    json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "serverInternal",
                        "metrics could not be encoded",
                    )
                }
            }
        })
    }
}

/// `GET /ca/{root,issuing}.{pem,crt}` and `/ca/chain.pem`.
pub struct CaCertificates {
    pub ca: Arc<Ca>,
}

impl FrontEnd for CaCertificates {
    fn name(&self) -> &'static str {
        "ca"
    }

    fn prefix(&self) -> &str {
        "/ca"
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            if !is_read(&req) {
                return method_not_allowed();
            }
            let pem = "application/x-pem-file";
            let der = "application/pkix-cert";
            let mut resp = match req.path.as_str() {
                "/ca/root.pem" => response(StatusCode::OK, pem, self.ca.root_cert_pem()),
                "/ca/root.crt" => response(
                    StatusCode::OK,
                    der,
                    Bytes::copy_from_slice(self.ca.root_cert_der()),
                ),
                "/ca/issuing.pem" => {
                    response(StatusCode::OK, pem, self.ca.issuing_cert_pem().to_string())
                }
                "/ca/issuing.crt" => response(
                    StatusCode::OK,
                    der,
                    Bytes::copy_from_slice(self.ca.issuing_cert_der()),
                ),
                "/ca/chain.pem" => {
                    let mut chain = self.ca.issuing_cert_pem().to_string();
                    if self.ca.root_cert_der() != self.ca.issuing_cert_der() {
                        chain.push_str(&self.ca.root_cert_pem());
                    }
                    response(StatusCode::OK, pem, chain)
                }
                other => return super::routing::not_found(other),
            };
            resp.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("public, max-age=3600"),
            );
            resp.extensions_mut().insert(RouteLabel("/ca/"));
            resp
        })
    }
}

/// `GET /healthz`: 200 "ok" while the server runs (for scripts and probes).
pub struct Health;

impl FrontEnd for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn prefix(&self) -> &str {
        "/healthz"
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            if !is_read(&req) {
                return method_not_allowed();
            }
            response(StatusCode::OK, "text/plain; charset=utf-8", "ok\n")
        })
    }
}
