//! TLS settings for talking to a registry, turned into a rustls client configuration.
//!
//! Trust is looked for where docker, podman and skopeo users keep it, all added together:
//! 1. `--ca-file` ([`TlsOptions::ca_file`]): one or more PEM CA certificates;
//! 2. the `certs.d` convention for the registry's `host:port` (then `host`), in each of
//!    `/etc/docker/certs.d`, `/etc/containers/certs.d`, `$XDG_CONFIG_HOME/containers/certs.d`
//!    (`~/.config/containers/certs.d`) and `~/.docker/certs.d` (Docker Desktop's, where
//!    IDPBuilder may export its certificate): every `*.crt` is a CA, and a `NAME.cert` with its
//!    `NAME.key` is a client certificate for mutual TLS (the first pair found is used). The
//!    environment variable `IDP_PUSH_CERTS_D` (a colon-separated list of directories) replaces
//!    these base directories;
//! 3. `SSL_CERT_FILE`: as in Go and OpenSSL it replaces the system bundle (the system roots
//!    are loaded through rustls-native-certs, which reads it). It is also read here, so that a
//!    missing or certificate-less file is an error instead of silently trusting nothing;
//! 4. the system roots.
//!
//! `insecure` accepts any server certificate (self-signed registries such as IDPBuilder's
//! Gitea) but still presents a certs.d client certificate; the library never prints, so
//! callers show [`TlsOptions::warning`]. rustls with the `ring` provider keeps the build free
//! of C toolchains.

use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// How to secure the connection to a registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with one or more CA certificates to trust besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (self-signed registries). The connection is still encrypted.
    pub insecure: bool,
    /// Talk plain HTTP instead of HTTPS.
    pub plain_http: bool,
}

impl TlsOptions {
    pub fn scheme(&self) -> &'static str {
        if self.plain_http {
            "http"
        } else {
            "https"
        }
    }

    /// The one-line warning a command-line tool should print before talking to `registry`
    /// with these options, if any: verification is off, or the traffic is not encrypted.
    /// The library itself never prints it.
    pub fn warning(&self, registry: &str) -> Option<String> {
        if self.plain_http {
            Some(format!(
                "WARNING: talking to {registry} over plain HTTP: credentials and images travel unencrypted"
            ))
        } else if self.insecure {
            Some(format!(
                "WARNING: not verifying the TLS certificate of {registry} (--insecure): the connection is \
                 encrypted, but anyone on the network path could pose as the registry"
            ))
        } else {
            None
        }
    }
}

/// Where trust is looked for besides [`TlsOptions`]. [`TrustEnv::from_process_env`] is what
/// the library uses; tests and embedders can build their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEnv {
    /// `certs.d` base directories, each holding `<host:port>/` or `<host>/` subdirectories.
    pub certs_d: Vec<PathBuf>,
    /// `SSL_CERT_FILE`: a PEM bundle trusted as well.
    pub ssl_cert_file: Option<PathBuf>,
}

impl TrustEnv {
    /// From `IDP_PUSH_CERTS_D`, `HOME`, `XDG_CONFIG_HOME` and `SSL_CERT_FILE`.
    pub fn from_process_env() -> TrustEnv {
        Self::from_vars(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
    }

    /// The same, reading variables through `var` (`None` for unset or empty).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> TrustEnv {
        let certs_d = match var("IDP_PUSH_CERTS_D") {
            Some(list) => std::env::split_paths(&list)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => {
                let home = var("HOME").map(PathBuf::from);
                let config_home = var("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .or_else(|| home.as_ref().map(|h| h.join(".config")));
                let mut dirs = vec![
                    PathBuf::from("/etc/docker/certs.d"),
                    PathBuf::from("/etc/containers/certs.d"),
                ];
                dirs.extend(config_home.map(|c| c.join("containers/certs.d")));
                dirs.extend(home.map(|h| h.join(".docker/certs.d")));
                dirs
            }
        };
        TrustEnv {
            certs_d,
            ssl_cert_file: var("SSL_CERT_FILE").map(PathBuf::from),
        }
    }
}

/// What the `certs.d` directories hold for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertsD {
    /// The CA files (`*.crt`) found, in the order read.
    pub ca_files: Vec<PathBuf>,
    /// The client certificate and its key (`NAME.cert`, `NAME.key`), if any.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// The registry's directories in each `certs.d` base: `host:port`, then `host`.
fn certs_d_dirs(registry: &str, bases: &[PathBuf]) -> Vec<PathBuf> {
    let mut names = vec![registry.to_string()];
    // `host:port` -> `host` (not for a bare IPv6 address, whose colons are not a port).
    if let Some((host, port)) = registry.rsplit_once(':') {
        if !host.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !host.ends_with(':') {
            names.push(host.to_string());
        }
    }
    let mut dirs = Vec::new();
    for base in bases {
        for name in &names {
            let dir = base.join(name);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Reads the `certs.d` directories for `registry` (`host[:port]`) as docker does: `*.crt`
/// files are CAs; `NAME.cert` needs `NAME.key` and the other way round.
pub fn find_certs_d(registry: &str, env: &TrustEnv) -> Result<CertsD> {
    let mut found = CertsD::default();
    for dir in certs_d_dirs(registry, &env.certs_d) {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "cannot read certificate directory {}: {}",
                        dir.display(),
                        crate::error::io_reason(&e)
                    ),
                ))
            }
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in &files {
            match file.extension().and_then(|e| e.to_str()) {
                Some("crt") => found.ca_files.push(file.clone()),
                Some("cert") => {
                    let key = file.with_extension("key");
                    if !key.exists() {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            format!(
                                "client certificate {} has no key {}: put its key there \
                                 (a CA certificate must be named *.crt instead)",
                                file.display(),
                                key.display()
                            ),
                        ));
                    }
                    if found.client_cert.is_none() {
                        found.client_cert = Some((file.clone(), key));
                    }
                }
                Some("key") => {
                    let cert = file.with_extension("cert");
                    if !cert.exists() {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            format!(
                                "key {} has no client certificate {}",
                                file.display(),
                                cert.display()
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(found)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's roots, loaded once per process: reading them costs milliseconds per call.
fn system_roots() -> &'static Vec<CertificateDer<'static>> {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Reads every certificate in a PEM file; a file with none is an error, not an empty trust set.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "cannot read CA file {shown}: {}",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("CA file {shown} is not valid PEM: {e:?}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("CA file {shown} holds no PEM certificate"),
        ));
    }
    Ok(certs)
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path, what: &str) -> Result<()> {
    for cert in read_ca_file(path).map_err(|e| e.context(what))? {
        roots.add(cert).map_err(|e| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{what}: CA file {} holds a certificate rustls cannot use: {e}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Reads a client certificate chain and its private key (PKCS#8, PKCS#1 or SEC1 PEM).
fn read_client_cert(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let bad = |what: String| Error::new(ErrorKind::InvalidArgument, what);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect())
        .map_err(|e| {
            bad(format!(
                "cannot read client certificate {}: {e:?}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(bad(format!(
            "client certificate {} holds no PEM certificate",
            cert.display()
        )));
    }
    // The key's contents never go in a message; the PEM error only names its kind.
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "it holds no PEM private key".into(),
            rustls::pki_types::pem::Error::Io(io) => crate::error::io_reason(&io),
            _ => "it is not a valid PEM private key".into(),
        };
        bad(format!("cannot read client key {}: {why}", key.display()))
    })?;
    Ok((chain, key_der))
}

/// Builds the rustls configuration for these options and this registry (`host[:port]`, as
/// in a reference), with trust from the process environment ([`TrustEnv::from_process_env`]).
pub fn client_config(options: &TlsOptions, registry: &str) -> Result<rustls::ClientConfig> {
    client_config_with(options, registry, &TrustEnv::from_process_env())
}

/// [`client_config`] with trust from `env`.
pub fn client_config_with(
    options: &TlsOptions,
    registry: &str,
    env: &TrustEnv,
) -> Result<rustls::ClientConfig> {
    let certs_d = find_certs_d(registry, env)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
    } else {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &options.ca_file {
            add_ca_file(&mut roots, path, "--ca-file")?;
        }
        for path in &certs_d.ca_files {
            add_ca_file(&mut roots, path, "certs.d")?;
        }
        if let Some(path) = &env.ssl_cert_file {
            add_ca_file(&mut roots, path, "SSL_CERT_FILE")?;
        }
        roots.add_parsable_certificates(system_roots().iter().cloned());
        builder.with_root_certificates(roots)
    };
    let mut config = match &certs_d.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key_der) = read_client_cert(cert, key)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "client certificate {} with key {} cannot be used: {e}",
                        cert.display(),
                        key.display()
                    ),
                )
            })?
        }
    };
    // HTTP/1.1 only: one connection per concurrent blob moves bytes faster than one
    // multiplexed HTTP/2 connection with its flow-control windows.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any certificate but still checks handshake signatures, so the session is encrypted
/// to whoever holds the presented key. Used only when the user asks for `insecure`.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Explains a TLS failure found in an error chain, or `None` when the chain holds none.
/// Names the two ways out that IDPBuilder users need.
pub fn explain_tls_error(err: &(dyn std::error::Error + 'static), host: &str) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(rustls_err) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(rustls_err, host));
        }
        // The TLS stream wraps rustls errors in io::Errors (sometimes twice), whose `source()`
        // skips the wrapped error, so look inside them explicitly.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn describe(e: &rustls::Error, host: &str) -> String {
    use rustls::AlertDescription as A;
    use rustls::CertificateError as C;
    let what = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate signed by unknown authority".to_string()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            format!("certificate is not valid for the name {host:?}")
        }
        rustls::Error::InvalidCertificate(C::Expired) => "certificate has expired".to_string(),
        rustls::Error::InvalidCertificate(C::ExpiredContext { not_after, .. }) => format!(
            "certificate has expired (it was valid until {})",
            date(not_after.as_secs())
        ),
        rustls::Error::InvalidCertificate(C::NotValidYet)
        | rustls::Error::InvalidCertificate(C::NotValidYetContext { .. }) => {
            "certificate is not valid yet".to_string()
        }
        // The server refused our client certificate, or wanted one: --ca-file and
        // --insecure do not help there.
        rustls::Error::AlertReceived(
            alert @ (A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateRevoked),
        ) => {
            return format!(
                "TLS error talking to {host}: the registry requires a client certificate (mutual TLS) \
                 and did not accept ours, if one was sent (alert: {alert:?}); put the client certificate \
                 and its key as client.cert and client.key in /etc/docker/certs.d/{host}/ \
                 (or another certs.d directory)"
            )
        }
        // Not a certificate problem: the server answered with something that is not TLS (a
        // plain-HTTP registry, another protocol), which no CA or --insecure fixes.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            return format!(
                "TLS error talking to {host}: the server does not speak TLS (its answer is not a \
                 TLS record); if it is a plain-HTTP registry, push to it with plain HTTP"
            )
        }
        other => format!("TLS handshake failed: {other}"),
    };
    format!(
        "TLS error talking to {host}: {what}; trust the registry's CA with --ca-file \
         or as /etc/docker/certs.d/{host}/ca.crt \
         (for IDPBuilder: `kubectl get secret -n default idpbuilder-cert -o jsonpath='{{.data.ca\\.crt}}' | base64 -d`), \
         or skip verification with --insecure"
    )
}

/// `YYYY-MM-DD` (UTC) of a Unix time, for certificate validity messages.
fn date(secs: u64) -> String {
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::fixed_vars;

    #[test]
    fn ca_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = read_ca_file(&missing).unwrap_err();
        assert!(e.message().contains("cannot read CA file"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a cert\n").unwrap();
        let e = read_ca_file(&empty).unwrap_err();
        assert!(e.message().contains("holds no PEM certificate"), "{e}");
    }

    #[test]
    fn insecure_config_builds() {
        let c = client_config_with(
            &TlsOptions {
                insecure: true,
                ..Default::default()
            },
            "h:1",
            &no_env(),
        )
        .unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    fn no_env() -> TrustEnv {
        TrustEnv {
            certs_d: Vec::new(),
            ssl_cert_file: None,
        }
    }

    fn openssl(args: &[&str]) {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }

    /// A self-signed EC certificate and its key: `dir/name.crt`, `dir/name.key`.
    fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (crt, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            crt.to_str().unwrap(),
        ]);
        (crt, key)
    }

    #[test]
    fn trust_env_from_vars() {
        let env = TrustEnv::from_vars(fixed_vars(&[
            ("HOME", "/home/u"),
            ("SSL_CERT_FILE", "/b.pem"),
        ]));
        assert_eq!(
            env.certs_d,
            [
                "/etc/docker/certs.d",
                "/etc/containers/certs.d",
                "/home/u/.config/containers/certs.d",
                "/home/u/.docker/certs.d"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(env.ssl_cert_file, Some(PathBuf::from("/b.pem")));
        let env = TrustEnv::from_vars(fixed_vars(&[
            ("HOME", "/h"),
            ("IDP_PUSH_CERTS_D", "/a:/b::/c"),
        ]));
        assert_eq!(env.certs_d, ["/a", "/b", "/c"].map(PathBuf::from));
        assert_eq!(env.ssl_cert_file, None);
    }

    #[test]
    fn certs_d_directories_per_registry() {
        let bases = [PathBuf::from("/x"), PathBuf::from("/y")];
        assert_eq!(
            certs_d_dirs("gitea.cnoe.localtest.me:8443", &bases),
            [
                "/x/gitea.cnoe.localtest.me:8443",
                "/x/gitea.cnoe.localtest.me",
                "/y/gitea.cnoe.localtest.me:8443",
                "/y/gitea.cnoe.localtest.me"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(certs_d_dirs("h", &bases[..1]), [PathBuf::from("/x/h")]);
        assert_eq!(
            certs_d_dirs("[::1]:5000", &bases[..1]),
            ["/x/[::1]:5000", "/x/[::1]"].map(PathBuf::from)
        );
    }

    #[test]
    fn certs_d_reads_cas_and_client_pairs() {
        let base = tempfile::tempdir().unwrap();
        let env = TrustEnv {
            certs_d: vec![base.path().to_path_buf()],
            ssl_cert_file: None,
        };
        assert_eq!(find_certs_d("h:1", &env).unwrap(), CertsD::default());
        let dir = base.path().join("h:1");
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, _) = self_signed(&dir, "ca");
        std::fs::remove_file(dir.join("ca.key")).unwrap();
        let (cert_as_crt, key) = self_signed(&dir, "client");
        let cert = dir.join("client.cert");
        std::fs::rename(&cert_as_crt, &cert).unwrap();
        std::fs::create_dir_all(base.path().join("h")).unwrap();
        let (other_ca, _) = self_signed(&base.path().join("h"), "other");
        std::fs::remove_file(base.path().join("h/other.key")).unwrap();
        std::fs::write(dir.join("README"), "ignored").unwrap();

        let found = find_certs_d("h:1", &env).unwrap();
        assert_eq!(found.ca_files, vec![ca.clone(), other_ca]);
        assert_eq!(found.client_cert, Some((cert.clone(), key.clone())));
        let config = client_config_with(&TlsOptions::default(), "h:1", &env).unwrap();
        assert!(config.client_auth_cert_resolver.has_certs());
        let insecure = TlsOptions {
            insecure: true,
            ..Default::default()
        };
        let config = client_config_with(&insecure, "h:1", &env).unwrap();
        assert!(
            config.client_auth_cert_resolver.has_certs(),
            "insecure still sends it"
        );
        let config = client_config_with(&TlsOptions::default(), "h:2", &env).unwrap();
        assert!(!config.client_auth_cert_resolver.has_certs());

        // A key that is not a key: named, not quoted.
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = client_config_with(&TlsOptions::default(), "h:1", &env).unwrap_err();
        assert!(e.message().contains("client.key"), "{e}");
        assert!(!e.message().contains("c2VjcmV0"), "{e}");
        // A .cert without its .key, and a .key without its .cert.
        std::fs::remove_file(&key).unwrap();
        let e = find_certs_d("h:1", &env).unwrap_err();
        assert!(e.message().contains("client.cert has no key"), "{e}");
        assert!(e.message().contains("client.key"), "{e}");
        std::fs::remove_file(&cert).unwrap();
        std::fs::write(dir.join("lonely.key"), "x").unwrap();
        let e = find_certs_d("h:1", &env).unwrap_err();
        assert!(
            e.message().contains("lonely.key has no client certificate"),
            "{e}"
        );
    }

    #[test]
    fn ca_sources_must_be_readable() {
        let dir = tempfile::tempdir().unwrap();
        let env = TrustEnv {
            certs_d: Vec::new(),
            ssl_cert_file: Some(dir.path().join("missing.pem")),
        };
        let e = client_config_with(&TlsOptions::default(), "h:1", &env).unwrap_err();
        assert!(
            e.message()
                .starts_with("SSL_CERT_FILE: cannot read CA file"),
            "{e}"
        );
        let opts = TlsOptions {
            ca_file: Some(dir.path().join("nope.pem")),
            ..Default::default()
        };
        let e = client_config_with(&opts, "h:1", &no_env()).unwrap_err();
        assert!(
            e.message().starts_with("--ca-file: cannot read CA file"),
            "{e}"
        );
        // A bundle of several certificates is fine.
        let (a, _) = self_signed(dir.path(), "a");
        let (b, _) = self_signed(dir.path(), "b");
        let bundle = dir.path().join("bundle.pem");
        let text = std::fs::read_to_string(&a).unwrap() + &std::fs::read_to_string(&b).unwrap();
        std::fs::write(&bundle, text).unwrap();
        assert_eq!(read_ca_file(&bundle).unwrap().len(), 2);
        let opts = TlsOptions {
            ca_file: Some(bundle),
            ..Default::default()
        };
        client_config_with(&opts, "h:1", &no_env()).unwrap();
    }

    #[test]
    fn warnings_for_the_cli() {
        assert_eq!(TlsOptions::default().warning("h:1"), None);
        let w = TlsOptions {
            insecure: true,
            ..Default::default()
        }
        .warning("h:1")
        .unwrap();
        assert!(
            w.starts_with("WARNING:") && w.contains("h:1") && !w.contains('\n'),
            "{w}"
        );
        let w = TlsOptions {
            plain_http: true,
            ..Default::default()
        }
        .warning("h:1")
        .unwrap();
        assert!(w.contains("plain HTTP"), "{w}");
    }

    #[test]
    fn tls_failures_are_explained() {
        use rustls::CertificateError as C;
        let unknown = describe(&rustls::Error::InvalidCertificate(C::UnknownIssuer), "h:1");
        for part in [
            "h:1",
            "unknown authority",
            "--ca-file",
            "--insecure",
            "/etc/docker/certs.d/h:1/ca.crt",
        ] {
            assert!(unknown.contains(part), "{unknown}");
        }
        let expired = describe(
            &rustls::Error::InvalidCertificate(C::ExpiredContext {
                time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
                not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    1_577_923_200,
                )),
            }),
            "h:1",
        );
        assert!(
            expired.contains("expired (it was valid until 2020-01-02)"),
            "{expired}"
        );
        let mtls = describe(
            &rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
            "h:1",
        );
        assert!(
            mtls.contains("client certificate") && mtls.contains("certs.d/h:1/"),
            "{mtls}"
        );
        assert!(!mtls.contains("--insecure"), "{mtls}");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
