//! `idp_options`: the settings of a push or login, as a plain C struct that can grow.
//!
//! Growth works by size: callers fill the struct with `idp_options_init`, which records
//! `sizeof(idp_options)` of the header they compiled against in `struct_size`. A newer library
//! reads only that many bytes and treats the fields it did not get as zero (their defaults), so
//! old callers keep working when fields are appended. Fields are only ever appended.

use super::cancel::idp_cancel_token;
use super::guard::{optional_str, FfiError};
use super::push::idp_progress_event;
use super::status::idp_status;
use crate::auth::Credentials;
use crate::tls::TlsOptions;
use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

/// Called with each progress event of a push. `userdata` is `idp_options.progress_userdata`;
/// `event` and its strings are valid only during the call. Called on library threads, never
/// twice at the same time for one push; it must return quickly and must not call `idp_push`.
#[allow(non_camel_case_types)]
pub type idp_progress_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const idp_progress_event)>;

/// Settings for `idp_push` and `idp_login`. Initialise with `idp_options_init`, then set the
/// fields you need. Strings are borrowed for the duration of the call only; NULL or "" means
/// "not set". The library never frees or keeps anything you put here.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_options {
    /// `sizeof(idp_options)` as the caller compiled it; set by `idp_options_init`.
    pub struct_size: usize,
    /// User name for the registry. NULL: look credentials up as docker does (docker config,
    /// credential helpers, containers auth file), else anonymous.
    pub username: *const c_char,
    /// Password or access token for `username`. Never logged or put in error messages.
    pub password: *const c_char,
    /// PEM file with CA certificates to trust besides the system roots.
    pub ca_file: *const c_char,
    /// Skip TLS certificate verification (self-signed registries).
    pub insecure: bool,
    /// Use plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Blobs uploaded at once; 0 for the library's default.
    pub concurrency: u32,
    /// Progress callback (push only); NULL for none.
    pub progress: idp_progress_callback,
    /// Passed unchanged as the first argument of `progress`.
    pub progress_userdata: *mut c_void,
    /// Token that cancels the call when fired; NULL for none. Must stay valid until the call
    /// returns.
    pub cancel: *const idp_cancel_token,
    /// Send blobs larger than this in chunks of this many bytes; 0 sends whole blobs and
    /// switches to chunks by itself when the registry or a proxy answers 413.
    pub chunk_size: u64,
    /// An identity token (OAuth2 refresh token, docker's `identitytoken`) instead of a
    /// password; `username` may then be NULL. Never logged or put in error messages.
    pub identity_token: *const c_char,
    /// `idp_login` only: store the verified credentials as `docker login` does.
    pub save_credentials: bool,
    /// `os/arch[/variant]`: push only that platform's image of a multi-platform source (and
    /// check a single image is that platform); NULL for everything the source holds.
    pub platform: *const c_char,
    /// docker-archive sources: push layers as stored instead of gzip-compressing them.
    pub keep_uncompressed: bool,
    /// How long a connection may stay silent (and the longest wait to connect) before the
    /// request fails as a timeout, in milliseconds, for push and login; 0 for the defaults
    /// (120 s, 15 s).
    pub timeout_ms: u32,
}

/// Fills `options` with the defaults of this library version and sets `struct_size`.
/// NULL is ignored.
///
/// It writes `sizeof(idp_options)` of this header, so call it only with the header the library
/// came with. Every default is zero, so a program that must keep working with a newer library
/// than its header can instead write `idp_options o = {sizeof o};` (zeroes the rest).
///
/// # Safety
/// `options` must be NULL or point to writable memory of `sizeof(idp_options)` bytes.
#[no_mangle]
pub unsafe extern "C" fn idp_options_init(options: *mut idp_options) {
    if options.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        let mut defaults = zeroed_options();
        defaults.struct_size = size_of::<idp_options>();
        options.write(defaults);
    });
}

fn zeroed_options() -> idp_options {
    // SAFETY: every field is a raw pointer, integer, bool or Option<fn>, for all of which the
    // all-zero bit pattern is valid (NULL, 0, false, None).
    unsafe { std::mem::zeroed() }
}

/// The options in Rust form.
pub struct Settings {
    pub credentials: Option<Credentials>,
    pub tls: TlsOptions,
    pub concurrency: usize,
    pub progress: idp_progress_callback,
    pub progress_userdata: *mut c_void,
    pub cancel: Option<tokio_util::sync::CancellationToken>,
    pub chunk_size: u64,
    pub save_credentials: bool,
    pub platform: Option<String>,
    pub keep_uncompressed: bool,
    pub timeout: Option<std::time::Duration>,
}

/// Reads caller options (NULL means all defaults), honouring `struct_size`.
///
/// # Safety
/// `options` must be NULL or point to an `idp_options` whose first `struct_size` bytes are
/// initialised, with valid strings and token pointers.
pub unsafe fn read_options(options: *const idp_options) -> Result<Settings, FfiError> {
    let mut copy = zeroed_options();
    if !options.is_null() {
        let size = (*options).struct_size;
        let minimum = offset_of!(idp_options, username);
        if size < minimum {
            return Err(FfiError::new(
                idp_status::InvalidArgument,
                "options.struct_size is not set: initialise options with idp_options_init",
            ));
        }
        let n = size.min(size_of::<idp_options>());
        std::ptr::copy_nonoverlapping(
            options.cast::<u8>(),
            (&mut copy as *mut idp_options).cast::<u8>(),
            n,
        );
    }
    let username = optional_str(copy.username, "options.username")?;
    let password = optional_str(copy.password, "options.password")?;
    let identity_token = optional_str(copy.identity_token, "options.identity_token")?;
    let credentials = match (username, password, identity_token) {
        (_, Some(_), Some(_)) => {
            return Err(FfiError::new(
                idp_status::InvalidArgument,
                "options.password and options.identity_token are both set; give one",
            ))
        }
        (u, None, Some(token)) => Some(Credentials::with_identity_token(u.unwrap_or(""), token)),
        (Some(u), p, None) => Some(Credentials::new(u, p.unwrap_or(""))),
        (None, Some(_), None) => {
            return Err(FfiError::new(
                idp_status::InvalidArgument,
                "options.password is set but options.username is not",
            ))
        }
        (None, None, None) => None,
    };
    let ca_file = optional_str(copy.ca_file, "options.ca_file")?.map(Into::into);
    let cancel = copy.cancel.as_ref().map(|t| t.token.clone());
    Ok(Settings {
        credentials,
        tls: TlsOptions {
            ca_file,
            insecure: copy.insecure,
            plain_http: copy.plain_http,
        },
        concurrency: copy.concurrency as usize,
        progress: copy.progress,
        progress_userdata: copy.progress_userdata,
        cancel,
        chunk_size: copy.chunk_size,
        save_credentials: copy.save_credentials,
        platform: optional_str(copy.platform, "options.platform")?.map(str::to_string),
        keep_uncompressed: copy.keep_uncompressed,
        timeout: (copy.timeout_ms > 0)
            .then(|| std::time::Duration::from_millis(u64::from(copy.timeout_ms))),
    })
}
