//! Pushes of overlapping images at the same time, sharing one blob record
//! (`IDP_PUSH_CACHE_DIR`): as threads of one process (the Rust API) and as separate processes
//! (bin/push-c, the C ABI). All succeed, skopeo reads back every manifest, and the record holds
//! only whole, well-formed lines.

mod common;
mod reliability_support;

use common::{copy_dir, env, layout_digest};
use idp_push::{push_blocking, BlobCacheSetting, PushOptions};
use reliability_support::{figure, push_c, pushes, quick_retry};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Three images sharing layers: `A` (config + 3 layers), `B` (A's config and first two
/// layers), `C` (A's config, layers 2 and 3 in another order). Returns (source, digest) of each.
fn overlapping(dir: &Path) -> Vec<(String, String)> {
    let env = env();
    let layout = dir.join("overlap");
    copy_dir(&env.fixtures.join("layout"), &layout);
    let a = layout_digest(&layout, "v1");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&a["sha256:".len()..])).unwrap(),
    )
    .unwrap();
    let layers = manifest["layers"].as_array().unwrap().clone();
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut out = vec![(format!("oci:{}:v1", layout.display()), a.clone())];
    for (tag, picked) in [
        ("b", vec![layers[0].clone(), layers[1].clone()]),
        ("c", vec![layers[2].clone(), layers[1].clone()]),
    ] {
        let mut m = manifest.clone();
        m["layers"] = serde_json::Value::Array(picked);
        let bytes = serde_json::to_vec(&m).unwrap();
        let digest = idp_push::digest::Digest::of(&bytes);
        std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest.to_string(),
                "size": bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }));
        out.push((
            format!("oci:{}:{tag}", layout.display()),
            digest.to_string(),
        ));
    }
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    out
}

/// Every line of the blob record is whole: `registry repository sha256:<64 hex>`.
fn record_is_well_formed(cache: &Path) -> usize {
    let text = std::fs::read_to_string(cache.join("blob-locations-v1.txt")).unwrap_or_default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "a torn record line: {line:?}");
        assert!(
            idp_push::digest::Digest::parse(parts[2]).is_ok(),
            "a torn record line: {line:?}"
        );
    }
    text.lines().count()
}

/// Rounds of 6 threads: each of the three images into a shared repository (own tag) and into
/// a repository of its own, all at once, all recording into one blob record.
#[test]
fn threads_pushing_overlapping_images_share_the_record() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let images = overlapping(dir.path());
    let cache = dir.path().join("cache");
    let options = PushOptions {
        blob_cache: BlobCacheSetting::Dir(cache.clone()),
        retry: Some(quick_retry()),
        ..env.options()
    };
    let rounds = pushes(5).div_ceil(5).max(1);
    let started = Instant::now();
    let mut done = 0;
    let (mut uploaded, mut mounted, mut present) = (0, 0, 0);
    for round in 0..rounds {
        let handles: Vec<_> = images
            .iter()
            .enumerate()
            .flat_map(|(i, (source, digest))| {
                [
                    env.dest(&format!("threads-{round}-shared"), &format!("img{i}")),
                    env.dest(&format!("threads-{round}-own{i}"), "v1"),
                ]
                .into_iter()
                .map(move |dest| (source.clone(), digest.clone(), dest))
            })
            .map(|(source, digest, dest)| {
                let options = options.clone();
                std::thread::spawn(move || {
                    let report = push_blocking(&source, &dest, &options)
                        .unwrap_or_else(|e| panic!("{dest}: {e}"));
                    assert_eq!(report.digest.as_str(), digest);
                    (dest, digest, report)
                })
            })
            .collect();
        for h in handles {
            let (dest, digest, report) = h.join().expect("a push thread panicked");
            assert_eq!(env.skopeo_digest(&dest), digest, "{dest}");
            uploaded += report.blobs_uploaded;
            mounted += report.blobs_mounted;
            present += report.blobs_present;
            done += 1;
        }
    }
    let lines = record_is_well_formed(&cache);
    assert!(lines > 0, "nothing was recorded");
    figure(&format!(
        "threads: {done}/{done} concurrent pushes of 3 overlapping images (6 at a time) succeeded and verified; blobs uploaded {uploaded}, mounted {mounted}, present {present}; record {lines} whole lines; {:.1?}",
        started.elapsed()
    ));
}

/// Rounds of two bin/push-c processes at once, overlapping images, one shared record; the
/// second round goes to new repositories, so the record's mounts are used across processes.
#[test]
fn processes_pushing_overlapping_images_share_the_record() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let images = overlapping(dir.path());
    let cache = dir.path().join("cache");
    let cli = push_c();
    let rounds = pushes(5).div_ceil(5).max(1) + 1;
    let started = Instant::now();
    let mut done = 0;
    for round in 0..rounds {
        let children: Vec<_> = [(0usize, "x"), (1, "y"), (2, "x")]
            .into_iter()
            .map(|(i, repo)| {
                let (source, digest) = images[i].clone();
                let dest = env.dest(&format!("procs-{round}-{repo}"), &format!("img{i}"));
                let child = Command::new(&cli)
                    .arg(&source)
                    .arg(&dest)
                    .env("IDP_USERNAME", &env.username)
                    .env("IDP_PASSWORD", &env.password)
                    .env("IDP_CA_FILE", &env.ca)
                    .env("IDP_PUSH_CACHE_DIR", &cache)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                (dest, digest, child)
            })
            .collect();
        for (dest, digest, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{dest}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                format!("{dest}@{digest}")
            );
            assert_eq!(env.skopeo_digest(&dest), digest, "{dest}");
            done += 1;
        }
    }
    let lines = record_is_well_formed(&cache);
    assert!(lines > 0);
    figure(&format!(
        "processes: {done}/{done} bin/push-c pushes (3 at a time, overlapping images, one record) succeeded and verified; record {lines} whole lines; {:.1?}",
        started.elapsed()
    ));
}
