//! `idp_inspect`: what a push of a source would send under the tag, and what the source calls
//! the image, without pushing. The result holds memory the library allocated, released with
//! `idp_image_info_clear`.

use super::guard::{guard, required_str, FfiError};
use super::options::{idp_options, read_options};
use super::push::{c_text, check_result_size, IDP_DIGEST_CAPACITY};
use super::status::idp_status;
use super::strings::c_string;
use crate::source::{SourceKind, SourceOptions};
use std::ffi::{c_char, CString};
use std::mem::{offset_of, size_of};

/// Which kind of image store a source turned out to be.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum idp_source_kind {
    /// An OCI layout directory.
    Layout = 0,
    /// A tar of an OCI layout.
    OciArchive = 1,
    /// A docker archive (`docker save`, `podman save`), classic or docker 25+.
    DockerArchive = 2,
}

/// What `idp_inspect` found. Allocate it yourself, set `struct_size = sizeof(idp_image_info)`,
/// and pass its address; it is written only on success. The pointers in it then belong to the
/// library: release them with `idp_image_info_clear` (not `free`, not `idp_string_free`), which
/// sets them to NULL, so clearing twice is harmless. Clear a filled struct before passing it
/// to `idp_inspect` again, or its memory is lost.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct idp_image_info {
    /// `sizeof(idp_image_info)` as the caller compiled it.
    pub struct_size: usize,
    /// The kind of store the source is.
    pub kind: idp_source_kind,
    /// Digest of the manifest (or index) a push sends under the tag, NUL-terminated:
    /// `sha256:<64 hex>`. Empty for a docker archive whose layers are compressed during the
    /// push: its manifest is made then, and `idp_push_result.digest` gives it.
    pub digest: [c_char; IDP_DIGEST_CAPACITY],
    /// The manifest's media type, NUL-terminated; NULL when `digest` is empty.
    pub media_type: *mut c_char,
    /// The manifest as a push sends it: `manifest_len` bytes of JSON, not NUL-terminated; NULL
    /// when `digest` is empty.
    pub manifest: *mut u8,
    /// Length of `manifest` in bytes.
    pub manifest_len: usize,
    /// OCI layouts and OCI archives: the chosen image's `org.opencontainers.image.ref.name`,
    /// NUL-terminated; NULL when it has none.
    pub ref_name: *mut c_char,
    /// Docker archives: the `NAME[:TAG]` asked for, else the image's only RepoTag, in docker's
    /// short form (`app:v1`), NUL-terminated; NULL when there is none.
    pub repo_tag: *mut c_char,
}

/// Opens `source` as `idp_push` would (the same forms, and the same checks of every manifest
/// and tar header) and reports what a push of it would send, without any network access.
/// Of `options` (NULL for defaults) only `platform` and `keep_uncompressed` apply; the others
/// are checked as `idp_push` checks them, but not used.
///
/// - `info`: must not be NULL; written only on success; release with `idp_image_info_clear`.
/// - `error_message`: as for `idp_push`.
///
/// Thread-safe.
///
/// # Safety
/// Pointers must be NULL or valid as described; strings NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn idp_inspect(
    source: *const c_char,
    options: *const idp_options,
    info: *mut idp_image_info,
    error_message: *mut *mut c_char,
) -> idp_status {
    guard(error_message, || {
        let source = required_str(source, "source")?;
        if info.is_null() {
            return Err(FfiError::new(idp_status::NullParameter, "info is NULL"));
        }
        check_result_size(info, "info", FIRST_VERSION_SIZE)?;
        let settings = read_options(options)?;
        let inspection = crate::inspect_blocking(
            source,
            &SourceOptions {
                platform: settings.platform,
                keep_uncompressed: settings.keep_uncompressed,
            },
        )?;
        let name = |n: Option<String>| n.as_deref().map_or(std::ptr::null_mut(), c_string);
        // Field by field through the raw pointer, as idp_push writes its result: a caller
        // compiled against an older header has a smaller struct, so no reference to the whole
        // struct may be formed. Fields appended later are written only when has_room says so.
        (*info).kind = inspection.info.kind.into();
        (*info).ref_name = name(inspection.info.ref_name);
        (*info).repo_tag = name(inspection.info.repo_tag);
        match inspection.manifest {
            Some(m) => {
                let bytes = Box::into_raw(m.bytes.into_boxed_slice());
                (*info).digest = c_text(m.digest.as_str());
                (*info).media_type = c_string(&m.media_type);
                (*info).manifest = bytes.cast::<u8>();
                (*info).manifest_len = bytes.len();
            }
            None => {
                (*info).digest = c_text("");
                (*info).media_type = std::ptr::null_mut();
                (*info).manifest = std::ptr::null_mut();
                (*info).manifest_len = 0;
            }
        }
        Ok(())
    })
}

/// The end of the last field of the first version of `idp_image_info`: what `idp_inspect`
/// needs of a caller's struct, and what `idp_image_info_clear` frees.
const FIRST_VERSION_SIZE: usize = offset_of!(idp_image_info, repo_tag) + size_of::<*mut c_char>();

/// Releases what `idp_inspect` allocated in `info` and sets those pointers to NULL (and
/// `manifest_len` to 0, `digest` to ""). NULL, and a struct already cleared or never filled
/// (zeroed), are accepted.
///
/// # Safety
/// `info` must be NULL or point to an `idp_image_info` that is zeroed, cleared, or filled by
/// `idp_inspect`.
#[no_mangle]
pub unsafe extern "C" fn idp_image_info_clear(info: *mut idp_image_info) {
    // A struct smaller than the first version was never filled by idp_inspect.
    if info.is_null() || (*info).struct_size < FIRST_VERSION_SIZE {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        for field in [
            std::ptr::addr_of_mut!((*info).media_type),
            std::ptr::addr_of_mut!((*info).ref_name),
            std::ptr::addr_of_mut!((*info).repo_tag),
        ] {
            if !(*field).is_null() {
                drop(CString::from_raw(*field));
                *field = std::ptr::null_mut();
            }
        }
        if !(*info).manifest.is_null() {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                (*info).manifest,
                (*info).manifest_len,
            )));
        }
        (*info).manifest = std::ptr::null_mut();
        (*info).manifest_len = 0;
        (*info).digest = [0; IDP_DIGEST_CAPACITY];
    });
}

impl From<SourceKind> for idp_source_kind {
    fn from(kind: SourceKind) -> Self {
        match kind {
            SourceKind::Layout => idp_source_kind::Layout,
            SourceKind::OciArchive => idp_source_kind::OciArchive,
            SourceKind::DockerArchive => idp_source_kind::DockerArchive,
        }
    }
}
