//! Where credentials come from when the caller gives none: docker's and podman's configuration
//! and credential helpers, found the way docker, crane and skopeo find them.
//!
//! [`resolve`] tries, in order:
//! 1. explicit credentials from the caller, passed through;
//! 2. the docker config, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, with docker's
//!    own precedence (`cli/config/configfile/file.go`): the registry's `credHelpers` entry if
//!    there is one, else the `credsStore` helper if set, else the `auths` entry (base64 `auth`,
//!    or `username`/`password`, plus `identitytoken`). A helper that holds nothing for the
//!    registry means "no credentials here" (docker then ignores `auths`, and so do we);
//! 3. the containers auth file as podman and skopeo read it: `$REGISTRY_AUTH_FILE`, or else
//!    `$XDG_RUNTIME_DIR/containers/auth.json` then `$XDG_CONFIG_HOME/containers/auth.json`
//!    (same format; `credHelpers` there are honoured too; keys are matched per registry, not
//!    per repository);
//! 4. anonymous.
//!
//! Keys match whatever form they were written in: `https://host/v1/`, `https://host`,
//! `http://host`, `host`, `host:port`; Docker Hub's names (`docker.io`, `index.docker.io`,
//! `registry-1.docker.io`, `https://index.docker.io/v1/`) are one registry.
//!
//! [`save`] stores verified credentials like `docker login`: through the registry's
//! `credHelpers` helper or the `credsStore` helper when one is configured, else into
//! `config.json` `auths` (file mode 0600, written atomically, other keys kept).
//!
//! Why not the `docker_credential` crate (1.4): it consults `auths` before `credsStore` (docker
//! does the opposite), runs helpers without a timeout and from the process `PATH` only, puts a
//! failing helper's whole stdout and stderr in its error (which may hold the secret), keeps
//! secrets in plain `String`s, cannot store credentials, and knows no containers auth file.
//!
//! Everything here is synchronous and may block while a helper runs (at most
//! [`Environment::helper_timeout`]); async callers should use `spawn_blocking`.

pub(crate) mod config;
pub(crate) mod helper;

pub use config::canonical_registry;

use crate::auth::Credentials;
use crate::error::{Error, Result};
use config::AuthConfigFile;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a credential helper may take before it is killed.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to look. [`Environment::from_process_env`] is what docker and podman would use;
/// tests (and embedders) build their own so that nothing depends on the process environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// docker's config directory (`$DOCKER_CONFIG`, else `~/.docker`); `None`: no docker config.
    pub docker_config_dir: Option<PathBuf>,
    /// containers auth files, first match wins.
    pub containers_auth_files: Vec<PathBuf>,
    /// The `PATH` searched for `docker-credential-*` helpers (and given to them).
    pub path: Option<OsString>,
    /// How long a helper may run.
    pub helper_timeout: Duration,
}

impl Environment {
    /// `DOCKER_CONFIG`, `HOME`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` and
    /// `PATH` of this process.
    pub fn from_process_env() -> Environment {
        Self::from_vars(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
    }

    /// The same, reading variables through `var` (which returns `None` for unset or empty).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Environment {
        let home = var("HOME").map(PathBuf::from);
        let docker_config_dir = var("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")));
        let containers_auth_files = match var("REGISTRY_AUTH_FILE") {
            Some(file) => vec![PathBuf::from(file)],
            None => {
                let mut files = Vec::new();
                if let Some(run) = var("XDG_RUNTIME_DIR") {
                    files.push(PathBuf::from(run).join("containers/auth.json"));
                }
                let config_home = var("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".config")));
                if let Some(config_home) = config_home {
                    files.push(config_home.join("containers/auth.json"));
                }
                files
            }
        };
        Environment {
            docker_config_dir,
            containers_auth_files,
            path: var("PATH"),
            helper_timeout: DEFAULT_HELPER_TIMEOUT,
        }
    }

    /// `<docker_config_dir>/config.json`
    pub fn docker_config_file(&self) -> Option<PathBuf> {
        self.docker_config_dir
            .as_ref()
            .map(|d| d.join("config.json"))
    }
}

/// Where resolved credentials came from; its `Display` is what `login` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given by the caller.
    Explicit,
    /// An `auths` entry of docker's config file.
    DockerConfig(PathBuf),
    /// A credential helper named in a config file (`credHelpers` or `credsStore`).
    CredentialHelper {
        /// The program, `docker-credential-<name>`.
        program: String,
        /// The config file that named it.
        config: PathBuf,
    },
    /// An `auths` entry of a containers auth file.
    ContainersAuthFile(PathBuf),
    /// Nothing found: no credentials are sent.
    Anonymous,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Explicit => f.write_str("explicit"),
            CredentialSource::DockerConfig(p) => write!(f, "docker config {}", p.display()),
            CredentialSource::CredentialHelper { program, .. } => {
                write!(f, "credential helper {program}")
            }
            CredentialSource::ContainersAuthFile(p) => {
                write!(f, "containers auth file {}", p.display())
            }
            CredentialSource::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// Credentials for one registry and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `None` with [`CredentialSource::Anonymous`].
    pub credentials: Option<Credentials>,
    pub source: CredentialSource,
}

/// Finds credentials for `registry` (`host[:port]`, any of docker's key forms accepted) in the
/// process environment; see the module documentation for the order.
pub fn resolve(registry: &str, explicit: Option<Credentials>) -> Result<Resolved> {
    resolve_with(registry, explicit, &Environment::from_process_env())
}

/// [`resolve`] in a given environment.
pub fn resolve_with(
    registry: &str,
    explicit: Option<Credentials>,
    env: &Environment,
) -> Result<Resolved> {
    if let Some(credentials) = explicit {
        return Ok(Resolved {
            credentials: Some(credentials),
            source: CredentialSource::Explicit,
        });
    }
    let registry = canonical_registry(registry);
    if let Some(path) = env.docker_config_file() {
        if let Some(found) = from_file(&registry, &path, env, FileKind::Docker)? {
            return Ok(found);
        }
    }
    for path in &env.containers_auth_files {
        if let Some(found) = from_file(&registry, path, env, FileKind::Containers)? {
            return Ok(found);
        }
    }
    Ok(Resolved {
        credentials: None,
        source: CredentialSource::Anonymous,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum FileKind {
    Docker,
    Containers,
}

fn from_file(
    registry: &str,
    path: &Path,
    env: &Environment,
    kind: FileKind,
) -> Result<Option<Resolved>> {
    let Some(file) = AuthConfigFile::load(path)? else {
        return Ok(None);
    };
    let helper = file.cred_helper(registry).or(match kind {
        FileKind::Docker => file.creds_store(),
        // containers/image has no default helper in auth.json.
        FileKind::Containers => None,
    });
    if let Some(helper) = helper {
        let server = config::server_url(registry);
        return Ok(
            match helper::get(helper, &server, env.path.as_deref(), env.helper_timeout)
                .map_err(|e| e.context(format!("credentials named in {}", path.display())))?
            {
                helper::Lookup::NotFound => None,
                helper::Lookup::Found(credentials) => Some(Resolved {
                    credentials: Some(credentials),
                    source: CredentialSource::CredentialHelper {
                        program: helper::program_name(helper),
                        config: path.to_path_buf(),
                    },
                }),
            },
        );
    }
    let Some((key, entry)) = file.auth_entry(registry) else {
        return Ok(None);
    };
    let credentials = entry.credentials().map_err(|why| {
        Error::invalid_argument(format!(
            "{}: the auths entry {key:?}: {why}",
            path.display()
        ))
    })?;
    Ok(credentials.map(|credentials| Resolved {
        credentials: Some(credentials),
        source: match kind {
            FileKind::Docker => CredentialSource::DockerConfig(path.to_path_buf()),
            FileKind::Containers => CredentialSource::ContainersAuthFile(path.to_path_buf()),
        },
    }))
}

/// Where [`save`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedTo {
    /// `docker-credential-<name> store`, named by this config file.
    CredentialHelper { program: String, config: PathBuf },
    /// The `auths` section of this docker config file.
    DockerConfig(PathBuf),
}

impl fmt::Display for SavedTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SavedTo::CredentialHelper { program, .. } => {
                write!(f, "credential helper {program}")
            }
            SavedTo::DockerConfig(p) => write!(f, "docker config {}", p.display()),
        }
    }
}

/// Stores `credentials` (which the caller has verified, e.g. with `login`) for `registry` like
/// `docker login`, in the process environment.
pub fn save(registry: &str, credentials: &Credentials) -> Result<SavedTo> {
    save_with(registry, credentials, &Environment::from_process_env())
}

/// [`save`] in a given environment: through the registry's `credHelpers` helper or the
/// `credsStore` helper of the docker config if there is one, else into its `auths`.
pub fn save_with(registry: &str, credentials: &Credentials, env: &Environment) -> Result<SavedTo> {
    let registry = canonical_registry(registry);
    let path = env.docker_config_file().ok_or_else(|| {
        Error::invalid_argument(
            "cannot save credentials: neither DOCKER_CONFIG nor HOME is set, so there is no docker config",
        )
    })?;
    let file = AuthConfigFile::load(&path)?.unwrap_or_default();
    let server = config::server_url(&registry);
    if let Some(helper) = file.cred_helper(&registry).or(file.creds_store()) {
        helper::store(
            helper,
            &server,
            credentials,
            env.path.as_deref(),
            env.helper_timeout,
        )?;
        return Ok(SavedTo::CredentialHelper {
            program: helper::program_name(helper),
            config: path,
        });
    }
    store::save_auth(&path, &server, &registry, credentials)?;
    Ok(SavedTo::DockerConfig(path))
}

mod store {
    //! Writing an `auths` entry into config.json atomically, mode 0600, other keys intact.

    use super::config::{encode_auth, normalize_key};
    use crate::auth::Credentials;
    use crate::error::{io_reason, Error, ErrorKind, Result};
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    use std::path::Path;
    use zeroize::Zeroizing;

    fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!(
                "cannot save credentials: {what} {}: {}",
                path.display(),
                io_reason(e)
            ),
        )
    }

    pub fn save_auth(
        path: &Path,
        key: &str,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<()> {
        // Follow a symlinked config file (dotfile managers), as docker does.
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error("creating", dir, &e))?;
        let mut document: serde_json::Map<String, serde_json::Value> = match std::fs::read(&target)
        {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Default::default(),
            Ok(bytes) => serde_json::from_slice(&Zeroizing::new(bytes)).map_err(|_| {
                Error::invalid_argument(format!(
                    "cannot save credentials: {} is not a JSON object",
                    target.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(io_error("reading", &target, &e)),
        };
        let auths = document
            .entry("auths")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !auths.is_object() {
            *auths = serde_json::Value::Object(Default::default());
        }
        let auths = auths.as_object_mut().expect("made an object above");
        // Other spellings of the same registry would shadow nothing (the exact key wins) but
        // would keep stale secrets around: drop them.
        auths.retain(|k, _| k == key || normalize_key(k) != registry);
        let mut entry = serde_json::Map::new();
        // An identity token may come without a user name; "auth" of ":" would not read back.
        if !credentials.username.is_empty() || !credentials.password.expose().is_empty() {
            entry.insert(
                "auth".into(),
                encode_auth(&credentials.username, &credentials.password)
                    .as_str()
                    .into(),
            );
        }
        if let Some(token) = &credentials.identity_token {
            entry.insert("identitytoken".into(), token.expose().into());
        }
        auths.insert(key.to_string(), serde_json::Value::Object(entry));
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&document)
                .map_err(|e| Error::internal(format!("cannot encode the docker config: {e}")))?,
        );

        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let temp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temp, &target)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            io_error("writing", &target, &e)
        })
    }
}

/// A variable lookup over fixed pairs, for tests of the `from_vars` constructors.
#[cfg(test)]
pub(crate) fn fixed_vars(
    pairs: &'static [(&'static str, &'static str)],
) -> impl Fn(&str) -> Option<OsString> {
    move |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| OsString::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_from_vars() {
        let env = Environment::from_vars(fixed_vars(&[("HOME", "/home/u"), ("PATH", "/bin")]));
        assert_eq!(
            env.docker_config_file(),
            Some(PathBuf::from("/home/u/.docker/config.json"))
        );
        assert_eq!(
            env.containers_auth_files,
            vec![PathBuf::from("/home/u/.config/containers/auth.json")]
        );
        assert_eq!(env.path, Some(OsString::from("/bin")));
        let env = Environment::from_vars(fixed_vars(&[
            ("HOME", "/home/u"),
            ("DOCKER_CONFIG", "/cfg"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
        ]));
        assert_eq!(
            env.docker_config_file(),
            Some(PathBuf::from("/cfg/config.json"))
        );
        assert_eq!(
            env.containers_auth_files,
            vec![
                PathBuf::from("/run/user/1/containers/auth.json"),
                PathBuf::from("/home/u/.config/containers/auth.json")
            ]
        );
        let env = Environment::from_vars(fixed_vars(&[
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
        ]));
        assert_eq!(env.containers_auth_files, vec![PathBuf::from("/a.json")]);
        assert_eq!(env.docker_config_file(), None);
    }

    #[test]
    fn sources_display() {
        assert_eq!(CredentialSource::Explicit.to_string(), "explicit");
        assert_eq!(CredentialSource::Anonymous.to_string(), "anonymous");
        assert_eq!(
            CredentialSource::DockerConfig("/root/.docker/config.json".into()).to_string(),
            "docker config /root/.docker/config.json"
        );
        assert_eq!(
            CredentialSource::CredentialHelper {
                program: "docker-credential-pass".into(),
                config: "/c".into()
            }
            .to_string(),
            "credential helper docker-credential-pass"
        );
        assert_eq!(
            CredentialSource::ContainersAuthFile("/run/user/0/containers/auth.json".into())
                .to_string(),
            "containers auth file /run/user/0/containers/auth.json"
        );
    }

    fn env_in(dir: &Path) -> Environment {
        Environment {
            docker_config_dir: Some(dir.join("docker")),
            containers_auth_files: vec![dir.join("auth.json")],
            path: None,
            helper_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn resolves_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let r = resolve_with("h:1", None, &env).unwrap();
        assert_eq!(r.source, CredentialSource::Anonymous);
        assert!(r.credentials.is_none());

        std::fs::write(
            dir.path().join("auth.json"),
            r#"{"auths":{"h:1":{"auth":"cG9kOnB3"}}}"#,
        )
        .unwrap();
        let r = resolve_with("https://h:1/v1/", None, &env).unwrap();
        assert_eq!(
            r.source,
            CredentialSource::ContainersAuthFile(dir.path().join("auth.json"))
        );
        assert_eq!(r.credentials.unwrap().username, "pod");

        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        let config = dir.path().join("docker/config.json");
        std::fs::write(&config, r#"{"auths":{"https://h:1":{"auth":"ZG9jOnB3"}}}"#).unwrap();
        let r = resolve_with("h:1", None, &env).unwrap();
        assert_eq!(r.source, CredentialSource::DockerConfig(config.clone()));
        assert_eq!(r.credentials.unwrap().username, "doc");

        let explicit = Credentials::new("me", "pw");
        let r = resolve_with("h:1", Some(explicit.clone()), &env).unwrap();
        assert_eq!(r.source, CredentialSource::Explicit);
        assert_eq!(r.credentials, Some(explicit));

        std::fs::write(&config, "{not json").unwrap();
        let e = resolve_with("h:1", None, &env).unwrap_err();
        assert!(e.message().contains(&config.display().to_string()), "{e}");
        assert!(e.message().contains("invalid JSON"), "{e}");
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = env_in(dir.path());
        env.path = Some(dir.path().as_os_str().to_owned());
        std::fs::create_dir_all(dir.path().join("docker")).unwrap();
        std::fs::write(
            dir.path().join("docker/config.json"),
            r#"{"credsStore":"nope-idp"}"#,
        )
        .unwrap();
        let e = resolve_with("h:1", None, &env).unwrap_err();
        assert!(
            e.message()
                .contains("credential helper docker-credential-nope-idp is not installed"),
            "{e}"
        );
        assert!(e.message().contains("config.json"), "{e}");
    }

    #[test]
    fn saves_into_config_json() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let env = env_in(dir.path());
        let config = dir.path().join("docker/config.json");
        let saved = save_with("h:1", &Credentials::new("u", "p1"), &env).unwrap();
        assert_eq!(saved, SavedTo::DockerConfig(config.clone()));
        assert_eq!(
            std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(
            &config,
            r#"{"psFormat":"x","auths":{"https://h:1/v1/":{"auth":"b2xkOm9sZA=="},"o:2":{"auth":"bzpw"}},"HttpHeaders":{"A":"b"}}"#,
        )
        .unwrap();
        save_with("h:1", &Credentials::new("u", "p2"), &env).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x");
        assert_eq!(doc["HttpHeaders"]["A"], "b");
        assert_eq!(doc["auths"]["o:2"]["auth"], "bzpw");
        assert!(doc["auths"].get("https://h:1/v1/").is_none());
        let r = resolve_with("h:1", None, &env).unwrap();
        assert_eq!(r.credentials.unwrap().password.expose(), "p2");
        assert_eq!(
            std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Docker Hub goes under docker's key.
        save_with("index.docker.io", &Credentials::new("hub", "p"), &env).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert!(doc["auths"]["https://index.docker.io/v1/"]["auth"].is_string());
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("docker"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);
    }
}
