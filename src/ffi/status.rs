//! Result codes of the C ABI. The numbers are part of the ABI: never renumber, only append.

use crate::error::ErrorKind;
use std::ffi::c_char;

/// What an `idp_*` call returned. `IDP_STATUS_OK` (0) is success; everything else is an error
/// whose detailed, one-line message comes back through the call's `error_message` argument.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum idp_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument had a value the library does not accept.
    InvalidArgument = 3,
    /// The destination or registry reference is malformed.
    InvalidReference = 4,
    /// The source image is missing, unreadable or not a valid image.
    InvalidSource = 5,
    /// A blob or manifest does not match its digest or size; nothing was tagged.
    DigestMismatch = 6,
    /// The registry refused the credentials (HTTP 401).
    Unauthorized = 7,
    /// The registry refused the operation for this user (HTTP 403).
    Denied = 8,
    /// TLS failed: unknown authority, name mismatch, expired certificate...
    Tls = 9,
    /// The registry could not be reached, or the connection failed or timed out.
    Network = 10,
    /// The registry answered with an unexpected error.
    Registry = 11,
    /// The operation was cancelled through its `idp_cancel_token`; nothing was tagged.
    Cancelled = 12,
    /// A local I/O error.
    Io = 13,
    /// A panic inside the library was caught; the library stays usable.
    Panic = 14,
    /// An internal error (a bug).
    Internal = 15,
}

impl From<ErrorKind> for idp_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument => idp_status::InvalidArgument,
            ErrorKind::InvalidReference => idp_status::InvalidReference,
            ErrorKind::InvalidSource => idp_status::InvalidSource,
            ErrorKind::DigestMismatch => idp_status::DigestMismatch,
            ErrorKind::Unauthorized => idp_status::Unauthorized,
            ErrorKind::Denied => idp_status::Denied,
            ErrorKind::Tls => idp_status::Tls,
            ErrorKind::Network => idp_status::Network,
            ErrorKind::Registry => idp_status::Registry,
            ErrorKind::Cancelled => idp_status::Cancelled,
            ErrorKind::Io => idp_status::Io,
            ErrorKind::Internal => idp_status::Internal,
        }
    }
}

/// A static, generic description of a status code (for example "unauthorized").
///
/// `status` is a plain number so that any value is safe to pass; unknown numbers give
/// "unknown status". The returned string is static: never free it.
#[no_mangle]
pub extern "C" fn idp_status_message(status: u32) -> *const c_char {
    let text: &'static [u8] = match status {
        0 => b"ok\0",
        1 => b"a required argument was NULL\0",
        2 => b"a string argument was not valid UTF-8\0",
        3 => b"invalid argument\0",
        4 => b"invalid image reference\0",
        5 => b"invalid or unreadable source image\0",
        6 => b"content does not match its digest\0",
        7 => b"unauthorized\0",
        8 => b"denied\0",
        9 => b"TLS error\0",
        10 => b"network error\0",
        11 => b"registry error\0",
        12 => b"cancelled\0",
        13 => b"I/O error\0",
        14 => b"internal panic\0",
        15 => b"internal error\0",
        _ => b"unknown status\0",
    };
    text.as_ptr().cast()
}
