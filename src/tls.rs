//! TLS settings for talking to a registry, turned into a rustls client configuration.
//!
//! Trust is the system roots plus any CA file the user names (as docker adds certs.d CAs to the
//! system pool), or nothing at all in insecure mode, for self-signed registries such as
//! IDPBuilder's Gitea. rustls with the `ring` provider keeps the build free of C toolchains.

use crate::error::{Error, ErrorKind, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
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

/// Builds the rustls configuration for these options.
pub fn client_config(options: &TlsOptions) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup failed: {e}")))?;
    let mut config = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if let Some(path) = &options.ca_file {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "CA file {} holds a certificate rustls cannot use: {e}",
                            path.display()
                        ),
                    )
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
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
    use rustls::CertificateError as C;
    let what = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate signed by unknown authority".to_string()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            format!("certificate is not valid for the name {host:?}")
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "certificate has expired".to_string()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet)
        | rustls::Error::InvalidCertificate(C::NotValidYetContext { .. }) => {
            "certificate is not valid yet".to_string()
        }
        other => format!("TLS handshake failed: {other}"),
    };
    format!(
        "TLS error talking to {host}: {what}; trust the registry's CA with --ca-file \
         (for IDPBuilder: `kubectl get secret -n default idpbuilder-cert -o jsonpath='{{.data.ca\\.crt}}' | base64 -d`) \
         or skip verification with --insecure"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = client_config(&TlsOptions {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }
}
