//! Shared by the tests/reliability_*.rs files: policies that keep fault tests short, checks of
//! what a tag points at, a watchdog for pushes that must not hang, and the figures log.
#![allow(dead_code)]

use crate::common::{env, TestEnv};
use idp_push::{push_blocking, PushOptions, PushReport, RetryPolicy};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Retries that make transient faults survivable and permanent ones fail in seconds.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        max_elapsed: Duration::from_secs(30),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
    }
}

/// Few attempts, for permanent faults.
pub fn few_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    }
}

/// The read/connect timeout the fault tests use (a stalled connection costs this much).
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The multi-layer fixture: `oci:DIR:v1` and its manifest digest.
pub fn multi_layer(env: &TestEnv) -> (String, String) {
    env.fixture("layout", "v1")
}

/// A small other image (`two-tags:a`), to tag first and check it stays.
pub fn small_image(env: &TestEnv) -> (String, String) {
    env.fixture("two-tags", "a")
}

/// Pushes on another thread and fails the test (instead of hanging it) after `limit`.
pub fn push_within(
    limit: Duration,
    source: &str,
    dest: &str,
    options: &PushOptions,
) -> (idp_push::Result<PushReport>, Duration) {
    let (tx, rx) = mpsc::channel();
    let (source, target, options) = (source.to_string(), dest.to_string(), options.clone());
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(push_blocking(&source, &target, &options));
    });
    match rx.recv_timeout(limit) {
        Ok(result) => (result, started.elapsed()),
        Err(_) => panic!("push to {dest} still running after {limit:?}: it hangs"),
    }
}

/// bin/push-c, the C example (or $IDP_TEST_PUSH_C), which the process-level tests run.
pub fn push_c() -> PathBuf {
    let path = std::env::var_os("IDP_TEST_PUSH_C")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/push-c"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `make bin/push-c`",
        path.display()
    );
    path
}

/// Appends a line to $IDP_RELIABILITY_LOG (the figures RELIABILITY.md reports) and stderr.
pub fn figure(line: &str) {
    eprintln!("figure: {line}");
    if let Ok(path) = std::env::var("IDP_RELIABILITY_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// How many pushes the soak tests make: IDP_SOAK_PUSHES, else `short`.
pub fn pushes(short: u64) -> u64 {
    std::env::var("IDP_SOAK_PUSHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(short)
}

/// A seed for random faults: IDP_FAULT_SEED, else from the clock (printed, to replay a run).
pub fn seed() -> u64 {
    let seed = std::env::var("IDP_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("fault seed {seed} (IDP_FAULT_SEED={seed} replays it)");
    seed
}

/// The registry's state directory (server.crt, server.key).
pub fn state() -> PathBuf {
    env().state
}
