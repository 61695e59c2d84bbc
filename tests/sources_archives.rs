//! oci-archive and docker-archive sources, multi-platform images and hostile archives, pushed
//! to the real registry of `make test` and checked with skopeo. The archives are made by
//! tests/support/archives.sh (skopeo, umoci, tar, buildah, Python's tarfile).

mod common;

use common::faultproxy::FaultProxy;
use common::{blob_bytes, env, layout_digest, via, TestEnv};
use idp_push::digest::Digest;
use idp_push::{push_blocking, BlobCacheSetting, ErrorKind, PushOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const GZIP_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const TAR_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

fn archives() -> PathBuf {
    env().fixtures.join("archives")
}

fn archive(name: &str) -> String {
    archives().join(name).display().to_string()
}

/// The manifest the registry serves, parsed, after checking its digest is `digest`.
fn served(env: &TestEnv, reference: &str, digest: &Digest) -> serde_json::Value {
    let raw = env
        .skopeo_raw(reference)
        .expect("the image is in the registry");
    assert_eq!(&Digest::of(&raw), digest, "{reference}");
    serde_json::from_slice(&raw).unwrap()
}

/// `skopeo copy docker://REF oci:DIR:pulled`: the registry serves every blob and skopeo checks
/// each against its digest. Returns the layout.
fn pull_back(env: &TestEnv, reference: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--retry-times", "0"])
        // Keep uncompressed layers as they are served, so their digests can be checked.
        .arg("--dest-oci-accept-uncompressed-layers")
        .arg("--src-cert-dir")
        .arg(env.skopeo_cert_dir())
        .arg("--src-creds")
        .arg(format!("{}:{}", env.username, env.password))
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:pulled", dir.path().display()))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The config of a docker archive's only image, as stored.
fn archive_config(tar: &str) -> Vec<u8> {
    let manifest = tar_file(tar, "manifest.json");
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    tar_file(tar, manifest[0]["Config"].as_str().unwrap())
}

fn tar_file(tar: &str, name: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["-xOf", tar, name])
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -xOf {tar} {name}");
    out.stdout
}

/// Checks a pushed docker v2 manifest: the archive's config byte for byte, layers of
/// `layer_type` whose uncompressed content hashes to the config's diff_ids.
fn check_docker_image(env: &TestEnv, dest: &str, digest: &Digest, tar: &str, layer_type: &str) {
    let manifest = served(env, dest, digest);
    assert_eq!(manifest["mediaType"], DOCKER_V2);
    let config = archive_config(tar);
    assert_eq!(manifest["config"]["digest"], Digest::of(&config).as_str());
    assert_eq!(manifest["config"]["size"], config.len());
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    let pulled = pull_back(env, dest);
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        assert_eq!(layer["mediaType"], layer_type);
        let digest = Digest::parse(layer["digest"].as_str().unwrap()).unwrap();
        let blob = std::fs::read(pulled.path().join("blobs/sha256").join(digest.hex())).unwrap();
        assert_eq!(Digest::of(&blob), digest);
        let uncompressed = if layer_type == GZIP_LAYER {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&blob[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            blob
        };
        assert_eq!(
            Digest::of(&uncompressed).as_str(),
            diff_id.as_str().unwrap()
        );
    }
}

#[test]
fn oci_archive_from_skopeo_pushes_byte_for_byte() {
    let env = env();
    let want = layout_digest(&env.fixtures.join("layout"), "v1");
    let tar = archive("oci-skopeo.tar");
    for (i, source) in [
        format!("oci-archive:{tar}:v1"),
        format!("oci-archive:{tar}"),
        format!("{tar}:v1"),
        tar.clone(),
    ]
    .iter()
    .enumerate()
    {
        let dest = env.dest(&format!("oci-archive-{i}"), "v1");
        let report = push_blocking(source, &dest, &env.options()).unwrap();
        assert_eq!(report.digest.as_str(), want, "{source}");
        assert_eq!(env.skopeo_digest(&dest), want, "{source}");
        assert_eq!(report.blobs_uploaded, 4, "{source}");
    }
}

#[test]
fn oci_archive_made_by_tar_with_dot_slash_names() {
    let env = env();
    let want = layout_digest(&env.fixtures.join("layout"), "v1");
    let dest = env.dest("oci-tar", "v1");
    let report = push_blocking(&archive("oci-tar.tar"), &dest, &env.options()).unwrap();
    assert_eq!(report.digest.as_str(), want);
    assert_eq!(env.skopeo_digest(&dest), want);
    let err = push_blocking(
        &format!("oci-archive:{}:nope", archive("oci-tar.tar")),
        &dest,
        &env.options(),
    )
    .unwrap_err();
    assert!(err.message().contains("OCI archive"), "{err}");
    assert!(
        err.message()
            .contains("no image tagged \"nope\" (tags: v1)"),
        "{err}"
    );
}

#[test]
fn docker_archive_is_compressed_on_the_fly_and_pulls_back() {
    let env = env();
    let tar = archive("docker-skopeo.tar");
    let cache = tempfile::tempdir().unwrap();
    let options = PushOptions {
        blob_cache: BlobCacheSetting::Dir(cache.path().to_path_buf()),
        ..env.options()
    };
    let dest = env.dest("docker", "v1");
    let report = push_blocking(&format!("docker-archive:{tar}:app:v1"), &dest, &options).unwrap();
    assert_eq!(report.blobs_uploaded, 4, "{report:?}");
    check_docker_image(&env, &dest, &report.digest, &tar, GZIP_LAYER);

    // Warm: the record says what each layer became; the registry has it; nothing is sent or
    // compressed, and the manifest is the same.
    let again = push_blocking(&format!("docker-archive:{tar}"), &dest, &options).unwrap();
    assert_eq!(again.digest, report.digest);
    assert_eq!(again.blobs_present, 4, "{again:?}");
    assert_eq!(again.bytes_sent, 0);

    // Another repository: the blobs are mounted from the first.
    let other = env.dest("docker-mounted", "v1");
    let mounted = push_blocking(&tar, &other, &options).unwrap();
    assert_eq!(mounted.digest, report.digest);
    assert_eq!(mounted.blobs_mounted, 4, "{mounted:?}");

    // A record the registry cannot honour (it never saw those blobs): compress again.
    let stale = tempfile::tempdir().unwrap();
    let config: serde_json::Value = serde_json::from_slice(&archive_config(&tar)).unwrap();
    let mut lines = String::new();
    for diff_id in config["rootfs"]["diff_ids"].as_array().unwrap() {
        lines.push_str(&format!(
            "{} {} sha256:{} 1234\n",
            env.registry,
            diff_id.as_str().unwrap(),
            "0".repeat(64)
        ));
    }
    std::fs::write(stale.path().join("compressed-layers-v1.txt"), lines).unwrap();
    let stale_options = PushOptions {
        blob_cache: BlobCacheSetting::Dir(stale.path().to_path_buf()),
        ..env.options()
    };
    let fresh = env.dest("docker-stale-record", "v1");
    let recompressed = push_blocking(&tar, &fresh, &stale_options).unwrap();
    assert_eq!(recompressed.blobs_uploaded, 4, "{recompressed:?}");
    check_docker_image(&env, &fresh, &recompressed.digest, &tar, GZIP_LAYER);
}

#[test]
fn docker_archive_kept_uncompressed() {
    let env = env();
    let tar = archive("docker-skopeo.tar");
    let options = PushOptions {
        keep_uncompressed: true,
        ..env.options()
    };
    let dest = env.dest("docker-tar", "v1");
    let report = push_blocking(&format!("docker-archive:{tar}:app:v1"), &dest, &options).unwrap();
    check_docker_image(&env, &dest, &report.digest, &tar, TAR_LAYER);
    // Digests are known up front, so a second push finds every blob with HEAD.
    let again = push_blocking(&tar, &dest, &options).unwrap();
    assert_eq!(again.digest, report.digest);
    assert_eq!(again.blobs_present, 4);
}

#[test]
fn docker_archive_written_by_buildah() {
    let env = env();
    let tar = archive("docker-buildah.tar");
    let dest = env.dest("docker-buildah", "v1");
    let report = push_blocking(
        &format!("docker-archive:{tar}:bimg:v1"),
        &dest,
        &env.options(),
    )
    .unwrap();
    check_docker_image(&env, &dest, &report.digest, &tar, GZIP_LAYER);
}

#[test]
fn docker_archive_with_two_images_needs_a_name() {
    let env = env();
    let tar = archive("docker-two.tar");
    let dest = env.dest("docker-two", "v1");
    let err = push_blocking(&format!("docker-archive:{tar}"), &dest, &env.options()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource);
    assert!(err.message().contains("holds 2 images"), "{err}");
    assert!(err.message().contains("app:v1, other:b"), "{err}");
    let err = push_blocking(&format!("{tar}:nope:1"), &dest, &env.options()).unwrap_err();
    assert!(err.message().contains("no image named nope:1"), "{err}");
    assert_eq!(env.skopeo_tagged(&dest), None);

    let report = push_blocking(
        &format!("docker-archive:{tar}:docker.io/library/other:b"),
        &dest,
        &env.options(),
    )
    .unwrap();
    assert_eq!(env.skopeo_digest(&dest), report.digest.as_str());
    // The config is two-tags:b's.
    let manifest = served(&env, &dest, &report.digest);
    let two_tags = env.fixtures.join("two-tags");
    let b: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            two_tags
                .join("blobs/sha256")
                .join(&layout_digest(&two_tags, "b")["sha256:".len()..]),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["config"]["digest"], b["config"]["digest"]);
}

#[test]
fn docker_25_archive_pushes_its_oci_manifest() {
    let env = env();
    let tar = archive("docker-oci.tar");
    let want = std::fs::read_to_string(archives().join("docker-oci.manifest-digest")).unwrap();
    for (i, source) in [
        format!("docker-archive:{tar}:app:v1"),
        format!("docker-archive:{tar}"),
        tar.clone(),
    ]
    .iter()
    .enumerate()
    {
        let dest = env.dest(&format!("docker-oci-{i}"), "v1");
        let report = push_blocking(source, &dest, &env.options()).unwrap();
        assert_eq!(report.digest.as_str(), want.trim(), "{source}");
        assert_eq!(env.skopeo_digest(&dest), want.trim());
    }
}

fn index_children(layout: &Path, tag: &str) -> Vec<serde_json::Value> {
    let digest = layout_digest(layout, tag);
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap(),
    )
    .unwrap();
    index["manifests"].as_array().unwrap().clone()
}

#[test]
fn multi_platform_index_and_platform_selection() {
    let env = env();
    let layout = archives().join("multi");
    let source = format!("oci:{}:multi", layout.display());
    let want = layout_digest(&layout, "multi");
    let children = index_children(&layout, "multi");

    // The whole index: children by digest first, then the index byte for byte.
    let dest = env.dest("multi", "all");
    let report = push_blocking(&source, &dest, &env.options()).unwrap();
    assert_eq!(report.digest.as_str(), want);
    assert_eq!(report.manifests_pushed, 3);
    assert_eq!(env.skopeo_digest(&dest), want);
    for child in &children {
        let digest = child["digest"].as_str().unwrap();
        assert_eq!(
            env.skopeo_digest(&format!("{}@{digest}", env.repo("multi"))),
            digest
        );
    }

    // One platform, from the layout and from a tar of it.
    let arm64 = children
        .iter()
        .find(|c| c["platform"]["architecture"] == "arm64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    for (i, source) in [
        source.clone(),
        format!("oci-archive:{}:multi", archive("multi.tar")),
    ]
    .iter()
    .enumerate()
    {
        let options = PushOptions {
            platform: Some("linux/arm64".into()),
            ..env.options()
        };
        let dest = env.dest(&format!("multi-arm64-{i}"), "v1");
        let report = push_blocking(source, &dest, &options).unwrap();
        assert_eq!(report.digest.as_str(), arm64);
        assert_eq!(report.manifests_pushed, 1);
        assert_eq!(env.skopeo_digest(&dest), arm64);
    }

    let none = PushOptions {
        platform: Some("linux/s390x".into()),
        ..env.options()
    };
    let dest = env.dest("multi-none", "v1");
    let err = push_blocking(&source, &dest, &none).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource);
    assert!(
        err.message().contains("no image for platform linux/s390x"),
        "{err}"
    );
    assert!(err.message().contains("linux/amd64, linux/arm64"), "{err}");
    assert_eq!(env.skopeo_tagged(&dest), None);

    // A single image: its config must say the platform asked for.
    let single = format!("oci:{}:amd64", layout.display());
    let arm = PushOptions {
        platform: Some("linux/arm64".into()),
        ..env.options()
    };
    let err = push_blocking(&single, &dest, &arm).unwrap_err();
    assert!(
        err.message()
            .contains("is for platform linux/amd64, not linux/arm64"),
        "{err}"
    );
    let amd = PushOptions {
        platform: Some("linux/amd64".into()),
        ..env.options()
    };
    let report = push_blocking(&single, &dest, &amd).unwrap();
    assert_eq!(report.digest.as_str(), layout_digest(&layout, "amd64"));

    // A docker archive's config is checked the same way.
    let err = push_blocking(&archive("docker-skopeo.tar"), &dest, &arm).unwrap_err();
    assert!(err.message().contains("not linux/arm64"), "{err}");
    let bad = PushOptions {
        platform: Some("linux".into()),
        ..env.options()
    };
    let err = push_blocking(&source, &dest, &bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn docker_archive_through_a_body_limited_proxy_goes_in_chunks() {
    let env = env();
    let tar = archive("docker-big.tar");
    let proxy = env.proxy("IDP_TEST_PROXY");
    let direct = env.dest("docker-chunked", "v1");
    let dest = via(&proxy, &direct);
    let report = push_blocking(&tar, &dest, &env.options()).unwrap();
    check_docker_image(&env, &direct, &report.digest, &tar, GZIP_LAYER);
    // The first, streamed attempt is refused once nginx has read 16m; chunks then fit.
    assert!(report.bytes_sent < 100_000_000, "{report:?}");
}

const MIB: u64 = 1024 * 1024;

/// Push -> connection-cutting proxy -> nginx (buffers bodies) -> registry: blobs read from
/// their offsets in the archive resume where the registry says it is.
#[test]
fn oci_archive_upload_resumes_mid_blob() {
    let env = env();
    let tar = archive("oci-big.tar");
    let chunk = 4 * MIB;
    let proxy = FaultProxy::start(&env.proxy("IDP_TEST_PROXY"), 10_000_000);
    let direct = env.dest("oci-archive-resumed", "v1");
    let dest = via(&proxy.addr.to_string(), &direct);
    let options = PushOptions {
        chunk_size: chunk,
        concurrency: 1,
        ..env.options()
    };
    let report = push_blocking(&format!("oci-archive:{tar}:v1"), &dest, &options).unwrap();
    assert!(proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst));
    let want = layout_digest(&env.fixtures.join("big"), "v1");
    assert_eq!(report.digest.as_str(), want);
    assert_eq!(env.skopeo_digest(&direct), want);
    let total = blob_bytes(&env.fixtures.join("big"));
    assert!(
        report.bytes_sent > total && report.bytes_sent <= total + chunk,
        "sent {} for {total}",
        report.bytes_sent
    );
}

/// A compressed layer's chunk cut in flight is sent again from memory: at most one chunk twice.
#[test]
fn compressed_chunk_is_resent_after_a_cut() {
    let env = env();
    let tar = archive("docker-big.tar");
    let chunk = 4 * MIB;
    let proxy = FaultProxy::start(&env.proxy("IDP_TEST_PROXY"), 10_000_000);
    let direct = env.dest("docker-resumed", "v1");
    let dest = via(&proxy.addr.to_string(), &direct);
    let options = PushOptions {
        chunk_size: chunk,
        concurrency: 1,
        ..env.options()
    };
    let report = push_blocking(&tar, &dest, &options).unwrap();
    assert!(proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst));
    let manifest = served(&env, &direct, &report.digest);
    let total: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&manifest["config"]])
        .map(|d| d["size"].as_u64().unwrap())
        .sum();
    // One chunk twice, plus the config once more: the small probe that finds out whether the
    // registry takes single-request uploads (distribution ignores its body).
    let config = manifest["config"]["size"].as_u64().unwrap();
    assert!(
        report.bytes_sent > total && report.bytes_sent <= total + chunk + config,
        "sent {} for {total}",
        report.bytes_sent
    );
    check_docker_image(&env, &direct, &report.digest, &tar, GZIP_LAYER);
}

/// Cut mid-stream straight at the registry, which then drops the session: the layer is
/// compressed and sent again from the start.
#[test]
fn streamed_layer_restarts_when_the_session_is_lost() {
    let env = env();
    let tar = archive("docker-big.tar");
    let proxy = FaultProxy::start(&env.registry, 20_000_000);
    let direct = env.dest("docker-restarted", "v1");
    let dest = via(&proxy.addr.to_string(), &direct);
    let options = PushOptions {
        concurrency: 1,
        ..env.options()
    };
    let report = push_blocking(&tar, &dest, &options).unwrap();
    assert!(proxy.cut_done.load(std::sync::atomic::Ordering::SeqCst));
    check_docker_image(&env, &direct, &report.digest, &tar, GZIP_LAYER);
}

#[test]
fn docker_archive_with_forced_chunks() {
    let env = env();
    let tar = archive("docker-skopeo.tar");
    let options = PushOptions {
        chunk_size: 1024 * 1024,
        ..env.options()
    };
    let dest = env.dest("docker-forced-chunks", "v1");
    let report = push_blocking(&tar, &dest, &options).unwrap();
    check_docker_image(&env, &dest, &report.digest, &tar, GZIP_LAYER);
}

#[test]
fn hostile_archives_fail_clearly_and_tag_nothing() {
    let env = env();
    let cases: &[(&str, ErrorKind, &[&str])] = &[
        (
            "traversal.tar",
            ErrorKind::InvalidSource,
            &["\"../evil\"", "'..'"],
        ),
        (
            "absolute.tar",
            ErrorKind::InvalidSource,
            &["\"/tmp/idp-push-evil\"", "absolute"],
        ),
        (
            "symlink.tar",
            ErrorKind::InvalidSource,
            &["\"blobs/evil\"", "outside the archive"],
        ),
        (
            "hardlink.tar",
            ErrorKind::InvalidSource,
            &["\"evil\"", "hard link", "'..'"],
        ),
        ("truncated.tar", ErrorKind::InvalidSource, &["truncated"]),
        (
            "duplicate.tar",
            ErrorKind::InvalidSource,
            &["blobs/sha256/", "twice", "different content"],
        ),
        (
            "corrupted.tar",
            ErrorKind::DigestMismatch,
            &["corrupted", "hashes to"],
        ),
        (
            "docker-diffid.tar",
            ErrorKind::DigestMismatch,
            &["diff_id", ".tar\""],
        ),
        (
            "compressed.tar.gz",
            ErrorKind::InvalidSource,
            &["gzip-compressed", "gunzip"],
        ),
    ];
    for (name, kind, needles) in cases {
        let path = archives().join("hostile").join(name);
        let dest = env.dest(&format!("hostile-{}", name.replace('.', "-")), "v1");
        let err = push_blocking(path.to_str().unwrap(), &dest, &env.options()).unwrap_err();
        assert_eq!(err.kind(), *kind, "{name}: {err}");
        if *kind == ErrorKind::InvalidSource {
            assert!(
                err.message().contains(path.to_str().unwrap()),
                "{name}: {err}"
            );
        }
        for needle in *needles {
            assert!(
                err.message().contains(needle),
                "{name}: {needle:?} in {err}"
            );
        }
        assert!(!err.message().contains('\n'));
        assert_eq!(
            env.skopeo_tagged(&dest),
            None,
            "{name}: the tag must not exist"
        );
    }
}

/// `inspect` reports what a push then sends: the same digest, which skopeo then reads from
/// the registry, and the names the source gives the image.
#[test]
fn inspect_reports_what_a_push_sends() {
    use idp_push::source::{SourceKind, SourceOptions};
    let env = env();
    let layout = env.fixtures.join("layout").display().to_string();
    let uncompressed = SourceOptions {
        keep_uncompressed: true,
        ..Default::default()
    };
    let arm64 = SourceOptions {
        platform: Some("linux/arm64".into()),
        ..Default::default()
    };
    let cases = [
        (
            format!("oci:{layout}:v1"),
            SourceOptions::default(),
            SourceKind::Layout,
            Some("v1"),
            None,
        ),
        (
            archive("oci-skopeo.tar"),
            SourceOptions::default(),
            SourceKind::OciArchive,
            Some("v1"),
            None,
        ),
        (
            archive("docker-oci.tar"),
            SourceOptions::default(),
            SourceKind::DockerArchive,
            None,
            Some("app:v1"),
        ),
        (
            archive("docker-skopeo.tar"),
            uncompressed,
            SourceKind::DockerArchive,
            None,
            Some("app:v1"),
        ),
        (
            format!("{}:multi", archive("multi.tar")),
            arm64,
            SourceKind::OciArchive,
            Some("multi"),
            None,
        ),
    ];
    for (i, (source, options, kind, ref_name, repo_tag)) in cases.into_iter().enumerate() {
        let inspection = idp_push::inspect_blocking(&source, &options).unwrap();
        assert_eq!(inspection.info.kind, kind, "{source}");
        assert_eq!(inspection.info.ref_name.as_deref(), ref_name, "{source}");
        assert_eq!(inspection.info.repo_tag.as_deref(), repo_tag, "{source}");
        let manifest = inspection.manifest.expect("a known manifest");
        assert_eq!(Digest::of(&manifest.bytes), manifest.digest, "{source}");

        let dest = env.dest(&format!("inspected-{i}"), "v1");
        let push = PushOptions {
            platform: options.platform.clone(),
            keep_uncompressed: options.keep_uncompressed,
            ..env.options()
        };
        let report = push_blocking(&source, &dest, &push).unwrap();
        assert_eq!(report.digest, manifest.digest, "{source}");
        assert_eq!(
            env.skopeo_digest(&dest),
            manifest.digest.as_str(),
            "{source}"
        );
    }

    // A classic docker archive compressed on the fly: its manifest exists only after the push.
    let classic = idp_push::inspect_blocking(
        &format!(
            "docker-archive:{}:docker.io/library/app:v1",
            archive("docker-skopeo.tar")
        ),
        &SourceOptions::default(),
    )
    .unwrap();
    assert!(classic.manifest.is_none());
    assert_eq!(classic.info.repo_tag.as_deref(), Some("app:v1"));

    let err =
        idp_push::inspect_blocking(&archive("hostile/traversal.tar"), &SourceOptions::default())
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidSource, "{err}");
}
