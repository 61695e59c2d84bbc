//! An index of a tar archive, built in one pass over its headers, so that files inside it can be
//! read in place (from their offsets in the archive) instead of being extracted.
//!
//! Headers are parsed by the `tar` crate (ustar, GNU long names, PAX, including PAX `size`
//! overrides); data is skipped with seeks, so indexing a multi-GiB archive reads only its
//! headers. The index refuses, before anything is read from it, every archive that an
//! extracting tool could be tricked by or that is not whole:
//!
//! - names that are absolute or contain `..`, or are not UTF-8;
//! - symbolic links that are absolute or lead outside the archive, hard links that do;
//! - the same name twice with different content (which one would a reader take?);
//! - sparse files (image archives never hold them), and entries whose data runs past the end of
//!   the file, or a missing end-of-archive marker (a truncated archive).
//!
//! Lookups follow links inside the archive (skopeo's docker archives have `ID/layer.tar`
//! symlinks) with a bound on how many, so a link loop is an error rather than a hang.

use crate::error::{io_reason, Error, Result};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

const BLOCK: u64 = 512;
/// Links followed in one lookup before it is called a loop.
const MAX_LINKS: usize = 40;

/// What an archive holds under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File {
        offset: u64,
        size: u64,
    },
    /// Target as a normalized archive path.
    Symlink(String),
    /// Target as a normalized archive path.
    Hardlink(String),
}

/// A regular file inside the archive: where its data starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// The name the file was found under (after following links).
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

pub struct TarIndex {
    path: PathBuf,
    len: u64,
    nodes: HashMap<String, Node>,
}

impl std::fmt::Debug for TarIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarIndex")
            .field("path", &self.path)
            .field("entries", &self.nodes.len())
            .finish()
    }
}

impl TarIndex {
    /// Indexes the archive at `path` (blocking: run it off the async threads).
    pub fn build(path: &Path) -> Result<TarIndex> {
        let shown = path.display().to_string();
        let fail = |e: std::io::Error| {
            Error::invalid_source(format!("cannot read archive {shown}: {}", io_reason(&e)))
        };
        let file = std::fs::File::open(path).map_err(fail)?;
        let len = file.metadata().map_err(fail)?.len();
        if len == 0 {
            return Err(Error::invalid_source(format!("archive {shown} is empty")));
        }
        let mut index = TarIndex {
            path: path.to_path_buf(),
            len,
            nodes: HashMap::new(),
        };
        let mut archive = tar::Archive::new(file);
        let entries = archive.entries_with_seek().map_err(fail)?;
        // Where the next header starts: after the last entry, the end-of-archive marker.
        let mut next_header = 0u64;
        let mut last_name: Option<String> = None;
        for entry in entries {
            let entry = entry.map_err(|e| {
                // The tar crate's "numeric field" errors quote a header's raw bytes, which may
                // be any text of the file; its other errors (sparse entries, I/O) say why.
                let reason = io_reason(&e);
                let detail = if reason.contains("numeric field") {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                match &last_name {
                    None => Error::invalid_source(format!(
                        "{shown} is not a tar archive (its first 512 bytes are not a valid tar \
                         header){detail}"
                    )),
                    Some(n) => Error::invalid_source(format!(
                        "archive {shown} is corrupted or truncated after entry {n:?}: the next \
                         header is not a valid tar header{detail}"
                    )),
                }
            })?;
            let offset = entry.raw_file_position();
            let size = entry.size();
            next_header = offset
                .checked_add(size.div_ceil(BLOCK) * BLOCK)
                .ok_or_else(|| {
                    Error::invalid_source(format!("archive {shown}: entry sizes overflow"))
                })?;
            let raw_name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| {
                Error::invalid_source(format!(
                    "archive {shown}: an entry after {} has a name that is not UTF-8",
                    last_name.as_deref().unwrap_or("the start")
                ))
            })?;
            last_name = Some(raw_name.clone());
            let refuse = |why: String| {
                Error::invalid_source(format!("archive {shown}: entry {raw_name:?} {why}"))
            };
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() {
                continue;
            }
            let name = normalize(&raw_name).map_err(|why| refuse(why.to_string()))?;
            if kind.is_gnu_sparse() {
                return Err(refuse(
                    "is a sparse file, which image archives never contain".into(),
                ));
            }
            let node = if kind.is_file() || kind == tar::EntryType::Continuous {
                if offset.saturating_add(size) > len {
                    return Err(refuse(format!(
                        "is truncated: it claims {size} bytes, but the archive ends {} bytes \
                         into it",
                        len.saturating_sub(offset)
                    )));
                }
                Node::File { offset, size }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8(b.into_owned()))
                    .transpose()
                    .map_err(|_| refuse("links to a name that is not UTF-8".into()))?
                    .unwrap_or_default();
                if kind.is_symlink() {
                    Node::Symlink(symlink_target(&name, &target).map_err(|why| {
                        refuse(format!("is a symbolic link to {target:?}, which {why}"))
                    })?)
                } else {
                    Node::Hardlink(normalize(&target).map_err(|why| {
                        refuse(format!("is a hard link to {target:?}, whose name {why}"))
                    })?)
                }
            } else {
                // Directories, devices, FIFOs: nothing an image archive is read through.
                continue;
            };
            if name.is_empty() {
                return Err(refuse("names the archive root as a file".into()));
            }
            index.insert(name, node).map_err(refuse)?;
        }
        index.check_end(next_header)?;
        Ok(index)
    }

    fn insert(&mut self, name: String, node: Node) -> std::result::Result<(), String> {
        let Some(existing) = self.nodes.get(&name) else {
            self.nodes.insert(name, node);
            return Ok(());
        };
        let same = match (existing, &node) {
            (Node::File { offset: a, size: n }, Node::File { offset: b, size: m }) => {
                n == m
                    && self
                        .same_bytes(*a, *b, *n)
                        .map_err(|e| format!("cannot be compared with its duplicate: {e}"))?
            }
            (x, y) => x == y,
        };
        if same {
            Ok(())
        } else {
            Err("appears twice in the archive with different content".into())
        }
    }

    /// Whether two ranges of the archive hold the same bytes.
    fn same_bytes(&self, a: u64, b: u64, len: u64) -> std::io::Result<bool> {
        let mut fa = std::fs::File::open(&self.path)?;
        let mut fb = std::fs::File::open(&self.path)?;
        fa.seek(SeekFrom::Start(a))?;
        fb.seek(SeekFrom::Start(b))?;
        let (mut fa, mut fb) = (fa.take(len), fb.take(len));
        let mut ba = vec![0u8; 64 * 1024];
        let mut bb = vec![0u8; 64 * 1024];
        loop {
            let n = read_full(&mut fa, &mut ba)?;
            let m = read_full(&mut fb, &mut bb)?;
            if n != m || ba[..n] != bb[..m] {
                return Ok(false);
            }
            if n == 0 {
                return Ok(true);
            }
        }
    }

    /// A whole archive ends with a zero block; a truncated one does not.
    fn check_end(&self, at: u64) -> Result<()> {
        let truncated = || {
            Error::invalid_source(format!(
                "archive {} is truncated: it has no end-of-archive marker after its last entry",
                self.path.display()
            ))
        };
        if at + BLOCK > self.len {
            return Err(truncated());
        }
        let mut file = std::fs::File::open(&self.path).map_err(|e| {
            Error::invalid_source(format!(
                "cannot read archive {}: {}",
                self.path.display(),
                io_reason(&e)
            ))
        })?;
        let mut block = [0u8; BLOCK as usize];
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut block))
            .map_err(|_| truncated())?;
        if block.iter().any(|b| *b != 0) {
            return Err(truncated());
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `name` resolves to a regular file.
    pub fn contains(&self, name: &str) -> bool {
        matches!(self.lookup(name), Ok(Some(_)))
    }

    /// Finds the regular file called `name`, following links inside the archive. `Ok(None)`
    /// when there is none; an error for names that try to leave the archive and link loops.
    pub fn lookup(&self, name: &str) -> std::result::Result<Option<TarEntry>, String> {
        let mut path: Vec<String> = normalize(name)
            .map_err(|why| format!("the name {name:?} {why}"))?
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mut followed = 0;
        'resolve: loop {
            for i in 0..path.len() {
                let prefix = path[..=i].join("/");
                let last = i + 1 == path.len();
                match self.nodes.get(&prefix) {
                    None => {}
                    Some(Node::File { offset, size }) => {
                        return Ok(last.then_some(TarEntry {
                            name: prefix,
                            offset: *offset,
                            size: *size,
                        }))
                    }
                    Some(Node::Symlink(target)) | Some(Node::Hardlink(target)) => {
                        followed += 1;
                        if followed > MAX_LINKS {
                            return Err(format!("{name:?}: too many levels of links (a loop?)"));
                        }
                        let mut next: Vec<String> = target
                            .split('/')
                            .filter(|c| !c.is_empty())
                            .map(str::to_string)
                            .collect();
                        next.extend_from_slice(&path[i + 1..]);
                        path = next;
                        continue 'resolve;
                    }
                }
            }
            return Ok(None);
        }
    }

    /// Reads a whole file that must be small.
    pub async fn read_small(&self, entry: &TarEntry, limit: u64) -> std::io::Result<Vec<u8>> {
        if entry.size > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("file is larger than {limit} bytes"),
            ));
        }
        let mut reader = self.open_at(entry, 0).await?;
        let mut bytes = Vec::with_capacity(entry.size as usize);
        reader.read_to_end(&mut bytes).await?;
        if bytes.len() as u64 != entry.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the archive changed while it was read",
            ));
        }
        Ok(bytes)
    }

    /// The file's bytes from `offset` to its end.
    pub async fn open_at(
        &self,
        entry: &TarEntry,
        offset: u64,
    ) -> std::io::Result<Box<dyn AsyncRead + Send + Unpin>> {
        let mut file = tokio::fs::File::open(&self.path).await?;
        let offset = offset.min(entry.size);
        file.seek(SeekFrom::Start(entry.offset + offset)).await?;
        Ok(Box::new(file.take(entry.size - offset)))
    }

    /// The same, for blocking readers (the compressing thread).
    pub fn open_at_blocking(
        &self,
        entry: &TarEntry,
    ) -> std::io::Result<std::io::Take<std::fs::File>> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(entry.offset))?;
        Ok(file.take(entry.size))
    }

    /// The first bytes of a file (up to `n`), to tell what it holds.
    pub fn peek(&self, entry: &TarEntry, n: usize) -> std::io::Result<Vec<u8>> {
        let mut reader = self.open_at_blocking(entry)?;
        let mut buf = vec![0u8; n];
        let got = read_full(&mut reader, &mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// `./a//b/` -> `a/b`. Refuses absolute names and `..` anywhere: an archive that has them is
/// either made to escape a directory when extracted or not made by an image tool.
pub fn normalize(name: &str) -> std::result::Result<String, &'static str> {
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    if name.contains('\0') {
        return Err("contains a NUL byte");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("contains '..'"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A symbolic link's target as an archive path: relative to the link's directory, and never
/// leaving the archive.
fn symlink_target(link: &str, target: &str) -> std::result::Result<String, &'static str> {
    if target.starts_with('/') {
        return Err("is absolute: it points outside the archive");
    }
    let mut parts: Vec<&str> = link.split('/').filter(|p| !p.is_empty()).collect();
    parts.pop(); // the link's own name
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("points outside the archive");
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("points at the archive root, not a file");
    }
    Ok(parts.join("/"))
}

/// What a file's first bytes say it is, when it is something we cannot read in place.
pub fn compression_of(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One raw tar header + data; `kind` is the typeflag byte. No path sanitizing, so tests can
    /// make hostile archives.
    pub(crate) fn raw_entry(name: &str, kind: u8, link: &str, data: &[u8]) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().linkflag = [kind];
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    pub(crate) fn finish(entries: Vec<Vec<u8>>) -> Vec<u8> {
        let mut out: Vec<u8> = entries.concat();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn index_of(bytes: &[u8]) -> (tempfile::TempDir, Result<TarIndex>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, bytes).unwrap();
        let index = TarIndex::build(&path);
        (dir, index)
    }

    #[test]
    fn names_normalize_and_refuse_escapes() {
        assert_eq!(normalize("./a//b/").unwrap(), "a/b");
        assert_eq!(normalize("index.json").unwrap(), "index.json");
        assert!(normalize("/etc/passwd").is_err());
        assert!(normalize("a/../../b").is_err());
        assert!(normalize("..").is_err());
        assert_eq!(symlink_target("a/layer.tar", "../b.tar").unwrap(), "b.tar");
        assert_eq!(symlink_target("x", "blobs/./y").unwrap(), "blobs/y");
        assert!(symlink_target("a/l", "../../etc/passwd").is_err());
        assert!(symlink_target("l", "/etc/passwd").is_err());
    }

    #[test]
    fn indexes_files_and_follows_links() {
        let tar = finish(vec![
            raw_entry("./", b'5', "", b""),
            raw_entry("./oci-layout", b'0', "", b"{}"),
            raw_entry("a.tar", b'0', "", b"layer bytes"),
            raw_entry("id/layer.tar", b'2', "../a.tar", b""),
            raw_entry("hard", b'1', "a.tar", b""),
            raw_entry("dir", b'2', "id", b""),
            raw_entry("fifo", b'6', "", b""),
        ]);
        let (_dir, index) = index_of(&tar);
        let index = index.unwrap();
        let a = index.lookup("a.tar").unwrap().unwrap();
        assert_eq!(a.size, 11);
        assert_eq!(a.offset % 512, 0);
        assert_eq!(index.lookup("id/layer.tar").unwrap().unwrap(), a);
        assert_eq!(index.lookup("./hard").unwrap().unwrap(), a);
        assert_eq!(index.lookup("dir/layer.tar").unwrap().unwrap(), a);
        assert!(index.contains("oci-layout"));
        assert_eq!(index.lookup("missing").unwrap(), None);
        assert_eq!(index.lookup("fifo").unwrap(), None);
        assert_eq!(index.lookup("a.tar/x").unwrap(), None);
        assert!(index.lookup("../a.tar").is_err());
        assert_eq!(index.peek(&a, 5).unwrap(), b"layer");
    }

    #[tokio::test]
    async fn reads_from_any_offset() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
        let tar = finish(vec![
            raw_entry("before", b'0', "", b"xyz"),
            raw_entry("blob", b'0', "", &data),
            raw_entry("after", b'0', "", b"abc"),
        ]);
        let (_dir, index) = index_of(&tar);
        let index = index.unwrap();
        let entry = index.lookup("blob").unwrap().unwrap();
        for offset in [0u64, 1, 511, 512, 4999, 5000, 6000] {
            let mut out = Vec::new();
            index
                .open_at(&entry, offset)
                .await
                .unwrap()
                .read_to_end(&mut out)
                .await
                .unwrap();
            let from = (offset as usize).min(data.len());
            assert_eq!(out, &data[from..], "offset {offset}");
        }
        assert_eq!(index.read_small(&entry, 10_000).await.unwrap(), data);
        assert!(index.read_small(&entry, 100).await.is_err());
    }

    #[test]
    fn link_loops_are_errors() {
        let tar = finish(vec![
            raw_entry("a", b'2', "b", b""),
            raw_entry("b", b'2', "a", b""),
        ]);
        let (_dir, index) = index_of(&tar);
        assert!(index.unwrap().lookup("a").unwrap_err().contains("loop"));
    }

    #[test]
    fn hostile_entries_are_refused() {
        for (entry, want) in [
            (raw_entry("../x", b'0', "", b"x"), "contains '..'"),
            (raw_entry("/etc/x", b'0', "", b"x"), "absolute path"),
            (
                raw_entry("l", b'2', "/etc/passwd", b""),
                "outside the archive",
            ),
            (
                raw_entry("d/l", b'2', "../../x", b""),
                "outside the archive",
            ),
            (raw_entry("h", b'1', "../x", b""), "contains '..'"),
            (raw_entry("s", b'S', "", b""), "sparse"),
        ] {
            let tar = finish(vec![raw_entry("ok", b'0', "", b"fine"), entry]);
            let (_dir, index) = index_of(&tar);
            let err = index.unwrap_err();
            assert!(err.message().contains(want), "{err}");
            assert!(err.message().contains("a.tar"), "{err}");
        }
    }

    #[test]
    fn duplicates_must_agree() {
        let same = finish(vec![
            raw_entry("blob", b'0', "", b"same"),
            raw_entry("blob", b'0', "", b"same"),
        ]);
        assert!(index_of(&same).1.is_ok());
        let differ = finish(vec![
            raw_entry("blob", b'0', "", b"same"),
            raw_entry("./blob", b'0', "", b"diff"),
        ]);
        let err = index_of(&differ).1.unwrap_err();
        assert!(err.message().contains("twice"), "{err}");
        assert!(err.message().contains("blob"), "{err}");
    }

    #[test]
    fn truncated_and_garbage_archives_fail() {
        let whole = finish(vec![
            raw_entry("a", b'0', "", &[7u8; 2000]),
            raw_entry("b", b'0', "", b"b"),
        ]);
        assert!(index_of(&whole).1.is_ok());
        // Cut inside a's data, at an entry boundary (no end marker), inside a header.
        for cut in [1000, 2560, 2560 + 100] {
            let err = index_of(&whole[..cut]).1.unwrap_err();
            assert!(
                err.message().contains("truncated") || err.message().contains("corrupted"),
                "cut at {cut}: {err}"
            );
        }
        let err = index_of(b"this is not a tar archive at all").1.unwrap_err();
        assert!(err.message().contains("not a tar archive"), "{err}");
        let mut flipped = whole.clone();
        flipped[10] ^= 1; // the first header's checksum no longer matches
        let err = index_of(&flipped).1.unwrap_err();
        assert!(err.message().contains("not a tar archive"), "{err}");
        let err = index_of(b"").1.unwrap_err();
        assert!(err.message().contains("empty"), "{err}");
    }

    #[test]
    fn reads_pax_and_long_names_written_by_the_tar_crate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let long = format!("blobs/sha256/{}", "a".repeat(120));
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        builder.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        builder.into_inner().unwrap();
        let index = TarIndex::build(&path).unwrap();
        let e = index.lookup(&long).unwrap().unwrap();
        assert_eq!(index.peek(&e, 10).unwrap(), b"abc");
    }

    #[test]
    fn compression_magic() {
        assert_eq!(compression_of(&[0x1f, 0x8b, 8]), Some("gzip"));
        assert_eq!(compression_of(&[0x28, 0xb5, 0x2f, 0xfd]), Some("zstd"));
        assert_eq!(compression_of(b"ustar"), None);
    }
}
