//! `idp_push` and `idp_login`, their result structs and progress events.

use super::guard::{guard, required_str, FfiError};
use super::options::{idp_options, read_options, Settings};
use super::status::idp_status;
use crate::client::AuthScheme;
use crate::credentials::CredentialSource;
use crate::progress::{ProgressEvent, ProgressKind};
use crate::push::PushOptions;
use std::ffi::{c_char, c_void, CString};
use std::mem::{offset_of, size_of};
use std::sync::Arc;

/// Room for `sha256:` + 64 hex digits + NUL.
pub const IDP_DIGEST_CAPACITY: usize = 72;

/// What `idp_push` did. Allocate it yourself, set `struct_size = sizeof(idp_push_result)`, and
/// pass its address; it is written only when the push succeeds.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_push_result {
    /// `sizeof(idp_push_result)` as the caller compiled it.
    pub struct_size: usize,
    /// Digest of the pushed manifest (or index), NUL-terminated: `sha256:<64 hex>`.
    pub digest: [c_char; IDP_DIGEST_CAPACITY],
    /// Blobs sent to the registry.
    pub blobs_uploaded: u64,
    /// Blobs the registry already had.
    pub blobs_present: u64,
    /// Blob bytes that crossed the network (resent parts of resumed uploads included).
    pub bytes_sent: u64,
    /// Blobs linked from another repository of the registry instead of sent.
    pub blobs_mounted: u64,
}

/// What kind of progress event this is.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum idp_progress_kind {
    /// A blob upload started.
    BlobStarted = 0,
    /// More of a blob was sent; `current` of `total` bytes.
    BlobProgress = 1,
    /// A blob upload completed.
    BlobDone = 2,
    /// The registry already had the blob; nothing was sent.
    BlobSkipped = 3,
    /// A manifest or index was stored.
    ManifestPushed = 4,
    /// The registry linked the blob from another of its repositories; nothing was sent.
    BlobMounted = 5,
}

/// One progress event. Strings are valid only during the callback.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_progress_event {
    pub kind: idp_progress_kind,
    /// `sha256:...` of the blob or manifest.
    pub digest: *const c_char,
    /// Its media type (may be "").
    pub media_type: *const c_char,
    /// Bytes sent so far.
    pub current: u64,
    /// Size of the blob or manifest.
    pub total: u64,
}

/// How the registry authenticated the caller in `idp_login`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum idp_auth_scheme {
    /// The registry needs no credentials.
    None = 0,
    /// HTTP Basic.
    Basic = 1,
    /// A bearer token from the registry's token service.
    Bearer = 2,
}

/// Where the credentials of a call came from.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum idp_credential_source {
    /// Given in `idp_options`.
    Explicit = 0,
    /// An `auths` entry of the docker config (`$DOCKER_CONFIG/config.json`, `~/.docker/config.json`).
    DockerConfig = 1,
    /// A `docker-credential-<name>` helper named by the docker config.
    CredentialHelper = 2,
    /// `$REGISTRY_AUTH_FILE` or `$XDG_RUNTIME_DIR/containers/auth.json`.
    ContainersAuthFile = 3,
    /// None found: anonymous.
    Anonymous = 4,
}

/// Room for a description of where credentials came from or went (paths, helper names).
pub const IDP_DESCRIPTION_CAPACITY: usize = 512;

/// What `idp_login` found. Allocate it yourself with `struct_size = sizeof(idp_login_result)`;
/// it is written only on success.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_login_result {
    /// `sizeof(idp_login_result)` as the caller compiled it.
    pub struct_size: usize,
    /// How the registry authenticated us.
    pub scheme: idp_auth_scheme,
    /// Where the credentials came from.
    pub source: idp_credential_source,
    /// The same in words, NUL-terminated (e.g. "docker config /root/.docker/config.json").
    pub source_description: [c_char; IDP_DESCRIPTION_CAPACITY],
    /// Where `save_credentials` stored them, NUL-terminated; empty when not saved.
    pub saved_to: [c_char; IDP_DESCRIPTION_CAPACITY],
}

/// Pushes `source` to `destination` (`host[:port]/path[:tag]`). Sources: `oci:DIR[:TAG]` or a
/// directory holding an OCI layout, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]`,
/// or a tar file (its kind is detected).
///
/// - `options`: may be NULL for defaults; see `idp_options`.
/// - `result`: may be NULL; written only on success.
/// - `error_message`: may be NULL; otherwise set to NULL on success, or on failure to a
///   one-line message the caller frees with `idp_string_free`.
///
/// Blocks until the push finishes, fails, or is cancelled. Thread-safe.
///
/// # Safety
/// Pointers must be NULL or valid as described; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn idp_push(
    source: *const c_char,
    destination: *const c_char,
    options: *const idp_options,
    result: *mut idp_push_result,
    error_message: *mut *mut c_char,
) -> idp_status {
    guard(error_message, || {
        let source = required_str(source, "source")?;
        // Lets the C harness prove that a panic comes back as IDP_STATUS_PANIC; compiled only
        // with the `test-hooks` feature, never into a release the ABI promises.
        #[cfg(feature = "test-hooks")]
        if source == "test-hook:panic" {
            panic!("forced by the test-hooks feature");
        }
        let destination = required_str(destination, "destination")?;
        check_result_size(
            result,
            "result",
            offset_of!(idp_push_result, bytes_sent) + size_of::<u64>(),
        )?;
        let settings = read_options(options)?;
        let push_options = PushOptions {
            progress: progress_adapter(&settings),
            credentials: settings.credentials,
            tls: settings.tls,
            concurrency: settings.concurrency,
            cancel: settings.cancel,
            chunk_size: settings.chunk_size,
            platform: settings.platform,
            keep_uncompressed: settings.keep_uncompressed,
            timeout: settings.timeout,
            ..Default::default()
        };
        let report = crate::push_blocking(source, destination, &push_options)?;
        if !result.is_null() {
            let digest = c_text(report.digest.as_str());
            // Field by field through the raw pointer: a caller compiled against an older header
            // has a smaller struct, so no reference to the whole struct may be formed.
            (*result).digest = digest;
            (*result).blobs_uploaded = report.blobs_uploaded;
            (*result).blobs_present = report.blobs_present;
            (*result).bytes_sent = report.bytes_sent;
            let size = (*result).struct_size;
            if has_room(
                size,
                offset_of!(idp_push_result, blobs_mounted),
                size_of::<u64>(),
            ) {
                (*result).blobs_mounted = report.blobs_mounted;
            }
        }
        Ok(())
    })
}

/// Checks credentials against `registry` (`host[:port]`): the registry's challenge, the token
/// exchange when it uses tokens, and one authenticated request. Uses `options`' credentials and
/// TLS settings (may be NULL for anonymous, verified TLS).
///
/// - `result`: may be NULL; written only on success.
/// - `error_message`: as for `idp_push`.
///
/// # Safety
/// As for `idp_push`.
#[no_mangle]
pub unsafe extern "C" fn idp_login(
    registry: *const c_char,
    options: *const idp_options,
    result: *mut idp_login_result,
    error_message: *mut *mut c_char,
) -> idp_status {
    guard(error_message, || {
        let registry = required_str(registry, "registry")?;
        check_result_size(
            result,
            "result",
            offset_of!(idp_login_result, scheme) + size_of::<idp_auth_scheme>(),
        )?;
        let settings = read_options(options)?;
        let report = crate::login_blocking(
            registry,
            &crate::LoginOptions {
                credentials: settings.credentials,
                tls: settings.tls,
                save: settings.save_credentials,
                cancel: settings.cancel,
                timeout: settings.timeout,
            },
        )?;
        if !result.is_null() {
            // Field by field, as in idp_push: an older caller's struct ends after `scheme`.
            (*result).scheme = report.scheme.into();
            let size = (*result).struct_size;
            let room = |offset, len| has_room(size, offset, len);
            if room(
                offset_of!(idp_login_result, source),
                size_of::<idp_credential_source>(),
            ) {
                (*result).source = (&report.source).into();
            }
            if room(
                offset_of!(idp_login_result, source_description),
                IDP_DESCRIPTION_CAPACITY,
            ) {
                (*result).source_description = c_text(&report.source.to_string());
            }
            if room(
                offset_of!(idp_login_result, saved_to),
                IDP_DESCRIPTION_CAPACITY,
            ) {
                let saved_to = report.saved_to.as_ref().map(ToString::to_string);
                (*result).saved_to = c_text(saved_to.as_deref().unwrap_or_default());
            }
        }
        Ok(())
    })
}

impl From<AuthScheme> for idp_auth_scheme {
    fn from(scheme: AuthScheme) -> Self {
        match scheme {
            AuthScheme::None => idp_auth_scheme::None,
            AuthScheme::Basic => idp_auth_scheme::Basic,
            AuthScheme::Bearer => idp_auth_scheme::Bearer,
        }
    }
}

impl From<&CredentialSource> for idp_credential_source {
    fn from(source: &CredentialSource) -> Self {
        match source {
            CredentialSource::Explicit => idp_credential_source::Explicit,
            CredentialSource::DockerConfig(_) => idp_credential_source::DockerConfig,
            CredentialSource::CredentialHelper { .. } => idp_credential_source::CredentialHelper,
            CredentialSource::ContainersAuthFile(_) => idp_credential_source::ContainersAuthFile,
            CredentialSource::Anonymous => idp_credential_source::Anonymous,
        }
    }
}

/// Whether a caller's struct of `size` bytes has room for the field at `offset` of `len`
/// bytes. Fields added after a struct's first version are written only when it has.
fn has_room(size: usize, offset: usize, len: usize) -> bool {
    size >= offset + len
}

/// `text` as a NUL-terminated C array, cut short (at a character boundary) if it must be.
pub(super) fn c_text<const N: usize>(text: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    let mut end = text.len().min(N - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (slot, byte) in out.iter_mut().zip(text[..end].bytes()) {
        *slot = byte as c_char;
    }
    out
}

/// A result struct must be at least as large as the fields this version writes.
///
/// # Safety
/// `result` must be NULL or point to a struct whose first field is `struct_size`.
pub(super) unsafe fn check_result_size<T>(
    result: *mut T,
    name: &str,
    needed: usize,
) -> Result<(), FfiError> {
    if result.is_null() {
        return Ok(());
    }
    let size = *result.cast::<usize>();
    if size < needed {
        return Err(FfiError::new(
            idp_status::InvalidArgument,
            format!("{name}.struct_size is {size}; set it to sizeof the struct"),
        ));
    }
    Ok(())
}

/// Wraps the C callback as a Rust progress function.
fn progress_adapter(settings: &Settings) -> Option<crate::ProgressFn> {
    let callback = settings.progress?;
    // The pointer is the caller's; it promised it stays valid for the call, and calls are
    // serialized by the push, so sending it between threads is sound.
    let userdata = SendPtr(settings.progress_userdata);
    Some(Arc::new(move |event: &ProgressEvent| {
        let digest = CString::new(event.digest.as_str()).unwrap_or_default();
        let media_type = CString::new(event.media_type.as_str()).unwrap_or_default();
        let c_event = idp_progress_event {
            kind: match event.kind {
                ProgressKind::BlobStarted => idp_progress_kind::BlobStarted,
                ProgressKind::BlobProgress => idp_progress_kind::BlobProgress,
                ProgressKind::BlobDone => idp_progress_kind::BlobDone,
                ProgressKind::BlobSkipped => idp_progress_kind::BlobSkipped,
                ProgressKind::ManifestPushed => idp_progress_kind::ManifestPushed,
                ProgressKind::BlobMounted => idp_progress_kind::BlobMounted,
            },
            digest: digest.as_ptr(),
            media_type: media_type.as_ptr(),
            current: event.current,
            total: event.total,
        };
        let userdata = &userdata;
        // SAFETY: the caller gave us this function and userdata for exactly this use.
        unsafe { callback(userdata.0, &c_event) };
    }))
}

struct SendPtr(*mut c_void);
// SAFETY: see progress_adapter: the pointer is only handed back to the caller's callback.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
