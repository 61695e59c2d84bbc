//! Local images to push: where they are, which manifests they hold and how to read their blobs.
//!
//! Today the only source is an OCI image layout directory (`oci:DIR[:TAG]` or a bare directory);
//! archives plug in here as further variants of [`Source`].

mod layout;
mod manifest;

pub use layout::Layout;
pub use manifest::{Descriptor, ImageNode, ManifestBlob, MediaKind};

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tokio::io::AsyncRead;

/// A parsed source string: which image store, and which image in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// An OCI layout directory and an optional tag (`org.opencontainers.image.ref.name`).
    Layout { dir: PathBuf, tag: Option<String> },
}

impl SourceSpec {
    /// Parses `oci:DIR[:TAG]` or a path to a directory holding an OCI layout.
    pub fn parse(input: &str) -> Result<SourceSpec> {
        if input.is_empty() {
            return Err(Error::invalid_argument(
                "the source is empty; write oci:DIR[:TAG] or a layout directory",
            ));
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            return Ok(split_dir_and_tag(rest));
        }
        if let Some((transport, _)) = input.split_once(':') {
            if [
                "oci-archive",
                "docker-archive",
                "docker",
                "containers-storage",
                "dir",
            ]
            .contains(&transport)
            {
                return Err(Error::invalid_argument(format!(
                    "source {input:?}: the {transport}: form is not supported yet; \
                     write oci:DIR[:TAG] or a layout directory"
                )));
            }
        }
        Ok(split_dir_and_tag(input))
    }
}

/// `DIR:TAG` splits at the last ':' whose tail holds no '/', unless the whole string is a
/// directory (a directory may have ':' in its name).
fn split_dir_and_tag(s: &str) -> SourceSpec {
    if Path::new(s).is_dir() {
        return SourceSpec::Layout {
            dir: PathBuf::from(s),
            tag: None,
        };
    }
    match s.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => SourceSpec::Layout {
            dir: PathBuf::from(dir),
            tag: Some(tag.to_string()),
        },
        _ => SourceSpec::Layout {
            dir: PathBuf::from(s),
            tag: None,
        },
    }
}

/// An opened source image.
pub enum Source {
    Layout(Layout),
}

impl Source {
    /// Opens a source and resolves the image it names, reading and verifying every manifest.
    pub async fn open(input: &str) -> Result<(Source, ImageNode)> {
        match SourceSpec::parse(input)? {
            SourceSpec::Layout { dir, tag } => {
                let layout = Layout::open(&dir).await?;
                let root = layout.resolve(tag.as_deref()).await?;
                Ok((Source::Layout(layout), root))
            }
        }
    }

    /// Opens a blob for streaming. The reader yields the raw stored bytes; the caller verifies.
    pub async fn open_blob(
        &self,
        descriptor: &Descriptor,
    ) -> Result<Box<dyn AsyncRead + Send + Unpin>> {
        match self {
            Source::Layout(l) => l.open_blob(descriptor).await,
        }
    }

    /// Checks that every blob exists with the size its descriptor gives, before anything is sent.
    pub async fn check_blob(&self, descriptor: &Descriptor) -> Result<()> {
        match self {
            Source::Layout(l) => l.check_blob(descriptor).await,
        }
    }
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
        assert!(SourceSpec::parse("docker-archive:/x.tar")
            .unwrap_err()
            .message()
            .contains("not supported yet"));
    }
}
