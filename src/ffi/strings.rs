//! Strings the library hands to C, and the version string.

use std::ffi::{c_char, CString};

/// Stores a newly allocated copy of `message` (or NULL) into `*out`, when `out` is not NULL.
///
/// # Safety
/// `out` must be NULL or valid for writing one pointer.
pub unsafe fn set_message(out: *mut *mut c_char, message: Option<&str>) {
    if out.is_null() {
        return;
    }
    *out = match message {
        // Interior NULs would truncate the message in C; they cannot come from our messages,
        // but user input echoed in one could hold them.
        Some(m) => CString::new(m.replace('\0', "\\0"))
            .map(CString::into_raw)
            .unwrap_or(std::ptr::null_mut()),
        None => std::ptr::null_mut(),
    };
}

/// Frees a string the library returned (an `error_message`). NULL is accepted and ignored.
/// Must not be called twice on the same string, nor on strings from elsewhere.
///
/// # Safety
/// `s` must be NULL or a string returned by this library and not yet freed.
#[no_mangle]
pub unsafe extern "C" fn idp_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // Dropping cannot panic, but keep the ABI rule: nothing unwinds into C.
    let _ = std::panic::catch_unwind(|| drop(CString::from_raw(s)));
}

/// The library version (`MAJOR.MINOR.PATCH`, as in Cargo.toml). Static: never free it.
#[no_mangle]
pub extern "C" fn idp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
