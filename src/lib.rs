//! idp-push: push local container images to OCI registries, fast and safely.
//!
//! The Rust API is [`push`] and [`login`] (async, for callers with a Tokio runtime) and their
//! `_blocking` forms, which run on one shared runtime. The C ABI in [`ffi`] is a thin layer
//! over the blocking forms; `include/idp_push.h` is generated from it by cbindgen.

pub mod auth;
mod client;
pub mod digest;
pub mod error;
pub mod ffi;
pub mod progress;
mod push;
pub mod reference;
pub(crate) mod runtime;
pub mod source;
pub mod tls;
mod upload;

pub use auth::{Credentials, Secret};
pub use client::AuthScheme;
pub use error::{Error, ErrorKind, Result};
pub use progress::{ProgressEvent, ProgressFn, ProgressKind};
pub use push::{login, push, LoginReport, PushOptions, PushReport, DEFAULT_CONCURRENCY};
pub use tls::TlsOptions;
pub use tokio_util::sync::CancellationToken;

/// [`push`] for callers without a runtime: runs on the library's shared Tokio runtime.
pub fn push_blocking(source: &str, destination: &str, options: &PushOptions) -> Result<PushReport> {
    runtime::block_on(push(source, destination, options))
}

/// [`login`] for callers without a runtime: runs on the library's shared Tokio runtime.
pub fn login_blocking(
    registry: &str,
    credentials: Option<&Credentials>,
    tls: &TlsOptions,
) -> Result<LoginReport> {
    runtime::block_on(login(registry, credentials, tls))
}
