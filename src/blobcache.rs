//! A small local record of which repositories of which registry received which blobs, so a
//! push to a new repository can mount (`?mount=&from=`) instead of sending bytes again — the
//! idea of containers/image's blob-info cache.
//!
//! Storage is one append-only file of `registry repository digest` lines under the user's cache
//! directory. Appends use `O_APPEND` with one `write` per line, which the kernel keeps whole
//! against other appenders, so concurrent pushes (threads or processes) can share it without a
//! lock. When the file grows past [`COMPACT_OVER`] it is rewritten (newest records kept) to a
//! temporary file and renamed over; a record appended during that window may be lost, which
//! costs at most one mount. Records are hints only: a failed mount falls back to an upload.
//!
//! A sibling file of the same kind records, per registry, what an uncompressed layer (by its
//! `diff_id`) became when it was gzip-compressed on the way up (`registry diff_id digest size`),
//! so that pushing the same docker archive again asks the registry for the compressed blob
//! instead of compressing the layer again. Gzip output is not guaranteed to be the same twice,
//! which is why it is recorded rather than recomputed.

use crate::digest::Digest;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE_NAME: &str = "blob-locations-v1.txt";
const COMPRESSED_FILE_NAME: &str = "compressed-layers-v1.txt";
/// Rewrite the file with its newer half when it is larger than this.
const COMPACT_OVER: u64 = 4 * 1024 * 1024;
/// Repositories remembered per (registry, digest).
const REPOS_PER_BLOB: usize = 4;

pub struct BlobCache {
    path: PathBuf,
    /// (registry, digest) -> repositories, newest last.
    known: Mutex<HashMap<(String, String), Vec<String>>>,
    compressed_path: PathBuf,
    /// (registry, diff_id) -> (compressed digest, size), the newest record.
    compressed: Mutex<HashMap<(String, String), (Digest, u64)>>,
}

impl BlobCache {
    /// The cache in `dir`, or in `$IDP_PUSH_CACHE_DIR`, `$XDG_CACHE_HOME/idp-push` or
    /// `~/.cache/idp-push`. `None` when no directory can be found or made: the push simply
    /// does without mounts.
    pub fn open(dir: Option<&Path>) -> Option<BlobCache> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => default_dir()?,
        };
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(FILE_NAME);
        let mut known: HashMap<(String, String), Vec<String>> = HashMap::new();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in newest(&text).lines() {
            let mut parts = line.split(' ');
            let (Some(registry), Some(repository), Some(digest), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue; // a torn or foreign line: ignore it
            };
            if Digest::parse(digest).is_err() {
                continue;
            }
            remember(
                &mut known,
                registry.to_string(),
                repository.to_string(),
                digest.to_string(),
            );
        }
        let compressed_path = dir.join(COMPRESSED_FILE_NAME);
        let compressed_text = std::fs::read_to_string(&compressed_path).unwrap_or_default();
        let mut compressed = HashMap::new();
        for line in newest(&compressed_text).lines() {
            let mut parts = line.split(' ');
            let (Some(registry), Some(diff_id), Some(digest), Some(size), None) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                continue;
            };
            let (Ok(_), Ok(digest), Ok(size)) = (
                Digest::parse(diff_id),
                Digest::parse(digest),
                size.parse::<u64>(),
            ) else {
                continue;
            };
            compressed.insert((registry.to_string(), diff_id.to_string()), (digest, size));
        }
        let cache = BlobCache {
            path,
            known: Mutex::new(known),
            compressed_path,
            compressed: Mutex::new(compressed),
        };
        if text.len() as u64 > COMPACT_OVER {
            cache.compact();
        }
        if compressed_text.len() as u64 > COMPACT_OVER {
            cache.compact_compressed();
        }
        Some(cache)
    }

    /// Repositories of `registry` other than `except` known to hold `digest`, newest first.
    pub fn candidates(&self, registry: &str, digest: &Digest, except: &str) -> Vec<String> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(&(registry.to_string(), digest.to_string()))
            .map(|repos| {
                repos
                    .iter()
                    .rev()
                    .filter(|r| r.as_str() != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records that `repository` of `registry` holds `digest`.
    pub fn record(&self, registry: &str, repository: &str, digest: &Digest) {
        {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let entry = known
                .get(&(registry.to_string(), digest.to_string()))
                .and_then(|repos| repos.last());
            if entry.map(String::as_str) == Some(repository) {
                return; // already the newest record
            }
            remember(
                &mut known,
                registry.to_string(),
                repository.to_string(),
                digest.to_string(),
            );
        }
        let line = format!("{registry} {repository} {digest}\n");
        // One write call per line: see the module comment. Failures only lose a hint.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }

    /// What the layer `diff_id` became when compressed for `registry`: (digest, size).
    pub fn compressed(&self, registry: &str, diff_id: &Digest) -> Option<(Digest, u64)> {
        let compressed = self.compressed.lock().unwrap_or_else(|p| p.into_inner());
        compressed
            .get(&(registry.to_string(), diff_id.to_string()))
            .cloned()
    }

    /// Records that layer `diff_id` went up to `registry` compressed as `digest` of `size` bytes.
    pub fn record_compressed(&self, registry: &str, diff_id: &Digest, digest: &Digest, size: u64) {
        {
            let mut compressed = self.compressed.lock().unwrap_or_else(|p| p.into_inner());
            let key = (registry.to_string(), diff_id.to_string());
            if compressed.get(&key) == Some(&(digest.clone(), size)) {
                return;
            }
            compressed.insert(key, (digest.clone(), size));
        }
        let line = format!("{registry} {diff_id} {digest} {size}\n");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.compressed_path)
        {
            let _ = file.write_all(line.as_bytes());
        }
    }

    fn compact_compressed(&self) {
        let compressed = self.compressed.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::new();
        for ((registry, diff_id), (digest, size)) in compressed.iter() {
            text.push_str(&format!("{registry} {diff_id} {digest} {size}\n"));
        }
        let tmp = self
            .compressed_path
            .with_extension(format!("tmp.{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok()
            && std::fs::rename(&tmp, &self.compressed_path).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn compact(&self) {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::new();
        for ((registry, digest), repos) in known.iter() {
            for repo in repos {
                text.push_str(&format!("{registry} {repo} {digest}\n"));
            }
        }
        let tmp = self
            .path
            .with_extension(format!("tmp.{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &self.path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The records to keep of a file's `text`: all of it, or once it has grown past
/// [`COMPACT_OVER`] its newer half (records are appended, so the newest are last), which the
/// compaction then writes back.
fn newest(text: &str) -> &str {
    if text.len() as u64 <= COMPACT_OVER {
        return text;
    }
    let mut start = text.len() - (COMPACT_OVER / 2) as usize;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // From the first whole line on.
    match text[start..].find('\n') {
        Some(i) => &text[start + i + 1..],
        None => "",
    }
}

fn remember(
    known: &mut HashMap<(String, String), Vec<String>>,
    registry: String,
    repository: String,
    digest: String,
) {
    let repos = known.entry((registry, digest)).or_default();
    repos.retain(|r| *r != repository);
    repos.push(repository);
    if repos.len() > REPOS_PER_BLOB {
        repos.remove(0);
    }
}

fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("IDP_PUSH_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("idp-push"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("idp-push"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn records_survive_reopen_and_skip_own_repo() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(Some(dir.path())).unwrap();
        cache.record("reg:5000", "a/one", &d('a'));
        cache.record("reg:5000", "a/two", &d('a'));
        cache.record("other:5000", "a/three", &d('a'));
        let again = BlobCache::open(Some(dir.path())).unwrap();
        assert_eq!(
            again.candidates("reg:5000", &d('a'), "a/one"),
            vec!["a/two"]
        );
        assert_eq!(
            again.candidates("reg:5000", &d('a'), "x"),
            vec!["a/two", "a/one"]
        );
        assert!(again.candidates("reg:5000", &d('b'), "x").is_empty());
    }

    #[test]
    fn an_oversized_file_keeps_its_newer_half() {
        let dir = tempfile::tempdir().unwrap();
        // Distinct records, so that only dropping old ones can make the file smaller.
        let mut text = String::new();
        let mut n = 0u64;
        while text.len() as u64 <= COMPACT_OVER {
            text.push_str(&format!("reg repo{n} sha256:{:064x}\n", n));
            n += 1;
        }
        std::fs::write(dir.path().join(FILE_NAME), &text).unwrap();
        let digest = |i: u64| Digest::parse(&format!("sha256:{i:064x}")).unwrap();
        let cache = BlobCache::open(Some(dir.path())).unwrap();
        assert_eq!(
            cache.candidates("reg", &digest(n - 1), "x"),
            vec![format!("repo{}", n - 1)]
        );
        assert!(
            cache.candidates("reg", &digest(0), "x").is_empty(),
            "the oldest is dropped"
        );
        let size = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert!(
            size <= COMPACT_OVER / 2,
            "rewritten with the newer half: {size} bytes"
        );
        // The next push finds the file small: nothing to rewrite.
        drop(cache);
        BlobCache::open(Some(dir.path())).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(),
            size
        );
    }

    #[test]
    fn ignores_garbage_and_bounds_repos() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "garbage\nreg repo sha256:nothex\nreg a b c d\n",
        )
        .unwrap();
        let cache = BlobCache::open(Some(dir.path())).unwrap();
        for i in 0..10 {
            cache.record("reg", &format!("r{i}"), &d('c'));
        }
        assert_eq!(cache.candidates("reg", &d('c'), "x").len(), REPOS_PER_BLOB);
        assert_eq!(cache.candidates("reg", &d('c'), "x")[0], "r9");
    }

    #[test]
    fn compressed_records_survive_reopen_and_newest_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(COMPRESSED_FILE_NAME),
            format!("garbage\nreg {} {} notasize\n", d('a'), d('b')),
        )
        .unwrap();
        let cache = BlobCache::open(Some(dir.path())).unwrap();
        assert_eq!(cache.compressed("reg", &d('a')), None);
        cache.record_compressed("reg", &d('a'), &d('b'), 10);
        cache.record_compressed("reg", &d('a'), &d('c'), 11);
        cache.record_compressed("other", &d('a'), &d('e'), 12);
        let again = BlobCache::open(Some(dir.path())).unwrap();
        assert_eq!(again.compressed("reg", &d('a')), Some((d('c'), 11)));
        assert_eq!(again.compressed("other", &d('a')), Some((d('e'), 12)));
        assert_eq!(again.compressed("reg", &d('b')), None);
    }

    #[test]
    fn concurrent_appends_keep_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = dir.path().to_path_buf();
                s.spawn(move || {
                    let cache = BlobCache::open(Some(&path)).unwrap();
                    for i in 0..200 {
                        cache.record("reg", &format!("t{t}/r{i}"), &d('e'));
                    }
                });
            }
        });
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(text.lines().count(), 8 * 200);
        assert!(text.lines().all(|l| l.split(' ').count() == 3));
    }
}
