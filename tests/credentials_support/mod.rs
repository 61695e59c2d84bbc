//! Shared setup of the credentials and trust tests (the harness registry of `make test` is
//! `crate::common::env()`): extra registries and token services started here and stopped on drop, test
//! credential helpers, and child test processes with an environment of their own.
#![allow(dead_code)]

use crate::common::{parse_env_file, run_id, var};
use idp_push::credentials::Environment;
use idp_push::{PushOptions, TlsOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn support(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script)
}

/// `oci:<fixtures>/layout:v1`, made by tests/support/fixtures.sh.
pub fn source() -> String {
    format!("oci:{}/layout:v1", var("IDP_TEST_FIXTURES"))
}

/// A repository path no other test or run uses.
pub fn unique(name: &str) -> String {
    format!("creds-{}/{name}", run_id())
}

pub fn tls_with_ca(ca: &Path) -> TlsOptions {
    TlsOptions {
        ca_file: Some(ca.to_path_buf()),
        ..Default::default()
    }
}

pub fn options(credentials: Option<idp_push::Credentials>, tls: TlsOptions) -> PushOptions {
    PushOptions {
        credentials,
        tls,
        ..Default::default()
    }
}

fn run_script(script: &str, args: &[&str], envs: &[(&str, &str)]) {
    let out = Command::new("bash")
        .arg(support(script))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A registry of our own (tests/support/registry.sh with optional settings), stopped on drop.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Registry {
    pub fn start(options: &[(&str, &str)]) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("registry");
        run_script("registry.sh", &["start", state.to_str().unwrap()], options);
        let env = parse_env_file(&state.join("env"));
        Registry { dir, env }
    }

    pub fn addr(&self) -> &str {
        &self.env["IDP_TEST_REGISTRY"]
    }

    pub fn ca(&self) -> PathBuf {
        self.env["IDP_TEST_CA"].clone().into()
    }

    pub fn state(&self) -> PathBuf {
        self.env["IDP_TEST_STATE"].clone().into()
    }

    pub fn credentials(&self) -> idp_push::Credentials {
        idp_push::Credentials::new(
            &self.env["IDP_TEST_USERNAME"],
            &self.env["IDP_TEST_PASSWORD"],
        )
    }

    pub fn dest(&self, name: &str) -> String {
        format!("{}/{}:v1", self.addr(), unique(name))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let state = self.dir.path().join("registry");
        let _ = Command::new("bash")
            .arg(support("registry.sh"))
            .args(["stop", state.to_str().unwrap()])
            .output();
    }
}

/// tests/support/token-service.sh, stopped on drop.
pub struct TokenService {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl TokenService {
    pub fn start() -> TokenService {
        Self::start_with_ttl(300)
    }

    /// A service whose tokens live `ttl` seconds (negative counts against the registry's
    /// 60 s leeway: -58 gives tokens that expire about two seconds after they are issued).
    pub fn start_with_ttl(ttl: i64) -> TokenService {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("token");
        let ttl = ttl.to_string();
        run_script(
            "token-service.sh",
            &["start", state.to_str().unwrap()],
            &[("IDP_TOKEN_TTL", ttl.as_str())],
        );
        let env = parse_env_file(&state.join("env"));
        TokenService { dir, env }
    }

    /// A registry whose token realm is `realm_var` (IDP_TOKEN_REALM or IDP_TOKEN_REALM_GET_ONLY).
    pub fn registry(&self, realm_var: &str) -> Registry {
        Registry::start(&[
            ("IDP_REGISTRY_TOKEN_REALM", &self.env[realm_var]),
            ("IDP_REGISTRY_TOKEN_SERVICE", &self.env["IDP_TOKEN_SERVICE"]),
            ("IDP_REGISTRY_TOKEN_ISSUER", &self.env["IDP_TOKEN_ISSUER"]),
            (
                "IDP_REGISTRY_TOKEN_ROOTCERTBUNDLE",
                &self.env["IDP_TOKEN_ROOTCERTBUNDLE"],
            ),
        ])
    }

    /// The requests the service saw, one JSON object each (no secrets in them).
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.env["IDP_TOKEN_LOG"])
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        let state = self.dir.path().join("token");
        let _ = Command::new("bash")
            .arg(support("token-service.sh"))
            .args(["stop", state.to_str().unwrap()])
            .output();
    }
}

/// A PEM bundle of several CA certificates.
pub fn bundle(dir: &Path, name: &str, cas: &[&Path]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::new();
    for ca in cas {
        text += &std::fs::read_to_string(ca).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// tests/support/certs.sh
pub fn certs(args: &[&str]) {
    run_script("certs.sh", args, &[]);
}

/// Writes an executable shell script `dir/name`.
///
/// A child `sh` writes it, not this process: tests run on many threads, and a thread that forks
/// while this one holds the script open for writing hands that descriptor to its child until the
/// child execs, so running the script in that window fails with ETXTBSY ("Text file busy").
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join(name);
    let mut writer = Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(&path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    stdin
        .write_all(format!("#!/bin/sh\n{body}\n").as_bytes())
        .unwrap();
    drop(stdin);
    assert!(
        writer.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
    path
}

/// A credential helper `docker-credential-<name>` in `dir` that records each call's action and
/// stdin in `dir/<name>.calls` and answers `get` with `user`/`secret` (or "not found" when
/// `user` is empty).
pub fn helper(dir: &Path, name: &str, user: &str, secret: &str) -> PathBuf {
    let calls = dir.join(format!("{name}.calls"));
    let answer = if user.is_empty() {
        "echo 'credentials not found in native keychain'; exit 1".to_string()
    } else {
        format!(
            r#"printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\n' "$input""#
        )
    };
    script(
        dir,
        &format!("docker-credential-{name}"),
        &format!(
            r#"input=$(cat)
printf '%s %s\n' "$1" "$input" >>'{calls}'
case "$1" in
  get) {answer} ;;
  store) exit 0 ;;
  *) echo "unknown action $1" >&2; exit 1 ;;
esac"#,
            calls = calls.display()
        ),
    )
}

/// What the helper `name` in `dir` was called with: `(action, stdin)` per call.
pub fn helper_calls(dir: &Path, name: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join(format!("{name}.calls")))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (a, i) = l.split_once(' ').unwrap_or((l, ""));
            (a.to_string(), i.to_string())
        })
        .collect()
}

/// Runs the test `name` of this test binary in a child process with `envs` added, and fails
/// when it fails. For code paths that read the process environment (certs.d, SSL_CERT_FILE),
/// without changing this process's environment under parallel tests.
pub fn run_child(name: &str, envs: &[(&str, &str)]) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IDP_TEST_CHILD", name)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child test {name} failed:\n{text}"
    );
}

/// In a child test: the value the parent passed, or `None` when run on its own (then the test
/// has nothing to do: its parent is the real test).
pub fn child_var(test: &str, name: &str) -> Option<String> {
    if std::env::var("IDP_TEST_CHILD").ok().as_deref() != Some(test) {
        eprintln!("{test} runs only as a child of its parent test");
        return None;
    }
    Some(var(name))
}

/// Fails when `secret` appears in any of `outputs`.
pub fn assert_secret_free(secret: &str, outputs: &[String]) {
    for (i, output) in outputs.iter().enumerate() {
        assert!(
            !output.contains(secret),
            "output #{i} leaks a secret (output withheld)"
        );
    }
}

/// A private credentials home: a temporary directory with `bin/` (test credential helpers, first
/// on PATH), `docker/config.json` and `containers-auth.json`, and the `Environment` that reads
/// exactly those, so that tests never see the user's own credentials.
pub struct CredsHome {
    pub dir: tempfile::TempDir,
    pub env: Environment,
}

impl CredsHome {
    pub fn new() -> CredsHome {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        // The helpers' own directory first, then the system's (for sh, cat, sleep).
        let path = std::env::join_paths(std::iter::once(dir.path().join("bin")).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let env = Environment {
            docker_config_dir: Some(dir.path().join("docker")),
            containers_auth_files: vec![dir.path().join("containers-auth.json")],
            path: Some(path),
            helper_timeout: Duration::from_secs(10),
        };
        CredsHome { dir, env }
    }

    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker/config.json")
    }

    pub fn containers_auth(&self) -> PathBuf {
        self.dir.path().join("containers-auth.json")
    }

    pub fn write_docker(&self, json: serde_json::Value) {
        std::fs::write(self.docker_config(), json.to_string()).unwrap();
    }
}

/// The `auth` value of a docker config entry: base64 of `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}
