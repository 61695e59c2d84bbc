//! Destination references: `host[:port]/path[:tag]` or `host[:port]/path@sha256:...`.
//!
//! Written here rather than taken from a crate because the crates we looked at (oci-spec's
//! `Reference`, oci-client's) default a missing host to Docker Hub and report every problem as
//! "invalid reference format"; a push tool aimed at a local registry must say *what* is wrong.
//! The grammar is the one of distribution/reference.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// Where an image goes: registry host, repository path and a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`, exactly as written (lowercased).
    pub registry: String,
    /// Repository path below the registry, e.g. `giteaadmin/app`.
    pub repository: String,
    /// Tag to set; `None` when the reference names a digest only.
    pub tag: Option<String>,
    /// Digest the pushed manifest must have (`@sha256:...`), if given.
    pub digest: Option<String>,
}

const MAX_TAG_LEN: usize = 128;
const MAX_NAME_LEN: usize = 255;

fn bad(reference: &str, why: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidReference,
        format!("invalid destination {reference:?}: {why}"),
    )
}

impl Reference {
    /// Parses a destination. A missing tag means `latest`, as with `docker push`.
    pub fn parse(input: &str) -> Result<Reference> {
        if input.is_empty() {
            return Err(bad(input, "it is empty; write HOST[:PORT]/PATH[:TAG]"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(input, "it contains whitespace or control characters"));
        }
        let stripped = input
            .strip_prefix("docker://")
            .or_else(|| input.strip_prefix("oci://"))
            .unwrap_or(input);
        if stripped.contains("://") {
            return Err(bad(
                input,
                "a URL scheme is not allowed; write HOST[:PORT]/PATH[:TAG]",
            ));
        }

        let (name_and_tag, digest) = match stripped.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(input, d)?)),
            None => (stripped, None),
        };
        let (host, rest) = name_and_tag.split_once('/').ok_or_else(|| {
            bad(
                input,
                "it has no registry host; write HOST[:PORT]/PATH[:TAG]",
            )
        })?;
        if !looks_like_host(host) {
            return Err(bad(
                input,
                format!(
                    "{host:?} is not a registry host (a host has a dot or a port, or is localhost); \
                     write HOST[:PORT]/PATH[:TAG]"
                ),
            ));
        }
        let registry = parse_host(input, host)?;

        // A tag follows the last ':' of the last path component.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        validate_path(input, path)?;
        let tag = match tag {
            Some(t) => Some(validate_tag(input, t)?.to_string()),
            None if digest.is_none() => Some("latest".to_string()),
            None => None,
        };
        Ok(Reference {
            registry,
            repository: path.to_string(),
            tag,
            digest,
        })
    }

    /// What the manifest is stored under: the tag, or the digest when there is no tag.
    pub fn manifest_reference(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("latest")
    }

    /// `host/path:tag` without any digest.
    pub fn without_digest(&self) -> String {
        match &self.tag {
            Some(t) => format!("{}/{}:{}", self.registry, self.repository, t),
            None => format!("{}/{}", self.registry, self.repository),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.without_digest())?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn looks_like_host(host: &str) -> bool {
    host.contains('.') || host.contains(':') || host == "localhost" || host.starts_with('[')
}

/// Parses `host`, `host:port` or `[v6]:port` for a registry (not a full reference).
pub fn parse_registry(input: &str) -> Result<String> {
    let host = input
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(Error::new(
            ErrorKind::InvalidReference,
            format!("invalid registry {input:?}: write HOST[:PORT]"),
        ));
    }
    parse_host(input, host)
}

fn parse_host(input: &str, host: &str) -> Result<String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(input, "an IPv6 host lacks its closing ']'"))?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(input, format!("{v6:?} is not an IPv6 address")));
        }
        match after {
            "" => (host, None),
            p if p.starts_with(':') => (&host[..host.len() - p.len()], Some(&p[1..])),
            _ => return Err(bad(input, "unexpected text after the IPv6 host")),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if !name.starts_with('[') {
        if name.is_empty() {
            return Err(bad(input, "the registry host is empty"));
        }
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !name.split('.').all(valid_label) {
            return Err(bad(
                input,
                format!("{name:?} is not a valid host name (letters, digits, '-' and '.')"),
            ));
        }
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) && !p.starts_with('0') => {}
            _ => {
                return Err(bad(
                    input,
                    format!("port {p:?} is not a number from 1 to 65535"),
                ))
            }
        }
    }
    Ok(host.to_ascii_lowercase())
}

fn validate_path(input: &str, path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(bad(input, "the repository path is empty"));
    }
    if path.len() > MAX_NAME_LEN {
        return Err(bad(
            input,
            format!("the repository path is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(bad(input, "the repository path has an empty component"));
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad(
                input,
                format!(
                    "repository path component {component:?} has uppercase letters; \
                     registries require lowercase (try {:?})",
                    component.to_ascii_lowercase()
                ),
            ));
        }
        if !valid_component(component) {
            return Err(bad(
                input,
                format!(
                    "repository path component {component:?} is invalid: use lowercase letters \
                     and digits, separated by '.', '_', '__' or '-'"
                ),
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn validate_tag<'a>(input: &str, tag: &'a str) -> Result<&'a str> {
    if tag.is_empty() {
        return Err(bad(input, "the tag after ':' is empty"));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(bad(
            input,
            format!("the tag is longer than {MAX_TAG_LEN} characters"),
        ));
    }
    let first = tag.as_bytes()[0];
    let ok_first = first.is_ascii_alphanumeric() || first == b'_';
    let ok_rest = tag
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if !ok_first || !ok_rest {
        return Err(bad(
            input,
            format!(
                "tag {tag:?} is invalid: use letters, digits, '_', '.' and '-', not starting with '.' or '-'"
            ),
        ));
    }
    Ok(tag)
}

fn parse_digest(input: &str, digest: &str) -> Result<String> {
    match crate::digest::Digest::parse(digest) {
        Ok(d) => Ok(d.to_string()),
        Err(e) => Err(bad(input, e.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_path_tag() {
        let r = Reference::parse("gitea.cnoe.localtest.me:8443/giteaadmin/app:1").unwrap();
        assert_eq!(r.registry, "gitea.cnoe.localtest.me:8443");
        assert_eq!(r.repository, "giteaadmin/app");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.digest, None);
        assert_eq!(
            r.to_string(),
            "gitea.cnoe.localtest.me:8443/giteaadmin/app:1"
        );
    }

    #[test]
    fn missing_tag_means_latest() {
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.manifest_reference(), "latest");
    }

    #[test]
    fn digest_only_reference() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/a/b@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.manifest_reference(), d);
    }

    #[test]
    fn ipv6_host() {
        let r = Reference::parse("[::1]:5000/app:v1").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("", "empty"),
            ("giteaadmin/app:1", "not a registry host"),
            ("app", "no registry host"),
            ("localhost:5000/Giteaadmin/app", "uppercase"),
            ("localhost:99999/app", "port"),
            ("localhost:abc/app", "port"),
            ("localhost:5000/app:", "tag after ':' is empty"),
            ("localhost:5000/app:-x", "tag \"-x\" is invalid"),
            ("localhost:5000//app", "empty component"),
            ("localhost:5000/a..b", "invalid"),
            ("localhost:5000/app@sha256:zz", "digest"),
            ("https://localhost:5000/app", "URL scheme"),
            ("local host:5000/app", "whitespace"),
        ];
        for (input, want) in cases {
            let err = Reference::parse(input).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidReference, "{input}");
            assert!(
                err.message().contains(want),
                "{input:?}: {:?} lacks {want:?}",
                err.message()
            );
        }
    }

    #[test]
    fn component_grammar() {
        for ok in ["a", "a.b", "a_b", "a__b", "a-b", "a---b", "0x"] {
            assert!(valid_component(ok), "{ok}");
        }
        for bad in ["_a", "a_", "a___b", "a._b", ".a", "a-"] {
            assert!(!valid_component(bad), "{bad}");
        }
    }

    #[test]
    fn registry_forms() {
        assert_eq!(
            parse_registry("https://Reg.io:5000/").unwrap(),
            "reg.io:5000"
        );
        assert!(parse_registry("reg.io/path").is_err());
    }
}
