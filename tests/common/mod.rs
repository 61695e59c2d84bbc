//! Shared setup of the integration tests: the real registry started by `make test`
//! (tests/support/registry.sh) and the fixtures made by tests/support/fixtures.sh.
#![allow(dead_code)]

pub mod faultproxy;

use idp_push::{Credentials, PushOptions, TlsOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestEnv {
    pub registry: String,
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub username: String,
    pub password: String,
    pub state: PathBuf,
    pub fixtures: PathBuf,
}

/// An env var the harness must set; a missing one fails the test loudly.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through `make test` (scripts/test.sh), which starts the registry and makes the fixtures")
    })
}

/// This test process's run, `<pid>-<nanos>`: part of every repository path a test makes, so
/// that no other test process, and no earlier run, uses the same one.
pub fn run_id() -> &'static str {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!("{}-{nanos}", std::process::id())
    })
}

pub fn env() -> TestEnv {
    TestEnv::from_vars(var)
}

/// The `export NAME=value` lines of an env file the support scripts write.
pub fn parse_env_file(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl TestEnv {
    /// The registry `var` describes (IDP_TEST_REGISTRY, IDP_TEST_CA, ...).
    fn from_vars(var: impl Fn(&str) -> String) -> TestEnv {
        TestEnv {
            registry: var("IDP_TEST_REGISTRY"),
            ca: var("IDP_TEST_CA").into(),
            wrong_ca: var("IDP_TEST_WRONG_CA").into(),
            username: var("IDP_TEST_USERNAME"),
            password: var("IDP_TEST_PASSWORD"),
            state: var("IDP_TEST_STATE").into(),
            fixtures: var("IDP_TEST_FIXTURES").into(),
        }
    }

    /// Another registry started by tests/support/registry.sh into `state` (its env file), with
    /// the fixtures of `make test`.
    pub fn of_registry(state: &Path) -> TestEnv {
        let vars = parse_env_file(&state.join("env"));
        TestEnv::from_vars(|name| match name {
            "IDP_TEST_FIXTURES" => var(name),
            _ => vars
                .get(name)
                .unwrap_or_else(|| panic!("{name} in {}/env", state.display()))
                .clone(),
        })
    }

    /// A fixture layout's image: `oci:<fixtures>/DIR:TAG` and its manifest digest.
    pub fn fixture(&self, dir: &str, tag: &str) -> (String, String) {
        let layout = self.fixtures.join(dir);
        (
            format!("oci:{}:{tag}", layout.display()),
            layout_digest(&layout, tag),
        )
    }

    pub fn credentials(&self) -> Credentials {
        Credentials::new(&self.username, &self.password)
    }

    pub fn tls(&self) -> TlsOptions {
        TlsOptions {
            ca_file: Some(self.ca.clone()),
            ..Default::default()
        }
    }

    /// Options for the test registry. No blob record: parallel tests push the same blobs to
    /// other repositories, and mounts would make their counts depend on timing.
    pub fn options(&self) -> PushOptions {
        PushOptions {
            credentials: Some(self.credentials()),
            tls: self.tls(),
            blob_cache: idp_push::BlobCacheSetting::Off,
            ..Default::default()
        }
    }

    /// `host:port` of a front of the registry named by an env var set by tests/support/proxy.sh.
    pub fn proxy(&self, var_name: &str) -> String {
        var(var_name)
    }

    /// A repository no other test, and no earlier run, uses: `host/rust-<run>/<name>`.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/rust-{}/{name}", self.registry, run_id())
    }

    /// A destination in a repository of its own.
    pub fn dest(&self, repo: &str, tag: &str) -> String {
        format!("{}:{tag}", self.repo(repo))
    }

    /// A directory with this env's CA as skopeo's --cert-dir wants it: one per test process
    /// and CA (tests also talk to registries other than the one of `make test`), written once
    /// and atomically (rewriting it while another skopeo reads it makes that one fail).
    pub fn skopeo_cert_dir(&self) -> PathBuf {
        let ca = std::fs::read(&self.ca).unwrap();
        let dir = self.state.join(format!(
            "skopeo-certs-{}-{}",
            std::process::id(),
            &idp_push::digest::Digest::of(&ca).hex()[..12]
        ));
        if !dir.join("ca.crt").exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let tmp = dir.join(format!("ca.crt.{:?}", std::thread::current().id()));
            std::fs::write(&tmp, &ca).unwrap();
            std::fs::rename(&tmp, dir.join("ca.crt")).unwrap();
        }
        dir
    }

    /// `skopeo inspect --raw`: the manifest bytes as the registry serves them, or the error.
    pub fn skopeo_raw(&self, reference: &str) -> Result<Vec<u8>, String> {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--retry-times", "0"])
            .arg("--cert-dir")
            .arg(self.skopeo_cert_dir())
            .arg("--creds")
            .arg(format!("{}:{}", self.username, self.password))
            .arg(format!("docker://{reference}"))
            .output()
            .expect("skopeo runs");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// What the registry serves under `reference`, by digest, or `None` when the registry says
    /// it has no such manifest (or repository). Any other failure (TLS, credentials, a registry
    /// that is down) fails the test: it must not pass for "absent".
    pub fn skopeo_tagged(&self, reference: &str) -> Option<String> {
        match self.skopeo_raw(reference) {
            Ok(raw) => Some(idp_push::digest::Digest::of(&raw).to_string()),
            Err(e) if e.contains("manifest unknown") || e.contains("name unknown") => None,
            Err(e) => panic!("skopeo cannot tell whether {reference} exists: {e}"),
        }
    }

    /// The digest skopeo computes for what the registry serves under `reference`.
    pub fn skopeo_digest(&self, reference: &str) -> String {
        let raw = self
            .skopeo_raw(reference)
            .unwrap_or_else(|e| panic!("skopeo inspect {reference}: {e}"));
        idp_push::digest::Digest::of(&raw).to_string()
    }
}

/// `dest` (`registry/path:tag`) with its host replaced by `host` (a proxy in front of it).
pub fn via(host: &str, dest: &str) -> String {
    format!("{host}/{}", dest.split_once('/').unwrap().1)
}

/// The digest of the manifest tagged `tag` in a layout's index.json.
pub fn layout_digest(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {}", layout.display()))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The bytes of all of a layout's blobs.
pub fn blob_bytes(layout: &Path) -> u64 {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// The largest blob of a layout (a layer), for corruption tests.
pub fn largest_blob(layout: &Path) -> PathBuf {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
}
