//! Platforms (`os/arch[/variant]`): choosing one image of a multi-platform index, and checking
//! that a single image is the platform asked for.

use super::manifest::ImageNode;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::fmt;

/// A platform as index entries and image configs give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = |why: &str| {
            Error::invalid_argument(format!(
                "platform {s:?} {why}; write os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"
            ))
        };
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad("is not os/arch[/variant]"));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("has an empty part"));
        }
        if parts.iter().any(|p| {
            !p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        }) {
            return Err(bad(
                "has characters other than letters, digits, '.', '-' and '_'",
            ));
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// The architecture under its canonical (GOARCH) name.
    fn arch(&self) -> &str {
        match self.architecture.as_str() {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            "i386" | "i686" => "386",
            other => other,
        }
    }

    /// The variant, with the default that an absent one means for its architecture.
    fn variant(&self) -> Option<&str> {
        match (self.arch(), self.variant.as_deref()) {
            (_, Some(v)) if !v.is_empty() => Some(v),
            ("arm64", _) => Some("v8"),
            ("arm", _) => Some("v7"),
            _ => None,
        }
    }

    /// Whether this (an image's platform) is what `want` asks for. A request without a variant
    /// takes any variant.
    pub fn satisfies(&self, want: &Platform) -> bool {
        self.os.eq_ignore_ascii_case(&want.os)
            && self.arch() == want.arch()
            && (want.variant.is_none() || self.variant() == want.variant())
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) if !v.is_empty() => write!(f, "/{v}"),
            _ => Ok(()),
        }
    }
}

/// The platform an image config declares (`os`, `architecture`, `variant`).
pub fn of_config(config: &[u8]) -> Option<Platform> {
    serde_json::from_slice::<Platform>(config).ok()
}

/// From an index, the first image (depth first) whose index entry is for `want`; the error
/// lists the platforms there are.
pub fn select(root: ImageNode, want: &Platform, what: &str) -> Result<ImageNode> {
    let mut available = Vec::new();
    match find(root, want, &mut available) {
        Some(node) => Ok(node),
        None => {
            available.dedup();
            Err(Error::invalid_source(format!(
                "{what} has no image for platform {want} (it has: {})",
                if available.is_empty() {
                    "no platform information".to_string()
                } else {
                    available.join(", ")
                }
            )))
        }
    }
}

fn find(node: ImageNode, want: &Platform, available: &mut Vec<String>) -> Option<ImageNode> {
    match node {
        ImageNode::Index { children, .. } => {
            for child in children {
                if let Some(found) = find(child, want, available) {
                    return Some(found);
                }
            }
            None
        }
        ImageNode::Manifest { ref manifest, .. } => match &manifest.platform {
            Some(p) if p.satisfies(want) => Some(node),
            Some(p) => {
                // Attestations and the like (`unknown/unknown`) are no platform to offer.
                if p.os != "unknown" {
                    available.push(p.to_string());
                }
                None
            }
            None => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        let v8 = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(v8.satisfies(&p));
        assert!(v8.satisfies(&Platform::parse("linux/arm64/v8").unwrap()));
        let plain = Platform::parse("linux/arm64").unwrap();
        assert!(plain.satisfies(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!plain.satisfies(&Platform::parse("linux/amd64").unwrap()));
        let v6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!v6.satisfies(&Platform::parse("linux/arm/v7").unwrap()));
        assert!(v6.satisfies(&Platform::parse("linux/arm").unwrap()));
        let aarch64 = Platform {
            os: "linux".into(),
            architecture: "aarch64".into(),
            variant: None,
        };
        assert!(aarch64.satisfies(&Platform::parse("linux/arm64/v8").unwrap()));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_config_platform() {
        let p = of_config(br#"{"architecture":"amd64","os":"linux","rootfs":{}}"#).unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        assert!(of_config(b"{}").is_none());
    }
}
