//! What each fuzz target does with its input, and the properties it checks besides "no panic,
//! no hang". Shared by the libFuzzer targets (`fuzz/fuzz_targets/*.rs`) and by the replay in
//! `cargo test` (`tests/reliability_fuzz.rs`, which includes this file by path).
//!
//! Structured targets (`oci_layout`, `docker_archive`) take several files in one input,
//! separated by [`SEP`]; in a file, `{{dN}}`, `{{hN}}` and `{{sN}}` become the digest, the
//! hex digest and the size of file N once file N is final (files are finalised from the last
//! to the first, so a file may name any later one). That lets mutated manifests still find
//! their blobs, which random bytes never would.
#![allow(dead_code)]

use idp_push::digest::Digest;
use idp_push::source::{Image, ImageNode, Source, SourceOptions, TarIndex};
use std::path::{Path, PathBuf};

/// Separates the files of a structured input.
pub const SEP: &[u8] = b"\n=====\n";

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (as in fuzz/Cargo.toml).
pub const TARGETS: &[(&str, Target)] = &[
    ("reference", reference),
    ("www_authenticate", www_authenticate),
    ("oci_manifest", oci_manifest),
    ("oci_layout", oci_layout),
    ("docker_config", docker_config),
    ("helper_output", helper_output),
    ("tar_archive", tar_archive),
    ("docker_archive", docker_archive),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// A scratch directory, in memory when the machine has /dev/shm.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new().prefix("idp-fuzz").tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::Builder::new()
        .prefix("idp-fuzz")
        .tempdir()
        .expect("a temporary directory")
}

/// Every error message is one line (callers print it as is).
fn one_line(message: &str) {
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "a multi-line error message: {message:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Destination references.

pub fn reference(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    use idp_push::reference::{parse_registry, Reference};
    let _ = parse_registry(input).map_err(|e| one_line(e.message()));
    match Reference::parse(input) {
        Err(e) => {
            one_line(e.message());
            assert_eq!(e.kind(), idp_push::ErrorKind::InvalidReference, "{e:?}");
        }
        Ok(r) => {
            assert!(!r.registry.is_empty() && !r.repository.is_empty(), "{r:?}");
            assert_eq!(r.registry, r.registry.to_ascii_lowercase(), "{r:?}");
            assert!(
                !r.repository.chars().any(|c| c.is_ascii_uppercase()),
                "uppercase repository accepted: {r:?}"
            );
            assert!(r.tag.is_some() || r.digest.is_some(), "{r:?}");
            if let Some(tag) = &r.tag {
                assert!(!tag.is_empty() && tag.len() <= 128, "{r:?}");
            }
            if let Some(d) = &r.digest {
                assert!(Digest::parse(d).is_ok(), "{r:?}");
            }
            // What we print parses back to the same reference.
            let shown = r.to_string();
            let again = Reference::parse(&shown)
                .unwrap_or_else(|e| panic!("{shown:?} (from {input:?}) does not parse: {e}"));
            assert_eq!(again, r, "{input:?} -> {shown:?}");
            assert!(!r.manifest_reference().is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate.

pub fn www_authenticate(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    use idp_push::auth::parse_challenge;
    let parsed = parse_challenge(header);
    // Leading and trailing whitespace never changes the answer.
    assert_eq!(
        parse_challenge(&format!("  {header}\t")),
        parsed,
        "{header:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// index.json and manifests, parsed alone.

pub fn oci_manifest(data: &[u8]) {
    use idp_push::source::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
    match idp_push::fuzzing::index_json(data) {
        Ok(_) => {}
        Err(e) => one_line(e.message()),
    }
    for declared in [
        "",
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_LIST,
        "x/y",
    ] {
        match idp_push::fuzzing::manifest(data, declared) {
            Ok((is_index, blobs, children)) => {
                if is_index {
                    assert_eq!(blobs, 0);
                } else {
                    assert_eq!(children, 0);
                    assert!(blobs >= 1, "an image manifest has at least its config");
                }
            }
            Err(e) => one_line(e.message()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Structured inputs: several files, with digests filled in.

/// Splits an input into files and fills in `{{dN}}`, `{{hN}}`, `{{sN}}` (N = 1..9).
pub fn files(data: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = split(data, SEP).into_iter().map(<[u8]>::to_vec).collect();
    parts.truncate(10);
    for i in (0..parts.len()).rev() {
        let mut part = std::mem::take(&mut parts[i]);
        for (j, later) in parts.iter().enumerate().skip(i + 1) {
            let d = Digest::of(later);
            part = replace(
                &part,
                format!("{{{{d{j}}}}}").as_bytes(),
                d.as_str().as_bytes(),
            );
            part = replace(
                &part,
                format!("{{{{h{j}}}}}").as_bytes(),
                d.hex().as_bytes(),
            );
            part = replace(
                &part,
                format!("{{{{s{j}}}}}").as_bytes(),
                later.len().to_string().as_bytes(),
            );
        }
        parts[i] = part;
    }
    parts
}

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = find(rest, sep) {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if find(data, from).is_none() {
        return data.to_vec();
    }
    split(data, from).join(to)
}

/// The opposite of [`files`] (without placeholders): one input from files.
pub fn join(files: &[&[u8]]) -> Vec<u8> {
    files.join(SEP)
}

/// Opens a source and checks what a push relies on: every manifest's bytes hash to its
/// digest, every blob exists with its size (`check_blob` passes), and docker archive layers
/// stream to the end (their diff_ids are checked while they do).
fn open_and_check(source: &str) {
    let options = SourceOptions::default();
    let opened = runtime().block_on(Source::open(source, &options));
    let (source, image) = match opened {
        Ok(x) => (x.source, x.image),
        Err(e) => {
            one_line(e.message());
            return;
        }
    };
    match &image {
        Image::Ready(root) => {
            let mut blobs = Vec::new();
            check_tree(root, &mut blobs, 0);
            for blob in blobs {
                if let Err(e) = runtime().block_on(source.check_blob(&blob)) {
                    one_line(e.message());
                }
            }
        }
        Image::Pending(pending) => {
            if let Err(e) = runtime().block_on(source.check_blob(&pending.config)) {
                one_line(e.message());
            }
            for layer in &pending.layers {
                drain(layer);
            }
        }
    }
}

fn check_tree(node: &ImageNode, blobs: &mut Vec<idp_push::source::Descriptor>, depth: usize) {
    assert!(depth < 64, "an index tree deeper than the reader allows");
    let m = node.manifest();
    assert_eq!(
        Digest::of(&m.bytes),
        m.digest,
        "a manifest whose bytes do not hash to its digest was accepted"
    );
    match node {
        ImageNode::Manifest { blobs: b, .. } => blobs.extend(b.iter().cloned()),
        ImageNode::Index { children, .. } => {
            for c in children {
                check_tree(c, blobs, depth + 1);
            }
        }
    }
}

fn drain(layer: &idp_push::source::StreamLayer) {
    use futures_util::StreamExt;
    runtime().block_on(async {
        let mut stream = layer.compress();
        let mut total = 0u64;
        while let Some(piece) = stream.next().await {
            match piece {
                Ok(bytes) => total += bytes.len() as u64,
                Err(e) => {
                    one_line(e.message());
                    return;
                }
            }
        }
        if let Some((_, size)) = stream.result() {
            assert_eq!(
                size, total,
                "compressed size differs from the bytes streamed"
            );
        }
    });
}

fn open_with_platform(source: &str) {
    let options = SourceOptions {
        platform: Some("linux/amd64".into()),
        ..Default::default()
    };
    if let Err(e) = runtime().block_on(Source::open(source, &options)) {
        one_line(e.message());
    }
}

/// Writes an OCI layout: file 0 is index.json, files 1.. are blobs (stored under their digest).
pub fn write_layout(data: &[u8]) -> tempfile::TempDir {
    let files = files(data);
    let dir = scratch();
    let root = dir.path();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(root.join("index.json"), &files[0]).unwrap();
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    for f in &files[1..] {
        std::fs::write(blobs.join(Digest::of(f).hex()), f).unwrap();
    }
    dir
}

pub fn oci_layout(data: &[u8]) {
    let dir = write_layout(data);
    let shown = dir.path().display().to_string();
    open_and_check(&format!("oci:{shown}"));
    open_and_check(&format!("oci:{shown}:v1"));
    open_with_platform(&format!("oci:{shown}"));
}

/// Opens a source with default options (for tests of the seeds themselves).
pub fn open(source: &str) -> idp_push::Result<Image> {
    runtime()
        .block_on(Source::open(source, &SourceOptions::default()))
        .map(|opened| opened.image)
}

// ---------------------------------------------------------------------------------------------
// Credentials.

/// Registries a push looks credentials up for.
const REGISTRIES: &[&str] = &[
    "gitea.cnoe.localtest.me:8443",
    "docker.io",
    "127.0.0.1:5000",
    "https://index.docker.io/v1/",
];

/// A marker the seeds put in secrets: it must never show in an error message.
pub const SECRET_MARK: &str = "s3cr3t";

pub fn docker_config(data: &[u8]) {
    for registry in REGISTRIES {
        match idp_push::fuzzing::docker_config(data, registry) {
            Ok(_) => {}
            Err(why) => {
                one_line(&why);
                assert!(!why.contains(SECRET_MARK), "a secret in an error: {why:?}");
            }
        }
    }
}

pub fn helper_output(data: &[u8]) {
    match idp_push::fuzzing::helper_output(data) {
        Ok(Some(c)) => {
            assert!(
                !c.password.is_empty() || c.identity_token.is_some(),
                "credentials without a secret"
            );
            assert!(
                !format!("{c:?}").contains(SECRET_MARK),
                "Debug shows a secret"
            );
        }
        Ok(None) => {}
        Err(why) => assert!(!why.contains(SECRET_MARK)),
    }
}

// ---------------------------------------------------------------------------------------------
// Archives.

/// Any bytes as a tar file: indexed, looked up, then opened as an image archive.
pub fn tar_archive(data: &[u8]) {
    let dir = scratch();
    let path = dir.path().join("image.tar");
    std::fs::write(&path, data).unwrap();
    match TarIndex::build(&path) {
        Err(e) => one_line(e.message()),
        Ok(index) => {
            for name in [
                "manifest.json",
                "index.json",
                "oci-layout",
                "a",
                "a/b",
                "blobs/sha256",
                "../x",
                "/etc/passwd",
            ] {
                if let Ok(Some(entry)) = index.lookup(name) {
                    assert!(
                        entry.offset.saturating_add(entry.size) <= data.len() as u64,
                        "{name}: entry {entry:?} beyond the end of a {}-byte archive",
                        data.len()
                    );
                }
            }
        }
    }
    let shown = path.display().to_string();
    open_and_check(&shown);
    open_and_check(&format!("docker-archive:{shown}"));
    open_and_check(&format!("oci-archive:{shown}"));
}

/// Writes a docker archive: file 0 is manifest.json, files 1.. are stored as `f1`, `f2`, ...
/// and also under `<hex>.json` (the name docker gives configs); `{{hN}}` etc. name them.
pub fn write_docker_archive(data: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch();
    let path = dir.path().join("docker.tar");
    std::fs::write(&path, docker_tar(data)).unwrap();
    (dir, path)
}

fn docker_tar(data: &[u8]) -> Vec<u8> {
    let files = files(data);
    let mut entries: Vec<(String, &[u8])> = vec![("manifest.json".into(), &files[0])];
    for (i, f) in files.iter().enumerate().skip(1) {
        entries.push((format!("f{i}"), f));
        entries.push((format!("{}.json", Digest::of(f).hex()), f));
    }
    let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    tar_of(&entries)
}

pub fn docker_archive(data: &[u8]) {
    let (_dir, path) = write_docker_archive(data);
    let shown = path.display().to_string();
    open_and_check(&format!("docker-archive:{shown}"));
    open_and_check(&format!("docker-archive:{shown}:app:v1"));
    open_with_platform(&format!("docker-archive:{shown}"));
}

// ---------------------------------------------------------------------------------------------
// Seeds: small valid (and some nearly valid) inputs for each target, from which the fuzzers
// start and which the cargo test replay mutates.

pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let s = |x: &str| x.as_bytes().to_vec();
    match target {
        "reference" => [
            "gitea.cnoe.localtest.me:8443/giteaadmin/app:v1",
            "localhost/a/b/c",
            "127.0.0.1:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "[::1]:5000/repo:tag",
            "docker://registry.example.com/ns/img:1.0",
            "host.example/UPPER:v1",
            "host:99999/x",
            "host/x:",
            "registry.example.com/a__b/c.d-e:tag_1",
        ]
        .iter()
        .map(|x| s(x))
        .collect(),
        "www_authenticate" => [
            r#"Bearer realm="https://gitea.cnoe.localtest.me:8443/v2/token",service="container_registry",scope="*""#,
            r#"Basic realm="idp-push-test""#,
            r#"bearer realm=https://x/token, service="a\"b""#,
            r#"Bearer realm="",scope="repository:a:pull,push""#,
            "Negotiate",
            r#"Bearer realm="x", Basic realm="y""#,
        ]
        .iter()
        .map(|x| s(x))
        .collect(),
        "oci_manifest" => vec![
            s(&manifest_json("sha256:aa", 2)),
            s(&format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":30}}]}}"#,
                Digest::of(b"{}"),
                Digest::of(b"x")
            )),
            s(&format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":5,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
                Digest::of(b"y")
            )),
            s(r#"{"config":{"digest":"sha256:../../etc/passwd","size":1}}"#),
            s(&"[".repeat(200)),
        ],
        "oci_layout" => layout_seeds(),
        "docker_config" => vec![
            s(&format!(
                r#"{{"auths":{{"gitea.cnoe.localtest.me:8443":{{"auth":"{}"}}}}}}"#,
                b64(&format!("giteaAdmin:{SECRET_MARK}"))
            )),
            s(&format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"username":"u","password":"{SECRET_MARK}"}},"127.0.0.1:5000":{{"identitytoken":"{SECRET_MARK}"}}}},"credsStore":"desktop","credHelpers":{{"gitea.cnoe.localtest.me:8443":"pass"}}}}"#
            )),
            s(&format!(r#"{{"auths":{{"docker.io":{{"auth":"{SECRET_MARK}!!"}}}}}}"#)),
            s(""),
            s(&format!(r#"{{"auths":{{"x":{{"auth":["{SECRET_MARK}"]}}}}"#)),
        ],
        "helper_output" => vec![
            s(&format!(
                r#"{{"ServerURL":"https://x","Username":"u","Secret":"{SECRET_MARK}"}}"#
            )),
            s(&format!(r#"{{"Username":"<token>","Secret":"{SECRET_MARK}"}}"#)),
            s(r#"{"Username":"u","Secret":""}"#),
            s(&format!("credentials not found {SECRET_MARK}")),
        ],
        "tar_archive" => tar_seeds(),
        "docker_archive" => docker_seeds(),
        _ => Vec::new(),
    }
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn manifest_json(config: &str, size: u64) -> String {
    format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{size}}},"layers":[]}}"#
    )
}

const CONFIG: &str =
    r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{d3}}"]}}"#;

fn layout_seeds() -> Vec<Vec<u8>> {
    let index_one = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{d1}}","size":{{s1}},"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}"#;
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{d2}}","size":{{s2}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{d3}}","size":{{s3}}}]}"#;
    let layer = "layer bytes";
    let nested = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{{d1}}","size":{{s1}},"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}"#;
    let inner_index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{d2}}","size":{{s2}},"platform":{"os":"linux","architecture":"amd64"}}]}"#;
    let manifest2 = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{{d3}}","size":{{s3}}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{{d4}}","size":{{s4}}}]}"#;
    let config2 =
        r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{d4}}"]}}"#;
    // A manifest that says a wrong size for its layer.
    let wrong_size = manifest.replace("{{s3}}", "999");
    vec![
        join(&[
            index_one.as_bytes(),
            manifest.as_bytes(),
            CONFIG.as_bytes(),
            layer.as_bytes(),
        ]),
        join(&[
            nested.as_bytes(),
            inner_index.as_bytes(),
            manifest2.as_bytes(),
            config2.as_bytes(),
            layer.as_bytes(),
        ]),
        join(&[
            index_one.as_bytes(),
            wrong_size.as_bytes(),
            CONFIG.as_bytes(),
            layer.as_bytes(),
        ]),
    ]
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        // Names a tar header cannot hold are left out (the fuzzer makes such names).
        let _ = builder.append_data(&mut header, name, *bytes);
    }
    builder.into_inner().unwrap_or_default()
}

fn tar_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    // An OCI archive made from the first layout seed.
    let f = files(&layout_seeds()[0]);
    let mut names: Vec<(String, Vec<u8>)> = vec![
        (
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".into(), f[0].clone()),
    ];
    for blob in &f[1..] {
        names.push((
            format!("blobs/sha256/{}", Digest::of(blob).hex()),
            blob.clone(),
        ));
    }
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    seeds.push(tar_of(&entries));
    // A classic docker archive.
    seeds.push(docker_tar(&docker_seeds()[0]));
    // Links, a long name, a truncated archive.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder
        .append_link(&mut header, "manifest.json", "a/../b")
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    builder
        .append_link(&mut header, "b", "manifest.json")
        .unwrap();
    let long = format!("{}/x", "d".repeat(150));
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, &long, &b"abc"[..])
        .unwrap();
    let linked = builder.into_inner().unwrap();
    seeds.push(linked.clone());
    seeds.push(linked[..linked.len() - 1024].to_vec());
    seeds
}

fn docker_seeds() -> Vec<Vec<u8>> {
    // A layer tar whose digest the config names as its diff_id.
    let layer = tar_of(&[("etc/hello", b"hello\n")]);
    let manifest = r#"[{"Config":"{{h1}}.json","RepoTags":["app:v1"],"Layers":["f2","f3"]}]"#;
    let config = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["{{d2}}","{{d3}}"]}}"#;
    let two = r#"[{"Config":"f1","RepoTags":["docker.io/library/app:v1","app:v2"],"Layers":["f2"]},{"Config":"f1","RepoTags":null,"Layers":[]}]"#;
    let config_one = r#"{"os":"linux","architecture":"arm64","rootfs":{"diff_ids":["{{d2}}"]}}"#;
    vec![
        join(&[manifest.as_bytes(), config.as_bytes(), &layer, &layer]),
        join(&[two.as_bytes(), config_one.as_bytes(), &layer]),
        join(&[manifest.as_bytes(), config.as_bytes(), b"not a tar", &layer]),
    ]
}

/// Where cargo-fuzz keeps a target's corpus, below `fuzz/`.
pub fn corpus_dir(fuzz_dir: &Path, target: &str) -> PathBuf {
    fuzz_dir.join("corpus").join(target)
}
