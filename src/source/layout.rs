//! OCI image layout directories: `oci-layout`, `index.json` and `blobs/sha256/<hex>`.

use super::manifest::{
    parse_index_json, parse_manifest, Descriptor, ImageNode, ManifestBlob, MediaKind,
    MAX_MANIFEST_SIZE,
};
use crate::digest::Digest;
use crate::error::{io_reason, Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Indexes nest (index -> index -> manifest); deeper than this is a cycle or an attack.
const MAX_NESTING: usize = 8;

pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens a layout, checking `oci-layout` so that a wrong directory fails with a clear message.
    pub async fn open(root: &Path) -> Result<Layout> {
        let shown = root.display();
        match tokio::fs::metadata(root).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid_source(format!(
                    "{shown} is not a directory (an OCI layout is a directory)"
                )))
            }
            Err(e) => {
                return Err(Error::invalid_source(format!(
                    "cannot open OCI layout {shown}: {}",
                    io_reason(&e)
                )))
            }
        }
        let marker = read_small(&root.join("oci-layout"), 64 * 1024)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "{shown} is not an OCI layout: cannot read its oci-layout file: {}",
                    io_reason(&e)
                ))
            })?;
        let version = serde_json::from_slice::<serde_json::Value>(&marker)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_string));
        match version.as_deref() {
            Some(v) if v.starts_with("1.") => {}
            _ => {
                return Err(Error::invalid_source(format!(
                    "{shown}/oci-layout does not declare imageLayoutVersion 1.x"
                )))
            }
        }
        Ok(Layout {
            root: root.to_path_buf(),
        })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        // Digest::parse guarantees 64 hex digits, so this cannot leave the layout.
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// Picks the image named by `tag`, or the only image when no tag is given.
    pub async fn resolve(&self, tag: Option<&str>) -> Result<ImageNode> {
        let shown = self.root.display();
        let index_path = self.root.join("index.json");
        let bytes = read_small(&index_path, MAX_MANIFEST_SIZE)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "cannot read {}: {}",
                    index_path.display(),
                    io_reason(&e)
                ))
            })?;
        let entries = parse_index_json(&bytes, &format!("{shown}/index.json"))?;
        let tags: Vec<&str> = entries.iter().filter_map(|d| d.ref_name()).collect();
        let chosen = match tag {
            Some(t) => entries
                .iter()
                .find(|d| d.ref_name() == Some(t))
                .ok_or_else(|| {
                    Error::invalid_source(format!(
                        "OCI layout {shown} has no image tagged {t:?} (tags: {})",
                        list_or_none(&tags)
                    ))
                })?,
            None => match entries.as_slice() {
                [only] => only,
                [] => {
                    return Err(Error::invalid_source(format!(
                        "OCI layout {shown} holds no image"
                    )))
                }
                _ => {
                    return Err(Error::invalid_source(format!(
                        "OCI layout {shown} holds {} images; choose one with oci:{shown}:TAG (tags: {})",
                        entries.len(),
                        list_or_none(&tags)
                    )))
                }
            },
        };
        self.load_node(chosen, 0).await
    }

    fn load_node<'a>(
        &'a self,
        descriptor: &'a Descriptor,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, Result<ImageNode>> {
        Box::pin(async move {
            if depth > MAX_NESTING {
                return Err(Error::invalid_source(format!(
                    "indexes in {} nest deeper than {MAX_NESTING} levels",
                    self.root.display()
                )));
            }
            let bytes = self.read_manifest(descriptor).await?;
            let what = format!("manifest {}", descriptor.digest);
            let parsed = parse_manifest(&bytes, &descriptor.media_type, &what)?;
            let manifest = ManifestBlob {
                digest: descriptor.digest.clone(),
                media_type: parsed.media_type,
                bytes,
            };
            match parsed.kind {
                MediaKind::Manifest => Ok(ImageNode::Manifest {
                    manifest,
                    blobs: parsed.blobs,
                }),
                MediaKind::Index => {
                    let mut children = Vec::with_capacity(parsed.children.len());
                    for child in &parsed.children {
                        children.push(self.load_node(child, depth + 1).await?);
                    }
                    Ok(ImageNode::Index { manifest, children })
                }
            }
        })
    }

    /// Reads a manifest blob whole (they are small), checking its size and digest.
    async fn read_manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let digest = &descriptor.digest;
        if descriptor.size > MAX_MANIFEST_SIZE {
            return Err(Error::invalid_source(format!(
                "manifest {digest} is {} bytes, over the {} MiB that registries accept",
                descriptor.size,
                MAX_MANIFEST_SIZE / (1024 * 1024)
            )));
        }
        let path = self.blob_path(digest);
        let bytes = read_small(&path, MAX_MANIFEST_SIZE).await.map_err(|e| {
            Error::invalid_source(format!(
                "manifest {digest} is missing from OCI layout {}: {}",
                self.root.display(),
                io_reason(&e)
            ))
        })?;
        if bytes.len() as u64 != descriptor.size {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "manifest {digest} in {} is {} bytes, but its descriptor says {}",
                    self.root.display(),
                    bytes.len(),
                    descriptor.size
                ),
            ));
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "manifest {digest} in {} is corrupted: its content hashes to {actual}",
                    self.root.display()
                ),
            ));
        }
        Ok(bytes)
    }

    pub async fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let path = self.blob_path(&descriptor.digest);
        let meta = tokio::fs::metadata(&path).await.map_err(|e| {
            Error::invalid_source(format!(
                "blob {} is missing from OCI layout {}: {}",
                descriptor.digest,
                self.root.display(),
                io_reason(&e)
            ))
        })?;
        if meta.len() != descriptor.size {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "blob {} in {} is {} bytes, but the manifest says {}",
                    descriptor.digest,
                    self.root.display(),
                    meta.len(),
                    descriptor.size
                ),
            ));
        }
        Ok(())
    }

    pub async fn open_blob(
        &self,
        descriptor: &Descriptor,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
        let path = self.blob_path(&descriptor.digest);
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            Error::invalid_source(format!(
                "cannot open blob {} in {}: {}",
                descriptor.digest,
                self.root.display(),
                io_reason(&e)
            ))
        })?;
        Ok(Box::new(file))
    }
}

fn list_or_none(tags: &[&str]) -> String {
    if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    }
}

/// Reads a file that must be small; refuses to read more than `limit` bytes.
async fn read_small(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).await?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}
