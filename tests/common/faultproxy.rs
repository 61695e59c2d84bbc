//! Faults between a push and a real registry, for the engine and reliability tests.
//!
//! - [`FaultProxy`]: a TCP proxy (TLS passes through untouched, so the registry still sees our
//!   own client) that, per connection, resets it (RST) or stalls it at a byte offset in either
//!   direction, truncates what the registry sends (a clean close mid-response), throttles it
//!   (a slow link), refuses it, or holds it open and silent (a stalled server). Faults are
//!   chosen per connection by a [`Chooser`]: scripted, or at random ([`chaos`]).
//! - [`HttpFront`]: a TLS-terminating HTTP proxy (hyper + tokio-rustls, the registry's own
//!   certificate) that, per request, answers 500/502/503/429 itself, forwards and then replaces
//!   the answer (the registry did the work; the client hears it failed), cuts the answer's body
//!   short, delays it, or redirects.
//! - [`garbage_server`]: answers every connection with bytes that are not HTTP.
//!
//! Every fault injected is counted, so tests can report how many they survived.

use bytes::Bytes;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What happens to one proxied connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Reset (RST) both sides once this many bytes went client -> registry on the connection.
    ResetUp(u64),
    /// Reset both sides once this many bytes went registry -> client.
    ResetDown(u64),
    /// Stop forwarding client -> registry after this many bytes; the connection stays open.
    StallUp(u64),
    /// Stop forwarding registry -> client after this many bytes; the connection stays open.
    StallDown(u64),
    /// Forward this many bytes registry -> client, then close both sides cleanly (FIN).
    TruncateDown(u64),
    /// Accept, then reset at once.
    Refuse,
    /// Accept and never send a byte (nor connect upstream): a stalled server.
    Blackhole,
    /// Both directions at this many bytes a second.
    Slow(u64),
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::ResetUp(_) => "reset-up",
            Fault::ResetDown(_) => "reset-down",
            Fault::StallUp(_) => "stall-up",
            Fault::StallDown(_) => "stall-down",
            Fault::TruncateDown(_) => "truncate-down",
            Fault::Refuse => "refuse",
            Fault::Blackhole => "blackhole",
            Fault::Slow(_) => "slow",
        }
    }
}

/// Picks the fault of connection number N (from 0).
pub type Chooser = Arc<dyn Fn(u64) -> Fault + Send + Sync>;

/// Counts of what a proxy did.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    /// Faults chosen (a fault whose offset the connection never reached counts here too).
    pub chosen: AtomicU64,
    /// Faults that actually hit a connection.
    pub injected: AtomicU64,
    /// Bytes client -> registry, all connections.
    pub up_bytes: AtomicU64,
    by_kind: Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Stats {
    fn hit(&self, fault: Fault) {
        self.injected.fetch_add(1, Ordering::SeqCst);
        *self
            .by_kind
            .lock()
            .unwrap()
            .entry(fault.name())
            .or_default() += 1;
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// `reset-up=3 truncate-down=1 ...`
    pub fn summary(&self) -> String {
        let kinds = self.by_kind.lock().unwrap();
        let parts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}={n}")).collect();
        format!(
            "{} connections, {} faults hit ({})",
            self.connections.load(Ordering::SeqCst),
            self.injected(),
            parts.join(" ")
        )
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    /// Bytes that went from clients to the registry.
    pub upstream_bytes: Arc<AtomicU64>,
    /// Whether the cut of [`FaultProxy::start`] happened.
    pub cut_done: Arc<AtomicBool>,
    pub stats: Arc<Stats>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    /// Forwards to `upstream`; once `cut_after` bytes have gone upstream in total, the
    /// connection carrying the byte that crossed the mark is reset (once).
    pub fn start(upstream: &str, cut_after: u64) -> FaultProxy {
        Self::spawn(upstream, Mode::CutOnce(cut_after))
    }

    /// Forwards to `upstream`, with the fault `choose` picks for each connection.
    pub fn with(upstream: &str, choose: Chooser) -> FaultProxy {
        Self::spawn(upstream, Mode::PerConnection(choose))
    }

    fn spawn(upstream: &str, mode: Mode) -> FaultProxy {
        let runtime = runtime();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let cut_done = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            mode,
            stats: stats.clone(),
            total_up: upstream_bytes.clone(),
            cut_done: cut_done.clone(),
        });
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move { shared.serve(client).await });
            }
        });
        FaultProxy {
            addr,
            upstream_bytes,
            cut_done,
            stats,
            _runtime: runtime,
        }
    }

    /// `host:port` of the proxy, for destinations.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

enum Mode {
    CutOnce(u64),
    PerConnection(Chooser),
}

struct Shared {
    upstream: String,
    mode: Mode,
    stats: Arc<Stats>,
    total_up: Arc<AtomicU64>,
    cut_done: Arc<AtomicBool>,
}

/// A reset: SO_LINGER 0, then close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

impl Shared {
    async fn serve(self: Arc<Self>, client: TcpStream) {
        let n = self.stats.connections.fetch_add(1, Ordering::SeqCst);
        let fault = match &self.mode {
            Mode::CutOnce(_) => Fault::None,
            Mode::PerConnection(choose) => choose(n),
        };
        if fault != Fault::None {
            self.stats.chosen.fetch_add(1, Ordering::SeqCst);
        }
        match fault {
            Fault::Refuse => {
                self.stats.hit(fault);
                reset(client);
                return;
            }
            Fault::Blackhole => {
                self.stats.hit(fault);
                // Read and drop whatever comes, answer nothing, until the client gives up.
                let mut client = client;
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = client.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                return;
            }
            _ => {}
        }
        let Ok(server) = TcpStream::connect(&self.upstream).await else {
            reset(client);
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        self.relay(client, server, fault).await;
    }

    async fn relay(&self, client: TcpStream, server: TcpStream, fault: Fault) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let (up_fault, down_fault) = match fault {
            Fault::ResetUp(_) | Fault::StallUp(_) => (fault, Fault::None),
            Fault::ResetDown(_) | Fault::StallDown(_) | Fault::TruncateDown(_) => {
                (Fault::None, fault)
            }
            Fault::Slow(_) => (fault, fault),
            _ => (Fault::None, Fault::None),
        };
        let up = pump(
            &mut client_read,
            &mut server_write,
            up_fault,
            Direction::Up,
            self,
        );
        let down = pump(
            &mut server_read,
            &mut client_write,
            down_fault,
            Direction::Down,
            self,
        );
        let ended = tokio::select! {
            e = up => e,
            e = down => e,
        };
        match ended {
            End::Reset => {
                let (client, server) = (
                    client_read.reunite(client_write),
                    server_read.reunite(server_write),
                );
                if let Ok(c) = client {
                    reset(c);
                }
                if let Ok(s) = server {
                    reset(s);
                }
            }
            End::Close => {
                let _ = client_write.shutdown().await;
                let _ = server_write.shutdown().await;
            }
            End::Stall => std::future::pending::<()>().await,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Up,
    Down,
}

enum End {
    /// One side closed or failed: close the other.
    Close,
    /// Reset both.
    Reset,
    /// Hold everything open, forwarding nothing more.
    Stall,
}

async fn pump(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    fault: Fault,
    direction: Direction,
    shared: &Shared,
) -> End {
    let mut buf = vec![0u8; 64 * 1024];
    let mut moved = 0u64;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return End::Close,
            Ok(n) => n,
        };
        if direction == Direction::Up {
            let before = shared.total_up.fetch_add(n as u64, Ordering::SeqCst);
            shared.stats.up_bytes.fetch_add(n as u64, Ordering::SeqCst);
            if let Mode::CutOnce(cut_after) = shared.mode {
                if before + n as u64 > cut_after && !shared.cut_done.swap(true, Ordering::SeqCst) {
                    return End::Close; // drop both directions: a reset mid-request
                }
            }
        }
        let mut chunk = &buf[..n];
        match fault {
            Fault::ResetUp(at) | Fault::ResetDown(at) if moved + n as u64 > at => {
                let keep = (at - moved) as usize;
                let _ = to.write_all(&chunk[..keep]).await;
                let _ = to.flush().await;
                shared.stats.hit(fault);
                return End::Reset;
            }
            Fault::StallUp(at) | Fault::StallDown(at) if moved + n as u64 > at => {
                let keep = (at - moved) as usize;
                let _ = to.write_all(&chunk[..keep]).await;
                shared.stats.hit(fault);
                return End::Stall;
            }
            Fault::TruncateDown(at) if moved + n as u64 > at => {
                let keep = (at - moved) as usize;
                let _ = to.write_all(&chunk[..keep]).await;
                shared.stats.hit(fault);
                return End::Close;
            }
            Fault::Slow(rate) => {
                if moved == 0 && direction == Direction::Up {
                    shared.stats.hit(fault);
                }
                // Pieces of at most a tenth of a second's worth.
                let piece = ((rate / 10).max(1) as usize).min(chunk.len());
                while !chunk.is_empty() {
                    let k = piece.min(chunk.len());
                    if to.write_all(&chunk[..k]).await.is_err() {
                        return End::Close;
                    }
                    chunk = &chunk[k..];
                    tokio::time::sleep(Duration::from_secs_f64(k as f64 / rate as f64)).await;
                }
                moved += n as u64;
                continue;
            }
            _ => {}
        }
        if to.write_all(chunk).await.is_err() {
            return End::Close;
        }
        moved += n as u64;
    }
}

/// Random transient faults: each connection is faulted with probability `p`, at most `budget`
/// times in all, with a fault drawn from `kinds` at an offset between 1 byte and `max_offset`
/// (log-uniform, so both handshakes and the middle of large bodies get hit). Seeded, so a
/// failing run can be replayed.
pub fn chaos(seed: u64, p: f64, budget: u64, max_offset: u64, kinds: &[&'static str]) -> Chooser {
    let rng = Mutex::new(fastrand::Rng::with_seed(seed));
    let left = AtomicU64::new(budget);
    let kinds: Vec<&'static str> = kinds.to_vec();
    Arc::new(move |_n| {
        let mut rng = rng.lock().unwrap();
        if rng.f64() >= p {
            return Fault::None;
        }
        if left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
            .is_err()
        {
            return Fault::None;
        }
        let offset = (max_offset as f64).powf(rng.f64()) as u64;
        match kinds[rng.usize(0..kinds.len())] {
            "reset-up" => Fault::ResetUp(offset),
            "reset-down" => Fault::ResetDown(offset),
            "stall-up" => Fault::StallUp(offset),
            "stall-down" => Fault::StallDown(offset),
            "truncate-down" => Fault::TruncateDown(offset),
            "refuse" => Fault::Refuse,
            "blackhole" => Fault::Blackhole,
            "slow" => Fault::Slow(2 * 1024 * 1024),
            other => panic!("unknown fault kind {other}"),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP-level faults.

/// What happens to one request through [`HttpFront`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpFault {
    Pass,
    /// Answer this status ourselves (with `Retry-After` when given); the registry never sees
    /// the request.
    Reply(u16, Option<u32>),
    /// Forward, let the registry do it, then answer this status instead of its answer.
    AfterUpstream(u16),
    /// Forward, then send the answer's headers and only this many bytes of its body before
    /// cutting the connection.
    TruncateBody(usize),
    /// Wait this long before forwarding.
    Delay(Duration),
    /// Answer `307` to this location (relative or absolute).
    Redirect(String),
    /// Drop the connection without an answer.
    Drop,
}

impl HttpFault {
    pub fn name(&self) -> String {
        match self {
            HttpFault::Pass => "pass".into(),
            HttpFault::Reply(s, _) => format!("reply-{s}"),
            HttpFault::AfterUpstream(s) => format!("after-upstream-{s}"),
            HttpFault::TruncateBody(_) => "truncate-body".into(),
            HttpFault::Delay(_) => "delay".into(),
            HttpFault::Redirect(_) => "redirect".into(),
            HttpFault::Drop => "drop".into(),
        }
    }
}

/// One request as the chooser sees it.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Requests before this one, from 0.
    pub n: u64,
    pub method: String,
    /// Path and query.
    pub path: String,
}

pub type HttpChooser = Arc<dyn Fn(&RequestInfo) -> HttpFault + Send + Sync>;

pub struct HttpFront {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    pub injected: Arc<AtomicU64>,
    /// `METHOD path -> fault` of every faulted request.
    pub log: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

struct Front {
    upstream: String,
    http: reqwest::Client,
    choose: HttpChooser,
    requests: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<String>>>,
}

/// A rustls server configuration with the test registry's certificate
/// (`$IDP_TEST_STATE/server.crt`, `server.key`), valid for 127.0.0.1 and localhost.
pub fn server_tls(state: &Path) -> Arc<rustls::ServerConfig> {
    server_tls_from(&state.join("server.crt"), &state.join("server.key"))
}

/// A TLS server configuration (HTTP/1.1) from a PEM certificate chain and key.
pub fn server_tls_from(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

impl HttpFront {
    /// A TLS front on 127.0.0.1 for the registry at `upstream` (`host:port`, TLS, trusting
    /// `ca`), with the certificate of `state` (the registry's state directory).
    pub fn start(upstream: &str, state: &Path, ca: &Path, choose: HttpChooser) -> HttpFront {
        let runtime = runtime();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = idp_push::tls::client_config(
            &idp_push::TlsOptions {
                ca_file: Some(ca.to_path_buf()),
                ..Default::default()
            },
            upstream,
        )
        .unwrap();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let front = Arc::new(Front {
            upstream: upstream.to_string(),
            http,
            choose,
            requests: Arc::default(),
            injected: Arc::default(),
            log: Arc::default(),
        });
        let acceptor = tokio_rustls::TlsAcceptor::from(server_tls(state));
        let (requests, injected, log) = (
            front.requests.clone(),
            front.injected.clone(),
            front.log.clone(),
        );
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (front, acceptor) = (front.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let front = front.clone();
                        async move { front.handle(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        HttpFront {
            addr,
            requests,
            injected,
            log,
            _runtime: runtime,
        }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];

fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

impl Front {
    async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<Body>, std::io::Error> {
        use futures_util::StreamExt;
        use http_body_util::BodyExt;
        let info = RequestInfo {
            n: self.requests.fetch_add(1, Ordering::SeqCst),
            method: req.method().to_string(),
            path: req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        };
        let fault = (self.choose)(&info);
        if fault != HttpFault::Pass {
            self.injected.fetch_add(1, Ordering::SeqCst);
            self.log.lock().unwrap().push(format!(
                "{} {} -> {}",
                info.method,
                info.path,
                fault.name()
            ));
        }
        match &fault {
            HttpFault::Reply(status, retry_after) => {
                let mut response = hyper::Response::builder()
                    .status(*status)
                    .header("Content-Type", "application/json")
                    .header("Connection", "close");
                if let Some(s) = retry_after {
                    response = response.header("Retry-After", s.to_string());
                }
                let body = format!(
                    r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected fault {status}"}}]}}"#
                );
                return Ok(response.body(full(body)).unwrap());
            }
            HttpFault::Redirect(location) => {
                return Ok(hyper::Response::builder()
                    .status(307)
                    .header("Location", location.as_str())
                    .body(full(""))
                    .unwrap());
            }
            HttpFault::Drop => return Err(std::io::Error::other("injected: connection dropped")),
            HttpFault::Delay(d) => tokio::time::sleep(*d).await,
            _ => {}
        }
        // Forward.
        let url = format!("https://{}{}", self.upstream, info.path);
        let method = reqwest::Method::from_bytes(info.method.as_bytes()).unwrap();
        let mut upstream = self.http.request(method, &url);
        for (name, value) in req.headers() {
            if HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
        let has_body = req.headers().contains_key("content-length")
            || req.headers().contains_key("transfer-encoding");
        if has_body {
            let stream = req
                .into_body()
                .into_data_stream()
                .map(|r| r.map_err(|e| Box::new(e) as BoxError));
            upstream = upstream.body(reqwest::Body::wrap_stream(stream));
        }
        let answer = upstream.send().await.map_err(std::io::Error::other)?;
        if let HttpFault::AfterUpstream(status) = fault {
            let _ = answer.bytes().await;
            return Ok(hyper::Response::builder()
                .status(status)
                .header("Connection", "close")
                .body(full(""))
                .unwrap());
        }
        let mut response = hyper::Response::builder().status(answer.status().as_u16());
        for (name, value) in answer.headers() {
            if HOP_BY_HOP.contains(&name.as_str()) {
                continue;
            }
            response = response.header(name.as_str(), value.as_bytes());
        }
        let limit = match fault {
            HttpFault::TruncateBody(n) => Some(n),
            _ => None,
        };
        let mut sent = 0usize;
        // Up to the cut the answer goes out; then the stream fails and hyper aborts the
        // connection, mid-body.
        let stream = answer.bytes_stream().map(move |piece| {
            let piece = piece.map_err(|e| Box::new(e) as BoxError)?;
            if let Some(limit) = limit {
                if sent + piece.len() > limit {
                    return Err(
                        Box::new(std::io::Error::other("injected: answer cut short")) as BoxError,
                    );
                }
            }
            sent += piece.len();
            Ok(hyper::body::Frame::data(piece))
        });
        let body: Body = BodyExt::boxed(http_body_util::StreamBody::new(stream));
        Ok(response.body(body).unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Servers that are not registries.

/// A server that answers every connection with `reply` and closes it; with `tls`, after a TLS
/// handshake with the registry's certificate (so the client gets as far as HTTP).
pub struct GarbageServer {
    pub addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

pub fn garbage_server(state: Option<&Path>, reply: &'static [u8]) -> GarbageServer {
    let runtime = runtime();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = state.map(|s| tokio_rustls::TlsAcceptor::from(server_tls(s)));
    runtime.spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                match acceptor {
                    Some(acceptor) => {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = tls.read(&mut buf).await;
                        let _ = tls.write_all(reply).await;
                        let _ = tls.shutdown().await;
                    }
                    None => {
                        let _ = tcp.read(&mut buf).await;
                        let _ = tcp.write_all(reply).await;
                        let _ = tcp.shutdown().await;
                    }
                }
            });
        }
    });
    GarbageServer {
        addr,
        _runtime: runtime,
    }
}
