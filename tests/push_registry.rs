//! Pushes to a real distribution registry over TLS with basic auth, checked with skopeo.

mod common;

use common::{copy_dir, env, largest_blob, layout_digest};
use idp_push::{
    login_blocking, push_blocking, CancellationToken, ErrorKind, ProgressEvent, ProgressKind,
    PushOptions, TlsOptions,
};
use std::sync::{Arc, Mutex};

#[test]
fn pushes_layout_made_by_umoci_and_skopeo_sees_same_digest() {
    let env = env();
    let layout = env.fixtures.join("layout");
    let dest = env.dest("umoci", "v1");
    let events: Arc<Mutex<Vec<ProgressEvent>>> = Arc::default();
    let sink = events.clone();
    let options = PushOptions {
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(e.clone())
        })),
        ..env.options()
    };
    let report = push_blocking(&format!("oci:{}:v1", layout.display()), &dest, &options).unwrap();

    let want = layout_digest(&layout, "v1");
    assert_eq!(report.digest.as_str(), want);
    assert_eq!(env.skopeo_digest(&dest), want);
    assert_eq!(report.blobs_uploaded, 4, "config and three layers");
    assert_eq!(report.blobs_present, 0);
    assert_eq!(report.reference, dest);

    // Progress: every uploaded blob starts and finishes, and the finished sizes add up to the
    // bytes sent (plus at most the one small blob that finds out whether the registry takes
    // single-request uploads, which the distribution registry ignores).
    let events = events.lock().unwrap();
    let done: u64 = events
        .iter()
        .filter(|e| e.kind == ProgressKind::BlobDone)
        .map(|e| e.total)
        .sum();
    assert!(
        done <= report.bytes_sent && report.bytes_sent <= done + 64 * 1024,
        "done {done}, sent {}",
        report.bytes_sent
    );
    let started = events
        .iter()
        .filter(|e| e.kind == ProgressKind::BlobStarted)
        .count();
    assert_eq!(started, 4);
    assert!(events
        .iter()
        .any(|e| e.kind == ProgressKind::ManifestPushed && e.digest.as_str() == want));
    drop(events);

    // A second push finds every blob in place and sends none.
    let again = push_blocking(
        &format!("oci:{}:v1", layout.display()),
        &dest,
        &env.options(),
    )
    .unwrap();
    assert_eq!(again.blobs_uploaded, 0);
    assert_eq!(again.blobs_present, 4);
    assert_eq!(again.bytes_sent, 0);
    assert_eq!(again.digest.as_str(), want);
}

#[test]
fn corrupted_blob_fails_naming_it_and_nothing_is_tagged() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    copy_dir(&env.fixtures.join("layout"), &layout);
    let blob = largest_blob(&layout);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();

    let dest = env.dest("corrupt", "v1");
    let err = push_blocking(layout.to_str().unwrap(), &dest, &env.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    let name = blob.file_name().unwrap().to_str().unwrap();
    assert!(err.message().contains(name), "{err}");
    assert_eq!(
        env.skopeo_tagged(&dest),
        None,
        "the tag must not exist after a corrupted push"
    );
}

#[test]
fn wrong_password_is_unauthorized_and_not_echoed() {
    let env = env();
    let secret = "wrong-Pa55word-that-must-not-leak";
    let options = PushOptions {
        credentials: Some(idp_push::Credentials::new(&env.username, secret)),
        ..env.options()
    };
    let layout = env.fixtures.join("layout");
    let err = push_blocking(
        &format!("oci:{}:v1", layout.display()),
        &env.dest("wrongpw", "v1"),
        &options,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("unauthorized"), "{err}");
    assert!(!format!("{err} {err:?} {options:?}").contains(secret));

    let login = login_blocking(
        &env.registry,
        &idp_push::LoginOptions {
            credentials: options.credentials.as_ref().cloned(),
            tls: options.tls.clone(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(login.kind(), ErrorKind::Unauthorized);
    assert!(!login.message().contains(secret));
}

#[test]
fn login_checks_credentials() {
    let env = env();
    let ok = login_blocking(
        &env.registry,
        &idp_push::LoginOptions {
            credentials: Some(env.credentials().clone()),
            tls: env.tls(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ok.scheme, idp_push::AuthScheme::Basic);
    let anonymous = login_blocking(
        &env.registry,
        &idp_push::LoginOptions {
            credentials: None,
            tls: env.tls(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(anonymous.kind(), ErrorKind::Unauthorized);
}

#[test]
fn tls_trust_unknown_ca_and_insecure() {
    let env = env();
    let layout = env.fixtures.join("layout");
    let source = format!("oci:{}:v1", layout.display());
    let wrong = PushOptions {
        tls: TlsOptions {
            ca_file: Some(env.wrong_ca.clone()),
            ..Default::default()
        },
        ..env.options()
    };
    let err = push_blocking(&source, &env.dest("tls", "v1"), &wrong).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.message().contains("unknown authority"), "{err}");
    assert!(err.message().contains("--insecure"), "{err}");

    let insecure = PushOptions {
        tls: TlsOptions {
            insecure: true,
            ..Default::default()
        },
        ..env.options()
    };
    let report = push_blocking(&source, &env.dest("tls", "v1"), &insecure).unwrap();
    assert_eq!(
        env.skopeo_digest(&env.dest("tls", "v1")),
        report.digest.as_str()
    );
}

#[test]
fn unreachable_registry_is_a_network_error() {
    let env = env();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let layout = env.fixtures.join("layout");
    let err = push_blocking(
        &format!("oci:{}:v1", layout.display()),
        &format!("127.0.0.1:{port}/x/y:1"),
        &env.options(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert!(err.message().contains("cannot connect"), "{err}");
}

#[test]
fn layout_with_two_images_needs_a_tag() {
    let env = env();
    let layout = env.fixtures.join("two-tags");
    let err = push_blocking(
        layout.to_str().unwrap(),
        &env.dest("two", "x"),
        &env.options(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource);
    assert!(err.message().contains("choose one"), "{err}");
    assert!(err.message().contains("a, b"), "{err}");

    let dest = env.dest("two", "b");
    let report = push_blocking(
        &format!("oci:{}:b", layout.display()),
        &dest,
        &env.options(),
    )
    .unwrap();
    assert_eq!(report.digest.as_str(), layout_digest(&layout, "b"));
    assert_eq!(env.skopeo_digest(&dest), report.digest.as_str());
}

/// Builds an OCI index over the two images of the two-tags layout and pushes it: children
/// first, then the index byte for byte.
#[test]
fn pushes_an_index_byte_for_byte() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("multi");
    copy_dir(&env.fixtures.join("two-tags"), &layout);
    let index_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut children = index_json["manifests"].as_array().unwrap().clone();
    for (child, arch) in children.iter_mut().zip(["amd64", "arm64"]) {
        child["annotations"] = serde_json::json!({});
        child["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
    }
    let index = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children,
    }))
    .unwrap();
    let digest = idp_push::digest::Digest::of(&index);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), &index).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest.as_str(), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let dest = env.dest("index", "multi");
    let report = push_blocking(
        &format!("oci:{}:multi", layout.display()),
        &dest,
        &env.options(),
    )
    .unwrap();
    assert_eq!(report.digest, digest);
    assert_eq!(env.skopeo_raw(&dest).unwrap(), index);
    for child in &children {
        let child_digest = child["digest"].as_str().unwrap();
        let by_digest = format!("{}@{child_digest}", env.repo("index"));
        assert_eq!(env.skopeo_digest(&by_digest), child_digest);
    }
}

#[test]
fn cancelled_push_tags_nothing() {
    let env = env();
    let token = CancellationToken::new();
    token.cancel();
    let options = PushOptions {
        cancel: Some(token),
        ..env.options()
    };
    let dest = env.dest("cancelled", "v1");
    let layout = env.fixtures.join("layout");
    let err = push_blocking(&format!("oci:{}:v1", layout.display()), &dest, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(env.skopeo_tagged(&dest), None);
}

#[test]
fn bad_sources_fail_clearly() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let dest = env.dest("bad", "v1");
    let missing = dir.path().join("nope");
    let err = push_blocking(missing.to_str().unwrap(), &dest, &env.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource);
    assert!(err.message().contains("no such file"), "{err}");

    let not_layout = dir.path().join("plain");
    std::fs::create_dir(&not_layout).unwrap();
    let err = push_blocking(not_layout.to_str().unwrap(), &dest, &env.options()).unwrap_err();
    assert!(err.message().contains("is not an OCI layout"), "{err}");

    let layout = dir.path().join("missing-blob");
    copy_dir(&env.fixtures.join("layout"), &layout);
    let blob = largest_blob(&layout);
    std::fs::remove_file(&blob).unwrap();
    let err = push_blocking(layout.to_str().unwrap(), &dest, &env.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource);
    assert!(err.message().contains("is missing"), "{err}");

    let err = push_blocking(
        &format!("oci:{}:nosuchtag", env.fixtures.join("layout").display()),
        &dest,
        &env.options(),
    )
    .unwrap_err();
    assert!(
        err.message().contains("no image tagged \"nosuchtag\""),
        "{err}"
    );
    assert_eq!(env.skopeo_tagged(&dest), None);
}
