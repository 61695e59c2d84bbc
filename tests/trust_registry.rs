//! Trust against real registries: a CA bundle, a wrong CA, an expired certificate, the certs.d
//! convention (CAs, and client certificates for a registry that requires mutual TLS),
//! SSL_CERT_FILE, and insecure mode.
//!
//! certs.d and SSL_CERT_FILE are read from the process environment, so those tests run a
//! child test (`child_*`, ignored on its own) in a process of its own with the variables set.

mod common;
mod credentials_support;

use credentials_support::{
    bundle, certs, child_var, options, run_child, source, tls_with_ca, unique, Registry,
};
use idp_push::{login_blocking, push_blocking, ErrorKind, TlsOptions};
use std::path::Path;

fn assert_tls_error(err: &idp_push::Error, what: &str) {
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let m = err.message();
    assert!(m.contains(what), "{m}");
    assert!(!m.contains('\n'));
}

#[test]
fn ca_bundle_with_several_certificates_is_trusted() {
    let h = common::env();
    let dir = tempfile::tempdir().unwrap();
    certs(&["ca", dir.path().to_str().unwrap(), "unrelated"]);
    let pem = bundle(
        dir.path(),
        "bundle.pem",
        &[&h.wrong_ca, &dir.path().join("unrelated.crt"), &h.ca],
    );
    let opts = options(
        Some(idp_push::Credentials::new(&h.username, &h.password)),
        tls_with_ca(&pem),
    );
    push_blocking(
        &source(),
        &format!("{}/{}:v1", h.registry, unique("bundle")),
        &opts,
    )
    .unwrap();
}

#[test]
fn wrong_ca_names_unknown_authority_and_the_ways_out() {
    let h = common::env();
    let creds = idp_push::Credentials::new(&h.username, &h.password);
    let err = login_blocking(
        &h.registry,
        &idp_push::LoginOptions {
            credentials: Some(creds.clone()),
            tls: tls_with_ca(&h.wrong_ca),
            save: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_tls_error(&err, "certificate signed by unknown authority");
    for way_out in ["--ca-file", "--insecure", "certs.d"] {
        assert!(err.message().contains(way_out), "{err}");
    }
    // --insecure gets through (and the CLI has a warning to print).
    let insecure = TlsOptions {
        insecure: true,
        ..Default::default()
    };
    login_blocking(
        &h.registry,
        &idp_push::LoginOptions {
            credentials: Some(creds.clone()),
            tls: insecure.clone(),
            save: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(insecure.warning(&h.registry).unwrap().contains(&h.registry));
}

#[test]
fn expired_certificate_is_named() {
    let registry = Registry::start(&[("IDP_REGISTRY_CERT_EXPIRED", "1")]);
    let err = login_blocking(
        registry.addr(),
        &idp_push::LoginOptions {
            credentials: Some(registry.credentials().clone()),
            tls: tls_with_ca(&registry.ca()),
            save: false,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_tls_error(
        &err,
        "certificate has expired (it was valid until 2020-01-02)",
    );
    assert!(err.message().contains("--insecure"), "{err}");
}

/// A certs.d base directory holding `dir_name/` with the given files copied in.
fn certs_d(base: &Path, dir_name: &str, files: &[(&Path, &str)]) {
    let dir = base.join(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    for (from, name) in files {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
}

#[test]
fn certs_d_ca_is_trusted_for_host_port_and_host() {
    let h = common::env();
    let (host, _) = h.registry.rsplit_once(':').unwrap();
    for dir_name in [h.registry.as_str(), host] {
        let base = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        certs_d(base.path(), dir_name, &[(&h.ca, "ca.crt")]);
        let list = format!("{}:{}", empty.path().display(), base.path().display());
        run_child(
            "child_pushes_trusting_only_the_environment",
            &[
                ("IDP_PUSH_CERTS_D", &list),
                ("IDP_CHILD_REGISTRY", &h.registry),
            ],
        );
    }
}

#[test]
fn ssl_cert_file_is_trusted() {
    let h = common::env();
    let empty = tempfile::tempdir().unwrap();
    run_child(
        "child_pushes_trusting_only_the_environment",
        &[
            ("IDP_PUSH_CERTS_D", empty.path().to_str().unwrap()),
            ("SSL_CERT_FILE", h.ca.to_str().unwrap()),
            ("IDP_CHILD_REGISTRY", &h.registry),
        ],
    );
}

#[test]
#[ignore = "run by its parent tests with IDP_PUSH_CERTS_D / SSL_CERT_FILE set"]
fn child_pushes_trusting_only_the_environment() {
    let test = "child_pushes_trusting_only_the_environment";
    let Some(registry) = child_var(test, "IDP_CHILD_REGISTRY") else {
        return;
    };
    let h = common::env();
    let credentials = std::env::var("IDP_CHILD_USERNAME")
        .map(|u| idp_push::Credentials::new(u, common::var("IDP_CHILD_PASSWORD")))
        .unwrap_or_else(|_| idp_push::Credentials::new(&h.username, &h.password));
    // No --ca-file: trust comes from certs.d or SSL_CERT_FILE only.
    let opts = options(Some(credentials), TlsOptions::default());
    let result = push_blocking(
        &source(),
        &format!("{registry}/{}:v1", unique("env-trust")),
        &opts,
    );
    match std::env::var("IDP_CHILD_EXPECT_ERROR") {
        Ok(want) => {
            let err = result.unwrap_err();
            assert!(err.message().contains(&want), "{err}");
        }
        Err(_) => {
            result.unwrap();
        }
    }
}

#[test]
fn mutual_tls_with_a_certs_d_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    certs(&["ca", d, "client-ca"]);
    let client_ca = dir.path().join("client-ca.crt");
    let client_ca_key = dir.path().join("client-ca.key");
    certs(&[
        "client",
        d,
        "client",
        client_ca.to_str().unwrap(),
        client_ca_key.to_str().unwrap(),
    ]);
    let registry = Registry::start(&[("IDP_REGISTRY_CLIENT_CA", client_ca.to_str().unwrap())]);
    let creds = registry.credentials();
    let child_env = |list: &str| {
        vec![
            ("IDP_PUSH_CERTS_D".to_string(), list.to_string()),
            (
                "IDP_CHILD_REGISTRY".to_string(),
                registry.addr().to_string(),
            ),
            ("IDP_CHILD_USERNAME".to_string(), creds.username.clone()),
            (
                "IDP_CHILD_PASSWORD".to_string(),
                creds.password.expose().to_string(),
            ),
        ]
    };
    let run = |list: &str, expect_error: Option<&str>| {
        let mut env = child_env(list);
        if let Some(e) = expect_error {
            env.push(("IDP_CHILD_EXPECT_ERROR".to_string(), e.to_string()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_child("child_pushes_trusting_only_the_environment", &env);
    };

    // The CA and the client certificate and key in certs.d/<host:port>/: the push works.
    let full = dir.path().join("full");
    certs_d(
        &full,
        registry.addr(),
        &[
            (&registry.ca(), "ca.crt"),
            (&dir.path().join("client.cert"), "client.cert"),
            (&dir.path().join("client.key"), "client.key"),
        ],
    );
    run(full.to_str().unwrap(), None);

    // Without a client certificate the registry refuses the handshake, and the error says
    // that a client certificate is wanted.
    let ca_only = dir.path().join("ca-only");
    certs_d(&ca_only, registry.addr(), &[(&registry.ca(), "ca.crt")]);
    run(
        ca_only.to_str().unwrap(),
        Some("requires a client certificate"),
    );

    // A client certificate without its key is a clear error before any connection.
    let no_key = dir.path().join("no-key");
    certs_d(
        &no_key,
        registry.addr(),
        &[
            (&registry.ca(), "ca.crt"),
            (&dir.path().join("client.cert"), "client.cert"),
        ],
    );
    run(no_key.to_str().unwrap(), Some("client.cert has no key"));

    // A client certificate the registry's client CA did not sign is refused.
    certs(&["ca", d, "other-ca"]);
    certs(&[
        "client",
        d,
        "stranger",
        dir.path().join("other-ca.crt").to_str().unwrap(),
        dir.path().join("other-ca.key").to_str().unwrap(),
    ]);
    let stranger = dir.path().join("stranger-dir");
    certs_d(
        &stranger,
        registry.addr(),
        &[
            (&registry.ca(), "ca.crt"),
            (&dir.path().join("stranger.cert"), "client.cert"),
            (&dir.path().join("stranger.key"), "client.key"),
        ],
    );
    run(stranger.to_str().unwrap(), Some("did not accept ours"));
}
