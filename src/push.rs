//! A whole push: resolve the source image, send every blob it needs, then its manifests.
//!
//! Order matters for correctness: manifests go up only after every blob they reference is in
//! the registry, an index's children before the index, and the tagged manifest last, so a tag
//! never points at content that is not all there.

use crate::auth::Credentials;
use crate::blobcache::BlobCache;
use crate::client::{response_error, response_error_and_codes, RegistryClient};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result, Retry};
use crate::login::resolve_credentials;
use crate::progress::{ProgressEvent, ProgressFn, ProgressKind};
use crate::reference::Reference;
use crate::retry::{retrying, RetryPolicy};
use crate::source::{
    Descriptor, Image, ImageNode, ManifestBlob, Opened, Source, SourceOptions, StreamLayer,
    DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST,
};
use crate::tls::TlsOptions;
use crate::upload::{BlobOutcome, ChunkPolicy, Reporter, Transfer};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Blobs uploaded at once unless the caller says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// More parallel uploads than this only adds contention on the registry.
pub const MAX_CONCURRENCY: usize = 64;

/// Where the record of which repositories hold which blobs (for mounts) lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BlobCacheSetting {
    /// `$IDP_PUSH_CACHE_DIR`, `$XDG_CACHE_HOME/idp-push` or `~/.cache/idp-push`.
    #[default]
    UserCache,
    /// This directory.
    Dir(PathBuf),
    /// No record: never mount.
    Off,
}

/// How to push.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Credentials for the registry; `None` pushes anonymously.
    pub credentials: Option<Credentials>,
    pub tls: TlsOptions,
    /// Blobs uploaded at once; 0 means [`DEFAULT_CONCURRENCY`].
    pub concurrency: usize,
    /// Chunk size in bytes for every blob larger than it; 0 sends whole blobs and switches to
    /// chunks by itself when the registry or a proxy answers 413.
    pub chunk_size: u64,
    /// Retries of transient failures; `None` for [`RetryPolicy::default`].
    pub retry: Option<RetryPolicy>,
    /// The blob record used to mount blobs from other repositories.
    pub blob_cache: BlobCacheSetting,
    /// Receives progress events, never two at once.
    pub progress: Option<ProgressFn>,
    /// Cancels the push; nothing is tagged once it fires.
    pub cancel: Option<CancellationToken>,
    /// `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`): from a multi-platform index, push
    /// only that platform's image under the tag; a single image must be that platform (its
    /// config is checked). `None` pushes what the source holds, every platform of an index.
    pub platform: Option<String>,
    /// docker-archive sources: push layers as stored (uncompressed tar, media type
    /// `application/vnd.docker.image.rootfs.diff.tar`) instead of gzip-compressing them while
    /// they stream. Default false: compressed, as `docker push`, crane and skopeo do.
    pub keep_uncompressed: bool,
    /// How long a connection to the registry may stay silent while we wait for it before the
    /// request fails (and is retried, as any network failure); also the longest wait to connect.
    /// `None`: 120 s of silence, 15 s to connect.
    pub timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .field("concurrency", &self.concurrency)
            .field("chunk_size", &self.chunk_size)
            .field("retry", &self.retry)
            .field("blob_cache", &self.blob_cache)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .field("platform", &self.platform)
            .field("keep_uncompressed", &self.keep_uncompressed)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The destination as pushed, `host/path:tag` (no digest).
    pub reference: String,
    /// Digest of the pushed top-level manifest or index.
    pub digest: Digest,
    /// Blobs sent to the registry.
    pub blobs_uploaded: u64,
    /// Blobs the registry already had.
    pub blobs_present: u64,
    /// Blobs linked from another repository of the registry.
    pub blobs_mounted: u64,
    /// Blob bytes that crossed the network, resent parts included (manifests not counted).
    pub bytes_sent: u64,
    /// Manifests and indexes stored.
    pub manifests_pushed: u64,
}

/// Pushes `source` (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
/// `docker-archive:FILE[:NAME:TAG]`, or a path to a layout directory or an archive) to
/// `destination` (`host[:port]/path[:tag]`).
pub async fn push(source: &str, destination: &str, options: &PushOptions) -> Result<PushReport> {
    let cancel = options.cancel.clone().unwrap_or_default();
    let report = reporter(options.progress.clone());
    let retry = options.retry.unwrap_or_default();
    let blobs_phase = async {
        let plan = Plan::new(
            source,
            destination,
            &SourceOptions {
                platform: options.platform.clone(),
                keep_uncompressed: options.keep_uncompressed,
            },
        )
        .await?;
        let credentials =
            resolve_credentials(&plan.destination.registry, options.credentials.clone()).await?;
        let client = RegistryClient::new(
            &plan.destination.registry,
            &options.tls,
            credentials.credentials,
            Some(format!(
                "repository:{}:pull,push",
                plan.destination.repository
            )),
            options.timeout,
        )?;
        retrying(&retry, |_| client.authenticate()).await?;
        // A warm push costs one request: when the tag already names this exact manifest, the
        // registry holds everything it references.
        if let Image::Ready(root) = &plan.image {
            if retrying(&retry, |_| already_tagged(&client, &plan.destination, root)).await? {
                return Ok(Phase::AlreadyThere(plan));
            }
        }
        let cache = match &options.blob_cache {
            BlobCacheSetting::UserCache => BlobCache::open(None),
            BlobCacheSetting::Dir(dir) => BlobCache::open(Some(dir)),
            BlobCacheSetting::Off => None,
        };
        let transfer = Transfer {
            client: &client,
            registry: &plan.destination.registry,
            repository: &plan.destination.repository,
            source: &plan.source,
            report: report.clone(),
            retry,
            chunks: ChunkPolicy::new(options.chunk_size),
            cache: cache.as_ref(),
            sent: AtomicU64::new(0),
            single_post: Default::default(),
        };
        let (outcomes, compressed) = plan.send_blobs(&transfer, options.concurrency).await?;
        let sent = transfer.sent.load(Ordering::Relaxed);
        let root = plan.root(&compressed)?;
        Ok::<_, Error>(Phase::BlobsSent {
            plan,
            root,
            client,
            outcomes,
            sent,
        })
    };
    let phase = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(cancelled()),
        result = blobs_phase => result?,
    };
    let (plan, root, client, outcomes, bytes_sent) = match phase {
        Phase::AlreadyThere(plan) => {
            // Tell progress what docker says: every layer already exists.
            for blob in plan.blobs.values() {
                report(ProgressEvent {
                    kind: ProgressKind::BlobSkipped,
                    digest: blob.digest.clone(),
                    media_type: blob.media_type.clone(),
                    current: blob.size,
                    total: blob.size,
                });
            }
            return Ok(plan.already_there_report());
        }
        Phase::BlobsSent {
            plan,
            root,
            client,
            outcomes,
            sent,
        } => (plan, root, client, outcomes, sent),
    };
    let manifests_pushed =
        push_manifests(&client, &plan.destination, &root, &report, &cancel, &retry).await?;

    let count = |want: fn(&BlobOutcome) -> bool| outcomes.iter().filter(|o| want(o)).count() as u64;
    Ok(PushReport {
        reference: plan.destination.without_digest(),
        digest: root.manifest().digest.clone(),
        blobs_uploaded: count(|o| matches!(o, BlobOutcome::Uploaded)),
        blobs_present: count(|o| matches!(o, BlobOutcome::Present)),
        blobs_mounted: count(|o| matches!(o, BlobOutcome::Mounted)),
        bytes_sent,
        manifests_pushed,
    })
}

/// Where the first, cancellable part of a push ended. One value per push, moved once: its
/// size does not matter.
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// The tag already names the manifest: nothing to send.
    AlreadyThere(Plan),
    BlobsSent {
        plan: Plan,
        root: ImageNode,
        client: RegistryClient,
        outcomes: Vec<BlobOutcome>,
        sent: u64,
    },
}

/// Whether the destination tag already names `root`'s manifest (`HEAD` on the manifest).
async fn already_tagged(
    client: &RegistryClient,
    destination: &Reference,
    root: &ImageNode,
) -> Result<bool> {
    let Some(tag) = &destination.tag else {
        return Ok(false);
    };
    let url = client.url(&format!("/v2/{}/manifests/{tag}", destination.repository));
    let what = format!("checking tag {tag}");
    let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
    let response = client
        .send(Method::HEAD, url, &what, |r| {
            r.header(reqwest::header::ACCEPT, accept.as_str())
        })
        .await?;
    match response.status() {
        s if s.is_success() => Ok(response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            == Some(root.manifest().digest.as_str())),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(response_error(response, &what).await),
    }
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "push cancelled; nothing was tagged")
}

/// The image to push and where, checked before anything goes over the network.
struct Plan {
    destination: Reference,
    source: Source,
    image: Image,
    /// Every distinct blob of known digest of every manifest, by digest.
    blobs: BTreeMap<Digest, Descriptor>,
    /// Layers compressed while they stream (docker archives), one per distinct diff_id.
    streamed: Vec<StreamLayer>,
}

/// Compressed layers as pushed, by diff_id.
type Compressed = HashMap<Digest, Descriptor>;

impl Plan {
    async fn new(source: &str, destination: &str, options: &SourceOptions) -> Result<Plan> {
        let destination = Reference::parse(destination)?;
        let Opened { source, image, .. } = Source::open(source, options).await?;
        let mut blobs = BTreeMap::new();
        let mut streamed = Vec::new();
        match &image {
            Image::Ready(root) => {
                check_digest(&destination, root)?;
                collect_blobs(root, &mut blobs);
            }
            Image::Pending(pending) => {
                blobs.insert(pending.config.digest.clone(), pending.config.clone());
                let mut seen = std::collections::HashSet::new();
                streamed = pending
                    .layers
                    .iter()
                    .filter(|l| seen.insert(l.diff_id.clone()))
                    .cloned()
                    .collect();
            }
        }
        // Fail on a missing or wrongly sized blob before the first byte is sent.
        for blob in blobs.values() {
            source.check_blob(blob).await?;
        }
        Ok(Plan {
            destination,
            source,
            image,
            blobs,
            streamed,
        })
    }

    /// The report of a push that found its tag already in place.
    fn already_there_report(&self) -> PushReport {
        let Image::Ready(root) = &self.image else {
            unreachable!("only ready images are checked for their tag")
        };
        PushReport {
            reference: self.destination.without_digest(),
            digest: root.manifest().digest.clone(),
            blobs_uploaded: 0,
            blobs_present: self.blobs.len() as u64,
            blobs_mounted: 0,
            bytes_sent: 0,
            manifests_pushed: 0,
        }
    }

    /// Sends every blob the registry lacks, `concurrency` at a time (0: the default). Layers
    /// compressed on the way go first (they are the large ones); their descriptors are
    /// returned by diff_id.
    async fn send_blobs(
        &self,
        transfer: &Transfer<'_>,
        concurrency: usize,
    ) -> Result<(Vec<BlobOutcome>, Compressed)> {
        let concurrency = match concurrency {
            0 => DEFAULT_CONCURRENCY,
            n => n.min(MAX_CONCURRENCY),
        };
        let jobs: Vec<Job<'_>> = self
            .streamed
            .iter()
            .map(Job::Layer)
            .chain(self.blobs.values().map(Job::Blob))
            .collect();
        // Futures made up front (they do nothing until polled): with a closure inside the
        // stream the compiler fails to prove this future `Send` ("implementation of `FnOnce`
        // is not general enough"), which `push_blocking` needs.
        let futures: Vec<_> = jobs.into_iter().map(|job| job.run(transfer)).collect();
        let results: Vec<(BlobOutcome, Option<(Digest, Descriptor)>)> = stream::iter(futures)
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        let mut outcomes = Vec::with_capacity(results.len());
        let mut compressed = Compressed::new();
        for (outcome, layer) in results {
            outcomes.push(outcome);
            compressed.extend(layer);
        }
        Ok((outcomes, compressed))
    }

    /// The manifest tree to push, once every blob is in place.
    fn root(&self, compressed: &Compressed) -> Result<ImageNode> {
        match &self.image {
            Image::Ready(root) => Ok(root.clone()),
            Image::Pending(pending) => {
                let root = pending.finish(compressed)?;
                check_digest(&self.destination, &root)?;
                Ok(root)
            }
        }
    }
}

/// One blob to send: stored as is, or a layer compressed on the way.
enum Job<'a> {
    Blob(&'a Descriptor),
    Layer(&'a StreamLayer),
}

impl Job<'_> {
    async fn run(
        self,
        transfer: &Transfer<'_>,
    ) -> Result<(BlobOutcome, Option<(Digest, Descriptor)>)> {
        match self {
            Job::Blob(blob) => Ok((transfer.send_blob(blob).await?, None)),
            Job::Layer(layer) => {
                let (descriptor, outcome) = transfer.send_streamed(layer).await?;
                Ok((outcome, Some((layer.diff_id.clone(), descriptor))))
            }
        }
    }
}

/// A destination `@sha256:…` must be the digest of what is pushed.
fn check_digest(destination: &Reference, root: &ImageNode) -> Result<()> {
    if let Some(want) = &destination.digest {
        if want != root.manifest().digest.as_str() {
            return Err(Error::invalid_argument(format!(
                "destination names digest {want}, but the source image is {}",
                root.manifest().digest
            )));
        }
    }
    Ok(())
}

fn collect_blobs(node: &ImageNode, into: &mut BTreeMap<Digest, Descriptor>) {
    match node {
        ImageNode::Manifest { blobs, .. } => {
            for b in blobs {
                into.entry(b.digest.clone()).or_insert_with(|| b.clone());
            }
        }
        ImageNode::Index { children, .. } => {
            for c in children {
                collect_blobs(c, into);
            }
        }
    }
}

/// Wraps the caller's callback so that concurrent uploads never call it at the same time.
fn reporter(progress: Option<ProgressFn>) -> Reporter {
    match progress {
        None => Arc::new(|_| {}),
        Some(callback) => {
            let serial = Mutex::new(());
            Arc::new(move |event: ProgressEvent| {
                let _one_at_a_time = serial.lock().unwrap_or_else(|p| p.into_inner());
                callback(&event);
            })
        }
    }
}

/// Pushes children (by digest) before their index, and the top-level manifest last under the
/// destination's tag. Returns how many manifests were stored.
async fn push_manifests(
    client: &RegistryClient,
    destination: &Reference,
    root: &ImageNode,
    report: &Reporter,
    cancel: &CancellationToken,
    retry: &RetryPolicy,
) -> Result<u64> {
    let mut order = Vec::new();
    children_first(root, &mut order);
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    let last = order.len() - 1;
    for (i, manifest) in order.into_iter().enumerate() {
        let reference = if i == last {
            destination.manifest_reference().to_string()
        } else {
            manifest.digest.to_string()
        };
        if i != last && !seen.insert(manifest.digest.clone()) {
            continue;
        }
        let put = retrying(retry, |_| {
            put_manifest(client, &destination.repository, manifest, &reference)
        });
        if i == last {
            // The tagging PUT is not interrupted once it starts: the registry may already have
            // applied it, and a cancelled push must not report "nothing tagged" when it was.
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            put.await?;
        } else {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(cancelled()),
                result = put => result?,
            }
        }
        count += 1;
        report(ProgressEvent {
            kind: ProgressKind::ManifestPushed,
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            current: manifest.bytes.len() as u64,
            total: manifest.bytes.len() as u64,
        });
    }
    Ok(count)
}

fn children_first<'a>(node: &'a ImageNode, order: &mut Vec<&'a ManifestBlob>) {
    if let ImageNode::Index { children, .. } = node {
        for c in children {
            children_first(c, order);
        }
    }
    order.push(node.manifest());
}

async fn put_manifest(
    client: &RegistryClient,
    repository: &str,
    manifest: &ManifestBlob,
    reference: &str,
) -> Result<()> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let what = format!("pushing manifest {} as {reference}", manifest.digest);
    let body = bytes::Bytes::from(manifest.bytes.clone());
    let response = client
        .send(Method::PUT, url, &what, |r| {
            r.header(CONTENT_TYPE, manifest.media_type.as_str())
                .body(body.clone())
        })
        .await?;
    if response.status() != StatusCode::CREATED && !response.status().is_success() {
        let status = response.status();
        let (error, codes) = response_error_and_codes(response, &what).await;
        // Every blob was confirmed in the repository before this PUT, so "blob unknown" (or,
        // from distribution, DIGEST_INVALID: a blob link read while another push of the same
        // blob rewrites it, which its filesystem driver does not do atomically) is a race with
        // a concurrent push, which a retry gets past; a real absence still fails, once the
        // retries are spent.
        if status == StatusCode::BAD_REQUEST
            && codes.iter().any(|code| {
                ["MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "DIGEST_INVALID"].contains(&code.as_str())
            })
        {
            return Err(error.with_retry(Retry::Yes(None)));
        }
        return Err(error);
    }
    // The registry computes the digest from what it stored; it must be ours (byte for byte).
    if let Some(stored) = response
        .headers()
        .get("Docker-Content-Digest")
        .and_then(|v| v.to_str().ok())
    {
        if stored != manifest.digest.as_str() {
            return Err(Error::new(
                ErrorKind::Registry,
                format!("{what}: the registry stored it as {stored}, not as sent"),
            ));
        }
    }
    Ok(())
}
