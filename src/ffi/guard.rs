//! Panic containment and argument checking shared by every exported function.

use super::status::idp_status;
use super::strings::set_message;
use crate::error::Error;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failure inside an FFI body: a status and the one-line message for the caller.
pub struct FfiError {
    pub status: idp_status,
    pub message: String,
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError {
            status: e.kind().into(),
            message: e.message().to_string(),
        }
    }
}

impl FfiError {
    pub fn new(status: idp_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
        }
    }
}

/// Runs an FFI body: catches panics, turns errors into a status, and hands the message to the
/// caller through `error_message` (when that is not NULL; it is set to NULL on success).
///
/// # Safety
/// `error_message` must be NULL or point to writable storage for one pointer.
pub unsafe fn guard(
    error_message: *mut *mut c_char,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> idp_status {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(FfiError::new(
            idp_status::Panic,
            format!("internal panic in idp_push (please report): {what}"),
        ))
    });
    match outcome {
        Ok(()) => {
            set_message(error_message, None);
            idp_status::Ok
        }
        Err(e) => {
            set_message(error_message, Some(&e.message));
            e.status
        }
    }
}

/// A required string argument: NULL and invalid UTF-8 are errors naming the argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives the returned slice.
pub unsafe fn required_str<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::new(
            idp_status::NullParameter,
            format!("{name} is NULL"),
        ));
    }
    CStr::from_ptr(ptr).to_str().map_err(|_| {
        FfiError::new(
            idp_status::InvalidUtf8,
            format!("{name} is not valid UTF-8"),
        )
    })
}

/// An optional string argument: NULL and "" both mean "not given".
///
/// # Safety
/// As [`required_str`].
pub unsafe fn optional_str<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    let s = required_str(ptr, name)?;
    Ok((!s.is_empty()).then_some(s))
}
