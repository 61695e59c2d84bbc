//! A registry process killed (SIGKILL) and restarted mid-push, on the same port, certificate
//! and storage: the push either succeeds after retries or fails with a clear error, and the
//! tag only ever names a complete image (the one it had before, or the new one whole).
//!
//! Starts its own registry with tests/support/registry.sh in a temporary directory, then runs
//! `docker-registry serve` on that configuration itself so it can kill and restart it.

mod common;
mod reliability_support;

use common::TestEnv;
use idp_push::{push_blocking, ProgressEvent, ProgressKind, PushOptions, RetryPolicy};
use reliability_support::{figure, TIMEOUT};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

struct Registry {
    dir: PathBuf,
    env: TestEnv,
    child: Mutex<Option<Child>>,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/registry.sh");
        let run = |cmd: &str| {
            let status = Command::new(&script)
                .arg(cmd)
                .arg(dir)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "registry.sh {cmd}");
        };
        run("start");
        // The script's own process is replaced by ours, which we can kill and start again.
        run("stop");
        let env = TestEnv::of_registry(dir);
        let registry = Registry {
            dir: dir.to_path_buf(),
            env,
            child: Mutex::new(None),
        };
        registry.up();
        registry
    }

    /// Starts `docker-registry serve` and waits until it accepts connections.
    fn up(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("registry.log"))
            .unwrap();
        let started = Instant::now();
        loop {
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(self.dir.join("config.yml"))
                .stdout(log.try_clone().unwrap())
                .stderr(log.try_clone().unwrap())
                .spawn()
                .expect("docker-registry runs");
            *self.child.lock().unwrap() = Some(child);
            for _ in 0..100 {
                if std::net::TcpStream::connect(&self.env.registry).is_ok() {
                    return;
                }
                if let Some(status) = self
                    .child
                    .lock()
                    .unwrap()
                    .as_mut()
                    .unwrap()
                    .try_wait()
                    .unwrap()
                {
                    // The port may still be held for a moment by the killed process.
                    eprintln!("registry exited at start ({status}); trying again");
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry does not start"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn options(env: &TestEnv, progress: Option<idp_push::ProgressFn>) -> PushOptions {
    PushOptions {
        credentials: Some(env.credentials()),
        tls: env.tls(),
        blob_cache: idp_push::BlobCacheSetting::Off,
        timeout: Some(TIMEOUT),
        // Enough to outlast a restart (about a second) several times over.
        retry: Some(RetryPolicy {
            max_attempts: 12,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }),
        chunk_size: 4 << 20,
        concurrency: 2,
        progress,
        ..Default::default()
    }
}

/// Pushes the 40 MB image over a tag holding a small one; the registry is killed once `at`
/// bytes of blobs have gone up (or, with `at` = u64::MAX, just before the manifest goes up) and
/// restarted after `down`. Returns whether the push succeeded.
fn push_with_kill(registry: &Arc<Registry>, name: &str, at: u64, down: Option<Duration>) -> bool {
    let env = &registry.env;
    let (small, small_digest) = env.fixture("two-tags", "a");
    let (big, big_digest) = env.fixture("big", "v1");
    let dest = format!("{}/restart/{name}:v1", env.registry);
    push_blocking(&small, &dest, &options(env, None)).unwrap();

    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let progress: idp_push::ProgressFn = Arc::new(move |e: &ProgressEvent| {
        let trigger = match e.kind {
            ProgressKind::BlobProgress => counter.fetch_max(e.current, Ordering::SeqCst) >= at,
            ProgressKind::BlobDone | ProgressKind::BlobSkipped => {
                at == u64::MAX && {
                    // The last blob done: the manifest goes up next.
                    counter.fetch_add(1 << 40, Ordering::SeqCst) >= 2 << 40
                }
            }
            _ => false,
        };
        if trigger {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    });
    let killed = Arc::new(AtomicBool::new(false));
    let killer = {
        let (registry, killed) = (registry.clone(), killed.clone());
        std::thread::spawn(move || {
            if rx.recv().is_ok() {
                registry.kill();
                killed.store(true, Ordering::SeqCst);
                if let Some(down) = down {
                    std::thread::sleep(down);
                    registry.up();
                }
            }
        })
    };
    let started = Instant::now();
    let result = push_blocking(&big, &dest, &options(env, Some(progress)));
    let took = started.elapsed();
    killer.join().unwrap();
    assert!(
        killed.load(Ordering::SeqCst),
        "{name}: the registry was never killed, so this tested nothing"
    );
    if down.is_none() {
        registry.up();
    }
    let now = env.skopeo_tagged(&dest);
    if now.is_none() {
        eprintln!("skopeo: {:?}", env.skopeo_raw(&dest));
    }
    let outcome = match &result {
        Ok(report) => {
            assert_eq!(report.digest.as_str(), big_digest);
            assert_eq!(
                now.as_deref(),
                Some(big_digest.as_str()),
                "{name}: tag after success"
            );
            "succeeded".to_string()
        }
        Err(e) => {
            assert!(!e.message().contains('\n'));
            assert!(
                now.as_deref() == Some(small_digest.as_str())
                    || now.as_deref() == Some(big_digest.as_str()),
                "{name}: after a failed push the tag names {now:?}, neither the old image nor the whole new one ({e})"
            );
            format!("failed clearly: {e}")
        }
    };
    figure(&format!(
        "registry restart ({name}, killed: {}, down {down:?}): push {outcome} in {took:.1?}; tag complete",
        killed.load(Ordering::SeqCst)
    ));
    result.is_ok()
}

#[test]
fn registry_killed_and_restarted_mid_push() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::start(&dir.path().join("registry")));
    let down = Some(Duration::from_millis(1500));
    // Early in the big layer, near its end, and between the last blob and the manifest.
    // Rounds: 1, or IDP_SOAK_PUSHES / 5 (`make soak`: 10).
    let rounds = reliability_support::pushes(5).div_ceil(5);
    let (mut ok, mut tried) = (0, 0);
    for round in 0..rounds {
        for (name, at) in [
            ("early", 2 << 20),
            ("late", 36 << 20),
            ("before-manifest", u64::MAX),
        ] {
            ok += push_with_kill(&registry, &format!("{name}-{round}"), at, down) as u32;
            tried += 1;
        }
    }
    // Restarts of a second and a half are within the retry policy: every push must succeed.
    assert_eq!(ok, tried, "pushes that outlived a registry restart");
    figure(&format!(
        "registry restarts: {ok}/{tried} pushes outlived a SIGKILL and restart"
    ));
}

#[test]
fn registry_killed_for_good_fails_clearly_and_keeps_the_tag() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(Registry::start(&dir.path().join("registry")));
    // Down for longer than the retry policy lasts: the push fails, and says why.
    let started = Instant::now();
    let ok = push_with_kill(&registry, "for-good", 8 << 20, None);
    assert!(!ok, "the push cannot succeed with the registry down");
    assert!(started.elapsed() < Duration::from_secs(90));
}
