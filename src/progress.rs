//! Progress events: what a push tells its caller while it runs.

use crate::digest::Digest;
use std::sync::Arc;

/// What happened to a blob or manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    /// The upload of a blob started (`current` is 0).
    BlobStarted,
    /// More bytes of a blob were sent (`current` counts them, `total` is the blob size).
    BlobProgress,
    /// A blob was uploaded completely and the registry accepted it.
    BlobDone,
    /// The registry already had the blob; nothing was sent.
    BlobSkipped,
    /// A manifest (or index) was stored.
    ManifestPushed,
    /// The registry linked the blob from another of its repositories; nothing was sent.
    BlobMounted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressEvent {
    pub kind: ProgressKind,
    pub digest: Digest,
    pub media_type: String,
    pub current: u64,
    pub total: u64,
}

/// Receives progress events. Calls for one push never overlap: the push serializes them.
pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// Emit progress at most this often per blob, so a callback into Go or C is not a hot path.
pub const PROGRESS_STEP: u64 = 512 * 1024;
