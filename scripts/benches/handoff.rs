//! Thread hand-off benchmark (harness = false): what one wake-up of another
//! thread costs on this machine. Two threads pass a token back and forth
//! through rendezvous channels; every pass wakes the other thread and puts
//! the sender to sleep (a context switch on each side). Run: `cargo bench
//! --bench handoff`. docs/performance-log.md uses it to price the context
//! switches counted per ACME flow and per store operation.

use std::sync::mpsc::sync_channel;
use std::time::Instant;

fn passes_per_sec(passes: u32) -> f64 {
    let (to_b, from_a) = sync_channel::<u32>(0);
    let (to_a, from_b) = sync_channel::<u32>(0);
    let b = std::thread::spawn(move || {
        while let Ok(v) = from_a.recv() {
            if to_a.send(v).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..passes / 2 {
        to_b.send(i).expect("pass to B");
        from_b.recv().expect("pass back to A");
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(to_b);
    let _ = b.join();
    f64::from(passes) / elapsed
}

fn main() {
    let passes = std::env::var("SIGNET_BENCH_PASSES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000u32);
    let rate = passes_per_sec(passes);
    println!(
        "thread hand-offs/s {rate:.0}  ({:.2} us per hand-off; pin with `taskset -c 0` for the same-core cost)",
        1e6 / rate
    );
}
