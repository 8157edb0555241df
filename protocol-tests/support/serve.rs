//! The real `signet serve` as a child process: a command with only the
//! given `SIGNET_*` variables, and one wait until it listens.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `signet serve` on data directory `dir` and HTTPS listener `listen` (the
/// plain-HTTP one on a free port), with `env` and no other `SIGNET_*`
/// variable; stdout discarded, stderr piped.
pub fn serve_command(dir: &Path, listen: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SIGNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("serve")
        .env("SIGNET_SERVER__DATA_DIR", dir)
        .env("SIGNET_SERVER__LISTEN", listen)
        .env("SIGNET_SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("SIGNET_LOG__LEVEL", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Waits until the server in `child` wrote its public URL into `dir` (it
/// listens then) and returns the URL; panics if it exits or takes a minute.
pub fn wait_listening(child: &mut Child, dir: &Path) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("server-url")) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("signet serve exited early: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `signet serve` on `dir` (127.0.0.1, free ports) with `env` and
/// waits until it listens: (child, public URL).
pub fn spawn_serve(dir: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = serve_command(dir, "127.0.0.1:0", env)
        .spawn()
        .expect("spawn signet serve");
    let url = wait_listening(&mut child, dir);
    (child, url)
}

/// Stops a `signet serve` child with SIGTERM and reaps it.
pub fn stop_serve(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
