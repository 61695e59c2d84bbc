//! An HTTP client for one registry: authentication, and mapping of failures to [`Error`]s.

use crate::auth::{parse_challenge, Challenge, Credentials, Secret};
use crate::error::{Error, ErrorKind, Result, Retry};
use crate::tls::{explain_tls_error, TlsOptions};
use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use std::time::Duration;
use tokio::sync::RwLock;
use url::Url;

/// How long to wait for a TCP connection (and TLS handshake) before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a connection may stay silent while we wait for bytes (a stalled server).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// What an authenticated request carries.
#[derive(Clone, Debug)]
enum AuthHeader {
    Anonymous,
    Value(Secret),
}

/// How the registry authenticated us: reported by `login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// The registry asked for no credentials.
    None,
    /// HTTP Basic on every request.
    Basic,
    /// A bearer token obtained from the registry's token service.
    Bearer,
}

pub struct RegistryClient {
    http: reqwest::Client,
    /// `scheme://host[:port]`
    base: Url,
    registry: String,
    credentials: Option<Credentials>,
    /// The scope tokens are requested for (`repository:NAME:pull,push`), if any.
    scope: Option<String>,
    auth: RwLock<AuthHeader>,
}

impl RegistryClient {
    /// A client for `registry`. `timeout` is the longest silence of a connection (and the
    /// longest wait to connect); `None` means [`READ_TIMEOUT`] and [`CONNECT_TIMEOUT`].
    pub fn new(
        registry: &str,
        tls: &TlsOptions,
        credentials: Option<Credentials>,
        scope: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<RegistryClient> {
        let base = Url::parse(&format!("{}://{registry}/", tls.scheme())).map_err(|e| {
            Error::new(
                ErrorKind::InvalidReference,
                format!("invalid registry {registry:?}: {e}"),
            )
        })?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout.map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)))
            .read_timeout(timeout.unwrap_or(READ_TIMEOUT))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("idp-push/", env!("CARGO_PKG_VERSION")))
            // Never follow redirects with our Authorization header on them; we follow upload
            // locations ourselves and decide per host whether to authenticate.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only();
        // Also for plain HTTP: reqwest built with `rustls-no-provider` panics without a TLS
        // configuration (and a redirect may still lead to HTTPS).
        builder = builder.tls_backend_preconfigured(crate::tls::client_config(tls, registry)?);
        let http = builder
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(RegistryClient {
            http,
            base,
            registry: registry.to_string(),
            credentials,
            scope,
            auth: RwLock::new(AuthHeader::Anonymous),
        })
    }

    /// The absolute URL of a path below the registry root (`/v2/...`).
    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(path)
            .expect("registry paths are valid URL paths")
    }

    /// Resolves a `Location` header, which may be relative to the registry.
    pub fn resolve_location(&self, response: &Response, what: &str) -> Result<Url> {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Registry,
                    format!("{what}: the registry sent no Location header"),
                )
            })?;
        self.base.join(location).map_err(|e| {
            Error::new(
                ErrorKind::Registry,
                format!("{what}: the registry sent an invalid Location {location:?}: {e}"),
            )
        })
    }

    /// Finds out how the registry wants us to authenticate and gets ready to: a `GET /v2/`
    /// without credentials, then a token exchange or Basic check as the challenge says.
    pub async fn authenticate(&self) -> Result<AuthScheme> {
        let url = self.url("/v2/");
        let response = self.execute(self.http.get(url.clone()), "GET /v2/").await?;
        match response.status() {
            s if s.is_success() => {
                *self.auth.write().await = AuthHeader::Anonymous;
                Ok(AuthScheme::None)
            }
            StatusCode::UNAUTHORIZED => {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Registry,
                            format!(
                                "{} asks for authentication but sends no usable WWW-Authenticate challenge",
                                self.registry
                            ),
                        )
                    })?;
                self.answer_challenge(&challenge).await
            }
            _ => Err(response_error(response, &format!("GET {url}")).await),
        }
    }

    async fn answer_challenge(&self, challenge: &Challenge) -> Result<AuthScheme> {
        let Some(credentials) = &self.credentials else {
            return Err(self.unauthorized("the registry requires credentials and none were given"));
        };
        match challenge {
            Challenge::Basic => {
                let header = credentials.basic_header();
                // Check the password now, so a wrong one fails before any upload starts.
                let check = self
                    .http
                    .get(self.url("/v2/"))
                    .header(AUTHORIZATION, sensitive(&header)?);
                let response = self.execute(check, "GET /v2/").await?;
                if response.status() == StatusCode::UNAUTHORIZED {
                    return Err(self.unauthorized("the user name or password was refused"));
                }
                if !response.status().is_success() {
                    return Err(response_error(response, "GET /v2/").await);
                }
                *self.auth.write().await = AuthHeader::Value(header);
                Ok(AuthScheme::Basic)
            }
            Challenge::Bearer { realm, service, .. } => {
                let token = self
                    .fetch_token(credentials, realm, service.as_deref())
                    .await?;
                *self.auth.write().await =
                    AuthHeader::Value(Secret::new(format!("Bearer {}", token.expose())));
                Ok(AuthScheme::Bearer)
            }
        }
    }

    /// `GET realm?service=...&scope=...` with Basic credentials; returns the token. With an
    /// identity token, first the OAuth2 `POST realm` (`grant_type=refresh_token`), as docker
    /// does; a realm that answers it 404 or 405 (Gitea) gets the GET, with the token as password.
    async fn fetch_token(
        &self,
        credentials: &Credentials,
        realm: &str,
        service: Option<&str>,
    ) -> Result<Secret> {
        let mut url = self.base.join(realm).map_err(|e| {
            Error::new(
                ErrorKind::Registry,
                format!("the registry's token realm {realm:?} is not a valid URL: {e}"),
            )
        })?;
        if url.scheme() == "http" && self.base.scheme() != "http" {
            return Err(Error::new(
                ErrorKind::Registry,
                format!(
                    "the registry's token realm {realm} is plain HTTP; refusing to send credentials over it"
                ),
            ));
        }
        let what = format!("token request to {}", url.path());
        if let Some(identity_token) = &credentials.identity_token {
            if let Some(token) = self
                .post_refresh_token(&url, identity_token, service, &what)
                .await?
            {
                return Ok(token);
            }
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            if let Some(scope) = &self.scope {
                query.append_pair("scope", scope);
            }
        }
        let request = self
            .http
            .get(url.clone())
            .header(AUTHORIZATION, sensitive(&credentials.token_basic_header())?);
        let response = self.execute(request, &what).await?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(self.unauthorized(
                    if credentials.password.is_empty() && credentials.identity_token.is_some() {
                        "the identity token was refused"
                    } else {
                        "the user name or password was refused"
                    },
                ))
            }
            _ => return Err(response_error(response, &what).await),
        }
        read_token(response, &what).await
    }

    /// The OAuth2 refresh-token grant: `POST realm` with a form. `None` when the realm does not
    /// take POSTs (404, 405), so the caller falls back to GET.
    async fn post_refresh_token(
        &self,
        realm: &Url,
        identity_token: &Secret,
        service: Option<&str>,
        what: &str,
    ) -> Result<Option<Secret>> {
        // Built in a block: the serializer is not Send and must not live across an await.
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", identity_token.expose());
            form.append_pair("client_id", "idp-push");
            if let Some(service) = service {
                form.append_pair("service", service);
            }
            if let Some(scope) = &self.scope {
                form.append_pair("scope", scope);
            }
            // Moved into the request without a copy; the HTTP stack owns the bytes from here,
            // as it does those of every Authorization header.
            form.finish()
        };
        let request = self
            .http
            .post(realm.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        let response = self.execute(request, what).await?;
        match response.status() {
            s if s.is_success() => read_token(response, what).await.map(Some),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(None),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(self.unauthorized("the identity token was refused"))
            }
            _ => Err(response_error(response, what).await),
        }
    }

    fn unauthorized(&self, why: &str) -> Error {
        let user = self
            .credentials
            .as_ref()
            .map(|c| format!(" as {:?}", c.username))
            .unwrap_or_default();
        Error::new(
            ErrorKind::Unauthorized,
            format!("unauthorized: {}{user}: {why}", self.registry),
        )
    }

    /// Sends a request built by `build`, with our Authorization when it goes to the registry's
    /// own origin. A 401 (an expired token) re-authenticates once and sends it again, which is
    /// why the request is built by a closure; use [`Self::send_once`] for streamed bodies.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        what: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let mut reauthenticated = false;
        loop {
            let request = self
                .authorize(build(self.http.request(method.clone(), url.clone())), &url)
                .await?;
            let response = self.execute(request, what).await?;
            if response.status() == StatusCode::UNAUTHORIZED
                && !reauthenticated
                && self.credentials.is_some()
            {
                reauthenticated = true;
                self.authenticate().await?;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends a request whose body cannot be replayed (a streamed blob). On a 401 it
    /// re-authenticates and returns a retryable error, so the caller resumes the upload.
    pub async fn send_once(
        &self,
        request: RequestBuilder,
        url: &Url,
        what: &str,
    ) -> Result<Response> {
        let request = self.authorize(request, url).await?;
        let response = self.execute(request, what).await?;
        if response.status() == StatusCode::UNAUTHORIZED && self.credentials.is_some() {
            self.authenticate().await?;
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!("{what}: the registry's token expired"),
            )
            .with_retry(Retry::Yes(Some(Duration::ZERO))));
        }
        Ok(response)
    }

    /// A request to `url` with the given method, for [`Self::send_once`].
    pub fn request(&self, method: Method, url: &Url) -> RequestBuilder {
        self.http.request(method, url.clone())
    }

    /// Adds our Authorization, but only for the registry's own origin: an upload location on
    /// another host (a storage backend) must never see the registry credentials.
    async fn authorize(&self, request: RequestBuilder, url: &Url) -> Result<RequestBuilder> {
        if self.same_origin(url) {
            if let AuthHeader::Value(v) = &*self.auth.read().await {
                return Ok(request.header(AUTHORIZATION, sensitive(v)?));
            }
        }
        Ok(request)
    }

    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    async fn execute(&self, request: RequestBuilder, what: &str) -> Result<Response> {
        request
            .send()
            .await
            .map_err(|e| transport_error(e, &format!("{what} ({})", self.registry)))
    }
}

/// Reads `{"token": ...}` or `{"access_token": ...}` from a token service's answer.
async fn read_token(response: Response, what: &str) -> Result<Secret> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<Secret>,
        access_token: Option<Secret>,
    }
    let body = zeroize::Zeroizing::new(
        response
            .bytes()
            .await
            .map_err(|e| transport_error(e, what))?
            .to_vec(),
    );
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
        Error::new(
            ErrorKind::Registry,
            format!("{what}: the answer is not a token response"),
        )
    })?;
    parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Registry,
                format!("{what}: the answer holds no token"),
            )
        })
}

fn sensitive(secret: &Secret) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
        Error::invalid_argument("credentials contain characters that cannot go in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Turns a failed send into an error that says what happened, without URLs' query strings.
pub fn transport_error(e: reqwest::Error, what: &str) -> Error {
    let host = e
        .url()
        .and_then(|u| {
            u.host_str().map(|h| {
                format!(
                    "{h}{}",
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
        })
        .unwrap_or_default();
    if let Some(tls) = explain_tls_error(&e, &host) {
        return Error::new(ErrorKind::Tls, tls);
    }
    let root = root_cause(&e);
    if e.is_timeout() {
        return Error::new(ErrorKind::Network, format!("{what}: timed out: {root}"));
    }
    if e.is_connect() {
        return Error::new(
            ErrorKind::Network,
            format!("{what}: cannot connect to {host}: {root}"),
        );
    }
    if e.is_body() || e.is_request() {
        return Error::new(ErrorKind::Network, format!("{what}: {root}"));
    }
    Error::new(ErrorKind::Network, format!("{what}: {root}"))
}

/// The innermost message of an error chain ("Connection refused"), which is the informative one.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    let s = current.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Turns an unsuccessful response into an error carrying the registry's own message.
pub async fn response_error(response: Response, what: &str) -> Error {
    response_error_and_codes(response, what).await.0
}

/// [`response_error`], and the error codes of the registry's body (`BLOB_UNKNOWN`, ...), for
/// callers whose handling depends on them: matching the message instead would also match the
/// tag or repository it names.
pub async fn response_error_and_codes(response: Response, what: &str) -> (Error, Vec<String>) {
    let status = response.status();
    let kind = match status {
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        StatusCode::FORBIDDEN => ErrorKind::Denied,
        _ => ErrorKind::Registry,
    };
    let retry = match status {
        StatusCode::PAYLOAD_TOO_LARGE => Retry::TooLarge,
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
            Retry::Yes(retry_after(&response))
        }
        s if s.is_server_error() => Retry::Yes(retry_after(&response)),
        _ => Retry::No,
    };
    // Error bodies are small; read at most 64 KiB of one.
    let mut body = Vec::new();
    let mut response = response;
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 64 * 1024 {
            break;
        }
    }
    let entries = registry_errors(&body);
    let codes = entries.iter().filter_map(|e| e.code.clone()).collect();
    let detail = registry_message(entries);
    let status_text = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let message = match detail {
        Some(d) => format!("{what}: {status_text}: {d}"),
        None => format!("{what}: {}", status_text.trim_end()),
    };
    (Error::new(kind, message).with_retry(retry), codes)
}

fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::retry::parse_retry_after)
}

/// One entry of a registry's error body.
#[derive(serde::Deserialize)]
struct RegistryError {
    code: Option<String>,
    message: Option<String>,
}

/// The entries of `{"errors":[{"code":"BLOB_UNKNOWN","message":"..."}]}`; none for other bodies.
fn registry_errors(body: &[u8]) -> Vec<RegistryError> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<RegistryError>,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default()
}

/// The entries as text: "BLOB_UNKNOWN: blob unknown to registry; ...".
fn registry_message(entries: Vec<RegistryError>) -> Option<String> {
    let parts: Vec<String> = entries
        .into_iter()
        .map(|e| match (e.code, e.message) {
            (Some(c), Some(m)) if !m.is_empty() => format!("{c}: {m}"),
            (Some(c), _) => c,
            (None, Some(m)) => m,
            (None, None) => "unknown error".to_string(),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(registry_errors(br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#))
                .as_deref(),
            Some("DENIED: requested access to the resource is denied")
        );
        assert_eq!(registry_message(registry_errors(b"<html>")), None);
    }
}
