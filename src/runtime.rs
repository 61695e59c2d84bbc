//! The one Tokio runtime shared by every call into the library, created on first use.
//!
//! Blocking entry points (the C ABI, [`crate::push_blocking`]) run their future on it with
//! `block_on`, which many threads may do at once.

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("idp-push")
            .build()
            .expect("cannot start the Tokio runtime")
    })
}

/// Runs a future to completion on the shared runtime from a thread outside it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}
