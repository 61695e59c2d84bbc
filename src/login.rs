//! Checking credentials against a registry, finding them where docker users keep them, and
//! saving verified ones the way `docker login` does.

use crate::auth::Credentials;
use crate::client::{response_error, AuthScheme, RegistryClient};
use crate::credentials::{self, CredentialSource, Resolved, SavedTo};
use crate::error::{Error, ErrorKind, Result};
use crate::reference::parse_registry;
use crate::retry::{retrying, RetryPolicy};
use crate::tls::TlsOptions;
use reqwest::{Method, StatusCode};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What `login` found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginReport {
    /// `host[:port]` as normalized.
    pub registry: String,
    /// How the registry authenticated us.
    pub scheme: AuthScheme,
    /// Where the credentials came from.
    pub source: CredentialSource,
    /// Where they were stored, when saving was asked for.
    pub saved_to: Option<SavedTo>,
}

/// How to log in.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Credentials to check; `None` looks them up as docker does (docker config, credential
    /// helpers, containers auth file).
    pub credentials: Option<Credentials>,
    pub tls: TlsOptions,
    /// Store the credentials once verified, as `docker login` does: through the configured
    /// credential helper, else into the docker config (mode 0600).
    pub save: bool,
    /// Cancels the check when fired. Once the credentials are verified, saving them is not
    /// interrupted: a cancelled login has saved nothing, a finished one everything.
    pub cancel: Option<CancellationToken>,
    /// The longest silence of a connection (and wait to connect); `None` for the defaults.
    pub timeout: Option<Duration>,
}

/// Explicit credentials as given, or the ones docker's configuration holds for `registry`.
/// Credential helpers are programs that may take seconds, so the lookup runs off the runtime's
/// worker threads.
pub(crate) async fn resolve_credentials(
    registry: &str,
    explicit: Option<Credentials>,
) -> Result<Resolved> {
    if explicit.is_some() {
        return credentials::resolve(registry, explicit);
    }
    let registry = registry.to_string();
    tokio::task::spawn_blocking(move || credentials::resolve(&registry, None))
        .await
        .map_err(|e| Error::internal(format!("credential lookup failed: {e}")))?
}

/// Checks credentials against a registry: the `GET /v2/` challenge, the token exchange when
/// the registry uses tokens, and one authenticated `GET /v2/`; then saves them if asked.
pub async fn login(registry: &str, options: &LoginOptions) -> Result<LoginReport> {
    let registry = parse_registry(registry)?;
    let cancel = options.cancel.clone().unwrap_or_default();
    let (resolved, scheme) = tokio::select! {
        _ = cancel.cancelled() => return Err(Error::new(ErrorKind::Cancelled, "login cancelled")),
        verified = verify(&registry, options) => verified?,
    };
    let saved_to = match (&resolved.credentials, options.save) {
        (Some(creds), true) => {
            let (registry, creds) = (registry.clone(), creds.clone());
            let saved = tokio::task::spawn_blocking(move || credentials::save(&registry, &creds))
                .await
                .map_err(|e| Error::internal(format!("saving credentials failed: {e}")))??;
            Some(saved)
        }
        (None, true) => {
            return Err(Error::invalid_argument(
                "nothing to save: no credentials were given or found",
            ))
        }
        _ => None,
    };
    Ok(LoginReport {
        registry,
        scheme,
        source: resolved.source,
        saved_to,
    })
}

/// The credentials for `registry` and how the registry accepted them.
async fn verify(registry: &str, options: &LoginOptions) -> Result<(Resolved, AuthScheme)> {
    let resolved = resolve_credentials(registry, options.credentials.clone()).await?;
    let client = RegistryClient::new(
        registry,
        &options.tls,
        resolved.credentials.clone(),
        None,
        options.timeout,
    )?;
    let scheme = retrying(&RetryPolicy::default(), |_| client.authenticate()).await?;
    if scheme == AuthScheme::Bearer {
        // A token service may hand out anonymous tokens; make sure this one is accepted.
        let url = client.url("/v2/");
        let response = client.send(Method::GET, url, "GET /v2/", |r| r).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!("unauthorized: {registry}: the registry refused the token it issued"),
            ));
        }
        if !response.status().is_success() {
            return Err(response_error(response, "GET /v2/").await);
        }
    }
    Ok((resolved, scheme))
}
