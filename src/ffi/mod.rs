//! The C ABI: a thin, defensive layer over [`crate::push_blocking`], [`crate::login_blocking`]
//! and [`crate::inspect_blocking`].
//!
//! Rules every function here follows:
//! - Its body runs inside [`guard`], so a panic becomes `IDP_STATUS_PANIC` and never unwinds
//!   into C.
//! - Every pointer is checked for NULL and every string for UTF-8 before use; a bad one gives
//!   `IDP_STATUS_NULL_PARAMETER` or `IDP_STATUS_INVALID_UTF8` with a message naming the argument.
//! - Output parameters are written only as documented (results only on success).
//! - Anything the library allocates for the caller is freed with the matching `idp_*_free`.
//! - All functions may be called from many threads at once; they share one Tokio runtime.
//!
//! Names are unique across these modules because cbindgen does not see module paths.

mod cancel;
mod guard;
mod inspect;
mod options;
mod push;
mod status;
mod strings;

pub use cancel::{
    idp_cancel_token, idp_cancel_token_cancel, idp_cancel_token_free, idp_cancel_token_new,
};
pub use inspect::{idp_image_info, idp_image_info_clear, idp_inspect, idp_source_kind};
pub use options::{idp_options, idp_options_init, idp_progress_callback};
pub use push::{
    idp_auth_scheme, idp_credential_source, idp_login, idp_login_result, idp_progress_event,
    idp_progress_kind, idp_push, idp_push_result, IDP_DESCRIPTION_CAPACITY, IDP_DIGEST_CAPACITY,
};
pub use status::{idp_status, idp_status_message};
pub use strings::{idp_string_free, idp_version};
