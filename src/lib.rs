//! idp-push: push local container images to OCI registries, fast and safely.
//!
//! The Rust API is [`push`], [`login`] and [`inspect`] (async, for callers with a Tokio runtime)
//! and their `_blocking` forms, which run on one shared runtime. The C ABI in [`ffi`] is a thin layer
//! over the blocking forms; `include/idp_push.h` is generated from it by cbindgen.

pub mod auth;
mod blobcache;
mod client;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod ffi;
#[doc(hidden)]
pub mod fuzzing;
mod inspect;
mod login;
pub mod progress;
mod push;
pub mod reference;
mod retry;
pub(crate) mod runtime;
pub mod source;
pub mod tls;
mod upload;

pub use auth::{Credentials, Secret};
pub use client::AuthScheme;
pub use credentials::{CredentialSource, SavedTo};
pub use error::{Error, ErrorKind, Result};
pub use inspect::{inspect, inspect_blocking, Inspection};
pub use login::{login, LoginOptions, LoginReport};
pub use progress::{ProgressEvent, ProgressFn, ProgressKind};
pub use push::{push, BlobCacheSetting, PushOptions, PushReport, DEFAULT_CONCURRENCY};
pub use retry::RetryPolicy;
pub use tls::TlsOptions;
pub use tokio_util::sync::CancellationToken;

/// [`push`] for callers without a runtime: runs on the library's shared Tokio runtime.
pub fn push_blocking(source: &str, destination: &str, options: &PushOptions) -> Result<PushReport> {
    let (source, destination, options) =
        (source.to_string(), destination.to_string(), options.clone());
    runtime::block_on(async move { push(&source, &destination, &options).await })
}

/// [`login`] for callers without a runtime: runs on the library's shared Tokio runtime.
pub fn login_blocking(registry: &str, options: &LoginOptions) -> Result<LoginReport> {
    let (registry, options) = (registry.to_string(), options.clone());
    runtime::block_on(async move { login(&registry, &options).await })
}
