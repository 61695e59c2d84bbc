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
    *out = message.map_or(std::ptr::null_mut(), c_string);
}

/// A library-owned, NUL-terminated copy of `s` for C, freed with `idp_string_free` (or by the
/// free function of the struct holding it). Interior NULs, which would cut the text short in C
/// (user input echoed in a message, JSON strings), are written as `\0`.
pub fn c_string(s: &str) -> *mut c_char {
    CString::new(s.replace('\0', "\\0"))
        .map(CString::into_raw)
        .unwrap_or(std::ptr::null_mut())
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
