//! The interface between the listeners and the front ends: a complete request
//! in ([`HttpRequest`]), a complete response out ([`HttpResponse`]), and the
//! [`FrontEnd`] trait each protocol implements.
//!
//! A front end claims a path prefix (`/acme`, `/.well-known/est`,
//! `/admin/v1`); the [`Router`] hands it every request whose path is the prefix
//! or continues it with `/`. Unknown paths get a JSON 404.
//!
//! ```
//! use signet::server::routing::{BoxFuture, FrontEnd, HttpRequest, HttpResponse, json_response};
//!
//! struct Hello;
//!
//! impl FrontEnd for Hello {
//!     fn name(&self) -> &'static str { "hello" }
//!     fn prefix(&self) -> &str { "/hello" }
//!     fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
//!         Box::pin(async move {
//!             json_response(http::StatusCode::OK, &serde_json::json!({"path": req.path}))
//!         })
//!     }
//! }
//! ```

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::Full;
use rustls_pki_types::CertificateDer;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future (what [`FrontEnd::handle`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The response type every front end returns.
pub type HttpResponse = http::Response<Full<Bytes>>;

/// One complete HTTP request (the body is already collected, within
/// `server.max_body_bytes`).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// The request target as received (path and query).
    pub uri: Uri,
    /// The path (percent-encoding untouched), e.g. `/acme/new-order`.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The TCP peer (the proxy's address when `behind_tls_proxy`).
    pub peer: SocketAddr,
    /// The certificate chain the TLS client presented (leaf first), empty if none.
    /// Accepted at the TLS layer only by its handshake signature: the front end
    /// (EST) must verify the chain itself before trusting it.
    pub client_chain: Vec<CertificateDer<'static>>,
    /// Whether the request arrived over TLS terminated by Signet.
    pub tls: bool,
    /// The connection's RFC 9266 `tls-exporter` channel-binding value (32
    /// bytes, label `EXPORTER-Channel-Binding`, no context); None without TLS.
    pub tls_exporter: Option<Vec<u8>>,
}

impl HttpRequest {
    /// A header's value as text (None if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The path after `prefix` (e.g. `"/new-order"` for prefix `"/acme"`), or
    /// None when the path is not under `prefix`.
    pub fn path_under<'a>(&'a self, prefix: &str) -> Option<&'a str> {
        let prefix = prefix.trim_end_matches('/');
        let rest = self.path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// A request for tests of front ends (no TLS, peer 127.0.0.1:1).
    pub fn for_test(method: Method, uri: &str, body: impl Into<Bytes>) -> HttpRequest {
        let uri: Uri = uri.parse().unwrap_or_else(|_| Uri::from_static("/"));
        HttpRequest {
            method,
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            uri,
            headers: HeaderMap::new(),
            body: body.into(),
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            client_chain: Vec::new(),
            tls: false,
            tls_exporter: None,
        }
    }
}

/// A protocol front end (ACME, EST, admin, ...), registered at start-up.
pub trait FrontEnd: Send + Sync + 'static {
    /// Short name used as the `frontend` metrics label ("acme", "est", "admin").
    fn name(&self) -> &'static str;

    /// The path prefix this front end serves, e.g. `"/acme"` (a trailing `/` is ignored).
    fn prefix(&self) -> &str;

    /// Answers one request. Never panics on input; errors are responses.
    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse>;

    /// The answer to a request whose body exceeds `limit` bytes
    /// (`server.max_body_bytes`), in this front end's error format (413).
    fn payload_too_large(&self, limit: usize) -> HttpResponse {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payloadTooLarge",
            &format!("the request body exceeds {limit} bytes"),
        )
    }
}

/// Low-cardinality `route` label for the request metrics. A front end may put
/// one into the response's extensions (`resp.extensions_mut().insert(RouteLabel("/acme/order"))`);
/// otherwise the front end's prefix is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLabel(pub &'static str);

/// Finds the front end for a path (longest prefix wins).
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Arc<dyn FrontEnd>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|r| (r.name(), r.prefix().to_string())),
            )
            .finish()
    }
}

impl Router {
    pub fn new(mut routes: Vec<Arc<dyn FrontEnd>>) -> Router {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix().trim_end_matches('/').len()));
        Router { routes }
    }

    /// The front end serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&Arc<dyn FrontEnd>> {
        self.routes.iter().find(|fe| {
            let prefix = fe.prefix().trim_end_matches('/');
            match path.strip_prefix(prefix) {
                Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
                None => false,
            }
        })
    }

    /// The registered front ends.
    pub fn front_ends(&self) -> &[Arc<dyn FrontEnd>] {
        &self.routes
    }
}

/// A response with a body and content type.
pub fn response(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
    let mut resp = http::Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// A JSON response.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    let body = serde_json::to_vec(value).unwrap_or_default();
    response(status, "application/json", body)
}

/// The JSON error body used by the server itself:
/// `{"error": {"type": "...", "message": "..."}}` (the admin API's shape).
pub fn json_error(status: StatusCode, kind: &str, message: &str) -> HttpResponse {
    json_response(
        status,
        &serde_json::json!({"error": {"type": kind, "message": message}}),
    )
}

/// The 404 for a path no front end serves.
pub fn not_found(path: &str) -> HttpResponse {
    let mut resp = json_error(
        StatusCode::NOT_FOUND,
        "notFound",
        &format!("no resource at {path}"),
    );
    resp.extensions_mut().insert(RouteLabel("unmatched"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, &'static str);

    impl FrontEnd for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn prefix(&self) -> &str {
            self.1
        }
        fn handle(&self, _req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
            Box::pin(async move { response(StatusCode::OK, "text/plain", self.0) })
        }
    }

    #[test]
    fn routes_by_prefix_on_segment_boundaries() {
        let r = Router::new(vec![
            Arc::new(Fixed("acme", "/acme/")),
            Arc::new(Fixed("est", "/.well-known/est")),
            Arc::new(Fixed("admin", "/admin/v1")),
            Arc::new(Fixed("admin-extra", "/admin/v1/special")),
        ]);
        let name = |p: &str| r.route(p).map(|f| f.name());
        assert_eq!(name("/acme/directory"), Some("acme"));
        assert_eq!(name("/acme"), Some("acme"));
        assert_eq!(name("/acmex"), None);
        assert_eq!(name("/.well-known/est/cacerts"), Some("est"));
        assert_eq!(
            name("/.well-known/est/arbitrary-label/simpleenroll"),
            Some("est")
        );
        assert_eq!(name("/admin/v1/invitations"), Some("admin"));
        assert_eq!(name("/admin/v1/special/x"), Some("admin-extra"));
        assert_eq!(name("/admin/v2/x"), None);
        assert_eq!(name("/"), None);
        assert_eq!(name(""), None);
    }

    #[test]
    fn request_helpers() {
        let mut req = HttpRequest::for_test(Method::POST, "/acme/order/1?x=y", "body");
        req.headers.insert(
            "content-type",
            HeaderValue::from_static("application/jose+json"),
        );
        assert_eq!(req.path, "/acme/order/1");
        assert_eq!(req.query.as_deref(), Some("x=y"));
        assert_eq!(req.header("Content-Type"), Some("application/jose+json"));
        assert_eq!(req.path_under("/acme/"), Some("/order/1"));
        assert_eq!(req.path_under("/ac"), None);
        assert_eq!(req.body.as_ref(), b"body");
    }

    #[test]
    fn not_found_is_json() {
        let resp = not_found("/nope");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(
            resp.extensions().get::<RouteLabel>(),
            Some(&RouteLabel("unmatched"))
        );
    }
}
