//! Entry points for the fuzz targets (`fuzz/`) and for their replay in `cargo test`
//! (`tests/reliability_fuzz.rs`): thin wrappers over parsers that are private to the crate.
//! Not part of the API; it may change at any time.

use crate::auth::Credentials;
use crate::credentials::{config, helper};
use crate::error::Result;
use crate::source::manifest;

/// `index.json` of an OCI layout: the number of descriptors it lists.
pub fn index_json(bytes: &[u8]) -> Result<usize> {
    manifest::parse_index_json(bytes, "index.json").map(|d| d.len())
}

/// A manifest or index, with the media type its descriptor declared: whether it is an index,
/// and how many blobs and children it references.
pub fn manifest(bytes: &[u8], declared: &str) -> Result<(bool, usize, usize)> {
    manifest::parse_manifest(bytes, declared, "manifest").map(|m| {
        (
            m.kind == manifest::MediaKind::Index,
            m.blobs.len(),
            m.children.len(),
        )
    })
}

/// A docker `config.json` / containers `auth.json`, then the lookups a push makes in it for
/// `registry`: the `auths` entry and its credentials, the credential helper, the store.
pub fn docker_config(
    bytes: &[u8],
    registry: &str,
) -> std::result::Result<Option<Credentials>, String> {
    let file = config::AuthConfigFile::parse(bytes)?;
    let registry = config::canonical_registry(registry);
    let _ = file.cred_helper(&registry);
    let _ = file.creds_store();
    let _ = format!("{file:?}");
    match file.auth_entry(&registry) {
        Some((_, entry)) => entry.credentials(),
        None => Ok(None),
    }
}

/// What a credential helper's `get` printed: the credentials, `None` for "not found".
pub fn helper_output(bytes: &[u8]) -> std::result::Result<Option<Credentials>, &'static str> {
    helper::parse_get_output(bytes).map(|l| match l {
        helper::Lookup::Found(c) => Some(c),
        helper::Lookup::NotFound => None,
    })
}
