//! Issue 19.2: connection exhaustion. Idle and slow connections from one
//! client address cannot starve other clients: each address holds at most
//! `server.max_connections_per_address` connections per listener (the rest
//! are closed at once and counted), a connection that sends no complete
//! request head within `server.header_read_timeout_secs` (TLS handshake
//! included) is closed, and so is a keep-alive connection idle for
//! `server.keep_alive_timeout_secs` after a response.
//!
//! All test clients are on the loopback interface; the "other" client binds
//! 127.0.0.2 (Linux routes all of 127/8 to lo), so the server sees two
//! source addresses.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{try_http_request_from, TestServer};

/// Idle connections the attacker opens on each listener.
const IDLE: usize = 1_500;
/// How long the normal client waits for each answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes room for 2 x 1,500 client sockets plus the server's own in this
/// process (the soft RLIMIT_NOFILE is often 1,024).
fn raise_open_file_limit(want: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= want {
        return;
    }
    let target = hard.map_or(want, |h| h.min(want));
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: hard,
        },
    )
    .expect("raise RLIMIT_NOFILE");
    assert!(
        target >= want,
        "the hard RLIMIT_NOFILE ({hard:?}) is below the {want} sockets this test needs"
    );
}

/// Opens [`IDLE`] connections to `addr`, stopping at the first one the
/// kernel does not complete within 2 s (a listener that stopped accepting
/// has a full accept queue); returns how many opened.
fn open_idle(addr: SocketAddr, into: &mut Vec<TcpStream>) -> usize {
    let before = into.len();
    for _ in 0..IDLE {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => into.push(s),
            Err(_) => break,
        }
    }
    into.len() - before
}

/// Runs one client exchange (connect included) and gives up after `timeout`.
fn within<T: Send + 'static>(
    timeout: Duration,
    exchange: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(exchange());
    });
    rx.recv_timeout(timeout)
        .map_err(|_| format!("no answer within {timeout:?} (connect included)"))?
}

/// The value of a metric sample line `name{labels} value`.
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name_and_labels)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[test]
fn idle_connections_from_one_address_leave_another_client_every_answer() {
    raise_open_file_limit(2 * IDLE as u64 + 1_024);
    // a long header-read timeout: the kept idle connections stay open for
    // the whole test, however slow the machine
    let server = TestServer::start_with(|c| {
        c.server.header_read_timeout_secs = 300;
        c.server.max_connections_per_address = 64;
    });
    let client = server
        .client()
        .source_address("127.0.0.2")
        .read_timeout(CLIENT_TIMEOUT);
    let mut idle = Vec::with_capacity(2 * IDLE);
    // HTTPS first, then plain HTTP: each listener is asked right after its
    // idle connections were opened (well within their header-read timeout)
    let https_idle = open_idle(server.https_addr, &mut idle);
    for i in 0..10 {
        let client = client.clone();
        let resp = within(CLIENT_TIMEOUT, move || {
            client.try_request("GET", "/acme/directory", &[], b"")
        })
        .unwrap_or_else(|e| panic!("HTTPS answer {i}: {e}"));
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let http_idle = open_idle(server.http_addr, &mut idle);
    for i in 0..10 {
        let addr = server.http_addr;
        let resp = within(CLIENT_TIMEOUT, move || {
            try_http_request_from("127.0.0.2", addr, "GET", "/healthz", CLIENT_TIMEOUT)
        })
        .unwrap_or_else(|e| panic!("HTTP answer {i}: {e}"));
        assert_eq!(resp.status, 200, "{}", resp.text());
    }

    // The listeners accept in order, so every idle connection opened before
    // the client's was handled: 64 kept per listener, the rest refused.
    let metrics = try_http_request_from(
        "127.0.0.2",
        server.http_addr,
        "GET",
        "/metrics",
        CLIENT_TIMEOUT,
    )
    .expect("metrics")
    .text();
    for (listener, opened) in [("https", https_idle), ("http", http_idle)] {
        assert_eq!(opened, IDLE, "{listener}: the listener kept accepting");
        let refused = sample(
            &metrics,
            &format!(
                "signet_http_connections_refused_total{{listener=\"{listener}\",reason=\"per_address_limit\"}}"
            ),
        );
        assert_eq!(
            refused,
            Some((opened - 64) as f64),
            "{listener}: refused connections are counted"
        );
        let open = sample(
            &metrics,
            &format!("signet_http_connections_open{{listener=\"{listener}\"}}"),
        )
        .unwrap_or_else(|| panic!("{listener}: open-connections gauge"));
        assert!(
            (64.0..=66.0).contains(&open),
            "{listener}: 64 idle connections held (plus the scrape): {open}"
        );
    }
    drop(idle);
}

/// Reads until the server closes the connection (true) or `wait` passes
/// without it (false); bytes the server sends first are ignored.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_connection_without_a_complete_request_head_is_closed_after_the_header_read_timeout() {
    let server = TestServer::start_with(|c| c.server.header_read_timeout_secs = 1);
    // nothing at all, on both listeners (TLS: no ClientHello)
    for addr in [server.http_addr, server.https_addr] {
        let mut silent = TcpStream::connect(addr).unwrap();
        assert!(
            closed_by_server(&mut silent, Duration::from_secs(8)),
            "{addr}: a silent connection is closed"
        );
    }
    // half a request head (slowloris)
    let mut slow = TcpStream::connect(server.http_addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(
        closed_by_server(&mut slow, Duration::from_secs(8)),
        "an incomplete head is not waited for"
    );
    // the server still answers
    assert_eq!(server.http_get("/healthz").status, 200);
}

/// Sends one keep-alive request on `stream` and reads its answer.
fn keep_alive_request(stream: &mut TcpStream, addr: SocketAddr) {
    stream
        .write_all(
            format!(
                "GET /healthz HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
                addr.port()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"ok\n") {
        let n = stream.read(&mut buf).expect("an answer");
        assert!(n > 0, "the answer is complete before the connection closes");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    // the header-read timeout is far away: only the keep-alive timeout can close it
    let server = TestServer::start_with(|c| {
        c.server.keep_alive_timeout_secs = 1;
        c.server.header_read_timeout_secs = 120;
    });
    let mut conn = TcpStream::connect(server.http_addr).unwrap();
    keep_alive_request(&mut conn, server.http_addr);
    // a second request on the same connection works (keep-alive is on)
    keep_alive_request(&mut conn, server.http_addr);
    assert!(
        closed_by_server(&mut conn, Duration::from_secs(20)),
        "an idle keep-alive connection is closed"
    );
}
