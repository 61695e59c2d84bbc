//! Moving one blob: `HEAD` to skip what the registry has, then `POST` + one streaming `PUT`.
//!
//! The blob is streamed from disk in fixed-size chunks (it is never held whole in memory) and
//! hashed on the way; when the bytes do not match the digest the stream fails, which aborts the
//! `PUT` before the registry can complete the upload.

use crate::client::{response_error, RegistryClient};
use crate::digest::Hasher;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::{ProgressEvent, ProgressKind, PROGRESS_STEP};
use crate::source::{Descriptor, Source};
use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

/// Read size for blob streams: large enough to keep syscalls and TLS records few.
const READ_CHUNK: usize = 256 * 1024;

/// Where progress goes: a callback that is never called by two tasks at once.
pub type Reporter = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// Whether the registry already holds the blob (`HEAD /v2/<name>/blobs/<digest>`).
pub async fn blob_exists(
    client: &RegistryClient,
    repository: &str,
    blob: &Descriptor,
) -> Result<bool> {
    let url = client.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
    let what = format!("checking blob {}", blob.digest);
    let response = client.send(Method::HEAD, url, &what, |r| r).await?;
    match response.status() {
        s if s.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(response_error(response, &what).await),
    }
}

/// Uploads one blob; returns the number of bytes sent.
pub async fn upload_blob(
    client: &RegistryClient,
    repository: &str,
    source: &Source,
    blob: &Descriptor,
    report: &Reporter,
) -> Result<u64> {
    let what = format!("uploading blob {}", blob.digest);
    let start = client.url(&format!("/v2/{repository}/blobs/uploads/"));
    let response = client
        .send(Method::POST, start, &what, |r| r.header(CONTENT_LENGTH, 0))
        .await?;
    if response.status() != StatusCode::ACCEPTED {
        return Err(response_error(response, &what).await);
    }
    let mut location = client.resolve_location(&response, &what)?;
    location
        .query_pairs_mut()
        .append_pair("digest", blob.digest.as_str());

    report(event(ProgressKind::BlobStarted, blob, 0));
    let failure: Arc<Mutex<Option<Error>>> = Arc::default();
    let reader = source.open_blob(blob).await?;
    // The body is built once: a PUT that fails part-way is not replayed here (a new upload
    // session would be needed), so a 401 on it surfaces as an error rather than a resend.
    let body = Mutex::new(Some(VerifyingStream::new(
        reader,
        blob.clone(),
        report.clone(),
        failure.clone(),
    )));
    let result = client
        .send(Method::PUT, location, &what, |r| {
            let r = r
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, blob.size);
            match body.lock().expect("body lock").take() {
                Some(stream) => r.body(reqwest::Body::wrap_stream(stream)),
                None => r.body(Bytes::new()),
            }
        })
        .await;
    // A verification failure is the real cause of whatever the transport reports.
    if let Some(e) = failure.lock().expect("failure lock").take() {
        return Err(e);
    }
    let response = result?;
    if response.status() != StatusCode::CREATED {
        return Err(response_error(response, &what).await);
    }
    report(event(ProgressKind::BlobDone, blob, blob.size));
    Ok(blob.size)
}

fn event(kind: ProgressKind, blob: &Descriptor, current: u64) -> ProgressEvent {
    ProgressEvent {
        kind,
        digest: blob.digest.clone(),
        media_type: blob.media_type.clone(),
        current,
        total: blob.size,
    }
}

/// Streams a blob's bytes, hashing them; fails at the end if size or digest are wrong.
struct VerifyingStream {
    inner: ReaderStream<Box<dyn AsyncRead + Send + Unpin>>,
    hasher: Option<Hasher>,
    blob: Descriptor,
    read: u64,
    reported: u64,
    report: Reporter,
    failure: Arc<Mutex<Option<Error>>>,
}

impl VerifyingStream {
    fn new(
        reader: Box<dyn AsyncRead + Send + Unpin>,
        blob: Descriptor,
        report: Reporter,
        failure: Arc<Mutex<Option<Error>>>,
    ) -> Self {
        VerifyingStream {
            inner: ReaderStream::with_capacity(reader, READ_CHUNK),
            hasher: Some(Hasher::default()),
            blob,
            read: 0,
            reported: 0,
            report,
            failure,
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<std::io::Result<Bytes>>> {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error.message().to_string());
        *self.failure.lock().expect("failure lock") = Some(error);
        Poll::Ready(Some(Err(io)))
    }

    fn mismatch(&self, why: String) -> Error {
        Error::new(
            ErrorKind::DigestMismatch,
            format!("blob {} is corrupted: {why}", self.blob.digest),
        )
    }
}

impl Stream for VerifyingStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len() as u64;
                if this.read > this.blob.size {
                    let why = format!("it is longer than the {} bytes declared", this.blob.size);
                    let e = this.mismatch(why);
                    return this.fail(e);
                }
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                // Check the digest before the last chunk leaves, so a corrupted blob never
                // reaches the registry complete.
                if this.read == this.blob.size {
                    if let Some(h) = this.hasher.take() {
                        let actual = h.finish();
                        if actual != this.blob.digest {
                            let e = this.mismatch(format!("its content hashes to {actual}"));
                            return this.fail(e);
                        }
                    }
                }
                if this.read - this.reported >= PROGRESS_STEP || this.read == this.blob.size {
                    this.reported = this.read;
                    (this.report)(event(ProgressKind::BlobProgress, &this.blob, this.read));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let error = Error::invalid_source(format!(
                    "reading blob {}: {}",
                    this.blob.digest,
                    crate::error::io_reason(&e)
                ));
                this.fail(error)
            }
            Poll::Ready(None) => {
                // Still hashing here means the last chunk never came: the blob is short
                // (or empty, whose digest is checked here).
                if let Some(h) = this.hasher.take() {
                    if this.read != this.blob.size {
                        let why = format!(
                            "it has {} bytes, but the manifest says {}",
                            this.read, this.blob.size
                        );
                        let e = this.mismatch(why);
                        return this.fail(e);
                    }
                    let actual = h.finish();
                    if actual != this.blob.digest {
                        let e = this.mismatch(format!("its content hashes to {actual}"));
                        return this.fail(e);
                    }
                }
                Poll::Ready(None)
            }
        }
    }
}
