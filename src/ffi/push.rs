//! `idp_push` and `idp_login`, their result structs and progress events.

use super::guard::{guard, required_str, FfiError};
use super::options::{idp_options, read_options, Settings};
use super::status::idp_status;
use crate::client::AuthScheme;
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
    /// Blob bytes sent.
    pub bytes_sent: u64,
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

/// What `idp_login` found. Allocate it yourself with `struct_size = sizeof(idp_login_result)`;
/// it is written only on success.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_login_result {
    /// `sizeof(idp_login_result)` as the caller compiled it.
    pub struct_size: usize,
    /// How the registry authenticated us.
    pub scheme: idp_auth_scheme,
}

/// Pushes `source` (`oci:DIR[:TAG]` or a directory holding an OCI layout) to `destination`
/// (`host[:port]/path[:tag]`).
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
        let destination = required_str(destination, "destination")?;
        check_result_size(
            result,
            "result",
            offset_of!(idp_push_result, bytes_sent) + 8,
        )?;
        let settings = read_options(options)?;
        let push_options = PushOptions {
            progress: progress_adapter(&settings),
            credentials: settings.credentials,
            tls: settings.tls,
            concurrency: settings.concurrency,
            cancel: settings.cancel,
        };
        let report = crate::push_blocking(source, destination, &push_options)?;
        if !result.is_null() {
            let mut digest = [0 as c_char; IDP_DIGEST_CAPACITY];
            for (slot, byte) in digest
                .iter_mut()
                .zip(report.digest.as_str().bytes().take(IDP_DIGEST_CAPACITY - 1))
            {
                *slot = byte as c_char;
            }
            let out = &mut *result;
            out.digest = digest;
            out.blobs_uploaded = report.blobs_uploaded;
            out.blobs_present = report.blobs_present;
            out.bytes_sent = report.bytes_sent;
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
        let future = crate::login(registry, settings.credentials.as_ref(), &settings.tls);
        let report = match settings.cancel {
            Some(token) => crate::runtime::block_on(async {
                tokio::select! {
                    _ = token.cancelled() => Err(crate::Error::new(crate::ErrorKind::Cancelled, "login cancelled")),
                    r = future => r,
                }
            }),
            None => crate::runtime::block_on(future),
        }?;
        if !result.is_null() {
            (*result).scheme = match report.scheme {
                AuthScheme::None => idp_auth_scheme::None,
                AuthScheme::Basic => idp_auth_scheme::Basic,
                AuthScheme::Bearer => idp_auth_scheme::Bearer,
            };
        }
        Ok(())
    })
}

/// A result struct must be at least as large as the fields this version writes.
///
/// # Safety
/// `result` must be NULL or point to a struct whose first field is `struct_size`.
unsafe fn check_result_size<T>(result: *mut T, name: &str, needed: usize) -> Result<(), FfiError> {
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
