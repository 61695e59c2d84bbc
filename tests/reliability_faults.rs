//! Pushes through injected faults, against the real registry of `make test`.
//!
//! - Transient faults at random points (TCP resets and truncations in both directions, refused
//!   connections, stalls, slow links; 500/502/503/429 answers, answers replaced after the
//!   registry did the work, answers cut short): every push succeeds and skopeo reads back the
//!   exact manifest. IDP_SOAK_PUSHES pushes of each kind (default 5; `make soak`: 50).
//! - Permanent faults: each push fails with a clear error within its time bound, and the tag
//!   keeps pointing at the image it had.
//! - A stalled connection (accepted, never answered; or stopped mid-body) is detected by the
//!   timeout, not waited on forever.

mod common;
mod reliability_support;

use common::faultproxy::{chaos, Fault, FaultProxy, HttpChooser, HttpFault, HttpFront};
use common::{env, via};
use idp_push::{push_blocking, ErrorKind, PushOptions};
use reliability_support::*;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn options(retry: idp_push::RetryPolicy) -> PushOptions {
    PushOptions {
        retry: Some(retry),
        timeout: Some(TIMEOUT),
        ..env().options()
    }
}

// ---------------------------------------------------------------------------------------------
// Transient faults.

/// TCP-level chaos: each push of the multi-layer image (4 blobs, ~5 MB, a new repository each
/// time so everything is uploaded) goes through a proxy that faults about one connection in
/// two, at most 5 per push, at random offsets up to 6 MB.
#[test]
fn transient_tcp_faults_every_push_succeeds_and_verifies() {
    let env = env();
    let (source, want) = multi_layer(&env);
    let n = pushes(5);
    let seed = seed();
    let kinds = [
        "reset-up",
        "reset-down",
        "truncate-down",
        "refuse",
        "stall-up",
        "stall-down",
        "slow",
    ];
    let (mut faults, mut sent) = (0, 0);
    let started = std::time::Instant::now();
    for i in 0..n {
        let proxy = FaultProxy::with(
            &env.registry,
            chaos(seed.wrapping_add(i), 0.5, 5, 6 << 20, &kinds),
        );
        let dest = env.dest(&format!("tcp-chaos-{i}"), "v1");
        let (result, took) = push_within(
            Duration::from_secs(120),
            &source,
            &via(&proxy.host(), &dest),
            &options(quick_retry()),
        );
        let report = result.unwrap_or_else(|e| {
            panic!(
                "push {i} (seed {}) failed through {}: {e}",
                seed.wrapping_add(i),
                proxy.stats.summary()
            )
        });
        assert_eq!(report.digest.as_str(), want);
        assert_eq!(env.skopeo_digest(&dest), want, "push {i}");
        faults += proxy.stats.injected();
        sent += report.bytes_sent;
        eprintln!("push {i}: {took:.1?}, {}", proxy.stats.summary());
    }
    // With one connection in two faulted over every push, none at all means the proxy is broken.
    assert!(faults > 0, "no TCP fault was injected: nothing was tested");
    figure(&format!(
        "tcp-chaos: {n}/{n} pushes succeeded and verified, {faults} TCP faults hit, {} MB sent, {:.0?}",
        sent >> 20,
        started.elapsed()
    ));
}

/// HTTP-level chaos: about one request in six gets 500/502/503/429 (with and without
/// Retry-After), a 500/502 after the registry did the work, an answer cut short, a dropped
/// connection, or a delay; at most 6 per push.
#[test]
fn transient_http_faults_every_push_succeeds_and_verifies() {
    let env = env();
    let (source, want) = multi_layer(&env);
    let n = pushes(5);
    let seed = seed();
    let (mut faults, mut requests) = (0, 0);
    let mut log = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..n {
        let front = HttpFront::start(
            &env.registry,
            &env.state,
            &env.ca,
            http_chaos(seed.wrapping_add(i), 0.17, 6),
        );
        let dest = env.dest(&format!("http-chaos-{i}"), "v1");
        let (result, _) = push_within(
            Duration::from_secs(120),
            &source,
            &via(&front.host(), &dest),
            &options(quick_retry()),
        );
        let report = result.unwrap_or_else(|e| {
            panic!(
                "push {i} (seed {}) failed: {e}; faults: {:?}",
                seed.wrapping_add(i),
                front.log.lock().unwrap()
            )
        });
        assert_eq!(report.digest.as_str(), want);
        assert_eq!(env.skopeo_digest(&dest), want, "push {i}");
        faults += front.injected();
        requests += front.requests.load(Ordering::SeqCst);
        log.extend(front.log.lock().unwrap().iter().cloned());
    }
    assert!(
        faults > 0,
        "no HTTP fault was injected in {requests} requests: nothing was tested"
    );
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    for line in &log {
        *kinds
            .entry(line.rsplit(" -> ").next().unwrap().to_string())
            .or_default() += 1;
    }
    figure(&format!(
        "http-chaos: {n}/{n} pushes succeeded and verified, {faults} HTTP faults in {requests} requests ({kinds:?}), {:.0?}",
        started.elapsed()
    ));
}

fn http_chaos(seed: u64, p: f64, budget: u64) -> HttpChooser {
    let rng = Mutex::new(fastrand::Rng::with_seed(seed));
    let left = std::sync::atomic::AtomicU64::new(budget);
    Arc::new(move |_req| {
        let mut rng = rng.lock().unwrap();
        if rng.f64() >= p
            || left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                .is_err()
        {
            return HttpFault::Pass;
        }
        match rng.u8(0..9) {
            0 => HttpFault::Reply(500, None),
            1 => HttpFault::Reply(502, None),
            2 => HttpFault::Reply(503, Some(0)),
            3 => HttpFault::Reply(429, Some(1)),
            4 => HttpFault::AfterUpstream(500),
            5 => HttpFault::AfterUpstream(502),
            6 => HttpFault::TruncateBody(rng.usize(0..200)),
            7 => HttpFault::Drop,
            _ => HttpFault::Delay(Duration::from_millis(rng.u64(50..800))),
        }
    })
}

/// Every HTTP fault kind once, at the request where it hurts most: the final PUT of a blob, a
/// PATCH, the tagging PUT of the manifest (each answered 500 *after* the registry did it).
#[test]
fn faults_after_the_registry_did_the_work_are_survived() {
    let env = env();
    let (source, want) = multi_layer(&env);
    for (name, pick) in [
        ("blob PUT", "PUT /v2/" as &str),
        ("manifest PUT", "/manifests/"),
        ("upload POST", "POST /v2/"),
        ("HEAD", "HEAD /v2/"),
    ] {
        let pick = pick.to_string();
        let hits = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = hits.clone();
        let front = HttpFront::start(
            &env.registry,
            &env.state,
            &env.ca,
            Arc::new(move |req| {
                let line = format!("{} {}", req.method, req.path);
                if line.contains(&pick) && counter.fetch_add(1, Ordering::SeqCst) < 2 {
                    HttpFault::AfterUpstream(502)
                } else {
                    HttpFault::Pass
                }
            }),
        );
        let dest = env.dest(
            &format!("after-{}", name.replace(' ', "-").to_lowercase()),
            "v1",
        );
        let report = push_blocking(&source, &via(&front.host(), &dest), &options(quick_retry()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.digest.as_str(), want);
        assert_eq!(env.skopeo_digest(&dest), want, "{name}");
        assert!(front.injected() >= 1, "{name}: no fault was injected");
    }
}

/// A stall in the middle of a transfer, either way, is timed out and retried.
#[test]
fn a_stall_mid_transfer_is_timed_out_and_retried() {
    let env = env();
    let layout = env.fixtures.join("big");
    let source = format!("oci:{}:v1", layout.display());
    let want = common::layout_digest(&layout, "v1");
    for (i, fault) in [Fault::StallUp(3 << 20), Fault::StallDown(1200)]
        .into_iter()
        .enumerate()
    {
        let proxy = FaultProxy::with(
            &env.registry,
            Arc::new(move |n| if n < 3 { fault } else { Fault::None }),
        );
        let dest = env.dest(&format!("stall-mid-{i}"), "v1");
        let (result, took) = push_within(
            Duration::from_secs(60),
            &source,
            &via(&proxy.host(), &dest),
            &options(quick_retry()),
        );
        let report = result.unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(report.digest.as_str(), want);
        assert_eq!(env.skopeo_digest(&dest), want);
        assert!(
            proxy.stats.injected() >= 1,
            "{fault:?} never hit: {report:?} {}",
            proxy.stats.summary()
        );
        figure(&format!(
            "stall {}: detected and retried, push took {took:.1?} with a {TIMEOUT:?} timeout",
            fault.name()
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Permanent faults: a clear error, in bounded time, and the tag untouched.

struct Permanent {
    name: &'static str,
    /// What the error message must contain.
    says: &'static [&'static str],
    limit: Duration,
}

/// Tags `dest` with the small image, then pushes the multi-layer one to it through a fault
/// that never goes away: the push must fail as `p` says, and the tag must still be the small
/// image.
fn fails_and_keeps_tag(p: &Permanent, host: &str, dest: &str) {
    let env = env();
    let (small, small_digest) = small_image(&env);
    push_blocking(&small, dest, &env.options()).unwrap();
    let (source, _) = multi_layer(&env);
    let (result, took) = push_within(
        p.limit + Duration::from_secs(30),
        &source,
        &via(host, dest),
        &options(few_retries()),
    );
    let err = result.expect_err(p.name);
    let message = err.message();
    assert!(!message.contains('\n'), "{}: {message}", p.name);
    assert!(
        p.says.iter().any(|s| message.contains(s)),
        "{}: the error does not say {:?}: {message}",
        p.name,
        p.says
    );
    assert!(took <= p.limit, "{}: took {took:?} > {:?}", p.name, p.limit);
    assert_eq!(
        env.skopeo_tagged(dest).as_deref(),
        Some(small_digest.as_str()),
        "{}: the tag moved",
        p.name
    );
    figure(&format!(
        "permanent {}: failed in {took:.1?} (bound {:?}), tag kept: {message}",
        p.name, p.limit
    ));
}

#[test]
fn permanent_http_faults_fail_clearly_in_bounded_time_and_keep_the_tag() {
    let env = env();
    let cases: Vec<(Permanent, HttpChooser)> = vec![
        (
            Permanent {
                name: "every request 500",
                says: &["500"],
                limit: Duration::from_secs(15),
            },
            Arc::new(|_| HttpFault::Reply(500, None)),
        ),
        (
            Permanent {
                name: "every request 503 Retry-After 1",
                says: &["503"],
                limit: Duration::from_secs(15),
            },
            Arc::new(|_| HttpFault::Reply(503, Some(1))),
        ),
        (
            Permanent {
                name: "every request 429 Retry-After 1",
                says: &["429"],
                limit: Duration::from_secs(15),
            },
            Arc::new(|_| HttpFault::Reply(429, Some(1))),
        ),
        (
            Permanent {
                name: "manifest PUT always 502",
                says: &["502"],
                limit: Duration::from_secs(20),
            },
            Arc::new(|r| {
                if r.method == "PUT" && r.path.contains("/manifests/") {
                    HttpFault::Reply(502, None)
                } else {
                    HttpFault::Pass
                }
            }),
        ),
        (
            Permanent {
                name: "blob uploads always dropped",
                says: &["uploading blob", "upload"],
                limit: Duration::from_secs(40),
            },
            Arc::new(|r| {
                if (r.method == "PUT" || r.method == "PATCH") && r.path.contains("/blobs/uploads/")
                {
                    HttpFault::Drop
                } else {
                    HttpFault::Pass
                }
            }),
        ),
        (
            Permanent {
                name: "blob upload requests always 500",
                says: &["500"],
                limit: Duration::from_secs(20),
            },
            Arc::new(|r| {
                if r.path.contains("/blobs/uploads/") {
                    HttpFault::Reply(500, None)
                } else {
                    HttpFault::Pass
                }
            }),
        ),
        (
            Permanent {
                name: "blob uploads denied (403)",
                says: &["403"],
                limit: Duration::from_secs(5),
            },
            Arc::new(|r| {
                if r.method == "POST" && r.path.contains("/blobs/uploads/") {
                    HttpFault::Reply(403, None)
                } else {
                    HttpFault::Pass
                }
            }),
        ),
        (
            Permanent {
                name: "every answer cut short",
                says: &["manifest", "blob", "GET /v2/", "error"],
                limit: Duration::from_secs(20),
            },
            Arc::new(|_| HttpFault::TruncateBody(0)),
        ),
    ];
    for (i, (p, choose)) in cases.into_iter().enumerate() {
        let front = HttpFront::start(&env.registry, &env.state, &env.ca, choose);
        let dest = env.dest(&format!("permanent-http-{i}"), "v1");
        fails_and_keeps_tag(&p, &front.host(), &dest);
    }
}

#[test]
fn permanent_tcp_faults_fail_clearly_in_bounded_time_and_keep_the_tag() {
    let env = env();
    let cases: Vec<(Permanent, Fault)> = vec![
        (
            Permanent {
                name: "every connection refused (reset)",
                says: &["reset", "connection", "closed"],
                limit: Duration::from_secs(10),
            },
            Fault::Refuse,
        ),
        (
            Permanent {
                name: "every connection stalled (accepted, never answered)",
                says: &["timed out", "timeout"],
                limit: Duration::from_secs(20),
            },
            Fault::Blackhole,
        ),
        (
            Permanent {
                name: "every connection reset after 100 KB sent",
                says: &["reset", "connection", "closed", "error"],
                limit: Duration::from_secs(30),
            },
            Fault::ResetUp(100_000),
        ),
    ];
    for (i, (p, fault)) in cases.into_iter().enumerate() {
        let proxy = FaultProxy::with(&env.registry, Arc::new(move |_| fault));
        let dest = env.dest(&format!("permanent-tcp-{i}"), "v1");
        fails_and_keeps_tag(&p, &proxy.host(), &dest);
    }
}

/// A server that accepts and never answers: without a timeout option the default one applies;
/// with a 1 s one, the push fails in about attempts x 1 s, saying it timed out.
#[test]
fn a_stalled_server_is_timed_out_not_waited_on() {
    let env = env();
    let proxy = FaultProxy::with(&env.registry, Arc::new(|_| Fault::Blackhole));
    let (source, _) = multi_layer(&env);
    let options = PushOptions {
        timeout: Some(Duration::from_secs(1)),
        retry: Some(idp_push::RetryPolicy {
            max_attempts: 2,
            ..few_retries()
        }),
        ..env.options()
    };
    let (result, took) = push_within(
        Duration::from_secs(30),
        &source,
        &via(&proxy.host(), &env.dest("stalled", "v1")),
        &options,
    );
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(err.message().contains("timed out"), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    figure(&format!(
        "stalled server: detected in {took:.1?} with a 1 s timeout and 2 attempts: {err}"
    ));
}
