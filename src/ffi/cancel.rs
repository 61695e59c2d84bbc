//! Cancellation tokens: created and freed by the caller, fired from any thread.

use std::panic::catch_unwind;
use tokio_util::sync::CancellationToken;

/// An opaque cancellation token. Create with `idp_cancel_token_new`, pass in
/// `idp_options.cancel`, fire with `idp_cancel_token_cancel` (from any thread, any number of
/// times), free with `idp_cancel_token_free` once no call uses it any more.
#[allow(non_camel_case_types)]
pub struct idp_cancel_token {
    pub(crate) token: CancellationToken,
}

/// A new, unfired token; NULL only if allocation failed. Free it with `idp_cancel_token_free`.
#[no_mangle]
pub extern "C" fn idp_cancel_token_new() -> *mut idp_cancel_token {
    catch_unwind(|| {
        Box::into_raw(Box::new(idp_cancel_token {
            token: CancellationToken::new(),
        }))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Fires the token: every call using it stops as soon as it can and returns
/// `IDP_STATUS_CANCELLED`. Safe from any thread, at any time, more than once. NULL is ignored.
///
/// # Safety
/// `token` must be NULL or a live token from `idp_cancel_token_new`.
#[no_mangle]
pub unsafe extern "C" fn idp_cancel_token_cancel(token: *const idp_cancel_token) {
    if let Some(t) = token.as_ref() {
        let _ = catch_unwind(|| t.token.cancel());
    }
}

/// Frees a token. NULL is ignored. Must not be called twice, nor while a call that was given
/// the token is still running.
///
/// # Safety
/// `token` must be NULL or a token from `idp_cancel_token_new` that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn idp_cancel_token_free(token: *mut idp_cancel_token) {
    if !token.is_null() {
        let _ = catch_unwind(|| drop(Box::from_raw(token)));
    }
}
