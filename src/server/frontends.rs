//! Which front end serves which prefix: the one place that wires protocol front
//! ends to the application. ACME and EST register here (see the `WIRING`
//! markers) by implementing [`FrontEnd`]; each is built here from the parts of
//! [`App`] it needs.

use http::StatusCode;
use std::sync::Arc;

use super::routing::{response, BoxFuture, FrontEnd, HttpRequest, HttpResponse};
use super::App;
use crate::admin::AdminApi;
use crate::error::Error;

/// The front ends of the HTTPS listener.
pub(crate) fn https_front_ends(app: &App) -> Result<Vec<Arc<dyn FrontEnd>>, Error> {
    let mut front_ends: Vec<Arc<dyn FrontEnd>> = vec![Arc::new(AdminFrontEnd {
        api: Arc::new(AdminApi::new(
            app.ra.clone(),
            app.admin_token.expose().to_string(),
        )),
        throttle: Some(app.auth_throttle.clone()),
    })];
    front_ends.push(Arc::new(crate::acme::AcmeFrontEnd::mounted(
        app.ra.clone(),
        &app.config,
        &app.public_url,
        app.mailer.clone(),
        app.clock.clone(),
        app.auth_throttle.clone(),
    )?)); // prefix "/acme"
    front_ends.push(Arc::new(crate::est::EstFrontEnd::mounted(
        app.ra.clone(),
        app.config.est.clone(),
        app.config.server.behind_tls_proxy,
        app.auth_throttle.clone(),
    ))); // prefix "/.well-known/est"
    Ok(front_ends)
}

/// The front ends of the plain-HTTP listener.
pub(crate) fn http_front_ends(app: &App) -> Result<Vec<Arc<dyn FrontEnd>>, Error> {
    let mut front_ends: Vec<Arc<dyn FrontEnd>> = vec![
        Arc::new(super::plain::MetricsEndpoint {
            metrics: app.metrics.clone(),
        }),
        Arc::new(super::plain::CaCertificates { ca: app.ca.clone() }),
        Arc::new(super::plain::Health),
    ];
    front_ends.push(Arc::new(super::crl::CrlEndpoint { ra: app.ra.clone() }));
    Ok(front_ends)
}

/// Adapts the synchronous admin API ([`AdminApi::handle`]) to [`FrontEnd`]:
/// runs it on the blocking pool (it reads/writes the store and may sign).
pub struct AdminFrontEnd {
    pub api: Arc<AdminApi>,
    /// Backoff after wrong bearer tokens, per client address (None: off).
    pub throttle: Option<Arc<super::throttle::AuthThrottle>>,
}

impl FrontEnd for AdminFrontEnd {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn prefix(&self) -> &str {
        crate::admin::PREFIX
    }

    /// The admin API's JSON error, naming the body as the field.
    fn payload_too_large(&self, limit: usize) -> HttpResponse {
        super::routing::json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": {
                "type": "payloadTooLarge",
                "field": "body",
                "message": format!("the request body is larger than this server accepts: at most {limit} bytes"),
            }}),
        )
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        let api = self.api.clone();
        let throttle = self.throttle.clone();
        Box::pin(async move {
            let ip = req.peer.ip();
            if let Some(secs) = throttle
                .as_ref()
                .and_then(|t| t.check("admin", ip, None).err())
            {
                let mut resp = super::routing::json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rateLimited",
                    &format!(
                        "too many failed authentications from this address; retry after {secs} seconds"
                    ),
                );
                resp.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
                return resp;
            }
            let result = tokio::task::spawn_blocking(move || {
                let reply = api.handle(
                    &req.method,
                    &req.path,
                    req.query.as_deref(),
                    req.header("authorization"),
                    &req.body,
                );
                // the API answers 401 only for a missing or wrong token
                if let Some(t) = &throttle {
                    if reply.status == StatusCode::UNAUTHORIZED {
                        let reason = if req.header("authorization").is_some() {
                            "bad_token"
                        } else {
                            "no_token"
                        };
                        t.failed("admin", reason, ip, None);
                    } else {
                        t.succeeded("admin", ip, None);
                    }
                }
                reply
            })
            .await;
            match result {
                Ok(reply) => response(reply.status, reply.content_type, reply.body),
                Err(e) => {
                    tracing::error!(error = %e, "admin API task failed");
                    super::routing::json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "serverInternal",
                        "the request could not be processed",
                    )
                }
            }
        })
    }
}
