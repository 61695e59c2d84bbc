//! The one Tokio runtime shared by every call into the library, created on first use.
//!
//! Blocking entry points (the C ABI, [`crate::push_blocking`]) run their work as a task on it
//! and wait with `block_on`, which many threads may do at once. All network I/O therefore
//! happens on the runtime's own threads, where SIGPIPE is blocked: rustls writes with
//! `writev`, which (unlike `send`) cannot suppress SIGPIPE, and a SIGPIPE on a thread the host
//! does not know kills a Go program (and, by default, a C one).

use std::future::Future;
use std::sync::OnceLock;
use tokio::runtime::Runtime;

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("idp-push")
            .on_thread_start(block_sigpipe)
            .build()
            .expect("cannot start the Tokio runtime")
    })
}

fn block_sigpipe() {
    // SAFETY: plain libc calls on a local, initialised signal set; they only change this
    // thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Runs a future as a task on the shared runtime and waits for it from a thread outside the
/// runtime. A panic inside the task is resumed on the calling thread (where the C ABI's guard
/// catches it).
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = runtime().spawn(future);
    match runtime().block_on(task) {
        Ok(output) => output,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the push task was dropped: {e}"),
    }
}
