//! Local images to push: where they are, which manifests they hold and how to read their blobs.
//!
//! Sources:
//! - `oci:DIR[:TAG]`: an OCI image layout directory;
//! - `oci-archive:FILE[:TAG]`: a tar of one, read in place (indexed once, blobs streamed from
//!   their offsets in the file);
//! - `docker-archive:FILE[:NAME:TAG]`: `docker save` / `podman save` output, classic or with an
//!   OCI layout inside (docker 25+);
//! - a bare path: a directory is a layout; a file is inspected (`manifest.json` makes it a
//!   docker archive, `oci-layout` an OCI archive). Compressed archives (`.tar.gz`…) are refused
//!   with a message saying to decompress them: a blob inside one cannot be read in place.

mod compress;
mod docker_archive;
mod layout;
pub(crate) mod manifest;
mod platform;
mod tarindex;

pub use compress::{CompressedStream, StreamLayer};
pub use docker_archive::{DockerArchive, PendingImage};
pub use layout::{Files, Layout};
pub use manifest::{
    Descriptor, ImageNode, ManifestBlob, MediaKind, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX,
    OCI_MANIFEST,
};
pub use platform::Platform;
pub use tarindex::{TarEntry, TarIndex};

use crate::error::{io_reason, Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncRead;

/// A parsed source string: which image store, and which image in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An OCI layout directory and an optional tag (`org.opencontainers.image.ref.name`).
    Layout { dir: PathBuf, tag: Option<String> },
    /// A tar of an OCI layout and an optional tag.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// A docker archive and an optional `NAME[:TAG]` among its `RepoTags`.
    DockerArchive {
        file: PathBuf,
        image: Option<String>,
    },
    /// A file named without a transport: an OCI or docker archive, told by its content; `rest`
    /// is a tag or `NAME:TAG`.
    Archive { file: PathBuf, rest: Option<String> },
}

const FORMS: &str =
    "write oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], or a path";

impl SourceSpec {
    /// Parses the source forms above.
    pub fn parse(input: &str) -> Result<SourceSpec> {
        if input.is_empty() {
            return Err(Error::invalid_argument(format!(
                "the source is empty; {FORMS}"
            )));
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, tag) = split_last(rest);
            return Ok(SourceSpec::Layout { dir, tag });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (file, tag) = split_last(rest);
            return Ok(SourceSpec::OciArchive { file, tag });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (file, image) = split_first_file(rest);
            return Ok(SourceSpec::DockerArchive { file, image });
        }
        if let Some((transport, _)) = input.split_once(':') {
            if ["docker", "docker-daemon", "containers-storage", "dir"].contains(&transport) {
                return Err(Error::invalid_argument(format!(
                    "source {input:?}: the {transport}: form is not supported; {FORMS}"
                )));
            }
        }
        let path = Path::new(input);
        if path.is_dir() {
            return Ok(SourceSpec::Layout {
                dir: path.to_path_buf(),
                tag: None,
            });
        }
        if path.is_file() {
            return Ok(SourceSpec::Archive {
                file: path.to_path_buf(),
                rest: None,
            });
        }
        // `PATH:REST`: a directory with a tag, or a file with a tag or NAME:TAG.
        let (head, tag) = split_last(input);
        if head.is_dir() {
            return Ok(SourceSpec::Layout { dir: head, tag });
        }
        let (file, rest) = split_first_file(input);
        if file.is_file() {
            return Ok(SourceSpec::Archive { file, rest });
        }
        // Nothing exists: report it as the layout directory it most likely was meant to be.
        Ok(SourceSpec::Layout { dir: head, tag })
    }
}

/// `PATH:TAG` splits at the last ':' whose tail holds no '/', unless the whole string is an
/// existing path (a path may have ':' in its name).
fn split_last(s: &str) -> (PathBuf, Option<String>) {
    if Path::new(s).exists() {
        return (PathBuf::from(s), None);
    }
    match s.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') && !path.is_empty() => {
            (PathBuf::from(path), Some(tag.to_string()))
        }
        _ => (PathBuf::from(s), None),
    }
}

/// `FILE:NAME:TAG`: NAME may hold ':' (a registry port), so the file is the shortest prefix
/// ending before a ':' that is an existing file; failing that, everything before the first ':'.
fn split_first_file(s: &str) -> (PathBuf, Option<String>) {
    if Path::new(s).exists() {
        return (PathBuf::from(s), None);
    }
    let colons = s.match_indices(':').map(|(i, _)| i);
    for i in colons {
        if i > 0 && Path::new(&s[..i]).is_file() {
            return (PathBuf::from(&s[..i]), Some(s[i + 1..].to_string()));
        }
    }
    match s.split_once(':') {
        Some((file, rest)) if !file.is_empty() && !rest.is_empty() => {
            (PathBuf::from(file), Some(rest.to_string()))
        }
        _ => (PathBuf::from(s), None),
    }
}

/// What to take from a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// `os/arch[/variant]`: from an index, push only that platform's image; a single image must
    /// be that platform.
    pub platform: Option<String>,
    /// docker archives: push layers uncompressed (as stored) instead of gzip-compressing them.
    pub keep_uncompressed: bool,
}

/// The image to push.
#[derive(Debug, Clone)]
pub enum Image {
    /// Every manifest is known and goes up byte for byte.
    Ready(ImageNode),
    /// A docker archive image whose layers are compressed while they stream: the manifest is
    /// made once their digests are known.
    Pending(PendingImage),
}

/// An opened source image.
pub enum Source {
    /// An OCI layout, in a directory or an archive.
    Layout(Layout),
    /// A classic docker archive.
    Docker(DockerArchive),
}

/// Which kind of image store a source turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An OCI layout directory.
    Layout,
    /// A tar of an OCI layout.
    OciArchive,
    /// A docker archive, classic or with an OCI layout inside (docker 25+).
    DockerArchive,
}

/// What a source says about the image chosen from it, besides its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// OCI layouts and archives: the `org.opencontainers.image.ref.name` of the chosen
    /// `index.json` entry.
    pub ref_name: Option<String>,
    /// Docker archives: the `NAME[:TAG]` asked for, else the image's only `RepoTags` entry, in
    /// docker's short form (`app:v1`).
    pub repo_tag: Option<String>,
}

/// A source opened, and the image it names resolved.
pub struct Opened {
    pub source: Source,
    pub image: Image,
    pub info: SourceInfo,
}

impl Source {
    /// Opens a source and resolves the image it names, reading and verifying every manifest
    /// (and, for archives, every tar header) before anything goes over the network.
    pub async fn open(input: &str, options: &SourceOptions) -> Result<Opened> {
        let want = options
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()?;
        let opened = match SourceSpec::parse(input)? {
            SourceSpec::Layout { dir, tag } => {
                let layout = Layout::open(&dir).await?;
                let (root, ref_name) = layout.resolve(tag.as_deref()).await?;
                Opened {
                    source: Source::Layout(layout),
                    image: Image::Ready(root),
                    info: SourceInfo {
                        kind: SourceKind::Layout,
                        ref_name,
                        repo_tag: None,
                    },
                }
            }
            SourceSpec::OciArchive { file, tag } => {
                let index = index_archive(&file, "OCI archive").await?;
                open_oci_archive(index, tag.as_deref()).await?
            }
            SourceSpec::DockerArchive { file, image } => {
                let index = index_archive(&file, "docker archive").await?;
                if !index.contains("manifest.json") {
                    let hint = if index.contains("oci-layout") {
                        format!(
                            "; it is an OCI archive: write oci-archive:{}",
                            file.display()
                        )
                    } else {
                        String::new()
                    };
                    return Err(Error::invalid_source(format!(
                        "{} is not a docker archive: it has no manifest.json{hint}",
                        file.display()
                    )));
                }
                open_docker_archive(index, image.as_deref(), options).await?
            }
            SourceSpec::Archive { file, rest } => {
                let index = index_archive(&file, "tar archive").await?;
                if index.contains("manifest.json") {
                    open_docker_archive(index, rest.as_deref(), options).await?
                } else if index.contains("oci-layout") {
                    open_oci_archive(index, rest.as_deref()).await?
                } else {
                    return Err(Error::invalid_source(format!(
                        "{} is a tar archive, but neither an OCI archive (no oci-layout) nor a \
                         docker archive (no manifest.json)",
                        file.display()
                    )));
                }
            }
        };
        match want {
            None => Ok(opened),
            Some(want) => {
                let image = opened.source.for_platform(opened.image, &want).await?;
                Ok(Opened { image, ..opened })
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Layout(l) => l.describe(),
            Source::Docker(d) => d.describe(),
        }
    }

    /// Narrows an index to one platform's image, or checks a single image's config.
    async fn for_platform(&self, image: Image, want: &Platform) -> Result<Image> {
        let what = self.describe();
        let config = match &image {
            Image::Ready(root @ ImageNode::Index { .. }) => {
                return platform::select(root.clone(), want, &what).map(Image::Ready)
            }
            Image::Ready(ImageNode::Manifest { blobs, .. }) => match (self, blobs.first()) {
                (Source::Layout(l), Some(config)) => {
                    l.read_blob(config, "config", manifest::MAX_MANIFEST_SIZE)
                        .await?
                }
                (Source::Docker(d), _) => d.config().to_vec(),
                (_, None) => return Err(Error::internal("a manifest without a config")),
            },
            Image::Pending(_) => match self {
                Source::Docker(d) => d.config().to_vec(),
                Source::Layout(_) => return Err(Error::internal("a pending image from a layout")),
            },
        };
        match platform::of_config(&config) {
            Some(have) if have.satisfies(want) => Ok(image),
            Some(have) => Err(Error::invalid_source(format!(
                "{what}: the image is for platform {have}, not {want} as asked"
            ))),
            None => Err(Error::invalid_source(format!(
                "{what}: the image's config names no os and architecture, so it cannot be \
                 checked to be for platform {want}"
            ))),
        }
    }

    /// Opens a blob for streaming from byte `offset`. The reader yields the raw stored bytes
    /// to the end of the blob; the caller verifies them.
    pub async fn open_blob(
        &self,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
        match self {
            Source::Layout(l) => l.open_blob(descriptor, offset).await,
            Source::Docker(d) => d.open_blob(descriptor, offset).await,
        }
    }

    /// Checks that every blob exists with the size its descriptor gives, before anything is sent.
    pub async fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        match self {
            Source::Layout(l) => l.check_blob(descriptor).await,
            Source::Docker(d) => d.check_blob(descriptor),
        }
    }
}

async fn open_oci_archive(index: Arc<TarIndex>, tag: Option<&str>) -> Result<Opened> {
    let layout = Layout::with_files(Files::Tar {
        index,
        kind: "OCI archive",
    })
    .await?;
    let (root, ref_name) = layout.resolve(tag).await?;
    Ok(Opened {
        source: Source::Layout(layout),
        image: Image::Ready(root),
        info: SourceInfo {
            kind: SourceKind::OciArchive,
            ref_name,
            repo_tag: None,
        },
    })
}

async fn open_docker_archive(
    index: Arc<TarIndex>,
    name: Option<&str>,
    options: &SourceOptions,
) -> Result<Opened> {
    let (form, repo_tag) = docker_archive::open(index, name, options.keep_uncompressed).await?;
    let (source, image) = match form {
        docker_archive::Form::Layout(layout, root) => (Source::Layout(layout), Image::Ready(root)),
        docker_archive::Form::Ready(archive, root) => (Source::Docker(archive), Image::Ready(root)),
        docker_archive::Form::Pending(archive, pending) => {
            (Source::Docker(archive), Image::Pending(pending))
        }
    };
    Ok(Opened {
        source,
        image,
        info: SourceInfo {
            kind: SourceKind::DockerArchive,
            ref_name: None,
            repo_tag,
        },
    })
}

/// Checks that `file` is an uncompressed tar and indexes it (off the async threads).
async fn index_archive(file: &Path, kind: &str) -> Result<Arc<TarIndex>> {
    let shown = file.display().to_string();
    let meta = tokio::fs::metadata(file).await.map_err(|e| {
        Error::invalid_source(format!("cannot open {kind} {shown}: {}", io_reason(&e)))
    })?;
    if meta.is_dir() {
        return Err(Error::invalid_source(format!(
            "{shown} is a directory, not a tar file; for an OCI layout directory write \
             oci:{shown}"
        )));
    }
    if !meta.is_file() {
        // A FIFO would be waited on forever, a device read without end.
        return Err(Error::invalid_source(format!(
            "cannot open {kind} {shown}: it is not a regular file"
        )));
    }
    let (path, kind_shown) = (file.to_path_buf(), kind.to_string());
    let index = tokio::task::spawn_blocking(move || -> Result<TarIndex> {
        let mut head = [0u8; 8];
        let n = std::fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .map_err(|e| {
                Error::invalid_source(format!(
                    "cannot read {} {}: {}",
                    kind_shown,
                    path.display(),
                    io_reason(&e)
                ))
            })?;
        if let Some(compression) = tarindex::compression_of(&head[..n]) {
            return Err(Error::invalid_source(format!(
                "{} is {compression}-compressed; decompress it first (e.g. gunzip, zstd -d): \
                 images are read in place from an uncompressed tar, which a compressed stream \
                 does not allow",
                path.display()
            )));
        }
        TarIndex::build(&path)
    })
    .await
    .map_err(|e| Error::internal(format!("indexing {shown}: {e}")))??;
    Ok(Arc::new(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_forms() {
        assert_eq!(
            SourceSpec::parse("oci:/tmp/x:v1").unwrap(),
            SourceSpec::Layout {
                dir: "/tmp/x".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("oci:/tmp/does-not-exist").unwrap(),
            SourceSpec::Layout {
                dir: "/tmp/does-not-exist".into(),
                tag: None
            }
        );
        assert_eq!(
            SourceSpec::parse("./rel/dir").unwrap(),
            SourceSpec::Layout {
                dir: "./rel/dir".into(),
                tag: None
            }
        );
        let dir = tempfile::tempdir().unwrap();
        let with_colon = dir.path().join("a:b");
        std::fs::create_dir(&with_colon).unwrap();
        let s = with_colon.to_str().unwrap();
        assert_eq!(
            SourceSpec::parse(s).unwrap(),
            SourceSpec::Layout {
                dir: with_colon.clone(),
                tag: None
            }
        );
        assert!(SourceSpec::parse("").is_err());
        assert!(SourceSpec::parse("docker://x/y")
            .unwrap_err()
            .message()
            .contains("not supported"));
    }

    #[test]
    fn parses_archive_forms() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("img.tar");
        std::fs::write(&file, b"x").unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(
            SourceSpec::parse(&format!("oci-archive:{f}:v1")).unwrap(),
            SourceSpec::OciArchive {
                file: file.clone(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            SourceSpec::parse(&format!("docker-archive:{f}:localhost:5000/app:v1")).unwrap(),
            SourceSpec::DockerArchive {
                file: file.clone(),
                image: Some("localhost:5000/app:v1".into())
            }
        );
        assert_eq!(
            SourceSpec::parse(&format!("docker-archive:{f}")).unwrap(),
            SourceSpec::DockerArchive {
                file: file.clone(),
                image: None
            }
        );
        assert_eq!(
            SourceSpec::parse(f).unwrap(),
            SourceSpec::Archive {
                file: file.clone(),
                rest: None
            }
        );
        assert_eq!(
            SourceSpec::parse(&format!("{f}:app:v1")).unwrap(),
            SourceSpec::Archive {
                file: file.clone(),
                rest: Some("app:v1".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("docker-archive:/no/such.tar:app:v1").unwrap(),
            SourceSpec::DockerArchive {
                file: "/no/such.tar".into(),
                image: Some("app:v1".into())
            }
        );
    }

    #[tokio::test]
    async fn detects_archive_kinds_and_refuses_compressed_ones() {
        use tarindex::tests::{finish, raw_entry};
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("x.tar.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        let err = Source::open(gz.to_str().unwrap(), &SourceOptions::default())
            .await
            .err()
            .unwrap();
        assert!(err.message().contains("gzip-compressed"), "{err}");
        assert!(err.message().contains("gunzip"), "{err}");

        let other = dir.path().join("other.tar");
        std::fs::write(&other, finish(vec![raw_entry("hello", b'0', "", b"hi")])).unwrap();
        let err = Source::open(other.to_str().unwrap(), &SourceOptions::default())
            .await
            .err()
            .unwrap();
        assert!(err.message().contains("neither an OCI archive"), "{err}");

        let oci = dir.path().join("oci.tar");
        std::fs::write(
            &oci,
            finish(vec![
                raw_entry("oci-layout", b'0', "", br#"{"imageLayoutVersion":"1.0.0"}"#),
                raw_entry(
                    "index.json",
                    b'0',
                    "",
                    br#"{"schemaVersion":2,"manifests":[]}"#,
                ),
            ]),
        )
        .unwrap();
        let err = Source::open(oci.to_str().unwrap(), &SourceOptions::default())
            .await
            .err()
            .unwrap();
        assert!(err.message().contains("OCI archive"), "{err}");
        assert!(err.message().contains("holds no image"), "{err}");
        let err = Source::open(
            &format!("docker-archive:{}", oci.display()),
            &SourceOptions::default(),
        )
        .await
        .err()
        .unwrap();
        assert!(err.message().contains("write oci-archive:"), "{err}");

        let bad_platform = SourceOptions {
            platform: Some("linux".into()),
            ..Default::default()
        };
        let err = Source::open(oci.to_str().unwrap(), &bad_platform)
            .await
            .err()
            .unwrap();
        assert!(err.message().contains("os/arch"), "{err}");
    }
}
