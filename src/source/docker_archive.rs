//! `docker save` / `podman save` / `skopeo copy … docker-archive:` tarballs, read in place.
//!
//! Two forms exist:
//! - classic: `manifest.json` lists each image's `Config` (`<id>.json`), `RepoTags` and `Layers`
//!   (`<id>/layer.tar` or `<sha>.tar`, uncompressed, often symlinks). There is no registry
//!   manifest in it, so we make a Docker v2 schema 2 manifest whose config is the archive's
//!   config byte for byte and whose layers are the layer tars — gzip-compressed while they
//!   stream (or kept as they are on request), checked against the config's `rootfs.diff_ids`.
//! - docker 25 and later also write an OCI layout (`oci-layout`, `index.json`, `blobs/`) next
//!   to `manifest.json`; then the OCI manifest it holds is pushed byte for byte, and
//!   `manifest.json` only serves to pick the image by name.

use super::compress::StreamLayer;
use super::layout::{list_or_none, Files, Layout};
use super::manifest::{
    Descriptor, ImageNode, ManifestBlob, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR,
    DOCKER_MANIFEST, MAX_MANIFEST_SIZE,
};
use super::tarindex::{compression_of, TarEntry, TarIndex};
use crate::digest::Digest;
use crate::error::{io_reason, Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::AsyncRead;

const KIND: &str = "docker archive";
/// The annotation docker (and containerd) put on `index.json` entries: the full image name.
const IMAGE_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl ManifestEntry {
    fn names(&self) -> Vec<String> {
        self.repo_tags
            .iter()
            .flatten()
            .map(|t| familiar(t))
            .collect()
    }

    fn label(&self) -> String {
        match self.repo_tags.as_deref() {
            Some([first, ..]) => familiar(first),
            _ => format!("untagged image with config {}", self.config),
        }
    }
}

/// `docker.io/library/app:v1` -> `app:v1`; adds `:latest` when no tag is given, as docker does.
pub fn familiar(name: &str) -> String {
    let mut s = name.trim();
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
            if let Some(rest) = s.strip_prefix("library/") {
                if !rest.contains('/') {
                    s = rest;
                }
            }
            break;
        }
    }
    let last = s.rsplit('/').next().unwrap_or(s);
    if last.contains(':') || last.contains('@') {
        s.to_string()
    } else {
        format!("{s}:latest")
    }
}

/// A classic docker archive opened for pushing.
pub struct DockerArchive {
    index: Arc<TarIndex>,
    /// Blobs read as they are stored: the config, and the layers when kept uncompressed.
    blobs: HashMap<Digest, TarEntry>,
    config: Vec<u8>,
}

/// An image whose layers are compressed while they are pushed; its manifest is made once their
/// digests are known.
#[derive(Debug, Clone)]
pub struct PendingImage {
    pub config: Descriptor,
    /// In manifest order (a layer may appear twice).
    pub layers: Vec<StreamLayer>,
}

impl PendingImage {
    /// The manifest, given the compressed descriptor of each layer by diff_id.
    pub fn finish(&self, compressed: &HashMap<Digest, Descriptor>) -> Result<ImageNode> {
        let layers =
            self.layers
                .iter()
                .map(|l| {
                    compressed.get(&l.diff_id).cloned().ok_or_else(|| {
                        Error::internal(format!("layer {} was not pushed", l.diff_id))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        Ok(schema2(&self.config, layers))
    }
}

/// What a docker archive turned out to hold.
pub enum Form {
    /// The docker 25+ form: an OCI layout inside, and the image chosen from it.
    Layout(Layout, ImageNode),
    /// The classic form, with every digest known (layers kept uncompressed).
    Ready(DockerArchive, ImageNode),
    /// The classic form, layers to be compressed.
    Pending(DockerArchive, PendingImage),
}

/// Opens the image named `name` (`NAME[:TAG]`), or the only one; with its name in docker's
/// short form (`app:v1`): `name` itself, else the image's `RepoTags` entry when it has exactly
/// one.
pub async fn open(
    index: Arc<TarIndex>,
    name: Option<&str>,
    keep_uncompressed: bool,
) -> Result<(Form, Option<String>)> {
    let shown = index.path().display().to_string();
    let files = Files::Tar {
        index: index.clone(),
        kind: KIND,
    };
    let bytes = files
        .read_small("manifest.json", MAX_MANIFEST_SIZE)
        .await
        .map_err(|e| {
            Error::invalid_source(format!(
                "{shown} is not a docker archive: cannot read its manifest.json: {}",
                io_reason(&e)
            ))
        })?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid_source(format!("{KIND} {shown}: manifest.json is not valid: {e}"))
    })?;
    let entry = choose(&entries, name, &shown)?;
    let repo_tag = match (name, entry.repo_tags.as_deref()) {
        (Some(name), _) => Some(familiar(name)),
        (None, Some([only])) => Some(familiar(only)),
        _ => None,
    };
    let form = open_form(index, &shown, files, &entries, entry, keep_uncompressed).await?;
    Ok((form, repo_tag))
}

/// Opens `entry` of a docker archive's manifest.json in the form the archive holds it.
async fn open_form(
    index: Arc<TarIndex>,
    shown: &str,
    files: Files,
    entries: &[ManifestEntry],
    entry: &ManifestEntry,
    keep_uncompressed: bool,
) -> Result<Form> {
    if index.contains("oci-layout") && index.contains("index.json") {
        let layout = Layout::with_files(files).await?;
        let node = choose_in_layout(&layout, entries, entry, &index).await?;
        return Ok(Form::Layout(layout, node));
    }

    let (config_entry, config, config_digest) = read_config(&index, &entry.config).await?;
    let diff_ids = diff_ids(&config, shown, &entry.config)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::invalid_source(format!(
            "{KIND} {shown}: manifest.json lists {} layers, but config {:?} has {} diff_ids",
            entry.layers.len(),
            entry.config,
            diff_ids.len()
        )));
    }
    let config_descriptor =
        Descriptor::new(DOCKER_CONFIG, config_digest.clone(), config.len() as u64);
    let mut blobs = HashMap::new();
    blobs.insert(config_digest, config_entry);
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
        let layer = find_entry(&index, path, "layer")?;
        let head = index.peek(&layer, 8).map_err(|e| {
            Error::invalid_source(format!(
                "{KIND} {shown}: reading layer {path:?}: {}",
                io_reason(&e)
            ))
        })?;
        if let Some(compression) = compression_of(&head) {
            return Err(Error::invalid_source(format!(
                "{KIND} {shown}: layer {path:?} is {compression}-compressed; classic docker \
                 archives hold uncompressed layer tars, and this one cannot be checked against \
                 its diff_id"
            )));
        }
        layers.push(StreamLayer {
            diff_id,
            size: layer.size,
            media_type: DOCKER_LAYER_GZIP.to_string(),
            index: index.clone(),
            entry: layer,
        });
    }
    if keep_uncompressed {
        let descriptors = layers
            .iter()
            .map(|l| Descriptor::new(DOCKER_LAYER_TAR, l.diff_id.clone(), l.size))
            .collect();
        for l in &layers {
            blobs.insert(l.diff_id.clone(), l.entry.clone());
        }
        let node = schema2(&config_descriptor, descriptors);
        return Ok(Form::Ready(
            DockerArchive {
                index,
                blobs,
                config,
            },
            node,
        ));
    }
    Ok(Form::Pending(
        DockerArchive {
            index,
            blobs,
            config,
        },
        PendingImage {
            config: config_descriptor,
            layers,
        },
    ))
}

fn choose<'a>(
    entries: &'a [ManifestEntry],
    name: Option<&str>,
    shown: &str,
) -> Result<&'a ManifestEntry> {
    let labels: Vec<String> = entries.iter().map(ManifestEntry::label).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    match name {
        Some(name) => {
            let want = familiar(name);
            entries
                .iter()
                .find(|e| e.names().contains(&want))
                .ok_or_else(|| {
                    let all: Vec<String> = entries.iter().flat_map(|e| e.names()).collect();
                    let all: Vec<&str> = all.iter().map(String::as_str).collect();
                    Error::invalid_source(format!(
                        "{KIND} {shown} has no image named {want} (it has: {})",
                        list_or_none(&all)
                    ))
                })
        }
        None => match entries {
            [only] => Ok(only),
            [] => Err(Error::invalid_source(format!(
                "{KIND} {shown} holds no image"
            ))),
            _ => Err(Error::invalid_source(format!(
                "{KIND} {shown} holds {} images; choose one with docker-archive:{shown}:NAME:TAG \
                 (images: {})",
                entries.len(),
                labels.join(", ")
            ))),
        },
    }
}

fn find_entry(index: &TarIndex, path: &str, what: &str) -> Result<TarEntry> {
    let shown = index.path().display();
    index
        .lookup(path)
        .map_err(|e| Error::invalid_source(format!("{KIND} {shown}: {what} {e}")))?
        .ok_or_else(|| {
            Error::invalid_source(format!(
                "{KIND} {shown}: {what} {path:?} named in manifest.json is missing from the archive"
            ))
        })
}

/// Reads the config, checking it against the digest its file name gives (`<hex>.json`,
/// `blobs/sha256/<hex>`); its entry, bytes and digest.
async fn read_config(index: &TarIndex, path: &str) -> Result<(TarEntry, Vec<u8>, Digest)> {
    let shown = index.path().display();
    let entry = find_entry(index, path, "config")?;
    let bytes = index
        .read_small(&entry, MAX_MANIFEST_SIZE)
        .await
        .map_err(|e| {
            Error::invalid_source(format!(
                "{KIND} {shown}: config {path:?}: {}",
                io_reason(&e)
            ))
        })?;
    let actual = Digest::of(&bytes);
    if let Some(named) = digest_in_name(path) {
        if actual != named {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "{KIND} {shown}: config {path:?} is corrupted: its content hashes to {actual}"
                ),
            ));
        }
    }
    Ok((entry, bytes, actual))
}

/// The digest a file name carries: `<hex>.json`, `<hex>.tar`, `blobs/sha256/<hex>`.
fn digest_in_name(path: &str) -> Option<Digest> {
    let base = path.rsplit('/').next()?;
    let hex = base
        .strip_suffix(".json")
        .or_else(|| base.strip_suffix(".tar"))
        .unwrap_or(base);
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn diff_ids(config: &[u8], shown: &str, path: &str) -> Result<Vec<Digest>> {
    #[derive(Deserialize)]
    struct Config {
        rootfs: Option<RootFs>,
    }
    #[derive(Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    let bad = |why: String| Error::invalid_source(format!("{KIND} {shown}: config {path:?} {why}"));
    let parsed: Config =
        serde_json::from_slice(config).map_err(|e| bad(format!("is not valid JSON: {e}")))?;
    let rootfs = parsed.rootfs.ok_or_else(|| bad("has no rootfs".into()))?;
    rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| bad(format!("has a bad diff_id: {e}"))))
        .collect()
}

/// The image in the OCI layout that `entry` of manifest.json names: by the image name docker
/// puts on index.json entries, else by its config.
async fn choose_in_layout(
    layout: &Layout,
    entries: &[ManifestEntry],
    entry: &ManifestEntry,
    index: &TarIndex,
) -> Result<ImageNode> {
    let descriptors = layout.entries().await?;
    let names = entry.names();
    if let Some(d) = descriptors.iter().find(|d| {
        d.annotations
            .get(IMAGE_NAME)
            .is_some_and(|n| names.contains(&familiar(n)))
    }) {
        return layout.load(d).await;
    }
    if let ([d], [_]) = (descriptors.as_slice(), entries) {
        return layout.load(d).await;
    }
    let config = match digest_in_name(&entry.config) {
        Some(d) => d,
        None => read_config(index, &entry.config).await?.2,
    };
    for d in &descriptors {
        if let Some(node) = with_config(layout.load(d).await?, &config) {
            return Ok(node);
        }
    }
    Err(Error::invalid_source(format!(
        "{KIND} {}: no manifest in its index.json is for {} (config {config})",
        index.path().display(),
        entry.label()
    )))
}

fn with_config(node: ImageNode, config: &Digest) -> Option<ImageNode> {
    match node {
        ImageNode::Manifest { ref blobs, .. } => {
            (blobs.first().map(|b| &b.digest) == Some(config)).then_some(node)
        }
        ImageNode::Index { children, .. } => {
            children.into_iter().find_map(|c| with_config(c, config))
        }
    }
}

/// A Docker v2 schema 2 manifest over a config and layers.
fn schema2(config: &Descriptor, layers: Vec<Descriptor>) -> ImageNode {
    #[derive(Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        config: Desc<'a>,
        layers: Vec<Desc<'a>>,
    }
    #[derive(Serialize)]
    struct Desc<'a> {
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        size: u64,
        digest: &'a str,
    }
    fn desc(d: &Descriptor) -> Desc<'_> {
        Desc {
            media_type: &d.media_type,
            size: d.size,
            digest: d.digest.as_str(),
        }
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST,
        config: desc(config),
        layers: layers.iter().map(desc).collect(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    let mut blobs = Vec::with_capacity(layers.len() + 1);
    blobs.push(config.clone());
    blobs.extend(layers);
    ImageNode::Manifest {
        manifest: ManifestBlob {
            digest: Digest::of(&bytes),
            media_type: DOCKER_MANIFEST.to_string(),
            bytes,
            platform: None,
        },
        blobs,
    }
}

impl DockerArchive {
    /// The config, as stored (for the platform check).
    pub fn config(&self) -> &[u8] {
        &self.config
    }

    pub fn describe(&self) -> String {
        format!("{KIND} {}", self.index.path().display())
    }

    fn blob(&self, descriptor: &Descriptor) -> Result<&TarEntry> {
        self.blobs.get(&descriptor.digest).ok_or_else(|| {
            Error::internal(format!(
                "blob {} is not part of {}",
                descriptor.digest,
                self.describe()
            ))
        })
    }

    pub fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        let entry = self.blob(descriptor)?;
        if entry.size != descriptor.size {
            return Err(Error::internal(format!(
                "blob {} in {} is {} bytes, not {}",
                descriptor.digest,
                self.describe(),
                entry.size,
                descriptor.size
            )));
        }
        Ok(())
    }

    pub async fn open_blob(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
        let entry = self.blob(descriptor)?;
        self.index.open_at(entry, offset).await.map_err(|e| {
            Error::invalid_source(format!(
                "cannot read blob {} ({:?}) in {}: {}",
                descriptor.digest,
                entry.name,
                self.describe(),
                io_reason(&e)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/app:v1"), "app:v1");
        assert_eq!(familiar("app:v1"), "app:v1");
        assert_eq!(familiar("app"), "app:latest");
        assert_eq!(familiar("docker.io/me/app"), "me/app:latest");
        assert_eq!(familiar("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(familiar("localhost:5000/app:1"), "localhost:5000/app:1");
        assert_eq!(familiar("quay.io/library/x:1"), "quay.io/library/x:1");
    }

    #[test]
    fn digests_in_names() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_in_name(&format!("{hex}.json")).unwrap().hex(),
            hex.as_str()
        );
        assert!(digest_in_name(&format!("blobs/sha256/{hex}")).is_some());
        assert!(digest_in_name("config.json").is_none());
    }

    #[test]
    fn schema2_manifest_is_docker_v2() {
        let config = Descriptor::new(DOCKER_CONFIG, Digest::of(b"{}"), 2);
        let layer = Descriptor::new(DOCKER_LAYER_GZIP, Digest::of(b"l"), 1);
        let node = schema2(&config, vec![layer.clone()]);
        let ImageNode::Manifest { manifest, blobs } = node else {
            panic!("a manifest")
        };
        assert_eq!(blobs, vec![config.clone(), layer]);
        assert_eq!(manifest.digest, Digest::of(&manifest.bytes));
        let v: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(v["config"]["digest"], config.digest.as_str());
        assert_eq!(v["layers"][0]["mediaType"], DOCKER_LAYER_GZIP);
        assert_eq!(v["layers"][0]["size"], 1);
    }

    #[test]
    fn choosing_images() {
        let entries: Vec<ManifestEntry> = serde_json::from_str(
            r#"[{"Config":"a.json","RepoTags":["docker.io/library/app:v1"],"Layers":[]},
                {"Config":"b.json","RepoTags":["other:b","other:latest"],"Layers":[]}]"#,
        )
        .unwrap();
        assert_eq!(
            choose(&entries, Some("app:v1"), "x").unwrap().config,
            "a.json"
        );
        assert_eq!(
            choose(&entries, Some("other"), "x").unwrap().config,
            "b.json"
        );
        let err = choose(&entries, None, "x.tar").unwrap_err();
        assert!(err.message().contains("app:v1, other:b"), "{err}");
        assert!(
            err.message().contains("docker-archive:x.tar:NAME:TAG"),
            "{err}"
        );
        let err = choose(&entries, Some("nope:1"), "x.tar").unwrap_err();
        assert!(
            err.message().contains("app:v1, other:b, other:latest"),
            "{err}"
        );
    }
}
