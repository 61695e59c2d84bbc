//! Credentials found in docker and containers configuration and helpers, used against the
//! harness registry (TLS, htpasswd): pushes and logins succeed with them, wrong ones fail
//! without leaking, and `save` writes what a later resolve finds.

mod common;
mod credentials_support;

use credentials_support::{
    assert_secret_free, basic_auth, helper, helper_calls, options, source, tls_with_ca, unique,
    CredsHome,
};
use idp_push::credentials::{resolve_with, save_with, CredentialSource};
use idp_push::{login_blocking, push_blocking, AuthScheme, Credentials, ErrorKind, ProgressEvent};
use std::sync::{Arc, Mutex};

/// Resolves for the harness registry, pushes with what was found, and checks with a login.
fn push_with_resolved(setup: &CredsHome, name: &str) -> CredentialSource {
    let h = common::env();
    let resolved = resolve_with(&h.registry, None, &setup.env).unwrap();
    let credentials = resolved.credentials.clone();
    assert!(credentials.is_some(), "found nothing");
    let opts = options(credentials.clone(), tls_with_ca(&h.ca));
    let dest = format!("{}/{}:v1", h.registry, unique(name));
    let report = push_blocking(&source(), &dest, &opts).unwrap();
    assert_eq!(report.reference, dest);
    let login = login_blocking(
        &h.registry,
        &idp_push::LoginOptions {
            credentials: credentials.as_ref().cloned(),
            tls: opts.tls.clone(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(login.scheme, AuthScheme::Basic);
    resolved.source
}

#[test]
fn docker_config_auths_entry_pushes() {
    let h = common::env();
    let s = CredsHome::new();
    s.write_docker(serde_json::json!({
        "auths": {
            format!("https://{}/v1/", h.registry): {"auth": basic_auth(&h.username, &h.password)},
            "other.example": {"auth": basic_auth("x", "y")},
        },
        "psFormat": "table",
    }));
    let source = push_with_resolved(&s, "auths");
    assert_eq!(source, CredentialSource::DockerConfig(s.docker_config()));
}

#[test]
fn docker_config_username_password_fields_push() {
    let h = common::env();
    let s = CredsHome::new();
    s.write_docker(serde_json::json!({
        "auths": {h.registry.clone(): {"username": h.username, "password": h.password}},
    }));
    push_with_resolved(&s, "userpass");
}

#[test]
fn cred_helpers_entry_pushes() {
    let h = common::env();
    let s = CredsHome::new();
    helper(&s.bin(), "idptest", &h.username, &h.password);
    s.write_docker(serde_json::json!({
        "credHelpers": {h.registry.clone(): "idptest"},
        // Ignored: the registry's helper comes first.
        "auths": {h.registry.clone(): {"auth": basic_auth(&h.username, "stale-password")}},
    }));
    let source = push_with_resolved(&s, "credhelpers");
    assert_eq!(
        source.to_string(),
        "credential helper docker-credential-idptest"
    );
    let calls = helper_calls(&s.bin(), "idptest");
    assert!(!calls.is_empty());
    assert!(calls
        .iter()
        .all(|(action, input)| action == "get" && *input == h.registry));
}

#[test]
fn creds_store_pushes() {
    let h = common::env();
    let s = CredsHome::new();
    helper(&s.bin(), "idpstore", &h.username, &h.password);
    s.write_docker(serde_json::json!({
        "credsStore": "idpstore",
        "auths": {h.registry.clone(): {}},
    }));
    let source = push_with_resolved(&s, "credsstore");
    assert_eq!(
        source.to_string(),
        "credential helper docker-credential-idpstore"
    );
}

#[test]
fn containers_auth_file_pushes() {
    let h = common::env();
    let s = CredsHome::new();
    s.write_docker(serde_json::json!({"auths": {}}));
    std::fs::write(
        s.containers_auth(),
        serde_json::json!({"auths": {h.registry.clone(): {"auth": basic_auth(&h.username, &h.password)}}})
            .to_string(),
    )
    .unwrap();
    let source = push_with_resolved(&s, "containers");
    assert_eq!(
        source,
        CredentialSource::ContainersAuthFile(s.containers_auth())
    );
}

#[test]
fn wrong_password_from_a_helper_fails_without_leaking() {
    let h = common::env();
    let s = CredsHome::new();
    let secret = "helper-wrong-Pa55-b7c1e";
    helper(&s.bin(), "idpwrong", &h.username, secret);
    s.write_docker(serde_json::json!({"credHelpers": {h.registry.clone(): "idpwrong"}}));
    let resolved = resolve_with(&h.registry, None, &s.env).unwrap();
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = events.clone();
    let opts = idp_push::PushOptions {
        progress: Some(Arc::new(move |e: &ProgressEvent| {
            sink.lock().unwrap().push(format!("{e:?}"))
        })),
        ..options(resolved.credentials.clone(), tls_with_ca(&h.ca))
    };
    let err = push_blocking(
        &source(),
        &format!("{}/{}:v1", h.registry, unique("wrong-helper")),
        &opts,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    let login = login_blocking(
        &h.registry,
        &idp_push::LoginOptions {
            credentials: resolved.credentials.as_ref().cloned(),
            tls: opts.tls.clone(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(login.kind(), ErrorKind::Unauthorized);
    let mut outputs = vec![
        err.to_string(),
        format!("{err:?}"),
        login.to_string(),
        format!("{login:?}"),
        format!("{opts:?}"),
        format!("{resolved:?}"),
        resolved.source.to_string(),
    ];
    outputs.extend(events.lock().unwrap().iter().cloned());
    assert_secret_free(secret, &outputs);
}

#[test]
fn anonymous_push_is_refused_and_says_so() {
    let h = common::env();
    let s = CredsHome::new();
    let resolved = resolve_with(&h.registry, None, &s.env).unwrap();
    assert_eq!(resolved.source, CredentialSource::Anonymous);
    let err = push_blocking(
        &source(),
        &format!("{}/{}:v1", h.registry, unique("anonymous")),
        &options(resolved.credentials, tls_with_ca(&h.ca)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.message().contains("none were given"), "{err}");
}

#[test]
fn verified_credentials_saved_like_docker_login_are_found_again() {
    let h = common::env();
    let s = CredsHome::new();
    let credentials = Credentials::new(&h.username, &h.password);
    login_blocking(
        &h.registry,
        &idp_push::LoginOptions {
            credentials: Some(credentials.clone()),
            tls: tls_with_ca(&h.ca),
            save: false,
            ..Default::default()
        },
    )
    .unwrap();
    let saved = save_with(&h.registry, &credentials, &s.env).unwrap();
    assert_eq!(
        saved.to_string(),
        format!("docker config {}", s.docker_config().display())
    );
    let source = push_with_resolved(&s, "saved");
    assert_eq!(source, CredentialSource::DockerConfig(s.docker_config()));
}
