//! A whole push: resolve the source image, send every blob it needs, then its manifests.
//!
//! Order matters for correctness: manifests go up only after every blob they reference is in
//! the registry, an index's children before the index, and the tagged manifest last, so a tag
//! never points at content that is not all there.

use crate::auth::Credentials;
use crate::client::{response_error, AuthScheme, RegistryClient};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::progress::{ProgressEvent, ProgressFn, ProgressKind};
use crate::reference::{parse_registry, Reference};
use crate::source::{Descriptor, ImageNode, ManifestBlob, Source};
use crate::tls::TlsOptions;
use crate::upload::{blob_exists, upload_blob, Reporter};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Blobs uploaded at once unless the caller says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// More parallel uploads than this only adds contention on the registry.
pub const MAX_CONCURRENCY: usize = 64;

/// How to push.
#[derive(Clone, Default)]
pub struct PushOptions {
    /// Credentials for the registry; `None` pushes anonymously.
    pub credentials: Option<Credentials>,
    pub tls: TlsOptions,
    /// Blobs uploaded at once; 0 means [`DEFAULT_CONCURRENCY`].
    pub concurrency: usize,
    /// Receives progress events, never two at once.
    pub progress: Option<ProgressFn>,
    /// Cancels the push; nothing is tagged once it fires.
    pub cancel: Option<CancellationToken>,
}

impl std::fmt::Debug for PushOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushOptions")
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .field("concurrency", &self.concurrency)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
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
    /// Blob bytes sent (manifests not counted).
    pub bytes_sent: u64,
    /// Manifests and indexes stored.
    pub manifests_pushed: u64,
}

/// Pushes `source` (`oci:DIR[:TAG]` or a layout directory) to `destination`
/// (`host[:port]/path[:tag]`).
pub async fn push(source: &str, destination: &str, options: &PushOptions) -> Result<PushReport> {
    let cancel = options.cancel.clone().unwrap_or_default();
    let report = reporter(options.progress.clone());
    let blobs_phase = async {
        let plan = Plan::new(source, destination).await?;
        let client = RegistryClient::new(
            &plan.destination.registry,
            &options.tls,
            options.credentials.clone(),
            Some(format!(
                "repository:{}:pull,push",
                plan.destination.repository
            )),
        )?;
        client.authenticate().await?;
        let outcomes = plan
            .send_blobs(&client, options.concurrency, &report)
            .await?;
        Ok::<_, Error>((plan, client, outcomes))
    };
    let (plan, client, outcomes) = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err(cancelled()),
        result = blobs_phase => result?,
    };
    let manifests_pushed =
        push_manifests(&client, &plan.destination, &plan.root, &report, &cancel).await?;

    let uploaded: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| match o {
            BlobOutcome::Uploaded(n) => Some(*n),
            BlobOutcome::Present => None,
        })
        .collect();
    Ok(PushReport {
        reference: plan.destination.without_digest(),
        digest: plan.root.manifest().digest.clone(),
        blobs_uploaded: uploaded.len() as u64,
        blobs_present: (outcomes.len() - uploaded.len()) as u64,
        bytes_sent: uploaded.iter().sum(),
        manifests_pushed,
    })
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "push cancelled; nothing was tagged")
}

/// The image to push and where, checked before anything goes over the network.
struct Plan {
    destination: Reference,
    source: Source,
    root: ImageNode,
    /// Every distinct blob of every manifest, by digest.
    blobs: BTreeMap<Digest, Descriptor>,
}

impl Plan {
    async fn new(source: &str, destination: &str) -> Result<Plan> {
        let destination = Reference::parse(destination)?;
        let (source, root) = Source::open(source).await?;
        if let Some(want) = &destination.digest {
            if want != root.manifest().digest.as_str() {
                return Err(Error::invalid_argument(format!(
                    "destination names digest {want}, but the source image is {}",
                    root.manifest().digest
                )));
            }
        }
        let mut blobs = BTreeMap::new();
        collect_blobs(&root, &mut blobs);
        // Fail on a missing or wrongly sized blob before the first byte is sent.
        for blob in blobs.values() {
            source.check_blob(blob).await?;
        }
        Ok(Plan {
            destination,
            source,
            root,
            blobs,
        })
    }

    /// Sends every blob the registry lacks, `concurrency` at a time (0: the default).
    async fn send_blobs(
        &self,
        client: &RegistryClient,
        concurrency: usize,
        report: &Reporter,
    ) -> Result<Vec<BlobOutcome>> {
        let concurrency = match concurrency {
            0 => DEFAULT_CONCURRENCY,
            n => n.min(MAX_CONCURRENCY),
        };
        let repository = &self.destination.repository;
        stream::iter(self.blobs.values())
            .map(|blob| send_blob(client, repository, &self.source, blob, report))
            .buffer_unordered(concurrency)
            .try_collect()
            .await
    }
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

enum BlobOutcome {
    Uploaded(u64),
    Present,
}

async fn send_blob(
    client: &RegistryClient,
    repository: &str,
    source: &Source,
    blob: &Descriptor,
    report: &Reporter,
) -> Result<BlobOutcome> {
    if blob_exists(client, repository, blob).await? {
        report(ProgressEvent {
            kind: ProgressKind::BlobSkipped,
            digest: blob.digest.clone(),
            media_type: blob.media_type.clone(),
            current: blob.size,
            total: blob.size,
        });
        return Ok(BlobOutcome::Present);
    }
    let sent = upload_blob(client, repository, source, blob, report).await?;
    Ok(BlobOutcome::Uploaded(sent))
}

/// Pushes children (by digest) before their index, and the top-level manifest last under the
/// destination's tag. Returns how many manifests were stored.
async fn push_manifests(
    client: &RegistryClient,
    destination: &Reference,
    root: &ImageNode,
    report: &Reporter,
    cancel: &CancellationToken,
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
        let put = put_manifest(client, &destination.repository, manifest, &reference);
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
        return Err(response_error(response, &what).await);
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

/// What `login` found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginReport {
    /// `host[:port]` as normalized.
    pub registry: String,
    /// How the registry authenticated us.
    pub scheme: AuthScheme,
}

/// Checks credentials against a registry: the `GET /v2/` challenge, the token exchange when
/// the registry uses tokens, and one authenticated `GET /v2/`.
pub async fn login(
    registry: &str,
    credentials: Option<&Credentials>,
    tls: &TlsOptions,
) -> Result<LoginReport> {
    let registry = parse_registry(registry)?;
    let client = RegistryClient::new(&registry, tls, credentials.cloned(), None)?;
    let scheme = client.authenticate().await?;
    if scheme == AuthScheme::Bearer {
        // A token service may hand out anonymous tokens; make sure this one is accepted.
        let url = client.url("/v2/");
        let response = client.send(Method::GET, url, "GET /v2/", |r| r).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!("unauthorized: {registry}: the registry refused the token it issued"),
            ));
        }
        if !response.status().is_success() {
            return Err(response_error(response, "GET /v2/").await);
        }
    }
    Ok(LoginReport { registry, scheme })
}
