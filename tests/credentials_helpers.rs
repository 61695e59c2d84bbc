//! Credential resolution with real helper processes (shell scripts implementing the
//! docker-credential-helpers protocol on a PATH of their own) and real config files: precedence
//! between all sources, helper failures, timeouts, saving. No registry needed.

mod common;
mod credentials_support;

use credentials_support::{
    assert_secret_free, basic_auth, helper, helper_calls, script, CredsHome,
};
use idp_push::credentials::{resolve_with, save_with, CredentialSource, Resolved, SavedTo};
use idp_push::{Credentials, ErrorKind};
use std::path::Path;
use std::time::{Duration, Instant};

const REG: &str = "registry.example:5000";

/// What `home` resolves to for REG, with no credentials given.
fn resolve(home: &CredsHome) -> Resolved {
    resolve_with(REG, None, &home.env).unwrap()
}

fn user_of(r: &Resolved) -> &str {
    &r.credentials.as_ref().expect("credentials").username
}

#[test]
fn precedence_between_all_sources() {
    let s = CredsHome::new();
    helper(&s.bin(), "perreg", "from-credhelpers", "pw1");
    helper(&s.bin(), "default", "from-credsstore", "pw2");
    std::fs::write(
        s.containers_auth(),
        serde_json::json!({"auths": {REG: {"auth": basic_auth("from-containers", "pw4")}}})
            .to_string(),
    )
    .unwrap();
    // Everything configured: the registry's credHelpers entry wins.
    s.write_docker(serde_json::json!({
        "credHelpers": {REG: "perreg", "other.example": "default"},
        "credsStore": "default",
        "auths": {format!("https://{REG}/v1/"): {"auth": basic_auth("from-auths", "pw3")}},
    }));
    let r = resolve(&s);
    assert_eq!(user_of(&r), "from-credhelpers");
    assert_eq!(
        r.source,
        CredentialSource::CredentialHelper {
            program: "docker-credential-perreg".into(),
            config: s.docker_config()
        }
    );
    assert_eq!(
        r.source.to_string(),
        "credential helper docker-credential-perreg"
    );
    assert_eq!(
        helper_calls(&s.bin(), "perreg"),
        vec![("get".to_string(), REG.to_string())],
        "the helper gets the registry on stdin"
    );
    assert!(helper_calls(&s.bin(), "default").is_empty());

    // Explicit beats everything, and no helper runs.
    let explicit = Credentials::new("explicit-user", "pw0");
    let r = resolve_with(REG, Some(explicit.clone()), &s.env).unwrap();
    assert_eq!(
        (r.credentials, r.source),
        (Some(explicit), CredentialSource::Explicit)
    );
    assert_eq!(helper_calls(&s.bin(), "perreg").len(), 1);

    // Without a per-registry helper: credsStore beats auths (as docker does).
    s.write_docker(serde_json::json!({
        "credsStore": "default",
        "auths": {REG: {"auth": basic_auth("from-auths", "pw3")}},
    }));
    let r = resolve(&s);
    assert_eq!(user_of(&r), "from-credsstore");
    assert_eq!(
        r.source.to_string(),
        "credential helper docker-credential-default"
    );

    // Without helpers: auths.
    s.write_docker(serde_json::json!({"auths": {format!("http://{REG}"): {"auth": basic_auth("from-auths", "pw3")}}}));
    let r = resolve(&s);
    assert_eq!(user_of(&r), "from-auths");
    assert_eq!(r.source, CredentialSource::DockerConfig(s.docker_config()));
    assert_eq!(
        r.source.to_string(),
        format!("docker config {}", s.docker_config().display())
    );

    // Nothing for this registry in docker's config: the containers auth file.
    s.write_docker(serde_json::json!({"auths": {"other.example": {"auth": basic_auth("x", "y")}}}));
    let r = resolve(&s);
    assert_eq!(user_of(&r), "from-containers");
    assert_eq!(
        r.source.to_string(),
        format!("containers auth file {}", s.containers_auth().display())
    );

    // A helper that holds nothing for the registry: docker's auths entry is ignored (docker
    // does so too), and the search goes on to the containers auth file.
    helper(&s.bin(), "empty", "", "");
    s.write_docker(serde_json::json!({
        "credsStore": "empty",
        "auths": {REG: {"auth": basic_auth("from-auths", "pw3")}},
    }));
    assert_eq!(user_of(&resolve(&s)), "from-containers");

    // Nothing anywhere: anonymous.
    std::fs::remove_file(s.containers_auth()).unwrap();
    let r = resolve(&s);
    assert_eq!(
        (r.credentials, r.source),
        (None, CredentialSource::Anonymous)
    );
}

#[test]
fn key_forms_and_docker_hub_aliases() {
    let s = CredsHome::new();
    for (key, asked) in [
        (format!("https://{REG}/v1/"), REG),
        (format!("https://{REG}"), REG),
        (format!("http://{REG}/"), REG),
        (REG.to_string(), "https://registry.example:5000"),
        ("https://index.docker.io/v1/".to_string(), "docker.io"),
        (
            "https://index.docker.io/v1/".to_string(),
            "registry-1.docker.io",
        ),
        ("index.docker.io".to_string(), "docker.io"),
    ] {
        s.write_docker(serde_json::json!({"auths": {key.clone(): {"auth": basic_auth("u", "p")}}}));
        let r = resolve_with(asked, None, &s.env).unwrap();
        assert_eq!(user_of(&r), "u", "key {key} for {asked}");
    }
    // Docker Hub's helper gets docker's server URL for it.
    helper(&s.bin(), "hub", "hubuser", "pw");
    s.write_docker(serde_json::json!({"credHelpers": {"index.docker.io": "hub"}}));
    let r = resolve_with("docker.io", None, &s.env).unwrap();
    assert_eq!(user_of(&r), "hubuser");
    assert_eq!(
        helper_calls(&s.bin(), "hub"),
        vec![("get".to_string(), "https://index.docker.io/v1/".to_string())]
    );
}

#[test]
fn identity_tokens_from_config_and_helpers() {
    let s = CredsHome::new();
    s.write_docker(serde_json::json!({"auths": {REG: {"auth": basic_auth("tokuser", ""), "identitytoken": "refresh-from-config"}}}));
    let c = resolve(&s).credentials.unwrap();
    assert_eq!(c.username, "tokuser");
    assert_eq!(c.identity_token.unwrap().expose(), "refresh-from-config");
    helper(&s.bin(), "tok", "<token>", "refresh-from-helper");
    s.write_docker(serde_json::json!({"credsStore": "tok"}));
    let c = resolve(&s).credentials.unwrap();
    assert_eq!(c.identity_token.unwrap().expose(), "refresh-from-helper");
    assert!(c.password.is_empty());
}

/// A helper found only through a relative PATH entry (".", "bin") is not run: that would run
/// a program from whatever directory the user is in.
#[test]
fn helpers_on_relative_path_entries_are_not_run() {
    let mut s = CredsHome::new();
    // cargo runs tests in the crate root; a helper below it, named relative to it.
    let rel = std::path::PathBuf::from("target").join(format!("rel-helper-{}", std::process::id()));
    std::fs::create_dir_all(&rel).unwrap();
    helper(&rel, "rel", "u", "p");
    s.env.path = Some(std::env::join_paths([rel.as_os_str()]).unwrap());
    s.write_docker(serde_json::json!({"credHelpers": {REG: "rel"}}));
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    let calls = helper_calls(&rel, "rel");
    std::fs::remove_dir_all(&rel).unwrap();
    assert!(e.message().contains("not installed"), "{e}");
    assert!(calls.is_empty(), "the helper ran: {calls:?}");
}

#[test]
fn missing_helper_is_a_clear_error() {
    let s = CredsHome::new();
    s.write_docker(serde_json::json!({"credHelpers": {REG: "idp-missing"}}));
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    let m = e.message();
    assert!(
        m.contains("docker-credential-idp-missing is not installed"),
        "{m}"
    );
    assert!(m.contains("PATH"), "{m}");
    assert!(m.contains(&s.docker_config().display().to_string()), "{m}");
    assert!(!m.contains('\n'));
    // The same for the default store.
    s.write_docker(serde_json::json!({"credsStore": "idp-missing2"}));
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    assert!(
        e.message().contains("docker-credential-idp-missing2"),
        "{e}"
    );
}

#[test]
fn failing_helpers_give_short_secret_free_errors() {
    let s = CredsHome::new();
    let secret = "helper-S3CRET-7f3a9";
    let cases = [
        // (body, what the error must say)
        (
            "echo 'the keychain is locked' >&2; exit 3".to_string(),
            "failed for registry.example:5000: the keychain is locked",
        ),
        (
            format!(
                "echo '{{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":\"{secret}\"}}'; exit 1"
            ),
            "its message is not shown",
        ),
        (
            format!("echo 'bad password {secret}' >&2; exit 1"),
            "its message is not shown",
        ),
        (
            format!("echo 'user {secret}'"),
            "not a JSON object with Username and Secret",
        ),
        (
            format!("echo '{}'; exit 2", "x".repeat(5000)),
            "failed for registry.example:5000: xxxxxxxx",
        ),
    ];
    for (body, want) in cases {
        script(
            &s.bin(),
            "docker-credential-bad",
            &format!("cat >/dev/null\n{body}"),
        );
        s.write_docker(serde_json::json!({"credsStore": "bad"}));
        let e = resolve_with(REG, None, &s.env).unwrap_err();
        let m = e.message().to_string();
        assert_eq!(e.kind(), ErrorKind::Io, "{m}");
        assert!(m.contains("credential helper docker-credential-bad"), "{m}");
        assert!(m.contains(want), "{m}");
        assert!(m.len() < 600, "{m}");
        assert_secret_free(secret, &[m, format!("{e:?}")]);
    }
}

#[test]
fn slow_helpers_time_out() {
    let mut s = CredsHome::new();
    s.env.helper_timeout = Duration::from_millis(300);
    script(&s.bin(), "docker-credential-slow", "sleep 30");
    s.write_docker(serde_json::json!({"credsStore": "slow"}));
    let started = Instant::now();
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.message()
            .contains("credential helper docker-credential-slow did not answer within 0.3 s"),
        "{e}"
    );
}

#[test]
fn malformed_config_names_the_file_not_the_secret() {
    let s = CredsHome::new();
    let secret = "cfg-S3CRET-11aa";
    std::fs::write(
        s.docker_config(),
        format!(r#"{{"auths":{{"{REG}":{{"auth":"{secret}"#),
    )
    .unwrap();
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    assert!(e.message().contains("config.json"), "{e}");
    assert_secret_free(secret, &[e.to_string(), format!("{e:?}")]);
    std::fs::write(
        s.docker_config(),
        serde_json::json!({"auths": {REG: {"auth": format!("!{secret}")}}}).to_string(),
    )
    .unwrap();
    let e = resolve_with(REG, None, &s.env).unwrap_err();
    assert!(e.message().contains("not valid base64"), "{e}");
    assert!(e.message().contains(REG), "{e}");
    assert_secret_free(secret, &[e.to_string(), format!("{e:?}")]);
}

#[test]
fn save_goes_through_the_configured_helper() {
    let s = CredsHome::new();
    helper(&s.bin(), "store", "u", "p");
    s.write_docker(serde_json::json!({"credsStore": "store", "psFormat": "keep"}));
    let saved = save_with(REG, &Credentials::new("saver", "saved-pw"), &s.env).unwrap();
    assert_eq!(
        saved,
        SavedTo::CredentialHelper {
            program: "docker-credential-store".into(),
            config: s.docker_config()
        }
    );
    assert_eq!(
        saved.to_string(),
        "credential helper docker-credential-store"
    );
    let calls = helper_calls(&s.bin(), "store");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "store");
    let sent: serde_json::Value = serde_json::from_str(&calls[0].1).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"ServerURL": REG, "Username": "saver", "Secret": "saved-pw"})
    );
    // The config file is left alone.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.docker_config()).unwrap()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"credsStore": "store", "psFormat": "keep"})
    );

    // Identity tokens are stored as docker does: user name `<token>`.
    save_with(REG, &Credentials::with_identity_token("", "tok-1"), &s.env).unwrap();
    let sent: serde_json::Value =
        serde_json::from_str(&helper_calls(&s.bin(), "store")[1].1).unwrap();
    assert_eq!(sent["Username"], "<token>");
    assert_eq!(sent["Secret"], "tok-1");

    // A helper that fails to store: named, and the secret is not echoed.
    script(
        &s.bin(),
        "docker-credential-store",
        "cat; echo 'store failed' >&2; exit 1",
    );
    let e = save_with(REG, &Credentials::new("saver", "saved-pw-2"), &s.env).unwrap_err();
    assert!(e.message().contains("could not store credentials"), "{e}");
    assert_secret_free("saved-pw-2", &[e.to_string(), format!("{e:?}")]);
}

#[test]
fn save_writes_config_json_like_docker_login() {
    use std::os::unix::fs::PermissionsExt as _;
    let s = CredsHome::new();
    // No docker directory yet: it is created.
    std::fs::remove_dir(s.dir.path().join("docker")).unwrap();
    let saved = save_with(REG, &Credentials::new("saver", "pw-1"), &s.env).unwrap();
    assert_eq!(saved, SavedTo::DockerConfig(s.docker_config()));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.docker_config()), 0o600);
    assert_eq!(mode(&s.dir.path().join("docker")), 0o700);
    let r = resolve(&s);
    assert_eq!(r.source, CredentialSource::DockerConfig(s.docker_config()));
    assert_eq!(r.credentials.unwrap().password.expose(), "pw-1");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.docker_config()).unwrap()).unwrap();
    assert_eq!(doc["auths"][REG]["auth"], basic_auth("saver", "pw-1"));

    // A symlinked config file stays a symlink; the target is updated.
    let real = s.dir.path().join("dotfiles-config.json");
    std::fs::rename(s.docker_config(), &real).unwrap();
    std::os::unix::fs::symlink(&real, s.docker_config()).unwrap();
    save_with(
        REG,
        &Credentials::with_identity_token("tok", "refresh-1"),
        &s.env,
    )
    .unwrap();
    assert!(std::fs::symlink_metadata(s.docker_config())
        .unwrap()
        .file_type()
        .is_symlink());
    let c = resolve(&s).credentials.unwrap();
    assert_eq!(c.identity_token.unwrap().expose(), "refresh-1");
    assert_eq!(c.username, "tok");

    // An identity token without a user name reads back too (no "auth" of ":").
    save_with(
        REG,
        &Credentials::with_identity_token("", "refresh-2"),
        &s.env,
    )
    .unwrap();
    let c = resolve(&s).credentials.unwrap();
    assert_eq!(c.identity_token.unwrap().expose(), "refresh-2");
    assert_eq!(c.username, "");
}

#[test]
fn identity_token_credentials_format_safely_and_fall_back_to_basic() {
    use base64::Engine as _;
    let decode = |h: idp_push::Secret| {
        let b64 = h.expose().strip_prefix("Basic ").unwrap().to_string();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    };
    let c = Credentials::with_identity_token("giteaAdmin", "tok-S3CRET");
    assert_eq!(decode(c.token_basic_header()), "giteaAdmin:tok-S3CRET");
    let c = Credentials::with_identity_token("", "tok-S3CRET");
    assert_eq!(decode(c.token_basic_header()), "<token>:tok-S3CRET");
    let c = Credentials::new("u", "pw-S3CRET");
    assert_eq!(decode(c.token_basic_header()), "u:pw-S3CRET");
    let both = Credentials {
        identity_token: Some(idp_push::Secret::new("tok-S3CRET")),
        ..Credentials::new("u", "pw-S3CRET")
    };
    assert_eq!(decode(both.token_basic_header()), "u:pw-S3CRET");
    assert_secret_free(
        "S3CRET",
        &[
            format!("{both:?}"),
            format!("{:?}", both.token_basic_header()),
        ],
    );
}
