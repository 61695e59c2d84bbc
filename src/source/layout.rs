//! OCI image layouts: `oci-layout`, `index.json` and `blobs/sha256/<hex>` — in a directory, or
//! inside a tar archive read in place (an oci-archive, or the layout docker 25+ puts in
//! `docker save` output). [`Files`] is where a layout's files come from; everything else (tag
//! selection, manifest verification, nested indexes) is shared.

use super::manifest::{
    parse_index_json, parse_manifest, Descriptor, ImageNode, ManifestBlob, MediaKind,
    MAX_MANIFEST_SIZE,
};
use super::tarindex::TarIndex;
use crate::digest::Digest;
use crate::error::{io_reason, Error, ErrorKind, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

/// Indexes nest (index -> index -> manifest); deeper than this is a cycle or an attack.
const MAX_NESTING: usize = 8;

/// Where a layout's files come from.
#[derive(Debug, Clone)]
pub enum Files {
    /// A directory.
    Dir(PathBuf),
    /// A tar archive, indexed; `kind` names it in messages ("OCI archive", "docker archive").
    Tar {
        index: Arc<TarIndex>,
        kind: &'static str,
    },
}

fn missing_entry() -> std::io::Error {
    std::io::Error::other("no such entry in the archive")
}

impl Files {
    /// "OCI layout DIR" or "OCI archive FILE", for messages.
    pub fn describe(&self) -> String {
        match self {
            Files::Dir(d) => format!("OCI layout {}", d.display()),
            Files::Tar { index, kind } => format!("{kind} {}", index.path().display()),
        }
    }

    /// The directory or archive path, as shown.
    fn shown(&self) -> String {
        match self {
            Files::Dir(d) => d.display().to_string(),
            Files::Tar { index, .. } => index.path().display().to_string(),
        }
    }

    /// The source syntax that names an image in it, for hints.
    fn syntax(&self) -> &'static str {
        match self {
            Files::Dir(_) => "oci:",
            Files::Tar { kind, .. } if kind.starts_with("docker") => "docker-archive:",
            Files::Tar { .. } => "oci-archive:",
        }
    }

    fn entry(index: &TarIndex, rel: &str) -> std::io::Result<super::tarindex::TarEntry> {
        index
            .lookup(rel)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?
            .ok_or_else(missing_entry)
    }

    /// Reads a file that must be small; refuses to read more than `limit` bytes.
    pub async fn read_small(&self, rel: &str, limit: u64) -> std::io::Result<Vec<u8>> {
        match self {
            Files::Dir(root) => read_small(&root.join(rel), limit).await,
            Files::Tar { index, .. } => {
                let entry = Self::entry(index, rel)?;
                index.read_small(&entry, limit).await
            }
        }
    }

    /// The size of a regular file.
    pub async fn size(&self, rel: &str) -> std::io::Result<u64> {
        match self {
            Files::Dir(root) => {
                let meta = tokio::fs::metadata(root.join(rel)).await?;
                if !meta.is_file() {
                    return Err(not_regular());
                }
                Ok(meta.len())
            }
            Files::Tar { index, .. } => Ok(Self::entry(index, rel)?.size),
        }
    }

    /// A file's bytes from `offset` to its end.
    pub async fn open_at(
        &self,
        rel: &str,
        offset: u64,
    ) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
        match self {
            Files::Dir(root) => {
                let mut file = open_regular(&root.join(rel)).await?;
                if offset > 0 {
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                }
                Ok(Box::new(file))
            }
            Files::Tar { index, .. } => {
                let entry = Self::entry(index, rel)?;
                index.open_at(&entry, offset).await
            }
        }
    }
}

pub struct Layout {
    files: Files,
}

impl Layout {
    /// Opens a layout directory, checking `oci-layout` so that a wrong directory fails with a
    /// clear message.
    pub async fn open(root: &Path) -> Result<Layout> {
        let shown = root.display();
        match tokio::fs::metadata(root).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid_source(format!(
                    "{shown} is not a directory (an OCI layout is a directory; for a tar of one \
                     write oci-archive:{shown})"
                )))
            }
            Err(e) => {
                return Err(Error::invalid_source(format!(
                    "cannot open OCI layout {shown}: {}",
                    io_reason(&e)
                )))
            }
        }
        Self::with_files(Files::Dir(root.to_path_buf())).await
    }

    /// A layout over files from anywhere, checked by its `oci-layout` file.
    pub async fn with_files(files: Files) -> Result<Layout> {
        let marker = files
            .read_small("oci-layout", 64 * 1024)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "{} is not an OCI layout: cannot read its oci-layout file: {}",
                    files.shown(),
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
                    "{}/oci-layout does not declare imageLayoutVersion 1.x",
                    files.shown()
                )))
            }
        }
        Ok(Layout { files })
    }

    pub fn describe(&self) -> String {
        self.files.describe()
    }

    fn blob_path(digest: &Digest) -> String {
        // Digest::parse guarantees 64 hex digits, so this cannot leave the layout.
        format!("blobs/sha256/{}", digest.hex())
    }

    /// The descriptors of `index.json`.
    pub async fn entries(&self) -> Result<Vec<Descriptor>> {
        let bytes = self
            .files
            .read_small("index.json", MAX_MANIFEST_SIZE)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "cannot read {}/index.json: {}",
                    self.files.shown(),
                    io_reason(&e)
                ))
            })?;
        parse_index_json(&bytes, &format!("{}/index.json", self.files.shown()))
    }

    /// Picks the image named by `tag`, or the only image when no tag is given; with the ref
    /// name (`org.opencontainers.image.ref.name`) its `index.json` entry carries.
    pub async fn resolve(&self, tag: Option<&str>) -> Result<(ImageNode, Option<String>)> {
        let shown = self.files.shown();
        let what = self.files.describe();
        let entries = self.entries().await?;
        let tags: Vec<&str> = entries.iter().filter_map(|d| d.ref_name()).collect();
        let chosen = match tag {
            Some(t) => entries
                .iter()
                .find(|d| d.ref_name() == Some(t))
                .ok_or_else(|| {
                    Error::invalid_source(format!(
                        "{what} has no image tagged {t:?} (tags: {})",
                        list_or_none(&tags)
                    ))
                })?,
            None => match entries.as_slice() {
                [only] => only,
                [] => return Err(Error::invalid_source(format!("{what} holds no image"))),
                _ => {
                    return Err(Error::invalid_source(format!(
                        "{what} holds {} images; choose one with {}{shown}:TAG (tags: {})",
                        entries.len(),
                        self.files.syntax(),
                        list_or_none(&tags)
                    )))
                }
            },
        };
        let node = self.load(chosen).await?;
        Ok((node, chosen.ref_name().map(str::to_string)))
    }

    /// Reads and verifies the manifest (or index, with everything below it) a descriptor names.
    pub async fn load(&self, descriptor: &Descriptor) -> Result<ImageNode> {
        self.load_node(descriptor, 0).await
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
                    self.files.describe()
                )));
            }
            let bytes = self.read_manifest(descriptor).await?;
            let what = format!("manifest {}", descriptor.digest);
            let parsed = parse_manifest(&bytes, &descriptor.media_type, &what)?;
            let manifest = ManifestBlob {
                digest: descriptor.digest.clone(),
                media_type: parsed.media_type,
                bytes,
                platform: descriptor.platform.clone(),
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
        self.read_blob(descriptor, "manifest", MAX_MANIFEST_SIZE)
            .await
    }

    /// Reads a small blob whole (a manifest, a config), checking its size and digest.
    pub async fn read_blob(
        &self,
        descriptor: &Descriptor,
        what: &str,
        limit: u64,
    ) -> Result<Vec<u8>> {
        let digest = &descriptor.digest;
        let bytes = self
            .files
            .read_small(&Self::blob_path(digest), limit)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "{what} {digest} is missing from {}: {}",
                    self.files.describe(),
                    io_reason(&e)
                ))
            })?;
        if bytes.len() as u64 != descriptor.size {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "{what} {digest} in {} is {} bytes, but its descriptor says {}",
                    self.files.shown(),
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
                    "{what} {digest} in {} is corrupted: its content hashes to {actual}",
                    self.files.shown()
                ),
            ));
        }
        Ok(bytes)
    }

    pub async fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let size = self
            .files
            .size(&Self::blob_path(&descriptor.digest))
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "blob {} is missing from {}: {}",
                    descriptor.digest,
                    self.files.describe(),
                    io_reason(&e)
                ))
            })?;
        if size != descriptor.size {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "blob {} in {} is {size} bytes, but the manifest says {}",
                    descriptor.digest,
                    self.files.shown(),
                    descriptor.size
                ),
            ));
        }
        Ok(())
    }

    /// Opens a blob positioned at `offset` (a resumed upload starts mid-blob).
    pub async fn open_blob(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
        self.files
            .open_at(&Self::blob_path(&descriptor.digest), offset)
            .await
            .map_err(|e| {
                Error::invalid_source(format!(
                    "cannot read blob {} in {}: {}",
                    descriptor.digest,
                    self.files.shown(),
                    io_reason(&e)
                ))
            })
    }
}

pub(crate) fn list_or_none(tags: &[&str]) -> String {
    if tags.is_empty() {
        "none".to_string()
    } else {
        tags.join(", ")
    }
}

fn not_regular() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "it is not a regular file")
}

/// Opens a file of a layout, refusing anything but a regular file: opening a FIFO would wait
/// for a writer forever (hence O_NONBLOCK, which changes nothing for regular files), and a
/// device could be read without end.
async fn open_regular(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let file = options.open(path).await?;
    if !file.metadata().await?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

/// Reads a file that must be small; refuses to read more than `limit` bytes.
async fn read_small(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path).await?;
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
