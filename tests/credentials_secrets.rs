//! Where credentials go: a small fake registry (std threads, plain HTTP or TLS with rustls)
//! records every request's headers. Uploads are sent to a Location on another host or port, or
//! from HTTPS to plain HTTP; the Authorization header must never follow them there, and a
//! plain-HTTP token realm of an HTTPS registry never gets credentials. Every error, Debug output
//! and progress event is checked for the secret.
//!
//! Needs the fixtures (IDP_TEST_FIXTURES) but no real registry.

mod common;
mod credentials_support;

use credentials_support::{assert_secret_free, certs, options, source};
use idp_push::{push_blocking, Credentials, ProgressEvent, PushOptions, TlsOptions};
use sha2::Digest as _;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const USER: &str = "fakeuser";
const SECRET: &str = "fake-S3CRET-pw-42a7";

#[derive(Debug, Clone)]
struct Seen {
    listener: &'static str,
    host: String,
    method: String,
    path: String,
    authorization: bool,
}

struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn response(status: u16, headers: &[(&str, String)]) -> Response {
    Response {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body: Vec::new(),
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length") {
        body.resize(n.parse().ok()?, 0);
        r.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    let mut t = String::new();
                    r.read_line(&mut t).ok()?;
                    if t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).ok()?;
        }
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn write_response(w: &mut impl Write, resp: &Response, head: bool) -> std::io::Result<()> {
    let mut text = format!("HTTP/1.1 {} X\r\n", resp.status);
    for (k, v) in &resp.headers {
        text += &format!("{k}: {v}\r\n");
    }
    text += &format!("Content-Length: {}\r\n\r\n", resp.body.len());
    w.write_all(text.as_bytes())?;
    if !head {
        w.write_all(&resp.body)?;
    }
    w.flush()
}

#[derive(Clone)]
struct Fake {
    /// `scheme://host:port` of the registry (the main listener).
    main: String,
    /// Where uploads are sent: `scheme://host:port`.
    upload_base: String,
    /// A Bearer realm to announce instead of Basic.
    bearer_realm: Option<String>,
    seen: Arc<Mutex<Vec<Seen>>>,
    uploads: Arc<Mutex<HashMap<String, usize>>>,
}

impl Fake {
    fn expected_auth() -> String {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"))
        )
    }

    fn handle(&self, listener: &'static str, req: &Request) -> Response {
        let host = req.headers.get("host").cloned().unwrap_or_default();
        let auth = req.headers.get("authorization");
        self.seen.lock().unwrap().push(Seen {
            listener,
            host: host.clone(),
            method: req.method.clone(),
            path: req.target.clone(),
            authorization: auth.is_some(),
        });
        let main_host = self.main.split("://").nth(1).unwrap();
        let path = req.target.split('?').next().unwrap().to_string();
        if listener == "main" && host == main_host {
            self.registry(req, &path, auth)
        } else {
            self.storage(req, &path)
        }
    }

    fn registry(&self, req: &Request, path: &str, auth: Option<&String>) -> Response {
        let authorized = auth == Some(&Self::expected_auth());
        if !authorized {
            let challenge = match &self.bearer_realm {
                Some(realm) => format!("Bearer realm=\"{realm}\",service=\"fake\""),
                None => "Basic realm=\"fake\"".to_string(),
            };
            return response(401, &[("WWW-Authenticate", challenge)]);
        }
        match req.method.as_str() {
            "GET" if path == "/v2/" => response(200, &[]),
            "HEAD" if path.contains("/blobs/") => response(404, &[]),
            "POST" if path.contains("/blobs/uploads/") => {
                let id = {
                    let mut uploads = self.uploads.lock().unwrap();
                    let id = format!("u{}", uploads.len());
                    uploads.insert(id.clone(), 0);
                    id
                };
                response(
                    202,
                    &[
                        (
                            "Location",
                            format!("{}/upload/{id}?state=x", self.upload_base),
                        ),
                        ("Range", "0-0".to_string()),
                        ("Docker-Upload-UUID", id),
                    ],
                )
            }
            "PUT" if path.contains("/manifests/") => {
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&req.body)));
                response(
                    201,
                    &[
                        ("Docker-Content-Digest", digest.clone()),
                        ("Location", path.to_string()),
                    ],
                )
            }
            _ => response(404, &[]),
        }
    }

    /// The storage host that uploads are sent to.
    fn storage(&self, req: &Request, path: &str) -> Response {
        let Some(id) = path.strip_prefix("/upload/") else {
            return response(404, &[]);
        };
        let mut uploads = self.uploads.lock().unwrap();
        let Some(received) = uploads.get_mut(id) else {
            return response(404, &[]);
        };
        *received += req.body.len();
        let range = format!("0-{}", received.saturating_sub(1));
        let location = format!("{}/upload/{id}?state=y", self.upload_base);
        match req.method.as_str() {
            "PATCH" => response(202, &[("Location", location), ("Range", range)]),
            "GET" => response(204, &[("Location", location), ("Range", range)]),
            "PUT" => {
                let digest = req
                    .target
                    .split("digest=")
                    .nth(1)
                    .map(|d| d.split('&').next().unwrap().replace("%3A", ":"))
                    .unwrap_or_default();
                response(
                    201,
                    &[
                        ("Docker-Content-Digest", digest.clone()),
                        ("Location", format!("{}/v2/x/blobs/{digest}", self.main)),
                    ],
                )
            }
            _ => response(405, &[]),
        }
    }
}

fn serve_connection<S: Read + Write>(fake: &Fake, listener: &'static str, stream: S) {
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let resp = fake.handle(listener, &req);
        if write_response(reader.get_mut(), &resp, req.method == "HEAD").is_err() {
            return;
        }
    }
}

fn spawn_listener(
    fake: Arc<Mutex<Option<Fake>>>,
    listener: TcpListener,
    label: &'static str,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let fake = fake.lock().unwrap().clone().expect("configured");
            let tls = tls.clone();
            std::thread::spawn(move || match tls {
                None => serve_connection(&fake, label, stream),
                Some(config) => {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    serve_connection(&fake, label, rustls::StreamOwned::new(conn, stream));
                }
            });
        }
    });
}

/// A CA and a server certificate made in `dir`, as the fake's TLS configuration.
fn server_tls(dir: &std::path::Path) -> Arc<rustls::ServerConfig> {
    let d = dir.to_str().unwrap();
    certs(&["ca", d, "fake-ca"]);
    let ca = dir.join("fake-ca.crt");
    let ca_key = dir.join("fake-ca.key");
    certs(&[
        "server",
        d,
        "fake-server",
        ca.to_str().unwrap(),
        ca_key.to_str().unwrap(),
    ]);
    common::faultproxy::server_tls_from(&dir.join("fake-server.crt"), &dir.join("fake-server.key"))
}

enum UploadTo {
    OtherPort,
    OtherHostName,
}

struct Started {
    fake: Fake,
    main_port: u16,
    other_port: u16,
    _dir: tempfile::TempDir,
    /// The fake's CA when it speaks TLS; `None` for plain HTTP.
    ca: Option<std::path::PathBuf>,
}

impl Started {
    /// How the client reaches the fake: trusting its CA, or over plain HTTP.
    fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.ca.clone(),
            plain_http: self.ca.is_none(),
            ..Default::default()
        }
    }
}

/// Starts the fake registry (TLS or not) and a plain-HTTP "storage" listener.
fn start(tls: bool, upload_to: UploadTo, bearer_realm_on_other: bool) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let main = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (main_port, other_port) = (
        main.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let scheme = if tls { "https" } else { "http" };
    let fake = Fake {
        main: format!("{scheme}://127.0.0.1:{main_port}"),
        upload_base: match upload_to {
            UploadTo::OtherPort => format!("http://127.0.0.1:{other_port}"),
            UploadTo::OtherHostName => format!("{scheme}://localhost:{main_port}"),
        },
        bearer_realm: bearer_realm_on_other.then(|| format!("http://127.0.0.1:{other_port}/token")),
        seen: Arc::default(),
        uploads: Arc::default(),
    };
    let shared = Arc::new(Mutex::new(Some(fake.clone())));
    let server_config = tls.then(|| server_tls(dir.path()));
    spawn_listener(shared.clone(), main, "main", server_config);
    spawn_listener(shared, other, "other", None);
    Started {
        fake,
        main_port,
        other_port,
        ca: tls.then(|| dir.path().join("fake-ca.crt")),
        _dir: dir,
    }
}

/// Pushes to the fake with credentials; the result, the options and the progress events.
fn push_to(
    started: &Started,
) -> (
    idp_push::Result<idp_push::PushReport>,
    PushOptions,
    Vec<String>,
) {
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = events.clone();
    let opts = PushOptions {
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(format!("{e:?}"))
        })),
        ..options(Some(Credentials::new(USER, SECRET)), started.tls())
    };
    let dest = format!("127.0.0.1:{}/fake/image:v1", started.main_port);
    let result = push_blocking(&source(), &dest, &opts);
    let events = events.lock().unwrap().clone();
    (result, opts, events)
}

fn check_no_leak(
    result: &idp_push::Result<idp_push::PushReport>,
    opts: &PushOptions,
    events: &[String],
) {
    let mut outputs = vec![format!("{result:?}"), format!("{opts:?}")];
    if let Err(e) = result {
        outputs.push(e.to_string());
    }
    outputs.extend(events.iter().cloned());
    assert_secret_free(SECRET, &outputs);
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"));
    assert_secret_free(&encoded, &outputs);
}

/// Every upload request went to the storage host without Authorization, and the registry's
/// own requests carried it (so there was something to leak).
fn assert_auth_stays_home(started: &Started) {
    let seen = started.fake.seen.lock().unwrap().clone();
    let main_host = format!("127.0.0.1:{}", started.main_port);
    let (home, away): (Vec<&Seen>, Vec<&Seen>) = seen
        .iter()
        .partition(|s| s.listener == "main" && s.host == main_host);
    assert!(
        away.iter()
            .any(|s| s.method == "PUT" || s.method == "PATCH"),
        "no upload reached the storage host: {seen:?}"
    );
    for s in &away {
        assert!(
            !s.authorization,
            "Authorization sent to {} {} {}",
            s.host, s.method, s.path
        );
    }
    assert!(
        home.iter()
            .any(|s| s.authorization && s.method == "PUT" && s.path.contains("/manifests/")),
        "{seen:?}"
    );
    assert!(home.iter().any(|s| s.authorization && s.method == "POST"));
}

/// A push that succeeds, sent Authorization only to the registry, and leaked nothing.
fn push_keeps_authorization_home(started: &Started) {
    let (result, opts, events) = push_to(started);
    result.as_ref().unwrap();
    assert_auth_stays_home(started);
    check_no_leak(&result, &opts, &events);
}

#[test]
fn plain_http_upload_location_on_another_port_gets_no_authorization() {
    let started = start(false, UploadTo::OtherPort, false);
    assert!(started.other_port != started.main_port);
    push_keeps_authorization_home(&started);
}

#[test]
fn upload_location_on_another_host_name_gets_no_authorization() {
    push_keeps_authorization_home(&start(false, UploadTo::OtherHostName, false));
}

#[test]
fn https_registry_never_sends_authorization_over_plain_http() {
    let started = start(true, UploadTo::OtherPort, false);
    push_keeps_authorization_home(&started);
    let seen = started.fake.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.listener == "other"), "{seen:?}");
}

#[test]
fn https_registry_with_a_plain_http_token_realm_gets_no_credentials() {
    let started = start(true, UploadTo::OtherPort, true);
    let (result, opts, events) = push_to(&started);
    let err = result.as_ref().unwrap_err();
    assert!(
        err.message().contains("refusing to send credentials"),
        "{err}"
    );
    let seen = started.fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|s| s.listener == "main"),
        "the realm was contacted: {seen:?}"
    );
    check_no_leak(&result, &opts, &events);
}
