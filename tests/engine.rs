//! The transfer engine against a real registry and real proxies: mounts from the blob record,
//! chunked uploads behind a body-limited nginx, resume after a cut connection, and retries of
//! 429 (with Retry-After) and 503 answers.

mod common;

use common::faultproxy::FaultProxy;
use common::{blob_bytes, env, layout_digest, via};
use idp_push::{push_blocking, BlobCacheSetting, ProgressEvent, ProgressKind, PushOptions};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

fn big_source() -> (String, std::path::PathBuf) {
    let layout = env().fixtures.join("big");
    (format!("oci:{}:v1", layout.display()), layout)
}

#[test]
fn second_repository_mounts_every_blob_and_sends_nothing() {
    let env = env();
    let cache = tempfile::tempdir().unwrap();
    let options = PushOptions {
        blob_cache: BlobCacheSetting::Dir(cache.path().to_path_buf()),
        ..env.options()
    };
    let layout = env.fixtures.join("layout");
    let source = format!("oci:{}:v1", layout.display());
    let first = push_blocking(&source, &env.dest("mount-a", "v1"), &options).unwrap();
    assert_eq!(first.blobs_uploaded, 4);

    let events: Arc<Mutex<Vec<ProgressEvent>>> = Arc::default();
    let sink = events.clone();
    let options = PushOptions {
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..options
    };
    let dest = env.dest("mount-b", "v1");
    let second = push_blocking(&source, &dest, &options).unwrap();
    assert_eq!(second.blobs_mounted, 4, "{second:?}");
    assert_eq!(second.blobs_uploaded, 0);
    assert_eq!(second.bytes_sent, 0, "a mount sends no layer bytes");
    assert_eq!(env.skopeo_digest(&dest), layout_digest(&layout, "v1"));
    let mounted = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == ProgressKind::BlobMounted)
        .count();
    assert_eq!(mounted, 4);
}

#[test]
fn stale_blob_record_falls_back_to_upload() {
    let env = env();
    let cache = tempfile::tempdir().unwrap();
    // A record that claims a repository which never received anything.
    let layout = env.fixtures.join("layout");
    let mut lines = String::new();
    for blob in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let name = blob.unwrap().file_name().into_string().unwrap();
        lines.push_str(&format!("{} nobody/never sha256:{name}\n", env.registry));
    }
    std::fs::write(cache.path().join("blob-locations-v1.txt"), lines).unwrap();
    let options = PushOptions {
        blob_cache: BlobCacheSetting::Dir(cache.path().to_path_buf()),
        ..env.options()
    };
    let dest = env.dest("stale-record", "v1");
    let report = push_blocking(&format!("oci:{}:v1", layout.display()), &dest, &options).unwrap();
    assert_eq!(report.blobs_uploaded, 4);
    assert_eq!(report.blobs_mounted, 0);
    assert_eq!(env.skopeo_digest(&dest), layout_digest(&layout, "v1"));
}

#[test]
fn chunks_through_a_proxy_with_a_16m_body_limit() {
    let env = env();
    let (source, layout) = big_source();
    let proxy = env.proxy("IDP_TEST_PROXY");
    let dest = via(&proxy, &env.dest("chunked", "v1"));
    let report = push_blocking(&source, &dest, &env.options()).unwrap();
    let want = layout_digest(&layout, "v1");
    assert_eq!(report.digest.as_str(), want);
    // Straight from the registry, not through the proxy.
    let direct = env.dest("chunked", "v1");
    assert_eq!(env.skopeo_digest(&direct), want);
    // nginx refuses on the Content-Length header, so at most what the client had buffered
    // before the 413 arrived is counted twice.
    let total = blob_bytes(&layout);
    assert!(
        report.bytes_sent <= total + 8 * MIB,
        "{} > {total}",
        report.bytes_sent
    );
}

/// Push -> connection-cutting proxy -> nginx (buffers request bodies, as ingress-nginx does) ->
/// registry. The cut chunk never reaches the registry, so the upload resumes where the
/// registry says it is.
#[test]
fn resumes_after_a_cut_connection_resending_at_most_one_chunk() {
    let env = env();
    let (source, layout) = big_source();
    let chunk = 4 * MIB;
    // Cut once, 10 MB into the traffic: in the middle of the big layer's third chunk.
    let proxy = FaultProxy::start(&env.proxy("IDP_TEST_PROXY"), 10_000_000);
    let dest_path = env.dest("resumed", "v1");
    let dest = via(&proxy.addr.to_string(), &dest_path);
    let options = PushOptions {
        chunk_size: chunk,
        concurrency: 1,
        ..env.options()
    };
    let report = push_blocking(&source, &dest, &options).unwrap();
    assert!(
        proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst),
        "the proxy cut a connection"
    );
    let total = blob_bytes(&layout);
    assert!(
        report.bytes_sent <= total + chunk,
        "sent {} for {total} bytes of blobs in chunks of {chunk}",
        report.bytes_sent
    );
    assert!(report.bytes_sent > total, "a part was resent");
    assert_eq!(env.skopeo_digest(&dest_path), layout_digest(&layout, "v1"));
}

/// Push -> connection-cutting proxy -> registry: distribution drops an upload session whose
/// request was cut mid-body, so the blob starts over, and the push still succeeds.
#[test]
fn restarts_a_blob_whose_session_the_registry_dropped() {
    let env = env();
    let (source, layout) = big_source();
    let proxy = FaultProxy::start(&env.registry, 20_000_000);
    let dest_path = env.dest("restarted", "v1");
    let dest = via(&proxy.addr.to_string(), &dest_path);
    let options = PushOptions {
        concurrency: 1,
        ..env.options()
    };
    let report = push_blocking(&source, &dest, &options).unwrap();
    assert!(proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(env.skopeo_digest(&dest_path), layout_digest(&layout, "v1"));
    let total = blob_bytes(&layout);
    assert!(report.bytes_sent > total && report.bytes_sent <= 2 * total);
}

/// How many requests the rate-limited front `var_name` answered with `status`, from its log.
fn refused(var_name: &str, status: &str) -> usize {
    std::fs::read_to_string(common::var(&format!("{var_name}_LOG")))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.trim() == status)
        .count()
}

/// Pushes through a rate-limited front; returns how long it took and how many requests the
/// front refused with `status` meanwhile (each one a retry the push had to make).
fn push_through_rate_limit(var_name: &str, repo: &str, status: &str) -> (Duration, usize) {
    let before = refused(var_name, status);
    let env = env();
    let layout = env.fixtures.join("layout");
    let proxy = env.proxy(var_name);
    let dest_path = env.dest(repo, "v1");
    let dest = via(&proxy, &dest_path);
    // Four uploads at once against 4 requests a second: more attempts than the default, as a
    // user facing such a limit would configure.
    let options = PushOptions {
        retry: Some(idp_push::RetryPolicy {
            max_attempts: 12,
            ..Default::default()
        }),
        ..env.options()
    };
    let started = Instant::now();
    let report = push_blocking(&format!("oci:{}:v1", layout.display()), &dest, &options).unwrap();
    let took = started.elapsed();
    assert_eq!(report.digest.as_str(), layout_digest(&layout, "v1"));
    assert_eq!(env.skopeo_digest(&dest_path), layout_digest(&layout, "v1"));
    (took, refused(var_name, status) - before)
}

#[test]
fn retries_429_honouring_retry_after() {
    // About 14 requests at 4 a second, so some are refused with Retry-After: 1.
    let (took, refusals) = push_through_rate_limit("IDP_TEST_PROXY_429", "retry-429", "429");
    assert!(refusals > 0, "nothing was refused, so nothing was retried");
    assert!(took >= Duration::from_millis(900), "waited {took:?}");
}

#[test]
fn retries_503_with_backoff() {
    let (_, refusals) = push_through_rate_limit("IDP_TEST_PROXY_503", "retry-503", "503");
    assert!(refusals > 0, "nothing was refused, so nothing was retried");
}

/// A destination digest the image does not have is refused before anything is sent (permanent
/// registry refusals are in reliability_faults.rs).
#[test]
fn a_destination_digest_that_does_not_match_fails_at_once() {
    let env = env();
    let layout = env.fixtures.join("layout");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let started = Instant::now();
    let err = push_blocking(
        &format!("oci:{}:v1", layout.display()),
        &format!("{}@{wrong}", env.repo("permanent")),
        &env.options(),
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.message().contains("destination names digest"), "{err}");
}
