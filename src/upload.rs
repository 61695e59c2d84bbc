//! Moving one blob with the fewest requests the registry allows, and recovering when it fails.
//!
//! - `HEAD` first: a blob the registry has is skipped.
//! - Mount: a blob the local [`BlobCache`] says another repository of the registry holds is
//!   linked with `POST ?mount=&from=` instead of sent (a 202 answer is an ordinary upload
//!   session, which we then use).
//! - Small blobs go up in one request (`POST ?digest=` with the body), others as `POST` + one
//!   streaming `PUT ?digest=`.
//! - When the registry or a proxy refuses a body as too large (413), the blob — and every later
//!   blob of the push — goes up in `PATCH` chunks with `Content-Range`, halving the chunk size
//!   after each 413 (never below `OCI-Chunk-Min-Length`), then an empty `PUT ?digest=`.
//! - After a transient failure the registry is asked how much of the upload it holds (`GET` on
//!   the upload location, `Range: 0-N`) and the upload resumes from there, so at most the
//!   interrupted request's bytes are sent twice. If the session is gone, the blob restarts.
//!
//! Every byte is hashed on its way out; the digest is checked before the request that would
//! complete the upload, so a corrupted blob is never committed.
//!
//! Layers compressed while they stream (docker archives, see [`StreamLayer`]) have no digest
//! until the last byte: they go up as `POST`, then one `PATCH` with the streamed body (or, once
//! chunks are needed, `PATCH` chunks with `Content-Range` of at most the chunk size, one chunk
//! buffered at a time), then `PUT ?digest=` with the digest computed on the way. A failed chunk
//! is sent again from memory when the registry says it did not get it; anything else restarts
//! the layer (compressed bytes cannot be regenerated from the middle). A record of what each
//! layer became lets a later push find the compressed blob with a `HEAD` and skip the work.

use crate::blobcache::BlobCache;
use crate::client::{response_error, RegistryClient};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind, Result, Retry};
use crate::progress::{ProgressEvent, ProgressKind, PROGRESS_STEP};
use crate::retry::{retrying, Attempts, RetryPolicy};
use crate::source::{CompressedStream, Descriptor, Source, StreamLayer};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::ReaderStream;
use url::Url;

/// Read size for blob streams: large enough to keep syscalls and TLS records few.
const READ_CHUNK: usize = 256 * 1024;
/// Blobs up to this size go up in a single `POST ?digest=` request.
const SINGLE_REQUEST_MAX: u64 = 4 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;
/// After this many 413s for one blob, give up: the limit is below any sensible chunk.
const MAX_SHRINKS: u32 = 24;

/// Where progress goes: a callback that is never called by two tasks at once.
pub type Reporter = Arc<dyn Fn(ProgressEvent) + Send + Sync>;

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Sent.
    Uploaded,
    /// The registry already had it.
    Present,
    /// Linked from another repository of the registry; nothing sent.
    Mounted,
}

/// Whether blobs go up whole or in chunks, shared by all blobs of one push: once a proxy has
/// refused a large body, every blob uses chunks that fit.
pub struct ChunkPolicy {
    /// Chunk size in bytes; 0 means "send whole blobs".
    size: AtomicU64,
    /// The registry's `OCI-Chunk-Min-Length`, or 1 MiB.
    min: AtomicU64,
}

impl ChunkPolicy {
    /// `configured` forces chunks of that size (0: whole blobs until a 413 says otherwise).
    pub fn new(configured: u64) -> ChunkPolicy {
        ChunkPolicy {
            size: AtomicU64::new(configured),
            min: AtomicU64::new(if configured == 0 {
                MIB
            } else {
                MIB.min(configured)
            }),
        }
    }

    /// The chunk size for a blob of `len` bytes, or `None` to send it whole.
    fn chunk_for(&self, len: u64) -> Option<u64> {
        match self.size.load(Ordering::Relaxed) {
            0 => None,
            c if len <= c => None,
            c => Some(c.max(self.min.load(Ordering::Relaxed))),
        }
    }

    fn note_min_length(&self, response: &Response) {
        let min = response
            .headers()
            .get("OCI-Chunk-Min-Length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(min) = min.filter(|m| *m > 0) {
            self.min.store(min, Ordering::Relaxed);
        }
    }

    /// A request of `refused` bytes got a 413: use chunks of half that (MiB-aligned).
    /// Returns false when the chunk cannot get smaller.
    fn shrink_below(&self, refused: u64) -> bool {
        let min = self.min.load(Ordering::Relaxed);
        if refused <= min {
            return false;
        }
        let half = (refused / 2 / MIB * MIB).max(min);
        self.size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                (current == 0 || half < current).then_some(half)
            })
            .ok();
        true
    }
}

/// Whether the registry stores a small blob sent whole with one `POST ?digest=` (Gitea does;
/// the distribution registry answers 202 and ignores the body). Learned once per push, with a
/// blob of at most [`PROBE_MAX`] bytes so that a "no" costs little.
#[derive(Default)]
pub struct SinglePost(AtomicU8);

const UNKNOWN: u8 = 0;
const PROBING: u8 = 1;
const SUPPORTED: u8 = 2;
const UNSUPPORTED: u8 = 3;
/// The largest blob used to find out whether single-request uploads work.
const PROBE_MAX: u64 = 64 * 1024;

impl SinglePost {
    fn may_try(&self, size: u64) -> bool {
        if size > SINGLE_REQUEST_MAX {
            return false;
        }
        match self.0.load(Ordering::Acquire) {
            SUPPORTED => true,
            UNKNOWN if size <= PROBE_MAX => self
                .0
                .compare_exchange(UNKNOWN, PROBING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok(),
            _ => false,
        }
    }

    fn learn(&self, result: &Result<Option<Session>>) {
        let state = match result {
            Ok(None) => SUPPORTED,
            Ok(Some(_)) => UNSUPPORTED,
            // A registry that refuses the request outright (400, 404, 405) lacks it.
            Err(e) if e.kind() == ErrorKind::Registry && e.retry() == Retry::No => UNSUPPORTED,
            Err(_) if self.0.load(Ordering::Acquire) == PROBING => UNKNOWN,
            Err(_) => return,
        };
        self.0.store(state, Ordering::Release);
    }
}

/// Everything one push's blob transfers share.
pub struct Transfer<'a> {
    pub client: &'a RegistryClient,
    pub registry: &'a str,
    pub repository: &'a str,
    pub source: &'a Source,
    pub report: Reporter,
    pub retry: RetryPolicy,
    pub chunks: ChunkPolicy,
    pub cache: Option<&'a BlobCache>,
    /// Bytes that crossed the network, for the report.
    pub sent: AtomicU64,
    pub single_post: SinglePost,
}

/// An open upload session and how much of the blob the registry holds.
struct Session {
    location: Url,
    /// Bytes the registry confirmed.
    offset: u64,
    /// Hash of bytes `[0, offset)`.
    hashed: Hasher,
}

impl Session {
    fn new(location: Url) -> Session {
        Session {
            location,
            offset: 0,
            hashed: Hasher::default(),
        }
    }
}

impl Transfer<'_> {
    /// Makes sure the registry holds `blob` in our repository, by whichever means is cheapest.
    pub async fn send_blob(&self, blob: &Descriptor) -> Result<BlobOutcome> {
        let outcome = match self.find(blob).await? {
            Found::There(outcome) => outcome,
            Found::Missing(session) => {
                (self.report)(event(ProgressKind::BlobStarted, blob, 0));
                self.upload(blob, session.map(|s| *s)).await?;
                BlobOutcome::Uploaded
            }
        };
        self.finished(&blob.digest, outcome, blob);
        Ok(outcome)
    }

    /// Whether the repository holds `blob` (`HEAD`) or can link it from another repository the
    /// blob record names (a mount, which may open an upload session instead).
    async fn find(&self, blob: &Descriptor) -> Result<Found> {
        if retrying(&self.retry, |_| self.exists(blob)).await? {
            return Ok(Found::There(BlobOutcome::Present));
        }
        Ok(match self.mount_from_cache(blob).await? {
            Mount::Done => Found::There(BlobOutcome::Mounted),
            Mount::Session(s) => Found::Missing(Some(s)),
            Mount::Missed => Found::Missing(None),
        })
    }

    /// Notes that the repository holds `digest` (for later mounts) and reports it, with
    /// `shown`: the blob as progress events name it.
    fn finished(&self, digest: &Digest, outcome: BlobOutcome, shown: &Descriptor) {
        if let Some(cache) = self.cache {
            cache.record(self.registry, self.repository, digest);
        }
        let kind = match outcome {
            BlobOutcome::Uploaded => ProgressKind::BlobDone,
            BlobOutcome::Present => ProgressKind::BlobSkipped,
            BlobOutcome::Mounted => ProgressKind::BlobMounted,
        };
        (self.report)(event(kind, shown, shown.size));
    }

    /// Tries to mount `blob` from repositories the blob record says hold it.
    async fn mount_from_cache(&self, blob: &Descriptor) -> Result<Mount> {
        let Some(cache) = self.cache else {
            return Ok(Mount::Missed);
        };
        // Two candidates at most: each miss costs a round trip.
        for from in cache
            .candidates(self.registry, &blob.digest, self.repository)
            .into_iter()
            .take(2)
        {
            match retrying(&self.retry, |_| self.mount(blob, &from)).await {
                Ok(Some(location)) => return Ok(Mount::Session(Box::new(Session::new(location)))),
                Ok(None) => return Ok(Mount::Done),
                // A failed mount is only a missed shortcut.
                Err(e) if e.kind() != ErrorKind::Unauthorized => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Mount::Missed)
    }

    async fn exists(&self, blob: &Descriptor) -> Result<bool> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/{}", self.repository, blob.digest));
        let what = format!("checking blob {}", blob.digest);
        let response = self.client.send(Method::HEAD, url, &what, |r| r).await?;
        match response.status() {
            // A size other than the descriptor's (a stale local record, a layout whose manifest
            // lies) must not go into a manifest: upload, which checks what is really there.
            s if s.is_success() => {
                Ok(header_u64(&response, CONTENT_LENGTH).map_or(true, |size| size == blob.size))
            }
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(response_error(response, &what).await),
        }
    }

    /// `POST ?mount=&from=`: `None` when mounted, or the upload session the registry opened
    /// instead.
    async fn mount(&self, blob: &Descriptor, from: &str) -> Result<Option<Url>> {
        let mut url = self.uploads_url();
        url.query_pairs_mut()
            .append_pair("mount", blob.digest.as_str())
            .append_pair("from", from);
        let what = format!("mounting blob {} from {from}", blob.digest);
        let response = self
            .client
            .send(Method::POST, url, &what, |r| r.header(CONTENT_LENGTH, 0))
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                self.chunks.note_min_length(&response);
                Ok(Some(self.client.resolve_location(&response, &what)?))
            }
            _ => Err(response_error(response, &what).await),
        }
    }

    /// Where uploads to the repository start: `POST /v2/<repository>/blobs/uploads/`.
    fn uploads_url(&self) -> Url {
        self.client
            .url(&format!("/v2/{}/blobs/uploads/", self.repository))
    }

    async fn start_session(&self, blob: &Descriptor) -> Result<Session> {
        let url = self.uploads_url();
        let what = format!("starting the upload of blob {}", blob.digest);
        let response = retrying(&self.retry, |_| async {
            let response = self
                .client
                .send(Method::POST, url.clone(), &what, |r| {
                    r.header(CONTENT_LENGTH, 0)
                })
                .await?;
            match response.status() {
                StatusCode::ACCEPTED => Ok(response),
                _ => Err(response_error(response, &what).await),
            }
        })
        .await?;
        self.chunks.note_min_length(&response);
        Ok(Session::new(
            self.client.resolve_location(&response, &what)?,
        ))
    }

    /// Uploads a blob the registry lacks, resuming or restarting after failures.
    async fn upload(&self, blob: &Descriptor, session: Option<Session>) -> Result<()> {
        let mut attempts = Attempts::new(&self.retry);
        let mut session = session;
        let mut shrinks = 0u32;
        // Small blobs: one request, when no session is open yet and chunks are not needed.
        if session.is_none()
            && self.chunks.chunk_for(blob.size).is_none()
            && self.single_post.may_try(blob.size)
        {
            let result = self.single_request(blob).await;
            self.single_post.learn(&result);
            match result {
                Ok(None) => return Ok(()),
                Ok(Some(opened)) => session = Some(opened),
                // A corrupt blob, refused credentials, an unreadable source: no other way helps.
                Err(e) if e.retry() == Retry::No && e.kind() != ErrorKind::Registry => {
                    return Err(e)
                }
                // The registry refused the single request, or it failed on the way: the
                // resumable path.
                Err(_) => {}
            }
        }
        loop {
            let mut current = match session.take() {
                Some(s) => s,
                None => self.start_session(blob).await?,
            };
            let result = match self.chunks.chunk_for(blob.size) {
                None if current.offset == 0 => self.put_whole(blob, &current).await,
                chunk => {
                    let chunk = chunk.unwrap_or(blob.size.max(1));
                    self.put_chunks(blob, &mut current, chunk).await
                }
            };
            let error = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if error.retry() == Retry::TooLarge {
                let refused = self
                    .chunks
                    .chunk_for(blob.size)
                    .unwrap_or(blob.size)
                    .min(blob.size - current.offset);
                self.shrink_after_413(error, refused, &mut shrinks)?;
            } else {
                attempts.failed(error).await?;
            }
            // Ask the registry what it holds, and go on from there.
            session = self.resync(blob, current).await;
        }
    }

    /// `POST ?digest=` with the whole body. `None` when the blob is stored; a session when the
    /// registry opened one instead (it ignored the body).
    async fn single_request(&self, blob: &Descriptor) -> Result<Option<Session>> {
        let url = with_digest(&self.uploads_url(), &blob.digest);
        let what = format!("uploading blob {}", blob.digest);
        let response = self
            .send_range(
                Method::POST,
                &url,
                blob,
                (0, blob.size),
                Hasher::default(),
                true,
                &what,
            )
            .await?
            .0;
        match response.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                self.chunks.note_min_length(&response);
                Ok(Some(Session::new(
                    self.client.resolve_location(&response, &what)?,
                )))
            }
            _ => Err(response_error(response, &what).await),
        }
    }

    /// `PUT ?digest=` with the whole blob.
    async fn put_whole(&self, blob: &Descriptor, session: &Session) -> Result<()> {
        let what = format!("uploading blob {}", blob.digest);
        let url = with_digest(&session.location, &blob.digest);
        let (response, _) = self
            .send_range(
                Method::PUT,
                &url,
                blob,
                (0, blob.size),
                Hasher::default(),
                true,
                &what,
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(response_error(response, &what).await);
        }
        Ok(())
    }

    /// `PATCH` chunks from the session's offset, then the empty `PUT ?digest=` that completes
    /// the upload once the digest of everything sent checks out.
    async fn put_chunks(&self, blob: &Descriptor, session: &mut Session, chunk: u64) -> Result<()> {
        let what = format!("uploading blob {}", blob.digest);
        while session.offset < blob.size {
            let len = chunk.min(blob.size - session.offset);
            let (response, hashed) = self
                .send_range(
                    Method::PATCH,
                    &session.location,
                    blob,
                    (session.offset, len),
                    session.hashed.clone(),
                    false,
                    &what,
                )
                .await?;
            if response.status() != StatusCode::ACCEPTED {
                return Err(response_error(response, &what).await);
            }
            session.location = self
                .client
                .resolve_location(&response, &what)
                .unwrap_or_else(|_| session.location.clone());
            session.offset += len;
            session.hashed = hashed;
            if let Some(end) = range_end(&response).filter(|end| *end != session.offset) {
                return Err(range_mismatch(&what, end, session.offset));
            }
        }
        let actual = session.hashed.clone().finish();
        if actual != blob.digest {
            return Err(mismatch(blob, format!("its content hashes to {actual}")));
        }
        self.commit(&session.location, blob, &what).await
    }

    /// Sends bytes `[offset, offset + len)` of the blob as a streamed body, hashing them on top
    /// of `hashed` (the hash of everything before `offset`). `finishing` checks the digest
    /// before the last bytes leave (for requests that complete the upload).
    #[allow(clippy::too_many_arguments)]
    async fn send_range(
        &self,
        method: Method,
        url: &Url,
        blob: &Descriptor,
        (offset, len): (u64, u64),
        hashed: Hasher,
        finishing: bool,
        what: &str,
    ) -> Result<(Response, Hasher)> {
        let reader = self.source.open_blob(blob, offset).await?;
        let outcome: Arc<Mutex<StreamOutcome>> = Arc::default();
        let stream = RangeStream {
            inner: ReaderStream::with_capacity(
                Box::new(reader.take(len)) as Box<dyn AsyncRead + Send + Unpin>,
                READ_CHUNK,
            ),
            hasher: Some(hashed),
            blob: blob.clone(),
            offset,
            len,
            read: 0,
            reported: 0,
            finishing,
            report: self.report.clone(),
            outcome: outcome.clone(),
        };
        let mut request = self
            .client
            .request(method.clone(), url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(stream));
        if method == Method::PATCH {
            let end = (offset + len).saturating_sub(1);
            request = request.header("Content-Range", format!("{offset}-{end}"));
        }
        let result = self.client.send_once(request, url, what).await;
        let mut outcome = outcome.lock().expect("outcome lock");
        outcome.answered = true;
        self.sent.fetch_add(outcome.read, Ordering::Relaxed);
        // A verification failure is the real cause of whatever the transport reports.
        if let Some(e) = outcome.failure.take() {
            return Err(e);
        }
        let response = result?;
        match outcome.hashed.take() {
            Some(hashed) => Ok((response, hashed)),
            // A refusal can come before the body is read; the caller reports the status.
            None if !response.status().is_success() => Ok((response, Hasher::default())),
            None => Err(Error::new(
                ErrorKind::Registry,
                format!(
                    "{what}: the registry answered {} after {} of {len} bytes",
                    response.status(),
                    outcome.read
                ),
            )
            .with_retry(Retry::Yes(None))),
        }
    }

    /// After a 413 for a request of `refused` bytes: use smaller chunks from now on, or give up
    /// when they cannot get smaller.
    fn shrink_after_413(&self, error: Error, refused: u64, shrinks: &mut u32) -> Result<()> {
        *shrinks += 1;
        if *shrinks > MAX_SHRINKS || !self.chunks.shrink_below(refused) {
            return Err(Error::new(
                ErrorKind::Registry,
                format!(
                    "{}; even {refused}-byte chunks are too large for the registry or the proxy \
                     in front of it",
                    error.message()
                ),
            ));
        }
        Ok(())
    }

    /// After a failure: the session as the registry now sees it, or `None` to start over.
    /// Registries differ here: a proxy that buffers request bodies (ingress-nginx does by
    /// default) never forwards a cut chunk, so the session resumes at the last chunk; the
    /// distribution registry invalidates a session whose last request was cut mid-body
    /// (`BLOB_UPLOAD_INVALID`), and then the blob starts over.
    async fn resync(&self, blob: &Descriptor, session: Session) -> Option<Session> {
        let what = format!("checking the upload of blob {}", blob.digest);
        let (location, held) = self.upload_status(&session.location, &what).await?;
        let offset = held.min(blob.size);
        // Usually the registry holds what the last accepted request left, whose hash the
        // session carries; only another offset needs the blob's start read again.
        let hashed = if offset == session.offset {
            session.hashed
        } else {
            self.hash_prefix(blob, offset).await.ok()?
        };
        Some(Session {
            location,
            offset,
            hashed,
        })
    }

    /// Hashes the first `len` bytes of a blob (local reads, to pick a resumed upload's hash up).
    async fn hash_prefix(&self, blob: &Descriptor, len: u64) -> Result<Hasher> {
        let mut hasher = Hasher::default();
        let mut reader = self.source.open_blob(blob, 0).await?.take(len);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| {
                Error::invalid_source(format!(
                    "reading blob {}: {}",
                    blob.digest,
                    crate::error::io_reason(&e)
                ))
            })?;
            if n == 0 {
                return Ok(hasher);
            }
            hasher.update(&buf[..n]);
        }
    }
}

/// Whether a blob needs sending.
enum Found {
    /// The repository holds it (it was there, or is now mounted).
    There(BlobOutcome),
    /// It must be uploaded, into this session if a mount attempt opened one.
    Missing(Option<Box<Session>>),
}

/// What trying to mount a blob came to.
enum Mount {
    Done,
    /// The registry opened an ordinary upload session instead.
    Session(Box<Session>),
    Missed,
}

/// A failed attempt at a streamed layer, and how many bytes the refused request carried (to
/// size chunks after a 413).
type StreamFailure = (Error, u64);

/// The digest and size of a compressed stream, checked to have ended (`streamed` is its
/// result) and to have gone to the registry whole (`sent` bytes).
fn all_sent(streamed: Option<(Digest, u64)>, sent: u64, what: &str) -> Result<(Digest, u64)> {
    let (digest, size) = streamed
        .ok_or_else(|| Error::internal(format!("{what}: the stream ended before the layer did")))?;
    if size != sent {
        return Err(Error::internal(format!(
            "{what}: sent {sent} of {size} compressed bytes"
        )));
    }
    Ok((digest, size))
}

impl Transfer<'_> {
    /// Makes sure the registry holds `layer` compressed: the blob a previous push made of it
    /// when the record knows it and the registry has it (or can mount it), else compressed now
    /// while it streams. Returns the compressed blob's descriptor. Progress events carry the
    /// layer's diff_id and count uncompressed bytes.
    pub async fn send_streamed(&self, layer: &StreamLayer) -> Result<(Descriptor, BlobOutcome)> {
        let hint = Descriptor::new(&layer.media_type, layer.diff_id.clone(), layer.size);
        let mut session = None;
        let known = self
            .cache
            .and_then(|c| c.compressed(self.registry, &layer.diff_id))
            .map(|(digest, size)| Descriptor::new(&layer.media_type, digest, size));
        if let Some(known) = known {
            match self.find(&known).await? {
                Found::There(outcome) => {
                    self.finished(&known.digest, outcome, &hint);
                    return Ok((known, outcome));
                }
                Found::Missing(opened) => session = opened.map(|s| *s),
            }
        }
        (self.report)(event(ProgressKind::BlobStarted, &hint, 0));
        let descriptor = self.upload_streamed(layer, &hint, session).await?;
        if let Some(cache) = self.cache {
            cache.record_compressed(
                self.registry,
                &layer.diff_id,
                &descriptor.digest,
                descriptor.size,
            );
        }
        self.finished(&descriptor.digest, BlobOutcome::Uploaded, &hint);
        Ok((descriptor, BlobOutcome::Uploaded))
    }

    /// Compresses and uploads a layer, starting over after failures within the retry policy
    /// and switching to (smaller) chunks after a 413.
    async fn upload_streamed(
        &self,
        layer: &StreamLayer,
        hint: &Descriptor,
        session: Option<Session>,
    ) -> Result<Descriptor> {
        let mut attempts = Attempts::new(&self.retry);
        let mut session = session;
        let mut shrinks = 0u32;
        // Gzip can grow incompressible input a little; this bounds the compressed size, to
        // tell whether it fits in one chunk.
        let bound = layer.size + layer.size / 64 + 64 * 1024;
        loop {
            let current = match session.take() {
                Some(s) => s,
                None => self.start_session(hint).await?,
            };
            let result = match self.chunks.chunk_for(bound) {
                None => self.stream_whole(layer, hint, current).await,
                Some(chunk) => self.stream_chunks(layer, hint, current, chunk).await,
            };
            let (error, refused) = match result {
                Ok(descriptor) => return Ok(descriptor),
                Err(failure) => failure,
            };
            if error.retry() == Retry::TooLarge {
                self.shrink_after_413(error, refused, &mut shrinks)?;
            } else {
                attempts.failed(error).await?;
            }
        }
    }

    /// One `PATCH` whose body is the compressed stream, then `PUT ?digest=`.
    async fn stream_whole(
        &self,
        layer: &StreamLayer,
        hint: &Descriptor,
        session: Session,
    ) -> Result<Descriptor, StreamFailure> {
        let what = format!("uploading {}", layer.describe());
        let compressed = layer.compress();
        let result = compressed.result_handle();
        let outcome: Arc<Mutex<StreamOutcome>> = Arc::default();
        let body = ProducedStream {
            consumed: compressed.consumed(),
            inner: compressed,
            outcome: outcome.clone(),
            report: self.report.clone(),
            hint: hint.clone(),
            reported: 0,
        };
        let request = self
            .client
            .request(Method::PATCH, &session.location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        let sent = self
            .client
            .send_once(request, &session.location, &what)
            .await;
        let read = {
            let mut outcome = outcome.lock().expect("outcome lock");
            outcome.answered = true;
            self.sent.fetch_add(outcome.read, Ordering::Relaxed);
            // The layer's own failure is the real cause of whatever the transport reports.
            if let Some(e) = outcome.failure.take() {
                return Err((e, outcome.read));
            }
            outcome.read
        };
        let response = sent.map_err(|e| (e, read))?;
        if response.status() != StatusCode::ACCEPTED {
            return Err((response_error(response, &what).await, read));
        }
        let streamed = result.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (digest, size) = all_sent(streamed, read, &what).map_err(|e| (e, read))?;
        if let Some(end) = range_end(&response).filter(|end| *end != size) {
            return Err((range_mismatch(&what, end, size), 0));
        }
        let location = self
            .client
            .resolve_location(&response, &what)
            .unwrap_or(session.location);
        self.commit_streamed(&location, layer, digest, size, &what)
            .await
    }

    /// `PATCH` chunks of at most `chunk` compressed bytes (one held in memory at a time), then
    /// `PUT ?digest=`.
    async fn stream_chunks(
        &self,
        layer: &StreamLayer,
        hint: &Descriptor,
        session: Session,
        chunk: u64,
    ) -> Result<Descriptor, StreamFailure> {
        let what = format!("uploading {}", layer.describe());
        let mut compressed: CompressedStream = layer.compress();
        let consumed = compressed.consumed();
        let chunk = usize::try_from(chunk).unwrap_or(usize::MAX);
        let mut location = session.location;
        let mut offset = 0u64;
        let mut carry: Option<Bytes> = None;
        let mut ended = false;
        while !ended || carry.is_some() {
            let mut buffer = BytesMut::new();
            while buffer.len() < chunk {
                let piece = match carry.take() {
                    Some(piece) => piece,
                    None => match compressed.next().await {
                        Some(Ok(piece)) => piece,
                        Some(Err(e)) => return Err((e, 0)),
                        None => {
                            ended = true;
                            break;
                        }
                    },
                };
                let room = chunk - buffer.len();
                if piece.len() > room {
                    buffer.extend_from_slice(&piece[..room]);
                    carry = Some(piece.slice(room..));
                } else {
                    buffer.extend_from_slice(&piece);
                }
            }
            if buffer.is_empty() {
                continue;
            }
            let body = buffer.freeze();
            let len = body.len() as u64;
            location = self.send_chunk(location, offset, body, &what).await?;
            offset += len;
            (self.report)(event(
                ProgressKind::BlobProgress,
                hint,
                consumed.load(Ordering::Relaxed),
            ));
        }
        let (digest, size) = all_sent(compressed.result(), offset, &what).map_err(|e| (e, 0))?;
        self.commit_streamed(&location, layer, digest, size, &what)
            .await
    }

    /// Completes a streamed layer of `digest` and `size` (known only now) at `location`.
    async fn commit_streamed(
        &self,
        location: &Url,
        layer: &StreamLayer,
        digest: Digest,
        size: u64,
        what: &str,
    ) -> Result<Descriptor, StreamFailure> {
        let descriptor = Descriptor::new(&layer.media_type, digest, size);
        self.commit(location, &descriptor, what)
            .await
            .map_err(|e| (e, 0))?;
        Ok(descriptor)
    }

    /// Sends one chunk at `offset`; after a transient failure, asks the registry what it holds
    /// and sends the chunk again (or goes on, if it did arrive). Returns the next location.
    async fn send_chunk(
        &self,
        location: Url,
        offset: u64,
        body: Bytes,
        what: &str,
    ) -> Result<Url, StreamFailure> {
        let mut attempts = Attempts::new(&self.retry);
        let len = body.len() as u64;
        let mut location = location;
        loop {
            let request = self
                .client
                .request(Method::PATCH, &location)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .header("Content-Range", format!("{offset}-{}", offset + len - 1))
                .body(body.clone());
            self.sent.fetch_add(len, Ordering::Relaxed);
            let error = match self.client.send_once(request, &location, what).await {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    let next = self
                        .client
                        .resolve_location(&response, what)
                        .unwrap_or(location);
                    match range_end(&response) {
                        Some(end) if end != offset + len => {
                            return Err((range_mismatch(what, end, offset + len), len))
                        }
                        _ => return Ok(next),
                    }
                }
                Ok(response) => response_error(response, what).await,
                Err(e) => e,
            };
            let retryable = error.clone();
            if let Err(error) = attempts.failed(error).await {
                return Err((error, len));
            }
            let error = retryable;
            match self.upload_status(&location, what).await {
                Some((now, held)) if held == offset => location = now,
                Some((now, held)) if held == offset + len => return Ok(now),
                // The session is gone or holds something else: start the layer over.
                _ => return Err((error, len)),
            }
        }
    }

    /// `GET` on an upload location: where it now is and how many bytes it holds. `None` when
    /// the registry no longer knows the upload, or cannot say within the retries.
    async fn upload_status(&self, location: &Url, what: &str) -> Option<(Url, u64)> {
        let response = retrying(&self.retry, |_| async {
            let response = self
                .client
                .send(Method::GET, location.clone(), what, |r| r)
                .await?;
            match response.status() {
                s if s.is_success() => Ok(Some(response)),
                s if s.is_client_error() && s != StatusCode::TOO_MANY_REQUESTS => Ok(None),
                _ => Err(response_error(response, what).await),
            }
        })
        .await
        .ok()??;
        let held = range_end(&response).unwrap_or(0);
        let now = self
            .client
            .resolve_location(&response, what)
            .unwrap_or_else(|_| location.clone());
        Some((now, held))
    }

    /// The empty `PUT ?digest=` that completes an upload. If its answer is lost, the blob may
    /// be there all the same: a `HEAD` tells.
    async fn commit(&self, location: &Url, blob: &Descriptor, what: &str) -> Result<()> {
        let url = with_digest(location, &blob.digest);
        let put = retrying(&self.retry, |_| async {
            let response = self
                .client
                .send(Method::PUT, url.clone(), what, |r| {
                    r.header(CONTENT_LENGTH, 0)
                })
                .await?;
            match response.status() {
                StatusCode::CREATED => Ok(()),
                _ => Err(response_error(response, what).await),
            }
        })
        .await;
        match put {
            Ok(()) => Ok(()),
            Err(e) => match self.exists(blob).await {
                Ok(true) => Ok(()),
                _ => Err(e),
            },
        }
    }
}

/// The compressed stream as a request body: counts what the transport took, reports progress
/// in uncompressed bytes, and keeps the layer's own failure (a diff_id mismatch, a read error)
/// for the caller.
struct ProducedStream {
    inner: CompressedStream,
    consumed: Arc<AtomicU64>,
    outcome: Arc<Mutex<StreamOutcome>>,
    report: Reporter,
    hint: Descriptor,
    reported: u64,
}

impl Stream for ProducedStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.outcome.lock().expect("outcome lock").answered {
            return answered_error();
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(piece))) => {
                this.outcome.lock().expect("outcome lock").read += piece.len() as u64;
                let consumed = this.consumed.load(Ordering::Relaxed);
                if consumed - this.reported >= PROGRESS_STEP {
                    this.reported = consumed;
                    (this.report)(event(ProgressKind::BlobProgress, &this.hint, consumed));
                }
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(error))) => {
                let io = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    error.message().to_string(),
                );
                this.outcome.lock().expect("outcome lock").failure = Some(error);
                Poll::Ready(Some(Err(io)))
            }
        }
    }
}

/// The byte count the registry's `Range: 0-N` header reports (N + 1). Distribution writes
/// `0-0` for an empty upload, so `0-0` counts as nothing: resending one byte is harmless,
/// skipping one is not.
/// The registry holds `end` bytes of an upload where `expected` were sent: a transient
/// disagreement (a retry resynchronises from what it holds).
fn range_mismatch(what: &str, end: u64, expected: u64) -> Error {
    Error::new(
        ErrorKind::Registry,
        format!("{what}: the registry holds {end} bytes where {expected} were sent"),
    )
    .with_retry(Retry::Yes(None))
}

/// A header's value as a number, when it is one.
fn header_u64(response: &Response, name: reqwest::header::HeaderName) -> Option<u64> {
    response
        .headers()
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn range_end(response: &Response) -> Option<u64> {
    let value = response.headers().get("Range")?.to_str().ok()?;
    parse_range_end(value)
}

fn parse_range_end(value: &str) -> Option<u64> {
    let value = value.trim().trim_start_matches("bytes=");
    let (_, end) = value.split_once('-')?;
    match end.trim().parse::<u64>().ok()? {
        0 => Some(0),
        n => n.checked_add(1),
    }
}

fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    url
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

fn mismatch(blob: &Descriptor, why: String) -> Error {
    Error::new(
        ErrorKind::DigestMismatch,
        format!("blob {} is corrupted: {why}", blob.digest),
    )
}

/// What a body stream leaves behind for the request that sent it.
#[derive(Default)]
struct StreamOutcome {
    /// Bytes handed to the transport.
    read: u64,
    /// The hash over everything up to the end of this range, once all of it was read.
    hashed: Option<Hasher>,
    /// Why the stream failed, when it was the blob's fault.
    failure: Option<Error>,
    /// The server has answered. A server may answer (a proxy's 413, say) before it has read
    /// the body and then keep reading and discarding it (nginx's lingering close); the HTTP
    /// client would go on streaming the rest in the background, reading and encrypting data
    /// nobody wants while the next request runs. Once this is set the body ends with an
    /// error, which closes that connection.
    answered: bool,
}

/// The error a body stream ends with once its request was answered.
fn answered_error() -> Poll<Option<std::io::Result<Bytes>>> {
    Poll::Ready(Some(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the registry answered before the body was sent",
    ))))
}

/// Streams a range of a blob, hashing it; when `finishing`, checks the digest before the last
/// chunk leaves, so a corrupted blob never reaches the registry complete.
struct RangeStream {
    inner: ReaderStream<Box<dyn AsyncRead + Send + Unpin>>,
    hasher: Option<Hasher>,
    blob: Descriptor,
    offset: u64,
    len: u64,
    read: u64,
    reported: u64,
    finishing: bool,
    report: Reporter,
    outcome: Arc<Mutex<StreamOutcome>>,
}

impl RangeStream {
    fn fail(&mut self, error: Error) -> Poll<Option<std::io::Result<Bytes>>> {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error.message().to_string());
        self.outcome.lock().expect("outcome lock").failure = Some(error);
        Poll::Ready(Some(Err(io)))
    }

    /// Called once all `len` bytes were read: check the digest when finishing, and hand the
    /// hash over. Returns the failure, if any.
    fn complete(&mut self) -> Option<Error> {
        let hasher = self.hasher.take()?;
        if self.finishing {
            let actual = hasher.clone().finish();
            if actual != self.blob.digest {
                return Some(mismatch(
                    &self.blob,
                    format!("its content hashes to {actual}"),
                ));
            }
        }
        self.outcome.lock().expect("outcome lock").hashed = Some(hasher);
        None
    }
}

impl Stream for RangeStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.outcome.lock().expect("outcome lock").answered {
            return answered_error();
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                this.read += chunk.len() as u64;
                if let Some(h) = this.hasher.as_mut() {
                    h.update(&chunk);
                }
                if this.read == this.len {
                    if let Some(e) = this.complete() {
                        return this.fail(e);
                    }
                }
                this.outcome.lock().expect("outcome lock").read = this.read;
                if this.read - this.reported >= PROGRESS_STEP || this.read == this.len {
                    this.reported = this.read;
                    let at = this.offset + this.read;
                    (this.report)(event(ProgressKind::BlobProgress, &this.blob, at));
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
                // Still hashing means the range ended early: the file is shorter than declared
                // (or the range is empty, which is checked here).
                if this.hasher.is_some() {
                    if this.read != this.len {
                        let e = mismatch(
                            &this.blob,
                            format!(
                                "it has {} bytes, but the manifest says {}",
                                this.offset + this.read,
                                this.blob.size
                            ),
                        );
                        return this.fail(e);
                    }
                    if let Some(e) = this.complete() {
                        return this.fail(e);
                    }
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_policy_shrinks_to_fit() {
        let p = ChunkPolicy::new(0);
        assert_eq!(p.chunk_for(2 << 30), None);
        assert!(p.shrink_below(2 << 30));
        assert_eq!(p.chunk_for(2 << 30), Some(1 << 30));
        assert_eq!(p.chunk_for(100), None, "small blobs still go whole");
        assert!(p.shrink_below(1 << 30));
        assert_eq!(p.chunk_for(2 << 30), Some(512 * MIB));
        // A 413 for a larger request does not grow the chunk back.
        assert!(p.shrink_below(2 << 30));
        assert_eq!(p.chunk_for(2 << 30), Some(512 * MIB));
        assert!(p.shrink_below(3 * MIB));
        assert_eq!(p.chunk_for(2 << 30), Some(MIB));
        assert!(!p.shrink_below(MIB), "cannot go below the minimum");
    }

    #[test]
    fn range_header_forms() {
        assert_eq!(parse_range_end("0-0"), Some(0));
        assert_eq!(parse_range_end("0-1023"), Some(1024));
        assert_eq!(parse_range_end("bytes=0-99"), Some(100));
        assert_eq!(parse_range_end("garbage"), None);
        assert_eq!(
            parse_range_end(&format!("0-{}", u64::MAX)),
            None,
            "no overflow"
        );
    }

    #[test]
    fn single_post_learns_from_the_probe() {
        let refused = SinglePost::default();
        assert!(refused.may_try(1024), "the first small blob probes");
        assert!(!refused.may_try(1024), "one probe at a time");
        refused.learn(&Err(Error::new(
            ErrorKind::Registry,
            "405 method not allowed",
        )));
        assert!(
            !refused.may_try(1024),
            "a registry that refuses it lacks it"
        );

        let flaky = SinglePost::default();
        assert!(flaky.may_try(1024));
        flaky.learn(&Err(
            Error::new(ErrorKind::Network, "reset").with_retry(Retry::Yes(None))
        ));
        assert!(flaky.may_try(1024), "a transient failure probes again");
        flaky.learn(&Ok(None));
        assert!(
            flaky.may_try(SINGLE_REQUEST_MAX),
            "stored: every small blob goes in one"
        );
        assert!(!flaky.may_try(SINGLE_REQUEST_MAX + 1));
    }

    #[test]
    fn configured_chunks_and_min_length() {
        let p = ChunkPolicy::new(8 * MIB);
        assert_eq!(p.chunk_for(20 * MIB), Some(8 * MIB));
        assert_eq!(p.chunk_for(8 * MIB), None);
        p.min.store(16 * MIB, Ordering::Relaxed);
        assert_eq!(p.chunk_for(20 * MIB), Some(16 * MIB));
    }
}
