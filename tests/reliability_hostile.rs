//! Hostile and broken input through the Rust API and through the CLI (bin/push-c, the C ABI):
//! broken layouts and archives, bad destinations, registries that answer garbage or redirect in
//! a loop. Each fails with one clear line (the CLI: exit status 1, one `error: ` line on
//! stderr, nothing on stdout), never hangs, and nothing is tagged.

mod common;
mod reliability_support;

use common::faultproxy::{garbage_server, HttpFault, HttpFront};
use common::{copy_dir, env, largest_blob, layout_digest, via};
use idp_push::digest::Digest;
use idp_push::PushOptions;
use reliability_support::{few_retries, figure, push_c, push_within};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Case {
    name: String,
    source: String,
    dest: String,
    /// The error says (one of) these.
    says: Vec<&'static str>,
    /// Whether `dest` is in the test registry (then it must stay untagged).
    check_tag: bool,
}

fn case(name: &str, source: &str, dest: &str, says: &[&'static str], check_tag: bool) -> Case {
    Case {
        name: name.to_string(),
        source: source.to_string(),
        dest: dest.to_string(),
        says: says.to_vec(),
        check_tag,
    }
}

fn options() -> PushOptions {
    PushOptions {
        retry: Some(few_retries()),
        timeout: Some(Duration::from_secs(2)),
        ..env().options()
    }
}

/// Runs bin/push-c; fails the test if it runs over `limit`. Returns (status, stdout, stderr).
fn run_cli(source: &OsString, dest: &OsString, limit: Duration) -> (i32, String, String) {
    let env = env();
    let mut child = Command::new(push_c())
        .arg(source)
        .arg(dest)
        .env("IDP_USERNAME", &env.username)
        .env("IDP_PASSWORD", &env.password)
        .env("IDP_CA_FILE", &env.ca)
        .env("IDP_PUSH_CACHE_DIR", env.state.join("hostile-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("push-c {source:?} {dest:?} still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The API and the CLI both refuse the case, clearly, in bounded time.
fn refused(c: &Case, limit: Duration) -> String {
    let env = env();
    let (result, took) = push_within(limit, &c.source, &c.dest, &options());
    let err = match result {
        Ok(report) => panic!("{}: the push succeeded: {report:?}", c.name),
        Err(e) => e,
    };
    let message = err.message();
    assert!(!message.is_empty(), "{}: empty message", c.name);
    assert!(!message.contains('\n'), "{}: {message:?}", c.name);
    assert!(
        c.says.iter().any(|s| message.contains(s)),
        "{}: the message does not say any of {:?}: {message}",
        c.name,
        c.says
    );
    let (status, stdout, stderr) =
        run_cli(&OsString::from(&c.source), &OsString::from(&c.dest), limit);
    assert_eq!(status, 1, "{}: exit status; stderr: {stderr}", c.name);
    assert!(stdout.is_empty(), "{}: stdout {stdout:?}", c.name);
    // One error line, the last; before it at most push-c's per-blob progress lines (a corrupt
    // blob is found while it goes up, after other blobs did).
    let lines: Vec<&str> = stderr.lines().collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(
        errors.len(),
        1,
        "{}: not one error line: {stderr:?}",
        c.name
    );
    assert!(
        lines.last().unwrap().starts_with("error: ")
            && c.says.iter().any(|s| lines.last().unwrap().contains(s)),
        "{}: {stderr:?}",
        c.name
    );
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.ends_with(": Layer already exists") || l.contains(": Pushed (")),
        "{}: {stderr:?}",
        c.name
    );
    if c.check_tag {
        assert_eq!(
            env.skopeo_tagged(&c.dest),
            None,
            "{}: something was tagged",
            c.name
        );
    }
    format!("{} ({took:.1?}): {message}", c.name)
}

fn layout_copy(dir: &Path, name: &str) -> PathBuf {
    let layout = dir.join(name);
    copy_dir(&env().fixtures.join("layout"), &layout);
    layout
}

/// Writes `bytes` as a blob of `layout`; returns its descriptor JSON.
fn add_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = Digest::of(bytes);
    std::fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}})
}

fn set_index(layout: &Path, entries: Vec<serde_json::Value>) {
    let index = serde_json::json!({"schemaVersion": 2, "manifests": entries});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn broken_sources(dir: &Path) -> Vec<(String, String, Vec<&'static str>)> {
    let env = env();
    let mut out: Vec<(String, String, Vec<&'static str>)> = Vec::new();
    let mut add = |name: &str, source: String, says: &[&'static str]| {
        out.push((name.to_string(), source, says.to_vec()))
    };
    let oci = |p: &Path| format!("oci:{}:v1", p.display());

    add(
        "missing directory",
        format!("oci:{}/nope:v1", dir.display()),
        &["no such file or directory"],
    );
    let empty = dir.join("no-oci-layout");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(
        env.fixtures.join("layout/index.json"),
        empty.join("index.json"),
    )
    .unwrap();
    add(
        "directory without oci-layout",
        oci(&empty),
        &["not an OCI layout"],
    );

    let l = layout_copy(dir, "missing-blob");
    std::fs::remove_file(largest_blob(&l)).unwrap();
    add("blob missing from the layout", oci(&l), &["is missing"]);

    let l = layout_copy(dir, "corrupt-blob");
    let blob = largest_blob(&l);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    add(
        "blob content not matching its digest",
        oci(&l),
        &["corrupted", "hashes to"],
    );

    let l = layout_copy(dir, "short-blob");
    let blob = largest_blob(&l);
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &bytes[..bytes.len() - 1]).unwrap();
    add(
        "blob size disagreeing with the manifest",
        oci(&l),
        &["but the manifest says"],
    );

    // A manifest over 10 MiB, whose digest and size are right.
    let l = layout_copy(dir, "huge-manifest");
    let pad = "x".repeat(10 * 1024 * 1024 + 1);
    let huge = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[],"annotations":{{"pad":"{pad}"}}}}"#,
        Digest::of(b"{}")
    );
    let d = add_blob(&l, OCI_MANIFEST, huge.as_bytes());
    set_index(&l, vec![d]);
    add(
        "manifest over 10 MiB",
        oci(&l),
        &["over the 10 MiB", "larger than"],
    );

    let l = layout_copy(dir, "huge-index");
    std::fs::write(
        l.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[],"pad":"{pad}"}}"#),
    )
    .unwrap();
    add("index.json over 10 MiB", oci(&l), &["larger than"]);

    let l = layout_copy(dir, "bomb-index");
    std::fs::write(l.join("index.json"), "[".repeat(1 << 20)).unwrap();
    add(
        "index.json nesting bomb",
        oci(&l),
        &["not a valid OCI index"],
    );

    let l = layout_copy(dir, "bomb-annotation");
    std::fs::write(
        l.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1,"annotations":{{"a":{}}}}}]}}"#,
            Digest::of(b"x"),
            "[".repeat(100_000)
        ),
    )
    .unwrap();
    add(
        "nesting bomb inside an annotation",
        oci(&l),
        &["not a valid OCI index"],
    );

    let l = layout_copy(dir, "bomb-manifest");
    let bomb = format!(r#"{{"config":{}}}"#, "{\"a\":".repeat(50_000));
    let d = add_blob(&l, OCI_MANIFEST, bomb.as_bytes());
    set_index(&l, vec![d]);
    add(
        "manifest nesting bomb",
        oci(&l),
        &["not valid manifest JSON"],
    );

    // Indexes nested 40 deep (each a valid index of the next).
    let l = layout_copy(dir, "deep-indexes");
    let first = layout_digest(&l, "v1");
    let size = std::fs::metadata(l.join("blobs/sha256").join(&first["sha256:".len()..]))
        .unwrap()
        .len();
    let mut child = serde_json::json!({"mediaType": OCI_MANIFEST, "digest": first, "size": size});
    for _ in 0..40 {
        let idx =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]});
        let bytes = serde_json::to_vec(&idx).unwrap();
        child = add_blob(&l, OCI_INDEX, &bytes);
    }
    set_index(&l, vec![child]);
    add("indexes nested 40 deep", oci(&l), &["nest deeper"]);

    // A FIFO where index.json should be: opening it must not wait for a writer forever.
    let l = layout_copy(dir, "fifo-index");
    std::fs::remove_file(l.join("index.json")).unwrap();
    mkfifo(&l.join("index.json"));
    add("index.json is a FIFO", oci(&l), &["not a regular file"]);

    let l = layout_copy(dir, "fifo-oci-layout");
    std::fs::remove_file(l.join("oci-layout")).unwrap();
    mkfifo(&l.join("oci-layout"));
    add("oci-layout is a FIFO", oci(&l), &["not a regular file"]);

    let l = layout_copy(dir, "dir-blob");
    let blob = largest_blob(&l);
    std::fs::remove_file(&blob).unwrap();
    std::fs::create_dir(&blob).unwrap();
    add(
        "a blob that is a directory",
        oci(&l),
        &["not a regular file", "bytes, but"],
    );

    let l = layout_copy(dir, "loop-blob");
    let blob = largest_blob(&l);
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink(&blob, &blob).unwrap();
    add(
        "a blob that is a symlink loop",
        oci(&l),
        &["symbolic links", "is missing"],
    );

    let garbage = dir.join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tar archive at all".repeat(40)).unwrap();
    add(
        "an archive that is not a tar",
        format!("oci-archive:{}", garbage.display()),
        &["not a tar archive", "corrupted"],
    );
    let gz = dir.join("image.tar.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).unwrap();
    add(
        "a compressed archive",
        format!("docker-archive:{}", gz.display()),
        &["compressed", "gzip"],
    );
    let fifo = dir.join("fifo.tar");
    mkfifo(&fifo);
    add(
        "an archive that is a FIFO",
        format!("oci-archive:{}", fifo.display()),
        &["not a regular file"],
    );
    add("empty source", String::new(), &["source is empty"]);
    out
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

#[test]
fn broken_sources_fail_clearly_and_tag_nothing() {
    let env = env();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (i, (name, source, says)) in broken_sources(dir.path()).into_iter().enumerate() {
        let c = Case {
            name,
            source,
            dest: env.dest(&format!("hostile-source-{i}"), "v1"),
            says,
            check_tag: true,
        };
        lines.push(refused(&c, Duration::from_secs(30)));
    }
    for l in &lines {
        figure(&format!("hostile source: {l}"));
    }
}

#[test]
fn bad_destinations_fail_clearly() {
    let env = env();
    let (source, _) = reliability_support::multi_layer(&env);
    let repo = env.repo("hostile-dest");
    let cases = [
        ("empty tag", format!("{repo}:"), &["tag"] as &[&str]),
        (
            "uppercase repository",
            format!("{}/Upper/Case:v1", env.registry),
            &["uppercase"],
        ),
        (
            "port out of range",
            "127.0.0.1:99999/x/y:v1".to_string(),
            &["port"],
        ),
        ("port zero", "127.0.0.1:0/x/y:v1".to_string(), &["port"]),
        (
            "port not a number",
            "127.0.0.1:http/x/y:v1".to_string(),
            &["port"],
        ),
        (
            "no registry host",
            "giteaadmin/app:v1".to_string(),
            &["registry host"],
        ),
        ("whitespace", format!("{repo} x:v1"), &["whitespace"]),
        ("URL scheme", format!("https://{repo}:v1"), &["scheme"]),
        ("empty destination", String::new(), &["empty"]),
        (
            "tag too long",
            format!("{repo}:{}", "t".repeat(129)),
            &["tag"],
        ),
        ("bad digest", format!("{repo}@sha256:abc"), &["digest"]),
    ];
    let mut lines = Vec::new();
    for (name, dest, says) in cases {
        let c = case(name, &source, &dest, says, false);
        lines.push(refused(&c, Duration::from_secs(10)));
    }
    for l in &lines {
        figure(&format!("bad destination: {l}"));
    }
}

#[test]
fn invalid_utf8_arguments_fail_clearly_in_the_cli() {
    let env = env();
    let (source, _) = reliability_support::multi_layer(&env);
    let dest = env.dest("hostile-utf8", "v1");
    let mut bad_source = b"oci:/tmp/\xff\xfe:v1".to_vec();
    let mut bad_dest = dest.clone().into_bytes();
    bad_dest.push(0xff);
    for (what, s, d) in [
        (
            "source",
            OsString::from_vec(std::mem::take(&mut bad_source)),
            OsString::from(&dest),
        ),
        (
            "destination",
            OsString::from(&source),
            OsString::from_vec(bad_dest.clone()),
        ),
    ] {
        let (status, stdout, stderr) = run_cli(&s, &d, Duration::from_secs(10));
        assert_eq!(status, 1, "{what}: {stderr}");
        assert!(stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr:?}");
        assert!(stderr.contains("UTF-8"), "{what}: {stderr}");
        figure(&format!("invalid UTF-8 {what} (CLI): {}", stderr.trim()));
    }
    assert_eq!(env.skopeo_tagged(&dest), None);
}

/// Registries that are not: bytes that are not HTTP (after TLS, and instead of TLS), a
/// redirect loop, a redirect elsewhere, a server whose /v2/ is not there.
#[test]
fn garbage_and_redirecting_registries_fail_clearly() {
    let env = env();
    let (source, _) = reliability_support::multi_layer(&env);
    let tls_garbage = garbage_server(Some(&env.state), b"\x00\x01garbage\xff\r\n\r\nnot http");
    let http_garbage = garbage_server(
        Some(&env.state),
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
    );
    let plain_garbage = garbage_server(None, b"SSH-2.0-OpenSSH_9.2\r\n");
    let self_loop = HttpFront::start(
        &env.registry,
        &env.state,
        &env.ca,
        Arc::new(|r| HttpFault::Redirect(r.path.clone())),
    );
    let away = HttpFront::start(
        &env.registry,
        &env.state,
        &env.ca,
        Arc::new(|_| HttpFault::Redirect("https://127.0.0.1:1/v2/".into())),
    );
    let not_found = HttpFront::start(
        &env.registry,
        &env.state,
        &env.ca,
        Arc::new(|_| HttpFault::Reply(404, None)),
    );
    let dest = env.dest("hostile-registry", "v1");
    let cases = [
        (
            "non-HTTP bytes after TLS",
            tls_garbage.addr.to_string(),
            &["GET /v2/"] as &[&str],
        ),
        (
            "malformed HTTP",
            http_garbage.addr.to_string(),
            &["GET /v2/"],
        ),
        (
            "not TLS at all",
            plain_garbage.addr.to_string(),
            &["does not speak TLS"],
        ),
        ("redirect loop", self_loop.host(), &["307"]),
        ("redirect elsewhere", away.host(), &["307"]),
        ("/v2/ not found", not_found.host(), &["404"]),
    ];
    let mut lines = Vec::new();
    for (name, host, says) in cases {
        let c = case(name, &source, &via(&host, &dest), says, false);
        lines.push(refused(&c, Duration::from_secs(30)));
    }
    assert_eq!(env.skopeo_tagged(&dest), None);
    for l in &lines {
        figure(&format!("hostile registry: {l}"));
    }
}
