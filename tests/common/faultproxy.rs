//! A TCP proxy that cuts connections: the faults of a flaky network between a push and a real
//! registry. TLS passes through untouched, so the registry still sees our own client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FaultProxy {
    pub addr: SocketAddr,
    /// Bytes that went from clients to the registry.
    pub upstream_bytes: Arc<AtomicU64>,
    /// Whether the cut happened.
    pub cut_done: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    /// Forwards to `upstream`; once `cut_after` bytes have gone upstream in total, the
    /// connection carrying the byte that crossed the mark is reset (once).
    pub fn start(upstream: &str, cut_after: u64) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream_bytes = Arc::new(AtomicU64::new(0));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (counter, cut, upstream) = (
            upstream_bytes.clone(),
            cut_done.clone(),
            upstream.to_string(),
        );
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (counter, cut, upstream) = (counter.clone(), cut.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    relay(client, server, counter, cut, cut_after).await;
                });
            }
        });
        FaultProxy {
            addr,
            upstream_bytes,
            cut_done,
            _runtime: runtime,
        }
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    counter: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
    cut_after: u64,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let before = counter.fetch_add(n as u64, Ordering::SeqCst);
            if before + n as u64 > cut_after && !cut.swap(true, Ordering::SeqCst) {
                return; // drop both directions: the client sees a reset mid-request
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}
