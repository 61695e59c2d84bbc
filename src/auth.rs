//! Credentials, secrets that cannot leak through formatting, and the registry auth challenge.
//!
//! Registries answer an unauthenticated request with `401` and a `WWW-Authenticate` header:
//! `Basic realm="..."` (distribution with htpasswd) or `Bearer realm="...",service="...",
//! scope="..."` (Gitea, Docker Hub, distribution with token auth). For Bearer we fetch a token
//! from the realm with Basic credentials; the token then goes on every request.

use std::fmt;
use zeroize::Zeroizing;

/// A password or token. It has no `Display`, its `Debug` is redacted, and its memory is zeroed
/// when dropped, so it cannot end up in a log line, an error message or a panic by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself: call only where it is sent to the registry.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Read straight into zeroed-on-drop memory (config files, helper and token answers).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A user name and its password (or an access token used as a password, as Gitea allows),
/// or an identity token (an OAuth2 refresh token, docker's `identitytoken`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
    /// An OAuth2 refresh token: when set, bearer tokens are fetched with
    /// `POST realm` `grant_type=refresh_token` instead of GET with Basic credentials.
    pub identity_token: Option<Secret>,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: Secret::new(password),
            identity_token: None,
        }
    }

    /// Identity-token credentials (`username` may be empty).
    pub fn with_identity_token(
        username: impl Into<String>,
        token: impl Into<String>,
    ) -> Credentials {
        Credentials {
            username: username.into(),
            password: Secret::new(""),
            identity_token: Some(Secret::new(token)),
        }
    }

    /// The value of an `Authorization: Basic ...` header for these credentials.
    pub fn basic_header(&self) -> Secret {
        use base64::Engine as _;
        let plain = Zeroizing::new(format!("{}:{}", self.username, self.password.expose()));
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(plain.as_bytes())
        ))
    }

    /// The Basic header for a token request made with GET: the password, or for identity-token
    /// credentials without one the token as password (as Gitea takes access tokens), under the
    /// user name or, without one, `<token>`.
    pub fn token_basic_header(&self) -> Secret {
        match &self.identity_token {
            Some(token) if self.password.is_empty() => Credentials {
                username: if self.username.is_empty() {
                    "<token>".to_string()
                } else {
                    self.username.clone()
                },
                password: token.clone(),
                identity_token: None,
            }
            .basic_header(),
            _ => self.basic_header(),
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses the first challenge of a `WWW-Authenticate` header. Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.find(|c: char| c.is_whitespace()) {
        Some(i) => (&header[..i], header[i..].trim_start()),
        None => (header, ""),
    };
    let params = parse_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// `key=value, key="quoted \" value"` pairs (RFC 7235 auth-params).
fn parse_params(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq].trim().to_string();
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == ',') {
            break;
        }
        s = s[eq + 1..].trim_start();
        let value = if let Some(quoted) = s.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(c),
                }
            }
            s = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = s.find(',').unwrap_or(s.len());
            let value = s[..end].trim().to_string();
            s = &s[end..];
            value
        };
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gitea_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://gitea.cnoe.localtest.me:8443/v2/token",service="container_registry",scope="*""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://gitea.cnoe.localtest.me:8443/v2/token".into(),
                service: Some("container_registry".into()),
                scope: Some("*".into()),
            }
        );
    }

    #[test]
    fn parses_basic_and_odd_forms() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("basic"), Some(Challenge::Basic));
        let c = parse_challenge(
            r#"bearer  realm=https://a/t , scope="repository:x:pull,push", service="a\"b""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("a\"b".into()),
                scope: Some("repository:x:pull,push".into()),
            }
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_some());
    }

    #[test]
    fn secrets_do_not_format() {
        let c = Credentials::new("giteaAdmin", "s3cr3t-password");
        let shown = format!("{c:?} {:?} {:?}", c.password, c.basic_header());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("giteaAdmin"));
        assert_eq!(
            c.basic_header().expose(),
            "Basic Z2l0ZWFBZG1pbjpzM2NyM3QtcGFzc3dvcmQ="
        );
    }
}
