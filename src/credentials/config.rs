//! Reading docker's `config.json` and containers' `auth.json`, and matching registry keys the
//! way docker does.

use crate::auth::{Credentials, Secret};
use crate::error::{Error, ErrorKind, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use zeroize::Zeroizing;

/// The key docker uses for Docker Hub, in `auths` and towards credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The parts of a docker `config.json` (or a containers `auth.json`) that hold credentials.
/// Every other key is ignored here (and kept intact when saving).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuthConfigFile {
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    pub creds_store: Option<String>,
    #[serde(rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry. Its fields hold secrets, so it has no `Debug`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuthEntry {
    pub auth: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub identitytoken: Option<Secret>,
}

impl std::fmt::Debug for AuthConfigFile {
    /// Names the keys and helpers, never an entry's contents.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfigFile")
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("credsStore", &self.creds_store)
            .field("credHelpers", &self.cred_helpers)
            .finish()
    }
}

impl AuthConfigFile {
    /// Reads a config file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<AuthConfigFile>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "cannot read {}: {}",
                        path.display(),
                        crate::error::io_reason(&e)
                    ),
                ))
            }
        };
        Self::parse(&bytes)
            .map(Some)
            .map_err(|why| Error::invalid_argument(format!("{}: {why}", path.display())))
    }

    /// Parses config JSON. The error never quotes the input (it holds secrets).
    pub fn parse(bytes: &[u8]) -> std::result::Result<AuthConfigFile, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            // docker treats an empty file as an empty configuration.
            return Ok(AuthConfigFile::default());
        }
        serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's messages name the position and the expected type, never the data.
            format!(
                "not a valid credentials configuration (line {}, column {}: {})",
                e.line(),
                e.column(),
                classify(&e)
            )
        })
    }

    /// The `auths` entry for `registry` (canonical `host[:port]`): the exact key first, then
    /// any key that normalises to the same registry (`https://host/v1/`, `http://host`...).
    pub fn auth_entry(&self, registry: &str) -> Option<(&str, &AuthEntry)> {
        for key in exact_keys(registry) {
            if let Some((k, e)) = self.auths.get_key_value(key.as_str()) {
                return Some((k.as_str(), e));
            }
        }
        self.auths
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(k, e)| (k.as_str(), e))
    }

    /// The per-registry helper from `credHelpers`, matched like `auths` keys.
    pub fn cred_helper(&self, registry: &str) -> Option<&str> {
        for key in exact_keys(registry) {
            if let Some(h) = self.cred_helpers.get(key.as_str()) {
                return Some(h.as_str()).filter(|h| !h.is_empty());
            }
        }
        self.cred_helpers
            .iter()
            .find(|(k, _)| normalize_key(k) == registry)
            .map(|(_, h)| h.as_str())
            .filter(|h| !h.is_empty())
    }

    /// The default helper (`credsStore`), if set and not empty.
    pub fn creds_store(&self) -> Option<&str> {
        self.creds_store.as_deref().filter(|s| !s.is_empty())
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Eof => "unexpected end of file",
        serde_json::error::Category::Data => "a field has the wrong type",
        serde_json::error::Category::Io => "read error",
    }
}

impl AuthEntry {
    /// The credentials of this entry; `Ok(None)` for an empty entry (`{}`, as docker writes
    /// next to a `credsStore`). An `identitytoken` makes them identity-token credentials.
    pub fn credentials(&self) -> std::result::Result<Option<Credentials>, String> {
        let (mut username, mut password) = (String::new(), Secret::new(""));
        if let Some(auth) = self
            .auth
            .as_ref()
            .map(Secret::expose)
            .filter(|a| !a.is_empty())
        {
            let (u, p) = decode_auth(auth)?;
            username = u;
            password = p;
        } else if let Some(u) = self.username.as_deref().filter(|u| !u.is_empty()) {
            username = u.to_string();
            password = self.password.clone().unwrap_or_else(|| Secret::new(""));
        }
        let token = self.identitytoken.clone().filter(|t| !t.is_empty());
        Ok(match token {
            Some(token) => Some(Credentials {
                username,
                password,
                identity_token: Some(token),
            }),
            None if username.is_empty() => None,
            None => Some(Credentials {
                username,
                password,
                identity_token: None,
            }),
        })
    }
}

/// Decodes an `auth` field: base64 of `user:password`. Errors never show the value.
pub fn decode_auth(auth: &str) -> std::result::Result<(String, Secret), String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = Zeroizing::new(
        engine
            .decode(auth.trim())
            .map_err(|_| "its \"auth\" field is not valid base64".to_string())?,
    );
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| "its \"auth\" field does not decode to UTF-8 text".to_string())?;
    let (user, password) = text
        .split_once(':')
        .filter(|(u, _)| !u.is_empty())
        .ok_or_else(|| "its \"auth\" field does not decode to USER:PASSWORD".to_string())?;
    Ok((
        user.to_string(),
        Secret::new(password.trim_end_matches('\0')),
    ))
}

/// base64 of `user:password`, as the `auth` field holds it.
pub fn encode_auth(username: &str, password: &Secret) -> Zeroizing<String> {
    use base64::Engine as _;
    let plain = Zeroizing::new(format!("{username}:{}", password.expose()));
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()))
}

/// Docker Hub's other names; all of them mean the registry docker keys as [`DOCKER_HUB_KEY`].
const DOCKER_HUB_ALIASES: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// The canonical form of a registry as given by a user or a reference: `host[:port]`,
/// lowercase, without scheme or path; Docker Hub's names all become `docker.io`.
pub fn canonical_registry(registry: &str) -> String {
    normalize_key(registry)
}

/// Normalises a config key the way docker's `ConvertToHostname` does (scheme and path
/// dropped), lowercased, with Docker Hub's aliases folded into `docker.io`.
pub fn normalize_key(key: &str) -> String {
    let key = key.trim();
    let rest = match key.find("://") {
        Some(i) => &key[i + 3..],
        None => key,
    };
    let host = rest.split('/').next().unwrap_or("").to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        "docker.io".to_string()
    } else {
        host
    }
}

/// The keys that match `registry` exactly, most specific first: docker's own key for it,
/// then the bare `host[:port]`.
fn exact_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io" {
        let mut keys = vec![DOCKER_HUB_KEY.to_string()];
        keys.extend(DOCKER_HUB_ALIASES.iter().map(|s| s.to_string()));
        keys
    } else {
        vec![registry.to_string()]
    }
}

/// The server URL docker gives credential helpers, and the key it writes in `auths`.
pub fn server_url(registry: &str) -> String {
    if registry == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_like_docker() {
        for (key, want) in [
            (
                "https://gitea.cnoe.localtest.me:8443/v1/",
                "gitea.cnoe.localtest.me:8443",
            ),
            (
                "https://gitea.cnoe.localtest.me:8443",
                "gitea.cnoe.localtest.me:8443",
            ),
            (
                "http://gitea.cnoe.localtest.me:8443/",
                "gitea.cnoe.localtest.me:8443",
            ),
            (
                "gitea.cnoe.localtest.me:8443",
                "gitea.cnoe.localtest.me:8443",
            ),
            (
                "Gitea.CNOE.localtest.me:8443/giteaadmin",
                "gitea.cnoe.localtest.me:8443",
            ),
            ("gitea.cnoe.localtest.me", "gitea.cnoe.localtest.me"),
            ("https://index.docker.io/v1/", "docker.io"),
            ("index.docker.io", "docker.io"),
            ("registry-1.docker.io", "docker.io"),
            ("docker.io", "docker.io"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("[::1]:5000", "[::1]:5000"),
        ] {
            assert_eq!(normalize_key(key), want, "{key}");
        }
        assert_eq!(server_url("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_url("h:1"), "h:1");
    }

    fn creds(json: &str, registry: &str) -> Option<Credentials> {
        let file = AuthConfigFile::parse(json.as_bytes()).unwrap();
        file.auth_entry(registry)
            .and_then(|(_, e)| e.credentials().unwrap())
    }

    #[test]
    fn auth_entries_decode() {
        // "user:pa:ss" (a password may hold colons)
        let c = creds(r#"{"auths":{"h:1":{"auth":"dXNlcjpwYTpzcw=="}}}"#, "h:1").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("user", "pa:ss")
        );
        assert!(c.identity_token.is_none());
        // Missing padding is accepted, as some tools write it so.
        let c = creds(r#"{"auths":{"h:1":{"auth":"dXNlcjpwYTpzcw"}}}"#, "h:1").unwrap();
        assert_eq!(c.password.expose(), "pa:ss");
        // username/password fields
        let c = creds(
            r#"{"auths":{"https://h:1/v1/":{"username":"u","password":"p"}}}"#,
            "h:1",
        )
        .unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "p"));
        // identity token, with and without a user name
        let c = creds(
            r#"{"auths":{"h:1":{"auth":"dTo=","identitytoken":"tok"}}}"#,
            "h:1",
        )
        .unwrap();
        assert_eq!(c.username, "u");
        assert_eq!(c.identity_token.as_ref().unwrap().expose(), "tok");
        let c = creds(r#"{"auths":{"h:1":{"identitytoken":"tok"}}}"#, "h:1").unwrap();
        assert_eq!(c.username, "");
        assert_eq!(c.identity_token.unwrap().expose(), "tok");
        // Empty entries (docker writes them next to a credsStore) hold nothing.
        assert!(creds(r#"{"auths":{"h:1":{}}}"#, "h:1").is_none());
        assert!(creds(r#"{"auths":{"h:1":{"auth":""}}}"#, "h:1").is_none());
        assert!(creds(r#"{"auths":{"other:1":{"auth":"dTpw"}}}"#, "h:1").is_none());
        assert!(creds(r#"{}"#, "h:1").is_none());
        assert!(creds("  \n", "h:1").is_none());
    }

    #[test]
    fn exact_key_beats_normalised_key() {
        let json = r#"{"auths":{
            "https://h:1/v1/":{"auth":"b2xkOm9sZA=="},
            "h:1":{"auth":"bmV3Om5ldw=="}}}"#;
        assert_eq!(creds(json, "h:1").unwrap().username, "new");
        let hub = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"}}}"#;
        assert_eq!(creds(hub, "docker.io").unwrap().username, "hub");
        let hub = r#"{"auths":{"registry-1.docker.io":{"auth":"aHViOnB3"}}}"#;
        assert_eq!(creds(hub, "docker.io").unwrap().username, "hub");
    }

    #[test]
    fn bad_entries_fail_without_quoting_the_secret() {
        for (auth, why) in [
            ("!!!not-base64-s3cret", "not valid base64"),
            ("bm9jb2xvbnMzY3JldA==", "USER:PASSWORD"), // "nocolons3cret"
            ("OnMzY3JldA==", "USER:PASSWORD"),         // ":s3cret"
        ] {
            let json = format!(r#"{{"auths":{{"h:1":{{"auth":"{auth}"}}}}}}"#);
            let file = AuthConfigFile::parse(json.as_bytes()).unwrap();
            let err = file.auth_entry("h:1").unwrap().1.credentials().unwrap_err();
            assert!(err.contains(why), "{err}");
            assert!(!err.contains("s3cret") && !err.contains(auth), "{err}");
        }
        let err = AuthConfigFile::parse(br#"{"auths":{"h":{"auth":"s3cret"#).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        let err = AuthConfigFile::parse(br#"{"auths":{"h":{"auth":5}}}"#).unwrap_err();
        assert!(err.contains("wrong type"), "{err}");
    }

    #[test]
    fn helpers_match_keys() {
        let file = AuthConfigFile::parse(
            br#"{"credsStore":"desktop","credHelpers":{"https://h:1":"pass","h:2":"","gcr.io":"gcloud"}}"#,
        )
        .unwrap();
        assert_eq!(file.cred_helper("h:1"), Some("pass"));
        assert_eq!(file.cred_helper("h:2"), None);
        assert_eq!(file.cred_helper("gcr.io"), Some("gcloud"));
        assert_eq!(file.cred_helper("other"), None);
        assert_eq!(file.creds_store(), Some("desktop"));
        let file = AuthConfigFile::parse(br#"{"credsStore":""}"#).unwrap();
        assert_eq!(file.creds_store(), None);
    }

    #[test]
    fn auth_round_trips() {
        let enc = encode_auth("giteaAdmin", &Secret::new("pa:ss\u{e9}"));
        let (u, p) = decode_auth(&enc).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("giteaAdmin", "pa:ss\u{e9}"));
    }
}
