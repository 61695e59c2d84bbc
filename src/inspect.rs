//! Inspecting a local image without pushing it: what a push of the same source would send
//! under the tag, and what the source calls the image. Bindings use it to name the destination
//! and show the digest, so they never parse layouts or archives themselves.

use crate::error::Result;
use crate::source::{Image, ImageNode, ManifestBlob, Source, SourceInfo, SourceOptions};

/// What [`inspect`] found.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The kind of store, and the names it gives the image.
    pub info: SourceInfo,
    /// The manifest (or index) a push sends under the tag, as it would send it; `None` for a
    /// docker archive whose layers are compressed during the push, whose manifest is made then
    /// (the push's report carries its digest).
    pub manifest: Option<ManifestBlob>,
}

/// Opens `source` as a push of it would (same forms, same checks of every manifest and tar
/// header, `options.platform` and `options.keep_uncompressed` applied) and reports what it
/// holds. Nothing goes over the network.
pub async fn inspect(source: &str, options: &SourceOptions) -> Result<Inspection> {
    let opened = Source::open(source, options).await?;
    let manifest = match opened.image {
        Image::Ready(ImageNode::Manifest { manifest, .. } | ImageNode::Index { manifest, .. }) => {
            Some(manifest)
        }
        Image::Pending(_) => None,
    };
    Ok(Inspection {
        info: opened.info,
        manifest,
    })
}

/// [`inspect`] for callers without a runtime: runs on the library's shared Tokio runtime.
pub fn inspect_blocking(source: &str, options: &SourceOptions) -> Result<Inspection> {
    let (source, options) = (source.to_string(), options.clone());
    crate::runtime::block_on(async move { inspect(&source, &options).await })
}
