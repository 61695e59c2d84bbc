//! Token auth against a real distribution registry configured with `auth: token:` and the test
//! token service (tests/support/token-service.sh): user name and password (GET with Basic), an
//! identity token (OAuth2 refresh token, `POST realm`), and a Gitea-like realm that refuses the
//! POST so the identity token goes as a password on GET.

mod common;
mod credentials_support;

use credentials_support::{
    assert_secret_free, basic_auth, bundle, helper, options, source, CredsHome, Registry,
    TokenService,
};
use idp_push::credentials::{resolve_with, CredentialSource};
use idp_push::{
    login_blocking, push_blocking, AuthScheme, Credentials, ErrorKind, ProgressEvent, PushOptions,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Trusts both the registry's CA and the token service's.
/// `login` against `registry` with `creds`, verifying only (nothing saved).
fn login(
    registry: &Registry,
    creds: &Credentials,
    tls: &idp_push::TlsOptions,
) -> idp_push::Result<idp_push::LoginReport> {
    login_blocking(
        registry.addr(),
        &idp_push::LoginOptions {
            credentials: Some(creds.clone()),
            tls: tls.clone(),
            save: false,
            ..Default::default()
        },
    )
}

fn tls(registry: &Registry, service: &TokenService) -> idp_push::TlsOptions {
    let pem = bundle(
        registry.dir.path(),
        "cas.pem",
        &[
            &registry.ca(),
            std::path::Path::new(&service.env["IDP_TOKEN_CA"]),
        ],
    );
    credentials_support::tls_with_ca(&pem)
}

#[test]
fn password_gets_a_token_with_basic() {
    let service = TokenService::start();
    let registry = service.registry("IDP_TOKEN_REALM");
    let creds = Credentials::new(
        &service.env["IDP_TOKEN_USERNAME"],
        &service.env["IDP_TOKEN_PASSWORD"],
    );
    let tls = tls(&registry, &service);
    let login = login(&registry, &creds, &tls).unwrap();
    assert_eq!(login.scheme, AuthScheme::Bearer);
    push_blocking(
        &source(),
        &registry.dest("password"),
        &options(Some(creds), tls),
    )
    .unwrap();
    let requests = service.requests();
    assert!(!requests.is_empty());
    assert!(requests
        .iter()
        .all(|r| r["method"] == "GET" && r["auth"] == "basic" && r["ok"] == true));
    // The push asked for the repository scope.
    assert!(requests.iter().any(|r| r["scope"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str().unwrap().ends_with(":pull,push"))));
}

/// A token that expires in the middle of a push: the registry answers 401, the push fetches a
/// new token and goes on from where the upload stood.
#[test]
fn reauthenticates_when_the_token_expires_mid_push() {
    let service = TokenService::start_with_ttl(-58);
    let registry = service.registry("IDP_TOKEN_REALM");
    let creds = Credentials::new(
        &service.env["IDP_TOKEN_USERNAME"],
        &service.env["IDP_TOKEN_PASSWORD"],
    );
    let waited = Arc::new(Mutex::new(false));
    let first = waited.clone();
    let options = PushOptions {
        concurrency: 1,
        // Outlive the token before the first upload's body goes out.
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            let mut done = first.lock().unwrap();
            if e.kind == idp_push::ProgressKind::BlobStarted && !*done {
                *done = true;
                std::thread::sleep(Duration::from_secs(4));
            }
        })),
        ..options(Some(creds), tls(&registry, &service))
    };
    let dest = registry.dest("expiring");
    let report = push_blocking(&source(), &dest, &options).unwrap();
    assert!(
        *waited.lock().unwrap(),
        "the push waited past the token's life"
    );
    let tokens = service
        .requests()
        .iter()
        .filter(|r| r["ok"] == true)
        .count();
    assert!(
        tokens >= 2,
        "a new token was fetched after the first expired ({tokens})"
    );
    assert!(report.blobs_uploaded > 0);
}

#[test]
fn identity_token_from_docker_config_uses_the_refresh_grant() {
    let service = TokenService::start();
    let registry = service.registry("IDP_TOKEN_REALM");
    let home = CredsHome::new();
    let refresh = service.env["IDP_TOKEN_REFRESH_TOKEN"].clone();
    home.write_docker(serde_json::json!({"auths": {registry.addr(): {
        "auth": basic_auth("tokenuser", ""), "identitytoken": refresh}}}));
    let resolved = resolve_with(registry.addr(), None, &home.env).unwrap();
    assert_eq!(
        resolved.source,
        CredentialSource::DockerConfig(home.docker_config())
    );
    let creds = resolved.credentials.clone().unwrap();
    assert!(creds.identity_token.is_some());
    let tls = tls(&registry, &service);

    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = events.clone();
    let opts = PushOptions {
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(format!("{e:?}"))
        })),
        ..options(Some(creds.clone()), tls.clone())
    };
    push_blocking(&source(), &registry.dest("identity"), &opts).unwrap();
    let login = login(&registry, &creds, &tls).unwrap();
    assert_eq!(login.scheme, AuthScheme::Bearer);

    let requests = service.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r["method"], "POST", "{r}");
        assert_eq!(r["grant_type"], "refresh_token", "{r}");
        assert_eq!(r["client_id"], "idp-push", "{r}");
        assert_eq!(
            r["service"],
            service.env["IDP_TOKEN_SERVICE"].as_str(),
            "{r}"
        );
        assert_eq!(
            r["content_type"], "application/x-www-form-urlencoded",
            "{r}"
        );
        assert_eq!(r["ok"], true, "{r}");
    }
    let mut outputs = vec![
        format!("{opts:?}"),
        format!("{resolved:?}"),
        format!("{login:?}"),
    ];
    outputs.extend(events.lock().unwrap().iter().cloned());
    assert_secret_free(&refresh, &outputs);
}

#[test]
fn wrong_identity_token_is_refused_without_leaking() {
    let service = TokenService::start();
    let registry = service.registry("IDP_TOKEN_REALM");
    let secret = "refresh-WRONG-5e1d2c";
    let creds = Credentials::with_identity_token("tokenuser", secret);
    let tls = tls(&registry, &service);
    let opts = options(Some(creds.clone()), tls.clone());
    let err = push_blocking(&source(), &registry.dest("wrong-identity"), &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        err.message().contains("identity token was refused"),
        "{err}"
    );
    let login = login(&registry, &creds, &tls).unwrap_err();
    assert_eq!(login.kind(), ErrorKind::Unauthorized, "{login}");
    assert_secret_free(
        secret,
        &[
            err.to_string(),
            format!("{err:?}"),
            login.to_string(),
            format!("{login:?}"),
            format!("{opts:?}"),
            format!("{creds:?}"),
        ],
    );
    assert!(service
        .requests()
        .iter()
        .all(|r| r["method"] == "POST" && r["ok"] == false));
}

#[test]
fn gitea_like_realm_without_post_takes_the_identity_token_on_get() {
    let service = TokenService::start();
    let registry = service.registry("IDP_TOKEN_REALM_GET_ONLY");
    let home = CredsHome::new();
    let refresh = service.env["IDP_TOKEN_REFRESH_TOKEN"].clone();
    // From a credential helper that answers with docker's `<token>` user name.
    helper(&home.bin(), "idptoken", "<token>", &refresh);
    home.write_docker(serde_json::json!({"credHelpers": {registry.addr(): "idptoken"}}));
    let resolved = resolve_with(registry.addr(), None, &home.env).unwrap();
    assert_eq!(
        resolved.source.to_string(),
        "credential helper docker-credential-idptoken"
    );
    let creds = resolved.credentials.clone().unwrap();
    let tls = tls(&registry, &service);
    push_blocking(
        &source(),
        &registry.dest("gitea-like"),
        &options(Some(creds), tls),
    )
    .unwrap();
    let requests = service.requests();
    assert!(requests
        .iter()
        .any(|r| r["method"] == "POST" && r["path"] == "/get-only/token"));
    assert!(requests
        .iter()
        .any(|r| r["method"] == "GET" && r["auth"] == "basic" && r["ok"] == true));
    assert!(requests
        .iter()
        .all(|r| r["method"] == "POST" || r["ok"] == true));
    assert_secret_free(&refresh, &[format!("{resolved:?}")]);
}
