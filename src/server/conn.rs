//! Accept loops and connections: TLS handshake (optional), HTTP/1.1 with
//! keep-alive via hyper, body collection with a size limit, routing, request
//! metrics, graceful shutdown.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::limits::{AddressLimit, RefusalLog};
use super::routing::{json_error, not_found, HttpRequest, HttpResponse, RouteLabel, Router};
use crate::metrics::Metrics;

/// What a listener needs to answer requests.
pub(crate) struct Handler {
    pub router: Router,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
    /// "https" or "http" (the `listener` label of the connection gauge).
    pub listener: &'static str,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client address (None: no cap).
    pub max_connections_per_address: Option<usize>,
    /// Longest the TLS handshake and each request head may take.
    pub header_read_timeout: Duration,
    /// Longest an idle keep-alive connection waits for the next request.
    pub keep_alive_timeout: Duration,
    /// Longest a front end may take for one request (then 503).
    pub request_timeout: Duration,
}

/// Accepts connections until `shutdown` turns true, then waits up to `grace`
/// for open connections to finish their in-flight requests.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    handler: Arc<Handler>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut conns = JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(handler.max_connections));
    let per_address = AddressLimit::new(handler.max_connections_per_address);
    let mut refusals = RefusalLog::new(
        handler.listener,
        super::limits::refused_counter(&handler.metrics),
    );
    loop {
        // At the limit, stop accepting until a connection ends (back-pressure).
        let permit = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some(slot) = per_address.admit(peer.ip()) else {
                        // closed at once: the permit goes back to the pool
                        drop(stream);
                        refusals.refused(
                            peer.ip(),
                            "per_address_limit",
                            handler.max_connections_per_address.unwrap_or_default(),
                        );
                        continue;
                    };
                    let connection = serve_connection(
                        stream,
                        peer,
                        tls.clone(),
                        handler.clone(),
                        shutdown.clone(),
                    );
                    conns.spawn(async move {
                        connection.await;
                        drop(slot);
                        drop(permit);
                    });
                }
                Err(e) => {
                    // e.g. EMFILE: back off instead of spinning
                    tracing::warn!(listener = handler.listener, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            listener = handler.listener,
            remaining = conns.len(),
            "shutdown timeout: closing connections with requests still in flight"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// Resolves once the shutdown flag is true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|&stop| stop).await;
}

/// Decrements the open-connections gauge when the connection ends.
struct ConnGuard(prometheus::IntGauge);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    handler: Arc<Handler>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let gauge = handler
        .metrics
        .connections_open
        .with_label_values(&[handler.listener]);
    gauge.inc();
    let _guard = ConnGuard(gauge);
    match tls {
        Some(acceptor) => {
            let tls_stream =
                match tokio::time::timeout(handler.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let chain: Vec<CertificateDer<'static>> = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            // RFC 9266 tls-exporter channel binding (EST may check it in the CSR).
            let tls_exporter = tls_stream
                .get_ref()
                .1
                .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
                .map(|v| v.to_vec());
            serve_http(
                TokioIo::new(tls_stream),
                peer,
                Arc::new(chain),
                true,
                tls_exporter,
                handler,
                shutdown,
            )
            .await
        }
        None => {
            serve_http(
                TokioIo::new(stream),
                peer,
                Arc::new(Vec::new()),
                false,
                None,
                handler,
                shutdown,
            )
            .await
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    chain: Arc<Vec<CertificateDer<'static>>>,
    tls: bool,
    tls_exporter: Option<Vec<u8>>,
    handler: Arc<Handler>,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let header_read_timeout = handler.header_read_timeout;
    let keep_alive_timeout = handler.keep_alive_timeout;
    let idle = Arc::new(IdleWatch::new(header_read_timeout));
    let svc = service_fn({
        let idle = idle.clone();
        move |req: http::Request<Incoming>| {
            let handler = handler.clone();
            let chain = chain.clone();
            let tls_exporter = tls_exporter.clone();
            let idle = idle.clone();
            async move {
                let _busy = idle.request_started(keep_alive_timeout);
                Ok::<_, Infallible>(answer(&handler, req, peer, &chain, tls, tls_exporter).await)
            }
        }
    });
    // hyper's header-read timer runs from when it waits for a head (at the
    // connection's start, and after each response on keep-alive) until the
    // head is complete; the idle watch closes a keep-alive connection that
    // starts no request within `keep_alive_timeout` after a response.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = idle.expired() => {
            tracing::debug!(%peer, "closing an idle connection");
        }
        _ = stopped(&mut shutdown) => {
            // finish the request in flight (if any), then close
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// When a connection counts as idle: no request in flight and its deadline
/// (the header-read timeout from the start, then the keep-alive timeout from
/// the end of each response) passed.
struct IdleWatch {
    state: std::sync::Mutex<IdleState>,
    changed: tokio::sync::Notify,
}

struct IdleState {
    in_flight: usize,
    deadline: tokio::time::Instant,
}

/// A request in flight; dropping it (the response is ready) restarts the
/// keep-alive deadline.
struct Busy<'a> {
    watch: &'a IdleWatch,
    keep_alive: Duration,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut state = self.watch.lock();
        state.in_flight -= 1;
        state.deadline = tokio::time::Instant::now() + self.keep_alive;
        drop(state);
        self.watch.changed.notify_one();
    }
}

impl IdleWatch {
    fn new(first_request_within: Duration) -> IdleWatch {
        IdleWatch {
            state: std::sync::Mutex::new(IdleState {
                in_flight: 0,
                deadline: tokio::time::Instant::now() + first_request_within,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_started(&self, keep_alive: Duration) -> Busy<'_> {
        self.lock().in_flight += 1;
        self.changed.notify_one();
        Busy {
            watch: self,
            keep_alive,
        }
    }

    /// Resolves once the connection is idle past its deadline.
    async fn expired(&self) {
        loop {
            let (busy, deadline) = {
                let state = self.lock();
                (state.in_flight > 0, state.deadline)
            };
            if busy {
                self.changed.notified().await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    let state = self.lock();
                    if state.in_flight == 0 && state.deadline <= tokio::time::Instant::now() {
                        return;
                    }
                }
                _ = self.changed.notified() => {}
            }
        }
    }
}

/// Collects the body, routes, calls the front end, records metrics.
async fn answer(
    handler: &Handler,
    req: http::Request<Incoming>,
    peer: SocketAddr,
    chain: &[CertificateDer<'static>],
    tls: bool,
    tls_exporter: Option<Vec<u8>>,
) -> HttpResponse {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let front_end = handler.router.route(&path).cloned();
    let (frontend_label, default_route) = match &front_end {
        Some(fe) => (fe.name(), fe.prefix().to_string()),
        None => ("none", "unmatched".to_string()),
    };

    let resp = match front_end {
        None => not_found(&path),
        Some(fe) => match collect(
            req,
            handler.max_body_bytes,
            fe.as_ref(),
            handler.request_timeout,
        )
        .await
        {
            Err(resp) => resp,
            Ok((parts, body)) => {
                let request = HttpRequest {
                    method: parts.method,
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().map(str::to_string),
                    uri: parts.uri,
                    headers: parts.headers,
                    body,
                    peer,
                    client_chain: chain.to_vec(),
                    tls,
                    tls_exporter,
                };
                // A task of its own: a panicking front end costs one 500, not the
                // connection; a slow one costs a 503 while it finishes its work.
                let task = tokio::spawn(async move { fe.handle(request).await });
                match tokio::time::timeout(handler.request_timeout, task).await {
                    Ok(Ok(resp)) => resp,
                    Err(_) => {
                        tracing::warn!(frontend = frontend_label, %path, "front end timed out");
                        json_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "timeout",
                            "the request took too long; retry later",
                        )
                    }
                    Ok(Err(e)) => {
                        tracing::error!(frontend = frontend_label, %path, error = %e, "front end failed");
                        json_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "serverInternal",
                            "the request could not be processed",
                        )
                    }
                }
            }
        },
    };

    let route = resp
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.to_string())
        .unwrap_or(default_route);
    let elapsed = started.elapsed();
    handler
        .metrics
        .observe_http(frontend_label, &route, resp.status().as_u16(), elapsed);
    tracing::debug!(
        listener = handler.listener,
        %peer,
        frontend = frontend_label,
        %path,
        status = resp.status().as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    resp
}

/// The most of an oversized body read (and thrown away) before the 413 is
/// sent: a client that writes its whole body before reading (Python
/// requests, curl) then sees the answer, where closing with unread data
/// would make the kernel reset the connection under it.
fn discard_bound(limit: usize) -> usize {
    limit.saturating_mul(4).clamp(4 << 20, 64 << 20)
}

/// Reads the whole body within `limit` bytes (413 beyond it in the front
/// end's format, 400 if broken).
async fn collect(
    req: http::Request<Incoming>,
    limit: usize,
    front_end: &dyn super::routing::FrontEnd,
    drain_timeout: Duration,
) -> Result<(http::request::Parts, Bytes), HttpResponse> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > discard_bound(limit) as u64) {
        // too much to read: answer now (the connection closes after it)
        return Err(front_end.payload_too_large(limit));
    }
    let (parts, mut body) = req.into_parts();
    let mut collected = bytes::BytesMut::new();
    let mut seen: usize = 0;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen <= limit {
                    collected.extend_from_slice(&data);
                } else {
                    collected = bytes::BytesMut::new();
                    if seen > discard_bound(limit) {
                        break;
                    }
                }
            }
        }
        Ok::<(), hyper::Error>(())
    };
    match tokio::time::timeout(drain_timeout.max(Duration::from_secs(1)), read).await {
        Ok(Ok(())) if seen <= limit => Ok((parts, collected.freeze())),
        Ok(Ok(())) => Err(front_end.payload_too_large(limit)),
        // a client dripping an oversized body gets its answer when the time is up
        Err(_) if seen > limit => Err(front_end.payload_too_large(limit)),
        Err(_) => Err(json_error(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request body did not arrive in time",
        )),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "could not read the request body");
            Err(json_error(
                StatusCode::BAD_REQUEST,
                "malformed",
                "the request body could not be read",
            ))
        }
    }
}
