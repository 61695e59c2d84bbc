//! The parts of manifests and indexes that a push needs: descriptors.
//!
//! Manifests are pushed byte for byte, so we never re-serialize them; we only read the
//! descriptors they reference. That is why a few serde structs are enough here (and why they
//! accept Docker media types as well as OCI ones, which stricter typed crates reject).

use super::platform::Platform;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The annotation that names an image inside an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Registries refuse manifests over 4 MiB (distribution) or 10 MiB (Gitea); we read at most this.
pub const MAX_MANIFEST_SIZE: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    Manifest,
    Index,
}

#[derive(Debug, Clone, Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<serde_json::Value>,
}

/// A content descriptor, validated (digest syntax, non-negative size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub annotations: BTreeMap<String, String>,
    /// The platform an index entry is for, when the index says (and says it well-formed).
    pub platform: Option<Platform>,
}

impl Descriptor {
    fn from_raw(raw: RawDescriptor, what: &str) -> Result<Descriptor> {
        let digest = Digest::parse(&raw.digest).map_err(|e| e.context(what))?;
        let size = u64::try_from(raw.size).map_err(|_| {
            Error::invalid_source(format!("{what}: descriptor {digest} has a negative size"))
        })?;
        // A malformed platform only loses the ability to select by it.
        let platform = raw
            .platform
            .and_then(|p| serde_json::from_value::<Platform>(p).ok());
        Ok(Descriptor {
            media_type: raw.media_type,
            digest,
            size,
            annotations: raw.annotations,
            platform,
        })
    }

    pub fn ref_name(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }

    /// A descriptor with no annotations or platform.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    pub fn kind(&self) -> Option<MediaKind> {
        media_kind(&self.media_type)
    }
}

fn media_kind(media_type: &str) -> Option<MediaKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(MediaKind::Manifest),
        OCI_INDEX | DOCKER_LIST => Some(MediaKind::Index),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
struct RawManifest {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<RawDescriptor>,
    #[serde(default)]
    layers: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
}

/// A manifest or index exactly as stored, with the media type to send it under.
#[derive(Debug, Clone)]
pub struct ManifestBlob {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
    /// The platform the index above it gives for it, if any.
    pub platform: Option<Platform>,
}

/// What a manifest references: either blobs (an image) or other manifests (an index).
#[derive(Debug, Clone)]
pub enum ImageNode {
    Manifest {
        manifest: ManifestBlob,
        /// Config first, then layers, as the manifest lists them.
        blobs: Vec<Descriptor>,
    },
    Index {
        manifest: ManifestBlob,
        children: Vec<ImageNode>,
    },
}

impl ImageNode {
    pub fn manifest(&self) -> &ManifestBlob {
        match self {
            ImageNode::Manifest { manifest, .. } | ImageNode::Index { manifest, .. } => manifest,
        }
    }
}

/// Parses `index.json` (an OCI index) into its descriptors.
pub fn parse_index_json(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>> {
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid_source(format!("{what} is not a valid OCI index: {e}")))?;
    raw.manifests
        .ok_or_else(|| Error::invalid_source(format!("{what} has no \"manifests\" list")))?
        .into_iter()
        .map(|d| Descriptor::from_raw(d, what))
        .collect()
}

/// The parsed content of one manifest: its media type, and either its blobs or its children.
#[derive(Debug)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: MediaKind,
    pub blobs: Vec<Descriptor>,
    pub children: Vec<Descriptor>,
}

/// Parses a manifest's bytes. `declared` is the media type its descriptor gave, if any.
pub fn parse_manifest(bytes: &[u8], declared: &str, what: &str) -> Result<ParsedManifest> {
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid_source(format!("{what} is not valid manifest JSON: {e}")))?;
    let media_type = raw
        .media_type
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| (!declared.is_empty()).then(|| declared.to_string()))
        .unwrap_or_else(|| {
            if raw.manifests.is_some() {
                OCI_INDEX.to_string()
            } else {
                OCI_MANIFEST.to_string()
            }
        });
    let kind = match media_kind(&media_type) {
        Some(k) => k,
        None if raw.manifests.is_some() => MediaKind::Index,
        None if raw.config.is_some() => MediaKind::Manifest,
        None => {
            return Err(Error::new(
                ErrorKind::InvalidSource,
                format!("{what} has unsupported media type {media_type:?}"),
            ))
        }
    };
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    match kind {
        MediaKind::Manifest => {
            let config = raw
                .config
                .ok_or_else(|| Error::invalid_source(format!("{what} has no config")))?;
            blobs.push(Descriptor::from_raw(config, what)?);
            for layer in raw.layers.unwrap_or_default() {
                blobs.push(Descriptor::from_raw(layer, what)?);
            }
        }
        MediaKind::Index => {
            for child in raw.manifests.unwrap_or_default() {
                children.push(Descriptor::from_raw(child, what)?);
            }
        }
    }
    Ok(ParsedManifest {
        media_type,
        kind,
        blobs,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn parses_image_manifest() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":30}}]}}"#,
            d('a'),
            d('b')
        );
        let m = parse_manifest(json.as_bytes(), "", "test").unwrap();
        assert_eq!(m.kind, MediaKind::Manifest);
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(m.blobs[1].size, 30);
    }

    #[test]
    fn infers_index_without_media_type() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":5,"mediaType":"{OCI_MANIFEST}"}}]}}"#,
            d('c')
        );
        let m = parse_manifest(json.as_bytes(), "", "test").unwrap();
        assert_eq!(m.kind, MediaKind::Index);
        assert_eq!(m.media_type, OCI_INDEX);
        assert_eq!(m.children.len(), 1);
    }

    #[test]
    fn keeps_index_platforms() {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"digest":"{}","size":5,"mediaType":"{OCI_MANIFEST}","platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"digest":"{}","size":5,"mediaType":"{OCI_MANIFEST}","platform":{{"os":"linux"}}}}]}}"#,
            d('c'),
            d('d')
        );
        let m = parse_manifest(json.as_bytes(), "", "test").unwrap();
        let p = m.children[0].platform.as_ref().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(
            m.children[1].platform, None,
            "no architecture: not a usable platform"
        );
    }

    #[test]
    fn rejects_bad_descriptors() {
        let neg = format!(
            r#"{{"config":{{"digest":"{}","size":-1}},"layers":[]}}"#,
            d('a')
        );
        assert!(parse_manifest(neg.as_bytes(), OCI_MANIFEST, "m")
            .unwrap_err()
            .message()
            .contains("negative"));
        let traversal = r#"{"config":{"digest":"sha256:../../etc/passwd","size":1}}"#;
        assert!(parse_manifest(traversal.as_bytes(), OCI_MANIFEST, "m").is_err());
        assert!(parse_manifest(b"[[[[", OCI_MANIFEST, "m").is_err());
        let deep = "[".repeat(100_000);
        assert!(parse_manifest(deep.as_bytes(), OCI_MANIFEST, "m").is_err());
    }
}
